/*
 * duration.c: Prometheus-style durations ("250ms", "1m30s", "1h"), the one
 * spelling used by rule files, command-line flags and the PromQL we send,
 * so that what a user writes is what Prometheus reads.
 *
 * Grammar (as Prometheus's model.ParseDuration): one or more INTEGER UNIT
 * pairs, units from largest to smallest, each at most once; units are
 * y (365d), w, d, h, m, s, ms.  Fractions ("1.5m"), bare numbers ("5"),
 * signs and spaces are rejected; "0" alone is accepted as zero, like
 * Prometheus does.
 */
#include "aa/rules.h"

#include <stdio.h>
#include <string.h>

struct unit {
    const char *name;
    int64_t ms;
};

/* Largest first: both the parse order and the format order. */
static const struct unit units[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

/* Index of the unit at *p (longest match: "ms" before "m"), or -1. */
static int unit_at(const char *p, size_t *len)
{
    if (p[0] == 'm' && p[1] == 's') {
        *len = 2;
        return (int)NUNITS - 1;
    }
    for (size_t i = 0; i + 1 < NUNITS; i++) {
        if (p[0] == units[i].name[0]) {
            *len = 1;
            return (int)i;
        }
    }
    return -1;
}

int aa_duration_parse(const char *text, int64_t *out_ms)
{
    const char *p = text;
    int64_t total = 0;
    int last = -1;

    if (out_ms != NULL) {
        *out_ms = 0;
    }
    if (text == NULL || out_ms == NULL || *text == '\0') {
        return AA_ESYNTAX;
    }
    if (strcmp(text, "0") == 0) {
        return AA_OK;
    }
    while (*p != '\0') {
        int64_t n = 0;
        size_t ulen = 0;
        int u;

        if (*p < '0' || *p > '9') {
            return AA_ESYNTAX;
        }
        while (*p >= '0' && *p <= '9') {
            if (n > (INT64_MAX - 9) / 10) {
                return AA_ESYNTAX;
            }
            n = n * 10 + (*p - '0');
            p++;
        }
        u = unit_at(p, &ulen);
        if (u < 0 || u <= last) {
            return AA_ESYNTAX; /* missing, unknown, repeated or misordered */
        }
        if (n > 0 && n > (INT64_MAX - total) / units[u].ms) {
            return AA_ESYNTAX;
        }
        total += n * units[u].ms;
        last = u;
        p += ulen;
    }
    *out_ms = total;
    return AA_OK;
}

char *aa_duration_format(int64_t ms, char *buf, size_t size)
{
    size_t off = 0;

    if (size == 0) {
        return buf;
    }
    buf[0] = '\0';
    if (ms <= 0) {
        snprintf(buf, size, "0s");
        return buf;
    }
    for (size_t i = 0; i < NUNITS && ms > 0; i++) {
        int64_t n = ms / units[i].ms;
        int w;

        if (n == 0) {
            continue;
        }
        ms -= n * units[i].ms;
        w = snprintf(buf + off, size - off, "%lld%s", (long long)n,
                     units[i].name);
        if (w < 0 || (size_t)w >= size - off) {
            break; /* truncated, still NUL-terminated */
        }
        off += (size_t)w;
    }
    return buf;
}
