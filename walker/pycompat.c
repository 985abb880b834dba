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

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
#define RC_FRAME_INTERNALS 1
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
#endif

#include "refchain/pycompat.h"

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

PyObject *const *
rc_frame_slots(PyObject *frame, size_t *n)
{
    *n = 0;
    if (!PyFrame_Check(frame)) {
        return NULL;
    }
#if PY_VERSION_HEX < 0x030B0000
    PyFrameObject *f = (PyFrameObject *)frame;
    PyCodeObject *co = f->f_code;
    *n = (size_t)(co->co_nlocals + PyTuple_GET_SIZE(co->co_cellvars) +
                  PyTuple_GET_SIZE(co->co_freevars));
    return f->f_localsplus;
#elif defined(RC_FRAME_INTERNALS)
    _PyInterpreterFrame *f = ((PyFrameObject *)frame)->f_frame;
    PyCodeObject *co = f ? iframe_code(f) : NULL;
    if (!co) {
        return NULL;
    }
    *n = (size_t)co->co_nlocalsplus;
    return f->localsplus;
#else
    return NULL;
#endif
}

PyObject *const *
rc_gen_slots(PyObject *gen, size_t *n, PyObject **code, PyObject **frame)
{
    *n = 0;
    *code = *frame = NULL;
    /* Coroutines and async generators start with the generator's fields. */
    if (!PyGen_Check(gen) && !PyCoro_CheckExact(gen) && !PyAsyncGen_CheckExact(gen)) {
        return NULL;
    }
#if PY_VERSION_HEX < 0x030B0000
    PyFrameObject *f = ((PyGenObject *)gen)->gi_frame;
    if (!f) {
        return NULL; /* finished */
    }
    *frame = (PyObject *)f;
    *code = (PyObject *)f->f_code;
    return rc_frame_slots((PyObject *)f, n);
#elif defined(RC_FRAME_INTERNALS)
    PyGenObject *g = (PyGenObject *)gen;
    if (g->gi_frame_state >= FRAME_CLEARED) {
        return NULL; /* finished */
    }
    _PyInterpreterFrame *f = (_PyInterpreterFrame *)g->gi_iframe;
    PyCodeObject *co = iframe_code(f);
    if (!co) {
        return NULL;
    }
    *frame = (PyObject *)f->frame_obj;
    *code = (PyObject *)co;
    *n = (size_t)co->co_nlocalsplus;
    return f->localsplus;
#else
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
