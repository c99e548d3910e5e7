/*
 * aap_mem.c: read this process's memory without ever faulting.
 *
 * The stack reader dereferences interpreter memory that the thread it
 * reads may free at any moment.  process_vm_readv() on our own pid makes
 * the kernel do the copy and report EFAULT for unmapped memory; where
 * seccomp filters that call, a write() into a pipe does the same (the
 * kernel copies from the source address).  The pipe is created on first
 * use and is not shared across fork(): the child gets its own.
 */
#include "aap_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static _Atomic int use_pipe;
/* getpid() is a system call (glibc stopped caching it): a stack capture
 * reads memory a few hundred times, so the pid is kept, and renewed in the
 * child after fork (aap_mem_fork). */
static _Atomic pid_t self_pid;
static pthread_mutex_t pipe_lock = PTHREAD_MUTEX_INITIALIZER;
static int pipe_fds[2] = {-1, -1};

/* Fallback where process_vm_readv is filtered (seccomp): the kernel copies
 * from src into a pipe and reports EFAULT for unmapped memory. */
static int pipe_read(void *dst, uintptr_t src, size_t len)
{
    int rc = -1;
    size_t done = 0;

    pthread_mutex_lock(&pipe_lock);
    if (pipe_fds[0] < 0 && pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        pipe_fds[0] = pipe_fds[1] = -1;
        goto out;
    }
    while (done < len) {
        size_t chunk = len - done > 4096 ? 4096 : len - done;
        ssize_t w = write(pipe_fds[1], (const void *)(src + done), chunk);
        ssize_t r;

        if (w <= 0) {
            goto out;
        }
        r = read(pipe_fds[0], (char *)dst + done, (size_t)w);
        if (r != w) {
            goto out;
        }
        done += (size_t)w;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&pipe_lock);
    return rc;
}

int aap_mem_read(void *dst, uintptr_t src, size_t len)
{
    struct iovec local, remote;
    ssize_t n;

    if (len == 0) {
        return 0;
    }
    if (src < 4096 || src + len < src) {
        return -1;
    }
    if (!atomic_load_explicit(&use_pipe, memory_order_relaxed)) {
        pid_t pid = atomic_load_explicit(&self_pid, memory_order_relaxed);

        if (pid == 0) {
            pid = getpid();
            atomic_store_explicit(&self_pid, pid, memory_order_relaxed);
        }
        local.iov_base = dst;
        local.iov_len = len;
        remote.iov_base = (void *)src;
        remote.iov_len = len;
        n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n == (ssize_t)len) {
            return 0;
        }
        if (n >= 0 || errno == EFAULT || errno == ESRCH) {
            return -1;
        }
        atomic_store_explicit(&use_pipe, 1, memory_order_relaxed);
    }
    return pipe_read(dst, src, len);
}

void aap_mem_fork(int phase)
{
    if (phase == 0) {
        pthread_mutex_lock(&pipe_lock);
    } else if (phase == 1) {
        pthread_mutex_unlock(&pipe_lock);
    } else {
        atomic_store_explicit(&self_pid, getpid(), memory_order_relaxed);
        /* the parent keeps its pipe; the child must not read through the
         * same one (two processes would interleave their copies) */
        if (pipe_fds[0] >= 0) {
            close(pipe_fds[0]);
            close(pipe_fds[1]);
        }
        pipe_fds[0] = pipe_fds[1] = -1;
        pthread_mutex_unlock(&pipe_lock);
    }
}
