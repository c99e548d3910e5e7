/*
 * tool_check.c: `check --target URL`, an audit against a Prometheus-
 * compatible HTTP API (Prometheus, VictoriaMetrics, Thanos, Mimir).
 *
 * Every rule is evaluated at one pinned time.  All rule queries, and the
 * culprit code sites of each group of the rules on event-loop metrics, go
 * out in one concurrent batch, so an audit costs one round trip.  Only
 * when rules come back empty does a second concurrent batch ask why,
 * because "no data" alone does not tell a user whether the probe is
 * missing, the selector is wrong or the window is quiet.  Backend answers
 * are classified so that the exit code means something: a query the
 * backend rejects (400/422) is a configuration error, an unreachable
 * backend makes the audit incomplete.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aa/promapi.h"
#include "aa/promql.h"
#include "tool_cfg.h"
#include "tool_http.h"

#define DEFAULT_STEP_MS (15 * 1000)
/* Prometheus refuses range queries of more than 11000 points per series. */
#define MAX_RANGE_POINTS 10000
/* How far back the series API looks when asking whether a metric exists. */
#define EXIST_LOOKBACK_MS ((int64_t)30 * 24 * 3600 * 1000)
/* The one attempt at learning the scrape interval may take this long. */
#define STEP_PROBE_TIMEOUT_MS 5000
/* Bound on a request URL, PromQL included (servers refuse far less). */
#define URL_MAX ((size_t)1024 * 1024)

/* Indices into the diagnosis requests of an empty rule. */
enum { DIAG_EXISTS, DIAG_MATCH, DIAG_WINDOW, DIAG_N };

typedef struct job {
    const aa_rule *rule;
    aa_rule_result *rr;
    bool range;          /* has "for": query_range and aa_judge_matrix */
    int64_t range_start; /* range queries: first step */
    long req;            /* index of the query in batch 1, -1: none */
    long diag[DIAG_N];   /* indices in batch 2, -1: none */
    bool empty;          /* answered with no series at all */
    bool failed;         /* transport or backend failure */
    char *sites_query;   /* culprit sites per group, or NULL */
    long sites_req;      /* its index in batch 1, -1: none */
} job;

typedef struct check {
    const tool_config *cfg;
    const aa_ruleset *rs;
    aa_report *report;
    tool_http *http;
    char *base;      /* target without trailing '/' */
    char shown[512]; /* base for messages: without user:password */
    int64_t end_ms;
    int64_t window_ms;
    int64_t step_ms;
    bool config_error;
} check;

/* ---- access ------------------------------------------------------------ */

/* The HTTP client of the audit.  Returns 0 or an aa_exit code after
 * printing why. */
static int make_http(const tool_config *cfg, tool_http **out)
{
    tool_http_opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    o.timeout_ms = cfg->timeout_ms;
    o.retries = cfg->retries;
    o.headers = cfg->headers;
    o.nheaders = cfg->nheaders;
    rc = tool_http_from_cfg(cfg, &o, out);
    if (rc == 0 && cfg->insecure) {
        tool_verbose(cfg, "TLS certificate verification is off "
                          "(--insecure-skip-verify)");
    }
    return rc;
}

/* ---- URLs --------------------------------------------------------------- */

static int64_t wall_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A malloc'd URL: BASE/api/v1/<path>?<key>=<value>&...; values encoded.
 * pairs is NULL-terminated key, value, key, value... */
static char *make_url(const check *c, const char *path,
                      const char *const *pairs)
{
    aat_buf b;
    size_t i;
    int rc;

    aat_buf_init(&b, URL_MAX);
    rc = aat_buf_appendf(&b, "%s/api/v1/%s", c->base, path);
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

static char *instant_url(const check *c, const char *promql)
{
    char t[32];
    const char *pairs[] = {"query", promql, "time",
                           fmt_time(c->end_ms, t, sizeof(t)), NULL};

    return make_url(c, "query", pairs);
}

static char *range_url(const check *c, const char *promql, int64_t start_ms)
{
    char s[32], e[32], st[32];
    const char *pairs[] = {"query", promql,
                           "start", fmt_time(start_ms, s, sizeof(s)),
                           "end",   fmt_time(c->end_ms, e, sizeof(e)),
                           "step",  fmt_time(c->step_ms, st, sizeof(st)),
                           NULL};

    return make_url(c, "query_range", pairs);
}

static char *series_url(const check *c, const char *match, int64_t start_ms,
                        int64_t end_ms)
{
    char s[32], e[32];
    const char *pairs[] = {"match[]", match,
                           "start",   fmt_time(start_ms, s, sizeof(s)),
                           "end",     fmt_time(end_ms, e, sizeof(e)),
                           NULL};

    return make_url(c, "series", pairs);
}

/* ---- results ------------------------------------------------------------ */

static void rule_error(aa_rule_result *rr, const aa_rule *rule)
{
    rr->rule = rule;
    rr->verdict = AA_VERDICT_ERROR;
    rr->has_value = false;
    rr->value = NAN;
    rr->crossed = NULL;
}

static int add_warning(aa_rule_result *rr, const char *prefix,
                       const char *text)
{
    char **v = realloc(rr->warnings, (rr->nwarnings + 1) * sizeof(*v));
    aat_buf b;

    if (v == NULL) {
        return AA_ENOMEM;
    }
    rr->warnings = v;
    aat_buf_init(&b, 8192);
    if (aat_buf_appendf(&b, "%s%.4000s", prefix, text) != AA_OK) {
        aat_buf_release(&b);
        return AA_ENOMEM;
    }
    rr->warnings[rr->nwarnings++] = aat_buf_steal(&b);
    return AA_OK;
}

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

/*
 * Explains a failed HTTP exchange (transport error, non-2xx status, error
 * envelope, unparsable body) in rr->message.  Sets *config for a rejected
 * query (400/422 or errorType bad_data).
 */
static void explain_failure(const job *j, const tool_http_req *req,
                            const aa_promapi_resp *resp, bool parsed,
                            const aa_diag *diag, bool *config)
{
    char url[512];
    const char *rid = j->rule->id;

    *config = false;
    tool_http_redact_url(req->url, url, sizeof(url));
    if (req->err != 0) {
        tool_set_message(j->rr, "%s: %s (%u attempt%s)", url, req->errmsg,
                         req->attempts, req->attempts == 1 ? "" : "s");
        return;
    }
    if (parsed && !resp->success &&
        (req->status == 400 || req->status == 422 ||
         (resp->error_type != NULL &&
          strcmp(resp->error_type, "bad_data") == 0))) {
        *config = true;
        tool_set_message(j->rr,
                         "rule %s: the backend rejected the query (HTTP %ld): "
                         "%s: %s",
                         rid, req->status,
                         resp->error_type != NULL ? resp->error_type : "error",
                         resp->error);
        return;
    }
    if (parsed && !resp->success) {
        char tries[32] = "";

        if (req->attempts > 1) {
            snprintf(tries, sizeof(tries), " (%u attempts)", req->attempts);
        }
        tool_set_message(j->rr, "%s: HTTP %ld: %s: %s%s", url, req->status,
                         resp->error_type != NULL ? resp->error_type : "error",
                         resp->error, tries);
        return;
    }
    if (req->status == 400 || req->status == 422) {
        *config = true;
        tool_set_message(j->rr,
                         "rule %s: the backend rejected the query (HTTP %ld) "
                         "without a Prometheus API error",
                         rid, req->status);
        return;
    }
    if (req->status < 200 || req->status > 299) {
        tool_set_message(j->rr, "%s: HTTP %ld%s%s (%u attempt%s)", url,
                         req->status, status_reason(req->status),
                         req->status >= 300 && req->status < 500
                             ? "; the answer is not Prometheus API JSON: is "
                               "--target the API's base URL?"
                             : "",
                         req->attempts, req->attempts == 1 ? "" : "s");
        return;
    }
    tool_set_message(j->rr, "%s: invalid response: %s", url, diag->message);
}

/* Whether a rule judged before rr already got this warning (so that a
 * partial response shared by every query is printed once). */
static bool warned_before(const check *c, const aa_rule_result *rr,
                          const char *text)
{
    const aa_rule_result *p;
    size_t k;

    for (p = c->report->rules; p < rr; p++) {
        for (k = 0; k < p->nwarnings; k++) {
            if (strcmp(p->warnings[k], text) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Attaches the backend's warnings and infos to the rule and prints each
 * distinct warning once.  AA_ENOMEM only. */
static int take_backend_notes(const check *c, const job *j,
                              const aa_promapi_resp *resp)
{
    size_t i;

    for (i = 0; i < resp->nwarnings; i++) {
        if (c->cfg->verbosity >= 0 &&
            !warned_before(c, j->rr, resp->warnings[i])) {
            tool_warn("%s: backend warning: %s (rule %s)", c->shown,
                      resp->warnings[i], j->rule->id);
        }
        if (add_warning(j->rr, "", resp->warnings[i]) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    for (i = 0; i < resp->ninfos; i++) {
        tool_verbose(c->cfg, "rule %s: backend info: %s", j->rule->id,
                     resp->infos[i]);
        if (add_warning(j->rr, "info: ", resp->infos[i]) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

/*
 * Judges one rule from its answer in batch 1.  Returns AA_ENOMEM only;
 * every backend problem becomes the rule's error verdict.
 */
static int judge_answer(check *c, job *j, tool_http_req *req)
{
    aa_promapi_resp resp;
    aa_diag diag;
    bool parsed, config = false;
    int rc;

    aa_diag_clear(&diag);
    rc = req->err != 0 ? AA_EIO
                       : aa_promapi_parse(req->body.data, req->body.len,
                                          AA_PROMAPI_QUERY, &resp, &diag);
    if (rc == AA_ENOMEM) {
        return rc;
    }
    parsed = rc == AA_OK;
    if (!parsed) {
        memset(&resp, 0, sizeof(resp));
    }
    tool_verbose(c->cfg, "rule %s: HTTP %ld in %.3f s (%u attempt%s)",
                 j->rule->id, req->status, req->seconds, req->attempts,
                 req->attempts == 1 ? "" : "s");
    if (parsed) {
        rc = take_backend_notes(c, j, &resp);
        if (rc != AA_OK) {
            goto out;
        }
    }
    if (!parsed || !resp.success || req->status < 200 || req->status > 299) {
        explain_failure(j, req, &resp, parsed, &diag, &config);
        rule_error(j->rr, j->rule);
        rc = AA_OK;
        if (config) {
            c->config_error = true;
            tool_error("%s", j->rr->message != NULL ? j->rr->message
                                                    : "query rejected");
        } else {
            j->failed = true;
        }
        goto out;
    }
    if (j->range) {
        if (resp.type != AA_PROMAPI_MATRIX) {
            tool_set_message(j->rr,
                             "rule %s: a range query answered with a result "
                             "that is not a matrix",
                             j->rule->id);
            rule_error(j->rr, j->rule);
            j->failed = true;
            goto out;
        }
        j->empty = resp.matrix.n == 0;
        rc = aa_judge_matrix(j->rule, &resp.matrix, c->end_ms, c->step_ms,
                             j->rr);
    } else {
        if (resp.type != AA_PROMAPI_VECTOR && resp.type != AA_PROMAPI_SCALAR) {
            tool_set_message(j->rr,
                             "rule %s: the query returns a %s; a rule needs "
                             "an instant vector or a scalar",
                             j->rule->id,
                             resp.type == AA_PROMAPI_MATRIX ? "range vector"
                                                            : "string");
            rule_error(j->rr, j->rule);
            c->config_error = true;
            tool_error("%s", j->rr->message);
            goto out;
        }
        j->empty = resp.vector.n == 0;
        rc = aa_judge_vector(j->rule, &resp.vector, j->rr);
    }
    if (rc != AA_OK) {
        if (rc == AA_ENOMEM) {
            goto out;
        }
        tool_set_message(j->rr, "rule %s: cannot judge the answer: %s",
                         j->rule->id, aa_strerror(rc));
        rule_error(j->rr, j->rule);
        rc = AA_OK;
    }
out:
    aa_promapi_resp_clear(&resp);
    return rc;
}

/* ---- why is a rule empty? ----------------------------------------------- */

/* The series the rule's query selects, without and with its matchers. */
static int diag_selectors(const check *c, const aa_rule *rule, char **name,
                          char **plain, char **matched, char **matchers)
{
    static const aa_matchers none = {NULL, 0};
    aa_plan plan;
    aat_buf b;
    int rc;

    *name = *plain = *matched = *matchers = NULL;
    if (aa_rule_plan(rule, &plan) != AA_OK) {
        return AA_EINVAL;
    }
    aat_buf_init(&b, 65536);
    rc = aat_buf_appendf(&b, "%s%s", rule->metric, plan.suffix);
    *name = aat_buf_steal(&b);
    if (rc == AA_OK && *name != NULL) {
        rc = aa_promql_selector(&b, *name, &none, &none);
        *plain = aat_buf_steal(&b);
    }
    if (rc == AA_OK && *plain != NULL) {
        rc = aa_promql_selector(&b, *name, &rule->where, &c->cfg->selector);
        *matched = aat_buf_steal(&b);
    }
    if (rc == AA_OK && *matched != NULL) {
        rc = aa_promql_selector(&b, NULL, &rule->where, &c->cfg->selector);
        *matchers = aat_buf_steal(&b);
        if (rc == AA_OK && *matchers == NULL) {
            *matchers = aa_strdup("{}");
        }
    }
    aat_buf_release(&b);
    if (rc != AA_OK || *name == NULL || *plain == NULL || *matched == NULL ||
        *matchers == NULL) {
        free(*name);
        free(*plain);
        free(*matched);
        free(*matchers);
        *name = *plain = *matched = *matchers = NULL;
        return rc != AA_OK ? rc : AA_ENOMEM;
    }
    return AA_OK;
}

static int64_t window_start(const check *c, const job *j)
{
    int64_t start = c->end_ms - c->window_ms;

    if (j->range && j->range_start - c->window_ms < start) {
        start = j->range_start - c->window_ms;
    }
    return start;
}

/*
 * Whether an answer (series API: a label set; query: a sample) shows that
 * something exists; -1 when it failed, after saying why in rr's message.
 */
static int series_found(tool_http_req *req, aa_promapi_kind kind,
                        aa_rule_result *rr)
{
    static const char why[] = "the query returned no data, and the series "
                              "API could not tell why";
    aa_promapi_resp resp;
    aa_diag diag;
    char url[512];
    int rc, found;

    tool_http_redact_url(req->url, url, sizeof(url));
    if (req->err != 0) {
        tool_set_message(rr, "%s: %s: %s", why, url, req->errmsg);
        return -1;
    }
    rc = aa_promapi_parse(req->body.data, req->body.len, kind, &resp, &diag);
    if (rc != AA_OK) {
        tool_set_message(rr, "%s: %s: HTTP %ld: invalid response: %s", why,
                         url, req->status, diag.message);
        return -1;
    }
    if (!resp.success || req->status < 200 || req->status > 299) {
        tool_set_message(rr, "%s: %s: HTTP %ld: %s", why, url, req->status,
                         resp.error != NULL ? resp.error : "error");
        aa_promapi_resp_clear(&resp);
        return -1;
    }
    found = kind == AA_PROMAPI_SERIES ? resp.nsets > 0 : resp.vector.n > 0;
    aa_promapi_resp_clear(&resp);
    return found;
}

/* RFC 3339 UTC with seconds, e.g. "2026-11-26T07:01:13Z". */
static char *fmt_rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, size, "%lld ms", (long long)ms);
    }
    return buf;
}

static void fmt_window(const check *c, const job *j, char *buf, size_t size)
{
    char a[40], b[40];

    snprintf(buf, size, "%s to %s",
             fmt_rfc3339(window_start(c, j), a, sizeof(a)),
             fmt_rfc3339(c->end_ms, b, sizeof(b)));
}

/* Sets the no-data message of an empty structured rule from its three
 * series-API answers. */
static void explain_empty(const check *c, job *j, tool_http_req *reqs)
{
    char *name = NULL, *plain = NULL, *matched = NULL, *matchers = NULL;
    char win[96];
    const char *metric = j->rule->metric;
    int exists, match, inwin;

    if (diag_selectors(c, j->rule, &name, &plain, &matched, &matchers) !=
        AA_OK) {
        return;
    }
    fmt_window(c, j, win, sizeof(win));
    exists =
        series_found(&reqs[j->diag[DIAG_EXISTS]], AA_PROMAPI_SERIES, j->rr);
    match = exists > 0 ? series_found(&reqs[j->diag[DIAG_MATCH]],
                                      AA_PROMAPI_SERIES, j->rr)
                       : 0;
    inwin = match > 0 ? series_found(&reqs[j->diag[DIAG_WINDOW]],
                                     AA_PROMAPI_QUERY, j->rr)
                      : 0;
    if (exists < 0 || match < 0 || inwin < 0) {
        goto out; /* series_found said why */
    }
    if (exists == 0) {
        tool_set_message(j->rr, "metric %s has no series; is %s?%s%s%s",
                         metric,
                         strncmp(metric, "python_asyncio_", 15) == 0
                             ? "the probe installed"
                             : "it exported and scraped",
                         strcmp(name, metric) != 0 ? " (looked for " : "",
                         strcmp(name, metric) != 0 ? name : "",
                         strcmp(name, metric) != 0 ? ")" : "");
    } else if (match == 0) {
        tool_set_message(j->rr, "metric %s has series, but none match %s",
                         metric, matchers);
    } else if (inwin == 0) {
        tool_set_message(j->rr, "metric %s: no samples in the window (%s)",
                         metric, win);
    } else {
        tool_set_message(j->rr,
                         "metric %s has samples in the window (%s), but the "
                         "query returned nothing: too few samples for the "
                         "stat (a rate needs two in the window) or a \"by\" "
                         "label missing",
                         metric, win);
    }
out:
    free(name);
    free(plain);
    free(matched);
    free(matchers);
}

/* ---- culprit sites ------------------------------------------------------ */

/*
 * The culprit-site query of a rule on an event-loop metric: the top sites
 * of each of the rule's groups ("by" labels), over the site metric
 * restricted to the rule's "where" and the --selector.  It goes out with
 * the rule queries, before anyone knows which group will be the worst;
 * afterwards the worst group's sites are picked (sites_pick), so a finding
 * on one instance never blames another instance's code.  NULL on OOM.
 */
static char *sites_query(const check *c, const aa_rule *rule)
{
    static const aa_matchers none = {NULL, 0};
    aa_matchers all = {NULL, 0};
    size_t i, nby = rule->metric != NULL ? rule->nby : 0;
    char w[32], *q = NULL;
    aat_buf b;
    int rc = AA_OK;

    if (rule->metric != NULL) {
        rc = aa_matchers_append(&all, &rule->where);
    }
    if (rc == AA_OK) {
        rc = aa_matchers_append(&all, &c->cfg->selector);
    }
    aat_buf_init(&b, 65536);
    aa_duration_format(c->window_ms, w, sizeof(w));
    if (rc == AA_OK) {
        rc = aat_buf_appendf(&b, "topk%s", nby > 0 ? " by (" : "");
    }
    for (i = 0; rc == AA_OK && i < nby; i++) {
        rc = aat_buf_appendf(&b, "%s%s", i > 0 ? ", " : "", rule->by[i]);
    }
    if (rc == AA_OK) {
        rc = aat_buf_appendf(&b, "%s(%d, sum by (", nby > 0 ? ") " : "",
                            AA_TOP_SITES);
    }
    for (i = 0; rc == AA_OK && i < nby; i++) {
        rc = aat_buf_appendf(&b, "%s, ", rule->by[i]);
    }
    if (rc == AA_OK) {
        rc = aat_buf_appendf(&b, "site) (increase(");
    }
    if (rc == AA_OK) {
        rc = aa_promql_selector(&b, TOOL_SITE_METRIC, &all, &none);
    }
    if (rc == AA_OK) {
        rc = aat_buf_appendf(&b, "[%s])))", w);
    }
    if (rc == AA_OK) {
        q = aat_buf_steal(&b);
    }
    aat_buf_release(&b);
    aa_matchers_clear(&all);
    return q;
}

/* Queues the culprit-site query of each rule on a loop metric into batch
 * 1 (rules with the same query share one request).  AA_ENOMEM only. */
static int plan_sites(check *c, job *jobs, tool_http_req *reqs, size_t *nreq)
{
    size_t i, k;
    char url[512];

    for (i = 0; i < c->rs->nrules; i++) {
        job *j = &jobs[i];

        if (j->req < 0 || !tool_rule_on_loop_metric(j->rule)) {
            continue;
        }
        j->sites_query = sites_query(c, j->rule);
        if (j->sites_query == NULL) {
            return AA_ENOMEM;
        }
        for (k = 0; k < i; k++) {
            if (jobs[k].sites_query != NULL &&
                strcmp(jobs[k].sites_query, j->sites_query) == 0) {
                j->sites_req = jobs[k].sites_req;
                break;
            }
        }
        if (k < i) {
            continue;
        }
        reqs[*nreq].url = instant_url(c, j->sites_query);
        if (reqs[*nreq].url == NULL) {
            return AA_ENOMEM;
        }
        tool_verbose(c->cfg, "rule %s: culprit sites: GET %s: %s", j->rule->id,
                     tool_http_redact_url(reqs[*nreq].url, url, sizeof(url)),
                     j->sites_query);
        j->sites_req = (long)(*nreq)++;
    }
    return AA_OK;
}

/* Whether a site sample belongs to the worst group: equal on every "by"
 * label the sample carries (a label the site metric lacks matches). */
static bool site_in_group(const aa_rule *rule, const aa_labels *sample,
                          const aa_labels *worst)
{
    size_t i;

    for (i = 0; rule->metric != NULL && i < rule->nby; i++) {
        const char *sv = aa_labels_get(sample, rule->by[i]);
        const char *wv = aa_labels_get(worst, rule->by[i]);

        if (sv != NULL && strcmp(sv, wv != NULL ? wv : "") != 0) {
            return false;
        }
    }
    return true;
}

/*
 * Picks the worst group's sites from the sites answer into j's result,
 * worst first.  A failed sites query leaves the list empty (sites are an
 * aid, not a verdict).  AA_ENOMEM only.
 */
static int sites_pick(const check *c, const job *j, tool_http_req *req)
{
    static const aa_labels nolabels = {NULL, 0};
    aa_rule_result *rr = j->rr;
    const aa_labels *worst =
        rr->nseries > 0 ? &rr->series[0].labels : &nolabels;
    aa_promapi_resp resp;
    aa_diag diag;
    aa_site *v = NULL;
    size_t i, n = 0;
    int rc;

    if (req->err != 0) {
        tool_verbose(c->cfg, "culprit sites: %s", req->errmsg);
        return AA_OK;
    }
    rc = aa_promapi_parse(req->body.data, req->body.len, AA_PROMAPI_QUERY,
                          &resp, &diag);
    if (rc == AA_ENOMEM) {
        return rc;
    }
    if (rc != AA_OK || !resp.success || resp.type != AA_PROMAPI_VECTOR) {
        tool_verbose(c->cfg, "culprit sites: HTTP %ld: %s", req->status,
                     rc != AA_OK          ? diag.message
                     : resp.error != NULL ? resp.error
                                          : "not a vector");
        aa_promapi_resp_clear(&resp);
        return AA_OK;
    }
    if (resp.vector.n > 0) {
        v = calloc(resp.vector.n, sizeof(*v));
        if (v == NULL) {
            aa_promapi_resp_clear(&resp);
            return AA_ENOMEM;
        }
    }
    rc = AA_OK;
    for (i = 0; i < resp.vector.n; i++) {
        const aa_sample *s = &resp.vector.v[i];
        const char *site = aa_labels_get(&s->labels, "site");

        if (site == NULL || !site_in_group(j->rule, &s->labels, worst)) {
            continue;
        }
        v[n].site = aa_strdup(site);
        if (v[n].site == NULL) {
            rc = AA_ENOMEM;
            break;
        }
        v[n++].seconds = s->value;
    }
    aa_promapi_resp_clear(&resp);
    aa_rule_result_set_sites(rr, v, n, rc == AA_OK ? AA_TOP_SITES : 0);
    return rc;
}

/* ---- the audit ---------------------------------------------------------- */

/* Resolves the pinned time, window and step; 0 or an aa_exit code. */
static int resolve_times(check *c)
{
    const tool_config *cfg = c->cfg;

    c->end_ms = cfg->has_end ? cfg->end_ms : wall_now_ms();
    if (cfg->has_start) {
        if (cfg->start_ms >= c->end_ms) {
            tool_error("--start: must be before the end of the window");
            return AA_EXIT_USAGE;
        }
        c->window_ms = c->end_ms - cfg->start_ms;
    } else if (cfg->window_ms > 0) {
        c->window_ms = cfg->window_ms;
    } else if (c->rs->window_ms > 0) {
        c->window_ms = c->rs->window_ms;
    } else {
        c->window_ms = TOOL_DEFAULT_WINDOW_MS;
    }
    c->step_ms = cfg->step_ms > 0 ? cfg->step_ms : DEFAULT_STEP_MS;
    return 0;
}

/* The target without trailing slashes, and its redacted form for
 * messages.  0 or an aa_exit code after printing why. */
static int make_base(check *c)
{
    const char *t = c->cfg->target;
    size_t len;

    if (t == NULL ||
        (strncmp(t, "http://", 7) != 0 && strncmp(t, "https://", 8) != 0) ||
        strpbrk(t, "?# \t\r\n") != NULL) {
        /* Redacted: the URL may carry user:password. */
        tool_error("--target %s: expected an http:// or https:// URL "
                   "without a query string, fragment or white space",
                   t != NULL
                       ? tool_http_redact_url(t, c->shown, sizeof(c->shown))
                       : "(none)");
        return AA_EXIT_USAGE;
    }
    len = strlen(t);
    while (len > 0 && t[len - 1] == '/') {
        len--;
    }
    c->base = malloc(len + 1);
    if (c->base == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        return AA_EXIT_UNKNOWN;
    }
    memcpy(c->base, t, len);
    c->base[len] = '\0';
    tool_http_redact_url(c->base, c->shown, sizeof(c->shown));
    return 0;
}

/* Runs a batch.  AA_EIO after printing why when it could not run. */
static int run_batch(check *c, tool_http_req *reqs, size_t n)
{
    int rc = tool_http_run(c->http, reqs, n);

    if (rc != AA_OK) {
        tool_error("%s: the queries could not be run: %s", c->shown,
                   aa_strerror(rc));
        return AA_EIO;
    }
    return AA_OK;
}

static void free_reqs(tool_http_req *reqs, size_t n)
{
    size_t i;

    for (i = 0; reqs != NULL && i < n; i++) {
        tool_http_req_clear(&reqs[i]);
    }
    free(reqs);
}

/* The longest "for" of the rule set (0: no rule has one). */
static int64_t max_for_ms(const check *c)
{
    int64_t m = 0;
    size_t i;

    for (i = 0; i < c->rs->nrules; i++) {
        if (c->rs->rules[i].for_ms > m) {
            m = c->rs->rules[i].for_ms;
        }
    }
    return m;
}

/* step, widened when the longest "for" would need more than
 * MAX_RANGE_POINTS steps (only for a step the user did not choose). */
static int64_t widen_step(const check *c, int64_t step)
{
    int64_t m = max_for_ms(c);

    if (c->cfg->step_ms <= 0 && aa_for_steps(m, step) - 1 > MAX_RANGE_POINTS) {
        step = (m + MAX_RANGE_POINTS - 1) / MAX_RANGE_POINTS;
    }
    return step;
}

/*
 * --step's default for rules with "for:" is the backend's global scrape
 * interval (Prometheus answers /api/v1/status/config; other engines may
 * not), else 15 s.  The lookup rides in batch 1 beside range queries sent
 * with the provisional 15 s; one short attempt without retries, so that a
 * dead backend does not delay the audit.  Returns the index of the lookup
 * in reqs, or -1 when none is needed; -2 on OOM.
 */
static long plan_step_lookup(const check *c, tool_http_req *reqs, size_t *nreq)
{
    static const char *const none[] = {NULL};

    if (c->cfg->step_ms > 0 || max_for_ms(c) == 0) {
        return -1;
    }
    reqs[*nreq].url = make_url(c, "status/config", none);
    if (reqs[*nreq].url == NULL) {
        return -2;
    }
    reqs[*nreq].timeout_ms = STEP_PROBE_TIMEOUT_MS;
    reqs[*nreq].no_retry = true;
    return (long)(*nreq)++;
}

/* The step the lookup's answer gives (widened), or the default.  AA_ENOMEM
 * only. */
static int step_from_lookup(const check *c, tool_http_req *req, int64_t *step)
{
    aa_promapi_resp resp;
    aa_diag diag;
    int64_t ms = 0;
    char url[512];
    int rc = AA_OK;

    *step = 0;
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
    tool_http_redact_url(req->url, url, sizeof(url));
    if (ms > 0) {
        tool_verbose(c->cfg, "step: the scrape interval, %lld ms (%s)",
                     (long long)ms, url);
    } else {
        ms = DEFAULT_STEP_MS;
        tool_verbose(c->cfg, "step: %s gave no scrape interval; using %lld ms",
                     url, (long long)ms);
    }
    *step = widen_step(c, ms);
    return AA_OK;
}

/* Builds the query URL of a range job for the current step. */
static char *range_job_url(check *c, job *j)
{
    int64_t steps = aa_for_steps(j->rule->for_ms, c->step_ms) - 1;

    j->range_start = c->end_ms - steps * c->step_ms;
    return range_url(c, j->rr->query, j->range_start);
}

/*
 * When the looked-up step differs from the provisional one, sends the
 * range queries again with it (one more concurrent batch); their answers
 * replace the provisional ones in reqs.  AA_ENOMEM, or AA_EIO after
 * printing why the batch could not run.
 */
static int settle_step(check *c, job *jobs, tool_http_req *reqs, long lookup)
{
    tool_http_req *redo = NULL;
    size_t i, n = 0;
    int64_t step;
    int rc = AA_OK;

    if (lookup < 0) {
        return AA_OK;
    }
    if (step_from_lookup(c, &reqs[lookup], &step) != AA_OK) {
        return AA_ENOMEM;
    }
    if (step == c->step_ms) {
        return AA_OK;
    }
    c->step_ms = step;
    redo = calloc(c->rs->nrules + 1, sizeof(*redo));
    if (redo == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; i < c->rs->nrules; i++) {
        job *j = &jobs[i];

        if (!j->range || j->req < 0) {
            continue;
        }
        tool_http_req_clear(&reqs[j->req]);
        reqs[j->req].url = range_job_url(c, j);
        if (reqs[j->req].url == NULL) {
            rc = AA_ENOMEM;
            break;
        }
        redo[n++] = reqs[j->req];
        memset(&reqs[j->req], 0, sizeof(reqs[j->req]));
    }
    if (rc == AA_OK && n > 0) {
        tool_verbose(c->cfg, "step: sending %zu range quer%s again", n,
                     n == 1 ? "y" : "ies");
        rc = run_batch(c, redo, n);
    }
    /* Hand every request back (sent or not) so that reqs owns it. */
    for (i = 0, n = 0; i < c->rs->nrules; i++) {
        job *j = &jobs[i];

        if (j->range && j->req >= 0 && reqs[j->req].url == NULL &&
            redo[n].url != NULL) {
            reqs[j->req] = redo[n++];
        }
    }
    free(redo);
    return rc;
}

/* Compiles every rule and queues its query.  Returns AA_ENOMEM only. */
static int plan_queries(check *c, job *jobs, tool_http_req *reqs, size_t *nreq)
{
    size_t i;
    char url[512];

    for (i = 0; i < c->rs->nrules; i++) {
        job *j = &jobs[i];
        aa_diag diag;
        char *promql = NULL;
        int rc;

        j->rule = &c->rs->rules[i];
        j->rr = &c->report->rules[i];
        j->rr->rule = j->rule;
        j->req = -1;
        j->sites_req = -1;
        j->diag[0] = j->diag[1] = j->diag[2] = -1;
        aa_diag_clear(&diag);
        rc = aa_promql_compile(j->rule, &c->cfg->selector, c->window_ms,
                               &promql, &diag);
        if (rc == AA_ENOMEM) {
            return rc;
        }
        if (rc != AA_OK) {
            tool_set_message(j->rr, "rule %s: cannot build its query: %s",
                             j->rule->id, diag.message);
            rule_error(j->rr, j->rule);
            c->config_error = true;
            tool_error("%s", j->rr->message);
            continue;
        }
        j->rr->query = promql;
        j->range = j->rule->for_ms > 0;
        if (j->range) {
            int64_t steps = aa_for_steps(j->rule->for_ms, c->step_ms) - 1;

            if (steps > MAX_RANGE_POINTS) {
                tool_set_message(j->rr,
                                 "rule %s: for: spans %lld steps of --step; "
                                 "at most %d are allowed (raise --step)",
                                 j->rule->id, (long long)steps,
                                 MAX_RANGE_POINTS);
                rule_error(j->rr, j->rule);
                c->config_error = true;
                tool_error("%s", j->rr->message);
                continue;
            }
            reqs[*nreq].url = range_job_url(c, j);
        } else {
            reqs[*nreq].url = instant_url(c, promql);
        }
        if (reqs[*nreq].url == NULL) {
            return AA_ENOMEM;
        }
        tool_verbose(c->cfg, "rule %s: GET %s: %s", j->rule->id,
                     tool_http_redact_url(reqs[*nreq].url, url, sizeof(url)),
                     promql);
        j->req = (long)(*nreq)++;
    }
    return AA_OK;
}

/* count(count_over_time(SEL[end - start])) at the pinned time. */
static char *window_count_url(const check *c, const char *sel,
                              int64_t start_ms)
{
    char w[32];
    aat_buf b;
    char *url;

    aat_buf_init(&b, 65536);
    aa_duration_format(c->end_ms - start_ms, w, sizeof(w));
    if (aat_buf_appendf(&b, "count(count_over_time(%s[%s]))", sel, w) !=
        AA_OK) {
        aat_buf_release(&b);
        return NULL;
    }
    url = instant_url(c, b.data);
    aat_buf_release(&b);
    return url;
}

/* Queues the three questions for each empty structured rule. */
static int plan_diagnosis(check *c, job *jobs, tool_http_req *reqs,
                          size_t *nreq)
{
    size_t i;

    for (i = 0; i < c->rs->nrules; i++) {
        job *j = &jobs[i];
        char *name, *plain, *matched, *matchers, url[512];
        int64_t start, now;
        int rc;

        if (!j->empty || j->rule->metric == NULL) {
            if (j->empty) {
                tool_set_message(j->rr, "the query returned no data in the "
                                        "window");
            }
            continue;
        }
        rc = diag_selectors(c, j->rule, &name, &plain, &matched, &matchers);
        if (rc == AA_ENOMEM) {
            return rc;
        }
        if (rc != AA_OK) {
            tool_set_message(j->rr,
                             "the query returned no data in the window");
            continue;
        }
        /* "exists at all" looks at a long span up to now, so a window in
         * the past still learns that the metric is there. */
        start = window_start(c, j);
        now = wall_now_ms();
        if (now < c->end_ms) {
            now = c->end_ms;
        }
        reqs[*nreq].url = series_url(c, plain, start - EXIST_LOOKBACK_MS, now);
        reqs[*nreq + 1].url =
            series_url(c, matched, start - EXIST_LOOKBACK_MS, now);
        /* Samples in the window: a query, because the series API of
         * some engines (VictoriaMetrics) answers at day granularity. */
        reqs[*nreq + 2].url = window_count_url(c, matched, start);
        free(name);
        free(plain);
        free(matched);
        free(matchers);
        if (reqs[*nreq].url == NULL || reqs[*nreq + 1].url == NULL ||
            reqs[*nreq + 2].url == NULL) {
            return AA_ENOMEM;
        }
        tool_verbose(c->cfg, "rule %s: empty; asking %s why", j->rule->id,
                     tool_http_redact_url(reqs[*nreq].url, url, sizeof(url)));
        j->diag[DIAG_EXISTS] = (long)*nreq;
        j->diag[DIAG_MATCH] = (long)*nreq + 1;
        j->diag[DIAG_WINDOW] = (long)*nreq + 2;
        *nreq += 3;
    }
    return AA_OK;
}

/*
 * The audit proper: plans and runs the batches and judges every rule into
 * c->report.  AA_ENOMEM, or AA_EIO after printing why a batch could not
 * run; *incomplete when every rule's query failed.
 */
static int audit(check *c, job *jobs, tool_http_req *reqs,
                 tool_http_req *dreqs, bool *incomplete)
{
    size_t i, nreq = 0, ndreq = 0, nsent, nfailed = 0;
    long lookup;
    int rc;

    if (plan_queries(c, jobs, reqs, &nreq) != AA_OK) {
        return AA_ENOMEM;
    }
    nsent = nreq;
    if (plan_sites(c, jobs, reqs, &nreq) != AA_OK) {
        return AA_ENOMEM;
    }
    lookup = plan_step_lookup(c, reqs, &nreq);
    if (lookup == -2) {
        return AA_ENOMEM;
    }
    rc = run_batch(c, reqs, nreq);
    if (rc == AA_OK) {
        rc = settle_step(c, jobs, reqs, lookup);
    }
    if (rc != AA_OK) {
        return rc;
    }
    c->report->step_ms = c->step_ms;
    for (i = 0; i < c->rs->nrules; i++) {
        job *j = &jobs[i];

        if (j->req < 0) {
            continue;
        }
        if (judge_answer(c, j, &reqs[j->req]) != AA_OK) {
            return AA_ENOMEM;
        }
        nfailed += j->failed ? 1 : 0;
        aat_buf_release(&reqs[j->req].body);
    }
    for (i = 0; i < c->rs->nrules; i++) {
        job *j = &jobs[i];

        if (j->sites_req >= 0 &&
            (j->rr->verdict == AA_VERDICT_WARNING ||
             j->rr->verdict == AA_VERDICT_CRITICAL) &&
            sites_pick(c, j, &reqs[j->sites_req]) != AA_OK) {
            return AA_ENOMEM;
        }
    }

    /* batch 2, only when needed: why empty rules are empty */
    if (plan_diagnosis(c, jobs, dreqs, &ndreq) != AA_OK) {
        return AA_ENOMEM;
    }
    if (ndreq > 0 && run_batch(c, dreqs, ndreq) != AA_OK) {
        return AA_EIO;
    }
    for (i = 0; i < c->rs->nrules; i++) {
        if (jobs[i].diag[DIAG_EXISTS] >= 0) {
            explain_empty(c, &jobs[i], dreqs);
        }
    }
    c->report->status = aa_report_status(c->report);
    if (nsent > 0 && nfailed == nsent) {
        *incomplete = true;
        for (i = 0; i < c->rs->nrules; i++) {
            if (jobs[i].failed && jobs[i].rr->message != NULL) {
                tool_error("%s: the audit could not be completed: every "
                           "query failed (first: %s)",
                           c->report->target, jobs[i].rr->message);
                break;
            }
        }
    }
    return AA_OK;
}

int tool_check_prometheus(const tool_config *cfg, const aa_ruleset *rs,
                          aa_report **out, bool *incomplete)
{
    check c;
    job *jobs = NULL;
    tool_http_req *reqs = NULL, *dreqs = NULL;
    size_t i, nreqs = 2 * rs->nrules + 2, ndreqs = 3 * rs->nrules + 1;
    char url[512];
    int rc;

    *out = NULL;
    *incomplete = false;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.rs = rs;
    rc = make_base(&c);
    if (rc == 0) {
        rc = resolve_times(&c);
    }
    if (rc == 0) {
        rc = make_http(cfg, &c.http);
    }
    if (rc != 0) {
        goto out;
    }
    rc = AA_EXIT_UNKNOWN;
    c.report = calloc(1, sizeof(*c.report));
    jobs = calloc(rs->nrules + 1, sizeof(*jobs));
    reqs = calloc(nreqs, sizeof(*reqs));
    dreqs = calloc(ndreqs, sizeof(*dreqs));
    if (c.report == NULL || jobs == NULL || reqs == NULL || dreqs == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        goto out;
    }
    c.report->rules = calloc(rs->nrules + 1, sizeof(*c.report->rules));
    c.report->target =
        aa_strdup(tool_http_redact_url(cfg->target, url, sizeof(url)));
    c.report->mode = aa_strdup("prometheus");
    c.report->nrules = c.report->rules != NULL ? rs->nrules : 0;
    c.step_ms = widen_step(&c, c.step_ms);
    c.report->end_ms = c.end_ms;
    c.report->start_ms = c.end_ms - c.window_ms;
    if (c.report->rules == NULL || c.report->target == NULL ||
        c.report->mode == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        goto out;
    }
    switch (audit(&c, jobs, reqs, dreqs, incomplete)) {
    case AA_OK:
        *out = c.report;
        c.report = NULL;
        rc = c.config_error ? AA_EXIT_CONFIG : 0;
        break;
    case AA_ENOMEM:
        tool_error("%s", aa_strerror(AA_ENOMEM));
        break;
    default: /* already reported */
        break;
    }
out:
    for (i = 0; jobs != NULL && i < rs->nrules; i++) {
        free(jobs[i].sites_query);
    }
    free_reqs(reqs, reqs != NULL ? nreqs : 0);
    free_reqs(dreqs, dreqs != NULL ? ndreqs : 0);
    free(jobs);
    aa_report_free(c.report);
    tool_http_free(c.http);
    free(c.base);
    return rc;
}
