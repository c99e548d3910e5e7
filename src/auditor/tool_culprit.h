/*
 * tool_culprit.h: which findings get culprits, and where the probe
 * exports them.  The decision is made once, here, for the audit (which
 * asks for culprits), the reports (which show them) and `rules export`
 * (whose alerts name the top one): a rule on blocked time, blocking
 * episodes or loop lag gets the code sites that blocked the loop; the
 * GIL-contention rule gets the threads that held the GIL; a thread-pool
 * rule gets the functions that occupied the pool; utilization, backlog,
 * tasks and HTTP rules get none, because no single line causes them
 * (a saturated loop is many small callbacks, not one culprit).
 */
#ifndef TOOL_CULPRIT_H
#define TOOL_CULPRIT_H

#include <stdbool.h>
#include <stddef.h>

#include "aa/result.h"
#include "aa/rules.h"

/* Where the probe exports the culprits of one kind. */
typedef struct tool_culprit_source {
    aa_site_kind kind;
    /* the counter charged per culprit and group, read as its increase
     * over the window */
    const char *counter;
    /* the labels that name one culprit besides the group's, NULL-ended:
     * site; thread and site; executor, function and site */
    const char *const *keys;
    /* the info series (value 1) carrying chain, class and hint for the
     * same keys; NULL when the kind has none */
    const char *info;
    /* in messages: "blocking sites", "GIL holders", "pool functions" */
    const char *what;
} tool_culprit_source;

/* The labels of an info series that describe a culprit, NULL-ended. */
extern const char *const tool_culprit_info_labels[];

/* The source of the culprits of rule's findings; NULL when its findings
 * get none.  A structured rule is decided by its metric, a raw one by
 * the first probe metric its query names. */
const tool_culprit_source *tool_rule_culprits(const aa_rule *rule);

/* "blocking", "gil_holder", "pool_function": the kind's name in the JSON
 * report. */
const char *tool_culprit_kind_name(aa_site_kind kind);

#endif
