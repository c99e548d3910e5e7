/*
 * tool_report_html.c: the --html report, one self-contained page (inline
 * CSS and SVG, no script, no network fetch) that a CI job can archive and
 * a person can open anywhere.  It shows the verdict, each finding with
 * its series and culprit sites, every rule, and (in scrape and samples
 * mode, where the samples are in r->tsdb) the signals over time as SVG
 * charts computed with the same evaluator that judged the rules.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/common.h"
#include "aa/eval.h"
#include "aa/result.h"
#include "aa/tsdb.h"
#include "tool_cfg.h"
#include "tool_report.h"

static const char *verdict_class(aa_verdict v)
{
    switch (v) {
    case AA_VERDICT_OK:
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

static void put_sites(const aa_rule_result *rr, FILE *fp)
{
    size_t shown = 0;

    for (size_t i = 0; i < rr->nsites; i++) {
        shown += rr->sites[i].seconds > 0 ? 1 : 0;
    }
    if (shown == 0) {
        return;
    }
    fputs("<p>Culprit sites (blocked time attributed to the innermost "
          "frame):</p>\n<table class=\"sites\">\n<tr><th>site</th>"
          "<th>blocked</th></tr>\n",
          fp);
    for (size_t i = 0; i < rr->nsites; i++) {
        char v[64];

        if (!(rr->sites[i].seconds > 0)) {
            continue; /* no blocked time in this window */
        }
        fputs("<tr><td><code class=\"site\">", fp);
        tool_put_xml(fp, rr->sites[i].site, false);
        fprintf(fp, "</code></td><td class=\"num\">%s</td></tr>\n",
                tool_fmt_seconds(rr->sites[i].seconds, v, sizeof(v)));
    }
    fputs("</table>\n", fp);
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
                tool_fmt_value(rr->rule, s->value, v, sizeof(v)),
                verdict_class(s->verdict), aa_verdict_name(s->verdict));
    }
    fputs("</table>\n", fp);
}

static void put_finding(const aa_rule_result *rr, FILE *fp)
{
    const aa_rule *rule = rr->rule;
    char v[64];

    fprintf(fp, "<article class=\"finding %s\" data-rule=\"",
            verdict_class(rr->verdict));
    tool_put_xml(fp, rule->id, true);
    fputs("\">\n<h3>", fp);
    tool_put_xml(fp, rule->finding, false);
    fprintf(fp, " <span class=\"v %s\">%s</span></h3>\n",
            verdict_class(rr->verdict), aa_verdict_name(rr->verdict));
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
                tool_fmt_value(rule, rr->value, v, sizeof(v)));
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
    put_sites(rr, fp);
    if (rr->query != NULL) {
        fputs("<p>query: <code>", fp);
        tool_put_xml(fp, rr->query, false);
        fputs("</code></p>\n", fp);
    }
    fputs("</article>\n", fp);
}

static void put_findings(const aa_report *r, FILE *fp)
{
    size_t n = 0;

    fputs("<section id=\"findings\">\n<h2>Findings</h2>\n", fp);
    /* worst first: critical, then warning, then no data and errors */
    for (int level = AA_VERDICT_CRITICAL; level > AA_VERDICT_OK; level--) {
        for (size_t i = 0; i < r->nrules; i++) {
            if ((int)r->rules[i].verdict == level) {
                put_finding(&r->rules[i], fp);
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
                verdict_class(rr->verdict), aa_verdict_name(rr->verdict),
                rr->has_value ? tool_fmt_value(rule, rr->value, v, sizeof(v))
                              : "-");
        tool_put_xml(fp, rule->warning.set ? rule->warning.text : "-", false);
        fputs("</td><td>", fp);
        tool_put_xml(fp, rule->critical.set ? rule->critical.text : "-",
                     false);
        fputs("</td></tr>\n", fp);
    }
    fputs("</table>\n</section>\n", fp);
}

/* ---- charts: the signals over time, from the scrape store --------------- */

enum {
    CH_W = 640,
    CH_H = 220,
    CH_L = 62, /* room for the y labels */
    CH_R = 14,
    CH_T = 12,
    CH_B = 30,       /* room for the x labels */
    MAX_STEPS = 1200 /* points per line at most: longer runs are thinned */
};

/* One chart: a structured stat evaluated at every step, one line per
 * value of the label `by`. */
typedef struct chart_spec {
    const char *id;
    const char *title;
    const char *explain;
    const char *metric;
    aa_stat stat;
    double quantile;
    aa_metric_type type;
    const char *by;
    tool_unit unit;
    bool gauge;
} chart_spec;

static const chart_spec charts[] = {
    {"lag", "Event-loop lag p99",
     "how late the probe's loop timer ran: the delay every callback waits",
     "python_asyncio_loop_lag_seconds", AA_STAT_QUANTILE, 0.99,
     AA_TYPE_HISTOGRAM, "instance", TOOL_UNIT_SECONDS, false},
    {"utilization", "Loop utilization",
     "share of time the loop ran callbacks instead of waiting for I/O",
     "python_asyncio_loop_busy_seconds_total", AA_STAT_RATE, 0,
     AA_TYPE_COUNTER, "instance", TOOL_UNIT_PERCENT, false},
    {"blocked", "Time blocked",
     "share of time inside blocking episodes (loop busy past the block "
     "threshold)",
     "python_asyncio_loop_block_duration_seconds", AA_STAT_SUM_RATE, 0,
     AA_TYPE_HISTOGRAM, "instance", TOOL_UNIT_PERCENT, false},
    {"http_p99", "HTTP request duration p99",
     "as the server's ASGI middleware saw it: the outside view",
     "http_server_request_duration_seconds", AA_STAT_QUANTILE, 0.99,
     AA_TYPE_HISTOGRAM, "instance", TOOL_UNIT_SECONDS, false},
    {"inflight", "HTTP requests in flight", "highest value in each step",
     "http_server_active_requests", AA_STAT_MAX, 0, AA_TYPE_GAUGE, "instance",
     TOOL_UNIT_NONE, true},
    {"executor_wait", "Executor wait p99",
     "time from submitting work to a thread pool to its start",
     "python_asyncio_executor_wait_seconds", AA_STAT_QUANTILE, 0.99,
     AA_TYPE_HISTOGRAM, "executor", TOOL_UNIT_SECONDS, false},
    {"backlog", "Ready callbacks (backlog)",
     "callbacks ready to run and waiting their turn, highest in each step",
     "python_asyncio_loop_ready_callbacks", AA_STAT_MAX, 0, AA_TYPE_GAUGE,
     "instance", TOOL_UNIT_NONE, true},
};

static const char *series_color(size_t i)
{
    static const char *const palette[] = {"#1f5fbf", "#7b3fb5", "#138a7e",
                                          "#b5508a", "#5d6b1f", "#3a3f4b"};

    return palette[i % (sizeof(palette) / sizeof(palette[0]))];
}

typedef struct chart_ctx {
    const aa_report *r;
    const aa_tsdb *db;
    const aa_matchers *extra;
    int64_t t0, t1, step;
    double *blocked; /* per step from t0: seconds blocked (all series) */
    size_t nbins;
} chart_ctx;

/* Adds blocked seconds spread evenly over [a, b] to the step bins. */
static void add_blocked(chart_ctx *c, int64_t a, int64_t b, double sec)
{
    for (int64_t t = a; t < b;) {
        int64_t i = (t - c->t0) / c->step;
        int64_t end = c->t0 + (i + 1) * c->step;

        if (end > b) {
            end = b;
        }
        if (i >= 0 && (size_t)i < c->nbins) {
            c->blocked[i] += sec * (double)(end - t) / (double)(b - a);
        }
        t = end;
    }
}

/* Fills c->blocked from the increases of the block histogram's _sum
 * between consecutive scrapes.  Without memory the charts go unshaded. */
static void collect_blocked(chart_ctx *c)
{
    size_t *ids = NULL, nids = 0, cap = 0, n;
    aa_point *pts = NULL;

    c->nbins = (size_t)((c->t1 - c->t0) / c->step) + 1;
    c->blocked = calloc(c->nbins, sizeof(*c->blocked));
    if (c->blocked == NULL ||
        aa_tsdb_select(c->db, "python_asyncio_loop_block_duration_seconds_sum",
                       c->extra, NULL, &ids, &nids, NULL) != 0) {
        return;
    }
    for (size_t i = 0; i < nids; i++) {
        if (aa_tsdb_points(c->db, ids[i], c->t0, c->t1, false, &pts, &cap,
                           &n) != 0) {
            continue;
        }
        for (size_t k = 1; k < n; k++) {
            double d = pts[k].v - pts[k - 1].v;

            if (d > 0 && pts[k].t_ms > pts[k - 1].t_ms) {
                add_blocked(c, pts[k - 1].t_ms, pts[k].t_ms, d);
            }
        }
    }
    free(pts);
    free(ids);
}

/* 1, 2 or 5 times a power of ten, at least v. */
static double nice_ceil(double v)
{
    double p, m;

    if (!(v > 0) || !isfinite(v)) {
        return 1.0;
    }
    p = pow(10.0, floor(log10(v)));
    m = v / p;
    if (m <= 1.0 + 1e-9) {
        return p;
    }
    if (m <= 2.0 + 1e-9) {
        return 2.0 * p;
    }
    if (m <= 5.0 + 1e-9) {
        return 5.0 * p;
    }
    return 10.0 * p;
}

/* The rule of the report that judges the same thing as the chart, for
 * its threshold lines; NULL when there is none. */
static const aa_rule *chart_rule(const aa_report *r, const chart_spec *cs)
{
    for (size_t i = 0; i < r->nrules; i++) {
        const aa_rule *rule = r->rules[i].rule;

        if (rule->metric != NULL && strcmp(rule->metric, cs->metric) == 0 &&
            rule->stat == cs->stat &&
            (cs->stat != AA_STAT_QUANTILE ||
             fabs(rule->quantile - cs->quantile) < 1e-9)) {
            return rule;
        }
    }
    return NULL;
}

static double ch_x(const chart_ctx *c, int64_t t)
{
    double w = (double)(CH_W - CH_L - CH_R);

    return CH_L + w * (double)(t - c->t0) / (double)(c->t1 - c->t0);
}

static double ch_y(double v, double ymax)
{
    double h = (double)(CH_H - CH_T - CH_B);

    if (v > ymax * 1.04) {
        v = ymax * 1.04;
    }
    if (v < 0) {
        v = 0;
    }
    return CH_T + h - h * v / ymax;
}

static void put_axes(const chart_ctx *c, const chart_spec *cs, double ymax,
                     FILE *fp)
{
    int64_t span_ms = c->t1 - c->t0;
    int64_t tick = 1000;
    char lb[32];

    fprintf(fp,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
            "fill=\"#fff\" stroke=\"#c9ced8\"/>\n",
            CH_L, CH_T, CH_W - CH_L - CH_R, CH_H - CH_T - CH_B);
    for (int i = 0; i <= 4; i++) {
        double v = ymax * i / 4.0;
        double y = ch_y(v, ymax);

        fprintf(fp,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#eceff4\"/>\n<text x=\"%d\" y=\"%.1f\" "
                "text-anchor=\"end\" font-size=\"11\" fill=\"#5b6474\">"
                "%s</text>\n",
                CH_L, CH_W - CH_R, y, y, CH_L - 6, y + 4,
                tool_fmt_unit(cs->unit, v, lb, sizeof(lb)));
    }
    while (span_ms / tick > 10) {
        tick = tick == 1000 ? 2000 : tick == 2000 ? 5000 : tick * 2;
    }
    for (int64_t t = 0; t <= span_ms; t += tick) {
        double x = ch_x(c, c->t0 + t);

        fprintf(fp,
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                "font-size=\"11\" fill=\"#5b6474\">%llds</text>\n",
                x, CH_H - CH_B + 16, (long long)(t / 1000));
    }
}

static void put_spans(const chart_ctx *c, FILE *fp)
{
    for (size_t i = 0; c->blocked != NULL && i < c->nbins; i++) {
        int64_t a = c->t0 + (int64_t)i * c->step;
        int64_t b = a + c->step < c->t1 ? a + c->step : c->t1;
        double x0 = ch_x(c, a), x1 = ch_x(c, b);
        double f;

        if (!(c->blocked[i] > 0) || b <= a) {
            continue;
        }
        f = c->blocked[i] * 1000.0 / (double)(b - a);
        if (f > 1.0) {
            f = 1.0;
        }
        fprintf(fp,
                "<rect class=\"episode\" x=\"%.1f\" y=\"%d\" "
                "width=\"%.1f\" height=\"%d\" fill=\"#c62828\" "
                "fill-opacity=\"%.2f\"><title>blocked %.0f%% of this "
                "step</title></rect>\n",
                x0, CH_T, x1 - x0 > 1.0 ? x1 - x0 : 1.0, CH_H - CH_T - CH_B,
                0.04 + 0.24 * f, f * 100.0);
    }
}

static void put_threshold(const aa_threshold *t, const char *cls,
                          const char *color, double ymax, FILE *fp)
{
    double y;

    if (!t->set || !isfinite(t->value) || t->value > ymax * 1.04) {
        return;
    }
    y = ch_y(t->value, ymax);
    fprintf(fp,
            "<line class=\"threshold %s\" x1=\"%d\" x2=\"%d\" "
            "y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\" "
            "stroke-dasharray=\"6 4\"/>\n<text x=\"%d\" y=\"%.1f\" "
            "text-anchor=\"end\" font-size=\"11\" fill=\"%s\">%s ",
            cls, CH_L, CH_W - CH_R, y, y, color, CH_W - CH_R - 4, y - 4, color,
            cls);
    tool_put_xml(fp, t->text, false);
    fputs("</text>\n", fp);
}

/* One polyline per series; a missing step or a non-finite value breaks
 * the line. */
static void put_lines(const chart_ctx *c, const aa_matrix *m, double ymax,
                      FILE *fp)
{
    for (size_t i = 0; i < m->n; i++) {
        const aa_range_series *s = &m->v[i];
        bool pen = false;

        fprintf(fp,
                "<path class=\"series\" fill=\"none\" stroke=\"%s\" "
                "stroke-width=\"1.8\" stroke-linejoin=\"round\" d=\"",
                series_color(i));
        for (size_t k = 0; k < s->n; k++) {
            const aa_point *p = &s->pts[k];

            if (!isfinite(p->v)) {
                pen = false;
                continue;
            }
            if (k > 0 && p->t_ms - s->pts[k - 1].t_ms > c->step * 3 / 2) {
                pen = false;
            }
            fprintf(fp, "%c%.1f %.1f ", pen ? 'L' : 'M', ch_x(c, p->t_ms),
                    ch_y(p->v, ymax));
            pen = true;
        }
        fputs("\"/>\n", fp);
        if (s->n == 1 && isfinite(s->pts[0].v)) {
            fprintf(fp,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
                    "fill=\"%s\"/>\n",
                    ch_x(c, s->pts[0].t_ms), ch_y(s->pts[0].v, ymax),
                    series_color(i));
        }
    }
}

static void put_legend(const aa_matrix *m, FILE *fp)
{
    fputs("<ul class=\"legend\">", fp);
    for (size_t i = 0; i < m->n; i++) {
        char lb[512];

        fprintf(fp, "<li><span style=\"background:%s\"></span><code>",
                series_color(i));
        tool_put_xml(fp, aa_labels_format(&m->v[i].labels, lb, sizeof(lb)),
                     false);
        fputs("</code></li>", fp);
    }
    fputs("</ul>\n", fp);
}

/* Draws one chart; returns true when it has at least one point. */
static bool put_chart(const chart_ctx *c, const chart_spec *cs, FILE *fp)
{
    aa_rule rule;
    aa_matrix m = {NULL, 0};
    aa_diag diag;
    char metric[128], by[32], id[32];
    char *byv[1];
    const aa_rule *judge = chart_rule(c->r, cs);
    double ymax = 0;
    size_t npts = 0;
    int rc;

    memset(&rule, 0, sizeof(rule));
    aa_diag_clear(&diag);
    snprintf(metric, sizeof(metric), "%s", cs->metric);
    snprintf(by, sizeof(by), "%s", cs->by);
    snprintf(id, sizeof(id), "html_%s", cs->id);
    byv[0] = by;
    rule.id = id;
    rule.finding = id;
    rule.metric = metric;
    rule.stat = cs->stat;
    rule.quantile = cs->quantile;
    rule.type = cs->type;
    rule.by = byv;
    rule.nby = 1;
    rule.no_data = AA_NODATA_UNKNOWN;
    rc = aa_eval_range(c->db, &rule, c->extra, c->t0, c->t1, c->step,
                       cs->gauge ? c->step : 3 * c->step, &m, &diag);

    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        for (size_t k = 0; k < m.v[i].n; k++) {
            double v = m.v[i].pts[k].v;

            if (isfinite(v)) {
                npts++;
                if (v > ymax) {
                    ymax = v;
                }
            }
        }
    }
    if (judge != NULL && npts > 0) {
        /* keep the lower threshold in view; the upper only if near */
        if (judge->warning.set && judge->warning.value > ymax &&
            judge->warning.value < ymax * 4 + 1e-12) {
            ymax = judge->warning.value;
        }
        if (judge->critical.set && judge->critical.value > ymax &&
            judge->critical.value < ymax * 2 + 1e-12) {
            ymax = judge->critical.value;
        }
    }
    ymax = nice_ceil(ymax * 1.08);
    if (cs->unit == TOOL_UNIT_PERCENT && ymax > 1.0) {
        ymax = ymax > 1.04 ? nice_ceil(ymax) : 1.0;
    }

    fprintf(fp,
            "<figure class=\"chart\" id=\"chart-%s\" data-chart=\"%s\" "
            "data-series=\"%zu\" data-points=\"%zu\">\n"
            "<figcaption><strong>%s</strong> <span class=\"note\">",
            cs->id, cs->id, rc == 0 ? m.n : 0, npts, cs->title);
    tool_put_xml(fp, cs->explain, false);
    fputs("</span></figcaption>\n", fp);
    fprintf(fp, "<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
            CH_W, CH_H, cs->title);
    put_axes(c, cs, ymax, fp);
    put_spans(c, fp);
    if (judge != NULL) {
        put_threshold(&judge->warning, "warning", "#c77c02", ymax, fp);
        put_threshold(&judge->critical, "critical", "#c62828", ymax, fp);
    }
    if (rc == 0) {
        put_lines(c, &m, ymax, fp);
    }
    fputs("</svg>\n", fp);
    if (rc != 0) {
        char dbuf[600];

        fputs("<p class=\"note\">could not evaluate: ", fp);
        tool_put_xml(fp,
                     diag.message[0] != '\0'
                         ? aa_diag_format(&diag, dbuf, sizeof(dbuf))
                         : aa_strerror(rc),
                     false);
        fputs("</p>\n", fp);
    } else if (npts == 0) {
        fputs("<p class=\"note\">no samples of <code>", fp);
        tool_put_xml(fp, cs->metric, false);
        fputs("</code> in this run</p>\n", fp);
    } else {
        put_legend(&m, fp);
    }
    fputs("</figure>\n", fp);
    aa_matrix_clear(&m);
    return rc == 0 && npts > 0;
}

static void put_charts(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    chart_ctx c;
    int64_t lo, hi;
    size_t drawn = 0;
    char sb[32], wb[32];

    memset(&c, 0, sizeof(c));
    fputs("<section id=\"charts\">\n<h2>Signals over time</h2>\n", fp);
    if (r->tsdb == NULL) {
        fputs("<p class=\"note\" id=\"no-charts\">No charts: this audit "
              "queried a Prometheus-compatible backend, so the samples "
              "stayed there (see its dashboards).  Charts are drawn in "
              "scrape mode (<code>--scrape</code>) and replay mode "
              "(<code>--samples</code>).</p>\n</section>\n",
              fp);
        return;
    }
    c.r = r;
    c.db = r->tsdb;
    c.extra = cfg != NULL && cfg->selector.n > 0 ? &cfg->selector : NULL;
    c.step = r->step_ms > 0 ? r->step_ms : 1000;
    if (cfg == NULL || cfg->step_ms <= 0) {
        int64_t spacing = aa_tsdb_scrape_interval(r->tsdb);

        if (spacing > 0 && c.step > spacing * 3 / 2) {
            c.step = spacing;
        }
    }
    if (aa_tsdb_time_range(r->tsdb, &lo, &hi) != 0) {
        lo = hi = 0;
    }
    c.t0 = r->start_ms > lo ? r->start_ms : lo;
    c.t1 = r->end_ms > 0 && r->end_ms < hi ? r->end_ms : hi;
    if (c.t1 - c.t0 < c.step) {
        fputs("<p class=\"note\" id=\"no-charts\">No charts: fewer than "
              "two scrapes in the window.</p>\n</section>\n",
              fp);
        return;
    }
    if ((c.t1 - c.t0) / c.step > MAX_STEPS) {
        /* thin a long recording to MAX_STEPS points, a multiple of the
         * scrape step */
        int64_t k = (c.t1 - c.t0) / c.step / MAX_STEPS + 1;

        c.step *= k;
    }
    collect_blocked(&c);
    fprintf(fp,
            "<p class=\"note\">One point per %s; rates and quantiles "
            "over the last %s at each point.  Red bands: blocking "
            "episodes (from the block histogram's growth between "
            "scrapes), darker the larger the share of the step spent "
            "blocked%s.  Dashed lines: the warning and critical "
            "thresholds of the rule judging that signal.</p>\n"
            "<div class=\"charts\">\n",
            aa_duration_format(c.step, sb, sizeof(sb)),
            aa_duration_format(3 * c.step, wb, sizeof(wb)),
            c.blocked == NULL ? " (not shown: out of memory)" : "");
    for (size_t i = 0; i < sizeof(charts) / sizeof(charts[0]); i++) {
        drawn += put_chart(&c, &charts[i], fp) ? 1 : 0;
    }
    fprintf(fp,
            "</div>\n<p class=\"note\" id=\"chart-count\" "
            "data-drawn=\"%zu\">%zu of %zu charts have data.</p>\n",
            drawn, drawn, sizeof(charts) / sizeof(charts[0]));
    fputs("</section>\n", fp);
    free(c.blocked);
}

int tool_report_html(const tool_config *cfg, const aa_report *r, FILE *fp)
{
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
    put_findings(r, fp);
    put_charts(cfg, r, fp);
    put_rules(r, fp);
    fputs("<footer class=\"note\"><p>async-auditor</p></footer>\n"
          "</body>\n</html>\n",
          fp);
    if (fflush(fp) != 0 || ferror(fp)) {
        return AA_EIO;
    }
    return 0;
}
