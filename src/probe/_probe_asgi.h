/*
 * _probe_asgi.h: what the two files of the C ASGI middleware share: the
 * middleware object (_probe_asgi.c), which makes one request object per
 * HTTP request (_probe_asgireq.c), the interned names both look up, and
 * the scope and message lookups they both do.
 */
#ifndef PROBE_ASGI_H
#define PROBE_ASGI_H

#include "_probe.h"

#include <string.h>

/* the interned names of probe_state.asgi_names */
enum {
    N_TYPE,
    N_HTTP,
    N_SEEN,
    N_START,
    N_STATUS,
    N_ROUTE,
    N_PATH_FORMAT,
    N_METHOD,
    N_EMPTY,
    N_GET,
    N_THROW,
    N_CLOSE,
    N_GI_CODE,
    N_MESSAGE,
    N_COUNT
};

#define NAME(st, i) PyTuple_GET_ITEM((st)->asgi_names, (i))

typedef struct {
    PyObject_HEAD vectorcallfunc vectorcall;
    PyObject *app;
    PyObject *route; /* route(self, scope, status) -> str, the fallback */
    probe_state *st;
} MwObject;

/* One HTTP request through middleware mw, for (scope, receive, send) in
 * args[0..2]: the awaitable the server awaits and the send the app gets
 * (_probe_asgireq.c); NULL with an exception. */
PyObject *probe_httpreq_new(MwObject *mw, PyObject *const *args);

/* o == name (an interned str): by identity or by content for a str,
 * without the generic comparison; -1 with an exception. */
static inline int probe_asgi_str_eq(PyObject *o, PyObject *name)
{
    Py_ssize_t n;

    if (o == name) {
        return 1;
    }
    if (!PyUnicode_CheckExact(o)) {
        return PyObject_RichCompareBool(o, name, Py_EQ);
    }
    n = PyUnicode_GET_LENGTH(o);
    return n == PyUnicode_GET_LENGTH(name) &&
           PyUnicode_KIND(o) == PyUnicode_KIND(name) &&
           memcmp(PyUnicode_DATA(o), PyUnicode_DATA(name),
                  (size_t)n * PyUnicode_KIND(o)) == 0;
}

/* o[key] as a new reference, o usually a dict; NULL with an exception. */
static inline PyObject *probe_asgi_item(PyObject *o, PyObject *key)
{
    PyObject *v;

    if (!PyDict_CheckExact(o)) {
        return PyObject_GetItem(o, key);
    }
    v = PyDict_GetItemWithError(o, key);
    if (v) {
        return Py_NewRef(v);
    }
    if (!PyErr_Occurred()) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    return NULL;
}

/* scope.get(key, dflt) as a new reference; NULL with an exception. */
static inline PyObject *probe_asgi_scope_get(probe_state *st, PyObject *scope,
                                             PyObject *key, PyObject *dflt)
{
    PyObject *v;

    if (!PyDict_CheckExact(scope)) {
        return PyObject_CallMethodObjArgs(scope, NAME(st, N_GET), key, dflt,
                                          NULL);
    }
    v = PyDict_GetItemWithError(scope, key);
    if (!v && PyErr_Occurred()) {
        return NULL;
    }
    return Py_NewRef(v ? v : dflt);
}

#endif
