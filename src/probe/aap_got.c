/*
 * aap_got.c: find and replace one entry of a loaded shared object's
 * import table.
 *
 * Why: uvloop runs its loop in compiled code (libuv inside its extension),
 * so there is no selector to wrap; but libuv polls with epoll_pwait, and
 * uvloop enters a callback's context with PyContext_Enter, both called
 * through the extension's own PLT, that is through one pointer each in its
 * GOT.  Replacing those pointers (and only that object's: every other
 * library keeps calling the real functions) shows the probe uvloop's
 * iterations and callbacks as the selector wrapper and the ready queue
 * show asyncio's.
 *
 * Safety: the object is the one whose PT_LOAD segments contain an address
 * the caller knows is in it (a type object of the module); its tables are
 * read from its own dynamic section, each checked to lie inside its
 * mapping; the relocation must be a JUMP_SLOT of this architecture for
 * exactly the named symbol; the slot must be aligned and inside writable
 * (or RELRO) memory; it must hold the real function or the object's own
 * PLT entry, not yet bound (anything else is another tool's hook, left
 * alone).
 * The slot is swapped with one atomic compare-and-swap, so a thread
 * calling through it at that moment gets the old or the new function,
 * never a torn pointer.  A RELRO page (an object linked -z now) is made
 * writable for the store and read-only again.  glibc stores the dynamic
 * section's addresses relocated, musl does not: an address below the
 * load base is taken as relative.
 */
#include "aap.h"
#include "aap_got.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define GOT_JUMP_SLOT R_X86_64_JUMP_SLOT
#elif defined(__aarch64__)
#define GOT_JUMP_SLOT R_AARCH64_JUMP_SLOT
#endif

#if defined(GOT_JUMP_SLOT) && defined(__LP64__)

typedef struct find_ctx {
    uintptr_t addr;
    const char *symbol;
    aap_got_slot *out;
    int found; /* the object containing addr was seen */
    int rc;
    const char *why;
} find_ctx;

/* Whether [p, p + n) lies inside a PT_LOAD segment of the object (with
 * PF_W when writable is set). */
static int inside(const struct dl_phdr_info *info, uintptr_t p, size_t n,
                  int writable)
{
    int i;

    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

        if (ph->p_type == PT_LOAD && (!writable || (ph->p_flags & PF_W)) &&
            p >= lo && n <= ph->p_memsz && p - lo <= ph->p_memsz - n) {
            return 1;
        }
    }
    return 0;
}

/* An address of the dynamic section as the object's memory address. */
static uintptr_t dyn_addr(const struct dl_phdr_info *info, uintptr_t v)
{
    return v < info->dlpi_addr ? v + info->dlpi_addr : v;
}

static int fail(find_ctx *c, const char *why)
{
    c->rc = AAP_EINVAL;
    c->why = why;
    return 1;
}

/* The object containing c->addr: look the symbol's slot up. */
static int scan(struct dl_phdr_info *info, find_ctx *c)
{
    const ElfW(Dyn) *dyn = NULL;
    uintptr_t jmprel = 0, symtab = 0, strtab = 0, lo = UINTPTR_MAX, hi = 0;
    size_t pltrelsz = 0, strsz = 0, syment = 0, i, n, want;
    long pltrel = -1;
    int k;

    for (k = 0; k < info->dlpi_phnum; k++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;

        if (ph->p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)a;
        } else if (ph->p_type == PT_LOAD) {
            lo = a < lo ? a : lo;
            hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
        }
    }
    if (!dyn || !inside(info, (uintptr_t)dyn, sizeof(*dyn), 0)) {
        return fail(c, "the object has no dynamic section");
    }
    for (n = 0; n < 4096; n++) {
        if (!inside(info, (uintptr_t)&dyn[n], sizeof(*dyn), 0)) {
            return fail(c, "the dynamic section runs out of the object");
        }
        if (dyn[n].d_tag == DT_NULL) {
            break;
        }
        switch (dyn[n].d_tag) {
        case DT_JMPREL:
            jmprel = dyn_addr(info, dyn[n].d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            pltrelsz = dyn[n].d_un.d_val;
            break;
        case DT_PLTREL:
            pltrel = (long)dyn[n].d_un.d_val;
            break;
        case DT_SYMTAB:
            symtab = dyn_addr(info, dyn[n].d_un.d_ptr);
            break;
        case DT_STRTAB:
            strtab = dyn_addr(info, dyn[n].d_un.d_ptr);
            break;
        case DT_STRSZ:
            strsz = dyn[n].d_un.d_val;
            break;
        case DT_SYMENT:
            syment = dyn[n].d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (!jmprel || !symtab || !strtab || !strsz || pltrel != DT_RELA ||
        syment != sizeof(ElfW(Sym)) || pltrelsz % sizeof(ElfW(Rela)) ||
        !inside(info, jmprel, pltrelsz, 0) ||
        !inside(info, strtab, strsz, 0)) {
        return fail(c, "the object's PLT relocations are not as expected");
    }
    want = strlen(c->symbol);
    for (i = 0; i < pltrelsz / sizeof(ElfW(Rela)); i++) {
        const ElfW(Rela) *r = (const ElfW(Rela) *)jmprel + i;
        const ElfW(Sym) * sym;
        uintptr_t slot;

        if (ELF64_R_TYPE(r->r_info) != GOT_JUMP_SLOT) {
            continue;
        }
        sym = (const ElfW(Sym) *)symtab + ELF64_R_SYM(r->r_info);
        if (!inside(info, (uintptr_t)sym, sizeof(*sym), 0) ||
            sym->st_name >= strsz || strsz - sym->st_name <= want ||
            memcmp((const char *)strtab + sym->st_name, c->symbol, want + 1) !=
                0) {
            continue;
        }
        slot = info->dlpi_addr + r->r_offset;
        if (slot % sizeof(uintptr_t) ||
            !inside(info, slot, sizeof(uintptr_t), 1)) {
            return fail(c, "the symbol's GOT slot is not writable memory");
        }
        memset(c->out, 0, sizeof(*c->out));
        c->out->slot = (_Atomic uintptr_t *)slot;
        c->out->lo = lo;
        c->out->hi = hi;
        for (k = 0; k < info->dlpi_phnum; k++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
            uintptr_t a = info->dlpi_addr + ph->p_vaddr;

            if (ph->p_type == PT_GNU_RELRO) {
                /* the pages ld.so made read-only: the region's end is
                 * rounded down, a last partial page stays writable */
                long page = sysconf(_SC_PAGESIZE);
                uintptr_t pg = page > 0 ? (uintptr_t)page : 4096u;
                uintptr_t rlo = a & ~(pg - 1);
                uintptr_t rhi = (a + ph->p_memsz) & ~(pg - 1);

                if (slot >= rlo && slot < rhi) {
                    c->out->prot_lo = slot & ~(pg - 1);
                    c->out->prot_hi = c->out->prot_lo + pg;
                }
            }
        }
        c->rc = 0;
        return 1;
    }
    return fail(c, "the object does not import the symbol through its PLT");
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    find_ctx *c = data;

    if (size < offsetof(struct dl_phdr_info, dlpi_phnum) +
                   sizeof(info->dlpi_phnum) ||
        !inside(info, c->addr, 1, 0)) {
        return 0;
    }
    c->found = 1;
    return scan(info, c);
}

int aap_got_find(const void *in_object, const char *symbol, aap_got_slot *out,
                 const char **why)
{
    find_ctx c;

    memset(&c, 0, sizeof(c));
    c.addr = (uintptr_t)in_object;
    c.symbol = symbol;
    c.out = out;
    c.rc = AAP_EINVAL;
    if (!in_object || !symbol || !*symbol) {
        *why = "no object or symbol";
        return AAP_EINVAL;
    }
    dl_iterate_phdr(phdr_cb, &c);
    if (!c.found) {
        *why = "no loaded object contains the address";
        return AAP_EINVAL;
    }
    if (c.rc < 0) {
        *why = c.why;
    }
    return c.rc;
}

/* Store into the slot (making a RELRO page writable meanwhile): 1 when
 * it held expect and now holds v. */
static int swap(aap_got_slot *g, uintptr_t expect, uintptr_t v)
{
    int ok;

    if (g->prot_lo && mprotect((void *)g->prot_lo, g->prot_hi - g->prot_lo,
                               PROT_READ | PROT_WRITE) != 0) {
        return 0;
    }
    ok = atomic_compare_exchange_strong(g->slot, &expect, v);
    if (g->prot_lo) {
        mprotect((void *)g->prot_lo, g->prot_hi - g->prot_lo, PROT_READ);
    }
    return ok;
}

int aap_got_patch(aap_got_slot *g, uintptr_t real, uintptr_t hook,
                  const char **why)
{
    uintptr_t cur = atomic_load(g->slot);

    if (cur == hook) {
        return 0;
    }
    if (cur != real && !(cur >= g->lo && cur < g->hi)) {
        *why = "the GOT slot already calls another function (another hook)";
        return AAP_EINVAL;
    }
    if (!swap(g, cur, hook)) {
        *why = "the GOT slot could not be written";
        return AAP_EINVAL;
    }
    g->orig = cur;
    return 0;
}

int aap_got_restore(aap_got_slot *g, uintptr_t hook)
{
    return g->slot && g->orig && swap(g, hook, g->orig);
}

#else

int aap_got_find(const void *in_object, const char *symbol, aap_got_slot *out,
                 const char **why)
{
    (void)in_object;
    (void)symbol;
    (void)out;
    *why = "not supported on this architecture";
    return AAP_EINVAL;
}

int aap_got_patch(aap_got_slot *g, uintptr_t real, uintptr_t hook,
                  const char **why)
{
    (void)g;
    (void)real;
    (void)hook;
    *why = "not supported on this architecture";
    return AAP_EINVAL;
}

int aap_got_restore(aap_got_slot *g, uintptr_t hook)
{
    (void)g;
    (void)hook;
    return 0;
}

#endif
