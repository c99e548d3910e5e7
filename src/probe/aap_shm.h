/*
 * aap_shm.h: the memory behind this process's state arena (aap_shm.c):
 * a file of shared memory that can be linked into a group directory, or
 * private anonymous memory when no usable directory exists.  Internal to
 * the probe's library.
 */
#ifndef AAP_SHM_H
#define AAP_SHM_H

#include <stddef.h>
#include <stdint.h>

typedef struct aap_shm {
    uint8_t *base;
    size_t size;      /* bytes mapped */
    size_t committed; /* bytes whose pages are allocated */
    int fd;           /* the file, or -1 for anonymous memory */
    int dirfd;        /* directory it was made in (borrowed), or -1 */
} aap_shm;

/*
 * Map size bytes: an unnamed file (O_TMPFILE, 0600) in directory dirfd,
 * locked for the process's lifetime (an OFD write lock on byte 0), or
 * anonymous memory when dirfd < 0.  0 or a negative aap_err, *sys_errno
 * set; on failure nothing is mapped.
 */
int aap_shm_open(aap_shm *m, int dirfd, size_t size, int *sys_errno);
/* Anonymous memory (never fails short of address space exhaustion). */
int aap_shm_open_anon(aap_shm *m, size_t size);
/*
 * Allocate the pages of [0, end) now, so that writing them later can
 * never fault (a full tmpfs would raise SIGBUS on a first write).
 * 0 or AAP_ENOMEM.
 */
int aap_shm_commit(aap_shm *m, size_t end);
/* Give the file the name `name` in directory dirfd; 0 or AAP_EBIND with
 * *sys_errno (EEXIST: the name is taken). */
int aap_shm_link(const aap_shm *m, int dirfd, const char *name,
                 int *sys_errno);
/*
 * In a child after fork: replace the mapping, at the same address, with
 * a file of the child's own holding a copy of the first `used` bytes
 * (anonymous memory when no file can be made; a private anonymous
 * mapping is already the child's).  Returns 0, or AAP_ENOMEM when even
 * the copy failed (the memory is then zeroed).
 */
int aap_shm_fork_child(aap_shm *m, size_t used);
/* Whether the owner of the arena file open as fd still holds its lock:
 * 1 alive, 0 dead, -1 unknown. */
int aap_shm_owner_alive(int fd);

#endif
