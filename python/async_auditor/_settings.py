"""The probe's settings that have an environment variable, parsed once.

Why this module exists: the same setting reaches the probe three ways —
an install() argument, an ``ASYNC_AUDITOR_*`` variable (zero-code mode,
containers), and an option of ``python -m async_auditor run`` — and each
must accept and refuse exactly the same values with the same message.
Light on purpose (os only): the zero-code bootstrap imports it into every
process.  The exporter address (``ASYNC_AUDITOR_SERVE``) is parsed by the
exporter's own code (``_install.parse_address``).
"""

import os

__all__ = ["ENV", "seconds", "flag", "block_threshold", "lag_interval",
           "stacks", "middleware", "uvloop_hook"]

#: option of ``run`` -> environment variable (the one list of them)
ENV = {
    "serve": "ASYNC_AUDITOR_SERVE",
    "block_threshold": "ASYNC_AUDITOR_BLOCK_THRESHOLD",
    "lag_interval": "ASYNC_AUDITOR_LAG_INTERVAL",
    "stacks": "ASYNC_AUDITOR_STACKS",
    "middleware": "ASYNC_AUDITOR_MIDDLEWARE",
    "in_app": "ASYNC_AUDITOR_IN_APP",
    "uvloop_hook": "ASYNC_AUDITOR_UVLOOP_HOOK",
}

#: set by ``run`` for the bootstrap: zero-code mode is on in this process
AUTO = "ASYNC_AUDITOR_AUTO"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def seconds(text, what):
    """A positive duration in seconds below an hour, from text; ValueError
    naming what (the option or variable) otherwise."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError("%s: expected seconds such as 0.05, got %r"
                         % (what, text)) from None
    if not 0 < value < 3600:
        raise ValueError("%s: expected seconds above 0 and below 3600, got %r"
                         % (what, text))
    return value


def flag(text, what):
    """A boolean from 1/0, true/false, yes/no, on/off."""
    word = str(text).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("%s: expected 1 or 0 (true/false, yes/no, on/off), "
                     "got %r" % (what, text))


def _from_env(key, parse, default):
    name = ENV[key]
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    return parse(text, name)


def block_threshold(value=None):
    """value, else $ASYNC_AUDITOR_BLOCK_THRESHOLD, else 0.05 s."""
    if value is not None:
        return seconds(value, "block_threshold")
    return _from_env("block_threshold", seconds, 0.05)


def lag_interval(value=None):
    """value, else $ASYNC_AUDITOR_LAG_INTERVAL, else 0.01 s."""
    if value is not None:
        return seconds(value, "lag_interval")
    return _from_env("lag_interval", seconds, 0.01)


def stacks(value=None):
    """value, else $ASYNC_AUDITOR_STACKS, else True."""
    if value is not None:
        return bool(value)
    return _from_env("stacks", flag, True)


def middleware():
    """$ASYNC_AUDITOR_MIDDLEWARE, else True: whether zero-code mode adds
    the HTTP middleware to Starlette/FastAPI and aiohttp apps."""
    return _from_env("middleware", flag, True)


def uvloop_hook():
    """$ASYNC_AUDITOR_UVLOOP_HOOK, else True: whether a uvloop loop is
    measured through its poll and callback hooks (else heartbeat mode)."""
    return _from_env("uvloop_hook", flag, True)
