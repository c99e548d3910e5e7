/*
 * test_eval.c: the local evaluator against Prometheus's own vectors
 * (tests/data/promql/histograms.test, Prometheus v2.42.0) and against
 * hand-computed values of rate/increase/delta/deriv/_over_time, counter
 * resets, staleness and grouping.
 *
 * The .test file is read directly: its "load" blocks fill a store and
 * each classic-histogram "eval instant" whose expression a structured
 * rule can express (rate, sum by (le, ...) of rate) is evaluated through
 * aa_eval_instant; raw-bucket expressions go through the bucket quantile
 * with Prometheus's 5-minute instant lookback.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/eval.h"
#include "aa/rules.h"
#include "aa/tsdb.h"
#include "check.h"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL) {
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

/* "name{a="b", c="d"}" -> labels (with __name__ when present). */
static void parse_series(const char *text, aa_labels *ls, char *name,
                         size_t size)
{
    const char *brace = strchr(text, '{');
    aa_matchers m = {NULL, 0};
    size_t n = brace != NULL ? (size_t)(brace - text) : strlen(text), i;

    snprintf(name, size, "%.*s", (int)n, text);
    if (n > 0) {
        aa_labels_add(ls, "__name__", name);
    }
    if (brace != NULL) {
        CHECK_INT_EQ(aa_matchers_parse(brace, &m, NULL), AA_OK);
        for (i = 0; i < m.n; i++) {
            aa_labels_add(ls, m.v[i].name, m.v[i].value);
        }
        aa_matchers_clear(&m);
    }
}

/* Loads the "load" blocks; 0+5x10 expands to 11 points. */
static void load_blocks(aa_tsdb *db, char *text)
{
    char *line, *save = NULL;
    int64_t interval = 0;

    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char series[512], vals[64], name[256];
        aa_labels ls = {NULL, 0};
        double start, step = 0;
        int count, k;
        size_t id;

        if (strncmp(line, "load ", 5) == 0) {
            CHECK_INT_EQ(aa_duration_parse(line + 5, &interval), AA_OK);
            continue;
        }
        if (line[0] != ' ' && line[0] != '\t') {
            interval = line[0] == '#' || line[0] == '\0' ? interval : 0;
            continue;
        }
        if (interval == 0) {
            continue;
        }
        while (*line == ' ' || *line == '\t') {
            line++;
        }
        {
            /* series text ends at the last '}' (or first blank) */
            char *end = strrchr(line, '}');

            end = end != NULL ? end + 1 : strpbrk(line, " \t");
            snprintf(series, sizeof(series), "%.*s", (int)(end - line), line);
            while (*end == ' ' || *end == '\t') {
                end++;
            }
            snprintf(vals, sizeof(vals), "%s", end);
        }
        {
            /* "a+bxN" or "axN"; sscanf would read "0x10" as hex */
            char *x = strrchr(vals, 'x'), *plus;

            CHECK(x != NULL);
            count = atoi(x + 1);
            *x = '\0';
            plus = strchr(vals + 1, '+');
            start = strtod(vals, NULL);
            step = plus != NULL ? strtod(plus + 1, NULL) : 0;
        }
        parse_series(series, &ls, name, sizeof(name));
        CHECK_INT_EQ(aa_tsdb_series(db, &ls, NULL, &id), AA_OK);
        for (k = 0; k <= count; k++) {
            CHECK_INT_EQ(
                aa_tsdb_append(db, id, k * interval, start + k * step), AA_OK);
        }
        aa_labels_clear(&ls);
    }
}

static double parse_q(const char *s)
{
    const char *slash = strchr(s, '/');

    if (strncmp(s, "NaN", 3) == 0) {
        return NAN;
    }
    if (slash != NULL) {
        return strtod(s, NULL) / strtod(slash + 1, NULL);
    }
    return strtod(s, NULL);
}

typedef struct expect {
    aa_labels labels;
    double v;
} expect;

/* histogram_quantile(q, M{sel}) at t: instant lookback 5m, no rate. */
static void raw_quantile(const aa_tsdb *db, const char *sel, double q,
                         int64_t t, aa_vector *out)
{
    char name[256];
    aa_labels want = {NULL, 0};
    aa_matchers m = {NULL, 0};
    size_t *ids = NULL, n = 0, i, j;
    aa_point *pts = NULL;
    size_t cap = 0, np;
    const char *brace;

    parse_series(sel, &want, name, sizeof(name));
    aa_labels_clear(&want);
    brace = strchr(sel, '{');
    if (brace != NULL) {
        CHECK_INT_EQ(aa_matchers_parse(brace, &m, NULL), AA_OK);
    }
    CHECK_INT_EQ(aa_tsdb_select(db, name, &m, NULL, &ids, &n, NULL), AA_OK);
    /* group by labels without le and __name__ */
    for (i = 0; i < n; i++) {
        const aa_labels *ls = aa_tsdb_labels(db, ids[i]);
        aa_labels key = {NULL, 0};
        aa_bucket b[64];
        size_t nb = 0, k;
        bool done = false;

        for (k = 0; k < ls->n; k++) {
            if (strcmp(ls->v[k].name, "le") != 0 &&
                strcmp(ls->v[k].name, "__name__") != 0) {
                aa_labels_add(&key, ls->v[k].name, ls->v[k].value);
            }
        }
        for (k = 0; k < out->n; k++) {
            done = done || aa_labels_cmp(&out->v[k].labels, &key) == 0;
        }
        if (done) {
            aa_labels_clear(&key);
            continue;
        }
        for (j = 0; j < n; j++) {
            const aa_labels *o = aa_tsdb_labels(db, ids[j]);
            aa_labels okey = {NULL, 0};

            for (k = 0; k < o->n; k++) {
                if (strcmp(o->v[k].name, "le") != 0 &&
                    strcmp(o->v[k].name, "__name__") != 0) {
                    aa_labels_add(&okey, o->v[k].name, o->v[k].value);
                }
            }
            if (aa_labels_cmp(&okey, &key) == 0 && nb < 64) {
                aa_tsdb_points(db, ids[j], t - 300000, t, false, &pts, &cap,
                               &np);
                if (np > 0) {
                    b[nb].upper = strtod(aa_labels_get(o, "le"), NULL);
                    b[nb].count = pts[np - 1].v;
                    nb++;
                }
            }
            aa_labels_clear(&okey);
        }
        aa_vector_push(out, &key, aa_eval_bucket_quantile(q, b, &nb));
        aa_labels_clear(&key);
    }
    free(pts);
    free(ids);
    aa_matchers_clear(&m);
}

static void check_vector(const aa_vector *got, const expect *want,
                         size_t nwant, const char *what)
{
    size_t i, j;

    if (got->n != nwant) {
        fprintf(stderr, "case: %s\n", what);
    }
    CHECK_INT_EQ(got->n, nwant);
    for (i = 0; i < nwant; i++) {
        for (j = 0; j < got->n; j++) {
            if (aa_labels_cmp(&got->v[j].labels, &want[i].labels) == 0) {
                break;
            }
        }
        CHECK(j < got->n);
        if (j < got->n) {
            if (!(isnan(want[i].v) && isnan(got->v[j].value)) &&
                fabs(got->v[j].value - want[i].v) >
                    1e-9 * fmax(fabs(want[i].v), 1e-300) &&
                got->v[j].value != want[i].v) {
                fprintf(stderr, "case: %s\n", what);
            }
            CHECK_DBL_NEAR(got->v[j].value, want[i].v, 1e-9);
        }
    }
}

static void run_histograms_test(void)
{
    const char *dir = getenv("AA_TESTDATA");
    char path[1024], *text, *copy, *line, *save = NULL;
    aa_tsdb *db = NULL;
    int ran_rate = 0, ran_raw = 0;

    snprintf(path, sizeof(path), "%s/promql/histograms.test",
             dir != NULL ? dir : "tests/data");
    text = read_all(path);
    CHECK(text != NULL);
    if (text == NULL) {
        return;
    }
    copy = aa_strdup(text);
    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    load_blocks(db, copy);
    free(copy);

    for (line = strtok_r(text, "\n", &save); line != NULL;) {
        char expr[512], qtext[64];
        expect want[16];
        size_t nwant = 0, i;
        int64_t t;
        int mins;
        aa_vector got = {NULL, 0};
        char *next;

        if (sscanf(line,
                   "eval instant at %dm histogram_quantile(%63[^,], "
                   "%511[^\n]",
                   &mins, qtext, expr) != 3) {
            line = strtok_r(NULL, "\n", &save);
            continue;
        }
        t = (int64_t)mins * 60000;
        /* expected lines follow, indented */
        for (next = strtok_r(NULL, "\n", &save);
             next != NULL && (next[0] == '\t' || next[0] == ' ');
             next = strtok_r(NULL, "\n", &save)) {
            char lab[256], val[64], name[64];

            while (*next == ' ' || *next == '\t') {
                next++;
            }
            CHECK(sscanf(next, "%255[^}]} %63s", lab, val) == 2);
            strcat(lab, "}");
            memset(&want[nwant], 0, sizeof(want[nwant]));
            parse_series(lab, &want[nwant].labels, name, sizeof(name));
            want[nwant].v = strcmp(val, "NaN") == 0    ? NAN
                            : strcmp(val, "+Inf") == 0 ? INFINITY
                            : strcmp(val, "-Inf") == 0 ? -INFINITY
                                                       : strtod(val, NULL);
            nwant++;
        }
        line = next;
        expr[strlen(expr) - 1] = '\0'; /* the closing ')' */
        if (strncmp(expr, "rate(", 5) == 0 ||
            strncmp(expr, "sum(rate(", 9) == 0) {
            aa_rule r;
            char metric[256], by[256], *bys[4], *tok, *bsave = NULL;
            int wmin;
            size_t nby = 0;

            memset(&r, 0, sizeof(r));
            by[0] = '\0';
            if (expr[0] == 'r') {
                CHECK(sscanf(expr, "rate(%255[^[][%dm])", metric, &wmin) == 2);
                /* no aggregation: every label but le is kept */
                snprintf(by, sizeof(by), "%s",
                         strstr(metric, "testhistogram_") != NULL ? "start"
                         : strstr(metric, "testhistogram2") != NULL
                             ? ""
                             : "job, instance");
            } else {
                CHECK(sscanf(expr, "sum(rate(%255[^[][%dm])) by (le%255[^)]",
                             metric, &wmin, by) >= 2);
            }
            for (tok = strtok_r(by, ", ", &bsave); tok != NULL && nby < 4;
                 tok = strtok_r(NULL, ", ", &bsave)) {
                bys[nby++] = tok;
            }
            r.id = "hist";
            /* the rule names the family; the plan adds _bucket */
            *strstr(metric, "_bucket") = '\0';
            r.metric = metric;
            r.stat = AA_STAT_QUANTILE;
            r.type = AA_TYPE_HISTOGRAM;
            r.quantile = parse_q(qtext);
            r.by = bys;
            r.nby = nby;
            CHECK_INT_EQ(
                aa_eval_instant(db, &r, NULL, t, wmin * 60000LL, &got, NULL),
                AA_OK);
            check_vector(&got, want, nwant, expr);
            ran_rate++;
        } else if (strchr(expr, '(') == NULL) {
            raw_quantile(db, expr, parse_q(qtext), t, &got);
            check_vector(&got, want, nwant, expr);
            ran_raw++;
        }
        aa_vector_clear(&got);
        for (i = 0; i < nwant; i++) {
            aa_labels_clear(&want[i].labels);
        }
    }
    /* The file has 20 rate/sum-of-rate cases and 15 raw-bucket ones (the
     * two avg-by-le cases are not structured-rule shapes). */
    CHECK_INT_EQ(ran_rate, 20);
    CHECK_INT_EQ(ran_raw, 15);
    free(text);
    aa_tsdb_free(db);
}

/* ---- functions by hand ----------------------------------------------- */

static void test_rate_functions(void)
{
    /* A counter scraped every 10 s over a 60 s window ending at 60 s. */
    aa_point p[] = {{5000, 10},  {15000, 20}, {25000, 30},
                    {35000, 40}, {45000, 50}, {55000, 60}};
    aa_point reset[] = {{0, 100}, {10000, 110}, {20000, 5}, {30000, 15}};
    aa_point g[] = {{0, 1}, {1000, 3}, {2000, 5}};
    aa_point flat[] = {{0, 7}, {1000, 7}};
    double v;

    /* increase: 50 over 50 s sampled; extrapolate 5 s at each end (both
     * below 1.1 x 10 s), and the zero point (10/50*50 s = 10 s) is not
     * closer than 5 s: 50 * 60/50 = 60. */
    CHECK(aa_eval_extrapolated_rate(p, 6, 0, 60000, true, false, &v));
    CHECK_DBL_NEAR(v, 60.0, 1e-12);
    CHECK(aa_eval_extrapolated_rate(p, 6, 0, 60000, true, true, &v));
    CHECK_DBL_NEAR(v, 1.0, 1e-12);
    /* A window start far away: extrapolate half an interval only. */
    CHECK(aa_eval_extrapolated_rate(p, 6, -100000, 60000, false, false, &v));
    CHECK_DBL_NEAR(v, 50.0 * (50 + 5 + 5) / 50, 1e-12);
    /* Counter reset: 110 -> 5 adds 110: 15 - 100 + 110 = 25 over 30 s;
     * zero point 100/25*30 = 120 s > 0 s to start; 30 s window. */
    CHECK(aa_eval_extrapolated_rate(reset, 4, 0, 30000, true, false, &v));
    CHECK_DBL_NEAR(v, 25.0, 1e-12);
    /* delta ignores resets. */
    CHECK(aa_eval_extrapolated_rate(reset, 4, 0, 30000, false, false, &v));
    CHECK_DBL_NEAR(v, -85.0, 1e-12);
    CHECK(!aa_eval_extrapolated_rate(p, 1, 0, 60000, true, true, &v));
    CHECK(aa_eval_deriv(g, 3, &v));
    CHECK_DBL_NEAR(v, 2.0, 1e-12);
    CHECK(aa_eval_deriv(flat, 2, &v));
    CHECK_DBL_NEAR(v, 0.0, 0);
    CHECK(!aa_eval_deriv(g, 1, &v));
}

static void test_quantile_edges(void)
{
    aa_bucket b[] = {{1, 1}, {2, 2}};
    aa_bucket nm[] = {{0.1, 20}, {1, 10},    {10, 50},
                      {100, 40}, {1000, 90}, {INFINITY, 80}};
    size_t n = 2;

    /* no +Inf bucket */
    CHECK(isnan(aa_eval_bucket_quantile(0.5, b, &n)));
    n = 6;
    CHECK_DBL_NEAR(aa_eval_bucket_quantile(0.5, nm, &n), 8.5, 1e-12);
}

/*
 * "le" is read with Go's ParseFloat: "0x1p1" is 2, "0x4" (hexadecimal
 * without an exponent) is not a number and its bucket is skipped.
 */
static void test_le_parsing(void)
{
    static const char *les[] = {"0x1p1", "0x4", "+Inf"};
    static const double ends[] = {10, 20, 20};
    aa_tsdb *db = NULL;
    aa_rule r;
    aa_vector v = {NULL, 0};
    size_t i, id;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    for (i = 0; i < 3; i++) {
        aa_labels ls = {NULL, 0};

        aa_labels_add(&ls, "__name__", "h_bucket");
        aa_labels_add(&ls, "le", les[i]);
        CHECK_INT_EQ(aa_tsdb_series(db, &ls, "h", &id), AA_OK);
        CHECK_INT_EQ(aa_tsdb_append(db, id, 0, 0), AA_OK);
        CHECK_INT_EQ(aa_tsdb_append(db, id, 10000, ends[i]), AA_OK);
        aa_labels_clear(&ls);
    }
    memset(&r, 0, sizeof(r));
    r.id = "q";
    r.metric = "h";
    r.stat = AA_STAT_QUANTILE;
    r.quantile = 0.75;
    r.type = AA_TYPE_HISTOGRAM;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    if (v.n == 1) {
        CHECK_DBL_NEAR(v.v[0].value, 2, 1e-12);
    }
    aa_vector_clear(&v);
    aa_tsdb_free(db);
}

/* A store with two instances of a gauge and a counter, one going stale. */
static void test_rules_and_staleness(void)
{
    aa_tsdb *db = NULL;
    aa_labels a = {NULL, 0}, b = {NULL, 0}, c = {NULL, 0};
    size_t ia, ib, ic, tid, i;
    aa_rule r;
    char *by[] = {"instance"};
    aa_vector v = {NULL, 0};
    aa_matrix m = {NULL, 0};
    aa_matchers sel = {NULL, 0};
    int64_t t;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    aa_labels_add(&a, "__name__", "g");
    aa_labels_add(&a, "instance", "x:1");
    aa_labels_add(&b, "__name__", "g");
    aa_labels_add(&b, "instance", "y:1");
    aa_labels_add(&c, "__name__", "c_total");
    aa_labels_add(&c, "instance", "x:1");
    CHECK_INT_EQ(aa_tsdb_series(db, &a, NULL, &ia), AA_OK);
    CHECK_INT_EQ(aa_tsdb_series(db, &b, NULL, &ib), AA_OK);
    CHECK_INT_EQ(aa_tsdb_series(db, &c, "c", &ic), AA_OK);
    CHECK_INT_EQ(aa_tsdb_set_type(db, "c", AA_EXPO_COUNTER), AA_OK);
    CHECK_INT_EQ(aa_tsdb_target(db, "x:1", &tid), AA_OK);
    for (i = 0, t = 0; i <= 10; i++, t += 1000) {
        aa_tsdb_scrape_begin(db, tid);
        if (i < 6) {
            aa_tsdb_scrape_seen(db, tid, ia);
            CHECK_INT_EQ(aa_tsdb_append(db, ia, t, (double)i), AA_OK);
        }
        aa_tsdb_scrape_seen(db, tid, ic);
        CHECK_INT_EQ(aa_tsdb_append(db, ic, t, (double)(i * 2)), AA_OK);
        CHECK_INT_EQ(aa_tsdb_scrape_end(db, tid, t, true), AA_OK);
        CHECK_INT_EQ(aa_tsdb_append(db, ib, t, 100.0 - (double)i), AA_OK);
    }
    /* g{x:1} vanished at 6 s: one stale marker, skipped by readers */
    CHECK_INT_EQ(aa_tsdb_npoints(db), 6 + 1 + 11 + 11);
    CHECK_INT_EQ(aa_tsdb_metric_type(db, "c_total"), AA_TYPE_COUNTER);
    CHECK_STR_EQ(aa_tsdb_family(db, ic), "c");
    CHECK_INT_EQ(aa_tsdb_append(db, ia, 3000, 1), AA_EINVAL);

    memset(&r, 0, sizeof(r));
    r.id = "g";
    r.metric = "g";
    r.stat = AA_STAT_MAX;
    r.type = AA_TYPE_GAUGE;
    r.by = by;
    r.nby = 1;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 2);
    for (i = 0; i < v.n; i++) {
        const char *inst = aa_labels_get(&v.v[i].labels, "instance");

        CHECK_INT_EQ(v.v[i].labels.n, 1);
        CHECK_DBL_NEAR(v.v[i].value, strcmp(inst, "x:1") == 0 ? 5 : 100, 0);
    }
    aa_vector_clear(&v);
    /* last over the final 3 s: x:1 is stale, only y:1 answers */
    r.stat = AA_STAT_LAST;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 3000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_DBL_NEAR(v.v[0].value, 90, 0);
    aa_vector_clear(&v);
    /* min without by: one group, no labels */
    r.stat = AA_STAT_MIN;
    r.nby = 0;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_INT_EQ(v.v[0].labels.n, 0);
    CHECK_DBL_NEAR(v.v[0].value, 0, 0);
    aa_vector_clear(&v);
    /* avg with a regex selector that keeps only y:1 */
    r.stat = AA_STAT_AVG;
    CHECK_INT_EQ(aa_matchers_parse("{instance=~\"y.*\"}", &sel, NULL), AA_OK);
    CHECK_INT_EQ(aa_eval_instant(db, &r, &sel, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_DBL_NEAR(v.v[0].value, 95, 1e-12);
    aa_vector_clear(&v);
    aa_matchers_clear(&sel);
    /* a bad regex is refused by the parser, and by the evaluator when a
     * matcher is built without it */
    CHECK_INT_EQ(aa_matchers_parse("{instance=~\"(\"}", &sel, NULL),
                 AA_ESYNTAX);
    {
        aa_matcher bad = {(char *)"instance", AA_MATCH_RE, (char *)"("};
        aa_matchers badm = {&bad, 1};
        aa_diag d;

        aa_diag_clear(&d);
        CHECK_INT_EQ(aa_eval_instant(db, &r, &badm, 10000, 10000, &v, &d),
                     AA_ESYNTAX);
        CHECK_STR_CONTAINS(d.message, "invalid regular expression");
        CHECK_INT_EQ(v.n, 0);
    }
    /* slope: max of x:1's +1/s and y:1's -1/s; delta of y:1: -10 */
    r.stat = AA_STAT_SLOPE;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_DBL_NEAR(v.v[0].value, 1, 1e-12);
    aa_vector_clear(&v);
    r.stat = AA_STAT_DELTA;
    CHECK_INT_EQ(aa_matchers_parse("{instance=\"y:1\"}", &sel, NULL), AA_OK);
    CHECK_INT_EQ(aa_eval_instant(db, &r, &sel, 10000, 10000, &v, NULL), AA_OK);
    CHECK_DBL_NEAR(v.v[0].value, -10, 1e-12);
    aa_vector_clear(&v);
    aa_matchers_clear(&sel);
    /* rate of the counter: 2/s */
    r.metric = "c_total";
    r.stat = AA_STAT_RATE;
    r.type = AA_TYPE_COUNTER;
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL), AA_OK);
    CHECK_INT_EQ(v.n, 1);
    CHECK_DBL_NEAR(v.v[0].value, 2, 1e-12);
    aa_vector_clear(&v);
    /* range: one point per step where the window holds two samples */
    CHECK_INT_EQ(
        aa_eval_range(db, &r, NULL, 5000, 10000, 1000, 2000, &m, NULL), AA_OK);
    CHECK_INT_EQ(m.n, 1);
    CHECK_INT_EQ(m.v[0].n, 6);
    CHECK_INT_EQ(m.v[0].pts[5].t_ms, 10000);
    aa_matrix_clear(&m);
    /* a raw rule is refused */
    r.metric = NULL;
    r.query = "up";
    CHECK_INT_EQ(aa_eval_instant(db, &r, NULL, 10000, 10000, &v, NULL),
                 AA_EUNSUPPORTED);
    aa_labels_clear(&a);
    aa_labels_clear(&b);
    aa_labels_clear(&c);
    aa_tsdb_free(db);
}

int main(void)
{
    run_histograms_test();
    test_rate_functions();
    test_quantile_edges();
    test_le_parsing();
    test_rules_and_staleness();
    return check_report("test_eval");
}
