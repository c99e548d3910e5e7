/*
 * test_audit.c: the audit orchestration (src/auditor/tool_audit.c) over
 * the local backend and a store filled by hand: why an empty rule is
 * empty (each of the four answers), culprit sites picked for the
 * breaching group only and restricted by the rule's "where", raw rules
 * refused locally, and the step of "for:" rules (the data's interval,
 * widened for a long "for", a configuration error for an explicit --step
 * that needs too many steps), quantiles and shares computed from bucket
 * rates (an instant and a "for:" rule), not_applicable from the probe's
 * info series, and the charts of --html.  Expected texts are the
 * documented ones (docs/cli.md "No data", docs/rules.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/result.h"
#include "aa/rules.h"
#include "aa/tsdb.h"
#include "check.h"
#include "tool_audit.h"
#include "tool_backend.h"
#include "tool_cfg.h"

/* The pinned end of every audit here: 2026-11-26T10:00:00Z. */
#define END_MS ((int64_t)1795687200000)
#define WINDOW_MS ((int64_t)60000)

static void put(aa_tsdb *db, const char *name, const char *family,
                aa_expo_type type, const char *instance, const char *site,
                int64_t t_ms, double v)
{
    aa_labels ls = {NULL, 0};
    size_t id;

    CHECK_INT_EQ(aa_labels_add(&ls, "__name__", name), AA_OK);
    if (instance != NULL) {
        CHECK_INT_EQ(aa_labels_add(&ls, "instance", instance), AA_OK);
    }
    if (site != NULL) {
        CHECK_INT_EQ(aa_labels_add(&ls, "site", site), AA_OK);
    }
    CHECK_INT_EQ(aa_tsdb_series(db, &ls, family, &id), AA_OK);
    CHECK_INT_EQ(aa_tsdb_set_type(db, family, type), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, id, t_ms, v), AA_OK);
    aa_labels_clear(&ls);
}

/* A store with: the loop's current block gauge of instances a (2 s) and
 * b (0.5 s); site counters of a (one site) and b (one site, more time);
 * a gauge sampled only before the window; a counter with one sample in
 * the window. */
static aa_tsdb *make_store(void)
{
    static const char *const blk = "python_asyncio_loop_current_block_seconds";
    static const char *const site = "python_asyncio_block_site_seconds_total";
    aa_tsdb *db = NULL;
    int64_t t;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    for (t = END_MS - WINDOW_MS; t <= END_MS; t += 15000) {
        put(db, blk, blk, AA_EXPO_GAUGE, "a", NULL, t,
            t == END_MS - 15000 ? 2.0 : 0.0);
        put(db, blk, blk, AA_EXPO_GAUGE, "b", NULL, t, 0.5);
        put(db, site, "python_asyncio_block_site_seconds", AA_EXPO_COUNTER,
            "a", "a.py:1 slow", t, (double)(t - (END_MS - WINDOW_MS)) / 20000);
        put(db, site, "python_asyncio_block_site_seconds", AA_EXPO_COUNTER,
            "b", "b.py:2 other", t, (double)(t - (END_MS - WINDOW_MS)) / 1000);
    }
    put(db, "old_gauge", "old_gauge", AA_EXPO_GAUGE, "a", NULL,
        END_MS - 10 * WINDOW_MS, 1.0);
    put(db, "lonely_total", "lonely", AA_EXPO_COUNTER, "a", NULL,
        END_MS - 1000, 1.0);
    return db;
}

static const char rules_yaml[] =
    "version: 1\n"
    "rules:\n"
    "  - id: frozen_by_instance\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_current_block_seconds\n"
    "    stat: max\n"
    "    by: [instance]\n"
    "    warning: \"> 100ms\"\n"
    "    critical: \"> 1s\"\n"
    "  - id: frozen_b\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_current_block_seconds\n"
    "    stat: max\n"
    "    where: '{instance=\"b\"}'\n"
    "    warning: \"> 100ms\"\n"
    "  - id: absent\n"
    "    finding: f\n"
    "    metric: python_asyncio_tasks\n"
    "    stat: max\n"
    "    critical: \"> 1\"\n"
    "  - id: absent_histogram\n"
    "    finding: f\n"
    "    metric: mine_seconds\n"
    "    stat: p99\n"
    "    critical: \"> 1\"\n"
    "  - id: no_match\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_current_block_seconds\n"
    "    stat: max\n"
    "    where: '{instance=\"zzz\"}'\n"
    "    critical: \"> 1\"\n"
    "  - id: quiet\n"
    "    finding: f\n"
    "    metric: old_gauge\n"
    "    stat: max\n"
    "    critical: \"> 1\"\n"
    "  - id: one_sample\n"
    "    finding: f\n"
    "    metric: lonely_total\n"
    "    stat: rate\n"
    "    critical: \"> 1\"\n"
    "  - id: raw\n"
    "    finding: f\n"
    "    query: sum(up)\n"
    "    critical: \"> 1\"\n";

static aa_ruleset *load(const char *yaml)
{
    aa_ruleset *rs = NULL;
    aa_diag d;

    CHECK_INT_EQ(aa_ruleset_load_buffer("t.yaml", yaml, strlen(yaml), &rs, &d),
                 AA_OK);
    return rs;
}

static aa_report *new_report(const aa_ruleset *rs)
{
    aa_report *r = calloc(1, sizeof(*r));

    r->rules = calloc(rs->nrules, sizeof(*r->rules));
    r->nrules = rs->nrules;
    r->target = strdup("test");
    r->mode = strdup("samples");
    return r;
}

/* Audits rs over db; returns the report (the flags into *config). */
static aa_report *audit(const tool_config *cfg, const aa_ruleset *rs,
                        const aa_tsdb *db, int64_t interval_ms, bool *config,
                        bool *incomplete)
{
    aa_report *r = new_report(rs);
    tool_backend *b = NULL;

    CHECK_INT_EQ(tool_backend_local_new(db, interval_ms, NULL, &b), AA_OK);
    CHECK_INT_EQ(
        tool_audit_run(cfg, rs, b, END_MS, WINDOW_MS, r, config, incomplete),
        AA_OK);
    tool_backend_free(b);
    return r;
}

static void test_verdicts_sites_and_no_data(void)
{
    tool_config cfg;
    aa_tsdb *db = make_store();
    aa_ruleset *rs = load(rules_yaml);
    aa_report *r;
    bool config = true, incomplete = true;

    memset(&cfg, 0, sizeof(cfg));
    cfg.verbosity = -1;
    r = audit(&cfg, rs, db, 15000, &config, &incomplete);
    CHECK(!config);
    CHECK(!incomplete);
    CHECK_INT_EQ(r->step_ms, 15000);
    CHECK_INT_EQ(r->status, AA_STATUS_CRITICAL);

    /* a is critical and b a warning: each breaching group gets its own
     * sites, the worst group first, although b's site blocked longer; a's
     * list never holds b's site */
    CHECK_INT_EQ(r->rules[0].verdict, AA_VERDICT_CRITICAL);
    CHECK_INT_EQ(r->rules[0].nsites, 2);
    if (r->rules[0].nsites == 2) {
        CHECK_STR_EQ(r->rules[0].sites[0].site, "a.py:1 slow");
        CHECK_DBL_NEAR(r->rules[0].sites[0].seconds, 3.0, 1e-9);
        CHECK_STR_EQ(aa_labels_get(&r->rules[0].sites[0].group, "instance"),
                     "a");
        CHECK_STR_EQ(r->rules[0].sites[1].site, "b.py:2 other");
        CHECK_STR_EQ(aa_labels_get(&r->rules[0].sites[1].group, "instance"),
                     "b");
    }
    /* where {instance="b"} restricts the sites too */
    CHECK_INT_EQ(r->rules[1].verdict, AA_VERDICT_WARNING);
    CHECK_INT_EQ(r->rules[1].nsites, 1);
    if (r->rules[1].nsites == 1) {
        CHECK_STR_EQ(r->rules[1].sites[0].site, "b.py:2 other");
        CHECK_DBL_NEAR(r->rules[1].sites[0].seconds, 60.0, 1e-9);
    }

    CHECK_INT_EQ(r->rules[2].verdict, AA_VERDICT_NO_DATA);
    CHECK_STR_EQ(r->rules[2].message, "metric python_asyncio_tasks has no "
                                      "series; is the probe installed?");
    CHECK_STR_EQ(r->rules[3].message,
                 "metric mine_seconds has no series; is it exported and "
                 "scraped? (looked for mine_seconds_bucket)");
    CHECK_STR_EQ(r->rules[4].message,
                 "metric python_asyncio_loop_current_block_seconds has "
                 "series, but none match {instance=\"zzz\"}");
    CHECK_STR_EQ(r->rules[5].message,
                 "metric old_gauge: no samples in the window "
                 "(2026-11-26T09:59:00Z to 2026-11-26T10:00:00Z)");
    CHECK_STR_EQ(r->rules[6].message,
                 "metric lonely_total has samples in the window "
                 "(2026-11-26T09:59:00Z to 2026-11-26T10:00:00Z), but the "
                 "query returned nothing: too few samples for the stat (a "
                 "rate needs two in the window) or a \"by\" label missing");
    CHECK_INT_EQ(r->rules[7].verdict, AA_VERDICT_ERROR);
    CHECK_STR_EQ(r->rules[7].message,
                 "rule raw: raw PromQL queries need a Prometheus backend "
                 "(--target); scrape mode evaluates structured rules only");
    CHECK(r->rules[7].query == NULL);
    aa_report_free(r);
    aa_ruleset_free(rs);
    aa_tsdb_free(db);
}

static const char for_yaml[] =
    "version: 1\n"
    "rules:\n"
    "  - id: frozen_for\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_current_block_seconds\n"
    "    stat: max\n"
    "    by: [instance]\n"
    "    warning: \"> 100ms\"\n"
    "    for: 30s\n"
    "  - id: frozen_long\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_current_block_seconds\n"
    "    stat: max\n"
    "    warning: \"> 100ms\"\n"
    "    for: %s\n";

static void test_for_step(void)
{
    tool_config cfg;
    aa_tsdb *db = make_store();
    char yaml[sizeof(for_yaml) + 16];
    aa_ruleset *rs;
    aa_report *r;
    bool config = true, incomplete = true;

    memset(&cfg, 0, sizeof(cfg));
    cfg.verbosity = -1;
    /* the data's interval is the step; for: 30s holds over 3 steps for b
     * (0.5 s throughout), not for a (2 s at one step only) */
    snprintf(yaml, sizeof(yaml), for_yaml, "45s");
    rs = load(yaml);
    r = audit(&cfg, rs, db, 15000, &config, &incomplete);
    CHECK(!config);
    CHECK_INT_EQ(r->step_ms, 15000);
    CHECK_INT_EQ(r->rules[0].verdict, AA_VERDICT_WARNING);
    CHECK(r->rules[0].nseries == 2);
    if (r->rules[0].nseries == 2) {
        CHECK_STR_EQ(aa_labels_get(&r->rules[0].series[0].labels, "instance"),
                     "b");
        CHECK_INT_EQ(r->rules[0].series[1].verdict, AA_VERDICT_OK);
    }
    aa_report_free(r);
    aa_ruleset_free(rs);

    /* for: 1d at a 1 s interval would be 86400 steps: the default step is
     * widened to 8.64 s (10000 steps) */
    snprintf(yaml, sizeof(yaml), for_yaml, "1d");
    rs = load(yaml);
    r = audit(&cfg, rs, db, 1000, &config, &incomplete);
    CHECK(!config);
    CHECK_INT_EQ(r->step_ms, 8640);
    CHECK(r->rules[1].verdict != AA_VERDICT_ERROR);
    aa_report_free(r);

    /* ... but an explicit --step is not: a configuration error naming the
     * rule */
    cfg.step_ms = 1000;
    r = audit(&cfg, rs, db, 15000, &config, &incomplete);
    CHECK(config);
    CHECK_INT_EQ(r->step_ms, 1000);
    CHECK_INT_EQ(r->rules[0].verdict, AA_VERDICT_WARNING);
    CHECK_INT_EQ(r->rules[1].verdict, AA_VERDICT_ERROR);
    CHECK_STR_EQ(r->rules[1].message,
                 "rule frozen_long: for: spans 86400 steps of --step; at "
                 "most 10000 are allowed (raise --step)");
    aa_report_free(r);
    aa_ruleset_free(rs);
    aa_tsdb_free(db);
}

/* One sample of a series with the labels given as name, value pairs
 * (NULL-terminated). */
static void put_labels(aa_tsdb *db, const char *family, aa_expo_type type,
                       const char *const *kv, int64_t t_ms, double v)
{
    aa_labels ls = {NULL, 0};
    size_t id;

    for (size_t i = 0; kv[i] != NULL; i += 2) {
        CHECK_INT_EQ(aa_labels_add(&ls, kv[i], kv[i + 1]), AA_OK);
    }
    CHECK_INT_EQ(aa_tsdb_series(db, &ls, family, &id), AA_OK);
    CHECK_INT_EQ(aa_tsdb_set_type(db, family, type), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, id, t_ms, v), AA_OK);
    aa_labels_clear(&ls);
}

/* The probe's lag buckets 2^(k/4) s around one second, as it writes le. */
static const char *const lag_les[] = {
    "1",   "1.189207115002721", "1.4142135623730951", "1.681792830507429", "2",
    "+Inf"};

/* A store of instance "a": every lag observation (25 per 15 s) in
 * (2^(1/2), 2^(3/4)] s; two loops' probe info, "u" on uvloop and "s" on
 * asyncio; no busy-seconds counter at all. */
static aa_tsdb *make_lag_store(void)
{
    aa_tsdb *db = NULL;
    int64_t t;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    for (t = END_MS - WINDOW_MS; t <= END_MS; t += 15000) {
        double n = (double)(t - (END_MS - WINDOW_MS)) / 15000 * 25;

        for (size_t k = 0; k < sizeof(lag_les) / sizeof(lag_les[0]); k++) {
            const char *kv[] = {
                "__name__", "lag_seconds_bucket", "instance", "a",
                "le",       lag_les[k],           NULL};

            put_labels(db, "lag_seconds", AA_EXPO_HISTOGRAM, kv, t,
                       k >= 3 ? n : 0);
        }
        {
            const char *u[] = {
                "__name__", "python_asyncio_probe_info", "instance",
                "u",        "loop_implementation",       "uvloop",
                NULL};
            const char *a[] = {
                "__name__", "python_asyncio_probe_info", "instance",
                "s",        "loop_implementation",       "asyncio",
                NULL};

            put_labels(db, "python_asyncio_probe_info", AA_EXPO_GAUGE, u, t,
                       1);
            put_labels(db, "python_asyncio_probe_info", AA_EXPO_GAUGE, a, t,
                       1);
        }
    }
    return db;
}

static const char lag_yaml[] =
    "version: 1\n"
    "rules:\n"
    "  - id: lag_p99\n"
    "    finding: f\n"
    "    metric: lag_seconds\n"
    "    type: histogram\n"
    "    stat: p99\n"
    "    by: [instance]\n"
    "    critical: \"> 1s\"\n"
    "  - id: lag_share\n"
    "    finding: f\n"
    "    metric: lag_seconds\n"
    "    stat: share_above(1s)\n"
    "    critical: \"> 50%\"\n"
    "  - id: lag_share_no_bucket\n"
    "    finding: f\n"
    "    metric: lag_seconds\n"
    "    stat: share_above(1.5s)\n"
    "    critical: \"> 50%\"\n"
    "  - id: lag_p99_for\n"
    "    finding: f\n"
    "    metric: lag_seconds\n"
    "    type: histogram\n"
    "    stat: p99\n"
    "    critical: \"> 1s\"\n"
    "    for: 30s\n"
    "  - id: busy_uvloop\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_busy_seconds_total\n"
    "    stat: rate\n"
    "    where: '{instance=\"u\"}'\n"
    "    critical: \"> 90%\"\n"
    "    unmeasured_on: [uvloop]\n"
    "  - id: busy_asyncio\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_busy_seconds_total\n"
    "    stat: rate\n"
    "    where: '{instance=\"s\"}'\n"
    "    critical: \"> 90%\"\n"
    "    unmeasured_on: [uvloop]\n"
    "  - id: busy_both\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_busy_seconds_total\n"
    "    stat: rate\n"
    "    critical: \"> 90%\"\n"
    "    unmeasured_on: [uvloop]\n"
    "  - id: raw\n"
    "    finding: f\n"
    "    query: sum(up)\n"
    "    critical: \"> 1\"\n";

/* Quantiles and shares from bucket rates, not_applicable from the probe's
 * info series, and the charts, over the local backend. */
static void test_buckets_loops_charts(void)
{
    tool_config cfg;
    aa_tsdb *db = make_lag_store();
    aa_ruleset *rs = load(lag_yaml);
    aa_report *r;
    bool config = true, incomplete = true;

    memset(&cfg, 0, sizeof(cfg));
    cfg.verbosity = -1;
    cfg.html_path = "report.html";
    r = audit(&cfg, rs, db, 15000, &config, &incomplete);
    CHECK(!config);
    CHECK(!incomplete);

    /* p99: the midpoint 2^(5/8) of the one bucket, an estimate */
    CHECK_INT_EQ(r->rules[0].verdict, AA_VERDICT_CRITICAL);
    CHECK_DBL_NEAR(r->rules[0].value, 1.5422108254079407, 1e-9);
    CHECK_INT_EQ(r->rules[0].bound.kind, AA_BOUND_ESTIMATE);
    CHECK(r->rules[0].bound.one_bucket);
    CHECK(r->rules[0].nseries == 1 &&
          r->rules[0].series[0].bound.kind == AA_BOUND_ESTIMATE);
    /* every observation is above 1 s */
    CHECK_INT_EQ(r->rules[1].verdict, AA_VERDICT_CRITICAL);
    CHECK_DBL_NEAR(r->rules[1].value, 1.0, 1e-12);
    CHECK_INT_EQ(r->rules[1].bound.kind, AA_BOUND_NONE);
    /* no bucket at 1.5 s, inside the one bucket that holds everything:
     * between none and all above it, by interpolation 1 - (1.5 - 2^(1/2))
     * / (2^(3/4) - 2^(1/2)) */
    CHECK_INT_EQ(r->rules[2].verdict, AA_VERDICT_CRITICAL);
    CHECK_INT_EQ(r->rules[2].bound.kind, AA_BOUND_BETWEEN);
    CHECK_DBL_NEAR(r->rules[2].bound.lower, 0, 0);
    CHECK_DBL_NEAR(r->rules[2].bound.upper, 1, 1e-12);
    CHECK_DBL_NEAR(r->rules[2].value,
                   1 - (1.5 - 1.4142135623730951) /
                           (1.681792830507429 - 1.4142135623730951),
                   1e-9);
    /* for: 30s: the same estimate at each of the 3 steps ending at the
     * window's end, judged step by step from the bucket rates */
    CHECK_INT_EQ(r->rules[3].verdict, AA_VERDICT_CRITICAL);
    CHECK_DBL_NEAR(r->rules[3].value, 1.5422108254079407, 1e-9);
    CHECK_INT_EQ(r->rules[3].bound.kind, AA_BOUND_ESTIMATE);

    /* the only loop under {instance="u"} is uvloop: not applicable */
    CHECK_INT_EQ(r->rules[4].verdict, AA_VERDICT_NOT_APPLICABLE);
    CHECK(!r->rules[4].has_value);
    CHECK_STR_EQ(r->rules[4].message,
                 "not measured on uvloop loops: the probe does not export "
                 "python_asyncio_loop_busy_seconds_total there (see "
                 "docs/probe.md)");
    /* asyncio under {instance="s"}: missing data, as before */
    CHECK_INT_EQ(r->rules[5].verdict, AA_VERDICT_NO_DATA);
    CHECK_STR_EQ(r->rules[5].message,
                 "metric python_asyncio_loop_busy_seconds_total has no "
                 "series; is the probe installed?");
    /* uvloop and asyncio loops both: the rule applies to one of them */
    CHECK_INT_EQ(r->rules[6].verdict, AA_VERDICT_NO_DATA);
    CHECK_INT_EQ(r->status, AA_STATUS_CRITICAL);

    /* charts: 60 s at 1 s steps, 61 points; the p99 chart's last point is
     * the value judged */
    CHECK(r->rules[0].chart.asked);
    CHECK_INT_EQ(r->rules[0].chart.step_ms, 1000);
    CHECK_INT_EQ(r->rules[0].chart.start_ms, END_MS - WINDOW_MS);
    CHECK_INT_EQ(r->rules[0].chart.end_ms, END_MS);
    CHECK(r->rules[0].chart.message == NULL);
    CHECK_INT_EQ(r->rules[0].chart.lines.n, 1);
    if (r->rules[0].chart.lines.n == 1) {
        const aa_range_series *s = &r->rules[0].chart.lines.v[0];

        CHECK(s->n > 30);
        CHECK_INT_EQ(s->pts[s->n - 1].t_ms, END_MS);
        CHECK_DBL_NEAR(s->pts[s->n - 1].v, 1.5422108254079407, 1e-9);
    }
    CHECK(r->rules[2].chart.message == NULL);
    CHECK(r->rules[7].chart.asked);
    CHECK_STR_EQ(r->rules[7].chart.message,
                 "raw PromQL needs a Prometheus backend to be charted");
    aa_report_free(r);

    /* no --html: no chart is asked */
    cfg.html_path = NULL;
    r = audit(&cfg, rs, db, 15000, &config, &incomplete);
    CHECK(!r->rules[0].chart.asked);
    CHECK_INT_EQ(r->rules[0].chart.lines.n, 0);
    aa_report_free(r);
    aa_ruleset_free(rs);
    aa_tsdb_free(db);
}

int main(void)
{
    test_buckets_loops_charts();
    test_verdicts_sites_and_no_data();
    test_for_step();
    return check_report("test_audit");
}
