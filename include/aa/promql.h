/*
 * promql.h: compiling structured rules to PromQL (SPEC section 5, stat
 * table) and the escaping rules for label values in PromQL string literals.
 * Conventions: see common.h.
 *
 * Grouping: a rule's "by" labels define the groups; with no "by" the whole
 * selection is one group.  Rate-like stats aggregate with sum, the
 * quantile keeps "le" in its grouping, and gauge stats aggregate per stat
 * (max for max/last/delta/slope, min for min, avg for avg).
 */
#ifndef AA_PROMQL_H
#define AA_PROMQL_H

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
int aa_promql_escape(aa_buf *out, const char *value);

/* Appends '{m1, m2}' for matchers (and metric_name if not NULL, as
 * '__name__="..."' is not used: the name goes before the brace). */
int aa_promql_selector(aa_buf *out, const char *metric_name,
                       const aa_matchers *a, const aa_matchers *b);

#endif
