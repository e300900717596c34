#!/bin/sh
# run.sh BUILD_DIR [wom_bench options] - run the benchmarks built in
# BUILD_DIR (by `make bench`: cmake -DWOM_BENCH=ON) and print the table.
# The output is also kept in BUILD_DIR/bench/results.txt.
set -eu
b=${1:?usage: run.sh BUILD_DIR [wom_bench options]}
shift
bin="$b/bench/wom_bench"
if [ ! -x "$bin" ]; then
  echo "run.sh: $bin not built (configure with -DWOM_BENCH=ON)" >&2
  exit 1
fi
set -- "$@"
if [ -x "$b/bench/chanbench" ]; then
  set -- --go "$b/bench/chanbench" "$@"
fi
"$bin" --sync-dir "$b/bench" "$@" | tee "$b/bench/results.txt"
