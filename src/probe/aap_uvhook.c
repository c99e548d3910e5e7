/*
 * aap_uvhook.c: uvloop's iterations and callbacks, seen through its GOT.
 *
 * Why: uvloop's loop is compiled (libuv inside its extension): there is
 * no selector to wrap and no ready queue to replace, so without this the
 * probe infers busy from a late timer (heartbeat mode) and cannot tell a
 * blocking callback from a saturated loop.  libuv polls with epoll_pwait
 * and uvloop starts every callback (handles, timers, protocol methods)
 * with PyContext_Enter, each called through the extension's own GOT
 * (aap_got.c).  Pointing those slots at the probe gives the same
 * boundaries as asyncio's: a poll ends a busy stretch and its return
 * begins one (aap_loop_select_enter, aap_loop_busy_begin), entering a
 * callback's context is a callback boundary (aap_loop_mark).  Other libraries
 * keep calling the real functions; in uvloop the hook costs a
 * thread-local load when the thread is not a probed loop's.
 *
 * Binding: the GOT is process-wide, the loop is per thread.  A loop
 * thread binds itself (a record of a fixed table, found through a
 * thread-local pointer); a hook uses the record's loop only between
 * setting the record's `inside` flag and clearing it, with sequentially
 * consistent accesses on both sides, so that aap_uvhook_unbind (any
 * thread, before the loop is freed) can clear the binding and then wait
 * until no hook still uses it (Dekker's handshake: either the hook sees
 * the cleared binding, or the unbinding thread sees it inside).  A hook
 * never blocks while inside: the real poll runs outside.  A thread's
 * record is given back when it exits (a pthread key destructor), and in a
 * forked child every record but the forking thread's.
 */
#include "aap_got.h"
#include "aap_int.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BIND_MAX 64
#define HOOK_MAX 8

typedef struct uv_bind {
    _Atomic(aap_loop *) loop;
    _Atomic int inside;
    _Atomic int used;
} uv_bind;

static uv_bind binds[BIND_MAX];
static _Thread_local uv_bind *tl_bind;
static pthread_key_t bind_key;
static pthread_once_t bind_once = PTHREAD_ONCE_INIT;
static int bind_key_ok;

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static int hook_users;
static aap_got_slot slots[HOOK_MAX];
static uintptr_t slot_hooks[HOOK_MAX];
static size_t nslots;

/* The loop bound to record b, with b marked in use; NULL (and not in
 * use) when none. */
static inline aap_loop *enter(uv_bind *b)
{
    aap_loop *L;

    atomic_store_explicit(&b->inside, 1, memory_order_seq_cst);
    L = atomic_load_explicit(&b->loop, memory_order_seq_cst);
    if (!L) {
        atomic_store_explicit(&b->inside, 0, memory_order_release);
    }
    return L;
}

static inline void leave(uv_bind *b)
{
    atomic_store_explicit(&b->inside, 0, memory_order_release);
}

static int hook_epoll_pwait(int epfd, struct epoll_event *events,
                            int maxevents, int timeout,
                            const sigset_t *sigmask)
{
    uv_bind *b = tl_bind;
    aap_loop *L;
    int r, e;

    if (b && (L = enter(b)) != NULL) {
        aap_loop_select_enter(L, aap_now_ns(), 0);
        leave(b);
    }
    r = epoll_pwait(epfd, events, maxevents, timeout, sigmask);
    e = errno;
    if (b && (L = enter(b)) != NULL) {
        aap_loop_busy_begin(L, aap_now_ns());
        leave(b);
    }
    errno = e;
    return r;
}

void aap_uvhook_mark(void)
{
    uv_bind *b = tl_bind;
    aap_loop *L;

    if (b && (L = enter(b)) != NULL) {
        aap_loop_mark(L, aap_now_ns());
        leave(b);
    }
}

static void bind_release(void *p)
{
    uv_bind *b = p;

    atomic_store(&b->loop, NULL);
    atomic_store(&b->used, 0);
}

static void fork_child(void)
{
    int i;

    for (i = 0; i < BIND_MAX; i++) {
        if (&binds[i] != tl_bind) {
            atomic_store(&binds[i].loop, NULL);
            atomic_store(&binds[i].inside, 0);
            atomic_store(&binds[i].used, 0);
        }
    }
}

static void bind_init(void)
{
    bind_key_ok = pthread_key_create(&bind_key, bind_release) == 0;
    pthread_atfork(NULL, NULL, fork_child);
}

int aap_uvhook_bind(aap_loop *L)
{
    uv_bind *b = tl_bind;
    int i;

    pthread_once(&bind_once, bind_init);
    for (i = 0; i < BIND_MAX; i++) {
        aap_loop *expect = L;

        if (&binds[i] != b) { /* L moved threads: not the old one's now */
            atomic_compare_exchange_strong(&binds[i].loop, &expect, NULL);
        }
    }
    if (!b) {
        if (!bind_key_ok) {
            return AAP_ETOOBIG;
        }
        for (i = 0; i < BIND_MAX && !b; i++) {
            int expect = 0;

            if (atomic_compare_exchange_strong(&binds[i].used, &expect, 1)) {
                b = &binds[i];
            }
        }
        if (!b) {
            return AAP_ETOOBIG;
        }
        tl_bind = b;
        pthread_setspecific(bind_key, b);
    }
    atomic_store_explicit(&L->tid, (long)syscall(SYS_gettid),
                          memory_order_relaxed);
    atomic_store(&b->loop, L);
    return 0;
}

void aap_uvhook_unbind(aap_loop *L)
{
    int i;

    for (i = 0; i < BIND_MAX; i++) {
        aap_loop *expect = L;

        atomic_compare_exchange_strong(&binds[i].loop, &expect, NULL);
    }
    /* a hook that loaded L before it was cleared is still inside */
    for (i = 0; i < BIND_MAX; i++) {
        if (&binds[i] == tl_bind) {
            continue; /* this thread is in no hook: it is here */
        }
        while (atomic_load_explicit(&binds[i].inside, memory_order_seq_cst)) {
            sched_yield();
        }
    }
}

/* Put every patched slot back (hook_lock held). */
static void restore_all(void)
{
    size_t i;

    for (i = 0; i < nslots; i++) {
        aap_got_restore(&slots[i], slot_hooks[i]);
    }
    nslots = 0;
}

int aap_uvhook_acquire(const void *in_object, const aap_hook_spec *extra,
                       size_t n, const char **why)
{
    aap_hook_spec all[HOOK_MAX];
    size_t i;
    int rc = 0;

    *why = NULL;
    if (n + 1 > HOOK_MAX) {
        *why = "too many hooks";
        return AAP_EINVAL;
    }
    all[0] = (aap_hook_spec){"epoll_pwait", (void *)hook_epoll_pwait,
                             (void *)epoll_pwait};
    for (i = 0; i < n; i++) {
        all[i + 1] = extra[i];
    }
    pthread_mutex_lock(&hook_lock);
    if (hook_users > 0) {
        hook_users++;
        goto out;
    }
    for (i = 0; i < n + 1; i++) {
        rc = aap_got_find(in_object, all[i].symbol, &slots[i], why);
        if (rc < 0) {
            goto out;
        }
    }
    for (i = 0; i < n + 1; i++) {
        rc = aap_got_patch(&slots[i], (uintptr_t)all[i].real,
                           (uintptr_t)all[i].hook, why);
        if (rc < 0) {
            restore_all();
            goto out;
        }
        slot_hooks[i] = (uintptr_t)all[i].hook;
        nslots = i + 1;
    }
    hook_users = 1;
out:
    pthread_mutex_unlock(&hook_lock);
    return rc;
}

void aap_uvhook_release(void)
{
    pthread_mutex_lock(&hook_lock);
    if (hook_users > 0 && --hook_users == 0) {
        restore_all();
    }
    pthread_mutex_unlock(&hook_lock);
}
