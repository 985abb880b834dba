/* The predicate search behind objgraph's find_backref_chain and
 * find_ref_chain: breadth-first from one node, along in-edges (referrers,
 * `backwards`) or out-edges (referents), for the nearest node a predicate
 * accepts, up to max_depth hops.
 *
 * - The start itself is never offered to the predicate.
 * - Tool frames (RC_NODE_TOOL_FRAME) and the nodes whose address is in the
 *   ignore set are never entered.
 * - An edge between a pair listed in `skip` (from, to as the references
 *   go, whatever the direction of the walk) is never followed: the
 *   question's own handles.  Their counts are not consulted.
 * - The predicate is asked about each node at most once, in breadth-first
 *   order (a node's referrers or referents in edge order). */
#ifndef REFCHAIN_SEARCH_H
#define REFCHAIN_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"
#include "refchain/paths.h"

/* 1: v is the answer, 0: go on, -1: stop the search (RC_ECALLBACK).  It may
 * do anything but change or free the graph, which stays valid through it. */
typedef int (*rc_pred_fn)(void *ctx, rc_id v);

typedef struct rc_search_opts {
    int backwards;            /* along in-edges (g needs them) rather than out-edges */
    size_t max_depth;
    const uintptr_t *ignore;  /* sorted set (rc_addrs_sort), or NULL when n_ignore is 0 */
    size_t n_ignore;
    const rc_discount *skip;  /* or NULL when n_skip is 0 */
    size_t n_skip;
    rc_pred_fn pred;          /* required */
    void *pred_ctx;
} rc_search_opts;

/* Search from start.  On RC_OK, *chain (rc_malloc'ed, the caller frees it)
 * holds *len nodes in reference order: [found, ..., start] backwards,
 * [start, ..., found] forwards; *len is 0 and *chain NULL when nothing is
 * found.  o, its ignore set and skip list are only read, and only during
 * the call.  On error (RC_ENOMEM, RC_EINVAL for a bad start or missing
 * in-edges or predicate, RC_ECALLBACK when pred returned -1) the outputs are
 * untouched and nothing leaked. */
rc_status rc_search(const rc_graph *g, rc_id start, const rc_search_opts *o, rc_id **chain,
                    size_t *len);

#endif
