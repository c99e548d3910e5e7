/*
 * tool_main.c: async-auditor's entry point.  It only sequences the other
 * files: parse the command line, dispatch the subcommand, run the audit,
 * write the reports, and turn the outcome into the exit code of contract
 * section 6.  Every output path is checked before the audit starts, so a
 * mistyped path costs a second, not a whole run.  A report that could
 * still not be written (standard output included) never lets a run exit
 * 0: a CI job must not pass on a lost report, so that case exits 3 (the
 * audit could not be completed) unless the gate already failed with 1 or
 * 2 or a query was rejected (78).  Likewise a failed "-- COMMAND" in
 * scrape mode exits 4 only when the gate itself passed and nothing was
 * lost.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "aa/result.h"
#include "aa/rules.h"
#include "tool_cfg.h"
#include "tool_report.h"
#include "tool_samples.h"

/* Turns a failed report write into exit 3 without hiding a breach (1,
 * 2) or an error that says more (64, 78); it outranks 0 and a failed
 * command's 4, as the gate's own 3 does. */
static int output_failed(int code)
{
    if (code == AA_EXIT_OK || code == AA_EXIT_COMMAND_FAILED) {
        return AA_EXIT_UNKNOWN;
    }
    return code;
}

static int run_check(const tool_config *cfg)
{
    aa_ruleset *rs = NULL;
    aa_report *report = NULL;
    bool incomplete = false;
    int rc, code;

    rc = tool_load_rules(cfg, &rs);
    if (rc != AA_EXIT_OK) {
        return rc;
    }
    if (cfg->target != NULL) {
        rc = tool_check_prometheus(cfg, rs, &report, &incomplete);
    } else {
        rc = tool_check_local(cfg, rs, &report, &incomplete);
    }
    if (report == NULL) {
        code = rc != AA_EXIT_OK ? rc : AA_EXIT_UNKNOWN;
        goto out;
    }
    code = (int)aa_exit_code(report, &cfg->gate, incomplete);
    if (rc == AA_EXIT_COMMAND_FAILED) {
        /* the gate's 1, 2 or 3 says more than "the command failed" */
        code = code != AA_EXIT_OK ? code : rc;
    } else if (rc != AA_EXIT_OK) {
        code = rc;
    }
    if (tool_reports_write(cfg, report) != 0) {
        code = output_failed(code);
    }
    /* the recording is one more output: written after the reports, so
     * losing it loses nothing else */
    if (cfg->save_samples_path != NULL && report->tsdb != NULL) {
        aa_diag d;
        char buf[1024];

        aa_diag_clear(&d);
        if (tool_samples_save(cfg->save_samples_path, report->tsdb, &d) !=
            AA_OK) {
            tool_error("--save-samples %s",
                       aa_diag_format(&d, buf, sizeof(buf)));
            code = output_failed(code);
        }
    }
out:
    aa_report_free(report);
    tool_local_cleanup();
    aa_ruleset_free(rs);
    return code;
}

int main(int argc, char **argv)
{
    tool_config cfg;
    bool done = false;
    int code;

    memset(&cfg, 0, sizeof(cfg));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tool_error("libcurl: initialisation failed");
        return AA_EXIT_UNKNOWN;
    }
    code = tool_config_parse(&cfg, argc, argv, &done);
    if (code != AA_EXIT_OK || done) {
        goto out;
    }
    switch (cfg.command) {
    case TOOL_CMD_RULES_LINT:
        code = tool_rules_lint(&cfg);
        break;
    case TOOL_CMD_RULES_EXPORT:
        code = tool_rules_export(&cfg);
        break;
    case TOOL_CMD_CHECK:
        code = tool_reports_preflight(&cfg);
        if (code == AA_EXIT_OK) {
            code = run_check(&cfg);
        }
        break;
    }
out:
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int err = tool_report_stdout_errno();

        err = err != 0 ? err : errno;
        if (err != 0) {
            tool_error("standard output: write error: %s", strerror(err));
        } else {
            tool_error("standard output: write error");
        }
        code = output_failed(code);
    }
    tool_config_free(&cfg);
    curl_global_cleanup();
    return code;
}
