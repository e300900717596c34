"""wom: a write-once / write-many address space, from Python.

A thin binding, through ctypes, of the shared library libwom (include/wom.h):
spaces, regions of ONCE cells (put/get/append/trim) and MANY cells
(store/load/cas), zero-copy views and loans, channels, subscriptions,
queue groups, and the register, ring, consensus and broadcast forms. Errors are exceptions, one class per WOM_E* code, all
subclasses of :class:`wom.Error`. Timeouts are seconds (None = forever).

    import wom
    with wom.open("shm:/tmp/demo.wom") as s:
        ch = s.channel("jobs")
        ch.send(b"hello")
        with ch.subscribe() as sub:
            print(sub.recv(timeout=1.0))

The library is found as _lib.py says ($WOM_LIBRARY, the install prefix, the
dynamic linker's cache, the build tree); ``wom.library`` is the path loaded.
"""

from . import _lib
from .errors import *  # noqa: F401,F403 (Error and one class per code)
from .errors import Error, error_class, CODES
from ._core import *  # noqa: F401,F403
from ._core import (open, Space, Region, View, Loan, Channel, Subscription, QueueMember,
                    Register, Ring, Consensus, Broadcast)

library = _lib.path
"""The path (or soname) of the libwom that was loaded."""
etcd_library = _lib.etcd_path
"""The libwom_etcd loaded beside it (the etcd:// scope), or None."""


def strerror(code):
    """The library's message for a WOM_E* code."""
    return _lib.lib.wom_strerror(int(code)).decode()


def err_name(code):
    """The name of a WOM_E* code, e.g. "WOM_EWRITTEN"."""
    return _lib.lib.wom_err_name(int(code)).decode()


__version__ = "0.1.0"
