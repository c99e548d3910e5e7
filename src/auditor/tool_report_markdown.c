/*
 * tool_report_markdown.c: a Markdown summary (--markdown FILE, --format
 * markdown) meant for a CI step summary such as $GITHUB_STEP_SUMMARY or a
 * merge-request comment: a status line, the findings, and a table of every
 * rule.  Status words only, no emoji, so it reads the same everywhere.
 * Cell text is escaped so that a label value cannot break the table.
 */
#include <stdio.h>
#include <string.h>

#include "aa/rules.h"
#include "tool_report.h"

/* Table-cell text: | escaped, newlines flattened, Markdown punctuation
 * that could start emphasis or links escaped. */
static void put_cell(FILE *fp, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '|':
        case '\\':
        case '*':
        case '_':
        case '`':
        case '[':
        case ']':
        case '<':
        case '>':
            fputc('\\', fp);
            fputc(*s, fp);
            break;
        case '\n':
        case '\r':
        case '\t':
            fputc(' ', fp);
            break;
        default:
            fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, fp);
            break;
        }
    }
}

/* Code-span text: backticks cannot be escaped inside a span, so they are
 * replaced; pipes still need escaping inside tables. */
static void put_code(FILE *fp, const char *s)
{
    fputc('`', fp);
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '`') {
            fputc('\'', fp);
        } else if (*s == '|') {
            fputs("\\|", fp);
        } else if (*s == '\n' || *s == '\r' || *s == '\t') {
            fputc(' ', fp);
        } else if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            fputc('?', fp);
        } else {
            fputc(*s, fp);
        }
    }
    fputc('`', fp);
}

int tool_report_markdown(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    char a[40], b[40], val[64], buf[1024];
    size_t i, c[5], nfind;
    int pass;

    (void)cfg;
    tool_count_verdicts(r, c);
    nfind = c[AA_VERDICT_CRITICAL] + c[AA_VERDICT_WARNING];
    fprintf(fp, "## Async runtime audit: %s\n\n", aa_status_name(r->status));
    fprintf(fp, "**%s** over ", tool_fmt_summary(r, buf, sizeof(buf)));
    fprintf(fp, "%s to %s from ", tool_fmt_time(r->start_ms, a, sizeof(a)),
            tool_fmt_time(r->end_ms, b, sizeof(b)));
    put_code(fp, r->target != NULL ? r->target : "-");
    fprintf(fp, " (%s).\n\n", r->mode != NULL ? r->mode : "-");

    if (nfind > 0) {
        fputs("### Findings\n\n", fp);
    }
    for (pass = 0; pass < 2; pass++) {
        aa_verdict want = pass == 0 ? AA_VERDICT_CRITICAL : AA_VERDICT_WARNING;

        for (i = 0; i < r->nrules; i++) {
            const aa_rule_result *rr = &r->rules[i];

            if (rr->verdict != want) {
                continue;
            }
            fprintf(fp, "- **%s**: ", aa_verdict_name(rr->verdict));
            put_cell(fp, rr->rule->finding);
            fputs(" (", fp);
            put_code(fp, rr->rule->id);
            fputc(')', fp);
            if (rr->has_value) {
                fprintf(fp, ": %s",
                        tool_fmt_value(rr->rule, rr->value, val, sizeof(val)));
            }
            if (rr->crossed != NULL) {
                fputs(" crossed ", fp);
                put_cell(fp, rr->crossed->text);
            }
            if (rr->nseries > 0 && rr->series[0].labels.n > 0) {
                fputs(" on ", fp);
                put_code(fp, aa_labels_format(&rr->series[0].labels, buf,
                                              sizeof(buf)));
            }
            if (rr->nsites > 0) {
                fputs("; top site ", fp);
                put_code(fp, rr->sites[0].site);
            }
            fputc('\n', fp);
        }
    }
    if (nfind > 0) {
        fputc('\n', fp);
    }

    fputs("### Rules\n\n"
          "| Status | Rule | Finding | Value | Thresholds | Notes |\n"
          "|---|---|---|---|---|---|\n",
          fp);
    for (i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];

        fprintf(fp, "| %s%s%s | ", tool_is_finding(rr) ? "**" : "",
                aa_verdict_name(rr->verdict), tool_is_finding(rr) ? "**" : "");
        put_code(fp, rr->rule->id);
        fputs(" | ", fp);
        put_cell(fp, rr->rule->finding);
        fprintf(fp, " | %s | ",
                rr->has_value
                    ? tool_fmt_value(rr->rule, rr->value, val, sizeof(val))
                    : "-");
        put_cell(fp, tool_fmt_thresholds(rr->rule, buf, sizeof(buf)));
        fputs(" | ", fp);
        if (rr->message != NULL) {
            put_cell(fp, rr->message);
        } else if (tool_is_finding(rr) && rr->nseries > 0 &&
                   rr->series[0].labels.n > 0) {
            put_code(
                fp, aa_labels_format(&rr->series[0].labels, buf, sizeof(buf)));
        }
        fputs(" |\n", fp);
    }
    if (fflush(fp) != 0 || ferror(fp)) {
        return AA_EIO;
    }
    return 0;
}
