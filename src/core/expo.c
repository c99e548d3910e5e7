/*
 * expo.c: the Prometheus text exposition (0.0.4) and OpenMetrics text 1.0
 * parser.  Scrape mode must read exactly what Prometheus would read from
 * the same /metrics body, and no Debian C library parses these formats,
 * so this one is ours.
 *
 * Design: one pass over the input, line by line.  Each line is unescaped
 * into a scratch buffer allocated once per parse (bounded by max_line), so
 * a parse does O(1) allocations whatever the input size; the callbacks
 * see pointers into that scratch.  Family membership (foo_bucket belongs
 * to the histogram foo) follows the last # TYPE/# HELP/# UNIT line, as in
 * Prometheus's parsers.
 */
#include "aa/expo.h"
#include "aa/series.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_LINE (64u * 1024u)
#define DEFAULT_MAX_SAMPLES 1000000u
#define DEFAULT_MAX_LABELS 64u

typedef struct parser {
    aa_expo_format fmt;
    const aa_expo_handler *h;
    aa_diag *diag;
    size_t max_line, max_samples, max_labels;
    size_t nsamples;
    size_t nlab; /* room in labels */

    /* the current line */
    const char *line;
    size_t len;
    size_t pos;
    unsigned lineno;

    /* scratch: unescaped strings of the current line */
    char *scratch;
    size_t scap, sused;
    aa_expo_label *labels;

    /* the current family (from the last metadata line); max_line + 1
     * bytes, as a name cannot be longer than its line */
    char *family;
    size_t famlen;
    aa_expo_type type;
    bool type_seen; /* a # TYPE line for family was seen */
    bool help_seen;
    bool unit_seen;
    bool has_family;
} parser;

const char *aa_expo_type_name(aa_expo_type t)
{
    switch (t) {
    case AA_EXPO_COUNTER:
        return "counter";
    case AA_EXPO_GAUGE:
        return "gauge";
    case AA_EXPO_HISTOGRAM:
        return "histogram";
    case AA_EXPO_SUMMARY:
        return "summary";
    case AA_EXPO_GAUGEHISTOGRAM:
        return "gaugehistogram";
    case AA_EXPO_INFO:
        return "info";
    case AA_EXPO_STATESET:
        return "stateset";
    case AA_EXPO_UNTYPED:
        break;
    }
    return "untyped";
}

aa_metric_type aa_expo_type_metric(aa_expo_type t)
{
    switch (t) {
    case AA_EXPO_COUNTER:
        return AA_TYPE_COUNTER;
    case AA_EXPO_GAUGE:
        return AA_TYPE_GAUGE;
    case AA_EXPO_HISTOGRAM:
        return AA_TYPE_HISTOGRAM;
    default:
        break;
    }
    return AA_TYPE_UNKNOWN;
}

aa_expo_format aa_expo_format_from_content_type(const char *ct)
{
    static const char om[] = "application/openmetrics-text";

    if (ct == NULL) {
        return AA_EXPO_TEXT;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    if (strncasecmp(ct, om, sizeof(om) - 1) == 0) {
        return AA_EXPO_OPENMETRICS;
    }
    return AA_EXPO_TEXT;
}

aa_expo_format aa_expo_format_sniff(const char *data, size_t len)
{
    while (len > 0 && data[len - 1] == '\n') {
        len--;
    }
    if (len >= 5 && memcmp(data + len - 5, "# EOF", 5) == 0 &&
        (len == 5 || data[len - 6] == '\n')) {
        return AA_EXPO_OPENMETRICS;
    }
    return AA_EXPO_TEXT;
}

/* ---- errors --------------------------------------------------------------
 */

static int fail(parser *p, int err, size_t col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Fills the diag with "line N[, column C]: why"; col is a 0-based offset
 * into the line, or SIZE_MAX when the column is not meaningful. */
static int fail(parser *p, int err, size_t col, const char *fmt, ...)
{
    char why[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (col == SIZE_MAX) {
        aa_diag_set(p->diag, NULL, p->lineno, 0, "line %u: %s", p->lineno,
                    why);
    } else {
        aa_diag_set(p->diag, NULL, p->lineno, (unsigned)col + 1,
                    "line %u, column %u: %s", p->lineno, (unsigned)col + 1,
                    why);
    }
    return err;
}

/* ---- lexing helpers ------------------------------------------------------
 */

static bool is_name_start(char c, bool metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (metric && c == ':');
}

static bool is_name_char(char c, bool metric)
{
    return is_name_start(c, metric) || (c >= '0' && c <= '9');
}

static bool at_end(const parser *p)
{
    return p->pos >= p->len;
}

static char peek(const parser *p)
{
    return at_end(p) ? '\0' : p->line[p->pos];
}

/* Skips blanks; in OpenMetrics exactly one space is the separator, which
 * the caller checks with expect_space(). */
static void skip_blanks(parser *p)
{
    while (!at_end(p) && (p->line[p->pos] == ' ' || p->line[p->pos] == '\t')) {
        p->pos++;
    }
}

/* A token separator: one space in OpenMetrics, blanks in 0.0.4. */
static int expect_space(parser *p, const char *before)
{
    if (peek(p) != ' ' && !(p->fmt == AA_EXPO_TEXT && peek(p) == '\t')) {
        return fail(p, AA_ESYNTAX, p->pos, "expected a space after %s",
                    before);
    }
    if (p->fmt == AA_EXPO_OPENMETRICS) {
        p->pos++;
        if (peek(p) == ' ') {
            return fail(p, AA_ESYNTAX, p->pos,
                        "more than one space after %s (OpenMetrics)", before);
        }
        return AA_OK;
    }
    skip_blanks(p);
    return AA_OK;
}

/* Copies n bytes into the line's scratch, NUL-terminated. */
static char *scratch_put(parser *p, const char *s, size_t n)
{
    char *d;

    /* Unescaping never lengthens and the strings of one line are
     * disjoint parts of it, so 2 * (max_line + 1) always suffices. */
    if (p->sused + n + 1 > p->scap) {
        return NULL;
    }
    d = p->scratch + p->sused;
    memcpy(d, s, n);
    d[n] = '\0';
    p->sused += n + 1;
    return d;
}

/* Reads a metric (metric=true) or label name into scratch. */
static int read_name(parser *p, bool metric, const char **out,
                     const char *what)
{
    size_t start = p->pos;

    if (!is_name_start(peek(p), metric)) {
        return fail(p, AA_ESYNTAX, p->pos, "expected a %s", what);
    }
    while (!at_end(p) && is_name_char(p->line[p->pos], metric)) {
        p->pos++;
    }
    *out = scratch_put(p, p->line + start, p->pos - start);
    if (*out == NULL) {
        return fail(p, AA_ETOOBIG, start, "line too long");
    }
    return AA_OK;
}

/*
 * Reads a double-quoted label value, unescaping \\ \" \n.  Another escape
 * is kept as written (Prometheus's replacer does the same).
 */
static int read_quoted(parser *p, const char **out)
{
    size_t start = p->pos;
    char *d;

    if (peek(p) != '"') {
        return fail(p, AA_ESYNTAX, p->pos, "expected '\"' to open a value");
    }
    p->pos++;
    if (p->sused + (p->len - p->pos) + 1 > p->scap) {
        return fail(p, AA_ETOOBIG, start, "line too long");
    }
    d = p->scratch + p->sused;
    *out = d;
    for (;;) {
        char c;

        if (at_end(p)) {
            return fail(p, AA_ESYNTAX, start,
                        "label value not terminated by '\"'");
        }
        c = p->line[p->pos++];
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            char e;

            if (at_end(p)) {
                return fail(p, AA_ESYNTAX, p->pos - 1,
                            "backslash at the end of the line");
            }
            e = p->line[p->pos++];
            if (e == 'n') {
                *d++ = '\n';
            } else if (e == '\\' || e == '"') {
                *d++ = e;
            } else if (p->fmt == AA_EXPO_OPENMETRICS) {
                return fail(p, AA_ESYNTAX, p->pos - 2,
                            "invalid escape '\\%c' in a label value", e);
            } else {
                *d++ = '\\';
                *d++ = e;
            }
            continue;
        }
        *d++ = c;
    }
    *d++ = '\0';
    p->sused = (size_t)(d - p->scratch);
    return AA_OK;
}

/* Reads "{name="value", ...}" (the brace is at pos) into p->labels. */
static int read_labels(parser *p, size_t *nout, bool exemplar)
{
    size_t n = 0;
    int rc;

    p->pos++; /* '{' */
    for (;;) {
        const char *name = NULL, *value = NULL;
        size_t i, at;

        if (p->fmt == AA_EXPO_TEXT) {
            skip_blanks(p);
        }
        if (peek(p) == '}') {
            p->pos++;
            break;
        }
        at = p->pos;
        rc = read_name(p, false, &name, "label name");
        if (rc != AA_OK) {
            return rc;
        }
        if (p->fmt == AA_EXPO_TEXT) {
            skip_blanks(p);
        }
        if (peek(p) != '=') {
            return fail(p, AA_ESYNTAX, p->pos,
                        "expected '=' after label name \"%s\"", name);
        }
        p->pos++;
        if (p->fmt == AA_EXPO_TEXT) {
            skip_blanks(p);
        }
        rc = read_quoted(p, &value);
        if (rc != AA_OK) {
            return rc;
        }
        if (!exemplar) {
            if (strcmp(name, "__name__") == 0) {
                return fail(p, AA_ESYNTAX, at,
                            "label __name__ inside the braces");
            }
            for (i = 0; i < n; i++) {
                if (strcmp(p->labels[i].name, name) == 0) {
                    return fail(p, AA_ESYNTAX, at, "duplicate label \"%s\"",
                                name);
                }
            }
            if (n >= p->max_labels) {
                return fail(p, AA_ETOOBIG, at,
                            "more than %zu labels on one sample",
                            p->max_labels);
            }
            assert(n < p->nlab);
            p->labels[n].name = name;
            p->labels[n].value = value;
            n++;
        }
        if (p->fmt == AA_EXPO_TEXT) {
            skip_blanks(p);
        }
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == '}') {
            p->pos++;
            break;
        }
        return fail(p, AA_ESYNTAX, p->pos,
                    at_end(p) ? "label set not closed by '}'"
                              : "expected ',' or '}' after a label");
    }
    *nout = n;
    return AA_OK;
}

/* The token up to the next blank (or end of line); empty is allowed. */
static void read_token(parser *p, size_t *start, size_t *n)
{
    *start = p->pos;
    while (!at_end(p) && p->line[p->pos] != ' ' && p->line[p->pos] != '\t') {
        p->pos++;
    }
    *n = p->pos - *start;
}

bool aa_expo_parse_go_float(const char *s, size_t n, double *out)
{
    char tmp[128];
    char *end;
    size_t i, lead;
    bool hex = false, hexexp = false;
    double v;

    if (n == 0 || n >= sizeof(tmp)) {
        return false;
    }
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c == '(' || c == ' ' || c == '\t' || c == '\0') {
            return false;
        }
        if (c == 'x' || c == 'X') {
            hex = true;
        } else if (hex && (c == 'p' || c == 'P')) {
            hexexp = true;
        }
    }
    if (hex && !hexexp) {
        return false;
    }
    /* Go takes a sign before Inf but not before NaN. */
    lead = s[0] == '+' || s[0] == '-';
    if (lead == 1 && n > 1 && (s[1] == 'n' || s[1] == 'N')) {
        return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    v = strtod(tmp, &end);
    if (end != tmp + n) {
        return false;
    }
    /* Go returns +-Inf with a range error for overflow and Prometheus
     * rejects it; underflow to 0 is accepted by both. */
    if (errno == ERANGE && isinf(v)) {
        return false;
    }
    *out = v;
    return true;
}

/*
 * A sample value, exemplar value or OpenMetrics timestamp: Prometheus's
 * text parsers refuse 'p', 'P' and '_' before calling ParseFloat ("pre-Go
 * 1.13 float formats"), which leaves no hexadecimal form at all.
 */
static bool parse_float(const char *s, size_t n, double *out)
{
    if (memchr(s, 'x', n) != NULL || memchr(s, 'X', n) != NULL) {
        return false;
    }
    return aa_expo_parse_go_float(s, n, out);
}

static bool parse_int64(const char *s, size_t n, int64_t *out)
{
    char tmp[32];
    char *end;
    long long v;

    if (n == 0 || n >= sizeof(tmp) || s[0] == '+' || s[0] == ' ') {
        return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    v = strtoll(tmp, &end, 10);
    if (end != tmp + n || errno == ERANGE) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

/* OpenMetrics timestamps are seconds as a float; stored as ms truncated
 * toward zero, as Prometheus's int64(ts * 1000) does. */
static int read_timestamp(parser *p, bool *has, int64_t *t_ms)
{
    size_t start, n;

    read_token(p, &start, &n);
    if (p->fmt == AA_EXPO_TEXT) {
        if (!parse_int64(p->line + start, n, t_ms)) {
            return fail(p, AA_ESYNTAX, start,
                        "invalid timestamp \"%.*s\" (integer milliseconds "
                        "expected)",
                        (int)(n > 64 ? 64 : n), p->line + start);
        }
    } else {
        double s;

        if (!parse_float(p->line + start, n, &s) || isnan(s) || isinf(s) ||
            fabs(s) > 9.0e15) {
            return fail(p, AA_ESYNTAX, start,
                        "invalid timestamp \"%.*s\" (seconds expected)",
                        (int)(n > 64 ? 64 : n), p->line + start);
        }
        *t_ms = (int64_t)(s * 1000.0);
    }
    *has = true;
    return AA_OK;
}

/* ---- families ------------------------------------------------------------
 */

static bool has_suffix(const char *name, size_t flen, const char *suffix)
{
    return strcmp(name + flen, suffix) == 0;
}

/* Whether sample name belongs to family fam (flen bytes) of type t. */
static bool belongs(const char *fam, size_t flen, aa_expo_type t,
                    const char *name)
{
    if (strncmp(name, fam, flen) != 0) {
        return false;
    }
    if (name[flen] == '\0') {
        return t != AA_EXPO_HISTOGRAM && t != AA_EXPO_GAUGEHISTOGRAM &&
               t != AA_EXPO_INFO;
    }
    switch (t) {
    case AA_EXPO_COUNTER:
        return has_suffix(name, flen, "_total") ||
               has_suffix(name, flen, "_created");
    case AA_EXPO_HISTOGRAM:
        return has_suffix(name, flen, "_bucket") ||
               has_suffix(name, flen, "_sum") ||
               has_suffix(name, flen, "_count") ||
               has_suffix(name, flen, "_created");
    case AA_EXPO_SUMMARY:
        return has_suffix(name, flen, "_sum") ||
               has_suffix(name, flen, "_count") ||
               has_suffix(name, flen, "_created");
    case AA_EXPO_GAUGEHISTOGRAM:
        return has_suffix(name, flen, "_bucket") ||
               has_suffix(name, flen, "_gsum") ||
               has_suffix(name, flen, "_gcount");
    case AA_EXPO_INFO:
        return has_suffix(name, flen, "_info");
    default:
        break;
    }
    return false;
}

static void set_family(parser *p, const char *name)
{
    size_t n = strlen(name);

    if (p->has_family && n == p->famlen && memcmp(p->family, name, n) == 0) {
        return;
    }
    memcpy(p->family, name, n + 1);
    p->famlen = n;
    p->has_family = true;
    p->type = AA_EXPO_UNTYPED;
    p->type_seen = p->help_seen = p->unit_seen = false;
}

static bool parse_type(const char *s, aa_expo_format fmt, aa_expo_type *t)
{
    static const struct {
        const char *name;
        aa_expo_type type;
        bool om_only, text_only;
    } types[] = {
        {"counter", AA_EXPO_COUNTER, false, false},
        {"gauge", AA_EXPO_GAUGE, false, false},
        {"histogram", AA_EXPO_HISTOGRAM, false, false},
        {"summary", AA_EXPO_SUMMARY, false, false},
        {"untyped", AA_EXPO_UNTYPED, false, true},
        {"unknown", AA_EXPO_UNTYPED, true, false},
        {"gaugehistogram", AA_EXPO_GAUGEHISTOGRAM, true, false},
        {"info", AA_EXPO_INFO, true, false},
        {"stateset", AA_EXPO_STATESET, true, false},
    };
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(s, types[i].name) != 0) {
            continue;
        }
        if ((fmt == AA_EXPO_TEXT && types[i].om_only) ||
            (fmt == AA_EXPO_OPENMETRICS && types[i].text_only)) {
            return false;
        }
        *t = types[i].type;
        return true;
    }
    return false;
}

/* HELP text: \\ and \n are escapes; in OpenMetrics also \". */
static const char *unescape_help(parser *p, size_t start)
{
    char *d = p->scratch + p->sused, *out = d;
    size_t i;

    if (p->sused + (p->len - start) + 1 > p->scap) {
        return NULL;
    }
    for (i = start; i < p->len; i++) {
        char c = p->line[i];

        if (c == '\\' && i + 1 < p->len) {
            char e = p->line[i + 1];

            if (e == 'n') {
                *d++ = '\n';
                i++;
                continue;
            }
            if (e == '\\' || (e == '"' && p->fmt == AA_EXPO_OPENMETRICS)) {
                *d++ = e;
                i++;
                continue;
            }
        }
        *d++ = c;
    }
    *d++ = '\0';
    p->sused = (size_t)(d - p->scratch);
    return out;
}

/*
 * A line starting with '#'.  Returns 1 for "# EOF" (OpenMetrics), 0 for
 * anything else accepted.
 */
static int comment_line(parser *p)
{
    const char *kw, *name;
    size_t kwstart, kwlen;
    aa_expo_meta m;
    int rc;

    p->pos++; /* '#' */
    if (p->fmt == AA_EXPO_OPENMETRICS) {
        if (p->len == 5 && memcmp(p->line, "# EOF", 5) == 0) {
            return 1;
        }
        if (peek(p) != ' ') {
            return fail(p, AA_ESYNTAX, p->pos,
                        "expected \"# HELP\", \"# TYPE\", \"# UNIT\" or "
                        "\"# EOF\"");
        }
        p->pos++;
    } else {
        skip_blanks(p);
    }
    read_token(p, &kwstart, &kwlen);
    kw = p->line + kwstart;
    if (!((kwlen == 4 &&
           (memcmp(kw, "HELP", 4) == 0 || memcmp(kw, "TYPE", 4) == 0 ||
            (memcmp(kw, "UNIT", 4) == 0 && p->fmt == AA_EXPO_OPENMETRICS))))) {
        if (p->fmt == AA_EXPO_OPENMETRICS) {
            return fail(p, AA_ESYNTAX, kwstart,
                        "unknown comment; OpenMetrics allows only HELP, "
                        "TYPE, UNIT and EOF");
        }
        return 0; /* an ordinary comment */
    }
    rc = expect_space(p, kw[0] == 'H'   ? "HELP"
                         : kw[0] == 'T' ? "TYPE"
                                        : "UNIT");
    if (rc != AA_OK) {
        return rc;
    }
    rc = read_name(p, true, &name, "metric name");
    if (rc != AA_OK) {
        return rc;
    }
    set_family(p, name);
    memset(&m, 0, sizeof(m));
    m.family = p->family;
    m.line = p->lineno;
    if (kw[0] == 'T') {
        const char *tname;
        size_t tstart, tlen;

        if (p->type_seen) {
            return fail(p, AA_ESYNTAX, kwstart, "second TYPE line for \"%s\"",
                        name);
        }
        rc = expect_space(p, "the metric name");
        if (rc != AA_OK) {
            return rc;
        }
        read_token(p, &tstart, &tlen);
        tname = scratch_put(p, p->line + tstart, tlen);
        if (tname == NULL) {
            return fail(p, AA_ETOOBIG, tstart, "line too long");
        }
        if (p->fmt == AA_EXPO_TEXT) {
            skip_blanks(p);
        }
        if (!at_end(p) || !parse_type(tname, p->fmt, &p->type)) {
            return fail(p, AA_ESYNTAX, tstart, "invalid metric type \"%s\"",
                        tname);
        }
        p->type_seen = true;
    } else {
        const char *text;
        bool *seen = kw[0] == 'H' ? &p->help_seen : &p->unit_seen;

        if (*seen && p->fmt == AA_EXPO_OPENMETRICS) {
            return fail(p, AA_ESYNTAX, kwstart, "second %.4s line for \"%s\"",
                        kw, name);
        }
        *seen = true;
        if (at_end(p)) {
            text = scratch_put(p, "", 0);
        } else {
            rc = expect_space(p, "the metric name");
            if (rc != AA_OK) {
                return rc;
            }
            text = unescape_help(p, p->pos);
        }
        if (text == NULL) {
            return fail(p, AA_ETOOBIG, p->pos, "line too long");
        }
        if (kw[0] == 'H') {
            m.help = text;
        } else {
            m.unit = text;
        }
    }
    m.type = p->type;
    if (p->h != NULL && p->h->meta != NULL) {
        rc = p->h->meta(p->h->ctx, &m);
        if (rc != AA_OK) {
            if (p->diag != NULL && p->diag->message[0] == '\0') {
                fail(p, rc, SIZE_MAX, "stopped by the consumer: %s",
                     aa_strerror(rc));
            }
            return rc;
        }
    }
    return 0;
}

/* Skips an OpenMetrics exemplar: "# {labels} value [timestamp]". */
static int skip_exemplar(parser *p)
{
    size_t start, n, dummy;
    double v;
    int rc;

    p->pos++; /* '#' */
    rc = expect_space(p, "'#'");
    if (rc != AA_OK) {
        return rc;
    }
    if (peek(p) != '{') {
        return fail(p, AA_ESYNTAX, p->pos,
                    "expected '{' to open an "
                    "exemplar's labels");
    }
    rc = read_labels(p, &dummy, true);
    if (rc != AA_OK) {
        return rc;
    }
    rc = expect_space(p, "the exemplar's labels");
    if (rc != AA_OK) {
        return rc;
    }
    read_token(p, &start, &n);
    if (!parse_float(p->line + start, n, &v)) {
        return fail(p, AA_ESYNTAX, start, "invalid exemplar value");
    }
    if (!at_end(p)) {
        bool has;
        int64_t t;

        rc = expect_space(p, "the exemplar's value");
        if (rc != AA_OK) {
            return rc;
        }
        rc = read_timestamp(p, &has, &t);
        if (rc != AA_OK) {
            return rc;
        }
    }
    return AA_OK;
}

static int sample_line(parser *p)
{
    aa_expo_sample s;
    const char *name;
    size_t start, n;
    int rc;

    memset(&s, 0, sizeof(s));
    rc = read_name(p, true, &name, "metric name");
    if (rc != AA_OK) {
        return rc;
    }
    if (p->fmt == AA_EXPO_TEXT) {
        size_t after_name = p->pos;

        skip_blanks(p);
        if (peek(p) == '{') {
            rc = read_labels(p, &s.nlabels, false);
            if (rc != AA_OK) {
                return rc;
            }
            skip_blanks(p);
        } else if (p->pos == after_name) {
            return fail(p, AA_ESYNTAX, p->pos,
                        "expected a space after the metric name");
        }
    } else {
        if (peek(p) == '{') {
            rc = read_labels(p, &s.nlabels, false);
            if (rc != AA_OK) {
                return rc;
            }
        }
        rc = expect_space(p, "the metric name or labels");
        if (rc != AA_OK) {
            return rc;
        }
    }
    read_token(p, &start, &n);
    if (!parse_float(p->line + start, n, &s.value)) {
        return fail(p, AA_ESYNTAX, start, "invalid value \"%.*s\"",
                    (int)(n > 64 ? 64 : n), p->line + start);
    }
    if (p->fmt == AA_EXPO_TEXT) {
        skip_blanks(p);
    }
    if (!at_end(p) && p->line[p->pos] != '#') {
        if (p->fmt == AA_EXPO_OPENMETRICS) {
            if (p->line[p->pos] != ' ') {
                return fail(p, AA_ESYNTAX, p->pos,
                            "expected a space after the value "
                            "(OpenMetrics)");
            }
            p->pos++;
            if (peek(p) == ' ' || at_end(p)) {
                return fail(p, AA_ESYNTAX, p->pos,
                            "unexpected space (OpenMetrics)");
            }
        }
        if (peek(p) != '#') {
            rc = read_timestamp(p, &s.has_timestamp, &s.t_ms);
            if (rc != AA_OK) {
                return rc;
            }
            if (p->fmt == AA_EXPO_TEXT) {
                skip_blanks(p);
            }
        }
    }
    if (!at_end(p)) {
        if (p->fmt == AA_EXPO_OPENMETRICS) {
            if (p->line[p->pos] == ' ') {
                p->pos++;
            }
            if (peek(p) != '#') {
                return fail(p, AA_ESYNTAX, p->pos,
                            "unexpected text after the sample");
            }
            rc = skip_exemplar(p);
            if (rc != AA_OK) {
                return rc;
            }
            if (!at_end(p)) {
                return fail(p, AA_ESYNTAX, p->pos,
                            "unexpected text after the exemplar");
            }
        } else {
            return fail(p, AA_ESYNTAX, p->pos,
                        "unexpected text after the sample");
        }
    }
    if (!p->has_family || !belongs(p->family, p->famlen, p->type, name)) {
        set_family(p, name);
    }
    if (p->nsamples >= p->max_samples) {
        return fail(p, AA_ETOOBIG, SIZE_MAX, "more than %zu samples",
                    p->max_samples);
    }
    p->nsamples++;
    s.name = name;
    s.family = p->family;
    s.type = p->type;
    s.labels = p->labels;
    s.line = p->lineno;
    if (p->h != NULL && p->h->sample != NULL) {
        rc = p->h->sample(p->h->ctx, &s);
        if (rc != AA_OK) {
            if (p->diag != NULL && p->diag->message[0] == '\0') {
                fail(p, rc, SIZE_MAX, "stopped by the consumer: %s",
                     aa_strerror(rc));
            }
            return rc;
        }
    }
    return AA_OK;
}

int aa_expo_parse(const char *data, size_t len, aa_expo_format fmt,
                  const aa_expo_limits *lim, const aa_expo_handler *h,
                  aa_diag *diag)
{
    parser p;
    size_t off = 0;
    bool eof = false;
    int rc = AA_OK;

    aa_diag_clear(diag);
    memset(&p, 0, sizeof(p));
    p.fmt = fmt;
    p.h = h;
    p.diag = diag;
    p.max_line =
        lim != NULL && lim->max_line > 0 ? lim->max_line : DEFAULT_MAX_LINE;
    p.max_samples = lim != NULL && lim->max_samples > 0 ? lim->max_samples
                                                        : DEFAULT_MAX_SAMPLES;
    p.max_labels = lim != NULL && lim->max_labels > 0 ? lim->max_labels
                                                      : DEFAULT_MAX_LABELS;
    if ((data == NULL && len > 0) || p.max_line > SIZE_MAX / 4) {
        return AA_EINVAL;
    }
    /* A label takes at least 4 bytes of its line (a=""), which bounds the
     * label array whatever max_labels says. */
    p.nlab =
        p.max_labels < p.max_line / 4 + 1 ? p.max_labels : p.max_line / 4 + 1;
    p.scap = 2 * (p.max_line + 1);
    p.scratch = malloc(p.scap);
    p.family = malloc(p.max_line + 1);
    p.labels = malloc(p.nlab * sizeof(aa_expo_label));
    if (p.scratch == NULL || p.family == NULL || p.labels == NULL) {
        rc = AA_ENOMEM;
        goto out;
    }
    while (off < len) {
        const char *nl = memchr(data + off, '\n', len - off), *nul;
        size_t end = nl != NULL ? (size_t)(nl - data) : len;

        p.lineno++;
        p.line = data + off;
        p.len = end - off;
        p.pos = 0;
        p.sused = 0;
        off = nl != NULL ? end + 1 : len;
        if (eof) {
            rc = fail(&p, AA_ESYNTAX, SIZE_MAX, "content after \"# EOF\"");
            goto out;
        }
        if (p.len > p.max_line) {
            rc = fail(&p, AA_ETOOBIG, SIZE_MAX, "line longer than %zu bytes",
                      p.max_line);
            goto out;
        }
        nul = memchr(p.line, '\0', p.len);
        if (nul != NULL) {
            rc = fail(&p, AA_ESYNTAX, (size_t)(nul - p.line),
                      "NUL byte in the input");
            goto out;
        }
        if (p.fmt == AA_EXPO_TEXT) {
            if (p.len > 0 && p.line[p.len - 1] == '\r') {
                p.len--;
            }
            skip_blanks(&p);
            while (p.len > p.pos &&
                   (p.line[p.len - 1] == ' ' || p.line[p.len - 1] == '\t')) {
                p.len--;
            }
            if (at_end(&p)) {
                continue;
            }
        } else if (p.len == 0) {
            rc = fail(&p, AA_ESYNTAX, SIZE_MAX,
                      "empty line (not allowed in OpenMetrics)");
            goto out;
        }
        if (p.line[p.pos] == '#') {
            rc = comment_line(&p);
            if (rc < 0) {
                goto out;
            }
            if (rc == 1) {
                eof = true;
            }
            rc = AA_OK;
            continue;
        }
        rc = sample_line(&p);
        if (rc != AA_OK) {
            goto out;
        }
    }
    if (p.fmt == AA_EXPO_OPENMETRICS && !eof) {
        p.lineno++;
        rc = fail(&p, AA_ESYNTAX, SIZE_MAX,
                  "missing \"# EOF\" at the end (OpenMetrics)");
    }
out:
    free(p.scratch);
    free(p.family);
    free(p.labels);
    return rc;
}
