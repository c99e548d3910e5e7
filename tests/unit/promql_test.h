/*
 * promql_test.h: what the .test runner (promql_test_runner.c) reads from
 * an "eval instant" and hands to its writers (promql_test_output.c).
 */
#ifndef AA_PROMQL_TEST_H
#define AA_PROMQL_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/series.h"
#include "aa/tsdb.h"

#define MAX_EXPECT 64
#define MAX_BY 8

typedef struct expect {
    aa_labels labels;
    double v;
} expect;

typedef enum kind { K_UNSUPPORTED, K_RATE, K_SUM_RATE, K_RAW } kind;

/* One "eval instant" and what the runner made of it. */
typedef struct evalcase {
    unsigned line;
    int64_t t_ms;
    char expr[1024];
    kind k;
    double q;
    char metric[256];   /* the family: M of M_bucket */
    char selector[512]; /* raw: the braces of M_bucket{...}, or "" */
    int64_t window_ms;
    char by[MAX_BY][128];
    size_t nby;
    expect want[MAX_EXPECT];
    size_t nwant;
} evalcase;

/* "M" for a series named "M_bucket"; false for any other name. */
bool promql_test_family_of(const char *series, char *out, size_t size);

/* One JSON object for c on a line of standard output; got (NULL for an
 * unsupported case) is what the runner evaluated. */
void promql_test_print_json(const evalcase *c, const aa_vector *got);

/* The store as an OpenMetrics recording on standard output. */
int promql_test_print_openmetrics(const aa_tsdb *db);

#endif
