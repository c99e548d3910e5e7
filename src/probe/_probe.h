/*
 * _probe.h: what the files of the async_auditor._probe extension share.
 * Each of those files includes Python.h (through this header) and holds
 * one concern: the module (_probe.c), the Loop type (_probe_loop.c), its
 * values as Python objects (_probe_snapshot.c), the selector wrapper
 * (_probe_selector.c), the lag timer (_probe_lagtimer.c), the task factory
 * (_probe_tasks.c), the ready queue whose popleft marks callbacks
 * (_probe_ready.c), the loop thread's garbage collections (_probe_gc.c),
 * uvloop's hooks (_probe_uvloop.c), the ASGI middleware's per-request
 * path (_probe_asgi.c), the interpreter layout tables (_probe_layout.c)
 * and the culprit-naming configuration (in-app rules, thread names:
 * _probe_culprit.c).  They adapt an asyncio loop to the plain-C library
 * (aap.h), which never includes Python.h.
 *
 * Nothing here ever raises into a user's callback: failures inside loop
 * hooks are reported with PyErr_WriteUnraisable and the loop carries on.
 */
#ifndef PROBE_H
#define PROBE_H

#include <Python.h>
#include <structmember.h>

#include "aap.h"

#ifndef AAP_VERSION
#define AAP_VERSION "0.0.0"
#endif

#if PY_VERSION_HEX < 0x030A0000
/* Python 3.9 lacks these two conveniences. */
static inline PyObject *probe_newref_(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
/* a macro, like 3.10's, so it takes any object pointer */
#define Py_NewRef(o) probe_newref_((PyObject *)(o))

static inline int PyModule_AddObjectRef(PyObject *m, const char *name,
                                        PyObject *v)
{
    Py_INCREF(v);
    if (PyModule_AddObject(m, name, v) < 0) {
        Py_DECREF(v);
        return -1;
    }
    return 0;
}
#endif

/* Per-module state: the heap types and the exception. */
typedef struct {
    PyTypeObject *loop_type;
    PyTypeObject *selector_type;
    PyTypeObject *lagtimer_type;
    PyTypeObject *factory_type;
    PyTypeObject *ready_type; /* NULL when the deque cannot be subclassed */
    PyTypeObject *gcwatch_type;
    PyTypeObject *httpmw_type;  /* the ASGI middleware's base */
    PyTypeObject *httpreq_type; /* one request through it */
    PyObject *asgi_names;       /* the names it looks up (a tuple) */
    PyObject *exporter_error;
} probe_state;

/* The module's definition (_probe.c): types that Python code subclasses
 * find their module state through it. */
extern struct PyModuleDef probe_module;

/* The C state of one probed loop (the Loop type, _probe_loop.c). */
typedef struct {
    PyObject_HEAD aap_loop *L;
    PyObject *impl;
} LoopObject;

/* Objects hooked into a loop start with a reference to its Loop. */
#define HOOK_HEAD PyObject_HEAD LoopObject *core

static inline aap_loop *probe_core_loop(LoopObject *core)
{
    return core ? core->L : NULL;
}

/* Keep the loop's thread state current: the loop may run on another
 * thread than the one that installed the probe. */
static inline void probe_track_tstate(aap_loop *L, uintptr_t *seen)
{
    uintptr_t ts = (uintptr_t)PyThreadState_Get();

    if (ts != *seen) {
        *seen = ts;
        aap_loop_set_tstate(L, ts);
    }
}

/* The one place C-library errors become Python exceptions (_probe.c). */
PyObject *probe_raise(probe_state *st, int err, int sys_errno,
                      const char *what);

/* The running interpreter's layout for the stack reader, filled once at
 * module init (_probe_layout.c); when stacks are not supported, the
 * reason (else NULL), and where the offsets came from ("headers",
 * "_Py_DebugOffsets", "none"). */
extern aap_pylayout probe_layout;
extern const char *probe_layout_reason;
extern const char *probe_layout_source;
void probe_layout_init(void);

/* In-app rules, culprit classes and thread names (_probe_culprit.c): the
 * module's constants and functions for them, added at module exec. */
int probe_culprit_exec(PyObject *m);
/* Fill r from a sequence of (prefix, kind, root) tuples (None: none); -1
 * with an exception set on a bad value. */
int probe_inapp_fill(aap_inapp_rules *r, PyObject *seq);
/* Record the calling thread's name for the C side once per thread (GIL
 * held); never raises. */
void probe_thread_note(void);

/* The Ready type (_probe_ready.c), a subclass of the running
 * interpreter's collections.deque, added to module m; 0, or -1 with an
 * exception. */
int probe_ready_exec(PyObject *m, probe_state *st);
/* snapshot() and blocks() of a loop (_probe_snapshot.c); NULL with an
 * exception. */
PyObject *probe_snapshot(aap_loop *L, PyObject *impl);
PyObject *probe_blocks(aap_loop *L, probe_state *st);
/* The interned names of the ASGI middleware's request path, into
 * st->asgi_names (_probe_asgi.c); 0, or -1 with an exception. */
int probe_asgi_exec(probe_state *st);
/* uvloop_hook_acquire/release (_probe_uvloop.c). */
extern PyMethodDef probe_uvloop_methods[];

extern PyType_Spec probe_loop_spec;     /* _probe_loop.c */
extern PyType_Spec probe_selector_spec; /* _probe_selector.c */
extern PyType_Spec probe_lagtimer_spec; /* _probe_lagtimer.c */
extern PyType_Spec probe_factory_spec;  /* _probe_tasks.c */
/* Make timer (a LagTimer, not started, not a heartbeat) tick only from
 * the Selector's select(), through the two calls below; 0, or -1 with an
 * exception. */
int probe_lagtimer_drive(PyObject *timer);
/* A driven timer (GIL held, never raise): a select() for timeout_ns
 * (negative: none) starts at now; runs a due tick and returns the
 * timeout to wait instead (aap_ticker_wait).  Its wait ended at now, by
 * its timeout or by an event (aap_ticker_woke).  A stopped or undriven
 * timer returns timeout_ns and does nothing. */
int64_t probe_lagtimer_wait(PyObject *timer, uint64_t now, int64_t timeout_ns);
void probe_lagtimer_woke(PyObject *timer, uint64_t now, int timed_out);
/* The lag timer's tick at now: sweep factory's young tasks (and the old
 * ones when due) for the alive count (_probe_tasks.c); GIL held, never
 * raises. */
void probe_tasks_tick(PyObject *factory, uint64_t now);
extern PyType_Spec probe_gcwatch_spec; /* _probe_gc.c */
extern PyType_Spec probe_httpmw_spec;  /* _probe_asgi.c */
extern PyType_Spec probe_httpreq_spec; /* _probe_asgi.c */

#endif
