#!/bin/sh
# soak.sh BUILD_DIR SECONDS - run the cross-process demo for SECONDS over a
# shm: space and check that the file's allocated size stays flat: sampled
# at a quarter and at the end of the run, it may not grow by more than a few
# arena chunks (a log trimmed behind its readers runs in constant space).
set -eu
b=$1; secs=$2
f="$b/soak.wom"
rm -f "$f"
"$b/wom" demo --procs --uri "shm:$f" --seconds "$secs" --size 256 &
pid=$!
sleep $((secs / 4 + 1))
early=$(du -k "$f" | cut -f1)
wait "$pid"
late=$(du -k "$f" | cut -f1)
echo "soak: allocated ${early} KiB at a quarter, ${late} KiB at the end"
rm -f "$f"
if [ "$late" -gt $((early + 65536)) ]; then
  echo "soak: FAILED: the space grew by $((late - early)) KiB"
  exit 1
fi
echo "soak: OK"
