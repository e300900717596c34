#!/bin/sh
# plot.sh RESULTS.tsv OUT_DIR - draw wom_bench's TSV results (wom_bench
# --results; bench/README.md, "Results as TSV and charts") as one chart per
# scope with gnuplot: OUT_DIR/bench-threads.svg and .png, and the same for
# processes, python and cluster. A scope without rows gets no chart and a line that
# says so. Exits 1 when the file is malformed (plot.awk names the line), 2
# on wrong usage, 3 when gnuplot is not installed (Debian: gnuplot-nox).
set -eu
tsv=${1:?usage: plot.sh RESULTS.tsv OUT_DIR}
dir=${2:?usage: plot.sh RESULTS.tsv OUT_DIR}
awk_prog="$(dirname "$0")/plot.awk"

if ! command -v gnuplot >/dev/null 2>&1; then
  echo "plot.sh: gnuplot is not installed, no charts (Debian: apt-get install gnuplot-nox, or sh scripts/deps.sh bench)" >&2
  exit 3
fi
if [ ! -r "$tsv" ]; then
  echo "plot.sh: cannot read $tsv" >&2
  exit 2
fi
mkdir -p "$dir"

# pngcairo draws antialiased text; gnuplot-nox has it, other builds may
# have only libgd's png.
png="pngcairo size %d,%d noenhanced font 'sans,10' background '#ffffff'"
gnuplot -e "set terminal" 2>&1 | grep -q pngcairo ||
  png="png size %d,%d noenhanced background '#ffffff'"
svg="svg size %d,%d noenhanced font 'sans,11' background '#ffffff'"

# One awk pass per chart: each checks the whole file, so a malformed line
# fails the first one, before anything is drawn.
tmp=$(mktemp "${TMPDIR:-/tmp}/wom-plot-XXXXXX")
trap 'rm -f "$tmp"' EXIT
for scope in threads processes python cluster; do
  for ext in svg png; do
    if [ "$ext" = svg ]; then term=$svg; else term=$png; fi
    out="$dir/bench-$scope.$ext"
    PLOT_SCOPE=$scope PLOT_TERM=$term PLOT_OUT=$out \
      awk -F '\t' -f "$awk_prog" "$tsv" >"$tmp"
    if [ ! -s "$tmp" ]; then
      echo "plot.sh: no $scope rows in $tsv, no chart for that scope"
      rm -f "$out"
      break
    fi
    gnuplot "$tmp" || { echo "plot.sh: gnuplot failed on $out" >&2; exit 1; }
    echo "plot.sh: wrote $out"
  done
done
