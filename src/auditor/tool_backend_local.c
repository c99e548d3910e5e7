/*
 * tool_backend_local.c: the backend over the in-memory store of scrape
 * and samples mode.  Structured questions are evaluated with eval.c,
 * which follows the semantics of the PromQL that the Prometheus backend
 * would send for the same question, so both modes give the same numbers.
 * Everything is answered at submit; a run has nothing left to do.
 */
#include <stdlib.h>
#include <string.h>

#include "aa/eval.h"
#include "tool_backend.h"

typedef struct local {
    const aa_tsdb *db;
    int64_t interval_ms;
    const char *source;
} local;

/* An evaluation's failure into the answer: INVALID with the diag's
 * reason (a regex the matcher rejects, a stat that does not apply).
 * AA_ENOMEM passes through. */
static int eval_failed(const tool_query *q, tool_answer *a, int rc,
                       const aa_diag *diag)
{
    if (rc == AA_ENOMEM) {
        return rc;
    }
    a->status = TOOL_A_INVALID;
    return tool_answer_message(a, "rule %s: %s", q->rule->id,
                               diag->message[0] != '\0' ? diag->message
                                                        : aa_strerror(rc));
}

/* The series of the question with a sample in its span.  AA_ENOMEM, or
 * INVALID for a matcher that does not compile. */
static int select_series(const local *l, const tool_query *q, tool_answer *a)
{
    size_t *ids = NULL, n = 0, i, cap = 0, np;
    aa_point *pts = NULL;
    aa_diag diag;
    int rc;

    aa_diag_clear(&diag);
    rc = aa_tsdb_select(l->db, q->metric, q->where, q->extra, &ids, &n, &diag);
    if (rc != AA_OK) {
        if (rc == AA_ENOMEM) {
            return rc;
        }
        a->status = TOOL_A_INVALID;
        return tool_answer_message(a, "%s: %s", q->what,
                                   diag.message[0] != '\0' ? diag.message
                                                           : aa_strerror(rc));
    }
    if (n > 0) {
        a->sets = calloc(n, sizeof(*a->sets));
        if (a->sets == NULL) {
            free(ids);
            return AA_ENOMEM;
        }
    }
    for (i = 0; rc == AA_OK && i < n; i++) {
        rc = aa_tsdb_points(l->db, ids[i], q->start_ms, q->end_ms, false, &pts,
                            &cap, &np);
        if (rc == AA_OK && np > 0) {
            rc = aa_labels_copy(&a->sets[a->nsets],
                                aa_tsdb_labels(l->db, ids[i]));
            a->nsets += rc == AA_OK ? 1 : 0;
        }
    }
    free(pts);
    free(ids);
    if (rc == AA_OK) {
        a->status = TOOL_A_OK;
    }
    return rc;
}

static int local_submit(void *impl, const tool_query *q, tool_answer *a)
{
    local *l = impl;
    aa_diag diag;
    int rc;

    aa_diag_clear(&diag);
    switch (q->kind) {
    case TOOL_Q_INTERVAL:
        a->status = TOOL_A_OK;
        a->interval_ms = l->interval_ms > 0 ? l->interval_ms : 0;
        if (l->source != NULL) {
            a->source = aa_strdup(l->source);
            if (a->source == NULL) {
                return AA_ENOMEM;
            }
        }
        return AA_OK;
    case TOOL_Q_SERIES:
        return select_series(l, q, a);
    case TOOL_Q_INSTANT:
    case TOOL_Q_RANGE:
        break;
    }
    if (q->rule->metric == NULL) {
        a->status = TOOL_A_UNSUPPORTED;
        return AA_OK;
    }
    if (q->kind == TOOL_Q_INSTANT) {
        rc = aa_eval_instant(l->db, q->rule, q->extra, q->t_ms, q->window_ms,
                             &a->vector, &diag);
    } else {
        rc = aa_eval_range(l->db, q->rule, q->extra, q->start_ms, q->end_ms,
                           q->step_ms, q->window_ms, &a->matrix, &diag);
    }
    if (rc != AA_OK) {
        return eval_failed(q, a, rc, &diag);
    }
    a->status = TOOL_A_OK;
    return AA_OK;
}

static int local_run(void *impl)
{
    (void)impl;
    return AA_OK;
}

static void local_free(void *impl)
{
    free(impl);
}

static const tool_backend_ops local_ops = {local_submit, local_run,
                                           local_free};

int tool_backend_local_new(const aa_tsdb *db, int64_t interval_ms,
                           const char *source, tool_backend **out)
{
    local *l = calloc(1, sizeof(*l));

    *out = NULL;
    if (l == NULL) {
        return AA_ENOMEM;
    }
    l->db = db;
    l->interval_ms = interval_ms;
    l->source = source;
    return tool_backend_new(&local_ops, l, out);
}
