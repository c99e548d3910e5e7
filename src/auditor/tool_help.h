/*
 * tool_help.h: async-auditor's description of itself, as data: the
 * options (the parser's table), the commands, the --format values, the
 * exit codes, the environment and the examples.  --help (tool_help.c),
 * the man page and the shell completions (tool_docgen.c, run at build
 * time) are renderings of this one description, so they cannot drift
 * apart; tool_args.c parses with the same option table.
 */
#ifndef TOOL_HELP_H
#define TOOL_HELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TOOL_PROG "async-auditor"

/* The groups of the option list, in display order. */
typedef enum tool_section {
    TOOL_SEC_SOURCE,
    TOOL_SEC_RULES,
    TOOL_SEC_GATE,
    TOOL_SEC_OUTPUT,
    TOOL_SEC_BACKEND,
    TOOL_SEC_OTHER,
    TOOL_NSECTIONS
} tool_section;

typedef enum tool_opt_id {
    TOOL_OPT_CONFIG,
    TOOL_OPT_TARGET,
    TOOL_OPT_SCRAPE,
    TOOL_OPT_SAMPLES,
    TOOL_OPT_DURATION,
    TOOL_OPT_INTERVAL,
    TOOL_OPT_SAVE_SAMPLES,
    TOOL_OPT_JOB,
    TOOL_OPT_WINDOW,
    TOOL_OPT_START,
    TOOL_OPT_END,
    TOOL_OPT_SELECTOR,
    TOOL_OPT_FAIL_CRITICAL,
    TOOL_OPT_FAIL_WARNING,
    TOOL_OPT_ALLOW_UNKNOWN,
    TOOL_OPT_STEP,
    TOOL_OPT_FORMAT,
    TOOL_OPT_JSON,
    TOOL_OPT_JUNIT,
    TOOL_OPT_MARKDOWN,
    TOOL_OPT_HTML,
    TOOL_OPT_BEARER_FILE,
    TOOL_OPT_BASIC_USER,
    TOOL_OPT_BASIC_PASSWORD_FILE,
    TOOL_OPT_HEADER,
    TOOL_OPT_CA_FILE,
    TOOL_OPT_CERT,
    TOOL_OPT_KEY,
    TOOL_OPT_INSECURE,
    TOOL_OPT_TIMEOUT,
    TOOL_OPT_RETRIES,
    TOOL_OPT_NO_COLOR,
    TOOL_OPT_QUIET,
    TOOL_OPT_VERBOSE,
    TOOL_OPT_HELP,
    TOOL_OPT_VERSION,
    TOOL_OPT_COMMAND /* "-- COMMAND [ARG ...]": documented, not an option */
} tool_opt_id;

/* What an option's value is, so that completion can offer the right
 * thing (file names, the --format values, command names). */
typedef enum tool_value_kind {
    TOOL_VALUE_NONE, /* a switch */
    TOOL_VALUE_TEXT, /* free text: URL, duration, ... nothing to offer */
    TOOL_VALUE_FILE,
    TOOL_VALUE_FORMAT,
    TOOL_VALUE_COMMAND
} tool_value_kind;

typedef struct tool_opt {
    tool_opt_id id;
    const char *name; /* long name without "--"; NULL: TOOL_OPT_COMMAND */
    char short_name;  /* 0: none */
    const char *arg;  /* the value's name ("FILE"); NULL for a switch */
    tool_value_kind kind;
    tool_section section;
    bool repeatable;  /* may be given more than once */
    const char *help; /* one paragraph; see tool_opt_help() */
} tool_opt;

/* A named thing with a one-line explanation; arrays end with {NULL}. */
typedef struct tool_word {
    const char *name;
    const char *help;
    int value; /* --format values: the tool_format; else 0 */
} tool_word;

/* An example: a comment line and the command (lines joined by "\n"). */
typedef struct tool_example {
    const char *comment;
    const char *command;
} tool_example;

/* A command: its words after "async-auditor" ("rules", "export"), its
 * operands ("FILE" or "") and what it does. */
typedef struct tool_command_doc {
    const char *word; /* "check", "rules", "version" */
    const char *sub;  /* "lint", "export" under "rules"; else NULL */
    const char *args;
    const char *help;
} tool_command_doc;

/* The option table in display order (tool_nopts rows). */
extern const tool_opt tool_opts[];
extern const size_t tool_nopts;

/* Title of a section ("Data source (exactly one for check)"). */
const char *tool_section_title(tool_section s);

/* The commands ("check", "rules lint", "rules export", "version");
 * the array ends with {NULL}. */
extern const tool_command_doc tool_commands[];
/* "rules lint" into buf. */
const char *tool_command_label(const tool_command_doc *c, char *buf,
                               size_t size);
/* The distinct first words of the commands ("check", "rules",
 * "version"), or with word the subcommands under it ("lint", "export"),
 * into out; returns how many (at most max). */
size_t tool_command_words(const char *word, const char **out, size_t max);
/* The names of a tool_word array into out; returns how many (at most
 * max). */
size_t tool_word_names(const tool_word *w, const char **out, size_t max);
/* Usage lines after "async-auditor ", NULL-terminated. */
extern const char *const tool_synopsis[];
/* --format values of check and of rules export; the first is the
 * default. */
extern const tool_word tool_check_formats[];
extern const tool_word tool_export_formats[];
/* One-line summary (man NAME), paragraphs of the description, notes
 * shown after the options, examples, environment variables. */
extern const char tool_summary[];
extern const char *const tool_description[];
extern const char *const tool_notes[];
extern const tool_example tool_examples[];
extern const tool_word tool_environment[];

/*
 * What exit status code means, or NULL when async-auditor never exits
 * with it.  A switch over every aa_exit value (include/aa/result.h), so
 * an exit code added there without a text here breaks the -Wswitch
 * build.
 */
const char *tool_exit_help(int code);

/* "--target URL", "-q, --quiet", "-- COMMAND [ARG ...]" into buf. */
const char *tool_opt_label(const tool_opt *o, char *buf, size_t size);

/* The option's explanation, ending in "(repeatable)" for a repeatable
 * option; for --format it ends with the values of tool_check_formats
 * and tool_export_formats, so they are listed once. */
const char *tool_opt_help(const tool_opt *o, char *buf, size_t size);

/* Prints the usage lines ("Usage:" and tool_synopsis). */
void tool_usage_print(FILE *fp);
/* Prints the whole --help text. */
void tool_help_print(FILE *fp);

/*
 * Nearest-name suggestions for a mistyped word: the restricted
 * Damerau-Levenshtein distance (insertions, deletions, substitutions,
 * transpositions of neighbours), case-insensitive (tool_suggest.c).
 */
typedef struct tool_suggestion {
    const char *best; /* NULL: nothing close enough */
    size_t distance;
} tool_suggestion;

void tool_suggest_init(tool_suggestion *s);
/* Considers candidate for word[0..len); keeps the first of the closest. */
void tool_suggest_consider(tool_suggestion *s, const char *word, size_t len,
                           const char *candidate);

/*
 * What to tell about word[0..len), which is none of names[0..n): "did you
 * mean PREFIX<name>?" for the closest name when one is close enough,
 * else "expected " and `expected`, or names joined as "a, b or c" when
 * expected is NULL; "" when expected is "".  Written into buf; returns
 * buf.
 */
const char *tool_unknown_hint(const char *word, size_t len,
                              const char *const *names, size_t n,
                              const char *prefix, const char *expected,
                              char *buf, size_t size);
/* names[0..n) as "a, b or c" into buf; returns buf. */
const char *tool_join_names(const char *const *names, size_t n, char *buf,
                            size_t size);
/* Distance between a[0..alen) and b, or (size_t)-1 when either is
 * longer than 64 bytes. */
size_t tool_edit_distance(const char *a, size_t alen, const char *b);

#endif
