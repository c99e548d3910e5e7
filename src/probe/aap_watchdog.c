/*
 * aap_watchdog.c: the thread that notices a loop is blocked while it is
 * still blocked.
 *
 * The loop thread only publishes "busy since" (aap_loop.c).  This thread
 * sleeps until the earliest moment any loop could cross its threshold;
 * when a busy stretch is past it, it reads the loop thread's Python stack
 * (aap_stack.c, no GIL needed) and hands the sample to the episode
 * bookkeeping (aap_episode.c), then resamples every threshold interval.
 * It never touches a Python object.  It holds the registry lock only to
 * walk the list; a capture runs with the loop pinned and the lock
 * dropped, into buffers allocated once when the thread starts.  All
 * signals are blocked in it; it stops through wd_cancel plus the
 * condition variable and is joined.
 */
#include "aap_int.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>

typedef struct wd_buffers {
    aap_stack stack;
    aap_stack_scratch *scratch;
} wd_buffers;

static pthread_cond_t wd_cond;
static pthread_once_t wd_cond_once = PTHREAD_ONCE_INIT;
static int wd_running;
static int wd_cancel;
static pthread_t wd_thread;

static void cond_init(void)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cond, &a);
    pthread_condattr_destroy(&a);
}

/* One sample of a loop seen past its threshold in stretch seq begun at
 * bs; without aap_reg_lock, L pinned. */
static void sample(aap_loop *L, uint64_t seq, uint64_t bs, wd_buffers *b)
{
    int have = 0;

    if (L->stacks && L->layout && L->layout->supported && b->scratch) {
        have = aap_stack_capture(L->layout, atomic_load(&L->tstate), &b->stack,
                                 b->scratch) > 0;
    }
    pthread_mutex_lock(&L->lock);
    if (atomic_load_explicit(&L->seq, memory_order_acquire) == seq &&
        atomic_load_explicit(&L->busy_since, memory_order_acquire) == bs) {
        aap_ep_sample(L, seq, bs, aap_now_ns(), have ? &b->stack : NULL);
    }
    pthread_mutex_unlock(&L->lock);
}

static void *watchdog_main(void *arg)
{
    wd_buffers *b = arg;

    pthread_mutex_lock(&aap_reg_lock);
    while (!wd_cancel) {
        uint64_t now = aap_now_ns();
        uint64_t next = now + 1000000000ull;
        uint64_t seq = 0, bs = 0;
        aap_loop *L, *due = NULL;
        struct timespec ts;

        for (L = aap_reg_head; L; L = L->next) {
            uint64_t lbs, lseq, cand;

            lseq = atomic_load_explicit(&L->seq, memory_order_acquire);
            lbs = atomic_load_explicit(&L->busy_since, memory_order_acquire);
            if (lbs == 0 || atomic_load(&L->stopping)) {
                cand = now + L->threshold_ns / 2;
            } else if (now < lbs + L->threshold_ns) {
                cand = lbs + L->threshold_ns;
            } else if (!due && (L->wd_seq != lseq || now >= L->wd_next)) {
                due = L;
                seq = lseq;
                bs = lbs;
                cand = now;
            } else {
                cand = L->wd_next;
            }
            if (cand < next) {
                next = cand;
            }
        }
        if (due) {
            /* sample with the list unlocked, then walk it again: it may
             * have changed meanwhile */
            aap_loop_pin(due);
            pthread_mutex_unlock(&aap_reg_lock);
            sample(due, seq, bs, b);
            pthread_mutex_lock(&aap_reg_lock);
            aap_loop_unpin(due);
            due->wd_seq = seq;
            due->wd_next = aap_now_ns() + due->threshold_ns;
            continue;
        }
        now = aap_now_ns();
        if (next < now + 200000) {
            next = now + 200000;
        }
        ts.tv_sec = (time_t)(next / 1000000000u);
        ts.tv_nsec = (long)(next % 1000000000u);
        pthread_cond_timedwait(&wd_cond, &aap_reg_lock, &ts);
    }
    pthread_mutex_unlock(&aap_reg_lock);
    aap_stack_scratch_free(b->scratch);
    free(b);
    return NULL;
}

int aap_watchdog_start_locked(void)
{
    sigset_t all, old;
    wd_buffers *b;
    int rc;

    pthread_once(&wd_cond_once, cond_init);
    if (wd_running) {
        return 0;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        return AAP_ENOMEM;
    }
    b->scratch = aap_stack_scratch_new();
    if (!b->scratch) {
        free(b);
        return AAP_ENOMEM;
    }
    wd_cancel = 0;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&wd_thread, NULL, watchdog_main, b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        aap_stack_scratch_free(b->scratch);
        free(b);
        return AAP_ETHREAD;
    }
    wd_running = 1;
    return 0;
}

void aap_watchdog_wake_locked(void)
{
    pthread_cond_broadcast(&wd_cond);
}

void aap_watchdog_stop(void)
{
    pthread_t t;

    pthread_mutex_lock(&aap_reg_lock);
    if (!wd_running) {
        pthread_mutex_unlock(&aap_reg_lock);
        return;
    }
    wd_cancel = 1;
    wd_running = 0;
    t = wd_thread;
    pthread_cond_broadcast(&wd_cond);
    pthread_mutex_unlock(&aap_reg_lock);
    pthread_join(t, NULL);
}

void aap_watchdog_fork_child(void)
{
    /* the thread and whatever it was waiting on are gone; its buffers are
     * leaked in the child (a few hundred KiB at most, once) */
    cond_init();
    wd_running = 0;
    wd_cancel = 0;
}
