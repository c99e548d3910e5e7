/* test_duration.c: Prometheus-style duration parsing and formatting. */
#include "aa/rules.h"
#include "check.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = -1;

    CHECK_INT_EQ(aa_duration_parse(s, &ms), AA_OK);
    return ms;
}

static void parse_bad(const char *s)
{
    int64_t ms = 123;
    int rc = aa_duration_parse(s, &ms);

    if (rc != AA_ESYNTAX) {
        fprintf(stderr, "duration \"%s\" was accepted\n", s ? s : "(null)");
    }
    CHECK_INT_EQ(rc, AA_ESYNTAX);
    CHECK_INT_EQ(ms, 0);
}

static void test_parse(void)
{
    CHECK_INT_EQ(parse_ok("250ms"), 250);
    CHECK_INT_EQ(parse_ok("30s"), 30000);
    CHECK_INT_EQ(parse_ok("5m"), 300000);
    CHECK_INT_EQ(parse_ok("1h"), 3600000);
    CHECK_INT_EQ(parse_ok("1m30s"), 90000);
    CHECK_INT_EQ(parse_ok("1h2m3s4ms"), 3723004);
    CHECK_INT_EQ(parse_ok("1d"), 86400000);
    CHECK_INT_EQ(parse_ok("2w"), 14LL * 86400000);
    CHECK_INT_EQ(parse_ok("1y"), 365LL * 86400000);
    CHECK_INT_EQ(parse_ok("0s"), 0);
    CHECK_INT_EQ(parse_ok("0"), 0);
    CHECK_INT_EQ(parse_ok("90s"), 90000);
    CHECK_INT_EQ(parse_ok("1500ms"), 1500);
}

static void test_parse_errors(void)
{
    parse_bad("");
    parse_bad(NULL);
    parse_bad("5");    /* no unit */
    parse_bad("5x");   /* unknown unit */
    parse_bad("1.5m"); /* fractions: Prometheus durations are integers */
    parse_bad("-5m");
    parse_bad("+5m");
    parse_bad(" 5m");
    parse_bad("5m ");
    parse_bad("5 m");
    parse_bad("m");
    parse_bad("30s1m"); /* units out of order */
    parse_bad("1m1m");  /* repeated unit */
    parse_bad("5M");
    parse_bad("5mss");
    parse_bad("00");
    parse_bad("99999999999999999999s"); /* overflow */
    parse_bad("9223372036854775807y");
}

static void check_format(int64_t ms, const char *want)
{
    char buf[64];

    CHECK_STR_EQ(aa_duration_format(ms, buf, sizeof(buf)), want);
}

static void test_format(void)
{
    char small[4];

    check_format(250, "250ms");
    check_format(30000, "30s");
    check_format(300000, "5m");
    check_format(90000, "1m30s");
    check_format(3600000, "1h");
    check_format(86400000, "1d");
    check_format(7LL * 86400000, "1w");
    check_format(8LL * 86400000 + 1, "1w1d1ms");
    check_format(0, "0s");
    check_format(-5, "0s");
    check_format(1001, "1s1ms");
    /* truncation keeps the buffer terminated */
    aa_duration_format(3723004, small, sizeof(small));
    CHECK(strlen(small) < sizeof(small));
}

static void test_roundtrip(void)
{
    static const int64_t v[] = {
        1, 999, 1000, 61000, 3599999, 86400001, 400LL * 86400000};
    char buf[64];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t back = -1;

        aa_duration_format(v[i], buf, sizeof(buf));
        CHECK_INT_EQ(aa_duration_parse(buf, &back), AA_OK);
        CHECK_INT_EQ(back, v[i]);
    }
}

int main(void)
{
    test_parse();
    test_parse_errors();
    test_format();
    test_roundtrip();
    return check_report("test_duration");
}
