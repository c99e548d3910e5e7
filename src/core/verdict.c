/*
 * verdict.c: names of verdicts and statuses, the overall status of a
 * report, the exit-code policy of contract §6, and releasing results.
 * The exit-code policy is what CI pipelines act on, so it lives in one
 * function with the table below as its contract.
 */
#include "aa/result.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *aa_verdict_name(aa_verdict v)
{
    switch (v) {
    case AA_VERDICT_OK:
        return "ok";
    case AA_VERDICT_NOT_APPLICABLE:
        return "not_applicable";
    case AA_VERDICT_NO_DATA:
        return "no_data";
    case AA_VERDICT_ERROR:
        return "error";
    case AA_VERDICT_WARNING:
        return "warning";
    case AA_VERDICT_CRITICAL:
        return "critical";
    }
    return "unknown";
}

const char *aa_status_name(aa_status s)
{
    switch (s) {
    case AA_STATUS_HEALTHY:
        return "HEALTHY";
    case AA_STATUS_UNKNOWN:
        return "UNKNOWN";
    case AA_STATUS_DEGRADED:
        return "DEGRADED";
    case AA_STATUS_CRITICAL:
        return "CRITICAL";
    }
    return "UNKNOWN";
}

/*
 * Which verdicts occur among r's rules.  With a gate, a no_data or error
 * rule does not count as unknown when --allow-unknown is given or the
 * rule says no_data: ok.  not_applicable counts as ok, always.
 */
static void scan(const aa_report *r, const aa_gate *g, bool *crit, bool *warn,
                 bool *unknown)
{
    size_t i;

    *crit = *warn = *unknown = false;
    for (i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];

        switch (rr->verdict) {
        case AA_VERDICT_CRITICAL:
            *crit = true;
            break;
        case AA_VERDICT_WARNING:
            *warn = true;
            break;
        case AA_VERDICT_NO_DATA:
        case AA_VERDICT_ERROR:
            if (g == NULL ||
                (!g->allow_unknown &&
                 !(rr->rule != NULL && rr->rule->no_data == AA_NODATA_OK))) {
                *unknown = true;
            }
            break;
        case AA_VERDICT_OK:
        case AA_VERDICT_NOT_APPLICABLE:
            break;
        }
    }
}

/*
 * CRITICAL if any rule is critical, else DEGRADED if any is a warning, else
 * UNKNOWN if any has no data or an error, else HEALTHY (also for a report
 * without rules; not_applicable counts as ok).  NULL is UNKNOWN.
 */
aa_status aa_report_status(const aa_report *r)
{
    bool crit, warn, unknown;

    if (r == NULL) {
        return AA_STATUS_UNKNOWN;
    }
    scan(r, NULL, &crit, &warn, &unknown);
    if (crit) {
        return AA_STATUS_CRITICAL;
    }
    if (warn) {
        return AA_STATUS_DEGRADED;
    }
    return unknown ? AA_STATUS_UNKNOWN : AA_STATUS_HEALTHY;
}

/*
 * contract §6, in order of precedence:
 *   incomplete audit (or no report)                       -> 3, any flags
 *   a gate is set and a rule is critical                  -> 2
 *   --fail-on-warning and a rule is a warning             -> 1
 *   a gate is set, a rule is no_data/error, the rule does
 *   not say no_data: ok and --allow-unknown is not given  -> 3
 *   otherwise                                             -> 0
 * "A gate is set" means --fail-on-critical or --fail-on-warning.  Usage
 * (64), configuration (78) and command (4) failures are decided before an
 * audit runs and never come from here.
 */
aa_exit aa_exit_code(const aa_report *r, const aa_gate *g, bool incomplete)
{
    bool crit, warn, unknown;

    if (incomplete || r == NULL) {
        return AA_EXIT_UNKNOWN;
    }
    if (g == NULL || !(g->fail_on_critical || g->fail_on_warning)) {
        return AA_EXIT_OK;
    }
    scan(r, g, &crit, &warn, &unknown);
    if (crit) {
        return AA_EXIT_CRITICAL;
    }
    if (warn && g->fail_on_warning) {
        return AA_EXIT_WARNING;
    }
    if (unknown) {
        return AA_EXIT_UNKNOWN;
    }
    return AA_EXIT_OK;
}

/* Frees everything rr owns and zeroes it; the rule stays borrowed. */
void aa_rule_result_clear(aa_rule_result *rr)
{
    size_t i;

    if (rr == NULL) {
        return;
    }
    free(rr->query);
    free(rr->message);
    for (i = 0; i < rr->nwarnings; i++) {
        free(rr->warnings[i]);
    }
    free(rr->warnings);
    for (i = 0; i < rr->nseries; i++) {
        aa_labels_clear(&rr->series[i].labels);
    }
    free(rr->series);
    for (i = 0; i < rr->nsites; i++) {
        aa_site_clear(&rr->sites[i]);
    }
    free(rr->sites);
    aa_matrix_clear(&rr->chart.lines);
    free(rr->chart.message);
    memset(rr, 0, sizeof(*rr));
}

void aa_report_free(aa_report *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->nrules; i++) {
        aa_rule_result_clear(&r->rules[i]);
    }
    free(r->rules);
    free(r->target);
    free(r->mode);
    free(r);
}
