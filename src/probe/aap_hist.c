/*
 * aap_hist.c: the probe's histograms.  Fixed buckets of relaxed atomics,
 * so the loop thread, executor workers and the exporter thread never
 * contend on a lock; rendering is bounded by the text buffer.
 */
#include "aap.h"

#include <math.h>
#include <stdio.h>

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
