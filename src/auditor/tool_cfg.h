/*
 * tool_cfg.h: the parsed command line of async-auditor, shared by the
 * front end's files (tool_*.c).  Strings point into argv or are owned by
 * the config and freed by tool_config_free().
 */
#ifndef TOOL_CFG_H
#define TOOL_CFG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "aa/result.h"
#include "aa/rules.h"

typedef enum tool_format {
    TOOL_FORMAT_TEXT,
    TOOL_FORMAT_JSON,
    TOOL_FORMAT_JUNIT,
    TOOL_FORMAT_MARKDOWN,
    TOOL_FORMAT_GITHUB
} tool_format;

typedef enum tool_command {
    TOOL_CMD_CHECK,
    TOOL_CMD_RULES_LINT,
    TOOL_CMD_RULES_EXPORT
} tool_command;

typedef struct tool_config {
    tool_command command;
    const char *config_path; /* NULL: the built-in default pack */
    const char *rules_file;  /* rules lint/export FILE */
    const char *export_format;

    /* where the data comes from: exactly one of these */
    const char *target;       /* --target URL */
    const char **scrape_urls; /* --scrape URL (repeatable) */
    size_t nscrape;
    const char *samples_path; /* --samples FILE */

    int64_t duration_ms;    /* --duration */
    int64_t interval_ms;    /* --interval, default 1s */
    const char *scrape_job; /* --job: scraped series' job; NULL: default */
    char **command_argv;    /* after "--", NULL-terminated, or NULL */
    const char *save_samples_path;

    int64_t window_ms; /* --window; 0: from the rule file, else 5m */
    bool has_start, has_end;
    int64_t start_ms, end_ms; /* --start/--end */
    const char *selector_text;
    aa_matchers selector; /* parsed --selector */
    aa_gate gate;
    int64_t step_ms; /* --step; 0: default */

    tool_format format; /* stdout */
    const char *json_path, *junit_path, *markdown_path, *html_path;

    const char *bearer_token_file;
    const char *basic_auth_user;
    const char *basic_auth_password_file;
    const char **headers; /* "Name: value" */
    size_t nheaders;
    const char *ca_file, *cert_file, *key_file;
    bool insecure;

    int64_t timeout_ms; /* per query, default 30s */
    int retries;        /* default 2 */

    bool color;    /* resolved: TTY and no NO_COLOR/--no-color */
    int verbosity; /* -1 quiet, 0 normal, 1 verbose */
} tool_config;

/* Parses argv into cfg (zeroed by the caller).  Returns AA_EXIT_OK, or
 * AA_EXIT_USAGE after printing the reason; *done is set when --help or
 * --version was handled and the program should exit with the code. */
int tool_config_parse(tool_config *cfg, int argc, char **argv, bool *done);
void tool_config_free(tool_config *cfg);

/* "async-auditor: error: <what>: <why>" to stderr. */
void tool_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
void tool_warn(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Replaces the malloc'd string *slot with the formatted text, cut at 2
 * KiB (a backend error of many kilobytes keeps its start).  Returns AA_OK,
 * or AA_ENOMEM leaving the old string in place.  Every message a result
 * or an answer carries is set through this. */
int tool_vset_text(char **slot, const char *fmt, va_list ap);
/* tool_vset_text() on rr->message. */
int tool_set_message(aa_rule_result *rr, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Only with -v. */
void tool_verbose(const tool_config *cfg, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Evaluates rs against cfg->target (Prometheus HTTP API): tool_check.c,
 * over tool_backend_prom.c and the audit of tool_audit.c.  Returns 0 or
 * an aa_exit code (already reported; AA_EXIT_CONFIG comes with *out
 * filled when a rule's query was rejected).  *incomplete is set when the
 * audit could not be completed. */
int tool_check_prometheus(const tool_config *cfg, const aa_ruleset *rs,
                          aa_report **out, bool *incomplete);

/* Evaluates rs over scraped (tool_scrape.c) or recorded (tool_samples.c)
 * samples: tool_local.c, over tool_backend_local.c and the audit of
 * tool_audit.c.  Returns 0 or an aa_exit code (already reported);
 * AA_EXIT_COMMAND_FAILED (the "-- COMMAND" failed, the audit ran) and
 * AA_EXIT_CONFIG (a rule could not be asked) come with *out filled. */
int tool_check_local(const tool_config *cfg, const aa_ruleset *rs,
                     aa_report **out, bool *incomplete);
/* Frees the sample store that the last local report borrows (report->
 * tsdb); call after the reports are written.  Safe to call always. */
void tool_local_cleanup(void);

/* `rules lint FILE`: tool_lint.c.  Returns an aa_exit code. */
int tool_rules_lint(const tool_config *cfg);
/* `rules export FILE --format prometheus`: tool_export.c. */
int tool_rules_export(const tool_config *cfg);

/* The evaluation window when neither --window nor the rule file sets
 * one (contract §4). */
#define TOOL_DEFAULT_WINDOW_MS ((int64_t)5 * 60 * 1000)

/* The window rules are compiled for by lint and export: --window, else
 * the rule file's window:, else TOOL_DEFAULT_WINDOW_MS (tool_lint.c). */
int64_t tool_rules_window(const tool_config *cfg, const aa_ruleset *rs);

/* Compiles rule r of rs to PromQL for window into *out (malloc'd; NULL
 * on failure) with --selector added.  On failure prints an error naming
 * the rule file, line, column and rule, and returns AA_EXIT_CONFIG
 * (tool_lint.c). */
int tool_compile_rule(const tool_config *cfg, const aa_ruleset *rs,
                      const aa_rule *r, int64_t window, char **out);

/* The probe's culprit-site counter (the dashboard's "Top blocking
 * sites"); which findings get which culprits: tool_culprit.h. */
#define TOOL_SITE_METRIC "python_asyncio_block_site_seconds_total"

/* Loads cfg->config_path, or the built-in pack; prints the diag and
 * returns AA_EXIT_CONFIG on failure (tool_lint.c). */
int tool_load_rules(const tool_config *cfg, aa_ruleset **out);

/* The self-contained HTML report (--html FILE): tool_report_html.c.
 * Returns 0, or AA_EIO when writing to fp failed. */
int tool_report_html(const tool_config *cfg, const aa_report *r, FILE *fp);

/* Checks every output path (--json, --junit, --markdown, --html,
 * --save-samples) before the run: AA_EXIT_OK, or AA_EXIT_USAGE after
 * printing which flag and path cannot be written, and why. */
int tool_reports_preflight(const tool_config *cfg);

/* Writes the stdout report and every --json/--junit/... file.  Returns
 * -1 when any of them was lost (already reported), else 0. */
int tool_reports_write(const tool_config *cfg, const aa_report *r);

#endif
