/* test_threshold.c: "OP VALUE[UNIT]" parsing, units, comparison. */
#include "aa/rules.h"
#include "check.h"

static aa_threshold parse_ok(const char *s)
{
    aa_threshold t;

    CHECK_INT_EQ(aa_threshold_parse(s, &t), AA_OK);
    CHECK(t.set);
    return t;
}

static void parse_bad(const char *s)
{
    aa_threshold t;
    int rc = aa_threshold_parse(s, &t);

    if (rc != AA_ESYNTAX) {
        fprintf(stderr, "threshold \"%s\" was accepted\n", s ? s : "(null)");
    }
    CHECK_INT_EQ(rc, AA_ESYNTAX);
    CHECK(!t.set);
}

static void test_ops(void)
{
    aa_threshold t;

    t = parse_ok("> 1");
    CHECK_INT_EQ(t.op, AA_CMP_GT);
    t = parse_ok(">= 1");
    CHECK_INT_EQ(t.op, AA_CMP_GE);
    t = parse_ok("< 1");
    CHECK_INT_EQ(t.op, AA_CMP_LT);
    t = parse_ok("<= 1");
    CHECK_INT_EQ(t.op, AA_CMP_LE);
    t = parse_ok("== 1");
    CHECK_INT_EQ(t.op, AA_CMP_EQ);
    t = parse_ok("!= 1");
    CHECK_INT_EQ(t.op, AA_CMP_NE);
    CHECK_STR_EQ(aa_cmp_str(AA_CMP_GT), ">");
    CHECK_STR_EQ(aa_cmp_str(AA_CMP_GE), ">=");
    CHECK_STR_EQ(aa_cmp_str(AA_CMP_LT), "<");
    CHECK_STR_EQ(aa_cmp_str(AA_CMP_LE), "<=");
    CHECK_STR_EQ(aa_cmp_str(AA_CMP_EQ), "==");
    CHECK_STR_EQ(aa_cmp_str(AA_CMP_NE), "!=");
}

static void test_units(void)
{
    aa_threshold t;

    t = parse_ok("> 250ms");
    CHECK_DBL_NEAR(t.value, 0.25, 0);
    CHECK_STR_EQ(t.text, "> 250ms");
    t = parse_ok(">50ms");
    CHECK_DBL_NEAR(t.value, 0.05, 0);
    CHECK_STR_EQ(t.text, ">50ms");
    t = parse_ok("  >=   2s  ");
    CHECK_DBL_NEAR(t.value, 2.0, 0);
    CHECK_STR_EQ(t.text, ">=   2s");
    t = parse_ok("> 5%");
    CHECK_DBL_NEAR(t.value, 0.05, 0);
    t = parse_ok("> 1s");
    CHECK_DBL_NEAR(t.value, 1.0, 0);
    parse_bad("> 90 %"); /* the unit is glued to the number */
}

static void test_units_real(void)
{
    aa_threshold t;

    t = parse_ok("< 0.5");
    CHECK_DBL_NEAR(t.value, 0.5, 0);
    t = parse_ok("> 1e3ms");
    CHECK_DBL_NEAR(t.value, 1.0, 0);
    t = parse_ok("> -3");
    CHECK_DBL_NEAR(t.value, -3.0, 0);
    t = parse_ok("> .5");
    CHECK_DBL_NEAR(t.value, 0.5, 0);
    t = parse_ok("> 5.");
    CHECK_DBL_NEAR(t.value, 5.0, 0);
    t = parse_ok("> 99.5%");
    CHECK_DBL_NEAR(t.value, 0.995, 1e-15);
    t = parse_ok("> 0");
    CHECK_DBL_NEAR(t.value, 0.0, 0);
}

static void test_bad(void)
{
    parse_bad(NULL);
    parse_bad("");
    parse_bad("250ms"); /* no operator */
    parse_bad("> ");    /* no value */
    parse_bad(">");
    parse_bad("=> 1");
    parse_bad("= 1");
    parse_bad("! 1");
    parse_bad("> 1 s x");
    parse_bad("> 5m"); /* minutes are not a threshold unit */
    parse_bad("> 5min");
    parse_bad("> 5 ms"); /* unit must follow the number */
    parse_bad("> abc");
    parse_bad("> inf");
    parse_bad("> nan");
    parse_bad("> 0x10");
    parse_bad("> 1e999"); /* not finite */
    parse_bad("> 1,5");
    parse_bad(">> 1");
    parse_bad("> .");
    parse_bad("> 1000000000000000000000000000000000000000000000000000000000"
              "000000000000000");
}

static void test_crossed(void)
{
    aa_threshold t = parse_ok("> 250ms");
    aa_threshold none;

    CHECK(aa_threshold_crossed(&t, 0.3));
    CHECK(!aa_threshold_crossed(&t, 0.25));
    CHECK(!aa_threshold_crossed(&t, NAN));
    t = parse_ok(">= 250ms");
    CHECK(aa_threshold_crossed(&t, 0.25));
    CHECK(!aa_threshold_crossed(&t, 0.2));
    t = parse_ok("< 1");
    CHECK(aa_threshold_crossed(&t, 0.5));
    CHECK(!aa_threshold_crossed(&t, 1));
    t = parse_ok("<= 1");
    CHECK(aa_threshold_crossed(&t, 1));
    CHECK(!aa_threshold_crossed(&t, 1.5));
    t = parse_ok("== 0");
    CHECK(aa_threshold_crossed(&t, 0));
    CHECK(!aa_threshold_crossed(&t, 1));
    t = parse_ok("!= 0");
    CHECK(aa_threshold_crossed(&t, 1));
    CHECK(!aa_threshold_crossed(&t, 0));
    CHECK(!aa_threshold_crossed(&t, NAN));
    memset(&none, 0, sizeof(none));
    CHECK(!aa_threshold_crossed(&none, 100));
    CHECK(!aa_threshold_crossed(NULL, 100));
}

int main(void)
{
    test_ops();
    test_units();
    test_units_real();
    test_bad();
    test_crossed();
    return check_report("test_threshold");
}
