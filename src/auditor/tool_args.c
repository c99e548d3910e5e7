/*
 * tool_args.c: the command line of async-auditor (contract §4) parsed
 * into a tool_config, plus --version.  The options are the table of
 * tool_help.c, which --help, the man page and the completions are
 * rendered from.  Every rejected argument gets one "async-auditor: error:
 * <flag>: <why>" line (with "did you mean ...?" when a known name is
 * close) and a hint to --help, and the program exits 64, so a CI job's
 * log says exactly what to fix.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <yaml.h>

#include "aa/common.h"
#include "aa/rules.h"
#include "aa_version.h"
#include "tool_cfg.h"
#include "tool_help.h"

/* A usage error: the reason, the hint, and AA_EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static int usage_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tool_error("%s", msg);
    fprintf(stderr, "Try '" TOOL_PROG " --help'.\n");
    return AA_EXIT_USAGE;
}

static void print_version(void)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

    printf("%s %s\n", TOOL_PROG, AA_VERSION);
    printf("libcurl %s (%s), libyaml %s, jansson %s\n",
           cv != NULL ? cv->version : "?",
           cv != NULL && cv->ssl_version != NULL ? cv->ssl_version : "no TLS",
           yaml_get_version_string(), JANSSON_VERSION);
}

/* Durations given on the command line must be positive. */
static int parse_dur(const char *flag, const char *value, int64_t *out)
{
    if (aa_duration_parse(value, out) != AA_OK || *out <= 0) {
        return usage_error("%s: invalid duration \"%s\" (expected e.g. 30s, "
                           "5m, 1h30m)",
                           flag, value);
    }
    return AA_EXIT_OK;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), so no time zone or libc quirk gets involved. */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * RFC 3339 ("2026-11-26T10:00:00Z", "...T10:00:00.250+01:00", 't'/'z'
 * and a space separator accepted) or Unix seconds ("1764151200",
 * "1764151200.5").  Returns 0 and the time in ms, or -1.
 */
/*
 * Unix seconds: decimal digits with an optional fraction ("1795687200",
 * "1795687200.25"), nothing else (no sign, exponent, hex, inf or white
 * space), at most 10^13 s; rounded to the millisecond.  -1 otherwise.
 */
static int parse_unix_seconds(const char *s, int64_t *out_ms)
{
    int64_t secs = 0, ms = 0;
    int scale = 100;

    if (!isdigit((unsigned char)*s)) {
        return -1;
    }
    for (; isdigit((unsigned char)*s); s++) {
        secs = secs * 10 + (*s - '0');
        if (secs > 10000000000000LL) {
            return -1;
        }
    }
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s)) {
            return -1;
        }
        for (; isdigit((unsigned char)*s); s++) {
            if (scale > 0) {
                ms += (*s - '0') * scale;
            } else if (scale == 0 && *s >= '5') {
                ms++; /* round half up on the fourth digit */
            }
            scale = scale > 1 ? scale / 10 : scale - 1;
        }
    }
    if (*s != '\0') {
        return -1;
    }
    *out_ms = secs * 1000 + ms;
    return 0;
}

static int parse_time(const char *s, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    const char *p = s;
    double frac = 0;
    int64_t t;

    if (*s == '\0') {
        return -1;
    }
    if (strchr(s, '-') == NULL || s[0] == '-') {
        return parse_unix_seconds(s, out_ms);
    }
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
        *p++ != '-' || digits(&p, 2, &d) ||
        (*p != 'T' && *p != 't' && *p != ' ')) {
        return -1;
    }
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
        *p++ != ':' || digits(&p, 2, &sec)) {
        return -1;
    }
    if (*p == '.') {
        double scale = 0.1;

        p++;
        if (!isdigit((unsigned char)*p)) {
            return -1;
        }
        while (isdigit((unsigned char)*p)) {
            frac += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) ||
            oh > 23 || om > 59) {
            return -1;
        }
    } else {
        return -1;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
        sec > 60) {
        return -1;
    }
    if (d > mdays[mo - 1] + (mo == 2 && leap(y) ? 1 : 0)) {
        return -1;
    }
    t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    t -= sign * (oh * 3600 + om * 60);
    *out_ms = t * 1000 + (int64_t)llround(frac * 1000.0);
    return 0;
}

static int parse_time_opt(const char *flag, const char *value, int64_t *out)
{
    if (parse_time(value, out) != 0) {
        return usage_error("%s: invalid time \"%s\" (expected RFC 3339 like "
                           "2026-11-26T10:00:00Z, or Unix seconds)",
                           flag, value);
    }
    return AA_EXIT_OK;
}

/* Appends s to a growing array of borrowed strings. */
static int push_str(const char ***arr, size_t *n, const char *s)
{
    const char **p = realloc((void *)*arr, (*n + 1) * sizeof(*p));

    if (p == NULL) {
        tool_error("out of memory");
        return AA_EXIT_USAGE;
    }
    p[*n] = s;
    *arr = p;
    (*n)++;
    return AA_EXIT_OK;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool valid_url(const char *s)
{
    return (has_prefix(s, "http://") && s[7] != '\0') ||
           (has_prefix(s, "https://") && s[8] != '\0');
}

/* State that only matters while parsing. */
typedef struct parse_state {
    const char *format_text;
    bool no_color;
    bool has_window;
    const char *positional[4];
    size_t npositional;
    const char *start_text, *end_text;
    size_t noptions; /* options seen */
} parse_state;

/* Applies one option with its value (NULL for switches). */
static int apply(tool_config *cfg, parse_state *ps, const tool_opt *o,
                 const char *flag, const char *v, bool *done)
{
    char *end;
    long n;

    switch (o->id) {
    case TOOL_OPT_CONFIG:
        cfg->config_path = v;
        break;
    case TOOL_OPT_TARGET:
        if (!valid_url(v)) {
            return usage_error("%s: invalid URL \"%s\" (expected "
                               "http://HOST:PORT or https://...)",
                               flag, v);
        }
        cfg->target = v;
        break;
    case TOOL_OPT_SCRAPE:
        if (!valid_url(v)) {
            return usage_error("%s: invalid URL \"%s\" (expected e.g. "
                               "http://127.0.0.1:9464/metrics)",
                               flag, v);
        }
        return push_str(&cfg->scrape_urls, &cfg->nscrape, v);
    case TOOL_OPT_SAMPLES:
        cfg->samples_path = v;
        break;
    case TOOL_OPT_DURATION:
        return parse_dur(flag, v, &cfg->duration_ms);
    case TOOL_OPT_INTERVAL:
        return parse_dur(flag, v, &cfg->interval_ms);
    case TOOL_OPT_SAVE_SAMPLES:
        cfg->save_samples_path = v;
        break;
    case TOOL_OPT_JOB:
        if (v[0] == '\0') {
            return usage_error("%s: the job name must not be empty", flag);
        }
        cfg->scrape_job = v;
        break;
    case TOOL_OPT_WINDOW:
        ps->has_window = true;
        return parse_dur(flag, v, &cfg->window_ms);
    case TOOL_OPT_START:
        cfg->has_start = true;
        ps->start_text = v;
        return parse_time_opt(flag, v, &cfg->start_ms);
    case TOOL_OPT_END:
        cfg->has_end = true;
        ps->end_text = v;
        return parse_time_opt(flag, v, &cfg->end_ms);
    case TOOL_OPT_SELECTOR: {
        aa_diag diag;
        int rc;

        aa_diag_clear(&diag);
        aa_matchers_clear(&cfg->selector);
        rc = aa_matchers_parse(v, &cfg->selector, &diag);
        if (rc != AA_OK) {
            if (diag.message[0] == '\0') {
                snprintf(diag.message, sizeof(diag.message), "%s",
                         aa_strerror(rc));
            }
            if (diag.column > 0) {
                return usage_error("%s: invalid selector \"%s\": column "
                                   "%u: %s",
                                   flag, v, diag.column, diag.message);
            }
            return usage_error("%s: invalid selector \"%s\": %s", flag, v,
                               diag.message);
        }
        cfg->selector_text = v;
        break;
    }
    case TOOL_OPT_FAIL_CRITICAL:
        cfg->gate.fail_on_critical = true;
        break;
    case TOOL_OPT_FAIL_WARNING:
        cfg->gate.fail_on_warning = true;
        break;
    case TOOL_OPT_ALLOW_UNKNOWN:
        cfg->gate.allow_unknown = true;
        break;
    case TOOL_OPT_STEP:
        return parse_dur(flag, v, &cfg->step_ms);
    case TOOL_OPT_FORMAT:
        ps->format_text = v;
        break;
    case TOOL_OPT_JSON:
        cfg->json_path = v;
        break;
    case TOOL_OPT_JUNIT:
        cfg->junit_path = v;
        break;
    case TOOL_OPT_MARKDOWN:
        cfg->markdown_path = v;
        break;
    case TOOL_OPT_HTML:
        cfg->html_path = v;
        break;
    case TOOL_OPT_BEARER_FILE:
        cfg->bearer_token_file = v;
        break;
    case TOOL_OPT_BASIC_USER:
        cfg->basic_auth_user = v;
        break;
    case TOOL_OPT_BASIC_PASSWORD_FILE:
        cfg->basic_auth_password_file = v;
        break;
    case TOOL_OPT_HEADER: {
        const char *colon = strchr(v, ':');
        const char *c;

        if (colon == NULL || colon == v) {
            return usage_error("%s: invalid header \"%s\" (expected "
                               "'Name: value')",
                               flag, v);
        }
        for (c = v; c < colon; c++) {
            if (!isgraph((unsigned char)*c)) {
                return usage_error("%s: invalid header name in \"%s\"", flag,
                                   v);
            }
        }
        if (strpbrk(v, "\r\n") != NULL) {
            return usage_error("%s: a header must be one line", flag);
        }
        return push_str(&cfg->headers, &cfg->nheaders, v);
    }
    case TOOL_OPT_CA_FILE:
        cfg->ca_file = v;
        break;
    case TOOL_OPT_CERT:
        cfg->cert_file = v;
        break;
    case TOOL_OPT_KEY:
        cfg->key_file = v;
        break;
    case TOOL_OPT_INSECURE:
        cfg->insecure = true;
        break;
    case TOOL_OPT_TIMEOUT:
        return parse_dur(flag, v, &cfg->timeout_ms);
    case TOOL_OPT_RETRIES:
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 100) {
            return usage_error("%s: invalid count \"%s\" (expected 0 to "
                               "100)",
                               flag, v);
        }
        cfg->retries = (int)n;
        break;
    case TOOL_OPT_NO_COLOR:
        ps->no_color = true;
        break;
    case TOOL_OPT_QUIET:
        cfg->verbosity = -1;
        break;
    case TOOL_OPT_VERBOSE:
        cfg->verbosity = 1;
        break;
    case TOOL_OPT_HELP:
        tool_help_print(stdout);
        *done = true;
        break;
    case TOOL_OPT_VERSION:
        print_version();
        *done = true;
        break;
    case TOOL_OPT_COMMAND: /* "--" is handled by the caller */
        break;
    }
    return AA_EXIT_OK;
}

static const tool_opt *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < tool_nopts; i++) {
        const char *n = tool_opts[i].name;

        if (n != NULL && strlen(n) == len && strncmp(n, name, len) == 0) {
            return &tool_opts[i];
        }
    }
    return NULL;
}

static const tool_opt *find_short(char c)
{
    for (size_t i = 0; i < tool_nopts; i++) {
        if (tool_opts[i].short_name == c) {
            return &tool_opts[i];
        }
    }
    return NULL;
}

/* "FLAG: unknown option", with the nearest long option when one is close
 * to name[0..len) (the flag without its dashes). */
static int unknown_option(const char *flag, int flag_len, const char *name,
                          size_t len)
{
    const char *names[64];
    char hint[256];
    size_t n = 0;

    for (size_t i = 0; i < tool_nopts && n < 64; i++) {
        if (tool_opts[i].name != NULL) {
            names[n++] = tool_opts[i].name;
        }
    }
    tool_unknown_hint(name, len, names, n, "--", "", hint, sizeof(hint));
    return usage_error("%.*s: unknown option%s%s%s", flag_len, flag,
                       hint[0] != '\0' ? " (" : "", hint,
                       hint[0] != '\0' ? ")" : "");
}

/* "PREFIX: unknown WHAT (HINT)", HINT from tool_unknown_hint. */
static int unknown_word(const char *prefix, const char *what, const char *word,
                        const char *const *names, size_t n,
                        const char *expected)
{
    char hint[768];

    tool_unknown_hint(word, strlen(word), names, n, "", expected, hint,
                      sizeof(hint));
    return usage_error("%s: unknown %s (%s)", prefix, what, hint);
}

static int unknown_command(const char *word)
{
    const char *words[16];
    char list[512], label[64];
    size_t n = tool_command_words(NULL, words, 16), len = 0;

    list[0] = '\0';
    for (size_t i = 0; tool_commands[i].word != NULL; i++) {
        const char *sep = i == 0                              ? ""
                          : tool_commands[i + 1].word == NULL ? " or "
                                                              : ", ";
        int w = snprintf(
            list + len, sizeof(list) - len, "%s%s", sep,
            tool_command_label(&tool_commands[i], label, sizeof(label)));

        len = w < 0 || (size_t)w >= sizeof(list) - len ? sizeof(list) - 1
                                                       : len + (size_t)w;
    }
    return unknown_word(word, "command", word, words, n, list);
}

/* Resolves the command from the positional words; `version` is handled
 * here (*done set). */
static int resolve_command(tool_config *cfg, const parse_state *ps, bool *done)
{
    const char *const *w = ps->positional;
    size_t n = ps->npositional;
    const char *subs[16];
    size_t nsubs;
    char prefix[128];

    cfg->command = TOOL_CMD_CHECK;
    if (n == 0) {
        return AA_EXIT_OK;
    }
    if (strcmp(w[0], "check") == 0) {
        if (n > 1) {
            return usage_error("%s: unexpected argument (check takes only "
                               "options)",
                               w[1]);
        }
        return AA_EXIT_OK;
    }
    if (strcmp(w[0], "version") == 0) {
        if (n > 1) {
            return usage_error("%s: unexpected argument (version takes "
                               "none)",
                               w[1]);
        }
        if (ps->noptions > 0) {
            return usage_error("version: takes no options");
        }
        print_version();
        *done = true;
        return AA_EXIT_OK;
    }
    if (strcmp(w[0], "rules") != 0) {
        return unknown_command(w[0]);
    }
    nsubs = tool_command_words("rules", subs, 16);
    if (n < 2) {
        return usage_error(
            "rules: missing subcommand (expected %s)",
            tool_join_names(subs, nsubs, prefix, sizeof(prefix)));
    }
    if (strcmp(w[1], "lint") == 0) {
        cfg->command = TOOL_CMD_RULES_LINT;
    } else if (strcmp(w[1], "export") == 0) {
        cfg->command = TOOL_CMD_RULES_EXPORT;
    } else {
        snprintf(prefix, sizeof(prefix), "rules %s", w[1]);
        return unknown_word(prefix, "subcommand", w[1], subs, nsubs, NULL);
    }
    if (n < 3) {
        return usage_error("rules %s: missing rule FILE", w[1]);
    }
    if (n > 3) {
        return usage_error("%s: unexpected argument", w[3]);
    }
    cfg->rules_file = w[2];
    return AA_EXIT_OK;
}

/* Sets *out to the entry of formats named f, or rejects f as an
 * unknown WHAT (with the nearest name when one is close). */
static int pick_format(const char *f, const char *what,
                       const tool_word *formats, const tool_word **out)
{
    const char *names[16];
    char label[128];
    size_t n = tool_word_names(formats, names, 16);

    for (size_t i = 0; i < n; i++) {
        if (strcmp(f, names[i]) == 0) {
            *out = &formats[i];
            return AA_EXIT_OK;
        }
    }
    snprintf(label, sizeof(label), "%s \"%s\"", what, f);
    return unknown_word("--format", label, f, names, n, NULL);
}

/* The cross-option rules of contract §4. */
static int validate(tool_config *cfg, parse_state *ps)
{
    size_t sources = (cfg->target != NULL) + (cfg->nscrape > 0) +
                     (cfg->samples_path != NULL);
    const char *f = ps->format_text;
    const tool_word *fmt;
    int rc = AA_EXIT_OK;

    if (cfg->command != TOOL_CMD_CHECK) {
        const char *rules_cmd =
            cfg->command == TOOL_CMD_RULES_LINT ? "lint" : "export";

        if (sources > 0 || cfg->command_argv != NULL) {
            return usage_error("rules %s: takes no data source (--target, "
                               "--scrape, --samples)",
                               rules_cmd);
        }
        if (cfg->command == TOOL_CMD_RULES_EXPORT) {
            fmt = &tool_export_formats[0];
            if (f != NULL) {
                rc =
                    pick_format(f, "export format", tool_export_formats, &fmt);
            }
            cfg->export_format = fmt->name;
        } else if (f != NULL) {
            return usage_error("--format: not used by rules lint");
        }
        return rc;
    }

    fmt = &tool_check_formats[0];
    if (f != NULL) {
        rc = pick_format(f, "format", tool_check_formats, &fmt);
        if (rc != AA_EXIT_OK) {
            return rc;
        }
    }
    cfg->format = (tool_format)fmt->value;

    if (sources == 0) {
        return usage_error("check: no data source (give --target URL, "
                           "--scrape URL or --samples FILE)");
    }
    if (sources > 1) {
        return usage_error("--target, --scrape and --samples are mutually "
                           "exclusive");
    }
    if (cfg->nscrape > 0) {
        if (cfg->duration_ms == 0 && cfg->command_argv == NULL) {
            return usage_error("--scrape: needs --duration DUR or "
                               "-- COMMAND [ARG ...]");
        }
    } else {
        if (cfg->duration_ms != 0) {
            return usage_error("--duration: only with --scrape");
        }
        if (cfg->interval_ms != 0) {
            return usage_error("--interval: only with --scrape");
        }
        if (cfg->save_samples_path != NULL) {
            return usage_error("--save-samples: only with --scrape");
        }
        if (cfg->scrape_job != NULL) {
            return usage_error("--job: only with --scrape");
        }
        if (cfg->command_argv != NULL) {
            return usage_error("-- COMMAND: only with --scrape");
        }
    }
    if (cfg->samples_path != NULL) {
        const char *remote_only =
            cfg->bearer_token_file != NULL ? "--bearer-token-file"
            : cfg->basic_auth_user != NULL ? "--basic-auth-user"
            : cfg->nheaders > 0            ? "--header"
                                           : NULL;

        if (remote_only != NULL) {
            return usage_error("%s: only with --target or --scrape",
                               remote_only);
        }
    }
    if (cfg->basic_auth_password_file != NULL &&
        cfg->basic_auth_user == NULL) {
        return usage_error("--basic-auth-password-file: needs "
                           "--basic-auth-user");
    }
    if (cfg->key_file != NULL && cfg->cert_file == NULL) {
        return usage_error("--key: needs --cert");
    }
    if (cfg->has_start && !cfg->has_end) {
        return usage_error("--start: needs --end (a fixed window has both)");
    }
    if (cfg->has_start && cfg->has_end) {
        if (cfg->start_ms >= cfg->end_ms) {
            return usage_error("--start: \"%s\" is not before --end \"%s\"",
                               ps->start_text, ps->end_text);
        }
        if (ps->has_window) {
            return usage_error("--window: cannot be combined with --start "
                               "and --end (they fix the window)");
        }
    }
    return AA_EXIT_OK;
}

static bool color_wanted(const parse_state *ps, const tool_config *cfg)
{
    const char *nc = getenv("NO_COLOR");

    if (ps->no_color || (nc != NULL && nc[0] != '\0')) {
        return false;
    }
    return cfg->format == TOOL_FORMAT_TEXT && isatty(STDOUT_FILENO);
}

int tool_config_parse(tool_config *cfg, int argc, char **argv, bool *done)
{
    parse_state ps;
    int i, rc;

    memset(&ps, 0, sizeof(ps));
    *done = false;
    cfg->timeout_ms = 30000;
    cfg->retries = 2;
    for (i = 1; i < argc && !*done; i++) {
        const char *a = argv[i];
        const tool_opt *o;
        const char *value = NULL;
        char flag[64];

        if (strcmp(a, "--") == 0) {
            if (argv[i + 1] == NULL || argv[i + 1][0] == '\0') {
                return usage_error("--: missing COMMAND after --");
            }
            cfg->command_argv = &argv[i + 1];
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (ps.npositional ==
                sizeof(ps.positional) / sizeof(ps.positional[0])) {
                return usage_error("%s: unexpected argument", a);
            }
            ps.positional[ps.npositional++] = a;
            continue;
        }
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);

            o = find_long(a + 2, len);
            if (o == NULL) {
                return unknown_option(a, (int)(len + 2), a + 2, len);
            }
            snprintf(flag, sizeof(flag), "--%s", o->name);
            if (eq != NULL) {
                if (o->arg == NULL) {
                    return usage_error("%s: takes no value", flag);
                }
                value = eq + 1;
            }
        } else {
            if (a[2] != '\0') {
                /* "-target": a long name with one dash */
                return unknown_option(a, (int)strlen(a), a + 1,
                                      strcspn(a + 1, "="));
            }
            o = find_short(a[1]);
            if (o == NULL) {
                return usage_error("%s: unknown option", a);
            }
            snprintf(flag, sizeof(flag), "-%c", a[1]);
        }
        if (o->arg != NULL && value == NULL) {
            if (i + 1 >= argc || has_prefix(argv[i + 1], "--")) {
                return usage_error("%s: missing %s", flag, o->arg);
            }
            value = argv[++i];
        }
        if (o->arg != NULL && value[0] == '\0') {
            return usage_error("%s: empty %s", flag, o->arg);
        }
        ps.noptions++;
        rc = apply(cfg, &ps, o, flag, value, done);
        if (rc != AA_EXIT_OK) {
            return rc;
        }
    }
    if (*done) {
        return AA_EXIT_OK;
    }
    rc = resolve_command(cfg, &ps, done);
    if (rc != AA_EXIT_OK || *done) {
        return rc;
    }
    rc = validate(cfg, &ps);
    if (rc != AA_EXIT_OK) {
        return rc;
    }
    if (cfg->interval_ms == 0) {
        cfg->interval_ms = 1000;
    }
    cfg->color = color_wanted(&ps, cfg);
    return AA_EXIT_OK;
}

void tool_config_free(tool_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    free((void *)cfg->scrape_urls);
    free((void *)cfg->headers);
    aa_matchers_clear(&cfg->selector);
    memset(cfg, 0, sizeof(*cfg));
}
