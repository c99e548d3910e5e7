/*
 * _probe_asgi.c: the ASGI middleware's base type, HttpMiddleware, in C
 * (async_auditor.asgi.MetricsMiddleware subclasses it).
 *
 * Why: written as an `async def __call__` with a send closure, the
 * middleware cost about 14 k instructions per request, well over the
 * probe's budget of 1 % of a small FastAPI request.  Its call checks the
 * scope and returns one HttpRequest per HTTP request (_probe_asgireq.c),
 * or the app's own awaitable for scopes it does not observe (not HTTP,
 * or already observed by an outer MetricsMiddleware).  No Python frame
 * runs per request unless the route is not a router's template; then
 * the Python MetricsMiddleware._route labels it.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe_asgi.h"

static const char *const name_text[N_COUNT] = {
    "type",
    "http",
    "async_auditor.observed", /* asgi.py's SEEN_KEY */
    "http.response.start",
    "status",
    "route",
    "path_format",
    "method",
    "",
    "get",
    "throw",
    "close",
    "gi_code",
    "message",
};

int probe_asgi_exec(probe_state *st)
{
    PyObject *t = PyTuple_New(N_COUNT);
    int i;

    if (!t) {
        return -1;
    }
    for (i = 0; i < N_COUNT; i++) {
        PyObject *s = PyUnicode_InternFromString(name_text[i]);

        if (!s) {
            Py_DECREF(t);
            return -1;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    st->asgi_names = t;
    return 0;
}

/* ---- HttpMiddleware ------------------------------------------------- */

/* 1 when the middleware observes this scope (an HTTP request no outer
 * MetricsMiddleware took), 0 when it passes it through, -1 on error. */
static int observed_scope(probe_state *st, PyObject *scope)
{
    PyObject *t = probe_asgi_item(scope, NAME(st, N_TYPE));
    int http;

    if (!t) {
        return -1;
    }
    http = probe_asgi_str_eq(t, NAME(st, N_HTTP));
    Py_DECREF(t);
    if (http <= 0) {
        return http;
    }
    http = PySequence_Contains(scope, NAME(st, N_SEEN));
    return http < 0 ? -1 : !http;
}

/* The middleware's call, (scope, receive, send) in args[0..2]. */
static PyObject *mw_call3(MwObject *self, PyObject *const *args)
{
    probe_state *st = self->st;
    int observe;

    if (!self->app || !self->route || !st->asgi_names) {
        PyErr_SetString(PyExc_TypeError,
                        "HttpMiddleware.__init__() was not called");
        return NULL;
    }
    observe = observed_scope(st, args[0]);
    if (observe < 0) {
        return NULL;
    }
    if (!observe) {
        PyObject *app = Py_NewRef(self->app), *r;

        r = PyObject_Vectorcall(app, args, 3, NULL);
        Py_DECREF(app);
        return r;
    }
    return probe_httpreq_new(self, args);
}

/* The middleware's call with any arguments: (scope, receive, send),
 * positional or by keyword. */
static PyObject *mw_vectorcall(PyObject *obj, PyObject *const *args,
                               size_t nargsf, PyObject *kwnames)
{
    static char *kwlist[] = {"scope", "receive", "send", NULL};
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), nkw, i;
    PyObject *t, *kw = NULL, *r = NULL, *a[3];

    if (!kwnames && nargs == 3) {
        return mw_call3((MwObject *)obj, args);
    }
    nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    t = PyTuple_New(nargs);
    for (i = 0; t && i < nargs; i++) {
        PyTuple_SET_ITEM(t, i, Py_NewRef(args[i]));
    }
    kw = t && nkw ? PyDict_New() : NULL;
    for (i = 0; kw && i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);

        if (PyDict_SetItem(kw, name, args[nargs + i]) < 0) {
            Py_CLEAR(kw);
        }
    }
    if (t && (kw || !nkw) &&
        PyArg_ParseTupleAndKeywords(t, kw, "OOO:__call__", kwlist, &a[0],
                                    &a[1], &a[2])) {
        r = mw_call3((MwObject *)obj, a);
    }
    Py_XDECREF(t);
    Py_XDECREF(kw);
    return r;
}

static PyObject *mw_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    PyObject *m = PyType_GetModuleByDef(type, &probe_module);
    MwObject *self;

    (void)args;
    (void)kw;
    if (!m) {
        return NULL;
    }
    self = (MwObject *)type->tp_alloc(type, 0);
    if (self) {
        self->vectorcall = mw_vectorcall;
        self->st = PyModule_GetState(m);
    }
    return (PyObject *)self;
}

static int mw_init(PyObject *obj, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"app", "route", NULL};
    MwObject *self = (MwObject *)obj;
    PyObject *app, *route;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:HttpMiddleware", kwlist,
                                     &app, &route)) {
        return -1;
    }
    if (!PyCallable_Check(route)) {
        PyErr_SetString(PyExc_TypeError, "route must be callable");
        return -1;
    }
    Py_XSETREF(self->app, Py_NewRef(app));
    Py_XSETREF(self->route, Py_NewRef(route));
    return 0;
}

static int mw_traverse(PyObject *obj, visitproc visit, void *arg)
{
    MwObject *self = (MwObject *)obj;

    Py_VISIT(Py_TYPE(obj));
    Py_VISIT(self->app);
    Py_VISIT(self->route);
    return 0;
}

static int mw_clear(PyObject *obj)
{
    MwObject *self = (MwObject *)obj;

    Py_CLEAR(self->app);
    Py_CLEAR(self->route);
    return 0;
}

static void mw_dealloc(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);

    PyObject_GC_UnTrack(obj);
    mw_clear(obj);
    tp->tp_free(obj);
    Py_DECREF(tp);
}

static PyMemberDef mw_members[] = {
    {"app", T_OBJECT_EX, offsetof(MwObject, app), 0,
     "The wrapped ASGI application."},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(MwObject, vectorcall),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot mw_slots[] = {
    {Py_tp_new, mw_new},
    {Py_tp_init, mw_init},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_traverse, mw_traverse},
    {Py_tp_clear, mw_clear},
    {Py_tp_dealloc, mw_dealloc},
    {Py_tp_members, mw_members},
    {Py_tp_doc,
     "HttpMiddleware(app, route): the C base of MetricsMiddleware.  Calling "
     "it with (scope, receive, send) returns app(scope, receive, send) for "
     "scopes it does not observe, else an HttpRequest to await.  "
     "route(self, scope, status) -> str labels requests whose "
     "scope['route'] has no path_format."},
    {0, NULL},
};

PyType_Spec probe_httpmw_spec = {
    "async_auditor._probe.HttpMiddleware",
    sizeof(MwObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC |
        Py_TPFLAGS_HAVE_VECTORCALL,
    mw_slots,
};
