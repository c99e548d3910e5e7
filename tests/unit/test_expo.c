/*
 * test_expo.c: the exposition parser against hand-written inputs in both
 * formats: escaping, metadata, timestamps, special values, exemplars,
 * # EOF, family membership, limits and the "line N" diagnostics.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "aa/expo.h"
#include "check.h"

typedef struct got {
    char text[8192]; /* one line per callback */
    size_t nsamples;
    double values[64];
    int64_t ts[64];
    bool has_ts[64];
} got;

static int on_sample(void *ctx, const aa_expo_sample *s)
{
    got *g = ctx;
    size_t i, n = strlen(g->text);

    n += (size_t)snprintf(g->text + n, sizeof(g->text) - n, "S %s/%s/%s",
                          s->name, s->family, aa_expo_type_name(s->type));
    for (i = 0; i < s->nlabels; i++) {
        n += (size_t)snprintf(g->text + n, sizeof(g->text) - n, " %s=[%s]",
                              s->labels[i].name, s->labels[i].value);
    }
    snprintf(g->text + n, sizeof(g->text) - n, "\n");
    if (g->nsamples < 64) {
        g->values[g->nsamples] = s->value;
        g->ts[g->nsamples] = s->t_ms;
        g->has_ts[g->nsamples] = s->has_timestamp;
    }
    g->nsamples++;
    return 0;
}

static int on_meta(void *ctx, const aa_expo_meta *m)
{
    got *g = ctx;
    size_t n = strlen(g->text);

    snprintf(g->text + n, sizeof(g->text) - n, "M %s %s help=[%s] unit=[%s]\n",
             m->family, aa_expo_type_name(m->type),
             m->help != NULL ? m->help : "-", m->unit != NULL ? m->unit : "-");
    return 0;
}

static int parse(const char *text, aa_expo_format fmt, got *g, aa_diag *d)
{
    aa_expo_handler h = {on_sample, on_meta, g};

    memset(g, 0, sizeof(*g));
    return aa_expo_parse(text, strlen(text), fmt, NULL, &h, d);
}

static void test_text_basic(void)
{
    got g;
    aa_diag d;
    const char *in =
        "# HELP http_requests_total The total \\\\ number\\nof requests.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"post\",code=\"200\"} 1027 "
        "1395066363000\n"
        "http_requests_total{method=\"post\",code=\"400\"}    3 "
        "1395066363000\n"
        "\n"
        "# A normal comment\n"
        "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\","
        "error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
        "metric_without_timestamp_and_labels 12.47\n"
        "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
        "nan_metric NaN\n"
        "neg_inf{ a = \"b\" , } -Inf\n"
        "# TYPE rpc histogram\n"
        "rpc_bucket{le=\"0.05\"} 24054\n"
        "rpc_bucket{le=\"+Inf\"} 144320\n"
        "rpc_sum 53423\n"
        "rpc_count 144320\n"
        "rpc_other 1\n";

    CHECK_INT_EQ(parse(in, AA_EXPO_TEXT, &g, &d), AA_OK);
    CHECK_INT_EQ(g.nsamples, 12);
    CHECK_STR_CONTAINS(g.text, "M http_requests_total untyped help=[The "
                               "total \\ number\nof requests.]");
    CHECK_STR_CONTAINS(g.text, "S http_requests_total/http_requests_total/"
                               "counter method=[post] code=[200]\n");
    CHECK_STR_CONTAINS(g.text, "path=[C:\\DIR\\FILE.TXT] error=[Cannot find "
                               "file:\n\"FILE.TXT\"]");
    CHECK_STR_CONTAINS(g.text, "S rpc_bucket/rpc/histogram le=[0.05]");
    CHECK_STR_CONTAINS(g.text, "S rpc_sum/rpc/histogram\n");
    CHECK_STR_CONTAINS(g.text, "S rpc_other/rpc_other/untyped\n");
    CHECK_STR_CONTAINS(g.text, "S neg_inf/neg_inf/untyped a=[b]\n");
    CHECK_DBL_NEAR(g.values[0], 1027, 0);
    CHECK(g.has_ts[0]);
    CHECK_INT_EQ(g.ts[0], 1395066363000LL);
    CHECK(!g.has_ts[3]);
    CHECK_DBL_NEAR(g.values[3], 12.47, 1e-15);
    CHECK(isinf(g.values[4]) && g.values[4] > 0);
    CHECK_INT_EQ(g.ts[4], -3982045);
    CHECK(isnan(g.values[5]));
    CHECK(isinf(g.values[6]) && g.values[6] < 0);
}

static void test_openmetrics(void)
{
    got g;
    aa_diag d;
    const char *in =
        "# TYPE acme_http_router_request_seconds summary\n"
        "# UNIT acme_http_router_request_seconds seconds\n"
        "# HELP acme_http_router_request_seconds Latency \\\"quoted\\\".\n"
        "acme_http_router_request_seconds_sum{path=\"/api/v1\"} 9036.32\n"
        "acme_http_router_request_seconds_count{path=\"/api/v1\"} 807283.0\n"
        "acme_http_router_request_seconds_created{path=\"/api/v1\"} "
        "1605281325.0\n"
        "# TYPE foo counter\n"
        "foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\n"
        "foo_created 1520872607.123\n"
        "# TYPE h histogram\n"
        "h_bucket{le=\"1\"} 2 # {trace_id=\"x\"} 0.5 123.5\n"
        "h_bucket{le=\"+Inf\"} 3\n"
        "# EOF\n";

    CHECK_INT_EQ(parse(in, AA_EXPO_OPENMETRICS, &g, &d), AA_OK);
    CHECK_INT_EQ(g.nsamples, 7);
    CHECK_STR_CONTAINS(g.text, "M acme_http_router_request_seconds summary "
                               "help=[-] unit=[seconds]");
    CHECK_STR_CONTAINS(g.text, "help=[Latency \"quoted\".]");
    CHECK_STR_CONTAINS(g.text, "S acme_http_router_request_seconds_created/"
                               "acme_http_router_request_seconds/summary");
    CHECK_STR_CONTAINS(g.text, "S foo_total/foo/counter\n");
    CHECK_STR_CONTAINS(g.text, "S foo_created/foo/counter\n");
    CHECK_STR_CONTAINS(g.text, "S h_bucket/h/histogram le=[1]\n");
    CHECK(g.has_ts[3]);
    CHECK_INT_EQ(g.ts[3], 1520879607789LL);
    CHECK_INT_EQ(g.ts[4], 0);
    CHECK(!g.has_ts[4]);
    CHECK_DBL_NEAR(g.values[4], 1520872607.123, 1e-15);
}

static void test_errors(void)
{
    static const struct {
        const char *in;
        aa_expo_format fmt;
        int err;
        const char *msg;
    } cases[] = {
        {"a 1\nb{x=\"y} 2\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "line 2, column 5: label value not terminated"},
        {"a 1\nb{x=\"y\" 2\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "line 2, column 9: expected ',' or '}'"},
        {"a one\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "line 1, column 3: invalid value \"one\""},
        {"a 1 12.5\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "line 1, column 5: invalid timestamp"},
        {"9a 1\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "line 1, column 1: expected a "
         "metric name"},
        {"a{b=\"1\",b=\"2\"} 1\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "duplicate label \"b\""},
        {"# TYPE a counter\n# TYPE a gauge\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "line 2, column 3: second TYPE line"},
        {"# TYPE a sandwich\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "invalid metric type \"sandwich\""},
        {"a 1\n", AA_EXPO_OPENMETRICS, AA_ESYNTAX,
         "line 2: missing \"# EOF\""},
        {"a 1\n# EOF\nb 2\n", AA_EXPO_OPENMETRICS, AA_ESYNTAX,
         "line 3: content after \"# EOF\""},
        {"a  1\n# EOF\n", AA_EXPO_OPENMETRICS, AA_ESYNTAX,
         "more than one space"},
        {"a 1\n\n# EOF\n", AA_EXPO_OPENMETRICS, AA_ESYNTAX,
         "line 2: empty "
         "line"},
        {"# random\n# EOF\n", AA_EXPO_OPENMETRICS, AA_ESYNTAX,
         "unknown comment"},
        {"a{x=\"\\q\"} 1\n# EOF\n", AA_EXPO_OPENMETRICS, AA_ESYNTAX,
         "invalid escape"},
        {"a 1 # {x=\"y\"} 1\n", AA_EXPO_TEXT, AA_ESYNTAX,
         "unexpected text after the sample"},
        {"a nan(0x1)\n", AA_EXPO_TEXT, AA_ESYNTAX, "invalid value"},
        {"a 1e999\n", AA_EXPO_TEXT, AA_ESYNTAX, "invalid value"},
        {"a 1 inf\n# EOF\n", AA_EXPO_OPENMETRICS, AA_ESYNTAX,
         "invalid timestamp"},
        {"a{__name__=\"b\"} 1\n", AA_EXPO_TEXT, AA_ESYNTAX, "__name__"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        got g;
        aa_diag d;
        int rc = parse(cases[i].in, cases[i].fmt, &g, &d);

        CHECK_INT_EQ(rc, cases[i].err);
        CHECK_STR_CONTAINS(d.message, cases[i].msg);
    }
}

static void test_limits(void)
{
    char big[300];
    aa_expo_limits lim = {64, 2, 2};
    aa_expo_handler h = {NULL, NULL, NULL};
    aa_diag d;
    const char *three = "a 1\nb 2\nc 3\n";
    const char *labels = "a{x=\"1\",y=\"2\",z=\"3\"} 1\n";

    memset(big, 'x', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    CHECK_INT_EQ(aa_expo_parse(big, strlen(big), AA_EXPO_TEXT, &lim, &h, &d),
                 AA_ETOOBIG);
    CHECK_STR_CONTAINS(d.message, "line 1: line longer than 64 bytes");
    CHECK_INT_EQ(
        aa_expo_parse(three, strlen(three), AA_EXPO_TEXT, &lim, &h, &d),
        AA_ETOOBIG);
    CHECK_STR_CONTAINS(d.message, "line 3: more than 2 samples");
    CHECK_INT_EQ(
        aa_expo_parse(labels, strlen(labels), AA_EXPO_TEXT, &lim, &h, &d),
        AA_ETOOBIG);
    CHECK_STR_CONTAINS(d.message, "more than 2 labels");
    /* No trailing newline, and a NUL inside the data. */
    CHECK_INT_EQ(aa_expo_parse("a 1", 3, AA_EXPO_TEXT, NULL, &h, &d), AA_OK);
    CHECK_INT_EQ(aa_expo_parse("a 1\0b", 5, AA_EXPO_TEXT, NULL, &h, &d),
                 AA_ESYNTAX);
    CHECK_INT_EQ(aa_expo_parse(NULL, 0, AA_EXPO_OPENMETRICS, NULL, &h, &d),
                 AA_ESYNTAX);
}

/* Limits far beyond the input must not overflow the parser's sizing. */
static void test_huge_limits(void)
{
    aa_expo_limits lim = {0, 0, SIZE_MAX / sizeof(aa_expo_label) + 2};
    aa_expo_limits line = {SIZE_MAX, 0, 0};
    aa_diag d;
    got g;
    aa_expo_handler h = {on_sample, on_meta, &g};
    const char *text = "a{x=\"1\",y=\"2\",z=\"3\"} 1\n";

    memset(&g, 0, sizeof(g));
    CHECK_INT_EQ(aa_expo_parse(text, strlen(text), AA_EXPO_TEXT, &lim, &h, &d),
                 AA_OK);
    CHECK_STR_EQ(g.text, "S a/a/untyped x=[1] y=[2] z=[3]\n");
    CHECK_INT_EQ(
        aa_expo_parse(text, strlen(text), AA_EXPO_TEXT, &line, &h, &d),
        AA_EINVAL);
}

/* Values as Prometheus's text parsers read them; a name longer than any
 * fixed buffer. */
static void test_values_and_names(void)
{
    static const struct {
        const char *text;
        aa_expo_format fmt;
        int err;
    } cases[] = {
        {"a 0x1p3\n", AA_EXPO_TEXT, AA_ESYNTAX},
        {"a 0x10\n", AA_EXPO_TEXT, AA_ESYNTAX},
        {"a 1_000\n", AA_EXPO_TEXT, AA_ESYNTAX},
        {"a +NaN\n", AA_EXPO_TEXT, AA_ESYNTAX},
        {"a 1\t2\n# EOF\n", AA_EXPO_OPENMETRICS, AA_ESYNTAX},
        {"a -Inf\n", AA_EXPO_TEXT, AA_OK},
        {"a 1\t2\n", AA_EXPO_TEXT, AA_OK},
        {"a 1 2\n# EOF\n", AA_EXPO_OPENMETRICS, AA_OK},
    };
    char name[400], text[900];
    double v = 0;
    aa_diag d;
    got g;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT_EQ(parse(cases[i].text, cases[i].fmt, &g, &d), cases[i].err);
    }
    /* OpenMetrics timestamps: int64(seconds * 1000), as Prometheus */
    CHECK_INT_EQ(
        parse("a 1 1.0019\na 1 -1.0019\n# EOF\n", AA_EXPO_OPENMETRICS, &g, &d),
        AA_OK);
    CHECK_INT_EQ(g.ts[0], 1001);
    CHECK_INT_EQ(g.ts[1], -1001);
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(text, sizeof(text), "# TYPE %s gauge\n%s 1\n", name, name);
    CHECK_INT_EQ(parse(text, AA_EXPO_TEXT, &g, &d), AA_OK);
    CHECK_INT_EQ(g.nsamples, 1);
    CHECK_STR_CONTAINS(g.text, "/gauge\n");
    /* Go's ParseFloat, for "le" labels */
    CHECK(aa_expo_parse_go_float("0x1p3", 5, &v));
    CHECK_DBL_NEAR(v, 8, 0);
    CHECK(aa_expo_parse_go_float("+Inf", 4, &v));
    CHECK(isinf(v) && v > 0);
    CHECK(!aa_expo_parse_go_float("0x8", 3, &v));
    CHECK(!aa_expo_parse_go_float("-nan", 4, &v));
    CHECK(!aa_expo_parse_go_float(" 1", 2, &v));
    CHECK(!aa_expo_parse_go_float("1e999", 5, &v));
    CHECK_INT_EQ(aa_expo_format_sniff("a 1\n# EOF\n", 10),
                 AA_EXPO_OPENMETRICS);
    CHECK_INT_EQ(aa_expo_format_sniff("# EOF", 5), AA_EXPO_OPENMETRICS);
    CHECK_INT_EQ(aa_expo_format_sniff("a{b=\"# EOF", 10), AA_EXPO_TEXT);
    CHECK_INT_EQ(aa_expo_format_sniff("a 1\n", 4), AA_EXPO_TEXT);
    CHECK_INT_EQ(aa_expo_format_sniff(NULL, 0), AA_EXPO_TEXT);
}

static int stop_cb(void *ctx, const aa_expo_sample *s)
{
    (void)ctx;
    (void)s;
    return AA_ENOMEM;
}

static void test_misc(void)
{
    aat_buf b;
    aa_diag d;
    aa_expo_handler h = {stop_cb, NULL, NULL};

    CHECK_INT_EQ(aa_expo_format_from_content_type(
                     "application/openmetrics-text; version=1.0.0"),
                 AA_EXPO_OPENMETRICS);
    CHECK_INT_EQ(aa_expo_format_from_content_type("text/plain"), AA_EXPO_TEXT);
    CHECK_INT_EQ(aa_expo_format_from_content_type(NULL), AA_EXPO_TEXT);
    CHECK_INT_EQ(aa_expo_type_metric(AA_EXPO_HISTOGRAM), AA_TYPE_HISTOGRAM);
    CHECK_INT_EQ(aa_expo_type_metric(AA_EXPO_SUMMARY), AA_TYPE_UNKNOWN);
    aat_buf_init(&b, 1024);
    CHECK_INT_EQ(aat_buf_escape(&b, "a\\b\"c\nd", true), AA_OK);
    CHECK_STR_EQ(b.data, "a\\\\b\\\"c\\nd");
    aat_buf_release(&b);
    CHECK_INT_EQ(aa_expo_parse("a 1\n", 4, AA_EXPO_TEXT, NULL, &h, &d),
                 AA_ENOMEM);
    CHECK_STR_CONTAINS(d.message, "line 1: stopped by the consumer");
}

int main(void)
{
    test_text_basic();
    test_openmetrics();
    test_errors();
    test_limits();
    test_huge_limits();
    test_values_and_names();
    test_misc();
    return check_report("test_expo");
}
