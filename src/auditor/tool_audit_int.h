/*
 * tool_audit_int.h: the state shared by the audit's files, internal to
 * them: tool_audit.c (planning, the step, judging), tool_audit_sites.c
 * (culprit sites), tool_audit_why.c (why a rule has no data, whether it
 * applies) and tool_audit_charts.c (the values over the window).
 */
#ifndef TOOL_AUDIT_INT_H
#define TOOL_AUDIT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "aa/quantile.h"
#include "aa/result.h"
#include "aa/rules.h"
#include "tool_backend.h"
#include "tool_cfg.h"
#include "tool_culprit.h"

/* One rule of the audit and every question asked for it. */
typedef struct tool_job {
    const aa_rule *rule;
    aa_rule_result *rr;
    char what[160];      /* "rule <id>", for messages */
    bool range;          /* has "for": a range question, aa_judge_matrix */
    int64_t range_start; /* range questions: the first step */
    bool asked;          /* its question was submitted */
    bool empty;          /* answered with no series at all */
    bool failed;         /* the backend could not answer */
    /* a stat computed from the bucket rates (pNN, share_above): the
     * bucket question is asked in the rule's place (quantile.h) */
    bool buckets;
    aa_bucket_rule bucket_rule;
    tool_answer main;
    /* culprits (tool_audit_sites.c): where they come from (NULL: the
     * rule's findings get none), the counter's question and the info
     * series' question (shared by rules asking the same) */
    const tool_culprit_source *src;
    aa_rule sites_rule, info_rule;
    char **sites_by, **info_by;
    long sites_of; /* the job whose culprit answers this one reads; -1 */
    tool_answer sites, info;
    /* why an empty structured rule is empty */
    aa_rule inwin_rule;
    char *name;     /* the series the rule reads (metric + suffix) */
    bool diagnosed; /* the questions below were asked */
    bool matched;   /* has matchers: "match" differs from "exists" */
    tool_answer exists, match, inwin;
    /* "unmeasured_on": the loops the data comes from (probe info), and
     * the answer this job reads (its own, or an earlier job's with the
     * same "where"; NULL when not asked) */
    tool_answer loops;
    const tool_answer *loops_of;
    /* the rule's value over the window, for charts */
    tool_answer chart;
} tool_job;

typedef struct tool_audit {
    const tool_config *cfg;
    const aa_ruleset *rs;
    tool_backend *b;
    aa_report *r;
    tool_job *jobs; /* one per rule of rs */
    int64_t end_ms, window_ms, step_ms;
    tool_answer interval; /* the backend's scrape interval */
    bool config_error;
} tool_audit;

/* Whether an answer is still usable (not refused at submit). */
bool tool_audit_answerable(const tool_answer *a);

/* tool_audit_sites.c: submits the culprit questions of every asked rule
 * whose findings get culprits (tool_rule_culprits; rules asking the same
 * share them), to be answered with the rule questions.  AA_ENOMEM only. */
int tool_audit_ask_sites(tool_audit *au);

/* tool_audit_sites.c: the culprits of every breaching group of a
 * breaching rule into its result.  AA_ENOMEM only. */
int tool_audit_attach_sites(const tool_audit *au, tool_job *j);

/* tool_audit_sites.c: releases what the culprit questions of j hold. */
void tool_audit_sites_clear(tool_job *j);

/* tool_audit_why.c: for every empty rule, asks the backend why (one more
 * run) and says so in the rule's message; a rule whose metric is not
 * measured on the loops found ("unmeasured_on") becomes not_applicable.
 * AA_ENOMEM, or AA_EIO after printing why the run failed. */
int tool_audit_explain(tool_audit *au);

/* tool_audit.c: the rule a job's questions ask: its bucket question for
 * a stat computed from buckets, else the rule itself. */
const aa_rule *tool_audit_asked_rule(const tool_job *j);

/*
 * tool_audit.c: the values of j's rule from a range answer to its
 * question, into *out (zeroed by the caller): the answer's series moved
 * (plain stats) or computed from its bucket rates, with *last (malloc'd,
 * parallel to out->v; NULL when every value is exact) the bound of each
 * series' last point.  AA_ENOMEM only.
 */
int tool_audit_range_values(const tool_job *j, aa_matrix *answer,
                            aa_matrix *out, aa_value_bound **last);

/* tool_audit_charts.c: submits, for every rule, its value over the
 * window at a step giving about 240 points (a range question riding with
 * the rule questions).  AA_ENOMEM only. */
int tool_audit_ask_charts(tool_audit *au);

/* tool_audit_charts.c: the chart answers into the rules' results
 * (values computed from buckets where the rule's are).  AA_ENOMEM only. */
int tool_audit_fill_charts(tool_audit *au);

#endif
