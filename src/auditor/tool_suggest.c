/*
 * tool_suggest.c: "did you mean --target?" for a mistyped option,
 * command or --format value.  The distance is the restricted
 * Damerau-Levenshtein one (optimal string alignment): an insertion, a
 * deletion, a substitution or a swap of two neighbouring characters each
 * cost 1, which covers the usual typing slips ("--targt", "--tagret");
 * case is ignored, so "--Target" finds "--target".
 * A name is offered only when the distance is at most a third of the
 * shorter of the two words, so "xml" does not become "html", a shared
 * "--fail-on-" does not make "--fail-on-everything" a warning flag, and
 * an unrelated word gets no suggestion at all.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "tool_help.h"

#define MAX_WORD 64

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;

    return m < c ? m : c;
}

static bool same(char a, char b)
{
    return tolower((unsigned char)a) == tolower((unsigned char)b);
}

size_t tool_edit_distance(const char *a, size_t alen, const char *b)
{
    /* three rows: i-2, i-1 and i */
    size_t rows[3][MAX_WORD + 1];
    size_t blen = strlen(b);

    if (alen > MAX_WORD || blen > MAX_WORD) {
        return (size_t)-1;
    }
    for (size_t j = 0; j <= blen; j++) {
        rows[0][j] = j;
    }
    for (size_t i = 1; i <= alen; i++) {
        size_t *cur = rows[i % 3], *prev = rows[(i + 2) % 3];
        size_t *prev2 = rows[(i + 1) % 3];

        cur[0] = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t cost = same(a[i - 1], b[j - 1]) ? 0 : 1;

            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) &&
                same(a[i - 2], b[j - 1]) && prev2[j - 2] + 1 < cur[j]) {
                cur[j] = prev2[j - 2] + 1;
            }
        }
    }
    return rows[alen % 3][blen];
}

void tool_suggest_init(tool_suggestion *s)
{
    s->best = NULL;
    s->distance = (size_t)-1;
}

void tool_suggest_consider(tool_suggestion *s, const char *word, size_t len,
                           const char *candidate)
{
    size_t clen = strlen(candidate);
    size_t shorter = len < clen ? len : clen;
    size_t d = tool_edit_distance(word, len, candidate);

    if (d == (size_t)-1 || d * 3 > shorter) {
        return;
    }
    if (d < s->distance) {
        s->best = candidate;
        s->distance = d;
    }
}

const char *tool_join_names(const char *const *names, size_t n, char *buf,
                            size_t size)
{
    size_t len = 0;

    if (size == 0) {
        return buf;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < n && len + 1 < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + len, size - len, "%s%s", sep, names[i]);

        len = w < 0 ? size : len + (size_t)w;
    }
    return buf;
}

const char *tool_unknown_hint(const char *word, size_t len,
                              const char *const *names, size_t n,
                              const char *prefix, const char *expected,
                              char *buf, size_t size)
{
    tool_suggestion s;
    char list[512];

    tool_suggest_init(&s);
    for (size_t i = 0; i < n; i++) {
        tool_suggest_consider(&s, word, len, names[i]);
    }
    if (s.best != NULL) {
        snprintf(buf, size, "did you mean %s%s?", prefix, s.best);
    } else if (expected != NULL && expected[0] == '\0') {
        snprintf(buf, size, "%s", "");
    } else {
        snprintf(buf, size, "expected %s",
                 expected != NULL
                     ? expected
                     : tool_join_names(names, n, list, sizeof(list)));
    }
    return buf;
}
