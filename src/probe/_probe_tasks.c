/*
 * _probe_tasks.c: TaskFactory counts the loop's tasks (created, alive).
 * The factory composes with a user's own factory.
 *
 * "Alive" means not done, as asyncio.all_tasks() counts.  A done callback
 * per task would say so at once but costs a Handle through call_soon and
 * a pass of the loop per task (~6 k instructions, most of what the probe
 * cost a request).  Instead the factory keeps a weak reference to each
 * new task and sweeps them later: young tasks at every lag-timer tick and
 * whenever PROBE_TASKS_YOUNG of them have gathered, tasks still pending
 * then (long-lived ones) once a second or when their number has doubled.
 * A sweep asks each task done(); a task already freed is done too.  So
 * python_asyncio_tasks trails the truth by at most a tick for short tasks
 * and a second for long ones; snapshot() sweeps everything first.  Weak
 * references keep asyncio's semantics: a pending task nobody holds is
 * still destroyed ("Task was destroyed but it is pending!").
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <string.h>

#define PROBE_TASKS_YOUNG 64
#define PROBE_TASKS_OLD_NS 1000000000ull

typedef struct {
    HOOK_HEAD;
    PyObject *prev;     /* the user's factory, or None */
    PyObject *task_cls; /* asyncio.Task */
    PyObject *kw_loop;  /* ("loop",): the keyword names of task_cls's call */
    PyObject *s_done;   /* "done", interned */
    vectorcallfunc vectorcall;
    PyObject *young[PROBE_TASKS_YOUNG]; /* weak references */
    size_t nyoung;
    PyObject **old; /* weak references to tasks that outlived a sweep */
    size_t nold, capold;
    size_t old_swept;     /* nold after the last sweep of old */
    uint64_t old_next_ns; /* when old is due again */
    int sweeping;
} FactoryObject;

/* 1 when the task behind weak reference w is done or gone, 0 when it is
 * pending; never raises (a failing done() counts as done). */
static int task_finished(FactoryObject *self, PyObject *w)
{
    PyObject *task, *r;
    int done;

#if PY_VERSION_HEX >= 0x030D0000
    if (PyWeakref_GetRef(w, &task) <= 0) {
        PyErr_Clear();
        return 1;
    }
#else
    task = PyWeakref_GetObject(w);
    if (task == Py_None) {
        return 1;
    }
    Py_INCREF(task);
#endif
    r = PyObject_CallMethodNoArgs(task, self->s_done);
    done = r ? PyObject_IsTrue(r) : -1;
    Py_XDECREF(r);
    Py_DECREF(task);
    if (done < 0) {
        PyErr_WriteUnraisable(w);
        return 1;
    }
    return done;
}

/* Keep weak reference w among the old (stolen); on out-of-memory it is
 * dropped and counted as done, so the gauge may undercount but never
 * grows without bound. */
static int keep_old(FactoryObject *self, PyObject *w)
{
    if (self->nold == self->capold) {
        size_t cap = self->capold ? 2 * self->capold : 64;
        PyObject **p = PyMem_Realloc(self->old, cap * sizeof(*p));

        if (!p) {
            Py_DECREF(w);
            return 1;
        }
        self->old = p;
        self->capold = cap;
    }
    self->old[self->nold++] = w;
    return 0;
}

/* Sweep the young (always) and the old (when due at now, or all=1);
 * the finished ones leave the alive count.  GIL held; never raises.  A
 * task's done() may run Python code, which may create tasks or let
 * another thread in: so the young are taken out first, and a sweep that
 * starts while one runs does nothing. */
static void tasks_sweep(FactoryObject *self, uint64_t now, int all)
{
    PyObject *young[PROBE_TASKS_YOUNG];
    aap_loop *L;
    size_t i, n = self->nyoung, kept = 0;
    int64_t finished = 0;

    if (self->sweeping) {
        return;
    }
    /* done() may close the probe, which drops the factory: keep it */
    Py_INCREF(self);
    self->sweeping = 1;
    memcpy(young, self->young, n * sizeof(young[0]));
    self->nyoung = 0;
    for (i = 0; i < n; i++) {
        if (task_finished(self, young[i])) {
            Py_DECREF(young[i]);
            finished++;
        } else {
            finished += keep_old(self, young[i]);
        }
    }
    if (all || now >= self->old_next_ns ||
        self->nold > 2 * self->old_swept + PROBE_TASKS_YOUNG) {
        /* self->old and self->nold are read again each time: nothing
         * else appends while sweeping is set, but stay safe if it did */
        for (i = 0; i < self->nold; i++) {
            PyObject *w = self->old[i];

            if (task_finished(self, w)) {
                Py_DECREF(w);
                finished++;
            } else {
                self->old[kept++] = w;
            }
        }
        self->nold = self->old_swept = kept;
        self->old_next_ns = now + PROBE_TASKS_OLD_NS;
    }
    self->sweeping = 0;
    L = probe_core_loop(self->core);
    if (L && finished) {
        aap_loop_tasks_add(L, 0, -finished);
    }
    Py_DECREF(self);
}

/* Count task (new, or found at install) as created and/or alive and
 * track it.  A task that takes no weak reference (or that arrives while
 * a sweep runs and the young are full) is counted created but not
 * alive. */
static void tasks_track(FactoryObject *self, PyObject *task, int created)
{
    aap_loop *L = probe_core_loop(self->core);
    PyObject *w;

    if (!L) {
        return;
    }
    if (self->nyoung == PROBE_TASKS_YOUNG) {
        tasks_sweep(self, aap_now_ns(), 0);
    }
    /* still full: a sweep is running (see tasks_sweep) */
    w = self->nyoung < PROBE_TASKS_YOUNG ? PyWeakref_NewRef(task, NULL) : NULL;
    if (!w) {
        PyErr_Clear();
        aap_loop_tasks_add(L, created, 0);
        return;
    }
    self->young[self->nyoung++] = w;
    aap_loop_tasks_add(L, created, 1);
}

void probe_tasks_tick(PyObject *factory, uint64_t now)
{
    FactoryObject *self = (FactoryObject *)factory;

    if (self->nyoung || now >= self->old_next_ns) {
        tasks_sweep(self, now, 0);
    }
}

/* factory(loop, coro, **kw): the task, made by the user's factory or by
 * asyncio.Task(coro, loop=loop, **kw), counted.  Vectorcall, so the
 * loop's create_task builds no argument tuple for it. */
static PyObject *factory_vectorcall(PyObject *obj, PyObject *const *args,
                                    size_t nargsf, PyObject *kwnames)
{
    FactoryObject *self = (FactoryObject *)obj;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *task;

    if (self->prev != Py_None) {
        task = PyObject_Vectorcall(self->prev, args, nargsf, kwnames);
    } else if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "task_factory takes (loop, coro), got %zd arguments",
                     nargs);
        return NULL;
    } else if (!kwnames || PyTuple_GET_SIZE(kwnames) == 0) {
        PyObject *a[2] = {args[1], args[0]}; /* coro, loop=loop */

        task = PyObject_Vectorcall(self->task_cls, a, 1, self->kw_loop);
    } else {
        Py_ssize_t i, nkw = PyTuple_GET_SIZE(kwnames);
        PyObject *kw = PyDict_New(), *pos = PyTuple_Pack(1, args[1]);

        task = NULL;
        if (kw && pos && PyDict_SetItemString(kw, "loop", args[0]) == 0) {
            for (i = 0; i < nkw; i++) {
                if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i),
                                   args[nargs + i]) < 0) {
                    goto out;
                }
            }
            task = PyObject_Call(self->task_cls, pos, kw);
        }
    out:
        Py_XDECREF(kw);
        Py_XDECREF(pos);
    }
    if (task) {
        tasks_track(self, task, 1);
    }
    return task;
}

static PyObject *factory_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    probe_state *st = PyType_GetModuleState(type);
    PyObject *core, *prev, *task_cls;
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
    self->vectorcall = factory_vectorcall;
    self->core = (LoopObject *)Py_NewRef(core);
    self->prev = Py_NewRef(prev);
    self->task_cls = Py_NewRef(task_cls);
    self->kw_loop = Py_BuildValue("(s)", "loop");
    self->s_done = PyUnicode_InternFromString("done");
    if (!self->kw_loop || !self->s_done) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* track(task): count a task that existed before the factory (install). */
static PyObject *factory_track(FactoryObject *self, PyObject *task)
{
    tasks_track(self, task, 0);
    Py_RETURN_NONE;
}

/* sweep(): settle the alive count now (snapshot() calls it first). */
static PyObject *factory_sweep(FactoryObject *self, PyObject *unused)
{
    (void)unused;
    tasks_sweep(self, aap_now_ns(), 1);
    Py_RETURN_NONE;
}

static int factory_traverse(FactoryObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->core);
    Py_VISIT(self->prev);
    Py_VISIT(self->task_cls);
    return 0;
}

static void drop_refs(FactoryObject *self)
{
    size_t i;

    for (i = 0; i < self->nyoung; i++) {
        Py_CLEAR(self->young[i]);
    }
    for (i = 0; i < self->nold; i++) {
        Py_CLEAR(self->old[i]);
    }
    self->nyoung = self->nold = self->old_swept = 0;
}

static int factory_clear(FactoryObject *self)
{
    Py_CLEAR(self->core);
    Py_CLEAR(self->prev);
    Py_CLEAR(self->task_cls);
    Py_CLEAR(self->kw_loop);
    Py_CLEAR(self->s_done);
    drop_refs(self);
    return 0;
}

static void factory_dealloc(FactoryObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    factory_clear(self);
    PyMem_Free(self->old);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *factory_get_tracked(FactoryObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(self->nyoung + self->nold);
}

static PyMemberDef factory_members[] = {
    {"prev", T_OBJECT, offsetof(FactoryObject, prev), READONLY, NULL},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(FactoryObject, vectorcall),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef factory_getset[] = {
    {"tracked", (getter)factory_get_tracked, NULL,
     "tasks held by weak reference until a sweep finds them done", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef factory_methods[] = {
    {"track", (PyCFunction)factory_track, METH_O, NULL},
    {"sweep", (PyCFunction)factory_sweep, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot factory_slots[] = {
    {Py_tp_new, factory_new},
    {Py_tp_dealloc, factory_dealloc},
    {Py_tp_traverse, factory_traverse},
    {Py_tp_clear, factory_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_members, factory_members},
    {Py_tp_getset, factory_getset},
    {Py_tp_methods, factory_methods},
    {0, NULL},
};

PyType_Spec probe_factory_spec = {
    "async_auditor._probe.TaskFactory",
    sizeof(FactoryObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
#ifdef Py_TPFLAGS_IMMUTABLETYPE
        | Py_TPFLAGS_IMMUTABLETYPE
#endif
    ,
    factory_slots,
};
