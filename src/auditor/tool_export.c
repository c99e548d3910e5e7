/*
 * tool_export.c: `rules export FILE --format prometheus|grafana`.  The
 * same thresholds that gate CI also page and chart at run time: each rule
 * becomes one Prometheus alerting rule per severity (here) and one
 * dashboard panel (tool_grafana.c), both built from the same compiled
 * PromQL, so they cannot drift apart.  The YAML is written with libyaml's
 * emitter, which does the quoting.
 *
 * Mapping: alert name = the rule id in CamelCase (alert names must be
 * metric-name-like, ids may start with a digit: those get "Rule" in
 * front); expr = "QUERY OP VALUE" with the threshold in base units; for
 * carried over; labels severity (warning|critical) and rule_id;
 * annotations summary (the finding and the value) and description (the
 * description, the value and the threshold), the value humanized in the
 * rule's unit; alerts of rules whose findings get culprits
 * (tool_rule_culprits) also name the top culprit (see site_notes).  A rule
 * with no_data: warning|critical also gets an "...NoData" alert on
 * absent(QUERY).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "aa/promql.h"
#include "tool_cfg.h"
#include "tool_culprit.h"
#include "tool_export.h"

#define TEXT_MAX ((size_t)1 << 20)

typedef struct emitter {
    yaml_emitter_t e;
    bool failed;
} emitter;

static void emit(emitter *em, yaml_event_t *ev, int ok)
{
    if (em->failed) {
        if (ok) {
            yaml_event_delete(ev);
        }
        return;
    }
    if (!ok || !yaml_emitter_emit(&em->e, ev)) {
        em->failed = true;
    }
}

static void scalar(emitter *em, const char *s)
{
    yaml_event_t ev;
    int ok = yaml_scalar_event_initialize(
        &ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s, (int)strlen(s), 1, 1,
        YAML_ANY_SCALAR_STYLE);

    emit(em, &ev, ok);
}

static void pair(emitter *em, const char *key, const char *value)
{
    scalar(em, key);
    scalar(em, value);
}

static void map_start(emitter *em)
{
    yaml_event_t ev;
    int ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 YAML_BLOCK_MAPPING_STYLE);

    emit(em, &ev, ok);
}

static void map_end(emitter *em)
{
    yaml_event_t ev;

    emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void seq_start(emitter *em)
{
    yaml_event_t ev;
    int ok = yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                  YAML_BLOCK_SEQUENCE_STYLE);

    emit(em, &ev, ok);
}

static void seq_end(emitter *em)
{
    yaml_event_t ev;

    emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
}

/* "event_loop_starvation" -> "EventLoopStarvation". */
static void alert_name(const char *id, const char *suffix, char *buf,
                       size_t size)
{
    size_t o = 0;
    bool up = true;

    if (id[0] >= '0' && id[0] <= '9') {
        o = (size_t)snprintf(buf, size, "Rule");
    }
    for (const char *p = id; *p != '\0' && o + 1 < size; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        buf[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        up = false;
    }
    buf[o] = '\0';
    if (o == 0) {
        snprintf(buf, size, "Rule");
    }
    snprintf(buf + strlen(buf), size - strlen(buf), "%s", suffix);
}

/* Copies s with Go-template actions neutralised: "{{" becomes
 * {{ "{{" }}, so user text is printed literally by Alertmanager. */
static int template_literal(aat_buf *b, const char *s)
{
    int rc = AA_OK;

    while (*s != '\0' && rc == AA_OK) {
        if (s[0] == '{' && s[1] == '{') {
            rc = aat_buf_appendf(b, "{{ \"{{\" }}");
            s += 2;
        } else {
            rc = aat_buf_append(b, s, 1);
            s++;
        }
    }
    return rc;
}

/*
 * Annotations naming the culprit, added to the alerts of rules whose
 * findings get culprits of the row's kind (tool_rule_culprits).  Each
 * runs Prometheus's template function `query` for the alert's own series
 * and renders the first sample it returns, or says `fallback`.  In
 * `query`, @SEL@ stands for the rule's matchers (its where and
 * --selector) plus one matcher per "by" label bound to the alert's label
 * value, and @WINDOW@ for the rule's window; `render` is a template over
 * the sample (".").  The top culprit's hint comes from the kind's info
 * series, joined on the culprit's keys; "or on (...)" keeps the culprit
 * when the probe exports no info (an older one).  A further fact about
 * the top culprit is one more row.
 */
typedef struct site_note {
    aa_site_kind kind;
    const char *name;
    const char *query;
    const char *render;
    const char *fallback;
} site_note;

#define BLOCK_TOP                                                             \
    "topk(1, sum by (site) (increase(python_asyncio_block_site_seconds_total" \
    "@SEL@[@WINDOW@])))"
#define GIL_TOP                                                               \
    "topk(1, sum by (thread, site) "                                          \
    "(increase(python_asyncio_gil_holder_seconds_total@SEL@[@WINDOW@])))"
#define POOL_RUN                                                              \
    "increase(python_asyncio_executor_function_run_seconds_total@SEL@"        \
    "[@WINDOW@])"
#define HINT_RENDER "{{ with label \"hint\" . }}; hint: {{ . }}{{ end }}"

static const site_note site_notes[] = {
    {AA_SITE_BLOCKING, "culprit",
     "(" BLOCK_TOP " * on (site) group_left (hint) topk by (site) (1, max by "
     "(site, hint) (last_over_time(python_asyncio_block_site_info@SEL@"
     "[@WINDOW@])))) or on (site) " BLOCK_TOP,
     "{{ label \"site\" . }} ({{ value . | humanizeDuration }} blocked in "
     "the last @WINDOW@)" HINT_RENDER,
     "no blocking site recorded"},
    {AA_SITE_GIL_HOLDER, "culprit",
     "(" GIL_TOP " * on (thread, site) group_left (hint) topk by (thread, "
     "site) (1, max by (thread, site, hint) "
     "(last_over_time(python_asyncio_gil_holder_info@SEL@[@WINDOW@])))) or "
     "on (thread, site) " GIL_TOP,
     "{{ label \"site\" . }} in thread {{ label \"thread\" . }} held the "
     "GIL ({{ value . | humanizeDuration }} waited for in the last "
     "@WINDOW@)" HINT_RENDER,
     "no GIL holder recorded"},
    {AA_SITE_POOL_FUNCTION, "culprit",
     "topk(1, sum by (function, site) (" POOL_RUN ")) / on () group_left () "
     "sum(" POOL_RUN ")",
     "{{ label \"function\" . }} at {{ label \"site\" . }}: {{ value . | "
     "humanizePercentage }} of pool time in the last @WINDOW@",
     "no pool function recorded"},
};

#define NNOTES (sizeof(site_notes) / sizeof(site_notes[0]))

/* The alert's value, humanized in the rule's unit. */
static const char *value_template(const aa_rule *rule)
{
    switch (tool_rule_unit(rule)) {
    case TOOL_UNIT_SECONDS:
        return "{{ $value | humanizeDuration }}";
    case TOOL_UNIT_PERCENT:
        return "{{ $value | humanizePercentage }}";
    case TOOL_UNIT_NONE:
        break;
    }
    return "{{ $value | humanize }}";
}

/* Appends s[0..n) as the inside of a Go string literal that is a printf
 * format: \ and " escaped, % doubled. */
static int go_format_literal(aat_buf *b, const char *s, size_t n)
{
    int rc = AA_OK;

    for (size_t i = 0; i < n && rc == AA_OK; i++) {
        const char *esc = s[i] == '\\'  ? "\\\\"
                          : s[i] == '"' ? "\\\""
                          : s[i] == '%' ? "%%"
                                        : NULL;

        rc = esc != NULL ? aat_buf_append(b, esc, 2)
                         : aat_buf_append(b, &s[i], 1);
    }
    return rc;
}

/*
 * Appends the printf format for @SEL@ to fmt: "{where, selector, L=%q,
 * ...}" with one %q per "by" label (nothing when there are no matchers
 * at all), and the matching " (index $labels "L")" arguments to args.
 */
static int note_selector(aat_buf *fmt, aat_buf *args, const aa_rule *r,
                         const aa_matchers *selector)
{
    aat_buf m;
    bool raw = r->query != NULL;
    size_t nm = raw ? 0 : r->where.n + selector->n;
    size_t nby = raw ? 0 : r->nby;
    int rc = AA_OK;

    if (nm == 0 && nby == 0) {
        return AA_OK;
    }
    aat_buf_init(&m, TEXT_MAX);
    if (nm > 0) {
        rc = aa_promql_selector(&m, NULL, &r->where, selector);
        if (rc == AA_OK) {
            /* without its closing brace, to add the by-label matchers */
            rc = go_format_literal(fmt, m.data, m.len - 1);
        }
    } else {
        rc = aat_buf_append(fmt, "{", 1);
    }
    for (size_t i = 0; i < nby && rc == AA_OK; i++) {
        rc = aat_buf_appendf(fmt, "%s%s=%%q", nm > 0 || i > 0 ? ", " : "",
                             r->by[i]);
        if (rc == AA_OK) {
            rc = aat_buf_appendf(args, " (index $labels \"%s\")", r->by[i]);
        }
    }
    if (rc == AA_OK) {
        rc = aat_buf_append(fmt, "}", 1);
    }
    aat_buf_release(&m);
    return rc;
}

/* Appends s with every @WINDOW@ replaced by window. */
static int with_window(aat_buf *b, const char *s, const char *window)
{
    static const char key[] = "@WINDOW@";
    int rc = AA_OK;

    while (*s != '\0' && rc == AA_OK) {
        if (strncmp(s, key, sizeof(key) - 1) == 0) {
            rc = aat_buf_appendf(b, "%s", window);
            s += sizeof(key) - 1;
        } else {
            rc = aat_buf_append(b, s, 1);
            s++;
        }
    }
    return rc;
}

/*
 * Appends the template of note for rule r:
 *   {{ range query (printf "QUERY" ARGS) }}RENDER{{ else }}FALLBACK{{ end }}
 * Only a hostile rule file makes this long; the bound is TEXT_MAX.
 */
static int site_note_template(aat_buf *out, const site_note *note,
                              const aa_rule *r, const tool_config *cfg,
                              const char *window)
{
    static const char sel[] = "@SEL@", win[] = "@WINDOW@";
    aat_buf fmt, args;
    const char *q = note->query;
    int rc = AA_OK;

    aat_buf_init(&fmt, TEXT_MAX);
    aat_buf_init(&args, TEXT_MAX);
    while (*q != '\0' && rc == AA_OK) {
        if (strncmp(q, sel, sizeof(sel) - 1) == 0) {
            rc = note_selector(&fmt, &args, r, &cfg->selector);
            q += sizeof(sel) - 1;
        } else if (strncmp(q, win, sizeof(win) - 1) == 0) {
            rc = go_format_literal(&fmt, window, strlen(window));
            q += sizeof(win) - 1;
        } else {
            rc = go_format_literal(&fmt, q, 1);
            q++;
        }
    }
    if (rc == AA_OK) {
        rc = aat_buf_appendf(out, "{{ range query (printf \"%s\"%s) }}",
                             fmt.data, args.len > 0 ? args.data : "");
    }
    if (rc == AA_OK) {
        rc = with_window(out, note->render, window);
    }
    if (rc == AA_OK) {
        rc = aat_buf_appendf(out, "{{ else }}%s{{ end }}", note->fallback);
    }
    aat_buf_release(&fmt);
    aat_buf_release(&args);
    return rc;
}

static int alert(emitter *em, const tool_config *cfg, const aa_rule *r,
                 const char *query, const char *window, const char *severity,
                 const aa_threshold *t)
{
    char name[256], num[64], dur[64];
    aat_buf expr, desc, summary;
    aat_buf notes[NNOTES];
    const tool_culprit_source *culprits =
        t != NULL ? tool_rule_culprits(r) : NULL;
    bool wrap = r->query != NULL || strstr(query, " / ") != NULL;
    bool comment = strchr(query, '#') != NULL;
    int rc;

    aat_buf_init(&expr, TEXT_MAX);
    aat_buf_init(&desc, TEXT_MAX);
    aat_buf_init(&summary, TEXT_MAX);
    for (size_t i = 0; i < NNOTES; i++) {
        aat_buf_init(&notes[i], TEXT_MAX);
    }
    alert_name(r->id, t != NULL ? "" : "NoData", name, sizeof(name));
    if (t != NULL) {
        rc = aat_buf_appendf(&expr, "%s%s%s %s %s", wrap ? "(" : "", query,
                             wrap ? (comment ? "\n)" : ")") : "",
                             aa_cmp_str(t->op),
                             aa_promql_number(t->value, num, sizeof(num)));
    } else {
        rc =
            aat_buf_appendf(&expr, "absent(%s%s)", query, comment ? "\n" : "");
    }
    if (rc == AA_OK) {
        rc = template_literal(&summary, r->finding);
    }
    if (rc == AA_OK && t != NULL) {
        rc = aat_buf_appendf(&summary, ": %s", value_template(r));
    }
    if (rc == AA_OK) {
        rc = template_literal(&desc, r->description != NULL ? r->description
                                                            : r->finding);
    }
    if (rc == AA_OK && t != NULL) {
        rc = aat_buf_appendf(&desc, " (value %s, %s threshold ",
                             value_template(r), severity);
        if (rc == AA_OK) {
            rc = template_literal(&desc, t->text);
        }
        if (rc == AA_OK) {
            rc = aat_buf_append(&desc, ")", 1);
        }
    } else if (rc == AA_OK) {
        rc = aat_buf_appendf(&desc, " (no data)");
    }
    for (size_t i = 0; culprits != NULL && i < NNOTES && rc == AA_OK; i++) {
        if (site_notes[i].kind == culprits->kind) {
            rc = site_note_template(&notes[i], &site_notes[i], r, cfg, window);
        }
    }
    if (rc != AA_OK) {
        goto out;
    }
    map_start(em);
    pair(em, "alert", name);
    pair(em, "expr", expr.data);
    if (r->for_ms > 0 && t != NULL) {
        pair(em, "for", aa_duration_format(r->for_ms, dur, sizeof(dur)));
    }
    scalar(em, "labels");
    map_start(em);
    pair(em, "severity", severity);
    pair(em, "rule_id", r->id);
    map_end(em);
    scalar(em, "annotations");
    map_start(em);
    pair(em, "summary", summary.data);
    pair(em, "description", desc.data);
    for (size_t i = 0; i < NNOTES; i++) {
        if (notes[i].len > 0) {
            pair(em, site_notes[i].name, notes[i].data);
        }
    }
    map_end(em);
    map_end(em);
out:
    aat_buf_release(&expr);
    aat_buf_release(&desc);
    aat_buf_release(&summary);
    for (size_t i = 0; i < NNOTES; i++) {
        aat_buf_release(&notes[i]);
    }
    return rc;
}

static int export_rules(emitter *em, const tool_config *cfg,
                        const aa_ruleset *rs, int64_t window)
{
    yaml_event_t ev;
    char wtext[64];

    aa_duration_format(window, wtext, sizeof(wtext));
    emit(em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    emit(em, &ev,
         yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    map_start(em);
    scalar(em, "groups");
    seq_start(em);
    map_start(em);
    pair(em, "name", "async-auditor");
    scalar(em, "rules");
    seq_start(em);
    for (size_t i = 0; i < rs->nrules; i++) {
        const aa_rule *r = &rs->rules[i];
        char *q = NULL;
        int rc = AA_OK;

        if (tool_compile_rule(cfg, rs, r, window, &q) != AA_EXIT_OK) {
            return AA_EXIT_CONFIG;
        }
        if (r->warning.set) {
            rc = alert(em, cfg, r, q, wtext, "warning", &r->warning);
        }
        if (rc == AA_OK && r->critical.set) {
            rc = alert(em, cfg, r, q, wtext, "critical", &r->critical);
        }
        if (rc == AA_OK && (r->no_data == AA_NODATA_WARNING ||
                            r->no_data == AA_NODATA_CRITICAL)) {
            rc =
                alert(em, cfg, r, q, wtext,
                      r->no_data == AA_NODATA_WARNING ? "warning" : "critical",
                      NULL);
        }
        free(q);
        if (rc != AA_OK) {
            tool_error("rules export: rule \"%s\": %s", r->id,
                       aa_strerror(rc));
            return AA_EXIT_CONFIG;
        }
    }
    seq_end(em);
    map_end(em);
    seq_end(em);
    map_end(em);
    emit(em, &ev, yaml_document_end_event_initialize(&ev, 1));
    emit(em, &ev, yaml_stream_end_event_initialize(&ev));
    return AA_EXIT_OK;
}

/* The alerting rules as YAML on fp. */
static int export_prometheus(const tool_config *cfg, const aa_ruleset *rs,
                             int64_t window, FILE *fp)
{
    emitter em;
    int rc;

    memset(&em, 0, sizeof(em));
    if (!yaml_emitter_initialize(&em.e)) {
        tool_error("rules export: out of memory");
        return AA_EXIT_CONFIG;
    }
    yaml_emitter_set_output_file(&em.e, fp);
    yaml_emitter_set_unicode(&em.e, 1);
    yaml_emitter_set_width(&em.e, -1);
    yaml_emitter_set_indent(&em.e, 2);
    rc = export_rules(&em, cfg, rs, window);
    if (rc == AA_EXIT_OK && em.failed) {
        tool_error("rules export: cannot write the YAML: %s",
                   em.e.problem != NULL ? em.e.problem : "write error");
        rc = AA_EXIT_CONFIG;
    }
    yaml_emitter_delete(&em.e);
    return rc;
}

int tool_rules_export(const tool_config *cfg)
{
    const char *path =
        cfg->rules_file != NULL ? cfg->rules_file : cfg->config_path;
    const char *format =
        cfg->export_format != NULL ? cfg->export_format : "prometheus";
    tool_config lcfg = *cfg;
    aa_ruleset *rs = NULL;
    int64_t window;
    int rc;

    if (strcmp(format, "prometheus") != 0 && strcmp(format, "grafana") != 0) {
        tool_error("rules export: unknown format \"%s\" (supported: "
                   "prometheus, grafana)",
                   format);
        return AA_EXIT_USAGE;
    }
    lcfg.config_path = path;
    rc = tool_load_rules(&lcfg, &rs);
    if (rc != AA_EXIT_OK) {
        return rc;
    }
    window = tool_rules_window(cfg, rs);
    if (strcmp(format, "grafana") == 0) {
        rc = tool_export_grafana(cfg, rs, window, stdout);
    } else {
        rc = export_prometheus(cfg, rs, window, stdout);
    }
    if (rc == AA_EXIT_OK && fflush(stdout) != 0) {
        tool_error("rules export: cannot write to standard output");
        rc = AA_EXIT_CONFIG;
    }
    aa_ruleset_free(rs);
    return rc;
}
