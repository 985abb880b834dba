/* The refchain._refchain extension module: module state, the registry of the
 * tool's own objects, and the module-level functions.  Each function parses
 * its arguments, calls one core function and converts the result. */
#include "rcmodule.h"

#include "refchain/idmap.h"
#include "refchain/pycompat.h"

#include <frameobject.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "refchain/alloc.h"
#include "refchain/filler.h"
#include "refchain/pool.h"
#include "refchain/relate.h"
#include "refchain/select.h"

#ifdef Py_GIL_DISABLED
#error "refchain does not support free-threaded CPython builds yet"
#endif

rc_state *
rc_module_state(PyObject *module)
{
    return (rc_state *)PyModule_GetState(module);
}

/* ---- the tool's own objects ----------------------------------------------- */

void
rc_tool_link_add(PyObject *module, rc_tool_link *link, PyObject *self, int kind)
{
    rc_tool_link *head = &rc_module_state(module)->tools;
    link->prev = head;
    link->next = head->next;
    link->self = self;
    link->kind = kind;
    head->next->prev = link;
    head->next = link;
}

void
rc_tool_link_remove(rc_tool_link *link)
{
    if (link->next) {
        link->prev->next = link->next;
        link->next->prev = link->prev;
        link->prev = link->next = NULL;
    }
}

void
rc_tool_register(PyObject *self, PyObject *module)
{
    rc_tool *t = (rc_tool *)self;
    rc_tool_link_add(module, &t->link, self, RC_TOOL_OBJECT);
    Py_INCREF(module);
    t->module = module;
    t->held = NULL;
    t->n_held = 0;
}

void
rc_tool_unregister(PyObject *self)
{
    rc_tool *t = (rc_tool *)self;
    rc_tool_link_remove(&t->link);
    Py_CLEAR(t->module);
}

/* The references a tool object holds, which captures discount. */
static size_t
tool_held(const rc_tool_link *l, uintptr_t *out)
{
    if (l->kind == RC_TOOL_LIST) {
        Py_ssize_t n = PyList_GET_SIZE(l->self);
        for (Py_ssize_t i = 0; out && i < n; i++) {
            out[i] = (uintptr_t)PyList_GET_ITEM(l->self, i);
        }
        return (size_t)n;
    }
    const rc_tool *t = (const rc_tool *)l->self;
    for (Py_ssize_t i = 0; out && i < t->n_held; i++) {
        out[i] = (uintptr_t)t->held[i];
    }
    return (size_t)t->n_held;
}

PyObject *
rc_raise(rc_status st)
{
    switch (st) {
    case RC_OK:
        PyErr_SetString(PyExc_SystemError, "refchain: error raised without an error");
        break;
    case RC_ENOMEM:
        PyErr_NoMemory();
        break;
    case RC_ETOOBIG:
        PyErr_SetString(PyExc_MemoryError, rc_status_str(st));
        break;
    case RC_EPYTHON:
    case RC_ECALLBACK: /* src/'s callbacks fail only with an exception set */
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_SystemError, "refchain: Python error without exception");
        }
        break;
    case RC_ENOTFOUND:
        PyErr_SetString(PyExc_LookupError, rc_status_str(st));
        break;
    case RC_ERENDER:
        PyErr_SetString(PyExc_RuntimeError, rc_status_str(st));
        break;
    case RC_EINVAL:
        PyErr_SetString(PyExc_SystemError, "refchain: internal contract violated");
        break;
    }
    return NULL;
}

rc_graph *
rc_module_capture(PyObject *module, const uintptr_t *held, size_t n_held, int edges,
                  int sizes)
{
    return rc_module_capture_ex(module, held, n_held, edges, sizes, 0);
}

/* A capture into *g, or with census not NULL a census (rc_capture_census,
 * census_flags) into *census; -1 with an exception set on error. */
static int
module_walk(PyObject *module, const uintptr_t *held, size_t n_held, int edges, int sizes,
            unsigned how, PyObject *tracked, rc_graph **g, unsigned census_flags,
            rc_census **census)
{
    rc_state *s = rc_module_state(module);
    size_t n = 0, nh = n_held;
    int shape = (how & RC_CAPTURE_CONTAINERS) != 0; /* which hints: see rc_state */
    /* The tool objects to leave out: none when they are to be captured. */
    rc_tool_link *first = how & RC_CAPTURE_TOOLS ? &s->tools : s->tools.next;
    for (rc_tool_link *l = first; l != &s->tools; l = l->next) {
        n++;
        nh += tool_held(l, NULL);
    }
    PyObject **exclude = rc_malloc((n ? n : 1) * sizeof *exclude);
    uintptr_t *all_held = rc_malloc((nh ? nh : 1) * sizeof *all_held);
    if (!exclude || !all_held) {
        rc_free(exclude);
        rc_free(all_held);
        Py_XDECREF(tracked);
        PyErr_NoMemory();
        return -1;
    }
    n = 0;
    nh = 0;
    /* Nothing below can run Python code: the lists cannot change. */
    for (rc_tool_link *l = first; l != &s->tools; l = l->next) {
        exclude[n++] = l->self;
        nh += tool_held(l, all_held + nh);
    }
    for (size_t i = 0; i < n_held; i++) {
        all_held[nh++] = held[i];
    }
    PyObject *tool_globals = s->tool_globals;
    rc_capture_opts opts = {
        .exclude = exclude,
        .n_exclude = n,
        .held = all_held,
        .n_held = nh,
        .tool_globals = tool_globals ? &PyTuple_GET_ITEM(tool_globals, 0) : NULL,
        .n_tool_globals = tool_globals ? (size_t)PyTuple_GET_SIZE(tool_globals) : 0,
        .gc_module = s->gc,
        .stdlib_dir = s->stdlib_dir,
        .refused_sizeof = s->refused_sizeof,
        .layout_sizeof = s->layout_sizeof,
        .node_hint = s->last_nodes[shape] + s->last_nodes[shape] / 8,
        .edge_hint = s->last_edges[shape] + s->last_edges[shape] / 8,
        .edges = edges,
        .sizes = sizes,
        .addr_order = (how & RC_CAPTURE_ADDR_ORDER) != 0,
        .containers_only = shape,
        .tracked = tracked,
    };
    rc_status st = census ? rc_capture_census(&opts, census_flags, census)
                          : rc_capture(&opts, g);
    rc_free(exclude);
    rc_free(all_held);
    if (st != RC_OK) {
        rc_raise(st);
        return -1;
    }
    s->last_nodes[shape] = census ? rc_census_total_count(*census) : rc_graph_node_count(*g);
    if (!census && edges != RC_EDGES_NONE) {
        s->last_edges[shape] = rc_graph_edge_count(*g);
    }
    return 0;
}

static rc_graph *
module_capture(PyObject *module, const uintptr_t *held, size_t n_held, int edges, int sizes,
               unsigned how, PyObject *tracked)
{
    rc_graph *g = NULL;
    return module_walk(module, held, n_held, edges, sizes, how, tracked, &g, 0, NULL) < 0
               ? NULL
               : g;
}

rc_graph *
rc_module_capture_ex(PyObject *module, const uintptr_t *held, size_t n_held, int edges,
                     int sizes, unsigned how)
{
    return module_capture(module, held, n_held, edges, sizes, how, NULL);
}

rc_graph *
rc_module_capture_tracked(PyObject *module, PyObject *tracked)
{
    return module_capture(module, NULL, 0, RC_EDGES_BOTH, 1, RC_CAPTURE_ADDR_ORDER,
                          tracked);
}

/* ---- vectorcall arguments ------------------------------------------------- */

int
rc_parse_fast(const char *func, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
              const char *const *names, Py_ssize_t required, PyObject **out)
{
    Py_ssize_t n = 0;
    while (names[n]) {
        out[n++] = NULL;
    }
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", func, n,
                     nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        out[i] = args[i];
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t i = 0;
        while (i < n && PyUnicode_CompareWithASCIIString(key, names[i]) != 0) {
            i++;
        }
        if (i == n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", func,
                         key);
            return -1;
        }
        if (out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", func,
                         names[i]);
            return -1;
        }
        out[i] = args[nargs + k];
    }
    for (Py_ssize_t i = 0; i < required; i++) {
        if (!out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", func, names[i]);
            return -1;
        }
    }
    return 0;
}

int
rc_arg_size(const char *func, const char *name, PyObject *arg, Py_ssize_t dflt, Py_ssize_t *out)
{
    if (!arg) {
        *out = dflt;
        return 0;
    }
    if (!PyLong_Check(arg) || PyBool_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s() argument '%s' must be int, not %.100s", func, name,
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    /* A limit too big for C means no limit. */
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow < 0 || (!overflow && v < 0)) {
        PyErr_Format(PyExc_ValueError, "%s() argument '%s' must be >= 0", func, name);
        return -1;
    }
    *out = overflow || v > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)v;
    return 0;
}

/* ---- choosing types ------------------------------------------------------- */

int
type_sel_parse(PyObject *arg, const char *func, type_sel *sel)
{
    sel->type = NULL;
    sel->name = NULL;
    sel->keep = NULL;
    sel->nothing = 0;
    if (PyType_Check(arg)) {
        sel->type = arg;
        return 0;
    }
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s() argument 'typename' must be str or type, not %.100s",
                     func, Py_TYPE(arg)->tp_name);
        return -1;
    }
    sel->keep = PyUnicode_AsUTF8String(arg);
    if (!sel->keep) {
        /* Interned names are valid UTF-8: a lone surrogate names nothing. */
        PyErr_Clear();
        sel->nothing = 1;
        return 0;
    }
    sel->name = PyBytes_AS_STRING(sel->keep);
    return 0;
}

unsigned char *
type_sel_mask(const type_sel *sel, const rc_graph *g, size_t *marked)
{
    rc_type_query q = {
        .by = sel->nothing ? RC_MATCH_NOTHING : sel->name ? RC_MATCH_NAME : RC_MATCH_KEY,
        .name = sel->name,
        .key = (uintptr_t)sel->type,
    };
    unsigned char *mask = NULL;
    rc_status st = rc_select_mask(g, &q, &mask, marked);
    if (st != RC_OK) {
        rc_raise(st);
    }
    return mask;
}

/* ---- module functions ---------------------------------------------------- */

/* _tracked_count() -> the number of gc-tracked objects (the budget's
 * estimate before any census: gc.get_objects() would build a list of them). */
static PyObject *
rc_tracked_count_py(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    size_t n;
    if (rc_capture_count_tracked(rc_module_state(module)->gc, &n) < 0) {
        return NULL;
    }
    return PyLong_FromSize_t(n);
}

/* _allocated_blocks() -> pymalloc's blocks in use, 0 when it cannot tell
 * (the budget's estimate before any census: rc_capture_allocated_blocks). */
static PyObject *
rc_allocated_blocks_py(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromSize_t(rc_capture_allocated_blocks());
}

/* _filler_ranges() -> ranges the captures' helper threads have faulted in
 * so far; _filler_min_nodes(n) -> the threshold before, set to n (tests;
 * refchain/filler.h). */
static PyObject *
rc_filler_ranges_py(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromSize_t(rc_filler_ranges());
}

static PyObject *
rc_filler_min_nodes_py(PyObject *module, PyObject *arg)
{
    (void)module;
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    size_t before = rc_filler_min_nodes();
    rc_filler_set_min_nodes(n);
    return PyLong_FromSize_t(before);
}

/* _sees_frozen() -> whether a census lists every frozen object
 * (rc_capture_sees_frozen). */
static PyObject *
rc_sees_frozen_py(PyObject *module, PyObject *unused)
{
    (void)unused;
    int sees = rc_capture_sees_frozen(rc_module_state(module)->gc);
    return sees < 0 ? NULL : PyBool_FromLong(sees);
}

/* _allow_gc_lists(bool) -> the previous setting (tests: see capture.h). */
static PyObject *
rc_allow_gc_lists_py(PyObject *module, PyObject *arg)
{
    (void)module;
    int allow = PyObject_IsTrue(arg);
    if (allow < 0) {
        return NULL;
    }
    return PyBool_FromLong(rc_capture_allow_gc_lists(allow));
}

static PyObject *
rc_capture_py(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    /* A Graph answers nothing that needs in-edges (graph_type.c). */
    rc_graph *g = rc_module_capture(module, NULL, 0, RC_EDGES_OUT, 1);
    return g ? rc_graph_wrap(module, g) : NULL;
}

static PyObject *
rc_census_py(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"shortnames", "ids", NULL};
    int shortnames = 0, ids = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$pp:census", kwlist, &shortnames, &ids)) {
        return NULL;
    }
    rc_census *c = NULL;
    unsigned flags = (ids ? RC_CENSUS_WITH_IDS : 0) | (shortnames ? RC_CENSUS_SHORT_NAMES : 0);
    if (module_walk(module, NULL, 0, RC_EDGES_NONE, 1, 0, NULL, NULL, flags, &c) < 0) {
        return NULL;
    }
    return rc_census_wrap(module, c);
}

/* count(typename) -> int */
static PyObject *
rc_count_py(PyObject *module, PyObject *arg)
{
    type_sel sel;
    if (type_sel_parse(arg, "count", &sel) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    unsigned char *mask = NULL;
    rc_graph *g = rc_module_capture(module, NULL, 0, RC_EDGES_NONE, 0);
    size_t marked;
    if (g && (mask = type_sel_mask(&sel, g, &marked))) {
        result = PyLong_FromSize_t(rc_select_count(g, mask));
    }
    rc_free(mask);
    rc_graph_free(g);
    Py_XDECREF(sel.keep);
    return result;
}

/* by_type(typename) -> list */
static PyObject *
rc_by_type_py(PyObject *module, PyObject *arg)
{
    type_sel sel;
    if (type_sel_parse(arg, "by_type", &sel) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    unsigned char *mask = NULL;
    rc_id *ids = NULL;
    size_t marked, n;
    rc_status st = RC_OK;
    rc_graph *g = rc_module_capture(module, NULL, 0, RC_EDGES_NONE, 0);
    if (g && (mask = type_sel_mask(&sel, g, &marked)) &&
        (st = rc_select_nodes(g, mask, 0, &ids, &n)) == RC_OK) {
        result = rc_objects_list(module, g, ids, n);
    } else if (st != RC_OK) {
        rc_raise(st);
    }
    rc_free(ids);
    rc_free(mask);
    rc_graph_free(g);
    Py_XDECREF(sel.keep);
    return result;
}

/* new_objects(since, typename=None, until=None) -> list: with `until`, a
 * later census, only what it counted too (leak_check: not what the checker
 * made after its last census). */
static PyObject *
rc_new_objects_py(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"since", "typename", "until", NULL};
    PyObject *since_obj, *typename = Py_None, *until_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:new_objects", kwlist, &since_obj,
                                     &typename, &until_obj)) {
        return NULL;
    }
    rc_census *since = rc_census_unwrap(module, since_obj, "new_objects() argument 'since'");
    if (!since) {
        return NULL;
    }
    rc_census *until = NULL;
    if (until_obj != Py_None &&
        !(until = rc_census_unwrap(module, until_obj, "new_objects() argument 'until'"))) {
        return NULL;
    }
    type_sel sel = {0};
    if (typename != Py_None && type_sel_parse(typename, "new_objects", &sel) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    unsigned char *mask = NULL;
    rc_id *ids = NULL;
    size_t marked, n;
    rc_graph *g = rc_module_capture(module, NULL, 0, RC_EDGES_NONE, 0);
    if (g && (typename == Py_None || (mask = type_sel_mask(&sel, g, &marked)))) {
        rc_status st = rc_census_new_nodes_until(since, until, g, mask, &ids, &n);
        if (st == RC_EINVAL) {
            PyErr_SetString(PyExc_ValueError,
                            "new_objects(): this census does not remember its objects");
        } else if (st != RC_OK) {
            rc_raise(st);
        } else {
            result = rc_objects_list(module, g, ids, n);
        }
    }
    rc_free(ids);
    rc_free(mask);
    rc_graph_free(g);
    Py_XDECREF(sel.keep);
    return result;
}

/* [int] of ids[0..n). */
PyObject *
rc_id_list(const rc_id *ids, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *k = PyLong_FromUnsignedLong(ids[i]);
        if (!k) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, k);
    }
    return list;
}

/* {row name: objects[start[r] .. start[r + 1])} for the first `rows` rows
 * of `diff`; objects NULL passes its error on. */
static PyObject *
lists_by_row(const rc_diff *diff, size_t rows, PyObject *objects, const size_t *start)
{
    PyObject *lists = objects ? PyDict_New() : NULL;
    for (size_t r = 0; lists && r < rows; r++) {
        PyObject *row = PyList_GetSlice(objects, (Py_ssize_t)start[r], (Py_ssize_t)start[r + 1]);
        if (!row || PyDict_SetItemString(lists, rc_diff_row_at(diff, r)->name, row) < 0) {
            Py_CLEAR(lists);
        }
        Py_XDECREF(row);
    }
    Py_XDECREF(objects);
    return lists;
}

/* {row name: [new objects]} for gr's rows (rows > 0), or with ids_only
 * {row name: [node id]}.  The references are taken before any other
 * Python object is made (rc_objects_list from g's nodes; from a counter's
 * census, whose addresses are still those objects when no Python code has
 * run since it was taken, directly); after that only the diff's names are
 * read. */
static PyObject *
growth_objects(PyObject *module, const rc_graph *g, const rc_growth *gr, int ids_only)
{
    size_t n = gr->row_start[gr->rows];
    PyObject *objects;
    if (!g) {
        PyObject **refs = rc_malloc((n ? n : 1) * sizeof *refs);
        for (size_t i = 0; refs && i < n; i++) {
            refs[i] = (PyObject *)gr->addrs[i];
            Py_INCREF(refs[i]);
        }
        objects = refs ? rc_objects_list_taken(module, refs, n) : PyErr_NoMemory();
    } else {
        objects =
            ids_only ? rc_id_list(gr->ids, n) : rc_objects_list(module, g, gr->ids, n);
    }
    return lists_by_row(gr->diff, gr->rows, objects, gr->row_start);
}

/* _growth(peaks, since, shortnames, limit, objects)
 *   -> (new_peaks, census, diff, {name: [new objects]} or None)
 * One capture answers both show_growth's counts and its "where were the new
 * ones allocated" question, so the two always agree. */
static PyObject *
rc_growth_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return rc_growth_answer(module, NULL, args, nargs, 0);
}

PyObject *
rc_growth_answer(PyObject *module, const rc_graph *g, PyObject *const *args, Py_ssize_t nargs,
                 int ids_only)
{
    static const char *const names[] = {"peaks", "since", "shortnames", "limit", "objects", NULL};
    PyObject *a[5];
    Py_ssize_t limit;
    if (rc_parse_fast("_growth", args, nargs, NULL, names, 5, a) < 0 ||
        rc_arg_size("_growth", "limit", a[3], 0, &limit) < 0) {
        return NULL;
    }
    PyObject *peaks_obj = a[0], *since_obj = a[1];
    int shortnames = PyObject_IsTrue(a[2]), want_objects = PyObject_IsTrue(a[4]);
    if (shortnames < 0 || want_objects < 0) {
        return NULL;
    }
    rc_census *peaks = NULL, *since = NULL;
    if (peaks_obj != Py_None && !(peaks = rc_census_unwrap(module, peaks_obj, "peaks"))) {
        return NULL;
    }
    if (since_obj != Py_None && !(since = rc_census_unwrap(module, since_obj, "since"))) {
        return NULL;
    }
    PyObject *result = NULL, *lists = NULL;
    rc_census *now = NULL;
    rc_growth gr = {0};
    rc_status st;
    unsigned flags = RC_CENSUS_WITH_IDS | (shortnames ? RC_CENSUS_SHORT_NAMES : 0) |
                     (ids_only ? RC_CENSUS_NO_TOOL_FRAMES : 0);
    if (!g && module_walk(module, NULL, 0, RC_EDGES_NONE, 1, 0, NULL, NULL, flags, &now) < 0) {
        /* Live: one census answers both the counts and which objects are
         * new, so they agree. */
        goto finally;
    }
    if ((st = rc_census_growth_answer(g, now, peaks, want_objects ? since : NULL, flags,
                                      (size_t)limit, &gr)) != RC_OK) {
        rc_raise(st);
        goto finally;
    }
    if (gr.row_start && !(lists = growth_objects(module, g, &gr, ids_only))) {
        goto finally;
    }
    PyObject *peaks_out = rc_census_wrap(module, gr.new_peaks);
    gr.new_peaks = NULL;
    PyObject *now_out = peaks_out ? rc_census_wrap(module, gr.now) : NULL;
    gr.now = peaks_out ? NULL : gr.now;
    PyObject *diff_out = now_out ? rc_diff_wrap(module, gr.diff) : NULL;
    gr.diff = now_out ? NULL : gr.diff;
    if (diff_out) {
        result = PyTuple_Pack(4, peaks_out, now_out, diff_out, lists ? lists : Py_None);
    }
    Py_XDECREF(peaks_out);
    Py_XDECREF(now_out);
    Py_XDECREF(diff_out);
finally:
    Py_XDECREF(lists);
    rc_growth_free(&gr);
    return result;
}

/* _tp_name(type) -> str: its C tp_name, bad UTF-8 replaced (a C extension
 * may name a type with any bytes; type.__name__ then raises). */
static PyObject *
rc_tp_name_py(PyObject *Py_UNUSED(module), PyObject *tp)
{
    if (!PyType_Check(tp)) {
        PyErr_Format(PyExc_TypeError, "_tp_name() needs a type, not %s", Py_TYPE(tp)->tp_name);
        return NULL;
    }
    const char *name = ((PyTypeObject *)tp)->tp_name;
    return PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), "replace");
}

/* What sizing needs of the capture options. */
static rc_capture_opts
sizing_opts(PyObject *module)
{
    rc_state *s = rc_module_state(module);
    return (rc_capture_opts){.stdlib_dir = s->stdlib_dir,
                             .refused_sizeof = s->refused_sizeof,
                             .layout_sizeof = s->layout_sizeof};
}

/* _shallow_size(obj) -> int: the size a capture records for obj. */
static PyObject *
rc_shallow_size_py(PyObject *module, PyObject *obj)
{
    rc_capture_opts opts = sizing_opts(module);
    return PyLong_FromUnsignedLongLong(rc_shallow_size(obj, &opts, NULL));
}

/* _size_is_lower_bound(obj) -> bool: whether obj's recorded size is its
 * layout's only, its type's own __sizeof__ not being trusted. */
static PyObject *
rc_size_is_lower_bound_py(PyObject *module, PyObject *obj)
{
    int lower = 0;
    rc_capture_opts opts = sizing_opts(module);
    rc_shallow_size(obj, &opts, &lower);
    return PyBool_FromLong(lower);
}

/* _thread_of(frame) -> the name of the thread of this interpreter whose
 * stack holds frame (rc_frame_thread, rc_thread_name), or None. */
static PyObject *
rc_thread_of_py(PyObject *Py_UNUSED(module), PyObject *frame)
{
    unsigned long ident;
    size_t threads;
    int hit = rc_frame_thread(frame, &ident, &threads);
    if (hit <= 0) {
        return hit < 0 ? NULL : Py_BuildValue("");
    }
    rc_relate_ctx ctx;
    rc_relate_ctx_init(&ctx, RC_RELATE_LIVE);
    char *name = rc_thread_name(&ctx, ident, threads);
    PyObject *result = name ? PyUnicode_FromString(name) : PyErr_NoMemory();
    rc_free(name);
    return result;
}

/* _alloc_traceback(obj) -> ((filename, lineno), ...) or None (rc_alloc_traceback). */
static PyObject *
rc_alloc_traceback_py(PyObject *Py_UNUSED(module), PyObject *obj)
{
    return rc_alloc_traceback(obj);
}

/* _alloc_traceback_counts(objects) -> {frames: count} (rc_alloc_traceback_counts). */
static PyObject *
rc_alloc_traceback_counts_py(PyObject *Py_UNUSED(module), PyObject *objects)
{
    return rc_alloc_traceback_counts(objects);
}

/* _fail_after(n): make the n-th next C allocation fail (n < 0: never). */
static PyObject *
rc_fail_after_py(PyObject *Py_UNUSED(module), PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    unsigned long before = rc_alloc_count();
    rc_alloc_fail_after(n);
    return PyLong_FromUnsignedLong(before);
}

/* _set_tool_globals(items): the globals dicts of the package's modules, a
 * tuple, and code objects of the tool's that run with other globals (the
 * program attach injects runs in __main__'s): their running frames are the
 * tool's own, and captures leave them out.  Plain data: the extension calls
 * nothing of the package's (the package wraps the C types for text and
 * pictures, see refchain/_wrap.py). */
static PyObject *
rc_set_tool_globals_py(PyObject *module, PyObject *tool_globals)
{
    if (!PyTuple_CheckExact(tool_globals)) {
        PyErr_Format(PyExc_TypeError,
                     "_set_tool_globals() needs a tuple of dicts and code objects, not %.100s",
                     Py_TYPE(tool_globals)->tp_name);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tool_globals); i++) {
        PyObject *item = PyTuple_GET_ITEM(tool_globals, i);
        if (!PyDict_CheckExact(item) && !PyCode_Check(item)) {
            PyErr_SetString(PyExc_TypeError,
                            "_set_tool_globals() needs a tuple of dicts and code objects");
            return NULL;
        }
    }
    Py_INCREF(tool_globals);
    Py_XSETREF(rc_module_state(module)->tool_globals, tool_globals);
    Py_RETURN_NONE;
}

/* release_memory(): free the capture's pool now. */
static PyObject *
rc_release_memory_py(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    size_t freed = rc_pool_release();
#ifdef __GLIBC__
    /* What a capture's smaller blocks and an answer's objects gave back to
     * malloc stays in its arenas until trimmed. */
    (void)malloc_trim(0);
#endif
    return PyLong_FromSize_t(freed);
}

/* _note(i) -> the number kept in note i; _note(i, n) keeps n there (see
 * rc_state.notes). */
static PyObject *
rc_note_py(PyObject *module, PyObject *args)
{
    int i;
    unsigned long long n = 0;
    int set = PyTuple_GET_SIZE(args) > 1;
    if (!PyArg_ParseTuple(args, "i|K:_note", &i, &n)) {
        return NULL;
    }
    if (i < 0 || i >= RC_NOTES) {
        PyErr_Format(PyExc_IndexError, "_note(): no note %d", i);
        return NULL;
    }
    unsigned long long *note = &rc_module_state(module)->notes[i];
    if (set) {
        *note = n;
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLongLong(*note);
}

static PyObject *
rc_pool_bytes_py(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(rc_pool_held());
}

/* _mapped_bytes(): what refchain has mapped outside malloc (tests: a leak
 * check adds it to malloc's bytes in use). */
static PyObject *
rc_mapped_bytes_py(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(rc_mapped_bytes());
}

/* A pending call (attach): raise exc, a strong reference given up here, in
 * the main thread where the call runs, as if its signal handler had raised
 * it there; -1 with the exception set makes the interrupted code raise it. */
static int
rc_raise_pending(void *arg)
{
    PyObject *exc = (PyObject *)arg;
    PyObject *type = (PyObject *)Py_TYPE(exc);

    Py_INCREF(type);
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));   /* steals all three */
    return -1;
}

/* _raise_later(exc): queue a pending call that raises the exception exc in
 * the main thread once the pending call running now (attach's program) has
 * returned: a signal handler's exception caught there goes on into the code
 * the signal interrupted.  RuntimeError when the queue is full. */
static PyObject *
rc_raise_later_py(PyObject *Py_UNUSED(module), PyObject *exc)
{
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_SetString(PyExc_TypeError, "_raise_later() takes an exception");
        return NULL;
    }
    Py_INCREF(exc);
    if (Py_AddPendingCall(rc_raise_pending, exc) != 0) {
        Py_DECREF(exc);
        PyErr_SetString(PyExc_RuntimeError, "the pending-call queue is full");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef rc_methods[] = {
    {"capture", rc_capture_py, METH_NOARGS,
     "capture() -> Graph\n\nSnapshot the whole heap (tracked and untracked objects)."},
    {"census", (PyCFunction)(void (*)(void))rc_census_py, METH_VARARGS | METH_KEYWORDS,
     "census(*, shortnames=False) -> Census\n\nCount every live object by type."},
    {"count", rc_count_py, METH_O, "count(typename) -> int"},
    {"by_type", rc_by_type_py, METH_O, "by_type(typename) -> list"},
    {"new_objects", (PyCFunction)(void (*)(void))rc_new_objects_py,
     METH_VARARGS | METH_KEYWORDS, "new_objects(since, typename=None, until=None) -> list"},
    {"_growth", (PyCFunction)(void (*)(void))rc_growth_py, METH_FASTCALL, NULL},
    {"_shallow_size", rc_shallow_size_py, METH_O, NULL},
    {"_size_is_lower_bound", rc_size_is_lower_bound_py, METH_O, NULL},
    {"_thread_of", rc_thread_of_py, METH_O, NULL},
    {"_tp_name", rc_tp_name_py, METH_O, NULL},
    {"_label_path", (PyCFunction)(void (*)(void))rc_label_path_py, METH_FASTCALL, NULL},
    {"_alloc_traceback", rc_alloc_traceback_py, METH_O, NULL},
    {"_alloc_traceback_counts", rc_alloc_traceback_counts_py, METH_O, NULL},
    {"_fail_after", rc_fail_after_py, METH_O, NULL},
    {"_set_tool_globals", rc_set_tool_globals_py, METH_O, NULL},
    {"release_memory", rc_release_memory_py, METH_NOARGS,
     "release_memory() -> int\n\nFree the memory refchain keeps between captures for reuse; "
     "return the bytes freed."},
    {"_pool_bytes", rc_pool_bytes_py, METH_NOARGS, NULL},
    {"_mapped_bytes", rc_mapped_bytes_py, METH_NOARGS, NULL},
    {"_tracked_count", rc_tracked_count_py, METH_NOARGS, NULL},
    {"_allocated_blocks", rc_allocated_blocks_py, METH_NOARGS, NULL},
    {"_filler_ranges", rc_filler_ranges_py, METH_NOARGS, NULL},
    {"_filler_min_nodes", rc_filler_min_nodes_py, METH_O, NULL},
    {"_allow_gc_lists", rc_allow_gc_lists_py, METH_O, NULL},
    {"_sees_frozen", rc_sees_frozen_py, METH_NOARGS, NULL},
    {"_raise_later", rc_raise_later_py, METH_O, NULL},
    {"_note", rc_note_py, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* ---- module lifecycle ------------------------------------------------------ */

static int
rc_exec(PyObject *module)
{
    rc_state *s = rc_module_state(module);
    s->tools.prev = s->tools.next = &s->tools;
    rc_pool_enable(1);
    rc_sizing_probe(&s->stdlib_dir, &s->refused_sizeof, &s->layout_sizeof);
    s->gc = PyImport_ImportModule("gc");
    if (!s->gc || rc_graph_type_init(module, s) < 0 || rc_census_types_init(module, s) < 0 ||
        rc_chain_type_init(module, s) < 0 || rc_objlist_type_init(module, s) < 0 ||
        rc_snapshot_types_init(module, s) < 0 ||
        PyModule_AddFunctions(module, rc_dump_methods) < 0 ||
        PyModule_AddFunctions(module, rc_snapshot_methods) < 0 ||
        PyModule_AddFunctions(module, rc_chain_methods) < 0 ||
        PyModule_AddFunctions(module, rc_garbage_methods) < 0 ||
        PyModule_AddFunctions(module, rc_render_methods) < 0 ||
        PyModule_AddFunctions(module, rc_retained_methods) < 0) {
        return -1;
    }
    return 0;
}

/* Before 3.9, m_traverse and m_clear may run before the state exists: the
 * module object is made, then its functions are added (each an allocation
 * that may start a collection), and only then is the state allocated. */
static int
rc_traverse(PyObject *module, visitproc visit, void *arg)
{
    rc_state *s = rc_module_state(module);
    if (!s) {
        return 0;
    }
    Py_VISIT(s->graph_type);
    Py_VISIT(s->census_type);
    Py_VISIT(s->diff_type);
    Py_VISIT(s->type_stat);
    Py_VISIT(s->diff_row);
    Py_VISIT(s->chain_type);
    Py_VISIT(s->objlist_type);
    Py_VISIT(s->snapshot_type);
    Py_VISIT(s->gc);
    Py_VISIT(s->tool_globals);
    return 0;
}

static int
rc_clear(PyObject *module)
{
    rc_state *s = rc_module_state(module);
    if (!s) {
        return 0;
    }
    Py_CLEAR(s->graph_type);
    Py_CLEAR(s->census_type);
    Py_CLEAR(s->diff_type);
    Py_CLEAR(s->type_stat);
    Py_CLEAR(s->diff_row);
    Py_CLEAR(s->chain_type);
    Py_CLEAR(s->objlist_type);
    Py_CLEAR(s->snapshot_type);
    Py_CLEAR(s->gc);
    Py_CLEAR(s->tool_globals);
    return 0;
}

static void
rc_free_module(void *module)
{
    rc_state *s = rc_module_state((PyObject *)module);
    rc_clear((PyObject *)module);
    if (s) {
        PyMem_RawFree(s->stdlib_dir);
        s->stdlib_dir = NULL;
        rc_idmap_free(s->idmap);
        s->idmap = NULL;
    }
    rc_pool_release();
}

static PyModuleDef_Slot rc_slots[] = {
    {Py_mod_exec, (void *)rc_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* Shared-GIL subinterpreters only: a capture needs the heap to stand
     * still, and with a GIL per interpreter another interpreter's threads
     * would run during the walk.  Isolated ones get ImportError. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef rc_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "refchain._refchain",
    .m_doc = "refchain's C core: heap capture, census and growth.",
    .m_size = sizeof(rc_state),
    .m_methods = rc_methods,
    .m_slots = rc_slots,
    .m_traverse = rc_traverse,
    .m_clear = rc_clear,
    .m_free = rc_free_module,
};

/* Before 3.9 PyMODINIT_FUNC does not export; the build hides everything else. */
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit__refchain(void);

PyMODINIT_FUNC
PyInit__refchain(void)
{
    return PyModuleDef_Init(&rc_module);
}

/* ---- the result types' shared parts (see rcmodule.h) ---------------------- */

PyObject *
rc_no_new(PyTypeObject *tp, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    const char *maker = strcmp(tp->tp_name, "refchain.Graph") == 0   ? "capture"
                        : strcmp(tp->tp_name, "refchain.Chain") == 0 ? "find_chain"
                                                                     : "census";
    PyErr_Format(PyExc_TypeError, "cannot create '%s' instances; use refchain.%s()",
                 tp->tp_name, maker);
    return NULL;
}

int
rc_add_type(PyObject *module, PyTypeObject *tp, PyTypeObject **slot)
{
    if (!tp) {
        return -1;
    }
    const char *dot = strrchr(tp->tp_name, '.');
    *slot = tp;
    Py_INCREF(tp); /* PyModule_AddObject steals it on success only */
    if (PyModule_AddObject(module, dot ? dot + 1 : tp->tp_name, (PyObject *)tp) < 0) {
        Py_DECREF(tp);
        return -1;
    }
    return 0;
}

PyObject *
rc_tool_new(PyObject *module, PyTypeObject *tp)
{
    PyObject *self = PyObject_New(PyObject, tp);
    if (self) {
        rc_tool_register(self, module);
    }
    return self;
}

void
rc_tool_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    rc_tool_unregister(op);
    PyObject_Free(op);
    Py_DECREF(tp);
}
