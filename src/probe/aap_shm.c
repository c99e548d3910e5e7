/*
 * aap_shm.c: the memory behind this process's state arena.
 *
 * The arena is an unnamed file (O_TMPFILE) mapped MAP_SHARED from the
 * start, so that joining a group later is a link() of the same inode into
 * the group's directory: no copy, no moment at which a writer's update
 * could be lost, and the pointers the hot paths hold stay valid.  The
 * owner holds an OFD lock on it for its whole life; the kernel releases
 * it when the process dies (kill -9 included), which is how readers tell
 * a dead worker from a live one, robustly against pid reuse.  Pages are
 * allocated (fallocate) as records are added, never on first write: a
 * full tmpfs must fail an allocation, not raise SIGBUS in a loop thread.
 */
#include "aap_shm.h"

#include "aap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define COMMIT_STEP (64u << 10)

static int lock_owner(int fd)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    return fcntl(fd, F_OFD_SETLK, &fl);
}

int aap_shm_owner_alive(int fd)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return -1;
    }
    return fl.l_type != F_UNLCK;
}

/* A locked unnamed file of size bytes in dirfd, or -1 with errno. */
static int tmpfile_in(int dirfd, size_t size)
{
    int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    int e;

    if (fd < 0) {
        return -1;
    }
    if (ftruncate(fd, (off_t)size) < 0 || lock_owner(fd) < 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int aap_shm_open_anon(aap_shm *m, size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    memset(m, 0, sizeof(*m));
    m->fd = m->dirfd = -1;
    if (p == MAP_FAILED) {
        return AAP_ENOMEM;
    }
    m->base = p;
    m->size = size;
    m->committed = size;
    return 0;
}

int aap_shm_open(aap_shm *m, int dirfd, size_t size, int *sys_errno)
{
    void *p;
    int fd;

    *sys_errno = 0;
    if (dirfd < 0) {
        return aap_shm_open_anon(m, size);
    }
    memset(m, 0, sizeof(*m));
    m->fd = m->dirfd = -1;
    fd = tmpfile_in(dirfd, size);
    if (fd < 0) {
        *sys_errno = errno;
        return AAP_EBIND;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        *sys_errno = errno;
        close(fd);
        return AAP_ENOMEM;
    }
    m->base = p;
    m->size = size;
    m->fd = fd;
    m->dirfd = dirfd;
    return 0;
}

/* Allocate [from, to) of fd's pages. */
static int allocate(int fd, size_t from, size_t to)
{
    static const char zeros[4096];
    size_t off;

    if (fallocate(fd, 0, (off_t)from, (off_t)(to - from)) == 0) {
        return 0;
    }
    if (errno != EOPNOTSUPP) {
        return -1;
    }
    for (off = from; off < to; off += sizeof(zeros)) {
        size_t n = to - off < sizeof(zeros) ? to - off : sizeof(zeros);

        if (pwrite(fd, zeros, n, (off_t)off) != (ssize_t)n) {
            return -1;
        }
    }
    return 0;
}

int aap_shm_commit(aap_shm *m, size_t end)
{
    size_t to;

    if (end <= m->committed) {
        return 0;
    }
    if (end > m->size) {
        return AAP_ETOOBIG;
    }
    to = (end + COMMIT_STEP - 1) / COMMIT_STEP * COMMIT_STEP;
    if (to > m->size) {
        to = m->size;
    }
    if (allocate(m->fd, m->committed, to) < 0) {
        return AAP_ENOMEM;
    }
    m->committed = to;
    return 0;
}

int aap_shm_link(const aap_shm *m, int dirfd, const char *name, int *sys_errno)
{
    char path[64];

    *sys_errno = 0;
    if (m->fd < 0) {
        *sys_errno = ENOTSUP;
        return AAP_EBIND;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", m->fd);
    if (linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) == 0) {
        return 0;
    }
    if (errno != EEXIST &&
        linkat(m->fd, "", dirfd, name, AT_EMPTY_PATH) == 0) {
        return 0;
    }
    *sys_errno = errno;
    return AAP_EBIND;
}

/* Replace the mapping by private anonymous memory holding the same
 * first `used` bytes. */
static int fork_anon(aap_shm *m, size_t used)
{
    uint8_t *copy = malloc(used ? used : 1);
    void *p;
    int rc = 0;

    if (copy) {
        memcpy(copy, m->base, used);
    }
    p = mmap(m->base, m->size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        free(copy);
        return AAP_ENOMEM; /* still the parent's pages: see aap_state */
    }
    if (copy) {
        memcpy(m->base, copy, used);
        free(copy);
    } else {
        rc = AAP_ENOMEM;
    }
    if (m->fd >= 0) {
        close(m->fd); /* the parent's reference keeps its lock */
    }
    m->fd = -1;
    m->committed = m->size;
    return rc;
}

int aap_shm_fork_child(aap_shm *m, size_t used)
{
    void *p;
    int fd;

    if (m->fd < 0) {
        return 0; /* private memory is already the child's own copy */
    }
    fd = tmpfile_in(m->dirfd, m->size);
    if (fd < 0) {
        return fork_anon(m, used);
    }
    if (allocate(fd, 0, m->committed) < 0 ||
        pwrite(fd, m->base, used, 0) != (ssize_t)used) {
        close(fd);
        return fork_anon(m, used);
    }
    p = mmap(m->base, m->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
             fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return fork_anon(m, used);
    }
    close(m->fd); /* the parent's reference keeps its lock */
    m->fd = fd;
    return 0;
}
