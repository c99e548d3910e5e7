/*
 * rules.c: the rule-file loader (contract §5).  A rule file is the
 * contract between the people who write thresholds and the gate that
 * enforces them, so every mistake must be caught here, before a backend is
 * asked anything, and reported with file, line and column.
 *
 * The YAML mechanics (libyaml events -> a node tree with positions,
 * aliases refused, nesting and node count bounded) are yamltree.c's;
 * this file caps the input size (AA_RULES_MAX_BYTES) and validates the
 * tree key by key: unknown keys, duplicate keys and wrong node kinds are
 * errors, never ignored.
 */
#include "aa/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/promql.h"
#include "stat.h"
#include "yamltree.h"

#define AA_RULES_MAX_BYTES ((size_t)4 << 20)
#define MAX_RULES 10000
#define MAX_ID_LEN 128

typedef struct loader {
    const char *name;
    aa_diag *diag;
} loader;

/* aa_yaml_error() at line:col (1-based) of the file being loaded. */
#define error_at(ld, line, col, ...)                                          \
    aa_yaml_error((ld)->diag, (ld)->name, (line), (col), __VA_ARGS__)

/* error_at() at a node of the tree. */
#define error_node(ld, n, ...)                                                \
    error_at((ld), (n)->line, (n)->column, __VA_ARGS__)

/* ---- scalar helpers -------------------------------------------------- */

/* A non-empty string scalar without NUL bytes. */
static int want_string(loader *ld, const aa_yaml_node *n, const char *key,
                       const char **out)
{
    *out = NULL;
    if (n->kind != AA_YAML_SCALAR || aa_yaml_is_null(n)) {
        return error_node(ld, n, "\"%s\" must be a non-empty string, not %s",
                          key, aa_yaml_kind_name(n));
    }
    if (strlen(n->value) != n->len) {
        return error_node(ld, n, "\"%s\" contains a NUL character", key);
    }
    if (n->len == 0) {
        return error_node(ld, n, "\"%s\" must not be empty", key);
    }
    *out = n->value;
    return AA_OK;
}

static int dup_string(loader *ld, const aa_yaml_node *n, const char *key,
                      char **out)
{
    const char *s;
    int rc = want_string(ld, n, key, &s);

    if (rc != AA_OK) {
        return rc;
    }
    *out = aa_strdup(s);
    return *out == NULL ? AA_ENOMEM : AA_OK;
}

static int want_duration(loader *ld, const aa_yaml_node *n, const char *key,
                         int64_t *out)
{
    const char *s;
    int rc = want_string(ld, n, key, &s);

    if (rc != AA_OK) {
        return rc;
    }
    if (aa_duration_parse(s, out) != AA_OK) {
        return error_node(ld, n,
                          "\"%s\": invalid duration \"%s\" (expected e.g. "
                          "250ms, 30s, 5m, 1h or 1m30s)",
                          key, s);
    }
    return AA_OK;
}

typedef struct name_value {
    const char *name;
    int value;
} name_value;

static const name_value nodata_names[] = {{"ok", AA_NODATA_OK},
                                          {"unknown", AA_NODATA_UNKNOWN},
                                          {"warning", AA_NODATA_WARNING},
                                          {"critical", AA_NODATA_CRITICAL},
                                          {NULL, 0}};

/* The value named s in a NULL-terminated table; false if none. */
static bool lookup(const char *s, const name_value *table, int *value)
{
    for (; table->name != NULL; table++) {
        if (strcmp(s, table->name) == 0) {
            *value = table->value;
            return true;
        }
    }
    return false;
}

static bool valid_id(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return n > 0 && n <= MAX_ID_LEN;
}

static bool valid_name(const char *s, bool colon)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          s[0] == '_' || (colon && s[0] == ':'))) {
        return false;
    }
    for (size_t i = 1; s[i] != '\0'; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || (colon && c == ':'))) {
            return false;
        }
    }
    return true;
}

/* ---- rules ------------------------------------------------------------ */

static const char *const rule_keys[] = {
    "id",       "finding", "description", "metric",        "stat",
    "type",     "by",      "where",       "query",         "warning",
    "critical", "for",     "no_data",     "unmeasured_on", NULL};
static const char rule_keys_text[] =
    "id, finding, description, metric, stat, type, by, where, query, "
    "warning, critical, for, no_data, unmeasured_on";

static void rule_clear(aa_rule *r)
{
    free(r->id);
    free(r->finding);
    free(r->description);
    free(r->metric);
    free(r->query);
    for (size_t i = 0; i < r->nby; i++) {
        free(r->by[i]);
    }
    free(r->by);
    aa_matchers_clear(&r->where);
    for (size_t i = 0; i < r->nunmeasured; i++) {
        free(r->unmeasured_on[i]);
    }
    free(r->unmeasured_on);
    memset(r, 0, sizeof(*r));
}

/*
 * A list of names (a single name may be written without brackets) into
 * *out (malloc'd copies, *n of them): label names for "by", non-empty
 * strings for "unmeasured_on"; a name listed twice is an error.
 */
static int load_names(loader *ld, const aa_yaml_node *v, const char *key,
                      bool labels, const char *rname, char ***out, size_t *n)
{
    const aa_yaml_node *const *items = &v;
    size_t nitems = 1;

    if (v->kind == AA_YAML_SEQ) {
        items = (const aa_yaml_node *const *)v->kids;
        nitems = v->nkids;
    } else if (v->kind != AA_YAML_SCALAR || aa_yaml_is_null(v)) {
        return error_node(ld, v,
                          "rule \"%s\": \"%s\" must be a list of %s, "
                          "not %s",
                          rname, key, labels ? "label names" : "names",
                          aa_yaml_kind_name(v));
    }
    if (nitems == 0) {
        return AA_OK;
    }
    *out = calloc(nitems, sizeof(**out));
    if (*out == NULL) {
        return AA_ENOMEM;
    }
    for (size_t i = 0; i < nitems; i++) {
        const aa_yaml_node *it = items[i];
        bool ok = it->kind == AA_YAML_SCALAR && !aa_yaml_is_null(it) &&
                  strlen(it->value) == it->len && it->len > 0;

        if (ok && labels && !valid_name(it->value, false)) {
            ok = false;
        }
        if (!ok && labels) {
            return error_node(ld, it,
                              "rule \"%s\": \"%s\": \"%s\" is not a label "
                              "name ([a-zA-Z_][a-zA-Z0-9_]*)",
                              rname, key,
                              it->kind == AA_YAML_SCALAR ? it->value : "");
        }
        if (!ok) {
            return error_node(
                ld, it,
                "rule \"%s\": \"%s\": each item must be a "
                "non-empty string%s%s",
                rname, key, it->kind != AA_YAML_SCALAR ? ", not " : "",
                it->kind != AA_YAML_SCALAR ? aa_yaml_kind_name(it) : "");
        }
        for (size_t j = 0; j < *n; j++) {
            if (strcmp((*out)[j], it->value) == 0) {
                return error_node(ld, it,
                                  "rule \"%s\": \"%s\": \"%s\" is listed "
                                  "twice",
                                  rname, key, it->value);
            }
        }
        (*out)[*n] = aa_strdup(it->value);
        if ((*out)[*n] == NULL) {
            return AA_ENOMEM;
        }
        (*n)++;
    }
    return AA_OK;
}

static int load_threshold(loader *ld, const aa_yaml_node *v, const char *key,
                          const char *rname, aa_threshold *t)
{
    if (v->kind != AA_YAML_SCALAR || aa_yaml_is_null(v) ||
        strlen(v->value) != v->len ||
        aa_threshold_parse(v->value, t) != AA_OK) {
        return error_node(ld, v,
                          "rule \"%s\": \"%s\": invalid threshold \"%s\" "
                          "(expected OP VALUE[UNIT], OP one of > >= < <= == "
                          "!=, UNIT ms, s or %%, e.g. \"> 250ms\"; quote it "
                          "in YAML)",
                          rname, key,
                          v->kind == AA_YAML_SCALAR ? v->value : "");
    }
    return AA_OK;
}

static int load_where(loader *ld, const aa_yaml_node *v, aa_rule *r,
                      const char *rname)
{
    const char *s;
    aa_diag md;
    int rc = want_string(ld, v, "where", &s);

    if (rc != AA_OK) {
        return rc;
    }
    aa_diag_clear(&md);
    rc = aa_matchers_parse(s, &r->where, &md);
    if (rc == AA_ESYNTAX) {
        unsigned col = v->column;

        /* Column into the file: exact for one-line plain or quoted
         * scalars without escapes, the value's start otherwise. */
        if (strchr(s, '\n') == NULL && md.column > 0) {
            col += (v->quoted ? 1 : 0) + md.column - 1;
        }
        return error_at(ld, v->line, col, "rule \"%s\": \"where\": %s", rname,
                        md.message);
    }
    return rc;
}

/*
 * Fills r from the rule mapping m, the index-th of the list.  On failure
 * the diag names the position and r holds what was read so far, which
 * rule_clear() (via aa_ruleset_free) releases.
 */
static int load_rule(loader *ld, const aa_yaml_node *m, size_t index,
                     aa_rule *r)
{
    const aa_yaml_node *v, *k = NULL;
    const aa_yaml_node *stat_node = NULL, *type_node = NULL;
    char rname[MAX_ID_LEN + 32];
    const char *s;
    bool has_type = false;
    int rc, value;

    r->line = m->line;
    r->column = m->column;
    r->no_data = AA_NODATA_UNKNOWN;
    snprintf(rname, sizeof(rname), "#%zu", index + 1);
    if (m->kind != AA_YAML_MAP) {
        return error_node(ld, m, "rule %s must be a mapping, not %s", rname,
                          aa_yaml_kind_name(m));
    }
    /* The id first, so that later messages can name the rule. */
    v = aa_yaml_map_get(m, "id", NULL);
    if (v != NULL && v->kind == AA_YAML_SCALAR && !aa_yaml_is_null(v) &&
        strlen(v->value) == v->len && v->len <= MAX_ID_LEN) {
        snprintf(rname, sizeof(rname), "%s", v->value);
    }
    {
        char where[MAX_ID_LEN + 40];

        snprintf(where, sizeof(where), "rule \"%s\"", rname);
        rc = aa_yaml_check_keys(m, where, rule_keys, rule_keys_text, ld->name,
                                ld->diag);
        if (rc != AA_OK) {
            return rc;
        }
    }
    if (v == NULL) {
        return error_node(ld, m, "rule %s: missing \"id\"", rname);
    }
    rc = dup_string(ld, v, "id", &r->id);
    if (rc != AA_OK) {
        return rc;
    }
    if (!valid_id(r->id)) {
        return error_node(ld, v,
                          "rule id \"%s\" is invalid: use lower-case "
                          "letters, digits and '_' ([a-z0-9_]+, at most %d "
                          "characters)",
                          r->id, MAX_ID_LEN);
    }
    v = aa_yaml_map_get(m, "finding", NULL);
    if (v == NULL) {
        return error_node(ld, m, "rule \"%s\": missing \"finding\"", rname);
    }
    rc = dup_string(ld, v, "finding", &r->finding);
    if (rc != AA_OK) {
        return rc;
    }
    if ((v = aa_yaml_map_get(m, "description", NULL)) != NULL) {
        rc = dup_string(ld, v, "description", &r->description);
        if (rc != AA_OK) {
            return rc;
        }
    }
    if ((v = aa_yaml_map_get(m, "metric", NULL)) != NULL) {
        rc = dup_string(ld, v, "metric", &r->metric);
        if (rc != AA_OK) {
            return rc;
        }
        if (!valid_name(r->metric, true)) {
            return error_node(ld, v,
                              "rule \"%s\": \"%s\" is not a metric name "
                              "(label matchers go in \"where\")",
                              rname, r->metric);
        }
    }
    if ((v = aa_yaml_map_get(m, "query", &k)) != NULL) {
        aa_diag qd;

        if (r->metric != NULL) {
            return error_node(ld, k,
                              "rule \"%s\": has both \"metric\" and "
                              "\"query\"; use one",
                              rname);
        }
        rc = dup_string(ld, v, "query", &r->query);
        if (rc != AA_OK) {
            return rc;
        }
        aa_diag_clear(&qd);
        if (aa_promql_check_raw(r->query, &qd) != AA_OK) {
            return error_node(ld, v,
                              "rule \"%s\": \"query\": %s (at "
                              "character %u of the query)",
                              rname, qd.message, qd.column);
        }
    }
    if (r->metric == NULL && r->query == NULL) {
        return error_node(ld, m,
                          "rule \"%s\": needs \"metric\" and \"stat\" or a "
                          "raw \"query\"",
                          rname);
    }
    stat_node = aa_yaml_map_get(m, "stat", &k);
    if (r->query != NULL) {
        static const char *const structured[] = {
            "stat", "type", "by", "where", "unmeasured_on", NULL};

        for (size_t i = 0; structured[i] != NULL; i++) {
            if (aa_yaml_map_get(m, structured[i], &k) != NULL) {
                return error_node(ld, k,
                                  "rule \"%s\": \"%s\" applies to "
                                  "\"metric\" rules, not to a raw \"query\"",
                                  rname, structured[i]);
            }
        }
    } else {
        if (stat_node == NULL) {
            return error_node(ld, m,
                              "rule \"%s\": \"metric\" needs a "
                              "\"stat\"",
                              rname);
        }
        rc = want_string(ld, stat_node, "stat", &s);
        if (rc != AA_OK) {
            return rc;
        }
        if (strlen(s) >= sizeof(r->stat_text) ||
            !aa_stat_parse(s, &r->stat, &r->quantile, &r->above)) {
            return error_node(ld, stat_node,
                              "rule \"%s\": unknown stat \"%s\" (expected "
                              "pNN such as p99 or p99.9, avg, rate, "
                              "increase, sum_rate, max, min, last, delta, "
                              "slope or share_above(X) such as "
                              "share_above(62.5ms))",
                              rname, s);
        }
        snprintf(r->stat_text, sizeof(r->stat_text), "%s", s);
        if ((type_node = aa_yaml_map_get(m, "type", NULL)) != NULL) {
            rc = want_string(ld, type_node, "type", &s);
            if (rc != AA_OK) {
                return rc;
            }
            if (!aa_metric_type_parse(s, &r->type)) {
                return error_node(ld, type_node,
                                  "rule \"%s\": unknown type \"%s\" "
                                  "(expected counter, gauge or histogram)",
                                  rname, s);
            }
            has_type = true;
        } else {
            r->type = aa_known_metric_type(r->metric);
            if (r->type == AA_TYPE_UNKNOWN) {
                r->type = aa_stat_infer_type(r->stat);
            }
        }
        if (!aa_stat_fits(r->stat, r->type)) {
            return error_node(ld, stat_node,
                              "rule \"%s\": stat \"%s\" does not apply to "
                              "%s, a %s%s",
                              rname, r->stat_text, r->metric,
                              aa_metric_type_name(r->type),
                              has_type ? " (as its \"type\" says)" : "");
        }
        if ((v = aa_yaml_map_get(m, "by", NULL)) != NULL) {
            rc = load_names(ld, v, "by", true, rname, &r->by, &r->nby);
            if (rc != AA_OK) {
                return rc;
            }
            for (size_t i = 0; i < r->nby; i++) {
                if ((r->stat == AA_STAT_QUANTILE ||
                     r->stat == AA_STAT_SHARE_ABOVE) &&
                    strcmp(r->by[i], "le") == 0) {
                    return error_node(ld, v,
                                      "rule \"%s\": \"by\": \"le\" is "
                                      "always kept for %s; remove it",
                                      rname,
                                      r->stat == AA_STAT_QUANTILE
                                          ? "a quantile"
                                          : "share_above");
                }
            }
        }
        if ((v = aa_yaml_map_get(m, "where", NULL)) != NULL) {
            rc = load_where(ld, v, r, rname);
            if (rc != AA_OK) {
                return rc;
            }
        }
        if ((v = aa_yaml_map_get(m, "unmeasured_on", NULL)) != NULL) {
            rc = load_names(ld, v, "unmeasured_on", false, rname,
                            &r->unmeasured_on, &r->nunmeasured);
            if (rc != AA_OK) {
                return rc;
            }
        }
    }
    if ((v = aa_yaml_map_get(m, "warning", NULL)) != NULL) {
        rc = load_threshold(ld, v, "warning", rname, &r->warning);
        if (rc != AA_OK) {
            return rc;
        }
    }
    if ((v = aa_yaml_map_get(m, "critical", NULL)) != NULL) {
        rc = load_threshold(ld, v, "critical", rname, &r->critical);
        if (rc != AA_OK) {
            return rc;
        }
    }
    if (!r->warning.set && !r->critical.set) {
        return error_node(ld, m,
                          "rule \"%s\": needs a \"warning\" or a "
                          "\"critical\" threshold",
                          rname);
    }
    if ((v = aa_yaml_map_get(m, "for", NULL)) != NULL) {
        rc = want_duration(ld, v, "for", &r->for_ms);
        if (rc != AA_OK) {
            return rc;
        }
    }
    if ((v = aa_yaml_map_get(m, "no_data", NULL)) != NULL) {
        rc = want_string(ld, v, "no_data", &s);
        if (rc != AA_OK) {
            return rc;
        }
        if (!lookup(s, nodata_names, &value)) {
            return error_node(ld, v,
                              "rule \"%s\": no_data \"%s\" is invalid "
                              "(expected ok, unknown, warning or critical)",
                              rname, s);
        }
        r->no_data = (aa_nodata)value;
    }
    return AA_OK;
}

static const char *const top_keys[] = {"version", "window", "rules", NULL};

/* Validates the document and fills rs; rs->nrules counts the rules to
 * free, also on failure. */
static int load_root(loader *ld, const aa_yaml_node *root, aa_ruleset *rs)
{
    const aa_yaml_node *v, *k = NULL;
    int rc;

    if (root == NULL) {
        aa_diag_set(ld->diag, ld->name, 0, 0,
                    "the rule file is empty (expected version, window and "
                    "rules)");
        return AA_ESYNTAX;
    }
    if (root->kind != AA_YAML_MAP) {
        return error_node(ld, root,
                          "the rule file must be a mapping with version, "
                          "window and rules, not %s",
                          aa_yaml_kind_name(root));
    }
    rc = aa_yaml_check_keys(root, "rule file", top_keys,
                            "version, window, rules", ld->name, ld->diag);
    if (rc != AA_OK) {
        return rc;
    }
    v = aa_yaml_map_get(root, "version", &k);
    if (v == NULL) {
        return error_node(ld, root, "missing \"version: 1\"");
    }
    if (v->kind != AA_YAML_SCALAR || strcmp(v->value, "1") != 0) {
        return error_node(ld, v,
                          "unsupported version \"%s\" (this auditor reads "
                          "version 1)",
                          v->kind == AA_YAML_SCALAR ? v->value : "");
    }
    rs->version = 1;
    if ((v = aa_yaml_map_get(root, "window", NULL)) != NULL) {
        rc = want_duration(ld, v, "window", &rs->window_ms);
        if (rc != AA_OK) {
            return rc;
        }
        if (rs->window_ms <= 0) {
            return error_node(ld, v, "\"window\" must be longer than 0s");
        }
    }
    v = aa_yaml_map_get(root, "rules", &k);
    if (v == NULL) {
        return error_node(ld, root, "missing \"rules\"");
    }
    if (v->kind != AA_YAML_SEQ) {
        return error_node(ld, v, "\"rules\" must be a list, not %s",
                          aa_yaml_kind_name(v));
    }
    if (v->nkids == 0) {
        return error_node(ld, v,
                          "\"rules\" is empty: a rule file needs at "
                          "least one rule");
    }
    if (v->nkids > MAX_RULES) {
        return error_node(ld, v, "too many rules (at most %d)", MAX_RULES);
    }
    rs->rules = calloc(v->nkids, sizeof(*rs->rules));
    if (rs->rules == NULL) {
        return AA_ENOMEM;
    }
    for (size_t i = 0; i < v->nkids; i++) {
        aa_rule *r = &rs->rules[i];

        rs->nrules = i + 1;
        rc = load_rule(ld, v->kids[i], i, r);
        if (rc != AA_OK) {
            return rc;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rs->rules[j].id, r->id) == 0) {
                const aa_yaml_node *idn =
                    aa_yaml_map_get(v->kids[i], "id", NULL);

                return error_node(ld, idn,
                                  "duplicate rule id \"%s\" (first used at "
                                  "line %u)",
                                  r->id, rs->rules[j].line);
            }
        }
    }
    return AA_OK;
}

int aa_ruleset_load_buffer(const char *name, const char *data, size_t len,
                           aa_ruleset **out, aa_diag *diag)
{
    loader ld;
    aa_yaml_node *root = NULL;
    aa_ruleset *rs = NULL;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (out == NULL || (data == NULL && len > 0)) {
        return AA_EINVAL;
    }
    if (name == NULL) {
        name = "<rules>";
    }
    aa_diag_clear(diag);
    if (len > AA_RULES_MAX_BYTES) {
        aa_diag_set(diag, name, 0, 0, "the rule file is larger than %zu bytes",
                    AA_RULES_MAX_BYTES);
        return AA_ETOOBIG;
    }
    ld.name = name;
    ld.diag = diag;
    rc = aa_yaml_parse(name, data, len, &root, diag);
    if (rc != AA_OK) {
        goto out;
    }
    rs = calloc(1, sizeof(*rs));
    if (rs == NULL || (rs->path = aa_strdup(name)) == NULL) {
        rc = AA_ENOMEM;
        goto out;
    }
    rc = load_root(&ld, root, rs);
out:
    if (rc == AA_ENOMEM) {
        aa_diag_set(diag, name, 0, 0, "out of memory");
    }
    aa_yaml_free(root);
    if (rc != AA_OK) {
        aa_ruleset_free(rs);
        return rc;
    }
    *out = rs;
    return AA_OK;
}

int aa_ruleset_load_file(const char *path, aa_ruleset **out, aa_diag *diag)
{
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (path == NULL || out == NULL) {
        return AA_EINVAL;
    }
    aa_diag_clear(diag);
    rc = aa_file_read(path, "rule file", AA_RULES_MAX_BYTES, 0, &data, &len,
                      diag);
    if (rc == AA_OK) {
        rc = aa_ruleset_load_buffer(path, data, len, out, diag);
    }
    free(data);
    return rc;
}

void aa_ruleset_free(aa_ruleset *rs)
{
    if (rs == NULL) {
        return;
    }
    for (size_t i = 0; i < rs->nrules; i++) {
        rule_clear(&rs->rules[i]);
    }
    free(rs->rules);
    free(rs->path);
    free(rs);
}
