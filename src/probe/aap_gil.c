/*
 * aap_gil.c: the GIL's state, read without the GIL.
 *
 * Why: a loop thread stalled waiting for the GIL that a worker thread holds
 * is not blocked by its own code, and naming its own line as the culprit
 * (an h11 send, asyncio's selector) sends the reader to the wrong place.
 * The watchdog tells the two apart by where the loop thread sleeps in the
 * kernel: a futex word inside struct _gil_runtime_state (its mutex or
 * condition variables) is a wait for the GIL; the struct's last_holder is
 * the thread state that holds it.  Where the GIL lives depends on the
 * version (aap_pylayout.gil_where); every read goes through aap_mem_read().
 */
#include "aap.h"

static int read_ptr(uintptr_t addr, uintptr_t *out)
{
    return aap_mem_read(out, addr, sizeof(*out));
}

int aap_gil_read(const aap_pylayout *lay, uintptr_t tstate, aap_gil_state *out)
{
    uintptr_t addr = 0, interp, holder;
    int locked;

    if (!lay || !lay->supported || !lay->gil_size) {
        return -1;
    }
    if (lay->gil_where == AAP_GIL_FIXED) {
        addr = lay->gil_addr;
    } else if (lay->gil_where == AAP_GIL_INTERP) {
        if (!tstate || read_ptr(tstate + lay->tstate_interp, &interp) < 0 ||
            read_ptr(interp + lay->interp_gil, &addr) < 0) {
            return -1;
        }
    }
    if (!addr ||
        aap_mem_read(&locked, addr + lay->gil_locked, sizeof(locked)) < 0 ||
        read_ptr(addr + lay->gil_holder, &holder) < 0) {
        return -1;
    }
    out->addr = addr;
    out->size = lay->gil_size;
    out->locked = locked > 0;
    out->holder = holder;
    return 0;
}

int aap_gil_contains(const aap_gil_state *g, uint64_t uaddr)
{
    return g && g->addr && uaddr >= g->addr && uaddr - g->addr < g->size;
}

int aap_tstate_gil_requested(const aap_pylayout *lay, uintptr_t tstate)
{
    int v;

    if (!lay || !lay->supported || !lay->tstate_gil_requested || !tstate ||
        aap_mem_read(&v, tstate + lay->tstate_gil_requested, sizeof(v)) < 0) {
        return -1;
    }
    return v != 0;
}
