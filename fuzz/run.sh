#!/bin/sh
# run.sh SECONDS [BUILD_DIR] - build the libFuzzer targets with clang into
# BUILD_DIR (default build-fuzz) and run each for SECONDS from its committed
# seed corpus fuzz/corpus/T. New inputs go to BUILD_DIR/corpus-run/T, crash
# reproducers to BUILD_DIR/artifacts/; the committed corpus is only read.
# Each target counts as one test; the last line is "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
secs=${1:-60}
b=${2:-build-fuzz}
# fuzz_etcd (the decoder of etcd's answers) is built only where gRPC and
# protobuf-c are (fuzz/CMakeLists.txt): without them it is reported as
# skipped and counted in neither column.
targets="fuzz_uri fuzz_etcd_uri fuzz_cli fuzz_file fuzz_etcd"
ntargets=5
passed=0; failed=0

if ! { cmake -S . -B "$b" -DCMAKE_C_COMPILER=clang -DWOM_FUZZ=ON >"$b.cmake.log" 2>&1 &&
       cmake --build "$b" -j "$(nproc)" --target wom_fuzz >>"$b.cmake.log" 2>&1; }; then
  tail -n 30 "$b.cmake.log"
  echo "fuzz: building $b failed"
  echo "0 passed, $ntargets failed"
  exit 1
fi
rm -f "$b.cmake.log"

for t in $targets; do
  name=${t#fuzz_}
  if [ "$t" = fuzz_etcd ] && [ ! -x "$b/fuzz/$t" ]; then
    echo "fuzz: $t: skipped (this build has no etcd:// wire layer: sh scripts/deps.sh etcd)"
    continue
  fi
  run_dir="$b/corpus-run/$name"
  mkdir -p "$run_dir" "$b/artifacts"
  log="$b/$t.log"
  # -timeout: any one input running over 10 s is a hang. -max_len bounds the
  # work of one input; -rss_limit_mb catches runaway memory.
  "$b/fuzz/$t" -max_total_time="$secs" -timeout=10 -max_len=4096 -rss_limit_mb=2048 \
    -dict="fuzz/$name.dict" -artifact_prefix="$b/artifacts/$t-" -print_final_stats=1 \
    "$run_dir" "fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
  eps=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log")
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    echo "fuzz: $t: PASS in ${secs}s, ${eps:-?} exec/s: $done_line"
  else
    failed=$((failed + 1))
    echo "fuzz: $t: FAIL (exit $rc); log $log, reproducer in $b/artifacts/:"
    grep -E 'property failed|ERROR:|SUMMARY:|Test unit written' "$log" | head -n 10
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
