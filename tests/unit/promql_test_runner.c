/*
 * promql_test_runner.c: the one reader of Prometheus's PromQL test files
 * (the `.test` format of promql/testdata, e.g. tests/data/promql/
 * histograms.test), shared by the C tests and the Python equivalence
 * test so that the format is parsed in one place.
 *
 *   promql_test_runner --check [--min N] FILE
 *       loads FILE's "load" blocks into an aa_tsdb, evaluates every
 *       "eval instant" whose expression the local evaluator can express
 *       (histogram_quantile of rate(M_bucket[W]), of sum by (le, ...) of
 *       rate(M_bucket[W]), or of raw buckets M_bucket{...} with the
 *       5-minute instant lookback), compares with the expected vector to
 *       1e-9 relative, and exits 1 on a difference or when fewer than N
 *       cases were evaluated (meson test runs this).
 *   promql_test_runner --json FILE
 *       one JSON object per "eval instant": its line, time, expression,
 *       kind ("rate", "sum_rate", "raw" or "unsupported"), quantile,
 *       metric family, window, by labels, and the expected and evaluated
 *       vectors (values as numbers, or "NaN", "+Inf", "-Inf").
 *   promql_test_runner --openmetrics FILE
 *       the loaded series as an OpenMetrics recording (--samples input
 *       and promtool's backfill input), families of *_bucket series typed
 *       histogram.
 *
 * Load syntax: "load DURATION" then indented "SERIES VALUES", VALUES
 * being space-separated items: a number, "a+bxN" / "a-bxN" (N+1 values
 * stepping by b), "axN" (N+1 copies), "_" and "_xN" (missing steps),
 * "stale".  "clear" empties the store.  Other commands are skipped.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/eval.h"
#include "aa/expo.h"
#include "aa/rules.h"
#include "aa/tsdb.h"
#include "promql_test.h"

#define LOOKBACK_MS 300000

typedef struct runner {
    aa_tsdb *db;
    int failures;
    int evaluated;
} runner;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        if (buf != NULL) {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static int fail(runner *r, unsigned line, const char *what)
{
    fprintf(stderr, "line %u: %s\n", line, what);
    r->failures++;
    return -1;
}

/* "name{a="b"}", "{a="b"}" or "name" into ls (__name__ when named). */
static int parse_series(const char *text, size_t len, aa_labels *ls)
{
    char buf[1024];
    const char *brace;
    aa_matchers m = {NULL, 0};
    size_t i, n;
    int rc = AA_OK;

    if (len >= sizeof(buf)) {
        return AA_ETOOBIG;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    brace = strchr(buf, '{');
    n = brace != NULL ? (size_t)(brace - buf) : len;
    if (n > 0) {
        char name[256];

        if (n >= sizeof(name)) {
            return AA_ETOOBIG;
        }
        memcpy(name, buf, n);
        name[n] = '\0';
        rc = aa_labels_add(ls, "__name__", name);
    }
    if (rc == AA_OK && brace != NULL) {
        rc = aa_matchers_parse(brace, &m, NULL);
        for (i = 0; rc == AA_OK && i < m.n; i++) {
            rc = aa_labels_add(ls, m.v[i].name, m.v[i].value);
        }
        aa_matchers_clear(&m);
    }
    return rc;
}

/* The series text of a line: up to its last '}' or first blank. */
static size_t series_len(const char *s)
{
    const char *close = strrchr(s, '}');

    return close != NULL ? (size_t)(close - s) + 1 : strcspn(s, " \t");
}

static double parse_value(const char *s)
{
    if (strcmp(s, "NaN") == 0) {
        return NAN;
    }
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
        return INFINITY;
    }
    if (strcmp(s, "-Inf") == 0) {
        return -INFINITY;
    }
    return strtod(s, NULL);
}

/* Appends the values of one item ("1", "0+5x10", "_x3", "stale") from
 * step *k on, advancing *k. */
static int load_item(runner *r, unsigned line, size_t id, const char *item,
                     int64_t interval, int64_t *k)
{
    char buf[128], *x, *op;
    double start, step = 0;
    long count = 0, i;

    snprintf(buf, sizeof(buf), "%s", item);
    if (strcmp(buf, "stale") == 0) {
        aa_tsdb_append(r->db, id, *k * interval, aa_stale_nan());
        (*k)++;
        return 0;
    }
    /* "axN": sscanf would read "0x10" as hexadecimal */
    x = strrchr(buf, 'x');
    if (x != NULL) {
        count = strtol(x + 1, NULL, 10);
        *x = '\0';
    }
    if (buf[0] == '_') {
        *k += x != NULL ? count : 1;
        return 0;
    }
    /* the step's sign, not an exponent's */
    for (op = strpbrk(buf + 1, "+-");
         op != NULL && (op[-1] == 'e' || op[-1] == 'E');
         op = strpbrk(op + 1, "+-")) {
    }
    if (op != NULL) {
        step = strtod(op + 1, NULL) * (*op == '-' ? -1 : 1);
        *op = '\0';
    }
    start = parse_value(buf);
    for (i = 0; i <= count; i++) {
        if (aa_tsdb_append(r->db, id, *k * interval,
                           start + (double)i * step) != AA_OK) {
            return fail(r, line, "a value could not be stored");
        }
        (*k)++;
    }
    return 0;
}

static int load_line(runner *r, unsigned line, const char *s, int64_t interval)
{
    aa_labels ls = {NULL, 0};
    size_t n = series_len(s), id;
    char items[4096], *tok, *save = NULL;
    const char *family = NULL;
    char fam[256];
    int64_t k = 0;
    int rc = 0;

    if (parse_series(s, n, &ls) != AA_OK) {
        return fail(r, line, "cannot read the series");
    }
    {
        const char *name = aa_labels_get(&ls, "__name__");
        size_t nl = name != NULL ? strlen(name) : 0;

        if (nl > 7 && nl - 7 < sizeof(fam) &&
            strcmp(name + nl - 7, "_bucket") == 0) {
            snprintf(fam, sizeof(fam), "%.*s", (int)(nl - 7), name);
            family = fam;
        }
    }
    if (aa_tsdb_series(r->db, &ls, family, &id) != AA_OK) {
        aa_labels_clear(&ls);
        return fail(r, line, "cannot create the series");
    }
    if (family != NULL) {
        aa_tsdb_set_type(r->db, family, AA_EXPO_HISTOGRAM);
    }
    aa_labels_clear(&ls);
    snprintf(items, sizeof(items), "%s", s + n);
    for (tok = strtok_r(items, " \t", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, " \t", &save)) {
        rc = load_item(r, line, id, tok, interval, &k);
    }
    return rc;
}

/* ---- eval instant ------------------------------------------------------
 */

/* "0.5", "NaN", "1./6." */
static double parse_quantile(const char *s)
{
    const char *slash = strchr(s, '/');

    if (strncmp(s, "NaN", 3) == 0) {
        return NAN;
    }
    return slash != NULL ? strtod(s, NULL) / strtod(slash + 1, NULL)
                         : strtod(s, NULL);
}

static void split_by(evalcase *c, const char *list)
{
    char buf[512], *tok, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", list);
    for (tok = strtok_r(buf, ", ", &save); tok != NULL && c->nby < MAX_BY;
         tok = strtok_r(NULL, ", ", &save)) {
        if (strcmp(tok, "le") != 0) {
            snprintf(c->by[c->nby++], sizeof(c->by[0]), "%s", tok);
        }
    }
}

bool promql_test_family_of(const char *series, char *out, size_t size)
{
    size_t n = strlen(series);

    if (n <= 7 || strcmp(series + n - 7, "_bucket") != 0 || n - 7 >= size) {
        return false;
    }
    snprintf(out, size, "%.*s", (int)(n - 7), series);
    return true;
}

/*
 * The label names of the series named name, but le: what a rule's "by"
 * must list for sum by to keep every series apart, as an unaggregated
 * rate() does.
 */
static void by_all_labels(const runner *r, const char *name, evalcase *c)
{
    size_t *ids = NULL, n = 0, i, j, k;

    if (aa_tsdb_select(r->db, name, NULL, NULL, &ids, &n, NULL) != AA_OK) {
        return;
    }
    for (i = 0; i < n; i++) {
        const aa_labels *ls = aa_tsdb_labels(r->db, ids[i]);

        for (j = 0; j < ls->n; j++) {
            const char *ln = ls->v[j].name;

            if (strcmp(ln, "le") == 0 || strcmp(ln, "__name__") == 0) {
                continue;
            }
            for (k = 0; k < c->nby && strcmp(c->by[k], ln) != 0; k++) {
            }
            if (k == c->nby && c->nby < MAX_BY) {
                snprintf(c->by[c->nby++], sizeof(c->by[0]), "%s", ln);
            }
        }
    }
    free(ids);
}

/* Classifies c->expr: histogram_quantile(Q, INNER). */
static void classify(const runner *r, evalcase *c)
{
    char q[64], inner[1024], series[512], by[512];
    int wmin;
    size_t n;

    c->k = K_UNSUPPORTED;
    if (sscanf(c->expr, "histogram_quantile(%63[^,], %1023[^\n]", q, inner) !=
        2) {
        return;
    }
    n = strlen(inner);
    if (n == 0 || inner[n - 1] != ')') {
        return;
    }
    inner[n - 1] = '\0';
    c->q = parse_quantile(q);
    by[0] = '\0';
    if (sscanf(inner, "rate(%511[^[][%dm])%n", series, &wmin, (int *)&n) ==
            2 &&
        inner[n] == '\0' &&
        promql_test_family_of(series, c->metric, sizeof(c->metric))) {
        c->k = K_RATE;
        c->window_ms = (int64_t)wmin * 60000;
        by_all_labels(r, series, c);
        return;
    }
    if (sscanf(inner, "sum(rate(%511[^[][%dm])) by (%511[^)])", series, &wmin,
               by) == 3 &&
        strncmp(by, "le", 2) == 0 &&
        promql_test_family_of(series, c->metric, sizeof(c->metric))) {
        c->k = K_SUM_RATE;
        c->window_ms = (int64_t)wmin * 60000;
        split_by(c, by);
        return;
    }
    if (strchr(inner, '(') == NULL) {
        const char *brace = strchr(inner, '{');
        size_t nl = brace != NULL ? (size_t)(brace - inner) : strlen(inner);

        snprintf(series, sizeof(series), "%.*s", (int)nl, inner);
        if (promql_test_family_of(series, c->metric, sizeof(c->metric))) {
            c->k = K_RAW;
            snprintf(c->selector, sizeof(c->selector), "%s",
                     brace != NULL ? brace : "");
        }
    }
}

/* The labels of ls without le and __name__. */
static int group_key(const aa_labels *ls, aa_labels *key)
{
    size_t k;
    int rc = AA_OK;

    for (k = 0; rc == AA_OK && k < ls->n; k++) {
        if (strcmp(ls->v[k].name, "le") != 0 &&
            strcmp(ls->v[k].name, "__name__") != 0) {
            rc = aa_labels_add(key, ls->v[k].name, ls->v[k].value);
        }
    }
    return rc;
}

/* The latest sample in [t - 5m, t], as an instant selector reads it; a
 * stale marker there means no sample. */
static bool instant_value(const aa_tsdb *db, size_t id, int64_t t, double *v)
{
    aa_point *pts = NULL;
    size_t cap = 0, np = 0;
    bool ok = false;

    if (aa_tsdb_points(db, id, t - LOOKBACK_MS, t, true, &pts, &cap, &np) ==
            AA_OK &&
        np > 0 && !aa_is_stale_nan(pts[np - 1].v)) {
        *v = pts[np - 1].v;
        ok = true;
    }
    free(pts);
    return ok;
}

/* histogram_quantile(q, M_bucket{sel}) at t over raw bucket counts. */
static int eval_raw(const runner *r, const evalcase *c, aa_vector *out)
{
    char name[300];
    aa_matchers m = {NULL, 0};
    size_t *ids = NULL, n = 0, i, j;
    int rc = AA_OK;

    snprintf(name, sizeof(name), "%s_bucket", c->metric);
    if (c->selector[0] != '\0') {
        rc = aa_matchers_parse(c->selector, &m, NULL);
    }
    if (rc == AA_OK) {
        rc = aa_tsdb_select(r->db, name, &m, NULL, &ids, &n, NULL);
    }
    for (i = 0; rc == AA_OK && i < n; i++) {
        aa_labels key = {NULL, 0};
        aa_bucket b[64];
        size_t nb = 0, k;
        bool seen = false;

        rc = group_key(aa_tsdb_labels(r->db, ids[i]), &key);
        for (k = 0; k < out->n; k++) {
            seen = seen || aa_labels_cmp(&out->v[k].labels, &key) == 0;
        }
        for (j = 0; rc == AA_OK && !seen && j < n && nb < 64; j++) {
            const aa_labels *o = aa_tsdb_labels(r->db, ids[j]);
            aa_labels okey = {NULL, 0};
            const char *le = aa_labels_get(o, "le");

            rc = group_key(o, &okey);
            if (rc == AA_OK && le != NULL && aa_labels_cmp(&okey, &key) == 0 &&
                aa_expo_parse_go_float(le, strlen(le), &b[nb].upper) &&
                instant_value(r->db, ids[j], c->t_ms, &b[nb].count)) {
                nb++;
            }
            aa_labels_clear(&okey);
        }
        if (rc == AA_OK && !seen && nb > 0) {
            rc = aa_vector_push(out, &key,
                                aa_eval_bucket_quantile(c->q, b, &nb));
        }
        aa_labels_clear(&key);
    }
    free(ids);
    aa_matchers_clear(&m);
    return rc;
}

static int evaluate(const runner *r, const evalcase *c, aa_vector *out)
{
    aa_rule rule;
    char *bys[MAX_BY];
    size_t i;

    if (c->k == K_RAW) {
        return eval_raw(r, c, out);
    }
    memset(&rule, 0, sizeof(rule));
    for (i = 0; i < c->nby; i++) {
        bys[i] = (char *)c->by[i];
    }
    rule.id = "case";
    rule.metric = (char *)c->metric;
    rule.stat = AA_STAT_QUANTILE;
    rule.type = AA_TYPE_HISTOGRAM;
    rule.quantile = c->q;
    rule.by = bys;
    rule.nby = c->nby;
    return aa_eval_instant(r->db, &rule, NULL, c->t_ms, c->window_ms, out,
                           NULL);
}

static bool same_value(double got, double want)
{
    return (isnan(got) && isnan(want)) || got == want ||
           fabs(got - want) <= 1e-9 * fmax(fabs(got), fabs(want));
}

/* Each expected sample has an equal one in got, and nothing more. */
static bool matches(const aa_vector *got, const evalcase *c)
{
    size_t i, j;

    if (got->n != c->nwant) {
        return false;
    }
    for (i = 0; i < c->nwant; i++) {
        for (j = 0; j < got->n; j++) {
            if (aa_labels_cmp(&got->v[j].labels, &c->want[i].labels) == 0) {
                break;
            }
        }
        if (j == got->n || !same_value(got->v[j].value, c->want[i].v)) {
            return false;
        }
    }
    return true;
}

/* ---- the file ----------------------------------------------------------
 */

/* The text's lines, NUL-terminated in place (empty ones kept). */
typedef struct lines {
    char **v;
    size_t n;
} lines;

static int split_lines(char *text, lines *ls)
{
    size_t cap = 0;
    char *p = text;

    ls->v = NULL;
    ls->n = 0;
    while (*p != '\0') {
        char *nl = strchr(p, '\n');
        char **nv = aa_grow(ls->v, &cap, ls->n, sizeof(char *), 256);

        if (nv == NULL) {
            return AA_ENOMEM;
        }
        ls->v = nv;
        ls->v[ls->n++] = p;
        if (nl == NULL) {
            break;
        }
        *nl = '\0';
        p = nl + 1;
    }
    return AA_OK;
}

/* Reads the indented expected samples from line i on; returns the index
 * of the first line after them. */
static size_t read_expected(runner *r, evalcase *c, const lines *ls, size_t i)
{
    for (; i < ls->n && (ls->v[i][0] == ' ' || ls->v[i][0] == '\t'); i++) {
        char *line = ls->v[i];
        size_t n;

        while (*line == ' ' || *line == '\t') {
            line++;
        }
        if (*line == '\0') {
            continue;
        }
        if (c->nwant == MAX_EXPECT) {
            fail(r, (unsigned)i + 1, "too many expected samples");
            continue;
        }
        n = series_len(line);
        memset(&c->want[c->nwant], 0, sizeof(c->want[0]));
        if (parse_series(line, n, &c->want[c->nwant].labels) != AA_OK) {
            fail(r, (unsigned)i + 1, "cannot read an expected sample");
            continue;
        }
        while (line[n] == ' ' || line[n] == '\t') {
            n++;
        }
        c->want[c->nwant++].v = parse_value(line + n);
    }
    return i;
}

typedef enum mode { M_CHECK, M_JSON, M_OPENMETRICS } mode;

/* One "eval instant" at line i; returns the next line's index. */
static size_t eval_case(runner *r, const lines *ls, size_t i, mode md)
{
    evalcase *c = calloc(1, sizeof(*c));
    aa_vector got = {NULL, 0};
    char dur[64];
    size_t k;

    if (c == NULL) {
        fail(r, (unsigned)i + 1, "out of memory");
        return ls->n;
    }
    c->line = (unsigned)i + 1;
    if (sscanf(ls->v[i] + 16, "%63s", dur) != 1 ||
        aa_duration_parse(dur, &c->t_ms) != AA_OK) {
        fail(r, c->line, "bad eval time");
    }
    snprintf(c->expr, sizeof(c->expr), "%s", ls->v[i] + 16 + strlen(dur) + 1);
    classify(r, c);
    i = read_expected(r, c, ls, i + 1);
    if (c->k != K_UNSUPPORTED) {
        if (evaluate(r, c, &got) != AA_OK) {
            fail(r, c->line, "evaluation failed");
        } else if (md == M_CHECK && !matches(&got, c)) {
            fail(r, c->line, c->expr);
        }
        r->evaluated++;
    }
    if (md == M_JSON) {
        promql_test_print_json(c, c->k != K_UNSUPPORTED ? &got : NULL);
    }
    aa_vector_clear(&got);
    for (k = 0; k < c->nwant; k++) {
        aa_labels_clear(&c->want[k].labels);
    }
    free(c);
    return i;
}

static int run(runner *r, char *text, mode md)
{
    lines ls;
    int64_t interval = 0;
    size_t i = 0;

    if (split_lines(text, &ls) != AA_OK) {
        return fail(r, 0, "out of memory");
    }
    while (i < ls.n) {
        char *line = ls.v[i], dur[64];

        if (strncmp(line, "eval instant at ", 16) == 0) {
            interval = 0;
            i = eval_case(r, &ls, i, md);
            continue;
        }
        if (strncmp(line, "load ", 5) == 0) {
            if (sscanf(line + 5, "%63s", dur) != 1 ||
                aa_duration_parse(dur, &interval) != AA_OK) {
                fail(r, (unsigned)i + 1, "bad load interval");
            }
        } else if (strcmp(line, "clear") == 0) {
            aa_tsdb_free(r->db);
            r->db = NULL;
            if (aa_tsdb_new(&r->db) != AA_OK) {
                free(ls.v);
                return fail(r, (unsigned)i + 1, "out of memory");
            }
            interval = 0;
        } else if ((line[0] == ' ' || line[0] == '\t') && interval > 0) {
            while (*line == ' ' || *line == '\t') {
                line++;
            }
            if (*line != '\0' && *line != '#') {
                load_line(r, (unsigned)i + 1, line, interval);
            }
        } else if (line[0] != '#' && line[0] != '\0' && line[0] != ' ' &&
                   line[0] != '\t') {
            interval = 0; /* a command this runner skips */
        }
        i++;
    }
    free(ls.v);
    if (md == M_OPENMETRICS && promql_test_print_openmetrics(r->db) != AA_OK) {
        return fail(r, (unsigned)ls.n, "cannot write the recording");
    }
    return 0;
}

int main(int argc, char **argv)
{
    runner r = {NULL, 0, 0};
    mode md = M_CHECK;
    long min = 0;
    const char *path = NULL;
    char *text;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0) {
            md = M_CHECK;
        } else if (strcmp(argv[i], "--json") == 0) {
            md = M_JSON;
        } else if (strcmp(argv[i], "--openmetrics") == 0) {
            md = M_OPENMETRICS;
        } else if (strcmp(argv[i], "--min") == 0 && i + 1 < argc) {
            min = strtol(argv[++i], NULL, 10);
        } else {
            path = argv[i];
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: promql_test_runner [--check [--min N] | "
                        "--json | --openmetrics] FILE\n");
        return 2;
    }
    text = read_file(path);
    if (text == NULL) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 2;
    }
    if (aa_tsdb_new(&r.db) != AA_OK) {
        free(text);
        return 2;
    }
    run(&r, text, md);
    if (md == M_CHECK) {
        if (r.evaluated < min) {
            fprintf(stderr, "%s: %d cases evaluated, expected at least %ld\n",
                    path, r.evaluated, min);
            r.failures++;
        }
        printf("%s: %d cases evaluated, %d failures\n", path, r.evaluated,
               r.failures);
    }
    aa_tsdb_free(r.db);
    free(text);
    return r.failures > 0 ? 1 : 0;
}
