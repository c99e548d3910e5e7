/*
 * aap_stateview.h: reading an arena (aap_arena.h) that may belong to
 * another process and may hold anything (aap_stateview.c).  Internal to
 * the probe's library; the renderer's only way into arenas, its own
 * process's included.
 */
#ifndef AAP_STATEVIEW_H
#define AAP_STATEVIEW_H

#include "aap_arena.h"

#include <stddef.h>
#include <stdint.h>

typedef struct aap_view {
    const uint8_t *base;
    size_t len;  /* bytes that may be read */
    size_t used; /* end of the records, within len */
    int64_t pid;
    uint32_t nloops;
    int alive;
} aap_view;

/* Check the header of the len bytes at base; 0 or AAP_EINVAL (not an
 * arena of this layout). */
int aap_view_init(aap_view *v, const void *base, size_t len, int alive);

/* A consistent copy of one exported record. */
typedef struct aap_vrec {
    uint32_t family;
    uint32_t key;
    uint32_t state;
    uint32_t ncells;
    size_t label_len; /* "name\0value\0"... */
    char labels[AAP_LABELS_MAX + 1];
    uint64_t cells[AAP_CELLS_MAX];
} aap_vrec;

/*
 * Walk: the record at *off, whose offset goes to *at and whose family,
 * read without its seqlock, to *family (a hint to sort by); *off moves
 * past it.  1 for a record, 0 at the end (or where the chain of record
 * sizes is broken).
 */
int aap_view_next(const aap_view *v, size_t *off, size_t *at,
                  uint32_t *family);
/*
 * Copy the record at `at` under its seqlock: 1 when it is an exported
 * series (live or kept, not hidden) of a known family, well formed
 * (cells of its family, valid label names, at most 8 labels, none named
 * "worker" or "le"); 0 to skip it.
 */
int aap_view_read(const aap_view *v, size_t at, aap_vrec *out);

#endif
