/*
 * aap_families.c: the family table of aap_families.h as data, and its
 * hash (part of the arena layout: a reader skips arenas written with
 * another table rather than misread their records).
 */
#include "aap_state.h"

#include <pthread.h>
#include <string.h>

#define AAP_FAMILY_ROW_(id, nm, ty, val, dead, lay, labels, hp)               \
    [AAP_F_##id] = {.name = nm,                                               \
                    .help = hp,                                               \
                    .type = AAP_TYPE_##ty,                                    \
                    .value = AAP_VAL_##val,                                   \
                    .drop_dead = AAP_DEAD_##dead,                             \
                    .layout = AAP_LAYOUT_##lay,                               \
                    .label_cap = labels},
#define AAP_DEAD_KEEP 0
#define AAP_DEAD_DROP 1

static const aap_family families[AAP_F_N] = {AAP_FAMILIES(AAP_FAMILY_ROW_)};

_Static_assert(AAP_F_N < 65536, "family ids fit a record");

const aap_family *aap_family_get(uint32_t id)
{
    return id < AAP_F_N ? &families[id] : NULL;
}

size_t aap_family_ncells(const aap_family *f)
{
    const aap_layout *lay;

    switch (f->value) {
    case AAP_VAL_SINCE:
        return 2;
    case AAP_VAL_ONE:
        return 0;
    case AAP_VAL_HIST:
        lay = aap_layout_get(f->layout);
        return lay ? AAP_HIST_NCELLS(lay->n) : 0;
    default:
        return 1;
    }
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ s[i]) * 1099511628211ull;
    }
    return h;
}

static uint64_t families_hash;
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void hash_init(void)
{
    uint64_t h = 1469598103934665603ull;
    uint32_t i;

    for (i = 0; i < AAP_F_N; i++) {
        const aap_family *f = &families[i];
        const aap_layout *lay = aap_layout_get(f->layout);
        int32_t v[5] = {f->type, f->value, f->drop_dead, f->layout,
                        (int32_t)f->label_cap};

        h = fnv(h, f->name, strlen(f->name) + 1);
        h = fnv(h, v, sizeof(v));
        if (lay) {
            h = fnv(h, lay->bounds, lay->n * sizeof(double));
        }
    }
    families_hash = h;
}

uint64_t aap_families_hash(void)
{
    pthread_once(&hash_once, hash_init);
    return families_hash;
}
