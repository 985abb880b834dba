/* The frozen object graph, and the builder that makes it.
 *
 * A graph is a snapshot of a heap: nodes are dense uint32 ids, each with the
 * object's address, type, shallow size and reference count; edges are stored
 * twice in CSR form (out-edges and in-edges).  A graph holds addresses, never
 * references: it never dereferences them, and neither may its users once any
 * Python code can have run since the capture.
 *
 * The builder expands nodes in id order.  New nodes are discovered through
 * rc_builder_edge() and get the next free id, so "expand every id below
 * rc_builder_node_count()" is a complete worklist with no recursion. */
#ifndef REFCHAIN_GRAPH_H
#define REFCHAIN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/status.h"

typedef uint32_t rc_id;
#define RC_NO_ID ((rc_id)UINT32_MAX)
/* Largest node, edge or type count a graph holds. */
#define RC_MAX_IDS ((size_t)UINT32_MAX - 2)

/* Per-node flags. */
enum {
    RC_NODE_TRACKED = 1 << 0, /* tracked by the cyclic GC */
    RC_NODE_GC = 1 << 1,      /* a GC object: its references were traversed */
    RC_NODE_TYPE = 1 << 2,    /* the object is itself a type */
    RC_NODE_SEED = 1 << 3,    /* enumerated directly, not discovered by an edge */
    RC_NODE_IMMORTAL = 1 << 4, /* immortal (CPython 3.12+): its refcount means nothing */
    RC_NODE_MODULE = 1 << 5,   /* a module object */
    RC_NODE_MODULES = 1 << 6,  /* the sys.modules dict */
    RC_NODE_THREAD_FRAME = 1 << 7, /* a frame on some thread's stack */
    RC_NODE_TOOL_FRAME = 1 << 8,   /* a running frame of the tool's own code */
    /* A dict whose keys are names: some object's own __dict__ (a module's,
     * class's, function's or instance's), or a frame's f_locals; or a
     * function's closure tuple, whose places are its free variables. */
    RC_NODE_NAMESPACE = 1 << 9,
    /* In the collector's permanent generation (gc.freeze()): no collection
     * examines it, so it keeps alive whatever it references. */
    RC_NODE_FROZEN = 1 << 10,
    /* One of CPython's small-int singletons (-5 to 256): made when the
     * interpreter starts and shared by every user, never a new object. */
    RC_NODE_SMALL_INT = 1 << 11,
    /* A type (with RC_NODE_TYPE) that cannot be found by its name: a heap
     * type that the module named by its __module__ (in sys.modules) does
     * not hold under its __qualname__ (each further part a class attribute
     * of the one before).  A class made at runtime (type() in a loop, a
     * metaclass factory, a class statement in a function, a generic
     * alias's origin made per request) is an object like any other, held
     * by whoever holds it, never a class root.  Files written before it
     * have the bit clear: every type was a class root. */
    RC_NODE_UNNAMED_CLASS = 1 << 12,
    /* Held by a reference that no tp_traverse reports, which a capture
     * follows: a type's dict of weak references to its subclasses, a
     * static type's namespace, 3.13's materialised __dict__ of an instance
     * whose inline values stay valid.  The collector counts that reference
     * as one from outside: no collection frees the node while its holder
     * lives, and the pass that frees the holder does not count it.  Files
     * written before it have the bit clear. */
    RC_NODE_UNTRAVERSED = 1 << 13,
};

/* Per-type flags. */
enum {
    RC_TYPE_HEAP = 1 << 0,       /* a heap type (class statement, type(), PyType_FromSpec) */
    RC_TYPE_COLLECTION = 1 << 1, /* list, tuple, set, frozenset, dict, deque or a subclass;
                                    * a contextvars HAMT's nodes */
    RC_TYPE_DICT = 1 << 2,       /* dict or a subclass */
    RC_TYPE_LRU_CACHE = 1 << 3,  /* functools.lru_cache's wrapper */
    RC_TYPE_FINALIZER = 1 << 4,  /* has tp_finalize (__del__) or a legacy tp_del */
    RC_TYPE_SIZE_LOWER_BOUND = 1 << 5, /* its own __sizeof__ was not called: sizes are the layout's */
};

typedef struct rc_graph rc_graph;
typedef struct rc_builder rc_builder;

/* ---- building --------------------------------------------------------- */

/* A new, empty builder sized for about `node_hint` nodes, for the objects
 * of this process (a capture).  It tells new addresses by a set of the
 * addresses seen, a bit for each 8 bytes of the 64 KiB ranges they lie in
 * (refchain/addrset.h), so two addresses less than 8 bytes apart are one
 * node, and numbers the targets of edges when it is frozen.  NULL on
 * ENOMEM. */
rc_builder *rc_builder_new(size_t node_hint);
/* A builder for addresses that are not objects of this process (a
 * snapshot's, read from a file, where any address may come): it finds
 * nodes through an index of their addresses, whose size follows the number
 * of nodes, not the ranges the addresses span, and rc_builder_next() does
 * not prefetch the objects it hands out (a prefetch of an address nothing
 * maps costs a page walk each time).  NULL on ENOMEM. */
rc_builder *rc_builder_new_foreign(size_t node_hint);
/* A foreign builder with no index: its nodes are appended in id order
 * (rc_builder_append) and never looked up, so the caller must know their
 * addresses distinct; edges are recorded by id (rc_builder_edge_id).  Seeds,
 * marks and edges by address are RC_EINVAL.  A loader's: it saves the
 * index's table and a random probe per node.  NULL on ENOMEM. */
rc_builder *rc_builder_new_listed(size_t node_hint);
/* Append node rc_builder_node_count(b) at `addr` (non-zero) to a listed
 * builder, before the first rc_builder_next().  RC_EINVAL otherwise. */
rc_status rc_builder_append(rc_builder *b, uintptr_t addr);
/* rc_builder_append() of addrs[0..n) in order: RC_EINVAL, with none
 * appended, when one is 0; on ENOMEM the first ones stay appended. */
rc_status rc_builder_append_many(rc_builder *b, const uintptr_t *addrs, size_t n);
/* A listed builder's addresses, of its nodes 0 .. rc_builder_node_count()
 * - 1: they stay where they are until the next rc_builder_append() or the
 * freeze.  NULL for another builder. */
const uintptr_t *rc_builder_listed_addrs(const rc_builder *b);
/* Free a builder that was not frozen (freezing consumes it).  NULL is
 * allowed (a no-op). */
void rc_builder_free(rc_builder *b);

/* A counter: a builder for a census that keeps no per-node record.  It is
 * driven like a builder (exclude, seed, mark, type, next, edge(s), close),
 * but it expands objects from a stack, in no particular order (the caller
 * may expand some while still seeding), remembers the addresses it saw in
 * an rc_addrset (a bit each), and adds each closed object to its type's
 * tally; rc_builder_counted() gives the result, and rc_builder_freeze()
 * refuses it (RC_EINVAL).  Edge ids, marks' flags and close's refcount mean
 * nothing to it, and next() gives no flags.  NULL on ENOMEM. */
rc_builder *rc_builder_new_counter(void);

/* A counter's caller may also count an object the moment it finds it, when
 * there is nothing to expand in it (no references to follow), instead of
 * queueing it through rc_builder_edge().  rc_builder_see() returns 1 when
 * addr is new (it is now seen, and the caller counts it with
 * rc_builder_count() or queues it with rc_builder_queue()), 0 when it was
 * seen before or is excluded, -1 when out of memory (it is not seen) or b
 * is not a counter.  rc_builder_count() adds an object to its type's tally
 * (what rc_builder_close() does for a queued one); it may be called while
 * another object is being expanded. */
int rc_builder_see(rc_builder *b, uintptr_t addr);
rc_status rc_builder_queue(rc_builder *b, uintptr_t addr);
rc_status rc_builder_count(rc_builder *b, uint32_t type, uint64_t size, unsigned flags);

typedef struct rc_type_tally {
    uint64_t count, bytes;           /* every object of the type */
    uint64_t tool_count, tool_bytes; /* of which the tool's running frames */
} rc_type_tally;

struct rc_addrset;

/* A counter's result once every object is expanded: tally[t] for each type
 * t < *n_types (owned by the builder), and, when `objects` is not NULL, the
 * set of the objects counted, excluded addresses and the tool's running
 * frames (closed with RC_NODE_TOOL_FRAME) removed (the caller's, to
 * rc_addrset_free; the builder no longer has it).  RC_EINVAL for a builder
 * that is not a counter or is not done; RC_ENOMEM leaves it as it was. */
rc_status rc_builder_counted(rc_builder *b, const rc_type_tally **tally, size_t *n_types,
                             struct rc_addrset **objects);

/* The builder's interned types, as rc_graph_type_*() gives a graph's:
 * type < rc_builder_type_count(b). */
size_t rc_builder_type_count(const rc_builder *b);
const char *rc_builder_type_name(const rc_builder *b, uint32_t type, int short_name);
uintptr_t rc_builder_type_key(const rc_builder *b, uint32_t type);
unsigned rc_builder_type_flags(const rc_builder *b, uint32_t type);

/* Make room for `n` nodes now (capped at RC_MAX_IDS), when their number
 * is known before they are found: the index and the node arrays then need
 * no step by step growth.  RC_ENOMEM leaves the builder usable. */
rc_status rc_builder_reserve(rc_builder *b, size_t n);

/* Start the block of references at room for `m` of them (the last
 * capture's count and an eighth) rather than one per node: a heap holds two
 * or three references per object, and an array grown as the walk fills it
 * is copied (or moved into a block the pool kept) each time.  A hint only:
 * nothing is allocated until the first reference.  Call before the first
 * edge. */
void rc_builder_expect_edges(rc_builder *b, size_t m);

/* Keep the nodes' address order in the frozen graph
 * (rc_graph_addr_order()): a live builder finds it anyway when it numbers
 * its edges, and keeping it costs 4 bytes per node.  A no-op for an
 * indexed, listed or counting builder. */
void rc_builder_keep_addr_order(rc_builder *b);

/* Discover nodes through rc_builder_edge() but store no edge: the frozen
 * graph has nodes, types, sizes and refcounts only (enough for a census).
 * Call before the first edge. */
void rc_builder_nodes_only(rc_builder *b);


/* Exclude `addr`: edges to it are dropped and it never becomes a node.
 * Only valid before the first rc_builder_seed()/rc_builder_edge().
 * RC_EINVAL when called later; RC_ENOMEM leaves the builder usable.
 *
 * An error from any builder function below leaves the builder valid (it can
 * still be freed) but incomplete: the failed seed, mark, type, edge or close
 * was not recorded.  Callers free it; freezing it anyway gives a graph
 * without what failed, or RC_EINVAL when a node was left unexpanded. */
rc_status rc_builder_exclude(rc_builder *b, uintptr_t addr);

/* Add `addr` as a node unless it is one already (or excluded).  Seeds are
 * flagged RC_NODE_SEED.  They are buffered and resolved in batches: an
 * allocation failure while resolving them is reported here or by the next
 * rc_builder_next(). */
rc_status rc_builder_seed(rc_builder *b, uintptr_t addr);
/* rc_builder_seed(), also giving the node `flags` (kept by close, which
 * adds its own).  A node seeded twice keeps both seeds' flags. */
rc_status rc_builder_seed_flagged(rc_builder *b, uintptr_t addr, unsigned flags);
/* Give the node at `addr` `flags`, adding it as a node (not a seed) if it is
 * not one yet (nothing happens for an excluded address).  Buffered like
 * seeds, with the same failure reporting. */
rc_status rc_builder_mark(rc_builder *b, uintptr_t addr, unsigned flags);

/* Intern a type: `key` identifies it (its address), `name` is the qualified
 * name and `short_name` its __name__; both are copied and must be valid
 * UTF-8.  Interning the same key again returns the same id.  On error *out is
 * untouched. */
rc_status rc_builder_type(rc_builder *b, uintptr_t key, const char *name,
                          const char *short_name, unsigned flags, uint32_t *out);
/* The id of an already interned type key, or UINT32_MAX. */
uint32_t rc_builder_find_type(const rc_builder *b, uintptr_t key);

/* The next node to expand: sets *addr and its flags so far (RC_NODE_SEED)
 * and returns 1, or returns 0 when every discovered node has been expanded.
 * A live builder gives the flags of a seed or mark to a node it had found
 * before only at the freeze; the seed or mark that finds a node gives them
 * at once.  An error while resolving pending edges is reported through *st
 * (and 0 is returned).  The builder prefetches memory at the addresses it
 * holds; a prefetch is only a hint and never faults, so fake addresses are
 * fine. */
int rc_builder_next(rc_builder *b, uintptr_t *addr, unsigned *flags, rc_status *st);

/* The address of the node k places after the one rc_builder_next() gave
 * (a live graph builder), or 0 (none discovered yet, a counter, or a
 * file's addresses): what the caller will read soon, to prefetch. */
uintptr_t rc_builder_ahead(const rc_builder *b, size_t k);

/* Record an edge from the node being expanded to `target` (discovering it
 * when new).  Edges to excluded addresses and to 0 are dropped.  Only valid
 * between rc_builder_next() and rc_builder_close() (RC_EINVAL otherwise). */
rc_status rc_builder_edge(rc_builder *b, uintptr_t target);

/* rc_builder_edge() for each of targets[0..n), in order.  On error the
 * edges recorded so far stay recorded. */
rc_status rc_builder_edges(rc_builder *b, const uintptr_t *targets, size_t n);

/* Record an edge from the node being expanded to the node with id
 * `target`, with no address lookup: for a loader that marked every node
 * (rc_builder_mark(b, addr, 0), in file order, so ids are mark order when
 * the addresses are distinct) before the first rc_builder_next().  Ordered
 * with rc_builder_edge() calls.  RC_EINVAL outside an expansion or when
 * `target` is not a node id even after resolving the buffered marks;
 * on any error the edge is not recorded. */
rc_status rc_builder_edge_id(rc_builder *b, rc_id target);
/* rc_builder_edge_id() for n targets in order, checked once: on any error
 * none of them is recorded. */
rc_status rc_builder_edge_ids(rc_builder *b, const rc_id *targets, size_t n);

/* Resolve the buffered seeds and marks now, so rc_builder_node_count()
 * counts them (a loader checks that its addresses were distinct).  On
 * RC_ENOMEM those not resolved stay buffered. */
rc_status rc_builder_resolve(rc_builder *b);

/* The number of nodes discovered so far.  Seeds and marks are buffered and
 * counted once resolved: rc_builder_next() resolves them when it runs out
 * of nodes, rc_builder_edge_id() when its target is still buffered. */
size_t rc_builder_node_count(const rc_builder *b);

/* Finish expanding the current node with its attributes (added to the
 * flags its seeding gave it).  Must follow each successful rc_builder_next(). */
rc_status rc_builder_close(rc_builder *b, uint32_t type, uint64_t size,
                           uint64_t refcnt, unsigned flags);

/* A listed builder's next node in two calls, for a loader, instead of
 * rc_builder_next(), rc_builder_edge_ids() and rc_builder_close():
 * rc_builder_room(b, n) gives room for its n out-edges (NULL when out of
 * memory, or when b is not listed, is between rc_builder_next() and
 * rc_builder_close(), or has closed every node), and rc_builder_row()
 * closes it with its attributes and the n targets written there.
 * rc_builder_row() records no edge and closes nothing when a target is not
 * a node (RC_EINVAL), or when the room was not asked for. */
rc_id *rc_builder_room(rc_builder *b, size_t n);
rc_status rc_builder_row(rc_builder *b, uint32_t type, uint64_t size, uint64_t refcnt,
                         unsigned flags, size_t n);

/* Freeze into a graph, with out-edges only.  The builder is consumed (freed)
 * whether or not this succeeds; on error *out is untouched.  Every discovered
 * node must have been expanded (RC_EINVAL otherwise). */
rc_status rc_builder_freeze(rc_builder *b, rc_graph **out);

/* Build the in-edges (a census does not need them; chains do).  Idempotent.
 * On RC_ENOMEM the graph is unchanged.  This is the one function that
 * changes a frozen graph, and it takes a non-const pointer: call it before
 * sharing the graph with readers. */
rc_status rc_graph_build_in(rc_graph *g);
int rc_graph_has_in(const rc_graph *g);

/* ---- querying --------------------------------------------------------- */

/* Free a graph.  NULL is allowed (a no-op).  Every pointer the accessors
 * below returned dies with it. */
void rc_graph_free(rc_graph *g);

/* The accessors never change the graph; ids out of range are the caller's
 * bug (they are not checked). */

size_t rc_graph_node_count(const rc_graph *g);
size_t rc_graph_edge_count(const rc_graph *g);
/* Bytes the graph itself occupies. */
size_t rc_graph_memory(const rc_graph *g);

uintptr_t rc_graph_addr(const rc_graph *g, rc_id id);
uint32_t rc_graph_type(const rc_graph *g, rc_id id);
uint64_t rc_graph_size(const rc_graph *g, rc_id id);
/* Reference counts saturate at UINT32_MAX (immortal objects reach it). */
uint32_t rc_graph_refcnt(const rc_graph *g, rc_id id);
unsigned rc_graph_flags(const rc_graph *g, rc_id id);

/* The out-/in-neighbours of `id`; *n receives their number.  Out-edges keep
 * the order tp_traverse reported them in; in-edges are sorted by source and
 * exist only after rc_graph_build_in() (before, rc_graph_in gives none).
 * Borrowed: the arrays live as long as the graph (rc_graph_build_in does not
 * move the out-edges). */
const rc_id *rc_graph_out(const rc_graph *g, rc_id id, size_t *n);
const rc_id *rc_graph_in(const rc_graph *g, rc_id id, size_t *n);
/* The index, among from's out-edges, of its occ-th (from 0) edge to `to`, or
 * UINT32_MAX.  With occ = how many earlier sources' in-edge entries of `to`
 * are `from`, this maps an in-edge back to its out-edge (in-edges list a
 * source's edges in its out-edge order).  O(out-degree of from). */
uint32_t rc_graph_out_index(const rc_graph *g, rc_id from, rc_id to, size_t occ);

/* The node ids in increasing address order (every node once), when the
 * builder was asked to keep them (rc_builder_keep_addr_order()); else
 * NULL. */
const rc_id *rc_graph_addr_order(const rc_graph *g);

/* The node at `addr`, or RC_NO_ID.  O(V): a frozen graph keeps no index. */
rc_id rc_graph_find(const rc_graph *g, uintptr_t addr);
/* ids[j] = the node at addrs[j] (RC_NO_ID when absent), for j < k, in one
 * O(V + k) pass.  On RC_ENOMEM ids is unspecified. */
rc_status rc_graph_find_many(const rc_graph *g, const uintptr_t *addrs, size_t k, rc_id *ids);

size_t rc_graph_type_count(const rc_graph *g);
/* A type's qualified name and its __name__: borrowed, NUL-terminated UTF-8
 * that lives as long as the graph. */
const char *rc_graph_type_name(const rc_graph *g, uint32_t type);
const char *rc_graph_type_short_name(const rc_graph *g, uint32_t type);
uintptr_t rc_graph_type_key(const rc_graph *g, uint32_t type);
unsigned rc_graph_type_flags(const rc_graph *g, uint32_t type);

#endif
