/*
 * result.h: verdicts, per-rule results, the audit report model that every
 * output format renders, and the exit-code policy (contract §6).
 * Ownership: an aa_report owns everything it points to except the rules,
 * which are borrowed from the aa_ruleset that must outlive the report.
 */
#ifndef AA_RESULT_H
#define AA_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/quantile.h"
#include "aa/rules.h"
#include "aa/series.h"

/* Ordered from best to worst: a larger value is worse.  not_applicable
 * (the rule's metric is not measured on the loops the data comes from:
 * "unmeasured_on") counts as ok for the status and every gate. */
typedef enum aa_verdict {
    AA_VERDICT_OK,
    AA_VERDICT_NOT_APPLICABLE,
    AA_VERDICT_NO_DATA,
    AA_VERDICT_ERROR,
    AA_VERDICT_WARNING,
    AA_VERDICT_CRITICAL
} aa_verdict;

/* The number of verdicts, for tables indexed by aa_verdict. */
#define AA_NVERDICTS 6

typedef enum aa_status {
    AA_STATUS_HEALTHY,
    AA_STATUS_UNKNOWN,
    AA_STATUS_DEGRADED,
    AA_STATUS_CRITICAL
} aa_status;

/* "ok", "not_applicable", "no_data", ... */
const char *aa_verdict_name(aa_verdict v);
const char *aa_status_name(aa_status s); /* "HEALTHY", ... */

/* One judged series or group. */
typedef struct aa_series_result {
    aa_labels labels;
    double value; /* NaN when the group has no value */
    aa_verdict verdict;
    aa_value_bound bound; /* where the true value lies (quantile.h) */
} aa_series_result;

/*
 * A rule's value over the window, for charts: the rule's stat at every
 * step (over the rule's window ending at that step), one line per group,
 * the same in every mode.  Filled only when a report draws charts.
 */
typedef struct aa_chart {
    bool asked;      /* the chart was asked for */
    aa_matrix lines; /* one series per group, a point per step with a value */
    int64_t start_ms, end_ms, step_ms;
    char *message; /* why there is no chart (unsupported, failed), or NULL */
} aa_chart;

/* What a culprit is, by the probe series it comes from. */
typedef enum aa_site_kind {
    /* code that blocked the loop (python_asyncio_block_site_...) */
    AA_SITE_BLOCKING,
    /* a thread that held the GIL while the loop waited for it
     * (python_asyncio_gil_holder_...) */
    AA_SITE_GIL_HOLDER,
    /* a function run on a thread pool
     * (python_asyncio_executor_function_...) */
    AA_SITE_POOL_FUNCTION
} aa_site_kind;

/*
 * A culprit of a finding, found for one breaching group of the rule.
 * Strings other than site are NULL when the probe does not say (an older
 * probe exports no info series: no chain, class or hint).
 */
typedef struct aa_site {
    aa_site_kind kind;
    /* the user's line, "path:line function" (the innermost in-app frame);
     * for a pool function the "path:line" of its definition */
    char *site;
    /* blocked; the loop waited for the GIL; run on the pool */
    double seconds;
    /* "app.py:15 f → requests.get → socket.py:706 readinto" */
    char *chain;
    char *cls;      /* the culprit class: "http_client", "sleep", ... */
    char *hint;     /* a one-line remedy */
    char *thread;   /* GIL holder: the thread's name */
    char *executor; /* pool function: the pool */
    char *function; /* pool function: its qualified name */
    /* pool function: its share of the pool's run time in the group;
     * NaN for the other kinds */
    double share;
    aa_labels group; /* the group's labels (the rule's "by") */
} aa_site;

/* Frees what s owns and zeroes it.  NULL is a no-op. */
void aa_site_clear(aa_site *s);

typedef struct aa_rule_result {
    const aa_rule *rule; /* borrowed */
    aa_verdict verdict;
    bool has_value;
    double value;                /* the worst series' value */
    aa_value_bound bound;        /* the worst series' bound */
    aa_chart chart;              /* the value over the window (--html) */
    const aa_threshold *crossed; /* borrowed from rule, or NULL */
    char *query;                 /* PromQL sent, NULL in scrape mode */
    char *message;               /* why no_data/error, or NULL */
    char **warnings;             /* backend warnings */
    size_t nwarnings;
    aa_series_result *series; /* worst first */
    size_t nseries;
    /* the culprits of each breaching group: the groups in the order of
     * series, each group's culprits worst first */
    aa_site *sites;
    size_t nsites;
} aa_rule_result;

struct aa_tsdb; /* tsdb.h: the scraped samples (scrape and samples mode) */

typedef struct aa_report {
    aa_status status;
    int64_t start_ms, end_ms; /* the evaluation window */
    char *target;             /* URL, scrape URLs joined by ", ", or file */
    char *mode;               /* "prometheus", "scrape", "samples" */
    aa_rule_result *rules;
    size_t nrules;
    unsigned scrapes_ok, scrapes_failed; /* scrape mode only */
    int64_t step_ms;                     /* resolution used for "for" */
    const struct aa_tsdb *tsdb; /* borrowed; scrape/samples mode, else NULL:
                                   what the HTML report charts */
} aa_report;

/*
 * Judges one rule from its evaluated series (instant vector: the value of
 * each group).  Each series gets its own verdict; the worst decides the rule
 * and ties keep the larger-magnitude breach.  NaN values count as no data.
 * An empty vector gives the rule's no_data policy (message must then be set
 * by the caller).  Results are appended to rr, which the caller zeroed.
 */
int aa_judge_vector(const aa_rule *rule, const aa_vector *vec,
                    aa_rule_result *rr);

/*
 * Judges a rule with "for:" from a range matrix over at least the final
 * for span: a series breaches a level only when every step in
 * [end - for, end] breaches it (Prometheus's "for" semantics); a missing
 * step breaks the run.  The value reported is the last point's.
 */
int aa_judge_matrix(const aa_rule *rule, const aa_matrix *m, int64_t end_ms,
                    int64_t step_ms, aa_rule_result *rr);

/*
 * As aa_judge_vector and aa_judge_matrix, for values that come with
 * bounds (quantile.h): bounds is parallel to vec->v, or to m->v giving
 * the bound of each series' last point; NULL means every value is exact.
 * A value is judged as it is reported; each series result keeps its
 * bound, and the rule's bound is the worst series'.
 */
int aa_judge_vector_bounded(const aa_rule *rule, const aa_vector *vec,
                            const aa_value_bound *bounds, aa_rule_result *rr);
int aa_judge_matrix_bounded(const aa_rule *rule, const aa_matrix *m,
                            const aa_value_bound *bounds, int64_t end_ms,
                            int64_t step_ms, aa_rule_result *rr);

/*
 * The number of consecutive evaluation steps, ending at the window's end,
 * that "for: for_ms" needs at resolution step_ms: ceil(for / step) + 1.
 * Prometheus fires once the expression has been true at every evaluation
 * from activeAt until at least activeAt + for, so for=30s at 15s steps
 * needs 3 points and for=10s needs 2.  for_ms <= 0 gives 1 (the last step
 * alone); step_ms <= 0 gives -1; saturates at INT64_MAX.  Every caller sizing
 * a "for" span (range query start, judging slots) uses this one function.
 */
int64_t aa_for_steps(int64_t for_ms, int64_t step_ms);

/* Overall status from the rules' verdicts (contract §6). */
aa_status aa_report_status(const aa_report *r);

/* The most culprits a finding lists per breaching group. */
#define AA_TOP_SITES 5

/*
 * Appends the culprits of one group, v[0..n), to rr's, the one place
 * both modes pass through: culprits with no time (seconds <= 0, NaN or
 * infinite) are dropped, the rest sorted worst first (ties by site,
 * thread, executor, function) and cut to top.  v and what it owns are
 * taken over whatever happens (v may be NULL when n is 0).  AA_ENOMEM
 * (the group's culprits are then released, rr keeps what it had).
 */
int aa_rule_result_add_sites(aa_rule_result *rr, aa_site *v, size_t n,
                             size_t top);

/* As aa_rule_result_add_sites, after releasing rr's culprits: never
 * fails, never allocates. */
void aa_rule_result_set_sites(aa_rule_result *rr, aa_site *v, size_t n,
                              size_t top);

void aa_rule_result_clear(aa_rule_result *rr);
void aa_report_free(aa_report *r);

/* ---- exit codes: one documented enum (contract §6) ------------------- */

typedef enum aa_exit {
    AA_EXIT_OK = 0,
    AA_EXIT_WARNING = 1,
    AA_EXIT_CRITICAL = 2,
    AA_EXIT_UNKNOWN = 3,
    AA_EXIT_COMMAND_FAILED = 4, /* scrape mode: "-- COMMAND" failed */
    AA_EXIT_USAGE = 64,
    AA_EXIT_CONFIG = 78
} aa_exit;

typedef struct aa_gate {
    bool fail_on_warning;
    bool fail_on_critical;
    bool allow_unknown;
} aa_gate;

/* The exit code a finished audit earns under the gate.  incomplete: the
 * audit could not be completed (backend unreachable, every query failed). */
aa_exit aa_exit_code(const aa_report *r, const aa_gate *g, bool incomplete);

#endif
