/*
 * tool_report.h: the report writers (one file per format) and the small
 * formatting helpers they share, so that every format shows the same value
 * with the same unit and the same time stamps.  Each writer renders a
 * finished aa_report (borrowed) to fp and returns 0, or AA_EIO when
 * writing failed (the caller names the file).
 */
#ifndef TOOL_REPORT_H
#define TOOL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "aa/result.h"
#include "tool_cfg.h"

int tool_report_text(const tool_config *cfg, const aa_report *r, FILE *fp);
int tool_report_json(const tool_config *cfg, const aa_report *r, FILE *fp);
int tool_report_junit(const tool_config *cfg, const aa_report *r, FILE *fp);
int tool_report_markdown(const tool_config *cfg, const aa_report *r, FILE *fp);
int tool_report_github(const tool_config *cfg, const aa_report *r, FILE *fp);

/* errno of the failed write when tool_reports_write could not write the
 * stdout report, else 0 (stdout's error flag tells the caller it failed). */
int tool_report_stdout_errno(void);

typedef enum tool_unit {
    TOOL_UNIT_NONE,    /* a plain number */
    TOOL_UNIT_SECONDS, /* shown as 120ms below 1 s, else 1.5s */
    TOOL_UNIT_PERCENT  /* a ratio shown as 12.5% */
} tool_unit;

/* The unit a rule's values are in: from its thresholds' units ("250ms",
 * "5%"), else from a *_seconds metric's latency-like stat. */
tool_unit tool_rule_unit(const aa_rule *rule);

/* A value in the rule's unit ("120ms", "1.5s", "12.5%", "42", "NaN",
 * "+Inf") into buf; returns buf. */
char *tool_fmt_value(const aa_rule *rule, double v, char *buf, size_t size);

/* Seconds as "120ms" below 1 s, else "1.5s". */
char *tool_fmt_seconds(double v, char *buf, size_t size);

/* A number with up to 4 significant digits, no trailing zeros. */
char *tool_fmt_number(double v, char *buf, size_t size);

/* RFC 3339 in UTC ("2026-11-26T10:00:00Z", ".250" added when ms != 0). */
char *tool_fmt_time(int64_t ms, char *buf, size_t size);

/* Counts of the report's rule verdicts, indexed by aa_verdict. */
void tool_count_verdicts(const aa_report *r, size_t counts[5]);

/* The threshold a rule result is judged against for display: the crossed
 * one, else critical, else warning; NULL when the rule has none. */
const aa_threshold *tool_shown_threshold(const aa_rule_result *rr);

/* True when the rule result is a finding (warning or critical). */
bool tool_is_finding(const aa_rule_result *rr);

#endif
