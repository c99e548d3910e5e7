/*
 * test_probe_exporter.c: the libmicrohttpd exporter over real sockets:
 * paths, methods, a port in use, and clients that connect and never
 * finish their request.
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
static int request(int port, const char *req, char *buf, size_t cap)
{
    int fd = connect_to(port);
    size_t len = 0;
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return -1;
    }
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return (int)len;
}

static void test_serve(void)
{
    static char buf[1 << 20];
    aap_loop_config c;
    aap_loop *L = NULL;
    int port = 0, port2 = 0, err = 0, fds[40], i;

    memset(&c, 0, sizeof(c));
    c.name = "main";
    c.implementation = "asyncio";
    c.version = "9.9";
    c.lag_interval_ns = 10000000;
    c.threshold_ns = 50000000;
    CHECK_INT_EQ(aap_loop_new(&c, &L), 0);
    aap_loop_busy_begin(L, aap_now_ns() - 2000000000ull);

    CHECK_INT_EQ(aap_exporter_start("127.0.0.1", 0, &port, &err), 0);
    CHECK(port > 0);
    CHECK_INT_EQ(aap_exporter_port(), port);
    CHECK_INT_EQ(aap_exporter_start("127.0.0.1", 0, &port2, &err), 0);
    CHECK_INT_EQ(port2, port);
    CHECK_INT_EQ(aap_exporter_start("127.0.0.2", 0, &port2, &err), AAP_EBUSY);

    CHECK(request(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf)) >
          0);
    CHECK_STR_CONTAINS(buf, " 200 OK");
    CHECK_STR_CONTAINS(buf, "text/plain; version=0.0.4");
    CHECK_STR_CONTAINS(buf, "python_asyncio_probe_info{version=\"9.9\","
                            "loop_implementation=\"asyncio\"} 1\n");
    CHECK_STR_CONTAINS(buf, "python_asyncio_loop_current_block_seconds 2");
    /* the watchdog opens the episode within half a threshold */
    for (i = 0; i < 200; i++) {
        CHECK(request(port, "GET /debug/blocks HTTP/1.0\r\n\r\n", buf,
                      sizeof(buf)) > 0);
        if (strstr(buf, "\"ongoing\":true")) {
            break;
        }
        usleep(10000);
    }
    CHECK_STR_CONTAINS(buf, "application/json");
    CHECK_STR_CONTAINS(buf, "\"ongoing\":true");
    CHECK(request(port, "GET /other HTTP/1.0\r\n\r\n", buf, sizeof(buf)) > 0);
    CHECK_STR_CONTAINS(buf, " 404 Not Found");
    CHECK(request(port, "DELETE /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf)) >
          0);
    CHECK_STR_CONTAINS(buf, " 405 Method");
    CHECK_STR_CONTAINS(buf, "Allow: GET, HEAD");

    /* idle and half-sent connections do not stop a real scrape */
    for (i = 0; i < 40; i++) {
        fds[i] = connect_to(port);
        if (fds[i] >= 0 && i % 2) {
            CHECK(write(fds[i], "GET /metr", 9) == 9);
        }
    }
    CHECK(request(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf)) >
          0);
    CHECK_STR_CONTAINS(buf, " 200 OK");
    for (i = 0; i < 40; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    /* oversized headers are refused, not buffered without bound */
    {
        static char big[100000];

        memset(big, 'a', sizeof(big));
        memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 26);
        memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
        request(port, big, buf, sizeof(buf));
        CHECK(strstr(buf, " 200 OK") == NULL);
    }

    /* the port is in use now */
    CHECK_INT_EQ(aap_exporter_port(), port);
    aap_exporter_stop();
    {
        int fd = connect_to(port), p3 = 0;

        CHECK(fd < 0);
        if (fd >= 0) {
            close(fd);
        }
        /* occupy a port, then ask for it */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        {
            struct sockaddr_in a;
            socklen_t al = sizeof(a);

            memset(&a, 0, sizeof(a));
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
            CHECK(listen(fd, 1) == 0);
            getsockname(fd, (struct sockaddr *)&a, &al);
            CHECK_INT_EQ(
                aap_exporter_start("127.0.0.1", ntohs(a.sin_port), &p3, &err),
                AAP_EBIND);
            CHECK_INT_EQ(err, EADDRINUSE);
        }
        close(fd);
    }
    CHECK_INT_EQ(aap_exporter_port(), 0);
    aap_loop_free(L);
}

int main(void)
{
    test_serve();
    aap_shutdown();
    return check_report("test_probe_exporter");
}
