/*
 * _probe_layout.c: the interpreter layout the GIL-free stack reader
 * (aap_stack.c) and GIL reader (aap_gil.c) need: offsets into thread and
 * interpreter states, interpreter frames, code and str objects, where the
 * GIL is, and the addresses of the types the reader checks.
 *
 * How it is obtained, per version:
 *   3.11, 3.12  offsetof() against the running CPython's own internal
 *               headers (the extension is built per minor version).
 *   3.13+       the interpreter's _Py_DebugOffsets table, found at the
 *               start of _PyRuntime (dlsym) and checked for its cookie
 *               and version (aap_pyoffsets.c); the few values it does not
 *               publish (see dbgmap()) come from the headers.  If the
 *               symbol is not exported the headers' offsets are used.
 *   3.14+       f_executable is a tagged _PyStackRef: the tag bits are
 *               masked before the pointer is followed.
 *   3.9, 3.10, free-threaded builds, unknown future versions: no stacks;
 *               probe_layout_reason says why.
 */
#define PY_SSIZE_T_CLEAN
#if !defined(Py_BUILD_CORE)
#define Py_BUILD_CORE 1
#endif
#include <Python.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x03100000 &&            \
    !defined(Py_GIL_DISABLED)
#define AAP_HAVE_FRAMES 1
/* the internal headers' inline functions do not build warning-free with
 * this project's flags (unused parameters from 3.14 on) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#if PY_VERSION_HEX >= 0x030E0000
#include "internal/pycore_debug_offsets.h"
#include "internal/pycore_gil.h"
#include "internal/pycore_interp_structs.h"
#include "internal/pycore_interpframe.h"
#include "internal/pycore_runtime_structs.h"
#include "internal/pycore_stackref.h"
#else
#include "internal/pycore_frame.h"
#include "internal/pycore_gil.h"
#include "internal/pycore_runtime.h"
#if PY_VERSION_HEX >= 0x030C0000
#include "internal/pycore_interp.h"
#endif
#endif
#pragma GCC diagnostic pop
#else
#define AAP_HAVE_FRAMES 0
#endif

#include <dlfcn.h>
#include <string.h>

#include "_probe.h"

aap_pylayout probe_layout;
const char *probe_layout_reason;
const char *probe_layout_source = "none";

#if AAP_HAVE_FRAMES
static uint32_t state_word(const PyASCIIObject *o)
{
    uint32_t w;

    memcpy(&w, (const char *)o + offsetof(PyASCIIObject, state), sizeof(w));
    return w;
}

#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030D0000
/* The address of _PyRuntime (3.11: where the GIL is; 3.13+: where
 * _Py_DebugOffsets is), or 0 when the interpreter does not export it (an
 * embedding that hides its symbols). */
static uintptr_t runtime_address(void)
{
    return (uintptr_t)dlsym(RTLD_DEFAULT, "_PyRuntime");
}
#endif

/* Offsets from the headers this extension was compiled against. */
static void from_headers(aap_pylayout *l)
{
    PyASCIIObject o;
    uint32_t w;

    memset(l, 0, sizeof(*l));
    l->ob_type = offsetof(PyObject, ob_type);
#if PY_VERSION_HEX >= 0x030D0000
    l->tstate_cframe = offsetof(PyThreadState, current_frame);
    l->direct_frame = 1;
    l->frame_code = offsetof(_PyInterpreterFrame, f_executable);
    l->frame_prev_instr = offsetof(_PyInterpreterFrame, instr_ptr);
#else
    l->tstate_cframe = offsetof(PyThreadState, cframe);
    l->cframe_current = offsetof(_PyCFrame, current_frame);
    l->frame_code = offsetof(_PyInterpreterFrame, f_code);
    l->frame_prev_instr = offsetof(_PyInterpreterFrame, prev_instr);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    l->frame_code_tag = (uintptr_t)Py_TAG_BITS;
    l->owner_shim = FRAME_OWNED_BY_INTERPRETER;
#elif PY_VERSION_HEX >= 0x030C0000
    l->owner_shim = FRAME_OWNED_BY_CSTACK;
#else
    l->owner_shim = -1;
#endif
#if PY_VERSION_HEX >= 0x030F0000
    l->tstate_gil_requested = offsetof(PyThreadState, gil_requested);
#endif
    l->owner_generator = FRAME_OWNED_BY_GENERATOR;
    l->tstate_interp = offsetof(PyThreadState, interp);
    l->tstate_native_id = offsetof(PyThreadState, native_thread_id);
    l->frame_previous = offsetof(_PyInterpreterFrame, previous);
    l->frame_owner = offsetof(_PyInterpreterFrame, owner);
    l->code_filename = offsetof(PyCodeObject, co_filename);
    l->code_name = offsetof(PyCodeObject, co_name);
    l->code_firstlineno = offsetof(PyCodeObject, co_firstlineno);
    l->code_linetable = offsetof(PyCodeObject, co_linetable);
    l->code_adaptive = offsetof(PyCodeObject, co_code_adaptive);
    l->code_firsttraceable = offsetof(PyCodeObject, _co_firsttraceable);
    l->bytes_size = offsetof(PyVarObject, ob_size);
    l->bytes_data = offsetof(PyBytesObject, ob_sval);
    l->str_length = offsetof(PyASCIIObject, length);
    l->str_state = offsetof(PyASCIIObject, state);
    memset(&o, 0, sizeof(o));
    o.state.kind = 7;
    w = state_word(&o);
    l->state_kind_mask = w;
    l->state_kind_shift = (unsigned)__builtin_ctz(w);
    memset(&o, 0, sizeof(o));
    o.state.compact = 1;
    l->state_compact_mask = state_word(&o);
    memset(&o, 0, sizeof(o));
    o.state.ascii = 1;
    l->state_ascii_mask = state_word(&o);
    l->str_ascii_data = sizeof(PyASCIIObject);
    l->str_compact_data = sizeof(PyCompactUnicodeObject);
    l->code_type = (uintptr_t)&PyCode_Type;
    l->str_type = (uintptr_t)&PyUnicode_Type;
    l->bytes_type = (uintptr_t)&PyBytes_Type;
    l->gil_size = sizeof(struct _gil_runtime_state);
    l->gil_locked = offsetof(struct _gil_runtime_state, locked);
    l->gil_holder = offsetof(struct _gil_runtime_state, last_holder);
#if PY_VERSION_HEX >= 0x030C0000
    l->gil_where = AAP_GIL_INTERP;
    l->interp_gil = offsetof(PyInterpreterState, ceval.gil);
#else
    {
        uintptr_t rt = runtime_address();

        l->gil_where = rt ? AAP_GIL_FIXED : AAP_GIL_NONE;
        l->gil_addr = rt ? rt + offsetof(_PyRuntimeState, ceval.gil) : 0;
    }
#endif
    l->supported = 1;
}

#if PY_VERSION_HEX >= 0x030D0000
#define DBG(f) offsetof(_Py_DebugOffsets, f)

/*
 * Where this version's _Py_DebugOffsets keeps each field the probe reads.
 * Not published, so taken from the headers (from_headers()): the owner
 * values of shim and generator frames, the stackref tag bits,
 * _co_firsttraceable (for incomplete frames), the bit layout of a str's
 * state word, sizeof(struct _gil_runtime_state) (the range of its futex
 * words); before 3.15 also sizeof(PyCompactUnicodeObject) and
 * PyThreadState.gil_requested (which only 3.15 has).
 */
static void dbgmap(aap_dbgmap *m)
{
    m->size = sizeof(_Py_DebugOffsets);
    m->version = DBG(version);
    m->free_threaded = DBG(free_threaded);
    m->tstate_current_frame = DBG(thread_state.current_frame);
    m->tstate_interp = DBG(thread_state.interp);
    m->tstate_native_id = DBG(thread_state.native_thread_id);
#if PY_VERSION_HEX >= 0x030F0000
    m->tstate_gil_requested = DBG(thread_state.gil_requested);
#else
    m->tstate_gil_requested = AAP_DBG_ABSENT;
#endif
    m->frame_previous = DBG(interpreter_frame.previous);
    m->frame_executable = DBG(interpreter_frame.executable);
    m->frame_instr_ptr = DBG(interpreter_frame.instr_ptr);
    m->frame_owner = DBG(interpreter_frame.owner);
    m->code_filename = DBG(code_object.filename);
    m->code_name = DBG(code_object.name);
    m->code_firstlineno = DBG(code_object.firstlineno);
    m->code_linetable = DBG(code_object.linetable);
    m->code_adaptive = DBG(code_object.co_code_adaptive);
    m->ob_type = DBG(pyobject.ob_type);
    m->bytes_size = DBG(bytes_object.ob_size);
    m->bytes_data = DBG(bytes_object.ob_sval);
    m->str_state = DBG(unicode_object.state);
    m->str_length = DBG(unicode_object.length);
    m->str_ascii_size = DBG(unicode_object.asciiobject_size);
#if PY_VERSION_HEX >= 0x030F0000
    m->str_compact_size = DBG(unicode_object.compactunicodeobject_size);
#else
    m->str_compact_size = AAP_DBG_ABSENT;
#endif
    m->interp_ceval_gil = DBG(interpreter_state.ceval_gil);
    m->interp_gil = DBG(interpreter_state.gil_runtime_state);
    m->interp_gil_locked = DBG(interpreter_state.gil_runtime_state_locked);
    m->interp_gil_holder = DBG(interpreter_state.gil_runtime_state_holder);
}

/* Replace the headers' offsets with the ones the running interpreter
 * publishes; -1 with probe_layout_reason set when the table is there but
 * not to be trusted. */
static int from_debug_offsets(aap_pylayout *l)
{
    uintptr_t rt = runtime_address();
    aap_dbgmap m;
    const char *why = NULL;

    if (!rt) {
        return 0; /* not exported: the headers' offsets stay */
    }
    dbgmap(&m);
    if (aap_pyoffsets_apply(rt + offsetof(_PyRuntimeState, debug_offsets), &m,
                            PY_VERSION_HEX, l, &why) < 0) {
        probe_layout_reason = why;
        return -1;
    }
    probe_layout_source = "_Py_DebugOffsets";
    return 0;
}
#endif
#endif

void probe_layout_init(void)
{
    memset(&probe_layout, 0, sizeof(probe_layout));
    probe_layout_reason = NULL;
    probe_layout_source = "none";
#if AAP_HAVE_FRAMES
    from_headers(&probe_layout);
    probe_layout_source = "headers";
#if PY_VERSION_HEX >= 0x030D0000
    if (from_debug_offsets(&probe_layout) < 0) {
        memset(&probe_layout, 0, sizeof(probe_layout));
        probe_layout_source = "none";
    }
#endif
#elif defined(Py_GIL_DISABLED)
    probe_layout_reason =
        "free-threaded CPython: stack capture is off (another thread's "
        "frames cannot be read consistently without the GIL)";
#elif PY_VERSION_HEX < 0x030B0000
    probe_layout_reason =
        "CPython before 3.11 keeps frames in heap objects with an older "
        "line table: stacks are read on 3.11 to 3.15";
#else
    probe_layout_reason = "this CPython is newer than the layouts the probe "
                          "knows (3.11 to 3.15)";
#endif
}
