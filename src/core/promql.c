/*
 * promql.c: structured rules to PromQL.  The stat table lives in one
 * place, aa_rule_plan(), which both the compiler here and the scrape-mode
 * evaluator read, so a rule means the same thing against Prometheus and
 * against scraped samples.  Label values are re-escaped on output so that
 * no value from a rule file or --selector can change the query's shape.
 */
#include "aa/promql.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bound on a compiled query: far above any real rule. */
#define PROMQL_MAX ((size_t)1 << 20)
#define RAW_MAX_NESTING 256

const char *aa_agg_name(aa_agg agg)
{
    switch (agg) {
    case AA_AGG_SUM:
        return "sum";
    case AA_AGG_MAX:
        return "max";
    case AA_AGG_MIN:
        return "min";
    case AA_AGG_AVG:
        return "avg";
    }
    return "sum";
}

const char *aa_range_fn_name(aa_range_fn fn)
{
    switch (fn) {
    case AA_FN_RATE:
        return "rate";
    case AA_FN_INCREASE:
        return "increase";
    case AA_FN_MAX_OVER_TIME:
        return "max_over_time";
    case AA_FN_MIN_OVER_TIME:
        return "min_over_time";
    case AA_FN_AVG_OVER_TIME:
        return "avg_over_time";
    case AA_FN_LAST_OVER_TIME:
        return "last_over_time";
    case AA_FN_DELTA:
        return "delta";
    case AA_FN_DERIV:
        return "deriv";
    }
    return "rate";
}

int aa_rule_plan(const aa_rule *rule, aa_plan *out)
{
    aa_plan p = {"", AA_FN_RATE, AA_AGG_SUM, false, NULL};
    bool hist, gauge, ok;

    if (out == NULL) {
        return AA_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->suffix = "";
    if (rule == NULL || rule->metric == NULL) {
        return AA_EINVAL;
    }
    hist = rule->type == AA_TYPE_HISTOGRAM;
    gauge = rule->type == AA_TYPE_GAUGE;
    ok = gauge; /* the gauge stats, unless a case below says otherwise */
    switch (rule->stat) {
    case AA_STAT_QUANTILE:
        ok = hist;
        p.suffix = "_bucket";
        p.quantile = true;
        break;
    case AA_STAT_AVG:
        if (hist) {
            ok = true;
            p.suffix = "_sum";
            p.denominator_suffix = "_count";
        } else {
            p.fn = AA_FN_AVG_OVER_TIME;
            p.agg = AA_AGG_AVG;
        }
        break;
    case AA_STAT_RATE:
    case AA_STAT_INCREASE:
        ok = hist || rule->type == AA_TYPE_COUNTER;
        p.suffix = hist ? "_count" : "";
        p.fn = rule->stat == AA_STAT_RATE ? AA_FN_RATE : AA_FN_INCREASE;
        break;
    case AA_STAT_SUM_RATE:
        ok = hist;
        p.suffix = "_sum";
        break;
    case AA_STAT_MAX:
        p.fn = AA_FN_MAX_OVER_TIME;
        p.agg = AA_AGG_MAX;
        break;
    case AA_STAT_MIN:
        p.fn = AA_FN_MIN_OVER_TIME;
        p.agg = AA_AGG_MIN;
        break;
    case AA_STAT_LAST:
        p.fn = AA_FN_LAST_OVER_TIME;
        p.agg = AA_AGG_MAX;
        break;
    case AA_STAT_DELTA:
        p.fn = AA_FN_DELTA;
        p.agg = AA_AGG_MAX;
        break;
    case AA_STAT_SLOPE:
        p.fn = AA_FN_DERIV;
        p.agg = AA_AGG_MAX;
        break;
    default:
        ok = false;
        break;
    }
    if (!ok) {
        return AA_EINVAL;
    }
    *out = p;
    return AA_OK;
}

char *aa_promql_number(double v, char *buf, size_t size)
{
    if (size == 0) {
        return buf;
    }
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return buf;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    return buf;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned long cp;

    if (s[0] < 0x80) {
        return 1;
    } else if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
        (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
}

int aa_promql_escape(aat_buf *out, const char *value)
{
    const unsigned char *s = (const unsigned char *)value;
    int rc = AA_OK;

    if (out == NULL || value == NULL) {
        return AA_EINVAL;
    }
    while (*s != '\0' && rc == AA_OK) {
        size_t n;

        switch (*s) {
        case '\\':
            rc = aat_buf_append(out, "\\\\", 2);
            s++;
            continue;
        case '"':
            rc = aat_buf_append(out, "\\\"", 2);
            s++;
            continue;
        case '\n':
            rc = aat_buf_append(out, "\\n", 2);
            s++;
            continue;
        case '\r':
            rc = aat_buf_append(out, "\\r", 2);
            s++;
            continue;
        case '\t':
            rc = aat_buf_append(out, "\\t", 2);
            s++;
            continue;
        default:
            break;
        }
        if (*s < 0x20 || *s == 0x7F) {
            rc = aat_buf_appendf(out, "\\x%02x", *s);
            s++;
            continue;
        }
        n = utf8_len(s);
        if (n == 0) {
            rc = aat_buf_appendf(out, "\\x%02x", *s);
            s++;
            continue;
        }
        rc = aat_buf_append(out, s, n);
        s += n;
    }
    return rc;
}

/* Appends m as 'name OP "value"' items, ", "-separated; *first says
 * whether nothing was written before. */
static int append_matchers(aat_buf *out, const aa_matchers *m, bool *first)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    int rc = AA_OK;

    if (m == NULL) {
        return AA_OK;
    }
    for (size_t i = 0; i < m->n && rc == AA_OK; i++) {
        rc = aat_buf_appendf(out, "%s%s%s\"", *first ? "" : ", ", m->v[i].name,
                            ops[m->v[i].op]);
        if (rc == AA_OK) {
            rc = aa_promql_escape(out, m->v[i].value);
        }
        if (rc == AA_OK) {
            rc = aat_buf_append(out, "\"", 1);
        }
        *first = false;
    }
    return rc;
}

int aa_promql_selector(aat_buf *out, const char *metric_name,
                       const aa_matchers *a, const aa_matchers *b)
{
    bool first = true;
    size_t n = (a != NULL ? a->n : 0) + (b != NULL ? b->n : 0);
    int rc = AA_OK;

    if (out == NULL) {
        return AA_EINVAL;
    }
    if (metric_name != NULL) {
        rc = aat_buf_append(out, metric_name, strlen(metric_name));
        if (rc != AA_OK || n == 0) {
            return rc;
        }
    }
    rc = aat_buf_append(out, "{", 1);
    if (rc == AA_OK) {
        rc = append_matchers(out, a, &first);
    }
    if (rc == AA_OK) {
        rc = append_matchers(out, b, &first);
    }
    if (rc == AA_OK) {
        rc = aat_buf_append(out, "}", 1);
    }
    return rc;
}

/* "agg by (le, B) (fn(M<suffix>{S}[W]))"; le only when with_le. */
static int append_aggregate(aat_buf *out, const aa_rule *rule, const aa_plan *p,
                            const char *suffix, bool with_le,
                            const aa_matchers *extra, const char *window)
{
    char name[512];
    int rc;

    if (snprintf(name, sizeof(name), "%s%s", rule->metric, suffix) >=
        (int)sizeof(name)) {
        return AA_ETOOBIG;
    }
    rc = aat_buf_appendf(out, "%s", aa_agg_name(p->agg));
    if (rc == AA_OK && (with_le || rule->nby > 0)) {
        rc = aat_buf_appendf(out, " by (%s", with_le ? "le" : "");
        for (size_t i = 0; i < rule->nby && rc == AA_OK; i++) {
            rc = aat_buf_appendf(out, "%s%s", (i > 0 || with_le) ? ", " : "",
                                rule->by[i]);
        }
        if (rc == AA_OK) {
            rc = aat_buf_append(out, ") ", 2);
        }
    }
    if (rc == AA_OK) {
        rc = aat_buf_appendf(out, "(%s(", aa_range_fn_name(p->fn));
    }
    if (rc == AA_OK) {
        rc = aa_promql_selector(out, name, &rule->where, extra);
    }
    if (rc == AA_OK) {
        rc = aat_buf_appendf(out, "[%s]))", window);
    }
    return rc;
}

/*
 * share_above(X): "1 - sum by (B) (rate(M_bucket{S, le="X"}[W])) /
 * sum by (B) (rate(M_bucket{S, le="+Inf"}[W]))", X in the shortest form
 * that reads back as the bound (aa_promql_number).
 */
static int append_share(aat_buf *out, const aa_rule *rule,
                        const aa_matchers *extra, const char *window)
{
    static const aa_plan p = {"_bucket", AA_FN_RATE, AA_AGG_SUM, false, NULL};
    char num[64], le_name[] = "le", inf[] = "+Inf";
    aa_matcher at = {le_name, AA_MATCH_EQ, num},
               all = {le_name, AA_MATCH_EQ, inf};
    aa_matchers at1 = {&at, 1}, all1 = {&all, 1};
    aa_matchers below = {NULL, 0}, total = {NULL, 0};
    int rc;

    aa_promql_number(rule->above, num, sizeof(num));
    rc = aa_matchers_append(&below, extra);
    if (rc == AA_OK) {
        rc = aa_matchers_append(&below, &at1);
    }
    if (rc == AA_OK) {
        rc = aa_matchers_append(&total, extra);
    }
    if (rc == AA_OK) {
        rc = aa_matchers_append(&total, &all1);
    }
    if (rc == AA_OK) {
        rc = aat_buf_append(out, "1 - ", 4);
    }
    if (rc == AA_OK) {
        rc = append_aggregate(out, rule, &p, p.suffix, false, &below, window);
    }
    if (rc == AA_OK) {
        rc = aat_buf_append(out, " / ", 3);
    }
    if (rc == AA_OK) {
        rc = append_aggregate(out, rule, &p, p.suffix, false, &total, window);
    }
    aa_matchers_clear(&below);
    aa_matchers_clear(&total);
    return rc;
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Copies q to out with "$window" and "${window}" replaced by window;
 * "$windows" and other identifiers that merely start so are kept. */
static int substitute_window(aat_buf *out, const char *q, const char *window)
{
    int rc = AA_OK;

    while (*q != '\0' && rc == AA_OK) {
        if (strncmp(q, "${window}", 9) == 0) {
            rc = aat_buf_appendf(out, "%s", window);
            q += 9;
        } else if (strncmp(q, "$window", 7) == 0 && !ident_char(q[7])) {
            rc = aat_buf_appendf(out, "%s", window);
            q += 7;
        } else {
            rc = aat_buf_append(out, q, 1);
            q++;
        }
    }
    return rc;
}

int aa_promql_compile(const aa_rule *rule, const aa_matchers *extra,
                      int64_t window_ms, char **out, aa_diag *diag)
{
    char window[64], qtext[64];
    aa_plan p;
    aat_buf b;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (rule == NULL || out == NULL || window_ms <= 0) {
        return AA_EINVAL;
    }
    aa_duration_format(window_ms, window, sizeof(window));
    aat_buf_init(&b, PROMQL_MAX);
    if (rule->query != NULL) {
        rc = substitute_window(&b, rule->query, window);
        /* a YAML block scalar ends in a newline: not part of the query */
        while (rc == AA_OK && b.len > 0 &&
               (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' ' ||
                b.data[b.len - 1] == '\t' || b.data[b.len - 1] == '\r')) {
            b.data[--b.len] = '\0';
        }
        goto out;
    }
    if (rule->metric != NULL && rule->stat == AA_STAT_SHARE_ABOVE &&
        rule->type == AA_TYPE_HISTOGRAM) {
        rc = append_share(&b, rule, extra, window);
        goto out;
    }
    rc = aa_rule_plan(rule, &p);
    if (rc != AA_OK) {
        aa_diag_set(diag, NULL, rule->line, rule->column,
                    "rule \"%s\": stat \"%s\" cannot be applied to %s",
                    rule->id != NULL ? rule->id : "?", rule->stat_text,
                    rule->metric != NULL ? rule->metric : "(no metric)");
        goto out;
    }
    if (p.quantile) {
        rc = aat_buf_appendf(
            &b, "histogram_quantile(%s, ",
            aa_promql_number(rule->quantile, qtext, sizeof(qtext)));
        if (rc == AA_OK) {
            rc = append_aggregate(&b, rule, &p, p.suffix, true, extra, window);
        }
        if (rc == AA_OK) {
            rc = aat_buf_append(&b, ")", 1);
        }
        goto out;
    }
    rc = append_aggregate(&b, rule, &p, p.suffix, false, extra, window);
    if (rc == AA_OK && p.denominator_suffix != NULL) {
        rc = aat_buf_append(&b, " / ", 3);
        if (rc == AA_OK) {
            rc = append_aggregate(&b, rule, &p, p.denominator_suffix, false,
                                  extra, window);
        }
    }
out:
    if (rc == AA_OK) {
        *out = aat_buf_steal(&b);
        if (*out == NULL) {
            rc = AA_ENOMEM;
        }
    } else if (rc == AA_ETOOBIG) {
        aa_diag_set(diag, NULL, rule->line, rule->column,
                    "rule \"%s\": the query is longer than %zu bytes",
                    rule->id != NULL ? rule->id : "?", PROMQL_MAX);
    }
    aat_buf_release(&b);
    return rc;
}

static int raw_fail(aa_diag *diag, const char *q, const char *at,
                    const char *msg)
{
    aa_diag_set(diag, NULL, 0, (unsigned)(at - q) + 1, "%s", msg);
    return AA_ESYNTAX;
}

int aa_promql_check_raw(const char *query, aa_diag *diag)
{
    char stack[RAW_MAX_NESTING];
    const char *at[RAW_MAX_NESTING];
    size_t depth = 0;
    bool content = false;
    const char *p;

    if (query == NULL) {
        return AA_EINVAL;
    }
    for (p = query; *p != '\0'; p++) {
        char c = *p;

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;
        }
        if (c == '#') {
            while (p[1] != '\0' && p[1] != '\n') {
                p++;
            }
            continue;
        }
        content = true;
        if (c == '"' || c == '\'' || c == '`') {
            const char *start = p;

            for (p++; *p != c; p++) {
                if (*p == '\0') {
                    return raw_fail(diag, query, start, "unterminated string");
                }
                if (c != '`' && *p == '\\' && p[1] != '\0') {
                    p++;
                }
            }
            continue;
        }
        if (c == '(' || c == '[' || c == '{') {
            if (depth >= RAW_MAX_NESTING) {
                return raw_fail(diag, query, p, "nested too deeply");
            }
            stack[depth] = c == '(' ? ')' : c == '[' ? ']' : '}';
            at[depth] = p;
            depth++;
        } else if (c == ')' || c == ']' || c == '}') {
            char msg[64];

            if (depth == 0) {
                snprintf(msg, sizeof(msg), "unexpected '%c'", c);
                return raw_fail(diag, query, p, msg);
            }
            if (stack[depth - 1] != c) {
                snprintf(msg, sizeof(msg), "expected '%c' before '%c'",
                         stack[depth - 1], c);
                return raw_fail(diag, query, p, msg);
            }
            depth--;
        }
    }
    if (depth > 0) {
        char msg[64];

        snprintf(msg, sizeof(msg), "unclosed '%c'", *at[depth - 1]);
        return raw_fail(diag, query, at[depth - 1], msg);
    }
    if (!content) {
        return raw_fail(diag, query, query, "the query is empty");
    }
    return AA_OK;
}
