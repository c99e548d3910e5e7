/*
 * tool_audit_why.c: why a rule has no data.  "No data" alone does not
 * tell a user whether the probe is missing, the selector is wrong or the
 * window is quiet, so for each empty structured rule the backend is asked
 * three questions in one more run, and the rule's message gives the
 * answer (docs/cli.md "No data").  The same questions and messages in
 * every mode.
 *
 * A rule may also say that the probe does not export its metric on some
 * loop implementations ("unmeasured_on: [uvloop]"): then a fourth
 * question asks which loops the data comes from (the probe's info series
 * under the rule's matchers), and when every one of them is such a loop
 * the rule does not apply there: the verdict not_applicable, never a
 * missing probe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aa/promql.h"
#include "tool_audit_int.h"

/* The probe's info series: one per loop, loop_implementation="..." */
#define PROBE_INFO_METRIC "python_asyncio_probe_info"

/* How far back "does the metric exist at all" looks. */
#define EXIST_LOOKBACK_MS ((int64_t)30 * 24 * 3600 * 1000)

static int64_t wall_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where the rule's data would be: the window, extended back by the range
 * questions' first step. */
static int64_t window_start(const tool_audit *au, const tool_job *j)
{
    int64_t start = au->end_ms - au->window_ms;

    if (j->range && j->range_start - au->window_ms < start) {
        start = j->range_start - au->window_ms;
    }
    return start;
}

/*
 * The loops question an earlier job already asked with the same "where"
 * and window start (the question is the same), into *out; NULL when
 * there is none.  AA_ENOMEM only.
 */
static int shared_loops(const tool_audit *au, const tool_job *j,
                        const tool_answer **out)
{
    aat_buf mine, theirs;
    int rc;

    *out = NULL;
    aat_buf_init(&mine, 65536);
    rc = aa_promql_selector(&mine, PROBE_INFO_METRIC, &j->rule->where, NULL);
    for (const tool_job *k = au->jobs; rc == AA_OK && k < j; k++) {
        if (k->loops_of != &k->loops ||
            window_start(au, k) != window_start(au, j)) {
            continue;
        }
        aat_buf_init(&theirs, 65536);
        rc = aa_promql_selector(&theirs, PROBE_INFO_METRIC, &k->rule->where,
                                NULL);
        if (rc == AA_OK && strcmp(mine.data, theirs.data) == 0) {
            *out = &k->loops;
        }
        aat_buf_release(&theirs);
        if (*out != NULL) {
            break;
        }
    }
    aat_buf_release(&mine);
    return rc == AA_ENOMEM ? rc : AA_OK;
}

/*
 * Asks the three questions about an empty structured rule, concurrently:
 * does its series exist at all (up to 30 days back, up to now, so that a
 * window in the past still learns that the metric is there), do any match
 * its matchers (not asked when it has none: the first question answers
 * it), and do those have samples in the window (the stat "last" of the
 * series, a question rather than the series API because some engines,
 * VictoriaMetrics, answer that at day granularity).  A rule with
 * "unmeasured_on" also asks which loops the data comes from (shared by
 * the rules asking the same).  AA_ENOMEM only.
 */
static int ask_why(tool_audit *au, tool_job *j)
{
    aa_plan plan;
    tool_query q;
    char what[200];
    int64_t start = window_start(au, j), now = wall_now_ms();
    aat_buf b;
    int rc;

    if (!j->buckets && aa_rule_plan(j->rule, &plan) != AA_OK) {
        return tool_set_message(j->rr,
                                "the query returned no data in the window");
    }
    aat_buf_init(&b, 65536);
    if (aat_buf_appendf(&b, "%s%s", j->rule->metric,
                        j->buckets ? "_bucket" : plan.suffix) != AA_OK ||
        (j->name = aat_buf_steal(&b)) == NULL) {
        aat_buf_release(&b);
        return AA_ENOMEM;
    }
    if (now < au->end_ms) {
        now = au->end_ms;
    }
    snprintf(what, sizeof(what), "%s: why empty", j->what);
    memset(&q, 0, sizeof(q));
    q.kind = TOOL_Q_SERIES;
    q.what = what;
    q.metric = j->name;
    q.start_ms = start - EXIST_LOOKBACK_MS;
    q.end_ms = now;
    rc = tool_backend_submit(au->b, &q, &j->exists);
    j->matched = j->rule->where.n > 0 || au->cfg->selector.n > 0;
    if (rc == AA_OK && j->matched) {
        q.where = &j->rule->where;
        q.extra = &au->cfg->selector;
        rc = tool_backend_submit(au->b, &q, &j->match);
    }
    if (rc == AA_OK) {
        aa_rule *w = &j->inwin_rule;

        memset(w, 0, sizeof(*w));
        w->id = j->rule->id;
        w->metric = j->name;
        w->stat = AA_STAT_LAST;
        w->type = AA_TYPE_GAUGE;
        snprintf(w->stat_text, sizeof(w->stat_text), "last");
        w->where = j->rule->where;
        memset(&q, 0, sizeof(q));
        q.kind = TOOL_Q_INSTANT;
        q.what = what;
        q.rule = w;
        q.extra = &au->cfg->selector;
        q.window_ms = au->end_ms - start;
        q.t_ms = au->end_ms;
        rc = tool_backend_submit(au->b, &q, &j->inwin);
    }
    if (rc == AA_OK && j->rule->nunmeasured > 0) {
        rc = shared_loops(au, j, &j->loops_of);
    }
    if (rc == AA_OK && j->rule->nunmeasured > 0 && j->loops_of == NULL) {
        memset(&q, 0, sizeof(q));
        q.kind = TOOL_Q_SERIES;
        q.what = what;
        q.metric = PROBE_INFO_METRIC;
        q.where = &j->rule->where;
        q.extra = &au->cfg->selector;
        q.start_ms = start;
        q.end_ms = au->end_ms;
        rc = tool_backend_submit(au->b, &q, &j->loops);
        j->loops_of = &j->loops;
    }
    j->diagnosed = rc == AA_OK;
    return rc;
}

static bool unmeasured_on(const aa_rule *rule, const char *impl)
{
    for (size_t i = 0; impl != NULL && i < rule->nunmeasured; i++) {
        if (strcmp(rule->unmeasured_on[i], impl) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Whether the rule does not apply to the loops its data comes from: the
 * probe's info series were found and every one names a loop
 * implementation listed in "unmeasured_on".  Then the verdict is
 * not_applicable, with a message naming them.  AA_ENOMEM only.
 */
static int not_applicable(const tool_job *j, bool *na)
{
    const aa_rule *rule = j->rule;
    const tool_answer *a = j->loops_of;
    aat_buf names;
    size_t i, k, n = 0;
    int rc = AA_OK;

    *na = false;
    if (a == NULL || a->status != TOOL_A_OK || a->nsets == 0) {
        return AA_OK;
    }
    for (i = 0; i < a->nsets; i++) {
        if (!unmeasured_on(
                rule, aa_labels_get(&a->sets[i], "loop_implementation"))) {
            return AA_OK;
        }
    }
    /* the listed implementations found, in the rule's order */
    aat_buf_init(&names, 4096);
    for (i = 0; rc == AA_OK && i < rule->nunmeasured; i++) {
        for (k = 0; k < a->nsets; k++) {
            const char *impl =
                aa_labels_get(&a->sets[k], "loop_implementation");

            if (strcmp(impl, rule->unmeasured_on[i]) == 0) {
                break;
            }
        }
        if (k < a->nsets) {
            rc = aat_buf_appendf(&names, "%s%s", n++ > 0 ? ", " : "",
                                 rule->unmeasured_on[i]);
        }
    }
    if (rc == AA_OK) {
        rc = tool_set_message(j->rr,
                              "not measured on %s loops: the probe does not "
                              "export %s there (see docs/probe.md)",
                              names.data != NULL ? names.data : "these",
                              rule->metric);
    }
    aat_buf_release(&names);
    if (rc == AA_OK) {
        j->rr->verdict = AA_VERDICT_NOT_APPLICABLE;
        *na = true;
    }
    return rc == AA_ENOMEM ? rc : AA_OK;
}

/* Whether an answer shows that something exists; -1 when the question
 * failed, after saying why in rr's message. */
static int found(const tool_answer *a, aa_rule_result *rr)
{
    if (a->status != TOOL_A_OK) {
        tool_set_message(rr,
                         "the query returned no data, and the series API "
                         "could not tell why: %s",
                         a->message != NULL ? a->message
                                            : "no answer from the backend");
        return -1;
    }
    return a->nsets > 0 || a->vector.n > 0;
}

/* RFC 3339 UTC with seconds, e.g. "2026-11-26T07:01:13Z". */
static char *fmt_rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(buf, size, "%lld ms", (long long)ms);
    }
    return buf;
}

/* The no-data message of an empty structured rule from its three
 * answers.  AA_ENOMEM only. */
static int explain_empty(const tool_audit *au, tool_job *j)
{
    const char *metric = j->rule->metric, *name = j->name;
    bool suffixed = strcmp(name, metric) != 0;
    char win[96], a[40], b[40];
    aat_buf sel;
    bool na;
    int exists, match, inwin, rc;

    if (not_applicable(j, &na) != AA_OK) {
        return AA_ENOMEM;
    }
    if (na) {
        return AA_OK;
    }
    exists = found(&j->exists, j->rr);
    match = exists <= 0 ? 0 : j->matched ? found(&j->match, j->rr) : 1;
    inwin = match > 0 ? found(&j->inwin, j->rr) : 0;
    if (exists < 0 || match < 0 || inwin < 0) {
        return AA_OK; /* found() said why */
    }
    snprintf(win, sizeof(win), "%s to %s",
             fmt_rfc3339(window_start(au, j), a, sizeof(a)),
             fmt_rfc3339(au->end_ms, b, sizeof(b)));
    if (exists == 0) {
        return tool_set_message(j->rr, "metric %s has no series; is %s?%s%s%s",
                                metric,
                                strncmp(metric, "python_asyncio_", 15) == 0
                                    ? "the probe installed"
                                    : "it exported and scraped",
                                suffixed ? " (looked for " : "",
                                suffixed ? name : "", suffixed ? ")" : "");
    }
    if (match == 0) {
        aat_buf_init(&sel, 65536);
        rc = aa_promql_selector(&sel, NULL, &j->rule->where,
                                &au->cfg->selector);
        if (rc == AA_OK) {
            rc = tool_set_message(j->rr,
                                  "metric %s has series, but none match %s",
                                  metric, sel.data != NULL ? sel.data : "{}");
        }
        aat_buf_release(&sel);
        return rc == AA_ENOMEM ? rc : AA_OK;
    }
    if (inwin == 0) {
        return tool_set_message(
            j->rr, "metric %s: no samples in the window (%s)", metric, win);
    }
    return tool_set_message(j->rr,
                            "metric %s has samples in the window (%s), but "
                            "the query returned nothing: too few samples for "
                            "the stat (a rate needs two in the window) or a "
                            "\"by\" label missing",
                            metric, win);
}

int tool_audit_explain(tool_audit *au)
{
    size_t i, n = 0;
    int rc;

    for (i = 0; i < au->rs->nrules; i++) {
        tool_job *j = &au->jobs[i];

        if (!j->empty) {
            continue;
        }
        if (j->rule->metric == NULL) {
            rc = tool_set_message(j->rr,
                                  "the query returned no data in the window");
        } else {
            rc = ask_why(au, j);
            n += j->diagnosed ? 1 : 0;
        }
        if (rc != AA_OK) {
            return rc;
        }
    }
    if (n == 0) {
        return AA_OK;
    }
    rc = tool_backend_run(au->b);
    for (i = 0; rc == AA_OK && i < au->rs->nrules; i++) {
        if (au->jobs[i].diagnosed) {
            rc = explain_empty(au, &au->jobs[i]);
        }
    }
    return rc;
}
