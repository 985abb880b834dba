/* The question's own handles, and the analysis every question shares
 * (see the steps at the top of src/chain.c). */
#include "rcmodule.h"

#include <frameobject.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/pycompat.h"
#include "refchain/paths.h"


void
question_free(question *q)
{
    rc_free(q->held);
    rc_free(q->disc);
}

int
question_hold(question *q, PyObject *obj)
{
    if (q->n_held == q->held_cap) {
        size_t cap = q->held_cap ? q->held_cap * 2 : 8;
        uintptr_t *p = rc_reallocarray(q->held, cap, sizeof *p);
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        q->held = p;
        q->held_cap = cap;
    }
    q->held[q->n_held++] = (uintptr_t)obj;
    return 0;
}

int
question_discount(question *q, PyObject *from, PyObject *to, uint32_t count)
{
    if (q->n_disc == q->disc_cap) {
        size_t cap = q->disc_cap ? q->disc_cap * 2 : 8;
        disc_addr *p = rc_reallocarray(q->disc, cap, sizeof *p);
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        q->disc = p;
        q->disc_cap = cap;
    }
    q->disc[q->n_disc++] = (disc_addr){(uintptr_t)from, (uintptr_t)to, count};
    return 0;
}

static int
is_tool_frame(rc_state *s, PyObject *frame)
{
    PyObject *globals = PyObject_GetAttrString(frame, "f_globals");
    int tool = 0;
    if (!globals) {
        PyErr_Clear();
        return 0;
    }
    for (Py_ssize_t i = 0; s->tool_globals && i < PyTuple_GET_SIZE(s->tool_globals); i++) {
        tool |= PyTuple_GET_ITEM(s->tool_globals, i) == globals;
    }
    Py_DECREF(globals);
    return tool;
}

/* Discount the caller's variables that refer to any of targets[0..n): for
 * each such (holder, target), the holder's edges to the target are not
 * followed.  The caller is the nearest frame not running the tool's code;
 * its holders are the frame itself (its variable slots, read in place) and
 * the f_locals mapping it holds (before 3.13 a function's snapshot dict if
 * one was made; the module's globals at module level).  Reading f_locals
 * here would make or refresh that snapshot: a change to the heap asked
 * about, and deallocations that may run Python code. */
int
question_caller(PyObject *module, question *q, PyObject *const *targets, size_t n)
{
    rc_state *s = rc_module_state(module);
    PyObject *frame = (PyObject *)PyEval_GetFrame(); /* borrowed */
    Py_XINCREF(frame);
    while (frame && is_tool_frame(s, frame)) {
        PyObject *back = PyObject_GetAttrString(frame, "f_back");
        Py_DECREF(frame);
        if (!back) {
            return -1;
        }
        frame = back == Py_None ? NULL : back;
        if (!frame) {
            Py_DECREF(back);
        }
    }
    if (!frame) {
        return 0;
    }
    int rc = -1;
    rc_frame_vars vars;
    rc_frame_vars_read(frame, &vars);
    PyObject *const *slots = vars.slots;
    size_t n_slots = vars.n;
    PyObject *mapping = rc_frame_locals_mapping(frame);
    uint32_t *in_slots = PyMem_Calloc(n ? n : 1, sizeof *in_slots);
    uint32_t *in_mapping = PyMem_Calloc(n ? n : 1, sizeof *in_mapping);
    if (!in_slots || !in_mapping) {
        PyErr_NoMemory();
        goto finally;
    }
    /* Counted before anything allocates: a collection could run then. */
    for (size_t t = 0; t < n; t++) {
        for (size_t i = 0; i < n_slots; i++) {
            in_slots[t] += slots[i] == targets[t];
        }
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (mapping && PyDict_Check(mapping) && PyDict_Next(mapping, &pos, &key, &value)) {
            in_mapping[t] += value == targets[t];
        }
    }
    Py_XINCREF(mapping);
    rc = 0;
    for (size_t t = 0; rc == 0 && t < n; t++) {
        if ((in_slots[t] && question_discount(q, frame, targets[t], in_slots[t]) < 0) ||
            (in_mapping[t] && question_discount(q, mapping, targets[t], in_mapping[t]) < 0)) {
            rc = -1;
        }
    }
    Py_XDECREF(mapping);
finally:
    PyMem_Free(in_slots);
    PyMem_Free(in_mapping);
    Py_DECREF(frame);
    return rc;
}

/* The analysis every question shares: a capture with both edge directions
 * and the question's handles as discounts; then, for questions about many
 * objects, root kinds and the BFS.  On failure an exception is set and
 * everything is freed. */

void
analysis_free(analysis *a)
{
    rc_paths_free(a->paths);
    rc_free(a->kinds);
    rc_free(a->disc);
    rc_graph_free(a->g);
    memset(a, 0, sizeof *a);
}

/* bfs: also the root kinds and the whole BFS (for groups, which also need
 * sizes); without it, a capture for one chain, which needs no sizes. */
int
analyse(PyObject *module, const question *q, int bfs, analysis *a)
{
    memset(a, 0, sizeof *a);
    a->g = rc_module_capture_ex(module, q->held, q->n_held, RC_EDGES_BOTH, bfs, q->tools);
    if (!a->g) {
        return -1;
    }
    rc_status st = RC_ENOMEM;
    uintptr_t *addrs = rc_malloc((2 * q->n_disc + 1) * sizeof *addrs);
    rc_id *ids = rc_malloc((2 * q->n_disc + 1) * sizeof *ids);
    a->disc = rc_malloc((q->n_disc + 1) * sizeof *a->disc);
    if (!addrs || !ids || !a->disc) {
        goto finally;
    }
    for (size_t i = 0; i < q->n_disc; i++) {
        addrs[2 * i] = q->disc[i].from;
        addrs[2 * i + 1] = q->disc[i].to;
    }
    if ((st = rc_graph_find_many(a->g, addrs, 2 * q->n_disc, ids)) != RC_OK) {
        goto finally;
    }
    for (size_t i = 0; i < q->n_disc; i++) {
        if (ids[2 * i] != RC_NO_ID && ids[2 * i + 1] != RC_NO_ID) {
            a->disc[a->n_disc++] = (rc_discount){ids[2 * i], ids[2 * i + 1], q->disc[i].count};
        }
    }
    if (bfs && (st = rc_roots_classify(a->g, &a->kinds)) == RC_OK) {
        st = rc_paths_bfs(a->g, a->kinds, a->disc, a->n_disc, &a->paths);
    }
finally:
    rc_free(addrs);
    rc_free(ids);
    if (st != RC_OK) {
        analysis_free(a);
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* Whether v has an in-edge that is neither from a tool frame nor one of the
 * question's discounted handles: something other than the question holds v. */
int
held_by_others(const rc_graph *g, rc_id v, const question *q)
{
    size_t n;
    const rc_id *in = rc_graph_in(g, v, &n);
    uint32_t *left = rc_malloc((q->n_disc ? q->n_disc : 1) * sizeof *left);
    int others = 0;
    for (size_t d = 0; left && d < q->n_disc; d++) {
        left[d] = q->disc[d].to == rc_graph_addr(g, v) ? q->disc[d].count : 0;
    }
    for (size_t i = 0; i < n && !others; i++) {
        int discounted = (rc_graph_flags(g, in[i]) & RC_NODE_TOOL_FRAME) != 0;
        for (size_t d = 0; left && !discounted && d < q->n_disc; d++) {
            if (left[d] && q->disc[d].from == rc_graph_addr(g, in[i])) {
                left[d]--;
                discounted = 1;
            }
        }
        others = !discounted;
    }
    rc_free(left);
    return others;
}

/* Strong references to the objects ids[0..len) (new refs in *objs,
 * rc_malloc'ed) and the index of each hop's edge in its source's out-edges. */
int
take_ids(const rc_graph *g, const rc_id *ids, size_t len, PyObject ***objs, uint32_t **edges)
{
    *objs = rc_malloc(len * sizeof **objs);
    *edges = rc_malloc(len * sizeof **edges);
    if (!*objs || !*edges) {
        rc_free(*objs);
        rc_free(*edges);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        (*objs)[i] = (PyObject *)rc_graph_addr(g, ids[i]);
        Py_INCREF((*objs)[i]);
        if (i + 1 < len) {
            size_t deg, k = 0;
            const rc_id *out = rc_graph_out(g, ids[i], &deg);
            while (k < deg && out[k] != ids[i + 1]) {
                k++;
            }
            (*edges)[i] = (uint32_t)k;
        }
    }
    return 0;
}

