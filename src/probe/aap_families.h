/*
 * aap_families.h: every metric family the probe exports, in the order
 * /metrics lists them.  It is the one place a family is declared: the
 * renderer (aap_render.c) needs nothing else to write its HELP and TYPE
 * lines and its samples, and a reader in another process interprets a
 * record only through this table (its hash is part of the arena layout,
 * aap_arena.h, so a process built with another table is skipped, never
 * misread).
 *
 * Adding a family: one AAP_FAMILY line here, then one allocation call
 * (aap_state_cell() / aap_state_hist()) where its value is kept.
 *
 * Columns:
 *   id      enum constant AAP_F_<id>
 *   name    metric name
 *   type    COUNTER, GAUGE or HISTOGRAM (the exposition TYPE)
 *   value   how the record's cells render:
 *             COUNT  one u64 cell, rendered as is
 *             NS     one u64 cell of nanoseconds, rendered as seconds
 *             INT    one i64 cell
 *             SINCE  cells [t, off]: seconds since monotonic time t
 *                    (0 when t is 0 or off is set)
 *             ONE    no cell: the sample is 1 (info series)
 *             HIST   a histogram of the family's layout (nanoseconds)
 *   dead    KEEP or DROP: a dead process's series is still exported
 *           (counters, histograms) or disappears with it (gauges)
 *   layout  AAP_LAYOUT_* of a histogram, NONE otherwise
 *   labels  bytes reserved for a record's labels ("name\0value\0"...):
 *           a relabel must fit, so families whose labels change size
 *           (sites) reserve the largest label set they will carry
 *   help    HELP text
 *
 * The label "loop" is special: it is shown only when the process has
 * more than one live loop (docs/probe.md, "Several loops").
 */
#ifndef AAP_FAMILIES_H
#define AAP_FAMILIES_H

/* Site records reserve room for the site (AAP_SITE_LEN), its loop name,
 * and the chain (256), class (24) and hint texts a site will carry. */
#define AAP_SITE_LABELS_CAP 1216
/* GIL holder records: loop, thread (AAP_THREAD_NAME_LEN) and site; its
 * info records also the chain, class and hint. */
#define AAP_GIL_LABELS_CAP 640
#define AAP_GIL_INFO_LABELS_CAP 1280
/* Pool function records: loop, executor, function (AAP_FN_NAME_LEN) and
 * site (AAP_FN_SITE_LEN). */
#define AAP_FN_LABELS_CAP 640

#define AAP_FAMILIES(X)                                                       \
    X(LOOP_LAG, "python_asyncio_loop_lag_seconds", HISTOGRAM, HIST, KEEP,     \
      SCHEMA2, 96, "How late the probe's periodic loop timer ran.")           \
    X(LOOP_BUSY, "python_asyncio_loop_busy_seconds_total", COUNTER, NS, KEEP, \
      NONE, 96,                                                               \
      "Time the loop spent running callbacks rather than waiting for I/O.")   \
    X(LOOP_ITER, "python_asyncio_loop_iterations_total", COUNTER, COUNT,      \
      KEEP, NONE, 96, "Loop iterations.")                                     \
    X(LOOP_BLOCK, "python_asyncio_loop_block_duration_seconds", HISTOGRAM,    \
      HIST, KEEP, SCHEMA2, 96,                                                \
      "Blocking episodes: busy stretches longer than the block threshold "    \
      "in which one callback ran past it.")                                   \
    X(LOOP_SATURATION, "python_asyncio_loop_saturation_duration_seconds",     \
      HISTOGRAM, HIST, KEEP, SCHEMA2, 96,                                     \
      "Busy stretches longer than the block threshold in which no callback "  \
      "ran past it.")                                                         \
    X(LOOP_STARVED, "python_asyncio_loop_starved_duration_seconds",           \
      HISTOGRAM, HIST, KEEP, SCHEMA2, 96,                                     \
      "Busy stretches past the block threshold only because the loop "        \
      "thread waited for a CPU (host CPU starvation).")                       \
    X(LOOP_GC, "python_asyncio_loop_gc_duration_seconds", HISTOGRAM, HIST,    \
      KEEP, SCHEMA2, 96,                                                      \
      "Garbage collections run by the loop thread (not counted as its "       \
      "callbacks' own time).")                                                \
    X(LOOP_GIL_WAIT, "python_asyncio_loop_gil_wait_duration_seconds",         \
      HISTOGRAM, HIST, KEEP, SCHEMA2, 96,                                     \
      "GIL-contention episodes: busy stretches past the block threshold "     \
      "spent mostly waiting for a GIL another thread held.")                  \
    X(LOOP_CUR, "python_asyncio_loop_current_block_seconds", GAUGE, SINCE,    \
      DROP, NONE, 96,                                                         \
      "How long the loop has been busy without waiting for I/O right now.")   \
    X(SITE, "python_asyncio_block_site_seconds_total", COUNTER, NS, KEEP,     \
      NONE, AAP_SITE_LABELS_CAP,                                              \
      "Blocked time attributed to the innermost Python frame's site.")        \
    X(SITE_INFO, "python_asyncio_block_site_info", GAUGE, ONE, DROP, NONE,    \
      AAP_SITE_LABELS_CAP,                                                    \
      "Call chain, culprit class and remedy of each live culprit site.")      \
    X(GIL_HOLDER, "python_asyncio_gil_holder_seconds_total", COUNTER, NS,     \
      KEEP, NONE, AAP_GIL_LABELS_CAP,                                         \
      "Time the loop waited for the GIL, by holder thread and its site.")     \
    X(GIL_HOLDER_INFO, "python_asyncio_gil_holder_info", GAUGE, ONE, DROP,    \
      NONE, AAP_GIL_INFO_LABELS_CAP,                                          \
      "Call chain, culprit class and remedy of each GIL holder's site.")      \
    X(LOOP_READY, "python_asyncio_loop_ready_callbacks", GAUGE, INT, DROP,    \
      NONE, 96, "Callbacks ready to run and waiting their turn.")             \
    X(TASKS, "python_asyncio_tasks", GAUGE, INT, DROP, NONE, 96,              \
      "Tasks alive on the loop.")                                             \
    X(TASKS_CREATED, "python_asyncio_tasks_created_total", COUNTER, COUNT,    \
      KEEP, NONE, 96, "Tasks created on the loop.")                           \
    X(INFO, "python_asyncio_probe_info", GAUGE, ONE, DROP, NONE, 192,         \
      "Probe build information.")                                             \
    X(EXEC_PENDING, "python_asyncio_executor_pending", GAUGE, INT, DROP,      \
      NONE, 128, "Work submitted to a thread pool and not yet started.")      \
    X(EXEC_BUSY, "python_asyncio_executor_busy_workers", GAUGE, INT, DROP,    \
      NONE, 128, "Worker threads (or limiter tokens) in use.")                \
    X(EXEC_MAX, "python_asyncio_executor_max_workers", GAUGE, INT, DROP,      \
      NONE, 128, "Capacity of the pool.")                                     \
    X(EXEC_WAIT, "python_asyncio_executor_wait_seconds", HISTOGRAM, HIST,     \
      KEEP, SCHEMA2, 128, "Time from submission to the start of the work.")   \
    X(EXEC_RUN, "python_asyncio_executor_run_seconds", HISTOGRAM, HIST, KEEP, \
      SCHEMA2, 128, "Time the work ran.")                                     \
    X(EXEC_FN_RUN, "python_asyncio_executor_function_run_seconds_total",      \
      COUNTER, NS, KEEP, NONE, AAP_FN_LABELS_CAP,                             \
      "Time a pool's jobs ran, by submitted function and its definition.")    \
    X(EXEC_FN_WAIT, "python_asyncio_executor_function_wait_seconds_total",    \
      COUNTER, NS, KEEP, NONE, AAP_FN_LABELS_CAP,                             \
      "Time a pool's jobs waited to start, by submitted function.")           \
    X(EXEC_FN_CALLS, "python_asyncio_executor_function_calls_total", COUNTER, \
      COUNT, KEEP, NONE, AAP_FN_LABELS_CAP,                                   \
      "Jobs a pool ran, by submitted function.")                              \
    X(HTTP_ACTIVE, "http_server_active_requests", GAUGE, INT, DROP, NONE, 32, \
      "HTTP requests in flight.")                                             \
    X(HTTP_DURATION, "http_server_request_duration_seconds", HISTOGRAM, HIST, \
      KEEP, SCHEMA1, 264, "HTTP request duration as the server saw it.")

#define AAP_FAMILY_ENUM_(id, name, type, value, dead, layout, labels, help)   \
    AAP_F_##id,
enum aap_family_id { AAP_FAMILIES(AAP_FAMILY_ENUM_) AAP_F_N };
#undef AAP_FAMILY_ENUM_

#endif
