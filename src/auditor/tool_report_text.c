/*
 * tool_report_text.c: the human report on standard output (contract
 * §6).  It opens with the status a person looks for first, then each
 * finding with the evidence needed to act on it (value, threshold crossed,
 * which series and workers, which culprits), then each culprit once with
 * its line, chain and hint (so a culprit of several findings is not
 * repeated under each), then one line per rule so that rules without data
 * are never hidden.  Colour only when tool_config says so
 * (a terminal, no NO_COLOR, no --no-color).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "aa/rules.h"
#include "tool_report.h"
#include "tool_report_culprits.h"

#define MAX_SERIES_SHOWN 10
#define MAX_REFS_SHOWN 10
#define MAX_ID_WIDTH 40
#define MAX_LABELS_WIDTH 60

static const char *verdict_color(aa_verdict v)
{
    switch (v) {
    case AA_VERDICT_OK:
    case AA_VERDICT_NOT_APPLICABLE:
        return "\033[32m";
    case AA_VERDICT_WARNING:
        return "\033[33m";
    case AA_VERDICT_CRITICAL:
        return "\033[1;31m";
    case AA_VERDICT_NO_DATA:
    case AA_VERDICT_ERROR:
        return "\033[35m";
    }
    return "";
}

static const char *status_color(aa_status s)
{
    switch (s) {
    case AA_STATUS_HEALTHY:
        return "\033[1;32m";
    case AA_STATUS_DEGRADED:
        return "\033[1;33m";
    case AA_STATUS_CRITICAL:
        return "\033[1;31m";
    case AA_STATUS_UNKNOWN:
        return "\033[1;35m";
    }
    return "";
}

/* s, padded to width, in colour when asked. */
static void put_colored(FILE *fp, bool color, const char *code, const char *s,
                        int width)
{
    int pad = width - (int)strlen(s);

    if (color) {
        fprintf(fp, "%s%s\033[0m", code, s);
    } else {
        fputs(s, fp);
    }
    for (; pad > 0; pad--) {
        fputc(' ', fp);
    }
}

/* Text from outside (label values, messages, sites) as tool_safe_char
 * shows it, so that nothing a backend or exporter sends can move the
 * cursor, recolour a terminal or be obeyed as a workflow command in a CI
 * log.  Truncates to size, between characters. */
static const char *safe(const char *s, char *buf, size_t size)
{
    const char *p;
    size_t i = 0;

    if (s == NULL) {
        s = "";
    }
    for (p = s; *p != '\0';) {
        const char *rep;
        size_t k = tool_safe_char(s, p, &rep);
        size_t n = rep != NULL ? strlen(rep) : k;

        if (i + n >= size) {
            break;
        }
        memcpy(buf + i, rep != NULL ? rep : p, n);
        i += n;
        p += k;
    }
    buf[i] = '\0';
    return buf;
}

/* The breaching workers of a finding, one line each: "worker 4123: 61%
 * blocked" (only series with a worker label). */
static void put_breaches(FILE *fp, const aa_rule_result *rr)
{
    char buf[1024], text[2048];
    size_t shown = 0;

    for (size_t i = 0; i < rr->nseries; i++) {
        const aa_series_result *s = &rr->series[i];

        if (!tool_series_breaches(s) ||
            !tool_fmt_worker_breach(rr, s, buf, sizeof(buf))) {
            continue;
        }
        if (shown == MAX_SERIES_SHOWN) {
            fputs("               ... and more\n", fp);
            break;
        }
        fputs(shown++ == 0 ? "    breached:  " : "               ", fp);
        fprintf(fp, "%s\n", safe(buf, text, sizeof(text)));
    }
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

/* The finding's culprits, by number, each with the groups it was found
 * for: "#1 app.py:15 refresh_fx_rate (worker 4123, worker 4124)"; the
 * details are printed once, under "Culprits". */
static void put_culprit_refs(FILE *fp, const tool_culprits *cs,
                             const aa_rule_result *rr)
{
    char title[1024], group[512], text[2048];
    size_t shown = 0, more = 0;

    for (size_t k = 0; k < rr->nsites; k++) {
        size_t idx = tool_culprits_find(cs, &rr->sites[k]);
        bool first = true;

        if (idx == cs->n || seen_before(cs, rr, k, idx)) {
            continue;
        }
        if (shown == MAX_REFS_SHOWN) {
            more++;
            continue;
        }
        fputs(shown++ == 0 ? "    culprits:  " : "               ", fp);
        fprintf(fp, "#%zu %s (", idx + 1,
                safe(tool_culprit_title(&rr->sites[k], title, sizeof(title)),
                     text, sizeof(text)));
        for (size_t i = k; i < rr->nsites; i++) {
            if (tool_culprits_find(cs, &rr->sites[i]) != idx) {
                continue;
            }
            fprintf(
                fp, "%s%s", first ? "" : ", ",
                safe(tool_fmt_group(&rr->sites[i].group, group, sizeof(group)),
                     text, sizeof(text)));
            first = false;
        }
        fputs(")\n", fp);
    }
    if (more > 0) {
        fprintf(fp, "               ... and %zu more (see Culprits)\n", more);
    }
}

/* Every culprit once: its line first, then chain, class, hint, and each
 * group it explains with what it cost there and the rules that found it
 * there. */
static void put_culprits(FILE *fp, const tool_culprits *cs)
{
    char buf[1024], amount[160], label[16], text[2048];

    if (cs->n > 0) {
        fputs("\nCulprits:\n", fp);
    }
    for (size_t i = 0; i < cs->n; i++) {
        const tool_culprit *c = &cs->v[i];
        const struct {
            const char *name, *value;
        } facts[] = {
            {"chain", c->chain}, {"class", c->cls}, {"hint", c->hint}};

        fprintf(fp, "#%zu %s\n", i + 1,
                safe(tool_culprit_title(c->s, buf, sizeof(buf)), text,
                     sizeof(text)));
        for (size_t f = 0; f < sizeof(facts) / sizeof(facts[0]); f++) {
            if (facts[f].value != NULL) {
                snprintf(label, sizeof(label), "%s:", facts[f].name);
                fprintf(fp, "    %-11s%s\n", label,
                        safe(facts[f].value, text, sizeof(text)));
            }
        }
        for (size_t g = 0; g < c->ngroups; g++) {
            const tool_culprit_group *cg = &c->groups[g];

            fputs(g == 0 ? "    explains:  " : "               ", fp);
            fprintf(fp, "%s: %s (",
                    safe(tool_fmt_group(cg->labels, buf, sizeof(buf)), text,
                         sizeof(text)),
                    tool_culprit_amount(c->s->kind, cg->seconds, cg->share,
                                        amount, sizeof(amount)));
            for (size_t k = 0; k < cg->nrules; k++) {
                fprintf(fp, "%s%s", k > 0 ? ", " : "", cg->rules[k]->rule->id);
            }
            fputs(")\n", fp);
        }
    }
}

static void put_finding(FILE *fp, bool color, const tool_culprits *cs,
                        const aa_rule_result *rr)
{
    const aa_rule *rule = rr->rule;
    char buf[1024], val[64], text[2048];
    int lw = 0;
    size_t i;

    fprintf(fp, "- %s\n",
            safe(rule->finding != NULL ? rule->finding : rule->id, text,
                 sizeof(text)));
    fputs("    rule:      ", fp);
    fprintf(fp, "%s (", rule->id);
    put_colored(fp, color, verdict_color(rr->verdict),
                tool_verdict_shown(rr->verdict), 0);
    fputs(")\n", fp);
    if (rr->has_value) {
        fprintf(
            fp, "    value:     %s",
            tool_fmt_judged(rule, rr->value, &rr->bound, val, sizeof(val)));
        if (rule->metric != NULL) {
            fprintf(fp, " (%s of %s)", rule->stat_text, rule->metric);
        }
        fputc('\n', fp);
    } else {
        fprintf(fp, "    value:     none (the rule says no_data: %s)\n",
                aa_verdict_name(rr->verdict));
    }
    if (rr->message != NULL) {
        fprintf(fp, "    reason:    %s\n",
                safe(rr->message, text, sizeof(text)));
    }
    if (rr->crossed != NULL) {
        fprintf(fp, "    crossed:   %s %s",
                rr->crossed == &rule->critical ? "critical" : "warning",
                rr->crossed->text);
        if (rule->for_ms > 0) {
            fprintf(fp, " for %s",
                    aa_duration_format(rule->for_ms, buf, sizeof(buf)));
        }
        fputc('\n', fp);
    }
    for (i = 0; i < rr->nseries && i < MAX_SERIES_SHOWN; i++) {
        int l = (int)strlen(
            aa_labels_format(&rr->series[i].labels, buf, sizeof(buf)));

        lw = l > lw ? (l > MAX_LABELS_WIDTH ? MAX_LABELS_WIDTH : l) : lw;
    }
    for (i = 0; i < rr->nseries && i < MAX_SERIES_SHOWN; i++) {
        const aa_series_result *s = &rr->series[i];

        fputs(i == 0 ? "    series:    " : "               ", fp);
        aa_labels_format(&s->labels, buf, sizeof(buf));
        tool_fmt_judged(rule, s->value, &s->bound, val, sizeof(val));
        fprintf(fp, "%-*s  %-*s ", lw, safe(buf, text, sizeof(text)),
                tool_pad_width(val, 8), val);
        put_colored(fp, color, verdict_color(s->verdict),
                    aa_verdict_name(s->verdict), 0);
        fputc('\n', fp);
    }
    if (rr->nseries > MAX_SERIES_SHOWN) {
        fprintf(fp, "               ... and %zu more series\n",
                rr->nseries - MAX_SERIES_SHOWN);
    }
    put_breaches(fp, rr);
    put_culprit_refs(fp, cs, rr);
    if (rule->description != NULL) {
        fprintf(fp, "    about:     %s\n",
                safe(rule->description, text, sizeof(text)));
    }
}

static void put_rule_table(FILE *fp, bool color, const aa_report *r)
{
    int idw = 4;
    size_t i;

    for (i = 0; i < r->nrules; i++) {
        int l = (int)strlen(r->rules[i].rule->id);

        if (l > idw) {
            idw = l > MAX_ID_WIDTH ? MAX_ID_WIDTH : l;
        }
    }
    fprintf(fp, "Rules:\n  %-9s %-*s  %-10s %s\n", "STATUS", idw, "RULE",
            "VALUE", "THRESHOLDS");
    for (i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];
        char val[64], th[160];

        fputs("  ", fp);
        put_colored(fp, color, verdict_color(rr->verdict),
                    tool_verdict_shown(rr->verdict), 9);
        if (rr->has_value) {
            tool_fmt_judged(rr->rule, rr->value, &rr->bound, val, sizeof(val));
        } else {
            snprintf(val, sizeof(val), "-");
        }
        fprintf(fp, " %-*s  %-*s ", idw, rr->rule->id, tool_pad_width(val, 10),
                val);
        fprintf(fp, "%s\n", tool_fmt_thresholds(rr->rule, th, sizeof(th)));
    }
}

static void put_notes(FILE *fp, const aa_report *r)
{
    char text[2048];
    bool header = false;
    size_t i, j;

    for (i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];

        if (rr->message == NULL) {
            continue;
        }
        if (!header) {
            fputs("\nNotes:\n", fp);
            header = true;
        }
        fprintf(fp, "- %s (%s): %s\n", rr->rule->id,
                tool_verdict_shown(rr->verdict),
                safe(rr->message, text, sizeof(text)));
    }
    header = false;
    for (i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];

        for (j = 0; j < rr->nwarnings; j++) {
            if (!header) {
                fputs("\nBackend warnings:\n", fp);
                header = true;
            }
            fprintf(fp, "- %s: %s\n", rr->rule->id,
                    safe(rr->warnings[j], text, sizeof(text)));
        }
    }
}

static void put_footer(FILE *fp, const aa_report *r)
{
    char a[40], b[40], d[40], text[1024];

    fprintf(fp, "\nWindow:  %s to %s (%s)\n",
            tool_fmt_time(r->start_ms, a, sizeof(a)),
            tool_fmt_time(r->end_ms, b, sizeof(b)),
            aa_duration_format(r->end_ms - r->start_ms, d, sizeof(d)));
    fprintf(fp, "Source:  %s (%s)\n",
            safe(r->target != NULL ? r->target : "-", text, sizeof(text)),
            r->mode != NULL ? r->mode : "-");
    if (r->mode != NULL && strcmp(r->mode, "scrape") == 0) {
        fprintf(fp, "Scrapes: %u ok, %u failed\n", r->scrapes_ok,
                r->scrapes_failed);
    }
    fprintf(fp, "Summary: %s\n", tool_fmt_summary(r, text, sizeof(text)));
}

int tool_report_text(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    bool color = cfg->color;
    bool quiet = cfg->verbosity < 0;
    tool_culprits cs = {NULL, 0};
    size_t i, c[AA_NVERDICTS];
    char text[1024];
    int pass;

    if (!quiet && tool_culprits_collect(r, &cs) != AA_OK) {
        tool_error("text report: %s", aa_strerror(AA_ENOMEM));
        return AA_EIO;
    }
    if (!quiet) {
        fputs("ASYNC RUNTIME AUDITOR\n\n", fp);
    }
    fputs("Runtime Status: ", fp);
    put_colored(fp, color, status_color(r->status), aa_status_name(r->status),
                0);
    fputc('\n', fp);
    tool_count_verdicts(r, c);
    if (!quiet) {
        fputs(c[AA_VERDICT_CRITICAL] + c[AA_VERDICT_WARNING] > 0
                  ? "\nFindings:\n"
                  : "\nFindings: none\n",
              fp);
    }
    /* critical findings first, then warnings, each in rule order */
    for (pass = 0; pass < 2; pass++) {
        aa_verdict want = pass == 0 ? AA_VERDICT_CRITICAL : AA_VERDICT_WARNING;

        for (i = 0; i < r->nrules; i++) {
            const aa_rule_result *rr = &r->rules[i];
            char val[64];

            if (rr->verdict != want) {
                continue;
            }
            if (!quiet) {
                put_finding(fp, color, &cs, rr);
                continue;
            }
            fprintf(fp, "- %s: %s",
                    safe(rr->rule->finding, text, sizeof(text)), rr->rule->id);
            if (rr->has_value) {
                fprintf(fp, " %s",
                        tool_fmt_judged(rr->rule, rr->value, &rr->bound, val,
                                        sizeof(val)));
            }
            if (rr->crossed != NULL) {
                fprintf(fp, " (%s %s)", aa_verdict_name(rr->verdict),
                        rr->crossed->text);
            }
            fputc('\n', fp);
        }
    }
    if (!quiet) {
        put_culprits(fp, &cs);
        tool_culprits_free(&cs);
        fputc('\n', fp);
        put_rule_table(fp, color, r);
        put_notes(fp, r);
        put_footer(fp, r);
    }
    if (fflush(fp) != 0 || ferror(fp)) {
        return AA_EIO;
    }
    return 0;
}
