/*
 * test_tsdb.c: the in-memory series store: identity of label sets,
 * compressed points that round-trip bit for bit across chunk boundaries
 * and any time gaps, ordering, duplicates, the series and points caps,
 * memory per series and per point, staleness per target, metadata and
 * selection by matchers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/tsdb.h"
#include "check.h"

static size_t series(aa_tsdb *db, const char *name, const char *inst)
{
    aa_labels ls = {NULL, 0};
    size_t id = (size_t)-1;

    aa_labels_add(&ls, "__name__", name);
    if (inst != NULL) {
        aa_labels_add(&ls, "instance", inst);
    }
    CHECK_INT_EQ(aa_tsdb_series(db, &ls, NULL, &id), AA_OK);
    aa_labels_clear(&ls);
    return id;
}

static void test_identity_and_points(void)
{
    aa_tsdb *db = NULL;
    aa_point *pts = NULL;
    size_t cap = 0, n, a, b, i;
    int64_t lo, hi;
    aa_labels none = {NULL, 0};

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    CHECK_INT_EQ(aa_tsdb_time_range(db, &lo, &hi), AA_ENOTFOUND);
    a = series(db, "m", "x");
    b = series(db, "m", "y");
    CHECK(a != b);
    CHECK_INT_EQ(series(db, "m", "x"), a);
    CHECK_INT_EQ(aa_tsdb_nseries(db), 2);
    CHECK_STR_EQ(aa_tsdb_name(db, b), "m");
    CHECK_STR_EQ(aa_labels_get(aa_tsdb_labels(db, b), "instance"), "y");
    /* no __name__ */
    CHECK_INT_EQ(aa_tsdb_series(db, &none, NULL, &i), AA_EINVAL);
    /* 1,000 points cross several chunks; a gap beyond 32-bit ms too */
    for (i = 0; i < 1000; i++) {
        CHECK_INT_EQ(aa_tsdb_append(db, a, (int64_t)i * 1000, (double)i),
                     AA_OK);
    }
    /* the same time again is a duplicate, an older one out of order:
     * both dropped and counted */
    CHECK_INT_EQ(aa_tsdb_append(db, a, 999000, 1), AA_TSDB_DUPLICATE);
    CHECK_INT_EQ(aa_tsdb_append(db, a, 998000, 1), AA_EINVAL);
    CHECK_INT_EQ(aa_tsdb_append(db, a, 10000000000LL, -1), AA_OK);
    CHECK_INT_EQ(aa_tsdb_points(db, a, 0, INT64_MAX, false, &pts, &cap, &n),
                 AA_OK);
    CHECK_INT_EQ(n, 1001);
    CHECK_INT_EQ(pts[999].t_ms, 999000);
    CHECK_INT_EQ(pts[1000].t_ms, 10000000000LL);
    CHECK_DBL_NEAR(pts[500].v, 500, 0);
    /* inclusive range ends */
    CHECK_INT_EQ(aa_tsdb_points(db, a, 240000, 480000, false, &pts, &cap, &n),
                 AA_OK);
    CHECK_INT_EQ(n, 241);
    CHECK_INT_EQ(pts[0].t_ms, 240000);
    CHECK_INT_EQ(pts[240].t_ms, 480000);
    CHECK_INT_EQ(aa_tsdb_time_range(db, &lo, &hi), AA_OK);
    CHECK_INT_EQ(lo, 0);
    CHECK_INT_EQ(hi, 10000000000LL);
    CHECK(aa_tsdb_bytes(db) > 1001 * 12);
    CHECK_INT_EQ(aa_tsdb_npoints(db), 1001);
    /* A jump across the whole int64 range (OpenMetrics timestamps reach
     * +-9e18 ms): the chunk offset must not overflow. */
    b = series(db, "far", NULL);
    CHECK_INT_EQ(aa_tsdb_append(db, b, -9000000000000000000LL, 1), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, b, 9000000000000000000LL, 2), AA_OK);
    CHECK_INT_EQ(
        aa_tsdb_points(db, b, INT64_MIN, INT64_MAX, false, &pts, &cap, &n),
        AA_OK);
    CHECK_INT_EQ(n, 2);
    CHECK(pts[0].t_ms == -9000000000000000000LL);
    CHECK(pts[1].t_ms == 9000000000000000000LL);
    free(pts);
    aa_tsdb_free(db);
    aa_tsdb_free(NULL);
}

/* Bit patterns that must come back exactly, NaN payloads included. */
static uint64_t bits_of(double v)
{
    uint64_t b;

    memcpy(&b, &v, sizeof(b));
    return b;
}

static double from_bits(uint64_t b)
{
    double v;

    memcpy(&v, &b, sizeof(v));
    return v;
}

static uint64_t xorshift(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return *st;
}

/*
 * Times whose delta-of-delta falls on each side of every encoding bucket
 * (0, 14, 17, 20 and 64 bits: -(2^(n-1) - 1) .. 2^(n-1)) and values of
 * every kind, appended to one series and read back.
 */
static void test_round_trip(void)
{
    static const int64_t dods[] = {
        0,       1,      -1,      8191,   -8191,     8192,         -8192,
        8193,    65535,  -65535,  65536,  -65536,    65537,        524287,
        -524287, 524288, -524288, 524289, 1LL << 40, -(1LL << 40), 0,
        0,       3,      0};
    uint64_t special[] = {
        bits_of(0.0),          bits_of(-0.0),         bits_of(1.0),
        bits_of(-1.0),         bits_of(INFINITY),     bits_of(-INFINITY),
        0x7ff8000000000001ULL, /* a NaN with a payload */
        0x7ff0000000000002ULL, /* Prometheus's stale marker */
        0x0000000000000001ULL, /* the smallest denormal */
        0x7fefffffffffffffULL, /* DBL_MAX */
        0xffffffffffffffffULL, 0x8000000000000000ULL,
    };
    enum { N = 5000 };
    int64_t *t = malloc(N * sizeof(*t));
    uint64_t *v = malloc(N * sizeof(*v)), st = 88172645463325252ULL;
    aa_point *pts = NULL;
    aa_tsdb *db = NULL;
    size_t cap = 0, n, id, i, nd = sizeof(dods) / sizeof(dods[0]);
    int64_t delta = 15000;

    if (t == NULL || v == NULL) {
        CHECK_FAIL_("%s", "out of memory");
        goto out;
    }
    t[0] = 1700000000000LL;
    for (i = 0; i < N; i++) {
        if (i > 0) {
            /* the listed dods, then regular scrapes with jitter */
            int64_t dod = i < 3 * nd ? dods[i % nd] : (int64_t)(i % 5) - 2;

            if (delta + dod <= 0) {
                dod = 1 - delta;
            }
            delta += dod;
            t[i] = t[i - 1] + delta;
        }
        switch (i % 4) {
        case 0:
            v[i] = special[(i / 4) % (sizeof(special) / sizeof(special[0]))];
            break;
        case 1:
            v[i] = xorshift(&st); /* any 64 bits */
            break;
        case 2:
            v[i] = bits_of((double)(i / 4)); /* a counter */
            break;
        default:
            v[i] = i > 8 ? v[i - 4] : bits_of(0.25); /* unchanged */
            break;
        }
    }
    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    id = series(db, "m", "x");
    for (i = 0; i < N; i++) {
        CHECK_INT_EQ(aa_tsdb_append(db, id, t[i], from_bits(v[i])), AA_OK);
    }
    CHECK_INT_EQ(
        aa_tsdb_points(db, id, INT64_MIN, INT64_MAX, true, &pts, &cap, &n),
        AA_OK);
    CHECK_INT_EQ(n, N);
    for (i = 0; i < n && i < N; i++) {
        if (pts[i].t_ms != t[i] || bits_of(pts[i].v) != v[i]) {
            CHECK_FAIL_("point %zu: (%lld, %016llx), want (%lld, %016llx)", i,
                        (long long)pts[i].t_ms,
                        (unsigned long long)bits_of(pts[i].v), (long long)t[i],
                        (unsigned long long)v[i]);
            break;
        }
    }
    /* a window in the middle, ends included */
    CHECK_INT_EQ(
        aa_tsdb_points(db, id, t[1000], t[3999], true, &pts, &cap, &n), AA_OK);
    CHECK_INT_EQ(n, 3000);
    CHECK(n == 3000 && pts[0].t_ms == t[1000] && pts[2999].t_ms == t[3999]);
    aa_tsdb_free(db);
out:
    free(pts);
    free(t);
    free(v);
}

/*
 * Memory: one sample per series costs a few hundred bytes a series, and
 * regular scrapes (1 s apart, counters and slowly changing gauges) one
 * to two bytes a point, as Prometheus's head block; the bounds leave
 * room but would catch a store that keeps 12 or 16 bytes a point or
 * kilobytes a series.
 */
static void test_memory(void)
{
    aa_tsdb *db = NULL;
    aa_labels ls = {NULL, 0};
    char route[32];
    size_t i, k, id, one;
    aa_tsdb_stats st;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "__name__", "http_requests_total"), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "instance", "127.0.0.1:9464"), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "job", "async-auditor"), AA_OK);
    for (i = 0; i < 20000; i++) {
        snprintf(route, sizeof(route), "/api/v1/items/%zu", i);
        CHECK_INT_EQ(aa_labels_add(&ls, "route", route), AA_OK);
        CHECK_INT_EQ(aa_tsdb_series(db, &ls, NULL, &id), AA_OK);
        CHECK_INT_EQ(aa_tsdb_append(db, id, 1700000000000LL, 1.0), AA_OK);
    }
    one = aa_tsdb_bytes(db);
    CHECK(one / 20000 < 400);
    for (k = 1; k < 240; k++) {
        for (i = 0; i < 20000; i++) {
            double v = i % 2 == 0 ? (double)(k * (i % 13 + 1))
                                  : (double)((k / 10 + i) % 50);

            CHECK_INT_EQ(
                aa_tsdb_append(db, i, 1700000000000LL + (int64_t)k * 1000, v),
                AA_OK);
        }
    }
    aa_tsdb_stats_get(db, &st);
    CHECK_INT_EQ(st.points, 20000 * 240);
    CHECK_INT_EQ(st.bytes, aa_tsdb_bytes(db));
    CHECK((double)(st.bytes - one) / (20000.0 * 239) < 2.5);
    aa_labels_clear(&ls);
    aa_tsdb_free(db);
}

/* A series listed twice in one scrape: the first point stays, the others
 * are dropped and counted; stale markers are never counted. */
static void test_duplicates(void)
{
    aa_tsdb *db = NULL;
    aa_point *pts = NULL;
    aa_tsdb_stats st;
    size_t cap = 0, n, a, b, tid;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    a = series(db, "m", "x");
    b = series(db, "n", "x");
    CHECK_INT_EQ(aa_tsdb_target(db, "x", &tid), AA_OK);
    aa_tsdb_scrape_begin(db, tid);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, tid, a), AA_OK);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, tid, b), AA_OK);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, tid, a), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, a, 1000, 1), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, b, 1000, 5), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, a, 1000, 2), AA_TSDB_DUPLICATE);
    CHECK_INT_EQ(aa_tsdb_append(db, a, 1000, 1), AA_TSDB_DUPLICATE);
    CHECK_INT_EQ(aa_tsdb_scrape_end(db, tid, 1000, true), AA_OK);
    aa_tsdb_stats_get(db, &st);
    CHECK_INT_EQ(st.duplicates, 2);
    CHECK_INT_EQ(st.out_of_order, 0);
    CHECK_INT_EQ(st.points, 2);
    CHECK_INT_EQ(aa_tsdb_points(db, a, 0, 5000, true, &pts, &cap, &n), AA_OK);
    CHECK_INT_EQ(n, 1);
    CHECK_DBL_NEAR(pts[0].v, 1, 0);
    /* the next scrape has only b, at a time a already has (an explicit
     * timestamp): a's stale marker collides and is dropped uncounted */
    aa_tsdb_scrape_begin(db, tid);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, tid, b), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, b, 1000, 6), AA_TSDB_DUPLICATE);
    CHECK_INT_EQ(aa_tsdb_scrape_end(db, tid, 1000, true), AA_OK);
    aa_tsdb_stats_get(db, &st);
    CHECK_INT_EQ(st.duplicates, 3);
    CHECK_INT_EQ(st.points, 2);
    CHECK_INT_EQ(aa_tsdb_append(db, b, 999, 6), AA_EINVAL);
    CHECK_INT_EQ(aa_tsdb_append(db, 99, 999, 6), AA_EINVAL); /* no series */
    aa_tsdb_stats_get(db, &st);
    CHECK_INT_EQ(st.out_of_order, 1);
    aa_tsdb_stats_get(NULL, &st);
    CHECK_INT_EQ(st.series, 0);
    free(pts);
    aa_tsdb_free(db);
}

/* max_series and max_points: refused, counted, nothing half-stored. */
static void test_limits(void)
{
    aa_tsdb_opts opts = {3, 10};
    aa_tsdb *db = NULL;
    aa_labels ls = {NULL, 0};
    aa_tsdb_stats st;
    size_t a, b, c, id = 77, tid, i;

    CHECK_INT_EQ(aa_tsdb_new_opts(&opts, &db), AA_OK);
    a = series(db, "m", "a");
    b = series(db, "m", "b");
    c = series(db, "m", "c");
    CHECK_INT_EQ(aa_labels_add(&ls, "__name__", "m"), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "instance", "d"), AA_OK);
    CHECK_INT_EQ(aa_tsdb_series(db, &ls, NULL, &id), AA_ETOOBIG);
    CHECK_INT_EQ(id, 77);
    CHECK_INT_EQ(series(db, "m", "a"), a); /* known series still found */
    aa_tsdb_stats_get(db, &st);
    CHECK_INT_EQ(st.series, 3);
    CHECK_INT_EQ(st.series_refused, 1);
    /* 10 points fit; a scrape of 3 series with 8 stored fails when it is
     * parsed, at its third series */
    for (i = 0; i < 4; i++) {
        CHECK_INT_EQ(aa_tsdb_append(db, a, (int64_t)i, 1), AA_OK);
        CHECK_INT_EQ(aa_tsdb_append(db, b, (int64_t)i, 1), AA_OK);
    }
    CHECK_INT_EQ(aa_tsdb_target(db, "t", &tid), AA_OK);
    aa_tsdb_scrape_begin(db, tid);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, tid, a), AA_OK);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, tid, b), AA_OK);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, tid, c), AA_ETOOBIG);
    CHECK_INT_EQ(aa_tsdb_scrape_end(db, tid, 100, false), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, c, 100, 1), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, c, 101, 1), AA_OK);
    CHECK_INT_EQ(aa_tsdb_append(db, c, 102, 1), AA_ETOOBIG);
    aa_tsdb_stats_get(db, &st);
    CHECK_INT_EQ(st.points, 10);
    CHECK_INT_EQ(st.points_refused, 2);
    aa_labels_clear(&ls);
    aa_tsdb_free(db);
    CHECK_INT_EQ(aa_tsdb_new_opts(NULL, NULL), AA_EINVAL);
}

/* More labels than the lookup keeps on the stack. */
static void test_many_labels(void)
{
    aa_tsdb *db = NULL;
    aa_labels ls = {NULL, 0};
    char name[16], value[16];
    size_t i, id, again;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "__name__", "wide"), AA_OK);
    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "l%03zu", i);
        snprintf(value, sizeof(value), "v%zu", i * 7);
        CHECK_INT_EQ(aa_labels_add(&ls, name, value), AA_OK);
    }
    CHECK_INT_EQ(aa_tsdb_series(db, &ls, "fam", &id), AA_OK);
    CHECK_INT_EQ(aa_tsdb_series(db, &ls, NULL, &again), AA_OK);
    CHECK_INT_EQ(again, id);
    CHECK_INT_EQ(aa_tsdb_labels(db, id)->n, 101);
    CHECK_STR_EQ(aa_labels_get(aa_tsdb_labels(db, id), "l042"), "v294");
    CHECK_STR_EQ(aa_tsdb_family(db, id), "fam");
    CHECK_INT_EQ(aa_labels_add(&ls, "l050", "other"), AA_OK);
    CHECK_INT_EQ(aa_tsdb_series(db, &ls, NULL, &again), AA_OK);
    CHECK(again != id);
    aa_labels_clear(&ls);
    aa_tsdb_free(db);
}

/* Thousands of series through several index grows stay findable. */
static void test_many_series(void)
{
    aa_tsdb *db = NULL;
    char inst[32];
    size_t i, id;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    for (i = 0; i < 5000; i++) {
        snprintf(inst, sizeof(inst), "h%zu", i);
        CHECK_INT_EQ(series(db, "m", inst), i);
    }
    for (i = 0; i < 5000; i += 499) {
        snprintf(inst, sizeof(inst), "h%zu", i);
        id = series(db, "m", inst);
        CHECK_INT_EQ(id, i);
        CHECK_STR_EQ(aa_labels_get(aa_tsdb_labels(db, id), "instance"), inst);
    }
    CHECK_INT_EQ(aa_tsdb_nseries(db), 5000);
    aa_tsdb_free(db);
}

static void test_staleness(void)
{
    aa_tsdb *db = NULL;
    aa_point *pts = NULL;
    size_t cap = 0, n, a, b, t1, t2;

    CHECK(aa_is_stale_nan(aa_stale_nan()));
    CHECK(!aa_is_stale_nan(NAN));
    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    a = series(db, "m", "x");
    b = series(db, "n", "x");
    CHECK_INT_EQ(aa_tsdb_target(db, "x", &t1), AA_OK);
    CHECK_INT_EQ(aa_tsdb_target(db, "y", &t2), AA_OK);
    CHECK_INT_EQ(aa_tsdb_target(db, "x", &n), AA_OK);
    CHECK_INT_EQ(n, t1);
    /* scrape 1: a and b; scrape 2: only a; scrape 3 fails */
    aa_tsdb_scrape_begin(db, t1);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, t1, a), AA_OK);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, t1, b), AA_OK);
    aa_tsdb_append(db, a, 1000, 1);
    aa_tsdb_append(db, b, 1000, 1);
    CHECK_INT_EQ(aa_tsdb_scrape_end(db, t1, 1000, true), AA_OK);
    aa_tsdb_scrape_begin(db, t1);
    CHECK_INT_EQ(aa_tsdb_scrape_seen(db, t1, a), AA_OK);
    aa_tsdb_append(db, a, 2000, 2);
    CHECK_INT_EQ(aa_tsdb_scrape_end(db, t1, 2000, true), AA_OK);
    aa_tsdb_scrape_begin(db, t1);
    CHECK_INT_EQ(aa_tsdb_scrape_end(db, t1, 3000, false), AA_OK);
    CHECK_INT_EQ(aa_tsdb_points(db, b, 0, 9000, true, &pts, &cap, &n), AA_OK);
    CHECK_INT_EQ(n, 2);
    CHECK(aa_is_stale_nan(pts[1].v));
    CHECK_INT_EQ(pts[1].t_ms, 2000);
    CHECK_INT_EQ(aa_tsdb_points(db, a, 0, 9000, true, &pts, &cap, &n), AA_OK);
    CHECK_INT_EQ(n, 3);
    CHECK(aa_is_stale_nan(pts[2].v));
    CHECK_INT_EQ(aa_tsdb_points(db, a, 0, 9000, false, &pts, &cap, &n), AA_OK);
    CHECK_INT_EQ(n, 2);
    /* a 4th scrape after the failure: nothing more goes stale */
    aa_tsdb_scrape_begin(db, t1);
    CHECK_INT_EQ(aa_tsdb_scrape_end(db, t1, 4000, true), AA_OK);
    CHECK_INT_EQ(aa_tsdb_npoints(db), 3 + 2);
    free(pts);
    aa_tsdb_free(db);
}

static void test_meta_and_select(void)
{
    aa_tsdb *db = NULL;
    aa_matchers m = {NULL, 0}, m2 = {NULL, 0};
    size_t *ids = NULL, n, a, b, c;
    aa_diag d;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    a = series(db, "h_bucket", "x");
    b = series(db, "h_bucket", "yy");
    c = series(db, "h_bucket", NULL);
    (void)a;
    CHECK_INT_EQ(aa_tsdb_set_type(db, "h", AA_EXPO_HISTOGRAM), AA_OK);
    CHECK_INT_EQ(aa_tsdb_set_type(db, "h", AA_EXPO_GAUGE), AA_OK);
    CHECK_INT_EQ(aa_tsdb_set_type(db, "u", AA_EXPO_UNTYPED), AA_OK);
    CHECK_INT_EQ(aa_tsdb_set_type(db, "u", AA_EXPO_COUNTER), AA_OK);
    CHECK_INT_EQ(aa_tsdb_family_type(db, "h"), AA_EXPO_HISTOGRAM);
    CHECK_INT_EQ(aa_tsdb_family_type(db, "u"), AA_EXPO_COUNTER);
    CHECK_INT_EQ(aa_tsdb_metric_type(db, "h"), AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(aa_tsdb_metric_type(db, "h_bucket"), AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(aa_tsdb_metric_type(db, "h_count"), AA_TYPE_COUNTER);
    CHECK_INT_EQ(aa_tsdb_metric_type(db, "zzz"), AA_TYPE_UNKNOWN);
    CHECK_INT_EQ(aa_tsdb_nfamilies(db), 2);
    CHECK_STR_EQ(aa_tsdb_family_name(db, 1), "u");

    CHECK_INT_EQ(aa_matchers_parse("{instance=~\"x|y+\"}", &m, NULL), AA_OK);
    CHECK_INT_EQ(aa_tsdb_select(db, "h_bucket", &m, NULL, &ids, &n, NULL),
                 AA_OK);
    CHECK_INT_EQ(n, 2);
    free(ids);
    /* a missing label is the empty string */
    CHECK_INT_EQ(aa_matchers_parse("{instance=\"\"}", &m2, NULL), AA_OK);
    CHECK_INT_EQ(aa_tsdb_select(db, NULL, &m2, NULL, &ids, &n, NULL), AA_OK);
    CHECK_INT_EQ(n, 1);
    CHECK_INT_EQ(ids[0], c);
    free(ids);
    aa_matchers_clear(&m2);
    /* anchored: "y" does not match "yy"; != and !~ */
    CHECK_INT_EQ(
        aa_matchers_parse("{instance!~\"y\", instance!=\"x\"}", &m2, NULL),
        AA_OK);
    CHECK_INT_EQ(aa_tsdb_select(db, NULL, &m2, NULL, &ids, &n, NULL), AA_OK);
    CHECK_INT_EQ(n, 2);
    CHECK_INT_EQ(ids[0], b);
    free(ids);
    /* both sets apply */
    CHECK_INT_EQ(aa_tsdb_select(db, NULL, &m, &m2, &ids, &n, NULL), AA_OK);
    CHECK_INT_EQ(n, 1);
    free(ids);
    aa_matchers_clear(&m2);
    /* RE2 syntax: (?i), \d; a bad regex built without the parser is
     * refused with the matcher named */
    CHECK_INT_EQ(aa_matchers_parse("{instance=~\"(?i)Y+|\\\\d\"}", &m2, NULL),
                 AA_OK);
    CHECK_INT_EQ(aa_tsdb_select(db, NULL, &m2, NULL, &ids, &n, NULL), AA_OK);
    CHECK_INT_EQ(n, 1);
    free(ids);
    aa_matchers_clear(&m2);
    {
        aa_matcher bad = {(char *)"instance", AA_MATCH_RE, (char *)"["};
        aa_matchers badm = {&bad, 1};

        aa_diag_clear(&d);
        CHECK_INT_EQ(aa_tsdb_select(db, NULL, &badm, NULL, &ids, &n, &d),
                     AA_ESYNTAX);
        CHECK(ids == NULL);
        CHECK_STR_CONTAINS(d.message, "instance=~\"[\"");
        CHECK_STR_CONTAINS(d.message, "missing closing ]");
    }
    aa_matchers_clear(&m);
    aa_tsdb_free(db);
}

static void test_scrape_interval(void)
{
    aa_tsdb *db = NULL;
    size_t one, two;
    int64_t t = 1000000;
    int i;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    CHECK_INT_EQ(aa_tsdb_scrape_interval(db), 0); /* no series */
    one = series(db, "m", "single");
    CHECK_INT_EQ(aa_tsdb_append(db, one, t, 1), AA_OK);
    CHECK_INT_EQ(aa_tsdb_scrape_interval(db), 0); /* one point only */
    two = series(db, "m", "many");
    /* 5 s scrapes with jitter, and one last scrape 300 ms after the
     * previous (the command exited): the median ignores it */
    for (i = 0; i < 6; i++) {
        t += i % 2 == 0 ? 5030 : 4980;
        CHECK_INT_EQ(aa_tsdb_append(db, two, t, 1), AA_OK);
    }
    CHECK_INT_EQ(aa_tsdb_append(db, two, t + 300, 1), AA_OK);
    CHECK_INT_EQ(aa_tsdb_scrape_interval(db), 5000);
    aa_tsdb_free(db);

    /* sub-100 ms spacing rounds up to 100 ms */
    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    one = series(db, "m", NULL);
    for (i = 0; i < 4; i++) {
        CHECK_INT_EQ(aa_tsdb_append(db, one, 1000 + i * 20, 1), AA_OK);
    }
    CHECK_INT_EQ(aa_tsdb_scrape_interval(db), 100);
    aa_tsdb_free(db);
    CHECK_INT_EQ(aa_tsdb_scrape_interval(NULL), 0);
}

int main(void)
{
    test_identity_and_points();
    test_round_trip();
    test_memory();
    test_duplicates();
    test_limits();
    test_many_labels();
    test_many_series();
    test_staleness();
    test_meta_and_select();
    test_scrape_interval();
    return check_report("test_tsdb");
}
