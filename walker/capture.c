/* Heap capture (see refchain/capture.h).
 *
 * Phases, each finished before the next starts:
 *   0. Python code may run: automatic collection is turned off, and names
 *      are interned.
 *   1. Enumeration.  Every gc-tracked object of this interpreter is listed:
 *      PyUnstable_GC_VisitObjects() from 3.12, before that the collector's
 *      generation lists read in place once their layout checks out (see
 *      tracked_list below), else gc.get_objects()'s C function (called
 *      through the gc module's method table, never the replaceable module
 *      attribute).  get_objects() raises an audit event first, and audit
 *      hooks may be Python code: THIS IS THE LAST POINT AT WHICH PYTHON CODE
 *      CAN RUN until the capture returns.
 *      Then the frames of this interpreter's threads (never another
 *      interpreter's) are recorded through the C API (thread states, their
 *      frames, f_back): sys._current_frames is not called, since anyone may
 *      replace it.  On 3.11+ this materialises frame objects: allocations
 *      only, with collection off.  Each recorded frame is held (a strong
 *      reference) until the capture ends, and its refcount is read less that
 *      reference.  On 3.11+ a running frame's traversal omits its variables,
 *      so what it holds is read in place (pycompat.h: slots, f_locals
 *      mapping, globals) and kept as (frame, value) pairs: never through
 *      f_locals, which refreshes a snapshot dict, drops references and so
 *      runs deallocators and __del__, which may release the GIL and let
 *      another thread return from a recorded frame.
 *      A gc.get_objects() list is released before any refcount is read (its
 *      items were alive before it existed and nothing ran since), so the
 *      recorded refcounts are exactly the heap's.
 *   2. The walk: nodes are expanded in id order.  Each node's type is
 *      interned, its size and refcount recorded, and its references taken
 *      from tp_traverse, plus the recorded frame pairs, the str keys that
 *      dict traversal omits, and (3.10-3.13) the atexit callbacks that the
 *      interpreter state keeps for the atexit module, read in place.  No
 *      Python code runs and no Python object is created here, step by step:
 *        - tp_traverse is C and only calls our visit(), which appends to a
 *          C array (a traverse that ran code would break the collector too);
 *        - type names and __module__ are read from the type's fields and by
 *          scanning its dict for exact str keys (a dict lookup would call a
 *          colliding user key's __eq__), the same for finding __sizeof__
 *          along the MRO; the heap types found by their name (class roots,
 *          see find_named_classes) are read the same way, by one scan of
 *          sys.modules, each module's md_dict and those classes' dicts,
 *          names compared in place;
 *        - a size comes from the layout, or from a C __sizeof__ whose code
 *          lies in CPython's own image, its standard extension modules, or
 *          numpy's core (decided by where the code is, with dladdr, never by
 *          a type's name): these read fields and return a small int, freed
 *          at once (see type_sizing);
 *        - dict keys are read with PyDict_Next, which compares nothing.
 *      Every address recorded in phase 1 or 2 is still valid when read:
 *      nothing can free an object while no Python code runs and collection
 *      is off, and the frames are held.
 *   3. The graph is frozen, the frames released (each still referenced by
 *      its running thread: nothing is freed) and collection restored.
 *
 * A census (rc_capture_census) walks with a counter instead of a builder,
 * and begins phase 2 during the enumeration: each tracked object is
 * expanded as the enumeration reaches it (seed_tracked).  Everything phase
 * 1 may run has run by then (the audit hooks, the frames), and expanding
 * creates no gc-tracked object, so the lists being walked stay as they are.
 *
 * Dict keys need care: tp_traverse omits the keys of a dict whose keys are
 * all str (they cannot form cycles), but those keys are real references and
 * real objects.  A combined-table dict whose traversal skipped its keys gets
 * explicit key edges; the keys of a split-table dict belong to the shared
 * keys object, not to the dict, so they become nodes without an edge. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/pycompat.h"

#include "refchain/alloc.h"
#include "refchain/capture.h"
#include "refchain/census.h"
#include "refchain/pool.h"
#include "refchain/strutil.h"

#ifdef Py_GIL_DISABLED
#error "refchain does not support free-threaded CPython builds yet"
#endif

#if PY_VERSION_HEX < 0x03090000
#define PyObject_GC_IsTracked(op) _PyObject_GC_IS_TRACKED(op)
#define Py_IS_TYPE(op, tp) (Py_TYPE(op) == (tp))
#endif

#define GC_HEAD_SIZE (2 * sizeof(void *))

/* Whether op, a gc object, is tracked: its PyGC_Head's _gc_next, the word
 * 16 bytes before it on every supported version, is not 0 (what
 * PyObject_GC_IsTracked reads, without the call and its type checks). */
static inline int
gc_tracked(PyObject *op)
{
    return ((const uintptr_t *)op)[-2] != 0;
}
#ifndef Py_TPFLAGS_PREHEADER
#define Py_TPFLAGS_PREHEADER 0
#endif

enum { SIZE_BASIC, SIZE_CALL };
enum { TYPE_CACHE = 256 };

/* How to size an instance of a type. */
typedef struct sizing {
    int strategy;
    PyCFunction fn; /* SIZE_CALL: a trusted METH_NOARGS __sizeof__ */
    int inline_kind; /* SIZE_CALL: an RC_SIZEOF_* that reads what fn returns, or -1 */
    /* numpy's ndarray (or a subclass), its code numpy's own: follow the
     * array's base, which ndarray (not a GC type) never traverses. */
    int array_base;
} sizing;

/* A running frame's reference to one of its local variables. */
typedef struct frame_ref {
    uintptr_t frame, value;
} frame_ref;

/* A frame found on a thread's stack, with its node flags. */
typedef struct frame_info {
    uintptr_t frame;
    unsigned flags;
} frame_info;

enum { TRUST_CACHE = 16 };

/* How many references a counter gathers before it reads their headers. */
enum { COUNT_BATCH = 64 };

typedef struct code_trust {
    const void *core_base;  /* CPython's own image */
    const char *stdlib_dir; /* realpath of DESTSHARED, or NULL */
    void (*refused)(void);  /* see rc_capture_opts.refused_sizeof */
    void (*layout)(void);   /* see rc_capture_opts.layout_sizeof */
    const void *bases[TRUST_CACHE];
    int verdicts[TRUST_CACHE];
    size_t n;
} code_trust;

/* CPython's cached small ints, -5 to 256 (NSMALLNEGINTS, NSMALLPOSINTS). */
#define RC_SMALL_INT_MIN (-5)
#define RC_SMALL_INTS 262

typedef struct walk {
    rc_builder *b;
    const rc_capture_opts *opts;
    int counting; /* a census: node flags but a tool frame's, and refcounts, unused */
    frame_ref *frame_refs; /* sorted by frame */
    size_t n_frame_refs, frame_refs_cap;
    frame_info *frames; /* sorted by frame */
    size_t n_frames, frames_cap;
    uintptr_t *held; /* sorted copy of opts->held */
    uint64_t held_filter[4]; /* bit (addr >> 4) % 256 set for each held addr */
    PyObject *modules;
    /* The heap types found by their name (find_named_classes), sorted,
     * gathered at the first heap type a capture expands. */
    uintptr_t *named;
    size_t n_named, named_cap;
    int named_built;
    PyObject *atexit; /* sys.modules' atexit module (borrowed), or NULL */
    PyObject *sizeof_name, *module_name;
    size_t static_type_extra;
    PyObject *small_ints[RC_SMALL_INTS]; /* -5 .. 256, borrowed: see small_int() */
    uintptr_t small_lo, small_hi;        /* the lowest and highest of their addresses */
    code_trust trust;
    /* This node's references, in tp_traverse order. */
    uintptr_t *scratch;
    size_t n_scratch, scratch_cap;
    rc_status visit_failed; /* why visit() last returned -1 */
    /* A counter's references not yet counted (count_batch). */
    PyObject *batch[COUNT_BATCH];
    size_t n_batch;
    /* Sizing per interned type id. */
    sizing *sizing;
    size_t sizing_cap, n_types;
    PyTypeObject *type_cache[TYPE_CACHE];
    uint32_t type_cache_id[TYPE_CACHE];
    /* Scratch for building type names. */
    char *name;
    size_t name_len, name_cap;
} walk;

/* sys.modules' atexit module, borrowed (sys.modules holds it and no Python
 * code runs before the walk ends), or NULL: the builtin module itself
 * (its definition's name), found by scanning the dict for the exact str key
 * (see dict_find_str).  From 3.10 the interpreter keeps its callbacks
 * (rc_atexit_visit): the module is who registered them, and as before 3.10
 * it is named as their holder.  Clears any error. */
static PyObject *dict_find_str(PyObject *dict, PyObject *name);

static PyObject *
atexit_module(PyObject *modules)
{
    PyObject *name = PyUnicode_FromString("atexit");
    PyObject *m = name ? dict_find_str(modules, name) : NULL;
    Py_XDECREF(name);
    PyModuleDef *def = m && PyModule_Check(m) ? PyModule_GetDef(m) : NULL;
    PyErr_Clear();
    return def && def->m_name && strcmp(def->m_name, "atexit") == 0 ? m : NULL;
}

/* ---- sizes ---------------------------------------------------------------- */

/* Whose code a C __sizeof__ is.  A type's name proves nothing (any
 * extension may call its type "_io.Anything"), so the decision is made by
 * where the function's machine code lives, found with dladdr():
 *   - CPython's own image (the executable or libpython), and the extension
 *     modules of its standard library (the interpreter's DESTSHARED
 *     directory): their __sizeof__ implementations read fields and run no
 *     Python code;
 *   - numpy's core extension (ndarray and scalar __sizeof__, reviewed: pure
 *     C), so that arrays weigh what sys.getsizeof says.
 * Anything else (a C function elsewhere, a __sizeof__ written in Python) is
 * never called: the object's layout size is recorded instead and its type
 * is flagged RC_TYPE_SIZE_LOWER_BOUND.  One CPython __sizeof__ is refused
 * (rc_capture_opts.refused_sizeof): _struct.Struct's reads a NULL pointer
 * on an instance whose __init__ never ran.  One is replaced by the layout
 * size (rc_capture_opts.layout_sizeof): from 3.12 _io.BytesIO's adds the
 * size of its buffer, a bytes object its tp_traverse visits, so the buffer
 * would count twice (on its own node and in the BytesIO).  Of the
 * standard library's other C __sizeof__ implementations (3.8-3.13:
 * bytearray, array, deque, OrderedDict, Struct, Pickler, Unpickler,
 * Buffered*, Element, Decimal, the itertools combinatorics, code, frames,
 * generators, re's Pattern and Match), none adds an object tp_traverse
 * visits: what they add is memory of their own (Pickler's output buffer
 * is a bytes object, but none that its traversal visits). */
/* The value of the str key equal to `name` in dict, or NULL; found by a scan
 * that compares exact str keys only: a lookup would call the __eq__ of any
 * user key whose hash equals the name's. */
static PyObject *
dict_find_str(PyObject *dict, PyObject *name)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    if (!dict || !PyDict_Check(dict)) {
        return NULL;
    }
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (key == name || (PyUnicode_CheckExact(key) && PyUnicode_Compare(key, name) == 0)) {
            return value;
        }
    }
    return NULL;
}

/* A type's namespace, borrowed.  From 3.12 a static builtin type keeps it in
 * the interpreter, not in tp_dict (PyType_GetDict gives a new reference,
 * which the type's own keeps valid once dropped). */
static PyObject *
type_dict(PyObject *type)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *dict = PyType_GetDict((PyTypeObject *)type);
    Py_XDECREF(dict);
    return dict;
#else
    return ((PyTypeObject *)type)->tp_dict;
#endif
}

/* What attribute lookup on tp finds for `name` along its MRO (borrowed), with
 * no user code run (see dict_find_str). */
static PyObject *
mro_find(PyTypeObject *tp, PyObject *name)
{
    PyObject *mro = tp->tp_mro;
    if (!mro || !PyTuple_Check(mro)) {
        return dict_find_str(type_dict((PyObject *)tp), name);
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        PyObject *found = PyType_Check(base) ? dict_find_str(type_dict(base), name) : NULL;
        if (found) {
            return found; /* the type's dict, which lives as long as it, holds it */
        }
    }
    return NULL;
}

static void
code_trust_init(code_trust *t, const rc_capture_opts *opts)
{
    Dl_info info;
    memset(t, 0, sizeof *t);
    t->stdlib_dir = opts->stdlib_dir;
    t->refused = opts->refused_sizeof;
    t->layout = opts->layout_sizeof;
    /* A slot's value is the function itself, never a PLT entry of
     * whichever image took the function's address. */
    if (dladdr((const void *)(uintptr_t)PyDict_Type.tp_repr, &info) && info.dli_fbase) {
        t->core_base = info.dli_fbase;
    }
}

/* Whether the image at `path` is a standard library extension or numpy's. */
static int
trusted_image_path(const code_trust *t, const char *path)
{
    char *real = realpath(path, NULL);
    int ok = 0;
    if (!real) {
        return 0;
    }
    const char *slash = strrchr(real, '/');
    size_t dir_len = slash ? (size_t)(slash - real) : 0;
    if (t->stdlib_dir && slash && strlen(t->stdlib_dir) == dir_len &&
        memcmp(real, t->stdlib_dir, dir_len) == 0) {
        ok = 1;
    } else if (slash && strncmp(slash + 1, "_multiarray_umath.", 18) == 0) {
        static const char *const numpy_dirs[] = {"/numpy/core", "/numpy/_core"};
        for (size_t i = 0; i < sizeof numpy_dirs / sizeof *numpy_dirs; i++) {
            size_t m = strlen(numpy_dirs[i]);
            ok |= dir_len >= m && memcmp(slash - m, numpy_dirs[i], m) == 0;
        }
    }
    free(real);
    return ok;
}

static int
trusted_code(code_trust *t, PyCFunction fn)
{
    Dl_info info;
    if (!dladdr((const void *)(uintptr_t)fn, &info) || !info.dli_fbase) {
        return 0;
    }
    if (info.dli_fbase == t->core_base) {
        return 1;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->bases[i] == info.dli_fbase) {
            return t->verdicts[i];
        }
    }
    int ok = info.dli_fname && trusted_image_path(t, info.dli_fname);
    if (t->n < TRUST_CACHE) {
        t->bases[t->n] = info.dli_fbase;
        t->verdicts[t->n++] = ok;
    }
    return ok;
}

/* The type of each RC_SIZEOF_* kind, and whether rc_builtin_sizeof() reads
 * what its own __sizeof__ returns on this interpreter: 1 yes, -1 no, 0 not
 * checked yet (once per process; interpreters with GILs of their own may
 * check at once, hence the atomic accesses: they store the same verdicts). */
static PyTypeObject *const inline_types[RC_SIZEOF_KINDS] = {&PyUnicode_Type, &PyLong_Type,
                                                            &PyList_Type, &PyDict_Type};
static int inline_verdict[RC_SIZEOF_KINDS];

/* The RC_SIZEOF_* kind whose size rc_builtin_sizeof() reads for instances
 * of tp, whose __sizeof__ is owner's: exact str, int, list and dict only,
 * once checked; else -1 (the call). */
static int
inline_kind(PyTypeObject *tp, PyTypeObject *owner)
{
    for (int k = 0; k < RC_SIZEOF_KINDS; k++) {
        if (tp == inline_types[k] && owner == tp &&
            __atomic_load_n(&inline_verdict[k], __ATOMIC_RELAXED) > 0) {
            return k;
        }
    }
    return -1;
}

/* Compare rc_builtin_sizeof() with the real __sizeof__ on sample objects of
 * each kind, once per process: a kind is read inline only when every sample
 * it can read agrees, and it can read some.  Makes and frees the samples
 * (str, int, list and dict: no Python code runs); call it before a walk. */
static void
check_inline_sizes(PyObject *sizeof_name)
{
    if (__atomic_load_n(&inline_verdict[0], __ATOMIC_RELAXED)) {
        return;
    }
    static const Py_UCS4 wide[] = {0x1F600, 0x41};
    PyObject *samples[RC_SIZEOF_KINDS][6] = {
        {PyUnicode_FromString(""), PyUnicode_FromString("refchain"),
         PyUnicode_FromString("caf\xc3\xa9"), PyUnicode_FromString("\xe2\x82\xac" "100"),
         PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, wide, 2), NULL},
        {PyLong_FromLong(0), PyLong_FromLong(1), PyLong_FromLong(-1),
         PyLong_FromLongLong(-(1LL << 62)), PyLong_FromString("123456789012345678901234567890",
                                                              NULL, 10), NULL},
        {PyList_New(3), PyList_New(0), NULL, NULL, NULL, NULL},
        {PyDict_New(), PyDict_New(), PyDict_New(), PyDict_New(), NULL, NULL},
    };
    PyObject *grown = samples[RC_SIZEOF_LIST][1];
    for (int i = 0; grown && i < 5; i++) {
        if (PyList_Append(grown, Py_None) < 0) { /* over-allocates */
            break;
        }
    }
    /* Dicts: empty, one str key, int keys (a general table), and grown to
     * two hundred str keys.  Hashing a str or an int runs no Python code. */
    for (int i = 0; i < 200; i++) {
        PyObject *key = i < 40 ? PyLong_FromLong(i) : PyUnicode_FromFormat("key%d", i);
        PyObject *d = samples[RC_SIZEOF_DICT][i < 40 ? 2 : 3];
        if (!key || !d || PyDict_SetItem(d, key, Py_None) < 0 ||
            (i == 0 && samples[RC_SIZEOF_DICT][1] &&
             PyDict_SetItemString(samples[RC_SIZEOF_DICT][1], "refchain", Py_None) < 0)) {
            Py_XDECREF(key);
            break;
        }
        Py_DECREF(key);
    }
    PyErr_Clear(); /* a failed sample is NULL and is skipped */
    for (int k = 0; k < RC_SIZEOF_KINDS; k++) {
        PyObject *d = mro_find(inline_types[k], sizeof_name);
        PyMethodDef *m = d && Py_IS_TYPE(d, &PyMethodDescr_Type)
                             ? ((PyMethodDescrObject *)d)->d_method
                             : NULL;
        PyCFunction fn = m && (m->ml_flags & ~METH_COEXIST) == METH_NOARGS ? m->ml_meth : NULL;
        int agreed = 0, disagreed = !fn;
        for (int i = 0; i < 6 && !disagreed; i++) {
            PyObject *op = samples[k][i];
            long mine = op ? rc_builtin_sizeof(op, k) : -1;
            PyObject *r = mine >= 0 ? fn(op, NULL) : NULL;
            Py_ssize_t theirs = r ? PyLong_AsSsize_t(r) : -1;
            Py_XDECREF(r);
            PyErr_Clear();
            if (mine >= 0) {
                agreed += theirs == mine;
                disagreed |= theirs != mine;
            }
        }
        __atomic_store_n(&inline_verdict[k], agreed && !disagreed ? 1 : -1, __ATOMIC_RELAXED);
        for (int i = 0; i < 6; i++) {
            Py_XDECREF(samples[k][i]);
        }
    }
}

/* How to size tp's instances.  Returns RC_TYPE_SIZE_LOWER_BOUND when the
 * type has a __sizeof__ of its own that will not be called, else 0. */
static unsigned
type_sizing(PyTypeObject *tp, PyObject *sizeof_name, code_trust *trust, sizing *out)
{
    out->strategy = SIZE_BASIC;
    out->fn = NULL;
    out->inline_kind = -1;
    PyObject *d = mro_find(tp, sizeof_name);
    if (!d) {
        return 0;
    }
    if (!Py_IS_TYPE(d, &PyMethodDescr_Type)) {
        return RC_TYPE_SIZE_LOWER_BOUND; /* a __sizeof__ written in Python */
    }
    PyMethodDescrObject *md = (PyMethodDescrObject *)d;
    PyTypeObject *owner = PyDescr_TYPE(md);
    if (owner == &PyBaseObject_Type ||
        ((md->d_method->ml_flags & ~METH_COEXIST) == METH_NOARGS &&
         (void (*)(void))md->d_method->ml_meth == trust->layout)) {
        /* object.__sizeof__, or one that adds a node's own size (BytesIO's
         * buffer on 3.12+): the layout size, computed here */
        return 0;
    }
    if ((md->d_method->ml_flags & ~METH_COEXIST) != METH_NOARGS ||
        !PyType_IsSubtype(tp, owner) ||
        (void (*)(void))md->d_method->ml_meth == trust->refused ||
        !trusted_code(trust, md->d_method->ml_meth)) {
        return RC_TYPE_SIZE_LOWER_BOUND;
    }
    out->strategy = SIZE_CALL;
    out->fn = md->d_method->ml_meth;
    out->inline_kind = inline_kind(tp, owner);
    return 0;
}

static int
is_gc(PyObject *op, PyTypeObject *tp)
{
    return PyType_IS_GC(tp) && (tp->tp_is_gc == NULL || tp->tp_is_gc(op));
}

/* sys.getsizeof()'s addition for the memory in front of the object.  It
 * changed with each release: 3.11 added the managed-dict pre-header, 3.12
 * applies it by type; 3.13 exempts static type objects, and since 3.12
 * releases differ there, 3.12 measures that case once per capture
 * (static_type_extra). */
static size_t
pre_header(PyObject *op, PyTypeObject *tp, size_t static_type_extra)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (Py_IS_TYPE(op, &PyType_Type) &&
        !PyType_HasFeature((PyTypeObject *)op, Py_TPFLAGS_HEAPTYPE)) {
        return static_type_extra;
    }
    return (PyType_IS_GC(tp) ? GC_HEAD_SIZE : 0) +
           (PyType_HasFeature(tp, Py_TPFLAGS_PREHEADER) ? 2 * sizeof(PyObject *) : 0);
#elif PY_VERSION_HEX >= 0x030B0000
    (void)op;
    (void)static_type_extra;
    return (PyType_IS_GC(tp) ? GC_HEAD_SIZE : 0) +
           (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT) ? 2 * sizeof(PyObject *) : 0);
#else
    (void)static_type_extra;
    return is_gc(op, tp) ? GC_HEAD_SIZE : 0;
#endif
}

static uint64_t
object_size(PyObject *op, PyTypeObject *tp, const sizing *s, size_t static_type_extra)
{
    Py_ssize_t size = -1;
    if (s->strategy == SIZE_CALL && s->inline_kind >= 0) {
        size = rc_builtin_sizeof(op, s->inline_kind);
    }
    if (s->strategy == SIZE_CALL && size < 0) {
        PyObject *r = s->fn(op, NULL);
        if (r) {
            size = PyLong_AsSsize_t(r);
            Py_DECREF(r);
        }
        if (size < 0 && PyErr_Occurred()) {
            PyErr_Clear();
        }
    }
    if (size < 0) {
        /* object.__sizeof__ */
        size = tp->tp_basicsize;
        if (tp->tp_itemsize > 0) {
            size += Py_SIZE(op) * tp->tp_itemsize;
        }
        if (size < 0) {
            size = tp->tp_basicsize;
        }
    }
    return (uint64_t)size + pre_header(op, tp, static_type_extra);
}

/* What sys.getsizeof() adds to a static type object's __sizeof__ on this
 * interpreter.  Calls only C code (type.__sizeof__); run it before a walk. */
static size_t
measure_static_type_extra(PyObject *sizeof_name, code_trust *trust)
{
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
    sizing s;
    type_sizing(&PyType_Type, sizeof_name, trust, &s);
    size_t full = _PySys_GetSizeOf((PyObject *)&PyLong_Type);
    if (full == (size_t)-1) {
        PyErr_Clear();
        return 0;
    }
    uint64_t bare = object_size((PyObject *)&PyLong_Type, &PyType_Type, &s, 0);
    return full > bare ? (size_t)(full - bare) : 0;
#else
    (void)sizeof_name;
    (void)trust;
    return 0;
#endif
}

uint64_t
rc_shallow_size(PyObject *op, const rc_capture_opts *opts, int *lower_bound)
{
    sizing s = {SIZE_BASIC, NULL, -1, 0};
    code_trust trust;
    PyObject *name = PyUnicode_InternFromString("__sizeof__");
    size_t extra = 0;
    unsigned flags = 0;
    code_trust_init(&trust, opts);
    if (!name) {
        PyErr_Clear();
    } else {
        flags = type_sizing(Py_TYPE(op), name, &trust, &s);
        extra = measure_static_type_extra(name, &trust);
        Py_DECREF(name);
    }
    if (lower_bound) {
        *lower_bound = flags != 0;
    }
    return object_size(op, Py_TYPE(op), &s, extra);
}

/* ---- type names ------------------------------------------------------------ */

static int
name_reserve(walk *w, size_t extra)
{
    if (w->name_len + extra + 1 <= w->name_cap) {
        return 1;
    }
    size_t cap = w->name_cap ? w->name_cap : 128;
    while (cap < w->name_len + extra + 1) {
        cap *= 2;
    }
    char *p = rc_realloc(w->name, cap);
    if (!p) {
        return 0;
    }
    w->name = p;
    w->name_cap = cap;
    return 1;
}

static int
name_add_bytes(walk *w, const char *s, size_t n)
{
    if (!name_reserve(w, n)) {
        return 0;
    }
    memcpy(w->name + w->name_len, s, n);
    w->name_len += n;
    w->name[w->name_len] = '\0';
    return 1;
}

/* A ready str's UTF-8 into out, whole characters, at most `max` bytes,
 * made here: PyUnicode_AsUTF8 would refuse lone surrogates with an
 * exception and attach a UTF-8 copy to the str, which changes its size.
 * strict: -1 at a lone surrogate; else it, and a NUL in a str that is not
 * ASCII, read U+FFFD.  Returns the length. */
static long
str_utf8(PyObject *u, char *out, size_t max, int strict)
{
    size_t len = (size_t)PyUnicode_GET_LENGTH(u);
    if (PyUnicode_IS_ASCII(u)) {
        size_t n = len < max ? len : max;
        memcpy(out, PyUnicode_DATA(u), n);
        return (long)n;
    }
    int kind = PyUnicode_KIND(u);
    const void *data = PyUnicode_DATA(u);
    size_t n = 0;
    char one[4];
    for (size_t i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF && strict) {
            return -1;
        }
        size_t k = rc_utf8_put(c == 0 || (c >= 0xD800 && c <= 0xDFFF) ? 0xFFFD : c, one);
        if (n + k > max) {
            break;
        }
        memcpy(out + n, one, k);
        n += k;
    }
    return (long)n;
}

/* Whether u is a str whose characters can be read in place. */
static int
str_readable(PyObject *u)
{
#if PY_VERSION_HEX < 0x030C0000
    return PyUnicode_Check(u) && PyUnicode_IS_READY(u);
#else
    return PyUnicode_Check(u);
#endif
}

/* Append a str as UTF-8 without creating objects (str_utf8). */
static int
name_add_str(walk *w, PyObject *u)
{
    if (!str_readable(u)) {
        return name_add_bytes(w, "?", 1);
    }
    size_t room = 4 * (size_t)PyUnicode_GET_LENGTH(u);
    if (!name_reserve(w, room)) {
        return 0;
    }
    w->name_len += (size_t)str_utf8(u, w->name + w->name_len, room, 0);
    w->name[w->name_len] = '\0';
    return 1;
}

/* A heap type's own __module__ (see dict_find_str). */
static PyObject *
heap_type_module(PyTypeObject *tp, PyObject *module_name)
{
    PyObject *module = dict_find_str(type_dict((PyObject *)tp), module_name);
    return module && PyUnicode_Check(module) ? module : NULL;
}

/* Whether a[at:at + n] is b[0:n], both readable strs, read in place. */
static int
str_span_is(PyObject *a, Py_ssize_t at, PyObject *b, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyUnicode_READ_CHAR(a, at + i) != PyUnicode_READ_CHAR(b, i)) {
            return 0;
        }
    }
    return 1;
}

/* Whether str key is the str s followed by '.' and the part, or (when
 * part is NULL) s itself; compared in place. */
static int
str_is_dotted(PyObject *key, PyObject *s, PyObject *part)
{
    if (!PyUnicode_CheckExact(key) || !str_readable(key) || !str_readable(s) ||
        (part && !str_readable(part))) {
        return 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), k = part ? PyUnicode_GET_LENGTH(part) : -1;
    return PyUnicode_GET_LENGTH(key) == n + 1 + k && str_span_is(key, 0, s, n) &&
           (!part || (PyUnicode_READ_CHAR(key, n) == '.' && str_span_is(key, n + 1, part, k)));
}

static int cmp_addr(const void *a, const void *b);

/* Add the heap types that `holder` (a module's or a class's dict) holds
 * under their own name: their __qualname__ is `outer` + "." + the key (the
 * key itself at a module's top, outer NULL) and their __module__ is
 * `modname`.  RC_OK or RC_ENOMEM. */
static rc_status
add_named_in(walk *w, PyObject *holder, PyObject *outer, PyObject *modname)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    if (!holder || !PyDict_Check(holder)) {
        return RC_OK;
    }
    while (PyDict_Next(holder, &pos, &key, &value)) {
        if (!PyType_Check(value) || !PyUnicode_CheckExact(key) ||
            !PyType_HasFeature((PyTypeObject *)value, Py_TPFLAGS_HEAPTYPE)) {
            continue;
        }
        PyObject *qual = ((PyHeapTypeObject *)value)->ht_qualname;
        PyObject *module = heap_type_module((PyTypeObject *)value, w->module_name);
        if (!qual || !PyUnicode_Check(qual) || !module || !str_readable(module) ||
            !str_is_dotted(qual, outer ? outer : key, outer ? key : NULL) ||
            !str_is_dotted(module, modname, NULL)) {
            continue;
        }
        if (rc_room((void **)&w->named, w->n_named, &w->named_cap, sizeof *w->named, 256) < 0) {
            return RC_ENOMEM;
        }
        w->named[w->n_named++] = (uintptr_t)value;
    }
    return RC_OK;
}

/* The heap types that can be found by their name (sorted, in w->named): a
 * module in sys.modules holds one under its __qualname__ and its
 * __module__ is that module's name there; a nested one is in turn held by
 * one found so before it, under the last part of its __qualname__.  One
 * scan of each module's dict and of each such class's dict (a lookup per
 * type would be quadratic in a module of many classes), reading only:
 * dicts are scanned (see dict_find_str), a module's dict is its md_dict,
 * names are compared in place.  RC_OK or RC_ENOMEM. */
static rc_status
find_named_classes(walk *w)
{
    PyObject *modname, *m;
    Py_ssize_t pos = 0;
    rc_status st = RC_OK;
    w->named_built = 1;
    while (st == RC_OK && PyDict_Next(w->modules, &pos, &modname, &m)) {
        if (PyUnicode_CheckExact(modname) && str_readable(modname) && PyModule_Check(m)) {
            size_t from = w->n_named;
            st = add_named_in(w, PyModule_GetDict(m), NULL, modname);
            /* The classes nested in those, breadth first: each qualname is
             * longer than its holder's, so this ends. */
            for (size_t i = from; st == RC_OK && i < w->n_named; i++) {
                PyTypeObject *outer = (PyTypeObject *)w->named[i];
                st = add_named_in(w, type_dict((PyObject *)outer),
                                  ((PyHeapTypeObject *)outer)->ht_qualname, modname);
            }
        }
    }
    if (st == RC_OK && w->n_named) {
        qsort(w->named, w->n_named, sizeof *w->named, cmp_addr);
    }
    return st;
}

/* Whether a type can be found by its name, which makes it a class root
 * (RC_NODE_UNNAMED_CLASS otherwise): a static type always, a heap type when
 * find_named_classes found it.  RC_OK or RC_ENOMEM. */
static rc_status
named_class(walk *w, PyTypeObject *tp, int *named)
{
    *named = 1;
    if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        return RC_OK;
    }
    rc_status st = w->named_built ? RC_OK : find_named_classes(w);
    uintptr_t addr = (uintptr_t)tp;
    *named = st == RC_OK && w->n_named &&
             bsearch(&addr, w->named, w->n_named, sizeof addr, cmp_addr) != NULL;
    return st;
}

/* Intern tp: qualified name ("mod.Qual.Name", builtins bare) and __name__. */
static rc_status
intern_type(walk *w, PyTypeObject *tp, uint32_t *out)
{
    uint32_t id = rc_builder_find_type(w->b, (uintptr_t)tp);
    if (id != UINT32_MAX) {
        *out = id;
        return RC_OK;
    }
    size_t short_at;
    unsigned flags = 0;
    w->name_len = 0;
    if (PyType_IsSubtype(tp, &PyList_Type) || PyType_IsSubtype(tp, &PyTuple_Type) ||
        PyType_IsSubtype(tp, &PySet_Type) || PyType_IsSubtype(tp, &PyFrozenSet_Type) ||
        strcmp(tp->tp_name, "collections.deque") == 0 || rc_hamt_node_type(tp)) {
        /* A HAMT node's entries are a Context's variables: a mapping's
         * items (relate names a value by its ContextVar). */
        flags |= RC_TYPE_COLLECTION;
    }
    if (PyType_IsSubtype(tp, &PyDict_Type)) {
        flags |= RC_TYPE_COLLECTION | RC_TYPE_DICT;
    }
    if (strcmp(tp->tp_name, "functools._lru_cache_wrapper") == 0) {
        flags |= RC_TYPE_LRU_CACHE;
    }
    if (tp->tp_finalize || tp->tp_del) {
        flags |= RC_TYPE_FINALIZER;
    }
    if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
        PyObject *module = heap_type_module(tp, w->module_name);
        flags |= RC_TYPE_HEAP;
        if (module && PyUnicode_CompareWithASCIIString(module, "builtins") != 0) {
            if (!name_add_str(w, module) || !name_add_bytes(w, ".", 1)) {
                return RC_ENOMEM;
            }
        }
        if (!name_add_str(w, ht->ht_qualname ? ht->ht_qualname : ht->ht_name)) {
            return RC_ENOMEM;
        }
        short_at = w->name_len + 1;
        if (!name_add_bytes(w, "\0", 1) || !name_add_str(w, ht->ht_name)) {
            return RC_ENOMEM;
        }
    } else {
        /* tp_name is "module.Name" or, for builtins, "Name"; it is C data and
         * may hold invalid UTF-8. */
        char *clean = rc_utf8_valid_dup(tp->tp_name, strlen(tp->tp_name));
        if (!clean) {
            return RC_ENOMEM;
        }
        const char *dot = strrchr(clean, '.');
        const char *shortname = dot ? dot + 1 : clean;
        int ok = name_add_bytes(w, clean, strlen(clean));
        short_at = w->name_len + 1;
        ok = ok && name_add_bytes(w, "\0", 1) && name_add_bytes(w, shortname, strlen(shortname));
        rc_free(clean);
        if (!ok) {
            return RC_ENOMEM;
        }
    }
    /* Room for the new type's sizing first, so that an interned type always
     * has one. */
    if (rc_room((void **)&w->sizing, w->n_types, &w->sizing_cap, sizeof *w->sizing, 256) < 0) {
        return RC_ENOMEM;
    }
    sizing s;
    flags |= type_sizing(tp, w->sizeof_name, &w->trust, &s);
    PyTypeObject *array = rc_array_type(tp);
    s.array_base = array && array->tp_dealloc &&
                   trusted_code(&w->trust, (PyCFunction)(void (*)(void))array->tp_dealloc);
    rc_status st = rc_builder_type(w->b, (uintptr_t)tp, w->name, w->name + short_at, flags, &id);
    if (st != RC_OK) {
        return st;
    }
    w->n_types++;
    w->sizing[id] = s;
    *out = id;
    return RC_OK;
}

/* ---- the walk --------------------------------------------------------------- */

static rc_status frame_locals(walk *w, PyObject *op);
static rc_status seed_frames(walk *w);
static unsigned frame_flags(const walk *w, uintptr_t op);

/* Note CPython's small-int singletons.  PyLong_FromLong() hands back the
 * cached object for these values (no allocation, no Python code), which
 * lives as long as the interpreter; 3.9 and 3.10 keep one set per
 * interpreter, so this is done for each capture. */
static void
small_ints_note(walk *w)
{
    w->small_lo = UINTPTR_MAX;
    for (int i = 0; i < RC_SMALL_INTS; i++) {
        PyObject *v = PyLong_FromLong(RC_SMALL_INT_MIN + i);
        w->small_ints[i] = v;
        Py_XDECREF(v);
        if (v && (uintptr_t)v < w->small_lo) {
            w->small_lo = (uintptr_t)v;
        }
        if (v && (uintptr_t)v > w->small_hi) {
            w->small_hi = (uintptr_t)v;
        }
    }
    PyErr_Clear(); /* none expected: the values are cached */
}

/* Whether op is one of the small-int singletons: an exact int between the
 * lowest and highest of their addresses (one static array from 3.11, made
 * in a row at start-up before), whose value (read without running code:
 * overflow is a flag, not an exception) is in range and which is the
 * cached object for it.  new_objects() never names one as new. */
static int
small_int(const walk *w, PyObject *op)
{
    if ((uintptr_t)op < w->small_lo || (uintptr_t)op > w->small_hi ||
        Py_TYPE(op) != &PyLong_Type) {
        return 0;
    }
    int overflow;
    long v = PyLong_AsLongAndOverflow(op, &overflow);
    return !overflow && v >= RC_SMALL_INT_MIN && v < RC_SMALL_INT_MIN + RC_SMALL_INTS &&
           w->small_ints[v - RC_SMALL_INT_MIN] == op;
}
static size_t held_count(const walk *w, uintptr_t op);

static rc_status node_type(walk *w, PyTypeObject *tp, uint32_t *type);

/* Whether op, not a GC object, has a reference to follow all the same: a
 * numpy array (its base).  A type that cannot be interned counts as one. */
static int
array_like(walk *w, PyTypeObject *tp)
{
    uint32_t type;
    return node_type(w, tp, &type) != RC_OK || w->sizing[type].array_base;
}

/* Whether op becomes a node: always, but in a containers-only capture
 * (rc_capture_opts.containers_only) a leaf only when the tool holds it.  A
 * static type is no gc object but holds its namespace (expand). */
static int
recorded(walk *w, PyObject *op)
{
    return !w->opts->containers_only || is_gc(op, Py_TYPE(op)) || PyType_Check(op) ||
           held_count(w, (uintptr_t)op) > 0 || array_like(w, Py_TYPE(op));
}

/* Drop this node's references to leaves that are not recorded.  Their
 * headers are fetched together first, not one after another. */
static void
drop_leaves(walk *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n_scratch; i++) {
        __builtin_prefetch((const void *)w->scratch[i]);
    }
    for (size_t i = 0; i < w->n_scratch; i++) {
        if (!w->scratch[i] || recorded(w, (PyObject *)w->scratch[i])) {
            w->scratch[k++] = w->scratch[i];
        }
    }
    w->n_scratch = k;
}

/* A counter's new object: counted at once when it is not a gc object
 * (str, bytes, int, float...: it has nothing to expand), else queued. */
static rc_status
count_new(walk *w, PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    if (is_gc(op, tp)) {
        return rc_builder_queue(w->b, (uintptr_t)op);
    }
    uint32_t type;
    rc_status st = node_type(w, tp, &type);
    if (st != RC_OK) {
        return st;
    }
    if (w->sizing[type].array_base || PyType_Check(op)) {
        /* Its base is counted too; a static type's namespace and subclasses
         * (expand), which may be untracked dicts no other object holds. */
        return rc_builder_queue(w->b, (uintptr_t)op);
    }
    uint64_t size =
        w->opts->sizes ? object_size(op, tp, &w->sizing[type], w->static_type_extra) : 0;
    return rc_builder_count(w->b, type, size, 0);
}

/* Fetch the cache lines of op's first 48 bytes: a str's state and cached
 * copies (read to size it) lie past its type, on the next line when op is
 * in the second half of one (pymalloc aligns blocks to 16 bytes only). */
static inline void
fetch_header(const void *op)
{
    __builtin_prefetch(op);
    __builtin_prefetch((const char *)op + 47);
}

/* Count the gathered references.  The set of seen objects first, for them
 * all: the headers of the new ones are fetched together, while the set is
 * read, and not one after another (a dict's values, a list's items). */
static rc_status
count_batch(walk *w)
{
    size_t n = w->n_batch, k = 0;
    w->n_batch = 0;
    for (size_t i = 0; i < n; i++) {
        PyObject *op = w->batch[i];
        int added = rc_builder_see(w->b, (uintptr_t)op);
        if (added < 0) {
            return RC_ENOMEM;
        }
        if (added) {
            fetch_header(op);
            w->batch[k++] = op;
        }
    }
    rc_status st = RC_OK;
    for (size_t i = 0; i < k && st == RC_OK; i++) {
        st = count_new(w, w->batch[i]);
    }
    return st;
}

/* tp_traverse's callback: a builder's references are kept in w->scratch,
 * in order, for rc_builder_edges(); a counter's are counted in batches (a
 * dict of a million items needs no array of them). */
static int
visit(PyObject *op, void *arg)
{
    walk *w = arg;
    if (w->counting) {
        if (op) {
            w->batch[w->n_batch++] = op;
            if (w->n_batch == COUNT_BATCH && (w->visit_failed = count_batch(w)) != RC_OK) {
                return -1;
            }
        }
        return 0;
    }
    if (w->n_scratch == w->scratch_cap) {
        size_t cap = w->scratch_cap ? w->scratch_cap * 2 : 1024;
        uintptr_t *p = rc_reallocarray(w->scratch, cap, sizeof *p);
        if (!p) {
            w->visit_failed = RC_ENOMEM;
            return -1;
        }
        w->scratch = p;
        w->scratch_cap = cap;
    }
    w->scratch[w->n_scratch++] = (uintptr_t)op;
    return 0;
}

/* Whether tp_traverse reported the keys of this combined-table dict: the
 * dict's own traversal comes last (subclasses visit their extras first) and
 * reports (value, key) pairs in PyDict_Next order when it includes keys.
 * A counter keeps no scratch, so for it the answer is no: its keys are
 * visited again, which its set of seen objects makes harmless. */
static int
dict_keys_visited(walk *w, PyObject *op, Py_ssize_t len)
{
    size_t m = w->n_scratch, need = 2 * (size_t)len;
    if (m < need) {
        return 0;
    }
    if (Py_IS_TYPE(op, &PyDict_Type)) {
        return 1; /* exactly len visits without keys, 2 * len with them */
    }
    const uintptr_t *pairs = w->scratch + (m - need);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    for (size_t i = 0; PyDict_Next(op, &pos, &key, &value); i++) {
        if (i >= (size_t)len || pairs[2 * i] != (uintptr_t)value ||
            pairs[2 * i + 1] != (uintptr_t)key) {
            return 0;
        }
    }
    return 1;
}

static rc_status
dict_keys(walk *w, PyObject *op)
{
    Py_ssize_t len = PyDict_GET_SIZE(op), pos = 0;
    PyObject *key, *value;
    rc_status st = RC_OK;
    if (len == 0) {
        return RC_OK;
    }
    if (((PyDictObject *)op)->ma_values != NULL) {
        /* Split: each dict yields only the keys it has values for. */
        while (st == RC_OK && PyDict_Next(op, &pos, &key, &value)) {
            if (recorded(w, key)) {
                st = rc_builder_seed(w->b, (uintptr_t)key);
            }
        }
        return st;
    }
    if (dict_keys_visited(w, op, len)) {
        return RC_OK;
    }
    while (PyDict_Next(op, &pos, &key, &value)) {
        if (visit(key, w) < 0) {
            return w->visit_failed;
        }
    }
    return RC_OK;
}

/* Flag op's own __dict__ (or, before 3.11, a frame's f_locals) as a
 * namespace: its keys are names, which chains keep apart.  So is a
 * function's closure: its cells are its free variables, one per place. */
static rc_status
mark_namespace(walk *w, PyObject *op)
{
    PyObject *closure = PyFunction_Check(op) ? PyFunction_GET_CLOSURE(op) : NULL;
    rc_status st;
    if (closure && PyTuple_CheckExact(closure) &&
        (st = rc_builder_mark(w->b, (uintptr_t)closure, RC_NODE_NAMESPACE)) != RC_OK) {
        return st;
    }
    PyObject *dict = PyFrame_Check(op) ? rc_frame_locals_mapping(op) : rc_object_dict(op);
    if (!dict || !PyDict_Check(dict)) {
        return RC_OK;
    }
    return rc_builder_mark(w->b, (uintptr_t)dict, RC_NODE_NAMESPACE);
}

/* A reference that no tp_traverse reports, to op (NULL: none): an edge, and
 * op marked RC_NODE_UNTRAVERSED for the garbage prediction. */
static rc_status
visit_untraversed(walk *w, PyObject *op)
{
    if (!op) {
        return RC_OK;
    }
    if (visit(op, w) < 0) {
        return w->visit_failed;
    }
    return w->counting ? RC_OK
                       : rc_builder_mark(w->b, (uintptr_t)op, RC_NODE_UNTRAVERSED);
}

/* The interned id of type tp, through a direct-mapped cache in front of
 * the builder's type table: node types alternate, but a heap has few. */
static rc_status
node_type(walk *w, PyTypeObject *tp, uint32_t *type)
{
    size_t slot = ((uintptr_t)tp >> 4) & (TYPE_CACHE - 1);
    if (w->type_cache[slot] == tp) {
        *type = w->type_cache_id[slot];
        return RC_OK;
    }
    rc_status st = intern_type(w, tp, type);
    if (st == RC_OK) {
        w->type_cache[slot] = tp;
        w->type_cache_id[slot] = *type;
    }
    return st;
}

static rc_status
expand(walk *w, PyObject *op, unsigned seeded)
{
    PyTypeObject *tp = Py_TYPE(op);
    uint32_t type;
    rc_status st = node_type(w, tp, &type);
    if (st != RC_OK) {
        return st;
    }
    unsigned flags = 0;
    w->n_scratch = 0;
    if (is_gc(op, tp)) {
        flags |= RC_NODE_GC;
        /* The enumeration lists tracked objects only: ask the others. */
        if (!(seeded & RC_NODE_TRACKED) && !w->counting && gc_tracked(op)) {
            flags |= RC_NODE_TRACKED;
        }
        if (tp->tp_traverse) {
            tp->tp_traverse(op, visit, w);
            if (w->visit_failed != RC_OK) {
                return w->visit_failed;
            }
        }
        if ((st = visit_untraversed(w, rc_unvisited_dict(op))) != RC_OK) {
            return st;
        }
        if (PyDict_Check(op) && (st = dict_keys(w, op)) != RC_OK) {
            return st;
        }
        if (w->n_frame_refs && PyFrame_Check(op) && (st = frame_locals(w, op)) != RC_OK) {
            return st;
        }
        /* 3.10-3.13: the callbacks, which the interpreter holds for it. */
        if (op == w->atexit && rc_atexit_visit(visit, w) < 0) {
            return w->visit_failed;
        }
        if ((st = mark_namespace(w, op)) != RC_OK) {
            return st;
        }
    }
    if (PyType_Check(op)) {
        /* What a type holds that no traversal visits: a static type's
         * namespace (it is no gc object; from 3.12 the interpreter keeps a
         * builtin's) and any type's weak references to its subclasses. */
        if ((!(flags & RC_NODE_GC) &&
             (st = visit_untraversed(w, type_dict(op))) != RC_OK) ||
            (st = visit_untraversed(w, rc_type_subclasses(op))) != RC_OK) {
            return st;
        }
    }
    if (w->sizing[type].array_base) {
        /* A view keeps its base array alive (and np.frombuffer its bytes). */
        PyObject *base = rc_array_base(op);
        if (base && visit(base, w) < 0) {
            return w->visit_failed;
        }
    }
    if (w->counting) {
        if (w->n_batch && (st = count_batch(w)) != RC_OK) {
            return st;
        }
        /* A census needs only to tell the tool's running frames apart. */
        if (w->n_frames && PyFrame_Check(op)) {
            flags |= frame_flags(w, (uintptr_t)op);
        }
    } else if (PyType_Check(op)) {
        flags |= RC_NODE_TYPE;
        int named;
        if ((st = named_class(w, (PyTypeObject *)op, &named)) != RC_OK) {
            return st;
        }
        if (!named) {
            flags |= RC_NODE_UNNAMED_CLASS;
        }
    } else if (PyModule_Check(op)) {
        flags |= RC_NODE_MODULE;
    } else if (op == w->modules) {
        flags |= RC_NODE_MODULES;
    } else if (w->n_frames && PyFrame_Check(op)) {
        flags |= frame_flags(w, (uintptr_t)op);
    } else if (small_int(w, op)) {
        flags |= RC_NODE_SMALL_INT;
    }
    uint64_t refcnt = (uint64_t)Py_REFCNT(op);
    size_t held = (flags & (RC_NODE_THREAD_FRAME | RC_NODE_TOOL_FRAME)) ? 1 : 0; /* the walk's */
    if (w->opts->n_held && !w->counting) {
        held += held_count(w, (uintptr_t)op);
    }
    refcnt = refcnt > held ? refcnt - held : 0;
#if PY_VERSION_HEX >= 0x030C0000
    if (_Py_IsImmortal(op)) {
        flags |= RC_NODE_IMMORTAL;
    }
#endif
    if (w->opts->containers_only && !w->counting) {
        drop_leaves(w);
    }
    if (!w->counting && (st = rc_builder_edges(w->b, w->scratch, w->n_scratch)) != RC_OK) {
        return st;
    }
    uint64_t size = w->opts->sizes ? object_size(op, tp, &w->sizing[type], w->static_type_extra)
                                   : 0;
    return rc_builder_close(w->b, type, size, refcnt, flags);
}

/* A node CONTENTS_AHEAD places on has had its header fetched (the builder
 * fetches PREFETCH_AHEAD ahead): fetch what its traversal will read, a
 * dict's table and values, a list's items. */
enum { CONTENTS_AHEAD = 8 };

static inline void
fetch_contents(uintptr_t addr)
{
    PyObject *op = (PyObject *)addr;
    if (!op) {
        return;
    }
    if (PyDict_Check(op)) {
        const char *keys = (const char *)((PyDictObject *)op)->ma_keys;
        __builtin_prefetch(keys);
        __builtin_prefetch(keys + 64);
        __builtin_prefetch(((PyDictObject *)op)->ma_values);
    } else if (PyList_Check(op)) {
        __builtin_prefetch(((PyListObject *)op)->ob_item);
    }
}

/* Expand every object the builder has yet to expand. */
static rc_status
drain(walk *w)
{
    uintptr_t addr;
    unsigned nflags;
    rc_status st = RC_OK;
    while (rc_builder_next(w->b, &addr, &nflags, &st)) {
        fetch_contents(rc_builder_ahead(w->b, CONTENTS_AHEAD));
        if ((st = expand(w, (PyObject *)addr, nflags)) != RC_OK) {
            break;
        }
    }
    return st;
}

/* Seed a tracked object.  A counter expands it at once, and what it finds
 * through it: its header was just read, and the stack of objects to expand
 * stays short (measured: a census of the 1M service heap 12% faster than
 * seeding all first).  Expanding creates no gc-tracked object, so the
 * collector's lists being enumerated do not change. */
static rc_status
seed_tracked(walk *w, uintptr_t addr, unsigned flags)
{
    rc_status st = rc_builder_seed_flagged(w->b, addr, flags);
    return st == RC_OK && w->counting ? drain(w) : st;
}

/* ---- phase 1: enumeration, with automatic collection off ----------------- */

/* Orders frame_ref and frame_info records (both lead with the frame). */
static int
cmp_frame_ref(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static int
cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

#if PY_VERSION_HEX >= 0x030B0000
static rc_status
add_frame_ref(walk *w, PyObject *frame, PyObject *value)
{
    if (w->n_frame_refs == w->frame_refs_cap) {
        size_t cap = w->frame_refs_cap ? w->frame_refs_cap * 2 : 64;
        frame_ref *p = rc_reallocarray(w->frame_refs, cap, sizeof *p);
        if (!p) {
            return RC_ENOMEM;
        }
        w->frame_refs = p;
        w->frame_refs_cap = cap;
    }
    w->frame_refs[w->n_frame_refs++] = (frame_ref){(uintptr_t)frame, (uintptr_t)value};
    return RC_OK;
}

/* Record what a running frame holds that its traversal does not report
 * (3.11+): its globals (it holds them through its function, which nothing
 * visible may reference: the code run by exec() or the main script), its
 * f_locals mapping, and its variable slots, read in place (pycompat.h): a
 * cell or free variable's slot holds the cell.  No Python code runs, and the
 * frame, held, keeps every value alive until the walk reads it. */
static rc_status
add_running_frame_refs(walk *w, PyObject *frame)
{
    PyObject *globals = PyFrame_GetGlobals((PyFrameObject *)frame);
    Py_DECREF(globals); /* the frame keeps it alive */
    rc_status st = add_frame_ref(w, frame, globals);
    PyObject *locals = rc_frame_locals_mapping(frame);
    if (st == RC_OK && locals && locals != globals) {
        st = add_frame_ref(w, frame, locals);
        if (st == RC_OK && PyDict_Check(locals)) {
            st = rc_builder_mark(w->b, (uintptr_t)locals, RC_NODE_NAMESPACE);
        }
    }
    rc_frame_vars vars;
    rc_frame_vars_read(frame, &vars);
    for (size_t i = 0; st == RC_OK && i < vars.n; i++) {
        if (vars.slots[i]) {
            st = add_frame_ref(w, frame, vars.slots[i]);
        }
    }
    return st;
}
#endif

/* Whether frame runs the tool's code: with one of its globals dicts, or
 * one of its code objects (opts->tool_globals holds both). */
static int
is_tool_frame(walk *w, PyObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *globals = PyFrame_GetGlobals((PyFrameObject *)frame);
    Py_DECREF(globals); /* the frame keeps it alive; only its address is compared */
#else
    PyObject *globals = ((PyFrameObject *)frame)->f_globals;
#endif
#if PY_VERSION_HEX >= 0x03090000
    PyObject *code = (PyObject *)PyFrame_GetCode((PyFrameObject *)frame);
    Py_DECREF(code); /* the same */
#else
    PyObject *code = (PyObject *)((PyFrameObject *)frame)->f_code;
#endif
    for (size_t i = 0; i < w->opts->n_tool_globals; i++) {
        if (globals == w->opts->tool_globals[i] || code == w->opts->tool_globals[i]) {
            return 1;
        }
    }
    return 0;
}

/* Record `frame`, taking over the caller's reference to it: the walk holds
 * every frame it recorded until it ends (released in rc_capture). */
static rc_status
add_frame(walk *w, PyObject *frame)
{
    if (w->n_frames == w->frames_cap) {
        size_t cap = w->frames_cap ? w->frames_cap * 2 : 64;
        frame_info *p = rc_reallocarray(w->frames, cap, sizeof *p);
        if (!p) {
            Py_DECREF(frame);
            return RC_ENOMEM;
        }
        w->frames = p;
        w->frames_cap = cap;
    }
    unsigned flags = is_tool_frame(w, frame) ? RC_NODE_TOOL_FRAME : RC_NODE_THREAD_FRAME;
    w->frames[w->n_frames++] = (frame_info){(uintptr_t)frame, flags};
#if PY_VERSION_HEX >= 0x030B0000
    if (rc_frame_hides_slots(frame)) {
        return add_running_frame_refs(w, frame);
    }
#endif
    return RC_OK;
}

/* Record the frames of the current interpreter's threads, and on 3.11+
 * what the running ones hold.  Runs no Python code. */
static rc_status
collect_frames(walk *w)
{
    rc_status st = RC_OK;
    /* The current interpreter's threads, through the C API: sys._current_frames
     * may be replaced by anyone, and it lists every interpreter's threads. */
    for (PyThreadState *t = rc_thread_head(); t && st == RC_OK; t = PyThreadState_Next(t)) {
        PyObject *f = rc_thread_frame(t);
        while (f && st == RC_OK) {
            PyObject *back = rc_frame_back(f);
            st = add_frame(w, f);
            f = back;
        }
        Py_XDECREF(f);
        if (st == RC_OK && PyErr_Occurred()) {
            st = RC_EPYTHON;
        }
    }
    if (w->n_frame_refs) {
        qsort(w->frame_refs, w->n_frame_refs, sizeof *w->frame_refs, cmp_frame_ref);
    }
    if (w->n_frames) {
        qsort(w->frames, w->n_frames, sizeof *w->frames, cmp_frame_ref);
    }
    return st;
}

static rc_status
seed_frames(walk *w)
{
    rc_status st = RC_OK;
    for (size_t i = 0; st == RC_OK && i < w->n_frames; i++) {
        st = rc_builder_seed(w->b, w->frames[i].frame);
    }
    return st;
}

static void
release_frames(walk *w)
{
    for (size_t i = 0; i < w->n_frames; i++) {
        Py_DECREF((PyObject *)w->frames[i].frame);
    }
    w->n_frames = 0;
}

/* The index of the first record whose leading address is >= key, in n
 * records of `stride` bytes sorted by that address. */
static size_t
lower_bound(const void *base, size_t n, size_t stride, uintptr_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (*(const uintptr_t *)((const char *)base + mid * stride) < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The flags of a frame found on a thread's stack, or 0. */
static unsigned
frame_flags(const walk *w, uintptr_t op)
{
    size_t i = lower_bound(w->frames, w->n_frames, sizeof *w->frames, op);
    return i < w->n_frames && w->frames[i].frame == op ? w->frames[i].flags : 0;
}

/* How many references to op the tool holds.  The filter answers most
 * objects (none) without a search. */
static size_t
held_count(const walk *w, uintptr_t op)
{
    size_t bit = (op >> 4) & 255;
    if (!(w->held_filter[bit / 64] >> (bit % 64) & 1)) {
        return 0;
    }
    size_t n = 0;
    for (size_t i = lower_bound(w->held, w->opts->n_held, sizeof *w->held, op);
         i < w->opts->n_held && w->held[i] == op; i++) {
        n++;
    }
    return n;
}

/* Append the recorded locals of frame `op` to this node's references. */
static rc_status
frame_locals(walk *w, PyObject *op)
{
    for (size_t i = lower_bound(w->frame_refs, w->n_frame_refs, sizeof *w->frame_refs,
                                (uintptr_t)op);
         i < w->n_frame_refs && w->frame_refs[i].frame == (uintptr_t)op; i++) {
        if (visit((PyObject *)w->frame_refs[i].value, w) < 0) {
            return w->visit_failed;
        }
    }
    return RC_OK;
}

/* The gc module's own C function `name`, from its method table: the module
 * attribute may have been replaced (monitoring libraries wrap gc functions),
 * the table cannot be.  NULL with TypeError when `gc` is not the builtin
 * module or has no such function. */
static PyMethodDef *
gc_method(PyObject *gc, const char *name)
{
    PyModuleDef *def = gc && PyModule_Check(gc) ? PyModule_GetDef(gc) : NULL;
    if (def && def->m_name && strcmp(def->m_name, "gc") == 0) {
        for (PyMethodDef *m = def->m_methods; m && m->ml_name; m++) {
            if (strcmp(m->ml_name, name) == 0) {
                return m;
            }
        }
    }
    PyErr_Format(PyExc_TypeError, "refchain needs the builtin gc module's %s()", name);
    return NULL;
}

/* Call a C function of the gc module with no arguments, straight through its
 * pointer: no argument objects, no function object, no Python code. */
static PyObject *
gc_call(PyObject *gc, PyMethodDef *m)
{
    int flags = m->ml_flags & ~(METH_COEXIST | METH_CLASS | METH_STATIC);
    switch (flags) {
    case METH_NOARGS:
        return m->ml_meth(gc, NULL);
    case METH_FASTCALL:
        return ((_PyCFunctionFast)(void (*)(void))m->ml_meth)(gc, NULL, 0);
    case METH_FASTCALL | METH_KEYWORDS:
        return ((_PyCFunctionFastWithKeywords)(void (*)(void))m->ml_meth)(gc, NULL, 0, NULL);
    default:
        PyErr_Format(PyExc_TypeError, "gc.%s() has an unexpected calling convention",
                     m->ml_name);
        return NULL;
    }
}

/* Automatic collection is off for the whole capture.  Before 3.10 there is
 * no C API for it, so gc's isenabled/disable/enable are called through their
 * C functions: that allocates nothing, so turning collection back on cannot
 * itself trigger a collection before the caller has taken the references it
 * needs. */
typedef struct gc_pause {
    int was_enabled;
#if PY_VERSION_HEX < 0x030A0000
    PyObject *gc;
    PyMethodDef *enable;
#endif
} gc_pause;

static int
gc_pause_start(PyObject *gc, gc_pause *p)
{
#if PY_VERSION_HEX >= 0x030A0000
    (void)gc;
    p->was_enabled = PyGC_Disable();
    return 0;
#else
    PyMethodDef *isenabled = gc_method(gc, "isenabled");
    PyMethodDef *disable = isenabled ? gc_method(gc, "disable") : NULL;
    PyMethodDef *enable = disable ? gc_method(gc, "enable") : NULL;
    PyObject *r = enable ? gc_call(gc, isenabled) : NULL;
    if (!r) {
        return -1;
    }
    p->was_enabled = r == Py_True;
    Py_DECREF(r);
    if (!(r = gc_call(gc, disable))) {
        return -1;
    }
    Py_DECREF(r);
    p->gc = gc;
    p->enable = enable;
    return 0;
#endif
}

static void
gc_pause_end(gc_pause *p)
{
#if PY_VERSION_HEX >= 0x030A0000
    if (p->was_enabled) {
        PyGC_Enable();
    }
#else
    if (p->was_enabled && p->enable) {
        PyObject *r = gc_call(p->gc, p->enable); /* returns None; cannot fail */
        Py_XDECREF(r);
    }
#endif
}

/* The enumeration of tracked objects.
 *
 * The collector keeps every tracked object on a list: each is preceded by
 * its PyGC_Head {_gc_next, _gc_prev}, linked into a circular list whose
 * head lies in the collector's state: three `struct gc_generation
 * {PyGC_Head head; int threshold; int count;}` in a row, the `generation0`
 * pointer, then the permanent generation gc.freeze() moves objects to (the
 * same in 3.8-3.13's headers, debug builds too; free-threaded builds have
 * no such lists).  CPython exports neither the state nor its address, so it
 * is found and checked at run time (gc_lists_find), never assumed:
 *   - a new list is tracked at the tail of generation 0, so its _gc_next is
 *     the address of generation 0's head;
 *   - the three thresholds there must equal gc.get_threshold()'s, the
 *     pointer after them must be generation 0's head, and the permanent
 *     generation's threshold must be 0.
 *
 * Before 3.12 the four lists are read in place: what gc.get_objects() lists
 * (the three generations, this interpreter's) plus the frozen objects it
 * leaves out, with no list of millions of references built and released,
 * and no audit event (as from 3.12).  When the check fails (an interpreter
 * built differently), gc.get_objects()'s C function is called (gc_method:
 * never the module attribute, which may be replaced); it raises an audit
 * event first, whose hooks may run Python code, so it is the first step of
 * the capture, its list is excluded from the capture and released right
 * after seeding: every listed object was alive before the list existed and
 * no Python code runs from then to the release, so releasing it frees
 * nothing but the list, and the refcounts read later are exact.
 *
 * From 3.12, PyUnstable_GC_VisitObjects() lists the three generations, and
 * the permanent one is read in place when the check passes (else frozen
 * objects are found only through references, as gc.get_objects() would). */
typedef struct gc_link {
    uintptr_t next, prev;
} gc_link;

typedef struct gc_generation_mirror {
    gc_link head;
    int threshold;
    int count;
} gc_generation_mirror;

typedef struct gc_state_mirror {
    gc_generation_mirror generations[3];
    uintptr_t generation0;
    gc_generation_mirror permanent;
} gc_state_mirror;

enum { GC_PERMANENT = 3, GC_LISTS = 4 };

typedef struct tracked_list {
    PyObject *all;               /* gc.get_objects()'s list (< 3.12 fallback) */
    uintptr_t heads[GC_LISTS];   /* heads[GC_PERMANENT] != 0: the lists are read */
} tracked_list;

static int gc_lists_allowed = 1; /* rc_capture_allow_gc_lists(): tests only */

/* 1 with heads[0..GC_LISTS) set, 0 when the layout does not check out
 * (heads untouched), -1 with an exception set.  Allocates a list and calls
 * gc.get_threshold()'s C function: no Python code. */
static int
gc_lists_find(PyObject *gc, uintptr_t heads[GC_LISTS])
{
#ifdef Py_GIL_DISABLED
    (void)gc;
    (void)heads;
    return 0;
#else
    if (!gc_lists_allowed) {
        return 0;
    }
    PyMethodDef *get_threshold = gc_method(gc, "get_threshold");
    PyObject *thresholds = get_threshold ? gc_call(gc, get_threshold) : NULL;
    if (!thresholds) {
        return -1;
    }
    long want[3];
    int ok = PyTuple_CheckExact(thresholds) && PyTuple_GET_SIZE(thresholds) == 3;
    for (int i = 0; ok && i < 3; i++) {
        PyObject *t = PyTuple_GET_ITEM(thresholds, i);
        want[i] = PyLong_CheckExact(t) ? PyLong_AsLong(t) : -1;
        ok = want[i] >= 0 && want[i] <= INT_MAX;
    }
    Py_DECREF(thresholds);
    PyErr_Clear(); /* an overflow is a failed check, not an error */
    PyObject *probe = ok ? PyList_New(0) : NULL;
    if (ok && !probe) {
        return -1;
    }
    uintptr_t gen0 = probe && PyObject_GC_IsTracked(probe) ? ((gc_link *)probe - 1)->next : 0;
    Py_XDECREF(probe);
    if (!gen0 || gen0 % sizeof(uintptr_t)) {
        return 0;
    }
    const gc_state_mirror *st = (const gc_state_mirror *)gen0;
    for (int i = 0; i < 3; i++) {
        if (st->generations[i].threshold != want[i]) {
            return 0;
        }
    }
    if (st->generation0 != gen0 || st->permanent.threshold != 0) {
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        heads[i] = (uintptr_t)&st->generations[i].head;
    }
    heads[GC_PERMANENT] = (uintptr_t)&st->permanent.head;
    return 1;
#endif
}

/* The previous link: _gc_prev keeps the collector's two flag bits below the
 * pointer. */
static inline const gc_link *
gc_prev(const gc_link *l)
{
    return (const gc_link *)(l->prev & ~(uintptr_t)3);
}

/* Seed with `flags` (or only count, with w NULL) the objects of the list at
 * `head`.  No Python code has run since gc_lists_find: the lists are as the
 * collector left them (its flags live in _gc_prev, and in _gc_next only
 * while it moves objects to an unreachable list, never in these). */
static rc_status
gc_list_seed(walk *w, uintptr_t head, unsigned flags, size_t *n)
{
    /* The list is followed from both ends at once, a window at a time: two
     * chains of dependent loads are in flight instead of one, and neither
     * is slowed by what the seeding reads (measured: a census of the 1M
     * django heap 8% faster, a capture of the 1M service heap 9%).
     * A census (or a count) takes the window's objects in any order.  A
     * graph numbers its nodes in the list's order: it seeds the front half
     * as it reaches it and keeps the back half, which it seeds last, in
     * order.  [f, b] is what is left, in list order.  The window holds
     * objects not yet seeded: safe because expanding frees and untracks
     * nothing (no Python code runs, and the only C code called is
     * tp_traverse and trusted __sizeof__ functions, which read). */
    enum { WINDOW = 1024 };
    const gc_link *h = (const gc_link *)head;
    const gc_link *f = (const gc_link *)h->next, *b = gc_prev(h);
    bool ordered = w && !w->counting, done = f == h;
    uintptr_t window[WINDOW], *back = NULL;
    size_t n_back = 0, back_cap = 0;
    rc_status st = RC_OK;
    while (st == RC_OK && !done) {
        size_t k = 0;
        while (k + 2 <= WINDOW) {
            window[k++] = (uintptr_t)(f + 1); /* the front half: even places */
            if (f == b) {
                done = true;
                break;
            }
            window[k++] = (uintptr_t)(b + 1); /* the back half, last first: odd places */
            const gc_link *next = (const gc_link *)f->next;
            if (next == b) {
                done = true;
                break;
            }
            f = next;
            b = gc_prev(b);
        }
        *n += k;
        for (size_t i = 0; w && i < k && st == RC_OK; i++) {
            if (!ordered || i % 2 == 0) {
                st = seed_tracked(w, window[i], flags);
                continue;
            }
            if (n_back == back_cap) {
                size_t cap = back_cap ? 2 * back_cap : WINDOW;
                uintptr_t *p = rc_reallocarray(back, cap, sizeof *p);
                if (!p) {
                    st = RC_ENOMEM;
                    break;
                }
                back = p;
                back_cap = cap;
            }
            back[n_back++] = window[i];
        }
    }
    while (st == RC_OK && n_back) {
        st = seed_tracked(w, back[--n_back], flags);
    }
    rc_free(back);
    return st;
}

#if PY_VERSION_HEX >= 0x030C0000
typedef struct seed_ctx {
    walk *w;
    rc_status st;
    size_t n;
} seed_ctx;

static int
seed_one(PyObject *op, void *arg)
{
    seed_ctx *ctx = arg;
    ctx->n++;
    if (ctx->w) {
        ctx->st = seed_tracked(ctx->w, (uintptr_t)op, RC_NODE_TRACKED);
    }
    return ctx->st == RC_OK; /* 1 continues the iteration */
}
#endif

int
rc_capture_allow_gc_lists(int allow)
{
    int was = gc_lists_allowed;
    gc_lists_allowed = allow;
    return was;
}

/* Take `all` (stolen; NULL after a failed call: an exception is set) as
 * gc.get_objects()'s list. */
static rc_status
tracked_list_take(rc_builder *b, PyObject *all, tracked_list *t)
{
    if (!all) {
        return RC_EPYTHON;
    }
    if (!PyList_CheckExact(all)) {
        Py_DECREF(all);
        PyErr_SetString(PyExc_SystemError, "gc.get_objects() did not return a list");
        return RC_EPYTHON;
    }
    t->all = all;
    return b ? rc_builder_exclude(b, (uintptr_t)all) : RC_OK;
}

/* Steals `given`: opts->tracked, or NULL (then the lists are read, else
 * before 3.12 gc.get_objects() is called).  Before 3.12 a given None means
 * rc_capture_tracked_list() found the lists: they are read, and if they no
 * longer check out the capture fails rather than run an audit hook. */
static rc_status
tracked_list_get(rc_builder *b, PyObject *gc, PyObject *given, tracked_list *t)
{
    if (given && given != Py_None) {
        return tracked_list_take(b, given, t);
    }
    Py_XDECREF(given); /* None, or nothing */
    int found = gc_lists_find(gc, t->heads);
    if (found < 0) {
        return RC_EPYTHON;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (found == 0 && given) {
        PyErr_SetString(PyExc_SystemError, "the collector's generation lists no longer check out");
        return RC_EPYTHON;
    }
    if (found == 0) {
        PyMethodDef *get_objects = gc_method(gc, "get_objects");
        return tracked_list_take(b, get_objects ? gc_call(gc, get_objects) : NULL, t);
    }
#endif
    return RC_OK;
}

PyObject *
rc_capture_tracked_list(PyObject *gc)
{
    tracked_list t = {0};
    if (tracked_list_get(NULL, gc, NULL, &t) != RC_OK) {
        return NULL;
    }
    if (t.all) {
        return t.all; /* the fallback: gc.get_objects()'s list */
    }
    Py_RETURN_NONE;
}

/* Seed from what tracked_list_get() found (w NULL: count into *n only). */
static rc_status
tracked_list_seed(walk *w, tracked_list *t, size_t *n)
{
    rc_status st = RC_OK;
    *n = 0;
    if (t->all) {
        for (Py_ssize_t i = 0; st == RC_OK && i < PyList_GET_SIZE(t->all); i++) {
            ++*n;
            if (w) {
                st = seed_tracked(w, (uintptr_t)PyList_GET_ITEM(t->all, i), RC_NODE_TRACKED);
            }
        }
        Py_CLEAR(t->all);
        return st;
    }
#if PY_VERSION_HEX < 0x030C0000
    for (int i = 0; st == RC_OK && i < GC_PERMANENT; i++) {
        st = gc_list_seed(w, t->heads[i], RC_NODE_TRACKED, n);
    }
#else
    seed_ctx ctx = {w, RC_OK, 0};
    PyUnstable_GC_VisitObjects(seed_one, &ctx);
    st = ctx.st;
    *n = ctx.n;
#endif
    if (st == RC_OK && t->heads[GC_PERMANENT]) {
        st = gc_list_seed(w, t->heads[GC_PERMANENT], RC_NODE_TRACKED | RC_NODE_FROZEN, n);
    }
    return st;
}

/* Calls sys.getallocatedblocks only when it is still sys's own C
 * function, which reads a counter and makes an int. */
size_t
rc_capture_allocated_blocks(void)
{
    PyObject *f = PySys_GetObject("getallocatedblocks"); /* borrowed */
    if (!f || !PyCFunction_Check(f) || !(PyCFunction_GET_FLAGS(f) & METH_NOARGS) ||
        strcmp(((PyCFunctionObject *)f)->m_ml->ml_name, "getallocatedblocks") != 0) {
        return 0;
    }
    PyObject *self = PyCFunction_GET_SELF(f);
    const char *name = self && PyModule_Check(self) ? PyModule_GetName(self) : NULL;
    PyObject *r = name && strcmp(name, "sys") == 0
                      ? PyCFunction_GET_FUNCTION(f)(self, NULL)
                      : NULL;
    Py_ssize_t n = r && PyLong_Check(r) ? PyLong_AsSsize_t(r) : -1;
    Py_XDECREF(r);
    PyErr_Clear();
    return n > 0 ? (size_t)n : 0;
}

/* A first capture (no hint from an earlier one) makes room for what it
 * will most likely find, so that its node arrays do not grow step by step:
 * one node per pymalloc block (1.10-1.33 blocks per node on the bench's
 * heaps and a bare interpreter's, whatever their share of tracked objects),
 * or where pymalloc cannot tell, NODES_PER_TRACKED per tracked object, as
 * in an interpreter's own heap and a typical service's (2.7 on both; heaps
 * of untracked payloads have 5-7, and grow from there).  Counting the
 * tracked objects walks the collector's lists once more: 3-8 ms at 1M.
 * Room not used is address space only: the arrays' pages are faulted in as
 * they are filled.  A capture of containers only (blocks 0) keeps a
 * fraction of the objects. */
#define NODES_PER_TRACKED 3

static void
reserve_first(rc_builder *b, tracked_list *t, size_t blocks)
{
    size_t n = blocks;
    if (!n) {
        if (t->all) {
            n = (size_t)PyList_GET_SIZE(t->all);
        } else {
            tracked_list_seed(NULL, t, &n); /* counts only: cannot fail */
        }
        n *= NODES_PER_TRACKED;
    }
    /* A guess: room refused (a heap of small blocks that are not objects)
     * is no error; the arrays grow as they fill, and fail if they must. */
    (void)rc_builder_reserve(b, n);
}

int
rc_capture_count_tracked(PyObject *gc, size_t *n)
{
    tracked_list t = {0};
    if (tracked_list_get(NULL, gc, NULL, &t) != RC_OK) {
        return -1;
    }
    tracked_list_seed(NULL, &t, n); /* counts only: cannot fail */
    return 0;
}

int
rc_capture_sees_frozen(PyObject *gc)
{
    uintptr_t heads[GC_LISTS] = {0};
    int found = gc_lists_find(gc, heads);
    return found < 0 ? -1 : heads[GC_PERMANENT] != 0;
}

static void
tracked_list_release(tracked_list *t)
{
    Py_CLEAR(t->all);
}

/* The type key of a counted object (rc_census_of_counter), read while the
 * capture still holds everything it saw. */
static uintptr_t
type_key_of(uintptr_t addr)
{
    return (uintptr_t)Py_TYPE((PyObject *)addr);
}

/* rc_capture() into *graph, or, with census not NULL, rc_capture_census()
 * into *census. */
static rc_status
capture(const rc_capture_opts *opts, unsigned census_flags, rc_graph **graph,
        rc_census **census)
{
    walk w = {0};
    rc_status st = RC_ENOMEM;
    gc_pause pause = {0};
    tracked_list tracked = {0};
    PyObject *given = opts->tracked; /* stolen: tracked_list_get owns it */
    if (gc_pause_start(opts->gc_module, &pause) < 0) {
        Py_XDECREF(given);
        return RC_EPYTHON;
    }
    /* A pool no capture reused for RC_POOL_IDLE_SECONDS is given back
     * before this one allocates (refchain/pool.h). */
    rc_pool_expire(rc_pool_clock());
    w.sizeof_name = PyUnicode_InternFromString("__sizeof__");
    w.module_name = PyUnicode_InternFromString("__module__");
    if (!w.sizeof_name || !w.module_name) {
        st = RC_EPYTHON;
        goto finally;
    }
    w.opts = opts;
    w.modules = PyImport_GetModuleDict();
    w.atexit = atexit_module(w.modules);
    code_trust_init(&w.trust, opts);
    w.static_type_extra = measure_static_type_extra(w.sizeof_name, &w.trust);
    check_inline_sizes(w.sizeof_name);
    if (opts->n_held) {
        w.held = rc_malloc(opts->n_held * sizeof *w.held);
        if (!w.held) {
            goto finally;
        }
        memcpy(w.held, opts->held, opts->n_held * sizeof *w.held);
        qsort(w.held, opts->n_held, sizeof *w.held, cmp_addr);
        for (size_t i = 0; i < opts->n_held; i++) {
            size_t bit = (w.held[i] >> 4) & 255;
            w.held_filter[bit / 64] |= UINT64_C(1) << (bit % 64);
        }
    }
    w.counting = census != NULL;
    if (!census) {
        small_ints_note(&w);
    }
    w.b = census ? rc_builder_new_counter() : rc_builder_new(opts->node_hint);
    if (!w.b) {
        goto finally;
    }
    if (opts->edges == RC_EDGES_NONE) {
        rc_builder_nodes_only(w.b);
    } else if (!census) {
        rc_builder_expect_edges(w.b, opts->edge_hint);
    }
    if (opts->addr_order && !census) {
        rc_builder_keep_addr_order(w.b);
    }
    for (size_t i = 0; i < opts->n_exclude; i++) {
        if ((st = rc_builder_exclude(w.b, (uintptr_t)opts->exclude[i])) != RC_OK) {
            goto finally;
        }
    }
    /* Seeds: every tracked object (frozen ones too where the collector's
     * lists check out), this interpreter's frames, plus the module table and
     * builtins so that frozen objects are reached where they do not.  The
     * enumeration first: a gc.get_objects() fallback's audit hooks are the
     * last Python code that may run before the walk ends. */
    bool first = opts->node_hint == 0 && !census;
    size_t blocks = first && !opts->containers_only ? rc_capture_allocated_blocks() : 0;
    st = tracked_list_get(w.b, opts->gc_module, given, &tracked);
    given = NULL;
    if (st == RC_OK && first) {
        reserve_first(w.b, &tracked, blocks);
    }
    if (st == RC_OK) {
        st = collect_frames(&w);
    }
    if (st == RC_OK) {
        st = seed_frames(&w);
    }
    if (st == RC_OK) {
        size_t n_tracked;
        st = tracked_list_seed(&w, &tracked, &n_tracked);
    }
    if (st == RC_OK) {
        st = rc_builder_seed(w.b, (uintptr_t)w.modules);
    }
    PyObject *builtins = PyEval_GetBuiltins();
    if (st == RC_OK && builtins) {
        st = rc_builder_seed(w.b, (uintptr_t)builtins);
    }
    if (st != RC_OK) {
        goto finally;
    }

    /* Phase 2: the walk.  From here to the freeze, no Python code runs. */
    if ((st = drain(&w)) != RC_OK) {
        goto finally;
    }
    if (census) {
        /* Before the frames are released: every counted object is read. */
        st = rc_census_of_counter(w.b, type_key_of, census_flags, census);
        goto finally;
    }
    rc_graph *g = NULL;
    st = rc_builder_freeze(w.b, &g);
    w.b = NULL;
    if (st == RC_OK && opts->edges == RC_EDGES_BOTH && (st = rc_graph_build_in(g)) != RC_OK) {
        rc_graph_free(g);
    }
    if (st == RC_OK) {
        *graph = g;
    }

finally:
    Py_XDECREF(given);
    tracked_list_release(&tracked);
    release_frames(&w);
    rc_builder_free(w.b);
    rc_free(w.scratch);
    rc_free(w.sizing);
    rc_free(w.frame_refs);
    rc_free(w.frames);
    rc_free(w.held);
    rc_free(w.named);
    rc_free(w.name);
    Py_XDECREF(w.sizeof_name);
    Py_XDECREF(w.module_name);
    gc_pause_end(&pause);
    return st;
}

rc_status
rc_capture(const rc_capture_opts *opts, rc_graph **out)
{
    return capture(opts, 0, out, NULL);
}

rc_status
rc_capture_census(const rc_capture_opts *opts, unsigned flags, rc_census **out)
{
    rc_census *c = NULL;
    rc_status st = capture(opts, flags, NULL, &c);
    if (st == RC_OK) {
        *out = c;
    }
    return st;
}

/* realpath(path) in PyMem_RawMalloc'ed memory, or NULL. */
static char *
real_dir(const char *path)
{
    char *real = path ? realpath(path, NULL) : NULL, *result = NULL;
    if (real) {
        size_t n = strlen(real) + 1;
        result = PyMem_RawMalloc(n);
        if (result) {
            memcpy(result, real, n);
        }
        free(real);
    }
    return result;
}

/* The real path of the standard library's extension directory (sysconfig's
 * DESTSHARED), PyMem_RawMalloc'ed, or NULL.  On a POSIX build it is
 * <sys.base_exec_prefix>/<sys.platlibdir>/pythonX.Y/lib-dynload, read
 * without importing sysconfig: its modules and data (thousands of str)
 * would stay in every heap refchain reports on.  sysconfig answers only
 * where that directory does not exist (and stays imported: unloading a
 * module leaves its objects for a later collection to free, in the middle
 * of the program's work). */
static char *
stdlib_ext_dir(void)
{
    char path[4096];
    PyObject *prefix = PySys_GetObject("base_exec_prefix"); /* borrowed */
    PyObject *libdir = PySys_GetObject("platlibdir");       /* 3.9+ */
    PyObject *pb = prefix && PyUnicode_Check(prefix) ? PyUnicode_EncodeFSDefault(prefix) : NULL;
    PyObject *lb = libdir && PyUnicode_Check(libdir) ? PyUnicode_EncodeFSDefault(libdir) : NULL;
    int n = pb ? snprintf(path, sizeof path, "%s/%s/python%d.%d/lib-dynload",
                          PyBytes_AS_STRING(pb), lb ? PyBytes_AS_STRING(lb) : "lib",
                          PY_MAJOR_VERSION, PY_MINOR_VERSION)
               : -1;
    Py_XDECREF(pb);
    Py_XDECREF(lb);
    PyErr_Clear();
    char *result = n > 0 && (size_t)n < sizeof path ? real_dir(path) : NULL;
    if (result) {
        return result;
    }
    PyObject *sysconfig = PyImport_ImportModule("sysconfig");
    PyObject *dir = sysconfig ? PyObject_CallMethod(sysconfig, "get_config_var", "s", "DESTSHARED")
                              : NULL;
    PyObject *bytes = dir && PyUnicode_Check(dir) ? PyUnicode_EncodeFSDefault(dir) : NULL;
    result = bytes ? real_dir(PyBytes_AS_STRING(bytes)) : NULL;
    PyErr_Clear();
    Py_XDECREF(bytes);
    Py_XDECREF(dir);
    Py_XDECREF(sysconfig);
    return result;
}

/* _struct.Struct's C __sizeof__, found by identity (its type's name is
 * "Struct" on 3.8, "_struct.Struct" later), or NULL. */
static void (*struct_sizeof(void))(void)
{
    void (*fn)(void) = NULL;
    PyObject *mod = PyImport_ImportModule("_struct");
    PyObject *type = mod ? PyObject_GetAttrString(mod, "Struct") : NULL;
    if (type && PyType_Check(type)) {
        PyObject *d = PyDict_GetItemString(((PyTypeObject *)type)->tp_dict, "__sizeof__");
        if (d && Py_TYPE(d) == &PyMethodDescr_Type) {
            fn = (void (*)(void))((PyMethodDescrObject *)d)->d_method->ml_meth;
        }
    }
    PyErr_Clear();
    Py_XDECREF(type);
    Py_XDECREF(mod);
    return fn;
}

static int
find_bytes(PyObject *op, void *arg)
{
    *(int *)arg |= op && PyBytes_CheckExact(op);
    return 0;
}

/* _io.BytesIO's C __sizeof__ when it counts a buffer that tp_traverse
 * visits (3.12+), found by identity and by what a sample's traversal
 * visits (a version check would miss a backport), or NULL.  The sample is
 * an exact _io.BytesIO, whose methods run no Python code. */
static void (*bytesio_sizeof(void))(void)
{
    void (*fn)(void) = NULL;
    PyObject *mod = PyImport_ImportModule("_io");
    PyObject *type = mod ? PyObject_GetAttrString(mod, "BytesIO") : NULL;
    PyObject *sample = type && PyType_Check(type) ? PyObject_CallObject(type, NULL) : NULL;
    PyObject *wrote = sample ? PyObject_CallMethod(sample, "write", "y", "refchain") : NULL;
    if (wrote && Py_TYPE(sample) == (PyTypeObject *)type && PyType_IS_GC(Py_TYPE(sample)) &&
        Py_TYPE(sample)->tp_traverse) {
        int visits_bytes = 0;
        Py_TYPE(sample)->tp_traverse(sample, find_bytes, &visits_bytes);
        PyObject *d = visits_bytes ? PyDict_GetItemString(type_dict(type), "__sizeof__") : NULL;
        if (d && Py_IS_TYPE(d, &PyMethodDescr_Type)) {
            fn = (void (*)(void))((PyMethodDescrObject *)d)->d_method->ml_meth;
        }
    }
    PyErr_Clear();
    Py_XDECREF(wrote);
    Py_XDECREF(sample);
    Py_XDECREF(type);
    Py_XDECREF(mod);
    return fn;
}

void
rc_sizing_probe(char **stdlib_dir, void (**refused_sizeof)(void), void (**layout_sizeof)(void))
{
    *stdlib_dir = stdlib_ext_dir();
    *refused_sizeof = struct_sizeof();
    *layout_sizeof = bytesio_sizeof();
}

PyObject **
rc_capture_hold(const rc_graph *g, const rc_id *ids, size_t n)
{
    PyObject **refs = rc_malloc((n ? n : 1) * sizeof *refs);
    for (size_t i = 0; refs && i < n; i++) {
        refs[i] = (PyObject *)rc_graph_addr(g, ids ? ids[i] : (rc_id)i);
        Py_INCREF(refs[i]);
    }
    return refs;
}

/* rc_capture_full_index's walk over tp_traverse: the pruned out-edges
 * out[0..deg) are matched in order; each reference that is not the next
 * of them was a leaf left out. */
typedef struct full_index {
    const rc_graph *g;
    const rc_id *out;
    size_t deg, matched, seen, k;
    uint32_t found;
} full_index;

static int
full_index_visit(PyObject *op, void *arg)
{
    full_index *f = arg;
    if (!op) {
        return 0;
    }
    if (f->matched < f->deg && rc_graph_addr(f->g, f->out[f->matched]) == (uintptr_t)op) {
        if (f->matched++ == f->k) {
            f->found = (uint32_t)f->seen;
            return 1; /* stops the traversal */
        }
    }
    f->seen++;
    return 0;
}

uint32_t
rc_capture_full_index(const rc_graph *g, rc_id from, uint32_t k)
{
    full_index f = {.g = g, .k = k, .found = UINT32_MAX};
    f.out = rc_graph_out(g, from, &f.deg);
    if (k >= f.deg) {
        return UINT32_MAX;
    }
    PyObject *op = (PyObject *)rc_graph_addr(g, from);
    PyTypeObject *tp = Py_TYPE(op);
    if (is_gc(op, tp) && tp->tp_traverse) {
        tp->tp_traverse(op, full_index_visit, &f);
    }
    if (f.found != UINT32_MAX) {
        return f.found;
    }
    /* Past tp_traverse's references: the walk's own additions. */
    uint64_t full = (uint64_t)f.seen + (k - f.matched);
    return full < UINT32_MAX ? (uint32_t)full : UINT32_MAX;
}

void
rc_capture_full_indexes(const rc_graph *g, const rc_id *ids, uint32_t *edges, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        edges[i] = rc_capture_full_index(g, ids[i], edges[i]);
    }
}

PyObject **
rc_capture_borrow(const rc_graph *g, size_t *bytes)
{
    size_t n = rc_graph_node_count(g);
    PyObject **refs = rc_pool_array(n, sizeof *refs, bytes);
    for (size_t i = 0; refs && i < n; i++) {
        refs[i] = (PyObject *)rc_graph_addr(g, (rc_id)i);
    }
    return refs;
}

void
rc_capture_release(PyObject **refs, size_t n)
{
    for (size_t i = 0; refs && i < n; i++) {
        Py_DECREF(refs[i]);
    }
    rc_free(refs);
}

/* ---- what a dump reads of the objects it holds -------------------------------- */

_Static_assert(RC_DECIMAL_MAX <= RC_SHORT_VALUE_MAX, "an int's decimal fits a short value");

long
rc_short_value(PyObject *op, char *buf)
{
    PyTypeObject *tp = Py_TYPE(op);
    if (tp == &PyUnicode_Type) {
        /* Its first characters, whole: no value when a lone surrogate
         * (which has no UTF-8) is among them. */
        return str_readable(op) ? str_utf8(op, buf, RC_SHORT_VALUE_MAX, 1) : -1;
    }
    if (tp == &PyBytes_Type) {
        size_t n = (size_t)PyBytes_GET_SIZE(op);
        n = n < RC_SHORT_VALUE_MAX ? n : RC_SHORT_VALUE_MAX;
        memcpy(buf, PyBytes_AS_STRING(op), n);
        return (long)n;
    }
    if (op == Py_None || op == Py_True || op == Py_False) {
        const char *s = op == Py_None ? "None" : op == Py_True ? "True" : "False";
        memcpy(buf, s, strlen(s));
        return (long)strlen(s);
    }
    if (tp == &PyLong_Type) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(op, &overflow); /* exact int: C only */
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return -1;
        }
        return (long)rc_decimal(buf, v);
    }
    if (tp == &PyFloat_Type) {
        /* 0.5, 1234.25...: their own digits, without CPython's search for
         * the shortest (half of a dump's values' time on such floats). */
        _Static_assert(RC_FLOAT_REPR_MAX <= RC_SHORT_VALUE_MAX, "a float's repr fits");
        size_t len = rc_float_repr(PyFloat_AS_DOUBLE(op), buf);
        if (len) {
            return (long)len;
        }
        char *s = PyOS_double_to_string(PyFloat_AS_DOUBLE(op), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!s) {
            PyErr_Clear();
            return -1;
        }
        size_t n = strlen(s) < RC_SHORT_VALUE_MAX ? strlen(s) : RC_SHORT_VALUE_MAX;
        memcpy(buf, s, n);
        PyMem_Free(s);
        return (long)n;
    }
    return -1;
}

/* An open-addressing set of uint32 indexes into a table the caller keys. */
typedef struct idx_set {
    uint32_t *slot; /* UINT32_MAX: empty */
    size_t mask, used;
} idx_set;

static int
idx_set_grow(idx_set *t, size_t want, uint64_t (*hash)(const void *, uint32_t), const void *ctx)
{
    if (t->slot && 2 * (want + 1) <= t->mask + 1) {
        return 0;
    }
    size_t cap = t->slot ? 2 * (t->mask + 1) : 1024;
    while (2 * (want + 1) > cap) {
        cap *= 2;
    }
    uint32_t *slot = rc_reallocarray(NULL, cap, sizeof *slot);
    if (!slot) {
        return -1;
    }
    memset(slot, 0xFF, cap * sizeof *slot);
    for (size_t i = 0; t->slot && i <= t->mask; i++) {
        if (t->slot[i] != UINT32_MAX) {
            size_t j = (size_t)hash(ctx, t->slot[i]) & (cap - 1);
            while (slot[j] != UINT32_MAX) {
                j = (j + 1) & (cap - 1);
            }
            slot[j] = t->slot[i];
        }
    }
    rc_free(t->slot);
    t->slot = slot;
    t->mask = cap - 1;
    return 0;
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0xFF51AFD7ED558CCDull;
}

/* The sites being built: frames keyed by (file object, line) while they are
 * collected (file_obj[i] borrowed from the traceback tuples, which
 * tracemalloc interns), tracebacks by their frame indexes. */
typedef struct sites_build {
    rc_sites *s;
    PyObject **file_obj;
    size_t frames_cap, tb_cap, tbf_cap;
    idx_set by_frame, by_tb;
    /* The traceback being looked up: pending[0..n_pending). */
    uint32_t *pending;
    size_t n_pending, pending_cap;
} sites_build;

static uint64_t
frame_hash(const void *ctx, uint32_t i)
{
    const sites_build *b = ctx;
    return mix((uint64_t)(uintptr_t)b->file_obj[i], b->s->frames[i].line);
}

static uint64_t
tb_hash_of(const uint32_t *f, size_t n)
{
    uint64_t h = n;
    for (size_t i = 0; i < n; i++) {
        h = mix(h, f[i]);
    }
    return h;
}

static uint64_t
tb_hash(const void *ctx, uint32_t t)
{
    const rc_sites *s = ((const sites_build *)ctx)->s;
    return tb_hash_of(s->traceback_frames + s->traceback_off[t],
                      s->traceback_off[t + 1] - s->traceback_off[t]);
}

static int
reserve(void **p, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap) {
        return 0;
    }
    size_t c = *cap ? 2 * *cap : 64;
    while (c < want) {
        c *= 2;
    }
    void *q = rc_reallocarray(*p, c, size);
    if (!q) {
        return -1;
    }
    *p = q;
    *cap = c;
    return 0;
}

/* The index of frame (file, line), added when new; UINT32_MAX on ENOMEM.
 * The file name's UTF-8 is made by str_utf8 (a name that is not a str
 * reads <unknown>). */
static uint32_t
frame_index(sites_build *b, PyObject *file, uint32_t line)
{
    rc_sites *s = b->s;
    if (idx_set_grow(&b->by_frame, s->n_frames + 1, frame_hash, b) < 0) {
        return UINT32_MAX;
    }
    size_t j = (size_t)mix((uint64_t)(uintptr_t)file, line) & b->by_frame.mask;
    for (; b->by_frame.slot[j] != UINT32_MAX; j = (j + 1) & b->by_frame.mask) {
        uint32_t i = b->by_frame.slot[j];
        if (b->file_obj[i] == file && s->frames[i].line == line) {
            return i;
        }
    }
    size_t cap = b->frames_cap;
    if (reserve((void **)&s->frames, &cap, s->n_frames + 1, sizeof *s->frames) < 0 ||
        reserve((void **)&b->file_obj, &b->frames_cap, s->n_frames + 1, sizeof *b->file_obj) < 0) {
        return UINT32_MAX;
    }
    int readable = str_readable(file);
    size_t chars = readable ? (size_t)PyUnicode_GET_LENGTH(file) : 0;
    char *copy = chars < SIZE_MAX / 4 ? rc_malloc(4 * chars + sizeof "<unknown>") : NULL;
    if (!copy) {
        return UINT32_MAX;
    }
    if (readable) {
        copy[str_utf8(file, copy, 4 * chars, 0)] = '\0';
    } else {
        memcpy(copy, "<unknown>", sizeof "<unknown>");
    }
    uint32_t i = (uint32_t)s->n_frames++;
    s->frames[i] = (rc_snap_frame){copy, line};
    b->file_obj[i] = file;
    b->by_frame.slot[j] = i;
    b->by_frame.used++;
    return i;
}

/* The index of the traceback b->pending, added when new; UINT32_MAX on ENOMEM. */
static uint32_t
traceback_index(sites_build *b)
{
    rc_sites *s = b->s;
    if (idx_set_grow(&b->by_tb, s->n_tracebacks + 1, tb_hash, b) < 0) {
        return UINT32_MAX;
    }
    size_t j = (size_t)tb_hash_of(b->pending, b->n_pending) & b->by_tb.mask;
    for (; b->by_tb.slot[j] != UINT32_MAX; j = (j + 1) & b->by_tb.mask) {
        uint32_t t = b->by_tb.slot[j];
        size_t n = s->traceback_off[t + 1] - s->traceback_off[t];
        if (n == b->n_pending &&
            !memcmp(s->traceback_frames + s->traceback_off[t], b->pending, n * sizeof *b->pending)) {
            return t;
        }
    }
    size_t used = s->traceback_off[s->n_tracebacks];
    if (used + b->n_pending > UINT32_MAX - 1 ||
        reserve((void **)&s->traceback_off, &b->tb_cap, s->n_tracebacks + 2,
                sizeof *s->traceback_off) < 0 ||
        reserve((void **)&s->traceback_frames, &b->tbf_cap, used + b->n_pending + 1,
                sizeof *s->traceback_frames) < 0) {
        return UINT32_MAX;
    }
    memcpy(s->traceback_frames + used, b->pending, b->n_pending * sizeof *b->pending);
    uint32_t t = (uint32_t)s->n_tracebacks++;
    s->traceback_off[t + 1] = (uint32_t)(used + b->n_pending);
    b->by_tb.slot[j] = t;
    b->by_tb.used++;
    return t;
}

/* obj's traceback index into *t (RC_SNAP_NONE when untraced): 0, or -1 on
 * ENOMEM or with an exception set. */
static int
site_of_object(sites_build *b, PyObject *obj, uint32_t *t)
{
    *t = RC_SNAP_NONE;
    PyObject *tb = rc_alloc_traceback(obj);
    if (!tb) {
        return -1;
    }
    int rc = 0;
    b->n_pending = 0;
    if (PyTuple_Check(tb) && PyTuple_GET_SIZE(tb) > 0) {
        Py_ssize_t n = PyTuple_GET_SIZE(tb);
        if (reserve((void **)&b->pending, &b->pending_cap, (size_t)n, sizeof *b->pending) < 0) {
            rc = -1;
        }
        for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
            PyObject *fr = PyTuple_GET_ITEM(tb, i);
            if (!PyTuple_Check(fr) || PyTuple_GET_SIZE(fr) != 2) {
                continue;
            }
            long line = PyLong_AsLong(PyTuple_GET_ITEM(fr, 1));
            if (line == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                continue;
            }
            uint32_t f = frame_index(b, PyTuple_GET_ITEM(fr, 0),
                                     line < 0 ? 0 : line > (long)UINT32_MAX ? UINT32_MAX
                                                                            : (uint32_t)line);
            if (f == UINT32_MAX) {
                rc = -1;
            } else {
                b->pending[b->n_pending++] = f;
            }
        }
        if (rc == 0 && b->n_pending > 0 && (*t = traceback_index(b)) == UINT32_MAX) {
            rc = -1;
        }
    }
    Py_DECREF(tb); /* frames keep their file names in tracemalloc's table */
    return rc;
}

rc_status
rc_capture_sites(PyObject *const *refs, size_t n, rc_sites *out)
{
    memset(out, 0, sizeof *out);
    sites_build b = {.s = out};
    rc_status st = RC_ENOMEM;
    size_t cap = 0;
    out->node_traceback = rc_reallocarray(NULL, n ? n : 1, sizeof *out->node_traceback);
    if (!out->node_traceback ||
        reserve((void **)&out->traceback_off, &cap, 1, sizeof *out->traceback_off) < 0) {
        goto finally;
    }
    b.tb_cap = cap;
    out->traceback_off[0] = 0;
    void *top = rc_frames_hide();
    st = RC_OK;
    for (size_t i = 0; i < n && st == RC_OK; i++) {
        if (site_of_object(&b, refs[i], &out->node_traceback[i]) < 0) {
            st = PyErr_Occurred() ? RC_EPYTHON : RC_ENOMEM;
        }
    }
    rc_frames_show(top);
finally:
    rc_free(b.file_obj);
    rc_free(b.by_frame.slot);
    rc_free(b.by_tb.slot);
    rc_free(b.pending);
    if (st != RC_OK) {
        rc_sites_clear(out);
    }
    return st;
}

void
rc_sites_clear(rc_sites *s)
{
    for (size_t i = 0; s->frames && i < s->n_frames; i++) {
        rc_free((void *)(uintptr_t)s->frames[i].file);
    }
    rc_free(s->frames);
    rc_free(s->traceback_off);
    rc_free(s->traceback_frames);
    rc_free(s->node_traceback);
    memset(s, 0, sizeof *s);
}
