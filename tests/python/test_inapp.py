"""Which code is in-app: the built-in rule (not the standard library, not
site-packages/dist-packages, not frozen, not the probe), and the user's
include/exclude entries from install(in_app=...) and
$ASYNC_AUDITOR_IN_APP (docs/probe.md, "Which frame is the site")."""

import asyncio
import os
import sys
import textwrap

import pytest

import async_auditor
from async_auditor import _inapp, _probe

needs_stacks = pytest.mark.skipif(
    not _probe.stacks_supported,
    reason="stack capture: %s" % _probe.stacks_unsupported_reason)


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """A fake site-packages with a library 'slowlib' whose function
    blocks, and an application module 'appmod' calling it; both on
    sys.path."""
    sp = tmp_path / "lib" / "site-packages"
    (sp / "slowlib").mkdir(parents=True)
    (sp / "slowlib" / "__init__.py").write_text(textwrap.dedent("""\
        import time


        def fetch():
            time.sleep(0.15)  # slowlib's line
        """))
    app = tmp_path / "app"
    (app / "vendor").mkdir(parents=True)
    (app / "appmod.py").write_text(textwrap.dedent("""\
        import slowlib
        from vendor import wrap


        def handler():
            slowlib.fetch()  # appmod's line


        def via_vendor():
            wrap.call(slowlib.fetch)  # appmod's vendor line
        """))
    (app / "vendor" / "__init__.py").write_text("")
    (app / "vendor" / "wrap.py").write_text(
        "def call(fn):\n    return fn()  # wrap's line\n")
    monkeypatch.syspath_prepend(str(sp))
    monkeypatch.syspath_prepend(str(app))
    for m in ("slowlib", "appmod", "vendor", "vendor.wrap"):
        sys.modules.pop(m, None)
    import appmod
    yield sp, app, appmod
    for m in ("slowlib", "appmod", "vendor", "vendor.wrap"):
        sys.modules.pop(m, None)


def episode_site(fn, **install_kw):
    loop = asyncio.new_event_loop()
    try:
        probe = async_auditor.install(loop, block_threshold=0.05,
                                      **install_kw)

        async def main():
            await asyncio.sleep(0.02)
            fn()
            await asyncio.sleep(0.02)

        loop.run_until_complete(main())
        blocks = probe.blocks()
        probe.close()
    finally:
        loop.close()
    assert len(blocks) == 1, blocks
    return blocks[0]


@needs_stacks
def test_library_frames_are_not_the_site(packages):
    sp, app, appmod = packages
    b = episode_site(appmod.handler)
    assert b["site"] == "%s:6 handler" % (app / "appmod.py")
    # one library frame: it is both the entry and the innermost frame
    assert b["chain"] == "appmod.py:6 handler \u2192 slowlib.fetch"
    assert b["class"] == "sleep"


@needs_stacks
def test_include_a_library_by_module_name(packages):
    sp, app, appmod = packages
    b = episode_site(appmod.handler, in_app=["slowlib"])
    assert b["site"] == "%s:5 fetch" % (sp / "slowlib" / "__init__.py")


@needs_stacks
def test_exclude_by_path_and_from_the_environment(packages, monkeypatch):
    sp, app, appmod = packages
    b = episode_site(appmod.via_vendor)
    assert b["site"].endswith("vendor/wrap.py:2 call")  # in-app by default
    b = episode_site(appmod.via_vendor, in_app="-%s/" % (app / "vendor"))
    assert b["site"] == "%s:10 via_vendor" % (app / "appmod.py")
    assert "vendor.call" in b["chain"]
    monkeypatch.setenv("ASYNC_AUDITOR_IN_APP", "-vendor")
    b = episode_site(appmod.via_vendor)
    assert b["site"] == "%s:10 via_vendor" % (app / "appmod.py")
    # the argument comes after the variable and wins on the same entry
    b = episode_site(appmod.via_vendor, in_app="vendor")
    assert b["site"].endswith("vendor/wrap.py:2 call")


def test_parse(tmp_path, monkeypatch):
    d = tmp_path / "pkg"
    d.mkdir()
    got = _inapp.parse("asyncio, -%s, ./rel/" % d, "X")
    asyncio_dir = os.path.join(os.path.dirname(asyncio.__file__), "")
    assert (asyncio_dir, True) in got
    assert (os.path.join(str(d), ""), False) in got
    assert (os.path.join(os.path.abspath("rel"), ""), True) in got
    assert _inapp.parse(["json.decoder"], "X") == [
        (sys.modules["json.decoder"].__file__, True)]
    with pytest.raises(ValueError, match="^X: no module named 'no_such_mod'"):
        _inapp.parse("no_such_mod", "X")
    with pytest.raises(ValueError, match="^X: .* neither a path"):
        _inapp.parse("a b", "X")
    monkeypatch.setenv("ASYNC_AUDITOR_IN_APP", "nope_nope")
    with pytest.raises(ValueError, match="^ASYNC_AUDITOR_IN_APP"):
        async_auditor.install(asyncio.new_event_loop())


def test_rules_are_bounded_and_complete():
    rules = _inapp.rules()
    assert len(rules) <= _probe.INAPP_RULES_MAX
    kinds = {k for _, k, _ in rules}
    assert {_probe.INAPP_STDLIB, _probe.INAPP_LIBRARY,
            _probe.INAPP_MACHINERY} <= kinds
    machinery = [p for p, k, _ in rules if k == _probe.INAPP_MACHINERY]
    assert os.path.join(os.path.dirname(asyncio.__file__), "") in machinery
    assert os.path.join(os.path.dirname(async_auditor.__file__),
                        "") in machinery
    with pytest.raises(ValueError, match="too many"):
        _inapp.rules(["/d%d/" % i for i in range(_probe.INAPP_RULES_MAX)])


@pytest.mark.skipif(bool(_probe.stacks_supported),
                    reason="stacks are supported here")
def test_no_stacks_is_said_once(caplog, monkeypatch):
    from async_auditor import _install
    monkeypatch.setattr(_install, "_stacks_note", [])
    for _ in range(2):
        loop = asyncio.new_event_loop()
        async_auditor.install(loop).close()
        loop.close()
    said = [r for r in caplog.records
            if _probe.stacks_unsupported_reason in r.getMessage()]
    assert len(said) == 1
