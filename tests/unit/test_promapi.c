/*
 * test_promapi.c: the Prometheus API parser accepts what real engines send
 * (vector, matrix, scalar, string, series, warnings, error envelopes) and
 * rejects every malformed shape with the JSON path of the element at
 * fault, without leaking (the suite also runs under valgrind).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aa/common.h"
#include "aa/promapi.h"
#include "check.h"

static int parse(const char *json, aa_promapi_kind kind, aa_promapi_resp *r,
                 aa_diag *d)
{
    return aa_promapi_parse(json, strlen(json), kind, r, d);
}

static void test_values(void)
{
    double v;

    CHECK_INT_EQ(aa_promapi_parse_value("0.25", &v), AA_OK);
    CHECK_DBL_NEAR(v, 0.25, 0);
    CHECK_INT_EQ(aa_promapi_parse_value("-1.5e-3", &v), AA_OK);
    CHECK_DBL_NEAR(v, -0.0015, 1e-15);
    CHECK_INT_EQ(aa_promapi_parse_value("1E+06", &v), AA_OK);
    CHECK_DBL_NEAR(v, 1e6, 0);
    CHECK_INT_EQ(aa_promapi_parse_value("+3", &v), AA_OK);
    CHECK_DBL_NEAR(v, 3, 0);
    CHECK_INT_EQ(aa_promapi_parse_value(".5", &v), AA_OK);
    CHECK_DBL_NEAR(v, 0.5, 0);
    CHECK_INT_EQ(aa_promapi_parse_value("7.", &v), AA_OK);
    CHECK_DBL_NEAR(v, 7, 0);
    CHECK_INT_EQ(aa_promapi_parse_value("NaN", &v), AA_OK);
    CHECK(isnan(v));
    CHECK_INT_EQ(aa_promapi_parse_value("+Inf", &v), AA_OK);
    CHECK(isinf(v) && v > 0);
    CHECK_INT_EQ(aa_promapi_parse_value("-Inf", &v), AA_OK);
    CHECK(isinf(v) && v < 0);
    CHECK_INT_EQ(aa_promapi_parse_value("Inf", &v), AA_OK);
    CHECK(isinf(v) && v > 0);
    CHECK_INT_EQ(aa_promapi_parse_value("1e999", &v), AA_OK);
    CHECK(isinf(v));

    CHECK_INT_EQ(aa_promapi_parse_value("", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value(" 1", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value("1 ", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value("0x10", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value("1e", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value(".", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value("-", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value("nan", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value("infinity", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value("1.2.3", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value("12abc", &v), AA_ESYNTAX);
    CHECK_INT_EQ(aa_promapi_parse_value(NULL, &v), AA_ESYNTAX);
}

static void test_vector(void)
{
    aa_promapi_resp r;
    aa_diag d;
    const char *json =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
        "\"result\":["
        "{\"metric\":{\"job\":\"api\",\"instance\":\"a:1\"},"
        "\"value\":[1700000000.123,\"0.25\"]},"
        "{\"metric\":{},\"value\":[1700000000,\"NaN\"]},"
        "{\"metric\":{\"x\":\"y\\\"z\"},\"value\":[1700000000,\"+Inf\"]}"
        "]}}";

    CHECK_INT_EQ(parse(json, AA_PROMAPI_QUERY, &r, &d), AA_OK);
    CHECK(r.success);
    CHECK_INT_EQ(r.type, AA_PROMAPI_VECTOR);
    CHECK_INT_EQ(r.vector.n, 3);
    if (r.vector.n == 3) {
        CHECK_DBL_NEAR(r.vector.v[0].value, 0.25, 0);
        CHECK_INT_EQ(r.vector.v[0].labels.n, 2);
        CHECK_STR_EQ(aa_labels_get(&r.vector.v[0].labels, "job"), "api");
        CHECK_STR_EQ(aa_labels_get(&r.vector.v[0].labels, "instance"), "a:1");
        CHECK_INT_EQ(r.vector.v[1].labels.n, 0);
        CHECK(isnan(r.vector.v[1].value));
        CHECK_STR_EQ(aa_labels_get(&r.vector.v[2].labels, "x"), "y\"z");
        CHECK(isinf(r.vector.v[2].value));
    }
    CHECK_INT_EQ(r.nwarnings, 0);
    aa_promapi_resp_clear(&r);
    CHECK_INT_EQ(r.vector.n, 0);

    /* empty vector */
    CHECK_INT_EQ(parse("{\"status\":\"success\",\"data\":{\"resultType\":"
                       "\"vector\",\"result\":[]}}",
                       AA_PROMAPI_QUERY, &r, &d),
                 AA_OK);
    CHECK_INT_EQ(r.type, AA_PROMAPI_VECTOR);
    CHECK_INT_EQ(r.vector.n, 0);
    aa_promapi_resp_clear(&r);
}

static void test_matrix(void)
{
    aa_promapi_resp r;
    aa_diag d;
    const char *json =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
        "\"result\":["
        "{\"metric\":{\"instance\":\"a\"},\"values\":["
        "[1700000000,\"1\"],[1700000015,\"2\"],[1700000030.5,\"NaN\"]]},"
        "{\"metric\":{\"instance\":\"b\"},\"values\":[]}"
        "]},\"stats\":{\"ignored\":true}}";

    CHECK_INT_EQ(parse(json, AA_PROMAPI_QUERY, &r, &d), AA_OK);
    CHECK_INT_EQ(r.type, AA_PROMAPI_MATRIX);
    CHECK_INT_EQ(r.matrix.n, 2);
    if (r.matrix.n == 2) {
        CHECK_STR_EQ(aa_labels_get(&r.matrix.v[0].labels, "instance"), "a");
        CHECK_INT_EQ(r.matrix.v[0].n, 3);
        CHECK_INT_EQ(r.matrix.v[0].pts[0].t_ms, 1700000000000LL);
        CHECK_INT_EQ(r.matrix.v[0].pts[2].t_ms, 1700000030500LL);
        CHECK_DBL_NEAR(r.matrix.v[0].pts[1].v, 2, 0);
        CHECK(isnan(r.matrix.v[0].pts[2].v));
        CHECK_INT_EQ(r.matrix.v[1].n, 0);
    }
    aa_promapi_resp_clear(&r);
}

static void test_scalar_string(void)
{
    aa_promapi_resp r;
    aa_diag d;

    CHECK_INT_EQ(parse("{\"status\":\"success\",\"data\":{\"resultType\":"
                       "\"scalar\",\"result\":[1700000000,\"42\"]}}",
                       AA_PROMAPI_QUERY, &r, &d),
                 AA_OK);
    CHECK_INT_EQ(r.type, AA_PROMAPI_SCALAR);
    CHECK_DBL_NEAR(r.scalar, 42, 0);
    CHECK_INT_EQ(r.t_ms, 1700000000000LL);
    /* a scalar is also a one-sample vector without labels */
    CHECK_INT_EQ(r.vector.n, 1);
    if (r.vector.n == 1) {
        CHECK_DBL_NEAR(r.vector.v[0].value, 42, 0);
        CHECK_INT_EQ(r.vector.v[0].labels.n, 0);
    }
    aa_promapi_resp_clear(&r);

    CHECK_INT_EQ(parse("{\"status\":\"success\",\"data\":{\"resultType\":"
                       "\"string\",\"result\":[1,\"hello\"]}}",
                       AA_PROMAPI_QUERY, &r, &d),
                 AA_OK);
    CHECK_INT_EQ(r.type, AA_PROMAPI_STRING);
    CHECK_STR_EQ(r.string, "hello");
    aa_promapi_resp_clear(&r);
}

static void test_series(void)
{
    aa_promapi_resp r;
    aa_diag d;

    CHECK_INT_EQ(parse("{\"status\":\"success\",\"data\":["
                       "{\"__name__\":\"up\",\"job\":\"api\"},"
                       "{\"__name__\":\"up\",\"job\":\"db\"}]}",
                       AA_PROMAPI_SERIES, &r, &d),
                 AA_OK);
    CHECK_INT_EQ(r.type, AA_PROMAPI_LABELSETS);
    CHECK_INT_EQ(r.nsets, 2);
    if (r.nsets == 2) {
        CHECK_STR_EQ(aa_labels_get(&r.sets[1], "job"), "db");
        CHECK_STR_EQ(aa_labels_get(&r.sets[0], "__name__"), "up");
    }
    aa_promapi_resp_clear(&r);

    CHECK_INT_EQ(parse("{\"status\":\"success\",\"data\":[]}",
                       AA_PROMAPI_SERIES, &r, &d),
                 AA_OK);
    CHECK_INT_EQ(r.nsets, 0);
    aa_promapi_resp_clear(&r);

    CHECK_INT_EQ(parse("{\"status\":\"success\",\"data\":[{\"a\":1}]}",
                       AA_PROMAPI_SERIES, &r, &d),
                 AA_ESYNTAX);
    CHECK_STR_CONTAINS(d.message, "data[0].a: expected a string");
    CHECK_INT_EQ(parse("{\"status\":\"success\",\"data\":{\"resultType\":"
                       "\"vector\",\"result\":[]}}",
                       AA_PROMAPI_SERIES, &r, &d),
                 AA_ESYNTAX);
    CHECK_STR_CONTAINS(d.message, "data: expected an array of label sets");
}

static void test_envelopes(void)
{
    aa_promapi_resp r;
    aa_diag d;

    CHECK_INT_EQ(parse("{\"status\":\"error\",\"errorType\":\"bad_data\","
                       "\"error\":\"1:5: parse error: unexpected \\\"}\\\"\"}",
                       AA_PROMAPI_QUERY, &r, &d),
                 AA_OK);
    CHECK(!r.success);
    CHECK_INT_EQ(r.type, AA_PROMAPI_NONE);
    CHECK_STR_EQ(r.error_type, "bad_data");
    CHECK_STR_CONTAINS(r.error, "parse error");
    aa_promapi_resp_clear(&r);

    /* errorType is optional, error is not */
    CHECK_INT_EQ(parse("{\"status\":\"error\",\"error\":\"boom\"}",
                       AA_PROMAPI_QUERY, &r, &d),
                 AA_OK);
    CHECK(r.error_type == NULL);
    CHECK_STR_EQ(r.error, "boom");
    aa_promapi_resp_clear(&r);
    CHECK_INT_EQ(parse("{\"status\":\"error\"}", AA_PROMAPI_QUERY, &r, &d),
                 AA_ESYNTAX);
    CHECK_STR_CONTAINS(d.message, "missing \"error\"");

    /* warnings and infos */
    CHECK_INT_EQ(parse("{\"status\":\"success\",\"warnings\":[\"partial "
                       "response\",\"w2\"],\"infos\":[\"PromQL info: "
                       "metric might not be a counter\"],\"data\":{"
                       "\"resultType\":\"vector\",\"result\":[]}}",
                       AA_PROMAPI_QUERY, &r, &d),
                 AA_OK);
    CHECK_INT_EQ(r.nwarnings, 2);
    CHECK_INT_EQ(r.ninfos, 1);
    if (r.nwarnings == 2 && r.ninfos == 1) {
        CHECK_STR_EQ(r.warnings[0], "partial response");
        CHECK_STR_EQ(r.warnings[1], "w2");
        CHECK_STR_CONTAINS(r.infos[0], "might not be a counter");
    }
    aa_promapi_resp_clear(&r);

    CHECK_INT_EQ(parse("{\"status\":\"success\",\"warnings\":[1],"
                       "\"data\":{\"resultType\":\"vector\",\"result\":[]}}",
                       AA_PROMAPI_QUERY, &r, &d),
                 AA_ESYNTAX);
    CHECK_STR_CONTAINS(d.message, "warnings[0]: expected a string");
}

static void test_many_warnings(void)
{
    aa_promapi_resp r;
    aa_diag d;
    aat_buf b;
    int i;

    aat_buf_init(&b, 1 << 20);
    aat_buf_appendf(&b, "{\"status\":\"success\",\"warnings\":[");
    for (i = 0; i < 100; i++) {
        aat_buf_appendf(&b, "%s\"w%d\"", i > 0 ? "," : "", i);
    }
    aat_buf_appendf(&b, "],\"data\":{\"resultType\":\"vector\","
                       "\"result\":[]}}");
    CHECK_INT_EQ(aa_promapi_parse(b.data, b.len, AA_PROMAPI_QUERY, &r, &d),
                 AA_OK);
    CHECK_INT_EQ(r.nwarnings, AA_PROMAPI_MAX_MESSAGES);
    if (r.nwarnings == AA_PROMAPI_MAX_MESSAGES) {
        CHECK_STR_EQ(r.warnings[0], "w0");
        CHECK_STR_CONTAINS(r.warnings[AA_PROMAPI_MAX_MESSAGES - 1],
                           "(and 36 more)");
    }
    aa_promapi_resp_clear(&r);
    aat_buf_release(&b);
}

/* Each malformed body must fail with rc and a message containing want. */
static void expect_bad(const char *json, aa_promapi_kind kind, int rc,
                       const char *want)
{
    aa_promapi_resp r;
    aa_diag d;

    CHECK_INT_EQ(parse(json, kind, &r, &d), rc);
    CHECK_STR_CONTAINS(d.message, want);
    /* the out-parameter is left empty */
    CHECK_INT_EQ(r.vector.n, 0);
    CHECK_INT_EQ(r.matrix.n, 0);
    CHECK(r.error == NULL && r.warnings == NULL && r.sets == NULL);
    CHECK(r.infos == NULL && r.string == NULL && r.error_type == NULL);
}

#define VEC(res)                                                              \
    "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","            \
    "\"result\":" res "}}"
#define MAT(res)                                                              \
    "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","            \
    "\"result\":" res "}}"
#define OK1 "{\"metric\":{},\"value\":[1,\"1\"]}"

static void test_malformed(void)
{
    aa_promapi_resp r;
    aa_diag d;

    CHECK_INT_EQ(aa_promapi_parse("", 0, AA_PROMAPI_QUERY, &r, &d),
                 AA_ESYNTAX);
    CHECK_STR_CONTAINS(d.message, "empty response body");

    CHECK_INT_EQ(
        parse("<html>502 Bad Gateway</html>", AA_PROMAPI_QUERY, &r, &d),
        AA_ESYNTAX);
    CHECK_STR_CONTAINS(d.message, "invalid JSON");
    CHECK_INT_EQ(d.line, 1);

    /* truncated body */
    expect_bad("{\"status\":\"success\",\"data\":{\"resultType\":\"vec",
               AA_PROMAPI_QUERY, AA_ESYNTAX, "invalid JSON");
    expect_bad("[1,2]", AA_PROMAPI_QUERY, AA_ESYNTAX,
               "expected a JSON object, got an array");
    expect_bad("{\"data\":{}}", AA_PROMAPI_QUERY, AA_ESYNTAX,
               "missing \"status\"");
    expect_bad("{\"status\":\"ok\"}", AA_PROMAPI_QUERY, AA_ESYNTAX,
               "status: expected \"success\" or \"error\"");
    expect_bad("{\"status\":true}", AA_PROMAPI_QUERY, AA_ESYNTAX,
               "status: expected");
    expect_bad("{\"status\":\"success\"}", AA_PROMAPI_QUERY, AA_ESYNTAX,
               "missing \"data\"");
    expect_bad("{\"status\":\"success\",\"status\":\"error\"}",
               AA_PROMAPI_QUERY, AA_ESYNTAX, "duplicate");
    expect_bad("{\"status\":\"success\",\"data\":[]}", AA_PROMAPI_QUERY,
               AA_ESYNTAX, "data: expected an object, got an array");
    expect_bad("{\"status\":\"success\",\"data\":{\"result\":[]}}",
               AA_PROMAPI_QUERY, AA_ESYNTAX, "data: missing \"resultType\"");
    expect_bad("{\"status\":\"success\",\"data\":{\"resultType\":3,"
               "\"result\":[]}}",
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.resultType: expected a string, got a number");
    expect_bad("{\"status\":\"success\",\"data\":{\"resultType\":"
               "\"vector\"}}",
               AA_PROMAPI_QUERY, AA_ESYNTAX, "data: missing \"result\"");
    expect_bad("{\"status\":\"success\",\"data\":{\"resultType\":\"table\","
               "\"result\":[]}}",
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.resultType: unknown result type \"table\"");
    expect_bad(VEC("{}"), AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result: expected an array, got an object");
    expect_bad(VEC("[" OK1 ",3]"), AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[1]: expected an object, got a number");
    expect_bad(VEC("[{\"value\":[1,\"1\"]}]"), AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0]: missing \"metric\"");
    expect_bad(VEC("[{\"metric\":[],\"value\":[1,\"1\"]}]"), AA_PROMAPI_QUERY,
               AA_ESYNTAX, "data.result[0].metric: expected a label object");
    expect_bad(VEC("[{\"metric\":{\"job\":null},\"value\":[1,\"1\"]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0].metric.job: expected a string, got null");
    expect_bad(VEC("[{\"metric\":{\"\":\"x\"},\"value\":[1,\"1\"]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX, "empty label name");
    expect_bad(VEC("[{\"metric\":{}}]"), AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0]: missing \"value\"");
    expect_bad(VEC("[{\"metric\":{},\"histogram\":[1,{}]}]"), AA_PROMAPI_QUERY,
               AA_ESYNTAX, "native histogram samples are not supported");
    /* a histogram beside a float is refused, not half read */
    expect_bad(VEC("[{\"metric\":{},\"value\":[1,\"1\"],"
                   "\"histogram\":[1,{}]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0]: native histogram samples are not supported");
    expect_bad(
        VEC("[" OK1 "," OK1 "," OK1 ",{\"metric\":{},\"value\":[1,2]}]"),
        AA_PROMAPI_QUERY, AA_ESYNTAX,
        "data.result[3].value[1]: expected a string, got a number");
    expect_bad(VEC("[{\"metric\":{},\"value\":[\"1\",\"2\"]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0].value[0]: expected a timestamp number");
    expect_bad(VEC("[{\"metric\":{},\"value\":[1]}]"), AA_PROMAPI_QUERY,
               AA_ESYNTAX, "data.result[0].value: expected a [timestamp");
    expect_bad(VEC("[{\"metric\":{},\"value\":[1,\"1\",3]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX, "got 3");
    expect_bad(VEC("[{\"metric\":{},\"value\":[1,\"1.0x\"]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0].value[1]: \"1.0x\" is not a sample value");
    expect_bad(VEC("[{\"metric\":{},\"value\":[1e300,\"1\"]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX, "out of range");
    expect_bad(MAT("[{\"metric\":{}}]"), AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0]: missing \"values\"");
    expect_bad(MAT("[{\"metric\":{},\"values\":{}}]"), AA_PROMAPI_QUERY,
               AA_ESYNTAX, "data.result[0].values: expected an array");
    expect_bad(MAT("[{\"metric\":{},\"values\":[[1,\"1\"],[2,\"x\"]]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0].values[1][1]: \"x\" is not a sample value");
    expect_bad(MAT("[{\"metric\":{},\"values\":[[2,\"1\"],[2,\"1\"]]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[0].values[1]: timestamps are not increasing");
    expect_bad(MAT("[{\"metric\":{},\"values\":[],\"histograms\":[]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX, "native histogram");
    expect_bad("{\"status\":\"success\",\"data\":{\"resultType\":"
               "\"scalar\",\"result\":[1,1]}}",
               AA_PROMAPI_QUERY, AA_ESYNTAX,
               "data.result[1]: expected a string");
    /* NUL bytes in strings are refused by the JSON layer */
    expect_bad(VEC("[{\"metric\":{\"a\":\"x\\u0000y\"},"
                   "\"value\":[1,\"1\"]}]"),
               AA_PROMAPI_QUERY, AA_ESYNTAX, "invalid JSON");
}

/* Deep nesting must not exhaust the stack. */
static void test_deep(void)
{
    aa_promapi_resp r;
    aa_diag d;
    size_t depth = 100000, i;
    char *s = malloc(2 * depth + 1);

    CHECK(s != NULL);
    if (s == NULL) {
        return;
    }
    for (i = 0; i < depth; i++) {
        s[i] = '[';
        s[depth + i] = ']';
    }
    s[2 * depth] = '\0';
    CHECK_INT_EQ(aa_promapi_parse(s, 2 * depth, AA_PROMAPI_QUERY, &r, &d),
                 AA_ESYNTAX);
    CHECK_STR_CONTAINS(d.message, "invalid JSON");
    free(s);
}

/* A result with more than the bounded number of series is refused. */
static void test_too_many_series(void)
{
    aa_promapi_resp r;
    aa_diag d;
    aat_buf b;
    size_t i;

    aat_buf_init(&b, (size_t)64 << 20);
    aat_buf_appendf(&b, "{\"status\":\"success\",\"data\":[");
    for (i = 0; i <= AA_PROMAPI_MAX_SERIES; i++) {
        aat_buf_appendf(&b, "%s{}", i > 0 ? "," : "");
    }
    aat_buf_appendf(&b, "]}");
    CHECK_INT_EQ(aa_promapi_parse(b.data, b.len, AA_PROMAPI_SERIES, &r, &d),
                 AA_ETOOBIG);
    CHECK_STR_CONTAINS(d.message, "more than");
    aat_buf_release(&b);
}

/* A body packing more JSON values than the bound is refused before the
 * JSON layer builds its (many times larger) tree; the same count spread
 * over strings is fine. */
static void test_too_many_values(void)
{
    aa_promapi_resp r;
    aa_diag d;
    aat_buf b;
    size_t i, n = AA_PROMAPI_MAX_VALUES;

    aat_buf_init(&b, (size_t)64 << 20);
    aat_buf_appendf(&b, "{\"status\":\"success\",\"warnings\":[\"");
    for (i = 0; i < n / 4 + 1; i++) {
        aat_buf_append(&b, ",[{:", 4); /* inside a string: not counted */
    }
    aat_buf_appendf(&b, "\"],\"data\":{\"resultType\":\"vector\","
                       "\"result\":[]}}");
    CHECK_INT_EQ(aa_promapi_parse(b.data, b.len, AA_PROMAPI_QUERY, &r, &d),
                 AA_OK);
    aa_promapi_resp_clear(&r);

    aat_buf_reset(&b);
    aat_buf_appendf(&b, "{\"status\":\"success\",\"data\":{\"resultType\":"
                       "\"scalar\",\"result\":[1,\"1\"]},\"x\":[");
    for (i = 0; i < n; i++) {
        aat_buf_append(&b, i > 0 ? ",0" : "0", i > 0 ? 2 : 1);
    }
    aat_buf_appendf(&b, "]}");
    CHECK_INT_EQ(aa_promapi_parse(b.data, b.len, AA_PROMAPI_QUERY, &r, &d),
                 AA_ETOOBIG);
    CHECK_STR_CONTAINS(d.message, "more than 4000000 JSON values");
    CHECK(r.vector.n == 0);
    aat_buf_release(&b);
}

static void test_config(void)
{
    aa_promapi_resp r;
    aa_diag d;
    int64_t ms;
    const char *yaml = "global:\n  scrape_interval: 30s\n"
                       "  scrape_timeout: 10s\n"
                       "scrape_configs:\n- job_name: x\n"
                       "  scrape_interval: 5s\n";

    CHECK_INT_EQ(parse("{\"status\":\"success\",\"data\":{\"yaml\":"
                       "\"global:\\n  scrape_interval: 1m30s\\n\"}}",
                       AA_PROMAPI_CONFIG, &r, &d),
                 AA_OK);
    CHECK_INT_EQ(r.type, AA_PROMAPI_STRING);
    CHECK_STR_EQ(r.string, "global:\n  scrape_interval: 1m30s\n");
    CHECK_INT_EQ(aa_promapi_scrape_interval(r.string, &ms), AA_OK);
    CHECK_INT_EQ(ms, 90000);
    aa_promapi_resp_clear(&r);
    expect_bad("{\"status\":\"success\",\"data\":{\"yaml\":1}}",
               AA_PROMAPI_CONFIG, AA_ESYNTAX,
               "data.yaml: expected a string, got a number");
    expect_bad("{\"status\":\"success\",\"data\":{}}", AA_PROMAPI_CONFIG,
               AA_ESYNTAX, "data: missing \"yaml\"");

    /* the global value, not a job's */
    CHECK_INT_EQ(aa_promapi_scrape_interval(yaml, &ms), AA_OK);
    CHECK_INT_EQ(ms, 30000);
    CHECK_INT_EQ(aa_promapi_scrape_interval("scrape_configs:\n- job_name: x"
                                            "\n  scrape_interval: 5s\n",
                                            &ms),
                 AA_ENOTFOUND);
    CHECK_INT_EQ(ms, 0);
    CHECK_INT_EQ(aa_promapi_scrape_interval("global:\n  scrape_interval: "
                                            "soon\n",
                                            &ms),
                 AA_ESYNTAX);
    CHECK_INT_EQ(ms, 0);
    CHECK_INT_EQ(aa_promapi_scrape_interval("", &ms), AA_ENOTFOUND);
    CHECK_INT_EQ(aa_promapi_scrape_interval(NULL, &ms), AA_ENOTFOUND);
}

int main(void)
{
    test_values();
    test_vector();
    test_matrix();
    test_scalar_string();
    test_series();
    test_envelopes();
    test_many_warnings();
    test_malformed();
    test_deep();
    test_too_many_series();
    test_too_many_values();
    test_config();
    return check_report("test_promapi");
}
