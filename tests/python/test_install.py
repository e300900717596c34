"""make install's Python part, on the build tree scripts/test.sh names
($WOM_BUILD_DIR, else build/): installed under a temporary prefix, the
package imports with Debian's python3 from there, with $WOM_LIBRARY unset,
and loads the library installed beside it; installed for /usr/local (into
a DESTDIR), it lands in a directory on that python3's sys.path."""
import glob
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("WOM_BUILD_DIR") or os.path.join(ROOT, "build")
PYTHON = "/usr/bin/python3"


def _install(tmp_path, prefix, destdir=None):
    if not os.path.exists(os.path.join(BUILD, "cmake_install.cmake")):
        pytest.skip("no configured build tree at %s (set WOM_BUILD_DIR)" % BUILD)
    if not os.path.exists(PYTHON) or not shutil.which("cmake"):
        pytest.skip("needs /usr/bin/python3 and cmake")
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if destdir:
        env["DESTDIR"] = str(destdir)
    r = subprocess.run(["cmake", "--install", BUILD, "--prefix", str(prefix)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    base = os.path.join(str(destdir), str(prefix).lstrip("/")) if destdir else str(prefix)
    found = glob.glob(os.path.join(base, "**", "wom", "__init__.py"), recursive=True)
    assert len(found) == 1, found
    return os.path.dirname(os.path.dirname(found[0]))


def test_installed_package_loads_the_installed_library(tmp_path):
    prefix = tmp_path / "prefix"
    site = _install(tmp_path, prefix)
    env = {k: v for k, v in os.environ.items() if k not in ("WOM_LIBRARY", "PYTHONPATH")}
    env["PYTHONPATH"] = site
    code = ("import wom\n"
            "print(wom.__file__); print(wom.library)\n"
            "with wom.open('mem:') as s:\n"
            "    r = s.region('r'); r.put(0, b'installed'); print(r.get(0, timeout=0).decode())\n")
    r = subprocess.run([PYTHON, "-c", code], env=env, cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pkg, lib, value = r.stdout.split()
    assert pkg.startswith(site)
    assert lib.startswith(str(prefix) + "/") and lib.endswith("libwom.so.0")
    assert value == "installed"


def test_install_for_usr_local_lands_on_debians_sys_path(tmp_path):
    dest = tmp_path / "dest"
    site = _install(tmp_path, "/usr/local", destdir=dest)
    assert site.startswith(str(dest) + "/usr/local/")
    target = site[len(str(dest)):]
    path = subprocess.run([PYTHON, "-c", "import sys; print('\\n'.join(sys.path))"],
                          capture_output=True, text=True, timeout=60).stdout.split()
    assert target in path, "%s is not on %s's sys.path %s" % (target, PYTHON, path)
    with open(os.path.join(site, "wom", "_config.py")) as f:
        config = f.read()
    assert "LIBDIR = '/usr/local/" in config  # the installed libdir, without DESTDIR
    assert glob.glob(os.path.join(str(dest), "usr", "local", "lib*", "**", "libwom.so.0"),
                     recursive=True)
    assert not glob.glob(os.path.join(site, "wom", "__pycache__"))


def test_a_wrong_wom_library_is_a_clear_import_error(tmp_path):
    env = dict(os.environ)
    env["WOM_LIBRARY"] = str(tmp_path / "libwom.so.0")  # not there
    env["PYTHONPATH"] = os.path.join(ROOT, "bindings", "python")
    r = subprocess.run([sys.executable, "-c", "import wom"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "WOM_LIBRARY" in r.stderr
    assert str(tmp_path / "libwom.so.0") in r.stderr and "not found" in r.stderr
