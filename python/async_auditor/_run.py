"""``python -m async_auditor run`` (console script ``async-auditor-run``):
run a service with the probe and no code change.

Why this module exists: the command line of the zero-code mode.  It checks
its options, turns them into ASYNC_AUDITOR_* variables, puts the bootstrap
directory (``_bootstrap``, holding only a sitecustomize.py) first on
PYTHONPATH, and replaces itself with COMMAND (exec: no extra process, so
signals, the PID and the exit status are the command's own).  Every Python
process COMMAND starts then probes the loops it runs (_autoinstrument).
"""

import argparse
import os
import sys

from . import _settings

__all__ = ["main"]

EX_USAGE = 64
EX_NOEXEC = 126
EX_NOTFOUND = 127

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "_bootstrap")
DEFAULT_SERVE = "127.0.0.1:9464"

DESCRIPTION = """\
Run COMMAND with the async_auditor probe in every Python process it starts
that runs an event loop: the server, each of its workers, a plain
`python service.py`.  Loop lag, utilization, blocking episodes with the
culprit line, tasks and executors are measured on the loop that actually
serves, whoever created it (asyncio.run, uvloop, uvicorn, hypercorn,
granian).  Starlette/FastAPI and aiohttp.web apps also get HTTP metrics by
route template.  Nothing in the service's code changes.

Processes that run no loop (a supervisor, a `python -c` helper) and
non-Python children are left alone: no thread, no port.  The exporter
starts in the first process that runs a loop."""

EPILOG = """\
examples:
  %(prog)s -- uvicorn app:app --workers 4
  %(prog)s --serve 0.0.0.0:9464 -- gunicorn -k uvicorn.workers.UvicornWorker \
      app:app
  %(prog)s -- hypercorn app:app
  %(prog)s -- granian --interface asgi app:app
  %(prog)s --block-threshold 0.1 -- python service.py
  ASYNC_AUDITOR_SERVE=:9500 %(prog)s -- python -m aiohttp.web app:make_app

then:
  curl -s http://127.0.0.1:9464/metrics
  async-auditor --scrape http://127.0.0.1:9464/metrics -- wrk -d30s URL

every option has an environment variable, read when the option is not
given (the command inherits them): ASYNC_AUDITOR_SERVE,
ASYNC_AUDITOR_BLOCK_THRESHOLD, ASYNC_AUDITOR_LAG_INTERVAL,
ASYNC_AUDITOR_IN_APP, ASYNC_AUDITOR_MIDDLEWARE=0, ASYNC_AUDITOR_STACKS=0.

exit status: COMMAND's own (run becomes COMMAND); 64 usage error (bad
option or variable), 126 COMMAND is not executable, 127 COMMAND not found.

Python processes started with -I or -E ignore PYTHONPATH and are not
probed; so are interpreters that cannot import async_auditor (each says so
on stderr).  Code that calls async_auditor.install() or instrument() keeps
working: nothing is installed twice."""


class _Parser(argparse.ArgumentParser):
    """argparse, with the usage exit status of sysexits.h (64)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, "%s: error: %s\n" % (self.prog, message))


def parser(prog):
    p = _Parser(prog=prog, description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                usage="%(prog)s [options] -- COMMAND [ARG...]")
    p.add_argument("--serve", metavar="ADDR",
                   help="exporter address host:port, served by the first "
                   "process that runs a loop (default: "
                   "$ASYNC_AUDITOR_SERVE, else %s)" % DEFAULT_SERVE)
    p.add_argument("--no-serve", action="store_true",
                   help="start no exporter (read the probe in-process, "
                   "e.g. with async_auditor.prometheus.ProbeCollector)")
    p.add_argument("--block-threshold", metavar="S",
                   help="a loop busy this long (seconds) is a blocking "
                   "episode (default 0.05)")
    p.add_argument("--lag-interval", metavar="S",
                   help="period of the lag timer in seconds (default 0.01)")
    p.add_argument("--in-app", metavar="SPEC",
                   help="which code is the application's own, for naming "
                   "culprit sites (passed as ASYNC_AUDITOR_IN_APP; see "
                   "docs/probe.md)")
    p.add_argument("--no-middleware", action="store_true",
                   help="do not add the HTTP middleware to "
                   "Starlette/FastAPI/aiohttp apps (loop metrics only)")
    p.add_argument("--no-stacks", action="store_true",
                   help="do not capture stacks: episodes without culprit "
                   "lines")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="the command to run, after --")
    return p


def _check_serve(value, what):
    from ._install import parse_address
    try:
        parse_address(value)
    except ValueError as e:
        raise ValueError("%s: %s (expected host:port such as "
                         "127.0.0.1:9464, or :9464)" % (what, e)) from None


def environment(args, env):
    """The environment for COMMAND: env plus the settings in args.
    ValueError (message starting with the option or variable) when a
    value is bad."""
    env = dict(env)
    names = _settings.ENV
    given = {
        "serve": args.serve,
        "block_threshold": args.block_threshold,
        "lag_interval": args.lag_interval,
        "in_app": args.in_app,
    }
    for key, value in given.items():
        option = "--" + key.replace("_", "-")
        if value is not None:
            env[names[key]] = value
            what = option
        else:
            what = names[key]
            value = env.get(what)
        if value is None or (key != "serve" and not value.strip()):
            continue
        if key in ("block_threshold", "lag_interval"):
            _settings.seconds(value, what)
        elif key == "serve" and value.strip():
            _check_serve(value, what)
    if args.no_serve:
        env[names["serve"]] = ""
    elif not env.get(names["serve"]):
        env[names["serve"]] = DEFAULT_SERVE
    for key, off in (("middleware", args.no_middleware),
                     ("stacks", args.no_stacks), ("uvloop_hook", False)):
        if off:
            env[names[key]] = "0"
        elif env.get(names[key], "").strip():
            _settings.flag(env[names[key]], names[key])
    env[_settings.AUTO] = "1"
    path = env.get("PYTHONPATH", "")
    parts = [p for p in path.split(os.pathsep) if p and p != BOOTSTRAP]
    env["PYTHONPATH"] = os.pathsep.join([BOOTSTRAP] + parts)
    return env


def main(argv=None, prog="async-auditor-run"):
    argv = sys.argv[1:] if argv is None else argv
    p = parser(prog)
    args = p.parse_args(argv)
    command = args.command
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        p.error("no command to run: put it after --, e.g. "
                "%s -- uvicorn app:app" % prog)
    try:
        env = environment(args, os.environ)
    except ValueError as e:
        p.error(str(e))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        sys.stderr.write("%s: error: command not found: %s\n"
                         % (prog, command[0]))
        return EX_NOTFOUND
    except PermissionError as e:
        sys.stderr.write("%s: error: cannot execute %s: %s\n"
                         % (prog, command[0], e.strerror))
        return EX_NOEXEC
    except OSError as e:
        sys.stderr.write("%s: error: cannot execute %s: %s\n"
                         % (prog, command[0], e.strerror or e))
        return EX_NOEXEC


if __name__ == "__main__":
    sys.exit(main())
