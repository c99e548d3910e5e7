/*
 * _probe.c: the module async_auditor._probe: multi-phase init, per-module
 * state, heap types, the module-level functions (exporter, rendering, the
 * HTTP middleware's entry points, process lifecycle), and probe_raise(),
 * the one place C-library errors become Python exceptions.  The types
 * live in their own files (_probe.h lists them).
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <errno.h>
#include <string.h>

static probe_state *state_of_module(PyObject *m)
{
    return (probe_state *)PyModule_GetState(m);
}

/* The one place C-library errors become Python exceptions. */
PyObject *probe_raise(probe_state *st, int err, int sys_errno,
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

/* ---- module functions ---------------------------------------------- */

/* serve(host, port, debug_blocks=-1) -> {"port", "loopback",
 * "debug_blocks", "grouped", "group_error", "group_dir"}; raises
 * ExporterError. */
static PyObject *mod_serve(PyObject *m, PyObject *args)
{
    aap_exporter_opts opts = {-1};
    aap_exporter_info info;
    const char *host;
    int port, err = 0, rc;

    if (!PyArg_ParseTuple(args, "si|i", &host, &port, &opts.debug_blocks)) {
        return NULL;
    }
    /* the state arena reads the environment once: with the GIL held, so
     * no other thread changes it meanwhile */
    aap_state_prepare();
    Py_BEGIN_ALLOW_THREADS rc =
        aap_exporter_start(host, port, &opts, &info, &err);
    Py_END_ALLOW_THREADS if (rc < 0)
    {
        char what[300];

        snprintf(what, sizeof(what), "%s:%d", host, port);
        return probe_raise(state_of_module(m), rc, err, what);
    }
    return Py_BuildValue(
        "{s:i,s:O,s:O,s:O,s:N,s:s}", "port", info.port, "loopback",
        info.loopback ? Py_True : Py_False, "debug_blocks",
        info.debug_blocks ? Py_True : Py_False, "grouped",
        info.grouped ? Py_True : Py_False, "group_error",
        info.group_errno ? PyUnicode_FromString(strerror(info.group_errno))
                         : Py_NewRef(Py_None),
        "group_dir", info.group_dir);
}

/* stop_serving(leave_group=False) */
static PyObject *mod_stop_serving(PyObject *m, PyObject *args)
{
    int leave = 0;

    (void)m;
    if (!PyArg_ParseTuple(args, "|p", &leave)) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS aap_exporter_stop(leave);
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
}

/* Whether this process's series are exported by a group (a directory
 * of arenas shared by the processes serving one address). */
static PyObject *mod_group_member(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyBool_FromLong(aap_group_member());
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
        return probe_raise(st, rc, 0, "render");
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
    aap_state_prepare();
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
        return probe_raise(state_of_module(m), rc, 0, "after fork");
    }
    Py_RETURN_NONE;
}

/* The stack reader applied to the calling thread (tests compare it with
 * traceback.extract_stack()). */
static PyObject *mod_capture_self(PyObject *m, PyObject *unused)
{
    aap_stack_scratch *scratch;
    aap_stack *st;
    PyObject *l;
    int n, i;

    (void)m;
    (void)unused;
    st = PyMem_Malloc(sizeof(*st));
    scratch = aap_stack_scratch_new();
    if (!st || !scratch) {
        PyMem_Free(st);
        aap_stack_scratch_free(scratch);
        return PyErr_NoMemory();
    }
    n = aap_stack_capture(&probe_layout, (uintptr_t)PyThreadState_Get(), st,
                          scratch);
    aap_stack_scratch_free(scratch);
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
     "serve(host, port, debug_blocks=-1) -> dict; raises ExporterError."},
    {"stop_serving", mod_stop_serving, METH_VARARGS,
     "stop_serving(leave_group=False)."},
    {"serving_port", mod_serving_port, METH_NOARGS, NULL},
    {"group_member", mod_group_member, METH_NOARGS, NULL},
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

    probe_layout_init();
    if (add_type(m, &probe_loop_spec, &st->loop_type) < 0 ||
        add_type(m, &probe_selector_spec, &st->selector_type) < 0 ||
        add_type(m, &probe_lagtimer_spec, &st->lagtimer_type) < 0 ||
        add_type(m, &probe_factory_spec, &st->factory_type) < 0 ||
        add_type(m, &probe_gcwatch_spec, &st->gcwatch_type) < 0 ||
        add_type(m, &probe_httpmw_spec, &st->httpmw_type) < 0 ||
        add_type(m, &probe_httpreq_spec, &st->httpreq_type) < 0 ||
        probe_asgi_exec(st) < 0) {
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
        PyModule_AddIntConstant(m, "stacks_supported",
                                probe_layout.supported) < 0 ||
        PyModule_AddIntConstant(m, "EXEC_DEFAULT", AAP_EXEC_DEFAULT) < 0 ||
        PyModule_AddIntConstant(m, "EXEC_ANYIO", AAP_EXEC_ANYIO) < 0 ||
        PyModule_AddIntConstant(m, "SITES_MAX", AAP_SITES_MAX) < 0 ||
        PyModule_AddIntConstant(m, "EXEC_FN_MAX", AAP_EXEC_FN_MAX) < 0 ||
        probe_culprit_exec(m) < 0 ||
        PyModule_AddFunctions(m, probe_uvloop_methods) < 0) {
        return -1;
    }
    if (probe_ready_exec(m, st) < 0) {
        /* no per-callback timing on this interpreter: loops are judged by
         * stretch, as loops without callback boundaries are */
        PyErr_Clear();
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
    Py_VISIT(st->ready_type);
    Py_VISIT(st->gcwatch_type);
    Py_VISIT(st->httpmw_type);
    Py_VISIT(st->httpreq_type);
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
    Py_CLEAR(st->ready_type);
    Py_CLEAR(st->gcwatch_type);
    Py_CLEAR(st->httpmw_type);
    Py_CLEAR(st->httpreq_type);
    Py_CLEAR(st->asgi_names);
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

struct PyModuleDef probe_module = {
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
