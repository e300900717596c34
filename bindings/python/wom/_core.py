"""Spaces, regions, views, loans, channels, subscriptions and queue groups.

Each class wraps one handle of include/wom.h and is closed by ``close()`` or
by leaving its ``with`` block; a space closes the handles opened from it
that are still open when it closes. Handles are not meant to be shared
across ``fork()``: open them in the process that uses them.

Buffers: every call that takes a value accepts ``bytes`` or any object with a
C-contiguous buffer (``bytearray``, ``memoryview``, a NumPy array, a
:class:`View`'s ``data``); its bytes are read in place by the library (no
copy on the Python side) and copied into the space, as the C API does.

Timeouts are seconds (``float``); ``None`` waits forever, ``0`` does not wait.
"""

import ctypes
import enum
import threading
import weakref
from collections import namedtuple

from . import _lib
from ._lib import lib, c_u64, c_size, c_vp
from .errors import raise_for, Error, EWRITTEN

__all__ = ["Mode", "ONCE", "MANY", "CellState", "ReaderState", "RegionInfo", "CellInfo",
           "ReaderInfo", "open", "Space", "Region", "View", "Loan", "Channel",
           "Subscription", "QueueMember", "Register", "Ring", "Consensus", "Broadcast",
           "MAX_VALUE_DEFAULT", "MAX_VALUE_LIMIT", "NAME_MAX"]

NAME_MAX = 63
MAX_VALUE_DEFAULT = 1 << 20
MAX_VALUE_LIMIT = 4 << 20


class Mode(enum.IntEnum):
    """A region's mode: ONCE cells are written once, MANY cells are registers."""
    ONCE = 1
    MANY = 2


ONCE = Mode.ONCE
MANY = Mode.MANY


class CellState(enum.IntEnum):
    """What one cell holds (wom_cell_state)."""
    EMPTY = 0
    CLAIMED = 1
    WRITTEN = 2
    ABANDONED = 3
    TRIMMED = 4


class ReaderState(enum.IntEnum):
    """What a channel's seat says of its subscriber (wom_reader_state)."""
    OPEN = 0
    DEAD = 1
    CLOSED = 2


RegionInfo = namedtuple("RegionInfo", "name mode tail floor bytes max_value")
RegionInfo.__doc__ = "A region's description (wom_region_info)."
CellInfo = namedtuple("CellInfo", "state len version pid")
CellInfo.__doc__ = "One cell's description (wom_cell_info)."
ReaderInfo = namedtuple("ReaderInfo", "seat state cursor bounded")
ReaderInfo.__doc__ = "One channel seat's description (wom_reader_info)."


# ---- helpers -----------------------------------------------------------------

def _ns(timeout):
    """Seconds (None = forever) to the API's nanoseconds (< 0 = forever)."""
    if timeout is None:
        return -1
    t = float(timeout)
    if t != t or t < 0:
        raise ValueError("timeout must be None (wait forever) or >= 0 seconds, not %r"
                         % (timeout,))
    if t == 0:
        return 0
    return max(1, min(int(t * 1e9), (1 << 63) - 1))


def _name(name):
    if not isinstance(name, str):
        raise TypeError("a name must be a str, not %s" % type(name).__name__)
    b = name.encode()
    if b"\0" in b:
        raise ValueError("a name cannot contain a NUL character: %r" % name)
    return b


def _addr(a):
    a = int(a)
    if a < 0 or a >= 1 << 64:
        raise ValueError("an address is 0 .. 2**64-1, not %d" % a)
    return a


class _PyBuffer(ctypes.Structure):
    # Py_buffer (Include/pybuffer.h), stable since Python 3.3.
    _fields_ = [("buf", c_vp), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int),
                ("ndim", ctypes.c_int), ("format", ctypes.c_char_p),
                ("shape", c_vp), ("strides", c_vp), ("suboffsets", c_vp),
                ("internal", c_vp)]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
_release_buffer.restype = None
_PyBUF_SIMPLE = 0
_PyBUF_WRITABLE = 1


class _Borrow:
    """The address and size of an object's bytes, borrowed for one call.

    ``bytes`` are passed as they are (ctypes passes their own buffer); a
    writable buffer (bytearray, NumPy array, a loan) through a memoryview and
    ``c_char.from_buffer``; any other (read-only) buffer is asked for a simple
    (C-contiguous, byte) view through PyObject_GetBuffer, released on exit.
    A non-contiguous NumPy array raises BufferError; a str raises TypeError.
    ``ptr`` is what to pass as a ``void *`` argument (bytes or an int).
    """
    __slots__ = ("obj", "pb", "ptr", "len", "keep")

    def __init__(self, obj, writable=False):
        self.obj = obj
        self.pb = None
        self.keep = None
        if type(obj) is bytes and not writable:
            self.ptr = obj
            self.len = len(obj)
            return
        if isinstance(obj, str):
            raise TypeError("wom sends bytes: encode the str first (s.encode())")
        try:
            m = memoryview(obj)
        except TypeError:
            raise TypeError("wom needs bytes or an object with a buffer, not %s"
                            % type(obj).__name__) from None
        if not m.readonly and m.c_contiguous and m.nbytes:
            self.keep = ctypes.c_char.from_buffer(m)
            self.ptr = ctypes.addressof(self.keep)
            self.len = m.nbytes
            return
        if writable and m.readonly:
            raise BufferError("wom needs a writable buffer here, not a read-only %s"
                              % type(obj).__name__)
        pb = _PyBuffer()
        try:
            _get_buffer(obj, ctypes.byref(pb), _PyBUF_WRITABLE if writable else _PyBUF_SIMPLE)
        except (ValueError, BufferError) as e:
            raise BufferError("wom needs a C-contiguous%s buffer: %s (numpy.ascontiguousarray "
                              "makes one)" % (" writable" if writable else "", e)) from None
        self.pb = pb
        self.ptr = pb.buf
        self.len = pb.len

    def address(self):
        """ptr as an int (for a wom_iov)."""
        if type(self.ptr) is bytes:
            return ctypes.cast(ctypes.c_char_p(self.ptr), c_vp).value
        return self.ptr

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.keep = None
        if self.pb is not None:
            _release_buffer(ctypes.byref(self.pb))
            self.pb = None


def _iovs(bufs):
    """A wom_iov array over a list of buffers, and the borrows to release."""
    borrows = [_Borrow(b) for b in bufs]
    iov = (_lib.Iov * max(1, len(borrows)))()
    for i, b in enumerate(borrows):
        iov[i].data = b.address()
        iov[i].len = b.len
    return iov, borrows


def _release_all(borrows):
    for b in borrows:
        b.__exit__()


# A byte array type as large as any value, from which memoryviews of any
# length are sliced (one type, not one per length).
_Huge = ctypes.c_char * (1 << 40)


def _memory(ptr, n, readonly):
    """A memoryview of n bytes at ptr, and the ctypes object that exports it
    (alive as long as any memoryview or array made from it)."""
    arr = _Huge.from_address(ptr or 1)
    m = memoryview(arr).cast("B")[:n]
    if readonly:
        m = m.toreadonly()
    return m, arr


class _Pinned(_Huge):
    """The exporter of a View's bytes: it releases the library's view when
    it goes, i.e. when the last memoryview or array made from it does."""

    def __del__(self):
        v = self.__dict__.pop("v", None)
        if v is not None:
            lib.wom_view_release(ctypes.byref(v))
            self.space._unpin()


class _Handle:
    """A C handle with an owner that closes it when the owner closes."""

    _closer = None

    def __init__(self, h, owner):
        self._h = h
        self._owner = owner
        self._children = {}
        if owner is not None:
            owner._children[id(self)] = self

    def _handle(self):
        if self._h is None:
            raise ValueError("%s is closed" % type(self).__name__)
        return self._h

    @property
    def closed(self):
        """True once closed."""
        return self._h is None

    def close(self):
        """Close the handle (and every handle opened from it). Idempotent."""
        if self._h is None:
            return
        for c in list(self._children.values()):
            c.close()
        h, self._h = self._h, None
        self._free(h)
        if self._owner is not None:
            self._owner._children.pop(id(self), None)

    def _free(self, h):
        getattr(lib, self._closer)(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- views and loans ---------------------------------------------------------

class View:
    """A zero-copy, read-only view of a written value (wom_view).

    ``data`` is a read-only ``memoryview`` of the value's bytes inside the
    space; ``addr`` is its address. Release the view with ``release()`` or by
    leaving its ``with`` block; ``data`` is then released too. The bytes stay
    valid (even if the address is trimmed) until the view is released::

        with sub.recv_view() as v:
            a = numpy.frombuffer(v.data, dtype=numpy.float64)   # no copy
            total += a.sum()

    An array or memoryview still made from ``data`` when the view is released
    keeps the value pinned (valid) until that array is gone: the library's
    view is released when the last of them is, never earlier (and a space
    closed meanwhile is closed in the library only then).
    """

    __slots__ = ("_v", "_mv", "addr", "_space", "__weakref__")

    def __init__(self, space, v, addr):
        self._v = v
        self._space = space
        self.addr = addr
        arr = _Pinned.from_address(v.data or 1)
        arr.v = v
        arr.space = space
        space._pin()
        self._mv = memoryview(arr).cast("B")[:v.len].toreadonly()

    @property
    def data(self):
        """The value's bytes (read-only memoryview)."""
        if self._mv is None:
            raise ValueError("the view was released")
        return self._mv

    def __len__(self):
        return self.data.nbytes

    def __bytes__(self):
        return self.data.tobytes()

    def tobytes(self):
        """A copy of the value as bytes."""
        return self.data.tobytes()

    def release(self):
        """Release the view (idempotent); see the class comment for arrays."""
        mv, self._mv = self._mv, None
        if mv is not None:
            try:
                mv.release()
            except BufferError:
                pass  # an array holds it: released with the array

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return "<wom.View addr=%d len=%d%s>" % (
            self.addr, self._v.len, "" if self._mv is not None else " released")


class Loan:
    """Room for one value inside the space, written in place (wom_loan).

    ``data`` is a writable ``memoryview`` of ``len(loan)`` bytes. Fill it,
    then ``commit()`` publishes it without a copy (a channel loan is sent, a
    region loan appended, or put at ``addr``); ``abort()`` gives it back.
    Leaving a ``with`` block without a commit aborts it, and so does closing
    the region or channel it came from. Before a commit, every array or
    memoryview made from ``data`` must be gone (the bytes are final from then
    on, and may be mapped read-only): BufferError otherwise.
    """

    def __init__(self, l, region=None, chan=None):
        self._l = l
        self._region = region
        self._chan = chan
        self._owner = region if region is not None else chan
        self._owner._children[id(self)] = self  # aborted when the owner closes
        self._mv, arr = _memory(l.data, l.len, False)
        self._arr = weakref.ref(arr)
        self._open = True

    @property
    def data(self):
        """The loan's bytes (writable memoryview)."""
        if self._mv is None:
            raise ValueError("the loan is committed or aborted")
        return self._mv

    def __len__(self):
        return self._l.len

    def _seal(self):
        """Drop every Python reference to the bytes, or raise BufferError."""
        if not self._open:
            raise ValueError("the loan is committed or aborted")
        if self._mv is not None:
            self._mv.release()  # BufferError while an array is made from it
            self._mv = None
        if self._arr() is not None:
            self._mv, arr = _memory(self._l.data, self._l.len, False)
            self._arr = weakref.ref(arr)
            raise BufferError("a memoryview or array made from the loan's data is still "
                              "alive; drop it before the commit")

    def commit(self, addr=None, timeout=None):
        """Publish the value and return its address.

        A channel loan is sent (``timeout``: wait for room in a bounded
        channel). A region loan is put at ``addr``, or appended when ``addr``
        is None; on EWRITTEN/ETRIMMED it stays open for another address.
        """
        self._seal()
        a = c_u64()
        if self._chan is not None:
            rc = lib.wom_chan_send_loan(self._chan._handle(), ctypes.byref(self._l),
                                        _ns(timeout), ctypes.byref(a))
        elif addr is None:
            rc = lib.wom_loan_append(ctypes.byref(self._l), ctypes.byref(a))
        else:
            a.value = _addr(addr)
            rc = lib.wom_loan_put(ctypes.byref(self._l), a.value)
        if rc:
            raise_for(rc)
        self._end()
        return a.value

    def _end(self):
        self._open = False
        self._owner._children.pop(id(self), None)

    def close(self):
        """Abort the loan if it is still open (as its owner closes)."""
        self.abort()

    def abort(self):
        """Give the loan back unpublished (does nothing once it ended)."""
        if self._open:
            if self._mv is not None:
                try:
                    self._mv.release()
                except BufferError:
                    pass
                self._mv = None
            lib.wom_loan_cancel(ctypes.byref(self._l))
            self._end()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.abort()


# ---- spaces ------------------------------------------------------------------

def open(uri):
    """Open a space (wom_open): ``"mem:"``, ``"shm:PATH[;options]"``, or
    ``"etcd://H:P,.../PREFIX"`` where the library has that scope. Returns a
    :class:`Space`; use it in a ``with`` block or close it."""
    return Space(uri)


class Space(_Handle):
    """A wom space (wom_space). ``Space(uri)`` is :func:`wom.open`."""

    def __init__(self, uri):
        if not isinstance(uri, str):
            raise TypeError("a URI must be a str")
        h = c_vp()
        rc = lib.wom_open(_name(uri), ctypes.byref(h))
        if rc:
            why = lib.wom_last_error().decode()
            raise_for(rc, "%s%s" % (uri, ": " + why if why else ""))
        self.uri = uri
        self._pins = 0  # views not released yet
        self._deferred = None  # the handle, closed but for views still pinned
        self._lock = threading.Lock()
        super().__init__(h.value, None)

    def close(self):
        """Close the space and every region, channel, subscription and queue
        member opened from it. While arrays or memoryviews made from a
        View's data are still alive, the library's space stays open (their
        bytes stay valid) and is closed when the last of them goes."""
        super().close()

    def _free(self, h):
        with self._lock:
            if self._pins:
                self._deferred = h
                return
        lib.wom_close(h)

    def _pin(self):
        with self._lock:
            self._pins += 1

    def _unpin(self):
        with self._lock:
            self._pins -= 1
            h = None
            if self._pins == 0 and self._deferred is not None:
                h, self._deferred = self._deferred, None
        if h is not None:
            lib.wom_close(h)

    def sync(self):
        """Make everything written so far durable (wom_sync)."""
        rc = lib.wom_sync(self._handle())
        if rc:
            raise_for(rc)

    @property
    def holder(self):
        """This process's holder token in the space (0: cannot tell)."""
        return lib.wom_holder(self._handle())

    def holder_alive(self, token):
        """True while the process behind token lives (wom_holder_alive)."""
        return bool(lib.wom_holder_alive(self._handle(), int(token)))

    def region(self, name, mode=ONCE, max_value=0):
        """Open region ``name``, creating it with ``mode`` (and ``max_value``,
        bytes; 0 = 1 MiB) if absent. Returns a :class:`Region`."""
        return Region(self, name, mode, max_value)

    def regions(self):
        """The regions of the space, in creation order, as RegionInfo."""
        out = []

        def fn(info, arg):
            out.append(_region_info(info.contents))
            return 0
        rc = lib.wom_regions(self._handle(), _lib.REGION_FN(fn), None)
        if rc:
            raise_for(rc)
        return out

    def channel(self, name, bound=0, max_value=0, retain=0, retain_bytes=0,
                retain_seconds=None):
        """Open channel ``name`` (created if absent; the first opener fixes
        ``bound`` and ``max_value``). ``bound``: senders wait while a bounded
        subscriber is that many messages behind (0 = unbounded). Retention
        (per handle, 0/None = none): keep the last ``retain`` messages, about
        ``retain_bytes`` bytes, messages younger than ``retain_seconds``."""
        return Channel(self, name, bound, max_value, retain, retain_bytes, retain_seconds)

    def register(self, name):
        """Register ``name``: a MANY-cell contract over a ONCE log (wom_reg)."""
        return Register(self, name)

    def ring(self, name, slots, max_value=0):
        """Ring ``name`` of ``slots`` reused MANY slots (wom_ring)."""
        return Ring(self, name, slots, max_value)

    def consensus(self, name):
        """Consensus object ``name`` (wom_cons)."""
        return Consensus(self, name)

    def broadcast(self, name):
        """Atomic broadcast ``name``: a sender and receiver cursor (wom_abcast)."""
        return Broadcast(self, name)

    def __repr__(self):
        return "<wom.Space %r%s>" % (self.uri, " closed" if self.closed else "")


def _region_info(i):
    return RegionInfo(i.name.decode(errors="replace"), Mode(i.mode), i.tail, i.floor,
                      i.bytes, i.max_value)


# ---- regions -----------------------------------------------------------------

class Region(_Handle):
    """A region of a space (wom_region): ONCE cells (put/get/append/trim) or
    MANY cells (store/load/cas/wait)."""

    _closer = "wom_region_close"

    def __init__(self, space, name, mode=ONCE, max_value=0):
        mode = Mode(mode)
        o = _lib.RegionOpts(int(max_value))
        h = c_vp()
        rc = lib.wom_region_open_opts(space._handle(), _name(name), int(mode), ctypes.byref(o),
                                      ctypes.byref(h))
        if rc:
            raise_for(rc, "region %r" % name)
        self.name = name
        self.space = space
        super().__init__(h.value, space)

    def __repr__(self):
        return "<wom.Region %r%s>" % (self.name, " closed" if self.closed else "")

    def info(self):
        """The region's RegionInfo (name, mode, tail, floor, bytes, max_value)."""
        i = _lib.RegionInfo()
        rc = lib.wom_region_info_get(self._handle(), ctypes.byref(i))
        if rc:
            raise_for(rc)
        return _region_info(i)

    # ONCE cells

    def put(self, addr, value):
        """Write cell ``addr`` once. EWRITTEN when another write won: the
        exception's ``value`` then holds the winner's bytes."""
        with _Borrow(value) as b:
            rc = lib.wom_put(self._handle(), _addr(addr), b.ptr, b.len)
        if rc:
            if rc == EWRITTEN.code:
                e = EWRITTEN()
                try:
                    e.value = self.get(addr, timeout=0)
                except Error:
                    e.value = None
                raise e
            raise_for(rc)

    def get(self, addr, timeout=None):
        """The value of cell ``addr`` as bytes, waiting up to ``timeout``
        seconds for it to be written (EEMPTY at once for 0, ETIMEDOUT)."""
        with self.get_view(addr, timeout) as v:
            return ctypes.string_at(v._v.data, v._v.len)

    def get_into(self, addr, buffer, timeout=None):
        """Copy the value of ``addr`` into a writable buffer (e.g. a NumPy
        array) and return its size; ENOBUFS (with ``needed``) if too small."""
        n = c_size()
        with _Borrow(buffer, writable=True) as b:
            rc = lib.wom_get(self._handle(), _addr(addr), b.ptr, b.len, ctypes.byref(n),
                             _ns(timeout))
        if rc:
            _raise_nobufs(rc, n)
        return n.value

    def get_view(self, addr, timeout=None):
        """A zero-copy :class:`View` of cell ``addr`` (waits as :meth:`get`)."""
        v = _lib.View()
        rc = lib.wom_get_view(self._handle(), _addr(addr), ctypes.byref(v), _ns(timeout))
        if rc:
            raise_for(rc)
        return View(self.space, v, addr)

    def get_views(self, addr, max):
        """Views of addr, addr+1, ... already written, up to ``max`` (never
        waits; stops at the first cell without a value; may be [])."""
        if max <= 0:
            return []
        vs = (_lib.View * max)()
        got = c_size()
        rc = lib.wom_get_views(self._handle(), _addr(addr), vs, max, ctypes.byref(got))
        if rc:
            raise_for(rc)
        out = []
        for i in range(got.value):
            v = _lib.View.from_buffer_copy(vs[i])
            out.append(View(self.space, v, addr + i))
        return out

    def append(self, value):
        """Write the next free address and return it."""
        a = c_u64()
        with _Borrow(value) as b:
            rc = lib.wom_append(self._handle(), b.ptr, b.len, ctypes.byref(a))
        if rc:
            raise_for(rc)
        return a.value

    def append_many(self, values):
        """Append a list of values in one call; returns their addresses.
        On an error, the exception's ``done`` is how many were appended."""
        values = list(values)
        n = len(values)
        addrs = (c_u64 * max(1, n))()
        done = c_size()
        iov, borrows = _iovs(values)
        try:
            rc = lib.wom_append_many(self._handle(), iov, n, addrs, ctypes.byref(done))
        finally:
            _release_all(borrows)
        if rc:
            _raise_done(rc, done.value, addrs)
        return list(addrs[:n])

    def loan(self, size):
        """Lend ``size`` bytes of the region for a zero-copy write: a
        :class:`Loan` (commit() appends, commit(addr) puts)."""
        l = _lib.Loan()
        rc = lib.wom_loan_new(self._handle(), int(size), ctypes.byref(l))
        if rc:
            raise_for(rc)
        return Loan(l, region=self)

    def inspect(self, addr):
        """What cell ``addr`` holds, as CellInfo(state, len, version, pid)."""
        c = _lib.CellInfo()
        rc = lib.wom_inspect(self._handle(), _addr(addr), ctypes.byref(c))
        if rc:
            raise_for(rc)
        return CellInfo(CellState(c.state), c.len, c.version, c.pid)

    @property
    def tail(self):
        """The next address append would try (ONCE)."""
        t = c_u64()
        rc = lib.wom_tail(self._handle(), ctypes.byref(t))
        if rc:
            raise_for(rc)
        return t.value

    def trim(self, below):
        """Release every cell below ``below`` (the floor only rises)."""
        rc = lib.wom_trim(self._handle(), _addr(below))
        if rc:
            raise_for(rc)

    # MANY cells

    def store(self, addr, value):
        """Store ``value`` at ``addr``; returns the new version."""
        ver = c_u64()
        with _Borrow(value) as b:
            rc = lib.wom_store(self._handle(), _addr(addr), b.ptr, b.len, ctypes.byref(ver))
        if rc:
            raise_for(rc)
        return ver.value

    def load(self, addr):
        """The value at ``addr`` and its version, as (bytes, version); a
        never-stored cell is (b"", 0)."""
        cap = 256
        while True:
            buf = ctypes.create_string_buffer(cap)
            n, ver = c_size(), c_u64()
            rc = lib.wom_load(self._handle(), _addr(addr), buf, cap, ctypes.byref(n),
                              ctypes.byref(ver))
            if rc == 0:
                return buf.raw[:n.value], ver.value
            if rc != _ENOBUFS:
                raise_for(rc)
            cap = max(n.value, cap * 2)  # it may have grown meanwhile

    def load_into(self, addr, buffer):
        """Load into a writable buffer; returns (size, version)."""
        n, ver = c_size(), c_u64()
        with _Borrow(buffer, writable=True) as b:
            rc = lib.wom_load(self._handle(), _addr(addr), b.ptr, b.len, ctypes.byref(n),
                              ctypes.byref(ver))
        if rc:
            _raise_nobufs(rc, n)
        return n.value, ver.value

    def cas(self, addr, expect, value):
        """Store only if the version is ``expect`` (else ECONFLICT); returns
        the new version."""
        ver = c_u64()
        with _Borrow(value) as b:
            rc = lib.wom_cas(self._handle(), _addr(addr), int(expect), b.ptr, b.len,
                             ctypes.byref(ver))
        if rc:
            raise_for(rc)
        return ver.value

    def wait(self, addr, version, timeout=None):
        """Block while the cell's version equals ``version`` (ETIMEDOUT)."""
        rc = lib.wom_wait(self._handle(), _addr(addr), int(version), _ns(timeout))
        if rc:
            raise_for(rc)


_ENOBUFS = -105


def _raise_nobufs(rc, n):
    try:
        raise_for(rc)
    except Error as e:
        if rc == _ENOBUFS:
            e.needed = n.value
        raise


def _raise_done(rc, done, addrs):
    try:
        raise_for(rc)
    except Error as e:
        e.done = done
        e.addrs = list(addrs[:done])
        raise


# ---- channels ----------------------------------------------------------------

class Channel(_Handle):
    """A channel (wom_chan): a ONCE region used as a log; many senders, many
    subscribers, each with its own cursor."""

    _closer = "wom_chan_close"

    def __init__(self, space, name, bound=0, max_value=0, retain=0, retain_bytes=0,
                 retain_seconds=None):
        o = _lib.ChanOpts(int(bound), int(max_value), int(retain), int(retain_bytes),
                          0 if not retain_seconds else _ns(retain_seconds))
        h = c_vp()
        rc = lib.wom_chan_open(space._handle(), _name(name), ctypes.byref(o), ctypes.byref(h))
        if rc:
            raise_for(rc, "channel %r" % name)
        self.name = name
        self.space = space
        super().__init__(h.value, space)

    def __repr__(self):
        return "<wom.Channel %r%s>" % (self.name, " closed" if self.closed else "")

    def send(self, value, timeout=None):
        """Send one message (bytes or any contiguous buffer, e.g. a NumPy
        array, read in place); returns its address. With a bound, waits up to
        ``timeout`` seconds for room (ETIMEDOUT)."""
        a = c_u64()
        with _Borrow(value) as b:
            rc = lib.wom_chan_send(self._handle(), b.ptr, b.len, _ns(timeout), ctypes.byref(a))
        if rc:
            raise_for(rc)
        return a.value

    def send_many(self, values, timeout=None):
        """Send a list of messages in one call, in order; returns their
        addresses. On an error the exception's ``done`` says how many went."""
        values = list(values)
        n = len(values)
        addrs = (c_u64 * max(1, n))()
        sent = c_size()
        iov, borrows = _iovs(values)
        try:
            rc = lib.wom_chan_send_many(self._handle(), iov, n, _ns(timeout), addrs,
                                        ctypes.byref(sent))
        finally:
            _release_all(borrows)
        if rc:
            _raise_done(rc, sent.value, addrs)
        return list(addrs[:n])

    def loan(self, size):
        """Lend ``size`` bytes of the channel's log: fill ``loan.data``, then
        ``loan.commit(timeout=...)`` sends it without a copy."""
        l = _lib.Loan()
        rc = lib.wom_chan_loan(self._handle(), int(size), ctypes.byref(l))
        if rc:
            raise_for(rc)
        return Loan(l, chan=self)

    def subscribe(self, start=0, bounded=True):
        """A :class:`Subscription` reading from address ``start``; a bounded
        one holds senders of a bounded channel back."""
        return Subscription(self, start, bounded)

    def join(self, group):
        """Join queue group ``group``: a :class:`QueueMember`; each message
        goes to exactly one member of the group."""
        return QueueMember(self, group)

    def readers(self):
        """The channel's seats, as ReaderInfo(seat, state, cursor, bounded)."""
        out = []

        def fn(info, arg):
            i = info.contents
            out.append(ReaderInfo(i.seat, ReaderState(i.state), i.cursor, bool(i.bounded)))
            return 0
        rc = lib.wom_chan_readers(self._handle(), _lib.READER_FN(fn), None)
        if rc:
            raise_for(rc)
        return out


class Subscription(_Handle):
    """A private cursor over a channel (wom_sub): one thread at a time.
    Iterating it receives messages (as bytes) forever."""

    _closer = "wom_sub_close"

    def __init__(self, chan, start=0, bounded=True):
        o = _lib.SubOpts(_addr(start), 1 if bounded else 0)
        h = c_vp()
        rc = lib.wom_sub_open(chan._handle(), ctypes.byref(o), ctypes.byref(h))
        if rc:
            raise_for(rc)
        self.channel = chan
        self._space = chan.space
        super().__init__(h.value, chan)

    def recv(self, timeout=None):
        """The next message as bytes (EEMPTY at once for timeout 0,
        ETIMEDOUT after ``timeout`` seconds)."""
        v = _lib.View()
        rc = lib.wom_sub_recv_view(self._handle(), ctypes.byref(v), None, _ns(timeout))
        if rc:
            raise_for(rc)
        try:
            return ctypes.string_at(v.data, v.len)
        finally:
            lib.wom_view_release(ctypes.byref(v))

    def recv_into(self, buffer, timeout=None):
        """Receive the next message into a writable buffer (e.g. a NumPy
        array); returns its size. ENOBUFS (``needed``) leaves the cursor."""
        n = c_size()
        with _Borrow(buffer, writable=True) as b:
            rc = lib.wom_sub_recv(self._handle(), b.ptr, b.len, ctypes.byref(n), None,
                                  _ns(timeout))
        if rc:
            _raise_nobufs(rc, n)
        return n.value

    def recv_view(self, timeout=None):
        """The next message as a zero-copy :class:`View` (release it)."""
        v = _lib.View()
        a = c_u64()
        rc = lib.wom_sub_recv_view(self._handle(), ctypes.byref(v), ctypes.byref(a),
                                   _ns(timeout))
        if rc:
            raise_for(rc)
        return View(self._space, v, a.value)

    def recv_views(self, max, timeout=None):
        """Up to ``max`` messages at once, as a list of :class:`View`: waits
        up to ``timeout`` seconds for the next one, then takes those after it
        that are written already (one cursor update for the lot). Release
        each view (or use each in a ``with`` block)."""
        if max <= 0:
            return []
        vs = (_lib.View * max)()
        addrs = (c_u64 * max)()
        got = c_size()
        rc = lib.wom_sub_recv_views(self._handle(), vs, max, ctypes.byref(got), addrs,
                                    _ns(timeout))
        if rc:
            raise_for(rc)
        return [View(self._space, _lib.View.from_buffer_copy(vs[i]), addrs[i])
                for i in range(got.value)]

    @property
    def cursor(self):
        """The address the next receive reads."""
        return lib.wom_sub_cursor(self._handle())

    @property
    def abandoned(self):
        """How many addresses were skipped because their writer died."""
        return lib.wom_sub_abandoned(self._handle())

    def __iter__(self):
        while True:
            yield self.recv()


class QueueMember(_Handle):
    """A member of a queue group (wom_queue): take() gets messages no other
    member of the group gets. One thread at a time."""

    _closer = "wom_queue_leave"

    def __init__(self, chan, group):
        h = c_vp()
        rc = lib.wom_queue_join(chan._handle(), _name(group), ctypes.byref(h))
        if rc:
            raise_for(rc, "group %r" % group)
        self.channel = chan
        self.group = group
        self._cap = 4096
        super().__init__(h.value, chan)

    def leave(self):
        """Leave the group (same as close())."""
        self.close()

    def take(self, timeout=None):
        """The next message no other member took, as bytes."""
        while True:
            buf = ctypes.create_string_buffer(self._cap)
            n = c_size()
            rc = lib.wom_queue_take(self._handle(), buf, self._cap, ctypes.byref(n), None,
                                    _ns(timeout))
            if rc == 0:
                return buf.raw[:n.value]
            if rc != _ENOBUFS:
                raise_for(rc)
            self._cap = max(n.value, self._cap)  # the claim stays ours: take again

    def take_into(self, buffer, timeout=None):
        """Take into a writable buffer; returns the size. On ENOBUFS the
        claim stays this member's: the next take returns that message."""
        n = c_size()
        with _Borrow(buffer, writable=True) as b:
            rc = lib.wom_queue_take(self._handle(), b.ptr, b.len, ctypes.byref(n), None,
                                    _ns(timeout))
        if rc:
            _raise_nobufs(rc, n)
        return n.value


# ---- the other forms: register, ring, consensus, atomic broadcast ---------

def _read_grow(call, cap=4096):
    """Call call(buf, cap, byref(n)) with a buffer grown on ENOBUFS (*n is
    the size needed); returns (bytes, rc of the last call)."""
    while True:
        buf = ctypes.create_string_buffer(cap)
        n = c_size()
        rc = call(buf, cap, ctypes.byref(n))
        if rc == 0:
            return buf.raw[:n.value]
        if rc != _ENOBUFS:
            raise_for(rc)
        cap = max(n.value, cap * 2)


def _open_named(opener, space, name):
    h = c_vp()
    rc = opener(space._handle(), _name(name), ctypes.byref(h))
    if rc:
        raise_for(rc, repr(name))
    return h.value


class Register(_Handle):
    """A register over a ONCE log (wom_reg): load/store/cas as one MANY cell,
    version v being log entry v-1."""

    _closer = "wom_reg_close"

    def __init__(self, space, name):
        self.name = name
        super().__init__(_open_named(lib.wom_reg_open, space, name), space)

    def store(self, value):
        """Store ``value``; returns the new version."""
        ver = c_u64()
        with _Borrow(value) as b:
            rc = lib.wom_reg_store(self._handle(), b.ptr, b.len, ctypes.byref(ver))
        if rc:
            raise_for(rc)
        return ver.value

    def load(self):
        """(bytes, version) of the latest value; (b"", 0) before any store."""
        ver = c_u64()
        h = self._handle()
        value = _read_grow(lambda buf, cap, n: lib.wom_reg_load(h, buf, cap, n,
                                                                  ctypes.byref(ver)))
        return value, ver.value

    def cas(self, expect, value):
        """Store only if the version is ``expect`` (else ECONFLICT)."""
        ver = c_u64()
        with _Borrow(value) as b:
            rc = lib.wom_reg_cas(self._handle(), int(expect), b.ptr, b.len, ctypes.byref(ver))
        if rc:
            raise_for(rc)
        return ver.value


class Ring(_Handle):
    """A bounded MPMC queue over reused MANY slots (wom_ring): each message
    is received once."""

    _closer = "wom_ring_close"

    def __init__(self, space, name, slots, max_value=0):
        h = c_vp()
        rc = lib.wom_ring_open(space._handle(), _name(name), int(slots), int(max_value),
                               ctypes.byref(h))
        if rc:
            raise_for(rc, repr(name))
        self.name = name
        super().__init__(h.value, space)

    def send(self, value, timeout=None):
        """Send, waiting up to ``timeout`` seconds while the ring is full."""
        with _Borrow(value) as b:
            rc = lib.wom_ring_send(self._handle(), b.ptr, b.len, _ns(timeout))
        if rc:
            raise_for(rc)

    def recv(self, timeout=None):
        """The next message as bytes (EEMPTY at once for timeout 0)."""
        h, t = self._handle(), _ns(timeout)
        return _read_grow(lambda buf, cap, n: lib.wom_ring_recv(h, buf, cap, n, t))


class Consensus(_Handle):
    """A consensus object (wom_cons): every proposer and reader gets the
    same decision, some proposer's value."""

    _closer = "wom_cons_close"

    def __init__(self, space, name):
        self.name = name
        super().__init__(_open_named(lib.wom_cons_open, space, name), space)

    def propose(self, value, timeout=None):
        """Propose ``value``; returns the decision (this value or another)."""
        h, t = self._handle(), _ns(timeout)
        with _Borrow(value) as b:
            buf = ctypes.create_string_buffer(max(4096, b.len))
            n = c_size()
            rc = lib.wom_cons_propose(h, b.ptr, b.len, buf, len(buf), ctypes.byref(n), t)
        if rc == 0:
            return buf.raw[:n.value]
        if rc != _ENOBUFS:
            raise_for(rc)
        return self.read(timeout=0)  # the proposal stands: read the decision

    def read(self, timeout=None):
        """The decision, without proposing (EEMPTY at once for timeout 0)."""
        h, t = self._handle(), _ns(timeout)
        return _read_grow(lambda buf, cap, n: lib.wom_cons_read(h, buf, cap, n, t))


class Broadcast(_Handle):
    """Atomic broadcast (wom_abcast): every receiver delivers the same
    messages in the same order. A sender and a receiver cursor: one thread
    at a time."""

    _closer = "wom_abcast_close"

    def __init__(self, space, name):
        self.name = name
        super().__init__(_open_named(lib.wom_abcast_open, space, name), space)

    def send(self, value, timeout=0):
        """Broadcast ``value``; returns the instance that decided it.
        ``timeout`` bounds retries of a remote scope's errors."""
        idx = c_u64()
        with _Borrow(value) as b:
            rc = lib.wom_abcast_send(self._handle(), b.ptr, b.len, _ns(timeout),
                                     ctypes.byref(idx))
        if rc:
            raise_for(rc)
        return idx.value

    def recv(self, timeout=None):
        """The next delivered message as bytes."""
        h, t = self._handle(), _ns(timeout)
        return _read_grow(lambda buf, cap, n: lib.wom_abcast_recv(h, buf, cap, n, None, t))

    @property
    def cursor(self):
        """The instance the next receive reads."""
        return lib.wom_abcast_cursor(self._handle())
