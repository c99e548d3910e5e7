/*
 * file.c: reading a whole input file (rule files, recordings, files that
 * hold a secret) with the same guards for every reader.  Only a regular
 * file is read: a FIFO would block the open or the read forever, and a
 * device may never end.  The size is bounded before and while reading,
 * and a secret leaves no copy behind in memory the program frees.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aa/common.h"

/* What a file that is not a regular one is, for the message. */
static const char *kind_name(mode_t m)
{
    if (S_ISDIR(m)) {
        return "a directory";
    }
    if (S_ISFIFO(m)) {
        return "a FIFO";
    }
    if (S_ISCHR(m)) {
        return "a character device";
    }
    if (S_ISBLK(m)) {
        return "a block device";
    }
    if (S_ISSOCK(m)) {
        return "a socket";
    }
    return "a special file";
}

/* Frees n bytes at p, overwriting them first when secret. */
static void release(char *p, size_t n, bool secret)
{
    if (p != NULL && secret) {
        explicit_bzero(p, n);
    }
    free(p);
}

/* Grows *buf (cap bytes, len used) to newcap.  A secret is copied into a
 * new block and the old one wiped, so realloc never leaves a copy in freed
 * memory.  AA_ENOMEM leaves *buf as it was. */
static int grow(char **buf, size_t *cap, size_t len, size_t newcap,
                bool secret)
{
    char *p;

    if (!secret) {
        p = realloc(*buf, newcap);
        if (p == NULL) {
            return AA_ENOMEM;
        }
    } else {
        p = malloc(newcap);
        if (p == NULL) {
            return AA_ENOMEM;
        }
        if (len > 0) {
            memcpy(p, *buf, len);
        }
        release(*buf, *cap, true);
    }
    *buf = p;
    *cap = newcap;
    return AA_OK;
}

int aa_file_read(const char *path, const char *what, size_t max,
                 unsigned flags, char **data, size_t *len, aa_diag *diag)
{
    bool secret = (flags & AA_FILE_SECRET) != 0;
    struct stat st;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int fd = -1, rc = AA_EIO;

    *data = NULL;
    *len = 0;
    /* Refused before opening: opening a FIFO waits for a writer, and
     * opening a device may act on it. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        aa_diag_set(diag, path, 0, 0, "the %s is %s, not a regular file", what,
                    kind_name(st.st_mode));
        return AA_EIO;
    }
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        aa_diag_set(diag, path, 0, 0, "cannot open the %s: %s", what,
                    strerror(errno));
        return AA_EIO;
    }
    /* The path may have been replaced since stat(). */
    if (fstat(fd, &st) != 0) {
        aa_diag_set(diag, path, 0, 0, "cannot read the %s: %s", what,
                    strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        aa_diag_set(diag, path, 0, 0, "the %s is %s, not a regular file", what,
                    kind_name(st.st_mode));
        goto out;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > max) {
        aa_diag_set(diag, path, 0, 0, "the %s is larger than %zu bytes", what,
                    max);
        rc = AA_ETOOBIG;
        goto out;
    }
    /* One block for the announced size; files under /proc announce 0. */
    rc = grow(&buf, &cap, 0, (size_t)st.st_size + 1, secret);
    if (rc != AA_OK) {
        aa_diag_set(diag, path, 0, 0, "cannot read the %s: %s", what,
                    aa_strerror(rc));
        goto out;
    }
    for (;;) {
        ssize_t got;
        char probe = 0;

        if (n + 1 < cap) {
            got = read(fd, buf + n, cap - 1 - n);
        } else {
            /* Full: one more byte tells the end of the file from a file
             * that grew, without growing the block for nothing. */
            got = read(fd, &probe, 1);
            if (got == 1) {
                size_t next = cap <= max / 2 ? cap * 2 : max + 1;

                if (n >= max) {
                    aa_diag_set(diag, path, 0, 0,
                                "the %s is larger than %zu bytes", what, max);
                    rc = AA_ETOOBIG;
                    goto out;
                }
                rc = grow(&buf, &cap, n, next < 4096 ? 4096 : next, secret);
                if (rc != AA_OK) {
                    aa_diag_set(diag, path, 0, 0, "cannot read the %s: %s",
                                what, aa_strerror(rc));
                    goto out;
                }
                buf[n] = probe;
                explicit_bzero(&probe, 1);
            }
        }
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            aa_diag_set(diag, path, 0, 0, "cannot read the %s: %s", what,
                        strerror(errno));
            rc = AA_EIO;
            goto out;
        }
        if (got == 0) {
            break;
        }
        n += (size_t)got;
        if (n > max) {
            aa_diag_set(diag, path, 0, 0, "the %s is larger than %zu bytes",
                        what, max);
            rc = AA_ETOOBIG;
            goto out;
        }
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
    rc = AA_OK;
out:
    release(buf, cap, secret);
    close(fd);
    return rc;
}
