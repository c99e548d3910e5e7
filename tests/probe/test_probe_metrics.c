/*
 * test_probe_metrics.c: histograms, bounded text, label escaping, the
 * CPython location-table decoder and the bounded HTTP table.
 */
#include "aap.h"
#include "check.h"

#include <math.h>
#include <unistd.h>

static void test_hist(void)
{
    static const double b[] = {0.01, 0.1, 1};
    static aap_layout lay;
    _Atomic uint64_t cells[AAP_HIST_NCELLS(3)];
    uint64_t plain[AAP_HIST_NCELLS(3)];
    aap_hist h = {&lay, cells};
    aat_buf t;
    size_t i;

    CHECK_INT_EQ(aap_layout_init(&lay, b, 3), 0);
    aap_hist_reset(&h);
    aap_hist_observe(&h, 10000000, 1);      /* 0.01 -> le=0.01 (inclusive) */
    aap_hist_observe(&h, 50000000, 2);      /* 0.05 x2 */
    aap_hist_observe(&h, 5000000000ull, 1); /* 5 s -> +Inf */
    CHECK_INT_EQ(aap_hist_count(&h), 4);
    CHECK_DBL_NEAR(aap_hist_sum(&h), 5.11, 1e-9);
    for (i = 0; i < AAP_HIST_NCELLS(3); i++) {
        plain[i] = atomic_load(&cells[i]);
    }
    aat_buf_init(&t, AAP_TEXT_MAX);
    aap_hist_render(&t, "x", "", &lay, plain);
    CHECK(!t.failed);
    CHECK_STR_CONTAINS(t.data, "x_bucket{le=\"0.01\"} 1\n");
    CHECK_STR_CONTAINS(t.data, "x_bucket{le=\"0.1\"} 3\n");
    CHECK_STR_CONTAINS(t.data, "x_bucket{le=\"1\"} 3\n");
    CHECK_STR_CONTAINS(t.data, "x_bucket{le=\"+Inf\"} 4\n");
    CHECK_STR_CONTAINS(t.data, "x_count 4\n");
    aat_buf_release(&t);
    aat_buf_init(&t, AAP_TEXT_MAX);
    aap_hist_render(&t, "y", "a=\"b\"", &lay, plain);
    CHECK_STR_CONTAINS(t.data, "y_bucket{a=\"b\",le=\"1\"} 3\n");
    CHECK_STR_CONTAINS(t.data, "y_sum{a=\"b\"} 5.11");
    aat_buf_release(&t);
    aap_hist_reset(&h);
    CHECK_INT_EQ(aap_hist_count(&h), 0);
    /* bad layouts are refused */
    CHECK_INT_EQ(aap_layout_init(&lay, (const double[]){1, 1}, 2), AAP_EINVAL);
    CHECK_INT_EQ(aap_layout_init(&lay, (const double[]){0, 1}, 2), AAP_EINVAL);
}

/* The built-in layouts: Prometheus' native schemas 2 and 1, each bound
 * the correctly rounded 2^(k/4) (2^(k/2)), rendered as the shortest text
 * that reads back as that double, and observations land in the bucket
 * whose bound is the first >= the value. */
static void test_layouts(void)
{
    const aap_layout *s2 = aap_layout_get(AAP_LAYOUT_SCHEMA2);
    const aap_layout *s1 = aap_layout_get(AAP_LAYOUT_SCHEMA1);
    _Atomic uint64_t cells[AAP_HIST_NCELLS(AAP_HIST_MAX_BOUNDS)];
    aap_hist h;
    size_t i;

    CHECK(s2 && s1);
    CHECK(aap_layout_get(AAP_LAYOUT_NONE) == NULL);
    CHECK_INT_EQ(s2->n, 65);
    CHECK_INT_EQ(s1->n, 33);
    CHECK_STR_EQ(s2->le[0], "0.0009765625");
    CHECK_STR_EQ(s2->le[1], "0.0011613350732448448");
    CHECK_STR_EQ(s2->le[41], "1.189207115002721");
    CHECK_STR_EQ(s2->le[64], "64");
    CHECK_STR_EQ(s1->le[21], "1.4142135623730951");
    for (i = 0; i < s2->n; i++) {
        double want = ldexp(1.0, -10) * pow(2.0, (double)i / 4.0);

        CHECK(fabs(s2->bounds[i] - want) <= want * 1e-15);
        CHECK(strtod(s2->le[i], NULL) == s2->bounds[i]);
    }
    for (i = 0; i < s1->n; i++) {
        CHECK(strtod(s1->le[i], NULL) == s1->bounds[i]);
        CHECK(s1->bounds[i] == s2->bounds[2 * i]);
    }
    h.lay = s2;
    h.cells = cells;
    aap_hist_reset(&h);
    aap_hist_observe(&h, 1000000000, 1);     /* 1 s: exactly bound 40 */
    aap_hist_observe(&h, 1000000001, 1);     /* just above: bucket 41 */
    aap_hist_observe(&h, 100, 1);            /* below the first bound */
    aap_hist_observe(&h, 65000000000ull, 1); /* past 64 s: +Inf */
    CHECK_INT_EQ(atomic_load(&cells[40]), 1);
    CHECK_INT_EQ(atomic_load(&cells[41]), 1);
    CHECK_INT_EQ(atomic_load(&cells[0]), 1);
    CHECK_INT_EQ(atomic_load(&cells[65]), 1);
}

static void test_text(void)
{
    aat_buf t;
    size_t i;

    aat_buf_init(&t, AAP_TEXT_MAX);
    aat_buf_escape(&t, "a\"b\\c\nd", true);
    CHECK_STR_EQ(t.data, "a\\\"b\\\\c\\nd");
    aat_buf_release(&t);
    aat_buf_init(&t, AAP_TEXT_MAX);
    for (i = 0; i < (AAP_TEXT_MAX / 1000) + 10; i++) {
        aat_buf_appendf(&t, "%01000d", 0);
    }
    CHECK(t.failed);
    CHECK(t.len <= AAP_TEXT_MAX);
    aat_buf_release(&t);
}

static void test_linetable(void)
{
    /* Entries: code 10 (one-line, delta 0), len 2; code 11 (delta +1),
     * len 1; code 13 (no columns, svarint delta +3), len 3; code 15 (no
     * location), len 1; code 14 long form (delta -2), len 1. */
    static const uint8_t tab[] = {
        0x80 | (10 << 3) | 1, 0, 4,       /* units 0-1: line 5 */
        0x80 | (11 << 3) | 0, 0, 4,       /* unit 2: line 6 */
        0x80 | (13 << 3) | 2, 6,          /* units 3-5: line 9 */
        0x80 | (15 << 3) | 0,             /* unit 6: none */
        0x80 | (14 << 3) | 0, 5, 0, 1, 1, /* unit 7: line 7 */
    };

    CHECK_INT_EQ(aap_linetable_line(tab, sizeof(tab), 5, -1), 5);
    CHECK_INT_EQ(aap_linetable_line(tab, sizeof(tab), 5, 0), 5);
    CHECK_INT_EQ(aap_linetable_line(tab, sizeof(tab), 5, 1), 5);
    CHECK_INT_EQ(aap_linetable_line(tab, sizeof(tab), 5, 2), 6);
    CHECK_INT_EQ(aap_linetable_line(tab, sizeof(tab), 5, 5), 9);
    CHECK_INT_EQ(aap_linetable_line(tab, sizeof(tab), 5, 6), -1);
    CHECK_INT_EQ(aap_linetable_line(tab, sizeof(tab), 5, 7), 7);
    CHECK_INT_EQ(aap_linetable_line(tab, sizeof(tab), 5, 8), -1);
    /* garbage is rejected, not overrun */
    CHECK_INT_EQ(aap_linetable_line((const uint8_t *)"\x01\x02", 2, 1, 1), -1);
}

static void test_http_table(void)
{
    aat_buf t;
    char route[32], want[128];
    int i;

    aap_http_observe("BREW", "/pot\n", 418, 1000000);
    for (i = 0; i < 2000; i++) {
        snprintf(route, sizeof(route), "/r%d", i);
        aap_http_observe("GET", route, 200, 1000000);
    }
    aap_http_active_add(2);
    aat_buf_init(&t, AAP_TEXT_MAX);
    CHECK_INT_EQ(aap_render_metrics(&t), 0);
    snprintf(want, sizeof(want),
             "http_server_active_requests{worker=\"%d\"} 2\n", (int)getpid());
    CHECK_STR_CONTAINS(t.data, want);
    CHECK_STR_CONTAINS(t.data, "http_route=\"/r0\"");
    CHECK_STR_CONTAINS(t.data, "http_route=\"other\"");
    CHECK_STR_CONTAINS(t.data, "http_request_method=\"_OTHER\","
                               "http_route=\"/pot?\"");
    CHECK(strstr(t.data, "/r1999\"") == NULL);
    CHECK(strstr(t.data, "python_asyncio_loop") == NULL);
    aat_buf_release(&t);
    aap_http_active_add(-2);
}

int main(void)
{
    test_hist();
    test_layouts();
    test_text();
    test_linetable();
    test_http_table();
    return check_report("test_probe_metrics");
}
