/*
 * rules.h: the rule file (contract §5): durations, thresholds, label
 * matchers, rules and rule sets, and the loader that reads them from YAML
 * with file:line:column diagnostics.  Conventions: see common.h.
 */
#ifndef AA_RULES_H
#define AA_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/common.h"

/* ---- durations: "250ms", "30s", "5m", "1h", "1m30s", also "1d", "1w" --- */

/* Parses a Prometheus-style duration into milliseconds (> 0 unless the text
 * is "0s").  AA_ESYNTAX on anything else; no diag, the caller knows where. */
int aa_duration_parse(const char *text, int64_t *out_ms);
/* Shortest Prometheus form ("1m30s", "250ms") into buf; returns buf. */
char *aa_duration_format(int64_t ms, char *buf, size_t size);

/* ---- thresholds: "OP VALUE[UNIT]" --------------------------------------- */

typedef enum aa_cmp {
    AA_CMP_GT,
    AA_CMP_GE,
    AA_CMP_LT,
    AA_CMP_LE,
    AA_CMP_EQ,
    AA_CMP_NE
} aa_cmp;

typedef struct aa_threshold {
    bool set;
    aa_cmp op;
    double value;  /* in base units: "250ms" -> 0.25, "5%" -> 0.05 */
    char text[64]; /* as written, e.g. "> 250ms" */
} aa_threshold;

int aa_threshold_parse(const char *text, aa_threshold *out);
/* True when value crosses t.  NaN never crosses. */
bool aa_threshold_crossed(const aa_threshold *t, double value);
/* "OP" as PromQL spells it (">", ">=", ...). */
const char *aa_cmp_str(aa_cmp op);

/* ---- label matchers: '{job="api", path=~"/v1/.*"}' ---------------------- */

typedef enum aa_match_op {
    AA_MATCH_EQ,
    AA_MATCH_NE,
    AA_MATCH_RE,
    AA_MATCH_NRE
} aa_match_op;

typedef struct aa_matcher {
    char *name;
    aa_match_op op;
    char *value; /* unescaped */
} aa_matcher;

typedef struct aa_matchers {
    aa_matcher *v;
    size_t n;
} aa_matchers;

/* Parses a selector body with or without braces.  Values are unescaped.
 * On failure the diag's column points into text. */
int aa_matchers_parse(const char *text, aa_matchers *out, aa_diag *diag);
/* Appends copies of src's matchers to dst. */
int aa_matchers_append(aa_matchers *dst, const aa_matchers *src);
void aa_matchers_clear(aa_matchers *m);

/* ---- rules -------------------------------------------------------------- */

typedef enum aa_stat {
    AA_STAT_QUANTILE, /* pNN on a histogram */
    AA_STAT_AVG,      /* histogram: rate(_sum)/rate(_count); gauge: avg */
    AA_STAT_RATE,
    AA_STAT_INCREASE,
    AA_STAT_SUM_RATE, /* histogram: rate(_sum) */
    AA_STAT_MAX,
    AA_STAT_MIN,
    AA_STAT_LAST,
    AA_STAT_DELTA,
    AA_STAT_SLOPE,
    AA_STAT_SHARE_ABOVE /* share_above(X) on a histogram: the share of
                           observations above the bucket bound X */
} aa_stat;

typedef enum aa_metric_type {
    AA_TYPE_UNKNOWN,
    AA_TYPE_COUNTER,
    AA_TYPE_GAUGE,
    AA_TYPE_HISTOGRAM
} aa_metric_type;

typedef enum aa_nodata {
    AA_NODATA_UNKNOWN,
    AA_NODATA_OK,
    AA_NODATA_WARNING,
    AA_NODATA_CRITICAL
} aa_nodata;

typedef struct aa_rule {
    char *id;
    char *finding;
    char *description; /* may be NULL */

    /* structured form (metric != NULL) */
    char *metric;
    aa_stat stat;
    double quantile;     /* 0.99 for p99 */
    double above;        /* share_above(X): X in base units (0.0625) */
    char stat_text[32];  /* as written: "p99", "share_above(62.5ms)" */
    aa_metric_type type; /* from the rule's "type:" or inferred */
    char **by;
    size_t nby;
    aa_matchers where;
    /* loop implementations on which the probe does not export this
     * metric ("unmeasured_on: [uvloop]"): no series there is the verdict
     * not_applicable rather than no data */
    char **unmeasured_on;
    size_t nunmeasured;

    /* raw form (query != NULL): PromQL with $window */
    char *query;

    aa_threshold warning;
    aa_threshold critical;
    int64_t for_ms; /* 0: no "for" */
    aa_nodata no_data;

    unsigned line, column; /* of the rule's mapping in the file */
} aa_rule;

typedef struct aa_ruleset {
    char *path; /* file name as given, or "<built-in>" */
    int version;
    int64_t window_ms; /* 0: not set in the file */
    aa_rule *rules;
    size_t nrules;
} aa_ruleset;

/*
 * Loads and validates a rule file.  Unknown keys, wrong types, an empty rule
 * set, duplicate or malformed ids, bad thresholds, stats and durations are
 * AA_ESYNTAX with the position in diag; an unreadable file is AA_EIO.
 */
int aa_ruleset_load_file(const char *path, aa_ruleset **out, aa_diag *diag);
/* As above, from memory; name is used in diagnostics. */
int aa_ruleset_load_buffer(const char *name, const char *data, size_t len,
                           aa_ruleset **out, aa_diag *diag);
void aa_ruleset_free(aa_ruleset *rs);

/* The built-in default rule pack (rules/default.yaml compiled in). */
extern const char aa_default_rules_yaml[];
extern const size_t aa_default_rules_yaml_len;

/* Type of a metric the probe exports (contract §2), or AA_TYPE_UNKNOWN. */
aa_metric_type aa_known_metric_type(const char *metric);

#endif
