/*
 * tool_report_charts.h: the HTML report's charts (tool_report_charts.c),
 * drawn from the report model's per-rule aa_chart in every mode.
 */
#ifndef TOOL_REPORT_CHARTS_H
#define TOOL_REPORT_CHARTS_H

#include <stdio.h>

#include "aa/result.h"

/* The "Signals over time" section: one SVG chart per rule whose chart
 * was asked for, or a note saying why there is none. */
void tool_html_charts(const aa_report *r, FILE *fp);

#endif
