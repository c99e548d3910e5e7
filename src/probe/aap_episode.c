/*
 * aap_episode.c: blocking episodes.  The watchdog opens an episode when it
 * first sees a stretch past the threshold and charges the time up to each
 * sample to the site seen in it; the loop thread closes it with the exact
 * duration when the stretch ends.  A sample that saw the loop thread
 * waiting for the GIL charges the thread holding it instead of the loop's
 * own site, and an episode most of whose samples did is GIL contention.
 * So that contention never shows up as the loop's own culprit, the
 * loop's own time goes to its site counters only once an episode is
 * known to be blocking (OWN_SAMPLES samples and no wait for the GIL, or
 * its end); the time it ran its own code during GIL contention is not
 * charged to any site.
 * The last AAP_RING_MAX episodes (with their full stacks) are kept for
 * blocks() and /debug/blocks.  Everything
 * here runs with the loop's lock held, except the copy-out functions,
 * which take it.
 */
#include "aap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[AAP_EP_KIND_N] = {"blocking", "gil"};

/* Samples without a wait for the GIL after which an episode is taken to
 * be blocking and its sites are charged as it goes. */
#define OWN_SAMPLES 4

const char *aap_episode_kind_name(int kind)
{
    return kind >= 0 && kind < AAP_EP_KIND_N ? kind_names[kind] : "";
}

/* Charge the time since the last attribution, up to until, to what the
 * latest sample saw: the loop's own site, or the thread holding the GIL. */
static void attribute(aap_loop *L, uint64_t until)
{
    uint64_t d;

    if (until <= L->ep_attributed) {
        return;
    }
    d = until - L->ep_attributed;
    if (L->ep_last_holder >= 0) {
        aap_gil_holder_charge(L, L->ep_last_holder, until, d);
        L->ep_holder_ns[L->ep_last_holder] += d;
    } else if (L->ep_last_site >= 0) {
        int k = L->ep_last_site;

        L->ep_site_ns[k] += d;
        if (L->ep_charging) {
            aap_site_charge(L, k, until, d);
            L->sites[k].class_ns[L->ep_last_class] += d;
        } else {
            L->ep_pending_ns[k] += d;
            L->ep_pending_class[k][L->ep_last_class] += d;
        }
    } else {
        return;
    }
    L->ep_class_ns[L->ep_last_class] += d;
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

/* The episode is blocking after all: charge the loop's own time held
 * back so far to its sites (at now), and what comes next as it comes. */
static void charge_pending(aap_loop *L, uint64_t now)
{
    int k, c;

    L->ep_charging = 1;
    for (k = 0; k <= AAP_SITES_MAX; k++) {
        if (!L->ep_pending_ns[k]) {
            continue;
        }
        aap_site_charge(L, k, now, L->ep_pending_ns[k]);
        for (c = 0; c < AAP_CLASS_N; c++) {
            L->sites[k].class_ns[c] += L->ep_pending_class[k][c];
        }
        aap_site_describe(L, k, "");
        L->ep_pending_ns[k] = 0;
    }
    memset(L->ep_pending_class, 0, sizeof(L->ep_pending_class));
}

static void ep_discard(aap_loop *L)
{
    free(L->ep_stack);
    L->ep_stack = NULL;
    L->ep_open = 0;
}

static void ep_open(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                    const aap_sample *s)
{
    L->ep_open = 1;
    L->ep_seq = seq;
    L->ep_start_ns = bs;
    L->ep_detect_ns = now - bs;
    L->ep_start_wall = aap_wall_now() - (double)(now - bs) / 1e9;
    L->ep_attributed = bs;
    L->ep_last_site = -1;
    L->ep_last_holder = -1;
    L->ep_last_class = AAP_CLASS_NONE;
    L->ep_samples = L->ep_gil_samples = 0;
    memset(L->ep_site_ns, 0, sizeof(L->ep_site_ns));
    memset(L->ep_holder_ns, 0, sizeof(L->ep_holder_ns));
    memset(L->ep_class_ns, 0, sizeof(L->ep_class_ns));
    L->ep_charging = 0;
    memset(L->ep_pending_ns, 0, sizeof(L->ep_pending_ns));
    memset(L->ep_pending_class, 0, sizeof(L->ep_pending_class));
    if (s->stack && s->stack->n > 0) {
        L->ep_stack = stack_text(s->stack);
    }
}

void aap_ep_sample(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                   const aap_sample *s)
{
    if (L->ep_open && L->ep_seq != seq) {
        ep_discard(L);
    }
    if (!L->ep_open) {
        ep_open(L, seq, bs, now, s);
    }
    if (s->gil_wait) {
        aap_culprit unknown;
        const aap_culprit *c = &s->holder;

        if (c->frame < 0) {
            memset(&unknown, 0, sizeof(unknown));
            snprintf(unknown.site, sizeof(unknown.site), "unknown");
            c = &unknown;
        }
        L->ep_samples++;
        L->ep_gil_samples++;
        L->ep_last_holder =
            aap_gil_holder_index(L, s->holder_name, s->holder_tid, c, now);
        L->ep_last_site = -1;
        L->ep_last_class = AAP_CLASS_GIL;
    } else if (s->stack && s->stack->n > 0 && s->own.frame >= 0) {
        L->ep_samples++;
        L->ep_last_site = aap_site_index(L, s->own.site, now);
        L->ep_last_holder = -1;
        L->ep_last_class = s->own.cls;
        attribute(L, now);
        aap_site_describe(L, L->ep_last_site, s->own.chain);
        if (!L->ep_charging && L->ep_gil_samples == 0 &&
            L->ep_samples >= OWN_SAMPLES) {
            charge_pending(L, now);
        }
        return;
    }
    attribute(L, now);
}

/* The argmax of v[0..n), -1 when all are 0. */
static int most(const uint64_t *v, int n)
{
    int best = -1, i;

    for (i = 0; i < n; i++) {
        if (v[i] && (best < 0 || v[i] > v[best])) {
            best = i;
        }
    }
    return best;
}

/* What the open episode amounts to so far: its kind (GIL contention when
 * most samples saw the loop wait for the GIL), the site charged the most
 * time of that kind, its chain, class and holder thread. */
static void summarize(aap_loop *L, aap_episode *e)
{
    int best;

    e->kind = L->ep_samples > 0 && 2 * L->ep_gil_samples > L->ep_samples
                  ? AAP_EP_GIL
                  : AAP_EP_BLOCKING;
    if (e->kind == AAP_EP_GIL) {
        best = most(L->ep_holder_ns, AAP_GIL_HOLDERS_MAX + 1);
        if (best >= 0) {
            const aap_gil_slot *g = &L->gil[best];

            snprintf(e->site, sizeof(e->site), "%s", g->site);
            snprintf(e->chain, sizeof(e->chain), "%s", g->chain);
            snprintf(e->thread, sizeof(e->thread), "%s", g->thread);
            e->thread_id = g->tid;
        }
        e->cls = AAP_CLASS_GIL;
        return;
    }
    best = most(L->ep_site_ns, AAP_SITES_MAX + 1);
    if (best >= 0) {
        snprintf(e->site, sizeof(e->site), "%s",
                 best == AAP_SITES_MAX ? "other" : L->sites[best].site);
        snprintf(e->chain, sizeof(e->chain), "%s", L->sites[best].chain);
    }
    e->cls = aap_class_pick(L->ep_class_ns);
}

void aap_ep_finish(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now)
{
    aap_episode *e;

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
        attribute(L, now);
        summarize(L, e);
        if (e->kind == AAP_EP_BLOCKING) {
            charge_pending(L, now);
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
}

/* Copy episode e into the caller's v (stack duplicated). */
static int copy_out(const aap_episode *e, aap_episode_info *v)
{
    v->start = e->start;
    v->duration = (double)e->duration_ns / 1e9;
    v->detected_after = e->detect_ns < 0 ? -1.0 : (double)e->detect_ns / 1e9;
    snprintf(v->site, sizeof(v->site), "%s", e->site);
    snprintf(v->chain, sizeof(v->chain), "%s", e->chain);
    snprintf(v->thread, sizeof(v->thread), "%s", e->thread);
    v->thread_id = e->thread_id;
    v->kind = e->kind;
    v->cls = e->cls;
    if (e->stack && !(v->stack = strdup(e->stack))) {
        return AAP_ENOMEM;
    }
    return 0;
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
        if (copy_out(&L->ring[(L->ring_head + i) % AAP_RING_MAX], &v[k++]) <
            0) {
            rc = AAP_ENOMEM;
        }
    }
    if (L->ep_open) {
        aap_episode e;

        memset(&e, 0, sizeof(e));
        summarize(L, &e);
        e.start = L->ep_start_wall;
        e.duration_ns = aap_now_ns() - L->ep_start_ns;
        e.detect_ns = (int64_t)L->ep_detect_ns;
        e.stack = L->ep_stack;
        if (copy_out(&e, &v[k]) < 0) {
            rc = AAP_ENOMEM;
        }
        v[k++].ongoing = 1;
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
