/*
 * test_probe_httpd.c: the exporter's HTTP server under clients that hold
 * connections: a full table still serves a client that sends its request
 * at once (the oldest connection without a complete head is evicted), a
 * client address cannot hold more than its share, and slow heads are
 * closed at their deadline.  Small limits keep it fast; the Python
 * suite repeats the slowloris case at full size.
 */
#include "aap_httpd.h"
#include "check.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define BIG_BODY (3u << 20)

/* Byte i of the big body: a pattern whose every shift is visible. */
static char big_byte(size_t i)
{
    return (char)('a' + (i * 7 + i / 4093) % 26);
}

static unsigned pages; /* big pages rendered: the server thread's */

/* The big page number n: its number in 8 digits, then the pattern
 * shifted by n, so that no two pages are alike (a buffer reused while
 * still being sent shows). */
static void big_page(aat_buf *b, unsigned n)
{
    char chunk[4096];
    size_t i, j;

    aat_buf_reserve(b, BIG_BODY);
    aat_buf_appendf(b, "%08u", n);
    for (i = 8; i < BIG_BODY; i += j) {
        for (j = 0; j < sizeof(chunk) && i + j < BIG_BODY; j++) {
            chunk[j] = big_byte(i + j + n * 13);
        }
        aat_buf_append(b, chunk, j);
    }
}

/* Bytes of body that are right for the big page it says it is. */
static size_t big_page_ok(const char *body)
{
    unsigned n = 0;
    size_t i;

    for (i = 0; i < 8; i++) {
        if (body[i] < '0' || body[i] > '9') {
            return i;
        }
        n = n * 10 + (unsigned)(body[i] - '0');
    }
    for (; i < BIG_BODY && body[i] == big_byte(i + n * 13); i++) {
    }
    return i;
}

static void handler(void *ctx, const aap_httpreq *req, aap_httpd_reply *r)
{
    (void)ctx;
    if (req->route == AAP_R_BLOCKS) { /* a big page, as 8 workers' */
        big_page(r->body, pages++);
        r->status = 200;
        return;
    }
    r->status = req->route == AAP_R_METRICS ? 200 : 404;
    aat_buf_append(r->body, "ok\n", 3);
}

static aap_httpd *start(int *port, size_t max, size_t per_addr,
                        uint64_t head_ns)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    aap_httpd_config c;
    aap_httpd *d = NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(listen(fd, 128) == 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.handler = handler;
    c.max_conns = max;
    c.max_per_addr = per_addr;
    c.head_timeout_ns = head_ns;
    CHECK_INT_EQ(aap_httpd_start(&c, &d), 0);
    return d;
}

/* A connection to port from source address src (127.x.y.z). */
static int dial(int port, const char *src)
{
    struct sockaddr_in a, s;
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&s, 0, sizeof(s));
    s.sin_family = AF_INET;
    inet_pton(AF_INET, src, &s.sin_addr);
    bind(fd, (struct sockaddr *)&s, sizeof(s));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether the server closed fd (EOF within ms). */
static int closed_by_server(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c;

    if (poll(&p, 1, ms) <= 0) {
        return 0;
    }
    return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

static int scrape(int port, const char *src)
{
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    char buf[512];
    size_t got = 0;
    ssize_t n;
    int fd = dial(port, src), ok;

    if (fd < 0) {
        return 0;
    }
    if (write(fd, req, sizeof(req) - 1) < 0) {
        close(fd);
        return 0;
    }
    while (got + 1 < sizeof(buf) &&
           (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    ok = strstr(buf, "HTTP/1.1 200 OK") != NULL && strstr(buf, "\r\n\r\nok");
    return ok;
}

static void test_full_table(void)
{
    aap_httpd_stats st;
    aap_httpd *d;
    int port, fds[40], i, served = 0;

    d = start(&port, 8, 8, 10000000000ull);
    /* far more trickling connections than the table holds */
    for (i = 0; i < 40; i++) {
        fds[i] = dial(port, "127.0.0.1");
        CHECK(fds[i] >= 0);
        CHECK(write(fds[i], "G", 1) == 1);
    }
    for (i = 0; i < 5; i++) {
        served += scrape(port, "127.0.0.1");
    }
    CHECK_INT_EQ(served, 5);
    /* the oldest trickler was evicted, the newest are still open */
    CHECK(closed_by_server(fds[0], 2000));
    CHECK(!closed_by_server(fds[39], 50));
    aap_httpd_stats_get(d, &st);
    CHECK(st.evicted >= 32);
    CHECK(st.served >= 5);
    for (i = 0; i < 40; i++) {
        close(fds[i]);
    }
    aap_httpd_free(d);
}

static void test_per_address(void)
{
    aap_httpd *d;
    int port, a[6], b, i, open_a = 0;

    d = start(&port, 16, 4, 10000000000ull);
    for (i = 0; i < 6; i++) {
        a[i] = dial(port, "127.0.0.2");
        CHECK(a[i] >= 0);
        usleep(20000); /* accepted in order */
    }
    b = dial(port, "127.0.0.3");
    CHECK(b >= 0);
    usleep(100000);
    for (i = 0; i < 6; i++) {
        open_a += !closed_by_server(a[i], 100);
    }
    /* one address keeps at most its share, the oldest going first */
    CHECK_INT_EQ(open_a, 4);
    CHECK(closed_by_server(a[0], 10));
    CHECK(!closed_by_server(b, 10));
    /* another address is still served */
    CHECK(scrape(port, "127.0.0.4"));
    for (i = 0; i < 6; i++) {
        close(a[i]);
    }
    close(b);
    aap_httpd_free(d);
}

static void test_head_deadline(void)
{
    aap_httpd_stats st;
    aap_httpd *d;
    uint64_t t0;
    int port, fd;

    d = start(&port, 8, 8, 300000000ull);
    fd = dial(port, "127.0.0.1");
    t0 = aap_now_ns();
    CHECK(write(fd, "GET /metrics HTTP/1.1\r\n", 23) == 23);
    CHECK(closed_by_server(fd, 5000));
    CHECK(aap_now_ns() - t0 >= 250000000ull);
    aap_httpd_stats_get(d, &st);
    CHECK_INT_EQ(st.timed_out, 1);
    close(fd);
    aap_httpd_free(d);
}

/* Reads exactly n bytes (5 s receive timeout per read); 1 when it did. */
static int read_n(int fd, char *buf, size_t n, size_t chunk)
{
    size_t got = 0;

    while (got < n) {
        size_t want = n - got < chunk ? n - got : chunk;
        ssize_t k = read(fd, buf + got, want);

        if (k <= 0) {
            return 0;
        }
        got += (size_t)k;
    }
    return 1;
}

/* The head and body of a response go out as they are, also when the
 * socket takes them in pieces that cut the head from the body or the body
 * anywhere: a reader with a 64 KiB receive buffer, reading 1000 bytes at a
 * time, gets two pipelined big responses (GET, HEAD, GET) byte for byte,
 * with Content-Length the body's and HEAD's without a body. */
static void test_big_body_slow_reader(void)
{
    const char req[] = "GET /debug/blocks HTTP/1.1\r\nHost: x\r\n\r\n"
                       "HEAD /debug/blocks HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /debug/blocks HTTP/1.1\r\nHost: x\r\n\r\n";
    char head[512], want[64];
    char *body = malloc(BIG_BODY);
    aap_httpd *d;
    int port, fd, rcv = 65536, r, bad = 0;
    size_t hl;

    CHECK(body != NULL);
    d = start(&port, 8, 8, 2000000000ull);
    fd = dial(port, "127.0.0.1");
    CHECK(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    CHECK(write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1));
    snprintf(want, sizeof(want), "Content-Length: %u\r\n", BIG_BODY);
    for (r = 0; r < 3; r++) {
        /* the head, up to its blank line, one byte at a time */
        hl = 0;
        while (hl < 4 || memcmp(head + hl - 4, "\r\n\r\n", 4) != 0) {
            CHECK(hl + 1 < sizeof(head));
            if (hl + 1 >= sizeof(head) || !read_n(fd, head + hl, 1, 1)) {
                bad = 1;
                break;
            }
            hl++;
        }
        if (bad) {
            break;
        }
        head[hl] = '\0';
        CHECK_STR_CONTAINS(head, "HTTP/1.1 200 OK\r\n");
        CHECK_STR_CONTAINS(head, want);
        CHECK_STR_CONTAINS(head, "Connection: keep-alive\r\n");
        if (r == 1) {
            continue; /* HEAD: no body; the next head follows at once */
        }
        if (!read_n(fd, body, BIG_BODY, 1000)) {
            bad = 1;
            break;
        }
        CHECK_INT_EQ((long long)big_page_ok(body), (long long)BIG_BODY);
    }
    CHECK_INT_EQ(bad, 0);
    close(fd);
    free(body);
    aap_httpd_free(d);
}

/* The head of a response, up to its blank line, one byte at a time; 1
 * when it is a 200 with the big page's Content-Length. */
static int read_big_head(int fd)
{
    char head[512], want[64];
    size_t hl = 0;

    while (hl < 4 || memcmp(head + hl - 4, "\r\n\r\n", 4) != 0) {
        if (hl + 1 >= sizeof(head) || !read_n(fd, head + hl, 1, 1)) {
            return 0;
        }
        hl++;
    }
    head[hl] = '\0';
    snprintf(want, sizeof(want), "Content-Length: %u\r\n", BIG_BODY);
    return strstr(head, "HTTP/1.1 200 OK\r\n") && strstr(head, want);
}

/* The server keeps the storage of the last body it sent for the next
 * one: two clients reading big pages at the same time, 1000 bytes each
 * in turn, twice, must each get their own page intact (a body handed to
 * a request while another response still sends from it would show as
 * the other page's bytes). */
static void test_spare_body_not_shared(void)
{
    const char req[] = "GET /debug/blocks HTTP/1.1\r\nHost: x\r\n\r\n";
    char *body[2];
    unsigned seen[4];
    aap_httpd *d;
    int port, fd[2], rcv = 65536, k, r, ok = 1;
    size_t off;

    body[0] = malloc(BIG_BODY);
    body[1] = malloc(BIG_BODY);
    CHECK(body[0] && body[1]);
    d = start(&port, 8, 8, 2000000000ull);
    for (k = 0; k < 2; k++) {
        fd[k] = dial(port, "127.0.0.1");
        CHECK(fd[k] >= 0);
        setsockopt(fd[k], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    }
    for (r = 0; r < 2 && ok; r++) {
        for (k = 0; k < 2; k++) {
            ok = ok && write(fd[k], req, sizeof(req) - 1) ==
                           (ssize_t)(sizeof(req) - 1);
        }
        for (k = 0; k < 2; k++) {
            ok = ok && read_big_head(fd[k]);
        }
        for (off = 0; ok && off < BIG_BODY; off += 1000) {
            size_t n = BIG_BODY - off < 1000 ? BIG_BODY - off : 1000;

            for (k = 0; k < 2; k++) {
                ok = ok && read_n(fd[k], body[k] + off, n, n);
            }
        }
        for (k = 0; ok && k < 2; k++) {
            CHECK_INT_EQ((long long)big_page_ok(body[k]), (long long)BIG_BODY);
            seen[r * 2 + k] = (unsigned)strtoul(body[k], NULL, 10);
        }
    }
    CHECK_INT_EQ(ok, 1);
    if (ok) {
        /* four different pages */
        CHECK(seen[0] != seen[1] && seen[2] != seen[3] && seen[0] != seen[2] &&
              seen[1] != seen[3]);
    }
    close(fd[0]);
    close(fd[1]);
    free(body[0]);
    free(body[1]);
    aap_httpd_free(d);
}

int main(void)
{
    test_full_table();
    test_per_address();
    test_head_deadline();
    test_big_body_slow_reader();
    test_spare_body_not_shared();
    return check_report("test_probe_httpd");
}
