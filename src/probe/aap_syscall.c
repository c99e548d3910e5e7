/*
 * aap_syscall.c: what a thread of this process is doing in the kernel.
 *
 * Why: a Python stack says which line blocks, not why: time.sleep(),
 * sock.recv() and a sqlite3 query are one C call each, with no Python
 * frame below the user's line.  The kernel knows: /proc/self/task/<tid>/
 * syscall gives the system call a thread sleeps in and its arguments (or
 * "running" while it is on CPU), and /proc/self/fd/<n> what a descriptor
 * is.  Reading them needs no ptrace rights for a thread of our own
 * process.  The syscall numbers are the build architecture's
 * (<sys/syscall.h>); calls an architecture lacks are left out.  The same
 * directory's schedstat says how long a thread waited on a run queue for
 * a CPU: a loop thread that sat there is starved by the host, not blocked
 * by its own code.
 */
#include "aap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int aap_syscall_parse(const char *text, aap_ksample *out)
{
    const char *p = text;
    char *end;
    long nr;
    int i;

    memset(out, 0, sizeof(*out));
    if (!text) {
        return AAP_EINVAL;
    }
    if (strncmp(p, "running", 7) == 0) {
        out->state = AAP_KS_RUNNING;
        return 0;
    }
    errno = 0;
    nr = strtol(p, &end, 10);
    if (end == p || errno || (*end != ' ' && *end != '\n' && *end)) {
        return AAP_EINVAL;
    }
    if (nr < 0) {
        out->state = AAP_KS_BLOCKED;
        out->nr = -1;
        return 0;
    }
    p = end;
    for (i = 0; i < 6; i++) {
        unsigned long long v;

        errno = 0;
        v = strtoull(p, &end, 16);
        if (end == p || errno) {
            return AAP_EINVAL;
        }
        out->arg[i] = (uint64_t)v;
        p = end;
    }
    out->state = AAP_KS_SYSCALL;
    out->nr = nr;
    return 0;
}

/* Read at most cap - 1 bytes of a /proc file into buf (NUL-terminated);
 * the length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return -1;
    }
    do {
        n = read(fd, buf, cap - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        return -1;
    }
    buf[n] = '\0';
    return n;
}

int aap_syscall_read(long tid, aap_ksample *out)
{
    char path[64], buf[256];

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall", tid);
    if (tid <= 0 || read_small(path, buf, sizeof(buf)) <= 0 ||
        aap_syscall_parse(buf, out) < 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

int aap_fd_link_kind(const char *link)
{
    static const char *const db[] = {".db",      ".sqlite", ".sqlite3",
                                     "-journal", "-wal",    "-shm"};
    size_t n, i;

    if (!link || !*link) {
        return AAP_KW_UNKNOWN;
    }
    if (strncmp(link, "socket:", 7) == 0 ||
        strcmp(link, "anon_inode:[eventpoll]") == 0) {
        return AAP_KW_NET;
    }
    if (strncmp(link, "pipe:", 5) == 0) {
        return AAP_KW_PIPE;
    }
    if (link[0] != '/') {
        return AAP_KW_OTHER;
    }
    n = strlen(link);
    if (ends_with(link, n, " (deleted)")) {
        n -= strlen(" (deleted)");
    }
    for (i = 0; i < sizeof(db) / sizeof(db[0]); i++) {
        if (ends_with(link, n, db[i])) {
            return AAP_KW_DBFILE;
        }
    }
    return AAP_KW_FILE;
}

int aap_fd_kind(int fd, void *ctx)
{
    char path[64], link[512];
    ssize_t n;

    (void)ctx;
    if (fd < 0) {
        return AAP_KW_UNKNOWN;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0) {
        return AAP_KW_UNKNOWN;
    }
    link[n] = '\0';
    return aap_fd_link_kind(link);
}

/* The kind of the path a path-taking call was given (this process's
 * memory at addr). */
static int path_kind(uint64_t addr)
{
    char path[AAP_FILE_MAX];
    size_t i;

    memset(path, 0, sizeof(path));
    /* read what is readable: a name near the end of a mapping is short */
    for (i = sizeof(path) - 1; i >= 16; i /= 2) {
        if (aap_mem_read(path, (uintptr_t)addr, i) == 0) {
            break;
        }
    }
    path[sizeof(path) - 1] = '\0';
    if (!path[0]) {
        return AAP_KW_FILE;
    }
    return path[0] == '/' ? aap_fd_link_kind(path) : AAP_KW_FILE;
}

/* The first descriptor of a poll() array of n entries at addr. */
static int poll_kind(uint64_t addr, uint64_t n, aap_fd_kind_fn fd_kind,
                     void *ctx)
{
    int fd;

    if (n == 0) {
        return AAP_KW_SLEEP; /* poll(NULL, 0, t) is a sleep */
    }
    if (aap_mem_read(&fd, (uintptr_t)addr, sizeof(fd)) < 0) {
        return AAP_KW_UNKNOWN;
    }
    return fd_kind(fd, ctx);
}

/* The lowest descriptor set in select()'s read or write set. */
static int select_kind(const aap_ksample *k, aap_fd_kind_fn fd_kind, void *ctx)
{
    uint64_t nfds = k->arg[0], bits[16];
    int set, w, b;

    if (nfds > 1024) {
        nfds = 1024;
    }
    for (set = 1; set <= 2; set++) {
        size_t words = (size_t)((nfds + 63) / 64);

        if (!k->arg[set] || words == 0 ||
            aap_mem_read(bits, (uintptr_t)k->arg[set], words * 8) < 0) {
            continue;
        }
        for (w = 0; w < (int)words; w++) {
            for (b = 0; bits[w] && b < 64; b++) {
                if (bits[w] & ((uint64_t)1 << b)) {
                    return fd_kind(w * 64 + b, ctx);
                }
            }
        }
    }
    return AAP_KW_SLEEP; /* select(0, NULL, NULL, NULL, t) */
}

int aap_kstate_wait(const aap_ksample *k, aap_fd_kind_fn fd_kind, void *ctx,
                    uint64_t *futex)
{
    int fd;

    if (!fd_kind) {
        fd_kind = aap_fd_kind;
    }
    if (k->state == AAP_KS_RUNNING) {
        return AAP_KW_CPU;
    }
    if (k->state != AAP_KS_SYSCALL) {
        return AAP_KW_UNKNOWN;
    }
    fd = (int)k->arg[0];
    switch (k->nr) {
#ifdef SYS_nanosleep
    case SYS_nanosleep:
#endif
    case SYS_clock_nanosleep:
        return AAP_KW_SLEEP;
    case SYS_futex:
#ifdef SYS_futex_waitv
    case SYS_futex_waitv:
#endif
        *futex = k->arg[0];
        return AAP_KW_FUTEX;
#ifdef SYS_poll
    case SYS_poll:
#endif
    case SYS_ppoll:
        return poll_kind(k->arg[0], k->arg[1], fd_kind, ctx);
#ifdef SYS_select
    case SYS_select:
#endif
    case SYS_pselect6:
        return select_kind(k, fd_kind, ctx);
#ifdef SYS_epoll_wait
    case SYS_epoll_wait:
#endif
    case SYS_epoll_pwait:
        return AAP_KW_NET;
    case SYS_read:
    case SYS_readv:
    case SYS_pread64:
    case SYS_preadv:
    case SYS_write:
    case SYS_writev:
    case SYS_pwrite64:
    case SYS_pwritev:
    case SYS_fsync:
    case SYS_fdatasync:
    case SYS_sync_file_range:
    case SYS_fallocate:
    case SYS_ftruncate:
    case SYS_flock:
    case SYS_fcntl:
    case SYS_recvfrom:
    case SYS_recvmsg:
#ifdef SYS_recvmmsg
    case SYS_recvmmsg:
#endif
    case SYS_sendto:
    case SYS_sendmsg:
#ifdef SYS_sendmmsg
    case SYS_sendmmsg:
#endif
    case SYS_connect:
    case SYS_accept:
    case SYS_accept4:
#ifdef SYS_copy_file_range
    case SYS_copy_file_range:
#endif
    case SYS_getdents64:
        return fd_kind(fd, ctx);
#ifdef SYS_open
    case SYS_open:
#endif
#ifdef SYS_unlink
    case SYS_unlink:
#endif
        return path_kind(k->arg[0]);
    case SYS_openat:
    case SYS_unlinkat:
        return path_kind(k->arg[1]);
    case SYS_sync:
    case SYS_syncfs:
#ifdef SYS_renameat
    case SYS_renameat:
#endif
    case SYS_mkdirat:
#ifdef SYS_newfstatat
    case SYS_newfstatat:
#endif
#ifdef SYS_statx
    case SYS_statx:
#endif
    case SYS_fstat:
    case SYS_faccessat:
        return AAP_KW_FILE;
    case SYS_wait4:
    case SYS_waitid:
        return AAP_KW_PIPE;
    default:
        return AAP_KW_OTHER;
    }
}

int aap_schedstat_parse(const char *text, aap_schedstat *out)
{
    unsigned long long v[3];
    const char *p = text;
    char *end;
    int i;

    memset(out, 0, sizeof(*out));
    if (!text) {
        return AAP_EINVAL;
    }
    for (i = 0; i < 3; i++) {
        while (*p == ' ') {
            p++;
        }
        if (*p < '0' || *p > '9') {
            return AAP_EINVAL;
        }
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (errno || end == p) {
            return AAP_EINVAL;
        }
        p = end;
    }
    if (*p != '\n' && *p != '\0') {
        return AAP_EINVAL;
    }
    out->run_ns = (uint64_t)v[0];
    out->wait_ns = (uint64_t)v[1];
    return 0;
}

int aap_schedstat_read(long tid, aap_schedstat *out, void *ctx)
{
    char path[64], buf[128];

    (void)ctx;
    memset(out, 0, sizeof(*out));
    if (tid < 0) {
        return AAP_EINVAL;
    }
    if (tid == 0) {
        snprintf(path, sizeof(path), "/proc/thread-self/schedstat");
    } else {
        snprintf(path, sizeof(path), "/proc/self/task/%ld/schedstat", tid);
    }
    if (read_small(path, buf, sizeof(buf)) <= 0) {
        return AAP_EINVAL;
    }
    return aap_schedstat_parse(buf, out);
}
