/*
 * tool_local.c: the entry of an audit without Prometheus (contract
 * §4): the samples come from scraping (--scrape, tool_scrape.c) or from a
 * recording (--samples, tool_samples.c) into an in-memory store, which
 * the local backend (tool_backend_local.c) evaluates for the audit
 * (tool_audit.c), the same audit as against Prometheus.
 *
 * Choices (documented in docs/scrape-mode.md):
 * - The evaluation window is the scrape span (first scrape to last) or
 *   the recording's span, unless --start/--end or --window say otherwise
 *   (--window ends at the last sample).  The rule file's window is not
 *   used here: the data has its own span.
 * - The data's scrape interval, the default step, is --interval in scrape
 *   mode and the recording's own in samples mode.
 */
#include <stdlib.h>
#include <string.h>

#include "aa/result.h"
#include "aa/tsdb.h"
#include "tool_audit.h"
#include "tool_backend.h"
#include "tool_cfg.h"
#include "tool_samples.h"
#include "tool_scrape.h"

/* The store behind the last report: the report borrows it (the HTML
 * report charts it), so it lives until tool_local_cleanup(). */
static aa_tsdb *local_db;

void tool_local_cleanup(void)
{
    aa_tsdb_free(local_db);
    local_db = NULL;
}

/* Loads --samples into db and its span.  0 or an aa_exit code after
 * printing why. */
static int load_samples(const tool_config *cfg, aa_tsdb *db, int64_t *start_ms,
                        int64_t *end_ms)
{
    char buf[1024];
    aa_diag diag;
    int rc;

    rc = tool_samples_load(cfg->samples_path, db, &diag);
    if (rc != AA_OK) {
        tool_error("--samples %s", aa_diag_format(&diag, buf, sizeof(buf)));
        return rc == AA_EIO ? AA_EXIT_USAGE : AA_EXIT_CONFIG;
    }
    if (aa_tsdb_time_range(db, start_ms, end_ms) != AA_OK) {
        tool_error("--samples %s: the recording holds no samples",
                   cfg->samples_path);
        return AA_EXIT_UNKNOWN;
    }
    return 0;
}

/* The window from the data's span [*start_ms, *end_ms] and the flags. */
static void resolve_window(const tool_config *cfg, int64_t *start_ms,
                           int64_t *end_ms)
{
    if (cfg->has_end) {
        *end_ms = cfg->end_ms;
    }
    if (cfg->has_start) {
        *start_ms = cfg->start_ms;
    } else if (cfg->window_ms > 0) {
        *start_ms = *end_ms - cfg->window_ms;
    }
    if (*end_ms - *start_ms <= 0) {
        /* One scrape: a 1 ms window still lets gauge stats see it. */
        *start_ms = *end_ms - 1;
    }
}

/* The report of a local audit, without its rule results.  NULL on OOM. */
static aa_report *new_report(const tool_config *cfg, const aa_ruleset *rs,
                             const tool_scrape_result *scraped)
{
    aa_report *r = calloc(1, sizeof(*r));

    if (r == NULL ||
        (r->rules = calloc(rs->nrules + 1, sizeof(*r->rules))) == NULL) {
        free(r);
        return NULL;
    }
    r->nrules = rs->nrules;
    r->mode = aa_strdup(cfg->samples_path != NULL ? "samples" : "scrape");
    r->target = aa_strdup(cfg->samples_path != NULL ? cfg->samples_path
                                                    : scraped->targets);
    r->scrapes_ok = scraped->ok;
    r->scrapes_failed = scraped->failed;
    if (r->mode == NULL || r->target == NULL) {
        aa_report_free(r);
        return NULL;
    }
    return r;
}

int tool_check_local(const tool_config *cfg, const aa_ruleset *rs,
                     aa_report **out, bool *incomplete)
{
    tool_scrape_result scraped;
    tool_backend *b = NULL;
    aa_report *r = NULL;
    aa_tsdb *db = NULL;
    int64_t start_ms = 0, end_ms = 0, interval_ms;
    bool config_error = false, unreachable = false;
    int exit_rc = 0, rc;

    *out = NULL;
    *incomplete = false;
    memset(&scraped, 0, sizeof(scraped));
    tool_local_cleanup();
    if (aa_tsdb_new(&db) != AA_OK) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        return AA_EXIT_UNKNOWN;
    }
    if (cfg->samples_path != NULL) {
        exit_rc = load_samples(cfg, db, &start_ms, &end_ms);
        interval_ms = aa_tsdb_scrape_interval(db);
    } else {
        exit_rc = tool_scrape(cfg, rs, db, &scraped);
        if (exit_rc == AA_EXIT_COMMAND_FAILED && scraped.first_ms >= 0) {
            exit_rc = 0; /* the audit runs; 4 is returned at the end */
        }
        unreachable = scraped.ok == 0;
        start_ms = scraped.first_ms;
        end_ms = scraped.last_ms;
        interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 1000;
    }
    if (exit_rc != 0) {
        goto out;
    }
    resolve_window(cfg, &start_ms, &end_ms);
    exit_rc = AA_EXIT_UNKNOWN;
    r = new_report(cfg, rs, &scraped);
    if (r == NULL ||
        tool_backend_local_new(db, interval_ms,
                               cfg->samples_path != NULL ? "the recording"
                                                         : "--interval",
                               &b) != AA_OK) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        goto out;
    }
    r->start_ms = start_ms;
    r->end_ms = end_ms;
    rc = tool_audit_run(cfg, rs, b, end_ms, end_ms - start_ms, r,
                        &config_error, incomplete);
    if (rc != AA_OK) {
        if (rc == AA_ENOMEM) {
            tool_error("%s", aa_strerror(AA_ENOMEM));
        }
        goto out;
    }
    *incomplete = *incomplete || unreachable;
    r->tsdb = db;
    local_db = db;
    db = NULL;
    *out = r;
    r = NULL;
    exit_rc = config_error             ? AA_EXIT_CONFIG
              : scraped.command_failed ? AA_EXIT_COMMAND_FAILED
                                       : 0;
out:
    tool_backend_free(b);
    aa_report_free(r);
    aa_tsdb_free(db);
    tool_scrape_result_clear(&scraped);
    return exit_rc;
}
