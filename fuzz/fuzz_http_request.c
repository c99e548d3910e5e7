/*
 * fuzz_http_request.c: arbitrary bytes sent to the probe's exporter over a
 * real loopback connection.  The exporter faces whatever connects to its
 * port, so the server (aap_httpd.c), its parser (aap_httpreq.c, also
 * fuzzed alone by fuzz_httpreq) and the handler must survive any input,
 * answer well-formed requests correctly and never hang.
 */
#include "aap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int port;

static void setup_once(void)
{
    static aap_loop *loop;
    aap_exporter_info info;
    aap_loop_config c;
    int err = 0;

    memset(&c, 0, sizeof(c));
    c.name = "fuzz";
    c.implementation = "asyncio";
    c.version = "fuzz";
    c.lag_interval_ns = 10000000;
    c.threshold_ns = 50000000;
    if (aap_loop_new(&c, &loop) < 0 ||
        aap_exporter_start("127.0.0.1", 0, NULL, &info, &err) < 0) {
        abort();
    }
    port = info.port;
    aap_http_observe("GET", "/fuzz", 200, 1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char exact[] = "GET /metrics HTTP/1.0\r\n\r\n";
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    char buf[4096];
    size_t off = 0, got = 0;
    int fd;

    if (!port) {
        setup_once();
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return 0;
    }
    while (off < size) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);

        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        if (got == sizeof(buf) - 1) {
            got = 0; /* keep reading, keep the first bytes only once */
        }
    }
    close(fd);
    if (size == sizeof(exact) - 1 && memcmp(data, exact, size) == 0) {
        /* a well-formed scrape must be answered */
        buf[got] = '\0';
        if (got == 0) {
            abort();
        }
    }
    return 0;
}
