/*
 * test_probe_ticker.c: the lag tick schedule of a loop whose waits the
 * probe sees (aap_ticker.c), on a fake clock: ticks where a wait starts
 * or ends, idle waits capped at the idle wake-up on the schedule, the
 * ticks an idle wait slept through recorded with its wake-up latency (or
 * the last one measured, when an event ended it), and late wake-ups
 * recorded as lag.
 */
#include "test_loops.h"

#define MS 1000000ull
#define US 1000ull

static aap_loop *mkloop(uint64_t interval_ms)
{
    return test_loop("ticker", interval_ms, 50, AAP_MODE_SELECTOR);
}

static void lag(aap_loop *L, uint64_t *count, double *sum)
{
    aap_loop_snapshot s;

    aap_loop_snapshot_get(L, &s);
    *count = s.lag_count;
    *sum = s.lag_sum;
}

/* A busy loop (select(0) all the time): a tick runs at the first wait
 * past its due time, late by as much; timeouts are never touched. */
static void test_busy(void)
{
    aap_loop *L = mkloop(10);
    aap_ticker k = {0};
    uint64_t t0 = 1000 * MS, c;
    double sum;
    int ticked;

    CHECK_INT_EQ(aap_ticker_wait(&k, L, t0, 0, &ticked), 0);
    CHECK(!ticked); /* armed: due at t0 + 10 ms */
    CHECK(!aap_ticker_woke(&k, L, t0 + 1 * MS, 0));
    CHECK_INT_EQ(aap_ticker_wait(&k, L, t0 + 9 * MS, 0, &ticked), 0);
    CHECK(!ticked);
    CHECK_INT_EQ(aap_ticker_wait(&k, L, t0 + 10 * MS + 300 * US, 0, &ticked),
                 0);
    CHECK(ticked);
    lag(L, &c, &sum);
    CHECK_INT_EQ(c, 1);
    CHECK_DBL_NEAR(sum, 0.0003, 1e-12);
    /* a 35 ms callback: due at 20.3, seen at 55.3: 35, 25, 15, 5 ms */
    CHECK_INT_EQ(aap_ticker_wait(&k, L, t0 + 55 * MS + 300 * US, 0, &ticked),
                 0);
    CHECK(ticked);
    lag(L, &c, &sum);
    CHECK_INT_EQ(c, 5);
    CHECK_DBL_NEAR(sum, 0.0003 + 0.080, 1e-9);
    /* a short timeout (the loop's own timer, before the tick): as asked */
    CHECK_INT_EQ(aap_ticker_wait(&k, L, t0 + 56 * MS, 3 * MS, &ticked),
                 3 * MS);
    /* a wait past the tick (due t0 + 65.3) for the loop's own timer at
     * t0 + 68 is idle: the tick it slept through gets the wake-up's
     * latency, 0 here, not the 2.7 ms nobody waited */
    CHECK_INT_EQ(aap_ticker_wait(&k, L, t0 + 60 * MS, 8 * MS, &ticked),
                 8 * MS);
    CHECK(aap_ticker_woke(&k, L, t0 + 68 * MS, 1));
    lag(L, &c, &sum);
    CHECK_INT_EQ(c, 6);
    CHECK_DBL_NEAR(sum, 0.0803, 1e-9);
    aap_loop_free(L);
}

/* An idle loop (select(None)) waits up to 100 ms, ending on a tick of
 * the schedule; the ticks it slept through get its wake-up latency. */
static void test_idle(void)
{
    aap_loop *L = mkloop(10);
    aap_ticker k = {0};
    uint64_t t0 = 1000 * MS, c;
    double sum;
    int ticked;
    int64_t w;

    aap_ticker_arm(&k, L, t0); /* due t0 + 10 */
    w = aap_ticker_wait(&k, L, t0 + 3 * MS, -1, &ticked);
    CHECK_INT_EQ(w, 97 * MS); /* the tick at t0 + 100, 97 ms away */
    /* woke 0.4 ms after the timeout: ticks 10, 20, ..., 100, 0.4 ms late */
    CHECK(aap_ticker_woke(&k, L, t0 + 100 * MS + 400 * US, 1));
    lag(L, &c, &sum);
    CHECK_INT_EQ(c, 10);
    CHECK_DBL_NEAR(sum, 10 * 0.0004, 1e-12);
    /* next tick: t0 + 110; a timeout of 1 s is capped the same way */
    w = aap_ticker_wait(&k, L, t0 + 101 * MS, 1000 * MS, &ticked);
    CHECK(!ticked);
    CHECK_INT_EQ(w, 99 * MS); /* to t0 + 200 */
    /* an event at t0 + 147.5: ticks 110-140 were slept through; they get
     * the last measured latency */
    CHECK(aap_ticker_woke(&k, L, t0 + 147 * MS + 500 * US, 0));
    lag(L, &c, &sum);
    CHECK_INT_EQ(c, 14);
    CHECK_DBL_NEAR(sum, 14 * 0.0004, 1e-12);
    /* the loop's own timer 35 ms away, past the tick: it ends the wait */
    w = aap_ticker_wait(&k, L, t0 + 148 * MS, 35 * MS, &ticked);
    CHECK_INT_EQ(w, 35 * MS);
    CHECK(aap_ticker_woke(&k, L, t0 + 183 * MS + 100 * US, 1));
    lag(L, &c, &sum);
    CHECK_INT_EQ(c, 18); /* 150, 160, 170, 180: 0.1 ms late each */
    CHECK_DBL_NEAR(sum, 14 * 0.0004 + 4 * 0.0001, 1e-12);
    /* the loop's own timer 100 ms away: past the last tick within 100 ms
     * (t0 + 280), but within the idle wake-up, so it alone ends the wait
     * (uvicorn's 0.1 s timer: one wake-up, not two) */
    w = aap_ticker_wait(&k, L, t0 + 183 * MS + 200 * US, 100 * MS, &ticked);
    CHECK_INT_EQ(w, 100 * MS);
    /* 101 ms: beyond it, capped on the schedule */
    w = aap_ticker_wait(&k, L, t0 + 183 * MS + 200 * US, 101 * MS, &ticked);
    CHECK_INT_EQ(w, 96 * MS + 800 * US);
    /* an event before the next tick (t0 + 190): nothing is due */
    w = aap_ticker_wait(&k, L, t0 + 184 * MS, -1, &ticked);
    CHECK(!ticked);
    CHECK(!aap_ticker_woke(&k, L, t0 + 186 * MS, 0));
    lag(L, &c, &sum);
    CHECK_INT_EQ(c, 18);
    aap_loop_free(L);
}

/* A wake-up far past the timeout (a thread held the GIL for 60 ms): the
 * ticks before the planned wake-up get its latency, those after it are
 * late by what they waited. */
static void test_late_wake(void)
{
    aap_loop *L = mkloop(10);
    aap_ticker k = {0};
    uint64_t t0 = 1000 * MS, c;
    double sum;
    int ticked;

    aap_ticker_arm(&k, L, t0);
    CHECK_INT_EQ(aap_ticker_wait(&k, L, t0, -1, &ticked), 100 * MS);
    CHECK(aap_ticker_woke(&k, L, t0 + 160 * MS, 1));
    lag(L, &c, &sum);
    /* 10 ticks (10-100) 60 ms late; 110-160: 50, 40, 30, 20, 10, 0 */
    CHECK_INT_EQ(c, 16);
    CHECK_DBL_NEAR(sum, 10 * 0.060 + 0.150, 1e-9);
    aap_loop_free(L);
}

/* An interval longer than the idle wake-up: one interval per wait. */
static void test_long_interval(void)
{
    aap_loop *L = mkloop(250);
    aap_ticker k = {0};
    int ticked;

    aap_ticker_arm(&k, L, 0);
    CHECK_INT_EQ(aap_ticker_wait(&k, L, 10 * MS, -1, &ticked), 240 * MS);
    aap_loop_free(L);
}

int main(void)
{
    test_busy();
    test_idle();
    test_late_wake();
    test_long_interval();
    return check_report("test_probe_ticker");
}
