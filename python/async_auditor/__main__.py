"""``python -m async_auditor COMMAND``: the probe's command line.

Why this module exists: one entry point that dispatches to the
subcommands, each in its own module: ``run`` (_run: a service with the
probe and no code change), ``attach`` and ``detach`` (_attach: load the
probe into a running CPython 3.14+ process, and remove it).
"""

import sys

USAGE = """\
usage: python -m async_auditor COMMAND [options]

commands:
  run [options] -- COMMAND...   run a service with the probe, no code change
                                (also installed as `async-auditor-run`)
  attach PID [options]          load the probe into a running service
                                (CPython 3.14+, PEP 768), no restart
  detach PID                    remove it again

`python -m async_auditor COMMAND --help` explains each one.

examples:
  python -m async_auditor run --serve 127.0.0.1:9464 -- uvicorn app:app
  python -m async_auditor attach 4242 --serve 127.0.0.1:9464
  python -m async_auditor detach 4242

In code instead: async_auditor.install() inside the loop, or
async_auditor.fastapi.instrument(app) (docs/probe.md).
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write(USAGE)
        return 64
    if argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "run":
        from . import _run
        return _run.main(rest, prog="python -m async_auditor run")
    if command in ("attach", "detach"):
        from . import _attach
        return _attach.main(command, rest,
                            prog="python -m async_auditor " + command)
    sys.stderr.write("python -m async_auditor: error: unknown command %r "
                     "(run, attach, detach; see --help)\n" % command)
    return 64


if __name__ == "__main__":
    sys.exit(main())
