/* refchain.Graph: a frozen capture.  It holds addresses, never references,
 * and none of its methods dereferences an address: holding one is always
 * safe, whatever Python code ran since. */
#include "rcmodule.h"

typedef struct graph_obj {
    rc_tool base;
    rc_graph *g;
} graph_obj;

PyObject *
rc_graph_wrap(PyObject *module, rc_graph *g)
{
    rc_state *s = rc_module_state(module);
    graph_obj *self = PyObject_New(graph_obj, s->graph_type);
    if (!self) {
        rc_graph_free(g);
        return NULL;
    }
    self->g = g;
    rc_tool_register((PyObject *)self, module);
    return (PyObject *)self;
}

static void
graph_dealloc(PyObject *op)
{
    graph_obj *self = (graph_obj *)op;
    PyTypeObject *tp = Py_TYPE(op);
    rc_tool_unregister(op);
    rc_graph_free(self->g);
    PyObject_Free(op);
    Py_DECREF(tp);
}

static Py_ssize_t
graph_len(PyObject *op)
{
    return (Py_ssize_t)rc_graph_node_count(((graph_obj *)op)->g);
}

static PyObject *
graph_edge_count(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(rc_graph_edge_count(((graph_obj *)op)->g));
}

static PyObject *
graph_memory(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(rc_graph_memory(((graph_obj *)op)->g));
}

static PyObject *
graph_census(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"shortnames", NULL};
    int shortnames = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$p:census", kwlist, &shortnames)) {
        return NULL;
    }
    graph_obj *self = (graph_obj *)op;
    rc_census *c = NULL;
    unsigned flags = RC_CENSUS_WITH_IDS | (shortnames ? RC_CENSUS_SHORT_NAMES : 0);
    rc_status st = rc_census_of(self->g, flags, &c);
    return st == RC_OK ? rc_census_wrap(self->base.module, c) : rc_raise(st);
}

static PyObject *
graph_repr(PyObject *op)
{
    const rc_graph *g = ((graph_obj *)op)->g;
    return PyUnicode_FromFormat("<refchain.Graph: %zu objects, %zu references, %zu types>",
                                rc_graph_node_count(g), rc_graph_edge_count(g),
                                rc_graph_type_count(g));
}

static PyObject *
no_new(PyTypeObject *tp, PyObject *Py_UNUSED(a), PyObject *Py_UNUSED(k))
{
    PyErr_Format(PyExc_TypeError, "cannot create '%s' instances; use refchain.capture()",
                 tp->tp_name);
    return NULL;
}

static PyMethodDef graph_methods[] = {
    {"census", (PyCFunction)(void (*)(void))graph_census, METH_VARARGS | METH_KEYWORDS,
     "census(*, shortnames=False) -> Census of this capture."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef graph_getset[] = {
    {"edge_count", graph_edge_count, NULL, "Number of references in the capture.", NULL},
    {"memory", graph_memory, NULL, "Bytes the capture itself occupies.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot graph_slots[] = {
    {Py_tp_new, (void *)no_new},
    {Py_tp_dealloc, (void *)graph_dealloc},
    {Py_tp_repr, (void *)graph_repr},
    {Py_tp_methods, graph_methods},
    {Py_tp_getset, graph_getset},
    {Py_sq_length, (void *)graph_len},
    {Py_tp_doc, (void *)"A frozen snapshot of the heap: objects, types, sizes and references."},
    {0, NULL},
};

static PyType_Spec graph_spec = {
    .name = "refchain.Graph",
    .basicsize = sizeof(graph_obj),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = graph_slots,
};

int
rc_graph_type_init(PyObject *module, rc_state *s)
{
    s->graph_type = (PyTypeObject *)PyType_FromSpec(&graph_spec);
    if (!s->graph_type) {
        return -1;
    }
    Py_INCREF(s->graph_type);
    if (PyModule_AddObject(module, "Graph", (PyObject *)s->graph_type) < 0) {
        Py_DECREF(s->graph_type);
        return -1;
    }
    return 0;
}
