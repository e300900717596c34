"""The cells through the binding: the checks of the C conformance suite
(tests/engine_test.c) on mem: and shm:, plus what the binding adds (errors
as classes, views and loans as memoryviews, timeouts in seconds)."""
import pytest

import wom


# ---- errors ------------------------------------------------------------------

def test_one_class_per_code_from_the_library():
    names = {c.name for c in wom.CODES.values()}
    for n in ("WOM_EWRITTEN", "WOM_EEMPTY", "WOM_ETRIMMED", "WOM_ECONFLICT", "WOM_ENOBUFS",
              "WOM_ETIMEDOUT", "WOM_EMODE", "WOM_EMSGSIZE", "WOM_EUNAVAIL"):
        assert n in names
    codes = set()
    for code, cls in wom.CODES.items():
        assert issubclass(cls, wom.Error)
        assert cls.code == code < 0
        assert cls.name == wom.err_name(code)
        assert getattr(wom, cls.name[4:]) is cls
        assert wom.error_class(code) is cls
        e = cls()
        assert e.code == code and e.strerror == wom.strerror(code)
        assert cls.name in str(e) and e.strerror in str(e)
        codes.add(code)
    assert len(codes) == len(wom.CODES)
    assert wom.error_class(-424242) is wom.Error


def test_open_errors_say_which_and_why(shm_path):
    with pytest.raises(wom.EURI):
        wom.open("nope:")
    with pytest.raises(wom.EURI):
        wom.open("mem:;size=lots")
    with pytest.raises(wom.ENOENT) as e:
        wom.open("shm:/nonexistent-dir-of-wom/x")
    assert "/nonexistent-dir-of-wom/x" in str(e.value)
    with pytest.raises(TypeError):
        wom.open(b"mem:")
    with pytest.raises(ValueError):
        wom.open("mem:\0")


def test_bad_arguments_raise_python_errors(space):
    r = space.region("log")
    with pytest.raises(TypeError):
        r.put(0, "a str is not bytes")
    with pytest.raises(ValueError):
        r.get(0, timeout=-1)
    with pytest.raises(ValueError):
        r.put(-1, b"x")
    with pytest.raises(ValueError):
        r.put(1 << 64, b"x")
    with pytest.raises(ValueError):
        space.region("q", 3)  # not a mode
    r.close()
    with pytest.raises(ValueError):
        r.put(0, b"x")  # a closed handle


# ---- ONCE cells --------------------------------------------------------------

def test_once_put_get(space):
    r = space.region("log")
    with pytest.raises(wom.EEMPTY):
        r.get(7, timeout=0)
    r.put(7, b"hello")
    assert r.get(7, timeout=0) == b"hello"
    with pytest.raises(wom.EWRITTEN) as e:
        r.put(7, b"other")
    assert e.value.value == b"hello"  # the winner, handed back
    assert r.get(7, timeout=None) == b"hello"  # written: no wait
    small = bytearray(2)
    with pytest.raises(wom.ENOBUFS) as e:
        r.get_into(7, small, timeout=0)
    assert e.value.needed == 5
    buf = bytearray(16)
    assert r.get_into(7, buf, timeout=0) == 5 and buf[:5] == b"hello"
    r.put(8, b"")  # empty values are values
    assert r.get(8, timeout=0) == b""
    assert r.tail == 9


def test_get_waits_in_seconds(space):
    r = space.region("log")
    with pytest.raises(wom.ETIMEDOUT):
        r.get(0, timeout=0.01)


def test_once_sparse_high_address(space):
    r = space.region("sparse")
    addrs = [0, 1 << 60, (1 << 64) - 1, (1 << 64) - 2, 1 << 33, 12345678901]
    for a in addrs:
        r.put(a, a.to_bytes(8, "little"))
    for a in addrs:
        assert int.from_bytes(r.get(a, timeout=0), "little") == a
    with pytest.raises(wom.EEMPTY):
        r.get((1 << 60) + 1, timeout=0)


def test_region_modes_and_names(space):
    a = space.region("x", wom.ONCE)
    b = space.region("x", wom.ONCE)
    with pytest.raises(wom.EMODE):
        space.region("x", wom.MANY)
    a.put(1, b"v")
    assert b.get(1, timeout=0) == b"v"  # two handles, one region
    with pytest.raises(wom.EMODE):
        a.store(1, b"v")
    with pytest.raises(wom.EMODE):
        a.load(1)
    m = space.region("y", wom.MANY)
    with pytest.raises(wom.EMODE):
        m.put(1, b"v")
    with pytest.raises(wom.EMODE):
        m.get(1, timeout=0)
    with pytest.raises(wom.EMODE):
        m.trim(1)
    with pytest.raises(wom.ENAMETOOLONG):
        space.region("a" * (wom.NAME_MAX + 1))
    with pytest.raises(wom.EINVAL):
        space.region("")
    names = [i.name for i in space.regions()]
    assert names[:2] == ["x", "y"]
    assert space.regions()[1].mode == wom.MANY


def test_value_size_limit(space):
    r = space.region("small", max_value=100)
    big = bytes(101)
    with pytest.raises(wom.EMSGSIZE):
        r.put(0, big)
    with pytest.raises(wom.EMSGSIZE):
        r.append(big)
    r.put(0, big[:100])
    info = r.info()
    assert info.max_value == 100 and info.tail == 1 and info.name == "small"
    with pytest.raises(wom.EMSGSIZE):
        space.region("huge", max_value=wom.MAX_VALUE_LIMIT + 1)


def test_append_and_trim(space):
    r = space.region("log")
    for i in range(5000):
        assert r.append(i.to_bytes(8, "little")) == i
    v = r.get_view(10, timeout=0)
    r.trim(3000)
    assert int.from_bytes(v.data, "little") == 10  # a view outlives the trim
    v.release()
    with pytest.raises(wom.ETRIMMED):
        r.get(10, timeout=0)
    with pytest.raises(wom.ETRIMMED):
        r.get(2999, timeout=None)
    with pytest.raises(wom.ETRIMMED):
        r.put(5, b"x" * 8)
    assert int.from_bytes(r.get(3000, timeout=0), "little") == 3000
    r.trim(100)  # lower: no-op
    assert r.get(4999, timeout=0)
    r.trim(10000)  # beyond the tail
    assert r.append(b"x") == 10000
    assert r.info().floor == 10000
    c = r.inspect(5)
    assert c.state == wom.CellState.TRIMMED


def test_append_at_the_end_of_the_address_space(space):
    r = space.region("end")
    r.put((1 << 64) - 2, b"x")
    assert r.tail == (1 << 64) - 1
    with pytest.raises(wom.ENOSPC):
        r.append(b"y")
    r.put((1 << 64) - 1, b"z")  # the last address can still be put
    q = space.region("trimmed")
    q.trim((1 << 64) - 1)
    with pytest.raises(wom.ENOSPC):
        q.append(b"y")
    with pytest.raises(wom.ETRIMMED):
        q.put(5, b"y")


def test_append_many_is_consecutive(space):
    r = space.region("log", max_value=64)
    r.append(b"first")
    assert r.append_many([b"a", bytearray(b"bb"), memoryview(b"ccc")]) == [1, 2, 3]
    assert [r.get(a, timeout=0) for a in (1, 2, 3)] == [b"a", b"bb", b"ccc"]
    assert r.append_many([]) == []
    with pytest.raises(wom.EMSGSIZE) as e:
        r.append_many([b"ok", bytes(65)])  # checked first: nothing appended
    assert e.value.done == 0
    assert r.tail == 4


def test_inspect(space):
    r = space.region("log")
    assert r.inspect(3).state == wom.CellState.EMPTY
    r.put(3, b"abc")
    c = r.inspect(3)
    assert c.state == wom.CellState.WRITTEN and c.len == 3 and c.version == 1


# ---- views -------------------------------------------------------------------

def test_view_is_read_only_zero_copy_and_released_by_with(space):
    r = space.region("log")
    r.put(0, b"hello")
    with r.get_view(0, timeout=0) as v:
        assert v.addr == 0 and len(v) == 5 and bytes(v) == b"hello"
        assert v.data.readonly
        with pytest.raises(TypeError):
            v.data[0] = 0
        # the memoryview is over the library's pointer, not a copy
        assert _address_of(v.data) == v._v.data
        assert space._pins == 1
    with pytest.raises(ValueError):
        v.data
    assert space._pins == 0
    v.release()  # again: nothing


def _address_of(mv):
    """The address of a buffer's first byte."""
    with wom._core._Borrow(mv) as b:
        return b.address()


def test_view_pinned_by_an_array_lives_as_long_as_it(space):
    np = pytest.importorskip("numpy")
    r = space.region("log")
    r.put(0, np.arange(4, dtype=np.int64))
    with r.get_view(0, timeout=0) as v:
        a = np.frombuffer(v.data, dtype=np.int64)
    assert space._pins == 1  # a still reads the value: not released yet
    assert list(a) == [0, 1, 2, 3]
    space.close()  # the library's space stays open for a...
    assert space.closed and space._deferred is not None
    assert list(a) == [0, 1, 2, 3]
    del a  # ...and closes with its last view
    assert space._pins == 0 and space._deferred is None


def test_get_views_stops_at_the_first_empty(space):
    r = space.region("log")
    for i in range(5):
        r.put(i, bytes([i]) * (i + 1))
    r.put(7, b"late")
    vs = r.get_views(1, 10)
    assert [v.addr for v in vs] == [1, 2, 3, 4]
    assert [bytes(v) for v in vs] == [bytes([i]) * (i + 1) for i in range(1, 5)]
    for v in vs:
        v.release()
    assert r.get_views(5, 10) == []
    assert space._pins == 0


# ---- loans -------------------------------------------------------------------

def test_loans_publish_in_place(small_space):
    s = small_space
    r = s.region("log", max_value=4096)
    m = s.region("regs", wom.MANY)
    with pytest.raises(wom.EMSGSIZE):
        r.loan(4097)
    with pytest.raises(wom.EMODE):
        m.loan(8)
    l = r.loan(5)
    assert len(l) == 5 and not l.data.readonly
    l.data[:] = b"hello"
    assert l.commit() == 0
    assert r.get(0, timeout=0) == b"hello"
    with pytest.raises(ValueError):
        l.commit()  # an ended loan
    l.abort()  # does nothing
    # A put that loses keeps the loan open for another address.
    l = r.loan(3)
    l.data[:] = b"abc"
    with pytest.raises(wom.EWRITTEN):
        l.commit(0)
    assert l.commit(7) == 7
    assert r.get(7, timeout=0) == b"abc"
    assert r.get(0, timeout=0) == b"hello"  # the first write stays
    # Closing the region aborts the loans still open.
    q = s.region("log", max_value=4096)
    l = q.loan(8)
    q.close()
    with pytest.raises(ValueError):
        l.commit()
    # Aborted loans give their memory back: 256 MiB through 64 MiB.
    for _ in range(65536):
        with r.loan(4096):
            pass


def test_loan_refuses_commit_while_an_array_writes_it(space):
    np = pytest.importorskip("numpy")
    r = space.region("log")
    with r.loan(16) as l:
        a = np.frombuffer(l.data, dtype=np.int64)
        a[:] = [7, 8]
        with pytest.raises(BufferError):
            l.commit()
        del a
        assert l.commit() == 0
    assert np.frombuffer(r.get(0, timeout=0), dtype=np.int64).tolist() == [7, 8]
    with r.loan(4) as l:
        part = l.data[1:3]  # a slice outlives data.release(): refused too
        with pytest.raises(BufferError):
            l.commit()
        del part
        l.data[:] = b"wxyz"
        l.commit(9)
    assert r.get(9, timeout=0) == b"wxyz"


# ---- MANY cells --------------------------------------------------------------

def test_many_store_load_cas(space):
    r = space.region("reg", wom.MANY)
    assert r.load(5) == (b"", 0)
    assert r.cas(5, 0, b"one") == 1
    with pytest.raises(wom.ECONFLICT):
        r.cas(5, 0, b"two")
    assert r.store(5, b"three") == 2
    assert r.load(5) == (b"three", 2)
    with pytest.raises(wom.ENOBUFS) as e:
        r.load_into(5, bytearray(2))
    assert e.value.needed == 5
    buf = bytearray(8)
    assert r.load_into(5, buf) == (5, 2) and buf[:5] == b"three"
    with pytest.raises(wom.ETIMEDOUT):
        r.wait(5, 2, timeout=0)
    r.wait(5, 1, timeout=0)
    with pytest.raises(wom.ETIMEDOUT):
        r.wait(5, 2, timeout=0.001)


def test_many_load_grows_past_its_first_buffer(space):
    r = space.region("reg", wom.MANY)
    big = bytes(range(256)) * 40
    r.store(0, big)
    assert r.load(0) == (big, 1)


def test_many_overwrite_reclaims(small_space):
    r = small_space.region("hot", wom.MANY)
    val = bytearray(4000)
    for i in range(20000):
        val[:8] = i.to_bytes(8, "little")
        r.store(i % 3, val)
    assert r.info().bytes < 32 << 20


def test_trim_bounded_space(small_space):
    # 256 MiB of values through a 64 MiB space, trimmed as it goes.
    r = small_space.region("log")
    val = bytearray(4096)
    for i in range(65536):
        val[:8] = i.to_bytes(8, "little")
        assert r.append(val) == i
        if i % 4096 == 4095:
            r.trim(i - 1000)
