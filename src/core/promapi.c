/*
 * promapi.c: the Prometheus HTTP API's JSON answers turned into vectors,
 * matrices and label sets.  The auditor trusts nothing a backend sends: a
 * proxy may answer with HTML, a buggy engine with a number where a string
 * belongs, a hostile one with a billion series.  So every shape is checked
 * and a rejection names the JSON path of the element at fault, and counts
 * are bounded (the body itself is bounded by the HTTP client).
 */
#include "aa/promapi.h"

#include "aa/rules.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest value string accepted ("-1.7976931348623157e+308" is 24). */
#define VALUE_MAX_LEN 64
/* Timestamps beyond this many seconds from 1970 are rejected. */
#define TS_MAX_SECONDS 1e12

typedef struct parser {
    aa_diag *diag;
    char path[160];
    size_t npoints;
} parser;

static int fail(parser *p, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Records "PATH: message" in the diag and returns rc. */
static int fail(parser *p, int rc, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->path[0] != '\0') {
        aa_diag_set(p->diag, NULL, 0, 0, "%s: %s", p->path, msg);
    } else {
        aa_diag_set(p->diag, NULL, 0, 0, "%s", msg);
    }
    return rc;
}

/* Appends a path component; returns the old length for path_pop. */
static size_t path_push(parser *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static size_t path_push(parser *p, const char *fmt, ...)
{
    size_t old = strlen(p->path);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->path + old, sizeof(p->path) - old, fmt, ap);
    va_end(ap);
    return old;
}

static void path_pop(parser *p, size_t old)
{
    p->path[old] = '\0';
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

int aa_promapi_parse_value(const char *text, double *out)
{
    const char *s = text;
    char *end;
    size_t digits = 0;
    double v;

    *out = 0.0;
    if (text == NULL || *text == '\0' || strlen(text) > VALUE_MAX_LEN) {
        return AA_ESYNTAX;
    }
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return AA_OK;
    }
    if (*s == '+' || *s == '-') {
        s++;
    }
    if (strcmp(s, "Inf") == 0 || strcmp(s, "inf") == 0) {
        *out = text[0] == '-' ? -INFINITY : INFINITY;
        return AA_OK;
    }
    /* decimal: digits [. digits] | . digits, then [eE [+-] digits] */
    while (*s >= '0' && *s <= '9') {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            s++;
            digits++;
        }
    }
    if (digits == 0) {
        return AA_ESYNTAX;
    }
    if (*s == 'e' || *s == 'E') {
        size_t edigits = 0;

        s++;
        if (*s == '+' || *s == '-') {
            s++;
        }
        while (*s >= '0' && *s <= '9') {
            s++;
            edigits++;
        }
        if (edigits == 0) {
            return AA_ESYNTAX;
        }
    }
    if (*s != '\0') {
        return AA_ESYNTAX;
    }
    v = strtod(text, &end);
    if (*end != '\0') {
        return AA_ESYNTAX;
    }
    /* Overflow gives +-HUGE_VAL, which is what the engine meant by a value
     * that large; underflow gives 0 or a subnormal. */
    *out = v;
    return AA_OK;
}

static int parse_ts(parser *p, const json_t *j, int64_t *t_ms)
{
    double t;

    if (!json_is_number(j)) {
        return fail(p, AA_ESYNTAX, "expected a timestamp number, got %s",
                    json_kind(j));
    }
    t = json_number_value(j);
    if (!isfinite(t) || fabs(t) > TS_MAX_SECONDS) {
        return fail(p, AA_ESYNTAX, "timestamp %g is out of range", t);
    }
    *t_ms = llround(t * 1000.0);
    return AA_OK;
}

/* A [timestamp, "value"] pair at the current path. */
static int parse_pair(parser *p, const json_t *j, int64_t *t_ms, double *v,
                      const char **str)
{
    const json_t *jv;
    size_t old;
    int rc;

    if (!json_is_array(j)) {
        return fail(p, AA_ESYNTAX,
                    "expected a [timestamp, \"value\"] array, got %s",
                    json_kind(j));
    }
    if (json_array_size(j) != 2) {
        return fail(p, AA_ESYNTAX,
                    "expected a [timestamp, \"value\"] array of 2 "
                    "elements, got %zu",
                    json_array_size(j));
    }
    old = path_push(p, "[0]");
    rc = parse_ts(p, json_array_get(j, 0), t_ms);
    path_pop(p, old);
    if (rc != AA_OK) {
        return rc;
    }
    old = path_push(p, "[1]");
    jv = json_array_get(j, 1);
    if (!json_is_string(jv)) {
        rc = fail(p, AA_ESYNTAX, "expected a string, got %s", json_kind(jv));
    } else if (str != NULL) {
        *str = json_string_value(jv);
    } else if (aa_promapi_parse_value(json_string_value(jv), v) != AA_OK) {
        rc = fail(p, AA_ESYNTAX, "\"%.40s\" is not a sample value",
                  json_string_value(jv));
    }
    path_pop(p, old);
    return rc;
}

/* A {"name": "value", ...} object at the current path into ls. */
static int parse_labels(parser *p, const json_t *j, aa_labels *ls)
{
    const char *key;
    json_t *val;
    int rc;

    if (!json_is_object(j)) {
        return fail(p, AA_ESYNTAX, "expected a label object, got %s",
                    json_kind(j));
    }
    if (json_object_size(j) > AA_PROMAPI_MAX_LABELS) {
        return fail(p, AA_ETOOBIG, "more than %d labels",
                    AA_PROMAPI_MAX_LABELS);
    }
    json_object_foreach((json_t *)j, key, val)
    {
        if (key[0] == '\0') {
            return fail(p, AA_ESYNTAX, "empty label name");
        }
        if (!json_is_string(val)) {
            size_t old = path_push(p, ".%.40s", key);

            rc = fail(p, AA_ESYNTAX, "expected a string, got %s",
                      json_kind(val));
            path_pop(p, old);
            return rc;
        }
        rc = aa_labels_add(ls, key, json_string_value(val));
        if (rc != AA_OK) {
            return fail(p, rc, "%s", aa_strerror(rc));
        }
    }
    return AA_OK;
}

/* "metric" of a result element into ls (which the caller clears). */
static int parse_metric(parser *p, const json_t *elem, aa_labels *ls)
{
    const json_t *jm = json_object_get(elem, "metric");
    size_t old;
    int rc;

    if (jm == NULL) {
        return fail(p, AA_ESYNTAX, "missing \"metric\"");
    }
    old = path_push(p, ".metric");
    rc = parse_labels(p, jm, ls);
    path_pop(p, old);
    return rc;
}

static int parse_points(parser *p, const json_t *values, aa_range_series *s)
{
    int64_t prev = 0;
    size_t i;
    int rc;

    if (!json_is_array(values)) {
        return fail(p, AA_ESYNTAX, "expected an array, got %s",
                    json_kind(values));
    }
    for (i = 0; i < json_array_size(values); i++) {
        size_t old = path_push(p, "[%zu]", i);
        int64_t t;
        double v = 0.0;

        if (++p->npoints > AA_PROMAPI_MAX_POINTS) {
            rc = fail(p, AA_ETOOBIG, "more than %d points in all",
                      AA_PROMAPI_MAX_POINTS);
        } else {
            rc = parse_pair(p, json_array_get(values, i), &t, &v, NULL);
        }
        if (rc == AA_OK && i > 0 && t <= prev) {
            rc = fail(p, AA_ESYNTAX, "timestamps are not increasing");
        }
        if (rc == AA_OK) {
            rc = aa_range_series_push(s, t, v);
            if (rc != AA_OK) {
                rc = fail(p, rc, "%s", aa_strerror(rc));
            }
        }
        path_pop(p, old);
        if (rc != AA_OK) {
            return rc;
        }
        prev = t;
    }
    return AA_OK;
}

/*
 * One element of a vector ({"metric", "value"}) or matrix ({"metric",
 * "values"}) result, at the current path, appended to r.
 */
static int parse_element(parser *p, const json_t *elem, bool matrix,
                         aa_promapi_resp *r)
{
    const char *key = matrix ? "values" : "value";
    const json_t *jv;
    aa_labels ls = {NULL, 0};
    size_t old;
    int rc;

    if (!json_is_object(elem)) {
        return fail(p, AA_ESYNTAX, "expected an object, got %s",
                    json_kind(elem));
    }
    rc = parse_metric(p, elem, &ls);
    if (rc != AA_OK) {
        goto out;
    }
    if (json_object_get(elem, matrix ? "histograms" : "histogram") != NULL) {
        rc = fail(p, AA_ESYNTAX, "native histogram samples are not supported");
        goto out;
    }
    jv = json_object_get(elem, key);
    if (jv == NULL) {
        rc = fail(p, AA_ESYNTAX, "missing \"%s\"", key);
        goto out;
    }
    old = path_push(p, ".%s", key);
    if (matrix) {
        aa_range_series *s = NULL;

        rc = aa_matrix_push(&r->matrix, &ls, &s);
        if (rc != AA_OK) {
            rc = fail(p, rc, "%s", aa_strerror(rc));
        } else {
            rc = parse_points(p, jv, s);
        }
    } else {
        int64_t t;
        double v = 0.0;

        rc = parse_pair(p, jv, &t, &v, NULL);
        if (rc == AA_OK) {
            rc = aa_vector_push(&r->vector, &ls, v);
            if (rc != AA_OK) {
                rc = fail(p, rc, "%s", aa_strerror(rc));
            }
        }
    }
    path_pop(p, old);
out:
    aa_labels_clear(&ls);
    return rc;
}

/* The "result" array of a vector or matrix, bounded in series. */
static int parse_result(parser *p, const json_t *result, bool matrix,
                        aa_promapi_resp *r)
{
    size_t i;

    if (json_array_size(result) > AA_PROMAPI_MAX_SERIES) {
        return fail(p, AA_ETOOBIG, "more than %d series",
                    AA_PROMAPI_MAX_SERIES);
    }
    for (i = 0; i < json_array_size(result); i++) {
        size_t old = path_push(p, "[%zu]", i);
        int rc = parse_element(p, json_array_get(result, i), matrix, r);

        path_pop(p, old);
        if (rc != AA_OK) {
            return rc;
        }
    }
    return AA_OK;
}

static int parse_query_data(parser *p, const json_t *data, aa_promapi_resp *r)
{
    const json_t *jt, *result;
    const char *type;
    size_t old;
    int rc;

    if (!json_is_object(data)) {
        return fail(p, AA_ESYNTAX, "expected an object, got %s",
                    json_kind(data));
    }
    jt = json_object_get(data, "resultType");
    if (jt == NULL) {
        return fail(p, AA_ESYNTAX, "missing \"resultType\"");
    }
    if (!json_is_string(jt)) {
        old = path_push(p, ".resultType");
        rc = fail(p, AA_ESYNTAX, "expected a string, got %s", json_kind(jt));
        path_pop(p, old);
        return rc;
    }
    type = json_string_value(jt);
    result = json_object_get(data, "result");
    if (result == NULL) {
        return fail(p, AA_ESYNTAX, "missing \"result\"");
    }
    old = path_push(p, ".result");
    if (strcmp(type, "vector") == 0 || strcmp(type, "matrix") == 0) {
        if (!json_is_array(result)) {
            rc = fail(p, AA_ESYNTAX, "expected an array, got %s",
                      json_kind(result));
        } else {
            r->type = type[0] == 'v' ? AA_PROMAPI_VECTOR : AA_PROMAPI_MATRIX;
            rc = parse_result(p, result, type[0] == 'm', r);
        }
    } else if (strcmp(type, "scalar") == 0) {
        r->type = AA_PROMAPI_SCALAR;
        rc = parse_pair(p, result, &r->t_ms, &r->scalar, NULL);
        if (rc == AA_OK) {
            aa_labels none = {NULL, 0};

            rc = aa_vector_push(&r->vector, &none, r->scalar);
            if (rc != AA_OK) {
                rc = fail(p, rc, "%s", aa_strerror(rc));
            }
        }
    } else if (strcmp(type, "string") == 0) {
        const char *str = NULL;

        r->type = AA_PROMAPI_STRING;
        rc = parse_pair(p, result, &r->t_ms, NULL, &str);
        if (rc == AA_OK) {
            r->string = aa_strdup(str);
            if (r->string == NULL) {
                rc = fail(p, AA_ENOMEM, "%s", aa_strerror(AA_ENOMEM));
            }
        }
    } else {
        path_pop(p, old);
        old = path_push(p, ".resultType");
        rc = fail(p, AA_ESYNTAX, "unknown result type \"%.40s\"", type);
    }
    path_pop(p, old);
    return rc;
}

static int parse_config_data(parser *p, const json_t *data, aa_promapi_resp *r)
{
    const json_t *y;
    size_t old;
    int rc = AA_OK;

    if (!json_is_object(data)) {
        return fail(p, AA_ESYNTAX, "expected an object, got %s",
                    json_kind(data));
    }
    y = json_object_get(data, "yaml");
    if (y == NULL) {
        return fail(p, AA_ESYNTAX, "missing \"yaml\"");
    }
    old = path_push(p, ".yaml");
    if (!json_is_string(y)) {
        rc = fail(p, AA_ESYNTAX, "expected a string, got %s", json_kind(y));
    } else {
        r->type = AA_PROMAPI_STRING;
        r->string = aa_strdup(json_string_value(y));
        if (r->string == NULL) {
            rc = fail(p, AA_ENOMEM, "%s", aa_strerror(AA_ENOMEM));
        }
    }
    path_pop(p, old);
    return rc;
}

static int parse_series_data(parser *p, const json_t *data, aa_promapi_resp *r)
{
    size_t i, n;

    if (!json_is_array(data)) {
        return fail(p, AA_ESYNTAX, "expected an array of label sets, got %s",
                    json_kind(data));
    }
    n = json_array_size(data);
    if (n > AA_PROMAPI_MAX_SERIES) {
        return fail(p, AA_ETOOBIG, "more than %d series",
                    AA_PROMAPI_MAX_SERIES);
    }
    r->type = AA_PROMAPI_LABELSETS;
    if (n == 0) {
        return AA_OK;
    }
    r->sets = calloc(n, sizeof(*r->sets));
    if (r->sets == NULL) {
        return fail(p, AA_ENOMEM, "%s", aa_strerror(AA_ENOMEM));
    }
    r->nsets = n;
    for (i = 0; i < n; i++) {
        size_t old = path_push(p, "[%zu]", i);
        int rc = parse_labels(p, json_array_get(data, i), &r->sets[i]);

        path_pop(p, old);
        if (rc != AA_OK) {
            return rc;
        }
    }
    return AA_OK;
}

/* An optional array of strings ("warnings", "infos"), bounded. */
static int parse_messages(parser *p, const json_t *root, const char *key,
                          char ***out, size_t *nout)
{
    const json_t *arr = json_object_get(root, key);
    size_t i, n, keep;
    size_t old;
    int rc = AA_OK;

    *out = NULL;
    *nout = 0;
    if (arr == NULL || json_is_null(arr)) {
        return AA_OK;
    }
    old = path_push(p, "%s", key);
    if (!json_is_array(arr)) {
        rc = fail(p, AA_ESYNTAX, "expected an array of strings, got %s",
                  json_kind(arr));
        goto out;
    }
    n = json_array_size(arr);
    if (n == 0) {
        goto out;
    }
    keep = n > AA_PROMAPI_MAX_MESSAGES ? AA_PROMAPI_MAX_MESSAGES : n;
    *out = calloc(keep, sizeof(**out));
    if (*out == NULL) {
        rc = fail(p, AA_ENOMEM, "%s", aa_strerror(AA_ENOMEM));
        goto out;
    }
    for (i = 0; i < n; i++) {
        const json_t *s = json_array_get(arr, i);
        char *copy;

        if (!json_is_string(s)) {
            size_t o2 = path_push(p, "[%zu]", i);

            rc =
                fail(p, AA_ESYNTAX, "expected a string, got %s", json_kind(s));
            path_pop(p, o2);
            goto out;
        }
        if (i >= keep) {
            continue;
        }
        if (i == keep - 1 && n > keep) {
            char tail[64];
            aat_buf b;

            aat_buf_init(&b, 4096);
            snprintf(tail, sizeof(tail), " (and %zu more)", n - keep);
            if (aat_buf_appendf(&b, "%.1000s%s", json_string_value(s), tail) !=
                AA_OK) {
                aat_buf_release(&b);
                rc = fail(p, AA_ENOMEM, "%s", aa_strerror(AA_ENOMEM));
                goto out;
            }
            copy = aat_buf_steal(&b);
        } else {
            copy = aa_strdup(json_string_value(s));
        }
        if (copy == NULL) {
            rc = fail(p, AA_ENOMEM, "%s", aa_strerror(AA_ENOMEM));
            goto out;
        }
        (*out)[(*nout)++] = copy;
    }
out:
    path_pop(p, old);
    return rc;
}

/* A required (or, with optional, absent-allowed) string member. */
static int get_string(parser *p, const json_t *root, const char *key,
                      bool optional, char **out)
{
    const json_t *j = json_object_get(root, key);
    size_t old;
    int rc;

    *out = NULL;
    if (j == NULL) {
        return optional ? AA_OK : fail(p, AA_ESYNTAX, "missing \"%s\"", key);
    }
    if (!json_is_string(j)) {
        old = path_push(p, "%s", key);
        rc = fail(p, AA_ESYNTAX, "expected a string, got %s", json_kind(j));
        path_pop(p, old);
        return rc;
    }
    *out = aa_strdup(json_string_value(j));
    return *out == NULL ? fail(p, AA_ENOMEM, "%s", aa_strerror(AA_ENOMEM))
                        : AA_OK;
}

/*
 * Whether a JSON text holds more than AA_PROMAPI_MAX_VALUES values,
 * counting the brackets, braces, commas and colons outside strings (an
 * object member counts twice: its key is a value too).  Malformed text
 * is left for the parser to reject.
 */
static bool too_many_values(const char *data, size_t len)
{
    size_t i, n = 1;
    bool in_string = false;

    for (i = 0; i < len; i++) {
        char ch = data[i];

        if (in_string) {
            if (ch == '\\') {
                i++;
            } else if (ch == '"') {
                in_string = false;
            }
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '[' || ch == '{' || ch == ',' || ch == ':') {
            if (++n > AA_PROMAPI_MAX_VALUES) {
                return true;
            }
        }
    }
    return false;
}

int aa_promapi_parse(const char *data, size_t len, aa_promapi_kind kind,
                     aa_promapi_resp *out, aa_diag *diag)
{
    parser p;
    json_error_t jerr;
    json_t *root = NULL;
    const json_t *js, *jd;
    const char *status;
    size_t old;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&p, 0, sizeof(p));
    p.diag = diag;
    aa_diag_clear(diag);
    if (data == NULL || len == 0) {
        return fail(&p, AA_ESYNTAX, "empty response body");
    }
    if (too_many_values(data, len)) {
        return fail(&p, AA_ETOOBIG, "more than %d JSON values",
                    AA_PROMAPI_MAX_VALUES);
    }
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        aa_diag_set(diag, NULL, (unsigned)(jerr.line > 0 ? jerr.line : 0),
                    (unsigned)(jerr.column > 0 ? jerr.column : 0),
                    "invalid JSON at line %d, column %d: %s", jerr.line,
                    jerr.column, jerr.text);
        return AA_ESYNTAX;
    }
    if (!json_is_object(root)) {
        rc = fail(&p, AA_ESYNTAX, "expected a JSON object, got %s",
                  json_kind(root));
        goto out;
    }
    js = json_object_get(root, "status");
    if (js == NULL) {
        rc = fail(&p, AA_ESYNTAX, "missing \"status\"");
        goto out;
    }
    status = json_string_value(js);
    if (status == NULL ||
        (strcmp(status, "success") != 0 && strcmp(status, "error") != 0)) {
        old = path_push(&p, "status");
        rc = fail(&p, AA_ESYNTAX, "expected \"success\" or \"error\"");
        path_pop(&p, old);
        goto out;
    }
    rc = parse_messages(&p, root, "warnings", &out->warnings, &out->nwarnings);
    if (rc == AA_OK) {
        rc = parse_messages(&p, root, "infos", &out->infos, &out->ninfos);
    }
    if (rc != AA_OK) {
        goto out;
    }
    if (strcmp(status, "error") == 0) {
        out->success = false;
        out->type = AA_PROMAPI_NONE;
        rc = get_string(&p, root, "errorType", true, &out->error_type);
        if (rc == AA_OK) {
            rc = get_string(&p, root, "error", false, &out->error);
        }
        goto out;
    }
    out->success = true;
    jd = json_object_get(root, "data");
    if (jd == NULL) {
        rc = fail(&p, AA_ESYNTAX, "missing \"data\"");
        goto out;
    }
    old = path_push(&p, "data");
    if (kind == AA_PROMAPI_SERIES) {
        rc = parse_series_data(&p, jd, out);
    } else if (kind == AA_PROMAPI_CONFIG) {
        rc = parse_config_data(&p, jd, out);
    } else {
        rc = parse_query_data(&p, jd, out);
    }
    path_pop(&p, old);
out:
    json_decref(root);
    if (rc != AA_OK) {
        aa_promapi_resp_clear(out);
    }
    return rc;
}

int aa_promapi_scrape_interval(const char *yaml, int64_t *out_ms)
{
    static const char key[] = "  scrape_interval:";
    const char *line = yaml;
    bool in_global = false;

    *out_ms = 0;
    if (yaml == NULL) {
        return AA_ENOTFOUND;
    }
    while (*line != '\0') {
        size_t len = strcspn(line, "\n");

        if (len > 0 && line[0] != ' ' && line[0] != '#') {
            in_global = len == 7 && strncmp(line, "global:", 7) == 0;
        } else if (in_global && len > sizeof(key) - 1 &&
                   strncmp(line, key, sizeof(key) - 1) == 0) {
            char value[32];
            const char *v = line + sizeof(key) - 1;
            size_t vlen;

            while (*v == ' ') {
                v++;
            }
            vlen = (size_t)(line + len - v);
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\r')) {
                vlen--;
            }
            if (vlen == 0 || vlen >= sizeof(value)) {
                return AA_ESYNTAX;
            }
            memcpy(value, v, vlen);
            value[vlen] = '\0';
            if (aa_duration_parse(value, out_ms) != AA_OK || *out_ms <= 0) {
                *out_ms = 0;
                return AA_ESYNTAX;
            }
            return AA_OK;
        }
        line += len;
        if (*line == '\n') {
            line++;
        }
    }
    return AA_ENOTFOUND;
}

static void free_strings(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

void aa_promapi_resp_clear(aa_promapi_resp *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    free(r->error_type);
    free(r->error);
    free_strings(r->warnings, r->nwarnings);
    free_strings(r->infos, r->ninfos);
    aa_vector_clear(&r->vector);
    aa_matrix_clear(&r->matrix);
    free(r->string);
    for (i = 0; i < r->nsets; i++) {
        aa_labels_clear(&r->sets[i]);
    }
    free(r->sets);
    memset(r, 0, sizeof(*r));
}
