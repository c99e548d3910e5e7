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
 * from zero (a new series), as a site's does.  Each slot's counter is a
 * series in the state arena, relabelled when the slot changes hands, as
 * the site table's are (aap_sites.c); each slot in use also has a
 * python_asyncio_gil_holder_info series (the holder site's chain, class
 * and remedy), as a site has its block_site_info.  Everything here runs
 * with the loop's lock held, except the copy-out, which takes it.
 */
#include "aap_int.h"

#include <stdio.h>
#include <string.h>

/* Slot k now names (k->thread, k->site): its series is relabelled, or
 * allocated the first time (unexported, in the slot's own cell, if that
 * fails). */
static void slot_series(aap_loop *L, int k)
{
    aap_gil_slot *s = &L->gil[k];
    aap_label lab[3] = {
        {"loop", L->name}, {"thread", s->thread}, {"site", s->site}};

    if (s->rec && aap_rec_relabel(s->rec, lab, 3) == 0) {
        return;
    }
    aap_rec_free(s->rec);
    s->rec = NULL;
    s->ns = &s->own;
    atomic_store_explicit(&s->own, 0, memory_order_relaxed);
    if (aap_state_series(AAP_F_GIL_HOLDER, (uint32_t)k, lab, 3, 0, &s->rec) ==
        0) {
        s->ns = aap_rec_cells(s->rec);
    }
}

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
            if (L->ep_open && (L->ep_holder_ns[i] || i == L->ep_last_holder)) {
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
    slot_series(L, victim);
    k->last_ns = now;
    memset(k->class_ns, 0, sizeof(k->class_ns));
    k->info_cls = -1; /* its info series names the old holder until then */
    L->ep_holder_ns[victim] = 0;
    return victim;
}

/* Slot k's python_asyncio_gil_holder_info names its chain and the class
 * charged the most time (relabelled when that changes). */
static void describe(aap_loop *L, int k)
{
    aap_gil_slot *s = &L->gil[k];
    int cls = aap_class_pick(s->class_ns);
    aap_label lab[6];

    if (k >= AAP_GIL_HOLDERS_MAX || (s->info && s->info_cls == cls)) {
        return;
    }
    lab[0] = (aap_label){"loop", L->name};
    lab[1] = (aap_label){"thread", s->thread};
    lab[2] = (aap_label){"site", s->site};
    lab[3] = (aap_label){"chain", s->chain};
    lab[4] = (aap_label){"class", aap_class_name(cls)};
    lab[5] = (aap_label){"hint", aap_class_hint(cls)};
    if (s->info && aap_rec_relabel(s->info, lab, 6) == 0) {
        s->info_cls = cls;
        return;
    }
    aap_rec_free(s->info);
    s->info = NULL;
    if (aap_state_series(AAP_F_GIL_HOLDER_INFO, (uint32_t)k, lab, 6, 0,
                         &s->info) == 0) {
        s->info_cls = cls;
    }
}

void aap_gil_holder_charge(aap_loop *L, int k, uint64_t now, uint64_t d,
                           int cls)
{
    aap_gil_slot *s = &L->gil[k];

    s->last_ns = now;
    atomic_fetch_add_explicit(s->ns, d, memory_order_relaxed);
    if (cls > 0 && cls < AAP_CLASS_N) {
        s->class_ns[cls] += d;
    }
    if (k == AAP_GIL_HOLDERS_MAX && s->rec) {
        aap_rec_show(s->rec); /* "other" is exported once charged */
    }
    describe(L, k);
}

void aap_gil_holders_reset(aap_loop *L)
{
    int k;

    for (k = 0; k <= AAP_GIL_HOLDERS_MAX; k++) {
        aap_gil_slot *s = &L->gil[k];

        if (k < AAP_GIL_HOLDERS_MAX) {
            aap_rec_free(s->rec); /* the slot's next holder relabels anew */
            s->rec = NULL;
            s->ns = &s->own;
            aap_rec_free(s->info);
            s->info = NULL;
        } else if (s->rec) {
            aap_rec_hide(s->rec);
        }
        atomic_store(s->ns, 0);
        s->last_ns = 0;
        memset(s->class_ns, 0, sizeof(s->class_ns));
    }
    L->ngil = 0;
}

void aap_gil_holders_init(aap_loop *L)
{
    aap_gil_slot *o = &L->gil[AAP_GIL_HOLDERS_MAX];
    aap_label lab[3] = {
        {"loop", L->name}, {"thread", "other"}, {"site", "other"}};
    int k;

    for (k = 0; k <= AAP_GIL_HOLDERS_MAX; k++) {
        L->gil[k].ns = &L->gil[k].own;
    }
    snprintf(o->thread, sizeof(o->thread), "other");
    snprintf(o->site, sizeof(o->site), "other");
    if (aap_state_series(AAP_F_GIL_HOLDER, AAP_GIL_HOLDERS_MAX, lab, 3,
                         AAP_SERIES_HIDDEN, &o->rec) == 0) {
        o->ns = aap_rec_cells(o->rec);
    }
}

void aap_gil_holders_release(aap_loop *L)
{
    int k;

    for (k = 0; k <= AAP_GIL_HOLDERS_MAX; k++) {
        aap_rec_release(L->gil[k].rec);
        L->gil[k].rec = NULL;
        aap_rec_release(L->gil[k].info);
        L->gil[k].info = NULL;
        L->gil[k].ns = &L->gil[k].own;
    }
}

void aap_loop_gil_holders(aap_loop *L, aap_gil_holder_value *out, size_t max,
                          size_t *n)
{
    int i;

    *n = 0;
    pthread_mutex_lock(&L->lock);
    for (i = 0; i <= AAP_GIL_HOLDERS_MAX && *n < max; i++) {
        uint64_t ns = atomic_load(L->gil[i].ns);

        if (i < L->ngil || (i == AAP_GIL_HOLDERS_MAX && ns)) {
            aap_gil_holder_value *v = &out[*n];

            snprintf(v->thread, sizeof(v->thread), "%s", L->gil[i].thread);
            snprintf(v->site, sizeof(v->site), "%s", L->gil[i].site);
            snprintf(v->chain, sizeof(v->chain), "%s", L->gil[i].chain);
            v->cls = aap_class_pick(L->gil[i].class_ns);
            v->seconds = (double)ns / 1e9;
            (*n)++;
        }
    }
    pthread_mutex_unlock(&L->lock);
}
