/*
 * _probe_ready.c: the Ready type, a collections.deque whose popleft() is a
 * callback boundary.
 *
 * Why: asyncio runs every callback of an iteration through
 * `handle = self._ready.popleft()` in BaseEventLoop._run_once (3.11 to
 * 3.15), so replacing loop._ready with a deque that notes the time of each
 * popleft gives the start of each callback (and the end of the previous
 * one) for one clock read and a relaxed store (aap_loop_mark): what tells
 * one callback past the threshold (blocking) from many short ones
 * (saturation).  It is a C subclass of the deque, created at module exec
 * with the running interpreter's deque as its base, so len, clear and the
 * rest stay the deque's own C methods; popleft() calls the base's C
 * function directly (no method lookup).  append() (call_soon's, once per
 * callback) is redefined the same way, doing nothing else: the
 * interpreter's specialised call of a C method requires the method's own
 * type to be the object's exact type, so the inherited one would take the
 * generic call path on every call_soon.  An instance holds a reference
 * to its Loop; one that was never attached (a copy) or whose Loop closed
 * is a plain deque.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <stddef.h>

/* The base deque's popleft and append: their C functions when they are
 * METH_NOARGS / METH_O, else their method descriptors (called through the
 * generic API). */
static PyCFunction deque_popleft, deque_append;
static PyObject *deque_popleft_descr, *deque_append_descr;
/* Where a Ready instance keeps its Loop (after the deque's own fields). */
static Py_ssize_t core_offset;

static PyObject **core_slot(PyObject *self)
{
    return (PyObject **)(void *)((char *)self + core_offset);
}

static PyObject *ready_popleft(PyObject *self, PyObject *unused)
{
    LoopObject *core = (LoopObject *)*core_slot(self);

    (void)unused;
    if (core && core->L) {
        aap_loop_mark(core->L, aap_now_ns());
    }
    if (deque_popleft) {
        return deque_popleft(self, NULL);
    }
    return PyObject_CallOneArg(deque_popleft_descr, self);
}

static PyObject *ready_append(PyObject *self, PyObject *item)
{
    if (deque_append) {
        return deque_append(self, item);
    }
    return PyObject_CallFunctionObjArgs(deque_append_descr, self, item, NULL);
}

/* attach(core): this deque's poplefts are core's callback boundaries;
 * attach(None) makes it a plain deque again. */
static PyObject *ready_attach(PyObject *self, PyObject *core)
{
    probe_state *st = PyType_GetModuleState(Py_TYPE(self));

    if (core != Py_None && !PyObject_TypeCheck(core, st->loop_type)) {
        PyErr_SetString(PyExc_TypeError, "attach() takes a Loop or None");
        return NULL;
    }
    Py_XSETREF(*core_slot(self), core == Py_None ? NULL : Py_NewRef(core));
    Py_RETURN_NONE;
}

static int ready_traverse(PyObject *self, visitproc visit, void *arg)
{
    PyTypeObject *base = Py_TYPE(self)->tp_base;

    Py_VISIT(*core_slot(self));
    if (!(base->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        Py_VISIT(Py_TYPE(self)); /* a heap type's traverse visits it */
    }
    return base->tp_traverse ? base->tp_traverse(self, visit, arg) : 0;
}

static int ready_clear(PyObject *self)
{
    PyTypeObject *base = Py_TYPE(self)->tp_base;

    Py_CLEAR(*core_slot(self));
    return base->tp_clear ? base->tp_clear(self) : 0;
}

static void ready_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self), *base = tp->tp_base;

    PyObject_GC_UnTrack(self);
    Py_CLEAR(*core_slot(self));
    base->tp_dealloc(self);
    if (!(base->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        Py_DECREF(tp); /* a heap type's dealloc releases its type itself */
    }
}

static PyMethodDef ready_methods[] = {
    {"popleft", ready_popleft, METH_NOARGS,
     "The deque's popleft(); marks a callback boundary of the loop."},
    {"append", ready_append, METH_O, "The deque's append()."},
    {"attach", ready_attach, METH_O,
     "attach(loop_core or None): whose callbacks these are."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot ready_slots[] = {
    {Py_tp_methods, ready_methods},
    {Py_tp_traverse, ready_traverse},
    {Py_tp_clear, ready_clear},
    {Py_tp_dealloc, ready_dealloc},
    {Py_tp_doc, "A loop's ready queue whose popleft() marks a callback."},
    {0, NULL},
};

static PyType_Spec ready_spec = {
    "async_auditor._probe.Ready",
    0,
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    ready_slots,
};

/* deque.name as a C function of the given flags (*fn, NULL when it is
 * not one) and its descriptor (*descr); 0, or -1 with an exception. */
static int base_method(PyObject *deque, const char *name, int flags,
                       PyCFunction *fn, PyObject **descr)
{
    PyObject *m = PyObject_GetAttrString(deque, name);

    if (!m) {
        return -1;
    }
    *fn = NULL;
    if (Py_IS_TYPE(m, &PyMethodDescr_Type) &&
        ((PyMethodDescrObject *)m)->d_method->ml_flags == flags) {
        *fn = ((PyMethodDescrObject *)m)->d_method->ml_meth;
    }
    Py_XSETREF(*descr, m);
    return 0;
}

/* Find the deque type and its popleft and append; 0, or -1 with an
 * exception. */
static int find_deque(PyObject **deque)
{
    PyObject *mod = PyImport_ImportModule("collections"), *d = NULL;

    if (mod) {
        d = PyObject_GetAttrString(mod, "deque");
        Py_DECREF(mod);
    }
    if (!d) {
        return -1;
    }
    if (!PyType_Check(d) ||
        !(((PyTypeObject *)d)->tp_flags & Py_TPFLAGS_BASETYPE) ||
        !(((PyTypeObject *)d)->tp_flags & Py_TPFLAGS_HAVE_GC) ||
        ((PyTypeObject *)d)->tp_itemsize != 0 ||
        !((PyTypeObject *)d)->tp_dealloc) {
        Py_DECREF(d);
        PyErr_SetString(PyExc_TypeError, "collections.deque is not a "
                                         "subclassable C type here");
        return -1;
    }
    if (base_method(d, "popleft", METH_NOARGS, &deque_popleft,
                    &deque_popleft_descr) < 0 ||
        base_method(d, "append", METH_O, &deque_append, &deque_append_descr) <
            0) {
        Py_DECREF(d);
        return -1;
    }
    *deque = d;
    return 0;
}

int probe_ready_exec(PyObject *m, probe_state *st)
{
    PyObject *deque = NULL, *bases = NULL, *t = NULL;
    Py_ssize_t base_size;
    int rc = -1;

    if (find_deque(&deque) < 0) {
        goto out;
    }
    base_size = ((PyTypeObject *)deque)->tp_basicsize;
    core_offset = (base_size + (Py_ssize_t)sizeof(void *) - 1) /
                  (Py_ssize_t)sizeof(void *) * (Py_ssize_t)sizeof(void *);
    ready_spec.basicsize = (int)(core_offset + (Py_ssize_t)sizeof(void *));
    bases = PyTuple_Pack(1, deque);
    if (!bases) {
        goto out;
    }
    t = PyType_FromModuleAndSpec(m, &ready_spec, bases);
    if (!t || PyModule_AddType(m, (PyTypeObject *)t) < 0) {
        goto out;
    }
    st->ready_type = (PyTypeObject *)Py_NewRef(t);
    rc = 0;
out:
    Py_XDECREF(deque);
    Py_XDECREF(bases);
    Py_XDECREF(t);
    return rc;
}
