/*
 * aap_linetable.c: line numbers from CPython 3.11+ location tables
 * (Objects/locations.md), as PyCode_Addr2Line computes them, for the
 * GIL-free stack reader.  Pure function over a copied byte string.
 */
#include "aap.h"

static unsigned read_varint(const uint8_t **p, const uint8_t *end)
{
    unsigned val, shift = 0;
    uint8_t b;

    if (*p >= end) {
        return 0;
    }
    b = *(*p)++;
    val = b & 63;
    while ((b & 64) && *p < end && shift < 24) {
        b = *(*p)++;
        shift += 6;
        val |= (unsigned)(b & 63) << shift;
    }
    return val;
}

static int read_svarint(const uint8_t **p, const uint8_t *end)
{
    unsigned u = read_varint(p, end);

    return (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
}

int aap_linetable_line(const uint8_t *tab, size_t len, int firstlineno,
                       long addr)
{
    const uint8_t *p = tab, *end = tab + len;
    int line = firstlineno;
    long start = 0;

    if (addr < 0) {
        return firstlineno;
    }
    while (p < end) {
        uint8_t first = *p++;
        int code = (first >> 3) & 15;
        long length = (first & 7) + 1;
        int delta = 0, noloc = 0;

        if (!(first & 0x80)) {
            return -1; /* not at an entry start: corrupt */
        }
        switch (code) {
        case 15:
            noloc = 1;
            break;
        case 14:
            delta = read_svarint(&p, end);
            read_varint(&p, end);
            read_varint(&p, end);
            read_varint(&p, end);
            break;
        case 13:
            delta = read_svarint(&p, end);
            break;
        case 10:
        case 11:
        case 12:
            delta = code - 10;
            p += 2;
            break;
        default:
            p += 1;
            break;
        }
        line += delta;
        if (addr < start + length) {
            return noloc ? -1 : line;
        }
        start += length;
    }
    return -1;
}
