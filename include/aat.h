/*
 * aat.h: the small text library shared by the auditor's core (aa_) and the
 * probe (aap_): a bounded growable buffer and the escaping every output of
 * outside data needs (exposition label values, JSON strings, terminal
 * text).  It has no dependencies, so the probe's extension can link it
 * without the core.
 *
 * Conventions: functions return 0 or a negative code; the codes equal the
 * core's AA_ENOMEM and AA_ETOOBIG so the core passes them through.  A
 * failed append leaves the buffer unchanged and sets its sticky `failed`
 * flag, so a renderer may append freely and check once at the end.
 * Text is UTF-8: every escaper replaces a byte that is not part of a valid
 * UTF-8 sequence with U+FFFD, so its output is always valid UTF-8.
 */
#ifndef AAT_H
#define AAT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define AAT_ENOMEM (-1)  /* allocation failed (== AA_ENOMEM) */
#define AAT_EINVAL (-2)  /* bad format string (== AA_EINVAL) */
#define AAT_ETOOBIG (-4) /* beyond the buffer's maximum (== AA_ETOOBIG) */

/*
 * A growable byte buffer with a hard maximum (curl's dynbuf idea).  The
 * content is always NUL-terminated once anything was appended (the NUL
 * is not counted in len).
 */
typedef struct aat_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    int failed; /* sticky: some append failed (see above) */
} aat_buf;

void aat_buf_init(aat_buf *b, size_t max);
int aat_buf_append(aat_buf *b, const void *data, size_t len);
int aat_buf_appendf(aat_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int aat_buf_vappendf(aat_buf *b, const char *fmt, va_list ap);
/* Room for extra more bytes in one allocation (a size known in advance
 * saves the doublings and their copies), clamped to the maximum: 0, or
 * AAT_ENOMEM (sticky, as for append). */
int aat_buf_reserve(aat_buf *b, size_t extra);
/* n writable bytes at the end of b's content, to be followed by
 * aat_buf_commit(b, n) (or less); NULL when they do not fit (b->failed is
 * set, as by an append that fails). */
char *aat_buf_room(aat_buf *b, size_t n);
/* The first n bytes of the room are content now. */
void aat_buf_commit(aat_buf *b, size_t n);
/* len = 0 and failed = 0, memory kept. */
void aat_buf_reset(aat_buf *b);
/* Frees memory; b may be reused after aat_buf_init.  NULL is a no-op. */
void aat_buf_release(aat_buf *b);
/* Hands the data to the caller (free() it) and resets b; NULL when b holds
 * no memory (nothing appended since init or release). */
char *aat_buf_steal(aat_buf *b);

/* A sink for escaped pieces; returns 0 or a negative code that stops the
 * escaper and is returned by it. */
typedef int (*aat_put)(void *ctx, const char *piece, size_t len);

/*
 * The Prometheus text format's escaping of s: backslash and newline
 * always, the double quote too when quote (label values; HELP text leaves
 * it).  Invalid UTF-8 becomes U+FFFD.
 */
int aat_escape(const char *s, bool quote, aat_put out, void *ctx);
/* aat_escape into b (label value when quote). */
int aat_buf_escape(aat_buf *b, const char *s, bool quote);

/* s[0..n) as a JSON string, quotes included: ", \ and control characters
 * escaped, invalid UTF-8 as U+FFFD. */
int aat_buf_json(aat_buf *b, const char *s, size_t n);

/*
 * s as text safe to print on a terminal or into a CI log: control
 * characters (C0, DEL, C1) are written as \n, \t, \r or \xNN, a backslash
 * as \\, and invalid UTF-8 bytes as \xNN, so an outside string can neither
 * move the cursor, change colours, nor start a line of its own (a GitHub
 * workflow command such as "::error::" needs a line start); the '[' of a
 * legacy "##[command]", which needs none, is written as \x5b.
 */
int aat_buf_term(aat_buf *b, const char *s, size_t n);

/* Length of the valid UTF-8 sequence at s[0..n): 1-4, or 0 when the byte
 * at s does not start one. */
size_t aat_utf8_seq(const unsigned char *s, size_t n);

/* Whether s[0..n) is entirely valid UTF-8. */
bool aat_utf8_valid(const char *s, size_t n);

#endif
