/*
 * fuzz_expo.c: libFuzzer target for the exposition parser (what scrape
 * mode reads from any /metrics endpoint and --samples from any file), the
 * series store and the evaluator fed by it.  The first byte picks the
 * format.  Properties:
 * - a rejected input has a diag whose line is within the input and whose
 *   message starts with "line N";
 * - an accepted input, written back in 0.0.4 text with the escaping of
 *   aa_expo_escape, parses again and writes back to the same text (no
 *   value or label is lost or changed by escaping);
 * - the parsed samples can be stored and evaluated without a crash.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/eval.h"
#include "aa/expo.h"
#include "aa/tsdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ctx {
    aat_buf out;
    aa_tsdb *db; /* NULL on the second pass */
    char first[256];
} ctx;

static int put_value(aat_buf *b, double v)
{
    if (isnan(v)) {
        return aat_buf_append(b, "NaN", 3);
    }
    if (isinf(v)) {
        return aat_buf_append(b, v > 0 ? "+Inf" : "-Inf", 4);
    }
    return aat_buf_appendf(b, "%.17g", v);
}

static int on_sample(void *p, const aa_expo_sample *s)
{
    ctx *c = p;
    size_t i;
    int rc = aat_buf_appendf(&c->out, "%s{", s->name);

    for (i = 0; rc == AA_OK && i < s->nlabels; i++) {
        rc = aat_buf_appendf(&c->out, "%s=\"", s->labels[i].name);
        if (rc == AA_OK) {
            rc = aat_buf_escape(&c->out, s->labels[i].value, true);
        }
        if (rc == AA_OK) {
            rc = aat_buf_append(&c->out, "\",", 2);
        }
    }
    if (rc == AA_OK) {
        rc = aat_buf_append(&c->out, "} ", 2);
    }
    if (rc == AA_OK) {
        rc = put_value(&c->out, s->value);
    }
    if (rc == AA_OK && s->has_timestamp) {
        rc = aat_buf_appendf(&c->out, " %lld", (long long)s->t_ms);
    }
    if (rc == AA_OK) {
        rc = aat_buf_append(&c->out, "\n", 1);
    }
    if (rc == AA_OK && c->db != NULL) {
        aa_labels ls = {NULL, 0};
        size_t id;

        rc = aa_labels_add(&ls, "__name__", s->name);
        for (i = 0; rc == AA_OK && i < s->nlabels; i++) {
            rc = aa_labels_add(&ls, s->labels[i].name, s->labels[i].value);
        }
        if (rc == AA_OK) {
            rc = aa_tsdb_series(c->db, &ls, s->family, &id);
        }
        if (rc == AA_OK) {
            (void)aa_tsdb_append(c->db, id, s->has_timestamp ? s->t_ms : 1000,
                                 s->value);
            if (c->first[0] == '\0') {
                snprintf(c->first, sizeof(c->first), "%s", s->name);
            }
        }
        aa_labels_clear(&ls);
    }
    return rc;
}

static int on_meta(void *p, const aa_expo_meta *m)
{
    ctx *c = p;

    if (c->db != NULL && m->help == NULL && m->unit == NULL) {
        return aa_tsdb_set_type(c->db, m->family, m->type);
    }
    return AA_OK;
}

static void evaluate(aa_tsdb *db, char *metric)
{
    static const aa_stat stats[] = {AA_STAT_QUANTILE, AA_STAT_RATE,
                                    AA_STAT_MAX, AA_STAT_SLOPE, AA_STAT_AVG};
    static const aa_metric_type types[] = {AA_TYPE_HISTOGRAM, AA_TYPE_COUNTER,
                                           AA_TYPE_GAUGE, AA_TYPE_GAUGE,
                                           AA_TYPE_HISTOGRAM};
    char *by[] = {"le", "instance"};
    size_t i;

    for (i = 0; i < sizeof(stats) / sizeof(stats[0]); i++) {
        aa_rule r;
        aa_vector v = {NULL, 0};

        memset(&r, 0, sizeof(r));
        r.id = "fuzz";
        r.metric = metric;
        r.stat = stats[i];
        r.type = types[i];
        r.quantile = 0.9;
        r.by = by + (i % 2);
        r.nby = 1;
        (void)aa_eval_instant(db, &r, NULL, 2000, 5000, &v, NULL);
        aa_vector_clear(&v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aa_expo_handler h;
    aa_expo_format fmt;
    aa_diag d;
    ctx c, c2;
    aa_expo_limits lim = {4096, 10000, 32};
    int rc;

    if (size < 1) {
        return 0;
    }
    fmt = (data[0] & 1) ? AA_EXPO_OPENMETRICS : AA_EXPO_TEXT;
    data++;
    size--;
    memset(&c, 0, sizeof(c));
    aat_buf_init(&c.out, (size_t)64 << 20);
    if (aa_tsdb_new(&c.db) != AA_OK) {
        return 0;
    }
    h.sample = on_sample;
    h.meta = on_meta;
    h.ctx = &c;
    rc = aa_expo_parse((const char *)data, size, fmt, &lim, &h, &d);
    if (rc == AA_ESYNTAX || rc == AA_ETOOBIG) {
        size_t lines = 1, i;
        char prefix[32];

        for (i = 0; i < size; i++) {
            lines += data[i] == '\n';
        }
        snprintf(prefix, sizeof(prefix), "line %u", d.line);
        if (d.line == 0 || d.line > lines + 1 ||
            strncmp(d.message, prefix, strlen(prefix)) != 0) {
            abort();
        }
    } else if (rc == AA_OK) {
        /* Round trip through 0.0.4 text. */
        memset(&c2, 0, sizeof(c2));
        aat_buf_init(&c2.out, (size_t)64 << 20);
        h.ctx = &c2;
        rc = aa_expo_parse(c.out.data != NULL ? c.out.data : "", c.out.len,
                           AA_EXPO_TEXT, NULL, &h, &d);
        if (rc != AA_OK || c2.out.len != c.out.len ||
            (c.out.len > 0 && memcmp(c2.out.data, c.out.data, c.out.len))) {
            abort();
        }
        aat_buf_release(&c2.out);
        if (c.first[0] != '\0') {
            evaluate(c.db, c.first);
        }
    }
    aat_buf_release(&c.out);
    aa_tsdb_free(c.db);
    return 0;
}
