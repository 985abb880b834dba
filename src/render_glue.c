/* Graph drawing, the binding's half: _render() turns Python node and edge
 * tuples into render/'s plain structs and maps failures to exceptions;
 * _neighbourhood() answers show_backrefs/show_refs's question (which
 * objects, which references) on one capture.  Labels, colours by meaning
 * and files are refchain/_render.py's business. */
#include "rcmodule.h"

#include <string.h>

#include "refchain/alloc.h"
#include "refchain/hood.h"
#include "refchain/paths.h"
#include "refchain/render.h"

/* ---- _render ---------------------------------------------------------------- */

/* The kind or style (from_name: rc_render_kind_from_name or
 * rc_render_style_from_name) a str names; -1 with ValueError set when it
 * names none (`what`: "kind" or "style"). */
static int
name_index(PyObject *name, int (*from_name)(const char *, size_t), const char *what)
{
    Py_ssize_t len = 0;
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &len) : NULL;
    int i = s ? from_name(s, (size_t)len) : -1;
    if (!s && PyUnicode_Check(name)) {
        PyErr_Clear(); /* lone surrogates: no name */
    }
    if (i < 0 && !PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "_render: unknown %s %R", what, name);
    }
    return i;
}

/* UTF-8 of a str, kept alive by `keep`.  Lone surrogates become "\udXXX"
 * text; render/ repairs everything else. */
static int
text_of(PyObject *obj, PyObject *keep, rc_text *out)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "_render: labels must be str, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyObject *b = PyUnicode_AsEncodedString(obj, "utf-8", "backslashreplace");
    if (!b || PyList_Append(keep, b) < 0) {
        Py_XDECREF(b);
        return -1;
    }
    Py_DECREF(b); /* keep holds it */
    out->s = PyBytes_AS_STRING(b);
    out->len = (size_t)PyBytes_GET_SIZE(b);
    return 0;
}

/* The i-th item of a sequence of tuples, as a tuple of n items. */
static PyObject *
row(PyObject *seq, Py_ssize_t i, Py_ssize_t n, const char *what)
{
    PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != n) {
        PyErr_Format(PyExc_TypeError, "_render: each %s must be a %zd-tuple", what, n);
        return NULL;
    }
    return t;
}

/* n's extra attributes from a tuple of (name, value) str pairs, in an
 * array kept by keep (a bytes object). */
static int
attrs_of(PyObject *pairs, PyObject *keep, rc_render_node *n)
{
    if (!PyTuple_Check(pairs)) {
        PyErr_SetString(PyExc_TypeError, "_render: a node's attributes must be a tuple");
        return -1;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(pairs);
    if (k == 0) {
        return 0;
    }
    PyObject *buf = PyBytes_FromStringAndSize(NULL, k * 2 * (Py_ssize_t)sizeof(rc_text));
    if (!buf || PyList_Append(keep, buf) < 0) {
        Py_XDECREF(buf);
        return -1;
    }
    Py_DECREF(buf); /* keep holds it */
    rc_text *a = (rc_text *)(void *)PyBytes_AS_STRING(buf);
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *p = PyTuple_GET_ITEM(pairs, j);
        if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 2) {
            PyErr_SetString(PyExc_TypeError, "_render: each attribute must be a (name, value) pair");
            return -1;
        }
        if (text_of(PyTuple_GET_ITEM(p, 0), keep, &a[2 * j]) < 0 ||
            text_of(PyTuple_GET_ITEM(p, 1), keep, &a[2 * j + 1]) < 0) {
            return -1;
        }
    }
    n->attrs = a;
    n->n_attrs = (size_t)k;
    return 0;
}

/* cn[i] for each (id, label, tooltip, kind[, attrs]) of nodes; strs kept by
 * keep. */
static int
nodes_of(PyObject *nodes, PyObject *keep, rc_render_node *cn)
{
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(nodes); i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(nodes, i);
        t = row(nodes, i, PyTuple_Check(t) && PyTuple_GET_SIZE(t) == 5 ? 5 : 4, "node");
        if (t && PyTuple_GET_SIZE(t) == 5 && attrs_of(PyTuple_GET_ITEM(t, 4), keep, &cn[i]) < 0) {
            return -1;
        }
        int kind;
        if (!t ||
            (cn[i].id = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 0)),
             PyErr_Occurred()) ||
            text_of(PyTuple_GET_ITEM(t, 1), keep, &cn[i].label) < 0 ||
            text_of(PyTuple_GET_ITEM(t, 2), keep, &cn[i].tooltip) < 0 ||
            (kind = name_index(PyTuple_GET_ITEM(t, 3), rc_render_kind_from_name,
                               "kind")) < 0) {
            return -1;
        }
        cn[i].kind = (rc_render_kind)kind;
    }
    return 0;
}

/* ce[i] for each (from, to, label, style) of edges; strs kept by keep. */
static int
edges_of(PyObject *edges, PyObject *keep, rc_render_edge *ce)
{
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(edges); i++) {
        PyObject *t = row(edges, i, 4, "edge");
        int style;
        if (!t ||
            (ce[i].from = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 0)),
             PyErr_Occurred()) ||
            (ce[i].to = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 1)),
             PyErr_Occurred()) ||
            text_of(PyTuple_GET_ITEM(t, 2), keep, &ce[i].label) < 0 ||
            (style = name_index(PyTuple_GET_ITEM(t, 3), rc_render_style_from_name,
                                "style")) < 0) {
            return -1;
        }
        ce[i].style = (rc_render_style)style;
    }
    return 0;
}

/* _render(nodes, edges, format, title) -> bytes
 *   nodes: [(id, label, tooltip, kind)], edges: [(from, to, label, style)]. */
static PyObject *
rc_render_py(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *nodes_arg, *edges_arg, *title_arg;
    const char *format_name;
    if (!PyArg_ParseTuple(args, "OOsU:_render", &nodes_arg, &edges_arg, &format_name,
                          &title_arg)) {
        return NULL;
    }
    int format = rc_render_format_from_name(format_name, strlen(format_name));
    if (format < 0) {
        PyErr_Format(PyExc_ValueError, "unknown format '%s'", format_name);
        return NULL;
    }
    PyObject *result = NULL, *keep = PyList_New(0);
    PyObject *nodes = PySequence_Fast(nodes_arg, "_render: nodes must be a sequence");
    PyObject *edges = PySequence_Fast(edges_arg, "_render: edges must be a sequence");
    rc_render_node *cn = NULL;
    rc_render_edge *ce = NULL;
    rc_render_graph g = {0};
    if (!keep || !nodes || !edges) {
        goto finally;
    }
    Py_ssize_t nn = PySequence_Fast_GET_SIZE(nodes), ne = PySequence_Fast_GET_SIZE(edges);
    cn = rc_calloc(nn ? (size_t)nn : 1, sizeof *cn);
    ce = rc_calloc(ne ? (size_t)ne : 1, sizeof *ce);
    if (!cn || !ce) {
        PyErr_NoMemory();
        goto finally;
    }
    if (nodes_of(nodes, keep, cn) < 0 || edges_of(edges, keep, ce) < 0) {
        goto finally;
    }
    g = (rc_render_graph){cn, (size_t)nn, ce, (size_t)ne, {NULL, 0}};
    if (text_of(title_arg, keep, &g.title) < 0) {
        goto finally;
    }
    rc_render_output out;
    rc_status st = rc_render(&g, (rc_render_format)format, &out);
    if (st == RC_OK) {
        result = PyBytes_FromStringAndSize(out.data, (Py_ssize_t)out.len);
        rc_free(out.data);
    } else if (st == RC_EINVAL) {
        PyErr_Format(PyExc_ValueError, "_render: %s", out.messages);
    } else if (st == RC_ERENDER) {
        PyErr_Format(PyExc_RuntimeError, "Graphviz could not draw the graph: %s", out.messages);
    } else {
        rc_raise(st);
    }
finally:
    rc_free(cn);
    rc_free(ce);
    Py_XDECREF(nodes);
    Py_XDECREF(edges);
    Py_XDECREF(keep);
    return result;
}

/* ---- _neighbourhood ------------------------------------------------------ */

/* What show_backrefs/show_refs draw, found on one capture by rc_hood_walk()
 * (refchain/hood.h).  The tool's own frames and the ignored addresses never
 * appear.  With a filter, every object of the capture is held strongly
 * before it first runs (Python code), and only those references are
 * dereferenced after. */

/* Strong references to the items of objs (the list could change under a
 * filter), each also noted as held by the question: the capture discounts
 * them. */
static PyObject **
hold_starts(question *q, PyObject *objs, size_t n)
{
    PyObject **starts = rc_malloc((n ? n : 1) * sizeof *starts);
    if (!starts) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        starts[i] = PyList_GET_ITEM(objs, (Py_ssize_t)i);
        Py_INCREF(starts[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (question_hold(q, starts[i]) < 0) {
            rc_capture_release(starts, n);
            return NULL;
        }
    }
    return starts;
}

/* The nodes of starts[0..n) (RC_NO_ID for those the capture left out). */
static rc_status
find_starts(const rc_graph *g, PyObject *const *starts, size_t n, rc_id **ids)
{
    uintptr_t *addrs = rc_addrs_of(starts, n);
    *ids = rc_malloc((n ? n : 1) * sizeof **ids);
    rc_status st = addrs && *ids ? rc_graph_find_many(g, addrs, n, *ids) : RC_ENOMEM;
    rc_free(addrs);
    return st;
}

/* Strong references to the answer's objects: an absent start is the start. */
static PyObject **
take_answer(const rc_graph *g, const rc_hood *h, PyObject *const *starts)
{
    PyObject **taken = rc_malloc((h->n ? h->n : 1) * sizeof *taken);
    if (!taken) {
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t k = 0; k < h->n; k++) {
        taken[k] = h->ids[k] == RC_NO_ID ? starts[h->start_of[k]]
                                         : (PyObject *)rc_graph_addr(g, h->ids[k]);
        Py_INCREF(taken[k]);
    }
    return taken;
}

/* The references to v besides refchain's own (its tool frames and ignored
 * referrers; the capture already took the references it holds itself:
 * rc_hood_refcount), or None for an object the capture left out, or -1 for
 * an immortal one. */
static PyObject *
others_refcount(const rc_graph *g, rc_id v, const uintptr_t *ign, size_t n_ign)
{
    if (v == RC_NO_ID) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLongLong((long long)rc_hood_refcount(g, v, ign, n_ign));
}

/* The answer's per-object facts: (objects, root kinds, refcounts). */
static int
hood_objects(const analysis *a, const rc_hood *h, PyObject *const *taken, const uintptr_t *ign,
             size_t n_ign, PyObject *out[3])
{
    out[0] = PyList_New((Py_ssize_t)h->n);
    out[1] = PyTuple_New((Py_ssize_t)h->n);
    out[2] = PyTuple_New((Py_ssize_t)h->n);
    int ok = out[0] && out[1] && out[2];
    for (size_t k = 0; ok && k < h->n; k++) {
        Py_INCREF(taken[k]);
        PyList_SET_ITEM(out[0], (Py_ssize_t)k, taken[k]);
        rc_id v = h->ids[k];
        PyObject *kind = PyUnicode_FromString(v == RC_NO_ID ? "" : rc_root_kind_name(a->kinds[v]));
        PyObject *count = kind ? others_refcount(a->g, v, ign, n_ign) : NULL;
        ok = count != NULL;
        if (kind) {
            PyTuple_SET_ITEM(out[1], (Py_ssize_t)k, kind);
        }
        if (count) {
            PyTuple_SET_ITEM(out[2], (Py_ssize_t)k, count);
        }
    }
    return ok ? 0 : -1;
}

/* The whole answer, once every object in it is held (rcmodule.h). */
PyObject *
rc_hood_result(const analysis *a, const rc_hood *h, PyObject *const *taken, const uintptr_t *ign,
            size_t n_ign)
{
    PyObject *facts[3] = {NULL, NULL, NULL}, *result = NULL;
    PyObject *edges = PyList_New((Py_ssize_t)h->n_edges);
    PyObject *more = PyList_New((Py_ssize_t)h->n_more);
    int ok = edges && more && hood_objects(a, h, taken, ign, n_ign, facts) == 0;
    for (size_t e = 0; ok && e < h->n_edges; e++) {
        const rc_hood_edge *t = &h->edges[e];
        PyObject *item = Py_BuildValue("(IIl)", t->from, t->to,
                                       t->index == UINT32_MAX ? -1L : (long)t->index);
        ok = item != NULL;
        if (ok) {
            PyList_SET_ITEM(edges, (Py_ssize_t)e, item);
        }
    }
    for (size_t m = 0; ok && m < h->n_more; m++) {
        PyObject *item = Py_BuildValue("(II)", h->more[m].at, h->more[m].count);
        ok = item != NULL;
        if (ok) {
            PyList_SET_ITEM(more, (Py_ssize_t)m, item);
        }
    }
    if (ok) {
        result = Py_BuildValue("(OOOOOn)", facts[0], edges, more, facts[1], facts[2],
                               (Py_ssize_t)h->capped);
    }
    Py_XDECREF(facts[0]);
    Py_XDECREF(facts[1]);
    Py_XDECREF(facts[2]);
    Py_XDECREF(edges);
    Py_XDECREF(more);
    return result;
}

/* _neighbourhood(objs, backwards, max_depth, too_many, max_nodes, ignore, filter)
 *   -> (objects, [(from, to, edge index)], [(index, count)], root kinds,
 *       refcounts, capped)
 * objects[:len(starts)] are the distinct objs; edges and counts name
 * objects by index; an edge (i, j, k) says objects[i] refers to objects[j]
 * through its k-th reference (tp_traverse order; -1 when unknown).
 * refcounts[i] is others_refcount(), or None for an object the capture
 * left out (one of the tool's own).  With max_depth=0 this is just the facts
 * about objs. */
static PyObject *
rc_neighbourhood_py(PyObject *module, PyObject *args)
{
    PyObject *objs, *ignore, *filter;
    int backwards;
    Py_ssize_t max_depth, too_many, max_nodes;
    if (!PyArg_ParseTuple(args, "O!pnnnOO:_neighbourhood", &PyList_Type, &objs, &backwards,
                          &max_depth, &too_many, &max_nodes, &ignore, &filter)) {
        return NULL;
    }
    if (max_depth < 0 || too_many < 1 || max_nodes < 1) {
        PyErr_SetString(PyExc_ValueError, "_neighbourhood: max_depth >= 0, too_many >= 1 and "
                                          "max_nodes >= 1");
        return NULL;
    }
    if (filter != Py_None && !PyCallable_Check(filter)) {
        PyErr_SetString(PyExc_TypeError, "filter must be callable or None");
        return NULL;
    }
    question q = {0};
    analysis a = {0};
    rc_hood h = {0};
    PyObject *result = NULL, **starts = NULL, **refs = NULL, **taken = NULL;
    rc_id *ids = NULL;
    size_t n_ign = 0, n_starts = (size_t)PyList_GET_SIZE(objs);
    /* Before the capture: the ignore set in C, and our own references to
     * the starts, which the capture discounts along with the arguments the
     * caller holds.  The objs list and the argument tuple (held only by C,
     * for this call) are never drawn. */
    const uintptr_t own[2] = {(uintptr_t)objs, (uintptr_t)args};
    uintptr_t *ign = ignore_addrs(ignore, 1, own, 2, &n_ign);
    if (!ign || !(starts = hold_starts(&q, objs, n_starts)) || question_hold(&q, objs) < 0 ||
        question_hold(&q, args) < 0 || question_hold(&q, ignore) < 0 ||
        question_hold(&q, filter) < 0 || analyse(module, &q, AN_KINDS, &a) < 0) {
        goto finally;
    }
    /* No Python code may run from here until every answer object is held. */
    rc_status st = find_starts(a.g, starts, n_starts, &ids);
    if (st == RC_OK) {
        if (filter != Py_None && !(refs = take_objects(a.g, NULL, rc_graph_node_count(a.g)))) {
            goto finally;
        }
        node_call call = {filter, refs};
        rc_hood_opts o = {backwards, (uint32_t)(max_depth > UINT32_MAX - 1 ? UINT32_MAX - 1
                                                                           : max_depth),
                          (size_t)too_many, (size_t)max_nodes, ign, n_ign,
                          refs ? node_call_truth : NULL, &call};
        st = rc_hood_walk(a.g, ids, n_starts, &o, &h);
    }
    if (st != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    /* Every answer object is held: Python objects may be made now. */
    if ((taken = take_answer(a.g, &h, starts)) != NULL) {
        result = rc_hood_result(&a, &h, taken, ign, n_ign);
    }
finally:
    rc_capture_release(taken, h.n);
    rc_capture_release(refs, a.g ? rc_graph_node_count(a.g) : 0);
    rc_free(ids);
    rc_hood_free(&h);
    analysis_free(&a);
    question_free(&q);
    rc_capture_release(starts, n_starts);
    rc_free(ign);
    return result;
}

PyMethodDef rc_render_methods[] = {
    {"_render", rc_render_py, METH_VARARGS, NULL},
    {"_neighbourhood", rc_neighbourhood_py, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};
