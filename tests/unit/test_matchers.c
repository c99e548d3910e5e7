/* test_matchers.c: PromQL label matcher parsing, escapes, errors. */
#include "aa/rules.h"
#include "check.h"

static void test_basic(void)
{
    aa_matchers m;
    aa_diag d;

    CHECK_INT_EQ(aa_matchers_parse("{job=\"api\", path=~\"/v1/.*\", "
                                   "code!=\"200\", env!~'dev|test'}",
                                   &m, &d),
                 AA_OK);
    CHECK_INT_EQ(m.n, 4);
    if (m.n == 4) {
        CHECK_STR_EQ(m.v[0].name, "job");
        CHECK_INT_EQ(m.v[0].op, AA_MATCH_EQ);
        CHECK_STR_EQ(m.v[0].value, "api");
        CHECK_STR_EQ(m.v[1].name, "path");
        CHECK_INT_EQ(m.v[1].op, AA_MATCH_RE);
        CHECK_STR_EQ(m.v[1].value, "/v1/.*");
        CHECK_INT_EQ(m.v[2].op, AA_MATCH_NE);
        CHECK_STR_EQ(m.v[2].value, "200");
        CHECK_INT_EQ(m.v[3].op, AA_MATCH_NRE);
        CHECK_STR_EQ(m.v[3].value, "dev|test");
    }
    aa_matchers_clear(&m);
    CHECK(m.v == NULL && m.n == 0);
    aa_matchers_clear(&m); /* twice is fine */
    aa_matchers_clear(NULL);
}

static void test_forms(void)
{
    aa_matchers m;

    /* without braces, spaces, trailing comma, empty */
    CHECK_INT_EQ(aa_matchers_parse("job = \"api\"", &m, NULL), AA_OK);
    CHECK_INT_EQ(m.n, 1);
    aa_matchers_clear(&m);
    CHECK_INT_EQ(aa_matchers_parse(" { a=\"1\" , b=\"2\", } ", &m, NULL),
                 AA_OK);
    CHECK_INT_EQ(m.n, 2);
    aa_matchers_clear(&m);
    CHECK_INT_EQ(aa_matchers_parse("{}", &m, NULL), AA_OK);
    CHECK_INT_EQ(m.n, 0);
    aa_matchers_clear(&m);
    CHECK_INT_EQ(aa_matchers_parse("", &m, NULL), AA_OK);
    CHECK_INT_EQ(m.n, 0);
    aa_matchers_clear(&m);
    CHECK_INT_EQ(aa_matchers_parse("{a=``}", &m, NULL), AA_OK);
    CHECK_INT_EQ(m.n, 1);
    if (m.n == 1) {
        CHECK_STR_EQ(m.v[0].value, "");
    }
    aa_matchers_clear(&m);
    CHECK_INT_EQ(aa_matchers_parse("{__name__=\"up\", _x9=\"\"}", &m, NULL),
                 AA_OK);
    CHECK_INT_EQ(m.n, 2);
    aa_matchers_clear(&m);
}

static void expect_value(const char *text, const char *want)
{
    aa_matchers m;

    CHECK_INT_EQ(aa_matchers_parse(text, &m, NULL), AA_OK);
    CHECK_INT_EQ(m.n, 1);
    if (m.n == 1) {
        CHECK_STR_EQ(m.v[0].value, want);
    }
    aa_matchers_clear(&m);
}

static void test_escapes(void)
{
    expect_value("{a=\"say \\\"hi\\\"\"}", "say \"hi\"");
    expect_value("{a=\"back\\\\slash\"}", "back\\slash");
    expect_value("{a=\"line\\nbreak\\ttab\\rcr\"}", "line\nbreak\ttab\rcr");
    expect_value("{a='it\\'s'}", "it's");
    expect_value("{a='say \"hi\"'}", "say \"hi\"");
    expect_value("{a=\"\\x41\\101\\u00e9\\U0001F600\"}",
                 "AA\xc3\xa9\xf0\x9f\x98\x80");
    expect_value("{a=`raw \\n \"q\"`}", "raw \\n \"q\"");
    expect_value("{a=\"\\a\\b\\f\\v\"}", "\a\b\f\v");
    expect_value("{a=\"caf\xc3\xa9\"}", "caf\xc3\xa9");
}

static void expect_error(const char *text, unsigned column,
                         const char *msg_part)
{
    aa_matchers m;
    aa_diag d;

    aa_diag_clear(&d);
    CHECK_INT_EQ(aa_matchers_parse(text, &m, &d), AA_ESYNTAX);
    CHECK(m.v == NULL && m.n == 0);
    if (d.column != column) {
        fprintf(stderr, "for %s: %s\n", text, d.message);
    }
    CHECK_INT_EQ(d.column, column);
    CHECK_STR_CONTAINS(d.message, msg_part);
}

static void test_errors(void)
{
    expect_error("{job=\"api\"", 11, "missing closing '}'");
    expect_error("{job=api}", 6, "expected a quoted label value");
    expect_error("{job}", 5, "expected a matcher operator");
    expect_error("{job==\"a\"}", 6, "expected a quoted label value");
    expect_error("{9job=\"a\"}", 2, "expected a label name");
    expect_error("{job=\"a\" env=\"b\"}", 10, "expected ',' or '}'");
    expect_error("{job=\"a\"", 9, "missing closing");
    expect_error("job=\"a\"}", 8, "unexpected '}'");
    expect_error("{job=\"a\"} x", 11, "unexpected text");
    expect_error("{job=\"abc}", 6, "unterminated string");
    expect_error("{job=\"a\\qb\"}", 8, "invalid escape");
    expect_error("{job=\"a\\'b\"}", 8, "invalid escape");
    expect_error("{job='a\\\"b'}", 8, "invalid escape");
    expect_error("{job=\"a\\x4\"}", 8, "invalid hex escape");
    expect_error("{job=\"a\\x00\"}", 8, "NUL");
    expect_error("{job=\"a\\u0000\"}", 8, "NUL");
    expect_error("{job=\"\\uD800\"}", 7, "Unicode");
    expect_error("{job=\"\\400\"}", 7, "octal");
    expect_error("{job=\"a\nb\"}", 8, "newline");
    expect_error("{,}", 2, "expected a label name");
    expect_error("{job=~}", 7, "expected a quoted label value");
    expect_error("{job=\"a\"}}", 10, "unexpected text");
}

/* Regex values are compiled when parsed: RE2's rejections come with the
 * column of the fault inside the quoted value, escapes counted. */
static void test_regex_values(void)
{
    aa_matchers m;

    expect_error("{path=~\"(((\"}", 11,
                 "invalid regular expression for path: missing closing ): "
                 "`(((`");
    expect_error("{a=~\"x\\\\1\"}", 7, "invalid escape sequence: `\\1`");
    expect_error("{a=~`x\\1`}", 7, "backreferences are not supported");
    expect_error("{a!~\"\\u00e9(\"}", 12, "missing closing )");
    expect_error("{a=\"x\", b=~'a**'}", 14,
                 "invalid nested repetition operator: `**`");
    expect_error("{a=~\"(?=x)\"}", 6, "lookahead is not supported");
    expect_error("{a=~\"a{1001}\"}", 7, "invalid repeat count");
    /* valid RE2 this engine cannot run: accepted (a backend runs it) */
    CHECK_INT_EQ(aa_matchers_parse("{a=~\"\\\\p{Greek}+\"}", &m, NULL), AA_OK);
    aa_matchers_clear(&m);
    expect_error("{a=~\"\\\\p{Greek\"}", 6, "invalid character class range");
    /* = and != take any text */
    CHECK_INT_EQ(aa_matchers_parse("{a=\"(((\", b!=\"a**\"}", &m, NULL),
                 AA_OK);
    aa_matchers_clear(&m);
    CHECK_INT_EQ(aa_matchers_parse("{a=~\"(?i)get|post\", b!~\"5..\", "
                                   "c=~\"((((a*)*)*)*)*\"}",
                                   &m, NULL),
                 AA_OK);
    CHECK_INT_EQ(m.n, 3);
    aa_matchers_clear(&m);
}

static void test_append(void)
{
    aa_matchers a, b;

    CHECK_INT_EQ(aa_matchers_parse("{x=\"1\"}", &a, NULL), AA_OK);
    CHECK_INT_EQ(aa_matchers_parse("{y!~\"2\", z=\"3\"}", &b, NULL), AA_OK);
    CHECK_INT_EQ(aa_matchers_append(&a, &b), AA_OK);
    CHECK_INT_EQ(a.n, 3);
    if (a.n == 3) {
        CHECK_STR_EQ(a.v[1].name, "y");
        CHECK_INT_EQ(a.v[1].op, AA_MATCH_NRE);
        CHECK_STR_EQ(a.v[2].value, "3");
        CHECK(a.v[2].value != b.v[1].value); /* a copy */
    }
    CHECK_INT_EQ(aa_matchers_append(&a, NULL), AA_OK);
    CHECK_INT_EQ(a.n, 3);
    aa_matchers_clear(&b);
    CHECK_STR_EQ(a.v[2].value, "3");
    aa_matchers_clear(&a);
}

int main(void)
{
    test_basic();
    test_forms();
    test_escapes();
    test_errors();
    test_regex_values();
    test_append();
    return check_report("test_matchers");
}
