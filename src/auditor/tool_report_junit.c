/*
 * tool_report_junit.c: the JUnit XML report (--junit FILE, --format
 * junit) that CI systems show as test results: one testsuite, one
 * testcase per rule.  A breach (warning, critical) is a <failure>; a rule
 * that could not be judged (no_data, error) is an <error>, so the two are
 * told apart; a rule whose missing data is acceptable (no_data: ok) or
 * that does not apply to the loops measured (not_applicable) is
 * <skipped>.  Everything from outside (label values, messages) is escaped,
 * and characters XML 1.0 cannot hold are replaced.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "aa/rules.h"
#include "tool_report.h"
#include "tool_report_culprits.h"

/* One line summing a rule's outcome, used as the failure message. */
static void rule_message(const aa_rule_result *rr, char *buf, size_t size)
{
    const aa_rule *rule = rr->rule;
    char val[64];

    if (tool_is_finding(rr) && rr->has_value && rr->crossed != NULL) {
        snprintf(
            buf, size, "%s: %s %s (%s)", rule->finding,
            tool_fmt_judged(rule, rr->value, &rr->bound, val, sizeof(val)),
            rr->crossed->text, aa_verdict_name(rr->verdict));
    } else if (rr->message != NULL) {
        snprintf(buf, size, "%s", rr->message);
    } else if (rr->has_value) {
        snprintf(
            buf, size, "%s: %s (%s)", rule->finding,
            tool_fmt_judged(rule, rr->value, &rr->bound, val, sizeof(val)),
            aa_verdict_name(rr->verdict));
    } else {
        snprintf(buf, size, "%s (%s)", rule->finding,
                 aa_verdict_name(rr->verdict));
    }
}

/* The element's body: the evidence a person reading the CI result needs. */
static void put_details(FILE *fp, const aa_rule_result *rr)
{
    const aa_rule *rule = rr->rule;
    char buf[1024], val[64];
    size_t i;

    if (rule->description != NULL) {
        tool_put_xml(fp, rule->description, false);
        fputc('\n', fp);
    }
    fputs("thresholds: warning ", fp);
    tool_put_xml(fp, rule->warning.set ? rule->warning.text : "-", false);
    fputs(", critical ", fp);
    tool_put_xml(fp, rule->critical.set ? rule->critical.text : "-", false);
    fputc('\n', fp);
    if (rr->query != NULL) {
        fputs("query: ", fp);
        tool_put_xml(fp, rr->query, false);
        fputc('\n', fp);
    }
    for (i = 0; i < rr->nseries; i++) {
        fputs("series ", fp);
        tool_put_xml(fp,
                     aa_labels_format(&rr->series[i].labels, buf, sizeof(buf)),
                     false);
        fprintf(fp, " = %s (%s)\n",
                tool_fmt_judged(rule, rr->series[i].value,
                                &rr->series[i].bound, val, sizeof(val)),
                aa_verdict_name(rr->series[i].verdict));
    }
    for (i = 0; i < rr->nwarnings; i++) {
        fputs("backend warning: ", fp);
        tool_put_xml(fp, rr->warnings[i], false);
        fputc('\n', fp);
    }
}

/* Appends to a finding's message (buf, len of it used) its breaching
 * workers and its top culprit, line first, with the hint: what a person
 * scanning CI results reads before opening the details. */
static void culprit_message(const aa_rule_result *rr, char *buf, size_t size)
{
    size_t len = strlen(buf);
    char part[1024], title[1024];

    for (size_t i = 0; i < rr->nseries && len < size; i++) {
        if (tool_series_breaches(&rr->series[i]) &&
            tool_fmt_worker_breach(rr, &rr->series[i], part, sizeof(part))) {
            len += (size_t)snprintf(buf + len, size - len, "; %s", part);
        }
    }
    if (rr->nsites > 0 && len < size) {
        len += (size_t)snprintf(
            buf + len, size - len, "; culprit %s",
            tool_culprit_title(&rr->sites[0], title, sizeof(title)));
    }
    if (rr->nsites > 0 && rr->sites[0].hint != NULL && len < size) {
        snprintf(buf + len, size - len, " (hint: %s)", rr->sites[0].hint);
    }
}

/* A finding's culprits in the element's body, each with the groups it
 * was found for, its chain, class and hint (one testcase is read on its
 * own, so each failing rule lists its own). */
static void put_culprit_details(FILE *fp, const tool_culprits *cs,
                                const aa_rule_result *rr)
{
    char buf[1024], amount[160];

    for (size_t i = 0; i < cs->n; i++) {
        const tool_culprit *c = &cs->v[i];
        const struct {
            const char *name, *value;
        } facts[] = {
            {"chain", c->chain}, {"class", c->cls}, {"hint", c->hint}};
        bool mine = false;

        for (size_t g = 0; g < c->ngroups; g++) {
            for (size_t k = 0; k < c->groups[g].nrules; k++) {
                mine = mine || c->groups[g].rules[k] == rr;
            }
        }
        if (!mine) {
            continue;
        }
        fprintf(fp, "culprit #%zu ", i + 1);
        tool_put_xml(fp, tool_culprit_title(c->s, buf, sizeof(buf)), false);
        fputc('\n', fp);
        for (size_t g = 0; g < c->ngroups; g++) {
            const tool_culprit_group *cg = &c->groups[g];

            for (size_t k = 0; k < cg->nrules; k++) {
                if (cg->rules[k] != rr) {
                    continue;
                }
                fputs("  ", fp);
                tool_put_xml(fp, tool_fmt_group(cg->labels, buf, sizeof(buf)),
                             false);
                fprintf(fp, ": %s\n",
                        tool_culprit_amount(c->s->kind, cg->seconds, cg->share,
                                            amount, sizeof(amount)));
            }
        }
        for (size_t f = 0; f < sizeof(facts) / sizeof(facts[0]); f++) {
            if (facts[f].value != NULL) {
                fprintf(fp, "  %s: ", facts[f].name);
                tool_put_xml(fp, facts[f].value, false);
                fputc('\n', fp);
            }
        }
    }
}

/* Skipped: missing data that the rule accepts (no_data: ok), or a rule
 * that does not apply to the loops measured (not_applicable). */
static bool is_skipped(const aa_rule_result *rr)
{
    return rr->verdict == AA_VERDICT_NOT_APPLICABLE ||
           (rr->verdict == AA_VERDICT_OK && !rr->has_value &&
            rr->rule->no_data == AA_NODATA_OK);
}

int tool_report_junit(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    size_t i, failures = 0, errors = 0, skipped = 0;
    char ts[40], msg[4096];
    tool_culprits cs = {NULL, 0};

    (void)cfg;
    if (tool_culprits_collect(r, &cs) != AA_OK) {
        tool_error("JUnit report: %s", aa_strerror(AA_ENOMEM));
        return AA_EIO;
    }
    for (i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];

        if (tool_is_finding(rr)) {
            failures++;
        } else if (rr->verdict == AA_VERDICT_NO_DATA ||
                   rr->verdict == AA_VERDICT_ERROR) {
            errors++;
        } else if (is_skipped(rr)) {
            skipped++;
        }
    }
    /* timestamp: the end of the window, without the zone designator as
     * the JUnit schema's xs:dateTime usage expects */
    tool_fmt_time(r->end_ms - r->end_ms % 1000, ts, sizeof(ts));
    if (ts[0] != '\0' && ts[strlen(ts) - 1] == 'Z') {
        ts[strlen(ts) - 1] = '\0';
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", fp);
    fprintf(fp,
            "<testsuites name=\"async-auditor\" tests=\"%zu\" "
            "failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\">\n",
            r->nrules, failures, errors, skipped);
    fprintf(fp,
            "  <testsuite name=\"async-auditor\" tests=\"%zu\" "
            "failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" "
            "timestamp=\"%s\" time=\"0\">\n",
            r->nrules, failures, errors, skipped, ts);
    fputs("    <properties>\n", fp);
    fprintf(fp, "      <property name=\"status\" value=\"%s\"/>\n",
            aa_status_name(r->status));
    fputs("      <property name=\"target\" value=\"", fp);
    tool_put_xml(fp, r->target, true);
    fputs("\"/>\n      <property name=\"mode\" value=\"", fp);
    tool_put_xml(fp, r->mode, true);
    fputs("\"/>\n", fp);
    fprintf(fp, "      <property name=\"window_start\" value=\"%s\"/>\n",
            tool_fmt_time(r->start_ms, msg, sizeof(msg)));
    fprintf(fp, "      <property name=\"window_end\" value=\"%s\"/>\n",
            tool_fmt_time(r->end_ms, msg, sizeof(msg)));
    fputs("    </properties>\n", fp);
    for (i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];
        const char *elem = NULL;

        fputs("    <testcase classname=\"async-auditor\" name=\"", fp);
        tool_put_xml(fp, rr->rule->id, true);
        fputs("\" time=\"0\">\n", fp);
        rule_message(rr, msg, sizeof(msg));
        if (tool_is_finding(rr)) {
            elem = "failure";
            culprit_message(rr, msg, sizeof(msg));
        } else if (rr->verdict == AA_VERDICT_NO_DATA ||
                   rr->verdict == AA_VERDICT_ERROR) {
            elem = "error";
        }
        if (elem != NULL) {
            fprintf(fp, "      <%s type=\"%s\" message=\"", elem,
                    aa_verdict_name(rr->verdict));
            tool_put_xml(fp, msg, true);
            fputs("\">", fp);
            put_details(fp, rr);
            put_culprit_details(fp, &cs, rr);
            fprintf(fp, "</%s>\n", elem);
        } else if (is_skipped(rr)) {
            fputs("      <skipped message=\"", fp);
            tool_put_xml(fp,
                         rr->message != NULL ? rr->message
                                             : "no data (no_data: ok)",
                         true);
            fputs("\"/>\n", fp);
        } else {
            fputs("      <system-out>", fp);
            tool_put_xml(fp, msg, false);
            fputc('\n', fp);
            put_details(fp, rr);
            fputs("</system-out>\n", fp);
        }
        fputs("    </testcase>\n", fp);
    }
    fputs("  </testsuite>\n</testsuites>\n", fp);
    tool_culprits_free(&cs);
    if (fflush(fp) != 0 || ferror(fp)) {
        return AA_EIO;
    }
    return 0;
}
