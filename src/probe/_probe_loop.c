/*
 * _probe_loop.c: the Loop type, the C state of one probed event loop.  It
 * owns the aap_loop and exposes snapshot(), blocks() and the executor and
 * task hooks the Python layer (python/async_auditor/_install.py) calls.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <string.h>

static PyObject *loop_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name",   "implementation", "lag_interval",
                             "block_threshold", "stacks", "heartbeat",
                             "in_app", NULL};
    const char *name, *impl;
    double lag, thr;
    int stacks = 1, heartbeat = 0, rc;
    PyObject *in_app = NULL;
    aap_inapp_rules *rules;
    aap_loop_config cfg;
    LoopObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "ssdd|ppO", kwlist, &name,
                                     &impl, &lag, &thr, &stacks, &heartbeat,
                                     &in_app)) {
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
    cfg.mode = heartbeat ? AAP_MODE_HEARTBEAT : AAP_MODE_SELECTOR;
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

/* text (UTF-8 from the C side) as str; invalid bytes replaced, so a name
 * from the interpreter never makes snapshot() or blocks() raise */
static PyObject *text(const char *t)
{
    return PyUnicode_DecodeUTF8(t, (Py_ssize_t)strlen(t), "replace");
}

/* d[key] = v (a new reference, consumed); -1 with an exception. */
static int set_text_key(PyObject *d, const char *key, PyObject *v)
{
    PyObject *k = text(key);
    int rc = -1;

    if (k && v) {
        rc = PyDict_SetItem(d, k, v);
    }
    Py_XDECREF(k);
    Py_XDECREF(v);
    return rc;
}

/* {site: {"chain", "class", "hint"}} of the live site slots. */
static PyObject *site_info(const aap_site_value *sites, size_t n)
{
    PyObject *d = PyDict_New();
    size_t i;

    for (i = 0; d && i < n; i++) {
        PyObject *chain = text(sites[i].chain);
        PyObject *v = chain ? Py_BuildValue("{s:O,s:s,s:s}", "chain", chain,
                                            "class",
                                            aap_class_name(sites[i].cls),
                                            "hint",
                                            aap_class_hint(sites[i].cls))
                            : NULL;

        Py_XDECREF(chain);
        if (set_text_key(d, sites[i].site, v) < 0) {
            Py_CLEAR(d);
        }
    }
    return d;
}

/* {(thread, site): seconds} of the GIL holders the loop waited for. */
static PyObject *gil_holders(aap_loop *L)
{
    aap_gil_holder_value *v;
    PyObject *d;
    size_t n, i;

    v = PyMem_Calloc(AAP_GIL_HOLDERS_MAX + 1, sizeof(*v));
    if (!v) {
        return PyErr_NoMemory();
    }
    aap_loop_gil_holders(L, v, AAP_GIL_HOLDERS_MAX + 1, &n);
    d = PyDict_New();
    for (i = 0; d && i < n; i++) {
        PyObject *t = text(v[i].thread), *site = text(v[i].site);
        PyObject *k = t && site ? PyTuple_Pack(2, t, site) : NULL;
        PyObject *s = PyFloat_FromDouble(v[i].seconds);

        if (!k || !s || PyDict_SetItem(d, k, s) < 0) {
            Py_CLEAR(d);
        }
        Py_XDECREF(t);
        Py_XDECREF(site);
        Py_XDECREF(k);
        Py_XDECREF(s);
    }
    PyMem_Free(v);
    return d;
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
        if (set_text_key(sd, sites[i].site,
                         PyFloat_FromDouble(sites[i].seconds)) < 0) {
            goto fail;
        }
    }
    if (PyDict_SetItemString(d, "python_asyncio_block_site_seconds_total",
                             sd) < 0 ||
        dict_set_new(d, "python_asyncio_block_site_info",
                     site_info(sites, n)) < 0 ||
        dict_set_new(d, "python_asyncio_gil_wait_seconds_total",
                     PyFloat_FromDouble(aap_loop_gil_wait(self->L))) < 0 ||
        dict_set_new(d, "python_asyncio_gil_holder_seconds_total",
                     gil_holders(self->L)) < 0) {
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

/* text, or None when it is empty */
static PyObject *text_or_none(const char *t)
{
    return t[0] ? text(t) : Py_NewRef(Py_None);
}

/* Append episode e to list l as a dict; -1 with an exception. */
static int append_episode(PyObject *l, const aap_episode_info *e)
{
    PyObject *st = stack_list(e->stack);
    PyObject *site = text_or_none(e->site);
    PyObject *chain = text_or_none(e->chain);
    PyObject *thread = text_or_none(e->thread);
    PyObject *tid = e->thread_id > 0 ? PyLong_FromLong(e->thread_id)
                                     : Py_NewRef(Py_None);
    PyObject *det = e->detected_after < 0
                        ? Py_NewRef(Py_None)
                        : PyFloat_FromDouble(e->detected_after);
    PyObject *cls = e->cls ? PyUnicode_FromString(aap_class_name(e->cls))
                           : Py_NewRef(Py_None);
    PyObject *hint = e->cls ? PyUnicode_FromString(aap_class_hint(e->cls))
                            : Py_NewRef(Py_None);
    PyObject *d = NULL;
    int rc = -1;

    if (st && site && chain && thread && tid && det && cls && hint) {
        d = Py_BuildValue(
            "{s:d,s:d,s:O,s:O,s:O,s:O,s:s,s:O,s:O,s:O,s:O,s:O}", "start",
            e->start, "duration", e->duration, "site", site, "stack", st,
            "ongoing", e->ongoing ? Py_True : Py_False, "detected_after", det,
            "kind", aap_episode_kind_name(e->kind), "chain", chain, "class",
            cls, "hint", hint, "thread", thread, "thread_id", tid);
    }
    if (d) {
        rc = PyList_Append(l, d);
    }
    Py_XDECREF(d);
    Py_XDECREF(st);
    Py_XDECREF(site);
    Py_XDECREF(chain);
    Py_XDECREF(thread);
    Py_XDECREF(tid);
    Py_XDECREF(det);
    Py_XDECREF(cls);
    Py_XDECREF(hint);
    return rc;
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
        if (append_episode(l, &v[i]) < 0) {
            Py_CLEAR(l);
        }
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
    probe_thread_note();
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
    {"busy_now", (PyCFunction)loop_busy_now, METH_NOARGS,
     "Loop thread, inside a callback: the busy stretch began now."},
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
