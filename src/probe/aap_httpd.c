/*
 * aap_httpd.c: the exporter's HTTP/1.1 server, one thread around poll().
 *
 * Why our own: the exporter must answer while the service is in trouble,
 * including while someone holds connections open on purpose, and must
 * not bring a library (and its TLS stack) into every process it is
 * loaded in.  The server needs little: GET and HEAD of two paths, one
 * response per request, keep-alive.  What it must get right is the
 * resources a client can claim:
 *
 * - every connection has a deadline: the request head must be complete
 *   2 s after accept (or after the first byte of a later request on a
 *   kept-alive connection), an idle kept-alive connection is closed after
 *   5 s, a response must be sent within 10 s;
 * - the head is bounded (8 KiB, then 431), the table of connections too
 *   (128 in all, 32 per client address), and the response bytes held for
 *   slow readers (64 MiB in all, then 503);
 * - when the table (or a client address's share) is full, the new
 *   connection is accepted anyway and the oldest connection that has not
 *   sent a complete request head is closed instead (then one whose
 *   response has not moved for a second).  So the accept queue never
 *   fills and a client that sends its request at once, as Prometheus
 *   does, is served even while another client on the same address (the
 *   loopback case) trickles headers on hundreds of connections.
 *
 * All signals are blocked in the thread; it stops through a cancel pipe
 * and is joined.  The connection table is changed under a lock that the
 * fork handler takes, so a child can close exactly the descriptors the
 * server owned.
 */
#include "aap_httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define ACCEPT_BATCH 16
#define LINGER_NS 1000000000ull
#define STALL_NS 1000000000ull
#define PAUSE_NS 100000000ull
#define OUT_TOTAL_MAX (64u << 20)
#define PIPELINE_MAX 32
#define HEAD_OUT_MAX 4096

enum { C_READ, C_WRITE, C_LINGER };

typedef struct conn {
    int fd;
    int state;
    int family;
    unsigned char addr[16];
    uint64_t accepted;
    uint64_t deadline;
    uint64_t progress; /* last byte sent (C_WRITE) */
    char *in;          /* AAP_HTTPREQ_HEAD_MAX bytes */
    size_t inlen;
    aat_buf out;  /* the response's head */
    aat_buf body; /* and its body: sent together, never copied */
    size_t off;   /* bytes of head and body sent */
    int close_after;
    unsigned requests;
} conn;

struct aap_httpd {
    aap_httpd_config c;
    pthread_t thread;
    int cancel[2];
    pthread_mutex_t lock; /* the table: conns, n, their descriptors */
    conn *conns;
    size_t n;
    size_t out_total;
    uint64_t pause_until;
    /* the server thread's: the storage of the last body sent, kept for
     * the next one (at most one, of at most AAP_TEXT_MAX), so a page is
     * rendered into memory already faulted in */
    aat_buf spare;
    _Atomic uint64_t accepted, served, evicted, refused, timed_out;
};

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* The client's address as a key (IPv4-mapped IPv6 as IPv4). */
static void addr_key(const struct sockaddr_storage *ss, conn *c)
{
    memset(c->addr, 0, sizeof(c->addr));
    c->family = ss->ss_family;
    if (ss->ss_family == AF_INET) {
        memcpy(c->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)ss)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(a)) {
            c->family = AF_INET;
            memcpy(c->addr, a->s6_addr + 12, 4);
        } else {
            memcpy(c->addr, a->s6_addr, 16);
        }
    }
}

static int same_addr(const conn *a, const conn *b)
{
    return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

/* The response of c no longer counts in the bytes held for slow readers;
 * its body's storage becomes the spare if there is none, else is freed. */
static void out_done(aap_httpd *d, conn *c)
{
    size_t n = c->out.len + c->body.len;

    d->out_total -= n > d->out_total ? d->out_total : n;
    if (!d->spare.data && c->body.data && !c->body.failed) {
        d->spare = c->body;
        aat_buf_reset(&d->spare);
    } else {
        aat_buf_release(&c->body);
    }
    aat_buf_init(&c->body, AAP_TEXT_MAX);
    aat_buf_reset(&c->out);
}

/* With d->lock held. */
static void conn_close_locked(aap_httpd *d, conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    out_done(d, c);
    aat_buf_release(&c->out);
    free(c->in);
    c->in = NULL;
}

static void conn_close(aap_httpd *d, conn *c)
{
    pthread_mutex_lock(&d->lock);
    conn_close_locked(d, c);
    pthread_mutex_unlock(&d->lock);
}

/* Drop closed entries; with d->lock held. */
static void compact_locked(aap_httpd *d)
{
    size_t i, k = 0;

    for (i = 0; i < d->n; i++) {
        if (d->conns[i].fd >= 0) {
            d->conns[k++] = d->conns[i];
        }
    }
    d->n = k;
}

/* The connection to give up for a newcomer (among those of `like`'s
 * address when like is not NULL), or -1: one closing anyway, else the
 * oldest without a complete request head, else the oldest whose
 * response has not moved for STALL_NS. */
static int pick_victim(aap_httpd *d, const conn *like, uint64_t now)
{
    int best = -1, best_rank = 3;
    uint64_t best_t = 0;
    size_t i;

    for (i = 0; i < d->n; i++) {
        conn *c = &d->conns[i];
        int rank;
        uint64_t t;

        if (c->fd < 0 || (like && !same_addr(c, like))) {
            continue;
        }
        if (c->state == C_LINGER) {
            rank = 0;
            t = c->accepted;
        } else if (c->state == C_READ) {
            rank = 1;
            t = c->accepted;
        } else if (now - c->progress >= STALL_NS) {
            rank = 2;
            t = c->progress;
        } else {
            continue;
        }
        if (rank < best_rank || (rank == best_rank && t < best_t)) {
            best = (int)i;
            best_rank = rank;
            best_t = t;
        }
    }
    return best;
}

static void accept_batch(aap_httpd *d, uint64_t now)
{
    int k;

    for (k = 0; k < ACCEPT_BATCH; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        size_t same = 0, i;
        conn nc;
        int fd, victim = -1, full;

        pthread_mutex_lock(&d->lock);
        fd = accept4(d->c.fd, (struct sockaddr *)&ss, &sl,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;

            pthread_mutex_unlock(&d->lock);
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                d->pause_until = now + PAUSE_NS; /* do not spin on it */
            }
            return;
        }
        atomic_fetch_add(&d->accepted, 1);
        memset(&nc, 0, sizeof(nc));
        addr_key(&ss, &nc);
        for (i = 0; i < d->n; i++) {
            same += d->conns[i].fd >= 0 && same_addr(&d->conns[i], &nc);
        }
        full = same >= d->c.max_per_addr || d->n >= d->c.max_conns;
        if (full) {
            victim =
                pick_victim(d, same >= d->c.max_per_addr ? &nc : NULL, now);
            if (victim < 0) {
                close(fd);
                atomic_fetch_add(&d->refused, 1);
                pthread_mutex_unlock(&d->lock);
                continue;
            }
            conn_close_locked(d, &d->conns[victim]);
            compact_locked(d);
            atomic_fetch_add(&d->evicted, 1);
        }
        nc.in = malloc(AAP_HTTPREQ_HEAD_MAX);
        if (!nc.in) {
            close(fd);
            pthread_mutex_unlock(&d->lock);
            continue;
        }
        nc.fd = fd;
        nc.state = C_READ;
        nc.accepted = now;
        nc.deadline = now + d->c.head_timeout_ns;
        aat_buf_init(&nc.out, HEAD_OUT_MAX);
        aat_buf_init(&nc.body, AAP_TEXT_MAX);
        d->conns[d->n++] = nc;
        pthread_mutex_unlock(&d->lock);
    }
}

/* Turn a complete head into a response (state C_WRITE); 0 while the
 * head is incomplete. */
static int take_request(aap_httpd *d, conn *c, uint64_t now)
{
    aap_httpreq req;
    aat_buf *body = &c->body;
    aap_httpd_reply r;
    int status;

    if (!aap_httpreq_parse(c->in, c->inlen, &req)) {
        return 0;
    }
    if (!body->data && d->spare.data) {
        *body = d->spare;
        aat_buf_init(&d->spare, AAP_TEXT_MAX);
    }
    aat_buf_reset(body);
    r.status = 500;
    r.ctype = "text/plain; charset=utf-8";
    r.body = body;
    if (req.status) {
        r.status = req.status;
    } else if (req.method == AAP_M_OTHER) {
        r.status = 405;
    } else {
        d->c.handler(d->c.ctx, &req, &r);
    }
    status = r.status;
    if (status != 200) {
        aat_buf_reset(body);
        aat_buf_appendf(body, "%s\n", reason(status));
        r.ctype = "text/plain; charset=utf-8";
    }
    if (body->failed || d->out_total + body->len > OUT_TOTAL_MAX) {
        status = 503;
        aat_buf_release(body);
        aat_buf_init(body, AAP_TEXT_MAX);
        aat_buf_appendf(body, "%s\n", reason(status));
    }
    c->close_after = !req.keep_alive || req.status != 0;
    aat_buf_reset(&c->out);
    aat_buf_appendf(&c->out,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                    "Connection: %s\r\n%s\r\n",
                    status, reason(status), r.ctype, body->len,
                    c->close_after ? "close" : "keep-alive",
                    status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (req.method == AAP_M_HEAD) {
        aat_buf_release(body);
        aat_buf_init(body, AAP_TEXT_MAX);
    }
    if (c->out.failed || body->failed) {
        aat_buf_reset(&c->out); /* not counted in out_total yet */
        aat_buf_reset(body);
        conn_close(d, c);
        return 1;
    }
    d->out_total += c->out.len + body->len;
    if (req.head_len >= c->inlen) {
        c->inlen = 0;
    } else {
        memmove(c->in, c->in + req.head_len, c->inlen - req.head_len);
        c->inlen -= req.head_len;
    }
    c->state = C_WRITE;
    c->off = 0;
    c->progress = now;
    c->deadline = now + d->c.write_timeout_ns;
    return 1;
}

/* Send what the socket takes; at the end, keep the connection for the
 * next request or close it gracefully. */
static void flush(aap_httpd *d, conn *c, uint64_t now)
{
    size_t total = c->out.len + c->body.len;

    while (c->off < total) {
        struct iovec iov[2];
        struct msghdr m;
        ssize_t n;

        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        if (c->off < c->out.len) {
            iov[0].iov_base = c->out.data + c->off;
            iov[0].iov_len = c->out.len - c->off;
            iov[1].iov_base = c->body.data;
            iov[1].iov_len = c->body.len;
            m.msg_iovlen = c->body.len ? 2 : 1;
        } else {
            iov[0].iov_base = c->body.data + (c->off - c->out.len);
            iov[0].iov_len = total - c->off;
            m.msg_iovlen = 1;
        }
        n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (n > 0) {
            c->off += (size_t)n;
            c->progress = now;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        } else {
            conn_close(d, c);
            return;
        }
    }
    atomic_fetch_add(&d->served, 1);
    out_done(d, c);
    c->requests++;
    if (c->close_after) {
        /* read what the client still sends until it closes, so that
         * closing does not reset the connection under the response */
        shutdown(c->fd, SHUT_WR);
        c->state = C_LINGER;
        c->deadline = now + LINGER_NS;
        return;
    }
    c->state = C_READ;
    c->deadline =
        now + (c->inlen ? d->c.head_timeout_ns : d->c.idle_timeout_ns);
}

static void service(aap_httpd *d, conn *c, short revents, uint64_t now)
{
    int rounds = 0;

    if (c->state == C_LINGER) {
        char junk[4096];
        ssize_t n = recv(c->fd, junk, sizeof(junk), 0);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_close(d, c);
        }
        return;
    }
    if (c->state == C_READ && (revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n =
            recv(c->fd, c->in + c->inlen, AAP_HTTPREQ_HEAD_MAX - c->inlen, 0);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_close(d, c);
            return;
        }
        if (n > 0) {
            if (c->inlen == 0 && c->requests > 0) {
                c->deadline = now + d->c.head_timeout_ns;
            }
            c->inlen += (size_t)n;
        }
    }
    /* serve the requests that are complete (pipelined ones too) */
    while (c->fd >= 0 && rounds++ < PIPELINE_MAX) {
        if (c->state == C_READ && !take_request(d, c, now)) {
            return;
        }
        if (c->fd < 0 || c->state != C_WRITE) {
            return;
        }
        flush(d, c, now);
        if (c->fd < 0 || c->state != C_READ || c->inlen == 0) {
            return;
        }
    }
}

static void *serve_main(void *arg)
{
    aap_httpd *d = arg;
    struct pollfd *p = calloc(d->c.max_conns + 2, sizeof(*p));
    size_t i;

    while (p) {
        uint64_t now = aap_now_ns(), next = now + 1000000000ull;
        size_t np = 0, nc;
        int lidx = -1, ms;

        p[np].fd = d->cancel[0];
        p[np++].events = POLLIN;
        if (now >= d->pause_until) {
            lidx = (int)np;
            p[np].fd = d->c.fd;
            p[np++].events = POLLIN;
        }
        nc = d->n;
        for (i = 0; i < nc; i++) {
            p[np + i].fd = d->conns[i].fd;
            p[np + i].events = d->conns[i].state == C_WRITE ? POLLOUT : POLLIN;
            p[np + i].revents = 0;
            if (d->conns[i].deadline < next) {
                next = d->conns[i].deadline;
            }
        }
        ms = next > now ? (int)((next - now + 999999) / 1000000) : 0;
        if (poll(p, np + nc, ms) < 0 && errno != EINTR) {
            usleep(1000);
            continue;
        }
        if (p[0].revents) {
            break;
        }
        now = aap_now_ns();
        for (i = 0; i < nc; i++) {
            conn *c = &d->conns[i];

            if (c->fd >= 0 && p[np + i].revents) {
                service(d, c, p[np + i].revents, now);
            }
            if (c->fd >= 0 && now >= c->deadline) {
                atomic_fetch_add(&d->timed_out, 1);
                conn_close(d, c);
            }
        }
        pthread_mutex_lock(&d->lock);
        compact_locked(d);
        pthread_mutex_unlock(&d->lock);
        if (lidx >= 0 && (p[lidx].revents & POLLIN)) {
            accept_batch(d, now);
        }
    }
    free(p);
    return NULL;
}

int aap_httpd_start(const aap_httpd_config *c, aap_httpd **out)
{
    sigset_t all, old;
    aap_httpd *d;
    int rc;

    *out = NULL;
    if (!c || c->fd < 0 || !c->handler) {
        return AAP_EINVAL;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        return AAP_ENOMEM;
    }
    d->c = *c;
    aat_buf_init(&d->spare, AAP_TEXT_MAX);
    if (!d->c.max_conns) {
        d->c.max_conns = 128;
    }
    if (!d->c.max_per_addr) {
        d->c.max_per_addr = 32;
    }
    if (!d->c.head_timeout_ns) {
        d->c.head_timeout_ns = 2000000000ull;
    }
    if (!d->c.idle_timeout_ns) {
        d->c.idle_timeout_ns = 5000000000ull;
    }
    if (!d->c.write_timeout_ns) {
        d->c.write_timeout_ns = 10000000000ull;
    }
    d->conns = calloc(d->c.max_conns, sizeof(*d->conns));
    if (!d->conns || pipe2(d->cancel, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(d->conns);
        free(d);
        return AAP_ENOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&d->thread, NULL, serve_main, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(d->cancel[0]);
        close(d->cancel[1]);
        pthread_mutex_destroy(&d->lock);
        free(d->conns);
        free(d);
        return AAP_ETHREAD;
    }
    *out = d;
    return 0;
}

/* Close every descriptor and free everything (the thread is gone). */
static void teardown(aap_httpd *d)
{
    size_t i;

    for (i = 0; i < d->n; i++) {
        conn_close_locked(d, &d->conns[i]);
    }
    close(d->c.fd);
    close(d->cancel[0]);
    close(d->cancel[1]);
    aat_buf_release(&d->spare);
    free(d->conns);
    free(d);
}

void aap_httpd_free(aap_httpd *d)
{
    ssize_t w;

    if (!d) {
        return;
    }
    do {
        w = write(d->cancel[1], "x", 1);
    } while (w < 0 && errno == EINTR);
    pthread_join(d->thread, NULL);
    pthread_mutex_destroy(&d->lock);
    teardown(d);
}

void aap_httpd_stats_get(aap_httpd *d, aap_httpd_stats *s)
{
    s->accepted = atomic_load(&d->accepted);
    s->served = atomic_load(&d->served);
    s->evicted = atomic_load(&d->evicted);
    s->refused = atomic_load(&d->refused);
    s->timed_out = atomic_load(&d->timed_out);
}

void aap_httpd_fork(aap_httpd *d, int phase)
{
    if (!d) {
        return;
    }
    if (phase == 0) {
        pthread_mutex_lock(&d->lock);
    } else if (phase == 1) {
        pthread_mutex_unlock(&d->lock);
    } else {
        /* Only the forking thread exists here.  The server's sockets are
         * closed so the parent alone serves (and closes) them; its memory
         * is left alone (the thread may have been between a free and the
         * store that forgets the pointer), a bounded leak in the child
         * (the spare body included: pages the child never touches). */
        size_t i;

        for (i = 0; i < d->n; i++) {
            if (d->conns[i].fd >= 0) {
                close(d->conns[i].fd);
            }
        }
        close(d->c.fd);
        close(d->cancel[0]);
        close(d->cancel[1]);
        pthread_mutex_unlock(&d->lock);
    }
}
