/*
 * eval.h: local evaluation of structured rules over an aa_tsdb with the
 * semantics of the PromQL that promql.h compiles them to, so that the same
 * rule gives the same numbers in scrape mode and against Prometheus.
 *
 * The reference is Prometheus v2.42 (Debian 12's prometheus): a range
 * selector [W] evaluated at t takes the points with t - W <= t_i <= t
 * (both ends included; Prometheus 3 excludes the left end), stale
 * markers dropped.  What is computed for each stat (suffix, range
 * function, aggregation, quantile, division) is aa_rule_plan() of
 * promql.h, the table the PromQL compiler reads too.
 *
 * Ownership: results are built in caller-provided vectors and matrices
 * (series.h), which own their strings.  Conventions: see common.h.
 */
#ifndef AA_EVAL_H
#define AA_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/common.h"
#include "aa/rules.h"
#include "aa/series.h"
#include "aa/tsdb.h"

/*
 * Evaluates rule (structured: rule->metric != NULL) at t_ms over the
 * window window_ms, with extra (the --selector matchers; may be NULL)
 * added to the rule's "where".  *out (zeroed by the caller) receives one
 * sample per group, labels = the rule's "by" labels that the group has.
 * A group whose value is undefined (e.g. a quantile of empty buckets) is
 * present with NaN, as Prometheus returns it.  No matching series gives an
 * empty vector and AA_OK.  A raw query rule is AA_EUNSUPPORTED; a bad
 * regex in a matcher is AA_ESYNTAX (AA_EUNSUPPORTED for a Unicode class,
 * which only a backend runs) with the diag saying which.  On error
 * *out is left empty.
 */
int aa_eval_instant(const aa_tsdb *db, const aa_rule *rule,
                    const aa_matchers *extra, int64_t t_ms, int64_t window_ms,
                    aa_vector *out, aa_diag *diag);

/*
 * As aa_eval_instant at each of start_ms, start_ms + step_ms, ... <=
 * end_ms (a Prometheus range query): one range series per group, a point
 * for each step where the group had a value.  *out is zeroed by the
 * caller and left empty on error.
 */
int aa_eval_range(const aa_tsdb *db, const aa_rule *rule,
                  const aa_matchers *extra, int64_t start_ms, int64_t end_ms,
                  int64_t step_ms, int64_t window_ms, aa_matrix *out,
                  aa_diag *diag);

/* The series name a stat reads (metric + the plan's suffix: "x_bucket"
 * for a quantile, ...) into buf (NUL-terminated, truncated). */
const char *aa_eval_series_name(const aa_rule *rule, char *buf, size_t size);

/* ---- the PromQL functions, exposed for tests -----------------------------
 */

/*
 * Prometheus's extrapolatedRate over points pts[0..n) of a range
 * [range_start_ms, range_end_ms]: rate (is_counter, is_rate), increase
 * (is_counter), delta (neither).  Returns false (no value) with n < 2.
 */
bool aa_eval_extrapolated_rate(const aa_point *pts, size_t n,
                               int64_t range_start_ms, int64_t range_end_ms,
                               bool is_counter, bool is_rate, double *out);

/* deriv(): least-squares slope per second, x relative to pts[0]. */
bool aa_eval_deriv(const aa_point *pts, size_t n, double *out);

/* A classic histogram bucket: upper bound and cumulative count. */
typedef struct aa_bucket {
    double upper;
    double count;
} aa_bucket;

/*
 * histogram_quantile's bucketQuantile: sorts, merges equal bounds,
 * corrects non-monotonic counts (as Prometheus v2.42 does), interpolates.
 * NaN without a +Inf bucket, with fewer than two buckets, or with no
 * observations.  b is reordered in place; *n may shrink.
 */
double aa_eval_bucket_quantile(double q, aa_bucket *b, size_t *n);

#endif
