/*
 * gottest_lib.c: a shared object that calls epoll_pwait and getppid
 * through its PLT, built twice by tests/probe (lazy binding, and -z now
 * with RELRO), for test_probe_got.c: the probe must find and replace
 * exactly these GOT slots, as it does in uvloop's extension.
 */
#include <sys/epoll.h>
#include <unistd.h>

#ifdef GOTTEST_NOW
#define GOTTEST(name) gottest_now_##name
#else
#define GOTTEST(name) gottest_lazy_##name
#endif

int GOTTEST(poll)(int epfd, int timeout_ms);
long GOTTEST(ppid)(void);
const void *GOTTEST(self)(void);

static const int marker = 42;

/* An address inside this object (a data address taken by the executable
 * could be a copy relocation in the executable's own memory). */
const void *GOTTEST(self)(void)
{
    return &marker;
}

int GOTTEST(poll)(int epfd, int timeout_ms)
{
    struct epoll_event ev;

    return epoll_pwait(epfd, &ev, 1, timeout_ms, NULL);
}

long GOTTEST(ppid)(void)
{
    return (long)getppid();
}
