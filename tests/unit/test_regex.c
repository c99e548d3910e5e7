/*
 * test_regex.c: the label-matcher regex engine (aa_re) against RE2's
 * documented syntax and Go's regexp behaviour as Prometheus applies it
 * (`v=~"re"` is a full match of ^(?:re)$), the rejections with their
 * column and message, and patterns that hang backtracking engines.
 *
 * The expected values follow the RE2 syntax page and Go's regexp/syntax
 * documentation; they were cross-checked against Prometheus v2.42's own
 * evaluation of `m{v=~"re"}` (Go 1.19), except the row marked "Go >=
 * 1.22", the \Q row (Prometheus wraps the pattern in ^(?:...)$, which
 * \Q swallows) and the invalid-UTF-8 inputs, which a recording cannot
 * carry.  Where this engine deliberately differs from RE2 (\p classes,
 * the reach of (?i)) docs/rules.md says so.
 */
#include "aa/regex.h"
#include "check.h"

typedef struct mcase {
    const char *re;
    const char *s;
    int want;
} mcase;

static const mcase cases[] = {
    /* literals, full anchoring */
    {"", "", 1},
    {"", "a", 0},
    {"abc", "abc", 1},
    {"abc", "abcd", 0},
    {"abc", "xabc", 0},
    {"abc", "ab", 0},
    {"日本", "日本", 1},
    {"é", "e\xcc\x81", 0},
    /* dot */
    {"a.c", "abc", 1},
    {"a.c", "ac", 0},
    {"a.c", "a\nc", 0},
    {"(?s)a.c", "a\nc", 1},
    {".", "\xc3\xa9", 1},
    {".", "\xe6\x97\xa5", 1},
    {".", "\xf0\x9f\x98\x80", 1},
    {"..", "\xc3\xa9", 0},
    {"日.", "日本", 1},
    /* alternation and groups */
    {"a|b", "a", 1},
    {"a|b", "b", 1},
    {"a|b", "ab", 0},
    {"a|ab", "ab", 1},
    {"ab|cd", "abd", 0},
    {"(a|ab)(c|bcd)", "abcd", 1},
    {"a(b|c)d", "acd", 1},
    {"()", "", 1},
    {"(|a)", "a", 1},
    {"(|a)", "", 1},
    {"a||b", "", 1},
    {"(a)(b)(c)", "abc", 1},
    {"(?:ab)+", "abab", 1},
    {"(?:ab)+", "aba", 0},
    {"(?P<x>a+)b", "aab", 1},
    {"(?<x>a+)b", "aab", 1}, /* Go >= 1.22 */
    {"(?P<a>x)(?P<a>y)", "xy", 1},
    /* repetition */
    {"a*", "", 1},
    {"a*", "aaa", 1},
    {"a*", "aab", 0},
    {"a+", "", 0},
    {"a+", "aa", 1},
    {"a?", "", 1},
    {"a?", "a", 1},
    {"a?", "aa", 0},
    {"a{2}", "aa", 1},
    {"a{2}", "a", 0},
    {"a{2}", "aaa", 0},
    {"a{2,}", "aa", 1},
    {"a{2,}", "aaaaa", 1},
    {"a{2,}", "a", 0},
    {"a{2,3}", "aaa", 1},
    {"a{2,3}", "aaaa", 0},
    {"a{0}", "", 1},
    {"a{0}", "a", 0},
    {"a{0,1}b", "b", 1},
    {"(ab){1,2}", "abab", 1},
    {"(ab){1,2}", "ababab", 0},
    {"a*?", "aaa", 1},
    {"a+?b", "aab", 1},
    {"a??", "", 1},
    {"a{1,2}?", "aa", 1},
    {"(?U)a+", "aaa", 1},
    {"(a*)*", "aaa", 1},
    {"(a*)*", "b", 0},
    {"(a*)+", "", 1},
    {"(a|b)*c", "ababc", 1},
    {"(a|b)*c", "ababd", 0},
    {"^*a", "a", 1},
    /* braces that are not counts are literals */
    {"a{,2}", "a{,2}", 1},
    {"a{", "a{", 1},
    {"{", "{", 1},
    {"x{2", "x{2", 1},
    {"a{01}", "a{01}", 1},
    {"a{1,x}", "a{1,x}", 1},
    /* classes */
    {"[abc]", "b", 1},
    {"[abc]", "d", 0},
    {"[a-c]+", "abcabc", 1},
    {"[^a-c]", "d", 1},
    {"[^a-c]", "a", 0},
    {"[^a-c]", "\n", 1},
    {"[]a]", "]", 1},
    {"[]a]", "a", 1},
    {"[a-]", "-", 1},
    {"[-a]", "-", 1},
    {"[a\\]]+", "a]", 1},
    {"[\\-]", "-", 1},
    {"[\\n]", "\n", 1},
    {"[\\x41-\\x43]+", "ABC", 1},
    {"[\\x41-\\x43]+", "ABD", 0},
    {"[é-ë]", "ê", 1},
    {"[é-ë]", "e", 0},
    {"[^é]", "e", 1},
    {"[^é]", "é", 0},
    {"[日本]+", "本日", 1},
    {"[\\d]", "5", 1},
    {"[\\D]", "x", 1},
    {"[\\D]", "5", 0},
    {"[\\d\\s]+", "1 2", 1},
    {"[[:alpha:]]+", "abcXYZ", 1},
    {"[[:alpha:]]+", "ab1", 0},
    {"[[:^alpha:]]", "1", 1},
    {"[[:^alpha:]]", "a", 0},
    {"[[:digit:][:upper:]]+", "A1B2", 1},
    {"[[:word:]]+", "a_1", 1},
    {"[[:space:]]", "\v", 1},
    {"[[:punct:]]", "!", 1},
    {"[[:punct:]]", "a", 0},
    {"[[:xdigit:]]+", "0aF", 1},
    {"[[:xdigit:]]+", "0aG", 0},
    {"[[:alnum:]]", "_", 0},
    {"[[:blank:]]", "\t", 1},
    {"[[:cntrl:]]", "\x7f", 1},
    {"[[:lower:]]", "A", 0},
    {"[[:print:]]", " ", 1},
    {"[[:graph:]]", " ", 0},
    {"[[:ascii:]]", "\xc3\xa9", 0},
    {"[[:a]", "[", 1}, /* no ":]": "[", ":" and "a" are literals */
    /* Perl classes: ASCII only */
    {"\\d+", "0123", 1},
    {"\\d+", "12a", 0},
    {"\\d", "\xd9\xa3", 0},
    {"\\D", "a", 1},
    {"\\D", "1", 0},
    {"\\w+", "ab_9", 1},
    {"\\w+", "a-b", 0},
    {"\\w", "\xc3\xa9", 0},
    {"\\W", "-", 1},
    {"\\s", " ", 1},
    {"\\s", "\t", 1},
    {"\\s", "\n", 1},
    {"\\s", "\r", 1},
    {"\\s", "\f", 1},
    {"\\s", "\v", 0},
    {"\\S", "a", 1},
    {"\\S", " ", 0},
    /* escapes */
    {"a\\.b", "a.b", 1},
    {"a\\.b", "axb", 0},
    {"\\\\", "\\", 1},
    {"\\n", "\n", 1},
    {"\\t", "\t", 1},
    {"\\a", "\a", 1},
    {"\\x41", "A", 1},
    {"\\x{41}", "A", 1},
    {"\\x{1F600}", "\xf0\x9f\x98\x80", 1},
    {"\\101", "A", 1},
    {"\\12", "\n", 1},
    {"\\*", "*", 1},
    {"\\/", "/", 1},
    {"\\ ", " ", 1},
    {"\\Qa.b\\E", "a.b", 1},
    {"\\Qa.b\\E", "axb", 0},
    {"\\Qa+", "a+", 1}, /* Prometheus's ^(?:\Qa+)$ quotes the ")$" */
    {"x\\Q\\Ey", "xy", 1},
    /* flags */
    {"(?i)abc", "ABC", 1},
    {"(?i)abc", "aBc", 1},
    {"(?i)k", "\xe2\x84\xaa", 1},    /* KELVIN SIGN */
    {"(?i)s", "\xc5\xbf", 1},        /* LATIN SMALL LETTER LONG S */
    {"(?i)\xc3\xa9", "\xc3\x89", 1}, /* é É */
    {"(?i)\xcf\x83", "\xcf\x82", 1}, /* σ ς */
    {"(?i)\xd0\xb6", "\xd0\x96", 1}, /* ж Ж */
    {"a(?i)b", "aB", 1},
    {"a(?i)b", "AB", 0},
    {"(?i:a)b", "Ab", 1},
    {"(?i:a)b", "AB", 0},
    {"(?i)[a-c]+", "AbC", 1},
    {"(?i)[^a]", "A", 0},
    {"(?i)[[:upper:]]", "q", 1},
    {"(?i)\\W", "k", 0},
    {"(?i)a(?-i)b", "Ab", 1},
    {"(?i)a(?-i)b", "AB", 0},
    {"(a(?i)b)c", "aBc", 1},
    {"(a(?i)b)c", "aBC", 0},
    {"(?i)a|b", "B", 1},
    {"(?i)", "", 1},
    {"(?)", "", 1},
    {"(?s).+", "a\nb", 1},
    {".+", "a\nb", 0},
    {"(?s-s).", "\n", 0},
    /* anchors */
    {"^abc$", "abc", 1},
    {"a^b", "ab", 0},
    {"$a", "a", 0},
    {"\\Aabc\\z", "abc", 1},
    {"a$\n^b", "a\nb", 0},
    {"(?m)a$\n^b", "a\nb", 1},
    {"(?m)^", "", 1},
    {"a\\b", "a", 1},
    {"a\\bb", "ab", 0},
    {"a\\Bb", "ab", 1},
    {"a\\b-", "a-", 1},
    {"\\b", "", 0},
    {"\\B", "", 1},
    {"\\bfoo\\b", "foo", 1},
    /* what Prometheus users write */
    {"5..", "503", 1},
    {"5..", "200", 0},
    {"/v1/.*", "/v1/users/7", 1},
    {"/v1/.*", "/v2/users", 0},
    {"dev|test", "test", 1},
    {"dev|test", "testing", 0},
    {".*-canary", "api-canary", 1},
    {"(?i)get|post", "POST", 1},
    {"[0-9]+\\.[0-9]+\\.[0-9]+", "1.22.3", 1},
    {".+", "", 0},
};

/* Invalid UTF-8 in the input reads as one U+FFFD per bad byte. */
static const mcase bad_utf8_cases[] = {
    {".", "\xff", 1},
    {"..", "\xc3", 0},
    {"a.b",
     "a\xe6\x97"
     "b",
     0},
    {"a..b",
     "a\xe6\x97"
     "b",
     1},
    {"\\x{FFFD}", "\xff", 1},
    {"[^a]", "\x80", 1},
    {"\xc3\xa9", "\xc3\xa9\xff", 0},
};

static void run_cases(const mcase *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        aa_re *re = NULL;
        aa_diag d;
        int rc;

        aa_diag_clear(&d);
        rc = aa_re_compile(v[i].re, &re, &d);
        if (rc != AA_OK) {
            CHECK_FAIL_("case %zu /%s/: compile failed: %s", i, v[i].re,
                        d.message);
            continue;
        }
        check_count++;
        if (aa_re_match(re, v[i].s, strlen(v[i].s)) != (v[i].want != 0)) {
            CHECK_FAIL_("case %zu /%s/ on \"%s\": want %s", i, v[i].re, v[i].s,
                        v[i].want ? "match" : "no match");
        }
        aa_re_free(re);
    }
}

static void test_match(void)
{
    run_cases(cases, sizeof(cases) / sizeof(cases[0]));
    run_cases(bad_utf8_cases, sizeof(bad_utf8_cases) / sizeof(cases[0]));
}

/* The length given is what is matched, not the NUL. */
static void test_length(void)
{
    aa_re *re = NULL;

    CHECK_INT_EQ(aa_re_compile("ab", &re, NULL), AA_OK);
    CHECK(aa_re_match(re, "abc", 2));
    CHECK(!aa_re_match(re, "abc", 3));
    CHECK(!aa_re_match(re, "abc", 1));
    CHECK(!aa_re_match(NULL, "ab", 2));
    aa_re_free(re);
    CHECK_INT_EQ(aa_re_compile("", &re, NULL), AA_OK);
    CHECK(aa_re_match(re, NULL, 0));
    aa_re_free(re);
    aa_re_free(NULL);
}

typedef struct rcase {
    const char *re;
    int rc;
    unsigned column;
    const char *message; /* the start of it */
} rcase;

static const rcase rejects[] = {
    {"(((", AA_ESYNTAX, 3, "missing closing ): `(((`"},
    {"(a(b)", AA_ESYNTAX, 1, "missing closing ): `(a(b)`"},
    {")", AA_ESYNTAX, 1, "unexpected ): `)`"},
    {"a)b", AA_ESYNTAX, 2, "unexpected ): `a)b`"},
    {"(?=a)", AA_ESYNTAX, 1, "invalid or unsupported Perl syntax: `(?=`"},
    {"(?!a)", AA_ESYNTAX, 1, "invalid or unsupported Perl syntax: `(?!`"},
    {"x(?<=a)", AA_ESYNTAX, 2, "invalid or unsupported Perl syntax: `(?<=`"},
    {"(?<!a)", AA_ESYNTAX, 1, "invalid or unsupported Perl syntax: `(?<!`"},
    {"(a)\\1", AA_ESYNTAX, 4, "invalid escape sequence: `\\1`"},
    {"(a)\\9", AA_ESYNTAX, 4, "invalid escape sequence: `\\9`"},
    {"a**", AA_ESYNTAX, 2, "invalid nested repetition operator: `**`"},
    {"a*+", AA_ESYNTAX, 2, "invalid nested repetition operator: `*+`"},
    {"a++", AA_ESYNTAX, 2, "invalid nested repetition operator: `++`"},
    {"a?*", AA_ESYNTAX, 2, "invalid nested repetition operator: `?*`"},
    {"a*??", AA_ESYNTAX, 2, "invalid nested repetition operator: `*??`"},
    {"a{2}{3}", AA_ESYNTAX, 2, "invalid nested repetition operator: `{2}{3}`"},
    {"*a", AA_ESYNTAX, 1, "missing argument to repetition operator: `*`"},
    {"a|*", AA_ESYNTAX, 3, "missing argument to repetition operator: `*`"},
    {"(*)", AA_ESYNTAX, 2, "missing argument to repetition operator: `*`"},
    {"(?i)+", AA_ESYNTAX, 5, "missing argument to repetition operator: `+`"},
    {"{2}", AA_ESYNTAX, 1, "missing argument to repetition operator: `{2}`"},
    {"a{2,1}", AA_ESYNTAX, 2, "invalid repeat count: `{2,1}`"},
    {"a{1001}", AA_ESYNTAX, 2, "invalid repeat count: `{1001}`"},
    {"a{0,1001}", AA_ESYNTAX, 2, "invalid repeat count: `{0,1001}`"},
    {"a{99999999999}", AA_ESYNTAX, 2, "invalid repeat count"},
    {"(a{500}){3}", AA_ESYNTAX, 9, "invalid repeat count: `{3}`"},
    {"[a", AA_ESYNTAX, 1, "missing closing ]: `[a`"},
    {"[]", AA_ESYNTAX, 1, "missing closing ]: `[]`"},
    {"x[^", AA_ESYNTAX, 2, "missing closing ]: `[^`"},
    {"[z-a]", AA_ESYNTAX, 2, "invalid character class range: `z-a`"},
    {"[[:foo:]]", AA_ESYNTAX, 2, "invalid character class range: `[:foo:]`"},
    {"a\\", AA_ESYNTAX, 2, "trailing backslash at end of expression"},
    {"\\C", AA_ESYNTAX, 1, "invalid escape sequence: `\\C`"},
    {"\\Z", AA_ESYNTAX, 1, "invalid escape sequence: `\\Z`"},
    {"\\e", AA_ESYNTAX, 1, "invalid escape sequence: `\\e`"},
    {"a\\pL", AA_EUNSUPPORTED, 2, "Unicode class not supported"},
    {"[\\p{Greek}x](", AA_ESYNTAX, 13, "missing closing )"},
    {"x\\P{^Han}|(?i)\\pN", AA_EUNSUPPORTED, 2,
     "Unicode class not supported in scrape and samples mode: `\\P{^Han}`"},
    {"\\p{Greek", AA_ESYNTAX, 1, "invalid character class range: `\\p{Greek`"},
    {"\\p{}", AA_ESYNTAX, 1, "invalid character class range: `\\p{}`"},
    {"\\p", AA_ESYNTAX, 1, "invalid character class range: `\\p`"},
    {"\\p1", AA_ESYNTAX, 1, "invalid character class range: `\\p1`"},
    {"[a-\\pL]", AA_ESYNTAX, 4, "invalid escape sequence: `\\p`"},
    {"[\\b]", AA_ESYNTAX, 2, "invalid escape sequence: `\\b`"},
    {"\\x{110000}", AA_ESYNTAX, 1, "invalid escape sequence"},
    {"\\xZ1", AA_ESYNTAX, 1, "invalid escape sequence: `\\xZ1`"},
    {"\\x{}", AA_ESYNTAX, 1, "invalid escape sequence: `\\x{}`"},
    {"(?i", AA_ESYNTAX, 1, "invalid or unsupported Perl syntax: `(?i`"},
    {"(?x)", AA_ESYNTAX, 1, "invalid or unsupported Perl syntax: `(?x`"},
    {"(?i-)", AA_ESYNTAX, 1, "invalid or unsupported Perl syntax: `(?i-)`"},
    {"(?P<>a)", AA_ESYNTAX, 1, "invalid named capture: `(?P<>`"},
    {"(?P<a-b>x)", AA_ESYNTAX, 1, "invalid named capture: `(?P<a-b>`"},
    {"a\xff", AA_ESYNTAX, 2, "invalid UTF-8"},
    {"\xc3", AA_ESYNTAX, 1, "invalid UTF-8"},
};

static void test_rejects(void)
{
    size_t i;

    for (i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
        aa_re *re = (aa_re *)&re; /* must be reset to NULL */
        aa_diag d;
        int rc;

        aa_diag_clear(&d);
        rc = aa_re_compile(rejects[i].re, &re, &d);
        CHECK(re == NULL);
        if (rc != rejects[i].rc) {
            CHECK_FAIL_("/%s/: rc %d, want %d (%s)", rejects[i].re, rc,
                        rejects[i].rc, d.message);
            continue;
        }
        CHECK_INT_EQ(d.column, rejects[i].column);
        check_count++;
        if (strncmp(d.message, rejects[i].message,
                    strlen(rejects[i].message)) != 0) {
            CHECK_FAIL_("/%s/: message \"%s\", want \"%s...\"", rejects[i].re,
                        d.message, rejects[i].message);
        }
    }
    /* the hints say what RE2 does not have */
    {
        aa_re *re = NULL;
        aa_diag d;

        CHECK_INT_EQ(aa_re_compile("(a)\\1", &re, &d), AA_ESYNTAX);
        CHECK_STR_CONTAINS(d.message, "backreferences are not supported");
        CHECK_INT_EQ(aa_re_compile("(?=a)", &re, &d), AA_ESYNTAX);
        CHECK_STR_CONTAINS(d.message, "lookahead");
        CHECK_INT_EQ(aa_re_compile("a++", &re, &d), AA_ESYNTAX);
        CHECK_STR_CONTAINS(d.message, "possessive");
        CHECK_INT_EQ(aa_re_compile(NULL, &re, &d), AA_EINVAL);
        CHECK_INT_EQ(aa_re_compile("a", NULL, &d), AA_EINVAL);
        CHECK_INT_EQ(aa_re_compile("(", &re, NULL), AA_ESYNTAX);
    }
}

static char *repeat_text(const char *unit, size_t times, const char *tail)
{
    size_t ul = strlen(unit), tl = strlen(tail), i;
    char *s = malloc(ul * times + tl + 1);

    if (s == NULL) {
        return NULL;
    }
    for (i = 0; i < times; i++) {
        memcpy(s + i * ul, unit, ul);
    }
    memcpy(s + ul * times, tail, tl + 1);
    return s;
}

/* (a*)* nested depth deep: "((((a*)*)*)*)" */
static char *nested_star(size_t depth)
{
    char *open = repeat_text("(", depth, "a*");
    char *close = repeat_text(")*", depth, "");
    char *s = NULL;

    if (open != NULL && close != NULL) {
        s = malloc(strlen(open) + strlen(close) + 1);
        if (s != NULL) {
            strcpy(s, open);
            strcat(s, close);
        }
    }
    free(open);
    free(close);
    return s;
}

/* max_size 0: the program may be at most about 4 instructions per
 * pattern byte (no counted repetition). */
static void expect_match(const char *pattern, const char *s, bool want,
                         size_t max_size)
{
    aa_re *re = NULL;
    aa_diag d;

    aa_diag_clear(&d);
    if (aa_re_compile(pattern, &re, &d) != AA_OK) {
        CHECK_FAIL_("compile of a %zu-byte pattern failed: %s",
                    strlen(pattern), d.message);
        return;
    }
    if (max_size == 0) {
        max_size = 4 * strlen(pattern) + 8;
    }
    CHECK(aa_re_size(re) <= max_size);
    CHECK(aa_re_match(re, s, strlen(s)) == want);
    aa_re_free(re);
}

/*
 * Patterns that take exponential time in a backtracking engine (and
 * minutes in glibc's regcomp) on 10,000-character inputs.  They finish
 * because the program size is linear in the pattern and each input
 * character is looked at once per instruction; the test would hang
 * otherwise, so no clock is needed.
 */
static void test_pathological(void)
{
    char *nest = nested_star(50);
    char *as = repeat_text("a", 10000, "");
    char *asb = repeat_text("a", 10000, "b");
    char *xs = repeat_text("x", 10000, "");
    char *a1000 = repeat_text("a", 1000, "");

    if (nest == NULL || as == NULL || asb == NULL || xs == NULL ||
        a1000 == NULL) {
        CHECK_FAIL_("%s", "out of memory");
        goto out;
    }
    expect_match(nest, as, true, 0);
    expect_match(nest, asb, false, 0);
    expect_match("(a|a)*b", as, false, 0);
    expect_match("(a|a)*b", asb, true, 0);
    expect_match("(a|aa)*", as, true, 0);
    expect_match("(a|aa)*c", as, false, 0);
    expect_match("(x+x+)+y", xs, false, 0);
    expect_match("(.*)*.*=.*", as, false, 0);
    /* a?^n a^n, the classic: 2^1000 paths for a backtracker */
    expect_match("(a?){1000}a{1000}", a1000, true, 3 * 1000 + 8);
    expect_match("(a?){1000}a{1000}b", a1000, false, 3 * 1000 + 8);
out:
    free(a1000);
    free(nest);
    free(as);
    free(asb);
    free(xs);
}

static void test_limits(void)
{
    char *big = repeat_text("[a-z]{1000}", 66, "");
    char *ok = repeat_text("[a-z]{1000}", 60, "");
    char *deep = repeat_text("(", AA_RE_MAX_DEPTH + 1, "");
    char *a1000 = repeat_text("a", 1000, "");
    aa_re *re = NULL;
    aa_diag d;

    if (big == NULL || ok == NULL || deep == NULL || a1000 == NULL) {
        CHECK_FAIL_("%s", "out of memory");
        goto out;
    }
    CHECK_INT_EQ(aa_re_compile(big, &re, &d), AA_ETOOBIG);
    CHECK_STR_CONTAINS(d.message, "regular expression too large");
    CHECK(re == NULL);
    CHECK_INT_EQ(aa_re_compile(ok, &re, &d), AA_OK);
    CHECK(aa_re_size(re) <= AA_RE_MAX_INST);
    aa_re_free(re);
    re = NULL;
    CHECK_INT_EQ(aa_re_compile(deep, &re, &d), AA_ETOOBIG);
    CHECK_STR_CONTAINS(d.message, "nests too deeply");
    CHECK_INT_EQ(aa_re_compile("a{1000}", &re, &d), AA_OK);
    CHECK(aa_re_match(re, a1000, 1000));
    CHECK(!aa_re_match(re, a1000, 999));
    aa_re_free(re);
out:
    free(big);
    free(ok);
    free(deep);
    free(a1000);
}

int main(void)
{
    test_match();
    test_length();
    test_rejects();
    test_pathological();
    test_limits();
    return check_report("test_regex");
}
