"""One exporter for all workers.

The app of apps/workers_app.py (instrument(app, serve=ADDR), exactly as
the README shows) under the real servers, each with several worker
processes: uvicorn --workers, gunicorn with UvicornWorker (with and
without --preload, workers recycled by --max-requests), hypercorn -w and
granian --workers.  Every worker binds the same exporter address and
answers for all of them, so whichever answers a scrape, the sum over the
worker series is every request's episode, there is one worker label per
live worker, and culprit sites stay per worker.  A worker killed with
SIGKILL (the first one that bound) leaves every counter monotonic, its
counters exported and its gauges gone.

Servers run in their own session and are stopped by process group; the
group directory is in tmp_path (ASYNC_AUDITOR_MULTIPROC_DIR)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import HERE, free_port, parse_metrics, wait_port

APPS = os.path.join(HERE, "apps")
THRESHOLD = "0.2"  # seconds; a request blocks BLOCK > THRESHOLD once
BLOCK = "0.3"
COUNTERS = ("_total", "_count", "_sum", "_bucket")


def command(server, workers, port, extra=()):
    py = sys.executable
    if server == "uvicorn":
        return [py, "-m", "uvicorn", "workers_app:app", "--host",
                "127.0.0.1", "--port", str(port), "--workers", str(workers),
                "--log-level", "warning"]
    if server == "gunicorn":
        return [py, "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker",
                "-w", str(workers), "-b", "127.0.0.1:%d" % port,
                "--graceful-timeout", "5", *extra, "workers_app:app"]
    if server == "hypercorn":
        return [py, "-m", "hypercorn", "-w", str(workers), "--bind",
                "127.0.0.1:%d" % port, "workers_app:app"]
    return [py, "-m", "granian", "--interface", "asgi", "--host",
            "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--respawn-failed-workers", "--respawn-interval", "0.5",
            "workers_app:app"]


def children(pid):
    """Pids whose parent is pid."""
    out = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(name))
    return out


class Server:
    """A server under test with its exporter address and group dir."""

    def __init__(self, tmp_path, server, workers, extra=()):
        self.port, self.mport = free_port(), free_port()
        self.workers = workers
        self.log = open(tmp_path / ("%s.log" % server), "wb")
        env = dict(os.environ)
        env.update({
            "AA_METRICS_ADDR": "127.0.0.1:%d" % self.mport,
            "ASYNC_AUDITOR_MULTIPROC_DIR": str(tmp_path / "group"),
            "ASYNC_AUDITOR_BLOCK_THRESHOLD": THRESHOLD,
            "AA_BLOCK_SECONDS": BLOCK,
            "PYTHONUNBUFFERED": "1",
        })
        env.pop("ASYNC_AUDITOR_SERVE", None)
        self.proc = subprocess.Popen(
            command(server, workers, self.port, extra), cwd=APPS, env=env,
            stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.logpath = tmp_path / ("%s.log" % server)

    def output(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(10)
        self.log.close()

    def scrape(self, wait=30):
        """(samples, text) from whichever worker answers, retrying for up
        to `wait` seconds: while every worker is being replaced at once
        (gunicorn's --max-requests recycling both), nobody holds the
        address until a new worker has started, which takes seconds on a
        loaded machine."""
        last = None
        deadline = time.monotonic() + wait
        while True:
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/metrics" % self.mport,
                        timeout=10) as r:
                    text = r.read().decode()
                return parse_metrics(text), text
            except (OSError, urllib.error.URLError) as e:
                last = e  # a connection queued at a dying worker's socket
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        raise AssertionError("no scrape: %s\n%s" % (last, self.output()))

    def block(self):
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/block" % self.port, timeout=30) as r:
            return json.loads(r.read())["pid"]

    def live_workers(self, samples):
        return {l["worker"] for n, l, _ in samples
                if n == "python_asyncio_probe_info"}

    def wait_workers(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        seen = set()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                seen = self.live_workers(self.scrape()[0])
            except AssertionError:
                seen = set()
            if len(seen) >= count:
                return seen
            time.sleep(0.3)
        raise AssertionError("%d of %d workers exporting\n%s"
                             % (len(seen), count, self.output()))


def start(tmp_path, server, workers, extra=()):
    pytest.importorskip(server)
    s = Server(tmp_path, server, workers, extra)
    try:
        wait_port(s.port, proc=s.proc, timeout=60)
        wait_port(s.mport, proc=s.proc, timeout=60)
        s.wait_workers(workers)
    except BaseException:
        out = s.output()
        s.stop()
        raise AssertionError(out)
    return s


def replaces_dead_workers(server):
    """Whether the server starts a new worker when one is killed: uvicorn
    does since 0.30 (its multiprocess supervisor), gunicorn and granian
    always do."""
    if server != "uvicorn":
        return True
    import uvicorn
    major, minor = (int(x) for x in uvicorn.__version__.split(".")[:2])
    return (major, minor) >= (0, 30)


def drive(s, pids, least, spread, limit=40):
    """Blocking requests, one at a time (so each is its own busy stretch),
    until at least `least` were sent and `spread` workers served one."""
    for _ in range(limit):
        if len(pids) >= least and len(set(pids)) >= spread:
            return
        pids.append(s.block())
    raise AssertionError("requests did not spread over %d workers: %r"
                         % (spread, pids))


EPISODES = "python_asyncio_loop_block_duration_seconds_count"


def settled(s, timeout=30):
    """Episodes per worker once start-up is over (a worker starting on a
    loaded machine can block its loop past the threshold before it serves
    anything): the same in two scrapes a second apart."""
    deadline = time.monotonic() + timeout
    prev = None
    while time.monotonic() < deadline:
        samples, _ = s.scrape()
        now = {l["worker"]: v for n, l, v in samples if n == EPISODES}
        if now == prev:
            return now
        prev = now
        time.sleep(1.0)
    raise AssertionError("episodes still changing: %r" % prev)


def settle(s, expected, timeout=30):
    """An episode is recorded when its worker's loop next waits for I/O,
    a moment after the response left: wait for the last request's (on a
    loaded machine that moment may come seconds later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples, _ = s.scrape()
        if total(samples, EPISODES) >= expected:
            return
        time.sleep(0.05)


def total(samples, name, **labels):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == w for k, w in labels.items()))


KINDS = {"blocking": EPISODES,
         "saturation": "python_asyncio_loop_saturation_duration_seconds_count",
         "starved": "python_asyncio_loop_starved_duration_seconds_count",
         "gil": "python_asyncio_loop_gil_wait_duration_seconds_count"}


def episode_kinds(samples):
    """{worker: {kind: episodes}}: what a failed count became instead."""
    out = {}
    for n, l, v in samples:
        for kind, name in KINDS.items():
            if n == name:
                out.setdefault(l.get("worker"), {})[kind] = v
    return out


def check(samples, base, sent, pids, alive):
    """Every episode, once; one probe_info per live worker; sites per
    worker."""
    assert total(samples, EPISODES) == sum(base.values()) + sent, (
        episode_kinds(samples), pids, base)
    assert total(samples, "http_server_request_duration_seconds_count",
                 http_route="/block") == sent
    workers = {l["worker"] for n, l, _ in samples
               if n == "python_asyncio_probe_info"}
    assert workers == {str(p) for p in alive}, (workers, alive)
    for pid in set(pids):
        episodes = total(samples, EPISODES, worker=str(pid))
        assert episodes == base.get(str(pid), 0) + pids.count(pid), (
            pid, episodes, pids, base)
        sites = [l["site"] for n, l, v in samples
                 if n == "python_asyncio_block_site_seconds_total"
                 and l["worker"] == str(pid) and v > 0]
        if sites:  # stack capture needs CPython 3.11-3.13
            # (a worker's first request may also charge the imports it
            # triggers to their own sites)
            assert any("workers_app.py" in x and x.endswith(" block")
                       for x in sites), sites


class Monotonic:
    """Every counter, histogram bucket, sum and count never decreases
    from one scrape to the next."""

    def __init__(self):
        self.last = {}

    def add(self, samples):
        for n, l, v in samples:
            if not n.endswith(COUNTERS):
                continue
            key = (n, tuple(sorted(l.items())))
            if key in self.last:
                assert v >= self.last[key], (key, self.last[key], v)
            self.last[key] = v


def promtool(text):
    if shutil.which("promtool") is None:
        return
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


@pytest.mark.slow
@pytest.mark.parametrize("server,workers,extra", [
    ("uvicorn", 2, ()),
    ("uvicorn", 4, ()),
    ("gunicorn", 3, ()),
    ("gunicorn", 3, ("--preload",)),
    ("hypercorn", 2, ()),
    ("granian", 2, ()),
], ids=["uvicorn-2", "uvicorn-4", "gunicorn-3", "gunicorn-3-preload",
        "hypercorn-2", "granian-2"])
def test_one_exporter_for_all_workers(tmp_path, server, workers, extra):
    s = start(tmp_path, server, workers, extra)
    try:
        alive = {int(w) for w in s.wait_workers(workers)}
        base = settled(s)
        pids = []
        drive(s, pids, least=6, spread=2)
        settle(s, sum(base.values()) + len(pids))
        mono = Monotonic()
        for _ in range(6):
            samples, text = s.scrape()
            mono.add(samples)
            check(samples, base, len(pids), pids, alive)
        promtool(text)
        assert alive <= children(s.proc.pid)
    finally:
        s.stop()


@pytest.mark.slow
@pytest.mark.parametrize("server,workers", [
    ("uvicorn", 2), ("gunicorn", 3), ("granian", 2)])
def test_kill_9_keeps_counters_monotonic(tmp_path, server, workers):
    s = start(tmp_path, server, workers)
    try:
        alive = {int(w) for w in s.wait_workers(workers)}
        base = settled(s)
        pids = []
        drive(s, pids, least=4, spread=2)
        settle(s, sum(base.values()) + len(pids))
        mono = Monotonic()
        before, _ = s.scrape()
        mono.add(before)
        # the first worker that bound, among those that served requests
        victim = min(set(pids))
        kept = total(before, EPISODES, worker=str(victim))
        assert kept == base.get(str(victim), 0) + pids.count(victim)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            samples, text = s.scrape()
            mono.add(samples)
            if str(victim) not in s.live_workers(samples):
                break
            time.sleep(0.2)
        # dead: its gauges are gone, its counters stay
        assert str(victim) not in s.live_workers(samples)
        assert not [l for n, l, _ in samples
                    if n == "python_asyncio_loop_current_block_seconds"
                    and l["worker"] == str(victim)]
        assert total(samples, EPISODES, worker=str(victim)) == kept
        # the others (and a replacement, where the server starts one) go
        # on; every scrape still counts every episode exactly once
        # (hypercorn is not here: it stops every worker when one dies)
        others = alive - {victim}
        # the server replaces the dead worker, except uvicorn before 0.30,
        # whose supervisor does not restart workers
        s.wait_workers(workers if replaces_dead_workers(server)
                       else workers - 1)
        base2 = settled(s)
        start_total = sum(base2.values())
        more = []
        drive(s, more, least=3, spread=1)
        settle(s, start_total + len(more))
        for _ in range(5):
            samples, text = s.scrape()
            mono.add(samples)
            assert total(samples, EPISODES) == start_total + len(more)
        assert total(samples, EPISODES, worker=str(victim)) == kept
        assert others <= {int(w) for w in s.live_workers(samples)}
        promtool(text)
    finally:
        s.stop()


@pytest.mark.slow
def test_gunicorn_max_requests_recycles_workers(tmp_path):
    s = start(tmp_path, "gunicorn", 2,
              ("--max-requests", "3", "--max-requests-jitter", "0"))
    try:
        s.wait_workers(2)
        base = settled(s)
        pids = []
        mono = Monotonic()
        # 10 requests: each worker is recycled after 3 (a new worker's
        # start-up may add an episode of its own: at least every request)
        for _ in range(10):
            pids.append(s.block())
            settle(s, sum(base.values()) + len(pids))
            samples, _ = s.scrape()
            mono.add(samples)
            assert total(samples, EPISODES) >= sum(base.values()) + len(pids)
        assert len(set(pids)) > 2, pids  # workers were replaced
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            samples, text = s.scrape()
            mono.add(samples)
            if len(s.live_workers(samples)) == 2:
                break
            time.sleep(0.2)
        assert len(s.live_workers(samples)) == 2
        # the recycled workers' episodes are all still counted
        for pid in set(pids):
            assert total(samples, EPISODES, worker=str(pid)) >= pids.count(
                pid), (pid, pids)
        promtool(text)
    finally:
        s.stop()
