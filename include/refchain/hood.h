/* The neighbourhood of some objects, as objgraph's show_backrefs and
 * show_refs draw it: breadth-first from the starts along in-edges
 * (referrers, `backwards`) or out-edges (referents), up to max_depth hops.
 *
 * - A node shows at most too_many neighbours; the rest are counted.
 * - The answer holds at most max_nodes objects; neighbours past that are
 *   counted in `capped` (once per node) and drawn nowhere.
 * - Referrers are not followed past a module (objgraph's habit: beyond it
 *   lie sys.modules and the interpreter).
 * - Tool frames (RC_NODE_TOOL_FRAME) and the nodes whose address is in the
 *   ignore set never appear.
 * - With a keep callback, a node it rejects never appears.  It is asked at
 *   most once per node, when the node is first met as a neighbour not yet
 *   in the answer (never about the starts). */
#ifndef REFCHAIN_HOOD_H
#define REFCHAIN_HOOD_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"

/* 1: keep v, 0: leave it out, -1: stop the walk (RC_ECALLBACK).  It may do
 * anything but change or free the graph, which stays valid through it. */
typedef int (*rc_keep_fn)(void *ctx, rc_id v);

typedef struct rc_hood_opts {
    int backwards;          /* along in-edges (g needs them) rather than out-edges */
    uint32_t max_depth;
    size_t too_many;        /* >= 1 */
    size_t max_nodes;       /* >= 1 */
    const uintptr_t *ignore; /* sorted set (rc_addrs_sort), or NULL when n_ignore is 0 */
    size_t n_ignore;
    rc_keep_fn keep;        /* or NULL: keep everything */
    void *keep_ctx;
} rc_hood_opts;

/* objects[from] refers to objects[to] through its index-th out-edge
 * (UINT32_MAX when unknown). */
typedef struct rc_hood_edge {
    uint32_t from, to, index;
} rc_hood_edge;

/* objects[at] has `count` neighbours not shown (too_many). */
typedef struct rc_hood_more {
    uint32_t at, count;
} rc_hood_more;

/* The answer.  Every array is rc_malloc'ed and owned by the struct. */
typedef struct rc_hood {
    rc_id *ids;          /* per answer object: its node (RC_NO_ID for an absent start) */
    uint32_t *depth;     /* per answer object: hops from the nearest start */
    size_t n;
    size_t *start_of;    /* per distinct start k < n_distinct: its index in starts[] */
    size_t n_distinct;   /* ids[0..n_distinct) are the distinct starts, in order */
    rc_hood_edge *edges;
    size_t n_edges;
    rc_hood_more *more;
    size_t n_more;
    size_t capped;       /* neighbours left out by max_nodes */
} rc_hood;

/* Walk from starts[0..n_starts) (RC_NO_ID: an object absent from the graph,
 * kept as an answer object with no neighbours; a node given twice counts
 * once).  starts and o (with its ignore set) are only read, and only during
 * the call.  On RC_OK *out is filled (free it with rc_hood_free); on error
 * (RC_ENOMEM, RC_ETOOBIG, RC_EINVAL for a bad option, RC_ECALLBACK when keep
 * returned -1) *out is untouched and nothing leaked. */
rc_status rc_hood_walk(const rc_graph *g, const rc_id *starts, size_t n_starts,
                       const rc_hood_opts *o, rc_hood *out);

/* Free what rc_hood_walk() put in *h (h itself is the caller's); NULL and
 * a zeroed struct are no-ops. */
void rc_hood_free(rc_hood *h);

/* The refcount a drawing shows for node v: its references besides the
 * tool's own (refchain/held.h: held from outside plus the other in-edges,
 * with the ignored referrers' and the tool frames' edges left out), never
 * below 0; or -1 for an immortal object (RC_NODE_IMMORTAL), whose count
 * means nothing.  ignore[0..n_ignore) is a sorted set of addresses, as
 * rc_holders_of's.  g needs its in-edges.  Allocates nothing. */
int64_t rc_hood_refcount(const rc_graph *g, rc_id v, const uintptr_t *ignore,
                         size_t n_ignore);

#endif
