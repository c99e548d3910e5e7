/*
 * tsdb_mem.c: memory and speed of the scrape-mode series store.
 *
 * `tsdb_mem SERIES SCRAPES` (bench/expo_bench.py): feeds SCRAPES
 * synthetic scrapes of SERIES series (0.0.4 text, one histogram family
 * with 10 buckets per label set plus gauges) through the same path
 * scrape mode uses: parse, label set, store lookup, append, staleness
 * bookkeeping.  Prints one JSON line with peak RSS, the store's own byte
 * estimate, points, and the time of a p99 evaluation over the last 5
 * minutes.
 *
 * `tsdb_mem store SERIES SAMPLES` (bench/tsdb_bench.py): stores SAMPLES
 * scrapes, 1 s apart, of SERIES histogram bucket series of 7 labels each
 * (the probe's HTTP histogram with job and instance) straight through
 * the store's scrape path (lookup, scrape bookkeeping, append; no text),
 * and prints the resident memory the store added, its own estimate, the
 * insert time and the time to select about a tenth of the series with a
 * regex matcher and read all their points (CPU times).  It uses only the
 * API the store had before its redesign, so that bench/tsdb_bench.py can
 * build it against both versions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "aa/eval.h"
#include "aa/expo.h"
#include "aa/tsdb.h"

typedef struct feed {
    aa_tsdb *db;
    size_t tid;
    int64_t t_ms;
} feed;

static int on_sample(void *ctx, const aa_expo_sample *s)
{
    feed *fd = ctx;
    aa_labels ls = {NULL, 0};
    size_t i, id;
    int rc = aa_labels_add(&ls, "__name__", s->name);

    for (i = 0; rc == AA_OK && i < s->nlabels; i++) {
        rc = aa_labels_add(&ls, s->labels[i].name, s->labels[i].value);
    }
    if (rc == AA_OK) {
        rc = aa_labels_add(&ls, "instance", "127.0.0.1:9464");
    }
    if (rc == AA_OK) {
        rc = aa_tsdb_series(fd->db, &ls, s->family, &id);
    }
    if (rc == AA_OK) {
        rc = aa_tsdb_scrape_seen(fd->db, fd->tid, id);
    }
    if (rc == AA_OK) {
        rc = aa_tsdb_append(fd->db, id, fd->t_ms, s->value);
    }
    aa_labels_clear(&ls);
    return rc;
}

static int on_meta(void *ctx, const aa_expo_meta *m)
{
    feed *fd = ctx;

    return m->help == NULL && m->unit == NULL
               ? aa_tsdb_set_type(fd->db, m->family, m->type)
               : AA_OK;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the process: the store bench runs on shared machines, where
 * wall time measures the neighbours too. */
static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident bytes of the process now (/proc/self/statm). */
static size_t resident(void)
{
    unsigned long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2) {
            res = 0;
        }
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static int store_bench(size_t nseries, size_t nsamples)
{
    static const char *les[] = {"0.005", "0.01", "0.025", "0.05",
                                "0.075", "0.1",  "0.25",  "0.5",
                                "0.75",  "1",    "2.5",   "+Inf"};
    char route[48], code[8];
    aa_label lv[7];
    aa_labels ls = {lv, 7};
    aa_tsdb *db = NULL;
    aa_matchers m = {NULL, 0};
    aa_point *pts = NULL;
    size_t *ids = NULL, nids = 0, cap = 0, np, total = 0, base, tid, i, k;
    double t0, t_insert, t_select;
    int rc = AA_OK;

    base = resident();
#ifdef AA_TSDB_DUPLICATE
    {
        /* the redesigned store caps points; the bench goes past it */
        aa_tsdb_opts opts = {0, nseries * nsamples + 1};

        rc = aa_tsdb_new_opts(&opts, &db);
    }
#else
    rc = aa_tsdb_new(&db);
#endif
    if (rc != AA_OK || aa_tsdb_target(db, "127.0.0.1:9464", &tid) != AA_OK) {
        return 1;
    }
    /* sorted by name, as aa_labels keeps them */
    lv[0].name = "__name__";
    lv[0].value = "http_server_request_duration_seconds_bucket";
    lv[1].name = "http_request_method";
    lv[2].name = "http_response_status_code";
    lv[2].value = code;
    lv[3].name = "http_route";
    lv[3].value = route;
    lv[4].name = "instance";
    lv[4].value = "127.0.0.1:9464";
    lv[5].name = "job";
    lv[5].value = "async-auditor";
    lv[6].name = "le";
    t0 = cpu_now();
    for (k = 0; k < nsamples && rc == AA_OK; k++) {
        int64_t t_ms = 1700000000000LL + (int64_t)k * 1000;

        aa_tsdb_scrape_begin(db, tid);
        for (i = 0; i < nseries && rc == AA_OK; i++) {
            size_t id;

            snprintf(route, sizeof(route), "/api/v1/items/%zu", i / 24);
            snprintf(code, sizeof(code), "%d", i % 24 < 12 ? 200 : 500);
            lv[1].value = (char *)(i % 48 < 24 ? "GET" : "POST");
            lv[6].value = (char *)les[i % 12];
            rc = aa_tsdb_series(db, &ls,
                                "http_server_request_duration_seconds", &id);
            if (rc == AA_OK) {
                rc = aa_tsdb_scrape_seen(db, tid, id);
            }
            if (rc == AA_OK) {
                /* a cumulative bucket count: grows by a few a second */
                rc = aa_tsdb_append(db, id, t_ms,
                                    (double)(k * (i % 12 + 1) + i % 7));
            }
        }
        if (rc == AA_OK) {
            rc = aa_tsdb_scrape_end(db, tid, t_ms, true);
        }
    }
    t_insert = cpu_now() - t0;
    if (rc != AA_OK) {
        fprintf(stderr, "store: %s\n", aa_strerror(rc));
        return 1;
    }
    if (aa_matchers_parse("{http_route=~\"/api/v1/items/1[0-9]*\"}", &m,
                          NULL) != AA_OK) {
        return 1;
    }
    t0 = cpu_now();
    rc = aa_tsdb_select(db, "http_server_request_duration_seconds_bucket", &m,
                        NULL, &ids, &nids, NULL);
    for (i = 0; rc == AA_OK && i < nids; i++) {
        rc = aa_tsdb_points(db, ids[i], INT64_MIN, INT64_MAX, false, &pts,
                            &cap, &np);
        total += np;
    }
    t_select = cpu_now() - t0;
    printf("{\"series\": %zu, \"samples\": %zu, \"points\": %zu, "
           "\"resident_bytes\": %zu, \"store_bytes\": %zu, "
           "\"insert_seconds\": %.4f, \"selected\": %zu, "
           "\"points_read\": %zu, \"select_seconds\": %.4f}\n",
           aa_tsdb_nseries(db), nsamples, aa_tsdb_npoints(db),
           resident() - base, aa_tsdb_bytes(db), t_insert, nids, total,
           t_select);
    free(ids);
    free(pts);
    aa_matchers_clear(&m);
    aa_tsdb_free(db);
    return rc == AA_OK ? 0 : 1;
}

static int scrape_bench(int nseries, int nscrapes)
{
    static const char *les[] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                "0.05",  "0.1",    "0.25",  "1",    "+Inf"};
    int hist_sets = nseries / 12; /* 10 buckets + _sum + _count */
    int gauges = nseries - hist_sets * 12;
    feed fd;
    aa_expo_handler h = {on_sample, on_meta, &fd};
    aat_buf text;
    aa_diag d;
    struct rusage ru;
    double t0, t_feed, t_eval;
    int k, i, b;
    aa_rule r;
    aa_vector v = {NULL, 0};

    memset(&fd, 0, sizeof(fd));
    if (aa_tsdb_new(&fd.db) != AA_OK ||
        aa_tsdb_target(fd.db, "127.0.0.1:9464", &fd.tid) != AA_OK) {
        return 1;
    }
    aat_buf_init(&text, (size_t)256 << 20);
    t0 = now();
    for (k = 0; k < nscrapes; k++) {
        aat_buf_reset(&text);
        aat_buf_appendf(&text, "# TYPE http_server_request_duration_seconds "
                               "histogram\n");
        for (i = 0; i < hist_sets; i++) {
            long cum = 0;

            for (b = 0; b < 10; b++) {
                cum += (long)k * (b + 1) + i % 7;
                aat_buf_appendf(&text,
                                "http_server_request_duration_seconds_bucket"
                                "{http_route=\"/r%d\",le=\"%s\"} %ld\n",
                                i, les[b], cum);
            }
            aat_buf_appendf(&text,
                            "http_server_request_duration_seconds_sum{"
                            "http_route=\"/r%d\"} %.6f\n"
                            "http_server_request_duration_seconds_count{"
                            "http_route=\"/r%d\"} %ld\n",
                            i, (double)cum * 0.02, i, cum);
        }
        aat_buf_appendf(&text, "# TYPE python_asyncio_tasks gauge\n");
        for (i = 0; i < gauges; i++) {
            aat_buf_appendf(&text, "python_asyncio_tasks{loop=\"l%d\"} %d\n",
                            i, (k * 31 + i) % 97);
        }
        fd.t_ms = 1700000000000LL + (int64_t)k * 1000;
        aa_tsdb_scrape_begin(fd.db, fd.tid);
        if (aa_expo_parse(text.data, text.len, AA_EXPO_TEXT, NULL, &h, &d) !=
            AA_OK) {
            fprintf(stderr, "parse: %s\n", d.message);
            return 1;
        }
        aa_tsdb_scrape_end(fd.db, fd.tid, fd.t_ms, true);
    }
    t_feed = now() - t0;
    memset(&r, 0, sizeof(r));
    r.id = "p99";
    r.metric = "http_server_request_duration_seconds";
    r.stat = AA_STAT_QUANTILE;
    r.quantile = 0.99;
    r.type = AA_TYPE_HISTOGRAM;
    t0 = now();
    aa_eval_instant(fd.db, &r, NULL, fd.t_ms, 300000, &v, NULL);
    t_eval = now() - t0;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"series\": %zu, \"points\": %zu, \"store_bytes\": %zu, "
           "\"maxrss_kb\": %ld, \"feed_seconds\": %.3f, "
           "\"text_bytes_per_scrape\": %zu, \"p99_eval_seconds\": %.4f, "
           "\"p99\": %.6g}\n",
           aa_tsdb_nseries(fd.db), aa_tsdb_npoints(fd.db),
           aa_tsdb_bytes(fd.db), ru.ru_maxrss, t_feed, text.len, t_eval,
           v.n > 0 ? v.v[0].value : -1.0);
    aa_vector_clear(&v);
    aat_buf_release(&text);
    aa_tsdb_free(fd.db);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "store") == 0) {
        return store_bench(strtoul(argv[2], NULL, 10),
                           strtoul(argv[3], NULL, 10));
    }
    return scrape_bench(argc > 1 ? atoi(argv[1]) : 2000,
                        argc > 2 ? atoi(argv[2]) : 3600);
}
