/* CPython internals refchain reads, behind one door.
 *
 * Every function here stands for a private layout or API that the public
 * C API does not offer on some of the versions refchain supports.  Each says
 * which versions it serves and why; walker/pycompat.c is the only file that
 * includes CPython's internal headers.  Like capture.h, this header names
 * PyObject as `struct _object` so that it needs no Python.h.
 *
 * None of these runs Python code, creates an object or takes a reference. */
#ifndef REFCHAIN_PYCOMPAT_H
#define REFCHAIN_PYCOMPAT_H

#include <stddef.h>

struct _object;
struct _ts;

/* The first thread state of the calling thread's interpreter (never another
 * interpreter's); walk on with PyThreadState_Next().  The GIL, held, keeps
 * the list still.  (3.8 has no PyThreadState_GetInterpreter.) */
struct _ts *rc_thread_head(void);
/* A new reference to the thread's innermost frame, or NULL (3.11+
 * materialises it: an allocation; it clears an allocation failure). */
struct _object *rc_thread_frame(struct _ts *t);
/* threading.get_ident()'s number for the thread (PyThreadState_GetID is
 * another counter). */
unsigned long rc_thread_ident(struct _ts *t);
/* A new reference to the frame's caller, or NULL (with an exception set if
 * 3.11+ could not materialise it). */
struct _object *rc_frame_back(struct _object *frame);

/* The thread of this interpreter whose stack holds `frame`: 1 with *ident
 * its threading.get_ident() number, or 0; *n_threads the number of this
 * interpreter's threads either way.  3.11+ materialises the frames it
 * walks (rc_thread_frame); -1 with an exception set if that failed.  Builds
 * no dict of frames (one held in a Python local makes a cycle). */
int rc_frame_thread(struct _object *frame, unsigned long *ident, size_t *n_threads);

/* numpy's ndarray, found by name in tp's chain of bases (a static type
 * named "numpy.ndarray" whose instances are laid out as numpy's
 * PyArrayObject_fields), or NULL.  The name alone does not make it numpy's:
 * a caller that reads through the base must check where its code lies. */
struct _typeobject *rc_array_type(struct _typeobject *tp);
/* The object an array of that type keeps alive (a view's base array, the
 * bytes or buffer owner under np.frombuffer), read in place from the
 * layout numpy 1.x and 2.x share: borrowed, or NULL. */
struct _object *rc_array_base(struct _object *op);

/* The object a memoryview's managed buffer holds (what memoryview.obj
 * returns), borrowed; NULL when op is no managed buffer or holds none.
 * 3.8-3.12 export _PyManagedBuffer_Type; 3.13 keeps the struct public but
 * not the type, which is then told by its name and instance size. */
struct _object *rc_managed_buffer_obj(struct _object *op);

/* Whether tp is a node type of CPython's HAMT (Python/hamt.c: bitmap,
 * array and collision nodes), the mapping of a contextvars.Context.  The
 * types are internal on every version, so told by their names (static
 * types only); callers read their referents through tp_traverse, never
 * their layout. */
int rc_hamt_node_type(struct _typeobject *tp);

/* tracemalloc's traceback of the memory block of obj, a new reference to
 * ((filename, lineno), ...) most recent first, or to None (untraced, or a
 * static type): with rc_alloc_traceback_counts, the functions here that
 * create objects.  tracemalloc
 * records where each block starts; an object starts after its pre-header
 * (the GC header, and from 3.11 the managed dict/weakref pointers), which
 * CPython 3.11's own get_object_traceback() miscounts for instances of
 * plain classes.  _PyTraceMalloc_GetTraceback is exported by every version
 * but declared only in the internal headers from 3.13. */
struct _object *rc_alloc_traceback(struct _object *obj);

/* A new dict {frames: count}: rc_alloc_traceback() of each object of a list
 * or tuple, counted per distinct traceback; objects with none are skipped
 * (NULL with an exception set on failure, TypeError for a non-sequence).  What
 * allocation_sites() did per object in Python, in one loop in C: a report
 * then reads each distinct traceback once, not each of a million objects. */
struct _object *rc_alloc_traceback_counts(struct _object *objects);

/* Hide the running thread's Python frames (rc_frames_hide returns them) and
 * show them again, around a batch of rc_alloc_traceback calls, with no
 * Python code run between.  Each tuple those make reuses a free-list slot,
 * for which tracemalloc records the running stack as where it was made:
 * with the frames hidden that is the empty traceback, found at once, not a
 * walk of the stack with a line-table search per frame (two per object),
 * and refchain's temporaries are not charged to the caller's line.  A no-op
 * on 3.14+. */
void *rc_frames_hide(void);
void rc_frames_show(void *top);

/* What the exact builtin's own __sizeof__ returns for a str (kind 0), an
 * int (1) or a list (2), read from the object's layout instead of calling
 * it (a call makes and frees an int); -1 where the layout is one this does
 * not read (a str with a cached UTF-8 or wchar_t copy, a legacy str, 3.14+),
 * and the caller calls __sizeof__.  The str and int layouts are the public
 * struct fields of cpython/unicodeobject.h and longintrepr.h; whether a
 * version's __sizeof__ counts them the same way is checked by the caller
 * (capture.c's check_inline_sizes), on sample objects, before it uses
 * these.  Never allocates. */
enum { RC_SIZEOF_STR, RC_SIZEOF_INT, RC_SIZEOF_LIST, RC_SIZEOF_DICT, RC_SIZEOF_KINDS };
long rc_builtin_sizeof(struct _object *op, int kind);

/* The variables of a running or finished frame, or of a generator,
 * coroutine or async generator, read in place: the one reader of frame
 * variables (capture, the caller's discount and relate all use it).
 *   slots: borrowed, its locals, then its cell and free variables (a cell or
 *          free slot holds the cell once the function has started), in the
 *          order of co_varnames + co_cellvars + co_freevars before 3.11 and
 *          of co_localsplusnames from 3.11; a slot may be NULL (unbound);
 *   n:     their number;
 *   code:  the code object that names them (borrowed);
 *   frame: the frame object (borrowed), or NULL: a generator's frame on
 *          3.11+ until something asks for it (reading gi_frame creates one).
 * Returns 1 when it filled *out; 0 (and *out zeroed) for another object, a
 * finished generator, or where this interpreter's frame layout is unknown to
 * refchain (3.14+: tagged stack references).  3.11-3.13 read the
 * _PyInterpreterFrame (pycore_frame.h); before 3.11 the frame object's
 * public fields.  From 3.11 a generator holds its frame's data itself, and
 * its tp_traverse visits the slots.  Never allocates. */
typedef struct rc_frame_vars {
    struct _object *const *slots;
    size_t n;
    struct _object *code;
    struct _object *frame;
} rc_frame_vars;
int rc_frame_vars_read(struct _object *frame_or_gen, rc_frame_vars *out);

/* The name of variable slot i of a frame running `code` (borrowed; NULL past
 * its names), and in *is_cell whether it is a cell or free variable.  3.11+
 * reads co_localspluskinds, whose bits (CO_FAST_CELL, CO_FAST_FREE) are
 * private to pycore_code.h; reading co_varnames instead would cache a new
 * tuple on the code object. */
struct _object *rc_code_slot_name(struct _object *code, size_t i, int *is_cell);

/* The name of the code's k-th free variable: the one its function's
 * __closure__[k] holds (borrowed, or NULL).  co_freevars on 3.11+ would cache
 * a new tuple on the code object. */
struct _object *rc_code_freevar_name(struct _object *code, size_t k);

/* The frame object a frame object's f_back field holds (borrowed, or NULL):
 * what its tp_traverse visits as its caller.  PyFrame_GetBack() would
 * create the caller's frame object on 3.11+.  3.11-3.13: the field of the
 * internal struct _frame; NULL on 3.14+ (layout unknown). */
struct _object *rc_frame_back_field(struct _object *frame);

/* 3.11-3.13: the inline attribute values of an instance whose class keeps
 * them out of a dict (Py_TPFLAGS_MANAGED_DICT, INLINE_VALUES on 3.13),
 * borrowed, *n their number; slot i is named by rc_inline_name(op, i).
 * NULL (*n = 0) when it has none (its attributes are in a dict: see
 * rc_object_dict) or on other versions.  The values and their names are
 * private layouts (pycore_dict.h, pycore_object.h): 3.11 keeps a values
 * pointer four words before the object, 3.12 a tagged pointer three words
 * before it, 3.13 the values after the object (tp_basicsize), with a valid
 * flag; their names are the type's shared keys (ht_cached_keys), entry i
 * naming value i.  Never allocates. */
struct _object *const *rc_inline_values(struct _object *op, size_t *n);
/* The name (a str, borrowed) of inline value i of op, or NULL. */
struct _object *rc_inline_name(struct _object *op, size_t i);

/* Whether the frame's own tp_traverse leaves out its slots and its f_locals
 * mapping: on 3.11+, a frame still running on its thread's stack (owned by
 * the thread, not by the frame object or a generator). */
int rc_frame_hides_slots(struct _object *frame);

/* The f_locals mapping a running frame holds (borrowed, or NULL): before
 * 3.13 a function's f_locals snapshot dict once something has read f_locals;
 * at module level the globals; in a class body its namespace. */
struct _object *rc_frame_locals_mapping(struct _object *frame);

/* The object's own __dict__ (borrowed), or NULL when it has none yet: never
 * created by asking (reading obj.__dict__, or _PyObject_GetDictPtr() on a
 * 3.12+ instance with inline values, would create it).  On 3.11 to 3.13 an
 * instance of a class with a managed dict keeps it in the word three
 * pointers before the object (tagged as values on 3.12); other objects
 * (modules, types, functions, C types with a __dict__) have a dict offset.
 * NULL for a managed dict on 3.14+ (layout unknown, untested). */
struct _object *rc_object_dict(struct _object *op);

/* 3.13: the materialised __dict__ of an instance whose inline values are
 * still valid, borrowed.  tp_traverse (PyObject_VisitManagedDict) then
 * visits the values and not the dict, although the instance holds a strong
 * reference to it: reading obj.__dict__ (dir() does) makes such a dict.
 * NULL otherwise and on other versions, where a materialised dict replaces
 * the inline values and tp_traverse visits it.  Never allocates. */
struct _object *rc_unvisited_dict(struct _object *op);

/* A type's dict of weak references to its subclasses (what __subclasses__()
 * lists), borrowed, or NULL.  Its tp_traverse never visits it: the type
 * alone holds it.  NULL for a static builtin type from 3.12 (the
 * interpreter keeps that one) and for any static type on 3.14+ (untested).
 * Never allocates. */
struct _object *rc_type_subclasses(struct _object *type);

/* Call visit(obj, arg) on the func, args and kwargs of each callback
 * registered with atexit in the running interpreter, as a tp_traverse
 * would (a nonzero return stops and is returned; 0 at the end).  3.10 to
 * 3.13 keep them in the interpreter state, which no traversal reports
 * (walker/pycompat_interp.c reads it in place); before 3.10 the atexit
 * module's own traversal visits them, and 3.14+ is not read: 0 at once.
 * Needs the GIL; runs no Python code, never allocates. */
int rc_atexit_visit(int (*visit)(struct _object *, void *), void *arg);

/* The next (key, hash) of dict d from *pos, the hash being the one d
 * stored with the key, read without calling user code: 1, or 0 at the end.
 * *known is 0 when the hash cannot be read that way.  3.8 to 3.12:
 * _PyDict_Next().  3.13 no longer exports it: the entry PyDict_Next() just
 * returned is read in the keys object (pycore_dict.h's layout), trusted
 * only when its key and value are the ones PyDict_Next() returned; else
 * the hash is computed again when that runs no Python code, and else it is
 * unknown. */
int rc_dict_next_hash(struct _object *d, ptrdiff_t *pos, struct _object **key, ptrdiff_t *hash,
                      int *known);

/* The thread of this interpreter whose threading.local dicts are stored
 * under `key` in every _thread._local's dict of dicts: 1 with *ident its
 * threading.get_ident() number, or 0; *n_threads the number of this
 * interpreter's threads either way.  The key is the thread's own localdummy
 * on 3.13+ (its thread state's threading_local_key), and before that a weak
 * reference to the localdummy that the thread state's dict holds (under a
 * key of the local's own).  Compares by identity only; the GIL, held, keeps
 * the thread list still.  Never allocates. */
int rc_local_key_thread(struct _object *key, unsigned long *ident, size_t *n_threads);

#endif
