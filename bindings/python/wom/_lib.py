"""Finding and describing the shared library (ctypes only).

The library is looked for, in this order:

1. ``$WOM_LIBRARY``: a path to ``libwom.so.0`` (or ``libwom_etcd.so.0``);
2. the directory ``make install`` recorded in ``_config.py`` (written at
   install time, absent in the source tree);
3. the dynamic linker's cache (``ctypes.util.find_library("wom")``);
4. the build tree next to the source tree (``build/``), for tests.

Where a ``libwom_etcd.so.0`` sits beside ``libwom.so.0`` it is loaded first,
with ``RTLD_GLOBAL``, so that libwom's weak reference to the etcd:// scope
finds it (the same as a C program linked with ``pkg-config wom-etcd``);
without it ``etcd://`` URIs fail with :class:`wom.ENOTSUP`.
"""

import ctypes
import ctypes.util
import os

SONAME = "libwom.so.0"
ETCD_SONAME = "libwom_etcd.so.0"

c_u64 = ctypes.c_uint64
c_i64 = ctypes.c_int64
c_size = ctypes.c_size_t
c_vp = ctypes.c_void_p
c_int = ctypes.c_int
P = ctypes.POINTER


class View(ctypes.Structure):
    """wom_view."""
    _fields_ = [("data", c_vp), ("len", c_size), ("pin_", c_u64 * 2)]


class Loan(ctypes.Structure):
    """wom_loan."""
    _fields_ = [("data", c_vp), ("len", c_size), ("priv_", c_u64 * 2)]


class Iov(ctypes.Structure):
    """wom_iov."""
    _fields_ = [("data", c_vp), ("len", c_size)]


class RegionOpts(ctypes.Structure):
    """wom_region_opts."""
    _fields_ = [("max_value", c_size)]


class RegionInfo(ctypes.Structure):
    """wom_region_info."""
    _fields_ = [("name", ctypes.c_char * 64), ("mode", c_int), ("tail", c_u64),
                ("floor", c_u64), ("bytes", c_u64), ("max_value", c_size)]


class CellInfo(ctypes.Structure):
    """wom_cell_info."""
    _fields_ = [("state", c_int), ("len", c_size), ("version", c_u64), ("pid", c_i64)]


class ChanOpts(ctypes.Structure):
    """wom_chan_opts."""
    _fields_ = [("bound", c_u64), ("max_value", c_size), ("retain", c_u64),
                ("retain_bytes", c_u64), ("retain_ns", c_i64)]


class SubOpts(ctypes.Structure):
    """wom_sub_opts."""
    _fields_ = [("start", c_u64), ("bounded", c_int)]


class ReaderInfo(ctypes.Structure):
    """wom_reader_info."""
    _fields_ = [("seat", c_u64), ("state", c_int), ("cursor", c_u64), ("bounded", c_int)]


REGION_FN = ctypes.CFUNCTYPE(c_int, P(RegionInfo), c_vp)
READER_FN = ctypes.CFUNCTYPE(c_int, P(ReaderInfo), c_vp)

# name: (restype, argtypes). Handles are opaque pointers (c_void_p).
_PROTOS = {
    "wom_strerror": (ctypes.c_char_p, [c_int]),
    "wom_err_name": (ctypes.c_char_p, [c_int]),
    "wom_last_error": (ctypes.c_char_p, []),
    "wom_open": (c_int, [ctypes.c_char_p, P(c_vp)]),
    "wom_sync": (c_int, [c_vp]),
    "wom_close": (None, [c_vp]),
    "wom_holder": (c_u64, [c_vp]),
    "wom_holder_alive": (c_int, [c_vp, c_u64]),
    "wom_region_open_opts": (c_int, [c_vp, ctypes.c_char_p, c_int, P(RegionOpts), P(c_vp)]),
    "wom_region_close": (None, [c_vp]),
    "wom_region_info_get": (c_int, [c_vp, P(RegionInfo)]),
    "wom_regions": (c_int, [c_vp, REGION_FN, c_vp]),
    "wom_put": (c_int, [c_vp, c_u64, c_vp, c_size]),
    "wom_get": (c_int, [c_vp, c_u64, c_vp, c_size, P(c_size), c_i64]),
    "wom_get_view": (c_int, [c_vp, c_u64, P(View), c_i64]),
    "wom_view_release": (None, [P(View)]),
    "wom_get_views": (c_int, [c_vp, c_u64, P(View), c_size, P(c_size)]),
    "wom_append": (c_int, [c_vp, c_vp, c_size, P(c_u64)]),
    "wom_append_many": (c_int, [c_vp, P(Iov), c_size, P(c_u64), P(c_size)]),
    "wom_loan_new": (c_int, [c_vp, c_size, P(Loan)]),
    "wom_loan_put": (c_int, [P(Loan), c_u64]),
    "wom_loan_append": (c_int, [P(Loan), P(c_u64)]),
    "wom_loan_cancel": (None, [P(Loan)]),
    "wom_inspect": (c_int, [c_vp, c_u64, P(CellInfo)]),
    "wom_tail": (c_int, [c_vp, P(c_u64)]),
    "wom_trim": (c_int, [c_vp, c_u64]),
    "wom_store": (c_int, [c_vp, c_u64, c_vp, c_size, P(c_u64)]),
    "wom_load": (c_int, [c_vp, c_u64, c_vp, c_size, P(c_size), P(c_u64)]),
    "wom_cas": (c_int, [c_vp, c_u64, c_u64, c_vp, c_size, P(c_u64)]),
    "wom_wait": (c_int, [c_vp, c_u64, c_u64, c_i64]),
    "wom_chan_open": (c_int, [c_vp, ctypes.c_char_p, P(ChanOpts), P(c_vp)]),
    "wom_chan_close": (None, [c_vp]),
    "wom_chan_send": (c_int, [c_vp, c_vp, c_size, c_i64, P(c_u64)]),
    "wom_chan_send_many": (c_int, [c_vp, P(Iov), c_size, c_i64, P(c_u64), P(c_size)]),
    "wom_chan_loan": (c_int, [c_vp, c_size, P(Loan)]),
    "wom_chan_send_loan": (c_int, [c_vp, P(Loan), c_i64, P(c_u64)]),
    "wom_chan_readers": (c_int, [c_vp, READER_FN, c_vp]),
    "wom_sub_open": (c_int, [c_vp, P(SubOpts), P(c_vp)]),
    "wom_sub_close": (None, [c_vp]),
    "wom_sub_recv": (c_int, [c_vp, c_vp, c_size, P(c_size), P(c_u64), c_i64]),
    "wom_sub_recv_view": (c_int, [c_vp, P(View), P(c_u64), c_i64]),
    "wom_sub_recv_views": (c_int, [c_vp, P(View), c_size, P(c_size), P(c_u64), c_i64]),
    "wom_sub_cursor": (c_u64, [c_vp]),
    "wom_sub_abandoned": (c_u64, [c_vp]),
    "wom_queue_join": (c_int, [c_vp, ctypes.c_char_p, P(c_vp)]),
    "wom_queue_leave": (None, [c_vp]),
    "wom_queue_take": (c_int, [c_vp, c_vp, c_size, P(c_size), P(c_u64), c_i64]),
    "wom_reg_open": (c_int, [c_vp, ctypes.c_char_p, P(c_vp)]),
    "wom_reg_close": (None, [c_vp]),
    "wom_reg_store": (c_int, [c_vp, c_vp, c_size, P(c_u64)]),
    "wom_reg_load": (c_int, [c_vp, c_vp, c_size, P(c_size), P(c_u64)]),
    "wom_reg_cas": (c_int, [c_vp, c_u64, c_vp, c_size, P(c_u64)]),
    "wom_ring_open": (c_int, [c_vp, ctypes.c_char_p, c_u64, c_size, P(c_vp)]),
    "wom_ring_close": (None, [c_vp]),
    "wom_ring_send": (c_int, [c_vp, c_vp, c_size, c_i64]),
    "wom_ring_recv": (c_int, [c_vp, c_vp, c_size, P(c_size), c_i64]),
    "wom_cons_open": (c_int, [c_vp, ctypes.c_char_p, P(c_vp)]),
    "wom_cons_close": (None, [c_vp]),
    "wom_cons_propose": (c_int, [c_vp, c_vp, c_size, c_vp, c_size, P(c_size), c_i64]),
    "wom_cons_read": (c_int, [c_vp, c_vp, c_size, P(c_size), c_i64]),
    "wom_abcast_open": (c_int, [c_vp, ctypes.c_char_p, P(c_vp)]),
    "wom_abcast_close": (None, [c_vp]),
    "wom_abcast_send": (c_int, [c_vp, c_vp, c_size, c_i64, P(c_u64)]),
    "wom_abcast_recv": (c_int, [c_vp, c_vp, c_size, P(c_size), P(c_u64), c_i64]),
    "wom_abcast_cursor": (c_u64, [c_vp]),
}


def _config_libdir():
    try:
        from . import _config  # written by make install
    except ImportError:
        return None
    return getattr(_config, "LIBDIR", None)


def _build_tree_libdirs():
    # bindings/python/wom/_lib.py -> the source tree's root, then its build/.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    return [os.path.join(root, "build")]


def candidates():
    """The paths (or sonames) tried for libwom, in order, with their origin."""
    out = []
    env = os.environ.get("WOM_LIBRARY")
    if env:
        return [(env, "$WOM_LIBRARY")]
    d = _config_libdir()
    if d:
        out.append((os.path.join(d, SONAME), "the install prefix"))
    found = ctypes.util.find_library("wom")
    if found:
        out.append((found, "the dynamic linker's cache"))
    for d in _build_tree_libdirs():
        out.append((os.path.join(d, SONAME), "the build tree"))
    return out


def _load(path):
    """Load libwom from path, with libwom_etcd beside it first if present."""
    d = os.path.dirname(path)
    base = os.path.basename(path)
    if base.startswith("libwom_etcd"):
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        return ctypes.CDLL(os.path.join(d, SONAME)), path
    etcd = None
    e = os.path.join(d, ETCD_SONAME) if d else ETCD_SONAME
    try:
        ctypes.CDLL(e, mode=ctypes.RTLD_GLOBAL)
        etcd = e
    except OSError:
        pass
    return ctypes.CDLL(path), etcd


def load():
    """Load the library; returns (CDLL, path, etcd_path_or_None)."""
    tried = []
    for path, origin in candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append("%s (%s): not found" % (path, origin))
            continue
        try:
            lib, etcd = _load(path)
        except OSError as e:
            tried.append("%s (%s): %s" % (path, origin, e))
            continue
        for name, (res, args) in _PROTOS.items():
            f = getattr(lib, name)
            f.restype = res
            f.argtypes = args
        return lib, path, etcd
    raise ImportError("wom: cannot load the wom shared library (%s); install it "
                      "(make install) or set WOM_LIBRARY to the path of %s. Tried: %s"
                      % (SONAME, SONAME, "; ".join(tried) or "nothing"))


lib, path, etcd_path = load()
