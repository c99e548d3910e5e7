/*
 * test_judge.c: per-series verdicts (critical before warning, NaN is no
 * data), worst-wins aggregation over several series, ordering, the no_data
 * policies, and "for" over range matrices with gaps.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aa/result.h"
#include "check.h"

static aa_threshold thr(aa_cmp op, double value)
{
    aa_threshold t;

    memset(&t, 0, sizeof(t));
    t.set = true;
    t.op = op;
    t.value = value;
    snprintf(t.text, sizeof(t.text), "%s %g", aa_cmp_str(op), value);
    return t;
}

/* A "lag" rule: warning > 0.05, critical > 0.25. */
static aa_rule lag_rule(aa_nodata nd)
{
    aa_rule r;

    memset(&r, 0, sizeof(r));
    r.id = "lag";
    r.finding = "Event-loop starvation detected";
    r.warning = thr(AA_CMP_GT, 0.05);
    r.critical = thr(AA_CMP_GT, 0.25);
    r.no_data = nd;
    return r;
}

static void push(aa_vector *vec, const char *instance, double v)
{
    aa_labels ls = {0};

    if (instance != NULL) {
        aa_labels_add(&ls, "instance", instance);
    }
    CHECK_INT_EQ(aa_vector_push(vec, &ls, v), AA_OK);
    aa_labels_clear(&ls);
}

static aa_verdict judge1(const aa_rule *rule, double v)
{
    aa_vector vec = {0};
    aa_rule_result rr;
    aa_verdict out;

    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", v);
    CHECK_INT_EQ(aa_judge_vector(rule, &vec, &rr), AA_OK);
    out = rr.verdict;
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);
    return out;
}

static void test_single_levels(void)
{
    aa_rule r = lag_rule(AA_NODATA_UNKNOWN);
    aa_vector vec = {0};
    aa_rule_result rr;

    CHECK_INT_EQ(judge1(&r, 0.01), AA_VERDICT_OK);
    CHECK_INT_EQ(judge1(&r, 0.05), AA_VERDICT_OK); /* > is strict */
    CHECK_INT_EQ(judge1(&r, 0.06), AA_VERDICT_WARNING);
    CHECK_INT_EQ(judge1(&r, 0.25), AA_VERDICT_WARNING);
    CHECK_INT_EQ(judge1(&r, 0.3), AA_VERDICT_CRITICAL);
    CHECK_INT_EQ(judge1(&r, NAN), AA_VERDICT_NO_DATA);
    CHECK_INT_EQ(judge1(&r, INFINITY), AA_VERDICT_CRITICAL);

    /* value and crossed come from the worst series */
    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.3);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK(rr.rule == &r);
    CHECK(rr.has_value);
    CHECK_DBL_NEAR(rr.value, 0.3, 1e-12);
    CHECK(rr.crossed == &r.critical);
    CHECK(rr.message == NULL);
    CHECK_INT_EQ(rr.nseries, 1);
    CHECK_STR_EQ(aa_labels_get(&rr.series[0].labels, "instance"), "a");
    aa_rule_result_clear(&rr);
    CHECK(rr.series == NULL);
    CHECK_INT_EQ(rr.nseries, 0);
    aa_vector_clear(&vec);

    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.1);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK(rr.crossed == &r.warning);
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.0);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK(rr.crossed == NULL);
    CHECK(rr.has_value);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_OK);
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);
}

static void test_only_one_level(void)
{
    aa_rule r = lag_rule(AA_NODATA_UNKNOWN);

    /* critical only */
    memset(&r.warning, 0, sizeof(r.warning));
    CHECK_INT_EQ(judge1(&r, 0.1), AA_VERDICT_OK);
    CHECK_INT_EQ(judge1(&r, 0.3), AA_VERDICT_CRITICAL);
    /* warning only */
    r = lag_rule(AA_NODATA_UNKNOWN);
    memset(&r.critical, 0, sizeof(r.critical));
    CHECK_INT_EQ(judge1(&r, 0.1), AA_VERDICT_WARNING);
    CHECK_INT_EQ(judge1(&r, 99), AA_VERDICT_WARNING);
    CHECK_INT_EQ(judge1(&r, 0.01), AA_VERDICT_OK);
}

static void test_lower_is_worse(void)
{
    aa_rule r = lag_rule(AA_NODATA_UNKNOWN);
    aa_vector vec = {0};
    aa_rule_result rr;

    /* e.g. free capacity: warning < 0.2, critical < 0.05 */
    r.warning = thr(AA_CMP_LT, 0.2);
    r.critical = thr(AA_CMP_LT, 0.05);
    CHECK_INT_EQ(judge1(&r, 0.5), AA_VERDICT_OK);
    CHECK_INT_EQ(judge1(&r, 0.1), AA_VERDICT_WARNING);
    CHECK_INT_EQ(judge1(&r, 0.01), AA_VERDICT_CRITICAL);

    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.15);
    push(&vec, "b", 0.10);
    push(&vec, "c", 0.9);
    push(&vec, "d", 0.5);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_WARNING);
    /* the smaller value is the larger breach */
    CHECK_DBL_NEAR(rr.value, 0.10, 1e-12);
    CHECK_STR_EQ(aa_labels_get(&rr.series[0].labels, "instance"), "b");
    CHECK_STR_EQ(aa_labels_get(&rr.series[1].labels, "instance"), "a");
    CHECK_STR_EQ(aa_labels_get(&rr.series[2].labels, "instance"), "d");
    CHECK_STR_EQ(aa_labels_get(&rr.series[3].labels, "instance"), "c");
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);
}

static void test_worst_wins(void)
{
    aa_rule r = lag_rule(AA_NODATA_UNKNOWN);
    aa_vector vec = {0};
    aa_rule_result rr;
    size_t i;

    /* the critical series is neither first nor last */
    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.01);
    push(&vec, "b", 0.1);
    push(&vec, "c", 0.4);
    push(&vec, "d", 0.3);
    push(&vec, "e", 0.07);
    push(&vec, "f", 0.02);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_CRITICAL);
    CHECK_INT_EQ(rr.nseries, 6);
    CHECK_DBL_NEAR(rr.value, 0.4, 1e-12);
    CHECK(rr.crossed == &r.critical);
    {
        const char *order[] = {"c", "d", "b", "e", "f", "a"};
        const aa_verdict vs[] = {AA_VERDICT_CRITICAL, AA_VERDICT_CRITICAL,
                                 AA_VERDICT_WARNING,  AA_VERDICT_WARNING,
                                 AA_VERDICT_OK,       AA_VERDICT_OK};

        for (i = 0; i < 6; i++) {
            CHECK_STR_EQ(aa_labels_get(&rr.series[i].labels, "instance"),
                         order[i]);
            CHECK_INT_EQ(rr.series[i].verdict, vs[i]);
        }
    }
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    /* warnings only: the worst warning is reported */
    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.06);
    push(&vec, "b", 0.2);
    push(&vec, "c", 0.01);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_WARNING);
    CHECK_DBL_NEAR(rr.value, 0.2, 1e-12);
    CHECK(rr.crossed == &r.warning);
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    /* all ok: the value shown is the highest (closest to breaching) */
    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.01);
    push(&vec, "b", 0.03);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_OK);
    CHECK_DBL_NEAR(rr.value, 0.03, 1e-12);
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    /* equal values: deterministic order by labels */
    memset(&rr, 0, sizeof(rr));
    push(&vec, "z", 0.3);
    push(&vec, "m", 0.3);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_STR_EQ(aa_labels_get(&rr.series[0].labels, "instance"), "m");
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);
}

static void test_nan(void)
{
    aa_rule r = lag_rule(AA_NODATA_UNKNOWN);
    aa_vector vec = {0};
    aa_rule_result rr;

    /* NaN beside ok series: no data is worse than ok */
    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.01);
    push(&vec, "b", NAN);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_NO_DATA);
    CHECK(!rr.has_value);
    CHECK(rr.crossed == NULL);
    CHECK_STR_CONTAINS(rr.message, "1 of 2 series had no value");
    CHECK_INT_EQ(rr.series[0].verdict, AA_VERDICT_NO_DATA);
    CHECK(isnan(rr.series[0].value));
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    /* NaN beside a critical series: the breach wins */
    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", NAN);
    push(&vec, "b", 0.5);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_CRITICAL);
    CHECK_DBL_NEAR(rr.value, 0.5, 1e-12);
    CHECK(rr.message == NULL);
    CHECK_INT_EQ(rr.series[1].verdict, AA_VERDICT_NO_DATA);
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    /* a caller's message is kept */
    memset(&rr, 0, sizeof(rr));
    rr.message = strdup("kept");
    push(&vec, "a", NAN);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_STR_EQ(rr.message, "kept");
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    /* no_data: ok turns NaN into ok; the number sorts before the NaN */
    r = lag_rule(AA_NODATA_OK);
    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", NAN);
    push(&vec, "b", 0.01);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_OK);
    CHECK(rr.has_value);
    CHECK_DBL_NEAR(rr.value, 0.01, 1e-12);
    CHECK(rr.message == NULL);
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    r = lag_rule(AA_NODATA_WARNING);
    CHECK_INT_EQ(judge1(&r, NAN), AA_VERDICT_WARNING);
    r = lag_rule(AA_NODATA_CRITICAL);
    CHECK_INT_EQ(judge1(&r, NAN), AA_VERDICT_CRITICAL);
}

static void test_empty(void)
{
    const aa_nodata nd[] = {AA_NODATA_UNKNOWN, AA_NODATA_OK, AA_NODATA_WARNING,
                            AA_NODATA_CRITICAL};
    const aa_verdict want[] = {AA_VERDICT_NO_DATA, AA_VERDICT_OK,
                               AA_VERDICT_WARNING, AA_VERDICT_CRITICAL};
    aa_vector vec = {0};
    aa_rule_result rr;
    size_t i;

    for (i = 0; i < 4; i++) {
        aa_rule r = lag_rule(nd[i]);

        memset(&rr, 0, sizeof(rr));
        CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
        CHECK_INT_EQ(rr.verdict, want[i]);
        CHECK(!rr.has_value);
        CHECK(rr.crossed == NULL);
        CHECK_INT_EQ(rr.nseries, 0);
        CHECK(rr.message == NULL);
        aa_rule_result_clear(&rr);

        memset(&rr, 0, sizeof(rr));
        CHECK_INT_EQ(aa_judge_vector(&r, NULL, &rr), AA_OK);
        CHECK_INT_EQ(rr.verdict, want[i]);
        aa_rule_result_clear(&rr);
    }
    CHECK_INT_EQ(aa_judge_vector(NULL, &vec, &rr), AA_EINVAL);
}

/* ---- for: range matrices ------------------------------------------------ */

#define END 1000000
#define STEP 15000

static aa_rule for_rule(int64_t for_ms)
{
    aa_rule r = lag_rule(AA_NODATA_UNKNOWN);

    r.for_ms = for_ms;
    return r;
}

/* Adds a series with values v[0..n-1] at END - (n-1-i)*STEP + skew; NaN
 * entries are pushed as NaN points, entries equal to -1 are left out. */
static void push_series(aa_matrix *m, const char *instance, const double *v,
                        size_t n, int64_t skew)
{
    aa_labels ls = {0};
    aa_range_series *s = NULL;
    size_t i;

    aa_labels_add(&ls, "instance", instance);
    CHECK_INT_EQ(aa_matrix_push(m, &ls, &s), AA_OK);
    for (i = 0; i < n; i++) {
        if (v[i] == -1) {
            continue;
        }
        CHECK_INT_EQ(aa_range_series_push(
                         s, END - (int64_t)(n - 1 - i) * STEP + skew, v[i]),
                     AA_OK);
    }
    aa_labels_clear(&ls);
}

static aa_verdict judge_m(const aa_rule *r, const double *v, size_t n,
                          int64_t skew, double *value)
{
    aa_matrix m = {0};
    aa_rule_result rr;
    aa_verdict out;

    memset(&rr, 0, sizeof(rr));
    push_series(&m, "a", v, n, skew);
    CHECK_INT_EQ(aa_judge_matrix(r, &m, END, STEP, &rr), AA_OK);
    out = rr.verdict;
    if (value != NULL) {
        *value = rr.has_value ? rr.value : NAN;
    }
    aa_rule_result_clear(&rr);
    aa_matrix_clear(&m);
    return out;
}

static void test_for(void)
{
    aa_rule r = for_rule(60000); /* 5 slots: END-60s .. END */
    double value;

    {
        /* sustained critical over the whole span */
        const double v[] = {0.01, 0.3, 0.3, 0.4, 0.3, 0.5};

        CHECK_INT_EQ(judge_m(&r, v, 6, 0, &value), AA_VERDICT_CRITICAL);
        CHECK_DBL_NEAR(value, 0.5, 1e-12); /* the last point's */
    }
    {
        /* critical only since 45s: not long enough, but warning held */
        const double v[] = {0.1, 0.1, 0.3, 0.3, 0.3, 0.3};

        CHECK_INT_EQ(judge_m(&r, v, 6, 0, NULL), AA_VERDICT_WARNING);
    }
    {
        /* one step back to ok inside the span breaks the run */
        const double v[] = {0.3, 0.3, 0.3, 0.01, 0.3, 0.3};

        CHECK_INT_EQ(judge_m(&r, v, 6, 0, &value), AA_VERDICT_OK);
        CHECK_DBL_NEAR(value, 0.3, 1e-12);
    }
    {
        /* a missing step (gap) breaks the run */
        const double v[] = {0.3, 0.3, 0.3, -1, 0.3, 0.3};

        CHECK_INT_EQ(judge_m(&r, v, 6, 0, NULL), AA_VERDICT_OK);
    }
    {
        /* a NaN step counts as missing */
        const double v[] = {0.3, 0.3, NAN, 0.3, 0.3, 0.3};

        CHECK_INT_EQ(judge_m(&r, v, 6, 0, NULL), AA_VERDICT_OK);
    }
    {
        /* the span's first step missing (series started too late) */
        const double v[] = {0.3, 0.3, 0.3, 0.3};

        CHECK_INT_EQ(judge_m(&r, v, 4, 0, NULL), AA_VERDICT_OK);
    }
    {
        /* exactly the span, all breaching */
        const double v[] = {0.3, 0.3, 0.3, 0.3, 0.3};

        CHECK_INT_EQ(judge_m(&r, v, 5, 0, NULL), AA_VERDICT_CRITICAL);
    }
    {
        /* steps not aligned with END by less than half a step */
        const double v[] = {0.3, 0.3, 0.3, 0.3, 0.3};

        CHECK_INT_EQ(judge_m(&r, v, 5, -4000, NULL), AA_VERDICT_CRITICAL);
        CHECK_INT_EQ(judge_m(&r, v, 5, 4000, NULL), AA_VERDICT_CRITICAL);
    }
    {
        /* last point NaN: no current value, no breach -> no data */
        const double v[] = {0.01, 0.01, 0.01, 0.01, NAN};

        CHECK_INT_EQ(judge_m(&r, v, 5, 0, &value), AA_VERDICT_NO_DATA);
        CHECK(isnan(value));
    }
    {
        /* points after END are ignored */
        aa_matrix m = {0};
        aa_range_series *s = NULL;
        aa_rule_result rr;
        int k;

        memset(&rr, 0, sizeof(rr));
        aa_matrix_push(&m, NULL, &s);
        for (k = 4; k >= 0; k--) {
            aa_range_series_push(s, END - k * STEP, 0.3);
        }
        aa_range_series_push(s, END + 5 * STEP, 0.01);
        CHECK_INT_EQ(aa_judge_matrix(&r, &m, END, STEP, &rr), AA_OK);
        CHECK_INT_EQ(rr.verdict, AA_VERDICT_CRITICAL);
        CHECK_DBL_NEAR(rr.value, 0.3, 1e-12);
        aa_rule_result_clear(&rr);
        aa_matrix_clear(&m);
    }
}

static void test_for_several(void)
{
    aa_rule r = for_rule(30000); /* 3 slots */
    aa_matrix m = {0};
    aa_rule_result rr;
    const double ok[] = {0.01, 0.02, 0.01};
    const double warn[] = {0.1, 0.1, 0.1};
    const double spike[] = {0.01, 0.01, 0.9}; /* only the last step */
    const double crit[] = {0.3, 0.4, 0.3};

    memset(&rr, 0, sizeof(rr));
    push_series(&m, "ok", ok, 3, 0);
    push_series(&m, "spike", spike, 3, 0);
    push_series(&m, "crit", crit, 3, 0);
    push_series(&m, "warn", warn, 3, 0);
    CHECK_INT_EQ(aa_judge_matrix(&r, &m, END, STEP, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_CRITICAL);
    CHECK_INT_EQ(rr.nseries, 4);
    CHECK_STR_EQ(aa_labels_get(&rr.series[0].labels, "instance"), "crit");
    CHECK_DBL_NEAR(rr.value, 0.3, 1e-12);
    CHECK(rr.crossed == &r.critical);
    CHECK_STR_EQ(aa_labels_get(&rr.series[1].labels, "instance"), "warn");
    /* the spike is ok (not sustained) and has the larger value */
    CHECK_STR_EQ(aa_labels_get(&rr.series[2].labels, "instance"), "spike");
    CHECK_INT_EQ(rr.series[2].verdict, AA_VERDICT_OK);
    CHECK_STR_EQ(aa_labels_get(&rr.series[3].labels, "instance"), "ok");
    aa_rule_result_clear(&rr);

    /* an empty matrix takes the no_data policy */
    memset(&rr, 0, sizeof(rr));
    aa_matrix_clear(&m);
    CHECK_INT_EQ(aa_judge_matrix(&r, &m, END, STEP, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_NO_DATA);
    aa_rule_result_clear(&rr);

    /* for shorter than a step still needs the step before the last to
     * breach (Prometheus: true at activeAt and again >= for later) */
    r = for_rule(5000);
    CHECK_INT_EQ(judge_m(&r, spike, 3, 0, NULL), AA_VERDICT_OK);
    {
        const double two[] = {0.01, 0.3, 0.3};
        const double gap[] = {0.3, 0.01, 0.3};

        r = for_rule(10000);
        CHECK_INT_EQ(judge_m(&r, two, 3, 0, NULL), AA_VERDICT_CRITICAL);
        CHECK_INT_EQ(judge_m(&r, gap, 3, 0, NULL), AA_VERDICT_OK);
        /* 20s at 15s steps: ceil(4/3) + 1 = 3 breaching points */
        r = for_rule(20000);
        CHECK_INT_EQ(judge_m(&r, two, 3, 0, NULL), AA_VERDICT_OK);
        CHECK_INT_EQ(judge_m(&r, crit, 3, 0, NULL), AA_VERDICT_CRITICAL);
    }

    /* bad step */
    memset(&rr, 0, sizeof(rr));
    CHECK_INT_EQ(aa_judge_matrix(&r, &m, END, 0, &rr), AA_EINVAL);
    CHECK_INT_EQ(aa_judge_matrix(&r, &m, END, -5, &rr), AA_EINVAL);
    aa_rule_result_clear(&rr);
}

static void test_for_steps(void)
{
    CHECK_INT_EQ(aa_for_steps(30000, 15000), 3);
    CHECK_INT_EQ(aa_for_steps(10000, 15000), 2);
    CHECK_INT_EQ(aa_for_steps(15000, 15000), 2);
    CHECK_INT_EQ(aa_for_steps(15001, 15000), 3);
    CHECK_INT_EQ(aa_for_steps(60000, 15000), 5);
    CHECK_INT_EQ(aa_for_steps(1, 15000), 2);
    CHECK_INT_EQ(aa_for_steps(0, 15000), 1);
    CHECK_INT_EQ(aa_for_steps(-5, 15000), 1);
    CHECK_INT_EQ(aa_for_steps(30000, 0), -1);
    CHECK_INT_EQ(aa_for_steps(30000, -1), -1);
    CHECK_INT_EQ(aa_for_steps(INT64_MAX, 1), INT64_MAX);
}

/* Values with bounds: each series keeps its own, the rule takes the
 * worst series'; a value is judged as reported (a bound's number lies in
 * it, so it decides as the bound does); NaN gets no bound. */
static void test_bounded(void)
{
    aa_rule r = lag_rule(AA_NODATA_UNKNOWN);
    aa_vector vec = {0};
    aa_value_bound b[3];
    aa_rule_result rr;

    memset(&rr, 0, sizeof(rr));
    memset(b, 0, sizeof(b));
    push(&vec, "a", 0.02);
    push(&vec, "b", 2.485);
    push(&vec, "c", NAN);
    b[0].kind = AA_BOUND_ESTIMATE;
    b[0].lower = 0.018;
    b[0].upper = 0.022;
    b[1].kind = AA_BOUND_IN;
    b[1].lower = 1.0;
    b[1].upper = 2.5;
    b[1].one_bucket = true;
    b[2].kind = AA_BOUND_IN;
    CHECK_INT_EQ(aa_judge_vector_bounded(&r, &vec, b, &rr), AA_OK);
    CHECK_INT_EQ(rr.verdict, AA_VERDICT_CRITICAL);
    CHECK_INT_EQ(rr.bound.kind, AA_BOUND_IN);
    CHECK_DBL_NEAR(rr.bound.upper, 2.5, 0);
    CHECK(rr.bound.one_bucket);
    CHECK_INT_EQ(rr.nseries, 3);
    if (rr.nseries == 3) {
        CHECK_STR_EQ(aa_labels_get(&rr.series[0].labels, "instance"), "b");
        /* then c's no data (a NaN has no bound), then a's ok */
        CHECK_STR_EQ(aa_labels_get(&rr.series[1].labels, "instance"), "c");
        CHECK_INT_EQ(rr.series[1].bound.kind, AA_BOUND_NONE);
        CHECK_STR_EQ(aa_labels_get(&rr.series[2].labels, "instance"), "a");
        CHECK_INT_EQ(rr.series[2].bound.kind, AA_BOUND_ESTIMATE);
    }
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    /* without bounds every value is exact */
    memset(&rr, 0, sizeof(rr));
    push(&vec, "a", 0.3);
    CHECK_INT_EQ(aa_judge_vector(&r, &vec, &rr), AA_OK);
    CHECK_INT_EQ(rr.bound.kind, AA_BOUND_NONE);
    aa_rule_result_clear(&rr);
    aa_vector_clear(&vec);

    /* a range: the bound belongs to the series' last point */
    {
        const double v[] = {0.3, 0.3, 0.4};
        aa_matrix m = {0};

        r.for_ms = 30000;
        memset(&rr, 0, sizeof(rr));
        push_series(&m, "a", v, 3, 0);
        b[0].kind = AA_BOUND_ABOVE;
        b[0].lower = 0.25;
        b[0].upper = INFINITY;
        CHECK_INT_EQ(aa_judge_matrix_bounded(&r, &m, b, END, STEP, &rr),
                     AA_OK);
        CHECK_INT_EQ(rr.verdict, AA_VERDICT_CRITICAL);
        CHECK_DBL_NEAR(rr.value, 0.4, 0);
        CHECK_INT_EQ(rr.bound.kind, AA_BOUND_ABOVE);
        aa_rule_result_clear(&rr);
        aa_matrix_clear(&m);
    }
}

int main(void)
{
    test_bounded();
    test_single_levels();
    test_only_one_level();
    test_lower_is_worse();
    test_worst_wins();
    test_nan();
    test_empty();
    test_for();
    test_for_several();
    test_for_steps();
    return check_report("test_judge");
}
