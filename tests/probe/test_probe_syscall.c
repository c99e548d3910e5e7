/*
 * test_probe_syscall.c: what a thread waits for in the kernel
 * (aap_syscall.c): the parser on sample lines of /proc/<pid>/task/<tid>/
 * syscall, descriptor kinds, the wait of synthetic samples (poll arrays
 * and select sets in memory included), and real threads of this process
 * caught sleeping, reading a socket and waiting on a futex; the names of
 * threads (aap_threads.c); schedstat (run and run-queue time), parsed and
 * read for a real thread.
 */
#include "aap.h"
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void test_parse(void)
{
    aap_ksample k;

    CHECK_INT_EQ(aap_syscall_parse("running\n", &k), 0);
    CHECK_INT_EQ(k.state, AAP_KS_RUNNING);
    CHECK_INT_EQ(aap_syscall_parse("-1 0x7ffd5a3c9e08 0x7f1c2b3a4d5e\n", &k),
                 0);
    CHECK_INT_EQ(k.state, AAP_KS_BLOCKED);
    CHECK_INT_EQ(
        aap_syscall_parse("202 0x55d1c0b2a8e4 0x189 0x0 0x0 0x0 "
                          "0xffffffff 0x7ffc1e2d3c40 0x7f3a1b2c3d4e\n",
                          &k),
        0);
    CHECK_INT_EQ(k.state, AAP_KS_SYSCALL);
    CHECK_INT_EQ(k.nr, 202);
    CHECK(k.arg[0] == 0x55d1c0b2a8e4ull);
    CHECK(k.arg[1] == 0x189);
    CHECK(k.arg[5] == 0xffffffffull);
    CHECK_INT_EQ(
        aap_syscall_parse("0 0x3 0x7f00 0x2000 0x0 0x0 0x0 0x1 0x2", &k), 0);
    CHECK_INT_EQ(k.nr, 0);
    CHECK(k.arg[0] == 3);
    /* anything else is refused, never half-parsed */
    CHECK_INT_EQ(aap_syscall_parse("202 0x1 0x2\n", &k), AAP_EINVAL);
    CHECK_INT_EQ(k.state, AAP_KS_UNKNOWN);
    CHECK_INT_EQ(aap_syscall_parse("", &k), AAP_EINVAL);
    CHECK_INT_EQ(aap_syscall_parse("sleeping", &k), AAP_EINVAL);
    CHECK_INT_EQ(aap_syscall_parse("12x 0x1", &k), AAP_EINVAL);
    CHECK_INT_EQ(aap_syscall_parse(NULL, &k), AAP_EINVAL);
}

static void test_link_kinds(void)
{
    CHECK_INT_EQ(aap_fd_link_kind("socket:[123456]"), AAP_KW_NET);
    CHECK_INT_EQ(aap_fd_link_kind("anon_inode:[eventpoll]"), AAP_KW_NET);
    CHECK_INT_EQ(aap_fd_link_kind("pipe:[77]"), AAP_KW_PIPE);
    CHECK_INT_EQ(aap_fd_link_kind("/srv/app/data.db"), AAP_KW_DBFILE);
    CHECK_INT_EQ(aap_fd_link_kind("/srv/app/data.sqlite3-journal"),
                 AAP_KW_DBFILE);
    CHECK_INT_EQ(aap_fd_link_kind("/srv/app/data.db-wal (deleted)"),
                 AAP_KW_DBFILE);
    CHECK_INT_EQ(aap_fd_link_kind("/var/log/app.log"), AAP_KW_FILE);
    CHECK_INT_EQ(aap_fd_link_kind("/srv/dbx"), AAP_KW_FILE);
    CHECK_INT_EQ(aap_fd_link_kind("anon_inode:[eventfd]"), AAP_KW_OTHER);
    CHECK_INT_EQ(aap_fd_link_kind(""), AAP_KW_UNKNOWN);
}

/* A synthetic sample of system call nr. */
static aap_ksample call(long nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    aap_ksample k;

    memset(&k, 0, sizeof(k));
    k.state = AAP_KS_SYSCALL;
    k.nr = nr;
    k.arg[0] = a0;
    k.arg[1] = a1;
    k.arg[2] = a2;
    return k;
}

static void test_waits(void)
{
    int sv[2], pp[2], fd;
    char path[] = "/tmp/aap-syscall-XXXXXX";
    struct pollfd pfd[2];
    fd_set rd;
    uint64_t futex = 0;
    aap_ksample k;
    static const char journal[] = "/srv/x.sqlite3-journal";

    CHECK_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK_INT_EQ(pipe(pp), 0);
    fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    CHECK_INT_EQ(aap_fd_kind(sv[0], NULL), AAP_KW_NET);
    CHECK_INT_EQ(aap_fd_kind(pp[0], NULL), AAP_KW_PIPE);
    CHECK_INT_EQ(aap_fd_kind(fd, NULL), AAP_KW_FILE);
    CHECK_INT_EQ(aap_fd_kind(-1, NULL), AAP_KW_UNKNOWN);
    CHECK_INT_EQ(aap_fd_kind(100000, NULL), AAP_KW_UNKNOWN);

    k = call(SYS_clock_nanosleep, 1, 0, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_SLEEP);
    k = call(SYS_futex, 0x7f0012345678ull, 0x189, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_FUTEX);
    CHECK(futex == 0x7f0012345678ull);
    k = call(SYS_read, (uint64_t)sv[0], 0x1000, 64);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_NET);
    k = call(SYS_recvfrom, (uint64_t)sv[0], 0x1000, 64);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_NET);
    k = call(SYS_fdatasync, (uint64_t)fd, 0, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_FILE);
    k = call(SYS_read, (uint64_t)pp[0], 0x1000, 64);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_PIPE);
    /* poll: judged by its first descriptor, read from memory */
    pfd[0].fd = sv[1];
    pfd[1].fd = fd;
    k = call(SYS_ppoll, (uint64_t)(uintptr_t)pfd, 2, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_NET);
    k = call(SYS_ppoll, 0, 0, 0); /* poll(NULL, 0, t): a sleep */
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_SLEEP);
    /* select: the lowest descriptor in the read set */
    FD_ZERO(&rd);
    FD_SET(pp[0], &rd);
    k = call(SYS_pselect6, (uint64_t)pp[0] + 1, (uint64_t)(uintptr_t)&rd, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_PIPE);
    k = call(SYS_pselect6, 0, 0, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_SLEEP);
    /* a path argument */
    k = call(SYS_openat, (uint64_t)AT_FDCWD, (uint64_t)(uintptr_t)journal, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_DBFILE);
    k = call(SYS_wait4, 1234, 0, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_PIPE);
    k = call(SYS_getpid, 0, 0, 0);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_OTHER);
    memset(&k, 0, sizeof(k));
    k.state = AAP_KS_RUNNING;
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_CPU);
    k.state = AAP_KS_BLOCKED;
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_UNKNOWN);

    CHECK_INT_EQ(aap_class_of_wait(AAP_KW_SLEEP), AAP_CLASS_SLEEP);
    CHECK_INT_EQ(aap_class_of_wait(AAP_KW_NET), AAP_CLASS_NETWORK);
    CHECK_INT_EQ(aap_class_of_wait(AAP_KW_DBFILE), AAP_CLASS_DATABASE);
    CHECK_INT_EQ(aap_class_of_wait(AAP_KW_FUTEX), AAP_CLASS_LOCK);
    CHECK_INT_EQ(aap_class_of_wait(AAP_KW_CPU), AAP_CLASS_CPU);
    CHECK_INT_EQ(aap_class_of_wait(AAP_KW_UNKNOWN), AAP_CLASS_NONE);
    close(sv[0]);
    close(sv[1]);
    close(pp[0]);
    close(pp[1]);
    close(fd);
}

/* ---- real threads of this process ----------------------------------- */

enum { DO_SLEEP, DO_READ, DO_LOCK, DO_SPIN };

typedef struct worker {
    int what;
    int fd;
    pthread_mutex_t *mutex;
    _Atomic long tid;
    _Atomic int stop;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char c;

    atomic_store(&w->tid, (long)syscall(SYS_gettid));
    if (w->what == DO_SLEEP) {
        struct timespec ts = {0, 50000000};

        while (!atomic_load(&w->stop)) {
            nanosleep(&ts, NULL);
        }
    } else if (w->what == DO_READ) {
        if (read(w->fd, &c, 1) < 0) {
            return NULL;
        }
    } else if (w->what == DO_LOCK) {
        pthread_mutex_lock(w->mutex);
        pthread_mutex_unlock(w->mutex);
    } else {
        while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        }
    }
    return NULL;
}

/* Wait (up to 10 s) until thread w is seen in a system call and return
 * what it waits for. */
static int seen_waiting(worker *w, uint64_t *futex)
{
    aap_ksample k;
    int i;

    for (i = 0; i < 10000; i++) {
        long tid = atomic_load(&w->tid);

        if (tid && aap_syscall_read(tid, &k) == 0 &&
            k.state == AAP_KS_SYSCALL) {
            int r = aap_kstate_wait(&k, NULL, NULL, futex);

            /* the thread may still be on its way (its own set-up calls) */
            if (r != AAP_KW_OTHER) {
                return r;
            }
        }
        usleep(1000);
    }
    return -1;
}

static void test_real_threads(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    worker sl = {DO_SLEEP, -1, NULL, 0, 0}, rd = {DO_READ, -1, NULL, 0, 0};
    worker lk = {DO_LOCK, -1, &m, 0, 0}, sp = {DO_SPIN, -1, NULL, 0, 0};
    pthread_t t1, t2, t3, t4;
    int i, running = 0;
    uint64_t futex = 0;
    int sv[2];
    aap_ksample k;

    CHECK_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    rd.fd = sv[0];
    pthread_mutex_lock(&m);
    CHECK_INT_EQ(pthread_create(&t1, NULL, work, &sl), 0);
    CHECK_INT_EQ(pthread_create(&t2, NULL, work, &rd), 0);
    CHECK_INT_EQ(pthread_create(&t3, NULL, work, &lk), 0);
    CHECK_INT_EQ(pthread_create(&t4, NULL, work, &sp), 0);
    CHECK_INT_EQ(seen_waiting(&sl, &futex), AAP_KW_SLEEP);
    CHECK_INT_EQ(seen_waiting(&rd, &futex), AAP_KW_NET);
    CHECK_INT_EQ(seen_waiting(&lk, &futex), AAP_KW_FUTEX);
    CHECK(futex == (uint64_t)(uintptr_t)&m ||
          (futex >= (uint64_t)(uintptr_t)&m &&
           futex < (uint64_t)(uintptr_t)&m + sizeof(m)));
    /* a thread on CPU is "running" (not every time: it may be preempted
     * when it is read, on a loaded machine) */
    for (i = 0; i < 10000 && !running; i++) {
        long tid = atomic_load(&sp.tid);

        running =
            tid && aap_syscall_read(tid, &k) == 0 && k.state == AAP_KS_RUNNING;
        usleep(1000);
    }
    CHECK(running);
    CHECK_INT_EQ(aap_kstate_wait(&k, NULL, NULL, &futex), AAP_KW_CPU);
    atomic_store(&sp.stop, 1);
    pthread_join(t4, NULL);
    CHECK_INT_EQ(aap_syscall_read(0, &k), -1);
    CHECK_INT_EQ(k.state, AAP_KS_UNKNOWN);

    pthread_mutex_unlock(&m);
    CHECK_INT_EQ(write(sv[1], "x", 1), 1);
    atomic_store(&sl.stop, 1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(t3, NULL);
    close(sv[0]);
    close(sv[1]);
}

static void test_thread_names(void)
{
    char name[AAP_THREAD_NAME_LEN], want[32];
    long self = (long)syscall(SYS_gettid);
    int i;

    /* the kernel's name when none was set */
    pthread_setname_np(pthread_self(), "kern-name");
    aap_thread_name(self, name, sizeof(name));
    CHECK_STR_EQ(name, "kern-name");
    aap_thread_name_set(self, "asyncio_0");
    aap_thread_name(self, name, sizeof(name));
    CHECK_STR_EQ(name, "asyncio_0");
    /* names leave as valid UTF-8 */
    aap_thread_name_set(self, "w\xe9rker\n");
    aap_thread_name(self, name, sizeof(name));
    CHECK_STR_EQ(name, "w\\xe9rker?");
    /* bounded: many other threads' names push the oldest out */
    for (i = 0; i < 200; i++) {
        snprintf(want, sizeof(want), "t%d", i);
        aap_thread_name_set(1000000 + i, want);
    }
    aap_thread_name(1000000 + 199, name, sizeof(name));
    CHECK_STR_EQ(name, "t199");
    aap_thread_name(self, name, sizeof(name));
    CHECK_STR_EQ(name, "kern-name");
    aap_thread_name(0, name, sizeof(name));
    CHECK_STR_EQ(name, "");
}

static void test_schedstat(void)
{
    aap_schedstat st, again;
    volatile unsigned long spin = 0;
    uint64_t end;
    char path[64];
    int fd;

    CHECK_INT_EQ(aap_schedstat_parse("123 456 7\n", &st), 0);
    CHECK(st.run_ns == 123 && st.wait_ns == 456);
    CHECK_INT_EQ(aap_schedstat_parse("18446744073709551615 0 0", &st), 0);
    CHECK(st.run_ns == UINT64_MAX && st.wait_ns == 0);
    CHECK_INT_EQ(aap_schedstat_parse("", &st), AAP_EINVAL);
    CHECK_INT_EQ(aap_schedstat_parse("12 34\n", &st), AAP_EINVAL);
    CHECK_INT_EQ(aap_schedstat_parse("12 -3 4\n", &st), AAP_EINVAL);
    CHECK_INT_EQ(aap_schedstat_parse("12 34 5 junk", &st), AAP_EINVAL);
    CHECK_INT_EQ(aap_schedstat_parse(NULL, &st), AAP_EINVAL);
    CHECK_INT_EQ(aap_schedstat_read(-1, &st, NULL), AAP_EINVAL);

    /* a kernel without schedstats has no such file: nothing to check */
    snprintf(path, sizeof(path), "/proc/thread-self/schedstat");
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return;
    }
    close(fd);
    /* this thread, by 0 and by its id: run time only grows with work */
    CHECK_INT_EQ(aap_schedstat_read(0, &st, NULL), 0);
    end = aap_now_ns() + 20000000;
    while (aap_now_ns() < end) {
        spin++;
    }
    CHECK_INT_EQ(aap_schedstat_read((long)syscall(SYS_gettid), &again, NULL),
                 0);
    CHECK(again.run_ns > st.run_ns);
    CHECK(again.wait_ns >= st.wait_ns);
}

int main(void)
{
    test_schedstat();
    test_parse();
    test_link_kinds();
    test_waits();
    test_real_threads();
    test_thread_names();
    return check_report("test_probe_syscall");
}
