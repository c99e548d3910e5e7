/*
 * _probe_uvloop.c: the module functions that route uvloop's poll and
 * callback switches through the probe (aap_uvhook.c), and the hook that
 * needs the Python API: uvloop enters each callback's context with
 * PyContext_Enter (its handles, timers and protocol methods alike), so
 * each call starts a callback, which lasts until the next one starts or
 * the loop polls: the same boundaries as asyncio's ready queue gives
 * (popleft to popleft).  The hook runs the real function and notes the
 * boundary (a clock read and a few stores), nothing else; the GIL is
 * held, as uvloop holds it there.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

static int hook_context_enter(PyObject *ctx)
{
    aap_uvhook_mark();
    return PyContext_Enter(ctx);
}

/* uvloop_hook_acquire(module) -> None, or the reason (str) the hooks
 * cannot be put into the extension module (uvloop.loop). */
static PyObject *mod_uvloop_hook_acquire(PyObject *m, PyObject *module)
{
    const aap_hook_spec extra[1] = {
        {"PyContext_Enter", (void *)hook_context_enter,
         (void *)PyContext_Enter},
    };
    const char *why = NULL;
    PyModuleDef *def;

    (void)m;
    /* an extension module's definition is static data of its shared
     * object: the address by which its GOT is found */
    def = PyModule_Check(module) ? PyModule_GetDef(module) : NULL;
    if (!def) {
        PyErr_Clear();
        return PyUnicode_FromString("not an extension module");
    }
    if (aap_uvhook_acquire(def, extra, 1, &why) < 0) {
        return PyUnicode_FromString(why ? why : "cannot hook");
    }
    Py_RETURN_NONE;
}

static PyObject *mod_uvloop_hook_release(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    aap_uvhook_release();
    Py_RETURN_NONE;
}

PyMethodDef probe_uvloop_methods[] = {
    {"uvloop_hook_acquire", mod_uvloop_hook_acquire, METH_O,
     "uvloop_hook_acquire(module) -> None or the reason it failed."},
    {"uvloop_hook_release", mod_uvloop_hook_release, METH_NOARGS,
     "Undo one uvloop_hook_acquire()."},
    {NULL, NULL, 0, NULL},
};
