/*
 * aap_httpstats.c: the process-wide HTTP request table the ASGI middleware
 * reports into (http_server_active_requests and
 * http_server_request_duration_seconds).  A fixed number of label sets,
 * so a client sending odd methods or a service with unbounded routes
 * cannot grow memory: past the limit requests count under
 * http_route="other".  Each label set is a series of the state arena
 * (aap_state.c); the table here only finds it.
 */
#include "aap_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_SERIES_MAX 512
#define HTTP_METHOD_LEN 16
#define HTTP_ROUTE_LEN 160

typedef struct http_series {
    uint64_t hash;
    char method[HTTP_METHOD_LEN];
    char route[HTTP_ROUTE_LEN];
    int status;
    aap_hist hist;
    aap_rec *rec;
} http_series;

/* Append-only table: readers (the request path, the renderer) load
 * http_n with acquire and read entries below it without a lock; only
 * insertion takes http_lock, so a scrape never stalls a request. */
static pthread_mutex_t http_lock = PTHREAD_MUTEX_INITIALIZER;
static http_series *http_table[HTTP_SERIES_MAX];
static _Atomic size_t http_n;
static _Atomic(_Atomic uint64_t *) http_active;

/* The in-flight gauge's cell, allocated on first use. */
static _Atomic uint64_t *active_cell(void)
{
    _Atomic uint64_t *c =
        atomic_load_explicit(&http_active, memory_order_acquire);
    aap_rec *rec;

    if (c) {
        return c;
    }
    pthread_mutex_lock(&http_lock);
    c = atomic_load_explicit(&http_active, memory_order_relaxed);
    if (!c) {
        aap_state_cell(AAP_F_HTTP_ACTIVE, NULL, 0, 0, &rec, &c);
        atomic_store_explicit(&http_active, c, memory_order_release);
    }
    pthread_mutex_unlock(&http_lock);
    return c;
}

void aap_http_ensure(void)
{
    active_cell();
}

void aap_http_active_add(int64_t delta)
{
    atomic_fetch_add_explicit(active_cell(), (uint64_t)delta,
                              memory_order_relaxed);
}

int64_t aap_http_active_get(void)
{
    return (int64_t)atomic_load_explicit(active_cell(), memory_order_relaxed);
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
        char st[8] = "";
        aap_label lab[3] = {{"http_request_method", s->method},
                            {"http_route", s->route},
                            {"http_response_status_code", st}};

        snprintf(s->method, sizeof(s->method), "%s", method);
        snprintf(s->route, sizeof(s->route), "%s", route);
        if (status) {
            snprintf(st, sizeof(st), "%d", status);
        }
        s->status = status;
        s->hash = h;
        if (aap_state_hist(AAP_F_HTTP_DURATION, lab, 3, 0, &s->rec, &s->hist) <
            0) {
            free(s); /* a full arena: not measured */
            s = NULL;
        } else {
            http_table[n] = s;
            atomic_store_explicit(&http_n, n + 1, memory_order_release);
        }
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
            break;
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
        if (atomic_load(&http_active)) {
            atomic_store(atomic_load(&http_active), 0);
        }
    }
}
