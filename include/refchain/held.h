/* Who holds an object: the world outside the graph, the tool, or others.
 *
 * "Held from outside" is one fact, defined here once: an object's recorded
 * reference count (from which the capture already took the references the
 * tool itself holds) less its in-degree.  A surplus > 0 means something no
 * node of the graph explains holds the object: C code.  The roots
 * (refchain/paths.h), the unreachable set (refchain/unreachable.h) and the
 * binding's "held by others" questions all ask rc_held_outside().
 *
 * The tool's own referrers are named by an address set: a sorted array of
 * addresses (rc_addrs_sort), searched by bisection.  It is the one form of
 * objgraph's extra_ignore everywhere. */
#ifndef REFCHAIN_HELD_H
#define REFCHAIN_HELD_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"
#include "refchain/paths.h"

/* Sort addrs[0..*n) and drop repeats; *n receives the distinct count.  In
 * place: allocates nothing and cannot fail.  addrs may be NULL when *n is 0. */
void rc_addrs_sort(uintptr_t *addrs, size_t *n);
/* Whether addr is in the sorted set addrs[0..n) (addrs may be NULL when n is
 * 0).  Allocates nothing. */
int rc_addrs_contain(const uintptr_t *addrs, size_t n, uintptr_t addr);

/* v's references that no edge of g accounts for: refcount - in-degree.  > 0
 * means v is held from outside the graph.  Meaningless for an immortal
 * object (RC_NODE_IMMORTAL), whose refcount saturates.  g needs its in-edges
 * (rc_graph_build_in); without them every in-degree reads 0. */
int64_t rc_held_outside(const rc_graph *g, rc_id v);

/* v's holders, split three ways. */
typedef struct rc_holders {
    int64_t outside; /* rc_held_outside(g, v) */
    size_t mine;     /* in-edges that are the tool's (see rc_holders_of) */
    size_t others;   /* every other in-edge */
} rc_holders;

/* Count v's in-edges as the tool's when they come from a tool frame
 * (RC_NODE_TOOL_FRAME), from a node whose address is in the sorted set
 * ignore[0..n_ignore), or are discounted: a discount {u, v, k} claims up to
 * k of the edges u -> v.  So outside + others is v's references besides
 * the tool's.  ignore and discounts may be NULL when their count is 0; both
 * are only read, and only during the call.  g needs its in-edges.
 * Allocates nothing and cannot fail. */
rc_holders rc_holders_of(const rc_graph *g, rc_id v, const uintptr_t *ignore, size_t n_ignore,
                         const rc_discount *discounts, size_t n_discounts);

#endif
