/*
 * aap_episode.c: blocking episodes.  The watchdog opens an episode when it
 * first sees a stretch past the threshold and charges the time up to each
 * sample to the site seen in it; the loop thread closes it with the exact
 * duration when the stretch ends.  The last AAP_RING_MAX episodes (with
 * their full stacks) are kept for blocks() and /debug/blocks.  Everything
 * here runs with the loop's lock held, except the copy-out functions,
 * which take it.
 */
#include "aap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void attribute(aap_loop *L, int site, uint64_t until)
{
    uint64_t d;

    if (site < 0 || until <= L->ep_attributed) {
        return;
    }
    d = until - L->ep_attributed;
    aap_site_charge(L, site, until, d);
    L->ep_site_ns[site] += d;
    L->ep_attributed = until;
}

static char *stack_text(const aap_stack *st)
{
    aat_buf t;
    int i;

    aat_buf_init(&t, AAP_TEXT_MAX);
    for (i = st->n - 1; i >= 0; i--) {
        char line[AAP_SITE_LEN];

        aap_site_format(&st->frames[i], line, sizeof(line));
        aat_buf_appendf(&t, "%s%s", line, i ? "\n" : "");
    }
    if (t.failed || !t.data) {
        aat_buf_release(&t);
        return NULL;
    }
    return t.data;
}

static void ep_discard(aap_loop *L)
{
    free(L->ep_stack);
    L->ep_stack = NULL;
    L->ep_open = 0;
}

void aap_ep_sample(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                   const aap_stack *st)
{
    int site = -1;

    if (L->ep_open && L->ep_seq != seq) {
        ep_discard(L);
    }
    if (!L->ep_open) {
        L->ep_open = 1;
        L->ep_seq = seq;
        L->ep_start_ns = bs;
        L->ep_detect_ns = now - bs;
        L->ep_start_wall = aap_wall_now() - (double)(now - bs) / 1e9;
        L->ep_attributed = bs;
        L->ep_last_site = -1;
        memset(L->ep_site_ns, 0, sizeof(L->ep_site_ns));
        if (st && st->n > 0) {
            L->ep_stack = stack_text(st);
        }
    }
    if (st && st->n > 0) {
        char s[AAP_SITE_LEN];

        aap_site_format(&st->frames[aap_stack_site_frame(st, &L->site_rules)],
                        s, sizeof(s));
        site = aap_site_index(L, s, now);
    } else {
        site = L->ep_last_site;
    }
    if (site >= 0) {
        attribute(L, site, now);
        L->ep_last_site = site;
    }
}

void aap_ep_finish(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now)
{
    aap_episode *e;
    int best = -1, i;

    e = &L->ring[(L->ring_head + L->ring_n) % AAP_RING_MAX];
    if (L->ring_n == AAP_RING_MAX) {
        e = &L->ring[L->ring_head];
        L->ring_head = (L->ring_head + 1) % AAP_RING_MAX;
        free(e->stack);
    } else {
        L->ring_n++;
    }
    memset(e, 0, sizeof(*e));
    e->duration_ns = now - bs;
    e->detect_ns = -1;
    if (L->ep_open && L->ep_seq == seq) {
        attribute(L, L->ep_last_site, now);
        for (i = 0; i <= AAP_SITES_MAX; i++) {
            if (L->ep_site_ns[i] &&
                (best < 0 || L->ep_site_ns[i] > L->ep_site_ns[best])) {
                best = i;
            }
        }
        e->start = L->ep_start_wall;
        e->detect_ns = (int64_t)L->ep_detect_ns;
        e->stack = L->ep_stack;
        L->ep_stack = NULL;
        L->ep_open = 0;
    } else {
        if (L->ep_open) {
            ep_discard(L);
        }
        e->start = aap_wall_now() - (double)(now - bs) / 1e9;
    }
    if (best >= 0) {
        snprintf(e->site, sizeof(e->site), "%s",
                 best == AAP_SITES_MAX ? "other" : L->sites[best].site);
    }
}

int aap_loop_blocks(aap_loop *L, aap_episode_info **out, size_t *n)
{
    aap_episode_info *v;
    size_t i, k = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    v = calloc(AAP_RING_MAX + 1, sizeof(*v));
    if (!v) {
        return AAP_ENOMEM;
    }
    pthread_mutex_lock(&L->lock);
    for (i = 0; i < L->ring_n; i++) {
        aap_episode *e = &L->ring[(L->ring_head + i) % AAP_RING_MAX];

        v[k].start = e->start;
        v[k].duration = (double)e->duration_ns / 1e9;
        v[k].detected_after =
            e->detect_ns < 0 ? -1.0 : (double)e->detect_ns / 1e9;
        snprintf(v[k].site, AAP_SITE_LEN, "%s", e->site);
        if (e->stack && !(v[k].stack = strdup(e->stack))) {
            rc = AAP_ENOMEM;
        }
        k++;
    }
    if (L->ep_open) {
        uint64_t now = aap_now_ns();

        v[k].start = L->ep_start_wall;
        v[k].duration = (double)(now - L->ep_start_ns) / 1e9;
        v[k].ongoing = 1;
        v[k].detected_after = (double)L->ep_detect_ns / 1e9;
        if (L->ep_last_site >= 0) {
            snprintf(v[k].site, AAP_SITE_LEN, "%s",
                     L->sites[L->ep_last_site].site);
        }
        if (L->ep_stack && !(v[k].stack = strdup(L->ep_stack))) {
            rc = AAP_ENOMEM;
        }
        k++;
    }
    pthread_mutex_unlock(&L->lock);
    if (rc < 0) {
        aap_episodes_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

void aap_episodes_free(aap_episode_info *e, size_t n)
{
    size_t i;

    if (!e) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(e[i].stack);
    }
    free(e);
}

void aap_ep_reset(aap_loop *L)
{
    size_t i;

    if (L->ep_open) {
        ep_discard(L);
    }
    for (i = 0; i < L->ring_n; i++) {
        free(L->ring[(L->ring_head + i) % AAP_RING_MAX].stack);
    }
    L->ring_head = L->ring_n = 0;
}
