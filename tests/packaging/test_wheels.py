"""The probe's wheel as a user without a compiler gets it, and a source
build on a machine without the Python headers.

The wheel under test is dist/async_auditor-*-cpXY-cpXY-manylinux_*.whl for
the Python running pytest, made by `scripts/wheels X.Y` (the check stage
`wheels` runs it first; AA_WHEEL_DIR points elsewhere).  The same script
leaves its pinned tools in build-wheels/pyXY/tools, which the auditwheel
and source-build tests use.  The checks themselves live in wheelcheck.py,
which scripts/wheels also runs for every other CPython.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

import wheelcheck

ROOT = wheelcheck.ROOT
VERSION = "%d.%d" % sys.version_info[:2]
CP = "cp%d%d" % sys.version_info[:2]
WHEEL_DIR = os.environ.get("AA_WHEEL_DIR", os.path.join(ROOT, "dist"))
TOOLS = os.environ.get("AA_WHEEL_TOOLS", os.path.join(
    ROOT, "build-wheels", "py%d%d" % sys.version_info[:2], "tools"))
# the interpreter itself, not the venv pytest runs in
BASE_PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))


@pytest.fixture(scope="module")
def wheel():
    found = glob.glob(os.path.join(
        WHEEL_DIR, "async_auditor-*-%s-%s-*.whl" % (CP, CP)))
    if not found:
        pytest.fail("no %s wheel in %s: run scripts/wheels %s"
                    % (CP, WHEEL_DIR, VERSION))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def tools():
    if not os.path.exists(os.path.join(TOOLS, "bin", "auditwheel")):
        pytest.fail("no build tools in %s: run scripts/wheels %s"
                    % (TOOLS, VERSION))
    return TOOLS


@pytest.fixture(scope="module")
def checked(wheel):
    return wheelcheck.check_wheel(wheel)


def test_wheel_holds_the_package_and_nothing_else(checked):
    problems, facts = checked
    assert problems == []
    assert facts["python_tag"] == CP


def test_extension_needs_nothing_beyond_glibc(checked):
    _, facts = checked
    assert facts["vendored"] == [], "auditwheel had to vendor libraries"
    (needed,) = facts["needed"].values()
    assert "libc.so.6" in needed
    for lib in needed:
        assert wheelcheck.GLIBC_LIBS.match(lib), lib


def test_platform_tag_is_the_lowest_auditwheel_allows(wheel, tools):
    """The file name's tag is manylinux, within this machine's glibc, and
    exactly what auditwheel finds the repaired wheel consistent with (a
    higher tag would shut out systems the wheel runs on)."""
    tag = wheelcheck.parse_name(wheel)["plat"]
    assert re.match(r"^manylinux_2_[0-9]+_x86_64$", tag), tag
    assert wheelcheck.manylinux_glibc(tag) <= wheelcheck.glibc_version()
    r = subprocess.run([os.path.join(tools, "bin", "auditwheel"), "show",
                        wheel], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    found = re.search(r'platform tag:\s*"([^"]+)"', r.stdout)
    assert found and found.group(1) == tag, r.stdout


def test_fresh_venv_without_compiler_serves_a_block(wheel, tmp_path):
    """pip installs the wheel into a new venv whose PATH has the
    interpreter and nothing else (the child asserts that cc, gcc, clang,
    pkg-config... are not found and PKG_CONFIG_LIBDIR is empty); the probe,
    installed on a loop blocked 0.2 s, reports one episode in /metrics,
    fetched over HTTP from here; importing it mapped no library from
    outside the venv but glibc's and the interpreter's own."""
    facts = wheelcheck.smoke(wheel, BASE_PYTHON, str(tmp_path / "smoke"),
                             log=lambda msg: None)
    assert facts["episodes"] == 1
    assert 0.2 <= facts["blocked_seconds"] < 2.0
    assert facts["installed"] > 0
    probe_so = [p for p in facts["new_maps"] if "/_probe." in p]
    assert len(probe_so) == 1 and probe_so[0].startswith(str(tmp_path))
    for p in facts["new_maps"]:
        assert not re.search(r"microhttpd|gnutls|jansson|nettle", p), p


def _rewrite(src, dst, drop=(), add=(), rename=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename not in drop:
                zout.writestr(item, zin.read(item.filename))
        for name, data in add:
            zout.writestr(name, data)
    if rename:
        os.rename(dst, rename)
        return rename
    return dst


def test_checker_rejects_broken_wheels(wheel, tmp_path):
    """The static checks fail where they should: a module missing, build
    artefacts, a vendored library, a linux_x86_64 tag."""
    bad = _rewrite(wheel, str(tmp_path / os.path.basename(wheel)),
                   drop={"async_auditor/_run.py"},
                   add=[("async_auditor/aap_base.o", b"\0"),
                        ("async_auditor.libs/libmicrohttpd-0a1b2c3d.so.12",
                         b"\0")])
    problems, _ = wheelcheck.check_wheel(bad)
    text = "\n".join(problems)
    assert "missing from the wheel: async_auditor/_run.py" in text
    assert "unexpected file in the wheel: async_auditor/aap_base.o" in text
    assert "auditwheel vendored libmicrohttpd-0a1b2c3d.so.12" in text
    assert "RECORD does not list async_auditor/aap_base.o" in text

    name = os.path.basename(wheel)
    plain = re.sub(r"manylinux_[0-9]+_[0-9]+_x86_64", "linux_x86_64", name)
    renamed = _rewrite(wheel, str(tmp_path / "x.whl"),
                       rename=str(tmp_path / plain))
    problems, _ = wheelcheck.check_wheel(renamed)
    assert any("is not a manylinux tag" in p for p in problems), problems


def test_elf_reader_sees_libraries_beyond_glibc():
    """The DT_NEEDED reader on an object known to link more than glibc:
    the interpreter's own _ssl module (libssl)."""
    ssl = pytest.importorskip("_ssl")
    if not getattr(ssl, "__file__", "").endswith(".so"):
        pytest.skip("this interpreter's _ssl is built in")
    with open(ssl.__file__, "rb") as f:
        needed = wheelcheck.elf_dynamic(f.read())["needed"]
    assert any(lib.startswith("libssl.") for lib in needed), needed
    assert not all(wheelcheck.GLIBC_LIBS.match(lib) for lib in needed)


# --- source build without the Python headers --------------------------------

HIDE_HEADERS = '''\
"""Makes this venv's interpreter look like one without its -dev package:
the header directories sysconfig names are empty and there is no .pc file
(meson asks sysconfig and pkg-config)."""
import sysconfig

EMPTY = %r
_vars = sysconfig.get_config_vars()
_vars["INCLUDEPY"] = _vars["CONFINCLUDEPY"] = EMPTY
_vars.pop("LIBPC", None)
_get_paths = sysconfig.get_paths


def get_paths(*args, **kwargs):
    paths = _get_paths(*args, **kwargs)
    paths["include"] = paths["platinclude"] = EMPTY
    return paths


sysconfig.get_paths = get_paths
'''


def test_source_build_without_headers_names_the_package(tools, tmp_path):
    """`pip install .` with an interpreter whose headers are missing (as
    on Debian without python3.X-dev) and no pkg-config search path fails
    with src/probe/meson.build's message naming the packages, after every
    C dependency of the probe was found without pkg-config."""
    empty = tmp_path / "include-empty"
    empty.mkdir()
    venv = tmp_path / "venv"
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    vpy = str(venv / "bin" / "python")

    def purelib(py):
        return subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True).stdout.strip()

    site = purelib(vpy)
    # meson-python, meson and pip from the pinned tools venv
    with open(os.path.join(site, "_aa_tools.pth"), "w") as f:
        f.write(purelib(os.path.join(tools, "bin", "python")) + "\n")
    with open(os.path.join(site, "_aa_no_headers.py"), "w") as f:
        f.write(HIDE_HEADERS % str(empty))
    with open(os.path.join(site, "_aa_no_headers.pth"), "w") as f:
        f.write("import _aa_no_headers\n")
    check = subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig."
                            "get_paths()['include'], sysconfig."
                            "get_config_var('INCLUDEPY'))"],
                           capture_output=True, text=True, check=True)
    assert check.stdout.split() == [str(empty)] * 2

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PKG_CONFIG", "PYTHON", "MESON"))}
    env.update(PATH=os.path.join(tools, "bin") + os.pathsep + env["PATH"],
               PKG_CONFIG_LIBDIR="", PIP_CONFIG_FILE=os.devnull,
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    assert shutil.which("cc", path=env["PATH"]), "this test needs a compiler"
    r = subprocess.run([vpy, "-m", "pip", "install", "--no-build-isolation",
                        "--no-deps", "-Cbuild-dir=%s" % (tmp_path / "build"),
                        ROOT], env=env, cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    assert re.search(r"src/probe/meson\.build:[0-9]+:[0-9]+: ERROR: Problem "
                     r"encountered:", out), out[-3000:]
    for words in ("Python %s development headers (Python.h) are missing"
                  % VERSION, "apt install python%s-dev" % VERSION,
                  "python3-dev", "dnf install python3-devel",
                  "apk add python3-dev"):
        assert words in out, (words, out[-3000:])
    # everything before the extension configured without pkg-config
    assert "Run-time dependency threads found: YES" in out
    assert 'Dependency "libmicrohttpd" not found' not in out
    assert "jansson" not in out
