/*
 * tool_export.c: `rules export FILE --format prometheus`.  The same
 * thresholds that gate CI also page at run time: each rule becomes one
 * Prometheus alerting rule per severity, built from the same compiled
 * PromQL, so the two cannot drift apart.  The YAML is written with
 * libyaml's emitter, which does the quoting.
 *
 * Mapping: alert name = the rule id in CamelCase (alert names must be
 * metric-name-like, ids may start with a digit: those get "Rule" in
 * front); expr = "QUERY OP VALUE" with the threshold in base units; for
 * carried over; labels severity (warning|critical) and rule_id;
 * annotations summary (the finding) and description.  A rule with
 * no_data: warning|critical also gets an "...NoData" alert on
 * absent(QUERY).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "aa/promql.h"
#include "tool_cfg.h"

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

static int alert(emitter *em, const aa_rule *r, const char *query,
                 const char *severity, const aa_threshold *t)
{
    char name[256], num[64], dur[64];
    aat_buf expr, desc, summary;
    bool wrap = r->query != NULL || strstr(query, " / ") != NULL;
    bool comment = strchr(query, '#') != NULL;
    int rc;

    aat_buf_init(&expr, TEXT_MAX);
    aat_buf_init(&desc, TEXT_MAX);
    aat_buf_init(&summary, TEXT_MAX);
    alert_name(r->id, t != NULL ? "" : "NoData", name, sizeof(name));
    if (t != NULL) {
        rc = aat_buf_appendf(&expr, "%s%s%s %s %s", wrap ? "(" : "", query,
                            wrap ? (comment ? "\n)" : ")") : "",
                            aa_cmp_str(t->op),
                            aa_promql_number(t->value, num, sizeof(num)));
    } else {
        rc = aat_buf_appendf(&expr, "absent(%s%s)", query, comment ? "\n" : "");
    }
    if (rc == AA_OK) {
        rc = template_literal(&summary, r->finding);
    }
    if (rc == AA_OK) {
        rc = template_literal(&desc, r->description != NULL ? r->description
                                                            : r->finding);
    }
    if (rc == AA_OK && t != NULL) {
        rc = aat_buf_appendf(&desc, " (value {{ $value }}, %s threshold ",
                            severity);
        if (rc == AA_OK) {
            rc = template_literal(&desc, t->text);
        }
        if (rc == AA_OK) {
            rc = aat_buf_append(&desc, ")", 1);
        }
    } else if (rc == AA_OK) {
        rc = aat_buf_appendf(&desc, " (no data)");
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
    map_end(em);
    map_end(em);
out:
    aat_buf_release(&expr);
    aat_buf_release(&desc);
    aat_buf_release(&summary);
    return rc;
}

static int export_rules(emitter *em, const tool_config *cfg,
                        const aa_ruleset *rs, int64_t window)
{
    yaml_event_t ev;

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
            rc = alert(em, r, q, "warning", &r->warning);
        }
        if (rc == AA_OK && r->critical.set) {
            rc = alert(em, r, q, "critical", &r->critical);
        }
        if (rc == AA_OK && (r->no_data == AA_NODATA_WARNING ||
                            r->no_data == AA_NODATA_CRITICAL)) {
            rc =
                alert(em, r, q,
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

int tool_rules_export(const tool_config *cfg)
{
    const char *path =
        cfg->rules_file != NULL ? cfg->rules_file : cfg->config_path;
    tool_config lcfg = *cfg;
    aa_ruleset *rs = NULL;
    emitter em;
    int64_t window;
    int rc;

    if (cfg->export_format != NULL &&
        strcmp(cfg->export_format, "prometheus") != 0) {
        tool_error("rules export: unknown format \"%s\" (supported: "
                   "prometheus)",
                   cfg->export_format);
        return AA_EXIT_USAGE;
    }
    lcfg.config_path = path;
    rc = tool_load_rules(&lcfg, &rs);
    if (rc != AA_EXIT_OK) {
        return rc;
    }
    window = tool_rules_window(cfg, rs);
    memset(&em, 0, sizeof(em));
    if (!yaml_emitter_initialize(&em.e)) {
        tool_error("rules export: out of memory");
        aa_ruleset_free(rs);
        return AA_EXIT_CONFIG;
    }
    yaml_emitter_set_output_file(&em.e, stdout);
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
    if (rc == AA_EXIT_OK && fflush(stdout) != 0) {
        tool_error("rules export: cannot write to standard output");
        rc = AA_EXIT_CONFIG;
    }
    aa_ruleset_free(rs);
    return rc;
}
