/*
 * _probe_snapshot.c: a loop's C state as Python values, for
 * Probe.snapshot() (every value keyed by metric name, labelled ones as
 * dicts) and Probe.blocks() (the recent episodes as dicts).  Text from
 * the C side is UTF-8 already; it is decoded with replacement anyway, so
 * a name from the interpreter never makes either raise.
 */
#define PY_SSIZE_T_CLEAN
#include "_probe.h"

#include <string.h>

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

static PyObject *culprit_info(const char *chain_text, int cls);

/* {site: {"chain", "class", "hint"}} of the live site slots. */
static PyObject *site_info(const aap_site_value *sites, size_t n)
{
    PyObject *d = PyDict_New();
    size_t i;

    for (i = 0; d && i < n; i++) {
        PyObject *v = culprit_info(sites[i].chain, sites[i].cls);

        if (set_text_key(d, sites[i].site, v) < 0) {
            Py_CLEAR(d);
        }
    }
    return d;
}

/* {"chain", "class", "hint"} of a culprit. */
static PyObject *culprit_info(const char *chain_text, int cls)
{
    PyObject *chain = text(chain_text), *v;

    if (!chain) {
        return NULL;
    }
    v = Py_BuildValue("{s:O,s:s,s:s}", "chain", chain, "class",
                      aap_class_name(cls), "hint", aap_class_hint(cls));
    Py_DECREF(chain);
    return v;
}

/* Into d and info: {(thread, site): seconds} and {(thread, site): {chain,
 * class, hint}} of the GIL holders the loop waited for; -1 with an
 * exception. */
static int gil_holders(aap_loop *L, PyObject *d, PyObject *info)
{
    aap_gil_holder_value *v;
    size_t n, i;
    int rc = 0;

    v = PyMem_Calloc(AAP_GIL_HOLDERS_MAX + 1, sizeof(*v));
    if (!v) {
        PyErr_NoMemory();
        return -1;
    }
    aap_loop_gil_holders(L, v, AAP_GIL_HOLDERS_MAX + 1, &n);
    for (i = 0; rc == 0 && i < n; i++) {
        PyObject *t = text(v[i].thread), *site = text(v[i].site);
        PyObject *k = t && site ? PyTuple_Pack(2, t, site) : NULL;
        PyObject *s = PyFloat_FromDouble(v[i].seconds);
        PyObject *ci = culprit_info(v[i].chain, v[i].cls);

        if (!k || !s || !ci || PyDict_SetItem(d, k, s) < 0 ||
            (strcmp(v[i].thread, "other") != 0 &&
             PyDict_SetItem(info, k, ci) < 0)) {
            rc = -1;
        }
        Py_XDECREF(t);
        Py_XDECREF(site);
        Py_XDECREF(k);
        Py_XDECREF(s);
        Py_XDECREF(ci);
    }
    PyMem_Free(v);
    return rc;
}

/* The pool function tables as three dicts keyed (executor, function,
 * site) (site None when the function has none): run seconds, wait
 * seconds, calls.  -1 with an exception. */
static int exec_fns(aap_loop *L, PyObject *run, PyObject *wait,
                    PyObject *calls)
{
    static const char *names[AAP_EXEC_N] = {"default", "anyio"};
    size_t max = AAP_EXEC_N * (AAP_EXEC_FN_MAX + 1), n, i;
    aap_exec_fn_value *v = PyMem_Calloc(max, sizeof(*v));
    int rc = 0;

    if (!v) {
        PyErr_NoMemory();
        return -1;
    }
    aap_loop_exec_fns(L, v, max, &n);
    for (i = 0; rc == 0 && i < n; i++) {
        PyObject *fn = text(v[i].function);
        PyObject *site = v[i].site[0] ? text(v[i].site) : Py_NewRef(Py_None);
        PyObject *k = fn && site
                          ? Py_BuildValue("(sOO)", names[v[i].which], fn, site)
                          : NULL;
        PyObject *a = PyFloat_FromDouble(v[i].run);
        PyObject *b = PyFloat_FromDouble(v[i].wait);
        PyObject *c = PyLong_FromUnsignedLongLong(v[i].calls);

        if (!k || !a || !b || !c || PyDict_SetItem(run, k, a) < 0 ||
            PyDict_SetItem(wait, k, b) < 0 ||
            PyDict_SetItem(calls, k, c) < 0) {
            rc = -1;
        }
        Py_XDECREF(fn);
        Py_XDECREF(site);
        Py_XDECREF(k);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
    }
    PyMem_Free(v);
    return rc;
}

PyObject *probe_snapshot(aap_loop *L, PyObject *impl)
{
    static const char *names[AAP_EXEC_N] = {"default", "anyio"};
    aap_site_value sites[AAP_SITES_MAX + 1];
    aap_loop_snapshot s;
    PyObject *d, *ex[5] = {NULL, NULL, NULL, NULL, NULL}, *sd = NULL;
    PyObject *x[5] = {NULL, NULL, NULL, NULL, NULL};
    size_t n, i;
    int k;

    aap_loop_snapshot_get(L, &s);
    aap_loop_sites(L, sites, AAP_SITES_MAX + 1, &n);
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
        dict_set_new(d, "python_asyncio_loop_saturation_duration_seconds",
                     hist_dict(s.saturation_count, s.saturation_sum)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_starved_duration_seconds",
                     hist_dict(s.starved_count, s.starved_sum)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_gil_wait_duration_seconds",
                     hist_dict(s.gil_count, s.gil_sum)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_gc_duration_seconds",
                     hist_dict(s.gc_count, s.gc_sum)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_current_block_seconds",
                     PyFloat_FromDouble(s.current_block)) < 0 ||
        dict_set_new(d, "python_asyncio_loop_ready_callbacks",
                     s.no_ready ? Py_NewRef(Py_None)
                                : PyLong_FromLongLong(s.ready)) < 0 ||
        dict_set_new(d, "python_asyncio_tasks", PyLong_FromLongLong(s.tasks)) <
            0 ||
        dict_set_new(d, "python_asyncio_tasks_created_total",
                     PyLong_FromUnsignedLongLong(s.tasks_created)) < 0 ||
        dict_set_new(d, "http_server_active_requests",
                     PyLong_FromLongLong(aap_http_active_get())) < 0 ||
        dict_set_new(d, "python_asyncio_probe_info",
                     Py_BuildValue("{s:s,s:O}", "version", AAP_VERSION,
                                   "loop_implementation", impl)) < 0) {
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
                     site_info(sites, n)) < 0) {
        goto fail;
    }
    for (i = 0; i < 5; i++) {
        x[i] = PyDict_New();
        if (!x[i]) {
            goto fail;
        }
    }
    if (gil_holders(L, x[0], x[1]) < 0 ||
        PyDict_SetItemString(d, "python_asyncio_gil_holder_seconds_total",
                             x[0]) < 0 ||
        PyDict_SetItemString(d, "python_asyncio_gil_holder_info", x[1]) < 0 ||
        exec_fns(L, x[2], x[3], x[4]) < 0 ||
        PyDict_SetItemString(
            d, "python_asyncio_executor_function_run_seconds_total", x[2]) <
            0 ||
        PyDict_SetItemString(
            d, "python_asyncio_executor_function_wait_seconds_total", x[3]) <
            0 ||
        PyDict_SetItemString(d, "python_asyncio_executor_function_calls_total",
                             x[4]) < 0) {
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
        Py_DECREF(x[i]);
    }
    Py_DECREF(sd);
    return d;
fail:
    for (i = 0; i < 5; i++) {
        Py_XDECREF(ex[i]);
        Py_XDECREF(x[i]);
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
    PyObject *tid =
        e->thread_id > 0 ? PyLong_FromLong(e->thread_id) : Py_NewRef(Py_None);
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

PyObject *probe_blocks(aap_loop *L, probe_state *st)
{
    aap_episode_info *v;
    PyObject *l;
    size_t n, i;
    int rc;

    rc = aap_loop_blocks(L, &v, &n);
    if (rc < 0) {
        return probe_raise(st, rc, 0, "blocks");
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
