/* _rc_probe: a test-only module that checks relate's capture-mode promise
 * (tests/py/test_relate_capture.py).  CMake builds it next to the package
 * (build/<tag>/python) from this file and the same walker sources as the
 * extension, and never installs it.  Being a separate module, it has its
 * own copy of the walker's allocator, so its fault injection is its own
 * fail_after(), not refchain._refchain._fail_after().
 *
 * relate_captured(objs, edges) runs rc_relate_path() on the tuple objs in
 * RC_RELATE_CAPTURE mode, as a capture would, under a hook that counts
 * every Python allocation (PYMEM_DOMAIN_OBJ and PYMEM_DOMAIN_MEM, wrapping
 * the allocators only for the relate call), and returns (steps,
 * allocations, reference changes): steps as refchain._refchain._label_path()
 * returns them, and the number of objs whose reference count differs after
 * the call. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refchain/alloc.h"
#include "refchain/relate.h"

/* The counting hook: one per domain, each wrapping the allocator it
 * replaced.  Installed only while relate runs (no Python code runs then),
 * with the GIL held; the count is read after the hooks are removed. */
typedef struct counting_alloc {
    PyMemAllocatorEx prev;
    size_t *count;
} counting_alloc;

static void *
counting_malloc(void *ctx, size_t size)
{
    counting_alloc *c = ctx;
    ++*c->count;
    return c->prev.malloc(c->prev.ctx, size);
}

static void *
counting_calloc(void *ctx, size_t nelem, size_t elsize)
{
    counting_alloc *c = ctx;
    ++*c->count;
    return c->prev.calloc(c->prev.ctx, nelem, elsize);
}

static void *
counting_realloc(void *ctx, void *ptr, size_t size)
{
    counting_alloc *c = ctx;
    ++*c->count;
    return c->prev.realloc(c->prev.ctx, ptr, size);
}

static void
counting_free(void *ctx, void *ptr)
{
    counting_alloc *c = ctx;
    c->prev.free(c->prev.ctx, ptr);
}

/* rc_relate_path() in capture mode with the counting hooks installed on
 * both domains; *allocs receives the count.  The hooks are removed before
 * it returns, whatever relate returned. */
static rc_status
relate_path_counted(PyObject *const *objs, size_t n, const long *edges, size_t n_edges,
                    rc_label_step **steps, size_t *n_steps, size_t *allocs)
{
    static const PyMemAllocatorDomain domains[2] = {PYMEM_DOMAIN_OBJ, PYMEM_DOMAIN_MEM};
    counting_alloc hooks[2];
    *allocs = 0;
    for (int d = 0; d < 2; d++) {
        hooks[d].count = allocs;
        PyMem_GetAllocator(domains[d], &hooks[d].prev);
    }
    rc_relate_ctx ctx;
    rc_relate_ctx_init(&ctx, RC_RELATE_CAPTURE);
    for (int d = 0; d < 2; d++) {
        PyMemAllocatorEx hook = {&hooks[d], counting_malloc, counting_calloc, counting_realloc,
                                 counting_free};
        PyMem_SetAllocator(domains[d], &hook);
    }
    rc_status st = rc_relate_path(&ctx, objs, n, edges, n_edges, 0, 0, steps, n_steps);
    for (int d = 0; d < 2; d++) {
        PyMem_SetAllocator(domains[d], &hooks[d].prev);
    }
    return st;
}

static PyObject *
steps_to_tuple(const rc_label_step *steps, size_t n)
{
    PyObject *result = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; result && i < n; i++) {
        PyObject *label =
            PyUnicode_DecodeUTF8(steps[i].label, (Py_ssize_t)strlen(steps[i].label), "replace");
        PyObject *step = label ? Py_BuildValue("(nN)", (Py_ssize_t)steps[i].end, label) : NULL;
        if (!step) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, step);
    }
    return result;
}

/* relate_captured(objs, edges): see the top of the file. */
static PyObject *
relate_captured(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *objs_tuple, *edge_tuple, *result = NULL;
    if (!PyArg_ParseTuple(args, "O!O!:relate_captured", &PyTuple_Type, &objs_tuple,
                          &PyTuple_Type, &edge_tuple)) {
        return NULL;
    }
    PyObject *const *objs = &PyTuple_GET_ITEM(objs_tuple, 0);
    size_t n = (size_t)PyTuple_GET_SIZE(objs_tuple);
    size_t n_edges = (size_t)PyTuple_GET_SIZE(edge_tuple);
    long *edges = rc_malloc((n_edges + 1) * sizeof *edges);
    Py_ssize_t *refcnt = rc_malloc((n + 1) * sizeof *refcnt);
    if (!edges || !refcnt) {
        PyErr_NoMemory();
        goto finally;
    }
    for (size_t i = 0; i < n_edges; i++) {
        edges[i] = PyLong_AsLong(PyTuple_GET_ITEM(edge_tuple, (Py_ssize_t)i));
        if (edges[i] == -1 && PyErr_Occurred()) {
            goto finally;
        }
    }
    /* From here to the conversion no Python code runs. */
    for (size_t i = 0; i < n; i++) {
        refcnt[i] = Py_REFCNT(objs[i]);
    }
    rc_label_step *steps;
    size_t n_steps, allocs, changed = 0;
    rc_status st = relate_path_counted(objs, n, edges, n_edges, &steps, &n_steps, &allocs);
    for (size_t i = 0; i < n; i++) {
        changed += Py_REFCNT(objs[i]) != refcnt[i];
    }
    if (st != RC_OK) {
        if (st == RC_ENOMEM) {
            PyErr_NoMemory();
        } else {
            PyErr_SetString(PyExc_RuntimeError, rc_status_str(st));
        }
        goto finally;
    }
    PyObject *tuple = steps_to_tuple(steps, n_steps);
    rc_label_steps_free(steps, n_steps);
    result = tuple ? Py_BuildValue("(Nnn)", tuple, (Py_ssize_t)allocs, (Py_ssize_t)changed)
                   : NULL;
finally:
    rc_free(edges);
    rc_free(refcnt);
    return result;
}

/* fail_after(n): make this module's n-th next C allocation fail (n < 0:
 * never); returns how many it attempted since the last call. */
static PyObject *
fail_after(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    unsigned long before = rc_alloc_count();
    rc_alloc_fail_after(n);
    return PyLong_FromUnsignedLong(before);
}

static PyMethodDef probe_methods[] = {
    {"relate_captured", relate_captured, METH_VARARGS, NULL},
    {"fail_after", fail_after, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef probe_module = {
    PyModuleDef_HEAD_INIT, "_rc_probe", NULL, 0, probe_methods, NULL, NULL, NULL, NULL,
};

/* Before 3.9 PyMODINIT_FUNC does not export; the build hides everything else. */
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit__rc_probe(void);

PyMODINIT_FUNC
PyInit__rc_probe(void)
{
    return PyModuleDef_Init(&probe_module);
}
