"""bench_py.py [--time S] [--runs N] [--sizes B,B] [--only SUBSTRING]

Python process to Python process: one producer process sends NumPy arrays,
one consumer process receives each as a NumPy array and checks its sequence
number (the first and last 8 bytes), so a transport that drops, reorders,
repeats or truncates fails its row instead of looking fast. Throughput is
timed by the consumer, from the end of an untimed warm-up (2048
messages; 1 MiB: 128) to the end marker, over --time seconds of sending; each row prints min, median and max over --runs
samples, one transport after another in the same run, then the ratios of
wom's channel to each peer (medians; higher is better for wom).

Transports:
  wom chan (send+recv_view)  a channel in a fresh shm: space under /dev/shm,
                             bound 1024 (64 B) or 16 (1 MiB), the producer's
                             handle retaining 4x that (64 MiB at 1 MiB); send() reads the array
                             in place (one copy, into the space); the consumer
                             makes its array over the received view (no copy)
  wom chan (loan+view)       the producer writes the array in a loan (in the
                             space) and commits it: no copy at all
  wom chan (send_many+recv_views)  the producer sends 64 arrays with one
                             send_many, the consumer takes up to 64 views with
                             one recv_views (bound 1024 or 16 as above)
  multiprocessing.Queue      maxsize as the bound above; put() pickles a fresh
                             array (a feeder thread pickles it later, so the
                             producer may not reuse it), get() unpickles one
  os.pipe                    the array's bytes written whole; the consumer
                             reads them into a preallocated array
  zmq tcp PUSH/PULL          pyzmq (python3-zmq) over loopback TCP,
                             send(copy=True); 1 MiB received without a copy
                             (frame buffer). Not ipc://: with libzmq 4.3.4
                             the consumer stopped receiving before the end
                             marker in this harness at 64 B (not diagnosed)

Processes are forked (multiprocessing, "fork"); each opens its transport
after the fork. Run with Debian's /usr/bin/python3; the library is found as
the binding finds it ($WOM_LIBRARY: bench/run.sh names the build's).
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bindings", "python"))

import numpy as np  # noqa: E402

import wom  # noqa: E402

try:
    import zmq  # noqa: E402
except ImportError:
    zmq = None

END = np.uint64(2**64 - 1)
SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def bound_for(size):
    return 1024 if size <= 4096 else 16


class Bad(Exception):
    pass


def check(a, i):
    if a.shape[0] * 8 != SIZE or a[0] != i or a[-1] != i:
        raise Bad("message %d: got %d bytes, first %d, last %d" % (
            i, a.shape[0] * 8, int(a[0]) if a.size else -1, int(a[-1]) if a.size else -1))


def consume(loop, conn, warm):
    """Run a consumer loop (yields arrays); report (count, seconds) of the
    messages after the first `warm` ones, or an error."""
    try:
        n = 0
        t0 = None
        for a in loop:
            if a[0] == END:
                break
            check(a, n)
            n += 1
            if n == warm:
                t0 = time.perf_counter()
        if t0 is None:
            raise Bad("%d messages, fewer than the %d of the warm-up" % (n, warm))
        conn.send(("ok", n - warm, time.perf_counter() - t0))
    except Exception as e:  # reported to the parent, which prints it in the row
        conn.send(("error", repr(e)))


def warmup():
    """Messages sent untimed first: first touches of memory (a fresh wom
    space faults in its pages, then recycles its chunks once retention trims
    behind the consumer) fall in them, as in the C benchmark's samples."""
    return 2048 if SIZE <= 4096 else 8 * bound_for(SIZE)


def produce(send, seconds, fresh=False):
    """Send the warm-up, then for `seconds`, then the end marker; returns
    how many messages were sent after the warm-up."""
    a = np.zeros(SIZE // 8, dtype=np.uint64)
    i = 0
    w = warmup()
    for i in range(w):
        a[0] = a[-1] = i
        send(a.copy() if fresh else a)
    i = w
    deadline = time.perf_counter() + seconds
    while True:
        a[0] = a[-1] = i
        send(a.copy() if fresh else a)
        i += 1
        if (i & 63) == 0 and time.perf_counter() > deadline:
            break
    a[0] = a[-1] = END
    send(a.copy() if fresh else a)
    return i - w


# ---- transports: each is (setup in parent, consumer in child, producer) ----

def wom_uri(path):
    return "shm:" + path


def wom_consumer(ep, ready):
    with wom.open(wom_uri(ep)) as s:
        ch = s.channel("b", bound=bound_for(SIZE), max_value=max(SIZE, 1 << 20))
        with ch.subscribe() as sub:
            ready()
            while True:
                with sub.recv_view() as v:
                    yield np.frombuffer(v.data, dtype=np.uint64)


def wom_producer(ep, seconds):
    b = bound_for(SIZE)
    with wom.open(wom_uri(ep)) as s:
        ch = s.channel("b", bound=b, max_value=max(SIZE, 1 << 20), retain=4 * b)
        return produce(ch.send, seconds)


def wom_loan_producer(ep, seconds):
    b = bound_for(SIZE)
    with wom.open(wom_uri(ep)) as s:
        ch = s.channel("b", bound=b, max_value=max(SIZE, 1 << 20), retain=4 * b)
        i = 0
        w = warmup()
        deadline = None
        while True:
            if i == w:
                deadline = time.perf_counter() + seconds
            last = i
            if i > w and (i & 63) == 0 and time.perf_counter() > deadline:
                last = END
            l = ch.loan(SIZE)
            a = np.frombuffer(l.data, dtype=np.uint64)
            a[0] = a[-1] = last
            del a
            l.commit()
            if last == END:
                return i - w
            i += 1


BATCH = 64


def wom_batch_consumer(ep, ready):
    with wom.open(wom_uri(ep)) as s:
        ch = s.channel("b", bound=bound_for(SIZE), max_value=max(SIZE, 1 << 20))
        with ch.subscribe() as sub:
            ready()
            while True:
                for v in sub.recv_views(BATCH):
                    with v:
                        yield np.frombuffer(v.data, dtype=np.uint64)


def wom_batch_producer(ep, seconds):
    b = bound_for(SIZE)
    with wom.open(wom_uri(ep)) as s:
        ch = s.channel("b", bound=b, max_value=max(SIZE, 1 << 20), retain=4 * b)
        arrs = [np.zeros(SIZE // 8, dtype=np.uint64) for _ in range(BATCH)]
        w = warmup()
        i = 0
        deadline = None
        while True:
            if i == w:
                deadline = time.perf_counter() + seconds
            end = deadline is not None and i > w and time.perf_counter() > deadline
            for k, a in enumerate(arrs):
                a[0] = a[-1] = END if end else i + k
            ch.send_many(arrs[:1] if end else arrs)
            if end:
                return i - w
            i += BATCH


def queue_consumer(q, ready):
    ready()
    while True:
        yield q.get()


def queue_producer(q, seconds):
    return produce(q.put, seconds, fresh=True)


def pipe_consumer(fds, ready):
    os.close(fds[1])
    ready()
    buf = np.empty(SIZE // 8, dtype=np.uint64)
    mv = memoryview(buf).cast("B")
    try:
        while True:
            got = 0
            while got < SIZE:
                k = os.readv(fds[0], [mv[got:]])
                if k == 0:
                    raise Bad("pipe closed after %d bytes" % got)
                got += k
            yield buf
    finally:
        os.close(fds[0])


def pipe_producer(fds, seconds):
    os.close(fds[0])

    def send(a):
        mv = memoryview(a).cast("B")
        off = 0
        while off < SIZE:
            off += os.write(fds[1], mv[off:])
    try:
        return produce(send, seconds)
    finally:
        os.close(fds[1])


def zmq_consumer(ep, ready):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.bind(ep)
    ready(s.getsockopt_string(zmq.LAST_ENDPOINT))  # the port the system chose
    big = SIZE > 65536
    try:
        while True:
            m = s.recv(copy=not big)
            yield np.frombuffer(m.buffer if big else m, dtype=np.uint64)
    finally:
        s.close(linger=0)
        ctx.term()


def zmq_producer(ep, seconds):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.connect(ep)
    try:
        return produce(lambda a: s.send(a, copy=True), seconds)
    finally:
        s.close(linger=-1)  # deliver everything before closing
        ctx.term()


def _shm_path():
    return os.path.join(SHM_DIR, "wom-bench-py-%d-%d.wom" % (os.getpid(), time.monotonic_ns()))


TRANSPORTS = [
    # name, per message, endpoint factory, cleanup, consumer, producer
    ("wom chan (send+recv_view)", "copy in, array over a view",
     _shm_path, lambda p: os.path.exists(p) and os.unlink(p), wom_consumer, wom_producer),
    ("wom chan (loan+view)", "array in a loan, over a view: no copy",
     _shm_path, lambda p: os.path.exists(p) and os.unlink(p), wom_consumer, wom_loan_producer),
    ("wom chan (send_many+recv_views)", "batch %d, copy in, arrays over views" % BATCH,
     _shm_path, lambda p: os.path.exists(p) and os.unlink(p), wom_batch_consumer,
     wom_batch_producer),
    ("multiprocessing.Queue", "pickled, through a pipe",
     lambda: mp.get_context("fork").Queue(bound_for(SIZE)), lambda q: q.close(),
     queue_consumer, queue_producer),
    ("os.pipe", "bytes written, read into an array",
     os.pipe, lambda fds: None, pipe_consumer, pipe_producer),
    ("zmq tcp PUSH/PULL", "copy in, copy out (1 MiB: frame buffer)",
     lambda: "tcp://127.0.0.1:*",
     lambda ep: None, zmq_consumer, zmq_producer),
]


def _child(consumer, ep, conn):
    gen = consumer(ep, lambda where=None: conn.send(("ready", where)))
    consume(gen, conn, warmup())
    gen.close()  # after consume's last array is gone: closes the transport


def sample(t, seconds):
    """One sample of transport t: (msgs/s, None) or (None, why)."""
    name, _, make, cleanup, consumer, producer = t
    ep = make()
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_child, args=(consumer, ep, child))
    p.start()
    try:
        if not parent.poll(30):
            return None, "consumer not ready after 30 s"
        r = parent.recv()
        if r[0] != "ready":
            return None, r[1]
        sent = producer(r[1] or ep, seconds)
        if not parent.poll(max(30, 10 * seconds)):
            return None, "consumer did not finish"
        r = parent.recv()
        if r[0] != "ok":
            return None, r[1]
        _, n, dt = r
        if n != sent:
            return None, "sent %d, received %d" % (sent, n)
        return n / dt, None
    finally:
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join()
        cleanup(ep)


def fmt_rate(x):
    if x >= 1e6:
        return "%6.2fM" % (x / 1e6)
    if x >= 1e3:
        return "%6.1fk" % (x / 1e3)
    return "%7.0f" % x


def main():
    global SIZE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", type=float, default=0.5, help="seconds of sending per sample")
    ap.add_argument("--runs", type=int, default=5, help="samples per row")
    ap.add_argument("--sizes", default="64,1048576", help="message sizes in bytes (multiples of 8)")
    ap.add_argument("--only", default=None, help="only the transports whose name has this")
    ap.add_argument("--results", default=None, metavar="FILE",
                    help="append each row to FILE as TSV, scope python (bench/README.md)")
    o = ap.parse_args()
    sizes = [int(x) for x in o.sizes.split(",")]
    if any(s < 16 or s % 8 for s in sizes) or o.runs < 1 or o.time <= 0:
        ap.error("sizes must be multiples of 8 of at least 16; --runs >= 1; --time > 0")
    zver = "pyzmq %s / libzmq %s" % (zmq.__version__, zmq.zmq_version()) if zmq else \
        "no pyzmq (python3-zmq)"
    print("\n==== Python process to Python process (%s %s, NumPy %s, %s) ====" % (
        sys.executable, sys.version.split()[0], np.__version__, zver))
    print("one producer process sends NumPy arrays, one consumer process receives each as an "
          "array\nand checks its sequence number; consumer-timed throughput in messages/s over "
          "%g s of sending\n(after a warm-up), %d samples per row; wom: %s\nthe consumer reads 16 bytes "
          "of each array: over a wom view the others are never touched, the\npeers copy all of "
          "them into the consumer first" % (o.time, o.runs, wom.library))
    medians, rows = {}, []
    for size in sizes:
        SIZE = size
        label = "%d B" % size if size < 1024 else "%g KiB" % (size / 1024) if size < 1 << 20 \
            else "%g MiB" % (size / (1 << 20))
        print("\n%-32s %-40s %8s %8s %8s %9s" % ("transport, " + label, "per message", "min",
                                                 "median", "max", "MB/s"))
        for t in TRANSPORTS:
            if o.only and o.only not in t[0]:
                continue
            if t[0].startswith("zmq") and zmq is None:
                print("%-32s %-40s %8s  skipped: python3-zmq is not installed" % (t[0], t[1], "-"))
                continue
            rates, why = [], None
            for _ in range(o.runs):
                r, why = sample(t, o.time)
                if r is None:
                    break
                rates.append(r)
            if why:
                print("%-32s %-40s %8s  FAILED: %s" % (t[0], t[1], "-", why))
                continue
            med = statistics.median(rates)
            medians[(size, t[0])] = med
            rows.append((t[0], size, med, min(rates), max(rates)))
            print("%-32s %-40s %8s %8s %8s %9.1f" % (t[0], t[1], fmt_rate(min(rates)),
                                                     fmt_rate(med), fmt_rate(max(rates)),
                                                     med * size / 1e6))
            sys.stdout.flush()
    print("\nratios, wom chan / peer (medians of throughput; > 1: wom is faster)")
    for size in sizes:
        for w in [t[0] for t in TRANSPORTS if t[0].startswith("wom")]:
            base = medians.get((size, w))
            if base is None:
                continue
            peers = ["vs %s %.2fx" % (t[0], base / medians[(size, t[0])]) for t in TRANSPORTS
                     if not t[0].startswith("wom") and (size, t[0]) in medians]
            print("  %7d B %-32s %s" % (size, w, ", ".join(peers) or "no peer measured"))
    if o.results:
        write_results(o.results, rows)
    return 0


def write_results(path, rows):
    """Append rows to path in wom_bench's TSV (bench/README.md, "Results as
    TSV and charts"), with its header when the file is new or empty. The
    section has no targets: its ratios are printed, not judged."""
    with open(path, "a") as f:
        if f.tell() == 0:
            f.write("#scope\tgroup\tname\tsize_bytes\tmetric\tvalue\tmin\tmax"
                    "\ttarget_ratio\ttarget_peer\n")
        for name, size, med, lo, hi in rows:
            f.write("python\tspsc\t%s\t%d\tmsg_per_s\t%.6g\t%.6g\t%.6g\t\t\n" %
                    (name, size, med, lo, hi))


SIZE = 64

if __name__ == "__main__":
    sys.exit(main())
