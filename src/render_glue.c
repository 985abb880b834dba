/* Graph drawing, the binding's half: _render() turns Python node and edge
 * tuples into render/'s plain structs and maps failures to exceptions;
 * _neighbourhood() answers show_backrefs/show_refs's question (which
 * objects, which references) on one capture.  Labels, colours by meaning
 * and files are refchain/_render.py's business. */
#include "rcmodule.h"

#include <string.h>

#include "refchain/alloc.h"
#include "refchain/paths.h"
#include "refchain/render.h"

/* ---- _render ---------------------------------------------------------------- */

/* Names of rc_render_kind and rc_render_style, in enum order. */
static const char *const KIND_NAMES[RC_RENDER_KINDS] = {
    "object", "target", "module", "class", "cache", "frame", "c", "immortal", "more",
};
static const char *const STYLE_NAMES[RC_RENDER_STYLES] = {"strong", "weak", "elided"};

static int
name_index(PyObject *name, const char *const *names, int n, const char *what)
{
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    for (int i = 0; s && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "_render: unknown %s %R", what, name);
    }
    return -1;
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
    int format = -1;
    for (int f = 0; f < RC_RENDER_FORMATS; f++) {
        if (strcmp(format_name, rc_render_format_name((rc_render_format)f)) == 0) {
            format = f;
        }
    }
    if (format < 0) {
        PyErr_Format(PyExc_ValueError, "unknown format '%s': use one of dot, pdf, png, svg",
                     format_name);
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
    for (Py_ssize_t i = 0; i < nn; i++) {
        PyObject *t = row(nodes, i, 4, "node");
        int kind;
        if (!t || (cn[i].id = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 0)),
                   PyErr_Occurred()) ||
            text_of(PyTuple_GET_ITEM(t, 1), keep, &cn[i].label) < 0 ||
            text_of(PyTuple_GET_ITEM(t, 2), keep, &cn[i].tooltip) < 0 ||
            (kind = name_index(PyTuple_GET_ITEM(t, 3), KIND_NAMES, RC_RENDER_KINDS, "kind")) < 0) {
            goto finally;
        }
        cn[i].kind = (rc_render_kind)kind;
    }
    for (Py_ssize_t i = 0; i < ne; i++) {
        PyObject *t = row(edges, i, 4, "edge");
        int style;
        if (!t || (ce[i].from = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 0)),
                   PyErr_Occurred()) ||
            (ce[i].to = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 1)), PyErr_Occurred()) ||
            text_of(PyTuple_GET_ITEM(t, 2), keep, &ce[i].label) < 0 ||
            (style = name_index(PyTuple_GET_ITEM(t, 3), STYLE_NAMES, RC_RENDER_STYLES,
                                "style")) < 0) {
            goto finally;
        }
        ce[i].style = (rc_render_style)style;
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

/* What show_backrefs/show_refs draw, found on one capture: breadth-first
 * from the given objects along in-edges (referrers) or out-edges
 * (referents), up to max_depth hops.  A node shows at most too_many
 * neighbours (the rest are counted), the whole answer at most max_nodes
 * objects (more are counted), and referrers are not followed past a module
 * (objgraph's habit: beyond it lie sys.modules and the interpreter).  The
 * tool's own frames and the ignored addresses never appear.  With a filter,
 * every object of the capture is held strongly while it runs (Python code). */

#define SLOT_NONE UINT32_MAX
#define SLOT_DROPPED (UINT32_MAX - 1)

typedef struct hood {
    rc_id *ids;        /* per answer object: its node, or RC_NO_ID */
    uint32_t *depth;   /* per answer object */
    size_t n, cap;
    uint32_t *edges;   /* triples (from, to, out-edge index), answer indexes */
    size_t n_edges, edges_cap;
    uint32_t *more;    /* pairs (answer index, neighbours not shown) */
    size_t n_more, more_cap;
    size_t capped;     /* neighbours left out by max_nodes */
} hood;

static void
hood_free(hood *h)
{
    rc_free(h->ids);
    rc_free(h->depth);
    rc_free(h->edges);
    rc_free(h->more);
}

/* Room for `k` more uint32 in *arr (n used of *cap). */
static int
grow(uint32_t **arr, size_t n, size_t *cap, size_t k)
{
    if (n + k <= *cap) {
        return 0;
    }
    size_t c = *cap ? *cap * 2 : 64;
    while (c < n + k) {
        c *= 2;
    }
    uint32_t *p = rc_reallocarray(*arr, c, sizeof *p);
    if (!p) {
        return -1;
    }
    *arr = p;
    *cap = c;
    return 0;
}

static int
hood_add(hood *h, rc_id v, uint32_t depth)
{
    if (h->n == h->cap) {
        size_t c = h->cap ? h->cap * 2 : 64;
        rc_id *ids = rc_reallocarray(h->ids, c, sizeof *ids);
        if (ids) {
            h->ids = ids;
        }
        uint32_t *d = ids ? rc_reallocarray(h->depth, c, sizeof *d) : NULL;
        if (!d) {
            return -1;
        }
        h->depth = d;
        h->cap = c;
    }
    h->ids[h->n] = v;
    h->depth[h->n] = depth;
    h->n++;
    return 0;
}

static int
cmp_addr(const void *x, const void *y)
{
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return (a > b) - (a < b);
}

static int
is_ignored(const uintptr_t *ign, size_t n, uintptr_t addr)
{
    return n && bsearch(&addr, ign, n, sizeof *ign, cmp_addr) != NULL;
}

/* The index, among `from`'s out-edges, of its occ-th (0-based) edge to `to`. */
static uint32_t
out_index(const rc_graph *g, rc_id from, rc_id to, size_t occ)
{
    size_t deg;
    const rc_id *out = rc_graph_out(g, from, &deg);
    for (size_t k = 0; k < deg; k++) {
        if (out[k] == to && occ-- == 0) {
            return (uint32_t)k;
        }
    }
    return UINT32_MAX;
}

/* Whether filter(obj) is true: 1, 0, or -1 with an exception set. */
static int
passes(PyObject *filter, PyObject *obj, uint8_t *verdict)
{
    if (!*verdict) {
        PyObject *r = PyObject_CallFunctionObjArgs(filter, obj, NULL);
        int truth = r ? PyObject_IsTrue(r) : -1;
        Py_XDECREF(r);
        if (truth < 0) {
            return -1;
        }
        *verdict = truth ? 1 : 2;
    }
    return *verdict == 1;
}

typedef struct hood_args {
    int backwards;
    uint32_t max_depth;
    size_t too_many, max_nodes;
    const uintptr_t *ignore;
    size_t n_ignore;
    PyObject *filter;   /* or NULL */
    PyObject **refs;    /* strong references to every node, with a filter */
} hood_args;

/* The breadth-first walk; h->ids[0..n_starts) are already the starts. */
static int
hood_walk(const rc_graph *g, const hood_args *ha, uint32_t *slot, uint8_t *verdict, hood *h)
{
    for (size_t head = 0; head < h->n; head++) {
        rc_id u = h->ids[head];
        if (u == RC_NO_ID || h->depth[head] >= ha->max_depth ||
            (ha->backwards && (rc_graph_flags(g, u) & RC_NODE_MODULE))) {
            continue;
        }
        size_t deg, shown = 0, more = 0, occ = 0;
        const rc_id *nb = ha->backwards ? rc_graph_in(g, u, &deg) : rc_graph_out(g, u, &deg);
        for (size_t i = 0; i < deg; i++) {
            rc_id v = nb[i];
            occ = i > 0 && nb[i - 1] == v ? occ + 1 : 0; /* in-edges are sorted */
            if ((rc_graph_flags(g, v) & RC_NODE_TOOL_FRAME) ||
                is_ignored(ha->ignore, ha->n_ignore, rc_graph_addr(g, v))) {
                continue;
            }
            if (ha->filter && slot[v] >= SLOT_DROPPED) {
                int keep = passes(ha->filter, ha->refs[v], &verdict[v]);
                if (keep < 0) {
                    return -1;
                }
                if (!keep) {
                    continue;
                }
            }
            if (shown >= ha->too_many) {
                more++;
                continue;
            }
            shown++;
            if (slot[v] == SLOT_NONE) {
                if (h->n >= ha->max_nodes) {
                    slot[v] = SLOT_DROPPED;
                    h->capped++;
                    continue;
                }
                if (h->n >= UINT32_MAX - 2 || hood_add(h, v, h->depth[head] + 1) < 0) {
                    PyErr_NoMemory();
                    return -1;
                }
                slot[v] = (uint32_t)(h->n - 1);
            }
            if (slot[v] == SLOT_DROPPED) {
                continue;
            }
            if (grow(&h->edges, h->n_edges, &h->edges_cap, 3) < 0) {
                PyErr_NoMemory();
                return -1;
            }
            uint32_t *e = h->edges + h->n_edges;
            e[0] = ha->backwards ? slot[v] : (uint32_t)head;
            e[1] = ha->backwards ? (uint32_t)head : slot[v];
            e[2] = ha->backwards ? out_index(g, v, u, occ) : (uint32_t)i;
            h->n_edges += 3;
        }
        if (more) {
            if (grow(&h->more, h->n_more, &h->more_cap, 2) < 0) {
                PyErr_NoMemory();
                return -1;
            }
            h->more[h->n_more++] = (uint32_t)head;
            h->more[h->n_more++] = more > UINT32_MAX ? UINT32_MAX : (uint32_t)more;
        }
    }
    return 0;
}

/* Sorted addresses of the ints in `ignore`, plus the objects extra[0..2). */
static uintptr_t *
ignore_addrs(PyObject *ignore, PyObject *const extra[2], size_t *n)
{
    PyObject *seq = PySequence_Fast(ignore, "extra_ignore must be an iterable of object ids");
    if (!seq) {
        return NULL;
    }
    size_t k = (size_t)PySequence_Fast_GET_SIZE(seq);
    uintptr_t *a = rc_malloc((k + 2) * sizeof *a);
    if (!a) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return NULL;
    }
    for (size_t i = 0; i < k; i++) {
        PyObject *id = PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i);
        if (!PyLong_Check(id)) {
            PyErr_Format(PyExc_TypeError, "extra_ignore must hold object ids (int), not %.100s",
                         Py_TYPE(id)->tp_name);
            rc_free(a);
            Py_DECREF(seq);
            return NULL;
        }
        a[i] = (uintptr_t)PyLong_AsVoidPtr(id);
        if (PyErr_Occurred()) {
            PyErr_Clear(); /* no object has that id */
            a[i] = 0;
        }
    }
    Py_DECREF(seq);
    a[k] = (uintptr_t)extra[0];
    a[k + 1] = (uintptr_t)extra[1];
    *n = k + 2;
    qsort(a, *n, sizeof *a, cmp_addr);
    return a;
}

/* The references to v besides refchain's own: its recorded refcount (from
 * which the capture already took the tool's held references) less its
 * referrers that are tool frames or ignored; -1 for an immortal object. */
static long long
others_refcount(const rc_graph *g, rc_id v, const uintptr_t *ign, size_t n_ign)
{
    if (rc_graph_flags(g, v) & RC_NODE_IMMORTAL) {
        return -1;
    }
    size_t deg;
    const rc_id *in = rc_graph_in(g, v, &deg);
    long long n = (long long)rc_graph_refcnt(g, v);
    for (size_t i = 0; i < deg; i++) {
        n -= (rc_graph_flags(g, in[i]) & RC_NODE_TOOL_FRAME) ||
             is_ignored(ign, n_ign, rc_graph_addr(g, in[i]));
    }
    return n < 0 ? 0 : n;
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
    hood h = {0};
    PyObject *result = NULL, **starts = NULL, **refs = NULL, **taken = NULL;
    uint32_t *slot = NULL;
    uint8_t *verdict = NULL;
    uintptr_t *addrs = NULL;
    rc_id *ids = NULL;
    size_t n_ign = 0, nn = 0, n_starts = (size_t)PyList_GET_SIZE(objs);
    size_t n_started = 0, n_refs = 0, n_taken = 0; /* references taken so far */
    /* Before the capture: the ignore list in C, and our own references to
     * the starts (the list could change under a filter), which the capture
     * discounts along with the arguments the caller holds.  The objs list
     * and the argument tuple (held only by C, for this call) are never
     * drawn. */
    PyObject *const own[2] = {objs, args};
    uintptr_t *ign = ignore_addrs(ignore, own, &n_ign);
    starts = rc_malloc((n_starts ? n_starts : 1) * sizeof *starts);
    if (!ign || !starts) {
        if (ign) {
            PyErr_NoMemory();
        }
        goto finally;
    }
    for (; n_started < n_starts; n_started++) {
        starts[n_started] = PyList_GET_ITEM(objs, (Py_ssize_t)n_started);
        Py_INCREF(starts[n_started]);
    }
    for (size_t i = 0; i < n_starts; i++) {
        if (question_hold(&q, starts[i]) < 0) {
            goto finally;
        }
    }
    if (question_hold(&q, objs) < 0 || question_hold(&q, args) < 0 ||
        question_hold(&q, ignore) < 0 ||
        question_hold(&q, filter) < 0 || analyse(module, &q, 0, &a) < 0) {
        goto finally;
    }
    /* No Python code may run from here until every answer object is held. */
    rc_status st = rc_roots_classify(a.g, &a.kinds);
    nn = rc_graph_node_count(a.g);
    addrs = rc_malloc((n_starts ? n_starts : 1) * sizeof *addrs);
    ids = rc_malloc((n_starts ? n_starts : 1) * sizeof *ids);
    slot = rc_malloc((nn ? nn : 1) * sizeof *slot);
    verdict = filter != Py_None ? rc_calloc(nn ? nn : 1, 1) : NULL;
    refs = filter != Py_None ? rc_malloc((nn ? nn : 1) * sizeof *refs) : NULL;
    if (st != RC_OK || !addrs || !ids || !slot || (filter != Py_None && (!verdict || !refs))) {
        rc_raise(st != RC_OK ? st : RC_ENOMEM);
        goto finally;
    }
    for (size_t i = 0; i < n_starts; i++) {
        addrs[i] = (uintptr_t)starts[i];
    }
    if ((st = rc_graph_find_many(a.g, addrs, n_starts, ids)) != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    for (size_t v = 0; v < nn; v++) {
        slot[v] = SLOT_NONE;
    }
    for (size_t i = 0; i < n_starts; i++) {
        if (ids[i] != RC_NO_ID && slot[ids[i]] != SLOT_NONE) {
            continue; /* asked twice */
        }
        if (hood_add(&h, ids[i], 0) < 0) {
            rc_raise(RC_ENOMEM);
            goto finally;
        }
        if (ids[i] != RC_NO_ID) {
            slot[ids[i]] = (uint32_t)(h.n - 1);
        }
        /* addrs[0..i] are used: keep the object, for one absent from the
         * capture (such as one of the tool's own). */
        addrs[h.n - 1] = (uintptr_t)starts[i];
    }
    size_t n_distinct = h.n;
    for (; refs && n_refs < nn; n_refs++) {
        refs[n_refs] = (PyObject *)rc_graph_addr(a.g, (rc_id)n_refs);
        Py_INCREF(refs[n_refs]);
    }
    hood_args ha = {backwards, (uint32_t)(max_depth > UINT32_MAX - 1 ? UINT32_MAX - 1 : max_depth),
                    (size_t)too_many, (size_t)max_nodes, ign, n_ign,
                    filter != Py_None ? filter : NULL, refs};
    if (hood_walk(a.g, &ha, slot, verdict, &h) < 0) {
        goto finally;
    }
    taken = rc_malloc((h.n ? h.n : 1) * sizeof *taken);
    if (!taken) {
        rc_raise(RC_ENOMEM);
        goto finally;
    }
    for (size_t k = 0; k < h.n; k++) {
        taken[k] = k < n_distinct && h.ids[k] == RC_NO_ID ? (PyObject *)addrs[k]
                                                          : (PyObject *)rc_graph_addr(a.g, h.ids[k]);
        Py_INCREF(taken[k]);
    }
    n_taken = h.n;
    /* Every answer object is held: Python objects may be made now. */
    PyObject *objects = PyList_New((Py_ssize_t)h.n);
    PyObject *edges = PyList_New((Py_ssize_t)(h.n_edges / 3));
    PyObject *more = PyList_New((Py_ssize_t)(h.n_more / 2));
    PyObject *kinds = PyTuple_New((Py_ssize_t)h.n);
    PyObject *counts = PyTuple_New((Py_ssize_t)h.n);
    int ok = objects && edges && more && kinds && counts;
    for (size_t k = 0; ok && k < h.n; k++) {
        Py_INCREF(taken[k]);
        PyList_SET_ITEM(objects, (Py_ssize_t)k, taken[k]);
        const char *kind = h.ids[k] == RC_NO_ID ? "" : rc_root_kind_name(a.kinds[h.ids[k]]);
        PyObject *s = PyUnicode_FromString(kind);
        ok = s != NULL;
        if (ok) {
            PyTuple_SET_ITEM(kinds, (Py_ssize_t)k, s);
            PyObject *c = Py_None;
            if (h.ids[k] == RC_NO_ID) {
                Py_INCREF(c);
            } else {
                c = PyLong_FromLongLong(others_refcount(a.g, h.ids[k], ign, n_ign));
            }
            ok = c != NULL;
            if (ok) {
                PyTuple_SET_ITEM(counts, (Py_ssize_t)k, c);
            }
        }
    }
    for (size_t e = 0; ok && e < h.n_edges / 3; e++) {
        const uint32_t *t = h.edges + 3 * e;
        PyObject *item = Py_BuildValue("(IIl)", t[0], t[1],
                                       t[2] == UINT32_MAX ? -1L : (long)t[2]);
        ok = item != NULL;
        if (ok) {
            PyList_SET_ITEM(edges, (Py_ssize_t)e, item);
        }
    }
    for (size_t m = 0; ok && m < h.n_more / 2; m++) {
        PyObject *item = Py_BuildValue("(II)", h.more[2 * m], h.more[2 * m + 1]);
        ok = item != NULL;
        if (ok) {
            PyList_SET_ITEM(more, (Py_ssize_t)m, item);
        }
    }
    if (ok) {
        result = Py_BuildValue("(OOOOOn)", objects, edges, more, kinds, counts,
                               (Py_ssize_t)h.capped);
    }
    Py_XDECREF(objects);
    Py_XDECREF(edges);
    Py_XDECREF(more);
    Py_XDECREF(kinds);
    Py_XDECREF(counts);
finally:
    for (size_t k = 0; k < n_taken; k++) {
        Py_DECREF(taken[k]);
    }
    rc_free(taken);
    for (size_t v = 0; v < n_refs; v++) {
        Py_DECREF(refs[v]);
    }
    rc_free(refs);
    rc_free(verdict);
    rc_free(slot);
    rc_free(ids);
    rc_free(addrs);
    hood_free(&h);
    analysis_free(&a);
    question_free(&q);
    for (size_t i = 0; i < n_started; i++) {
        Py_DECREF(starts[i]);
    }
    rc_free(starts);
    rc_free(ign);
    return result;
}

PyMethodDef rc_render_methods[] = {
    {"_render", rc_render_py, METH_VARARGS, NULL},
    {"_neighbourhood", rc_neighbourhood_py, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};
