/* What would be freed: retained(), the leak suspects (_suspects) and the
 * dominator subtree behind show_dominators (_dominator_tree).
 *
 * Each captures with both edge directions and sizes, classifies the roots
 * and computes the dominator tree (walker/dominators.c).  The argument is
 * not discounted: what an object retains does not depend on who holds it,
 * and the reference the call holds keeps an object nothing else holds a
 * root (C-held), so that it is still asked about rather than left out.
 * As in src/chain.c, every object the answer names is held (take_objects)
 * before the first Python object is created. */
#include "rcmodule.h"

#include "refchain/alloc.h"
#include "refchain/dominators.h"

/* The capture with sizes, its root kinds (and with paths the BFS:
 * a->paths) and the dominator tree in *d.  On failure an exception is set
 * and nothing is left to free. */
static int
dominate(PyObject *module, int paths, analysis *a, rc_dominators **d)
{
    question q = {0}; /* nothing discounted: see above */
    *d = NULL;
    if (analyse(module, &q, paths ? AN_ALL : AN_SIZES | AN_KINDS, a) < 0) {
        return -1;
    }
    rc_status st = rc_dominators_compute(a->g, a->kinds, d);
    if (st != RC_OK) {
        analysis_free(a);
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* obj's node, or RC_NO_ID with ValueError naming func.  Reads only obj's
 * type, which the caller holds. */
static rc_id
node_of(const rc_graph *g, PyObject *obj, const char *func)
{
    rc_id v = rc_graph_find(g, (uintptr_t)obj);
    if (v == RC_NO_ID) {
        PyErr_Format(PyExc_ValueError,
                     "%s(): this %.100s is not in the capture (refchain leaves its own "
                     "objects out, and sees only this interpreter's objects)",
                     func, Py_TYPE(obj)->tp_name);
    }
    return v;
}

/* retained(obj) -> (bytes, count) */
static PyObject *
rc_retained_py(PyObject *module, PyObject *obj)
{
    analysis a;
    rc_dominators *d;
    if (dominate(module, 0, &a, &d) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    rc_id v = node_of(a.g, obj, "retained");
    if (v != RC_NO_ID) {
        result = Py_BuildValue("(KK)", (unsigned long long)rc_dominators_bytes(d, v),
                               (unsigned long long)rc_dominators_count(d, v));
    }
    rc_dominators_free(d);
    analysis_free(&a);
    return result;
}

/* Suspect i's tuple (see _suspects); objs[k] stands for s->ids[k]. */
static PyObject *
suspect_item(PyObject *module, const rc_graph *g, const rc_suspects *s, size_t i,
             PyObject *const *objs, rc_chain_maker make_chain)
{
    const rc_suspect *it = &s->items[i];
    int kind = it->kind == RC_ROOT_NONE ? RC_ROOT_KINDS : it->kind;
    PyObject *chain = make_chain(module, kind, objs + it->chain_at, s->ids + it->chain_at,
                                 s->edges + it->chain_at, it->chain_len);
    if (!chain) {
        return NULL;
    }
    PyObject *top = Py_None;
    Py_INCREF(top);
    if (it->top_type != UINT32_MAX) {
        Py_SETREF(top, PyUnicode_FromString(rc_graph_type_name(g, it->top_type)));
    }
    PyObject *item =
        top ? Py_BuildValue(
                  "(OKKOOKKK)", objs[it->chain_at + it->chain_len - 1],
                  (unsigned long long)it->bytes, (unsigned long long)it->count, chain,
                  top, (unsigned long long)it->top_count,
                  (unsigned long long)it->top_bytes, (unsigned long long)it->linked)
            : NULL;
    Py_DECREF(chain);
    Py_XDECREF(top);
    return item;
}

int
rc_suspects_args(PyObject *const *args, Py_ssize_t nargs, double *share, Py_ssize_t *limit)
{
    static const char *const names[] = {"min_share", "limit", NULL};
    PyObject *av[2];
    if (rc_parse_fast("_suspects", args, nargs, NULL, names, 2, av) < 0 ||
        rc_arg_size("_suspects", "limit", av[1], 0, limit) < 0) {
        return -1;
    }
    *share = PyFloat_AsDouble(av[0]);
    if (*share == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (!(*share >= 0.0 && *share <= 1.0)) {
        PyErr_SetString(PyExc_ValueError, "min_share must be between 0 and 1");
        return -1;
    }
    return 0;
}

PyObject *
rc_suspects_answer(PyObject *module, const rc_graph *g, const rc_dominators *d,
                   const rc_paths *p, const uint8_t *kinds, double share, size_t limit,
                   rc_objs_maker make_objs, rc_chain_maker make_chain)
{
    rc_suspects s;
    PyObject **objs = NULL, *list = NULL, *result = NULL;
    rc_status st = rc_suspects_find(g, d, p, kinds, share, limit, &s);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    if (!(objs = make_objs(g, s.ids, s.n_ids))) {
        goto finally;
    }
    /* Every object named is held: Python may run. */
    list = PyList_New((Py_ssize_t)s.n);
    for (size_t i = 0; list && i < s.n; i++) {
        PyObject *item = suspect_item(module, g, &s, i, objs, make_chain);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    if (list) {
        result = Py_BuildValue("(KO)", (unsigned long long)s.heap_bytes, list);
    }
finally:
    rc_capture_release(objs, objs ? s.n_ids : 0);
    Py_XDECREF(list);
    rc_suspects_clear(&s);
    return result;
}

/* _suspects(min_share, limit) -> (heap bytes,
 *     [(object, bytes, count, chain, top type name or None, top count, top bytes,
 *       linked)]) */
static PyObject *
rc_suspects_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    double share;
    Py_ssize_t limit;
    if (rc_suspects_args(args, nargs, &share, &limit) < 0) {
        return NULL;
    }
    analysis a;
    rc_dominators *d;
    if (dominate(module, 1, &a, &d) < 0) {
        return NULL;
    }
    int paused = rc_gc_pause(); /* the chains read their labels as they are made */
    PyObject *result = rc_suspects_answer(module, a.g, d, a.paths, a.kinds, share,
                                          (size_t)limit, take_objects, rc_chain_of);
    rc_gc_resume(paused);
    rc_dominators_free(d);
    analysis_free(&a);
    return result;
}

/* The layout's entries as tuples; objs[k] holds the k-th entry that is an
 * object (summaries hold none). */
static PyObject *
tree_list(const rc_domtree_node *t, size_t n, PyObject *const *objs)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    size_t k = 0;
    for (size_t i = 0; list && i < n; i++) {
        PyObject *obj = t[i].node == RC_NO_ID ? Py_None : objs[k++];
        PyObject *item = Py_BuildValue("(OnKKK)", obj,
                                       t[i].parent == UINT32_MAX ? (Py_ssize_t)-1
                                                                 : (Py_ssize_t)t[i].parent,
                                       (unsigned long long)t[i].bytes,
                                       (unsigned long long)t[i].count,
                                       (unsigned long long)t[i].others);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

int
rc_domtree_args(PyObject *const *args, Py_ssize_t nargs, PyObject **top, Py_ssize_t *depth,
                Py_ssize_t *width)
{
    static const char *const names[] = {"obj", "depth", "width", NULL};
    PyObject *av[3];
    if (rc_parse_fast("_dominator_tree", args, nargs, NULL, names, 3, av) < 0 ||
        rc_arg_size("_dominator_tree", "depth", av[1], 0, depth) < 0 ||
        rc_arg_size("_dominator_tree", "width", av[2], 1, width) < 0) {
        return -1;
    }
    if (*width < 1) {
        PyErr_SetString(PyExc_ValueError, "width must be >= 1");
        return -1;
    }
    *top = av[0];
    return 0;
}

PyObject *
rc_domtree_answer(const rc_graph *g, const rc_dominators *d, rc_id top, size_t depth,
                  size_t width, rc_objs_maker make_objs)
{
    PyObject **objs = NULL, *result = NULL;
    rc_domtree_node *t = NULL;
    rc_id *ids = NULL;
    size_t n = 0, k = 0;
    rc_status st = rc_domtree_layout(d, top, depth, width, &t, &n);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    if (!(ids = rc_malloc(n * sizeof *ids))) {
        PyErr_NoMemory();
        goto finally;
    }
    for (size_t i = 0; i < n; i++) { /* the answer's entries, not the graph's nodes */
        if (t[i].node != RC_NO_ID) {
            ids[k++] = t[i].node;
        }
    }
    if ((objs = make_objs(g, ids, k)) != NULL) {
        result = tree_list(t, n, objs);
    }
finally:
    rc_capture_release(objs, objs ? k : 0);
    rc_free(ids);
    rc_free(t);
    return result;
}

/* _dominator_tree(obj, depth, width) -> [(object or None, parent index or -1,
 *     bytes, count, others)]: rc_domtree_layout's answer, a None entry
 *     summing up `others` smaller children. */
static PyObject *
rc_dominator_tree_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *obj;
    Py_ssize_t depth, width;
    if (rc_domtree_args(args, nargs, &obj, &depth, &width) < 0) {
        return NULL;
    }
    analysis a;
    rc_dominators *d;
    if (dominate(module, 0, &a, &d) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    rc_id v = node_of(a.g, obj, "show_dominators");
    if (v != RC_NO_ID) {
        result = rc_domtree_answer(a.g, d, v, (size_t)depth, (size_t)width, take_objects);
    }
    rc_dominators_free(d);
    analysis_free(&a);
    return result;
}

PyMethodDef rc_retained_methods[] = {
    {"retained", rc_retained_py, METH_O,
     "retained(obj) -> (bytes, count)\n\n"
     "What would be freed with obj: the objects every chain from a root to them passes\n"
     "through obj (obj included; weak references never retain), their shallow sizes\n"
     "summed and their number.  ValueError when obj is not in the capture."},
    {"_suspects", (PyCFunction)(void (*)(void))rc_suspects_py, METH_FASTCALL, NULL},
    {"_dominator_tree", (PyCFunction)(void (*)(void))rc_dominator_tree_py, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};
