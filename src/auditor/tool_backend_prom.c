/*
 * tool_backend_prom.c: the backend over a Prometheus-compatible HTTP API
 * (Prometheus, VictoriaMetrics, Thanos, Mimir).  Structured questions are
 * compiled to PromQL (promql.c) and sent as /api/v1/query,
 * /api/v1/query_range and /api/v1/series requests; a run sends every
 * pending question as one concurrent batch (tool_http.c: retries with
 * backoff, Retry-After, body bounds).
 *
 * Answers are classified so that the exit code means something: a query
 * the backend rejects (HTTP 400/422, errorType bad_data) is REJECTED, a
 * configuration error naming the rule; a backend that cannot be reached
 * or fails is FAILED, which makes the audit incomplete when every rule
 * fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/promapi.h"
#include "aa/promql.h"
#include "tool_backend.h"
#include "tool_http.h"

/* The one attempt at learning the scrape interval may take this long. */
#define STEP_PROBE_TIMEOUT_MS 5000
/* Bound on a request URL, PromQL included (servers refuse far less). */
#define URL_MAX ((size_t)1024 * 1024)
/* Bound on a selector sent to the series API. */
#define SELECTOR_MAX ((size_t)65536)

typedef struct pending {
    tool_qkind kind;
    bool own_step;       /* RANGE: needs no scrape interval */
    const aa_rule *rule; /* INSTANT, RANGE */
    char *what;
    char *url;
    tool_answer *a;
} pending;

typedef struct prom {
    const tool_config *cfg;
    tool_http *http;
    char *base;      /* target without trailing '/' */
    char shown[512]; /* base for messages: without user:password */
    pending *pend;
    size_t npend, cap;
} prom;

/* ---- URLs ----------------------------------------------------------------
 */

/* A malloc'd URL: BASE/api/v1/<path>?<key>=<value>&...; values encoded.
 * pairs is NULL-terminated key, value, key, value... */
static char *make_url(const prom *p, const char *path,
                      const char *const *pairs)
{
    aat_buf b;
    size_t i;
    int rc;

    aat_buf_init(&b, URL_MAX);
    rc = aat_buf_appendf(&b, "%s/api/v1/%s", p->base, path);
    for (i = 0; rc == AA_OK && pairs[i] != NULL; i += 2) {
        rc = aat_buf_appendf(&b, "%c%s=", i == 0 ? '?' : '&', pairs[i]);
        if (rc == AA_OK) {
            rc = tool_http_urlencode(&b, pairs[i + 1]);
        }
    }
    if (rc != AA_OK) {
        aat_buf_release(&b);
        return NULL;
    }
    return aat_buf_steal(&b);
}

/* Unix seconds with millisecond precision, as the API takes them. */
static char *fmt_time(int64_t ms, char *buf, size_t size)
{
    int64_t a = ms < 0 ? -ms : ms;

    snprintf(buf, size, "%s%lld.%03lld", ms < 0 ? "-" : "",
             (long long)(a / 1000), (long long)(a % 1000));
    return buf;
}

/* The URL of q (whose PromQL or selector is text). */
static char *query_url(const prom *p, const tool_query *q, const char *text)
{
    char s[32], e[32], st[32];

    switch (q->kind) {
    case TOOL_Q_INSTANT: {
        const char *pairs[] = {"query", text, "time",
                               fmt_time(q->t_ms, e, sizeof(e)), NULL};

        return make_url(p, "query", pairs);
    }
    case TOOL_Q_RANGE: {
        const char *pairs[] = {"query", text,
                               "start", fmt_time(q->start_ms, s, sizeof(s)),
                               "end",   fmt_time(q->end_ms, e, sizeof(e)),
                               "step",  fmt_time(q->step_ms, st, sizeof(st)),
                               NULL};

        return make_url(p, "query_range", pairs);
    }
    case TOOL_Q_SERIES: {
        const char *pairs[] = {"match[]", text,
                               "start",   fmt_time(q->start_ms, s, sizeof(s)),
                               "end",     fmt_time(q->end_ms, e, sizeof(e)),
                               NULL};

        return make_url(p, "series", pairs);
    }
    case TOOL_Q_INTERVAL:
        break;
    }
    {
        static const char *const none[] = {NULL};

        return make_url(p, "status/config", none);
    }
}

/* ---- submit --------------------------------------------------------------
 */

/*
 * The text a question sends: compiled PromQL (INSTANT, RANGE) into
 * a->query, or the series selector (SERIES) into *sel.  A rule that
 * cannot be compiled is answered REJECTED at once.  AA_ENOMEM only.
 */
static int question_text(const tool_query *q, tool_answer *a, char **sel)
{
    aa_diag diag;
    aat_buf b;
    int rc;

    *sel = NULL;
    if (q->kind == TOOL_Q_SERIES) {
        aat_buf_init(&b, SELECTOR_MAX);
        rc = aa_promql_selector(&b, q->metric, q->where, q->extra);
        if (rc == AA_OK) {
            *sel = aat_buf_steal(&b);
            rc = *sel != NULL ? AA_OK : AA_ENOMEM;
        }
        aat_buf_release(&b);
        if (rc == AA_ETOOBIG) {
            a->status = TOOL_A_FAILED;
            return tool_answer_message(a,
                                       "%s: the selector is longer than "
                                       "%zu bytes",
                                       q->what, SELECTOR_MAX);
        }
        return rc;
    }
    if (q->kind == TOOL_Q_INTERVAL) {
        return AA_OK;
    }
    aa_diag_clear(&diag);
    rc = aa_promql_compile(q->rule, q->extra, q->window_ms, &a->query, &diag);
    if (rc == AA_ENOMEM) {
        return rc;
    }
    if (rc != AA_OK) {
        a->status = TOOL_A_REJECTED;
        return tool_answer_message(a, "rule %s: cannot build its query: %s",
                                   q->rule->id, diag.message);
    }
    return AA_OK;
}

static int prom_submit(void *impl, const tool_query *q, tool_answer *a)
{
    prom *p = impl;
    pending *np, *e;
    char *sel = NULL, url[512];
    int rc;

    rc = question_text(q, a, &sel);
    if (rc != AA_OK || a->status != TOOL_A_PENDING) {
        free(sel);
        return rc;
    }
    np = aa_grow(p->pend, &p->cap, p->npend, sizeof(*np), 16);
    if (np == NULL) {
        free(sel);
        return AA_ENOMEM;
    }
    p->pend = np;
    e = &p->pend[p->npend];
    memset(e, 0, sizeof(*e));
    e->kind = q->kind;
    e->own_step = q->own_step;
    e->rule = q->rule;
    e->a = a;
    e->what = aa_strdup(q->what != NULL ? q->what : "query");
    e->url = query_url(p, q, sel != NULL ? sel : a->query);
    if (e->what == NULL || e->url == NULL) {
        free(e->what);
        free(e->url);
        free(sel);
        return AA_ENOMEM;
    }
    p->npend++;
    if (q->kind != TOOL_Q_INTERVAL) {
        tool_verbose(p->cfg, "%s: GET %s: %s", e->what,
                     tool_http_redact_url(e->url, url, sizeof(url)),
                     sel != NULL ? sel : a->query);
    }
    free(sel);
    return AA_OK;
}

/* ---- answers -------------------------------------------------------------
 */

/* " (reason)" for the statuses a proxy or backend commonly sends. */
static const char *status_reason(long status)
{
    switch (status) {
    case 401:
        return " (unauthorized: check the credentials)";
    case 403:
        return " (forbidden)";
    case 404:
        return " (not found)";
    case 429:
        return " (too many requests)";
    case 500:
        return " (internal server error)";
    case 502:
        return " (bad gateway)";
    case 503:
        return " (service unavailable)";
    case 504:
        return " (gateway timeout)";
    default:
        return "";
    }
}

/* The rule a message names: the question's rule, else who asked. */
static const char *rule_name(const pending *e)
{
    return e->rule != NULL && e->rule->id != NULL ? e->rule->id : e->what;
}

/*
 * Explains a failed HTTP exchange (transport error, non-2xx status, error
 * envelope, unparsable body) in the answer: REJECTED for a rejected
 * question (400/422 or errorType bad_data), FAILED otherwise.  AA_ENOMEM
 * only.
 */
static int explain_failure(const pending *e, const tool_http_req *req,
                           const aa_promapi_resp *resp, bool parsed,
                           const aa_diag *diag)
{
    tool_answer *a = e->a;
    char url[512];

    tool_http_redact_url(req->url, url, sizeof(url));
    a->status = TOOL_A_FAILED;
    if (req->err != 0) {
        return tool_answer_message(a, "%s: %s (%u attempt%s)", url,
                                   req->errmsg, req->attempts,
                                   req->attempts == 1 ? "" : "s");
    }
    if (parsed && !resp->success &&
        (req->status == 400 || req->status == 422 ||
         (resp->error_type != NULL &&
          strcmp(resp->error_type, "bad_data") == 0))) {
        a->status = TOOL_A_REJECTED;
        return tool_answer_message(
            a, "rule %s: the backend rejected the query (HTTP %ld): %s: %s",
            rule_name(e), req->status,
            resp->error_type != NULL ? resp->error_type : "error",
            resp->error);
    }
    if (parsed && !resp->success) {
        char tries[32] = "";

        if (req->attempts > 1) {
            snprintf(tries, sizeof(tries), " (%u attempts)", req->attempts);
        }
        return tool_answer_message(
            a, "%s: HTTP %ld: %s: %s%s", url, req->status,
            resp->error_type != NULL ? resp->error_type : "error", resp->error,
            tries);
    }
    if (req->status == 400 || req->status == 422) {
        a->status = TOOL_A_REJECTED;
        return tool_answer_message(a,
                                   "rule %s: the backend rejected the query "
                                   "(HTTP %ld) without a Prometheus API error",
                                   rule_name(e), req->status);
    }
    if (req->status < 200 || req->status > 299) {
        return tool_answer_message(
            a, "%s: HTTP %ld%s%s (%u attempt%s)", url, req->status,
            status_reason(req->status),
            req->status >= 300 && req->status < 500
                ? "; the answer is not Prometheus API JSON: is --target the "
                  "API's base URL?"
                : "",
            req->attempts, req->attempts == 1 ? "" : "s");
    }
    return tool_answer_message(a, "%s: invalid response: %s", url,
                               diag->message);
}

/* Moves the answer's data out of resp into e's answer, checking that its
 * shape fits the question.  AA_ENOMEM only. */
static int take_data(const pending *e, aa_promapi_resp *resp)
{
    tool_answer *a = e->a;

    a->status = TOOL_A_OK;
    switch (e->kind) {
    case TOOL_Q_RANGE:
        if (resp->type != AA_PROMAPI_MATRIX) {
            a->status = TOOL_A_FAILED;
            return tool_answer_message(a,
                                       "rule %s: a range query answered "
                                       "with a result that is not a matrix",
                                       rule_name(e));
        }
        a->matrix = resp->matrix;
        memset(&resp->matrix, 0, sizeof(resp->matrix));
        return AA_OK;
    case TOOL_Q_SERIES:
        a->sets = resp->sets;
        a->nsets = resp->nsets;
        resp->sets = NULL;
        resp->nsets = 0;
        return AA_OK;
    case TOOL_Q_INSTANT:
    case TOOL_Q_INTERVAL:
        break;
    }
    if (resp->type != AA_PROMAPI_VECTOR && resp->type != AA_PROMAPI_SCALAR) {
        a->status = TOOL_A_REJECTED;
        return tool_answer_message(
            a,
            "rule %s: the query returns a %s; a rule "
            "needs an instant vector or a scalar",
            rule_name(e),
            resp->type == AA_PROMAPI_MATRIX ? "range vector" : "string");
    }
    a->vector = resp->vector;
    memset(&resp->vector, 0, sizeof(resp->vector));
    return AA_OK;
}

/* Fills e's answer from its finished request.  AA_ENOMEM only. */
static int take_answer(prom *p, const pending *e, tool_http_req *req)
{
    tool_answer *a = e->a;
    aa_promapi_resp resp;
    aa_diag diag;
    bool parsed;
    size_t i;
    int rc;

    tool_verbose(p->cfg, "%s: HTTP %ld in %.3f s (%u attempt%s)", e->what,
                 req->status, req->seconds, req->attempts,
                 req->attempts == 1 ? "" : "s");
    aa_diag_clear(&diag);
    rc = req->err != 0
             ? AA_EIO
             : aa_promapi_parse(req->body.data, req->body.len,
                                e->kind == TOOL_Q_SERIES ? AA_PROMAPI_SERIES
                                                         : AA_PROMAPI_QUERY,
                                &resp, &diag);
    if (rc == AA_ENOMEM) {
        return rc;
    }
    parsed = rc == AA_OK;
    if (!parsed) {
        memset(&resp, 0, sizeof(resp));
    }
    rc = AA_OK;
    for (i = 0; rc == AA_OK && i < resp.nwarnings; i++) {
        rc = tool_answer_note(&a->warnings, &a->nwarnings, resp.warnings[i]);
    }
    for (i = 0; rc == AA_OK && i < resp.ninfos; i++) {
        rc = tool_answer_note(&a->infos, &a->ninfos, resp.infos[i]);
    }
    if (rc == AA_OK) {
        if (!parsed || !resp.success || req->status < 200 ||
            req->status > 299) {
            rc = explain_failure(e, req, &resp, parsed, &diag);
        } else {
            rc = take_data(e, &resp);
        }
    }
    aa_promapi_resp_clear(&resp);
    return rc;
}

/* The interval answer from the status/config request: the global
 * scrape_interval, or 0.  AA_ENOMEM only. */
static int take_interval(const pending *e, const tool_http_req *req)
{
    tool_answer *a = e->a;
    aa_promapi_resp resp;
    aa_diag diag;
    int64_t ms = 0;
    char url[512];
    int rc;

    a->status = TOOL_A_OK;
    if (req->err == 0 && req->status == 200) {
        rc = aa_promapi_parse(req->body.data, req->body.len, AA_PROMAPI_CONFIG,
                              &resp, &diag);
        if (rc == AA_ENOMEM) {
            return rc;
        }
        if (rc == AA_OK) {
            if (!resp.success ||
                aa_promapi_scrape_interval(resp.string, &ms) != AA_OK) {
                ms = 0;
            }
            aa_promapi_resp_clear(&resp);
        }
    }
    a->interval_ms = ms > 0 ? ms : 0;
    a->source = aa_strdup(tool_http_redact_url(req->url, url, sizeof(url)));
    return a->source != NULL ? AA_OK : AA_ENOMEM;
}

/* ---- run -----------------------------------------------------------------
 */

static void clear_pending(prom *p)
{
    for (size_t i = 0; i < p->npend; i++) {
        free(p->pend[i].what);
        free(p->pend[i].url);
    }
    p->npend = 0;
}

static int prom_run(void *impl)
{
    prom *p = impl;
    tool_http_req *reqs = NULL;
    size_t *of = NULL, i, n = 0;
    bool ranged = false;
    int rc = AA_OK;

    for (i = 0; i < p->npend; i++) {
        ranged = ranged ||
                 (p->pend[i].kind == TOOL_Q_RANGE && !p->pend[i].own_step);
    }
    if (p->npend > 0) {
        reqs = calloc(p->npend, sizeof(*reqs));
        of = calloc(p->npend, sizeof(*of));
        if (reqs == NULL || of == NULL) {
            rc = AA_ENOMEM;
            goto out;
        }
    }
    for (i = 0; i < p->npend; i++) {
        pending *e = &p->pend[i];

        if (e->kind == TOOL_Q_INTERVAL && !ranged) {
            /* nothing in this run needs a step: not worth a request */
            e->a->status = TOOL_A_OK;
            continue;
        }
        if (e->kind == TOOL_Q_INTERVAL) {
            /* optional: one short attempt, so that a dead backend does
             * not delay the audit */
            reqs[n].timeout_ms = STEP_PROBE_TIMEOUT_MS;
            reqs[n].no_retry = true;
        }
        reqs[n].url = e->url;
        e->url = NULL;
        of[n++] = i;
    }
    if (n > 0) {
        rc = tool_http_run(p->http, reqs, n);
        if (rc != AA_OK) {
            tool_error("%s: the queries could not be run: %s", p->shown,
                       aa_strerror(rc));
            rc = AA_EIO;
            goto out;
        }
    }
    for (i = 0; rc == AA_OK && i < n; i++) {
        const pending *e = &p->pend[of[i]];

        rc = e->kind == TOOL_Q_INTERVAL ? take_interval(e, &reqs[i])
                                        : take_answer(p, e, &reqs[i]);
        tool_http_req_clear(&reqs[i]);
    }
out:
    for (i = 0; reqs != NULL && i < n; i++) {
        tool_http_req_clear(&reqs[i]);
    }
    free(reqs);
    free(of);
    clear_pending(p);
    return rc;
}

static void prom_free(void *impl)
{
    prom *p = impl;

    if (p == NULL) {
        return;
    }
    clear_pending(p);
    free(p->pend);
    tool_http_free(p->http);
    free(p->base);
    free(p);
}

static const tool_backend_ops prom_ops = {prom_submit, prom_run, prom_free};

/* ---- construction --------------------------------------------------------
 */

/* The target without trailing slashes, and its redacted form for
 * messages.  0 or an aa_exit code after printing why. */
static int make_base(prom *p)
{
    const char *t = p->cfg->target;
    size_t len;

    if (t == NULL ||
        (strncmp(t, "http://", 7) != 0 && strncmp(t, "https://", 8) != 0) ||
        strpbrk(t, "?# \t\r\n") != NULL) {
        /* Redacted: the URL may carry user:password. */
        tool_error("--target %s: expected an http:// or https:// URL "
                   "without a query string, fragment or white space",
                   t != NULL
                       ? tool_http_redact_url(t, p->shown, sizeof(p->shown))
                       : "(none)");
        return AA_EXIT_USAGE;
    }
    len = strlen(t);
    while (len > 0 && t[len - 1] == '/') {
        len--;
    }
    p->base = malloc(len + 1);
    if (p->base == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        return AA_EXIT_UNKNOWN;
    }
    memcpy(p->base, t, len);
    p->base[len] = '\0';
    tool_http_redact_url(p->base, p->shown, sizeof(p->shown));
    return 0;
}

/* The HTTP client of the audit.  0 or an aa_exit code after printing
 * why. */
static int make_http(prom *p)
{
    const tool_config *cfg = p->cfg;
    tool_http_opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    o.timeout_ms = cfg->timeout_ms;
    o.retries = cfg->retries;
    o.headers = cfg->headers;
    o.nheaders = cfg->nheaders;
    rc = tool_http_from_cfg(cfg, &o, &p->http);
    if (rc == 0 && cfg->insecure) {
        tool_verbose(cfg, "TLS certificate verification is off "
                          "(--insecure-skip-verify)");
    }
    return rc;
}

int tool_backend_prom_new(const tool_config *cfg, tool_backend **out)
{
    prom *p = calloc(1, sizeof(*p));
    int rc;

    *out = NULL;
    if (p == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        return AA_EXIT_UNKNOWN;
    }
    p->cfg = cfg;
    rc = make_base(p);
    if (rc == 0) {
        rc = make_http(p);
    }
    if (rc != 0) {
        prom_free(p);
        return rc;
    }
    if (tool_backend_new(&prom_ops, p, out) != AA_OK) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        return AA_EXIT_UNKNOWN;
    }
    return 0;
}
