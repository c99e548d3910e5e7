/*
 * quantile.c: the statistics the audit computes from a histogram's bucket
 * rates (quantile.h): true quantiles, the share above a bound, the bucket
 * question both backends answer, and the grouping of its answer by the
 * rule's labels, for one time (a vector) or every step of a range (a
 * matrix).  Buckets are read exactly as histogram_quantile reads them
 * (aa_eval_bucket_quantile), so a quantile's bound and Prometheus's
 * interpolation always come from the same buckets.
 */
#include "aa/quantile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aa/expo.h"

/* ---- one group's buckets -------------------------------------------------
 */

/* The first bucket index in [0, n-1) whose count reaches rank, else n-1
 * (the +Inf bucket): histogram_quantile's sort.Search. */
static size_t rank_bucket(const aa_bucket *b, size_t n, double rank)
{
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (!(b[mid].count >= rank)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void aa_quantile_buckets(double q, aa_bucket *b, size_t *n, double *value,
                         aa_value_bound *bound)
{
    double interp = aa_eval_bucket_quantile(q, b, n);
    double total, before;
    size_t k;

    memset(bound, 0, sizeof(*bound));
    *value = interp;
    if (!isfinite(interp) || *n < 2) {
        *value = NAN;
        return;
    }
    /* the buckets are now sorted, merged and monotonic, the last +Inf */
    total = b[*n - 1].count;
    k = rank_bucket(b, *n, q * total);
    before = k > 0 ? b[k - 1].count : 0.0;
    bound->one_bucket = before == 0 && b[k].count == total;
    bound->upper = b[k].upper;
    if (k == *n - 1) {
        bound->kind = AA_BOUND_ABOVE;
        bound->lower = b[k - 1].upper;
        bound->upper = INFINITY;
    } else if (k == 0) {
        bound->kind = AA_BOUND_AT_MOST;
        bound->lower = b[0].upper > 0 ? 0.0 : -INFINITY;
    } else {
        bound->lower = b[k - 1].upper;
        if (bound->lower > 0 &&
            bound->upper / bound->lower <= AA_QUANTILE_MAX_RATIO) {
            bound->kind = AA_BOUND_ESTIMATE;
            *value = sqrt(bound->lower * bound->upper);
        } else {
            bound->kind = AA_BOUND_IN;
        }
    }
}

static bool same_bound(double a, double x)
{
    return fabs(a - x) <= 1e-9 * fmax(fabs(x), 1e-300);
}

void aa_share_above_buckets(double x, aa_bucket *b, size_t *n, double *value,
                            aa_value_bound *bound)
{
    /* for its side effect: the buckets as histogram_quantile reads them */
    double any = aa_eval_bucket_quantile(0.5, b, n);
    double total, below, at, lo;
    size_t k;

    memset(bound, 0, sizeof(*bound));
    *value = NAN;
    if (!isfinite(any) || *n < 2) {
        return;
    }
    /* the first bucket whose bound reaches x; the +Inf bucket (*n - 1)
     * when none does */
    for (k = 0; k < *n - 1 && b[k].upper < x && !same_bound(b[k].upper, x);
         k++) {
    }
    total = b[*n - 1].count;
    at = b[k].count;
    if (k < *n - 1 && same_bound(b[k].upper, x)) {
        *value = (total - at) / total;
        return;
    }
    below = k > 0 ? b[k - 1].count : 0.0;
    lo = k > 0 ? b[k - 1].upper : b[0].upper > 0 ? 0.0 : -INFINITY;
    if (at == below) {
        *value = (total - at) / total; /* an empty bucket: exact */
        return;
    }
    bound->kind = AA_BOUND_BETWEEN;
    bound->lower = (total - at) / total;
    bound->upper = (total - below) / total;
    if (isfinite(lo) && isfinite(b[k].upper) && x > lo) {
        *value =
            (total - (below + (at - below) * (x - lo) / (b[k].upper - lo))) /
            total;
    } else {
        *value = bound->upper;
    }
}

/* ---- the bucket question -------------------------------------------------
 */

static char le_label[] = "le";

bool aa_rule_reads_buckets(const aa_rule *rule)
{
    return rule != NULL && rule->metric != NULL &&
           rule->type == AA_TYPE_HISTOGRAM &&
           (rule->stat == AA_STAT_QUANTILE ||
            rule->stat == AA_STAT_SHARE_ABOVE);
}

int aa_bucket_rule_make(const aa_rule *rule, aa_bucket_rule *out)
{
    aa_rule *r = &out->rule;
    size_t len;

    memset(out, 0, sizeof(*out));
    if (!aa_rule_reads_buckets(rule)) {
        return AA_EINVAL;
    }
    len = strlen(rule->metric);
    out->metric = malloc(len + sizeof("_bucket"));
    out->by = calloc(rule->nby + 1, sizeof(*out->by));
    if (out->metric == NULL || out->by == NULL) {
        aa_bucket_rule_clear(out);
        return AA_ENOMEM;
    }
    memcpy(out->metric, rule->metric, len);
    memcpy(out->metric + len, "_bucket", sizeof("_bucket"));
    out->by[0] = le_label;
    for (size_t i = 0; i < rule->nby; i++) {
        out->by[i + 1] = rule->by[i];
    }
    r->id = rule->id;
    r->finding = rule->finding;
    r->metric = out->metric;
    r->stat = AA_STAT_RATE;
    r->type = AA_TYPE_COUNTER;
    memcpy(r->stat_text, "rate", sizeof("rate"));
    r->by = out->by;
    r->nby = rule->nby + 1;
    r->where = rule->where;
    r->line = rule->line;
    r->column = rule->column;
    return AA_OK;
}

void aa_bucket_rule_clear(aa_bucket_rule *br)
{
    if (br == NULL) {
        return;
    }
    free(br->metric);
    free(br->by);
    memset(br, 0, sizeof(*br));
}

/* ---- grouping an answer --------------------------------------------------
 */

/* One bucket rate of the answer: its group (labels without le) and its
 * bucket. */
typedef struct entry {
    aa_labels group;
    aa_bucket bucket;
} entry;

static int entry_cmp(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;

    return aa_labels_cmp(&a->group, &b->group);
}

static void entries_free(entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        aa_labels_clear(&e[i].group);
    }
    free(e);
}

/* The samples of rates with a readable le as entries, sorted by group.
 * AA_ENOMEM only. */
static int make_entries(const aa_vector *rates, entry **out, size_t *n)
{
    entry *e = NULL;
    size_t i, k, m = 0;
    int rc = AA_OK;

    *out = NULL;
    *n = 0;
    if (rates->n == 0) {
        return AA_OK;
    }
    e = calloc(rates->n, sizeof(*e));
    if (e == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; rc == AA_OK && i < rates->n; i++) {
        const aa_labels *ls = &rates->v[i].labels;
        const char *le = aa_labels_get(ls, "le");

        if (le == NULL ||
            !aa_expo_parse_go_float(le, strlen(le), &e[m].bucket.upper)) {
            continue;
        }
        e[m].bucket.count = rates->v[i].value;
        for (k = 0; rc == AA_OK && k < ls->n; k++) {
            if (strcmp(ls->v[k].name, "le") != 0) {
                rc = aa_labels_add(&e[m].group, ls->v[k].name, ls->v[k].value);
            }
        }
        m++;
    }
    if (rc != AA_OK) {
        entries_free(e, m);
        return rc;
    }
    qsort(e, m, sizeof(*e), entry_cmp);
    *out = e;
    *n = m;
    return AA_OK;
}

/* The rule's stat of one group's buckets. */
static void group_value(const aa_rule *rule, aa_bucket *b, size_t n,
                        double *value, aa_value_bound *bound)
{
    if (rule->stat == AA_STAT_SHARE_ABOVE) {
        aa_share_above_buckets(rule->above, b, &n, value, bound);
    } else {
        aa_quantile_buckets(rule->quantile, b, &n, value, bound);
    }
}

int aa_histogram_vector(const aa_rule *rule, const aa_vector *rates,
                        aa_vector *out, aa_value_bound **bounds)
{
    aa_value_bound *bv = NULL;
    aa_bucket *b = NULL;
    entry *e = NULL;
    size_t ne = 0, i, j;
    int rc;

    *bounds = NULL;
    if (rule == NULL || rates == NULL || out == NULL) {
        return AA_EINVAL;
    }
    rc = make_entries(rates, &e, &ne);
    if (rc == AA_OK && ne > 0) {
        b = malloc(ne * sizeof(*b));
        bv = calloc(ne, sizeof(*bv));
        rc = b != NULL && bv != NULL ? AA_OK : AA_ENOMEM;
    }
    for (i = 0; rc == AA_OK && i < ne; i = j) {
        size_t nb = 0;
        double v;

        for (j = i; j < ne && aa_labels_cmp(&e[j].group, &e[i].group) == 0;
             j++) {
            b[nb++] = e[j].bucket;
        }
        group_value(rule, b, nb, &v, &bv[out->n]);
        rc = aa_vector_push(out, &e[i].group, v);
    }
    free(b);
    entries_free(e, ne);
    if (rc != AA_OK || out->n == 0) {
        aa_vector_clear(out);
        free(bv);
        return rc;
    }
    *bounds = bv;
    return AA_OK;
}

/* ---- every step of a range -----------------------------------------------
 */

static int cmp_time(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

    return (a > b) - (a < b);
}

/* The distinct times of m's points, ascending, into *out (malloc'd). */
static int step_times(const aa_matrix *m, int64_t **out, size_t *n)
{
    size_t total = 0, i, k, u = 0;
    int64_t *t;

    *out = NULL;
    *n = 0;
    for (i = 0; i < m->n; i++) {
        total += m->v[i].n;
    }
    if (total == 0) {
        return AA_OK;
    }
    t = malloc(total * sizeof(*t));
    if (t == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0, k = 0; i < m->n; i++) {
        for (size_t p = 0; p < m->v[i].n; p++) {
            t[k++] = m->v[i].pts[p].t_ms;
        }
    }
    qsort(t, total, sizeof(*t), cmp_time);
    for (i = 0; i < total; i++) {
        if (u == 0 || t[i] != t[u - 1]) {
            t[u++] = t[i];
        }
    }
    *out = t;
    *n = u;
    return AA_OK;
}

/* The series of out with these labels, created when new, with its slot in
 * *last kept parallel.  AA_ENOMEM only. */
static int series_for(aa_matrix *out, aa_value_bound **last, size_t *cap,
                      const aa_labels *labels, size_t *idx)
{
    aa_range_series *s;
    aa_value_bound *nl;
    size_t i;

    for (i = 0; i < out->n; i++) {
        if (aa_labels_cmp(&out->v[i].labels, labels) == 0) {
            *idx = i;
            return AA_OK;
        }
    }
    nl = aa_grow(*last, cap, out->n, sizeof(*nl), 8);
    if (nl == NULL) {
        return AA_ENOMEM;
    }
    *last = nl;
    if (aa_matrix_push(out, labels, &s) != AA_OK) {
        return AA_ENOMEM;
    }
    memset(&nl[out->n - 1], 0, sizeof(*nl));
    *idx = out->n - 1;
    return AA_OK;
}

/* The bucket rates of every series of m with a point at time t, each
 * series' cursor cur[i] moved past it. */
static int rates_at(const aa_matrix *m, size_t *cur, int64_t t, aa_vector *vec)
{
    for (size_t i = 0; i < m->n; i++) {
        const aa_range_series *s = &m->v[i];

        while (cur[i] < s->n && s->pts[cur[i]].t_ms < t) {
            cur[i]++;
        }
        if (cur[i] < s->n && s->pts[cur[i]].t_ms == t &&
            aa_vector_push(vec, &s->labels, s->pts[cur[i]].v) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

int aa_histogram_matrix(const aa_rule *rule, const aa_matrix *rates,
                        aa_matrix *out, aa_value_bound **last)
{
    aa_value_bound *lv = NULL;
    int64_t *times = NULL;
    size_t *cur = NULL, nt = 0, cap = 0, i;
    int rc;

    *last = NULL;
    if (rule == NULL || rates == NULL || out == NULL) {
        return AA_EINVAL;
    }
    rc = step_times(rates, &times, &nt);
    if (rc == AA_OK && nt > 0) {
        cur = calloc(rates->n, sizeof(*cur));
        rc = cur != NULL ? AA_OK : AA_ENOMEM;
    }
    for (i = 0; rc == AA_OK && i < nt; i++) {
        aa_vector vec = {NULL, 0}, vals = {NULL, 0};
        aa_value_bound *bv = NULL;

        rc = rates_at(rates, cur, times[i], &vec);
        if (rc == AA_OK) {
            rc = aa_histogram_vector(rule, &vec, &vals, &bv);
        }
        for (size_t g = 0; rc == AA_OK && g < vals.n; g++) {
            size_t k;

            rc = series_for(out, &lv, &cap, &vals.v[g].labels, &k);
            if (rc == AA_OK) {
                rc = aa_range_series_push(&out->v[k], times[i],
                                          vals.v[g].value);
                lv[k] = bv[g];
            }
        }
        free(bv);
        aa_vector_clear(&vec);
        aa_vector_clear(&vals);
    }
    free(cur);
    free(times);
    if (rc != AA_OK || out->n == 0) {
        aa_matrix_clear(out);
        free(lv);
        return rc;
    }
    *last = lv;
    return AA_OK;
}
