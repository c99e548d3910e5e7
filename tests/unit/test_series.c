/*
 * test_series.c: label sets stay sorted and unique, formatting escapes like
 * Prometheus, and vectors/matrices grow past their reallocation points
 * without losing data.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aa/common.h"
#include "aa/series.h"
#include "check.h"

static void test_labels_sorted(void)
{
    aa_labels ls = {0};

    CHECK_INT_EQ(aa_labels_add(&ls, "job", "api"), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "instance", "a:1"), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "zone", "eu"), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "app", "x"), AA_OK);
    CHECK_INT_EQ(ls.n, 4);
    CHECK_STR_EQ(ls.v[0].name, "app");
    CHECK_STR_EQ(ls.v[1].name, "instance");
    CHECK_STR_EQ(ls.v[2].name, "job");
    CHECK_STR_EQ(ls.v[3].name, "zone");
    CHECK_STR_EQ(aa_labels_get(&ls, "job"), "api");
    CHECK_STR_EQ(aa_labels_get(&ls, "app"), "x");
    CHECK_STR_EQ(aa_labels_get(&ls, "zone"), "eu");
    CHECK(aa_labels_get(&ls, "missing") == NULL);
    CHECK(aa_labels_get(NULL, "job") == NULL);

    /* replacing keeps names unique */
    CHECK_INT_EQ(aa_labels_add(&ls, "job", "worker"), AA_OK);
    CHECK_INT_EQ(ls.n, 4);
    CHECK_STR_EQ(aa_labels_get(&ls, "job"), "worker");

    CHECK_INT_EQ(aa_labels_add(&ls, NULL, "x"), AA_EINVAL);
    CHECK_INT_EQ(aa_labels_add(&ls, "x", NULL), AA_EINVAL);
    aa_labels_clear(&ls);
    CHECK_INT_EQ(ls.n, 0);
    CHECK(ls.v == NULL);
    aa_labels_clear(&ls);
    aa_labels_clear(NULL);
}

static void test_labels_many(void)
{
    aa_labels ls = {0}, copy = {0};
    char name[16], value[16];
    int i;

    /* reverse order insertion across several growth points */
    for (i = 99; i >= 0; i--) {
        snprintf(name, sizeof(name), "l%03d", i);
        snprintf(value, sizeof(value), "v%d", i);
        CHECK_INT_EQ(aa_labels_add(&ls, name, value), AA_OK);
    }
    CHECK_INT_EQ(ls.n, 100);
    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "l%03d", i);
        snprintf(value, sizeof(value), "v%d", i);
        CHECK_STR_EQ(ls.v[i].name, name);
        CHECK_STR_EQ(aa_labels_get(&ls, name), value);
    }
    CHECK_INT_EQ(aa_labels_copy(&copy, &ls), AA_OK);
    CHECK_INT_EQ(aa_labels_cmp(&copy, &ls), 0);
    /* the copy can grow further */
    CHECK_INT_EQ(aa_labels_add(&copy, "zz", "1"), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&copy, "aa", "1"), AA_OK);
    CHECK_INT_EQ(copy.n, 102);
    CHECK_STR_EQ(copy.v[0].name, "aa");
    CHECK_STR_EQ(copy.v[101].name, "zz");
    aa_labels_clear(&copy);
    aa_labels_clear(&ls);
}

static void test_labels_cmp(void)
{
    aa_labels a = {0}, b = {0}, empty = {0};

    CHECK_INT_EQ(aa_labels_cmp(&a, &b), 0);
    CHECK_INT_EQ(aa_labels_cmp(NULL, &empty), 0);
    aa_labels_add(&a, "job", "api");
    CHECK(aa_labels_cmp(&empty, &a) < 0);
    CHECK(aa_labels_cmp(&a, &empty) > 0);
    aa_labels_add(&b, "job", "api");
    CHECK_INT_EQ(aa_labels_cmp(&a, &b), 0);
    aa_labels_add(&b, "zone", "x");
    CHECK(aa_labels_cmp(&a, &b) < 0);
    aa_labels_add(&a, "zone", "y");
    CHECK(aa_labels_cmp(&a, &b) > 0);
    aa_labels_add(&a, "instance", "z");
    /* "instance" < "job": a now sorts by its first differing name */
    CHECK(aa_labels_cmp(&a, &b) < 0);
    aa_labels_clear(&a);
    aa_labels_clear(&b);
}

static void test_labels_copy_empty(void)
{
    aa_labels dst = {0};

    CHECK_INT_EQ(aa_labels_copy(&dst, NULL), AA_OK);
    CHECK_INT_EQ(dst.n, 0);
    CHECK(dst.v == NULL);
    CHECK_INT_EQ(aa_labels_copy(NULL, NULL), AA_EINVAL);
}

static void test_labels_format(void)
{
    aa_labels ls = {0};
    char buf[128];
    char tiny[8];

    CHECK_STR_EQ(aa_labels_format(&ls, buf, sizeof(buf)), "{}");
    CHECK_STR_EQ(aa_labels_format(NULL, buf, sizeof(buf)), "{}");
    aa_labels_add(&ls, "path", "a\"b\\c\nd");
    aa_labels_add(&ls, "job", "api");
    CHECK_STR_EQ(aa_labels_format(&ls, buf, sizeof(buf)),
                 "{job=\"api\", path=\"a\\\"b\\\\c\\nd\"}");
    /* truncation keeps the buffer terminated */
    aa_labels_format(&ls, tiny, sizeof(tiny));
    CHECK_INT_EQ(strlen(tiny), sizeof(tiny) - 1);
    CHECK_STR_EQ(tiny, "{job=\"a");
    aa_labels_clear(&ls);
}

static void test_vector(void)
{
    aa_vector vec = {0};
    aa_labels ls = {0};
    char value[16];
    int i;

    for (i = 0; i < 37; i++) {
        snprintf(value, sizeof(value), "i%d", i);
        aa_labels_add(&ls, "instance", value);
        CHECK_INT_EQ(aa_vector_push(&vec, &ls, i * 0.5), AA_OK);
    }
    CHECK_INT_EQ(aa_vector_push(&vec, NULL, NAN), AA_OK);
    CHECK_INT_EQ(vec.n, 38);
    CHECK_STR_EQ(aa_labels_get(&vec.v[0].labels, "instance"), "i0");
    CHECK_STR_EQ(aa_labels_get(&vec.v[36].labels, "instance"), "i36");
    CHECK_DBL_NEAR(vec.v[36].value, 18.0, 1e-12);
    CHECK(isnan(vec.v[37].value));
    CHECK_INT_EQ(vec.v[37].labels.n, 0);
    /* labels were copied: changing the source changes nothing */
    aa_labels_add(&ls, "instance", "changed");
    CHECK_STR_EQ(aa_labels_get(&vec.v[36].labels, "instance"), "i36");
    CHECK_INT_EQ(aa_vector_push(NULL, &ls, 1), AA_EINVAL);
    aa_vector_clear(&vec);
    CHECK_INT_EQ(vec.n, 0);
    aa_vector_clear(&vec);
    aa_vector_clear(NULL);
    aa_labels_clear(&ls);
}

static void test_matrix(void)
{
    aa_matrix m = {0};
    aa_labels ls = {0};
    aa_range_series *s = NULL;
    int i, j;

    for (i = 0; i < 9; i++) {
        char v[8];

        snprintf(v, sizeof(v), "%d", i);
        aa_labels_add(&ls, "n", v);
        CHECK_INT_EQ(aa_matrix_push(&m, &ls, &s), AA_OK);
        CHECK(s == &m.v[i]);
        for (j = 0; j < 65; j++) {
            CHECK_INT_EQ(aa_range_series_push(s, 1000 * j, i + j), AA_OK);
        }
    }
    CHECK_INT_EQ(m.n, 9);
    for (i = 0; i < 9; i++) {
        CHECK_INT_EQ(m.v[i].n, 65);
        CHECK_INT_EQ(m.v[i].pts[64].t_ms, 64000);
        CHECK_DBL_NEAR(m.v[i].pts[64].v, i + 64, 1e-12);
    }
    CHECK_INT_EQ(aa_matrix_push(&m, NULL, NULL), AA_OK);
    CHECK_INT_EQ(m.v[9].n, 0);
    CHECK_INT_EQ(aa_matrix_push(NULL, &ls, &s), AA_EINVAL);
    CHECK(s == NULL);
    CHECK_INT_EQ(aa_range_series_push(NULL, 0, 0), AA_EINVAL);
    aa_matrix_clear(&m);
    CHECK_INT_EQ(m.n, 0);
    aa_matrix_clear(NULL);
    aa_labels_clear(&ls);
}

static void test_escape(void)
{
    char buf[64];
    aa_labels ls = {0};

    /* aa_labels_format goes through aat_escape (tested in test_text.c) */
    aa_labels_add(&ls, "path", "C:\\x \"q\"\n");
    CHECK_STR_EQ(aa_labels_format(&ls, buf, sizeof(buf)),
                 "{path=\"C:\\\\x \\\"q\\\"\\n\"}");
    aa_labels_clear(&ls);
}

int main(void)
{
    test_labels_sorted();
    test_labels_many();
    test_labels_cmp();
    test_labels_copy_empty();
    test_labels_format();
    test_vector();
    test_matrix();
    test_escape();
    return check_report("test_series");
}
