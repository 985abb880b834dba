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
 * rc_relate_path() is the presentation pass over a path of such relations:
 * a few references read as one step (module -> its __dict__ -> value reads
 * `['name']`, instance -> __dict__ -> value `.name`, function ->
 * __closure__ -> cell -> value `closure 'x'`, frame -> f_globals -> value
 * `global 'x'`).
 *
 * Like capture.h, this header names PyObject `struct _object`. */
#ifndef REFCHAIN_RELATE_H
#define REFCHAIN_RELATE_H

#include <stddef.h>

#include "refchain/status.h"

struct _object;

typedef enum rc_relate_mode {
    RC_RELATE_LIVE,   /* on objects held by strong references: may allocate */
    RC_RELATE_CAPTURE /* inside a capture: no Python object, no Python code */
} rc_relate_mode;

typedef enum rc_rel_kind {
    RC_REL_FALLBACK,   /* nothing names it: `<referent #k>` */
    RC_REL_TEXT,       /* a fixed text: `<atexit callback>`, `key of dict`, `member` */
    RC_REL_KEY,        /* a dict's value: `[key]` */
    RC_REL_INDEX,      /* a list, tuple or deque item: `[i]` */
    RC_REL_ATTR,       /* a named field or attribute: `.name` */
    RC_REL_NAMESPACE,  /* a module's, class's or instance's __dict__ */
    RC_REL_CLOSURE,    /* a function's __closure__ tuple */
    RC_REL_CELL,       /* a cell's contents */
    RC_REL_LOCAL,      /* a frame's or generator's variable: `local 'x'` */
    RC_REL_CELL_LOCAL, /* the cell of a frame's cell variable */
    RC_REL_GLOBALS,    /* a frame's f_globals */
    RC_REL_LOCALS_DICT, /* a dict a frame holds that is none of its variables */
    RC_REL_LRU_CACHE,   /* an lru_cache wrapper's cache dict */
    RC_REL_LOCAL_DICTS  /* a threading.local's dict of per-thread dicts */
} rc_rel_kind;

/* How a namespace's entries read (RC_REL_NAMESPACE). */
enum { RC_NS_ITEM, RC_NS_ATTR };

typedef struct rc_relation {
    rc_rel_kind kind;
    /* The label when this reference is read alone: UTF-8, rc_malloc'ed,
     * owned by the relation, never NULL after RC_OK. */
    char *text;
    /* RC_REL_KEY: the key as an attribute name reads it (`name` for a str
     * key, `[repr]` otherwise) and the key's repr; RC_REL_LOCAL and
     * RC_REL_CELL_LOCAL: the variable name's repr.  Owned, or NULL. */
    char *attr;
    char *repr;
    /* RC_REL_NAMESPACE: RC_NS_ITEM or RC_NS_ATTR; RC_REL_INDEX: the index. */
    long number;
    /* Borrowed, valid as long as the referrer: RC_REL_CLOSURE the function's
     * code; RC_REL_CELL_LOCAL the cell's contents. */
    struct _object *aux;
} rc_relation;

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
} rc_relate_ctx;

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

/* Free what a relation owns and zero it; NULL-safe. */
void rc_relation_clear(rc_relation *rel);

typedef struct rc_label_step {
    size_t end;  /* the label names the references up to objs[end] */
    char *label; /* UTF-8, rc_malloc'ed, never NULL */
} rc_label_step;

/* The labels of the references objs[start] -> objs[start + 1] -> ...
 * -> objs[n - 1] (edges[i], for i < n_edges, the index of objs[i + 1] among
 * objs[i]'s referents), at most `limit` steps (limit 0: no limit).  One step
 * may span several references (its `end` says where it stops).  The
 * objects must stay alive and no Python code may run during the call (the
 * caller holds them; relate runs none).  RC_RELATE_LIVE is the mode meant
 * here: the C futures' fields need it.  *steps (rc_free() each label, then the array: see rc_label_steps_free) and
 * *n_steps receive the steps.  RC_OK; RC_ENOMEM with nothing allocated. */
rc_status rc_relate_path(const rc_relate_ctx *ctx, struct _object *const *objs, size_t n,
                         const long *edges, size_t n_edges, size_t start, size_t limit,
                         rc_label_step **steps, size_t *n_steps);

/* Free steps[0..n) and the array; NULL-safe. */
void rc_label_steps_free(rc_label_step *steps, size_t n);

/* The name of thread `ident` of this interpreter (one of n_threads, see
 * rc_frame_thread in refchain/pycompat.h), as threading names it: its
 * Thread's _name, read in place (never through a property a subclass
 * defines), else "MainThread" for the main thread when threading was never
 * imported, else its number.  No user code runs (in RC_RELATE_LIVE mode on
 * 3.13+ it may call _thread._get_main_thread_ident, C).  UTF-8,
 * rc_malloc'ed; NULL when out of memory. */
char *rc_thread_name(const rc_relate_ctx *ctx, unsigned long ident, size_t n_threads);


#endif
