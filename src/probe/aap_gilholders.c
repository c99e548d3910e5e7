/*
 * aap_gilholders.c: a loop's table of GIL holders, the threads (and their
 * in-app lines) that held the GIL while the loop waited for it.
 *
 * Why: GIL contention is not the loop's own blocking, so its time is not
 * charged to the loop's site table; it goes here, keyed by the holder
 * thread's name and site, for python_asyncio_gil_holder_seconds_total.
 * Bounded like the site table (AAP_GIL_HOLDERS_MAX plus "other"): a new
 * pair takes a free slot, else the slot charged longest ago that the open
 * episode has not charged, else "other".  A counter taken over starts
 * from zero (a new series), as a site's does.  Everything here runs with
 * the loop's lock held, except the copy-out, which takes it.
 */
#include "aap_int.h"

#include <stdio.h>
#include <string.h>

int aap_gil_holder_index(aap_loop *L, const char *thread, long tid,
                         const aap_culprit *c, uint64_t now)
{
    aap_gil_slot *k;
    int i, victim = -1;

    for (i = 0; i < L->ngil; i++) {
        if (strcmp(L->gil[i].thread, thread) == 0 &&
            strcmp(L->gil[i].site, c->site) == 0) {
            return i;
        }
    }
    if (L->ngil < AAP_GIL_HOLDERS_MAX) {
        victim = L->ngil++;
    } else {
        for (i = 0; i < AAP_GIL_HOLDERS_MAX; i++) {
            if (L->ep_open &&
                (L->ep_holder_ns[i] || i == L->ep_last_holder)) {
                continue;
            }
            if (victim < 0 || L->gil[i].last_ns < L->gil[victim].last_ns) {
                victim = i;
            }
        }
        if (victim < 0) {
            return AAP_GIL_HOLDERS_MAX;
        }
    }
    k = &L->gil[victim];
    snprintf(k->thread, sizeof(k->thread), "%s", thread);
    snprintf(k->site, sizeof(k->site), "%s", c->site);
    snprintf(k->chain, sizeof(k->chain), "%s", c->chain);
    k->tid = tid;
    atomic_store_explicit(&k->ns, 0, memory_order_relaxed);
    k->last_ns = now;
    L->ep_holder_ns[victim] = 0;
    return victim;
}

void aap_gil_holder_charge(aap_loop *L, int k, uint64_t now, uint64_t d)
{
    L->gil[k].last_ns = now;
    atomic_fetch_add_explicit(&L->gil[k].ns, d, memory_order_relaxed);
}

void aap_gil_holders_reset(aap_loop *L)
{
    int k;

    for (k = 0; k <= AAP_GIL_HOLDERS_MAX; k++) {
        atomic_store(&L->gil[k].ns, 0);
        L->gil[k].last_ns = 0;
    }
    L->ngil = 0;
    snprintf(L->gil[AAP_GIL_HOLDERS_MAX].thread, AAP_THREAD_NAME_LEN, "other");
    snprintf(L->gil[AAP_GIL_HOLDERS_MAX].site, AAP_SITE_LEN, "other");
    L->gil[AAP_GIL_HOLDERS_MAX].chain[0] = '\0';
    atomic_store(&L->gil_wait_ns, 0);
}

double aap_loop_gil_wait(aap_loop *L)
{
    return (double)atomic_load_explicit(&L->gil_wait_ns,
                                        memory_order_relaxed) /
           1e9;
}

void aap_loop_gil_holders(aap_loop *L, aap_gil_holder_value *out,
                          size_t max, size_t *n)
{
    int i;

    *n = 0;
    pthread_mutex_lock(&L->lock);
    for (i = 0; i <= AAP_GIL_HOLDERS_MAX && *n < max; i++) {
        uint64_t ns = atomic_load(&L->gil[i].ns);

        if (i < L->ngil || (i == AAP_GIL_HOLDERS_MAX && ns)) {
            aap_gil_holder_value *v = &out[*n];

            snprintf(v->thread, sizeof(v->thread), "%s", L->gil[i].thread);
            snprintf(v->site, sizeof(v->site), "%s", L->gil[i].site);
            snprintf(v->chain, sizeof(v->chain), "%s", L->gil[i].chain);
            v->seconds = (double)ns / 1e9;
            (*n)++;
        }
    }
    pthread_mutex_unlock(&L->lock);
}
