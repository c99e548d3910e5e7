/*
 * promapi.h: parsing the JSON answers of the Prometheus HTTP API
 * (/api/v1/query, /api/v1/query_range, /api/v1/series) as Prometheus,
 * VictoriaMetrics, Thanos and Mimir send them.  Conventions: see common.h.
 * Ownership: an aa_promapi_resp owns every string and series in it and is
 * released with aa_promapi_resp_clear().
 */
#ifndef AA_PROMAPI_H
#define AA_PROMAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/common.h"
#include "aa/series.h"

/* Bounds on one answer; beyond them parsing fails with AA_ETOOBIG. */
#define AA_PROMAPI_MAX_SERIES 200000
#define AA_PROMAPI_MAX_POINTS 20000000 /* over all series of a matrix */
#define AA_PROMAPI_MAX_LABELS 256      /* per series */
#define AA_PROMAPI_MAX_MESSAGES 64     /* warnings or infos kept */
/* JSON values in one body, counted before parsing: the parsed tree costs
 * about 90 bytes a value, so this keeps it under about 400 MB however
 * densely a (64 MiB) body packs its values. */
#define AA_PROMAPI_MAX_VALUES 4000000

/* What the caller asked for, i.e. the shape of "data". */
typedef enum aa_promapi_kind {
    AA_PROMAPI_QUERY,  /* data: {resultType, result} */
    AA_PROMAPI_SERIES, /* data: [ {label: value, ...}, ... ] */
    AA_PROMAPI_CONFIG  /* /api/v1/status/config, data: {yaml}: as STRING */
} aa_promapi_kind;

typedef enum aa_promapi_type {
    AA_PROMAPI_NONE, /* error envelope: no data */
    AA_PROMAPI_VECTOR,
    AA_PROMAPI_MATRIX,
    AA_PROMAPI_SCALAR,
    AA_PROMAPI_STRING,
    AA_PROMAPI_LABELSETS /* the series API's answer */
} aa_promapi_type;

typedef struct aa_promapi_resp {
    bool success;     /* "status": "success" */
    char *error_type; /* "errorType" of an error envelope, or NULL */
    char *error;      /* "error" of an error envelope, or NULL */
    char **warnings;  /* "warnings" (at most AA_PROMAPI_MAX_MESSAGES) */
    size_t nwarnings;
    char **infos; /* "infos" (Prometheus >= 2.52) */
    size_t ninfos;

    aa_promapi_type type;
    aa_vector vector; /* VECTOR; SCALAR as one sample without labels */
    aa_matrix matrix; /* MATRIX */
    int64_t t_ms;     /* SCALAR and STRING: the timestamp */
    double scalar;    /* SCALAR */
    char *string;     /* STRING */
    aa_labels *sets;  /* LABELSETS */
    size_t nsets;
} aa_promapi_resp;

/*
 * Parses one response body.  Both envelopes parse successfully: a
 * "success" one fills the data (its shape must match kind), an "error" one
 * sets success = false with error_type/error.  Every malformed shape is
 * AA_ESYNTAX with the JSON path of the offending element in diag (e.g.
 * "data.result[3].value[1]: expected a string"); invalid JSON gives the
 * line and column.  Bounds exceeded: AA_ETOOBIG (AA_PROMAPI_MAX_VALUES is
 * checked before any parsing).  *out is zeroed on entry and cleared again
 * on failure.
 */
int aa_promapi_parse(const char *data, size_t len, aa_promapi_kind kind,
                     aa_promapi_resp *out, aa_diag *diag);

void aa_promapi_resp_clear(aa_promapi_resp *r);

/*
 * The global scrape_interval of a Prometheus configuration as
 * /api/v1/status/config returns it (normalised YAML: "global:" at the
 * start of a line, its keys indented by two spaces).  AA_ENOTFOUND when
 * the text has none, AA_ESYNTAX when its value is not a duration.
 */
int aa_promapi_scrape_interval(const char *yaml, int64_t *out_ms);

/*
 * Strict sample value as the API spells it: a decimal number
 * ("-1.5e-3"), "NaN", "+Inf", "-Inf" ("Inf"/"inf" also accepted).
 * No whitespace, hex or trailing text.  AA_ESYNTAX otherwise.
 */
int aa_promapi_parse_value(const char *text, double *out);

#endif
