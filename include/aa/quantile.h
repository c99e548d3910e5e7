/*
 * quantile.h: the statistics of a classic histogram that the audit
 * computes itself from bucket rates, the same way in every mode: the
 * question asked of a backend (aa_bucket_rule: "sum by (le, B)
 * (rate(M_bucket{S}[W]))", the bucket rates of each group), a quantile
 * that is true, and the share of observations above a bucket bound.
 *
 * Why not histogram_quantile: it interpolates linearly inside the bucket
 * that holds the quantile, which can put the result anywhere in that
 * bucket.  100 requests that all took 1.5 to 1.7 s, counted in a (1, 2.5]
 * bucket, give a p99 of 2.485 s.  What the buckets do tell is that bucket:
 * the q-th order statistic lies in the bucket (a, b] where the cumulative
 * count first reaches q times the total.  So a quantile is reported as
 * - the geometric midpoint sqrt(a * b) when b / a <= AA_QUANTILE_MAX_RATIO:
 *   then it is within sqrt(b / a) - 1 of the truth (11.8 % at most, 9.1 %
 *   for the probe's buckets of ratio 2^(1/4)), an estimate;
 * - otherwise a bound: "in (a, b]", "<= b" for the first bucket, "> a"
 *   for the +Inf bucket.  The number that goes with a bound (for sorting,
 *   charts and judging) is histogram_quantile's interpolation.  It lies
 *   inside the bound, so against a threshold it decides as the bound does
 *   when the bound lies entirely above or below the threshold, and as
 *   Prometheus would when the bound straddles it.  It is never above the
 *   largest finite bound.
 *
 * The share of observations above X ("share_above(X)") is exact when X is
 * a bucket bound: (total - count(le = X)) / total.  Otherwise X lies in a
 * bucket (a, b] and the share is only known to lie between the shares
 * above b and above a: a bound, whose number is the linear interpolation
 * inside the bucket (histogram_quantile's assumption), again inside the
 * bound.
 *
 * Conventions: see common.h.
 */
#ifndef AA_QUANTILE_H
#define AA_QUANTILE_H

#include <stdbool.h>
#include <stddef.h>

#include "aa/common.h"
#include "aa/eval.h"
#include "aa/rules.h"
#include "aa/series.h"

/* Widest bucket (upper / lower) whose midpoint is reported as a value. */
#define AA_QUANTILE_MAX_RATIO 1.25

/* How a value relates to the truth. */
typedef enum aa_bound_kind {
    AA_BOUND_NONE,     /* the value is exact */
    AA_BOUND_ESTIMATE, /* the midpoint of (lower, upper], the truth in it */
    AA_BOUND_IN,       /* the truth is only known to lie in (lower, upper] */
    AA_BOUND_AT_MOST,  /* ... to be at most upper (the first bucket) */
    AA_BOUND_ABOVE,    /* ... to be above lower (the +Inf bucket) */
    AA_BOUND_BETWEEN   /* ... to lie in [lower, upper] (a share) */
} aa_bound_kind;

/* Where the true value lies (zeroed: exact). */
typedef struct aa_value_bound {
    aa_bound_kind kind;
    /* the bucket; AT_MOST: lower 0, or -Inf when upper <= 0; ABOVE: upper
     * +Inf */
    double lower, upper;
    bool one_bucket; /* every observation lies in this bucket */
} aa_value_bound;

/*
 * The q-quantile (0 < q < 1) of buckets b[0..*n) (upper bound, cumulative
 * rate or count, in any order) into *value and *bound, as described
 * above.  The buckets are read as histogram_quantile reads them
 * (aa_eval_bucket_quantile: sorted, equal bounds merged, counts made
 * monotonic; b is reordered in place and *n may shrink).  *value is NaN
 * (and *bound exact) when the quantile is undefined: no +Inf bucket,
 * fewer than two buckets, or no observations.
 */
void aa_quantile_buckets(double q, aa_bucket *b, size_t *n, double *value,
                         aa_value_bound *bound);

/*
 * The share of observations above x in buckets b[0..*n) (read as above)
 * into *value and *bound: exact, (total - count(le = x)) / total, when a
 * bound equals x up to a relative 1e-9 (or the bucket holding x is
 * empty); else BETWEEN the shares above the bucket's two bounds, the
 * number interpolated linearly inside the bucket (beyond the largest
 * finite bound: the bound's upper end).  NaN (and exact) when undefined,
 * as for a quantile.
 */
void aa_share_above_buckets(double x, aa_bucket *b, size_t *n, double *value,
                            aa_value_bound *bound);

/* Whether a structured rule's stat is computed from its bucket rates
 * (pNN and share_above of a histogram). */
bool aa_rule_reads_buckets(const aa_rule *rule);

/*
 * The bucket question of such a rule: "sum by (le, B)
 * (rate(M_bucket{S}[W]))", as a rule (a counter's rate of M_bucket by le
 * and the rule's "by" labels, with its "where") that both backends
 * answer.  Its id, finding, "where" and position are borrowed from rule.
 */
typedef struct aa_bucket_rule {
    aa_rule rule;
    char *metric; /* owned: M_bucket */
    char **by;    /* owned array: "le", then the rule's labels (borrowed) */
} aa_bucket_rule;

/* AA_EINVAL when the rule does not read buckets; AA_ENOMEM. */
int aa_bucket_rule_make(const aa_rule *rule, aa_bucket_rule *out);
void aa_bucket_rule_clear(aa_bucket_rule *br);

/*
 * The rule's value per group from the answer to its bucket question:
 * rates holds one sample per (group, le).  *out (zeroed by the caller)
 * gets one sample per group, labels without le, in label order; *bounds
 * (malloc'd, parallel to out; NULL when out is empty) says how each value
 * relates to the truth.  Samples without a readable le are ignored.
 * AA_ENOMEM (*out is then left empty and *bounds NULL).
 */
int aa_histogram_vector(const aa_rule *rule, const aa_vector *rates,
                        aa_vector *out, aa_value_bound **bounds);

/*
 * The same at every step of a range answer: one series per group, a
 * point at each step where the group has buckets (NaN when undefined
 * there, as histogram_quantile answers).  *last (malloc'd,
 * parallel to out->v; NULL when out is empty) is the bound of each
 * series' last point.  AA_ENOMEM, as aa_histogram_vector.
 */
int aa_histogram_matrix(const aa_rule *rule, const aa_matrix *rates,
                        aa_matrix *out, aa_value_bound **last);

#endif
