/*
 * tool_report_markdown.c: a Markdown summary (--markdown FILE, --format
 * markdown) meant for a CI step summary such as $GITHUB_STEP_SUMMARY or a
 * merge-request comment: a status line, the findings, each culprit once,
 * and a table of every rule.  Status words only, no emoji, so it reads the same everywhere.
 * Cell text is escaped so that a label value cannot break the table.
 */
#include <stdio.h>
#include <string.h>

#include "aa/rules.h"
#include "tool_report.h"
#include "tool_report_culprits.h"

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

/* Whether an earlier entry of rr->sites than k is the same culprit. */
static bool seen_before(const tool_culprits *cs, const aa_rule_result *rr,
                        size_t k, size_t idx)
{
    for (size_t i = 0; i < k; i++) {
        if (tool_culprits_find(cs, &rr->sites[i]) == idx) {
            return true;
        }
    }
    return false;
}

/* Under a finding: its breaching workers, then its culprits by number
 * with the groups each was found for (the details are under Culprits). */
static void put_finding_culprits(FILE *fp, const tool_culprits *cs,
                                 const aa_rule_result *rr)
{
    char buf[1024];

    for (size_t i = 0; i < rr->nseries; i++) {
        if (tool_series_breaches(&rr->series[i]) &&
            tool_fmt_worker_breach(rr, &rr->series[i], buf, sizeof(buf))) {
            fputs("  - ", fp);
            put_cell(fp, buf);
            fputc('\n', fp);
        }
    }
    for (size_t k = 0; k < rr->nsites; k++) {
        size_t idx = tool_culprits_find(cs, &rr->sites[k]);
        bool first = true;

        if (idx == cs->n || seen_before(cs, rr, k, idx)) {
            continue;
        }
        fprintf(fp, "  - culprit #%zu ", idx + 1);
        put_code(fp, tool_culprit_title(&rr->sites[k], buf, sizeof(buf)));
        fputs(" (", fp);
        for (size_t i = k; i < rr->nsites; i++) {
            if (tool_culprits_find(cs, &rr->sites[i]) == idx) {
                fputs(first ? "" : ", ", fp);
                put_cell(
                    fp, tool_fmt_group(&rr->sites[i].group, buf, sizeof(buf)));
                first = false;
            }
        }
        fputs(")\n", fp);
    }
}

/* Every culprit once: its line first, then chain, class, hint and each
 * group it explains. */
static void put_culprits(FILE *fp, const tool_culprits *cs)
{
    char buf[1024], amount[160];

    if (cs->n == 0) {
        return;
    }
    fputs("### Culprits\n\n", fp);
    for (size_t i = 0; i < cs->n; i++) {
        const tool_culprit *c = &cs->v[i];

        fprintf(fp, "%zu. ", i + 1);
        put_code(fp, tool_culprit_title(c->s, buf, sizeof(buf)));
        fputc('\n', fp);
        if (c->chain != NULL) {
            fputs("   - chain: ", fp);
            put_code(fp, c->chain);
            fputc('\n', fp);
        }
        if (c->cls != NULL) {
            fputs("   - class: ", fp);
            put_cell(fp, c->cls);
            fputc('\n', fp);
        }
        if (c->hint != NULL) {
            fputs("   - hint: ", fp);
            put_cell(fp, c->hint);
            fputc('\n', fp);
        }
        for (size_t g = 0; g < c->ngroups; g++) {
            const tool_culprit_group *cg = &c->groups[g];

            fputs("   - ", fp);
            put_cell(fp, tool_fmt_group(cg->labels, buf, sizeof(buf)));
            fprintf(fp, ": %s (",
                    tool_culprit_amount(c->s->kind, cg->seconds, cg->share,
                                        amount, sizeof(amount)));
            for (size_t k = 0; k < cg->nrules; k++) {
                fputs(k > 0 ? ", " : "", fp);
                put_code(fp, cg->rules[k]->rule->id);
            }
            fputs(")\n", fp);
        }
    }
    fputc('\n', fp);
}

int tool_report_markdown(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    char a[40], b[40], val[64], buf[1024];
    tool_culprits cs = {NULL, 0};
    size_t i, c[AA_NVERDICTS], nfind;
    int pass;

    (void)cfg;
    if (tool_culprits_collect(r, &cs) != AA_OK) {
        tool_error("Markdown report: %s", aa_strerror(AA_ENOMEM));
        return AA_EIO;
    }
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
                fputs(": ", fp);
                put_cell(fp, tool_fmt_judged(rr->rule, rr->value, &rr->bound,
                                             val, sizeof(val)));
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
            fputc('\n', fp);
            put_finding_culprits(fp, &cs, rr);
        }
    }
    if (nfind > 0) {
        fputc('\n', fp);
    }
    put_culprits(fp, &cs);
    tool_culprits_free(&cs);

    fputs("### Rules\n\n"
          "| Status | Rule | Finding | Value | Thresholds | Notes |\n"
          "|---|---|---|---|---|---|\n",
          fp);
    for (i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];

        fprintf(fp, "| %s%s%s | ", tool_is_finding(rr) ? "**" : "",
                tool_verdict_shown(rr->verdict),
                tool_is_finding(rr) ? "**" : "");
        put_code(fp, rr->rule->id);
        fputs(" | ", fp);
        put_cell(fp, rr->rule->finding);
        fputs(" | ", fp);
        put_cell(fp, rr->has_value
                         ? tool_fmt_judged(rr->rule, rr->value, &rr->bound,
                                           val, sizeof(val))
                         : "-");
        fputs(" | ", fp);
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
