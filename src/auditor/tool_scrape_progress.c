/*
 * tool_scrape_progress.c: the progress line of scrape mode on a terminal
 * (scraping: 12s, 18s left, scrapes ok 12 failed 0, worst: RULE VALUE
 * VERDICT).  The worst rule is judged over what was scraped so far as the
 * audit would judge it, a stat computed from buckets from its bucket
 * question's answer (quantile.h), so the line never shows a value the
 * report then contradicts.
 */
#include "tool_scrape_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/eval.h"
#include "aa/quantile.h"
#include "aa/result.h"

/* Judges structured rule r over what db holds now, as the audit does: a
 * stat computed from buckets from its bucket question's answer
 * (quantile.h).  Any failure leaves rr without a value. */
static void live_judge(const tool_config *cfg, const aa_rule *r,
                       const aa_tsdb *db, int64_t now_ms, int64_t span_ms,
                       aa_rule_result *rr)
{
    aa_vector vec = {NULL, 0}, vals = {NULL, 0};
    aa_value_bound *bounds = NULL;
    aa_bucket_rule br;
    bool buckets = aa_rule_reads_buckets(r);

    if (buckets && aa_bucket_rule_make(r, &br) != AA_OK) {
        return;
    }
    if (aa_eval_instant(db, buckets ? &br.rule : r, &cfg->selector, now_ms,
                        span_ms, &vec, NULL) == AA_OK &&
        vec.n > 0) {
        if (!buckets) {
            aa_judge_vector(r, &vec, rr);
        } else if (aa_histogram_vector(r, &vec, &vals, &bounds) == AA_OK) {
            aa_judge_vector_bounded(r, &vals, bounds, rr);
        }
    }
    free(bounds);
    aa_vector_clear(&vals);
    aa_vector_clear(&vec);
    if (buckets) {
        aa_bucket_rule_clear(&br);
    }
}

/* The worst rule right now over what was scraped so far, for the TTY
 * progress line: "rule_id 312ms critical" into buf ("" if none). */
static void live_signal(const tool_config *cfg, const aa_ruleset *rs,
                        const aa_tsdb *db, int64_t now_ms, int64_t span_ms,
                        char *buf, size_t size)
{
    aa_verdict worst = AA_VERDICT_OK;
    size_t i;

    buf[0] = '\0';
    if (span_ms <= 0) {
        return;
    }
    for (i = 0; i < rs->nrules; i++) {
        const aa_rule *r = &rs->rules[i];
        aa_rule_result rr;

        if (r->metric == NULL) {
            continue;
        }
        memset(&rr, 0, sizeof(rr));
        live_judge(cfg, r, db, now_ms, span_ms, &rr);
        if (rr.has_value && (buf[0] == '\0' || rr.verdict > worst)) {
            worst = rr.verdict;
            snprintf(buf, size, "%s %.4g %s", r->id, rr.value,
                     aa_verdict_name(rr.verdict));
        }
        aa_rule_result_clear(&rr);
    }
}

void tool_scrape_progress(const tool_config *cfg, const aa_ruleset *rs,
                          const aa_tsdb *db, int64_t elapsed_ms,
                          int64_t total_ms, unsigned ok, unsigned failed,
                          int64_t now_ms, int64_t span_ms)
{
    char live[200], rem[48];

    live_signal(cfg, rs, db, now_ms, span_ms, live, sizeof(live));
    if (total_ms > 0) {
        snprintf(rem, sizeof(rem), ", %llds left",
                 (long long)((total_ms - elapsed_ms + 999) / 1000));
    } else {
        snprintf(rem, sizeof(rem), ", until the command exits");
    }
    fprintf(stderr, "\r\033[Kscraping: %llds%s, scrapes ok %u failed %u%s%s",
            (long long)(elapsed_ms / 1000), rem, ok, failed,
            live[0] != '\0' ? ", worst: " : "", live);
    fflush(stderr);
}
