/*
 * aap_ticker.c: when the lag tick of a loop whose waits the probe sees
 * (asyncio's select(), through the Selector wrapper) falls due, and how
 * long the loop may wait before it.
 *
 * A busy loop runs a due tick at the next wait's start or end: its
 * lateness is the lag.  A loop that would sleep past its next tick is
 * idle; waking it for every tick (100 a second) costs nothing in lag
 * accuracy but a context switch each, which on a CPU shared by several
 * workers is most of what the probe costs them (docs/benchmarks.md, 9c).
 * So an idle wait lasts up to AAP_IDLE_WAKE_NS (or one interval, if
 * longer): until the loop's own timer if that comes by then (a server's
 * housekeeping timer, uvicorn's 0.1 s), else until the last tick of the
 * schedule by then.  When it ends by its timeout,
 * how late it ended is the loop's wake-up latency (a thread holding the
 * GIL, a busy CPU), and every tick that fell due while the loop slept is
 * recorded with it: the lag histogram keeps one sample per interval, and
 * its shares stay shares of time.  A wait ended by an event records the
 * ticks that fell due with the latency the last timed-out wait measured.
 * A wake-up later than a whole interval also records, for the ticks due
 * after the planned end, how late each ran (as aap_loop_lag_tick does).
 *
 * Loop thread only; no locks, no clock reads: every time is passed in,
 * so the unit tests run it on a fake clock.
 */
#include "aap_int.h"

/* The end of a wait of ns from now: epoll's timeout is in whole
 * milliseconds, rounded up. */
static uint64_t wait_end(uint64_t now, uint64_t ns)
{
    return now + (ns + 999999u) / 1000000u * 1000000u;
}

void aap_ticker_arm(aap_ticker *k, aap_loop *L, uint64_t now)
{
    k->due = now + L->lag_interval_ns;
    k->planned = 0;
    aap_loop_lag_armed(L, now);
}

int64_t aap_ticker_wait(aap_ticker *k, aap_loop *L, uint64_t now,
                        int64_t timeout_ns, int *ticked)
{
    uint64_t iv = L->lag_interval_ns, until, horizon, cap;

    *ticked = 0;
    k->planned = 0;
    if (k->due == 0) {
        aap_ticker_arm(k, L, now);
    } else if (now >= k->due) {
        k->due = aap_loop_lag_tick(L, k->due, now);
        *ticked = 1;
    }
    until = k->due > now ? k->due - now : 0;
    if (timeout_ns >= 0 && (uint64_t)timeout_ns <= until) {
        return timeout_ns; /* the loop wakes before the tick anyway */
    }
    /* idle: the loop's own timer if it comes within the idle wake-up
     * (no wake-up of ours added to it), else the last tick of the
     * schedule within the idle wake-up */
    horizon = AAP_IDLE_WAKE_NS > until ? AAP_IDLE_WAKE_NS : until;
    if (timeout_ns >= 0 && (uint64_t)timeout_ns <= horizon) {
        cap = (uint64_t)timeout_ns;
    } else {
        cap = until + (horizon - until) / iv * iv;
    }
    k->planned = wait_end(now, cap);
    return (int64_t)cap;
}

int aap_ticker_woke(aap_ticker *k, aap_loop *L, uint64_t now, int timed_out)
{
    uint64_t iv = L->lag_interval_ns, planned = k->planned, last, n;

    k->planned = 0;
    if (k->due == 0 || now < k->due) {
        return 0;
    }
    if (!planned) {
        k->due = aap_loop_lag_tick(L, k->due, now);
        return 1;
    }
    if (timed_out) {
        k->wake_late = now > planned ? now - planned : 0;
    }
    last = now < planned ? now : planned;
    n = last >= k->due ? (last - k->due) / iv + 1 : 0;
    aap_loop_lag_observe(L, k->wake_late, n);
    k->due += n * iv;
    if (now >= k->due) {
        /* woken later than the next tick: those ran late */
        k->due = aap_loop_lag_tick(L, k->due, now);
    }
    return 1;
}
