/* Heap capture (see refchain/capture.h).
 *
 * Phases, each finished before the next starts:
 *   1. Before the walk, Python may still run: automatic collection is turned
 *      off, every thread's frames are read (this may run Python code, so it
 *      comes first), then every gc-tracked object is enumerated as a seed
 *      (through gc.get_objects() before 3.12, PyUnstable_GC_VisitObjects()
 *      after).  The enumeration list is released before any refcount is
 *      read, so the recorded refcounts are exactly the heap's.
 *   2. The walk: nodes are expanded in id order.  Each node's type is
 *      interned, its size and refcount recorded, and its references taken
 *      from tp_traverse.  No Python code runs and no Python object is created
 *      here (the only calls are into C __sizeof__ implementations of trusted
 *      core types, whose results are small ints freed at once).
 *   3. The graph is frozen and collection is restored.
 *
 * Running frames need care too: they are often untracked (never enumerated),
 * and from 3.11 a running frame's tp_traverse does not report its local
 * variables.  So phase 1 also seeds every thread's frames and, on 3.11+,
 * records (frame, local value) pairs, read through f_locals, that the walk
 * adds as the frame's edges, with one to its globals.  Cell and free
 * variables are left out: the frame holds the cell, whose own traversal
 * reports the value.
 *
 * Dict keys need care: tp_traverse omits the keys of a dict whose keys are
 * all str (they cannot form cycles), but those keys are real references and
 * real objects.  A combined-table dict whose traversal skipped its keys gets
 * explicit key edges; the keys of a split-table dict belong to the shared
 * keys object, not to the dict, so they become nodes without an edge. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/capture.h"
#include "refchain/strutil.h"

#ifdef Py_GIL_DISABLED
#error "refchain does not support free-threaded CPython builds yet"
#endif

#if PY_VERSION_HEX < 0x03090000
#define PyObject_GC_IsTracked(op) _PyObject_GC_IS_TRACKED(op)
#define Py_IS_TYPE(op, tp) (Py_TYPE(op) == (tp))
#endif

#define GC_HEAD_SIZE (2 * sizeof(void *))
#ifndef Py_TPFLAGS_PREHEADER
#define Py_TPFLAGS_PREHEADER 0
#endif

enum { SIZE_BASIC, SIZE_CALL };
enum { TYPE_CACHE = 256 };

/* How to size an instance of a type. */
typedef struct sizing {
    int strategy;
    PyCFunction fn; /* SIZE_CALL: a trusted METH_NOARGS __sizeof__ */
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

typedef struct walk {
    rc_builder *b;
    const rc_capture_opts *opts;
    frame_ref *frame_refs; /* sorted by frame */
    size_t n_frame_refs, frame_refs_cap;
    frame_info *frames; /* sorted by frame */
    size_t n_frames, frames_cap;
    uintptr_t *held; /* sorted copy of opts->held */
    PyObject *modules;
    PyObject *sizeof_name, *module_name;
    size_t static_type_extra;
    /* This node's references, in tp_traverse order. */
    uintptr_t *scratch;
    size_t n_scratch, scratch_cap;
    int scratch_failed;
    /* Sizing per interned type id. */
    sizing *sizing;
    size_t sizing_cap, n_types;
    PyTypeObject *type_cache[TYPE_CACHE];
    uint32_t type_cache_id[TYPE_CACHE];
    /* Scratch for building type names. */
    char *name;
    size_t name_len, name_cap;
} walk;

/* ---- sizes ---------------------------------------------------------------- */

/* Core types whose C __sizeof__ is known to run no Python code. */
static int
trusted_sizeof_owner(PyTypeObject *t)
{
    static const char *const prefixes[] = {
        "collections.", "_collections.", "array.",   "_io.",      "io.",
        "itertools.",   "functools.",    "_struct.", "decimal.",  "_decimal.",
        "datetime.",    "_pickle.",      "_sre.",    "re.",       "_thread.",
        "_asyncio.",    "_random.",      "mmap.",    "_hashlib.", "_socket.",
        "socket.",      "select.",       "zlib.",    "_bz2.",     "_lzma.",
        "_csv.",        "_json.",        "_queue.",  "operator.", "_operator.",
    };
    const char *name = t->tp_name;
    if (!PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE) && !strchr(name, '.')) {
        return 1; /* a static builtin: int, str, dict, list, ... */
    }
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
type_sizing(PyTypeObject *tp, PyObject *sizeof_name, sizing *out)
{
    out->strategy = SIZE_BASIC;
    out->fn = NULL;
    /* _PyType_Lookup() walks the MRO's dicts with a str key: no code runs. */
    PyObject *d = _PyType_Lookup(tp, sizeof_name);
    if (PyErr_Occurred()) {
        PyErr_Clear();
    }
    if (!d || !Py_IS_TYPE(d, &PyMethodDescr_Type)) {
        return; /* object.__sizeof__ is a method descriptor too */
    }
    PyMethodDescrObject *md = (PyMethodDescrObject *)d;
    PyTypeObject *owner = PyDescr_TYPE(md);
    if (owner == &PyBaseObject_Type || (md->d_method->ml_flags & ~METH_COEXIST) != METH_NOARGS ||
        !PyType_IsSubtype(tp, owner) || !trusted_sizeof_owner(owner)) {
        return;
    }
    out->strategy = SIZE_CALL;
    out->fn = md->d_method->ml_meth;
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
    if (s->strategy == SIZE_CALL) {
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
measure_static_type_extra(PyObject *sizeof_name)
{
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
    sizing s;
    type_sizing(&PyType_Type, sizeof_name, &s);
    size_t full = _PySys_GetSizeOf((PyObject *)&PyLong_Type);
    if (full == (size_t)-1) {
        PyErr_Clear();
        return 0;
    }
    uint64_t bare = object_size((PyObject *)&PyLong_Type, &PyType_Type, &s, 0);
    return full > bare ? (size_t)(full - bare) : 0;
#else
    (void)sizeof_name;
    return 0;
#endif
}

uint64_t
rc_shallow_size(PyObject *op)
{
    sizing s;
    PyObject *name = PyUnicode_InternFromString("__sizeof__");
    size_t extra = 0;
    if (!name) {
        PyErr_Clear();
        s.strategy = SIZE_BASIC;
    } else {
        type_sizing(Py_TYPE(op), name, &s);
        extra = measure_static_type_extra(name);
        Py_DECREF(name);
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

/* Append a str as UTF-8 without creating objects: lone surrogates (which
 * PyUnicode_AsUTF8 would refuse with an exception) become U+FFFD. */
static int
name_add_str(walk *w, PyObject *u)
{
    if (!PyUnicode_Check(u)) {
        return name_add_bytes(w, "?", 1);
    }
#if PY_VERSION_HEX < 0x030C0000
    if (!PyUnicode_IS_READY(u)) {
        return name_add_bytes(w, "?", 1);
    }
#endif
    Py_ssize_t len = PyUnicode_GET_LENGTH(u);
    if (PyUnicode_IS_ASCII(u)) {
        return name_add_bytes(w, (const char *)PyUnicode_DATA(u), (size_t)len);
    }
    int kind = PyUnicode_KIND(u);
    const void *data = PyUnicode_DATA(u);
    if (!name_reserve(w, 4 * (size_t)len)) {
        return 0;
    }
    char *o = w->name + w->name_len;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == 0 || (c >= 0xD800 && c <= 0xDFFF)) {
            c = 0xFFFD;
        }
        if (c < 0x80) {
            *o++ = (char)c;
        } else if (c < 0x800) {
            *o++ = (char)(0xC0 | (c >> 6));
            *o++ = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *o++ = (char)(0xE0 | (c >> 12));
            *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (char)(0x80 | (c & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (c >> 18));
            *o++ = (char)(0x80 | ((c >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (char)(0x80 | (c & 0x3F));
        }
    }
    w->name_len = (size_t)(o - w->name);
    w->name[w->name_len] = '\0';
    return 1;
}

/* A heap type's own __module__, found by scanning its dict for an exact str
 * key (a lookup could compare against a user key's __eq__). */
static PyObject *
heap_type_module(PyTypeObject *tp, PyObject *module_name)
{
    PyObject *dict = tp->tp_dict, *key, *value;
    Py_ssize_t pos = 0;
    if (!dict || !PyDict_Check(dict)) {
        return NULL;
    }
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (key == module_name ||
            (PyUnicode_CheckExact(key) && PyUnicode_Compare(key, module_name) == 0)) {
            return PyUnicode_Check(value) ? value : NULL;
        }
    }
    return NULL;
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
        strcmp(tp->tp_name, "collections.deque") == 0) {
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
    if (w->n_types == w->sizing_cap) {
        size_t cap = w->sizing_cap ? w->sizing_cap * 2 : 256;
        sizing *p = rc_reallocarray(w->sizing, cap, sizeof *p);
        if (!p) {
            return RC_ENOMEM;
        }
        w->sizing = p;
        w->sizing_cap = cap;
    }
    rc_status st = rc_builder_type(w->b, (uintptr_t)tp, w->name, w->name + short_at, flags, &id);
    if (st != RC_OK) {
        return st;
    }
    w->n_types++;
    type_sizing(tp, w->sizeof_name, &w->sizing[id]);
    *out = id;
    return RC_OK;
}

/* ---- the walk --------------------------------------------------------------- */

static rc_status frame_locals(walk *w, PyObject *op);
static rc_status seed_frames(walk *w);
static unsigned frame_flags(const walk *w, uintptr_t op);
static size_t held_count(const walk *w, uintptr_t op);

static int
visit(PyObject *op, void *arg)
{
    walk *w = arg;
    if (w->n_scratch == w->scratch_cap) {
        size_t cap = w->scratch_cap ? w->scratch_cap * 2 : 1024;
        uintptr_t *p = rc_reallocarray(w->scratch, cap, sizeof *p);
        if (!p) {
            w->scratch_failed = 1;
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
 * reports (value, key) pairs in PyDict_Next order when it includes keys. */
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
            st = rc_builder_seed(w->b, (uintptr_t)key);
        }
        return st;
    }
    if (dict_keys_visited(w, op, len)) {
        return RC_OK;
    }
    while (PyDict_Next(op, &pos, &key, &value)) {
        if (visit(key, w) < 0) {
            return RC_ENOMEM;
        }
    }
    return RC_OK;
}

static rc_status
expand(walk *w, PyObject *op, unsigned seeded)
{
    PyTypeObject *tp = Py_TYPE(op);
    uint32_t type;
    rc_status st;
    /* A direct-mapped cache in front of the builder's type table: node types
     * alternate, but a heap has few of them. */
    size_t slot = ((uintptr_t)tp >> 4) & (TYPE_CACHE - 1);
    if (w->type_cache[slot] == tp) {
        type = w->type_cache_id[slot];
    } else {
        st = intern_type(w, tp, &type);
        if (st != RC_OK) {
            return st;
        }
        w->type_cache[slot] = tp;
        w->type_cache_id[slot] = type;
    }
    unsigned flags = 0;
    w->n_scratch = 0;
    if (is_gc(op, tp)) {
        flags |= RC_NODE_GC;
        /* The enumeration lists tracked objects only: ask the others. */
        if (!(seeded & RC_NODE_TRACKED) && PyObject_GC_IsTracked(op)) {
            flags |= RC_NODE_TRACKED;
        }
        if (tp->tp_traverse) {
            tp->tp_traverse(op, visit, w);
            if (w->scratch_failed) {
                return RC_ENOMEM;
            }
        }
        if (PyDict_Check(op) && (st = dict_keys(w, op)) != RC_OK) {
            return st;
        }
        if (w->n_frame_refs && PyFrame_Check(op) && (st = frame_locals(w, op)) != RC_OK) {
            return st;
        }
    }
    if (PyType_Check(op)) {
        flags |= RC_NODE_TYPE;
    } else if (PyModule_Check(op)) {
        flags |= RC_NODE_MODULE;
    } else if (op == w->modules) {
        flags |= RC_NODE_MODULES;
    } else if (w->n_frames && PyFrame_Check(op)) {
        flags |= frame_flags(w, (uintptr_t)op);
    }
    uint64_t refcnt = (uint64_t)Py_REFCNT(op);
    if (w->opts->n_held) {
        size_t held = held_count(w, (uintptr_t)op);
        refcnt = refcnt > held ? refcnt - held : 0;
    }
#if PY_VERSION_HEX >= 0x030C0000
    if (_Py_IsImmortal(op)) {
        flags |= RC_NODE_IMMORTAL;
    }
#endif
    st = rc_builder_edges(w->b, w->scratch, w->n_scratch);
    if (st != RC_OK) {
        return st;
    }
    uint64_t size = w->opts->sizes ? object_size(op, tp, &w->sizing[type], w->static_type_extra)
                                   : 0;
    return rc_builder_close(w->b, type, size, refcnt, flags);
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

/* Record the plain local variables of a running function's frame.  The
 * pointers stay valid: the frame keeps the values alive, and no Python code
 * runs between here and the walk. */
static rc_status
add_locals(walk *w, PyObject *frame, PyObject *code, int tool)
{
    rc_status st = RC_EPYTHON;
    PyObject *cells = PyObject_GetAttrString(code, "co_cellvars");
    PyObject *frees = cells ? PyObject_GetAttrString(code, "co_freevars") : NULL;
    PyObject *locals = frees ? PyObject_GetAttrString(frame, "f_locals") : NULL;
    PyObject *items = locals ? PyMapping_Items(locals) : NULL;
    if (!items) {
        goto finally;
    }
    /* Before 3.13, f_locals is a dict cached on the frame, holding its own
     * references: it is part of the heap from now on, held by the frame.
     * The tool's own frames never use it: empty it at once, or it would keep
     * what the tool has deleted alive (collect_report's saved garbage). */
    st = RC_OK;
    if (PyDict_CheckExact(locals)) {
        st = tool ? RC_OK : add_frame_ref(w, frame, locals);
    }
    for (Py_ssize_t i = 0; st == RC_OK && i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            continue;
        }
        PyObject *name = PyTuple_GET_ITEM(item, 0);
        int is_cell = PySequence_Contains(cells, name);
        int is_free = is_cell == 0 ? PySequence_Contains(frees, name) : is_cell;
        if (is_cell < 0 || is_free < 0) {
            st = RC_EPYTHON;
        } else if (!is_cell && !is_free) {
            st = add_frame_ref(w, frame, PyTuple_GET_ITEM(item, 1));
        }
    }
finally:
    if (tool && locals && PyDict_CheckExact(locals)) {
        PyDict_Clear(locals);
    }
    Py_XDECREF(items);
    Py_XDECREF(locals);
    Py_XDECREF(frees);
    Py_XDECREF(cells);
    return st;
}
#endif

static int
is_tool_frame(walk *w, PyObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *globals = PyFrame_GetGlobals((PyFrameObject *)frame);
    Py_DECREF(globals); /* the frame keeps it alive; only its address is compared */
#else
    PyObject *globals = ((PyFrameObject *)frame)->f_globals;
#endif
    for (size_t i = 0; i < w->opts->n_tool_globals; i++) {
        if (globals == w->opts->tool_globals[i]) {
            return 1;
        }
    }
    return 0;
}

static rc_status
add_frame(walk *w, PyObject *frame)
{
    if (w->n_frames == w->frames_cap) {
        size_t cap = w->frames_cap ? w->frames_cap * 2 : 64;
        frame_info *p = rc_reallocarray(w->frames, cap, sizeof *p);
        if (!p) {
            return RC_ENOMEM;
        }
        w->frames = p;
        w->frames_cap = cap;
    }
    int tool = is_tool_frame(w, frame);
    unsigned flags = tool ? RC_NODE_TOOL_FRAME : RC_NODE_THREAD_FRAME;
    w->frames[w->n_frames++] = (frame_info){(uintptr_t)frame, flags};
    rc_status st = RC_OK;
#if PY_VERSION_HEX >= 0x030B0000
    /* A running frame holds its globals through its function object, which
     * nothing visible references at module level (the code being run by
     * exec() or the main script): the frame stands in for it. */
    PyObject *globals = PyFrame_GetGlobals((PyFrameObject *)frame);
    if (st == RC_OK) {
        st = add_frame_ref(w, frame, globals);
    }
    Py_DECREF(globals); /* the frame keeps it alive */
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
    if (st == RC_OK && (code->co_flags & CO_OPTIMIZED)) {
        st = add_locals(w, frame, (PyObject *)code, tool);
    }
    Py_DECREF(code);
#endif
    return st;
}

/* Record the frames of every thread (through sys._current_frames(), which
 * materialises them on 3.11+) and their locals.  This runs Python code (it
 * reads f_locals, which before 3.13 refreshes a snapshot dict and may drop
 * the last reference to a deleted variable), so it must come before the
 * enumeration; seed_frames() seeds what it found. */
static rc_status
collect_frames(walk *w)
{
    PyObject *current = PySys_GetObject("_current_frames"); /* borrowed */
    if (!current) {
        return RC_OK;
    }
    PyObject *all = PyObject_CallFunctionObjArgs(current, NULL);
    if (!all || !PyDict_Check(all)) {
        Py_XDECREF(all);
        return RC_EPYTHON;
    }
    rc_status st = RC_OK;
    Py_ssize_t pos = 0;
    PyObject *tid, *top;
    while (st == RC_OK && PyDict_Next(all, &pos, &tid, &top)) {
        PyObject *f = top;
        Py_INCREF(f);
        while (f && st == RC_OK) {
            st = add_frame(w, f);
#if PY_VERSION_HEX >= 0x03090000
            PyObject *back = (PyObject *)PyFrame_GetBack((PyFrameObject *)f);
#else
            PyObject *back = (PyObject *)((PyFrameObject *)f)->f_back;
            Py_XINCREF(back);
#endif
            Py_DECREF(f);
            f = back;
        }
        Py_XDECREF(f);
    }
    Py_DECREF(all);
    if (w->n_frame_refs) {
        qsort(w->frame_refs, w->n_frame_refs, sizeof *w->frame_refs, cmp_frame_ref);
    }
    if (w->n_frames) {
        qsort(w->frames, w->n_frames, sizeof *w->frames, cmp_frame_ref);
    }
    return st;
}

/* Seed the recorded frames, and the f_locals snapshot dicts they hold. */
static rc_status
seed_frames(walk *w)
{
    rc_status st = RC_OK;
    for (size_t i = 0; st == RC_OK && i < w->n_frames; i++) {
        st = rc_builder_seed(w->b, w->frames[i].frame);
    }
    for (size_t i = 0; st == RC_OK && i < w->n_frame_refs; i++) {
        if (PyDict_CheckExact((PyObject *)w->frame_refs[i].value)) {
            st = rc_builder_seed(w->b, w->frame_refs[i].value);
        }
    }
    return st;
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

/* How many references to op the tool holds. */
static size_t
held_count(const walk *w, uintptr_t op)
{
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
            return RC_ENOMEM;
        }
    }
    return RC_OK;
}

/* Automatic collection is off for the whole capture.  Before 3.10 there is
 * no C API for it, so gc.isenabled/disable/enable are called through their C
 * function pointers: that allocates nothing, so turning collection back on
 * cannot itself trigger a collection before the caller has taken the
 * references it needs. */
typedef struct gc_pause {
    int was_enabled;
#if PY_VERSION_HEX < 0x030A0000
    PyObject *enable; /* gc.enable, a METH_NOARGS builtin */
#endif
} gc_pause;

#if PY_VERSION_HEX < 0x030A0000
static PyObject *
call_noargs(PyObject *fn)
{
    return PyCFunction_GET_FUNCTION(fn)(PyCFunction_GET_SELF(fn), NULL);
}

static PyObject *
gc_function(PyObject *gc, const char *name)
{
    PyObject *fn = PyObject_GetAttrString(gc, name);
    if (fn && (!PyCFunction_Check(fn) ||
               (PyCFunction_GET_FLAGS(fn) & ~METH_COEXIST) != METH_NOARGS)) {
        PyErr_Format(PyExc_TypeError, "gc.%s is not the builtin function", name);
        Py_CLEAR(fn);
    }
    return fn;
}
#endif

static int
gc_pause_start(PyObject *gc, gc_pause *p)
{
#if PY_VERSION_HEX >= 0x030A0000
    (void)gc;
    p->was_enabled = PyGC_Disable();
    return 0;
#else
    PyObject *isenabled = gc_function(gc, "isenabled");
    PyObject *disable = gc_function(gc, "disable");
    p->enable = gc_function(gc, "enable");
    PyObject *r = NULL;
    if (isenabled && disable && p->enable && (r = call_noargs(isenabled))) {
        p->was_enabled = r == Py_True;
        Py_DECREF(r);
        r = call_noargs(disable);
    }
    Py_XDECREF(isenabled);
    Py_XDECREF(disable);
    if (!r) {
        Py_CLEAR(p->enable);
        return -1;
    }
    Py_DECREF(r);
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
    if (p->was_enabled) {
        PyObject *r = call_noargs(p->enable); /* returns None; cannot fail */
        Py_XDECREF(r);
    }
    Py_CLEAR(p->enable);
#endif
}

#if PY_VERSION_HEX >= 0x030C0000
typedef struct seed_ctx {
    rc_builder *b;
    rc_status st;
} seed_ctx;

static int
seed_one(PyObject *op, void *arg)
{
    seed_ctx *ctx = arg;
    ctx->st = rc_builder_seed_flagged(ctx->b, (uintptr_t)op, RC_NODE_TRACKED);
    return ctx->st == RC_OK; /* 1 continues the iteration */
}
#endif

/* The enumeration of tracked objects.  Before 3.12 it is gc.get_objects():
 * the list is excluded from the capture and released right after seeding.
 * Every listed object was alive before the list existed and no Python code
 * runs between the two, so releasing it frees nothing but the list, and
 * the refcounts read later are exact. */
typedef struct tracked_list {
#if PY_VERSION_HEX < 0x030C0000
    PyObject *all;
#else
    int unused;
#endif
} tracked_list;

static rc_status
tracked_list_get(rc_builder *b, PyObject *gc, tracked_list *t)
{
#if PY_VERSION_HEX < 0x030C0000
    t->all = PyObject_CallMethod(gc, "get_objects", NULL);
    if (!t->all) {
        return RC_EPYTHON;
    }
    if (!PyList_Check(t->all)) {
        Py_CLEAR(t->all);
        PyErr_SetString(PyExc_TypeError, "gc.get_objects() did not return a list");
        return RC_EPYTHON;
    }
    return rc_builder_exclude(b, (uintptr_t)t->all);
#else
    (void)b;
    (void)gc;
    (void)t;
    return RC_OK;
#endif
}

static rc_status
tracked_list_seed(rc_builder *b, tracked_list *t)
{
#if PY_VERSION_HEX < 0x030C0000
    rc_status st = RC_OK;
    for (Py_ssize_t i = 0; st == RC_OK && i < PyList_GET_SIZE(t->all); i++) {
        st = rc_builder_seed_flagged(b, (uintptr_t)PyList_GET_ITEM(t->all, i), RC_NODE_TRACKED);
    }
    Py_CLEAR(t->all);
    return st;
#else
    (void)t;
    seed_ctx ctx = {b, RC_OK};
    PyUnstable_GC_VisitObjects(seed_one, &ctx);
    return ctx.st;
#endif
}

static void
tracked_list_release(tracked_list *t)
{
#if PY_VERSION_HEX < 0x030C0000
    Py_CLEAR(t->all);
#else
    (void)t;
#endif
}

rc_status
rc_capture(const rc_capture_opts *opts, rc_graph **out)
{
    walk w = {0};
    rc_status st = RC_ENOMEM;
    gc_pause pause = {0};
    tracked_list tracked = {0};
    if (gc_pause_start(opts->gc_module, &pause) < 0) {
        return RC_EPYTHON;
    }
    w.sizeof_name = PyUnicode_InternFromString("__sizeof__");
    w.module_name = PyUnicode_InternFromString("__module__");
    if (!w.sizeof_name || !w.module_name) {
        st = RC_EPYTHON;
        goto finally;
    }
    w.opts = opts;
    w.modules = PyImport_GetModuleDict();
    w.static_type_extra = measure_static_type_extra(w.sizeof_name);
    if (opts->n_held) {
        w.held = rc_malloc(opts->n_held * sizeof *w.held);
        if (!w.held) {
            goto finally;
        }
        memcpy(w.held, opts->held, opts->n_held * sizeof *w.held);
        qsort(w.held, opts->n_held, sizeof *w.held, cmp_addr);
    }
    w.b = rc_builder_new(opts->node_hint);
    if (!w.b) {
        goto finally;
    }
    if (opts->edges == RC_EDGES_NONE) {
        rc_builder_nodes_only(w.b);
    }
    for (size_t i = 0; i < opts->n_exclude; i++) {
        if ((st = rc_builder_exclude(w.b, (uintptr_t)opts->exclude[i])) != RC_OK) {
            goto finally;
        }
    }
    /* Seeds: every thread's frames, every tracked object, plus the module
     * table and builtins so that objects moved to the permanent generation
     * by gc.freeze() are reached.  The frames first: reading them runs
     * Python code, and nothing may run between the enumeration and the
     * walk. */
    st = collect_frames(&w);
    if (st == RC_OK) {
        st = tracked_list_get(w.b, opts->gc_module, &tracked);
    }
    if (st == RC_OK) {
        st = seed_frames(&w);
    }
    if (st == RC_OK) {
        st = tracked_list_seed(w.b, &tracked);
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
    uintptr_t addr;
    unsigned nflags;
    while (rc_builder_next(w.b, &addr, &nflags, &st)) {
        if ((st = expand(&w, (PyObject *)addr, nflags)) != RC_OK) {
            goto finally;
        }
    }
    if (st != RC_OK) {
        goto finally;
    }
    rc_graph *g = NULL;
    st = rc_builder_freeze(w.b, &g);
    w.b = NULL;
    if (st == RC_OK && opts->edges == RC_EDGES_BOTH && (st = rc_graph_build_in(g)) != RC_OK) {
        rc_graph_free(g);
    }
    if (st == RC_OK) {
        *out = g;
    }

finally:
    tracked_list_release(&tracked);
    rc_builder_free(w.b);
    rc_free(w.scratch);
    rc_free(w.sizing);
    rc_free(w.frame_refs);
    rc_free(w.frames);
    rc_free(w.held);
    rc_free(w.name);
    Py_XDECREF(w.sizeof_name);
    Py_XDECREF(w.module_name);
    gc_pause_end(&pause);
    return st;
}
