/*
 * fuzz_httpreq.c: the exporter's request-head parser on arbitrary bytes.
 * It must never read past the input, must say "incomplete" only below
 * the head limit, and its verdict must be self-consistent (a refused
 * request is never kept alive, a head never longer than the input).
 */
#include "aap_httpreq.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan sees any read past the end */
    char *buf = malloc(size ? size : 1);
    aap_httpreq q;
    int done;

    if (!buf) {
        return 0;
    }
    memcpy(buf, data, size);
    done = aap_httpreq_parse(buf, size, &q);
    if (!done && size >= AAP_HTTPREQ_HEAD_MAX) {
        abort();
    }
    if (done && (q.head_len > size || q.head_len > AAP_HTTPREQ_HEAD_MAX ||
                 (q.status && q.keep_alive) ||
                 (q.status == 0 && q.route != AAP_R_NONE &&
                  q.method == AAP_M_OTHER && q.keep_alive < 0))) {
        abort();
    }
    free(buf);
    return 0;
}
