/*
 * test_probe_stack.c: the GIL-free stack reader on fabricated interpreter
 * structures (a fake layout), and aap_mem_read() on unmapped memory.
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
    unsigned char data[64];
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
    int32_t pad;
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
    l.frame_code = offsetof(struct fframe, code);
    l.frame_previous = offsetof(struct fframe, previous);
    l.frame_prev_instr = offsetof(struct fframe, prev_instr);
    l.frame_owner = offsetof(struct fframe, owner);
    l.owner_cstack = 3;
    l.code_filename = offsetof(struct fcode, filename);
    l.code_name = offsetof(struct fcode, name);
    l.code_firstlineno = offsetof(struct fcode, firstlineno);
    l.code_linetable = offsetof(struct fcode, linetable);
    l.code_adaptive = offsetof(struct fcode, code);
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

static void test_walk(void)
{
    aap_stack_scratch *scratch = aap_stack_scratch_new();
    aap_pylayout l = fake_layout();
    struct fstr file, fin, fout, latin;
    struct fbytes table;
    struct fcode cin, cout;
    struct fframe inner, shim, outer;
    struct fcframe cf;
    struct ftstate ts;
    static aap_stack st;

    mkstr(&file, "app/x.py");
    mkstr(&fin, "inner");
    mkstr(&fout, "outer");
    memset(&table, 0, sizeof(table));
    table.type = (uintptr_t)&bytes_type;
    /* unit 0-1 line+0, unit 2.. line+1 (no-column form) */
    table.data[0] = 0x80 | (13 << 3) | 1;
    table.data[1] = 0;
    table.data[2] = 0x80 | (13 << 3) | 7;
    table.data[3] = 2;
    table.size = 4;
    memset(&cin, 0, sizeof(cin));
    cin.type = (uintptr_t)&code_type;
    cin.filename = (uintptr_t)&file;
    cin.name = (uintptr_t)&fin;
    cin.linetable = (uintptr_t)&table;
    cin.firstlineno = 10;
    cout = cin;
    cout.name = (uintptr_t)&fout;
    cout.firstlineno = 20;

    inner.code = (uintptr_t)&cin;
    inner.prev_instr = (uintptr_t)&cin.code[3]; /* line 11 */
    inner.previous = (uintptr_t)&shim;
    inner.owner = 0;
    shim = inner;
    shim.owner = 3; /* C-stack shim frames are skipped */
    shim.previous = (uintptr_t)&outer;
    outer.code = (uintptr_t)&cout;
    outer.prev_instr = (uintptr_t)&cout.code[0]; /* line 20 */
    outer.previous = 0;
    outer.owner = 0;
    cf.current = (uintptr_t)&inner;
    ts.cframe = (uintptr_t)&cf;

    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&ts, &st, scratch), 2);
    CHECK_STR_EQ(st.frames[0].file, "app/x.py");
    /* 3.13 layout: the thread state points at the frame directly */
    {
        aap_pylayout d = l;
        struct ftstate ts13;

        ts13.cframe = (uintptr_t)&inner;
        d.direct_frame = 1;
        CHECK_INT_EQ(aap_stack_capture(&d, (uintptr_t)&ts13, &st, scratch), 2);
        CHECK_STR_EQ(st.frames[1].func, "outer");
        ts13.cframe = 0;
        CHECK_INT_EQ(aap_stack_capture(&d, (uintptr_t)&ts13, &st, scratch), 0);
    }
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&ts, &st, scratch), 2);
    CHECK_STR_EQ(st.frames[0].func, "inner");
    CHECK_INT_EQ(st.frames[0].line, 11);
    CHECK_STR_EQ(st.frames[1].func, "outer");
    CHECK_INT_EQ(st.frames[1].line, 20);

    /* a Latin-1 (non-ASCII, kind 1) name becomes UTF-8 */
    mkstr(&latin, "caf\xe9");
    latin.state = (1u << 2) | 0x20;
    cin.name = (uintptr_t)&latin;
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&ts, &st, scratch), 2);
    CHECK_STR_EQ(st.frames[0].func, "caf\xc3\xa9");

    /* a frame whose code is not a code object ends the walk */
    cout.type = (uintptr_t)&str_type;
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&ts, &st, scratch), 1);
    cout.type = (uintptr_t)&code_type;

    /* a freed frame (unmapped memory) ends the walk without a crash */
    {
        long pg = sysconf(_SC_PAGESIZE);
        void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        CHECK(p != MAP_FAILED);
        munmap(p, (size_t)pg);
        shim.previous = (uintptr_t)p;
        CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&ts, &st, scratch), 1);
        CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)p, &st, scratch), -1);
        cf.current = (uintptr_t)p;
        CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&ts, &st, scratch), 0);
    }
    /* idle thread: no cframe */
    ts.cframe = 0;
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&ts, &st, scratch), 0);
    l.supported = 0;
    CHECK_INT_EQ(aap_stack_capture(&l, (uintptr_t)&ts, &st, scratch), -1);
    aap_stack_scratch_free(scratch);
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

static void set_frames(aap_stack *st, const char *const *files, int n)
{
    int i;

    memset(st, 0, sizeof(*st));
    for (i = 0; i < n; i++) {
        snprintf(st->frames[i].file, AAP_FILE_MAX, "%s", files[i]);
        snprintf(st->frames[i].func, AAP_FUNC_MAX, "f%d", i);
        st->frames[i].line = i + 1;
    }
    st->n = n;
}

static void add_rules(aap_site_rules *r)
{
    memset(r, 0, sizeof(*r));
    CHECK_INT_EQ(aap_site_rules_add(r, "/py/asyncio/", 0), 0);
    CHECK_INT_EQ(aap_site_rules_add(r, "/sp/async_auditor/", 0), 0);
    CHECK_INT_EQ(aap_site_rules_add(r, "/py/_weakrefset.py", 1), 0);
}

/* Which frame names the site: innermost first in every list below. */
static void test_site_frame(void)
{
    /* create_task called by the user's fan-out; the weak set of all tasks
     * is updated inside it */
    static const char *const fan[] = {"/py/_weakrefset.py",
                                      "/py/asyncio/base_events.py",
                                      "/app/svc.py",
                                      "/py/asyncio/events.py",
                                      "/py/asyncio/base_events.py",
                                      "/py/asyncio/runners.py",
                                      "/app/m.py"};
    /* the user's own line is innermost */
    static const char *const own[] = {"/app/svc.py", "/py/asyncio/events.py",
                                      "/app/m.py"};
    /* the user's code uses a helper directly: it stays the site */
    static const char *const direct[] = {"/py/_weakrefset.py", "/app/svc.py",
                                         "/py/asyncio/events.py"};
    /* a user's task factory called by asyncio blocks */
    static const char *const factory[] = {
        "/app/factory.py", "/py/asyncio/base_events.py", "/app/svc.py",
        "/py/asyncio/events.py"};
    /* the loop's own machinery, only the entry point outside it */
    static const char *const mach[] = {"/py/asyncio/base_events.py",
                                       "/py/asyncio/base_events.py",
                                       "/app/m.py"};
    static const char *const all[] = {"/py/asyncio/base_events.py",
                                      "/sp/async_auditor/_install.py"};
    /* a directory that only shares the prefix's text up to the slash */
    static const char *const near[] = {"/py/asyncio_extra/x.py",
                                       "/py/asyncio/base_events.py",
                                       "/app/s.py", "/py/asyncio/events.py"};
    aap_site_rules *r = malloc(sizeof(*r));
    aap_stack *st = malloc(sizeof(*st));
    char long_prefix[AAP_FILE_MAX + 1];
    int i;

    CHECK(st != NULL && r != NULL);
    if (!st || !r) {
        free(st);
        free(r);
        return;
    }
    add_rules(r);
    set_frames(st, fan, 7);
    CHECK_INT_EQ(aap_stack_site_frame(st, r), 2);
    CHECK_INT_EQ(aap_stack_site_frame(st, NULL), 0);
    set_frames(st, own, 3);
    CHECK_INT_EQ(aap_stack_site_frame(st, r), 0);
    set_frames(st, direct, 3);
    CHECK_INT_EQ(aap_stack_site_frame(st, r), 0);
    set_frames(st, factory, 4);
    CHECK_INT_EQ(aap_stack_site_frame(st, r), 0);
    set_frames(st, mach, 3);
    CHECK_INT_EQ(aap_stack_site_frame(st, r), 0);
    set_frames(st, all, 2);
    CHECK_INT_EQ(aap_stack_site_frame(st, r), 0);
    set_frames(st, near, 4);
    CHECK_INT_EQ(aap_stack_site_frame(st, r), 0);
    set_frames(st, fan, 0);
    CHECK_INT_EQ(aap_stack_site_frame(st, r), -1);

    /* bounded table, no empty or over-long prefix */
    CHECK_INT_EQ(aap_site_rules_add(r, "", 0), AAP_EINVAL);
    memset(long_prefix, 'a', AAP_FILE_MAX);
    long_prefix[AAP_FILE_MAX] = '\0';
    CHECK_INT_EQ(aap_site_rules_add(r, long_prefix, 0), AAP_EINVAL);
    for (i = 3; i < AAP_SITE_RULES_MAX; i++) {
        CHECK_INT_EQ(aap_site_rules_add(r, "/x/", 1), 0);
    }
    CHECK_INT_EQ(aap_site_rules_add(r, "/x/", 1), AAP_ETOOBIG);
    free(st);
    free(r);
}

int main(void)
{
    test_walk();
    test_mem_read();
    test_site_frame();
    return check_report("test_probe_stack");
}
