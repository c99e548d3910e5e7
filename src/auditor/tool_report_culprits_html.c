/*
 * tool_report_culprits_html.c: the culprits in the HTML report: under a
 * finding, its breaching workers and references to its culprits; and the
 * "Culprits" section that shows each culprit once, its line first, with
 * chain, class, hint and every group and rule it explains.  The words
 * come from tool_report_culprits.c, as in every other format; here they
 * are only escaped (tool_put_xml) and laid out.
 */
#include <stdio.h>

#include "tool_culprit.h"
#include "tool_report.h"
#include "tool_report_culprits_html.h"

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

static void put_breaches(FILE *fp, const aa_rule_result *rr)
{
    char buf[1024];
    bool open = false;

    for (size_t i = 0; i < rr->nseries; i++) {
        const aa_series_result *s = &rr->series[i];

        if (!tool_series_breaches(s) ||
            !tool_fmt_worker_breach(rr, s, buf, sizeof(buf))) {
            continue;
        }
        if (!open) {
            fputs("<ul class=\"breaches\">\n", fp);
            open = true;
        }
        fputs("<li>", fp);
        tool_put_xml(fp, buf, false);
        fputs("</li>\n", fp);
    }
    if (open) {
        fputs("</ul>\n", fp);
    }
}

void tool_html_culprit_refs(FILE *fp, const tool_culprits *cs,
                            const aa_rule_result *rr)
{
    char buf[1024];
    bool open = false;

    put_breaches(fp, rr);
    for (size_t k = 0; k < rr->nsites; k++) {
        size_t idx = tool_culprits_find(cs, &rr->sites[k]);
        bool first = true;

        if (idx == cs->n || seen_before(cs, rr, k, idx)) {
            continue;
        }
        if (!open) {
            fputs("<p>Culprits (details under <a href=\"#culprits\">"
                  "Culprits</a>):</p>\n<ul class=\"culprit-refs\">\n",
                  fp);
            open = true;
        }
        fprintf(fp,
                "<li><a href=\"#culprit-%zu\">#%zu</a> <code "
                "class=\"site\">",
                idx + 1, idx + 1);
        tool_put_xml(fp, tool_culprit_title(&rr->sites[k], buf, sizeof(buf)),
                     false);
        fputs("</code> (", fp);
        for (size_t i = k; i < rr->nsites; i++) {
            if (tool_culprits_find(cs, &rr->sites[i]) != idx) {
                continue;
            }
            fputs(first ? "" : ", ", fp);
            tool_put_xml(fp,
                         tool_fmt_group(&rr->sites[i].group, buf, sizeof(buf)),
                         false);
            first = false;
        }
        fputs(")</li>\n", fp);
    }
    if (open) {
        fputs("</ul>\n", fp);
    }
}

static void put_fact(FILE *fp, const char *name, const char *value, bool code)
{
    if (value == NULL) {
        return;
    }
    fprintf(fp, "<p class=\"%s\">%s: %s", name, name, code ? "<code>" : "");
    tool_put_xml(fp, value, false);
    fprintf(fp, "%s</p>\n", code ? "</code>" : "");
}

void tool_html_culprits(FILE *fp, const tool_culprits *cs)
{
    char buf[1024], amount[160];

    if (cs->n == 0) {
        return;
    }
    fputs("<section id=\"culprits\">\n<h2>Culprits</h2>\n<p class=\"note\">"
          "Each culprit once, its line in the application first: the "
          "library frames below it are its chain; the hint says what to "
          "do about it.</p>\n",
          fp);
    for (size_t i = 0; i < cs->n; i++) {
        const tool_culprit *c = &cs->v[i];

        fprintf(fp,
                "<article class=\"culprit\" id=\"culprit-%zu\" "
                "data-kind=\"%s\">\n<h3>#%zu <code class=\"site\">",
                i + 1, tool_culprit_kind_name(c->s->kind), i + 1);
        tool_put_xml(fp, tool_culprit_title(c->s, buf, sizeof(buf)), false);
        fputs("</code></h3>\n", fp);
        put_fact(fp, "chain", c->chain, true);
        put_fact(fp, "class", c->cls, false);
        put_fact(fp, "hint", c->hint, false);
        fputs("<table class=\"culprit-groups\">\n<tr><th>found for</th>"
              "<th>cost</th><th>rules</th></tr>\n",
              fp);
        for (size_t g = 0; g < c->ngroups; g++) {
            const tool_culprit_group *cg = &c->groups[g];

            fputs("<tr><td>", fp);
            tool_put_xml(fp, tool_fmt_group(cg->labels, buf, sizeof(buf)),
                         false);
            fprintf(fp, "</td><td class=\"num\">%s</td><td>",
                    tool_culprit_amount(c->s->kind, cg->seconds, cg->share,
                                        amount, sizeof(amount)));
            for (size_t k = 0; k < cg->nrules; k++) {
                fputs(k > 0 ? ", <code>" : "<code>", fp);
                tool_put_xml(fp, cg->rules[k]->rule->id, false);
                fputs("</code>", fp);
            }
            fputs("</td></tr>\n", fp);
        }
        fputs("</table>\n</article>\n", fp);
    }
    fputs("</section>\n", fp);
}
