/* The question's own handles, and the analysis every question shares
 * (see the steps at the top of src/chain.c). */
#include "rcmodule.h"

#include <frameobject.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/held.h"
#include "refchain/pycompat.h"
#include "refchain/paths.h"


void
question_free(question *q)
{
    rc_free(q->held);
    rc_free(q->disc);
}

int
question_hold(question *q, PyObject *obj)
{
    if (q->n_held == q->held_cap) {
        size_t cap = q->held_cap ? q->held_cap * 2 : 8;
        uintptr_t *p = rc_reallocarray(q->held, cap, sizeof *p);
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        q->held = p;
        q->held_cap = cap;
    }
    q->held[q->n_held++] = (uintptr_t)obj;
    return 0;
}

int
question_discount(question *q, PyObject *from, PyObject *to, uint32_t count)
{
    if (q->n_disc == q->disc_cap) {
        size_t cap = q->disc_cap ? q->disc_cap * 2 : 8;
        rc_discount_addr *p = rc_reallocarray(q->disc, cap, sizeof *p);
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        q->disc = p;
        q->disc_cap = cap;
    }
    q->disc[q->n_disc++] = (rc_discount_addr){(uintptr_t)from, (uintptr_t)to, count};
    return 0;
}

static int
is_tool_frame(rc_state *s, PyObject *frame)
{
    PyObject *globals = PyObject_GetAttrString(frame, "f_globals");
    PyObject *code = globals ? PyObject_GetAttrString(frame, "f_code") : NULL;
    int tool = 0;
    if (!code) {
        Py_XDECREF(globals);
        PyErr_Clear();
        return 0;
    }
    for (Py_ssize_t i = 0; s->tool_globals && i < PyTuple_GET_SIZE(s->tool_globals); i++) {
        PyObject *item = PyTuple_GET_ITEM(s->tool_globals, i);
        tool |= item == globals || item == code;
    }
    Py_DECREF(globals);
    Py_DECREF(code);
    return tool;
}

/* Discount the caller's variables that refer to any of targets[0..n): for
 * each such (holder, target), the holder's edges to the target are not
 * followed.  The caller is the nearest frame not running the tool's code;
 * its holders are the frame itself (its variable slots, read in place) and
 * the f_locals mapping it holds (before 3.13 a function's snapshot dict if
 * one was made; the module's globals at module level).  Reading f_locals
 * here would make or refresh that snapshot: a change to the heap asked
 * about, and deallocations that may run Python code. */
int
question_caller(PyObject *module, question *q, PyObject *const *targets, size_t n)
{
    rc_state *s = rc_module_state(module);
    PyObject *frame = (PyObject *)PyEval_GetFrame(); /* borrowed */
    Py_XINCREF(frame);
    while (frame && is_tool_frame(s, frame)) {
        PyObject *back = PyObject_GetAttrString(frame, "f_back");
        Py_DECREF(frame);
        if (!back) {
            return -1;
        }
        frame = back == Py_None ? NULL : back;
        if (!frame) {
            Py_DECREF(back);
        }
    }
    if (!frame) {
        return 0;
    }
    int rc = -1;
    rc_frame_vars vars;
    rc_frame_vars_read(frame, &vars);
    PyObject *const *slots = vars.slots;
    size_t n_slots = vars.n;
    PyObject *mapping = rc_frame_locals_mapping(frame);
    uint32_t *in_slots = PyMem_Calloc(n ? n : 1, sizeof *in_slots);
    uint32_t *in_mapping = PyMem_Calloc(n ? n : 1, sizeof *in_mapping);
    if (!in_slots || !in_mapping) {
        PyErr_NoMemory();
        goto finally;
    }
    /* Counted before anything allocates: a collection could run then. */
    for (size_t t = 0; t < n; t++) {
        for (size_t i = 0; i < n_slots; i++) {
            in_slots[t] += slots[i] == targets[t];
        }
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (mapping && PyDict_Check(mapping) && PyDict_Next(mapping, &pos, &key, &value)) {
            in_mapping[t] += value == targets[t];
        }
    }
    Py_XINCREF(mapping);
    rc = 0;
    for (size_t t = 0; rc == 0 && t < n; t++) {
        if ((in_slots[t] && question_discount(q, frame, targets[t], in_slots[t]) < 0) ||
            (in_mapping[t] && question_discount(q, mapping, targets[t], in_mapping[t]) < 0)) {
            rc = -1;
        }
    }
    Py_XDECREF(mapping);
finally:
    PyMem_Free(in_slots);
    PyMem_Free(in_mapping);
    Py_DECREF(frame);
    return rc;
}

/* The analysis every question shares: a capture with both edge directions
 * and the question's handles as discounts; then, for questions about many
 * objects, root kinds and the BFS.  On failure an exception is set and
 * everything is freed. */

void
analysis_free(analysis *a)
{
    rc_paths_free(a->paths);
    rc_free(a->kinds);
    rc_free(a->disc);
    rc_graph_free(a->g);
    memset(a, 0, sizeof *a);
}

int
analyse(PyObject *module, const question *q, unsigned what, analysis *a)
{
    memset(a, 0, sizeof *a);
    unsigned how = (q->tools ? RC_CAPTURE_TOOLS : 0) |
                   (what & AN_CHAINS_BACK ? RC_CAPTURE_CONTAINERS : 0) |
                   (what & AN_ADDR_ORDER ? RC_CAPTURE_ADDR_ORDER : 0);
    a->g = rc_module_capture_ex(module, q->held, q->n_held, RC_EDGES_BOTH, what & AN_SIZES, how);
    if (!a->g) {
        return -1;
    }
    rc_status st = rc_discounts_resolve(a->g, q->disc, q->n_disc, &a->disc, &a->n_disc);
    if (st == RC_OK && (what & AN_KINDS) &&
        (st = rc_roots_classify(a->g, &a->kinds)) == RC_OK && (what & AN_PATHS)) {
        st = rc_paths_bfs(a->g, a->kinds, a->disc, a->n_disc, &a->paths);
    }
    if (st != RC_OK) {
        analysis_free(a);
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* Whether something besides the question holds v: C code (a surplus
 * refcount), or a referrer that is neither a tool frame nor one of the
 * question's discounted handles. */
int
held_by_others(const analysis *a, rc_id v)
{
    rc_holders h = rc_holders_of(a->g, v, NULL, 0, a->disc, a->n_disc);
    return h.outside > 0 || h.others > 0;
}

PyObject **
take_objects(const rc_graph *g, const rc_id *ids, size_t len)
{
    PyObject **objs = rc_capture_hold(g, ids, len);
    if (!objs) {
        PyErr_NoMemory();
    }
    return objs;
}

PyObject *
rc_list_of(PyObject *const *objs, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        Py_INCREF(objs[i]);
        PyList_SET_ITEM(list, (Py_ssize_t)i, objs[i]);
    }
    return list;
}

uintptr_t *
rc_addrs_of(PyObject *const *objs, size_t n)
{
    uintptr_t *addrs = rc_malloc((n ? n : 1) * sizeof *addrs);
    for (size_t i = 0; addrs && i < n; i++) {
        addrs[i] = (uintptr_t)objs[i];
    }
    return addrs;
}

int
node_call_truth(void *ctx, rc_id v)
{
    const node_call *c = ctx;
    PyObject *r = PyObject_CallFunctionObjArgs(c->fn, c->refs[v], NULL);
    int truth = r ? PyObject_IsTrue(r) : -1;
    Py_XDECREF(r);
    return truth;
}

/* ---- extra_ignore ---------------------------------------------------------- */

/* Python's hash modulus (sys.hash_info.modulus), as pyhash.h defines it: an
 * int below it hashes to itself. */
#if SIZEOF_VOID_P >= 8
#define HASH_MODULUS (((uint64_t)1 << 61) - 1)
#define ADDR_END HASH_MODULUS /* no 64-bit platform maps user memory this high */
#define CANDIDATES 1
#else
#define HASH_MODULUS (((uint64_t)1 << 31) - 1)
#define ADDR_END ((uint64_t)UINTPTR_MAX + 1)
#define CANDIDATES 3 /* h, h + M, h + 2M can all be addresses */
#endif

/* Append to a[*n] the addresses `item` names, the way objgraph's
 * `id(x) in set(extra_ignore)` matches them.  An int names its value.  Any
 * other item names the ids it is equal to, which all hash as it does: those
 * are its hash plus multiples of the modulus.  Its __eq__ runs here, before
 * any capture (never during a walk), and an exception from it propagates.
 * With ids_only, an item that is no int is a TypeError (show_backrefs's
 * rule).  Room for CANDIDATES addresses is the caller's. */
static int
item_addrs(PyObject *item, int ids_only, uintptr_t *a, size_t *n)
{
    if (PyLong_CheckExact(item) || (ids_only && PyLong_Check(item))) {
        a[*n] = (uintptr_t)PyLong_AsVoidPtr(item);
        if (PyErr_Occurred()) {
            PyErr_Clear(); /* no object has that id */
            a[*n] = 0;
        }
        ++*n;
        return 0;
    }
    if (ids_only) {
        PyErr_Format(PyExc_TypeError, "extra_ignore must hold object ids (int), not %.100s",
                     Py_TYPE(item)->tp_name);
        return -1;
    }
    Py_hash_t h = PyObject_Hash(item);
    if (h == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_SetString(PyExc_TypeError, "extra_ignore must be an iterable of object ids");
        }
        return -1;
    }
    for (uint64_t x = (uint64_t)h; h >= 0 && x < ADDR_END; x += HASH_MODULUS) {
        PyObject *id = PyLong_FromUnsignedLongLong(x);
        int eq = id ? PyObject_RichCompareBool(item, id, Py_EQ) : -1;
        Py_XDECREF(id);
        if (eq < 0) {
            return -1;
        }
        if (eq) {
            a[(*n)++] = (uintptr_t)x;
        }
    }
    return 0;
}

uintptr_t *
ignore_addrs(PyObject *ignore, int ids_only, const uintptr_t *extra, size_t n_extra, size_t *n)
{
    PyObject *seq = ignore ? PySequence_Fast(ignore, "extra_ignore must be an iterable of "
                                                     "object ids")
                           : PyTuple_New(0);
    if (!seq) {
        return NULL;
    }
    /* Items run Python code (__eq__) and may change a list: iterate a copy. */
    PyObject *items = PySequence_Tuple(seq);
    Py_DECREF(seq);
    if (!items) {
        return NULL;
    }
    size_t k = (size_t)PyTuple_GET_SIZE(items), used = 0;
    uintptr_t *a = k <= (SIZE_MAX - n_extra) / CANDIDATES - 1
                       ? rc_malloc((k * CANDIDATES + n_extra + 1) * sizeof *a)
                       : NULL;
    if (!a) {
        Py_DECREF(items);
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < k; i++) {
        if (item_addrs(PyTuple_GET_ITEM(items, (Py_ssize_t)i), ids_only, a, &used) < 0) {
            rc_free(a);
            Py_DECREF(items);
            return NULL;
        }
    }
    Py_DECREF(items);
    for (size_t i = 0; i < n_extra; i++) {
        a[used++] = extra[i];
    }
    rc_addrs_sort(a, &used);
    *n = used;
    return a;
}

int
rc_gc_pause(void)
{
#if PY_VERSION_HEX >= 0x030A0000
    return PyGC_Disable();
#else
    /* gc.disable() through sys.modules (no import, no Python code: the
     * functions are C). */
    PyObject *name = PyUnicode_FromString("gc");
    PyObject *gc = name ? PyImport_GetModule(name) : NULL;
    PyObject *on = gc ? PyObject_CallMethod(gc, "isenabled", NULL) : NULL;
    int paused = on == Py_True;
    PyObject *off = paused ? PyObject_CallMethod(gc, "disable", NULL) : NULL;
    paused = paused && off;
    Py_XDECREF(off);
    Py_XDECREF(on);
    Py_XDECREF(gc);
    Py_XDECREF(name);
    PyErr_Clear(); /* at worst the collector stays on */
    return paused;
#endif
}

void
rc_gc_resume(int paused)
{
    if (paused <= 0) {
        return;
    }
#if PY_VERSION_HEX >= 0x030A0000
    PyGC_Enable();
#else
    PyObject *exc_type, *exc, *tb;
    PyErr_Fetch(&exc_type, &exc, &tb);
    PyObject *name = PyUnicode_FromString("gc");
    PyObject *gc = name ? PyImport_GetModule(name) : NULL;
    PyObject *on = gc ? PyObject_CallMethod(gc, "enable", NULL) : NULL;
    Py_XDECREF(on);
    Py_XDECREF(gc);
    Py_XDECREF(name);
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
#endif
}
