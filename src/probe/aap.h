/*
 * aap.h: the probe's plain-C library (prefix aap_).  Everything that must
 * work without the GIL lives here: lock-free metric state, the per-loop
 * blocking-episode bookkeeping, the watchdog thread, the GIL-free stack
 * reader and the exporter.  The Python extension (_probe.c and the
 * _probe_*.c files, the only ones that include Python.h) drives it from
 * the loop thread.
 *
 * Ownership, stated once: an aap_loop is created by aap_loop_new() and
 * owned by its caller until aap_loop_free(); while it exists it is
 * registered process-wide so the watchdog and the exporter can read it.
 * Strings passed in are copied.  Buffers returned (rendered text, episode
 * lists) belong to the caller and are released with the named function.
 * Functions return 0 or a negative aap_err; they never abort on OOM.
 */
#ifndef AAP_H
#define AAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "aat.h"

typedef enum aap_err {
    AAP_OK = 0,
    AAP_ENOMEM = -1,  /* allocation failed */
    AAP_EINVAL = -2,  /* invalid argument */
    AAP_EBIND = -3,   /* the exporter could not bind/listen (see errno) */
    AAP_ETHREAD = -4, /* a background thread could not be started */
    AAP_EHTTP = -5,   /* the exporter's HTTP server could not start */
    AAP_EBUSY = -6,   /* the exporter already serves another address */
    AAP_ETOOBIG = -7  /* output would exceed its maximum size */
} aap_err;

/* Static text for an aap_err; never NULL. */
const char *aap_strerror(int err);

/* CLOCK_MONOTONIC in nanoseconds (same clock as time.monotonic()). */
uint64_t aap_now_ns(void);
/* The same clock at tick resolution (a few ms), for cheap gap checks. */
uint64_t aap_now_coarse_ns(void);
/* CLOCK_REALTIME in seconds. */
double aap_wall_now(void);

/* ---- text ------------------------------------------------------------ */

/* Rendered output (aat_buf, the text library shared with the core) is
 * capped at this size. */
#define AAP_TEXT_MAX (8u << 20)

/* ---- histograms ----------------------------------------------------- */

#define AAP_HIST_MAX_BOUNDS 72

/* Bucket upper bounds (seconds, ascending), with their nanosecond values
 * and the `le` text each renders as. */
typedef struct aap_layout {
    size_t n;
    double bounds[AAP_HIST_MAX_BOUNDS];
    uint64_t bounds_ns[AAP_HIST_MAX_BOUNDS];
    char le[AAP_HIST_MAX_BOUNDS][32];
} aap_layout;

enum aap_layout_id {
    AAP_LAYOUT_NONE = 0,
    AAP_LAYOUT_SCHEMA2 = 1, /* 2^(k/4) s, k = -40..24 (65 bounds) */
    AAP_LAYOUT_SCHEMA1 = 2, /* 2^(k/2) s, k = -20..12 (33 bounds) */
    AAP_LAYOUT_N
};

/* A built-in layout; NULL for an unknown id. */
const aap_layout *aap_layout_get(int id);
/* A layout of n ascending positive bounds; 0 or AAP_EINVAL. */
int aap_layout_init(aap_layout *l, const double *bounds, size_t n);

/* Cells of a histogram of n bounds: n + 1 non-cumulative buckets (the
 * last is +Inf), then the sum in nanoseconds. */
#define AAP_HIST_NCELLS(n) ((n) + 2)

/* A histogram: a layout and its cells (usually in the state arena).
 * observe is lock-free and safe from any thread. */
typedef struct aap_hist {
    const aap_layout *lay;
    _Atomic uint64_t *cells;
} aap_hist;

void aap_hist_reset(const aap_hist *h);
/* Record n observations of ns nanoseconds. */
void aap_hist_observe(const aap_hist *h, uint64_t ns, uint64_t n);
/* Total count (sum of buckets) and sum in seconds, read relaxed. */
uint64_t aap_hist_count(const aap_hist *h);
double aap_hist_sum(const aap_hist *h);
/* Render NAME_bucket/_sum/_count lines of cells (plain values, as read);
 * labels is "" or 'a="b",...'. */
void aap_hist_render(aat_buf *t, const char *name, const char *labels,
                     const aap_layout *lay, const uint64_t *cells);

/* ---- the interpreter, read without the GIL, and culprit naming ------- */

#include "aap_culprit.h"
#include "aap_py.h"

/* ---- per-loop state ------------------------------------------------- */

enum { AAP_EXEC_DEFAULT = 0, AAP_EXEC_ANYIO = 1, AAP_EXEC_N = 2 };

enum aap_mode {
    AAP_MODE_SELECTOR = 0,  /* busy/idle from the selector wrapper */
    AAP_MODE_HEARTBEAT = 1, /* busy inferred from the lag timer */
    /* busy/idle from the poll hook (aap_uvhook.c: uvloop); as the
     * selector, without the ready backlog */
    AAP_MODE_HOOK = 2
};

typedef struct aap_loop aap_loop;

/* ---- a thread's scheduling statistics (aap_syscall.c) ---------------- */

/* Time a thread ran on a CPU and time it waited on a run queue for one,
 * since it started (/proc/<pid>/task/<tid>/schedstat). */
typedef struct aap_schedstat {
    uint64_t run_ns;
    uint64_t wait_ns;
} aap_schedstat;

/* Parse the text of a schedstat file ("run wait slices"); AAP_EINVAL on
 * anything else. */
int aap_schedstat_parse(const char *text, aap_schedstat *out);
/* Read it for thread tid of this process (0: the calling thread);
 * AAP_EINVAL when it cannot be read (a kernel without schedstats). */
int aap_schedstat_read(long tid, aap_schedstat *out, void *ctx);
typedef int (*aap_schedstat_fn)(long tid, aap_schedstat *out, void *ctx);

typedef struct aap_loop_config {
    const char *name;           /* loop thread's name (label value) */
    const char *implementation; /* e.g. "asyncio", "uvloop" */
    const char *version;        /* probe version for the info metric */
    uint64_t lag_interval_ns;
    uint64_t threshold_ns;
    int stacks;                 /* capture stacks of blocking episodes */
    int mode;                   /* enum aap_mode */
    uintptr_t tstate;           /* loop thread's PyThreadState, or 0 */
    const aap_pylayout *layout; /* borrowed, must outlive the loop */
    /* which frames are in-app (aap_culprit_frame); copied; NULL: only
     * the built-in rules */
    const aap_inapp_rules *in_app;
    /* where the loop thread's scheduling statistics come from (NULL:
     * aap_schedstat_read; tests pass their own) */
    aap_schedstat_fn schedstat;
    void *schedstat_ctx;
} aap_loop_config;

/* Create and register a loop; starts the watchdog if needed. */
int aap_loop_new(const aap_loop_config *cfg, aap_loop **out);
/* Unregister and free; stops the watchdog after the last loop.  NULL ok. */
void aap_loop_free(aap_loop *L);

/* Hot path, called by the loop thread only: select() is entered (the busy
 * stretch ends; ready = callbacks waiting, not recorded in AAP_MODE_HOOK)
 * and returns (busy begins). */
void aap_loop_select_enter(aap_loop *L, uint64_t now, int64_t ready);
void aap_loop_busy_begin(aap_loop *L, uint64_t now);
/*
 * Hot path, loop thread: a callback boundary at now (a callback is about
 * to run, or has returned).  A busy stretch is cut into segments at its
 * boundaries (and at its start and end); a stretch past the threshold is
 * a blocking episode only when one segment, less the time the thread
 * waited on the CPU run queue, is past it (else saturation: many short
 * callbacks; or host CPU starvation).  Loops without boundaries have one
 * segment per stretch.
 */
void aap_loop_mark(aap_loop *L, uint64_t now);
/* The thread whose PyThreadState is tstate starts (start set) or ends a
 * garbage collection at now (the GIL held); cpu is that thread's CPU
 * clock then (AAP_CPU_NOW: read it).  When that is the loop thread the
 * collection is timed, and its CPU time is no callback's own: a segment
 * past the threshold only by collections is not a blocking episode. */
#define AAP_CPU_NOW UINT64_MAX
void aap_loop_gc(aap_loop *L, uintptr_t tstate, int start, uint64_t now,
                 uint64_t cpu);
/* loop.stop() was called, or run_forever() returned: the loop is about
 * to stop running, so the current stretch is not a block; the time until
 * it runs again is not lag. */
void aap_loop_stopping(aap_loop *L, uint64_t now);
/* Loop thread: run_forever() starts (the loop runs callbacks from now
 * on; the time it was stopped is neither busy nor lag). */
void aap_loop_started(aap_loop *L, uint64_t now);
/* Any thread: the loop is shutting down (its default executor is being
 * shut down).  Until the loop runs again it is idle, not blocked; meant
 * for heartbeat mode, where stop() cannot be observed. */
void aap_loop_closing_hint(aap_loop *L);
/* The lag timer ran at now, due at due (both monotonic ns); returns the
 * next due time.  In heartbeat mode it also ends the stretch. */
uint64_t aap_loop_lag_tick(aap_loop *L, uint64_t due, uint64_t now);
/* Schedule bookkeeping: the lag timer was (re)armed at now. */
void aap_loop_lag_armed(aap_loop *L, uint64_t now);
/* n lag samples of late ns each: ticks that fell due while the loop
 * slept in an idle wait (aap_ticker.c). */
void aap_loop_lag_observe(aap_loop *L, uint64_t late, uint64_t n);

/*
 * The lag tick schedule of a loop whose waits the probe sees (asyncio's
 * select() through the Selector wrapper; aap_ticker.c): ticks run where
 * a wait starts or ends, and an idle loop wakes at most every
 * AAP_IDLE_WAKE_NS (or interval) instead of every interval.  A value
 * type, zeroed to start; loop thread only.
 */
#define AAP_IDLE_WAKE_NS 100000000u
typedef struct aap_ticker {
    uint64_t due;       /* the next tick; 0: not armed */
    uint64_t planned;   /* when the current idle wait's timeout ends, or 0 */
    uint64_t wake_late; /* how late the last timed-out idle wait ended */
} aap_ticker;
/* Arm at now (the loop runs): the first tick is due an interval later. */
void aap_ticker_arm(aap_ticker *k, aap_loop *L, uint64_t now);
/* A wait for timeout_ns (negative: until an event) starts at now: runs a
 * tick that is due (*ticked = 1), arms an unarmed ticker, and returns the
 * timeout to wait instead (never longer, or negative only if it was). */
int64_t aap_ticker_wait(aap_ticker *k, aap_loop *L, uint64_t now,
                        int64_t timeout_ns, int *ticked);
/* The wait ended at now, by its timeout or by an event: records the ticks
 * that fell due; 1 when there were any. */
int aap_ticker_woke(aap_ticker *k, aap_loop *L, uint64_t now, int timed_out);

void aap_loop_tasks_add(aap_loop *L, int64_t created, int64_t alive_delta);
/* Called by the loop thread: the loop runs on this thread, whose
 * PyThreadState is tstate (it may run on another thread than the one that
 * installed the probe). */
void aap_loop_set_tstate(aap_loop *L, uintptr_t tstate);

/* Executors (any thread). */
void aap_exec_enable(aap_loop *L, int which, int64_t max_workers);
void aap_exec_submit(aap_loop *L, int which);
/* A job of function fn (id from aap_exec_fn, or AAP_EXEC_FN_NONE)
 * started after waiting wait_ns / ran run_ns / ended without starting. */
void aap_exec_start(aap_loop *L, int which, uint64_t wait_ns, uint32_t fn);
void aap_exec_finish(aap_loop *L, int which, uint64_t run_ns, uint32_t fn);
void aap_exec_unstarted(aap_loop *L, int which, uint32_t fn);

/*
 * Functions run by a pool (aap_execfn.c): per loop and executor a bounded
 * table (AAP_EXEC_FN_MAX functions, then function="other") of the time
 * each function's jobs waited and ran, and their count.  aap_exec_fn()
 * is called once per job at submission: it returns the id of (function,
 * site) (site "" when the function has no definition line), hint being
 * the id a previous call returned for it (AAP_EXEC_FN_NONE: none), so that
 * a known function costs no string comparison.  The job holds its slot
 * until aap_exec_finish/aap_exec_unstarted: a slot with jobs in flight is
 * never given to another function; a full table gives up the slot used
 * longest ago.
 */
#define AAP_EXEC_FN_MAX 20
#define AAP_FN_NAME_LEN 128
#define AAP_FN_SITE_LEN (AAP_FILE_MAX + 16)
#define AAP_EXEC_FN_NONE UINT32_MAX
uint32_t aap_exec_fn(aap_loop *L, int which, const char *function,
                     const char *site, uint32_t hint);

typedef struct aap_exec_fn_value {
    int which;
    char function[AAP_FN_NAME_LEN];
    char site[AAP_FN_SITE_LEN];
    double run, wait;
    uint64_t calls;
} aap_exec_fn_value;

/* Copy the function tables; *n set to the number written (<= max). */
void aap_loop_exec_fns(aap_loop *L, aap_exec_fn_value *out, size_t max,
                       size_t *n);

/* A copy of a loop's current values. */
typedef struct aap_exec_snapshot {
    int enabled;
    int64_t pending, busy, max_workers;
    uint64_t wait_count, run_count;
    double wait_sum, run_sum;
} aap_exec_snapshot;

typedef struct aap_loop_snapshot {
    int heartbeat; /* busy, iterations and ready are not observed */
    int no_ready;  /* ready is not observed (heartbeat, hook mode) */
    uint64_t lag_count;
    double lag_sum;
    double busy_seconds;
    uint64_t iterations;
    uint64_t block_count;
    double block_sum;
    uint64_t saturation_count, starved_count, gil_count, gc_count;
    double saturation_sum, starved_sum, gil_sum, gc_sum;
    double current_block;
    int64_t ready;
    int64_t tasks;
    uint64_t tasks_created;
    aap_exec_snapshot exec[AAP_EXEC_N];
} aap_loop_snapshot;

void aap_loop_snapshot_get(aap_loop *L, aap_loop_snapshot *s);

/* Site attribution: up to AAP_SITES_MAX sites plus "other". */
#define AAP_SITES_MAX 20
typedef struct aap_site_value {
    char site[AAP_SITE_LEN];
    double seconds;
    char chain[AAP_CHAIN_LEN]; /* the call chain seen first at this site */
    int cls;                   /* enum aap_class charged the most time */
} aap_site_value;

/* Copy the site counters; *n set to the number written (<= max). */
void aap_loop_sites(aap_loop *L, aap_site_value *out, size_t max, size_t *n);
/* Charge ns of blocked time to site at monotonic time now, through the
 * same table and eviction policy the watchdog uses (library-internal:
 * for tests of that policy). */
void aap_loop_site_charge(aap_loop *L, const char *site, uint64_t now,
                          uint64_t ns);

/* What held the loop up during a stretch past the threshold.  New kinds
 * are appended.  Only blocking and GIL episodes are kept for blocks(). */
enum aap_episode_kind {
    AAP_EP_BLOCKING = 0, /* one callback ran (or waited in) its own code
                            past the threshold */
    AAP_EP_GIL = 1,      /* the loop waited for the GIL another thread held */
    AAP_EP_SATURATION = 2, /* many callbacks, none past the threshold */
    AAP_EP_STARVED = 3,    /* a callback past the threshold only because the
                              thread waited on the CPU run queue */
    AAP_EP_KIND_N
};

/* "blocking", "gil", "saturation", "starved"; never NULL. */
const char *aap_episode_kind_name(int kind);

/* One blocking episode (recent, or the one in progress). */
typedef struct aap_episode_info {
    double start;    /* wall clock, seconds since the epoch */
    double duration; /* seconds (so far, when ongoing) */
    int ongoing;
    double detected_after;   /* start to watchdog detection, or -1 */
    char site[AAP_SITE_LEN]; /* "" when no stack was captured; for a GIL
                                episode the holder's site */
    char *stack; /* frames outermost first, '\n'-separated, or NULL */
    int kind;    /* enum aap_episode_kind */
    int cls;     /* enum aap_class */
    char chain[AAP_CHAIN_LEN];
    /* AAP_EP_GIL: the thread that held the GIL, "" and 0 otherwise */
    char thread[AAP_THREAD_NAME_LEN];
    long thread_id;
} aap_episode_info;

/* Copy recent episodes, oldest first, plus the ongoing one if any. */
int aap_loop_blocks(aap_loop *L, aap_episode_info **out, size_t *n);
void aap_episodes_free(aap_episode_info *e, size_t n);

/* GIL contention: time the loop waited for the GIL, charged to the thread
 * that held it and that thread's site (at most AAP_GIL_HOLDERS_MAX pairs,
 * then thread="other", site="other"). */
#define AAP_GIL_HOLDERS_MAX 8

typedef struct aap_gil_holder_value {
    char thread[AAP_THREAD_NAME_LEN];
    char site[AAP_SITE_LEN];
    char chain[AAP_CHAIN_LEN];
    int cls; /* enum aap_class of the holder's culprit */
    double seconds;
} aap_gil_holder_value;

/* Copy the holder counters; *n set to the number written (<= max). */
void aap_loop_gil_holders(aap_loop *L, aap_gil_holder_value *out, size_t max,
                          size_t *n);

/* ---- uvloop: its poll and callbacks, seen through its GOT ----------- */

/* A function of another shared object's import table to replace (the
 * extension adds uvloop's PyContext_Enter, aap_uvhook.c itself
 * epoll_pwait): the symbol, our replacement, and the function the slot
 * is expected to resolve to (what our own linkage calls). */
typedef struct aap_hook_spec {
    const char *symbol;
    void *hook;
    void *real;
} aap_hook_spec;

/*
 * Route the epoll_pwait calls of the shared object that contains
 * in_object (uvloop's loop module: its libuv polls through it), and the
 * functions of extra, through the probe: for a thread bound to a loop
 * (aap_uvhook_bind) a poll ends the busy stretch and its return begins
 * the next, as the selector wrapper does for asyncio.  Done once per
 * process, reference counted; every slot is validated first (a
 * JUMP_SLOT relocation of that symbol, inside the object's writable or
 * RELRO memory, holding the real function or the object's own PLT
 * entry, not yet bound), and all are patched or none.  0, or AAP_EINVAL with
 * *why set.
 */
int aap_uvhook_acquire(const void *in_object, const aap_hook_spec *extra,
                       size_t n, const char **why);
/* The last release restores every slot that still holds our hook. */
void aap_uvhook_release(void);
/* Loop thread: the polls and callback boundaries of this thread are L's
 * (replacing an earlier binding of this thread or of L).  0, or
 * AAP_ETOOBIG when no binding record is free. */
int aap_uvhook_bind(aap_loop *L);
/* Any thread: L is bound nowhere any more; returns once no hook of any
 * thread still uses it.  Called by aap_loop_free(). */
void aap_uvhook_unbind(aap_loop *L);
/* A callback boundary of the calling thread's bound loop, now (the
 * extension's PyContext_Enter hook calls it); nothing when unbound. */
void aap_uvhook_mark(void);

/* ---- process-wide HTTP metrics (ASGI middleware) -------------------- */

void aap_http_active_add(int64_t delta);
int64_t aap_http_active_get(void);
/* Observe a request; label sets beyond a fixed maximum are counted under
 * http_route="other". */
void aap_http_observe(const char *method, const char *route, int status,
                      uint64_t ns);

/* ---- rendering, exporter, process lifecycle ------------------------- */

/* Prometheus text format 0.0.4 of everything registered. */
int aap_render_metrics(aat_buf *t);
/* JSON list of recent episodes of all loops (for /debug/blocks). */
int aap_render_blocks(aat_buf *t);

/* How the exporter serves. */
typedef struct aap_exporter_opts {
    /* /debug/blocks: 1 served, 0 not (404), -1 served on a loopback
     * address only */
    int debug_blocks;
} aap_exporter_opts;

/* What it serves. */
typedef struct aap_exporter_info {
    int port;            /* bound */
    int loopback;        /* the bound address is a loopback address */
    int debug_blocks;    /* /debug/blocks is served */
    int grouped;         /* it serves every process of the address's group */
    int group_errno;     /* port != 0 and not grouped: why (this process's
                            series only are served) */
    char group_dir[512]; /* the group's directory, "" if none was found */
} aap_exporter_info;

/*
 * Start the exporter on host:port (numeric or resolvable host).  Port 0
 * picks a free port for a private exporter; any other port is shared
 * (SO_REUSEPORT) with the other processes of this user serving it, and
 * this process joins their group: each serves all of them.  On AAP_EBIND
 * *sys_errno holds the errno (EADDRINUSE: another program holds the
 * port).  Starting again on the same address is a no-op returning the
 * same info; another address while running is AAP_EBUSY.  opts NULL:
 * debug_blocks -1.
 */
int aap_exporter_start(const char *host, int port,
                       const aap_exporter_opts *opts, aap_exporter_info *info,
                       int *sys_errno);
/* Stop serving (the thread is joined, the socket closed).  The process
 * stays in its group, its series served by the others also after it
 * exits, unless leave_group: then they are no longer exported. */
void aap_exporter_stop(int leave_group);
/* Port served, or 0 when not serving. */
int aap_exporter_port(void);

/* Read the environment the probe's shared state depends on
 * ($ASYNC_AUDITOR_MULTIPROC_DIR, $ASYNC_AUDITOR_MAX_DEAD_WORKERS,
 * $XDG_RUNTIME_DIR, $TMPDIR); done once.  The extension calls it with
 * the GIL held, before a thread of the library could. */
void aap_state_prepare(void);

/* Whether this process belongs to a group: its series are in a group
 * directory, exported by whichever member answers. */
int aap_group_member(void);

/* Stop background threads (interpreter exit). Loops stay valid. */
void aap_shutdown(void);
/* After fork in the child: restart the watchdog if loops exist. */
int aap_after_fork_restart(void);

#endif
