/*
 * aap_watchdog.c: the thread that notices a loop is blocked while it is
 * still blocked.
 *
 * The loop thread only publishes "busy since" (aap_loop.c).  This thread
 * sleeps until the earliest moment any loop could cross its threshold;
 * when a busy stretch is past it, it reads the loop thread's Python stack
 * (aap_stack.c, no GIL needed), what that thread waits for in the kernel
 * (aap_syscall.c) and, when that is the GIL, the stack of the thread
 * holding it (aap_gil.c), names the culprits (aap_culprit.c) and hands the
 * sample to the episode bookkeeping (aap_episode.c); it resamples every
 * eighth of the threshold (at least 2 ms apart) while the stretch lasts,
 * less often as the callback ages (aap_watchdog_resample_ns).
 * When the callback in progress (the segment, aap_loop_mark) is half the
 * threshold old it notes how long the loop thread has waited on the CPU
 * run queue so far (schedstat), the baseline against which a segment past
 * the threshold is told apart from host CPU starvation.
 * A loop that is not busy (or is stopped) is not polled: the watchdog
 * marks it parked and sleeps, and the loop thread's next stretch wakes
 * it (aap_watchdog_stretch_began).  Polling it every half threshold cost
 * every idle worker 40 wake-ups a second (docs/benchmarks.md, 9c).
 * It never touches a Python object.  It holds the registry lock only to
 * walk the list; a capture runs with the loop pinned and the lock
 * dropped, into buffers allocated once when the thread starts.  All
 * signals are blocked in it; it stops through wd_cancel plus the
 * condition variable and is joined.
 */
#include "aap_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct wd_buffers {
    aap_stack stack;  /* the loop thread's */
    aap_stack holder; /* the GIL holder's */
    aap_sample s;
    aap_stack_scratch *scratch;
} wd_buffers;

/* Resampling interval of a stretch past threshold t whose callback (or,
 * where callbacks are not told apart, the busy stretch) is age old:
 * t/8, at least 2 ms, at most t; once the callback is 64 intervals old,
 * a 64th of its age, at most 1 s.  A sample charges the time since the
 * previous one, so the shares stay right while a loop frozen for minutes
 * costs a few captures a second instead of hundreds (each capture is a
 * few hundred reads of the loop thread's memory). */
uint64_t aap_watchdog_resample_ns(uint64_t t, uint64_t age)
{
    uint64_t r = t / 8, slow = age / 64;

    if (r < 2000000u) {
        r = 2000000u;
    }
    if (r > t) {
        r = t;
    }
    if (slow > 1000000000u) {
        slow = 1000000000u;
    }
    return slow > r ? slow : r;
}

static pthread_cond_t wd_cond;
static pthread_once_t wd_cond_once = PTHREAD_ONCE_INIT;
static int wd_running;
static int wd_cancel;
static pthread_t wd_thread;
static _Atomic uint64_t wd_max_sleep_ns = 1000000000u;
static _Atomic uint64_t wd_wakeups;

void aap_watchdog_set_max_sleep_ns(uint64_t ns)
{
    atomic_store(&wd_max_sleep_ns, ns);
}

uint64_t aap_watchdog_wakeups(void)
{
    return atomic_load(&wd_wakeups);
}

/* busy_since was stored seq_cst, and park() stores the mark and loads
 * busy_since seq_cst: in their single total order either the watchdog's
 * look sees busy_since (it then watches the stretch) or this load sees
 * the mark (and wakes it).  The lock makes the signal reach it in its
 * wait, not before.  (No fences: GCC's TSan does not model them.) */
void aap_watchdog_stretch_began(aap_loop *L)
{
    if (atomic_load(&L->wd_parked) && atomic_exchange(&L->wd_parked, 0)) {
        pthread_mutex_lock(&aap_reg_lock);
        pthread_cond_broadcast(&wd_cond);
        pthread_mutex_unlock(&aap_reg_lock);
    }
}

/* With aap_reg_lock held: whether L, seen idle (busy_since bs == 0, or
 * stopping), may be left alone until it wakes the watchdog. */
static int park(aap_loop *L)
{
    atomic_store(&L->wd_parked, 1);
    return atomic_load(L->busy_since) == 0 || atomic_load(L->stopping);
}

static void cond_init(void)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cond, &a);
    pthread_condattr_destroy(&a);
}

/* Note the loop thread's run-queue wait as the baseline of segment m
 * (read before and after, so it belongs to that segment).  Without any
 * lock; L pinned. */
static void baseline(aap_loop *L, uint64_t m)
{
    long tid = atomic_load_explicit(&L->tid, memory_order_relaxed);
    uint64_t at = aap_now_ns();
    aap_schedstat st;

    if (tid > 0 && L->sched(tid, &st, L->sched_ctx) == 0 &&
        atomic_load_explicit(&L->mark, memory_order_acquire) == m) {
        atomic_store_explicit(&L->base_wait, st.wait_ns, memory_order_relaxed);
        atomic_store_explicit(&L->base_run, st.run_ns, memory_order_relaxed);
        atomic_store_explicit(&L->base_at, at, memory_order_relaxed);
        atomic_store_explicit(&L->base_mark, m, memory_order_release);
    }
}

/*
 * Whether segment seg, in progress at now, has less than the threshold of
 * its own time so far: its length less the loop thread's garbage
 * collections in it (the one running included) and, while the thread is
 * runnable (running, or waiting on the run queue: not in a system call),
 * less the time it did not run since the baseline.  The kernel adds a
 * run-queue wait to schedstat only once the wait is over, so while it
 * lasts the CPU time run since the baseline is what says it: extrapolated
 * over the segment.  0 when unknown (never short by a guess).
 */
static int seg_short(aap_loop *L, uint64_t seg, uint64_t now, long tid,
                     int runnable)
{
    uint64_t gc = atomic_load_explicit(&L->seg_gc, memory_order_relaxed);
    uint64_t since = atomic_load_explicit(&L->gc_since, memory_order_relaxed);
    double own;
    aap_schedstat st;

    if (!seg || now <= seg) {
        return 0;
    }
    if (since >= seg && now > since) {
        gc += now - since;
    }
    own = (double)(now - seg);
    if (runnable && tid > 0 &&
        atomic_load_explicit(&L->base_mark, memory_order_acquire) == seg &&
        L->sched(tid, &st, L->sched_ctx) == 0) {
        uint64_t br = atomic_load_explicit(&L->base_run, memory_order_relaxed);
        uint64_t bt = atomic_load_explicit(&L->base_at, memory_order_relaxed);

        if (now > bt && st.run_ns >= br) {
            double cpu = (double)(st.run_ns - br) / (double)(now - bt);

            own *= cpu < 1.0 ? cpu : 1.0;
        }
    }
    return own - (double)gc < (double)L->threshold_ns;
}

/* What the loop thread of L is doing now: the segment in progress, its
 * stack and culprit, and whether it waits for the GIL, then who holds
 * it.  Without any lock; L pinned (its rules and layout do not change
 * while it lives). */
static void observe(aap_loop *L, wd_buffers *b)
{
    const aap_pylayout *lay = L->layout;
    uintptr_t ts = atomic_load(&L->tstate);
    aap_sample *s = &b->s;
    aap_gil_state gil;
    aap_ksample k;
    uint64_t futex = 0;
    int wait = AAP_KW_UNKNOWN;
    long tid = 0;

    memset(s, 0, sizeof(*s));
    s->own.frame = s->holder.frame = -1;
    s->seg = atomic_load_explicit(&L->mark, memory_order_acquire);
    s->in_gc = atomic_load_explicit(&L->gc_since, memory_order_relaxed) != 0;
    if (!L->stacks || !lay || !lay->supported || !b->scratch) {
        return;
    }
    if (aap_stack_capture(lay, ts, &b->stack, b->scratch) > 0) {
        s->stack = &b->stack;
    }
    if (aap_tstate_native_id(lay, ts, &tid) == 0 &&
        aap_syscall_read(tid, &k) == 0) {
        wait = aap_kstate_wait(&k, aap_fd_kind, NULL, &futex);
    }
    s->seg_short = seg_short(L, s->seg, aap_now_ns(), tid, wait == AAP_KW_CPU);
    if (aap_gil_read(lay, ts, &gil) == 0 && gil.holder && gil.holder != ts) {
        int req = aap_tstate_gil_requested(lay, ts), tries = 3;

        /* "running" while another thread holds the GIL is mostly a thread
         * just woken in the GIL's wait loop, or runnable and not yet on a
         * CPU of a busy machine: look again shortly */
        while (wait == AAP_KW_CPU && gil.locked && req < 0 && tries-- > 0 &&
               aap_syscall_read(tid, &k) == 0) {
            struct timespec pause = {0, 200000};

            wait = aap_kstate_wait(&k, aap_fd_kind, NULL, &futex);
            if (wait == AAP_KW_CPU) {
                nanosleep(&pause, NULL);
            }
        }
        if (wait == AAP_KW_FUTEX) {
            s->gil_wait = aap_gil_contains(&gil, futex);
        } else if (req >= 0) {
            s->gil_wait = req; /* 3.15+: the thread state says it waits */
        } else if (wait == AAP_KW_UNKNOWN) {
            s->gil_wait = gil.locked; /* no /proc: a GIL held elsewhere */
        }
    }
    if (s->gil_wait) {
        if (aap_tstate_native_id(lay, gil.holder, &s->holder_tid) == 0) {
            aap_thread_name(s->holder_tid, s->holder_name,
                            sizeof(s->holder_name));
        }
        if (!s->holder_name[0]) {
            snprintf(s->holder_name, sizeof(s->holder_name), "unknown");
        }
        if (aap_stack_capture(lay, gil.holder, &b->holder, b->scratch) > 0) {
            aap_culprit_of(&b->holder, &L->in_app, AAP_CLASS_CPU, &s->holder);
        }
    }
    if (s->stack) {
        aap_culprit_of(s->stack, &L->in_app, aap_class_of_wait(wait), &s->own);
    }
}

/* One sample of a loop seen past its threshold in stretch seq begun at
 * bs; without aap_reg_lock, L pinned. */
static void sample(aap_loop *L, uint64_t seq, uint64_t bs, wd_buffers *b)
{
    observe(L, b);
    pthread_mutex_lock(&L->lock);
    if (atomic_load_explicit(&L->seq, memory_order_acquire) == seq &&
        atomic_load_explicit(L->busy_since, memory_order_acquire) == bs) {
        aap_ep_sample(L, seq, bs, aap_now_ns(), &b->s);
    }
    pthread_mutex_unlock(&L->lock);
}

static void *watchdog_main(void *arg)
{
    wd_buffers *b = arg;

    pthread_mutex_lock(&aap_reg_lock);
    while (!wd_cancel) {
        uint64_t now = aap_now_ns();
        uint64_t next = now + atomic_load(&wd_max_sleep_ns);
        uint64_t seq = 0, bs = 0, mark = 0;
        int want_sample = 0, want_base = 0;
        aap_loop *L, *due = NULL;
        struct timespec ts;

        for (L = aap_reg_head; L; L = L->next) {
            uint64_t lbs, lseq, lmark, cand, half = L->threshold_ns / 2;
            int base = 0, smp = 0;

            lseq = atomic_load_explicit(&L->seq, memory_order_acquire);
            lbs = atomic_load_explicit(L->busy_since, memory_order_acquire);
            lmark = atomic_load_explicit(&L->mark, memory_order_acquire);
            if ((lbs == 0 || atomic_load(L->stopping)) && park(L)) {
                cand = UINT64_MAX; /* it wakes us when a stretch begins */
            } else if (lbs == 0 || atomic_load(L->stopping)) {
                cand = now; /* it just began one: look again */
            } else {
                cand = UINT64_MAX;
                if (lmark && L->wd_base != lmark) {
                    if (now >= lmark + half) {
                        base = 1;
                    } else {
                        cand = lmark + half;
                    }
                }
                if (now < lbs + L->threshold_ns) {
                    if (lbs + L->threshold_ns < cand) {
                        cand = lbs + L->threshold_ns;
                    }
                } else if (L->wd_seq != lseq || now >= L->wd_next) {
                    smp = 1;
                } else if (L->wd_next < cand) {
                    cand = L->wd_next;
                }
                if ((base || smp) && !due) {
                    due = L;
                    seq = lseq;
                    bs = lbs;
                    mark = lmark;
                    want_base = base;
                    want_sample = smp;
                } else if (base || smp) {
                    cand = now;
                }
            }
            if (cand < next) {
                next = cand;
            }
        }
        if (due) {
            /* look with the list unlocked, then walk it again: it may
             * have changed meanwhile */
            aap_loop_pin(due);
            pthread_mutex_unlock(&aap_reg_lock);
            if (want_base) {
                baseline(due, mark);
            }
            if (want_sample) {
                sample(due, seq, bs, b);
            }
            pthread_mutex_lock(&aap_reg_lock);
            aap_loop_unpin(due);
            if (want_base) {
                due->wd_base = mark;
            }
            if (want_sample) {
                uint64_t at = aap_now_ns(), from = mark > bs ? mark : bs;

                due->wd_seq = seq;
                due->wd_next =
                    at + aap_watchdog_resample_ns(due->threshold_ns,
                                                  at > from ? at - from : 0);
            }
            continue;
        }
        now = aap_now_ns();
        if (next < now + 200000) {
            next = now + 200000;
        }
        ts.tv_sec = (time_t)(next / 1000000000u);
        ts.tv_nsec = (long)(next % 1000000000u);
        pthread_cond_timedwait(&wd_cond, &aap_reg_lock, &ts);
        atomic_fetch_add_explicit(&wd_wakeups, 1, memory_order_relaxed);
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
