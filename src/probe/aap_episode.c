/*
 * aap_episode.c: episodes, the stretches past the threshold the watchdog
 * sees while they last.  It opens one when it first sees a stretch past
 * the threshold; each later sample charges the time since the previous
 * one to what it saw, and the loop thread closes the episode with the
 * exact duration and the kind its segments say (aap_loop.c) when the
 * stretch ends.
 *
 * What a sample charges: a sample that saw the loop thread waiting for
 * the GIL charges the thread holding it; a sample of the loop's own code
 * charges its site only when the callback in progress (the segment) is
 * itself past the threshold, and then from the callback's start, never
 * from the stretch's: the other callbacks of a saturated stretch are
 * nobody's culprit.  An episode most of whose samples waited for the GIL
 * is GIL contention.  So that contention, saturation and starvation
 * never show up as the loop's own culprit, a segment's charges are held
 * until the loop thread ends it and says whether it was past the
 * threshold by its own time (kept) or only by run-queue wait and garbage
 * collection (dropped), and kept charges go to the site counters only
 * once the episode is known to be blocking (OWN_SAMPLES samples past the
 * threshold by their own time so far and no wait for the GIL: from then
 * on such samples charge as they go; or its end as a blocking episode).
 * The last AAP_RING_MAX blocking and GIL episodes (with their full
 * stacks) are kept for blocks() and /debug/blocks.  Everything here runs
 * with the loop's lock held, except the copy-out functions, which take
 * it.
 */
#include "aap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[AAP_EP_KIND_N] = {"blocking", "gil",
                                                      "saturation", "starved"};

/* Samples of the loop's own code past the threshold, without a wait for
 * the GIL, after which an episode is taken to be blocking and its sites
 * are charged as it goes. */
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
        aap_gil_holder_charge(L, L->ep_last_holder, until, d,
                              L->ep_last_holder_cls);
        L->ep_holder_ns[L->ep_last_holder] += d;
        L->ep_class_ns[AAP_CLASS_GIL] += d;
        L->ep_holder_until = until;
    } else if (L->ep_last_site >= 0) {
        int k = L->ep_last_site;

        aap_site_charge(L, k, until, d);
        L->sites[k].class_ns[L->ep_last_class] += d;
        L->ep_site_ns[k] += d;
        L->ep_class_ns[L->ep_last_class] += d;
    } else if (L->ep_last_seg >= 0) {
        aap_seg_charge *e = &L->ep_segs[L->ep_last_seg];

        e->ns += d;
        e->class_ns[e->c.cls] += d;
    } else {
        return;
    }
    L->ep_attributed = until;
}

/* The entry of culprit c among the segment's. */
static int seg_entry(aap_loop *L, const aap_culprit *c)
{
    int i;

    for (i = 0; i < L->ep_nsegs; i++) {
        if (strcmp(L->ep_segs[i].c.site, c->site) == 0) {
            return i;
        }
    }
    if (L->ep_nsegs == AAP_SEG_CULPRITS) {
        return AAP_SEG_CULPRITS - 1;
    }
    i = L->ep_nsegs++;
    memset(&L->ep_segs[i], 0, sizeof(L->ep_segs[i]));
    L->ep_segs[i].c = *c;
    return i;
}

/* The segment's held charges: kept (each culprit's site takes a slot
 * now, the time counts in the episode, and goes to the site once the
 * episode is known to be blocking), or dropped. */
static void segment_charges(aap_loop *L, uint64_t now, int keep)
{
    int i, c;

    for (i = 0; keep && i < L->ep_nsegs; i++) {
        aap_seg_charge *e = &L->ep_segs[i];
        int k;

        if (!e->ns) {
            continue;
        }
        k = aap_site_index(L, e->c.site, now);
        L->ep_site_ns[k] += e->ns;
        for (c = 0; c < AAP_CLASS_N; c++) {
            L->ep_class_ns[c] += e->class_ns[c];
        }
        if (L->ep_charging) {
            aap_site_charge(L, k, now, e->ns);
            for (c = 0; c < AAP_CLASS_N; c++) {
                L->sites[k].class_ns[c] += e->class_ns[c];
            }
        } else {
            L->ep_pending_ns[k] += e->ns;
            for (c = 0; c < AAP_CLASS_N; c++) {
                L->ep_pending_class[k][c] += e->class_ns[c];
            }
        }
        aap_site_describe(L, k, e->c.chain);
    }
    L->ep_nsegs = 0;
    L->ep_last_seg = -1;
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

static void ep_open(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now)
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
    L->ep_last_holder_cls = AAP_CLASS_NONE;
    L->ep_seg = 0;
    L->ep_samples = L->ep_gil_samples = L->ep_long_samples = 0;
    L->ep_own_samples = 0;
    L->ep_holder_until = 0;
    L->ep_cand_seg = 0;
    L->ep_nsegs = 0;
    L->ep_last_seg = -1;
    memset(L->ep_site_ns, 0, sizeof(L->ep_site_ns));
    memset(L->ep_holder_ns, 0, sizeof(L->ep_holder_ns));
    memset(L->ep_class_ns, 0, sizeof(L->ep_class_ns));
    L->ep_charging = 0;
    memset(L->ep_pending_ns, 0, sizeof(L->ep_pending_ns));
    memset(L->ep_pending_class, 0, sizeof(L->ep_pending_class));
}

/* Keep the first telling sample's stack for blocks(). */
static void keep_stack(aap_loop *L, const aap_sample *s)
{
    if (!L->ep_stack && s->stack && s->stack->n > 0) {
        L->ep_stack = stack_text(s->stack);
    }
}

/* Whether sample s of the loop's own code was taken in a segment past the
 * threshold that is still in progress. */
static int long_segment(aap_loop *L, uint64_t now, const aap_sample *s)
{
    return s->seg && now > s->seg && now - s->seg >= L->threshold_ns &&
           atomic_load_explicit(&L->mark, memory_order_relaxed) == s->seg;
}

void aap_ep_sample(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                   const aap_sample *s)
{
    int lng;

    if (L->ep_open && L->ep_seq != seq) {
        ep_discard(L);
    }
    if (!L->ep_open) {
        ep_open(L, seq, bs, now);
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
        L->ep_last_holder_cls = c->cls;
        L->ep_last_site = -1;
        L->ep_last_class = AAP_CLASS_GIL;
        keep_stack(L, s);
        attribute(L, now);
        return;
    }
    L->ep_last_holder = -1;
    L->ep_last_site = -1;
    L->ep_last_seg = -1;
    if (s->stack && s->stack->n > 0) {
        L->ep_samples++;
    }
    lng = long_segment(L, now, s);
    L->ep_long_samples += lng;
    if (!lng && !s->in_gc && s->stack && s->stack->n > 0 &&
        s->own.frame >= 0 &&
        atomic_load_explicit(&L->mark, memory_order_relaxed) == s->seg) {
        L->ep_cand_seg = s->seg; /* its culprit, should it grow long */
        L->ep_cand = s->own;
    }
    if (!lng || s->in_gc || !s->stack || s->stack->n <= 0 ||
        s->own.frame < 0) {
        /* a short callback of a busy loop, a garbage collection, or no
         * culprit known: the time since the last sample is charged to
         * nothing */
        if (now > L->ep_attributed) {
            L->ep_attributed = now;
        }
        return;
    }
    keep_stack(L, s);
    if (L->ep_seg != s->seg) {
        /* a new segment past the threshold: charged from its start (the
         * samples taken in it while it was short charged nothing), less
         * its garbage collections so far and what GIL holders were
         * charged; what an earlier segment held was settled when it
         * ended */
        uint64_t from =
            s->seg + atomic_load_explicit(&L->seg_gc, memory_order_relaxed);

        segment_charges(L, now, 0);
        L->ep_attributed =
            from > L->ep_holder_until ? from : L->ep_holder_until;
        if (L->ep_attributed > now) {
            L->ep_attributed = now;
        }
        L->ep_seg = s->seg;
    }
    L->ep_own_samples += !s->seg_short;
    L->ep_last_class = s->own.cls;
    if (L->ep_charging && !s->seg_short) {
        /* known blocking, and this callback is past the threshold by its
         * own time already: charged as it goes */
        L->ep_last_site = aap_site_index(L, s->own.site, now);
        attribute(L, now);
        aap_site_describe(L, L->ep_last_site, s->own.chain);
    } else {
        L->ep_last_seg = seg_entry(L, &s->own);
        attribute(L, now);
    }
    if (!L->ep_charging && L->ep_gil_samples == 0 &&
        L->ep_own_samples >= OWN_SAMPLES) {
        charge_pending(L, now);
    }
}

void aap_ep_segment_end(aap_loop *L, uint64_t seg, uint64_t now, int own)
{
    if (!L->ep_open) {
        return;
    }
    if (L->ep_seg != seg) {
        /* no sample saw it past the threshold: one taken in it earlier
         * names it, for its whole length */
        if (own && L->ep_cand_seg == seg) {
            aap_seg_charge *e;

            segment_charges(L, now, 0);
            L->ep_seg = seg;
            e = &L->ep_segs[seg_entry(L, &L->ep_cand)];
            e->ns += now - seg;
            e->class_ns[e->c.cls] += now - seg;
            L->ep_long_samples++;
            segment_charges(L, now, 1);
            if (L->ep_attributed < now) {
                L->ep_attributed = now;
            }
        }
        return;
    }
    attribute(L, now);
    L->ep_last_site = -1;
    segment_charges(L, now, own);
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

/* Whether most samples of the open episode saw the loop wait for the GIL. */
static int mostly_gil(const aap_loop *L)
{
    return L->ep_samples > 0 && 2 * L->ep_gil_samples > L->ep_samples;
}

/* What the open episode of kind e->kind amounts to: the site charged the
 * most time of that kind, its chain, class and holder thread. */
static void summarize(aap_loop *L, aap_episode *e)
{
    int best;

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

/* The ring's next entry (the oldest is given up when it is full). */
static aap_episode *ring_push(aap_loop *L)
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
    return e;
}

int aap_ep_finish(aap_loop *L, uint64_t seq, uint64_t bs, uint64_t now,
                  int kind)
{
    aap_episode *e;

    if (L->ep_open && L->ep_seq == seq) {
        attribute(L, now);
        if (mostly_gil(L)) {
            kind = AAP_EP_GIL;
        }
        if (kind != AAP_EP_BLOCKING && kind != AAP_EP_GIL) {
            ep_discard(L); /* its held-back site time is nobody's */
            return kind;
        }
        e = ring_push(L);
        e->kind = kind;
        summarize(L, e);
        if (kind == AAP_EP_BLOCKING) {
            charge_pending(L, now);
        }
        e->duration_ns = now - bs;
        e->start = L->ep_start_wall;
        e->detect_ns = (int64_t)L->ep_detect_ns;
        e->stack = L->ep_stack;
        L->ep_stack = NULL;
        L->ep_open = 0;
        return kind;
    }
    if (L->ep_open) {
        ep_discard(L);
    }
    if (kind == AAP_EP_BLOCKING) {
        /* the watchdog never saw it: no site */
        e = ring_push(L);
        e->kind = kind;
        e->duration_ns = now - bs;
        e->detect_ns = -1;
        e->start = aap_wall_now() - (double)(now - bs) / 1e9;
    }
    return kind;
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
    if (L->ep_open && (mostly_gil(L) || L->ep_long_samples > 0)) {
        aap_episode e;

        memset(&e, 0, sizeof(e));
        e.kind = mostly_gil(L) ? AAP_EP_GIL : AAP_EP_BLOCKING;
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
