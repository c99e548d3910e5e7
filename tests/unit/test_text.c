/* test_text.c: the shared text library (aat.h): buffer limits and growth,
 * the exposition, JSON and terminal escapers, UTF-8 validation. */
#include "aat.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>

static void test_buf_limit(void)
{
    aat_buf b;

    aat_buf_init(&b, 8);
    CHECK_INT_EQ(aat_buf_append(&b, "abcd", 4), 0);
    CHECK_INT_EQ(aat_buf_append(&b, "efgh", 4), 0);
    CHECK_INT_EQ(aat_buf_append(&b, "i", 1), AAT_ETOOBIG);
    CHECK_INT_EQ((long long)b.len, 8);
    CHECK_STR_EQ(b.data, "abcdefgh");
    CHECK_INT_EQ(aat_buf_appendf(&b, "%d", 1), AAT_ETOOBIG);
    aat_buf_reset(&b);
    CHECK_INT_EQ(aat_buf_appendf(&b, "%s-%d", "x", 42), 0);
    CHECK_STR_EQ(b.data, "x-42");
    aat_buf_release(&b);
    CHECK(b.data == NULL);
}

/* reserve: one allocation of the size asked, clamped to the maximum;
 * appends within it do not move the data */
static void test_buf_reserve(void)
{
    aat_buf b;
    char *p;

    aat_buf_init(&b, 100);
    CHECK_INT_EQ(aat_buf_reserve(&b, 40), 0);
    CHECK_INT_EQ((long long)b.cap, 41);
    CHECK_INT_EQ((long long)b.len, 0);
    CHECK_STR_EQ(b.data, "");
    p = b.data;
    CHECK_INT_EQ(
        aat_buf_append(&b, "0123456789012345678901234567890123456789", 40), 0);
    CHECK(b.data == p);
    CHECK_INT_EQ(aat_buf_reserve(&b, 1000), 0); /* clamped: 60 more */
    CHECK_INT_EQ((long long)b.cap, 101);
    CHECK_INT_EQ(aat_buf_reserve(&b, 10), 0); /* room already */
    CHECK_INT_EQ((long long)b.cap, 101);
    CHECK_INT_EQ(b.failed, 0);
    CHECK_INT_EQ((long long)b.len, 40);
    CHECK_STR_EQ(b.data + 38, "89");
    aat_buf_release(&b);
}

/* room + commit: bytes written in place become content; beyond the
 * maximum there is no room and the buffer is marked failed */
static void test_buf_room(void)
{
    aat_buf b;
    char *w;

    aat_buf_init(&b, 10);
    CHECK_INT_EQ(aat_buf_append(&b, "ab", 2), 0);
    w = aat_buf_room(&b, 5);
    CHECK(w != NULL);
    memcpy(w, "cdefg", 5);
    aat_buf_commit(&b, 3); /* less than the room */
    CHECK_STR_EQ(b.data, "abcde");
    CHECK(aat_buf_room(&b, 6) == NULL);
    CHECK_INT_EQ(b.failed, 1);
    CHECK_INT_EQ((long long)b.len, 5);
    aat_buf_release(&b);
}

static void test_buf_grow(void)
{
    aat_buf b;
    char *s;
    int i;

    aat_buf_init(&b, 1 << 20);
    for (i = 0; i < 10000; i++) {
        CHECK_INT_EQ(aat_buf_append(&b, "0123456789", 10), 0);
    }
    CHECK_INT_EQ((long long)b.len, 100000);
    s = aat_buf_steal(&b);
    CHECK(s != NULL && s[100000] == '\0');
    CHECK(b.data == NULL && b.len == 0);
    free(s);
}

/* A buffer without a practical limit: max + 1 must not wrap to 0 and
 * shrink the allocation below what is written. */
static void test_buf_unbounded(void)
{
    aat_buf b;

    aat_buf_init(&b, SIZE_MAX);
    CHECK_INT_EQ(aat_buf_append(&b, "hello", 5), 0);
    CHECK_INT_EQ(aat_buf_appendf(&b, ", %s", "world"), 0);
    CHECK(b.cap >= b.len + 1);
    CHECK_STR_EQ(b.data, "hello, world");
    aat_buf_release(&b);
}

static void test_buf_sticky_failure(void)
{
    aat_buf b;

    aat_buf_init(&b, 4);
    CHECK_INT_EQ(aat_buf_append(&b, "abcde", 5), AAT_ETOOBIG);
    CHECK(b.failed);
    CHECK_INT_EQ(aat_buf_append(&b, "ab", 2), 0); /* still appends */
    CHECK(b.failed);                              /* still reports */
    aat_buf_reset(&b);
    CHECK(!b.failed);
    aat_buf_release(&b);
    aat_buf_release(NULL);
}

static int collect(void *ctx, const char *piece, size_t len)
{
    return aat_buf_append(ctx, piece, len);
}

static int refuse(void *ctx, const char *piece, size_t len)
{
    (void)ctx;
    (void)piece;
    (void)len;
    return -7;
}

static void test_escape(void)
{
    aat_buf b;

    aat_buf_init(&b, 1024);
    CHECK_INT_EQ(aat_escape("a\\b\"c\nd", true, collect, &b), 0);
    CHECK_STR_EQ(b.data, "a\\\\b\\\"c\\nd");
    aat_buf_release(&b);
    aat_buf_init(&b, 1024);
    CHECK_INT_EQ(aat_escape("say \"hi\"\n", false, collect, &b), 0);
    CHECK_STR_EQ(b.data, "say \"hi\"\\n");
    aat_buf_release(&b);
    CHECK_INT_EQ(aat_escape("", true, refuse, NULL), 0);
    CHECK_INT_EQ(aat_escape("plain", true, refuse, NULL), -7);
    CHECK_INT_EQ(aat_escape("\n", true, refuse, NULL), -7);

    /* a Latin-1 path (b"/srv/caf\xe9/app.py") must not reach a label as
     * invalid UTF-8: each bad byte becomes U+FFFD */
    aat_buf_init(&b, 1024);
    CHECK_INT_EQ(aat_buf_escape(&b, "/srv/caf\xe9/app.py", true), 0);
    CHECK_STR_EQ(b.data, "/srv/caf\xEF\xBF\xBD/app.py");
    aat_buf_reset(&b);
    /* valid multi-byte text is kept; a truncated sequence is replaced */
    CHECK_INT_EQ(aat_buf_escape(&b, "caf\xC3\xA9 \xE2\x82", true), 0);
    CHECK_STR_EQ(b.data, "caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD");
    aat_buf_reset(&b);
    /* a surrogate encoded in UTF-8 (what surrogateescape'd names become
     * when encoded naively) is invalid too */
    CHECK_INT_EQ(aat_buf_escape(&b, "x\xED\xB3\xA9y", true), 0);
    CHECK_STR_EQ(b.data, "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy");
    aat_buf_reset(&b);
    CHECK_INT_EQ(aat_buf_escape(&b, "", true), 0);
    CHECK_STR_EQ(b.data, "");
    aat_buf_release(&b);
}

static void test_json(void)
{
    aat_buf b;

    aat_buf_init(&b, 1024);
    CHECK_INT_EQ(aat_buf_json(&b, "a\"b\\c\n\x01\x7f", 8), 0);
    CHECK_STR_EQ(b.data, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
    aat_buf_reset(&b);
    CHECK_INT_EQ(aat_buf_json(&b, "caf\xe9", 4), 0);
    CHECK_STR_EQ(b.data, "\"caf\\ufffd\"");
    aat_buf_reset(&b);
    CHECK_INT_EQ(aat_buf_json(&b, "\xC2\x85\xC3\xA9", 4), 0); /* C1 NEL */
    CHECK_STR_EQ(b.data, "\"\\u0085\xC3\xA9\"");
    aat_buf_release(&b);
}

static void test_term(void)
{
    aat_buf b;
    const char *attack = "boom\n::error::pwned \x1b[2J\x1b]0;t\x07";

    aat_buf_init(&b, 1024);
    CHECK_INT_EQ(aat_buf_term(&b, attack, strlen(attack)), 0);
    CHECK_STR_EQ(b.data, "boom\\n::error::pwned \\x1b[2J\\x1b]0;t\\x07");
    CHECK(strchr(b.data, '\n') == NULL && strchr(b.data, 0x1b) == NULL);
    aat_buf_reset(&b);
    CHECK_INT_EQ(aat_buf_term(&b, "a\\b \xff \xC2\x9b", 8), 0);
    CHECK_STR_EQ(b.data, "a\\\\b \\xff \\x9b");
    aat_buf_release(&b);
}

static void test_utf8(void)
{
    CHECK(aat_utf8_valid("", 0));
    CHECK(aat_utf8_valid("h\xC3\xA9llo \xF0\x9F\x98\x80", 11));
    CHECK(!aat_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    CHECK(!aat_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    CHECK(!aat_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!aat_utf8_valid("\x80", 1));
    CHECK_INT_EQ(aat_utf8_seq((const unsigned char *)"\xE2\x82\xAC", 2), 0);
    CHECK_INT_EQ(aat_utf8_seq((const unsigned char *)"\xE2\x82\xAC", 3), 3);
}

int main(void)
{
    test_buf_limit();
    test_buf_reserve();
    test_buf_room();
    test_buf_grow();
    test_buf_unbounded();
    test_buf_sticky_failure();
    test_escape();
    test_json();
    test_term();
    test_utf8();
    return check_report("test_text");
}
