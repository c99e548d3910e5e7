/*
 * tool_report_github.c: --format github, GitHub Actions workflow commands
 * so that findings appear as annotations on the run: ::error for a
 * critical rule, ::warning for a warning or a failed query, ::notice for
 * a rule without data, then one plain summary line.  Values are escaped
 * as the runner expects: in the message % CR LF; in properties also : and
 * comma; control characters, invalid UTF-8 and a legacy "##[" as in the
 * text report (tool_safe_char).
 */
#include <stdio.h>
#include <string.h>

#include "aa/rules.h"
#include "tool_report.h"
#include "tool_report_culprits.h"

/* s escaped for a workflow command (property: a title=... value): the
 * runner's own escapes for % CR LF (and : , in properties), then
 * tool_safe_char, so outside text can neither end the command, start a
 * line nor carry a control character. */
static void put_escaped(FILE *fp, const char *s, bool property)
{
    const char *p;

    for (p = s; p != NULL && *p != '\0';) {
        const char *rep = NULL;
        size_t k = 1;

        switch (*p) {
        case '%':
            rep = "%25";
            break;
        case '\r':
            rep = "%0D";
            break;
        case '\n':
            rep = "%0A";
            break;
        case ':':
            rep = property ? "%3A" : NULL;
            break;
        case ',':
            rep = property ? "%2C" : NULL;
            break;
        default:
            k = tool_safe_char(s, p, &rep);
            break;
        }
        if (rep != NULL) {
            fputs(rep, fp);
        } else {
            fwrite(p, 1, k, fp);
        }
        p += k;
    }
}

static const char *command_for(aa_verdict v)
{
    switch (v) {
    case AA_VERDICT_CRITICAL:
        return "error";
    case AA_VERDICT_WARNING:
    case AA_VERDICT_ERROR:
        return "warning";
    case AA_VERDICT_NO_DATA:
        return "notice";
    case AA_VERDICT_OK:
    case AA_VERDICT_NOT_APPLICABLE:
        break;
    }
    return NULL;
}

/*
 * Appends to a finding's message (msg, *len of size used) one line per
 * breaching worker ("worker 4123: 61% blocked") and one per culprit, its
 * line first, with the groups it was found for and its hint.  An
 * annotation is read on its own, so it names its own culprits.
 */
static void culprit_lines(const tool_culprits *cs, const aa_rule_result *rr,
                          char *msg, size_t *len, size_t size)
{
    char buf[1024], group[512];

    for (size_t i = 0; i < rr->nseries && *len < size; i++) {
        if (tool_series_breaches(&rr->series[i]) &&
            tool_fmt_worker_breach(rr, &rr->series[i], buf, sizeof(buf))) {
            *len += (size_t)snprintf(msg + *len, size - *len, "\n%s", buf);
        }
    }
    for (size_t k = 0; k < rr->nsites && *len < size; k++) {
        size_t idx = tool_culprits_find(cs, &rr->sites[k]), i;
        bool first = true;

        for (i = 0; i < k && tool_culprits_find(cs, &rr->sites[i]) != idx;
             i++) {
        }
        if (i < k) {
            continue; /* named with its first group */
        }
        *len += (size_t)snprintf(
            msg + *len, size - *len, "\nculprit %s (",
            tool_culprit_title(&rr->sites[k], buf, sizeof(buf)));
        for (i = k; i < rr->nsites && *len < size; i++) {
            if (tool_culprits_find(cs, &rr->sites[i]) != idx) {
                continue;
            }
            *len += (size_t)snprintf(
                msg + *len, size - *len, "%s%s: %s", first ? "" : ", ",
                tool_fmt_group(&rr->sites[i].group, group, sizeof(group)),
                tool_culprit_amount(rr->sites[i].kind, rr->sites[i].seconds,
                                    rr->sites[i].share, buf, sizeof(buf)));
            first = false;
        }
        if (*len < size) {
            *len += (size_t)snprintf(msg + *len, size - *len, ")");
        }
        if (rr->sites[k].hint != NULL && *len < size) {
            *len += (size_t)snprintf(msg + *len, size - *len, "\nhint: %s",
                                     rr->sites[k].hint);
        }
    }
}

static void put_annotation(FILE *fp, const tool_culprits *cs,
                           const aa_rule_result *rr)
{
    const aa_rule *rule = rr->rule;
    const char *cmd = command_for(rr->verdict);
    char title[512], msg[8192], val[64], labels[1024];
    size_t len;

    if (cmd == NULL) {
        return;
    }
    snprintf(title, sizeof(title), "async-auditor %s: %s", rule->id,
             aa_verdict_name(rr->verdict));
    len = (size_t)snprintf(msg, sizeof(msg), "%s", rule->finding);
    if (rr->has_value && len < sizeof(msg)) {
        len += (size_t)snprintf(
            msg + len, sizeof(msg) - len, ": %s",
            tool_fmt_judged(rule, rr->value, &rr->bound, val, sizeof(val)));
    }
    if (rr->crossed != NULL && len < sizeof(msg)) {
        len +=
            (size_t)snprintf(msg + len, sizeof(msg) - len, " (%s %s)",
                             aa_verdict_name(rr->verdict), rr->crossed->text);
    }
    if (tool_is_finding(rr) && rr->nseries > 0 && rr->series[0].labels.n > 0 &&
        len < sizeof(msg)) {
        len += (size_t)snprintf(
            msg + len, sizeof(msg) - len, " on %s",
            aa_labels_format(&rr->series[0].labels, labels, sizeof(labels)));
    }
    if (rr->message != NULL && len < sizeof(msg)) {
        len += (size_t)snprintf(msg + len, sizeof(msg) - len, ": %s",
                                rr->message);
    }
    culprit_lines(cs, rr, msg, &len, sizeof(msg));
    fprintf(fp, "::%s title=", cmd);
    put_escaped(fp, title, true);
    fputs("::", fp);
    put_escaped(fp, msg, false);
    fputc('\n', fp);
}

int tool_report_github(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    char summary[160];
    tool_culprits cs = {NULL, 0};
    size_t i;
    int pass;

    (void)cfg;
    if (tool_culprits_collect(r, &cs) != AA_OK) {
        tool_error("GitHub report: %s", aa_strerror(AA_ENOMEM));
        return AA_EIO;
    }
    /* worst first, so the first annotations GitHub shows matter most */
    for (pass = AA_VERDICT_CRITICAL; pass >= AA_VERDICT_NO_DATA; pass--) {
        for (i = 0; i < r->nrules; i++) {
            if ((int)r->rules[i].verdict == pass) {
                put_annotation(fp, &cs, &r->rules[i]);
            }
        }
    }
    tool_culprits_free(&cs);
    fprintf(fp, "async-auditor: Runtime Status: %s (%s)\n",
            aa_status_name(r->status),
            tool_fmt_summary(r, summary, sizeof(summary)));
    if (fflush(fp) != 0 || ferror(fp)) {
        return AA_EIO;
    }
    return 0;
}
