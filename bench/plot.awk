# plot.awk - turn wom_bench's TSV results (--results FILE; the format is in
# bench/README.md) into a gnuplot script that draws one scope's chart.
#
#   PLOT_SCOPE=threads PLOT_TERM="svg size %d,%d" PLOT_OUT=FILE \
#     awk -F '\t' -f bench/plot.awk RESULTS.tsv | gnuplot
#
# Every line of the file is checked, whatever its scope: a malformed one
# (not 10 columns, a number that is not one, a target without its peer)
# prints "plot.awk: FILE:LINE: why" on stderr and exits 1. A scope with no
# rows prints nothing (exit 0). PLOT_TERM is a gnuplot terminal whose
# "%d,%d" the chart's size in pixels fills in; the values come through the
# environment because awk -v would expand backslashes in a path.
#
# The chart is one panel per group of the scope and kind of metric (a
# throughput, round-trip or call latencies p50 and p99 together, or any
# other metric alone): a bar per system and series (message size, and p50
# or p99), a whisker from min to max, a log y axis; a row judged by a
# target gets a marker at target_ratio x its peer's value, and the key
# names each target ("target >= 2x go chan buffered(1024) ptr").

function fail(why) {
    printf "plot.awk: %s:%d: %s\n", FILENAME, FNR, why | "cat 1>&2"
    bad = 1
    exit 1
}

function is_num(s) {
    return s ~ /^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/
}

# A gnuplot string literal: single quotes, a quote doubled.
function q(s) {
    gsub(/'/, "''", s)
    return "'" s "'"
}

function size_label(b) {
    if (b >= 1048576 && b % 1048576 == 0) return (b / 1048576) " MiB"
    if (b >= 1024 && b % 1024 == 0) return (b / 1024) " KiB"
    return b " B"
}

# The panel kind of a metric: "tput" (a rate, higher is better), "lat"
# (a p50 or p99 in ns, lower is better) or the metric itself.
function kind_of(m) {
    if (m ~ /_per_s$/) return "tput"
    if (m ~ /_p[0-9]+_ns$/) return "lat"
    return m
}

function ylabel_of(kind, m) {
    if (kind == "tput") return m == "msg_per_s" ? "messages/s" : \
        m == "ops_per_s" ? "completed calls/s" : m
    if (kind == "lat") return m ~ /^rtt_/ ? "round trip, ns" : "latency per call, ns"
    if (m == "op_ns") return "ns per operation"
    if (m == "sync_ns") return "ns per wom_sync"
    return m
}

function title_of(group, kind) {
    if (kind == "tput") return group ": throughput, median with min-max (higher is better)"
    if (kind == "lat") return group ": latency p50 and p99, median with min-max (lower is better)"
    return group ": " kind ", median with min-max (lower is better)"
}

function series_label(kind, metric, size,    p) {
    if (kind != "lat") return size_label(size)
    p = metric
    sub(/^[a-z]+_/, "", p)
    sub(/_ns$/, "", p)
    return size_label(size) " " p
}

# The power of ten at or below y (> 0), where the bars start; 1 for none.
function decade_below(y,    e) {
    if (y <= 0) return 1
    e = int(log(y) / log(10))
    if (exp(e * log(10)) > y * 1.000001) e--
    return exp(e * log(10))
}

NR == 1 {
    scope = ENVIRON["PLOT_SCOPE"]
    term = ENVIRON["PLOT_TERM"]
    out = ENVIRON["PLOT_OUT"]
    if (scope == "" || term == "" || out == "") {
        print "plot.awk: PLOT_SCOPE, PLOT_TERM and PLOT_OUT must be set" | "cat 1>&2"
        bad = 1
        exit 2
    }
}

/^#/ || /^[ \t]*$/ { next }

{
    if (NF != 10) fail("expected 10 tab-separated columns, found " NF)
    if ($1 !~ /^[a-z]+$/) fail("scope \"" $1 "\" is not a lower-case word")
    if ($2 == "" || $3 == "") fail("empty group or name")
    if ($4 !~ /^[0-9]+$/) fail("size_bytes \"" $4 "\" is not a whole number")
    if ($5 !~ /^[a-z0-9_]+$/) fail("metric \"" $5 "\" is not a word of a-z, 0-9 and _")
    if (!is_num($6) || !is_num($7) || !is_num($8))
        fail("value, min or max is not a number: \"" $6 "\", \"" $7 "\", \"" $8 "\"")
    if (($9 == "") != ($10 == "")) fail("target_ratio and target_peer go together")
    if ($9 != "" && (!is_num($9) || $9 + 0 <= 0))
        fail("target_ratio \"" $9 "\" is not a positive number")

    # Every row, for the peers' values; then this scope's bars.
    pv[$2, $3, $4, $5] = $6 + 0
    if ($1 != scope) next
    kind = kind_of($5)
    pk = $2 SUBSEP kind
    if (!(pk in pnum)) {
        pnum[pk] = ++np
        pgroup[np] = $2
        pkind[np] = kind
        pylabel[np] = ylabel_of(kind, $5)
    }
    p = pnum[pk]
    if (!((p, $3) in sysnum)) {
        sysnum[p, $3] = ++nsys[p]
        sysname[p, nsys[p]] = $3
    }
    i = sysnum[p, $3]
    if (!((p, $5, $4) in sernum)) {
        sernum[p, $5, $4] = ++nser[p]
        sermetric[p, nser[p]] = $5
        sersize[p, nser[p]] = $4 + 0
    }
    s = sernum[p, $5, $4]
    if (!((p, s, i) in val)) {       # a row with several targets repeats
        val[p, s, i] = $6 + 0
        lo[p, s, i] = $7 + 0
        hi[p, s, i] = $8 + 0
    }
    if ($9 != "") {
        nt++
        tpanel[nt] = p; tsys[nt] = i; tser[nt] = s
        tratio[nt] = $9 + 0; tpeer[nt] = $10
        tkey[nt] = $2 SUBSEP $10 SUBSEP $4 SUBSEP $5
    }
}

# Series in order of size, then metric (p50 before p99): a permutation
# order[p, 1..nser[p]] of the series numbers, and their bar positions.
function sort_series(p,    a, b, t, n) {
    n = nser[p]
    for (a = 1; a <= n; a++) order[p, a] = a
    for (a = 2; a <= n; a++)
        for (b = a; b > 1; b--) {
            t = order[p, b - 1]
            if (sersize[p, t] < sersize[p, order[p, b]] || (sersize[p, t] == \
                sersize[p, order[p, b]] && sermetric[p, t] <= sermetric[p, order[p, b]]))
                break
            order[p, b - 1] = order[p, b]
            order[p, b] = t
        }
    for (a = 1; a <= n; a++) rank[p, order[p, a]] = a
}

function xpos(p, s, i) {
    return i - 0.4 + 0.8 / nser[p] * (rank[p, s] - 0.5)
}

function emit_panel(p,    s, i, k, t, x, y, ymin, xt, half, tn, label, sym, col, cmd, floor_) {
    sort_series(p)
    half = 0.4 / nser[p] * 0.9
    ymin = -1
    for (k = 1; k <= nser[p]; k++) {
        s = order[p, k]
        printf "$d%d_%d << EOD\n", p, k
        for (i = 1; i <= nsys[p]; i++)
            if ((p, s, i) in val && val[p, s, i] > 0) {
                x = xpos(p, s, i)
                printf "%.4f %.6g %.6g %.6g %.4f %.4f\n", x, val[p, s, i], lo[p, s, i], \
                    hi[p, s, i], x - half, x + half
                y = lo[p, s, i] > 0 ? lo[p, s, i] : val[p, s, i]
                if (ymin < 0 || y < ymin) ymin = y
            }
        print "EOD"
    }
    # One marker set per distinct target (ratio, peer) of the panel.
    tn = 0
    for (t = 1; t <= nt; t++) {
        if (tpanel[t] != p || !(tkey[t] in pv) || pv[tkey[t]] <= 0) continue
        label = "target " (pkind[p] == "tput" ? ">= " : "<= ") tratio[t] "x " tpeer[t]
        if (!((p, label) in tnum)) {
            tnum[p, label] = ++tn
            tlabel[tn] = label
        }
        y = tratio[t] * pv[tkey[t]]
        tline[tnum[p, label]] = tline[tnum[p, label]] sprintf("%.4f %.6g\n", xpos(p, tser[t], tsys[t]), y)
        if (y < ymin) ymin = y
    }
    for (k = 1; k <= tn; k++) {
        printf "$t%d_%d << EOD\n%sEOD\n", p, k, tline[k]
        tline[k] = ""
    }

    printf "set title %s\n", q(title_of(pgroup[p], pkind[p]))
    printf "set ylabel %s\n", q(pylabel[p])
    xt = ""
    for (i = 1; i <= nsys[p]; i++)
        xt = xt (i > 1 ? ", " : "") q(sysname[p, i]) " " i
    printf "set xtics (%s) rotate by 25 right nomirror\n", xt
    printf "set xrange [0.4:%.1f]\n", nsys[p] + 0.6
    floor_ = decade_below(ymin)
    printf "set yrange [%.6g:*]\n", floor_
    cmd = ""
    for (k = 1; k <= nser[p]; k++) {
        s = order[p, k]
        col = palette[(k - 1) % npal + 1]
        cmd = cmd (cmd == "" ? "" : ", \\\n  ") sprintf("$d%d_%d using 1:2:5:6:(%.6g):2 with " \
            "boxxyerror fs solid 0.85 noborder lc rgb '%s' title %s", p, k, floor_, col, \
            q(series_label(pkind[p], sermetric[p, s], sersize[p, s])))
        cmd = cmd sprintf(", \\\n  $d%d_%d using 1:2:3:4 with yerrorbars lc rgb '#333333' " \
            "pt 0 ps 0 notitle", p, k)
    }
    sym = pkind[p] == "tput" ? 9 : 11
    for (k = 1; k <= tn; k++)
        cmd = cmd sprintf(", \\\n  $t%d_%d using 1:2 with points pt %d ps 1.6 lc rgb '%s' " \
            "title %s", p, k, k % 2 ? sym : 7, tpal[(k - 1) % ntpal + 1], q(tlabel[k]))
    print "plot " cmd
}

END {
    if (bad || np == 0) exit bad
    npal = split("#4477aa #88ccee #228833 #99cc77 #aa3377 #ee99cc", palette, " ")
    ntpal = split("#cc0000 #ff7700 #000000 #9900cc #006666 #996600", tpal, " ")
    print "set encoding utf8"
    printf "set terminal " term "\n", 1400, 60 + 470 * np
    printf "set output %s\n", q(out)
    print "set termoption noenhanced"
    print "set logscale y"
    print "set format y '%.0s%c'"
    print "set grid ytics mytics lc rgb '#dddddd'"
    print "set key outside right top vertical Left reverse font ',9'"
    print "set lmargin at screen 0.10"
    print "set rmargin at screen 0.70"
    printf "set multiplot layout %d,1 title %s font ',14'\n", np, \
        q("wom bench, scope: " scope " (bars: median of the samples; whiskers: min to max)")
    for (p = 1; p <= np; p++) emit_panel(p)
    print "unset multiplot"
}
