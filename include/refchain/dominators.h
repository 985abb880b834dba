/* The dominator tree of a frozen graph, retained sizes, and the answers
 * built on them: leak suspects and dominator subtrees.
 *
 * One virtual root stands above every root of the graph (every node with a
 * root kind from rc_roots_classify(), refchain/paths.h: modules, classes,
 * caches, immortal objects, thread frames and what C code holds).  Node d
 * dominates v when every chain from the virtual root to v passes through d;
 * v's immediate dominator is its nearest strict dominator.  What v retains
 * (its dominated set, v included) is what would be freed if v were: its
 * retained bytes are the sum of the shallow sizes in that set, its retained
 * count the set's size.
 *
 * Weak references never retain: a weakref's tp_traverse reports only its
 * callback, so the capture records no edge from a weakref (or a
 * WeakValueDictionary, WeakSet, ...) to its referent.  Tool frames
 * (RC_NODE_TOOL_FRAME) are never roots and never expanded, as in
 * rc_paths_bfs().  Nodes no root reaches (garbage awaiting collection)
 * have no dominator and retain nothing: (0 bytes, 0 objects).
 *
 * The tree is computed with the Semi-NCA algorithm, iteratively: a DFS
 * whose stack is the DFS-tree parent array, semidominators in reverse
 * preorder with path compression by pointer reversal (no stack at all), and
 * the NCA step in preorder.  Time O((V + E) log V), no recursion.  Working
 * memory peaks at 20 bytes per node (five uint32 arrays, reused phase to
 * phase); the result keeps 16 (immediate dominator, retained bytes and
 * count). */
#ifndef REFCHAIN_DOMINATORS_H
#define REFCHAIN_DOMINATORS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"
#include "refchain/paths.h"

/* The virtual root, as an immediate dominator. */
#define RC_DOM_ROOT ((rc_id)UINT32_MAX - 1)

typedef struct rc_dominators rc_dominators;

/* The dominator tree of g, whose roots are the nodes with kinds[v] !=
 * RC_ROOT_NONE (kinds is only read, during the call).  g needs no in-edges
 * for the DFS but does for the semidominators: RC_EINVAL without them.
 * On RC_OK *out is the caller's (rc_dominators_free); it borrows nothing
 * and may outlive g, but its ids mean something only for g.  On error
 * (RC_ENOMEM, RC_EINVAL) *out is untouched and nothing leaked. */
rc_status rc_dominators_compute(const rc_graph *g, const uint8_t *kinds, rc_dominators **out);
/* NULL is allowed (a no-op). */
void rc_dominators_free(rc_dominators *d);

/* rc_dominators_compute() in a thread of its own, while the caller works on
 * the same graph: begin starts it (g and kinds must not change until its
 * end), end waits for it and gives what rc_dominators_compute() would have
 * (*out NULL on error).  Where no thread can be had, end computes it in the
 * caller's thread.
 * Every begin needs its end.  The thread runs with every signal blocked and
 * touches nothing but g, kinds and its own memory. */
typedef struct rc_dom_job {
    const rc_graph *g;
    const uint8_t *kinds;
    rc_dominators *d;
    rc_status st;
    int started; /* `thread` runs it */
    pthread_t thread;
} rc_dom_job;
void rc_dominators_begin(rc_dom_job *job, const rc_graph *g, const uint8_t *kinds);
rc_status rc_dominators_end(rc_dom_job *job, rc_dominators **out);

/* The accessors allocate nothing and cannot fail; ids out of range are the
 * caller's bug. */
size_t rc_dominators_node_count(const rc_dominators *d);
/* v's immediate dominator: a node id, RC_DOM_ROOT, or RC_NO_ID when no
 * root reaches v. */
rc_id rc_dominators_idom(const rc_dominators *d, rc_id v);
/* What v retains (v included); 0 for an unreached node. */
uint64_t rc_dominators_bytes(const rc_dominators *d, rc_id v);
uint64_t rc_dominators_count(const rc_dominators *d, rc_id v);
/* The reached nodes' shallow sizes and number: what the virtual root
 * retains (the heap, as the percentages of a report count it). */
uint64_t rc_dominators_heap_bytes(const rc_dominators *d);
size_t rc_dominators_reached(const rc_dominators *d);
/* Bytes the result occupies, and the most the computation held at once
 * (result included), besides g and kinds. */
size_t rc_dominators_memory(const rc_dominators *d);
size_t rc_dominators_peak_memory(const rc_dominators *d);

/* ---- what sets of nodes retain ------------------------------------------ */

/* One labelling of nodes into sets: nodes[i] belongs to set set_of[i]
 * (< n_sets, or UINT32_MAX for none: such entries are skipped; a node
 * listed twice with a set must carry the same one); set_of NULL puts every
 * node in set 0.  bytes[k] and count[k] (n_sets entries each, the caller's)
 * receive what set k retains as one: the union of its members' dominated
 * sets, so a member under another member of its set counts once, and an
 * unreached member adds nothing. */
typedef struct rc_dom_sets {
    const rc_id *nodes;
    const uint32_t *set_of;
    size_t n;
    size_t n_sets;
    uint64_t *bytes;
    uint64_t *count;
} rc_dom_sets;

/* Fill every labelling of sets[0..n_lab) with one walk of the dominator
 * tree: time O(V * n_lab + the members), working memory 8 + 4 * n_lab
 * bytes per node and 4 per set, freed before it returns.  When no member
 * dominates another node (each retains only itself: floats, strs), the
 * sums are made without the walk, in O(the members) and a bit per node.
 * RC_OK, or RC_ENOMEM / RC_EINVAL (a node id out of range or a set >=
 * n_sets) with the outputs zeroed. */
rc_status rc_dominators_sets(const rc_dominators *d, rc_dom_sets *sets, size_t n_lab);

/* ---- leak suspects --------------------------------------------------------- */

typedef struct rc_suspect {
    rc_id node;
    uint64_t bytes, count; /* what it retains */
    /* The accumulation: among the nodes node immediately dominates, the
     * type whose members retain the most bytes, how many of them there are
     * and what they retain (UINT32_MAX, 0, 0 when it dominates nothing). */
    uint32_t top_type;
    uint64_t top_count, top_bytes;
    /* The head of a linked run (see rc_suspects_find): how many nodes of
     * its type the run links, node first; 0 for no run.  Then the
     * accumulation is the run: node's type, linked, bytes. */
    uint64_t linked;
    uint8_t kind;     /* the chain's root kind */
    size_t chain_at;  /* ids[chain_at .. + chain_len): root .. node */
    size_t chain_len;
} rc_suspect;

typedef struct rc_suspects {
    rc_suspect *items; /* the largest first, then by node id */
    size_t n;
    rc_id *ids;      /* the chains, laid out */
    uint32_t *edges; /* edges[chain_at + i]: index among ids[chain_at + i]'s
                      * out-edges of the hop to the next id (0 past the end) */
    size_t n_ids;
    uint64_t heap_bytes; /* rc_dominators_heap_bytes() */
} rc_suspects;

/* The leak suspects: the accumulation points of the dominator tree.  A node
 * is big when it retains at least min_share (0..1) of the heap's bytes
 * (and at least one byte); the big nodes form a subtree under the virtual
 * root.  A suspect is where the memory stops being held by one object and
 * spreads over many:
 *   - a big node that immediately dominates no big node (a leaf of that
 *     subtree);
 *   - a big data collection (RC_TYPE_COLLECTION or an lru_cache, not a
 *     namespace) none of whose big children retains four fifths of it: it
 *     accumulates big entries (a dict of 30 views each keeping a 1.5 MiB
 *     array), and it is what to fix.
 * A suspect inside another suspect is listed only when it retains at least
 * a fifth of the nearest listed one above it; else it is one of the entries
 * that one accumulates (its top_type says "in 30 ndarray").
 * A linked list (each node keeping its data and the next node) is one path
 * of the tree whose nodes each pass their memory on, so the rule would
 * list its deepest big node, a sliver many hops down.  A listed node that
 * ends such a run is listed at the run's head instead (`linked` > 0): the
 * climb up its dominators while each passes through (a child on the way
 * retains four fifths of it) and the (type, namespace) of the nodes repeat
 * with a period of 1 to 4 (a node; a node and its __dict__ ...) at least
 * 4 times over; the head is the top node of the climb that is no
 * namespace, the node a root reaches first.  The `limit`
 * largest listed are kept (an outer one retains more than those inside
 * it, so it comes first), each with its shortest chain from a root (p:
 * rc_paths_bfs() on g with the same kinds; a suspect p does not reach gets
 * the chain [node] and kind RC_ROOT_NONE).  Working memory: 5 bytes per
 * node, and 16 per listed one.  Fills *out (the caller's: rc_suspects_clear).  RC_OK,
 * or RC_ENOMEM / RC_EINVAL (min_share outside [0, 1]) with *out zeroed. */
rc_status rc_suspects_find(const rc_graph *g, const rc_dominators *d, const rc_paths *p,
                           const uint8_t *kinds, double min_share, size_t limit,
                           rc_suspects *out);
/* Free what *s owns and zero it; a zeroed one is fine. */
void rc_suspects_clear(rc_suspects *s);

/* ---- dominator subtrees ---------------------------------------------------- */

typedef struct rc_domtree_node {
    rc_id node;      /* RC_NO_ID for a summary of the smaller children */
    uint32_t parent; /* index into the layout, UINT32_MAX for the top */
    uint64_t bytes, count; /* retained (a summary: its children's sums) */
    uint64_t others; /* a summary: how many children it stands for */
} rc_domtree_node;

/* The dominator subtree under top, breadth-first, `depth` levels below it:
 * each node's children largest first (then by id), at most `width` of them
 * (width >= 1), the rest summed up in one summary node after them.  A
 * node's index is larger than its parent's.  *out (rc_malloc'ed, *n
 * entries, the top first) is the caller's.  On error (RC_ENOMEM; RC_EINVAL
 * for width 0 or top unreached) the outputs are untouched. */
/* The tops of the dominator tree: the `k` largest nodes the virtual root
 * immediately dominates (reached from more than one root, or a root no
 * other root's chain passes), largest retained bytes first, then by id,
 * into out (k entries, the caller's); *n receives how many (<= k).  A
 * module's __dict__ is usually one (its functions' __globals__ hold it
 * too), so a module global's memory shows here, not under the module.
 * RC_OK, or RC_ENOMEM with the outputs untouched.  Working memory: 4 bytes
 * per top. */
rc_status rc_dominators_top(const rc_dominators *d, size_t k, rc_id *out, size_t *n);

rc_status rc_domtree_layout(const rc_dominators *d, rc_id top, size_t depth, size_t width,
                            rc_domtree_node **out, size_t *n);

#endif
