/*
 * tool_report_html.c: the --html report, one self-contained page (inline
 * CSS and SVG, no script, no network fetch) that a CI job can archive and
 * a person can open anywhere.  It shows the verdict, each finding with
 * its series, workers and culprits (each culprit once, in a section of
 * its own: tool_report_culprits_html.c), every rule, and each rule's value
 * over the window as an SVG chart (tool_report_charts.c), in every mode.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/common.h"
#include "aa/result.h"
#include "tool_cfg.h"
#include "tool_report.h"
#include "tool_report_charts.h"
#include "tool_report_culprits_html.h"

static const char *verdict_class(aa_verdict v)
{
    switch (v) {
    case AA_VERDICT_OK:
    case AA_VERDICT_NOT_APPLICABLE:
        return "ok";
    case AA_VERDICT_WARNING:
        return "warning";
    case AA_VERDICT_CRITICAL:
        return "critical";
    default:
        return "unknown";
    }
}

static const char *status_class(aa_status s)
{
    switch (s) {
    case AA_STATUS_HEALTHY:
        return "ok";
    case AA_STATUS_DEGRADED:
        return "warning";
    case AA_STATUS_CRITICAL:
        return "critical";
    default:
        return "unknown";
    }
}

static void put_style(FILE *fp)
{
    fputs("<style>\n"
          "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',"
          "sans-serif;margin:24px auto;max-width:1280px;color:#1d2330;"
          "background:#fafbfc;padding:0 16px}\n"
          "h1{font-size:20px;letter-spacing:.08em;margin:0 0 6px}\n"
          "h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid "
          "#d8dde6;padding-bottom:4px}\n"
          "h3{font-size:15px;margin:0 0 6px}\n"
          ".status{display:inline-block;font-weight:700;font-size:18px;"
          "padding:4px 14px;border-radius:4px;color:#fff}\n"
          ".status.ok{background:#2e8540}.status.warning{background:#c77c02}"
          ".status.critical{background:#c62828}"
          ".status.unknown{background:#6b7280}\n"
          ".v{font-weight:600;padding:1px 7px;border-radius:3px}\n"
          ".v.ok{color:#2e8540}.v.warning{color:#fff;background:#c77c02}"
          ".v.critical{color:#fff;background:#c62828}"
          ".v.unknown{color:#fff;background:#6b7280}\n"
          "table{border-collapse:collapse;margin:6px 0 10px}\n"
          "th,td{text-align:left;padding:4px 10px;border-bottom:1px solid "
          "#e3e7ee;vertical-align:top}\n"
          "th{background:#eef1f5;font-weight:600}\n"
          "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
          "code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;"
          "background:#eef1f5;padding:1px 4px;border-radius:3px;"
          "word-break:break-all}\n"
          ".finding{background:#fff;border:1px solid #d8dde6;"
          "border-left:5px solid #6b7280;border-radius:4px;padding:12px "
          "16px;margin:0 0 14px}\n"
          ".finding.warning{border-left-color:#c77c02}"
          ".finding.critical{border-left-color:#c62828}\n"
          ".meta td:first-child{color:#5b6474}\n"
          ".charts{display:grid;grid-template-columns:repeat(auto-fill,"
          "minmax(600px,1fr));gap:14px}\n"
          ".chart{background:#fff;border:1px solid #d8dde6;border-radius:4px;"
          "padding:8px;margin:0}\n"
          ".legend{list-style:none;padding:0;margin:4px 0 0;font-size:12px}\n"
          ".legend li{display:inline-block;margin-right:14px}\n"
          ".legend span{display:inline-block;width:14px;height:3px;"
          "margin-right:6px;vertical-align:middle}\n"
          ".chart svg{width:100%;height:auto;display:block}\n"
          ".note{color:#5b6474}\n"
          ".culprit{background:#fff;border:1px solid #d8dde6;"
          "border-radius:4px;padding:10px 16px;margin:0 0 12px}\n"
          ".culprit .hint{font-weight:600}\n"
          "</style>\n",
          fp);
}

static void put_header(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    char a[64], b[64], d[32];
    const char *st = aa_status_name(r->status);

    fputs("<header>\n<h1>ASYNC RUNTIME AUDITOR</h1>\n", fp);
    fprintf(fp,
            "<p><span class=\"status %s\" id=\"status\">"
            "Runtime Status: %s</span></p>\n",
            status_class(r->status), st);
    fputs("<table class=\"meta\">\n<tr><td>target</td><td><code>", fp);
    tool_put_xml(fp, r->target != NULL ? r->target : "-", false);
    fputs("</code></td></tr>\n<tr><td>mode</td><td>", fp);
    tool_put_xml(fp, r->mode != NULL ? r->mode : "-", false);
    fputs("</td></tr>\n<tr><td>rules</td><td>", fp);
    tool_put_xml(fp,
                 cfg != NULL && cfg->config_path != NULL
                     ? cfg->config_path
                     : "built-in default rule pack",
                 false);
    fprintf(fp,
            "</td></tr>\n<tr><td>window</td><td>%s &ndash; %s "
            "(%s)</td></tr>\n",
            tool_fmt_time(r->start_ms, a, sizeof(a)),
            tool_fmt_time(r->end_ms, b, sizeof(b)),
            aa_duration_format(
                r->end_ms > r->start_ms ? r->end_ms - r->start_ms : 0, d,
                sizeof(d)));
    if (r->scrapes_ok > 0 || r->scrapes_failed > 0) {
        fprintf(fp, "<tr><td>scrapes</td><td>%u ok, %u failed</td></tr>\n",
                r->scrapes_ok, r->scrapes_failed);
    }
    fputs("</table>\n</header>\n", fp);
}

static void put_series(const aa_rule_result *rr, FILE *fp)
{
    if (rr->nseries == 0) {
        return;
    }
    fputs("<table class=\"series\">\n<tr><th>series</th><th>value</th>"
          "<th>status</th></tr>\n",
          fp);
    for (size_t i = 0; i < rr->nseries; i++) {
        const aa_series_result *s = &rr->series[i];
        char lb[1024], v[64];

        fputs("<tr><td><code>", fp);
        tool_put_xml(fp,
                     s->labels.n > 0
                         ? aa_labels_format(&s->labels, lb, sizeof(lb))
                         : "all series",
                     false);
        fprintf(fp,
                "</code></td><td class=\"num\">%s</td>"
                "<td><span class=\"v %s\">%s</span></td></tr>\n",
                tool_fmt_judged(rr->rule, s->value, &s->bound, v, sizeof(v)),
                verdict_class(s->verdict), tool_verdict_shown(s->verdict));
    }
    fputs("</table>\n", fp);
}

static void put_finding(const aa_rule_result *rr, const tool_culprits *cs,
                        FILE *fp)
{
    const aa_rule *rule = rr->rule;
    char v[64];

    fprintf(fp, "<article class=\"finding %s\" data-rule=\"",
            verdict_class(rr->verdict));
    tool_put_xml(fp, rule->id, true);
    fputs("\">\n<h3>", fp);
    tool_put_xml(fp, rule->finding, false);
    fprintf(fp, " <span class=\"v %s\">%s</span></h3>\n",
            verdict_class(rr->verdict), tool_verdict_shown(rr->verdict));
    if (rule->description != NULL) {
        fputs("<p class=\"note\">", fp);
        tool_put_xml(fp, rule->description, false);
        fputs("</p>\n", fp);
    }
    fputs("<p>rule <code>", fp);
    tool_put_xml(fp, rule->id, false);
    fputs("</code>", fp);
    if (rr->has_value) {
        fprintf(fp, ": value <strong>%s</strong>",
                tool_fmt_judged(rule, rr->value, &rr->bound, v, sizeof(v)));
    }
    if (rr->crossed != NULL) {
        fputs(", threshold crossed <strong>", fp);
        tool_put_xml(fp, rr->crossed->text, false);
        fputs("</strong>", fp);
    }
    fputs("</p>\n", fp);
    if (rr->message != NULL) {
        fputs("<p class=\"note\">", fp);
        tool_put_xml(fp, rr->message, false);
        fputs("</p>\n", fp);
    }
    put_series(rr, fp);
    tool_html_culprit_refs(fp, cs, rr);
    if (rr->query != NULL) {
        fputs("<p>query: <code>", fp);
        tool_put_xml(fp, rr->query, false);
        fputs("</code></p>\n", fp);
    }
    fputs("</article>\n", fp);
}

static void put_findings(const aa_report *r, const tool_culprits *cs, FILE *fp)
{
    size_t n = 0;

    fputs("<section id=\"findings\">\n<h2>Findings</h2>\n", fp);
    /* worst first: critical, then warning, then no data and errors */
    for (int level = AA_VERDICT_CRITICAL; level > AA_VERDICT_NOT_APPLICABLE;
         level--) {
        for (size_t i = 0; i < r->nrules; i++) {
            if ((int)r->rules[i].verdict == level) {
                put_finding(&r->rules[i], cs, fp);
                n++;
            }
        }
    }
    if (n == 0) {
        fputs("<p>None: every rule passed.</p>\n", fp);
    }
    fputs("</section>\n", fp);
}

static void put_rules(const aa_report *r, FILE *fp)
{
    fputs("<section id=\"rules\">\n<h2>All rules</h2>\n<table>\n"
          "<tr><th>rule</th><th>finding</th><th>status</th><th>value</th>"
          "<th>warning</th><th>critical</th></tr>\n",
          fp);
    for (size_t i = 0; i < r->nrules; i++) {
        const aa_rule_result *rr = &r->rules[i];
        const aa_rule *rule = rr->rule;
        char v[64];

        fputs("<tr><td><code>", fp);
        tool_put_xml(fp, rule->id, false);
        fputs("</code></td><td>", fp);
        tool_put_xml(fp, rule->finding, false);
        fprintf(fp,
                "</td><td><span class=\"v %s\">%s</span></td>"
                "<td class=\"num\">%s</td><td>",
                verdict_class(rr->verdict), tool_verdict_shown(rr->verdict),
                rr->has_value ? tool_fmt_judged(rule, rr->value, &rr->bound, v,
                                                sizeof(v))
                              : "-");
        tool_put_xml(fp, rule->warning.set ? rule->warning.text : "-", false);
        fputs("</td><td>", fp);
        tool_put_xml(fp, rule->critical.set ? rule->critical.text : "-",
                     false);
        fputs("</td></tr>\n", fp);
    }
    fputs("</table>\n</section>\n", fp);
}

int tool_report_html(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    tool_culprits cs = {NULL, 0};

    if (tool_culprits_collect(r, &cs) != AA_OK) {
        tool_error("HTML report: %s", aa_strerror(AA_ENOMEM));
        return AA_EIO;
    }
    fprintf(fp,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
            "<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width\">\n"
            "<title>async-auditor: %s</title>\n",
            aa_status_name(r->status));
    put_style(fp);
    fprintf(fp, "</head>\n<body data-status=\"%s\">\n",
            aa_status_name(r->status));
    put_header(cfg, r, fp);
    put_findings(r, &cs, fp);
    tool_html_culprits(fp, &cs);
    tool_culprits_free(&cs);
    tool_html_charts(r, fp);
    put_rules(r, fp);
    fputs("<footer class=\"note\"><p>async-auditor</p></footer>\n"
          "</body>\n</html>\n",
          fp);
    if (fflush(fp) != 0 || ferror(fp)) {
        return AA_EIO;
    }
    return 0;
}
