/*
 * promql_test_output.c: the .test runner's two outputs (promql_test.h):
 * a JSON object per "eval instant", which the Python equivalence test
 * reads instead of the .test file, and the loaded series as an
 * OpenMetrics recording, which it replays with --samples.  JSON has no
 * NaN or infinities: those values are the strings "NaN", "+Inf", "-Inf".
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql_test.h"

static const char *const kind_names[] = {"unsupported", "rate", "sum_rate",
                                         "raw"};

static void put_json_str(aat_buf *b, const char *s)
{
    aat_buf_json(b, s, strlen(s));
}

static void put_json_num(aat_buf *b, double v)
{
    if (isnan(v)) {
        aat_buf_appendf(b, "\"NaN\"");
    } else if (isinf(v)) {
        aat_buf_appendf(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
    } else {
        aat_buf_appendf(b, "%.17g", v);
    }
}

static void put_json_sample(aat_buf *b, const aa_labels *ls, double v)
{
    size_t i;

    aat_buf_appendf(b, "{\"labels\": {");
    for (i = 0; i < ls->n; i++) {
        aat_buf_appendf(b, i > 0 ? ", " : "");
        put_json_str(b, ls->v[i].name);
        aat_buf_appendf(b, ": ");
        put_json_str(b, ls->v[i].value);
    }
    aat_buf_appendf(b, "}, \"value\": ");
    put_json_num(b, v);
    aat_buf_appendf(b, "}");
}

void promql_test_print_json(const evalcase *c, const aa_vector *got)
{
    aat_buf b;
    size_t i;

    aat_buf_init(&b, (size_t)16 << 20);
    aat_buf_appendf(&b, "{\"line\": %u, \"t_ms\": %lld, \"expr\": ", c->line,
                    (long long)c->t_ms);
    put_json_str(&b, c->expr);
    aat_buf_appendf(&b, ", \"kind\": \"%s\", \"q\": ", kind_names[c->k]);
    put_json_num(&b, c->q);
    aat_buf_appendf(&b, ", \"metric\": ");
    put_json_str(&b, c->metric);
    aat_buf_appendf(&b, ", \"window_ms\": %lld, \"by\": [",
                    (long long)c->window_ms);
    for (i = 0; i < c->nby; i++) {
        aat_buf_appendf(&b, i > 0 ? ", " : "");
        put_json_str(&b, c->by[i]);
    }
    aat_buf_appendf(&b, "], \"expected\": [");
    for (i = 0; i < c->nwant; i++) {
        aat_buf_appendf(&b, i > 0 ? ", " : "");
        put_json_sample(&b, &c->want[i].labels, c->want[i].v);
    }
    aat_buf_appendf(&b, "], \"got\": [");
    for (i = 0; got != NULL && i < got->n; i++) {
        aat_buf_appendf(&b, i > 0 ? ", " : "");
        put_json_sample(&b, &got->v[i].labels, got->v[i].value);
    }
    aat_buf_appendf(&b, "]}");
    if (!b.failed) {
        puts(b.data);
    }
    aat_buf_release(&b);
}

static void put_om_value(aat_buf *b, double v)
{
    if (isnan(v)) {
        aat_buf_appendf(b, "NaN");
    } else if (isinf(v)) {
        aat_buf_appendf(b, v > 0 ? "+Inf" : "-Inf");
    } else {
        aat_buf_appendf(b, "%.17g", v);
    }
}

/* The family a series is written under: M for M_bucket, else itself. */
static void om_family(const aa_tsdb *db, size_t id, char *out, size_t size)
{
    const char *name = aa_tsdb_name(db, id);

    if (!promql_test_family_of(name, out, size)) {
        snprintf(out, size, "%s", name);
    }
}

/* The series of family fam, each with all its points. */
static int print_family(const aa_tsdb *db, const char *fam, aat_buf *line)
{
    size_t n = aa_tsdb_nseries(db), id, i, k, cap = 0, np;
    aa_point *pts = NULL;
    char f[256];
    int rc = AA_OK;

    for (id = 0; rc == AA_OK && id < n; id++) {
        const aa_labels *ls = aa_tsdb_labels(db, id);

        om_family(db, id, f, sizeof(f));
        if (strcmp(f, fam) != 0) {
            continue;
        }
        rc = aa_tsdb_points(db, id, INT64_MIN, INT64_MAX, false, &pts, &cap,
                            &np);
        for (i = 0; rc == AA_OK && i < np; i++) {
            aat_buf_reset(line);
            aat_buf_appendf(line, "%s{", aa_tsdb_name(db, id));
            for (k = 0; k < ls->n; k++) {
                if (strcmp(ls->v[k].name, "__name__") == 0) {
                    continue;
                }
                aat_buf_appendf(line, "%s%s=\"",
                                line->data[line->len - 1] == '{' ? "" : ",",
                                ls->v[k].name);
                aat_buf_escape(line, ls->v[k].value, true);
                aat_buf_appendf(line, "\"");
            }
            aat_buf_appendf(line, "} ");
            put_om_value(line, pts[i].v);
            aat_buf_appendf(line, " %lld.%03lld",
                            (long long)(pts[i].t_ms / 1000),
                            (long long)(pts[i].t_ms % 1000));
            rc = line->failed ? AA_ENOMEM : AA_OK;
            if (rc == AA_OK) {
                puts(line->data);
            }
        }
    }
    free(pts);
    return rc;
}

/* One family after the other in
 * first-seen order: M_bucket series under "# TYPE M histogram", others
 * as their own unknown families; times in seconds. */
int promql_test_print_openmetrics(const aa_tsdb *db)
{
    size_t n = aa_tsdb_nseries(db), id, j;
    aat_buf line;
    char f[256], g[256];
    int rc = AA_OK;

    aat_buf_init(&line, (size_t)1 << 20);
    for (id = 0; rc == AA_OK && id < n; id++) {
        om_family(db, id, f, sizeof(f));
        for (j = 0; j < id; j++) {
            om_family(db, j, g, sizeof(g));
            if (strcmp(f, g) == 0) {
                break;
            }
        }
        if (j < id) {
            continue; /* written with its first series */
        }
        printf("# TYPE %s %s\n", f,
               strcmp(f, aa_tsdb_name(db, id)) != 0 ? "histogram" : "unknown");
        rc = print_family(db, f, &line);
    }
    printf("# EOF\n");
    aat_buf_release(&line);
    return rc;
}
