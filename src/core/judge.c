/*
 * judge.c: turns evaluated series into verdicts (contract §6).  Both
 * data sources (Prometheus and the local evaluator) hand their numbers to
 * these two functions, so "every series is judged, the worst decides, NaN
 * is no data" is implemented exactly once.
 */
#include "aa/result.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/common.h"

/* The verdict a rule's no_data policy gives to missing data. */
static aa_verdict nodata_verdict(const aa_rule *rule)
{
    switch (rule->no_data) {
    case AA_NODATA_OK:
        return AA_VERDICT_OK;
    case AA_NODATA_WARNING:
        return AA_VERDICT_WARNING;
    case AA_NODATA_CRITICAL:
        return AA_VERDICT_CRITICAL;
    case AA_NODATA_UNKNOWN:
        break;
    }
    return AA_VERDICT_NO_DATA;
}

/* Critical first, then warning; NaN takes the no_data policy. */
static aa_verdict value_verdict(const aa_rule *rule, double v)
{
    if (isnan(v)) {
        return nodata_verdict(rule);
    }
    if (aa_threshold_crossed(&rule->critical, v)) {
        return AA_VERDICT_CRITICAL;
    }
    if (aa_threshold_crossed(&rule->warning, v)) {
        return AA_VERDICT_WARNING;
    }
    return AA_VERDICT_OK;
}

/*
 * Which way is "worse" for values of this rule: +1 when larger values
 * breach (> and >=), -1 when smaller ones do (< and <=), 0 when the
 * thresholds have no direction (== and !=).  Critical decides when set.
 */
static int rule_direction(const aa_rule *rule)
{
    const aa_threshold *t =
        rule->critical.set ? &rule->critical : &rule->warning;

    if (!t->set) {
        return 0;
    }
    switch (t->op) {
    case AA_CMP_GT:
    case AA_CMP_GE:
        return 1;
    case AA_CMP_LT:
    case AA_CMP_LE:
        return -1;
    case AA_CMP_EQ:
    case AA_CMP_NE:
        break;
    }
    return 0;
}

/* qsort has no context argument; the sort below runs under this one. */
static _Thread_local int sort_direction;

/* Worst verdict first; within a verdict the larger breach first (by the
 * rule's direction), numbers before NaN, then by labels for stability. */
static int series_cmp(const void *pa, const void *pb)
{
    const aa_series_result *a = pa, *b = pb;
    bool na = isnan(a->value), nb = isnan(b->value);

    if (a->verdict != b->verdict) {
        return a->verdict > b->verdict ? -1 : 1;
    }
    if (na != nb) {
        return na ? 1 : -1;
    }
    if (!na && a->value != b->value && sort_direction != 0) {
        bool a_worse =
            sort_direction > 0 ? a->value > b->value : a->value < b->value;
        return a_worse ? -1 : 1;
    }
    return aa_labels_cmp(&a->labels, &b->labels);
}

/* Appends one judged series to rr (labels copied; bound NULL: exact). */
static int add_series(aa_rule_result *rr, const aa_labels *labels,
                      double value, aa_verdict verdict,
                      const aa_value_bound *bound)
{
    aa_series_result *p;
    int rc;

    p = realloc(rr->series, (rr->nseries + 1) * sizeof(*p));
    if (p == NULL) {
        return AA_ENOMEM;
    }
    rr->series = p;
    p = &rr->series[rr->nseries];
    memset(p, 0, sizeof(*p));
    rc = aa_labels_copy(&p->labels, labels);
    if (rc != AA_OK) {
        return rc;
    }
    p->value = value;
    p->verdict = verdict;
    if (bound != NULL && !isnan(value)) {
        p->bound = *bound;
    }
    rr->nseries++;
    return AA_OK;
}

/*
 * Sorts rr's series and derives the rule's verdict, value and crossed
 * threshold from the worst one.  With no series at all the no_data policy
 * decides.  A no_data verdict caused by NaN series gets a message (when
 * the caller has not set one) saying how many series had no value.
 */
static int finish(const aa_rule *rule, aa_rule_result *rr)
{
    const aa_series_result *w;
    size_t i, nnan = 0;

    rr->rule = rule;
    rr->has_value = false;
    rr->value = NAN;
    memset(&rr->bound, 0, sizeof(rr->bound));
    rr->crossed = NULL;
    if (rr->nseries == 0) {
        rr->verdict = nodata_verdict(rule);
        return AA_OK;
    }
    sort_direction = rule_direction(rule);
    qsort(rr->series, rr->nseries, sizeof(*rr->series), series_cmp);
    w = &rr->series[0];
    rr->verdict = w->verdict;
    if (!isnan(w->value)) {
        rr->has_value = true;
        rr->value = w->value;
        rr->bound = w->bound;
        if (w->verdict == AA_VERDICT_CRITICAL) {
            rr->crossed = &rule->critical;
        } else if (w->verdict == AA_VERDICT_WARNING) {
            rr->crossed = &rule->warning;
        }
    }
    for (i = 0; i < rr->nseries; i++) {
        nnan += isnan(rr->series[i].value) ? 1 : 0;
    }
    if (nnan > 0 && isnan(w->value) && rr->message == NULL) {
        char msg[160];

        snprintf(msg, sizeof(msg),
                 "%zu of %zu series had no value (NaN: no observations "
                 "in the window)",
                 nnan, rr->nseries);
        rr->message = aa_strdup(msg);
        if (rr->message == NULL) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

int aa_judge_vector_bounded(const aa_rule *rule, const aa_vector *vec,
                            const aa_value_bound *bounds, aa_rule_result *rr)
{
    size_t i;
    int rc;

    if (rule == NULL || rr == NULL) {
        return AA_EINVAL;
    }
    for (i = 0; vec != NULL && i < vec->n; i++) {
        double v = vec->v[i].value;

        rc = add_series(rr, &vec->v[i].labels, v, value_verdict(rule, v),
                        bounds != NULL ? &bounds[i] : NULL);
        if (rc != AA_OK) {
            return rc;
        }
    }
    return finish(rule, rr);
}

int aa_judge_vector(const aa_rule *rule, const aa_vector *vec,
                    aa_rule_result *rr)
{
    return aa_judge_vector_bounded(rule, vec, NULL, rr);
}

/*
 * Step slots of the final "for" span: slot k is the time end - k*step for
 * k = 0..nslots-1, and a point belongs to the slot nearest to it (within
 * half a step), so a range query whose steps are not exactly aligned with
 * end is still judged.  A slot is present when a non-NaN point falls in it
 * and crosses a level only when every point in it does.
 */
typedef struct slot {
    bool present;
    bool warn;
    bool crit;
} slot;

static aa_verdict series_for_verdict(const aa_rule *rule,
                                     const aa_range_series *s, int64_t end_ms,
                                     int64_t step_ms, slot *slots,
                                     size_t nslots, double *last_value,
                                     size_t *last_index)
{
    int64_t last_t = INT64_MIN;
    bool all_warn = true, all_crit = true;
    size_t i, k;

    *last_value = NAN;
    *last_index = s->n;
    for (k = 0; k < nslots; k++) {
        slots[k].present = false;
        slots[k].warn = true;
        slots[k].crit = true;
    }
    for (i = 0; i < s->n; i++) {
        const aa_point *p = &s->pts[i];
        int64_t back = end_ms - p->t_ms;
        int64_t slot_k;

        if (back < -step_ms / 2) {
            continue; /* after the window's end */
        }
        if (p->t_ms > last_t) {
            last_t = p->t_ms;
            *last_value = p->v;
            *last_index = i;
        }
        slot_k = (back + step_ms / 2) / step_ms;
        if (slot_k < 0 || (uint64_t)slot_k >= nslots || isnan(p->v)) {
            continue;
        }
        k = (size_t)slot_k;
        slots[k].present = true;
        if (!aa_threshold_crossed(&rule->warning, p->v)) {
            slots[k].warn = false;
        }
        if (!aa_threshold_crossed(&rule->critical, p->v)) {
            slots[k].crit = false;
        }
    }
    for (k = 0; k < nslots; k++) {
        if (!slots[k].present) {
            all_warn = false;
            all_crit = false;
            break;
        }
        all_warn = all_warn && slots[k].warn;
        all_crit = all_crit && slots[k].crit;
    }
    if (rule->critical.set && all_crit) {
        return AA_VERDICT_CRITICAL;
    }
    if (rule->warning.set && all_warn) {
        return AA_VERDICT_WARNING;
    }
    if (isnan(*last_value)) {
        return nodata_verdict(rule);
    }
    return AA_VERDICT_OK;
}

int64_t aa_for_steps(int64_t for_ms, int64_t step_ms)
{
    int64_t q;

    if (step_ms <= 0) {
        return -1;
    }
    if (for_ms <= 0) {
        return 1;
    }
    q = for_ms / step_ms + (for_ms % step_ms != 0);
    return q == INT64_MAX ? q : q + 1;
}

int aa_judge_matrix(const aa_rule *rule, const aa_matrix *m, int64_t end_ms,
                    int64_t step_ms, aa_rule_result *rr)
{
    return aa_judge_matrix_bounded(rule, m, NULL, end_ms, step_ms, rr);
}

int aa_judge_matrix_bounded(const aa_rule *rule, const aa_matrix *m,
                            const aa_value_bound *bounds, int64_t end_ms,
                            int64_t step_ms, aa_rule_result *rr)
{
    slot *slots;
    size_t nslots, i;
    int64_t npoints;
    int rc = AA_OK;

    if (rule == NULL || rr == NULL || step_ms <= 0 || rule->for_ms < 0) {
        return AA_EINVAL;
    }
    npoints = aa_for_steps(rule->for_ms, step_ms);
    if (npoints > 10 * 1000 * 1000) {
        return AA_ETOOBIG;
    }
    nslots = (size_t)npoints;
    slots = malloc(nslots * sizeof(*slots));
    if (slots == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; m != NULL && i < m->n; i++) {
        double last;
        size_t at;
        aa_verdict v = series_for_verdict(rule, &m->v[i], end_ms, step_ms,
                                          slots, nslots, &last, &at);

        /* the bound belongs to the series' last point */
        rc = add_series(rr, &m->v[i].labels, last, v,
                        bounds != NULL && at + 1 == m->v[i].n ? &bounds[i]
                                                              : NULL);
        if (rc != AA_OK) {
            goto out;
        }
    }
    rc = finish(rule, rr);
out:
    free(slots);
    return rc;
}
