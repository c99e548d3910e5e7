/*
 * tool_lint.c: loading the rule file for every command, and `rules lint`,
 * which validates a rule file without a backend so that CI can reject a
 * broken file in the commit that breaks it.  Lint goes one step beyond the
 * loader: it compiles every rule to PromQL, so a rule that loads but
 * cannot be compiled is caught too.  The small rule helpers that check and
 * export share live here as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aa/promql.h"
#include "tool_cfg.h"

static void print_diag(const aa_diag *d)
{
    char buf[1024];

    tool_error("%s", aa_diag_format(d, buf, sizeof(buf)));
}

/* Loads path, or the built-in pack when path is NULL; prints the diag. */
static int load(const char *path, aa_ruleset **out)
{
    aa_diag d;
    int rc;

    aa_diag_clear(&d);
    if (path == NULL) {
        rc = aa_ruleset_load_buffer("<built-in>", aa_default_rules_yaml,
                                    aa_default_rules_yaml_len, out, &d);
    } else {
        rc = aa_ruleset_load_file(path, out, &d);
    }
    if (rc != AA_OK) {
        if (d.message[0] == '\0') {
            aa_diag_set(&d, path != NULL ? path : "<built-in>", 0, 0, "%s",
                        aa_strerror(rc));
        }
        print_diag(&d);
        return AA_EXIT_CONFIG;
    }
    return AA_EXIT_OK;
}

int tool_load_rules(const tool_config *cfg, aa_ruleset **out)
{
    *out = NULL;
    return load(cfg->config_path, out);
}

int64_t tool_rules_window(const tool_config *cfg, const aa_ruleset *rs)
{
    return cfg->window_ms > 0  ? cfg->window_ms
           : rs->window_ms > 0 ? rs->window_ms
                               : TOOL_DEFAULT_WINDOW_MS;
}

int tool_compile_rule(const tool_config *cfg, const aa_ruleset *rs,
                      const aa_rule *r, int64_t window, char **out)
{
    aa_diag d;
    int rc;

    *out = NULL;
    aa_diag_clear(&d);
    rc = aa_promql_compile(r, &cfg->selector, window, out, &d);
    if (rc == AA_OK) {
        return AA_EXIT_OK;
    }
    if (d.message[0] == '\0') {
        aa_diag_set(&d, NULL, r->line, r->column, "rule \"%s\": %s", r->id,
                    aa_strerror(rc));
    }
    snprintf(d.file, sizeof(d.file), "%s", rs->path);
    print_diag(&d);
    return AA_EXIT_CONFIG;
}

int tool_rules_lint(const tool_config *cfg)
{
    const char *path =
        cfg->rules_file != NULL ? cfg->rules_file : cfg->config_path;
    aa_ruleset *rs = NULL;
    int64_t window;
    int rc;

    rc = load(path, &rs);
    if (rc != AA_EXIT_OK) {
        return rc;
    }
    window = tool_rules_window(cfg, rs);
    for (size_t i = 0; i < rs->nrules; i++) {
        char *q = NULL;

        rc = tool_compile_rule(cfg, rs, &rs->rules[i], window, &q);
        if (rc != AA_EXIT_OK) {
            aa_ruleset_free(rs);
            return rc;
        }
        tool_verbose(cfg, "%s: %s", rs->rules[i].id, q);
        free(q);
    }
    if (cfg->verbosity >= 0) {
        printf("%s: %zu rule%s ok\n", rs->path, rs->nrules,
               rs->nrules == 1 ? "" : "s");
    }
    aa_ruleset_free(rs);
    return AA_EXIT_OK;
}
