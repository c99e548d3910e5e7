/*
 * aap_arena.h: the layout of a state arena, the region of shared memory
 * that holds every exported value of one process (aap_state.c writes it,
 * aap_stateview.c reads it, possibly from another process).  It is a file
 * format: a process reading a group directory meets files written by
 * other processes, and treats them as outside input.
 *
 *   header (AAP_ARENA_HDR bytes) | record | record | ... (up to `used`)
 *
 * A record holds one series: its family (aap_families.h), its labels as
 * "name\0value\0" pairs and its value cells (aap_families.h says how many
 * and how they render).  Records are appended and never move; a freed
 * record is reused only by a series of the same shape.  Every cell is a
 * 64-bit relaxed atomic written in place by its owner's hot path; a
 * record's identity (state, family, key, labels) changes only under its
 * seqlock `seq` (odd while it changes), so a reader never pairs one
 * series' labels with another's values.
 *
 * Protocol rules for every writer, in any version: the file is created
 * at its full size before it is linked into a directory and is never
 * truncated afterwards (a reader maps it); its owner holds an OFD write
 * lock on byte 0 for as long as it lives (a reader that could take it
 * knows the owner is dead); a process that changes this layout changes
 * AAP_ARENA_VERSION.
 */
#ifndef AAP_ARENA_H
#define AAP_ARENA_H

#include <stdatomic.h>
#include <stdint.h>

#define AAP_ARENA_MAGIC "aaparena"
#define AAP_ARENA_VERSION 1u
#define AAP_ARENA_HDR 128u
/* Bytes of address space an arena may use (pages are allocated only as
 * records are added). */
#define AAP_ARENA_SIZE (4u << 20)

/* flags */
#define AAP_ARENA_LEFT 1u /* the process left its group: not exported */

typedef struct aap_arena_hdr {
    char magic[8];
    uint32_t version;
    uint32_t hdr_size;       /* offset of the first record */
    uint64_t families;       /* aap_families_hash() of the writer */
    uint64_t size;           /* bytes of the file */
    _Atomic uint64_t used;   /* end of the last record (release-stored) */
    int64_t pid;             /* owner */
    int64_t ppid;            /* its supervisor when the arena was made */
    uint64_t start;          /* owner's start time (clock ticks) */
    uint64_t ppid_start;     /* supervisor's start time, 0 if unknown */
    double created;          /* wall clock, seconds */
    _Atomic uint32_t nloops; /* live loops (the "loop" label rule) */
    _Atomic uint32_t flags;
} aap_arena_hdr;

/* record states; HIDDEN may be or-ed into LIVE and KEPT */
#define AAP_REC_FREE 0u
#define AAP_REC_LIVE 1u /* owned by a live series */
#define AAP_REC_KEPT 2u /* owner gone, values frozen and still exported */
#define AAP_REC_HIDDEN 0x100u

typedef struct aap_rec_hdr {
    _Atomic uint32_t seq;
    _Atomic uint32_t state;
    uint32_t size;        /* bytes of the whole record, immutable */
    uint16_t ncells;      /* immutable */
    uint16_t label_words; /* label capacity in 8-byte words, immutable */
    _Atomic uint32_t family;
    _Atomic uint32_t key;
    _Atomic uint32_t label_len;
    uint32_t reserved;
    /* _Atomic uint64_t labels[label_words]; _Atomic uint64_t
     * cells[ncells]; */
} aap_rec_hdr;

#define AAP_REC_HDR ((uint32_t)sizeof(aap_rec_hdr))
/* A record's label bytes and cells are bounded (readers copy them). */
#define AAP_LABELS_MAX 2048u
#define AAP_CELLS_MAX 80u

static inline _Atomic uint64_t *aap_rec_label_words(aap_rec_hdr *r)
{
    return (_Atomic uint64_t *)(void *)((char *)r + AAP_REC_HDR);
}

static inline _Atomic uint64_t *aap_rec_cells(aap_rec_hdr *r)
{
    return aap_rec_label_words(r) + r->label_words;
}

/* Hash of the family table (names, types, value kinds, layouts): part of
 * the layout, so a file from a build with another table is skipped. */
uint64_t aap_families_hash(void);

#endif
