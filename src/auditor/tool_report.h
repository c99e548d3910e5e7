/*
 * tool_report.h: the report writers (one file per format) and the small
 * formatting helpers they share, so that every format shows the same value
 * with the same unit and the same time stamps.  Each writer renders a
 * finished aa_report (borrowed) to fp and returns 0, or AA_EIO when
 * writing failed (the caller names the file).
 */
#ifndef TOOL_REPORT_H
#define TOOL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "aa/result.h"
#include "tool_cfg.h"

int tool_report_text(const tool_config *cfg, const aa_report *r, FILE *fp);
int tool_report_json(const tool_config *cfg, const aa_report *r, FILE *fp);
int tool_report_junit(const tool_config *cfg, const aa_report *r, FILE *fp);
int tool_report_markdown(const tool_config *cfg, const aa_report *r, FILE *fp);
int tool_report_github(const tool_config *cfg, const aa_report *r, FILE *fp);

/* errno of the failed write when tool_reports_write could not write the
 * stdout report, else 0 (stdout's error flag tells the caller it failed). */
int tool_report_stdout_errno(void);

typedef enum tool_unit {
    TOOL_UNIT_NONE,    /* a plain number */
    TOOL_UNIT_SECONDS, /* shown as 120ms below 1 s, else 1.5s */
    TOOL_UNIT_PERCENT  /* a ratio shown as 12.5% */
} tool_unit;

/* The unit a rule's values are in: from its thresholds' units ("250ms",
 * "5%"), else from a *_seconds metric's latency-like stat. */
tool_unit tool_rule_unit(const aa_rule *rule);

/* A value in unit u ("120ms", "1.5s", "12.5%", "42"; "NaN", "+Inf" in
 * any unit) into buf; returns buf. */
char *tool_fmt_unit(tool_unit u, double v, char *buf, size_t size);

/* tool_fmt_unit in the rule's unit (tool_rule_unit; none for NULL). */
char *tool_fmt_value(const aa_rule *rule, double v, char *buf, size_t size);

/* Seconds as "500µs" below 1 ms, "120ms" below 1 s, else "1.5s". */
char *tool_fmt_seconds(double v, char *buf, size_t size);

/* A number with up to 4 significant digits, no trailing zeros. */
char *tool_fmt_number(double v, char *buf, size_t size);

/* RFC 3339 in UTC ("2026-11-26T10:00:00Z", ".250" added when ms != 0). */
char *tool_fmt_time(int64_t ms, char *buf, size_t size);

/* Counts of the report's rule verdicts, indexed by aa_verdict. */
void tool_count_verdicts(const aa_report *r, size_t counts[AA_NVERDICTS]);

/* "1 critical, 0 warning, 2 ok, 1 no data, 1 error", then ", 2 n/a" when
 * rules were not applicable, into buf; returns buf. */
char *tool_fmt_summary(const aa_report *r, char *buf, size_t size);

/* The printf field width that pads s to width columns on a terminal:
 * width plus the bytes of s's multi-byte UTF-8 characters beyond their
 * first ("%-*s" counts bytes; "≈" is 3 bytes, one column). */
int tool_pad_width(const char *s, int width);

/* A verdict as the human formats (text, Markdown, HTML) show it: its
 * name, except "n/a" for not_applicable. */
const char *tool_verdict_shown(aa_verdict v);

/*
 * A judged value as every report shows it (bound NULL or exact: the
 * value in the rule's unit): "≈1.54s" for a quantile's estimate, and for
 * a bound "in (1s, 2.5s]", "≤ 977µs", "> 64s", or "all samples in (1s,
 * 2.5s]" when every observation lies in that bucket; a share's bound
 * "in [12%, 31%]".  Into buf; returns buf.
 */
char *tool_fmt_judged(const aa_rule *rule, double v,
                      const aa_value_bound *bound, char *buf, size_t size);

/* A rule's thresholds as written: "warning > 50ms, critical > 250ms"
 * (only those set) into buf; returns buf. */
char *tool_fmt_thresholds(const aa_rule *rule, char *buf, size_t size);

/* Length (1..4) of the valid UTF-8 sequence at s, 0 when the byte at s
 * does not start one.  *s must not be NUL. */
size_t tool_utf8_len(const char *s);

/* A malloc'd copy of s in which every byte that does not belong to a
 * valid UTF-8 sequence is replaced by U+FFFD; NULL on OOM. */
char *tool_utf8_copy(const char *s);

/*
 * How the character at s, inside the string starting at start, is shown
 * in text meant for a terminal or a CI log (the text and github formats):
 * returns its length in bytes and sets *rep to its replacement, or NULL
 * when it is shown as it is.  Control characters (C0, DEL, C1) and the
 * '[' of "##[" (a legacy GitHub workflow command, obeyed anywhere in a
 * line) become "?", a byte that is not valid UTF-8 becomes U+FFFD.  *s
 * must not be NUL.
 */
size_t tool_safe_char(const char *start, const char *s, const char **rep);

/* s as XML 1.0 character data (attr: inside a double- or single-quoted
 * attribute value): & < > " ' escaped; control characters other than
 * tab, newline and carriage return, which XML 1.0 cannot hold, and bytes
 * that are not valid UTF-8 become '?' and U+FFFD.  In attributes,
 * newlines and tabs are written as character references so that parsers
 * keep them.  NULL writes nothing. */
void tool_put_xml(FILE *fp, const char *s, bool attr);

/* The threshold a rule result is judged against for display: the crossed
 * one, else critical, else warning; NULL when the rule has none. */
const aa_threshold *tool_shown_threshold(const aa_rule_result *rr);

/* True when the rule result is a finding (warning or critical). */
bool tool_is_finding(const aa_rule_result *rr);

#endif
