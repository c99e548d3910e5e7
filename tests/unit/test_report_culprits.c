/*
 * test_report_culprits.c: culprits in every report format, from one
 * synthetic report of a three-worker service: blocked time (critical on
 * worker 4123, warning on 4124, ok on 4125) and blocking episodes
 * (warning on 4123) sharing a blocking site, a GIL-contention finding
 * blaming another thread, a thread-pool finding blaming a function, and a
 * utilization finding without culprits.  What it proves: each culprit is
 * numbered once per report in the order the findings show them (critical
 * first), findings only refer to it, the user's line comes first with
 * chain, class and hint below it, every breaching worker is named with
 * its value ("worker 4123: 61% blocked"), a site without info (an older
 * probe) shows without chain, class and hint, and outside text (a thread
 * name with markup and an escape character) is escaped in each format.
 * Every expected string is written by hand from docs/cli.md "Culprits"
 * and docs/report-json.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aa/result.h"
#include "check.h"
#include "tool_report.h"
#include "tool_report_culprits.h"

enum { C_BLOCKED, C_EPISODES, C_GIL, C_POOL, C_UTIL, C_N };

#define FX_SITE "app.py:15 refresh_fx_rate"
#define FX_CHAIN                                                              \
    "app.py:15 refresh_fx_rate \xe2\x86\x92 requests.get \xe2\x86\x92 "       \
    "socket.py:706 readinto"
#define FX_HINT                                                               \
    "use an async client (httpx.AsyncClient, aiohttp) or `await "             \
    "asyncio.to_thread(...)`"
#define GIL_THREAD "fx-<refresher>\x1b"

static aa_rule rules[C_N];
static aa_report report;

static void thr(aa_threshold *t, const char *text)
{
    CHECK_INT_EQ(aa_threshold_parse(text, t), AA_OK);
}

static void rule(int i, const char *id, const char *finding,
                 const char *metric, aa_stat stat, const char *stat_text,
                 const char *warning, const char *critical)
{
    rules[i].id = (char *)(uintptr_t)id;
    rules[i].finding = (char *)(uintptr_t)finding;
    rules[i].metric = (char *)(uintptr_t)metric;
    rules[i].stat = stat;
    snprintf(rules[i].stat_text, sizeof(rules[i].stat_text), "%s", stat_text);
    if (warning != NULL) {
        thr(&rules[i].warning, warning);
    }
    if (critical != NULL) {
        thr(&rules[i].critical, critical);
    }
}

/* {instance="api-1", worker=W} plus loop or executor when given. */
static void group(aa_labels *ls, const char *worker, const char *loop,
                  const char *executor)
{
    memset(ls, 0, sizeof(*ls));
    aa_labels_add(ls, "instance", "api-1");
    aa_labels_add(ls, "worker", worker);
    if (loop != NULL) {
        aa_labels_add(ls, "loop", loop);
    }
    if (executor != NULL) {
        aa_labels_add(ls, "executor", executor);
    }
}

static void series(aa_rule_result *rr, double v, aa_verdict verdict,
                   const char *worker, const char *loop, const char *executor)
{
    aa_series_result *s;

    rr->series = realloc(rr->series, (rr->nseries + 1) * sizeof(*s));
    if (rr->series == NULL) {
        abort();
    }
    s = &rr->series[rr->nseries++];
    memset(s, 0, sizeof(*s));
    group(&s->labels, worker, loop, executor);
    s->value = v;
    s->verdict = verdict;
}

/* Appends a culprit found for a group of rr (as the audit does). */
static aa_site *site(aa_rule_result *rr, aa_site_kind kind, const char *where,
                     double seconds, const char *worker, const char *loop,
                     const char *executor)
{
    aa_site *s;

    rr->sites = realloc(rr->sites, (rr->nsites + 1) * sizeof(*s));
    if (rr->sites == NULL) {
        abort();
    }
    s = &rr->sites[rr->nsites++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->site = strdup(where);
    s->seconds = seconds;
    s->share = NAN;
    group(&s->group, worker, loop, executor);
    return s;
}

static void fx(aa_rule_result *rr, double seconds, const char *worker)
{
    aa_site *s =
        site(rr, AA_SITE_BLOCKING, FX_SITE, seconds, worker, NULL, NULL);

    s->chain = strdup(FX_CHAIN);
    s->cls = strdup("http_client");
    s->hint = strdup(FX_HINT);
}

static void finding(aa_rule_result *rr, aa_verdict v, double value,
                    const aa_threshold *crossed)
{
    rr->verdict = v;
    rr->has_value = true;
    rr->value = value;
    rr->crossed = crossed;
}

static void build(void)
{
    aa_rule_result *rr;
    aa_site *s;

    memset(rules, 0, sizeof(rules));
    memset(&report, 0, sizeof(report));
    rule(C_BLOCKED, "event_loop_blocked_time",
         "Event loop blocked by synchronous code",
         "python_asyncio_loop_block_duration_seconds", AA_STAT_SUM_RATE,
         "sum_rate", "> 5%", "> 20%");
    rule(C_EPISODES, "event_loop_blocking_episodes",
         "Frequent blocking episodes",
         "python_asyncio_loop_block_duration_"
         "seconds",
         AA_STAT_RATE, "rate", "> 0.1", "> 1");
    rule(C_GIL, "event_loop_gil_contention",
         "Event loop stalled waiting for the GIL",
         "python_asyncio_loop_gil_wait_duration_seconds", AA_STAT_SUM_RATE,
         "sum_rate", "> 5%", "> 20%");
    rule(C_POOL, "executor_wait", "Thread-pool work waits long",
         "python_asyncio_executor_wait_seconds", AA_STAT_QUANTILE, "p99",
         "> 100ms", "> 1s");
    rule(C_UTIL, "event_loop_utilization", "Event loop close to saturation",
         "python_asyncio_loop_busy_seconds_total", AA_STAT_RATE, "rate",
         "> 70%", "> 90%");

    report.start_ms = 1795686900000;
    report.end_ms = 1795687200000;
    report.target = strdup("http://prom:9090");
    report.mode = strdup("prometheus");
    report.rules = calloc(C_N, sizeof(*report.rules));
    report.nrules = C_N;
    if (report.rules == NULL) {
        abort();
    }
    for (int i = 0; i < C_N; i++) {
        report.rules[i].rule = &rules[i];
        report.rules[i].value = NAN;
    }

    rr = &report.rules[C_BLOCKED];
    finding(rr, AA_VERDICT_CRITICAL, 0.61, &rules[C_BLOCKED].critical);
    series(rr, 0.61, AA_VERDICT_CRITICAL, "4123", NULL, NULL);
    series(rr, 0.07, AA_VERDICT_WARNING, "4124", NULL, NULL);
    series(rr, 0.01, AA_VERDICT_OK, "4125", NULL, NULL);
    fx(rr, 12.5, "4123");
    /* no info series for this one: an older probe */
    site(rr, AA_SITE_BLOCKING, "app.py:31 render_report", 2.0, "4123", NULL,
         NULL);
    fx(rr, 3.0, "4124");

    rr = &report.rules[C_EPISODES];
    finding(rr, AA_VERDICT_WARNING, 0.5, &rules[C_EPISODES].warning);
    series(rr, 0.5, AA_VERDICT_WARNING, "4123", NULL, NULL);
    fx(rr, 12.5, "4123");

    rr = &report.rules[C_GIL];
    finding(rr, AA_VERDICT_WARNING, 0.08, &rules[C_GIL].warning);
    series(rr, 0.08, AA_VERDICT_WARNING, "4123", "main", NULL);
    s = site(rr, AA_SITE_GIL_HOLDER, "jobs.py:40 recompute", 24.0, "4123",
             "main", NULL);
    s->thread = strdup(GIL_THREAD);
    s->cls = strdup("cpu");
    s->hint = strdup("move CPU work to a process pool");

    rr = &report.rules[C_POOL];
    finding(rr, AA_VERDICT_WARNING, 0.25, &rules[C_POOL].warning);
    series(rr, 0.25, AA_VERDICT_WARNING, "4123", NULL, "anyio");
    s = site(rr, AA_SITE_POOL_FUNCTION, "app.py:12", 30.5, "4123", NULL,
             "anyio");
    s->executor = strdup("anyio");
    s->function = strdup("invoices");
    s->share = 0.61;

    rr = &report.rules[C_UTIL];
    finding(rr, AA_VERDICT_CRITICAL, 0.95, &rules[C_UTIL].critical);
    series(rr, 0.95, AA_VERDICT_CRITICAL, "4123", NULL, NULL);

    report.status = aa_report_status(&report);
}

typedef int (*writer)(const tool_config *, const aa_report *, FILE *);

static char *render(writer fn)
{
    tool_config cfg;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    memset(&cfg, 0, sizeof(cfg));
    CHECK(fp != NULL);
    if (fp == NULL) {
        return strdup("");
    }
    CHECK_INT_EQ(fn(&cfg, &report, fp), 0);
    fclose(fp);
    return buf;
}

/* The text from the first occurrence of from up to the next until, its
 * first character included (or the end), malloc'd; "" when from is
 * absent. */
static char *slice(const char *s, const char *from, const char *until)
{
    const char *a = strstr(s, from), *b;

    if (a == NULL) {
        return strdup("");
    }
    b = strstr(a + strlen(from), until);
    return strndup(a, b != NULL ? (size_t)(b - a) + 1 : strlen(a));
}

static void test_model(void)
{
    tool_culprits cs = {NULL, 0};
    aa_series_result plain;
    char b[256];

    CHECK_INT_EQ(tool_culprits_collect(&report, &cs), AA_OK);
    /* critical rules first (blocked time: fx, render_report; utilization:
     * none), then warnings in rule order (episodes: fx again; GIL; pool) */
    CHECK_INT_EQ(cs.n, 4);
    if (cs.n == 4) {
        CHECK_STR_EQ(cs.v[0].s->site, FX_SITE);
        CHECK_INT_EQ(cs.v[0].ngroups, 2);
        CHECK_INT_EQ(cs.v[0].nrules, 2);
        CHECK_INT_EQ(cs.v[0].groups[0].nrules, 2); /* 4123: both rules */
        CHECK_INT_EQ(cs.v[0].groups[1].nrules, 1); /* 4124: blocked time */
        CHECK_DBL_NEAR(cs.v[0].groups[1].seconds, 3.0, 1e-12);
        CHECK_DBL_NEAR(cs.v[0].seconds, 12.5, 1e-12);
        CHECK_STR_EQ(cs.v[1].s->site, "app.py:31 render_report");
        CHECK(cs.v[1].chain == NULL && cs.v[1].hint == NULL);
        CHECK_INT_EQ(cs.v[2].s->kind, AA_SITE_GIL_HOLDER);
        CHECK_INT_EQ(cs.v[3].s->kind, AA_SITE_POOL_FUNCTION);
        CHECK_INT_EQ(
            tool_culprits_find(&cs, &report.rules[C_EPISODES].sites[0]), 0);
    }
    tool_culprits_free(&cs);

    CHECK_STR_EQ(
        tool_culprit_title(&report.rules[C_POOL].sites[0], b, sizeof(b)),
        "invoices at app.py:12 (pool anyio)");
    CHECK_STR_EQ(
        tool_culprit_amount(AA_SITE_POOL_FUNCTION, 30.5, NAN, b, sizeof(b)),
        "30.5s of pool time");
    CHECK_STR_EQ(
        tool_culprit_amount(AA_SITE_GIL_HOLDER, 0.25, NAN, b, sizeof(b)),
        "250ms of GIL wait");
    CHECK_STR_EQ(
        tool_fmt_group(&report.rules[C_GIL].series[0].labels, b, sizeof(b)),
        "worker 4123, loop main");
    /* share_above(X) says of what above X */
    {
        aa_rule lag;
        aa_rule_result rr;
        aa_series_result ws;

        memset(&lag, 0, sizeof(lag));
        memset(&rr, 0, sizeof(rr));
        memset(&ws, 0, sizeof(ws));
        lag.id = (char *)(uintptr_t) "starvation";
        lag.metric = (char *)(uintptr_t) "python_asyncio_loop_lag_seconds";
        lag.stat = AA_STAT_SHARE_ABOVE;
        lag.above = 0.0625;
        snprintf(lag.stat_text, sizeof(lag.stat_text), "share_above(62.5ms)");
        thr(&lag.warning, "> 5%");
        rr.rule = &lag;
        ws.labels = report.rules[C_BLOCKED].series[0].labels;
        ws.value = 0.12;
        ws.verdict = AA_VERDICT_WARNING;
        CHECK(tool_fmt_worker_breach(&rr, &ws, b, sizeof(b)));
        CHECK_STR_EQ(b, "worker 4123: 12% of loop lag above 62.5ms");
    }
    /* a group without a worker label is no worker breach */
    memset(&plain, 0, sizeof(plain));
    plain.value = 0.5;
    plain.verdict = AA_VERDICT_WARNING;
    CHECK(!tool_fmt_worker_breach(&report.rules[C_BLOCKED], &plain, b,
                                  sizeof(b)));
}

static void test_text(void)
{
    char *s = render(tool_report_text), *part;

    part = slice(s, "- Event loop blocked by synchronous code\n", "\n- ");
    CHECK_STR_CONTAINS(part, "    breached:  worker 4123: 61% blocked\n"
                             "               worker 4124: 7% blocked\n"
                             "    culprits:  #1 " FX_SITE
                             " (worker 4123, worker 4124)\n"
                             "               #2 app.py:31 render_report "
                             "(worker 4123)\n");
    CHECK(strstr(part, "4125:") == NULL); /* ok workers are not breaches */
    free(part);
    part = slice(s, "- Event loop close to saturation\n", "\n- ");
    CHECK_STR_CONTAINS(part, "    breached:  worker 4123: 95% busy\n");
    CHECK(strstr(part, "culprits:") == NULL);
    free(part);
    CHECK_STR_CONTAINS(s, "    breached:  worker 4123: 0.5 blocking "
                          "episodes/s\n"
                          "    culprits:  #1 " FX_SITE " (worker 4123)\n");
    CHECK_STR_CONTAINS(s, "    culprits:  #4 invoices at app.py:12 (pool "
                          "anyio) (worker 4123)\n");
    CHECK_STR_CONTAINS(
        s, "\nCulprits:\n"
           "#1 " FX_SITE "\n"
           "    chain:     " FX_CHAIN "\n"
           "    class:     http_client\n"
           "    hint:      " FX_HINT "\n"
           "    explains:  worker 4123: 12.5s blocked "
           "(event_loop_blocked_time, event_loop_blocking_episodes)\n"
           "               worker 4124: 3s blocked (event_loop_blocked_time)\n"
           "#2 app.py:31 render_report\n"
           "    explains:  worker 4123: 2s blocked (event_loop_blocked_time)\n"
           "#3 jobs.py:40 recompute in thread fx-<refresher>?\n"
           "    class:     cpu\n"
           "    hint:      move CPU work to a process pool\n"
           "    explains:  worker 4123, loop main: 24s of GIL wait "
           "(event_loop_gil_contention)\n"
           "#4 invoices at app.py:12 (pool anyio)\n"
           "    explains:  worker 4123: 61% of pool time, 30.5s "
           "(executor_wait)\n"
           "\nRules:\n");
    /* each culprit's details once per report */
    CHECK(strstr(strstr(s, FX_HINT) + 1, FX_HINT) == NULL);
    CHECK(strchr(s, '\x1b') == NULL);
    free(s);
}

static void test_json(void)
{
    json_error_t err;
    char *s = render(tool_report_json);
    json_t *root = json_loads(s, 0, &err), *cs, *c, *g, *sites, *x;

    CHECK(root != NULL);
    if (root == NULL) {
        free(s);
        return;
    }
    cs = json_object_get(root, "culprits");
    CHECK_INT_EQ(json_array_size(cs), 4);
    c = json_array_get(cs, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(c, "site")), FX_SITE);
    CHECK_STR_EQ(json_string_value(json_object_get(c, "kind")), "blocking");
    CHECK_STR_EQ(json_string_value(json_object_get(c, "chain")), FX_CHAIN);
    CHECK_STR_EQ(json_string_value(json_object_get(c, "class")),
                 "http_client");
    CHECK_STR_EQ(json_string_value(json_object_get(c, "hint")), FX_HINT);
    CHECK_DBL_NEAR(json_number_value(json_object_get(c, "seconds")), 12.5,
                   1e-12);
    CHECK_STR_EQ(
        json_string_value(json_array_get(json_object_get(c, "rules"), 1)),
        "event_loop_blocking_episodes");
    g = json_array_get(json_object_get(c, "groups"), 1);
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_object_get(g, "labels"), "worker")),
                 "4124");
    CHECK_DBL_NEAR(json_number_value(json_object_get(g, "seconds")), 3.0,
                   1e-12);
    CHECK_INT_EQ(json_array_size(json_object_get(g, "rules")), 1);
    c = json_array_get(cs, 1);
    CHECK(json_is_null(json_object_get(c, "chain")));
    CHECK(json_is_null(json_object_get(c, "hint")));
    c = json_array_get(cs, 2);
    CHECK_STR_EQ(json_string_value(json_object_get(c, "kind")), "gil_holder");
    CHECK_STR_EQ(json_string_value(json_object_get(c, "thread")), GIL_THREAD);
    c = json_array_get(cs, 3);
    CHECK_STR_EQ(json_string_value(json_object_get(c, "kind")),
                 "pool_function");
    CHECK_STR_EQ(json_string_value(json_object_get(c, "function")),
                 "invoices");
    CHECK_STR_EQ(json_string_value(json_object_get(c, "executor")), "anyio");
    CHECK_DBL_NEAR(
        json_number_value(json_object_get(
            json_array_get(json_object_get(c, "groups"), 0), "share")),
        0.61, 1e-12);

    x = json_object_get(
        json_array_get(json_object_get(root, "rules"), C_BLOCKED), "breaches");
    CHECK_INT_EQ(json_array_size(x), 2);
    CHECK_STR_EQ(json_string_value(json_array_get(x, 1)),
                 "worker 4124: 7% blocked");
    x = json_object_get(json_array_get(json_object_get(root, "rules"), C_GIL),
                        "breaches");
    CHECK_STR_EQ(json_string_value(json_array_get(x, 0)),
                 "worker 4123, loop main: 8% waiting for the GIL");
    sites = json_object_get(
        json_array_get(json_object_get(root, "rules"), C_BLOCKED), "sites");
    CHECK_INT_EQ(json_array_size(sites), 3);
    x = json_array_get(sites, 2);
    CHECK_STR_EQ(json_string_value(json_object_get(x, "site")), FX_SITE);
    CHECK_STR_EQ(json_string_value(json_object_get(x, "hint")), FX_HINT);
    CHECK_STR_EQ(json_string_value(
                     json_object_get(json_object_get(x, "labels"), "worker")),
                 "4124");
    CHECK_INT_EQ(json_integer_value(json_object_get(x, "culprit")), 0);
    CHECK_INT_EQ(json_integer_value(
                     json_object_get(json_array_get(sites, 1), "culprit")),
                 1);
    CHECK(json_is_null(json_object_get(json_array_get(sites, 1), "share")));
    CHECK_INT_EQ(
        json_array_size(json_object_get(
            json_array_get(json_object_get(root, "rules"), C_UTIL), "sites")),
        0);
    json_decref(root);
    free(s);
}

static void test_junit(void)
{
    char *s = render(tool_report_junit);

    CHECK_STR_CONTAINS(s,
                       "; worker 4123: 61% blocked; worker 4124: 7% "
                       "blocked; culprit " FX_SITE " (hint: " FX_HINT ")\">");
    CHECK_STR_CONTAINS(s, "culprit #1 " FX_SITE "\n"
                          "  worker 4123: 12.5s blocked\n"
                          "  worker 4124: 3s blocked\n"
                          "  chain: " FX_CHAIN "\n"
                          "  class: http_client\n"
                          "  hint: " FX_HINT "\n"
                          "culprit #2 app.py:31 render_report\n"
                          "  worker 4123: 2s blocked\n"
                          "</failure>");
    CHECK_STR_CONTAINS(s, "culprit #3 jobs.py:40 recompute in thread "
                          "fx-&lt;refresher&gt;?\n");
    CHECK(strchr(s, '\x1b') == NULL);
    free(s);
}

static void test_markdown(void)
{
    char *s = render(tool_report_markdown);

    CHECK_STR_CONTAINS(s, "\n  - worker 4123: 61% blocked\n"
                          "  - worker 4124: 7% blocked\n"
                          "  - culprit #1 `" FX_SITE
                          "` (worker 4123, worker 4124)\n"
                          "  - culprit #2 `app.py:31 render_report` (worker "
                          "4123)\n");
    CHECK_STR_CONTAINS(
        s, "### Culprits\n\n"
           "1. `" FX_SITE "`\n"
           "   - chain: `" FX_CHAIN "`\n"
           "   - class: http\\_client\n"
           "   - hint: use an async client (httpx.AsyncClient, aiohttp) or "
           "\\`await asyncio.to\\_thread(...)\\`\n"
           "   - worker 4123: 12.5s blocked (`event_loop_blocked_time`, "
           "`event_loop_blocking_episodes`)\n"
           "   - worker 4124: 3s blocked (`event_loop_blocked_time`)\n"
           "2. `app.py:31 render_report`\n");
    CHECK_STR_CONTAINS(s, "3. `jobs.py:40 recompute in thread "
                          "fx-<refresher>?`\n");
    CHECK(strchr(s, '\x1b') == NULL);
    free(s);
}

static void test_github(void)
{
    char *s = render(tool_report_github);

    CHECK_STR_CONTAINS(s, "%0Aworker 4123: 61%25 blocked%0Aworker 4124: "
                          "7%25 blocked%0Aculprit " FX_SITE
                          " (worker 4123: 12.5s blocked, worker 4124: 3s "
                          "blocked)%0Ahint: " FX_HINT
                          "%0Aculprit app.py:31 render_report (worker 4123: "
                          "2s blocked)\n");
    CHECK_STR_CONTAINS(s, "%0Aculprit jobs.py:40 recompute in thread "
                          "fx-<refresher>? (worker 4123, loop main: 24s of "
                          "GIL wait)%0Ahint: move CPU work to a process "
                          "pool\n");
    CHECK(strchr(s, '\x1b') == NULL);
    free(s);
}

static void test_html(void)
{
    char *s = render(tool_report_html), *part;

    part = slice(s, "data-rule=\"event_loop_blocked_time\"", "</article>");
    CHECK_STR_CONTAINS(part, "<ul class=\"breaches\">\n"
                             "<li>worker 4123: 61% blocked</li>\n"
                             "<li>worker 4124: 7% blocked</li>\n</ul>\n");
    CHECK_STR_CONTAINS(part, "<li><a href=\"#culprit-1\">#1</a> <code "
                             "class=\"site\">" FX_SITE
                             "</code> (worker 4123, worker 4124)</li>\n");
    free(part);
    part = slice(s, "data-rule=\"event_loop_utilization\"", "</article>");
    CHECK(part[0] != '\0');
    CHECK(strstr(part, "culprit") == NULL);
    free(part);
    CHECK_STR_CONTAINS(s, "<section id=\"culprits\">\n<h2>Culprits</h2>\n");
    CHECK_STR_CONTAINS(
        s, "<article class=\"culprit\" id=\"culprit-1\" "
           "data-kind=\"blocking\">\n<h3>#1 <code class=\"site\">" FX_SITE
           "</code></h3>\n<p class=\"chain\">chain: <code>" FX_CHAIN
           "</code></p>\n<p class=\"class\">class: http_client</p>\n"
           "<p class=\"hint\">hint: " FX_HINT "</p>\n");
    CHECK_STR_CONTAINS(s, "<tr><td>worker 4124</td><td class=\"num\">3s "
                          "blocked</td><td><code>event_loop_blocked_time"
                          "</code></td></tr>\n");
    CHECK_STR_CONTAINS(s, "<h3>#3 <code class=\"site\">jobs.py:40 recompute "
                          "in thread fx-&lt;refresher&gt;?</code></h3>");
    CHECK(strstr(s, "<refresher>") == NULL);
    free(s);
}

int main(void)
{
    build();
    test_model();
    test_text();
    test_json();
    test_junit();
    test_markdown();
    test_github();
    test_html();
    for (size_t i = 0; i < report.nrules; i++) {
        aa_rule_result_clear(&report.rules[i]);
    }
    free(report.rules);
    free(report.target);
    free(report.mode);
    return check_report("test_report_culprits");
}
