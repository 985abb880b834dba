/* _garbage: the objects the next full collection would free, and their
 * cycles grouped by type signature.  Nothing is collected.
 *
 * The set is the GC-capable objects no root reaches (after the BFS of
 * walker/paths.c), or, for collect_report(), the objects given.  Its
 * strongly connected components with a cycle are grouped by
 * rc_cycles_group(); for each group the references taken are one shortest
 * cycle of its representative component (the objects along it, for
 * labels) and every member of its cycles (for allocation lines), all before
 * any Python object is created. */
#include "rcmodule.h"

#include "refchain/alloc.h"
#include "refchain/scc.h"

/* One group's answer, held in C until the graph is gone. */
typedef struct taken_cycles {
    PyObject **cycle;     /* along one shortest cycle: its first shown + 1 objects */
    size_t n_cycle;
    uint32_t *edge;       /* the edge index of each reference shown */
    size_t shown, hops;   /* references shown; the cycle's length */
    PyObject **members;   /* every member of every cycle of the group */
    size_t n_members;
} taken_cycles;

static void
taken_cycles_free(taken_cycles *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        for (size_t j = 0; t[i].cycle && j < t[i].n_cycle; j++) {
            Py_DECREF(t[i].cycle[j]);
        }
        for (size_t j = 0; t[i].members && j < t[i].n_members; j++) {
            Py_DECREF(t[i].members[j]);
        }
        rc_free(t[i].edge);
        rc_free(t[i].cycle);
        rc_free(t[i].members);
    }
    rc_free(t);
}

/* Take one shortest cycle through `first`: the objects along its first
 * max_hops references and the object the last of them leads to, and the
 * references' edge indexes. */
static rc_status
take_cycle(const rc_graph *g, rc_cycle_finder *f, rc_id first, size_t max_hops,
           taken_cycles *t)
{
    rc_id *path = NULL;
    rc_status st = rc_cycle_finder_find(f, first, max_hops, &path, &t->edge, &t->hops);
    if (st != RC_OK) {
        return st;
    }
    t->shown = t->hops < max_hops ? t->hops : max_hops;
    t->cycle = rc_malloc((t->shown + 1) * sizeof *t->cycle);
    if (!t->cycle) {
        rc_free(path);
        return RC_ENOMEM;
    }
    for (size_t j = 0; t->shown && j <= t->shown; j++) {
        rc_id v;
        if (j < t->shown) {
            v = path[j];
        } else {
            size_t deg;
            v = rc_graph_out(g, path[j - 1], &deg)[t->edge[j - 1]];
        }
        t->cycle[j] = (PyObject *)rc_graph_addr(g, v);
        Py_INCREF(t->cycle[j]);
        t->n_cycle++;
    }
    rc_free(path);
    return RC_OK;
}

/* [n] of plain ints. */
static PyObject *
index_list(const uint32_t *values, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *k = PyLong_FromUnsignedLong(values[i]);
        if (!k) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, k);
    }
    return list;
}

static PyObject *
list_of(PyObject **objs, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        Py_INCREF(objs[i]);
        PyList_SET_ITEM(list, (Py_ssize_t)i, objs[i]);
    }
    return list;
}

/* _garbage(objects, limit, hops) -> (object_count, groups)
 *   objects: None (predict the next collection) or a list of objects.
 *   groups: [(type names, cycles, objects, bytes, has_finalizers,
 *             objects along one shortest cycle (its first `hops` references
 *             and where the last leads), those references' edge indexes,
 *             the cycle's length, every member)] */
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
    PyObject *result = NULL, *groups_list = NULL;
    uint8_t *in_set = NULL, *cyclic = NULL;
    uint32_t *comp = NULL;
    uintptr_t *addrs = NULL;
    rc_id *ids = NULL, *members = NULL;
    size_t *start = NULL, n_comp = 0, n_groups = 0, ng = 0, count = 0;
    uint32_t *group_of = NULL;
    rc_cycle_group *groups = NULL;
    taken_cycles *taken = NULL;
    rc_cycle_finder *finder = NULL;
    rc_status st;
    /* The BFS (which also records sizes) even for given objects: their
     * bytes are reported as the prediction's are.  A prediction sees the
     * tool's objects as the collector does: a Chain the user holds keeps its
     * objects alive, and a Chain in a garbage cycle (with the frame it starts
     * at, say) is freed with it. */
    q.tools = objects == Py_None;
    if ((objects != Py_None && question_hold(&q, objects) < 0) ||
        analyse(module, &q, 1, &a) < 0) {
        goto finally;
    }
    size_t n = rc_graph_node_count(a.g);
    in_set = rc_calloc(n ? n : 1, 1);
    if (!in_set) {
        PyErr_NoMemory();
        goto finally;
    }
    if (objects == Py_None) {
        /* The collector's roots are the objects held from outside the heap.
         * A tracked class or lru_cache is no such root by kind alone (a
         * class made and dropped at import time, in a cycle with its
         * __mro__, is freed): only if C code holds it. */
        rc_paths_free(a.paths);
        a.paths = NULL;
        for (rc_id v = 0; v < n; v++) {
            size_t indeg;
            if ((a.kinds[v] == RC_ROOT_CLASS || a.kinds[v] == RC_ROOT_CACHE) &&
                (rc_graph_flags(a.g, v) & RC_NODE_TRACKED)) {
                (void)rc_graph_in(a.g, v, &indeg);
                a.kinds[v] = (uint64_t)rc_graph_refcnt(a.g, v) > indeg ? RC_ROOT_C
                                                                       : RC_ROOT_NONE;
            }
        }
        if ((st = rc_paths_bfs(a.g, a.kinds, a.disc, a.n_disc, &a.paths)) != RC_OK) {
            rc_raise(st);
            goto finally;
        }
        /* What the collector would find: GC objects no root reaches.  It
         * counts the tracked ones; untracked ones die with them. */
        for (rc_id v = 0; v < n; v++) {
            unsigned f = rc_graph_flags(a.g, v);
            if ((f & RC_NODE_GC) && rc_paths_depth(a.paths, v) == RC_UNREACHED) {
                in_set[v] = 1;
                count += (f & RC_NODE_TRACKED) != 0;
            }
        }
    } else {
        size_t k = (size_t)PyList_GET_SIZE(objects);
        addrs = rc_malloc((k ? k : 1) * sizeof *addrs);
        ids = rc_malloc((k ? k : 1) * sizeof *ids);
        if (!addrs || !ids) {
            PyErr_NoMemory();
            goto finally;
        }
        for (size_t i = 0; i < k; i++) {
            addrs[i] = (uintptr_t)PyList_GET_ITEM(objects, (Py_ssize_t)i);
        }
        if ((st = rc_graph_find_many(a.g, addrs, k, ids)) != RC_OK) {
            rc_raise(st);
            goto finally;
        }
        for (size_t i = 0; i < k; i++) {
            if (ids[i] != RC_NO_ID && !in_set[ids[i]]) {
                in_set[ids[i]] = 1;
                count++;
            }
        }
    }
    if ((st = rc_scc(a.g, in_set, &comp, &n_comp, &cyclic)) != RC_OK ||
        (st = rc_cycles_group(a.g, comp, n_comp, cyclic, &groups, &n_groups, &members, &start,
                              &group_of)) != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    ng = (size_t)limit < n_groups ? (size_t)limit : n_groups;
    taken = rc_calloc(ng ? ng : 1, sizeof *taken);
    finder = max_hops ? rc_cycle_finder_new(a.g, comp) : NULL;
    if (!taken || (max_hops && !finder)) {
        PyErr_NoMemory();
        goto finally;
    }
    /* Take every reference the answer needs before creating anything. */
    for (size_t i = 0; i < ng; i++) {
        uint32_t c = groups[i].representative;
        taken[i].members = rc_malloc(groups[i].objects * sizeof *taken[i].members);
        if (!taken[i].members) {
            PyErr_NoMemory();
            goto finally;
        }
        if (finder && (st = take_cycle(a.g, finder, members[start[c]], (size_t)max_hops,
                                       &taken[i])) != RC_OK) {
            rc_raise(st);
            goto finally;
        }
    }
    for (size_t c = 0; c < n_comp; c++) {
        uint32_t gi = group_of[c];
        for (size_t j = start[c]; gi < ng && j < start[c + 1]; j++) {
            PyObject *o = (PyObject *)rc_graph_addr(a.g, members[j]);
            Py_INCREF(o);
            taken[gi].members[taken[gi].n_members++] = o;
        }
    }
    /* Every object named is held: build the answer. */
    groups_list = PyList_New(0);
    for (size_t i = 0; groups_list && i < ng; i++) {
        PyObject *names = PyTuple_New((Py_ssize_t)groups[i].n_types);
        for (size_t t = 0; names && t < groups[i].n_types; t++) {
            PyObject *s = PyUnicode_FromString(rc_graph_type_name(a.g, groups[i].types[t]));
            if (!s) {
                Py_CLEAR(names);
                break;
            }
            PyTuple_SET_ITEM(names, (Py_ssize_t)t, s);
        }
        PyObject *cycle = names ? list_of(taken[i].cycle, taken[i].n_cycle) : NULL;
        PyObject *edges = cycle ? index_list(taken[i].edge, taken[i].shown) : NULL;
        PyObject *all = edges ? list_of(taken[i].members, taken[i].n_members) : NULL;
        PyObject *item = all ? Py_BuildValue("(OnnKOOOnO)", names, (Py_ssize_t)groups[i].cycles,
                                             (Py_ssize_t)groups[i].objects,
                                             (unsigned long long)groups[i].bytes,
                                             groups[i].finalizers ? Py_True : Py_False, cycle,
                                             edges, (Py_ssize_t)taken[i].hops, all)
                             : NULL;
        Py_XDECREF(names);
        Py_XDECREF(cycle);
        Py_XDECREF(edges);
        Py_XDECREF(all);
        if (!item || PyList_Append(groups_list, item) < 0) {
            Py_CLEAR(groups_list);
        }
        Py_XDECREF(item);
    }
    if (groups_list) {
        result = Py_BuildValue("(nO)", (Py_ssize_t)count, groups_list);
    }
finally:
    rc_cycle_finder_free(finder);
    taken_cycles_free(taken, ng);
    rc_cycle_groups_free(groups, n_groups);
    rc_free(group_of);
    Py_XDECREF(groups_list);
    rc_free(members);
    rc_free(start);
    rc_free(comp);
    rc_free(cyclic);
    rc_free(in_set);
    rc_free(addrs);
    rc_free(ids);
    analysis_free(&a);
    question_free(&q);
    return result;
}

PyMethodDef rc_garbage_methods[] = {
    {"_garbage", (PyCFunction)(void (*)(void))rc_garbage_py, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};
