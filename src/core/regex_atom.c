/*
 * regex_atom.c: the atoms of the regex syntax, the parts that stand for
 * one code point: escapes (\n, \x{263a}, \123, \.), Perl and POSIX
 * classes, bracketed classes [...] and literals under (?i).  Go's
 * parseEscape, parseClass and parseNamedClass, case by case, with Go's
 * messages.  The structure around them (groups, repetition,
 * alternation) is regex_parse.c.
 */
#include "regex_ast.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- class nodes --------------------------------------------------------
 */

static int cls_add_range(re_parser *p, re_cls *c, uint32_t lo, uint32_t hi)
{
    return (p->flags & RE_F_FOLD) != 0 ? re_cls_add_folded(c, lo, hi)
                                       : re_cls_add(c, lo, hi);
}

/* Stores a normalized class in the tree as a node. */
int re_cls_node(re_parser *p, re_cls *c, uint32_t *idx)
{
    re_tree *t = p->t;
    size_t i;
    int rc;

    if (c->n == 1 && c->v[0].lo == c->v[0].hi) {
        return re_leaf(p, RE_LIT, 0, c->v[0].lo, idx);
    }
    rc = re_node_new(p, RE_CLASS, idx);
    if (rc != AA_OK) {
        return rc;
    }
    t->nodes[*idx].a = (uint32_t)t->nranges;
    t->nodes[*idx].b = (uint32_t)c->n;
    for (i = 0; i < c->n; i++) {
        re_range *nv = aa_grow(t->ranges, &t->capranges, t->nranges,
                               sizeof(re_range), 16);

        if (nv == NULL) {
            return AA_ENOMEM;
        }
        t->ranges = nv;
        t->ranges[t->nranges++] = c->v[i];
    }
    return AA_OK;
}

int re_cls_group(re_parser *p, re_cls *c, const re_group *g, bool neg)
{
    return re_cls_add_group(c, g, (p->flags & RE_F_FOLD) != 0, neg);
}

/* ---- lexing -------------------------------------------------------------
 */

static bool is_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static int unhex(uint32_t c)
{
    if (c >= '0' && c <= '9') {
        return (int)(c - '0');
    }
    if (c >= 'a' && c <= 'f') {
        return (int)(c - 'a' + 10);
    }
    if (c >= 'A' && c <= 'F') {
        return (int)(c - 'A' + 10);
    }
    return -1;
}

static bool octal_at(const re_parser *p, size_t i)
{
    return i < p->len && p->s[i] >= '0' && p->s[i] <= '7';
}

/*
 * Go's parseEscape: the single code point of an escape at p->pos (the
 * backslash), outside or inside a class.
 */
int re_parse_escape(re_parser *p, uint32_t *out)
{
    size_t start = p->pos;
    uint32_t c, r = 0;
    int i;

    p->pos++;
    if (p->pos >= p->len) {
        aa_diag_set(p->diag, NULL, 0, (unsigned)(start + 1),
                    "trailing backslash at end of expression");
        return AA_ESYNTAX;
    }
    c = re_next_rune(p);
    if (c < 0x80 && !is_alnum(c)) {
        *out = c; /* escaped punctuation is itself */
        return AA_OK;
    }
    switch (c) {
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        if (!octal_at(p, p->pos)) {
            return re_perr(p, AA_ESYNTAX, start, p->pos,
                           "invalid escape sequence",
                           " (backreferences are not supported)");
        }
        /* fall through */
    case '0':
        r = c - '0';
        for (i = 1; i < 3 && octal_at(p, p->pos); i++) {
            r = r * 8 + (uint32_t)(p->s[p->pos++] - '0');
        }
        *out = r;
        return AA_OK;
    case '8':
    case '9':
        return re_perr(p, AA_ESYNTAX, start, p->pos, "invalid escape sequence",
                       " (backreferences are not supported)");
    case 'x':
        if (p->pos >= p->len) {
            break;
        }
        c = re_next_rune(p);
        if (c == '{') {
            int nhex = 0;

            for (;;) {
                int v;

                if (p->pos >= p->len) {
                    goto bad;
                }
                c = re_next_rune(p);
                if (c == '}') {
                    break;
                }
                v = unhex(c);
                if (v < 0) {
                    goto bad;
                }
                r = r * 16 + (uint32_t)v;
                if (r > RE_MAX_RUNE) {
                    goto bad;
                }
                nhex++;
            }
            if (nhex == 0) {
                break;
            }
            *out = r;
            return AA_OK;
        } else {
            int x = unhex(c), y;

            if (p->pos >= p->len) {
                break;
            }
            y = unhex(re_next_rune(p));
            if (x < 0 || y < 0) {
                break;
            }
            *out = (uint32_t)(x * 16 + y);
            return AA_OK;
        }
    case 'a':
        *out = '\a';
        return AA_OK;
    case 'f':
        *out = '\f';
        return AA_OK;
    case 'n':
        *out = '\n';
        return AA_OK;
    case 'r':
        *out = '\r';
        return AA_OK;
    case 't':
        *out = '\t';
        return AA_OK;
    case 'v':
        *out = '\v';
        return AA_OK;
    default:
        break;
    }
bad:
    return re_perr(p, AA_ESYNTAX, start, p->pos, "invalid escape sequence",
                   NULL);
}

/* A Perl class escape (\d \D \s \S \w \W) at p->pos, if there is one. */
const re_group *re_perl_class_at(const re_parser *p, bool *neg)
{
    if (p->pos + 1 >= p->len || p->s[p->pos] != '\\') {
        return NULL;
    }
    return re_perl_group(p->s[p->pos + 1], neg);
}

bool re_unicode_class_at(const re_parser *p)
{
    return p->pos + 1 < p->len && p->s[p->pos] == '\\' &&
           (p->s[p->pos + 1] == 'p' || p->s[p->pos + 1] == 'P');
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/*
 * Go's parseUnicodeClass, for its syntax only: \pL, \p{Greek},
 * \P{^Han}.  This engine has no Unicode tables, so a well-formed class
 * (whose name Go would still look up) is remembered in p->unsupported
 * and the whole pattern is refused as AA_EUNSUPPORTED once it has parsed.
 */
int re_parse_unicode_class(re_parser *p)
{
    size_t start = p->pos, k;
    const char *close;

    p->pos += 2;
    if (p->pos < p->len && p->s[p->pos] == '{') {
        close = memchr(p->s + p->pos, '}', p->len - p->pos);
        if (close == NULL) {
            return re_perr(p, AA_ESYNTAX, start, p->len,
                           "invalid character class range", NULL);
        }
        k = p->pos + 1;
        if (k < (size_t)(close - p->s) && p->s[k] == '^') {
            k++;
        }
        p->pos = (size_t)(close - p->s) + 1;
        while (k < p->pos - 1 && name_char(p->s[k])) {
            k++;
        }
        if (k != p->pos - 1 || p->s[k - 1] == '{' || p->s[k - 1] == '^') {
            return re_perr(p, AA_ESYNTAX, start, p->pos,
                           "invalid character class range", NULL);
        }
    } else if (p->pos < p->len && name_char(p->s[p->pos])) {
        p->pos++;
    } else {
        if (p->pos < p->len) {
            (void)re_next_rune(p);
        }
        return re_perr(p, AA_ESYNTAX, start, p->pos,
                       "invalid character class range", NULL);
    }
    if (p->unsupported == SIZE_MAX) {
        p->unsupported = start;
        p->unsupported_end = p->pos;
    }
    return AA_OK;
}

/* ---- classes [...] ------------------------------------------------------
 */

static int class_char(re_parser *p, size_t start, uint32_t *out)
{
    if (p->pos >= p->len) {
        return re_perr(p, AA_ESYNTAX, start, p->len, "missing closing ]",
                       NULL);
    }
    if (p->s[p->pos] == '\\') {
        return re_parse_escape(p, out);
    }
    *out = re_next_rune(p);
    return AA_OK;
}

/* [:name:] or [:^name:] at p->pos; *found false when the text is not a
 * named class (then it is read as ordinary characters). */
static int named_class(re_parser *p, re_cls *c, bool *found)
{
    const char *t = p->s + p->pos, *end;
    const re_group *g;
    size_t n;
    bool neg;

    *found = false;
    if (p->len - p->pos <= 2 || t[0] != '[' || t[1] != ':') {
        return AA_OK;
    }
    end = strstr(t + 2, ":]");
    if (end == NULL) {
        return AA_OK;
    }
    n = (size_t)(end - t) + 2;
    neg = t[2] == '^';
    g = re_posix_group(t + 2 + (neg ? 1 : 0), n - 4 - (neg ? 1 : 0));
    if (g != NULL) {
        p->pos += n;
        *found = true;
        return re_cls_group(p, c, g, neg);
    }
    return re_perr(p, AA_ESYNTAX, p->pos, p->pos + n,
                   "invalid character class range", NULL);
}

int re_parse_class(re_parser *p, uint32_t *idx)
{
    size_t start = p->pos;
    re_cls c = {NULL, 0, 0};
    bool neg = false, first = true;
    int rc = AA_OK;

    p->pos++; /* [ */
    if (p->pos < p->len && p->s[p->pos] == '^') {
        neg = true;
        p->pos++;
    }
    while (p->pos >= p->len || p->s[p->pos] != ']' || first) {
        const re_group *g;
        bool found, gneg = false;
        size_t rstart = p->pos;
        uint32_t lo, hi;

        first = false;
        rc = named_class(p, &c, &found);
        if (rc != AA_OK) {
            goto out;
        }
        if (found) {
            continue;
        }
        if ((g = re_perl_class_at(p, &gneg)) != NULL) {
            p->pos += 2;
            rc = re_cls_group(p, &c, g, gneg);
            if (rc != AA_OK) {
                goto out;
            }
            continue;
        }
        if (re_unicode_class_at(p)) {
            rc = re_parse_unicode_class(p);
            if (rc != AA_OK) {
                goto out;
            }
            continue;
        }
        rc = class_char(p, start, &lo);
        if (rc != AA_OK) {
            goto out;
        }
        hi = lo;
        if (p->pos + 1 < p->len && p->s[p->pos] == '-' &&
            p->s[p->pos + 1] != ']') {
            p->pos++;
            rc = class_char(p, start, &hi);
            if (rc != AA_OK) {
                goto out;
            }
            if (hi < lo) {
                rc = re_perr(p, AA_ESYNTAX, rstart, p->pos,
                             "invalid character class range", NULL);
                goto out;
            }
        }
        rc = cls_add_range(p, &c, lo, hi);
        if (rc != AA_OK) {
            goto out;
        }
    }
    p->pos++; /* ] */
    re_cls_norm(&c);
    if (neg) {
        rc = re_cls_negate(&c);
        if (rc != AA_OK) {
            goto out;
        }
    }
    if (c.n == 0) {
        /* [^\x00-\x{10FFFF}] matches nothing: an empty class node */
        rc = re_node_new(p, RE_CLASS, idx);
        if (rc == AA_OK) {
            p->t->nodes[*idx].a = (uint32_t)p->t->nranges;
            p->t->nodes[*idx].b = 0;
        }
        goto out;
    }
    rc = re_cls_node(p, &c, idx);
out:
    free(c.v);
    return rc;
}

/* A literal code point, as a class of its case orbit under (?i). */
int re_literal(re_parser *p, uint32_t r, uint32_t *idx)
{
    re_cls c = {NULL, 0, 0};
    int rc;

    if ((p->flags & RE_F_FOLD) == 0) {
        return re_leaf(p, RE_LIT, 0, r, idx);
    }
    rc = re_cls_add_folded(&c, r, r);
    if (rc == AA_OK) {
        re_cls_norm(&c);
        rc = re_cls_node(p, &c, idx);
    }
    free(c.v);
    return rc;
}
