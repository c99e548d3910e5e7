/*
 * tool_backend.h: where an audit's numbers come from.  One interface sits
 * over both data sources, so that the orchestration (tool_audit.c) that
 * plans every rule, judges it, explains empty results and looks up
 * culprit sites is written once for --target and for --scrape/--samples.
 *
 * Questions are structured (a rule, extra matchers, a window, a time),
 * never PromQL text: the Prometheus backend (tool_backend_prom.c)
 * compiles them with promql.c and sends them over the HTTP API, the local
 * backend (tool_backend_local.c) evaluates them over an aa_tsdb with
 * eval.c.  Both therefore answer the same question the same way.
 *
 * Batching: questions are submitted one by one and answered together by
 * tool_backend_run(), so that the Prometheus backend sends a whole batch
 * concurrently (an audit costs one round trip).  A backend may also
 * answer at submit time (the local one does): the caller sees that as
 * answer->status != TOOL_A_PENDING right after tool_backend_submit().
 *
 * Ownership: a query and everything it points to is borrowed until the
 * run that answers it returns; an answer is owned by the caller, must
 * stay in place until then, and is released with tool_answer_clear().
 */
#ifndef TOOL_BACKEND_H
#define TOOL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/rules.h"
#include "aa/series.h"
#include "aa/tsdb.h"
#include "tool_cfg.h"

typedef enum tool_qkind {
    /* rule at t_ms over window_ms: an instant vector, one sample per
     * group */
    TOOL_Q_INSTANT,
    /* rule at start_ms, start_ms + step_ms, ... <= end_ms, each over
     * window_ms: a matrix, one series per group */
    TOOL_Q_RANGE,
    /* the label sets of the series named metric that match where and
     * extra and have samples in [start_ms, end_ms] */
    TOOL_Q_SERIES,
    /* the data's scrape interval, the default resolution of range
     * questions */
    TOOL_Q_INTERVAL
} tool_qkind;

typedef struct tool_query {
    tool_qkind kind;
    /* who asks, for messages and -v: "rule lag_p99", "rule lag_p99:
     * culprit sites" */
    const char *what;
    /* INSTANT, RANGE: a structured rule (metric != NULL) or a raw one
     * (query != NULL); messages name rule->id */
    const aa_rule *rule;
    /* INSTANT, RANGE, SERIES: matchers added to the rule's "where" (the
     * --selector; not applied to raw rules); may be NULL */
    const aa_matchers *extra;
    int64_t window_ms;        /* INSTANT, RANGE */
    int64_t t_ms;             /* INSTANT */
    int64_t start_ms, end_ms; /* RANGE: first and last step; SERIES */
    int64_t step_ms;          /* RANGE */
    /* RANGE: the step is the question's own (a chart's), so answering it
     * needs no scrape-interval lookup */
    bool own_step;
    const char *metric;       /* SERIES: the series name, suffix included */
    const aa_matchers *where; /* SERIES; may be NULL */
} tool_query;

typedef enum tool_astatus {
    TOOL_A_PENDING, /* submitted, not answered yet */
    TOOL_A_OK,
    /* no answer: the backend could not be reached, failed or answered
     * something unreadable; message says why */
    TOOL_A_FAILED,
    /* the backend refused the question as invalid (HTTP 400/422, a rule
     * that cannot be compiled): a configuration error; message names the
     * rule */
    TOOL_A_REJECTED,
    /* the question cannot be evaluated on this data (e.g. a regex the
     * local matcher rejects): the rule's error, message says why */
    TOOL_A_INVALID,
    /* this backend cannot answer such a question at all (raw PromQL
     * without a PromQL engine) */
    TOOL_A_UNSUPPORTED
} tool_astatus;

typedef struct tool_answer {
    tool_astatus status;
    char *message; /* FAILED, REJECTED, INVALID: why */
    char *query;   /* INSTANT, RANGE: the PromQL sent, NULL locally */
    aa_vector vector;
    aa_matrix matrix;
    aa_labels *sets; /* SERIES */
    size_t nsets;
    /* INTERVAL: the scrape interval, 0 when unknown; source says where
     * it was looked up (for messages), NULL when it was not looked up */
    int64_t interval_ms;
    char *source;
    char **warnings; /* the backend's warnings about this answer */
    size_t nwarnings;
    char **infos; /* and its informational notes */
    size_t ninfos;
} tool_answer;

void tool_answer_clear(tool_answer *a);

/* Sets a->message to the formatted text (cut at 2 KiB).  AA_ENOMEM
 * leaves the old message. */
int tool_answer_message(tool_answer *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Appends a copy of text to *v (*n entries).  AA_ENOMEM only. */
int tool_answer_note(char ***v, size_t *n, const char *text);

/* ---- the interface ------------------------------------------------------
 */

typedef struct tool_backend tool_backend;

/*
 * What an implementation provides; impl is its own state.
 * submit: queues q for the next run (or answers it at once) and sets
 *     a->status to TOOL_A_PENDING or the answer.  AA_OK or AA_ENOMEM;
 *     every problem of the question itself is the answer's status.
 * run: answers every pending question.  AA_OK, AA_ENOMEM, or AA_EIO
 *     after printing why the batch could not run at all.
 * free: releases impl.
 */
typedef struct tool_backend_ops {
    int (*submit)(void *impl, const tool_query *q, tool_answer *a);
    int (*run)(void *impl);
    void (*free)(void *impl);
} tool_backend_ops;

/* Wraps impl with ops into a handle (for the implementations).  On
 * failure (AA_ENOMEM) ops->free(impl) has been called. */
int tool_backend_new(const tool_backend_ops *ops, void *impl,
                     tool_backend **out);
void tool_backend_free(tool_backend *b);

/* The operations (see tool_backend_ops).  a is zeroed by the caller. */
int tool_backend_submit(tool_backend *b, const tool_query *q, tool_answer *a);
int tool_backend_run(tool_backend *b);

/* ---- the implementations ------------------------------------------------
 */

/*
 * The Prometheus HTTP API at cfg->target, with the access options of cfg
 * (tool_http.c): retries and backoff, Retry-After, answer bounds.  An
 * INTERVAL question is answered from /api/v1/status/config, with one
 * short attempt, and only when the same run has a RANGE question that
 * needs it (one without own_step); otherwise its interval stays unknown
 * and no request is made.
 * Returns 0, or an aa_exit code after printing why.
 */
int tool_backend_prom_new(const tool_config *cfg, tool_backend **out);

/*
 * An in-memory store (borrowed; it must outlive the backend).  Questions
 * are answered at submit.  Raw PromQL rules are TOOL_A_UNSUPPORTED.  The
 * INTERVAL answer is interval_ms (0: unknown) with source (borrowed, may
 * be NULL: not worth a message).  AA_OK or AA_ENOMEM.
 */
int tool_backend_local_new(const aa_tsdb *db, int64_t interval_ms,
                           const char *source, tool_backend **out);

#endif
