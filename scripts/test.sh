#!/bin/sh
# test.sh - every test in the normal build (the conformance suite on mem:),
# the conformance suite again on each other scope, then the concurrent tests
# and the conformance suite on those scopes under ASan+UBSan and under TSan,
# then a short run of each fuzz target; prints the total as its last line.
set -u
# The scopes the conformance suite runs on besides mem:, as wom_tests --uri
# templates (tests/main.c): "shm:" is a fresh file per space under /dev/shm
# (or $TMPDIR), removed after each test; "etcd://H:P,.../conformance" a
# fresh key prefix per space under that one, on a 3-member cluster this
# script starts (below) and stops however it ends.
uris=${WOM_CONFORMANCE_URIS:-shm:}
total_p=0; total_f=0

# etcd:// joins when etcd is installed and the build has the scope: a local
# cluster with its data on tmpfs (etcd syncs every commit; on /dev/shm that
# costs nothing, and these tests are about the client), ports from the pid.
cluster=""
if [ -z "${WOM_CONFORMANCE_URIS:-}" ] && [ -x /usr/bin/etcd ] &&
   ! build/wom ls 'etcd://127.0.0.1:1/probe;timeout=100' 2>&1 | grep -q 'has no etcd'; then
  cluster=$(mktemp -d /dev/shm/wom-test-cluster-XXXXXX)
  trap 'build/wom cluster down "$cluster" >/dev/null 2>&1; rm -rf "$cluster"' EXIT INT TERM
  port=$((32000 + ($$ % 110) * 6))
  if u=$(build/wom cluster up "$cluster" --port "$port" 2>&1 | tail -n 1) &&
     [ "${u#etcd://}" != "$u" ]; then
    uris="$uris ${u}conformance"
    echo "== a 3-member etcd cluster for the conformance suite: $u"
  else
    echo "== etcd cluster did not start: $u"; total_f=$((total_f + 1))
  fi
else
  echo "== conformance on etcd://: skipped (no /usr/bin/etcd, or a build without the scope)"
fi
run() {
  label=$1; shift
  echo "== $label"
  t0=$(date +%s)
  out=$("$@" 2>&1); rc=$?
  echo "$out"
  echo "-- $label took $(($(date +%s) - t0)) s"
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -z "$line" ]; then
    echo "$label: runner died (exit $rc)"; total_f=$((total_f + 1)); return
  fi
  p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
  total_p=$((total_p + p)); total_f=$((total_f + f))
}
run "all tests" build/wom_tests
# The man pages (build/man, made from include/wom.h by scripts/mkman) against
# the header, libwom.so's symbols and groff/mandoc, and docs/wom.1 against
# the commands, options and exit codes of build/wom --help.
run "man pages" /usr/bin/python3 tests/man/test_man.py build
# bench/plot.sh draws a fixture's charts (gnuplot-nox: sh scripts/deps.sh
# test); a malformed results file must fail with its line.
run "bench chart" sh bench/plot_test.sh
for u in $uris; do
  run "conformance tests on $u" build/wom_tests --conformance --uri "$u"
done
asan="env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1"
asan="$asan WOM_TEST_SCALE=0.2 build-asan/wom_tests"
run "concurrent tests, ASan+UBSan" $asan --concurrent
for u in $uris; do
  run "conformance tests on $u, ASan+UBSan" $asan --conformance --uri "$u"
done
# TSan needs a narrower address-space randomisation than recent kernels use.
# gRPC and abseil are uninstrumented Debian builds whose own synchronisation
# TSan cannot see: src/wire/tsan.supp names them, and only them.
tsan="env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/src/wire/tsan.supp"
tsan="$tsan WOM_TEST_SCALE=0.1"
command -v setarch >/dev/null && tsan="$tsan setarch $(uname -m) -R"
tsan="$tsan build-tsan/wom_tests"
run "concurrent tests, TSan" $tsan --concurrent
for u in $uris; do
  run "conformance tests on $u, TSan" $tsan --conformance --uri "$u"
done
# The Python binding (bindings/python) under Debian's interpreter and pytest
# (python3-pytest, python3-numpy: sh scripts/deps.sh test), on the build
# tree's library; tests/python/run.py prints pytest's total as our line.
if [ -x /usr/bin/python3 ]; then
  run "python binding (pytest)" env WOM_LIBRARY="$PWD/build/libwom.so.0" \
    WOM_BUILD_DIR="$PWD/build" /usr/bin/python3 tests/python/run.py
else
  echo "== python binding: skipped, /usr/bin/python3 is not installed (sh scripts/deps.sh test)"
fi
# Each fuzz target briefly over its seed corpus (one test each); make fuzz
# runs them longer. Needs clang with libFuzzer (sh scripts/deps.sh fuzz).
if command -v clang >/dev/null; then
  run "fuzz targets, 10 s each" sh fuzz/run.sh 10 build-fuzz
else
  echo "== fuzz targets: skipped, clang not installed (sh scripts/deps.sh fuzz)"
fi
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
