#!/bin/sh
# test.sh - every test in the normal build, then the concurrent tests under
# ASan+UBSan and under TSan, then a short run of each fuzz target; prints the
# total as its last line.
set -u
total_p=0; total_f=0
run() {
  label=$1; shift
  echo "== $label"
  out=$("$@" 2>&1); rc=$?
  echo "$out"
  line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -z "$line" ]; then
    echo "$label: runner died (exit $rc)"; total_f=$((total_f + 1)); return
  fi
  p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
  total_p=$((total_p + p)); total_f=$((total_f + f))
}
run "all tests" build/wom_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  WOM_TEST_SCALE=0.2 run "concurrent tests, ASan+UBSan" build-asan/wom_tests --concurrent
# TSan needs a narrower address-space randomisation than recent kernels use.
tsan="build-tsan/wom_tests --concurrent"
command -v setarch >/dev/null && tsan="setarch $(uname -m) -R $tsan"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 WOM_TEST_SCALE=0.1 \
  run "concurrent tests, TSan" $tsan
# Each fuzz target briefly over its seed corpus (one test each); make fuzz
# runs them longer. Needs clang with libFuzzer (sh scripts/deps.sh fuzz).
if command -v clang >/dev/null; then
  run "fuzz targets, 10 s each" sh fuzz/run.sh 10 build-fuzz
else
  echo "== fuzz targets: skipped, clang not installed (sh scripts/deps.sh fuzz)"
fi
echo "$total_p passed, $total_f failed"
[ "$total_f" = 0 ]
