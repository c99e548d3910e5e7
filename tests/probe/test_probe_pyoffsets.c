/*
 * test_probe_pyoffsets.c: reading the interpreter layout from a
 * _Py_DebugOffsets table (aap_pyoffsets.c), on a synthetic table image in
 * memory: the cookie, version and free-threaded checks, fields copied,
 * fields the table lacks kept from the headers, implausible values
 * refused.
 */
#include "aap.h"
#include "check.h"

#include <stddef.h>

/* A table laid out like a (made-up) version of _Py_DebugOffsets. */
struct table {
    char cookie[8];
    uint64_t version;
    uint64_t free_threaded;
    uint64_t pad0;
    uint64_t tstate_current_frame, tstate_interp, tstate_native_id;
    uint64_t frame_previous, frame_executable, frame_instr_ptr, frame_owner;
    uint64_t code_filename, code_name, code_firstlineno, code_linetable;
    uint64_t code_adaptive;
    uint64_t ob_type;
    uint64_t bytes_size, bytes_data;
    uint64_t str_state, str_length, str_ascii_size;
    uint64_t interp_ceval_gil, interp_gil, interp_gil_locked;
    uint64_t interp_gil_holder;
};

#define AT(f) offsetof(struct table, f)

static aap_dbgmap map_of(void)
{
    aap_dbgmap m;

    m.size = sizeof(struct table);
    m.version = AT(version);
    m.free_threaded = AT(free_threaded);
    m.tstate_current_frame = AT(tstate_current_frame);
    m.tstate_interp = AT(tstate_interp);
    m.tstate_native_id = AT(tstate_native_id);
    m.tstate_gil_requested = AAP_DBG_ABSENT;
    m.frame_previous = AT(frame_previous);
    m.frame_executable = AT(frame_executable);
    m.frame_instr_ptr = AT(frame_instr_ptr);
    m.frame_owner = AT(frame_owner);
    m.code_filename = AT(code_filename);
    m.code_name = AT(code_name);
    m.code_firstlineno = AT(code_firstlineno);
    m.code_linetable = AT(code_linetable);
    m.code_adaptive = AT(code_adaptive);
    m.ob_type = AT(ob_type);
    m.bytes_size = AT(bytes_size);
    m.bytes_data = AT(bytes_data);
    m.str_state = AT(str_state);
    m.str_length = AT(str_length);
    m.str_ascii_size = AT(str_ascii_size);
    m.str_compact_size = AAP_DBG_ABSENT;
    m.interp_ceval_gil = AT(interp_ceval_gil);
    m.interp_gil = AT(interp_gil);
    m.interp_gil_locked = AT(interp_gil_locked);
    m.interp_gil_holder = AT(interp_gil_holder);
    return m;
}

/* Distinct values, none equal to what the "headers" layout holds. */
static void fill(struct table *t)
{
    memset(t, 0, sizeof(*t));
    memcpy(t->cookie, "xdebugpy", 8);
    t->version = 0x030E0AF0; /* 3.14.10 final */
    t->tstate_current_frame = 72;
    t->tstate_interp = 16;
    t->tstate_native_id = 160;
    t->frame_previous = 8;
    t->frame_executable = 0;
    t->frame_instr_ptr = 56;
    t->frame_owner = 74;
    t->code_filename = 112;
    t->code_name = 120;
    t->code_firstlineno = 68;
    t->code_linetable = 136;
    t->code_adaptive = 208;
    t->ob_type = 8;
    t->bytes_size = 16;
    t->bytes_data = 32;
    t->str_state = 32;
    t->str_length = 16;
    t->str_ascii_size = 40;
    t->interp_ceval_gil = 16;
    t->interp_gil = 7784;
    t->interp_gil_locked = 7800;
    t->interp_gil_holder = 7792;
}

static aap_pylayout headers(void)
{
    aap_pylayout l;

    memset(&l, 0xEE, sizeof(l));
    l.supported = 1;
    l.direct_frame = 0;
    l.str_compact_data = 56;
    l.tstate_gil_requested = 0;
    l.code_firsttraceable = 192;
    return l;
}

static void test_apply(void)
{
    struct table t;
    aap_dbgmap m = map_of();
    aap_pylayout l = headers(), before;
    const char *why = "unset";

    fill(&t);
    CHECK_INT_EQ(aap_pyoffsets_apply((uintptr_t)&t, &m, 0x030E02F0, &l, &why),
                 0);
    CHECK(why == NULL);
    CHECK_INT_EQ(l.tstate_cframe, 72);
    CHECK_INT_EQ(l.direct_frame, 1);
    CHECK_INT_EQ(l.tstate_interp, 16);
    CHECK_INT_EQ(l.tstate_native_id, 160);
    CHECK_INT_EQ(l.frame_previous, 8);
    CHECK_INT_EQ(l.frame_code, 0);
    CHECK_INT_EQ(l.frame_prev_instr, 56);
    CHECK_INT_EQ(l.frame_owner, 74);
    CHECK_INT_EQ(l.code_filename, 112);
    CHECK_INT_EQ(l.code_name, 120);
    CHECK_INT_EQ(l.code_firstlineno, 68);
    CHECK_INT_EQ(l.code_linetable, 136);
    CHECK_INT_EQ(l.code_adaptive, 208);
    CHECK_INT_EQ(l.ob_type, 8);
    CHECK_INT_EQ(l.bytes_size, 16);
    CHECK_INT_EQ(l.bytes_data, 32);
    CHECK_INT_EQ(l.str_state, 32);
    CHECK_INT_EQ(l.str_length, 16);
    CHECK_INT_EQ(l.str_ascii_data, 40);
    CHECK_INT_EQ(l.interp_gil, 16);
    /* the GIL's fields, relative to the GIL */
    CHECK_INT_EQ(l.gil_locked, 16);
    CHECK_INT_EQ(l.gil_holder, 8);
    /* what the table does not publish stays as the headers said */
    CHECK_INT_EQ(l.str_compact_data, 56);
    CHECK_INT_EQ(l.tstate_gil_requested, 0);
    CHECK_INT_EQ(l.code_firsttraceable, 192);

    /* refused, and the layout left alone: */
    fill(&t);
    memcpy(t.cookie, "xdebugpx", 8); /* no cookie */
    l = before = headers();
    CHECK_INT_EQ(aap_pyoffsets_apply((uintptr_t)&t, &m, 0x030E02F0, &l, &why),
                 AAP_EINVAL);
    CHECK_STR_CONTAINS(why, "cookie");
    CHECK(memcmp(&l, &before, sizeof(l)) == 0);
    fill(&t);
    t.version = 0x030D00F0; /* another minor version */
    CHECK_INT_EQ(aap_pyoffsets_apply((uintptr_t)&t, &m, 0x030E02F0, &l, &why),
                 AAP_EINVAL);
    CHECK_STR_CONTAINS(why, "version");
    CHECK(memcmp(&l, &before, sizeof(l)) == 0);
    fill(&t);
    t.free_threaded = 1;
    CHECK_INT_EQ(aap_pyoffsets_apply((uintptr_t)&t, &m, 0x030E02F0, &l, &why),
                 AAP_EINVAL);
    CHECK_STR_CONTAINS(why, "free-threaded");
    fill(&t);
    t.code_name = (uint64_t)1 << 40; /* not an offset inside an object */
    CHECK_INT_EQ(aap_pyoffsets_apply((uintptr_t)&t, &m, 0x030E02F0, &l, &why),
                 AAP_EINVAL);
    CHECK_STR_CONTAINS(why, "implausible");
    CHECK(memcmp(&l, &before, sizeof(l)) == 0);
    fill(&t);
    t.interp_gil_locked = 4; /* before the GIL it belongs to */
    CHECK_INT_EQ(aap_pyoffsets_apply((uintptr_t)&t, &m, 0x030E02F0, &l, &why),
                 AAP_EINVAL);
    /* a map pointing outside its table, an unreadable table */
    fill(&t);
    m.code_name = sizeof(t) + 8;
    CHECK_INT_EQ(aap_pyoffsets_apply((uintptr_t)&t, &m, 0x030E02F0, &l, &why),
                 AAP_EINVAL);
    m = map_of();
    CHECK_INT_EQ(aap_pyoffsets_apply(16, &m, 0x030E02F0, &l, &why),
                 AAP_EINVAL);
    CHECK_STR_CONTAINS(why, "read");
    CHECK_INT_EQ(aap_pyoffsets_apply(0, &m, 0x030E02F0, &l, &why), AAP_EINVAL);
    CHECK(memcmp(&l, &before, sizeof(l)) == 0);
}

int main(void)
{
    test_apply();
    return check_report("test_probe_pyoffsets");
}
