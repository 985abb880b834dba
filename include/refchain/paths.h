/* Roots, shortest retention chains and grouped explanations, on a frozen
 * graph.
 *
 * Roots are what holds the heap from outside it: modules in sys.modules,
 * classes, lru_cache wrappers, the frames of running threads, immortal
 * objects, and any object whose refcount exceeds its in-degree (a surplus no
 * Python holder explains: C code holds it; rc_held_outside() in
 * refchain/held.h is that test).  An lru_cache wrapper is a root only when
 * no program root (module, class, immortal, frame) reaches it: a cache the
 * program holds (a global, a class attribute, sqlite3's statement cache in
 * its Connection) never outranks its holder.  One multi-source BFS from all
 * of them gives every reachable object its shortest chain at once.  A chain
 * from a program root is preferred to any chain from a cache, and a chain
 * from a named root (those and caches) to any chain from a C-held root,
 * however shorter: caches explain only what no program root reaches, and
 * C-held roots only what no named root reaches.  At equal length the BFS
 * prefers roots in rc_root_kind order: module, class, immortal, and
 * transient frames last. */
#ifndef REFCHAIN_PATHS_H
#define REFCHAIN_PATHS_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"

typedef enum rc_root_kind {
    RC_ROOT_NONE = 0,
    RC_ROOT_MODULE,
    RC_ROOT_CLASS,
    RC_ROOT_CACHE,
    RC_ROOT_IMMORTAL,
    RC_ROOT_C,
    RC_ROOT_FRAME,
    RC_ROOT_KINDS
} rc_root_kind;

/* "module", "class", "cache", "immortal", "c", "frame"; "" for NONE. */
const char *rc_root_kind_name(rc_root_kind kind);

/* kinds[v] (rc_root_kind) for every node v of g, in *out (rc_malloc'ed, the
 * caller frees it).  Tool frames (RC_NODE_TOOL_FRAME) are never roots.  An
 * lru_cache wrapper that a module, class, immortal or frame root reaches is
 * RC_ROOT_C when C holds it, else no root.  g needs its in-edges
 * (rc_graph_build_in; RC_EINVAL otherwise); RC_ENOMEM allocates nothing. */
rc_status rc_roots_classify(const rc_graph *g, uint8_t **out);

/* The roots among kinds[0..n) (the nodes whose kind is not RC_ROOT_NONE),
 * in id order: *ids (rc_malloc'ed, the caller frees it) and *k.  RC_OK or
 * RC_ENOMEM (nothing allocated). */
rc_status rc_roots_list(const uint8_t *kinds, size_t n, rc_id **ids, size_t *k);

/* An edge the BFS must not follow `count` times: the question's own handles
 * (a caller's local variable referring to the object asked about). */
typedef struct rc_discount {
    rc_id from, to;
    uint32_t count;
} rc_discount;

/* A discount by address, as a question records it before the capture. */
typedef struct rc_discount_addr {
    uintptr_t from, to;
    uint32_t count;
} rc_discount_addr;

/* The discounts among pairs[0..n) whose two ends are both nodes of g, as
 * node ids, in the order given (a pair the capture lacks an end of is
 * dropped): *out (rc_malloc'ed, room for at least one; the caller frees
 * it) and *n_out.  RC_OK, or RC_ENOMEM with the outputs untouched and
 * nothing allocated. */
rc_status rc_discounts_resolve(const rc_graph *g, const rc_discount_addr *pairs,
                               size_t n, rc_discount **out, size_t *n_out);

typedef struct rc_paths rc_paths;

#define RC_UNREACHED UINT32_MAX

/* The multi-source BFS from every root.  `discounts` may be NULL.  Nodes
 * flagged RC_NODE_TOOL_FRAME are never expanded.  On error *out is untouched. */
rc_status rc_paths_bfs(const rc_graph *g, const uint8_t *kinds, const rc_discount *discounts,
                       size_t n_discounts, rc_paths **out);
/* NULL is allowed (a no-op).  A rc_paths borrows nothing: it may outlive g,
 * but its ids mean something only for the g it was computed on. */
void rc_paths_free(rc_paths *p);

/* Distance from the nearest root (0 for a root), or RC_UNREACHED. */
uint32_t rc_paths_depth(const rc_paths *p, rc_id v);
/* The node v was reached from, or RC_NO_ID for roots and unreached nodes. */
rc_id rc_paths_parent(const rc_paths *p, rc_id v);
/* The root v's chain starts at (v itself for a root), or RC_NO_ID. */
rc_id rc_paths_root(const rc_paths *p, rc_id v);

/* The chain root .. v into buf[0..cap): returns its number of nodes (depth
 * + 1), or 0 when v is unreached or cap is too small. */
size_t rc_paths_chain(const rc_paths *p, rc_id v, rc_id *buf, size_t cap);
/* For a chain from rc_paths_chain(): edges[i] receives the index, among
 * chain[i]'s out-edges, of the edge the BFS followed to chain[i + 1], for
 * i + 1 < len (edges has room for len - 1).  Allocates nothing. */
void rc_paths_chain_edges(const rc_paths *p, const rc_id *chain, size_t len, uint32_t *edges);

/* The shortest chain to one node, found backwards from it (cheaper than the
 * whole BFS when only one answer is needed; g needs in-edges).  Among roots
 * at the shortest distance, the most preferred kind wins.  On RC_OK,
 * *chain (rc_malloc'ed, root first, target last) has *len nodes and *kind is
 * the root's kind; *len is 0 (and *chain NULL) when no root reaches target.
 * With edges non-NULL, *edges (rc_malloc'ed, *len entries, NULL with the
 * chain) receives, for each hop i, the index among chain[i]'s out-edges of
 * the edge the search followed to chain[i + 1].  Discounts are followed as
 * in rc_paths_bfs.  On error the outputs are untouched. */
rc_status rc_paths_find(const rc_graph *g, rc_id target, const rc_discount *discounts,
                        size_t n_discounts, rc_id **chain, uint32_t **edges, size_t *len,
                        uint8_t *kind);

/* rc_paths_find(), but every target has a chain: when no root reaches it,
 * the chain is the target alone (*len 1, *edges one 0 entry) and *kind is
 * RC_ROOT_KINDS, which names no root (the chain is unreachable).  Outputs
 * and errors as rc_paths_find's. */
rc_status rc_paths_find_or_alone(const rc_graph *g, rc_id target,
                                 const rc_discount *discounts, size_t n_discounts,
                                 rc_id **chain, uint32_t **edges, size_t *len,
                                 uint8_t *kind);

/* Grouping: members whose chains have the same signature are grouped.  A
 * signature is the root (a C-held root: its type) plus, for each hop
 * parent -> child, the child's type
 * and the edge's index in the parent, except where the parent is a
 * collection (a list, a tuple, a set, or a dict not flagged
 * RC_NODE_NAMESPACE, the flag of a module's, class's, function's or
 * instance's own __dict__): there the index is collapsed to [*].  So a dict
 * an instance holds in an attribute (a cache, a registry) folds its keys
 * whatever the interpreter's attribute layout.  An lru_cache wrapper's
 * references but its __dict__ collapse too: a bounded cache holds its
 * entries itself.  With an rc_hop_names, the
 * index of a hop from any other parent that is not a namespace is
 * collapsed too when the reference is positional: unnamed (`<referent #k>`,
 * a C container's slot) or an item's index (`[k]`).  A hop that repeats the hop before it (the same type and the
 * same index, as along a linked list's .next) adds nothing to the
 * signature, so a run of any length reads as one hop.  Unreached members
 * form one group whose representative has depth RC_UNREACHED.  Signatures
 * are interned, so grouping is linear in the members and their ancestors,
 * however long the chains. */
/* What names a graph's references, for grouping: positional(ctx, parent,
 * child, edge) says whether parent's edge-th out-edge (to child) is
 * positional (1), named (0), or -1 when out of memory.  A live graph asks
 * relate (refchain/relate.h, rc_relate_hops_open), a loaded one its
 * edge labels (rc_snapshot_hop_positional), so both group alike. */
typedef struct rc_hop_names {
    int (*positional)(void *ctx, rc_id parent, rc_id child, uint32_t edge);
    void *ctx;
} rc_hop_names;

typedef struct rc_group {
    rc_id representative; /* the shallowest member, then the smallest id */
    size_t count;
    uint64_t bytes;
} rc_group;

/* Group members[0..n).  *groups (sorted by count, descending, then by
 * representative) and *group_of (group_of[i] is members[i]'s group) are
 * rc_malloc'ed for the caller.  On error the outputs are untouched. */
rc_status rc_paths_group(const rc_graph *g, const rc_paths *p, const rc_id *members, size_t n,
                         rc_group **groups, size_t *n_groups, uint32_t **group_of);

/* rc_paths_group() for several sets of members at once, each grouped as if
 * alone (no group spans two sets), in time linear in all the members and
 * their ancestors however many sets there are: set_of[i] < n_sets is
 * members[i]'s set (set_of NULL: one set).  *groups holds the groups set by
 * set; set k's are (*groups)[(*set_start)[k] .. (*set_start)[k + 1]), its
 * first `limit` ones (SIZE_MAX: all) the largest, sorted as
 * rc_paths_group() sorts them, and the rest after them in no order.
 * group_of[i] indexes *groups.  names: NULL (every index kept, as
 * rc_paths_group() does) or what names the references (see rc_hop_names).
 * The three arrays are rc_malloc'ed for the caller (set_start may be NULL
 * when not wanted).  On error the outputs are untouched. */
rc_status rc_paths_group_sets(const rc_graph *g, const rc_paths *p, const rc_id *members,
                              const uint32_t *set_of, size_t n, size_t n_sets, size_t limit,
                              const rc_hop_names *names, rc_group **groups, size_t **set_start,
                              uint32_t **group_of);

#endif
