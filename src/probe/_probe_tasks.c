/*
 * _probe_tasks.c: TaskFactory and TaskDone count the loop's tasks
 * (created, alive).  The factory composes with a user's own factory; the
 * done callback is a C callable, so no Python frame runs per task.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

/* ---- TaskDone / TaskFactory ---------------------------------------- */

typedef struct {
    HOOK_HEAD;
} DoneObject;

static PyObject *done_call(PyObject *obj, PyObject *args, PyObject *kw)
{
    aap_loop *L = probe_core_loop(((DoneObject *)obj)->core);

    (void)args;
    (void)kw;
    if (L) {
        aap_loop_tasks_add(L, 0, -1);
    }
    Py_RETURN_NONE;
}

static PyObject *done_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    probe_state *st = PyType_GetModuleState(type);
    PyObject *core;
    DoneObject *self;

    (void)kw;
    if (!PyArg_ParseTuple(args, "O!", st->loop_type, &core)) {
        return NULL;
    }
    self = (DoneObject *)type->tp_alloc(type, 0);
    if (self) {
        self->core = (LoopObject *)Py_NewRef(core);
    }
    return (PyObject *)self;
}

static int done_traverse(DoneObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->core);
    return 0;
}

static int done_clear(DoneObject *self)
{
    Py_CLEAR(self->core);
    return 0;
}

static void done_dealloc(DoneObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    done_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot done_slots[] = {
    {Py_tp_new, done_new},           {Py_tp_dealloc, done_dealloc},
    {Py_tp_traverse, done_traverse}, {Py_tp_clear, done_clear},
    {Py_tp_call, done_call},         {0, NULL},
};

PyType_Spec probe_done_spec = {
    "async_auditor._probe.TaskDone",         sizeof(DoneObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, done_slots,
};

typedef struct {
    HOOK_HEAD;
    PyObject *prev;     /* the user's factory, or None */
    PyObject *task_cls; /* asyncio.Task */
    PyObject *done;
} FactoryObject;

static PyObject *factory_call(PyObject *obj, PyObject *args, PyObject *kw)
{
    FactoryObject *self = (FactoryObject *)obj;
    PyObject *task, *r;
    aap_loop *L;

    if (self->prev != Py_None) {
        task = PyObject_Call(self->prev, args, kw);
    } else {
        PyObject *loop, *coro, *kw2;

        if (!PyArg_ParseTuple(args, "OO:task_factory", &loop, &coro)) {
            return NULL;
        }
        kw2 = kw ? PyDict_Copy(kw) : PyDict_New();
        if (!kw2) {
            return NULL;
        }
        if (PyDict_SetItemString(kw2, "loop", loop) < 0) {
            Py_DECREF(kw2);
            return NULL;
        }
        r = PyTuple_Pack(1, coro);
        task = r ? PyObject_Call(self->task_cls, r, kw2) : NULL;
        Py_XDECREF(r);
        Py_DECREF(kw2);
    }
    L = probe_core_loop(self->core);
    if (!task || !L) {
        return task;
    }
    r = PyObject_CallMethod(task, "add_done_callback", "O", self->done);
    if (!r) {
        PyErr_WriteUnraisable(obj);
        aap_loop_tasks_add(L, 1, 0);
    } else {
        aap_loop_tasks_add(L, 1, 1);
        Py_DECREF(r);
    }
    return task;
}

static PyObject *factory_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    probe_state *st = PyType_GetModuleState(type);
    PyObject *core, *prev, *task_cls, *dargs;
    FactoryObject *self;

    (void)kw;
    if (!PyArg_ParseTuple(args, "O!OO", st->loop_type, &core, &prev,
                          &task_cls)) {
        return NULL;
    }
    self = (FactoryObject *)type->tp_alloc(type, 0);
    if (!self) {
        return NULL;
    }
    self->core = (LoopObject *)Py_NewRef(core);
    self->prev = Py_NewRef(prev);
    self->task_cls = Py_NewRef(task_cls);
    dargs = PyTuple_Pack(1, core);
    self->done =
        dargs ? PyObject_Call((PyObject *)st->done_type, dargs, NULL) : NULL;
    Py_XDECREF(dargs);
    if (!self->done) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int factory_traverse(FactoryObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->core);
    Py_VISIT(self->prev);
    Py_VISIT(self->task_cls);
    Py_VISIT(self->done);
    return 0;
}

static int factory_clear(FactoryObject *self)
{
    Py_CLEAR(self->core);
    Py_CLEAR(self->prev);
    Py_CLEAR(self->task_cls);
    Py_CLEAR(self->done);
    return 0;
}

static void factory_dealloc(FactoryObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    factory_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMemberDef factory_members[] = {
    {"prev", T_OBJECT, offsetof(FactoryObject, prev), READONLY, NULL},
    {"done", T_OBJECT, offsetof(FactoryObject, done), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot factory_slots[] = {
    {Py_tp_new, factory_new},
    {Py_tp_dealloc, factory_dealloc},
    {Py_tp_traverse, factory_traverse},
    {Py_tp_clear, factory_clear},
    {Py_tp_call, factory_call},
    {Py_tp_members, factory_members},
    {0, NULL},
};

PyType_Spec probe_factory_spec = {
    "async_auditor._probe.TaskFactory",      sizeof(FactoryObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, factory_slots,
};
