/*
 * tool_help.c: what async-auditor says about itself, written once.  The
 * option table below is the parser's (tool_args.c) and the source of
 * --help, of the man page and of the bash and zsh completions
 * (tool_docgen.c renders those at build time), so a new option is one
 * row here plus its case in tool_args.c, and every rendering has it.
 * The texts follow contract §4; docs/cli.md is the long form.
 */
#include <stdio.h>
#include <string.h>

#include "aa/result.h"
#include "tool_cfg.h"
#include "tool_help.h"

const tool_opt tool_opts[] = {
    {.id = TOOL_OPT_TARGET,
     .name = "target",
     .arg = "URL",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_SOURCE,
     .help = "base URL of a Prometheus-compatible HTTP API (Prometheus, "
             "VictoriaMetrics, Mimir, ...)"},
    {.id = TOOL_OPT_SCRAPE,
     .name = "scrape",
     .arg = "URL",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_SOURCE,
     .repeatable = true,
     .help = "scrape this /metrics endpoint"},
    {.id = TOOL_OPT_DURATION,
     .name = "duration",
     .arg = "DUR",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_SOURCE,
     .help = "scrape mode: how long to sample"},
    {.id = TOOL_OPT_INTERVAL,
     .name = "interval",
     .arg = "DUR",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_SOURCE,
     .help = "scrape mode: time between scrapes (default 1s)"},
    {.id = TOOL_OPT_COMMAND,
     .arg = "COMMAND [ARG ...]",
     .kind = TOOL_VALUE_COMMAND,
     .section = TOOL_SEC_SOURCE,
     .help = "scrape mode: sample while COMMAND runs (the last argument of "
             "async-auditor; everything after -- is the command)"},
    {.id = TOOL_OPT_JOB,
     .name = "job",
     .arg = "NAME",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_SOURCE,
     .help = "scrape mode: the job label of scraped series that do not "
             "expose one themselves (default async-auditor)"},
    {.id = TOOL_OPT_SAVE_SAMPLES,
     .name = "save-samples",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_SOURCE,
     .help =
         "scrape mode: also write what was scraped as OpenMetrics text with "
         "timestamps"},
    {.id = TOOL_OPT_SAMPLES,
     .name = "samples",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_SOURCE,
     .help = "replay a file written by --save-samples"},

    {.id = TOOL_OPT_CONFIG,
     .name = "config",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_RULES,
     .help = "rule file (default: the built-in rule pack)"},
    {.id = TOOL_OPT_WINDOW,
     .name = "window",
     .arg = "DUR",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_RULES,
     .help =
         "evaluation window ending now (default: the rule file's window, else "
         "5m)"},
    {.id = TOOL_OPT_START,
     .name = "start",
     .arg = "TIME",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_RULES,
     .help = "start of a fixed window (needs --end)"},
    {.id = TOOL_OPT_END,
     .name = "end",
     .arg = "TIME",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_RULES,
     .help =
         "end of the window (default: now); TIME is RFC 3339 "
         "(2026-11-26T10:00:00Z, 2026-11-26T11:00:00+01:00) or Unix seconds"},
    {.id = TOOL_OPT_SELECTOR,
     .name = "selector",
     .arg = "SELECTOR",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_RULES,
     .help = "label matchers added to every structured rule, e.g. "
             "'{job=\"api\", instance=~\"web-.*\"}'"},
    {.id = TOOL_OPT_STEP,
     .name = "step",
     .arg = "DUR",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_RULES,
     .help =
         "resolution of range queries for rules with \"for:\" (default: the "
         "scrape interval, else 15s)"},

    {.id = TOOL_OPT_FAIL_CRITICAL,
     .name = "fail-on-critical",
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_GATE,
     .help = "fail when a rule is critical"},
    {.id = TOOL_OPT_FAIL_WARNING,
     .name = "fail-on-warning",
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_GATE,
     .help = "fail when a rule is a warning or critical"},
    {.id = TOOL_OPT_ALLOW_UNKNOWN,
     .name = "allow-unknown",
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_GATE,
     .help = "with a gate, let rules without data or with errors pass"},

    {.id = TOOL_OPT_FORMAT,
     .name = "format",
     .arg = "FORMAT",
     .kind = TOOL_VALUE_FORMAT,
     .section = TOOL_SEC_OUTPUT,
     .help = "what goes to standard output"},
    {.id = TOOL_OPT_JSON,
     .name = "json",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_OUTPUT,
     .help = "also write the JSON report to FILE"},
    {.id = TOOL_OPT_JUNIT,
     .name = "junit",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_OUTPUT,
     .help = "also write a JUnit XML report to FILE"},
    {.id = TOOL_OPT_MARKDOWN,
     .name = "markdown",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_OUTPUT,
     .help = "also write a Markdown summary to FILE (e.g. "
             "\"$GITHUB_STEP_SUMMARY\")"},
    {.id = TOOL_OPT_HTML,
     .name = "html",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_OUTPUT,
     .help = "also write a self-contained HTML report to FILE"},
    {.id = TOOL_OPT_NO_COLOR,
     .name = "no-color",
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_OUTPUT,
     .help =
         "no colour (also NO_COLOR; colour is only ever used when standard "
         "output is a terminal)"},
    {.id = TOOL_OPT_QUIET,
     .name = "quiet",
     .short_name = 'q',
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_OUTPUT,
     .help = "text: only the status and the findings"},
    {.id = TOOL_OPT_VERBOSE,
     .name = "verbose",
     .short_name = 'v',
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_OUTPUT,
     .help = "print each query sent (never a secret)"},

    {.id = TOOL_OPT_BEARER_FILE,
     .name = "bearer-token-file",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_BACKEND,
     .help = "send \"Authorization: Bearer <token>\" with the token read from "
             "FILE "
             "(else from ASYNC_AUDITOR_BEARER_TOKEN)"},
    {.id = TOOL_OPT_BASIC_USER,
     .name = "basic-auth-user",
     .arg = "USER",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_BACKEND,
     .help = "basic auth; the password comes from ASYNC_AUDITOR_PASSWORD or "
             "--basic-auth-password-file"},
    {.id = TOOL_OPT_BASIC_PASSWORD_FILE,
     .name = "basic-auth-password-file",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_BACKEND,
     .help = "read the basic-auth password from FILE"},
    {.id = TOOL_OPT_HEADER,
     .name = "header",
     .arg = "HEADER",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_BACKEND,
     .repeatable = true,
     .help = "extra request header 'NAME: VALUE', e.g. "
             "'X-Scope-OrgID: tenant-1'"},
    {.id = TOOL_OPT_CA_FILE,
     .name = "ca-file",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_BACKEND,
     .help = "CA certificates to verify the server"},
    {.id = TOOL_OPT_CERT,
     .name = "cert",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_BACKEND,
     .help = "TLS client certificate"},
    {.id = TOOL_OPT_KEY,
     .name = "key",
     .arg = "FILE",
     .kind = TOOL_VALUE_FILE,
     .section = TOOL_SEC_BACKEND,
     .help = "TLS client key (needs --cert)"},
    {.id = TOOL_OPT_INSECURE,
     .name = "insecure-skip-verify",
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_BACKEND,
     .help = "do not verify the server's certificate"},
    {.id = TOOL_OPT_TIMEOUT,
     .name = "timeout",
     .arg = "DUR",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_BACKEND,
     .help = "per query attempt (default 30s)"},
    {.id = TOOL_OPT_RETRIES,
     .name = "retries",
     .arg = "N",
     .kind = TOOL_VALUE_TEXT,
     .section = TOOL_SEC_BACKEND,
     .help = "retries of a timed-out, refused or 503 query, with backoff "
             "(default 2)"},

    {.id = TOOL_OPT_HELP,
     .name = "help",
     .short_name = 'h',
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_OTHER,
     .help = "this help"},
    {.id = TOOL_OPT_VERSION,
     .name = "version",
     .short_name = 'V',
     .kind = TOOL_VALUE_NONE,
     .section = TOOL_SEC_OTHER,
     .help = "versions of async-auditor and its libraries (the same as the "
             "version command)"},
};

const size_t tool_nopts = sizeof(tool_opts) / sizeof(tool_opts[0]);

const char *tool_section_title(tool_section s)
{
    switch (s) {
    case TOOL_SEC_SOURCE:
        return "Data source (exactly one for check)";
    case TOOL_SEC_RULES:
        return "Rules and window";
    case TOOL_SEC_GATE:
        return "Gate (what makes the exit code non-zero)";
    case TOOL_SEC_OUTPUT:
        return "Output";
    case TOOL_SEC_BACKEND:
        return "Backend access (--target)";
    case TOOL_SEC_OTHER:
    case TOOL_NSECTIONS:
        break;
    }
    return "Other";
}

const tool_command_doc tool_commands[] = {
    {"check", NULL, "",
     "judge the rules against the data source and exit with the verdict's "
     "code (the default command)"},
    {"rules", "lint", "FILE",
     "validate a rule file and compile every rule to PromQL"},
    {"rules", "export", "FILE",
     "write the rules as Prometheus alerting rules or as a Grafana "
     "dashboard (see --format)"},
    {"version", NULL, "", "the same as --version"},
    {NULL, NULL, NULL, NULL},
};

const char *tool_command_label(const tool_command_doc *c, char *buf,
                               size_t size)
{
    snprintf(buf, size, "%s%s%s", c->word, c->sub != NULL ? " " : "",
             c->sub != NULL ? c->sub : "");
    return buf;
}

size_t tool_command_words(const char *word, const char **out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; tool_commands[i].word != NULL && n < max; i++) {
        const tool_command_doc *c = &tool_commands[i];
        bool seen = false;

        if (word != NULL) {
            if (c->sub != NULL && strcmp(c->word, word) == 0) {
                out[n++] = c->sub;
            }
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            seen = seen || strcmp(out[j], c->word) == 0;
        }
        if (!seen) {
            out[n++] = c->word;
        }
    }
    return n;
}

size_t tool_word_names(const tool_word *w, const char **out, size_t max)
{
    size_t n = 0;

    while (n < max && w[n].name != NULL) {
        out[n] = w[n].name;
        n++;
    }
    return n;
}

const char *const tool_synopsis[] = {
    "[check] [--config FILE] --target URL [options]",
    "[check] [--config FILE] --scrape URL [--scrape URL ...] --duration DUR "
    "[--interval DUR] [options]",
    "[check] [--config FILE] --scrape URL [options] -- COMMAND [ARG ...]",
    "[check] [--config FILE] --samples FILE [options]",
    "rules lint FILE",
    "rules export FILE [--format prometheus|grafana]",
    "version | --version | --help",
    NULL,
};

const tool_word tool_check_formats[] = {
    {"text", "the verdict table for people", TOOL_FORMAT_TEXT},
    {"json", "the JSON report", TOOL_FORMAT_JSON},
    {"junit", "JUnit XML", TOOL_FORMAT_JUNIT},
    {"markdown", "a Markdown summary", TOOL_FORMAT_MARKDOWN},
    {"github", "workflow-command annotations", TOOL_FORMAT_GITHUB},
    {NULL, NULL, 0},
};

const tool_word tool_export_formats[] = {
    {"prometheus", "alerting rules", 0},
    {"grafana", "a dashboard, one panel per rule", 0},
    {NULL, NULL, 0},
};

const char tool_summary[] =
    "audit the runtime health of async Python services";

const char *const tool_description[] = {
    "Audits the runtime health of async Python services (event-loop lag, "
    "blocking, executor and backlog pressure) from YAML rules, and exits "
    "with a code a CI/CD pipeline can gate on.  Data comes from a "
    "Prometheus-compatible HTTP API (--target), from scraping the "
    "services' /metrics endpoints directly (--scrape), or from a "
    "recording (--samples).  Without --config the built-in default rule "
    "pack is used.",
    NULL,
};

const char *const tool_notes[] = {
    "Durations: 250ms, 30s, 5m, 1h, 1d and combinations like 1m30s.",
    "Options take their value as --flag VALUE or --flag=VALUE.",
    NULL,
};

const tool_example tool_examples[] = {
    {"Quick start: gate a deployment on the rules in metrics.yaml",
     TOOL_PROG " --config metrics.yaml --target http://localhost:9090 \\\n"
               "    --fail-on-critical"},
    {"Audit a load test's fixed window, only the api job, JUnit for CI",
     TOOL_PROG " --target http://prometheus:9090 \\\n"
               "    --start 2026-11-26T10:00:00Z --end 2026-11-26T10:15:00Z "
               "\\\n"
               "    --selector '{job=\"api\"}' --fail-on-warning --junit "
               "audit.xml"},
    {"No Prometheus: scrape the probe every second while a load test runs",
     TOOL_PROG " --scrape http://127.0.0.1:9464/metrics --fail-on-critical "
               "\\\n"
               "    -- wrk -d 60s http://127.0.0.1:8000/"},
    {"Check a rule file; export it as alerting rules and as a dashboard",
     TOOL_PROG
     " rules lint metrics.yaml\n" TOOL_PROG
     " rules export metrics.yaml --format prometheus > alerts.yml\n" TOOL_PROG
     " rules export metrics.yaml --format grafana > dashboard.json"},
    {NULL, NULL},
};

const tool_word tool_environment[] = {
    {"ASYNC_AUDITOR_PASSWORD", "basic-auth password (--basic-auth-user)", 0},
    {"ASYNC_AUDITOR_BEARER_TOKEN", "bearer token when no --bearer-token-file",
     0},
    {"NO_COLOR", "set and not empty: no colour", 0},
    {NULL, NULL, 0},
};

/* A switch without default over aa_exit: -Wswitch (in -Wall, an error
 * with -Werror) names any code added to the enum without a text. */
static const char *exit_text(aa_exit e)
{
    switch (e) {
    case AA_EXIT_OK:
        return "the gate passed (or no --fail-on-* asked for failure)";
    case AA_EXIT_WARNING:
        return "--fail-on-warning and the worst verdict is a warning";
    case AA_EXIT_CRITICAL:
        return "--fail-on-critical or --fail-on-warning, and a rule is "
               "critical";
    case AA_EXIT_UNKNOWN:
        return "the audit could not be completed (backend unreachable, "
               "every query failed, a report could not be written), "
               "whatever the flags; or a gate is set and a rule has no data "
               "or an error, unless that rule says no_data: ok or "
               "--allow-unknown is given (a breach's 1 or 2 wins over "
               "missing data)";
    case AA_EXIT_COMMAND_FAILED:
        return "scrape mode: COMMAND (after --) failed or could not be "
               "started, and the gate itself passed";
    case AA_EXIT_USAGE:
        return "usage error (bad flags)";
    case AA_EXIT_CONFIG:
        return "configuration error (invalid rule file, or a query the "
               "backend rejected as invalid)";
    }
    return NULL;
}

const char *tool_exit_help(int code)
{
    /* every aa_exit value lies in 0..255: the cast keeps the number */
    return code < 0 || code > 255 ? NULL : exit_text((aa_exit)code);
}

const char *tool_opt_label(const tool_opt *o, char *buf, size_t size)
{
    const char *sp = o->arg != NULL ? " " : "";
    const char *arg = o->arg != NULL ? o->arg : "";

    if (o->name == NULL) {
        snprintf(buf, size, "-- %s", arg);
    } else if (o->short_name != 0) {
        snprintf(buf, size, "-%c, --%s%s%s", o->short_name, o->name, sp, arg);
    } else {
        snprintf(buf, size, "--%s%s%s", o->name, sp, arg);
    }
    return buf;
}

/* Appends "a, b or c" of words' names (the first marked "(default)")
 * to buf at *len. */
static void append_words(char *buf, size_t size, size_t *len,
                         const tool_word *words)
{
    for (size_t i = 0; words[i].name != NULL; i++) {
        const char *sep = i == 0                      ? ""
                          : words[i + 1].name == NULL ? " or "
                                                      : ", ";
        int n = snprintf(buf + *len, size - *len, "%s%s%s", sep, words[i].name,
                         i == 0 ? " (default)" : "");

        if (n < 0 || (size_t)n >= size - *len) {
            *len = size - 1;
            return;
        }
        *len += (size_t)n;
    }
}

const char *tool_opt_help(const tool_opt *o, char *buf, size_t size)
{
    size_t len;
    int n;

    if (size == 0) {
        return buf;
    }
    n = snprintf(buf, size, "%s%s", o->help,
                 o->repeatable ? " (repeatable)" : "");
    if (o->kind != TOOL_VALUE_FORMAT || n < 0 || (size_t)n >= size) {
        return buf;
    }
    len = (size_t)n;
    n = snprintf(buf + len, size - len, ": ");
    len = n > 0 && (size_t)n < size - len ? len + (size_t)n : size - 1;
    append_words(buf, size, &len, tool_check_formats);
    n = snprintf(buf + len, size - len, "; for rules export: ");
    len = n > 0 && (size_t)n < size - len ? len + (size_t)n : size - 1;
    append_words(buf, size, &len, tool_export_formats);
    return buf;
}

/* ---- the --help rendering ---------------------------------------------- */

#define HELP_WIDTH 79
#define HELP_COLUMN 28 /* where an option's explanation starts */

/* Length of the word at s; a word opening a bracket runs to the
 * bracket's close, so that "[ARG ...]" is never split. */
static size_t word_len(const char *s)
{
    size_t n = 0;
    int depth = 0;

    for (; s[n] != '\0' && (s[n] != ' ' || depth > 0); n++) {
        depth += s[n] == '[' ? 1 : s[n] == ']' ? -1 : 0;
    }
    return n;
}

/*
 * Prints text word-wrapped to HELP_WIDTH: the first line continues at
 * column `at` (already printed up to there), later lines are indented to
 * `indent`.
 */
static void wrap(FILE *fp, const char *text, size_t at, size_t indent)
{
    size_t col = at;
    bool line_start = true;

    while (*text != '\0') {
        size_t n = word_len(text);

        if (n > 0) {
            if (!line_start && col + 1 + n > HELP_WIDTH) {
                fprintf(fp, "\n%*s", (int)indent, "");
                col = indent;
                line_start = true;
            }
            if (!line_start) {
                fputc(' ', fp);
                col++;
            }
            fwrite(text, 1, n, fp);
            col += n;
            line_start = false;
        }
        text += n;
        text += strspn(text, " ");
    }
    fputc('\n', fp);
}

void tool_usage_print(FILE *fp)
{
    size_t lead = strlen("  " TOOL_PROG " ");

    fputs("Usage:\n", fp);
    for (size_t i = 0; tool_synopsis[i] != NULL; i++) {
        fputs("  " TOOL_PROG " ", fp);
        wrap(fp, tool_synopsis[i], lead, lead + 4);
    }
}

/* "  LABEL" padded to HELP_COLUMN, then the wrapped text. */
static void item(FILE *fp, const char *label, const char *text)
{
    int n = fprintf(fp, "  %s", label);

    if (n < 0) {
        return;
    }
    if ((size_t)n + 2 > HELP_COLUMN) {
        fprintf(fp, "\n%*s", HELP_COLUMN, "");
    } else {
        fprintf(fp, "%*s", HELP_COLUMN - n, "");
    }
    wrap(fp, text, HELP_COLUMN, HELP_COLUMN);
}

void tool_help_print(FILE *fp)
{
    char label[128], text[1024];

    tool_usage_print(fp);
    for (size_t i = 0; tool_description[i] != NULL; i++) {
        fputc('\n', fp);
        wrap(fp, tool_description[i], 0, 0);
    }
    fputs("\nExamples:\n", fp);
    for (size_t i = 0; tool_examples[i].comment != NULL; i++) {
        const char *c = tool_examples[i].command;

        fprintf(fp, "%s  # %s\n", i > 0 ? "\n" : "", tool_examples[i].comment);
        while (*c != '\0') {
            size_t n = strcspn(c, "\n");

            fprintf(fp, "  %.*s\n", (int)n, c);
            c += n + (c[n] == '\n');
        }
    }
    fputs("\nCommands:\n", fp);
    for (size_t i = 0; tool_commands[i].word != NULL; i++) {
        const tool_command_doc *c = &tool_commands[i];
        size_t n = strlen(tool_command_label(c, label, sizeof(label)));

        snprintf(label + n, sizeof(label) - n, "%s%s",
                 c->args[0] != '\0' ? " " : "", c->args);
        item(fp, label, c->help);
    }
    for (int s = 0; s < TOOL_NSECTIONS; s++) {
        fprintf(fp, "\n%s:\n", tool_section_title((tool_section)s));
        for (size_t i = 0; i < tool_nopts; i++) {
            if (tool_opts[i].section != (tool_section)s) {
                continue;
            }
            item(fp, tool_opt_label(&tool_opts[i], label, sizeof(label)),
                 tool_opt_help(&tool_opts[i], text, sizeof(text)));
        }
    }
    fputc('\n', fp);
    for (size_t i = 0; tool_notes[i] != NULL; i++) {
        wrap(fp, tool_notes[i], 0, 0);
    }
    fputs("\nExit status:\n", fp);
    for (int code = 0; code < 256; code++) {
        const char *t = tool_exit_help(code);

        if (t != NULL) {
            fprintf(fp, "  %-4d", code);
            wrap(fp, t, 6, 6);
        }
    }
    fputs("\nEnvironment:\n", fp);
    for (size_t i = 0; tool_environment[i].name != NULL; i++) {
        item(fp, tool_environment[i].name, tool_environment[i].help);
    }
    fputs("\nThe manual page async-auditor(1) holds the same text; rule file "
          "format,\nreport schemas and the default rule pack: the docs/ "
          "directory of\nasync-runtime-auditor.\n",
          fp);
}
