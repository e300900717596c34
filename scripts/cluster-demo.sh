#!/bin/sh
# cluster-demo.sh [BUILD_DIR] - make cluster-demo: the demo's producer and
# consumer processes over a channel on a local 3-member etcd cluster, with
# the leader SIGKILLed mid-run and restarted; every message must still
# arrive exactly once and in order (the demo checks each one itself).
#
#  1. `wom cluster up BUILD_DIR/cluster-demo`: a symbolic link to a fresh
#     directory under /dev/shm (tmpfs), so the members' data and their
#     fsyncs stay in memory (etcd syncs its log on every commit);
#  2. `wom demo --procs` on etcd://.../demo-<time>-<pid>, a prefix of its
#     own, so runs never meet;
#  3. once the channel's tail (from `wom stat`) passes a third of the
#     messages, the leader (from `wom cluster status`) is SIGKILLed; once a
#     new leader is named and the tail has moved on by a tenth more with
#     two members, the dead one is restarted with `wom cluster up`;
#  4. the demo's exit status and its verdict line decide; the cluster is
#     stopped and its data removed however the script ends.
# Environment: WOM_CLUSTER_DEMO_MESSAGES (default 8000),
# WOM_CLUSTER_DEMO_PORT (member 1's client port; default 23890, the
# members use it and the 5 ports above), WOM_CLUSTER_DEMO_DIR (the cluster
# directory, default BUILD_DIR/cluster-demo; removed first and after).
# shellcheck disable=SC2016 # conditions and sh -c bodies expand when run
set -u
b=${1:-build}
n=${WOM_CLUSTER_DEMO_MESSAGES:-8000}
port=${WOM_CLUSTER_DEMO_PORT:-23890}
wom="$b/wom"
dir=${WOM_CLUSTER_DEMO_DIR:-$b/cluster-demo}
limit=300 # seconds for any one wait below: a bound, not a pace

say() { echo "cluster-demo: $*"; }
die() { say "FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ -x /usr/bin/etcd ] || die "etcd is not installed (/usr/bin/etcd): sh scripts/deps.sh cluster"
[ -x "$wom" ] || die "$wom is not built (make)"
command -v setsid >/dev/null || die "setsid (util-linux) is missing"

data=""
demo=""
stop_all() {
  if [ -n "$demo" ] && kill -0 "$demo" 2>/dev/null && [ -s "$data/demo.pgid" ]; then
    kill -KILL "-$(cat "$data/demo.pgid")" 2>/dev/null # the demo and its roles
  fi
  if [ -f "$dir/config" ]; then
    "$wom" cluster down "$dir" >/dev/null 2>&1 || say "cluster down $dir failed" >&2
  fi
  # Only what this script makes: the link, its target, or a cluster
  # directory (a config file) that an older run left.
  if [ -L "$dir" ]; then
    case $(readlink "$dir") in /dev/shm/wom-cluster-demo.*) rm -rf "$(readlink "$dir")" ;; esac
    rm -f "$dir"
  elif [ -f "$dir/config" ]; then
    rm -rf "$dir"
  fi
  [ -n "$data" ] && rm -rf "$data"
  return 0
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# A cluster left by an interrupted run is stopped and its data removed.
stop_all
[ -e "$dir" ] && die "$dir exists and is not a cluster directory this script made"
mkdir -p "$(dirname "$dir")"
data=$(mktemp -d /dev/shm/wom-cluster-demo.XXXXXX) || die "no directory under /dev/shm"
ln -s "$data" "$dir" || die "cannot link $dir to $data"
say "3-member etcd cluster in $dir -> $data (tmpfs), ports $port-$((port + 5))"
"$wom" cluster up "$dir" --members 3 --port "$port" >/dev/null 2>"$data/up.err" ||
  die "wom cluster up failed (ports in use? set WOM_CLUSTER_DEMO_PORT): $(cat "$data/up.err")"
base=$(cat "$dir/uri") || die "no $dir/uri"
# The default operation timeout (5 s): a write forwarded to the dead leader
# is given up after a quarter of it and sent again to another member.
space="${base}demo-$(date +%s)-$$"
"$wom" ls "$space" >/dev/null 2>"$data/ls.err" ||
  die "$wom cannot use the cluster (built without the etcd scope? sh scripts/deps.sh etcd," \
    "then make): $(cat "$data/ls.err")"

# The leader's member number (mK) per `wom cluster status`, or nothing.
leader() {
  "$wom" cluster status "$dir" 2>/dev/null | sed -n 's/^leader m\([0-9]*\) .*/\1/p'
}
# The tail of the demo's channel (its messages so far), 0 before it exists.
tail_of() {
  "$wom" stat "$space" 2>/dev/null | awk '$1 == "demo" && $2 == "once" { t = $3 } END { print t + 0 }'
}
demo_runs() { kill -0 "$demo" 2>/dev/null && [ ! -s "$data/demo.rc" ]; }
# Wait until condition $1 holds, while the demo runs, for at most $limit s.
wait_for() {
  t=$(now)
  until eval "$1"; do
    demo_runs || die "the demo ended before: $2 ($(tail -n 3 "$data/demo.err"))"
    [ "$(awk -v a="$t" -v b="$(now)" 'BEGIN { print (b - a > '"$limit"') }')" = 0 ] ||
      die "no $2 within $limit s"
    sleep 0.1 # a polling interval: what is waited for is the condition
  done
}

say "wom demo --procs --messages $n --uri $space"
t0=$(now)
# In a session of its own, so that an interrupted run can kill its whole
# process group (the demo forks its roles): sh -c leads that group.
setsid -w sh -c 'echo $$ >"$3.pgid"; "$0" demo --procs --messages "$1" --uri "$2"
  echo $? >"$3.rc"' "$wom" "$n" "$space" "$data/demo" >"$data/demo.out" 2>"$data/demo.err" &
demo=$!

third=$((n / 3))
wait_for '[ "$(tail_of)" -ge "$third" ]' "channel tail at $third"
k=$(leader)
[ -n "$k" ] || die "no leader named by \`wom cluster status\`"
victim=$(cat "$dir/m$k/pid") || die "no pid file for m$k"
at_kill=$(tail_of)
kill -KILL "$victim" || die "cannot SIGKILL m$k (pid $victim)"
t_kill=$(since "$t0")
say "$t_kill s: SIGKILLed the leader m$k (pid $victim) at tail $at_kill"

l=""
wait_for 'l=$(leader); [ -n "$l" ] && [ "$l" != "$k" ]' "new leader"
t_lead=$(since "$t0")
say "$t_lead s: new leader m$l"
more=$((at_kill + n / 10))
wait_for '[ "$(tail_of)" -ge "$more" ]' "progress with two members (tail $more)"
t_more=$(since "$t0")
say "$t_more s: tail passed $more with m$k down"
"$wom" cluster up "$dir" >/dev/null 2>"$data/up.err" ||
  die "restarting m$k: $(cat "$data/up.err")"
t_up=$(since "$t0")
say "$t_up s: m$k restarted ($(grep -o 'started, pid [0-9]*' "$data/up.err")), tail $(tail_of)"

wait "$demo"
t_end=$(since "$t0")
rc=$(cat "$data/demo.rc" 2>/dev/null || echo "?")
demo=""
cat "$data/demo.out"
"$wom" cluster status "$dir" 2>&1 | sed -n 's/^leader /cluster-demo: at the end: leader /p'
verdict="demo: OK: $n messages, exactly once, in order"
if [ "$rc" != 0 ] || ! grep -q "^$verdict" "$data/demo.out"; then
  tail -n 5 "$data/demo.err" >&2
  die "the demo exited with status $rc, without '$verdict'"
fi
pause=$(sed -n 's/^demo: longest wait for a message: //p' "$data/demo.out")
slowest=$(sed -n 's/^demo: slowest send: //p' "$data/demo.out")
say "OK"
echo "  messages    $n, 2 producer and 2 consumer processes; each consumer checked every"
echo "              message: exactly once, in order (the demo's own verdict above)"
echo "  time        $t_end s"
echo "  killed      leader m$k, SIGKILL at $t_kill s (channel tail $at_kill)"
echo "  recovered   new leader m$l at $t_lead s"
echo "  cost        slowest send $slowest${pause:+; longest wait for a message $pause}"
echo "  restarted   m$k at $t_up s, by wom cluster up $dir"
