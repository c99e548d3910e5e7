/*
 * fuzz_rules.c: libFuzzer target for the rule-file loader, the input a
 * user (or a pull request) controls entirely.  Every input must either
 * load or fail with a diagnostic; every loaded rule must compile to PromQL
 * that passes the raw-query syntax check (balanced, quotes closed), with
 * and without extra --selector matchers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "aa/promql.h"
#include "aa/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const extra_text = "{job=\"a\\\"b\", x=~`.*`}";
    aa_matchers extra;
    aa_ruleset *rs = NULL;
    aa_diag d;
    char buf[1024];
    int rc;

    rc = aa_ruleset_load_buffer("fuzz", (const char *)data, size, &rs, &d);
    if (rc != AA_OK) {
        if (rs != NULL || d.message[0] == '\0') {
            abort(); /* failure without a reason, or a leaked result */
        }
        aa_diag_format(&d, buf, sizeof(buf));
        return 0;
    }
    if (aa_matchers_parse(extra_text, &extra, NULL) != AA_OK) {
        abort();
    }
    for (size_t i = 0; i < rs->nrules; i++) {
        for (int pass = 0; pass < 2; pass++) {
            char *q = NULL;

            aa_diag_clear(&d);
            rc = aa_promql_compile(&rs->rules[i], pass ? &extra : NULL,
                                   rs->window_ms > 0 ? rs->window_ms
                                                     : 300000,
                                   &q, &d);
            if (rc != AA_OK) {
                abort(); /* every loaded rule compiles */
            }
            if (rs->rules[i].metric != NULL &&
                aa_promql_check_raw(q, NULL) != AA_OK) {
                fprintf(stderr, "unbalanced output: %s\n", q);
                abort();
            }
            free(q);
        }
    }
    aa_matchers_clear(&extra);
    aa_ruleset_free(rs);
    return 0;
}
