/*
 * expo.h: a streaming parser for the Prometheus text exposition format
 * 0.0.4 and OpenMetrics text 1.0, what the auditor reads when it scrapes
 * /metrics itself and when it replays a recording (--samples).
 *
 * Ownership: the parser owns nothing the caller sees beyond one callback:
 * every string handed to a callback (names, label names and values, help
 * text) lives in the parser's scratch memory and is valid only until that
 * callback returns.  Copy what you keep.  Conventions: see common.h.
 */
#ifndef AA_EXPO_H
#define AA_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/common.h"
#include "aa/rules.h"

typedef enum aa_expo_format {
    AA_EXPO_TEXT,       /* text/plain; version=0.0.4 */
    AA_EXPO_OPENMETRICS /* application/openmetrics-text; version=1.0.0 */
} aa_expo_format;

/* A family's # TYPE.  Summary and the OpenMetrics-only types are kept so
 * that a recording can say what it saw; the evaluator maps them with
 * aa_expo_type_metric(). */
typedef enum aa_expo_type {
    AA_EXPO_UNTYPED, /* no # TYPE, "untyped" (0.0.4), "unknown" (OM) */
    AA_EXPO_COUNTER,
    AA_EXPO_GAUGE,
    AA_EXPO_HISTOGRAM,
    AA_EXPO_SUMMARY,
    AA_EXPO_GAUGEHISTOGRAM,
    AA_EXPO_INFO,
    AA_EXPO_STATESET
} aa_expo_type;

/* "counter", "gauge", ...; "untyped" for AA_EXPO_UNTYPED. */
const char *aa_expo_type_name(aa_expo_type t);
/* The rule model's type: counter, gauge, histogram or unknown. */
aa_metric_type aa_expo_type_metric(aa_expo_type t);

typedef struct aa_expo_label {
    const char *name;  /* NUL-terminated, unescaped */
    const char *value; /* NUL-terminated, unescaped */
} aa_expo_label;

/* One sample line.  Labels are in the order written, without __name__. */
typedef struct aa_expo_sample {
    const char *name;   /* the sample's metric name */
    const char *family; /* the family it belongs to (the name of
                           the # TYPE line, or name itself) */
    aa_expo_type type;  /* the family's type */
    const aa_expo_label *labels;
    size_t nlabels;
    double value; /* NaN, +Inf, -Inf allowed */
    bool has_timestamp;
    int64_t t_ms;  /* 0.0.4: ms as written; OpenMetrics: the
                      seconds float times 1000, truncated
                      toward zero as Prometheus does */
    unsigned line; /* 1-based line of the sample */
} aa_expo_sample;

/* Metadata seen in a # TYPE / # HELP / # UNIT line. */
typedef struct aa_expo_meta {
    const char *family;
    aa_expo_type type; /* AA_EXPO_UNTYPED until a # TYPE was seen */
    const char *help;  /* NULL unless this callback is for a HELP line */
    const char *unit;  /* NULL unless this callback is for a UNIT line */
    unsigned line;
} aa_expo_meta;

/*
 * Callbacks: each returns 0 to go on, or a negative aa_err that stops the
 * parse and is returned by aa_expo_parse unchanged (the diag then says
 * "line N: stopped by the consumer" unless the callback filled it).
 * Either may be NULL.
 */
typedef struct aa_expo_handler {
    int (*sample)(void *ctx, const aa_expo_sample *s);
    int (*meta)(void *ctx, const aa_expo_meta *m);
    void *ctx;
} aa_expo_handler;

typedef struct aa_expo_limits {
    size_t max_line;    /* longest accepted line in bytes (0: 64 KiB) */
    size_t max_samples; /* most sample lines accepted (0: 1,000,000) */
    size_t max_labels;  /* most labels on one sample (0: 64) */
} aa_expo_limits;

/*
 * Parses one whole exposition held in memory (data need not be
 * NUL-terminated).  Malformed input is AA_ESYNTAX with diag->line (and
 * column when known) set and a message starting "line N:".  Exceeding a
 * limit is AA_ETOOBIG with the same kind of diag.  In OpenMetrics a
 * missing "# EOF" or anything after it is an error; in 0.0.4 "# EOF" is
 * an ordinary comment.  Exemplars (" # {...} v [t]") are checked for
 * shape and skipped.  lim may be NULL for the defaults.
 */
int aa_expo_parse(const char *data, size_t len, aa_expo_format fmt,
                  const aa_expo_limits *lim, const aa_expo_handler *h,
                  aa_diag *diag);

/*
 * Go's strconv.ParseFloat on s[0..n), which is how Prometheus reads a
 * histogram's "le" label: decimal, hexadecimal with a 'p' exponent,
 * Inf/Infinity (signed) and NaN in any case.  Refused: anything else,
 * digit-separating underscores (Go takes them) and input of 128 bytes or
 * more.  Sample values are read more strictly, as Prometheus's text
 * parsers read them: no hexadecimal form.
 */
bool aa_expo_parse_go_float(const char *s, size_t n, double *out);

/* Format from an HTTP Content-Type (NULL or unknown: 0.0.4). */
aa_expo_format aa_expo_format_from_content_type(const char *content_type);

/*
 * The format of a body without a trustworthy Content-Type (a recording,
 * or a scrape): OpenMetrics when its last line is "# EOF", else 0.0.4.
 */
aa_expo_format aa_expo_format_sniff(const char *data, size_t len);

/* Writers of recordings escape with aat_buf_escape() (aat.h). */

#endif
