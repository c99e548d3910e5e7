/*
 * _probe_lagtimer.c: the LagTimer type, the probe's periodic loop timer.
 * It measures how late it runs (loop lag) and, on loops without a
 * selector to wrap (uvloop), is the heartbeat that tells busy from idle.
 *
 * On asyncio's own loops the probe's Selector drives it: every select()
 * tells probe_lagtimer_wait() and probe_lagtimer_woke() when its wait
 * starts and ends, and the schedule (aap_ticker.c) runs the ticks that
 * fell due and says how long the wait may last.  No handle goes through
 * asyncio's Python timer heap, which was most of what a tick cost
 * (docs/benchmarks.md, benchmark 9) in a worker that pays for 100 ticks
 * a second.  Other loops (uvloop) get call_later.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

/* ---- LagTimer ------------------------------------------------------- */

typedef struct {
    HOOK_HEAD;
    PyObject *loop;
    PyObject *handle;
    PyObject *interval;
    PyObject *tasks; /* the loop's TaskFactory, swept each tick, or NULL */
    uint64_t due;
    aap_ticker ticker; /* driven: the schedule */
    int driven;        /* ticked by the Selector's select(), never scheduled */
    int stopped;       /* driven: not started, or stopped */
    uint64_t interval_ns;
    int heartbeat;
    int waiting_start; /* scheduled with call_soon until the loop runs */
    uintptr_t tstate;
} LagTimerObject;

/* Schedule the next run with call_later, due at due; 0, or -1 with the
 * error cleared (loop closed: the timer stops, and in heartbeat mode the
 * loop stops looking busy). */
static int lagtimer_schedule(LagTimerObject *self, aap_loop *L, uint64_t due)
{
    PyObject *h = PyObject_CallMethod(self->loop, "call_later", "OO",
                                      self->interval, (PyObject *)self);

    if (!h) {
        PyErr_Clear();
        Py_CLEAR(self->handle);
        if (self->heartbeat) {
            aap_loop_busy_begin(L, 0);
        }
        return -1;
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

    if (!L) {
        return -1;
    }
    if (self->driven) {
        aap_ticker_arm(&self->ticker, L, now);
        return 0;
    }
    if (lagtimer_schedule(self, L, due) < 0) {
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
    self->stopped = 1;
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
 * armed for real when the loop runs it; a driven timer is armed by the
 * first select() instead.
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
    if (self->driven) {
        self->stopped = 0;
        memset(&self->ticker, 0, sizeof(self->ticker));
        if (is_running && lagtimer_arm(self, aap_now_ns()) < 0) {
            self->stopped = 1;
            PyErr_SetString(PyExc_RuntimeError, "the probe's loop is gone");
            return NULL;
        }
        Py_RETURN_NONE;
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
    self->stopped = 1;
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
    if (L && !self->driven) {
        probe_track_tstate(L, &self->tstate);
        if (self->waiting_start) {
            self->waiting_start = 0; /* the loop runs: nothing was late */
            lagtimer_arm(self, now);
        } else {
            lagtimer_schedule(self, L, aap_loop_lag_tick(L, self->due, now));
        }
        if (self->tasks) {
            probe_tasks_tick(self->tasks, now);
        }
    }
    Py_XDECREF(fired);
    Py_RETURN_NONE;
}

int probe_lagtimer_drive(PyObject *obj)
{
    LagTimerObject *self = (LagTimerObject *)obj;

    if (self->heartbeat || self->handle || !self->stopped) {
        PyErr_SetString(PyExc_RuntimeError,
                        "only a lag timer that is not started and not a "
                        "heartbeat can be driven by a selector");
        return -1;
    }
    self->driven = 1;
    return 0;
}

/* The driven timer's loop, or NULL when it does not tick now. */
static aap_loop *driven_loop(LagTimerObject *self)
{
    if (!self->driven || self->stopped) {
        return NULL;
    }
    return probe_core_loop(self->core);
}

int64_t probe_lagtimer_wait(PyObject *obj, uint64_t now, int64_t timeout_ns)
{
    LagTimerObject *self = (LagTimerObject *)obj;
    aap_loop *L = driven_loop(self);
    int64_t r;
    int ticked;

    if (!L) {
        return timeout_ns;
    }
    r = aap_ticker_wait(&self->ticker, L, now, timeout_ns, &ticked);
    if (ticked && self->tasks) {
        probe_tasks_tick(self->tasks, now);
    }
    return r;
}

void probe_lagtimer_woke(PyObject *obj, uint64_t now, int timed_out)
{
    LagTimerObject *self = (LagTimerObject *)obj;
    aap_loop *L = driven_loop(self);

    if (L && aap_ticker_woke(&self->ticker, L, now, timed_out) &&
        self->tasks) {
        probe_tasks_tick(self->tasks, now);
    }
}

static int lagtimer_traverse(LagTimerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->core);
    Py_VISIT(self->loop);
    Py_VISIT(self->handle);
    Py_VISIT(self->tasks);
    return 0;
}

static int lagtimer_clear(LagTimerObject *self)
{
    Py_CLEAR(self->core);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->handle);
    Py_CLEAR(self->interval);
    Py_CLEAR(self->tasks);
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
