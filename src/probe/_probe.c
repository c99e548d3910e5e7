/*
 * _probe.c: async_auditor._probe, the only file of the probe that includes
 * Python.h.  It adapts an asyncio loop to the plain-C library (aap.h):
 *
 * - Selector wraps loop._selector: entering select() ends the busy
 *   stretch (and samples len(loop._ready)), its return starts the next.
 *   One C call and two clock reads per iteration, no Python frames;
 *   Loop.stopping(), called from a wrapped loop.stop(), tells it the loop
 *   is about to stop running so the pause is not taken for a block.
 * - LagTimer is the periodic loop timer (and the heartbeat where there is
 *   no selector, e.g. uvloop).
 * - TaskFactory/TaskDone count tasks, composing with a user's factory.
 * - Loop owns the aap_loop and exposes snapshot(), blocks() and the
 *   executor hooks used by the Python layer.
 *
 * It also computes the interpreter layout (offsets into PyThreadState,
 * frames, code and str objects) that the GIL-free stack reader needs,
 * using the internal frame header of CPython 3.11 to 3.13.  Multi-phase init,
 * heap types, per-module state; errors from the C library are turned into
 * Python exceptions in one place, raise_aap().  Nothing here ever raises
 * into a user's callback: failures inside loop hooks are reported with
 * PyErr_WriteUnraisable and the loop carries on.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000 &&            \
    !defined(Py_GIL_DISABLED)
#define AAP_HAVE_FRAMES 1
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#define AAP_UNDEF_BUILD_CORE 1
#endif
#include "internal/pycore_frame.h"
#ifdef AAP_UNDEF_BUILD_CORE
#undef Py_BUILD_CORE
#endif
#else
#define AAP_HAVE_FRAMES 0
#endif

#include <errno.h>
#include <math.h>
#include <string.h>

#include "aap.h"

#ifndef AAP_VERSION
#define AAP_VERSION "0.0.0"
#endif

#if PY_VERSION_HEX < 0x030A0000
/* Python 3.9 lacks these two conveniences. */
static inline PyObject *Py_NewRef(PyObject *o)
{
    Py_INCREF(o);
    return o;
}

static int PyModule_AddObjectRef(PyObject *m, const char *name, PyObject *v)
{
    Py_INCREF(v);
    if (PyModule_AddObject(m, name, v) < 0) {
        Py_DECREF(v);
        return -1;
    }
    return 0;
}
#endif

static aap_pylayout layout;

typedef struct {
    PyTypeObject *loop_type;
    PyTypeObject *selector_type;
    PyTypeObject *lagtimer_type;
    PyTypeObject *factory_type;
    PyTypeObject *done_type;
    PyObject *exporter_error;
} probe_state;

static probe_state *state_of_module(PyObject *m)
{
    return (probe_state *)PyModule_GetState(m);
}

/* The one place C-library errors become Python exceptions. */
static PyObject *raise_aap(probe_state *st, int err, int sys_errno,
                           const char *what)
{
    switch (err) {
    case AAP_ENOMEM:
        return PyErr_NoMemory();
    case AAP_EINVAL:
        return PyErr_Format(PyExc_ValueError, "%s: %s", what,
                            aap_strerror(err));
    case AAP_EBIND: {
        PyObject *args, *msg;

        msg = PyUnicode_FromFormat("cannot serve on %s: %s", what,
                                   strerror(sys_errno));
        if (!msg) {
            return NULL;
        }
        args = Py_BuildValue("(iO)", sys_errno, msg);
        Py_DECREF(msg);
        if (args) {
            PyErr_SetObject(st->exporter_error, args);
            Py_DECREF(args);
        }
        return NULL;
    }
    case AAP_EBUSY:
    case AAP_EHTTP: {
        PyObject *args = Py_BuildValue("(is)", err == AAP_EBUSY ? EBUSY : EIO,
                                       aap_strerror(err));

        if (args) {
            PyErr_SetObject(st->exporter_error, args);
            Py_DECREF(args);
        }
        return NULL;
    }
    default:
        return PyErr_Format(PyExc_RuntimeError, "%s: %s", what,
                            aap_strerror(err));
    }
}

/* ---- Loop ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD aap_loop *L;
    PyObject *impl;
} LoopObject;

/* Add the path prefixes of seq (None: none) to r as machinery or helper
 * prefixes; -1 with an exception set on a bad value. */
static int site_rules_fill(aap_site_rules *r, PyObject *seq, int helper)
{
    PyObject *fast;
    Py_ssize_t i, n;
    int rc = 0;

    if (!seq || seq == Py_None) {
        return 0;
    }
    fast = PySequence_Fast(seq, "site prefixes must be a sequence");
    if (!fast) {
        return -1;
    }
    n = PySequence_Fast_GET_SIZE(fast);
    for (i = 0; i < n && rc == 0; i++) {
        const char *p = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i));
        int e;

        if (!p) {
            rc = -1;
        } else if ((e = aap_site_rules_add(r, p, helper)) < 0) {
            PyErr_Format(PyExc_ValueError, "site prefix %R: %s",
                         PySequence_Fast_GET_ITEM(fast, i), aap_strerror(e));
            rc = -1;
        }
    }
    Py_DECREF(fast);
    return rc;
}

static PyObject *loop_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {
        "name",   "implementation", "lag_interval",   "block_threshold",
        "stacks", "heartbeat",      "site_machinery", "site_helpers",
        NULL};
    const char *name, *impl;
    double lag, thr;
    int stacks = 1, heartbeat = 0, rc;
    PyObject *machinery = NULL, *helpers = NULL;
    aap_site_rules *rules;
    aap_loop_config cfg;
    LoopObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ssdd|ppOO", kwlist, &name,
                                     &impl, &lag, &thr, &stacks, &heartbeat,
                                     &machinery, &helpers)) {
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
    if (site_rules_fill(rules, machinery, 0) < 0 ||
        site_rules_fill(rules, helpers, 1) < 0) {
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
    cfg.mode = heartbeat ? AAP_MODE_HEARTBEAT : AAP_MODE_SELECTOR;
    cfg.tstate = (uintptr_t)PyThreadState_Get();
    cfg.layout = &layout;
    cfg.site_rules = rules;
    rc = aap_loop_new(&cfg, &self->L);
    PyMem_Free(rules);
    if (rc < 0) {
        Py_DECREF(self);
        return raise_aap(PyType_GetModuleState(type), rc, 0, "install");
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

static int dict_set_new(PyObject *d, const char *k, PyObject *v)
{
    int rc;

    if (!v) {
        return -1;
    }
    rc = PyDict_SetItemString(d, k, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *hist_dict(uint64_t count, double sum)
{
    return Py_BuildValue("{s:K,s:d}", "count", (unsigned long long)count,
                         "sum", sum);
}

static PyObject *loop_snapshot(LoopObject *self, PyObject *unused)
{
    static const char *names[AAP_EXEC_N] = {"default", "anyio"};
    aap_site_value sites[AAP_SITES_MAX + 1];
    aap_loop_snapshot s;
    PyObject *d, *ex[5] = {NULL, NULL, NULL, NULL, NULL}, *sd = NULL;
    size_t n, i;
    int k;

    (void)unused;
    if (!self->L) {
        PyErr_SetString(PyExc_RuntimeError, "probe is closed");
        return NULL;
    }
    aap_loop_snapshot_get(self->L, &s);
    aap_loop_sites(self->L, sites, AAP_SITES_MAX + 1, &n);
    d = PyDict_New();
    if (!d) {
        return NULL;
    }
    if (dict_set_new(d, "python_asyncio_loop_lag_seconds",
                     hist_dict(s.lag_count, s.lag_sum)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_busy_seconds_total",
                     s.heartbeat ? Py_NewRef(Py_None)
                                 : PyFloat_FromDouble(s.busy_seconds)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_iterations_total",
                     s.heartbeat
                         ? Py_NewRef(Py_None)
                         : PyLong_FromUnsignedLongLong(s.iterations)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_block_duration_seconds",
                     hist_dict(s.block_count, s.block_sum)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_current_block_seconds",
                     PyFloat_FromDouble(s.current_block)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_ready_callbacks",
                     s.heartbeat ? Py_NewRef(Py_None)
                                 : PyLong_FromLongLong(s.ready)) < 0 ||
        dict_set_new(d, "python_asyncio_tasks", PyLong_FromLongLong(s.tasks)) <
            0 ||
        dict_set_new(d, "python_asyncio_tasks_created_total",
                     PyLong_FromUnsignedLongLong(s.tasks_created)) < 0 ||
        dict_set_new(d, "http_server_active_requests",
                     PyLong_FromLongLong(aap_http_active_get())) < 0 ||
        dict_set_new(d, "python_asyncio_probe_info",
                     Py_BuildValue("{s:s,s:O}", "version", AAP_VERSION,
                                   "loop_implementation", self->impl)) < 0) {
        goto fail;
    }
    sd = PyDict_New();
    if (!sd) {
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *v = PyFloat_FromDouble(sites[i].seconds);

        if (!v || PyDict_SetItemString(sd, sites[i].site, v) < 0) {
            Py_XDECREF(v);
            goto fail;
        }
        Py_DECREF(v);
    }
    if (PyDict_SetItemString(d, "python_asyncio_block_site_seconds_total",
                             sd) < 0) {
        goto fail;
    }
    for (i = 0; i < 5; i++) {
        ex[i] = PyDict_New();
        if (!ex[i]) {
            goto fail;
        }
    }
    for (k = 0; k < AAP_EXEC_N; k++) {
        aap_exec_snapshot *e = &s.exec[k];

        if (!e->enabled) {
            continue;
        }
        if (dict_set_new(ex[0], names[k], PyLong_FromLongLong(e->pending)) <
                0 ||
            dict_set_new(ex[1], names[k], PyLong_FromLongLong(e->busy)) < 0 ||
            dict_set_new(ex[2], names[k],
                         PyLong_FromLongLong(e->max_workers)) < 0 ||
            dict_set_new(ex[3], names[k],
                         hist_dict(e->wait_count, e->wait_sum)) < 0 ||
            dict_set_new(ex[4], names[k],
                         hist_dict(e->run_count, e->run_sum)) < 0) {
            goto fail;
        }
    }
    if (PyDict_SetItemString(d, "python_asyncio_executor_pending", ex[0]) <
            0 ||
        PyDict_SetItemString(d, "python_asyncio_executor_busy_workers",
                             ex[1]) < 0 ||
        PyDict_SetItemString(d, "python_asyncio_executor_max_workers", ex[2]) <
            0 ||
        PyDict_SetItemString(d, "python_asyncio_executor_wait_seconds",
                             ex[3]) < 0 ||
        PyDict_SetItemString(d, "python_asyncio_executor_run_seconds", ex[4]) <
            0) {
        goto fail;
    }
    for (i = 0; i < 5; i++) {
        Py_DECREF(ex[i]);
    }
    Py_DECREF(sd);
    return d;
fail:
    for (i = 0; i < 5; i++) {
        Py_XDECREF(ex[i]);
    }
    Py_XDECREF(sd);
    Py_DECREF(d);
    return NULL;
}

static PyObject *stack_list(const char *stack)
{
    PyObject *l = PyList_New(0);
    const char *p = stack;

    if (!l) {
        return NULL;
    }
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        Py_ssize_t n = nl ? (Py_ssize_t)(nl - p) : (Py_ssize_t)strlen(p);
        PyObject *s = PyUnicode_DecodeUTF8(p, n, "replace");

        if (!s || PyList_Append(l, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(l);
            return NULL;
        }
        Py_DECREF(s);
        p = nl ? nl + 1 : NULL;
    }
    return l;
}

static PyObject *loop_blocks(LoopObject *self, PyObject *unused)
{
    aap_episode_info *v;
    PyObject *l;
    size_t n, i;
    int rc;

    (void)unused;
    if (!self->L) {
        PyErr_SetString(PyExc_RuntimeError, "probe is closed");
        return NULL;
    }
    rc = aap_loop_blocks(self->L, &v, &n);
    if (rc < 0) {
        return raise_aap(PyType_GetModuleState(Py_TYPE(self)), rc, 0,
                         "blocks");
    }
    l = PyList_New(0);
    for (i = 0; l && i < n; i++) {
        PyObject *st = stack_list(v[i].stack);
        PyObject *site =
            v[i].site[0]
                ? PyUnicode_DecodeUTF8(v[i].site, strlen(v[i].site), "replace")
                : Py_NewRef(Py_None);
        PyObject *det = v[i].detected_after < 0
                            ? Py_NewRef(Py_None)
                            : PyFloat_FromDouble(v[i].detected_after);
        PyObject *e = NULL;

        if (st && site && det) {
            e = Py_BuildValue("{s:d,s:d,s:O,s:O,s:O,s:O}", "start", v[i].start,
                              "duration", v[i].duration, "site", site, "stack",
                              st, "ongoing", v[i].ongoing ? Py_True : Py_False,
                              "detected_after", det);
        }
        Py_XDECREF(st);
        Py_XDECREF(site);
        Py_XDECREF(det);
        if (!e || PyList_Append(l, e) < 0) {
            Py_XDECREF(e);
            Py_CLEAR(l);
            break;
        }
        Py_DECREF(e);
    }
    aap_episodes_free(v, n);
    return l;
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

/* exec_submit(which) -> t0; exec_start(which, t0) -> t1;
 * exec_finish(which, t1); exec_unstarted(which).  No-ops once closed. */
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
    int w;

    if (nargs != 2 || (w = exec_which(args[0])) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "exec_start(which, t0)");
        }
        return NULL;
    }
    t0 = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (self->L) {
        aap_exec_start(self->L, w, now > t0 ? now - t0 : 0);
    }
    return PyLong_FromUnsignedLongLong(now);
}

static PyObject *loop_exec_finish(LoopObject *self, PyObject *const *args,
                                  Py_ssize_t nargs)
{
    unsigned long long t1;
    uint64_t now = aap_now_ns();
    int w;

    if (nargs != 2 || (w = exec_which(args[0])) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "exec_finish(which, t1)");
        }
        return NULL;
    }
    t1 = PyLong_AsUnsignedLongLong(args[1]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (self->L) {
        aap_exec_finish(self->L, w, now > t1 ? now - t1 : 0);
    }
    Py_RETURN_NONE;
}

static PyObject *loop_exec_unstarted(LoopObject *self, PyObject *arg)
{
    int w = exec_which(arg);

    if (w < 0) {
        return NULL;
    }
    if (self->L) {
        aap_exec_unstarted(self->L, w);
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
    {"closing_hint", (PyCFunction)loop_closing_hint, METH_NOARGS,
     "Any thread: the loop is shutting down its default executor."},
    {"snapshot", (PyCFunction)loop_snapshot, METH_NOARGS,
     "Current values keyed by metric name."},
    {"blocks", (PyCFunction)loop_blocks, METH_NOARGS,
     "Recent blocking episodes."},
    {"exec_enable", (PyCFunction)(void (*)(void))loop_exec_enable,
     METH_FASTCALL, NULL},
    {"exec_submit", (PyCFunction)loop_exec_submit, METH_O, NULL},
    {"exec_start", (PyCFunction)(void (*)(void))loop_exec_start, METH_FASTCALL,
     NULL},
    {"exec_finish", (PyCFunction)(void (*)(void))loop_exec_finish,
     METH_FASTCALL, NULL},
    {"exec_unstarted", (PyCFunction)loop_exec_unstarted, METH_O, NULL},
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

static PyType_Spec loop_spec = {
    "async_auditor._probe.Loop", sizeof(LoopObject), 0,
    Py_TPFLAGS_DEFAULT,          loop_slots,
};

/* ---- shared helpers for the hook objects ---------------------------- */

#define HOOK_HEAD PyObject_HEAD LoopObject *core

static aap_loop *core_loop(LoopObject *core)
{
    return core ? core->L : NULL;
}

/* Keep the loop's thread state current: the loop may run on another
 * thread than the one that installed the probe. */
static void track_tstate(aap_loop *L, uintptr_t *seen)
{
    uintptr_t ts = (uintptr_t)PyThreadState_Get();

    if (ts != *seen) {
        *seen = ts;
        aap_loop_set_tstate(L, ts);
    }
}

/* ---- Selector ------------------------------------------------------- */

typedef struct {
    HOOK_HEAD;
    PyObject *inner;
    PyObject *inner_select;
    PyObject *on_close;
    PyObject *ready; /* loop._ready, or NULL */
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

/*
 * selectors.EpollSelector.select() (CPython 3.9-3.13, unchanged), in C:
 * calling the Python method from C would cost a fresh interpreter frame
 * entry per iteration.  Same timeout rounding, same max_events, same
 * event mapping, same handling of EINTR.
 */
static PyObject *selector_fast_select(SelectorObject *self, PyObject *tobj)
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

/* Entering select() ends the busy stretch of this iteration (and samples
 * the ready queue); its return starts the next one. */
static PyObject *selector_select(SelectorObject *self, PyObject *const *args,
                                 Py_ssize_t nargs, PyObject *kwnames)
{
    aap_loop *L = core_loop(self->core);
    PyObject *r;

    if (L) {
        Py_ssize_t n = 0;

        if (self->ready) {
            n = PyObject_Length(self->ready);
            if (n < 0) {
                PyErr_Clear();
                n = 0;
            }
        }
        track_tstate(L, &self->tstate);
        aap_loop_select_enter(L, aap_now_ns(), n);
    }
    if (self->poll && !kwnames && nargs <= 1) {
        r = selector_fast_select(self, nargs ? args[0] : NULL);
    } else {
        r = PyObject_Vectorcall(self->inner_select, args, (size_t)nargs,
                                kwnames);
    }
    L = core_loop(self->core);
    if (r && L) {
        aap_loop_busy_begin(L, aap_now_ns());
    }
    return r;
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

static PyType_Spec selector_spec = {
    "async_auditor._probe.Selector",         sizeof(SelectorObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, selector_slots,
};

/* ---- LagTimer ------------------------------------------------------- */

typedef struct {
    HOOK_HEAD;
    PyObject *loop;
    PyObject *handle;
    PyObject *interval;
    uint64_t due;
    uint64_t interval_ns;
    int heartbeat;
    int waiting_start; /* scheduled with call_soon until the loop runs */
    uintptr_t tstate;
} LagTimerObject;

/* Schedule the next run, due at due; 0, or -1 with the error cleared
 * (loop closed: the timer stops, and in heartbeat mode the loop stops
 * looking busy). */
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
    aap_loop *L = core_loop(self->core);
    uint64_t due = now + self->interval_ns;

    if (!L || lagtimer_schedule(self, L, due) < 0) {
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
    aap_loop *L = core_loop(self->core);

    (void)args;
    (void)kw;
    Py_CLEAR(self->handle);
    if (L) {
        track_tstate(L, &self->tstate);
        if (self->waiting_start) {
            self->waiting_start = 0; /* the loop runs: nothing was late */
            lagtimer_arm(self, now);
        } else {
            lagtimer_schedule(self, L, aap_loop_lag_tick(L, self->due, now));
        }
    }
    Py_RETURN_NONE;
}

static int lagtimer_traverse(LagTimerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->core);
    Py_VISIT(self->loop);
    Py_VISIT(self->handle);
    return 0;
}

static int lagtimer_clear(LagTimerObject *self)
{
    Py_CLEAR(self->core);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->handle);
    Py_CLEAR(self->interval);
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

static PyMethodDef lagtimer_methods[] = {
    {"start", (PyCFunction)lagtimer_start, METH_NOARGS, NULL},
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

static PyType_Spec lagtimer_spec = {
    "async_auditor._probe.LagTimer",         sizeof(LagTimerObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, lagtimer_slots,
};

/* ---- TaskDone / TaskFactory ---------------------------------------- */

typedef struct {
    HOOK_HEAD;
} DoneObject;

static PyObject *done_call(PyObject *obj, PyObject *args, PyObject *kw)
{
    aap_loop *L = core_loop(((DoneObject *)obj)->core);

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

static PyType_Spec done_spec = {
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
    L = core_loop(self->core);
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

static PyType_Spec factory_spec = {
    "async_auditor._probe.TaskFactory",      sizeof(FactoryObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, factory_slots,
};

/* ---- module functions ---------------------------------------------- */

static PyObject *mod_serve(PyObject *m, PyObject *args)
{
    const char *host;
    int port, bound = 0, err = 0, rc;

    if (!PyArg_ParseTuple(args, "si", &host, &port)) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS rc = aap_exporter_start(host, port, &bound, &err);
    Py_END_ALLOW_THREADS if (rc < 0)
    {
        char what[300];

        snprintf(what, sizeof(what), "%s:%d", host, port);
        return raise_aap(state_of_module(m), rc, err, what);
    }
    return PyLong_FromLong(bound);
}

static PyObject *mod_stop_serving(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    Py_BEGIN_ALLOW_THREADS aap_exporter_stop();
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static PyObject *mod_serving_port(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyLong_FromLong(aap_exporter_port());
}

static PyObject *text_result(probe_state *st, aat_buf *t, int rc)
{
    PyObject *s;

    if (rc < 0) {
        aat_buf_release(t);
        return raise_aap(st, rc, 0, "render");
    }
    s = PyUnicode_DecodeUTF8(t->data ? t->data : "", (Py_ssize_t)t->len,
                             "replace");
    aat_buf_release(t);
    return s;
}

static PyObject *mod_render_metrics(PyObject *m, PyObject *unused)
{
    aat_buf t;
    int rc;

    (void)unused;
    aat_buf_init(&t, AAP_TEXT_MAX);
    Py_BEGIN_ALLOW_THREADS rc = aap_render_metrics(&t);
    Py_END_ALLOW_THREADS return text_result(state_of_module(m), &t, rc);
}

static PyObject *mod_render_blocks(PyObject *m, PyObject *unused)
{
    aat_buf t;
    int rc;

    (void)unused;
    aat_buf_init(&t, AAP_TEXT_MAX);
    Py_BEGIN_ALLOW_THREADS rc = aap_render_blocks(&t);
    Py_END_ALLOW_THREADS return text_result(state_of_module(m), &t, rc);
}

static PyObject *mod_http_active(PyObject *m, PyObject *arg)
{
    long long d = PyLong_AsLongLong(arg);

    (void)m;
    if (d == -1 && PyErr_Occurred()) {
        return NULL;
    }
    aap_http_active_add(d);
    Py_RETURN_NONE;
}

/* http_observe(method, route, status, seconds[, done]): done=True also
 * ends the request for the in-flight gauge (one call per request). */
static PyObject *mod_http_observe(PyObject *m, PyObject *args)
{
    const char *method, *route;
    int status, done = 0;
    double seconds;

    (void)m;
    if (!PyArg_ParseTuple(args, "ssid|p", &method, &route, &status, &seconds,
                          &done)) {
        return NULL;
    }
    if (done) {
        aap_http_active_add(-1);
    }
    aap_http_observe(method, route, status,
                     seconds > 0 ? (uint64_t)(seconds * 1e9) : 0);
    Py_RETURN_NONE;
}

static PyObject *mod_shutdown(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    Py_BEGIN_ALLOW_THREADS aap_shutdown();
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

static PyObject *mod_after_fork_child(PyObject *m, PyObject *unused)
{
    int rc = aap_after_fork_restart();

    (void)unused;
    if (rc < 0) {
        return raise_aap(state_of_module(m), rc, 0, "after fork");
    }
    Py_RETURN_NONE;
}

/* The stack reader applied to the calling thread (tests compare it with
 * traceback.extract_stack()). */
static PyObject *mod_capture_self(PyObject *m, PyObject *unused)
{
    aap_stack *st;
    PyObject *l;
    int n, i;

    (void)m;
    (void)unused;
    st = PyMem_Malloc(sizeof(*st));
    if (!st) {
        return PyErr_NoMemory();
    }
    n = aap_stack_capture(&layout, (uintptr_t)PyThreadState_Get(), st);
    if (n < 0) {
        PyMem_Free(st);
        PyErr_SetString(PyExc_RuntimeError,
                        "stack capture is not supported here");
        return NULL;
    }
    l = PyList_New(0);
    for (i = 0; l && i < n; i++) {
        PyObject *t = Py_BuildValue("(sis)", st->frames[i].file,
                                    st->frames[i].line, st->frames[i].func);

        if (!t || PyList_Append(l, t) < 0) {
            Py_XDECREF(t);
            Py_CLEAR(l);
        } else {
            Py_DECREF(t);
        }
    }
    PyMem_Free(st);
    return l;
}

static PyObject *mod_monotonic_ns(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyLong_FromUnsignedLongLong(aap_now_ns());
}

static PyMethodDef mod_methods[] = {
    {"serve", mod_serve, METH_VARARGS,
     "serve(host, port) -> bound port; raises ExporterError."},
    {"stop_serving", mod_stop_serving, METH_NOARGS, NULL},
    {"serving_port", mod_serving_port, METH_NOARGS, NULL},
    {"render_metrics", mod_render_metrics, METH_NOARGS, NULL},
    {"render_blocks", mod_render_blocks, METH_NOARGS, NULL},
    {"http_active", mod_http_active, METH_O, NULL},
    {"http_observe", mod_http_observe, METH_VARARGS, NULL},
    {"shutdown", mod_shutdown, METH_NOARGS, NULL},
    {"after_fork_child", mod_after_fork_child, METH_NOARGS, NULL},
    {"capture_self", mod_capture_self, METH_NOARGS, NULL},
    {"monotonic_ns", mod_monotonic_ns, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* ---- layout and module init ---------------------------------------- */

static uint32_t state_word(const PyASCIIObject *o)
{
    uint32_t w;

    memcpy(&w, (const char *)o + offsetof(PyASCIIObject, state), sizeof(w));
    return w;
}

static void layout_init(void)
{
#if AAP_HAVE_FRAMES
    PyASCIIObject o;
    uint32_t w;

    memset(&layout, 0, sizeof(layout));
    layout.ob_type = offsetof(PyObject, ob_type);
#if PY_VERSION_HEX >= 0x030D0000
    layout.tstate_cframe = offsetof(PyThreadState, current_frame);
    layout.direct_frame = 1;
    layout.frame_code = offsetof(_PyInterpreterFrame, f_executable);
    layout.frame_prev_instr = offsetof(_PyInterpreterFrame, instr_ptr);
#else
    layout.tstate_cframe = offsetof(PyThreadState, cframe);
    layout.cframe_current = offsetof(_PyCFrame, current_frame);
    layout.frame_code = offsetof(_PyInterpreterFrame, f_code);
    layout.frame_prev_instr = offsetof(_PyInterpreterFrame, prev_instr);
#endif
    layout.frame_previous = offsetof(_PyInterpreterFrame, previous);
    layout.frame_owner = offsetof(_PyInterpreterFrame, owner);
#if PY_VERSION_HEX >= 0x030C0000
    layout.owner_cstack = FRAME_OWNED_BY_CSTACK;
#else
    layout.owner_cstack = -1;
#endif
    layout.code_filename = offsetof(PyCodeObject, co_filename);
    layout.code_name = offsetof(PyCodeObject, co_name);
    layout.code_firstlineno = offsetof(PyCodeObject, co_firstlineno);
    layout.code_linetable = offsetof(PyCodeObject, co_linetable);
    layout.code_adaptive = offsetof(PyCodeObject, co_code_adaptive);
    layout.bytes_size = offsetof(PyVarObject, ob_size);
    layout.bytes_data = offsetof(PyBytesObject, ob_sval);
    layout.str_length = offsetof(PyASCIIObject, length);
    layout.str_state = offsetof(PyASCIIObject, state);
    memset(&o, 0, sizeof(o));
    o.state.kind = 7;
    w = state_word(&o);
    layout.state_kind_mask = w;
    layout.state_kind_shift = (unsigned)__builtin_ctz(w);
    memset(&o, 0, sizeof(o));
    o.state.compact = 1;
    layout.state_compact_mask = state_word(&o);
    memset(&o, 0, sizeof(o));
    o.state.ascii = 1;
    layout.state_ascii_mask = state_word(&o);
    layout.str_ascii_data = sizeof(PyASCIIObject);
    layout.str_compact_data = sizeof(PyCompactUnicodeObject);
    layout.code_type = (uintptr_t)&PyCode_Type;
    layout.str_type = (uintptr_t)&PyUnicode_Type;
    layout.bytes_type = (uintptr_t)&PyBytes_Type;
    layout.supported = 1;
#else
    memset(&layout, 0, sizeof(layout));
#endif
}

static int add_type(PyObject *m, PyType_Spec *spec, PyTypeObject **slot)
{
    PyObject *t = PyType_FromModuleAndSpec(m, spec, NULL);

    if (!t) {
        return -1;
    }
    *slot = (PyTypeObject *)t;
    return PyModule_AddType(m, (PyTypeObject *)t);
}

static int mod_exec(PyObject *m)
{
    probe_state *st = state_of_module(m);

    layout_init();
    if (add_type(m, &loop_spec, &st->loop_type) < 0 ||
        add_type(m, &selector_spec, &st->selector_type) < 0 ||
        add_type(m, &lagtimer_spec, &st->lagtimer_type) < 0 ||
        add_type(m, &done_spec, &st->done_type) < 0 ||
        add_type(m, &factory_spec, &st->factory_type) < 0) {
        return -1;
    }
    st->exporter_error = PyErr_NewExceptionWithDoc(
        "async_auditor.ExporterError",
        "The exporter could not serve on the requested address.",
        PyExc_OSError, NULL);
    if (!st->exporter_error ||
        PyModule_AddObjectRef(m, "ExporterError", st->exporter_error) < 0) {
        return -1;
    }
    if (PyModule_AddStringConstant(m, "__version__", AAP_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "stacks_supported", layout.supported) < 0 ||
        PyModule_AddIntConstant(m, "EXEC_DEFAULT", AAP_EXEC_DEFAULT) < 0 ||
        PyModule_AddIntConstant(m, "EXEC_ANYIO", AAP_EXEC_ANYIO) < 0 ||
        PyModule_AddIntConstant(m, "SITES_MAX", AAP_SITES_MAX) < 0) {
        return -1;
    }
    return 0;
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    probe_state *st = state_of_module(m);

    Py_VISIT(st->loop_type);
    Py_VISIT(st->selector_type);
    Py_VISIT(st->lagtimer_type);
    Py_VISIT(st->factory_type);
    Py_VISIT(st->done_type);
    Py_VISIT(st->exporter_error);
    return 0;
}

static int mod_clear(PyObject *m)
{
    probe_state *st = state_of_module(m);

    Py_CLEAR(st->loop_type);
    Py_CLEAR(st->selector_type);
    Py_CLEAR(st->lagtimer_type);
    Py_CLEAR(st->factory_type);
    Py_CLEAR(st->done_type);
    Py_CLEAR(st->exporter_error);
    return 0;
}

static void mod_free(void *m)
{
    mod_clear((PyObject *)m);
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
    {0, NULL},
};

static struct PyModuleDef probe_module = {
    PyModuleDef_HEAD_INIT,
    "async_auditor._probe",
    "C side of the async_auditor runtime probe.",
    sizeof(probe_state),
    mod_methods,
    mod_slots,
    mod_traverse,
    mod_clear,
    mod_free,
};

PyMODINIT_FUNC PyInit__probe(void);

PyMODINIT_FUNC PyInit__probe(void)
{
    return PyModuleDef_Init(&probe_module);
}
