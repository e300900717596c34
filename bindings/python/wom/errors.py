"""wom's errors as exceptions: one class per WOM_E* code.

The classes are generated from the library's own table (``wom_err_name`` and
``wom_strerror`` over the code ranges wom.h uses: -errno values and -3000...),
so a code added to the C table gets its class without a change here. Each is
named as in C without the ``WOM_`` prefix (``wom.EWRITTEN``, ``wom.ETIMEDOUT``)
and subclasses :class:`Error`, which carries ``.code`` (the negative int),
``.name`` (``"WOM_EWRITTEN"``) and ``.strerror`` (the library's message).
"""

from ._lib import lib

__all__ = ["Error", "error_class", "raise_for", "CODES"]


class Error(Exception):
    """A wom call failed. ``code`` is the negative WOM_E* value."""

    code = 0
    name = "WOM_E?"

    def __init__(self, message=None, code=None):
        if code is not None:
            self.code = code
        self.strerror = lib.wom_strerror(self.code).decode()
        if code is not None and type(self) is Error:
            self.name = lib.wom_err_name(self.code).decode()
        super().__init__(message or self.strerror)

    def __str__(self):
        return "%s: %s" % (self.name, self.args[0])


CODES = {}   # code -> class


def _probe():
    ranges = list(range(-1, -200, -1)) + list(range(-3000, -3100, -1))
    for code in ranges:
        name = lib.wom_err_name(code).decode()
        if name == "WOM_E?":
            continue
        short = name[4:] if name.startswith("WOM_") else name
        doc = "%s (%d): %s." % (name, code, lib.wom_strerror(code).decode())
        cls = type(short, (Error,), {"code": code, "name": name, "__doc__": doc,
                                     "__module__": "wom"})
        CODES[code] = cls
        globals()[short] = cls
        __all__.append(short)


_probe()


def error_class(code):
    """The exception class of a WOM_E* code (:class:`Error` for an unknown one)."""
    return CODES.get(code, Error)


def raise_for(code, context=None):
    """Raise the exception of a negative return code (message: the library's,
    then ``context`` when given)."""
    cls = CODES.get(code)
    msg = lib.wom_strerror(code).decode()
    if context:
        msg = "%s (%s)" % (msg, context)
    if cls is None:
        raise Error(msg, code=code)
    raise cls(msg)
