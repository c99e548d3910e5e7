/*
 * regex.c: compiles a parsed regular expression (regex_parse.c) into a
 * Thompson NFA program and matches it with a Pike VM, so that no pattern
 * can make scrape or samples mode hang: POSIX regexec backtracks, and
 * `(a*)*` nested a few dozen deep took minutes to compile.
 *
 * Why this shape: a label matcher needs only "does the whole value
 * match", so the VM keeps no captures and no thread priorities (greedy
 * and lazy repetition give the same answer).  It simulates the NFA one
 * code point at a time over the set of live instructions, each at most
 * once per position, so a match costs O(len x program size) time and
 * the memory of two instruction sets, allocated at compile time.
 * Programs are capped at AA_RE_MAX_INST instructions.
 */
#include "aa/regex.h"

#include <stdlib.h>
#include <string.h>

#include "regex_ast.h"

typedef enum op {
    I_CHAR,   /* x: code point */
    I_CLASS,  /* ranges[x .. x+y) */
    I_ANY,    /* any code point */
    I_ANYNL,  /* any but \n */
    I_ASSERT, /* x: re_assert */
    I_SPLIT,  /* go to x and y */
    I_JMP,    /* go to x */
    I_MATCH
} op;

typedef struct inst {
    uint32_t op;
    uint32_t x, y;
} inst;

/* A sparse set of instruction indexes (Briggs and Torczon): O(1) insert,
 * test and clear, no initialisation per step. */
typedef struct sset {
    uint32_t *dense, *sparse;
    uint32_t n;
} sset;

struct aa_re {
    inst *prog;
    uint32_t n;
    re_range *ranges;
    size_t nranges;
    /* match scratch (see aa_re_match): two sets, the closure stack */
    sset *sets;
    uint32_t *stack;
    uint32_t *mem;
};

typedef struct compiler {
    const re_tree *t;
    inst *prog;
    size_t n, cap;
    size_t work; /* nodes emitted, empty ones included */
    aa_diag *diag;
} compiler;

/* ---- compiling ----------------------------------------------------------
 */

static int emit(compiler *c, op o, uint32_t x, uint32_t y, uint32_t *at)
{
    inst *np;

    /* one slot is kept for the final I_MATCH */
    if (c->n + 1 >= AA_RE_MAX_INST) {
        return re_too_large(c->diag, 0);
    }
    np = aa_grow(c->prog, &c->cap, c->n, sizeof(inst), 32);
    if (np == NULL) {
        return AA_ENOMEM;
    }
    c->prog = np;
    np[c->n].op = o;
    np[c->n].x = x;
    np[c->n].y = y;
    if (at != NULL) {
        *at = (uint32_t)c->n;
    }
    c->n++;
    return AA_OK;
}

static int gen(compiler *c, uint32_t idx);

/* sub* : L: split L+1, out; sub; jmp L; out: */
static int gen_star(compiler *c, uint32_t sub)
{
    uint32_t split;
    int rc = emit(c, I_SPLIT, 0, 0, &split);

    if (rc == AA_OK) {
        c->prog[split].x = split + 1;
        rc = gen(c, sub);
    }
    if (rc == AA_OK) {
        rc = emit(c, I_JMP, split, 0, NULL);
    }
    if (rc == AA_OK) {
        c->prog[split].y = (uint32_t)c->n;
    }
    return rc;
}

/* min copies, then either sub* or (max - min) optional copies whose
 * skips all go to the end: (x(x)?)? in effect. */
static int gen_repeat(compiler *c, const re_node *nd)
{
    uint32_t sub = nd->sub, chain = RE_NONE, split;
    int32_t i;
    int rc = AA_OK;

    if (nd->max < 0 && nd->min > 0) {
        /* x{n,}: n-1 copies, then x+ (x; split back, out) */
        for (i = 0; i < nd->min - 1 && rc == AA_OK; i++) {
            rc = gen(c, sub);
        }
        if (rc == AA_OK) {
            uint32_t start = (uint32_t)c->n;

            rc = gen(c, sub);
            if (rc == AA_OK) {
                rc = emit(c, I_SPLIT, start, (uint32_t)c->n + 1, NULL);
            }
        }
        return rc;
    }
    if (nd->max < 0) {
        return gen_star(c, sub);
    }
    for (i = 0; i < nd->min && rc == AA_OK; i++) {
        rc = gen(c, sub);
    }
    for (i = nd->min; i < nd->max && rc == AA_OK; i++) {
        rc = emit(c, I_SPLIT, (uint32_t)c->n + 1, chain, &split);
        if (rc == AA_OK) {
            chain = split;
            rc = gen(c, sub);
        }
    }
    /* patch the skip of every optional copy to here */
    while (rc == AA_OK && chain != RE_NONE) {
        uint32_t prev = c->prog[chain].y;

        c->prog[chain].y = (uint32_t)c->n;
        chain = prev;
    }
    return rc;
}

/* b1 | b2 | ... : split b1, next; b1; jmp out; next: split ...; bk; out: */
static int gen_alt(compiler *c, uint32_t first)
{
    uint32_t k, jumps = RE_NONE, split, j;
    int rc = AA_OK;

    for (k = first; k != RE_NONE && rc == AA_OK; k = c->t->nodes[k].next) {
        if (c->t->nodes[k].next == RE_NONE) {
            rc = gen(c, k);
            break;
        }
        rc = emit(c, I_SPLIT, 0, 0, &split);
        if (rc == AA_OK) {
            c->prog[split].x = split + 1;
            rc = gen(c, k);
        }
        if (rc == AA_OK) {
            rc = emit(c, I_JMP, jumps, 0, &j);
        }
        if (rc == AA_OK) {
            jumps = j;
            c->prog[split].y = (uint32_t)c->n;
        }
    }
    while (rc == AA_OK && jumps != RE_NONE) {
        uint32_t prev = c->prog[jumps].x;

        c->prog[jumps].x = (uint32_t)c->n;
        jumps = prev;
    }
    return rc;
}

/* Emits node idx.  Recursion follows the tree's height (bounded by the
 * parser); work counts emitted nodes so that repeated empty groups,
 * which emit nothing, still cannot make compiling slow. */
static int gen(compiler *c, uint32_t idx)
{
    const re_node *nd = &c->t->nodes[idx];
    uint32_t k;
    int rc = AA_OK;

    if (++c->work > (size_t)8 * AA_RE_MAX_INST) {
        return re_too_large(c->diag, 0);
    }
    switch ((re_kind)nd->kind) {
    case RE_EMPTY:
        return AA_OK;
    case RE_LIT:
        return emit(c, I_CHAR, nd->a, 0, NULL);
    case RE_CLASS:
        return emit(c, I_CLASS, nd->a, nd->b, NULL);
    case RE_ANY:
        return emit(c, I_ANY, 0, 0, NULL);
    case RE_ANYNL:
        return emit(c, I_ANYNL, 0, 0, NULL);
    case RE_ASSERT:
        return emit(c, I_ASSERT, nd->op, 0, NULL);
    case RE_CAT:
        for (k = nd->sub; k != RE_NONE && rc == AA_OK;
             k = c->t->nodes[k].next) {
            rc = gen(c, k);
        }
        return rc;
    case RE_ALT:
        return gen_alt(c, nd->sub);
    case RE_REPEAT:
        return gen_repeat(c, nd);
    }
    return AA_EINVAL;
}

static void re_release(aa_re *re)
{
    free(re->prog);
    free(re->ranges);
    free(re->mem);
    free(re->sets);
    free(re);
}

int aa_re_compile(const char *pattern, aa_re **out, aa_diag *diag)
{
    re_tree t;
    compiler c;
    aa_re *re = NULL;
    int rc;

    if (out == NULL) {
        return AA_EINVAL;
    }
    *out = NULL;
    if (pattern == NULL) {
        return AA_EINVAL;
    }
    memset(&t, 0, sizeof(t));
    memset(&c, 0, sizeof(c));
    rc = re_parse(pattern, &t, diag);
    if (rc != AA_OK) {
        goto out;
    }
    c.t = &t;
    c.diag = diag;
    rc = gen(&c, t.root);
    if (rc == AA_OK) {
        /* the slot emit() kept */
        inst *np = aa_grow(c.prog, &c.cap, c.n, sizeof(inst), 32);

        if (np == NULL) {
            rc = AA_ENOMEM;
            goto out;
        }
        c.prog = np;
        memset(&np[c.n], 0, sizeof(inst));
        np[c.n++].op = I_MATCH;
    }
    if (rc != AA_OK) {
        goto out;
    }
    re = calloc(1, sizeof(*re));
    if (re == NULL) {
        rc = AA_ENOMEM;
        goto out;
    }
    /* dense and sparse of two sets, and a stack of 2n + 1 */
    re->sets = calloc(2, sizeof(sset));
    re->mem = calloc((size_t)6 * c.n + 1, sizeof(uint32_t));
    if (re->sets == NULL || re->mem == NULL) {
        rc = AA_ENOMEM;
        goto out;
    }
    re->prog = c.prog;
    re->n = (uint32_t)c.n;
    re->ranges = t.ranges;
    re->nranges = t.nranges;
    c.prog = NULL;
    t.ranges = NULL;
    re->sets[0].dense = re->mem;
    re->sets[0].sparse = re->mem + c.n;
    re->sets[1].dense = re->mem + 2 * c.n;
    re->sets[1].sparse = re->mem + 3 * c.n;
    re->stack = re->mem + 4 * c.n;
    *out = re;
    re = NULL;
out:
    if (re != NULL) {
        re_release(re);
    }
    free(c.prog);
    re_tree_free(&t);
    return rc;
}

void aa_re_free(aa_re *re)
{
    if (re != NULL) {
        re_release(re);
    }
}

size_t aa_re_size(const aa_re *re)
{
    return re != NULL ? re->n : 0;
}

/* ---- matching -----------------------------------------------------------
 */

static bool sset_has(const sset *s, uint32_t i)
{
    uint32_t k = s->sparse[i];

    return k < s->n && s->dense[k] == i;
}

static void sset_put(sset *s, uint32_t i)
{
    s->sparse[i] = s->n;
    s->dense[s->n++] = i;
}

static bool word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '_';
}

/* Whether assertion a holds at byte position i of s[0..n).  Word
 * characters are ASCII, so looking at single bytes is exact. */
static bool holds(uint32_t a, const unsigned char *s, size_t n, size_t i)
{
    bool wb;

    switch ((re_assert)a) {
    case RE_BEGIN_TEXT:
        return i == 0;
    case RE_END_TEXT:
        return i == n;
    case RE_BEGIN_LINE:
        return i == 0 || s[i - 1] == '\n';
    case RE_END_LINE:
        return i == n || s[i] == '\n';
    case RE_WORD_BOUNDARY:
    case RE_NOT_WORD_BOUNDARY:
        wb = (i > 0 && word_byte(s[i - 1])) != (i < n && word_byte(s[i]));
        return a == RE_WORD_BOUNDARY ? wb : !wb;
    }
    return false;
}

/* Adds pc and everything reachable from it without consuming input at
 * position i to set. */
static void add(const aa_re *re, sset *set, uint32_t pc,
                const unsigned char *s, size_t n, size_t i)
{
    uint32_t *stack = re->stack;
    size_t top = 0;

    stack[top++] = pc;
    while (top > 0) {
        const inst *in;

        pc = stack[--top];
        if (sset_has(set, pc)) {
            continue;
        }
        sset_put(set, pc);
        in = &re->prog[pc];
        switch ((op)in->op) {
        case I_JMP:
            stack[top++] = in->x;
            break;
        case I_SPLIT:
            stack[top++] = in->y;
            stack[top++] = in->x;
            break;
        case I_ASSERT:
            if (holds(in->x, s, n, i)) {
                stack[top++] = pc + 1;
            }
            break;
        default:
            break;
        }
    }
}

static bool in_class(const aa_re *re, const inst *in, uint32_t r)
{
    const re_range *v;
    size_t lo = 0, hi = in->y;

    if (hi == 0) {
        return false; /* an empty class, e.g. [^\x00-\x{10FFFF}] */
    }
    v = re->ranges + in->x;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (r < v[mid].lo) {
            hi = mid;
        } else if (r > v[mid].hi) {
            lo = mid + 1;
        } else {
            return true;
        }
    }
    return false;
}

bool aa_re_match(const aa_re *re, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    sset *cur, *nxt, *tmp;
    size_t i = 0;

    if (re == NULL || (str == NULL && n > 0)) {
        return false;
    }
    cur = &re->sets[0];
    nxt = &re->sets[1];
    cur->n = 0;
    add(re, cur, 0, s, n, 0);
    while (cur->n > 0 && i < n) {
        size_t w;
        uint32_t r = re_decode(s + i, n - i, &w), k;

        nxt->n = 0;
        for (k = 0; k < cur->n; k++) {
            uint32_t pc = cur->dense[k];
            const inst *in = &re->prog[pc];
            bool ok;

            switch ((op)in->op) {
            case I_CHAR:
                ok = r == in->x;
                break;
            case I_CLASS:
                ok = in_class(re, in, r);
                break;
            case I_ANY:
                ok = true;
                break;
            case I_ANYNL:
                ok = r != '\n';
                break;
            default:
                ok = false;
                break;
            }
            if (ok) {
                add(re, nxt, pc + 1, s, n, i + w);
            }
        }
        tmp = cur;
        cur = nxt;
        nxt = tmp;
        i += w;
    }
    return i == n && sset_has(cur, re->n - 1);
}
