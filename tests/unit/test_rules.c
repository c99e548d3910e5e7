/* test_rules.c: the rule-file loader: the happy path, every rejection with
 * its line and column, and the built-in default pack. */
#include <stdio.h>

#include "aa/promql.h"
#include "aa/rules.h"
#include "check.h"

static aa_ruleset *load_ok(const char *yaml)
{
    aa_ruleset *rs = NULL;
    aa_diag d;
    int rc = aa_ruleset_load_buffer("t.yaml", yaml, strlen(yaml), &rs, &d);

    if (rc != AA_OK) {
        char buf[1024];

        fprintf(stderr, "unexpected error: %s\n",
                aa_diag_format(&d, buf, sizeof(buf)));
    }
    CHECK_INT_EQ(rc, AA_OK);
    return rs;
}

/* Loads yaml expecting AA_ESYNTAX at line:col with msg in the message. */
#define LOAD_ERR(yaml, line_, col_, msg)                                      \
    do {                                                                      \
        aa_ruleset *rs_ = (aa_ruleset *)1;                                    \
        aa_diag d_;                                                           \
        int rc_ = aa_ruleset_load_buffer("t.yaml", (yaml), strlen(yaml),      \
                                         &rs_, &d_);                          \
        CHECK_INT_EQ(rc_, AA_ESYNTAX);                                        \
        CHECK(rs_ == NULL);                                                   \
        CHECK_STR_EQ(d_.file, "t.yaml");                                      \
        CHECK_INT_EQ(d_.line, (line_));                                       \
        CHECK_INT_EQ(d_.column, (col_));                                      \
        CHECK_STR_CONTAINS(d_.message, (msg));                                \
    } while (0)

#define HEAD "version: 1\nrules:\n"

static void test_full(void)
{
    aa_ruleset *rs =
        load_ok("version: 1\n"
                "window: 10m\n"
                "rules:\n"
                "  - id: event_loop_starvation\n"
                "    finding: Event-loop starvation detected\n"
                "    description: p99 scheduling delay of the event loop\n"
                "    metric: python_asyncio_loop_lag_seconds\n"
                "    stat: p99\n"
                "    by: [instance, loop]\n"
                "    where: '{job=\"api\"}'\n"
                "    warning: \"> 50ms\"\n"
                "    critical: \">= 250ms\"\n"
                "    for: 30s\n"
                "    no_data: critical\n"
                "  - id: custom_promql\n"
                "    finding: Too many 5xx\n"
                "    query: 'sum(rate(x{c=~\"5..\"}[$window]))'\n"
                "    critical: \"> 1\"\n");
    const aa_rule *r;

    if (rs == NULL) {
        return;
    }
    CHECK_STR_EQ(rs->path, "t.yaml");
    CHECK_INT_EQ(rs->version, 1);
    CHECK_INT_EQ(rs->window_ms, 600000);
    CHECK_INT_EQ(rs->nrules, 2);
    r = &rs->rules[0];
    CHECK_STR_EQ(r->id, "event_loop_starvation");
    CHECK_STR_EQ(r->finding, "Event-loop starvation detected");
    CHECK_STR_EQ(r->description, "p99 scheduling delay of the event loop");
    CHECK_STR_EQ(r->metric, "python_asyncio_loop_lag_seconds");
    CHECK_INT_EQ(r->stat, AA_STAT_QUANTILE);
    CHECK_DBL_NEAR(r->quantile, 0.99, 0);
    CHECK_STR_EQ(r->stat_text, "p99");
    CHECK_INT_EQ(r->type, AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(r->nby, 2);
    CHECK_STR_EQ(r->by[0], "instance");
    CHECK_STR_EQ(r->by[1], "loop");
    CHECK_INT_EQ(r->where.n, 1);
    CHECK_STR_EQ(r->where.v[0].value, "api");
    CHECK(r->warning.set);
    CHECK_INT_EQ(r->warning.op, AA_CMP_GT);
    CHECK_DBL_NEAR(r->warning.value, 0.05, 0);
    CHECK_INT_EQ(r->critical.op, AA_CMP_GE);
    CHECK_DBL_NEAR(r->critical.value, 0.25, 0);
    CHECK_STR_EQ(r->critical.text, ">= 250ms");
    CHECK_INT_EQ(r->for_ms, 30000);
    CHECK_INT_EQ(r->no_data, AA_NODATA_CRITICAL);
    CHECK(r->query == NULL);
    CHECK_INT_EQ(r->line, 4);
    CHECK_INT_EQ(r->column, 5);
    r = &rs->rules[1];
    CHECK_STR_EQ(r->id, "custom_promql");
    CHECK(r->metric == NULL);
    CHECK(r->description == NULL);
    CHECK_STR_EQ(r->query, "sum(rate(x{c=~\"5..\"}[$window]))");
    CHECK(!r->warning.set);
    CHECK(r->critical.set);
    CHECK_INT_EQ(r->no_data, AA_NODATA_UNKNOWN);
    CHECK_INT_EQ(r->for_ms, 0);
    CHECK_INT_EQ(r->line, 15);
    aa_ruleset_free(rs);
    aa_ruleset_free(NULL);
}

static void test_defaults_and_types(void)
{
    aa_ruleset *rs = load_ok(
        HEAD
        "- {id: a, finding: f, metric: my_hist, stat: p99.9, warning: '>1'}\n"
        "- {id: b, finding: f, metric: my_hist, stat: sum_rate, "
        "warning: '>1'}\n"
        "- {id: c, finding: f, metric: my_total, stat: rate, warning: '>1'}\n"
        "- {id: d, finding: f, metric: my_total, stat: increase, "
        "warning: '>1'}\n"
        "- {id: e, finding: f, metric: my_gauge, stat: avg, warning: '>1'}\n"
        "- {id: f, finding: f, metric: my_hist, type: histogram, stat: avg, "
        "warning: '>1'}\n"
        "- {id: g, finding: f, metric: python_asyncio_loop_block_duration_"
        "seconds, stat: rate, warning: '>1'}\n"
        "- {id: h, finding: f, metric: python_asyncio_tasks, stat: slope, "
        "warning: '>1'}\n"
        "- {id: i, finding: f, metric: x, stat: p5, warning: '>1'}\n"
        "- {id: j, finding: f, metric: x, stat: p50, by: instance, "
        "warning: '>1'}\n"
        "- {id: k, finding: f, metric: x, stat: min, no_data: ok, "
        "warning: '>1'}\n"
        "- {id: l, finding: f, metric: x, stat: last, no_data: warning, "
        "warning: '>1'}\n"
        "- {id: m, finding: f, metric: x, stat: delta, no_data: unknown, "
        "warning: '>1', by: []}\n"
        "- {id: n, finding: f, metric: 'ns:x:rate5m', stat: max, "
        "type: gauge, warning: '>1'}\n");

    if (rs == NULL) {
        return;
    }
    CHECK_INT_EQ(rs->window_ms, 0);
    CHECK_INT_EQ(rs->nrules, 14);
    CHECK_DBL_NEAR(rs->rules[0].quantile, 0.999, 0);
    CHECK_INT_EQ(rs->rules[0].type, AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(rs->rules[1].stat, AA_STAT_SUM_RATE);
    CHECK_INT_EQ(rs->rules[1].type, AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(rs->rules[2].type, AA_TYPE_COUNTER);
    CHECK_INT_EQ(rs->rules[3].stat, AA_STAT_INCREASE);
    CHECK_INT_EQ(rs->rules[3].type, AA_TYPE_COUNTER);
    CHECK_INT_EQ(rs->rules[4].type, AA_TYPE_GAUGE);
    CHECK_INT_EQ(rs->rules[4].stat, AA_STAT_AVG);
    CHECK_INT_EQ(rs->rules[5].type, AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(rs->rules[6].type, AA_TYPE_HISTOGRAM); /* known metric */
    CHECK_INT_EQ(rs->rules[7].type, AA_TYPE_GAUGE);
    CHECK_DBL_NEAR(rs->rules[8].quantile, 0.05, 0);
    CHECK_DBL_NEAR(rs->rules[9].quantile, 0.5, 0);
    CHECK_INT_EQ(rs->rules[9].nby, 1); /* a scalar "by" is one label */
    CHECK_INT_EQ(rs->rules[10].stat, AA_STAT_MIN);
    CHECK_INT_EQ(rs->rules[10].no_data, AA_NODATA_OK);
    CHECK_INT_EQ(rs->rules[11].stat, AA_STAT_LAST);
    CHECK_INT_EQ(rs->rules[11].no_data, AA_NODATA_WARNING);
    CHECK_INT_EQ(rs->rules[12].stat, AA_STAT_DELTA);
    CHECK_INT_EQ(rs->rules[12].nby, 0);
    CHECK_STR_EQ(rs->rules[13].metric, "ns:x:rate5m");
    aa_ruleset_free(rs);
}

static void test_known_types(void)
{
    CHECK_INT_EQ(aa_known_metric_type("python_asyncio_loop_lag_seconds"),
                 AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(aa_known_metric_type("python_asyncio_loop_busy_seconds_"
                                      "total"),
                 AA_TYPE_COUNTER);
    CHECK_INT_EQ(aa_known_metric_type("python_asyncio_executor_pending"),
                 AA_TYPE_GAUGE);
    CHECK_INT_EQ(aa_known_metric_type("http_server_request_duration_"
                                      "seconds"),
                 AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(aa_known_metric_type("nope"), AA_TYPE_UNKNOWN);
    CHECK_INT_EQ(aa_known_metric_type(NULL), AA_TYPE_UNKNOWN);
}

static void test_top_level_errors(void)
{
    LOAD_ERR("", 0, 0, "empty");
    LOAD_ERR("# only a comment\n", 0, 0, "empty");
    LOAD_ERR("- a\n- b\n", 1, 1, "must be a mapping");
    LOAD_ERR("version: 1\nrules: []\n", 2, 8, "\"rules\" is empty");
    LOAD_ERR("version: 1\n", 1, 1, "missing \"rules\"");
    LOAD_ERR("rules:\n- {id: a}\n", 1, 1, "missing \"version: 1\"");
    LOAD_ERR("version: 2\nrules: []\n", 1, 10, "unsupported version \"2\"");
    LOAD_ERR("version: [1]\nrules: []\n", 1, 10, "unsupported version");
    LOAD_ERR("version: 1\nrules: {a: 1}\n", 2, 8, "must be a list");
    LOAD_ERR("version: 1\nwindow: 5x\nrules: []\n", 2, 9,
             "invalid duration \"5x\"");
    LOAD_ERR("version: 1\nwindow: 0s\nrules: []\n", 2, 9, "longer than 0s");
    LOAD_ERR("version: 1\nwindow: [5m]\nrules: []\n", 2, 9,
             "must be a non-empty string");
    LOAD_ERR("version: 1\nwindows: 5m\nrules: []\n", 2, 1,
             "unknown key \"windows\"");
    LOAD_ERR("version: 1\nversion: 1\nrules: []\n", 2, 1,
             "duplicate key \"version\"");
    LOAD_ERR("version: 1\n[a]: 1\n", 2, 1, "keys must be strings");
    LOAD_ERR("version: 1\nrules: [\n", 3, 1, "invalid YAML");
    LOAD_ERR("version: 1\n\tx: 1\n", 2, 1, "invalid YAML");
    LOAD_ERR("version: 1\n---\nversion: 1\n", 2, 1, "single YAML document");
    LOAD_ERR("a: &x [1]\nb: *x\n", 2, 4, "aliases");
    LOAD_ERR("version: 1\nrules:\n  - id: a\n    finding: f\n"
             "    metric: m\n    stat: max\n    warning: > 5\n",
             7, 16, "quote thresholds");
}

static void test_rule_errors(void)
{
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  wraning: '> 1'\n",
             7, 3, "unknown key \"wraning\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '> 1'\n  warning: '> 2'\n",
             8, 3, "duplicate key \"warning\"");
    LOAD_ERR(HEAD "- finding: f\n  metric: m\n  stat: max\n  warning: '>1'\n",
             3, 3, "missing \"id\"");
    LOAD_ERR(HEAD "- id: Bad-Id\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n",
             3, 7, "rule id \"Bad-Id\" is invalid");
    LOAD_ERR(HEAD "- id: 'a b'\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n",
             3, 7, "is invalid");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n"
                  "- id: a\n  finding: g\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n",
             8, 7, "duplicate rule id \"a\" (first used at line 3)");
    LOAD_ERR(HEAD "- id: a\n  metric: m\n  stat: max\n  warning: '>1'\n", 3, 3,
             "missing \"finding\"");
    LOAD_ERR(HEAD "- id: a\n  finding: ''\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n",
             4, 12, "must not be empty");
    LOAD_ERR(HEAD "- id: a\n  finding:\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n",
             4, 11, "\"finding\" must be a non-empty string");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  query: up\n"
                  "  warning: '>1'\n",
             6, 3, "both \"metric\" and \"query\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  warning: '>1'\n", 3, 3,
             "needs \"metric\" and \"stat\" or a raw \"query\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  warning: '>1'\n", 3,
             3, "needs a \"stat\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: p999x\n"
                  "  warning: '>1'\n",
             6, 9, "unknown stat \"p999x\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: median\n"
                  "  warning: '>1'\n",
             6, 9, "unknown stat");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: p100\n"
                  "  warning: '>1'\n",
             6, 9, "unknown stat");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: p0\n"
                  "  warning: '>1'\n",
             6, 9, "unknown stat");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: p99.\n"
                  "  warning: '>1'\n",
             6, 9, "unknown stat");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '5ms'\n",
             7, 12, "invalid threshold \"5ms\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  critical: 5\n",
             7, 13, "invalid threshold \"5\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  critical: ['> 5']\n",
             7, 13, "invalid threshold");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n", 3, 3,
             "needs a \"warning\" or a \"critical\" threshold");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  for: 1.5m\n",
             8, 8, "invalid duration \"1.5m\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  no_data: maybe\n",
             8, 12, "no_data \"maybe\" is invalid");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  type: summary\n",
             8, 9, "unknown type \"summary\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  type: counter\n",
             6, 9, "stat \"max\" does not apply to m, a counter");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: python_asyncio_tasks\n"
                  "  stat: p99\n  warning: '>1'\n",
             6, 9, "does not apply to python_asyncio_tasks, a gauge");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: python_asyncio_loop_lag_"
                  "seconds\n  stat: max\n  warning: '>1'\n",
             6, 9, "a histogram");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: python_asyncio_tasks_"
                  "created_total\n  stat: avg\n  warning: '>1'\n",
             6, 9, "a counter");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  by: [instance, 'a-b']\n",
             8, 18, "\"a-b\" is not a label name");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  by: [x, x]\n",
             8, 11, "listed twice");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  by: {a: 1}\n",
             8, 7, "must be a list of label names");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: p99\n"
                  "  warning: '>1'\n  by: [le]\n",
             8, 7, "\"le\" is always kept");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  where: '{job=api}'\n",
             8, 16, "\"where\": expected a quoted label value");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: 'm{job=\"x\"}'\n"
                  "  stat: max\n  warning: '>1'\n",
             5, 11, "is not a metric name");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  query: up\n  stat: max\n"
                  "  warning: '>1'\n",
             6, 3, "\"stat\" applies to \"metric\" rules");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  query: up\n  by: [x]\n"
                  "  warning: '>1'\n",
             6, 3, "\"by\" applies to \"metric\" rules");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  query: 'sum(rate(x[5m])'\n"
                  "  warning: '>1'\n",
             5, 10, "unclosed '('");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  query: 'x{a=\"b}'\n"
                  "  warning: '>1'\n",
             5, 10, "unterminated string");
    LOAD_ERR(HEAD "- just a string\n", 3, 3, "must be a mapping");
    /* control characters are not echoed to the terminal */
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: \"\\e[31m\"\n"
                  "  warning: '>1'\n",
             6, 9, "unknown stat \"?[31m\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  description: [x]\n"
                  "  metric: m\n  stat: max\n  warning: '>1'\n",
             5, 16, "\"description\" must be a non-empty string");
    LOAD_ERR(HEAD "- id: a\n  finding: \"f\\0g\"\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n",
             4, 12, "NUL");
}

/* share_above(X): X a number with ms, s or no unit, on histograms only;
 * unmeasured_on: a list of non-empty loop implementation names. */
static void test_share_and_unmeasured(void)
{
    aa_ruleset *rs = load_ok(
        HEAD "- id: a\n  finding: f\n  metric: python_asyncio_loop_lag_"
             "seconds\n  stat: share_above(62.5ms)\n  warning: '> 5%'\n"
             "  unmeasured_on: [uvloop, other_loop]\n"
             "- id: b\n  finding: f\n  metric: mine\n"
             "  stat: share_above(2)\n  warning: '> 5%'\n"
             "  unmeasured_on: uvloop\n");

    if (rs != NULL) {
        CHECK_INT_EQ(rs->rules[0].stat, AA_STAT_SHARE_ABOVE);
        CHECK_DBL_NEAR(rs->rules[0].above, 0.0625, 0);
        CHECK_STR_EQ(rs->rules[0].stat_text, "share_above(62.5ms)");
        CHECK_INT_EQ(rs->rules[0].nunmeasured, 2);
        if (rs->rules[0].nunmeasured == 2) {
            CHECK_STR_EQ(rs->rules[0].unmeasured_on[0], "uvloop");
            CHECK_STR_EQ(rs->rules[0].unmeasured_on[1], "other_loop");
        }
        /* an unknown metric: share_above implies a histogram */
        CHECK_INT_EQ(rs->rules[1].type, AA_TYPE_HISTOGRAM);
        CHECK_DBL_NEAR(rs->rules[1].above, 2.0, 0);
        CHECK_INT_EQ(rs->rules[1].nunmeasured, 1);
    }
    aa_ruleset_free(rs);

    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n"
                  "  stat: share_above(5%)\n  warning: '>1'\n",
             6, 9, "unknown stat \"share_above(5%)\"");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n"
                  "  stat: share_above()\n  warning: '>1'\n",
             6, 9, "unknown stat");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n"
                  "  stat: share_above(50 ms)\n  warning: '>1'\n",
             6, 9, "unknown stat");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n"
                  "  stat: share_above(fast)\n  warning: '>1'\n",
             6, 9, "share_above(X) such as share_above(62.5ms)");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n"
                  "  stat: share_above(50ms\n  warning: '>1'\n",
             6, 9, "unknown stat");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: python_asyncio_tasks\n"
                  "  stat: share_above(1s)\n  warning: '>1'\n",
             6, 9, "does not apply to python_asyncio_tasks, a gauge");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n"
                  "  stat: share_above(1s)\n  warning: '>1'\n  by: [le]\n",
             8, 7, "\"le\" is always kept for share_above");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  unmeasured_on: ['']\n",
             8, 19,
             "\"unmeasured_on\": each item must be a non-empty "
             "string");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  unmeasured_on: [[uvloop]]\n",
             8, 19, "each item must be a non-empty string, not a list");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  unmeasured_on: [uvloop, uvloop]\n",
             8, 27, "\"unmeasured_on\": \"uvloop\" is listed twice");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  metric: m\n  stat: max\n"
                  "  warning: '>1'\n  unmeasured_on: {a: 1}\n",
             8, 18, "\"unmeasured_on\" must be a list of names");
    LOAD_ERR(HEAD "- id: a\n  finding: f\n  query: up\n"
                  "  unmeasured_on: [uvloop]\n  warning: '>1'\n",
             6, 3, "\"unmeasured_on\" applies to \"metric\" rules");
}

static void test_limits(void)
{
    aa_ruleset *rs = (aa_ruleset *)1;
    aa_diag d;
    size_t n = ((size_t)4 << 20) + 1;
    char *big = malloc(n);
    char deep[200];
    int i;

    CHECK(big != NULL);
    if (big != NULL) {
        memset(big, ' ', n);
        CHECK_INT_EQ(aa_ruleset_load_buffer("big", big, n, &rs, &d),
                     AA_ETOOBIG);
        CHECK(rs == NULL);
        CHECK_STR_CONTAINS(d.message, "larger than");
        free(big);
    }
    for (i = 0; i < 60; i++) {
        deep[i] = '[';
    }
    deep[i] = '\0';
    LOAD_ERR(deep, 1, 33, "nested too deeply");
    CHECK_INT_EQ(aa_ruleset_load_buffer("x", NULL, 0, &rs, &d), AA_ESYNTAX);
    CHECK_INT_EQ(aa_ruleset_load_buffer("x", "a", 1, NULL, &d), AA_EINVAL);
}

static void test_file(void)
{
    char path[] = "/tmp/aa_test_rules_XXXXXX";
    aa_ruleset *rs = (aa_ruleset *)1;
    aa_diag d;
    int fd = mkstemp(path);
    FILE *f;

    CHECK(fd >= 0);
    if (fd < 0) {
        return;
    }
    f = fdopen(fd, "w");
    fputs(HEAD "- {id: a, finding: f, metric: m, stat: max, "
               "warning: '>1', wraning: x}\n",
          f);
    fclose(f);
    CHECK_INT_EQ(aa_ruleset_load_file(path, &rs, &d), AA_ESYNTAX);
    CHECK(rs == NULL);
    CHECK_STR_EQ(d.file, path);
    CHECK_INT_EQ(d.line, 3);
    CHECK_INT_EQ(d.column, 60);
    remove(path);
    CHECK_INT_EQ(aa_ruleset_load_file(path, &rs, &d), AA_EIO);
    CHECK_STR_CONTAINS(d.message, "cannot open");
    CHECK_STR_CONTAINS(d.file, "aa_test_rules_");
}

static void test_default_pack(void)
{
    aa_ruleset *rs = NULL;
    aa_diag d;
    char buf[1024];
    int rc = aa_ruleset_load_buffer("<built-in>", aa_default_rules_yaml,
                                    aa_default_rules_yaml_len, &rs, &d);

    if (rc != AA_OK) {
        fprintf(stderr, "%s\n", aa_diag_format(&d, buf, sizeof(buf)));
    }
    CHECK_INT_EQ(rc, AA_OK);
    if (rs == NULL) {
        return;
    }
    CHECK(rs->nrules >= 10);
    CHECK_INT_EQ(rs->window_ms, 300000);
    for (size_t i = 0; i < rs->nrules; i++) {
        char *q = NULL;

        /* structured only, so the pack works in scrape mode too */
        CHECK(rs->rules[i].metric != NULL);
        CHECK(rs->rules[i].query == NULL);
        CHECK(aa_known_metric_type(rs->rules[i].metric) != AA_TYPE_UNKNOWN);
        CHECK_INT_EQ(
            aa_promql_compile(&rs->rules[i], NULL, rs->window_ms, &q, &d),
            AA_OK);
        free(q);
        /* the rules on metrics the probe does not export on uvloop say
         * so (docs/probe.md), and only those: the ready backlog (busy
         * time is measured on uvloop through its poll) */
        if (strcmp(rs->rules[i].metric,
                   "python_asyncio_loop_ready_callbacks") == 0) {
            CHECK_INT_EQ(rs->rules[i].nunmeasured, 1);
            if (rs->rules[i].nunmeasured == 1) {
                CHECK_STR_EQ(rs->rules[i].unmeasured_on[0], "uvloop");
            }
        } else {
            CHECK_INT_EQ(rs->rules[i].nunmeasured, 0);
        }
        /* starvation is judged by the share of time lagged past 62.5 ms,
         * a bound of the probe's lag buckets (2^-4 s) */
        if (strcmp(rs->rules[i].id, "event_loop_starvation") == 0) {
            CHECK_INT_EQ(rs->rules[i].stat, AA_STAT_SHARE_ABOVE);
            CHECK_DBL_NEAR(rs->rules[i].above, 0.0625, 0);
            CHECK_DBL_NEAR(rs->rules[i].warning.value, 0.05, 0);
            CHECK_DBL_NEAR(rs->rules[i].critical.value, 0.20, 0);
        }
    }
    aa_ruleset_free(rs);
}

int main(void)
{
    test_full();
    test_defaults_and_types();
    test_known_types();
    test_top_level_errors();
    test_rule_errors();
    test_share_and_unmeasured();
    test_limits();
    test_file();
    test_default_pack();
    return check_report("test_rules");
}
