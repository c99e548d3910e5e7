"""Fault injection: the auditor against a backend that misbehaves.

Why this exists: a CI gate meets dead, slow, overloaded and broken
backends.  For each fault the auditor must say clearly what failed and
where (the URL), exit with the documented code (3: the audit could not be
completed), never crash, never hang (every run has a subprocess timeout)
and never leak (the ASan stage reruns this module, `-m faults`, with a
sanitizer build: run_auditor fails on any sanitizer report).  The access
options are tested here too: the fake backend asserts it RECEIVED the
credentials, and no output ever shows them, -v included.
"""

import base64
import json
import re
import shutil

import pytest

import aa_servers
from aa_servers import Reply, default_answer
from aa_run import assert_no_sanitizer_report, Result

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

TWO_RULES = RULES + """\
  - id: busy_loop
    finding: Event loop saturated
    metric: python_asyncio_loop_busy_seconds_total
    stat: rate
    critical: "> 90%"
"""

WINDOW = ["--start", "1767228900", "--end", "1767229200"]
HANG = 60  # seconds: beyond this the auditor is considered hung


def is_query(req):
    return req.path.endswith(("/api/v1/query", "/api/v1/query_range"))


def only_queries(reply_for_query, value=0.01):
    """A behaviour that answers query endpoints with reply_for_query(req)
    and everything else (series lookups, build info) normally."""
    def behaviour(req):
        if is_query(req):
            return reply_for_query(req)
        return default_answer(req, value)
    return behaviour


def rule_queries(fake):
    """The queries the rule itself sent (the auditor may send auxiliary
    ones, e.g. for culprit sites)."""
    return [q for q in fake.queries()
            if "python_asyncio_loop_lag_seconds" in (q or "")]


def messages(res):
    """stderr plus each rule's message from a JSON report (the report's
    `target` field is left out: naming the URL must happen in the
    diagnostic itself)."""
    text = res.stderr
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        return text + res.stdout
    for r in doc.get("rules", []):
        text += "\n" + (r.get("message") or "")
    return text


def rule_statuses(res):
    return {r["id"]: r["status"] for r in res.json()["rules"]}


@pytest.fixture
def rules(rules_file):
    return rules_file(RULES)


def audit(run_auditor, rules, url, *extra, timeout=HANG, env=None):
    return run_auditor("--config", rules, "--target", url, *WINDOW,
                       "--format", "json", *extra, timeout=timeout, env=env)


# ---- a healthy fake: the baseline every fault is compared with --------------

def test_healthy_fake_backend(run_auditor, rules, fake_backend):
    fake_backend.behaviour = only_queries(
        lambda req: default_answer(req, 0.01))
    res = audit(run_auditor, rules, fake_backend.url, "--fail-on-warning")
    assert res.returncode == 0, res
    assert rule_statuses(res) == {"event_loop_starvation": "ok"}
    assert len(fake_backend.queries()) >= 1


# ---- unreachable ------------------------------------------------------------

@pytest.mark.parametrize("flags", [[], ["--fail-on-critical"],
                                   ["--allow-unknown"]])
def test_connection_refused(run_auditor, rules, flags):
    url = aa_servers.closed_port_url()
    res = audit(run_auditor, rules, url, "--retries", "1", *flags)
    assert res.returncode == 3, res
    text = messages(res)
    assert url.split("//")[1] in text, res
    assert re.search(r"refused|connect", text, re.I), res


def test_timeout(run_auditor, rules, fake_backend):
    fake_backend.behaviour = only_queries(
        lambda req: Reply("sleep", seconds=20,
                          then=default_answer(req, 0.01)))
    res = audit(run_auditor, rules, fake_backend.url, "--timeout", "1s",
                "--retries", "1")
    assert res.returncode == 3, res
    assert rule_statuses(res) == {"event_loop_starvation": "error"}
    text = messages(res)
    assert re.search(r"time(d)? ?out", text, re.I), res
    assert "127.0.0.1:%d" % fake_backend.port in text, res
    # timeouts are retried: first attempt + 1 retry
    assert len(rule_queries(fake_backend)) == 2


def test_slow_trickle_is_a_timeout(run_auditor, rules, fake_backend):
    fake_backend.behaviour = only_queries(
        lambda req: Reply("trickle", length=1000, interval=0.1,
                          seconds=30))
    res = audit(run_auditor, rules, fake_backend.url, "--timeout", "1s",
                "--retries", "0")
    assert res.returncode == 3, res
    assert rule_statuses(res) == {"event_loop_starvation": "error"}
    text = messages(res)
    assert re.search(r"time(d)? ?out", text, re.I), res
    assert "127.0.0.1:%d" % fake_backend.port in text, res


# ---- HTTP errors ------------------------------------------------------------

def test_http_500(run_auditor, rules, fake_backend):
    fake_backend.behaviour = only_queries(lambda req: Reply(
        "json", status=500, doc={"status": "error", "errorType": "internal",
                                 "error": "storage exploded"}))
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "0")
    assert res.returncode == 3, res  # every query failed
    assert rule_statuses(res) == {"event_loop_starvation": "error"}
    text = messages(res)
    assert "500" in text or "storage exploded" in text, res
    assert "127.0.0.1:%d" % fake_backend.port in text, res


def test_503_then_success_is_retried(run_auditor, rules, fake_backend):
    seen = {}

    def reply(req):
        q = req.param("query")
        seen[q] = seen.get(q, 0) + 1
        if seen[q] == 1:
            return Reply("json", status=503, doc={
                "status": "error", "errorType": "unavailable",
                "error": "try again"})
        return default_answer(req, 0.01)
    fake_backend.behaviour = only_queries(reply)
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "2",
                "--fail-on-warning")
    assert res.returncode == 0, res
    assert rule_statuses(res) == {"event_loop_starvation": "ok"}
    assert len(rule_queries(fake_backend)) == 2


def test_429_with_retry_after_is_retried(run_auditor, rules, fake_backend):
    seen = {}

    def reply(req):
        q = req.param("query")
        seen[q] = seen.get(q, 0) + 1
        if seen[q] == 1:
            return Reply("json", status=429, headers={"Retry-After": "1"},
                         doc={"status": "error", "errorType": "unavailable",
                              "error": "too many requests"})
        return default_answer(req, 0.01)
    fake_backend.behaviour = only_queries(reply)
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "1",
                "--fail-on-warning")
    assert res.returncode == 0, res
    assert len(rule_queries(fake_backend)) == 2


def test_retry_waiting_for_a_free_slot_does_not_spin(run_auditor,
                                                      rules_file,
                                                      fake_backend):
    """More queries than open transfers (48): a retry that falls due while
    every slot is taken by a slow query waits for a slot without burning
    CPU (the wait lasts about 2 s; a busy loop costs about that in CPU)."""
    text = "version: 1\nwindow: 5m\nrules:\n"
    for i in range(60):
        text += ("  - id: r%d\n    finding: f%d\n    query: 'vector(%d)'\n"
                 "    critical: \"> 1000\"\n" % (i, i, i))
    path = rules_file(text)
    seen = {}

    def reply(req):
        q = req.param("query")
        seen[q] = seen.get(q, 0) + 1
        if q == "vector(0)" and seen[q] == 1:
            return Reply("json", status=503, doc={
                "status": "error", "errorType": "unavailable",
                "error": "try again"})
        if q == "vector(0)":
            return default_answer(req, 0.01)
        return Reply("sleep", seconds=2, then=default_answer(req, 0.01))
    fake_backend.behaviour = only_queries(reply)
    res = audit(run_auditor, path, fake_backend.url, "--retries", "1",
                "--fail-on-warning")
    assert res.returncode == 0, res
    assert seen["vector(0)"] == 2
    assert res.cpu_seconds < 1.0, res.cpu_seconds


def test_target_with_path_prefix(run_auditor, rules, fake_backend):
    """Mimir, Cortex and route-prefixed Prometheus serve the API under a
    path: it is kept, with or without a trailing slash."""
    fake_backend.behaviour = only_queries(
        lambda req: default_answer(req, 0.01))
    for url in (fake_backend.url + "/prometheus",
                fake_backend.url + "/prometheus/"):
        res = audit(run_auditor, rules, url, "--fail-on-warning")
        assert res.returncode == 0, res
    paths = {r.path for r in fake_backend.requests if is_query(r)}
    assert paths == {"/prometheus/api/v1/query"}, paths


def test_503_retries_exhausted(run_auditor, rules, fake_backend):
    fake_backend.behaviour = only_queries(lambda req: Reply(
        "json", status=503, doc={"status": "error",
                                 "errorType": "unavailable",
                                 "error": "overloaded"}))
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "2")
    assert res.returncode == 3, res
    assert len(rule_queries(fake_backend)) == 3
    assert "503" in messages(res) or "overloaded" in messages(res), res


def test_400_with_error_json_is_a_config_error(run_auditor, rules,
                                               fake_backend):
    def reply(req):
        if "python_asyncio_loop_lag_seconds" not in req.param("query"):
            return default_answer(req, 0.01)
        return Reply("json", status=400, doc={
            "status": "error", "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:12: parse error: '
                     'unexpected right parenthesis'})
    fake_backend.behaviour = only_queries(reply)
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "2",
                "--fail-on-critical")
    assert res.returncode == 78, res
    assert "event_loop_starvation" in res.stderr, res
    assert "parse error" in res.stderr, res
    # a 400 is the query's fault: not retried
    assert len(rule_queries(fake_backend)) == 1


def test_one_failing_query_among_good_ones(run_auditor, rules_file,
                                           fake_backend):
    path = rules_file(TWO_RULES)

    def reply(req):
        if "busy_seconds" in (req.param("query") or ""):
            return Reply("json", status=500, doc={
                "status": "error", "errorType": "internal",
                "error": "injected"})
        return default_answer(req, 0.01)
    fake_backend.behaviour = only_queries(reply)
    res = audit(run_auditor, path, fake_backend.url, "--retries", "0")
    assert res.returncode == 0, res
    assert rule_statuses(res) == {"event_loop_starvation": "ok",
                                  "busy_loop": "error"}
    assert res.json()["status"] == "UNKNOWN"
    gated = audit(run_auditor, path, fake_backend.url, "--retries", "0",
                  "--fail-on-critical")
    assert gated.returncode == 3, gated  # a gate never passes on errors
    allowed = audit(run_auditor, path, fake_backend.url, "--retries", "0",
                    "--fail-on-critical", "--allow-unknown")
    assert allowed.returncode == 0, allowed


def test_backend_warnings_are_shown(run_auditor, rules, fake_backend):
    def reply(req):
        r = default_answer(req, 0.01)
        r.doc["warnings"] = ["PromQL info: metric might not be a counter"]
        return r
    fake_backend.behaviour = only_queries(reply)
    res = run_auditor("--config", rules, "--target", fake_backend.url,
                      *WINDOW, timeout=HANG)
    assert res.returncode == 0, res
    assert "metric might not be a counter" in res.stdout + res.stderr, res


# ---- broken bodies ----------------------------------------------------------

def test_invalid_json(run_auditor, rules, fake_backend):
    fake_backend.behaviour = only_queries(
        lambda req: Reply("raw", body=b'{"status": "success", "data": {'))
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "0")
    assert res.returncode == 3, res
    assert rule_statuses(res) == {"event_loop_starvation": "error"}
    text = messages(res)
    assert re.search(r"json|parse|invalid", text, re.I), res
    assert "127.0.0.1:%d" % fake_backend.port in text, res


def test_wrong_json_shape(run_auditor, rules, fake_backend):
    fake_backend.behaviour = only_queries(lambda req: Reply("json", doc={
        "status": "success", "data": {"resultType": "vector",
                                      "result": [{"metric": "oops"}]}}))
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "0")
    assert res.returncode == 3, res
    assert rule_statuses(res) == {"event_loop_starvation": "error"}


def test_truncated_body(run_auditor, rules, fake_backend):
    fake_backend.behaviour = only_queries(lambda req: Reply(
        "truncate", length=5000,
        body=b'{"status":"success","data":{"resultType":"vector",'))
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "0")
    assert res.returncode == 3, res
    assert rule_statuses(res) == {"event_loop_starvation": "error"}
    text = messages(res)
    assert re.search(r"partial|truncat|closed|remaining|incomplete", text,
                     re.I), res
    assert "127.0.0.1:%d" % fake_backend.port in text, res


@pytest.mark.parametrize("announced", [True, False],
                         ids=["content-length", "close-delimited"])
def test_oversized_body(run_auditor, rules, fake_backend, announced):
    total = 1 << 30  # 1 GiB claimed; the server stops when the client quits
    fake_backend.behaviour = only_queries(
        lambda req: Reply("oversize", total=total,
                          announce=announced))
    res = audit(run_auditor, rules, fake_backend.url, "--retries", "0")
    assert res.returncode == 3, res
    assert rule_statuses(res) == {"event_loop_starvation": "error"}
    text = messages(res)
    assert re.search(r"too large|exceed|larger|limit|maximum", text,
                     re.I), res
    assert "127.0.0.1:%d" % fake_backend.port in text, res
    # the body was refused, not held: far below what was sent
    assert res.maxrss_kb < 512 * 1024, res.maxrss_kb


# ---- usage errors never reach the network -----------------------------------

def test_malformed_header_is_a_usage_error(run_auditor, rules,
                                           fake_backend):
    res = audit(run_auditor, rules, fake_backend.url, "--header",
                "no colon here")
    assert res.returncode == 64, res
    assert "no colon here" in res.stderr
    assert fake_backend.requests == []


# ---- access: secrets are sent, never shown ----------------------------------

TOKEN = "tok-9f8e7d6c5b4a-SECRET"
PASSWORD = "pw-4b3a2c1d-SECRET"


def _assert_secret_hidden(res, *secrets):
    for s in secrets:
        assert s not in res.stdout, res
        assert s not in res.stderr, res


def test_bearer_token_file(run_auditor, rules, fake_backend, tmp_path):
    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    res = audit(run_auditor, rules, fake_backend.url, "-v",
                "--bearer-token-file", str(tok))
    assert res.returncode == 0, res
    queries = [r for r in fake_backend.requests if is_query(r)]
    assert queries
    for r in queries:
        assert r.headers.get("authorization") == "Bearer " + TOKEN
    _assert_secret_hidden(res, TOKEN)


def test_bearer_token_file_missing(run_auditor, rules, fake_backend,
                                   tmp_path):
    missing = str(tmp_path / "no-such-token")
    res = audit(run_auditor, rules, fake_backend.url,
                "--bearer-token-file", missing)
    assert res.returncode == 64, res  # a bad flag, as in scrape mode
    assert missing in res.stderr, res
    assert fake_backend.requests == []


def test_basic_auth_without_password(run_auditor, rules, fake_backend):
    res = audit(run_auditor, rules, fake_backend.url,
                "--basic-auth-user", "alice")
    assert res.returncode == 64, res  # a bad flag, as in scrape mode
    assert "--basic-auth-user alice: no password" in res.stderr, res
    assert fake_backend.requests == []


def test_basic_auth_password_from_env(run_auditor, rules, fake_backend):
    res = audit(run_auditor, rules, fake_backend.url, "-v",
                "--basic-auth-user", "alice",
                env={"ASYNC_AUDITOR_PASSWORD": PASSWORD})
    assert res.returncode == 0, res
    expected = "Basic " + base64.b64encode(
        ("alice:" + PASSWORD).encode()).decode()
    queries = [r for r in fake_backend.requests if is_query(r)]
    assert queries
    for r in queries:
        assert r.headers.get("authorization") == expected
    _assert_secret_hidden(res, PASSWORD, expected.split()[1])


def test_basic_auth_password_file(run_auditor, rules, fake_backend,
                                  tmp_path):
    pw = tmp_path / "password"
    pw.write_text(PASSWORD + "\n")
    res = audit(run_auditor, rules, fake_backend.url, "-v",
                "--basic-auth-user", "bob",
                "--basic-auth-password-file", str(pw))
    assert res.returncode == 0, res
    expected = "Basic " + base64.b64encode(
        ("bob:" + PASSWORD).encode()).decode()
    for r in fake_backend.requests:
        if is_query(r):
            assert r.headers.get("authorization") == expected
    _assert_secret_hidden(res, PASSWORD, expected.split()[1])


def test_extra_headers(run_auditor, rules, fake_backend):
    res = audit(run_auditor, rules, fake_backend.url, "-v",
                "--header", "X-Scope-OrgID: tenant-42",
                "--header", "X-Other: a b c")
    assert res.returncode == 0, res
    queries = [r for r in fake_backend.requests if is_query(r)]
    assert queries
    for r in queries:
        assert r.headers.get("x-scope-orgid") == "tenant-42"
        assert r.headers.get("x-other") == "a b c"


def test_secret_in_url_userinfo_hidden(run_auditor, rules, fake_backend):
    url = fake_backend.url.replace("http://",
                                   "http://carol:%s@" % PASSWORD)
    res = audit(run_auditor, rules, url, "-v")
    assert res.returncode == 0, res
    _assert_secret_hidden(res, PASSWORD)


def test_secret_in_url_userinfo_hidden_in_backend_warning(
        run_auditor, rules, fake_backend):
    """A backend warning is printed with the target's URL: redacted."""
    def reply(req):
        r = default_answer(req, 0.01)
        r.doc["warnings"] = ["partial response"]
        return r
    fake_backend.behaviour = only_queries(reply)
    url = fake_backend.url.replace("http://",
                                   "http://carol:%s@" % PASSWORD)
    res = audit(run_auditor, rules, url)
    assert res.returncode == 0, res
    assert "partial response" in res.stderr, res
    _assert_secret_hidden(res, PASSWORD)


def test_secret_hidden_when_backend_fails(run_auditor, rules, fake_backend,
                                          tmp_path):
    tok = tmp_path / "token"
    tok.write_text(TOKEN)
    fake_backend.behaviour = only_queries(lambda req: Reply(
        "json", status=500, doc={"status": "error", "errorType": "internal",
                                 "error": "failed"}))
    res = audit(run_auditor, rules, fake_backend.url, "-v", "--retries",
                "0", "--bearer-token-file", str(tok))
    assert res.returncode == 3, res
    _assert_secret_hidden(res, TOKEN)


# ---- TLS -------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    d = str(tmp_path_factory.mktemp("certs"))
    server = aa_servers.self_signed_cert(d, "server")
    client = aa_servers.self_signed_cert(d, "client")
    return {"server": server, "client": client}


def test_tls_verified_by_default(run_auditor, rules, certs):
    cert, key = certs["server"]
    ok = only_queries(lambda req: default_answer(req, 0.01))
    with aa_servers.FakeBackend(ok, tls={"cert": cert, "key": key}) as fake:
        res = audit(run_auditor, rules, fake.url, "--retries", "0")
        assert res.returncode == 3, res  # unknown CA: refused
        assert re.search(r"certificate|SSL|TLS", messages(res), re.I), res
        assert fake.queries() == []
        res = audit(run_auditor, rules, fake.url, "--ca-file", cert,
                    "--fail-on-warning")
        assert res.returncode == 0, res
        res = audit(run_auditor, rules, fake.url, "--insecure-skip-verify",
                    "--fail-on-warning")
        assert res.returncode == 0, res


def test_tls_client_certificate(run_auditor, rules, certs):
    cert, key = certs["server"]
    ccert, ckey = certs["client"]
    ok = only_queries(lambda req: default_answer(req, 0.01))
    tls = {"cert": cert, "key": key, "client_ca": ccert}
    with aa_servers.FakeBackend(ok, tls=tls) as fake:
        res = audit(run_auditor, rules, fake.url, "--ca-file", cert,
                    "--retries", "0")
        assert res.returncode == 3, res  # no client certificate
        res = audit(run_auditor, rules, fake.url, "--ca-file", cert,
                    "--cert", ccert, "--key", ckey, "--fail-on-warning")
        assert res.returncode == 0, res
        assert fake.queries()


# ---- the sanitizer guard itself ---------------------------------------------

def test_sanitizer_reports_fail_the_run():
    """run_auditor's guard must reject a sanitizer report (the ASan stage
    relies on it)."""
    res = Result(["x"], 1, "", "==1==ERROR: LeakSanitizer: detected leaks")
    with pytest.raises(AssertionError):
        assert_no_sanitizer_report(res)
    res = Result(["x"], 0, "", "x.c:3:5: runtime error: signed overflow")
    with pytest.raises(AssertionError):
        assert_no_sanitizer_report(res)
    assert_no_sanitizer_report(Result(["x"], 0, "ok", "fine"))
