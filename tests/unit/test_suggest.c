/*
 * test_suggest.c: the CLI's "did you mean" distance and threshold
 * (src/auditor/tool_suggest.c), and the invariants of the option table
 * that --help, the man page and the completions are rendered from
 * (src/auditor/tool_help.c): names unique and well-formed, every exit
 * code documented.
 */
#include <ctype.h>

#include "aa/result.h"
#include "check.h"
#include "tool_help.h"

static size_t dist(const char *a, const char *b)
{
    return tool_edit_distance(a, strlen(a), b);
}

static const char *suggest(const char *word, const char *const *names)
{
    tool_suggestion s;

    tool_suggest_init(&s);
    for (size_t i = 0; names[i] != NULL; i++) {
        tool_suggest_consider(&s, word, strlen(word), names[i]);
    }
    return s.best;
}

static void test_distance(void)
{
    CHECK_INT_EQ(dist("target", "target"), 0);
    CHECK_INT_EQ(dist("", "abc"), 3);
    CHECK_INT_EQ(dist("abc", ""), 3);
    CHECK_INT_EQ(dist("targt", "target"), 1);   /* deletion */
    CHECK_INT_EQ(dist("targett", "target"), 1); /* insertion */
    CHECK_INT_EQ(dist("tarhet", "target"), 1);  /* substitution */
    CHECK_INT_EQ(dist("tagret", "target"), 1);  /* transposition */
    CHECK_INT_EQ(dist("TARGET", "target"), 0);  /* case-insensitive */
    CHECK_INT_EQ(dist("ca", "abc"), 3);         /* restricted: no edit
                                                   of a swapped pair */
    CHECK_INT_EQ(dist("kitten", "sitting"), 3);
    /* words beyond 64 bytes are never compared */
    CHECK(dist("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaa",
               "a") == (size_t)-1);
}

static void test_suggestions(void)
{
    static const char *const opts[] = {"target",           "scrape",
                                       "fail-on-critical", "fail-on-warning",
                                       "format",           NULL};
    static const char *const fmts[] = {"text",     "json",   "junit",
                                       "markdown", "github", NULL};

    CHECK_STR_EQ(suggest("targt", opts), "target");
    CHECK_STR_EQ(suggest("fomat", opts), "format");
    CHECK_STR_EQ(suggest("fail-on-crit", opts), "fail-on-critical");
    CHECK(suggest("fail-on-everything", opts) == NULL);
    CHECK(suggest("zzz", opts) == NULL);
    CHECK_STR_EQ(suggest("jsno", fmts), "json");
    CHECK(suggest("xml", fmts) == NULL);
    /* ties keep the first of the closest */
    CHECK_STR_EQ(suggest("jnit", fmts), "junit");
}

static void test_option_table(void)
{
    size_t commands = 0;

    for (size_t i = 0; i < tool_nopts; i++) {
        const tool_opt *o = &tool_opts[i];

        CHECK(o->help != NULL && o->help[0] != '\0');
        CHECK((int)o->section >= 0 && o->section < TOOL_NSECTIONS);
        if (o->name == NULL) {
            CHECK_INT_EQ(o->id, TOOL_OPT_COMMAND);
            commands++;
            continue;
        }
        for (const char *c = o->name; *c != '\0'; c++) {
            CHECK(islower((unsigned char)*c) || *c == '-');
        }
        CHECK((o->arg == NULL) == (o->kind == TOOL_VALUE_NONE));
        for (size_t j = 0; j < i; j++) {
            const tool_opt *p = &tool_opts[j];

            CHECK(p->id != o->id);
            CHECK(p->name == NULL || strcmp(p->name, o->name) != 0);
            CHECK(o->short_name == 0 || p->short_name != o->short_name);
        }
    }
    CHECK_INT_EQ(commands, 1);
}

static void test_exit_codes_documented(void)
{
    static const int codes[] = {
        AA_EXIT_OK,      AA_EXIT_WARNING,        AA_EXIT_CRITICAL,
        AA_EXIT_UNKNOWN, AA_EXIT_COMMAND_FAILED, AA_EXIT_USAGE,
        AA_EXIT_CONFIG};
    size_t documented = 0;

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        CHECK(tool_exit_help(codes[i]) != NULL);
    }
    for (int c = -1; c <= 256; c++) {
        documented += tool_exit_help(c) != NULL;
    }
    CHECK_INT_EQ(documented, sizeof(codes) / sizeof(codes[0]));
}

static void test_format_help_lists_every_value(void)
{
    char buf[1024];

    for (size_t i = 0; i < tool_nopts; i++) {
        if (tool_opts[i].kind != TOOL_VALUE_FORMAT) {
            continue;
        }
        tool_opt_help(&tool_opts[i], buf, sizeof(buf));
        for (size_t j = 0; tool_check_formats[j].name != NULL; j++) {
            CHECK_STR_CONTAINS(buf, tool_check_formats[j].name);
        }
        for (size_t j = 0; tool_export_formats[j].name != NULL; j++) {
            CHECK_STR_CONTAINS(buf, tool_export_formats[j].name);
        }
    }
}

int main(void)
{
    test_distance();
    test_suggestions();
    test_option_table();
    test_exit_codes_documented();
    test_format_help_lists_every_value();
    return check_report("test_suggest");
}
