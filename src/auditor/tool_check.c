/*
 * tool_check.c: `check --target URL`, the entry of an audit against a
 * Prometheus-compatible HTTP API.  It pins the evaluation time and the
 * window, opens the Prometheus backend (tool_backend_prom.c) and hands
 * both to the audit (tool_audit.c), which is the same for every mode.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool_audit.h"
#include "tool_backend.h"
#include "tool_cfg.h"
#include "tool_http.h"

static int64_t wall_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The pinned time (--end, else now) and the window (--start, --window,
 * the rule file's, 5m).  0 or an aa_exit code after printing why. */
static int resolve_times(const tool_config *cfg, const aa_ruleset *rs,
                         int64_t *end_ms, int64_t *window_ms)
{
    *end_ms = cfg->has_end ? cfg->end_ms : wall_now_ms();
    if (cfg->has_start) {
        if (cfg->start_ms >= *end_ms) {
            tool_error("--start: must be before the end of the window");
            return AA_EXIT_USAGE;
        }
        *window_ms = *end_ms - cfg->start_ms;
    } else {
        *window_ms = tool_rules_window(cfg, rs);
    }
    return 0;
}

int tool_check_prometheus(const tool_config *cfg, const aa_ruleset *rs,
                          aa_report **out, bool *incomplete)
{
    tool_backend *b = NULL;
    aa_report *r = NULL;
    int64_t end_ms = 0, window_ms = 0;
    bool config_error = false;
    char url[512];
    int rc;

    *out = NULL;
    *incomplete = false;
    rc = tool_backend_prom_new(cfg, &b);
    if (rc == 0) {
        rc = resolve_times(cfg, rs, &end_ms, &window_ms);
    }
    if (rc != 0) {
        goto out;
    }
    rc = AA_EXIT_UNKNOWN;
    r = calloc(1, sizeof(*r));
    if (r == NULL ||
        (r->rules = calloc(rs->nrules + 1, sizeof(*r->rules))) == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        goto out;
    }
    r->nrules = rs->nrules;
    r->target = aa_strdup(tool_http_redact_url(cfg->target, url, sizeof(url)));
    r->mode = aa_strdup("prometheus");
    r->end_ms = end_ms;
    r->start_ms = end_ms - window_ms;
    if (r->target == NULL || r->mode == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        goto out;
    }
    switch (tool_audit_run(cfg, rs, b, end_ms, window_ms, r, &config_error,
                           incomplete)) {
    case AA_OK:
        *out = r;
        r = NULL;
        rc = config_error ? AA_EXIT_CONFIG : 0;
        break;
    case AA_ENOMEM:
        tool_error("%s", aa_strerror(AA_ENOMEM));
        break;
    default: /* already reported */
        break;
    }
out:
    aa_report_free(r);
    tool_backend_free(b);
    return rc;
}
