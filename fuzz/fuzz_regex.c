/*
 * fuzz_regex.c: libFuzzer target for the label-matcher regex engine
 * (aa/regex.h).  The data is a pattern, a NUL byte, and an input.
 * Properties: compiling never crashes and either succeeds within the
 * instruction cap or fails with a message and a column inside the
 * pattern; matching never crashes; a pattern and the same pattern in a
 * non-capturing group agree on every input; and the input quoted as a
 * literal pattern matches exactly the input.  Matching is skipped when
 * program size x input length passes a budget: that product is the
 * engine's (linear) cost, so a slow case there is size, not a hang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aa/regex.h"

#define MATCH_BUDGET ((size_t)20 * 1000 * 1000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_compile_error(const char *pattern, const aa_re *re,
                                const aa_diag *d)
{
    if (re != NULL || d->message[0] == '\0' || d->column == 0 ||
        d->column > strlen(pattern) + 1) {
        abort(); /* an error must say what and point into the pattern */
    }
}

static bool affordable(const aa_re *re, size_t n)
{
    return n == 0 || aa_re_size(re) <= MATCH_BUDGET / n;
}

/* (?:pattern) must accept the same inputs. */
static void check_group(const char *pattern, const aa_re *re, const char *in,
                        size_t n)
{
    size_t pl = strlen(pattern);
    char *g = malloc(pl + 5);
    aa_re *gre = NULL;

    if (g == NULL || strstr(pattern, "\\Q") != NULL) {
        free(g);
        return; /* \Q would quote the closing parenthesis */
    }
    memcpy(g, "(?:", 3);
    memcpy(g + 3, pattern, pl);
    memcpy(g + 3 + pl, ")", 2);
    if (aa_re_compile(g, &gre, NULL) == AA_OK && affordable(gre, n) &&
        aa_re_match(gre, in, n) != aa_re_match(re, in, n)) {
        abort();
    }
    aa_re_free(gre);
    free(g);
}

/* The input with every ASCII punctuation character escaped is a
 * pattern that matches the input and nothing longer. */
static void check_quoted(const char *in, size_t n)
{
    char *q = malloc(2 * n + 1), *longer;
    aa_re *re = NULL;
    size_t i, k = 0;

    if (q == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c > 0x20 && c < 0x7F &&
            !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z'))) {
            q[k++] = '\\';
        }
        q[k++] = (char)c;
    }
    q[k] = '\0';
    if (aa_re_compile(q, &re, NULL) == AA_OK && affordable(re, n + 1)) {
        longer = malloc(n + 1);
        if (longer != NULL) {
            memcpy(longer, in, n);
            longer[n] = 'x';
            if (!aa_re_match(re, in, n) || aa_re_match(re, longer, n + 1)) {
                abort();
            }
            free(longer);
        }
    }
    aa_re_free(re);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t plen = nul != NULL ? (size_t)(nul - data) : size;
    const char *in = nul != NULL ? (const char *)nul + 1 : "";
    size_t n = nul != NULL ? size - plen - 1 : 0;
    char *pattern = malloc(plen + 1);
    aa_re *re = (aa_re *)&re;
    aa_diag d;

    if (pattern == NULL) {
        return 0;
    }
    memcpy(pattern, data, plen);
    pattern[plen] = '\0';
    aa_diag_clear(&d);
    if (aa_re_compile(pattern, &re, &d) != AA_OK) {
        check_compile_error(pattern, re, &d);
    } else {
        if (aa_re_size(re) > AA_RE_MAX_INST) {
            abort();
        }
        if (affordable(re, n)) {
            (void)aa_re_match(re, in, n);
            check_group(pattern, re, in, n);
        }
        aa_re_free(re);
    }
    if (memchr(in, '\0', n) == NULL) {
        check_quoted(in, n);
    }
    free(pattern);
    return 0;
}
