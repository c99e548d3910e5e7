/*
 * test_tsdb.c: the in-memory series store: identity of label sets,
 * compact point storage across chunk boundaries and large time gaps,
 * ordering, staleness per target, metadata and selection by matchers.
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
    CHECK_INT_EQ(aa_tsdb_append(db, a, 999000, 1), AA_EINVAL);
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
    CHECK_INT_EQ(aa_matchers_parse("{instance=~\"[\"}", &m2, NULL), AA_OK);
    aa_diag_clear(&d);
    CHECK_INT_EQ(aa_tsdb_select(db, NULL, &m2, NULL, &ids, &n, &d),
                 AA_ESYNTAX);
    CHECK(ids == NULL);
    CHECK_STR_CONTAINS(d.message, "instance=~\"[\"");
    aa_matchers_clear(&m);
    aa_matchers_clear(&m2);
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
    test_many_series();
    test_staleness();
    test_meta_and_select();
    test_scrape_interval();
    return check_report("test_tsdb");
}
