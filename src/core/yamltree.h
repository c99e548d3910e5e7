/*
 * yamltree.h: a small YAML node tree with positions, built from libyaml's
 * event parser, for the rule loader (rules.c).  Internal to the core
 * library; not installed.
 *
 * The tree is built here rather than with libyaml's document loader so
 * that everything a hostile file could abuse is under the loader's
 * control: aliases and second documents are refused, nesting depth and
 * node count are bounded.  Every error carries file:line:column (1-based)
 * in an aa_diag, with control characters of the input replaced by '?'
 * so that a message cannot reach the user's terminal as an escape.
 */
#ifndef AA_YAMLTREE_H
#define AA_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "aa/common.h"

/* Deepest nesting of sequences and mappings accepted. */
#define AA_YAML_MAX_DEPTH 32
/* Most nodes one document may have. */
#define AA_YAML_MAX_NODES 200000

typedef enum aa_yaml_kind {
    AA_YAML_SCALAR,
    AA_YAML_SEQ,
    AA_YAML_MAP
} aa_yaml_kind;

typedef struct aa_yaml_node {
    aa_yaml_kind kind;
    unsigned line, column;      /* 1-based */
    char *value;                /* scalar text (NUL-terminated) */
    size_t len;                 /* scalar length (a NUL inside makes it longer
                                   than strlen(value)) */
    bool plain;                 /* scalar written without quotes */
    bool quoted;                /* single- or double-quoted */
    struct aa_yaml_node **kids; /* seq: items; map: key, value, key, ... */
    size_t nkids;
} aa_yaml_node;

/*
 * Parses data[0..len) (one YAML document) into *root; *root is NULL for
 * an empty stream.  name is the file name used in diagnostics.  Invalid
 * YAML, aliases, a second document, nesting deeper than
 * AA_YAML_MAX_DEPTH and more than AA_YAML_MAX_NODES nodes are
 * AA_ESYNTAX with the position in diag; AA_ENOMEM.
 */
int aa_yaml_parse(const char *name, const char *data, size_t len,
                  aa_yaml_node **root, aa_diag *diag);

void aa_yaml_free(aa_yaml_node *n);

/*
 * Sets diag to "file:line:column: message" (line/column 1-based, 0 for
 * unknown), control characters in the message replaced by '?', and
 * returns AA_ESYNTAX.
 */
int aa_yaml_error(aa_diag *diag, const char *file, unsigned line,
                  unsigned column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* A plain scalar YAML reads as null: empty, "~", "null", "Null", "NULL". */
bool aa_yaml_is_null(const aa_yaml_node *n);

/* For messages: "a scalar", "an empty value", "a list", "a mapping". */
const char *aa_yaml_kind_name(const aa_yaml_node *n);

/* The value of key in mapping n (and its key node in *keynode when not
 * NULL), or NULL. */
const aa_yaml_node *aa_yaml_map_get(const aa_yaml_node *n, const char *key,
                                    const aa_yaml_node **keynode);

/*
 * Checks that every key of mapping n is a scalar listed in allowed
 * (NULL-terminated) and that none repeats.  AA_ESYNTAX at the offending
 * key, worded "<where>: unknown key "k" (expected one of:
 * <allowed_text>)", "<where>: duplicate key "k"" or "<where>: keys must
 * be strings, not <kind>".
 */
int aa_yaml_check_keys(const aa_yaml_node *n, const char *where,
                       const char *const *allowed, const char *allowed_text,
                       const char *file, aa_diag *diag);

#endif
