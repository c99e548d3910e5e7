/*
 * test_probe_stack.c: the GIL-free stack reader on fabricated interpreter
 * structures (a fake layout): the walk, shim, incomplete and non-code
 * frames in the middle of a stack, tagged f_executable pointers, names
 * that must come out as valid UTF-8; the GIL reader on a fabricated GIL;
 * aap_mem_read() on unmapped memory.
 */
#include "aap.h"
#include "check.h"

#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

struct fstr {
    uint64_t refcnt;
    uintptr_t type;
    int64_t length;
    int64_t hash;
    uint32_t state;
    uint32_t pad;
    unsigned char data[1200];
};

struct fbytes {
    uint64_t refcnt;
    uintptr_t type;
    int64_t size;
    int64_t hash;
    uint8_t data[32];
};

struct fcode {
    uint64_t refcnt;
    uintptr_t type;
    uintptr_t filename, name, linetable;
    int32_t firstlineno;
    int32_t firsttraceable;
    uint16_t code[16];
};

struct fframe {
    uintptr_t code;
    uintptr_t previous;
    uintptr_t prev_instr;
    char owner;
};

struct fcframe {
    uintptr_t current;
};

struct ftstate {
    uint64_t other;
    uintptr_t cframe;
    uintptr_t interp;
    unsigned long native_id;
    int gil_requested;
};

struct fgil {
    unsigned long interval;
    uintptr_t last_holder;
    int locked;
    char cond_and_mutex[180];
};

struct finterp {
    uint64_t other[3];
    uintptr_t gil;
};

static char code_type, str_type, bytes_type;

static aap_pylayout fake_layout(void)
{
    aap_pylayout l;

    memset(&l, 0, sizeof(l));
    l.supported = 1;
    l.ob_type = offsetof(struct fstr, type);
    l.tstate_cframe = offsetof(struct ftstate, cframe);
    l.cframe_current = offsetof(struct fcframe, current);
    l.tstate_interp = offsetof(struct ftstate, interp);
    l.tstate_native_id = offsetof(struct ftstate, native_id);
    l.frame_code = offsetof(struct fframe, code);
    l.frame_previous = offsetof(struct fframe, previous);
    l.frame_prev_instr = offsetof(struct fframe, prev_instr);
    l.frame_owner = offsetof(struct fframe, owner);
    l.owner_shim = 3;
    l.owner_generator = 1;
    l.code_filename = offsetof(struct fcode, filename);
    l.code_name = offsetof(struct fcode, name);
    l.code_firstlineno = offsetof(struct fcode, firstlineno);
    l.code_linetable = offsetof(struct fcode, linetable);
    l.code_adaptive = offsetof(struct fcode, code);
    l.code_firsttraceable = offsetof(struct fcode, firsttraceable);
    l.bytes_size = offsetof(struct fbytes, size);
    l.bytes_data = offsetof(struct fbytes, data);
    l.str_length = offsetof(struct fstr, length);
    l.str_state = offsetof(struct fstr, state);
    l.state_kind_mask = 0x1c;
    l.state_kind_shift = 2;
    l.state_compact_mask = 0x20;
    l.state_ascii_mask = 0x40;
    l.str_ascii_data = offsetof(struct fstr, data);
    l.str_compact_data = offsetof(struct fstr, data);
    l.code_type = (uintptr_t)&code_type;
    l.str_type = (uintptr_t)&str_type;
    l.bytes_type = (uintptr_t)&bytes_type;
    l.gil_size = sizeof(struct fgil);
    l.gil_locked = offsetof(struct fgil, locked);
    l.gil_holder = offsetof(struct fgil, last_holder);
    l.interp_gil = offsetof(struct finterp, gil);
    return l;
}

static void mkstr(struct fstr *s, const char *text)
{
    memset(s, 0, sizeof(*s));
    s->type = (uintptr_t)&str_type;
    s->length = (int64_t)strlen(text);
    s->state = (1u << 2) | 0x20 | 0x40; /* kind 1, compact, ascii */
    memcpy(s->data, text, strlen(text));
}

/* A compact non-ASCII str of n code points of width kind. */
static void mkwide(struct fstr *s, const uint32_t *cp, size_t n, int kind)
{
    size_t i;

    memset(s, 0, sizeof(*s));
    s->type = (uintptr_t)&str_type;
    s->length = (int64_t)n;
    s->state = ((uint32_t)kind << 2) | 0x20;
    for (i = 0; i < n; i++) {
        if (kind == 1) {
            s->data[i] = (unsigned char)cp[i];
        } else if (kind == 2) {
            uint16_t v = (uint16_t)cp[i];

            memcpy(s->data + 2 * i, &v, 2);
        } else {
            memcpy(s->data + 4 * i, &cp[i], 4);
        }
    }
}

/* A stack of five frames, innermost first: inner (line 11), a C-stack
 * shim, a frame still being set up, a frame whose executable is a str,
 * outer (line 20).  The reader must report inner and outer only. */
struct scene {
    struct fstr file, fin, fout;
    struct fbytes table;
    struct fcode cin, cout, cmid;
    struct fframe inner, shim, incomplete, notcode, outer;
    struct fcframe cf;
    struct ftstate ts;
};

static void build(struct scene *s)
{
    memset(s, 0, sizeof(*s));
    mkstr(&s->file, "app/x.py");
    mkstr(&s->fin, "inner");
    mkstr(&s->fout, "outer");
    s->table.type = (uintptr_t)&bytes_type;
    /* unit 0-1 line+0, unit 2.. line+1 (no-column form) */
    s->table.data[0] = 0x80 | (13 << 3) | 1;
    s->table.data[1] = 0;
    s->table.data[2] = 0x80 | (13 << 3) | 7;
    s->table.data[3] = 2;
    s->table.size = 4;
    s->cin.type = (uintptr_t)&code_type;
    s->cin.filename = (uintptr_t)&s->file;
    s->cin.name = (uintptr_t)&s->fin;
    s->cin.linetable = (uintptr_t)&s->table;
    s->cin.firstlineno = 10;
    s->cout = s->cin;
    s->cout.name = (uintptr_t)&s->fout;
    s->cout.firstlineno = 20;
    s->cmid = s->cin;
    s->cmid.firsttraceable = 4; /* units before 4 are its prologue */

    s->inner.code = (uintptr_t)&s->cin;
    s->inner.prev_instr = (uintptr_t)&s->cin.code[3]; /* line 11 */
    s->inner.previous = (uintptr_t)&s->shim;
    s->shim = s->inner;
    s->shim.owner = 3; /* C-stack shim */
    s->shim.previous = (uintptr_t)&s->incomplete;
    s->incomplete.code = (uintptr_t)&s->cmid;
    s->incomplete.prev_instr = (uintptr_t)&s->cmid.code[1];
    s->incomplete.previous = (uintptr_t)&s->notcode;
    s->notcode.code = (uintptr_t)&s->fin; /* a str, not a code object */
    s->notcode.previous = (uintptr_t)&s->outer;
    s->outer.code = (uintptr_t)&s->cout;
    s->outer.prev_instr = (uintptr_t)&s->cout.code[0]; /* line 20 */
    s->cf.current = (uintptr_t)&s->inner;
    s->ts.cframe = (uintptr_t)&s->cf;
}

static void test_walk(void)
{
    aap_stack_scratch *scratch = aap_stack_scratch_new();
    aap_pylayout l = fake_layout();
    static struct scene s;
    static aap_stack st;

    build(&s);
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), 2);
    CHECK_STR_EQ(st.frames[0].file, "app/x.py");
    CHECK_STR_EQ(st.frames[0].func, "inner");
    CHECK_INT_EQ(st.frames[0].line, 11);
    CHECK_STR_EQ(st.frames[1].func, "outer");
    CHECK_INT_EQ(st.frames[1].line, 20);

    /* the same frame past its prologue is complete, and a generator's
     * frame never is incomplete */
    s.incomplete.prev_instr = (uintptr_t)&s.cmid.code[4];
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), 3);
    CHECK_STR_EQ(st.frames[1].func, "inner");
    s.incomplete.prev_instr = (uintptr_t)&s.cmid.code[1];
    s.incomplete.owner = 1;
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), 3);
    s.incomplete.owner = 0;

    /* 3.14+: f_executable carries tag bits, masked before use */
    {
        aap_pylayout t = l;

        s.inner.code |= 1;
        s.outer.code |= 3;
        CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), 0);
        t.frame_code_tag = 3;
        CHECK_INT_EQ(aap_stack_capture(&t, (uintptr_t)&s.ts, &st, scratch), 2);
        CHECK_STR_EQ(st.frames[0].func, "inner");
        CHECK_STR_EQ(st.frames[1].func, "outer");
        s.inner.code &= ~(uintptr_t)3;
        s.outer.code &= ~(uintptr_t)3;
    }

    /* 3.13 layout: the thread state points at the frame directly */
    {
        aap_pylayout d = l;
        struct ftstate ts13;

        memset(&ts13, 0, sizeof(ts13));
        ts13.cframe = (uintptr_t)&s.inner;
        d.direct_frame = 1;
        CHECK_INT_EQ(aap_stack_capture(&d, (uintptr_t)&ts13, &st, scratch), 2);
        CHECK_STR_EQ(st.frames[1].func, "outer");
        ts13.cframe = 0;
        CHECK_INT_EQ(aap_stack_capture(&d, (uintptr_t)&ts13, &st, scratch), 0);
    }

    /* a freed frame (unmapped memory) ends the walk without a crash */
    {
        long pg = sysconf(_SC_PAGESIZE);
        void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        CHECK(p != MAP_FAILED);
        munmap(p, (size_t)pg);
        s.shim.previous = (uintptr_t)p;
        CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), 1);
        CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)p, &st, scratch), -1);
        s.cf.current = (uintptr_t)p;
        CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), 0);
    }
    /* idle thread: no cframe */
    s.ts.cframe = 0;
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), 0);
    l.supported = 0;
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), -1);
    aap_stack_scratch_free(scratch);
}

/* The name of the innermost frame when its co_name is str. */
static const char *name_of(struct scene *s, struct fstr *str,
                           aap_stack_scratch *scratch, aap_stack *st)
{
    aap_pylayout l = fake_layout();

    s->cin.name = (uintptr_t)str;
    if (aap_stack_capture(&l, (uintptr_t)&s->ts, st, scratch) < 1) {
        return "(no frame)";
    }
    return st->frames[0].func;
}

static void test_names_utf8(void)
{
    aap_stack_scratch *scratch = aap_stack_scratch_new();
    static struct scene s;
    static struct fstr str;
    static aap_stack st;
    /* "café" (Latin-1, kind 1) */
    static const uint32_t cafe[] = {'c', 'a', 'f', 0xe9};
    /* a file name from a Latin-1 directory decoded with surrogateescape:
     * b"d\xe9j" is "d\udce9j" */
    static const uint32_t escaped[] = {'d', 0xdce9, 'j'};
    /* a lone high surrogate, and (kind 4) one past U+10FFFF, and a
     * character outside the BMP */
    static const uint32_t lone[] = {'a', 0xd800, 'b'};
    static const uint32_t wide[] = {'x', 0x110000, 0x1f600};
    static const uint32_t ctrl[] = {'a', '\n', 0x1b, 'b'};
    uint32_t many[600];
    size_t i;

    build(&s);
    mkwide(&str, cafe, 4, 1);
    CHECK_STR_EQ(name_of(&s, &str, scratch, &st), "caf\xc3\xa9");
    mkwide(&str, escaped, 3, 2);
    CHECK_STR_EQ(name_of(&s, &str, scratch, &st), "d\\xe9j");
    mkwide(&str, lone, 3, 2);
    CHECK_STR_EQ(name_of(&s, &str, scratch, &st), "a\xef\xbf\xbd"
                                                  "b");
    mkwide(&str, wide, 3, 4);
    CHECK_STR_EQ(name_of(&s, &str, scratch, &st),
                 "x\xef\xbf\xbd\xf0\x9f\x98\x80");
    mkwide(&str, ctrl, 4, 1);
    CHECK_STR_EQ(name_of(&s, &str, scratch, &st), "a??b");
    /* a long name is cut between characters, never inside one */
    for (i = 0; i < 600; i++) {
        many[i] = i % 3 ? 0x20ac : 'e'; /* euro signs, 3 bytes each */
    }
    mkwide(&str, many, 500, 2);
    {
        const char *f = name_of(&s, &str, scratch, &st);

        CHECK(strlen(f) > AAP_FUNC_MAX - 5 && strlen(f) < AAP_FUNC_MAX);
        CHECK(aat_utf8_valid(f, strlen(f)));
    }
    /* the same in a file name from a surrogate-escaped directory */
    for (i = 0; i < 600; i++) {
        many[i] = i % 2 ? 0xdcff : '/';
    }
    mkwide(&str, many, 300, 2);
    s.cin.filename = (uintptr_t)&str;
    s.cin.name = (uintptr_t)&s.fin;
    {
        aap_pylayout l = fake_layout();

        CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&s.ts, &st, scratch), 2);
        CHECK(aat_utf8_valid(st.frames[0].file, strlen(st.frames[0].file)));
        CHECK(strncmp(st.frames[0].file, "/\\xff/\\xff", 10) == 0);
    }
    aap_stack_scratch_free(scratch);
}

static void test_native_id_and_gil(void)
{
    aap_pylayout l = fake_layout();
    struct ftstate loop, worker;
    struct finterp interp;
    struct fgil gil;
    aap_gil_state g;
    long tid = 0;

    memset(&loop, 0, sizeof(loop));
    memset(&worker, 0, sizeof(worker));
    memset(&gil, 0, sizeof(gil));
    memset(&interp, 0, sizeof(interp));
    loop.native_id = 4242;
    loop.interp = (uintptr_t)&interp;
    interp.gil = (uintptr_t)&gil;
    gil.locked = 1;
    gil.last_holder = (uintptr_t)&worker;
    CHECK_INT_EQ(aap_tstate_native_id(&l, (uintptr_t)&loop, &tid), 0);
    CHECK_INT_EQ(tid, 4242);
    CHECK_INT_EQ(aap_tstate_native_id(&l, (uintptr_t)&worker, &tid), -1);

    /* where the layout does not say where the GIL is: unknown */
    CHECK_INT_EQ(aap_gil_read(&l, (uintptr_t)&loop, &g), -1);
    /* 3.12+: through the thread's interpreter */
    l.gil_where = AAP_GIL_INTERP;
    CHECK_INT_EQ(aap_gil_read(&l, (uintptr_t)&loop, &g), 0);
    CHECK(g.addr == (uintptr_t)&gil);
    CHECK_INT_EQ(g.locked, 1);
    CHECK(g.holder == (uintptr_t)&worker);
    /* a futex word inside the struct is a wait for the GIL; one just past
     * it, or anywhere else, is not */
    CHECK(aap_gil_contains(&g, (uintptr_t)&gil.cond_and_mutex[40]));
    CHECK(!aap_gil_contains(&g, (uintptr_t)&gil + sizeof(gil)));
    CHECK(!aap_gil_contains(&g, (uintptr_t)&interp));
    /* 3.11: one GIL at a fixed address */
    l.gil_where = AAP_GIL_FIXED;
    l.gil_addr = (uintptr_t)&gil;
    gil.locked = 0;
    CHECK_INT_EQ(aap_gil_read(&l, 0, &g), 0);
    CHECK_INT_EQ(g.locked, 0);
    /* 3.15's gil_requested, where the layout has it */
    CHECK_INT_EQ(aap_tstate_gil_requested(&l, (uintptr_t)&loop), -1);
    l.tstate_gil_requested = offsetof(struct ftstate, gil_requested);
    loop.gil_requested = 1;
    CHECK_INT_EQ(aap_tstate_gil_requested(&l, (uintptr_t)&loop), 1);
    loop.gil_requested = 0;
    CHECK_INT_EQ(aap_tstate_gil_requested(&l, (uintptr_t)&loop), 0);
}

static void test_mem_read(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char buf[16];

    CHECK(p != MAP_FAILED);
    memcpy(p + pg - 4, "abcd", 4);
    munmap(p + pg, (size_t)pg);
    CHECK_INT_EQ(aap_mem_read(buf, (uintptr_t)(p + pg - 4), 4), 0);
    CHECK(memcmp(buf, "abcd", 4) == 0);
    CHECK_INT_EQ(aap_mem_read(buf, (uintptr_t)(p + pg - 4), 8), -1);
    CHECK_INT_EQ(aap_mem_read(buf, 0, 4), -1);
    CHECK_INT_EQ(aap_mem_read(buf, 16, 4), -1);
    munmap(p, (size_t)pg);
}

int main(void)
{
    test_walk();
    test_names_utf8();
    test_native_id_and_gil();
    test_mem_read();
    return check_report("test_probe_stack");
}
