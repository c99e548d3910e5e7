/*
 * fuzz_matchers.c: libFuzzer target for label-matcher parsing (rule
 * "where:" and --selector) and PromQL escaping.  Property: whatever
 * parses, once written back with aa_promql_selector, parses again to the
 * same matchers, so no value can change the shape of a query.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aa/promql.h"
#include "aa/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aa_matchers m, back;
    aa_diag d;
    aat_buf b;
    char *text;

    text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    aa_diag_clear(&d);
    if (aa_matchers_parse(text, &m, &d) != AA_OK) {
        if (m.n != 0 || m.v != NULL || d.column == 0 ||
            d.column > strlen(text) + 1) {
            abort(); /* an error must point into the text */
        }
        free(text);
        return 0;
    }
    aat_buf_init(&b, (size_t)16 << 20);
    if (aa_promql_selector(&b, "m", &m, NULL) != AA_OK) {
        abort();
    }
    if (aa_matchers_parse(b.data + 1, &back, NULL) != AA_OK ||
        back.n != m.n) {
        abort();
    }
    for (size_t i = 0; i < m.n; i++) {
        if (strcmp(m.v[i].name, back.v[i].name) != 0 ||
            m.v[i].op != back.v[i].op ||
            strcmp(m.v[i].value, back.v[i].value) != 0) {
            abort();
        }
    }
    aa_matchers_clear(&back);
    aa_matchers_clear(&m);
    aat_buf_release(&b);
    free(text);
    return 0;
}
