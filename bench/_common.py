"""Helpers shared by the benchmark scripts.

The scripts that write docs/benchmarks.md each own one "## ..." section of
it and rewrite only that, so that rerunning one benchmark leaves the
others' numbers alone.
"""

import os
import socket


def free_port():
    """A free TCP port on 127.0.0.1 (for a server the script starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_section(path, head, text):
    """Replaces the section of path whose heading line is head (up to the
    next "## " heading) with text, which starts with that heading; appends
    text when path has no such section, and creates path when missing."""
    if os.path.exists(path):
        with open(path) as f:
            doc = f.read()
    else:
        doc = ("# Benchmarks\n\nMeasured results of the project's "
               "benchmarks (`bench/`), one section per component.\n")
    lines = doc.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == head),
                 None)
    if start is None:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        end = next((i for i in range(start + 1, len(lines))
                    if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        doc = "".join(lines[:start]) + text + ("\n" + tail if tail else "")
    with open(path, "w") as f:
        f.write(doc)
