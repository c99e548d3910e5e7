/*
 * aap_state.h: the probe's series store, internal to the library.  Every
 * exported value of this process lives in one arena (aap_arena.h) of
 * shared memory: a file in the group directory when the process belongs
 * to a group, so that whichever process answers /metrics can read it,
 * otherwise memory nobody else sees.  Owners (loops, the HTTP table,
 * site tables) allocate a series once and then write its cells with
 * relaxed atomics, exactly as they would write a field of their own.
 *
 * Lock order: the state lock is the innermost lock of the library (after
 * aap_reg_lock, aap_loop.lock and the HTTP table lock); it is taken only
 * to allocate, relabel or release a series, never to write a value.
 */
#ifndef AAP_STATE_H
#define AAP_STATE_H

#include "aap.h"
#include "aap_arena.h"
#include "aap_families.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    AAP_TYPE_COUNTER,
    AAP_TYPE_GAUGE,
    AAP_TYPE_HISTOGRAM
} aap_family_type;

typedef enum {
    AAP_VAL_COUNT,
    AAP_VAL_NS,
    AAP_VAL_INT,
    AAP_VAL_SINCE,
    AAP_VAL_ONE,
    AAP_VAL_HIST
} aap_family_value;

typedef struct aap_family {
    const char *name;
    const char *help;
    int type;      /* aap_family_type */
    int value;     /* aap_family_value */
    int drop_dead; /* a dead process's series disappear */
    int layout;    /* AAP_LAYOUT_* for AAP_VAL_HIST */
    uint32_t label_cap;
} aap_family;

/* The table of aap_families.h; NULL for an unknown id. */
const aap_family *aap_family_get(uint32_t id);
/* Cells of a record of family f (0 for an unknown layout). */
size_t aap_family_ncells(const aap_family *f);

typedef aap_rec_hdr aap_rec;

typedef struct aap_label {
    const char *name;
    const char *value;
} aap_label;

/* allocation flags */
#define AAP_SERIES_HIDDEN 1u /* not exported until aap_rec_show() */
/* Adopt a kept record whose labels start with the given ones (a site
 * slot resumed by a loop of the same name), whatever its other labels. */
#define AAP_SERIES_ADOPT_PREFIX 2u
/* Only adopt: AAP_EINVAL when there is no kept record to resume. */
#define AAP_SERIES_ADOPT_ONLY 4u

/*
 * A series of family with labels (copied; values longer than the
 * family's room are cut) and key (the caller's slot number, 0 if none).
 * In a grouped process a kept record of the same family, key and labels
 * is adopted with its values (a loop resumed under the same name goes on
 * counting); otherwise the record starts at zero.  *out is set only on
 * success: 0, AAP_EINVAL, AAP_ENOMEM (the arena could not be made) or
 * AAP_ETOOBIG (it is full).
 */
int aap_state_series(int family, uint32_t key, const aap_label *labels,
                     size_t n, unsigned flags, aap_rec **out);
/* The same, returning its first cell (counters, gauges). */
int aap_state_cell(int family, const aap_label *labels, size_t n,
                   unsigned flags, aap_rec **rec, _Atomic uint64_t **cell);
/* The same, as a histogram of the family's layout. */
int aap_state_hist(int family, const aap_label *labels, size_t n,
                   unsigned flags, aap_rec **rec, aap_hist *h);

/* Scratch cells for a series that could not be allocated: written,
 * never exported.  Enough for any family. */
_Atomic uint64_t *aap_state_sink(void);
/* A histogram on the sink, for layout id. */
void aap_state_sink_hist(int layout, aap_hist *h);

/* Export a hidden series / stop exporting it. */
void aap_rec_show(aap_rec *r);
void aap_rec_hide(aap_rec *r);
/* Give r new labels, its values restarting at zero (seqlock: a reader
 * sees the old series or the new one, never a mix).  Same key. */
int aap_rec_relabel(aap_rec *r, const aap_label *labels, size_t n);
/* Value of label name of r into out (""). 0, or AAP_EINVAL if absent. */
int aap_rec_label(aap_rec *r, const char *name, char *out, size_t cap);
/* Zero r's values. */
void aap_rec_zero(aap_rec *r);
/*
 * The owner is done with r.  In a grouped process a counter or histogram
 * is kept (frozen, still exported, adoptable), so the process's totals
 * never go backwards; otherwise, and for gauges, r is freed.  NULL ok.
 */
void aap_rec_release(aap_rec *r);
/* Free r whatever its family.  NULL ok. */
void aap_rec_free(aap_rec *r);

/* Make this process's arena (idempotent); 0 or a negative aap_err. */
int aap_state_ensure(void);
/* Live loops of this process (the "loop" label rule). */
void aap_state_loops_add(int delta);
/* This process's arena, for the renderer; NULL if not made yet. */
const aap_arena_hdr *aap_state_arena(size_t *len);

/*
 * Groups.  The arena joins the group directory dirfd (a file named
 * after the pid appears in it) or leaves it (the file stays until the
 * process exits but is no longer exported, and kept records are freed).
 * Joining a second directory moves the file.  0 or a negative aap_err
 * with *sys_errno set.
 */
int aap_state_join(int dirfd, int *sys_errno);
void aap_state_leave(void);
/* A new descriptor of the group directory the arena is exported from
 * (the caller closes it), or -1 when it belongs to no group. */
int aap_state_group_dup(void);
/* Device and inode of the arena's file (0 when anonymous). */
void aap_state_file_id(uint64_t *dev, uint64_t *ino);
/* Why the arena is not file-backed (errno), 0 if it is. */
int aap_state_backing_errno(void);

/* fork hooks: phase 0 prepare, 1 parent, 2 child (the child gets its
 * own arena with the same records, unexported ones dropped). */
void aap_state_fork(int phase);

#endif
