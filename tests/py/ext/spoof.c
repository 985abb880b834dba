/* A hostile C extension type for the sizing tests: it calls itself
 * "_io.SpoofedSizer" (a name refchain once trusted by its prefix) and its C
 * __sizeof__ runs Python code (the module's `hook`).  A capture must never
 * call it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *hook; /* set by set_hook(); called by __sizeof__ */

static PyObject *
spoof_sizeof(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (hook) {
        PyObject *r = PyObject_CallFunctionObjArgs(hook, self, NULL);
        if (!r) {
            return NULL;
        }
        Py_DECREF(r);
    }
    return PyLong_FromLong(12345);
}

static PyMethodDef spoof_methods[] = {
    {"__sizeof__", spoof_sizeof, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SpoofType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_io.SpoofedSizer",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_methods = spoof_methods,
};

static PyObject *
set_hook(PyObject *Py_UNUSED(module), PyObject *fn)
{
    Py_INCREF(fn);
    Py_XSETREF(hook, fn);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"set_hook", set_hook, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef spoof_module = {
    PyModuleDef_HEAD_INIT, "rc_spoof", NULL, -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_rc_spoof(void);

PyMODINIT_FUNC
PyInit_rc_spoof(void)
{
    if (PyType_Ready(&SpoofType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&spoof_module);
    if (m && PyModule_AddObject(m, "SpoofedSizer", (PyObject *)&SpoofType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&SpoofType);
    return m;
}
