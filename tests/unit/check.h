/*
 * check.h: the C unit tests' assert macros.  Each test file is its own
 * executable (and so its own process); a failed check prints where and what
 * and the process exits non-zero at the end.  Typed asserts print both
 * sides in their own format.
 */
#ifndef AA_TEST_CHECK_H
#define AA_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK_FAIL_(fmt, ...)                                                \
    do {                                                                     \
        check_failures++;                                                    \
        fprintf(stderr, "%s:%d: FAIL: " fmt "\n", __FILE__, __LINE__,        \
                __VA_ARGS__);                                                \
    } while (0)

#define CHECK(cond)                                                          \
    do {                                                                     \
        check_count++;                                                       \
        if (!(cond)) {                                                       \
            CHECK_FAIL_("%s", #cond);                                        \
        }                                                                    \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                   \
    do {                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                  \
        check_count++;                                                       \
        if (a_ != b_) {                                                      \
            CHECK_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);           \
        }                                                                    \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                   \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        check_count++;                                                       \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {               \
            CHECK_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b,                \
                        a_ ? a_ : "(null)", b_ ? b_ : "(null)");             \
        }                                                                    \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                      \
    do {                                                                     \
        const char *h_ = (hay), *n_ = (needle);                              \
        check_count++;                                                       \
        if (h_ == NULL || strstr(h_, n_) == NULL) {                          \
            CHECK_FAIL_("%s contains \"%s\": got \"%s\"", #hay, n_,          \
                        h_ ? h_ : "(null)");                                 \
        }                                                                    \
    } while (0)

/* Relative tolerance rel, with NaN == NaN. */
#define CHECK_DBL_NEAR(a, b, rel)                                            \
    do {                                                                     \
        double a_ = (a), b_ = (b);                                           \
        check_count++;                                                       \
        if (!((isnan(a_) && isnan(b_)) || a_ == b_ ||                        \
              fabs(a_ - b_) <= (rel) * fmax(fabs(a_), fabs(b_)))) {          \
            CHECK_FAIL_("%s ~= %s: %.17g != %.17g", #a, #b, a_, b_);         \
        }                                                                    \
    } while (0)

static inline int check_report(const char *name)
{
    if (check_failures > 0) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, check_failures,
                check_count);
        return 1;
    }
    printf("%s: %d checks passed\n", name, check_count);
    return 0;
}

#endif
