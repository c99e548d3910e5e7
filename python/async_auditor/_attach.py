"""``python -m async_auditor attach PID`` and ``detach PID``.

Why this module exists: a service that is already running, and must not be
restarted, can still be measured on CPython 3.14+: PEP 768's
sys.remote_exec(pid, script) makes it run a script at its next safe point.
This is the command side: it checks first what would make the kernel or
the target refuse (Python version, user, ptrace scope, remote debugging
disabled) and says what to do about each, writes the script (it only calls
``async_auditor._remote``) into a private directory the target can read,
sends it, and waits, bounded and with progress, for the status file the
target writes back.

Exit status: 0 done, 1 refused or failed (the message says why and what
to do), 64 usage error.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

__all__ = ["main"]

EX_OK, EX_FAILED, EX_USAGE = 0, 1, 64
DEFAULT_SERVE = "127.0.0.1:9464"
NO_MIDDLEWARE = (
    "HTTP metrics need the middleware, which attach cannot add; use "
    "`python -m async_auditor run` at the next restart.")

EPILOG = """\
examples:
  %(prog)s 4242
  %(prog)s 4242 --serve 0.0.0.0:9500 --block-threshold 0.1
  python -m async_auditor detach 4242

what it needs:
  - CPython 3.14 or newer, the same minor version here and in PID (run it
    with the service's own interpreter: /proc/PID/exe -m async_auditor ...);
  - async_auditor importable by the service (installed in its environment);
  - the right to read PID's memory: the same user (or root), and
    kernel.yama.ptrace_scope 0, or 1 with root / CAP_SYS_PTRACE;
  - remote debugging not disabled in PID (PYTHON_DISABLE_REMOTE_DEBUG,
    -X disable_remote_debug);
  - PID's main thread running Python now and then: the script runs at its
    next safe point (a loop in the main thread: its next wakeup).

Loop lag, blocking episodes with their culprit line, tasks and executors
are then measured as if install() had been called.  %(no_mw)s

exit status: 0 done, 1 refused or failed (the message says why), 64 usage.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, "%s: error: %s\n" % (self.prog, message))


class Refused(Exception):
    """The target cannot be attached to; the message says what to do."""


def parser(command, prog):
    if command == "attach":
        p = _Parser(prog=prog, formatter_class=argparse.
                    RawDescriptionHelpFormatter,
                    description="Load the async_auditor probe into the "
                    "running CPython 3.14+ process PID (PEP 768) and start "
                    "its exporter; the service is not restarted and its "
                    "code is not changed.",
                    epilog=EPILOG % {"prog": prog, "no_mw": NO_MIDDLEWARE})
        p.add_argument("--serve", metavar="ADDR", default=DEFAULT_SERVE,
                       help="exporter address host:port in PID (default "
                       "%(default)s); 'none' for no exporter")
        p.add_argument("--block-threshold", metavar="S",
                       help="blocking episode threshold, seconds (0.05)")
        p.add_argument("--lag-interval", metavar="S",
                       help="lag timer period, seconds (0.01)")
        p.add_argument("--no-stacks", action="store_true",
                       help="no stack capture (episodes without a line)")
    else:
        p = _Parser(prog=prog, description="Remove what `attach` loaded "
                    "into PID: close every probe, stop the exporter, "
                    "remove the hooks.  Exit status: 0 done, 1 refused or "
                    "failed, 64 usage.")
    p.add_argument("pid", metavar="PID", help="the service's process id")
    p.add_argument("--timeout", metavar="S", type=float, default=30.0,
                   help="how long to wait for PID to run the script "
                   "(default %(default)s s)")
    return p


# -- checks before sending anything ----------------------------------------

def _proc(pid, name):
    with open("/proc/%d/%s" % (pid, name), "rb") as f:
        return f.read()


def _has_cap_sys_ptrace():
    try:
        for line in _proc(os.getpid(), "status").decode().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 19))
    except (OSError, ValueError):
        pass
    return os.geteuid() == 0


def _target_uid(pid):
    for line in _proc(pid, "status").decode().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    return None


def _user(uid):
    try:
        import pwd
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except (ImportError, KeyError):
        return "uid %d" % uid


def _target_version(pid):
    """(major, minor) of the CPython running as pid, None if unknown."""
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        exe = ""
    m = re.search(r"python(\d)\.(\d+)", os.path.basename(exe))
    if m:
        return int(m.group(1)), int(m.group(2)), exe
    try:
        maps = _proc(pid, "maps").decode(errors="replace")
    except OSError:
        return None
    m = re.search(r"libpython(\d)\.(\d+)", maps)
    if m:
        return int(m.group(1)), int(m.group(2)), exe
    return None


def _ptrace_scope():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None  # no Yama: classic ptrace rules


def check(pid):
    """Raise Refused when attaching to pid cannot work, saying why and
    what to do; return a note on the target."""
    here = "%d.%d" % sys.version_info[:2]
    if not hasattr(sys, "remote_exec"):
        raise Refused(
            "attach needs CPython 3.14 or newer (PEP 768 sys.remote_exec); "
            "this is Python %s (%s). Run it with the service's own "
            "interpreter if that is 3.14+ (/proc/%d/exe -m async_auditor "
            "attach %d); for older services, restart them under "
            "`python -m async_auditor run -- COMMAND`."
            % (sys.version.split()[0], sys.executable, pid, pid))
    if not os.path.exists("/proc/%d" % pid):
        raise Refused("no process %d (exited? check the PID)" % pid)
    uids = _target_uid(pid)
    me = os.geteuid()
    if me != 0 and uids is not None and any(u != me for u in uids[:3]):
        raise Refused(
            "permission denied: process %d runs as %s and this is %s; "
            "attach as that user (sudo -u '#%d' ...) or as root"
            % (pid, _user(uids[1]), _user(me), uids[1]))
    scope = _ptrace_scope()
    cap = _has_cap_sys_ptrace()
    if scope == 3:
        raise Refused(
            "permission denied: kernel.yama.ptrace_scope is 3: no process "
            "may read another's memory until the next reboot (the setting "
            "cannot be lowered); restart the service under `python -m "
            "async_auditor run` instead")
    if scope == 2 and not cap:
        raise Refused(
            "permission denied: kernel.yama.ptrace_scope is 2: only root "
            "(CAP_SYS_PTRACE) may read another process's memory; run "
            "attach as root")
    version = _target_version(pid)
    if version is not None and "%d.%d" % version[:2] != here:
        raise Refused(
            "process %d runs Python %d.%d (%s) and this is %s: "
            "sys.remote_exec needs the same minor version on both sides. "
            "Run: %s -m async_auditor attach %d"
            % (pid, version[0], version[1], version[2] or "?", here,
               version[2] or "python%d.%d" % version[:2], pid))
    try:
        environ = _proc(pid, "environ").split(b"\0")
        cmdline = _proc(pid, "cmdline").split(b"\0")
    except OSError:
        environ = cmdline = []
    for var in environ:
        if var.startswith(b"PYTHON_DISABLE_REMOTE_DEBUG=") and \
                var.split(b"=", 1)[1]:
            raise Refused(
                "process %d disabled remote debugging "
                "(PYTHON_DISABLE_REMOTE_DEBUG is set in its environment): "
                "attach cannot work; restart it without that variable, or "
                "under `python -m async_auditor run`" % pid)
    for i, arg in enumerate(cmdline):
        if arg == b"disable_remote_debug" and i and cmdline[i - 1] == b"-X" \
                or arg == b"-Xdisable_remote_debug":
            raise Refused(
                "process %d disabled remote debugging (-X "
                "disable_remote_debug): attach cannot work; restart it "
                "without that option, or under `python -m async_auditor "
                "run`" % pid)
    return scope, cap


# -- sending the script and waiting ----------------------------------------

PAYLOAD = '''\
# Written by `python -m async_auditor %(command)s`; run once by
# sys.remote_exec in process %(pid)d, then deleted.
def _async_auditor_remote(status, command, options):
    try:
        from async_auditor import _remote
    except BaseException as e:
        import json, os, sys
        with open(status + ".tmp", "w") as f:
            json.dump({"ok": False, "import_error": "%%s: %%s" %% (
                type(e).__name__, e), "executable": sys.executable,
                "python": sys.version.split()[0]}, f)
        os.replace(status + ".tmp", status)
    else:
        _remote.run(status, command, options)
_async_auditor_remote(%(status)r, %(command)r, %(options)r)
del _async_auditor_remote
'''


def _private_dir(pid):
    """A directory only we and the target's user can use."""
    d = tempfile.mkdtemp(prefix="async-auditor-%d-" % pid)
    uids = _target_uid(pid)
    if os.geteuid() == 0 and uids and uids[1] != 0:
        os.chown(d, uids[1], -1)
    return d


def _explain_send_error(pid, e, scope, cap):
    text = str(e)
    if isinstance(e, PermissionError) or "ermission" in text or \
            "Operation not permitted" in text:
        if scope == 1 and not cap:
            return ("permission denied: kernel.yama.ptrace_scope is 1: "
                    "only a parent process, root or a holder of "
                    "CAP_SYS_PTRACE may read process %d's memory; run "
                    "attach as root (or `sysctl kernel.yama.ptrace_scope=0`"
                    ")" % pid)
        return ("permission denied reading process %d's memory (%s); run "
                "attach as the service's user or as root; in a container "
                "it also needs CAP_SYS_PTRACE" % (pid, text))
    if "not enabled" in text:
        return ("process %d disabled remote debugging "
                "(PYTHON_DISABLE_REMOTE_DEBUG or -X disable_remote_debug, or "
                "a build without it): restart it under `python -m "
                "async_auditor run` instead" % pid)
    if "PyRuntime" in text:
        return ("process %d is not a CPython %d.%d process (no PyRuntime "
                "found); attach works on CPython 3.14+ services run by the "
                "same minor version as this one" % ((pid,) +
                                                     sys.version_info[:2]))
    if "Can't send commands" in text:
        return "%s; run attach with the service's interpreter" % text
    return "sys.remote_exec(%d) failed: %s: %s" % (pid, type(e).__name__,
                                                   text)


def _wait(path, pid, timeout, say):
    t0 = time.monotonic()
    next_note = 3.0
    while True:
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        waited = time.monotonic() - t0
        if not os.path.exists("/proc/%d" % pid):
            raise Refused("process %d exited while we waited" % pid)
        if waited >= timeout:
            raise Refused(
                "process %d did not run the script within %.0f s. It runs "
                "when PID's main thread next executes Python code: a loop "
                "in the main thread that is idle runs it at its next "
                "wakeup (send it a request); a main thread parked in a C "
                "call (a join, a sleep) never does. Remote debugging may "
                "also be disabled there (-X disable_remote_debug). Nothing "
                "was changed in the process; --timeout waits longer"
                % (pid, timeout))
        if waited >= next_note:
            say("still waiting for process %d to run the script (%.0f s of "
                "%.0f s)..." % (pid, waited, timeout))
            next_note += 3.0
        time.sleep(0.05)


def send(pid, command, options, timeout, say):
    """Run command ("attach"/"detach") in pid; the status dict."""
    scope, cap = check(pid)
    d = _private_dir(pid)
    try:
        status_path = os.path.join(d, "status.json")
        script = os.path.join(d, "payload.py")
        with open(script, "w") as f:
            f.write(PAYLOAD % {"command": command, "pid": pid,
                               "status": status_path, "options": options})
        uids = _target_uid(pid)
        if os.geteuid() == 0 and uids and uids[1] != 0:
            os.chown(script, uids[1], -1)
        try:
            sys.remote_exec(pid, script)
        except Exception as e:
            raise Refused(_explain_send_error(pid, e, scope, cap)) from None
        say("sent to process %d; waiting for it to run the script" % pid)
        return _wait(status_path, pid, timeout, say)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _report_attach(pid, status):
    if "import_error" in status:
        raise Refused(
            "process %d cannot import async_auditor (%s; its Python is %s "
            "%s). Install async-auditor into the service's environment "
            "(pip install async-auditor, same interpreter), then attach "
            "again; nothing was changed in the process"
            % (pid, status["import_error"], status.get("executable"),
               status.get("python")))
    if not status.get("ok") and not status.get("loops"):
        raise Refused("attach in process %d (Python %s) failed: %s; nothing "
                      "is left installed there" % (
                          pid, status.get("python"), status.get("error")))
    lines = []
    for loop in status.get("loops", []):
        if loop.get("pending"):
            lines.append(
                "no event loop runs in process %d yet: the probe attaches "
                "to the next loop that starts in its thread %r"
                % (pid, loop.get("thread")))
        else:
            lines.append("probe installed on %s (%s mode) in thread %r"
                         % (loop["loop"], loop["mode"], loop["thread"]))
            if not loop.get("stacks_supported"):
                lines.append("(this CPython build has no stack capture: "
                             "episodes are measured without culprit lines)")
    if status.get("metrics"):
        lines.append("metrics: %s" % status["metrics"])
    lines.append(NO_MIDDLEWARE)
    lines.append("detach with: python -m async_auditor detach %d" % pid)
    if not status.get("ok"):
        raise Refused("attached to process %d (Python %s), but %s\n%s" % (
            pid, status.get("python"), status.get("error"),
            "\n".join(lines)))
    return "attached to process %d (Python %s)\n%s" % (
        pid, status.get("python"), "\n".join(lines))


def _report_detach(pid, status):
    if "import_error" in status:
        return ("process %d never loaded async_auditor: nothing to detach"
                % pid)
    if not status.get("ok"):
        raise Refused("detach in process %d failed: %s"
                      % (pid, status.get("error")))
    return ("detached from process %d: %d probe(s) closed, exporter "
            "stopped, hooks %s" % (pid, status["closed"], "removed"
                                   if status.get("hooks_removed")
                                   else "left inert (wrapped by other code)"))


def main(command, argv, prog):
    p = parser(command, prog)
    args = p.parse_args(argv)
    try:
        pid = int(args.pid)
        if pid <= 0:
            raise ValueError
    except ValueError:
        p.error("PID: expected a process id, got %r" % args.pid)
    if not args.timeout > 0:
        p.error("--timeout: expected seconds above 0")
    options = {}
    if command == "attach":
        from . import _settings
        try:
            for key in ("block_threshold", "lag_interval"):
                value = getattr(args, key)
                if value is not None:
                    options[key] = _settings.seconds(
                        value, "--" + key.replace("_", "-"))
        except ValueError as e:
            p.error(str(e))
        if args.no_stacks:
            options["stacks"] = False
        serve = args.serve.strip()
        if serve.lower() not in ("", "none", "off"):
            from ._install import parse_address
            try:
                parse_address(serve)
            except ValueError as e:
                p.error("--serve: %s" % e)
            options["serve"] = serve

    def say(text):
        sys.stderr.write("%s: %s\n" % (prog, text))

    try:
        status = send(pid, command, options, args.timeout, say)
        report = (_report_attach if command == "attach"
                  else _report_detach)(pid, status)
    except Refused as e:
        sys.stderr.write("%s: error: %s\n" % (prog, e))
        return EX_FAILED
    print(report)
    return EX_OK
