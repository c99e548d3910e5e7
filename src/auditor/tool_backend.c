/*
 * tool_backend.c: the backend handle (an ops table over an
 * implementation's state) and the answer helpers both implementations
 * share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_backend.h"

struct tool_backend {
    const tool_backend_ops *ops;
    void *impl;
};

int tool_backend_new(const tool_backend_ops *ops, void *impl,
                     tool_backend **out)
{
    tool_backend *b = calloc(1, sizeof(*b));

    *out = NULL;
    if (b == NULL) {
        ops->free(impl);
        return AA_ENOMEM;
    }
    b->ops = ops;
    b->impl = impl;
    *out = b;
    return AA_OK;
}

void tool_backend_free(tool_backend *b)
{
    if (b == NULL) {
        return;
    }
    b->ops->free(b->impl);
    free(b);
}

int tool_backend_submit(tool_backend *b, const tool_query *q, tool_answer *a)
{
    a->status = TOOL_A_PENDING;
    return b->ops->submit(b->impl, q, a);
}

int tool_backend_run(tool_backend *b)
{
    return b->ops->run(b->impl);
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

void tool_answer_clear(tool_answer *a)
{
    if (a == NULL) {
        return;
    }
    free(a->message);
    free(a->query);
    aa_vector_clear(&a->vector);
    aa_matrix_clear(&a->matrix);
    for (size_t i = 0; i < a->nsets; i++) {
        aa_labels_clear(&a->sets[i]);
    }
    free(a->sets);
    free(a->source);
    free_strings(a->warnings, a->nwarnings);
    free_strings(a->infos, a->ninfos);
    memset(a, 0, sizeof(*a));
}

int tool_answer_message(tool_answer *a, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = tool_vset_text(&a->message, fmt, ap);
    va_end(ap);
    return rc;
}

int tool_answer_note(char ***v, size_t *n, const char *text)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

    if (nv == NULL) {
        return AA_ENOMEM;
    }
    *v = nv;
    nv[*n] = aa_strdup(text);
    if (nv[*n] == NULL) {
        return AA_ENOMEM;
    }
    (*n)++;
    return AA_OK;
}
