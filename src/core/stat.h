/*
 * stat.h: the stat vocabulary of the rule language (contract §5): the
 * stat names, the texts that carry a number (pNN, share_above(X)), which
 * metric types each stat applies to, and the probe's own metric types.
 * Kept apart from the loader (rules.c), which validates a file's
 * structure and asks this file what a stat text means.  Internal to the
 * core library; not installed.
 */
#ifndef AA_STAT_H
#define AA_STAT_H

#include <stdbool.h>

#include "aa/rules.h"

/*
 * The stat named by s: a name of the stat table ("avg", "rate", ...), a
 * quantile "pNN" (0 < NN < 100, at most two integer digits, the decimal
 * point shifted exactly: p99.9 is 0.999) into *quantile, or
 * "share_above(X)" with X a number and an optional unit ms or s into
 * *above (base units).  False for anything else.
 */
bool aa_stat_parse(const char *s, aa_stat *stat, double *quantile,
                   double *above);

/* The type a stat implies when neither the rule nor the probe says:
 * histogram for pNN, sum_rate and share_above, counter for rate and
 * increase, gauge otherwise. */
aa_metric_type aa_stat_infer_type(aa_stat stat);

/* Whether the stat applies to a metric of type t (the stat table). */
bool aa_stat_fits(aa_stat stat, aa_metric_type t);

/* "counter", "gauge", "histogram"; "unknown". */
const char *aa_metric_type_name(aa_metric_type t);

/* The type named s ("counter", "gauge", "histogram"); false if none. */
bool aa_metric_type_parse(const char *s, aa_metric_type *t);

#endif
