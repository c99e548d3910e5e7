/*
 * rules.c: the rule-file loader (SPEC section 5).  A rule file is the
 * contract between the people who write thresholds and the gate that
 * enforces them, so every mistake must be caught here, before a backend is
 * asked anything, and reported with file, line and column.
 *
 * libyaml's event parser feeds a small tree built here (rather than
 * libyaml's document loader) so that the loader controls everything the
 * input could abuse: aliases are refused, nesting depth and node count are
 * bounded, and the input size is capped (AA_RULES_MAX_BYTES).  The tree is
 * then validated key by key; unknown keys, duplicate keys and wrong node
 * kinds are errors, never ignored.
 */
#include "aa/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "aa/promql.h"

#define AA_RULES_MAX_BYTES ((size_t)4 << 20)
#define MAX_DEPTH 32
#define MAX_NODES 200000
#define MAX_RULES 10000
#define MAX_ID_LEN 128

/* ---- the YAML tree --------------------------------------------------- */

typedef enum nkind { N_SCALAR, N_SEQ, N_MAP } nkind;

typedef struct node {
    nkind kind;
    unsigned line, column; /* 1-based */
    char *value;           /* scalar text (NUL-terminated) */
    size_t len;
    bool plain;         /* scalar written without quotes */
    bool quoted;        /* single- or double-quoted */
    struct node **kids; /* seq: items; map: key, value, key, value... */
    size_t nkids;
} node;

typedef struct loader {
    const char *name;
    aa_diag *diag;
    size_t nodes;
} loader;

static void node_free(node *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
    }
    free(n->kids);
    free(n->value);
    free(n);
}

static int node_add(node *parent, node *kid)
{
    node **k = realloc(parent->kids, (parent->nkids + 1) * sizeof(*k));

    if (k == NULL) {
        return AA_ENOMEM;
    }
    parent->kids = k;
    k[parent->nkids++] = kid;
    return AA_OK;
}

/* Control characters from the file would reach the user's terminal. */
static void sanitize(char *msg)
{
    for (; *msg != '\0'; msg++) {
        if ((unsigned char)*msg < 0x20 || *msg == 0x7F) {
            *msg = '?';
        }
    }
}

/* Sets the diag at line:col (1-based) and returns AA_ESYNTAX. */
static int error_at(loader *ld, unsigned line, unsigned col, const char *fmt,
                    ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int error_at(loader *ld, unsigned line, unsigned col, const char *fmt,
                    ...)
{
    char msg[sizeof(((aa_diag *)0)->message)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sanitize(msg);
    aa_diag_set(ld->diag, ld->name, line, col, "%s", msg);
    return AA_ESYNTAX;
}

/* error_at() at a libyaml mark (0-based). */
#define error_mark(ld, mark, ...)                                             \
    error_at((ld), (unsigned)(mark).line + 1, (unsigned)(mark).column + 1,    \
             __VA_ARGS__)

/* error_at() at a node of the tree. */
#define error_node(ld, n, ...)                                                \
    error_at((ld), (n)->line, (n)->column, __VA_ARGS__)

/* A new node at mark, counted against MAX_NODES (an error with the
 * position when exceeded). */
static int node_new(loader *ld, nkind kind, const yaml_mark_t *mark,
                    node **out)
{
    node *n;

    *out = NULL;
    if (ld->nodes >= MAX_NODES) {
        return error_mark(ld, *mark, "too many YAML nodes");
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return AA_ENOMEM;
    }
    ld->nodes++;
    n->kind = kind;
    n->line = (unsigned)mark->line + 1;
    n->column = (unsigned)mark->column + 1;
    *out = n;
    return AA_OK;
}

static int scalar_new(loader *ld, const yaml_event_t *ev, node **out)
{
    yaml_scalar_style_t style = ev->data.scalar.style;
    node *n;
    int rc = node_new(ld, N_SCALAR, &ev->start_mark, &n);

    *out = NULL;
    if (rc != AA_OK) {
        return rc;
    }
    n->len = ev->data.scalar.length;
    n->value = malloc(n->len + 1);
    if (n->value == NULL) {
        node_free(n);
        return AA_ENOMEM;
    }
    memcpy(n->value, ev->data.scalar.value, n->len);
    n->value[n->len] = '\0';
    n->plain = style == YAML_PLAIN_SCALAR_STYLE;
    n->quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    *out = n;
    return AA_OK;
}

static int yaml_error(loader *ld, const yaml_parser_t *p)
{
    const char *problem = p->problem != NULL ? p->problem : "syntax error";

    if (p->error == YAML_MEMORY_ERROR) {
        aa_diag_set(ld->diag, ld->name, 0, 0, "out of memory");
        return AA_ENOMEM;
    }
    if (p->context != NULL) {
        /* An unquoted "warning: > 50ms" is a YAML block scalar. */
        bool block = strstr(p->context, "block scalar") != NULL;

        return error_mark(ld, p->problem_mark, "invalid YAML: %s: %s%s",
                          p->context, problem,
                          block ? " (quote thresholds such as \"> 50ms\": "
                                  "an unquoted '>' starts a folded block)"
                                : "");
    }
    return error_mark(ld, p->problem_mark, "invalid YAML: %s", problem);
}

/*
 * Builds the tree of the single document in the stream.  *root is NULL for
 * an empty stream.  Aliases, a second document, too deep nesting and too
 * many nodes are errors.
 */
static int build_tree(loader *ld, yaml_parser_t *p, node **root)
{
    node *stack[MAX_DEPTH];
    size_t depth = 0;
    int ndocs = 0, rc = AA_OK;
    bool done = false;

    *root = NULL;
    while (!done) {
        yaml_event_t ev;
        node *n = NULL;

        if (!yaml_parser_parse(p, &ev)) {
            rc = yaml_error(ld, p);
            goto out;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1) {
                rc = error_mark(ld, ev.start_mark,
                                "a rule file holds a single YAML document");
            }
            break;
        case YAML_ALIAS_EVENT:
            rc = error_mark(ld, ev.start_mark,
                            "YAML aliases (*%s) are not supported in rule "
                            "files",
                            (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            rc = scalar_new(ld, &ev, &n);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth >= MAX_DEPTH) {
                rc = error_mark(ld, ev.start_mark, "YAML nested too deeply");
                break;
            }
            rc = node_new(ld,
                          ev.type == YAML_SEQUENCE_START_EVENT ? N_SEQ : N_MAP,
                          &ev.start_mark, &n);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth == 0) {
                rc = error_mark(ld, ev.start_mark, "invalid YAML structure");
                break;
            }
            depth--;
            break;
        default:
            break;
        }
        if (n != NULL) {
            if (depth > 0) {
                rc = node_add(stack[depth - 1], n);
            } else if (*root == NULL) {
                *root = n;
            } else {
                rc = error_node(ld, n, "unexpected YAML node");
            }
            if (rc != AA_OK) {
                node_free(n);
            } else if (n->kind != N_SCALAR) {
                stack[depth++] = n;
            }
        }
        yaml_event_delete(&ev);
        if (rc != AA_OK) {
            goto out;
        }
    }
out:
    if (rc != AA_OK) {
        node_free(*root);
        *root = NULL;
    }
    return rc;
}

/* ---- scalar helpers -------------------------------------------------- */

static bool is_null(const node *n)
{
    return n->kind == N_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->value, "~") == 0 ||
            strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0 ||
            strcmp(n->value, "NULL") == 0);
}

static const char *kind_name(const node *n)
{
    switch (n->kind) {
    case N_SCALAR:
        return is_null(n) ? "an empty value" : "a scalar";
    case N_SEQ:
        return "a list";
    case N_MAP:
        return "a mapping";
    }
    return "?";
}

/* A non-empty string scalar without NUL bytes. */
static int want_string(loader *ld, const node *n, const char *key,
                       const char **out)
{
    *out = NULL;
    if (n->kind != N_SCALAR || is_null(n)) {
        return error_node(ld, n, "\"%s\" must be a non-empty string, not %s",
                          key, kind_name(n));
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

static int dup_string(loader *ld, const node *n, const char *key, char **out)
{
    const char *s;
    int rc = want_string(ld, n, key, &s);

    if (rc != AA_OK) {
        return rc;
    }
    *out = aa_strdup(s);
    return *out == NULL ? AA_ENOMEM : AA_OK;
}

static int want_duration(loader *ld, const node *n, const char *key,
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

/* Checks that map n has no duplicate keys and only scalar keys. */
static int check_keys(loader *ld, const node *n, const char *where,
                      const char *const *allowed, const char *allowed_text)
{
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
        const node *k = n->kids[i];
        bool ok = false;

        if (k->kind != N_SCALAR) {
            return error_node(ld, k, "%s: keys must be strings, not %s", where,
                              kind_name(k));
        }
        for (size_t j = 0; allowed[j] != NULL; j++) {
            if (strcmp(k->value, allowed[j]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            return error_node(ld, k,
                              "%s: unknown key \"%s\" (expected one of: %s)",
                              where, k->value, allowed_text);
        }
        for (size_t j = 0; j < i; j += 2) {
            if (strcmp(n->kids[j]->value, k->value) == 0) {
                return error_node(ld, k, "%s: duplicate key \"%s\"", where,
                                  k->value);
            }
        }
    }
    return AA_OK;
}

/* The value of key in map n (and its key node in *keynode), or NULL. */
static const node *map_get(const node *n, const char *key,
                           const node **keynode)
{
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
        if (n->kids[i]->kind == N_SCALAR &&
            strcmp(n->kids[i]->value, key) == 0) {
            if (keynode != NULL) {
                *keynode = n->kids[i];
            }
            return n->kids[i + 1];
        }
    }
    return NULL;
}

/* ---- metric types, stats --------------------------------------------- */

static const struct {
    const char *name;
    aa_metric_type type;
} known_metrics[] = {
    {"python_asyncio_loop_lag_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_loop_busy_seconds_total", AA_TYPE_COUNTER},
    {"python_asyncio_loop_iterations_total", AA_TYPE_COUNTER},
    {"python_asyncio_loop_block_duration_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_loop_current_block_seconds", AA_TYPE_GAUGE},
    {"python_asyncio_block_site_seconds_total", AA_TYPE_COUNTER},
    {"python_asyncio_loop_ready_callbacks", AA_TYPE_GAUGE},
    {"python_asyncio_tasks", AA_TYPE_GAUGE},
    {"python_asyncio_tasks_created_total", AA_TYPE_COUNTER},
    {"python_asyncio_executor_pending", AA_TYPE_GAUGE},
    {"python_asyncio_executor_busy_workers", AA_TYPE_GAUGE},
    {"python_asyncio_executor_max_workers", AA_TYPE_GAUGE},
    {"python_asyncio_executor_wait_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_executor_run_seconds", AA_TYPE_HISTOGRAM},
    {"http_server_active_requests", AA_TYPE_GAUGE},
    {"http_server_request_duration_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_probe_info", AA_TYPE_GAUGE},
};

aa_metric_type aa_known_metric_type(const char *metric)
{
    if (metric == NULL) {
        return AA_TYPE_UNKNOWN;
    }
    for (size_t i = 0; i < sizeof(known_metrics) / sizeof(known_metrics[0]);
         i++) {
        if (strcmp(known_metrics[i].name, metric) == 0) {
            return known_metrics[i].type;
        }
    }
    return AA_TYPE_UNKNOWN;
}

static const char *type_name(aa_metric_type t)
{
    switch (t) {
    case AA_TYPE_COUNTER:
        return "counter";
    case AA_TYPE_GAUGE:
        return "gauge";
    case AA_TYPE_HISTOGRAM:
        return "histogram";
    case AA_TYPE_UNKNOWN:
        break;
    }
    return "unknown";
}

/* "p99", "p99.9", "p5": 0 < NN < 100, at most 2 integer digits. */
static bool parse_quantile(const char *s, double *q)
{
    char num[32];
    size_t i = 1, id = 0, fd = 0;

    if (s[0] != 'p') {
        return false;
    }
    while (s[i] >= '0' && s[i] <= '9') {
        i++;
        id++;
    }
    if (id == 0 || id > 2) {
        return false;
    }
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
            fd++;
        }
        if (fd == 0) {
            return false;
        }
    }
    if (s[i] != '\0' || fd > 12) {
        return false;
    }
    /* "0." + integer digits padded to two + fraction digits: exact
     * decimal shift, so p99.9 is 0.999 and not 0.9990000000000001. */
    snprintf(num, sizeof(num), "0.%s%.*s%s", id == 1 ? "0" : "", (int)id,
             s + 1, fd > 0 ? s + 2 + id : "");
    *q = strtod(num, NULL);
    return *q > 0.0 && *q < 1.0;
}

typedef struct name_value {
    const char *name;
    int value;
} name_value;

static const name_value type_names[] = {{"counter", AA_TYPE_COUNTER},
                                        {"gauge", AA_TYPE_GAUGE},
                                        {"histogram", AA_TYPE_HISTOGRAM},
                                        {NULL, 0}};

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

static const name_value stat_names[] = {
    {"avg", AA_STAT_AVG},           {"rate", AA_STAT_RATE},
    {"increase", AA_STAT_INCREASE}, {"sum_rate", AA_STAT_SUM_RATE},
    {"max", AA_STAT_MAX},           {"min", AA_STAT_MIN},
    {"last", AA_STAT_LAST},         {"delta", AA_STAT_DELTA},
    {"slope", AA_STAT_SLOPE},       {NULL, 0}};

static bool parse_stat(const char *s, aa_stat *stat, double *q)
{
    int value;

    *q = 0.0;
    if (lookup(s, stat_names, &value)) {
        *stat = (aa_stat)value;
        return true;
    }
    if (parse_quantile(s, q)) {
        *stat = AA_STAT_QUANTILE;
        return true;
    }
    return false;
}

static aa_metric_type infer_type(aa_stat stat)
{
    switch (stat) {
    case AA_STAT_QUANTILE:
    case AA_STAT_SUM_RATE:
        return AA_TYPE_HISTOGRAM;
    case AA_STAT_RATE:
    case AA_STAT_INCREASE:
        return AA_TYPE_COUNTER;
    default:
        return AA_TYPE_GAUGE;
    }
}

static bool stat_fits(aa_stat stat, aa_metric_type t)
{
    switch (stat) {
    case AA_STAT_QUANTILE:
    case AA_STAT_SUM_RATE:
        return t == AA_TYPE_HISTOGRAM;
    case AA_STAT_AVG:
        return t == AA_TYPE_HISTOGRAM || t == AA_TYPE_GAUGE;
    case AA_STAT_RATE:
    case AA_STAT_INCREASE:
        return t == AA_TYPE_COUNTER || t == AA_TYPE_HISTOGRAM;
    case AA_STAT_MAX:
    case AA_STAT_MIN:
    case AA_STAT_LAST:
    case AA_STAT_DELTA:
    case AA_STAT_SLOPE:
        return t == AA_TYPE_GAUGE;
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
    "id",    "finding", "description", "metric",   "stat", "type",    "by",
    "where", "query",   "warning",     "critical", "for",  "no_data", NULL};
static const char rule_keys_text[] =
    "id, finding, description, metric, stat, type, by, where, query, "
    "warning, critical, for, no_data";

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
    memset(r, 0, sizeof(*r));
}

static int load_by(loader *ld, const node *v, aa_rule *r, const char *rname)
{
    const node *const *items = &v;
    size_t nitems = 1;

    if (v->kind == N_SEQ) {
        items = (const node *const *)v->kids;
        nitems = v->nkids;
    } else if (v->kind != N_SCALAR || is_null(v)) {
        return error_node(ld, v,
                          "rule \"%s\": \"by\" must be a list of label "
                          "names, not %s",
                          rname, kind_name(v));
    }
    if (nitems == 0) {
        return AA_OK;
    }
    r->by = calloc(nitems, sizeof(*r->by));
    if (r->by == NULL) {
        return AA_ENOMEM;
    }
    for (size_t i = 0; i < nitems; i++) {
        const node *it = items[i];

        if (it->kind != N_SCALAR || is_null(it) ||
            strlen(it->value) != it->len || !valid_name(it->value, false)) {
            return error_node(ld, it,
                              "rule \"%s\": \"by\": \"%s\" is not a label "
                              "name ([a-zA-Z_][a-zA-Z0-9_]*)",
                              rname, it->kind == N_SCALAR ? it->value : "");
        }
        for (size_t j = 0; j < r->nby; j++) {
            if (strcmp(r->by[j], it->value) == 0) {
                return error_node(ld, it,
                                  "rule \"%s\": \"by\": label \"%s\" is "
                                  "listed twice",
                                  rname, it->value);
            }
        }
        r->by[r->nby] = aa_strdup(it->value);
        if (r->by[r->nby] == NULL) {
            return AA_ENOMEM;
        }
        r->nby++;
    }
    return AA_OK;
}

static int load_threshold(loader *ld, const node *v, const char *key,
                          const char *rname, aa_threshold *t)
{
    if (v->kind != N_SCALAR || is_null(v) || strlen(v->value) != v->len ||
        aa_threshold_parse(v->value, t) != AA_OK) {
        return error_node(ld, v,
                          "rule \"%s\": \"%s\": invalid threshold \"%s\" "
                          "(expected OP VALUE[UNIT], OP one of > >= < <= == "
                          "!=, UNIT ms, s or %%, e.g. \"> 250ms\"; quote it "
                          "in YAML)",
                          rname, key, v->kind == N_SCALAR ? v->value : "");
    }
    return AA_OK;
}

static int load_where(loader *ld, const node *v, aa_rule *r, const char *rname)
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
static int load_rule(loader *ld, const node *m, size_t index, aa_rule *r)
{
    const node *v, *k = NULL;
    const node *stat_node = NULL, *type_node = NULL;
    char rname[MAX_ID_LEN + 32];
    const char *s;
    bool has_type = false;
    int rc, value;

    r->line = m->line;
    r->column = m->column;
    r->no_data = AA_NODATA_UNKNOWN;
    snprintf(rname, sizeof(rname), "#%zu", index + 1);
    if (m->kind != N_MAP) {
        return error_node(ld, m, "rule %s must be a mapping, not %s", rname,
                          kind_name(m));
    }
    /* The id first, so that later messages can name the rule. */
    v = map_get(m, "id", NULL);
    if (v != NULL && v->kind == N_SCALAR && !is_null(v) &&
        strlen(v->value) == v->len && v->len <= MAX_ID_LEN) {
        snprintf(rname, sizeof(rname), "%s", v->value);
    }
    {
        char where[MAX_ID_LEN + 40];

        snprintf(where, sizeof(where), "rule \"%s\"", rname);
        rc = check_keys(ld, m, where, rule_keys, rule_keys_text);
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
    v = map_get(m, "finding", NULL);
    if (v == NULL) {
        return error_node(ld, m, "rule \"%s\": missing \"finding\"", rname);
    }
    rc = dup_string(ld, v, "finding", &r->finding);
    if (rc != AA_OK) {
        return rc;
    }
    if ((v = map_get(m, "description", NULL)) != NULL) {
        rc = dup_string(ld, v, "description", &r->description);
        if (rc != AA_OK) {
            return rc;
        }
    }
    if ((v = map_get(m, "metric", NULL)) != NULL) {
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
    if ((v = map_get(m, "query", &k)) != NULL) {
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
    stat_node = map_get(m, "stat", &k);
    if (r->query != NULL) {
        static const char *const structured[] = {"stat", "type", "by", "where",
                                                 NULL};

        for (size_t i = 0; structured[i] != NULL; i++) {
            if (map_get(m, structured[i], &k) != NULL) {
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
            !parse_stat(s, &r->stat, &r->quantile)) {
            return error_node(ld, stat_node,
                              "rule \"%s\": unknown stat \"%s\" (expected "
                              "pNN such as p99 or p99.9, avg, rate, "
                              "increase, sum_rate, max, min, last, delta or "
                              "slope)",
                              rname, s);
        }
        snprintf(r->stat_text, sizeof(r->stat_text), "%s", s);
        if ((type_node = map_get(m, "type", NULL)) != NULL) {
            rc = want_string(ld, type_node, "type", &s);
            if (rc != AA_OK) {
                return rc;
            }
            if (!lookup(s, type_names, &value)) {
                return error_node(ld, type_node,
                                  "rule \"%s\": unknown type \"%s\" "
                                  "(expected counter, gauge or histogram)",
                                  rname, s);
            }
            r->type = (aa_metric_type)value;
            has_type = true;
        } else {
            r->type = aa_known_metric_type(r->metric);
            if (r->type == AA_TYPE_UNKNOWN) {
                r->type = infer_type(r->stat);
            }
        }
        if (!stat_fits(r->stat, r->type)) {
            return error_node(ld, stat_node,
                              "rule \"%s\": stat \"%s\" does not apply to "
                              "%s, a %s%s",
                              rname, r->stat_text, r->metric,
                              type_name(r->type),
                              has_type ? " (as its \"type\" says)" : "");
        }
        if ((v = map_get(m, "by", NULL)) != NULL) {
            rc = load_by(ld, v, r, rname);
            if (rc != AA_OK) {
                return rc;
            }
            for (size_t i = 0; i < r->nby; i++) {
                if (r->stat == AA_STAT_QUANTILE &&
                    strcmp(r->by[i], "le") == 0) {
                    return error_node(ld, v,
                                      "rule \"%s\": \"by\": \"le\" is "
                                      "always kept for a quantile; remove it",
                                      rname);
                }
            }
        }
        if ((v = map_get(m, "where", NULL)) != NULL) {
            rc = load_where(ld, v, r, rname);
            if (rc != AA_OK) {
                return rc;
            }
        }
    }
    if ((v = map_get(m, "warning", NULL)) != NULL) {
        rc = load_threshold(ld, v, "warning", rname, &r->warning);
        if (rc != AA_OK) {
            return rc;
        }
    }
    if ((v = map_get(m, "critical", NULL)) != NULL) {
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
    if ((v = map_get(m, "for", NULL)) != NULL) {
        rc = want_duration(ld, v, "for", &r->for_ms);
        if (rc != AA_OK) {
            return rc;
        }
    }
    if ((v = map_get(m, "no_data", NULL)) != NULL) {
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
static int load_root(loader *ld, const node *root, aa_ruleset *rs)
{
    const node *v, *k = NULL;
    int rc;

    if (root == NULL) {
        aa_diag_set(ld->diag, ld->name, 0, 0,
                    "the rule file is empty (expected version, window and "
                    "rules)");
        return AA_ESYNTAX;
    }
    if (root->kind != N_MAP) {
        return error_node(ld, root,
                          "the rule file must be a mapping with version, "
                          "window and rules, not %s",
                          kind_name(root));
    }
    rc = check_keys(ld, root, "rule file", top_keys, "version, window, rules");
    if (rc != AA_OK) {
        return rc;
    }
    v = map_get(root, "version", &k);
    if (v == NULL) {
        return error_node(ld, root, "missing \"version: 1\"");
    }
    if (v->kind != N_SCALAR || strcmp(v->value, "1") != 0) {
        return error_node(ld, v,
                          "unsupported version \"%s\" (this auditor reads "
                          "version 1)",
                          v->kind == N_SCALAR ? v->value : "");
    }
    rs->version = 1;
    if ((v = map_get(root, "window", NULL)) != NULL) {
        rc = want_duration(ld, v, "window", &rs->window_ms);
        if (rc != AA_OK) {
            return rc;
        }
        if (rs->window_ms <= 0) {
            return error_node(ld, v, "\"window\" must be longer than 0s");
        }
    }
    v = map_get(root, "rules", &k);
    if (v == NULL) {
        return error_node(ld, root, "missing \"rules\"");
    }
    if (v->kind != N_SEQ) {
        return error_node(ld, v, "\"rules\" must be a list, not %s",
                          kind_name(v));
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
                const node *idn = map_get(v->kids[i], "id", NULL);

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
    yaml_parser_t parser;
    loader ld;
    node *root = NULL;
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
    ld.nodes = 0;
    if (!yaml_parser_initialize(&parser)) {
        return AA_ENOMEM;
    }
    yaml_parser_set_input_string(
        &parser, (const unsigned char *)(data != NULL ? data : ""), len);
    rc = build_tree(&ld, &parser, &root);
    yaml_parser_delete(&parser);
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
    node_free(root);
    if (rc != AA_OK) {
        aa_ruleset_free(rs);
        return rc;
    }
    *out = rs;
    return AA_OK;
}

int aa_ruleset_load_file(const char *path, aa_ruleset **out, aa_diag *diag)
{
    aat_buf b;
    FILE *f;
    char chunk[65536];
    size_t n;
    int rc = AA_OK;

    if (out != NULL) {
        *out = NULL;
    }
    if (path == NULL || out == NULL) {
        return AA_EINVAL;
    }
    aa_diag_clear(diag);
    f = fopen(path, "rb");
    if (f == NULL) {
        aa_diag_set(diag, path, 0, 0, "cannot open the rule file: %s",
                    strerror(errno));
        return AA_EIO;
    }
    aat_buf_init(&b, AA_RULES_MAX_BYTES);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = aat_buf_append(&b, chunk, n);
        if (rc == AA_ETOOBIG) {
            aa_diag_set(diag, path, 0, 0,
                        "the rule file is larger than %zu bytes",
                        AA_RULES_MAX_BYTES);
            goto out;
        }
        if (rc != AA_OK) {
            goto out;
        }
    }
    if (ferror(f)) {
        aa_diag_set(diag, path, 0, 0, "cannot read the rule file: %s",
                    strerror(errno));
        rc = AA_EIO;
        goto out;
    }
    rc = aa_ruleset_load_buffer(path, b.data != NULL ? b.data : "", b.len, out,
                                diag);
out:
    fclose(f);
    aat_buf_release(&b);
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
