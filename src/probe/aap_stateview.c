/*
 * aap_stateview.c: the validating reader of arenas.  An arena in a group
 * directory is outside input (any process of the same user can write
 * one), so every offset, size and count read from it is checked against
 * the mapping before use, nothing read is trusted twice, and a record
 * whose seqlock never settles is skipped rather than waited for (its
 * writer may have died in the middle of a relabel).  fuzz/fuzz_arena.c
 * feeds it arbitrary images.
 */
#include "aap_stateview.h"

#include "aap_state.h"

#include <string.h>

#define SEQ_TRIES 16
#define LABELS_MAX_PAIRS 8

int aap_view_init(aap_view *v, const void *base, size_t len, int alive)
{
    const aap_arena_hdr *h = base;
    uint64_t used;

    memset(v, 0, sizeof(*v));
    if (!base || len < AAP_ARENA_HDR ||
        memcmp(h->magic, AAP_ARENA_MAGIC, 8) != 0 ||
        h->version != AAP_ARENA_VERSION || h->hdr_size != AAP_ARENA_HDR ||
        h->families != aap_families_hash()) {
        return AAP_EINVAL;
    }
    used = atomic_load_explicit(&((aap_arena_hdr *)h)->used,
                                memory_order_acquire);
    if (used > len) {
        used = len;
    }
    if (used > h->size) {
        used = h->size;
    }
    v->base = base;
    v->len = len;
    v->used = used < AAP_ARENA_HDR ? AAP_ARENA_HDR : (size_t)used;
    v->pid = h->pid;
    v->nloops = atomic_load_explicit(&((aap_arena_hdr *)h)->nloops,
                                     memory_order_relaxed);
    v->alive = alive;
    return 0;
}

static aap_rec_hdr *rec_at(const aap_view *v, size_t at)
{
    return (aap_rec_hdr *)(void *)(v->base + at);
}

int aap_view_next(const aap_view *v, size_t *off, size_t *at, uint32_t *family)
{
    aap_rec_hdr *r;
    uint32_t size;

    if (*off < AAP_ARENA_HDR || *off % 8 || *off > v->used ||
        v->used - *off < AAP_REC_HDR) {
        return 0;
    }
    r = rec_at(v, *off);
    size = r->size;
    if (size < AAP_REC_HDR || size % 8 || size > v->used - *off) {
        return 0;
    }
    *at = *off;
    *family = atomic_load_explicit(&r->family, memory_order_relaxed);
    *off += size;
    return 1;
}

static int name_ok(const char *s)
{
    size_t i;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          s[0] == '_') ||
        strcmp(s, "worker") == 0 || strcmp(s, "le") == 0 ||
        strncmp(s, "__", 2) == 0) {
        return 0;
    }
    for (i = 1; s[i]; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_')) {
            return 0;
        }
    }
    return 1;
}

/* "name\0value\0" pairs exactly filling len bytes, names valid. */
static int labels_ok(const char *b, size_t len)
{
    size_t i = 0, pairs = 0;

    while (i < len) {
        const char *nm = b + i;
        const char *z = memchr(nm, '\0', len - i);
        const char *val, *z2;

        if (!z || !name_ok(nm) || ++pairs > LABELS_MAX_PAIRS) {
            return 0;
        }
        val = z + 1;
        if (val >= b + len) {
            return 0;
        }
        z2 = memchr(val, '\0', (size_t)(b + len - val));
        if (!z2) {
            return 0;
        }
        i = (size_t)(z2 + 1 - b);
    }
    return 1;
}

int aap_view_read(const aap_view *v, size_t at, aap_vrec *out)
{
    aap_rec_hdr *r;
    const aap_family *f;
    _Atomic uint64_t *w;
    uint32_t size, ncells, words, s1, s2 = 1;
    size_t i, len = 0;
    int tries;

    if (at < AAP_ARENA_HDR || at % 8 || at > v->used ||
        v->used - at < AAP_REC_HDR) {
        return 0;
    }
    r = rec_at(v, at);
    size = r->size;
    ncells = r->ncells;
    words = r->label_words;
    if (size < AAP_REC_HDR || size > v->used - at || ncells > AAP_CELLS_MAX ||
        (size_t)words * 8 > AAP_LABELS_MAX ||
        AAP_REC_HDR + 8 * ((size_t)words + ncells) > size) {
        return 0;
    }
    w = (_Atomic uint64_t *)(void *)((char *)r + AAP_REC_HDR);
    for (tries = 0; tries < SEQ_TRIES; tries++) {
        s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
        if (s1 & 1) {
            continue;
        }
        out->state = atomic_load_explicit(&r->state, memory_order_acquire);
        out->family = atomic_load_explicit(&r->family, memory_order_acquire);
        out->key = atomic_load_explicit(&r->key, memory_order_acquire);
        len = atomic_load_explicit(&r->label_len, memory_order_acquire);
        if (len > (size_t)words * 8) {
            return 0;
        }
        for (i = 0; i * 8 < len; i++) {
            uint64_t x = atomic_load_explicit(&w[i], memory_order_acquire);
            size_t k = len - i * 8 < 8 ? len - i * 8 : 8;

            memcpy(out->labels + i * 8, &x, k);
        }
        for (i = 0; i < ncells; i++) {
            out->cells[i] =
                atomic_load_explicit(&w[words + i], memory_order_acquire);
        }
        /* not moved before the acquire loads above */
        s2 = atomic_load_explicit(&r->seq, memory_order_relaxed);
        if (s1 == s2) {
            break;
        }
    }
    if (tries == SEQ_TRIES) {
        return 0;
    }
    out->labels[len] = '\0';
    out->label_len = len;
    out->ncells = ncells;
    if ((out->state & AAP_REC_HIDDEN) ||
        ((out->state & ~AAP_REC_HIDDEN) != AAP_REC_LIVE &&
         (out->state & ~AAP_REC_HIDDEN) != AAP_REC_KEPT)) {
        return 0;
    }
    f = aap_family_get(out->family);
    if (!f || aap_family_ncells(f) != ncells || !labels_ok(out->labels, len)) {
        return 0;
    }
    return 1;
}
