/* test_promql.c: the stat table compiled to PromQL, exactly; grouping,
 * where + --selector merging, escaping, raw $window substitution, the
 * plan the scrape-mode evaluator shares, and the raw-query check. */
#include "aa/promql.h"
#include "aa/rules.h"
#include "check.h"

#define W5M (5 * 60 * 1000)

static aa_ruleset *load(const char *rule_body)
{
    aa_ruleset *rs = NULL;
    aa_diag d;
    char yaml[4096];
    char buf[1024];

    snprintf(yaml, sizeof(yaml),
             "version: 1\nrules:\n- {id: r, finding: f, warning: '> 1', "
             "%s}\n",
             rule_body);
    if (aa_ruleset_load_buffer("t", yaml, strlen(yaml), &rs, &d) != AA_OK) {
        fprintf(stderr, "%s\n", aa_diag_format(&d, buf, sizeof(buf)));
    }
    CHECK(rs != NULL);
    return rs;
}

/* Compiles the rule in rule_body with extra and compares. */
static void expect(const char *rule_body, const char *extra_text,
                   int64_t window, const char *want)
{
    aa_ruleset *rs = load(rule_body);
    aa_matchers extra = {NULL, 0};
    char *q = NULL;
    aa_diag d;

    if (rs == NULL) {
        return;
    }
    if (extra_text != NULL) {
        CHECK_INT_EQ(aa_matchers_parse(extra_text, &extra, NULL), AA_OK);
    }
    CHECK_INT_EQ(aa_promql_compile(&rs->rules[0],
                                   extra_text != NULL ? &extra : NULL, window,
                                   &q, &d),
                 AA_OK);
    CHECK_STR_EQ(q, want);
    free(q);
    aa_matchers_clear(&extra);
    aa_ruleset_free(rs);
}

static void test_stats_no_by(void)
{
    expect("metric: lag, stat: p99", NULL, W5M,
           "histogram_quantile(0.99, sum by (le) (rate(lag_bucket[5m])))");
    expect("metric: lag, stat: p99.9", NULL, W5M,
           "histogram_quantile(0.999, sum by (le) (rate(lag_bucket[5m])))");
    expect("metric: lag, stat: p50", NULL, W5M,
           "histogram_quantile(0.5, sum by (le) (rate(lag_bucket[5m])))");
    expect("metric: lag, stat: p5", NULL, W5M,
           "histogram_quantile(0.05, sum by (le) (rate(lag_bucket[5m])))");
    expect("metric: lag, stat: avg, type: histogram", NULL, W5M,
           "sum(rate(lag_sum[5m])) / sum(rate(lag_count[5m]))");
    expect("metric: req_total, stat: rate", NULL, W5M,
           "sum(rate(req_total[5m]))");
    expect("metric: req_total, stat: increase", NULL, W5M,
           "sum(increase(req_total[5m]))");
    expect("metric: lag, stat: rate, type: histogram", NULL, W5M,
           "sum(rate(lag_count[5m]))");
    expect("metric: lag, stat: increase, type: histogram", NULL, W5M,
           "sum(increase(lag_count[5m]))");
    expect("metric: lag, stat: sum_rate", NULL, W5M, "sum(rate(lag_sum[5m]))");
    expect("metric: g, stat: max", NULL, W5M, "max(max_over_time(g[5m]))");
    expect("metric: g, stat: min", NULL, W5M, "min(min_over_time(g[5m]))");
    expect("metric: g, stat: avg", NULL, W5M, "avg(avg_over_time(g[5m]))");
    expect("metric: g, stat: last", NULL, W5M, "max(last_over_time(g[5m]))");
    expect("metric: g, stat: delta", NULL, W5M, "max(delta(g[5m]))");
    expect("metric: g, stat: slope", NULL, W5M, "max(deriv(g[5m]))");
}

static void test_stats_by(void)
{
    expect("metric: lag, stat: p99, by: [instance, loop]", NULL, 90000,
           "histogram_quantile(0.99, sum by (le, instance, loop) "
           "(rate(lag_bucket[1m30s])))");
    expect("metric: lag, stat: avg, type: histogram, by: [instance]", NULL,
           W5M,
           "sum by (instance) (rate(lag_sum[5m])) / sum by (instance) "
           "(rate(lag_count[5m]))");
    expect("metric: c_total, stat: rate, by: [a, b]", NULL, 3600000,
           "sum by (a, b) (rate(c_total[1h]))");
    expect("metric: python_asyncio_loop_block_duration_seconds, stat: rate, "
           "by: [instance]",
           NULL, W5M,
           "sum by (instance) "
           "(rate(python_asyncio_loop_block_duration_seconds_count[5m]))");
    expect("metric: g, stat: max, by: [executor]", NULL, W5M,
           "max by (executor) (max_over_time(g[5m]))");
    expect("metric: g, stat: min, by: [executor]", NULL, W5M,
           "min by (executor) (min_over_time(g[5m]))");
    expect("metric: g, stat: avg, by: [executor]", NULL, W5M,
           "avg by (executor) (avg_over_time(g[5m]))");
    expect("metric: g, stat: slope, by: [executor]", NULL, 250,
           "max by (executor) (deriv(g[250ms]))");
}

/* share_above(X) for export: 1 - the bucket at X over the +Inf bucket,
 * both with the rule's matchers and --selector, by the "by" labels. */
static void test_share_above(void)
{
    expect("metric: lag, stat: share_above(62.5ms)", NULL, W5M,
           "1 - sum(rate(lag_bucket{le=\"0.0625\"}[5m])) / "
           "sum(rate(lag_bucket{le=\"+Inf\"}[5m]))");
    expect("metric: lag, stat: share_above(1s), by: [instance], "
           "where: '{job=\"api\"}'",
           "{env=\"prod\"}", W5M,
           "1 - sum by (instance) (rate(lag_bucket{job=\"api\", "
           "env=\"prod\", le=\"1\"}[5m])) / sum by (instance) "
           "(rate(lag_bucket{job=\"api\", env=\"prod\", le=\"+Inf\"}[5m]))");
}

static void test_selectors(void)
{
    expect("metric: h, stat: rate, type: histogram, "
           "where: '{http_response_status_code=~\"5..\"}'",
           NULL, W5M,
           "sum(rate(h_count{http_response_status_code=~\"5..\"}[5m]))");
    expect("metric: g, stat: max, where: '{a=\"1\", b!=\"2\"}'",
           "{job=\"api\", c!~\"x|y\"}", W5M,
           "max(max_over_time(g{a=\"1\", b!=\"2\", job=\"api\", "
           "c!~\"x|y\"}[5m]))");
    expect("metric: g, stat: max", "{job=\"api\"}", W5M,
           "max(max_over_time(g{job=\"api\"}[5m]))");
    expect("metric: lag, stat: p99, where: '{job=\"api\"}'", "{env=\"prod\"}",
           W5M,
           "histogram_quantile(0.99, sum by (le) "
           "(rate(lag_bucket{job=\"api\", env=\"prod\"}[5m])))");
    expect("metric: lag, stat: avg, type: histogram", "{job=\"api\"}", W5M,
           "sum(rate(lag_sum{job=\"api\"}[5m])) / "
           "sum(rate(lag_count{job=\"api\"}[5m]))");
    /* an empty selector adds nothing */
    expect("metric: g, stat: max", "{}", W5M, "max(max_over_time(g[5m]))");
}

static void test_escaping(void)
{
    aat_buf b;

    /* values are unescaped when parsed and re-escaped on output */
    expect("metric: g, stat: max, "
           "where: '{a=\"q\\\"uote\", b=\"back\\\\slash\", c=\"nl\\nx\"}'",
           NULL, W5M,
           "max(max_over_time(g{a=\"q\\\"uote\", b=\"back\\\\slash\", "
           "c=\"nl\\nx\"}[5m]))");
    expect("metric: g, stat: max, where: \"{a='it\\\\'s \\\"x\\\"'}\"", NULL,
           W5M, "max(max_over_time(g{a=\"it's \\\"x\\\"\"}[5m]))");
    expect("metric: g, stat: max", "{a=`}\"{`}", W5M,
           "max(max_over_time(g{a=\"}\\\"{\"}[5m]))");
    aat_buf_init(&b, 1024);
    CHECK_INT_EQ(aa_promql_escape(&b, "a\"b\\c\nd\te\rf\x01g\x7f"), AA_OK);
    CHECK_STR_EQ(b.data, "a\\\"b\\\\c\\nd\\te\\rf\\x01g\\x7f");
    aat_buf_reset(&b);
    CHECK_INT_EQ(aa_promql_escape(&b, "caf\xc3\xa9 \xff\xc3"), AA_OK);
    CHECK_STR_EQ(b.data, "caf\xc3\xa9 \\xff\\xc3");
    aat_buf_reset(&b);
    CHECK_INT_EQ(aa_promql_escape(&b, ""), AA_OK);
    CHECK_INT_EQ(b.len, 0);
    CHECK_INT_EQ(aa_promql_escape(&b, NULL), AA_EINVAL);
    aat_buf_release(&b);
    /* the limit of the buffer holds */
    aat_buf_init(&b, 4);
    CHECK_INT_EQ(aa_promql_escape(&b, "\"\"\""), AA_ETOOBIG);
    aat_buf_release(&b);
}

static void test_selector_fn(void)
{
    aa_matchers a, c;
    aat_buf b;

    CHECK_INT_EQ(aa_matchers_parse("{x=\"1\"}", &a, NULL), AA_OK);
    CHECK_INT_EQ(aa_matchers_parse("{y=~\"2\"}", &c, NULL), AA_OK);
    aat_buf_init(&b, 1024);
    CHECK_INT_EQ(aa_promql_selector(&b, "m", &a, &c), AA_OK);
    CHECK_STR_EQ(b.data, "m{x=\"1\", y=~\"2\"}");
    aat_buf_reset(&b);
    CHECK_INT_EQ(aa_promql_selector(&b, NULL, &a, NULL), AA_OK);
    CHECK_STR_EQ(b.data, "{x=\"1\"}");
    aat_buf_reset(&b);
    CHECK_INT_EQ(aa_promql_selector(&b, "m", NULL, NULL), AA_OK);
    CHECK_STR_EQ(b.data, "m");
    aat_buf_reset(&b);
    CHECK_INT_EQ(aa_promql_selector(&b, NULL, NULL, NULL), AA_OK);
    CHECK_STR_EQ(b.data, "{}");
    aat_buf_release(&b);
    aa_matchers_clear(&a);
    aa_matchers_clear(&c);
}

static void test_raw(void)
{
    expect("query: 'sum(rate(x[$window]))'", NULL, W5M, "sum(rate(x[5m]))");
    expect("query: 'rate(x[$window]) / rate(y[${window}]) > $windows'",
           "{job=\"api\"}", 90000,
           "rate(x[1m30s]) / rate(y[1m30s]) > $windows");
    expect("query: 'up'", NULL, W5M, "up");
    expect("query: \"up[$window]\\n\\n \"", NULL, W5M, "up[5m]");
}

static void test_errors(void)
{
    aa_ruleset *rs = load("metric: g, stat: max");
    char *q = (char *)1;
    aa_diag d;
    aa_rule r;

    if (rs == NULL) {
        return;
    }
    CHECK_INT_EQ(aa_promql_compile(&rs->rules[0], NULL, 0, &q, &d), AA_EINVAL);
    CHECK(q == NULL);
    CHECK_INT_EQ(aa_promql_compile(NULL, NULL, W5M, &q, &d), AA_EINVAL);
    /* a stat/type pair outside the table (only reachable by hand) */
    r = rs->rules[0];
    r.type = AA_TYPE_COUNTER;
    aa_diag_clear(&d);
    CHECK_INT_EQ(aa_promql_compile(&r, NULL, W5M, &q, &d), AA_EINVAL);
    CHECK(q == NULL);
    CHECK_STR_CONTAINS(d.message, "cannot be applied");
    aa_ruleset_free(rs);
}

static void test_plan(void)
{
    aa_ruleset *rs = load("metric: h, stat: avg, type: histogram");
    aa_plan p;

    if (rs != NULL) {
        CHECK_INT_EQ(aa_rule_plan(&rs->rules[0], &p), AA_OK);
        CHECK_STR_EQ(p.suffix, "_sum");
        CHECK_STR_EQ(p.denominator_suffix, "_count");
        CHECK_INT_EQ(p.fn, AA_FN_RATE);
        CHECK_INT_EQ(p.agg, AA_AGG_SUM);
        CHECK(!p.quantile);
        aa_ruleset_free(rs);
    }
    rs = load("metric: h, stat: p90");
    if (rs != NULL) {
        CHECK_INT_EQ(aa_rule_plan(&rs->rules[0], &p), AA_OK);
        CHECK_STR_EQ(p.suffix, "_bucket");
        CHECK(p.quantile);
        CHECK(p.denominator_suffix == NULL);
        aa_ruleset_free(rs);
    }
    rs = load("metric: g, stat: last");
    if (rs != NULL) {
        CHECK_INT_EQ(aa_rule_plan(&rs->rules[0], &p), AA_OK);
        CHECK_STR_EQ(p.suffix, "");
        CHECK_INT_EQ(p.fn, AA_FN_LAST_OVER_TIME);
        CHECK_INT_EQ(p.agg, AA_AGG_MAX);
        aa_ruleset_free(rs);
    }
    rs = load("query: up");
    if (rs != NULL) {
        CHECK_INT_EQ(aa_rule_plan(&rs->rules[0], &p), AA_EINVAL);
        aa_ruleset_free(rs);
    }
    {
        /* which stat/type pairs the table holds (contract §5) */
        static const struct {
            aa_stat stat;
            aa_metric_type type;
            int rc;
        } pairs[] = {
            {AA_STAT_QUANTILE, AA_TYPE_HISTOGRAM, AA_OK},
            {AA_STAT_QUANTILE, AA_TYPE_GAUGE, AA_EINVAL},
            {AA_STAT_AVG, AA_TYPE_GAUGE, AA_OK},
            {AA_STAT_AVG, AA_TYPE_COUNTER, AA_EINVAL},
            {AA_STAT_RATE, AA_TYPE_COUNTER, AA_OK},
            {AA_STAT_RATE, AA_TYPE_HISTOGRAM, AA_OK},
            {AA_STAT_INCREASE, AA_TYPE_GAUGE, AA_EINVAL},
            {AA_STAT_SUM_RATE, AA_TYPE_HISTOGRAM, AA_OK},
            {AA_STAT_SUM_RATE, AA_TYPE_COUNTER, AA_EINVAL},
            {AA_STAT_MAX, AA_TYPE_GAUGE, AA_OK},
            {AA_STAT_MAX, AA_TYPE_COUNTER, AA_EINVAL},
            {AA_STAT_MIN, AA_TYPE_HISTOGRAM, AA_EINVAL},
            {AA_STAT_DELTA, AA_TYPE_GAUGE, AA_OK},
            {AA_STAT_SLOPE, AA_TYPE_UNKNOWN, AA_EINVAL},
            /* computed by the audit from its buckets, not a pipeline */
            {AA_STAT_SHARE_ABOVE, AA_TYPE_HISTOGRAM, AA_EINVAL},
        };
        aa_rule r;
        size_t i;

        memset(&r, 0, sizeof(r));
        r.metric = "m";
        for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
            r.stat = pairs[i].stat;
            r.type = pairs[i].type;
            CHECK_INT_EQ(aa_rule_plan(&r, &p), pairs[i].rc);
        }
    }
    CHECK_STR_EQ(aa_agg_name(AA_AGG_AVG), "avg");
    CHECK_STR_EQ(aa_range_fn_name(AA_FN_DERIV), "deriv");
    CHECK_STR_EQ(aa_range_fn_name(AA_FN_MIN_OVER_TIME), "min_over_time");
}

static void test_number(void)
{
    char buf[64];

    CHECK_STR_EQ(aa_promql_number(0.999, buf, sizeof(buf)), "0.999");
    CHECK_STR_EQ(aa_promql_number(0.05, buf, sizeof(buf)), "0.05");
    CHECK_STR_EQ(aa_promql_number(250.0 / 1000.0, buf, sizeof(buf)), "0.25");
    CHECK_STR_EQ(aa_promql_number(1e-6, buf, sizeof(buf)), "1e-06");
    CHECK_STR_EQ(aa_promql_number(10000, buf, sizeof(buf)), "10000");
    CHECK_STR_EQ(aa_promql_number(-3, buf, sizeof(buf)), "-3");
    CHECK_STR_EQ(aa_promql_number(0.1 + 0.2, buf, sizeof(buf)),
                 "0.30000000000000004");
    CHECK_STR_EQ(aa_promql_number(NAN, buf, sizeof(buf)), "NaN");
    CHECK_STR_EQ(aa_promql_number(INFINITY, buf, sizeof(buf)), "+Inf");
    CHECK_STR_EQ(aa_promql_number(-INFINITY, buf, sizeof(buf)), "-Inf");
}

static void raw_bad(const char *q, unsigned col, const char *msg)
{
    aa_diag d;

    aa_diag_clear(&d);
    CHECK_INT_EQ(aa_promql_check_raw(q, &d), AA_ESYNTAX);
    CHECK_INT_EQ(d.column, col);
    CHECK_STR_CONTAINS(d.message, msg);
}

static void test_check_raw(void)
{
    CHECK_INT_EQ(aa_promql_check_raw("sum(rate(x{a=\")\"}[$window]))", NULL),
                 AA_OK);
    CHECK_INT_EQ(aa_promql_check_raw("up # a comment with (\n", NULL), AA_OK);
    CHECK_INT_EQ(aa_promql_check_raw("x{a='\\''}", NULL), AA_OK);
    CHECK_INT_EQ(aa_promql_check_raw("x{a=`\\`}", NULL), AA_OK);
    raw_bad("sum(rate(x[5m])", 4, "unclosed '('");
    raw_bad("x)", 2, "unexpected ')'");
    raw_bad("sum(x]", 6, "expected ')' before ']'");
    raw_bad("x{a=\"b}", 5, "unterminated string");
    raw_bad("x{a='b\\'}", 5, "unterminated string");
    raw_bad("   ", 1, "empty");
    raw_bad("# only a comment", 1, "empty");
}

int main(void)
{
    test_share_above();
    test_stats_no_by();
    test_stats_by();
    test_selectors();
    test_escaping();
    test_selector_fn();
    test_raw();
    test_errors();
    test_plan();
    test_number();
    test_check_raw();
    return check_report("test_promql");
}
