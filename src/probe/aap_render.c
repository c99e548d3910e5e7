/*
 * aap_render.c: what the exporter serves, rendered without the GIL and
 * without any lock a loop thread may hold: /metrics in the Prometheus
 * text format 0.0.4 and /debug/blocks as JSON.
 *
 * /metrics is one generic renderer over arenas (aap_stateview.c): this
 * process's, plus every other member's when the process belongs to a
 * group.  It knows nothing of loops or HTTP: the family table
 * (aap_families.h) says how each record renders.  Families come out in
 * table order, each with one HELP/TYPE and its samples together; every
 * series carries worker="<pid>" of the process it belongs to, and two
 * records of one process with the same labels (a kept series and the
 * live one that took its name) are summed into one series, so there are
 * never duplicates.  A dead process's gauges are dropped, its counters
 * and histograms kept.  Output is bounded (AAP_TEXT_MAX) and every label
 * value and JSON string goes through the text library's escapers, which
 * replace invalid UTF-8.
 */
#include "aap_int.h"
#include "aap_stateview.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VIEW_RECORDS_MAX 32768u /* records looked at per arena */
#define SERIES_MAX 4096u        /* series per family per arena */

typedef struct ref {
    uint32_t family;
    uint32_t view;
    size_t at;
} ref;

/* One series of the family being rendered, in one arena. */
typedef struct series {
    uint64_t hash;
    size_t slot;         /* its place in the hash table */
    size_t lab, lab_len; /* escaped labels in the label buffer */
    uint32_t ncells;
    uint64_t cells[AAP_CELLS_MAX];
} series;

typedef struct render_ctx {
    aat_buf *t;
    const aap_view *views;
    size_t nviews;
    uint64_t now;
    aap_vrec rec;
    aat_buf labels; /* escaped label text of this family's series */
    series *s;      /* grows up to SERIES_MAX */
    size_t ns, cap;
    uint32_t *slots; /* hash table of series indexes + 1 */
    size_t nslots;
} render_ctx;

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    }
    return h;
}

/* Escaped labels of r into c->labels; the "loop" label only when the
 * process runs several loops.  Returns the offset. */
static size_t labels_of(render_ctx *c, const aap_vrec *r, const aap_view *v)
{
    size_t start = c->labels.len, i = 0;
    int first = 1;

    while (i < r->label_len) {
        const char *nm = r->labels + i, *val = nm + strlen(nm) + 1;

        i = (size_t)(val - r->labels) + strlen(val) + 1;
        if (strcmp(nm, "loop") == 0 && v->nloops <= 1) {
            continue;
        }
        aat_buf_appendf(&c->labels, "%s%s=\"", first ? "" : ",", nm);
        aat_buf_escape(&c->labels, val, true);
        aat_buf_append(&c->labels, "\"", 1);
        first = 0;
    }
    aat_buf_append(&c->labels, "", 0);
    return start;
}

/* The series of this arena with these labels (merging), or NULL. */
static series *series_for(render_ctx *c, size_t lab, size_t len,
                          uint32_t ncells)
{
    const char *text = c->labels.data ? c->labels.data + lab : "";
    uint64_t h = hash_bytes(text, len);
    size_t k = (size_t)h & (c->nslots - 1);
    series *s;

    while (c->slots[k]) {
        s = &c->s[c->slots[k] - 1];
        if (s->hash == h && s->lab_len == len &&
            memcmp(c->labels.data + s->lab, text, len) == 0) {
            c->labels.len = lab; /* the copy is not needed */
            return s;
        }
        k = (k + 1) & (c->nslots - 1);
    }
    if (c->ns >= SERIES_MAX) {
        return NULL;
    }
    if (c->ns == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        series *p = realloc(c->s, cap * sizeof(*p));

        if (!p) {
            return NULL;
        }
        c->s = p;
        c->cap = cap;
    }
    s = &c->s[c->ns];
    memset(s, 0, offsetof(series, cells) + ncells * sizeof(uint64_t));
    s->hash = h;
    s->slot = k;
    s->lab = lab;
    s->lab_len = len;
    s->ncells = ncells;
    c->slots[k] = (uint32_t)++c->ns;
    return s;
}

static double value_of(const aap_family *f, const series *s, uint64_t now)
{
    switch (f->value) {
    case AAP_VAL_NS:
        return (double)s->cells[0] / 1e9;
    case AAP_VAL_INT:
        return (double)(int64_t)s->cells[0];
    case AAP_VAL_SINCE:
        if (s->cells[1] || !s->cells[0] || now <= s->cells[0]) {
            return 0.0;
        }
        return (double)(now - s->cells[0]) / 1e9;
    case AAP_VAL_ONE:
        return 1.0;
    default:
        return (double)s->cells[0];
    }
}

static void emit(render_ctx *c, const aap_family *f, const aap_view *v,
                 int *header)
{
    aat_buf lab;
    size_t i;

    aat_buf_init(&lab, AAP_TEXT_MAX);
    for (i = 0; i < c->ns; i++) {
        const series *s = &c->s[i];

        if (!*header) {
            aat_buf_appendf(c->t, "# HELP %s %s\n# TYPE %s %s\n", f->name,
                            f->help, f->name,
                            f->type == AAP_TYPE_COUNTER     ? "counter"
                            : f->type == AAP_TYPE_HISTOGRAM ? "histogram"
                                                            : "gauge");
            *header = 1;
        }
        aat_buf_reset(&lab);
        aat_buf_appendf(&lab, "worker=\"%lld\"%s", (long long)v->pid,
                        s->lab_len ? "," : "");
        aat_buf_append(&lab, c->labels.data + s->lab, s->lab_len);
        if (lab.failed) {
            c->t->failed = 1;
            break;
        }
        if (f->value == AAP_VAL_HIST) {
            aap_hist_render(c->t, f->name, lab.data, aap_layout_get(f->layout),
                            s->cells);
        } else {
            aat_buf_appendf(c->t, "%s{%s} %.15g\n", f->name, lab.data,
                            value_of(f, s, c->now));
        }
    }
    aat_buf_release(&lab);
}

/* Render family f from refs[0..n) (all of family f by their hint, in
 * arena order). */
static void render_family(render_ctx *c, uint32_t f, const ref *refs, size_t n)
{
    const aap_family *fam = aap_family_get(f);
    int header = 0;
    size_t i = 0, j;

    while (i < n) {
        const aap_view *v = &c->views[refs[i].view];

        for (j = 0; j < c->ns; j++) {
            c->slots[c->s[j].slot] = 0; /* only the slots used */
        }
        c->ns = 0;
        aat_buf_reset(&c->labels);
        for (; i < n && &c->views[refs[i].view] == v; i++) {
            series *s;
            size_t lab;

            if (!aap_view_read(v, refs[i].at, &c->rec) || c->rec.family != f ||
                (!v->alive && fam->drop_dead)) {
                continue;
            }
            lab = labels_of(c, &c->rec, v);
            if (c->labels.failed) {
                c->t->failed = 1;
                return;
            }
            s = series_for(c, lab, c->labels.len - lab, c->rec.ncells);
            if (!s) {
                continue;
            }
            for (j = 0; j < c->rec.ncells && j < s->ncells; j++) {
                s->cells[j] += c->rec.cells[j];
            }
        }
        emit(c, fam, v, &header);
    }
}

int aap_render_views(aat_buf *t, const aap_view *views, size_t nviews,
                     uint64_t now)
{
    render_ctx c;
    ref *refs = NULL, *sorted = NULL;
    size_t nrefs = 0, cap = 0, v, i, count[AAP_F_N + 1];
    uint32_t f;
    int rc = 0;

    memset(&c, 0, sizeof(c));
    c.t = t;
    c.views = views;
    c.nviews = nviews;
    c.now = now;
    aat_buf_init(&c.labels, AAP_TEXT_MAX);
    c.nslots = 2 * SERIES_MAX;
    c.slots = calloc(c.nslots, sizeof(*c.slots));
    if (!c.slots) {
        rc = AAP_ENOMEM;
        goto out;
    }
    for (v = 0; v < nviews; v++) {
        size_t off = AAP_ARENA_HDR, at, k = 0;

        while (k++ < VIEW_RECORDS_MAX &&
               aap_view_next(&views[v], &off, &at, &f)) {
            if (f >= AAP_F_N) {
                continue;
            }
            if (nrefs == cap) {
                ref *p;

                cap = cap ? cap * 2 : 256;
                p = realloc(refs, cap * sizeof(*refs));
                if (!p) {
                    rc = AAP_ENOMEM;
                    goto out;
                }
                refs = p;
            }
            refs[nrefs].family = f;
            refs[nrefs].view = (uint32_t)v;
            refs[nrefs].at = at;
            nrefs++;
        }
    }
    /* stable counting sort by family: arenas and records keep order */
    sorted = malloc((nrefs ? nrefs : 1) * sizeof(*sorted));
    if (!sorted) {
        rc = AAP_ENOMEM;
        goto out;
    }
    memset(count, 0, sizeof(count));
    for (i = 0; i < nrefs; i++) {
        count[refs[i].family + 1]++;
    }
    for (f = 0; f < AAP_F_N; f++) {
        count[f + 1] += count[f];
    }
    for (i = 0; i < nrefs; i++) {
        sorted[count[refs[i].family]++] = refs[i];
    }
    for (f = 0, i = 0; f < AAP_F_N; f++) {
        size_t n = 0;

        while (i + n < nrefs && sorted[i + n].family == f) {
            n++;
        }
        render_family(&c, f, sorted + i, n);
        i += n;
    }
    if (t->failed) {
        rc = AAP_ETOOBIG;
    }
out:
    free(refs);
    free(sorted);
    free(c.s);
    free(c.slots);
    aat_buf_release(&c.labels);
    return rc;
}

static int by_pid(const void *a, const void *b)
{
    const aap_view *x = a, *y = b;

    return (x->pid > y->pid) - (x->pid < y->pid);
}

int aap_render_metrics(aat_buf *t)
{
    const aap_arena_hdr *own;
    aap_member *m = NULL;
    aap_view *views = NULL;
    size_t len, nm = 0, skipped = 0, nv = 0, i;
    uint64_t dev, ino;
    int gfd, rc;

    rc = aap_state_ensure();
    if (rc < 0) {
        return rc;
    }
    own = aap_state_arena(&len);
    gfd = aap_state_group_dup();
    views = calloc(AAP_GROUP_MAX_FILES + 1, sizeof(*views));
    if (!views) {
        rc = AAP_ENOMEM;
        goto out;
    }
    if (own && aap_view_init(&views[nv], own, len, 1) == 0) {
        nv++;
    }
    if (gfd >= 0) {
        m = calloc(AAP_GROUP_MAX_FILES, sizeof(*m));
        if (!m) {
            rc = AAP_ENOMEM;
            goto out;
        }
        aap_state_file_id(&dev, &ino);
        rc = aap_group_collect(gfd, dev, ino, m, AAP_GROUP_MAX_FILES, &nm,
                               &skipped);
        for (i = 0; rc == 0 && i < nm; i++) {
            if (aap_view_init(&views[nv], m[i].base, m[i].len, m[i].alive) ==
                0) {
                nv++;
            } else {
                skipped++;
            }
        }
    }
    qsort(views, nv, sizeof(*views), by_pid);
    if (rc == 0) {
        rc = aap_render_views(t, views, nv, aap_now_ns());
    }
    if (rc == 0 && gfd >= 0) {
        aat_buf_appendf(t,
                        "# HELP python_asyncio_probe_group_skipped_files "
                        "Files in the group directory that are not arenas "
                        "of this probe's layout.\n"
                        "# TYPE python_asyncio_probe_group_skipped_files "
                        "gauge\npython_asyncio_probe_group_skipped_files "
                        "%zu\n",
                        skipped);
        if (t->failed) {
            rc = AAP_ETOOBIG;
        }
    }
out:
    aap_group_release(m, nm);
    free(m);
    free(views);
    if (gfd >= 0) {
        close(gfd);
    }
    return rc;
}

/* ---- /debug/blocks ------------------------------------------------------ */

/* frames "a\nb\nc" as a JSON array of strings */
static void stack_json(aat_buf *t, const char *stack)
{
    const char *p = stack;
    int first = 1;

    aat_buf_append(t, "[", 1);
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);

        if (!first) {
            aat_buf_append(t, ",", 1);
        }
        first = 0;
        aat_buf_json(t, p, n);
        p = nl ? nl + 1 : NULL;
    }
    aat_buf_append(t, "]", 1);
}

/* ,"key":"text", or null when text is empty */
static void text_or_null(aat_buf *t, const char *key, const char *text)
{
    aat_buf_appendf(t, ",\"%s\":", key);
    if (text[0]) {
        aat_buf_json(t, text, strlen(text));
    } else {
        aat_buf_append(t, "null", 4);
    }
}

static void episode_json(aat_buf *t, const aap_loop *L,
                         const aap_episode_info *e, int first)
{
    aat_buf_append(t, first ? "{" : ",{", first ? 1 : 2);
    aat_buf_appendf(t, "\"worker\":%ld,\"loop\":", (long)getpid());
    aat_buf_json(t, L->name, strlen(L->name));
    aat_buf_appendf(t, ",\"start\":%.17g,\"duration\":%.17g,\"ongoing\":%s",
                    e->start, e->duration, e->ongoing ? "true" : "false");
    aat_buf_append(t, ",\"site\":", 8);
    aat_buf_json(t, e->site, strlen(e->site));
    aat_buf_append(t, ",\"stack\":", 9);
    stack_json(t, e->stack);
    text_or_null(t, "kind", aap_episode_kind_name(e->kind));
    text_or_null(t, "chain", e->chain);
    text_or_null(t, "class", aap_class_name(e->cls));
    text_or_null(t, "hint", aap_class_hint(e->cls));
    text_or_null(t, "thread", e->thread);
    if (e->thread_id > 0) {
        aat_buf_appendf(t, ",\"thread_id\":%ld", e->thread_id);
    } else {
        aat_buf_appendf(t, ",\"thread_id\":null");
    }
    aat_buf_appendf(t, ",\"threshold\":%.17g,\"detected_after\":",
                    (double)L->threshold_ns / 1e9);
    if (e->detected_after < 0) {
        aat_buf_append(t, "null}", 5);
    } else {
        aat_buf_appendf(t, "%.17g}", e->detected_after);
    }
}

int aap_render_blocks(aat_buf *t)
{
    aap_loop *L;
    int rc = 0, first = 1;

    aat_buf_append(t, "{\"blocks\":[", 11);
    pthread_mutex_lock(&aap_reg_lock);
    for (L = aap_reg_head; L && rc == 0; L = L->next) {
        aap_episode_info *v;
        size_t n, i;

        rc = aap_loop_blocks(L, &v, &n);
        for (i = 0; rc == 0 && i < n; i++) {
            episode_json(t, L, &v[i], first);
            first = 0;
        }
        aap_episodes_free(v, rc == 0 ? n : 0);
    }
    pthread_mutex_unlock(&aap_reg_lock);
    aat_buf_append(t, "]}\n", 3);
    if (rc == 0 && t->failed) {
        rc = AAP_ETOOBIG;
    }
    return rc;
}
