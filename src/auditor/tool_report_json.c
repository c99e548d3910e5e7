/*
 * tool_report_json.c: the machine-readable report (--format json, --json
 * FILE), built with jansson.  The schema is a contract documented in
 * docs/report-json.md: fields are only ever added.  Values are numbers in
 * base units (seconds, ratios), null when there is no value, and the
 * strings "+Inf"/"-Inf" for infinities, which JSON numbers cannot hold.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aa/rules.h"
#include "aa_version.h"
#include "tool_report.h"

/* Every json_object_set_new below goes through this, so an allocation
 * failure anywhere turns into one error at the end.  Both take value over
 * whatever happens (a value whose container could not be allocated is
 * released here; jansson releases it when the insertion fails), so a
 * report cut short by OOM leaks nothing. */
typedef struct jctx {
    bool failed;
} jctx;

static void set(jctx *c, json_t *obj, const char *key, json_t *value)
{
    if (obj == NULL || value == NULL) {
        json_decref(value);
        c->failed = true;
    } else if (json_object_set_new(obj, key, value) != 0) {
        c->failed = true;
    }
}

static void push(jctx *c, json_t *arr, json_t *value)
{
    if (arr == NULL || value == NULL) {
        json_decref(value);
        c->failed = true;
    } else if (json_array_append_new(arr, value) != 0) {
        c->failed = true;
    }
}

/* A JSON string of s.  Text from outside (label values, messages) is not
 * always valid UTF-8, which jansson refuses: such bytes become U+FFFD
 * rather than costing the whole report.  NULL only on OOM. */
static json_t *str(const char *s)
{
    json_t *j = json_string(s);
    char *fixed;

    if (j != NULL) {
        return j;
    }
    fixed = tool_utf8_copy(s);
    if (fixed != NULL) {
        j = json_string(fixed);
        free(fixed);
    }
    return j;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? str(s) : json_null();
}

static json_t *number(double v)
{
    if (isnan(v)) {
        return json_null();
    }
    if (isinf(v)) {
        return json_string(v > 0 ? "+Inf" : "-Inf");
    }
    return json_real(v);
}

static json_t *threshold(const aa_threshold *t)
{
    return t != NULL && t->set ? json_string(t->text) : json_null();
}

static json_t *labels_obj(jctx *c, const aa_labels *ls)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o != NULL && i < ls->n; i++) {
        set(c, o, ls->v[i].name, str(ls->v[i].value));
    }
    return o;
}

static json_t *rule_obj(jctx *c, const aa_rule_result *rr)
{
    const aa_rule *rule = rr->rule;
    json_t *o = json_object(), *series, *sites, *warnings, *th;
    char buf[64];
    size_t i;

    set(c, o, "id", str(rule->id));
    set(c, o, "finding", str_or_null(rule->finding));
    set(c, o, "description", str_or_null(rule->description));
    set(c, o, "status", json_string(aa_verdict_name(rr->verdict)));
    set(c, o, "value", rr->has_value ? number(rr->value) : json_null());
    set(c, o, "value_text",
        rr->has_value
            ? json_string(tool_fmt_value(rule, rr->value, buf, sizeof(buf)))
            : json_null());
    set(c, o, "threshold", threshold(rr->crossed));
    th = json_object();
    set(c, th, "warning", threshold(&rule->warning));
    set(c, th, "critical", threshold(&rule->critical));
    set(c, o, "thresholds", th);
    set(c, o, "for_seconds",
        rule->for_ms > 0 ? json_real((double)rule->for_ms / 1000.0)
                         : json_null());
    set(c, o, "metric", str_or_null(rule->metric));
    set(c, o, "stat",
        rule->metric != NULL ? json_string(rule->stat_text) : json_null());
    set(c, o, "query", str_or_null(rr->query));
    set(c, o, "message", str_or_null(rr->message));
    warnings = json_array();
    for (i = 0; i < rr->nwarnings; i++) {
        push(c, warnings, str(rr->warnings[i]));
    }
    set(c, o, "warnings", warnings);
    series = json_array();
    for (i = 0; i < rr->nseries; i++) {
        const aa_series_result *s = &rr->series[i];
        json_t *so = json_object();

        set(c, so, "labels", labels_obj(c, &s->labels));
        set(c, so, "value", number(s->value));
        set(c, so, "status", json_string(aa_verdict_name(s->verdict)));
        push(c, series, so);
    }
    set(c, o, "series", series);
    sites = json_array();
    for (i = 0; i < rr->nsites; i++) {
        json_t *so = json_object();

        set(c, so, "site", str(rr->sites[i].site));
        set(c, so, "seconds", number(rr->sites[i].seconds));
        push(c, sites, so);
    }
    set(c, o, "sites", sites);
    return o;
}

/* Bound on the rendered report. */
#define JSON_MAX ((size_t)256 * 1024 * 1024)

typedef struct sink {
    aat_buf b;
    int err; /* the first failed append's aa_err */
} sink;

static int append_text(const char *buf, size_t size, void *data)
{
    sink *k = data;
    int rc = aat_buf_append(&k->b, buf, size);

    if (rc != AA_OK && k->err == AA_OK) {
        k->err = rc;
    }
    return rc == AA_OK ? 0 : -1;
}

int tool_report_json(const tool_config *cfg, const aa_report *r, FILE *fp)
{
    json_t *root = json_object(), *window, *rules, *summary;
    jctx c = {false};
    sink text;
    size_t counts[5], i;
    int rc = 0;

    (void)cfg;
    set(&c, root, "schema_version", json_integer(1));
    set(&c, root, "auditor_version", json_string(AA_VERSION));
    set(&c, root, "status", json_string(aa_status_name(r->status)));
    window = json_object();
    {
        char buf[40];

        set(&c, window, "start",
            json_string(tool_fmt_time(r->start_ms, buf, sizeof(buf))));
        set(&c, window, "end",
            json_string(tool_fmt_time(r->end_ms, buf, sizeof(buf))));
    }
    set(&c, window, "start_unix", json_real((double)r->start_ms / 1000.0));
    set(&c, window, "end_unix", json_real((double)r->end_ms / 1000.0));
    set(&c, window, "seconds",
        json_real((double)(r->end_ms - r->start_ms) / 1000.0));
    set(&c, root, "window", window);
    set(&c, root, "target", str_or_null(r->target));
    set(&c, root, "mode", str_or_null(r->mode));
    set(&c, root, "step_seconds",
        r->step_ms > 0 ? json_real((double)r->step_ms / 1000.0) : json_null());
    if (r->mode != NULL && strcmp(r->mode, "scrape") == 0) {
        json_t *s = json_object();

        set(&c, s, "ok", json_integer(r->scrapes_ok));
        set(&c, s, "failed", json_integer(r->scrapes_failed));
        set(&c, root, "scrapes", s);
    }
    tool_count_verdicts(r, counts);
    summary = json_object();
    for (i = 0; i < 5; i++) {
        set(&c, summary, aa_verdict_name((aa_verdict)i),
            json_integer((json_int_t)counts[i]));
    }
    set(&c, root, "summary", summary);
    rules = json_array();
    for (i = 0; i < r->nrules; i++) {
        push(&c, rules, rule_obj(&c, &r->rules[i]));
    }
    set(&c, root, "rules", rules);
    /* rendered whole before writing: out of memory writes nothing rather
     * than half a document */
    /* 15 significant digits (DBL_DIG): every decimal of that many digits
     * survives the round trip through a double, so Unix times keep their
     * milliseconds ("1795687200.123") and no value shows binary noise */
    aat_buf_init(&text.b, JSON_MAX);
    text.err = c.failed ? AA_ENOMEM : AA_OK;
    if (text.err == AA_OK &&
        (json_dump_callback(root, append_text, &text,
                            JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                JSON_REAL_PRECISION(15)) != 0 ||
         append_text("\n", 1, &text) != 0) &&
        text.err == AA_OK) {
        text.err = AA_ENOMEM; /* jansson's own allocation failed */
    }
    if (text.err != AA_OK) {
        tool_error("JSON report: %s", text.err == AA_ETOOBIG
                                          ? "larger than 256 MiB"
                                          : aa_strerror(text.err));
        rc = AA_EIO;
    } else if (fwrite(text.b.data, 1, text.b.len, fp) != text.b.len ||
               fflush(fp) != 0 || ferror(fp)) {
        rc = AA_EIO;
    }
    json_decref(root);
    aat_buf_release(&text.b);
    return rc;
}
