/*
 * _probe_lagtimer.c: the LagTimer type, the probe's periodic loop timer.
 * It measures how late it runs (loop lag) and, on loops without a
 * selector to wrap (uvloop), is the heartbeat that tells busy from idle.
 *
 * On asyncio's own loops the TimerHandle that just ran is pushed back
 * onto the loop's timer heap with its next due time, as call_at would
 * push a new one: call_later, call_at and the handle's construction are
 * most of what a tick costs (docs/benchmarks.md, benchmark 9), and every
 * worker pays for 100 ticks a second.  Any other loop (uvloop, a loop in
 * debug mode, a subclass's handle) gets call_later.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

/* ---- LagTimer ------------------------------------------------------- */

typedef struct {
    HOOK_HEAD;
    PyObject *loop;
    PyObject *handle;
    PyObject *interval;
    PyObject *tasks;    /* the loop's TaskFactory, swept each tick, or NULL */
    PyObject *heappush; /* heapq.heappush when handles are reused */
    int reuse;          /* -1: not known yet, 0: call_later, 1: reuse */
    int mono;           /* the loop's time() is BaseEventLoop's: monotonic */
    uint64_t due;
    uint64_t interval_ns;
    int heartbeat;
    int waiting_start; /* scheduled with call_soon until the loop runs */
    uintptr_t tstate;
} LagTimerObject;

/* Whether the handle call_later gave can be pushed again (see the top):
 * exactly asyncio's TimerHandle, on a BaseEventLoop whose timers are the
 * list _scheduled, not in debug mode.  Decided once; errors mean no. */
static int reuse_possible(LagTimerObject *self, PyObject *h)
{
    PyObject *events = NULL, *base = NULL, *th = NULL, *bel = NULL;
    PyObject *sched = NULL, *heapq = NULL, *dbg = NULL;
    int ok = 0;

    events = PyImport_ImportModule("asyncio.events");
    base = events ? PyImport_ImportModule("asyncio.base_events") : NULL;
    th = base ? PyObject_GetAttrString(events, "TimerHandle") : NULL;
    bel = th ? PyObject_GetAttrString(base, "BaseEventLoop") : NULL;
    if (!bel || (PyObject *)Py_TYPE(h) != th ||
        PyObject_IsInstance(self->loop, bel) != 1) {
        goto out;
    }
    sched = PyObject_GetAttrString(self->loop, "_scheduled");
    dbg = sched ? PyObject_CallMethod(self->loop, "get_debug", NULL) : NULL;
    if (!dbg || !PyList_CheckExact(sched) || PyObject_IsTrue(dbg) != 0 ||
        !PyObject_HasAttrString(h, "_when") ||
        !PyObject_HasAttrString(h, "_scheduled")) {
        goto out;
    }
    {
        PyObject *mine =
            PyObject_GetAttrString((PyObject *)Py_TYPE(self->loop), "time");
        PyObject *theirs = PyObject_GetAttrString(bel, "time");

        /* time.monotonic() is CLOCK_MONOTONIC, as aap_now_ns() */
        self->mono = mine && mine == theirs;
        Py_XDECREF(mine);
        Py_XDECREF(theirs);
    }
    heapq = PyImport_ImportModule("heapq");
    self->heappush = heapq ? PyObject_GetAttrString(heapq, "heappush") : NULL;
    ok = self->heappush != NULL;
out:
    PyErr_Clear();
    Py_XDECREF(events);
    Py_XDECREF(base);
    Py_XDECREF(th);
    Py_XDECREF(bel);
    Py_XDECREF(sched);
    Py_XDECREF(heapq);
    Py_XDECREF(dbg);
    return ok;
}

/* Push the handle that just ran (h) back onto the loop's timer heap, due
 * one interval from the loop's time(), as call_at does; 0, or -1 with the
 * error cleared (then call_later is tried, which reports a closed loop). */
static int lagtimer_repush(LagTimerObject *self, PyObject *h)
{
    PyObject *flag, *t = NULL, *when = NULL, *sched = NULL, *r = NULL;
    int rc = -1, busy;

    /* still on the heap (run by someone else than the loop): not twice */
    flag = PyObject_GetAttrString(h, "_scheduled");
    busy = flag ? PyObject_IsTrue(flag) : -1;
    Py_XDECREF(flag);
    if (busy != 0) {
        goto out;
    }
    flag = PyObject_GetAttrString(self->loop, "_closed");
    busy = flag ? PyObject_IsTrue(flag) : -1;
    Py_XDECREF(flag);
    if (busy != 0) {
        goto out;
    }
    if (self->mono) {
        when = PyFloat_FromDouble((double)aap_now_ns() / 1e9 +
                                  (double)self->interval_ns / 1e9);
    } else {
        t = PyObject_CallMethod(self->loop, "time", NULL);
        when = t ? PyNumber_Add(t, self->interval) : NULL;
        Py_XDECREF(t);
    }
    sched = when ? PyObject_GetAttrString(self->loop, "_scheduled") : NULL;
    if (!sched || !PyList_CheckExact(sched) ||
        PyObject_SetAttrString(h, "_when", when) < 0) {
        goto out;
    }
    r = PyObject_CallFunctionObjArgs(self->heappush, sched, h, NULL);
    if (!r || PyObject_SetAttrString(h, "_scheduled", Py_True) < 0) {
        goto out;
    }
    rc = 0;
out:
    if (rc < 0) {
        PyErr_Clear();
    }
    Py_XDECREF(when);
    Py_XDECREF(sched);
    Py_XDECREF(r);
    return rc;
}

/* Schedule the next run, due at due, reusing fired (the handle that just
 * ran, or NULL; a new reference, consumed) where that is possible; 0, or
 * -1 with the error cleared (loop closed: the timer stops, and in
 * heartbeat mode the loop stops looking busy). */
static int lagtimer_schedule(LagTimerObject *self, aap_loop *L, uint64_t due,
                             PyObject *fired)
{
    PyObject *h;

    if (fired && self->reuse == 1 && lagtimer_repush(self, fired) == 0) {
        Py_XSETREF(self->handle, fired);
        self->due = due;
        return 0;
    }
    Py_XDECREF(fired);
    h = PyObject_CallMethod(self->loop, "call_later", "OO", self->interval,
                            (PyObject *)self);
    if (!h) {
        PyErr_Clear();
        Py_CLEAR(self->handle);
        if (self->heartbeat) {
            aap_loop_busy_begin(L, 0);
        }
        return -1;
    }
    if (self->reuse < 0) {
        self->reuse = reuse_possible(self, h);
    }
    Py_XSETREF(self->handle, h);
    self->due = due;
    return 0;
}

/* First arming at now (later ones follow aap_loop_lag_tick, which does
 * this bookkeeping itself); 0, or -1 as lagtimer_schedule or when the
 * loop is gone. */
static int lagtimer_arm(LagTimerObject *self, uint64_t now)
{
    aap_loop *L = probe_core_loop(self->core);
    uint64_t due = now + self->interval_ns;

    if (!L || lagtimer_schedule(self, L, due, NULL) < 0) {
        return -1;
    }
    aap_loop_lag_armed(L, now);
    if (self->heartbeat) {
        aap_loop_busy_begin(L, due);
    }
    return 0;
}

static PyObject *lagtimer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    probe_state *st = PyType_GetModuleState(type);
    PyObject *core, *loop;
    double interval;
    int heartbeat = 0;
    LagTimerObject *self;

    if (kw && PyDict_GET_SIZE(kw)) {
        PyErr_SetString(PyExc_TypeError, "LagTimer takes no keywords");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!Od|p", st->loop_type, &core, &loop,
                          &interval, &heartbeat)) {
        return NULL;
    }
    self = (LagTimerObject *)type->tp_alloc(type, 0);
    if (!self) {
        return NULL;
    }
    self->core = (LoopObject *)Py_NewRef(core);
    self->loop = Py_NewRef(loop);
    self->heartbeat = heartbeat;
    self->reuse = -1;
    self->interval_ns = (uint64_t)(interval * 1e9);
    self->interval = PyFloat_FromDouble(interval);
    if (!self->interval) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/*
 * Start timing.  On a loop that is not running yet (install() before
 * run_until_complete/run_forever) the first call_later would fall due
 * while nothing runs: that wait would be reported as lag and, in heartbeat
 * mode, as a block.  So the timer is first scheduled with call_soon and
 * armed for real when the loop runs it.
 */
static PyObject *lagtimer_start(LagTimerObject *self, PyObject *unused)
{
    PyObject *running;
    int is_running;

    (void)unused;
    running = PyObject_CallMethod(self->loop, "is_running", NULL);
    is_running = running ? PyObject_IsTrue(running) : -1;
    Py_XDECREF(running);
    if (is_running < 0) {
        return NULL;
    }
    if (!is_running) {
        PyObject *h = PyObject_CallMethod(self->loop, "call_soon", "O",
                                          (PyObject *)self);

        if (!h) {
            return NULL;
        }
        Py_XSETREF(self->handle, h);
        self->waiting_start = 1;
        Py_RETURN_NONE;
    }
    if (lagtimer_arm(self, aap_now_ns()) < 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot schedule the lag timer on this loop");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *lagtimer_stop(LagTimerObject *self, PyObject *unused)
{
    (void)unused;
    if (self->handle) {
        PyObject *r = PyObject_CallMethod(self->handle, "cancel", NULL);

        if (!r) {
            PyErr_Clear();
        }
        Py_XDECREF(r);
        Py_CLEAR(self->handle);
    }
    Py_RETURN_NONE;
}

static PyObject *lagtimer_call(PyObject *obj, PyObject *args, PyObject *kw)
{
    LagTimerObject *self = (LagTimerObject *)obj;
    uint64_t now = aap_now_ns();
    aap_loop *L = probe_core_loop(self->core);
    PyObject *fired = self->handle; /* the handle running this call */

    (void)args;
    (void)kw;
    self->handle = NULL;
    if (L) {
        probe_track_tstate(L, &self->tstate);
        if (self->waiting_start) {
            self->waiting_start = 0; /* the loop runs: nothing was late */
            Py_XDECREF(fired);
            lagtimer_arm(self, now);
        } else {
            lagtimer_schedule(self, L, aap_loop_lag_tick(L, self->due, now),
                              fired);
        }
        if (self->tasks) {
            probe_tasks_tick(self->tasks, now);
        }
    } else {
        Py_XDECREF(fired);
    }
    Py_RETURN_NONE;
}

static int lagtimer_traverse(LagTimerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->core);
    Py_VISIT(self->loop);
    Py_VISIT(self->handle);
    Py_VISIT(self->tasks);
    Py_VISIT(self->heappush);
    return 0;
}

static int lagtimer_clear(LagTimerObject *self)
{
    Py_CLEAR(self->core);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->handle);
    Py_CLEAR(self->interval);
    Py_CLEAR(self->tasks);
    Py_CLEAR(self->heappush);
    return 0;
}

static void lagtimer_dealloc(LagTimerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    lagtimer_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* sweep_tasks(factory): sweep the factory's tasks at every tick (None:
 * stop). */
static PyObject *lagtimer_sweep_tasks(LagTimerObject *self, PyObject *factory)
{
    probe_state *st = PyType_GetModuleState(Py_TYPE(self));

    if (factory != Py_None && !Py_IS_TYPE(factory, st->factory_type)) {
        PyErr_SetString(PyExc_TypeError, "sweep_tasks takes a TaskFactory");
        return NULL;
    }
    Py_XSETREF(self->tasks, factory == Py_None ? NULL : Py_NewRef(factory));
    Py_RETURN_NONE;
}

static PyMethodDef lagtimer_methods[] = {
    {"start", (PyCFunction)lagtimer_start, METH_NOARGS, NULL},
    {"sweep_tasks", (PyCFunction)lagtimer_sweep_tasks, METH_O, NULL},
    {"stop", (PyCFunction)lagtimer_stop, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot lagtimer_slots[] = {
    {Py_tp_new, lagtimer_new},
    {Py_tp_dealloc, lagtimer_dealloc},
    {Py_tp_traverse, lagtimer_traverse},
    {Py_tp_clear, lagtimer_clear},
    {Py_tp_methods, lagtimer_methods},
    {Py_tp_call, lagtimer_call},
    {0, NULL},
};

PyType_Spec probe_lagtimer_spec = {
    "async_auditor._probe.LagTimer",         sizeof(LagTimerObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, lagtimer_slots,
};
