/* refchain.load()'s C side: _load(path) reads a file (walker/load.c) into a
 * SnapshotGraph, which answers from the graph alone: node ids in, node ids
 * and plain values out.  The package (refchain._snapshot) turns them into
 * the same text as the live answers.  src/dump.c writes the files. */
#include "rcmodule.h"

#include "refchain/alloc.h"
#include "refchain/dominators.h"
#include "refchain/explain.h"
#include "refchain/heapsnap.h"
#include "refchain/hood.h"
#include "refchain/relate.h"
#include "refchain/scc.h"
#include "refchain/select.h"
#include "refchain/snapshot.h"
#include "refchain/unreachable.h"
#include "refchain/describe.h"

/* ---- _load(path) -> SnapshotGraph---------------------------------------------- */

typedef struct snap_obj {
    rc_tool base;
    rc_snapshot *s;
    uint8_t *kinds;     /* per node: rc_roots_classify, made on first use */
    rc_paths *paths;    /* the BFS from the roots, made on first use */
    rc_dominators *dom; /* the dominator tree, made on first use */
} snap_obj;

#define SNAP(op) ((snap_obj *)(op))
#define SGRAPH(op) rc_snapshot_graph(SNAP(op)->s)

static void
snap_dealloc(PyObject *op)
{
    snap_obj *self = SNAP(op);
    rc_dominators_free(self->dom);
    rc_paths_free(self->paths);
    rc_free(self->kinds);
    rc_snapshot_free(self->s);
    rc_tool_dealloc(op);
}

static PyObject *
rc_load_py(PyObject *module, PyObject *arg)
{
    PyObject *path;
    if (!PyUnicode_FSConverter(arg, &path)) {
        return NULL;
    }
    rc_snapshot *s = NULL;
    char msg[512] = "";
    rc_snap_status st;
    Py_BEGIN_ALLOW_THREADS
    st = rc_snapshot_load(PyBytes_AS_STRING(path), &s, msg, sizeof msg);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (st != RC_SNAP_OK) {
        return rc_snap_raise(st, msg);
    }
    snap_obj *self = (snap_obj *)rc_tool_new(module, rc_module_state(module)->snapshot_type);
    if (!self) {
        rc_snapshot_free(s);
        return NULL;
    }
    self->s = s;
    self->kinds = NULL;
    self->paths = NULL;
    self->dom = NULL;
    return (PyObject *)self;
}

static Py_ssize_t
snap_len(PyObject *op)
{
    return (Py_ssize_t)rc_graph_node_count(SGRAPH(op));
}

/* The in-edges and root kinds, made on first use (a census needs neither).
 * Roots are classified from the graph alone, as in the live process.  -1
 * with an exception set. */
static int
snap_kinds(snap_obj *self)
{
    rc_graph *g = rc_snapshot_graph(self->s);
    rc_status st = self->kinds ? RC_OK : rc_graph_build_in(g);
    if (st == RC_OK && !self->kinds) {
        st = rc_roots_classify(g, &self->kinds);
    }
    if (st != RC_OK) {
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* The BFS from the roots, made once.  -1 with an exception set. */
static int
snap_paths(snap_obj *self)
{
    if (snap_kinds(self) < 0) {
        return -1;
    }
    rc_status st = self->paths ? RC_OK
                               : rc_paths_bfs(rc_snapshot_graph(self->s), self->kinds, NULL, 0,
                                              &self->paths);
    if (st != RC_OK) {
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* The dominator tree over the root kinds, made once.  -1 with an
 * exception set. */
static int
snap_dominators(snap_obj *self)
{
    if (snap_kinds(self) < 0) {
        return -1;
    }
    rc_status st = self->dom ? RC_OK
                             : rc_dominators_compute(rc_snapshot_graph(self->s), self->kinds,
                                                     &self->dom);
    if (st != RC_OK) {
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* A node id argument: -1 with an exception set when it is not one. */
static long
node_arg(PyObject *op, PyObject *arg)
{
    unsigned long v = PyLong_AsUnsignedLong(arg);
    if (PyErr_Occurred() || v >= rc_graph_node_count(SGRAPH(op))) {
        PyErr_Clear();
        PyErr_SetString(PyExc_IndexError, "not a node id of this snapshot");
        return -1;
    }
    return (long)v;
}

/* census(shortnames=False) */
static PyObject *
snap_census(PyObject *op, PyObject *arg)
{
    int shortnames = PyObject_IsTrue(arg);
    if (shortnames < 0) {
        return NULL;
    }
    rc_census *c = NULL;
    unsigned flags = RC_CENSUS_WITH_IDS | RC_CENSUS_NO_TOOL_FRAMES |
                     (shortnames ? RC_CENSUS_SHORT_NAMES : 0);
    rc_status st = rc_census_of(SGRAPH(op), flags, &c);
    return st == RC_OK ? rc_census_wrap(((rc_tool *)op)->module, c) : rc_raise(st);
}

/* find(address) -> node id or None */
static PyObject *
snap_find(PyObject *op, PyObject *arg)
{
    unsigned long long addr = PyLong_AsUnsignedLongLong(arg);
    if (addr == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    rc_id v = rc_graph_find(SGRAPH(op), (uintptr_t)addr);
    if (v == RC_NO_ID) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLong(v);
}

static PyObject *
none_ref(void)
{
    Py_INCREF(Py_None);
    return Py_None;
}

/* node(id) -> (address, type name, short name, size, refcount, flags,
 *              type flags, value bytes or None, root index or None) */
static PyObject *
snap_node(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0) {
        return NULL;
    }
    const rc_graph *g = SGRAPH(op);
    uint32_t t = rc_graph_type(g, (rc_id)v);
    size_t len;
    const char *value = rc_snapshot_value(SNAP(op)->s, (rc_id)v, &len);
    uint32_t r = rc_snapshot_root_of(SNAP(op)->s, (rc_id)v);
    PyObject *value_obj = value ? PyBytes_FromStringAndSize(value, (Py_ssize_t)len)
                                : none_ref();
    PyObject *root = r == RC_SNAP_NONE ? none_ref() : PyLong_FromUnsignedLong(r);
    PyObject *result = value_obj && root
                           ? Py_BuildValue("(KssKkIIOO)", (unsigned long long)rc_graph_addr(g, (rc_id)v),
                                           rc_graph_type_name(g, t), rc_graph_type_short_name(g, t),
                                           (unsigned long long)rc_graph_size(g, (rc_id)v),
                                           (unsigned long)rc_graph_refcnt(g, (rc_id)v),
                                           rc_graph_flags(g, (rc_id)v), rc_graph_type_flags(g, t),
                                           value_obj, root)
                           : NULL;
    Py_XDECREF(value_obj);
    Py_XDECREF(root);
    return result;
}

/* root(i) -> (node id, kind name, text or None) */
static PyObject *
snap_root(PyObject *op, PyObject *arg)
{
    Py_ssize_t i = PyNumber_AsSsize_t(arg, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0 || (size_t)i >= rc_snapshot_root_count(SNAP(op)->s)) {
        PyErr_SetString(PyExc_IndexError, "root index out of range");
        return NULL;
    }
    rc_snap_root r = rc_snapshot_root(SNAP(op)->s, (size_t)i);
    return Py_BuildValue("(Isz)", (unsigned)r.node,
                         rc_root_kind_name(r.kind < RC_ROOT_KINDS ? r.kind : RC_ROOT_C), r.text);
}

/* The text of v's k-th reference read alone (a new str): its relation as
 * the file recorded it (rc_snapshot_relation). */
static PyObject *
edge_text(PyObject *op, rc_id v, size_t k)
{
    rc_relation rel;
    rc_status st = rc_snapshot_relation(SNAP(op)->s, v, k, &rel);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    PyObject *text = PyUnicode_DecodeUTF8(rel.text, (Py_ssize_t)strlen(rel.text), "replace");
    rc_relation_clear(&rel);
    return text;
}

/* out(from) -> ((target id, label), ...) for each out-edge. */
static PyObject *
snap_out(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0) {
        return NULL;
    }
    size_t deg;
    const rc_id *out = rc_graph_out(SGRAPH(op), (rc_id)v, &deg);
    PyObject *t = PyTuple_New((Py_ssize_t)deg);
    for (size_t k = 0; t && k < deg; k++) {
        PyObject *text = edge_text(op, (rc_id)v, k);
        PyObject *item = text ? Py_BuildValue("(IN)", (unsigned)out[k], text) : NULL;
        if (!item) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)k, item);
    }
    return t;
}

/* An edge argument: node id `id` and the index `k` of one of its
 * out-edges, into *v and *edge.  -1 with an exception set when they name
 * no edge (`what`: the method, for the message). */
static int
edge_arg(PyObject *op, PyObject *id, PyObject *k, const char *what, rc_id *v,
         size_t *edge)
{
    long node = node_arg(op, id);
    size_t deg = 0, index = node < 0 ? 0 : PyLong_AsSize_t(k);
    if (node < 0 || (index == (size_t)-1 && PyErr_Occurred())) {
        return -1;
    }
    rc_graph_out(SGRAPH(op), (rc_id)node, &deg);
    if (index >= deg) {
        PyErr_Format(PyExc_IndexError, "%s(): not an edge of this snapshot", what);
        return -1;
    }
    *v = (rc_id)node;
    *edge = index;
    return 0;
}

/* ((end, label), ...) from steps[0..n). */
static PyObject *
steps_tuple(const rc_label_step *steps, size_t n)
{
    PyObject *result = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; result && i < n; i++) {
        PyObject *item =
            Py_BuildValue("(ns)", (Py_ssize_t)steps[i].end, steps[i].label);
        if (!item) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, item);
    }
    return result;
}

/* labels(ids, edges) -> ((end, label), ...): the steps of a chain as the
 * live chain reads them (rc_snapshot_chain_labels: rc_present on the
 * file's relations, so a module's __dict__ and the global in it read
 * `['name']`).  edges[i] is the index among ids[i]'s out-edges of the
 * reference to ids[i + 1]. */
static PyObject *
snap_labels(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_Check(args[0]) || !PyTuple_Check(args[1]) ||
        PyTuple_GET_SIZE(args[1]) + 1 != (PyTuple_GET_SIZE(args[0]) ? PyTuple_GET_SIZE(args[0]) : 1)) {
        PyErr_SetString(PyExc_TypeError, "labels(ids, edges): tuples, one edge per hop");
        return NULL;
    }
    size_t n = (size_t)PyTuple_GET_SIZE(args[1]), n_steps = 0;
    rc_id *ids = rc_malloc((n ? n : 1) * sizeof *ids);
    size_t *edges = rc_malloc((n ? n : 1) * sizeof *edges);
    rc_label_step *steps = NULL;
    PyObject *result = NULL;
    if (!ids || !edges) {
        PyErr_NoMemory();
        goto finally;
    }
    for (size_t i = 0; i < n; i++) {
        if (edge_arg(op, PyTuple_GET_ITEM(args[0], (Py_ssize_t)i),
                     PyTuple_GET_ITEM(args[1], (Py_ssize_t)i), "labels", &ids[i],
                     &edges[i]) < 0) {
            goto finally;
        }
    }
    rc_status st =
        rc_snapshot_chain_labels(SNAP(op)->s, ids, edges, n, &steps, &n_steps);
    result = st == RC_OK ? steps_tuple(steps, n_steps) : rc_raise(st);
finally:
    rc_label_steps_free(steps, n_steps);
    rc_free(ids);
    rc_free(edges);
    return result;
}

/* Traceback t's frames as ((file, line), ...), innermost first. */
static PyObject *
traceback_tuple(const rc_snapshot *s, uint32_t t)
{
    size_t n;
    const uint32_t *frames = rc_snapshot_traceback(s, t, &n);
    PyObject *tuple = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; tuple && i < n; i++) {
        rc_snap_frame f = rc_snapshot_frame(s, frames[i]);
        PyObject *item = Py_BuildValue("(sI)", f.file, (unsigned)f.line);
        if (!item) {
            Py_CLEAR(tuple);
            break;
        }
        PyTuple_SET_ITEM(tuple, (Py_ssize_t)i, item);
    }
    return tuple;
}

/* frames(id) -> ((file, line), ...) innermost first, or None */
static PyObject *
snap_frames(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0) {
        return NULL;
    }
    if (rc_snapshot_alloc_depth(SNAP(op)->s, (rc_id)v) == 0) {
        Py_RETURN_NONE;
    }
    return traceback_tuple(SNAP(op)->s, rc_snapshot_node_traceback(SNAP(op)->s, (rc_id)v));
}

/* {frames: count} from count[t], the nodes traceback t made (frames as
 * frames() gives them); tracebacks that made none are left out.  Steals
 * `result` (a new dict, or NULL). */
static PyObject *
count_dict(const rc_snapshot *s, const size_t *count, size_t n_tb, PyObject *result)
{
    for (size_t t = 0; result && t < n_tb; t++) {
        if (!count[t]) {
            continue;
        }
        PyObject *frames = traceback_tuple(s, (uint32_t)t);
        PyObject *num = frames ? PyLong_FromSize_t(count[t]) : NULL;
        if (!num || PyDict_SetItem(result, frames, num) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(frames);
        Py_XDECREF(num);
    }
    return result;
}

/* The node ids of a list or tuple made by PySequence_Fast (rc_malloc'ed,
 * the caller frees it).  NULL with an exception set. */
static rc_id *
node_args(PyObject *op, PyObject *seq)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    rc_id *ids = rc_malloc((n ? (size_t)n : 1) * sizeof *ids);
    if (!ids) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = node_arg(op, PySequence_Fast_GET_ITEM(seq, i));
        if (v < 0) {
            rc_free(ids);
            return NULL;
        }
        ids[i] = (rc_id)v;
    }
    return ids;
}

/* {frames: count} for the nodes ids[0..n) (rc_snapshot_traceback_histogram);
 * tracebacks that made none are left out. */
static PyObject *
traceback_dict(const rc_snapshot *s, const rc_id *ids, size_t n)
{
    size_t *count = NULL;
    rc_status st = rc_snapshot_traceback_histogram(s, ids, n, &count);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    PyObject *result =
        count_dict(s, count, rc_snapshot_traceback_count(s), PyDict_New());
    rc_free(count);
    return result;
}

/* traceback_counts(ids) -> {frames: count}: how many of the nodes `ids`
 * each allocation traceback made; nodes with none are left out.  What
 * allocation_sites() counts, with no SnapNode made per object. */
static PyObject *
snap_traceback_counts(PyObject *op, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "traceback_counts() takes a sequence of node ids");
    if (!seq) {
        return NULL;
    }
    rc_id *ids = node_args(op, seq);
    PyObject *result =
        ids ? traceback_dict(SNAP(op)->s, ids, (size_t)PySequence_Fast_GET_SIZE(seq))
            : NULL;
    rc_free(ids);
    Py_DECREF(seq);
    return result;
}

/* rc_members_maker for explain: traceback_counts() of a group's members,
 * or None when the snapshot has no allocation tracebacks. */
static PyObject *
traced_counts(void *ctx, const rc_id *ids, size_t n)
{
    const rc_snapshot *s = ctx;
    if (!rc_snapshot_traceback_count(s)) {
        Py_RETURN_NONE;
    }
    return traceback_dict(s, ids, n);
}

/* facts() -> [(key, value)]; sections() -> int */
static PyObject *
snap_facts(PyObject *op, PyObject *Py_UNUSED(arg))
{
    size_t n = rc_snapshot_fact_count(SNAP(op)->s);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        rc_snap_fact f = rc_snapshot_fact(SNAP(op)->s, i);
        PyObject *item = Py_BuildValue("(ss)", f.key, f.value);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *
snap_sections(PyObject *op, PyObject *Py_UNUSED(arg))
{
    return PyLong_FromUnsignedLong(rc_snapshot_sections(SNAP(op)->s));
}

/* A chain as plain data: (kind, (node id, ...), (edge index, ...)). */
static PyObject *
id_chain(PyObject *Py_UNUSED(module), int kind, PyObject *const *Py_UNUSED(objs),
         const rc_id *ids, const uint32_t *edges, size_t n)
{
    PyObject *nodes = PyTuple_New((Py_ssize_t)n), *hops = PyTuple_New(n ? (Py_ssize_t)n - 1 : 0);
    for (size_t i = 0; nodes && hops && i < n; i++) {
        PyObject *id = PyLong_FromUnsignedLong(ids[i]);
        if (!id) {
            Py_CLEAR(nodes);
            break;
        }
        PyTuple_SET_ITEM(nodes, (Py_ssize_t)i, id);
        if (i + 1 < n) {
            PyObject *e = PyLong_FromUnsignedLong(edges[i]);
            if (!e) {
                Py_CLEAR(nodes);
                break;
            }
            PyTuple_SET_ITEM(hops, (Py_ssize_t)i, e);
        }
    }
    PyObject *result = nodes && hops
                           ? Py_BuildValue("(sOO)", kind < RC_ROOT_KINDS ? rc_root_kind_name(kind)
                                                                         : "unreachable",
                                           nodes, hops)
                           : NULL;
    Py_XDECREF(nodes);
    Py_XDECREF(hops);
    return result;
}

/* ints[i] = node id ids[i] as an int (new references); NULL on failure. */
static PyObject **
id_objects(const rc_id *ids, size_t n)
{
    PyObject **objs = rc_calloc(n ? n : 1, sizeof *objs);
    for (size_t i = 0; objs && i < n; i++) {
        if (!(objs[i] = PyLong_FromUnsignedLong(ids[i]))) {
            rc_capture_release(objs, i);
            objs = NULL;
        }
    }
    if (!objs && !PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    return objs;
}

/* chain(id) -> (kind, ids, edges): the shortest chain from a root, found
 * as live find_chain() finds it (rc_paths_find_or_alone, backwards from the
 * target; the target alone, kind "unreachable", when no root reaches it). */
static PyObject *
snap_chain(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0 || snap_kinds(SNAP(op)) < 0) {
        return NULL;
    }
    rc_id *ids = NULL;
    uint32_t *edges = NULL;
    size_t n = 0;
    uint8_t kind = RC_ROOT_KINDS;
    rc_status st =
        rc_paths_find_or_alone(SGRAPH(op), (rc_id)v, NULL, 0, &ids, &edges, &n, &kind);
    PyObject *result = st == RC_OK ? id_chain(NULL, kind, NULL, ids, edges, n) : rc_raise(st);
    rc_free(ids);
    rc_free(edges);
    return result;
}

/* explain(selector, since, limit, by_type) -> as _explain, with node ids for
 * objects and (kind, ids, edges) for chains. */
static PyObject *
snap_explain(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"selector", "since", "limit", "by_type", NULL};
    PyObject *av[4];
    Py_ssize_t limit;
    if (rc_parse_fast("explain", args, nargs, NULL, names, 4, av) < 0 ||
        rc_arg_size("explain", "limit", av[2], 0, &limit) < 0) {
        return NULL;
    }
    snap_obj *self = SNAP(op);
    PyObject *module = ((rc_tool *)op)->module;
    int by_type = PyObject_IsTrue(av[3]);
    rc_census *since = NULL;
    type_sel sel = {0};
    if (by_type < 0 || (av[1] != Py_None && !(since = rc_census_unwrap(module, av[1], "since"))) ||
        (av[0] != Py_None && type_sel_parse(av[0], "explain", &sel) < 0) || snap_kinds(self) < 0) {
        Py_XDECREF(sel.keep);
        return NULL;
    }
    /* From here no Python code runs until the job ends.  The dominator
     * tree, when not made yet, is made in a thread of its own while the
     * chains are searched and the members grouped. */
    const rc_graph *g = SGRAPH(op);
    rc_dom_job job, *pending = NULL;
    if (!self->dom) {
        rc_dominators_begin(&job, g, self->kinds);
        pending = &job;
    }
    rc_dominators *dom = NULL;
    unsigned char *mask = NULL;
    size_t marked, n = 0;
    rc_id *members = NULL;
    rc_explanation e = {0};
    PyObject *result = NULL;
    rc_status st = self->paths ? RC_OK : rc_paths_bfs(g, self->kinds, NULL, 0, &self->paths);
    if (st == RC_OK && av[0] != Py_None && !(mask = type_sel_mask(&sel, g, &marked))) {
        st = RC_EPYTHON; /* raised */
    }
    if (st == RC_OK) {
        st = since ? rc_census_new_nodes(since, g, mask, &members, &n)
                   : rc_select_nodes(g, mask, RC_NODE_TOOL_FRAME, &members, &n);
    }
    if (st == RC_OK) {
        rc_hop_names hop_names = {rc_snapshot_hop_positional, self->s};
        st = pending ? rc_explain_overlapped(g, self->paths, self->kinds, pending, &dom,
                                             members, n, by_type, (size_t)limit, &hop_names, &e)
                     : rc_explain(g, self->paths, self->kinds, self->dom, members, n, by_type,
                                  (size_t)limit, &hop_names, &e);
        pending = NULL; /* rc_explain_overlapped ended it */
    }
    if (pending) {
        (void)rc_dominators_end(pending, &dom);
    }
    if (!self->dom) {
        self->dom = dom; /* kept for the next question */
    } else {
        rc_dominators_free(dom);
    }
    if (st == RC_EINVAL && since) {
        PyErr_SetString(PyExc_ValueError, "since: this census does not remember its objects");
    } else if (st != RC_OK) {
        rc_raise(st);
    } else {
        /* A group's members stand as their allocation counts: no int per
         * member (a million of them, at 10M objects). */
        rc_members_maker counts = {traced_counts, SNAP(op)->s};
        result = rc_explain_result(module, g, by_type, &e, NULL, id_chain, &counts);
    }
    rc_explanation_clear(&e);
    rc_free(members);
    rc_free(mask);
    Py_XDECREF(sel.keep);
    return result;
}

/* new_ids(since, selector) -> [node id]: the nodes no object of their type
 * occupied in `since` (a census of another snapshot or of the live heap). */
static PyObject *
snap_new_ids(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"since", "selector", NULL};
    PyObject *av[2];
    if (rc_parse_fast("new_ids", args, nargs, NULL, names, 2, av) < 0) {
        return NULL;
    }
    PyObject *module = ((rc_tool *)op)->module;
    rc_census *since = rc_census_unwrap(module, av[0], "since");
    if (!since) {
        return NULL;
    }
    type_sel sel = {0};
    unsigned char *mask = NULL;
    size_t marked, n = 0;
    rc_id *ids = NULL;
    PyObject *result = NULL;
    if (av[1] != Py_None && (type_sel_parse(av[1], "new_objects", &sel) < 0 ||
                             !(mask = type_sel_mask(&sel, SGRAPH(op), &marked)))) {
        goto finally;
    }
    rc_status st = rc_census_new_nodes(since, SGRAPH(op), mask, &ids, &n);
    if (st == RC_EINVAL) {
        PyErr_SetString(PyExc_ValueError, "since: this census does not remember its objects");
    } else if (st != RC_OK) {
        rc_raise(st);
    } else {
        result = rc_id_list(ids, n);
    }
finally:
    rc_free(ids);
    rc_free(mask);
    Py_XDECREF(sel.keep);
    return result;
}

/* growth(peaks, since, shortnames, limit, objects): _growth's answer on
 * this snapshot, the new objects as node ids. */
static PyObject *
snap_growth(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return rc_growth_answer(((rc_tool *)op)->module, SGRAPH(op), args, nargs, 1);
}

/* garbage(limit, hops) -> (object_count, groups): _garbage's prediction on
 * this snapshot, with node ids for objects. */
static PyObject *
snap_garbage(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"limit", "hops", NULL};
    PyObject *av[2];
    Py_ssize_t limit, hops;
    if (rc_parse_fast("garbage", args, nargs, NULL, names, 2, av) < 0 ||
        rc_arg_size("garbage", "limit", av[0], 0, &limit) < 0 ||
        rc_arg_size("garbage", "hops", av[1], 0, &hops) < 0) {
        return NULL;
    }
    if (snap_kinds(SNAP(op)) < 0) {
        return NULL;
    }
    const rc_graph *g = SGRAPH(op);
    uint8_t *in_set = NULL;
    size_t count = 0;
    uint64_t bytes = 0;
    rc_cycles c = {0};
    PyObject *result = NULL, *list = NULL, **objs = NULL;
    rc_status st = rc_unreachable(g, SNAP(op)->kinds, NULL, 0, &in_set, &count, &bytes);
    if (st == RC_OK) {
        st = rc_garbage_cycles(g, in_set, (size_t)limit, (size_t)hops, &c);
    }
    if (st != RC_OK) {
        rc_raise(st);
    } else if ((objs = id_objects(c.ids, c.n_ids)) != NULL &&
               (list = rc_garbage_groups(g, &c, objs)) != NULL) {
        result =
            Py_BuildValue("(nOnK)", (Py_ssize_t)count, list,
                          (Py_ssize_t)c.finalizer_objects, (unsigned long long)bytes);
    }
    rc_capture_release(objs, objs ? c.n_ids : 0);
    Py_XDECREF(list);
    rc_cycles_clear(&c);
    rc_free(in_set);
    return result;
}

/* export(path): Chrome DevTools' .heapsnapshot of the snapshot
 * (walker/heapsnap.c), written atomically. */
static PyObject *
snap_export(PyObject *op, PyObject *arg)
{
    PyObject *path;
    if (!PyUnicode_FSConverter(arg, &path)) {
        return NULL;
    }
    char msg[512] = "";
    rc_snap_status st;
    int err;
    Py_BEGIN_ALLOW_THREADS
    st = rc_heapsnap_export(SNAP(op)->s, PyBytes_AS_STRING(path), msg, sizeof msg);
    err = errno;
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (st != RC_SNAP_OK) {
        return rc_snap_raise_write(st, msg, err, arg);
    }
    Py_RETURN_NONE;
}

/* ---- drawings (refchain._snapdraw) ----------------------------------------------- */

/* hood(ids, backwards, max_depth, too_many, max_nodes) -> as _neighbourhood
 * (src/render_glue.c), with node ids for objects: what Snapshot.show_backrefs
 * and show_refs draw, walked by rc_hood_walk() on the file's graph.
 * Refcounts are the recorded ones less the tool's frames' references. */
static PyObject *
snap_hood(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"ids", "backwards", "max_depth", "too_many", "max_nodes",
                                        NULL};
    PyObject *av[5];
    Py_ssize_t max_depth, too_many, max_nodes;
    if (rc_parse_fast("hood", args, nargs, NULL, names, 5, av) < 0 ||
        rc_arg_size("hood", "max_depth", av[2], 0, &max_depth) < 0 ||
        rc_arg_size("hood", "too_many", av[3], 0, &too_many) < 0 ||
        rc_arg_size("hood", "max_nodes", av[4], 0, &max_nodes) < 0 ||
        snap_kinds(SNAP(op)) < 0) {
        return NULL;
    }
    int backwards = PyObject_IsTrue(av[1]);
    if (backwards < 0 || !PyTuple_Check(av[0]) || too_many < 1 || max_nodes < 1) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "hood(): a tuple of ids, too_many >= 1 and "
                                              "max_nodes >= 1");
        }
        return NULL;
    }
    size_t n = (size_t)PyTuple_GET_SIZE(av[0]);
    rc_id *ids = node_args(op, av[0]);
    if (!ids) {
        return NULL;
    }
    rc_hood h = {0};
    PyObject *result = NULL, **objs = NULL;
    uint32_t depth = (uint32_t)(max_depth > UINT32_MAX - 1 ? UINT32_MAX - 1 : max_depth);
    rc_hood_opts o = {backwards, depth, (size_t)too_many, (size_t)max_nodes, NULL, 0, NULL, NULL};
    rc_status st = rc_hood_walk(SGRAPH(op), ids, n, &o, &h);
    if (st != RC_OK) {
        rc_raise(st);
    } else if ((objs = id_objects(h.ids, h.n)) != NULL) {
        analysis a = {.g = SGRAPH(op), .kinds = SNAP(op)->kinds};
        result = rc_hood_result(&a, &h, objs, NULL, 0);
    }
    rc_capture_release(objs, objs ? h.n : 0);
    rc_hood_free(&h);
    rc_free(ids);
    return result;
}

/* label(id, k) -> the label of node id's k-th reference read alone. */
static PyObject *
snap_label(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "label(id, k)");
        return NULL;
    }
    rc_id v;
    size_t k;
    if (edge_arg(op, args[0], args[1], "label", &v, &k) < 0) {
        return NULL;
    }
    return edge_text(op, v, k);
}

/* types() -> ((type object's address, name, short name), ...): the type
 * table, which names the class objects of the file. */
static PyObject *
snap_types(PyObject *op, PyObject *Py_UNUSED(arg))
{
    const rc_graph *g = SGRAPH(op);
    size_t n = rc_graph_type_count(g);
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; t && i < n; i++) {
        unsigned long long key = rc_graph_type_key(g, (uint32_t)i);
        PyObject *item = Py_BuildValue("(Kss)", key, rc_graph_type_name(g, (uint32_t)i),
                                       rc_graph_type_short_name(g, (uint32_t)i));
        if (!item) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, item);
    }
    return t;
}

/* rc_objs_maker for a snapshot: the ids as ints. */
static PyObject **
snap_id_objects(const rc_graph *Py_UNUSED(g), const rc_id *ids, size_t n)
{
    return id_objects(ids, n);
}

/* retained(id) -> (bytes, count) */
static PyObject *
snap_retained(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0 || snap_dominators(SNAP(op)) < 0) {
        return NULL;
    }
    const rc_dominators *d = SNAP(op)->dom;
    return Py_BuildValue("(KK)", (unsigned long long)rc_dominators_bytes(d, (rc_id)v),
                         (unsigned long long)rc_dominators_count(d, (rc_id)v));
}

/* suspects(min_share, limit) -> as _suspects, with node ids for objects and
 * (kind, ids, edges) for chains. */
static PyObject *
snap_suspects(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    double share;
    Py_ssize_t limit;
    if (rc_suspects_args(args, nargs, &share, &limit) < 0 || snap_paths(SNAP(op)) < 0 ||
        snap_dominators(SNAP(op)) < 0) {
        return NULL;
    }
    snap_obj *self = SNAP(op);
    return rc_suspects_answer(((rc_tool *)op)->module, SGRAPH(op), self->dom, self->paths,
                              self->kinds, share, (size_t)limit, snap_id_objects, id_chain);
}

/* dominator_tree(id, depth, width) -> as _dominator_tree, with node ids. */
static PyObject *
snap_dominator_tree(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *top;
    Py_ssize_t depth, width;
    if (rc_domtree_args(args, nargs, &top, &depth, &width) < 0) {
        return NULL;
    }
    long v = node_arg(op, top);
    if (v < 0 || snap_dominators(SNAP(op)) < 0) {
        return NULL;
    }
    return rc_domtree_answer(SGRAPH(op), SNAP(op)->dom, (rc_id)v, (size_t)depth, (size_t)width,
                             snap_id_objects);
}

/* dominator_top(k) -> [node id]: the k largest tops of the dominator tree
 * (what the virtual root immediately dominates), largest first. */
static PyObject *
snap_dominator_top(PyObject *op, PyObject *arg)
{
    Py_ssize_t k = PyLong_AsSsize_t(arg);
    if (k == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (k < 0) {
        PyErr_SetString(PyExc_ValueError, "k must be >= 0");
        return NULL;
    }
    if (snap_dominators(SNAP(op)) < 0) {
        return NULL;
    }
    size_t n = 0, cap = rc_dominators_node_count(SNAP(op)->dom);
    if ((size_t)k < cap) {
        cap = (size_t)k;
    }
    rc_id *ids = rc_malloc((cap ? cap : 1) * sizeof *ids);
    if (!ids) {
        return PyErr_NoMemory();
    }
    rc_status st = rc_dominators_top(SNAP(op)->dom, cap, ids, &n);
    PyObject *list = st == RC_OK ? rc_id_list(ids, n) : rc_raise(st);
    rc_free(ids);
    return list;
}

static PyMethodDef snap_methods[] = {
    {"export", snap_export, METH_O, "export(path): a Chrome DevTools .heapsnapshot"},
    {"hood", (PyCFunction)(void (*)(void))snap_hood, METH_FASTCALL,
     "hood(ids, backwards, max_depth, too_many, max_nodes) -> as _neighbourhood, with node ids"},
    {"label", (PyCFunction)(void (*)(void))snap_label, METH_FASTCALL,
     "label(id, k) -> the label of node id's k-th reference"},
    {"types", snap_types, METH_NOARGS, "types() -> ((address, name, short name), ...)"},
    {"garbage", (PyCFunction)(void (*)(void))snap_garbage, METH_FASTCALL,
     "garbage(limit, hops) -> (object_count, groups, finalizer objects)"},
    {"growth", (PyCFunction)(void (*)(void))snap_growth, METH_FASTCALL,
     "growth(peaks, since, shortnames, limit, objects)"},
    {"census", snap_census, METH_O, "census(shortnames) -> Census"},
    {"find", snap_find, METH_O, "find(address) -> node id or None"},
    {"node", snap_node, METH_O,
     "node(id) -> (address, type, short type, size, refcount, flags, type flags, value, root)"},
    {"root", snap_root, METH_O, "root(i) -> (node id, kind, text)"},
    {"out", snap_out, METH_O, "out(id) -> ((target id, label), ...)"},
    {"labels", (PyCFunction)(void (*)(void))snap_labels, METH_FASTCALL,
     "labels(ids, edges) -> ((end, label), ...)"},
    {"frames", snap_frames, METH_O, "frames(id) -> ((file, line), ...) or None"},
    {"traceback_counts", snap_traceback_counts, METH_O,
     "traceback_counts(ids) -> {frames: count}"},
    {"facts", snap_facts, METH_NOARGS, "facts() -> [(key, value)]"},
    {"sections", snap_sections, METH_NOARGS, "sections() -> which side tables the file has"},
    {"chain", snap_chain, METH_O, "chain(id) -> (kind, ids, edges)"},
    {"retained", snap_retained, METH_O, "retained(id) -> (bytes, count)"},
    {"suspects", (PyCFunction)(void (*)(void))snap_suspects, METH_FASTCALL,
     "suspects(min_share, limit) -> (heap bytes, [...])"},
    {"dominator_tree", (PyCFunction)(void (*)(void))snap_dominator_tree, METH_FASTCALL,
     "dominator_tree(id, depth, width) -> [(id or None, parent, bytes, count, others)]"},
    {"dominator_top", snap_dominator_top, METH_O,
     "dominator_top(k) -> [id]: the k largest tops of the dominator tree"},
    {"explain", (PyCFunction)(void (*)(void))snap_explain, METH_FASTCALL,
     "explain(selector, since, limit, by_type)"},
    {"new_ids", (PyCFunction)(void (*)(void))snap_new_ids, METH_FASTCALL,
     "new_ids(since, selector) -> [node id]"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot snap_slots[] = {
    {Py_tp_new, (void *)rc_no_new},
    {Py_tp_dealloc, (void *)snap_dealloc},
    {Py_tp_methods, snap_methods},
    {Py_sq_length, (void *)snap_len},
    {0, NULL},
};

static PyType_Spec snap_spec = {"refchain.SnapshotGraph", sizeof(snap_obj), 0, Py_TPFLAGS_DEFAULT,
                                snap_slots};

PyMethodDef rc_snapshot_methods[] = {
    {"_load", rc_load_py, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

int
rc_snapshot_types_init(PyObject *module, rc_state *s)
{
    return rc_add_type(module, (PyTypeObject *)PyType_FromSpec(&snap_spec), &s->snapshot_type);
}
