"""The auditor's regular expressions against Prometheus's (issue 10, item 7).

Scrape and samples mode match `=~` with the auditor's own RE2 engine
(include/aa/regex.h).  Here Debian's prometheus, i.e. Go's regexp, is the
oracle: a recording of label values is backfilled into it and replayed with
--samples, and for a few hundred generated patterns (classes, flags,
repetition, anchors, alternation, UTF-8, case folding) every label value
must be selected by both or by neither.  Patterns Prometheus rejects must
be rejected by `rules lint` too.
"""

import json
import random
import urllib.error
import urllib.parse
import urllib.request

SEED = 20261203
T = 1795687200  # the recording's one sample time, seconds

# Characters where the engines could differ: newline, case pairs with
# third members (k, K, KELVIN SIGN; s, long s; the sigmas), Latin-1.
ALPHABET = ["a", "b", "A", "B", "-", ".", "\n", "\u00e9", "\u00c9", "k",
            "K", "\u212a", "s", "\u017f", "1", " ", "_", "\u03c3", "\u03c2",
            "\u03a3"]
ATOMS = ["a", "b", "A", "k", "s", "\u00e9", ".", "\\d", "\\w", "\\s", "\\W",
         "[ab]", "[^a]", "[a-z]", "[[:upper:]]", "[[:^alpha:]]", "\\.", "\\n",
         "-", "\\x41", "\\x{e9}", "[\u00e9-\u00eb]", "\\b", "\\B", "^", "$",
         "(?i:k)", "\u03c3", "[\\d-z]", "\\Qa.\\E"]
QUANTIFIERS = ["*", "+", "?", "{2}", "{1,3}", "{0,}", "{2,}", "{0,1}", "*?",
               "+?", "??", "{1,2}?"]
BROKEN = ["(((", "a**", "(?=a)", "(a)\\1", "[z-a]", "a{1001}", "x[",
          "(?P<>a)", "a)", "\\C"]


def _pattern(rng, depth=0):
    def atom(d):
        r = rng.random()
        if d > 3 or r < 0.35:
            return rng.choice(ATOMS)
        if r < 0.55:
            return "(" + _pattern(rng, d + 1) + ")"
        if r < 0.65:
            return "(?:" + _pattern(rng, d + 1) + ")"
        if r < 0.72:
            return "(?%s:%s)" % (rng.choice(["i", "s", "m", "i-s", "-i"]),
                                 _pattern(rng, d + 1))
        if r < 0.78:
            return "(?%s)" % rng.choice(["i", "s", "m"])
        return atom(d + 1) + atom(d + 1)

    def cat(d):
        return "".join(atom(d) + (rng.choice(QUANTIFIERS)
                                  if rng.random() < 0.5 else "")
                       for _ in range(rng.randint(1, 4)))

    if depth < 3 and rng.random() < 0.25:
        return cat(depth) + "|" + cat(depth)
    return cat(depth)


def _promql_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace(
        "\n", "\\n") + '"'


def _recording(values):
    lines = ["# TYPE m gauge"]
    for i, v in enumerate(values):
        esc = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append('m{i="%d",v="%s"} 1 %d' % (i, esc, T))
    return "\n".join(lines + ["# EOF"]) + "\n"


def _prometheus_select(url, pattern):
    """Indexes of the values Prometheus selects, or None when it rejects
    the pattern."""
    query = urllib.parse.urlencode(
        {"query": "m{v=~%s}" % _promql_string(pattern), "time": T})
    try:
        with urllib.request.urlopen(url + "/api/v1/query?" + query,
                                    timeout=30) as r:
            doc = json.load(r)
    except urllib.error.HTTPError as e:
        if e.code == 400:
            return None
        raise
    return {int(s["metric"]["i"]) for s in doc["data"]["result"]}


def _rule(k, pattern):
    where = json.dumps("{v=~%s}" % _promql_string(pattern))
    return ('  - {id: p%d, finding: f, metric: m, type: gauge, stat: last, '
            'by: [i], where: %s, warning: "> 1e9", no_data: ok}\n'
            % (k, where))


def test_regex_matches_like_prometheus(tmp_path, run_auditor,
                                       prometheus_server):
    rng = random.Random(SEED)
    values = sorted({"".join(rng.choice(ALPHABET)
                             for _ in range(rng.randint(0, 6)))
                     for _ in range(600)})[:300]
    patterns = [_pattern(rng) for _ in range(300)] + BROKEN
    text = _recording(values)
    rec = tmp_path / "values.om"
    rec.write_text(text)
    prom = prometheus_server(text)
    accepted, rejected = [], []
    for p in patterns:
        sel = _prometheus_select(prom.url, p)
        (rejected if sel is None else accepted).append((p, sel))
    assert len(accepted) >= 200 and len(rejected) >= len(BROKEN)

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n" + "".join(
        _rule(k, p) for k, (p, _) in enumerate(accepted)))
    res = run_auditor("--config", rules, "--samples", rec, "--start",
                      str(T - 60), "--end", str(T), "--format", "json")
    assert res.returncode == 0, res
    doc = res.json()
    mismatches = []
    for (p, want), rr in zip(accepted, doc["rules"]):
        got = {int(s["labels"]["i"]) for s in rr["series"]}
        if got != want:
            mismatches.append((p, sorted(got ^ want)[:5]))
    assert not mismatches, mismatches[:10]

    for p, _ in rejected:
        one = tmp_path / "bad.yaml"
        one.write_text("version: 1\nrules:\n" + _rule(0, p))
        res = run_auditor("rules", "lint", one)
        assert res.returncode == 78, (p, res)
        assert "invalid regular expression" in res.stderr, (p, res.stderr)
