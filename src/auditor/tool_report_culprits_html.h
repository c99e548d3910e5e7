/*
 * tool_report_culprits_html.h: the culprit parts of the HTML report
 * (tool_report_culprits_html.c), kept out of tool_report_html.c so that
 * the page's layout and its culprits change independently.
 */
#ifndef TOOL_REPORT_CULPRITS_HTML_H
#define TOOL_REPORT_CULPRITS_HTML_H

#include <stdio.h>

#include "tool_report_culprits.h"

/* Under a finding: its breaching workers ("worker 4123: 61% blocked")
 * and its culprits by number, each linking to its entry in the Culprits
 * section, with the groups it was found for. */
void tool_html_culprit_refs(FILE *fp, const tool_culprits *cs,
                            const aa_rule_result *rr);

/* The Culprits section (nothing when cs is empty). */
void tool_html_culprits(FILE *fp, const tool_culprits *cs);

#endif
