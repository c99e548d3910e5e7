/*
 * tsdb.c: the in-memory series store behind scrape and samples mode.
 *
 * Why this shape: an hour of 1 s scrapes of 2,000 series is 7.2 million
 * points and must stay well under 200 MB, so points live in fixed-size
 * chunks holding a 64-bit base time, 32-bit time offsets and the doubles
 * (12 bytes a point, at most one partly filled chunk per series), and a
 * series' labels are stored once.  Lookup of a label set is one hash
 * probe on a length-prefixed key, so a scrape costs O(samples).
 */
#include "aa/tsdb.h"

#include <assert.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_POINTS 240

typedef struct chunk {
    struct chunk *next;
    int64_t base; /* time of the chunk's first point */
    uint32_t n;
    uint32_t dt[CHUNK_POINTS]; /* ms after base */
    double v[CHUNK_POINTS];
} chunk;

typedef struct series {
    aa_labels labels;
    const char *name; /* points into labels */
    char *family;
    char *key; /* hash key */
    size_t keylen;
    chunk *head, *tail;
    size_t npoints;
    int64_t last_t;
    uint64_t seen_gen; /* scrape generation that last returned it */
} series;

typedef struct target {
    char *name;
    uint64_t gen; /* current scrape generation */
    size_t *prev; /* series ids in the previous successful scrape */
    size_t nprev;
    size_t *cur; /* series ids in this scrape */
    size_t ncur, capcur;
} target;

typedef struct family {
    char *name;
    aa_expo_type type;
} family;

struct aa_tsdb {
    series *s;
    size_t n, cap;
    size_t *table; /* open addressing: series id + 1, 0 = empty */
    size_t tcap;   /* power of two */
    target *targets;
    size_t ntargets;
    family *fams;
    size_t nfams, capfams;
    size_t npoints, nchunks, label_bytes;
    uint64_t gen;
    aat_buf key; /* make_key's scratch */
};

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

int aa_tsdb_new(aa_tsdb **out)
{
    aa_tsdb *db;

    *out = NULL;
    db = calloc(1, sizeof(*db));
    if (db == NULL) {
        return AA_ENOMEM;
    }
    aat_buf_init(&db->key, SIZE_MAX);
    db->tcap = 1024;
    db->table = calloc(db->tcap, sizeof(size_t));
    if (db->table == NULL) {
        free(db);
        return AA_ENOMEM;
    }
    *out = db;
    return AA_OK;
}

void aa_tsdb_free(aa_tsdb *db)
{
    size_t i;

    if (db == NULL) {
        return;
    }
    for (i = 0; i < db->n; i++) {
        chunk *c = db->s[i].head;

        while (c != NULL) {
            chunk *next = c->next;

            free(c);
            c = next;
        }
        aa_labels_clear(&db->s[i].labels);
        free(db->s[i].family);
        free(db->s[i].key);
    }
    for (i = 0; i < db->ntargets; i++) {
        free(db->targets[i].name);
        free(db->targets[i].prev);
        free(db->targets[i].cur);
    }
    for (i = 0; i < db->nfams; i++) {
        free(db->fams[i].name);
    }
    free(db->fams);
    aat_buf_release(&db->key);
    free(db->targets);
    free(db->table);
    free(db->s);
    free(db);
}

/* ---- the label-set index -------------------------------------------------
 */

/*
 * Key: name NUL value NUL for each label, in the set's (sorted) order,
 * built in db->key (reused: a lookup of a known series allocates
 * nothing).  NULL on OOM.
 */
static const char *make_key(aa_tsdb *db, const aa_labels *ls, size_t *len)
{
    aat_buf *k = &db->key;
    size_t i;

    aat_buf_reset(k);
    if (aat_buf_append(k, "", 0) != AA_OK) { /* data non-NULL when empty */
        return NULL;
    }
    for (i = 0; i < ls->n; i++) {
        const char *name = ls->v[i].name, *value = ls->v[i].value;

        if (aat_buf_append(k, name, strlen(name) + 1) != AA_OK ||
            aat_buf_append(k, value, strlen(value) + 1) != AA_OK) {
            return NULL;
        }
    }
    *len = k->len;
    return k->data;
}

static uint64_t hash_key(const char *k, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int table_grow(aa_tsdb *db)
{
    size_t ncap = db->tcap * 2, i;
    size_t *t = calloc(ncap, sizeof(size_t));

    if (t == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; i < db->n; i++) {
        size_t j = hash_key(db->s[i].key, db->s[i].keylen) & (ncap - 1);

        while (t[j] != 0) {
            j = (j + 1) & (ncap - 1);
        }
        t[j] = i + 1;
    }
    free(db->table);
    db->table = t;
    db->tcap = ncap;
    return AA_OK;
}

int aa_tsdb_series(aa_tsdb *db, const aa_labels *ls, const char *fam,
                   size_t *id)
{
    size_t keylen, j;
    const char *key;
    series *s, *ns;
    const char *name;
    int rc;

    if (db == NULL || ls == NULL || id == NULL) {
        return AA_EINVAL;
    }
    name = aa_labels_get(ls, "__name__");
    if (name == NULL) {
        return AA_EINVAL;
    }
    key = make_key(db, ls, &keylen);
    if (key == NULL) {
        return AA_ENOMEM;
    }
    j = hash_key(key, keylen) & (db->tcap - 1);
    while (db->table[j] != 0) {
        s = &db->s[db->table[j] - 1];
        if (s->keylen == keylen && memcmp(s->key, key, keylen) == 0) {
            *id = db->table[j] - 1;
            return AA_OK;
        }
        j = (j + 1) & (db->tcap - 1);
    }
    if (db->n >= AA_TSDB_MAX_SERIES) {
        return AA_ETOOBIG;
    }
    /* Grow before inserting, so that the table never fills up even when
     * a grow fails (a full table would make the probe above endless). */
    if ((db->n + 1) * 2 > db->tcap) {
        rc = table_grow(db);
        if (rc != AA_OK) {
            return rc;
        }
        j = hash_key(key, keylen) & (db->tcap - 1);
        while (db->table[j] != 0) {
            j = (j + 1) & (db->tcap - 1);
        }
    }
    ns = aa_grow(db->s, &db->cap, db->n, sizeof(series), 64);
    if (ns == NULL) {
        return AA_ENOMEM;
    }
    db->s = ns;
    s = &db->s[db->n];
    memset(s, 0, sizeof(*s));
    s->key = malloc(keylen + 1);
    s->family = aa_strdup(fam != NULL ? fam : name);
    if (s->key == NULL || s->family == NULL) {
        rc = AA_ENOMEM;
        goto out;
    }
    rc = aa_labels_copy(&s->labels, ls);
    if (rc != AA_OK) {
        goto out;
    }
    memcpy(s->key, key, keylen + 1);
    s->keylen = keylen;
    s->name = aa_labels_get(&s->labels, "__name__");
    s->last_t = INT64_MIN;
    db->table[j] = db->n + 1;
    *id = db->n;
    db->n++;
    db->label_bytes += 2 * keylen + sizeof(series) + strlen(s->family) +
                       ls->n * (sizeof(aa_label) + 32);
out:
    if (rc != AA_OK) {
        free(s->key);
        free(s->family);
    }
    return rc;
}

int aa_tsdb_append(aa_tsdb *db, size_t id, int64_t t_ms, double v)
{
    series *s;
    chunk *c;

    if (db == NULL || id >= db->n) {
        return AA_EINVAL;
    }
    s = &db->s[id];
    if (t_ms <= s->last_t) {
        return AA_EINVAL;
    }
    c = s->tail;
    /* t_ms > last_t >= c->base, so the unsigned difference is exact even
     * where the signed one would overflow. */
    if (c == NULL || c->n == CHUNK_POINTS ||
        (uint64_t)t_ms - (uint64_t)c->base > UINT32_MAX) {
        chunk *nc = malloc(sizeof(chunk));

        if (nc == NULL) {
            return AA_ENOMEM;
        }
        nc->next = NULL;
        nc->base = t_ms;
        nc->n = 0;
        if (c == NULL) {
            s->head = nc;
        } else {
            c->next = nc;
        }
        s->tail = nc;
        c = nc;
        db->nchunks++;
    }
    c->dt[c->n] = (uint32_t)(t_ms - c->base);
    c->v[c->n] = v;
    c->n++;
    s->npoints++;
    s->last_t = t_ms;
    db->npoints++;
    return AA_OK;
}

/* ---- families ------------------------------------------------------------
 */

static family *find_family(const aa_tsdb *db, const char *name)
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
    family *f, *nf;

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
    nf = aa_grow(db->fams, &db->capfams, db->nfams, sizeof(family), 32);
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
    family *f;

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
    family *f;

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

/* ---- staleness -----------------------------------------------------------
 */

int aa_tsdb_target(aa_tsdb *db, const char *name, size_t *tid)
{
    size_t i;
    target *nt;

    for (i = 0; i < db->ntargets; i++) {
        if (strcmp(db->targets[i].name, name) == 0) {
            *tid = i;
            return AA_OK;
        }
    }
    nt = realloc(db->targets, (db->ntargets + 1) * sizeof(target));
    if (nt == NULL) {
        return AA_ENOMEM;
    }
    db->targets = nt;
    memset(&nt[db->ntargets], 0, sizeof(target));
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
}

int aa_tsdb_scrape_seen(aa_tsdb *db, size_t tid, size_t id)
{
    target *t;
    size_t *nc;

    assert(tid < db->ntargets);
    t = &db->targets[tid];
    if (id >= db->n) {
        return AA_EINVAL;
    }
    if (db->s[id].seen_gen == t->gen) {
        return AA_OK;
    }
    nc = aa_grow(t->cur, &t->capcur, t->ncur, sizeof(size_t), 256);
    if (nc == NULL) {
        return AA_ENOMEM;
    }
    t->cur = nc;
    t->cur[t->ncur++] = id;
    db->s[id].seen_gen = t->gen;
    return AA_OK;
}

int aa_tsdb_scrape_end(aa_tsdb *db, size_t tid, int64_t t_ms, bool ok)
{
    target *t;
    size_t i;
    double stale = aa_stale_nan();

    assert(tid < db->ntargets);
    t = &db->targets[tid];
    for (i = 0; i < t->nprev; i++) {
        size_t id = t->prev[i];

        if (!ok || db->s[id].seen_gen != t->gen) {
            /* An older point (explicit timestamps) is left alone. */
            (void)aa_tsdb_append(db, id, t_ms, stale);
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
    if (db == NULL) {
        return 0;
    }
    return sizeof(*db) + db->cap * sizeof(series) + db->tcap * sizeof(size_t) +
           db->nchunks * sizeof(chunk) + db->label_bytes;
}

const aa_labels *aa_tsdb_labels(const aa_tsdb *db, size_t id)
{
    return db != NULL && id < db->n ? &db->s[id].labels : NULL;
}

const char *aa_tsdb_name(const aa_tsdb *db, size_t id)
{
    return db != NULL && id < db->n ? db->s[id].name : NULL;
}

const char *aa_tsdb_family(const aa_tsdb *db, size_t id)
{
    return db != NULL && id < db->n ? db->s[id].family : NULL;
}

int aa_tsdb_time_range(const aa_tsdb *db, int64_t *min_ms, int64_t *max_ms)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    size_t i;

    for (i = 0; db != NULL && i < db->n; i++) {
        const series *s = &db->s[i];

        if (s->head == NULL) {
            continue;
        }
        if (s->head->base < lo) {
            lo = s->head->base;
        }
        if (s->last_t > hi) {
            hi = s->last_t;
        }
    }
    if (lo > hi) {
        return AA_ENOTFOUND;
    }
    *min_ms = lo;
    *max_ms = hi;
    return AA_OK;
}

typedef struct cmatcher {
    const aa_matcher *m;
    regex_t re;
    bool compiled;
} cmatcher;

static int compile_matchers(const aa_matchers *ms, cmatcher *out, size_t *n,
                            aa_diag *diag)
{
    size_t i;

    for (i = 0; ms != NULL && i < ms->n; i++) {
        cmatcher *c = &out[*n];

        c->m = &ms->v[i];
        c->compiled = false;
        (*n)++;
        if (c->m->op == AA_MATCH_RE || c->m->op == AA_MATCH_NRE) {
            aat_buf b;
            int rc;

            aat_buf_init(&b, 1 << 20);
            rc = aat_buf_appendf(&b, "^(%s)$", c->m->value);
            if (rc != AA_OK) {
                aat_buf_release(&b);
                return rc;
            }
            rc = regcomp(&c->re, b.data, REG_EXTENDED | REG_NOSUB);
            aat_buf_release(&b);
            if (rc != 0) {
                char why[128];

                regerror(rc, &c->re, why, sizeof(why));
                aa_diag_set(diag, NULL, 0, 0,
                            "label matcher %s%s\"%s\": invalid regular "
                            "expression: %s",
                            c->m->name, c->m->op == AA_MATCH_RE ? "=~" : "!~",
                            c->m->value, why);
                (*n)--;
                return AA_ESYNTAX;
            }
            c->compiled = true;
        }
    }
    return AA_OK;
}

static bool matches(const cmatcher *c, const aa_labels *ls)
{
    const char *v = aa_labels_get(ls, c->m->name);

    if (v == NULL) {
        v = "";
    }
    switch (c->m->op) {
    case AA_MATCH_EQ:
        return strcmp(v, c->m->value) == 0;
    case AA_MATCH_NE:
        return strcmp(v, c->m->value) != 0;
    case AA_MATCH_RE:
        return regexec(&c->re, v, 0, NULL, 0) == 0;
    case AA_MATCH_NRE:
        return regexec(&c->re, v, 0, NULL, 0) != 0;
    }
    return false;
}

int aa_tsdb_select(const aa_tsdb *db, const char *metric, const aa_matchers *a,
                   const aa_matchers *b, size_t **ids, size_t *n,
                   aa_diag *diag)
{
    size_t nm = (a != NULL ? a->n : 0) + (b != NULL ? b->n : 0);
    cmatcher *cm = NULL;
    size_t ncm = 0, i, j, cnt = 0;
    size_t *res = NULL;
    int rc;

    *ids = NULL;
    *n = 0;
    if (db == NULL) {
        return AA_EINVAL;
    }
    if (nm > 0) {
        cm = calloc(nm, sizeof(cmatcher));
        if (cm == NULL) {
            return AA_ENOMEM;
        }
    }
    rc = compile_matchers(a, cm, &ncm, diag);
    if (rc == AA_OK) {
        rc = compile_matchers(b, cm, &ncm, diag);
    }
    if (rc != AA_OK) {
        goto out;
    }
    for (i = 0; i < db->n; i++) {
        const series *s = &db->s[i];

        if (metric != NULL && strcmp(s->name, metric) != 0) {
            continue;
        }
        for (j = 0; j < ncm; j++) {
            if (!matches(&cm[j], &s->labels)) {
                break;
            }
        }
        if (j < ncm) {
            continue;
        }
        if (res == NULL) {
            res = malloc(db->n * sizeof(size_t));
            if (res == NULL) {
                rc = AA_ENOMEM;
                goto out;
            }
        }
        res[cnt++] = i;
    }
    *ids = res;
    *n = cnt;
    res = NULL;
out:
    for (j = 0; j < ncm; j++) {
        if (cm[j].compiled) {
            regfree(&cm[j].re);
        }
    }
    free(cm);
    free(res);
    return rc;
}

int aa_tsdb_points(const aa_tsdb *db, size_t id, int64_t from_ms,
                   int64_t to_ms, bool keep_stale, aa_point **buf, size_t *cap,
                   size_t *n)
{
    const chunk *c;

    *n = 0;
    if (db == NULL || id >= db->n) {
        return AA_EINVAL;
    }
    for (c = db->s[id].head; c != NULL; c = c->next) {
        uint32_t k;

        if (c->next != NULL && c->next->base < from_ms) {
            continue;
        }
        if (c->base > to_ms) {
            break;
        }
        for (k = 0; k < c->n; k++) {
            int64_t t = c->base + (int64_t)c->dt[k];
            aa_point *nb;

            if (t < from_ms) {
                continue;
            }
            if (t > to_ms) {
                return AA_OK;
            }
            if (!keep_stale && aa_is_stale_nan(c->v[k])) {
                continue;
            }
            nb = aa_grow(*buf, cap, *n, sizeof(aa_point), 64);
            if (nb == NULL) {
                return AA_ENOMEM;
            }
            *buf = nb;
            (*buf)[*n].t_ms = t;
            (*buf)[*n].v = c->v[k];
            (*n)++;
        }
    }
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
