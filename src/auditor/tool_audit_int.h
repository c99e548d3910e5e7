/*
 * tool_audit_int.h: the state shared by the audit's files, internal to
 * them: tool_audit.c (planning, the step, judging), tool_audit_sites.c
 * (culprit sites) and tool_audit_why.c (why a rule has no data).
 */
#ifndef TOOL_AUDIT_INT_H
#define TOOL_AUDIT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "aa/result.h"
#include "aa/rules.h"
#include "tool_backend.h"
#include "tool_cfg.h"

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
    tool_answer main;
    /* culprit sites: the question (shared by rules asking the same) */
    aa_rule sites_rule;
    char **sites_by;
    long sites_of; /* the job whose sites answer this one reads; -1 */
    tool_answer sites;
    /* why an empty structured rule is empty */
    aa_rule inwin_rule;
    char *name;     /* the series the rule reads (metric + suffix) */
    bool diagnosed; /* the questions below were asked */
    bool matched;   /* has matchers: "match" differs from "exists" */
    tool_answer exists, match, inwin;
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

/* tool_audit_sites.c: submits the culprit-site question of every asked
 * rule on an event-loop metric (rules asking the same share one), to be
 * answered with the rule questions.  AA_ENOMEM only. */
int tool_audit_ask_sites(tool_audit *au);

/* tool_audit_sites.c: the sites of the worst group of a breaching rule
 * into its result, worst first.  AA_ENOMEM only. */
int tool_audit_attach_sites(const tool_audit *au, tool_job *j);

/* tool_audit_why.c: for every empty rule, asks the backend why (one more
 * run) and says so in the rule's message.  AA_ENOMEM, or AA_EIO after
 * printing why the run failed. */
int tool_audit_explain(tool_audit *au);

#endif
