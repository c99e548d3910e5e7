/*
 * tsdb_strings.h: the series store's string table (tsdb.c), internal to
 * the core library.  Every label name, label value and family name is
 * kept once, in large blocks, however many series use it: a million
 * series of one job share one "job" and one "async-auditor".  Two
 * interned strings are equal exactly when their pointers are: selecting
 * by metric name compares pointers.
 */
#ifndef AA_TSDB_STRINGS_H
#define AA_TSDB_STRINGS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tsdb_strings {
    char **blocks; /* text, NUL-terminated strings back to back */
    size_t nblocks, capblocks;
    size_t used, size;  /* of the last block */
    const char **table; /* open addressing; NULL = empty */
    size_t tcap;        /* power of two, or 0 */
    size_t n;           /* strings */
    size_t bytes;       /* allocated for blocks and table */
} tsdb_strings;

/* The interned copy of s, or NULL when s was never interned. */
const char *tsdb_str_find(const tsdb_strings *st, const char *s);

/* The interned copy of s, interning it when new; NULL on OOM. */
const char *tsdb_str_intern(tsdb_strings *st, const char *s);

void tsdb_strings_free(tsdb_strings *st);

#endif
