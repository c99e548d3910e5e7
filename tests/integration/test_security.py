"""The auditor against an attacker: a backend or exporter that wants the
secrets given for it sent elsewhere, or wants to write into the terminal
or the CI log, and a local user who can write into the directory a
recording goes to.

Why this exists: issue 10.  Each test drives the real binary against real
HTTP servers on 127.0.0.1 (two ports are two origins) and checks what the
attacker observes: which requests reached the second origin and with
which headers, which bytes reached standard output and error, whether a
planted symlink's target changed.  Run under ASan too (`-m faults`).
"""

import base64
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

import aa_servers
from aa_run import Result, assert_no_sanitizer_report
from aa_servers import Reply, default_answer

pytestmark = pytest.mark.faults

RULES = """\
version: 1
window: 5m
rules:
  - id: event_loop_starvation
    finding: Event-loop starvation detected
    metric: python_asyncio_loop_lag_seconds
    stat: p99
    by: [instance]
    warning: "> 50ms"
    critical: "> 250ms"
"""

GAUGE_RULES = """\
version: 1
rules:
  - id: task_count
    finding: Too many tasks
    metric: python_asyncio_tasks
    stat: max
    critical: "> 1000"
"""

WINDOW = ["--start", "1767228900", "--end", "1767229200"]

API_KEY = "key-7a6b5c4d-SECRET"
TENANT = "tenant-0e9d8c-SECRET"
TOKEN = "tok-1f2e3d4c-SECRET"
PASSWORD = "pw-8b7a6c5d-SECRET"
SECRETS = (API_KEY, TENANT, TOKEN, PASSWORD)

EXPOSITION = (b"# TYPE python_asyncio_tasks gauge\n"
              b"python_asyncio_tasks 7\n")


def is_query(req):
    return req.path.endswith(("/api/v1/query", "/api/v1/query_range"))


def redirect_to(url):
    return Reply("raw", status=302, body=b"", headers={"Location": url})


def target_url(req):
    """The path and query string of req, to redirect it unchanged."""
    from urllib.parse import urlencode
    q = urlencode([(k, v) for k, vs in req.params.items() for v in vs])
    return req.path + ("?" + q if q else "")


def secret_flags(tmp_path):
    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    return ["--header", "X-Api-Key: " + API_KEY,
            "--header", "X-Scope-OrgID: " + TENANT,
            "--bearer-token-file", str(tok)]


def assert_nothing_leaked(res):
    for s in SECRETS:
        assert s not in res.stdout, res
        assert s not in res.stderr, res


def assert_no_secret_received(fake):
    """No request reached fake carrying any secret (in practice: none
    reached it at all, the redirect is refused before connecting)."""
    for r in fake.requests:
        flat = json.dumps(r.headers) + r.path + json.dumps(r.params)
        for s in SECRETS:
            assert s not in flat, "secret %s reached %s: %r" % (
                s, fake.url, r.headers)
        assert "authorization" not in r.headers, r.headers


@pytest.fixture
def rules(rules_file):
    return rules_file(RULES)


@pytest.fixture
def other_origin():
    """The second origin: records whatever reaches it."""
    fake = aa_servers.FakeBackend(lambda req: Reply(
        "raw", body=EXPOSITION) if req.path.endswith("/metrics")
        else default_answer(req, 0.01))
    yield fake
    fake.close()


# ---- 1. secrets never follow a redirect to another origin -------------------

def test_target_cross_origin_redirect_is_refused(run_auditor, rules,
                                                 fake_backend, other_origin,
                                                 tmp_path):
    fake_backend.behaviour = lambda req: redirect_to(
        other_origin.url + target_url(req))
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--format", "json", "-v", "--retries", "1",
                      *secret_flags(tmp_path))
    assert res.returncode == 3, res
    assert other_origin.requests == [], [
        r.headers for r in other_origin.requests]
    assert "another origin (http://127.0.0.1:%d)" % other_origin.port \
        in res.stdout + res.stderr, res
    assert res.json()["rules"][0]["status"] == "error"
    # the origin did receive the secrets: they were given for it
    first = [r for r in fake_backend.requests if is_query(r)][0]
    assert first.headers.get("x-api-key") == API_KEY
    assert first.headers.get("authorization") == "Bearer " + TOKEN
    assert_nothing_leaked(res)


def test_target_cross_origin_redirect_basic_auth_and_userinfo(
        run_auditor, rules, fake_backend, other_origin):
    fake_backend.behaviour = lambda req: redirect_to(
        other_origin.url + target_url(req))
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--basic-auth-user", "alice",
                      env={"ASYNC_AUDITOR_PASSWORD": PASSWORD})
    assert res.returncode == 3, res
    url = fake_backend.url.replace("http://", "http://carol:%s@" % PASSWORD)
    res = run_auditor("--config", rules, "--target", url, *WINDOW)
    assert res.returncode == 3, res
    assert_no_secret_received(other_origin)
    assert other_origin.requests == []
    assert_nothing_leaked(res)


def test_target_same_origin_redirect_keeps_headers(run_auditor, rules,
                                                   fake_backend, tmp_path):
    def behaviour(req):
        if req.path.startswith("/moved/"):
            return default_answer(req, 0.01)
        return redirect_to("/moved" + target_url(req))
    fake_backend.behaviour = behaviour
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--format", "json", *secret_flags(tmp_path))
    assert res.returncode == 0, res
    assert res.json()["rules"][0]["status"] == "ok"
    moved = [r for r in fake_backend.requests
             if r.path.startswith("/moved/") and is_query(r)]
    assert moved
    for r in moved:
        assert r.headers.get("x-api-key") == API_KEY
        assert r.headers.get("x-scope-orgid") == TENANT
        assert r.headers.get("authorization") == "Bearer " + TOKEN
    assert_nothing_leaked(res)


def test_target_same_origin_redirect_keeps_url_credentials(
        run_auditor, rules, fake_backend):
    def behaviour(req):
        if req.path.startswith("/moved/"):
            return default_answer(req, 0.01)
        return redirect_to("/moved" + target_url(req))
    fake_backend.behaviour = behaviour
    url = fake_backend.url.replace("http://", "http://carol:%s@" % PASSWORD)
    res = run_auditor("--config", rules, "--target", url, *WINDOW)
    assert res.returncode == 0, res
    expected = "Basic " + base64.b64encode(
        ("carol:" + PASSWORD).encode()).decode()
    moved = [r for r in fake_backend.requests
             if r.path.startswith("/moved/") and is_query(r)]
    assert moved and all(r.headers.get("authorization") == expected
                         for r in moved)
    assert_nothing_leaked(res)


def test_redirect_loop_is_bounded(run_auditor, rules, fake_backend):
    fake_backend.behaviour = lambda req: redirect_to(target_url(req))
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--retries", "0", "--format", "json")
    assert res.returncode == 3, res
    assert "too many redirects" in res.stdout + res.stderr, res
    per_query = {}
    for r in fake_backend.requests:
        if is_query(r):
            per_query[r.param("query")] = per_query.get(
                r.param("query"), 0) + 1
    assert per_query and max(per_query.values()) == 6, per_query


def test_https_to_http_redirect_is_refused(run_auditor, rules, tmp_path,
                                           other_origin):
    cert, key = aa_servers.self_signed_cert(str(tmp_path), "server")

    def behaviour(req):
        return redirect_to(other_origin.url + target_url(req))
    with aa_servers.FakeBackend(behaviour,
                                tls={"cert": cert, "key": key}) as fake:
        res = run_auditor("--config", rules, "--target", fake.url, *WINDOW,
                          "--ca-file", cert, *secret_flags(tmp_path))
        assert fake.requests, res
    assert res.returncode == 3, res
    assert "from https to http" in res.stderr + res.stdout, res
    assert other_origin.requests == []
    assert_nothing_leaked(res)


def test_scrape_cross_origin_redirect_is_refused(run_auditor, rules_file,
                                                 fake_backend, other_origin,
                                                 tmp_path):
    fake_backend.behaviour = lambda req: redirect_to(
        other_origin.url + "/metrics")
    res = run_auditor("--config", rules_file(GAUGE_RULES), "--scrape",
                      fake_backend.url + "/metrics", "--duration", "1s",
                      "--interval", "500ms", *secret_flags(tmp_path))
    assert res.returncode == 3, res  # every scrape failed
    assert fake_backend.requests, res
    assert other_origin.requests == [], [
        r.headers for r in other_origin.requests]
    assert "another origin (http://127.0.0.1:%d)" % other_origin.port \
        in res.stderr, res
    assert_nothing_leaked(res)


def test_scrape_same_origin_redirect_keeps_headers(run_auditor, rules_file,
                                                   fake_backend, tmp_path):
    fake_backend.behaviour = lambda req: (
        Reply("raw", body=EXPOSITION) if req.path == "/real/metrics"
        else redirect_to("/real/metrics"))
    res = run_auditor("--config", rules_file(GAUGE_RULES), "--scrape",
                      fake_backend.url + "/metrics", "--duration", "1s",
                      "--interval", "500ms", "--format", "json",
                      *secret_flags(tmp_path))
    assert res.returncode == 0, res
    assert res.json()["scrapes"]["ok"] >= 2, res.stdout
    real = [r for r in fake_backend.requests if r.path == "/real/metrics"]
    assert real
    for r in real:
        assert r.headers.get("x-api-key") == API_KEY
        assert r.headers.get("authorization") == "Bearer " + TOKEN
    assert_nothing_leaked(res)


# ---- 2. --save-samples never writes through a planted name ------------------

def test_save_samples_ignores_planted_symlinks(auditor, rules_file,
                                               fake_backend, tmp_path):
    fake_backend.behaviour = lambda req: Reply("raw", body=EXPOSITION)
    outdir = tmp_path / "shared"
    outdir.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    rec = outdir / "run.om"
    env = dict(os.environ, NO_COLOR="1")
    p = subprocess.Popen(
        [auditor, "--config", rules_file(GAUGE_RULES), "--scrape",
         fake_backend.url + "/metrics", "--duration", "3s", "--interval",
         "500ms", "--save-samples", str(rec)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env)
    try:
        # the names an attacker can guess while the run lasts
        planted = [outdir / ("run.om.tmp%d" % p.pid), outdir / "run.om.tmp",
                   outdir / ("run.om.%d" % p.pid), outdir / "run.om~"]
        for name in planted:
            os.symlink(victim, name)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    res = Result([auditor], p.returncode, out.decode("utf-8", "replace"),
                 err.decode("utf-8", "replace"))
    assert_no_sanitizer_report(res)
    assert p.returncode == 0, res
    assert victim.read_text() == "precious\n"
    assert stat.S_ISREG(os.lstat(rec).st_mode)
    text = rec.read_text()
    assert "python_asyncio_tasks" in text and text.endswith("# EOF\n")
    for name in planted:
        assert os.path.islink(name)
    leftovers = [n for n in os.listdir(outdir) if ".tmp." in n]
    assert leftovers == []


def test_save_samples_replaces_a_symlink_at_the_path(run_auditor, rules_file,
                                                     fake_backend, tmp_path):
    fake_backend.behaviour = lambda req: Reply("raw", body=EXPOSITION)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    rec = tmp_path / "run.om"
    os.symlink(victim, rec)
    res = run_auditor("--config", rules_file(GAUGE_RULES), "--scrape",
                      fake_backend.url + "/metrics", "--duration", "1s",
                      "--interval", "500ms", "--save-samples", rec)
    assert res.returncode == 0, res
    assert victim.read_text() == "precious\n"
    assert not os.path.islink(rec) and "# EOF" in rec.read_text()


# ---- 3. output paths are checked before the run -----------------------------

OUTPUT_FLAGS = ["--json", "--junit", "--markdown", "--html",
                "--save-samples"]


@pytest.mark.parametrize("flag", OUTPUT_FLAGS)
def test_bad_output_path_fails_before_scraping(run_auditor, rules_file,
                                               fake_backend, tmp_path, flag):
    fake_backend.behaviour = lambda req: Reply("raw", body=EXPOSITION)
    bad = str(tmp_path / "no" / "such" / "dir" / "out")
    t0 = time.monotonic()
    res = run_auditor("--config", rules_file(GAUGE_RULES), "--scrape",
                      fake_backend.url + "/metrics", "--duration", "60s",
                      flag, bad, timeout=30)
    assert res.returncode == 64, res
    assert time.monotonic() - t0 < 20, res
    assert "%s %s" % (flag, bad) in res.stderr, res
    assert "No such file or directory" in res.stderr, res
    assert fake_backend.requests == []
    assert res.stdout == ""


@pytest.mark.parametrize("flag", OUTPUT_FLAGS[:4])
def test_bad_output_path_fails_before_querying(run_auditor, rules,
                                               fake_backend, tmp_path, flag):
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, flag, str(tmp_path))
    assert res.returncode == 64, res
    assert "%s %s: is a directory" % (flag, tmp_path) in res.stderr, res
    assert fake_backend.requests == []


def test_two_outputs_on_one_path_are_refused(run_auditor, rules,
                                             fake_backend, tmp_path):
    same = str(tmp_path / "report")
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--json", same, "--markdown", same)
    assert res.returncode == 64, res
    assert "--json and --markdown" in res.stderr, res
    assert fake_backend.requests == []


def vanishing_dir(tmp_path):
    """A directory the fake backend removes while answering: output paths
    in it pass the check before the run and fail when written after it
    (deterministic: the first request proves the check already ran)."""
    d = tmp_path / "vanishing"
    d.mkdir()
    return d


def removing(d, reply):
    def behaviour(req):
        shutil.rmtree(d, ignore_errors=True)
        return reply(req)
    return behaviour


def test_output_lost_after_run_keeps_the_others(run_auditor, rules,
                                                fake_backend, tmp_path):
    gone = vanishing_dir(tmp_path)
    fake_backend.behaviour = removing(
        gone, lambda req: default_answer(req, 0.01))
    lost = gone / "audit.json"
    junit = tmp_path / "junit.xml"
    md = tmp_path / "summary.md"
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--json", lost, "--junit", junit,
                      "--markdown", md, "--fail-on-critical")
    assert res.returncode == 3, res
    assert "%s: cannot write report: No such file or directory" % lost \
        in res.stderr, res
    assert "Runtime Status: HEALTHY" in res.stdout, res
    assert ET.parse(str(junit)).getroot().tag == "testsuites"
    assert "event_loop_starvation" in md.read_text()


def test_output_lost_after_run_keeps_a_breach_code(run_auditor, rules,
                                                   fake_backend, tmp_path):
    gone = vanishing_dir(tmp_path)
    fake_backend.behaviour = removing(
        gone, lambda req: default_answer(req, 0.9))
    junit = tmp_path / "junit.xml"
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--json", gone / "audit.json", "--junit",
                      junit, "--fail-on-critical")
    assert res.returncode == 2, res
    assert "audit.json: cannot write report" in res.stderr, res
    assert junit.exists()


def test_output_lost_after_run_outranks_a_failed_command(
        run_auditor, rules_file, fake_backend, tmp_path):
    """A failed "-- COMMAND" alone is exit 4; with a report lost too the
    run is incomplete, and 3 wins as the gate's own 3 does."""
    fake_backend.behaviour = lambda req: Reply("raw", body=EXPOSITION)
    args = ["--config", rules_file(GAUGE_RULES), "--scrape",
            fake_backend.url + "/metrics", "--interval", "500ms"]
    res = run_auditor(*args, "--", "sh", "-c", "sleep 1; exit 1")
    assert res.returncode == 4, res
    gone = vanishing_dir(tmp_path)
    fake_backend.behaviour = removing(
        gone, lambda req: Reply("raw", body=EXPOSITION))
    res = run_auditor(*args, "--json", gone / "audit.json", "--", "sh", "-c",
                      "sleep 1; exit 1")
    assert res.returncode == 3, res
    assert "audit.json: cannot write report" in res.stderr, res
    assert "Runtime Status:" in res.stdout, res


def test_save_samples_lost_after_run_keeps_the_report(run_auditor,
                                                      rules_file,
                                                      fake_backend, tmp_path):
    gone = vanishing_dir(tmp_path)
    fake_backend.behaviour = removing(
        gone, lambda req: Reply("raw", body=EXPOSITION))
    js = tmp_path / "audit.json"
    res = run_auditor("--config", rules_file(GAUGE_RULES), "--scrape",
                      fake_backend.url + "/metrics", "--duration", "1s",
                      "--interval", "500ms", "--save-samples",
                      gone / "run.om", "--json", js)
    assert res.returncode == 3, res
    assert "run.om" in res.stderr
    assert json.loads(js.read_text())["status"] == "HEALTHY"


# ---- 4. backend text cannot drive the terminal or the CI log ----------------

HOSTILE = ("\x1b[2J\x1b]0;owned\x07 clear\n::error::pwned-v2\r\n"
           "  ::warning title=x::indented\u009b31m ##[error]pwned-v1 "
           "##[stop-commands]tok")


def run_raw(auditor, *args, timeout=60):
    """(returncode, stdout bytes, stderr bytes) of a run."""
    env = dict(os.environ, NO_COLOR="1")
    env.pop("ASYNC_AUDITOR_PASSWORD", None)
    p = subprocess.run([auditor] + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       env=env, timeout=timeout)
    assert_no_sanitizer_report(Result(
        [auditor], p.returncode, p.stdout.decode("utf-8", "replace"),
        p.stderr.decode("utf-8", "replace")))
    return p.returncode, p.stdout, p.stderr


def assert_log_safe(data, own_commands=()):
    """data (bytes) is valid UTF-8 with no ESC, no C1 control, no legacy
    "##[" command and no line that starts (after blanks, as the runner
    reads it) with "::" other than the tool's own annotations."""
    text = data.decode("utf-8")  # strict: raises on invalid UTF-8
    assert "\x1b" not in text
    assert not re.search("[\u0080-\u009f]", text), text
    assert "##[" not in text, text
    assert "\r" not in text, text
    for line in text.split("\n"):
        s = line.lstrip()
        if s.startswith("::"):
            assert s.startswith(own_commands) and own_commands, line
            assert "pwned" not in s.split("::")[1], line


def hostile_backend(fake):
    def behaviour(req):
        if not is_query(req):
            return default_answer(req, 0.01)
        q = req.param("query") or ""
        if "python_asyncio_loop_lag_seconds" in q and "site" not in q:
            doc = default_answer(req, 0.9).doc
            doc["warnings"] = ["warn " + HOSTILE]
            doc["infos"] = ["info " + HOSTILE]
            return Reply("json", doc=doc)
        return Reply("json", status=500, doc={
            "status": "error", "errorType": "internal",
            "error": "err " + HOSTILE})
    fake.behaviour = behaviour


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_backend_text_is_sanitised(auditor, rules_file, fake_backend, fmt):
    rules = rules_file(RULES + """\
  - id: second
    finding: Second rule
    metric: python_asyncio_tasks
    stat: max
    critical: "> 1000"
""")
    hostile_backend(fake_backend)
    rc, out, err = run_raw(auditor, "--config", rules, "--target",
                           fake_backend.url, *WINDOW, "-v", "--retries",
                           "0", "--format", fmt)
    assert rc == 0, (out, err)
    own = ("::error title=async-auditor ", "::warning title=async-auditor ",
           "::notice title=async-auditor ") if fmt == "github" else ()
    assert_log_safe(err)
    assert_log_safe(out, own)
    # the text is still there, made visible
    assert b"warn \\x1b[2J" in err, err
    assert b"info \\x1b[2J" in err, err
    assert b"##\\x5berror]pwned-v1" in err, err
    if fmt == "github":
        assert b"::error title=async-auditor event_loop_starvation" in out


def test_backend_error_of_a_rejected_query_is_sanitised(auditor, rules,
                                                       fake_backend):
    fake_backend.behaviour = lambda req: Reply("json", status=400, doc={
        "status": "error", "errorType": "bad_data",
        "error": "parse error " + HOSTILE}) if is_query(req) else \
        default_answer(req)
    rc, out, err = run_raw(auditor, "--config", rules, "--target",
                           fake_backend.url, *WINDOW)
    assert rc == 78, (out, err)
    assert_log_safe(err)
    assert_log_safe(out)
    assert b"parse error \\x1b[2J" in err


def test_exporter_text_is_sanitised(auditor, rules_file, fake_backend):
    """Scrape mode: a malformed exposition carrying escapes and invalid
    UTF-8 is named in a warning, made safe."""
    fake_backend.behaviour = lambda req: Reply(
        "raw", body=b"python_asyncio_tasks 1\x1b[2J\xff\xfe\xc2\x9b"
                    b"##[error]pwned\n")
    rc, out, err = run_raw(auditor, "--config", rules_file(GAUGE_RULES),
                           "--scrape", fake_backend.url + "/metrics",
                           "--duration", "1s", "--interval", "500ms", "-v")
    assert rc == 3, (out, err)  # every scrape failed
    assert b"malformed exposition" in err, err
    assert b"1\\x1b[2J\\xff\\xfe\\x9b##\\x5berror]pwned" in err, err
    assert_log_safe(err)
    assert_log_safe(out)


# ---- 9. only regular files are read, with a bound ---------------------------

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


def test_rules_lint_refuses_a_fifo(run_auditor, fifo):
    t0 = time.monotonic()
    res = run_auditor("rules", "lint", fifo, timeout=20)
    assert res.returncode == 78, res
    assert time.monotonic() - t0 < 15
    assert "%s: the rule file is a FIFO, not a regular file" % fifo \
        in res.stderr, res


@pytest.mark.parametrize("flags,code,what", [
    (["--config", "{fifo}", "--target", "{url}"], 78, "rule file"),
    (["--target", "{url}", "--bearer-token-file", "{fifo}"], 64, "file"),
    (["--target", "{url}", "--basic-auth-user", "u",
      "--basic-auth-password-file", "{fifo}"], 64, "file"),
    (["--samples", "{fifo}"], 64, "recording"),
])
def test_inputs_refuse_a_fifo(run_auditor, fake_backend, fifo, flags, code,
                              what):
    args = [a.format(fifo=fifo, url=fake_backend.url) for a in flags]
    res = run_auditor(*args, timeout=20)
    assert res.returncode == code, res
    assert "%s: the %s is a FIFO, not a regular file" % (fifo, what) \
        in res.stderr, res
    assert fake_backend.requests == []


def test_rule_file_directory_and_size(run_auditor, tmp_path):
    res = run_auditor("rules", "lint", tmp_path)
    assert res.returncode == 78, res
    assert "the rule file is a directory, not a regular file" in res.stderr
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (5 * 1024 * 1024 // 10))
    res = run_auditor("rules", "lint", big)
    assert res.returncode == 78, res
    assert "the rule file is larger than 4194304 bytes" in res.stderr, res


def test_rule_file_through_a_symlink_is_read(run_auditor, rules, tmp_path):
    link = tmp_path / "link.yaml"
    os.symlink(rules, link)
    res = run_auditor("rules", "lint", link)
    assert res.returncode == 0, res


def test_secret_files_are_bounded(run_auditor, rules, fake_backend,
                                  tmp_path):
    big = tmp_path / "password"
    big.write_text("p" * (64 * 1024 + 1))
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--basic-auth-user", "u",
                      "--basic-auth-password-file", big)
    assert res.returncode == 64, res
    assert "the file is larger than 65536 bytes" in res.stderr, res
    assert "ppppp" not in res.stderr
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, "--bearer-token-file", "/dev/zero")
    assert res.returncode == 64, res
    assert "is a character device, not a regular file" in res.stderr, res
    assert fake_backend.requests == []
