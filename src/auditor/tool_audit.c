/*
 * tool_audit.c: the audit, written once for every data source (see
 * tool_audit.h).  Every rule is evaluated at one pinned time.  All rule
 * questions, and the culprit sites of the rules on event-loop metrics,
 * are submitted together and answered in one run, so that against a
 * Prometheus backend an audit costs one round trip.  Only when rules come
 * back empty does a second run ask why, because "no data" alone does not
 * tell a user whether the probe is missing, the selector is wrong or the
 * window is quiet.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/quantile.h"
#include "tool_audit.h"
#include "tool_audit_int.h"

#define DEFAULT_STEP_MS (15 * 1000)
/* Prometheus refuses range queries of more than 11000 points per series. */
#define MAX_RANGE_POINTS 10000

static void rule_error(aa_rule_result *rr)
{
    rr->verdict = AA_VERDICT_ERROR;
    rr->has_value = false;
    rr->value = NAN;
    rr->crossed = NULL;
}

/* The rule's error verdict with the message; a configuration error is
 * printed and flagged.  AA_ENOMEM only. */
static int fail_rule(tool_audit *au, tool_job *j, const char *message,
                     bool config)
{
    rule_error(j->rr);
    if (tool_set_message(j->rr, "%s", message) != AA_OK) {
        return AA_ENOMEM;
    }
    if (config) {
        au->config_error = true;
        tool_error("%s", message);
    }
    return AA_OK;
}

/* ---- the step ------------------------------------------------------------
 */

static int64_t max_for_ms(const aa_ruleset *rs)
{
    int64_t m = 0;

    for (size_t i = 0; i < rs->nrules; i++) {
        if (rs->rules[i].for_ms > m) {
            m = rs->rules[i].for_ms;
        }
    }
    return m;
}

/* step, widened when the longest "for" would need more than
 * MAX_RANGE_POINTS steps (only for a step the user did not choose). */
static int64_t widen_step(const tool_audit *au, int64_t step)
{
    int64_t m = max_for_ms(au->rs);

    if (au->cfg->step_ms <= 0 &&
        aa_for_steps(m, step) - 1 > MAX_RANGE_POINTS) {
        step = (m + MAX_RANGE_POINTS - 1) / MAX_RANGE_POINTS;
    }
    return step;
}

/* The step the interval answer gives (widened), or the default. */
static int64_t settled_step(const tool_audit *au)
{
    const tool_answer *a = &au->interval;
    int64_t ms = a->status == TOOL_A_OK ? a->interval_ms : 0;

    if (ms > 0) {
        tool_verbose(au->cfg, "step: the scrape interval, %lld ms (%s)",
                     (long long)ms,
                     a->source != NULL ? a->source : "the backend");
    } else {
        ms = DEFAULT_STEP_MS;
        if (a->source != NULL) {
            tool_verbose(au->cfg,
                         "step: %s gave no scrape interval; using %lld ms",
                         a->source, (long long)ms);
        }
    }
    return widen_step(au, ms);
}

/* ---- rule questions ------------------------------------------------------
 */

/* Submits the rule's question at the current step.  AA_ENOMEM only; a
 * "for" that needs too many steps of --step is a configuration error. */
static int ask_rule(tool_audit *au, tool_job *j)
{
    tool_query q;

    memset(&q, 0, sizeof(q));
    q.what = j->what;
    q.rule = tool_audit_asked_rule(j);
    q.extra = &au->cfg->selector;
    q.window_ms = au->window_ms;
    if (j->range) {
        int64_t steps = aa_for_steps(j->rule->for_ms, au->step_ms) - 1;
        char msg[256];

        if (steps > MAX_RANGE_POINTS) {
            snprintf(msg, sizeof(msg),
                     "rule %s: for: spans %lld steps of --step; at most %d "
                     "are allowed (raise --step)",
                     j->rule->id, (long long)steps, MAX_RANGE_POINTS);
            j->asked = false;
            return fail_rule(au, j, msg, true);
        }
        j->range_start = au->end_ms - steps * au->step_ms;
        q.kind = TOOL_Q_RANGE;
        q.start_ms = j->range_start;
        q.end_ms = au->end_ms;
        q.step_ms = au->step_ms;
    } else {
        q.kind = TOOL_Q_INSTANT;
        q.t_ms = au->end_ms;
    }
    j->asked = true;
    return tool_backend_submit(au->b, &q, &j->main);
}

bool tool_audit_answerable(const tool_answer *a)
{
    return a->status == TOOL_A_PENDING || a->status == TOOL_A_OK;
}

/*
 * When the looked-up step differs from the provisional one, asks the range
 * questions again with it (one more run).  AA_ENOMEM, or AA_EIO after
 * printing why the run failed.
 */
static int settle_step(tool_audit *au)
{
    int64_t step = settled_step(au);
    size_t i, n = 0;
    int rc = AA_OK;

    if (step == au->step_ms) {
        return AA_OK;
    }
    au->step_ms = step;
    for (i = 0; rc == AA_OK && i < au->rs->nrules; i++) {
        tool_job *j = &au->jobs[i];

        if (!j->range || !j->asked || !tool_audit_answerable(&j->main)) {
            continue;
        }
        tool_answer_clear(&j->main);
        rc = ask_rule(au, j);
        n++;
    }
    if (rc == AA_OK && n > 0) {
        tool_verbose(au->cfg, "step: sending %zu range quer%s again", n,
                     n == 1 ? "y" : "ies");
        rc = tool_backend_run(au->b);
    }
    return rc;
}

/* Whether a rule judged before rr already got this warning (so that a
 * warning every answer shares is printed once). */
static bool warned_before(const tool_audit *au, const aa_rule_result *rr,
                          const char *text)
{
    for (const aa_rule_result *p = au->r->rules; p < rr; p++) {
        for (size_t k = 0; k < p->nwarnings; k++) {
            if (strcmp(p->warnings[k], text) == 0) {
                return true;
            }
        }
    }
    return false;
}

static int add_warning(aa_rule_result *rr, const char *prefix,
                       const char *text)
{
    char **v = realloc(rr->warnings, (rr->nwarnings + 1) * sizeof(*v));
    aat_buf b;

    if (v == NULL) {
        return AA_ENOMEM;
    }
    rr->warnings = v;
    aat_buf_init(&b, 8192);
    if (aat_buf_appendf(&b, "%s%.4000s", prefix, text) != AA_OK) {
        aat_buf_release(&b);
        return AA_ENOMEM;
    }
    rr->warnings[rr->nwarnings++] = aat_buf_steal(&b);
    return AA_OK;
}

/* Attaches the backend's warnings and infos to the rule and prints each
 * distinct warning once.  AA_ENOMEM only. */
static int take_notes(const tool_audit *au, const tool_job *j)
{
    const tool_answer *a = &j->main;
    size_t i;

    for (i = 0; i < a->nwarnings; i++) {
        if (au->cfg->verbosity >= 0 &&
            !warned_before(au, j->rr, a->warnings[i])) {
            tool_warn("%s: backend warning: %s (rule %s)", au->r->target,
                      a->warnings[i], j->rule->id);
        }
        if (add_warning(j->rr, "", a->warnings[i]) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    for (i = 0; i < a->ninfos; i++) {
        tool_verbose(au->cfg, "rule %s: backend info: %s", j->rule->id,
                     a->infos[i]);
        if (add_warning(j->rr, "info: ", a->infos[i]) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

const aa_rule *tool_audit_asked_rule(const tool_job *j)
{
    return j->buckets ? &j->bucket_rule.rule : j->rule;
}

int tool_audit_range_values(const tool_job *j, aa_matrix *answer,
                            aa_matrix *out, aa_value_bound **last)
{
    *last = NULL;
    if (!j->buckets) {
        *out = *answer;
        memset(answer, 0, sizeof(*answer));
        return AA_OK;
    }
    return aa_histogram_matrix(j->rule, answer, out, last);
}

/* Judges an instant answer: its values, or those computed from its
 * bucket rates. */
static int judge_instant(tool_job *j)
{
    aa_vector vals = {NULL, 0};
    aa_value_bound *bounds = NULL;
    int rc;

    if (!j->buckets) {
        return aa_judge_vector(j->rule, &j->main.vector, j->rr);
    }
    rc = aa_histogram_vector(j->rule, &j->main.vector, &vals, &bounds);
    if (rc == AA_OK) {
        rc = aa_judge_vector_bounded(j->rule, &vals, bounds, j->rr);
    }
    aa_vector_clear(&vals);
    free(bounds);
    return rc;
}

/* Judges a range answer ("for:") the same way, step by step. */
static int judge_range(const tool_audit *au, tool_job *j)
{
    aa_matrix vals = {NULL, 0};
    aa_value_bound *last = NULL;
    int rc;

    rc = tool_audit_range_values(j, &j->main.matrix, &vals, &last);
    if (rc == AA_OK) {
        rc = aa_judge_matrix_bounded(j->rule, &vals, last, au->end_ms,
                                     au->step_ms, j->rr);
    }
    aa_matrix_clear(&vals);
    free(last);
    return rc;
}

/*
 * Judges one rule from its answer.  Returns AA_ENOMEM only; every problem
 * of the backend or the rule becomes the rule's error verdict.
 */
static int judge(tool_audit *au, tool_job *j)
{
    tool_answer *a = &j->main;
    char msg[512];
    int rc;

    j->rr->query = a->query;
    a->query = NULL;
    if (take_notes(au, j) != AA_OK) {
        return AA_ENOMEM;
    }
    switch (a->status) {
    case TOOL_A_OK:
        break;
    case TOOL_A_FAILED:
        j->failed = true;
        return fail_rule(au, j, a->message != NULL ? a->message : "failed",
                         false);
    case TOOL_A_REJECTED:
        return fail_rule(
            au, j, a->message != NULL ? a->message : "query rejected", true);
    case TOOL_A_INVALID:
        return fail_rule(au, j, a->message != NULL ? a->message : "invalid",
                         false);
    case TOOL_A_PENDING:
        j->failed = true;
        snprintf(msg, sizeof(msg), "rule %s: the backend gave no answer",
                 j->rule->id);
        return fail_rule(au, j, msg, false);
    case TOOL_A_UNSUPPORTED:
        snprintf(msg, sizeof(msg),
                 "rule %s: raw PromQL queries need a Prometheus backend "
                 "(--target); scrape mode evaluates structured rules only",
                 j->rule->id);
        return fail_rule(au, j, msg, false);
    }
    rc = j->range ? judge_range(au, j) : judge_instant(j);
    j->empty = rc == AA_OK && j->rr->nseries == 0;
    if (rc != AA_OK && rc != AA_ENOMEM) {
        snprintf(msg, sizeof(msg), "rule %s: cannot judge the answer: %s",
                 j->rule->id, aa_strerror(rc));
        return fail_rule(au, j, msg, false);
    }
    return rc;
}

/* ---- the audit -----------------------------------------------------------
 */

/* The first run: every rule's question and the culprit sites, with the
 * step lookup riding along.  AA_ENOMEM or AA_EIO (printed). */
static int ask_all(tool_audit *au)
{
    bool looked_up = false;
    int rc = AA_OK;

    au->step_ms = au->cfg->step_ms > 0 ? au->cfg->step_ms : DEFAULT_STEP_MS;
    if (au->cfg->step_ms <= 0) {
        tool_query q;

        memset(&q, 0, sizeof(q));
        q.kind = TOOL_Q_INTERVAL;
        q.what = "step";
        rc = tool_backend_submit(au->b, &q, &au->interval);
        if (rc != AA_OK) {
            return rc;
        }
        /* A backend that knows at once settles the step before any range
         * question is planned. */
        looked_up = au->interval.status != TOOL_A_PENDING;
        au->step_ms =
            looked_up ? settled_step(au) : widen_step(au, au->step_ms);
    }
    for (size_t i = 0; rc == AA_OK && i < au->rs->nrules; i++) {
        tool_job *j = &au->jobs[i];

        j->rule = &au->rs->rules[i];
        j->rr = &au->r->rules[i];
        j->rr->rule = j->rule;
        j->range = j->rule->for_ms > 0;
        j->sites_of = -1;
        j->buckets = aa_rule_reads_buckets(j->rule);
        if (j->buckets &&
            aa_bucket_rule_make(j->rule, &j->bucket_rule) != AA_OK) {
            return AA_ENOMEM;
        }
        snprintf(j->what, sizeof(j->what), "rule %s", j->rule->id);
        rc = ask_rule(au, j);
    }
    if (rc == AA_OK) {
        rc = tool_audit_ask_sites(au);
    }
    if (rc == AA_OK && au->cfg->html_path != NULL) {
        rc = tool_audit_ask_charts(au);
    }
    if (rc == AA_OK) {
        rc = tool_backend_run(au->b);
    }
    if (rc == AA_OK && au->cfg->step_ms <= 0 && !looked_up) {
        rc = settle_step(au);
    }
    return rc;
}

/* Judges every rule and attaches the culprits of the breaching ones;
 * *incomplete when every question failed.  AA_ENOMEM only. */
static int judge_all(tool_audit *au, bool *incomplete)
{
    size_t i, nasked = 0, nfailed = 0;

    for (i = 0; i < au->rs->nrules; i++) {
        tool_job *j = &au->jobs[i];

        if (!j->asked) {
            continue;
        }
        if (judge(au, j) != AA_OK) {
            return AA_ENOMEM;
        }
        nasked++;
        nfailed += j->failed ? 1 : 0;
        aa_vector_clear(&j->main.vector);
        aa_matrix_clear(&j->main.matrix);
    }
    for (i = 0; i < au->rs->nrules; i++) {
        if (tool_audit_attach_sites(au, &au->jobs[i]) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    *incomplete = nasked > 0 && nfailed == nasked;
    return AA_OK;
}

static void free_jobs(tool_job *jobs, size_t n)
{
    for (size_t i = 0; jobs != NULL && i < n; i++) {
        tool_answer_clear(&jobs[i].main);
        tool_audit_sites_clear(&jobs[i]);
        tool_answer_clear(&jobs[i].exists);
        tool_answer_clear(&jobs[i].match);
        tool_answer_clear(&jobs[i].inwin);
        tool_answer_clear(&jobs[i].loops);
        tool_answer_clear(&jobs[i].chart);
        aa_bucket_rule_clear(&jobs[i].bucket_rule);
        free(jobs[i].name);
    }
    free(jobs);
}

int tool_audit_run(const tool_config *cfg, const aa_ruleset *rs,
                   tool_backend *b, int64_t end_ms, int64_t window_ms,
                   aa_report *r, bool *config_error, bool *incomplete)
{
    tool_audit au;
    int rc;

    *config_error = false;
    *incomplete = false;
    memset(&au, 0, sizeof(au));
    au.cfg = cfg;
    au.rs = rs;
    au.b = b;
    au.r = r;
    au.end_ms = end_ms;
    au.window_ms = window_ms;
    au.jobs = calloc(rs->nrules + 1, sizeof(*au.jobs));
    if (au.jobs == NULL) {
        return AA_ENOMEM;
    }
    rc = ask_all(&au);
    if (rc == AA_OK) {
        r->step_ms = au.step_ms;
        rc = judge_all(&au, incomplete);
    }
    if (rc == AA_OK) {
        rc = tool_audit_explain(&au);
    }
    if (rc == AA_OK) {
        rc = tool_audit_fill_charts(&au);
    }
    if (rc == AA_OK) {
        r->status = aa_report_status(r);
        *config_error = au.config_error;
    }
    if (rc == AA_OK && *incomplete) {
        for (size_t i = 0; i < rs->nrules; i++) {
            if (au.jobs[i].failed && r->rules[i].message != NULL) {
                tool_error("%s: the audit could not be completed: every "
                           "query failed (first: %s)",
                           r->target, r->rules[i].message);
                break;
            }
        }
    }
    tool_answer_clear(&au.interval);
    free_jobs(au.jobs, rs->nrules);
    return rc;
}
