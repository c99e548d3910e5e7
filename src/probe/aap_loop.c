/*
 * aap_loop.c: per-loop state, blocking episodes and the watchdog thread.
 *
 * Why it is shaped like this: the loop thread must pay almost nothing per
 * iteration, so it only writes relaxed atomics (busy-since, counters) and
 * takes the per-loop mutex only when a busy stretch already exceeded the
 * block threshold.  The watchdog thread never touches Python objects and
 * never needs the GIL: it watches busy-since, and once a stretch passes the
 * threshold it reads the loop thread's stack (aap_stack.c), attributes the
 * elapsed time to the innermost frame's site, and resamples each threshold
 * interval.  The loop thread closes the episode with its exact duration.
 * All loops are in one registry guarded by a mutex, which the watchdog and
 * the exporter hold while reading a loop, so aap_loop_free() cannot free a
 * loop they are reading.
 */
#include "aap.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING_MAX 32
#define LAG_CORRECTION_MAX 100000u

typedef struct exec_state {
    _Atomic int enabled;
    _Atomic int64_t pending, busy, max_workers;
    aap_hist wait, run;
} exec_state;

/* Eviction window: a full site table gives up the slot with the least
 * blocked time in the current and previous window (5 to 10 minutes). */
#define SITE_WINDOW_NS (300ull * 1000000000ull)

typedef struct site_slot {
    char site[AAP_SITE_LEN];
    _Atomic uint64_t ns; /* exported counter */
    uint64_t win;        /* window index win_ns[0] belongs to */
    uint64_t win_ns[2];  /* blocked time in window win and win - 1 */
    uint64_t last_ns;    /* last time anything was charged */
} site_slot;

typedef struct episode {
    double start;
    uint64_t duration_ns;
    int64_t detect_ns; /* -1: the watchdog never saw it */
    char site[AAP_SITE_LEN];
    char *stack;
} episode;

struct aap_loop {
    aap_loop *next;
    char name[64];
    char impl[32];
    char version[32];
    uint64_t lag_interval_ns;
    uint64_t threshold_ns;
    int stacks;
    int mode;
    _Atomic uintptr_t tstate;
    const aap_pylayout *layout;
    aap_site_rules site_rules;

    /* written by the loop thread, read by the watchdog/exporter */
    _Atomic uint64_t busy_since; /* 0: waiting for I/O */
    _Atomic uint64_t seq;        /* stretches ended */
    _Atomic uint64_t busy_ns;
    _Atomic uint64_t iterations;
    _Atomic uint64_t stopped_ns;
    _Atomic int64_t ready;
    _Atomic int64_t tasks;
    _Atomic uint64_t tasks_created;
    aap_hist lag;
    aap_hist block;
    exec_state exec[AAP_EXEC_N];

    _Atomic int stopping; /* stop() called, loop not yet running again */
    uint64_t stop_ns;

    /* loop thread only */
    uint64_t stopped_at_arm;

    /* guarded by lock */
    pthread_mutex_t lock;
    site_slot sites[AAP_SITES_MAX + 1]; /* [AAP_SITES_MAX] is "other" */
    int nsites;
    int ep_open;
    uint64_t ep_seq;
    uint64_t ep_start_ns;
    uint64_t ep_detect_ns;
    double ep_start_wall;
    uint64_t ep_attributed;
    int ep_last_site;
    uint64_t ep_site_ns[AAP_SITES_MAX + 1];
    char *ep_stack;
    episode ring[RING_MAX];
    size_t ring_head, ring_n;

    /* watchdog thread only */
    uint64_t wd_seq;
    uint64_t wd_next;
};

/* ---- registry and watchdog ---------------------------------------- */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static int wd_cond_ready;
static aap_loop *reg_head;
static size_t reg_n;
static int wd_running;
static int wd_cancel;
static pthread_t wd_thread;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void cond_init(void)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cond, &a);
    pthread_condattr_destroy(&a);
    wd_cond_ready = 1;
}

static void fork_prepare(void)
{
    aap_loop *L;

    aap_exporter_fork(0);
    pthread_mutex_lock(&reg_lock);
    for (L = reg_head; L; L = L->next) {
        pthread_mutex_lock(&L->lock);
    }
    aap_http_fork(0);
}

static void fork_parent(void)
{
    aap_loop *L;

    aap_http_fork(1);
    for (L = reg_head; L; L = L->next) {
        pthread_mutex_unlock(&L->lock);
    }
    pthread_mutex_unlock(&reg_lock);
    aap_exporter_fork(1);
}

static void loop_reset(aap_loop *L);

/* The child has only the forking thread: forget the others' threads,
 * re-create the locks and start counting afresh. */
static void fork_child(void)
{
    aap_loop *L;

    aap_http_fork(2);
    pthread_mutex_init(&reg_lock, NULL);
    cond_init();
    wd_running = 0;
    wd_cancel = 0;
    for (L = reg_head; L; L = L->next) {
        pthread_mutex_init(&L->lock, NULL);
        loop_reset(L);
    }
    aap_exporter_fork(2);
}

static void atfork_setup(void)
{
    cond_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void site_format(const aap_frame *f, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%d %s", f->file, f->line, f->func);
}

/* Blocked time charged to slot k in the current and previous window. */
static uint64_t site_recent(const site_slot *k, uint64_t win)
{
    if (k->win >= win) { /* a sample's clock read a little later */
        return k->win_ns[0] + k->win_ns[1];
    }
    return k->win + 1 == win ? k->win_ns[0] : 0;
}

/* Index of site in L's table at monotonic time now.  A new site takes a
 * free slot; when all AAP_SITES_MAX are taken it takes the slot with the
 * least blocked time in the last one or two windows (ties: the one
 * charged longest ago), whose series then disappears.  Slots charged in
 * the episode in progress are never given up; if no other slot is left
 * the site is counted as "other".  Called with L->lock held. */
static int site_index(aap_loop *L, const char *site, uint64_t now)
{
    uint64_t win = now / SITE_WINDOW_NS, best_recent = 0;
    site_slot *k;
    int i, victim = -1;

    for (i = 0; i < L->nsites; i++) {
        if (strcmp(L->sites[i].site, site) == 0) {
            return i;
        }
    }
    if (L->nsites < AAP_SITES_MAX) {
        victim = L->nsites++;
    } else {
        for (i = 0; i < AAP_SITES_MAX; i++) {
            uint64_t r = site_recent(&L->sites[i], win);

            if (L->ep_open && (L->ep_site_ns[i] || i == L->ep_last_site)) {
                continue;
            }
            if (victim < 0 || r < best_recent ||
                (r == best_recent &&
                 L->sites[i].last_ns < L->sites[victim].last_ns)) {
                victim = i;
                best_recent = r;
            }
        }
        if (victim < 0) {
            return AAP_SITES_MAX;
        }
    }
    k = &L->sites[victim];
    snprintf(k->site, AAP_SITE_LEN, "%s", site);
    atomic_store_explicit(&k->ns, 0, memory_order_relaxed);
    k->win = win;
    k->win_ns[0] = k->win_ns[1] = 0;
    k->last_ns = now;
    L->ep_site_ns[victim] = 0;
    return victim;
}

/* Charge d ns of blocked time, ending at now, to slot site. */
static void site_charge(aap_loop *L, int site, uint64_t now, uint64_t d)
{
    site_slot *k = &L->sites[site];
    uint64_t win = now / SITE_WINDOW_NS;

    if (win < k->win) {
        win = k->win; /* the loop thread's clock read before a sample's */
    }
    if (k->win != win) {
        k->win_ns[1] = k->win + 1 == win ? k->win_ns[0] : 0;
        k->win_ns[0] = 0;
        k->win = win;
    }
    k->win_ns[0] += d;
    k->last_ns = now;
    atomic_fetch_add_explicit(&k->ns, d, memory_order_relaxed);
}

static void attribute(aap_loop *L, int site, uint64_t until)
{
    uint64_t d;

    if (site < 0 || until <= L->ep_attributed) {
        return;
    }
    d = until - L->ep_attributed;
    site_charge(L, site, until, d);
    L->ep_site_ns[site] += d;
    L->ep_attributed = until;
}

void aap_loop_site_charge(aap_loop *L, const char *site, uint64_t now,
                          uint64_t ns)
{
    pthread_mutex_lock(&L->lock);
    site_charge(L, site_index(L, site, now), now, ns);
    pthread_mutex_unlock(&L->lock);
}

static char *stack_text(const aap_stack *st)
{
    aat_buf t;
    int i;

    aat_buf_init(&t, AAP_TEXT_MAX);
    for (i = st->n - 1; i >= 0; i--) {
        char line[AAP_SITE_LEN];

        site_format(&st->frames[i], line, sizeof(line));
        aat_buf_appendf(&t, "%s%s", line, i ? "\n" : "");
    }
    if (t.failed || !t.data) {
        aat_buf_release(&t);
        return NULL;
    }
    return t.data;
}

static void ep_discard(aap_loop *L)
{
    free(L->ep_stack);
    L->ep_stack = NULL;
    L->ep_open = 0;
}

/* Called with L->lock held: the watchdog saw stretch seq (begun at bs) past
 * the threshold at now, with stack st (NULL when stacks are off). */
static void ep_sample(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                      const aap_stack *st)
{
    int site = -1;

    if (L->ep_open && L->ep_seq != seq) {
        ep_discard(L);
    }
    if (!L->ep_open) {
        L->ep_open = 1;
        L->ep_seq = seq;
        L->ep_start_ns = bs;
        L->ep_detect_ns = now - bs;
        L->ep_start_wall = aap_wall_now() - (double)(now - bs) / 1e9;
        L->ep_attributed = bs;
        L->ep_last_site = -1;
        memset(L->ep_site_ns, 0, sizeof(L->ep_site_ns));
        if (st && st->n > 0) {
            L->ep_stack = stack_text(st);
        }
    }
    if (st && st->n > 0) {
        char s[AAP_SITE_LEN];

        site_format(&st->frames[aap_stack_site_frame(st, &L->site_rules)], s,
                    sizeof(s));
        site = site_index(L, s, now);
    } else {
        site = L->ep_last_site;
    }
    if (site >= 0) {
        attribute(L, site, now);
        L->ep_last_site = site;
    }
}

/* Called with L->lock held by the loop thread: stretch seq ended at now. */
static void ep_finish(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now)
{
    episode *e;
    int best = -1, i;

    e = &L->ring[(L->ring_head + L->ring_n) % RING_MAX];
    if (L->ring_n == RING_MAX) {
        e = &L->ring[L->ring_head];
        L->ring_head = (L->ring_head + 1) % RING_MAX;
        free(e->stack);
    } else {
        L->ring_n++;
    }
    memset(e, 0, sizeof(*e));
    e->duration_ns = now - bs;
    e->detect_ns = -1;
    if (L->ep_open && L->ep_seq == seq) {
        attribute(L, L->ep_last_site, now);
        for (i = 0; i <= AAP_SITES_MAX; i++) {
            if (L->ep_site_ns[i] &&
                (best < 0 || L->ep_site_ns[i] > L->ep_site_ns[best])) {
                best = i;
            }
        }
        e->start = L->ep_start_wall;
        e->detect_ns = (int64_t)L->ep_detect_ns;
        e->stack = L->ep_stack;
        L->ep_stack = NULL;
        L->ep_open = 0;
    } else {
        if (L->ep_open) {
            ep_discard(L);
        }
        e->start = aap_wall_now() - (double)(now - bs) / 1e9;
    }
    if (best >= 0) {
        snprintf(e->site, sizeof(e->site), "%s",
                 best == AAP_SITES_MAX ? "other" : L->sites[best].site);
    }
}

static void watchdog_sample(aap_loop *L, uint64_t seq, uint64_t bs,
                            aap_stack *st)
{
    int have = 0;

    if (L->stacks && L->layout && L->layout->supported) {
        have = aap_stack_capture(L->layout, atomic_load(&L->tstate), st) > 0;
    }
    pthread_mutex_lock(&L->lock);
    if (atomic_load_explicit(&L->seq, memory_order_acquire) == seq &&
        atomic_load_explicit(&L->busy_since, memory_order_acquire) == bs) {
        ep_sample(L, seq, bs, aap_now_ns(), have ? st : NULL);
    }
    pthread_mutex_unlock(&L->lock);
}

static void *watchdog_main(void *arg)
{
    aap_stack *st = arg;

    pthread_mutex_lock(&reg_lock);
    while (!wd_cancel) {
        uint64_t now = aap_now_ns();
        uint64_t next = now + 1000000000ull;
        struct timespec ts;
        aap_loop *L;

        for (L = reg_head; L; L = L->next) {
            uint64_t bs, seq, cand;

            seq = atomic_load_explicit(&L->seq, memory_order_acquire);
            bs = atomic_load_explicit(&L->busy_since, memory_order_acquire);
            if (bs == 0 || atomic_load(&L->stopping)) {
                cand = now + L->threshold_ns / 2;
            } else if (now < bs + L->threshold_ns) {
                cand = bs + L->threshold_ns;
            } else {
                if (L->wd_seq != seq || now >= L->wd_next) {
                    watchdog_sample(L, seq, bs, st);
                    now = aap_now_ns();
                    L->wd_seq = seq;
                    L->wd_next = now + L->threshold_ns;
                }
                cand = L->wd_next;
            }
            if (cand < next) {
                next = cand;
            }
        }
        now = aap_now_ns();
        if (next < now + 200000) {
            next = now + 200000;
        }
        ts.tv_sec = (time_t)(next / 1000000000u);
        ts.tv_nsec = (long)(next % 1000000000u);
        pthread_cond_timedwait(&wd_cond, &reg_lock, &ts);
    }
    pthread_mutex_unlock(&reg_lock);
    free(st);
    return NULL;
}

/* Called with reg_lock held. */
static int watchdog_start_locked(void)
{
    sigset_t all, old;
    aap_stack *st;
    int rc;

    if (wd_running) {
        return 0;
    }
    st = malloc(sizeof(*st));
    if (!st) {
        return AAP_ENOMEM;
    }
    wd_cancel = 0;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&wd_thread, NULL, watchdog_main, st);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free(st);
        return AAP_ETHREAD;
    }
    wd_running = 1;
    return 0;
}

/* Stop and join the watchdog; must be called without reg_lock. */
static void watchdog_stop(void)
{
    pthread_t t;

    pthread_mutex_lock(&reg_lock);
    if (!wd_running) {
        pthread_mutex_unlock(&reg_lock);
        return;
    }
    wd_cancel = 1;
    wd_running = 0;
    t = wd_thread;
    pthread_cond_broadcast(&wd_cond);
    pthread_mutex_unlock(&reg_lock);
    pthread_join(t, NULL);
}

/* ---- loops ---------------------------------------------------------- */

static void loop_reset(aap_loop *L)
{
    size_t i;
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
    for (k = 0; k <= AAP_SITES_MAX; k++) {
        atomic_store(&L->sites[k].ns, 0);
        L->sites[k].win = 0;
        L->sites[k].win_ns[0] = L->sites[k].win_ns[1] = 0;
        L->sites[k].last_ns = 0;
    }
    L->nsites = 0;
    if (L->ep_open) {
        ep_discard(L);
    }
    for (i = 0; i < L->ring_n; i++) {
        free(L->ring[(L->ring_head + i) % RING_MAX].stack);
    }
    L->ring_head = L->ring_n = 0;
    L->wd_seq = 0;
    L->wd_next = 0;
}

/* Two loops in threads of the same name get "name#2", ... so their
 * series stay distinct.  Called with reg_lock held. */
static void unique_name(aap_loop *L)
{
    char base[48];
    aap_loop *o;
    int k = 1, clash = 1;

    snprintf(base, sizeof(base), "%.40s", L->name);
    while (clash) {
        clash = 0;
        for (o = reg_head; o; o = o->next) {
            if (strcmp(o->name, L->name) == 0) {
                clash = 1;
                break;
            }
        }
        if (clash) {
            snprintf(L->name, sizeof(L->name), "%s#%d", base, ++k);
        }
    }
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
    pthread_once(&atfork_once, atfork_setup);
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

    pthread_mutex_lock(&reg_lock);
    unique_name(L);
    rc = watchdog_start_locked();
    if (rc < 0) {
        pthread_mutex_unlock(&reg_lock);
        pthread_mutex_destroy(&L->lock);
        free(L);
        return rc;
    }
    L->next = reg_head;
    reg_head = L;
    reg_n++;
    pthread_cond_broadcast(&wd_cond);
    pthread_mutex_unlock(&reg_lock);
    *out = L;
    return 0;
}

void aap_loop_free(aap_loop *L)
{
    aap_loop **pp;
    int last;

    if (!L) {
        return;
    }
    pthread_mutex_lock(&reg_lock);
    for (pp = &reg_head; *pp; pp = &(*pp)->next) {
        if (*pp == L) {
            *pp = L->next;
            reg_n--;
            break;
        }
    }
    last = reg_n == 0;
    pthread_mutex_unlock(&reg_lock);
    if (last) {
        watchdog_stop();
    }
    loop_reset(L);
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
        ep_finish(L, seq, bs, now);
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

static double current_block(aap_loop *L, uint64_t now)
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
    s->current_block = current_block(L, aap_now_ns());
    s->ready = atomic_load(&L->ready);
    s->tasks = atomic_load(&L->tasks);
    s->tasks_created = atomic_load(&L->tasks_created);
    for (k = 0; k < AAP_EXEC_N; k++) {
        exec_state *e = &L->exec[k];

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

void aap_loop_sites(aap_loop *L, aap_site_value *out, size_t max, size_t *n)
{
    int i;

    *n = 0;
    pthread_mutex_lock(&L->lock);
    for (i = 0; i <= AAP_SITES_MAX && *n < max; i++) {
        uint64_t ns = atomic_load(&L->sites[i].ns);

        if (i < L->nsites || (i == AAP_SITES_MAX && ns)) {
            snprintf(out[*n].site, AAP_SITE_LEN, "%s", L->sites[i].site);
            out[*n].seconds = (double)ns / 1e9;
            (*n)++;
        }
    }
    pthread_mutex_unlock(&L->lock);
}

int aap_loop_blocks(aap_loop *L, aap_episode_info **out, size_t *n)
{
    aap_episode_info *v;
    size_t i, k = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    v = calloc(RING_MAX + 1, sizeof(*v));
    if (!v) {
        return AAP_ENOMEM;
    }
    pthread_mutex_lock(&L->lock);
    for (i = 0; i < L->ring_n; i++) {
        episode *e = &L->ring[(L->ring_head + i) % RING_MAX];

        v[k].start = e->start;
        v[k].duration = (double)e->duration_ns / 1e9;
        v[k].detected_after =
            e->detect_ns < 0 ? -1.0 : (double)e->detect_ns / 1e9;
        snprintf(v[k].site, AAP_SITE_LEN, "%s", e->site);
        if (e->stack && !(v[k].stack = strdup(e->stack))) {
            rc = AAP_ENOMEM;
        }
        k++;
    }
    if (L->ep_open) {
        uint64_t now = aap_now_ns();

        v[k].start = L->ep_start_wall;
        v[k].duration = (double)(now - L->ep_start_ns) / 1e9;
        v[k].ongoing = 1;
        v[k].detected_after = (double)L->ep_detect_ns / 1e9;
        if (L->ep_last_site >= 0) {
            snprintf(v[k].site, AAP_SITE_LEN, "%s",
                     L->sites[L->ep_last_site].site);
        }
        if (L->ep_stack && !(v[k].stack = strdup(L->ep_stack))) {
            rc = AAP_ENOMEM;
        }
        k++;
    }
    pthread_mutex_unlock(&L->lock);
    if (rc < 0) {
        aap_episodes_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

void aap_episodes_free(aap_episode_info *e, size_t n)
{
    size_t i;

    if (!e) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(e[i].stack);
    }
    free(e);
}

/* ---- rendering ------------------------------------------------------ */

/* Labels of L: 'loop="name"' when several loops are registered. */
static void loop_labels(aat_buf *t, const aap_loop *L, const char *extra)
{
    t->len = 0;
    if (t->data) {
        t->data[0] = '\0';
    }
    aat_buf_append(t, "", 0);
    if (reg_n > 1) {
        aat_buf_append(t, "loop=\"", 6);
        aat_buf_escape(t, L->name, true);
        aat_buf_append(t, "\"", 1);
    }
    if (extra && extra[0]) {
        if (reg_n > 1) {
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

static void sample(aat_buf *t, const char *name, const aat_buf *lab,
                   double v)
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
    for (L = reg_head; L; L = L->next) {
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
            sample(t, name, lab, current_block(L, now));
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
    for (L = reg_head; L; L = L->next) {
        for (k = 0; k < AAP_EXEC_N; k++) {
            exec_state *e = &L->exec[k];
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
    pthread_mutex_lock(&reg_lock);
    if (reg_head) {
        for (f = 0; f < sizeof(loop_families) / sizeof(loop_families[0]);
             f++) {
            render_loop_family(t, &lab, (int)f, now);
        }
        for (f = 0; f < sizeof(exec_families) / sizeof(exec_families[0]);
             f++) {
            render_exec_family(t, &lab, (int)f);
        }
    }
    pthread_mutex_unlock(&reg_lock);
    aap_http_render(t);
    if (lab.failed) {
        t->failed = 1;
    }
    aat_buf_release(&lab);
    return t->failed ? AAP_ETOOBIG : 0;
}

static json_t *stack_json(const char *stack)
{
    json_t *a = json_array();
    const char *p = stack;

    if (!a) {
        return NULL;
    }
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);

        json_array_append_new(a, json_stringn(p, n));
        p = nl ? nl + 1 : NULL;
    }
    return a;
}

int aap_render_blocks(aat_buf *t)
{
    json_t *root = json_object(), *list = json_array();
    aap_loop *L;
    char *s;
    int rc = 0;

    if (!root || !list) {
        json_decref(root);
        json_decref(list);
        return AAP_ENOMEM;
    }
    json_object_set_new(root, "blocks", list);
    pthread_mutex_lock(&reg_lock);
    for (L = reg_head; L; L = L->next) {
        aap_episode_info *v;
        size_t n, i;

        if (aap_loop_blocks(L, &v, &n) < 0) {
            rc = AAP_ENOMEM;
            break;
        }
        for (i = 0; i < n; i++) {
            json_t *e = json_pack(
                "{s:s, s:f, s:f, s:b, s:s, s:o, s:f, s:o}", "loop", L->name,
                "start", v[i].start, "duration", v[i].duration, "ongoing",
                v[i].ongoing, "site", v[i].site, "stack",
                stack_json(v[i].stack), "threshold",
                (double)L->threshold_ns / 1e9, "detected_after",
                v[i].detected_after < 0 ? json_null()
                                        : json_real(v[i].detected_after));

            if (e) {
                json_array_append_new(list, e);
            }
        }
        aap_episodes_free(v, n);
    }
    pthread_mutex_unlock(&reg_lock);
    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s) {
        return AAP_ENOMEM;
    }
    aat_buf_append(t, s, strlen(s));
    aat_buf_append(t, "\n", 1);
    free(s);
    if (rc == 0 && t->failed) {
        rc = AAP_ETOOBIG;
    }
    return rc;
}

/* ---- process lifecycle --------------------------------------------- */

void aap_shutdown(void)
{
    aap_exporter_stop();
    watchdog_stop();
}

int aap_after_fork_restart(void)
{
    int rc = 0;

    pthread_mutex_lock(&reg_lock);
    if (reg_head) {
        rc = watchdog_start_locked();
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}
