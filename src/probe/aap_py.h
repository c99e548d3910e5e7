/*
 * aap_py.h: the probe's GIL-free view of the running CPython, for threads
 * that must not take the GIL (the watchdog): the interpreter layout, the
 * stack reader, the GIL's state and where that layout comes from.
 *
 * None of this includes Python.h.  The extension (_probe_layout.c), compiled
 * against the running interpreter's headers, fills an aap_pylayout: with
 * offsetof() on 3.11 and 3.12, and from the interpreter's own
 * _Py_DebugOffsets table (the offsets CPython publishes for out-of-process
 * tools) from 3.13 on.  Every read of interpreter memory goes through
 * aap_mem_read(), which fails cleanly instead of faulting.
 */
#ifndef AAP_PY_H
#define AAP_PY_H

#include <stddef.h>
#include <stdint.h>

/* Offsets and type addresses of the running interpreter. */
typedef struct aap_pylayout {
    int supported;
    size_t ob_type;          /* offsetof(PyObject, ob_type) */
    size_t tstate_cframe;    /* PyThreadState.cframe (3.13+: current_frame) */
    size_t cframe_current;   /* _PyCFrame.current_frame */
    int direct_frame;        /* 3.13+: tstate_cframe is the frame itself */
    size_t tstate_interp;    /* PyThreadState.interp */
    size_t tstate_native_id; /* PyThreadState.native_thread_id */
    /* PyThreadState.gil_requested (3.15+), else 0 */
    size_t tstate_gil_requested;
    size_t frame_code;        /* _PyInterpreterFrame.f_code (f_executable) */
    uintptr_t frame_code_tag; /* tag bits of f_executable (3.14+: stackref) */
    size_t frame_previous;    /* _PyInterpreterFrame.previous */
    size_t frame_prev_instr;  /* .prev_instr (3.13+: .instr_ptr) */
    size_t frame_owner;       /* _PyInterpreterFrame.owner (char) */
    /* owners from this value up are not Python code (the C-stack and
     * interpreter shim frames of 3.12+), or -1 */
    int owner_shim;
    int owner_generator;     /* owner of generator frames, never incomplete */
    size_t code_filename;    /* PyCodeObject.co_filename */
    size_t code_name;        /* PyCodeObject.co_name */
    size_t code_firstlineno; /* PyCodeObject.co_firstlineno (int) */
    size_t code_linetable;   /* PyCodeObject.co_linetable */
    size_t code_adaptive;    /* PyCodeObject.co_code_adaptive */
    size_t code_firsttraceable; /* PyCodeObject._co_firsttraceable (int) */
    size_t bytes_size;          /* PyVarObject.ob_size */
    size_t bytes_data;          /* PyBytesObject.ob_sval */
    size_t str_length;          /* PyASCIIObject.length */
    size_t str_state;           /* PyASCIIObject.state (32-bit word) */
    uint32_t state_kind_mask;   /* kind bits within the state word */
    unsigned state_kind_shift;
    uint32_t state_compact_mask;
    uint32_t state_ascii_mask;
    size_t str_ascii_data;   /* sizeof(PyASCIIObject) */
    size_t str_compact_data; /* sizeof(PyCompactUnicodeObject) */
    uintptr_t code_type;     /* &PyCode_Type */
    uintptr_t str_type;      /* &PyUnicode_Type */
    uintptr_t bytes_type;    /* &PyBytes_Type */
    /* Where the GIL is (struct _gil_runtime_state): */
    int gil_where;      /* enum aap_gil_where */
    uintptr_t gil_addr; /* AAP_GIL_FIXED: its address */
    size_t interp_gil;  /* AAP_GIL_INTERP: PyInterpreterState.ceval.gil */
    size_t gil_size;    /* sizeof(struct _gil_runtime_state) */
    size_t gil_locked;  /* .locked (int) */
    size_t gil_holder;  /* .last_holder (PyThreadState *) */
} aap_pylayout;

enum aap_gil_where {
    AAP_GIL_NONE = 0,  /* unknown: GIL contention is not recognised */
    AAP_GIL_FIXED = 1, /* 3.11: one GIL in _PyRuntime at gil_addr */
    AAP_GIL_INTERP = 2 /* 3.12+: interp->ceval.gil points at it */
};

#define AAP_STACK_MAX 48
#define AAP_FILE_MAX 256
#define AAP_FUNC_MAX 96

typedef struct aap_frame {
    char file[AAP_FILE_MAX];
    char func[AAP_FUNC_MAX];
    int line;
} aap_frame;

/* A captured stack, innermost frame first. */
typedef struct aap_stack {
    aap_frame frames[AAP_STACK_MAX];
    int n;
    int truncated;
} aap_stack;

/* Copy len bytes at address src of this process into dst; 0 or -1 when
 * any byte is unreadable.  Never faults. */
int aap_mem_read(void *dst, uintptr_t src, size_t len);

/* Line for code-unit offset addr in a CPython 3.11+ location table. */
int aap_linetable_line(const uint8_t *tab, size_t len, int firstlineno,
                       long addr);

/* Scratch memory of one stack reader (the location table being decoded,
 * up to 256 KiB): allocate it once per reading thread, not per capture. */
typedef struct aap_stack_scratch aap_stack_scratch;
aap_stack_scratch *aap_stack_scratch_new(void);
void aap_stack_scratch_free(aap_stack_scratch *s); /* NULL ok */

/*
 * Read the Python stack of the thread whose PyThreadState is at tstate,
 * without the GIL, using scratch (never shared between threads).  Returns the
 * number of frames (0 if the thread is not running Python code) or -1 if the
 * layout is unsupported or the first frame could not be read.  Frames that
 * are not Python code (shims), incomplete frames (still being set up) and
 * frames whose executable is not a code object are skipped, as the
 * interpreter's own tracebacks skip them; a frame that cannot be read at
 * all ends the walk.  The result is a best-effort snapshot: if the thread
 * runs while it is read (it holds the GIL), a frame may be reported from
 * just before or after the instant of the call, never a crash.  Names are
 * valid UTF-8: a byte that a file name smuggled in as a surrogate escape
 * (a non-UTF-8 directory) is written as the four characters \xNN, any
 * other surrogate as U+FFFD, control characters as '?'.
 */
int aap_stack_capture(const aap_pylayout *lay, uintptr_t tstate,
                      aap_stack *out, aap_stack_scratch *scratch);

/* The kernel thread id of the thread state at tstate; 0 or -1. */
int aap_tstate_native_id(const aap_pylayout *lay, uintptr_t tstate, long *out);

/* ---- the GIL, read without it (aap_gil.c) ---------------------------- */

typedef struct aap_gil_state {
    uintptr_t addr; /* struct _gil_runtime_state */
    size_t size;
    int locked;
    uintptr_t holder; /* PyThreadState of the last (or current) holder */
} aap_gil_state;

/* The GIL that the thread state at tstate runs under; 0, or -1 when the
 * layout does not say where it is or it cannot be read. */
int aap_gil_read(const aap_pylayout *lay, uintptr_t tstate,
                 aap_gil_state *out);
/* Whether a futex word at uaddr lies inside the GIL (its mutex and
 * condition variables): a thread waiting there waits for the GIL. */
int aap_gil_contains(const aap_gil_state *g, uint64_t uaddr);
/* 1 when the thread state says it is waiting to take the GIL (3.15+
 * publishes gil_requested), 0 when it says it is not, -1 unknown. */
int aap_tstate_gil_requested(const aap_pylayout *lay, uintptr_t tstate);

/* ---- the interpreter's published layout (aap_pyoffsets.c) ------------ */

/* A field that this CPython's _Py_DebugOffsets does not have. */
#define AAP_DBG_ABSENT ((size_t)-1)

/*
 * Where the fields the probe uses sit inside this CPython's
 * _Py_DebugOffsets (byte offsets of uint64_t members, computed by the
 * extension with offsetof() on the struct its headers declare), so this
 * file can read the table without knowing its version's layout.
 */
typedef struct aap_dbgmap {
    size_t size; /* sizeof(_Py_DebugOffsets) */
    size_t version, free_threaded;
    size_t tstate_current_frame, tstate_interp, tstate_native_id;
    size_t tstate_gil_requested;
    size_t frame_previous, frame_executable, frame_instr_ptr, frame_owner;
    size_t code_filename, code_name, code_firstlineno, code_linetable;
    size_t code_adaptive;
    size_t ob_type;
    size_t bytes_size, bytes_data;
    size_t str_state, str_length, str_ascii_size, str_compact_size;
    /* offsets inside PyInterpreterState: the pointer to the GIL in use,
     * and the interpreter's own GIL with its locked/last_holder fields */
    size_t interp_ceval_gil, interp_gil, interp_gil_locked;
    size_t interp_gil_holder;
} aap_dbgmap;

/*
 * Read the _Py_DebugOffsets table at address table (the start of
 * _PyRuntime), check its "xdebugpy" cookie, that its version has the
 * major.minor of want_version (a PY_VERSION_HEX) and that the build is not
 * free-threaded, and overwrite lay's offsets with the ones it publishes.
 * Fields the map marks AAP_DBG_ABSENT keep the value lay already holds.
 * lay->direct_frame is set (3.13+ thread states point at the frame).
 * On failure (AAP_EINVAL) lay is unchanged and *why says what was wrong.
 */
int aap_pyoffsets_apply(uintptr_t table, const aap_dbgmap *map,
                        uint64_t want_version, aap_pylayout *lay,
                        const char **why);

#endif
