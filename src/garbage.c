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
#include "refchain/unreachable.h"

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
        t->cycle[j] = (PyObject *)rc_graph_addr(g, path[j]);
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

/* The cycles among the set, grouped by rc_cycles_group(). */
typedef struct cycles {
    uint32_t *comp;
    size_t n_comp;
    uint8_t *cyclic;
    rc_cycle_group *groups;
    size_t n_groups;
    rc_id *members;
    size_t *start;
    uint32_t *group_of;
} cycles;

static void
cycles_free(cycles *c)
{
    rc_cycle_groups_free(c->groups, c->n_groups);
    rc_free(c->group_of);
    rc_free(c->members);
    rc_free(c->start);
    rc_free(c->comp);
    rc_free(c->cyclic);
}

/* The set asked about, one byte per node (rc_malloc'ed): the prediction
 * (rc_unreachable) or the objects given; *count receives how many objects
 * it holds as the answer counts them.  NULL with an exception set. */
static uint8_t *
select_set(analysis *a, PyObject *objects, size_t *count)
{
    uint8_t *in_set = NULL;
    rc_status st;
    if (objects == Py_None) {
        rc_paths_free(a->paths); /* the BFS is redone from the collector's roots */
        a->paths = NULL;
        if ((st = rc_unreachable(a->g, a->kinds, a->disc, a->n_disc, &in_set, count)) != RC_OK) {
            rc_raise(st);
        }
        return in_set;
    }
    size_t n = rc_graph_node_count(a->g), k = (size_t)PyList_GET_SIZE(objects);
    uintptr_t *addrs = rc_malloc((k ? k : 1) * sizeof *addrs);
    rc_id *ids = rc_malloc((k ? k : 1) * sizeof *ids);
    in_set = rc_calloc(n ? n : 1, 1);
    st = addrs && ids && in_set ? RC_OK : RC_ENOMEM;
    for (size_t i = 0; st == RC_OK && i < k; i++) {
        addrs[i] = (uintptr_t)PyList_GET_ITEM(objects, (Py_ssize_t)i);
    }
    if (st == RC_OK) {
        st = rc_graph_find_many(a->g, addrs, k, ids);
    }
    *count = 0;
    for (size_t i = 0; st == RC_OK && i < k; i++) {
        if (ids[i] != RC_NO_ID && !in_set[ids[i]]) {
            in_set[ids[i]] = 1;
            ++*count;
        }
    }
    rc_free(addrs);
    rc_free(ids);
    if (st != RC_OK) {
        rc_free(in_set);
        rc_raise(st);
        return NULL;
    }
    return in_set;
}

/* Every reference the first ng groups' answer needs, taken before any
 * Python object is made.  NULL with an exception set. */
static taken_cycles *
take_all(const rc_graph *g, const cycles *c, size_t ng, size_t max_hops)
{
    taken_cycles *taken = rc_calloc(ng ? ng : 1, sizeof *taken);
    rc_cycle_finder *finder = max_hops ? rc_cycle_finder_new(g, c->comp) : NULL;
    rc_status st = taken && (!max_hops || finder) ? RC_OK : RC_ENOMEM;
    for (size_t i = 0; st == RC_OK && i < ng; i++) {
        uint32_t rep = c->groups[i].representative;
        taken[i].members = rc_malloc(c->groups[i].objects * sizeof *taken[i].members);
        if (!taken[i].members) {
            st = RC_ENOMEM;
        } else if (finder) {
            st = take_cycle(g, finder, c->members[c->start[rep]], max_hops, &taken[i]);
        }
    }
    for (size_t k = 0; st == RC_OK && k < c->n_comp; k++) {
        uint32_t gi = c->group_of[k];
        for (size_t j = c->start[k]; gi < ng && j < c->start[k + 1]; j++) {
            PyObject *o = (PyObject *)rc_graph_addr(g, c->members[j]);
            Py_INCREF(o);
            taken[gi].members[taken[gi].n_members++] = o;
        }
    }
    rc_cycle_finder_free(finder);
    if (st != RC_OK) {
        taken_cycles_free(taken, taken ? ng : 0);
        rc_raise(st);
        return NULL;
    }
    return taken;
}

/* One group's answer tuple (see _garbage). */
static PyObject *
group_item(const rc_graph *g, const rc_cycle_group *gr, const taken_cycles *t)
{
    PyObject *names = PyTuple_New((Py_ssize_t)gr->n_types);
    for (size_t k = 0; names && k < gr->n_types; k++) {
        PyObject *s = PyUnicode_FromString(rc_graph_type_name(g, gr->types[k]));
        if (!s) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, (Py_ssize_t)k, s);
    }
    PyObject *cycle = names ? list_of(t->cycle, t->n_cycle) : NULL;
    PyObject *edges = cycle ? index_list(t->edge, t->shown) : NULL;
    PyObject *all = edges ? list_of(t->members, t->n_members) : NULL;
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
    cycles c = {0};
    PyObject *result = NULL, *list = NULL;
    uint8_t *in_set = NULL;
    taken_cycles *taken = NULL;
    size_t count = 0, ng = 0;
    /* The BFS (which also records sizes) even for given objects: their
     * bytes are reported as the prediction's are.  A prediction sees the
     * tool's objects as the collector does: a Chain the user holds keeps its
     * objects alive, and a Chain in a garbage cycle (with the frame it starts
     * at, say) is freed with it. */
    q.tools = objects == Py_None;
    if ((objects != Py_None && question_hold(&q, objects) < 0) ||
        analyse(module, &q, 1, &a) < 0 || !(in_set = select_set(&a, objects, &count))) {
        goto finally;
    }
    rc_status st = rc_scc(a.g, in_set, &c.comp, &c.n_comp, &c.cyclic);
    if (st == RC_OK) {
        st = rc_cycles_group(a.g, c.comp, c.n_comp, c.cyclic, &c.groups, &c.n_groups,
                             &c.members, &c.start, &c.group_of);
    }
    if (st != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    ng = (size_t)limit < c.n_groups ? (size_t)limit : c.n_groups;
    if (!(taken = take_all(a.g, &c, ng, (size_t)max_hops))) {
        goto finally;
    }
    /* Every object named is held: build the answer. */
    list = PyList_New((Py_ssize_t)ng);
    for (size_t i = 0; list && i < ng; i++) {
        PyObject *item = group_item(a.g, &c.groups[i], &taken[i]);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    if (list) {
        result = Py_BuildValue("(nO)", (Py_ssize_t)count, list);
    }
finally:
    taken_cycles_free(taken, ng);
    Py_XDECREF(list);
    cycles_free(&c);
    rc_free(in_set);
    analysis_free(&a);
    question_free(&q);
    return result;
}

PyMethodDef rc_garbage_methods[] = {
    {"_garbage", (PyCFunction)(void (*)(void))rc_garbage_py, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};
