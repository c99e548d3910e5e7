/*
 * series.h: labels, instant vectors and range matrices; the data model that
 * both the Prometheus API client and the local evaluator produce, and that
 * the judge consumes.  Ownership: a vector or matrix owns all its strings.
 */
#ifndef AA_SERIES_H
#define AA_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct aa_label {
    char *name;
    char *value;
} aa_label;

/* A label set, kept sorted by name, names unique. */
typedef struct aa_labels {
    aa_label *v;
    size_t n;
} aa_labels;

int aa_labels_add(aa_labels *ls, const char *name, const char *value);
const char *aa_labels_get(const aa_labels *ls, const char *name);
int aa_labels_copy(aa_labels *dst, const aa_labels *src);
int aa_labels_cmp(const aa_labels *a, const aa_labels *b);
void aa_labels_clear(aa_labels *ls);
/* '{a="x", b="y"}' with Prometheus escaping into buf; returns buf. */
char *aa_labels_format(const aa_labels *ls, char *buf, size_t size);

/* The escaper of the text formats is aat_escape() (aat.h). */

typedef struct aa_sample {
    aa_labels labels;
    double value;
} aa_sample;

typedef struct aa_vector {
    aa_sample *v;
    size_t n;
} aa_vector;

typedef struct aa_point {
    int64_t t_ms;
    double v;
} aa_point;

typedef struct aa_range_series {
    aa_labels labels;
    aa_point *pts;
    size_t n;
} aa_range_series;

typedef struct aa_matrix {
    aa_range_series *v;
    size_t n;
} aa_matrix;

/* Append a sample (labels are copied). */
int aa_vector_push(aa_vector *vec, const aa_labels *labels, double value);
void aa_vector_clear(aa_vector *vec);
/* Append a series (labels copied, no points yet); *out is the new series. */
int aa_matrix_push(aa_matrix *m, const aa_labels *labels,
                   aa_range_series **out);
int aa_range_series_push(aa_range_series *s, int64_t t_ms, double v);
void aa_matrix_clear(aa_matrix *m);

#endif
