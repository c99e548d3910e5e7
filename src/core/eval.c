/*
 * eval.c: evaluates structured rules over the in-memory store exactly as
 * Prometheus v2.42 evaluates the PromQL that promql.c compiles them to.
 * The promise of scrape mode is "the answers Prometheus would give"; the
 * equivalence tests hold it to 1e-6 against the real engine.
 *
 * Each stat is a pipeline over small "element" lists (a label set and a
 * value), mirroring the PromQL expression tree:
 *   pNN       histogram_quantile(q, sum by (le, B) (rate(x_bucket[W])))
 *   avg (h)   sum by (B) (rate(x_sum[W])) / sum by (B) (rate(x_count[W]))
 *   rate      sum by (B) (rate(x[W]))     (x_count for a histogram)
 *   increase  sum by (B) (increase(x[W]))
 *   sum_rate  sum by (B) (rate(x_sum[W]))
 *   max/min/avg/last (gauge)
 *             max|min|avg|max by (B) (max|min|avg|last_over_time(x[W]))
 *   delta     max by (B) (delta(x[W]))
 *   slope     max by (B) (deriv(x[W]))
 * The Go code these functions follow is cited by name at each one.
 */
#include "aa/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/expo.h"
#include "aa/promql.h"

typedef struct elem {
    aa_labels labels;
    double v;
    char *key;  /* grouping key, set during aggregation */
    size_t idx; /* input position, to keep the sort stable */
} elem;

typedef struct elems {
    elem *v;
    size_t n, cap;
} elems;

static void elems_clear(elems *e)
{
    size_t i;

    for (i = 0; i < e->n; i++) {
        aa_labels_clear(&e->v[i].labels);
        free(e->v[i].key);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

/* Appends an element taking ownership of *ls (which is zeroed). */
static int elems_push(elems *e, aa_labels *ls, double v)
{
    elem *nv = aa_grow(e->v, &e->cap, e->n, sizeof(elem), 16);

    if (nv == NULL) {
        return AA_ENOMEM;
    }
    e->v = nv;
    e->v[e->n].labels = *ls;
    e->v[e->n].v = v;
    e->v[e->n].key = NULL;
    e->n++;
    ls->v = NULL;
    ls->n = 0;
    return AA_OK;
}

/* ---- PromQL functions ----------------------------------------------------
 */

/* promql/functions.go extrapolatedRate (v2.42). */
bool aa_eval_extrapolated_rate(const aa_point *pts, size_t n,
                               int64_t range_start_ms, int64_t range_end_ms,
                               bool is_counter, bool is_rate, double *out)
{
    double result, last = 0.0;
    double to_start, to_end, sampled, avg_interval, threshold, interval;
    double factor;
    size_t i;

    if (n < 2) {
        return false;
    }
    result = pts[n - 1].v - pts[0].v;
    if (is_counter) {
        for (i = 0; i < n; i++) {
            if (pts[i].v < last) {
                result += last;
            }
            last = pts[i].v;
        }
    }
    to_start = (double)(pts[0].t_ms - range_start_ms) / 1000.0;
    to_end = (double)(range_end_ms - pts[n - 1].t_ms) / 1000.0;
    sampled = (double)(pts[n - 1].t_ms - pts[0].t_ms) / 1000.0;
    avg_interval = sampled / (double)(n - 1);
    if (is_counter && result > 0 && pts[0].v >= 0) {
        double to_zero = sampled * (pts[0].v / result);

        if (to_zero < to_start) {
            to_start = to_zero;
        }
    }
    threshold = avg_interval * 1.1;
    interval = sampled;
    interval += to_start < threshold ? to_start : avg_interval / 2;
    interval += to_end < threshold ? to_end : avg_interval / 2;
    /* In Go's order of operations, so that the last bits agree too. */
    factor = interval / sampled;
    if (is_rate) {
        factor /= (double)(range_end_ms - range_start_ms) / 1000.0;
    }
    *out = result * factor;
    return true;
}

/* promql/functions.go kahanSumInc: Neumaier's compensated sum. */
static void kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;

    if (fabs(*sum) >= fabs(inc)) {
        *c += (*sum - t) + inc;
    } else {
        *c += (inc - t) + *sum;
    }
    *sum = t;
}

/* promql/functions.go funcDeriv + linearRegression (v2.42). */
bool aa_eval_deriv(const aa_point *pts, size_t n, double *out)
{
    double nn = 0, sx = 0, sy = 0, sxy = 0, sx2 = 0, init;
    double cx = 0, cy = 0, cxy = 0, cx2 = 0;
    bool const_y = true;
    size_t i;

    if (n < 2) {
        return false;
    }
    init = pts[0].v;
    for (i = 0; i < n; i++) {
        double x = (double)(pts[i].t_ms - pts[0].t_ms) / 1e3;

        if (const_y && i > 0 && pts[i].v != init) {
            const_y = false;
        }
        nn += 1.0;
        kahan_inc(x, &sx, &cx);
        kahan_inc(pts[i].v, &sy, &cy);
        kahan_inc(x * pts[i].v, &sxy, &cxy);
        kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        *out = isinf(init) ? NAN : 0.0;
        return true;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    *out = (sxy - sx * sy / nn) / (sx2 - sx * sx / nn);
    return true;
}

static int bucket_cmp(const void *pa, const void *pb)
{
    const aa_bucket *a = pa, *b = pb;

    if (a->upper < b->upper) {
        return -1;
    }
    return a->upper > b->upper;
}

/* promql/quantile.go bucketQuantile, coalesceBuckets, ensureMonotonic
 * (v2.42). */
double aa_eval_bucket_quantile(double q, aa_bucket *b, size_t *n)
{
    size_t i, k, lo, hi;
    double max, obs, rank, start = 0.0, count;

    if (isnan(q)) {
        return NAN;
    }
    if (q < 0) {
        return -INFINITY;
    }
    if (q > 1) {
        return INFINITY;
    }
    if (*n == 0) {
        return NAN;
    }
    qsort(b, *n, sizeof(aa_bucket), bucket_cmp);
    if (!(isinf(b[*n - 1].upper) && b[*n - 1].upper > 0)) {
        return NAN;
    }
    for (i = 1, k = 0; i < *n; i++) {
        if (b[i].upper == b[k].upper) {
            b[k].count += b[i].count;
        } else {
            b[++k] = b[i];
        }
    }
    *n = k + 1;
    max = -INFINITY;
    for (i = 0; i < *n; i++) {
        if (b[i].count > max) {
            max = b[i].count;
        } else if (b[i].count < max) {
            b[i].count = max;
        }
    }
    if (*n < 2) {
        return NAN;
    }
    obs = b[*n - 1].count;
    if (obs == 0) {
        return NAN;
    }
    rank = q * obs;
    /* sort.Search(n-1, count >= rank) */
    lo = 0;
    hi = *n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (!(b[mid].count >= rank)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    k = lo;
    if (k == *n - 1) {
        return b[*n - 2].upper;
    }
    if (k == 0 && b[0].upper <= 0) {
        return b[0].upper;
    }
    count = b[k].count;
    if (k > 0) {
        start = b[k - 1].upper;
        count -= b[k - 1].count;
        rank -= b[k - 1].count;
    }
    return start + (b[k].upper - start) * (rank / count);
}

/* One range function over a series' points in [t - W, t]. */
static bool apply_fn(aa_range_fn fn, const aa_point *p, size_t n, int64_t t_ms,
                     int64_t window_ms, double *out)
{
    double m, mean, c, count;
    size_t i;

    switch (fn) {
    case AA_FN_RATE:
    case AA_FN_INCREASE:
    case AA_FN_DELTA:
        return aa_eval_extrapolated_rate(p, n, t_ms - window_ms, t_ms,
                                         fn != AA_FN_DELTA, fn == AA_FN_RATE,
                                         out);
    case AA_FN_DERIV:
        return aa_eval_deriv(p, n, out);
    case AA_FN_LAST_OVER_TIME:
        if (n == 0) {
            return false;
        }
        *out = p[n - 1].v;
        return true;
    case AA_FN_MAX_OVER_TIME:
    case AA_FN_MIN_OVER_TIME:
        if (n == 0) {
            return false;
        }
        m = p[0].v;
        for (i = 0; i < n; i++) {
            if ((fn == AA_FN_MAX_OVER_TIME ? p[i].v > m : p[i].v < m) ||
                isnan(m)) {
                m = p[i].v;
            }
        }
        *out = m;
        return true;
    case AA_FN_AVG_OVER_TIME:
        break;
    }
    if (n == 0) {
        return false;
    }
    /* funcAvgOverTime: incremental mean, compensated. */
    mean = 0;
    c = 0;
    count = 0;
    for (i = 0; i < n; i++) {
        count++;
        if (isinf(mean)) {
            if (isinf(p[i].v) && (mean > 0) == (p[i].v > 0)) {
                continue;
            }
            if (!isinf(p[i].v) && !isnan(p[i].v)) {
                continue;
            }
        }
        kahan_inc(p[i].v / count - mean / count, &mean, &c);
    }
    *out = isinf(mean) ? mean : mean + c;
    return true;
}

/*
 * fn(name{matchers}[W]) at t: one element per series with a value, labels
 * without __name__, which every range function but last_over_time drops
 * (engine.go, v2.42).
 */
static int select_apply(const aa_tsdb *db, const char *name,
                        const aa_rule *rule, const aa_matchers *extra,
                        aa_range_fn fn, int64_t t_ms, int64_t window_ms,
                        elems *out, aa_diag *diag)
{
    size_t *ids = NULL, nids = 0, i, j, cap = 0, np;
    aa_point *pts = NULL;
    int rc;

    rc = aa_tsdb_select(db, name, &rule->where, extra, &ids, &nids, diag);
    if (rc != AA_OK) {
        return rc;
    }
    for (i = 0; i < nids; i++) {
        const aa_labels *ls = aa_tsdb_labels(db, ids[i]);
        aa_labels copy = {NULL, 0};
        double v;

        rc = aa_tsdb_points(db, ids[i], t_ms - window_ms, t_ms, false, &pts,
                            &cap, &np);
        if (rc != AA_OK) {
            goto out;
        }
        if (!apply_fn(fn, pts, np, t_ms, window_ms, &v)) {
            continue;
        }
        for (j = 0; j < ls->n; j++) {
            if (fn != AA_FN_LAST_OVER_TIME &&
                strcmp(ls->v[j].name, "__name__") == 0) {
                continue;
            }
            rc = aa_labels_add(&copy, ls->v[j].name, ls->v[j].value);
            if (rc != AA_OK) {
                aa_labels_clear(&copy);
                goto out;
            }
        }
        rc = elems_push(out, &copy, v);
        if (rc != AA_OK) {
            aa_labels_clear(&copy);
            goto out;
        }
    }
out:
    free(ids);
    free(pts);
    return rc;
}

/* ---- aggregation ---------------------------------------------------------
 */

static int key_cmp(const void *pa, const void *pb)
{
    const elem *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);

    if (c != 0) {
        return c;
    }
    /* Keep input order inside a group (a stable sort). */
    return (a->idx < b->idx) ? -1 : (a->idx > b->idx);
}

/*
 * Sets e->key: the values of the grouping labels (missing = empty), each
 * followed by '\x01'.  without: the key is every label except `without`
 * (histogram_quantile's grouping by all labels but le).
 */
static int make_key(elem *e, char **by, size_t nby, const char *extra_by,
                    const char *without)
{
    aat_buf b;
    size_t i;
    int rc = AA_OK;

    aat_buf_init(&b, (size_t)1 << 24);
    if (without != NULL) {
        for (i = 0; i < e->labels.n && rc == AA_OK; i++) {
            if (strcmp(e->labels.v[i].name, without) == 0) {
                continue;
            }
            rc = aat_buf_appendf(&b, "%s\x02%s\x01", e->labels.v[i].name,
                                e->labels.v[i].value);
        }
    } else {
        const char *v;

        for (i = 0; i < nby && rc == AA_OK; i++) {
            v = aa_labels_get(&e->labels, by[i]);
            rc = aat_buf_appendf(&b, "%s\x01", v != NULL ? v : "");
        }
        if (extra_by != NULL && rc == AA_OK) {
            v = aa_labels_get(&e->labels, extra_by);
            rc = aat_buf_appendf(&b, "%s\x01", v != NULL ? v : "");
        }
    }
    if (rc == AA_OK && b.data == NULL) {
        rc = aat_buf_append(&b, "", 0);
    }
    if (rc != AA_OK) {
        aat_buf_release(&b);
        return rc;
    }
    free(e->key);
    e->key = aat_buf_steal(&b);
    if (e->key == NULL) {
        e->key = aa_strdup("");
        if (e->key == NULL) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

/* Keys every element (make_key's arguments) and sorts them so that each
 * group is one run, in input order inside it.  AA_ENOMEM only. */
static int sort_groups(elems *in, char **by, size_t nby, const char *extra_by,
                       const char *without)
{
    size_t i;
    int rc;

    for (i = 0; i < in->n; i++) {
        rc = make_key(&in->v[i], by, nby, extra_by, without);
        if (rc != AA_OK) {
            return rc;
        }
        in->v[i].idx = i;
    }
    if (in->n > 0) {
        qsort(in->v, in->n, sizeof(elem), key_cmp);
    }
    return AA_OK;
}

/* The output labels of a group: the grouping labels that are non-empty
 * (PromQL treats an empty label as absent). */
static int group_labels(const elem *e, char **by, size_t nby,
                        const char *extra_by, aa_labels *out)
{
    size_t i;
    int rc;

    for (i = 0; i <= nby; i++) {
        const char *name = i < nby ? by[i] : extra_by;
        const char *v;

        if (name == NULL) {
            continue;
        }
        v = aa_labels_get(&e->labels, name);
        if (v == NULL || v[0] == '\0') {
            continue;
        }
        rc = aa_labels_add(out, name, v);
        if (rc != AA_OK) {
            return rc;
        }
    }
    return AA_OK;
}

/* promql/engine.go aggregation (v2.42) for sum, avg, max, min:
 * op by (by..., extra_by) (in).  in is consumed (reordered). */
static int aggregate(elems *in, aa_agg op, char **by, size_t nby,
                     const char *extra_by, elems *out)
{
    size_t i, j;
    int rc;

    rc = sort_groups(in, by, nby, extra_by, NULL);
    if (rc != AA_OK) {
        return rc;
    }
    for (i = 0; i < in->n; i = j) {
        double val = in->v[i].v, mean = in->v[i].v, cnt = 1;
        aa_labels ls = {NULL, 0};

        for (j = i + 1; j < in->n && strcmp(in->v[j].key, in->v[i].key) == 0;
             j++) {
            double s = in->v[j].v;

            switch (op) {
            case AA_AGG_SUM:
                val += s;
                break;
            case AA_AGG_MAX:
                if (val < s || isnan(val)) {
                    val = s;
                }
                break;
            case AA_AGG_MIN:
                if (val > s || isnan(val)) {
                    val = s;
                }
                break;
            case AA_AGG_AVG:
                cnt++;
                if (isinf(mean)) {
                    if (isinf(s) && (mean > 0) == (s > 0)) {
                        break;
                    }
                    if (!isinf(s) && !isnan(s)) {
                        break;
                    }
                }
                mean += s / cnt - mean / cnt;
                break;
            }
        }
        if (op == AA_AGG_AVG) {
            val = mean;
        }
        rc = group_labels(&in->v[i], by, nby, extra_by, &ls);
        if (rc == AA_OK) {
            rc = elems_push(out, &ls, val);
        }
        if (rc != AA_OK) {
            aa_labels_clear(&ls);
            return rc;
        }
    }
    return AA_OK;
}

/* promql/functions.go funcHistogramQuantile (v2.42), classic buckets. */
static int histogram_quantile(double q, elems *in, elems *out)
{
    aa_bucket *b = NULL;
    size_t i, j, k;
    int rc;

    rc = sort_groups(in, NULL, 0, NULL, "le");
    if (rc != AA_OK || in->n == 0) {
        return rc;
    }
    b = malloc(in->n * sizeof(aa_bucket));
    if (b == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; i < in->n; i = j) {
        size_t nb = 0;
        aa_labels ls = {NULL, 0};

        for (j = i; j < in->n && strcmp(in->v[j].key, in->v[i].key) == 0;
             j++) {
            const char *le = aa_labels_get(&in->v[j].labels, "le");

            if (le == NULL ||
                !aa_expo_parse_go_float(le, strlen(le), &b[nb].upper)) {
                continue;
            }
            b[nb].count = in->v[j].v;
            nb++;
        }
        if (nb == 0) {
            continue;
        }
        for (k = 0; k < in->v[i].labels.n; k++) {
            const aa_label *l = &in->v[i].labels.v[k];

            if (strcmp(l->name, "le") == 0) {
                continue;
            }
            rc = aa_labels_add(&ls, l->name, l->value);
            if (rc != AA_OK) {
                break;
            }
        }
        if (rc == AA_OK) {
            rc = elems_push(out, &ls, aa_eval_bucket_quantile(q, b, &nb));
        }
        if (rc != AA_OK) {
            aa_labels_clear(&ls);
            break;
        }
    }
    free(b);
    return rc;
}

/* lhs / rhs with one-to-one matching on identical label sets. */
static int divide(const elems *lhs, const elems *rhs, elems *out)
{
    size_t i, j;
    int rc;

    for (i = 0; i < lhs->n; i++) {
        for (j = 0; j < rhs->n; j++) {
            if (aa_labels_cmp(&lhs->v[i].labels, &rhs->v[j].labels) == 0) {
                break;
            }
        }
        if (j < rhs->n) {
            aa_labels ls = {NULL, 0};

            rc = aa_labels_copy(&ls, &lhs->v[i].labels);
            if (rc == AA_OK) {
                rc = elems_push(out, &ls, lhs->v[i].v / rhs->v[j].v);
            }
            if (rc != AA_OK) {
                aa_labels_clear(&ls);
                return rc;
            }
        }
    }
    return AA_OK;
}

/* ---- rules ---------------------------------------------------------------
 */

const char *aa_eval_series_name(const aa_rule *rule, char *buf, size_t size)
{
    aa_plan p;

    if (rule->metric == NULL || aa_rule_plan(rule, &p) != AA_OK) {
        snprintf(buf, size, "%s", rule->metric != NULL ? rule->metric : "");
        return buf;
    }
    snprintf(buf, size, "%s%s", rule->metric, p.suffix);
    return buf;
}

/* The plan of promql.h (aa_rule_plan), executed over the store. */
static int eval_elems(const aa_tsdb *db, const aa_rule *rule,
                      const aa_matchers *extra, int64_t t_ms,
                      int64_t window_ms, elems *res, aa_diag *diag)
{
    elems a = {0}, b = {0}, c = {0}, d = {0};
    char name[512];
    aa_plan p;
    int rc;

    rc = aa_rule_plan(rule, &p);
    if (rc != AA_OK) {
        aa_diag_set(diag, NULL, 0, 0,
                    "rule %s: stat %s does not apply to this metric type",
                    rule->id != NULL ? rule->id : "?", rule->stat_text);
        return rc;
    }
    snprintf(name, sizeof(name), "%s%s", rule->metric, p.suffix);
    rc = select_apply(db, name, rule, extra, p.fn, t_ms, window_ms, &a, diag);
    if (rc == AA_OK) {
        rc =
            aggregate(&a, p.agg, rule->by, rule->nby, p.quantile ? "le" : NULL,
                      p.quantile || p.denominator_suffix != NULL ? &b : res);
    }
    if (rc == AA_OK && p.quantile) {
        rc = histogram_quantile(rule->quantile, &b, res);
    } else if (rc == AA_OK && p.denominator_suffix != NULL) {
        snprintf(name, sizeof(name), "%s%s", rule->metric,
                 p.denominator_suffix);
        rc = select_apply(db, name, rule, extra, p.fn, t_ms, window_ms, &c,
                          diag);
        if (rc == AA_OK) {
            rc = aggregate(&c, p.agg, rule->by, rule->nby, NULL, &d);
        }
        if (rc == AA_OK) {
            rc = divide(&b, &d, res);
        }
    }
    elems_clear(&a);
    elems_clear(&b);
    elems_clear(&c);
    elems_clear(&d);
    return rc;
}

int aa_eval_instant(const aa_tsdb *db, const aa_rule *rule,
                    const aa_matchers *extra, int64_t t_ms, int64_t window_ms,
                    aa_vector *out, aa_diag *diag)
{
    elems res = {0};
    size_t i;
    int rc;

    if (db == NULL || rule == NULL || out == NULL || window_ms <= 0) {
        return AA_EINVAL;
    }
    if (rule->metric == NULL) {
        aa_diag_set(diag, NULL, 0, 0,
                    "rule %s: raw PromQL queries need a Prometheus backend",
                    rule->id != NULL ? rule->id : "?");
        return AA_EUNSUPPORTED;
    }
    rc = eval_elems(db, rule, extra, t_ms, window_ms, &res, diag);
    for (i = 0; rc == AA_OK && i < res.n; i++) {
        rc = aa_vector_push(out, &res.v[i].labels, res.v[i].v);
    }
    if (rc != AA_OK) {
        aa_vector_clear(out);
    }
    elems_clear(&res);
    return rc;
}

int aa_eval_range(const aa_tsdb *db, const aa_rule *rule,
                  const aa_matchers *extra, int64_t start_ms, int64_t end_ms,
                  int64_t step_ms, int64_t window_ms, aa_matrix *out,
                  aa_diag *diag)
{
    int64_t t;
    int rc = AA_OK;

    if (step_ms <= 0 || end_ms < start_ms) {
        return AA_EINVAL;
    }
    for (t = start_ms; t <= end_ms && rc == AA_OK; t += step_ms) {
        aa_vector vec = {NULL, 0};
        size_t i, j;

        rc = aa_eval_instant(db, rule, extra, t, window_ms, &vec, diag);
        for (i = 0; rc == AA_OK && i < vec.n; i++) {
            aa_range_series *rs = NULL;

            for (j = 0; j < out->n; j++) {
                if (aa_labels_cmp(&out->v[j].labels, &vec.v[i].labels) == 0) {
                    rs = &out->v[j];
                    break;
                }
            }
            if (rs == NULL) {
                rc = aa_matrix_push(out, &vec.v[i].labels, &rs);
            }
            if (rc == AA_OK) {
                rc = aa_range_series_push(rs, t, vec.v[i].value);
            }
        }
        aa_vector_clear(&vec);
    }
    if (rc != AA_OK) {
        aa_matrix_clear(out);
    }
    return rc;
}
