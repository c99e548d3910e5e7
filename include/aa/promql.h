/*
 * promql.h: compiling structured rules to PromQL (contract §5, stat
 * table) and the escaping rules for label values in PromQL string literals.
 * Conventions: see common.h.
 *
 * Grouping: a rule's "by" labels define the groups; with no "by" the whole
 * selection is one group.  Rate-like stats aggregate with sum, the
 * quantile keeps "le" in its grouping, and gauge stats aggregate per stat
 * (max for max/last/delta/slope, min for min, avg for avg).
 *
 * The stat table, exactly (M metric, S selector = the rule's "where"
 * followed by the --selector matchers, W window, B the "by" labels; with
 * no "by", "sum by (B) (x)" is written "sum(x)" and "sum by (le, B)" is
 * "sum by (le)"):
 *
 *   stat       type       PromQL
 *   pNN        histogram  histogram_quantile(Q, sum by (le, B)
 *                                               (rate(M_bucket{S}[W])))
 *   share_above(X)
 *              histogram  1 - sum by (B) (rate(M_bucket{S, le="X"}[W]))
 *                         / sum by (B) (rate(M_bucket{S, le="+Inf"}[W]))
 *   avg        histogram  sum by (B) (rate(M_sum{S}[W]))
 *                         / sum by (B) (rate(M_count{S}[W]))
 *   rate       counter    sum by (B) (rate(M{S}[W]))
 *   rate       histogram  sum by (B) (rate(M_count{S}[W]))
 *   increase   counter    sum by (B) (increase(M{S}[W]))
 *   increase   histogram  sum by (B) (increase(M_count{S}[W]))
 *   sum_rate   histogram  sum by (B) (rate(M_sum{S}[W]))
 *   max        gauge      max by (B) (max_over_time(M{S}[W]))
 *   min        gauge      min by (B) (min_over_time(M{S}[W]))
 *   avg        gauge      avg by (B) (avg_over_time(M{S}[W]))
 *   last       gauge      max by (B) (last_over_time(M{S}[W]))
 *   delta      gauge      max by (B) (delta(M{S}[W]))
 *   slope      gauge      max by (B) (deriv(M{S}[W]))
 *
 * Any other stat/type pair is rejected by the rule loader.  The metric
 * type is the rule's "type:", else the probe's known type
 * (aa_known_metric_type), else inferred from the stat (pNN, sum_rate:
 * histogram; rate, increase: counter; others: gauge).  aa_rule_plan()
 * gives the same table as data, for the scrape-mode evaluator, so that
 * both back ends share one definition.
 *
 * The audit itself computes pNN and share_above from the bucket rates
 * (quantile.h: both backends are asked "sum by (le, B)
 * (rate(M_bucket{S}[W]))"); the forms above are what rules export and
 * the Grafana export write, where Prometheus must compute the value.
 * aa_rule_plan() has no plan for share_above (AA_EINVAL).
 */
#ifndef AA_PROMQL_H
#define AA_PROMQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/common.h"
#include "aa/rules.h"

/*
 * Builds the PromQL for rule over window_ms, with extra (the --selector
 * matchers; may be NULL) added to every selector.  For raw rules the query
 * has $window replaced and extra is not applied.  *out is malloc'd.
 */
int aa_promql_compile(const aa_rule *rule, const aa_matchers *extra,
                      int64_t window_ms, char **out, aa_diag *diag);

/* Appends value as the body of a double-quoted PromQL string literal. */
int aa_promql_escape(aat_buf *out, const char *value);

/* Appends '{m1, m2}' for matchers (and metric_name if not NULL, as
 * '__name__="..."' is not used: the name goes before the brace). */
int aa_promql_selector(aat_buf *out, const char *metric_name,
                       const aa_matchers *a, const aa_matchers *b);

/* The outer aggregation over the selected series, per group. */
typedef enum aa_agg { AA_AGG_SUM, AA_AGG_MAX, AA_AGG_MIN, AA_AGG_AVG } aa_agg;

/* The per-series range function applied over the window. */
typedef enum aa_range_fn {
    AA_FN_RATE,
    AA_FN_INCREASE,
    AA_FN_MAX_OVER_TIME,
    AA_FN_MIN_OVER_TIME,
    AA_FN_AVG_OVER_TIME,
    AA_FN_LAST_OVER_TIME,
    AA_FN_DELTA,
    AA_FN_DERIV
} aa_range_fn;

/*
 * A structured rule's evaluation, as data: for each series of
 * metric+suffix matching the selector, fn over the window; then agg per
 * group of the "by" labels (plus "le" when quantile is set, after which
 * histogram_quantile(rule->quantile) is taken per group); when
 * denominator_suffix is set the result is divided, group by group, by the
 * same computation over metric+denominator_suffix.
 */
typedef struct aa_plan {
    const char *suffix; /* "", "_bucket", "_sum" or "_count" */
    aa_range_fn fn;
    aa_agg agg;
    bool quantile;                  /* histogram_quantile over "le" */
    const char *denominator_suffix; /* "_count" for avg on a histogram */
} aa_plan;

/* Fills *out for a structured rule.  AA_EINVAL for a raw rule, a
 * stat/type pair outside the table, or share_above. */
int aa_rule_plan(const aa_rule *rule, aa_plan *out);

/* PromQL names: "sum", "max", ...; "rate", "max_over_time", ... */
const char *aa_agg_name(aa_agg agg);
const char *aa_range_fn_name(aa_range_fn fn);

/* Shortest decimal text of v that reads back as v ("0.999", "0.05",
 * "1e-06"); "NaN", "+Inf", "-Inf" as PromQL spells them.  Returns buf. */
char *aa_promql_number(double v, char *buf, size_t size);

/*
 * Minimal syntax check of a raw query: quotes closed, (), [] and {}
 * balanced and properly nested outside strings and comments, not empty.
 * AA_ESYNTAX with diag->column (1-based, into query) on failure.
 */
int aa_promql_check_raw(const char *query, aa_diag *diag);

#endif
