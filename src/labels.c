/* _label_path(objs, edges, start=0, limit=0): the labels of a chain's
 * references, named by relate (walker/relate.c) in live mode.
 *
 * Returns a tuple of (end index, label) for the steps from objs[start], at
 * most `limit` of them (0: all): what refchain._chains.label_path() returns
 * before it escapes the labels for text.  The objects are the caller's, held
 * by the objs tuple for the whole call; no Python code runs until the labels
 * are converted.  (Capture mode is checked by a test-only module,
 * tests/py/ext/relate_probe.c.) */
#include "rcmodule.h"

#include "refchain/alloc.h"
#include "refchain/relate.h"

PyObject *
rc_label_path_py(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t start = 0, limit = 0;
    if (nargs < 2 || nargs > 4 || !PyTuple_Check(args[0]) ||
        !(PyTuple_Check(args[1]) || PyList_Check(args[1]))) {
        PyErr_SetString(PyExc_TypeError,
                        "_label_path() takes a tuple of objects, a sequence of edge indexes, "
                        "and optionally a start and a limit");
        return NULL;
    }
    if ((nargs > 2 && (start = PyNumber_AsSsize_t(args[2], PyExc_OverflowError)) == -1 &&
         PyErr_Occurred()) ||
        (nargs > 3 && (limit = PyNumber_AsSsize_t(args[3], PyExc_OverflowError)) == -1 &&
         PyErr_Occurred())) {
        return NULL;
    }
    if (start < 0 || limit < 0) {
        PyErr_SetString(PyExc_ValueError, "_label_path(): start and limit must be >= 0");
        return NULL;
    }
    size_t n_edges = (size_t)PySequence_Fast_GET_SIZE(args[1]);
    long *edges = rc_malloc((n_edges + 1) * sizeof *edges);
    if (!edges) {
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n_edges; i++) {
        edges[i] = PyLong_AsLong(PySequence_Fast_GET_ITEM(args[1], (Py_ssize_t)i));
        if (edges[i] == -1 && PyErr_Occurred()) {
            rc_free(edges);
            return NULL;
        }
    }
    /* From here to the conversion no Python code runs. */
    rc_relate_ctx ctx;
    rc_relate_ctx_init(&ctx, RC_RELATE_LIVE);
    rc_label_step *steps;
    size_t n_steps;
    rc_status st = rc_relate_path(&ctx, &PyTuple_GET_ITEM(args[0], 0),
                                  (size_t)PyTuple_GET_SIZE(args[0]), edges, n_edges,
                                  (size_t)start, (size_t)limit, &steps, &n_steps);
    rc_free(edges);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    PyObject *result = rc_label_steps_tuple(steps, n_steps);
    rc_label_steps_free(steps, n_steps);
    return result;
}

PyObject *
rc_label_steps_tuple(const rc_label_step *steps, size_t n)
{
    PyObject *result = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; result && i < n; i++) {
        const char *text = steps[i].label;
        PyObject *label = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
        PyObject *step = label ? Py_BuildValue("(nN)", (Py_ssize_t)steps[i].end, label) : NULL;
        if (!step) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, step);
    }
    return result;
}
