/*
 * yamltree.c: libyaml events -> a node tree with positions (yamltree.h).
 * The rule loader validates this tree; keeping the YAML mechanics here
 * leaves rules.c with the rule semantics only.
 */
#include "yamltree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

typedef struct builder {
    const char *name;
    aa_diag *diag;
    size_t nodes;
} builder;

void aa_yaml_free(aa_yaml_node *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->nkids; i++) {
        aa_yaml_free(n->kids[i]);
    }
    free(n->kids);
    free(n->value);
    free(n);
}

static int node_add(aa_yaml_node *parent, aa_yaml_node *kid)
{
    aa_yaml_node **k = realloc(parent->kids, (parent->nkids + 1) * sizeof(*k));

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

int aa_yaml_error(aa_diag *diag, const char *file, unsigned line,
                  unsigned column, const char *fmt, ...)
{
    char msg[sizeof(((aa_diag *)0)->message)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sanitize(msg);
    aa_diag_set(diag, file, line, column, "%s", msg);
    return AA_ESYNTAX;
}

/* aa_yaml_error() at a libyaml mark (0-based). */
#define error_mark(b, mark, ...)                                              \
    aa_yaml_error((b)->diag, (b)->name, (unsigned)(mark).line + 1,            \
                  (unsigned)(mark).column + 1, __VA_ARGS__)

/* A new node at mark, counted against AA_YAML_MAX_NODES (an error with
 * the position when exceeded). */
static int node_new(builder *b, aa_yaml_kind kind, const yaml_mark_t *mark,
                    aa_yaml_node **out)
{
    aa_yaml_node *n;

    *out = NULL;
    if (b->nodes >= AA_YAML_MAX_NODES) {
        return error_mark(b, *mark, "too many YAML nodes");
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return AA_ENOMEM;
    }
    b->nodes++;
    n->kind = kind;
    n->line = (unsigned)mark->line + 1;
    n->column = (unsigned)mark->column + 1;
    *out = n;
    return AA_OK;
}

static int scalar_new(builder *b, const yaml_event_t *ev, aa_yaml_node **out)
{
    yaml_scalar_style_t style = ev->data.scalar.style;
    aa_yaml_node *n;
    int rc = node_new(b, AA_YAML_SCALAR, &ev->start_mark, &n);

    *out = NULL;
    if (rc != AA_OK) {
        return rc;
    }
    n->len = ev->data.scalar.length;
    n->value = malloc(n->len + 1);
    if (n->value == NULL) {
        aa_yaml_free(n);
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

static int yaml_error(builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem != NULL ? p->problem : "syntax error";

    if (p->error == YAML_MEMORY_ERROR) {
        aa_diag_set(b->diag, b->name, 0, 0, "out of memory");
        return AA_ENOMEM;
    }
    if (p->context != NULL) {
        /* An unquoted "warning: > 50ms" is a YAML block scalar. */
        bool block = strstr(p->context, "block scalar") != NULL;

        return error_mark(b, p->problem_mark, "invalid YAML: %s: %s%s",
                          p->context, problem,
                          block ? " (quote thresholds such as \"> 50ms\": "
                                  "an unquoted '>' starts a folded block)"
                                : "");
    }
    return error_mark(b, p->problem_mark, "invalid YAML: %s", problem);
}

/*
 * Builds the tree of the single document in the stream.  *root is NULL for
 * an empty stream.  Aliases, a second document, too deep nesting and too
 * many nodes are errors.
 */
static int build_tree(builder *b, yaml_parser_t *p, aa_yaml_node **root)
{
    aa_yaml_node *stack[AA_YAML_MAX_DEPTH];
    size_t depth = 0;
    int ndocs = 0, rc = AA_OK;
    bool done = false;

    *root = NULL;
    while (!done) {
        yaml_event_t ev;
        aa_yaml_node *n = NULL;

        if (!yaml_parser_parse(p, &ev)) {
            rc = yaml_error(b, p);
            goto out;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1) {
                rc = error_mark(b, ev.start_mark,
                                "a rule file holds a single YAML document");
            }
            break;
        case YAML_ALIAS_EVENT:
            rc = error_mark(b, ev.start_mark,
                            "YAML aliases (*%s) are not supported in rule "
                            "files",
                            (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            rc = scalar_new(b, &ev, &n);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth >= AA_YAML_MAX_DEPTH) {
                rc = error_mark(b, ev.start_mark, "YAML nested too deeply");
                break;
            }
            rc = node_new(b,
                          ev.type == YAML_SEQUENCE_START_EVENT ? AA_YAML_SEQ
                                                               : AA_YAML_MAP,
                          &ev.start_mark, &n);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth == 0) {
                rc = error_mark(b, ev.start_mark, "invalid YAML structure");
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
                rc = aa_yaml_error(b->diag, b->name, n->line, n->column,
                                   "unexpected YAML node");
            }
            if (rc != AA_OK) {
                aa_yaml_free(n);
            } else if (n->kind != AA_YAML_SCALAR) {
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
        aa_yaml_free(*root);
        *root = NULL;
    }
    return rc;
}

int aa_yaml_parse(const char *name, const char *data, size_t len,
                  aa_yaml_node **root, aa_diag *diag)
{
    yaml_parser_t parser;
    builder b;
    int rc;

    *root = NULL;
    b.name = name;
    b.diag = diag;
    b.nodes = 0;
    if (!yaml_parser_initialize(&parser)) {
        return AA_ENOMEM;
    }
    yaml_parser_set_input_string(
        &parser, (const unsigned char *)(data != NULL ? data : ""), len);
    rc = build_tree(&b, &parser, root);
    yaml_parser_delete(&parser);
    return rc;
}

bool aa_yaml_is_null(const aa_yaml_node *n)
{
    return n->kind == AA_YAML_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->value, "~") == 0 ||
            strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0 ||
            strcmp(n->value, "NULL") == 0);
}

const char *aa_yaml_kind_name(const aa_yaml_node *n)
{
    switch (n->kind) {
    case AA_YAML_SCALAR:
        return aa_yaml_is_null(n) ? "an empty value" : "a scalar";
    case AA_YAML_SEQ:
        return "a list";
    case AA_YAML_MAP:
        return "a mapping";
    }
    return "?";
}

const aa_yaml_node *aa_yaml_map_get(const aa_yaml_node *n, const char *key,
                                    const aa_yaml_node **keynode)
{
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
        if (n->kids[i]->kind == AA_YAML_SCALAR &&
            strcmp(n->kids[i]->value, key) == 0) {
            if (keynode != NULL) {
                *keynode = n->kids[i];
            }
            return n->kids[i + 1];
        }
    }
    return NULL;
}

int aa_yaml_check_keys(const aa_yaml_node *n, const char *where,
                       const char *const *allowed, const char *allowed_text,
                       const char *file, aa_diag *diag)
{
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
        const aa_yaml_node *k = n->kids[i];
        bool ok = false;

        if (k->kind != AA_YAML_SCALAR) {
            return aa_yaml_error(diag, file, k->line, k->column,
                                 "%s: keys must be strings, not %s", where,
                                 aa_yaml_kind_name(k));
        }
        for (size_t j = 0; allowed[j] != NULL; j++) {
            if (strcmp(k->value, allowed[j]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            return aa_yaml_error(diag, file, k->line, k->column,
                                 "%s: unknown key \"%s\" (expected one of: "
                                 "%s)",
                                 where, k->value, allowed_text);
        }
        for (size_t j = 0; j < i; j += 2) {
            if (strcmp(n->kids[j]->value, k->value) == 0) {
                return aa_yaml_error(diag, file, k->line, k->column,
                                     "%s: duplicate key \"%s\"", where,
                                     k->value);
            }
        }
    }
    return AA_OK;
}
