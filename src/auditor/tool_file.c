/*
 * tool_file.c: the output files of a run (reports and the recording),
 * checked before the run and written atomically after it (tool_file.h).
 * Both checks live here so that a report and a recording obey the same
 * rules: a path the run cannot write fails in the first second, not after
 * an hour of scraping, and a writer never opens a name someone else could
 * have planted.
 */
#include "tool_file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aa/common.h"
#include "tool_cfg.h"

#define TMP_SUFFIX ".tmp.XXXXXX"

/* Whether an existing path of this type is written directly (no rename
 * is possible onto /dev/stdout or a FIFO). */
static bool written_directly(const struct stat *st)
{
    return S_ISFIFO(st->st_mode) || S_ISCHR(st->st_mode);
}

/* Whether path is a link to one of the process's open files
 * (/dev/stdout -> /proc/self/fd/1): written directly even when that is a
 * regular file, since a rename would replace the link itself, in /dev. */
static bool fd_link(const char *path)
{
    char target[16];
    struct stat st;
    ssize_t n;

    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) {
        return false;
    }
    n = readlink(path, target, sizeof(target));
    return n >= 6 && memcmp(target, "/proc/", 6) == 0;
}

/* PATH.tmp.XXXXXX, malloc'd; NULL on OOM. */
static char *tmp_template(const char *path)
{
    size_t n = strlen(path);
    char *t = malloc(n + sizeof(TMP_SUFFIX));

    if (t != NULL) {
        memcpy(t, path, n);
        memcpy(t + n, TMP_SUFFIX, sizeof(TMP_SUFFIX));
    }
    return t;
}

int tool_file_check(const char *flag, const char *path)
{
    struct stat st;
    char *tmp = NULL;
    bool exists;
    int fd, rc = -1;

    if (path[0] == '\0') {
        tool_error("%s: the file name is empty", flag);
        return -1;
    }
    exists = stat(path, &st) == 0;
    if (fd_link(path) || (exists && written_directly(&st))) {
        if (access(path, W_OK) != 0) {
            tool_error("%s %s: cannot write: %s", flag, path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (exists && S_ISDIR(st.st_mode)) {
        tool_error("%s %s: is a directory", flag, path);
        return -1;
    }
    if (exists && !S_ISREG(st.st_mode)) {
        tool_error("%s %s: not a regular file, FIFO or character device", flag,
                   path);
        return -1;
    }
    tmp = tmp_template(path);
    if (tmp == NULL) {
        tool_error("%s %s: %s", flag, path, aa_strerror(AA_ENOMEM));
        goto out;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        tool_error("%s %s: cannot write: %s", flag, path, strerror(errno));
        goto out;
    }
    close(fd);
    unlink(tmp);
    rc = 0;
out:
    free(tmp);
    return rc;
}

/* fn into fp, flushed: 0 or the errno of the failure. */
static int fill(tool_file_fn fn, void *ctx, FILE *fp)
{
    errno = 0;
    if (fn(ctx, fp) != 0 || fflush(fp) != 0 || ferror(fp)) {
        return errno != 0 ? errno : EIO;
    }
    return 0;
}

int tool_file_write(const char *path, tool_file_fn fn, void *ctx, int *err)
{
    struct stat st;
    char *tmp = NULL;
    FILE *fp = NULL;
    bool created = false, direct = false;
    mode_t mask;
    int fd = -1, e = 0;

    *err = 0;
    if (fd_link(path)) {
        direct = true;
    } else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (!written_directly(&st)) {
            e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
            goto out;
        }
        direct = true;
    }
    if (direct) {
        fp = fopen(path, "w");
        if (fp == NULL) {
            e = errno;
            goto out;
        }
        e = fill(fn, ctx, fp);
        if (fclose(fp) != 0 && e == 0) {
            e = errno;
        }
        goto out;
    }
    tmp = tmp_template(path);
    if (tmp == NULL) {
        e = ENOMEM;
        goto out;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        e = errno;
        goto out;
    }
    created = true;
    mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || (fp = fdopen(fd, "w")) == NULL) {
        e = errno;
        close(fd);
        goto out;
    }
    e = fill(fn, ctx, fp);
    /* on disk before the rename makes it the file (EINVAL: the file
     * system cannot sync) */
    if (e == 0 && fsync(fileno(fp)) != 0 && errno != EINVAL) {
        e = errno;
    }
    if (fclose(fp) != 0 && e == 0) {
        e = errno;
    }
    if (e == 0 && rename(tmp, path) != 0) {
        e = errno;
    }
out:
    if (e != 0 && created) {
        unlink(tmp);
    }
    free(tmp);
    *err = e;
    return e == 0 ? 0 : -1;
}
