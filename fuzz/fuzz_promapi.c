/*
 * fuzz_promapi.c: libFuzzer target for the Prometheus API response parser,
 * the input a backend (or anything answering at --target) controls
 * entirely.  The first byte picks the expected shape (query, series or
 * config); every input must either parse into a consistent result or fail
 * with a diagnostic and an empty out-parameter.  Config answers also go
 * through the scrape-interval scan.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aa/promapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every parsed string and number so the sanitizers see them. */
static size_t walk_labels(const aa_labels *ls)
{
    size_t i, n = 0;

    for (i = 0; i < ls->n; i++) {
        if (ls->v[i].name[0] == '\0' ||
            (i > 0 && strcmp(ls->v[i - 1].name, ls->v[i].name) >= 0)) {
            abort(); /* label sets are sorted, names unique, non-empty */
        }
        n += strlen(ls->v[i].name) + strlen(ls->v[i].value);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aa_promapi_kind kind;
    aa_promapi_resp r;
    aa_diag d;
    size_t i, j, n = 0;
    int rc;

    if (size < 1) {
        return 0;
    }
    kind = data[0] % 3 == 1   ? AA_PROMAPI_SERIES
           : data[0] % 3 == 2 ? AA_PROMAPI_CONFIG
                              : AA_PROMAPI_QUERY;
    rc = aa_promapi_parse((const char *)data + 1, size - 1, kind, &r, &d);
    if (rc != AA_OK) {
        if (d.message[0] == '\0' || r.vector.n != 0 || r.matrix.n != 0 ||
            r.nsets != 0 || r.warnings != NULL || r.infos != NULL ||
            r.error != NULL || r.error_type != NULL || r.string != NULL) {
            abort(); /* failure without a reason, or a leaked result */
        }
        return 0;
    }
    if (!r.success && (r.error == NULL || r.type != AA_PROMAPI_NONE)) {
        abort();
    }
    for (i = 0; i < r.nwarnings; i++) {
        n += strlen(r.warnings[i]);
    }
    for (i = 0; i < r.ninfos; i++) {
        n += strlen(r.infos[i]);
    }
    for (i = 0; i < r.vector.n; i++) {
        n += walk_labels(&r.vector.v[i].labels);
        n += isnan(r.vector.v[i].value) ? 1 : 0;
    }
    for (i = 0; i < r.matrix.n; i++) {
        const aa_range_series *s = &r.matrix.v[i];

        n += walk_labels(&s->labels);
        for (j = 1; j < s->n; j++) {
            if (s->pts[j].t_ms <= s->pts[j - 1].t_ms) {
                abort(); /* points are strictly increasing in time */
            }
        }
    }
    for (i = 0; i < r.nsets; i++) {
        n += walk_labels(&r.sets[i]);
    }
    if (kind == AA_PROMAPI_SERIES && r.success &&
        r.type != AA_PROMAPI_LABELSETS) {
        abort();
    }
    if (kind == AA_PROMAPI_CONFIG && r.success) {
        int64_t ms;

        if (r.type != AA_PROMAPI_STRING || r.string == NULL) {
            abort();
        }
        if (aa_promapi_scrape_interval(r.string, &ms) == AA_OK && ms <= 0) {
            abort(); /* a found interval is positive */
        }
    }
    aa_promapi_resp_clear(&r);
    return n == SIZE_MAX ? 1 : 0;
}
