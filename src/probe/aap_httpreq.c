/*
 * aap_httpreq.c: the exporter's request-head parser.  The exporter faces
 * whatever connects to its port, so this is the one place client bytes
 * are interpreted, and it is strict: one request line (token, target,
 * HTTP/1.0 or 1.1), header fields as RFC 9112 frames them (no space
 * before the colon, no obsolete line folding, no control characters in
 * values), a bounded head.  Lines end in CRLF or a bare LF.  Only the
 * method, the target and the framing headers (Connection,
 * Content-Length, Transfer-Encoding) matter to the exporter; every other
 * field is checked for form and ignored.
 */
#include "aap_httpreq.h"

#include <string.h>

#define METHOD_MAX 16
#define BLANK_LINES_MAX 4

static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ieq(const char *a, size_t n, const char *lit)
{
    size_t i;

    if (strlen(lit) != n) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (lower((unsigned char)a[i]) != lit[i]) {
            return 0;
        }
    }
    return 1;
}

/* The line at buf[*pos..len): its content [*s, *s + *n), *pos moved past
 * its end.  0 when no line end is there yet. */
static int next_line(const char *buf, size_t len, size_t *pos, const char **s,
                     size_t *n)
{
    const char *nl = memchr(buf + *pos, '\n', len - *pos);
    size_t e;

    if (!nl) {
        return 0;
    }
    e = (size_t)(nl - buf);
    *s = buf + *pos;
    *n = e - *pos;
    if (*n && (*s)[*n - 1] == '\r') {
        (*n)--;
    }
    *pos = e + 1;
    return 1;
}

static int route_of(const char *t, size_t n)
{
    static const struct {
        const char *path;
        int route;
    } routes[] = {{"/metrics", AAP_R_METRICS},
                  {"/debug/blocks", AAP_R_BLOCKS}};
    const char *q = memchr(t, '?', n);
    size_t plen = q ? (size_t)(q - t) : n, i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (plen == strlen(routes[i].path) &&
            memcmp(t, routes[i].path, plen) == 0) {
            return routes[i].route;
        }
    }
    return AAP_R_NONE;
}

/* Request line "METHOD SP target SP HTTP/1.x"; 0 or an error status. */
static int request_line(const char *s, size_t n, aap_httpreq *out, int *minor)
{
    const char *sp1 = memchr(s, ' ', n), *sp2, *v;
    size_t i, ml, tl, vl;

    if (!sp1) {
        return 400;
    }
    ml = (size_t)(sp1 - s);
    if (ml == 0 || ml > METHOD_MAX) {
        return ml ? 501 : 400;
    }
    for (i = 0; i < ml; i++) {
        if (!tchar((unsigned char)s[i])) {
            return 400;
        }
    }
    sp2 = memchr(sp1 + 1, ' ', n - ml - 1);
    if (!sp2) {
        return 400;
    }
    tl = (size_t)(sp2 - sp1 - 1);
    for (i = 0; i < tl; i++) {
        unsigned char c = (unsigned char)sp1[1 + i];

        if (c <= 0x20 || c == 0x7f) {
            return 400;
        }
    }
    if (tl == 0) {
        return 400;
    }
    v = sp2 + 1;
    vl = n - (size_t)(v - s);
    if (vl != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' ||
        v[5] > '9' || v[7] < '0' || v[7] > '9') {
        return 400;
    }
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
        return 505;
    }
    *minor = v[7] - '0';
    if (ml == 3 && memcmp(s, "GET", 3) == 0) {
        out->method = AAP_M_GET;
    } else if (ml == 4 && memcmp(s, "HEAD", 4) == 0) {
        out->method = AAP_M_HEAD;
    } else {
        out->method = AAP_M_OTHER;
    }
    out->route = route_of(sp1 + 1, tl);
    return 0;
}

/* Comma-separated tokens of a Connection value. */
static void connection(const char *v, size_t n, int *close, int *keep)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i, a, b;

        while (j < n && v[j] != ',') {
            j++;
        }
        a = i;
        b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t')) {
            a++;
        }
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) {
            b--;
        }
        if (ieq(v + a, b - a, "close")) {
            *close = 1;
        } else if (ieq(v + a, b - a, "keep-alive")) {
            *keep = 1;
        }
        i = j + 1;
    }
}

/* A header field line; 0 or an error status. */
static int header(const char *s, size_t n, int *close, int *keep, int *body,
                  int *clen_seen, unsigned long long *clen)
{
    const char *colon = memchr(s, ':', n);
    size_t nl, i, a, b;

    if (s[0] == ' ' || s[0] == '\t' || !colon || colon == s) {
        return 400; /* obsolete folding, or not a field */
    }
    nl = (size_t)(colon - s);
    for (i = 0; i < nl; i++) {
        if (!tchar((unsigned char)s[i])) {
            return 400; /* includes whitespace before the colon */
        }
    }
    for (i = nl + 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return 400;
        }
    }
    a = nl + 1;
    b = n;
    while (a < b && (s[a] == ' ' || s[a] == '\t')) {
        a++;
    }
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) {
        b--;
    }
    if (ieq(s, nl, "connection")) {
        connection(s + a, b - a, close, keep);
    } else if (ieq(s, nl, "transfer-encoding")) {
        *body = 1;
    } else if (ieq(s, nl, "content-length")) {
        unsigned long long v = 0;

        if (a == b) {
            return 400;
        }
        for (i = a; i < b; i++) {
            if (s[i] < '0' || s[i] > '9' || v > 1000000000000ull) {
                return 400;
            }
            v = v * 10 + (unsigned)(s[i] - '0');
        }
        if (*clen_seen && v != *clen) {
            return 400;
        }
        *clen_seen = 1;
        *clen = v;
        if (v > 0) {
            *body = 1;
        }
    }
    return 0;
}

int aap_httpreq_parse(const char *buf, size_t len, aap_httpreq *out)
{
    size_t pos = 0, n;
    const char *s;
    int blank = 0, minor = 0, status = 0, close = 0, keep = 0, body = 0;
    int clen_seen = 0;
    unsigned long long clen = 0;

    memset(out, 0, sizeof(*out));
    out->method = AAP_M_OTHER;
    if (len > AAP_HTTPREQ_HEAD_MAX) {
        len = AAP_HTTPREQ_HEAD_MAX;
    }
    /* a few empty lines before the request line are tolerated */
    for (;;) {
        if (!next_line(buf, len, &pos, &s, &n)) {
            goto incomplete;
        }
        if (n > 0) {
            break;
        }
        if (++blank > BLANK_LINES_MAX) {
            out->status = 400;
            out->head_len = pos;
            return 1;
        }
    }
    status = request_line(s, n, out, &minor);
    for (;;) {
        if (!next_line(buf, len, &pos, &s, &n)) {
            goto incomplete;
        }
        if (n == 0) {
            break;
        }
        if (status == 0) {
            status = header(s, n, &close, &keep, &body, &clen_seen, &clen);
        }
    }
    out->head_len = pos;
    out->status = status;
    out->keep_alive = status == 0 && !body && !close && (minor == 1 || keep);
    return 1;
incomplete:
    if (len < AAP_HTTPREQ_HEAD_MAX) {
        return 0;
    }
    out->status = 431;
    out->head_len = len;
    out->keep_alive = 0;
    return 1;
}
