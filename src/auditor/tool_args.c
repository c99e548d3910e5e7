/*
 * tool_args.c: the command line of async-auditor (SPEC section 4) parsed
 * into a tool_config, plus --help and --version.  Every rejected argument
 * gets one "async-auditor: error: <flag>: <why>" line and a hint to --help,
 * and the program exits 64, so a CI job's log says exactly what to fix.
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

#define PROG "async-auditor"

enum opt_id {
    OPT_CONFIG,
    OPT_TARGET,
    OPT_SCRAPE,
    OPT_SAMPLES,
    OPT_DURATION,
    OPT_INTERVAL,
    OPT_SAVE_SAMPLES,
    OPT_WINDOW,
    OPT_START,
    OPT_END,
    OPT_SELECTOR,
    OPT_FAIL_CRITICAL,
    OPT_FAIL_WARNING,
    OPT_ALLOW_UNKNOWN,
    OPT_STEP,
    OPT_FORMAT,
    OPT_JSON,
    OPT_JUNIT,
    OPT_MARKDOWN,
    OPT_HTML,
    OPT_BEARER_FILE,
    OPT_BASIC_USER,
    OPT_BASIC_PASSWORD_FILE,
    OPT_HEADER,
    OPT_CA_FILE,
    OPT_CERT,
    OPT_KEY,
    OPT_INSECURE,
    OPT_TIMEOUT,
    OPT_RETRIES,
    OPT_NO_COLOR,
    OPT_QUIET,
    OPT_VERBOSE,
    OPT_HELP,
    OPT_VERSION
};

typedef struct opt_def {
    const char *name; /* long name without "--" */
    char short_name;  /* 0: none */
    const char *arg;  /* NULL: a switch; else what the value is */
    enum opt_id id;
} opt_def;

static const opt_def opts[] = {
    {"config", 0, "FILE", OPT_CONFIG},
    {"target", 0, "URL", OPT_TARGET},
    {"scrape", 0, "URL", OPT_SCRAPE},
    {"samples", 0, "FILE", OPT_SAMPLES},
    {"duration", 0, "DUR", OPT_DURATION},
    {"interval", 0, "DUR", OPT_INTERVAL},
    {"save-samples", 0, "FILE", OPT_SAVE_SAMPLES},
    {"window", 0, "DUR", OPT_WINDOW},
    {"start", 0, "TIME", OPT_START},
    {"end", 0, "TIME", OPT_END},
    {"selector", 0, "SELECTOR", OPT_SELECTOR},
    {"fail-on-critical", 0, NULL, OPT_FAIL_CRITICAL},
    {"fail-on-warning", 0, NULL, OPT_FAIL_WARNING},
    {"allow-unknown", 0, NULL, OPT_ALLOW_UNKNOWN},
    {"step", 0, "DUR", OPT_STEP},
    {"format", 0, "FORMAT", OPT_FORMAT},
    {"json", 0, "FILE", OPT_JSON},
    {"junit", 0, "FILE", OPT_JUNIT},
    {"markdown", 0, "FILE", OPT_MARKDOWN},
    {"html", 0, "FILE", OPT_HTML},
    {"bearer-token-file", 0, "FILE", OPT_BEARER_FILE},
    {"basic-auth-user", 0, "USER", OPT_BASIC_USER},
    {"basic-auth-password-file", 0, "FILE", OPT_BASIC_PASSWORD_FILE},
    {"header", 0, "HEADER", OPT_HEADER},
    {"ca-file", 0, "FILE", OPT_CA_FILE},
    {"cert", 0, "FILE", OPT_CERT},
    {"key", 0, "FILE", OPT_KEY},
    {"insecure-skip-verify", 0, NULL, OPT_INSECURE},
    {"timeout", 0, "DUR", OPT_TIMEOUT},
    {"retries", 0, "N", OPT_RETRIES},
    {"no-color", 0, NULL, OPT_NO_COLOR},
    {"quiet", 'q', NULL, OPT_QUIET},
    {"verbose", 'v', NULL, OPT_VERBOSE},
    {"help", 'h', NULL, OPT_HELP},
    {"version", 'V', NULL, OPT_VERSION},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char usage_text[] =
    "Usage:\n"
    "  " PROG " [check] [--config FILE] --target URL [options]\n"
    "  " PROG " [check] [--config FILE] --scrape URL [--scrape URL ...]"
    " --duration DUR\n"
    "                [--interval DUR] [options]\n"
    "  " PROG " [check] [--config FILE] --scrape URL [options]"
    " -- COMMAND [ARG ...]\n"
    "  " PROG " [check] [--config FILE] --samples FILE [options]\n"
    "  " PROG " rules lint FILE\n"
    "  " PROG " rules export FILE [--format prometheus]\n"
    "  " PROG " --help | --version\n";

static const char help_text[] =
    "\n"
    "Audits the runtime health of async Python services (event-loop lag,\n"
    "blocking, executor and backlog pressure) from YAML rules, and exits\n"
    "with a code a CI/CD pipeline can gate on.  Data comes from a\n"
    "Prometheus-compatible HTTP API (--target), from scraping the\n"
    "services' /metrics endpoints directly (--scrape), or from a recording\n"
    "(--samples).  Without --config the built-in default rule pack is used.\n"
    "\n"
    "Examples:\n"
    "  # Quick start: gate a deployment on the rules in metrics.yaml\n"
    "  " PROG " --config metrics.yaml --target http://localhost:9090 "
    "--fail-on-critical\n"
    "\n"
    "  # Audit a load test's fixed window, only the api job, JUnit for CI\n"
    "  " PROG " --target http://prometheus:9090 \\\n"
    "      --start 2026-11-26T10:00:00Z --end 2026-11-26T10:15:00Z \\\n"
    "      --selector '{job=\"api\"}' --fail-on-warning --junit audit.xml\n"
    "\n"
    "  # No Prometheus: scrape the probe every second while a load test"
    " runs\n"
    "  " PROG " --scrape http://127.0.0.1:9464/metrics --fail-on-critical"
    " \\\n"
    "      -- wrk -d 60s http://127.0.0.1:8000/\n"
    "\n"
    "  # Validate a rule file, or turn it into Prometheus alerting rules\n"
    "  " PROG " rules lint metrics.yaml\n"
    "  " PROG " rules export metrics.yaml --format prometheus > alerts.yml\n"
    "\n"
    "Data source (exactly one for check):\n"
    "  --target URL            base URL of a Prometheus-compatible HTTP API\n"
    "                          (Prometheus, VictoriaMetrics, Mimir, ...)\n"
    "  --scrape URL            scrape this /metrics endpoint (repeatable)\n"
    "  --duration DUR          scrape mode: how long to sample\n"
    "  --interval DUR          scrape mode: time between scrapes (default"
    " 1s)\n"
    "  -- COMMAND [ARG ...]    scrape mode: sample while COMMAND runs\n"
    "  --save-samples FILE     scrape mode: also write what was scraped as\n"
    "                          OpenMetrics text with timestamps\n"
    "  --samples FILE          replay a file written by --save-samples\n"
    "\n"
    "Rules and window:\n"
    "  --config FILE           rule file (default: the built-in rule pack)\n"
    "  --window DUR            evaluation window ending now (default: the\n"
    "                          rule file's window, else 5m)\n"
    "  --start TIME            start of a fixed window (needs --end)\n"
    "  --end TIME              end of the window (default: now)\n"
    "                          TIME is RFC 3339 (2026-11-26T10:00:00Z,\n"
    "                          2026-11-26T11:00:00+01:00) or Unix seconds\n"
    "  --selector SELECTOR     label matchers added to every structured"
    " rule,\n"
    "                          e.g. '{job=\"api\", instance=~\"web-.*\"}'\n"
    "  --step DUR              resolution of range queries for rules with\n"
    "                          \"for:\" (default: the scrape interval, else"
    " 15s)\n"
    "\n"
    "Gate (what makes the exit code non-zero):\n"
    "  --fail-on-critical      fail when a rule is critical\n"
    "  --fail-on-warning       fail when a rule is a warning or critical\n"
    "  --allow-unknown         with a gate, let rules without data or with\n"
    "                          errors pass\n"
    "\n"
    "Output:\n"
    "  --format FORMAT         standard output: text (default), json, "
    "junit,\n"
    "                          markdown or github (workflow-command\n"
    "                          annotations); for rules export: prometheus\n"
    "  --json FILE             also write the JSON report to FILE\n"
    "  --junit FILE            also write a JUnit XML report to FILE\n"
    "  --markdown FILE         also write a Markdown summary to FILE\n"
    "                          (e.g. \"$GITHUB_STEP_SUMMARY\")\n"
    "  --html FILE             also write a self-contained HTML report\n"
    "  --no-color              no colour (also NO_COLOR; colour is only "
    "ever\n"
    "                          used when standard output is a terminal)\n"
    "  -q, --quiet             text: only the status and the findings\n"
    "  -v, --verbose           print each query sent (never a secret)\n"
    "\n"
    "Backend access (--target):\n"
    "  --bearer-token-file FILE    send \"Authorization: Bearer <token>\"\n"
    "  --basic-auth-user USER      basic auth; the password comes from\n"
    "                              ASYNC_AUDITOR_PASSWORD or:\n"
    "  --basic-auth-password-file FILE\n"
    "  --header 'NAME: VALUE'      extra request header (repeatable), e.g.\n"
    "                              'X-Scope-OrgID: tenant-1'\n"
    "  --ca-file FILE              CA certificates to verify the server\n"
    "  --cert FILE, --key FILE     TLS client certificate and key\n"
    "  --insecure-skip-verify      do not verify the server's certificate\n"
    "  --timeout DUR               per query (default 30s)\n"
    "  --retries N                 retries of a timed-out, refused or 503\n"
    "                              query, with backoff (default 2)\n"
    "\n"
    "Other:\n"
    "  -h, --help              this help\n"
    "  -V, --version           versions of async-auditor and its libraries\n"
    "\n"
    "Durations: 250ms, 30s, 5m, 1h, 1d and combinations like 1m30s.\n"
    "Options take their value as --flag VALUE or --flag=VALUE.\n"
    "\n"
    "Exit status:\n"
    "  0   the gate passed (or no --fail-on-* asked for failure)\n"
    "  1   --fail-on-warning and the worst verdict is a warning\n"
    "  2   --fail-on-critical or --fail-on-warning, and a rule is "
    "critical\n"
    "  3   the audit could not be completed (backend unreachable, every\n"
    "      query failed, a report could not be written), whatever the\n"
    "      flags; or a gate is set and a rule has no data or an error,\n"
    "      unless that rule says no_data: ok or --allow-unknown is given\n"
    "      (a breach's 1 or 2 wins over missing data)\n"
    "  4   scrape mode: COMMAND (after --) failed or could not be started,\n"
    "      and the gate itself passed\n"
    "  64  usage error (bad flags)\n"
    "  78  configuration error (invalid rule file, or a query the backend\n"
    "      rejected as invalid)\n"
    "\n"
    "Environment:\n"
    "  ASYNC_AUDITOR_PASSWORD      basic-auth password (--basic-auth-user)\n"
    "  ASYNC_AUDITOR_BEARER_TOKEN  bearer token when no"
    " --bearer-token-file\n"
    "  NO_COLOR                    set and not empty: no colour\n"
    "\n"
    "Rule file format, report schemas and the default rule pack: see the\n"
    "docs/ directory of async-runtime-auditor.\n";

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
    fprintf(stderr, "Try '" PROG " --help'.\n");
    return AA_EXIT_USAGE;
}

static void print_help(void)
{
    fputs(usage_text, stdout);
    fputs(help_text, stdout);
}

static void print_version(void)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

    printf("%s %s\n", PROG, AA_VERSION);
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
} parse_state;

/* Applies one option with its value (NULL for switches). */
static int apply(tool_config *cfg, parse_state *ps, const opt_def *o,
                 const char *flag, const char *v, bool *done)
{
    char *end;
    long n;

    switch (o->id) {
    case OPT_CONFIG:
        cfg->config_path = v;
        break;
    case OPT_TARGET:
        if (!valid_url(v)) {
            return usage_error("%s: invalid URL \"%s\" (expected "
                               "http://HOST:PORT or https://...)",
                               flag, v);
        }
        cfg->target = v;
        break;
    case OPT_SCRAPE:
        if (!valid_url(v)) {
            return usage_error("%s: invalid URL \"%s\" (expected e.g. "
                               "http://127.0.0.1:9464/metrics)",
                               flag, v);
        }
        return push_str(&cfg->scrape_urls, &cfg->nscrape, v);
    case OPT_SAMPLES:
        cfg->samples_path = v;
        break;
    case OPT_DURATION:
        return parse_dur(flag, v, &cfg->duration_ms);
    case OPT_INTERVAL:
        return parse_dur(flag, v, &cfg->interval_ms);
    case OPT_SAVE_SAMPLES:
        cfg->save_samples_path = v;
        break;
    case OPT_WINDOW:
        ps->has_window = true;
        return parse_dur(flag, v, &cfg->window_ms);
    case OPT_START:
        cfg->has_start = true;
        ps->start_text = v;
        return parse_time_opt(flag, v, &cfg->start_ms);
    case OPT_END:
        cfg->has_end = true;
        ps->end_text = v;
        return parse_time_opt(flag, v, &cfg->end_ms);
    case OPT_SELECTOR: {
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
    case OPT_FAIL_CRITICAL:
        cfg->gate.fail_on_critical = true;
        break;
    case OPT_FAIL_WARNING:
        cfg->gate.fail_on_warning = true;
        break;
    case OPT_ALLOW_UNKNOWN:
        cfg->gate.allow_unknown = true;
        break;
    case OPT_STEP:
        return parse_dur(flag, v, &cfg->step_ms);
    case OPT_FORMAT:
        ps->format_text = v;
        break;
    case OPT_JSON:
        cfg->json_path = v;
        break;
    case OPT_JUNIT:
        cfg->junit_path = v;
        break;
    case OPT_MARKDOWN:
        cfg->markdown_path = v;
        break;
    case OPT_HTML:
        cfg->html_path = v;
        break;
    case OPT_BEARER_FILE:
        cfg->bearer_token_file = v;
        break;
    case OPT_BASIC_USER:
        cfg->basic_auth_user = v;
        break;
    case OPT_BASIC_PASSWORD_FILE:
        cfg->basic_auth_password_file = v;
        break;
    case OPT_HEADER: {
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
    case OPT_CA_FILE:
        cfg->ca_file = v;
        break;
    case OPT_CERT:
        cfg->cert_file = v;
        break;
    case OPT_KEY:
        cfg->key_file = v;
        break;
    case OPT_INSECURE:
        cfg->insecure = true;
        break;
    case OPT_TIMEOUT:
        return parse_dur(flag, v, &cfg->timeout_ms);
    case OPT_RETRIES:
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 100) {
            return usage_error("%s: invalid count \"%s\" (expected 0 to "
                               "100)",
                               flag, v);
        }
        cfg->retries = (int)n;
        break;
    case OPT_NO_COLOR:
        ps->no_color = true;
        break;
    case OPT_QUIET:
        cfg->verbosity = -1;
        break;
    case OPT_VERBOSE:
        cfg->verbosity = 1;
        break;
    case OPT_HELP:
        print_help();
        *done = true;
        break;
    case OPT_VERSION:
        print_version();
        *done = true;
        break;
    }
    return AA_EXIT_OK;
}

static const opt_def *find_long(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < NOPTS; i++) {
        if (strlen(opts[i].name) == len &&
            strncmp(opts[i].name, name, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

static const opt_def *find_short(char c)
{
    size_t i;

    for (i = 0; i < NOPTS; i++) {
        if (opts[i].short_name == c) {
            return &opts[i];
        }
    }
    return NULL;
}

/* Resolves the subcommand from the positional words. */
static int resolve_command(tool_config *cfg, const parse_state *ps)
{
    const char *const *w = ps->positional;
    size_t n = ps->npositional;

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
    if (strcmp(w[0], "rules") != 0) {
        return usage_error("%s: unknown command (expected check, rules lint "
                           "or rules export)",
                           w[0]);
    }
    if (n < 2) {
        return usage_error("rules: missing subcommand (expected lint or "
                           "export)");
    }
    if (strcmp(w[1], "lint") == 0) {
        cfg->command = TOOL_CMD_RULES_LINT;
    } else if (strcmp(w[1], "export") == 0) {
        cfg->command = TOOL_CMD_RULES_EXPORT;
    } else {
        return usage_error("rules %s: unknown subcommand (expected lint or "
                           "export)",
                           w[1]);
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

/* The cross-option rules of SPEC section 4. */
static int validate(tool_config *cfg, parse_state *ps)
{
    size_t sources = (cfg->target != NULL) + (cfg->nscrape > 0) +
                     (cfg->samples_path != NULL);
    const char *f = ps->format_text;

    if (cfg->command != TOOL_CMD_CHECK) {
        const char *rules_cmd =
            cfg->command == TOOL_CMD_RULES_LINT ? "lint" : "export";

        if (sources > 0 || cfg->command_argv != NULL) {
            return usage_error("rules %s: takes no data source (--target, "
                               "--scrape, --samples)",
                               rules_cmd);
        }
        if (cfg->command == TOOL_CMD_RULES_EXPORT) {
            if (f != NULL && strcmp(f, "prometheus") != 0) {
                return usage_error("--format: unknown export format \"%s\" "
                                   "(expected prometheus)",
                                   f);
            }
            cfg->export_format = "prometheus";
        } else if (f != NULL) {
            return usage_error("--format: not used by rules lint");
        }
        return AA_EXIT_OK;
    }

    if (f == NULL || strcmp(f, "text") == 0) {
        cfg->format = TOOL_FORMAT_TEXT;
    } else if (strcmp(f, "json") == 0) {
        cfg->format = TOOL_FORMAT_JSON;
    } else if (strcmp(f, "junit") == 0) {
        cfg->format = TOOL_FORMAT_JUNIT;
    } else if (strcmp(f, "markdown") == 0) {
        cfg->format = TOOL_FORMAT_MARKDOWN;
    } else if (strcmp(f, "github") == 0) {
        cfg->format = TOOL_FORMAT_GITHUB;
    } else {
        return usage_error("--format: unknown format \"%s\" (expected text, "
                           "json, junit, markdown or github)",
                           f);
    }

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
        const opt_def *o;
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
                return usage_error("%.*s: unknown option", (int)(len + 2), a);
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
                return usage_error("%s: unknown option", a);
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
        rc = apply(cfg, &ps, o, flag, value, done);
        if (rc != AA_EXIT_OK) {
            return rc;
        }
    }
    if (*done) {
        return AA_EXIT_OK;
    }
    rc = resolve_command(cfg, &ps);
    if (rc != AA_EXIT_OK) {
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
