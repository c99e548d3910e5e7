/*
 * tool_grafana.c: `rules export FILE --format grafana`, a Grafana
 * (10/11) dashboard built from the rule file, so that what an operator
 * watches is exactly what the gate judges and the alerts fire on: one
 * time-series panel per rule whose query is the rule's compiled PromQL
 * (the same compiler as --target and the alerting rules), its warning and
 * critical levels drawn as thresholds in the rule's unit, grouped in rows
 * by what the metric is about; plus a table of the code sites charged
 * with the loop's blocked time.  Written with jansson.
 *
 * Grafana's side: a "datasource" variable (any Prometheus-compatible
 * source), and "job"/"instance" variables whose matchers are added to
 * every structured rule's selectors like --selector's are (raw queries
 * are sent as written, as everywhere).  The rule's window becomes
 * $__rate_interval, so a panel shows how the value moved rather than one
 * 5-minute average, except for stats whose size grows with the window
 * (increase, delta), which keep the rule's window so that the thresholds
 * still apply.  The sites table sums over the dashboard's $__range.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aa/promql.h"
#include "tool_export.h"

#define PANEL_W 12
#define PANEL_H 8
#define SITES_TOP 10
#define QUERY_MAX ((size_t)1 << 20)

/* Grafana's variables, added to every structured rule's selector. */
#define VARIABLE_MATCHERS "job=~\"$job\", instance=~\"$instance\""

/* Compiled in place of the window, then replaced by the Grafana
 * variable: a duration no rule file writes (1y1w1d1h1m1s1ms). */
#define WINDOW_MARK_MS ((int64_t)373 * 86400000 + 3600000 + 60000 + 1000 + 1)

/* Rows of the dashboard, in order. */
typedef enum row {
    ROW_LOOP,
    ROW_QUEUES,
    ROW_EXECUTORS,
    ROW_HTTP,
    ROW_OTHER,
    NROWS
} row;

static const char *const row_titles[NROWS] = {
    [ROW_LOOP] = "Event loop",
    [ROW_QUEUES] = "Queues and tasks",
    [ROW_EXECUTORS] = "Executors (thread pools)",
    [ROW_HTTP] = "HTTP",
    [ROW_OTHER] = "Other rules",
};

/* Metric name prefixes and the row they belong to; the first match
 * wins, so the ready-callback queue goes to queues, not to the loop. */
static const struct {
    const char *prefix;
    row row;
} row_prefixes[] = {
    {"python_asyncio_executor_", ROW_EXECUTORS},
    {"python_asyncio_loop_ready_callbacks", ROW_QUEUES},
    {"python_asyncio_tasks", ROW_QUEUES},
    {"python_asyncio_loop_", ROW_LOOP},
    {"python_asyncio_block_", ROW_LOOP},
    {"http_", ROW_HTTP},
};

/* Range functions whose result grows with the window. */
static const char *const window_sized[] = {
    "increase(", "delta(",         "changes(",
    "resets(",   "sum_over_time(", "count_over_time(",
};

typedef struct dash {
    bool failed; /* some allocation failed: the whole export fails */
    json_int_t next_id;
    json_int_t y;
    json_t *panels;
} dash;

static void set(dash *d, json_t *o, const char *key, json_t *v)
{
    /* jansson frees v when the call fails, and fails on NULL o or v */
    if (json_object_set_new(o, key, v) != 0) {
        d->failed = true;
    }
}

static void set_str(dash *d, json_t *o, const char *key, const char *s)
{
    set(d, o, key, json_string(s));
}

static void set_int(dash *d, json_t *o, const char *key, json_int_t v)
{
    set(d, o, key, json_integer(v));
}

static void push(dash *d, json_t *a, json_t *v)
{
    if (json_array_append_new(a, v) != 0) {
        d->failed = true;
    }
}

/* A number as an integer when it is one (no "2.0" in the JSON). */
static json_t *number(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        return json_integer((json_int_t)v);
    }
    return json_real(v);
}

static json_t *datasource_ref(void)
{
    return json_pack("{s:s, s:s}", "type", "prometheus", "uid",
                     "${datasource}");
}

static row rule_row(const aa_rule *r)
{
    const char *text = r->metric != NULL ? r->metric : r->query;

    for (size_t i = 0; i < sizeof(row_prefixes) / sizeof(row_prefixes[0]);
         i++) {
        const char *p = row_prefixes[i].prefix;

        if (r->metric != NULL ? strncmp(text, p, strlen(p)) == 0
                              : strstr(text, p) != NULL) {
            return row_prefixes[i].row;
        }
    }
    return ROW_OTHER;
}

/* The Grafana variable standing for r's window, or NULL to keep the
 * rule's own window (a stat whose value grows with the window). */
static const char *window_variable(const aa_rule *r)
{
    aa_plan plan;

    if (r->metric != NULL) {
        if (aa_rule_plan(r, &plan) == AA_OK &&
            (plan.fn == AA_FN_INCREASE || plan.fn == AA_FN_DELTA)) {
            return NULL;
        }
        return "$__rate_interval";
    }
    for (size_t i = 0; i < sizeof(window_sized) / sizeof(window_sized[0]);
         i++) {
        if (strstr(r->query, window_sized[i]) != NULL) {
            return NULL;
        }
    }
    return "$__rate_interval";
}

/* Replaces every occurrence of mark in q by with; *out is malloc'd. */
static int replace_all(const char *q, const char *mark, const char *with,
                       char **out)
{
    aat_buf b;
    size_t n = strlen(mark);
    int rc = AA_OK;

    aat_buf_init(&b, QUERY_MAX);
    while (*q != '\0' && rc == AA_OK) {
        if (strncmp(q, mark, n) == 0) {
            rc = aat_buf_appendf(&b, "%s", with);
            q += n;
        } else {
            rc = aat_buf_append(&b, q, 1);
            q++;
        }
    }
    *out = rc == AA_OK ? aat_buf_steal(&b) : NULL;
    aat_buf_release(&b);
    return rc != AA_OK ? rc : *out == NULL ? AA_ENOMEM : AA_OK;
}

/*
 * The panel query of rule r: the rule compiled with vcfg's selector (the
 * caller's --selector plus the Grafana variables), its window bound to
 * window_variable().  Prints the error and returns AA_EXIT_CONFIG when
 * the rule does not compile.
 */
static int panel_query(const tool_config *vcfg, const aa_ruleset *rs,
                       const aa_rule *r, int64_t window, char **out)
{
    const char *var = window_variable(r);
    char mark[64];
    char *q = NULL;
    int rc;

    *out = NULL;
    rc = tool_compile_rule(vcfg, rs, r, var != NULL ? WINDOW_MARK_MS : window,
                           &q);
    if (rc != AA_EXIT_OK || var == NULL) {
        *out = q;
        return rc;
    }
    aa_duration_format(WINDOW_MARK_MS, mark, sizeof(mark));
    rc = replace_all(q, mark, var, out);
    free(q);
    if (rc != AA_OK) {
        tool_error("rules export: rule \"%s\": %s", r->id, aa_strerror(rc));
        return AA_EXIT_CONFIG;
    }
    return AA_EXIT_OK;
}

/* The colour of a value crossing r's levels: red, orange, or none. */
static const char *level_color(const aa_rule *r, double v)
{
    if (r->critical.set && aa_threshold_crossed(&r->critical, v)) {
        return "red";
    }
    if (r->warning.set && aa_threshold_crossed(&r->warning, v)) {
        return "orange";
    }
    return "transparent";
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Grafana thresholds for r's levels: ascending steps, each coloured by
 * the level a value in its interval crosses, so that "> 50ms" and
 * "< 10%" both come out right; == and != cannot be drawn as intervals
 * and become a line at each level instead.
 */
static json_t *thresholds(dash *d, const aa_rule *r, const char **style)
{
    json_t *t = json_object(), *steps = json_array();
    double at[2];
    size_t n = 0;
    bool pointwise = false;

    if (r->warning.set) {
        at[n++] = r->warning.value;
        pointwise = r->warning.op == AA_CMP_EQ || r->warning.op == AA_CMP_NE;
    }
    if (r->critical.set) {
        at[n++] = r->critical.value;
        pointwise = pointwise || r->critical.op == AA_CMP_EQ ||
                    r->critical.op == AA_CMP_NE;
    }
    qsort(at, n, sizeof(at[0]), cmp_double);
    *style = pointwise ? "dashed" : "line+area";
    push(d, steps,
         json_pack("{s:s, s:n}", "color",
                   pointwise ? "transparent"
                             : level_color(r, at[0] - fabs(at[0]) - 1),
                   "value"));
    for (size_t i = 0; i < n; i++) {
        double probe =
            i + 1 < n ? (at[i] + at[i + 1]) / 2 : at[i] + fabs(at[i]) + 1;
        const char *color = level_color(r, pointwise ? at[i] : probe);
        json_t *step;

        if (i > 0 && at[i] == at[i - 1]) {
            continue;
        }
        step = json_object();
        if (pointwise) {
            color = r->critical.set && at[i] == r->critical.value ? "red"
                                                                  : "orange";
        }
        set_str(d, step, "color", color);
        set(d, step, "value", number(at[i]));
        push(d, steps, step);
    }
    set_str(d, t, "mode", "absolute");
    set(d, t, "steps", steps);
    return t;
}

static const char *unit_name(tool_unit u)
{
    switch (u) {
    case TOOL_UNIT_SECONDS:
        return "s";
    case TOOL_UNIT_PERCENT:
        return "percentunit";
    case TOOL_UNIT_NONE:
        break;
    }
    return "short";
}

/* b's text for the caller to free, or NULL when an append failed. */
static char *steal_text(aat_buf *b)
{
    if (b->failed) {
        aat_buf_release(b);
        return NULL;
    }
    return aat_buf_steal(b);
}

/* "{{instance}} {{loop}}" for the "by" labels; the id without them. */
static char *legend(const aa_rule *r)
{
    aat_buf b;

    aat_buf_init(&b, QUERY_MAX);
    if (r->query != NULL) {
        aat_buf_appendf(&b, "__auto");
    } else if (r->nby == 0) {
        aat_buf_appendf(&b, "%s", r->id);
    }
    for (size_t i = 0; r->query == NULL && i < r->nby; i++) {
        aat_buf_appendf(&b, "%s{{%s}}", i > 0 ? " " : "", r->by[i]);
    }
    return steal_text(&b);
}

/* What the panel shows, for its (i) tooltip. */
static char *panel_description(const aa_rule *r, int64_t window,
                               const char *var)
{
    char w[64];
    aat_buf b;

    aat_buf_init(&b, QUERY_MAX);
    aat_buf_appendf(&b, "%s.", r->finding);
    if (r->description != NULL) {
        aat_buf_appendf(&b, " %s.", r->description);
    }
    aat_buf_appendf(&b, " Rule %s:", r->id);
    if (r->warning.set) {
        aat_buf_appendf(&b, " warning %s", r->warning.text);
    }
    if (r->critical.set) {
        aat_buf_appendf(&b, "%s critical %s", r->warning.set ? "," : "",
                        r->critical.text);
    }
    aat_buf_appendf(&b, ", judged over %s",
                    aa_duration_format(window, w, sizeof(w)));
    if (var != NULL) {
        aat_buf_appendf(&b, "; drawn over Grafana's rate interval");
    }
    aat_buf_appendf(&b, ".");
    return steal_text(&b);
}

static json_t *grid(json_int_t x, json_int_t y, json_int_t w, json_int_t h)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "h", h, "w", w, "x", x, "y", y);
}

/* Appends a panel at column slot (0 or 1) of the current line. */
static void place(dash *d, json_t *panel, int *slot)
{
    set_int(d, panel, "id", d->next_id++);
    set(d, panel, "gridPos",
        grid(*slot == 0 ? 0 : PANEL_W, d->y, PANEL_W, PANEL_H));
    push(d, d->panels, panel);
    if (*slot == 1) {
        d->y += PANEL_H;
    }
    *slot ^= 1;
}

static void add_row(dash *d, row rw)
{
    json_t *p = json_object();

    set_str(d, p, "type", "row");
    set_str(d, p, "title", row_titles[rw]);
    set(d, p, "collapsed", json_false());
    set(d, p, "panels", json_array());
    set_int(d, p, "id", d->next_id++);
    set(d, p, "gridPos", grid(0, d->y, 24, 1));
    push(d, d->panels, p);
    d->y += 1;
}

static json_t *rule_panel(dash *d, const aa_rule *r, const char *query,
                          int64_t window)
{
    const char *var = window_variable(r);
    const char *style = "line+area";
    tool_unit unit = tool_rule_unit(r);
    char *leg = legend(r), *desc = panel_description(r, window, var);
    json_t *p = json_object(), *target = json_object();
    json_t *defaults = json_object(), *custom = json_object();

    set_str(d, p, "type", "timeseries");
    set_str(d, p, "title", r->id);
    set_str(d, p, "description", desc);
    set(d, p, "datasource", datasource_ref());

    set(d, target, "datasource", datasource_ref());
    set_str(d, target, "refId", "A");
    set_str(d, target, "expr", query);
    set_str(d, target, "legendFormat", leg);
    set(d, target, "range", json_true());
    set(d, target, "instant", json_false());
    set_str(d, target, "editorMode", "code");
    set(d, p, "targets", json_pack("[o]", target));

    set_str(d, defaults, "unit", unit_name(unit));
    if (unit != TOOL_UNIT_NONE) {
        set_int(d, defaults, "min", 0);
    }
    set(d, defaults, "color", json_pack("{s:s}", "mode", "palette-classic"));
    set(d, defaults, "thresholds", thresholds(d, r, &style));
    set_str(d, custom, "drawStyle", "line");
    set_int(d, custom, "lineWidth", 1);
    set_int(d, custom, "fillOpacity", 10);
    set_str(d, custom, "showPoints", "never");
    set(d, custom, "thresholdsStyle", json_pack("{s:s}", "mode", style));
    set(d, defaults, "custom", custom);
    set(d, p, "fieldConfig",
        json_pack("{s:o, s:[]}", "defaults", defaults, "overrides"));
    set(d, p, "options",
        json_pack("{s:{s:s, s:s, s:b}, s:{s:s, s:s}}", "legend", "displayMode",
                  "list", "placement", "bottom", "showLegend", 1, "tooltip",
                  "mode", "multi", "sort", "desc"));
    free(leg);
    free(desc);
    return p;
}

/* The top code sites by blocked time over the dashboard's range. */
static json_t *sites_panel(dash *d, const aa_matchers *extra)
{
    json_t *p = json_object(), *target = json_object();
    aat_buf sel, q;

    aat_buf_init(&sel, QUERY_MAX);
    aat_buf_init(&q, QUERY_MAX);
    aa_promql_selector(&sel, TOOL_SITE_METRIC, extra, NULL);
    aat_buf_appendf(&q, "topk(%d, sum by (site) (increase(%s[$__range])))",
                    SITES_TOP, sel.failed ? "" : sel.data);
    d->failed = d->failed || sel.failed || q.failed;

    set_str(d, p, "type", "table");
    set_str(d, p, "title", "Top blocking sites");
    set_str(d, p, "description",
            "Code sites charged with the event loop's blocked time "
            "(" TOOL_SITE_METRIC ") over the dashboard's time range, "
            "worst first: the lines to fix.");
    set(d, p, "datasource", datasource_ref());
    set(d, target, "datasource", datasource_ref());
    set_str(d, target, "refId", "A");
    set_str(d, target, "expr", q.failed ? NULL : q.data);
    set_str(d, target, "legendFormat", "{{site}}");
    set(d, target, "instant", json_true());
    set(d, target, "range", json_false());
    set_str(d, target, "format", "table");
    set_str(d, target, "editorMode", "code");
    set(d, p, "targets", json_pack("[o]", target));
    set(d, p, "fieldConfig",
        json_pack("{s:{s:s}, s:[]}", "defaults", "unit", "s", "overrides"));
    set(d, p, "options",
        json_pack("{s:b, s:[{s:s, s:b}]}", "showHeader", 1, "sortBy",
                  "displayName", "blocked", "desc", 1));
    set(d, p, "transformations",
        json_pack("[{s:s, s:{s:{s:b}, s:{s:s}}}]", "id", "organize", "options",
                  "excludeByName", "Time", 1, "renameByName", "Value",
                  "blocked"));
    aat_buf_release(&sel);
    aat_buf_release(&q);
    return p;
}

static json_t *query_variable(const char *name, const char *label,
                              const char *query)
{
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:{s:s, s:s}, s:b, s:b, s:s, s:i, "
        "s:i, s:i, s:{s:b, s:[s], s:[s]}, s:[]}",
        "name", name, "label", label, "type", "query", "datasource",
        datasource_ref(), "definition", query, "query", "query", query,
        "refId", name, "multi", 1, "includeAll", 1, "allValue", ".*",
        "refresh", 2, "sort", 1, "hide", 0, "current", "selected", 1, "text",
        "All", "value", "$__all", "options");
}

static json_t *templating(void)
{
    return json_pack(
        "{s:[{s:s, s:s, s:s, s:s, s:{}, s:i, s:i, s:s, s:[]}, o, o]}", "list",
        "name", "datasource", "label", "Data source", "type", "datasource",
        "query", "prometheus", "current", "hide", 0, "refresh", 1, "regex", "",
        "options",
        query_variable("job", "Job",
                       "label_values(python_asyncio_probe_info, job)"),
        query_variable(
            "instance", "Instance",
            "label_values(python_asyncio_probe_info{job=~\"$job\"}, "
            "instance)"));
}

/* Adds the panels of row rw (and the sites table to the loop's row). */
static int add_row_panels(dash *d, row rw, const tool_config *vcfg,
                          const aa_ruleset *rs, int64_t window)
{
    bool any = false;
    int slot = 0;

    for (size_t i = 0; i < rs->nrules; i++) {
        const aa_rule *r = &rs->rules[i];
        char *q = NULL;
        int rc;

        if (rule_row(r) != rw) {
            continue;
        }
        rc = panel_query(vcfg, rs, r, window, &q);
        if (rc != AA_EXIT_OK) {
            return rc;
        }
        if (!any) {
            add_row(d, rw);
            any = true;
        }
        place(d, rule_panel(d, r, q, window), &slot);
        free(q);
    }
    if (rw == ROW_LOOP) {
        if (!any) {
            add_row(d, rw);
        }
        place(d, sites_panel(d, &vcfg->selector), &slot);
    }
    if (slot == 1) {
        d->y += PANEL_H;
    }
    return AA_EXIT_OK;
}

int tool_export_grafana(const tool_config *cfg, const aa_ruleset *rs,
                        int64_t window, FILE *fp)
{
    tool_config vcfg = *cfg;
    aa_matchers vars = {NULL, 0};
    dash d = {false, 1, 0, json_array()};
    json_t *root = NULL;
    aa_diag diag;
    int rc = AA_EXIT_OK;

    memset(&vcfg.selector, 0, sizeof(vcfg.selector));
    aa_diag_clear(&diag);
    if (aa_matchers_append(&vcfg.selector, &cfg->selector) != AA_OK ||
        aa_matchers_parse(VARIABLE_MATCHERS, &vars, &diag) != AA_OK ||
        aa_matchers_append(&vcfg.selector, &vars) != AA_OK) {
        d.failed = true;
        goto out;
    }
    for (int rw = 0; rw < NROWS && rc == AA_EXIT_OK; rw++) {
        rc = add_row_panels(&d, (row)rw, &vcfg, rs, window);
    }
    if (rc != AA_EXIT_OK) {
        goto out;
    }
    root = json_pack(
        "{s:s, s:s, s:s, s:[s, s, s], s:b, s:i, s:i, s:i, s:{s:s, s:s}, "
        "s:s, s:s, s:{s:[]}, s:[], s:o, s:O}",
        "title", "Async runtime (async-auditor)", "uid", "async-runtime",
        "description",
        "Generated by async-auditor rules export --format grafana: one "
        "panel per rule, its query the rule's own PromQL and its "
        "thresholds the rule's warning and critical levels.",
        "tags", "asyncio", "python", "async-auditor", "editable", 1,
        "graphTooltip", 1, "schemaVersion", 39, "version", 1, "time", "from",
        "now-15m", "to", "now", "refresh", "10s", "timezone", "",
        "annotations", "list", "links", "templating", templating(), "panels",
        d.panels);
    if (root == NULL || d.failed) {
        d.failed = true;
        goto out;
    }
    if (json_dumpf(root, fp, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) != 0 ||
        fputc('\n', fp) == EOF) {
        tool_error("rules export: cannot write the dashboard");
        rc = AA_EXIT_CONFIG;
    }
out:
    if (d.failed && rc == AA_EXIT_OK) {
        tool_error("rules export: cannot build the dashboard: out of memory");
        rc = AA_EXIT_CONFIG;
    }
    json_decref(root);
    json_decref(d.panels);
    aa_matchers_clear(&vars);
    aa_matchers_clear(&vcfg.selector);
    return rc;
}
