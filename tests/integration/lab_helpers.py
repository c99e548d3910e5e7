"""Helpers for the lab's tests (test_lab_*.py).

Why this exists: the lab tests drive the real thing (lab/run, the app
under uvicorn, wrk, Prometheus, headless Chromium) and then need to look
at what came out: a PNG screenshot without Pillow (not a dependency), the
DOM Chromium dumps, and the processes a run left behind.  Every process
started here binds loopback, is bounded in time and is stopped by PID.
"""

import importlib.machinery
import importlib.util
import os
import shutil
import struct
import subprocess
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LAB = os.path.join(REPO, "lab")
VENV_PY = os.path.join(REPO, ".venv", "bin", "python")


def load_lab_run():
    """lab/run as a module (it has no .py suffix), to reuse its process
    handling and scenario table."""
    path = os.path.join(LAB, "run")
    loader = importlib.machinery.SourceFileLoader("lab_run", path)
    spec = importlib.util.spec_from_loader("lab_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def auditor_path():
    return os.environ.get("AA_AUDITOR") or os.path.join(
        REPO, "build", "src", "auditor", "async-auditor")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium_argv(tmpdir):
    return [chromium(), "--headless", "--disable-gpu", "--no-sandbox",
            "--no-first-run", "--disable-extensions",
            "--user-data-dir=" + os.path.join(str(tmpdir), "chromium-profile"),
            "--virtual-time-budget=2000"]


def screenshot(html_path, png_path, tmpdir, size=(1400, 2000)):
    """Renders html_path in headless Chromium into png_path."""
    argv = _chromium_argv(tmpdir) + [
        "--screenshot=" + str(png_path),
        "--window-size=%d,%d" % size, "file://" + str(html_path)]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   timeout=90, check=True)


def dump_dom(html_path, tmpdir):
    """The DOM after Chromium loaded html_path (serialized HTML)."""
    argv = _chromium_argv(tmpdir) + ["--dump-dom", "file://" + str(html_path)]
    res = subprocess.run(argv, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=90, check=True)
    return res.stdout.decode("utf-8", "replace")


def read_png(path):
    """Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium
    writes) into (width, height, channels, rows of bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace != 0:
        raise ValueError("%s: unsupported PNG (depth %d, colour type %d, "
                         "interlace %d)" % (path, depth, ctype, interlace))
    ch = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * ch
    rows, prev = [], bytearray(stride)
    for y in range(height):
        off = y * (stride + 1)
        ftype = raw[off]
        line = bytearray(raw[off + 1:off + 1 + stride])
        for x in range(stride):
            a = line[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
            elif ftype != 0:
                raise ValueError("bad PNG filter %d" % ftype)
        rows.append(bytes(line))
        prev = line
    return width, height, ch, rows


def pixel_stats(path, step=2):
    """Counts over a sample of the pixels: total, the luminance variance,
    pixels close to the chart line colour (#1f5fbf) and to the critical
    red (#c62828, also its light episode shading)."""
    width, height, ch, rows = read_png(path)
    n = s = s2 = blue = red = 0
    for y in range(0, height, step):
        row = rows[y]
        for x in range(0, width, step):
            r, g, b = row[x * ch], row[x * ch + 1], row[x * ch + 2]
            lum = (299 * r + 587 * g + 114 * b) // 1000
            n += 1
            s += lum
            s2 += lum * lum
            if abs(r - 0x1f) < 40 and abs(g - 0x5f) < 40 and b > 0x90:
                blue += 1
            if r > 0xb0 and g < 0xd0 and b < 0xd0 and r - g > 30:
                red += 1
    mean = s / n
    return {"pixels": n, "variance": s2 / n - mean * mean, "blue": blue,
            "red": red}


def descendants(pid):
    """PIDs of every live descendant of pid (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    out, pending = [], [pid]
    while pending:
        p = pending.pop()
        for c in children.get(p, []):
            out.append(c)
            pending.append(c)
    return out


def alive(pid):
    """True when pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"
