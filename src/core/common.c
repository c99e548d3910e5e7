/*
 * common.c: error strings, diagnostics and the bounded buffer (aa_buf) that
 * every parser of outside data writes into.
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

void aa_buf_init(aa_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int buf_reserve(aa_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra) {
        return AA_ETOOBIG;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return AA_OK;
    }
    cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap - 1 > b->max) { /* never b->max + 1: max may be SIZE_MAX */
        cap = b->max + 1;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return AA_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return AA_OK;
}

int aa_buf_append(aa_buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);

    if (rc != AA_OK) {
        return rc;
    }
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return AA_OK;
}

int aa_buf_vappendf(aa_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return AA_EINVAL;
    }
    rc = buf_reserve(b, (size_t)n);
    if (rc != AA_OK) {
        return rc;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return AA_OK;
}

int aa_buf_appendf(aa_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = aa_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void aa_buf_reset(aa_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

void aa_buf_release(aa_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *aa_buf_steal(aa_buf *b)
{
    char *p = b->data;

    b->data = NULL;
    b->len = 0;
    b->cap = 0;
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
