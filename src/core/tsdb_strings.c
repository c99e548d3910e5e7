/*
 * tsdb_strings.c: the series store's string table (tsdb_strings.h): an
 * open-addressing set of pointers into 64 KiB text blocks.  Strings are
 * never removed (the store only grows), so a block is never freed before
 * the store and the pointers stay valid.  A string longer than a block
 * gets a block of its own.
 */
#include "tsdb_strings.h"

#include <stdlib.h>
#include <string.h>

#include "aa/common.h"

#define BLOCK ((size_t)64 * 1024)

static uint64_t hash_str(const char *s, size_t *len)
{
    uint64_t h = 14695981039346656037ULL;
    const unsigned char *p = (const unsigned char *)s;

    for (; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    *len = (size_t)(p - (const unsigned char *)s);
    return h ^ (h >> 29);
}

const char *tsdb_str_find(const tsdb_strings *st, const char *s)
{
    size_t len, j;
    uint64_t h;

    if (st->tcap == 0) {
        return NULL;
    }
    h = hash_str(s, &len);
    for (j = h & (st->tcap - 1); st->table[j] != NULL;
         j = (j + 1) & (st->tcap - 1)) {
        if (strcmp(st->table[j], s) == 0) {
            return st->table[j];
        }
    }
    return NULL;
}

static int table_grow(tsdb_strings *st)
{
    size_t ncap = st->tcap == 0 ? 1024 : st->tcap * 2, i;
    const char **t = calloc(ncap, sizeof(*t));

    if (t == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; i < st->tcap; i++) {
        if (st->table[i] != NULL) {
            size_t len, j;

            for (j = hash_str(st->table[i], &len) & (ncap - 1); t[j] != NULL;
                 j = (j + 1) & (ncap - 1)) {
            }
            t[j] = st->table[i];
        }
    }
    free(st->table);
    st->bytes += (ncap - st->tcap) * sizeof(*t);
    st->table = t;
    st->tcap = ncap;
    return AA_OK;
}

/* need bytes of text; NULL on OOM. */
static char *text_alloc(tsdb_strings *st, size_t need)
{
    char **nb, *b;

    if (st->nblocks > 0 && st->size - st->used >= need) {
        b = st->blocks[st->nblocks - 1] + st->used;
        st->used += need;
        return b;
    }
    nb = aa_grow(st->blocks, &st->capblocks, st->nblocks, sizeof(char *), 16);
    if (nb == NULL) {
        return NULL;
    }
    st->blocks = nb;
    b = malloc(need > BLOCK ? need : BLOCK);
    if (b == NULL) {
        return NULL;
    }
    if (need > BLOCK && st->nblocks > 0) {
        /* a big string's own block goes before the last one, which keeps
         * its free space */
        st->blocks[st->nblocks] = st->blocks[st->nblocks - 1];
        st->blocks[st->nblocks - 1] = b;
        st->nblocks++;
        st->bytes += need;
        return b;
    }
    st->blocks[st->nblocks++] = b;
    st->size = need > BLOCK ? need : BLOCK;
    st->used = need;
    st->bytes += st->size;
    return b;
}

const char *tsdb_str_intern(tsdb_strings *st, const char *s)
{
    const char *hit = tsdb_str_find(st, s);
    size_t len, j;
    char *copy;
    uint64_t h;

    if (hit != NULL) {
        return hit;
    }
    if ((st->n + 1) * 2 > st->tcap && table_grow(st) != AA_OK) {
        return NULL;
    }
    h = hash_str(s, &len);
    copy = text_alloc(st, len + 1);
    if (copy == NULL) {
        return NULL;
    }
    memcpy(copy, s, len + 1);
    for (j = h & (st->tcap - 1); st->table[j] != NULL;
         j = (j + 1) & (st->tcap - 1)) {
    }
    st->table[j] = copy;
    st->n++;
    return copy;
}

void tsdb_strings_free(tsdb_strings *st)
{
    size_t i;

    if (st == NULL) {
        return;
    }
    for (i = 0; i < st->nblocks; i++) {
        free(st->blocks[i]);
    }
    free(st->blocks);
    free(st->table);
    memset(st, 0, sizeof(*st));
}
