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
#include "tool_culprit.h"
#include "tool_report.h"
#include "tool_report_culprits.h"

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

/* {"lower": a, "upper": b}: where the true value lies; null when the
 * value is exact (docs/report-json.md). */
static json_t *bound_obj(jctx *c, const aa_value_bound *b, double value)
{
    json_t *o;

    if (b->kind == AA_BOUND_NONE || isnan(value)) {
        return json_null();
    }
    o = json_object();
    set(c, o, "lower", number(b->lower));
    set(c, o, "upper", number(b->upper));
    return o;
}

static json_t *rule_obj(jctx *c, const aa_rule_result *rr)
{
    const aa_rule *rule = rr->rule;
    json_t *o = json_object(), *series, *warnings, *th;
    char buf[64];
    size_t i;

    set(c, o, "id", str(rule->id));
    set(c, o, "finding", str_or_null(rule->finding));
    set(c, o, "description", str_or_null(rule->description));
    set(c, o, "status", json_string(aa_verdict_name(rr->verdict)));
    set(c, o, "value", rr->has_value ? number(rr->value) : json_null());
    set(c, o, "value_text",
        rr->has_value ? json_string(tool_fmt_judged(
                            rule, rr->value, &rr->bound, buf, sizeof(buf)))
                      : json_null());
    set(c, o, "value_bound",
        rr->has_value ? bound_obj(c, &rr->bound, rr->value) : json_null());
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
        set(c, so, "value_bound", bound_obj(c, &s->bound, s->value));
        set(c, so, "status", json_string(aa_verdict_name(s->verdict)));
        push(c, series, so);
    }
    set(c, o, "series", series);
    return o;
}

/* The fields naming a culprit (after "site") and what the probe says
 * about it, shared by rules[].sites[] and culprits[]. */
static void culprit_fields(jctx *c, json_t *o, const aa_site *s,
                           const char *chain, const char *cls,
                           const char *hint)
{
    char title[1024];

    set(c, o, "kind", json_string(tool_culprit_kind_name(s->kind)));
    set(c, o, "title", str(tool_culprit_title(s, title, sizeof(title))));
    set(c, o, "chain", str_or_null(chain));
    set(c, o, "class", str_or_null(cls));
    set(c, o, "hint", str_or_null(hint));
    set(c, o, "thread", str_or_null(s->thread));
    set(c, o, "executor", str_or_null(s->executor));
    set(c, o, "function", str_or_null(s->function));
}

/* rules[].sites: every breaching group's culprits, each with its group's
 * labels and its index in culprits[]. */
static json_t *sites_arr(jctx *c, const aa_rule_result *rr,
                         const tool_culprits *cs)
{
    json_t *sites = json_array();

    for (size_t i = 0; i < rr->nsites; i++) {
        const aa_site *s = &rr->sites[i];
        size_t idx = tool_culprits_find(cs, s);
        json_t *so = json_object();

        set(c, so, "site", str_or_null(s->site));
        set(c, so, "seconds", number(s->seconds));
        culprit_fields(c, so, s, s->chain, s->cls, s->hint);
        set(c, so, "share", number(s->share));
        set(c, so, "labels", labels_obj(c, &s->group));
        set(c, so, "culprit",
            idx < cs->n ? json_integer((json_int_t)idx) : json_null());
        push(c, sites, so);
    }
    return sites;
}

/* rules[].breaches: the breaching workers as the other formats word
 * them ("worker 4123: 61% blocked"). */
static json_t *breaches_arr(jctx *c, const aa_rule_result *rr)
{
    json_t *arr = json_array();
    char buf[1024];

    for (size_t i = 0; i < rr->nseries; i++) {
        if (tool_series_breaches(&rr->series[i]) &&
            tool_fmt_worker_breach(rr, &rr->series[i], buf, sizeof(buf))) {
            push(c, arr, str(buf));
        }
    }
    return arr;
}

static json_t *rule_ids(jctx *c, const aa_rule_result *const *rules, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++) {
        push(c, a, str(rules[i]->rule->id));
    }
    return a;
}

/* culprits: each culprit of the report once (tool_report_culprits.h). */
static json_t *culprits_arr(jctx *c, const tool_culprits *cs)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < cs->n; i++) {
        const tool_culprit *cu = &cs->v[i];
        json_t *o = json_object(), *groups = json_array();

        set(c, o, "site", str_or_null(cu->s->site));
        culprit_fields(c, o, cu->s, cu->chain, cu->cls, cu->hint);
        set(c, o, "seconds", number(cu->seconds));
        set(c, o, "rules", rule_ids(c, cu->rules, cu->nrules));
        for (size_t g = 0; g < cu->ngroups; g++) {
            const tool_culprit_group *cg = &cu->groups[g];
            json_t *go = json_object();

            set(c, go, "labels", labels_obj(c, cg->labels));
            set(c, go, "seconds", number(cg->seconds));
            set(c, go, "share", number(cg->share));
            set(c, go, "rules", rule_ids(c, cg->rules, cg->nrules));
            push(c, groups, go);
        }
        set(c, o, "groups", groups);
        push(c, arr, o);
    }
    return arr;
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
    tool_culprits cs = {NULL, 0};
    jctx c = {false};
    sink text;
    /* the summary's keys: the original five first, as they always were */
    static const aa_verdict order[AA_NVERDICTS] = {
        AA_VERDICT_OK,      AA_VERDICT_NO_DATA,  AA_VERDICT_ERROR,
        AA_VERDICT_WARNING, AA_VERDICT_CRITICAL, AA_VERDICT_NOT_APPLICABLE};
    size_t counts[AA_NVERDICTS], i;
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
    if (tool_culprits_collect(r, &cs) != AA_OK) {
        c.failed = true;
    }
    tool_count_verdicts(r, counts);
    summary = json_object();
    for (i = 0; i < AA_NVERDICTS; i++) {
        set(&c, summary, aa_verdict_name(order[i]),
            json_integer((json_int_t)counts[order[i]]));
    }
    set(&c, root, "summary", summary);
    rules = json_array();
    for (i = 0; i < r->nrules; i++) {
        json_t *ro = rule_obj(&c, &r->rules[i]);

        set(&c, ro, "sites", sites_arr(&c, &r->rules[i], &cs));
        set(&c, ro, "breaches", breaches_arr(&c, &r->rules[i]));
        push(&c, rules, ro);
    }
    set(&c, root, "rules", rules);
    set(&c, root, "culprits", culprits_arr(&c, &cs));
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
    tool_culprits_free(&cs);
    return rc;
}
