/*
 * test_probe_metrics.c: histograms, bounded text, label escaping, the
 * CPython location-table decoder and the bounded HTTP table.
 */
#include "aap.h"
#include "check.h"

static void test_hist(void)
{
    static const double b[] = {0.01, 0.1, 1};
    aap_hist h;
    aat_buf t;

    aap_hist_init(&h, b, 3);
    aap_hist_observe(&h, 10000000, 1);      /* 0.01 -> le=0.01 (inclusive) */
    aap_hist_observe(&h, 50000000, 2);      /* 0.05 x2 */
    aap_hist_observe(&h, 5000000000ull, 1); /* 5 s -> +Inf */
    CHECK_INT_EQ(aap_hist_count(&h), 4);
    CHECK_DBL_NEAR(aap_hist_sum(&h), 5.11, 1e-9);
    aat_buf_init(&t, AAP_TEXT_MAX);
    aap_hist_render(&t, "x", "", &h);
    CHECK(!t.failed);
    CHECK_STR_CONTAINS(t.data, "x_bucket{le=\"0.01\"} 1\n");
    CHECK_STR_CONTAINS(t.data, "x_bucket{le=\"0.1\"} 3\n");
    CHECK_STR_CONTAINS(t.data, "x_bucket{le=\"1\"} 3\n");
    CHECK_STR_CONTAINS(t.data, "x_bucket{le=\"+Inf\"} 4\n");
    CHECK_STR_CONTAINS(t.data, "x_count 4\n");
    aat_buf_release(&t);
    aat_buf_init(&t, AAP_TEXT_MAX);
    aap_hist_render(&t, "y", "a=\"b\"", &h);
    CHECK_STR_CONTAINS(t.data, "y_bucket{a=\"b\",le=\"1\"} 3\n");
    CHECK_STR_CONTAINS(t.data, "y_sum{a=\"b\"} 5.11");
    aat_buf_release(&t);
    aap_hist_reset(&h);
    CHECK_INT_EQ(aap_hist_count(&h), 0);
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
    char route[32];
    int i;

    aap_http_observe("BREW", "/pot\n", 418, 1000000);
    for (i = 0; i < 2000; i++) {
        snprintf(route, sizeof(route), "/r%d", i);
        aap_http_observe("GET", route, 200, 1000000);
    }
    aap_http_active_add(2);
    aat_buf_init(&t, AAP_TEXT_MAX);
    CHECK_INT_EQ(aap_render_metrics(&t), 0);
    CHECK_STR_CONTAINS(t.data, "http_server_active_requests 2\n");
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
    test_text();
    test_linetable();
    test_http_table();
    return check_report("test_probe_metrics");
}
