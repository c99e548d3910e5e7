/*
 * tool_report_charts.c: the HTML report's "Signals over time": one inline
 * SVG chart per rule, drawn from the report model only (each rule's
 * aa_chart, which the audit fills the same way against Prometheus and
 * over scraped samples), so that both modes get the same charts from one
 * drawing path.  A chart shows the rule's value at every step, one line
 * per group, with the rule's warning and critical thresholds dashed.
 * Everything from outside (label values, messages) is escaped.
 */
#include "tool_report_charts.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tool_report.h"

enum {
    CH_W = 640,
    CH_H = 220,
    CH_L = 62, /* room for the y labels */
    CH_R = 14,
    CH_T = 12,
    CH_B = 30 /* room for the x labels */
};

/* The x range of a chart, for the coordinates. */
typedef struct span {
    int64_t t0, t1;
} span;

static const char *series_color(size_t i)
{
    static const char *const palette[] = {"#1f5fbf", "#7b3fb5", "#138a7e",
                                          "#b5508a", "#5d6b1f", "#3a3f4b"};

    return palette[i % (sizeof(palette) / sizeof(palette[0]))];
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

static double ch_x(const span *sp, int64_t t)
{
    double w = (double)(CH_W - CH_L - CH_R);

    if (sp->t1 <= sp->t0) {
        return CH_L + w;
    }
    return CH_L + w * (double)(t - sp->t0) / (double)(sp->t1 - sp->t0);
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

/* A tick interval giving at most 10 x labels: 1s, 2s, 5s, 10s, 15s, 30s,
 * 1m, 2m, 5m, 10m, 15m, 30m, 1h, then whole hours doubling. */
static int64_t x_tick(int64_t span_ms)
{
    static const int64_t ticks[] = {1,   2,   5,   10,  15,   30,  60,
                                    120, 300, 600, 900, 1800, 3600};
    int64_t t = 3600;

    for (size_t i = 0; i < sizeof(ticks) / sizeof(ticks[0]); i++) {
        if (span_ms / (ticks[i] * 1000) <= 10) {
            return ticks[i] * 1000;
        }
    }
    while (span_ms / (t * 1000) > 10) {
        t *= 2;
    }
    return t * 1000;
}

static void put_axes(const span *sp, tool_unit unit, double ymax, FILE *fp)
{
    int64_t tick = x_tick(sp->t1 - sp->t0);
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
                tool_fmt_unit(unit, v, lb, sizeof(lb)));
    }
    /* x labels: time before the window's end ("-5m" ... "0s") */
    for (int64_t back = 0; back <= sp->t1 - sp->t0; back += tick) {
        char d[32];

        fprintf(fp,
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                "font-size=\"11\" fill=\"#5b6474\">%s%s</text>\n",
                ch_x(sp, sp->t1 - back), CH_H - CH_B + 16, back > 0 ? "-" : "",
                back > 0 ? aa_duration_format(back, d, sizeof(d)) : "0s");
    }
}

static void put_threshold(const aa_threshold *t, const char *cls,
                          const char *color, double ymax, FILE *fp)
{
    double y;

    if (!t->set || !isfinite(t->value) || t->value > ymax * 1.04 ||
        t->value < 0) {
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

/* Whether points k-1 and k of s are drawn joined: both have a value and
 * no step is missing between them. */
static bool joined(const aa_range_series *s, size_t k, int64_t step_ms)
{
    return k > 0 && k < s->n && isfinite(s->pts[k - 1].v) &&
           isfinite(s->pts[k].v) &&
           s->pts[k].t_ms - s->pts[k - 1].t_ms <= step_ms * 3 / 2;
}

/* One polyline per series; a missing step or a non-finite value breaks
 * the line, a point joined to neither neighbour is a dot. */
static void put_lines(const span *sp, const aa_chart *c, double ymax, FILE *fp)
{
    for (size_t i = 0; i < c->lines.n; i++) {
        const aa_range_series *s = &c->lines.v[i];

        fprintf(fp,
                "<path class=\"series\" fill=\"none\" stroke=\"%s\" "
                "stroke-width=\"1.8\" stroke-linejoin=\"round\" d=\"",
                series_color(i));
        for (size_t k = 0; k < s->n; k++) {
            if (isfinite(s->pts[k].v)) {
                fprintf(fp, "%c%.1f %.1f ",
                        joined(s, k, c->step_ms) ? 'L' : 'M',
                        ch_x(sp, s->pts[k].t_ms), ch_y(s->pts[k].v, ymax));
            }
        }
        fputs("\"/>\n", fp);
        for (size_t k = 0; k < s->n; k++) {
            if (isfinite(s->pts[k].v) && !joined(s, k, c->step_ms) &&
                !joined(s, k + 1, c->step_ms)) {
                fprintf(fp,
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" "
                        "fill=\"%s\"/>\n",
                        ch_x(sp, s->pts[k].t_ms), ch_y(s->pts[k].v, ymax),
                        series_color(i));
            }
        }
    }
}

static void put_legend(const aa_chart *c, FILE *fp)
{
    fputs("<ul class=\"legend\">", fp);
    for (size_t i = 0; i < c->lines.n; i++) {
        char lb[512];

        fprintf(fp, "<li><span style=\"background:%s\"></span><code>",
                series_color(i));
        tool_put_xml(
            fp,
            c->lines.v[i].labels.n > 0
                ? aa_labels_format(&c->lines.v[i].labels, lb, sizeof(lb))
                : "all series",
            false);
        fputs("</code></li>", fp);
    }
    fputs("</ul>\n", fp);
}

/* The top of the y axis: the largest value, the lower threshold kept in
 * view and the upper one when near, rounded to a nice number; at most
 * 100 % for a ratio that stays below it. */
static double y_top(const aa_rule *rule, const aa_chart *c, size_t *npts)
{
    double ymax = 0;

    *npts = 0;
    for (size_t i = 0; i < c->lines.n; i++) {
        for (size_t k = 0; k < c->lines.v[i].n; k++) {
            double v = c->lines.v[i].pts[k].v;

            if (isfinite(v)) {
                (*npts)++;
                ymax = v > ymax ? v : ymax;
            }
        }
    }
    if (*npts > 0) {
        if (rule->warning.set && rule->warning.value > ymax &&
            rule->warning.value < ymax * 4 + 1e-12) {
            ymax = rule->warning.value;
        }
        if (rule->critical.set && rule->critical.value > ymax &&
            rule->critical.value < ymax * 2 + 1e-12) {
            ymax = rule->critical.value;
        }
    }
    ymax = nice_ceil(ymax * 1.08);
    if (tool_rule_unit(rule) == TOOL_UNIT_PERCENT && ymax > 1.0) {
        ymax = ymax > 1.04 ? nice_ceil(ymax) : 1.0;
    }
    return ymax;
}

/* Draws one rule's chart; returns true when it has a point. */
static bool put_chart(const aa_rule_result *rr, FILE *fp)
{
    const aa_rule *rule = rr->rule;
    const aa_chart *c = &rr->chart;
    span sp = {c->start_ms, c->end_ms};
    size_t npts;
    double ymax = y_top(rule, c, &npts);

    fputs("<figure class=\"chart\" id=\"chart-", fp);
    tool_put_xml(fp, rule->id, true);
    fputs("\" data-chart=\"", fp);
    tool_put_xml(fp, rule->id, true);
    fprintf(fp,
            "\" data-series=\"%zu\" data-points=\"%zu\">\n<figcaption>"
            "<strong>",
            c->lines.n, npts);
    tool_put_xml(fp, rule->id, false);
    fputs("</strong> <span class=\"note\">", fp);
    tool_put_xml(fp, rule->metric != NULL ? rule->stat_text : "query", false);
    if (rule->metric != NULL) {
        fputs(" of ", fp);
        tool_put_xml(fp, rule->metric, false);
    }
    fputs("</span></figcaption>\n<svg viewBox=\"0 0 640 220\" role=\"img\" "
          "aria-label=\"",
          fp);
    tool_put_xml(fp, rule->id, true);
    fputs("\">\n", fp);
    put_axes(&sp, tool_rule_unit(rule), ymax, fp);
    put_threshold(&rule->warning, "warning", "#c77c02", ymax, fp);
    put_threshold(&rule->critical, "critical", "#c62828", ymax, fp);
    put_lines(&sp, c, ymax, fp);
    fputs("</svg>\n", fp);
    if (c->message != NULL) {
        fputs("<p class=\"note\">not charted: ", fp);
        tool_put_xml(fp, c->message, false);
        fputs("</p>\n", fp);
    } else if (npts == 0) {
        fputs("<p class=\"note\">no value in the window</p>\n", fp);
    } else {
        put_legend(c, fp);
    }
    fputs("</figure>\n", fp);
    return npts > 0;
}

void tool_html_charts(const aa_report *r, FILE *fp)
{
    const aa_chart *first = NULL;
    size_t drawn = 0, asked = 0;
    char st[32], win[32];

    fputs("<section id=\"charts\">\n<h2>Signals over time</h2>\n", fp);
    for (size_t i = 0; i < r->nrules; i++) {
        if (r->rules[i].chart.asked) {
            first = first != NULL ? first : &r->rules[i].chart;
            asked++;
        }
    }
    if (first == NULL) {
        fputs("<p class=\"note\" id=\"no-charts\">No charts: no rule could "
              "be asked for its values over the window.</p>\n</section>\n",
              fp);
        return;
    }
    fprintf(fp,
            "<p class=\"note\">Each rule's value at every %s over the "
            "window, one line per group; each point is the rule's stat "
            "over the %s ending there, so the last point is the value "
            "judged.  Dashed lines: the rule's warning and critical "
            "thresholds.</p>\n<div class=\"charts\">\n",
            aa_duration_format(first->step_ms, st, sizeof(st)),
            aa_duration_format(r->end_ms - r->start_ms, win, sizeof(win)));
    for (size_t i = 0; i < r->nrules; i++) {
        if (r->rules[i].chart.asked) {
            drawn += put_chart(&r->rules[i], fp) ? 1 : 0;
        }
    }
    fprintf(fp,
            "</div>\n<p class=\"note\" id=\"chart-count\" "
            "data-drawn=\"%zu\">%zu of %zu charts have data.</p>\n",
            drawn, drawn, asked);
    fputs("</section>\n", fp);
}
