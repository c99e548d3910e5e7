/*
 * aap_group.c: the directories arenas live in, and the group: every
 * process whose arena file is in one directory, exported together by
 * whichever of them answers /metrics.
 *
 * The files are outside input: any process of the same user could put
 * anything there.  Directories are opened with O_NOFOLLOW and checked
 * (ours, a directory, not writable by group or others) and used only
 * through their descriptors; a file is used only when it is a regular
 * file of ours of bounded size whose header names this layout, and its
 * records are validated again by the reader (aap_stateview.c).
 *
 * Who is alive: an owner holds an OFD lock on its file for its whole
 * life, so a file whose lock is free belongs to a dead process, whatever
 * its pid became since.  A dead file is kept while the process that
 * supervised its owner (its parent at creation, identified by pid and
 * start time) lives: a worker killed and replaced keeps its counts in
 * the export.  Once that supervisor is gone the file is from an earlier
 * run and is deleted, as are files of processes that left their group,
 * and the oldest dead files beyond a cap.
 */
#include "aap_int.h"
#include "aap_shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEAD_MAX_DEFAULT 64
#define FILE_MAX_BYTES (64u << 20)

static pthread_once_t home_once = PTHREAD_ONCE_INIT;
static int home_fd = -1;
static int home_is_group;
static int home_errno;
static char home_path[PATH_MAX];
static int dead_max = DEAD_MAX_DEFAULT;

/* fd is a directory of ours that nobody else may write to. */
static int dir_ok(int fd)
{
    struct stat s;

    if (fstat(fd, &s) < 0) {
        return -1;
    }
    if (!S_ISDIR(s.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    if (s.st_uid != geteuid() || (s.st_mode & (S_IWGRP | S_IWOTH))) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* Open directory name under parent (creating it 0700), checked. */
static int dir_open(int parent, const char *name, int *sys_errno)
{
    int fd;

    if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST) {
        *sys_errno = errno;
        return -1;
    }
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        *sys_errno = errno == ELOOP ? EPERM : errno;
        return -1;
    }
    if (dir_ok(fd) < 0) {
        *sys_errno = errno;
        close(fd);
        return -1;
    }
    return fd;
}

/* Absolute path: its missing components are made 0700; the last one is
 * opened and checked. */
static int path_open(const char *path, int *sys_errno)
{
    char buf[PATH_MAX], *p;

    if (path[0] != '/' || strlen(path) >= sizeof(buf)) {
        *sys_errno = EINVAL;
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", path);
    for (p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
                *sys_errno = errno;
                return -1;
            }
            *p = '/';
        }
    }
    return dir_open(AT_FDCWD, buf, sys_errno);
}

/* The directory can hold our unnamed files. */
static int tmpfile_ok(int fd)
{
    int t = openat(fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (t < 0) {
        return 0;
    }
    close(t);
    return 1;
}

static void home_init(void)
{
    const char *env = getenv("ASYNC_AUDITOR_MULTIPROC_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    const char *tmp = getenv("TMPDIR");
    const char *cap = getenv("ASYNC_AUDITOR_MAX_DEAD_WORKERS");
    char cand[3][PATH_MAX];
    int i, n = 0, fd;

    if (cap && *cap) {
        char *end;
        long v = strtol(cap, &end, 10);

        if (*end == '\0' && v >= 0 && v <= 100000) {
            dead_max = (int)v;
        }
    }
    if (env && *env) {
        snprintf(home_path, sizeof(home_path), "%s", env);
        home_fd = path_open(env, &home_errno);
        if (home_fd >= 0 && !tmpfile_ok(home_fd)) {
            home_errno = errno;
            close(home_fd);
            home_fd = -1;
        }
        home_is_group = home_fd >= 0;
        return;
    }
    snprintf(cand[n++], PATH_MAX, "/dev/shm/async-auditor-%u",
             (unsigned)geteuid());
    if (xdg && xdg[0] == '/') {
        snprintf(cand[n++], PATH_MAX, "%s/async-auditor", xdg);
    }
    snprintf(cand[n++], PATH_MAX, "%s/async-auditor-%u",
             tmp && tmp[0] == '/' ? tmp : "/tmp", (unsigned)geteuid());
    home_errno = ENOENT;
    for (i = 0; i < n; i++) {
        fd = path_open(cand[i], &home_errno);
        if (fd >= 0 && tmpfile_ok(fd)) {
            home_fd = fd;
            memcpy(home_path, cand[i], sizeof(home_path));
            return;
        }
        if (fd >= 0) {
            home_errno = errno;
            close(fd);
        }
    }
}

int aap_group_home(int *is_group, int *sys_errno)
{
    pthread_once(&home_once, home_init);
    *is_group = home_is_group;
    *sys_errno = home_fd < 0 ? home_errno : 0;
    return home_fd;
}

int aap_group_open(const char *host, int port, char *path, size_t cap,
                   int *sys_errno)
{
    char name[300];
    size_t i, k = 0;
    int is_group, fd;

    if (aap_group_home(&is_group, sys_errno) < 0) {
        return -1;
    }
    if (is_group) {
        snprintf(path, cap, "%s", home_path);
        fd = fcntl(home_fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            *sys_errno = errno;
        }
        return fd;
    }
    for (i = 0; host[i] && k < 255; i++) {
        char c = host[i];

        name[k++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '.' || c == '-')
                        ? c
                        : '_';
    }
    snprintf(name + k, sizeof(name) - k, "_%d", port);
    snprintf(path, cap, "%s/%s", home_path, name);
    return dir_open(home_fd, name, sys_errno);
}

uint64_t aap_proc_start_ticks(long pid)
{
    char path[64], buf[1024], *p;
    unsigned long long v = 0;
    ssize_t n;
    int fd, i;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    p = strrchr(buf, ')');
    /* field 22, starttime: the 20th after the command's ')' */
    for (i = 0; p && i < 20; i++) {
        p = strchr(p + 1, ' ');
    }
    if (!p || sscanf(p + 1, "%llu", &v) != 1) {
        return 0;
    }
    return v;
}

/* A file of the directory, classified. */
typedef struct entry {
    char name[NAME_MAX + 1];
    int fd;
    size_t len;
    int alive;
    int64_t pid;
    double created;
} entry;

/* Drop e[i] (closing it, deleting its file), keeping the order. */
static void drop(int dirfd, entry *e, size_t *n, size_t i)
{
    unlinkat(dirfd, e[i].name, 0);
    close(e[i].fd);
    memmove(&e[i], &e[i + 1], (*n - i - 1) * sizeof(*e));
    (*n)--;
}

static int by_created(const void *a, const void *b)
{
    const entry *x = a, *y = b;

    return (x->created > y->created) - (x->created < y->created);
}

/* The owner's supervisor is still the process recorded at creation. */
static int supervisor_alive(const aap_arena_hdr *h)
{
    if (h->ppid <= 0 || h->ppid_start == 0) {
        return 0;
    }
    return aap_proc_start_ticks((long)h->ppid) == h->ppid_start;
}

/* Open and classify the files of dirfd; deletes garbage.  Entries that
 * are exported are left in e[0..*n) with their descriptor open. */
static int scan(int dirfd, uint64_t own_dev, uint64_t own_ino, entry *e,
                size_t max, size_t *n, size_t *skipped)
{
    uint64_t fam = aap_families_hash();
    struct dirent *de;
    DIR *d;
    size_t ndead = 0, i;
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);

    *n = 0;
    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0) {
            close(fd);
        }
        return AAP_ENOMEM;
    }
    rewinddir(d); /* the offset is shared with every dup of dirfd */
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        aap_arena_hdr h;
        struct stat s;
        int f, alive;

        if (de->d_name[0] == '.' || nl < 7 ||
            strcmp(de->d_name + nl - 6, ".arena") != 0) {
            continue;
        }
        if (*n >= max) {
            (*skipped)++;
            continue;
        }
        f = openat(dirfd, de->d_name,
                   O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (f < 0) {
            continue; /* deleted meanwhile */
        }
        if (fstat(f, &s) < 0 || !S_ISREG(s.st_mode) || s.st_uid != geteuid() ||
            (uint64_t)s.st_size < AAP_ARENA_HDR ||
            (uint64_t)s.st_size > FILE_MAX_BYTES ||
            pread(f, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
            memcmp(h.magic, AAP_ARENA_MAGIC, 8) != 0 ||
            h.version != AAP_ARENA_VERSION || h.families != fam ||
            h.size > (uint64_t)s.st_size) {
            (*skipped)++;
            close(f);
            continue;
        }
        if ((uint64_t)s.st_dev == own_dev && (uint64_t)s.st_ino == own_ino) {
            close(f);
            continue;
        }
        alive = aap_shm_owner_alive(f);
        if (alive == 0 &&
            ((h.flags & AAP_ARENA_LEFT) || !supervisor_alive(&h))) {
            unlinkat(dirfd, de->d_name, 0); /* an earlier run's */
            close(f);
            continue;
        }
        if (h.flags & AAP_ARENA_LEFT) {
            close(f); /* alive but not exported */
            continue;
        }
        snprintf(e[*n].name, sizeof(e[*n].name), "%s", de->d_name);
        e[*n].fd = f;
        e[*n].len = (size_t)s.st_size;
        e[*n].alive = alive != 0;
        e[*n].created = h.created;
        e[*n].pid = h.pid;
        (*n)++;
    }
    closedir(d);
    /* a pid reused by a later process (this one included): the dead,
     * earlier file goes, so no two files give one worker label */
    for (i = 0; i < *n;) {
        size_t j;
        int newer = e[i].pid == (int64_t)getpid() && own_ino != 0;

        for (j = 0; !e[i].alive && !newer && j < *n; j++) {
            newer = j != i && e[j].pid == e[i].pid &&
                    (e[j].created > e[i].created ||
                     (e[j].created == e[i].created && j > i));
        }
        if (!e[i].alive && newer) {
            drop(dirfd, e, n, i);
        } else {
            ndead += !e[i].alive;
            i++;
        }
    }
    if (ndead > (size_t)dead_max) {
        /* the oldest dead files go first */
        size_t drop = ndead - (size_t)dead_max, k = 0;

        qsort(e, *n, sizeof(*e), by_created);
        for (i = 0; i < *n; i++) {
            if (!e[i].alive && drop > 0) {
                unlinkat(dirfd, e[i].name, 0);
                close(e[i].fd);
                drop--;
            } else {
                e[k++] = e[i];
            }
        }
        *n = k;
    }
    return 0;
}

int aap_group_collect(int dirfd, uint64_t own_dev, uint64_t own_ino,
                      aap_member *out, size_t max, size_t *n, size_t *skipped)
{
    entry *e;
    size_t ne = 0, i;
    int rc;

    *n = 0;
    *skipped = 0;
    e = calloc(AAP_GROUP_MAX_FILES, sizeof(*e));
    if (!e) {
        return AAP_ENOMEM;
    }
    rc = scan(dirfd, own_dev, own_ino, e, AAP_GROUP_MAX_FILES, &ne, skipped);
    for (i = 0; rc == 0 && i < ne; i++) {
        void *p = MAP_FAILED;

        if (*n < max) {
            p = mmap(NULL, e[i].len, PROT_READ, MAP_SHARED, e[i].fd, 0);
        }
        if (p == MAP_FAILED) {
            (*skipped)++;
        } else {
            out[*n].base = p;
            out[*n].len = e[i].len;
            out[*n].alive = e[i].alive;
            (*n)++;
        }
    }
    for (i = 0; i < ne; i++) {
        close(e[i].fd);
    }
    free(e);
    return rc;
}

void aap_group_release(aap_member *m, size_t n)
{
    size_t i;

    for (i = 0; m && i < n; i++) {
        munmap((void *)m[i].base, m[i].len);
    }
}

void aap_group_sweep_home(void)
{
    struct dirent *de;
    entry *e;
    DIR *d;
    int is_group, err, fd;

    if (aap_group_home(&is_group, &err) < 0) {
        return;
    }
    e = calloc(AAP_GROUP_MAX_FILES, sizeof(*e));
    fd = fcntl(home_fd, F_DUPFD_CLOEXEC, 0);
    if (!e || fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0) {
            close(fd);
        }
        free(e);
        return;
    }
    rewinddir(d);
    if (is_group) {
        size_t n = 0, sk = 0, i;

        scan(home_fd, 0, 0, e, AAP_GROUP_MAX_FILES, &n, &sk);
        for (i = 0; i < n; i++) {
            close(e[i].fd);
        }
        closedir(d);
        free(e);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = 0, sk = 0, i;
        int g;

        if (de->d_name[0] == '.') {
            continue;
        }
        g = openat(home_fd, de->d_name,
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (g < 0) {
            continue;
        }
        if (dir_ok(g) == 0) {
            scan(g, 0, 0, e, AAP_GROUP_MAX_FILES, &n, &sk);
            for (i = 0; i < n; i++) {
                close(e[i].fd);
            }
            unlinkat(home_fd, de->d_name, AT_REMOVEDIR); /* if empty */
        }
        close(g);
    }
    closedir(d);
    free(e);
}
