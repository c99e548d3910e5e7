/*
 * test_probe_got.c: GOT slots (aap_got.c) and uvloop's hooks
 * (aap_uvhook.c) on two real shared objects built from gottest_lib.c,
 * one lazily bound, one linked -z now (its GOT read-only after
 * relocation).  A slot is found by a symbol the object imports, patched,
 * left alone when it holds someone else's function, and put back only
 * when it still holds ours; the poll hook counts a bound loop's
 * iterations and nothing for an unbound thread; a loop freed while its
 * thread keeps polling is never used after the free (run under ASan and
 * TSan).
 */
#include "aap.h"
#include "aap_got.h"
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

int gottest_lazy_poll(int epfd, int timeout_ms);
long gottest_lazy_ppid(void);
const void *gottest_lazy_self(void);
int gottest_now_poll(int epfd, int timeout_ms);
long gottest_now_ppid(void);
const void *gottest_now_self(void);

static pid_t fake_ppid(void)
{
    return 4242;
}

static pid_t other_ppid(void)
{
    return 7;
}

static void test_patch(const char *what, const void *marker,
                       long (*ppid)(void), int relro)
{
    aap_got_slot g, g2;
    const char *why = NULL;
    int local = 0;

    CHECK_INT_EQ(aap_got_find(marker, "getppid", &g, &why), 0);
    if (why) {
        fprintf(stderr, "%s: %s\n", what, why);
    }
    CHECK_INT_EQ(g.prot_lo != 0, relro);
    CHECK_INT_EQ(ppid(), getppid());
    CHECK_INT_EQ(
        aap_got_patch(&g, (uintptr_t)getppid, (uintptr_t)fake_ppid, &why), 0);
    CHECK_INT_EQ(ppid(), 4242);
    /* patching again with the same hook is a no-op */
    CHECK_INT_EQ(
        aap_got_patch(&g, (uintptr_t)getppid, (uintptr_t)fake_ppid, &why), 0);
    /* a slot that calls something else now is someone else's hook */
    CHECK_INT_EQ(aap_got_find(marker, "getppid", &g2, &why), 0);
    why = NULL;
    CHECK_INT_EQ(
        aap_got_patch(&g2, (uintptr_t)getppid, (uintptr_t)other_ppid, &why),
        AAP_EINVAL);
    CHECK(why && strstr(why, "another"));
    CHECK_INT_EQ(ppid(), 4242);
    CHECK_INT_EQ(aap_got_restore(&g, (uintptr_t)fake_ppid), 1);
    CHECK_INT_EQ(ppid(), getppid());
    /* no longer ours: left as it is */
    CHECK_INT_EQ(aap_got_restore(&g, (uintptr_t)fake_ppid), 0);
    CHECK_INT_EQ(ppid(), getppid());

    why = NULL;
    CHECK_INT_EQ(aap_got_find(marker, "no_such_symbol_here", &g, &why),
                 AAP_EINVAL);
    CHECK(why != NULL);
    CHECK_INT_EQ(aap_got_find(&local, "getppid", &g, &why), AAP_EINVAL);
    CHECK_STR_EQ(why, "no loaded object contains the address");
}

static _Atomic int hook_calls;

static pid_t counting_ppid(void)
{
    atomic_fetch_add(&hook_calls, 1);
    aap_uvhook_mark();
    return getppid();
}

static aap_loop *mkloop(const char *name)
{
    aap_loop_config c;
    aap_loop *L = NULL;

    memset(&c, 0, sizeof(c));
    c.name = name;
    c.implementation = "uvloop";
    c.lag_interval_ns = 10000000;
    c.threshold_ns = 50000000;
    c.mode = AAP_MODE_HOOK;
    CHECK_INT_EQ(aap_loop_new(&c, &L), 0);
    return L;
}

static _Atomic int stop_polling;
static _Atomic int polls;
static _Atomic int bound;

/* A "loop thread": binds L, then polls (and "runs callbacks") until
 * told to stop, also after L was freed under it. */
static void *poller(void *arg)
{
    aap_loop *L = arg;
    int ep = epoll_create1(0);

    if (aap_uvhook_bind(L) == 0) {
        atomic_store(&bound, 1);
    }
    while (!atomic_load(&stop_polling)) {
        gottest_lazy_poll(ep, 0);
        gottest_lazy_ppid();
        atomic_fetch_add(&polls, 1);
    }
    close(ep);
    return NULL;
}

static void test_uvhook(void)
{
    const aap_hook_spec extra[1] = {
        {"getppid", (void *)counting_ppid, (void *)getppid}};
    const char *why = NULL;
    aap_loop_snapshot s;
    aap_loop *L;
    pthread_t t;
    int ep = epoll_create1(0), i, before;

    CHECK_INT_EQ(aap_uvhook_acquire(gottest_lazy_self(), extra, 1, &why), 0);
    /* a second user shares the hooks */
    CHECK_INT_EQ(aap_uvhook_acquire(gottest_lazy_self(), extra, 1, &why), 0);
    aap_uvhook_release();

    /* an unbound thread goes straight through */
    CHECK_INT_EQ(gottest_lazy_ppid(), getppid());
    CHECK_INT_EQ(atomic_load(&hook_calls), 1);

    L = mkloop("bound");
    CHECK_INT_EQ(aap_uvhook_bind(L), 0);
    for (i = 0; i < 3; i++) {
        CHECK_INT_EQ(gottest_lazy_poll(ep, 0), 0);
        gottest_lazy_ppid();
    }
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.iterations, 3);
    CHECK(s.busy_seconds > 0);
    CHECK(s.no_ready && !s.heartbeat);
    CHECK(s.current_block > 0); /* busy since the last poll returned */
    aap_loop_free(L);           /* unbinds this thread */
    CHECK_INT_EQ(gottest_lazy_poll(ep, 0), 0);

    /* freed while its thread keeps polling */
    L = mkloop("racing");
    pthread_create(&t, NULL, poller, L);
    while (!atomic_load(&bound) || atomic_load(&polls) < 1000) {
        sched_yield();
    }
    aap_loop_free(L);
    before = atomic_load(&polls);
    while (atomic_load(&polls) < before + 1000) {
        sched_yield();
    }
    atomic_store(&stop_polling, 1);
    pthread_join(t, NULL);

    /* the last release puts the slots back */
    before = atomic_load(&hook_calls);
    aap_uvhook_release();
    CHECK_INT_EQ(gottest_lazy_ppid(), getppid());
    CHECK_INT_EQ(atomic_load(&hook_calls), before);

    /* an object that does not import a symbol is refused whole: its
     * epoll_pwait is not patched either */
    why = NULL;
    {
        const aap_hook_spec bad[1] = {
            {"no_such_symbol_here", (void *)counting_ppid, (void *)getppid}};

        CHECK_INT_EQ(aap_uvhook_acquire(gottest_lazy_self(), bad, 1, &why),
                     AAP_EINVAL);
        CHECK(why != NULL);
    }
    L = mkloop("refused");
    CHECK_INT_EQ(aap_uvhook_bind(L), 0);
    CHECK_INT_EQ(gottest_lazy_poll(ep, 0), 0);
    aap_loop_snapshot_get(L, &s);
    CHECK_INT_EQ(s.iterations, 0);
    aap_loop_free(L);
    close(ep);
}

int main(void)
{
    test_patch("lazy", gottest_lazy_self(), gottest_lazy_ppid, 0);
    test_patch("now", gottest_now_self(), gottest_now_ppid, 1);
    test_uvhook();
    aap_shutdown();
    return check_report("test_probe_got");
}
