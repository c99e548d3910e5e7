/*
 * test_quantile.c: the histogram statistics the audit computes from
 * bucket rates (quantile.h), on bucket tables written by hand: the
 * estimate of a narrow bucket, the bound of a wide one, the first and
 * +Inf buckets, q on an exact bucket edge, the share above a bound, the
 * bucket question a rule asks, and the grouping of its answer for one
 * time and for every step of a range.  Expected values come from the
 * documented semantics (docs/rules.md "Quantiles"), never from a run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aa/promql.h"
#include "aa/quantile.h"
#include "check.h"

#define NB(a) (sizeof(a) / sizeof((a)[0]))

/* The probe's loop buckets 2^(k/4) s around one second. */
static const double B1 = 1.0, B2 = 1.189207115002721, B3 = 1.4142135623730951,
                    B4 = 1.681792830507429, B5 = 2.0;

static void quantile(double q, aa_bucket *b, size_t n, double *v,
                     aa_value_bound *bd)
{
    aa_quantile_buckets(q, b, &n, v, bd);
}

/* The lock example of issue 9: 100 requests of 1.5 to 1.7 s each, all in
 * (2^(1/2), 2^(3/4)].  p99 is the midpoint 2^(5/8) = 1.5422 s, within
 * 9.1 % of any value in that bucket, not histogram_quantile's 2.485 of
 * coarse buckets. */
static void test_lock_example(void)
{
    aa_bucket b[] = {{B1, 0},   {B2, 0},   {B3, 0},
                     {B4, 100}, {B5, 100}, {INFINITY, 100}};
    aa_value_bound bd;
    double v;

    quantile(0.99, b, NB(b), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_ESTIMATE);
    CHECK_DBL_NEAR(v, pow(2.0, 0.625), 1e-12);
    CHECK_DBL_NEAR(v, 1.5422108254079407, 1e-12);
    CHECK_DBL_NEAR(bd.lower, B3, 0);
    CHECK_DBL_NEAR(bd.upper, B4, 0);
    CHECK(bd.one_bucket);
    /* within 10 % of the fastest and slowest value the bucket holds */
    CHECK(v / B3 - 1 < 0.10 && B4 / v - 1 < 0.10);
}

/* The same requests in coarse buckets (1, 2.5]: a bound, with
 * histogram_quantile's 1 + 1.5 * 0.99 = 2.485 as its number. */
static void test_coarse_bucket_is_a_bound(void)
{
    aa_bucket b[] = {{0.5, 0}, {1, 0}, {2.5, 100}, {5, 100}, {INFINITY, 100}};
    aa_value_bound bd;
    double v;

    quantile(0.99, b, NB(b), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_IN);
    CHECK_DBL_NEAR(bd.lower, 1.0, 0);
    CHECK_DBL_NEAR(bd.upper, 2.5, 0);
    CHECK_DBL_NEAR(v, 2.485, 1e-12);
    CHECK(bd.one_bucket);

    /* not all in one bucket: 90 fast, 10 in (1, 2.5]; p95 rank 95 in
     * (1, 2.5], 5 of its 10: 1 + 1.5 * 0.5 */
    {
        aa_bucket c[] = {{0.5, 90}, {1, 90}, {2.5, 100}, {INFINITY, 100}};

        quantile(0.95, c, NB(c), &v, &bd);
        CHECK_INT_EQ(bd.kind, AA_BOUND_IN);
        CHECK(!bd.one_bucket);
        CHECK_DBL_NEAR(v, 1.75, 1e-12);
    }
}

/* The first bucket (0, b] is "at most b"; the +Inf bucket is "above the
 * largest bound", whose number is that bound, never more. */
static void test_first_and_inf_buckets(void)
{
    aa_bucket first[] = {
        {0.0009765625, 100}, {0.001953125, 100}, {INFINITY, 100}};
    aa_bucket inf[] = {{1, 10}, {2, 20}, {INFINITY, 100}};
    aa_value_bound bd;
    double v;

    quantile(0.5, first, NB(first), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_AT_MOST);
    CHECK_DBL_NEAR(bd.lower, 0, 0);
    CHECK_DBL_NEAR(bd.upper, 0.0009765625, 0);
    CHECK_DBL_NEAR(v, 0.0009765625 * 0.5, 1e-12);
    CHECK(bd.one_bucket);

    quantile(0.99, inf, NB(inf), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_ABOVE);
    CHECK_DBL_NEAR(bd.lower, 2, 0);
    CHECK(isinf(bd.upper) && bd.upper > 0);
    CHECK_DBL_NEAR(v, 2, 0);
    CHECK(!bd.one_bucket);
    /* p10 is exactly the 10th of 100 samples: the first bucket */
    quantile(0.10, inf, NB(inf), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_AT_MOST);
    CHECK_DBL_NEAR(bd.upper, 1, 0);
}

/* q * total exactly on a bucket's cumulative count: the order statistic
 * of that rank is the last one in that bucket, not the next. */
static void test_exact_edges(void)
{
    aa_bucket b[] = {{0.05, 0}, {0.1, 50}, {0.2, 100}, {INFINITY, 100}};
    aa_bucket r1[] = {{1.0, 0}, {1.25, 10}, {INFINITY, 10}};
    aa_bucket r2[] = {{1.0, 0}, {1.26, 10}, {INFINITY, 10}};
    aa_value_bound bd;
    double v;

    quantile(0.5, b, NB(b), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_IN);
    CHECK_DBL_NEAR(bd.lower, 0.05, 0);
    CHECK_DBL_NEAR(bd.upper, 0.1, 0);
    CHECK_DBL_NEAR(v, 0.1, 1e-12);

    /* a ratio of exactly 1.25 is narrow enough for an estimate; 1.26 not */
    quantile(0.5, r1, NB(r1), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_ESTIMATE);
    CHECK_DBL_NEAR(v, sqrt(1.25), 1e-12);
    quantile(0.5, r2, NB(r2), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_IN);
}

/* Buckets in any order, a bound listed twice (summed, as Prometheus
 * merges them), no +Inf bucket, no observations. */
static void test_reading_buckets(void)
{
    aa_bucket b[] = {{INFINITY, 60}, {2, 60}, {1, 20}, {1, 20}, {4, 60}};
    aa_bucket noinf[] = {{1, 5}, {2, 10}};
    aa_bucket empty[] = {{1, 0}, {2, 0}, {INFINITY, 0}};
    aa_value_bound bd;
    double v;

    /* merged: le=1 40, le=2 60 (+Inf 60 is not merged with anything);
     * p50 rank 30 in (0, 1] */
    quantile(0.5, b, NB(b), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_AT_MOST);
    CHECK_DBL_NEAR(bd.upper, 1, 0);
    CHECK_DBL_NEAR(v, 30.0 / 40.0, 1e-12);

    quantile(0.5, noinf, NB(noinf), &v, &bd);
    CHECK(isnan(v));
    CHECK_INT_EQ(bd.kind, AA_BOUND_NONE);
    quantile(0.5, empty, NB(empty), &v, &bd);
    CHECK(isnan(v));
}

static void share(double x, aa_bucket *b, size_t n, double *v,
                  aa_value_bound *bd)
{
    aa_share_above_buckets(x, b, &n, v, bd);
}

/* The share above a bucket bound is exact; above a value inside a bucket
 * it lies between the shares above the bucket's bounds, the number
 * interpolated linearly in the bucket. */
static void test_share_above(void)
{
    aa_bucket b[] = {
        {0.03125, 80}, {0.0625, 90}, {0.125, 95}, {INFINITY, 100}};
    aa_bucket gap[] = {{0.03125, 80}, {0.0625, 80}, {INFINITY, 100}};
    aa_bucket none[] = {{0.03125, 0}, {0.0625, 0}, {INFINITY, 0}};
    aa_value_bound bd;
    double v;

    share(0.0625, b, NB(b), &v, &bd);
    CHECK_DBL_NEAR(v, 0.10, 1e-12);
    CHECK_INT_EQ(bd.kind, AA_BOUND_NONE);
    share(0.125, b, NB(b), &v, &bd);
    CHECK_DBL_NEAR(v, 0.05, 1e-12);
    /* 62.5 ms read from a rule is 0.0625 up to rounding */
    share(62.5 / 1000.0 * (1 + 1e-12), b, NB(b), &v, &bd);
    CHECK_DBL_NEAR(v, 0.10, 1e-12);
    CHECK_INT_EQ(bd.kind, AA_BOUND_NONE);

    /* 50 ms in (31.25, 62.5] ms: between 10 % and 20 %; 60 % of the way
     * through the bucket, 80 + 10 * 0.6 = 86 at most 50 ms: 14 % */
    share(0.05, b, NB(b), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_BETWEEN);
    CHECK_DBL_NEAR(bd.lower, 0.10, 1e-12);
    CHECK_DBL_NEAR(bd.upper, 0.20, 1e-12);
    CHECK_DBL_NEAR(v, 0.14, 1e-12);
    /* below the first bound: from 0, 80 * 0.01 / 0.03125 = 25.6 */
    share(0.01, b, NB(b), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_BETWEEN);
    CHECK_DBL_NEAR(bd.lower, 0.20, 1e-12);
    CHECK_DBL_NEAR(bd.upper, 1.0, 1e-12);
    CHECK_DBL_NEAR(v, 0.744, 1e-12);
    /* beyond the largest finite bound: at most the share above it */
    share(1, b, NB(b), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_BETWEEN);
    CHECK_DBL_NEAR(bd.lower, 0, 0);
    CHECK_DBL_NEAR(bd.upper, 0.05, 1e-12);
    CHECK_DBL_NEAR(v, 0.05, 1e-12);
    /* an empty bucket around x: exact */
    share(0.05, gap, NB(gap), &v, &bd);
    CHECK_INT_EQ(bd.kind, AA_BOUND_NONE);
    CHECK_DBL_NEAR(v, 0.20, 1e-12);
    /* no observations: no value */
    share(0.0625, none, NB(none), &v, &bd);
    CHECK(isnan(v));
}

static aa_ruleset *load(const char *body)
{
    aa_ruleset *rs = NULL;
    char yaml[1024];
    aa_diag d;

    snprintf(yaml, sizeof(yaml),
             "version: 1\nrules:\n- {id: r, finding: f, warning: '> 1', "
             "%s}\n",
             body);
    CHECK_INT_EQ(aa_ruleset_load_buffer("t", yaml, strlen(yaml), &rs, &d),
                 AA_OK);
    return rs;
}

/* The bucket question, compiled: "sum by (le, B) (rate(M_bucket{S}[W]))";
 * only pNN and share_above of a histogram ask it. */
static void test_bucket_rule(void)
{
    aa_ruleset *rs = load("metric: lag_seconds, stat: p99, by: [instance], "
                          "where: '{job=\"api\"}'");
    aa_ruleset *share = load("metric: lag_seconds, stat: share_above(62.5ms)");
    aa_ruleset *other = load("metric: lag_seconds, stat: sum_rate");
    aa_matchers sel = {NULL, 0};
    aa_bucket_rule br;
    char *q = NULL;
    aa_diag d;

    CHECK(aa_rule_reads_buckets(&rs->rules[0]));
    CHECK(aa_rule_reads_buckets(&share->rules[0]));
    CHECK(!aa_rule_reads_buckets(&other->rules[0]));
    CHECK_INT_EQ(aa_bucket_rule_make(&other->rules[0], &br), AA_EINVAL);

    CHECK_INT_EQ(aa_matchers_parse("{env=\"prod\"}", &sel, NULL), AA_OK);
    CHECK_INT_EQ(aa_bucket_rule_make(&rs->rules[0], &br), AA_OK);
    CHECK_INT_EQ(aa_promql_compile(&br.rule, &sel, 300000, &q, &d), AA_OK);
    CHECK_STR_EQ(q, "sum by (le, instance) (rate(lag_seconds_bucket{job="
                    "\"api\", env=\"prod\"}[5m]))");
    free(q);
    CHECK_STR_EQ(br.rule.id, "r");
    aa_bucket_rule_clear(&br);

    CHECK_INT_EQ(aa_bucket_rule_make(&share->rules[0], &br), AA_OK);
    CHECK_INT_EQ(aa_promql_compile(&br.rule, NULL, 60000, &q, &d), AA_OK);
    CHECK_STR_EQ(q, "sum by (le) (rate(lag_seconds_bucket[1m]))");
    free(q);
    aa_bucket_rule_clear(&br);
    aa_matchers_clear(&sel);
    aa_ruleset_free(rs);
    aa_ruleset_free(share);
    aa_ruleset_free(other);
}

static void push(aa_vector *v, const char *inst, const char *le, double x)
{
    aa_labels ls = {NULL, 0};

    if (inst != NULL) {
        CHECK_INT_EQ(aa_labels_add(&ls, "instance", inst), AA_OK);
    }
    if (le != NULL) {
        CHECK_INT_EQ(aa_labels_add(&ls, "le", le), AA_OK);
    }
    CHECK_INT_EQ(aa_vector_push(v, &ls, x), AA_OK);
    aa_labels_clear(&ls);
}

/* An answer of two groups, interleaved, with a sample without le and one
 * whose le is not a number (both ignored): one value per group, labels
 * without le, in label order. */
static void test_vector_groups(void)
{
    aa_ruleset *rs = load("metric: m, stat: p50, by: [instance]");
    aa_vector rates = {NULL, 0}, out = {NULL, 0};
    aa_value_bound *bd = NULL;

    push(&rates, "b", "1", 0);
    push(&rates, "a", "1", 10);
    push(&rates, "b", "2", 4);
    push(&rates, "a", "+Inf", 10);
    push(&rates, "b", "+Inf", 4);
    push(&rates, "a", "2", 10);
    push(&rates, "a", NULL, 99);
    push(&rates, "b", "x", 99);
    CHECK_INT_EQ(aa_histogram_vector(&rs->rules[0], &rates, &out, &bd), AA_OK);
    CHECK_INT_EQ(out.n, 2);
    if (out.n == 2 && bd != NULL) {
        CHECK_STR_EQ(aa_labels_get(&out.v[0].labels, "instance"), "a");
        CHECK(aa_labels_get(&out.v[0].labels, "le") == NULL);
        /* a: all 10 in (0, 1]: p50 at most 1, histogram_quantile 0.5 */
        CHECK_INT_EQ(bd[0].kind, AA_BOUND_AT_MOST);
        CHECK_DBL_NEAR(out.v[0].value, 0.5, 1e-12);
        /* b: all 4 in (1, 2]: a bound, 1 + 1 * 2/4 */
        CHECK_STR_EQ(aa_labels_get(&out.v[1].labels, "instance"), "b");
        CHECK_INT_EQ(bd[1].kind, AA_BOUND_IN);
        CHECK(bd[1].one_bucket);
        CHECK_DBL_NEAR(out.v[1].value, 1.5, 1e-12);
    }
    free(bd);
    aa_vector_clear(&out);

    /* share_above on the same answer: 1.5 s lies in a's empty (1, 2]
     * (exact: none above) and in b's full one (between none and all,
     * half by interpolation) */
    {
        aa_ruleset *sh = load("metric: m, stat: share_above(1.5s)");

        CHECK_INT_EQ(aa_histogram_vector(&sh->rules[0], &rates, &out, &bd),
                     AA_OK);
        CHECK_INT_EQ(out.n, 2);
        if (out.n == 2 && bd != NULL) {
            CHECK_DBL_NEAR(out.v[0].value, 0.0, 0);
            CHECK_INT_EQ(bd[0].kind, AA_BOUND_NONE);
            CHECK_DBL_NEAR(out.v[1].value, 0.5, 1e-12);
            CHECK_INT_EQ(bd[1].kind, AA_BOUND_BETWEEN);
            CHECK_DBL_NEAR(bd[1].lower, 0.0, 0);
            CHECK_DBL_NEAR(bd[1].upper, 1.0, 0);
        }
        free(bd);
        aa_vector_clear(&out);
        aa_ruleset_free(sh);
    }
    aa_vector_clear(&rates);
    aa_ruleset_free(rs);
}

static void point(aa_matrix *m, const char *le, int64_t t, double v)
{
    aa_range_series *s = NULL;
    aa_labels ls = {NULL, 0};

    CHECK_INT_EQ(aa_labels_add(&ls, "le", le), AA_OK);
    for (size_t i = 0; i < m->n; i++) {
        if (aa_labels_cmp(&m->v[i].labels, &ls) == 0) {
            s = &m->v[i];
        }
    }
    if (s == NULL) {
        CHECK_INT_EQ(aa_matrix_push(m, &ls, &s), AA_OK);
    }
    CHECK_INT_EQ(aa_range_series_push(s, t, v), AA_OK);
    aa_labels_clear(&ls);
}

/* A range answer: at t=1000 every sample in (1.414, 1.682] (an
 * estimate), at t=2000 in (1, 2.5] (a bound), at t=3000 only the +Inf
 * bucket answered (fewer than two buckets: NaN, as histogram_quantile
 * gives it, which breaks a "for" run). */
static void test_matrix_steps(void)
{
    aa_ruleset *rs = load("metric: m, stat: p99");
    aa_matrix rates = {NULL, 0}, out = {NULL, 0};
    aa_value_bound *last = NULL;

    point(&rates, "1", 1000, 0);
    point(&rates, "1.4142135623730951", 1000, 0);
    point(&rates, "1.681792830507429", 1000, 100);
    point(&rates, "+Inf", 1000, 100);
    point(&rates, "1", 2000, 0);
    point(&rates, "2.5", 2000, 100);
    point(&rates, "+Inf", 2000, 100);
    point(&rates, "+Inf", 3000, 5);
    CHECK_INT_EQ(aa_histogram_matrix(&rs->rules[0], &rates, &out, &last),
                 AA_OK);
    CHECK_INT_EQ(out.n, 1);
    if (out.n == 1) {
        CHECK_INT_EQ(out.v[0].labels.n, 0);
        CHECK_INT_EQ(out.v[0].n, 3);
        if (out.v[0].n == 3) {
            CHECK_INT_EQ(out.v[0].pts[0].t_ms, 1000);
            CHECK_DBL_NEAR(out.v[0].pts[0].v, pow(2.0, 0.625), 1e-12);
            CHECK_INT_EQ(out.v[0].pts[1].t_ms, 2000);
            CHECK_DBL_NEAR(out.v[0].pts[1].v, 2.485, 1e-12);
            CHECK_INT_EQ(out.v[0].pts[2].t_ms, 3000);
            CHECK(isnan(out.v[0].pts[2].v));
        }
        /* the last point has no value, so no bound */
        CHECK_INT_EQ(last[0].kind, AA_BOUND_NONE);
    }
    free(last);
    aa_matrix_clear(&out);

    /* without the last step, the bound of t=2000 is the last */
    aa_matrix_clear(&rates);
    point(&rates, "1", 2000, 0);
    point(&rates, "2.5", 2000, 100);
    point(&rates, "+Inf", 2000, 100);
    CHECK_INT_EQ(aa_histogram_matrix(&rs->rules[0], &rates, &out, &last),
                 AA_OK);
    CHECK_INT_EQ(out.n, 1);
    if (out.n == 1) {
        CHECK_INT_EQ(last[0].kind, AA_BOUND_IN);
        CHECK_DBL_NEAR(last[0].upper, 2.5, 0);
        CHECK(last[0].one_bucket);
    }
    free(last);
    aa_matrix_clear(&out);
    aa_matrix_clear(&rates);
    aa_ruleset_free(rs);
}

int main(void)
{
    test_lock_example();
    test_coarse_bucket_is_a_bound();
    test_first_and_inf_buckets();
    test_exact_edges();
    test_reading_buckets();
    test_share_above();
    test_bucket_rule();
    test_vector_groups();
    test_matrix_steps();
    return check_report("test_quantile");
}
