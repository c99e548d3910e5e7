/*
 * test_probe_exporter.c: the exporter over real sockets: paths, methods
 * and the requests it must refuse, /debug/blocks on and off, clients that
 * connect and never finish their request, a port held by another program
 * (EADDRINUSE) and a port shared with another process of ours
 * (SO_REUSEPORT).
 */
#include "aap.h"
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int connect_to(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

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

/* Send req, read the whole response into buf (NUL-terminated). */
static int request(int port, const char *req, size_t len, char *buf,
                   size_t cap)
{
    int fd = connect_to(port);
    size_t got = 0;
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    if (write(fd, req, len) < 0) {
        close(fd);
        return -1;
    }
    while (got + 1 < cap && (n = read(fd, buf + got, cap - 1 - got)) > 0) {
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    return (int)got;
}

#define REQ(port, lit, buf)                                                   \
    request(port, lit, sizeof(lit) - 1, buf, sizeof(buf))

/* A port held by a plain socket (opt: SO_REUSEPORT) of this process. */
static int hold_port(int reuseport, int *port)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (reuseport) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
        close(fd);
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_serve(void)
{
    static char buf[1 << 20];
    aap_exporter_info info, info2;
    aap_loop_config c;
    aap_loop *L = NULL;
    int port, err = 0, fds[40], i;
    char want[256];

    memset(&c, 0, sizeof(c));
    c.name = "main";
    c.implementation = "asyncio";
    c.version = "9.9";
    c.lag_interval_ns = 10000000;
    c.threshold_ns = 50000000;
    CHECK_INT_EQ(aap_loop_new(&c, &L), 0);
    aap_loop_busy_begin(L, aap_now_ns() - 2000000000ull);

    CHECK_INT_EQ(aap_exporter_start("127.0.0.1", 0, NULL, &info, &err), 0);
    port = info.port;
    CHECK(port > 0);
    CHECK(info.loopback);
    CHECK(info.debug_blocks); /* on by default on loopback */
    CHECK(!info.grouped);     /* port 0: private */
    CHECK_INT_EQ(aap_exporter_port(), port);
    CHECK_INT_EQ(aap_exporter_start("127.0.0.1", 0, NULL, &info2, &err), 0);
    CHECK_INT_EQ(info2.port, port);
    CHECK_INT_EQ(aap_exporter_start("127.0.0.2", 0, NULL, &info2, &err),
                 AAP_EBUSY);

    CHECK(REQ(port, "GET /metrics HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, "HTTP/1.1 200 OK\r\n");
    CHECK_STR_CONTAINS(buf, "text/plain; version=0.0.4");
    snprintf(want, sizeof(want),
             "python_asyncio_probe_info{worker=\"%d\",version=\"9.9\","
             "loop_implementation=\"asyncio\"} 1\n",
             (int)getpid());
    CHECK_STR_CONTAINS(buf, want);
    snprintf(want, sizeof(want),
             "python_asyncio_loop_current_block_seconds{worker=\"%d\"} 2",
             (int)getpid());
    CHECK_STR_CONTAINS(buf, want);
    /* the watchdog opens the episode within half a threshold */
    for (i = 0; i < 200; i++) {
        CHECK(REQ(port, "GET /debug/blocks HTTP/1.0\r\n\r\n", buf) > 0);
        if (strstr(buf, "\"ongoing\":true")) {
            break;
        }
        usleep(10000);
    }
    CHECK_STR_CONTAINS(buf, "application/json");
    CHECK_STR_CONTAINS(buf, "\"ongoing\":true");

    /* exact paths only */
    CHECK(REQ(port, "GET /other HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 404 Not Found");
    CHECK(REQ(port, "GET /metrics%00 HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 404 Not Found");
    CHECK(REQ(port, "GET /metrics/ HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 404 Not Found");
    CHECK(REQ(port, "GET /%6detrics HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 404 Not Found");
    CHECK(request(port, "GET /metrics\0 HTTP/1.0\r\n\r\n", 27, buf,
                  sizeof(buf)) > 0);
    CHECK_STR_CONTAINS(buf, " 400 Bad Request");
    /* a query is allowed and ignored */
    CHECK(REQ(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 200 OK");
    /* methods */
    CHECK(REQ(port, "DELETE /metrics HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 405 Method Not Allowed");
    CHECK_STR_CONTAINS(buf, "Allow: GET, HEAD\r\n");
    CHECK(REQ(port, "HEAD /metrics HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 200 OK");
    CHECK(strstr(buf, "python_asyncio") == NULL);
    CHECK(strstr(buf, "Content-Length: 0\r\n") == NULL);
    /* malformed and unsupported */
    CHECK(REQ(port, "GET /metrics HTTP/2.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 505 ");
    CHECK(REQ(port, "GET /metrics HTTP/1.1\r\nX: a\r\n b\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 400 Bad Request");

    /* keep-alive: two requests on one connection */
    {
        int fd = connect_to(port);
        const char *two = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /nope HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n";
        size_t got = 0;
        ssize_t n;

        CHECK(fd >= 0);
        CHECK(write(fd, two, strlen(two)) == (ssize_t)strlen(two));
        while (got + 1 < sizeof(buf) &&
               (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
            got += (size_t)n;
        }
        buf[got] = '\0';
        close(fd);
        CHECK_STR_CONTAINS(buf, "Connection: keep-alive\r\n");
        CHECK_STR_CONTAINS(buf, " 404 Not Found");
    }

    /* idle and half-sent connections do not stop a real scrape */
    for (i = 0; i < 40; i++) {
        fds[i] = connect_to(port);
        if (fds[i] >= 0 && i % 2) {
            CHECK(write(fds[i], "GET /metr", 9) == 9);
        }
    }
    CHECK(REQ(port, "GET /metrics HTTP/1.0\r\n\r\n", buf) > 0);
    CHECK_STR_CONTAINS(buf, " 200 OK");
    for (i = 0; i < 40; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    /* oversized heads are refused, not buffered without bound */
    {
        static char big[100000];

        memset(big, 'a', sizeof(big));
        memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 26);
        memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
        request(port, big, sizeof(big) - 1, buf, sizeof(buf));
        CHECK(strstr(buf, " 200 OK") == NULL);
        CHECK_STR_CONTAINS(buf, " 431 ");
    }
    CHECK_INT_EQ(aap_exporter_port(), port);
    aap_exporter_stop(0);
    {
        int fd = connect_to(port);

        CHECK(fd < 0);
        if (fd >= 0) {
            close(fd);
        }
    }
    CHECK_INT_EQ(aap_exporter_port(), 0);

    /* /debug/blocks switched off */
    {
        aap_exporter_opts o = {0};

        CHECK_INT_EQ(aap_exporter_start("127.0.0.1", 0, &o, &info, &err), 0);
        CHECK(!info.debug_blocks);
        CHECK(REQ(info.port, "GET /debug/blocks HTTP/1.0\r\n\r\n", buf) > 0);
        CHECK_STR_CONTAINS(buf, " 404 Not Found");
        aap_exporter_stop(0);
    }
    aap_loop_free(L);
}

static void test_ports(void)
{
    aap_exporter_info info;
    int fd, port = 0, err = 0;

    /* held by a program that does not share it */
    fd = hold_port(0, &port);
    CHECK(fd >= 0);
    CHECK_INT_EQ(aap_exporter_start("127.0.0.1", port, NULL, &info, &err),
                 AAP_EBIND);
    CHECK_INT_EQ(err, EADDRINUSE);
    CHECK_INT_EQ(aap_exporter_port(), 0);
    close(fd);
    /* shared with SO_REUSEPORT, as another worker of ours does */
    fd = hold_port(1, &port);
    CHECK(fd >= 0);
    CHECK_INT_EQ(aap_exporter_start("127.0.0.1", port, NULL, &info, &err), 0);
    CHECK_INT_EQ(info.port, port);
    aap_exporter_stop(1);
    close(fd);
}

int main(void)
{
    test_serve();
    test_ports();
    aap_shutdown();
    return check_report("test_probe_exporter");
}
