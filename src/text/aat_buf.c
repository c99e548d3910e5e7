/*
 * aat_buf.c: the bounded buffer every parser and renderer of outside data
 * writes into.  Growth doubles; the maximum is a hard cap so a hostile
 * input or a runaway series table fails clearly instead of eating memory.
 */
#include "aat.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void aat_buf_init(aat_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->failed = 0;
}

static int buf_reserve(aat_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra) {
        b->failed = 1;
        return AAT_ETOOBIG;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
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
        b->failed = 1;
        return AAT_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int aat_buf_reserve(aat_buf *b, size_t extra)
{
    size_t need;
    char *p;

    if (b->len >= b->max) {
        return 0;
    }
    if (extra > b->max - b->len) {
        extra = b->max - b->len;
    }
    if (extra >= SIZE_MAX - b->len) {
        extra = SIZE_MAX - b->len - 1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    p = realloc(b->data, need);
    if (p == NULL) {
        b->failed = 1;
        return AAT_ENOMEM;
    }
    if (b->cap == 0) {
        p[0] = '\0';
    }
    b->data = p;
    b->cap = need;
    return 0;
}

char *aat_buf_room(aat_buf *b, size_t n)
{
    if (buf_reserve(b, n) != 0) {
        return NULL;
    }
    return b->data + b->len;
}

void aat_buf_commit(aat_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

int aat_buf_append(aat_buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);

    if (rc != 0) {
        return rc;
    }
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int aat_buf_vappendf(aat_buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->failed = 1;
        return AAT_EINVAL;
    }
    if ((size_t)n < sizeof(small)) {
        return aat_buf_append(b, small, (size_t)n);
    }
    rc = buf_reserve(b, (size_t)n);
    if (rc != 0) {
        return rc;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int aat_buf_appendf(aat_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = aat_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void aat_buf_reset(aat_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

void aat_buf_release(aat_buf *b)
{
    if (b == NULL) {
        return;
    }
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

char *aat_buf_steal(aat_buf *b)
{
    char *p = b->data;

    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
    return p;
}
