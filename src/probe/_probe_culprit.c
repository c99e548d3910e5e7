/*
 * _probe_culprit.c: the Python side of culprit naming.  The in-app rules
 * the Python layer computes (python/async_auditor/_inapp.py) become an
 * aap_inapp_rules table here; executor worker threads record their names
 * for the GIL-contention report (the kernel's name of a thread is the
 * executable's before 3.14); and the module exposes the stack support
 * status, the rule kinds and the class table (name and remedy of every
 * culprit class, kept once in aap_culprit.c).
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <sys/syscall.h>
#include <unistd.h>

int probe_inapp_fill(aap_inapp_rules *r, PyObject *seq)
{
    PyObject *fast;
    Py_ssize_t i, n;
    int rc = 0;

    if (!seq || seq == Py_None) {
        return 0;
    }
    fast = PySequence_Fast(seq, "in-app rules must be a sequence");
    if (!fast) {
        return -1;
    }
    n = PySequence_Fast_GET_SIZE(fast);
    for (i = 0; i < n && rc == 0; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        const char *prefix;
        int kind, root, e;

        if (!PyArg_ParseTuple(item, "sii;in-app rule: (prefix, kind, root)",
                              &prefix, &kind, &root)) {
            rc = -1;
        } else if ((e = aap_inapp_add(r, prefix, kind, root)) < 0) {
            PyErr_Format(PyExc_ValueError, "in-app rule %R: %s", item,
                         aap_strerror(e));
            rc = -1;
        }
    }
    Py_DECREF(fast);
    return rc;
}

static _Thread_local int thread_noted;

static void thread_name_store(long tid, PyObject *name)
{
    PyObject *b = PyUnicode_AsEncodedString(name, "utf-8", "backslashreplace");

    if (b) {
        aap_thread_name_set(tid, PyBytes_AS_STRING(b));
        Py_DECREF(b);
    }
}

void probe_thread_note(void)
{
    PyObject *mod, *t = NULL, *name = NULL;

    if (thread_noted) {
        return;
    }
    thread_noted = 1;
    mod = PyImport_ImportModule("threading");
    if (mod) {
        t = PyObject_CallMethod(mod, "current_thread", NULL);
        Py_DECREF(mod);
    }
    if (t) {
        name = PyObject_GetAttrString(t, "name");
        Py_DECREF(t);
    }
    if (name && PyUnicode_Check(name)) {
        thread_name_store((long)syscall(SYS_gettid), name);
    }
    Py_XDECREF(name);
    PyErr_Clear();
}

/* thread_name_set(native_id, name): the name a thread is reported by. */
static PyObject *mod_thread_name_set(PyObject *m, PyObject *args)
{
    long tid;
    PyObject *name;

    (void)m;
    if (!PyArg_ParseTuple(args, "lU", &tid, &name)) {
        return NULL;
    }
    thread_name_store(tid, name);
    Py_RETURN_NONE;
}

/* culprit_classes() -> {class: remedy}: every class the probe names. */
static PyObject *mod_culprit_classes(PyObject *m, PyObject *unused)
{
    PyObject *d = PyDict_New();
    int c;

    (void)m;
    (void)unused;
    for (c = 1; d && c < AAP_CLASS_N; c++) {
        PyObject *hint = PyUnicode_FromString(aap_class_hint(c));

        if (!hint || PyDict_SetItemString(d, aap_class_name(c), hint) < 0) {
            Py_XDECREF(hint);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(hint);
    }
    return d;
}

static PyMethodDef culprit_methods[] = {
    {"thread_name_set", mod_thread_name_set, METH_VARARGS,
     "thread_name_set(native_id, name): name a thread for GIL reports."},
    {"culprit_classes", mod_culprit_classes, METH_NOARGS,
     "{class: one-line remedy} of every culprit class."},
    {NULL, NULL, 0, NULL},
};

int probe_culprit_exec(PyObject *m)
{
    PyObject *reason = probe_layout_reason
                           ? PyUnicode_FromString(probe_layout_reason)
                           : Py_NewRef(Py_None);

    if (!reason ||
        PyModule_AddObjectRef(m, "stacks_unsupported_reason", reason) < 0) {
        Py_XDECREF(reason);
        return -1;
    }
    Py_DECREF(reason);
    if (PyModule_AddStringConstant(m, "stacks_layout_source",
                                   probe_layout_source) < 0 ||
        PyModule_AddIntConstant(m, "INAPP_APP", AAP_PATH_APP) < 0 ||
        PyModule_AddIntConstant(m, "INAPP_LIBRARY", AAP_PATH_LIBRARY) < 0 ||
        PyModule_AddIntConstant(m, "INAPP_STDLIB", AAP_PATH_STDLIB) < 0 ||
        PyModule_AddIntConstant(m, "INAPP_MACHINERY", AAP_PATH_MACHINERY) <
            0 ||
        PyModule_AddIntConstant(m, "INAPP_ROOT", AAP_PATH_ROOT) < 0 ||
        PyModule_AddIntConstant(m, "INAPP_RULES_MAX", AAP_INAPP_RULES_MAX) <
            0 ||
        PyModule_AddIntConstant(m, "FILE_MAX", AAP_FILE_MAX) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, culprit_methods);
}
