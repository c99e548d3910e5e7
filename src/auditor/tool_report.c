/*
 * tool_report.c: writes the report to standard output in the chosen
 * format and to every --json/--junit/--markdown/--html file.  Files are
 * written to a temporary file in the same directory and renamed into
 * place, so a CI job never picks up half a report, and a failure names the
 * file.  Also the formatting helpers the writers share (tool_report.h).
 */
#include "tool_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aa/common.h"

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
    if (v != 0 && fabs(v) < 1.0) {
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

void tool_count_verdicts(const aa_report *r, size_t counts[5])
{
    size_t i;

    memset(counts, 0, 5 * sizeof(counts[0]));
    for (i = 0; i < r->nrules; i++) {
        unsigned v = (unsigned)r->rules[i].verdict;

        if (v < 5) {
            counts[v]++;
        }
    }
}

char *tool_fmt_summary(const aa_report *r, char *buf, size_t size)
{
    size_t c[5];

    tool_count_verdicts(r, c);
    snprintf(buf, size,
             "%zu critical, %zu warning, %zu ok, %zu no data, %zu error",
             c[AA_VERDICT_CRITICAL], c[AA_VERDICT_WARNING], c[AA_VERDICT_OK],
             c[AA_VERDICT_NO_DATA], c[AA_VERDICT_ERROR]);
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
    const unsigned char *u = (const unsigned char *)s;
    unsigned long cp;
    size_t n, i;

    if (u[0] < 0x80) {
        return 1;
    } else if ((u[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = u[0] & 0x1F;
    } else if ((u[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = u[0] & 0x0F;
    } else if ((u[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = u[0] & 0x07;
    } else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            return 0; /* also stops at the NUL */
        }
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    /* overlong forms, surrogates and code points past U+10FFFF */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
        (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return n;
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

/*
 * Writes one report file atomically: PATH.tmp.XXXXXX beside it, then
 * rename.  The file gets the permissions a plain fopen would give (0666
 * less the umask).  On failure the temporary file is removed, PATH is left
 * as it was, and the error names PATH.  A PATH that exists and is not a
 * regular file (/dev/stdout, a FIFO) is written directly.
 */
static int write_file(const tool_config *cfg, const aa_report *r,
                      const char *path, writer_fn fn)
{
    aat_buf tmp;
    FILE *fp = NULL;
    struct stat st;
    mode_t mask;
    int fd = -1, rc = -1, err = 0;

    aat_buf_init(&tmp, 8192);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* a device or pipe (/dev/stdout, a FIFO): no rename possible */
        fp = fopen(path, "w");
        if (fp == NULL) {
            tool_error("%s: cannot write report: %s", path, strerror(errno));
            goto out;
        }
        errno = 0;
        if (fn(cfg, r, fp) != 0 || fflush(fp) != 0 || ferror(fp)) {
            err = errno != 0 ? errno : EIO;
        }
        if (fclose(fp) != 0 && err == 0) {
            err = errno;
        }
        if (err != 0) {
            tool_error("%s: cannot write report: %s", path, strerror(err));
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (aat_buf_appendf(&tmp, "%s.tmp.XXXXXX", path) != AA_OK) {
        tool_error("%s: cannot write report: file name too long", path);
        goto out;
    }
    fd = mkstemp(tmp.data);
    if (fd < 0) {
        tool_error("%s: cannot write report: %s", path, strerror(errno));
        goto out;
    }
    mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
        err = errno;
    }
    fp = fdopen(fd, "w");
    if (fp == NULL) {
        tool_error("%s: cannot write report: %s", path, strerror(errno));
        close(fd);
        unlink(tmp.data);
        goto out;
    }
    errno = 0;
    if (err == 0 && (fn(cfg, r, fp) != 0 || fflush(fp) != 0 || ferror(fp))) {
        err = errno != 0 ? errno : EIO;
    }
    if (fclose(fp) != 0 && err == 0) {
        err = errno;
    }
    if (err == 0 && rename(tmp.data, path) != 0) {
        err = errno;
    }
    if (err != 0) {
        tool_error("%s: cannot write report: %s", path, strerror(err));
        unlink(tmp.data);
        goto out;
    }
    tool_verbose(cfg, "wrote %s", path);
    rc = 0;
out:
    aat_buf_release(&tmp);
    return rc;
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
