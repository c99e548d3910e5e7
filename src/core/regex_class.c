/*
 * regex_class.c: the character classes of the regex engine: sets of code
 * points kept as sorted ranges, their complement, simple case folding
 * for (?i), and the ASCII groups RE2 defines (Perl's \d \s \w, POSIX's
 * [:alpha:] and the rest).  Separate from the parser (regex_parse.c)
 * because it is data and set arithmetic, not syntax.
 */
#include "regex_ast.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int re_cls_add(re_cls *c, uint32_t lo, uint32_t hi)
{
    re_range *nv = aa_grow(c->v, &c->cap, c->n, sizeof(re_range), 8);

    if (nv == NULL) {
        return AA_ENOMEM;
    }
    c->v = nv;
    c->v[c->n].lo = lo;
    c->v[c->n].hi = hi;
    c->n++;
    return AA_OK;
}

static int cmp_range(const void *a, const void *b)
{
    const re_range *x = a, *y = b;

    return (x->lo > y->lo) - (x->lo < y->lo);
}

void re_cls_norm(re_cls *c)
{
    size_t i, k = 0;

    if (c->n == 0) {
        return;
    }
    qsort(c->v, c->n, sizeof(re_range), cmp_range);
    for (i = 1; i < c->n; i++) {
        if (c->v[i].lo <= c->v[k].hi + 1) {
            if (c->v[i].hi > c->v[k].hi) {
                c->v[k].hi = c->v[i].hi;
            }
        } else {
            c->v[++k] = c->v[i];
        }
    }
    c->n = k + 1;
}

int re_cls_negate(re_cls *c)
{
    re_cls out = {NULL, 0, 0};
    uint32_t next = 0;
    size_t i;
    int rc = AA_OK;

    for (i = 0; i < c->n && rc == AA_OK; i++) {
        if (c->v[i].lo > next) {
            rc = re_cls_add(&out, next, c->v[i].lo - 1);
        }
        next = c->v[i].hi + 1;
    }
    if (rc == AA_OK && next <= RE_MAX_RUNE) {
        rc = re_cls_add(&out, next, RE_MAX_RUNE);
    }
    if (rc != AA_OK) {
        free(out.v);
        return rc;
    }
    free(c->v);
    *c = out;
    return AA_OK;
}

/*
 * Simple case folding (Go's unicode.SimpleFold orbits) for ASCII,
 * Latin-1, basic Greek and Cyrillic: ranges of capitals whose small
 * letters lie delta above, and the orbits of more than two members (or
 * outside those ranges).
 */
static const struct {
    uint32_t lo, hi, delta;
} fold_pairs[] = {
    {0x41, 0x5A, 32},   {0xC0, 0xD6, 32},   {0xD8, 0xDE, 32},
    {0x391, 0x3A1, 32}, {0x3A3, 0x3AB, 32}, {0x410, 0x42F, 32},
    {0x400, 0x40F, 80},
};

static const uint32_t fold_orbits[][3] = {
    {0x4B, 0x6B, 0x212A},  /* K k KELVIN SIGN */
    {0x53, 0x73, 0x17F},   /* S s LONG S */
    {0xC5, 0xE5, 0x212B},  /* A-ring a-ring ANGSTROM SIGN */
    {0xB5, 0x39C, 0x3BC},  /* MICRO SIGN, Greek MU mu */
    {0x3A3, 0x3C2, 0x3C3}, /* SIGMA, final sigma, sigma */
    {0xFF, 0x178, 0xFF},   /* y-diaeresis, Y-diaeresis */
    {0xDF, 0x1E9E, 0xDF},  /* sharp s, capital sharp s */
};

int re_cls_add_folded(re_cls *c, uint32_t lo, uint32_t hi)
{
    size_t i, k;
    int rc = re_cls_add(c, lo, hi);

    for (i = 0; i < NELEM(fold_pairs) && rc == AA_OK; i++) {
        uint32_t plo = fold_pairs[i].lo, phi = fold_pairs[i].hi;
        uint32_t d = fold_pairs[i].delta;
        uint32_t a = lo > plo ? lo : plo, b = hi < phi ? hi : phi;

        if (a <= b) {
            rc = re_cls_add(c, a + d, b + d);
        }
        a = lo > plo + d ? lo : plo + d;
        b = hi < phi + d ? hi : phi + d;
        if (rc == AA_OK && a <= b) {
            rc = re_cls_add(c, a - d, b - d);
        }
    }
    for (i = 0; i < NELEM(fold_orbits) && rc == AA_OK; i++) {
        bool hit = false;

        for (k = 0; k < 3; k++) {
            hit = hit || (fold_orbits[i][k] >= lo && fold_orbits[i][k] <= hi);
        }
        for (k = 0; hit && k < 3 && rc == AA_OK; k++) {
            rc = re_cls_add(c, fold_orbits[i][k], fold_orbits[i][k]);
        }
    }
    return rc;
}

/* ---- the ASCII groups ---------------------------------------------------
 */

static const re_range g_digit[] = {{'0', '9'}};
static const re_range g_space_perl[] = {
    {'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};
static const re_range g_word[] = {
    {'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const re_range g_alnum[] = {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}};
static const re_range g_alpha[] = {{'A', 'Z'}, {'a', 'z'}};
static const re_range g_ascii[] = {{0, 0x7F}};
static const re_range g_blank[] = {{'\t', '\t'}, {' ', ' '}};
static const re_range g_cntrl[] = {{0, 0x1F}, {0x7F, 0x7F}};
static const re_range g_graph[] = {{'!', '~'}};
static const re_range g_lower[] = {{'a', 'z'}};
static const re_range g_print[] = {{' ', '~'}};
static const re_range g_punct[] = {
    {'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}};
static const re_range g_space[] = {{'\t', '\r'}, {' ', ' '}};
static const re_range g_upper[] = {{'A', 'Z'}};
static const re_range g_xdigit[] = {{'0', '9'}, {'A', 'F'}, {'a', 'f'}};

#define GROUP(name, r)                                                        \
    {                                                                         \
        name, r, NELEM(r)                                                     \
    }

static const re_group perl_groups[] = {
    GROUP("d", g_digit),
    GROUP("s", g_space_perl),
    GROUP("w", g_word),
};

static const re_group posix_groups[] = {
    GROUP("alnum", g_alnum), GROUP("alpha", g_alpha),
    GROUP("ascii", g_ascii), GROUP("blank", g_blank),
    GROUP("cntrl", g_cntrl), GROUP("digit", g_digit),
    GROUP("graph", g_graph), GROUP("lower", g_lower),
    GROUP("print", g_print), GROUP("punct", g_punct),
    GROUP("space", g_space), GROUP("upper", g_upper),
    GROUP("word", g_word),   GROUP("xdigit", g_xdigit),
};

const re_group *re_perl_group(char c, bool *neg)
{
    size_t i;

    for (i = 0; i < NELEM(perl_groups); i++) {
        char lower = perl_groups[i].name[0];

        if (c == lower || c == lower - ('a' - 'A')) {
            *neg = c != lower;
            return &perl_groups[i];
        }
    }
    return NULL;
}

const re_group *re_posix_group(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < NELEM(posix_groups); i++) {
        if (strlen(posix_groups[i].name) == len &&
            memcmp(posix_groups[i].name, name, len) == 0) {
            return &posix_groups[i];
        }
    }
    return NULL;
}

int re_cls_add_group(re_cls *c, const re_group *g, bool fold, bool neg)
{
    re_cls tmp = {NULL, 0, 0};
    size_t i;
    int rc = AA_OK;

    for (i = 0; i < g->n && rc == AA_OK; i++) {
        rc = fold ? re_cls_add_folded(&tmp, g->r[i].lo, g->r[i].hi)
                  : re_cls_add(&tmp, g->r[i].lo, g->r[i].hi);
    }
    re_cls_norm(&tmp);
    if (rc == AA_OK && neg) {
        rc = re_cls_negate(&tmp);
    }
    for (i = 0; i < tmp.n && rc == AA_OK; i++) {
        rc = re_cls_add(c, tmp.v[i].lo, tmp.v[i].hi);
    }
    free(tmp.v);
    return rc;
}
