"""Which code is the application's own ("in-app"), for naming culprits.

Why this module exists: a blocking episode is charged to the innermost
*in-app* frame of the loop thread's stack, the user's line, not the
library line under it (``socket.py readinto`` under ``requests.get``).
The C side (``aap_culprit.c``) decides per frame from path-prefix rules;
this module computes those rules once per ``install()``: the standard
library, site-packages/dist-packages, asyncio and this package, the
``sys.path`` roots module names are derived from, and the user's own
include/exclude entries.

Configuration (``install(in_app=...)``, ``$ASYNC_AUDITOR_IN_APP``,
``python -m async_auditor run --in-app``): a comma-separated string or a
list of entries; an entry is a path prefix (it contains a path separator
or starts with ``.`` or ``~``) or a dotted module name (resolved to its
file or package directory without importing it), and a leading ``-``
excludes instead of includes: ``mycorp_sdk,-myapp.vendor,/srv/app/``.
The longest matching prefix decides; the variable's entries come before
the argument's, so the argument wins on the same prefix.
"""

import asyncio
import importlib.util
import os
import re
import site
import sys
import sysconfig

from . import _probe

__all__ = ["rules", "parse"]

ENV = "ASYNC_AUDITOR_IN_APP"
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def c_text(path):
    """path as the C stack reader writes file names (aap_stack.c): a byte
    smuggled in by surrogateescape as \\xNN, another surrogate as U+FFFD,
    control characters as '?', so prefixes compare with what it reads."""
    out = []
    for ch in path:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append("\\x%02x" % (o - 0xDC00))
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")
        elif o < 0x20 or o == 0x7F:
            out.append("?")
        else:
            out.append(ch)
    return "".join(out)


def _dir_prefix(path):
    return os.path.join(path, "")


def _variants(path):
    """path as given (absolute) and resolved, when they differ."""
    a = os.path.abspath(path)
    r = os.path.realpath(path)
    return (a,) if a == r else (a, r)


def _module_prefixes(name):
    """The directory (package) or file (module) of dotted module name,
    found without importing it; [] when there is none."""
    mod = sys.modules.get(name)
    if mod is not None:
        paths = list(getattr(mod, "__path__", None) or [])
        if paths:
            return [_dir_prefix(p) for p in paths]
        f = getattr(mod, "__file__", None)
        return [f] if f else []
    top, _, rest = name.partition(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    locations = list(spec.submodule_search_locations or [])
    if not rest:
        if locations:
            return [_dir_prefix(p) for p in locations]
        return [spec.origin] if spec.origin and os.path.isabs(
            spec.origin) else []
    for part in rest.split("."):
        found = []
        for loc in locations:
            d = os.path.join(loc, part)
            if os.path.isdir(d):
                found.append(d)
            elif os.path.isfile(d + ".py"):
                return [d + ".py"]
        if not found:
            return []
        locations = found
    return [_dir_prefix(p) for p in locations]


def parse(spec, what=ENV):
    """[(prefix, include)] of spec (a string or an iterable of entries);
    ValueError naming what for an entry that is neither a path nor a
    module, or a module that cannot be found."""
    if spec is None:
        return []
    if isinstance(spec, (str, bytes, os.PathLike)):
        entries = os.fsdecode(spec).split(",")
    else:
        entries = [os.fsdecode(e) for e in spec]
    out = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        include = not entry.startswith("-")
        body = entry.lstrip("-").strip()
        if os.sep in body or "/" in body or body.startswith((".", "~")):
            path = os.path.expanduser(body)
            is_dir = body.endswith(("/", os.sep)) or os.path.isdir(path)
            for p in _variants(path):
                out.append((_dir_prefix(p) if is_dir else p, include))
        elif _MODULE.match(body):
            prefixes = _module_prefixes(body)
            if not prefixes:
                raise ValueError("%s: no module named %r (entries are "
                                 "path prefixes or module names)"
                                 % (what, body))
            for p in prefixes:
                if p.endswith(os.sep):
                    out += [(_dir_prefix(v), include)
                            for v in _variants(p[:-1])]
                else:
                    out += [(v, include) for v in _variants(p)]
        else:
            raise ValueError("%s: %r is neither a path prefix nor a module "
                             "name" % (what, entry))
    return out


def _stdlib_dirs():
    paths = sysconfig.get_paths()
    dirs = [paths.get("stdlib"), paths.get("platstdlib"),
            os.path.dirname(os.__file__)]
    return [d for d in dirs if d]


def _package_dirs():
    dirs = []
    try:
        dirs += list(site.getsitepackages())
    except AttributeError:
        pass
    try:
        dirs.append(site.getusersitepackages())
    except AttributeError:
        pass
    paths = sysconfig.get_paths()
    dirs += [paths.get("purelib"), paths.get("platlib")]
    return [d for d in dirs if d]


def rules(spec=None):
    """The rules for _probe.Loop(in_app=...): (prefix, kind, root) tuples,
    at most _probe.INAPP_RULES_MAX.  spec: the install() argument; the
    environment variable's entries come first."""
    user = parse(os.environ.get(ENV), ENV) + parse(spec, "in_app")
    out, seen = [], set()

    def add(prefix, kind, root):
        text = c_text(prefix)
        key = (text, kind, root)
        if key in seen or len(text.encode("utf-8")) >= _probe.FILE_MAX:
            return
        seen.add(key)
        out.append(key)

    for d in _stdlib_dirs():
        for v in _variants(d):
            add(_dir_prefix(v), _probe.INAPP_STDLIB, 1)
    for d in _package_dirs():
        for v in _variants(d):
            add(_dir_prefix(v), _probe.INAPP_LIBRARY, 1)
    for m in (asyncio.__file__, __file__):
        for v in _variants(os.path.dirname(m)):
            add(_dir_prefix(v), _probe.INAPP_MACHINERY, 0)
    room = _probe.INAPP_RULES_MAX - len(out) - len(user)
    if room < 0:
        raise ValueError("in_app: too many entries (at most %d with the "
                         "built-in ones)" % (_probe.INAPP_RULES_MAX
                                             - len(out)))
    roots = []
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            roots += [_dir_prefix(v) for v in _variants(entry)]
    for r in roots[:room]:
        add(r, _probe.INAPP_ROOT, 1)
    for prefix, include in user:
        if len(c_text(prefix).encode("utf-8")) >= _probe.FILE_MAX:
            raise ValueError("in_app: %r is longer than file names the "
                             "probe reads (%d bytes)"
                             % (prefix, _probe.FILE_MAX - 1))
        add(prefix, _probe.INAPP_APP if include else _probe.INAPP_LIBRARY, 0)
    return out
