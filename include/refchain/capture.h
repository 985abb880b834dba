/* Heap capture: the one place that walks live Python objects.
 *
 * rc_capture() enumerates every gc-tracked object, then expands each node in
 * id order through its type's tp_traverse, so objects reachable only from
 * others (str, bytes, int, float, untracked tuples and dicts) become nodes
 * too.  While it walks it runs no Python code and creates no Python object;
 * automatic collection is disabled for the whole capture so nothing can free
 * what it has seen.
 *
 * The declarations use `struct _object` (what PyObject names) so that this
 * header does not need Python.h. */
#ifndef REFCHAIN_CAPTURE_H
#define REFCHAIN_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"
#include "refchain/snapshot.h"

struct _object;

typedef struct rc_capture_opts {
    /* Objects that belong to the tool: they never become nodes and edges to
     * them are dropped.  Borrowed; the caller keeps them alive. */
    struct _object *const *exclude;
    size_t n_exclude;
    /* The gc module (borrowed, required): on CPython < 3.12 capture calls its
     * get_objects(), and on < 3.10 its isenabled()/disable()/enable(). */
    struct _object *gc_module;
    /* References the tool itself holds (an address once per reference): they
     * are subtracted from the recorded refcounts, so that they do not make
     * objects look held from outside. */
    const uintptr_t *held;
    size_t n_held;
    /* Globals dicts of the tool's own modules, and code objects of the
     * tool's that run with other globals (attach's program, in __main__):
     * running frames of that code are flagged RC_NODE_TOOL_FRAME instead of
     * RC_NODE_THREAD_FRAME. */
    struct _object *const *tool_globals;
    size_t n_tool_globals;
    /* Expected number of nodes (the last capture's), to size the index. */
    size_t node_hint;
    /* Expected number of references (rc_builder_expect_edges()); 0: none. */
    size_t edge_hint;
    /* What to keep of the references: RC_EDGES_NONE (nodes only, enough for a
     * census), RC_EDGES_OUT (out-edges; rc_graph_build_in adds the in-edges
     * when a question needs them) or RC_EDGES_BOTH (out- and in-edges). */
    int edges;
    /* Record shallow sizes (0 records 0: a single chain needs none). */
    int sizes;
    /* Keep the nodes' address order (rc_graph_addr_order()): a dump's
     * object ids need it (refchain/idmap.h). */
    int addr_order;
    /* Containers only: an object that is not a gc object (str, int, bytes,
     * float...) holds no references, so it can only end a chain; it becomes
     * a node only when the tool holds it (`held`: a question's targets), and
     * references to the others are dropped.  Every gc object keeps all its
     * in-edges, so chains back from a held object are those of a full
     * capture, on a graph a fifth the size where most objects are atomic. */
    int containers_only;
    /* The real path of the directory of the standard library's extension
     * modules (sysconfig's DESTSHARED), or NULL: their C __sizeof__
     * implementations are trusted (see capture.c).  Borrowed. */
    const char *stdlib_dir;
    /* A C __sizeof__ known to crash on some instances, never called: CPython's
     * _struct.Struct.__sizeof__ reads a NULL pointer on an instance whose
     * __init__ never ran.  NULL for none. */
    void (*refused_sizeof)(void);
    /* A C __sizeof__ that adds the size of an object its type's tp_traverse
     * visits, which is a node of its own: the layout size is recorded
     * instead, so that the object is counted once.  _io.BytesIO's from 3.12
     * (its buffer, a bytes object, is visited since then).  NULL for none. */
    void (*layout_sizeof)(void);
    /* Optional: what rc_capture_tracked_list() returned, with no Python code
     * run since.  A list (< 3.12) is seeded from instead of calling
     * gc.get_objects() (whose audit hooks may be Python code); None means
     * the capture enumerates in C, and fails rather than fall back to
     * gc.get_objects().  rc_capture() steals this reference (also on
     * failure) and releases a list after seeding: it must be the only
     * reference, so that the recorded refcounts are the heap's.  A fork
     * dump's child uses it (src/dump.c).  NULL otherwise. */
    struct _object *tracked;
} rc_capture_opts;

enum { RC_EDGES_NONE, RC_EDGES_BOTH, RC_EDGES_OUT };

/* Capture the heap into a new graph (owned by the caller: rc_graph_free).
 * Requires the GIL.  opts and everything it points to are borrowed for the
 * call only.  On RC_EPYTHON a Python exception is set; on any error *out is
 * untouched, nothing leaks, and the collector is enabled again if it was. */
rc_status rc_capture(const rc_capture_opts *opts, rc_graph **out);

/* A census of the heap with no graph: the same walk as rc_capture() (which
 * opts->edges and ->node_hint do not change), counting each object once
 * into its type's row instead of recording it (refchain/census.h's
 * rc_census_of_counter; flags are its RC_CENSUS_* flags).  Its peak memory
 * is a few bytes per object where a graph takes about fifty.  Same
 * contract as rc_capture(). */
struct rc_census;
rc_status rc_capture_census(const rc_capture_opts *opts, unsigned flags, struct rc_census **out);

/* The shallow size refchain records for `op`: sys.getsizeof's answer when
 * its type's __sizeof__ is CPython's own or another trusted C function (see
 * capture.c; only opts->stdlib_dir, ->refused_sizeof and ->layout_sizeof
 * are read), else the size
 * of its layout, and then *lower_bound (if not NULL) is set to 1.  Runs no
 * Python code. */
uint64_t rc_shallow_size(struct _object *op, const rc_capture_opts *opts, int *lower_bound);

/* New strong references to the objects at ids[0..n) of g, or with ids NULL
 * to every node (n must then be rc_graph_node_count(g): refs[v] holds node
 * v), in an rc_malloc'ed array; NULL when out of memory (no exception is
 * set).  Only while no Python code has run since g was captured: its
 * addresses are live objects then, and afterwards only the references
 * taken may be dereferenced.  Runs no Python code. */
struct _object **rc_capture_hold(const rc_graph *g, const rc_id *ids, size_t n);

/* Out-edge k of node `from` in a containers-only capture (see
 * rc_capture_opts.containers_only) as relate's edge hint means it: its
 * position among the object's tp_traverse references, the leaves left out
 * counted.  For a reference the walk adds after tp_traverse's (a hidden
 * __dict__, a dict's keys, a running frame's variables), tp_traverse's
 * count plus its place among the kept ones: relate names those by
 * identity, not by index.  Only while no Python code has run since g was
 * captured (it traverses the live object); runs no Python code.
 * UINT32_MAX when k is out of range. */
uint32_t rc_capture_full_index(const rc_graph *g, rc_id from, uint32_t k);
/* rc_capture_full_index() for each hop of a chain: edges[i], the edge from
 * ids[i] to ids[i + 1], for i < n - 1. */
void rc_capture_full_indexes(const rc_graph *g, const rc_id *ids, uint32_t *edges, size_t n);

/* The addresses of every node of g (refs[v] is node v), as rc_capture_hold
 * gives them but with no reference taken: only for a process in which no
 * Python code will run again and nothing is freed (a fork dump's child,
 * which writes no refcount so that the copy-on-write heap stays shared).
 * From the capture's pool (refchain/pool.h): give it back with
 * rc_pool_free(refs, *bytes).  NULL when out of memory. */
struct _object **rc_capture_borrow(const rc_graph *g, size_t *bytes);

/* For rc_capture_opts.tracked, made before a capture that must run no
 * Python code at all (a fork dump's child).  None when the capture will
 * enumerate in C: from 3.12 with PyUnstable_GC_VisitObjects, before that
 * by reading the collector's generation lists, whose layout was just
 * checked (capture.c).  Else (< 3.12, a layout that does not check out) a
 * new list of this interpreter's tracked objects from gc.get_objects()'s C
 * function (gc: the gc module; its audit hooks may run Python code).  NULL
 * with an exception set on failure. */
struct _object *rc_capture_tracked_list(struct _object *gc);

/* Allow (1, the default) or forbid (0) reading the collector's lists in
 * place, as if their layout did not check out, so that tests reach the
 * other path (before 3.12 gc.get_objects(); from 3.12 no permanent
 * generation); returns the previous setting. */
int rc_capture_allow_gc_lists(int allow);

/* *n = the number of this interpreter's gc-tracked objects, frozen ones
 * included, counted in C as the capture enumerates them (with no list
 * built, where the collector's lists check out or from 3.12; else
 * len(gc.get_objects()), whose audit hooks may run Python code).  0, or -1
 * with an exception set. */
int rc_capture_count_tracked(struct _object *gc, size_t *n);

/* sys.getallocatedblocks(): the blocks pymalloc has handed out, about one
 * per object (1.10-1.33 on the bench's heaps), or 0 when it cannot tell
 * (pymalloc off).  Called only while it is still sys's own C function: no
 * Python code runs. */
size_t rc_capture_allocated_blocks(void);

/* 1 when a capture or census reads the collector's permanent generation
 * (gc.freeze()'s) in place, so that it lists every frozen object; 0 when
 * frozen objects are found only through references (an interpreter whose
 * collector's layout does not check out, or a free-threaded one); -1 with
 * an exception set.  Calls gc.get_threshold()'s C function: no Python code. */
int rc_capture_sees_frozen(struct _object *gc);

/* Drop refs[0..n) and free the array (NULL is a no-op).  Deallocators,
 * and so Python code, may run. */
void rc_capture_release(struct _object **refs, size_t n);

/* The sizing facts of rc_capture_opts, found once (at import: it imports
 * sysconfig, _struct and _io, Python code): *stdlib_dir (PyMem_RawMalloc'ed,
 * the caller frees it with PyMem_RawFree), *refused_sizeof and
 * *layout_sizeof, each NULL when it cannot be known; then only CPython's own
 * image is trusted to size objects (and a BytesIO may count its buffer
 * twice).  Never fails: any exception is cleared. */
void rc_sizing_probe(char **stdlib_dir, void (**refused_sizeof)(void),
                     void (**layout_sizeof)(void));

/* ---- what a dump reads of the objects it holds ---------------------------- */

/* Longest value rc_short_value() gives, in bytes. */
#define RC_SHORT_VALUE_MAX 64

/* A short, safe value of op into buf (RC_SHORT_VALUE_MAX bytes): its
 * length, or -1 when op has none.  Only exact str (its UTF-8, cut at a
 * character boundary), bytes (a prefix), int (decimal, when it fits in 64
 * bits), float (repr's digits), bool and None have one: read in place, no
 * Python code runs and no Python object is created.  The caller holds op. */
long rc_short_value(struct _object *op, char *buf);

/* Allocation tracebacks of held objects, deduplicated: the location table of
 * a snapshot (refchain/snapshot.h's rc_snap_tables). */
typedef struct rc_sites {
    rc_snap_frame *frames; /* file names rc_malloc'ed, owned */
    size_t n_frames;
    uint32_t *traceback_off; /* n_tracebacks + 1 */
    uint32_t *traceback_frames;
    size_t n_tracebacks;
    uint32_t *node_traceback; /* per object: an index, or RC_SNAP_NONE */
} rc_sites;

/* Fill *out with tracemalloc's traceback of each of refs[0..n) (held by the
 * caller).  Creates Python objects (the
 * tracebacks tracemalloc hands out) but runs no Python code.  RC_OK, or
 * RC_ENOMEM / RC_EPYTHON (exception set) with *out cleared. */
rc_status rc_capture_sites(struct _object *const *refs, size_t n, rc_sites *out);
/* Free what *s owns and zero it. */
void rc_sites_clear(rc_sites *s);

#endif
