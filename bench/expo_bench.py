#!/usr/bin/env python3
"""Scrape-mode benchmarks: exposition parse throughput and store memory.

1. Parse throughput of the C parser (aa_expo_parse, bench/expo_bench.c) on
   a large 0.0.4 exposition (>= 10k series, >= 1 MB), compared in the same
   run with prometheus_client's text_string_to_metric_families on the same
   text.  Goals: >= 50x faster and >= 100 MB/s.
2. Memory of one hour of 1 s scrapes of 2,000 series (bench/tsdb_mem.c:
   parse + store through scrape mode's path).  Goal: < 200 MB peak RSS.

The two C programs are compiled here against the core library of a
Meson build directory (--build, default build/).  Results go into the
"## Scrape mode" section of docs/benchmarks.md (other sections are left
alone) unless --no-write.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from _common import write_section

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAD = "## Scrape mode"


def exposition(nsets):
    """A probe-like exposition: per label set one 12-bucket HTTP histogram
    (14 series) and a few gauges and counters (4 series)."""
    les = ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5",
           "0.75", "1", "2.5", "+Inf"]
    out = ["# HELP http_server_request_duration_seconds Request duration.",
           "# TYPE http_server_request_duration_seconds histogram"]
    for i in range(nsets):
        lab = ('http_request_method="GET",http_route="/api/v1/items/%d",'
               'http_response_status_code="%d"' % (i, 200 + i % 3))
        cum = 0
        for j, le in enumerate(les):
            cum += (i * 7 + j * 13) % 101
            out.append('http_server_request_duration_seconds_bucket{%s,'
                       'le="%s"} %d' % (lab, le, cum))
        out.append("http_server_request_duration_seconds_sum{%s} %r"
                   % (lab, cum * 0.0371))
        out.append("http_server_request_duration_seconds_count{%s} %d"
                   % (lab, cum))
    for name, kind in (("python_asyncio_executor_pending", "gauge"),
                       ("python_asyncio_executor_busy_workers", "gauge"),
                       ("python_asyncio_block_site_seconds_total",
                        "counter"),
                       ("python_asyncio_tasks", "gauge")):
        out.append("# HELP %s A metric." % name)
        out.append("# TYPE %s %s" % (name, kind))
        for i in range(nsets):
            out.append('%s{executor="pool-%d",site="app/handlers.py:%d '
                       'handler_%d"} %r' % (name, i, i % 400, i,
                                            i * 1.25 + 0.5))
    return "\n".join(out) + "\n"


def compile_c(build, name, outdir):
    exe = os.path.join(outdir, name)
    lib = os.path.join(build, "src", "core", "libaa_core.a")
    text = os.path.join(build, "src", "text", "libaat.a")
    for need in (lib, text):
        if not os.path.exists(need):
            raise SystemExit("%s is missing: build first (make build)" % need)
    subprocess.run(["cc", "-O2", "-std=c11", "-D_GNU_SOURCE",
                    "-I" + os.path.join(REPO, "include"), "-I" + build,
                    os.path.join(REPO, "bench", name + ".c"), lib, text,
                    "-lyaml",
                    "-ljansson", "-lm", "-o", exe], check=True)
    return exe


def python_parse_seconds(text, runs):
    from prometheus_client.parser import text_string_to_metric_families
    best = None
    n = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        n = sum(len(f.samples) for f in text_string_to_metric_families(text))
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--sets", type=int, default=1200,
                    help="label sets in the exposition (18 series each)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--py-runs", type=int, default=3)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--scrapes", type=int, default=3600)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import prometheus_client
    from importlib.metadata import version
    pc_version = version("prometheus_client")
    with tempfile.TemporaryDirectory() as tmp:
        parse_exe = compile_c(args.build, "expo_bench", tmp)
        mem_exe = compile_c(args.build, "tsdb_mem", tmp)
        text = exposition(args.sets)
        path = os.path.join(tmp, "big.prom")
        with open(path, "w") as f:
            f.write(text)
        c = json.loads(subprocess.run([parse_exe, path, str(args.runs)],
                                      check=True, capture_output=True,
                                      text=True).stdout)
        py_s, py_n = python_parse_seconds(text, args.py_runs)
        if py_n != c["samples"]:
            raise SystemExit("sample counts differ: C %d, Python %d" %
                             (c["samples"], py_n))
        m = json.loads(subprocess.run(
            [mem_exe, str(args.series), str(args.scrapes)], check=True,
            capture_output=True, text=True).stdout)
    del prometheus_client
    mb = c["bytes"] / 1e6
    c_mbs = mb / c["median"]
    py_mbs = mb / py_s
    ratio = py_s / c["median"]
    rss_mb = m["maxrss_kb"] / 1024.0
    hours = args.scrapes / 3600.0
    section = """%s

`bench/expo_bench.py` (%s; %s, %d CPUs; C built -O2):

Parse throughput on one 0.0.4 exposition of %d series (%.2f MB: HTTP
histograms with three labels, gauges and counters with two), the C parser
(`aa_expo_parse`, median of %d parses) against prometheus_client %s's
`text_string_to_metric_families` (best of %d, all samples consumed), same
text, same run.

| measure | result | goal |
|---|---|---|
| C parser | %.1f ms, %.0f MB/s | >= 100 MB/s (%s) |
| prometheus_client parser | %.0f ms, %.1f MB/s | |
| speed-up | %.0fx | >= 50x (%s) |

Store memory: %d scrapes (%.2g h at 1 s) of %d series (a %d-set HTTP
histogram family with 10 buckets and a gauge family), each scrape parsed
from text and stored through scrape mode's path (label set, lookup,
append, staleness bookkeeping) by `bench/tsdb_mem.c`.

| measure | result | goal |
|---|---|---|
| points stored | %d | |
| peak RSS of the whole process | %.1f MB | < 200 MB (%s) |
| the store's own estimate | %.1f MB (%.1f bytes/point) | |
| feeding time (generating the text + parse + store) | %.1f s (%.2f ms per scrape of %d kB) | |
| p99 over the last 5 min at the end | %.1f ms | |

Reproduce: `make build && .venv/bin/python bench/expo_bench.py`.
""" % (HEAD, time.strftime("%Y-%m-%d"), platform.machine(),
       os.cpu_count() or 1, c["samples"], mb, args.runs, pc_version,
       args.py_runs, c["median"] * 1e3, c_mbs,
       "met" if c_mbs >= 100 else "missed", py_s * 1e3, py_mbs, ratio,
       "met" if ratio >= 50 else "missed", args.scrapes, hours,
       m["series"], (args.series // 12), m["points"], rss_mb,
       "met" if rss_mb < 200 else "missed", m["store_bytes"] / 1048576.0,
       m["store_bytes"] / max(m["points"], 1), m["feed_seconds"],
       m["feed_seconds"] * 1e3 / args.scrapes,
       m["text_bytes_per_scrape"] // 1024, m["p99_eval_seconds"] * 1e3)
    print(section)
    if not args.no_write:
        write_section(os.path.join(REPO, "docs", "benchmarks.md"), HEAD,
                      section)
        print("wrote docs/benchmarks.md (%s)" % HEAD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
