/*
 * aap_got.h: one entry of a loaded shared object's import table (the GOT
 * slot of a JUMP_SLOT relocation), found, validated, replaced and put
 * back (aap_got.c).  Internal to the library and its tests.
 */
#ifndef AAP_GOT_H
#define AAP_GOT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct aap_got_slot {
    _Atomic uintptr_t *slot;    /* the GOT entry */
    uintptr_t lo, hi;           /* the object's mapped range */
    uintptr_t prot_lo, prot_hi; /* pages to unprotect (RELRO), 0 if none */
    uintptr_t orig;             /* what the slot held before aap_got_patch */
} aap_got_slot;

/*
 * The slot through which the shared object that contains address
 * in_object calls symbol.  Everything is checked against the object's
 * program headers: its dynamic section, the relocation, symbol and string
 * tables lie inside its mapping, the relocation is a JUMP_SLOT of this
 * architecture (x86_64, aarch64), the slot is aligned and inside its
 * writable (or RELRO) memory.  0, or AAP_EINVAL with *why set.
 */
int aap_got_find(const void *in_object, const char *symbol, aap_got_slot *out,
                 const char **why);
/*
 * Make the slot call hook.  It must hold real (the function our own
 * linkage resolves the symbol to) or an address inside the object (its
 * PLT entry, not yet bound): anything else is someone else's hook, left
 * alone (AAP_EINVAL, *why set).  The store is atomic; a RELRO page is
 * made writable for it and read-only again.
 */
int aap_got_patch(aap_got_slot *g, uintptr_t real, uintptr_t hook,
                  const char **why);
/* Put back what the slot held before, if it still holds hook (1 when it
 * was put back, 0 when the slot holds something else now). */
int aap_got_restore(aap_got_slot *g, uintptr_t hook);

#endif
