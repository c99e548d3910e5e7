/*
 * test_probe_watchdog.c: episodes detected by the watchdog while the
 * "loop thread" is still busy, closed by it with exact durations; lag
 * correction; heartbeat mode; stretches cut into callbacks (blocking,
 * saturation, host CPU starvation told apart); hook mode's stop and
 * start; the pool function table; several loops and a renderer racing
 * (this file is the TSan target together with test_probe_exporter).
 *
 * No assertion depends on how promptly a thread wakes up: stretch
 * durations are passed as explicit timestamps, and where the real
 * watchdog must notice an episode the test waits for it with a deadline
 * far beyond any scheduling delay.
 */
#include "test_loops.h"

#include <pthread.h>
#include <time.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Waits (up to 20 s) until L has an ongoing episode; 1 when it has. */
static int wait_ongoing(aap_loop *L)
{
    int i;

    for (i = 0; i < 20000; i++) {
        aap_episode_info *v;
        size_t n;
        int ongoing = 0;

        if (aap_loop_blocks(L, &v, &n) == 0) {
            ongoing = n > 0 && v[n - 1].ongoing;
            aap_episodes_free(v, n);
        }
        if (ongoing) {
            return 1;
        }
        sleep_ms(1);
    }
    return 0;
}

static aap_loop *mkloop(const char *name, uint64_t thr_ms, int mode)
{
    return test_loop(name, 10, thr_ms, mode);
}

static void test_episode(void)
{
    aap_loop *L = mkloop("main", 30, AAP_MODE_SELECTOR);
    aap_episode_info *v;
    aap_loop_snapshot s;
    size_t n;
    uint64_t t0, end;

    t0 = aap_now_ns();
    aap_loop_busy_begin(L, t0);
    /* still blocked: the watchdog opens an episode */
    CHECK(wait_ongoing(L));
    CHECK_INT_EQ(aap_loop_blocks(L, &v, &n), 0);
    CHECK_INT_EQ(n, 1);
    CHECK(n == 1 && v[0].ongoing && v[0].duration >= 0.03);
    aap_episodes_free(v, n);
    aap_loop_snapshot_get(L, &s);
    CHECK(s.current_block >= 0.03);
    /* the stretch ends at an explicit time, 150 ms after it began (or
     * later, should the wait above have taken longer) */
    end = aap_now_ns();
    end = end > t0 + 150000000 ? end : t0 + 150000000;
    aap_loop_select_enter(L, end, 3);

    CHECK_INT_EQ(aap_loop_blocks(L, &v, &n), 0);
    CHECK_INT_EQ(n, 1);
    CHECK(n == 1 && !v[0].ongoing);
    CHECK_DBL_NEAR(v[0].duration, (double)(end - t0) / 1e9, 1e-9);
    CHECK_STR_EQ(v[0].site, ""); /* no stacks without a layout */
    aap_episodes_free(v, n);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 1);
    CHECK_DBL_NEAR(s.block_sum, (double)(end - t0) / 1e9, 1e-9);
    CHECK_DBL_NEAR(s.busy_seconds, (double)(end - t0) / 1e9, 1e-9);
    CHECK_INT_EQ(s.iterations, 1);
    CHECK_INT_EQ(s.ready, 3);
    CHECK(s.current_block == 0);

    /* short stretches are not episodes */
    t0 = aap_now_ns();
    aap_loop_busy_begin(L, t0);
    aap_loop_select_enter(L, t0 + 29000000, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 1);
    CHECK_INT_EQ(s.iterations, 2);
    aap_loop_free(L);
}

static void test_lag_correction(void)
{
    aap_loop *L = mkloop("lag", 50, AAP_MODE_SELECTOR);
    aap_loop_snapshot s;
    uint64_t due = aap_now_ns();

    aap_loop_lag_armed(L, due);
    aap_loop_lag_tick(L, due, due + 1000000);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.lag_count, 1);
    /* 55 ms late at a 10 ms interval: 55, 45, 35, 25, 15, 5 */
    aap_loop_lag_tick(L, due, due + 55000000);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.lag_count, 7);
    CHECK_DBL_NEAR(s.lag_sum, 0.001 + 0.18, 1e-9);
    /* time the loop was not running is not lag */
    aap_loop_lag_armed(L, due);
    aap_loop_busy_begin(L, due);
    aap_loop_stopping(L, due + 1000000);
    aap_loop_snapshot_get(L, &s);
    CHECK(s.current_block == 0);
    aap_loop_select_enter(L, due + 500000000, 0);
    aap_loop_lag_tick(L, due, due + 501000000);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.lag_count, 8);
    CHECK_INT_EQ(s.block_count, 0);
    CHECK_DBL_NEAR(s.busy_seconds, 0.001, 1e-6);
    /* a block that ends in stop() is still an episode */
    aap_loop_busy_begin(L, due + 600000000);
    aap_loop_stopping(L, due + 700000000);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 1);
    CHECK_DBL_NEAR(s.block_sum, 0.1, 1e-6);
    aap_loop_free(L);
}

/* An idle loop is not polled: the watchdog sleeps (here up to 60 s) and
 * the stretch that begins wakes it, so a block is still seen while it
 * lasts (within the 20 s wait_ongoing allows, not the 60 s). */
static void test_idle_loop_parks(void)
{
    aap_loop *L;
    uint64_t w0, w1;

    aap_watchdog_set_max_sleep_ns(60000000000ull);
    L = mkloop("park", 30, AAP_MODE_SELECTOR);
    aap_loop_select_enter(L, aap_now_ns(), 0); /* idle, in select() */
    sleep_ms(100);
    w0 = aap_watchdog_wakeups();
    sleep_ms(300);
    w1 = aap_watchdog_wakeups();
    /* polled every half threshold, it would have woken ~20 times */
    CHECK(w1 - w0 <= 2);
    aap_loop_busy_begin(L, aap_now_ns());
    CHECK(wait_ongoing(L));
    aap_loop_select_enter(L, aap_now_ns(), 0);
    aap_loop_free(L);
    aap_watchdog_set_max_sleep_ns(1000000000ull);
}

static void test_heartbeat(void)
{
    aap_loop *L = mkloop("hb", 30, AAP_MODE_HEARTBEAT);
    aap_episode_info *v;
    size_t n;
    uint64_t now = aap_now_ns(), due, end;

    due = aap_loop_lag_tick(L, now, now);
    /* no tick came: from the time it was due the loop counts as busy */
    CHECK(wait_ongoing(L));
    CHECK_INT_EQ(aap_loop_blocks(L, &v, &n), 0);
    CHECK(n == 1 && v[0].ongoing);
    aap_episodes_free(v, n);
    end = aap_now_ns();
    end = end > due + 90000000 ? end : due + 90000000;
    aap_loop_lag_tick(L, due, end);
    CHECK_INT_EQ(aap_loop_blocks(L, &v, &n), 0);
    CHECK(n == 1 && !v[0].ongoing);
    /* busy from the time the tick was due */
    CHECK_DBL_NEAR(v[0].duration, (double)(end - due) / 1e9, 1e-9);
    aap_episodes_free(v, n);
    /* closing: a silent heartbeat is idle, not blocked */
    aap_loop_closing_hint(L);
    sleep_ms(60);
    {
        aap_loop_snapshot s;

        aap_loop_snapshot_get(L, &s);
        CHECK(s.current_block == 0);
        CHECK_INT_EQ(s.block_count, 1);
        /* running again: the stretch across the pause is not a block */
        aap_loop_lag_tick(L, end, aap_now_ns());
        aap_loop_snapshot_get(L, &s);
        CHECK_INT_EQ(s.block_count, 1);
    }
    CHECK_INT_EQ(aap_loop_blocks(L, &v, &n), 0);
    CHECK_INT_EQ(n, 1);
    aap_episodes_free(v, n);
    aap_loop_free(L);
}

#define MS 1000000ull

/* A stretch past the threshold is blocking only when one callback is:
 * many short callbacks are saturation, with their own histogram, no
 * episode and no site. */
static void test_segments(void)
{
    aap_loop *L = mkloop("seg", 30, AAP_MODE_SELECTOR);
    aap_episode_info *v;
    aap_loop_snapshot s;
    uint64_t t = aap_now_ns() - 10000 * MS; /* in the past: no watchdog */
    size_t n;
    int i;

    /* 100 callbacks of 1 ms: 100 ms busy, none past 30 ms */
    aap_loop_busy_begin(L, t);
    for (i = 1; i <= 100; i++) {
        aap_loop_mark(L, t + (uint64_t)i * MS);
    }
    aap_loop_select_enter(L, t + 100 * MS, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 0);
    CHECK_INT_EQ(s.saturation_count, 1);
    CHECK_DBL_NEAR(s.saturation_sum, 0.1, 1e-9);
    CHECK_DBL_NEAR(s.busy_seconds, 0.1, 1e-9);
    CHECK_INT_EQ(aap_loop_blocks(L, &v, &n), 0);
    CHECK_INT_EQ(n, 0);
    aap_episodes_free(v, n);

    /* one callback of 40 ms among short ones: blocking, the whole
     * stretch observed */
    t += 200 * MS;
    aap_loop_busy_begin(L, t);
    aap_loop_mark(L, t + 5 * MS);
    aap_loop_mark(L, t + 10 * MS);
    aap_loop_mark(L, t + 50 * MS);
    aap_loop_mark(L, t + 52 * MS);
    aap_loop_select_enter(L, t + 60 * MS, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 1);
    CHECK_DBL_NEAR(s.block_sum, 0.06, 1e-9);
    CHECK_INT_EQ(s.saturation_count, 1);
    CHECK_INT_EQ(aap_loop_blocks(L, &v, &n), 0);
    CHECK(n == 1 && v[0].kind == AAP_EP_BLOCKING);
    aap_episodes_free(v, n);

    /* the last callback, ended by the poll, counts too */
    t += 200 * MS;
    aap_loop_busy_begin(L, t);
    aap_loop_mark(L, t + 1 * MS);
    aap_loop_select_enter(L, t + 45 * MS, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 2);

    /* exactly the threshold is past it; just under is not */
    t += 200 * MS;
    aap_loop_busy_begin(L, t);
    aap_loop_mark(L, t + 29 * MS);
    aap_loop_mark(L, t + 58 * MS);
    aap_loop_select_enter(L, t + 58 * MS + 1, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 2);
    CHECK_INT_EQ(s.saturation_count, 2);
    aap_loop_free(L);
}

/* The loop thread's garbage collections are timed (their duration) and
 * their CPU time is no callback's own; another thread's are not the
 * loop's. */
static void test_gc(void)
{
    aap_loop *L = mkloop("gc", 30, AAP_MODE_SELECTOR);
    aap_loop_snapshot s;
    uint64_t t = aap_now_ns() - 10000 * MS;

    aap_loop_set_tstate(L, 0x1000);
    /* one 60 ms callback, 40 ms of it a collection: saturation */
    aap_loop_busy_begin(L, t);
    aap_loop_mark(L, t);
    aap_loop_gc(L, 0x1000, 1, t + 5 * MS, 100 * MS);
    aap_loop_gc(L, 0x2000, 1, t + 6 * MS, 0); /* another thread's */
    aap_loop_gc(L, 0x2000, 0, t + 50 * MS, 44 * MS);
    aap_loop_gc(L, 0x1000, 0, t + 45 * MS, 140 * MS);
    aap_loop_select_enter(L, t + 60 * MS, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 0);
    CHECK_INT_EQ(s.starved_count, 0);
    CHECK_INT_EQ(s.saturation_count, 1);
    CHECK_INT_EQ(s.gc_count, 1);
    CHECK_DBL_NEAR(s.gc_sum, 0.04, 1e-9);
    /* 80 ms with a 40 ms collection: 40 ms of its own, blocking */
    t += 200 * MS;
    aap_loop_busy_begin(L, t);
    aap_loop_gc(L, 0x1000, 1, t + 5 * MS, 200 * MS);
    aap_loop_gc(L, 0x1000, 0, t + 45 * MS, 240 * MS);
    aap_loop_select_enter(L, t + 80 * MS, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 1);
    CHECK_INT_EQ(s.gc_count, 2);
    /* a 60 ms callback with a collection of 40 ms that ran 5 ms of CPU
     * (the rest waiting for a CPU): 55 ms its own, blocking */
    t += 200 * MS;
    aap_loop_busy_begin(L, t);
    aap_loop_gc(L, 0x1000, 1, t + 5 * MS, 300 * MS);
    aap_loop_gc(L, 0x1000, 0, t + 45 * MS, 305 * MS);
    aap_loop_select_enter(L, t + 60 * MS, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 2);
    /* a collection in an earlier callback is not this one's */
    t += 200 * MS;
    aap_loop_busy_begin(L, t);
    aap_loop_gc(L, 0x1000, 1, t + 1 * MS, 400 * MS);
    aap_loop_gc(L, 0x1000, 0, t + 20 * MS, 419 * MS);
    aap_loop_mark(L, t + 21 * MS);
    aap_loop_select_enter(L, t + 61 * MS, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.block_count, 3);
    aap_loop_free(L);
}

/* A fake schedstat: the test sets the loop thread's run-queue wait and
 * sees when the watchdog looked (its baseline). */
typedef struct fake_sched {
    _Atomic uint64_t wait_ns;
    _Atomic int watchdog_reads;
} fake_sched;

static int fake_schedstat(long tid, aap_schedstat *out, void *ctx)
{
    fake_sched *f = ctx;

    if (tid != 0) {
        atomic_fetch_add(&f->watchdog_reads, 1);
    }
    out->run_ns = 0;
    out->wait_ns = atomic_load(&f->wait_ns);
    return 0;
}

/* One callback of the given length (real time: the watchdog must see
 * it) during which the thread waited `wait` on the run queue after the
 * watchdog's baseline; returns the kind the stretch got. */
static int long_callback(aap_loop *L, fake_sched *f, uint64_t len,
                         uint64_t wait)
{
    aap_loop_snapshot before, after;
    uint64_t t0 = aap_now_ns(), end;
    int i;

    aap_loop_snapshot_get(L, &before);
    atomic_store(&f->watchdog_reads, 0);
    aap_loop_busy_begin(L, t0);
    aap_loop_mark(L, t0);
    /* the watchdog notes the baseline half a threshold in */
    for (i = 0; i < 20000 && atomic_load(&f->watchdog_reads) == 0; i++) {
        sleep_ms(1);
    }
    CHECK(atomic_load(&f->watchdog_reads) > 0);
    atomic_fetch_add(&f->wait_ns, wait);
    end = aap_now_ns();
    end = end > t0 + len ? end : t0 + len;
    aap_loop_select_enter(L, end, 0);
    aap_loop_snapshot_get(L, &after);
    if (after.block_count > before.block_count) {
        return AAP_EP_BLOCKING;
    }
    if (after.starved_count > before.starved_count) {
        return AAP_EP_STARVED;
    }
    if (after.saturation_count > before.saturation_count) {
        return AAP_EP_SATURATION;
    }
    return -1;
}

/* A callback past the threshold that was mostly waiting for a CPU is
 * host starvation, not the loop's blocking; one that ran is blocking
 * whatever it also waited.  The waits are set far from the boundary
 * (own time = length x (1 - wait share since the baseline)), so the
 * verdicts do not depend on when the baseline was taken. */
static void test_starvation(void)
{
    static fake_sched f;
    aap_loop_config c;
    aap_loop *L = NULL;

    memset(&c, 0, sizeof(c));
    c.name = "starved";
    c.implementation = "test";
    c.lag_interval_ns = 10 * MS;
    c.threshold_ns = 20 * MS;
    c.mode = AAP_MODE_SELECTOR;
    c.schedstat = fake_schedstat;
    c.schedstat_ctx = &f;
    CHECK_INT_EQ(aap_loop_new(&c, &L), 0);
    /* 2 s, all but a sliver on the run queue since the baseline */
    CHECK_INT_EQ(long_callback(L, &f, 2000 * MS, 1990 * MS), AAP_EP_STARVED);
    /* 2 s that ran: blocking */
    CHECK_INT_EQ(long_callback(L, &f, 2000 * MS, 0), AAP_EP_BLOCKING);
    /* 2 s, half of it waiting: a second of its own, blocking */
    CHECK_INT_EQ(long_callback(L, &f, 2000 * MS, 1000 * MS), AAP_EP_BLOCKING);
    {
        aap_episode_info *v;
        size_t n;

        CHECK_INT_EQ(aap_loop_blocks(L, &v, &n), 0);
        CHECK_INT_EQ(n, 2); /* the starved stretch is no episode */
        aap_episodes_free(v, n);
    }
    aap_loop_free(L);
}

/* Hook mode (uvloop): a stopped loop's polls (uvloop polls while it
 * closes) are not iterations, nor is it busy; only run_forever()
 * (aap_loop_started) makes it run again, busy from that moment. */
static void test_hook_stop_start(void)
{
    aap_loop *L = mkloop("hook", 30, AAP_MODE_HOOK);
    aap_loop_snapshot s;
    uint64_t t = aap_now_ns() - 10000 * MS;

    aap_loop_busy_begin(L, t);
    aap_loop_select_enter(L, t + 5 * MS, 0);
    aap_loop_busy_begin(L, t + 6 * MS);
    aap_loop_stopping(L, t + 10 * MS); /* run_forever returned */
    aap_loop_select_enter(L, t + 500 * MS, 0);
    aap_loop_busy_begin(L, t + 501 * MS);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.iterations, 1);
    CHECK_DBL_NEAR(s.busy_seconds, 0.009, 1e-9);
    CHECK(s.current_block == 0);
    CHECK(s.no_ready);
    aap_loop_started(L, t + 900 * MS);
    aap_loop_select_enter(L, t + 910 * MS, 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.iterations, 2);
    CHECK_DBL_NEAR(s.busy_seconds, 0.019, 1e-9);
    CHECK_INT_EQ(s.block_count, 0);
    /* the lag timer does not count the stopped time as lateness */
    aap_loop_lag_armed(L, t);
    aap_loop_free(L);
}

/* The pool function table: ids, hints, in-flight slots kept, the one
 * used longest ago given up, "other" when none can be. */
static void test_exec_functions(void)
{
    aap_loop *L = mkloop("pool", 50, AAP_MODE_SELECTOR);
    aap_exec_fn_value v[2 * (AAP_EXEC_FN_MAX + 1)];
    uint32_t id, id2, ids[AAP_EXEC_FN_MAX];
    char name[32];
    size_t n, i;
    int k;

    aap_exec_enable(L, AAP_EXEC_ANYIO, 40);
    id = aap_exec_fn(L, AAP_EXEC_ANYIO, "invoices", "app.py:12",
                     AAP_EXEC_FN_NONE);
    aap_exec_submit(L, AAP_EXEC_ANYIO);
    aap_exec_start(L, AAP_EXEC_ANYIO, 3 * MS, id);
    aap_exec_finish(L, AAP_EXEC_ANYIO, 250 * MS, id);
    /* the hint finds it again; a stale hint falls back to the names */
    id2 = aap_exec_fn(L, AAP_EXEC_ANYIO, "invoices", "app.py:12", id);
    CHECK_INT_EQ(id2, id);
    CHECK_INT_EQ(aap_exec_fn(L, AAP_EXEC_ANYIO, "invoices", "app.py:12",
                             id + (1u << 8)),
                 id);
    aap_exec_submit(L, AAP_EXEC_ANYIO);
    aap_exec_start(L, AAP_EXEC_ANYIO, 1 * MS, id);
    aap_exec_finish(L, AAP_EXEC_ANYIO, 50 * MS, id);
    aap_exec_unstarted(L, AAP_EXEC_ANYIO, id); /* the third never ran */
    aap_loop_exec_fns(L, v, sizeof(v) / sizeof(v[0]), &n);
    CHECK_INT_EQ(n, 1);
    CHECK_STR_EQ(v[0].function, "invoices");
    CHECK_STR_EQ(v[0].site, "app.py:12");
    CHECK_INT_EQ(v[0].which, AAP_EXEC_ANYIO);
    CHECK_INT_EQ(v[0].calls, 2);
    CHECK_DBL_NEAR(v[0].run, 0.3, 1e-9);
    CHECK_DBL_NEAR(v[0].wait, 0.004, 1e-9);

    /* fill the table; every slot but "invoices" keeps a job in flight */
    ids[0] = id;
    for (k = 1; k < AAP_EXEC_FN_MAX; k++) {
        snprintf(name, sizeof(name), "f%d", k);
        ids[k] = aap_exec_fn(L, AAP_EXEC_ANYIO, name, "", AAP_EXEC_FN_NONE);
        sleep_ms(k == 1 ? 20 : 0); /* "invoices" is the oldest use */
    }
    /* a newcomer takes the only slot without a job in flight */
    id2 = aap_exec_fn(L, AAP_EXEC_ANYIO, "render_pdf", "app.py:30",
                      AAP_EXEC_FN_NONE);
    CHECK_INT_EQ(id2 & 0xff, id & 0xff);
    CHECK(id2 != id);
    aap_exec_start(L, AAP_EXEC_ANYIO, 0, id2);
    /* now every slot is held: the next one is "other" */
    id = aap_exec_fn(L, AAP_EXEC_ANYIO, "late", "x.py:1", AAP_EXEC_FN_NONE);
    CHECK_INT_EQ(id & 0xff, AAP_EXEC_FN_MAX);
    aap_exec_start(L, AAP_EXEC_ANYIO, 0, id);
    aap_exec_finish(L, AAP_EXEC_ANYIO, 7 * MS, id);
    aap_exec_finish(L, AAP_EXEC_ANYIO, 9 * MS, id2);
    aap_loop_exec_fns(L, v, sizeof(v) / sizeof(v[0]), &n);
    CHECK_INT_EQ(n, AAP_EXEC_FN_MAX + 1);
    for (i = 0; i < n; i++) {
        CHECK(strcmp(v[i].function, "invoices") != 0); /* given up */
        if (strcmp(v[i].function, "render_pdf") == 0) {
            CHECK_DBL_NEAR(v[i].run, 0.009, 1e-9); /* from zero */
            CHECK_INT_EQ(v[i].calls, 1);
        }
        if (strcmp(v[i].function, "other") == 0) {
            CHECK_DBL_NEAR(v[i].run, 0.007, 1e-9);
        }
    }
    for (k = 1; k < AAP_EXEC_FN_MAX; k++) {
        aap_exec_unstarted(L, AAP_EXEC_ANYIO, ids[k]);
    }
    /* bad ids are ignored */
    aap_exec_start(L, AAP_EXEC_DEFAULT, 0, AAP_EXEC_FN_NONE);
    aap_exec_finish(L, AAP_EXEC_DEFAULT, 0, 0xffffff00u | 0xfe);
    CHECK_INT_EQ(aap_exec_fn(L, 7, "x", "", AAP_EXEC_FN_NONE),
                 AAP_EXEC_FN_NONE);
    aap_loop_free(L);
}

static int has_site(const aap_site_value *v, size_t n, const char *site)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(v[i].site, site) == 0) {
            return 1;
        }
    }
    return 0;
}

#define SEC 1000000000ull
#define MINUTES(m) (60ull * SEC * (m))

/* A full table admits a new site by giving up the slot with the least
 * recent blocked time; counters never go down; "other" is only used when
 * nothing can be given up. */
static void test_site_eviction(void)
{
    aap_loop *L = mkloop("sites", 50, AAP_MODE_SELECTOR);
    aap_site_value v[AAP_SITES_MAX + 1];
    char site[32];
    uint64_t t0 = MINUTES(60);
    size_t n, i;

    /* early sites fill the table: s0 blocked the most */
    for (i = 0; i < AAP_SITES_MAX; i++) {
        snprintf(site, sizeof(site), "early.py:%zu s", i);
        aap_loop_site_charge(L, site, t0 + i, i == 0 ? 100 * SEC : SEC);
    }
    aap_loop_site_charge(L, "early.py:0 s", t0 + 100, SEC);
    aap_loop_sites(L, v, AAP_SITES_MAX + 1, &n);
    CHECK_INT_EQ(n, AAP_SITES_MAX);

    /* same window: the new site replaces the least-charged slot (s1..s19
     * tie at 1 s; s1 was charged longest ago) */
    aap_loop_site_charge(L, "late.py:7 culprit", t0 + MINUTES(1), 2 * SEC);
    aap_loop_sites(L, v, AAP_SITES_MAX + 1, &n);
    CHECK_INT_EQ(n, AAP_SITES_MAX);
    CHECK(has_site(v, n, "late.py:7 culprit"));
    CHECK(!has_site(v, n, "early.py:1 s"));
    CHECK(has_site(v, n, "early.py:0 s"));
    CHECK(!has_site(v, n, "other"));

    /* twenty minutes on, the early sites are quiet except s2..s19; s0,
     * with the largest total, is given up: the last minutes matter */
    for (i = 2; i < AAP_SITES_MAX; i++) {
        snprintf(site, sizeof(site), "early.py:%zu s", i);
        aap_loop_site_charge(L, site, t0 + MINUTES(20), SEC / 1000);
    }
    aap_loop_site_charge(L, "late.py:9 next", t0 + MINUTES(20), SEC / 1000);
    aap_loop_sites(L, v, AAP_SITES_MAX + 1, &n);
    CHECK_INT_EQ(n, AAP_SITES_MAX);
    CHECK(!has_site(v, n, "early.py:0 s"));
    CHECK(has_site(v, n, "late.py:9 next"));
    /* tie at no recent time: the one charged longest ago went first */
    CHECK(has_site(v, n, "late.py:7 culprit"));
    for (i = 0; i < n; i++) {
        if (strcmp(v[i].site, "early.py:5 s") == 0) {
            CHECK_DBL_NEAR(v[i].seconds, 1.001, 1e-9); /* still monotonic */
        }
    }
    /* a returning site is admitted again, counting from its return */
    aap_loop_site_charge(L, "early.py:0 s", t0 + MINUTES(21), SEC);
    aap_loop_sites(L, v, AAP_SITES_MAX + 1, &n);
    for (i = 0; i < n; i++) {
        if (strcmp(v[i].site, "early.py:0 s") == 0) {
            CHECK_DBL_NEAR(v[i].seconds, 1.0, 1e-9);
        }
    }
    CHECK(has_site(v, n, "early.py:0 s"));
    CHECK(!has_site(v, n, "late.py:7 culprit"));
    aap_loop_free(L);
}

static _Atomic int stop_render;
static _Atomic int thread_errors;

/* check.h's counters are not thread-safe: threads count failures here. */
#define TCHECK(cond)                                                          \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond);  \
            atomic_fetch_add(&thread_errors, 1);                              \
        }                                                                     \
    } while (0)

static void *loop_thread(void *arg)
{
    aap_loop_config c;
    aap_loop *L = NULL;
    uint64_t t;
    int i;

    memset(&c, 0, sizeof(c));
    c.name = (const char *)arg;
    c.implementation = "test";
    c.lag_interval_ns = 10000000;
    c.threshold_ns = 5000000;
    c.schedstat = no_wait_schedstat;
    TCHECK(aap_loop_new(&c, &L) == 0);

    /* Stretches of 12 ms (every fifth) and 1 ms under a 5 ms threshold,
     * on a clock the test advances itself, so exactly 8 are episodes
     * however late this thread runs; the real sleeps only make the
     * watchdog and the renderer interleave with it. */
    t = aap_now_ns();
    for (i = 0; i < 40; i++) {
        uint64_t d = i % 5 == 0 ? 12000000 : 1000000;

        aap_loop_busy_begin(L, t);
        sleep_ms(1);
        aap_loop_tasks_add(L, 1, 1);
        aap_exec_submit(L, AAP_EXEC_DEFAULT);
        aap_exec_start(L, AAP_EXEC_DEFAULT, 1000, AAP_EXEC_FN_NONE);
        aap_exec_finish(L, AAP_EXEC_DEFAULT, 1000, AAP_EXEC_FN_NONE);
        aap_loop_select_enter(L, t + d, i);
        aap_loop_lag_tick(L, t, t + d);
        t += d + 1000000;
        {
            /* more sites than slots: evictions race with rendering */
            char site[32];

            snprintf(site, sizeof(site), "x.py:%d f", i);
            aap_loop_site_charge(L, site, aap_now_ns(), 1000);
        }
    }
    {
        aap_loop_snapshot s;

        aap_loop_snapshot_get(L, &s);
        TCHECK(s.block_count == 8);
        TCHECK(s.iterations == 40);
    }
    aap_loop_free(L);
    return NULL;
}

static void *render_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_render)) {
        aat_buf t;

        aat_buf_init(&t, AAP_TEXT_MAX);
        TCHECK(aap_render_metrics(&t) == 0);
        aat_buf_release(&t);
        aat_buf_init(&t, AAP_TEXT_MAX);
        TCHECK(aap_render_blocks(&t) == 0);
        aat_buf_release(&t);
        sleep_ms(1);
    }
    return NULL;
}

/* Resampling: an eighth of the threshold (2 ms to the threshold) while
 * the callback is young; then a 64th of its age, at most 1 s, so a loop
 * frozen for minutes is looked at a few times a second, not hundreds. */
static void test_resample_interval(void)
{
    const uint64_t ms = 1000000;

    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(100 * ms, 0), 12500000);
    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(100 * ms, 800 * ms),
                 12500000);
    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(100 * ms, 1600 * ms),
                 25 * ms);
    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(100 * ms, 10000 * ms),
                 156250000);
    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(100 * ms, 3600000 * ms),
                 1000 * ms);
    /* small thresholds: at least 2 ms, at most the threshold */
    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(5 * ms, 0), 2 * ms);
    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(1 * ms, 0), 1 * ms);
    /* the sqlite test's scale: a 30 ms threshold keeps 3.75 ms for the
     * first 240 ms of a callback */
    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(30 * ms, 240 * ms),
                 3750000);
    CHECK_INT_EQ((long long)aap_watchdog_resample_ns(30 * ms, 640 * ms),
                 10 * ms);
}

static void test_threads(void)
{
    pthread_t r, l[3];
    static const char *names[] = {"a", "b", "c"};
    int i;

    pthread_create(&r, NULL, render_thread, NULL);
    for (i = 0; i < 3; i++) {
        pthread_create(&l[i], NULL, loop_thread, (void *)names[i]);
    }
    for (i = 0; i < 3; i++) {
        pthread_join(l[i], NULL);
    }
    atomic_store(&stop_render, 1);
    pthread_join(r, NULL);
    CHECK_INT_EQ(atomic_load(&thread_errors), 0);
}

int main(void)
{
    test_episode();
    test_lag_correction();
    test_heartbeat();
    test_idle_loop_parks();
    test_segments();
    test_gc();
    test_starvation();
    test_hook_stop_start();
    test_exec_functions();
    test_site_eviction();
    test_resample_interval();
    test_threads();
    aap_shutdown();
    return check_report("test_probe_watchdog");
}
