/*
 * test_probe_watchdog.c: episodes detected by the watchdog while the
 * "loop thread" is still busy, closed by it with exact durations; lag
 * correction; heartbeat mode; several loops and a renderer racing (this
 * file is the TSan target together with test_probe_exporter).
 *
 * No assertion depends on how promptly a thread wakes up: stretch
 * durations are passed as explicit timestamps, and where the real
 * watchdog must notice an episode the test waits for it with a deadline
 * far beyond any scheduling delay.
 */
#include "aap.h"
#include "check.h"

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
    aap_loop_config c;
    aap_loop *L = NULL;

    memset(&c, 0, sizeof(c));
    c.name = name;
    c.implementation = "test";
    c.version = "t";
    c.lag_interval_ns = 10000000;
    c.threshold_ns = thr_ms * 1000000;
    c.mode = mode;
    CHECK_INT_EQ(aap_loop_new(&c, &L), 0);
    return L;
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
        aap_exec_start(L, AAP_EXEC_DEFAULT, 1000);
        aap_exec_finish(L, AAP_EXEC_DEFAULT, 1000);
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
    test_site_eviction();
    test_threads();
    aap_shutdown();
    return check_report("test_probe_watchdog");
}
