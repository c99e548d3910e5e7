/*
 * threshold.c: "OP VALUE[UNIT]" thresholds of the rule file.  Values are
 * kept in base units (seconds, ratios) because that is what the probe
 * exports and what PromQL compares against; the text is kept as written
 * for reports.
 *
 * Grammar: optional spaces, OP (> >= < <= == !=), optional spaces, a
 * decimal number (optional sign, digits, optional fraction, optional
 * exponent; no inf/nan/hex), optional UNIT (ms = 1/1000, s = 1,
 * % = 1/100), optional trailing spaces.
 */
#include "aa/rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

static size_t digits(const char *p)
{
    size_t n = 0;

    while (p[n] >= '0' && p[n] <= '9') {
        n++;
    }
    return n;
}

/* Length of the decimal number at p, 0 if there is none. */
static size_t number_len(const char *p)
{
    size_t n = 0, d;

    if (p[n] == '+' || p[n] == '-') {
        n++;
    }
    d = digits(p + n);
    n += d;
    if (p[n] == '.') {
        size_t f = digits(p + n + 1);

        if (d == 0 && f == 0) {
            return 0;
        }
        n += 1 + f;
    } else if (d == 0) {
        return 0;
    }
    if (p[n] == 'e' || p[n] == 'E') {
        size_t e = n + 1;

        if (p[e] == '+' || p[e] == '-') {
            e++;
        }
        if (digits(p + e) > 0) {
            n = e + digits(p + e);
        }
    }
    return n;
}

int aa_threshold_parse(const char *text, aa_threshold *out)
{
    const char *p, *end;
    char num[64];
    size_t n, tl;
    double v, divisor = 1.0;
    aa_cmp op;

    if (out == NULL) {
        return AA_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (text == NULL) {
        return AA_ESYNTAX;
    }
    p = skip_spaces(text);
    if (p[0] == '>' && p[1] == '=') {
        op = AA_CMP_GE;
        p += 2;
    } else if (p[0] == '<' && p[1] == '=') {
        op = AA_CMP_LE;
        p += 2;
    } else if (p[0] == '=' && p[1] == '=') {
        op = AA_CMP_EQ;
        p += 2;
    } else if (p[0] == '!' && p[1] == '=') {
        op = AA_CMP_NE;
        p += 2;
    } else if (p[0] == '>') {
        op = AA_CMP_GT;
        p += 1;
    } else if (p[0] == '<') {
        op = AA_CMP_LT;
        p += 1;
    } else {
        return AA_ESYNTAX;
    }
    p = skip_spaces(p);
    n = number_len(p);
    if (n == 0 || n >= sizeof(num)) {
        return AA_ESYNTAX;
    }
    memcpy(num, p, n);
    num[n] = '\0';
    p += n;
    if (p[0] == 'm' && p[1] == 's') {
        divisor = 1000.0;
        p += 2;
    } else if (p[0] == 's') {
        p += 1;
    } else if (p[0] == '%') {
        divisor = 100.0;
        p += 1;
    }
    p = skip_spaces(p);
    if (*p != '\0') {
        return AA_ESYNTAX;
    }
    v = strtod(num, NULL);
    if (!isfinite(v)) {
        return AA_ESYNTAX;
    }
    /* The text as written, without surrounding spaces. */
    text = skip_spaces(text);
    end = text + strlen(text);
    while (end > text && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    tl = (size_t)(end - text);
    if (tl >= sizeof(out->text)) {
        return AA_ESYNTAX;
    }
    memcpy(out->text, text, tl);
    out->text[tl] = '\0';
    out->op = op;
    out->value = v / divisor;
    out->set = true;
    return AA_OK;
}

bool aa_threshold_crossed(const aa_threshold *t, double value)
{
    if (t == NULL || !t->set || isnan(value)) {
        return false;
    }
    switch (t->op) {
    case AA_CMP_GT:
        return value > t->value;
    case AA_CMP_GE:
        return value >= t->value;
    case AA_CMP_LT:
        return value < t->value;
    case AA_CMP_LE:
        return value <= t->value;
    case AA_CMP_EQ:
        return value == t->value;
    case AA_CMP_NE:
        return value != t->value;
    }
    return false;
}

const char *aa_cmp_str(aa_cmp op)
{
    switch (op) {
    case AA_CMP_GT:
        return ">";
    case AA_CMP_GE:
        return ">=";
    case AA_CMP_LT:
        return "<";
    case AA_CMP_LE:
        return "<=";
    case AA_CMP_EQ:
        return "==";
    case AA_CMP_NE:
        return "!=";
    }
    return "?";
}
