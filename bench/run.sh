#!/bin/sh
# run.sh BUILD_DIR [wom_bench options] - run the benchmarks built in
# BUILD_DIR (by `make bench`: cmake -DWOM_BENCH=ON) and print the table.
# The output is also kept in BUILD_DIR/bench/results.txt, its rows as TSV
# in BUILD_DIR/bench/results.tsv (wom_bench --results), drawn at the end by
# bench/plot.sh as BUILD_DIR/bench/bench-SCOPE.svg and .png (needs gnuplot:
# without it the run says so and still succeeds).
#
# Two invocations of wom_bench: first the threads and processes parts (with
# no etcd running, so that its heartbeats do not share the cores with
# them), then the cluster part, against a fresh 3-member cluster that this
# script starts with `wom cluster up` in BUILD_DIR/bench/cluster on
# 127.0.0.1, ports $WOM_BENCH_CLUSTER_PORT (default 23790) to +5, and stops
# when it ends, however it ends. The cluster part is reported as skipped,
# with the reason, when etcd-server, the wom CLI or etcd's Go client
# benchmark (golang-go + golang-etcd-server-dev) is missing.
# `--only cluster` runs the cluster part alone; another --only skips it.
# Between the two, the Python section (bench/python/bench_py.py: Python
# process to Python process, a wom channel against multiprocessing.Queue, a
# pipe and pyzmq); `--only python` runs it alone, another --only skips it.
set -eu
b=${1:?usage: run.sh BUILD_DIR [wom_bench options]}
shift

# ---- the Python section ----------------------------------------------------
python_part() {
  if [ ! -x /usr/bin/python3 ]; then
    echo "python: skipped, /usr/bin/python3 is not installed (scripts/deps.sh bench)"
  elif [ ! -e "$b/libwom.so.0" ]; then
    echo "python: skipped, $b/libwom.so.0 is not built"
  else
    WOM_LIBRARY="$(cd "$b" && pwd)/libwom.so.0" /usr/bin/python3 \
      "$(dirname "$0")/python/bench_py.py" --results "$tsv" ${WOM_BENCH_PY_ARGS:-}
  fi
}
tsv="$b/bench/results.tsv"

# The charts of this run's rows; a missing gnuplot or a failed chart is
# reported and never fails the benchmark.
charts() {
  if ! command -v gnuplot >/dev/null 2>&1; then
    echo "run.sh: no charts: gnuplot is not installed (Debian package gnuplot-nox; sh scripts/deps.sh bench)"
  elif ! sh "$(dirname "$0")/plot.sh" "$tsv" "$b/bench"; then
    echo "run.sh: no charts: bench/plot.sh failed on $tsv (above)"
  fi
}
for a in "$@"; do
  if [ "${prev_:-}" = --only ] && [ "$a" = python ]; then
    mkdir -p "$b/bench"
    : >"$tsv"
    python_part | tee "$b/bench/results.txt"
    charts
    exit 0
  fi
  prev_=$a
done
bin="$b/bench/wom_bench"
if [ ! -x "$bin" ]; then
  echo "run.sh: $bin not built (configure with -DWOM_BENCH=ON)" >&2
  exit 1
fi
out="$b/bench/results.txt"

only=""
prev=""
for a in "$@"; do
  [ "$prev" = --only ] && only=$a
  prev=$a
done
case "$only" in
  "") local_part=1 cluster_part=1 ;;
  cluster|etcd) local_part=0 cluster_part=1 ;;
  *) local_part=1 cluster_part=0 ;;
esac

: >"$out"
: >"$tsv"
if [ "$local_part" = 1 ]; then
  go=""
  [ -x "$b/bench/chanbench" ] && go="--go $b/bench/chanbench"
  # shellcheck disable=SC2086 # $go is empty or two words
  "$bin" --no-cluster $go --sync-dir "$b/bench" --results "$tsv" "$@" | tee -a "$out"
fi
[ -n "$only" ] || python_part | tee -a "$out"
if [ "$cluster_part" != 1 ]; then
  charts
  exit 0
fi

wom="$b/wom"
cdir="$b/bench/cluster"
port=${WOM_BENCH_CLUSTER_PORT:-23790}
skip=""
if [ ! -x /usr/bin/etcd ]; then
  skip="etcd-server is not installed (/usr/bin/etcd; scripts/deps.sh cluster)"
elif [ ! -x "$wom" ]; then
  skip="the wom CLI is not built ($wom)"
elif [ ! -x "$b/bench/etcdbench" ]; then
  skip="etcd's Go client benchmark is not built: it needs golang-go and golang-etcd-server-dev at configure time (scripts/deps.sh bench)"
fi

stop_cluster() {
  if [ -f "$cdir/config" ]; then
    "$wom" cluster down "$cdir" >/dev/null 2>&1 || true
    rm -rf "$cdir"/m*/member # the data: hundreds of MB; the logs stay
  fi
}

if [ -z "$skip" ]; then
  # A cluster left by an interrupted run is stopped, and its data dropped.
  stop_cluster
  rm -rf "$cdir"
  mkdir -p "$cdir"
  trap stop_cluster EXIT
  trap 'exit 130' INT TERM
  echo "run.sh: starting a 3-member etcd cluster in $cdir (ports $port-$((port + 5)))" >&2
  if ! "$wom" cluster up "$cdir" --port "$port" >/dev/null; then
    skip="\`wom cluster up $cdir --port $port\` failed (ports in use? set WOM_BENCH_CLUSTER_PORT; logs in $cdir/m*/log)"
  fi
fi
if [ -n "$skip" ]; then
  "$bin" --etcd-skip "$skip" --results "$tsv" "$@" --only cluster | tee -a "$out"
  charts
  exit 0
fi
"$bin" --etcd-dir "$cdir" --etcd-go "$b/bench/etcdbench" --wom-cli "$wom" --results "$tsv" \
  "$@" --only cluster | tee -a "$out"
charts
