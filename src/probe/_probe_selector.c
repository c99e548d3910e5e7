/*
 * _probe_selector.c: the Selector type that wraps loop._selector.
 * Entering select() ends the busy stretch of the iteration (and samples
 * len(loop._ready), the backlog); its return starts the next stretch.  One
 * C call and two clock reads per iteration, no Python frames.  For the
 * stdlib's EpollSelector the select itself is done in C, since calling
 * the Python method from C would cost a fresh interpreter frame per
 * iteration.
 *
 * It also drives the lag timer (_probe_lagtimer.c): a tick due before or
 * after the wait runs there, and the wait is capped at the next one.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <math.h>

/* ---- Selector ------------------------------------------------------- */

typedef struct {
    HOOK_HEAD;
    PyObject *inner;
    PyObject *inner_select;
    PyObject *on_close;
    PyObject *ready; /* loop._ready, or NULL */
    PyObject *timer; /* the LagTimer this select() drives, or NULL */
    uintptr_t tstate;
    /* fast path for selectors.EpollSelector (else NULL): */
    PyObject *fd_to_key; /* inner._fd_to_key */
    PyObject *poll;      /* inner._selector.poll */
    PyObject *events;    /* "events", the SelectorKey field read per fd */
    long epollin, epollout, ev_read, ev_write;
} SelectorObject;

static long module_long(const char *mod, const char *name, long dflt)
{
    PyObject *m = PyImport_ImportModule(mod), *v;
    long r = dflt;

    if (!m) {
        PyErr_Clear();
        return dflt;
    }
    v = PyObject_GetAttrString(m, name);
    if (v && PyLong_Check(v)) {
        r = PyLong_AsLong(v);
    }
    if (!v || PyErr_Occurred()) {
        PyErr_Clear();
    }
    Py_XDECREF(v);
    Py_DECREF(m);
    return r;
}

/* Enable the EpollSelector fast path if inner is exactly that class. */
static void selector_fast_init(SelectorObject *self)
{
    PyObject *mod = PyImport_ImportModule("selectors"), *cls = NULL;
    PyObject *fd_to_key = NULL, *ep = NULL, *poll = NULL;

    if (mod) {
        cls = PyObject_GetAttrString(mod, "EpollSelector");
    }
    if (!cls || (PyObject *)Py_TYPE(self->inner) != cls) {
        goto out;
    }
    fd_to_key = PyObject_GetAttrString(self->inner, "_fd_to_key");
    ep = PyObject_GetAttrString(self->inner, "_selector");
    poll = ep ? PyObject_GetAttrString(ep, "poll") : NULL;
    if (!fd_to_key || !PyDict_CheckExact(fd_to_key) || !poll) {
        goto out;
    }
    self->epollin = module_long("select", "EPOLLIN", -1);
    self->epollout = module_long("select", "EPOLLOUT", -1);
    self->ev_read = module_long("selectors", "EVENT_READ", -1);
    self->ev_write = module_long("selectors", "EVENT_WRITE", -1);
    if (self->epollin < 0 || self->epollout < 0 || self->ev_read < 0 ||
        self->ev_write < 0) {
        goto out;
    }
    self->events = PyUnicode_InternFromString("events");
    if (!self->events) {
        goto out;
    }
    self->fd_to_key = Py_NewRef(fd_to_key);
    self->poll = Py_NewRef(poll);
out:
    PyErr_Clear();
    Py_XDECREF(mod);
    Py_XDECREF(cls);
    Py_XDECREF(fd_to_key);
    Py_XDECREF(ep);
    Py_XDECREF(poll);
}

/* A select() timeout (seconds, negative: none) capped at cap seconds
 * (negative: no cap), rounded up to whole milliseconds as epoll does. */
static double cap_timeout(double timeout, double cap)
{
    if (cap >= 0 && (timeout < 0 || timeout > cap)) {
        return ceil(cap * 1e3) * 1e-3;
    }
    return timeout;
}

/*
 * selectors.EpollSelector.select() (CPython 3.9-3.13, unchanged), in C:
 * calling the Python method from C would cost a fresh interpreter frame
 * entry per iteration.  Same timeout rounding, same max_events, same
 * event mapping, same handling of EINTR.  The wait is capped at cap
 * seconds (negative: no cap).
 */
static PyObject *selector_fast_select(SelectorObject *self, PyObject *tobj,
                                      double cap)
{
    PyObject *args[2], *list, *ready;
    Py_ssize_t nkeys, i, n;
    double timeout;

    if (tobj == NULL || tobj == Py_None) {
        timeout = -1;
    } else {
        double t = PyFloat_AsDouble(tobj);

        if (t == -1 && PyErr_Occurred()) {
            return NULL;
        }
        timeout = t <= 0 ? 0 : ceil(t * 1e3) * 1e-3;
    }
    timeout = cap_timeout(timeout, cap);
    nkeys = PyDict_GET_SIZE(self->fd_to_key);
    args[0] = PyFloat_FromDouble(timeout);
    args[1] = PyLong_FromSsize_t(nkeys > 1 ? nkeys : 1);
    if (!args[0] || !args[1]) {
        Py_XDECREF(args[0]);
        Py_XDECREF(args[1]);
        return NULL;
    }
    list = PyObject_Vectorcall(self->poll, args, 2, NULL);
    Py_DECREF(args[0]);
    Py_DECREF(args[1]);
    if (!list) {
        if (PyErr_ExceptionMatches(PyExc_InterruptedError)) {
            PyErr_Clear();
            return PyList_New(0);
        }
        return NULL;
    }
    ready = PyList_New(0);
    n = PyList_Check(list) ? PyList_GET_SIZE(list) : 0;
    for (i = 0; ready && i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i), *key, *kev, *pair;
        long event, events = 0, kevents;

        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            continue;
        }
        event = PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
        if (event == -1 && PyErr_Occurred()) {
            Py_CLEAR(ready);
            break;
        }
        if (event & ~self->epollin) {
            events |= self->ev_write;
        }
        if (event & ~self->epollout) {
            events |= self->ev_read;
        }
        key = PyDict_GetItemWithError(self->fd_to_key,
                                      PyTuple_GET_ITEM(item, 0));
        if (!key) {
            if (PyErr_Occurred()) {
                Py_CLEAR(ready);
            }
            continue;
        }
        kev = PyObject_GetAttr(key, self->events);
        kevents = kev ? PyLong_AsLong(kev) : -1;
        Py_XDECREF(kev);
        if (kevents == -1 && PyErr_Occurred()) {
            Py_CLEAR(ready);
            break;
        }
        pair = Py_BuildValue("(Ol)", key, events & kevents);
        if (!pair || PyList_Append(ready, pair) < 0) {
            Py_XDECREF(pair);
            Py_CLEAR(ready);
            break;
        }
        Py_DECREF(pair);
    }
    Py_DECREF(list);
    return ready;
}

static PyObject *selector_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    PyObject *core, *inner, *on_close = Py_None, *ready = Py_None;
    SelectorObject *self;
    probe_state *st = PyType_GetModuleState(type);

    if (kw && PyDict_GET_SIZE(kw)) {
        PyErr_SetString(PyExc_TypeError, "Selector takes no keywords");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!O|OO", st->loop_type, &core, &inner,
                          &on_close, &ready)) {
        return NULL;
    }
    self = (SelectorObject *)type->tp_alloc(type, 0);
    if (!self) {
        return NULL;
    }
    self->core = (LoopObject *)Py_NewRef(core);
    self->inner = Py_NewRef(inner);
    self->on_close = Py_NewRef(on_close);
    self->ready = ready == Py_None ? NULL : Py_NewRef(ready);
    self->inner_select = PyObject_GetAttrString(inner, "select");
    if (!self->inner_select) {
        Py_DECREF(self);
        return NULL;
    }
    selector_fast_init(self);
    return (PyObject *)self;
}

static int selector_traverse(SelectorObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->core);
    Py_VISIT(self->inner);
    Py_VISIT(self->inner_select);
    Py_VISIT(self->on_close);
    Py_VISIT(self->ready);
    Py_VISIT(self->timer);
    Py_VISIT(self->fd_to_key);
    Py_VISIT(self->poll);
    return 0;
}

static int selector_clear(SelectorObject *self)
{
    Py_CLEAR(self->core);
    Py_CLEAR(self->inner);
    Py_CLEAR(self->inner_select);
    Py_CLEAR(self->on_close);
    Py_CLEAR(self->ready);
    Py_CLEAR(self->timer);
    Py_CLEAR(self->fd_to_key);
    Py_CLEAR(self->poll);
    Py_CLEAR(self->events);
    return 0;
}

static void selector_dealloc(SelectorObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    selector_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* The inner selector's select(), its wait capped at cap seconds
 * (negative: no cap) when it is called as select() or select(timeout). */
static PyObject *selector_call_inner(SelectorObject *self,
                                     PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames, double cap)
{
    PyObject *targ, *r;
    double t = -1;

    if (self->poll && !kwnames && nargs <= 1) {
        return selector_fast_select(self, nargs ? args[0] : NULL, cap);
    }
    if (cap < 0 || kwnames || nargs > 1) {
        return PyObject_Vectorcall(self->inner_select, args, (size_t)nargs,
                                   kwnames);
    }
    if (nargs && args[0] != Py_None) {
        t = PyFloat_AsDouble(args[0]);
        if (t == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (t <= cap) {
            return PyObject_Vectorcall(self->inner_select, args, 1, NULL);
        }
    }
    targ = PyFloat_FromDouble(cap_timeout(t, cap));
    if (!targ) {
        return NULL;
    }
    r = PyObject_Vectorcall(self->inner_select, &targ, 1, NULL);
    Py_DECREF(targ);
    return r;
}

/* The timeout select() was called with, in ns (negative: none); 0 when
 * it cannot be read (then the wait is never capped). */
static int64_t timeout_ns_of(PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    double t;

    if (kwnames || nargs > 1) {
        return 0;
    }
    if (nargs == 0 || args[0] == Py_None) {
        return -1;
    }
    t = PyFloat_AsDouble(args[0]);
    if (t == -1 && PyErr_Occurred()) {
        PyErr_Clear(); /* select() itself will say what is wrong */
        return 0;
    }
    if (!(t > 0)) {
        return 0;
    }
    return t >= 1e9 ? INT64_MAX / 2 : (int64_t)(t * 1e9);
}

/* Entering select() ends the busy stretch of this iteration (and samples
 * the ready queue); its return starts the next one.  The driven lag timer
 * (_probe_lagtimer.c) hears of both and may shorten the wait.  It is
 * held while it runs: a tick may run Python code (the task sweep),
 * during which another thread may close the probe and drop self->timer. */
static PyObject *selector_select(SelectorObject *self, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames)
{
    aap_loop *L = probe_core_loop(self->core);
    uint64_t now = aap_now_ns();
    PyObject *r, *timer = Py_XNewRef(self->timer);
    double cap = -1;

    if (timer) {
        int64_t asked = timeout_ns_of(args, nargs, kwnames);
        int64_t t = probe_lagtimer_wait(timer, now, asked);

        if (t != asked && t >= 0) {
            cap = (double)t / 1e9;
        }
    }
    if (L) {
        Py_ssize_t n = 0;

        if (self->ready) {
            n = PyObject_Length(self->ready);
            if (n < 0) {
                PyErr_Clear();
                n = 0;
            }
        }
        probe_track_tstate(L, &self->tstate);
        aap_loop_select_enter(L, now, n);
    }
    r = selector_call_inner(self, args, nargs, kwnames, cap);
    if (r) {
        L = probe_core_loop(self->core);
        now = aap_now_ns();
        if (L) {
            aap_loop_busy_begin(L, now);
        }
        if (timer) {
            /* no event: the wait ran to its timeout */
            probe_lagtimer_woke(timer, now,
                                PyList_Check(r) && PyList_GET_SIZE(r) == 0);
        }
    }
    Py_XDECREF(timer);
    return r;
}

/* drive(timer): make select() drive the LagTimer timer (not started yet,
 * not a heartbeat); drive(None) stops driving. */
static PyObject *selector_drive(SelectorObject *self, PyObject *timer)
{
    probe_state *st = PyType_GetModuleState(Py_TYPE(self));

    if (timer == Py_None) {
        Py_CLEAR(self->timer);
        Py_RETURN_NONE;
    }
    if (!Py_IS_TYPE(timer, st->lagtimer_type)) {
        PyErr_SetString(PyExc_TypeError, "drive takes a LagTimer or None");
        return NULL;
    }
    if (probe_lagtimer_drive(timer) < 0) {
        return NULL;
    }
    Py_XSETREF(self->timer, Py_NewRef(timer));
    Py_RETURN_NONE;
}

static PyObject *selector_close(SelectorObject *self, PyObject *unused)
{
    PyObject *r;

    (void)unused;
    r = PyObject_CallMethod(self->inner, "close", NULL);
    if (r && self->on_close && self->on_close != Py_None) {
        PyObject *c = PyObject_CallNoArgs(self->on_close);

        if (!c) {
            PyErr_WriteUnraisable(self->on_close);
        }
        Py_XDECREF(c);
    }
    return r;
}

/* The rest of the selector API, forwarded.  The type keeps the generic
 * attribute lookup (no __getattr__ fallback) so that the hot call
 * loop._selector.select(t) takes CPython's method-call fast path. */
static PyObject *selector_forward(SelectorObject *self, const char *name,
                                  PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    PyObject *m = PyObject_GetAttrString(self->inner, name), *r;

    if (!m) {
        return NULL;
    }
    r = PyObject_Vectorcall(m, args, (size_t)nargs, kwnames);
    Py_DECREF(m);
    return r;
}

#define SELECTOR_FORWARD(NAME)                                                \
    static PyObject *selector_##NAME(SelectorObject *self,                    \
                                     PyObject *const *args, Py_ssize_t nargs, \
                                     PyObject *kwnames)                       \
    {                                                                         \
        return selector_forward(self, #NAME, args, nargs, kwnames);           \
    }

SELECTOR_FORWARD(register)
SELECTOR_FORWARD(unregister)
SELECTOR_FORWARD(modify)
SELECTOR_FORWARD(get_key)
SELECTOR_FORWARD(get_map)

static PyObject *selector_enter(SelectorObject *self, PyObject *unused)
{
    (void)unused;
    return Py_NewRef(self);
}

static PyObject *selector_exit(SelectorObject *self, PyObject *args)
{
    PyObject *r;

    (void)args;
    r = selector_close(self, NULL);
    if (!r) {
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

#define FWD_METHOD(NAME)                                                      \
    {                                                                         \
#NAME, (PyCFunction)(void (*)(void))selector_##NAME,                  \
            METH_FASTCALL | METH_KEYWORDS,                                    \
            "Forwarded to the wrapped selector."                              \
    }

static PyMethodDef selector_methods[] = {
    {"select", (PyCFunction)(void (*)(void))selector_select,
     METH_FASTCALL | METH_KEYWORDS, "Forwarded; marks the loop busy."},
    {"close", (PyCFunction)selector_close, METH_NOARGS,
     "Forwarded; tells the probe the loop is closing."},
    {"drive", (PyCFunction)selector_drive, METH_O,
     "drive(timer): select() ticks this LagTimer and wakes for it."},
    FWD_METHOD(register),
    FWD_METHOD(unregister),
    FWD_METHOD(modify),
    FWD_METHOD(get_key),
    FWD_METHOD(get_map),
    {"__enter__", (PyCFunction)selector_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)selector_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef selector_members[] = {
    {"inner", T_OBJECT, offsetof(SelectorObject, inner), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot selector_slots[] = {
    {Py_tp_new, selector_new},
    {Py_tp_dealloc, selector_dealloc},
    {Py_tp_traverse, selector_traverse},
    {Py_tp_clear, selector_clear},
    {Py_tp_methods, selector_methods},
    {Py_tp_members, selector_members},
    {0, NULL},
};

PyType_Spec probe_selector_spec = {
    "async_auditor._probe.Selector",         sizeof(SelectorObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, selector_slots,
};
