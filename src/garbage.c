/* _garbage: the objects the next full collection would free, and their
 * cycles grouped by type signature.  Nothing is collected.
 *
 * The set is the GC-capable objects no root reaches (after the BFS of
 * walker/paths.c), or, for collect_report(), the objects given.  Its
 * strongly connected components with a cycle are grouped, and each group
 * shown comes with one shortest cycle (its objects, for labels) and every
 * member (for allocation lines): rc_garbage_cycles() lays them out as node
 * ids, and one reference per id is taken before any Python object is
 * created. */
#include "rcmodule.h"

#include "refchain/alloc.h"
#include "refchain/scc.h"
#include "refchain/select.h"
#include "refchain/unreachable.h"

/* The set asked about, one byte per node (rc_malloc'ed): the prediction
 * (rc_unreachable) or the objects given (rc_select_addr_set); *count
 * receives how many objects it holds as the answer counts them.  NULL with
 * an exception set. */
static uint8_t *
select_set(analysis *a, PyObject *objects, size_t *count, uint64_t *bytes)
{
    uint8_t *in_set = NULL;
    rc_status st;
    if (objects == Py_None) {
        rc_paths_free(a->paths); /* the BFS is redone from the collector's roots */
        a->paths = NULL;
        if ((st = rc_unreachable(a->g, a->kinds, a->disc, a->n_disc, &in_set, count,
                                 bytes)) != RC_OK) {
            rc_raise(st);
        }
        return in_set;
    }
    size_t k = (size_t)PyList_GET_SIZE(objects);
    uintptr_t *addrs = rc_addrs_of(PySequence_Fast_ITEMS(objects), k);
    st = addrs ? rc_select_addr_set(a->g, addrs, k, &in_set, count) : RC_ENOMEM;
    rc_free(addrs);
    if (st != RC_OK) {
        rc_raise(st);
        return NULL;
    }
    return in_set;
}

/* Group i's answer tuple (see _garbage); objs[k] holds c->ids[k]. */
static PyObject *
group_item(const rc_graph *g, const rc_cycles *c, size_t i, PyObject *const *objs)
{
    const rc_cycle_group *gr = &c->groups[i];
    const rc_cycles_shown *t = &c->shown[i];
    PyObject *names = PyTuple_New((Py_ssize_t)gr->n_types);
    for (size_t k = 0; names && k < gr->n_types; k++) {
        PyObject *s = PyUnicode_FromString(rc_graph_type_name(g, gr->types[k]));
        if (!s) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, (Py_ssize_t)k, s);
    }
    PyObject *cycle = names ? rc_list_of(objs + t->path_at, t->path_len) : NULL;
    PyObject *edges =
        cycle ? rc_id_list(c->edges + t->path_at, t->path_len ? t->path_len - 1 : 0) : NULL;
    PyObject *all = edges ? rc_list_of(objs + t->members_at, gr->objects) : NULL;
    PyObject *item = all ? Py_BuildValue("(OnnKOOOnO)", names, (Py_ssize_t)gr->cycles,
                                         (Py_ssize_t)gr->objects, (unsigned long long)gr->bytes,
                                         gr->finalizers ? Py_True : Py_False, cycle, edges,
                                         (Py_ssize_t)t->hops, all)
                         : NULL;
    Py_XDECREF(names);
    Py_XDECREF(cycle);
    Py_XDECREF(edges);
    Py_XDECREF(all);
    return item;
}

PyObject *
rc_garbage_groups(const rc_graph *g, const rc_cycles *c, PyObject *const *objs)
{
    PyObject *list = PyList_New((Py_ssize_t)c->n_shown);
    for (size_t i = 0; list && i < c->n_shown; i++) {
        PyObject *item = group_item(g, c, i, objs);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

/* _garbage(objects, limit, hops) -> (object_count, groups, finalizer objects,
 *                                    freed bytes)
 *   objects: None (predict the next collection) or a list of objects.
 *   groups: [(type names, cycles, objects, bytes, has_finalizers,
 *             objects along one shortest cycle (its first `hops` references
 *             and where the last leads), those references' edge indexes,
 *             the cycle's length, every member)]
 *   finalizer objects: how many of the objects have a finalizer (__del__).
 *   freed bytes: a prediction's, what the collection frees in all (the
 *   objects and what only they hold); None for given objects. */
static PyObject *
rc_garbage_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const params[] = {"objects", "limit", "hops", NULL};
    PyObject *av[3];
    Py_ssize_t limit, max_hops;
    if (rc_parse_fast("_garbage", args, nargs, NULL, params, 3, av) < 0 ||
        rc_arg_size("_garbage", "limit", av[1], 0, &limit) < 0 ||
        rc_arg_size("_garbage", "hops", av[2], 0, &max_hops) < 0) {
        return NULL;
    }
    PyObject *objects = av[0];
    if (objects != Py_None && !PyList_Check(objects)) {
        PyErr_SetString(PyExc_TypeError, "_garbage(): objects must be a list or None");
        return NULL;
    }
    question q = {0};
    analysis a = {0};
    rc_cycles c = {0};
    PyObject *result = NULL, *list = NULL, **objs = NULL;
    uint8_t *in_set = NULL;
    size_t count = 0;
    uint64_t bytes = 0;
    /* The BFS (which also records sizes) even for given objects: their
     * bytes are reported as the prediction's are.  A prediction sees the
     * tool's objects as the collector does: a Chain the user holds keeps its
     * objects alive, and a Chain in a garbage cycle (with the frame it starts
     * at, say) is freed with it. */
    q.tools = objects == Py_None;
    if ((objects != Py_None && question_hold(&q, objects) < 0) ||
        analyse(module, &q, AN_ALL, &a) < 0 ||
        !(in_set = select_set(&a, objects, &count, &bytes))) {
        goto finally;
    }
    rc_status st = rc_garbage_cycles(a.g, in_set, (size_t)limit, (size_t)max_hops, &c);
    if (st != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    if (!(objs = take_objects(a.g, c.ids, c.n_ids))) {
        goto finally;
    }
    /* Every object named is held: build the answer. */
    if ((list = rc_garbage_groups(a.g, &c, objs)) != NULL) {
        Py_ssize_t n = (Py_ssize_t)count, fin = (Py_ssize_t)c.finalizer_objects;
        result = objects == Py_None
                     ? Py_BuildValue("(nOnK)", n, list, fin, (unsigned long long)bytes)
                     : Py_BuildValue("(nOnO)", n, list, fin, Py_None);
    }
finally:
    rc_capture_release(objs, c.n_ids);
    Py_XDECREF(list);
    rc_cycles_clear(&c);
    rc_free(in_set);
    analysis_free(&a);
    question_free(&q);
    return result;
}

PyMethodDef rc_garbage_methods[] = {
    {"_garbage", (PyCFunction)(void (*)(void))rc_garbage_py, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};
