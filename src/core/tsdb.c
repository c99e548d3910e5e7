/*
 * tsdb.c: the in-memory series store behind scrape and samples mode.
 *
 * Why this shape: the store must hold the documented limits (a million
 * series, a hundred million points) in memory comparable to Prometheus's
 * own head block, a few hundred bytes a series and one to two bytes a
 * point, where a first design spent about 4 KB a series.  So:
 * - strings are interned (tsdb_strings.c): each label name and value is
 *   stored once however many series use it;
 * - a series is a fixed 88-byte record in pages of 1024 (no per-series
 *   allocation but its chunks, no reallocation of the records), and its
 *   label array is carved from shared blocks;
 * - points are Prometheus XOR chunks (tsdb_chunk.c) that start at 8
 *   bytes and grow with the series.
 * Lookup of a label set hashes its content and probes once, so a scrape
 * costs O(samples).  Nothing is ever removed: pointers and ids stay
 * valid until aa_tsdb_free.
 */
#include "aa/tsdb.h"

#include <stdlib.h>
#include <string.h>

#include "tsdb_int.h"

double aa_stale_nan(void)
{
    static const uint64_t bits = 0x7ff0000000000002ULL;
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

bool aa_is_stale_nan(double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    return bits == 0x7ff0000000000002ULL;
}

int aa_tsdb_new_opts(const aa_tsdb_opts *opts, aa_tsdb **out)
{
    aa_tsdb *db;

    if (out == NULL) {
        return AA_EINVAL;
    }
    *out = NULL;
    db = calloc(1, sizeof(*db));
    if (db == NULL) {
        return AA_ENOMEM;
    }
    db->max_series = opts != NULL && opts->max_series > 0 ? opts->max_series
                                                          : AA_TSDB_MAX_SERIES;
    if (db->max_series > UINT32_MAX - 1) {
        db->max_series = UINT32_MAX - 1;
    }
    db->max_points = opts != NULL && opts->max_points > 0 ? opts->max_points
                                                          : AA_TSDB_MAX_POINTS;
    db->tcap = 1024;
    db->table = calloc(db->tcap, sizeof(uint32_t));
    if (db->table == NULL) {
        free(db);
        return AA_ENOMEM;
    }
    *out = db;
    return AA_OK;
}

int aa_tsdb_new(aa_tsdb **out)
{
    return aa_tsdb_new_opts(NULL, out);
}

void aa_tsdb_free(aa_tsdb *db)
{
    size_t i;

    if (db == NULL) {
        return;
    }
    for (i = 0; i < db->n; i++) {
        tsdb_chunk *c = tsdb_get(db, i)->head;

        while (c != NULL) {
            tsdb_chunk *next = c->next;

            free(c);
            c = next;
        }
    }
    for (i = 0; i < db->npages; i++) {
        free(db->pages[i]);
    }
    for (i = 0; i < db->nlblocks; i++) {
        free(db->lblocks[i]);
    }
    for (i = 0; i < db->ntargets; i++) {
        free(db->targets[i].name);
        free(db->targets[i].prev);
        free(db->targets[i].cur);
    }
    for (i = 0; i < db->nfams; i++) {
        free(db->fams[i].name);
    }
    tsdb_strings_free(&db->str);
    free(db->fams);
    free(db->targets);
    free(db->lblocks);
    free(db->pages);
    free(db->table);
    free(db);
}

/* ---- the label-set index -------------------------------------------------
 */

/* One string into the hash h, eight bytes at a time. */
static uint64_t hash_str(uint64_t h, const char *s)
{
    size_t n = strlen(s), i;
    uint64_t w;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

/* Of the content of a label set (names and values in order), with
 * MurmurHash3's finalizer so that every byte reaches the low bits that
 * index the table.  Content, not pointers: a lookup hashes the caller's
 * strings once and probes once, without looking each string up. */
static uint32_t hash_labels(const aa_labels *ls)
{
    uint64_t h = ls->n;
    size_t i;

    for (i = 0; i < ls->n; i++) {
        h = hash_str(hash_str(h, ls->v[i].name), ls->v[i].value);
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

static bool same_labels(const aa_labels *a, const aa_labels *b)
{
    size_t i;

    if (a->n != b->n) {
        return false;
    }
    for (i = 0; i < a->n; i++) {
        if (strcmp(a->v[i].name, b->v[i].name) != 0 ||
            strcmp(a->v[i].value, b->v[i].value) != 0) {
            return false;
        }
    }
    return true;
}

static int table_grow(aa_tsdb *db)
{
    size_t ncap = db->tcap * 2, i;
    uint32_t *t = calloc(ncap, sizeof(uint32_t));

    if (t == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; i < db->n; i++) {
        const aa_labels *ls = &tsdb_get(db, i)->labels;
        size_t j = hash_labels(ls) & (ncap - 1);

        while (t[j] != 0) {
            j = (j + 1) & (ncap - 1);
        }
        t[j] = (uint32_t)i + 1;
    }
    free(db->table);
    db->table = t;
    db->tcap = ncap;
    return AA_OK;
}

/* Room for n labels, from the current label block or a new one. */
static aa_label *label_room(aa_tsdb *db, size_t n)
{
    aa_label **nb, *b;
    size_t size = n > LABEL_BLOCK ? n : LABEL_BLOCK;

    if (db->nlblocks > 0 && db->lsize - db->lused >= n) {
        b = db->lblocks[db->nlblocks - 1] + db->lused;
        db->lused += n;
        return b;
    }
    nb = aa_grow(db->lblocks, &db->caplblocks, db->nlblocks, sizeof(*nb), 16);
    if (nb == NULL) {
        return NULL;
    }
    db->lblocks = nb;
    b = malloc(size * sizeof(aa_label));
    if (b == NULL) {
        return NULL;
    }
    db->lblocks[db->nlblocks++] = b;
    db->lsize = size;
    db->lused = n;
    db->label_bytes += size * sizeof(aa_label) + MALLOC_OVERHEAD;
    return b;
}

/* A new series record at id db->n (its page allocated when new). */
static tsdb_series *series_slot(aa_tsdb *db)
{
    size_t page = db->n >> PAGE_SHIFT;

    if (page == db->npages) {
        tsdb_series **np =
            aa_grow(db->pages, &db->cappages, db->npages, sizeof(*np), 16);

        if (np == NULL) {
            return NULL;
        }
        db->pages = np;
        np[page] = calloc(PAGE, sizeof(tsdb_series));
        if (np[page] == NULL) {
            return NULL;
        }
        db->npages++;
    }
    return tsdb_get(db, db->n);
}

/* Creates the series of ls (not in the store), interning its strings;
 * hash is hash_labels(ls). */
static int create(aa_tsdb *db, const aa_labels *ls, const char *fam,
                  uint32_t hash, size_t *id)
{
    aa_label *lv;
    tsdb_series *s;
    const char *name;
    size_t j, i;
    int rc;

    /* Grow before inserting, so that the table never fills up even when
     * a grow fails (a full table would make the probe endless). */
    if ((db->n + 1) * 2 > db->tcap) {
        rc = table_grow(db);
        if (rc != AA_OK) {
            return rc;
        }
    }
    s = series_slot(db);
    lv = label_room(db, ls->n);
    if (s == NULL || lv == NULL) {
        return AA_ENOMEM;
    }
    memset(s, 0, sizeof(*s));
    for (i = 0; i < ls->n; i++) {
        lv[i].name = (char *)tsdb_str_intern(&db->str, ls->v[i].name);
        lv[i].value = (char *)tsdb_str_intern(&db->str, ls->v[i].value);
        if (lv[i].name == NULL || lv[i].value == NULL) {
            return AA_ENOMEM;
        }
    }
    s->labels.v = lv;
    s->labels.n = ls->n;
    name = aa_labels_get(&s->labels, "__name__");
    s->name = name;
    s->family = tsdb_str_intern(&db->str, fam != NULL ? fam : name);
    if (s->family == NULL) {
        return AA_ENOMEM;
    }
    for (j = hash & (db->tcap - 1); db->table[j] != 0;
         j = (j + 1) & (db->tcap - 1)) {
    }
    db->table[j] = (uint32_t)db->n + 1;
    *id = db->n++;
    return AA_OK;
}

int aa_tsdb_series(aa_tsdb *db, const aa_labels *ls, const char *fam,
                   size_t *id)
{
    uint32_t hash;
    size_t j;

    if (db == NULL || ls == NULL || id == NULL) {
        return AA_EINVAL;
    }
    if (aa_labels_get(ls, "__name__") == NULL) {
        return AA_EINVAL;
    }
    hash = hash_labels(ls);
    for (j = hash & (db->tcap - 1); db->table[j] != 0;
         j = (j + 1) & (db->tcap - 1)) {
        if (same_labels(&tsdb_get(db, db->table[j] - 1)->labels, ls)) {
            *id = db->table[j] - 1;
            return AA_OK;
        }
    }
    if (db->n >= db->max_series) {
        db->series_refused++;
        return AA_ETOOBIG;
    }
    return create(db, ls, fam, hash, id);
}

/* ---- appending -----------------------------------------------------------
 */

/* After a chunk moved (realloc), the link to it. */
static void relink(tsdb_series *s)
{
    if (s->prev != NULL) {
        s->prev->next = s->tail;
    } else {
        s->head = s->tail;
    }
}

int tsdb_append(aa_tsdb *db, tsdb_series *s, int64_t t, double v)
{
    tsdb_chunk *c;
    size_t before;
    int rc;

    if (s->tail != NULL && t <= s->tail->t1) {
        return t == s->tail->t1 ? AA_TSDB_DUPLICATE : AA_EINVAL;
    }
    if (db->npoints >= db->max_points) {
        return AA_ETOOBIG;
    }
    if (s->tail != NULL) {
        before = tsdb_chunk_size(s->tail);
        rc = tsdb_chunk_append(&s->tail, &s->enc, t, v);
        relink(s);
        if (rc == TSDB_CHUNK_FULL) {
            tsdb_chunk_shrink(&s->tail);
            relink(s);
        }
        db->chunk_bytes = db->chunk_bytes - before + tsdb_chunk_size(s->tail);
        if (rc < 0) {
            return rc;
        }
        if (rc == AA_OK) {
            goto done;
        }
    }
    c = tsdb_chunk_new(t, v, &s->enc);
    if (c == NULL) {
        return AA_ENOMEM;
    }
    if (s->tail == NULL) {
        s->head = c;
    } else {
        s->tail->next = c;
    }
    s->prev = s->tail;
    s->tail = c;
    db->nchunks++;
    db->chunk_bytes += tsdb_chunk_size(c);
done:
    s->npoints++;
    db->npoints++;
    return AA_OK;
}

int aa_tsdb_append(aa_tsdb *db, size_t id, int64_t t_ms, double v)
{
    int rc;

    if (db == NULL || id >= db->n) {
        return AA_EINVAL;
    }
    rc = tsdb_append(db, tsdb_get(db, id), t_ms, v);
    switch (rc) {
    case AA_TSDB_DUPLICATE:
        db->duplicates++;
        break;
    case AA_EINVAL:
        db->out_of_order++;
        break;
    case AA_ETOOBIG:
        db->points_refused++;
        break;
    default:
        break;
    }
    return rc;
}

/* ---- families ------------------------------------------------------------
 */

static tsdb_family *find_family(const aa_tsdb *db, const char *name)
{
    size_t i;

    for (i = 0; i < db->nfams; i++) {
        if (strcmp(db->fams[i].name, name) == 0) {
            return &db->fams[i];
        }
    }
    return NULL;
}

int aa_tsdb_set_type(aa_tsdb *db, const char *name, aa_expo_type type)
{
    tsdb_family *f, *nf;

    if (db == NULL || name == NULL) {
        return AA_EINVAL;
    }
    f = find_family(db, name);
    if (f != NULL) {
        if (f->type == AA_EXPO_UNTYPED) {
            f->type = type;
        }
        return AA_OK;
    }
    nf = aa_grow(db->fams, &db->capfams, db->nfams, sizeof(tsdb_family), 32);
    if (nf == NULL) {
        return AA_ENOMEM;
    }
    db->fams = nf;
    db->fams[db->nfams].name = aa_strdup(name);
    if (db->fams[db->nfams].name == NULL) {
        return AA_ENOMEM;
    }
    db->fams[db->nfams].type = type;
    db->nfams++;
    return AA_OK;
}

aa_expo_type aa_tsdb_family_type(const aa_tsdb *db, const char *name)
{
    tsdb_family *f;

    if (db == NULL || name == NULL) {
        return AA_EXPO_UNTYPED;
    }
    f = find_family(db, name);
    return f != NULL ? f->type : AA_EXPO_UNTYPED;
}

aa_metric_type aa_tsdb_metric_type(const aa_tsdb *db, const char *metric)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count",
                                           "_total", "_created"};
    char tmp[256];
    size_t n, i;
    tsdb_family *f;

    if (db == NULL || metric == NULL) {
        return AA_TYPE_UNKNOWN;
    }
    f = find_family(db, metric);
    if (f != NULL) {
        return aa_expo_type_metric(f->type);
    }
    n = strlen(metric);
    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t sl = strlen(suffixes[i]);

        if (n > sl && n - sl < sizeof(tmp) &&
            strcmp(metric + n - sl, suffixes[i]) == 0) {
            memcpy(tmp, metric, n - sl);
            tmp[n - sl] = '\0';
            f = find_family(db, tmp);
            if (f != NULL) {
                /* x_count of a histogram is itself a counter. */
                if (f->type == AA_EXPO_HISTOGRAM && i != 0) {
                    return AA_TYPE_COUNTER;
                }
                return aa_expo_type_metric(f->type);
            }
        }
    }
    return AA_TYPE_UNKNOWN;
}

size_t aa_tsdb_nfamilies(const aa_tsdb *db)
{
    return db != NULL ? db->nfams : 0;
}

const char *aa_tsdb_family_name(const aa_tsdb *db, size_t i)
{
    return db != NULL && i < db->nfams ? db->fams[i].name : NULL;
}

/* ---- reading -------------------------------------------------------------
 */

size_t aa_tsdb_nseries(const aa_tsdb *db)
{
    return db != NULL ? db->n : 0;
}

size_t aa_tsdb_npoints(const aa_tsdb *db)
{
    return db != NULL ? db->npoints : 0;
}

size_t aa_tsdb_bytes(const aa_tsdb *db)
{
    size_t b, i;

    if (db == NULL) {
        return 0;
    }
    b = sizeof(*db) +
        db->npages * (PAGE * sizeof(tsdb_series) + MALLOC_OVERHEAD) +
        db->cappages * sizeof(tsdb_series *) + db->tcap * sizeof(uint32_t) +
        db->str.bytes + db->label_bytes + db->chunk_bytes +
        db->nchunks * MALLOC_OVERHEAD + db->nfams * sizeof(tsdb_family);
    for (i = 0; i < db->ntargets; i++) {
        b += sizeof(tsdb_target) +
             (db->targets[i].nprev + db->targets[i].capcur) * sizeof(uint32_t);
    }
    return b;
}

void aa_tsdb_stats_get(const aa_tsdb *db, aa_tsdb_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (db == NULL) {
        return;
    }
    out->series = db->n;
    out->points = db->npoints;
    out->bytes = aa_tsdb_bytes(db);
    out->duplicates = db->duplicates;
    out->out_of_order = db->out_of_order;
    out->series_refused = db->series_refused;
    out->points_refused = db->points_refused;
}

const aa_labels *aa_tsdb_labels(const aa_tsdb *db, size_t id)
{
    return db != NULL && id < db->n ? &tsdb_get(db, id)->labels : NULL;
}

const char *aa_tsdb_name(const aa_tsdb *db, size_t id)
{
    return db != NULL && id < db->n ? tsdb_get(db, id)->name : NULL;
}

const char *aa_tsdb_family(const aa_tsdb *db, size_t id)
{
    return db != NULL && id < db->n ? tsdb_get(db, id)->family : NULL;
}

int aa_tsdb_time_range(const aa_tsdb *db, int64_t *min_ms, int64_t *max_ms)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    size_t i;

    for (i = 0; db != NULL && i < db->n; i++) {
        const tsdb_series *s = tsdb_get(db, i);

        if (s->head == NULL) {
            continue;
        }
        if (s->head->t0 < lo) {
            lo = s->head->t0;
        }
        if (s->tail->t1 > hi) {
            hi = s->tail->t1;
        }
    }
    if (lo > hi) {
        return AA_ENOTFOUND;
    }
    *min_ms = lo;
    *max_ms = hi;
    return AA_OK;
}

int aa_tsdb_points(const aa_tsdb *db, size_t id, int64_t from_ms,
                   int64_t to_ms, bool keep_stale, aa_point **buf, size_t *cap,
                   size_t *n)
{
    const tsdb_chunk *c;

    *n = 0;
    if (db == NULL || id >= db->n) {
        return AA_EINVAL;
    }
    for (c = tsdb_get(db, id)->head; c != NULL && c->t0 <= to_ms;
         c = c->next) {
        tsdb_iter it;
        int64_t t;
        double v;

        if (c->t1 < from_ms) {
            continue;
        }
        tsdb_iter_init(&it, c);
        while (tsdb_iter_next(&it, &t, &v)) {
            aa_point *nb;

            if (t < from_ms) {
                continue;
            }
            if (t > to_ms) {
                return AA_OK;
            }
            if (!keep_stale && aa_is_stale_nan(v)) {
                continue;
            }
            nb = aa_grow(*buf, cap, *n, sizeof(aa_point), 64);
            if (nb == NULL) {
                return AA_ENOMEM;
            }
            *buf = nb;
            (*buf)[*n].t_ms = t;
            (*buf)[*n].v = v;
            (*n)++;
        }
    }
    return AA_OK;
}
