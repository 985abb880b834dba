/* CPython internals refchain reads (see pycompat.h).
 *
 * 3.11 to 3.13 keep a running function's variables in a _PyInterpreterFrame
 * that only the internal headers describe, and a running frame's traversal
 * does not report them.  The public API reads one variable by name from 3.12
 * (PyFrame_GetVar), returning a cell's contents rather than the cell, and
 * nothing on 3.11; reading f_locals instead refreshes a snapshot dict, which
 * drops references and so runs deallocators and __del__ (Python code, which
 * may release the GIL).  So these versions read the slots in place, through
 * pycore_frame.h, as debuggers and greenlet do.  Before 3.11 the slots are a
 * public field of the frame object. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX < 0x030B0000
#include <longintrepr.h> /* PyLongObject's digits (Python.h has it from 3.11) */
#endif

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
#define RC_FRAME_INTERNALS 1
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
#endif

#include "refchain/pycompat.h"

#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
/* dict.__sizeof__'s own function: public (cpython/dictobject.h) up to 3.12,
 * declared in internal/pycore_dict.h in 3.13, and exported in both. */
PyAPI_FUNC(Py_ssize_t) _PyDict_SizeOf(PyDictObject *);
#endif

#ifdef RC_FRAME_INTERNALS
static PyCodeObject *
iframe_code(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *executable = f->f_executable; /* 3.13: a code object for Python frames */
    return executable && PyCode_Check(executable) ? (PyCodeObject *)executable : NULL;
#else
    return f->f_code;
#endif
}
#endif

PyThreadState *
rc_thread_head(void)
{
#if PY_VERSION_HEX >= 0x03090000
    return PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(PyThreadState_Get()));
#else
    return PyInterpreterState_ThreadHead(PyThreadState_Get()->interp);
#endif
}

PyObject *
rc_thread_frame(PyThreadState *t)
{
#if PY_VERSION_HEX >= 0x03090000
    return (PyObject *)PyThreadState_GetFrame(t);
#else
    Py_XINCREF(t->frame);
    return (PyObject *)t->frame;
#endif
}

unsigned long
rc_thread_ident(PyThreadState *t)
{
    return t->thread_id;
}

PyObject *
rc_frame_back(PyObject *frame)
{
#if PY_VERSION_HEX >= 0x03090000
    return (PyObject *)PyFrame_GetBack((PyFrameObject *)frame);
#else
    PyObject *back = (PyObject *)((PyFrameObject *)frame)->f_back;
    Py_XINCREF(back);
    return back;
#endif
}

#ifdef RC_FRAME_INTERNALS
/* The variables of an interpreter frame (3.11-3.13), shared by frame objects
 * and generators. */
static int
iframe_vars(_PyInterpreterFrame *f, rc_frame_vars *out)
{
    PyCodeObject *co = f ? iframe_code(f) : NULL;
    if (!co) {
        return 0;
    }
    out->slots = f->localsplus;
    out->n = (size_t)co->co_nlocalsplus;
    out->code = (PyObject *)co;
    out->frame = (PyObject *)f->frame_obj;
    return 1;
}
#endif

int
rc_frame_vars_read(PyObject *op, rc_frame_vars *out)
{
    memset(out, 0, sizeof *out);
    int is_gen = PyGen_Check(op) || PyCoro_CheckExact(op) || PyAsyncGen_CheckExact(op);
    if (!is_gen && !PyFrame_Check(op)) {
        return 0;
    }
#if PY_VERSION_HEX < 0x030B0000
    /* Coroutines and async generators start with the generator's fields. */
    PyFrameObject *f = is_gen ? ((PyGenObject *)op)->gi_frame : (PyFrameObject *)op;
    if (!f) {
        return 0; /* a finished generator */
    }
    PyCodeObject *co = f->f_code;
    out->slots = f->f_localsplus;
    out->n = (size_t)(co->co_nlocals + PyTuple_GET_SIZE(co->co_cellvars) +
                      PyTuple_GET_SIZE(co->co_freevars));
    out->code = (PyObject *)co;
    out->frame = (PyObject *)f;
    return 1;
#elif defined(RC_FRAME_INTERNALS)
    _PyInterpreterFrame *f;
    if (is_gen) {
        PyGenObject *g = (PyGenObject *)op;
        if (g->gi_frame_state >= FRAME_CLEARED) {
            return 0; /* finished */
        }
        f = (_PyInterpreterFrame *)g->gi_iframe;
    } else {
        f = ((PyFrameObject *)op)->f_frame;
    }
    if (!iframe_vars(f, out)) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    if (!is_gen) {
        out->frame = op;
    }
    return 1;
#else
    return 0;
#endif
}

#if PY_VERSION_HEX >= 0x030B0000
/* The local kinds of pycore_code.h (co_localspluskinds). */
#define RC_CO_FAST_CELL 0x40
#define RC_CO_FAST_FREE 0x80
#endif

PyObject *
rc_code_slot_name(PyObject *code, size_t i, int *is_cell)
{
    PyCodeObject *co = (PyCodeObject *)code;
    *is_cell = 0;
#if PY_VERSION_HEX < 0x030B0000
    PyObject *groups[3] = {co->co_varnames, co->co_cellvars, co->co_freevars};
    size_t sizes[3] = {(size_t)co->co_nlocals, (size_t)PyTuple_GET_SIZE(co->co_cellvars),
                       (size_t)PyTuple_GET_SIZE(co->co_freevars)};
    for (int g = 0; g < 3; i -= sizes[g], g++) {
        if (i < sizes[g]) {
            *is_cell = g > 0;
            return i < (size_t)PyTuple_GET_SIZE(groups[g]) ? PyTuple_GET_ITEM(groups[g], i) : NULL;
        }
    }
    return NULL;
#else
    PyObject *names = co->co_localsplusnames, *kinds = co->co_localspluskinds;
    if (i >= (size_t)PyTuple_GET_SIZE(names) || i >= (size_t)PyBytes_GET_SIZE(kinds)) {
        return NULL;
    }
    *is_cell =
        ((unsigned char)PyBytes_AS_STRING(kinds)[i] & (RC_CO_FAST_CELL | RC_CO_FAST_FREE)) != 0;
    return PyTuple_GET_ITEM(names, i);
#endif
}

PyObject *
rc_code_freevar_name(PyObject *code, size_t k)
{
    PyCodeObject *co = (PyCodeObject *)code;
#if PY_VERSION_HEX < 0x030B0000
    return k < (size_t)PyTuple_GET_SIZE(co->co_freevars) ? PyTuple_GET_ITEM(co->co_freevars, k)
                                                        : NULL;
#else
    PyObject *names = co->co_localsplusnames, *kinds = co->co_localspluskinds;
    size_t n = (size_t)PyTuple_GET_SIZE(names) < (size_t)PyBytes_GET_SIZE(kinds)
                   ? (size_t)PyTuple_GET_SIZE(names)
                   : (size_t)PyBytes_GET_SIZE(kinds);
    for (size_t i = 0, free = 0; i < n; i++) {
        if ((unsigned char)PyBytes_AS_STRING(kinds)[i] & RC_CO_FAST_FREE && free++ == k) {
            return PyTuple_GET_ITEM(names, i);
        }
    }
    return NULL;
#endif
}

PyObject *
rc_frame_back_field(PyObject *frame)
{
    if (!PyFrame_Check(frame)) {
        return NULL;
    }
#if PY_VERSION_HEX < 0x030B0000 || defined(RC_FRAME_INTERNALS)
    return (PyObject *)((PyFrameObject *)frame)->f_back;
#else
    return NULL;
#endif
}

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
/* The head of a dict's keys object and an entry of a table with str keys
 * only (a split table's shared keys among them), as
 * Include/internal/pycore_dict.h lays them out in 3.11-3.13 (default
 * builds). */
typedef struct rc_dict_keys {
    Py_ssize_t dk_refcnt;
    uint8_t dk_log2_size;
    uint8_t dk_log2_index_bytes;
    uint8_t dk_kind;
    uint32_t dk_version;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
} rc_dict_keys;

typedef struct rc_unicode_entry {
    PyObject *me_key;
    PyObject *me_value;
} rc_unicode_entry;

#define RC_DICT_KEYS_GENERAL 0

#if PY_VERSION_HEX >= 0x030D0000
/* 3.13's struct _dictvalues. */
typedef struct rc_values313 {
    uint8_t capacity;
    uint8_t size;
    uint8_t embedded;
    uint8_t valid;
    PyObject *values[1];
} rc_values313;
#endif

/* The shared keys of tp's instances (ht_cached_keys), or NULL. */
static const rc_dict_keys *
cached_keys(PyTypeObject *tp)
{
    if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        return NULL;
    }
    const rc_dict_keys *keys = (const rc_dict_keys *)((PyHeapTypeObject *)tp)->ht_cached_keys;
    if (!keys || keys->dk_kind == RC_DICT_KEYS_GENERAL ||
        keys->dk_log2_size >= 8 * sizeof(Py_ssize_t) ||
        keys->dk_log2_index_bytes < keys->dk_log2_size ||
        keys->dk_log2_index_bytes > keys->dk_log2_size + 3 || keys->dk_nentries < 0 ||
        keys->dk_nentries > ((Py_ssize_t)1 << keys->dk_log2_size)) {
        return NULL;
    }
    return keys;
}
#endif

PyObject *const *
rc_inline_values(PyObject *op, size_t *n)
{
    *n = 0;
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
    PyTypeObject *tp = Py_TYPE(op);
    const rc_dict_keys *keys = cached_keys(tp);
    if (!keys || !PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT)) {
        return NULL;
    }
    PyObject *const *values = NULL;
    size_t count = (size_t)keys->dk_nentries;
#if PY_VERSION_HEX < 0x030C0000
    values = ((PyObject *const *const *)op)[-4]; /* 3.11: _PyObject_ValuesPointer */
#elif PY_VERSION_HEX < 0x030D0000
    uintptr_t word = ((const uintptr_t *)op)[-3]; /* 3.12: PyDictOrValues, tagged */
    values = word & 1 ? (PyObject *const *)(word + 1) : NULL; /* stored as values - 1 */
#else
    /* 3.13: _PyObject_InlineValues(), a struct _dictvalues after the object:
     * capacity, size, embedded, valid, then the values. */
    if (!PyType_HasFeature(tp, Py_TPFLAGS_INLINE_VALUES)) {
        return NULL;
    }
    const rc_values313 *inline_values =
        (const rc_values313 *)((const char *)op + tp->tp_basicsize);
    if (!inline_values->valid) {
        return NULL; /* the attributes moved to a dict */
    }
    if (inline_values->capacity < count) {
        count = inline_values->capacity;
    }
    values = inline_values->values;
#endif
    if (!values) {
        return NULL;
    }
    *n = count;
    return values;
#else
    (void)op;
    return NULL;
#endif
}

PyObject *
rc_inline_name(PyObject *op, size_t i)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
    const rc_dict_keys *keys = cached_keys(Py_TYPE(op));
    if (!keys || i >= (size_t)keys->dk_nentries) {
        return NULL;
    }
    const rc_unicode_entry *entries =
        (const rc_unicode_entry *)(keys->dk_indices + ((size_t)1 << keys->dk_log2_index_bytes));
    PyObject *key = entries[i].me_key;
    return key && PyUnicode_Check(key) ? key : NULL;
#else
    (void)op;
    (void)i;
    return NULL;
#endif
}

int
rc_frame_hides_slots(PyObject *frame)
{
#ifdef RC_FRAME_INTERNALS
    _PyInterpreterFrame *f = PyFrame_Check(frame) ? ((PyFrameObject *)frame)->f_frame : NULL;
    return f && f->owner == FRAME_OWNED_BY_THREAD;
#elif PY_VERSION_HEX >= 0x030B0000
    return PyFrame_Check(frame); /* untested (3.14+): assume the worst */
#else
    (void)frame;
    return 0;
#endif
}

PyObject *
rc_object_dict(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
#if PY_VERSION_HEX >= 0x030B0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT)) {
#if PY_VERSION_HEX < 0x030E0000
        uintptr_t word = ((const uintptr_t *)op)[-3];
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
        if (word & 1) {
            return NULL; /* 3.12's PyDictOrValues: inline values, no dict */
        }
#endif
        return (PyObject *)word;
#else
        return NULL;
#endif
    }
#endif
    if (tp->tp_dictoffset == 0) {
        return NULL;
    }
    /* Not a managed dict: only computes the slot's address. */
    PyObject **slot = _PyObject_GetDictPtr(op);
    return slot ? *slot : NULL;
}

PyObject *
rc_unvisited_dict(PyObject *op)
{
#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
    PyTypeObject *tp = Py_TYPE(op);
    if (!PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT) ||
        !PyType_HasFeature(tp, Py_TPFLAGS_INLINE_VALUES)) {
        return NULL;
    }
    const rc_values313 *inline_values =
        (const rc_values313 *)((const char *)op + tp->tp_basicsize);
    return inline_values->valid ? rc_object_dict(op) : NULL;
#else
    (void)op;
    return NULL;
#endif
}

PyObject *
rc_type_subclasses(PyObject *type)
{
    PyTypeObject *tp = (PyTypeObject *)type;
#if PY_VERSION_HEX >= 0x030C0000
    /* 3.12-3.13: a static builtin type's field is an index into the
     * interpreter's table (_Py_TPFLAGS_STATIC_BUILTIN, 1 << 1), not a
     * pointer. */
#if PY_VERSION_HEX >= 0x030E0000
    if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
#else
    if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) && (tp->tp_flags & (1UL << 1))) {
#endif
        return NULL;
    }
#endif
    PyObject *d = (PyObject *)tp->tp_subclasses;
    return d && PyDict_CheckExact(d) ? d : NULL;
}

PyObject *
rc_frame_locals_mapping(PyObject *frame)
{
#ifdef RC_FRAME_INTERNALS
    _PyInterpreterFrame *f = PyFrame_Check(frame) ? ((PyFrameObject *)frame)->f_frame : NULL;
    return f ? f->f_locals : NULL;
#elif PY_VERSION_HEX < 0x030B0000
    return PyFrame_Check(frame) ? ((PyFrameObject *)frame)->f_locals : NULL;
#else
    (void)frame;
    return NULL;
#endif
}

#if PY_VERSION_HEX >= 0x030D0000
/* An entry of a table with keys of any type (DICT_KEYS_GENERAL), as
 * pycore_dict.h lays it out in 3.11-3.13 (default builds).  Only
 * rc_dict_next_hash reads it, and only after PyDict_Next() has confirmed the
 * entry's key and value. */
typedef struct rc_dict_entry {
    Py_hash_t me_hash;
    PyObject *me_key;
    PyObject *me_value;
} rc_dict_entry;

/* Whether hashing key runs no Python code: a hash function of C that
 * reads only the object (str, int, float, complex, bytes, identity), a
 * frozenset's (it combines the hashes its entries stored), or a tuple's
 * over such items. */
static int
hash_is_c(PyObject *key, int depth)
{
    hashfunc h = Py_TYPE(key)->tp_hash;
    if (h == PyUnicode_Type.tp_hash || h == PyLong_Type.tp_hash || h == PyFloat_Type.tp_hash ||
        h == PyComplex_Type.tp_hash || h == PyBytes_Type.tp_hash ||
        h == PyBaseObject_Type.tp_hash || h == PyType_Type.tp_hash ||
        h == PyFrozenSet_Type.tp_hash) {
        return 1;
    }
    if (h != PyTuple_Type.tp_hash || depth > 8) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(key); i++) {
        if (!hash_is_c(PyTuple_GET_ITEM(key, i), depth + 1)) {
            return 0;
        }
    }
    return 1;
}
#endif

/* The next (key, hash) of dict d from *pos, the hash being the one d stored
 * with the key, read without calling user code: 1, or 0 at the end.
 * *known is 0 when the hash cannot be read that way.
 *   3.8-3.12: _PyDict_Next() returns it.
 *   3.13 keeps that function private (no longer exported): the entry
 *   PyDict_Next() just returned is read in the keys object, trusted only
 *   when its key and value are the ones PyDict_Next() returned; otherwise
 *   the hash is computed again when that runs no Python code
 *   (hash_is_c), and else it is unknown. */
int
rc_dict_next_hash(PyObject *d, Py_ssize_t *pos, PyObject **key, Py_hash_t *hash, int *known)
{
    PyObject *value;
#if PY_VERSION_HEX < 0x030D0000
    *known = 1;
    return _PyDict_Next(d, pos, key, &value, hash);
#else
    if (!PyDict_Next(d, pos, key, &value)) {
        return 0;
    }
    const rc_dict_keys *keys = (const rc_dict_keys *)((PyDictObject *)d)->ma_keys;
    Py_ssize_t i = *pos - 1;
    *known = 0;
    if (!((PyDictObject *)d)->ma_values && keys && keys->dk_kind == 0 &&
        keys->dk_log2_size < 8 * sizeof(Py_ssize_t) &&
        keys->dk_log2_index_bytes >= keys->dk_log2_size &&
        keys->dk_log2_index_bytes <= keys->dk_log2_size + 3 && 0 <= i &&
        i < keys->dk_nentries && keys->dk_nentries <= ((Py_ssize_t)1 << keys->dk_log2_size)) {
        const rc_dict_entry *entries =
            (const rc_dict_entry *)(keys->dk_indices + ((size_t)1 << keys->dk_log2_index_bytes));
        if (entries[i].me_key == *key && entries[i].me_value == value) {
            *hash = entries[i].me_hash;
            *known = 1;
        }
    }
    if (!*known && hash_is_c(*key, 0)) {
        *hash = Py_TYPE(*key)->tp_hash(*key);
        *known = *hash != -1;
        if (!*known) {
            PyErr_Clear(); /* none of these fails; be sure */
        }
    }
    return 1;
#endif
}

int
rc_local_key_thread(PyObject *key, unsigned long *ident, size_t *n_threads)
{
    int hit = 0;
    *ident = 0;
    *n_threads = 0;
#if PY_VERSION_HEX < 0x030D0000
    PyObject *dummy = PyWeakref_CheckRef(key) ? PyWeakref_GET_OBJECT(key) : NULL;
    if (!dummy || dummy == Py_None) {
        dummy = NULL;
    }
#endif
    for (PyThreadState *t = rc_thread_head(); t; t = PyThreadState_Next(t)) {
        ++*n_threads;
        if (hit) {
            continue;
        }
#if PY_VERSION_HEX >= 0x030D0000
        hit = t->threading_local_key == key;
#else
        PyObject *dict = t->dict, *k, *v;
        Py_ssize_t pos = 0;
        while (dummy && !hit && dict && PyDict_Check(dict) && PyDict_Next(dict, &pos, &k, &v)) {
            hit = v == dummy;
        }
#endif
        if (hit) {
            *ident = t->thread_id;
        }
    }
    return hit;
}

int
rc_frame_thread(PyObject *frame, unsigned long *ident, size_t *n_threads)
{
    int hit = 0;
    *ident = 0;
    *n_threads = 0;
    for (PyThreadState *t = rc_thread_head(); t; t = PyThreadState_Next(t)) {
        ++*n_threads;
        PyObject *f = hit ? NULL : rc_thread_frame(t);
        while (f) {
            if (f == frame) {
                hit = 1;
                *ident = rc_thread_ident(t);
            }
            PyObject *back = hit ? NULL : rc_frame_back(f);
            Py_DECREF(f);
            f = back;
        }
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    return hit;
}

#if PY_VERSION_HEX >= 0x030D0000
PyAPI_FUNC(PyObject *) _PyTraceMalloc_GetTraceback(unsigned int domain, uintptr_t ptr);
#endif

/* See pycompat.h.  The field tracemalloc reads the running frame from, per
 * version; 3.14+ is left alone (untested). */
void *
rc_frames_hide(void)
{
    PyThreadState *ts = PyThreadState_Get();
    void *top = NULL;
#if PY_VERSION_HEX >= 0x030E0000
    (void)ts;
#elif PY_VERSION_HEX >= 0x030D0000
    top = ts->current_frame;
    ts->current_frame = NULL;
#elif PY_VERSION_HEX >= 0x030B0000
    top = ts->cframe->current_frame;
    ts->cframe->current_frame = NULL;
#else
    top = ts->frame;
    ts->frame = NULL;
#endif
    return top;
}

void
rc_frames_show(void *top)
{
    PyThreadState *ts = PyThreadState_Get();
#if PY_VERSION_HEX >= 0x030E0000
    (void)ts;
    (void)top;
#elif PY_VERSION_HEX >= 0x030D0000
    ts->current_frame = top;
#elif PY_VERSION_HEX >= 0x030B0000
    ts->cframe->current_frame = top;
#else
    ts->frame = top;
#endif
}

PyObject *
rc_alloc_traceback(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    size_t pre = PyType_IS_GC(tp) ? 2 * sizeof(PyObject *) : 0;
#if PY_VERSION_HEX >= 0x030C0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF)) {
        pre += 2 * sizeof(PyObject *);
    }
#elif PY_VERSION_HEX >= 0x030B0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT)) {
        pre += 2 * sizeof(PyObject *);
    }
#endif
    if (PyType_Check(obj) && !PyType_HasFeature((PyTypeObject *)obj, Py_TPFLAGS_HEAPTYPE)) {
        Py_RETURN_NONE; /* static types are not allocated */
    }
    return _PyTraceMalloc_GetTraceback(0, (uintptr_t)obj - pre);
}

/* See pycompat.h. */
PyObject *
rc_alloc_traceback_counts(PyObject *objects)
{
    PyObject *seq = PySequence_Fast(objects, "_alloc_traceback_counts() needs a sequence");
    PyObject *counts = seq ? PyDict_New() : NULL;
    if (!counts) {
        Py_XDECREF(seq);
        return NULL;
    }
    void *top = rc_frames_hide();
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *tb = rc_alloc_traceback(PySequence_Fast_GET_ITEM(seq, i));
        if (!tb) {
            PyErr_Clear(); /* as frames_of(): an object whose lookup failed has none */
            continue;
        }
        int failed = 0;
        if (PyTuple_Check(tb) && PyTuple_GET_SIZE(tb)) {
            PyObject *n = PyDict_GetItemWithError(counts, tb);
            /* n is an int this loop stored */
            PyObject *more = n || !PyErr_Occurred()
                                 ? PyLong_FromSsize_t((n ? PyLong_AsSsize_t(n) : 0) + 1)
                                 : NULL;
            failed = !more || PyDict_SetItem(counts, tb, more) < 0;
            Py_XDECREF(more);
        }
        Py_DECREF(tb);
        if (failed) {
            rc_frames_show(top);
            Py_DECREF(counts);
            Py_DECREF(seq);
            return NULL;
        }
    }
    rc_frames_show(top);
    Py_DECREF(seq);
    return counts;
}

/* See pycompat.h. */
long
rc_builtin_sizeof(PyObject *op, int kind)
{
#if PY_VERSION_HEX < 0x030E0000
    if (kind == RC_SIZEOF_STR) {
        if (!PyUnicode_IS_COMPACT(op)) {
            return -1; /* a legacy string: its data and copies are elsewhere */
        }
#if PY_VERSION_HEX < 0x030C0000
        if (((PyASCIIObject *)op)->wstr) {
            return -1; /* a cached wchar_t copy */
        }
#endif
        Py_ssize_t len = PyUnicode_GET_LENGTH(op);
        if (PyUnicode_IS_ASCII(op)) {
            return (long)(sizeof(PyASCIIObject) + (size_t)len + 1);
        }
        if (((PyCompactUnicodeObject *)op)->utf8) {
            return -1; /* a cached UTF-8 copy */
        }
        return (long)(sizeof(PyCompactUnicodeObject) +
                      (size_t)(len + 1) * PyUnicode_KIND(op));
    }
    if (kind == RC_SIZEOF_INT) {
#if PY_VERSION_HEX >= 0x030C0000
        /* lv_tag: the digit count above three flag bits (longintrepr.h) */
        size_t digits = (size_t)(((PyLongObject *)op)->long_value.lv_tag >> 3);
        size_t header = offsetof(PyLongObject, long_value.ob_digit);
#else
        Py_ssize_t sz = Py_SIZE(op);
        size_t digits = (size_t)(sz < 0 ? -sz : sz);
        size_t header = offsetof(PyLongObject, ob_digit);
#endif
#if PY_VERSION_HEX >= 0x030B0000
        digits = digits ? digits : 1; /* zero has a digit too */
#endif
        return (long)(header + digits * sizeof(digit));
    }
    if (kind == RC_SIZEOF_LIST) {
        return (long)((size_t)Py_TYPE(op)->tp_basicsize +
                      (size_t)((PyListObject *)op)->allocated * sizeof(PyObject *));
    }
    if (kind == RC_SIZEOF_DICT) {
        /* What dict.__sizeof__ returns, without the int it makes. */
        return (long)_PyDict_SizeOf((PyDictObject *)op);
    }
#else
    (void)op;
    (void)kind;
#endif
    return -1;
}

/* The head of numpy's PyArrayObject_fields, to the base (numpy's
 * ndarraytypes.h; unchanged from 1.7 to 2.x). */
typedef struct {
    PyObject_HEAD
    char *data;
    int nd;
    void *dimensions;
    void *strides;
    PyObject *base;
} np_array_head;

PyTypeObject *
rc_array_type(PyTypeObject *tp)
{
    for (; tp; tp = tp->tp_base) {
        if (!PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) && tp->tp_name &&
            strcmp(tp->tp_name, "numpy.ndarray") == 0 &&
            tp->tp_basicsize >= (Py_ssize_t)sizeof(np_array_head)) {
            return tp;
        }
    }
    return NULL;
}

PyObject *
rc_array_base(PyObject *op)
{
    return ((np_array_head *)(void *)op)->base;
}

int
rc_hamt_node_type(PyTypeObject *tp)
{
    return !PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) && tp->tp_name &&
           (strcmp(tp->tp_name, "hamt_bitmap_node") == 0 ||
            strcmp(tp->tp_name, "hamt_array_node") == 0 ||
            strcmp(tp->tp_name, "hamt_collision_node") == 0);
}

PyObject *
rc_managed_buffer_obj(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
#if PY_VERSION_HEX < 0x030D0000
    int is = tp == &_PyManagedBuffer_Type;
#else
    int is = !PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE) && tp->tp_name &&
             strcmp(tp->tp_name, "managedbuffer") == 0 &&
             tp->tp_basicsize == (Py_ssize_t)sizeof(_PyManagedBufferObject);
#endif
    return is ? ((_PyManagedBufferObject *)(void *)op)->master.obj : NULL;
}
