/*
 * matchers.c: PromQL label matchers ('{job="api", code=~"5.."}') as written
 * in a rule's "where:" and in --selector.  They are parsed rather than
 * pasted into queries so that (1) errors are found before a backend sees
 * them, with a column, (2) the scrape-mode evaluator can apply them
 * locally, and (3) values are re-escaped on the way out, so no value can
 * break out of its string literal.
 *
 * Accepted: optional braces; NAME OP STRING separated by commas, a
 * trailing comma allowed; OP one of = != =~ !~; STRING in double or single
 * quotes with Go escapes (\a \b \f \n \r \t \v \\ \' \" \xHH \NNN \uHHHH
 * \UHHHHHHHH), or in backquotes without escapes, as PromQL reads them.
 * Values with NUL or invalid UTF-8 escapes are rejected.  The value of a
 * regex matcher (=~ !~) must be valid RE2 syntax (aa/regex.h), so a bad
 * pattern is reported when the rule file or --selector is read, with the
 * column of the fault inside the quoted value; a valid one the local
 * engine cannot run (a Unicode class) is accepted here and refused only
 * by the local evaluator.
 */
#include "aa/regex.h"
#include "aa/rules.h"

#include <stdlib.h>
#include <string.h>

typedef struct mparser {
    const char *text;
    const char *p;
    aa_diag *diag;
} mparser;

static int fail(mparser *mp, const char *at, const char *msg)
{
    aa_diag_set(mp->diag, NULL, 0, (unsigned)(at - mp->text) + 1, "%s", msg);
    return AA_ESYNTAX;
}

static void skip_ws(mparser *mp)
{
    while (*mp->p == ' ' || *mp->p == '\t' || *mp->p == '\n' ||
           *mp->p == '\r') {
        mp->p++;
    }
}

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int put_utf8(aat_buf *b, unsigned long cp)
{
    unsigned char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return aat_buf_append(b, u, n);
}

/* Reads \... at mp->p (pointing after the backslash) into b.  \x and
 * octal escapes give one byte, \u and \U a code point in UTF-8. */
static int parse_escape(mparser *mp, char quote, aat_buf *b)
{
    static const char simple_in[] = "abfnrtv\\";
    static const char simple_out[] = "\a\b\f\n\r\t\v\\";
    const char *start = mp->p - 1;
    const char *hit;
    char c = *mp->p;
    unsigned long cp = 0;
    int ndig = 0;

    if (c != '\0' && (hit = strchr(simple_in, c)) != NULL) {
        mp->p++;
        return aat_buf_append(b, &simple_out[hit - simple_in], 1);
    }
    if (c == '"' || c == '\'') {
        if (c != quote) {
            return fail(mp, start, "invalid escape sequence in string");
        }
        mp->p++;
        return aat_buf_append(b, &c, 1);
    }
    if (c >= '0' && c <= '7') {
        for (int i = 0; i < 3; i++) {
            if (mp->p[i] < '0' || mp->p[i] > '7') {
                return fail(mp, start, "invalid octal escape in string");
            }
            cp = cp * 8 + (unsigned long)(mp->p[i] - '0');
        }
        if (cp > 255) {
            return fail(mp, start, "octal escape value > 255");
        }
        mp->p += 3;
    } else {
        ndig = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (ndig == 0) {
            return fail(mp, start, "invalid escape sequence in string");
        }
        mp->p++;
        for (int i = 0; i < ndig; i++) {
            int h = hexval(mp->p[i]);

            if (h < 0) {
                return fail(mp, start, "invalid hex escape in string");
            }
            cp = cp * 16 + (unsigned long)h;
        }
        mp->p += ndig;
    }
    if (cp == 0) {
        return fail(mp, start, "NUL is not allowed in a label value");
    }
    if (ndig > 2) {
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return fail(mp, start, "escape is not a valid Unicode code point");
        }
        return put_utf8(b, cp);
    }
    c = (char)(unsigned char)cp;
    return aat_buf_append(b, &c, 1);
}

static int parse_string(mparser *mp, char **out)
{
    const char *start = mp->p;
    char quote = *mp->p;
    aat_buf b;
    int rc = AA_OK;

    *out = NULL;
    if (quote != '"' && quote != '\'' && quote != '`') {
        return fail(mp, mp->p, "expected a quoted label value");
    }
    aat_buf_init(&b, (size_t)1 << 20);
    mp->p++;
    for (;;) {
        char c = *mp->p;

        if (c == '\0') {
            rc = fail(mp, start, "unterminated string");
            goto out;
        }
        if (c == quote) {
            mp->p++;
            break;
        }
        if (quote != '`' && c == '\n') {
            rc = fail(mp, mp->p, "newline in string (use \\n)");
            goto out;
        }
        if (quote != '`' && c == '\\') {
            mp->p++;
            rc = parse_escape(mp, quote, &b);
            if (rc != AA_OK) {
                goto out;
            }
            continue;
        }
        rc = aat_buf_append(&b, &c, 1);
        if (rc != AA_OK) {
            goto out;
        }
        mp->p++;
    }
    if (b.data == NULL) {
        *out = aa_strdup("");
    } else {
        *out = aat_buf_steal(&b);
    }
    if (*out == NULL) {
        rc = AA_ENOMEM;
    }
out:
    aat_buf_release(&b);
    return rc;
}

/*
 * The column in mp->text of byte off of the decoded string whose opening
 * quote is at start (the string parsed before): escapes are decoded
 * again to count the bytes they stand for.  An offset inside an escape's
 * bytes points at the escape.
 */
static unsigned value_column(const mparser *mp, const char *start, size_t off)
{
    char quote = *start;
    const char *p = start + 1;
    size_t done = 0;
    aat_buf b;

    aat_buf_init(&b, 16);
    while (done < off && *p != quote && *p != '\0') {
        if (quote != '`' && *p == '\\') {
            mparser tmp = *mp;

            tmp.p = p + 1;
            tmp.diag = NULL;
            aat_buf_reset(&b);
            if (parse_escape(&tmp, quote, &b) != AA_OK || done + b.len > off) {
                break;
            }
            done += b.len;
            p = tmp.p;
        } else {
            p++;
            done++;
        }
    }
    aat_buf_release(&b);
    return (unsigned)(p - mp->text) + 1;
}

/* Compiles a regex matcher's value; the string started at start. */
static int check_regex(mparser *mp, const char *name, size_t nl,
                       const char *start, const char *value)
{
    aa_re *re = NULL;
    aa_diag rd;
    int rc;

    aa_diag_clear(&rd);
    rc = aa_re_compile(value, &re, &rd);
    aa_re_free(re);
    if (rc == AA_OK || rc == AA_ENOMEM) {
        return rc;
    }
    if (rc == AA_EUNSUPPORTED) {
        return AA_OK; /* valid RE2: a backend runs it (see aa/regex.h) */
    }
    aa_diag_set(mp->diag, NULL, 0,
                value_column(mp, start, rd.column > 0 ? rd.column - 1 : 0),
                "invalid regular expression for %.*s: %s", (int)nl, name,
                rd.message);
    return AA_ESYNTAX;
}

static int push(aa_matchers *m, char *name, aa_match_op op, char *value)
{
    aa_matcher *v = realloc(m->v, (m->n + 1) * sizeof(*v));

    if (v == NULL) {
        return AA_ENOMEM;
    }
    m->v = v;
    v[m->n].name = name;
    v[m->n].op = op;
    v[m->n].value = value;
    m->n++;
    return AA_OK;
}

static int parse_matcher(mparser *mp, aa_matchers *out)
{
    const char *ns = mp->p, *vs;
    char *name = NULL, *value = NULL;
    aa_match_op op;
    size_t nl;
    int rc;

    if (!name_start(*mp->p)) {
        return fail(mp, mp->p, "expected a label name");
    }
    while (name_char(*mp->p)) {
        mp->p++;
    }
    nl = (size_t)(mp->p - ns);
    skip_ws(mp);
    if (mp->p[0] == '=' && mp->p[1] == '~') {
        op = AA_MATCH_RE;
        mp->p += 2;
    } else if (mp->p[0] == '!' && mp->p[1] == '~') {
        op = AA_MATCH_NRE;
        mp->p += 2;
    } else if (mp->p[0] == '!' && mp->p[1] == '=') {
        op = AA_MATCH_NE;
        mp->p += 2;
    } else if (mp->p[0] == '=') {
        op = AA_MATCH_EQ;
        mp->p += 1;
    } else {
        return fail(mp, mp->p,
                    "expected a matcher operator (=, !=, =~ or !~)");
    }
    skip_ws(mp);
    vs = mp->p;
    rc = parse_string(mp, &value);
    if (rc == AA_OK && (op == AA_MATCH_RE || op == AA_MATCH_NRE)) {
        rc = check_regex(mp, ns, nl, vs, value);
        if (rc != AA_OK) {
            free(value);
        }
    }
    if (rc != AA_OK) {
        return rc;
    }
    name = malloc(nl + 1);
    if (name == NULL) {
        free(value);
        return AA_ENOMEM;
    }
    memcpy(name, ns, nl);
    name[nl] = '\0';
    rc = push(out, name, op, value);
    if (rc != AA_OK) {
        free(name);
        free(value);
    }
    return rc;
}

int aa_matchers_parse(const char *text, aa_matchers *out, aa_diag *diag)
{
    mparser mp;
    bool braced = false;
    int rc = AA_OK;

    if (out == NULL) {
        return AA_EINVAL;
    }
    out->v = NULL;
    out->n = 0;
    if (text == NULL) {
        return AA_EINVAL;
    }
    mp.text = text;
    mp.p = text;
    mp.diag = diag;
    skip_ws(&mp);
    if (*mp.p == '{') {
        braced = true;
        mp.p++;
    }
    for (;;) {
        skip_ws(&mp);
        if (*mp.p == '\0' || *mp.p == '}') {
            break;
        }
        rc = parse_matcher(&mp, out);
        if (rc != AA_OK) {
            goto out;
        }
        skip_ws(&mp);
        if (*mp.p == ',') {
            mp.p++;
            continue;
        }
        if (*mp.p != '\0' && *mp.p != '}') {
            rc = fail(&mp, mp.p, "expected ',' or '}' after a matcher");
            goto out;
        }
    }
    if (*mp.p == '}') {
        if (!braced) {
            rc = fail(&mp, mp.p, "unexpected '}'");
            goto out;
        }
        mp.p++;
        braced = false;
    }
    if (braced) {
        rc = fail(&mp, mp.p, "missing closing '}'");
        goto out;
    }
    skip_ws(&mp);
    if (*mp.p != '\0') {
        rc = fail(&mp, mp.p, "unexpected text after the matchers");
        goto out;
    }
out:
    if (rc != AA_OK) {
        aa_matchers_clear(out);
    }
    return rc;
}

int aa_matchers_append(aa_matchers *dst, const aa_matchers *src)
{
    size_t n0;

    if (dst == NULL) {
        return AA_EINVAL;
    }
    if (src == NULL) {
        return AA_OK;
    }
    n0 = dst->n;
    for (size_t i = 0; i < src->n; i++) {
        char *name = aa_strdup(src->v[i].name);
        char *value = aa_strdup(src->v[i].value);

        if (name == NULL || value == NULL ||
            push(dst, name, src->v[i].op, value) != AA_OK) {
            free(name);
            free(value);
            /* roll back to the state before the call */
            while (dst->n > n0) {
                dst->n--;
                free(dst->v[dst->n].name);
                free(dst->v[dst->n].value);
            }
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

void aa_matchers_clear(aa_matchers *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        free(m->v[i].value);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}
