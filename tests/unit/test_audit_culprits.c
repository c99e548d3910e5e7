/*
 * test_audit_culprits.c: the culprits the audit attaches
 * (src/auditor/tool_audit_sites.c), over the local backend and a store of
 * a three-worker service filled by hand in the probe's series shapes
 * (docs/probe.md): each breaching worker gets its own blocking sites and
 * an ok worker none; a site's chain, class and hint come from
 * python_asyncio_block_site_info joined on worker and site, and a site
 * without info (an older probe) keeps its line without them; the GIL rule
 * gets the holder thread and its line; the pool rule gets functions with
 * their share of that pool's run time (another pool of the same worker,
 * and the probe's function="other", count only where they belong); the
 * utilization rule gets none although sites exist.  Values are linear
 * counters, so increases and shares are exact by hand.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/result.h"
#include "aa/rules.h"
#include "aa/tsdb.h"
#include "check.h"
#include "tool_audit.h"
#include "tool_backend.h"
#include "tool_cfg.h"

/* The pinned end of every audit here: 2026-11-26T10:00:00Z. */
#define END_MS ((int64_t)1795687200000)
#define WINDOW_MS ((int64_t)60000)
#define STEP_MS ((int64_t)15000)

#define FX "app.py:15 refresh_fx_rate"
#define FX_CHAIN "app.py:15 refresh_fx_rate -> requests.get"
#define FX_HINT "use an async client"

/* A series of name (family, type) with the label pairs given (NULL
 * ended), growing by slope per second from 0 at the window's start (or
 * constant at slope when gauge). */
static void put(aa_tsdb *db, const char *name, const char *family,
                aa_expo_type type, double slope, ...)
{
    aa_labels ls = {NULL, 0};
    const char *k, *v;
    va_list ap;
    size_t id;

    CHECK_INT_EQ(aa_labels_add(&ls, "__name__", name), AA_OK);
    CHECK_INT_EQ(aa_labels_add(&ls, "instance", "api-1:9464"), AA_OK);
    va_start(ap, slope);
    while ((k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        CHECK_INT_EQ(aa_labels_add(&ls, k, v), AA_OK);
    }
    va_end(ap);
    CHECK_INT_EQ(aa_tsdb_series(db, &ls, family, &id), AA_OK);
    CHECK_INT_EQ(aa_tsdb_set_type(db, family, type), AA_OK);
    for (int64_t t = END_MS - WINDOW_MS; t <= END_MS; t += STEP_MS) {
        double secs = (double)(t - (END_MS - WINDOW_MS)) / 1000.0;

        CHECK_INT_EQ(
            aa_tsdb_append(db, id, t,
                           type == AA_EXPO_GAUGE ? slope : slope * secs),
            AA_OK);
    }
    aa_labels_clear(&ls);
}

static void block(aa_tsdb *db, const char *worker, double frac)
{
    put(db, "python_asyncio_loop_block_duration_seconds_sum",
        "python_asyncio_loop_block_duration_seconds", AA_EXPO_HISTOGRAM, frac,
        "worker", worker, NULL);
}

static void site(aa_tsdb *db, const char *worker, const char *where,
                 double slope)
{
    put(db, "python_asyncio_block_site_seconds_total",
        "python_asyncio_block_site_seconds", AA_EXPO_COUNTER, slope, "worker",
        worker, "site", where, NULL);
}

static void fx_info(aa_tsdb *db, const char *worker)
{
    put(db, "python_asyncio_block_site_info", "python_asyncio_block_site_info",
        AA_EXPO_GAUGE, 1.0, "worker", worker, "site", FX, "chain", FX_CHAIN,
        "class", "http_client", "hint", FX_HINT, NULL);
}

static void pool_fn(aa_tsdb *db, const char *executor, const char *function,
                    const char *where, double slope)
{
    if (where != NULL) {
        put(db, "python_asyncio_executor_function_run_seconds_total",
            "python_asyncio_executor_function_run_seconds", AA_EXPO_COUNTER,
            slope, "worker", "4123", "executor", executor, "function",
            function, "site", where, NULL);
    } else {
        put(db, "python_asyncio_executor_function_run_seconds_total",
            "python_asyncio_executor_function_run_seconds", AA_EXPO_COUNTER,
            slope, "worker", "4123", "executor", executor, "function",
            function, NULL);
    }
}

static aa_tsdb *make_store(void)
{
    aa_tsdb *db = NULL;

    CHECK_INT_EQ(aa_tsdb_new(&db), AA_OK);
    /* blocked 60% (critical), 10% (warning), 1% (ok) */
    block(db, "4123", 0.6);
    block(db, "4124", 0.1);
    block(db, "4125", 0.01);
    site(db, "4123", FX, 0.25);
    site(db, "4123", "app.py:31 render_report", 0.05);
    site(db, "4124", FX, 0.05);
    site(db, "4124", "app.py:50 query_db", 0.02);
    site(db, "4125", FX, 0.01);
    fx_info(db, "4123");
    fx_info(db, "4124");
    /* 4123's loop waits for the GIL 10% of the time, held by a thread */
    put(db, "python_asyncio_loop_gil_wait_duration_seconds_sum",
        "python_asyncio_loop_gil_wait_duration_seconds", AA_EXPO_HISTOGRAM,
        0.1, "worker", "4123", NULL);
    put(db, "python_asyncio_gil_holder_seconds_total",
        "python_asyncio_gil_holder_seconds", AA_EXPO_COUNTER, 0.1, "worker",
        "4123", "thread", "fx-refresher", "site", "jobs.py:40 recompute",
        NULL);
    put(db, "python_asyncio_gil_holder_info", "python_asyncio_gil_holder_info",
        AA_EXPO_GAUGE, 1.0, "worker", "4123", "thread", "fx-refresher", "site",
        "jobs.py:40 recompute", "chain", "jobs.py:40 recompute -> json.dumps",
        "class", "serialization", "hint", "move it to a process pool", NULL);
    /* 4123's anyio pool: 50 pending; its run time 0.6 invoices, 0.2
     * render_pdf, 0.2 other; the default pool is idle but busy */
    put(db, "python_asyncio_executor_pending",
        "python_asyncio_executor_pending", AA_EXPO_GAUGE, 50.0, "worker",
        "4123", "executor", "anyio", NULL);
    put(db, "python_asyncio_executor_pending",
        "python_asyncio_executor_pending", AA_EXPO_GAUGE, 0.0, "worker",
        "4123", "executor", "default", NULL);
    pool_fn(db, "anyio", "invoices", "app.py:12", 0.6);
    pool_fn(db, "anyio", "render_pdf", "app.py:30", 0.2);
    pool_fn(db, "anyio", "other", NULL, 0.2);
    pool_fn(db, "default", "crunch", "a.py:1", 0.5);
    /* 4123's loop is 95% busy */
    put(db, "python_asyncio_loop_busy_seconds_total",
        "python_asyncio_loop_busy_seconds", AA_EXPO_COUNTER, 0.95, "worker",
        "4123", NULL);
    return db;
}

static const char rules_yaml[] =
    "version: 1\n"
    "rules:\n"
    "  - id: blocked\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_block_duration_seconds\n"
    "    stat: sum_rate\n"
    "    by: [instance, worker, loop]\n"
    "    warning: \"> 5%\"\n"
    "    critical: \"> 20%\"\n"
    "  - id: gil\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_gil_wait_duration_seconds\n"
    "    stat: sum_rate\n"
    "    by: [instance, worker, loop]\n"
    "    warning: \"> 5%\"\n"
    "  - id: depth\n"
    "    finding: f\n"
    "    metric: python_asyncio_executor_pending\n"
    "    stat: max\n"
    "    by: [instance, worker, executor]\n"
    "    warning: \"> 10\"\n"
    "  - id: util\n"
    "    finding: f\n"
    "    metric: python_asyncio_loop_busy_seconds_total\n"
    "    stat: rate\n"
    "    by: [instance, worker, loop]\n"
    "    warning: \"> 70%\"\n"
    "    critical: \"> 90%\"\n";

static const char *label(const aa_site *s, const char *name)
{
    const char *v = aa_labels_get(&s->group, name);

    return v != NULL ? v : "(none)";
}

static void test_culprits(void)
{
    tool_config cfg;
    aa_tsdb *db = make_store();
    aa_ruleset *rs = NULL;
    aa_diag d;
    aa_report *r = calloc(1, sizeof(*r));
    tool_backend *b = NULL;
    const aa_rule_result *rr;
    bool config = true, incomplete = true;

    CHECK_INT_EQ(aa_ruleset_load_buffer("t.yaml", rules_yaml,
                                        strlen(rules_yaml), &rs, &d),
                 AA_OK);
    memset(&cfg, 0, sizeof(cfg));
    cfg.verbosity = -1;
    r->rules = calloc(rs->nrules, sizeof(*r->rules));
    r->nrules = rs->nrules;
    CHECK_INT_EQ(tool_backend_local_new(db, STEP_MS, NULL, &b), AA_OK);
    CHECK_INT_EQ(tool_audit_run(&cfg, rs, b, END_MS, WINDOW_MS, r, &config,
                                &incomplete),
                 AA_OK);
    CHECK(!config && !incomplete);

    /* blocked: 4123 critical, 4124 warning, 4125 ok: the two breaching
     * workers' sites, each worst first, and none of 4125's */
    rr = &r->rules[0];
    CHECK_INT_EQ(rr->verdict, AA_VERDICT_CRITICAL);
    CHECK_INT_EQ(rr->nsites, 4);
    if (rr->nsites == 4) {
        CHECK_STR_EQ(rr->sites[0].site, FX);
        CHECK_STR_EQ(label(&rr->sites[0], "worker"), "4123");
        CHECK_DBL_NEAR(rr->sites[0].seconds, 15.0, 1e-9);
        CHECK_STR_EQ(rr->sites[0].chain, FX_CHAIN);
        CHECK_STR_EQ(rr->sites[0].cls, "http_client");
        CHECK_STR_EQ(rr->sites[0].hint, FX_HINT);
        CHECK_INT_EQ(rr->sites[0].kind, AA_SITE_BLOCKING);
        CHECK_STR_EQ(rr->sites[1].site, "app.py:31 render_report");
        CHECK_DBL_NEAR(rr->sites[1].seconds, 3.0, 1e-9);
        CHECK(rr->sites[1].chain == NULL && rr->sites[1].cls == NULL &&
              rr->sites[1].hint == NULL);
        CHECK_STR_EQ(rr->sites[2].site, FX);
        CHECK_STR_EQ(label(&rr->sites[2], "worker"), "4124");
        CHECK_DBL_NEAR(rr->sites[2].seconds, 3.0, 1e-9);
        CHECK_STR_EQ(rr->sites[2].hint, FX_HINT);
        CHECK_STR_EQ(rr->sites[3].site, "app.py:50 query_db");
        CHECK_STR_EQ(label(&rr->sites[3], "worker"), "4124");
        CHECK(rr->sites[3].hint == NULL);
    }

    /* gil: the holder thread and its line, with its own info */
    rr = &r->rules[1];
    CHECK_INT_EQ(rr->verdict, AA_VERDICT_WARNING);
    CHECK_INT_EQ(rr->nsites, 1);
    if (rr->nsites == 1) {
        CHECK_INT_EQ(rr->sites[0].kind, AA_SITE_GIL_HOLDER);
        CHECK_STR_EQ(rr->sites[0].site, "jobs.py:40 recompute");
        CHECK_STR_EQ(rr->sites[0].thread, "fx-refresher");
        CHECK_STR_EQ(rr->sites[0].cls, "serialization");
        CHECK_STR_EQ(rr->sites[0].hint, "move it to a process pool");
        CHECK_DBL_NEAR(rr->sites[0].seconds, 6.0, 1e-9);
    }

    /* depth: anyio breaches; its functions by share of anyio's run time
     * (0.6 and 0.2 of 1.0: "other" counts, the default pool does not) */
    rr = &r->rules[2];
    CHECK_INT_EQ(rr->verdict, AA_VERDICT_WARNING);
    CHECK_INT_EQ(rr->nsites, 2);
    if (rr->nsites == 2) {
        CHECK_INT_EQ(rr->sites[0].kind, AA_SITE_POOL_FUNCTION);
        CHECK_STR_EQ(rr->sites[0].function, "invoices");
        CHECK_STR_EQ(rr->sites[0].site, "app.py:12");
        CHECK_STR_EQ(rr->sites[0].executor, "anyio");
        CHECK_STR_EQ(label(&rr->sites[0], "executor"), "anyio");
        CHECK_DBL_NEAR(rr->sites[0].seconds, 36.0, 1e-9);
        CHECK_DBL_NEAR(rr->sites[0].share, 0.6, 1e-9);
        CHECK_STR_EQ(rr->sites[1].function, "render_pdf");
        CHECK_DBL_NEAR(rr->sites[1].share, 0.2, 1e-9);
    }

    /* util: critical, and no culprits although 4123 has blocking sites */
    rr = &r->rules[3];
    CHECK_INT_EQ(rr->verdict, AA_VERDICT_CRITICAL);
    CHECK_INT_EQ(rr->nsites, 0);

    tool_backend_free(b);
    aa_report_free(r);
    aa_ruleset_free(rs);
    aa_tsdb_free(db);
}

int main(void)
{
    test_culprits();
    return check_report("test_audit_culprits");
}
