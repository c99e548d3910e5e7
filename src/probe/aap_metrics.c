/*
 * aap_metrics.c: the probe's metric primitives.  Histograms are fixed
 * buckets of relaxed atomics so the loop thread, executor workers and the
 * exporter thread never contend on a lock; text rendering is bounded.
 * The process-wide HTTP request table lives here too: a fixed number of
 * label sets, so a client sending odd methods or a service with unbounded
 * routes cannot grow memory.
 */
#include "aap.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *aap_strerror(int err)
{
    switch (err) {
    case AAP_OK:
        return "success";
    case AAP_ENOMEM:
        return "out of memory";
    case AAP_EINVAL:
        return "invalid argument";
    case AAP_EBIND:
        return "cannot listen on the exporter address";
    case AAP_ETHREAD:
        return "cannot start a background thread";
    case AAP_EHTTP:
        return "libmicrohttpd refused to start";
    case AAP_EBUSY:
        return "the exporter already serves another address";
    case AAP_ETOOBIG:
        return "output exceeds its maximum size";
    default:
        return "unknown error";
    }
}

uint64_t aap_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t aap_now_coarse_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double aap_wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- histograms ---------------------------------------------------- */

const double aap_bounds_lag[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                 0.025,  0.05,  0.1,    0.25,  0.5,
                                 1,      2.5,   5,      10};
const size_t aap_nbounds_lag = sizeof(aap_bounds_lag) / sizeof(double);
const double aap_bounds_block[] = {0.05, 0.1, 0.25, 0.5, 1,
                                   2.5,  5,   10,   30,  60};
const size_t aap_nbounds_block = sizeof(aap_bounds_block) / sizeof(double);
const double aap_bounds_exec[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                  0.025,  0.05,  0.1,    0.25,  0.5,
                                  1,      2.5,   5,      10};
const size_t aap_nbounds_exec = sizeof(aap_bounds_exec) / sizeof(double);
const double aap_bounds_http[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                  0.5,   0.75, 1,     2.5,  5,     7.5, 10};
const size_t aap_nbounds_http = sizeof(aap_bounds_http) / sizeof(double);

void aap_hist_init(aap_hist *h, const double *bounds, size_t n)
{
    size_t i;

    if (n > AAP_HIST_MAX_BOUNDS) {
        n = AAP_HIST_MAX_BOUNDS;
    }
    h->bounds = bounds;
    h->nbounds = n;
    for (i = 0; i < n; i++) {
        h->bounds_ns[i] = (uint64_t)llround(bounds[i] * 1e9);
    }
    aap_hist_reset(h);
}

void aap_hist_reset(aap_hist *h)
{
    size_t i;

    for (i = 0; i <= AAP_HIST_MAX_BOUNDS; i++) {
        atomic_store_explicit(&h->buckets[i], 0, memory_order_relaxed);
    }
    atomic_store_explicit(&h->sum_ns, 0, memory_order_relaxed);
}

void aap_hist_observe(aap_hist *h, uint64_t ns, uint64_t n)
{
    size_t lo = 0, hi = h->nbounds;

    if (n == 0) {
        return;
    }
    /* first bound >= ns; nbounds means +Inf */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (h->bounds_ns[mid] >= ns) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    atomic_fetch_add_explicit(&h->buckets[lo], n, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns * n, memory_order_relaxed);
}

uint64_t aap_hist_count(const aap_hist *h)
{
    uint64_t c = 0;
    size_t i;

    for (i = 0; i <= h->nbounds; i++) {
        c += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    }
    return c;
}

double aap_hist_sum(const aap_hist *h)
{
    return (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) /
           1e9;
}

void aap_hist_render(aat_buf *t, const char *name, const char *labels,
                     const aap_hist *h)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    size_t i;

    for (i = 0; i <= h->nbounds; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->nbounds) {
            aat_buf_appendf(t, "%s_bucket{%s%sle=\"%.15g\"} %llu\n", name,
                            labels, sep, h->bounds[i],
                            (unsigned long long)cum);
        } else {
            aat_buf_appendf(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
                            labels, sep, (unsigned long long)cum);
        }
    }
    if (labels[0]) {
        aat_buf_appendf(t, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name,
                        labels, aap_hist_sum(h), name, labels,
                        (unsigned long long)cum);
    } else {
        aat_buf_appendf(t, "%s_sum %.9f\n%s_count %llu\n", name,
                        aap_hist_sum(h), name, (unsigned long long)cum);
    }
}

/* ---- HTTP request table -------------------------------------------- */

#define HTTP_SERIES_MAX 512
#define HTTP_METHOD_LEN 16
#define HTTP_ROUTE_LEN 160

typedef struct http_series {
    uint64_t hash;
    char method[HTTP_METHOD_LEN];
    char route[HTTP_ROUTE_LEN];
    int status;
    aap_hist hist;
} http_series;

/* Append-only table: readers (the request path, the renderer) load
 * http_n with acquire and read entries below it without a lock; only
 * insertion takes http_lock, so a scrape never stalls a request. */
static pthread_mutex_t http_lock = PTHREAD_MUTEX_INITIALIZER;
static http_series *http_table[HTTP_SERIES_MAX];
static _Atomic size_t http_n;
static _Atomic int64_t http_active;

void aap_http_active_add(int64_t delta)
{
    atomic_fetch_add_explicit(&http_active, delta, memory_order_relaxed);
}

int64_t aap_http_active_get(void)
{
    return atomic_load_explicit(&http_active, memory_order_relaxed);
}

static void copy_clean(char *dst, size_t cap, const char *src)
{
    size_t i;

    for (i = 0; src && src[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];

        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

static uint64_t series_hash(const char *method, const char *route, int status)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)status;
    const char *p;

    for (p = method; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    }
    h = (h ^ 0xff) * 1099511628211ull;
    for (p = route; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    }
    return h;
}

static http_series *http_find(uint64_t h, const char *method,
                              const char *route, int status)
{
    size_t n = atomic_load_explicit(&http_n, memory_order_acquire), i;

    for (i = 0; i < n; i++) {
        http_series *s = http_table[i];

        if (s->hash == h && s->status == status &&
            strcmp(s->method, method) == 0 && strcmp(s->route, route) == 0) {
            return s;
        }
    }
    return NULL;
}

/* Find or add; the last slots are kept for the "other" fallbacks. */
static http_series *http_get(const char *method, const char *route, int status)
{
    uint64_t h = series_hash(method, route, status);
    http_series *s = http_find(h, method, route, status);
    size_t n;

    if (s) {
        return s;
    }
    pthread_mutex_lock(&http_lock);
    s = http_find(h, method, route, status);
    n = atomic_load_explicit(&http_n, memory_order_relaxed);
    if (s || n >= HTTP_SERIES_MAX ||
        (n >= HTTP_SERIES_MAX - 32 && strcmp(route, "other") != 0)) {
        pthread_mutex_unlock(&http_lock);
        if (!s && n < HTTP_SERIES_MAX) {
            return http_get(method, "other", status);
        }
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (s) {
        snprintf(s->method, sizeof(s->method), "%s", method);
        snprintf(s->route, sizeof(s->route), "%s", route);
        s->status = status;
        s->hash = h;
        aap_hist_init(&s->hist, aap_bounds_http, aap_nbounds_http);
        http_table[n] = s;
        atomic_store_explicit(&http_n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&http_lock);
    return s;
}

void aap_http_observe(const char *method, const char *route, int status,
                      uint64_t ns)
{
    static const char *known[] = {"GET",     "HEAD",   "POST",
                                  "PUT",     "DELETE", "CONNECT",
                                  "OPTIONS", "TRACE",  "PATCH"};
    char m[HTTP_METHOD_LEN], r[HTTP_ROUTE_LEN];
    const char *mp = "_OTHER";
    http_series *s;
    size_t i;

    for (i = 0; method && i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(method, known[i]) == 0) {
            mp = known[i];
        }
    }
    copy_clean(m, sizeof(m), mp);
    copy_clean(r, sizeof(r), route ? route : "");
    if (status < 100 || status > 599) {
        status = 0;
    }
    s = http_get(m, r, status);
    if (s) {
        aap_hist_observe(&s->hist, ns, 1);
    }
}

void aap_http_render(aat_buf *t)
{
    size_t i, n;

    aat_buf_appendf(
        t,
        "# HELP http_server_active_requests HTTP requests in "
        "flight.\n# TYPE http_server_active_requests gauge\n"
        "http_server_active_requests %lld\n",
        (long long)atomic_load_explicit(&http_active, memory_order_relaxed));
    aat_buf_appendf(t, "# HELP http_server_request_duration_seconds "
                       "HTTP request duration as the server saw it.\n"
                       "# TYPE http_server_request_duration_seconds "
                       "histogram\n");
    n = atomic_load_explicit(&http_n, memory_order_acquire);
    for (i = 0; i < n; i++) {
        http_series *s = http_table[i];
        aat_buf lab;

        aat_buf_init(&lab, AAP_TEXT_MAX);
        aat_buf_appendf(&lab, "http_request_method=\"");
        aat_buf_escape(&lab, s->method, true);
        aat_buf_appendf(&lab, "\",http_route=\"");
        aat_buf_escape(&lab, s->route, true);
        if (s->status) {
            aat_buf_appendf(&lab, "\",http_response_status_code=\"%d\"",
                            s->status);
        } else {
            aat_buf_appendf(&lab, "\",http_response_status_code=\"\"");
        }
        if (lab.failed) {
            t->failed = 1;
        } else {
            aap_hist_render(t, "http_server_request_duration_seconds",
                            lab.data, &s->hist);
        }
        aat_buf_release(&lab);
    }
}

void aap_http_fork(int phase)
{
    size_t i;

    if (phase == 0) {
        pthread_mutex_lock(&http_lock);
    } else if (phase == 1) {
        pthread_mutex_unlock(&http_lock);
    } else {
        pthread_mutex_init(&http_lock, NULL);
        for (i = 0; i < atomic_load(&http_n); i++) {
            aap_hist_reset(&http_table[i]->hist);
        }
        atomic_store(&http_active, 0);
    }
}
