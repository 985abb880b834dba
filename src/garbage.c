/* _garbage: the objects the next full collection would free, and their
 * cycles grouped by type signature.  Nothing is collected.
 *
 * The set is the GC-capable objects no root reaches (after the BFS of
 * walker/paths.c), or, for collect_report(), the objects given.  Its
 * strongly connected components with a cycle are grouped by
 * rc_cycles_group(); for each group the references taken are its
 * representative cycle (with its internal edges, for labels) and every
 * member of its cycles (for allocation lines), all before any Python object
 * is created. */
#include "rcmodule.h"

#include "refchain/alloc.h"
#include "refchain/scc.h"

/* One group's answer, held in C until the graph is gone. */
typedef struct taken_cycles {
    PyObject **rep;       /* the representative cycle's members */
    size_t n_rep;
    rc_id *rep_ids;
    PyObject **members;   /* every member of every cycle of the group */
    size_t n_members;
} taken_cycles;

static void
taken_cycles_free(taken_cycles *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        for (size_t j = 0; t[i].rep && j < t[i].n_rep; j++) {
            Py_DECREF(t[i].rep[j]);
        }
        for (size_t j = 0; t[i].members && j < t[i].n_members; j++) {
            Py_DECREF(t[i].members[j]);
        }
        rc_free(t[i].rep);
        rc_free(t[i].rep_ids);
        rc_free(t[i].members);
    }
    rc_free(t);
}

/* [(i, j, edge index)] for the edges among rep[0..n) in the graph.  pos
 * has one entry per node, all UINT32_MAX, and is left so. */
static PyObject *
internal_edges(const rc_graph *g, const rc_id *ids, size_t n, uint32_t *pos)
{
    for (size_t i = 0; i < n; i++) {
        if (pos[ids[i]] == UINT32_MAX) {
            pos[ids[i]] = (uint32_t)i;
        }
    }
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < n; i++) {
        size_t deg;
        const rc_id *out = rc_graph_out(g, ids[i], &deg);
        for (size_t k = 0; list && k < deg; k++) {
            uint32_t j = pos[out[k]];
            if (j == UINT32_MAX) {
                continue;
            }
            PyObject *e = Py_BuildValue("(nnn)", (Py_ssize_t)i, (Py_ssize_t)j, (Py_ssize_t)k);
            if (!e || PyList_Append(list, e) < 0) {
                Py_CLEAR(list);
            }
            Py_XDECREF(e);
        }
    }
    for (size_t i = 0; i < n; i++) {
        pos[ids[i]] = UINT32_MAX;
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

/* _garbage(objects, limit) -> (object_count, groups)
 *   objects: None (predict the next collection) or a list of objects.
 *   groups: [(type names, cycles, objects, bytes, has_finalizers,
 *             representative cycle, its edges [(i, j, edge index)],
 *             every member)] */
static PyObject *
rc_garbage_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const params[] = {"objects", "limit", NULL};
    PyObject *av[2];
    Py_ssize_t limit;
    if (rc_parse_fast("_garbage", args, nargs, NULL, params, 2, av) < 0 ||
        rc_arg_size("_garbage", "limit", av[1], 0, &limit) < 0) {
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
    uint32_t *comp = NULL, *pos = NULL;
    uintptr_t *addrs = NULL;
    rc_id *ids = NULL, *members = NULL;
    size_t *start = NULL, n_comp = 0, n_groups = 0, ng = 0, count = 0;
    uint32_t *group_of = NULL;
    rc_cycle_group *groups = NULL;
    taken_cycles *taken = NULL;
    rc_status st;
    /* The BFS (which also records sizes) even for given objects: their
     * bytes are reported as the prediction's are. */
    if ((objects != Py_None && question_hold(&q, objects) < 0) ||
        analyse(module, &q, 1, &a) < 0) {
        goto finally;
    }
    size_t n = rc_graph_node_count(a.g);
    in_set = rc_calloc(n ? n : 1, 1);
    pos = rc_malloc((n ? n : 1) * sizeof *pos);
    if (!in_set || !pos) {
        PyErr_NoMemory();
        goto finally;
    }
    for (size_t v = 0; v < n; v++) {
        pos[v] = UINT32_MAX;
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
    if (!taken) {
        PyErr_NoMemory();
        goto finally;
    }
    /* Take every reference the answer needs before creating anything. */
    for (size_t i = 0; i < ng; i++) {
        uint32_t c = groups[i].representative;
        size_t n_rep = start[c + 1] - start[c];
        taken[i].rep_ids = rc_malloc(n_rep * sizeof *taken[i].rep_ids);
        taken[i].rep = rc_malloc(n_rep * sizeof *taken[i].rep);
        taken[i].members = rc_malloc(groups[i].objects * sizeof *taken[i].members);
        if (!taken[i].rep_ids || !taken[i].rep || !taken[i].members) {
            PyErr_NoMemory();
            goto finally;
        }
        for (size_t j = 0; j < n_rep; j++) {
            rc_id v = members[start[c] + j];
            taken[i].rep_ids[j] = v;
            taken[i].rep[j] = (PyObject *)rc_graph_addr(a.g, v);
            Py_INCREF(taken[i].rep[j]);
            taken[i].n_rep++;
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
        PyObject *rep = names ? list_of(taken[i].rep, taken[i].n_rep) : NULL;
        PyObject *edges = rep ? internal_edges(a.g, taken[i].rep_ids, taken[i].n_rep, pos) : NULL;
        PyObject *all = edges ? list_of(taken[i].members, taken[i].n_members) : NULL;
        PyObject *item = all ? Py_BuildValue("(OnnKOOOO)", names, (Py_ssize_t)groups[i].cycles,
                                             (Py_ssize_t)groups[i].objects,
                                             (unsigned long long)groups[i].bytes,
                                             groups[i].finalizers ? Py_True : Py_False, rep,
                                             edges, all)
                             : NULL;
        Py_XDECREF(names);
        Py_XDECREF(rep);
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
    taken_cycles_free(taken, ng);
    rc_cycle_groups_free(groups, n_groups);
    rc_free(group_of);
    Py_XDECREF(groups_list);
    rc_free(members);
    rc_free(start);
    rc_free(comp);
    rc_free(cyclic);
    rc_free(in_set);
    rc_free(pos);
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
