/* test_common.c: aa_buf limits, aa_grow, diag formatting, error strings. */
#include "aa/common.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>

static void test_buf_limit(void)
{
    aa_buf b;

    aa_buf_init(&b, 8);
    CHECK_INT_EQ(aa_buf_append(&b, "abcd", 4), AA_OK);
    CHECK_INT_EQ(aa_buf_append(&b, "efgh", 4), AA_OK);
    CHECK_INT_EQ(aa_buf_append(&b, "i", 1), AA_ETOOBIG);
    CHECK_INT_EQ((long long)b.len, 8);
    CHECK_STR_EQ(b.data, "abcdefgh");
    CHECK_INT_EQ(aa_buf_appendf(&b, "%d", 1), AA_ETOOBIG);
    aa_buf_reset(&b);
    CHECK_INT_EQ(aa_buf_appendf(&b, "%s-%d", "x", 42), AA_OK);
    CHECK_STR_EQ(b.data, "x-42");
    aa_buf_release(&b);
    CHECK(b.data == NULL);
}

static void test_buf_grow(void)
{
    aa_buf b;
    char *s;
    int i;

    aa_buf_init(&b, 1 << 20);
    for (i = 0; i < 10000; i++) {
        CHECK_INT_EQ(aa_buf_append(&b, "0123456789", 10), AA_OK);
    }
    CHECK_INT_EQ((long long)b.len, 100000);
    s = aa_buf_steal(&b);
    CHECK(s != NULL && s[100000] == '\0');
    CHECK(b.data == NULL && b.len == 0);
    free(s);
}

/* A buffer without a practical limit: max + 1 must not wrap to 0 and
 * shrink the allocation below what is written. */
static void test_buf_unbounded(void)
{
    aa_buf b;

    aa_buf_init(&b, SIZE_MAX);
    CHECK_INT_EQ(aa_buf_append(&b, "hello", 5), AA_OK);
    CHECK_INT_EQ(aa_buf_appendf(&b, ", %s", "world"), AA_OK);
    CHECK(b.cap >= b.len + 1);
    CHECK_STR_EQ(b.data, "hello, world");
    aa_buf_release(&b);
}

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
    test_buf_limit();
    test_buf_grow();
    test_buf_unbounded();
    test_grow();
    test_diag();
    test_strerror();
    return check_report("test_common");
}
