/*
 * tool_scrape.h: scraping for scrape mode (tool_scrape.c): the targets
 * of --scrape are read on a schedule, for --duration or while the command
 * after "--" runs, into an in-memory store that the local backend then
 * evaluates (tool_local.c).
 */
#ifndef TOOL_SCRAPE_H
#define TOOL_SCRAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "aa/rules.h"
#include "aa/tsdb.h"
#include "tool_cfg.h"

/* What a scrape run did. */
typedef struct tool_scrape_result {
    int64_t first_ms, last_ms; /* wall times of the first and last scrape;
                                  -1: none */
    unsigned ok, failed;       /* scrapes, over all targets */
    bool command_failed;       /* the command after "--" failed */
    char *targets; /* the URLs as messages show them, ", "-joined */
} tool_scrape_result;

/*
 * Scrapes cfg->scrape_urls into db (rs gives the live signal of the
 * progress line).  Returns 0, or an aa_exit code after printing why;
 * AA_EXIT_COMMAND_FAILED with *res filled when the command failed (its
 * first_ms is -1 when nothing was scraped, e.g. it could not start).
 * When every scrape failed, prints that the audit could not be
 * completed.  Release *res with tool_scrape_result_clear.
 */
int tool_scrape(const tool_config *cfg, const aa_ruleset *rs, aa_tsdb *db,
                tool_scrape_result *res);

void tool_scrape_result_clear(tool_scrape_result *res);

#endif
