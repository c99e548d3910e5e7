/*
 * regex_ast.h: internal to the regex engine (aa/regex.h): the syntax tree
 * the parser (regex_parse.c for structure, regex_atom.c for escapes and
 * classes, regex_class.c for code point sets) builds and the compiler
 * and matcher (regex.c) read, and the parser's shared state.
 *
 * Nodes live in one array and refer to each other by index, so the
 * array may grow while the tree is built.  Character classes are sorted,
 * disjoint, non-adjacent code point ranges in one shared array.
 */
#ifndef AA_REGEX_AST_H
#define AA_REGEX_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/common.h"

#define RE_NONE UINT32_MAX
#define RE_MAX_RUNE 0x10FFFFu

typedef enum re_kind {
    RE_EMPTY,  /* matches the empty string */
    RE_LIT,    /* one code point: a */
    RE_CLASS,  /* ranges[a .. a+b) */
    RE_ANY,    /* any code point */
    RE_ANYNL,  /* any code point but \n */
    RE_ASSERT, /* zero-width: op is an re_assert */
    RE_CAT,    /* children sub, sub->next, ... in order */
    RE_ALT,    /* children as for RE_CAT */
    RE_REPEAT  /* sub repeated min..max times (max -1: unbounded) */
} re_kind;

typedef enum re_assert {
    RE_BEGIN_TEXT,
    RE_END_TEXT,
    RE_BEGIN_LINE,
    RE_END_LINE,
    RE_WORD_BOUNDARY,
    RE_NOT_WORD_BOUNDARY
} re_assert;

typedef struct re_node {
    uint8_t kind;
    uint8_t op;
    uint16_t height; /* 1 for a leaf */
    int32_t min, max;
    uint32_t a, b;
    uint32_t sub;  /* first child */
    uint32_t next; /* next sibling */
} re_node;

typedef struct re_range {
    uint32_t lo, hi;
} re_range;

typedef struct re_tree {
    re_node *nodes;
    size_t nnodes, capnodes;
    re_range *ranges;
    size_t nranges, capranges;
    uint32_t root;
} re_tree;

/* A set of code points being built (regex_class.c): ranges in any
 * order until re_cls_norm. */
typedef struct re_cls {
    re_range *v;
    size_t n, cap;
} re_cls;

int re_cls_add(re_cls *c, uint32_t lo, uint32_t hi);
/* Adds lo..hi and every code point that (?i) folds into it. */
int re_cls_add_folded(re_cls *c, uint32_t lo, uint32_t hi);
/* Sorts, and merges overlapping and adjacent ranges. */
void re_cls_norm(re_cls *c);
/* The complement of a normalized class within 0..RE_MAX_RUNE. */
int re_cls_negate(re_cls *c);

/* An ASCII group: Perl's \d \s \w, or a POSIX [:name:] class. */
typedef struct re_group {
    const char *name;
    const re_range *r;
    size_t n;
} re_group;

/* The group of \c (d s w; upper case sets *neg), or NULL. */
const re_group *re_perl_group(char c, bool *neg);
/* The POSIX group named name[0..len) ("alpha"), or NULL. */
const re_group *re_posix_group(const char *name, size_t len);
/* Go's appendGroup: adds g, folded when fold, complemented when neg. */
int re_cls_add_group(re_cls *c, const re_group *g, bool fold, bool neg);

/* Go's utf8.DecodeRune: the code point at s[0..n) (n > 0) and its
 * width in *w; a byte that does not start a valid sequence is U+FFFD of
 * width 1. */
static inline uint32_t re_decode(const unsigned char *s, size_t n, size_t *w)
{
    size_t k = aat_utf8_seq(s, n);

    if (k == 0) {
        *w = 1;
        return 0xFFFD;
    }
    *w = k;
    switch (k) {
    case 1:
        return s[0];
    case 2:
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3:
        return ((uint32_t)(s[0] & 0x0F) << 12) |
               ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) |
               ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

/* ---- the parser's state, shared by regex_parse.c and regex_atom.c ---- */

#define RE_F_FOLD 1u     /* (?i) */
#define RE_F_DOTNL 2u    /* (?s) */
#define RE_F_MULTI 4u    /* (?m): ^ and $ at line ends */
#define RE_F_UNGREEDY 8u /* (?U): accepted, no effect on a full match */

typedef struct re_parser {
    const char *s; /* the pattern, valid UTF-8 */
    size_t len, pos;
    unsigned flags; /* RE_F_* in effect at pos */
    unsigned depth; /* groups open at pos */
    re_tree *t;
    aa_diag *diag;
    /* the first \p or \P class (SIZE_MAX: none) and its end */
    size_t unsupported, unsupported_end;
} re_parser;

/* The code point at p->pos, which advances past it. */
static inline uint32_t re_next_rune(re_parser *p)
{
    size_t w;
    uint32_t r =
        re_decode((const unsigned char *)p->s + p->pos, p->len - p->pos, &w);

    p->pos += w;
    return r;
}

/* Fails with rc, column col + 1 and the message "what: `s[at..end)`"
 * followed by hint (may be NULL); returns rc. */
int re_perr_col(re_parser *p, int rc, size_t col, size_t at, size_t end,
                const char *what, const char *hint);
/* re_perr_col with the column where the quoted text starts. */
int re_perr(re_parser *p, int rc, size_t at, size_t end, const char *what,
            const char *hint);
/* AA_ETOOBIG with "regular expression too large" at column col + 1. */
int re_too_large(aa_diag *diag, size_t col);
/* A new node of kind (height 1, no children) as *idx; AA_ETOOBIG past
 * the tree's size limit. */
int re_node_new(re_parser *p, re_kind kind, uint32_t *idx);
/* A new leaf node with op and a set. */
int re_leaf(re_parser *p, re_kind kind, uint8_t op, uint32_t a, uint32_t *idx);

/* regex_atom.c: Go's parseEscape at p->pos (the backslash): the code
 * point an escape stands for, inside or outside a class. */
int re_parse_escape(re_parser *p, uint32_t *out);
/* A bracketed class [...] at p->pos as a node. */
int re_parse_class(re_parser *p, uint32_t *idx);
/* A literal code point as a node, a class of its case orbit under
 * (?i). */
int re_literal(re_parser *p, uint32_t r, uint32_t *idx);
/* The Perl class escape (\d \D \s \S \w \W) at p->pos, or NULL. */
const re_group *re_perl_class_at(const re_parser *p, bool *neg);
/* Whether a Unicode class escape (\p, \P) starts at p->pos. */
bool re_unicode_class_at(const re_parser *p);
/* Reads one (see regex_atom.c for what becomes of it). */
int re_parse_unicode_class(re_parser *p);
/* Adds group g to c under the flags in effect (Go's appendGroup). */
int re_cls_group(re_parser *p, re_cls *c, const re_group *g, bool neg);
/* A normalized class as a node (a literal when it is one code point). */
int re_cls_node(re_parser *p, re_cls *c, uint32_t *idx);

/* Parses pattern into t (zeroed by the caller; freed with
 * re_tree_free, also on failure).  Errors as aa_re_compile's. */
int re_parse(const char *pattern, re_tree *t, aa_diag *diag);
void re_tree_free(re_tree *t);

#endif
