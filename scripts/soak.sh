#!/bin/sh
# soak.sh BUILD_DIR SECONDS - the demo's processes over a shm: space, every
# message checked, the space trimmed behind the consumers, at 64 B, 4 KiB
# and 64 KiB messages: SECONDS is split over the three (a third each).
#
# Every few seconds it prints the space file's allocated size (du) and the
# resident size of the largest of the demo's processes. After a warm-up
# (the first quarter of each size's run) neither may grow by more than one
# arena chunk (8 MiB): the least of the samples of the second half may not
# exceed the least of the second quarter by more. A log trimmed behind its
# readers runs in constant space, and free chunks stay resident only while
# they are used. The least, because the demo is bursty: its supervisor
# trims every 20 ms, and a busy machine that holds it back lets the space
# hold more for a moment (up to 17 chunks at 64 KiB), and a warm chunk
# more or less comes and goes with the load (a burst's chunks stay warm a
# second or two, then are punched), so single samples and even medians
# jump by a chunk; a leak raises the floor. Medians and the most each
# reached are printed too.
#
# The file goes in SOAK_DIR (default /dev/shm, else BUILD_DIR): the soak
# measures the allocator, not the disk's writeback.
set -eu
b=$1; secs=$2
dir=${SOAK_DIR:-/dev/shm}
[ -d "$dir" ] && [ -w "$dir" ] || dir=$b
f="$dir/wom-soak-$$.wom"
chunk_kib=8192
phase=$((secs / 3))
[ "$phase" -ge 8 ] || { echo "soak: SOAK_SECONDS=$secs is too short (8 s per size at least)"; exit 1; }
every=$((phase / 40))
[ "$every" -ge 1 ] || every=1
trap 'rm -f "$f"' EXIT INT TERM

# The largest resident size (KiB) of process $1 and its children.
rss_kib() {
    { ps -o rss= -p "$1"; ps -o rss= --ppid "$1"; } 2>/dev/null |
        awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }'
}

# The median, and the least, of the numbers on stdin (0 for none).
median() {
    sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'
}
least() {
    sort -n | awk 'NR == 1 { print $1 } END { if (!NR) print 0 }'
}

fail=0
for size in 64 4096 65536; do
    rm -f "$f"
    echo "soak: $size-byte messages for $phase s (a sample every $every s; warm-up $((phase / 4)) s)"
    "$b/wom" demo --procs --uri "shm:$f" --seconds "$phase" --size "$size" >"$f.out" 2>&1 &
    pid=$!
    t=0
    base_du=""; base_rss=""; late_du=""; late_rss=""; top_du=0; top_rss=0
    while kill -0 "$pid" 2>/dev/null && [ "$t" -lt "$phase" ]; do
        sleep "$every"
        t=$((t + every))
        [ -f "$f" ] || continue
        du=$(du -k "$f" | cut -f1)
        rss=$(rss_kib "$pid")
        [ "$rss" -gt 0 ] || continue # the processes are ending
        [ "$du" -gt "$top_du" ] && top_du=$du
        [ "$rss" -gt "$top_rss" ] && top_rss=$rss
        if [ "$t" -le $((phase / 4)) ]; then
            tag=warm-up
        elif [ "$t" -le $((phase / 2)) ]; then
            tag=base
            base_du="$base_du $du"; base_rss="$base_rss $rss"
        else
            tag=check
            late_du="$late_du $du"; late_rss="$late_rss $rss"
        fi
        printf 'soak: %6d B %4d s  file %7d KiB  rss %7d KiB  %s\n' "$size" "$t" "$du" "$rss" "$tag"
    done
    if ! wait "$pid"; then
        cat "$f.out"
        echo "soak: FAILED: the demo failed at $size-byte messages"
        rm -f "$f.out"
        exit 1
    fi
    grep '^demo: \(throughput\|OK\)' "$f.out" | sed 's/^/soak: /'
    rm -f "$f.out"
    bd=$(echo $base_du | tr ' ' '\n' | median); ld=$(echo $late_du | tr ' ' '\n' | median)
    br=$(echo $base_rss | tr ' ' '\n' | median); lr=$(echo $late_rss | tr ' ' '\n' | median)
    fd=$(echo $base_du | tr ' ' '\n' | least); gd=$(echo $late_du | tr ' ' '\n' | least)
    fr=$(echo $base_rss | tr ' ' '\n' | least); gr=$(echo $late_rss | tr ' ' '\n' | least)
    echo "soak: $size B: file least $fd KiB in the second quarter, $gd KiB in the second half (growth $((gd - fd)) KiB); median $bd, then $ld KiB; most $top_du KiB"
    echo "soak: $size B: largest rss least $fr KiB in the second quarter, $gr KiB in the second half (growth $((gr - fr)) KiB); median $br, then $lr KiB; most $top_rss KiB"
    if [ "$gd" -gt $((fd + chunk_kib)) ]; then
        echo "soak: FAILED: at $size-byte messages the space grew by $((gd - fd)) KiB after the warm-up (limit $chunk_kib)"
        fail=1
    fi
    if [ "$gr" -gt $((fr + chunk_kib)) ]; then
        echo "soak: FAILED: at $size-byte messages the resident size grew by $((gr - fr)) KiB after the warm-up (limit $chunk_kib)"
        fail=1
    fi
done
[ "$fail" -eq 0 ] || exit 1
echo "soak: OK"
