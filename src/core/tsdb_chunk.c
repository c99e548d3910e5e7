/*
 * tsdb_chunk.c: the series store's compressed chunks (tsdb_chunk.h), bit
 * for bit Prometheus's XOR chunk encoding after the first sample (whose
 * time lives in the header): delta-of-delta times in the buckets 0 (1
 * bit), 14, 17, 20 bits (after a 2-, 3-, 4-bit prefix) or 64 bits, and
 * XOR-ed values reusing the previous window of meaningful bits when it
 * fits.  Times and deltas are computed modulo 2^64, so any int64 time
 * round-trips.
 */
#include "tsdb_chunk.h"

#include <stdlib.h>
#include <string.h>

#include "aa/common.h"

#define FIRST_CAP 8 /* one value */

static void put_bits(tsdb_chunk *c, uint64_t v, unsigned n)
{
    while (n > 0) {
        unsigned used = c->nbits & 7, room = 8 - used;
        unsigned take = n < room ? n : room;
        unsigned bits = (unsigned)(v >> (n - take)) & ((1u << take) - 1);

        c->data[c->nbits >> 3] |= (uint8_t)(bits << (room - take));
        c->nbits += take;
        n -= take;
    }
}

/* The 8 bytes at p as a big-endian number. */
static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* n (1..64) bits at *pos, which advances past them.  One 8-byte load
 * when they lie within it (almost every read), byte by byte otherwise
 * (a 64-bit raw value off a byte boundary, or the chunk's last bytes). */
static inline uint64_t get_bits(const tsdb_chunk *c, uint32_t *pos, unsigned n)
{
    uint32_t byte = *pos >> 3;
    unsigned off = *pos & 7;
    uint64_t v = 0;

    if (off + n <= 64 && (size_t)byte + 8 <= c->cap) {
        v = (load_be64(c->data + byte) << off) >> (64 - n);
        *pos += n;
        return v;
    }
    while (n > 0) {
        unsigned room = 8 - (*pos & 7);
        unsigned take = n < room ? n : room;
        unsigned b = c->data[*pos >> 3];

        v = (v << take) | ((b >> (room - take)) & ((1u << take) - 1));
        *pos += take;
        n -= take;
    }
    return v;
}

static uint64_t dbits(double v)
{
    uint64_t b;

    memcpy(&b, &v, sizeof(b));
    return b;
}

/* Whether x fits Prometheus's n-bit bucket: -(2^(n-1) - 1) .. 2^(n-1). */
static bool fits(int64_t x, unsigned n)
{
    int64_t half = (int64_t)1 << (n - 1);

    return x >= -(half - 1) && x <= half;
}

static const struct {
    unsigned prefix, plen, n; /* prefix bits, their count, payload bits */
} buckets[] = {{0x2, 2, 14}, {0x6, 3, 17}, {0xE, 4, 20}};

static unsigned dod_cost(int64_t dod)
{
    size_t i;

    if (dod == 0) {
        return 1;
    }
    for (i = 0; i < 3; i++) {
        if (fits(dod, buckets[i].n)) {
            return buckets[i].plen + buckets[i].n;
        }
    }
    return 4 + 64;
}

static void put_dod(tsdb_chunk *c, int64_t dod)
{
    size_t i;

    if (dod == 0) {
        put_bits(c, 0, 1);
        return;
    }
    for (i = 0; i < 3; i++) {
        if (fits(dod, buckets[i].n)) {
            put_bits(c, buckets[i].prefix, buckets[i].plen);
            put_bits(c, (uint64_t)dod & (((uint64_t)1 << buckets[i].n) - 1),
                     buckets[i].n);
            return;
        }
    }
    put_bits(c, 0xF, 4);
    put_bits(c, (uint64_t)dod, 64);
}

/* Leading zeros clamped to 31 (5 bits), trailing zeros; x != 0. */
static void window(uint64_t x, unsigned *lead, unsigned *trail)
{
    unsigned l = (unsigned)__builtin_clzll(x);

    *lead = l >= 32 ? 31 : l;
    *trail = (unsigned)__builtin_ctzll(x);
}

static bool reuses(const tsdb_enc *e, unsigned lead, unsigned trail)
{
    return e->lead != 0xff && lead >= e->lead && trail >= e->trail;
}

static unsigned xor_cost(const tsdb_enc *e, uint64_t x)
{
    unsigned lead, trail;

    if (x == 0) {
        return 1;
    }
    window(x, &lead, &trail);
    if (reuses(e, lead, trail)) {
        return 2 + 64 - e->lead - e->trail;
    }
    return 2 + 5 + 6 + 64 - lead - trail;
}

static void put_xor(tsdb_chunk *c, tsdb_enc *e, uint64_t x)
{
    unsigned lead, trail, sig;

    if (x == 0) {
        put_bits(c, 0, 1);
        return;
    }
    window(x, &lead, &trail);
    if (reuses(e, lead, trail)) {
        put_bits(c, 0x2, 2);
        put_bits(c, x >> e->trail, 64 - e->lead - e->trail);
        return;
    }
    e->lead = (uint8_t)lead;
    e->trail = (uint8_t)trail;
    sig = 64 - lead - trail;
    put_bits(c, 0x3, 2);
    put_bits(c, lead, 5);
    put_bits(c, sig & 63, 6); /* 64 is written as 0 */
    put_bits(c, x >> trail, sig);
}

/*
 * The next capacity: a quarter more, so that the last chunk of a series
 * wastes about a tenth of its bytes on average (doubling would waste a
 * quarter), and 8 modulo 16 so that header, data and malloc's 8 bytes
 * fill glibc's 16-byte granules.  At most TSDB_CHUNK_MAX.
 */
static size_t grown(size_t cap)
{
    size_t next = ((cap + cap / 4 + 8) | 15) - 7;

    return next < TSDB_CHUNK_MAX ? next : TSDB_CHUNK_MAX;
}

static tsdb_chunk *chunk_alloc(size_t cap)
{
    tsdb_chunk *c = malloc(sizeof(tsdb_chunk) + cap);

    if (c != NULL) {
        memset(c, 0, sizeof(tsdb_chunk) + cap);
        c->cap = (uint16_t)cap;
    }
    return c;
}

tsdb_chunk *tsdb_chunk_new(int64_t t, double v, tsdb_enc *enc)
{
    tsdb_chunk *c = chunk_alloc(FIRST_CAP);

    if (c == NULL) {
        return NULL;
    }
    c->t0 = c->t1 = t;
    c->n = 1;
    enc->delta = 0;
    enc->vbits = dbits(v);
    enc->lead = 0xff;
    enc->trail = 0;
    put_bits(c, enc->vbits, 64);
    return c;
}

int tsdb_chunk_append(tsdb_chunk **cp, tsdb_enc *enc, int64_t t, double v)
{
    tsdb_chunk *c = *cp;
    int64_t delta = (int64_t)((uint64_t)t - (uint64_t)c->t1);
    int64_t dod = (int64_t)((uint64_t)delta - (uint64_t)enc->delta);
    uint64_t x = dbits(v) ^ enc->vbits;
    size_t need = (size_t)c->nbits + dod_cost(dod) + xor_cost(enc, x);

    if (c->n == UINT16_MAX) {
        return TSDB_CHUNK_FULL;
    }
    if (need > (size_t)c->cap * 8) {
        size_t cap = c->cap;
        tsdb_chunk *nc;

        while (cap < TSDB_CHUNK_MAX && need > cap * 8) {
            cap = grown(cap);
        }
        if (need > cap * 8) {
            return TSDB_CHUNK_FULL;
        }
        nc = realloc(c, sizeof(tsdb_chunk) + cap);
        if (nc == NULL) {
            return AA_ENOMEM;
        }
        memset(nc->data + nc->cap, 0, cap - nc->cap);
        nc->cap = (uint16_t)cap;
        *cp = c = nc;
    }
    put_dod(c, dod);
    put_xor(c, enc, x);
    enc->delta = delta;
    enc->vbits ^= x;
    c->t1 = t;
    c->n++;
    return AA_OK;
}

void tsdb_chunk_shrink(tsdb_chunk **cp)
{
    size_t used = ((size_t)(*cp)->nbits + 7) / 8;
    tsdb_chunk *nc;

    if (used >= (*cp)->cap) {
        return;
    }
    nc = realloc(*cp, sizeof(tsdb_chunk) + used);
    if (nc != NULL) {
        nc->cap = (uint16_t)used;
        *cp = nc;
    }
}

size_t tsdb_chunk_size(const tsdb_chunk *c)
{
    return sizeof(tsdb_chunk) + c->cap;
}

void tsdb_iter_init(tsdb_iter *it, const tsdb_chunk *c)
{
    memset(it, 0, sizeof(*it));
    it->c = c;
    it->enc.lead = 0xff;
}

static int64_t get_signed(const tsdb_chunk *c, uint32_t *pos, unsigned n)
{
    uint64_t v = get_bits(c, pos, n);

    if (v > ((uint64_t)1 << (n - 1))) {
        v -= (uint64_t)1 << n;
    }
    return (int64_t)v;
}

static int64_t get_dod(const tsdb_chunk *c, uint32_t *pos)
{
    size_t i;

    if (get_bits(c, pos, 1) == 0) {
        return 0;
    }
    for (i = 0; i < 3; i++) {
        if (get_bits(c, pos, 1) == 0) {
            return get_signed(c, pos, buckets[i].n);
        }
    }
    return (int64_t)get_bits(c, pos, 64);
}

bool tsdb_iter_next(tsdb_iter *it, int64_t *t, double *v)
{
    const tsdb_chunk *c = it->c;

    if (it->i >= c->n) {
        return false;
    }
    if (it->i == 0) {
        it->t = c->t0;
        it->enc.vbits = get_bits(c, &it->pos, 64);
    } else {
        int64_t dod = get_dod(c, &it->pos);

        it->enc.delta = (int64_t)((uint64_t)it->enc.delta + (uint64_t)dod);
        it->t = (int64_t)((uint64_t)it->t + (uint64_t)it->enc.delta);
        if (get_bits(c, &it->pos, 1) != 0) {
            unsigned sig;

            if (get_bits(c, &it->pos, 1) != 0) {
                it->enc.lead = (uint8_t)get_bits(c, &it->pos, 5);
                sig = (unsigned)get_bits(c, &it->pos, 6);
                if (sig == 0) {
                    sig = 64;
                }
                it->enc.trail = (uint8_t)(64 - it->enc.lead - sig);
            }
            sig = 64u - it->enc.lead - it->enc.trail;
            it->enc.vbits ^= get_bits(c, &it->pos, sig) << it->enc.trail;
        }
    }
    it->i++;
    *t = it->t;
    memcpy(v, &it->enc.vbits, sizeof(*v));
    return true;
}
