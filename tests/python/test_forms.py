"""Channels, subscriptions, queue groups and NumPy arrays through the
binding, on mem: and shm:."""
import threading

import pytest

import wom

np = pytest.importorskip("numpy")


def _ptr(buf):
    with wom._core._Borrow(buf) as b:
        return b.address()


def test_channel_in_order_with_addresses(space):
    ch = space.channel("c")
    with ch.subscribe() as sub:
        with pytest.raises(wom.EEMPTY):
            sub.recv(timeout=0)
        with pytest.raises(wom.ETIMEDOUT):
            sub.recv(timeout=0.01)
        assert [ch.send(b"m%d" % i) for i in range(100)] == list(range(100))
        assert [sub.recv(timeout=0) for _ in range(50)] == [b"m%d" % i for i in range(50)]
        with sub.recv_view(timeout=0) as v:
            assert v.addr == 50 and bytes(v) == b"m50"
        buf = bytearray(2)
        with pytest.raises(wom.ENOBUFS) as e:
            sub.recv_into(buf, timeout=0)  # the cursor stays
        assert e.value.needed == 3 and sub.cursor == 51
        buf = bytearray(8)
        assert sub.recv_into(buf, timeout=0) == 3 and buf[:3] == b"m51"
        it = iter(sub)
        assert next(it) == b"m52"
    late = ch.subscribe(start=98)
    assert late.recv(timeout=0) == b"m98"
    assert ch.send_many([b"x", b"y"]) == [100, 101]
    assert [late.recv(timeout=0) for _ in range(3)] == [b"m99", b"x", b"y"]
    assert late.abandoned == 0


def test_recv_views_takes_what_is_written_in_one_call(space):
    ch = space.channel("c")
    sub = ch.subscribe()
    assert sub.recv_views(0) == []
    with pytest.raises(wom.EEMPTY):
        sub.recv_views(8, timeout=0)
    ch.send_many([b"%d" % i for i in range(5)])
    vs = sub.recv_views(3, timeout=0)
    assert [(v.addr, bytes(v)) for v in vs] == [(0, b"0"), (1, b"1"), (2, b"2")]
    for v in vs:
        v.release()
    vs = sub.recv_views(8, timeout=1)
    assert [bytes(v) for v in vs] == [b"3", b"4"] and sub.cursor == 5
    for v in vs:
        v.release()
    assert space._pins == 0


def test_recv_blocks_until_a_send(space):
    ch = space.channel("c")
    sub = ch.subscribe()
    got = []
    t = threading.Thread(target=lambda: got.append(sub.recv(timeout=10)))
    t.start()
    ch.send(b"wake")
    t.join()
    assert got == [b"wake"]


def test_bounded_channel_holds_senders_back(space):
    ch = space.channel("b", bound=4)
    sub = ch.subscribe(bounded=True)
    for i in range(4):
        ch.send(b"%d" % i, timeout=0)
    with pytest.raises(wom.ETIMEDOUT):
        ch.send(b"over", timeout=0)
    with pytest.raises(wom.ETIMEDOUT):
        ch.send(b"over", timeout=0.01)
    for i in range(4):
        assert sub.recv(timeout=0) == b"%d" % i
    ch.send(b"room", timeout=1)
    r = ch.readers()
    assert len(r) == 1 and r[0].state == wom.ReaderState.OPEN and r[0].bounded
    sub.close()
    assert ch.readers()[0].state == wom.ReaderState.CLOSED


def test_channel_loan_sends_without_a_copy(space):
    ch = space.channel("c", max_value=64)
    sub = ch.subscribe()
    with ch.loan(6) as l:
        l.data[:] = b"loaned"
        assert l.commit(timeout=0) == 0
    with ch.loan(3):
        pass  # aborted: nothing sent
    ch.send(b"after")
    assert sub.recv(timeout=0) == b"loaned"
    assert sub.recv(timeout=0) == b"after"
    with pytest.raises(wom.EMSGSIZE):
        ch.loan(65)


def test_channel_options_and_names(space):
    with pytest.raises(wom.ENAMETOOLONG):
        space.channel("n" * wom.NAME_MAX)  # plus ".seats" does not fit
    ch = space.channel("r", retain=16)
    for i in range(1000):
        ch.send(b"%d" % i)
    sub = ch.subscribe()
    first = sub.recv(timeout=0)
    assert int(first) >= 1000 - 16 * 9 // 8 - 1  # skipped to what is kept


def test_queue_group_each_message_to_exactly_one_member(space):
    ch = space.channel("jobs")
    a, b = ch.join("workers"), ch.join("workers")
    n = 200
    for i in range(n):
        ch.send(b"%d" % i)
    got = {a: [], b: []}
    m = a
    while True:
        try:
            got[m].append(int(m.take(timeout=0)))
        except wom.EEMPTY:
            if m is b:
                break
        m = b if m is a else a
    assert sorted(got[a] + got[b]) == list(range(n))
    assert got[a] and got[b]
    assert got[a] == sorted(got[a]) and got[b] == sorted(got[b])
    c = ch.join("workers")  # joins at the claims tail
    with pytest.raises(wom.EEMPTY):
        c.take(timeout=0)
    ch.send(bytes(10000))  # larger than the member's first buffer
    assert c.take(timeout=0) == bytes(10000)
    ch.send(b"12345")
    small = bytearray(2)
    with pytest.raises(wom.ENOBUFS):
        a.take_into(small, timeout=0)
    assert a.take(timeout=0) == b"12345"  # the claim stayed a's
    a.leave()
    assert a.closed


def test_closing_the_space_closes_what_was_opened_from_it(uri):
    s = wom.open(uri)
    ch = s.channel("c")
    sub = ch.subscribe()
    q = ch.join("g")
    r = s.region("r")
    s.close()
    assert s.closed and ch.closed and sub.closed and q.closed and r.closed
    s.close()  # again: nothing


def test_numpy_array_sent_from_its_buffer_and_received_over_the_view(space):
    ch = space.channel("arrays", max_value=2 << 20)
    sub = ch.subscribe()
    a = np.arange(1 << 17, dtype=np.float64)  # 1 MiB
    assert _ptr(a) == a.ctypes.data  # the send reads the array's own bytes
    ch.send(a)
    with sub.recv_view(timeout=1) as v:
        b = np.frombuffer(v.data, dtype=np.float64)
        assert b.ctypes.data == v._v.data  # an array over the space, no copy
        assert not b.flags.writeable
        assert np.array_equal(a, b)
        del b
    # recv_into fills a preallocated array (one copy, by the library)
    out = np.empty_like(a)
    ch.send(a * 2)
    assert sub.recv_into(out, timeout=1) == a.nbytes
    assert np.array_equal(out, a * 2)


def test_non_contiguous_array_is_refused(space):
    ch = space.channel("c")
    a = np.arange(16, dtype=np.int32).reshape(4, 4)[:, 1]
    with pytest.raises(BufferError):
        ch.send(a)
    ch.send(np.ascontiguousarray(a))
    assert np.frombuffer(ch.subscribe().recv(timeout=0), dtype=np.int32).tolist() == \
        [1, 5, 9, 13]


def test_a_received_view_can_be_forwarded(space):
    src, dst = space.channel("src"), space.channel("dst")
    s1, s2 = src.subscribe(), dst.subscribe()
    src.send(b"forward me")
    with s1.recv_view(timeout=0) as v:
        dst.send(v.data)  # from the view's bytes: no copy in Python
    assert s2.recv(timeout=0) == b"forward me"


def test_etcd_uri_without_a_cluster_is_a_connection_error():
    if wom.etcd_library is None:
        with pytest.raises(wom.ENOTSUP):
            wom.open("etcd://127.0.0.1:1/p;timeout=100")
    else:
        with pytest.raises(wom.ENOTCONN):
            wom.open("etcd://127.0.0.1:1/p;timeout=100")


def test_register_over_a_log(space):
    g = space.register("reg")
    assert g.load() == (b"", 0)
    assert g.cas(0, b"one") == 1
    with pytest.raises(wom.ECONFLICT):
        g.cas(0, b"two")
    assert g.store(b"x" * 10000) == 2
    assert g.load() == (b"x" * 10000, 2)
    for i in range(300):  # the log is trimmed as it grows
        g.store(b"%d" % i)
    assert g.load() == (b"299", 302)


def test_ring_each_message_once(space):
    r = space.ring("ring", 4, max_value=64)
    for i in range(4):
        r.send(b"%d" % i, timeout=0)
    with pytest.raises(wom.ETIMEDOUT):
        r.send(b"full", timeout=0)
    with pytest.raises(wom.EMSGSIZE):
        r.send(bytes(65), timeout=0)
    assert [r.recv(timeout=0) for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    with pytest.raises(wom.EEMPTY):
        r.recv(timeout=0)
    with pytest.raises(wom.EINVAL):
        space.ring("ring", 8)  # another shape


def test_consensus_and_broadcast(space):
    a, b = space.consensus("c"), space.consensus("c")
    with pytest.raises(wom.EEMPTY):
        b.read(timeout=0)
    assert a.propose(b"first", timeout=1) == b"first"
    assert b.propose(b"second", timeout=1) == b"first"  # agreement
    assert b.read(timeout=0) == b"first"
    x, y = space.broadcast("ab"), space.broadcast("ab")
    i = x.send(b"hello")
    j = y.send(b"world")
    assert i != j
    got = [x.recv(timeout=1), x.recv(timeout=1)]
    assert got == [y.recv(timeout=1), y.recv(timeout=1)]  # the same order
    assert sorted(got) == [b"hello", b"world"] and x.cursor == 2
