/* refchain.Census (a read-only mapping: type name -> TypeStat(count, bytes))
 * and refchain.CensusDiff (a sequence of DiffRow), over the C census.
 *
 * Here is what needs the rc_census: len(), one row by name (_row), the
 * names in order (_names), total, ==, and census_b - census_a; a diff's
 * len() and rows.  The rest is the package's, set on these types once at
 * import (refchain/_census.py through refchain/_wrap.py): the mapping's
 * sugar (keys, values, items, get, iteration, `in`, [name], top), the
 * reprs and the str() tables.  The objects stay C objects registered with
 * the module, so that holding one never shows up as growth. */
#include "rcmodule.h"

typedef struct census_obj {
    rc_tool base;
    rc_census *c;
} census_obj;

typedef struct diff_obj {
    rc_tool base;
    rc_diff *d;
} diff_obj;

#define CENSUS(op) (((census_obj *)(op))->c)
#define DIFF(op) (((diff_obj *)(op))->d)
#define MODULE(op) (((rc_tool *)(op))->module)

/* A new instance of the struct sequence tp from the new references v[0..n),
 * or NULL (with the exception set) when one of them or tp's is NULL; v is
 * consumed either way. */
static PyObject *
struct_seq(PyTypeObject *tp, PyObject **v, int n)
{
    int ok = 1;
    for (int k = 0; k < n; k++) {
        ok &= v[k] != NULL;
    }
    PyObject *t = ok ? PyStructSequence_New(tp) : NULL;
    for (int k = 0; k < n; k++) {
        if (t) {
            PyStructSequence_SET_ITEM(t, k, v[k]);
        } else {
            Py_XDECREF(v[k]);
        }
    }
    return t;
}

PyObject *
rc_type_stat(PyObject *module, uint64_t count, uint64_t bytes, bool lower_bound)
{
    PyObject *v[3] = {PyLong_FromUnsignedLongLong(count), PyLong_FromUnsignedLongLong(bytes),
                      PyBool_FromLong(lower_bound)};
    return struct_seq(rc_module_state(module)->type_stat, v, 3);
}

PyObject *
rc_census_wrap(PyObject *module, rc_census *c)
{
    PyObject *self = rc_tool_new(module, rc_module_state(module)->census_type);
    if (!self) {
        rc_census_free(c);
        return NULL;
    }
    CENSUS(self) = c;
    return self;
}

rc_census *
rc_census_unwrap(PyObject *module, PyObject *obj, const char *what)
{
    if (!PyObject_TypeCheck(obj, rc_module_state(module)->census_type)) {
        PyErr_Format(PyExc_TypeError, "%s must be a refchain.Census, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return CENSUS(obj);
}

static void
census_dealloc(PyObject *op)
{
    rc_census_free(CENSUS(op));
    rc_tool_dealloc(op);
}

static Py_ssize_t
census_len(PyObject *op)
{
    return (Py_ssize_t)rc_census_len(CENSUS(op));
}

/* _row(name) -> TypeStat, or None when no type has that name (or name is
 * not a str: a lone surrogate or a non-str names no type).  The name is
 * encoded into a bytes of its own: PyUnicode_AsUTF8 would leave a copy in
 * the caller's str, which the next census would count. */
static PyObject *
census_row(PyObject *op, PyObject *key)
{
    PyObject *utf8 = PyUnicode_Check(key) ? PyUnicode_AsUTF8String(key) : NULL;
    const char *name = utf8 ? PyBytes_AS_STRING(utf8) : NULL;
    const rc_census_row *r = name && strlen(name) == (size_t)PyBytes_GET_SIZE(utf8)
                                 ? rc_census_find(CENSUS(op), name)
                                 : NULL; /* a NUL names no type */
    Py_XDECREF(utf8);
    PyErr_Clear();
    if (!r) {
        Py_RETURN_NONE;
    }
    return rc_type_stat(MODULE(op), r->count, r->bytes, r->bytes_lower_bound);
}

/* _names(by_count) -> [name], sorted by name, or by count (then bytes,
 * then name), the most numerous first. */
static PyObject *
census_names(PyObject *op, PyObject *arg)
{
    const rc_census *c = CENSUS(op);
    size_t n = rc_census_len(c);
    int by_count = PyObject_IsTrue(arg);
    size_t *order = by_count > 0 ? PyMem_Malloc((n ? n : 1) * sizeof *order) : NULL;
    if (by_count < 0 || (by_count && !order)) {
        return by_count < 0 ? NULL : PyErr_NoMemory();
    }
    if (order) {
        rc_census_order_by_count(c, order);
    }
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *name = PyUnicode_FromString(rc_census_row_at(c, order ? order[i] : i)->name);
        if (!name) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, name);
    }
    PyMem_Free(order);
    return list;
}

/* _forget_objects(): free the identities the census remembers for
 * new_objects(since=...), keeping its counts (refchain.watch keeps the
 * counts of many censuses and the identities of the last one only). */
static PyObject *
census_forget_objects(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    rc_census_forget_ids(CENSUS(op));
    Py_RETURN_NONE;
}

static PyObject *
census_total(PyObject *op, void *Py_UNUSED(closure))
{
    const rc_census *c = CENSUS(op);
    return rc_type_stat(MODULE(op), rc_census_total_count(c), rc_census_total_bytes(c),
                        rc_census_total_lower_bound(c));
}

static int
is_census(PyObject *op)
{
    return Py_TYPE(op)->tp_dealloc == census_dealloc;
}

static PyObject *
census_sub(PyObject *a, PyObject *b)
{
    if (!is_census(a) || !is_census(b)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    rc_diff *d = NULL;
    rc_status st = rc_census_diff(CENSUS(b), CENSUS(a), &d);
    return st == RC_OK ? rc_diff_wrap(MODULE(a), d) : rc_raise(st);
}

static PyObject *
census_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !is_census(a) || !is_census(b)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    int equal = rc_census_equal(CENSUS(a), CENSUS(b));
    return PyBool_FromLong(op == Py_EQ ? equal : !equal);
}

static PyMethodDef census_methods[] = {
    {"_row", census_row, METH_O, "_row(name) -> TypeStat, or None when no type has that name"},
    {"_names", census_names, METH_O, "_names(by_count) -> names, by name or largest count first"},
    {"_forget_objects", census_forget_objects, METH_NOARGS,
     "_forget_objects(): keep the counts, free the identities new_objects() reads"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef census_getset[] = {
    {"total", census_total, NULL, "TypeStat(count, bytes) over every type.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot census_slots[] = {
    {Py_tp_new, (void *)rc_no_new},
    {Py_tp_dealloc, (void *)census_dealloc},
    {Py_tp_richcompare, (void *)census_richcompare},
    {Py_tp_methods, census_methods},
    {Py_tp_getset, census_getset},
    {Py_mp_length, (void *)census_len},
    {Py_nb_subtract, (void *)census_sub},
    {Py_tp_hash, (void *)PyObject_HashNotImplemented},
    {Py_tp_doc, (void *)"Objects counted by type: a read-only mapping from type name to "
                        "TypeStat(count, bytes).  census_b - census_a is a CensusDiff."},
    {0, NULL},
};

static PyType_Spec census_spec = {"refchain.Census", sizeof(census_obj), 0, Py_TPFLAGS_DEFAULT,
                                  census_slots};

/* ---- CensusDiff ------------------------------------------------------------ */

PyObject *
rc_diff_wrap(PyObject *module, rc_diff *d)
{
    PyObject *self = rc_tool_new(module, rc_module_state(module)->diff_type);
    if (!self) {
        rc_diff_free(d);
        return NULL;
    }
    DIFF(self) = d;
    return self;
}

static void
diff_dealloc(PyObject *op)
{
    rc_diff_free(DIFF(op));
    rc_tool_dealloc(op);
}

static Py_ssize_t
diff_len(PyObject *op)
{
    return (Py_ssize_t)rc_diff_len(DIFF(op));
}

static PyObject *
diff_item(PyObject *op, Py_ssize_t i)
{
    const rc_diff_row *r = i >= 0 ? rc_diff_row_at(DIFF(op), (size_t)i) : NULL;
    if (!r) {
        PyErr_SetString(PyExc_IndexError, "CensusDiff index out of range");
        return NULL;
    }
    PyObject *v[5] = {PyUnicode_FromString(r->name), PyLong_FromUnsignedLongLong(r->count),
                      PyLong_FromLongLong(r->dcount), PyLong_FromLongLong(r->dbytes),
                      PyBool_FromLong(r->bytes_lower_bound)};
    return struct_seq(rc_module_state(MODULE(op))->diff_row, v, 5);
}

static PyType_Slot diff_slots[] = {
    {Py_tp_new, (void *)rc_no_new},
    {Py_tp_dealloc, (void *)diff_dealloc},
    {Py_sq_length, (void *)diff_len},
    {Py_sq_item, (void *)diff_item},
    {Py_tp_doc, (void *)"The change between two censuses: DiffRow(name, count, delta, "
                        "bytes_delta) per changed type, the largest count delta first."},
    {0, NULL},
};

static PyType_Spec diff_spec = {"refchain.CensusDiff", sizeof(diff_obj), 0, Py_TPFLAGS_DEFAULT,
                                diff_slots};

/* ---- registration ------------------------------------------------------------ */

static PyStructSequence_Field type_stat_fields[] = {
    {"count", "number of objects"},
    {"bytes", "their shallow size in bytes, as sys.getsizeof counts it"},
    {"bytes_lower_bound", "True when some of these sizes are lower bounds: the type's own "
                          "__sizeof__ is not trusted to run no Python code, so the layout "
                          "size was counted"},
    {NULL, NULL},
};

static PyStructSequence_Desc type_stat_desc = {
    "refchain.TypeStat", "Objects of one type: count and bytes.", type_stat_fields, 2};

static PyStructSequence_Field diff_row_fields[] = {
    {"name", "type name"},
    {"count", "objects in the later census"},
    {"delta", "change in the number of objects"},
    {"bytes_delta", "change in their bytes"},
    {"bytes_lower_bound", "True when either census's bytes are a lower bound "
                          "(see TypeStat.bytes_lower_bound)"},
    {NULL, NULL},
};

static PyStructSequence_Desc diff_row_desc = {
    "refchain.DiffRow", "One type's change between two censuses.", diff_row_fields, 4};

int
rc_census_types_init(PyObject *module, rc_state *s)
{
    if (rc_add_type(module, (PyTypeObject *)PyType_FromSpec(&census_spec), &s->census_type) ||
        rc_add_type(module, (PyTypeObject *)PyType_FromSpec(&diff_spec), &s->diff_type) ||
        rc_add_type(module, PyStructSequence_NewType(&type_stat_desc), &s->type_stat) ||
        rc_add_type(module, PyStructSequence_NewType(&diff_row_desc), &s->diff_row)) {
        return -1;
    }
    return 0;
}
