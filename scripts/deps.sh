#!/bin/sh
# deps.sh GROUP... - make sure the Debian packages a make target needs are
# installed, installing the missing ones with apt-get (as root), or naming
# them exactly when that is impossible.
#   build: compiler, cmake, pkg-config, xxHash, libcurl and jansson (the
#          CLI's `wom cluster` talks JSON over HTTP to etcd), libmicrohttpd
#          (`wom exporter` serves Prometheus metrics over HTTP), python3
#          (Debian's: scripts/mkman makes the man pages from include/wom.h)
#   bench: Go, ck, ZeroMQ, NNG; Python's NumPy and ZeroMQ binding (the
#          Python row, bench/python); gnuplot-nox (bench/plot.sh draws the
#          results as SVG and PNG charts)
#   test:  strace (a test reads which files a new space syncs); pytest and
#          NumPy for the Python binding's tests (bindings/python); man-db,
#          groff and mandoc (tests/man renders every man page, warnings fail);
#          gnuplot-nox (bench/plot_test.sh draws the charts of a fixture)
#   cluster: etcd 3.4 (`wom cluster up` runs /usr/bin/etcd) and etcdctl
#   etcd:  the wire layer under the etcd:// scope (src/wire): gRPC's C core,
#          protobuf-c and its compiler, etcd's and protobuf's .proto files
#          (without them the build leaves the etcd scope out)
#   fuzz:  clang with libFuzzer
set -eu
pkgs=""
for g in "$@"; do
  case "$g" in
    build) pkgs="$pkgs gcc make cmake pkg-config libc6-dev libxxhash-dev"
           pkgs="$pkgs libcurl4-openssl-dev libjansson-dev"
           pkgs="$pkgs libmicrohttpd-dev"
           pkgs="$pkgs python3" ;;  # scripts/mkman writes the man pages
    test)  pkgs="$pkgs strace"
           pkgs="$pkgs python3 python3-pytest python3-numpy"
           pkgs="$pkgs man-db groff-base mandoc"  # tests/man: pages render cleanly
           pkgs="$pkgs gnuplot-nox" ;;  # bench/plot_test.sh
    cluster) pkgs="$pkgs etcd-server etcd-client openssl" ;;
    etcd)  pkgs="$pkgs libgrpc-dev protobuf-c-compiler libprotobuf-c-dev"
           pkgs="$pkgs golang-etcd-server-dev libprotobuf-dev" ;;
    bench) pkgs="$pkgs golang-go golang-etcd-server-dev libck-dev libzmq3-dev libnng-dev"
           pkgs="$pkgs python3 python3-numpy python3-zmq"
           pkgs="$pkgs gnuplot-nox" ;;  # bench/plot.sh: the charts
    fuzz)  pkgs="$pkgs clang libclang-rt-14-dev" ;;
    *) echo "deps.sh: unknown group $g" >&2; exit 2 ;;
  esac
done
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: not root; run: sudo apt-get install$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt-get (a parallel make, unattended-upgrades on a fresh boot) may
# hold dpkg's lock: wait for it rather than fail.
apt="apt-get -o DPkg::Lock::Timeout=900 -y -q"
$apt install $missing >/dev/null 2>&1 || {
  $apt update >/dev/null && $apt install $missing >/dev/null
} || { echo "deps.sh: apt-get failed; install by hand:$missing" >&2; exit 1; }
