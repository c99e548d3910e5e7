/*
 * tool_audit_sites.c: the culprits of a finding, in every mode the same
 * way.  tool_rule_culprits() says which kind a rule's findings get
 * (blocking sites, GIL holders, pool functions, or none); for such a rule
 * two structured questions ride along with the rule's own (so they cost
 * no round trip): "the increase of the kind's counter over the window, by
 * the rule's group labels and the culprit's keys", and, for kinds that
 * have one, "the last value of the kind's info series by the same labels
 * and chain, class, hint".  The answers are matched afterwards to every
 * breaching group, so that each breaching worker gets its own culprits
 * and a finding on one instance never blames another instance's code,
 * and the info is joined to the counter on the group and the keys: a
 * probe that exports no info series (an older one) still gives culprits,
 * without chain, class and hint.  Culprits are an aid, never a verdict: a
 * failed question leaves them out.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_audit_int.h"

static bool listed(const char *const *v, const char *name)
{
    for (; v != NULL && *v != NULL; v++) {
        if (strcmp(*v, name) == 0) {
            return true;
        }
    }
    return false;
}

static size_t count(const char *const *v)
{
    size_t n = 0;

    while (v != NULL && v[n] != NULL) {
        n++;
    }
    return n;
}

/*
 * One culprit question of j's rule into *q (its "by" list into *by,
 * malloc'd): metric's stat by the rule's "by" labels (a raw rule has
 * none) except the culprit's keys and the info labels, then the keys,
 * then the info labels (NULL for none), with the rule's "where".
 * AA_ENOMEM only.
 */
static int make_question(const tool_job *j, const char *metric, aa_stat stat,
                         aa_metric_type type, const char *const *info,
                         aa_rule *q, char ***by)
{
    const aa_rule *rule = j->rule;
    const char *const *keys = j->src->keys;
    size_t nby = rule->metric != NULL ? rule->nby : 0, i;

    memset(q, 0, sizeof(*q));
    *by = calloc(nby + count(keys) + count(info) + 1, sizeof(**by));
    if (*by == NULL) {
        return AA_ENOMEM;
    }
    q->by = *by;
    for (i = 0; i < nby; i++) {
        if (!listed(keys, rule->by[i]) && !listed(info, rule->by[i])) {
            q->by[q->nby++] = rule->by[i];
        }
    }
    for (i = 0; keys[i] != NULL; i++) {
        q->by[q->nby++] = (char *)(uintptr_t)keys[i];
    }
    for (i = 0; info != NULL && info[i] != NULL; i++) {
        q->by[q->nby++] = (char *)(uintptr_t)info[i];
    }
    q->id = rule->id;
    q->metric = (char *)(uintptr_t)metric;
    q->stat = stat;
    q->type = type;
    snprintf(q->stat_text, sizeof(q->stat_text), "%s",
             stat == AA_STAT_LAST ? "last" : "increase");
    if (rule->metric != NULL) {
        q->where = rule->where;
    }
    q->line = rule->line;
    q->column = rule->column;
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

/* Whether two jobs ask the same culprit questions. */
static bool same_questions(const tool_job *a, const tool_job *b)
{
    const aa_rule *x = &a->sites_rule, *y = &b->sites_rule;

    if (a->src != b->src || x->nby != y->nby ||
        !same_matchers(&x->where, &y->where)) {
        return false;
    }
    for (size_t i = 0; i < x->nby; i++) {
        if (strcmp(x->by[i], y->by[i]) != 0) {
            return false;
        }
    }
    return true;
}

static int submit(tool_audit *au, tool_job *j, const aa_rule *rule,
                  const char *what, tool_answer *a)
{
    char text[240];
    tool_query q;

    snprintf(text, sizeof(text), "%s: %s", j->what, what);
    memset(&q, 0, sizeof(q));
    q.kind = TOOL_Q_INSTANT;
    q.what = text;
    q.rule = rule;
    q.extra = &au->cfg->selector;
    q.window_ms = au->window_ms;
    q.t_ms = au->end_ms;
    return tool_backend_submit(au->b, &q, a);
}

int tool_audit_ask_sites(tool_audit *au)
{
    size_t i, k;

    for (i = 0; i < au->rs->nrules; i++) {
        tool_job *j = &au->jobs[i];

        if (!j->asked || !tool_audit_answerable(&j->main)) {
            continue;
        }
        j->src = tool_rule_culprits(j->rule);
        if (j->src == NULL) {
            continue;
        }
        if (make_question(j, j->src->counter, AA_STAT_INCREASE,
                          AA_TYPE_COUNTER, NULL, &j->sites_rule,
                          &j->sites_by) != AA_OK) {
            return AA_ENOMEM;
        }
        for (k = 0; k < i; k++) {
            if (au->jobs[k].sites_of == (long)k &&
                same_questions(&au->jobs[k], j)) {
                j->sites_of = (long)k;
                break;
            }
        }
        if (k < i) {
            continue;
        }
        j->sites_of = (long)i;
        if (submit(au, j, &j->sites_rule, j->src->what, &j->sites) != AA_OK) {
            return AA_ENOMEM;
        }
        if (j->src->info == NULL) {
            continue;
        }
        if (make_question(j, j->src->info, AA_STAT_LAST, AA_TYPE_GAUGE,
                          tool_culprit_info_labels, &j->info_rule,
                          &j->info_by) != AA_OK ||
            submit(au, j, &j->info_rule, "culprit info", &j->info) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

/* Whether a sample belongs to group: equal on every "by" label of the
 * rule that both carry (a label the culprit series lack matches). */
static bool in_group(const aa_rule *rule, const aa_labels *sample,
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

/* Whether two samples name the same culprit (equal on every key). */
static bool same_keys(const char *const *keys, const aa_labels *a,
                      const aa_labels *b)
{
    for (; *keys != NULL; keys++) {
        const char *x = aa_labels_get(a, *keys);
        const char *y = aa_labels_get(b, *keys);

        if (strcmp(x != NULL ? x : "", y != NULL ? y : "") != 0) {
            return false;
        }
    }
    return true;
}

/* A copy of label name of ls; NULL when absent or empty (or OOM, which
 * *oom then says). */
static char *copy_label(const aa_labels *ls, const char *name, bool *oom)
{
    const char *v = aa_labels_get(ls, name);
    char *c;

    if (v == NULL || v[0] == '\0') {
        return NULL;
    }
    c = aa_strdup(v);
    *oom = *oom || c == NULL;
    return c;
}

/* Fills s from the counter sample c of group and its info sample i (NULL
 * when there is none).  AA_ENOMEM (s is then cleared by the caller). */
static int fill(aa_site *s, aa_site_kind kind, const aa_sample *c,
                const aa_sample *i, const aa_labels *group)
{
    bool oom = false;

    s->kind = kind;
    s->seconds = c->value;
    s->share = NAN;
    s->site = copy_label(&c->labels, "site", &oom);
    if (kind == AA_SITE_GIL_HOLDER) {
        s->thread = copy_label(&c->labels, "thread", &oom);
    }
    if (kind == AA_SITE_POOL_FUNCTION) {
        s->executor = copy_label(&c->labels, "executor", &oom);
        s->function = copy_label(&c->labels, "function", &oom);
    }
    if (i != NULL) {
        s->chain = copy_label(&i->labels, "chain", &oom);
        s->cls = copy_label(&i->labels, "class", &oom);
        s->hint = copy_label(&i->labels, "hint", &oom);
    }
    if (oom || aa_labels_copy(&s->group, group) != AA_OK) {
        return AA_ENOMEM;
    }
    return AA_OK;
}

/* The info sample of group naming the same culprit as c, or NULL. */
static const aa_sample *info_of(const tool_job *j, const aa_vector *info,
                                const aa_sample *c, const aa_labels *group)
{
    for (size_t k = 0; info != NULL && k < info->n; k++) {
        const aa_sample *i = &info->v[k];

        if (same_keys(j->src->keys, &i->labels, &c->labels) &&
            in_group(j->rule, &i->labels, group)) {
            return i;
        }
    }
    return NULL;
}

/*
 * Appends the culprits of one group to j's result: the counter samples of
 * the group that name a site, each with its info, and for pool functions
 * each one's share of the group's pool time (the sum over every function
 * of the group, the probe's function="other" included).  AA_ENOMEM only.
 */
static int add_group(const tool_job *j, const aa_vector *vec,
                     const aa_vector *info, const aa_labels *group)
{
    aa_site *v;
    size_t n = 0, i;
    double total = 0;

    if (vec->n == 0) {
        return AA_OK;
    }
    v = calloc(vec->n, sizeof(*v));
    if (v == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; i < vec->n; i++) {
        const aa_sample *c = &vec->v[i];

        if (!in_group(j->rule, &c->labels, group)) {
            continue;
        }
        if (isfinite(c->value) && c->value > 0) {
            total += c->value; /* the pool's "other" functions too */
        }
        if (aa_labels_get(&c->labels, "site") == NULL) {
            continue; /* no line to name */
        }
        if (fill(&v[n], j->src->kind, c, info_of(j, info, c, group), group) !=
            AA_OK) {
            for (n++; n > 0; n--) {
                aa_site_clear(&v[n - 1]);
            }
            free(v);
            return AA_ENOMEM;
        }
        n++;
    }
    for (i = 0; j->src->kind == AA_SITE_POOL_FUNCTION && i < n; i++) {
        v[i].share = total > 0 ? v[i].seconds / total : NAN;
    }
    return aa_rule_result_add_sites(j->rr, v, n, AA_TOP_SITES);
}

int tool_audit_attach_sites(const tool_audit *au, tool_job *j)
{
    const tool_job *from;
    const aa_vector *info = NULL;

    if (j->sites_of < 0 || (j->rr->verdict != AA_VERDICT_WARNING &&
                            j->rr->verdict != AA_VERDICT_CRITICAL)) {
        return AA_OK;
    }
    from = &au->jobs[j->sites_of];
    if (from->sites.status != TOOL_A_OK) {
        tool_verbose(au->cfg, "%s: %s: %s", j->what, j->src->what,
                     from->sites.message != NULL ? from->sites.message
                                                 : "no answer");
        return AA_OK;
    }
    if (from->src->info != NULL && from->info.status == TOOL_A_OK) {
        info = &from->info.vector;
    } else if (from->src->info != NULL) {
        tool_verbose(au->cfg, "%s: culprit info: %s", j->what,
                     from->info.message != NULL ? from->info.message
                                                : "no answer");
    }
    for (size_t k = 0; k < j->rr->nseries; k++) {
        const aa_series_result *s = &j->rr->series[k];

        if ((s->verdict == AA_VERDICT_WARNING ||
             s->verdict == AA_VERDICT_CRITICAL) &&
            add_group(j, &from->sites.vector, info, &s->labels) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

void tool_audit_sites_clear(tool_job *j)
{
    tool_answer_clear(&j->sites);
    tool_answer_clear(&j->info);
    free(j->sites_by);
    free(j->info_by);
    j->sites_by = j->info_by = NULL;
}
