/*
 * aap_stack.c: read another thread's Python stack without the GIL.
 *
 * Why: when the event loop is blocked, the interesting stack belongs to a
 * thread that may hold the GIL for seconds (a CPU loop, a long re match),
 * so the watchdog cannot ask the interpreter for it.  faulthandler solves
 * the same problem by walking tstate->cframe->current_frame directly; it
 * can afford to crash.  We cannot, so every read of interpreter memory goes
 * through aap_mem_read() (aap_mem.c), which returns an error instead of
 * faulting when a frame was freed under us.  Every object read is
 * type-checked against the real type addresses and every length is
 * bounded.  The interpreter layout (offsets) comes from the extension,
 * which knows the running CPython.
 */
#include "aap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINETABLE_MAX (256u * 1024u)

struct aap_stack_scratch {
    uint8_t linetable[LINETABLE_MAX];
};

aap_stack_scratch *aap_stack_scratch_new(void)
{
    return malloc(sizeof(aap_stack_scratch));
}

void aap_stack_scratch_free(aap_stack_scratch *s)
{
    free(s);
}

static int read_ptr(uintptr_t addr, uintptr_t *out)
{
    return aap_mem_read(out, addr, sizeof(*out));
}

static void put_utf8(char *dst, size_t cap, size_t *o, uint32_t cp)
{
    char tmp[4];
    size_t n, i;

    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xC0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xE0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else if (cp < 0x110000) {
        tmp[0] = (char)(0xF0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    } else {
        tmp[0] = '?';
        n = 1;
    }
    if (*o + n >= cap) {
        return;
    }
    for (i = 0; i < n; i++) {
        dst[(*o)++] = tmp[i];
    }
}

/* Read a str object into dst as UTF-8 (truncated to cap); control
 * characters become '?'.  -1 if it is not a readable compact str. */
static int read_str(const aap_pylayout *lay, uintptr_t obj, char *dst,
                    size_t cap)
{
    uint8_t hdr[256], raw[4 * 512];
    uintptr_t type;
    int64_t length;
    uint32_t state;
    unsigned kind;
    size_t o = 0, i, count;
    uintptr_t data;

    dst[0] = '\0';
    if (read_ptr(obj + lay->ob_type, &type) < 0 || type != lay->str_type) {
        return -1;
    }
    if (lay->str_compact_data > sizeof(hdr) ||
        aap_mem_read(hdr, obj, lay->str_compact_data) < 0) {
        return -1;
    }
    memcpy(&length, hdr + lay->str_length, sizeof(length));
    memcpy(&state, hdr + lay->str_state, sizeof(state));
    kind = (state & lay->state_kind_mask) >> lay->state_kind_shift;
    if (!(state & lay->state_compact_mask) || length < 0 ||
        (kind != 1 && kind != 2 && kind != 4)) {
        return -1;
    }
    data = obj + ((state & lay->state_ascii_mask) ? lay->str_ascii_data
                                                  : lay->str_compact_data);
    count = (size_t)length;
    if (count > 512) {
        count = 512;
    }
    if (aap_mem_read(raw, data, count * kind) < 0) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        uint32_t cp;

        if (kind == 1) {
            cp = raw[i];
        } else if (kind == 2) {
            uint16_t v;

            memcpy(&v, raw + 2 * i, 2);
            cp = v;
        } else {
            memcpy(&cp, raw + 4 * i, 4);
        }
        if (cp < 0x20 || cp == 0x7f) {
            cp = '?';
        }
        put_utf8(dst, cap, &o, cp);
    }
    dst[o] = '\0';
    return 0;
}

static int read_code_frame(const aap_pylayout *lay, uintptr_t code,
                           uintptr_t instr, uint8_t *tabbuf, aap_frame *f)
{
    uintptr_t type, fname, name, table;
    int firstlineno;
    int64_t tlen;
    long lasti;

    if (read_ptr(code + lay->ob_type, &type) < 0 || type != lay->code_type) {
        return -1;
    }
    if (read_ptr(code + lay->code_filename, &fname) < 0 ||
        read_ptr(code + lay->code_name, &name) < 0 ||
        read_ptr(code + lay->code_linetable, &table) < 0 ||
        aap_mem_read(&firstlineno, code + lay->code_firstlineno,
                     sizeof(firstlineno)) < 0) {
        return -1;
    }
    if (read_str(lay, fname, f->file, sizeof(f->file)) < 0) {
        snprintf(f->file, sizeof(f->file), "?");
    }
    if (read_str(lay, name, f->func, sizeof(f->func)) < 0) {
        snprintf(f->func, sizeof(f->func), "?");
    }
    f->line = firstlineno;
    if (read_ptr(table + lay->ob_type, &type) < 0 || type != lay->bytes_type ||
        aap_mem_read(&tlen, table + lay->bytes_size, sizeof(tlen)) < 0 ||
        tlen < 0 || (uint64_t)tlen > LINETABLE_MAX) {
        return 0;
    }
    if (aap_mem_read(tabbuf, table + lay->bytes_data, (size_t)tlen) < 0) {
        return 0;
    }
    lasti = (long)((intptr_t)(instr - (code + lay->code_adaptive)) / 2);
    f->line = aap_linetable_line(tabbuf, (size_t)tlen, firstlineno, lasti);
    if (f->line < 0) {
        f->line = firstlineno;
    }
    return 0;
}

int aap_stack_capture(const aap_pylayout *lay, uintptr_t tstate,
                      aap_stack *out, aap_stack_scratch *scratch)
{
    uintptr_t cframe, frame;
    uint8_t *tabbuf = scratch ? scratch->linetable : NULL;
    int guard = 4096;

    out->n = 0;
    out->truncated = 0;
    if (!lay || !lay->supported || !tstate) {
        return -1;
    }
    if (read_ptr(tstate + lay->tstate_cframe, &cframe) < 0) {
        return -1;
    }
    if (lay->direct_frame) {
        frame = cframe;
    } else if (!cframe) {
        return 0;
    } else if (read_ptr(cframe + lay->cframe_current, &frame) < 0) {
        return -1;
    }
    if (!tabbuf) {
        return -1;
    }
    while (frame && guard-- > 0) {
        uintptr_t code, prev, instr;
        char owner = 0;

        if (read_ptr(frame + lay->frame_code, &code) < 0 ||
            read_ptr(frame + lay->frame_previous, &prev) < 0 ||
            read_ptr(frame + lay->frame_prev_instr, &instr) < 0 ||
            aap_mem_read(&owner, frame + lay->frame_owner, 1) < 0) {
            break;
        }
        if (lay->owner_cstack < 0 || owner != lay->owner_cstack) {
            if (out->n >= AAP_STACK_MAX) {
                out->truncated = 1;
                break;
            }
            if (read_code_frame(lay, code, instr, tabbuf,
                                &out->frames[out->n]) < 0) {
                break;
            }
            out->n++;
        }
        frame = prev;
    }
    return out->n;
}
