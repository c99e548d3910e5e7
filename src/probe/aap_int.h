/*
 * aap_int.h: declarations shared by the probe's own C files and by nothing
 * else (the extension and the tests use aap.h).  It defines the per-loop
 * state and names the one lock order of the library:
 *
 *     aap_reg_lock -> aap_loop.lock -> (http table lock) -> (state lock)
 *
 * Exported values live in this process's state arena (aap_state.h): the
 * structures here hold pointers to their cells, written with the same
 * relaxed atomics as before; what is not exported (episode ring, site
 * windows, watchdog bookkeeping) stays in process memory.
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
#include "aap_group.h"
#include "aap_state.h"

#include <pthread.h>

#define AAP_RING_MAX 32

/* One slot of an executor's table of functions (aap_execfn.c): its
 * name and site, the generation that makes ids of an earlier holder of
 * the slot stale, jobs in flight, and its three series (run ns, wait ns,
 * calls). */
typedef struct aap_fn_slot {
    char function[AAP_FN_NAME_LEN];
    char site[AAP_FN_SITE_LEN];
    uint32_t gen;             /* guarded by the loop's lock */
    _Atomic int64_t inflight; /* raised under the lock only */
    _Atomic uint64_t last_ns; /* last submission or end */
    aap_rec *rec[3];
    _Atomic uint64_t *cell[3]; /* series cells, or own[] */
    _Atomic uint64_t own[3];
} aap_fn_slot;

/* Gauges are int64 values kept in u64 cells (two's complement). */
typedef struct aap_exec_state {
    _Atomic int enabled;
    _Atomic uint64_t *pending, *busy, *max_workers;
    aap_hist wait, run;
    aap_rec *rec[5]; /* hidden until enabled */
    /* functions (aap_execfn.c), guarded by the loop's lock; [MAX] is
     * "other" */
    aap_fn_slot fn[AAP_EXEC_FN_MAX + 1];
    int nfn;
    uint32_t fn_gen;
} aap_exec_state;

/* Series of a loop (besides executors and sites), released together. */
enum {
    AAP_LR_LAG,
    AAP_LR_BUSY,
    AAP_LR_ITER,
    AAP_LR_BLOCK,
    AAP_LR_CUR,
    AAP_LR_READY,
    AAP_LR_TASKS,
    AAP_LR_CREATED,
    AAP_LR_INFO,
    AAP_LR_GIL,
    AAP_LR_SATURATION,
    AAP_LR_STARVED,
    AAP_LR_GC,
    AAP_LR_N
};

/* One slot of a loop's site table (aap_sites.c). */
typedef struct aap_site_slot {
    char site[AAP_SITE_LEN];
    aap_rec *rec;         /* its series, once the slot was first used */
    _Atomic uint64_t *ns; /* exported counter (or own, without a series) */
    _Atomic uint64_t own;
    uint64_t win;              /* window index win_ns[0] belongs to */
    uint64_t win_ns[2];        /* blocked time in window win and win - 1 */
    uint64_t last_ns;          /* last time anything was charged */
    char chain[AAP_CHAIN_LEN]; /* set by its first sample */
    uint64_t class_ns[AAP_CLASS_N]; /* time charged per culprit class */
    aap_rec *info;                  /* its python_asyncio_block_site_info */
    int info_cls;                   /* the class that series carries */
} aap_site_slot;

/* One slot of a loop's table of GIL holders (aap_gilholders.c). */
typedef struct aap_gil_slot {
    char thread[AAP_THREAD_NAME_LEN];
    char site[AAP_SITE_LEN];
    char chain[AAP_CHAIN_LEN];
    long tid;
    aap_rec *rec;         /* its series, once the slot was first used */
    _Atomic uint64_t *ns; /* exported counter (or own, without a series) */
    _Atomic uint64_t own;
    uint64_t last_ns;               /* last time anything was charged */
    uint64_t class_ns[AAP_CLASS_N]; /* time charged per culprit class */
    aap_rec *info;                  /* its python_asyncio_gil_holder_info */
    int info_cls;                   /* the class that series carries */
} aap_gil_slot;

/* What the samples of a segment in progress saw of one culprit
 * (aap_episode.c); a segment keeps at most AAP_SEG_CULPRITS, the last
 * entry taking any more. */
#define AAP_SEG_CULPRITS 8
typedef struct aap_seg_charge {
    aap_culprit c;
    uint64_t ns;
    uint64_t class_ns[AAP_CLASS_N];
} aap_seg_charge;

/* A finished episode in a loop's ring (aap_episode.c). */
typedef struct aap_episode {
    double start;
    uint64_t duration_ns;
    int64_t detect_ns; /* -1: the watchdog never saw it */
    char site[AAP_SITE_LEN];
    char *stack;
    int kind; /* enum aap_episode_kind */
    int cls;  /* enum aap_class */
    char chain[AAP_CHAIN_LEN];
    char thread[AAP_THREAD_NAME_LEN];
    long thread_id;
} aap_episode;

/* One watchdog sample of a loop past its threshold, prepared without any
 * lock. */
typedef struct aap_sample {
    /* the segment (callback) in progress: its start, and whether its own
     * time so far is under the threshold: less its garbage collections,
     * and (when the thread is runnable all along) less what it waited on
     * the run queue rather than ran */
    uint64_t seg;
    int seg_short;
    int in_gc;              /* the loop thread was collecting garbage */
    const aap_stack *stack; /* the loop thread's, NULL: none captured */
    aap_culprit own;        /* its culprit (when stack) */
    int gil_wait;           /* the loop thread was waiting for the GIL */
    /* gil_wait: the holder, its name and its culprit (holder.frame < 0
     * when its stack could not be read) */
    long holder_tid;
    char holder_name[AAP_THREAD_NAME_LEN];
    aap_culprit holder;
} aap_sample;

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
    aap_inapp_rules in_app;

    /* written by the loop thread, read by the watchdog/exporter; the
     * pointers lead into the state arena (never NULL: a series that
     * could not be allocated points at a cell of `fallback`) */
    _Atomic uint64_t *busy_since; /* 0: waiting for I/O */
    _Atomic uint64_t *stopping;   /* stop() called, not yet running again */
    _Atomic uint64_t seq;         /* stretches ended */
    _Atomic uint64_t *busy_ns;
    _Atomic uint64_t *iterations;
    _Atomic uint64_t stopped_ns;
    _Atomic uint64_t *ready;
    _Atomic uint64_t *tasks;
    _Atomic uint64_t *tasks_created;
    aap_hist lag;
    aap_hist block;
    aap_exec_state exec[AAP_EXEC_N];
    aap_rec *rec[AAP_LR_N];
    /* cells of series that are not exported (heartbeat mode lacks them,
     * or the arena had no room) */
    _Atomic uint64_t fallback[16];

    aap_hist saturation; /* stretches of many short callbacks */
    aap_hist starved;    /* stretches long for lack of a CPU */
    aap_hist gil_wait;   /* GIL-contention episodes */
    aap_hist gc;         /* collections run by the loop thread */

    uint64_t stop_ns;

    /* Segments (aap_loop_mark): the start of the one in progress, written
     * by the loop thread, read by the watchdog; the loop thread's kernel
     * id; the run-queue wait of the loop thread when the watchdog looked
     * at segment base_mark (at base_at), for telling host CPU starvation
     * from the loop's own work */
    _Atomic uint64_t mark;
    /* garbage collection by the loop thread: since when one runs (0:
     * none; and the thread's CPU clock then), and the CPU time
     * collections took in the segment in progress (CPU time, so that a
     * collection's run-queue waits are not counted twice) */
    _Atomic uint64_t gc_since, seg_gc;
    uint64_t gc_cpu_since; /* loop thread only */
    _Atomic long tid;
    _Atomic uint64_t base_mark, base_wait, base_run, base_at;
    aap_schedstat_fn sched;
    void *sched_ctx;

    /* loop thread only */
    uint64_t stopped_at_arm;
    uint64_t seg_mark; /* = mark */
    int st_blocking;   /* this stretch had a segment past the threshold */
    int st_starved;    /* ... that was past it for lack of a CPU */

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
    /* what the last sample saw, charged until the next one: the site
     * (ep_last_site) or, for a wait for the GIL, the holder slot */
    int ep_last_holder;
    int ep_last_class;      /* enum aap_class */
    int ep_last_holder_cls; /* the holder culprit's class (ep_last_holder) */
    uint64_t ep_seg; /* segment of the last sample that charged a site */
    int ep_samples, ep_gil_samples;
    int ep_long_samples; /* samples of the loop's own code in a segment past
                            the threshold (the others charge no site) */
    int ep_own_samples;  /* ... that was past it by its own time so far */
    uint64_t ep_holder_until; /* GIL holders are charged up to here */
    /* the segment in progress's charges, by culprit, held until the loop
     * thread says whether it was past the threshold by its own time
     * (kept: charged to site slots then) or not (host starvation,
     * garbage collection: dropped, no slot taken) */
    aap_seg_charge ep_segs[AAP_SEG_CULPRITS];
    int ep_nsegs;
    int ep_last_seg; /* entry the last sample charges, -1: none */
    /* the culprit of the last sample taken in a segment not yet past the
     * threshold: charged with the whole segment should it end past it
     * with no later sample (a callback just over the threshold) */
    uint64_t ep_cand_seg;
    aap_culprit ep_cand;
    uint64_t ep_class_ns[AAP_CLASS_N];
    uint64_t ep_holder_ns[AAP_GIL_HOLDERS_MAX + 1];
    /* the loop's own time not yet charged to its sites: an episode that
     * may turn out to be GIL contention charges them only once it is
     * known not to be (ep_charging) */
    int ep_charging;
    uint64_t ep_pending_ns[AAP_SITES_MAX + 1];
    uint64_t ep_pending_class[AAP_SITES_MAX + 1][AAP_CLASS_N];
    aap_episode ring[AAP_RING_MAX];
    size_t ring_head, ring_n;
    aap_gil_slot gil[AAP_GIL_HOLDERS_MAX + 1]; /* [MAX] is "other" */
    int ngil;

    /* set by the watchdog when it sleeps without looking at this idle
     * loop again; the loop thread clears it and wakes the watchdog when
     * a stretch begins (aap_watchdog_parked_wake) */
    _Atomic int wd_parked;
    /* watchdog thread only */
    uint64_t wd_seq;
    uint64_t wd_next;
    uint64_t wd_base; /* segment the last baseline was taken for */
};

/* ---- registry (aap_registry.c) ----------------------------------------- */

extern pthread_mutex_t aap_reg_lock;
extern aap_loop *aap_reg_head;
extern size_t aap_reg_n;

/* Adds L (unique name, then init(L) with aap_reg_lock held, watchdog
 * started); 0 or a negative aap_err. */
int aap_reg_add(aap_loop *L, int (*init)(aap_loop *L));
/* Install the fork handlers (once): any state the library holds (a loop,
 * or only the state arena) must be split at fork. */
void aap_fork_hooks(void);
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
/* Loop thread, when a stretch of L begins (busy_since just stored,
 * seq_cst): wake the watchdog if it sleeps without watching L.  Cheap
 * otherwise: a load. */
void aap_watchdog_stretch_began(aap_loop *L);
/* Tests: the longest the watchdog sleeps (default 1 s), and how many
 * times it has woken up. */
void aap_watchdog_set_max_sleep_ns(uint64_t ns);
uint64_t aap_watchdog_wakeups(void);
/* Stop and join the thread (without aap_reg_lock). */
void aap_watchdog_stop(void);
/* In the child after fork: the thread does not exist there. */
void aap_watchdog_fork_child(void);
/* How long after a sample of a stretch past threshold_ns the next one is
 * due, when the callback in progress is age_ns old (see aap_watchdog.c). */
uint64_t aap_watchdog_resample_ns(uint64_t threshold_ns, uint64_t age_ns);

/* ---- site table (aap_sites.c), all with L->lock held ----------------- */

/* Series of L's site table: "other" (and slots a kept table of a loop of
 * the same name left, resumed); L->lock not needed yet. */
void aap_sites_init(aap_loop *L);
/* Give every slot's series up (loop freed). */
void aap_sites_release(aap_loop *L);

/* "path:line function" of f into out. */
void aap_site_format(const aap_frame *f, char *out, size_t cap);
/* Slot of site in L's table at monotonic time now (may evict). */
int aap_site_index(aap_loop *L, const char *site, uint64_t now);
/* Charge d ns of blocked time, ending at now, to slot site. */
void aap_site_charge(aap_loop *L, int site, uint64_t now, uint64_t d);
/* Forget every site (fork child, loop reset). */
void aap_sites_reset(aap_loop *L);
/* Slot k was charged by a sample whose culprit chain is chain: record the
 * chain if the slot has none, and keep its python_asyncio_block_site_info
 * series naming the slot's chain and the class charged the most time. */
void aap_site_describe(aap_loop *L, int k, const char *chain);

/* ---- episodes (aap_episode.c), all with L->lock held ----------------- */

/* The watchdog saw stretch seq (begun at bs) past the threshold at now;
 * s says what it saw (s->stack NULL when stacks are off or capture
 * failed).  Only a sample of the loop's own code in a segment past the
 * threshold (and not starved) charges a site, from the segment's start. */
void aap_ep_sample(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                   const aap_sample *s);
/* The loop thread ended segment seg, past the threshold, at now: what the
 * last sample saw in it is charged up to now and no further; the
 * segment's charges are kept when own is set (it was past the threshold
 * by its own time), else dropped. */
void aap_ep_segment_end(aap_loop *L, uint64_t seg, uint64_t now, int own);
/* The loop thread ended stretch seq (begun at bs) at now, past the
 * threshold; kind is what its segments say (blocking, saturation or
 * starved).  Returns the episode's kind: GIL contention when most samples
 * saw the loop wait for the GIL, else kind.  Blocking and GIL episodes go
 * to the ring; a blocking one's held-back site time is charged. */
int aap_ep_finish(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                  int kind);
/* Drop the open episode and the ring. */
void aap_ep_reset(aap_loop *L);

/* ---- GIL holders (aap_gilholders.c), all with L->lock held ---------- */

/* Slot of (thread, site) at monotonic time now: a free one, else the one
 * charged longest ago and not in the open episode, else "other". */
int aap_gil_holder_index(aap_loop *L, const char *thread, long tid,
                         const aap_culprit *c, uint64_t now);
/* Charge d ns of GIL wait, ending at now, to slot k, whose culprit had
 * class cls. */
void aap_gil_holder_charge(aap_loop *L, int k, uint64_t now, uint64_t d,
                           int cls);
/* Forget every holder (fork child, loop reset). */
void aap_gil_holders_reset(aap_loop *L);
/* The "other" slot's series and the fallback cells (loop registered);
 * giving every slot's series up (loop freed). */
void aap_gil_holders_init(aap_loop *L);
void aap_gil_holders_release(aap_loop *L);

/* ---- pool functions (aap_execfn.c) ---------------------------------- */

/* The "other" slots' series (loop registered); every slot's series given
 * up (loop freed); every slot forgotten (fork child). */
void aap_execfn_init(aap_loop *L);
void aap_execfn_release(aap_loop *L);
void aap_execfn_reset(aap_loop *L);
/* Charge a started job's wait / an ended job's run to function id (any
 * thread, no lock); unstarted: only its slot is let go. */
void aap_execfn_wait(aap_loop *L, int which, uint32_t id, uint64_t ns);
void aap_execfn_done(aap_loop *L, int which, uint32_t id, uint64_t run_ns,
                     int ran);

/* ---- fork hooks of the other files: phase 0 prepare, 1 parent, 2 child -- */

void aap_mem_fork(int phase);  /* aap_mem.c: the pipe fallback */
void aap_http_fork(int phase); /* aap_httpstats.c */
/* The in-flight gauge exists (it is exported at 0 before any request). */
void aap_http_ensure(void);
void aap_exporter_fork(int phase); /* aap_http.c */

/* /metrics of the arenas in views (aap_render.c). */
struct aap_view;
int aap_render_views(aat_buf *t, const struct aap_view *views, size_t n,
                     uint64_t now);

/* ---- loops (aap_loop.c) ------------------------------------------------ */

/* Seconds the loop has been busy without waiting for I/O, at now. */
double aap_loop_current_block(aap_loop *L, uint64_t now);
/* Zero every counter and forget sites and episodes (fork child). */
void aap_loop_reset(aap_loop *L);

#endif
