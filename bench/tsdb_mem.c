/*
 * tsdb_mem.c: memory of the scrape-mode series store for bench/
 * expo_bench.py.  Feeds `scrapes` synthetic scrapes of `series` series
 * (0.0.4 text, one histogram family with 10 buckets per label set plus
 * gauges) through the same path scrape mode uses: parse, label set,
 * store lookup, append, staleness bookkeeping.  Prints one JSON line with
 * peak RSS, the store's own byte estimate, points, and the time of a p99
 * evaluation over the last 5 minutes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

int main(int argc, char **argv)
{
    int nseries = argc > 1 ? atoi(argv[1]) : 2000;
    int nscrapes = argc > 2 ? atoi(argv[2]) : 3600;
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
            aat_buf_appendf(&text, "python_asyncio_tasks{loop=\"l%d\"} %d\n", i,
                           (k * 31 + i) % 97);
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
