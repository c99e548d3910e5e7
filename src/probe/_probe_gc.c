/*
 * _probe_gc.c: the GcWatch type, a gc.callbacks entry that times the
 * loop thread's garbage collections (aap_loop_gc).
 *
 * Why: a generation-2 collection of a large heap can stall the loop for
 * tens of milliseconds inside whatever callback allocated last; that is
 * the process's heap, not that callback's line, so the collection's time
 * (its CPU time, so that run-queue waits during it are not counted twice)
 * is taken out of the callback's own time (aap_loop.c), and its duration
 * exported on its own.  The interpreter calls the callbacks on the collecting
 * thread, with the GIL, at the start and stop of each collection; a C callable
 * costs no Python frame there.  Collections run by other threads are
 * left out (for the loop they are GIL contention).
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

typedef struct {
    HOOK_HEAD;
} GcWatchObject;

static PyObject *gcwatch_call(PyObject *obj, PyObject *args, PyObject *kw)
{
    aap_loop *L = probe_core_loop(((GcWatchObject *)obj)->core);
    PyObject *phase;

    (void)kw;
    if (L && PyTuple_Check(args) && PyTuple_GET_SIZE(args) >= 1) {
        phase = PyTuple_GET_ITEM(args, 0);
        if (PyUnicode_Check(phase)) {
            aap_loop_gc(L, (uintptr_t)PyThreadState_Get(),
                        PyUnicode_CompareWithASCIIString(phase, "start") == 0,
                        aap_now_ns(), AAP_CPU_NOW);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *gcwatch_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    probe_state *st = PyType_GetModuleState(type);
    PyObject *core;
    GcWatchObject *self;

    (void)kw;
    if (!PyArg_ParseTuple(args, "O!", st->loop_type, &core)) {
        return NULL;
    }
    self = (GcWatchObject *)type->tp_alloc(type, 0);
    if (self) {
        self->core = (LoopObject *)Py_NewRef(core);
    }
    return (PyObject *)self;
}

static int gcwatch_traverse(GcWatchObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->core);
    return 0;
}

static int gcwatch_clear(GcWatchObject *self)
{
    Py_CLEAR(self->core);
    return 0;
}

static void gcwatch_dealloc(GcWatchObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    gcwatch_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot gcwatch_slots[] = {
    {Py_tp_new, gcwatch_new},
    {Py_tp_dealloc, gcwatch_dealloc},
    {Py_tp_traverse, gcwatch_traverse},
    {Py_tp_clear, gcwatch_clear},
    {Py_tp_call, gcwatch_call},
    {Py_tp_doc, "gc.callbacks entry timing the loop thread's collections."},
    {0, NULL},
};

PyType_Spec probe_gcwatch_spec = {
    "async_auditor._probe.GcWatch",          sizeof(GcWatchObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, gcwatch_slots,
};
