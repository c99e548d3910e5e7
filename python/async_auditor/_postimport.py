"""Run a function right after a given module is imported.

Why this module exists: zero-code mode must add the HTTP middleware to
Starlette, FastAPI and aiohttp apps without importing those frameworks
itself (a process that does not use them must not pay for them), and
before the app object is built.  A finder at the front of sys.meta_path
lets the real finders locate the module, wraps the loader it gets so that
the patch runs after the module's code, and otherwise changes nothing: the
spec, the module and its loader's other methods (get_source, resources)
are the real ones.  Modules already imported are patched at once.
"""

import sys

from . import _unraisable

__all__ = ["when_imported"]

_hooks = {}  # module name -> [patch(module)]


def _apply(patch, name, module):
    try:
        patch(module)
    except Exception as e:
        _unraisable.report(e, "instrumenting %s" % name)


def _run(name, module):
    for patch in _hooks.get(name, ()):
        _apply(patch, name, module)


class _Loader:
    """The real loader, plus the patches after exec_module."""

    def __init__(self, loader, name):
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _run(self._name, module)

    def __getattr__(self, attr):
        return getattr(self._loader, attr)


class _Finder:
    """Front of sys.meta_path; only answers for the watched names."""

    def find_spec(self, name, path=None, target=None):
        if name not in _hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and hasattr(loader, "exec_module"):
            spec.loader = _Loader(loader, name)
        return spec

    def invalidate_caches(self):
        pass


_finder = _Finder()


def when_imported(name, patch):
    """Call patch(module) once module `name` is imported (now if it
    already is).  Never raises from the import (_unraisable.report)."""
    _hooks.setdefault(name, []).append(patch)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    module = sys.modules.get(name)
    if module is not None:
        _apply(patch, name, module)
