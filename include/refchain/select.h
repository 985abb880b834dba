/* Type selection and the by-type partition, on a frozen graph.
 *
 * Selection answers objgraph's "which objects are of this type": a type is
 * named as objgraph names it (qualified when the name has a dot, else by
 * __name__) or given by its key (the type object's address, matched by
 * identity).  The answer is a mask over the graph's interned types, then
 * the nodes, or their number, whose type the mask sets.
 *
 * The partition splits a set of nodes by type, as leaks() reports them:
 * types that share a qualified name (a class defined twice) count as one.
 * Everything is keyed by type id; names are only hashed, once per type, so
 * the work is linear in the types and the nodes.
 *
 * Every function reads the graph and never changes it; the graph must
 * outlive nothing returned here (results hold ids, never pointers into g). */
#ifndef REFCHAIN_SELECT_H
#define REFCHAIN_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"

/* Which types a query matches. */
typedef enum rc_type_match {
    RC_MATCH_NOTHING, /* no type (a name no type can carry) */
    RC_MATCH_NAME,    /* by name, objgraph's rules */
    RC_MATCH_KEY,     /* the one type whose key is `key` */
} rc_type_match;

typedef struct rc_type_query {
    rc_type_match by;
    const char *name; /* RC_MATCH_NAME: borrowed, read during the call only */
    uintptr_t key;    /* RC_MATCH_KEY */
} rc_type_query;

/* Mark in mask[0..rc_graph_type_count(g)) the types called `name`: a name
 * with a '.' is compared with qualified names (a "builtins." prefix may be
 * omitted), any other with __name__.  Every entry of mask is written.
 * Returns the number of types marked.  Cannot fail. */
size_t rc_graph_mark_types(const rc_graph *g, const char *name, unsigned char *mask);

/* The mask of the types `q` matches: *mask (rc_calloc'ed, one byte per type
 * of g, at least one byte; the caller rc_free()s it) and *marked, the
 * number of types set.  On RC_ENOMEM the outputs are untouched. */
rc_status rc_select_mask(const rc_graph *g, const rc_type_query *q,
                         unsigned char **mask, size_t *marked);

/* The number of nodes whose type is set in `mask`.  Cannot fail. */
size_t rc_select_count(const rc_graph *g, const unsigned char *mask);

/* The nodes whose type is set in `mask` and that carry none of `skip_flags`
 * (RC_NODE_*), in id order: *ids (rc_malloc'ed, the caller frees it) holds
 * *n of them.  On RC_ENOMEM the outputs are untouched. */
rc_status rc_select_nodes(const rc_graph *g, const unsigned char *mask,
                          unsigned skip_flags, rc_id **ids, size_t *n);

/* The nodes at addrs[0..k) that are in g and, unless `mask` is NULL, whose
 * type it sets, in the order given (an address given twice gives its node
 * twice): *ids (rc_malloc'ed, the caller frees it) holds *n of them.
 * O(V + k).  On RC_ENOMEM the outputs are untouched. */
rc_status rc_select_addrs(const rc_graph *g, const uintptr_t *addrs, size_t k,
                          const unsigned char *mask, rc_id **ids, size_t *n);

/* The nodes at addrs[0..k) as a set: *in_set (rc_malloc'ed, one byte per
 * node of g, the caller frees it) is 1 for each node given, and *count the
 * number of distinct nodes (an address given twice counts once; addresses
 * not in g are left out).  O(V + k).  On RC_ENOMEM the outputs are
 * untouched. */
rc_status rc_select_addr_set(const rc_graph *g, const uintptr_t *addrs, size_t k,
                             uint8_t **in_set, size_t *count);

/* Number the types of g by name: canon[t] (for t < rc_graph_type_count(g))
 * becomes the smallest type id whose name equals t's: its qualified name,
 * or with `short_names` its __name__.  Linear in the types and the length
 * of their names.  On RC_ENOMEM canon is untouched. */
rc_status rc_graph_type_classes(const rc_graph *g, bool short_names, uint32_t *canon);

/* ---- the by-type partition ------------------------------------------------ */

typedef struct rc_type_part {
    /* The smallest type id carrying the part's qualified name:
     * rc_graph_type_name(g, type) names the part. */
    uint32_t type;
    uint64_t count; /* the part's nodes */
    uint64_t bytes; /* their shallow sizes, summed */
} rc_type_part;

typedef struct rc_type_partition {
    rc_type_part *parts; /* largest first: count descending, then type id */
    size_t n_parts;
    /* The nodes of the parts kept, in the order given, and each one's
     * part: members[i] belongs to parts[part_of[i]]. */
    rc_id *members;
    uint32_t *part_of;
    size_t n_members;
} rc_type_partition;

/* Partition members[0..n) by qualified type name and keep the `limit`
 * largest parts (SIZE_MAX: all), with every member of those parts.  Each
 * part's count and bytes cover all its members.  O(n + T) plus sorting the
 * non-empty parts.  On RC_OK *out holds arrays the caller releases with
 * rc_type_partition_clear(); on RC_ENOMEM *out is untouched. */
rc_status rc_partition_by_type(const rc_graph *g, const rc_id *members, size_t n,
                               size_t limit, rc_type_partition *out);

/* Free the arrays of a partition and zero it.  A zeroed partition is fine;
 * p must not be NULL. */
void rc_type_partition_clear(rc_type_partition *p);

#endif
