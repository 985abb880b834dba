/* _label_path(objs, edges, start=0, limit=0, capture=False): the labels
 * of a chain's references, named by relate (walker/relate.c).
 *
 * Returns a tuple of (end index, label) for the steps from objs[start], at
 * most `limit` of them (0: all): what refchain._chains.label_path() returns
 * before it escapes the labels for text.  The objects are the caller's, held by the objs
 * sequence for the whole call; no Python code runs until the labels are
 * converted.
 *
 * capture=True (tests only) runs relate in RC_RELATE_CAPTURE mode, as a
 * capture would, and checks its promise: it returns (steps, allocations,
 * reference changes), the number of Python allocations (PYMEM_DOMAIN_OBJ
 * and PYMEM_DOMAIN_MEM, counted by a hook wrapping the allocators only for
 * the relate call) and the number of objs whose reference count differs
 * after the call. */
#include "rcmodule.h"

#include "refchain/alloc.h"
#include "refchain/relate.h"

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
                    size_t start, size_t limit, rc_label_step **steps, size_t *n_steps,
                    size_t *allocs)
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
    rc_status st =
        rc_relate_path(&ctx, objs, n, edges, n_edges, start, limit, steps, n_steps);
    for (int d = 0; d < 2; d++) {
        PyMem_SetAllocator(domains[d], &hooks[d].prev);
    }
    return st;
}

/* relate_path_counted() and how many of objs[0..n) changed reference count;
 * the result is (steps, allocations, changes). */
static PyObject *
label_path_capture(PyObject *const *objs, size_t n, const long *edges, size_t n_edges,
                   size_t start, size_t limit)
{
    Py_ssize_t *refcnt = rc_malloc((n + 1) * sizeof *refcnt);
    if (!refcnt) {
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n; i++) {
        refcnt[i] = Py_REFCNT(objs[i]);
    }
    rc_label_step *steps;
    size_t n_steps, allocs, changed = 0;
    rc_status st =
        relate_path_counted(objs, n, edges, n_edges, start, limit, &steps, &n_steps, &allocs);
    for (size_t i = 0; i < n; i++) {
        changed += Py_REFCNT(objs[i]) != refcnt[i];
    }
    rc_free(refcnt);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    PyObject *result = steps_to_tuple(steps, n_steps);
    rc_label_steps_free(steps, n_steps);
    return result ? Py_BuildValue("(Nnn)", result, (Py_ssize_t)allocs, (Py_ssize_t)changed) : NULL;
}

PyObject *
rc_label_path_py(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t start = 0, limit = 0;
    int capture = 0;
    if (nargs < 2 || nargs > 5 || !PyTuple_Check(args[0]) ||
        !(PyTuple_Check(args[1]) || PyList_Check(args[1]))) {
        PyErr_SetString(PyExc_TypeError,
                        "_label_path() takes a tuple of objects, a sequence of edge indexes, "
                        "and optionally a start, a limit and capture");
        return NULL;
    }
    if ((nargs > 2 && (start = PyNumber_AsSsize_t(args[2], PyExc_OverflowError)) == -1 &&
         PyErr_Occurred()) ||
        (nargs > 3 && (limit = PyNumber_AsSsize_t(args[3], PyExc_OverflowError)) == -1 &&
         PyErr_Occurred()) ||
        (nargs > 4 && (capture = PyObject_IsTrue(args[4])) < 0)) {
        return NULL;
    }
    PyObject *objs = args[0], *edge_seq = args[1];
    Py_ssize_t n = PyTuple_GET_SIZE(objs), n_edges = PySequence_Fast_GET_SIZE(edge_seq);
    if (start < 0 || limit < 0) {
        PyErr_SetString(PyExc_ValueError, "_label_path(): start and limit must be >= 0");
        return NULL;
    }
    long *edges = rc_malloc(((size_t)n_edges + 1) * sizeof *edges);
    if (!edges) {
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n_edges; i++) {
        edges[i] = PyLong_AsLong(PySequence_Fast_GET_ITEM(edge_seq, i));
        if (edges[i] == -1 && PyErr_Occurred()) {
            rc_free(edges);
            return NULL;
        }
    }
    /* From here to the conversion no Python code runs. */
    if (capture) {
        PyObject *result = label_path_capture(&PyTuple_GET_ITEM(objs, 0), (size_t)n, edges,
                                              (size_t)n_edges, (size_t)start, (size_t)limit);
        rc_free(edges);
        return result;
    }
    rc_relate_ctx ctx;
    rc_relate_ctx_init(&ctx, RC_RELATE_LIVE);
    rc_label_step *steps;
    size_t n_steps;
    rc_status st = rc_relate_path(&ctx, &PyTuple_GET_ITEM(objs, 0), (size_t)n, edges,
                                  (size_t)n_edges, (size_t)start, (size_t)limit, &steps, &n_steps);
    rc_free(edges);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    PyObject *result = steps_to_tuple(steps, n_steps);
    rc_label_steps_free(steps, n_steps);
    return result;
}
