/*
 * _probe_asgireq.c: HttpRequest, one HTTP request through the C ASGI
 * middleware (_probe_asgi.c).
 *
 * It is at once the awaitable the server awaits (it drives the app's
 * coroutine and observes the request when that ends) and the `send` the
 * app is given (it notes the status of http.response.start).
 *
 * An HttpRequest behaves like the coroutine of the Python version: the
 * request starts (scope marked, clock, in-flight gauge, app called) at the
 * first send(None), not when the middleware is called; throw() and
 * close() are forwarded to the app's awaitable the way `await` forwards
 * them; the request is observed exactly once, when the app's awaitable
 * returns or raises (status 500 when it raised before a response start),
 * or when an unfinished request is closed or garbage collected.  The
 * app's return value is handed back to the awaiting caller.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe_asgi.h"

#include <limits.h>

/* ---- exception state ------------------------------------------------ */

typedef struct {
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc;
#else
    PyObject *type, *value, *tb;
#endif
} exc_saved;

static void exc_save(exc_saved *s)
{
#if PY_VERSION_HEX >= 0x030C0000
    s->exc = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&s->type, &s->value, &s->tb);
#endif
}

static void exc_restore(exc_saved *s)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(s->exc);
#else
    PyErr_Restore(s->type, s->value, s->tb);
#endif
}

/* Report the pending exception as the probe's own, never the app's. */
static void report_unraisable(PyObject *obj, const char *what)
{
#if PY_VERSION_HEX >= 0x030D0000
    (void)obj;
    PyErr_FormatUnraisable("async_auditor: %s", what);
#else
    (void)what;
    PyErr_WriteUnraisable(obj);
#endif
}

/* Raise what throw(typ[, val[, tb]]) names, as a coroutine does when it
 * has nothing to delegate the throw to; always NULL. */
static PyObject *raise_thrown(PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : Py_None;
    PyObject *tb = nargs > 2 ? args[2] : Py_None;

    if (tb != Py_None && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError,
                        "throw() third argument must be a traceback object");
        return NULL;
    }
    if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, val);
    } else if (PyExceptionInstance_Check(typ)) {
        if (val != Py_None) {
            PyErr_SetString(
                PyExc_TypeError,
                "instance exception may not have a separate value");
            return NULL;
        }
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    } else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes or instances deriving from "
                     "BaseException, not %s",
                     Py_TYPE(typ)->tp_name);
        return NULL;
    }
    if (tb != Py_None) {
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *exc = PyErr_GetRaisedException();

        PyException_SetTraceback(exc, tb);
        PyErr_SetRaisedException(exc);
#else
        PyObject *t, *v, *old;

        PyErr_Fetch(&t, &v, &old);
        PyErr_NormalizeException(&t, &v, &old);
        if (v) {
            PyException_SetTraceback(v, tb);
        }
        Py_XDECREF(old);
        PyErr_Restore(t, v, Py_NewRef(tb));
#endif
    }
    return NULL;
}

/* StopIteration carrying v, whatever v is (a tuple, an exception). */
static void set_stop_iteration(PyObject *v)
{
    PyObject *e;

    if (v == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
        return;
    }
    e = PyObject_CallOneArg(PyExc_StopIteration, v);
    if (e) {
        PyErr_SetObject(PyExc_StopIteration, e);
        Py_DECREF(e);
    }
}

/* ---- awaiting ------------------------------------------------------- */

static int is_iterable_coroutine(probe_state *st, PyObject *o)
{
    PyObject *code;
    int yes;

    if (!PyGen_CheckExact(o)) {
        return 0;
    }
    code = PyObject_GetAttr(o, NAME(st, N_GI_CODE));
    if (!code) {
        PyErr_Clear();
        return 0;
    }
    yes = PyCode_Check(code) &&
          (((PyCodeObject *)code)->co_flags & CO_ITERABLE_COROUTINE);
    Py_DECREF(code);
    return yes;
}

/* The iterator `await aw` drives (aw itself for a coroutine, else what
 * its __await__ returns), taking aw's reference; NULL with await's
 * TypeError when aw cannot be awaited. */
static PyObject *await_iter(probe_state *st, PyObject *aw)
{
    PyAsyncMethods *am = Py_TYPE(aw)->tp_as_async;
    PyObject *it;

    if (PyCoro_CheckExact(aw) || is_iterable_coroutine(st, aw)) {
        return aw;
    }
    if (!am || !am->am_await) {
        PyErr_Format(PyExc_TypeError,
                     "object %.100s can't be used in 'await' expression",
                     Py_TYPE(aw)->tp_name);
        Py_DECREF(aw);
        return NULL;
    }
    it = am->am_await(aw);
    Py_DECREF(aw);
    if (it && PyCoro_CheckExact(it)) {
        PyErr_SetString(PyExc_TypeError, "__await__() returned a coroutine");
        Py_CLEAR(it);
    } else if (it && !PyIter_Check(it)) {
        PyErr_Format(PyExc_TypeError,
                     "__await__() returned non-iterator of type '%.100s'",
                     Py_TYPE(it)->tp_name);
        Py_CLEAR(it);
    }
    return it;
}

/* Close what `await` was driving as a coroutine's close() does: its own
 * close(), if it has one; 0, or -1 with its exception. */
static int close_iter(probe_state *st, PyObject *it)
{
    PyObject *meth = PyObject_GetAttr(it, NAME(st, N_CLOSE)), *r;

    if (!meth) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            report_unraisable(it, "closing an ASGI app's awaitable");
        }
        PyErr_Clear();
        return 0;
    }
    r = PyObject_CallNoArgs(meth);
    Py_DECREF(meth);
    if (!r) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* ---- HttpRequest ---------------------------------------------------- */

enum { REQ_NEW, REQ_RUNNING, REQ_DONE };

typedef struct {
    PyObject_HEAD vectorcallfunc vectorcall;
    MwObject *mw;
    probe_state *st;
    PyObject *scope;
    PyObject *receive; /* until the app is called */
    PyObject *send;
    PyObject *iter;   /* the app's awaitable while the request runs */
    PyObject *status; /* message["status"] of the last response start */
    uint64_t start;
    int state;
    int running; /* inside the app's awaitable: no re-entry */
} ReqObject;

/* The wrapped send(message): notes the status of a response start and
 * returns the server's send(message) awaitable. */
static PyObject *req_vectorcall(PyObject *obj, PyObject *const *args,
                                size_t nargsf, PyObject *kwnames)
{
    ReqObject *self = (ReqObject *)obj;
    probe_state *st = self->st;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *message, *t;
    int start;

    if (kwnames) {
        if (nargs != 0 || PyTuple_GET_SIZE(kwnames) != 1 ||
            probe_asgi_str_eq(PyTuple_GET_ITEM(kwnames, 0),
                              NAME(st, N_MESSAGE)) != 1) {
            goto usage;
        }
        nargsf = 1;
    } else if (nargs != 1) {
        goto usage;
    }
    message = args[0];
    t = probe_asgi_item(message, NAME(st, N_TYPE));
    if (!t) {
        return NULL;
    }
    start = probe_asgi_str_eq(t, NAME(st, N_START));
    Py_DECREF(t);
    if (start < 0) {
        return NULL;
    }
    if (start && !self->status) {
        /* ASGI allows one start: a later one (an error handler's 500
         * after the response began) is refused by the server and is not
         * the status the client got */
        self->status = probe_asgi_item(message, NAME(st, N_STATUS));
        if (!self->status) {
            return NULL;
        }
    }
    if (!self->send) {
        PyErr_SetString(PyExc_RuntimeError, "the request was cleared");
        return NULL;
    }
    return PyObject_Vectorcall(self->send, args, nargsf, NULL);

usage:
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_TypeError,
                        "send() takes exactly one argument (message)");
    }
    return NULL;
}

/* The label text of o, which must be a str without NUL characters (the
 * conversion http_observe() makes); NULL with an exception. */
static const char *label_text(PyObject *o)
{
    Py_ssize_t n;
    const char *s;

    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "a label must be str, not %.50s",
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    s = PyUnicode_AsUTF8AndSize(o, &n);
    if (s && strlen(s) != (size_t)n) {
        PyErr_SetString(PyExc_ValueError, "embedded null character");
        return NULL;
    }
    return s;
}

/* The route template of scope["route"] (a router's route whose
 * path_format is a non-empty str), else NULL without an exception: then
 * the Python fallback decides, the same way for every other case. */
static PyObject *router_template(probe_state *st, PyObject *scope)
{
    PyObject *route =
                 probe_asgi_scope_get(st, scope, NAME(st, N_ROUTE), Py_None),
             *p;

    if (!route || route == Py_None) {
        Py_XDECREF(route);
        PyErr_Clear();
        return NULL;
    }
    p = PyObject_GetAttr(route, NAME(st, N_PATH_FORMAT));
    Py_DECREF(route);
    if (!p) {
        PyErr_Clear();
        return NULL;
    }
    if (PyUnicode_Check(p) && PyUnicode_GET_LENGTH(p) > 0) {
        return p;
    }
    Py_DECREF(p);
    return NULL;
}

/* Observe the ended request with the labels the Python version gave it:
 * scope.get("method", ""), the route, and the status (500 when it failed
 * before a response start).  0, or -1 with an exception and nothing
 * observed (the labels could not be had). */
static int req_observe(ReqObject *self, int failed, uint64_t ns)
{
    probe_state *st = self->st;
    PyObject *method = NULL, *route = NULL, *status = NULL;
    const char *m, *r;
    long code;
    int rc = -1;

    if (!st->asgi_names || !self->scope) {
        return 0; /* the module is being torn down */
    }
    if (failed) {
        int zero = 1;

        if (self->status) {
            PyObject *z = PyLong_FromLong(0);

            zero = z ? PyObject_RichCompareBool(self->status, z, Py_EQ) : -1;
            Py_XDECREF(z);
            if (zero < 0) {
                return -1;
            }
        }
        status = zero ? PyLong_FromLong(500) : Py_NewRef(self->status);
    } else {
        status = self->status ? Py_NewRef(self->status) : PyLong_FromLong(0);
    }
    if (!status) {
        return -1;
    }
    method = probe_asgi_scope_get(st, self->scope, NAME(st, N_METHOD),
                                  NAME(st, N_EMPTY));
    if (!method) {
        goto out;
    }
    route = router_template(st, self->scope);
    if (!route) {
        PyObject *stack[3] = {(PyObject *)self->mw, self->scope, status};

        route = PyObject_Vectorcall(self->mw->route, stack, 3, NULL);
        if (!route) {
            goto out;
        }
    }
    m = label_text(method);
    r = m ? label_text(route) : NULL;
    if (!r) {
        goto out;
    }
    code = PyLong_AsLong(status);
    if (code == -1 && PyErr_Occurred()) {
        goto out;
    }
    if (code < INT_MIN || code > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "status is out of range");
        goto out;
    }
    aap_http_observe(m, r, (int)code, ns);
    rc = 0;
out:
    Py_XDECREF(method);
    Py_XDECREF(route);
    Py_DECREF(status);
    return rc;
}

/* The request ended (failed: the app's awaitable raised, or was closed):
 * end it for the in-flight gauge and observe it, once; the pending
 * exception, the app's own, is kept. */
static void req_finish(ReqObject *self, int failed)
{
    exc_saved saved;
    uint64_t ns;

    if (self->state != REQ_RUNNING) {
        return;
    }
    self->state = REQ_DONE;
    ns = aap_now_ns() - self->start;
    aap_http_active_add(-1);
    exc_save(&saved);
    if (req_observe(self, failed, ns) < 0) {
        report_unraisable((PyObject *)self, "observing an HTTP request");
    }
    Py_CLEAR(self->iter);
    Py_CLEAR(self->scope);
    exc_restore(&saved);
}

/* Start the request, where the Python version's coroutine began: mark the
 * scope, start the clock and the gauge, call the app.  0, or -1 with an
 * exception (the request then has ended). */
static int req_begin(ReqObject *self)
{
    probe_state *st = self->st;
    PyObject *receive = self->receive, *app, *aw;

    self->receive = NULL;
    self->state = REQ_DONE;
    if (PyObject_SetItem(self->scope, NAME(st, N_SEEN), Py_True) < 0) {
        Py_DECREF(receive);
        return -1;
    }
    self->start = aap_now_ns();
    aap_http_active_add(1);
    self->state = REQ_RUNNING;
    app = self->mw->app;
    if (!app) {
        PyErr_SetString(PyExc_AttributeError, "app");
        aw = NULL;
    } else {
        PyObject *stack[3] = {self->scope, receive, (PyObject *)self};

        Py_INCREF(app);
        aw = PyObject_Vectorcall(app, stack, 3, NULL);
        Py_DECREF(app);
    }
    Py_DECREF(receive);
    self->iter = aw ? await_iter(st, aw) : NULL;
    if (!self->iter) {
        req_finish(self, 1);
        return -1;
    }
    return 0;
}

static int req_enter(ReqObject *self)
{
    if (self->running) {
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return -1;
    }
    self->running = 1;
    return 0;
}

static PySendResult req_am_send(PyObject *obj, PyObject *arg,
                                PyObject **result)
{
    ReqObject *self = (ReqObject *)obj;
    PySendResult r;

    *result = NULL;
    if (self->state == REQ_DONE) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot reuse already awaited coroutine");
        return PYGEN_ERROR;
    }
    if (req_enter(self) < 0) {
        return PYGEN_ERROR;
    }
    if (self->state == REQ_NEW) {
        if (arg != Py_None) {
            self->running = 0;
            PyErr_SetString(PyExc_TypeError, "can't send non-None value to a "
                                             "just-started coroutine");
            return PYGEN_ERROR;
        }
        if (req_begin(self) < 0) {
            self->running = 0;
            return PYGEN_ERROR;
        }
    }
    r = PyIter_Send(self->iter, arg, result);
    self->running = 0;
    if (r != PYGEN_NEXT) {
        req_finish(self, r == PYGEN_ERROR);
    }
    return r;
}

static PyObject *req_iternext(PyObject *obj)
{
    PyObject *res;

    switch (req_am_send(obj, Py_None, &res)) {
    case PYGEN_NEXT:
        return res;
    case PYGEN_RETURN:
        if (res != Py_None) {
            set_stop_iteration(res);
        }
        Py_DECREF(res);
        return NULL;
    default:
        return NULL;
    }
}

static PyObject *req_send(PyObject *obj, PyObject *arg)
{
    PyObject *res;

    switch (req_am_send(obj, arg, &res)) {
    case PYGEN_NEXT:
        return res;
    case PYGEN_RETURN:
        set_stop_iteration(res);
        Py_DECREF(res);
        return NULL;
    default:
        return NULL;
    }
}

/* throw(typ[, val[, tb]]): into the app's awaitable, as `await` forwards
 * it; GeneratorExit closes the awaitable and is raised here. */
static PyObject *req_throw(PyObject *obj, PyObject *const *args,
                           Py_ssize_t nargs)
{
    ReqObject *self = (ReqObject *)obj;
    probe_state *st = self->st;
    PyObject *meth, *res;
    int failed;

    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "throw expected between 1 and 3 arguments, got %zd",
                     nargs);
        return NULL;
    }
    if (self->state != REQ_RUNNING && !self->running) {
        /* not started: raised before the middleware does anything, as in
         * a coroutine that never ran */
        self->state = REQ_DONE;
        Py_CLEAR(self->receive);
        return raise_thrown(args, nargs);
    }
    if (req_enter(self) < 0) {
        return NULL;
    }
    if (PyErr_GivenExceptionMatches(args[0], PyExc_GeneratorExit)) {
        if (close_iter(st, self->iter) == 0) {
            raise_thrown(args, nargs);
        }
        self->running = 0;
        req_finish(self, 1);
        return NULL;
    }
    meth = PyObject_GetAttr(self->iter, NAME(st, N_THROW));
    if (!meth) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            raise_thrown(args, nargs);
        }
        self->running = 0;
        req_finish(self, 1);
        return NULL;
    }
    res = PyObject_Vectorcall(meth, args, nargs, NULL);
    Py_DECREF(meth);
    self->running = 0;
    if (res) {
        return res;
    }
    if (!PyErr_Occurred()) {
        PyErr_SetNone(PyExc_StopIteration);
    }
    failed = !PyErr_ExceptionMatches(PyExc_StopIteration);
    req_finish(self, failed);
    return NULL;
}

/* close(): closes the app's awaitable; the request ends as failed (the
 * Python version saw GeneratorExit).  An unstarted request just ends. */
static PyObject *req_close(PyObject *obj, PyObject *unused)
{
    ReqObject *self = (ReqObject *)obj;
    int err;

    (void)unused;
    if (self->state == REQ_NEW) {
        self->state = REQ_DONE;
        Py_CLEAR(self->receive);
    }
    if (self->state == REQ_DONE) {
        Py_RETURN_NONE;
    }
    if (req_enter(self) < 0) {
        return NULL;
    }
    err = close_iter(self->st, self->iter);
    self->running = 0;
    req_finish(self, 1);
    if (err < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *req_await(PyObject *obj)
{
    return Py_NewRef(obj);
}

/* An unfinished request being collected ends as a coroutine does: a
 * started one is closed (and observed), an unstarted one warns that it
 * was never awaited. */
static void req_finalize(PyObject *obj)
{
    ReqObject *self = (ReqObject *)obj;
    exc_saved saved;
    PyObject *r;

    if (self->state == REQ_DONE) {
        return;
    }
    if (!self->st->asgi_names) {
        if (self->state == REQ_RUNNING) {
            aap_http_active_add(-1);
        }
        self->state = REQ_DONE;
        return;
    }
    exc_save(&saved);
    if (self->state == REQ_NEW) {
        self->state = REQ_DONE;
        if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                             "coroutine '%s.__call__' was never awaited",
                             self->mw ? Py_TYPE(self->mw)->tp_name
                                      : "HttpMiddleware") < 0) {
            report_unraisable(obj, "warning of an unawaited request");
        }
    } else {
        r = req_close(obj, NULL);
        if (!r) {
            report_unraisable(obj, "closing an abandoned HTTP request");
        }
        Py_XDECREF(r);
        if (self->state == REQ_RUNNING) {
            /* closing was refused (re-entered): still end the gauge */
            self->state = REQ_DONE;
            aap_http_active_add(-1);
        }
    }
    exc_restore(&saved);
}

static int req_traverse(PyObject *obj, visitproc visit, void *arg)
{
    ReqObject *self = (ReqObject *)obj;

    Py_VISIT(Py_TYPE(obj));
    Py_VISIT(self->mw);
    Py_VISIT(self->scope);
    Py_VISIT(self->receive);
    Py_VISIT(self->send);
    Py_VISIT(self->iter);
    Py_VISIT(self->status);
    return 0;
}

static int req_clear(PyObject *obj)
{
    ReqObject *self = (ReqObject *)obj;

    Py_CLEAR(self->mw);
    Py_CLEAR(self->scope);
    Py_CLEAR(self->receive);
    Py_CLEAR(self->send);
    Py_CLEAR(self->iter);
    Py_CLEAR(self->status);
    return 0;
}

static void req_dealloc(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);

    if (PyObject_CallFinalizerFromDealloc(obj) < 0) {
        return; /* resurrected by its finalizer */
    }
    PyObject_GC_UnTrack(obj);
    req_clear(obj);
    tp->tp_free(obj);
    Py_DECREF(tp);
}

static PyMethodDef req_methods[] = {
    {"send", req_send, METH_O,
     "send(value): into the app's awaitable; the first starts the request."},
    {"throw", (PyCFunction)(void (*)(void))req_throw, METH_FASTCALL,
     "throw(value) or throw(type[, value[, traceback]]): into the app's "
     "awaitable."},
    {"close", req_close, METH_NOARGS,
     "close(): close the app's awaitable; the request ends."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef req_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(ReqObject, vectorcall),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot req_slots[] = {
    {Py_tp_call, PyVectorcall_Call},
    {Py_am_await, req_await},
    {Py_am_send, req_am_send},
    {Py_tp_iternext, req_iternext},
    {Py_tp_methods, req_methods},
    {Py_tp_members, req_members},
    {Py_tp_traverse, req_traverse},
    {Py_tp_clear, req_clear},
    {Py_tp_finalize, req_finalize},
    {Py_tp_dealloc, req_dealloc},
    {Py_tp_doc,
     "One HTTP request through HttpMiddleware: the awaitable its call "
     "returns, and the send the app is given."},
    {0, NULL},
};

PyType_Spec probe_httpreq_spec = {
    "async_auditor._probe.HttpRequest",
    sizeof(ReqObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
        Py_TPFLAGS_DISALLOW_INSTANTIATION,
    req_slots,
};

PyObject *probe_httpreq_new(MwObject *mw, PyObject *const *args)
{
    probe_state *st = mw->st;
    ReqObject *req;

    req = PyObject_GC_New(ReqObject, st->httpreq_type);
    if (!req) {
        return NULL;
    }
    req->vectorcall = req_vectorcall;
    req->mw = (MwObject *)Py_NewRef(mw);
    req->st = st;
    req->scope = Py_NewRef(args[0]);
    req->receive = Py_NewRef(args[1]);
    req->send = Py_NewRef(args[2]);
    req->iter = NULL;
    req->status = NULL;
    req->start = 0;
    req->state = REQ_NEW;
    req->running = 0;
    PyObject_GC_Track(req);
    return (PyObject *)req;
}
