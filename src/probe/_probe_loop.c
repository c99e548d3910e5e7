/*
 * _probe_loop.c: the Loop type, the C state of one probed event loop.  It
 * owns the aap_loop and exposes snapshot(), blocks() (built by
 * _probe_snapshot.c), the loop's start, stop and thread binding, and the
 * executor and task hooks the Python layer (python/async_auditor/
 * _install.py) calls.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <string.h>

static PyObject *loop_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {
        "name",   "implementation", "lag_interval", "block_threshold",
        "stacks", "heartbeat",      "in_app",       "hook",
        NULL};
    const char *name, *impl;
    double lag, thr;
    int stacks = 1, heartbeat = 0, hook = 0, rc;
    PyObject *in_app = NULL;
    aap_inapp_rules *rules;
    aap_loop_config cfg;
    LoopObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ssdd|ppOp", kwlist, &name,
                                     &impl, &lag, &thr, &stacks, &heartbeat,
                                     &in_app, &hook)) {
        return NULL;
    }
    if (!(lag > 0 && lag < 3600) || !(thr > 0 && thr < 3600)) {
        PyErr_SetString(PyExc_ValueError,
                        "lag_interval and block_threshold must be > 0 "
                        "seconds");
        return NULL;
    }
    rules = PyMem_Calloc(1, sizeof(*rules));
    if (!rules) {
        return PyErr_NoMemory();
    }
    if (probe_inapp_fill(rules, in_app) < 0) {
        PyMem_Free(rules);
        return NULL;
    }
    self = (LoopObject *)type->tp_alloc(type, 0);
    if (!self) {
        PyMem_Free(rules);
        return NULL;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.name = name;
    cfg.implementation = impl;
    cfg.version = AAP_VERSION;
    cfg.lag_interval_ns = (uint64_t)(lag * 1e9);
    cfg.threshold_ns = (uint64_t)(thr * 1e9);
    cfg.stacks = stacks;
    cfg.mode = heartbeat ? AAP_MODE_HEARTBEAT
               : hook    ? AAP_MODE_HOOK
                         : AAP_MODE_SELECTOR;
    cfg.tstate = (uintptr_t)PyThreadState_Get();
    cfg.layout = &probe_layout;
    cfg.in_app = rules;
    rc = aap_loop_new(&cfg, &self->L);
    PyMem_Free(rules);
    if (rc < 0) {
        Py_DECREF(self);
        return probe_raise(PyType_GetModuleState(type), rc, 0, "install");
    }
    self->impl = PyUnicode_FromString(impl);
    if (!self->impl) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void loop_dealloc(LoopObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    aap_loop_free(self->L);
    self->L = NULL;
    Py_CLEAR(self->impl);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *loop_close(LoopObject *self, PyObject *unused)
{
    (void)unused;
    aap_loop_free(self->L);
    self->L = NULL;
    Py_RETURN_NONE;
}

static PyObject *loop_stopping(LoopObject *self, PyObject *unused)
{
    (void)unused;
    if (self->L) {
        aap_loop_stopping(self->L, aap_now_ns());
    }
    Py_RETURN_NONE;
}

static PyObject *loop_started(LoopObject *self, PyObject *unused)
{
    (void)unused;
    if (self->L) {
        aap_loop_started(self->L, aap_now_ns());
    }
    Py_RETURN_NONE;
}

/* Loop thread: this thread's uvloop polls and callbacks are this loop's
 * (AAP_MODE_HOOK); the thread state is noted too. */
static PyObject *loop_bind_thread(LoopObject *self, PyObject *unused)
{
    (void)unused;
    if (self->L) {
        aap_loop_set_tstate(self->L, (uintptr_t)PyThreadState_Get());
        if (aap_uvhook_bind(self->L) < 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "too many threads run uvloop loops");
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* install() from a callback of the running loop: the stretch in progress
 * counts from now (otherwise it starts at the next select() return, and a
 * block in the installing callback is missed). */
static PyObject *loop_busy_now(LoopObject *self, PyObject *unused)
{
    (void)unused;
    if (self->L) {
        aap_loop_busy_begin(self->L, aap_now_ns());
    }
    Py_RETURN_NONE;
}

static PyObject *loop_closing_hint(LoopObject *self, PyObject *unused)
{
    (void)unused;
    if (self->L) {
        aap_loop_closing_hint(self->L);
    }
    Py_RETURN_NONE;
}

static PyObject *loop_get_closed(LoopObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(self->L == NULL);
}

static PyObject *loop_snapshot(LoopObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->L) {
        PyErr_SetString(PyExc_RuntimeError, "probe is closed");
        return NULL;
    }
    return probe_snapshot(self->L, self->impl);
}

static PyObject *loop_blocks(LoopObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->L) {
        PyErr_SetString(PyExc_RuntimeError, "probe is closed");
        return NULL;
    }
    return probe_blocks(self->L, PyType_GetModuleState(Py_TYPE(self)));
}

static int exec_which(PyObject *o)
{
    long w = PyLong_AsLong(o);

    if (w == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (w < 0 || w >= AAP_EXEC_N) {
        PyErr_SetString(PyExc_ValueError, "unknown executor");
        return -1;
    }
    return (int)w;
}

static PyObject *loop_exec_enable(LoopObject *self, PyObject *const *args,
                                  Py_ssize_t nargs)
{
    int w;
    long long maxw;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "exec_enable(which, max_workers)");
        return NULL;
    }
    if ((w = exec_which(args[0])) < 0) {
        return NULL;
    }
    maxw = PyLong_AsLongLong(args[1]);
    if (maxw == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (self->L) {
        aap_exec_enable(self->L, w, maxw);
    }
    Py_RETURN_NONE;
}

/* The optional function id argument of the exec_* methods. */
static int fn_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t at,
                  uint32_t *fn)
{
    unsigned long v;

    *fn = AAP_EXEC_FN_NONE;
    if (nargs <= at || args[at] == Py_None) {
        return 0;
    }
    v = PyLong_AsUnsignedLong(args[at]);
    if (v == (unsigned long)-1 && PyErr_Occurred()) {
        return -1;
    }
    *fn = v > UINT32_MAX ? AAP_EXEC_FN_NONE : (uint32_t)v;
    return 0;
}

/* exec_fn(which, function, site, hint=None) -> id: the job about to be
 * submitted runs function (defined at site, "" if unknown); hint is the
 * id an earlier call returned for it. */
static PyObject *loop_exec_fn(LoopObject *self, PyObject *const *args,
                              Py_ssize_t nargs)
{
    const char *fn, *site;
    uint32_t hint, id = AAP_EXEC_FN_NONE;
    int w;

    if (nargs < 3 || nargs > 4 || !PyUnicode_Check(args[1]) ||
        !PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "exec_fn(which, function, site, hint=None)");
        return NULL;
    }
    if ((w = exec_which(args[0])) < 0 || fn_arg(args, nargs, 3, &hint) < 0 ||
        !(fn = PyUnicode_AsUTF8(args[1])) ||
        !(site = PyUnicode_AsUTF8(args[2]))) {
        return NULL;
    }
    if (self->L) {
        id = aap_exec_fn(self->L, w, fn, site, hint);
    }
    return PyLong_FromUnsignedLong(id);
}

/* exec_submit(which) -> t0; exec_start(which, t0, fn=None) -> t1;
 * exec_finish(which, t1, fn=None); exec_unstarted(which, fn=None).
 * No-ops once closed. */
static PyObject *loop_exec_submit(LoopObject *self, PyObject *arg)
{
    int w = exec_which(arg);

    if (w < 0) {
        return NULL;
    }
    if (self->L) {
        aap_exec_submit(self->L, w);
    }
    return PyLong_FromUnsignedLongLong(aap_now_ns());
}

static PyObject *loop_exec_start(LoopObject *self, PyObject *const *args,
                                 Py_ssize_t nargs)
{
    unsigned long long t0;
    uint64_t now = aap_now_ns();
    uint32_t fn;
    int w;

    if (nargs < 2 || nargs > 3 || (w = exec_which(args[0])) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "exec_start(which, t0, fn=None)");
        }
        return NULL;
    }
    t0 = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred() || fn_arg(args, nargs, 2, &fn) < 0) {
        return NULL;
    }
    if (self->L) {
        aap_exec_start(self->L, w, now > t0 ? now - t0 : 0, fn);
    }
    probe_thread_note();
    return PyLong_FromUnsignedLongLong(now);
}

static PyObject *loop_exec_finish(LoopObject *self, PyObject *const *args,
                                  Py_ssize_t nargs)
{
    unsigned long long t1;
    uint64_t now = aap_now_ns();
    uint32_t fn;
    int w;

    if (nargs < 2 || nargs > 3 || (w = exec_which(args[0])) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError,
                            "exec_finish(which, t1, fn=None)");
        }
        return NULL;
    }
    t1 = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred() || fn_arg(args, nargs, 2, &fn) < 0) {
        return NULL;
    }
    if (self->L) {
        aap_exec_finish(self->L, w, now > t1 ? now - t1 : 0, fn);
    }
    Py_RETURN_NONE;
}

static PyObject *loop_exec_unstarted(LoopObject *self, PyObject *const *args,
                                     Py_ssize_t nargs)
{
    uint32_t fn;
    int w;

    if (nargs < 1 || nargs > 2 || (w = exec_which(args[0])) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "exec_unstarted(which, fn=None)");
        }
        return NULL;
    }
    if (fn_arg(args, nargs, 1, &fn) < 0) {
        return NULL;
    }
    if (self->L) {
        aap_exec_unstarted(self->L, w, fn);
    }
    Py_RETURN_NONE;
}

static PyObject *loop_tasks_add(LoopObject *self, PyObject *const *args,
                                Py_ssize_t nargs)
{
    long long c, a;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "tasks_add(created, alive)");
        return NULL;
    }
    c = PyLong_AsLongLong(args[0]);
    a = PyLong_AsLongLong(args[1]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (self->L) {
        aap_loop_tasks_add(self->L, c, a);
    }
    Py_RETURN_NONE;
}

static PyMethodDef loop_methods[] = {
    {"close", (PyCFunction)loop_close, METH_NOARGS,
     "Unregister and free the C state; idempotent."},
    {"stopping", (PyCFunction)loop_stopping, METH_NOARGS,
     "Call from loop.stop(): the loop is about to stop running."},
    {"busy_now", (PyCFunction)loop_busy_now, METH_NOARGS,
     "Loop thread, inside a callback: the busy stretch began now."},
    {"started", (PyCFunction)loop_started, METH_NOARGS,
     "Loop thread: run_forever() starts running the loop."},
    {"bind_thread", (PyCFunction)loop_bind_thread, METH_NOARGS,
     "Loop thread: its uvloop polls and callbacks are this loop's."},
    {"closing_hint", (PyCFunction)loop_closing_hint, METH_NOARGS,
     "Any thread: the loop is shutting down its default executor."},
    {"snapshot", (PyCFunction)loop_snapshot, METH_NOARGS,
     "Current values keyed by metric name."},
    {"blocks", (PyCFunction)loop_blocks, METH_NOARGS,
     "Recent blocking episodes."},
    {"exec_enable", (PyCFunction)(void (*)(void))loop_exec_enable,
     METH_FASTCALL, NULL},
    {"exec_fn", (PyCFunction)(void (*)(void))loop_exec_fn, METH_FASTCALL,
     NULL},
    {"exec_submit", (PyCFunction)loop_exec_submit, METH_O, NULL},
    {"exec_start", (PyCFunction)(void (*)(void))loop_exec_start, METH_FASTCALL,
     NULL},
    {"exec_finish", (PyCFunction)(void (*)(void))loop_exec_finish,
     METH_FASTCALL, NULL},
    {"exec_unstarted", (PyCFunction)(void (*)(void))loop_exec_unstarted,
     METH_FASTCALL, NULL},
    {"tasks_add", (PyCFunction)(void (*)(void))loop_tasks_add, METH_FASTCALL,
     NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef loop_getset[] = {
    {"closed", (getter)loop_get_closed, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot loop_slots[] = {
    {Py_tp_new, loop_new},
    {Py_tp_dealloc, loop_dealloc},
    {Py_tp_methods, loop_methods},
    {Py_tp_getset, loop_getset},
    {Py_tp_doc, "C state of one probed event loop."},
    {0, NULL},
};

PyType_Spec probe_loop_spec = {
    "async_auditor._probe.Loop", sizeof(LoopObject), 0,
    Py_TPFLAGS_DEFAULT,          loop_slots,
};
