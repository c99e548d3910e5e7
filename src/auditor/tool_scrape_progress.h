/*
 * tool_scrape_progress.h: scrape mode's progress line on a terminal
 * (tool_scrape_progress.c).
 */
#ifndef TOOL_SCRAPE_PROGRESS_H
#define TOOL_SCRAPE_PROGRESS_H

#include <stdint.h>

#include "aa/rules.h"
#include "aa/tsdb.h"
#include "tool_cfg.h"

/* Rewrites the progress line on stderr: time spent and left (total_ms
 * 0: until the command exits), scrapes so far, and the worst rule over
 * the samples of the last span_ms before now_ms. */
void tool_scrape_progress(const tool_config *cfg, const aa_ruleset *rs,
                          const aa_tsdb *db, int64_t elapsed_ms,
                          int64_t total_ms, unsigned ok, unsigned failed,
                          int64_t now_ms, int64_t span_ms);

#endif
