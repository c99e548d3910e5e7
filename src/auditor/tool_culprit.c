/*
 * tool_culprit.c: which findings get culprits (tool_culprit.h), as two
 * tables: the probe's culprit series per kind, and the rule metrics each
 * kind explains.  Adding a metric that a kind explains is one row.
 */
#include "tool_culprit.h"

#include <string.h>

static const char *const site_keys[] = {"site", NULL};
static const char *const gil_keys[] = {"thread", "site", NULL};
static const char *const pool_keys[] = {"executor", "function", "site", NULL};

const char *const tool_culprit_info_labels[] = {"chain", "class", "hint",
                                                NULL};

static const tool_culprit_source sources[] = {
    {AA_SITE_BLOCKING, "python_asyncio_block_site_seconds_total", site_keys,
     "python_asyncio_block_site_info", "blocking sites"},
    {AA_SITE_GIL_HOLDER, "python_asyncio_gil_holder_seconds_total", gil_keys,
     "python_asyncio_gil_holder_info", "GIL holders"},
    {AA_SITE_POOL_FUNCTION,
     "python_asyncio_executor_function_run_seconds_total", pool_keys, NULL,
     "pool functions"},
};

/* The rule metrics each kind explains; a name ending in '_' is a prefix.
 * Checked in order, so a specific name comes before a prefix that would
 * also match it. */
static const struct {
    const char *metric;
    aa_site_kind kind;
} explained[] = {
    {"python_asyncio_loop_gil_wait_duration_seconds", AA_SITE_GIL_HOLDER},
    {"python_asyncio_loop_block_duration_seconds", AA_SITE_BLOCKING},
    {"python_asyncio_loop_current_block_seconds", AA_SITE_BLOCKING},
    {"python_asyncio_loop_lag_seconds", AA_SITE_BLOCKING},
    {"python_asyncio_block_site_seconds_total", AA_SITE_BLOCKING},
    {"python_asyncio_gil_holder_seconds_total", AA_SITE_GIL_HOLDER},
    {"python_asyncio_executor_", AA_SITE_POOL_FUNCTION},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const tool_culprit_source *source_of(aa_site_kind kind)
{
    for (size_t i = 0; i < NELEM(sources); i++) {
        if (sources[i].kind == kind) {
            return &sources[i];
        }
    }
    return NULL;
}

static bool names(const char *metric, const char *entry)
{
    size_t n = strlen(entry);

    if (entry[n - 1] == '_') {
        return strncmp(metric, entry, n) == 0;
    }
    return strcmp(metric, entry) == 0;
}

const tool_culprit_source *tool_rule_culprits(const aa_rule *rule)
{
    for (size_t i = 0; i < NELEM(explained); i++) {
        if (rule->metric != NULL ? names(rule->metric, explained[i].metric)
            : rule->query != NULL
                ? strstr(rule->query, explained[i].metric) != NULL
                : false) {
            return source_of(explained[i].kind);
        }
    }
    return NULL;
}

const char *tool_culprit_kind_name(aa_site_kind kind)
{
    switch (kind) {
    case AA_SITE_BLOCKING:
        return "blocking";
    case AA_SITE_GIL_HOLDER:
        return "gil_holder";
    case AA_SITE_POOL_FUNCTION:
        return "pool_function";
    }
    return "blocking";
}
