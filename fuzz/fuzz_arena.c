/*
 * fuzz_arena.c: the arena reader (aap_stateview.c) and the /metrics
 * renderer over arbitrary file images.  Arenas in a group directory are
 * outside input: any process of the same user may have written one.
 * The first byte picks the mode: odd, the input is the whole image
 * (header validation); even, the rest follows a valid header, so the
 * fuzzer works on records (sizes, seqlocks, label pairs, cells).  Both
 * a live and a dead view are rendered; the output must stay bounded.
 */
#include "aap_int.h"
#include "aap_stateview.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aap_arena_hdr h;
    aap_view v[2];
    aat_buf t;
    uint8_t *img;
    size_t len, n = 0;

    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        len = size - 1;
        img = malloc(len ? len : 1);
        if (!img) {
            return 0;
        }
        memcpy(img, data + 1, len);
    } else {
        len = AAP_ARENA_HDR + size - 1;
        img = calloc(1, len);
        if (!img) {
            return 0;
        }
        memset(&h, 0, sizeof(h));
        memcpy(h.magic, AAP_ARENA_MAGIC, 8);
        h.version = AAP_ARENA_VERSION;
        h.hdr_size = AAP_ARENA_HDR;
        h.families = aap_families_hash();
        h.size = len;
        atomic_store(&h.used, len);
        h.pid = 4242;
        atomic_store(&h.nloops, data[0] >> 1);
        memcpy(img, &h, sizeof(h));
        memcpy(img + AAP_ARENA_HDR, data + 1, size - 1);
    }
    if (aap_view_init(&v[n], img, len, 1) == 0) {
        n++;
    }
    if (aap_view_init(&v[n], img, len, 0) == 0) {
        n++;
    }
    aat_buf_init(&t, AAP_TEXT_MAX);
    aap_render_views(&t, v, n, aap_now_ns());
    if (t.len > AAP_TEXT_MAX) {
        abort();
    }
    aat_buf_release(&t);
    free(img);
    return 0;
}
