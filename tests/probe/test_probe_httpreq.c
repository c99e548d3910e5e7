/*
 * test_probe_httpreq.c: the exporter's request parser on a table of
 * heads: the two routes and everything that must not reach them (NUL,
 * percent-encoding, other paths and cases), methods, versions, framing
 * headers, malformed and oversized heads, incomplete ones.
 */
#include "aap_httpreq.h"
#include "check.h"

#include <string.h>

typedef struct row {
    const char *head;
    size_t len; /* 0: strlen */
    int done;
    int status;
    int method;
    int route;
    int keep_alive;
} row;

#define G AAP_M_GET
#define H AAP_M_HEAD
#define O AAP_M_OTHER
#define RM AAP_R_METRICS
#define RB AAP_R_BLOCKS
#define RN AAP_R_NONE

static const row rows[] = {
    /* routes */
    {"GET /metrics HTTP/1.0\r\n\r\n", 0, 1, 0, G, RM, 0},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, 1, 0, G, RM, 1},
    {"GET /debug/blocks HTTP/1.1\r\n\r\n", 0, 1, 0, G, RB, 1},
    {"HEAD /metrics HTTP/1.1\r\n\r\n", 0, 1, 0, H, RM, 1},
    {"GET /metrics?x=1&y HTTP/1.1\r\n\r\n", 0, 1, 0, G, RM, 1},
    {"GET /metrics%00 HTTP/1.1\r\n\r\n", 0, 1, 0, G, RN, 1},
    {"GET /%6detrics HTTP/1.1\r\n\r\n", 0, 1, 0, G, RN, 1},
    {"GET /metrics/ HTTP/1.1\r\n\r\n", 0, 1, 0, G, RN, 1},
    {"GET //metrics HTTP/1.1\r\n\r\n", 0, 1, 0, G, RN, 1},
    {"GET /METRICS HTTP/1.1\r\n\r\n", 0, 1, 0, G, RN, 1},
    {"GET /metricsx HTTP/1.1\r\n\r\n", 0, 1, 0, G, RN, 1},
    {"GET http://h/metrics HTTP/1.1\r\n\r\n", 0, 1, 0, G, RN, 1},
    {"GET /metrics#f HTTP/1.1\r\n\r\n", 0, 1, 0, G, RN, 1},
    {"GET /metrics\0 HTTP/1.1\r\n\r\n", 27, 1, 400, G, RM, 0},
    {"GET /met rics HTTP/1.1\r\n\r\n", 0, 1, 400, O, RN, 0},
    {"GET /metrics\x7f HTTP/1.1\r\n\r\n", 0, 1, 400, O, RN, 0},
    /* methods and versions */
    {"POST /metrics HTTP/1.1\r\n\r\n", 0, 1, 0, O, RM, 1},
    {"get /metrics HTTP/1.1\r\n\r\n", 0, 1, 0, O, RM, 1},
    {"GE(T /metrics HTTP/1.1\r\n\r\n", 0, 1, 400, O, RN, 0},
    {"AVERYLONGMETHODNAME /metrics HTTP/1.1\r\n\r\n", 0, 1, 501, O, RN, 0},
    {"GET /metrics HTTP/2.0\r\n\r\n", 0, 1, 505, G, RN, 0},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, 1, 505, O, RN, 0},
    {"GET /metrics HTTP/1.2\r\n\r\n", 0, 1, 505, G, RN, 0},
    {"GET /metrics HTTP/1\r\n\r\n", 0, 1, 400, G, RN, 0},
    {"GET /metrics\r\n\r\n", 0, 1, 400, O, RN, 0},
    {"GET  /metrics HTTP/1.1\r\n\r\n", 0, 1, 400, O, RN, 0},
    /* framing */
    {"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n", 0, 1, 0, G, RM, 0},
    {"GET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, 1, 0, G, RM,
     1},
    {"GET /metrics HTTP/1.1\r\nconnection: foo, CLOSE\r\n\r\n", 0, 1, 0, G, RM,
     0},
    {"GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0, 1, 0, G, RM, 1},
    {"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 0, 1, 0, G, RM,
     0},
    {"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 1, 0, G,
     RM, 0},
    {"GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     0, 1, 400, G, RM, 0},
    {"GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 0, 1, 400, G, RM,
     0},
    {"GET /metrics HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
     0, 1, 400, G, RM, 0},
    /* malformed fields */
    {"GET /metrics HTTP/1.1\r\nX : y\r\n\r\n", 0, 1, 400, G, RM, 0},
    {"GET /metrics HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 0, 1, 400, G, RM, 0},
    {"GET /metrics HTTP/1.1\r\nnocolon\r\n\r\n", 0, 1, 400, G, RM, 0},
    {"GET /metrics HTTP/1.1\r\n: empty\r\n\r\n", 0, 1, 400, G, RM, 0},
    {"GET /metrics HTTP/1.1\r\nX: a\x01b\r\n\r\n", 0, 1, 400, G, RM, 0},
    {"GET /metrics HTTP/1.1\r\nX: \t tab ok \t\r\n\r\n", 0, 1, 0, G, RM, 1},
    /* line ends and leading blank lines */
    {"GET /metrics HTTP/1.1\n\n", 0, 1, 0, G, RM, 1},
    {"\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n", 0, 1, 0, G, RM, 1},
    {"\r\n\r\n\r\n\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n", 0, 1, 400, O, RN, 0},
    /* incomplete */
    {"", 0, 0, 0, O, RN, 0},
    {"G", 0, 0, 0, O, RN, 0},
    {"GET /metrics HTTP/1.1\r\n", 0, 0, 0, O, RN, 0},
    {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r", 0, 0, 0, O, RN, 0},
};

static void test_table(void)
{
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row *r = &rows[i];
        size_t len = r->len ? r->len : strlen(r->head);
        aap_httpreq q;
        int done = aap_httpreq_parse(r->head, len, &q);

        if (done != r->done) {
            fprintf(stderr, "row %zu: %s\n", i, r->head);
        }
        CHECK_INT_EQ(done, r->done);
        if (!done) {
            continue;
        }
        if (q.status != r->status ||
            (r->status == 0 && (q.method != r->method || q.route != r->route ||
                                q.keep_alive != r->keep_alive))) {
            fprintf(stderr, "row %zu: %s\n", i, r->head);
        }
        CHECK_INT_EQ(q.status, r->status);
        CHECK(q.head_len <= len);
        if (r->status == 0) {
            CHECK_INT_EQ(q.method, r->method);
            CHECK_INT_EQ(q.route, r->route);
            CHECK_INT_EQ(q.keep_alive, r->keep_alive);
        } else {
            CHECK_INT_EQ(q.keep_alive, 0);
        }
    }
}

static void test_sizes(void)
{
    static char big[AAP_HTTPREQ_HEAD_MAX + 100];
    aap_httpreq q;
    size_t n;

    /* head_len: where the next pipelined request starts */
    n = strlen("GET /metrics HTTP/1.1\r\n\r\n");
    CHECK_INT_EQ(
        aap_httpreq_parse("GET /metrics HTTP/1.1\r\n\r\nGET /", n + 5, &q), 1);
    CHECK_INT_EQ(q.head_len, n);
    /* an unfinished head at the limit is refused */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    CHECK_INT_EQ(aap_httpreq_parse(big, AAP_HTTPREQ_HEAD_MAX - 1, &q), 0);
    CHECK_INT_EQ(aap_httpreq_parse(big, AAP_HTTPREQ_HEAD_MAX, &q), 1);
    CHECK_INT_EQ(q.status, 431);
    CHECK_INT_EQ(aap_httpreq_parse(big, sizeof(big), &q), 1);
    CHECK_INT_EQ(q.status, 431);
    CHECK(q.head_len <= AAP_HTTPREQ_HEAD_MAX);
    /* a complete head just under the limit is fine */
    n = AAP_HTTPREQ_HEAD_MAX - 4;
    memcpy(big + n, "\r\n\r\n", 4);
    CHECK_INT_EQ(aap_httpreq_parse(big, AAP_HTTPREQ_HEAD_MAX, &q), 1);
    CHECK_INT_EQ(q.status, 0);
    CHECK_INT_EQ(q.route, AAP_R_METRICS);
}

int main(void)
{
    test_table();
    test_sizes();
    return check_report("test_probe_httpreq");
}
