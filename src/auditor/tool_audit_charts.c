/*
 * tool_audit_charts.c: each rule's value over the window, for the HTML
 * report's charts, in every mode the same way.  One range question per
 * rule (its own question, or its bucket question for a stat computed
 * from buckets) rides with the rule questions, so charts cost no round
 * trip of their own; its answer becomes values exactly as a "for:" rule's
 * does (tool_audit_range_values), and lands in the rule's aa_chart.  The
 * report draws from that model only, whatever the data source.
 *
 * Each point is the rule's stat over the rule's window ending at that
 * step, so the last point is the value the rule was judged on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_audit_int.h"

/* About this many points per chart. */
#define CHART_POINTS 240
#define CHART_MIN_STEP_MS 1000

/* The chart step of a window: window / CHART_POINTS rounded up to whole
 * seconds, at least one second. */
static int64_t chart_step(int64_t window_ms)
{
    int64_t step = (window_ms + CHART_POINTS - 1) / CHART_POINTS;

    step = (step + 999) / 1000 * 1000;
    return step < CHART_MIN_STEP_MS ? CHART_MIN_STEP_MS : step;
}

int tool_audit_ask_charts(tool_audit *au)
{
    int64_t step = chart_step(au->window_ms);
    int64_t steps = au->window_ms / step;

    for (size_t i = 0; i < au->rs->nrules; i++) {
        tool_job *j = &au->jobs[i];
        aa_chart *c = &j->rr->chart;
        char what[200];
        tool_query q;

        if (!j->asked) {
            continue;
        }
        c->asked = true;
        c->step_ms = step;
        c->end_ms = au->end_ms;
        c->start_ms = au->end_ms - steps * step;
        snprintf(what, sizeof(what), "%s: chart", j->what);
        memset(&q, 0, sizeof(q));
        q.kind = TOOL_Q_RANGE;
        q.what = what;
        q.rule = tool_audit_asked_rule(j);
        q.extra = &au->cfg->selector;
        q.window_ms = au->window_ms;
        q.start_ms = c->start_ms;
        q.end_ms = c->end_ms;
        q.step_ms = step;
        q.own_step = true;
        if (tool_backend_submit(au->b, &q, &j->chart) != AA_OK) {
            return AA_ENOMEM;
        }
    }
    return AA_OK;
}

/* Why a chart could not be drawn, from its answer. */
static const char *chart_failure(const tool_answer *a)
{
    switch (a->status) {
    case TOOL_A_UNSUPPORTED:
        return "raw PromQL needs a Prometheus backend to be charted";
    case TOOL_A_PENDING:
        return "the backend gave no answer";
    case TOOL_A_OK:
    case TOOL_A_FAILED:
    case TOOL_A_REJECTED:
    case TOOL_A_INVALID:
        break;
    }
    return a->message != NULL ? a->message : "the range query failed";
}

int tool_audit_fill_charts(tool_audit *au)
{
    for (size_t i = 0; i < au->rs->nrules; i++) {
        tool_job *j = &au->jobs[i];
        aa_chart *c = &j->rr->chart;
        aa_value_bound *last = NULL;
        int rc;

        if (!c->asked) {
            continue;
        }
        if (j->chart.status != TOOL_A_OK) {
            c->message = aa_strdup(chart_failure(&j->chart));
            if (c->message == NULL) {
                return AA_ENOMEM;
            }
            continue;
        }
        rc = tool_audit_range_values(j, &j->chart.matrix, &c->lines, &last);
        free(last);
        aa_matrix_clear(&j->chart.matrix);
        if (rc != AA_OK) {
            return rc;
        }
    }
    return AA_OK;
}
