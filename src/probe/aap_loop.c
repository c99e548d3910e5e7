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
 *
 * Blocking or busy: a stretch is cut into segments at callback boundaries
 * (aap_loop_mark: the asyncio ready queue's popleft, uvloop's context
 * switches).  Only a segment past the threshold makes the stretch a
 * blocking episode, and only if it was past it by more than the time the
 * thread waited on the CPU run queue (schedstat: the watchdog notes the
 * wait when the segment is half the threshold old, the loop thread reads
 * it again when the segment ends, rarely: only segments past the
 * threshold; the kernel adds a wait once it is over, so the thread's own
 * reading has it).  Other
 * stretches past the threshold are saturation (many short callbacks) or
 * host starvation, each with its own histogram and no culprit.  The
 * loop thread's garbage collections (aap_loop_gc) are no callback's own
 * time either: a gen-2 collection of a large heap stalls whichever
 * callback allocated last.
 */
#include "aap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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
    aap_hist_reset(&L->saturation);
    aap_hist_reset(&L->starved);
    aap_hist_reset(&L->gil_wait);
    aap_hist_reset(&L->gc);
    atomic_store(&L->mark, 0);
    atomic_store(&L->gc_since, 0);
    atomic_store(&L->seg_gc, 0);
    atomic_store(&L->base_mark, 0);
    L->seg_mark = 0;
    L->st_blocking = L->st_starved = 0;
    L->wd_base = 0;
    for (k = 0; k < AAP_EXEC_N; k++) {
        atomic_store(L->exec[k].pending, 0);
        atomic_store(L->exec[k].busy, 0);
        aap_hist_reset(&L->exec[k].wait);
        aap_hist_reset(&L->exec[k].run);
    }
    aap_sites_reset(L);
    aap_gil_holders_reset(L);
    aap_execfn_reset(L);
    aap_ep_reset(L);
    L->wd_seq = 0;
    L->wd_next = 0;
}

void aap_loop_set_tstate(aap_loop *L, uintptr_t tstate)
{
    atomic_store_explicit(&L->tid, (long)syscall(SYS_gettid),
                          memory_order_relaxed);
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
    int sel = L->mode != AAP_MODE_HEARTBEAT, k;
    _Atomic uint64_t *cur;

    aap_state_hist(AAP_F_LOOP_LAG, lab, 1, 0, &L->rec[AAP_LR_LAG], &L->lag);
    aap_state_hist(AAP_F_LOOP_BLOCK, lab, 1, 0, &L->rec[AAP_LR_BLOCK],
                   &L->block);
    aap_state_hist(AAP_F_LOOP_SATURATION, lab, 1, 0,
                   &L->rec[AAP_LR_SATURATION], &L->saturation);
    aap_state_hist(AAP_F_LOOP_STARVED, lab, 1, 0, &L->rec[AAP_LR_STARVED],
                   &L->starved);
    aap_state_hist(AAP_F_LOOP_GIL_WAIT, lab, 1, 0, &L->rec[AAP_LR_GIL],
                   &L->gil_wait);
    aap_state_hist(AAP_F_LOOP_GC, lab, 1, 0, &L->rec[AAP_LR_GC], &L->gc);
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
    L->ready = L->mode == AAP_MODE_SELECTOR
                   ? loop_cell(L, AAP_F_LOOP_READY, AAP_LR_READY, lab, 1, 0, 4)
                   : &L->fallback[4];
    L->tasks = loop_cell(L, AAP_F_TASKS, AAP_LR_TASKS, lab, 1, 0, 5);
    L->tasks_created =
        loop_cell(L, AAP_F_TASKS_CREATED, AAP_LR_CREATED, lab, 1, 0, 6);
    loop_cell(L, AAP_F_INFO, AAP_LR_INFO, lab, 3, 0, 7);
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
    aap_execfn_init(L);
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
    aap_execfn_release(L);
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
    L->sched = cfg->schedstat ? cfg->schedstat : aap_schedstat_read;
    L->sched_ctx = cfg->schedstat_ctx;
    atomic_store(&L->tstate, cfg->tstate);
    atomic_store(&L->tid, (long)syscall(SYS_gettid));
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
    aap_uvhook_unbind(L);
    if (aap_reg_remove(L)) {
        aap_watchdog_stop();
    }
    aap_ep_reset(L);
    loop_series_release(L);
    pthread_mutex_destroy(&L->lock);
    free(L);
}

/* Adds d to a counter that only the loop thread writes: a load and a
 * store, not a locked read-modify-write, on the per-iteration path. */
static inline void owner_add(_Atomic uint64_t *a, uint64_t d,
                             memory_order order)
{
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + d,
                          order);
}

/* A new segment begins at now (0: none, the loop is idle). */
static inline void segment_begin(aap_loop *L, uint64_t now)
{
    L->seg_mark = now;
    atomic_store_explicit(&L->seg_gc, 0, memory_order_relaxed);
    atomic_store_explicit(&L->mark, now, memory_order_relaxed);
}

/* The calling thread's CPU time, 0 when it cannot be read. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void aap_loop_gc(aap_loop *L, uintptr_t tstate, int start, uint64_t now,
                 uint64_t cpu)
{
    uint64_t since;

    if (tstate != atomic_load_explicit(&L->tstate, memory_order_relaxed)) {
        return;
    }
    if (cpu == AAP_CPU_NOW) {
        cpu = thread_cpu_ns();
    }
    if (start) {
        L->gc_cpu_since = cpu;
        atomic_store_explicit(&L->gc_since, now, memory_order_relaxed);
        return;
    }
    since = atomic_load_explicit(&L->gc_since, memory_order_relaxed);
    if (since && now > since) {
        aap_hist_observe(&L->gc, now - since, 1);
        cpu = L->gc_cpu_since && cpu > L->gc_cpu_since ? cpu - L->gc_cpu_since
                                                       : now - since;
        owner_add(&L->seg_gc, cpu < now - since ? cpu : now - since,
                  memory_order_relaxed);
    }
    atomic_store_explicit(&L->gc_since, 0, memory_order_relaxed);
}

void aap_loop_busy_begin(aap_loop *L, uint64_t now)
{
    segment_begin(L, now);
    if (now) {
        /* seq_cst: see aap_watchdog_stretch_began */
        atomic_store(L->busy_since, now);
        aap_watchdog_stretch_began(L);
    } else {
        atomic_store_explicit(L->busy_since, 0, memory_order_release);
    }
}

/* The segment begun at m ended at now, past the threshold (loop thread;
 * rare); gc is the CPU time of its garbage collections.  Its own time is
 * its length less the time the thread waited on the run queue since the
 * watchdog's baseline (no baseline, or no schedstat: none; a wait before
 * the baseline, at most half the threshold, counts as its own: the
 * verdict errs towards blocking), and less gc.  Past the threshold by
 * the wait: host starvation; by the collections: the loop was busy, no
 * callback's code was long. */
static void segment_long(aap_loop *L, uint64_t m, uint64_t now, uint64_t gc)
{
    uint64_t d = now - m, wait = 0, own;
    aap_schedstat st;

    if (atomic_load_explicit(&L->base_mark, memory_order_acquire) == m &&
        L->sched(0, &st, L->sched_ctx) == 0) {
        uint64_t bw =
            atomic_load_explicit(&L->base_wait, memory_order_relaxed);

        if (st.wait_ns >= bw) {
            wait = st.wait_ns - bw;
            wait = wait < d ? wait : d;
        }
    }
    own = d > wait + gc ? d - wait - gc : 0;
    if (own >= L->threshold_ns) {
        L->st_blocking = 1;
    } else if (wait >= gc) {
        L->st_starved = 1;
    }
    pthread_mutex_lock(&L->lock);
    aap_ep_segment_end(L, m, now, own >= L->threshold_ns);
    pthread_mutex_unlock(&L->lock);
}

/* The segment in progress ends at now and the next begins at next (0:
 * none).  The next is published first: a watchdog sample taken while the
 * ended one is being settled (the loop thread's stack then shows the
 * loop's machinery, not the callback) belongs to the new one, which is
 * young, and charges nothing. */
static inline void segment_end(aap_loop *L, uint64_t now, uint64_t next)
{
    uint64_t m = L->seg_mark;
    uint64_t gc = atomic_load_explicit(&L->seg_gc, memory_order_relaxed);

    segment_begin(L, next);
    if (m && now > m && now - m >= L->threshold_ns) {
        segment_long(L, m, now, gc);
    }
}

void aap_loop_mark(aap_loop *L, uint64_t now)
{
    segment_end(L, now, now);
}

/* A stretch begun at bs ended at now (loop thread). */
static void stretch_end(aap_loop *L, uint64_t bs, uint64_t now)
{
    uint64_t seq = atomic_load_explicit(&L->seq, memory_order_relaxed);

    segment_end(L, now, 0);
    if (now > bs && now - bs >= L->threshold_ns) {
        int kind = L->st_blocking  ? AAP_EP_BLOCKING
                   : L->st_starved ? AAP_EP_STARVED
                                   : AAP_EP_SATURATION;

        pthread_mutex_lock(&L->lock);
        kind = aap_ep_finish(L, seq, bs, now, kind);
        aap_hist_observe(kind == AAP_EP_BLOCKING  ? &L->block
                         : kind == AAP_EP_GIL     ? &L->gil_wait
                         : kind == AAP_EP_STARVED ? &L->starved
                                                  : &L->saturation,
                         now - bs, 1);
        atomic_store_explicit(&L->seq, seq + 1, memory_order_release);
        atomic_store_explicit(L->busy_since, 0, memory_order_release);
        pthread_mutex_unlock(&L->lock);
    } else {
        atomic_store_explicit(&L->seq, seq + 1, memory_order_release);
        atomic_store_explicit(L->busy_since, 0, memory_order_release);
    }
    L->st_blocking = L->st_starved = 0;
}

/* The time since stop_ns was not spent running: neither busy nor lag. */
static void resume(aap_loop *L, uint64_t now)
{
    if (now > L->stop_ns) {
        owner_add(&L->stopped_ns, now - L->stop_ns, memory_order_relaxed);
    }
    atomic_store_explicit(L->stopping, 0, memory_order_release);
}

void aap_loop_select_enter(aap_loop *L, uint64_t now, int64_t ready)
{
    uint64_t bs = atomic_load_explicit(L->busy_since, memory_order_relaxed);

    if (L->mode == AAP_MODE_SELECTOR) {
        atomic_store_explicit(L->ready, (uint64_t)ready, memory_order_relaxed);
    }
    if (atomic_load_explicit(L->stopping, memory_order_relaxed)) {
        if (L->mode == AAP_MODE_HOOK) {
            return; /* uvloop polls while it closes: only run_forever()
                       (aap_loop_started) runs it again */
        }
        /* first iteration after the loop ran again: the stretch spans
         * the time it was not running; neither busy nor blocked */
        resume(L, now);
        segment_begin(L, 0);
        L->st_blocking = L->st_starved = 0;
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

    if (atomic_load_explicit(L->stopping, memory_order_relaxed)) {
        return; /* stop() was seen already; run_forever() returns now */
    }
    if (L->mode != AAP_MODE_HEARTBEAT && bs && now > bs) {
        /* a stretch that blocked before stop() still counts */
        owner_add(L->busy_ns, now - bs, memory_order_relaxed);
        stretch_end(L, bs, now);
    }
    L->stop_ns = now;
    atomic_store_explicit(L->stopping, 1, memory_order_release);
}

void aap_loop_started(aap_loop *L, uint64_t now)
{
    if (!atomic_load_explicit(L->stopping, memory_order_relaxed)) {
        return;
    }
    resume(L, now);
    L->st_blocking = L->st_starved = 0;
    if (L->mode == AAP_MODE_HEARTBEAT) {
        /* the lag timer's next tick decides; the stretch that spanned the
         * stop is not one */
        owner_add(&L->seq, 1, memory_order_release);
        segment_begin(L, 0);
        atomic_store_explicit(L->busy_since, 0, memory_order_release);
        return;
    }
    owner_add(&L->seq, 1, memory_order_release);
    aap_loop_busy_begin(L, now);
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

void aap_loop_lag_observe(aap_loop *L, uint64_t late, uint64_t n)
{
    aap_hist_observe(&L->lag, late, n);
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
            segment_begin(L, 0);
        }
        if (bs != 0) {
            stretch_end(L, bs, now > bs ? now : bs);
        }
        aap_loop_busy_begin(L, now + L->lag_interval_ns);
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

void aap_exec_start(aap_loop *L, int which, uint64_t wait_ns, uint32_t fn)
{
    atomic_fetch_sub(L->exec[which].pending, 1);
    atomic_fetch_add(L->exec[which].busy, 1);
    aap_hist_observe(&L->exec[which].wait, wait_ns, 1);
    aap_execfn_wait(L, which, fn, wait_ns);
}

void aap_exec_finish(aap_loop *L, int which, uint64_t run_ns, uint32_t fn)
{
    atomic_fetch_sub(L->exec[which].busy, 1);
    aap_hist_observe(&L->exec[which].run, run_ns, 1);
    aap_execfn_done(L, which, fn, run_ns, 1);
}

void aap_exec_unstarted(aap_loop *L, int which, uint32_t fn)
{
    atomic_fetch_sub(L->exec[which].pending, 1);
    aap_execfn_done(L, which, fn, 0, 0);
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
    s->no_ready = L->mode != AAP_MODE_SELECTOR;
    s->lag_count = aap_hist_count(&L->lag);
    s->lag_sum = aap_hist_sum(&L->lag);
    s->busy_seconds = (double)atomic_load(L->busy_ns) / 1e9;
    s->iterations = atomic_load(L->iterations);
    s->block_count = aap_hist_count(&L->block);
    s->block_sum = aap_hist_sum(&L->block);
    s->saturation_count = aap_hist_count(&L->saturation);
    s->saturation_sum = aap_hist_sum(&L->saturation);
    s->starved_count = aap_hist_count(&L->starved);
    s->starved_sum = aap_hist_sum(&L->starved);
    s->gil_count = aap_hist_count(&L->gil_wait);
    s->gil_sum = aap_hist_sum(&L->gil_wait);
    s->gc_count = aap_hist_count(&L->gc);
    s->gc_sum = aap_hist_sum(&L->gc);
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
