/*
 * test_verdict.c: verdict and status names, the overall status, every exit
 * code of contract §6 under every gate, and that freeing a fully
 * populated report releases everything (valgrind checks the rest).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aa/result.h"
#include "check.h"

static aa_rule rules[8];

/* A report whose rule i has verdict vs[i]; rules[i] has no_data nd[i]. */
static aa_report *make(const aa_verdict *vs, const aa_nodata *nd, size_t n)
{
    aa_report *r = calloc(1, sizeof(*r));
    size_t i;

    if (r == NULL) {
        abort();
    }
    r->rules = calloc(n, sizeof(*r->rules));
    if (r->rules == NULL && n > 0) {
        abort();
    }
    r->nrules = n;
    for (i = 0; i < n; i++) {
        memset(&rules[i], 0, sizeof(rules[i]));
        rules[i].no_data = nd != NULL ? nd[i] : AA_NODATA_UNKNOWN;
        r->rules[i].rule = &rules[i];
        r->rules[i].verdict = vs[i];
    }
    r->status = aa_report_status(r);
    return r;
}

static void test_names(void)
{
    CHECK_STR_EQ(aa_verdict_name(AA_VERDICT_OK), "ok");
    CHECK_STR_EQ(aa_verdict_name(AA_VERDICT_NOT_APPLICABLE), "not_applicable");
    CHECK_STR_EQ(aa_verdict_name(AA_VERDICT_NO_DATA), "no_data");
    CHECK_STR_EQ(aa_verdict_name(AA_VERDICT_ERROR), "error");
    CHECK_STR_EQ(aa_verdict_name(AA_VERDICT_WARNING), "warning");
    CHECK_STR_EQ(aa_verdict_name(AA_VERDICT_CRITICAL), "critical");
    CHECK_STR_EQ(aa_status_name(AA_STATUS_HEALTHY), "HEALTHY");
    CHECK_STR_EQ(aa_status_name(AA_STATUS_DEGRADED), "DEGRADED");
    CHECK_STR_EQ(aa_status_name(AA_STATUS_CRITICAL), "CRITICAL");
    CHECK_STR_EQ(aa_status_name(AA_STATUS_UNKNOWN), "UNKNOWN");
    /* the enum order is the severity order */
    CHECK(AA_VERDICT_OK < AA_VERDICT_NOT_APPLICABLE);
    CHECK(AA_VERDICT_NOT_APPLICABLE < AA_VERDICT_NO_DATA);
    CHECK_INT_EQ(AA_NVERDICTS, AA_VERDICT_CRITICAL + 1);
    CHECK(AA_VERDICT_NO_DATA < AA_VERDICT_ERROR);
    CHECK(AA_VERDICT_ERROR < AA_VERDICT_WARNING);
    CHECK(AA_VERDICT_WARNING < AA_VERDICT_CRITICAL);
}

static aa_status status_of(const aa_verdict *vs, size_t n)
{
    aa_report *r = make(vs, NULL, n);
    aa_status s = r->status;

    aa_report_free(r);
    return s;
}

static void test_status(void)
{
    const aa_verdict ok[] = {AA_VERDICT_OK, AA_VERDICT_OK};
    const aa_verdict warn[] = {AA_VERDICT_OK, AA_VERDICT_WARNING,
                               AA_VERDICT_NO_DATA};
    const aa_verdict crit[] = {AA_VERDICT_WARNING, AA_VERDICT_CRITICAL,
                               AA_VERDICT_ERROR};
    const aa_verdict nodata[] = {AA_VERDICT_OK, AA_VERDICT_NO_DATA};
    const aa_verdict err[] = {AA_VERDICT_ERROR, AA_VERDICT_OK};

    CHECK_INT_EQ(status_of(ok, 2), AA_STATUS_HEALTHY);
    CHECK_INT_EQ(status_of(ok, 0), AA_STATUS_HEALTHY);
    CHECK_INT_EQ(status_of(warn, 3), AA_STATUS_DEGRADED);
    CHECK_INT_EQ(status_of(crit, 3), AA_STATUS_CRITICAL);
    CHECK_INT_EQ(status_of(nodata, 2), AA_STATUS_UNKNOWN);
    CHECK_INT_EQ(status_of(err, 2), AA_STATUS_UNKNOWN);
    CHECK_INT_EQ(aa_report_status(NULL), AA_STATUS_UNKNOWN);
    /* not_applicable counts as ok: a report of it alone is healthy */
    {
        const aa_verdict na[] = {AA_VERDICT_NOT_APPLICABLE,
                                 AA_VERDICT_NOT_APPLICABLE};
        const aa_verdict na_warn[] = {AA_VERDICT_NOT_APPLICABLE,
                                      AA_VERDICT_WARNING};
        const aa_verdict na_nodata[] = {AA_VERDICT_NOT_APPLICABLE,
                                        AA_VERDICT_NO_DATA};

        CHECK_INT_EQ(status_of(na, 2), AA_STATUS_HEALTHY);
        CHECK_INT_EQ(status_of(na_warn, 2), AA_STATUS_DEGRADED);
        CHECK_INT_EQ(status_of(na_nodata, 2), AA_STATUS_UNKNOWN);
    }
}

/* gates: none, critical, warning, critical+warning; each +/- allow */
static const aa_gate G_NONE = {false, false, false};
static const aa_gate G_CRIT = {false, true, false};
static const aa_gate G_WARN = {true, false, false};
static const aa_gate G_BOTH = {true, true, false};
static const aa_gate G_CRIT_ALLOW = {false, true, true};
static const aa_gate G_WARN_ALLOW = {true, false, true};
static const aa_gate G_NONE_ALLOW = {false, false, true};

static aa_exit code(const aa_verdict *vs, const aa_nodata *nd, size_t n,
                    const aa_gate *g, bool incomplete)
{
    aa_report *r = make(vs, nd, n);
    aa_exit e = aa_exit_code(r, g, incomplete);

    aa_report_free(r);
    return e;
}

static void test_exit_codes(void)
{
    const aa_verdict ok[] = {AA_VERDICT_OK, AA_VERDICT_OK};
    const aa_verdict warn[] = {AA_VERDICT_OK, AA_VERDICT_WARNING};
    const aa_verdict crit[] = {AA_VERDICT_OK, AA_VERDICT_CRITICAL};
    const aa_verdict nodata[] = {AA_VERDICT_OK, AA_VERDICT_NO_DATA};
    const aa_verdict err[] = {AA_VERDICT_ERROR, AA_VERDICT_OK};
    const aa_verdict warn_nodata[] = {AA_VERDICT_NO_DATA, AA_VERDICT_WARNING};
    const aa_verdict crit_err[] = {AA_VERDICT_ERROR, AA_VERDICT_CRITICAL};
    const aa_nodata nd_ok[] = {AA_NODATA_OK, AA_NODATA_OK};
    const aa_nodata nd_mixed[] = {AA_NODATA_OK, AA_NODATA_UNKNOWN};

    /* all ok */
    CHECK_INT_EQ(code(ok, NULL, 2, &G_NONE, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(ok, NULL, 2, &G_CRIT, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(ok, NULL, 2, &G_WARN, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(ok, NULL, 2, &G_BOTH, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(ok, NULL, 2, NULL, false), AA_EXIT_OK);

    /* warning: only --fail-on-warning fails */
    CHECK_INT_EQ(code(warn, NULL, 2, &G_NONE, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(warn, NULL, 2, &G_CRIT, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(warn, NULL, 2, &G_WARN, false), AA_EXIT_WARNING);
    CHECK_INT_EQ(code(warn, NULL, 2, &G_BOTH, false), AA_EXIT_WARNING);

    /* critical: either gate fails with 2 */
    CHECK_INT_EQ(code(crit, NULL, 2, &G_NONE, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(crit, NULL, 2, &G_CRIT, false), AA_EXIT_CRITICAL);
    CHECK_INT_EQ(code(crit, NULL, 2, &G_WARN, false), AA_EXIT_CRITICAL);
    CHECK_INT_EQ(code(crit, NULL, 2, &G_BOTH, false), AA_EXIT_CRITICAL);
    CHECK_INT_EQ(code(crit, NULL, 2, &G_CRIT_ALLOW, false), AA_EXIT_CRITICAL);

    /* missing data: a gate never passes silently */
    CHECK_INT_EQ(code(nodata, NULL, 2, &G_NONE, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(nodata, NULL, 2, &G_NONE_ALLOW, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(nodata, NULL, 2, &G_CRIT, false), AA_EXIT_UNKNOWN);
    CHECK_INT_EQ(code(nodata, NULL, 2, &G_WARN, false), AA_EXIT_UNKNOWN);
    CHECK_INT_EQ(code(err, NULL, 2, &G_CRIT, false), AA_EXIT_UNKNOWN);
    CHECK_INT_EQ(code(err, NULL, 2, &G_BOTH, false), AA_EXIT_UNKNOWN);
    /* ... unless --allow-unknown */
    CHECK_INT_EQ(code(nodata, NULL, 2, &G_CRIT_ALLOW, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(err, NULL, 2, &G_WARN_ALLOW, false), AA_EXIT_OK);
    /* ... or the rule says no_data: ok */
    CHECK_INT_EQ(code(nodata, nd_ok, 2, &G_CRIT, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(err, nd_ok, 2, &G_WARN, false), AA_EXIT_OK);
    /* err is rule 0 (no_data: ok), so it passes; nodata is rule 1 */
    CHECK_INT_EQ(code(err, nd_mixed, 2, &G_CRIT, false), AA_EXIT_OK);
    CHECK_INT_EQ(code(nodata, nd_mixed, 2, &G_CRIT, false), AA_EXIT_UNKNOWN);

    /* breach and missing data: the breach's code wins */
    CHECK_INT_EQ(code(warn_nodata, NULL, 2, &G_WARN, false), AA_EXIT_WARNING);
    CHECK_INT_EQ(code(crit_err, NULL, 2, &G_CRIT, false), AA_EXIT_CRITICAL);
    CHECK_INT_EQ(code(crit_err, NULL, 2, &G_WARN, false), AA_EXIT_CRITICAL);
    /* a warning under --fail-on-critical is no breach: unknown decides */
    CHECK_INT_EQ(code(warn_nodata, NULL, 2, &G_CRIT, false), AA_EXIT_UNKNOWN);
    CHECK_INT_EQ(code(warn_nodata, NULL, 2, &G_CRIT_ALLOW, false), AA_EXIT_OK);

    /* not applicable never fails a gate, with or without no_data: ok */
    {
        const aa_verdict na[] = {AA_VERDICT_NOT_APPLICABLE, AA_VERDICT_OK};
        const aa_verdict na_crit[] = {AA_VERDICT_NOT_APPLICABLE,
                                      AA_VERDICT_CRITICAL};

        CHECK_INT_EQ(code(na, NULL, 2, &G_CRIT, false), AA_EXIT_OK);
        CHECK_INT_EQ(code(na, NULL, 2, &G_WARN, false), AA_EXIT_OK);
        CHECK_INT_EQ(code(na, NULL, 2, &G_BOTH, false), AA_EXIT_OK);
        CHECK_INT_EQ(code(na, nd_ok, 2, &G_CRIT, false), AA_EXIT_OK);
        CHECK_INT_EQ(code(na_crit, NULL, 2, &G_CRIT, false), AA_EXIT_CRITICAL);
    }

    /* incomplete: 3 whatever the flags and verdicts */
    CHECK_INT_EQ(code(ok, NULL, 2, &G_NONE, true), AA_EXIT_UNKNOWN);
    CHECK_INT_EQ(code(ok, NULL, 2, &G_NONE_ALLOW, true), AA_EXIT_UNKNOWN);
    CHECK_INT_EQ(code(crit, NULL, 2, &G_CRIT, true), AA_EXIT_UNKNOWN);
    CHECK_INT_EQ(code(warn, nd_ok, 2, &G_WARN_ALLOW, true), AA_EXIT_UNKNOWN);
    CHECK_INT_EQ(aa_exit_code(NULL, &G_NONE, false), AA_EXIT_UNKNOWN);

    /* the documented numeric values */
    CHECK_INT_EQ(AA_EXIT_OK, 0);
    CHECK_INT_EQ(AA_EXIT_WARNING, 1);
    CHECK_INT_EQ(AA_EXIT_CRITICAL, 2);
    CHECK_INT_EQ(AA_EXIT_UNKNOWN, 3);
    CHECK_INT_EQ(AA_EXIT_COMMAND_FAILED, 4);
    CHECK_INT_EQ(AA_EXIT_USAGE, 64);
    CHECK_INT_EQ(AA_EXIT_CONFIG, 78);
}

static void test_free_populated(void)
{
    aa_report *r = calloc(1, sizeof(*r));
    aa_rule_result *rr;
    aa_labels ls = {0};
    aa_vector vec = {0};
    aa_rule rule;

    memset(&rule, 0, sizeof(rule));
    rule.critical.set = true;
    rule.critical.op = AA_CMP_GT;
    rule.critical.value = 1;
    CHECK(r != NULL);
    r->target = strdup("http://x");
    r->mode = strdup("prometheus");
    r->rules = calloc(2, sizeof(*r->rules));
    r->nrules = 2;
    rr = &r->rules[0];
    aa_labels_add(&ls, "instance", "a");
    aa_vector_push(&vec, &ls, 2.0);
    aa_vector_push(&vec, NULL, 0.5);
    CHECK_INT_EQ(aa_judge_vector(&rule, &vec, rr), AA_OK);
    CHECK_INT_EQ(rr->verdict, AA_VERDICT_CRITICAL);
    rr->query = strdup("up");
    rr->message = strdup("m");
    rr->warnings = calloc(2, sizeof(char *));
    rr->warnings[0] = strdup("w1");
    rr->warnings[1] = strdup("w2");
    rr->nwarnings = 2;
    rr->sites = calloc(1, sizeof(aa_site));
    rr->sites[0].site = strdup("app.py:10 handler");
    rr->sites[0].seconds = 1.5;
    rr->nsites = 1;
    r->rules[1].rule = &rule;
    r->status = aa_report_status(r);
    CHECK_INT_EQ(r->status, AA_STATUS_CRITICAL);
    aa_report_free(r);
    aa_report_free(NULL);
    aa_rule_result_clear(NULL);
    aa_vector_clear(&vec);
    aa_labels_clear(&ls);
}

static void test_sites(void)
{
    static const char *const names[] = {
        "a.py:1 idle", "a.py:2 worst", "a.py:3 nan", "a.py:4 neg",
        "a.py:5 tie",  "a.py:6 inf",   "a.py:7 tie"};
    const double secs[] = {0.0, 3.0, NAN, -1.0, 0.5, INFINITY, 0.5};
    aa_rule_result rr;
    aa_site *v;
    size_t i, n = sizeof(secs) / sizeof(secs[0]);

    memset(&rr, 0, sizeof(rr));
    v = calloc(n, sizeof(*v));
    CHECK(v != NULL);
    for (i = 0; i < n; i++) {
        v[i].site = strdup(names[i]);
        v[i].seconds = secs[i];
    }
    aa_rule_result_set_sites(&rr, v, n, AA_TOP_SITES);
    CHECK_INT_EQ(rr.nsites, 3);
    CHECK_STR_EQ(rr.sites[0].site, "a.py:2 worst");
    CHECK_STR_EQ(rr.sites[1].site, "a.py:5 tie");
    CHECK_STR_EQ(rr.sites[2].site, "a.py:7 tie");

    /* cut to top; replacing frees the old list */
    v = calloc(n, sizeof(*v));
    CHECK(v != NULL);
    for (i = 0; i < n; i++) {
        v[i].site = strdup(names[i]);
        v[i].seconds = (double)(i + 1);
    }
    aa_rule_result_set_sites(&rr, v, n, 2);
    CHECK_INT_EQ(rr.nsites, 2);
    CHECK_STR_EQ(rr.sites[0].site, "a.py:7 tie");
    CHECK_DBL_NEAR(rr.sites[1].seconds, 6.0, 1e-12);

    /* nothing blocked: no list at all */
    v = calloc(1, sizeof(*v));
    CHECK(v != NULL);
    v[0].site = strdup("a.py:1 idle");
    v[0].seconds = 0.0;
    aa_rule_result_set_sites(&rr, v, 1, AA_TOP_SITES);
    CHECK_INT_EQ(rr.nsites, 0);
    CHECK(rr.sites == NULL);
    aa_rule_result_set_sites(&rr, NULL, 0, AA_TOP_SITES);
    CHECK_INT_EQ(rr.nsites, 0);
    aa_rule_result_clear(&rr);
}

int main(void)
{
    test_names();
    test_status();
    test_exit_codes();
    test_free_populated();
    test_sites();
    return check_report("test_verdict");
}
