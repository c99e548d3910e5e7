/*
 * test_reports.c: the CLI's report writers (src/auditor/tool_report*.c)
 * rendered from one synthetic report with every verdict: the text layout
 * of contract §6, units, colour on and off, the JSON schema read back
 * with jansson, JUnit counts and XML escaping, Markdown and GitHub
 * escaping, and atomic report files.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "aa/result.h"
#include "check.h"
#include "tool_report.h"

enum { R_LAG, R_FRAC, R_NODATA, R_ERROR, R_SKIPPED, NRULES };

static aa_rule rules[NRULES];
static aa_report report;

static void thr(aa_threshold *t, const char *text)
{
    CHECK_INT_EQ(aa_threshold_parse(text, t), AA_OK);
}

static void add_series(aa_rule_result *rr, const char *instance, double v,
                       aa_verdict verdict)
{
    aa_series_result *s;

    rr->series = realloc(rr->series, (rr->nseries + 1) * sizeof(*s));
    if (rr->series == NULL) {
        abort();
    }
    s = &rr->series[rr->nseries++];
    memset(s, 0, sizeof(*s));
    aa_labels_add(&s->labels, "instance", instance);
    s->value = v;
    s->verdict = verdict;
}

static void build(void)
{
    aa_rule_result *rr;
    size_t i;

    memset(rules, 0, sizeof(rules));
    memset(&report, 0, sizeof(report));

    rules[R_LAG].id = "lag";
    rules[R_LAG].finding = "Event-loop starvation detected";
    rules[R_LAG].metric = "python_asyncio_loop_lag_seconds";
    rules[R_LAG].stat = AA_STAT_QUANTILE;
    snprintf(rules[R_LAG].stat_text, sizeof(rules[R_LAG].stat_text), "p99");
    thr(&rules[R_LAG].warning, "> 50ms");
    thr(&rules[R_LAG].critical, "> 250ms");
    rules[R_FRAC].id = "blocked";
    rules[R_FRAC].finding = "Blocked | often";
    thr(&rules[R_FRAC].warning, "> 5%");
    rules[R_NODATA].id = "backlog";
    rules[R_NODATA].finding = "Backlog";
    thr(&rules[R_NODATA].critical, "< 1");
    rules[R_ERROR].id = "raw";
    rules[R_ERROR].finding = "Raw query";
    rules[R_ERROR].query = "sum(rate(x[$window]))";
    thr(&rules[R_ERROR].critical, "> 1");
    rules[R_SKIPPED].id = "quiet";
    rules[R_SKIPPED].finding = "Quiet";
    rules[R_SKIPPED].no_data = AA_NODATA_OK;
    thr(&rules[R_SKIPPED].critical, "> 1");

    report.start_ms = 1795686900000;
    report.end_ms = 1795687200000;
    report.target = strdup("http://prom:9090");
    report.mode = strdup("prometheus");
    report.step_ms = 15000;
    report.rules = calloc(NRULES, sizeof(*report.rules));
    report.nrules = NRULES;
    if (report.rules == NULL) {
        abort();
    }
    for (i = 0; i < NRULES; i++) {
        report.rules[i].rule = &rules[i];
        report.rules[i].value = NAN;
    }

    rr = &report.rules[R_LAG];
    rr->verdict = AA_VERDICT_CRITICAL;
    rr->has_value = true;
    rr->value = 0.4;
    rr->crossed = &rules[R_LAG].critical;
    rr->query = strdup("histogram_quantile(0.99, ...)");
    add_series(rr, "api-1", 0.4, AA_VERDICT_CRITICAL);
    add_series(rr, "api-2", 0.02, AA_VERDICT_OK);
    rr->sites = calloc(1, sizeof(*rr->sites));
    rr->sites[0].site = strdup("app.py:42 handler");
    rr->sites[0].seconds = 1.5;
    rr->sites[0].share = NAN;
    aa_labels_add(&rr->sites[0].group, "instance", "api-1");
    rr->nsites = 1;

    rr = &report.rules[R_FRAC];
    rr->verdict = AA_VERDICT_OK;
    rr->has_value = true;
    rr->value = 0.0125;
    add_series(rr, "a|b", 0.0125, AA_VERDICT_OK);

    rr = &report.rules[R_NODATA];
    rr->verdict = AA_VERDICT_NO_DATA;
    rr->message = strdup("metric x has no series; is the probe installed?");

    rr = &report.rules[R_ERROR];
    rr->verdict = AA_VERDICT_ERROR;
    rr->message = strdup("a<b>&\"c' 100%\nnext, then: x\x01");
    rr->warnings = calloc(1, sizeof(char *));
    rr->warnings[0] = strdup("partial answer");
    rr->nwarnings = 1;

    rr = &report.rules[R_SKIPPED];
    rr->verdict = AA_VERDICT_OK;
    rr->message = strdup("no series in the window");

    report.status = aa_report_status(&report);
}

typedef int (*writer)(const tool_config *, const aa_report *, FILE *);

/* Renders with fn into a malloc'd string. */
static char *render(writer fn, const tool_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    CHECK(fp != NULL);
    if (fp == NULL) {
        return strdup("");
    }
    CHECK_INT_EQ(fn(cfg, &report, fp), 0);
    fclose(fp);
    return buf;
}

static void test_helpers(void)
{
    char b[64];

    CHECK_STR_EQ(tool_fmt_seconds(0.12, b, sizeof(b)), "120ms");
    CHECK_STR_EQ(tool_fmt_seconds(0.0005, b, sizeof(b)), "500\xC2\xB5s");
    CHECK_STR_EQ(tool_fmt_seconds(1.5, b, sizeof(b)), "1.5s");
    CHECK_STR_EQ(tool_fmt_seconds(0, b, sizeof(b)), "0s");
    CHECK_STR_EQ(tool_fmt_seconds(INFINITY, b, sizeof(b)), "+Inf");
    CHECK_STR_EQ(tool_fmt_unit(TOOL_UNIT_SECONDS, 0.25, b, sizeof(b)),
                 "250ms");
    CHECK_STR_EQ(tool_fmt_unit(TOOL_UNIT_PERCENT, 0.125, b, sizeof(b)),
                 "12.5%");
    CHECK_STR_EQ(tool_fmt_unit(TOOL_UNIT_PERCENT, NAN, b, sizeof(b)), "NaN");
    CHECK_STR_EQ(tool_fmt_unit(TOOL_UNIT_NONE, 42, b, sizeof(b)), "42");
    CHECK_STR_EQ(tool_fmt_number(NAN, b, sizeof(b)), "NaN");
    CHECK_STR_EQ(tool_fmt_number(-INFINITY, b, sizeof(b)), "-Inf");
    CHECK_STR_EQ(tool_fmt_number(42, b, sizeof(b)), "42");
    CHECK_STR_EQ(tool_fmt_number(123456, b, sizeof(b)), "123456");
    CHECK_STR_EQ(tool_fmt_number(0.000123, b, sizeof(b)), "0.000123");
    CHECK_STR_EQ(tool_fmt_value(&rules[R_LAG], 0.4, b, sizeof(b)), "400ms");
    CHECK_STR_EQ(tool_fmt_value(&rules[R_FRAC], 0.0125, b, sizeof(b)),
                 "1.25%");
    CHECK_STR_EQ(tool_fmt_value(&rules[R_ERROR], 3, b, sizeof(b)), "3");
    CHECK_INT_EQ(tool_rule_unit(&rules[R_LAG]), TOOL_UNIT_SECONDS);
    CHECK_INT_EQ(tool_rule_unit(&rules[R_FRAC]), TOOL_UNIT_PERCENT);
    CHECK_INT_EQ(tool_rule_unit(&rules[R_NODATA]), TOOL_UNIT_NONE);
    CHECK_STR_EQ(tool_fmt_time(1795687200000, b, sizeof(b)),
                 "2026-11-26T10:00:00Z");
    CHECK_STR_EQ(tool_fmt_time(1795687200250, b, sizeof(b)),
                 "2026-11-26T10:00:00.250Z");
    CHECK_STR_EQ(tool_fmt_time(-500, b, sizeof(b)),
                 "1969-12-31T23:59:59.500Z");
    CHECK(tool_shown_threshold(&report.rules[R_LAG]) ==
          &rules[R_LAG].critical);
    CHECK(tool_shown_threshold(&report.rules[R_FRAC]) ==
          &rules[R_FRAC].warning);
    CHECK(tool_is_finding(&report.rules[R_LAG]));
    CHECK(!tool_is_finding(&report.rules[R_NODATA]));
}

static void test_text(void)
{
    tool_config cfg;
    char *s;

    memset(&cfg, 0, sizeof(cfg));
    s = render(tool_report_text, &cfg);
    CHECK(strncmp(s,
                  "ASYNC RUNTIME AUDITOR\n\nRuntime Status: CRITICAL\n\n"
                  "Findings:\n- Event-loop starvation detected\n",
                  strlen("ASYNC RUNTIME AUDITOR\n\nRuntime Status: "
                         "CRITICAL\n\nFindings:\n- Event-loop starvation "
                         "detected\n")) == 0);
    CHECK_STR_CONTAINS(s, "    value:     400ms (p99 of "
                          "python_asyncio_loop_lag_seconds)\n");
    CHECK_STR_CONTAINS(s, "    crossed:   critical > 250ms\n");
    CHECK_STR_CONTAINS(s, "{instance=\"api-1\"}  400ms    critical\n");
    CHECK_STR_CONTAINS(s, "{instance=\"api-2\"}  20ms     ok\n");
    /* the finding refers to its culprit, listed once under Culprits
     * (test_report_culprits.c covers the model in every format) */
    CHECK_STR_CONTAINS(s, "    culprits:  #1 app.py:42 handler "
                          "({instance=\"api-1\"})\n");
    CHECK_STR_CONTAINS(s, "\nCulprits:\n#1 app.py:42 handler\n"
                          "    explains:  {instance=\"api-1\"}: 1.5s blocked "
                          "(lag)\n\nRules:\n");
    CHECK_STR_CONTAINS(s, "  ok        blocked  1.25%      warning > 5%\n");
    CHECK_STR_CONTAINS(s, "  no_data   backlog  -          critical < 1\n");
    CHECK_STR_CONTAINS(s, "- backlog (no_data): metric x has no series");
    CHECK_STR_CONTAINS(s, "Backend warnings:\n- raw: partial answer\n");
    CHECK_STR_CONTAINS(s, "Window:  2026-11-26T09:55:00Z to "
                          "2026-11-26T10:00:00Z (5m)\n");
    CHECK_STR_CONTAINS(s, "Summary: 1 critical, 0 warning, 2 ok, 1 no "
                          "data, 1 error\n");
    CHECK(strchr(s, '\033') == NULL);
    CHECK(strchr(s, '\x01') == NULL);
    CHECK_STR_CONTAINS(s, "- raw (error): a<b>&\"c' 100%?next, then: x?\n");
    free(s);

    cfg.color = true;
    s = render(tool_report_text, &cfg);
    CHECK_STR_CONTAINS(s, "Runtime Status: \033[1;31mCRITICAL\033[0m\n");
    free(s);

    cfg.color = false;
    cfg.verbosity = -1;
    s = render(tool_report_text, &cfg);
    CHECK_STR_EQ(s, "Runtime Status: CRITICAL\n"
                    "- Event-loop starvation detected: lag 400ms "
                    "(critical > 250ms)\n");
    free(s);
}

static void test_json(void)
{
    tool_config cfg;
    json_error_t err;
    json_t *root, *r0, *r2;
    char *s;

    memset(&cfg, 0, sizeof(cfg));
    s = render(tool_report_json, &cfg);
    root = json_loads(s, 0, &err);
    CHECK(root != NULL);
    if (root == NULL) {
        fprintf(stderr, "%s\n", err.text);
        free(s);
        return;
    }
    CHECK_STR_EQ(json_string_value(json_object_get(root, "status")),
                 "CRITICAL");
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_object_get(root, "window"), "start")),
                 "2026-11-26T09:55:00Z");
    CHECK_DBL_NEAR(json_number_value(json_object_get(
                       json_object_get(root, "window"), "end_unix")),
                   1795687200.0, 1e-12);
    CHECK_STR_EQ(json_string_value(json_object_get(root, "target")),
                 "http://prom:9090");
    CHECK_INT_EQ(json_array_size(json_object_get(root, "rules")), NRULES);
    r0 = json_array_get(json_object_get(root, "rules"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(r0, "id")), "lag");
    CHECK_STR_EQ(json_string_value(json_object_get(r0, "status")), "critical");
    CHECK_DBL_NEAR(json_number_value(json_object_get(r0, "value")), 0.4,
                   1e-12);
    CHECK_STR_EQ(json_string_value(json_object_get(r0, "threshold")),
                 "> 250ms");
    CHECK_STR_EQ(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(r0, "series"), 0),
                            "labels"),
            "instance")),
        "api-1");
    CHECK_STR_EQ(json_string_value(json_object_get(
                     json_array_get(json_object_get(r0, "sites"), 0), "site")),
                 "app.py:42 handler");
    r2 = json_array_get(json_object_get(root, "rules"), R_NODATA);
    CHECK(json_is_null(json_object_get(r2, "value")));
    CHECK(json_is_null(json_object_get(r2, "query")));
    CHECK(json_is_null(json_object_get(r2, "threshold")));
    CHECK_STR_CONTAINS(json_string_value(json_object_get(r2, "message")),
                       "no series");
    CHECK_INT_EQ(json_integer_value(json_object_get(
                     json_object_get(root, "summary"), "no_data")),
                 1);
    json_decref(root);
    free(s);
}

static void test_junit(void)
{
    tool_config cfg;
    char *s;

    memset(&cfg, 0, sizeof(cfg));
    s = render(tool_report_junit, &cfg);
    CHECK(strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39) == 0);
    CHECK_STR_CONTAINS(s, "tests=\"5\" failures=\"1\" errors=\"2\" "
                          "skipped=\"1\"");
    CHECK_STR_CONTAINS(s, "<testcase classname=\"async-auditor\" "
                          "name=\"lag\" time=\"0\">\n      <failure "
                          "type=\"critical\"");
    CHECK_STR_CONTAINS(s, "<error type=\"no_data\"");
    CHECK_STR_CONTAINS(s, "<error type=\"error\" message=\"a&lt;b&gt;&amp;"
                          "&quot;c&apos; 100%&#10;next, then: x?\"");
    CHECK_STR_CONTAINS(s, "<skipped message=\"no series in the window\"/>");
    CHECK_STR_CONTAINS(s, "critical &lt; 1");
    CHECK(strstr(s, "a<b>") == NULL);
    CHECK(strchr(s, '\x01') == NULL);
    free(s);
}

static void test_markdown(void)
{
    tool_config cfg;
    char *s;

    memset(&cfg, 0, sizeof(cfg));
    s = render(tool_report_markdown, &cfg);
    CHECK(strncmp(s, "## Async runtime audit: CRITICAL\n", 33) == 0);
    CHECK_STR_CONTAINS(s, "| **critical** | `lag` | Event-loop starvation "
                          "detected | 400ms |");
    CHECK_STR_CONTAINS(s, "| ok | `blocked` | Blocked \\| often | 1.25% |");
    CHECK_STR_CONTAINS(s, "a\\<b\\>&\"c' 100% next, then: x");
    CHECK(strstr(s, "\nnext") == NULL);
    CHECK(strchr(s, '\x01') == NULL);
    free(s);
}

static void test_github(void)
{
    tool_config cfg;
    char *s;

    memset(&cfg, 0, sizeof(cfg));
    s = render(tool_report_github, &cfg);
    CHECK(strncmp(s, "::error title=async-auditor lag%3A critical::", 45) ==
          0);
    CHECK_STR_CONTAINS(s, "::warning title=async-auditor raw%3A error::Raw "
                          "query: a<b>&\"c' 100%25%0Anext, then: x");
    CHECK_STR_CONTAINS(s, "::notice title=async-auditor backlog%3A "
                          "no_data::");
    CHECK_STR_CONTAINS(s, "async-auditor: Runtime Status: CRITICAL");
    /* one line per annotation: no raw newline inside a message */
    CHECK(strstr(s, "100%\n") == NULL);
    CHECK(strchr(s, '\x01') == NULL);
    free(s);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.' ? 1 : 0;
    }
    closedir(d);
    return n;
}

static void test_files(void)
{
    char dir[] = "/tmp/aa-test-reports-XXXXXX";
    char path[256], bad[256];
    tool_config cfg;
    json_error_t err;
    json_t *root;
    int saved, devnull;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/audit.json", dir);
    snprintf(bad, sizeof(bad), "%s/missing/audit.json", dir);
    memset(&cfg, 0, sizeof(cfg));
    cfg.format = TOOL_FORMAT_GITHUB;
    cfg.json_path = path;
    /* the stdout report is not what this test reads: send it to
     * /dev/null for the call, then restore stdout */
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    devnull = open("/dev/null", O_WRONLY);
    CHECK(saved >= 0 && devnull >= 0);
    dup2(devnull, STDOUT_FILENO);
    CHECK_INT_EQ(tool_reports_write(&cfg, &report), 0);
    root = json_load_file(path, 0, &err);
    CHECK(root != NULL);
    json_decref(root);
    CHECK_INT_EQ(count_entries(dir), 1); /* no temporary file left */

    cfg.json_path = bad;
    CHECK_INT_EQ(tool_reports_write(&cfg, &report), -1);
    CHECK_INT_EQ(count_entries(dir), 1);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(devnull);
    unlink(path);
    rmdir(dir);
}

/* Label values from a scraped exporter need not be valid UTF-8; the JSON
 * and JUnit reports must still be written, and stay valid documents. */
static void test_invalid_utf8(void)
{
    aa_labels *ls = &report.rules[R_FRAC].series[0].labels;
    tool_config cfg;
    json_error_t err;
    json_t *root, *labels;
    char b[64], *s, *fixed;

    CHECK_INT_EQ(tool_utf8_len("a"), 1);
    CHECK_INT_EQ(tool_utf8_len("\xc3\xa9"), 2);
    CHECK_INT_EQ(tool_utf8_len("\xe9t\xe9"), 0);
    CHECK_INT_EQ(tool_utf8_len("\xc0\xaf"), 0);     /* overlong '/' */
    CHECK_INT_EQ(tool_utf8_len("\xed\xa0\x80"), 0); /* a surrogate */
    fixed = tool_utf8_copy("caf\xe9 \xc3\xa9");
    CHECK_STR_EQ(fixed, "caf\xef\xbf\xbd \xc3\xa9");
    free(fixed);

    CHECK_INT_EQ(aa_labels_add(ls, "path", "/caf\xe9"), AA_OK);
    memset(&cfg, 0, sizeof(cfg));
    s = render(tool_report_json, &cfg);
    root = json_loads(s, 0, &err);
    CHECK(root != NULL);
    labels = json_object_get(
        json_array_get(
            json_object_get(
                json_array_get(json_object_get(root, "rules"), R_FRAC),
                "series"),
            0),
        "labels");
    CHECK_STR_EQ(json_string_value(json_object_get(labels, "path")),
                 "/caf\xef\xbf\xbd");
    json_decref(root);
    free(s);

    s = render(tool_report_junit, &cfg);
    CHECK_STR_CONTAINS(s, "path=&quot;/caf\xef\xbf\xbd&quot;");
    CHECK(strstr(s, "/caf\xe9") == NULL);
    free(s);

    CHECK_STR_EQ(tool_fmt_thresholds(&rules[R_LAG], b, sizeof(b)),
                 "warning > 50ms, critical > 250ms");
    CHECK_STR_EQ(tool_fmt_thresholds(&rules[R_NODATA], b, sizeof(b)),
                 "critical < 1");
    CHECK_STR_EQ(tool_fmt_summary(&report, b, sizeof(b)),
                 "1 critical, 0 warning, 2 ok, 1 no data, 1 error");
}

/* Unix times keep their milliseconds in JSON. */
static void test_json_unix_ms(void)
{
    tool_config cfg;
    int64_t start = report.start_ms, end = report.end_ms;
    char *s;

    memset(&cfg, 0, sizeof(cfg));
    report.start_ms = 1795686899999;
    report.end_ms = 1795687200123;
    s = render(tool_report_json, &cfg);
    CHECK_STR_CONTAINS(s, "\"start_unix\": 1795686899.999,");
    CHECK_STR_CONTAINS(s, "\"end_unix\": 1795687200.123,");
    CHECK_STR_CONTAINS(s, "\"seconds\": 300.124");
    free(s);
    report.start_ms = start;
    report.end_ms = end;
}

/* jansson's allocator for test_json_oom: fails every call after the
 * first alloc_budget ones and counts the blocks alive. */
static long alloc_budget, alloc_live;

static void *counting_malloc(size_t n)
{
    void *p;

    if (alloc_budget <= 0) {
        return NULL;
    }
    alloc_budget--;
    p = malloc(n);
    if (p != NULL) {
        alloc_live++;
    }
    return p;
}

static void counting_free(void *p)
{
    if (p != NULL) {
        alloc_live--;
    }
    free(p);
}

/* The JSON writer out of memory at every allocation in turn: it fails
 * cleanly, writes nothing and leaks nothing; and tool_reports_write
 * reports a stdout report lost that way (the exit code depends on it). */
static void test_json_oom(void)
{
    tool_config cfg;
    long budget;
    int rc = -1;

    memset(&cfg, 0, sizeof(cfg));
    json_set_alloc_funcs(counting_malloc, counting_free);
    for (budget = 0; budget < 100000 && rc != 0; budget++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&buf, &len);

        CHECK(fp != NULL);
        if (fp == NULL) {
            break;
        }
        alloc_budget = budget;
        alloc_live = 0;
        rc = tool_report_json(&cfg, &report, fp);
        fclose(fp);
        CHECK_INT_EQ(alloc_live, 0);
        if (rc != 0) {
            CHECK_INT_EQ(len, 0);
        }
        free(buf);
    }
    CHECK_INT_EQ(rc, 0);
    CHECK(budget > 10);

    cfg.format = TOOL_FORMAT_JSON;
    alloc_budget = 0;
    alloc_live = 0;
    CHECK_INT_EQ(tool_reports_write(&cfg, &report), -1);
    CHECK_INT_EQ(alloc_live, 0);
    CHECK(!ferror(stdout));
    json_set_alloc_funcs(malloc, free);
}

/* ---- bounds, not_applicable and charts, on a report of their own -------
 */

/* Renders r (not the shared report) with fn into a malloc'd string. */
static char *render_r(writer fn, const aa_report *r)
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
    CHECK_INT_EQ(fn(&cfg, r, fp), 0);
    fclose(fp);
    return buf;
}

static aa_value_bound bound(aa_bound_kind kind, double lo, double hi, bool one)
{
    aa_value_bound b;

    memset(&b, 0, sizeof(b));
    b.kind = kind;
    b.lower = lo;
    b.upper = hi;
    b.one_bucket = one;
    return b;
}

/* How a value with a bound reads (docs/rules.md "Quantiles"). */
static void test_judged_values(void)
{
    aa_value_bound b;
    char buf[96];

    b = bound(AA_BOUND_ESTIMATE, 1.4142135623730951, 1.681792830507429, true);
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_LAG], 1.5422108254079407, &b, buf,
                                 sizeof(buf)),
                 "\xE2\x89\x88"
                 "1.542s");
    b = bound(AA_BOUND_IN, 1.0, 2.5, false);
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_LAG], 2.485, &b, buf, sizeof(buf)),
                 "in (1s, 2.5s]");
    b.one_bucket = true;
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_LAG], 2.485, &b, buf, sizeof(buf)),
                 "all samples in (1s, 2.5s]");
    b = bound(AA_BOUND_AT_MOST, 0, 0.0009765625, false);
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_LAG], 0.0005, &b, buf, sizeof(buf)),
                 "\xE2\x89\xA4 976.6\xC2\xB5s");
    b = bound(AA_BOUND_ABOVE, 64, INFINITY, false);
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_LAG], 64, &b, buf, sizeof(buf)),
                 "> 64s");
    /* a share between the shares above a bucket's bounds */
    b = bound(AA_BOUND_BETWEEN, 0.1, 0.2, false);
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_FRAC], 0.14, &b, buf, sizeof(buf)),
                 "in [10%, 20%]");
    /* exact: the plain value; NaN has no bound */
    b = bound(AA_BOUND_NONE, 0, 0, false);
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_FRAC], 0.25, &b, buf, sizeof(buf)),
                 "25%");
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_FRAC], 0.25, NULL, buf, sizeof(buf)),
                 "25%");
    b = bound(AA_BOUND_IN, 1.0, 2.5, false);
    CHECK_STR_EQ(tool_fmt_judged(&rules[R_LAG], NAN, &b, buf, sizeof(buf)),
                 "NaN");
    CHECK_STR_EQ(tool_verdict_shown(AA_VERDICT_NOT_APPLICABLE), "n/a");
    CHECK_STR_EQ(tool_verdict_shown(AA_VERDICT_NO_DATA), "no_data");
}

/* A report of two rules: lag critical with a bound, its chart of 3
 * points; busy not applicable, its chart not drawn. */
static void test_bounds_na_charts(void)
{
    aa_report r;
    aa_rule_result rrs[2];
    aa_range_series *line = NULL;
    aa_labels ls = {NULL, 0};
    json_t *root, *j0, *j1;
    char *s;

    memset(&r, 0, sizeof(r));
    memset(rrs, 0, sizeof(rrs));
    r.start_ms = 1795686900000;
    r.end_ms = 1795687200000;
    r.target = "http://prom:9090";
    r.mode = "prometheus";
    r.rules = rrs;
    r.nrules = 2;
    rrs[0].rule = &rules[R_LAG];
    rrs[0].verdict = AA_VERDICT_CRITICAL;
    rrs[0].has_value = true;
    rrs[0].value = 2.485;
    rrs[0].bound = bound(AA_BOUND_IN, 1.0, 2.5, true);
    rrs[0].crossed = &rules[R_LAG].critical;
    add_series(&rrs[0], "api-1", 2.485, AA_VERDICT_CRITICAL);
    rrs[0].series[0].bound = rrs[0].bound;
    rrs[0].chart.asked = true;
    rrs[0].chart.start_ms = r.start_ms;
    rrs[0].chart.end_ms = r.end_ms;
    rrs[0].chart.step_ms = 150000;
    aa_labels_add(&ls, "instance", "api-1");
    CHECK_INT_EQ(aa_matrix_push(&rrs[0].chart.lines, &ls, &line), AA_OK);
    aa_range_series_push(line, r.start_ms, 0.1);
    aa_range_series_push(line, r.start_ms + 150000, 1.0);
    aa_range_series_push(line, r.end_ms, 2.485);
    aa_labels_clear(&ls);
    rrs[1].rule = &rules[R_FRAC];
    rrs[1].verdict = AA_VERDICT_NOT_APPLICABLE;
    rrs[1].value = NAN;
    rrs[1].message = strdup("not measured on uvloop loops");
    rrs[1].chart.asked = true;
    rrs[1].chart.step_ms = 150000;
    rrs[1].chart.message = strdup("the range query failed");
    r.status = aa_report_status(&r);
    CHECK_INT_EQ(r.status, AA_STATUS_CRITICAL);

    s = render_r(tool_report_text, &r);
    CHECK_STR_CONTAINS(s, "    value:     all samples in (1s, 2.5s] (p99 of "
                          "python_asyncio_loop_lag_seconds)\n");
    CHECK_STR_CONTAINS(s, "  n/a       blocked");
    CHECK_STR_CONTAINS(s, "- blocked (n/a): not measured on uvloop loops\n");
    CHECK_STR_CONTAINS(s, "Summary: 1 critical, 0 warning, 0 ok, 0 no data, "
                          "0 error, 1 n/a\n");
    free(s);

    s = render_r(tool_report_json, &r);
    root = json_loads(s, 0, NULL);
    CHECK(root != NULL);
    j0 = json_array_get(json_object_get(root, "rules"), 0);
    j1 = json_array_get(json_object_get(root, "rules"), 1);
    CHECK_DBL_NEAR(json_number_value(json_object_get(
                       json_object_get(j0, "value_bound"), "lower")),
                   1.0, 0);
    CHECK_DBL_NEAR(json_number_value(json_object_get(
                       json_object_get(j0, "value_bound"), "upper")),
                   2.5, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(j0, "value_text")),
                 "all samples in (1s, 2.5s]");
    CHECK_DBL_NEAR(
        json_number_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j0, "series"), 0),
                            "value_bound"),
            "upper")),
        2.5, 0);
    CHECK_STR_EQ(json_string_value(json_object_get(j1, "status")),
                 "not_applicable");
    CHECK(json_is_null(json_object_get(j1, "value_bound")));
    CHECK_INT_EQ(json_integer_value(json_object_get(
                     json_object_get(root, "summary"), "not_applicable")),
                 1);
    CHECK_INT_EQ(json_integer_value(
                     json_object_get(json_object_get(root, "summary"), "ok")),
                 0);
    json_decref(root);
    free(s);

    s = render_r(tool_report_junit, &r);
    CHECK_STR_CONTAINS(s, "skipped=\"1\"");
    CHECK_STR_CONTAINS(s, "<skipped message=\"not measured on uvloop "
                          "loops\"/>");
    free(s);
    s = render_r(tool_report_markdown, &r);
    CHECK_STR_CONTAINS(s, "| n/a | `blocked` |");
    CHECK_STR_CONTAINS(s, ": all samples in (1s, 2.5s\\] crossed \\> 250ms");
    free(s);
    s = render_r(tool_report_github, &r);
    CHECK(strstr(s, "blocked") == NULL);
    CHECK_STR_CONTAINS(s, "1 n/a)");
    free(s);

    /* HTML: n/a shown as such and not among the findings; one chart per
     * asked rule, drawn from the model: 3 points, one line, the
     * thresholds; the other says why it has none */
    s = render_r(tool_report_html, &r);
    CHECK_STR_CONTAINS(s, "<span class=\"v ok\">n/a</span>");
    CHECK(strstr(s, "data-rule=\"blocked\"") == NULL);
    CHECK_STR_CONTAINS(s, "data-chart=\"lag\" data-series=\"1\" "
                          "data-points=\"3\"");
    CHECK_STR_CONTAINS(s, "data-chart=\"blocked\" data-series=\"0\" "
                          "data-points=\"0\"");
    CHECK_STR_CONTAINS(s, "not charted: the range query failed");
    CHECK_STR_CONTAINS(s, "class=\"threshold critical\"");
    CHECK_STR_CONTAINS(s, "data-drawn=\"1\">1 of 2 charts have data.");
    {
        const char *p = strstr(s, "<path class=\"series\"");
        const char *d = p != NULL ? strstr(p, " d=\"M") : NULL;

        CHECK(d != NULL);
        /* a move and two lines: three points joined */
        CHECK(d != NULL && strchr(d, 'L') != NULL &&
              strchr(strchr(d, 'L') + 1, 'L') != NULL);
    }
    CHECK(strstr(s, "id=\"no-charts\"") == NULL);
    free(s);

    /* nothing asked: the section says so */
    rrs[0].chart.asked = false;
    rrs[1].chart.asked = false;
    s = render_r(tool_report_html, &r);
    CHECK_STR_CONTAINS(s, "id=\"no-charts\"");
    free(s);

    aa_rule_result_clear(&rrs[0]);
    aa_rule_result_clear(&rrs[1]);
}

int main(void)
{
    build();
    test_judged_values();
    test_bounds_na_charts();
    test_helpers();
    test_text();
    test_json();
    test_junit();
    test_markdown();
    test_github();
    test_files();
    test_invalid_utf8();
    test_json_oom();
    test_json_unix_ms();
    {
        size_t i;

        for (i = 0; i < report.nrules; i++) {
            aa_rule_result_clear(&report.rules[i]);
        }
        free(report.rules);
        free(report.target);
        free(report.mode);
    }
    return check_report("test_reports");
}
