/* Relate: naming one reference, and the labels of a chain of references.
 *
 * A reference is an edge of tp_traverse: a referrer, a referent, and the
 * referent's index among the referrer's referents.  rc_relate() names it:
 * a kind (dict key, index, attribute, variable...) and the text a person
 * reads for it alone (`['_CACHE']`, `[3]`, `.active`, `local 'x'`).
 *
 * rc_relate() only reads object layouts: it calls no Python code, creates
 * no Python object and takes no reference, so it may run inside a capture
 * for every edge (RC_RELATE_CAPTURE).  RC_RELATE_LIVE may also create
 * Python objects (an int's repr past 64 bits), on objects the caller holds.
 *
 * A relation (refchain/present.h) is plain C data: it holds all that the
 * presentation of a chain reads (a key's repr, a closure's variable names,
 * a thread's name), so a snapshot stores it per edge (rc_relation_encode)
 * and presents its chains offline exactly as live.  rc_relate_out() names
 * all of a referrer's references in one pass.
 *
 * rc_relate_path() relates each reference of a path and presents them
 * (rc_present): a few references read as one step (module -> its __dict__
 * -> value reads `['name']`, instance -> __dict__ -> value `.name`,
 * function -> __closure__ -> cell -> value `closure 'x'`, frame ->
 * f_globals -> value `global 'x'`).
 *
 * Like capture.h, this header names PyObject `struct _object`. */
#ifndef REFCHAIN_RELATE_H
#define REFCHAIN_RELATE_H

#include <stddef.h>

#include "refchain/graph.h"
#include "refchain/paths.h"
#include "refchain/present.h"
#include "refchain/status.h"

struct _object;

/* What relate learns once per type (the classes it is an instance of, its
 * member fields), kept across calls: see rc_relate_ctx.memo. */
typedef struct rc_relate_memo rc_relate_memo;

typedef enum rc_relate_mode {
    RC_RELATE_LIVE,   /* on objects held by strong references: may allocate */
    RC_RELATE_CAPTURE /* inside a capture: no Python object, no Python code */
} rc_relate_mode;

/* The classes relate recognises by identity, found in the already-imported
 * modules' dicts (never imported, never matched by name).  Borrowed: valid
 * while no Python code runs after rc_relate_ctx_init(). */
typedef struct rc_relate_ctx {
    rc_relate_mode mode;
    struct _object *deque;        /* _collections.deque */
    struct _object *lru_wrapper;  /* _functools._lru_cache_wrapper */
    struct _object *local;        /* _thread._local */
    struct _object *c_future[2];  /* _asyncio.Task, _asyncio.Future */
    struct _object *py_future[2]; /* asyncio.tasks._PyTask, asyncio.futures._PyFuture */
    struct _object *context;      /* _contextvars.Context */
    struct _object *simple_queue; /* _queue.SimpleQueue */
    /* NULL, or from rc_relate_memo_new(): then what relate learns of a type
     * is kept, under the same rule (no Python code runs meanwhile), and
     * every later parent of that type reuses it.  A dump relates a million
     * parents of a few hundred types. */
    rc_relate_memo *memo;
} rc_relate_ctx;

/* A memo, or NULL on ENOMEM (relate works without one). */
rc_relate_memo *rc_relate_memo_new(void);
void rc_relate_memo_free(rc_relate_memo *memo);

/* Fill ctx from sys.modules.  Reads dicts only (no lookup that compares
 * keys), creates nothing; call it with the GIL held, before a capture's walk
 * for RC_RELATE_CAPTURE.  Cannot fail: a module not imported leaves its
 * class NULL. */
void rc_relate_ctx_init(rc_relate_ctx *ctx, rc_relate_mode mode);

/* Name the reference referrer -> referent, `index` being the referent's
 * position among the referrer's tp_traverse referents (-1 when unknown).
 * Fills *out (free it with rc_relation_clear()).  The C asyncio futures'
 * fields are named in RC_RELATE_LIVE mode only (through their C getters);
 * in RC_RELATE_CAPTURE mode they read `<referent #k>`.  RC_OK, or RC_ENOMEM with *out cleared; in
 * RC_RELATE_LIVE mode RC_EPYTHON cannot happen (an exception from an int's
 * repr is cleared). */
rc_status rc_relate(const rc_relate_ctx *ctx, struct _object *referrer, struct _object *referent,
                    long index, rc_relation *out);

/* Name every reference of `parent` at once: children[k] its k-th referent
 * (the graph's out-edge order; k is the `index` rc_relate takes), out[k]
 * receiving exactly what rc_relate(ctx, parent, children[k], k, &out[k])
 * gives.  O(n + the size of parent) for dicts, sets, deques, lists,
 * tuples, modules, classes and instances (each lookup rc_relate makes by
 * scanning is made through a table built once).  Same promises as
 * rc_relate in each mode (in RC_RELATE_CAPTURE mode: no Python object, no
 * Python code, no reference taken).  RC_OK; RC_ENOMEM with out[0..n)
 * zeroed (nothing owned). */
rc_status rc_relate_out(const rc_relate_ctx *ctx, struct _object *parent,
                        struct _object *const *children, size_t n, rc_relation *out);

/* The labels of the references objs[start] -> objs[start + 1] -> ...
 * -> objs[n - 1] (edges[i], for i < n_edges, the index of objs[i + 1] among
 * objs[i]'s referents), at most `limit` steps (limit 0: no limit).  One step
 * may span several references (its `end` says where it stops).  The
 * objects must stay alive and no Python code may run during the call (the
 * caller holds them; relate runs none).  RC_RELATE_LIVE is the mode meant
 * here: the C futures' fields need it.  It is rc_relate on each reference
 * it reads (at most 3 * limit of them), then rc_present.  *steps (rc_free() each label, then the array: see rc_label_steps_free) and
 * *n_steps receive the steps.  RC_OK; RC_ENOMEM with nothing allocated. */
rc_status rc_relate_path(const rc_relate_ctx *ctx, struct _object *const *objs, size_t n,
                         const long *edges, size_t n_edges, size_t start, size_t limit,
                         rc_label_step **steps, size_t *n_steps);

/* What names a live graph's references for grouping (refchain/paths.h's
 * rc_hop_names, from rc_relate_hops_open): ctx in RC_RELATE_CAPTURE
 * mode, as a dump's labels are made, so that a live graph and its snapshot
 * group alike. */
typedef struct rc_relate_hops {
    rc_relate_ctx ctx;
    const rc_graph *g; /* captured live, with every reference (no pruning) */
} rc_relate_hops;

/* What names g's references for grouping, until rc_relate_hops_close(h):
 * whether parent's edge-th out-edge is positional (rc_relation_positional
 * of what rc_relate names it).  It reads the objects at g's addresses: only
 * while no Python code has run since g was captured (see rc_capture_hold);
 * runs none.  Without a memo (out of memory) it relates without one. */
rc_hop_names rc_relate_hops_open(rc_relate_hops *h, const rc_graph *g);
void rc_relate_hops_close(rc_relate_hops *h);

/* The name of thread `ident` of this interpreter (one of n_threads, see
 * rc_frame_thread in refchain/pycompat.h), as threading names it: its
 * Thread's _name, read in place (never through a property a subclass
 * defines), else "MainThread" for the main thread when threading was never
 * imported, else its number.  No user code runs (in RC_RELATE_LIVE mode on
 * 3.13+ it may call _thread._get_main_thread_ident, C).  UTF-8,
 * rc_malloc'ed; NULL when out of memory. */
char *rc_thread_name(const rc_relate_ctx *ctx, unsigned long ident, size_t n_threads);


#endif
