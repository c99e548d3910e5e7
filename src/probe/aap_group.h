/*
 * aap_group.h: the directories arenas live in and the group of processes
 * that share one exporter address (aap_group.c).  Internal to the
 * probe's library.
 */
#ifndef AAP_GROUP_H
#define AAP_GROUP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The directory this process makes its arena in, opened once and kept
 * open: $ASYNC_AUDITOR_MULTIPROC_DIR when set (*is_group = 1: every
 * process using it is one group, whatever it serves), else the first
 * usable of /dev/shm/async-auditor-<uid>, $XDG_RUNTIME_DIR/async-auditor
 * and $TMPDIR (or /tmp)/async-auditor-<uid>.  Each is created 0700 and
 * must be a directory of ours, not a symlink, not writable by group or
 * others.  -1 with *sys_errno when none is usable.
 */
int aap_group_home(int *is_group, int *sys_errno);

/*
 * The directory of the group serving host:port (a new descriptor the
 * caller closes): $ASYNC_AUDITOR_MULTIPROC_DIR, else <home>/<host>_<port>
 * (created, checked like the home).  path receives it for messages.
 * -1 with *sys_errno.
 */
int aap_group_open(const char *host, int port, char *path, size_t cap,
                   int *sys_errno);

/* One arena of another process, mapped read-only. */
typedef struct aap_member {
    const uint8_t *base;
    size_t len;
    int alive;
} aap_member;

#define AAP_GROUP_MAX_FILES 512

/*
 * Map the arenas in group directory dirfd, except this process's own
 * (dev/ino of its file), into out (at most max); *skipped counts files
 * that are not readable arenas of this layout.  On the way it deletes
 * files of an earlier run (owner dead and its supervisor gone), files of
 * processes that left the group and died, and the oldest dead files
 * beyond $ASYNC_AUDITOR_MAX_DEAD_WORKERS (default 64).  0 or a negative
 * aap_err.
 */
int aap_group_collect(int dirfd, uint64_t own_dev, uint64_t own_ino,
                      aap_member *out, size_t max, size_t *n, size_t *skipped);
void aap_group_release(aap_member *m, size_t n);

/* Apply the same clean-up to every group directory under the home and
 * remove the empty ones (a process joining a group calls it). */
void aap_group_sweep_home(void);

/* Start time (clock ticks after boot) of pid from /proc, 0 if unknown. */
uint64_t aap_proc_start_ticks(long pid);

#endif
