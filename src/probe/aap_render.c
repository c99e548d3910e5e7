/*
 * aap_render.c: what the exporter serves, rendered from C state only (no
 * GIL, no Python objects): /metrics in the Prometheus text format 0.0.4
 * and /debug/blocks as JSON.  Output is bounded (AAP_TEXT_MAX) and every
 * name that came from the interpreter (thread names, sites, stacks) goes
 * through the text library's escapers, which replace invalid UTF-8, so a
 * module imported from a Latin-1 directory cannot break a scrape.
 */
#include "aap_int.h"

#include <stdio.h>
#include <string.h>

/* ---- rendering ------------------------------------------------------ */

/* Labels of L: 'loop="name"' when several loops are registered. */
static void loop_labels(aat_buf *t, const aap_loop *L, const char *extra)
{
    int failed = t->failed;

    aat_buf_reset(t);
    t->failed = failed; /* the caller checks once, at the end */
    aat_buf_append(t, "", 0);
    if (aap_reg_n > 1) {
        aat_buf_append(t, "loop=\"", 6);
        aat_buf_escape(t, L->name, true);
        aat_buf_append(t, "\"", 1);
    }
    if (extra && extra[0]) {
        if (aap_reg_n > 1) {
            aat_buf_append(t, ",", 1);
        }
        aat_buf_append(t, extra, strlen(extra));
    }
}

static void family(aat_buf *t, const char *name, const char *type,
                   const char *help)
{
    aat_buf_appendf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(aat_buf *t, const char *name, const aat_buf *lab, double v)
{
    if (lab->len) {
        aat_buf_appendf(t, "%s{%s} %.15g\n", name, lab->data, v);
    } else {
        aat_buf_appendf(t, "%s %.15g\n", name, v);
    }
}

typedef enum {
    F_LAG,
    F_BUSY,
    F_ITER,
    F_BLOCK,
    F_CUR,
    F_SITE,
    F_READY,
    F_TASKS,
    F_CREATED,
    F_INFO
} loop_family;

typedef struct {
    const char *name, *type, *help;
} family_desc;

static const family_desc loop_families[] = {
    {"python_asyncio_loop_lag_seconds", "histogram",
     "How late the probe's periodic loop timer ran."},
    {"python_asyncio_loop_busy_seconds_total", "counter",
     "Time the loop spent running callbacks rather than waiting for I/O."},
    {"python_asyncio_loop_iterations_total", "counter", "Loop iterations."},
    {"python_asyncio_loop_block_duration_seconds", "histogram",
     "Blocking episodes: busy stretches longer than the block threshold."},
    {"python_asyncio_loop_current_block_seconds", "gauge",
     "How long the loop has been busy without waiting for I/O right now."},
    {"python_asyncio_block_site_seconds_total", "counter",
     "Blocked time attributed to the innermost Python frame's site."},
    {"python_asyncio_loop_ready_callbacks", "gauge",
     "Callbacks ready to run and waiting their turn."},
    {"python_asyncio_tasks", "gauge", "Tasks alive on the loop."},
    {"python_asyncio_tasks_created_total", "counter",
     "Tasks created on the loop."},
    {"python_asyncio_probe_info", "gauge", "Probe build information."},
};

static const family_desc exec_families[] = {
    {"python_asyncio_executor_pending", "gauge",
     "Work submitted to a thread pool and not yet started."},
    {"python_asyncio_executor_busy_workers", "gauge",
     "Worker threads (or limiter tokens) in use."},
    {"python_asyncio_executor_max_workers", "gauge", "Capacity of the pool."},
    {"python_asyncio_executor_wait_seconds", "histogram",
     "Time from submission to the start of the work."},
    {"python_asyncio_executor_run_seconds", "histogram", "Time the work ran."},
};

static const char *exec_names[AAP_EXEC_N] = {"default", "anyio"};

static void render_loop_family(aat_buf *t, aat_buf *lab, int f, uint64_t now)
{
    aap_loop *L;

    family(t, loop_families[f].name, loop_families[f].type,
           loop_families[f].help);
    for (L = aap_reg_head; L; L = L->next) {
        const char *name = loop_families[f].name;

        if (f == F_SITE) {
            aap_site_value sv[AAP_SITES_MAX + 1];
            size_t n, i;

            aap_loop_sites(L, sv, AAP_SITES_MAX + 1, &n);
            for (i = 0; i < n; i++) {
                aat_buf ex;

                aat_buf_init(&ex, AAP_TEXT_MAX);
                aat_buf_append(&ex, "site=\"", 6);
                aat_buf_escape(&ex, sv[i].site, true);
                aat_buf_append(&ex, "\"", 1);
                loop_labels(lab, L, ex.data);
                sample(t, name, lab, sv[i].seconds);
                aat_buf_release(&ex);
            }
            continue;
        }
        if (f == F_INFO) {
            aat_buf ex;

            aat_buf_init(&ex, AAP_TEXT_MAX);
            aat_buf_append(&ex, "version=\"", 9);
            aat_buf_escape(&ex, L->version, true);
            aat_buf_append(&ex, "\",loop_implementation=\"", 23);
            aat_buf_escape(&ex, L->impl, true);
            aat_buf_append(&ex, "\"", 1);
            loop_labels(lab, L, ex.data);
            sample(t, name, lab, 1);
            aat_buf_release(&ex);
            continue;
        }
        if (L->mode == AAP_MODE_HEARTBEAT &&
            (f == F_BUSY || f == F_ITER || f == F_READY)) {
            continue; /* not observable without the selector wrapper */
        }
        loop_labels(lab, L, NULL);
        switch (f) {
        case F_LAG:
            aap_hist_render(t, name, lab->data, &L->lag);
            break;
        case F_BLOCK:
            aap_hist_render(t, name, lab->data, &L->block);
            break;
        case F_BUSY:
            sample(t, name, lab, (double)atomic_load(&L->busy_ns) / 1e9);
            break;
        case F_ITER:
            sample(t, name, lab, (double)atomic_load(&L->iterations));
            break;
        case F_CUR:
            sample(t, name, lab, aap_loop_current_block(L, now));
            break;
        case F_READY:
            sample(t, name, lab, (double)atomic_load(&L->ready));
            break;
        case F_TASKS:
            sample(t, name, lab, (double)atomic_load(&L->tasks));
            break;
        case F_CREATED:
            sample(t, name, lab, (double)atomic_load(&L->tasks_created));
            break;
        default:
            break;
        }
    }
}

static void render_exec_family(aat_buf *t, aat_buf *lab, int f)
{
    aap_loop *L;
    int k;

    family(t, exec_families[f].name, exec_families[f].type,
           exec_families[f].help);
    for (L = aap_reg_head; L; L = L->next) {
        for (k = 0; k < AAP_EXEC_N; k++) {
            aap_exec_state *e = &L->exec[k];
            char ex[64];

            if (!atomic_load(&e->enabled)) {
                continue;
            }
            snprintf(ex, sizeof(ex), "executor=\"%s\"", exec_names[k]);
            loop_labels(lab, L, ex);
            switch (f) {
            case 0:
                sample(t, exec_families[f].name, lab,
                       (double)atomic_load(&e->pending));
                break;
            case 1:
                sample(t, exec_families[f].name, lab,
                       (double)atomic_load(&e->busy));
                break;
            case 2:
                sample(t, exec_families[f].name, lab,
                       (double)atomic_load(&e->max_workers));
                break;
            case 3:
                aap_hist_render(t, exec_families[f].name, lab->data, &e->wait);
                break;
            default:
                aap_hist_render(t, exec_families[f].name, lab->data, &e->run);
                break;
            }
        }
    }
}

int aap_render_metrics(aat_buf *t)
{
    aat_buf lab;
    uint64_t now = aap_now_ns();
    size_t f;

    aat_buf_init(&lab, AAP_TEXT_MAX);
    aat_buf_append(&lab, "", 0);
    pthread_mutex_lock(&aap_reg_lock);
    if (aap_reg_head) {
        for (f = 0; f < sizeof(loop_families) / sizeof(loop_families[0]);
             f++) {
            render_loop_family(t, &lab, (int)f, now);
        }
        for (f = 0; f < sizeof(exec_families) / sizeof(exec_families[0]);
             f++) {
            render_exec_family(t, &lab, (int)f);
        }
    }
    pthread_mutex_unlock(&aap_reg_lock);
    aap_http_render(t);
    if (lab.failed) {
        t->failed = 1;
    }
    aat_buf_release(&lab);
    return t->failed ? AAP_ETOOBIG : 0;
}

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

static void episode_json(aat_buf *t, const aap_loop *L,
                         const aap_episode_info *e, int first)
{
    aat_buf_append(t, first ? "{" : ",{", first ? 1 : 2);
    aat_buf_append(t, "\"loop\":", 7);
    aat_buf_json(t, L->name, strlen(L->name));
    aat_buf_appendf(t, ",\"start\":%.17g,\"duration\":%.17g,\"ongoing\":%s",
                    e->start, e->duration, e->ongoing ? "true" : "false");
    aat_buf_append(t, ",\"site\":", 8);
    aat_buf_json(t, e->site, strlen(e->site));
    aat_buf_append(t, ",\"stack\":", 9);
    stack_json(t, e->stack);
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
