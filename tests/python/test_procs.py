"""Python processes over a shm: space: the README's producer and consumer
(bindings/python/examples, shown verbatim in README.md's "Python"
section), several producers checked exactly-once and in order, and a queue
group across processes."""
import os
import struct
import subprocess
import sys

import pytest

import wom

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "bindings", "python", "examples")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "bindings", "python")
    env["WOM_LIBRARY"] = wom.library  # the library these tests loaded
    return env


def _start(*args):
    return subprocess.Popen([PYTHON] + list(args), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(p, timeout=120):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail("%s timed out; stderr: %s" % (p.args, err))
    assert p.returncode == 0, "%s exited %d: %s" % (p.args, p.returncode, err)
    return out


def test_readme_example_is_the_examples_verbatim():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    for name in ("producer.py", "consumer.py"):
        with open(os.path.join(EXAMPLES, name)) as f:
            assert f.read() in readme, "README.md's Python section differs from " + name


def test_readme_producer_and_consumer_processes(shm_path):
    pytest.importorskip("numpy")
    consumer = _start(os.path.join(EXAMPLES, "consumer.py"), shm_path)
    producer = _start(os.path.join(EXAMPLES, "producer.py"), shm_path)
    _finish(producer)
    assert _finish(consumer).strip() == "received 1000 arrays, in order"


def test_producer_processes_exactly_once_in_order(shm_path):
    n, k = 3000, 2
    with wom.open("shm:" + shm_path) as s:
        ch = s.channel("c", bound=128)
        with ch.subscribe() as sub:  # before the producers: it sees every message
            procs = [_start(os.path.join(HERE, "procs_helper.py"), "produce", shm_path,
                            str(i), str(n)) for i in range(k)]
            nxt = [0] * k
            for _ in range(n * k):
                ident, seq = struct.unpack("<II", sub.recv(timeout=30))
                assert seq == nxt[ident], "producer %d: got %d, expected %d" % (
                    ident, seq, nxt[ident])
                nxt[ident] += 1
            with pytest.raises(wom.EEMPTY):
                sub.recv(timeout=0)  # nothing more, nothing twice
            for p in procs:
                _finish(p)
    assert nxt == [n] * k


def test_queue_group_across_processes_exactly_once(shm_path):
    n, k = 2000, 2
    with wom.open("shm:" + shm_path) as s:
        ch = s.channel("q")
        procs = [_start(os.path.join(HERE, "procs_helper.py"), "work", shm_path, "g")
                 for _ in range(k)]
        for i in range(n):
            ch.send(struct.pack("<I", i))
        for _ in range(k):
            ch.send(b"")  # one end for each worker
        taken = [[int(x) for x in _finish(p).split()] for p in procs]
    every = sorted(x for t in taken for x in t)
    assert every == list(range(n))  # each message once, none lost
    for t in taken:
        assert t == sorted(t)  # each worker takes in log order
