/*
 * tool_export.h: the Grafana writer of `rules export`, which
 * tool_export.c dispatches to.  Both formats take a rule's unit from
 * tool_rule_unit() (tool_report.h), as the reports do: alert annotations
 * humanize values by it, dashboard panels are drawn in it.
 */
#ifndef TOOL_EXPORT_H
#define TOOL_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "aa/rules.h"
#include "tool_cfg.h"
#include "tool_report.h"

/*
 * `rules export FILE --format grafana`: writes to fp a Grafana dashboard
 * with one panel per rule of rs, each panel's query being the rule's
 * compiled PromQL (tool_grafana.c).  Returns an aa_exit code (errors
 * already printed).
 */
int tool_export_grafana(const tool_config *cfg, const aa_ruleset *rs,
                        int64_t window, FILE *fp);

#endif
