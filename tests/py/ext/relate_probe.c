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
 * the call.
 *
 * The offline side (issue 14: a snapshot stores each edge's relation,
 * encoded, and presents its chains from those alone):
 * offline_path(objs, edges, start, limit, capture) labels a path as a
 * loaded snapshot would: each referrer's referents named at once by
 * rc_relate_out(), the edge's relation encoded, decoded and presented
 * (rc_present); it checks on the way that rc_relate_out() gave what
 * rc_relate() gives for every referent and that each relation decodes to
 * itself.  relate_out(parent, capture) returns (labels, allocations,
 * mismatches) for all of parent's referents named by rc_relate_out() (in
 * capture mode under the counting hook), mismatches being the indexes where
 * rc_relate() differs.  relate_out_size(parent, capture) names them
 * without the per-edge comparison and returns (referents, encoded bytes,
 * CPU seconds rc_relate_out took). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <time.h>

#include "refchain/alloc.h"
#include "refchain/present.h"
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

/* ---- offline --------------------------------------------------------------- */

typedef struct refs {
    PyObject **items;
    size_t n, cap;
    int failed;
} refs;

static int
refs_visit(PyObject *obj, void *arg)
{
    refs *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        PyObject **p = rc_reallocarray(r->items, cap, sizeof *p);
        if (!p) {
            r->failed = 1;
            return 1;
        }
        r->items = p;
        r->cap = cap;
    }
    r->items[r->n++] = obj;
    return 0;
}

/* parent's tp_traverse referents (borrowed) in r; -1 on ENOMEM. */
static int
read_refs(PyObject *parent, refs *r)
{
    memset(r, 0, sizeof *r);
    traverseproc trav = Py_TYPE(parent)->tp_traverse;
    if (trav && PyObject_IS_GC(parent)) {
        trav(parent, refs_visit, r);
    }
    if (r->failed) {
        rc_free(r->items);
        memset(r, 0, sizeof *r);
        return -1;
    }
    return 0;
}

static PyObject *
raise_status(rc_status st)
{
    if (st == RC_ENOMEM) {
        return PyErr_NoMemory();
    }
    PyErr_SetString(PyExc_RuntimeError, rc_status_str(st));
    return NULL;
}

/* rc_relate_out over all of parent's referents into *rels (n of them),
 * checking each against rc_relate (*mismatch: the first index that differs,
 * or -1). */
static rc_status
relate_all(const rc_relate_ctx *ctx, PyObject *parent, refs *r, rc_relation **rels,
           int compare, Py_ssize_t *mismatch)
{
    *mismatch = -1;
    if (read_refs(parent, r) < 0) {
        return RC_ENOMEM;
    }
    *rels = rc_calloc(r->n ? r->n : 1, sizeof **rels);
    if (!*rels) {
        return RC_ENOMEM; /* the caller frees r (free_all) */
    }
    rc_status st = rc_relate_out(ctx, parent, r->items, r->n, *rels);
    for (size_t k = 0; compare && st == RC_OK && k < r->n; k++) {
        rc_relation one;
        st = rc_relate(ctx, parent, r->items[k], (long)k, &one);
        if (st == RC_OK && !rc_relation_equal(&one, &(*rels)[k]) && *mismatch < 0) {
            *mismatch = (Py_ssize_t)k;
        }
        rc_relation_clear(&one);
    }
    return st;
}

static void
free_all(refs *r, rc_relation *rels)
{
    for (size_t k = 0; rels && k < r->n; k++) {
        rc_relation_clear(&rels[k]);
    }
    rc_free(rels);
    rc_free(r->items);
}

/* The relation of objs[i] -> objs[i + 1] as a loaded snapshot has it:
 * from rc_relate_out over objs[i]'s referents (edge e when referent e is
 * objs[i + 1], else rc_relate with the edge as given), encoded and
 * decoded.  *bad: 1 when relate_out and relate differ, 2 when the
 * relation does not decode to itself. */
static rc_status
offline_relation(const rc_relate_ctx *ctx, PyObject *parent, PyObject *child, long edge,
                 rc_relation *out, int *bad)
{
    refs r;
    rc_relation *rels = NULL, one;
    Py_ssize_t mismatch;
    rc_status st = relate_all(ctx, parent, &r, &rels, 1, &mismatch);
    if (st != RC_OK) {
        free_all(&r, rels);
        return st;
    }
    *bad = mismatch >= 0;
    if (edge >= 0 && (size_t)edge < r.n && r.items[edge] == child) {
        one = rels[edge];
        memset(&rels[edge], 0, sizeof rels[edge]);
    } else {
        st = rc_relate(ctx, parent, child, edge, &one);
    }
    free_all(&r, rels);
    if (st != RC_OK) {
        return st;
    }
    char *buf = NULL;
    size_t cap = 0, len;
    st = rc_relation_encode(&one, &buf, &cap, &len);
    if (st == RC_OK) {
        st = rc_relation_decode(buf, len, out);
    }
    if (st == RC_OK && (memchr(buf, '\0', len) || !rc_relation_equal(&one, out))) {
        *bad = 2;
    }
    rc_free(buf);
    rc_relation_clear(&one);
    return st;
}

/* offline_path(objs, edges, start, limit, capture): see the top of the file. */
static PyObject *
offline_path(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *objs_tuple, *edge_tuple, *result = NULL;
    Py_ssize_t start, limit;
    int capture;
    if (!PyArg_ParseTuple(args, "O!O!nnp:offline_path", &PyTuple_Type, &objs_tuple, &PyTuple_Type,
                          &edge_tuple, &start, &limit, &capture) ||
        start < 0 || limit < 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "bad start or limit");
    }
    PyObject *const *objs = &PyTuple_GET_ITEM(objs_tuple, 0);
    size_t n = (size_t)PyTuple_GET_SIZE(objs_tuple), n_edges = (size_t)PyTuple_GET_SIZE(edge_tuple);
    size_t n_rels = (size_t)start + 1 < n ? n - 1 - (size_t)start : 0;
    rc_relation *rels = rc_calloc(n_rels + 1, sizeof *rels);
    long *edges = rc_calloc(n_edges + 1, sizeof *edges);
    if (!rels || !edges) {
        rc_free(rels);
        rc_free(edges);
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n_edges; i++) {
        edges[i] = PyLong_AsLong(PyTuple_GET_ITEM(edge_tuple, (Py_ssize_t)i));
        if (edges[i] == -1 && PyErr_Occurred()) {
            goto finally;
        }
    }
    /* From here to the conversion no Python code runs. */
    rc_relate_ctx ctx;
    rc_relate_ctx_init(&ctx, capture ? RC_RELATE_CAPTURE : RC_RELATE_LIVE);
    rc_status st = RC_OK;
    int bad = 0;
    for (size_t j = 0; j < n_rels && st == RC_OK && !bad; j++) {
        size_t i = (size_t)start + j;
        st = offline_relation(&ctx, objs[i], objs[i + 1], i < n_edges ? edges[i] : -1, &rels[j], &bad);
    }
    rc_label_step *steps = NULL;
    size_t n_steps = 0;
    if (st == RC_OK && !bad) {
        st = rc_present(rels, n_rels, (size_t)limit, &steps, &n_steps);
    }
    if (st != RC_OK) {
        raise_status(st);
        goto finally;
    }
    if (bad) {
        PyErr_SetString(PyExc_AssertionError, bad == 1 ? "rc_relate_out differs from rc_relate"
                                                       : "a relation does not decode to itself");
        goto finally;
    }
    for (size_t j = 0; j < n_steps; j++) {
        steps[j].end += (size_t)start;
    }
    result = steps_to_tuple(steps, n_steps);
    rc_label_steps_free(steps, n_steps);
finally:
    for (size_t j = 0; j < n_rels; j++) {
        rc_relation_clear(&rels[j]);
    }
    rc_free(rels);
    rc_free(edges);
    return result;
}

/* The hooks of relate_path_counted around rc_relate_out. */
static rc_status
relate_out_counted(const rc_relate_ctx *ctx, PyObject *parent, refs *r, rc_relation **rels,
                   size_t *allocs)
{
    static const PyMemAllocatorDomain domains[2] = {PYMEM_DOMAIN_OBJ, PYMEM_DOMAIN_MEM};
    counting_alloc hooks[2];
    Py_ssize_t mismatch;
    *allocs = 0;
    for (int d = 0; d < 2; d++) {
        hooks[d].count = allocs;
        PyMem_GetAllocator(domains[d], &hooks[d].prev);
        PyMemAllocatorEx hook = {&hooks[d], counting_malloc, counting_calloc, counting_realloc,
                                 counting_free};
        PyMem_SetAllocator(domains[d], &hook);
    }
    rc_status st = relate_all(ctx, parent, r, rels, 0, &mismatch);
    for (int d = 0; d < 2; d++) {
        PyMem_SetAllocator(domains[d], &hooks[d].prev);
    }
    return st;
}

/* relate_out(parent, capture): see the top of the file. */
static PyObject *
relate_out(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *parent, *result = NULL, *labels = NULL, *bad = NULL;
    int capture;
    if (!PyArg_ParseTuple(args, "Op:relate_out", &parent, &capture)) {
        return NULL;
    }
    rc_relate_ctx ctx;
    rc_relate_ctx_init(&ctx, capture ? RC_RELATE_CAPTURE : RC_RELATE_LIVE);
    refs r;
    rc_relation *rels = NULL;
    size_t allocs = 0;
    Py_ssize_t refcnt = Py_REFCNT(parent);
    rc_status st = capture ? relate_out_counted(&ctx, parent, &r, &rels, &allocs)
                           : relate_all(&ctx, parent, &r, &rels, 0, &(Py_ssize_t){0});
    allocs += Py_REFCNT(parent) != refcnt;
    if (st != RC_OK) {
        free_all(&r, rels);
        return raise_status(st);
    }
    /* Compared with rc_relate, one by one, after the count. */
    Py_ssize_t mismatch = -1;
    for (size_t k = 0; st == RC_OK && k < r.n; k++) {
        rc_relation one;
        st = rc_relate(&ctx, parent, r.items[k], (long)k, &one);
        if (st == RC_OK && !rc_relation_equal(&one, &rels[k])) {
            mismatch = mismatch < 0 ? (Py_ssize_t)k : mismatch;
        }
        rc_relation_clear(&one);
    }
    labels = st == RC_OK ? PyList_New((Py_ssize_t)r.n) : NULL;
    for (size_t k = 0; labels && k < r.n; k++) {
        PyObject *s = PyUnicode_DecodeUTF8(rels[k].text, (Py_ssize_t)strlen(rels[k].text), "replace");
        if (!s) {
            Py_CLEAR(labels);
            break;
        }
        PyList_SET_ITEM(labels, (Py_ssize_t)k, s);
    }
    free_all(&r, rels);
    if (st != RC_OK) {
        return raise_status(st);
    }
    bad = labels ? PyLong_FromSsize_t(mismatch) : NULL;
    result = bad ? Py_BuildValue("(NnN)", labels, (Py_ssize_t)allocs, bad) : NULL;
    if (!result) {
        Py_XDECREF(labels);
    }
    return result;
}

/* relate_out_size(parent, capture): see the top of the file. */
static PyObject *
relate_out_size(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *parent;
    int capture;
    if (!PyArg_ParseTuple(args, "Op:relate_out_size", &parent, &capture)) {
        return NULL;
    }
    rc_relate_ctx ctx;
    rc_relate_ctx_init(&ctx, capture ? RC_RELATE_CAPTURE : RC_RELATE_LIVE);
    refs r;
    if (read_refs(parent, &r) < 0) {
        return PyErr_NoMemory();
    }
    rc_relation *rels = rc_malloc((r.n ? r.n : 1) * sizeof *rels);
    if (!rels) {
        rc_free(r.items);
        return PyErr_NoMemory();
    }
    memset(rels, 0xA5, (r.n ? r.n : 1) * sizeof *rels); /* the caller's memory, touched */
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    rc_status st = rc_relate_out(&ctx, parent, r.items, r.n, rels);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    char *buf = NULL;
    size_t cap = 0, len, total = 0;
    for (size_t k = 0; st == RC_OK && k < r.n; k++) {
        st = rc_relation_encode(&rels[k], &buf, &cap, &len);
        total += len;
    }
    rc_free(buf);
    size_t n = r.n;
    free_all(&r, st == RC_OK ? rels : NULL);
    if (st != RC_OK) {
        rc_free(rels);
    }
    return st == RC_OK ? Py_BuildValue("(nnd)", (Py_ssize_t)n, (Py_ssize_t)total, seconds)
                       : raise_status(st);
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
    {"offline_path", offline_path, METH_VARARGS, NULL},
    {"relate_out", relate_out, METH_VARARGS, NULL},
    {"relate_out_size", relate_out_size, METH_VARARGS, NULL},
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
