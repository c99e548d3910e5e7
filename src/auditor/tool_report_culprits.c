/*
 * tool_report_culprits.c: collects the culprits of a report once
 * (tool_report_culprits.h) and words the pieces every format shows: a
 * culprit's name, what it cost a group, a group's name, and a worker's
 * breach ("worker 4123: 61% blocked").  Writers only escape and lay out.
 */
#include "tool_report_culprits.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tool_report.h"

/* What a rule's value measures, for "worker 4123: 61% blocked"; stat
 * NULL matches any stat.  The first match wins. */
static const struct {
    const char *metric;
    const char *stat;
    const char *what;
} measures[] = {
    {"python_asyncio_loop_block_duration_seconds", "sum_rate", "blocked"},
    {"python_asyncio_loop_block_duration_seconds", "rate",
     "blocking episodes/s"},
    {"python_asyncio_loop_gil_wait_duration_seconds", "sum_rate",
     "waiting for the GIL"},
    {"python_asyncio_loop_gil_wait_duration_seconds", "rate",
     "GIL-contention episodes/s"},
    {"python_asyncio_loop_saturation_duration_seconds", "sum_rate",
     "saturated"},
    {"python_asyncio_loop_busy_seconds_total", "rate", "busy"},
    {"python_asyncio_loop_lag_seconds", NULL, "loop lag"},
    {"python_asyncio_loop_current_block_seconds", NULL, "blocked at once"},
    {"python_asyncio_loop_ready_callbacks", NULL, "ready callbacks"},
    {"python_asyncio_tasks", "slope", "tasks/s of growth"},
    {"python_asyncio_tasks", NULL, "tasks"},
    {"python_asyncio_executor_pending", NULL, "work items pending"},
    {"python_asyncio_executor_wait_seconds", NULL, "wait for a thread"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int cmp_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return (a != NULL) - (b != NULL);
    }
    return strcmp(a, b);
}

/* Whether two entries name the same culprit. */
static bool same_culprit(const aa_site *a, const aa_site *b)
{
    return a->kind == b->kind && cmp_opt(a->site, b->site) == 0 &&
           cmp_opt(a->thread, b->thread) == 0 &&
           cmp_opt(a->executor, b->executor) == 0 &&
           cmp_opt(a->function, b->function) == 0;
}

/* Appends rr to *v (n entries) unless it is there. */
static int add_rule(const aa_rule_result ***v, size_t *n,
                    const aa_rule_result *rr)
{
    const aa_rule_result **g;

    for (size_t i = 0; i < *n; i++) {
        if ((*v)[i] == rr) {
            return AA_OK;
        }
    }
    g = realloc((void *)*v, (*n + 1) * sizeof(**v));
    if (g == NULL) {
        return AA_ENOMEM;
    }
    *v = g;
    (*v)[(*n)++] = rr;
    return AA_OK;
}

/* The group of c that s was found for, added when new; NULL on OOM. */
static tool_culprit_group *group_of(tool_culprit *c, const aa_site *s)
{
    tool_culprit_group *g;

    for (size_t i = 0; i < c->ngroups; i++) {
        if (aa_labels_cmp(c->groups[i].labels, &s->group) == 0) {
            return &c->groups[i];
        }
    }
    g = realloc(c->groups, (c->ngroups + 1) * sizeof(*g));
    if (g == NULL) {
        return NULL;
    }
    c->groups = g;
    g = &c->groups[c->ngroups++];
    memset(g, 0, sizeof(*g));
    g->labels = &s->group;
    g->seconds = s->seconds;
    g->share = s->share;
    return g;
}

/* Adds entry s of rule rr to out. */
static int add_entry(tool_culprits *out, const aa_rule_result *rr,
                     const aa_site *s)
{
    size_t i = tool_culprits_find(out, s);
    tool_culprit *c;
    tool_culprit_group *g;

    if (i == out->n) {
        c = realloc(out->v, (out->n + 1) * sizeof(*c));
        if (c == NULL) {
            return AA_ENOMEM;
        }
        out->v = c;
        c = &out->v[out->n++];
        memset(c, 0, sizeof(*c));
        c->s = s;
        c->seconds = s->seconds;
    }
    c = &out->v[i];
    c->chain = c->chain != NULL ? c->chain : s->chain;
    c->cls = c->cls != NULL ? c->cls : s->cls;
    c->hint = c->hint != NULL ? c->hint : s->hint;
    if (s->seconds > c->seconds) {
        c->seconds = s->seconds;
    }
    g = group_of(c, s);
    if (g == NULL) {
        return AA_ENOMEM;
    }
    if (s->seconds > g->seconds) {
        g->seconds = s->seconds;
        g->share = s->share;
    }
    if (add_rule(&g->rules, &g->nrules, rr) != AA_OK) {
        return AA_ENOMEM;
    }
    return add_rule(&c->rules, &c->nrules, rr);
}

int tool_culprits_collect(const aa_report *r, tool_culprits *out)
{
    int rc = AA_OK;

    for (int pass = 0; pass < 2 && rc == AA_OK; pass++) {
        aa_verdict want = pass == 0 ? AA_VERDICT_CRITICAL : AA_VERDICT_WARNING;

        for (size_t i = 0; i < r->nrules && rc == AA_OK; i++) {
            const aa_rule_result *rr = &r->rules[i];

            for (size_t j = 0;
                 rr->verdict == want && j < rr->nsites && rc == AA_OK; j++) {
                rc = add_entry(out, rr, &rr->sites[j]);
            }
        }
    }
    if (rc != AA_OK) {
        tool_culprits_free(out);
    }
    return rc;
}

void tool_culprits_free(tool_culprits *c)
{
    for (size_t i = 0; i < c->n; i++) {
        for (size_t g = 0; g < c->v[i].ngroups; g++) {
            free(c->v[i].groups[g].rules);
        }
        free(c->v[i].groups);
        free(c->v[i].rules);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

size_t tool_culprits_find(const tool_culprits *c, const aa_site *s)
{
    for (size_t i = 0; i < c->n; i++) {
        if (same_culprit(c->v[i].s, s)) {
            return i;
        }
    }
    return c->n;
}

char *tool_culprit_title(const aa_site *s, char *buf, size_t size)
{
    const char *site = s->site != NULL ? s->site : "?";

    switch (s->kind) {
    case AA_SITE_GIL_HOLDER:
        snprintf(buf, size, "%s in thread %s", site,
                 s->thread != NULL ? s->thread : "?");
        break;
    case AA_SITE_POOL_FUNCTION:
        snprintf(buf, size, "%s at %s%s%s%s",
                 s->function != NULL ? s->function : "?", site,
                 s->executor != NULL ? " (pool " : "",
                 s->executor != NULL ? s->executor : "",
                 s->executor != NULL ? ")" : "");
        break;
    case AA_SITE_BLOCKING:
        snprintf(buf, size, "%s", site);
        break;
    }
    return buf;
}

char *tool_culprit_amount(aa_site_kind kind, double seconds, double share,
                          char *buf, size_t size)
{
    char s[64], p[64];

    tool_fmt_seconds(seconds, s, sizeof(s));
    switch (kind) {
    case AA_SITE_GIL_HOLDER:
        snprintf(buf, size, "%s of GIL wait", s);
        break;
    case AA_SITE_POOL_FUNCTION:
        if (isfinite(share)) {
            snprintf(buf, size, "%s of pool time, %s",
                     tool_fmt_unit(TOOL_UNIT_PERCENT, share, p, sizeof(p)), s);
        } else {
            snprintf(buf, size, "%s of pool time", s);
        }
        break;
    case AA_SITE_BLOCKING:
        snprintf(buf, size, "%s blocked", s);
        break;
    }
    return buf;
}

char *tool_fmt_group(const aa_labels *ls, char *buf, size_t size)
{
    const char *worker = aa_labels_get(ls, "worker");
    const char *loop = aa_labels_get(ls, "loop");

    if (worker != NULL && worker[0] != '\0') {
        snprintf(buf, size, "worker %s%s%s", worker,
                 loop != NULL && loop[0] != '\0' ? ", loop " : "",
                 loop != NULL ? loop : "");
    } else if (ls->n > 0) {
        aa_labels_format(ls, buf, size);
    } else {
        snprintf(buf, size, "all series");
    }
    return buf;
}

/* What rule's value measures: from the table (a quantile says which, a
 * share_above(X) says of what above X: "of loop lag above 62.5ms"), else
 * "(STAT of METRIC)"; "" for a raw rule. */
static void measure(const aa_rule *rule, char *buf, size_t size)
{
    char above[64];

    buf[0] = '\0';
    if (rule->metric == NULL) {
        return;
    }
    for (size_t i = 0; i < NELEM(measures); i++) {
        if (strcmp(measures[i].metric, rule->metric) != 0 ||
            (measures[i].stat != NULL &&
             strcmp(measures[i].stat, rule->stat_text) != 0)) {
            continue;
        }
        if (measures[i].stat == NULL && rule->stat == AA_STAT_QUANTILE) {
            snprintf(buf, size, " %s (%s)", measures[i].what, rule->stat_text);
        } else if (measures[i].stat == NULL &&
                   rule->stat == AA_STAT_SHARE_ABOVE) {
            snprintf(buf, size, " of %s above %s", measures[i].what,
                     tool_fmt_seconds(rule->above, above, sizeof(above)));
        } else {
            snprintf(buf, size, " %s", measures[i].what);
        }
        return;
    }
    snprintf(buf, size, " (%s of %s)", rule->stat_text, rule->metric);
}

bool tool_fmt_worker_breach(const aa_rule_result *rr,
                            const aa_series_result *s, char *buf, size_t size)
{
    const char *worker = aa_labels_get(&s->labels, "worker");
    char group[512], val[128], what[256];

    if (worker == NULL || worker[0] == '\0') {
        return false;
    }
    measure(rr->rule, what, sizeof(what));
    snprintf(buf, size, "%s: %s%s",
             tool_fmt_group(&s->labels, group, sizeof(group)),
             tool_fmt_judged(rr->rule, s->value, &s->bound, val, sizeof(val)),
             what);
    return true;
}

bool tool_series_breaches(const aa_series_result *s)
{
    return s->verdict == AA_VERDICT_WARNING ||
           s->verdict == AA_VERDICT_CRITICAL;
}
