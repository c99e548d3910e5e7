/*
 * tool_audit_sites.c: the culprit code sites of a finding on an
 * event-loop metric, in every mode the same way: one structured question
 * per rule, "the increase of the probe's site counter over the window, by
 * site and by the rule's group labels", asked with the rule's own
 * question (so it costs no round trip), and matched afterwards to the
 * breaching group, so that a finding on one instance never blames
 * another instance's code.  Sites are an aid, never a verdict: a failed
 * sites question leaves the list empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_audit_int.h"

/* The site question of j's rule into j->sites_rule: the site counter's
 * increase by the rule's "by" labels and site, with the rule's "where"
 * (a raw rule has neither).  AA_ENOMEM only. */
static int make_sites_rule(tool_job *j)
{
    const aa_rule *rule = j->rule;
    size_t nby = rule->metric != NULL ? rule->nby : 0, i;
    aa_rule *s = &j->sites_rule;

    memset(s, 0, sizeof(*s));
    j->sites_by = calloc(nby + 1, sizeof(*j->sites_by));
    if (j->sites_by == NULL) {
        return AA_ENOMEM;
    }
    s->by = j->sites_by;
    for (i = 0; i < nby; i++) {
        if (strcmp(rule->by[i], "site") != 0) {
            s->by[s->nby++] = rule->by[i];
        }
    }
    s->by[s->nby++] = "site";
    s->id = rule->id;
    s->metric = TOOL_SITE_METRIC;
    s->stat = AA_STAT_INCREASE;
    s->type = AA_TYPE_COUNTER;
    snprintf(s->stat_text, sizeof(s->stat_text), "increase");
    if (rule->metric != NULL) {
        s->where = rule->where;
    }
    s->line = rule->line;
    s->column = rule->column;
    return AA_OK;
}

static bool same_matchers(const aa_matchers *a, const aa_matchers *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].op != b->v[i].op ||
            strcmp(a->v[i].name, b->v[i].name) != 0 ||
            strcmp(a->v[i].value, b->v[i].value) != 0) {
            return false;
        }
    }
    return true;
}

/* Whether two site questions are the same question. */
static bool same_sites(const aa_rule *a, const aa_rule *b)
{
    if (a->nby != b->nby || !same_matchers(&a->where, &b->where)) {
        return false;
    }
    for (size_t i = 0; i < a->nby; i++) {
        if (strcmp(a->by[i], b->by[i]) != 0) {
            return false;
        }
    }
    return true;
}

int tool_audit_ask_sites(tool_audit *au)
{
    char what[200];
    size_t i, k;

    for (i = 0; i < au->rs->nrules; i++) {
        tool_job *j = &au->jobs[i];
        tool_query q;

        if (!j->asked || !tool_audit_answerable(&j->main) ||
            !tool_rule_on_loop_metric(j->rule)) {
            continue;
        }
        if (make_sites_rule(j) != AA_OK) {
            return AA_ENOMEM;
        }
        for (k = 0; k < i; k++) {
            if (au->jobs[k].sites_of == (long)k &&
                same_sites(&au->jobs[k].sites_rule, &j->sites_rule)) {
                j->sites_of = (long)k;
                break;
            }
        }
        if (k < i) {
            continue;
        }
        snprintf(what, sizeof(what), "%s: culprit sites", j->what);
        memset(&q, 0, sizeof(q));
        q.kind = TOOL_Q_INSTANT;
        q.what = what;
        q.rule = &j->sites_rule;
        q.extra = &au->cfg->selector;
        q.window_ms = au->window_ms;
        q.t_ms = au->end_ms;
        j->sites_of = (long)i;
        if (tool_backend_submit(au->b, &q, &j->sites) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

/* Whether a site sample belongs to group: equal on every "by" label the
 * sample carries (a label the site metric lacks matches). */
static bool site_in_group(const aa_rule *rule, const aa_labels *sample,
                          const aa_labels *group)
{
    for (size_t i = 0; rule->metric != NULL && i < rule->nby; i++) {
        const char *sv = aa_labels_get(sample, rule->by[i]);
        const char *gv = aa_labels_get(group, rule->by[i]);

        if (sv != NULL && strcmp(sv, gv != NULL ? gv : "") != 0) {
            return false;
        }
    }
    return true;
}

/*
 * The sites of one group of rule (its labels) from a sites answer, into
 * *out (malloc'd, n entries; the caller owns them).  AA_ENOMEM only.
 */
static int sites_of_group(const aa_rule *rule, const aa_vector *vec,
                          const aa_labels *group, aa_site **out, size_t *n)
{
    aa_site *v = NULL;

    *out = NULL;
    *n = 0;
    if (vec->n == 0) {
        return AA_OK;
    }
    v = calloc(vec->n, sizeof(*v));
    if (v == NULL) {
        return AA_ENOMEM;
    }
    for (size_t i = 0; i < vec->n; i++) {
        const aa_sample *s = &vec->v[i];
        const char *site = aa_labels_get(&s->labels, "site");

        if (site == NULL || !site_in_group(rule, &s->labels, group)) {
            continue;
        }
        v[*n].site = aa_strdup(site);
        if (v[*n].site == NULL) {
            while (*n > 0) {
                free(v[--(*n)].site);
            }
            free(v);
            return AA_ENOMEM;
        }
        v[(*n)++].seconds = s->value;
    }
    *out = v;
    return AA_OK;
}

int tool_audit_attach_sites(const tool_audit *au, tool_job *j)
{
    static const aa_labels nolabels = {NULL, 0};
    const tool_answer *a;
    aa_site *v;
    size_t n;

    if (j->sites_of < 0 || (j->rr->verdict != AA_VERDICT_WARNING &&
                            j->rr->verdict != AA_VERDICT_CRITICAL)) {
        return AA_OK;
    }
    a = &au->jobs[j->sites_of].sites;
    if (a->status != TOOL_A_OK) {
        tool_verbose(au->cfg, "culprit sites: %s",
                     a->message != NULL ? a->message : "no answer");
        return AA_OK;
    }
    if (sites_of_group(j->rule, &a->vector,
                       j->rr->nseries > 0 ? &j->rr->series[0].labels
                                          : &nolabels,
                       &v, &n) != AA_OK) {
        return AA_ENOMEM;
    }
    aa_rule_result_set_sites(j->rr, v, n, AA_TOP_SITES);
    return AA_OK;
}
