/*
 * aap_httpd.h: the exporter's HTTP/1.1 server (aap_httpd.c): one thread,
 * poll(), GET and HEAD, bounded in every resource a client can claim.
 * Internal to the probe's library.
 */
#ifndef AAP_HTTPD_H
#define AAP_HTTPD_H

#include "aap.h"
#include "aap_httpreq.h"

#include <stddef.h>
#include <stdint.h>

/* What the handler answers: status, content type (static text) and body
 * (appended to `body`; a HEAD request gets the headers only). */
typedef struct aap_httpd_reply {
    int status;
    const char *ctype;
    aat_buf *body;
} aap_httpd_reply;

/* Called on the server thread for a well-formed request; never with a
 * lock of the server held. */
typedef void (*aap_httpd_handler)(void *ctx, const aap_httpreq *req,
                                  aap_httpd_reply *reply);

typedef struct aap_httpd_config {
    int fd; /* listening socket; the server owns it */
    aap_httpd_handler handler;
    void *ctx;
    size_t max_conns;          /* 0: 128 */
    size_t max_per_addr;       /* 0: 32 */
    uint64_t head_timeout_ns;  /* first byte (accept) to end of head; 0: 2 s */
    uint64_t idle_timeout_ns;  /* keep-alive wait for a request; 0: 5 s */
    uint64_t write_timeout_ns; /* to send a response; 0: 10 s */
} aap_httpd_config;

typedef struct aap_httpd aap_httpd;

typedef struct aap_httpd_stats {
    uint64_t accepted, served, evicted, refused, timed_out;
} aap_httpd_stats;

/*
 * Start serving on c->fd in a new thread (all signals blocked in it).
 * On success the server owns the socket; *out is set only then.  0,
 * AAP_EINVAL, AAP_ENOMEM or AAP_ETHREAD.
 */
int aap_httpd_start(const aap_httpd_config *c, aap_httpd **out);
/* Stop (a cancel pipe), join, close every socket, free.  NULL ok. */
void aap_httpd_free(aap_httpd *d);
void aap_httpd_stats_get(aap_httpd *d, aap_httpd_stats *s);
/* fork: phase 0 prepare (the connection table is consistent), 1 parent,
 * 2 child: the thread does not exist there; every descriptor of the
 * server is closed and its memory freed.  NULL ok. */
void aap_httpd_fork(aap_httpd *d, int phase);

#endif
