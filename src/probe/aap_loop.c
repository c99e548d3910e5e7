/*
 * aap_loop.c: per-loop state and the loop thread's hot path.
 *
 * The loop thread must pay almost nothing per iteration, so it only
 * writes relaxed atomics (busy-since, counters) and takes the loop's
 * mutex only when a busy stretch already exceeded the block threshold
 * (aap_episode.c records it).  The watchdog (aap_watchdog.c) reads
 * busy-since to notice a stretch while it lasts; the renderer
 * (aap_render.c) reads the counters.  Counters only the loop thread
 * writes are advanced with a load and a store, not a locked
 * read-modify-write.  The exported values are cells of the state arena
 * (aap_state.c), allocated once per loop under its final name: the hot
 * path writes them through pointers, at the cost of a field's write.
 */
#include "aap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAG_CORRECTION_MAX 100000u

void aap_loop_reset(aap_loop *L)
{
    int k;

    atomic_store(L->busy_since, 0);
    atomic_store(L->stopping, 0);
    atomic_store(L->busy_ns, 0);
    atomic_store(L->iterations, 0);
    atomic_store(&L->stopped_ns, 0);
    atomic_store(L->ready, 0);
    atomic_store(L->tasks_created, 0);
    aap_hist_reset(&L->lag);
    aap_hist_reset(&L->block);
    for (k = 0; k < AAP_EXEC_N; k++) {
        atomic_store(L->exec[k].pending, 0);
        atomic_store(L->exec[k].busy, 0);
        aap_hist_reset(&L->exec[k].wait);
        aap_hist_reset(&L->exec[k].run);
    }
    aap_sites_reset(L);
    aap_gil_holders_reset(L);
    aap_ep_reset(L);
    L->wd_seq = 0;
    L->wd_next = 0;
}

void aap_loop_set_tstate(aap_loop *L, uintptr_t tstate)
{
    atomic_store_explicit(&L->tstate, tstate, memory_order_release);
}

/* A scalar series of L, or one of L's own unexported cells (fallback) */
static _Atomic uint64_t *loop_cell(aap_loop *L, int family, int slot,
                                   const aap_label *lab, size_t n,
                                   unsigned flags, size_t fb)
{
    _Atomic uint64_t *c;

    if (aap_state_cell(family, lab, n, flags, &L->rec[slot], &c) < 0) {
        L->rec[slot] = NULL;
        return &L->fallback[fb];
    }
    return c;
}

/* L's series, under its final name (aap_reg_add calls it with the
 * registry locked).  A series that cannot be allocated (a full arena) is
 * not exported; the loop works the same. */
static int loop_series(aap_loop *L)
{
    static const char *exec_names[AAP_EXEC_N] = {"default", "anyio"};
    aap_label lab[3] = {{"loop", L->name},
                        {"version", L->version},
                        {"loop_implementation", L->impl}};
    int sel = L->mode == AAP_MODE_SELECTOR, k;
    _Atomic uint64_t *cur;

    aap_state_hist(AAP_F_LOOP_LAG, lab, 1, 0, &L->rec[AAP_LR_LAG], &L->lag);
    aap_state_hist(AAP_F_LOOP_BLOCK, lab, 1, 0, &L->rec[AAP_LR_BLOCK],
                   &L->block);
    if (aap_state_cell(AAP_F_LOOP_CUR, lab, 1, 0, &L->rec[AAP_LR_CUR], &cur) <
        0) {
        L->rec[AAP_LR_CUR] = NULL;
        cur = &L->fallback[0];
    }
    L->busy_since = &cur[0];
    L->stopping = &cur[1];
    /* not observable without the selector wrapper: not exported */
    L->busy_ns = sel ? loop_cell(L, AAP_F_LOOP_BUSY, AAP_LR_BUSY, lab, 1, 0, 2)
                     : &L->fallback[2];
    L->iterations =
        sel ? loop_cell(L, AAP_F_LOOP_ITER, AAP_LR_ITER, lab, 1, 0, 3)
            : &L->fallback[3];
    L->ready = sel ? loop_cell(L, AAP_F_LOOP_READY, AAP_LR_READY, lab, 1, 0, 4)
                   : &L->fallback[4];
    L->tasks = loop_cell(L, AAP_F_TASKS, AAP_LR_TASKS, lab, 1, 0, 5);
    L->tasks_created =
        loop_cell(L, AAP_F_TASKS_CREATED, AAP_LR_CREATED, lab, 1, 0, 6);
    loop_cell(L, AAP_F_INFO, AAP_LR_INFO, lab, 3, 0, 7);
    L->gil_wait = loop_cell(L, AAP_F_GIL_WAIT, AAP_LR_GIL, lab, 1, 0, 14);
    for (k = 0; k < AAP_EXEC_N; k++) {
        aap_exec_state *e = &L->exec[k];
        aap_label el[2] = {{"loop", L->name}, {"executor", exec_names[k]}};

        if (aap_state_cell(AAP_F_EXEC_PENDING, el, 2, AAP_SERIES_HIDDEN,
                           &e->rec[0], &e->pending) < 0 ||
            aap_state_cell(AAP_F_EXEC_BUSY, el, 2, AAP_SERIES_HIDDEN,
                           &e->rec[1], &e->busy) < 0 ||
            aap_state_cell(AAP_F_EXEC_MAX, el, 2, AAP_SERIES_HIDDEN,
                           &e->rec[2], &e->max_workers) < 0) {
            /* all three or none: pending/busy must balance */
            aap_rec_free(e->rec[0]);
            aap_rec_free(e->rec[1]);
            aap_rec_free(e->rec[2]);
            e->rec[0] = e->rec[1] = e->rec[2] = NULL;
            e->pending = &L->fallback[8 + 3 * k];
            e->busy = &L->fallback[9 + 3 * k];
            e->max_workers = &L->fallback[10 + 3 * k];
        }
        aap_state_hist(AAP_F_EXEC_WAIT, el, 2, AAP_SERIES_HIDDEN, &e->rec[3],
                       &e->wait);
        aap_state_hist(AAP_F_EXEC_RUN, el, 2, AAP_SERIES_HIDDEN, &e->rec[4],
                       &e->run);
    }
    aap_sites_init(L);
    aap_gil_holders_init(L);
    aap_state_loops_add(1);
    return 0;
}

static void loop_series_release(aap_loop *L)
{
    int k, i;

    aap_state_loops_add(-1);
    for (i = 0; i < AAP_LR_N; i++) {
        aap_rec_release(L->rec[i]);
        L->rec[i] = NULL;
    }
    for (k = 0; k < AAP_EXEC_N; k++) {
        for (i = 0; i < 5; i++) {
            aap_rec_release(L->exec[k].rec[i]);
            L->exec[k].rec[i] = NULL;
        }
    }
    aap_sites_release(L);
    aap_gil_holders_release(L);
}

int aap_loop_new(const aap_loop_config *cfg, aap_loop **out)
{
    aap_loop *L;
    int rc;

    *out = NULL;
    if (!cfg || cfg->lag_interval_ns == 0 || cfg->threshold_ns == 0) {
        return AAP_EINVAL;
    }
    L = calloc(1, sizeof(*L));
    if (!L) {
        return AAP_ENOMEM;
    }
    snprintf(L->name, sizeof(L->name), "%s", cfg->name ? cfg->name : "");
    snprintf(L->impl, sizeof(L->impl), "%s",
             cfg->implementation ? cfg->implementation : "asyncio");
    snprintf(L->version, sizeof(L->version), "%s",
             cfg->version ? cfg->version : "");
    L->lag_interval_ns = cfg->lag_interval_ns;
    L->threshold_ns = cfg->threshold_ns;
    L->stacks = cfg->stacks;
    L->mode = cfg->mode;
    atomic_store(&L->tstate, cfg->tstate);
    L->layout = cfg->layout;
    if (cfg->in_app) {
        L->in_app = *cfg->in_app;
    }
    snprintf(L->sites[AAP_SITES_MAX].site, AAP_SITE_LEN, "other");
    pthread_mutex_init(&L->lock, NULL);

    rc = aap_reg_add(L, loop_series);
    if (rc < 0) {
        loop_series_release(L);
        pthread_mutex_destroy(&L->lock);
        free(L);
        return rc;
    }
    *out = L;
    return 0;
}

void aap_loop_free(aap_loop *L)
{
    if (!L) {
        return;
    }
    if (aap_reg_remove(L)) {
        aap_watchdog_stop();
    }
    aap_ep_reset(L);
    loop_series_release(L);
    pthread_mutex_destroy(&L->lock);
    free(L);
}

void aap_loop_busy_begin(aap_loop *L, uint64_t now)
{
    atomic_store_explicit(L->busy_since, now, memory_order_release);
}

/* Adds d to a counter that only the loop thread writes: a load and a
 * store, not a locked read-modify-write, on the per-iteration path. */
static inline void owner_add(_Atomic uint64_t *a, uint64_t d,
                             memory_order order)
{
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + d,
                          order);
}

/* A stretch begun at bs ended at now (loop thread). */
static void stretch_end(aap_loop *L, uint64_t bs, uint64_t now)
{
    uint64_t seq = atomic_load_explicit(&L->seq, memory_order_relaxed);

    if (now > bs && now - bs >= L->threshold_ns) {
        pthread_mutex_lock(&L->lock);
        aap_ep_finish(L, seq, bs, now);
        aap_hist_observe(&L->block, now - bs, 1);
        atomic_store_explicit(&L->seq, seq + 1, memory_order_release);
        atomic_store_explicit(L->busy_since, 0, memory_order_release);
        pthread_mutex_unlock(&L->lock);
    } else {
        atomic_store_explicit(&L->seq, seq + 1, memory_order_release);
        atomic_store_explicit(L->busy_since, 0, memory_order_release);
    }
}

void aap_loop_select_enter(aap_loop *L, uint64_t now, int64_t ready)
{
    uint64_t bs = atomic_load_explicit(L->busy_since, memory_order_relaxed);

    atomic_store_explicit(L->ready, (uint64_t)ready, memory_order_relaxed);
    if (atomic_load_explicit(L->stopping, memory_order_relaxed)) {
        /* first iteration after the loop ran again: the stretch spans
         * the time it was not running; neither busy nor blocked */
        if (now > L->stop_ns) {
            owner_add(&L->stopped_ns, now - L->stop_ns, memory_order_relaxed);
        }
        atomic_store_explicit(L->stopping, 0, memory_order_release);
        if (bs) {
            owner_add(&L->seq, 1, memory_order_release);
            atomic_store_explicit(L->busy_since, 0, memory_order_release);
        }
        return;
    }
    owner_add(L->iterations, 1, memory_order_relaxed);
    if (bs == 0) {
        return;
    }
    if (now > bs) {
        owner_add(L->busy_ns, now - bs, memory_order_relaxed);
    }
    stretch_end(L, bs, now);
}

void aap_loop_stopping(aap_loop *L, uint64_t now)
{
    uint64_t bs = atomic_load_explicit(L->busy_since, memory_order_relaxed);

    if (L->mode == AAP_MODE_SELECTOR && bs && now > bs) {
        /* a stretch that blocked before stop() still counts */
        owner_add(L->busy_ns, now - bs, memory_order_relaxed);
        stretch_end(L, bs, now);
    }
    L->stop_ns = now;
    atomic_store_explicit(L->stopping, 1, memory_order_release);
}

void aap_loop_closing_hint(aap_loop *L)
{
    atomic_store_explicit(L->stopping, 1, memory_order_release);
}

void aap_loop_lag_armed(aap_loop *L, uint64_t now)
{
    (void)now;
    L->stopped_at_arm =
        atomic_load_explicit(&L->stopped_ns, memory_order_relaxed);
}

uint64_t aap_loop_lag_tick(aap_loop *L, uint64_t due, uint64_t now)
{
    uint64_t late = now > due ? now - due : 0;
    uint64_t stopped =
        atomic_load_explicit(&L->stopped_ns, memory_order_relaxed) -
        L->stopped_at_arm;
    uint64_t k, n;

    late = late > stopped ? late - stopped : 0;
    aap_hist_observe(&L->lag, late, 1);
    /* Samples the stall swallowed (nodejs/node#34661): had the timer run
     * on time it would have seen late - I, late - 2I, ... */
    n = late / L->lag_interval_ns;
    if (n > LAG_CORRECTION_MAX) {
        n = LAG_CORRECTION_MAX;
    }
    for (k = 1; k <= n; k++) {
        aap_hist_observe(&L->lag, late - k * L->lag_interval_ns, 1);
    }
    if (L->mode == AAP_MODE_HEARTBEAT) {
        uint64_t bs =
            atomic_load_explicit(L->busy_since, memory_order_relaxed);

        if (atomic_exchange_explicit(L->stopping, 0, memory_order_acq_rel)) {
            bs = 0; /* running again after a shutdown hint */
        }
        if (bs != 0) {
            stretch_end(L, bs, now > bs ? now : bs);
        }
        atomic_store_explicit(L->busy_since, now + L->lag_interval_ns,
                              memory_order_release);
    }
    aap_loop_lag_armed(L, now);
    return now + L->lag_interval_ns;
}

void aap_loop_tasks_add(aap_loop *L, int64_t created, int64_t alive_delta)
{
    if (created) {
        atomic_fetch_add_explicit(L->tasks_created, (uint64_t)created,
                                  memory_order_relaxed);
    }
    atomic_fetch_add_explicit(L->tasks, (uint64_t)alive_delta,
                              memory_order_relaxed);
}

void aap_exec_enable(aap_loop *L, int which, int64_t max_workers)
{
    aap_exec_state *e = &L->exec[which];
    int i;

    atomic_store(e->max_workers, (uint64_t)max_workers);
    if (!atomic_exchange(&e->enabled, 1)) {
        for (i = 0; i < 5; i++) {
            if (e->rec[i]) {
                aap_rec_show(e->rec[i]);
            }
        }
    }
}

void aap_exec_submit(aap_loop *L, int which)
{
    atomic_fetch_add(L->exec[which].pending, 1);
}

void aap_exec_start(aap_loop *L, int which, uint64_t wait_ns)
{
    atomic_fetch_sub(L->exec[which].pending, 1);
    atomic_fetch_add(L->exec[which].busy, 1);
    aap_hist_observe(&L->exec[which].wait, wait_ns, 1);
}

void aap_exec_finish(aap_loop *L, int which, uint64_t run_ns)
{
    atomic_fetch_sub(L->exec[which].busy, 1);
    aap_hist_observe(&L->exec[which].run, run_ns, 1);
}

void aap_exec_unstarted(aap_loop *L, int which)
{
    atomic_fetch_sub(L->exec[which].pending, 1);
}

double aap_loop_current_block(aap_loop *L, uint64_t now)
{
    uint64_t bs = atomic_load_explicit(L->busy_since, memory_order_acquire);

    if (atomic_load_explicit(L->stopping, memory_order_acquire)) {
        return 0.0;
    }
    return (bs && now > bs) ? (double)(now - bs) / 1e9 : 0.0;
}

void aap_loop_snapshot_get(aap_loop *L, aap_loop_snapshot *s)
{
    int k;

    memset(s, 0, sizeof(*s));
    s->heartbeat = L->mode == AAP_MODE_HEARTBEAT;
    s->lag_count = aap_hist_count(&L->lag);
    s->lag_sum = aap_hist_sum(&L->lag);
    s->busy_seconds = (double)atomic_load(L->busy_ns) / 1e9;
    s->iterations = atomic_load(L->iterations);
    s->block_count = aap_hist_count(&L->block);
    s->block_sum = aap_hist_sum(&L->block);
    s->current_block = aap_loop_current_block(L, aap_now_ns());
    s->ready = (int64_t)atomic_load(L->ready);
    s->tasks = (int64_t)atomic_load(L->tasks);
    s->tasks_created = atomic_load(L->tasks_created);
    for (k = 0; k < AAP_EXEC_N; k++) {
        aap_exec_state *e = &L->exec[k];

        s->exec[k].enabled = atomic_load(&e->enabled);
        s->exec[k].pending = (int64_t)atomic_load(e->pending);
        s->exec[k].busy = (int64_t)atomic_load(e->busy);
        s->exec[k].max_workers = (int64_t)atomic_load(e->max_workers);
        s->exec[k].wait_count = aap_hist_count(&e->wait);
        s->exec[k].wait_sum = aap_hist_sum(&e->wait);
        s->exec[k].run_count = aap_hist_count(&e->run);
        s->exec[k].run_sum = aap_hist_sum(&e->run);
    }
}
