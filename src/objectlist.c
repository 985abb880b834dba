/* refchain.ObjectList: the list by_type() and new_objects() return.  It is a
 * list in every way, and one of the tool's own objects: captures leave it
 * out and discount the references it holds, so that objgraph's recipe,
 * objs = by_type("Obj"); find_chain(objs[250]), names Obj's real holder
 * rather than the list refchain just handed out. */
#include "rcmodule.h"

#include "refchain/alloc.h"

typedef struct objlist {
    PyListObject list;
    rc_tool_link link;
    PyObject *module; /* strong: the module state outlives the object */
} objlist;

static void
objlist_dealloc(PyObject *op)
{
    objlist *self = (objlist *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    rc_tool_link_remove(&self->link);
    Py_CLEAR(self->module);
    PyList_Type.tp_dealloc(op); /* frees the items, then tp_free */
    Py_DECREF(tp);
}

static int
objlist_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(((objlist *)op)->module);
    return PyList_Type.tp_traverse(op, visit, arg);
}

static PyType_Slot objlist_slots[] = {
    {Py_tp_base, (void *)&PyList_Type},
    {Py_tp_dealloc, (void *)objlist_dealloc},
    {Py_tp_traverse, (void *)objlist_traverse},
    {Py_tp_doc, (void *)"A list of heap objects, as by_type() returns it.  While it lives, refchain\n"
                        "does not count it as a holder of its items."},
    {0, NULL},
};

static PyType_Spec objlist_spec = {"refchain.ObjectList", sizeof(objlist), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, objlist_slots};

PyObject *
rc_objects_list(PyObject *module, const rc_graph *g, const rc_id *ids, size_t n)
{
    /* Strong references first: building the list may trigger a collection. */
    return rc_objects_list_taken(module, take_objects(g, ids, n), n);
}

PyObject *
rc_objects_list_taken(PyObject *module, PyObject **refs, size_t n)
{
    PyObject *plain = refs ? PyList_New((Py_ssize_t)n) : NULL;
    for (size_t i = 0; refs && i < n; i++) {
        if (plain) {
            PyList_SET_ITEM(plain, (Py_ssize_t)i, refs[i]);
        } else {
            Py_DECREF(refs[i]);
        }
    }
    rc_free(refs);
    /* list.__init__ copies the items: C code only. */
    PyTypeObject *tp = rc_module_state(module)->objlist_type;
    PyObject *result = plain ? PyObject_CallFunctionObjArgs((PyObject *)tp, plain, NULL) : NULL;
    Py_XDECREF(plain);
    if (result) {
        Py_INCREF(module);
        ((objlist *)result)->module = module;
        rc_tool_link_add(module, &((objlist *)result)->link, result, RC_TOOL_LIST);
    }
    return result;
}

int
rc_objlist_type_init(PyObject *module, rc_state *s)
{
    return rc_add_type(module, (PyTypeObject *)PyType_FromSpec(&objlist_spec), &s->objlist_type);
}
