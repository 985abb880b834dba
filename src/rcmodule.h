/* Private to src/: the module state, the registry of the tool's own objects,
 * and the constructors each glue file offers the others. */
#ifndef REFCHAIN_RCMODULE_H
#define REFCHAIN_RCMODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "refchain/capture.h"
#include "refchain/census.h"
#include "refchain/graph.h"
#include "refchain/paths.h"
#include "refchain/snapshot.h"

/* Every result object the tool hands out links itself into its module's
 * list, so that a capture can leave them out: holding a Census or a Graph
 * must not show up as growth. */
enum { RC_TOOL_OBJECT, RC_TOOL_LIST };

typedef struct rc_tool_link {
    struct rc_tool_link *prev, *next;
    PyObject *self;
    /* RC_TOOL_OBJECT: self is an rc_tool (it holds self->held);
     * RC_TOOL_LIST: self is an ObjectList (it holds its items). */
    int kind;
} rc_tool_link;

typedef struct rc_tool {
    PyObject_HEAD
    rc_tool_link link;
    PyObject *module; /* strong: the module state outlives the object */
    /* Strong references the object holds to heap objects (a Chain's path):
     * captures subtract them, so holding a result changes no chain. */
    PyObject **held;
    Py_ssize_t n_held;
} rc_tool;

enum { RC_NOTES = 3 };

typedef struct rc_state {
    PyTypeObject *graph_type;
    PyTypeObject *census_type;
    PyTypeObject *diff_type;
    PyTypeObject *type_stat; /* struct sequence (count, bytes) */
    PyTypeObject *diff_row;  /* struct sequence (name, count, delta, bytes_delta) */
    PyTypeObject *chain_type;
    PyTypeObject *objlist_type;
    PyTypeObject *snapshot_type;
    struct rc_idmap *idmap; /* the object ids of the last dump (refchain/idmap.h), or NULL */
    PyObject *gc;
    char *stdlib_dir;              /* PyMem_RawMalloc'ed; see rc_capture_opts */
    void (*refused_sizeof)(void); /* see rc_capture_opts */
    void (*layout_sizeof)(void);  /* see rc_capture_opts */
    PyObject *tool_globals; /* tuple of the package modules' globals dicts (data) */
    /* The last capture's counts, for the next one's hints; [1] for a
     * containers-only capture's (RC_CAPTURE_CONTAINERS), a third as large
     * on the bench's heaps. */
    size_t last_nodes[2], last_edges[2];
    /* _note(): numbers the package keeps where no capture finds an object
     * (refchain/_memory.py: the last census's objects and RSS, the RSS
     * before a dump). */
    unsigned long long notes[RC_NOTES];
    rc_tool_link tools; /* sentinel of the live tool objects */
} rc_state;

rc_state *rc_module_state(PyObject *module);

void rc_tool_register(PyObject *self, PyObject *module);
void rc_tool_unregister(PyObject *self);

/* Set the Python exception for a failed status and return NULL. */
PyObject *rc_raise(rc_status st);

/* Capture the heap, leaving out the tool's objects and discounting the
 * references they hold, plus `held` (n_held addresses the caller holds a
 * reference to, such as its arguments); `edges` is RC_EDGES_NONE or RC_EDGES_BOTH; `sizes` says whether to
 * record sizes.  Raises and returns NULL on failure.
 * When it returns a graph, no Python code has run since the walk: the
 * caller may dereference its addresses until it allocates a Python object
 * or calls into Python. */
rc_graph *rc_module_capture(PyObject *module, const uintptr_t *held, size_t n_held,
                            int edges, int sizes);
/* rc_module_capture_ex's `how`. */
enum {
    /* The tool's objects are captured like any other and their references
     * count (what the collector sees). */
    RC_CAPTURE_TOOLS = 1,
    /* Gc objects and the held ones only (rc_capture_opts.containers_only):
     * enough for chains back from a held object. */
    RC_CAPTURE_CONTAINERS = 2,
    /* Keep the nodes' address order (rc_capture_opts.addr_order): for a
     * dump's object ids. */
    RC_CAPTURE_ADDR_ORDER = 4
};
rc_graph *rc_module_capture_ex(PyObject *module, const uintptr_t *held, size_t n_held,
                               int edges, int sizes, unsigned how);
/* A dump's capture (both edge directions, sizes, address order) seeded
 * from `tracked` (rc_capture_opts.tracked: stolen, also on failure). */
rc_graph *rc_module_capture_tracked(PyObject *module, PyObject *tracked);

/* A Python list of the objects at ids[0..n): the references are taken
 * before anything that could run Python code. */
PyObject *rc_objects_list(PyObject *module, const rc_graph *g, const rc_id *ids, size_t n);
/* The same of refs[0..n), strong references already taken: it consumes them
 * and frees the array (NULL: returns NULL, the error already set). */
PyObject *rc_objects_list_taken(PyObject *module, PyObject **refs, size_t n);
int rc_objlist_type_init(PyObject *module, rc_state *st);

/* Link `link` (inside `self`) into the module's registry of tool objects,
 * and take it out again (a no-op when it is not linked). */
void rc_tool_link_add(PyObject *module, rc_tool_link *link, PyObject *self, int kind);
void rc_tool_link_remove(rc_tool_link *link);

/* Constructors; each takes ownership of its C argument, also on failure. */
PyObject *rc_graph_wrap(PyObject *module, rc_graph *g);
PyObject *rc_census_wrap(PyObject *module, rc_census *c);
PyObject *rc_diff_wrap(PyObject *module, rc_diff *d);

/* The rc_census inside a Census object, or NULL with TypeError set. */
rc_census *rc_census_unwrap(PyObject *module, PyObject *obj, const char *what);

PyObject *rc_type_stat(PyObject *module, uint64_t count, uint64_t bytes, bool lower_bound);

/* Vectorcall arguments (METH_FASTCALL): question functions take them so
 * that no argument tuple, held only by C, appears in their own capture.
 * rc_parse_fast fills out[i] for names[i] (NULL-terminated; NULL when not
 * given), the first `required` being mandatory; TypeError otherwise. */
int rc_parse_fast(const char *func, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                  const char *const *names, Py_ssize_t required, PyObject **out);
/* An int argument >= 0 (dflt when arg is NULL). */
int rc_arg_size(const char *func, const char *name, PyObject *arg, Py_ssize_t dflt,
                Py_ssize_t *out);

/* A type argument: a type object (matched by identity) or a name (matched
 * as objgraph does: qualified when it has a dot, else by __name__). */
typedef struct type_sel {
    PyObject *type;   /* borrowed, or NULL */
    const char *name; /* UTF-8 owned by `keep`, or NULL */
    PyObject *keep;
    int nothing;      /* a name no type can have */
} type_sel;

/* Parse arg into sel (TypeError naming func otherwise); Py_XDECREF(sel.keep)
 * when done. */
int type_sel_parse(PyObject *arg, const char *func, type_sel *sel);
/* mask[t] for every type of g (rc_malloc'ed; see rc_select_mask); *marked
 * receives how many.  NULL with MemoryError set on failure. */
unsigned char *type_sel_mask(const type_sel *sel, const rc_graph *g, size_t *marked);

int rc_graph_type_init(PyObject *module, rc_state *st);
int rc_census_types_init(PyObject *module, rc_state *st);
int rc_chain_type_init(PyObject *module, rc_state *st);

/* Method tables of src/chain.c, src/garbage.c, src/render_glue.c and
 * src/retained.c. */
extern PyMethodDef rc_chain_methods[];
extern PyMethodDef rc_garbage_methods[];
extern PyMethodDef rc_render_methods[];
extern PyMethodDef rc_retained_methods[];

/* A Chain (src/chain.c) of objs[0..n) (new references are taken) and
 * edges[0..n); kind is an rc_root_kind, or RC_ROOT_KINDS for a chain no
 * root reaches.  NULL with an exception set. */
PyObject *rc_chain_of(PyObject *module, int kind, PyObject *const *objs, const rc_id *ids,
                      const uint32_t *edges, size_t n);

/* What makes a chain of an answer: rc_chain_of live (from objs), plain
 * data for a loaded snapshot (src/snapshot.c: from the node ids; objs may
 * be NULL). */
typedef PyObject *(*rc_chain_maker)(PyObject *module, int kind, PyObject *const *objs,
                                    const rc_id *ids, const uint32_t *edges, size_t n);

/* What stands for a group's members in an answer: NULL for the list of
 * objs (live); a snapshot's makes its allocation counts from the node ids
 * alone, so that no int is made per member (src/snapshot.c). */
typedef struct rc_members_maker {
    PyObject *(*make)(void *ctx, const rc_id *ids, size_t n);
    void *ctx;
} rc_members_maker;

struct rc_explanation;
/* The Python answer of _explain (src/chain.c), once objs[k] stands for the
 * explanation's ids[k] (objs may be NULL when members is given and
 * make_chain reads ids): [(count, bytes, chain, members, retained bytes,
 * retained count)], or by type [(type name, count, bytes, [group],
 * retained bytes, retained count)]. */
PyObject *rc_explain_result(PyObject *module, const rc_graph *g, int by_type,
                            const struct rc_explanation *e, PyObject *const *objs,
                            rc_chain_maker make_chain, const rc_members_maker *members);

/* What holds the objects an answer names (src/retained.c): take_objects
 * live, node ids as ints for a loaded snapshot (src/snapshot.c).  NULL
 * with an exception set; release with rc_capture_release(). */
typedef PyObject **(*rc_objs_maker)(const rc_graph *g, const rc_id *ids, size_t n);

struct rc_dominators;
/* _suspects' and _dominator_tree's arguments and answers (src/retained.c),
 * live or from a snapshot: -1 / NULL with an exception set.  Suspects:
 * (heap bytes, [(object, bytes, count, chain, top type or None, top count,
 * top bytes)]); the tree: [(object or None, parent index or -1, bytes,
 * count, others)]. */
int rc_suspects_args(PyObject *const *args, Py_ssize_t nargs, double *share, Py_ssize_t *limit);
PyObject *rc_suspects_answer(PyObject *module, const rc_graph *g, const struct rc_dominators *d,
                             const rc_paths *p, const uint8_t *kinds, double share, size_t limit,
                             rc_objs_maker make_objs, rc_chain_maker make_chain);
int rc_domtree_args(PyObject *const *args, Py_ssize_t nargs, PyObject **top, Py_ssize_t *depth,
                    Py_ssize_t *width);
PyObject *rc_domtree_answer(const rc_graph *g, const struct rc_dominators *d, rc_id top,
                            size_t depth, size_t width, rc_objs_maker make_objs);

/* _growth's answer (src/module.c) on graph g, which the caller owns, or
 * with g NULL on the live heap: args as _growth takes them; with ids_only
 * the new objects are node ids. */
PyObject *rc_growth_answer(PyObject *module, const rc_graph *g, PyObject *const *args,
                           Py_ssize_t nargs, int ids_only);
/* [int] of ids[0..n). */
PyObject *rc_id_list(const rc_id *ids, size_t n);

struct rc_cycles;
/* _garbage's groups (src/garbage.c) once objs[k] stands for c->ids[k]. */
PyObject *rc_garbage_groups(const rc_graph *g, const struct rc_cycles *c, PyObject *const *objs);

/* ((end, label), ...) of relate's steps, as _label_path() returns them
 * (src/labels.c); NULL with an exception set. */
struct rc_label_step;
PyObject *rc_label_steps_tuple(const struct rc_label_step *steps, size_t n);

/* Snapshot files: writing them (src/dump.c: _dump, _fork_dump) and
 * reading them (src/snapshot.c: _load, SnapshotGraph). */
extern PyMethodDef rc_dump_methods[];
extern PyMethodDef rc_snapshot_methods[];
int rc_snapshot_types_init(PyObject *module, rc_state *st);
/* Raise for a failed dump or load: MemoryError, OSError (the OS refused) or
 * ValueError (the file is not a snapshot this code reads), with the file
 * layer's message, which names the file.  Returns NULL. */
PyObject *rc_snap_raise(rc_snap_status st, const char *msg);
/* rc_snap_raise for a failed write: RC_SNAP_EIO raises OSError(err, msg,
 * filename), whose class is err's (FileNotFoundError, IsADirectoryError,
 * PermissionError...; err is errno as the writer left it). */
PyObject *rc_snap_raise_write(rc_snap_status st, const char *msg, int err, PyObject *filename);

/* ---- questions (src/question.c) --------------------------------------- */

typedef struct question {
    uintptr_t *held;
    size_t n_held, held_cap;
    rc_discount_addr *disc;
    size_t n_disc, disc_cap;
    int tools; /* capture the tool's objects too (RC_CAPTURE_TOOLS) */
} question;

typedef struct analysis {
    rc_graph *g;
    rc_discount *disc;
    size_t n_disc;
    uint8_t *kinds;
    rc_paths *paths;
} analysis;

void question_free(question *q);
/* The caller holds one reference to obj (its stack slot for an argument). */
int question_hold(question *q, PyObject *obj);
int question_discount(question *q, PyObject *from, PyObject *to, uint32_t count);
/* Discount the calling (non-tool) frame's variables that refer to any of
 * targets[0..n). */
int question_caller(PyObject *module, question *q, PyObject *const *targets, size_t n);

void analysis_free(analysis *a);
/* Hold the cyclic collector off while an answer of several chains is built:
 * an allocation could start a collection, whose finalizers run Python code,
 * and other threads with it, before the later chains read their labels
 * (see chain_read in src/chain.c).  Returns what rc_gc_resume() needs. */
int rc_gc_pause(void);
void rc_gc_resume(int paused);
/* What analyse() computes besides the capture (both edge directions, the
 * question's discounts mapped to node ids). */
enum {
    AN_SIZES = 1, /* shallow sizes */
    AN_KINDS = 2, /* a->kinds, the root kinds */
    AN_PATHS = 4, /* a->paths, the whole BFS (needs AN_KINDS) */
    AN_ALL = AN_SIZES | AN_KINDS | AN_PATHS,
    /* Only what chains back from the question's held objects need: gc
     * objects and the held ones (RC_CAPTURE_CONTAINERS) */
    AN_CHAINS_BACK = 8,
    /* The nodes' address order (RC_CAPTURE_ADDR_ORDER) */
    AN_ADDR_ORDER = 16
};
/* On failure an exception is set and *a is empty. */
int analyse(PyObject *module, const question *q, unsigned what, analysis *a);
/* Whether something besides the question holds v: C code, or a referrer
 * other than a tool frame and the question's discounted handles. */
int held_by_others(const analysis *a, rc_id v);
struct rc_hood;
/* _neighbourhood's answer (src/render_glue.c) once taken[k] stands for
 * h->ids[k]: (objects, edges, more, root kinds from a->kinds, refcounts
 * from a->g less the ignored referrers ign[0..n_ign), capped).  NULL with
 * an exception set. */
PyObject *rc_hood_result(const analysis *a, const struct rc_hood *h, PyObject *const *taken,
                         const uintptr_t *ign, size_t n_ign);
/* rc_capture_hold() (refchain/capture.h) with MemoryError set when it
 * fails; ids NULL takes every node (len its count).  Drop them with
 * rc_capture_release(). */
PyObject **take_objects(const rc_graph *g, const rc_id *ids, size_t len);
/* A new list of objs[0..n) (new references). */
PyObject *rc_list_of(PyObject *const *objs, size_t n);
/* The addresses of objs[0..n), as the walker's look-ups take them
 * (rc_graph_find_many, rc_select_addrs...): rc_malloc'ed, room for at
 * least one, or NULL when out of memory (no exception set: the caller
 * raises, or returns RC_ENOMEM, as it reports its other failures). */
uintptr_t *rc_addrs_of(PyObject *const *objs, size_t n);

/* A walker callback that asks Python about a node: bool(fn(refs[v])), as
 * 1 or 0, or -1 with the exception set.  refs from take_objects(g, NULL, ...). */
typedef struct node_call {
    PyObject *fn;
    PyObject *const *refs;
} node_call;
int node_call_truth(void *ctx, rc_id v);

/* objgraph's extra_ignore as a sorted address set (refchain/held.h), with
 * extra[0..n_extra) added; `ignore` NULL is empty.  With ids_only every item
 * must be an int; otherwise items match ids as objgraph's set does (an
 * item's __eq__ may run, and its exception propagates).  Call it before the
 * capture.  rc_malloc'ed (*n entries); NULL with an exception set. */
uintptr_t *ignore_addrs(PyObject *ignore, int ids_only, const uintptr_t *extra, size_t n_extra,
                        size_t *n);

/* _label_path(objs, edges, start=0, limit=0) (labels.c). */
PyObject *rc_label_path_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* ---- the result types' shared parts (end of src/module.c) ---------------- */

/* tp_new of the result types: only refchain's questions make them
 * (TypeError "cannot create 'refchain.X' instances; use refchain.f()"). */
PyObject *rc_no_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs);
/* Store tp (a new type, or NULL after a failed PyType_FromSpec*) in *slot
 * and add it to module under its name after the last dot; the module state
 * owns the reference it is given, the module another.  -1 with an exception
 * set (*slot, when set, is left for the module's m_clear). */
int rc_add_type(PyObject *module, PyTypeObject *tp, PyTypeObject **slot);
/* A new instance of tp (an rc_tool type: tp_basicsize bytes, the fields
 * after the rc_tool header uninitialised), registered with the module;
 * NULL with an exception set. */
PyObject *rc_tool_new(PyObject *module, PyTypeObject *tp);
/* The tail of an rc_tool type's tp_dealloc, once its own fields are freed:
 * unregister, free the object, drop the type's reference. */
void rc_tool_dealloc(PyObject *op);

#endif
