/*
 * _probe_layout.c: the interpreter layout the GIL-free stack reader
 * (aap_stack.c) needs: offsets into PyThreadState, interpreter frames,
 * code and str objects, and the addresses of the types it checks.
 * Computed with offsetof() against the running CPython's own headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <structmember.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000 &&            \
    !defined(Py_GIL_DISABLED)
#define AAP_HAVE_FRAMES 1
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#define AAP_UNDEF_BUILD_CORE 1
#endif
#include "internal/pycore_frame.h"
#ifdef AAP_UNDEF_BUILD_CORE
#undef Py_BUILD_CORE
#endif
#else
#define AAP_HAVE_FRAMES 0
#endif

#include <string.h>

#include "_probe.h"

aap_pylayout probe_layout;

static uint32_t state_word(const PyASCIIObject *o)
{
    uint32_t w;

    memcpy(&w, (const char *)o + offsetof(PyASCIIObject, state), sizeof(w));
    return w;
}

void probe_layout_init(void)
{
#if AAP_HAVE_FRAMES
    PyASCIIObject o;
    uint32_t w;

    memset(&probe_layout, 0, sizeof(probe_layout));
    probe_layout.ob_type = offsetof(PyObject, ob_type);
#if PY_VERSION_HEX >= 0x030D0000
    probe_layout.tstate_cframe = offsetof(PyThreadState, current_frame);
    probe_layout.direct_frame = 1;
    probe_layout.frame_code = offsetof(_PyInterpreterFrame, f_executable);
    probe_layout.frame_prev_instr = offsetof(_PyInterpreterFrame, instr_ptr);
#else
    probe_layout.tstate_cframe = offsetof(PyThreadState, cframe);
    probe_layout.cframe_current = offsetof(_PyCFrame, current_frame);
    probe_layout.frame_code = offsetof(_PyInterpreterFrame, f_code);
    probe_layout.frame_prev_instr = offsetof(_PyInterpreterFrame, prev_instr);
#endif
    probe_layout.frame_previous = offsetof(_PyInterpreterFrame, previous);
    probe_layout.frame_owner = offsetof(_PyInterpreterFrame, owner);
#if PY_VERSION_HEX >= 0x030C0000
    probe_layout.owner_cstack = FRAME_OWNED_BY_CSTACK;
#else
    probe_layout.owner_cstack = -1;
#endif
    probe_layout.code_filename = offsetof(PyCodeObject, co_filename);
    probe_layout.code_name = offsetof(PyCodeObject, co_name);
    probe_layout.code_firstlineno = offsetof(PyCodeObject, co_firstlineno);
    probe_layout.code_linetable = offsetof(PyCodeObject, co_linetable);
    probe_layout.code_adaptive = offsetof(PyCodeObject, co_code_adaptive);
    probe_layout.bytes_size = offsetof(PyVarObject, ob_size);
    probe_layout.bytes_data = offsetof(PyBytesObject, ob_sval);
    probe_layout.str_length = offsetof(PyASCIIObject, length);
    probe_layout.str_state = offsetof(PyASCIIObject, state);
    memset(&o, 0, sizeof(o));
    o.state.kind = 7;
    w = state_word(&o);
    probe_layout.state_kind_mask = w;
    probe_layout.state_kind_shift = (unsigned)__builtin_ctz(w);
    memset(&o, 0, sizeof(o));
    o.state.compact = 1;
    probe_layout.state_compact_mask = state_word(&o);
    memset(&o, 0, sizeof(o));
    o.state.ascii = 1;
    probe_layout.state_ascii_mask = state_word(&o);
    probe_layout.str_ascii_data = sizeof(PyASCIIObject);
    probe_layout.str_compact_data = sizeof(PyCompactUnicodeObject);
    probe_layout.code_type = (uintptr_t)&PyCode_Type;
    probe_layout.str_type = (uintptr_t)&PyUnicode_Type;
    probe_layout.bytes_type = (uintptr_t)&PyBytes_Type;
    probe_layout.supported = 1;
#else
    memset(&probe_layout, 0, sizeof(probe_layout));
#endif
}
