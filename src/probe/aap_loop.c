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
 * read-modify-write.
 */
#include "aap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAG_CORRECTION_MAX 100000u

void aap_loop_reset(aap_loop *L)
{
    int k;

    atomic_store(&L->busy_since, 0);
    atomic_store(&L->stopping, 0);
    atomic_store(&L->busy_ns, 0);
    atomic_store(&L->iterations, 0);
    atomic_store(&L->stopped_ns, 0);
    atomic_store(&L->ready, 0);
    atomic_store(&L->tasks_created, 0);
    aap_hist_reset(&L->lag);
    aap_hist_reset(&L->block);
    for (k = 0; k < AAP_EXEC_N; k++) {
        atomic_store(&L->exec[k].pending, 0);
        atomic_store(&L->exec[k].busy, 0);
        aap_hist_reset(&L->exec[k].wait);
        aap_hist_reset(&L->exec[k].run);
    }
    aap_sites_reset(L);
    aap_ep_reset(L);
    L->wd_seq = 0;
    L->wd_next = 0;
}

void aap_loop_set_tstate(aap_loop *L, uintptr_t tstate)
{
    atomic_store_explicit(&L->tstate, tstate, memory_order_release);
}

int aap_loop_new(const aap_loop_config *cfg, aap_loop **out)
{
    aap_loop *L;
    int k, rc;

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
    if (cfg->site_rules) {
        L->site_rules = *cfg->site_rules;
    }
    aap_hist_init(&L->lag, aap_bounds_lag, aap_nbounds_lag);
    aap_hist_init(&L->block, aap_bounds_block, aap_nbounds_block);
    for (k = 0; k < AAP_EXEC_N; k++) {
        aap_hist_init(&L->exec[k].wait, aap_bounds_exec, aap_nbounds_exec);
        aap_hist_init(&L->exec[k].run, aap_bounds_exec, aap_nbounds_exec);
    }
    snprintf(L->sites[AAP_SITES_MAX].site, AAP_SITE_LEN, "other");
    pthread_mutex_init(&L->lock, NULL);

    rc = aap_reg_add(L);
    if (rc < 0) {
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
    aap_loop_reset(L);
    pthread_mutex_destroy(&L->lock);
    free(L);
}

void aap_loop_busy_begin(aap_loop *L, uint64_t now)
{
    atomic_store_explicit(&L->busy_since, now, memory_order_release);
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
        atomic_store_explicit(&L->busy_since, 0, memory_order_release);
        pthread_mutex_unlock(&L->lock);
    } else {
        atomic_store_explicit(&L->seq, seq + 1, memory_order_release);
        atomic_store_explicit(&L->busy_since, 0, memory_order_release);
    }
}

void aap_loop_select_enter(aap_loop *L, uint64_t now, int64_t ready)
{
    uint64_t bs = atomic_load_explicit(&L->busy_since, memory_order_relaxed);

    atomic_store_explicit(&L->ready, ready, memory_order_relaxed);
    if (atomic_load_explicit(&L->stopping, memory_order_relaxed)) {
        /* first iteration after the loop ran again: the stretch spans
         * the time it was not running; neither busy nor blocked */
        if (now > L->stop_ns) {
            owner_add(&L->stopped_ns, now - L->stop_ns, memory_order_relaxed);
        }
        atomic_store_explicit(&L->stopping, 0, memory_order_release);
        if (bs) {
            owner_add(&L->seq, 1, memory_order_release);
            atomic_store_explicit(&L->busy_since, 0, memory_order_release);
        }
        return;
    }
    owner_add(&L->iterations, 1, memory_order_relaxed);
    if (bs == 0) {
        return;
    }
    if (now > bs) {
        owner_add(&L->busy_ns, now - bs, memory_order_relaxed);
    }
    stretch_end(L, bs, now);
}

void aap_loop_stopping(aap_loop *L, uint64_t now)
{
    uint64_t bs = atomic_load_explicit(&L->busy_since, memory_order_relaxed);

    if (L->mode == AAP_MODE_SELECTOR && bs && now > bs) {
        /* a stretch that blocked before stop() still counts */
        owner_add(&L->busy_ns, now - bs, memory_order_relaxed);
        stretch_end(L, bs, now);
    }
    L->stop_ns = now;
    atomic_store_explicit(&L->stopping, 1, memory_order_release);
}

void aap_loop_closing_hint(aap_loop *L)
{
    atomic_store_explicit(&L->stopping, 1, memory_order_release);
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
            atomic_load_explicit(&L->busy_since, memory_order_relaxed);

        if (atomic_exchange_explicit(&L->stopping, 0, memory_order_acq_rel)) {
            bs = 0; /* running again after a shutdown hint */
        }
        if (bs != 0) {
            stretch_end(L, bs, now > bs ? now : bs);
        }
        atomic_store_explicit(&L->busy_since, now + L->lag_interval_ns,
                              memory_order_release);
    }
    aap_loop_lag_armed(L, now);
    return now + L->lag_interval_ns;
}

void aap_loop_tasks_add(aap_loop *L, int64_t created, int64_t alive_delta)
{
    if (created) {
        atomic_fetch_add_explicit(&L->tasks_created, (uint64_t)created,
                                  memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&L->tasks, alive_delta, memory_order_relaxed);
}

void aap_exec_enable(aap_loop *L, int which, int64_t max_workers)
{
    atomic_store(&L->exec[which].max_workers, max_workers);
    atomic_store(&L->exec[which].enabled, 1);
}

void aap_exec_submit(aap_loop *L, int which)
{
    atomic_fetch_add(&L->exec[which].pending, 1);
}

void aap_exec_start(aap_loop *L, int which, uint64_t wait_ns)
{
    atomic_fetch_sub(&L->exec[which].pending, 1);
    atomic_fetch_add(&L->exec[which].busy, 1);
    aap_hist_observe(&L->exec[which].wait, wait_ns, 1);
}

void aap_exec_finish(aap_loop *L, int which, uint64_t run_ns)
{
    atomic_fetch_sub(&L->exec[which].busy, 1);
    aap_hist_observe(&L->exec[which].run, run_ns, 1);
}

void aap_exec_unstarted(aap_loop *L, int which)
{
    atomic_fetch_sub(&L->exec[which].pending, 1);
}

double aap_loop_current_block(aap_loop *L, uint64_t now)
{
    uint64_t bs = atomic_load_explicit(&L->busy_since, memory_order_acquire);

    if (atomic_load_explicit(&L->stopping, memory_order_acquire)) {
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
    s->busy_seconds = (double)atomic_load(&L->busy_ns) / 1e9;
    s->iterations = atomic_load(&L->iterations);
    s->block_count = aap_hist_count(&L->block);
    s->block_sum = aap_hist_sum(&L->block);
    s->current_block = aap_loop_current_block(L, aap_now_ns());
    s->ready = atomic_load(&L->ready);
    s->tasks = atomic_load(&L->tasks);
    s->tasks_created = atomic_load(&L->tasks_created);
    for (k = 0; k < AAP_EXEC_N; k++) {
        aap_exec_state *e = &L->exec[k];

        s->exec[k].enabled = atomic_load(&e->enabled);
        s->exec[k].pending = atomic_load(&e->pending);
        s->exec[k].busy = atomic_load(&e->busy);
        s->exec[k].max_workers = atomic_load(&e->max_workers);
        s->exec[k].wait_count = aap_hist_count(&e->wait);
        s->exec[k].wait_sum = aap_hist_sum(&e->wait);
        s->exec[k].run_count = aap_hist_count(&e->run);
        s->exec[k].run_sum = aap_hist_sum(&e->run);
    }
}
