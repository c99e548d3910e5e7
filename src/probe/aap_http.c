/*
 * aap_http.c: the exporter.  It binds the address, joins the group of
 * processes serving it and runs the HTTP server (aap_httpd.c), whose
 * thread renders /metrics and /debug/blocks from C state only, without
 * the GIL: exactly when they matter, while an event loop is frozen.
 *
 * Several processes serve one address: each binds it with SO_REUSEPORT
 * (Linux lets only sockets of the same effective user share a port) and
 * renders the whole group from the arena files in the group directory,
 * so whichever process the kernel hands a connection to answers for all
 * of them, and the death of any one leaves the others serving.  A port
 * held by a process that is not one of ours (no SO_REUSEPORT, or another
 * user) fails the bind: EADDRINUSE, as before.  Port 0 asks for a free
 * port: a private exporter, never shared.
 */
#include "aap_int.h"
#include "aap_httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_mutex_t exp_lock = PTHREAD_MUTEX_INITIALIZER;
static aap_httpd *exp_srv;
static char exp_host[256];
static int exp_req_port;
static aap_exporter_info exp_info;
static _Atomic int exp_debug_blocks;
static size_t metrics_hint; /* the server thread's only */

static void handle(void *ctx, const aap_httpreq *req, aap_httpd_reply *r)
{
    int rc;

    (void)ctx;
    if (req->route == AAP_R_METRICS) {
        /* the page is about as long as the last one: one allocation */
        aat_buf_reserve(r->body, metrics_hint + metrics_hint / 8);
        rc = aap_render_metrics(r->body);
        if (rc >= 0) {
            metrics_hint = r->body->len;
        }
        r->status = rc < 0 ? 500 : 200;
        r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else if (req->route == AAP_R_BLOCKS &&
               atomic_load_explicit(&exp_debug_blocks, memory_order_relaxed)) {
        rc = aap_render_blocks(r->body);
        r->status = rc < 0 ? 500 : 200;
        r->ctype = "application/json";
    } else {
        r->status = 404;
    }
}

/* Listening socket for host:port; -1 with *err set on failure. */
static int open_listener(const char *host, int port, int shared, int *err)
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
        if (shared) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 128) == 0) {
            break;
        }
        *err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Bound port of fd, and whether its address is a loopback one. */
static int bound_port_of(int fd, int *loopback)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    *loopback = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        return 0;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        return ntohs(a->sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
                    (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) &&
                     a->sin6_addr.s6_addr[12] == 127);
        return ntohs(a->sin6_port);
    }
    return 0;
}

/* Join the group of host:port (its directory into path); 0 or the errno
 * that prevented it. */
static int join_group(const char *host, int port, char *path, size_t cap)
{
    int tries, err = 0;

    for (tries = 0; tries < 2; tries++) {
        int gfd = aap_group_open(host, port, path, cap, &err);
        int rc;

        if (gfd < 0) {
            return err ? err : EIO;
        }
        rc = aap_state_join(gfd, &err);
        close(gfd);
        if (rc == 0) {
            aap_group_sweep_home();
            return 0;
        }
        if (err != ENOENT) {
            break; /* ENOENT: a sweep removed the empty directory */
        }
    }
    return err ? err : EIO;
}

int aap_exporter_start(const char *host, int port,
                       const aap_exporter_opts *opts, aap_exporter_info *info,
                       int *sys_errno)
{
    aap_httpd_config c;
    aap_exporter_info in;
    int fd, rc = 0;

    memset(info, 0, sizeof(*info));
    *sys_errno = 0;
    if (!host || port < 0 || port > 65535 || strlen(host) >= 256) {
        return AAP_EINVAL;
    }
    pthread_mutex_lock(&exp_lock);
    if (exp_srv) {
        if (strcmp(host, exp_host) == 0 &&
            (port == exp_req_port || port == exp_info.port)) {
            *info = exp_info;
        } else {
            rc = AAP_EBUSY;
        }
        goto out;
    }
    rc = aap_state_ensure();
    if (rc < 0) {
        goto out;
    }
    aap_http_ensure();
    fd = open_listener(host, port, port != 0, sys_errno);
    if (fd < 0) {
        rc = AAP_EBIND;
        goto out;
    }
    memset(&in, 0, sizeof(in));
    in.port = bound_port_of(fd, &in.loopback);
    in.debug_blocks =
        !opts || opts->debug_blocks < 0 ? in.loopback : opts->debug_blocks;
    if (port != 0) {
        in.group_errno =
            join_group(host, port, in.group_dir, sizeof(in.group_dir));
        in.grouped = in.group_errno == 0;
    }
    memset(&c, 0, sizeof(c));
    c.fd = fd;
    c.handler = handle;
    atomic_store(&exp_debug_blocks, in.debug_blocks);
    rc = aap_httpd_start(&c, &exp_srv);
    if (rc < 0) {
        close(fd);
        goto out;
    }
    exp_req_port = port;
    exp_info = in;
    snprintf(exp_host, sizeof(exp_host), "%s", host);
    *info = in;
out:
    pthread_mutex_unlock(&exp_lock);
    return rc;
}

void aap_exporter_stop(int leave_group)
{
    aap_httpd *d;

    pthread_mutex_lock(&exp_lock);
    d = exp_srv;
    exp_srv = NULL;
    memset(&exp_info, 0, sizeof(exp_info));
    exp_host[0] = '\0';
    pthread_mutex_unlock(&exp_lock);
    aap_httpd_free(d); /* joins its thread, closes the sockets */
    if (leave_group) {
        aap_state_leave();
    }
}

int aap_exporter_port(void)
{
    int p;

    pthread_mutex_lock(&exp_lock);
    p = exp_srv ? exp_info.port : 0;
    pthread_mutex_unlock(&exp_lock);
    return p;
}

void aap_exporter_fork(int phase)
{
    if (phase == 0) {
        pthread_mutex_lock(&exp_lock);
        aap_httpd_fork(exp_srv, 0);
    } else if (phase == 1) {
        aap_httpd_fork(exp_srv, 1);
        pthread_mutex_unlock(&exp_lock);
    } else {
        /* the server's thread does not exist in the child: its sockets
         * are closed so the parent alone accepts on them */
        aap_httpd_fork(exp_srv, 2);
        exp_srv = NULL;
        memset(&exp_info, 0, sizeof(exp_info));
        exp_host[0] = '\0';
        pthread_mutex_unlock(&exp_lock);
    }
}
