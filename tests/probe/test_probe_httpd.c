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
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void handler(void *ctx, const aap_httpreq *req, aap_httpd_reply *r)
{
    (void)ctx;
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

int main(void)
{
    test_full_table();
    test_per_address();
    test_head_deadline();
    return check_report("test_probe_httpd");
}
