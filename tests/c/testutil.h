/* Helpers for the cmocka tests: build small synthetic graphs without an
 * interpreter.  Node "addresses" are fake (id + 1) * 16. */
#ifndef REFCHAIN_TESTUTIL_H
#define REFCHAIN_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "refchain/graph.h"
#include "refchain/present.h"
#include "refchain/snapshot.h"

#define FAKE(i) ((uintptr_t)((i) + 1) * 16)

typedef struct test_edge {
    unsigned from, to;
} test_edge;

/* Edges grouped by source in their given order (a stable counting sort),
 * and each node's in-degree, for nodes 0 .. n - 1 where n is at least
 * `nodes` and past every edge's ends: so that a walk over a synthetic graph
 * is linear, and fault sweeps that walk once per failure point stay quick.
 * Source i's edges are edges[order[first[i] .. first[i + 1] - 1]]. */
typedef struct test_edge_index {
    unsigned n;
    size_t *first, *order;
    unsigned *indegree;
} test_edge_index;

static inline test_edge_index
test_edges_by_source(unsigned nodes, const test_edge *edges, size_t n_edges)
{
    test_edge_index ix = {.n = nodes};
    for (size_t e = 0; e < n_edges; e++) {
        unsigned top = edges[e].from > edges[e].to ? edges[e].from : edges[e].to;
        ix.n = top >= ix.n ? top + 1 : ix.n;
    }
    ix.first = calloc((size_t)ix.n + 1, sizeof *ix.first);
    ix.order = malloc((n_edges ? n_edges : 1) * sizeof *ix.order);
    ix.indegree = calloc(ix.n ? ix.n : 1, sizeof *ix.indegree);
    assert_true(ix.first && ix.order && ix.indegree);
    for (size_t e = 0; e < n_edges; e++) {
        ix.first[edges[e].from + 1]++;
        ix.indegree[edges[e].to]++;
    }
    for (unsigned i = 0; i < ix.n; i++) {
        ix.first[i + 1] += ix.first[i];
    }
    for (size_t e = 0; e < n_edges; e++) { /* advances first[i] to first[i + 1] */
        ix.order[ix.first[edges[e].from]++] = e;
    }
    for (unsigned i = ix.n; i > 0; i--) {
        ix.first[i] = ix.first[i - 1];
    }
    ix.first[0] = 0;
    return ix;
}

static inline void
test_edge_index_free(test_edge_index *ix)
{
    free(ix->first);
    free(ix->order);
    free(ix->indegree);
}

/* Optional per-node and per-type attributes for build_graph_ex(). */
typedef struct test_attrs {
    const unsigned *extra_refs;  /* refcount = in-degree + extra (NULL: 1) */
    const unsigned *node_flags;  /* RC_NODE_* per node (NULL: 0) */
    const unsigned *type_flags;  /* RC_TYPE_* per type index (NULL: 0) */
} test_attrs;

/* Build a graph of n nodes (all seeds), typed types[i] from the names list
 * (NULL types: all "object"), sizes 10 * (i + 1).  Edges may name any node
 * < n.  Returns RC_OK or the first failure. */
static inline rc_status
build_graph_in(rc_builder *b, unsigned n, const test_edge *edges, size_t n_edges,
               const unsigned *types, const char *const *names, const test_attrs *attrs,
               rc_graph **out);

static inline rc_status
build_graph_ex(unsigned n, const test_edge *edges, size_t n_edges, const unsigned *types,
               const char *const *names, const test_attrs *attrs, rc_graph **out)
{
    rc_builder *b = rc_builder_new(0);
    if (!b) {
        return RC_ENOMEM;
    }
    return build_graph_in(b, n, edges, n_edges, types, names, attrs, out);
}

/* build_graph_ex() with a builder of the caller's (consumed, also on
 * failure). */
static inline rc_status
build_graph_in(rc_builder *b, unsigned n, const test_edge *edges, size_t n_edges,
               const unsigned *types, const char *const *names, const test_attrs *attrs,
               rc_graph **out)
{
    test_edge_index ix = test_edges_by_source(n, edges, n_edges);
    rc_status st = RC_OK;
    for (unsigned i = 0; i < n && st == RC_OK; i++) {
        st = rc_builder_seed(b, FAKE(i));
    }
    uintptr_t addr;
    unsigned nflags;
    while (st == RC_OK && rc_builder_next(b, &addr, &nflags, &st)) {
        unsigned id = (unsigned)(addr / 16 - 1);
        assert_true(id < ix.n);
        for (size_t k = ix.first[id]; k < ix.first[id + 1] && st == RC_OK; k++) {
            st = rc_builder_edge(b, FAKE(edges[ix.order[k]].to));
        }
        unsigned indeg = ix.indegree[id];
        unsigned t = types ? types[id] : 0;
        const char *name = names ? names[t] : "object";
        const char *dot = name;
        for (const char *p = name; *p; p++) {
            if (*p == '.') {
                dot = p + 1;
            }
        }
        uint32_t tid = 0;
        unsigned tflags = attrs && attrs->type_flags ? attrs->type_flags[t] : 0;
        unsigned extra = attrs && attrs->extra_refs ? attrs->extra_refs[id] : 1;
        unsigned node_flags = attrs && attrs->node_flags ? attrs->node_flags[id] : 0;
        if (st == RC_OK) {
            st = rc_builder_type(b, 0x1000 + t, name, dot, tflags, &tid);
        }
        if (st == RC_OK) {
            st = rc_builder_close(b, tid, 10u * (id + 1), indeg + extra, node_flags);
        }
    }
    test_edge_index_free(&ix);
    if (st != RC_OK) {
        rc_builder_free(b);
        return st;
    }
    rc_graph *g = NULL;
    st = rc_builder_freeze(b, &g);
    if (st == RC_OK && (st = rc_graph_build_in(g)) != RC_OK) {
        rc_graph_free(g);
    }
    if (st == RC_OK) {
        *out = g;
    }
    return st;
}

/* build_graph_ex() with refcount = 1 + in-degree and no flags. */
static inline rc_status
build_graph(unsigned n, const test_edge *edges, size_t n_edges, const unsigned *types,
            const char *const *names, rc_graph **out)
{
    return build_graph_ex(n, edges, n_edges, types, names, NULL, out);
}

/* A snapshot's edge label for a reference whose text read alone is `text`
 * (refchain/present.h's encoded form, the kind RC_REL_TEXT), in a static
 * buffer valid until the next call; *len its length. */
static inline const char *
encoded_label(const char *text, size_t *len)
{
    static char *buf;
    static size_t cap;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    rc_relation rel = {.kind = RC_REL_TEXT, .text = copy};
    assert_int_equal(rc_relation_encode(&rel, &buf, &cap, len), RC_OK);
    return buf;
}

/* g and `tables` dumped to `path` and loaded back; the test fails on any
 * error.  g is freed; the caller frees the snapshot (rc_snapshot_free). */
static inline rc_snapshot *
dump_and_load(rc_graph *g, const rc_snap_tables *tables, const char *path)
{
    char err[256];
    if (rc_snapshot_dump(path, g, tables, err, sizeof err) != RC_SNAP_OK) {
        fail_msg("%s", err);
    }
    rc_graph_free(g);
    rc_snapshot *s = NULL;
    if (rc_snapshot_load(path, &s, err, sizeof err) != RC_SNAP_OK) {
        fail_msg("%s", err);
    }
    return s;
}

/* Whether the graph's every node and edge equals the reference's (one
 * assertion per graph: cmocka's are slow under the sanitizers). */
static inline int
same_graph(const rc_graph *g, const rc_graph *ref)
{
    if (rc_graph_node_count(g) != rc_graph_node_count(ref) ||
        rc_graph_edge_count(g) != rc_graph_edge_count(ref)) {
        return 0;
    }
    for (rc_id v = 0; v < rc_graph_node_count(g); v++) {
        size_t a, b, c, d;
        const rc_id *x = rc_graph_out(g, v, &a), *y = rc_graph_out(ref, v, &b);
        const rc_id *xi = rc_graph_in(g, v, &c), *yi = rc_graph_in(ref, v, &d);
        if (rc_graph_addr(g, v) != rc_graph_addr(ref, v) ||
            rc_graph_flags(g, v) != rc_graph_flags(ref, v) ||
            rc_graph_size(g, v) != rc_graph_size(ref, v) || a != b || c != d ||
            memcmp(x, y, a * sizeof *x) != 0 || memcmp(xi, yi, c * sizeof *xi) != 0) {
            return 0;
        }
    }
    return 1;
}

#endif
