/*
 * aap.h: the probe's plain-C library (prefix aap_).  Everything that must
 * work without the GIL lives here: lock-free metric state, the per-loop
 * blocking-episode bookkeeping, the watchdog thread, the GIL-free stack
 * reader and the libmicrohttpd exporter.  The Python extension (_probe.c,
 * the only file that includes Python.h) drives it from the loop thread.
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
    AAP_EHTTP = -5,   /* libmicrohttpd refused to start */
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

#define AAP_HIST_MAX_BOUNDS 16

/* Fixed-bucket histogram; observe is lock-free and safe from any thread. */
typedef struct aap_hist {
    const double *bounds; /* upper bounds in seconds, ascending */
    size_t nbounds;
    uint64_t bounds_ns[AAP_HIST_MAX_BOUNDS];
    _Atomic uint64_t buckets[AAP_HIST_MAX_BOUNDS + 1]; /* non-cumulative */
    _Atomic uint64_t sum_ns;
} aap_hist;

extern const double aap_bounds_lag[];
extern const size_t aap_nbounds_lag;
extern const double aap_bounds_block[];
extern const size_t aap_nbounds_block;
extern const double aap_bounds_exec[];
extern const size_t aap_nbounds_exec;
extern const double aap_bounds_http[];
extern const size_t aap_nbounds_http;

void aap_hist_init(aap_hist *h, const double *bounds, size_t n);
void aap_hist_reset(aap_hist *h);
/* Record n observations of ns nanoseconds. */
void aap_hist_observe(aap_hist *h, uint64_t ns, uint64_t n);
/* Total count (sum of buckets) and sum in seconds, read relaxed. */
uint64_t aap_hist_count(const aap_hist *h);
double aap_hist_sum(const aap_hist *h);
/* Render NAME_bucket/_sum/_count lines; labels is "" or 'a="b",...'. */
void aap_hist_render(aat_buf *t, const char *name, const char *labels,
                     const aap_hist *h);

/* ---- the CPython layout the stack reader needs ---------------------- */

/*
 * Offsets and type addresses of the running interpreter, filled by
 * _probe.c with offsetof() on the real headers, so this file needs no
 * Python.h.  All reads through it go via aap_mem_read(), which fails
 * cleanly on unmapped memory instead of faulting.
 */
typedef struct aap_pylayout {
    int supported;
    size_t ob_type;           /* offsetof(PyObject, ob_type) */
    size_t tstate_cframe;     /* PyThreadState.cframe (3.13: current_frame) */
    size_t cframe_current;    /* _PyCFrame.current_frame */
    int direct_frame;         /* 3.13+: tstate_cframe is the frame itself */
    size_t frame_code;        /* _PyInterpreterFrame.f_code (f_executable) */
    size_t frame_previous;    /* _PyInterpreterFrame.previous */
    size_t frame_prev_instr;  /* .prev_instr (3.13: .instr_ptr) */
    size_t frame_owner;       /* _PyInterpreterFrame.owner (char) */
    int owner_cstack;         /* owner value of shim frames, or -1 */
    size_t code_filename;     /* PyCodeObject.co_filename */
    size_t code_name;         /* PyCodeObject.co_name */
    size_t code_firstlineno;  /* PyCodeObject.co_firstlineno (int) */
    size_t code_linetable;    /* PyCodeObject.co_linetable */
    size_t code_adaptive;     /* PyCodeObject.co_code_adaptive */
    size_t bytes_size;        /* PyVarObject.ob_size */
    size_t bytes_data;        /* PyBytesObject.ob_sval */
    size_t str_length;        /* PyASCIIObject.length */
    size_t str_state;         /* PyASCIIObject.state (32-bit word) */
    uint32_t state_kind_mask; /* kind bits within the state word */
    unsigned state_kind_shift;
    uint32_t state_compact_mask;
    uint32_t state_ascii_mask;
    size_t str_ascii_data;   /* sizeof(PyASCIIObject) */
    size_t str_compact_data; /* sizeof(PyCompactUnicodeObject) */
    uintptr_t code_type;     /* &PyCode_Type */
    uintptr_t str_type;      /* &PyUnicode_Type */
    uintptr_t bytes_type;    /* &PyBytes_Type */
} aap_pylayout;

#define AAP_STACK_MAX 48
#define AAP_FILE_MAX 256
#define AAP_FUNC_MAX 96

typedef struct aap_frame {
    char file[AAP_FILE_MAX];
    char func[AAP_FUNC_MAX];
    int line;
} aap_frame;

/* A captured stack, innermost frame first. */
typedef struct aap_stack {
    aap_frame frames[AAP_STACK_MAX];
    int n;
    int truncated;
} aap_stack;

/* Copy len bytes at address src of this process into dst; 0 or -1 when
 * any byte is unreadable.  Never faults. */
int aap_mem_read(void *dst, uintptr_t src, size_t len);

/* Line for code-unit offset addr in a CPython 3.11+ location table. */
int aap_linetable_line(const uint8_t *tab, size_t len, int firstlineno,
                       long addr);

/* Scratch memory of one stack reader (the location table being decoded,
 * up to 256 KiB): allocate it once per reading thread, not per capture. */
typedef struct aap_stack_scratch aap_stack_scratch;
aap_stack_scratch *aap_stack_scratch_new(void);
void aap_stack_scratch_free(aap_stack_scratch *s); /* NULL ok */

/*
 * Read the Python stack of the thread whose PyThreadState is at tstate,
 * without the GIL, using scratch (never shared between threads).  Returns the
 * number of frames (0 if the thread is not running Python code) or -1 if the
 * layout is unsupported or the first frame could not be read.  Frames that
 * fail validation end the walk.  The result is a best-effort snapshot: if the
 * thread runs while it is read (it holds the GIL), a frame may be reported
 * from just before or after the instant of the call, never a crash.
 */
int aap_stack_capture(const aap_pylayout *lay, uintptr_t tstate,
                      aap_stack *out, aap_stack_scratch *scratch);

/*
 * How a blocking episode's site is chosen from its stack.  "machinery"
 * prefixes (asyncio's package, the probe's own) mark the event loop's own
 * code; "helper" prefixes (stdlib modules asyncio calls into: weak sets,
 * threading, selectors, logging ...) count as machinery only when asyncio
 * called them.  A user's own code between them always stops the skipping.
 */
#define AAP_SITE_RULES_MAX 32

typedef struct aap_site_rules {
    size_t n;
    char prefix[AAP_SITE_RULES_MAX][AAP_FILE_MAX];
    unsigned char helper[AAP_SITE_RULES_MAX];
} aap_site_rules;

/* Add a prefix (copied); AAP_EINVAL when empty or not shorter than
 * AAP_FILE_MAX (it could not match a bounded file name exactly),
 * AAP_ETOOBIG when the table is full. */
int aap_site_rules_add(aap_site_rules *r, const char *prefix, int helper);

/*
 * The frame of st that names a blocking episode's site.  When the
 * innermost frames are machinery (possibly below helpers it called), the
 * site is the first frame outside that run, provided more machinery
 * encloses it, i.e. it is code the loop ran that called into asyncio (a
 * fan-out calling create_task).  Otherwise (the innermost frame is the
 * user's, or only the program's entry point around asyncio.run() lies
 * outside) it is the innermost frame.  Returns an index into st->frames,
 * -1 only when st has no frames; r NULL means no rules.
 */
int aap_stack_site_frame(const aap_stack *st, const aap_site_rules *r);

/* ---- per-loop state ------------------------------------------------- */

enum { AAP_EXEC_DEFAULT = 0, AAP_EXEC_ANYIO = 1, AAP_EXEC_N = 2 };

enum aap_mode {
    AAP_MODE_SELECTOR = 0, /* busy/idle from the selector wrapper */
    AAP_MODE_HEARTBEAT = 1 /* busy inferred from the lag timer */
};

typedef struct aap_loop aap_loop;

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
    /* how sites are named (aap_stack_site_frame); copied; NULL: the
     * innermost frame */
    const aap_site_rules *site_rules;
} aap_loop_config;

/* Create and register a loop; starts the watchdog if needed. */
int aap_loop_new(const aap_loop_config *cfg, aap_loop **out);
/* Unregister and free; stops the watchdog after the last loop.  NULL ok. */
void aap_loop_free(aap_loop *L);

/* Hot path, called by the loop thread only: select() is entered (the busy
 * stretch ends; ready = callbacks waiting) and returns (busy begins). */
void aap_loop_select_enter(aap_loop *L, uint64_t now, int64_t ready);
void aap_loop_busy_begin(aap_loop *L, uint64_t now);
/* loop.stop() was called: the loop is about to stop running, so the
 * current stretch is not a block; the time until the next select() is
 * not lag. */
void aap_loop_stopping(aap_loop *L, uint64_t now);
/* Any thread: the loop is shutting down (its default executor is being
 * shut down).  Until the loop runs again it is idle, not blocked; meant
 * for heartbeat mode, where stop() cannot be observed. */
void aap_loop_closing_hint(aap_loop *L);
/* The lag timer ran at now, due at due (both monotonic ns); returns the
 * next due time.  In heartbeat mode it also ends the stretch. */
uint64_t aap_loop_lag_tick(aap_loop *L, uint64_t due, uint64_t now);
/* Schedule bookkeeping: the lag timer was (re)armed at now. */
void aap_loop_lag_armed(aap_loop *L, uint64_t now);

void aap_loop_tasks_add(aap_loop *L, int64_t created, int64_t alive_delta);
/* The loop runs on the thread whose PyThreadState is tstate (it may run
 * on another thread than the one that installed the probe). */
void aap_loop_set_tstate(aap_loop *L, uintptr_t tstate);

/* Executors (any thread). */
void aap_exec_enable(aap_loop *L, int which, int64_t max_workers);
void aap_exec_submit(aap_loop *L, int which);
void aap_exec_start(aap_loop *L, int which, uint64_t wait_ns);
void aap_exec_finish(aap_loop *L, int which, uint64_t run_ns);
void aap_exec_unstarted(aap_loop *L, int which);

/* A copy of a loop's current values. */
typedef struct aap_exec_snapshot {
    int enabled;
    int64_t pending, busy, max_workers;
    uint64_t wait_count, run_count;
    double wait_sum, run_sum;
} aap_exec_snapshot;

typedef struct aap_loop_snapshot {
    int heartbeat; /* busy, iterations and ready are not observed */
    uint64_t lag_count;
    double lag_sum;
    double busy_seconds;
    uint64_t iterations;
    uint64_t block_count;
    double block_sum;
    double current_block;
    int64_t ready;
    int64_t tasks;
    uint64_t tasks_created;
    aap_exec_snapshot exec[AAP_EXEC_N];
} aap_loop_snapshot;

void aap_loop_snapshot_get(aap_loop *L, aap_loop_snapshot *s);

/* Site attribution: up to AAP_SITES_MAX sites plus "other". */
#define AAP_SITES_MAX 20
#define AAP_SITE_LEN 384

typedef struct aap_site_value {
    char site[AAP_SITE_LEN];
    double seconds;
} aap_site_value;

/* Copy the site counters; *n set to the number written (<= max). */
void aap_loop_sites(aap_loop *L, aap_site_value *out, size_t max, size_t *n);
/* Charge ns of blocked time to site at monotonic time now, through the
 * same table and eviction policy the watchdog uses (library-internal:
 * for tests of that policy). */
void aap_loop_site_charge(aap_loop *L, const char *site, uint64_t now,
                          uint64_t ns);

/* One blocking episode (recent, or the one in progress). */
typedef struct aap_episode_info {
    double start;    /* wall clock, seconds since the epoch */
    double duration; /* seconds (so far, when ongoing) */
    int ongoing;
    double detected_after;   /* start to watchdog detection, or -1 */
    char site[AAP_SITE_LEN]; /* "" when no stack was captured */
    char *stack; /* frames outermost first, '\n'-separated, or NULL */
} aap_episode_info;

/* Copy recent episodes, oldest first, plus the ongoing one if any. */
int aap_loop_blocks(aap_loop *L, aap_episode_info **out, size_t *n);
void aap_episodes_free(aap_episode_info *e, size_t n);

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

/*
 * Start the exporter on host:port (numeric or resolvable host; port 0 picks
 * a free one).  On AAP_EBIND *sys_errno holds the errno.  Starting again on
 * the same address is a no-op returning the bound port; another address
 * while running is AAP_EBUSY.
 */
int aap_exporter_start(const char *host, int port, int *bound_port,
                       int *sys_errno);
void aap_exporter_stop(void);
/* Port served, or 0 when not serving. */
int aap_exporter_port(void);

/* Stop background threads (interpreter exit). Loops stay valid. */
void aap_shutdown(void);
/* After fork in the child: restart the watchdog if loops exist. */
int aap_after_fork_restart(void);

#endif
