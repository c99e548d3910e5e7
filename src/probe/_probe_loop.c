/*
 * _probe_loop.c: the Loop type, the C state of one probed event loop.  It
 * owns the aap_loop and exposes snapshot(), blocks() and the executor and
 * task hooks the Python layer (python/async_auditor/_install.py) calls.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <string.h>

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
    cfg.layout = &probe_layout;
    cfg.site_rules = rules;
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
        return probe_raise(PyType_GetModuleState(Py_TYPE(self)), rc, 0,
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

PyType_Spec probe_loop_spec = {
    "async_auditor._probe.Loop", sizeof(LoopObject), 0,
    Py_TPFLAGS_DEFAULT,          loop_slots,
};
