/*
 * aat_escape.c: escaping for every place outside text leaves the program:
 * exposition label values (a bad byte there makes Prometheus drop the whole
 * scrape), JSON strings, and terminal or CI-log output (where an ESC
 * sequence or a line starting with "::" would be obeyed).  All of them
 * validate UTF-8 here, once.
 */
#include "aat.h"

#include <stdio.h>
#include <string.h>

size_t aat_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len, i;
    unsigned cp;

    if (n == 0) {
        return 0;
    }
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        return 0;
    }
    return len;
}

bool aat_utf8_valid(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t k = aat_utf8_seq((const unsigned char *)s + i, n - i);

        if (k == 0) {
            return false;
        }
        i += k;
    }
    return true;
}

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

int aat_escape(const char *s, bool quote, aat_put out, void *ctx)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    size_t n = strlen(s);
    const unsigned char *end = p + n;
    int rc;

    while (p < end) {
        const char *rep = NULL;
        size_t replen = 2, k = 1;

        if (*p == '\\') {
            rep = "\\\\";
        } else if (*p == '\n') {
            rep = "\\n";
        } else if (*p == '"' && quote) {
            rep = "\\\"";
        } else if (*p >= 0x80) {
            k = aat_utf8_seq(p, (size_t)(end - p));
            if (k == 0) {
                rep = replacement;
                replen = 3;
                k = 1;
            }
        }
        if (rep == NULL) {
            p += k;
            continue;
        }
        if ((p > run &&
             (rc = out(ctx, (const char *)run, (size_t)(p - run))) != 0) ||
            (rc = out(ctx, rep, replen)) != 0) {
            return rc;
        }
        p += k;
        run = p;
    }
    return p > run ? out(ctx, (const char *)run, (size_t)(p - run)) : 0;
}

static int put_buf(void *ctx, const char *piece, size_t len)
{
    return aat_buf_append(ctx, piece, len);
}

int aat_buf_escape(aat_buf *b, const char *s, bool quote)
{
    int rc = aat_escape(s, quote, put_buf, b);

    /* b holds a string afterwards even when s is empty */
    return rc != 0 ? rc : aat_buf_append(b, "", 0);
}

/* Appends s[0..n) escaped by esc(c) for single bytes; shared walk of the
 * JSON and terminal escapers.  esc returns the replacement text for byte
 * c (into tmp), or NULL to keep it; invalid UTF-8 bytes go to bad(). */
typedef const char *(*byte_esc)(unsigned c, char tmp[8]);

static int escape_walk(aat_buf *b, const char *s, size_t n, byte_esc esc,
                       byte_esc bad)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    const unsigned char *run = p;
    char tmp[8];
    int rc = 0;

    while (p < end && rc == 0) {
        const char *rep = NULL;
        size_t k = 1;

        if (*p >= 0x80) {
            k = aat_utf8_seq(p, (size_t)(end - p));
            if (k == 0) {
                rep = bad(*p, tmp);
                k = 1;
            } else if (k == 2 && p[0] == 0xC2 && p[1] < 0xA0) {
                rep = esc(p[1], tmp); /* C1 control U+0080..U+009F */
            }
        } else {
            rep = esc(*p, tmp);
        }
        if (rep == NULL) {
            p += k;
            continue;
        }
        if (p > run) {
            rc = aat_buf_append(b, run, (size_t)(p - run));
        }
        if (rc == 0) {
            rc = aat_buf_append(b, rep, strlen(rep));
        }
        p += k;
        run = p;
    }
    if (rc == 0 && p > run) {
        rc = aat_buf_append(b, run, (size_t)(p - run));
    }
    return rc;
}

static const char *json_esc(unsigned c, char tmp[8])
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        break;
    }
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) {
        snprintf(tmp, 8, "\\u%04x", c);
        return tmp;
    }
    return NULL;
}

static const char *json_bad(unsigned c, char tmp[8])
{
    (void)c;
    (void)tmp;
    return "\\ufffd";
}

int aat_buf_json(aat_buf *b, const char *s, size_t n)
{
    int rc = aat_buf_append(b, "\"", 1);

    if (rc == 0) {
        rc = escape_walk(b, s, n, json_esc, json_bad);
    }
    return rc != 0 ? rc : aat_buf_append(b, "\"", 1);
}

static const char *term_esc(unsigned c, char tmp[8])
{
    switch (c) {
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        break;
    }
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) {
        snprintf(tmp, 8, "\\x%02x", c);
        return tmp;
    }
    return NULL;
}

static const char *term_bad(unsigned c, char tmp[8])
{
    snprintf(tmp, 8, "\\x%02x", c);
    return tmp;
}

int aat_buf_term(aat_buf *b, const char *s, size_t n)
{
    const char *p = s, *end = s + n, *hit;
    int rc = 0;

    /* GitHub's runner obeys a legacy "##[command]" anywhere in a line, so
     * its '[' is written as \x5b (unambiguous: a backslash is \\). */
    while (rc == 0 && (hit = memmem(p, (size_t)(end - p), "##[", 3)) != NULL) {
        rc = escape_walk(b, p, (size_t)(hit + 2 - p), term_esc, term_bad);
        if (rc == 0) {
            rc = aat_buf_append(b, "\\x5b", 4);
        }
        p = hit + 3;
    }
    if (rc == 0) {
        rc = escape_walk(b, p, (size_t)(end - p), term_esc, term_bad);
    }
    return rc != 0 ? rc : aat_buf_append(b, "", 0);
}
