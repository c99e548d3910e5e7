/*
 * aap_http.c: the exporter.  libmicrohttpd runs its own polling thread, so
 * /metrics and /debug/blocks are answered from C-side state without the
 * GIL, which is exactly when they matter: while the event loop is frozen.
 * We create the listening socket ourselves so a port in use surfaces as an
 * errno the caller can raise, and cap connections, per-connection memory
 * and idle time so a slow or abusive client cannot tie the exporter up.
 */
#include "aap_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXP_CONN_LIMIT 128
#define EXP_PER_IP_LIMIT 128
#define EXP_TIMEOUT_S 5
#define EXP_CONN_MEMORY (32 * 1024)

static pthread_mutex_t exp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *exp_daemon;
static int exp_fd = -1;
static int exp_port;
static char exp_host[256];
static int exp_req_port;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *ctype, char *body, size_t len)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
                                  const char *msg)
{
    char *body = strdup(msg);

    if (!body) {
        return MHD_NO;
    }
    return reply(c, status, "text/plain; charset=utf-8", body, strlen(body));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    aat_buf t;
    int rc;

    (void)cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    *upload_data_size = 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "method not allowed\n");
    }
    aat_buf_init(&t, AAP_TEXT_MAX);
    if (strcmp(url, "/metrics") == 0) {
        rc = aap_render_metrics(&t);
        if (rc < 0 || !t.data) {
            aat_buf_release(&t);
            return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              "cannot render metrics\n");
        }
        return reply(c, MHD_HTTP_OK,
                     "text/plain; version=0.0.4; "
                     "charset=utf-8",
                     t.data, t.len);
    }
    if (strcmp(url, "/debug/blocks") == 0) {
        rc = aap_render_blocks(&t);
        if (rc < 0 || !t.data) {
            aat_buf_release(&t);
            return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              "cannot render blocks\n");
        }
        return reply(c, MHD_HTTP_OK, "application/json", t.data, t.len);
    }
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* Listening socket for host:port; -1 with *err set on failure. */
static int open_listener(const char *host, int port, int *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[16];
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        *err = rc == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
        return -1;
    }
    *err = EADDRNOTAVAIL;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            *err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 64) == 0) {
            break;
        }
        *err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int bound_port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        return 0;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return 0;
}

int aap_exporter_start(const char *host, int port, int *bound_port,
                       int *sys_errno)
{
    sigset_t all, old;
    int fd, rc = 0;

    *bound_port = 0;
    *sys_errno = 0;
    if (!host || port < 0 || port > 65535 || strlen(host) >= 256) {
        return AAP_EINVAL;
    }
    pthread_mutex_lock(&exp_lock);
    if (exp_daemon) {
        if (strcmp(host, exp_host) == 0 &&
            (port == exp_req_port || port == exp_port)) {
            *bound_port = exp_port;
        } else {
            rc = AAP_EBUSY;
        }
        goto out;
    }
    fd = open_listener(host, port, sys_errno);
    if (fd < 0) {
        rc = AAP_EBIND;
        goto out;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    exp_daemon = MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD, 0, NULL, NULL, handle, NULL,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)EXP_CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)EXP_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)EXP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)EXP_CONN_MEMORY, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!exp_daemon) {
        close(fd);
        rc = AAP_EHTTP;
        goto out;
    }
    exp_fd = fd;
    exp_port = bound_port_of(fd);
    exp_req_port = port;
    snprintf(exp_host, sizeof(exp_host), "%s", host);
    *bound_port = exp_port;
out:
    pthread_mutex_unlock(&exp_lock);
    return rc;
}

void aap_exporter_stop(void)
{
    struct MHD_Daemon *d;

    pthread_mutex_lock(&exp_lock);
    d = exp_daemon;
    exp_daemon = NULL;
    exp_fd = -1;
    exp_port = 0;
    exp_host[0] = '\0';
    pthread_mutex_unlock(&exp_lock);
    if (d) {
        MHD_stop_daemon(d); /* joins its thread, closes the socket */
    }
}

int aap_exporter_port(void)
{
    int p;

    pthread_mutex_lock(&exp_lock);
    p = exp_daemon ? exp_port : 0;
    pthread_mutex_unlock(&exp_lock);
    return p;
}

void aap_exporter_fork(int phase)
{
    if (phase == 0) {
        pthread_mutex_lock(&exp_lock);
    } else if (phase == 1) {
        pthread_mutex_unlock(&exp_lock);
    } else {
        /* The daemon's thread does not exist in the child and its state
         * cannot be torn down safely: drop it and close our copy of the
         * listening socket so the parent alone accepts on it. */
        pthread_mutex_init(&exp_lock, NULL);
        if (exp_fd >= 0) {
            close(exp_fd);
        }
        exp_daemon = NULL;
        exp_fd = -1;
        exp_port = 0;
        exp_host[0] = '\0';
    }
}
