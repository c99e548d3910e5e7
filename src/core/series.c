/*
 * series.c: label sets, instant vectors and range matrices.  Both data
 * sources (the Prometheus API client and the local evaluator) build these,
 * and the judge reads them, so they live in one small module with no
 * knowledge of either side.
 *
 * The structs carry no capacity field; arrays grow geometrically and the
 * capacity is derived from the element count (grow_cap below), so a push
 * reallocates only when n reaches a power of two.
 */
#include "aa/series.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/common.h"

/*
 * Makes room for one more element in *arr holding n elements of size sz.
 * The capacity of an array of n > 0 elements is max(4, next power of two
 * >= n); reallocation happens only when n equals that capacity.  Returns
 * AA_ENOMEM with *arr untouched on failure.
 */
static int grow(void **arr, size_t n, size_t sz)
{
    size_t cap;
    void *p;

    if (n == 0) {
        cap = 4;
    } else if (n < 4 || (n & (n - 1)) != 0) {
        return AA_OK;
    } else {
        if (n > SIZE_MAX / 2 / sz) {
            return AA_ENOMEM;
        }
        cap = n * 2;
    }
    p = realloc(*arr, cap * sz);
    if (p == NULL) {
        return AA_ENOMEM;
    }
    *arr = p;
    return AA_OK;
}

/* ---- labels ------------------------------------------------------------- */

/*
 * Inserts name=value keeping the set sorted by name.  An existing name has
 * its value replaced.  On failure the set is unchanged.
 */
int aa_labels_add(aa_labels *ls, const char *name, const char *value)
{
    size_t lo = 0, hi, i;
    char *n, *v;
    void *arr;
    int rc;

    if (ls == NULL || name == NULL || value == NULL) {
        return AA_EINVAL;
    }
    hi = ls->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ls->v[mid].name, name);

        if (c == 0) {
            v = aa_strdup(value);
            if (v == NULL) {
                return AA_ENOMEM;
            }
            free(ls->v[mid].value);
            ls->v[mid].value = v;
            return AA_OK;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    n = aa_strdup(name);
    v = aa_strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return AA_ENOMEM;
    }
    arr = ls->v;
    rc = grow(&arr, ls->n, sizeof(aa_label));
    if (rc != AA_OK) {
        free(n);
        free(v);
        return rc;
    }
    ls->v = arr;
    for (i = ls->n; i > lo; i--) {
        ls->v[i] = ls->v[i - 1];
    }
    ls->v[lo].name = n;
    ls->v[lo].value = v;
    ls->n++;
    return AA_OK;
}

const char *aa_labels_get(const aa_labels *ls, const char *name)
{
    size_t lo = 0, hi;

    if (ls == NULL || name == NULL) {
        return NULL;
    }
    hi = ls->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ls->v[mid].name, name);

        if (c == 0) {
            return ls->v[mid].value;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* dst must be empty (zeroed); on failure it is left empty. */
int aa_labels_copy(aa_labels *dst, const aa_labels *src)
{
    size_t i;

    if (dst == NULL) {
        return AA_EINVAL;
    }
    dst->v = NULL;
    dst->n = 0;
    if (src == NULL || src->n == 0) {
        return AA_OK;
    }
    dst->v = calloc(src->n < 4 ? 4 : src->n * 2, sizeof(aa_label));
    if (dst->v == NULL) {
        return AA_ENOMEM;
    }
    for (i = 0; i < src->n; i++) {
        dst->v[i].name = aa_strdup(src->v[i].name);
        dst->v[i].value = aa_strdup(src->v[i].value);
        dst->n = i + 1;
        if (dst->v[i].name == NULL || dst->v[i].value == NULL) {
            aa_labels_clear(dst);
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

/* Lexicographic over the sorted (name, value) pairs; a prefix sorts first.
 * NULL equals the empty set. */
int aa_labels_cmp(const aa_labels *a, const aa_labels *b)
{
    size_t na = a != NULL ? a->n : 0, nb = b != NULL ? b->n : 0;
    size_t i;

    for (i = 0; i < na && i < nb; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);

        if (c != 0) {
            return c < 0 ? -1 : 1;
        }
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c != 0) {
            return c < 0 ? -1 : 1;
        }
    }
    if (na == nb) {
        return 0;
    }
    return na < nb ? -1 : 1;
}

void aa_labels_clear(aa_labels *ls)
{
    size_t i;

    if (ls == NULL) {
        return;
    }
    for (i = 0; i < ls->n; i++) {
        free(ls->v[i].name);
        free(ls->v[i].value);
    }
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}

/* Bounded appender for aa_labels_format: silently truncates. */
typedef struct fmt_out {
    char *buf;
    size_t size, len;
} fmt_out;

static void put(fmt_out *o, const char *s, size_t n)
{
    size_t room;

    if (o->size == 0 || o->len >= o->size - 1) {
        return;
    }
    room = o->size - 1 - o->len;
    if (n > room) {
        n = room;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static int put_piece(void *ctx, const char *piece, size_t len)
{
    put(ctx, piece, len);
    return 0;
}

/*
 * '{a="x", b="y"}' (or "{}" for the empty set) with the value escaping of
 * the Prometheus text format.  Output longer than size is truncated; buf is
 * always NUL-terminated when size > 0.
 */
char *aa_labels_format(const aa_labels *ls, char *buf, size_t size)
{
    fmt_out o = {buf, size, 0};
    size_t i;

    if (size > 0) {
        buf[0] = '\0';
    }
    put(&o, "{", 1);
    for (i = 0; ls != NULL && i < ls->n; i++) {
        if (i > 0) {
            put(&o, ", ", 2);
        }
        put(&o, ls->v[i].name, strlen(ls->v[i].name));
        put(&o, "=\"", 2);
        aat_escape(ls->v[i].value, true, put_piece, &o);
        put(&o, "\"", 1);
    }
    put(&o, "}", 1);
    return buf;
}

/* ---- vectors and matrices ----------------------------------------------- */

int aa_vector_push(aa_vector *vec, const aa_labels *labels, double value)
{
    aa_labels copy;
    void *arr;
    int rc;

    if (vec == NULL) {
        return AA_EINVAL;
    }
    rc = aa_labels_copy(&copy, labels);
    if (rc != AA_OK) {
        return rc;
    }
    arr = vec->v;
    rc = grow(&arr, vec->n, sizeof(aa_sample));
    if (rc != AA_OK) {
        aa_labels_clear(&copy);
        return rc;
    }
    vec->v = arr;
    vec->v[vec->n].labels = copy;
    vec->v[vec->n].value = value;
    vec->n++;
    return AA_OK;
}

void aa_vector_clear(aa_vector *vec)
{
    size_t i;

    if (vec == NULL) {
        return;
    }
    for (i = 0; i < vec->n; i++) {
        aa_labels_clear(&vec->v[i].labels);
    }
    free(vec->v);
    vec->v = NULL;
    vec->n = 0;
}

/*
 * *out points into m's array and stays valid only until the next
 * aa_matrix_push on m (which may move the array).
 */
int aa_matrix_push(aa_matrix *m, const aa_labels *labels,
                   aa_range_series **out)
{
    aa_labels copy;
    aa_range_series *s;
    void *arr;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (m == NULL) {
        return AA_EINVAL;
    }
    rc = aa_labels_copy(&copy, labels);
    if (rc != AA_OK) {
        return rc;
    }
    arr = m->v;
    rc = grow(&arr, m->n, sizeof(aa_range_series));
    if (rc != AA_OK) {
        aa_labels_clear(&copy);
        return rc;
    }
    m->v = arr;
    s = &m->v[m->n];
    s->labels = copy;
    s->pts = NULL;
    s->n = 0;
    m->n++;
    if (out != NULL) {
        *out = s;
    }
    return AA_OK;
}

int aa_range_series_push(aa_range_series *s, int64_t t_ms, double v)
{
    void *arr;
    int rc;

    if (s == NULL) {
        return AA_EINVAL;
    }
    arr = s->pts;
    rc = grow(&arr, s->n, sizeof(aa_point));
    if (rc != AA_OK) {
        return rc;
    }
    s->pts = arr;
    s->pts[s->n].t_ms = t_ms;
    s->pts[s->n].v = v;
    s->n++;
    return AA_OK;
}

void aa_matrix_clear(aa_matrix *m)
{
    size_t i;

    if (m == NULL) {
        return;
    }
    for (i = 0; i < m->n; i++) {
        aa_labels_clear(&m->v[i].labels);
        free(m->v[i].pts);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}
