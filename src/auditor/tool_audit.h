/*
 * tool_audit.h: the audit itself, the same for every data source: plan
 * each rule's question (instant, or range for "for:"), ask the backend,
 * judge, explain empty results, look up culprit sites for findings on
 * event-loop metrics, and fill the report.  The entries (tool_check.c for
 * --target, tool_local.c for --scrape/--samples) only choose the backend
 * and the window.
 */
#ifndef TOOL_AUDIT_H
#define TOOL_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "aa/result.h"
#include "aa/rules.h"
#include "tool_backend.h"
#include "tool_cfg.h"

/*
 * Audits every rule of rs on b at end_ms over window_ms into r, whose
 * rules array holds rs->nrules zeroed results (target, mode and window
 * are the caller's).  Fills each rule's result, r->step_ms and r->status.
 *
 * The step of "for:" rules is --step, else the backend's scrape interval
 * (asked in the first batch), else 15 s; a step not given by the user is
 * widened so that the longest "for" spans at most 10000 steps.
 *
 * Returns AA_OK, AA_ENOMEM, or AA_EIO after printing why a batch could
 * not run.  *config_error is set when a rule's question was rejected as
 * invalid (printed; exit 78); *incomplete when every rule's question
 * failed (printed; exit 3).
 */
int tool_audit_run(const tool_config *cfg, const aa_ruleset *rs,
                   tool_backend *b, int64_t end_ms, int64_t window_ms,
                   aa_report *r, bool *config_error, bool *incomplete);

#endif
