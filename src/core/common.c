/*
 * common.c: error strings, diagnostics and the array-growth helper shared by
 * the core library.
 */
#include "aa/common.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *aa_strerror(int err)
{
    switch ((aa_err)err) {
    case AA_OK:
        return "success";
    case AA_ENOMEM:
        return "out of memory";
    case AA_EINVAL:
        return "invalid argument";
    case AA_ESYNTAX:
        return "malformed input";
    case AA_ETOOBIG:
        return "input exceeds the size limit";
    case AA_EIO:
        return "input/output error";
    case AA_ENOTFOUND:
        return "not found";
    case AA_EBACKEND:
        return "the backend reported an error";
    case AA_ETIMEOUT:
        return "timed out";
    case AA_ECONNECT:
        return "could not connect";
    case AA_EUNSUPPORTED:
        return "not supported in this mode";
    }
    return "unknown error";
}

void aa_diag_clear(aa_diag *d)
{
    if (d != NULL) {
        memset(d, 0, sizeof(*d));
    }
}

void aa_diag_set(aa_diag *d, const char *file, unsigned line, unsigned column,
                 const char *fmt, ...)
{
    va_list ap;

    if (d == NULL) {
        return;
    }
    if (file != NULL) {
        snprintf(d->file, sizeof(d->file), "%s", file);
    }
    d->line = line;
    d->column = column;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
    va_end(ap);
}

char *aa_diag_format(const aa_diag *d, char *buf, size_t size)
{
    size_t off = 0;
    int n;

    if (size == 0) {
        return buf;
    }
    buf[0] = '\0';
    if (d == NULL) {
        return buf;
    }
    if (d->file[0] != '\0') {
        n = snprintf(buf, size, "%s:", d->file);
        off = n < 0 ? 0 : (size_t)n;
    }
    if (off < size && d->line > 0) {
        n = snprintf(buf + off, size - off, "%u:", d->line);
        off += n < 0 ? 0 : (size_t)n;
        if (off < size && d->column > 0) {
            n = snprintf(buf + off, size - off, "%u:", d->column);
            off += n < 0 ? 0 : (size_t)n;
        }
    }
    if (off < size) {
        snprintf(buf + off, size - off, "%s%s", off > 0 ? " " : "",
                 d->message);
    }
    return buf;
}

void *aa_grow_slow(void *arr, size_t *cap, size_t sz, size_t first)
{
    size_t ncap;
    void *p;

    assert(first > 0 && sz > 0);
    if (*cap == 0) {
        ncap = first;
    } else if (*cap > SIZE_MAX / 2) {
        return NULL;
    } else {
        ncap = *cap * 2;
    }
    if (ncap > SIZE_MAX / sz) {
        return NULL;
    }
    p = realloc(arr, ncap * sz);
    if (p != NULL) {
        *cap = ncap;
    }
    return p;
}

char *aa_strdup(const char *s)
{
    size_t n;
    char *p;

    if (s == NULL) {
        return NULL;
    }
    n = strlen(s) + 1;
    p = malloc(n);
    if (p != NULL) {
        memcpy(p, s, n);
    }
    return p;
}
