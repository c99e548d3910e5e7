#!/usr/bin/env python3
"""Checks of a repaired probe wheel, shared by scripts/wheels (every
CPython, inside the sid chroot too) and tests/packaging/test_wheels.py.

Why: a wheel is what a user without a compiler gets.  It must hold the
package and nothing else, need no library beyond glibc, carry a manylinux
tag this machine's glibc satisfies, and work in a fresh venv on a PATH with
no compiler and no pkg-config.  Standard library only (the target Python
runs it), Linux only.

    wheelcheck.py [--python PY] [--workdir DIR] [--json OUT] WHEEL

exits 1 listing every problem; --json writes what was measured (sizes,
tag, vendored libraries, the /metrics lines that show the episode).
"""

import argparse
import base64
import csv
import hashlib
import io
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SOURCE_PKG = os.path.join(ROOT, "python", "async_auditor")
PKG = "async_auditor"
DIST = "async_auditor"  # the wheel's distribution name, normalized

# What an extension may need from the system: glibc's own libraries (the
# manylinux policies allow more, e.g. libgcc_s, but the probe needs none).
GLIBC_LIBS = re.compile(
    r"^(libc|libm|libpthread|libdl|librt)\.so\.[0-9]+$"
    r"|^ld-linux[-a-z0-9_.]*\.so\.[0-9]+$")
# Programs a source build would need; the smoke venv must see none.
BUILD_TOOLS = ("cc", "gcc", "clang", "c99", "tcc", "ld", "pkg-config",
               "pkgconf", "meson", "ninja", "python3-config")
FILENAME = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)-(?P<py>[^-]+)-(?P<abi>[^-]+)"
    r"-(?P<plat>[^-]+)\.whl$")


def parse_name(path):
    m = FILENAME.match(os.path.basename(path))
    if not m:
        raise ValueError("not a wheel file name: %s" % path)
    return m.groupdict()


def glibc_version():
    """(major, minor) of the running glibc."""
    v = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    major, minor = v.split()[1].split(".")[:2]
    return int(major), int(minor)


def manylinux_glibc(plat):
    """(2, N) for manylinux_2_N_ARCH (and the aliases of PEP 600), else None."""
    m = re.match(r"^manylinux_([0-9]+)_([0-9]+)_", plat)
    if m:
        return int(m.group(1)), int(m.group(2))
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12),
              "manylinux2014": (2, 17)}
    return legacy.get(plat.split("_")[0])


# --- ELF: the dynamic section of a shared object ----------------------------

def elf_dynamic(data):
    """{'needed': [...], 'rpath': [...], 'runpath': [...]} of an ELF64
    little-endian shared object (what the linker records: DT_NEEDED,
    DT_RPATH, DT_RUNPATH)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian ELF64 object")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = []
    for i in range(shnum):
        (name, stype, flags, addr, offset, size, link, info, align,
         entsize) = struct.unpack_from("<IIQQQQIIQQ", data,
                                       shoff + i * shentsize)
        sections.append((stype, offset, size, link))
    out = {"needed": [], "rpath": [], "runpath": []}
    tags = {1: "needed", 15: "rpath", 29: "runpath"}
    for stype, offset, size, link in sections:
        if stype != 6:  # SHT_DYNAMIC
            continue
        _, stroff, strsize, _ = sections[link]
        strtab = data[stroff:stroff + strsize]
        for pos in range(offset, offset + size, 16):
            tag, val = struct.unpack_from("<qQ", data, pos)
            if tag == 0:
                break
            if tag in tags:
                end = strtab.index(b"\0", val)
                out[tags[tag]].append(strtab[val:end].decode())
    return out


# --- static checks of the wheel file ------------------------------------------

def source_modules():
    """Paths of the package's .py files relative to python/, as the wheel
    must hold them ('async_auditor/_run.py')."""
    out = set()
    base = os.path.dirname(SOURCE_PKG)
    for d, dirs, files in os.walk(SOURCE_PKG):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                out.add(os.path.relpath(os.path.join(d, f), base))
    return out


def check_wheel(path):
    """(problems, facts) of the wheel file: contents, RECORD, WHEEL tags,
    platform tag, what the extension links."""
    problems = []
    name = parse_name(path)
    info_dir = "%s-%s.dist-info/" % (DIST, name["version"])
    facts = {"file": os.path.basename(path), "size": os.path.getsize(path),
             "tag": name["plat"], "python_tag": name["py"],
             "vendored": [], "needed": {}}
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        facts["unpacked"] = sum(z.getinfo(n).file_size for n in names)
        ext = [n for n in names
               if re.match(r"^%s/_probe\.[^/]*\.so$" % PKG, n)]
        if len(ext) != 1:
            problems.append("expected one %s/_probe.*.so, found %s"
                            % (PKG, ext or "none"))
        wanted_py = source_modules()
        have_py = {n for n in names if n.endswith(".py")}
        for n in sorted(wanted_py - have_py):
            problems.append("missing from the wheel: %s (add it to "
                            "py.install_sources in src/probe/meson.build)"
                            % n)
        base = os.path.dirname(SOURCE_PKG)
        for n in sorted(wanted_py & have_py):
            with open(os.path.join(base, n), "rb") as f:
                if f.read() != z.read(n):
                    problems.append("%s differs from python/%s: the wheel "
                                    "is older than the sources" % (n, n))
        for n in names:
            if n in wanted_py or n in ext:
                continue
            if n.startswith(PKG + ".libs/"):
                facts["vendored"].append(n.split("/", 1)[1])
                continue
            rest = n[len(info_dir):] if n.startswith(info_dir) else None
            if rest in ("METADATA", "WHEEL", "RECORD", "entry_points.txt"):
                continue
            if rest is not None and rest.startswith("sboms/"):
                continue  # auditwheel's record of what it vendored
            problems.append("unexpected file in the wheel: %s" % n)
        for lib in facts["vendored"]:
            problems.append("auditwheel vendored %s: the probe must need "
                            "nothing beyond glibc (which dependency()"
                            " in src/probe/meson.build brought it?)" % lib)
        # RECORD: every file, with the right hash and size
        record = z.read(info_dir + "RECORD").decode()
        listed = {}
        for row in csv.reader(io.StringIO(record)):
            if row:
                listed[row[0]] = row
        for n in names:
            row = listed.get(n)
            if row is None:
                problems.append("RECORD does not list %s" % n)
                continue
            if n == info_dir + "RECORD":
                continue
            data = z.read(n)
            digest = base64.urlsafe_b64encode(
                hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if row[1] != "sha256=" + digest or row[2] != str(len(data)):
                problems.append("RECORD hash or size wrong for %s" % n)
        for n in sorted(set(listed) - set(names)):
            problems.append("RECORD lists %s, which is not in the wheel" % n)
        # WHEEL metadata agrees with the file name
        wheel = z.read(info_dir + "WHEEL").decode()
        tags = re.findall(r"^Tag: (\S+)$", wheel, re.M)
        want = "%s-%s-%s" % (name["py"], name["abi"], name["plat"])
        if want not in tags:
            problems.append("WHEEL tags %s do not include %s" % (tags, want))
        if "Root-Is-Purelib: false" not in wheel:
            problems.append("WHEEL does not say Root-Is-Purelib: false")
        meta = z.read(info_dir + "METADATA").decode()
        if not re.search(r"^Version: %s$" % re.escape(name["version"]),
                         meta, re.M):
            problems.append("METADATA version differs from the file name")
        # the extension's dynamic section
        for n in ext:
            dyn = elf_dynamic(z.read(n))
            facts["needed"][n] = dyn["needed"]
            extra = [lib for lib in dyn["needed"] if not GLIBC_LIBS.match(lib)]
            if extra:
                problems.append("%s needs %s beyond glibc" % (n, extra))
            if dyn["rpath"] or dyn["runpath"]:
                problems.append("%s has an RPATH/RUNPATH %s (set when "
                                "auditwheel vendors a library)"
                                % (n, dyn["rpath"] + dyn["runpath"]))
    # the platform tag: manylinux, and satisfied by this machine's glibc
    plat = manylinux_glibc(name["plat"])
    if plat is None:
        problems.append("platform tag %s is not a manylinux tag (was the "
                        "wheel repaired by auditwheel?)" % name["plat"])
    elif plat > glibc_version():
        problems.append("platform tag %s claims a glibc newer than this "
                        "machine's %d.%d" % ((name["plat"],)
                                             + glibc_version()))
    return problems, facts


# --- the smoke test: a fresh venv with no build tools -------------------------

CHILD = r'''
import asyncio, json, os, shutil, sys, time

def fail(msg):
    print(json.dumps({"error": msg}), flush=True)
    sys.exit(3)

def mapped():
    out = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith("/"):
                path = parts[5].strip()
                if ".so" in os.path.basename(path):
                    out.add(path)
    return out

for tool in TOOLS:
    if shutil.which(tool) is not None:
        fail("%s is on PATH: %s" % (tool, shutil.which(tool)))
if os.environ.get("PKG_CONFIG_LIBDIR") != "":
    fail("PKG_CONFIG_LIBDIR is not empty")
before = mapped()
import async_auditor
from async_auditor import _probe
if not os.path.abspath(_probe.__file__).startswith(sys.prefix + os.sep):
    fail("_probe imported from %s, not from the venv" % _probe.__file__)

def blocking_call():
    time.sleep(0.2)  # the blocking line

async def main():
    # 0.1 s: a loaded machine's scheduling hiccups stay below it
    probe = async_auditor.install(block_threshold=0.1)
    host, port = async_auditor.serve("127.0.0.1:0")
    print(json.dumps({"port": port, "probe": _probe.__file__,
                      "new_maps": sorted(mapped() - before),
                      "stacks": bool(_probe.stacks_supported),
                      "version": async_auditor.__version__}), flush=True)
    await asyncio.sleep(0.05)
    blocking_call()
    await asyncio.sleep(0.05)
    print(json.dumps({"blocked": True}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the parent is done
    probe.close()

asyncio.run(main())
'''


def _fetch(url, timeout=5.0):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def _samples(text, name):
    """Values of every series of name in an exposition."""
    pat = re.compile(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), re.M)
    return [float(v) for _, v in pat.findall(text)]


def _read_json_line(proc, deadline, stderr_path):
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            if chunk == b"\n":
                msg = json.loads(buf.decode())
                if "error" in msg:
                    raise AssertionError("in the fresh venv: " + msg["error"])
                return msg
            buf += chunk
        elif proc.poll() is not None:
            break
    with open(stderr_path) as f:
        err = f.read()[-3000:]
    raise AssertionError("the probe process gave no answer (exit %s): %s"
                         % (proc.poll(), err))


def _allowed_new_map(path, venv):
    """A shared object the import may map: the probe's own files, the
    interpreter's standard extension modules, glibc."""
    if path.startswith(venv + os.sep):
        return True
    if GLIBC_LIBS.match(os.path.basename(path)):
        return True
    return "/lib-dynload/" in path


def smoke(wheel, python, workdir, log=print):
    """Install wheel with python into a fresh venv under workdir whose PATH
    has no compiler and no pkg-config, run the probe on a loop blocked for
    0.2 s and read the episode from /metrics over HTTP.  Returns facts;
    raises AssertionError with the reason."""
    workdir = os.path.abspath(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.join(workdir, "home"))
    venv = os.path.join(workdir, "venv")
    # the minimal PATH: the interpreter, nothing else
    minbin = os.path.join(workdir, "bin")
    os.makedirs(minbin)
    real = os.path.realpath(python)
    os.symlink(real, os.path.join(minbin, "python3"))
    env = {
        "PATH": os.path.join(venv, "bin") + os.pathsep + minbin,
        "HOME": os.path.join(workdir, "home"),
        "LANG": "C.UTF-8",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "PKG_CONFIG_LIBDIR": "",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONNOUSERSITE": "1",
    }

    def run(args, what):
        r = subprocess.run(args, env=env, cwd=workdir, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError("%s failed (exit %d):\n%s%s" % (
                what, r.returncode, r.stdout[-2000:], r.stderr[-3000:]))
        return r

    t0 = time.monotonic()
    log("wheelcheck: fresh venv %s (%s)" % (venv, real))
    run([real, "-m", "venv", venv], "%s -m venv (with ensurepip)" % real)
    vpy = os.path.join(venv, "bin", "python")
    run([vpy, "-m", "pip", "install", "--no-deps", "--only-binary=:all:",
         os.path.abspath(wheel)], "pip install of the wheel")
    # what the install put on disk (RECORD lists the .pyc pip compiled)
    site = run([vpy, "-c", "import sysconfig; print(sysconfig.get_path("
                "'platlib'))"], "sysconfig").stdout.strip()
    records = [d for d in os.listdir(site)
               if d.startswith(DIST + "-") and d.endswith(".dist-info")]
    if len(records) != 1:
        raise AssertionError("expected one %s dist-info in %s, found %s"
                             % (DIST, site, records))
    installed = 0
    with open(os.path.join(site, records[0], "RECORD")) as f:
        for row in csv.reader(f):
            p = os.path.normpath(os.path.join(site, row[0]))
            if os.path.isfile(p):
                installed += os.path.getsize(p)
    child = os.path.join(workdir, "child.py")
    with open(child, "w") as f:
        f.write("TOOLS = %r\n" % (BUILD_TOOLS,) + CHILD)
    stderr_path = os.path.join(workdir, "child.stderr")
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen([vpy, "-I", child], env=env, cwd=workdir,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err)
    try:
        deadline = time.monotonic() + 60
        hello = _read_json_line(proc, deadline, stderr_path)
        bad = [p for p in hello["new_maps"] if not _allowed_new_map(p, venv)]
        if bad:
            raise AssertionError("importing and serving mapped shared "
                                 "objects from outside the venv: %s" % bad)
        _read_json_line(proc, deadline, stderr_path)  # {"blocked": true}
        base = "http://127.0.0.1:%d" % hello["port"]
        status, text = _fetch(base + "/metrics")
        if status != 200:
            raise AssertionError("/metrics answered %d" % status)
        count = _samples(text, "python_asyncio_loop_block_duration_seconds_count")
        total = _samples(text, "python_asyncio_loop_block_duration_seconds_sum")
        if count != [1.0] or not total or not 0.2 <= total[0] < 2.0:
            raise AssertionError(
                "/metrics should show one episode of 0.2 s, got count=%s "
                "sum=%s:\n%s" % (count, total, "\n".join(
                    line for line in text.splitlines() if "block" in line)))
        status, body = _fetch(base + "/debug/blocks")
        blocks = json.loads(body)["blocks"] if status == 200 else []
        site_name = blocks[0].get("site") if blocks else None
        if hello["stacks"] and not (site_name and "blocking_call" in site_name):
            raise AssertionError("the episode's site should be blocking_call "
                                 "in child.py, got %r" % site_name)
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        rc = proc.wait(timeout=30)
        if rc != 0:
            with open(stderr_path) as f:
                raise AssertionError("the probe process exited %d: %s"
                                     % (rc, f.read()[-3000:]))
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return {"installed": installed, "episodes": int(count[0]),
            "blocked_seconds": total[0], "site": site_name,
            "new_maps": hello["new_maps"], "version": hello["version"],
            "smoke_seconds": round(time.monotonic() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel")
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter the wheel is for (default: this)")
    ap.add_argument("--workdir", help="scratch directory (default: a "
                    "temporary one, removed afterwards)")
    ap.add_argument("--json", help="write the facts here")
    args = ap.parse_args(argv)
    problems, facts = check_wheel(args.wheel)
    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = workdir = tempfile.mkdtemp(prefix="wheelcheck-")
    try:
        facts.update(smoke(args.wheel, args.python, workdir))
    except AssertionError as e:
        problems.append("smoke test: %s" % e)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    facts["problems"] = problems
    if args.json:
        with open(args.json, "w") as f:
            json.dump(facts, f, indent=1)
    for p in problems:
        print("wheelcheck: FAILED: %s" % p, file=sys.stderr)
    if problems:
        return 1
    print("wheelcheck: ok: %s (%d bytes, installed %d bytes, %d episode in "
          "/metrics, needs %s)" % (
              facts["file"], facts["size"], facts["installed"],
              facts["episodes"], ", ".join(sorted(
                  {lib for libs in facts["needed"].values() for lib in libs}))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
