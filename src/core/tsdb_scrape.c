/*
 * tsdb_scrape.c: the series store's scrape bookkeeping (aa/tsdb.h):
 * targets, the series each scrape returned, Prometheus's staleness
 * markers for the ones it no longer returns, the points cap checked
 * while a scrape is parsed, and the scrape interval a store's points
 * show.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb_int.h"

/* ---- staleness -----------------------------------------------------------
 */

int aa_tsdb_target(aa_tsdb *db, const char *name, size_t *tid)
{
    size_t i;
    tsdb_target *nt;

    for (i = 0; i < db->ntargets; i++) {
        if (strcmp(db->targets[i].name, name) == 0) {
            *tid = i;
            return AA_OK;
        }
    }
    nt = realloc(db->targets, (db->ntargets + 1) * sizeof(tsdb_target));
    if (nt == NULL) {
        return AA_ENOMEM;
    }
    db->targets = nt;
    memset(&nt[db->ntargets], 0, sizeof(tsdb_target));
    nt[db->ntargets].name = aa_strdup(name);
    if (nt[db->ntargets].name == NULL) {
        return AA_ENOMEM;
    }
    *tid = db->ntargets++;
    return AA_OK;
}

void aa_tsdb_scrape_begin(aa_tsdb *db, size_t tid)
{
    assert(tid < db->ntargets);
    db->targets[tid].gen = ++db->gen;
    db->targets[tid].ncur = 0;
    db->targets[tid].begin_points = db->npoints;
}

int aa_tsdb_scrape_seen(aa_tsdb *db, size_t tid, size_t id)
{
    tsdb_target *t;
    uint32_t *nc;
    tsdb_series *s;

    assert(tid < db->ntargets);
    t = &db->targets[tid];
    if (id >= db->n) {
        return AA_EINVAL;
    }
    s = tsdb_get(db, id);
    if (s->seen_gen == t->gen) {
        return AA_OK;
    }
    /* Each series seen adds a point, whether the caller appends it now
     * or after the parse: the store will hold at least the larger of
     * what it holds and what it held at the start plus this scrape. */
    if ((db->npoints > t->begin_points + t->ncur
             ? db->npoints
             : t->begin_points + t->ncur) >= db->max_points) {
        db->points_refused++;
        return AA_ETOOBIG;
    }
    nc = aa_grow(t->cur, &t->capcur, t->ncur, sizeof(uint32_t), 256);
    if (nc == NULL) {
        return AA_ENOMEM;
    }
    t->cur = nc;
    t->cur[t->ncur++] = (uint32_t)id;
    s->seen_gen = t->gen;
    return AA_OK;
}

int aa_tsdb_scrape_end(aa_tsdb *db, size_t tid, int64_t t_ms, bool ok)
{
    tsdb_target *t;
    size_t i;
    double stale = aa_stale_nan();

    assert(tid < db->ntargets);
    t = &db->targets[tid];
    for (i = 0; i < t->nprev; i++) {
        tsdb_series *s = tsdb_get(db, t->prev[i]);

        if (!ok || s->seen_gen != t->gen) {
            /* An older point (explicit timestamps) is left alone, and
             * a marker is not a duplicate the stats should count. */
            if (tsdb_append(db, s, t_ms, stale) == AA_ENOMEM) {
                return AA_ENOMEM;
            }
        }
    }
    if (!ok) {
        t->nprev = 0;
        t->ncur = 0;
        return AA_OK;
    }
    free(t->prev);
    t->prev = t->cur;
    t->nprev = t->ncur;
    t->cur = NULL;
    t->capcur = 0;
    t->ncur = 0;
    return AA_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

int64_t aa_tsdb_scrape_interval(const aa_tsdb *db)
{
    aa_point *pts = NULL;
    int64_t *gaps = NULL;
    size_t cap = 0, n = 0, nseries = aa_tsdb_nseries(db);
    int64_t spacing = 0;

    for (size_t id = 0; id < nseries && n < 2; id++) {
        if (aa_tsdb_points(db, id, INT64_MIN, INT64_MAX, false, &pts, &cap,
                           &n) != 0) {
            n = 0;
            break;
        }
    }
    if (n < 2 || (gaps = malloc((n - 1) * sizeof(*gaps))) == NULL) {
        goto out;
    }
    for (size_t k = 1; k < n; k++) {
        gaps[k - 1] = pts[k].t_ms - pts[k - 1].t_ms;
    }
    qsort(gaps, n - 1, sizeof(*gaps), cmp_i64);
    spacing = gaps[(n - 1) / 2];
    if (spacing > 0) {
        spacing = spacing < 100 ? 100 : (spacing + 50) / 100 * 100;
    }
out:
    free(gaps);
    free(pts);
    return spacing;
}
