/* test_common.c: aa_grow, diag formatting, error strings. */
#include "aa/common.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>

static void test_diag(void)
{
    aa_diag d;
    char buf[600];

    aa_diag_clear(&d);
    aa_diag_set(&d, "rules.yaml", 3, 7, "unknown key \"%s\"", "wraning");
    CHECK_STR_EQ(aa_diag_format(&d, buf, sizeof(buf)),
                 "rules.yaml:3:7: unknown key \"wraning\"");
    aa_diag_clear(&d);
    aa_diag_set(&d, NULL, 0, 0, "plain");
    CHECK_STR_EQ(aa_diag_format(&d, buf, sizeof(buf)), "plain");
    aa_diag_set(NULL, "x", 1, 1, "no-op");
}

static void test_strerror(void)
{
    CHECK_STR_EQ(aa_strerror(AA_ETOOBIG), "input exceeds the size limit");
    CHECK_STR_EQ(aa_strerror(-999), "unknown error");
    CHECK(aa_strdup(NULL) == NULL);
}

static void test_grow(void)
{
    size_t cap = 0, n;
    int *v = NULL, *p;

    for (n = 0; n < 20; n++) {
        p = aa_grow(v, &cap, n, sizeof(int), 4);
        CHECK(p != NULL);
        if (p == NULL) {
            break;
        }
        CHECK(n < 4 || n >= cap / 2); /* doubling, not growing by one */
        v = p;
        v[n] = (int)n;
        CHECK(n < cap);
    }
    CHECK_INT_EQ(cap, 32);
    CHECK_INT_EQ(v[19], 19);
    p = aa_grow(v, &cap, 5, sizeof(int), 4);
    CHECK(p == v); /* room left: the same array, cap unchanged */
    CHECK_INT_EQ(cap, 32);
    cap = SIZE_MAX / 2 + 1; /* doubling would overflow: fails cleanly */
    p = aa_grow(v, &cap, cap, sizeof(int), 4);
    CHECK(p == NULL);
    CHECK(cap == SIZE_MAX / 2 + 1);
    free(v);
}

int main(void)
{
    test_grow();
    test_diag();
    test_strerror();
    return check_report("test_common");
}
