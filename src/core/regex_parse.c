/*
 * regex_parse.c: RE2's regular expression syntax, as Go's regexp/syntax
 * parses it with the Perl flags Prometheus uses, read into a syntax tree
 * (regex_ast.h) for regex.c to compile.  This file reads the structure:
 * groups and flags, repetition, concatenation and alternation; the atoms
 * (escapes, classes, literals) are regex_atom.c.
 *
 * The parser follows Go's parser case by case, so that a pattern is
 * accepted or rejected as Prometheus would and the message is Go's
 * ("missing closing ): `(((`"), with the byte column of the offending
 * text.  It is recursive only per group (at most AA_RE_MAX_DEPTH deep)
 * and its output is bounded: nodes and class ranges grow with the
 * pattern's length, and a tree that cannot compile into AA_RE_MAX_INST
 * instructions is refused here already.
 */
#include "regex_ast.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aa/regex.h"

/* Most nodes a tree may have: each needs about one instruction. */
#define MAX_NODES ((size_t)2 * AA_RE_MAX_INST)
#define SHOWN_MAX 48 /* bytes of pattern quoted in a message */

/* ---- errors -------------------------------------------------------------
 */

int re_perr_col(re_parser *p, int rc, size_t col, size_t at, size_t end,
                const char *what, const char *hint)
{
    size_t n = end > at ? end - at : 0;
    const char *more = "";

    if (n > SHOWN_MAX) {
        n = SHOWN_MAX;
        /* back off to a UTF-8 sequence start */
        while (n > 0 && ((unsigned char)p->s[at + n] & 0xC0) == 0x80) {
            n--;
        }
        more = "...";
    }
    aa_diag_set(p->diag, NULL, 0, (unsigned)(col + 1), "%s: `%.*s%s`%s", what,
                (int)n, p->s + at, more, hint != NULL ? hint : "");
    return rc;
}

int re_perr(re_parser *p, int rc, size_t at, size_t end, const char *what,
            const char *hint)
{
    return re_perr_col(p, rc, at, at, end, what, hint);
}

int re_too_large(aa_diag *diag, size_t col)
{
    aa_diag_set(diag, NULL, 0, (unsigned)(col + 1),
                "regular expression too large (the limit is %d "
                "instructions)",
                AA_RE_MAX_INST);
    return AA_ETOOBIG;
}

static int too_deep(re_parser *p, size_t at)
{
    aa_diag_set(p->diag, NULL, 0, (unsigned)(at + 1),
                "expression nests too deeply (more than %d levels)",
                AA_RE_MAX_DEPTH);
    return AA_ETOOBIG;
}

/* ---- nodes --------------------------------------------------------------
 */

int re_node_new(re_parser *p, re_kind kind, uint32_t *idx)
{
    re_tree *t = p->t;
    re_node *nv;

    if (t->nnodes >= MAX_NODES) {
        return re_too_large(p->diag, p->pos);
    }
    nv = aa_grow(t->nodes, &t->capnodes, t->nnodes, sizeof(re_node), 64);
    if (nv == NULL) {
        return AA_ENOMEM;
    }
    t->nodes = nv;
    memset(&nv[t->nnodes], 0, sizeof(re_node));
    nv[t->nnodes].kind = (uint8_t)kind;
    nv[t->nnodes].height = 1;
    nv[t->nnodes].sub = RE_NONE;
    nv[t->nnodes].next = RE_NONE;
    *idx = (uint32_t)t->nnodes++;
    return AA_OK;
}

int re_leaf(re_parser *p, re_kind kind, uint8_t op, uint32_t a, uint32_t *idx)
{
    int rc = re_node_new(p, kind, idx);

    if (rc == AA_OK) {
        p->t->nodes[*idx].op = op;
        p->t->nodes[*idx].a = a;
    }
    return rc;
}

/* ---- the item list of a concatenation ----------------------------------
 */

typedef struct items {
    uint32_t head, tail;
    size_t n;
} items;

static void items_push(re_parser *p, items *it, uint32_t idx)
{
    if (it->tail == RE_NONE) {
        it->head = idx;
    } else {
        p->t->nodes[it->tail].next = idx;
    }
    it->tail = idx;
    it->n++;
}

/* Go's repeatIsValid: nested counted repetitions multiply to <= n. */
static bool repeat_valid(const re_tree *t, uint32_t idx, int n)
{
    const re_node *nd = &t->nodes[idx];
    uint32_t k;

    if (nd->kind == RE_REPEAT) {
        int m = nd->max;

        if (m == 0) {
            return true;
        }
        if (m < 0) {
            m = nd->min;
        }
        if (m > n) {
            return false;
        }
        if (m > 0) {
            n /= m;
        }
    }
    for (k = nd->sub; k != RE_NONE; k = t->nodes[k].next) {
        if (!repeat_valid(t, k, n)) {
            return false;
        }
    }
    return true;
}

/*
 * Applies a repetition (min..max) to the last item.  The item moves to a
 * new node and its slot becomes the repeat, so the list stays linked.
 * op is where the operator's text starts, end where it ends.
 */
static int apply_repeat(re_parser *p, items *it, int min, int max,
                        bool counted, size_t op, size_t end)
{
    re_tree *t = p->t;
    uint32_t copy;
    int rc;

    if (it->tail == RE_NONE) {
        return re_perr(p, AA_ESYNTAX, op, end,
                       "missing argument to repetition operator", NULL);
    }
    rc = re_node_new(p, RE_EMPTY, &copy);
    if (rc != AA_OK) {
        return rc;
    }
    t->nodes[copy] = t->nodes[it->tail];
    t->nodes[copy].next = RE_NONE;
    if ((unsigned)t->nodes[copy].height + 1 > AA_RE_MAX_DEPTH) {
        return too_deep(p, op);
    }
    memset(&t->nodes[it->tail], 0, sizeof(re_node));
    t->nodes[it->tail].kind = RE_REPEAT;
    t->nodes[it->tail].min = min;
    t->nodes[it->tail].max = max;
    t->nodes[it->tail].sub = copy;
    t->nodes[it->tail].next = RE_NONE;
    t->nodes[it->tail].height = (uint16_t)(t->nodes[copy].height + 1);
    if (counted && (min >= 2 || max >= 2) &&
        !repeat_valid(t, it->tail, AA_RE_MAX_REPEAT)) {
        return re_perr(p, AA_ESYNTAX, op, end, "invalid repeat count",
                       " (nested counts multiply past 1000)");
    }
    return AA_OK;
}

/* Go's parseInt: digits without a leading zero; -1 when too big. */
static bool parse_int(re_parser *p, size_t *i, int *out)
{
    size_t k = *i;
    long n = 0;

    if (k >= p->len || p->s[k] < '0' || p->s[k] > '9') {
        return false;
    }
    if (k + 1 < p->len && p->s[k] == '0' && p->s[k + 1] >= '0' &&
        p->s[k + 1] <= '9') {
        return false;
    }
    for (; k < p->len && p->s[k] >= '0' && p->s[k] <= '9'; k++) {
        if (n >= 100000000L) {
            n = -1;
            while (k < p->len && p->s[k] >= '0' && p->s[k] <= '9') {
                k++;
            }
            break;
        }
        n = n * 10 + (p->s[k] - '0');
    }
    *i = k;
    *out = (int)n;
    return true;
}

/* Go's parseRepeat: {n} {n,} {n,m} at p->pos; false when it is not one
 * (the brace is then a literal). */
static bool parse_count(re_parser *p, int *min, int *max, size_t *end)
{
    size_t i = p->pos + 1;

    if (!parse_int(p, &i, min) || i >= p->len) {
        return false;
    }
    if (p->s[i] != ',') {
        *max = *min;
    } else {
        i++;
        if (i >= p->len) {
            return false;
        }
        if (p->s[i] == '}') {
            *max = -1;
        } else {
            if (!parse_int(p, &i, max)) {
                return false;
            }
            if (*max < 0) {
                *min = -1;
            }
        }
    }
    if (i >= p->len || p->s[i] != '}') {
        return false;
    }
    *end = i + 1;
    return true;
}

/* ---- groups -------------------------------------------------------------
 */

static int parse_alt(re_parser *p, uint32_t *idx);

static bool word_byte(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '_';
}

/* The group's body from p->pos to its ")"; open is its "(". */
static int group_body(re_parser *p, size_t open, unsigned flags, uint32_t *idx)
{
    unsigned saved = p->flags;
    int rc;

    if (p->depth + 1 > AA_RE_MAX_DEPTH) {
        return too_deep(p, open);
    }
    p->depth++;
    p->flags = flags;
    rc = parse_alt(p, idx);
    p->flags = saved;
    p->depth--;
    if (rc != AA_OK) {
        return rc;
    }
    if (p->pos >= p->len || p->s[p->pos] != ')') {
        /* Go quotes the whole pattern; the column names the "(" */
        return re_perr_col(p, AA_ESYNTAX, open, 0, p->len, "missing closing )",
                           NULL);
    }
    p->pos++;
    return AA_OK;
}

/*
 * "(" at p->pos: a group, whose node is *idx, or a flag setting such as
 * (?i), which sets p->flags and leaves *idx RE_NONE.  Go's
 * parsePerlFlags for the "(?" forms.
 */
static int parse_paren(re_parser *p, uint32_t *idx)
{
    size_t open = p->pos;
    unsigned flags = p->flags;
    bool neg = false, saw = false;
    const char *t;

    *idx = RE_NONE;
    if (p->pos + 1 >= p->len || p->s[p->pos + 1] != '?') {
        p->pos++;
        return group_body(p, open, p->flags, idx);
    }
    t = p->s + open;
    if ((p->len - open > 4 && t[2] == 'P' && t[3] == '<') ||
        (p->len - open > 3 && t[2] == '<' && t[3] != '=' && t[3] != '!')) {
        size_t off = open + (t[2] == 'P' ? 4 : 3), k = off;
        const char *gt = memchr(p->s + off, '>', p->len - off);

        if (gt == NULL) {
            return re_perr(p, AA_ESYNTAX, open, p->len,
                           "invalid named capture", NULL);
        }
        for (; k < (size_t)(gt - p->s) && word_byte(p->s[k]); k++) {
        }
        if (k == off || k != (size_t)(gt - p->s)) {
            return re_perr(p, AA_ESYNTAX, open, (size_t)(gt - p->s) + 1,
                           "invalid named capture", NULL);
        }
        p->pos = k + 1;
        return group_body(p, open, p->flags, idx);
    }
    if (p->len - open > 2 && (t[2] == '=' || t[2] == '!')) {
        return re_perr(p, AA_ESYNTAX, open, open + 3,
                       "invalid or unsupported Perl syntax",
                       " (lookahead is not supported)");
    }
    if (p->len - open > 3 && t[2] == '<') {
        return re_perr(p, AA_ESYNTAX, open, open + 4,
                       "invalid or unsupported Perl syntax",
                       " (lookbehind is not supported)");
    }
    p->pos += 2;
    while (p->pos < p->len) {
        uint32_t c = re_next_rune(p);

        switch (c) {
        case 'i':
            flags = neg ? flags & ~RE_F_FOLD : flags | RE_F_FOLD;
            saw = true;
            continue;
        case 'm':
            flags = neg ? flags & ~RE_F_MULTI : flags | RE_F_MULTI;
            saw = true;
            continue;
        case 's':
            flags = neg ? flags & ~RE_F_DOTNL : flags | RE_F_DOTNL;
            saw = true;
            continue;
        case 'U':
            flags = neg ? flags & ~RE_F_UNGREEDY : flags | RE_F_UNGREEDY;
            saw = true;
            continue;
        case '-':
            if (neg) {
                break;
            }
            neg = true;
            saw = false;
            continue;
        case ':':
        case ')':
            if (neg && !saw) {
                break;
            }
            if (c == ':') {
                return group_body(p, open, flags, idx);
            }
            p->flags = flags;
            return AA_OK;
        default:
            break;
        }
        break;
    }
    return re_perr(p, AA_ESYNTAX, open, p->pos,
                   "invalid or unsupported Perl syntax", NULL);
}

/* ---- concatenation and alternation --------------------------------------
 */

/* An escape outside a class at p->pos: an assertion, a class, \Q...\E
 * (pushed as several items) or one literal. */
static int parse_backslash(re_parser *p, items *it)
{
    const re_group *g;
    bool neg = false;
    uint32_t idx, r;
    int rc;

    if (p->pos + 1 < p->len) {
        char c = p->s[p->pos + 1];
        int op = c == 'A'   ? RE_BEGIN_TEXT
                 : c == 'z' ? RE_END_TEXT
                 : c == 'b' ? RE_WORD_BOUNDARY
                 : c == 'B' ? RE_NOT_WORD_BOUNDARY
                            : -1;

        if (op >= 0) {
            p->pos += 2;
            rc = re_leaf(p, RE_ASSERT, (uint8_t)op, 0, &idx);
            if (rc == AA_OK) {
                items_push(p, it, idx);
            }
            return rc;
        }
        if (c == 'C') {
            return re_perr(p, AA_ESYNTAX, p->pos, p->pos + 2,
                           "invalid escape sequence", NULL);
        }
        if (c == 'Q') {
            const char *e;
            size_t end;

            p->pos += 2;
            e = strstr(p->s + p->pos, "\\E");
            end = e != NULL ? (size_t)(e - p->s) : p->len;
            while (p->pos < end) {
                rc = re_literal(p, re_next_rune(p), &idx);
                if (rc != AA_OK) {
                    return rc;
                }
                items_push(p, it, idx);
            }
            p->pos = e != NULL ? end + 2 : p->len;
            return AA_OK;
        }
    }
    if (re_unicode_class_at(p)) {
        /* refused after the parse (re_parse); nothing matches it */
        rc = re_parse_unicode_class(p);
        if (rc == AA_OK) {
            rc = re_node_new(p, RE_CLASS, &idx);
        }
        if (rc == AA_OK) {
            items_push(p, it, idx);
        }
        return rc;
    }
    if ((g = re_perl_class_at(p, &neg)) != NULL) {
        re_cls c = {NULL, 0, 0};

        p->pos += 2;
        rc = re_cls_group(p, &c, g, neg);
        if (rc == AA_OK) {
            re_cls_norm(&c);
            rc = re_cls_node(p, &c, &idx);
        }
        free(c.v);
        if (rc == AA_OK) {
            items_push(p, it, idx);
        }
        return rc;
    }
    rc = re_parse_escape(p, &r);
    if (rc == AA_OK) {
        rc = re_literal(p, r, &idx);
    }
    if (rc == AA_OK) {
        items_push(p, it, idx);
    }
    return rc;
}

/* A repetition operator at p->pos (* + ? or a valid {n,m}); *handled
 * false when the text is a literal brace. */
static int parse_repeat_op(re_parser *p, items *it, size_t *last_repeat,
                           bool *handled)
{
    size_t op = p->pos, end;
    int min, max;
    char c = p->s[p->pos];
    bool counted = c == '{';
    int rc;

    *handled = true;
    if (counted) {
        if (!parse_count(p, &min, &max, &end)) {
            *handled = false;
            return AA_OK;
        }
        if (min < 0 || min > AA_RE_MAX_REPEAT || max > AA_RE_MAX_REPEAT ||
            (max >= 0 && min > max)) {
            return re_perr(p, AA_ESYNTAX, op, end, "invalid repeat count",
                           NULL);
        }
        p->pos = end;
    } else {
        min = c == '+' ? 1 : 0;
        max = c == '?' ? 1 : -1;
        p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '?') {
        p->pos++; /* lazy: the same full match */
    }
    if (*last_repeat != SIZE_MAX) {
        bool possessive = p->s[op] == '+';

        return re_perr(p, AA_ESYNTAX, *last_repeat, p->pos,
                       "invalid nested repetition operator",
                       possessive ? " (possessive repetition is not supported)"
                                  : NULL);
    }
    rc = apply_repeat(p, it, min, max, counted, op, p->pos);
    if (rc == AA_OK) {
        *last_repeat = op;
    }
    return rc;
}

static int finish_list(re_parser *p, re_kind kind, items *it, uint32_t *idx)
{
    re_tree *t = p->t;
    unsigned h = 0;
    uint32_t k;
    int rc;

    if (it->n == 0) {
        return re_node_new(p, RE_EMPTY, idx);
    }
    if (it->n == 1) {
        *idx = it->head;
        return AA_OK;
    }
    for (k = it->head; k != RE_NONE; k = t->nodes[k].next) {
        if (t->nodes[k].height > h) {
            h = t->nodes[k].height;
        }
    }
    if (h + 1 > AA_RE_MAX_DEPTH) {
        return too_deep(p, p->pos);
    }
    rc = re_node_new(p, kind, idx);
    if (rc == AA_OK) {
        t->nodes[*idx].sub = it->head;
        t->nodes[*idx].height = (uint16_t)(h + 1);
    }
    return rc;
}

static int parse_cat(re_parser *p, uint32_t *idx)
{
    items it = {RE_NONE, RE_NONE, 0};
    size_t last_repeat = SIZE_MAX;
    int rc = AA_OK;

    while (p->pos < p->len && p->s[p->pos] != '|' && p->s[p->pos] != ')') {
        size_t repeat = SIZE_MAX;
        uint32_t n = RE_NONE;
        bool handled;
        char c = p->s[p->pos];

        switch (c) {
        case '(':
            rc = parse_paren(p, &n);
            break;
        case '[':
            rc = re_parse_class(p, &n);
            break;
        case '.':
            p->pos++;
            rc = re_leaf(p, (p->flags & RE_F_DOTNL) != 0 ? RE_ANY : RE_ANYNL,
                         0, 0, &n);
            break;
        case '^':
            p->pos++;
            rc = re_leaf(p, RE_ASSERT,
                         (p->flags & RE_F_MULTI) != 0 ? RE_BEGIN_LINE
                                                      : RE_BEGIN_TEXT,
                         0, &n);
            break;
        case '$':
            p->pos++;
            rc = re_leaf(p, RE_ASSERT,
                         (p->flags & RE_F_MULTI) != 0 ? RE_END_LINE
                                                      : RE_END_TEXT,
                         0, &n);
            break;
        case '*':
        case '+':
        case '?':
        case '{':
            repeat = last_repeat;
            rc = parse_repeat_op(p, &it, &repeat, &handled);
            if (rc == AA_OK && !handled) {
                repeat = SIZE_MAX;
                p->pos++;
                rc = re_literal(p, '{', &n);
            }
            break;
        case '\\':
            rc = parse_backslash(p, &it);
            break;
        default:
            rc = re_literal(p, re_next_rune(p), &n);
            break;
        }
        if (rc != AA_OK) {
            return rc;
        }
        if (n != RE_NONE) {
            items_push(p, &it, n);
        }
        last_repeat = repeat;
    }
    return finish_list(p, RE_CAT, &it, idx);
}

static int parse_alt(re_parser *p, uint32_t *idx)
{
    items it = {RE_NONE, RE_NONE, 0};
    uint32_t branch;
    int rc;

    for (;;) {
        rc = parse_cat(p, &branch);
        if (rc != AA_OK) {
            return rc;
        }
        items_push(p, &it, branch);
        if (p->pos >= p->len || p->s[p->pos] != '|') {
            break;
        }
        p->pos++;
    }
    return finish_list(p, RE_ALT, &it, idx);
}

int re_parse(const char *pattern, re_tree *t, aa_diag *diag)
{
    re_parser p;
    size_t i;
    int rc;

    memset(&p, 0, sizeof(p));
    p.s = pattern;
    p.len = strlen(pattern);
    p.t = t;
    p.diag = diag;
    for (i = 0; i < p.len;) {
        size_t k = aat_utf8_seq((const unsigned char *)pattern + i, p.len - i);

        if (k == 0) {
            aa_diag_set(diag, NULL, 0, (unsigned)(i + 1), "invalid UTF-8");
            return AA_ESYNTAX;
        }
        i += k;
    }
    p.unsupported = SIZE_MAX;
    rc = parse_alt(&p, &t->root);
    if (rc == AA_OK && p.pos < p.len) {
        /* only a ")" stops the top level before the end */
        rc =
            re_perr_col(&p, AA_ESYNTAX, p.pos, 0, p.len, "unexpected )", NULL);
    }
    if (rc == AA_OK && p.unsupported != SIZE_MAX) {
        rc = re_perr(&p, AA_EUNSUPPORTED, p.unsupported, p.unsupported_end,
                     "Unicode class not supported in scrape and samples mode",
                     " (this engine has no Unicode tables)");
    }
    return rc;
}

void re_tree_free(re_tree *t)
{
    if (t == NULL) {
        return;
    }
    free(t->nodes);
    free(t->ranges);
    memset(t, 0, sizeof(*t));
}
