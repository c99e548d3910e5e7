/*
 * tool_report.c: writes the report to standard output in the chosen
 * format and to every --json/--junit/--markdown/--html file, and checks
 * every output path before the run (tool_reports_preflight), so that a
 * typo in a path fails at once instead of after the whole audit.  Files
 * are written through tool_file_write (temporary file, rename), so a CI
 * job never picks up half a report, and a failure names the file; one
 * lost file never stops the others.  Also the formatting helpers the
 * writers share (tool_report.h).
 */
#include "tool_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aa/common.h"
#include "tool_file.h"

typedef int (*writer_fn)(const tool_config *, const aa_report *, FILE *);

/* errno of the first failed write of the stdout report, or 0. */
static int stdout_errno;

int tool_report_stdout_errno(void)
{
    return stdout_errno;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);

    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static tool_unit threshold_unit(const aa_threshold *t)
{
    if (!t->set) {
        return TOOL_UNIT_NONE;
    }
    if (ends_with(t->text, "s")) { /* "ms" or "s" */
        return TOOL_UNIT_SECONDS;
    }
    if (ends_with(t->text, "%")) {
        return TOOL_UNIT_PERCENT;
    }
    return TOOL_UNIT_NONE;
}

tool_unit tool_rule_unit(const aa_rule *rule)
{
    tool_unit u = threshold_unit(&rule->critical);

    if (u == TOOL_UNIT_NONE) {
        u = threshold_unit(&rule->warning);
    }
    if (u != TOOL_UNIT_NONE) {
        return u;
    }
    if (rule->metric != NULL && ends_with(rule->metric, "_seconds")) {
        switch (rule->stat) {
        case AA_STAT_QUANTILE:
        case AA_STAT_AVG:
        case AA_STAT_MAX:
        case AA_STAT_MIN:
        case AA_STAT_LAST:
            return TOOL_UNIT_SECONDS;
        default:
            break;
        }
    }
    return TOOL_UNIT_NONE;
}

char *tool_fmt_number(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, size, "%sInf", v > 0 ? "+" : "-");
    } else if (v == 0) {
        snprintf(buf, size, "0");
    } else if (fabs(v) >= 1e4 && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
    } else {
        snprintf(buf, size, "%.4g", v);
    }
    return buf;
}

char *tool_fmt_seconds(double v, char *buf, size_t size)
{
    char num[64];

    if (!isfinite(v)) {
        return tool_fmt_number(v, buf, size);
    }
    if (v != 0 && fabs(v) < 1e-3) {
        snprintf(buf, size, "%s\xC2\xB5s",
                 tool_fmt_number(v * 1e6, num, sizeof(num)));
    } else if (v != 0 && fabs(v) < 1.0) {
        snprintf(buf, size, "%sms",
                 tool_fmt_number(v * 1000.0, num, sizeof(num)));
    } else {
        snprintf(buf, size, "%ss", tool_fmt_number(v, num, sizeof(num)));
    }
    return buf;
}

char *tool_fmt_unit(tool_unit u, double v, char *buf, size_t size)
{
    char num[64];

    if (!isfinite(v)) {
        return tool_fmt_number(v, buf, size);
    }
    switch (u) {
    case TOOL_UNIT_SECONDS:
        tool_fmt_seconds(v, buf, size);
        break;
    case TOOL_UNIT_PERCENT:
        snprintf(buf, size, "%s%%",
                 tool_fmt_number(v * 100.0, num, sizeof(num)));
        break;
    case TOOL_UNIT_NONE:
        tool_fmt_number(v, buf, size);
        break;
    }
    return buf;
}

char *tool_fmt_value(const aa_rule *rule, double v, char *buf, size_t size)
{
    return tool_fmt_unit(rule != NULL ? tool_rule_unit(rule) : TOOL_UNIT_NONE,
                         v, buf, size);
}

char *tool_fmt_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "%" PRId64, ms);
        return buf;
    }
    if (frac != 0) {
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, frac);
    } else {
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    }
    return buf;
}

void tool_count_verdicts(const aa_report *r, size_t counts[AA_NVERDICTS])
{
    size_t i;

    memset(counts, 0, AA_NVERDICTS * sizeof(counts[0]));
    for (i = 0; i < r->nrules; i++) {
        unsigned v = (unsigned)r->rules[i].verdict;

        if (v < AA_NVERDICTS) {
            counts[v]++;
        }
    }
}

char *tool_fmt_summary(const aa_report *r, char *buf, size_t size)
{
    size_t c[AA_NVERDICTS];
    char na[48] = "";

    tool_count_verdicts(r, c);
    if (c[AA_VERDICT_NOT_APPLICABLE] > 0) {
        snprintf(na, sizeof(na), ", %zu n/a", c[AA_VERDICT_NOT_APPLICABLE]);
    }
    snprintf(buf, size,
             "%zu critical, %zu warning, %zu ok, %zu no data, %zu error%s",
             c[AA_VERDICT_CRITICAL], c[AA_VERDICT_WARNING], c[AA_VERDICT_OK],
             c[AA_VERDICT_NO_DATA], c[AA_VERDICT_ERROR], na);
    return buf;
}

int tool_pad_width(const char *s, int width)
{
    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xC0) == 0x80) {
            width++; /* a continuation byte takes no column */
        }
    }
    return width;
}

const char *tool_verdict_shown(aa_verdict v)
{
    return v == AA_VERDICT_NOT_APPLICABLE ? "n/a" : aa_verdict_name(v);
}

char *tool_fmt_judged(const aa_rule *rule, double v,
                      const aa_value_bound *bound, char *buf, size_t size)
{
    tool_unit u = rule != NULL ? tool_rule_unit(rule) : TOOL_UNIT_NONE;
    char a[64], b[64];

    if (bound == NULL || bound->kind == AA_BOUND_NONE || isnan(v)) {
        return tool_fmt_unit(u, v, buf, size);
    }
    tool_fmt_unit(u, bound->lower, a, sizeof(a));
    tool_fmt_unit(u, bound->upper, b, sizeof(b));
    switch (bound->kind) {
    case AA_BOUND_ESTIMATE:
        snprintf(buf, size, "\xE2\x89\x88%s",
                 tool_fmt_unit(u, v, a, sizeof(a)));
        break;
    case AA_BOUND_AT_MOST:
        snprintf(buf, size, "%s\xE2\x89\xA4 %s",
                 bound->one_bucket ? "all samples " : "", b);
        break;
    case AA_BOUND_ABOVE:
        snprintf(buf, size, "%s> %s", bound->one_bucket ? "all samples " : "",
                 a);
        break;
    case AA_BOUND_BETWEEN:
        snprintf(buf, size, "in [%s, %s]", a, b);
        break;
    case AA_BOUND_IN:
    case AA_BOUND_NONE:
        snprintf(buf, size, "%sin (%s, %s]",
                 bound->one_bucket ? "all samples " : "", a, b);
        break;
    }
    return buf;
}

char *tool_fmt_thresholds(const aa_rule *rule, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s%s", rule->warning.set ? "warning " : "",
             rule->warning.set ? rule->warning.text : "",
             rule->warning.set && rule->critical.set ? ", " : "",
             rule->critical.set ? "critical " : "",
             rule->critical.set ? rule->critical.text : "");
    return buf;
}

size_t tool_utf8_len(const char *s)
{
    return aat_utf8_seq((const unsigned char *)s, strnlen(s, 4));
}

char *tool_utf8_copy(const char *s)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    aat_buf b;
    int rc = AA_OK;

    aat_buf_init(&b, SIZE_MAX); /* at most 3 bytes out per byte in */
    while (*s != '\0' && rc == AA_OK) {
        size_t n = tool_utf8_len(s);

        if (n == 0) {
            rc = aat_buf_append(&b, replacement, 3);
            s++;
        } else {
            rc = aat_buf_append(&b, s, n);
            s += n;
        }
    }
    if (rc == AA_OK) {
        rc = aat_buf_append(&b, "", 0); /* an empty s still gets memory */
    }
    if (rc != AA_OK) {
        aat_buf_release(&b);
        return NULL;
    }
    return aat_buf_steal(&b);
}

size_t tool_safe_char(const char *start, const char *s, const char **rep)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k;

    *rep = NULL;
    if (u[0] < 0x20 || u[0] == 0x7f) {
        *rep = "?";
        return 1;
    }
    if (u[0] == '[' && s - start >= 2 && s[-1] == '#' && s[-2] == '#') {
        *rep = "?"; /* a legacy GitHub "##[command]" works mid-line */
        return 1;
    }
    if (u[0] < 0x80) {
        return 1;
    }
    k = aat_utf8_seq(u, strnlen(s, 4));
    if (k == 0) {
        *rep = "\xEF\xBF\xBD";
        return 1;
    }
    if (k == 2 && u[0] == 0xC2 && u[1] < 0xA0) {
        *rep = "?"; /* C1 control, U+0080..U+009F (0x9B is a CSI) */
    }
    return k;
}

void tool_put_xml(FILE *fp, const char *s, bool attr)
{
    while (s != NULL && *s != '\0') {
        unsigned char ch = (unsigned char)*s;
        size_t n;

        switch (ch) {
        case '&':
            fputs("&amp;", fp);
            break;
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        case '\'':
            fputs("&apos;", fp);
            break;
        case '\n':
            fputs(attr ? "&#10;" : "\n", fp);
            break;
        case '\r':
            fputs("&#13;", fp);
            break;
        case '\t':
            fputs(attr ? "&#9;" : "\t", fp);
            break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                fputc('?', fp);
                break;
            }
            n = tool_utf8_len(s);
            if (n == 0) {
                fputs("\xEF\xBF\xBD", fp);
                break;
            }
            fwrite(s, 1, n, fp);
            s += n;
            continue;
        }
        s++;
    }
}

const aa_threshold *tool_shown_threshold(const aa_rule_result *rr)
{
    if (rr->crossed != NULL) {
        return rr->crossed;
    }
    if (rr->rule == NULL) {
        return NULL;
    }
    if (rr->rule->critical.set) {
        return &rr->rule->critical;
    }
    if (rr->rule->warning.set) {
        return &rr->rule->warning;
    }
    return NULL;
}

bool tool_is_finding(const aa_rule_result *rr)
{
    return rr->verdict == AA_VERDICT_WARNING ||
           rr->verdict == AA_VERDICT_CRITICAL;
}

static writer_fn stdout_writer(tool_format f)
{
    switch (f) {
    case TOOL_FORMAT_TEXT:
        return tool_report_text;
    case TOOL_FORMAT_JSON:
        return tool_report_json;
    case TOOL_FORMAT_JUNIT:
        return tool_report_junit;
    case TOOL_FORMAT_MARKDOWN:
        return tool_report_markdown;
    case TOOL_FORMAT_GITHUB:
        return tool_report_github;
    }
    return tool_report_text;
}

/* One report file for tool_file_write. */
typedef struct report_file {
    const tool_config *cfg;
    const aa_report *r;
    writer_fn fn;
} report_file;

static int write_report(void *ctx, FILE *fp)
{
    const report_file *rf = ctx;

    return rf->fn(rf->cfg, rf->r, fp);
}

/*
 * Writes one report file (tool_file_write: a temporary file beside it,
 * renamed into place; a FIFO or /dev/stdout directly).  On failure the
 * error names PATH and PATH is left as it was.
 */
static int write_file(const tool_config *cfg, const aa_report *r,
                      const char *path, writer_fn fn)
{
    report_file rf = {cfg, r, fn};
    int err;

    if (tool_file_write(path, write_report, &rf, &err) != 0) {
        tool_error("%s: cannot write report: %s", path, strerror(err));
        return -1;
    }
    tool_verbose(cfg, "wrote %s", path);
    return 0;
}

int tool_reports_preflight(const tool_config *cfg)
{
    const struct {
        const char *flag, *path;
    } outs[] = {
        {"--json", cfg->json_path},
        {"--junit", cfg->junit_path},
        {"--markdown", cfg->markdown_path},
        {"--html", cfg->html_path},
        {"--save-samples", cfg->save_samples_path},
    };
    size_t i, j, n = sizeof(outs) / sizeof(outs[0]);

    for (i = 0; i < n; i++) {
        if (outs[i].path == NULL) {
            continue;
        }
        for (j = 0; j < i; j++) {
            if (outs[j].path != NULL &&
                strcmp(outs[j].path, outs[i].path) == 0) {
                tool_error("%s and %s: both name %s; one would overwrite "
                           "the other",
                           outs[j].flag, outs[i].flag, outs[i].path);
                return AA_EXIT_USAGE;
            }
        }
        if (tool_file_check(outs[i].flag, outs[i].path) != 0) {
            return AA_EXIT_USAGE;
        }
    }
    return AA_EXIT_OK;
}

/* Returns -1 when a report could not be written: a file (each failure
 * is reported, naming the file) or the stdout report.  A write error on
 * stdout sticks (ferror) and main reports it once, with its errno; a
 * writer that failed before writing (out of memory) is reported here. */
int tool_reports_write(const tool_config *cfg, const aa_report *r)
{
    int rc = 0;

    errno = 0;
    if (stdout_writer(cfg->format)(cfg, r, stdout) != 0 || ferror(stdout)) {
        stdout_errno = errno;
        if (!ferror(stdout)) {
            tool_error("standard output: the report could not be written");
        }
        rc = -1;
    }
    if (cfg->json_path != NULL &&
        write_file(cfg, r, cfg->json_path, tool_report_json) != 0) {
        rc = -1;
    }
    if (cfg->junit_path != NULL &&
        write_file(cfg, r, cfg->junit_path, tool_report_junit) != 0) {
        rc = -1;
    }
    if (cfg->markdown_path != NULL &&
        write_file(cfg, r, cfg->markdown_path, tool_report_markdown) != 0) {
        rc = -1;
    }
    if (cfg->html_path != NULL &&
        write_file(cfg, r, cfg->html_path, tool_report_html) != 0) {
        rc = -1;
    }
    return rc;
}
