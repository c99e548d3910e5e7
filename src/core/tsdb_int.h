/*
 * tsdb_int.h: the series store's internals, shared by its files:
 * tsdb.c (series, labels, appending, reading), tsdb_scrape.c (targets
 * and staleness), tsdb_select.c (label matchers).  Not a public header.
 */
#ifndef AA_TSDB_INT_H
#define AA_TSDB_INT_H

#include "aa/tsdb.h"
#include "tsdb_chunk.h"
#include "tsdb_strings.h"

#define PAGE_SHIFT 10
#define PAGE ((size_t)1 << PAGE_SHIFT)
#define LABEL_BLOCK ((size_t)4096) /* labels per block */
#define MALLOC_OVERHEAD 8          /* aa_tsdb_bytes' estimate a block */

typedef struct tsdb_series {
    aa_labels labels; /* names and values interned */
    const char *name; /* __name__, interned */
    const char *family;
    tsdb_chunk *head, *prev, *tail; /* prev: the one before tail */
    tsdb_enc enc;                   /* of tail */
    uint32_t npoints;
    uint32_t seen_gen; /* scrape generation that last returned it */
} tsdb_series;

typedef struct tsdb_target {
    char *name;
    uint32_t gen;   /* current scrape generation */
    uint32_t *prev; /* series ids in the previous successful scrape */
    size_t nprev;
    uint32_t *cur; /* series ids in this scrape */
    size_t ncur, capcur;
    size_t begin_points; /* the store's points when this scrape began */
} tsdb_target;

typedef struct tsdb_family {
    char *name;
    aa_expo_type type;
} tsdb_family;

struct aa_tsdb {
    tsdb_series **pages;
    size_t npages, cappages;
    size_t n;        /* series */
    uint32_t *table; /* open addressing: series id + 1, 0 = empty */
    size_t tcap;     /* power of two */
    tsdb_strings str;
    aa_label **lblocks; /* label arrays are carved from these */
    size_t nlblocks, caplblocks;
    size_t lused, lsize; /* of the last label block */
    tsdb_target *targets;
    size_t ntargets;
    tsdb_family *fams;
    size_t nfams, capfams;
    size_t max_series, max_points;
    size_t npoints, nchunks, chunk_bytes, label_bytes;
    size_t duplicates, out_of_order, series_refused, points_refused;
    uint32_t gen;
};

/* The record of series id (< db->n). */
static inline tsdb_series *tsdb_get(const aa_tsdb *db, size_t id)
{
    return &db->pages[id >> PAGE_SHIFT][id & (PAGE - 1)];
}

/* Appends (t, v) to s without counting what is dropped: AA_OK,
 * AA_TSDB_DUPLICATE, AA_EINVAL (older), AA_ETOOBIG or AA_ENOMEM. */
int tsdb_append(aa_tsdb *db, tsdb_series *s, int64_t t, double v);

#endif
