/* refchain.Graph: a frozen capture.  It holds addresses, never references,
 * and none of its methods dereferences an address: holding one is always
 * safe, whatever Python code ran since. */
#include "rcmodule.h"

typedef struct graph_obj {
    rc_tool base;
    rc_graph *g;
} graph_obj;

#define GRAPH(op) (((graph_obj *)(op))->g)

PyObject *
rc_graph_wrap(PyObject *module, rc_graph *g)
{
    PyObject *self = rc_tool_new(module, rc_module_state(module)->graph_type);
    if (!self) {
        rc_graph_free(g);
        return NULL;
    }
    GRAPH(self) = g;
    return self;
}

static void
graph_dealloc(PyObject *op)
{
    rc_graph_free(GRAPH(op));
    rc_tool_dealloc(op);
}

static Py_ssize_t
graph_len(PyObject *op)
{
    return (Py_ssize_t)rc_graph_node_count(GRAPH(op));
}

/* edge_count and memory (closure non-NULL). */
static PyObject *
graph_size(PyObject *op, void *memory)
{
    return PyLong_FromSize_t(memory ? rc_graph_memory(GRAPH(op)) : rc_graph_edge_count(GRAPH(op)));
}

static PyObject *
graph_census(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"shortnames", NULL};
    int shortnames = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$p:census", kwlist, &shortnames)) {
        return NULL;
    }
    rc_census *c = NULL;
    unsigned flags = RC_CENSUS_WITH_IDS | (shortnames ? RC_CENSUS_SHORT_NAMES : 0);
    rc_status st = rc_census_of(GRAPH(op), flags, &c);
    return st == RC_OK ? rc_census_wrap(((rc_tool *)op)->module, c) : rc_raise(st);
}

static PyObject *
graph_repr(PyObject *op)
{
    const rc_graph *g = GRAPH(op);
    return PyUnicode_FromFormat("<refchain.Graph: %zu objects, %zu references, %zu types>",
                                rc_graph_node_count(g), rc_graph_edge_count(g),
                                rc_graph_type_count(g));
}

static PyMethodDef graph_methods[] = {
    {"census", (PyCFunction)(void (*)(void))graph_census, METH_VARARGS | METH_KEYWORDS,
     "census(*, shortnames=False) -> Census of this capture."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef graph_getset[] = {
    {"edge_count", graph_size, NULL, "Number of references in the capture.", NULL},
    {"memory", graph_size, NULL, "Bytes the capture itself occupies.", "memory"},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot graph_slots[] = {
    {Py_tp_new, (void *)rc_no_new},
    {Py_tp_dealloc, (void *)graph_dealloc},
    {Py_tp_repr, (void *)graph_repr},
    {Py_tp_methods, graph_methods},
    {Py_tp_getset, graph_getset},
    {Py_sq_length, (void *)graph_len},
    {Py_tp_doc, (void *)"A frozen snapshot of the heap: objects, types, sizes and references."},
    {0, NULL},
};

static PyType_Spec graph_spec = {"refchain.Graph", sizeof(graph_obj), 0, Py_TPFLAGS_DEFAULT,
                                 graph_slots};

int
rc_graph_type_init(PyObject *module, rc_state *s)
{
    return rc_add_type(module, (PyTypeObject *)PyType_FromSpec(&graph_spec), &s->graph_type);
}
