/* refchain.Chain and the questions that produce chains: find_chain,
 * _explain (grouped explanations), objgraph's find_backref_chain and
 * find_ref_chain, and at().
 *
 * Every question follows the same steps:
 *   1. Before capturing, note "the question's own handles": the references
 *      the caller's stack holds to the arguments (one each), and the caller's
 *      variables that refer to the objects asked about.  Python may run here
 *      (reading f_locals).
 *   2. Capture, with those references discounted, and run the BFS.
 *   3. Take strong references to every object the answer names, before
 *      anything can run Python code or allocate a Python object.
 *   4. Free the graph and build the Python answer. */
#include "rcmodule.h"

#include <frameobject.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/dominators.h"
#include "refchain/explain.h"
#include "refchain/paths.h"
#include "refchain/pycompat.h"
#include "refchain/relate.h"
#include "refchain/search.h"
#include "refchain/select.h"

#define CHAIN_UNREACHABLE RC_ROOT_KINDS

/* ---- the Chain type ---------------------------------------------------- */

struct chain_desc;
static void desc_free(struct chain_desc *d);

typedef struct chain_obj {
    rc_tool base;      /* base.held / base.n_held: the path, root first */
    int kind;          /* rc_root_kind, or CHAIN_UNREACHABLE */
    uint32_t *edges;   /* edges[i]: index of the edge objs[i] -> objs[i + 1] */
    struct chain_desc *desc; /* from _set_description(), or NULL */
    /* What the chain read as when it was found (chain_read): its labels,
     * and the name of the thread running its root frame. */
    rc_label_step *labels;
    size_t n_labels;
    bool labelled;
    char *thread;
} chain_obj;

/* Read the chain's labels, and its root frame's thread, now: the answer is
 * read where it was found, before any Python code runs (chain_new is
 * called with no Python code run since the capture, and allocates no
 * Python object before this).  Read later, another thread may have rebound
 * the global or shifted the deque that the chain passes through, and the
 * root frame may have returned.  On failure (memory) the package relates
 * the chain itself when it describes it. */
static void
chain_read(chain_obj *self, PyObject *const *objs, size_t n)
{
    rc_relate_ctx ctx;
    rc_relate_ctx_init(&ctx, RC_RELATE_LIVE);
    if (self->kind != CHAIN_UNREACHABLE && n >= 2) {
        long *edges = rc_malloc((n - 1) * sizeof *edges);
        for (size_t i = 0; edges && i < n - 1; i++) {
            edges[i] = (long)self->edges[i];
        }
        self->labelled = edges && rc_relate_path(&ctx, objs, n, edges, n - 1, 0, 0,
                                                 &self->labels, &self->n_labels) == RC_OK;
        rc_free(edges);
    }
    unsigned long ident;
    size_t threads;
    int hit = self->kind == RC_ROOT_FRAME && n && PyFrame_Check(objs[0])
                  ? rc_frame_thread(objs[0], &ident, &threads)
                  : 0;
    if (hit > 0) {
        self->thread = rc_thread_name(&ctx, ident, threads);
    } else if (hit < 0) {
        PyErr_Clear(); /* the thread is then named when the chain is described */
    }
}

static PyObject *
chain_new(PyObject *module, int kind, PyObject **objs, Py_ssize_t n, uint32_t *edges)
{
    chain_obj read = {.kind = kind, .edges = edges};
    chain_read(&read, objs, (size_t)n);
    chain_obj *self = PyObject_GC_New(chain_obj, rc_module_state(module)->chain_type);
    if (!self) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_DECREF(objs[i]);
        }
        rc_free(objs);
        rc_free(edges);
        rc_label_steps_free(read.labels, read.n_labels);
        rc_free(read.thread);
        return NULL;
    }
    rc_tool_register((PyObject *)self, module);
    self->base.held = objs;
    self->base.n_held = n;
    self->kind = kind;
    self->edges = edges;
    self->desc = NULL;
    self->labels = read.labels;
    self->n_labels = read.n_labels;
    self->labelled = read.labelled;
    self->thread = read.thread;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* A Chain is a GC object: an object that keeps its own explanation (or a
 * frame whose locals hold a chain through that frame) forms a cycle the
 * collector must be able to break. */
static int
chain_traverse(PyObject *op, visitproc visit, void *arg)
{
    chain_obj *self = (chain_obj *)op;
#if PY_VERSION_HEX >= 0x03090000
    Py_VISIT(Py_TYPE(op));
#endif
    for (Py_ssize_t i = 0; i < self->base.n_held; i++) {
        Py_VISIT(self->base.held[i]);
    }
    return 0;
}

/* Drops the path; the kind and the cached description stay. */
static int
chain_clear(PyObject *op)
{
    chain_obj *self = (chain_obj *)op;
    PyObject **objs = self->base.held;
    Py_ssize_t n = self->base.n_held;
    self->base.held = NULL;
    self->base.n_held = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(objs[i]);
    }
    rc_free(objs);
    return 0;
}

static void
chain_dealloc(PyObject *op)
{
    chain_obj *self = (chain_obj *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    rc_tool_unregister(op); /* first: no capture may count these refs now */
    chain_clear(op);
    rc_free(self->edges);
    desc_free(self->desc);
    rc_label_steps_free(self->labels, self->n_labels);
    rc_free(self->thread);
    PyObject_GC_Del(op);
    Py_DECREF(tp);
}

/* 0, or -1 with ReferenceError when the collector has cleared the path
 * (only code run while breaking the cycle can still see such a chain). */
static int
chain_check(const chain_obj *self)
{
    if (self->base.n_held > 0) {
        return 0;
    }
    PyErr_SetString(PyExc_ReferenceError, "this Chain was cleared by the garbage collector");
    return -1;
}

static PyObject *
chain_kind(PyObject *op, void *Py_UNUSED(closure))
{
    int kind = ((chain_obj *)op)->kind;
    return PyUnicode_FromString(kind == CHAIN_UNREACHABLE ? "unreachable"
                                                          : rc_root_kind_name(kind));
}

static PyObject *
chain_objects(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    if (chain_check(self) < 0) {
        return NULL;
    }
    PyObject *t = PyTuple_New(self->base.n_held);
    for (Py_ssize_t i = 0; t && i < self->base.n_held; i++) {
        Py_INCREF(self->base.held[i]);
        PyTuple_SET_ITEM(t, i, self->base.held[i]);
    }
    return t;
}

static PyObject *
chain_edge_indexes(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    Py_ssize_t n = self->base.n_held > 0 ? self->base.n_held - 1 : 0;
    PyObject *t = PyTuple_New(n);
    for (Py_ssize_t i = 0; t && i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(self->edges[i]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* ((end, label), ...) as _label_path() gives them, read when the chain was
 * found; None when they were not (the package then relates the chain). */
static PyObject *
chain_labels(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    if (!self->labelled) {
        Py_RETURN_NONE;
    }
    return rc_label_steps_tuple(self->labels, self->n_labels);
}

/* The name of the thread that ran the root frame when the chain was found,
 * or None (not a frame root, or no thread's stack held it). */
static PyObject *
chain_thread(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    if (!self->thread) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeUTF8(self->thread, (Py_ssize_t)strlen(self->thread), "replace");
}

static PyObject *
chain_root(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    if (chain_check(self) < 0) {
        return NULL;
    }
    PyObject *root = self->kind == CHAIN_UNREACHABLE ? Py_None : self->base.held[0];
    Py_INCREF(root);
    return root;
}

static PyObject *
chain_target(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    if (chain_check(self) < 0) {
        return NULL;
    }
    Py_INCREF(self->base.held[self->base.n_held - 1]);
    return self->base.held[self->base.n_held - 1];
}

static PyObject *
chain_hops(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    return chain_check(self) < 0 ? NULL : PyLong_FromSsize_t(self->base.n_held - 1);
}

/* The description the package computes (its root in words, and a label for
 * each step), kept as C data: a Python object held by a tool object would
 * show up in later captures as something new, held by C code.  The package
 * describes a chain and hands the text in with _set_description(); the
 * extension never calls the package (see refchain/_wrap.py). */
typedef struct chain_desc {
    char *root;
    Py_ssize_t n;   /* steps */
    Py_ssize_t *at; /* at[i]: index into the chain's objects */
    char **labels;
} chain_desc;

static void
desc_free(struct chain_desc *d)
{
    if (!d) {
        return;
    }
    for (Py_ssize_t i = 0; d->labels && i < d->n; i++) {
        rc_free(d->labels[i]);
    }
    rc_free(d->labels);
    rc_free(d->at);
    rc_free(d->root);
    rc_free(d);
}

/* A C copy of a str, lone surrogates kept (they round-trip). */
static char *
text_dup(PyObject *s)
{
    if (!PyUnicode_Check(s)) {
        PyErr_SetString(PyExc_TypeError, "a chain's description must be strs");
        return NULL;
    }
    PyObject *b = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
    if (!b) {
        return NULL;
    }
    char *copy = rc_strndup(PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    if (!copy) {
        PyErr_NoMemory();
    }
    return copy;
}

static PyObject *
text_new(const char *s)
{
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "surrogatepass");
}

/* The copy of (root, ((object index, label), ...)) for a chain of n_held
 * objects, or NULL with an exception set. */
static chain_desc *
desc_new(PyObject *root, PyObject *steps, Py_ssize_t n_held)
{
    Py_ssize_t n = PyTuple_GET_SIZE(steps);
    chain_desc *desc = rc_calloc(1, sizeof *desc);
    if (!desc || !(desc->at = rc_calloc((size_t)(n ? n : 1), sizeof *desc->at)) ||
        !(desc->labels = rc_calloc((size_t)(n ? n : 1), sizeof *desc->labels))) {
        PyErr_NoMemory();
        goto error;
    }
    desc->n = n;
    if (!(desc->root = text_dup(root))) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *step = PyTuple_GET_ITEM(steps, i);
        Py_ssize_t at = PyTuple_Check(step) && PyTuple_GET_SIZE(step) == 2
                            ? PyLong_AsSsize_t(PyTuple_GET_ITEM(step, 0))
                            : -1;
        if (at < 0 || at >= n_held) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_IndexError, "_set_description(): bad step");
            }
            goto error;
        }
        desc->at[i] = at;
        if (!(desc->labels[i] = text_dup(PyTuple_GET_ITEM(step, 1)))) {
            goto error;
        }
    }
    return desc;
error:
    desc_free(desc);
    return NULL;
}

/* _set_description(root, steps): keep the package's description of the
 * chain (see chain_desc).  The first one stays: chain_steps reads it while
 * building Python objects, when another thread may describe the chain too. */
static PyObject *
chain_set_description(PyObject *op, PyObject *args)
{
    chain_obj *self = (chain_obj *)op;
    PyObject *root, *steps;
    if (!PyArg_ParseTuple(args, "UO!:_set_description", &root, &PyTuple_Type, &steps) ||
        chain_check(self) < 0) {
        return NULL;
    }
    chain_desc *desc = desc_new(root, steps, self->base.n_held);
    if (!desc) {
        return NULL;
    }
    if (self->desc) {
        desc_free(desc);
    } else {
        self->desc = desc;
    }
    Py_RETURN_NONE;
}

/* _root_description: the kept description's root, or None before the
 * package has described the chain. */
static PyObject *
chain_root_description(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    if (chain_check(self) < 0) {
        return NULL;
    }
    if (!self->desc) {
        Py_RETURN_NONE;
    }
    return text_new(self->desc->root);
}

/* _steps: [(object, label)] after the root, built fresh on each access from
 * the kept description, or None before the package has described it. */
static PyObject *
chain_steps(PyObject *op, void *Py_UNUSED(closure))
{
    chain_obj *self = (chain_obj *)op;
    if (chain_check(self) < 0) {
        return NULL;
    }
    chain_desc *d = self->desc;
    if (!d) {
        Py_RETURN_NONE;
    }
    PyObject *list = PyList_New(d->n);
    for (Py_ssize_t i = 0; list && i < d->n; i++) {
        PyObject *label = text_new(d->labels[i]);
        PyObject *pair = label ? PyTuple_Pack(2, self->base.held[d->at[i]], label) : NULL;
        Py_XDECREF(label);
        if (!pair) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, pair);
    }
    return list;
}

static PyObject *
no_new(PyTypeObject *tp, PyObject *Py_UNUSED(a), PyObject *Py_UNUSED(k))
{
    PyErr_Format(PyExc_TypeError, "cannot create '%s' instances; use refchain.find_chain()",
                 tp->tp_name);
    return NULL;
}

/* The text and the picture of a chain (str, repr, root_description, steps,
 * len and _repr_svg_) are the package's: it sets them on this type (see
 * refchain/_wrap.py).  Here are the facts it builds them from. */
static PyGetSetDef chain_getset[] = {
    {"root_kind", chain_kind, NULL,
     "What holds the chain's root: 'module', 'class', 'cache', 'frame', 'immortal', 'c' "
     "(C code), or 'unreachable' (only garbage holds the object).", NULL},
    {"root", chain_root, NULL, "The root object (None when unreachable).", NULL},
    {"target", chain_target, NULL, "The object the chain explains.", NULL},
    {"objects", chain_objects, NULL, "Every object on the chain, root first.", NULL},
    {"hops", chain_hops, NULL, "References followed from the root to the target.", NULL},
    {"_steps", chain_steps, NULL, NULL, NULL},
    {"_root_description", chain_root_description, NULL, NULL, NULL},
    {"_edge_indexes", chain_edge_indexes, NULL, NULL, NULL},
    {"_labels", chain_labels, NULL, NULL, NULL},
    {"_thread", chain_thread, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef chain_methods[] = {
    {"_set_description", chain_set_description, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot chain_slots[] = {
    {Py_tp_new, (void *)no_new},
    {Py_tp_methods, chain_methods},
    {Py_tp_dealloc, (void *)chain_dealloc},
    {Py_tp_traverse, (void *)chain_traverse},
    {Py_tp_clear, (void *)chain_clear},
    {Py_tp_getset, chain_getset},
    {Py_tp_doc, (void *)"A shortest chain of references from a root to an object."},
    {0, NULL},
};

static PyType_Spec chain_spec = {
    .name = "refchain.Chain",
    .basicsize = sizeof(chain_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = chain_slots,
};

int
rc_chain_type_init(PyObject *module, rc_state *s)
{
    s->chain_type = (PyTypeObject *)PyType_FromSpec(&chain_spec);
    if (!s->chain_type) {
        return -1;
    }
    Py_INCREF(s->chain_type);
    if (PyModule_AddObject(module, "Chain", (PyObject *)s->chain_type) < 0) {
        Py_DECREF(s->chain_type);
        return -1;
    }
    return 0;
}

/* ---- find_chain ---------------------------------------------------------- */

static PyObject *
rc_find_chain_py(PyObject *module, PyObject *obj)
{
    question q = {0};
    analysis a = {0};
    PyObject *result = NULL, **objs = NULL;
    uint32_t *edges = NULL;
    rc_id *ids = NULL;
    size_t len = 0;
    uint8_t kind = CHAIN_UNREACHABLE;
    /* The caller's stack holds obj while this C function runs. */
    if (question_hold(&q, obj) < 0 || question_caller(module, &q, &obj, 1) < 0 ||
        analyse(module, &q, AN_CHAINS_BACK, &a) < 0) {
        goto finally;
    }
    rc_id v = rc_graph_find(a.g, (uintptr_t)obj);
    rc_status st = v == RC_NO_ID ? RC_OK
                                 : rc_paths_find_or_alone(a.g, v, a.disc, a.n_disc,
                                                          &ids, &edges, &len, &kind);
    if (st != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    /* The capture held containers only: relate's hints count every reference. */
    rc_capture_full_indexes(a.g, ids, edges, len);
    if (v == RC_NO_ID || (kind == CHAIN_UNREACHABLE && !held_by_others(&a, v))) {
        result = Py_None; /* nothing but the question holds obj */
        Py_INCREF(result);
        goto finally;
    }
    if ((objs = take_objects(a.g, ids, len)) != NULL) {
        analysis_free(&a);
        result = chain_new(module, kind, objs, (Py_ssize_t)len, edges);
        edges = NULL; /* chain_new took it */
    }
finally:
    rc_free(ids);
    rc_free(edges);
    analysis_free(&a);
    question_free(&q);
    return result;
}

/* ---- explain ------------------------------------------------------------- */

PyObject *
rc_chain_of(PyObject *module, int kind, PyObject *const *objs, const rc_id *Py_UNUSED(ids),
            const uint32_t *edges, size_t n)
{
    PyObject **own = rc_malloc(n * sizeof *own);
    uint32_t *own_edges = rc_malloc(n * sizeof *own_edges);
    if (!own || !own_edges) {
        rc_free(own);
        rc_free(own_edges);
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n; i++) {
        own[i] = objs[i];
        Py_INCREF(own[i]);
    }
    memcpy(own_edges, edges, n * sizeof *own_edges);
    return chain_new(module, kind, own, (Py_ssize_t)n, own_edges);
}

/* [(count, bytes, chain, members)] for set s of e; objs[i] holds e->ids[i]
 * (or objs is NULL, and `members` makes what stands for them). */
static PyObject *
group_list(PyObject *module, const rc_explanation *e, const rc_explained_set *s,
           PyObject *const *objs, rc_chain_maker make_chain, const rc_members_maker *members_of)
{
    PyObject *list = PyList_New((Py_ssize_t)s->n_groups);
    for (size_t i = 0; list && i < s->n_groups; i++) {
        const rc_explained_group *gr = &e->groups[s->first + i];
        PyObject *chain = make_chain(module, gr->kind, objs ? objs + gr->chain_at : NULL,
                                     e->ids + gr->chain_at, e->edges + gr->chain_at,
                                     gr->chain_len);
        PyObject *members = !chain ? NULL
                            : members_of ? members_of->make(members_of->ctx,
                                                            e->ids + gr->members_at, gr->count)
                                         : rc_list_of(objs + gr->members_at, gr->count);
        PyObject *item = members ? Py_BuildValue("(nKOOKK(nKK))", (Py_ssize_t)gr->count,
                                                 (unsigned long long)gr->bytes, chain, members,
                                                 (unsigned long long)gr->retained_bytes,
                                                 (unsigned long long)gr->retained_count,
                                                 (Py_ssize_t)gr->holder_at,
                                                 (unsigned long long)gr->holder_bytes,
                                                 (unsigned long long)gr->holder_count)
                                 : NULL;
        Py_XDECREF(chain);
        Py_XDECREF(members);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

PyObject *
rc_explain_result(PyObject *module, const rc_graph *g, int by_type, const rc_explanation *e,
                  PyObject *const *objs, rc_chain_maker make_chain,
                  const rc_members_maker *members)
{
    if (!by_type) {
        const rc_explained_set *s = &e->sets[0];
        PyObject *groups = group_list(module, e, s, objs, make_chain, members);
        PyObject *result = groups ? Py_BuildValue("(nKnO)", (Py_ssize_t)s->count,
                                                  (unsigned long long)s->bytes,
                                                  (Py_ssize_t)s->all_groups, groups)
                                  : NULL;
        Py_XDECREF(groups);
        return result;
    }
    PyObject *result = PyList_New((Py_ssize_t)e->n_sets);
    for (size_t k = 0; result && k < e->n_sets; k++) {
        const rc_explained_set *s = &e->sets[k];
        PyObject *groups = group_list(module, e, s, objs, make_chain, members);
        PyObject *item = groups ? Py_BuildValue("(snKOKK)", rc_graph_type_name(g, s->type),
                                                (Py_ssize_t)s->count,
                                                (unsigned long long)s->bytes, groups,
                                                (unsigned long long)s->retained_bytes,
                                                (unsigned long long)s->retained_count)
                                : NULL;
        Py_XDECREF(groups);
        if (!item) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, (Py_ssize_t)k, item);
    }
    return result;
}

/* The question's own handles: the references the calls in flight hold to
 * what the user passed (`given`), the arguments, and the caller's
 * variables that refer to the objects asked about. */
static int
explain_question(PyObject *module, question *q, PyObject *given, PyObject *objects,
                 PyObject *seq, PyObject *selector)
{
    /* The held references: the argument and PySequence_Fast()'s own.  The
     * user's container is held by the calls in flight, how many times
     * depends on the version (3.11+ moves arguments into the callee's
     * frame): it is never a root by itself. */
    if (given && given != Py_None) {
        for (Py_ssize_t k = 0; k < Py_REFCNT(given) && k < 64; k++) {
            if (question_hold(q, given) < 0) {
                return -1;
            }
        }
    }
    if ((seq && (question_hold(q, objects) < 0 || question_hold(q, seq) < 0)) ||
        (selector != Py_None && question_hold(q, selector) < 0)) {
        return -1;
    }
    return seq ? question_caller(module, q, PySequence_Fast_ITEMS(seq),
                                 (size_t)PySequence_Fast_GET_SIZE(seq))
               : 0;
}

/* The members explain() asks about (*ids, rc_malloc'ed): the objects given,
 * those new since a census, or every object of the selected types.
 * Raises on failure. */
static int
explain_members(const analysis *a, PyObject *seq, rc_census *since, const unsigned char *mask,
                rc_id **ids, size_t *n)
{
    rc_status st;
    if (seq) {
        Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
        uintptr_t *addrs = rc_addrs_of(PySequence_Fast_ITEMS(seq), (size_t)k);
        if (!addrs) {
            PyErr_NoMemory();
            return -1;
        }
        st = rc_select_addrs(a->g, addrs, (size_t)k, mask, ids, n);
        rc_free(addrs);
    } else if (since) {
        st = rc_census_new_nodes(since, a->g, mask, ids, n);
        if (st == RC_EINVAL) {
            PyErr_SetString(PyExc_ValueError, "since: this census does not remember its objects");
            return -1;
        }
    } else if (mask) {
        /* The frames of the tool's own running functions explain nothing. */
        st = rc_select_nodes(a->g, mask, RC_NODE_TOOL_FRAME, ids, n);
    } else {
        PyErr_SetString(PyExc_TypeError, "explain() needs a type, objects or since=");
        return -1;
    }
    if (st != RC_OK) {
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* The mask of the types a selector names: a type or a type name, or with
 * g NULL only checked (before the capture: a bad argument is refused
 * first).  A tuple of them selects any.  NULL with an exception set (or,
 * when only checking, the selector itself). */
static unsigned char *
selector_mask(PyObject *selector, const rc_graph *g)
{
    PyObject *const *items = &selector;
    Py_ssize_t k = 1;
    if (PyTuple_Check(selector)) {
        items = &PyTuple_GET_ITEM(selector, 0);
        k = PyTuple_GET_SIZE(selector);
    }
    size_t nt = g ? rc_graph_type_count(g) : 0, marked;
    unsigned char *mask = g ? rc_calloc(nt ? nt : 1, 1) : NULL;
    if (g && !mask) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        type_sel sel;
        if (type_sel_parse(items[i], "explain", &sel) < 0) {
            rc_free(mask);
            return NULL;
        }
        unsigned char *m = g ? type_sel_mask(&sel, g, &marked) : NULL;
        Py_XDECREF(sel.keep);
        if (g && !m) {
            rc_free(mask);
            return NULL;
        }
        for (size_t t = 0; m && t < nt; t++) {
            mask[t] |= m[t];
        }
        rc_free(m);
    }
    return g ? mask : (unsigned char *)selector;
}

/* _explain(selector, objects, since, limit, by_type, given=None)
 *   selector: None, a type or a type name, or a tuple of them (any of
 *   those types); objects: None or a sequence;
 *   since: None or a Census; given: what the user passed (its caller's
 *   stack holds a reference no capture sees).
 * -> (count, bytes, groups before the limit, [(count, bytes, chain, members,
 *    retained bytes, retained count, (holder's index on the chain, its retained
 *    bytes, its retained count))]), or
 *    with by_type [(type name, count, bytes, [group], retained bytes,
 *    retained count)]: groups and types largest retained bytes first
 *    (rc_explain with the dominator tree). */
static PyObject *
rc_explain_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"selector", "objects", "since", "limit", "by_type",
                                        "given", NULL};
    PyObject *av[6] = {NULL};
    Py_ssize_t limit;
    if (rc_parse_fast("_explain", args, nargs, NULL, names, 5, av) < 0 ||
        rc_arg_size("_explain", "limit", av[3], 0, &limit) < 0) {
        return NULL;
    }
    PyObject *selector = av[0], *objects = av[1], *since_obj = av[2];
    int by_type = PyObject_IsTrue(av[4]);
    if (by_type < 0) {
        return NULL;
    }
    rc_census *since = NULL;
    if (since_obj != Py_None && !(since = rc_census_unwrap(module, since_obj, "since"))) {
        return NULL;
    }
    if (selector != Py_None && !selector_mask(selector, NULL)) {
        return NULL;
    }
    PyObject *seq = NULL, *result = NULL;
    question q = {0};
    analysis a = {0};
    rc_explanation e = {0};
    PyObject **objs = NULL;
    rc_id *members = NULL;
    unsigned char *mask = NULL;
    size_t n = 0;
    if (objects != Py_None &&
        !(seq = PySequence_Fast(objects, "explain() objects must be a sequence"))) {
        goto finally;
    }
    if (explain_question(module, &q, av[5], objects, seq, selector) < 0 ||
        analyse(module, &q, AN_ALL, &a) < 0 ||
        (selector != Py_None && !(mask = selector_mask(selector, a.g))) ||
        explain_members(&a, seq, since, mask, &members, &n) < 0) {
        goto finally;
    }
    /* The dominator tree is made in a thread of its own (reading the graph
     * only) while the members are grouped here.  No Python code has run
     * since the capture: relate may read its objects to tell positional
     * references (as a dump labels them). */
    rc_dom_job job;
    rc_dominators *d = NULL;
    rc_dominators_begin(&job, a.g, a.kinds);
    rc_relate_hops hops;
    rc_hop_names hop_names = rc_relate_hops_open(&hops, a.g);
    rc_status st = rc_explain_overlapped(a.g, a.paths, a.kinds, &job, &d, members, n, by_type,
                                         (size_t)limit, &hop_names, &e);
    rc_relate_hops_close(&hops);
    rc_dominators_free(d);
    if (st != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    if ((objs = take_objects(a.g, e.ids, e.n_ids)) != NULL) {
        /* Every object the answer names is held now.  Each chain reads its
         * labels as it is made: no collection (and so no Python code) runs
         * until the last one has. */
        int paused = rc_gc_pause();
        result = rc_explain_result(module, a.g, by_type, &e, objs, rc_chain_of, NULL);
        rc_gc_resume(paused);
    }
finally:
    rc_capture_release(objs, e.n_ids);
    rc_explanation_clear(&e);
    rc_free(members);
    rc_free(mask);
    analysis_free(&a);
    question_free(&q);
    Py_XDECREF(seq);
    return result;
}

/* ---- objgraph's find_backref_chain / find_ref_chain ----------------------- */

/* *ignore receives extra_ignore as an address set (rc_free it). */
static int
parse_chain_args(const char *func, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                 PyObject **obj, PyObject **predicate, Py_ssize_t *max_depth,
                 uintptr_t **ignore, size_t *n_ignore)
{
    static const char *const names[] = {"obj", "predicate", "max_depth", "extra_ignore", NULL};
    PyObject *a[4];
    if (rc_parse_fast(func, args, nargs, kwnames, names, 2, a) < 0) {
        return -1;
    }
    *obj = a[0];
    *predicate = a[1];
    if (!PyCallable_Check(*predicate)) {
        PyErr_Format(PyExc_TypeError, "predicate must be callable, not %.100s",
                     Py_TYPE(*predicate)->tp_name);
        return -1;
    }
    if (a[2] && PyLong_Check(a[2]) && !PyBool_Check(a[2]) && _PyLong_Sign(a[2]) < 0) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be >= 0");
        return -1;
    }
    if (rc_arg_size(func, "max_depth", a[2], 20, max_depth) < 0) {
        return -1;
    }
    *ignore = ignore_addrs(a[3], 0, NULL, 0, n_ignore);
    return *ignore ? 0 : -1;
}

/* Breadth-first from obj, over in-edges (backwards) or out-edges, up to
 * max_depth, for the nearest object satisfying predicate (rc_search).
 * Every object of the capture is held strongly before predicate (Python
 * code) first runs, and only those references are dereferenced after. */
static PyObject *
chain_search(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
             int backwards)
{
    PyObject *obj, *predicate;
    Py_ssize_t max_depth;
    uintptr_t *ignore;
    size_t n_ignore, len = 0;
    if (parse_chain_args(backwards ? "find_backref_chain" : "find_ref_chain", args, nargs,
                         kwnames, &obj, &predicate, &max_depth, &ignore, &n_ignore) < 0) {
        return NULL;
    }
    question q = {0};
    analysis a = {0};
    PyObject *result = NULL, **refs = NULL;
    rc_id *chain = NULL;
    if (question_hold(&q, obj) < 0 || question_hold(&q, predicate) < 0 ||
        question_caller(module, &q, &obj, 1) < 0 ||
        analyse(module, &q, backwards ? AN_CHAINS_BACK : 0, &a) < 0) {
        goto finally;
    }
    rc_id start = rc_graph_find(a.g, (uintptr_t)obj);
    if (start != RC_NO_ID) {
        if (!(refs = take_objects(a.g, NULL, rc_graph_node_count(a.g)))) {
            goto finally;
        }
        node_call call = {predicate, refs};
        rc_search_opts o = {backwards, (size_t)max_depth, ignore, n_ignore, a.disc, a.n_disc,
                            node_call_truth, &call};
        rc_status st = rc_search(a.g, start, &o, &chain, &len);
        if (st != RC_OK) {
            rc_raise(st);
            goto finally;
        }
    }
    result = PyList_New(len ? (Py_ssize_t)len : 1);
    for (size_t i = 0; result && i < (len ? len : 1); i++) {
        PyObject *item = len ? refs[chain[i]] : obj;
        Py_INCREF(item);
        PyList_SET_ITEM(result, (Py_ssize_t)i, item);
    }
finally:
    rc_capture_release(refs, a.g ? rc_graph_node_count(a.g) : 0);
    rc_free(chain);
    analysis_free(&a);
    question_free(&q);
    rc_free(ignore);
    return result;
}

static PyObject *
rc_find_backref_chain_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    return chain_search(module, args, nargs, kwnames, 1);
}

static PyObject *
rc_find_ref_chain_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    return chain_search(module, args, nargs, kwnames, 0);
}

/* ---- at ------------------------------------------------------------------- */

/* The address an int names (0, which no object has, for one out of
 * range), or -1 with TypeError (`what` names the argument) when it is no
 * int. */
static int
address_of(PyObject *arg, const char *what, uintptr_t *out)
{
    if (!PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s, not %.100s", what, Py_TYPE(arg)->tp_name);
        return -1;
    }
    *out = (uintptr_t)PyLong_AsVoidPtr(arg);
    if (*out == 0 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return -1;
        }
        PyErr_Clear(); /* negative or too big: no object lives there */
    }
    return 0;
}

/* at(address): a capture, not a scan of gc.get_objects(), so that objects
 * moved to the permanent generation by gc.freeze() (which no CPython API
 * lists) are found too, through what refers to them. */
static PyObject *
rc_at_py(PyObject *module, PyObject *arg)
{
    uintptr_t addr;
    if (address_of(arg, "at() argument must be an int address", &addr) < 0) {
        return NULL;
    }
    rc_graph *g = rc_module_capture(module, NULL, 0, RC_EDGES_NONE, 0);
    if (!g) {
        return NULL;
    }
    rc_id v = addr ? rc_graph_find(g, addr) : RC_NO_ID;
    PyObject *found = NULL;
    if (v != RC_NO_ID && (rc_graph_flags(g, v) & RC_NODE_TRACKED)) {
        found = (PyObject *)addr;
        Py_INCREF(found); /* no Python code ran since the capture */
    }
    rc_graph_free(g);
    if (!found) {
        PyErr_Format(PyExc_ValueError, "at(%R): no live gc-tracked object has this address", arg);
    }
    return found;
}

/* _at_addrs(addresses) -> list: objgraph's at_addrs on one capture.  Every
 * live object whose id() is in `addresses` (an iterable of ints), tracked
 * or not (get_new_ids() reports both), in the iterable's order.  The ints
 * are read before the capture; no Python code runs between the capture
 * and the last Py_INCREF. */
static PyObject *
rc_at_addrs_py(PyObject *module, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "at_addrs() argument must be an iterable of ints");
    if (!seq) {
        return NULL;
    }
    size_t n = (size_t)PySequence_Fast_GET_SIZE(seq), k = 0;
    uintptr_t *addrs = rc_malloc((n ? n : 1) * sizeof *addrs);
    rc_id *ids = rc_malloc((n ? n : 1) * sizeof *ids);
    PyObject *result = NULL, **objs = NULL;
    rc_graph *g = NULL;
    if (!addrs || !ids) {
        PyErr_NoMemory();
        goto finally;
    }
    for (size_t i = 0; i < n; i++) {
        if (address_of(PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i),
                       "at_addrs() needs int addresses", &addrs[i]) < 0) {
            goto finally;
        }
    }
    if (!(g = rc_module_capture(module, NULL, 0, RC_EDGES_NONE, 0))) {
        goto finally;
    }
    rc_status st = rc_graph_find_many(g, addrs, n, ids);
    if (st != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    for (size_t i = 0; i < n; i++) { /* the addresses asked about, in order */
        if (addrs[i] && ids[i] != RC_NO_ID) {
            ids[k++] = ids[i];
        }
    }
    if ((objs = take_objects(g, ids, k)) != NULL) {
        result = rc_list_of(objs, k);
    }
finally:
    rc_capture_release(objs, k);
    rc_graph_free(g);
    rc_free(addrs);
    rc_free(ids);
    Py_DECREF(seq);
    return result;
}

PyMethodDef rc_chain_methods[] = {
    {"find_chain", rc_find_chain_py, METH_O,
     "find_chain(obj) -> Chain or None\n\n"
     "The shortest chain of references that keeps obj alive, from a root (a module, a\n"
     "class, an lru_cache, a thread's frame, an immortal object, or C code), besides\n"
     "the caller's own variables referring to obj.  None when nothing else holds obj."},
    {"_explain", (PyCFunction)(void (*)(void))rc_explain_py, METH_FASTCALL, NULL},
    {"find_backref_chain", (PyCFunction)(void (*)(void))rc_find_backref_chain_py,
     METH_FASTCALL | METH_KEYWORDS,
     "find_backref_chain($module, /, obj, predicate, max_depth=20, extra_ignore=())\n--\n\n"
     "objgraph's call: [root, ..., obj] where predicate(root) is true, following\n"
     "referrers; [obj] when none is found within max_depth."},
    {"find_ref_chain", (PyCFunction)(void (*)(void))rc_find_ref_chain_py,
     METH_FASTCALL | METH_KEYWORDS,
     "find_ref_chain($module, /, obj, predicate, max_depth=20, extra_ignore=())\n--\n\n"
     "objgraph's call: [obj, ..., target] where predicate(target) is true, following\n"
     "references; [obj] when none is found within max_depth."},
    {"_at_addrs", rc_at_addrs_py, METH_O, NULL},
    {"at", rc_at_py, METH_O,
     "at(address) -> object\n\nThe live gc-tracked object with this id(); ValueError if none."},
    {NULL, NULL, 0, NULL},
};
