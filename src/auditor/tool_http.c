/*
 * tool_http.c: concurrent GETs on one libcurl multi handle.  An audit sends
 * all its queries at once so that it takes about as long as its slowest
 * query; retries are scheduled on the same loop (no sleeping), so one slow
 * or failing request never holds up the others.  Bodies go into an aat_buf
 * with a hard maximum and the write callback aborts the transfer beyond it,
 * so an oversized answer costs at most that much memory.
 *
 * Redirects are followed here, not by libcurl: libcurl would send the
 * --header values (API keys, tenant ids) to any host a redirect names.
 * A hop is followed only within the origin (scheme, host, port) the URL
 * was given for, with every header and credential; a redirect to another
 * origin is refused with an error naming it, so no secret ever leaves the
 * origin it was given for.
 */
#include "tool_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aa_version.h"
#include "tool_cfg.h"

/* Connections open at once; further requests wait for a free slot. */
#define HTTP_MAX_ACTIVE 48
/* Bound on all bodies of one batch together, so that many concurrent
 * large answers cannot add up to several gigabytes. */
#define HTTP_MAX_BATCH_BYTES ((size_t)256 * 1024 * 1024)
/* Upper bound on one retry delay, Retry-After included. */
#define HTTP_MAX_BACKOFF_MS 10000
/* Bound on a secret read from a file. */
#define SECRET_MAX ((size_t)64 * 1024)
/* Redirects followed per attempt (within the origin). */
#define HTTP_MAX_REDIRECTS 5

struct tool_http {
    int64_t timeout_ms;
    int retries;
    int64_t backoff_ms;
    size_t max_body;
    char *bearer;
    char *user;
    char *password;
    struct curl_slist *headers;
    char *ca_file, *cert_file, *key_file;
    bool insecure;
    bool curl_ready;
};

typedef struct xfer {
    tool_http_req *req;
    tool_http *h;
    CURL *easy;
    int64_t retry_at_ms; /* > 0: waiting to be retried */
    int64_t timeout_ms;  /* per attempt, redirects included */
    int64_t started_ms;  /* the attempt's start */
    char *hop_url;       /* the redirect being followed; NULL: req->url */
    unsigned redirects;  /* redirects followed in this attempt */
    bool active;         /* added to the multi handle */
    bool done;
    size_t *batch_bytes; /* bodies of the batch, all together */
    bool too_big;
    bool batch_too_big;
    bool oom;
    char curlerr[CURL_ERROR_SIZE];
} xfer;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees a secret after overwriting it. */
static void free_secret(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static int dup_opt(const char *in, char **out)
{
    *out = NULL;
    if (in == NULL) {
        return AA_OK;
    }
    *out = aa_strdup(in);
    return *out == NULL ? AA_ENOMEM : AA_OK;
}

/* A header line must be "Name: value" with a token name and no CR/LF. */
static bool header_valid(const char *hdr)
{
    const char *colon = strchr(hdr, ':');
    const char *p;

    if (colon == NULL || colon == hdr) {
        return false;
    }
    for (p = hdr; p < colon; p++) {
        if (*p <= ' ' || *p >= 127) {
            return false;
        }
    }
    return strpbrk(hdr, "\r\n") == NULL;
}

int tool_http_new(const tool_http_opts *opts, tool_http **out, char *errbuf,
                  size_t errlen)
{
    tool_http *h;
    size_t i;
    int rc = AA_ENOMEM;

    *out = NULL;
    if (errlen > 0) {
        errbuf[0] = '\0';
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return AA_ENOMEM;
    }
    h->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
    h->retries = opts->retries > 0 ? opts->retries : 0;
    h->backoff_ms = opts->backoff_ms > 0 ? opts->backoff_ms : 250;
    h->max_body = opts->max_body > 0 ? opts->max_body : TOOL_HTTP_MAX_BODY;
    h->insecure = opts->insecure;
    if (dup_opt(opts->bearer_token, &h->bearer) != AA_OK ||
        dup_opt(opts->basic_user, &h->user) != AA_OK ||
        dup_opt(opts->basic_password, &h->password) != AA_OK ||
        dup_opt(opts->ca_file, &h->ca_file) != AA_OK ||
        dup_opt(opts->cert_file, &h->cert_file) != AA_OK ||
        dup_opt(opts->key_file, &h->key_file) != AA_OK) {
        goto out;
    }
    for (i = 0; i < opts->nheaders; i++) {
        struct curl_slist *l;

        if (!header_valid(opts->headers[i])) {
            /* Only the name part is shown: the value may be a secret. */
            const char *colon = strchr(opts->headers[i], ':');
            int namelen = colon != NULL ? (int)(colon - opts->headers[i]) : 0;

            if (namelen > 64) {
                namelen = 64;
            }
            snprintf(errbuf, errlen,
                     "--header '%.*s': expected 'Name: value' with a "
                     "token name and no line breaks",
                     namelen, opts->headers[i]);
            rc = AA_EINVAL;
            goto out;
        }
        l = curl_slist_append(h->headers, opts->headers[i]);
        if (l == NULL) {
            goto out;
        }
        h->headers = l;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errbuf, errlen, "libcurl could not be initialised");
        rc = AA_EIO;
        goto out;
    }
    h->curl_ready = true;
    *out = h;
    return AA_OK;
out:
    tool_http_free(h);
    return rc;
}

void tool_http_free(tool_http *h)
{
    if (h == NULL) {
        return;
    }
    free_secret(h->bearer);
    free(h->user);
    free_secret(h->password);
    if (h->headers != NULL) {
        struct curl_slist *l;

        /* --header values may carry API keys. */
        for (l = h->headers; l != NULL; l = l->next) {
            explicit_bzero(l->data, strlen(l->data));
        }
        curl_slist_free_all(h->headers);
    }
    free(h->ca_file);
    free(h->cert_file);
    free(h->key_file);
    if (h->curl_ready) {
        curl_global_cleanup();
    }
    free(h);
}

void tool_http_req_clear(tool_http_req *r)
{
    if (r == NULL) {
        return;
    }
    free(r->url);
    aat_buf_release(&r->body);
    memset(r, 0, sizeof(*r));
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t len = size * nmemb;
    int rc;

    if (len > HTTP_MAX_BATCH_BYTES - *x->batch_bytes) {
        x->batch_too_big = true;
        return CURL_WRITEFUNC_ERROR;
    }
    rc = aat_buf_append(&x->req->body, data, len);
    if (rc == AA_OK) {
        *x->batch_bytes += len;
    }
    if (rc == AA_ETOOBIG) {
        x->too_big = true;
        return CURL_WRITEFUNC_ERROR;
    }
    if (rc != AA_OK) {
        x->oom = true;
        return CURL_WRITEFUNC_ERROR;
    }
    return len;
}

#define SETOPT(e, opt, val)                                                   \
    do {                                                                      \
        if (curl_easy_setopt((e), (opt), (val)) != CURLE_OK) {                \
            goto out;                                                         \
        }                                                                     \
    } while (0)

/* Creates x's easy handle with every option; false on failure (OOM or an
 * option this libcurl lacks). */
static bool xfer_setup(xfer *x)
{
    tool_http *h = x->h;
    int64_t timeout =
        x->req->timeout_ms > 0 && x->req->timeout_ms < h->timeout_ms
            ? x->req->timeout_ms
            : h->timeout_ms;
    CURL *e = curl_easy_init();

    if (e == NULL) {
        return false;
    }
    x->timeout_ms = timeout;
    SETOPT(e, CURLOPT_URL, x->req->url);
    SETOPT(e, CURLOPT_HTTPGET, 1L);
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(e, CURLOPT_WRITEDATA, x);
    SETOPT(e, CURLOPT_PRIVATE, (void *)x);
    SETOPT(e, CURLOPT_ERRORBUFFER, x->curlerr);
    SETOPT(e, CURLOPT_TIMEOUT_MS, (long)timeout);
    SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
    SETOPT(e, CURLOPT_USERAGENT, "async-auditor/" AA_VERSION);
    SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L); /* follow_redirect() does */
    SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
    if (h->headers != NULL) {
        SETOPT(e, CURLOPT_HTTPHEADER, h->headers);
    }
    if (h->bearer != NULL) {
        SETOPT(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        SETOPT(e, CURLOPT_XOAUTH2_BEARER, h->bearer);
    } else if (h->user != NULL) {
        SETOPT(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(e, CURLOPT_USERNAME, h->user);
        SETOPT(e, CURLOPT_PASSWORD, h->password != NULL ? h->password : "");
    }
    if (h->ca_file != NULL) {
        SETOPT(e, CURLOPT_CAINFO, h->ca_file);
    }
    if (h->cert_file != NULL) {
        SETOPT(e, CURLOPT_SSLCERT, h->cert_file);
    }
    if (h->key_file != NULL) {
        SETOPT(e, CURLOPT_SSLKEY, h->key_file);
    }
    if (h->insecure) {
        SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
        SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    x->easy = e;
    return true;
out:
    curl_easy_cleanup(e);
    return false;
}

static bool status_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

static void fmt_into(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* snprintf that truncates silently (messages, not data). */
static void fmt_into(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static void set_err(xfer *x, int err, const char *what)
{
    tool_http_req *r = x->req;

    r->err = err;
    if (x->curlerr[0] != '\0') {
        fmt_into(r->errmsg, sizeof(r->errmsg), "%s: %s", what, x->curlerr);
    } else {
        fmt_into(r->errmsg, sizeof(r->errmsg), "%s", what);
    }
}

/*
 * Classifies a finished attempt into req's outcome and returns whether it
 * is worth another attempt.
 */
static bool xfer_outcome(xfer *x, CURLcode code)
{
    tool_http_req *r = x->req;
    char what[96];

    r->err = 0;
    r->errmsg[0] = '\0';
    r->status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r->status);
    switch (code) {
    case CURLE_OK:
        return status_retryable(r->status);
    case CURLE_FILESIZE_EXCEEDED: /* announced by Content-Length */
        x->too_big = true;
        /* fall through */
    case CURLE_WRITE_ERROR:
        if (x->too_big || x->batch_too_big || x->oom) {
            x->curlerr[0] = '\0'; /* the cause is ours, told below */
        }
        if (x->too_big) {
            snprintf(what, sizeof(what), "response body exceeds %zu MiB",
                     x->h->max_body / (1024 * 1024));
            set_err(x, AA_ETOOBIG, what);
        } else if (x->batch_too_big) {
            snprintf(what, sizeof(what),
                     "the answers of this run exceed %zu MiB together",
                     HTTP_MAX_BATCH_BYTES / (1024 * 1024));
            set_err(x, AA_ETOOBIG, what);
        } else if (x->oom) {
            set_err(x, AA_ENOMEM, "out of memory reading the response");
        } else {
            set_err(x, AA_EIO, "write error");
        }
        return false;
    case CURLE_OPERATION_TIMEDOUT:
        set_err(x, AA_ETIMEOUT, "timed out");
        return true;
    case CURLE_COULDNT_CONNECT:
        set_err(x, AA_ECONNECT, "cannot connect");
        return true;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        set_err(x, AA_ECONNECT, "cannot resolve the host");
        return false;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        set_err(x, AA_EIO, "connection lost");
        return true;
    case CURLE_PARTIAL_FILE:
        set_err(x, AA_EIO, "truncated response");
        return false;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        set_err(x, AA_ECONNECT, "TLS failure");
        return false;
    case CURLE_OUT_OF_MEMORY:
        set_err(x, AA_ENOMEM, "out of memory");
        return false;
    default:
        set_err(x, AA_EIO, curl_easy_strerror(code));
        return false;
    }
}

/* Delay before attempt number `attempts + 1`. */
static int64_t retry_delay(const xfer *x)
{
    int64_t d = x->h->backoff_ms;
    curl_off_t after = 0;
    unsigned i;

    for (i = 1; i < x->req->attempts && d < HTTP_MAX_BACKOFF_MS; i++) {
        d *= 2;
    }
    /* A server's Retry-After (seconds) is honoured up to the cap. */
    if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &after) == CURLE_OK &&
        after > 0) {
        int64_t a = after >= HTTP_MAX_BACKOFF_MS / 1000
                        ? HTTP_MAX_BACKOFF_MS
                        : (int64_t)after * 1000;

        if (a > d) {
            d = a;
        }
    }
    return d > HTTP_MAX_BACKOFF_MS ? HTTP_MAX_BACKOFF_MS : d;
}

/* Frees the body of an attempt that will not be used (a failed transfer,
 * or one to be retried) and gives its bytes back to the batch. */
static void xfer_drop_body(xfer *x)
{
    *x->batch_bytes -= x->req->body.len;
    aat_buf_release(&x->req->body); /* keeps the maximum */
}

/* Starts an attempt, from the request's own URL. */
static bool xfer_start(CURLM *m, xfer *x)
{
    x->too_big = false;
    x->batch_too_big = false;
    x->oom = false;
    x->curlerr[0] = '\0';
    x->retry_at_ms = 0;
    x->redirects = 0;
    x->started_ms = now_ms();
    if (x->hop_url != NULL) {
        free(x->hop_url);
        x->hop_url = NULL;
        if (curl_easy_setopt(x->easy, CURLOPT_URL, x->req->url) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS,
                             (long)x->timeout_ms) != CURLE_OK) {
            return false;
        }
    }
    if (curl_multi_add_handle(m, x->easy) != CURLM_OK) {
        return false;
    }
    x->active = true;
    return true;
}

/* What follow_redirect() did with a finished transfer. */
typedef enum hop {
    HOP_NONE,     /* not a redirect: the answer is the response */
    HOP_FOLLOWED, /* re-sent to the new URL, active again */
    HOP_REFUSED,  /* req->err and errmsg say why */
    HOP_FAILED    /* the multi handle refused the transfer */
} hop;

/* scheme://host:port of u (port filled in from the scheme) into buf;
 * false when u lacks one of them (or on OOM). */
static bool origin_of(CURLU *u, char *buf, size_t size)
{
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
                  CURLUE_OK;
    size_t i;

    if (ok) {
        snprintf(buf, size, "%s://%s:%s", scheme, host, port);
        for (i = 0; buf[i] != '\0'; i++) { /* scheme and host ignore case */
            buf[i] = (char)((buf[i] >= 'A' && buf[i] <= 'Z') ? buf[i] + 32
                                                             : buf[i]);
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    return ok;
}

/* Gives next the user and password of cur (or none when cur has none):
 * credentials in the URL stay with it within the origin, and a Location
 * cannot swap in its own.  False on OOM. */
static bool carry_userinfo(CURLU *cur, CURLU *next)
{
    static const CURLUPart parts[] = {CURLUPART_USER, CURLUPART_PASSWORD};
    size_t i;

    for (i = 0; i < 2; i++) {
        char *v = NULL;
        CURLUcode rc;

        if (curl_url_get(cur, parts[i], &v, 0) != CURLUE_OK) {
            v = NULL;
        }
        rc = curl_url_set(next, parts[i], v, 0);
        if (v != NULL) {
            explicit_bzero(v, strlen(v));
        }
        curl_free(v);
        if (rc != CURLUE_OK) {
            return false;
        }
    }
    return true;
}

/*
 * The URL a redirect from cur to loc goes to, in *next (malloc'd), when
 * it stays within cur's origin; else false with the reason in why (no
 * secret: URLs are shown redacted).
 */
static bool redirect_target(const char *cur, const char *loc, char **next,
                            char *why, size_t size)
{
    CURLU *from = curl_url(), *to = NULL;
    char a[300], b[300], shown[512], *full = NULL;
    bool ok = false;

    *next = NULL;
    tool_http_redact_url(loc, shown, sizeof(shown));
    if (from == NULL ||
        curl_url_set(from, CURLUPART_URL, cur, 0) != CURLUE_OK ||
        (to = curl_url_dup(from)) == NULL ||
        curl_url_set(to, CURLUPART_URL, loc, 0) != CURLUE_OK ||
        !origin_of(from, a, sizeof(a)) || !origin_of(to, b, sizeof(b))) {
        fmt_into(why, size, "redirected to %s, which cannot be followed",
                 shown);
        goto out;
    }
    if (strcmp(a, b) != 0) {
        if (strncmp(a, "https:", 6) == 0 && strncmp(b, "http:", 5) == 0) {
            fmt_into(why, size,
                     "redirected from https to http (%s): refused, it "
                     "would send the request unencrypted",
                     shown);
        } else {
            fmt_into(why, size,
                     "redirected to another origin (%s); only redirects "
                     "within %s are followed: headers and credentials are "
                     "not sent elsewhere; give that URL directly",
                     b, a);
        }
        goto out;
    }
    if (!carry_userinfo(from, to) ||
        curl_url_get(to, CURLUPART_URL, &full, 0) != CURLUE_OK ||
        (*next = aa_strdup(full)) == NULL) {
        fmt_into(why, size, "following the redirect to %s: %s", shown,
                 aa_strerror(AA_ENOMEM));
        goto out;
    }
    ok = true;
out:
    if (full != NULL) {
        explicit_bzero(full, strlen(full));
        curl_free(full);
    }
    curl_url_cleanup(from);
    curl_url_cleanup(to);
    return ok;
}

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 ||
           status == 308;
}

/*
 * For a transfer that ended with a redirect: re-sends it to the new URL
 * when the hop stays within the origin (at most HTTP_MAX_REDIRECTS per
 * attempt, inside the attempt's timeout), else refuses it.  Every request
 * is a GET, so 301/302/303/307/308 all mean the same GET again.
 */
static hop follow_redirect(CURLM *m, xfer *x)
{
    tool_http_req *r = x->req;
    long status = 0, left;
    char *loc = NULL, *next = NULL;

    if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) !=
            CURLE_OK ||
        !is_redirect(status) ||
        curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK ||
        loc == NULL) {
        return HOP_NONE;
    }
    xfer_drop_body(x);
    r->status = status;
    r->err = AA_EIO;
    if (x->redirects >= HTTP_MAX_REDIRECTS) {
        fmt_into(r->errmsg, sizeof(r->errmsg),
                 "too many redirects (more than %d)", HTTP_MAX_REDIRECTS);
        return HOP_REFUSED;
    }
    if (!redirect_target(x->hop_url != NULL ? x->hop_url : r->url, loc, &next,
                         r->errmsg, sizeof(r->errmsg))) {
        return HOP_REFUSED;
    }
    r->status = 0;
    r->err = 0;
    r->errmsg[0] = '\0';
    free(x->hop_url);
    x->hop_url = next;
    x->redirects++;
    left = (long)(x->timeout_ms - (now_ms() - x->started_ms));
    if (curl_easy_setopt(x->easy, CURLOPT_URL, x->hop_url) != CURLE_OK ||
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, left > 0 ? left : 1L) !=
            CURLE_OK ||
        curl_multi_add_handle(m, x->easy) != CURLM_OK) {
        return HOP_FAILED;
    }
    x->active = true;
    return HOP_FOLLOWED;
}

int tool_http_run(tool_http *h, tool_http_req *reqs, size_t n)
{
    CURLM *m = NULL;
    xfer *xs = NULL;
    size_t i, remaining = n, active = 0, next = 0, batch_bytes = 0;
    int64_t t0 = now_ms();
    int rc = AA_ENOMEM;

    if (n == 0) {
        return AA_OK;
    }
    xs = calloc(n, sizeof(*xs));
    m = curl_multi_init();
    if (xs == NULL || m == NULL) {
        goto out;
    }
    for (i = 0; i < n; i++) {
        xs[i].req = &reqs[i];
        xs[i].h = h;
        xs[i].batch_bytes = &batch_bytes;
        reqs[i].err = 0;
        reqs[i].status = 0;
        reqs[i].attempts = 0;
        reqs[i].errmsg[0] = '\0';
        aat_buf_release(&reqs[i].body);
        aat_buf_init(&reqs[i].body, h->max_body);
        if (!xfer_setup(&xs[i])) {
            goto out;
        }
    }
    while (remaining > 0) {
        int running = 0, pending = 0, timeout = 1000;
        int64_t now = now_ms();
        CURLMsg *msg;

        /* Start new requests and due retries while slots are free. */
        for (i = 0; i < n && active < HTTP_MAX_ACTIVE; i++) {
            if (xs[i].retry_at_ms > 0 && xs[i].retry_at_ms <= now) {
                if (!xfer_start(m, &xs[i])) {
                    rc = AA_EIO;
                    goto out;
                }
                active++;
            }
        }
        while (next < n && active < HTTP_MAX_ACTIVE) {
            if (!xfer_start(m, &xs[next])) {
                rc = AA_EIO;
                goto out;
            }
            next++;
            active++;
        }
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            rc = AA_EIO;
            goto out;
        }
        while ((msg = curl_multi_info_read(m, &pending)) != NULL) {
            char *priv = NULL;
            xfer *x;
            hop step;

            if (msg->msg != CURLMSG_DONE ||
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) !=
                    CURLE_OK ||
                priv == NULL) {
                continue;
            }
            x = (xfer *)(void *)priv;
            curl_multi_remove_handle(m, x->easy);
            x->active = false;
            active--;
            step = msg->data.result == CURLE_OK ? follow_redirect(m, x)
                                                : HOP_NONE;
            if (step == HOP_FOLLOWED) {
                active++;
                continue;
            }
            if (step == HOP_FAILED) {
                rc = AA_EIO;
                goto out;
            }
            x->req->attempts++;
            if (step == HOP_NONE && xfer_outcome(x, msg->data.result) &&
                !x->req->no_retry &&
                x->req->attempts <= (unsigned)h->retries) {
                x->retry_at_ms = now_ms() + retry_delay(x);
                xfer_drop_body(x);
            } else {
                if (x->req->err != 0) {
                    xfer_drop_body(x);
                }
                x->done = true;
                x->req->seconds = (double)(now_ms() - t0) / 1000.0;
                remaining--;
            }
        }
        if (remaining == 0) {
            break;
        }
        now = now_ms();
        /* A due retry without a free slot waits for a transfer to end
         * (socket activity), not for its own time: no busy loop. */
        for (i = 0; i < n && active < HTTP_MAX_ACTIVE; i++) {
            if (xs[i].retry_at_ms > 0) {
                int64_t wait = xs[i].retry_at_ms - now;

                if (wait < 0) {
                    wait = 0;
                }
                if (wait < timeout) {
                    timeout = (int)wait;
                }
            }
        }
        if (curl_multi_poll(m, NULL, 0, timeout, NULL) != CURLM_OK) {
            rc = AA_EIO;
            goto out;
        }
    }
    rc = AA_OK;
out:
    for (i = 0; xs != NULL && i < n; i++) {
        if (xs[i].easy != NULL) {
            if (xs[i].active) {
                curl_multi_remove_handle(m, xs[i].easy);
            }
            curl_easy_cleanup(xs[i].easy);
        }
        free(xs[i].hop_url);
        if (rc != AA_OK && !xs[i].done) {
            aat_buf_release(&reqs[i].body);
            reqs[i].err = rc;
            snprintf(reqs[i].errmsg, sizeof(reqs[i].errmsg),
                     "the request could not be run: %s", aa_strerror(rc));
        }
    }
    if (m != NULL) {
        curl_multi_cleanup(m);
    }
    free(xs);
    return rc;
}

/*
 * Reads a secret from path (aa_file_read: a regular file of at most
 * SECRET_MAX bytes), without trailing white space; it must be one line.
 * On failure prints an error naming flag and path (never the content) and
 * returns false.
 */
static bool read_secret(const char *flag, const char *path, char **out)
{
    char *data = NULL;
    size_t len = 0, size;
    aa_diag d;
    bool ok = false;

    *out = NULL;
    aa_diag_clear(&d);
    if (aa_file_read(path, "file", SECRET_MAX, AA_FILE_SECRET, &data, &len,
                     &d) != AA_OK) {
        tool_error("%s %s: %s", flag, path, d.message);
        return false;
    }
    size = len;
    while (len > 0 && memchr("\n\r \t", data[len - 1], 4) != NULL) {
        data[--len] = '\0';
    }
    if (len == 0) {
        tool_error("%s %s: the file is empty", flag, path);
        goto out;
    }
    if (strcspn(data, "\r\n") != len) { /* a NUL stops it too */
        tool_error("%s %s: the secret must be one line of text", flag, path);
        goto out;
    }
    *out = data;
    data = NULL;
    ok = true;
out:
    if (data != NULL) {
        explicit_bzero(data, size); /* a NUL inside stops free_secret */
        free(data);
    }
    return ok;
}

/* The bearer token and basic-auth password the command line asks for.
 * Returns 0 or an aa_exit code after printing why. */
static int read_credentials(const tool_config *cfg, char **token,
                            char **password)
{
    const char *env;

    *token = *password = NULL;
    if (cfg->bearer_token_file != NULL && cfg->basic_auth_user != NULL) {
        tool_error("--bearer-token-file and --basic-auth-user: use one of "
                   "them");
        return AA_EXIT_USAGE;
    }
    if (cfg->bearer_token_file != NULL) {
        if (!read_secret("--bearer-token-file", cfg->bearer_token_file,
                         token)) {
            return AA_EXIT_USAGE;
        }
    } else if (cfg->basic_auth_user == NULL &&
               (env = getenv("ASYNC_AUDITOR_BEARER_TOKEN")) != NULL &&
               env[0] != '\0') {
        *token = aa_strdup(env);
        if (*token == NULL) {
            tool_error("bearer token: %s", aa_strerror(AA_ENOMEM));
            return AA_EXIT_UNKNOWN;
        }
    }
    if (cfg->basic_auth_user == NULL) {
        return 0;
    }
    if (cfg->basic_auth_password_file != NULL) {
        return read_secret("--basic-auth-password-file",
                           cfg->basic_auth_password_file, password)
                   ? 0
                   : AA_EXIT_USAGE;
    }
    env = getenv("ASYNC_AUDITOR_PASSWORD");
    if (env == NULL) {
        tool_error("--basic-auth-user %s: no password: set "
                   "ASYNC_AUDITOR_PASSWORD or --basic-auth-password-file",
                   cfg->basic_auth_user);
        return AA_EXIT_USAGE;
    }
    *password = aa_strdup(env);
    if (*password == NULL) {
        tool_error("password: %s", aa_strerror(AA_ENOMEM));
        return AA_EXIT_UNKNOWN;
    }
    return 0;
}

int tool_http_from_cfg(const tool_config *cfg, const tool_http_opts *opts,
                       tool_http **out)
{
    tool_http_opts o = *opts;
    char *token = NULL, *password = NULL, errbuf[256];
    int rc, err;

    *out = NULL;
    rc = read_credentials(cfg, &token, &password);
    if (rc != 0) {
        goto out;
    }
    o.bearer_token = token;
    o.basic_user = cfg->basic_auth_user;
    o.basic_password = password;
    o.ca_file = cfg->ca_file;
    o.cert_file = cfg->cert_file;
    o.key_file = cfg->key_file;
    o.insecure = cfg->insecure;
    err = tool_http_new(&o, out, errbuf, sizeof(errbuf));
    if (err == AA_EINVAL) {
        tool_error("%s", errbuf);
        rc = AA_EXIT_USAGE;
    } else if (err != AA_OK) {
        tool_error("HTTP client: %s",
                   errbuf[0] != '\0' ? errbuf : aa_strerror(err));
        rc = AA_EXIT_UNKNOWN;
    }
out:
    free_secret(token);
    free_secret(password);
    return rc;
}

char *tool_http_redact_url(const char *url, char *buf, size_t size)
{
    const char *p = url, *auth, *end, *at = NULL, *q;
    size_t len;

    if (size == 0) {
        return buf;
    }
    auth = strstr(url, "://");
    auth = auth != NULL ? auth + 3 : url;
    end = auth + strcspn(auth, "/?#");
    for (q = auth; q < end; q++) {
        if (*q == '@') {
            at = q;
        }
    }
    /* scheme:// then host[:port] then path, cut at '?' or '#' */
    len = (size_t)(auth - p);
    snprintf(buf, size, "%.*s", (int)len, p);
    p = at != NULL ? at + 1 : auth;
    len = strcspn(p, "?#");
    snprintf(buf + strlen(buf), size - strlen(buf), "%.*s", (int)len, p);
    return buf;
}

int tool_http_urlencode(aat_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = AA_OK;

    for (; *s != '\0' && rc == AA_OK; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            rc = aat_buf_append(b, s, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

            rc = aat_buf_append(b, esc, 3);
        }
    }
    return rc;
}
