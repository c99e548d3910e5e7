/*
 * stat.c: what a rule's stat text means (stat.h): the stat table's names,
 * pNN and share_above(X), and which metric types a stat applies to.  The
 * probe's own metric types live here too (aa_known_metric_type), because
 * they decide which form of a stat a rule on a probe metric takes.
 */
#include "stat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    aa_metric_type type;
} known_metrics[] = {
    {"python_asyncio_loop_lag_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_loop_busy_seconds_total", AA_TYPE_COUNTER},
    {"python_asyncio_loop_iterations_total", AA_TYPE_COUNTER},
    {"python_asyncio_loop_block_duration_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_loop_current_block_seconds", AA_TYPE_GAUGE},
    {"python_asyncio_block_site_seconds_total", AA_TYPE_COUNTER},
    {"python_asyncio_block_site_info", AA_TYPE_GAUGE},
    {"python_asyncio_loop_gil_wait_duration_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_gil_holder_seconds_total", AA_TYPE_COUNTER},
    {"python_asyncio_gil_holder_info", AA_TYPE_GAUGE},
    {"python_asyncio_loop_saturation_duration_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_executor_function_run_seconds_total", AA_TYPE_COUNTER},
    {"python_asyncio_executor_function_wait_seconds_total", AA_TYPE_COUNTER},
    {"python_asyncio_executor_function_calls_total", AA_TYPE_COUNTER},
    {"python_asyncio_loop_ready_callbacks", AA_TYPE_GAUGE},
    {"python_asyncio_tasks", AA_TYPE_GAUGE},
    {"python_asyncio_tasks_created_total", AA_TYPE_COUNTER},
    {"python_asyncio_executor_pending", AA_TYPE_GAUGE},
    {"python_asyncio_executor_busy_workers", AA_TYPE_GAUGE},
    {"python_asyncio_executor_max_workers", AA_TYPE_GAUGE},
    {"python_asyncio_executor_wait_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_executor_run_seconds", AA_TYPE_HISTOGRAM},
    {"http_server_active_requests", AA_TYPE_GAUGE},
    {"http_server_request_duration_seconds", AA_TYPE_HISTOGRAM},
    {"python_asyncio_probe_info", AA_TYPE_GAUGE},
};

aa_metric_type aa_known_metric_type(const char *metric)
{
    if (metric == NULL) {
        return AA_TYPE_UNKNOWN;
    }
    for (size_t i = 0; i < sizeof(known_metrics) / sizeof(known_metrics[0]);
         i++) {
        if (strcmp(known_metrics[i].name, metric) == 0) {
            return known_metrics[i].type;
        }
    }
    return AA_TYPE_UNKNOWN;
}

const char *aa_metric_type_name(aa_metric_type t)
{
    switch (t) {
    case AA_TYPE_COUNTER:
        return "counter";
    case AA_TYPE_GAUGE:
        return "gauge";
    case AA_TYPE_HISTOGRAM:
        return "histogram";
    case AA_TYPE_UNKNOWN:
        break;
    }
    return "unknown";
}

bool aa_metric_type_parse(const char *s, aa_metric_type *t)
{
    static const aa_metric_type types[] = {AA_TYPE_COUNTER, AA_TYPE_GAUGE,
                                           AA_TYPE_HISTOGRAM};

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(s, aa_metric_type_name(types[i])) == 0) {
            *t = types[i];
            return true;
        }
    }
    return false;
}

/* "p99", "p99.9", "p5": 0 < NN < 100, at most 2 integer digits. */
static bool parse_quantile(const char *s, double *q)
{
    char num[32];
    size_t i = 1, id = 0, fd = 0;

    if (s[0] != 'p') {
        return false;
    }
    while (s[i] >= '0' && s[i] <= '9') {
        i++;
        id++;
    }
    if (id == 0 || id > 2) {
        return false;
    }
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
            fd++;
        }
        if (fd == 0) {
            return false;
        }
    }
    if (s[i] != '\0' || fd > 12) {
        return false;
    }
    /* "0." + integer digits padded to two + fraction digits: exact
     * decimal shift, so p99.9 is 0.999 and not 0.9990000000000001. */
    snprintf(num, sizeof(num), "0.%s%.*s%s", id == 1 ? "0" : "", (int)id,
             s + 1, fd > 0 ? s + 2 + id : "");
    *q = strtod(num, NULL);
    return *q > 0.0 && *q < 1.0;
}

/* "share_above(X)": X a number with an optional unit ms or s, read as a
 * threshold's VALUE[UNIT] is (threshold.c), without spaces. */
static bool parse_share(const char *s, double *above)
{
    static const char head[] = "share_above(";
    char text[48];
    size_t n = strlen(s), len;
    aa_threshold t;

    if (strncmp(s, head, sizeof(head) - 1) != 0 || n < sizeof(head) ||
        s[n - 1] != ')') {
        return false;
    }
    len = n - sizeof(head); /* between the parentheses */
    if (len == 0 || len >= sizeof(text) - 2 ||
        strcspn(s + sizeof(head) - 1, " \t%") < len) {
        return false;
    }
    snprintf(text, sizeof(text), "> %.*s", (int)len, s + sizeof(head) - 1);
    if (aa_threshold_parse(text, &t) != AA_OK) {
        return false;
    }
    *above = t.value;
    return true;
}

static const struct {
    const char *name;
    aa_stat stat;
} stat_names[] = {
    {"avg", AA_STAT_AVG},           {"rate", AA_STAT_RATE},
    {"increase", AA_STAT_INCREASE}, {"sum_rate", AA_STAT_SUM_RATE},
    {"max", AA_STAT_MAX},           {"min", AA_STAT_MIN},
    {"last", AA_STAT_LAST},         {"delta", AA_STAT_DELTA},
    {"slope", AA_STAT_SLOPE},
};

bool aa_stat_parse(const char *s, aa_stat *stat, double *quantile,
                   double *above)
{
    *quantile = 0.0;
    *above = 0.0;
    for (size_t i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++) {
        if (strcmp(s, stat_names[i].name) == 0) {
            *stat = stat_names[i].stat;
            return true;
        }
    }
    if (parse_quantile(s, quantile)) {
        *stat = AA_STAT_QUANTILE;
        return true;
    }
    if (parse_share(s, above)) {
        *stat = AA_STAT_SHARE_ABOVE;
        return true;
    }
    return false;
}

aa_metric_type aa_stat_infer_type(aa_stat stat)
{
    switch (stat) {
    case AA_STAT_QUANTILE:
    case AA_STAT_SUM_RATE:
    case AA_STAT_SHARE_ABOVE:
        return AA_TYPE_HISTOGRAM;
    case AA_STAT_RATE:
    case AA_STAT_INCREASE:
        return AA_TYPE_COUNTER;
    default:
        return AA_TYPE_GAUGE;
    }
}

bool aa_stat_fits(aa_stat stat, aa_metric_type t)
{
    switch (stat) {
    case AA_STAT_QUANTILE:
    case AA_STAT_SUM_RATE:
    case AA_STAT_SHARE_ABOVE:
        return t == AA_TYPE_HISTOGRAM;
    case AA_STAT_AVG:
        return t == AA_TYPE_HISTOGRAM || t == AA_TYPE_GAUGE;
    case AA_STAT_RATE:
    case AA_STAT_INCREASE:
        return t == AA_TYPE_COUNTER || t == AA_TYPE_HISTOGRAM;
    case AA_STAT_MAX:
    case AA_STAT_MIN:
    case AA_STAT_LAST:
    case AA_STAT_DELTA:
    case AA_STAT_SLOPE:
        return t == AA_TYPE_GAUGE;
    }
    return false;
}
