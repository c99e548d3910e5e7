/*
 * tsdb_chunk.h: compressed sample chunks of the series store (tsdb.c),
 * internal to the core library.  The encoding is Prometheus's XOR chunk
 * (Gorilla): the first time in the header and the first value as 64
 * bits, then each time as the delta of its delta to the previous one in
 * 1, 16, 20, 24 or 68 bits and each value as its XOR with the previous
 * one, 1 bit when equal.  Regular scrapes cost about one to two bytes a
 * sample.
 *
 * A series is a list of chunks.  The last one grows by reallocation, by
 * a quarter at a time from 8 bytes of data (one sample costs a 40-byte
 * chunk) to TSDB_CHUNK_MAX bytes; then it is shrunk to fit and a new
 * chunk is started, so only the last chunk of a series has free space.
 * Appending needs the encoder state of the last chunk (tsdb_enc), which
 * the series keeps rather than every chunk.
 */
#ifndef AA_TSDB_CHUNK_H
#define AA_TSDB_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tsdb_chunk {
    struct tsdb_chunk *next;
    int64_t t0, t1; /* first and last time */
    uint32_t nbits; /* bits of data written */
    uint16_t n;     /* samples */
    uint16_t cap;   /* bytes of data */
    uint8_t data[];
} tsdb_chunk;

/* What appending to a chunk needs to know about its last sample. */
typedef struct tsdb_enc {
    int64_t delta;       /* t1 - the time before it (0 after one sample) */
    uint64_t vbits;      /* the last value's bits */
    uint8_t lead, trail; /* the last XOR window; lead 0xff: none yet */
} tsdb_enc;

/* Most data bytes of one chunk (about 600 regular samples). */
#define TSDB_CHUNK_MAX 1016

/* tsdb_chunk_append's result when the chunk is full (nothing written):
 * the caller shrinks it and starts a new one. */
#define TSDB_CHUNK_FULL 1

/* A new chunk holding the one sample (t, v); NULL on OOM.  *enc is reset
 * for it. */
tsdb_chunk *tsdb_chunk_new(int64_t t, double v, tsdb_enc *enc);

/*
 * Appends (t, v), t > (*cp)->t1, reallocating *cp (which may move) to
 * up to TSDB_CHUNK_MAX bytes of data.  0, TSDB_CHUNK_FULL, or AA_ENOMEM
 * with *cp unchanged and valid.
 */
int tsdb_chunk_append(tsdb_chunk **cp, tsdb_enc *enc, int64_t t, double v);

/* Gives back a full chunk's unused bytes (*cp may move; on failure it
 * stays as it was). */
void tsdb_chunk_shrink(tsdb_chunk **cp);

/* Bytes a chunk occupies on the heap (header and data capacity). */
size_t tsdb_chunk_size(const tsdb_chunk *c);

/* Reads a chunk's samples in order. */
typedef struct tsdb_iter {
    const tsdb_chunk *c;
    uint32_t pos; /* bit position */
    uint16_t i;   /* samples read */
    tsdb_enc enc;
    int64_t t;
} tsdb_iter;

void tsdb_iter_init(tsdb_iter *it, const tsdb_chunk *c);
/* The next sample; false after the last. */
bool tsdb_iter_next(tsdb_iter *it, int64_t *t, double *v);

#endif
