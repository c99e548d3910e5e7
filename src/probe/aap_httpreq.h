/*
 * aap_httpreq.h: the exporter's HTTP/1.x request-head parser
 * (aap_httpreq.c).  Pure: bytes in, a verdict out; no I/O, no allocation.
 * Internal to the probe's library; fuzzed (fuzz/fuzz_httpreq.c).
 */
#ifndef AAP_HTTPREQ_H
#define AAP_HTTPREQ_H

#include <stddef.h>

/* A request head larger than this is refused with 431. */
#define AAP_HTTPREQ_HEAD_MAX 8192

enum aap_httpreq_method { AAP_M_GET, AAP_M_HEAD, AAP_M_OTHER };
enum aap_httpreq_route { AAP_R_NONE, AAP_R_METRICS, AAP_R_BLOCKS };

typedef struct aap_httpreq {
    size_t head_len; /* bytes of the head, its empty line included */
    int method;      /* enum aap_httpreq_method */
    int route;       /* enum aap_httpreq_route */
    int keep_alive;  /* the connection may carry another request */
    int status;      /* 0, or the error to answer (400, 431, 505) */
} aap_httpreq;

/*
 * Parse the head at buf[0..len).  Returns 0 while it is incomplete and
 * shorter than AAP_HTTPREQ_HEAD_MAX, else 1 with *out filled: status 0
 * for a request to serve, or the error status for one to refuse (the
 * connection is then closed).  Routes are the exact paths /metrics and
 * /debug/blocks, optionally followed by a query, which is ignored; any
 * other target (percent-encoded, with a NUL, a trailing slash, another
 * case, absolute-form) is AAP_R_NONE.  A request announcing a body
 * (Content-Length > 0, Transfer-Encoding) is answered without reading it
 * and the connection closed (keep_alive 0).
 */
int aap_httpreq_parse(const char *buf, size_t len, aap_httpreq *out);

#endif
