/*
 * aap_sites.c: a loop's table of culprit sites: the code locations blocked
 * time is charged to, exported as python_asyncio_block_site_seconds_total.
 *
 * The table is bounded (AAP_SITES_MAX plus "other") so label cardinality
 * stays bounded.  A full table gives up the slot with the least blocked
 * time in the current and previous window, never one charged by the
 * episode in progress, so a long-lived process keeps naming its recent
 * culprits (docs/probe.md explains why an evicted total is not moved into
 * "other").  Everything here runs with the loop's lock held.
 *
 * Storage: each slot's counter is a series in the state arena, allocated
 * the first time the slot is used and relabelled (seqlock, value back to
 * zero) when the slot changes site, so a reader never pairs a new site
 * with an old total.  The table's bookkeeping (names for lookup, the
 * eviction windows) stays in process memory.  A loop that resumes the
 * kept table of a loop of the same name (a grouped process) takes its
 * slots back with their sites and totals.  Each slot in use also has a
 * python_asyncio_block_site_info series (its chain, class and remedy),
 * relabelled when the class charged the most time changes.
 */
#include "aap_int.h"

#include <stdio.h>
#include <string.h>

/* Eviction window: a full site table gives up the slot with the least
 * blocked time in the current and previous window (5 to 10 minutes). */
#define SITE_WINDOW_NS (300ull * 1000000000ull)

void aap_site_format(const aap_frame *f, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%d %s", f->file, f->line, f->func);
}

/* Blocked time charged to slot k in the current and previous window. */
static uint64_t site_recent(const aap_site_slot *k, uint64_t win)
{
    if (k->win >= win) { /* a sample's clock read a little later */
        return k->win_ns[0] + k->win_ns[1];
    }
    return k->win + 1 == win ? k->win_ns[0] : 0;
}

/* Slot k now names k->site: its series is relabelled, or allocated the
 * first time (unexported, in the slot's own cell, if that fails). */
static void slot_series(aap_loop *L, int k)
{
    aap_site_slot *s = &L->sites[k];
    aap_label lab[2] = {{"loop", L->name}, {"site", s->site}};

    if (s->rec && aap_rec_relabel(s->rec, lab, 2) == 0) {
        return;
    }
    aap_rec_free(s->rec);
    s->rec = NULL;
    s->ns = &s->own;
    atomic_store_explicit(&s->own, 0, memory_order_relaxed);
    if (aap_state_series(AAP_F_SITE, (uint32_t)k, lab, 2, 0, &s->rec) == 0) {
        s->ns = aap_rec_cells(s->rec);
    }
}

/* Index of site in L's table at monotonic time now.  A new site takes a
 * free slot; when all AAP_SITES_MAX are taken it takes the slot with the
 * least blocked time in the last one or two windows (ties: the one
 * charged longest ago), whose series then disappears.  Slots charged in
 * the episode in progress are never given up; if no other slot is left
 * the site is counted as "other".  Called with L->lock held. */
int aap_site_index(aap_loop *L, const char *site, uint64_t now)
{
    uint64_t win = now / SITE_WINDOW_NS, best_recent = 0;
    aap_site_slot *k;
    int i, victim = -1;

    for (i = 0; i < L->nsites; i++) {
        if (strcmp(L->sites[i].site, site) == 0) {
            return i;
        }
    }
    if (L->nsites < AAP_SITES_MAX) {
        victim = L->nsites++;
    } else {
        for (i = 0; i < AAP_SITES_MAX; i++) {
            uint64_t r = site_recent(&L->sites[i], win);

            if (L->ep_open && (L->ep_site_ns[i] || i == L->ep_last_site)) {
                continue;
            }
            if (victim < 0 || r < best_recent ||
                (r == best_recent &&
                 L->sites[i].last_ns < L->sites[victim].last_ns)) {
                victim = i;
                best_recent = r;
            }
        }
        if (victim < 0) {
            return AAP_SITES_MAX;
        }
    }
    k = &L->sites[victim];
    snprintf(k->site, AAP_SITE_LEN, "%s", site);
    slot_series(L, victim);
    k->win = win;
    k->win_ns[0] = k->win_ns[1] = 0;
    k->last_ns = now;
    k->chain[0] = '\0';
    memset(k->class_ns, 0, sizeof(k->class_ns));
    k->info_cls = -1; /* its info series names the old site until then */
    L->ep_site_ns[victim] = 0;
    return victim;
}

/* The culprit class of slot s, from the time charged per class. */
static int slot_class(const aap_site_slot *s)
{
    return aap_class_pick(s->class_ns);
}

void aap_site_describe(aap_loop *L, int k, const char *chain)
{
    aap_site_slot *s;
    aap_label lab[5];
    int cls;

    if (k < 0 || k >= AAP_SITES_MAX) {
        return;
    }
    s = &L->sites[k];
    if (!s->chain[0]) {
        snprintf(s->chain, sizeof(s->chain), "%s", chain);
    }
    cls = slot_class(s);
    if ((s->info && s->info_cls == cls) ||
        atomic_load_explicit(s->ns, memory_order_relaxed) == 0) {
        return; /* unchanged, or nothing charged to describe yet */
    }
    lab[0] = (aap_label){"loop", L->name};
    lab[1] = (aap_label){"site", s->site};
    lab[2] = (aap_label){"chain", s->chain};
    lab[3] = (aap_label){"class", aap_class_name(cls)};
    lab[4] = (aap_label){"hint", aap_class_hint(cls)};
    if (s->info && aap_rec_relabel(s->info, lab, 5) == 0) {
        s->info_cls = cls;
        return;
    }
    aap_rec_free(s->info);
    s->info = NULL;
    if (aap_state_series(AAP_F_SITE_INFO, (uint32_t)k, lab, 5, 0, &s->info) ==
        0) {
        s->info_cls = cls;
    }
}

/* Charge d ns of blocked time, ending at now, to slot site. */
void aap_site_charge(aap_loop *L, int site, uint64_t now, uint64_t d)
{
    aap_site_slot *k = &L->sites[site];
    uint64_t win = now / SITE_WINDOW_NS;

    if (win < k->win) {
        win = k->win; /* the loop thread's clock read before a sample's */
    }
    if (k->win != win) {
        k->win_ns[1] = k->win + 1 == win ? k->win_ns[0] : 0;
        k->win_ns[0] = 0;
        k->win = win;
    }
    k->win_ns[0] += d;
    k->last_ns = now;
    atomic_fetch_add_explicit(k->ns, d, memory_order_relaxed);
    if (site == AAP_SITES_MAX && k->rec) {
        aap_rec_show(k->rec); /* "other" is exported once charged */
    }
}

void aap_loop_site_charge(aap_loop *L, const char *site, uint64_t now,
                          uint64_t ns)
{
    pthread_mutex_lock(&L->lock);
    aap_site_charge(L, aap_site_index(L, site, now), now, ns);
    pthread_mutex_unlock(&L->lock);
}

void aap_loop_sites(aap_loop *L, aap_site_value *out, size_t max, size_t *n)
{
    int i;

    *n = 0;
    pthread_mutex_lock(&L->lock);
    for (i = 0; i <= AAP_SITES_MAX && *n < max; i++) {
        uint64_t ns = atomic_load(L->sites[i].ns);

        if (i < L->nsites || (i == AAP_SITES_MAX && ns)) {
            snprintf(out[*n].site, AAP_SITE_LEN, "%s", L->sites[i].site);
            snprintf(out[*n].chain, AAP_CHAIN_LEN, "%s", L->sites[i].chain);
            out[*n].cls = slot_class(&L->sites[i]);
            out[*n].seconds = (double)ns / 1e9;
            (*n)++;
        }
    }
    pthread_mutex_unlock(&L->lock);
}

void aap_sites_reset(aap_loop *L)
{
    int k;

    for (k = 0; k <= AAP_SITES_MAX; k++) {
        aap_site_slot *s = &L->sites[k];

        if (k < AAP_SITES_MAX) {
            aap_rec_free(s->rec); /* the slot's next site relabels anew */
            s->rec = NULL;
            s->ns = &s->own;
            aap_rec_free(s->info);
            s->info = NULL;
            s->chain[0] = '\0';
            memset(s->class_ns, 0, sizeof(s->class_ns));
        } else if (s->rec) {
            aap_rec_hide(s->rec);
        }
        atomic_store(s->ns, 0);
        s->win = 0;
        s->win_ns[0] = s->win_ns[1] = 0;
        s->last_ns = 0;
    }
    L->nsites = 0;
}

void aap_sites_init(aap_loop *L)
{
    aap_label lab[2] = {{"loop", L->name}, {"site", "other"}};
    aap_site_slot *o = &L->sites[AAP_SITES_MAX];
    int k;

    for (k = 0; k <= AAP_SITES_MAX; k++) {
        L->sites[k].ns = &L->sites[k].own;
    }
    /* a kept table of this loop's name resumes where it stopped */
    for (k = 0; k < AAP_SITES_MAX; k++) {
        aap_site_slot *s = &L->sites[k];

        if (aap_state_series(AAP_F_SITE, (uint32_t)k, lab, 1,
                             AAP_SERIES_ADOPT_PREFIX | AAP_SERIES_ADOPT_ONLY,
                             &s->rec) < 0) {
            break;
        }
        aap_rec_label(s->rec, "site", s->site, sizeof(s->site));
        s->ns = aap_rec_cells(s->rec);
        L->nsites = k + 1;
    }
    if (aap_state_series(AAP_F_SITE, AAP_SITES_MAX, lab, 2, AAP_SERIES_HIDDEN,
                         &o->rec) == 0) {
        o->ns = aap_rec_cells(o->rec);
    }
}

void aap_sites_release(aap_loop *L)
{
    int k;

    for (k = 0; k <= AAP_SITES_MAX; k++) {
        aap_rec_release(L->sites[k].rec);
        L->sites[k].rec = NULL;
        aap_rec_release(L->sites[k].info);
        L->sites[k].info = NULL;
        L->sites[k].ns = &L->sites[k].own;
    }
}
