/*
 * aap_hist.c: the probe's histograms.  A histogram is a handle on cells
 * of relaxed atomics kept in the state arena (aap_state.c), so the loop
 * thread, executor workers and the exporter thread never contend on a
 * lock, and a reader in another process sees the same cells.
 *
 * Bucket layouts follow Prometheus' native-histogram schemas, so that a
 * quantile read from a bucket is within a known factor of the truth:
 * schema 2 (bounds 2^(k/4) s, k = -40..24: 0.98 ms to 64 s, ratio 1.19,
 * a geometric-midpoint estimate within 9.1 %) for loop lag, block
 * duration and executor wait/run; schema 1 (2^(k/2) s, k = -20..12,
 * ratio 1.41) for HTTP durations, whose series multiply with routes,
 * statuses and workers.  The bounds are the correctly rounded doubles,
 * written out here so every build renders the same `le` text; each `le`
 * is the shortest decimal that reads back as exactly that double.
 */
#include "aap.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One octave (a power of two) per two lines. */
/* clang-format off */
static const double schema2[] = {
    0.0009765625, 0.0011613350732448448,
    0.0013810679320049757, 0.0016423758110424111,
    0.001953125, 0.0023226701464896895,
    0.0027621358640099515, 0.0032847516220848223,
    0.00390625, 0.004645340292979379,
    0.005524271728019903, 0.0065695032441696445,
    0.0078125, 0.009290680585958758,
    0.011048543456039806, 0.013139006488339289,
    0.015625, 0.018581361171917516,
    0.02209708691207961, 0.026278012976678578,
    0.03125, 0.03716272234383503,
    0.04419417382415922, 0.052556025953357156,
    0.0625, 0.07432544468767006,
    0.08838834764831845, 0.10511205190671431,
    0.125, 0.14865088937534013,
    0.1767766952966369, 0.21022410381342863,
    0.25, 0.29730177875068026,
    0.3535533905932738, 0.42044820762685725,
    0.5, 0.5946035575013605,
    0.7071067811865476, 0.8408964152537145,
    1.0, 1.189207115002721,
    1.4142135623730951, 1.681792830507429,
    2.0, 2.378414230005442,
    2.8284271247461903, 3.363585661014858,
    4.0, 4.756828460010884,
    5.656854249492381, 6.727171322029716,
    8.0, 9.513656920021768,
    11.313708498984761, 13.454342644059432,
    16.0, 19.027313840043536,
    22.627416997969522, 26.908685288118864,
    32.0, 38.05462768008707,
    45.254833995939045, 53.81737057623773,
    64.0
};

/* One octave per line. */
static const double schema1[] = {
    0.0009765625, 0.0013810679320049757,
    0.001953125, 0.0027621358640099515,
    0.00390625, 0.005524271728019903,
    0.0078125, 0.011048543456039806,
    0.015625, 0.02209708691207961,
    0.03125, 0.04419417382415922,
    0.0625, 0.08838834764831845,
    0.125, 0.1767766952966369,
    0.25, 0.3535533905932738,
    0.5, 0.7071067811865476,
    1.0, 1.4142135623730951,
    2.0, 2.8284271247461903,
    4.0, 5.656854249492381,
    8.0, 11.313708498984761,
    16.0, 22.627416997969522,
    32.0, 45.254833995939045,
    64.0
};
/* clang-format on */

static aap_layout layouts[AAP_LAYOUT_N];
static pthread_once_t layouts_once = PTHREAD_ONCE_INIT;

static void layouts_init(void)
{
    aap_layout_init(&layouts[AAP_LAYOUT_SCHEMA2], schema2,
                    sizeof(schema2) / sizeof(schema2[0]));
    aap_layout_init(&layouts[AAP_LAYOUT_SCHEMA1], schema1,
                    sizeof(schema1) / sizeof(schema1[0]));
}

const aap_layout *aap_layout_get(int id)
{
    if (id <= AAP_LAYOUT_NONE || id >= AAP_LAYOUT_N) {
        return NULL;
    }
    pthread_once(&layouts_once, layouts_init);
    return &layouts[id];
}

/* Shortest "%.*g" of v that reads back as v. */
static void shortest(char *out, size_t cap, double v)
{
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            return;
        }
    }
}

int aap_layout_init(aap_layout *l, const double *bounds, size_t n)
{
    size_t i;

    memset(l, 0, sizeof(*l));
    if (n == 0 || n > AAP_HIST_MAX_BOUNDS) {
        return AAP_EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (!(bounds[i] > 0) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
            return AAP_EINVAL;
        }
    }
    l->n = n;
    for (i = 0; i < n; i++) {
        l->bounds[i] = bounds[i];
        l->bounds_ns[i] = (uint64_t)llround(bounds[i] * 1e9);
        shortest(l->le[i], sizeof(l->le[i]), bounds[i]);
    }
    return 0;
}

void aap_hist_reset(const aap_hist *h)
{
    size_t i;

    for (i = 0; i < AAP_HIST_NCELLS(h->lay->n); i++) {
        atomic_store_explicit(&h->cells[i], 0, memory_order_relaxed);
    }
}

void aap_hist_observe(const aap_hist *h, uint64_t ns, uint64_t n)
{
    const aap_layout *lay = h->lay;
    size_t lo = 0, hi = lay->n;

    if (n == 0) {
        return;
    }
    /* first bound >= ns; n means +Inf */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (lay->bounds_ns[mid] >= ns) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    atomic_fetch_add_explicit(&h->cells[lo], n, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->cells[lay->n + 1], ns * n,
                              memory_order_relaxed);
}

uint64_t aap_hist_count(const aap_hist *h)
{
    uint64_t c = 0;
    size_t i;

    for (i = 0; i <= h->lay->n; i++) {
        c += atomic_load_explicit(&h->cells[i], memory_order_relaxed);
    }
    return c;
}

double aap_hist_sum(const aap_hist *h)
{
    return (double)atomic_load_explicit(&h->cells[h->lay->n + 1],
                                        memory_order_relaxed) /
           1e9;
}

/* Decimal digits of v at the end of buf (20 bytes); returns the start. */
static char *u64_text(uint64_t v, char *end)
{
    char *p = end;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

/* One line per bucket without printf: the line's prefix is built once
 * and each line is written straight into t's room (a scrape of many
 * workers renders thousands of these; one copy of each byte). */
void aap_hist_render(aat_buf *t, const char *name, const char *labels,
                     const aap_layout *lay, const uint64_t *cells)
{
    char line[2048], num[24], *p, *w;
    size_t nl = strlen(name), ll = strlen(labels), pre, i;
    uint64_t cum = 0;

    pre = nl + 8 + ll + (ll ? 5 : 4);
    if (pre + 64 <= sizeof(line)) {
        memcpy(line, name, nl);
        memcpy(line + nl, "_bucket{", 8);
        memcpy(line + nl + 8, labels, ll);
        memcpy(line + nl + 8 + ll, ll ? ",le=\"" : "le=\"", ll ? 5 : 4);
    }
    for (i = 0; i <= lay->n; i++) {
        const char *le = i < lay->n ? lay->le[i] : "+Inf";
        size_t el = strlen(le), k, n;

        cum += cells[i];
        p = u64_text(cum, num + sizeof(num));
        k = (size_t)(num + sizeof(num) - p);
        if (pre + 64 > sizeof(line)) {
            aat_buf_appendf(t, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels,
                            ll ? "," : "", le, (unsigned long long)cum);
            continue;
        }
        n = pre + el + 3 + k + 1;
        w = aat_buf_room(t, n);
        if (!w) {
            return; /* t->failed is set */
        }
        memcpy(w, line, pre);
        memcpy(w + pre, le, el);
        memcpy(w + pre + el, "\"} ", 3);
        memcpy(w + pre + el + 3, p, k);
        w[n - 1] = '\n';
        aat_buf_commit(t, n);
    }
    /* _sum in seconds, exact from the nanoseconds; _count */
    {
        uint64_t ns = cells[lay->n + 1];
        char frac[10];
        size_t j;

        for (j = 9; j-- > 0;) {
            frac[j] = (char)('0' + ns % 10);
            ns /= 10;
        }
        frac[9] = '\0';
        p = u64_text(ns, num + sizeof(num));
        aat_buf_append(t, name, nl);
        aat_buf_append(t, ll ? "_sum{" : "_sum", ll ? 5 : 4);
        aat_buf_append(t, labels, ll);
        aat_buf_append(t, ll ? "} " : " ", ll ? 2 : 1);
        aat_buf_append(t, p, (size_t)(num + sizeof(num) - p));
        aat_buf_append(t, ".", 1);
        aat_buf_append(t, frac, 9);
        aat_buf_append(t, "\n", 1);
        p = u64_text(cum, num + sizeof(num));
        aat_buf_append(t, name, nl);
        aat_buf_append(t, ll ? "_count{" : "_count", ll ? 7 : 6);
        aat_buf_append(t, labels, ll);
        aat_buf_append(t, ll ? "} " : " ", ll ? 2 : 1);
        aat_buf_append(t, p, (size_t)(num + sizeof(num) - p));
        aat_buf_append(t, "\n", 1);
    }
}
