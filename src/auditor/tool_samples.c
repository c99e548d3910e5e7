/*
 * tool_samples.c: --save-samples and --samples.  A scrape-mode run can
 * be kept as an OpenMetrics file, judged again later with other rules
 * (replay), and loaded into a real Prometheus with promtool to check that
 * the local evaluation gives the engine's answers.
 */
#include "tool_samples.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_file.h"

/* Whether name is among the sample's labels, extra, or v[0..n). */
static bool label_taken(const char *name, const aa_expo_sample *s,
                        const aa_label *extra, size_t nextra,
                        const aa_label *v, size_t n)
{
    size_t i;

    for (i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, name) == 0) {
            return true;
        }
    }
    for (i = 0; i < nextra; i++) {
        if (strcmp(extra[i].name, name) == 0) {
            return true;
        }
    }
    for (i = 0; i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* "exported_" prefixed to name until no label has it (scrape.go,
 * resolveConflictingExposedLabels).  NULL on OOM. */
static char *exported_name(const char *name, const aa_expo_sample *s,
                           const aa_label *extra, size_t nextra,
                           const aa_label *v, size_t n)
{
    static const char prefix[] = "exported_";
    size_t len = strlen(name), k;
    char *out = NULL;

    for (k = 1;; k++) {
        char *grown = realloc(out, k * (sizeof(prefix) - 1) + len + 1);
        size_t i;

        if (grown == NULL) {
            free(out);
            return NULL;
        }
        out = grown;
        for (i = 0; i < k; i++) {
            memcpy(out + i * (sizeof(prefix) - 1), prefix, sizeof(prefix) - 1);
        }
        memcpy(out + k * (sizeof(prefix) - 1), name, len + 1);
        if (!label_taken(out, s, extra, nextra, v, n)) {
            return out;
        }
    }
}

static int label_cmp(const void *pa, const void *pb)
{
    const aa_label *a = pa, *b = pb;

    return strcmp(a->name, b->name);
}

/*
 * The label set is a sorted view borrowing the parser's strings (the
 * store copies what it keeps), so a sample of a known series costs no
 * allocation here; only a renamed label is allocated.
 */
int tool_samples_add(aa_tsdb *db, const aa_expo_sample *s,
                     const aa_label *extra, size_t nextra, size_t *id)
{
    aa_label stack[32], *v = stack;
    char *renamed[8];
    size_t n = 0, nren = 0, i, j, max = s->nlabels + nextra + 1;
    aa_labels ls;
    int rc = AA_OK;

    assert(nextra <= sizeof(renamed) / sizeof(renamed[0]));
    if (max > sizeof(stack) / sizeof(stack[0])) {
        v = malloc(max * sizeof(*v));
        if (v == NULL) {
            return AA_ENOMEM;
        }
    }
    v[n].name = (char *)"__name__";
    v[n++].value = (char *)s->name;
    for (i = 0; i < s->nlabels; i++) {
        const char *name = s->labels[i].name;

        /* An empty label value is the same as no label in Prometheus. */
        if (s->labels[i].value[0] == '\0') {
            continue;
        }
        for (j = 0; j < nextra; j++) {
            if (strcmp(name, extra[j].name) == 0) {
                break;
            }
        }
        if (j < nextra) {
            renamed[nren] = exported_name(name, s, extra, nextra, v, n);
            if (renamed[nren] == NULL) {
                rc = AA_ENOMEM;
                goto out;
            }
            name = renamed[nren++];
        }
        v[n].name = (char *)name;
        v[n++].value = (char *)s->labels[i].value;
    }
    for (j = 0; j < nextra; j++) {
        v[n].name = extra[j].name;
        v[n++].value = extra[j].value;
    }
    qsort(v, n, sizeof(*v), label_cmp);
    ls.v = v;
    ls.n = n;
    rc = aa_tsdb_series(db, &ls, s->family, id);
out:
    for (i = 0; i < nren; i++) {
        free(renamed[i]);
    }
    if (v != stack) {
        free(v);
    }
    return rc;
}

/* ---- loading -------------------------------------------------------------
 */

typedef struct loader {
    aa_tsdb *db;
    aa_diag *diag;
    const char *path;
} loader;

int tool_samples_meta(aa_tsdb *db, const aa_expo_meta *m)
{
    if (m->help != NULL || m->unit != NULL) {
        return AA_OK;
    }
    return aa_tsdb_set_type(db, m->family, m->type);
}

static int load_meta(void *ctx, const aa_expo_meta *m)
{
    loader *ld = ctx;

    return tool_samples_meta(ld->db, m);
}

static int load_sample(void *ctx, const aa_expo_sample *s)
{
    loader *ld = ctx;
    size_t id;
    int rc;

    if (!s->has_timestamp) {
        aa_diag_set(ld->diag, ld->path, s->line, 0,
                    "line %u: sample of %s has no timestamp (a recording "
                    "needs one on every sample)",
                    s->line, s->name);
        return AA_ESYNTAX;
    }
    rc = tool_samples_add(ld->db, s, NULL, 0, &id);
    if (rc == AA_OK) {
        rc = aa_tsdb_append(ld->db, id, s->t_ms, s->value);
        if (rc == AA_EINVAL || rc == AA_TSDB_DUPLICATE) {
            aa_diag_set(ld->diag, ld->path, s->line, 0,
                        "line %u: sample of %s is not newer than the "
                        "series' previous one (samples of a series must "
                        "be in increasing time)",
                        s->line, s->name);
            rc = AA_ESYNTAX;
        }
    }
    return rc;
}

int tool_samples_load(const char *path, aa_tsdb *db, aa_diag *diag)
{
    char *data = NULL;
    size_t len = 0;
    loader ld = {db, diag, path};
    aa_expo_handler h = {load_sample, load_meta, &ld};
    aa_expo_limits lim = {1024 * 1024, (size_t)1 << 31, 128};
    int rc;

    aa_diag_clear(diag);
    rc = aa_file_read(path, "recording", TOOL_SAMPLES_MAX_FILE, 0, &data, &len,
                      diag);
    if (rc != AA_OK) {
        goto out;
    }
    /* A 0.0.4 file with ms timestamps is accepted too. */
    rc = aa_expo_parse(data, len, aa_expo_format_sniff(data, len), &lim, &h,
                       diag);
    if (rc != AA_OK && diag != NULL) {
        char msg[sizeof(diag->message)];

        snprintf(msg, sizeof(msg), "%s", diag->message);
        snprintf(diag->file, sizeof(diag->file), "%s", path);
        snprintf(diag->message, sizeof(diag->message), "%s", msg);
    }
out:
    free(data);
    return rc;
}

/* ---- saving --------------------------------------------------------------
 */

typedef struct outseries {
    size_t id;
    const char *family; /* as written: its first famlen bytes */
    size_t famlen;
    aa_expo_type type; /* as written */
} outseries;

static int family_cmp(const outseries *a, const outseries *b)
{
    int c = memcmp(a->family, b->family,
                   a->famlen < b->famlen ? a->famlen : b->famlen);

    if (c != 0) {
        return c;
    }
    return a->famlen < b->famlen ? -1 : a->famlen > b->famlen;
}

static int outseries_cmp(const void *pa, const void *pb)
{
    const outseries *a = pa, *b = pb;
    int c = family_cmp(a, b);

    if (c != 0) {
        return c;
    }
    return a->id < b->id ? -1 : a->id > b->id;
}

static bool has_suffix(const char *name, const char *fam, const char *suf)
{
    size_t n = strlen(fam);

    return strncmp(name, fam, n) == 0 && strcmp(name + n, suf) == 0;
}

/*
 * The family and type a series is written under.  OpenMetrics is strict
 * about sample names (a counter's must end in _total, a histogram's in
 * _bucket/_sum/_count/_created); a series that does not fit its recorded
 * family is written as its own "unknown" family, which keeps every value.
 */
static void out_family(const aa_tsdb *db, size_t id, outseries *o)
{
    const char *name = aa_tsdb_name(db, id);
    const char *fam = aa_tsdb_family(db, id);
    aa_expo_type t = aa_tsdb_family_type(db, fam);
    size_t n = strlen(name);

    o->id = id;
    o->family = name;
    o->famlen = n;
    o->type = AA_EXPO_UNTYPED;
    switch (t) {
    case AA_EXPO_COUNTER:
        if (n > 6 && strcmp(name + n - 6, "_total") == 0) {
            o->famlen = n - 6;
            o->type = t;
        }
        break;
    case AA_EXPO_GAUGE:
        if (strcmp(name, fam) == 0) {
            o->type = t;
        }
        break;
    case AA_EXPO_HISTOGRAM:
        if (has_suffix(name, fam, "_bucket") ||
            has_suffix(name, fam, "_sum") || has_suffix(name, fam, "_count")) {
            o->famlen = strlen(fam);
            o->type = t;
        }
        break;
    case AA_EXPO_SUMMARY:
        if (strcmp(name, fam) == 0 || has_suffix(name, fam, "_sum") ||
            has_suffix(name, fam, "_count")) {
            o->famlen = strlen(fam);
            o->type = t;
        }
        break;
    default:
        break;
    }
}

/*
 * An OpenMetrics timestamp for t_ms: seconds with three decimals.
 * Prometheus and aa_expo_parse read it as int64(float * 1000), which
 * truncates toward zero; when the nearest double of "S.mmm" times 1000
 * falls just short of the integer, a trailing "05" (50 microseconds)
 * keeps the reading on t_ms.
 */
static void fmt_ts(int64_t t_ms, char *buf, size_t size)
{
    int64_t s = t_ms / 1000, ms = t_ms % 1000;
    const char *sign = "";

    if (t_ms < 0) {
        sign = "-";
        s = -(t_ms / 1000);
        ms = -(t_ms % 1000);
    }
    snprintf(buf, size, "%s%" PRId64 ".%03" PRId64, sign, s, ms);
    if ((int64_t)(strtod(buf, NULL) * 1000.0) != t_ms) {
        snprintf(buf, size, "%s%" PRId64 ".%03" PRId64 "05", sign, s, ms);
    }
}

static int fmt_value(aat_buf *b, double v)
{
    if (isnan(v)) {
        return aat_buf_append(b, "NaN", 3);
    }
    if (isinf(v)) {
        return aat_buf_append(b, v > 0 ? "+Inf" : "-Inf", 4);
    }
    return aat_buf_appendf(b, "%.17g", v);
}

static int write_series(FILE *f, const aa_tsdb *db, size_t id, aat_buf *line,
                        aa_point **pts, size_t *cap)
{
    const aa_labels *ls = aa_tsdb_labels(db, id);
    size_t np, i, k, head;
    int rc;

    aat_buf_reset(line);
    rc = aat_buf_appendf(line, "%s", aa_tsdb_name(db, id));
    for (i = 0, k = 0; rc == AA_OK && i < ls->n; i++) {
        if (strcmp(ls->v[i].name, "__name__") == 0) {
            continue;
        }
        rc = aat_buf_appendf(line, "%s%s=\"", k++ == 0 ? "{" : ",",
                             ls->v[i].name);
        if (rc == AA_OK) {
            rc = aat_buf_escape(line, ls->v[i].value, true);
        }
        if (rc == AA_OK) {
            rc = aat_buf_append(line, "\"", 1);
        }
    }
    if (rc == AA_OK && k > 0) {
        rc = aat_buf_append(line, "}", 1);
    }
    if (rc == AA_OK) {
        rc = aat_buf_append(line, " ", 1);
    }
    if (rc == AA_OK) {
        rc =
            aa_tsdb_points(db, id, INT64_MIN, INT64_MAX, false, pts, cap, &np);
    }
    if (rc != AA_OK) {
        return rc;
    }
    head = line->len;
    for (i = 0; i < np; i++) {
        char ts[48];

        line->len = head;
        line->data[head] = '\0';
        fmt_ts((*pts)[i].t_ms, ts, sizeof(ts));
        rc = fmt_value(line, (*pts)[i].v);
        if (rc == AA_OK) {
            rc = aat_buf_appendf(line, " %s\n", ts);
        }
        if (rc != AA_OK) {
            return rc;
        }
        if (fwrite(line->data, 1, line->len, f) != line->len) {
            return AA_EIO;
        }
    }
    return AA_OK;
}

/* The recording being written, for tool_file_write. */
typedef struct saver {
    const aa_tsdb *db;
    outseries *os; /* sorted by family */
    size_t n;
    int rc; /* why write_recording failed when not a write error */
} saver;

static int write_recording(void *ctx, FILE *f)
{
    saver *sv = ctx;
    const outseries *last = NULL;
    aa_point *pts = NULL;
    size_t cap = 0, i;
    aat_buf line;
    int rc = AA_OK;

    aat_buf_init(&line, (size_t)16 * 1024 * 1024);
    for (i = 0; i < sv->n && rc == AA_OK; i++) {
        const outseries *o = &sv->os[i];

        if (last == NULL || family_cmp(last, o) != 0) {
            const char *tn = o->type == AA_EXPO_UNTYPED
                                 ? "unknown"
                                 : aa_expo_type_name(o->type);

            if (fprintf(f, "# TYPE %.*s %s\n", (int)o->famlen, o->family, tn) <
                0) {
                rc = AA_EIO;
                break;
            }
            last = o;
        }
        rc = write_series(f, sv->db, o->id, &line, &pts, &cap);
    }
    if (rc == AA_OK && fputs("# EOF\n", f) == EOF) {
        rc = AA_EIO;
    }
    aat_buf_release(&line);
    free(pts);
    sv->rc = rc;
    return rc;
}

int tool_samples_save(const char *path, const aa_tsdb *db, aa_diag *diag)
{
    saver sv;
    size_t i;
    int err = 0, rc = AA_OK;

    aa_diag_clear(diag);
    memset(&sv, 0, sizeof(sv));
    sv.db = db;
    sv.n = aa_tsdb_nseries(db);
    sv.os = calloc(sv.n + 1, sizeof(*sv.os));
    if (sv.os == NULL) {
        rc = AA_ENOMEM;
        goto out;
    }
    for (i = 0; i < sv.n; i++) {
        out_family(db, i, &sv.os[i]);
    }
    qsort(sv.os, sv.n, sizeof(*sv.os), outseries_cmp);
    if (tool_file_write(path, write_recording, &sv, &err) != 0) {
        /* a failure of our own (out of memory), else the write's errno */
        rc = sv.rc != AA_OK && sv.rc != AA_EIO ? sv.rc : AA_EIO;
    }
out:
    if (rc != AA_OK) {
        aa_diag_set(diag, path, 0, 0, "cannot write: %s",
                    rc == AA_EIO ? strerror(err) : aa_strerror(rc));
    }
    free(sv.os);
    return rc;
}
