"""pytest fixtures of the Python binding's tests (tests/python).

The package is imported from bindings/python in this tree (not an installed
copy); the library is $WOM_LIBRARY (scripts/test.sh sets it to the build
tree's libwom.so.0) or, without it, the build tree's build/ (wom/_lib.py).
The `uri` fixture runs a test on each scope: mem: and a fresh shm: file
under /dev/shm (or $TMPDIR), removed after the test.
"""
import os
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINDING = os.path.join(ROOT, "bindings", "python")
sys.path.insert(0, BINDING)

import wom  # noqa: E402


def _shm_dir():
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


@pytest.fixture
def shm_path():
    """A path for a fresh shm: space file, removed after the test."""
    fd, path = tempfile.mkstemp(prefix="wom-pytest-", suffix=".wom", dir=_shm_dir())
    os.close(fd)
    os.unlink(path)  # wom creates it (a file of ours, mode 0600)
    yield path
    if os.path.exists(path):
        os.unlink(path)


@pytest.fixture(params=["mem", "shm"])
def uri(request, shm_path):
    """A URI template for a fresh space on each scope: format with opts
    (e.g. ";size=64M") or use as it is."""
    if request.param == "mem":
        return "mem:"
    return "shm:" + shm_path


@pytest.fixture
def space(uri):
    """A fresh space on each scope, closed after the test."""
    with wom.open(uri) as s:
        yield s


@pytest.fixture
def small_space(uri):
    """A fresh 64 MiB space on each scope (for tests that must reclaim)."""
    with wom.open(uri + ";size=64M") as s:
        yield s


def pytest_report_header(config):
    return "wom library: %s (etcd scope: %s)" % (wom.library, wom.etcd_library or "no")
