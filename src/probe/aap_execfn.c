/*
 * aap_execfn.c: which functions fill a loop's thread pools.
 *
 * Why: "executor pending 60, wait 250 ms" says a pool is exhausted, not
 * what exhausts it.  Each job names the function it runs (the Python layer
 * unwraps partials, bound methods and decorators down to the user's def)
 * and its definition site; this file keeps, per loop and executor, a
 * bounded table of those functions with the time their jobs waited and
 * ran and how many there were, exported as
 * python_asyncio_executor_function_{run,wait}_seconds_total and _calls_total.
 *
 * Cost: a job looks its function up once, at submission, under the loop's
 * lock; a caller that remembers the id it got (the hint) skips the string
 * comparisons.  Starting and ending a job add to the slot's cells with
 * relaxed atomics and no lock.  The job holds its slot meanwhile (in
 * flight), so a slot is never given to another function while a job may
 * still charge it: the id's generation is checked only to fall back to
 * "other" for an id from before a reset.  A full table gives up the slot
 * used longest ago that has no job in flight, else the job counts as
 * function="other".  A slot's series are relabelled when it changes hands
 * (seqlock; the values restart at zero), as a site's are.
 */
#include "aap_int.h"

#include <stdio.h>
#include <string.h>

static const char *const exec_names[AAP_EXEC_N] = {"default", "anyio"};

enum { FN_RUN = 0, FN_WAIT = 1, FN_CALLS = 2 };
static const int fn_families[3] = {AAP_F_EXEC_FN_RUN, AAP_F_EXEC_FN_WAIT,
                                   AAP_F_EXEC_FN_CALLS};

#define FN_SLOT_BITS 8u
#define FN_SLOT_MASK ((1u << FN_SLOT_BITS) - 1u)

_Static_assert(AAP_EXEC_FN_MAX < FN_SLOT_MASK, "slot fits an id");

static uint32_t fn_id(int slot, uint32_t gen)
{
    return (gen << FN_SLOT_BITS) | (uint32_t)slot;
}

/* The record key of slot k of executor which (unique per loop). */
static uint32_t fn_key(int which, int k)
{
    return (uint32_t)(which * (AAP_EXEC_FN_MAX + 1) + k);
}

/* Slot k of executor which now names its function and site: its series
 * are relabelled, or allocated the first time (unexported, in the slot's
 * own cells, if that fails). */
static void slot_series(aap_loop *L, int which, int k)
{
    aap_fn_slot *s = &L->exec[which].fn[k];
    aap_label lab[4] = {{"loop", L->name},
                        {"executor", exec_names[which]},
                        {"function", s->function},
                        {"site", s->site}};
    size_t n = s->site[0] ? 4 : 3;
    int i;

    for (i = 0; i < 3; i++) {
        if (s->rec[i] && aap_rec_relabel(s->rec[i], lab, n) == 0) {
            continue;
        }
        aap_rec_free(s->rec[i]);
        s->rec[i] = NULL;
        s->cell[i] = &s->own[i];
        atomic_store_explicit(&s->own[i], 0, memory_order_relaxed);
        if (aap_state_series(fn_families[i], fn_key(which, k), lab, n, 0,
                             &s->rec[i]) == 0) {
            s->cell[i] = aap_rec_cells(s->rec[i]);
        }
    }
}

/* Slot of (function, site) in executor which's table, with the lock held:
 * the hinted one, one that names it, a free one, the one used longest ago
 * with no job in flight, else "other". */
static int fn_slot(aap_loop *L, int which, const char *function,
                   const char *site, uint32_t hint, uint64_t now)
{
    aap_exec_state *e = &L->exec[which];
    int k = (int)(hint & FN_SLOT_MASK), i, victim = -1;
    aap_fn_slot *s;

    if (hint != AAP_EXEC_FN_NONE && k < e->nfn &&
        e->fn[k].gen == hint >> FN_SLOT_BITS) {
        return k;
    }
    for (i = 0; i < e->nfn; i++) {
        if (strcmp(e->fn[i].function, function) == 0 &&
            strcmp(e->fn[i].site, site) == 0) {
            return i;
        }
    }
    if (e->nfn < AAP_EXEC_FN_MAX) {
        victim = e->nfn++;
    } else {
        for (i = 0; i < AAP_EXEC_FN_MAX; i++) {
            if (atomic_load(&e->fn[i].inflight) > 0) {
                continue;
            }
            if (victim < 0 || atomic_load(&e->fn[i].last_ns) <
                                  atomic_load(&e->fn[victim].last_ns)) {
                victim = i;
            }
        }
        if (victim < 0) {
            return AAP_EXEC_FN_MAX;
        }
    }
    s = &e->fn[victim];
    snprintf(s->function, sizeof(s->function), "%s", function);
    snprintf(s->site, sizeof(s->site), "%s", site);
    s->gen = ++e->fn_gen & (UINT32_MAX >> FN_SLOT_BITS);
    atomic_store(&s->last_ns, now);
    slot_series(L, which, victim);
    return victim;
}

uint32_t aap_exec_fn(aap_loop *L, int which, const char *function,
                     const char *site, uint32_t hint)
{
    uint64_t now = aap_now_coarse_ns();
    aap_fn_slot *s;
    uint32_t id;
    int k;

    if (which < 0 || which >= AAP_EXEC_N || !function) {
        return AAP_EXEC_FN_NONE;
    }
    pthread_mutex_lock(&L->lock);
    k = fn_slot(L, which, function, site ? site : "", hint, now);
    s = &L->exec[which].fn[k];
    atomic_fetch_add(&s->inflight, 1);
    atomic_store_explicit(&s->last_ns, now, memory_order_relaxed);
    id = fn_id(k, s->gen);
    pthread_mutex_unlock(&L->lock);
    return id;
}

/* The slot id names, or NULL for AAP_EXEC_FN_NONE. */
static aap_fn_slot *slot_of(aap_loop *L, int which, uint32_t id)
{
    uint32_t k = id & FN_SLOT_MASK;

    if (id == AAP_EXEC_FN_NONE || which < 0 || which >= AAP_EXEC_N ||
        k > AAP_EXEC_FN_MAX) {
        return NULL;
    }
    return &L->exec[which].fn[k];
}

void aap_execfn_wait(aap_loop *L, int which, uint32_t id, uint64_t ns)
{
    aap_fn_slot *s = slot_of(L, which, id);

    if (s) {
        atomic_fetch_add_explicit(s->cell[FN_WAIT], ns, memory_order_relaxed);
    }
}

void aap_execfn_done(aap_loop *L, int which, uint32_t id, uint64_t run_ns,
                     int ran)
{
    aap_fn_slot *s = slot_of(L, which, id);

    if (!s) {
        return;
    }
    if (ran) {
        atomic_fetch_add_explicit(s->cell[FN_RUN], run_ns,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(s->cell[FN_CALLS], 1, memory_order_relaxed);
        if (s == &L->exec[which].fn[AAP_EXEC_FN_MAX]) {
            int i;

            for (i = 0; i < 3; i++) {
                if (s->rec[i]) {
                    aap_rec_show(s->rec[i]); /* "other" once charged */
                }
            }
        }
    }
    atomic_store_explicit(&s->last_ns, aap_now_coarse_ns(),
                          memory_order_relaxed);
    atomic_fetch_sub(&s->inflight, 1);
}

void aap_execfn_init(aap_loop *L)
{
    int which, k, i;

    for (which = 0; which < AAP_EXEC_N; which++) {
        aap_exec_state *e = &L->exec[which];
        aap_fn_slot *o = &e->fn[AAP_EXEC_FN_MAX];
        aap_label lab[3] = {{"loop", L->name},
                            {"executor", exec_names[which]},
                            {"function", "other"}};

        for (k = 0; k <= AAP_EXEC_FN_MAX; k++) {
            for (i = 0; i < 3; i++) {
                e->fn[k].cell[i] = &e->fn[k].own[i];
            }
        }
        snprintf(o->function, sizeof(o->function), "other");
        for (i = 0; i < 3; i++) {
            if (aap_state_series(fn_families[i],
                                 fn_key(which, AAP_EXEC_FN_MAX), lab, 3,
                                 AAP_SERIES_HIDDEN, &o->rec[i]) == 0) {
                o->cell[i] = aap_rec_cells(o->rec[i]);
            }
        }
    }
}

void aap_execfn_release(aap_loop *L)
{
    int which, k, i;

    for (which = 0; which < AAP_EXEC_N; which++) {
        for (k = 0; k <= AAP_EXEC_FN_MAX; k++) {
            aap_fn_slot *s = &L->exec[which].fn[k];

            for (i = 0; i < 3; i++) {
                aap_rec_release(s->rec[i]);
                s->rec[i] = NULL;
                s->cell[i] = &s->own[i];
            }
        }
    }
}

void aap_execfn_reset(aap_loop *L)
{
    int which, k, i;

    for (which = 0; which < AAP_EXEC_N; which++) {
        aap_exec_state *e = &L->exec[which];

        for (k = 0; k <= AAP_EXEC_FN_MAX; k++) {
            aap_fn_slot *s = &e->fn[k];

            for (i = 0; i < 3; i++) {
                if (k < AAP_EXEC_FN_MAX) {
                    aap_rec_free(s->rec[i]); /* relabelled anew when used */
                    s->rec[i] = NULL;
                    s->cell[i] = &s->own[i];
                } else if (s->rec[i]) {
                    aap_rec_hide(s->rec[i]);
                }
                atomic_store(s->cell[i], 0);
            }
            atomic_store(&s->inflight, 0);
            s->gen = 0;
        }
        e->nfn = 0;
        e->fn_gen = 0;
    }
}

void aap_loop_exec_fns(aap_loop *L, aap_exec_fn_value *out, size_t max,
                       size_t *n)
{
    int which, k;

    *n = 0;
    pthread_mutex_lock(&L->lock);
    for (which = 0; which < AAP_EXEC_N; which++) {
        aap_exec_state *e = &L->exec[which];

        for (k = 0; k <= AAP_EXEC_FN_MAX && *n < max; k++) {
            aap_fn_slot *s = &e->fn[k];
            uint64_t calls = atomic_load(s->cell[FN_CALLS]);
            aap_exec_fn_value *v;

            if (k >= e->nfn && !(k == AAP_EXEC_FN_MAX && calls)) {
                continue;
            }
            v = &out[(*n)++];
            v->which = which;
            snprintf(v->function, sizeof(v->function), "%s", s->function);
            snprintf(v->site, sizeof(v->site), "%s", s->site);
            v->run = (double)atomic_load(s->cell[FN_RUN]) / 1e9;
            v->wait = (double)atomic_load(s->cell[FN_WAIT]) / 1e9;
            v->calls = calls;
        }
    }
    pthread_mutex_unlock(&L->lock);
}
