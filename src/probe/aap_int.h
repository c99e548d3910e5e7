/*
 * aap_int.h: declarations shared by the probe's own C files and by nothing
 * else (the extension and the tests use aap.h).  It defines the per-loop
 * state and names the one lock order of the library:
 *
 *     aap_reg_lock  ->  aap_loop.lock  ->  (http table lock)
 *
 * The registry lock guards the list of loops and is held only for list
 * walks; a thread that works on one loop for long (the watchdog capturing
 * a stack, the renderer) pins it with aap_loop_pin() and drops the
 * registry lock, so aap_loop_free() waits for the pin instead of the
 * capture holding every other loop up.
 */
#ifndef AAP_INT_H
#define AAP_INT_H

#include "aap.h"

#include <pthread.h>

#define AAP_RING_MAX 32

typedef struct aap_exec_state {
    _Atomic int enabled;
    _Atomic int64_t pending, busy, max_workers;
    aap_hist wait, run;
} aap_exec_state;

/* One slot of a loop's site table (aap_sites.c). */
typedef struct aap_site_slot {
    char site[AAP_SITE_LEN];
    _Atomic uint64_t ns; /* exported counter */
    uint64_t win;        /* window index win_ns[0] belongs to */
    uint64_t win_ns[2];  /* blocked time in window win and win - 1 */
    uint64_t last_ns;    /* last time anything was charged */
} aap_site_slot;

/* A finished episode in a loop's ring (aap_episode.c). */
typedef struct aap_episode {
    double start;
    uint64_t duration_ns;
    int64_t detect_ns; /* -1: the watchdog never saw it */
    char site[AAP_SITE_LEN];
    char *stack;
} aap_episode;

struct aap_loop {
    aap_loop *next; /* registry list, guarded by aap_reg_lock */
    int pins;       /* guarded by aap_reg_lock */
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
    aap_exec_state exec[AAP_EXEC_N];

    _Atomic int stopping; /* stop() called, loop not yet running again */
    uint64_t stop_ns;

    /* loop thread only */
    uint64_t stopped_at_arm;

    /* guarded by lock */
    pthread_mutex_t lock;
    aap_site_slot sites[AAP_SITES_MAX + 1]; /* [AAP_SITES_MAX] is "other" */
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
    aap_episode ring[AAP_RING_MAX];
    size_t ring_head, ring_n;

    /* watchdog thread only */
    uint64_t wd_seq;
    uint64_t wd_next;
};

/* ---- registry (aap_registry.c) ----------------------------------------- */

extern pthread_mutex_t aap_reg_lock;
extern aap_loop *aap_reg_head;
extern size_t aap_reg_n;

/* Adds L (unique name, watchdog started); 0 or a negative aap_err. */
int aap_reg_add(aap_loop *L);
/* Removes L and waits until no thread pins it; returns 1 when it was the
 * last loop.  Called without aap_reg_lock. */
int aap_reg_remove(aap_loop *L);
/* With aap_reg_lock held: keep L alive after the lock is dropped. */
void aap_loop_pin(aap_loop *L);
/* With aap_reg_lock held again: release a pin taken with aap_loop_pin(). */
void aap_loop_unpin(aap_loop *L);

/* ---- watchdog (aap_watchdog.c) ------------------------------------------ */

/* With aap_reg_lock held: start the thread if it is not running. */
int aap_watchdog_start_locked(void);
/* With aap_reg_lock held: a loop was added; recompute the next wake-up. */
void aap_watchdog_wake_locked(void);
/* Stop and join the thread (without aap_reg_lock). */
void aap_watchdog_stop(void);
/* In the child after fork: the thread does not exist there. */
void aap_watchdog_fork_child(void);

/* ---- site table (aap_sites.c), all with L->lock held ----------------- */

/* "path:line function" of f into out. */
void aap_site_format(const aap_frame *f, char *out, size_t cap);
/* Slot of site in L's table at monotonic time now (may evict). */
int aap_site_index(aap_loop *L, const char *site, uint64_t now);
/* Charge d ns of blocked time, ending at now, to slot site. */
void aap_site_charge(aap_loop *L, int site, uint64_t now, uint64_t d);
/* Forget every site (fork child, loop reset). */
void aap_sites_reset(aap_loop *L);

/* ---- episodes (aap_episode.c), all with L->lock held ----------------- */

/* The watchdog saw stretch seq (begun at bs) past the threshold at now,
 * with stack st (NULL when stacks are off or capture failed). */
void aap_ep_sample(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                   const aap_stack *st);
/* The loop thread ended stretch seq (begun at bs) at now, past the
 * threshold: close the episode into the ring. */
void aap_ep_finish(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now);
/* Drop the open episode and the ring. */
void aap_ep_reset(aap_loop *L);

/* ---- fork hooks of the other files: phase 0 prepare, 1 parent, 2 child -- */

void aap_mem_fork(int phase);      /* aap_mem.c: the pipe fallback */
void aap_http_fork(int phase);     /* aap_httpstats.c */
void aap_exporter_fork(int phase); /* aap_http.c */

/* HTTP request series in the text format (aap_httpstats.c). */
void aap_http_render(aat_buf *t);

/* ---- loops (aap_loop.c) ------------------------------------------------ */

/* Seconds the loop has been busy without waiting for I/O, at now. */
double aap_loop_current_block(aap_loop *L, uint64_t now);
/* Zero every counter and forget sites and episodes (fork child). */
void aap_loop_reset(aap_loop *L);

#endif
