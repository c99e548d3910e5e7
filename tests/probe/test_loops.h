/*
 * test_loops.h: loops for the probe's C tests that drive them on their
 * own clock (test_probe_watchdog.c, test_probe_ticker.c).  Each test is
 * its own executable, so the helpers are static here.
 */
#ifndef TEST_LOOPS_H
#define TEST_LOOPS_H
#include "aap.h"
#include "aap_int.h"
#include "check.h"

#include <string.h>

/* Loops that never wait on the run queue as far as the probe knows:
 * their stretches are on the test's clock, so a real run-queue wait (a
 * loaded machine, valgrind) must not turn them into host starvation.
 * The starvation tests pass their own (fake_schedstat). */
static int no_wait_schedstat(long tid, aap_schedstat *out, void *ctx)
{
    (void)tid;
    (void)ctx;
    out->run_ns = 0;
    out->wait_ns = 0;
    return 0;
}

/* A registered loop (the watchdog runs while it exists). */
static aap_loop *test_loop(const char *name, uint64_t interval_ms,
                           uint64_t thr_ms, int mode)
{
    aap_loop_config c;
    aap_loop *L = NULL;

    memset(&c, 0, sizeof(c));
    c.name = name;
    c.implementation = "test";
    c.version = "t";
    c.lag_interval_ns = interval_ms * 1000000;
    c.threshold_ns = thr_ms * 1000000;
    c.mode = mode;
    c.schedstat = no_wait_schedstat;
    CHECK_INT_EQ(aap_loop_new(&c, &L), 0);
    return L;
}
#endif
