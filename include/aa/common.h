/*
 * common.h: error codes, diagnostics and bounded buffers shared by every
 * part of the core library (prefix aa_).
 *
 * Conventions for the whole library, stated once here:
 * - Functions return 0 on success and a negative aa_err on failure.
 * - Out-parameters are set to NULL (or zero) on entry and assigned only on
 *   success.
 * - Pointer arguments are borrowed; returned objects are owned by the caller
 *   and released with the matching *_free(), which accepts NULL.
 * - The library never aborts on out-of-memory: it returns AA_ENOMEM.
 */
#ifndef AA_COMMON_H
#define AA_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "aat.h"

typedef enum aa_err {
    AA_OK = 0,
    AA_ENOMEM = -1,    /* allocation failed */
    AA_EINVAL = -2,    /* invalid argument or value */
    AA_ESYNTAX = -3,   /* malformed input (see the aa_diag) */
    AA_ETOOBIG = -4,   /* input exceeds a configured maximum */
    AA_EIO = -5,       /* file or socket error (errno is kept in the diag) */
    AA_ENOTFOUND = -6, /* a named thing does not exist */
    AA_EBACKEND = -7,  /* the backend answered with an error */
    AA_ETIMEOUT = -8,  /* an operation took longer than allowed */
    AA_ECONNECT = -9,  /* could not connect */
    AA_EUNSUPPORTED = -10 /* valid but not supported in this mode */
} aa_err;

/* Static text for an aa_err; never NULL. */
const char *aa_strerror(int err);

/*
 * Where and why an input was rejected.  Parsers fill it on failure; callers
 * print it as "FILE:LINE:COLUMN: MESSAGE" (aa_diag_format).  line/column are
 * 1-based; 0 means unknown.
 */
typedef struct aa_diag {
    char file[256];
    unsigned line;
    unsigned column;
    char message[512];
} aa_diag;

/* Reset a diag to empty.  NULL is accepted. */
void aa_diag_clear(aa_diag *d);

/* printf-style: set message (and optionally position) of d.  NULL d is a
 * no-op, so parsers may be called without a diag. */
void aa_diag_set(aa_diag *d, const char *file, unsigned line, unsigned column,
                 const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* "file:line:column: message" (parts that are unknown are left out) into
 * buf; always NUL-terminates.  Returns buf. */
char *aa_diag_format(const aa_diag *d, char *buf, size_t size);

/* The bounded buffer (aat_buf) and the escapers live in the text library
 * shared with the probe: aat.h. */

/* aa_grow's reallocating half. */
void *aa_grow_slow(void *arr, size_t *cap, size_t sz, size_t first);

/*
 * Makes room for element n (n <= *cap) of an array arr of elements of size
 * sz whose capacity is *cap elements.  Returns arr itself when n < *cap
 * (inline: one compare on the per-sample paths that push), else arr
 * reallocated to first elements (when *cap is 0) or twice *cap, with *cap
 * updated.  Returns NULL on OOM or size overflow, with arr still valid and
 * *cap unchanged.
 */
static inline void *aa_grow(void *arr, size_t *cap, size_t n, size_t sz,
                            size_t first)
{
    return n < *cap ? arr : aa_grow_slow(arr, cap, sz, first);
}

/* strdup that returns NULL on NULL input or OOM. */
char *aa_strdup(const char *s);

/* aa_file_read flag: the file holds a secret; no copy of it is left in
 * freed memory (the caller wipes *data before freeing it). */
#define AA_FILE_SECRET 1u

/*
 * Reads the whole file at path into *data (malloc'd, NUL-terminated,
 * *len bytes) (file.c).  Only a regular file (or a symlink to one) is
 * read: anything else is refused without being opened.  what names the
 * file in messages ("rule file"): diag says "the rule file is a FIFO, not
 * a regular file", "... is larger than MAX bytes", "cannot open the rule
 * file: ...", never quoting the content.  AA_EIO (cannot open or read,
 * or not a regular file), AA_ETOOBIG (more than max bytes), AA_ENOMEM.
 */
int aa_file_read(const char *path, const char *what, size_t max,
                 unsigned flags, char **data, size_t *len, aa_diag *diag);

#endif
