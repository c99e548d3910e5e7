/*
 * aap_pyoffsets.c: the interpreter layout from CPython's own
 * _Py_DebugOffsets table (3.13+).
 *
 * Why: from 3.13 on CPython publishes, at the start of _PyRuntime, the
 * offsets of the fields an out-of-process tool needs (thread states,
 * frames, code objects, strings, the GIL), behind an "xdebugpy" cookie and
 * the interpreter's version; its remote-debugging module and PEP 768 read
 * it.  Taking the layout from there rather than from the headers the probe
 * was compiled with follows the interpreter actually running.  The table's
 * own layout grows with each minor version, so the extension tells this
 * file where each wanted field sits (aap_dbgmap, offsetof() on the
 * header's struct); this file only reads, checks and copies.
 */
#include "aap.h"

#include <string.h>

/* Larger than any table so far (888 bytes in 3.15). */
#define TABLE_MAX 4096u
/* An offset the probe follows must stay inside a plausible object. */
#define OFFSET_MAX (1u << 20)

static const char cookie[8] = {'x', 'd', 'e', 'b', 'u', 'g', 'p', 'y'};

/* The uint64_t at byte offset at of the table image; -1 if absent or
 * outside the image. */
static int field(const uint8_t *img, size_t size, size_t at, uint64_t *out)
{
    if (at == AAP_DBG_ABSENT || at > size || size - at < sizeof(*out)) {
        return -1;
    }
    memcpy(out, img + at, sizeof(*out));
    return 0;
}

/* Copy the offset at map position at into *dst when the table has it;
 * -1 when it has it but the value is implausible. */
static int take(const uint8_t *img, size_t size, size_t at, size_t *dst)
{
    uint64_t v;

    if (at == AAP_DBG_ABSENT) {
        return 0;
    }
    if (field(img, size, at, &v) < 0 || v >= OFFSET_MAX) {
        return -1;
    }
    *dst = (size_t)v;
    return 0;
}

int aap_pyoffsets_apply(uintptr_t table, const aap_dbgmap *map,
                        uint64_t want_version, aap_pylayout *lay,
                        const char **why)
{
    uint8_t img[TABLE_MAX];
    aap_pylayout l;
    uint64_t version, ft;
    size_t gil = 0, locked = 0, holder = 0;
    int bad = 0;

    *why = NULL;
    if (!map || map->size < sizeof(cookie) || map->size > TABLE_MAX) {
        *why = "the _Py_DebugOffsets layout is unknown";
        return AAP_EINVAL;
    }
    if (!table || aap_mem_read(img, table, map->size) < 0) {
        *why = "_Py_DebugOffsets cannot be read";
        return AAP_EINVAL;
    }
    if (memcmp(img, cookie, sizeof(cookie)) != 0) {
        *why = "_Py_DebugOffsets has no xdebugpy cookie";
        return AAP_EINVAL;
    }
    if (field(img, map->size, map->version, &version) < 0 ||
        (version >> 16) != (want_version >> 16)) {
        *why = "_Py_DebugOffsets is of another CPython version";
        return AAP_EINVAL;
    }
    if (field(img, map->size, map->free_threaded, &ft) == 0 && ft != 0) {
        *why = "free-threaded CPython: stacks are not read there";
        return AAP_EINVAL;
    }
    l = *lay;
    bad |= take(img, map->size, map->tstate_current_frame, &l.tstate_cframe);
    bad |= take(img, map->size, map->tstate_interp, &l.tstate_interp);
    bad |= take(img, map->size, map->tstate_native_id, &l.tstate_native_id);
    bad |= take(img, map->size, map->tstate_gil_requested,
                &l.tstate_gil_requested);
    bad |= take(img, map->size, map->frame_previous, &l.frame_previous);
    bad |= take(img, map->size, map->frame_executable, &l.frame_code);
    bad |= take(img, map->size, map->frame_instr_ptr, &l.frame_prev_instr);
    bad |= take(img, map->size, map->frame_owner, &l.frame_owner);
    bad |= take(img, map->size, map->code_filename, &l.code_filename);
    bad |= take(img, map->size, map->code_name, &l.code_name);
    bad |= take(img, map->size, map->code_firstlineno, &l.code_firstlineno);
    bad |= take(img, map->size, map->code_linetable, &l.code_linetable);
    bad |= take(img, map->size, map->code_adaptive, &l.code_adaptive);
    bad |= take(img, map->size, map->ob_type, &l.ob_type);
    bad |= take(img, map->size, map->bytes_size, &l.bytes_size);
    bad |= take(img, map->size, map->bytes_data, &l.bytes_data);
    bad |= take(img, map->size, map->str_state, &l.str_state);
    bad |= take(img, map->size, map->str_length, &l.str_length);
    bad |= take(img, map->size, map->str_ascii_size, &l.str_ascii_data);
    bad |= take(img, map->size, map->str_compact_size, &l.str_compact_data);
    bad |= take(img, map->size, map->interp_ceval_gil, &l.interp_gil);
    if (map->interp_gil != AAP_DBG_ABSENT) {
        /* the table names the interpreter's own GIL and its fields as
         * offsets in the interpreter; the GIL in use is reached through
         * ceval.gil, so keep the fields' offsets within the GIL */
        bad |= take(img, map->size, map->interp_gil, &gil);
        bad |= take(img, map->size, map->interp_gil_locked, &locked);
        bad |= take(img, map->size, map->interp_gil_holder, &holder);
        if (!bad && (locked < gil || holder < gil)) {
            bad = -1;
        } else if (!bad) {
            l.gil_locked = locked - gil;
            l.gil_holder = holder - gil;
        }
    }
    if (bad) {
        *why = "_Py_DebugOffsets holds an implausible offset";
        return AAP_EINVAL;
    }
    l.direct_frame = 1;
    *lay = l;
    return 0;
}
