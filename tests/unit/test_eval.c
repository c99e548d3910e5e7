/*
 * test_eval.c: the local evaluator against hand-computed values of
 * rate/increase/delta/deriv/_over_time, counter resets, staleness and
 * grouping.  Prometheus's own vectors (tests/data/promql/histograms.test)
 * are checked by promql_test_runner.c, the one reader of the .test
 * format, which meson runs as the test "promql_histograms".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/eval.h"
#include "aa/rules.h"
#include "aa/tsdb.h"
#include "check.h"

/* ---- functions by hand ----------------------------------------------- */

static void test_rate_functions(void)
{
    /* A counter scraped every 10 s over a 60 s window ending at 60 s. */
    aa_point p[] = {{5000, 10},  {15000, 20}, {25000, 30},
                    {35000, 40}, {45000, 50}, {55000, 60}};
    aa_point reset[] = {{0, 100}, {10000, 110}, {20000, 5}, {30000, 15}};
    aa_point g[] = {{0, 1}, {1000, 3}, {2000, 5}};
    aa_point flat[] = {{0, 7}, {1000, 7}};
    double v;

    /* increase: 50 over 50 s sampled; extrapolate 5 s at each end (both
     * below 1.1 x 10 s), and the zero point (10/50*50 s = 10 s) is not
     * closer than 5 s: 50 * 60/50 = 60. */
    CHECK(aa_eval_extrapolated_rate(p, 6, 0, 60000, true, false, &v));
    CHECK_DBL_NEAR(v, 60.0, 1e-12);
    CHECK(aa_eval_extrapolated_rate(p, 6, 0, 60000, true, true, &v));
    CHECK_DBL_NEAR(v, 1.0, 1e-12);
    /* A window start far away: extrapolate half an interval only. */
    CHECK(aa_eval_extrapolated_rate(p, 6, -100000, 60000, false, false, &v));
    CHECK_DBL_NEAR(v, 50.0 * (50 + 5 + 5) / 50, 1e-12);
    /* Counter reset: 110 -> 5 adds 110: 15 - 100 + 110 = 25 over 30 s;
     * zero point 100/25*30 = 120 s > 0 s to start; 30 s window. */
    CHECK(aa_eval_extrapolated_rate(reset, 4, 0, 30000, true, false, &v));
    CHECK_DBL_NEAR(v, 25.0, 1e-12);
    /* delta ignores resets. */
    CHECK(aa_eval_extrapolated_rate(reset, 4, 0, 30000, false, false, &v));
    CHECK_DBL_NEAR(v, -85.0, 1e-12);
    CHECK(!aa_eval_extrapolated_rate(p, 1, 0, 60000, true, true, &v));
    CHECK(aa_eval_deriv(g, 3, &v));
    CHECK_DBL_NEAR(v, 2.0, 1e-12);
    CHECK(aa_eval_deriv(flat, 2, &v));
    CHECK_DBL_NEAR(v, 0.0, 0);
    CHECK(!aa_eval_deriv(g, 1, &v));
}

static void test_quantile_edges(void)
{
    aa_bucket b[] = {{1, 1}, {2, 2}};
    aa_bucket nm[] = {{0.1, 20}, {1, 10},    {10, 50},
                      {100, 40}, {1000, 90}, {INFINITY, 80}};
    size_t n = 2;

    /* no +Inf bucket */
    CHECK(isnan(aa_eval_bucket_quantile(0.5, b, &n)));
    n = 6;
    CHECK_DBL_NEAR(aa_eval_bucket_quantile(0.5, nm, &n), 8.5, 1e-12);
}

/*
 * "le" is read with Go's ParseFloat: "0x1p1" is 2, "0x4" (hexadecimal
 * without an exponent) is not a number and its bucket is skipped.
 */
static void test_le_parsing(void)
{
    static const char *les[] = {"0x1p1", "0x4", "+Inf"};
    static const double ends[] = {10, 20, 20};
    aa_tsdb *db = NULL;
    aa_rule r;
    aa_vector v = {NULL, 0};
    size_t i, id;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    for (i = 0; i < 3; i++) {
        aa_labels ls = {NULL, 0};

        aa_labels_add(&ls, "__name__", "h_bucket");
        aa_labels_add(&ls, "le", les[i]);
        CHECK_INT_EQ(aa_tsdb_series(db, &ls, "h", &id), AA_OK);
        CHECK_INT_EQ(aa_tsdb_append(db, id, 0, 0), AA_OK);
        CHECK_INT_EQ(aa_tsdb_append(db, id, 10000, ends[i]), AA_OK);
        aa_labels_clear(&ls);
    }
    memset(&r, 0, sizeof(r));
    r.id = "q";
    r.metric = "h";
    r.stat = AA_STAT_QUANTILE;
    r.quantile = 0.75;
    r.type = AA_TYPE_HISTOGRAM;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    if (v.n == 1) {
        CHECK_DBL_NEAR(v.v[0].value, 2, 1e-12);
    }
    aa_vector_clear(&v);
    aa_tsdb_free(db);
}

/* A store with two instances of a gauge and a counter, one going stale. */
static void test_rules_and_staleness(void)
{
    aa_tsdb *db = NULL;
    aa_labels a = {NULL, 0}, b = {NULL, 0}, c = {NULL, 0};
    size_t ia, ib, ic, tid, i;
    aa_rule r;
    char *by[] = {"instance"};
    aa_vector v = {NULL, 0};
    aa_matrix m = {NULL, 0};
    aa_matchers sel = {NULL, 0};
    int64_t t;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    aa_labels_add(&a, "__name__", "g");
    aa_labels_add(&a, "instance", "x:1");
    aa_labels_add(&b, "__name__", "g");
    aa_labels_add(&b, "instance", "y:1");
    aa_labels_add(&c, "__name__", "c_total");
    aa_labels_add(&c, "instance", "x:1");
    CHECK_INT_EQ(aa_tsdb_series(db, &a, NULL, &ia), AA_OK);
    CHECK_INT_EQ(aa_tsdb_series(db, &b, NULL, &ib), AA_OK);
    CHECK_INT_EQ(aa_tsdb_series(db, &c, "c", &ic), AA_OK);
    CHECK_INT_EQ(aa_tsdb_set_type(db, "c", AA_EXPO_COUNTER), AA_OK);
    CHECK_INT_EQ(aa_tsdb_target(db, "x:1", &tid), AA_OK);
    for (i = 0, t = 0; i <= 10; i++, t += 1000) {
        aa_tsdb_scrape_begin(db, tid);
        if (i < 6) {
            aa_tsdb_scrape_seen(db, tid, ia);
            CHECK_INT_EQ(aa_tsdb_append(db, ia, t, (double)i), AA_OK);
        }
        aa_tsdb_scrape_seen(db, tid, ic);
        CHECK_INT_EQ(aa_tsdb_append(db, ic, t, (double)(i * 2)), AA_OK);
        CHECK_INT_EQ(aa_tsdb_scrape_end(db, tid, t, true), AA_OK);
        CHECK_INT_EQ(aa_tsdb_append(db, ib, t, 100.0 - (double)i), AA_OK);
    }
    /* g{x:1} vanished at 6 s: one stale marker, skipped by readers */
    CHECK_INT_EQ(aa_tsdb_npoints(db), 6 + 1 + 11 + 11);
    CHECK_INT_EQ(aa_tsdb_metric_type(db, "c_total"), AA_TYPE_COUNTER);
    CHECK_STR_EQ(aa_tsdb_family(db, ic), "c");
    CHECK_INT_EQ(aa_tsdb_append(db, ia, 3000, 1), AA_EINVAL);

    memset(&r, 0, sizeof(r));
    r.id = "g";
    r.metric = "g";
    r.stat = AA_STAT_MAX;
    r.type = AA_TYPE_GAUGE;
    r.by = by;
    r.nby = 1;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 2);
    for (i = 0; i < v.n; i++) {
        const char *inst = aa_labels_get(&v.v[i].labels, "instance");

        CHECK_INT_EQ(v.v[i].labels.n, 1);
        CHECK_DBL_NEAR(v.v[i].value, strcmp(inst, "x:1") == 0 ? 5 : 100, 0);
    }
    aa_vector_clear(&v);
    /* last over the final 3 s: x:1 is stale, only y:1 answers */
    r.stat = AA_STAT_LAST;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 3000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_DBL_NEAR(v.v[0].value, 90, 0);
    aa_vector_clear(&v);
    /* min without by: one group, no labels */
    r.stat = AA_STAT_MIN;
    r.nby = 0;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_INT_EQ(v.v[0].labels.n, 0);
    CHECK_DBL_NEAR(v.v[0].value, 0, 0);
    aa_vector_clear(&v);
    /* avg with a regex selector that keeps only y:1 */
    r.stat = AA_STAT_AVG;
    CHECK_INT_EQ(aa_matchers_parse("{instance=~\"y.*\"}", &sel, NULL), AA_OK);
    CHECK_INT_EQ(aa_eval_instant(db, &r, &sel, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_DBL_NEAR(v.v[0].value, 95, 1e-12);
    aa_vector_clear(&v);
    aa_matchers_clear(&sel);
    /* a bad regex is refused by the parser, and by the evaluator when a
     * matcher is built without it */
    CHECK_INT_EQ(aa_matchers_parse("{instance=~\"(\"}", &sel, NULL),
                 AA_ESYNTAX);
    {
        aa_matcher bad = {(char *)"instance", AA_MATCH_RE, (char *)"("};
        aa_matchers badm = {&bad, 1};
        aa_diag d;

        aa_diag_clear(&d);
        CHECK_INT_EQ(aa_eval_instant(db, &r, &badm, 10000, 10000, &v, &d),
                     AA_ESYNTAX);
        CHECK_STR_CONTAINS(d.message, "invalid regular expression");
        CHECK_INT_EQ(v.n, 0);
    }
    /* valid RE2 the local engine cannot run: parsed, refused here */
    CHECK_INT_EQ(aa_matchers_parse("{instance=~\"\\\\p{Greek}\"}", &sel, NULL),
                 AA_OK);
    {
        aa_diag d;

        aa_diag_clear(&d);
        CHECK_INT_EQ(aa_eval_instant(db, &r, &sel, 10000, 10000, &v, &d),
                     AA_EUNSUPPORTED);
        CHECK_STR_CONTAINS(d.message, "instance=~\"\\p{Greek}\"");
        CHECK_STR_CONTAINS(d.message, "Unicode class not supported");
        CHECK_INT_EQ(v.n, 0);
    }
    aa_matchers_clear(&sel);
    /* slope: max of x:1's +1/s and y:1's -1/s; delta of y:1: -10 */
    r.stat = AA_STAT_SLOPE;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_DBL_NEAR(v.v[0].value, 1, 1e-12);
    aa_vector_clear(&v);
    r.stat = AA_STAT_DELTA;
    CHECK_INT_EQ(aa_matchers_parse("{instance=\"y:1\"}", &sel, NULL), AA_OK);
    CHECK_INT_EQ(aa_eval_instant(db, &r, &sel, 10000, 10000, &v, NULL), AA_OK);
    CHECK_DBL_NEAR(v.v[0].value, -10, 1e-12);
    aa_vector_clear(&v);
    aa_matchers_clear(&sel);
    /* rate of the counter: 2/s */
    r.metric = "c_total";
    r.stat = AA_STAT_RATE;
    r.type = AA_TYPE_COUNTER;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_DBL_NEAR(v.v[0].value, 2, 1e-12);
    aa_vector_clear(&v);
    /* range: one point per step where the window holds two samples */
    CHECK_INT_EQ(
        aa_eval_range(db, &r, NULL, 5000, 10000, 1000, 2000, &m, NULL), AA_OK);
    CHECK_INT_EQ(m.n, 1);
    CHECK_INT_EQ(m.v[0].n, 6);
    CHECK_INT_EQ(m.v[0].pts[5].t_ms, 10000);
    aa_matrix_clear(&m);
    /* a raw rule is refused */
    r.metric = NULL;
    r.query = "up";
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL),
                 AA_EUNSUPPORTED);
    aa_labels_clear(&a);
    aa_labels_clear(&b);
    aa_labels_clear(&c);
    aa_tsdb_free(db);
}

int main(void)
{
    test_rate_functions();
    test_quantile_edges();
    test_le_parsing();
    test_rules_and_staleness();
    return check_report("test_eval");
}
