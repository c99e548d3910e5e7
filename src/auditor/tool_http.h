/*
 * tool_http.h: the CLI's HTTP client for Prometheus-compatible APIs.  It
 * runs a batch of GET requests concurrently on one libcurl multi handle,
 * with a per-request timeout, retries with exponential backoff, a bounded
 * response body, redirects followed only within the URL's origin, and the
 * access options (bearer token, basic auth, extra headers, TLS), which
 * therefore never reach another origin.  Ownership: a tool_http owns copies of
 * every string in its options, secrets included (wiped on free); a
 * tool_http_req owns its url and body.
 */
#ifndef TOOL_HTTP_H
#define TOOL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/common.h"

/* Bound on one response body (after content decoding). */
#define TOOL_HTTP_MAX_BODY ((size_t)64 * 1024 * 1024)

typedef struct tool_http_opts {
    int64_t timeout_ms;         /* whole transfer, per attempt; 0: 30 s */
    int retries;                /* further attempts after the first */
    int64_t backoff_ms;         /* first retry delay, doubled each time;
                                   0: 250 ms */
    size_t max_body;            /* 0: TOOL_HTTP_MAX_BODY */
    const char *bearer_token;   /* secret; NULL: none */
    const char *basic_user;     /* NULL: no basic auth */
    const char *basic_password; /* secret */
    const char *const *headers; /* "Name: value" */
    size_t nheaders;
    const char *ca_file, *cert_file, *key_file;
    bool insecure;
} tool_http_opts;

/* One GET.  The caller zeroes it and sets url (malloc'd; freed by
 * tool_http_req_clear) and optionally timeout_ms and no_retry;
 * tool_http_run fills the rest. */
typedef struct tool_http_req {
    char *url;
    int64_t timeout_ms; /* > 0: shorter than the client's timeout */
    bool no_retry;      /* one attempt only (an optional request) */
    /* results */
    int err;           /* 0 (a response arrived, see status) or an aa_err:
                          AA_ECONNECT, AA_ETIMEOUT, AA_ETOOBIG, AA_EIO,
                          AA_ENOMEM */
    long status;       /* HTTP status of the last attempt, 0 if none */
    aat_buf body;      /* the last attempt's body; empty when err != 0 */
    char errmsg[256];  /* why err != 0; never holds a secret */
    unsigned attempts; /* attempts made */
    double seconds;    /* wall time from the batch start to completion */
} tool_http_req;

typedef struct tool_http tool_http;

/* Validates and copies opts.  AA_EINVAL with a message in errbuf for a
 * malformed header; AA_ENOMEM. */
int tool_http_new(const tool_http_opts *opts, tool_http **out, char *errbuf,
                  size_t errlen);

struct tool_config;

/*
 * tool_http_new() with the command line's access options: a bearer token
 * from --bearer-token-file or ASYNC_AUDITOR_BEARER_TOKEN; basic auth with
 * the password from --basic-auth-password-file or ASYNC_AUDITOR_PASSWORD;
 * --ca-file, --cert, --key, --insecure-skip-verify.  The rest (timeout,
 * retries, bounds, headers) comes from opts.  Returns 0, or an aa_exit
 * code after printing why: 64 for a bad or unreadable access option (the
 * message names flag and file, never a secret), 3 when out of memory.
 * The secrets read are wiped before it returns.
 */
int tool_http_from_cfg(const struct tool_config *cfg,
                       const tool_http_opts *opts, tool_http **out);
void tool_http_free(tool_http *h);

/*
 * Runs reqs[0..n) concurrently and returns when every one has finished
 * (succeeded, failed or exhausted its retries).  Retried: connection
 * refused or failed, timeouts, an empty or reset reply, and HTTP 429, 502,
 * 503 and 504.  Redirects (301, 302, 303, 307, 308) are followed, at
 * most 5 per attempt and within its timeout, only when they stay within
 * the origin (scheme, host, port) of the request's URL; a redirect
 * elsewhere (https to http included) fails the request with AA_EIO and a
 * message naming the new origin, and is not retried.  Bodies are bounded
 * one by one (max_body) and all together
 * (256 MiB per batch; a failed or retried attempt's body is freed at
 * once and stops counting); a transfer beyond either bound is aborted with
 * AA_ETOOBIG.  At most 48 transfers are open at once.  Each request's
 * outcome is in its fields; the return value is AA_ENOMEM or AA_EIO only
 * when the batch itself could not run.
 */
int tool_http_run(tool_http *h, tool_http_req *reqs, size_t n);

void tool_http_req_clear(tool_http_req *r);

/* url without user:password and without its query string, into buf, for
 * messages.  Returns buf. */
char *tool_http_redact_url(const char *url, char *buf, size_t size);

/* Appends s percent-encoded for a URL query into b. */
int tool_http_urlencode(aat_buf *b, const char *s);

#endif
