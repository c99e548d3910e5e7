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
 * which knows the running CPython (aap_py.h).
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

/* Append code point cp as UTF-8 when it fits whole (else -1).  A str that
 * holds a file name decoded with surrogateescape (bytes that are not UTF-8,
 * e.g. a Latin-1 directory) carries each such byte as U+DC80..U+DCFF: it is
 * written as the visible escape \xNN; any other surrogate, which UTF-8
 * cannot carry, and anything beyond U+10FFFF become U+FFFD. */
static int put_utf8(char *dst, size_t cap, size_t *o, uint32_t cp)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[4];
    size_t n, i;

    if (cp >= 0xDC80 && cp <= 0xDCFF) {
        if (*o + 4 >= cap) {
            return -1;
        }
        dst[(*o)++] = '\\';
        dst[(*o)++] = 'x';
        dst[(*o)++] = hex[(cp >> 4) & 0xF];
        dst[(*o)++] = hex[cp & 0xF];
        return 0;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp >= 0x110000) {
        cp = 0xFFFD;
    }
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
    } else {
        tmp[0] = (char)(0xF0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*o + n >= cap) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        dst[(*o)++] = tmp[i];
    }
    return 0;
}

/* Read a str object into dst as valid UTF-8 (truncated to cap, never
 * inside a character); control characters become '?', surrogates as
 * put_utf8() says.  -1 if it is not a readable compact str. */
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
        if (put_utf8(dst, cap, &o, cp) < 0) {
            break;
        }
    }
    dst[o] = '\0';
    return 0;
}

/* Where the bytecode of a code object begins (co_code_adaptive). */
static uintptr_t code_units(const aap_pylayout *lay, uintptr_t code)
{
    return code + lay->code_adaptive;
}

/* 1 when code is a code object. */
static int is_code(const aap_pylayout *lay, uintptr_t code)
{
    uintptr_t type;

    return read_ptr(code + lay->ob_type, &type) == 0 && type == lay->code_type;
}

/* A frame still being set up (instr before the code's first traceable
 * instruction), which the interpreter's own tracebacks skip; generator
 * frames never are.  As _PyFrame_IsIncomplete() decides it. */
static int is_incomplete(const aap_pylayout *lay, uintptr_t code,
                         uintptr_t instr, char owner)
{
    int first;

    if (owner == lay->owner_generator) {
        return 0;
    }
    if (aap_mem_read(&first, code + lay->code_firsttraceable, sizeof(first)) <
            0 ||
        first < 0) {
        return 0;
    }
    return instr < code_units(lay, code) + 2 * (uintptr_t)first;
}

static int read_code_frame(const aap_pylayout *lay, uintptr_t code,
                           uintptr_t instr, uint8_t *tabbuf, aap_frame *f)
{
    uintptr_t type, fname, name, table;
    int firstlineno;
    int64_t tlen;
    long lasti;

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
    /* the offset in code units of the instruction executing (3.13+
     * instr_ptr) or last executed (3.11/3.12 prev_instr): the address
     * PyCode_Addr2Line() is given, halved */
    lasti = (long)((intptr_t)(instr - code_units(lay, code)) / 2);
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
        frame = prev;
        code &= ~lay->frame_code_tag;
        if ((lay->owner_shim >= 0 && owner >= lay->owner_shim) ||
            !is_code(lay, code) || is_incomplete(lay, code, instr, owner)) {
            continue;
        }
        if (out->n >= AAP_STACK_MAX) {
            out->truncated = 1;
            break;
        }
        if (read_code_frame(lay, code, instr, tabbuf, &out->frames[out->n]) <
            0) {
            break;
        }
        out->n++;
    }
    return out->n;
}

int aap_tstate_native_id(const aap_pylayout *lay, uintptr_t tstate, long *out)
{
    unsigned long id;

    if (!lay || !lay->supported || !tstate || !lay->tstate_native_id ||
        aap_mem_read(&id, tstate + lay->tstate_native_id, sizeof(id)) < 0 ||
        id == 0 || id > (unsigned long)INT32_MAX) {
        return -1;
    }
    *out = (long)id;
    return 0;
}
