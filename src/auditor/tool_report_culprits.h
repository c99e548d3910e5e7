/*
 * tool_report_culprits.h: the one culprit model every report format
 * renders, and the text pieces they share.  A rule result holds the
 * culprits of each breaching group (aa_site); a report shows each culprit
 * once, in a section of its own, with every group and rule it explains,
 * and a finding only refers to it ("#1 app.py:15 refresh_fx_rate"), so
 * the same list is not repeated under every finding.  Culprits are
 * numbered in the order the findings show them: critical rules first,
 * then warnings, each in rule order, then group by group, worst first.
 * The pieces are plain text; each writer escapes them for its format.
 */
#ifndef TOOL_REPORT_CULPRITS_H
#define TOOL_REPORT_CULPRITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "aa/result.h"

/* One group a culprit was found for, and the rules that found it there. */
typedef struct tool_culprit_group {
    const aa_labels *labels; /* borrowed from the first aa_site */
    double seconds;          /* the largest the rules saw */
    double share;            /* pool functions: the same rule's share */
    const aa_rule_result **rules;
    size_t nrules;
} tool_culprit_group;

/* A culprit of the report: one kind, site, thread, executor, function. */
typedef struct tool_culprit {
    const aa_site *s; /* the first entry: kind and the naming fields */
    /* from the first entry that has them; NULL when none has */
    const char *chain, *cls, *hint;
    double seconds; /* the largest of its groups' */
    tool_culprit_group *groups;
    size_t ngroups;
    const aa_rule_result **rules; /* every rule it explains, report order */
    size_t nrules;
} tool_culprit;

typedef struct tool_culprits {
    tool_culprit *v;
    size_t n;
} tool_culprits;

/* The culprits of r's findings (borrowing from r, which must outlive
 * *out) into *out, which the caller zeroed.  AA_ENOMEM only (*out is then
 * released). */
int tool_culprits_collect(const aa_report *r, tool_culprits *out);
void tool_culprits_free(tool_culprits *c);

/* The index in c of the culprit of s (an entry of a rule result of the
 * report c was collected from); c->n when it is not there. */
size_t tool_culprits_find(const tool_culprits *c, const aa_site *s);

/* The culprit's name, its line first: "app.py:15 refresh_fx_rate";
 * "app.py:40 recompute in thread fx-refresher"; "invoices at app.py:12
 * (pool anyio)".  Into buf; returns buf. */
char *tool_culprit_title(const aa_site *s, char *buf, size_t size);

/* What a culprit cost a group: "12.5s blocked"; "2.1s of GIL wait";
 * "61% of pool time, 30.5s", or "30.5s of pool time" without a share.
 * Into buf; returns buf. */
char *tool_culprit_amount(aa_site_kind kind, double seconds, double share,
                          char *buf, size_t size);

/* A group as findings name it: "worker 4123", with ", loop main" when
 * the group has a loop label; else its labels ("{instance=\"a\"}"), or
 * "all series" when it has none.  Into buf; returns buf. */
char *tool_fmt_group(const aa_labels *ls, char *buf, size_t size);

/* When s (a series of rr) has a worker label: "worker 4123: 61% blocked"
 * (the group, the value in the rule's unit, what it measures) into buf,
 * true; otherwise false and buf is left alone. */
bool tool_fmt_worker_breach(const aa_rule_result *rr,
                            const aa_series_result *s, char *buf, size_t size);

/* Whether a series result breaches (warning or critical). */
bool tool_series_breaches(const aa_series_result *s);

#endif
