/* refchain.Census (a read-only mapping: type name -> TypeStat(count, bytes))
 * and refchain.CensusDiff (a sequence of DiffRow), over the C census.  Their
 * str() tables are the package's: it sets __str__ on these types (see
 * refchain/_wrap.py). */
#include "rcmodule.h"

typedef struct census_obj {
    rc_tool base;
    rc_census *c;
} census_obj;

typedef struct diff_obj {
    rc_tool base;
    rc_diff *d;
} diff_obj;

static PyObject *
no_new(PyTypeObject *tp, PyObject *Py_UNUSED(a), PyObject *Py_UNUSED(k))
{
    PyErr_Format(PyExc_TypeError, "cannot create '%s' instances; use refchain.census()",
                 tp->tp_name);
    return NULL;
}

static rc_census *
census_of(PyObject *op)
{
    return ((census_obj *)op)->c;
}

PyObject *
rc_type_stat(PyObject *module, uint64_t count, uint64_t bytes, bool lower_bound)
{
    PyObject *t = PyStructSequence_New(rc_module_state(module)->type_stat);
    if (!t) {
        return NULL;
    }
    PyObject *c = PyLong_FromUnsignedLongLong(count), *b = PyLong_FromUnsignedLongLong(bytes);
    if (!c || !b) {
        Py_XDECREF(c);
        Py_XDECREF(b);
        Py_DECREF(t);
        return NULL;
    }
    PyStructSequence_SET_ITEM(t, 0, c);
    PyStructSequence_SET_ITEM(t, 1, b);
    PyStructSequence_SET_ITEM(t, 2, PyBool_FromLong(lower_bound));
    return t;
}

PyObject *
rc_census_wrap(PyObject *module, rc_census *c)
{
    census_obj *self = PyObject_New(census_obj, rc_module_state(module)->census_type);
    if (!self) {
        rc_census_free(c);
        return NULL;
    }
    self->c = c;
    rc_tool_register((PyObject *)self, module);
    return (PyObject *)self;
}

rc_census *
rc_census_unwrap(PyObject *module, PyObject *obj, const char *what)
{
    if (!PyObject_TypeCheck(obj, rc_module_state(module)->census_type)) {
        PyErr_Format(PyExc_TypeError, "%s must be a refchain.Census, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return census_of(obj);
}

static void
tool_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    rc_tool_unregister(op);
    PyObject_Free(op);
    Py_DECREF(tp);
}

static void
census_dealloc(PyObject *op)
{
    rc_census_free(census_of(op));
    tool_dealloc(op);
}

static Py_ssize_t
census_len(PyObject *op)
{
    return (Py_ssize_t)rc_census_len(census_of(op));
}

/* The row for a str key, or NULL (no exception) when there is none. */
static const rc_census_row *
census_row(PyObject *op, PyObject *key)
{
    if (!PyUnicode_Check(key)) {
        return NULL;
    }
    const char *name = PyUnicode_AsUTF8(key);
    if (!name) {
        PyErr_Clear(); /* a lone surrogate names no type */
        return NULL;
    }
    return rc_census_find(census_of(op), name);
}

static PyObject *
census_getitem(PyObject *op, PyObject *key)
{
    const rc_census_row *r = census_row(op, key);
    if (!r) {
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    return rc_type_stat(((census_obj *)op)->base.module, r->count, r->bytes, r->bytes_lower_bound);
}

static int
census_contains(PyObject *op, PyObject *key)
{
    return census_row(op, key) != NULL;
}

static PyObject *
census_get(PyObject *op, PyObject *args)
{
    PyObject *key, *dflt = Py_None;
    if (!PyArg_UnpackTuple(args, "get", 1, 2, &key, &dflt)) {
        return NULL;
    }
    const rc_census_row *r = census_row(op, key);
    if (!r) {
        Py_INCREF(dflt);
        return dflt;
    }
    return rc_type_stat(((census_obj *)op)->base.module, r->count, r->bytes, r->bytes_lower_bound);
}

enum { KEYS, VALUES, ITEMS };

static PyObject *
census_list(PyObject *op, int what)
{
    const rc_census *c = census_of(op);
    PyObject *module = ((census_obj *)op)->base.module;
    size_t n = rc_census_len(c);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        const rc_census_row *r = rc_census_row_at(c, i);
        PyObject *item;
        if (what == KEYS) {
            item = PyUnicode_FromString(r->name);
        } else if (what == VALUES) {
            item = rc_type_stat(module, r->count, r->bytes, r->bytes_lower_bound);
        } else {
            PyObject *stat = rc_type_stat(module, r->count, r->bytes, r->bytes_lower_bound);
            item = stat ? Py_BuildValue("(sN)", r->name, stat) : NULL;
        }
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *
census_keys(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return census_list(op, KEYS);
}

static PyObject *
census_values(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return census_list(op, VALUES);
}

static PyObject *
census_items(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return census_list(op, ITEMS);
}

static PyObject *
census_iter(PyObject *op)
{
    PyObject *keys = census_list(op, KEYS);
    if (!keys) {
        return NULL;
    }
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

/* Parse a row limit: an int >= 0, or None for "all". */
static int
parse_limit(PyObject *arg, const char *func, size_t all, size_t *out)
{
    if (arg == Py_None) {
        *out = all;
        return 0;
    }
    if (!PyLong_Check(arg) || PyBool_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s() argument 'n' must be int or None, not %.100s",
                     func, Py_TYPE(arg)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return -1;
        }
        PyErr_Clear();
        n = _PyLong_Sign(arg) < 0 ? -1 : PY_SSIZE_T_MAX;
    }
    if (n < 0) {
        PyErr_Format(PyExc_ValueError, "%s() argument 'n' must be >= 0", func);
        return -1;
    }
    *out = (size_t)n < all ? (size_t)n : all;
    return 0;
}

/* top(n=10) -> [(name, count, bytes)], largest counts first */
static PyObject *
census_top(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"n", NULL};
    PyObject *n_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:top", kwlist, &n_obj)) {
        return NULL;
    }
    const rc_census *c = census_of(op);
    size_t all = rc_census_len(c), n = all < 10 ? all : 10;
    if (n_obj && parse_limit(n_obj, "top", all, &n) < 0) {
        return NULL;
    }
    size_t *order = PyMem_Malloc((all ? all : 1) * sizeof *order);
    if (!order) {
        return PyErr_NoMemory();
    }
    rc_census_order_by_count(c, order);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        const rc_census_row *r = rc_census_row_at(c, order[i]);
        PyObject *t = Py_BuildValue("(sKK)", r->name, (unsigned long long)r->count,
                                    (unsigned long long)r->bytes);
        if (!t) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    PyMem_Free(order);
    return list;
}

static PyObject *
census_total(PyObject *op, void *Py_UNUSED(closure))
{
    const rc_census *c = census_of(op);
    return rc_type_stat(((census_obj *)op)->base.module, rc_census_total_count(c),
                        rc_census_total_bytes(c), rc_census_total_lower_bound(c));
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
    rc_status st = rc_census_diff(census_of(b), census_of(a), &d);
    return st == RC_OK ? rc_diff_wrap(((census_obj *)a)->base.module, d) : rc_raise(st);
}

static PyObject *
census_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || !is_census(a) || !is_census(b)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    const rc_census *x = census_of(a), *y = census_of(b);
    int equal = rc_census_len(x) == rc_census_len(y);
    for (size_t i = 0; equal && i < rc_census_len(x); i++) {
        const rc_census_row *r = rc_census_row_at(x, i), *s = rc_census_row_at(y, i);
        equal = r->count == s->count && r->bytes == s->bytes && strcmp(r->name, s->name) == 0;
    }
    return PyBool_FromLong(op == Py_EQ ? equal : !equal);
}

static PyObject *
census_repr(PyObject *op)
{
    const rc_census *c = census_of(op);
    return PyUnicode_FromFormat("<refchain.Census: %llu objects, %llu bytes, %zu types>",
                                (unsigned long long)rc_census_total_count(c),
                                (unsigned long long)rc_census_total_bytes(c), rc_census_len(c));
}

static PyMethodDef census_methods[] = {
    {"get", census_get, METH_VARARGS, "get(name, default=None) -> TypeStat or default"},
    {"keys", census_keys, METH_NOARGS, "keys() -> list of type names, sorted"},
    {"values", census_values, METH_NOARGS, "values() -> list of TypeStat"},
    {"items", census_items, METH_NOARGS, "items() -> list of (name, TypeStat)"},
    {"top", (PyCFunction)(void (*)(void))census_top, METH_VARARGS | METH_KEYWORDS,
     "top(n=10) -> [(name, count, bytes)], the most numerous types first"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef census_getset[] = {
    {"total", census_total, NULL, "TypeStat(count, bytes) over every type.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot census_slots[] = {
    {Py_tp_new, (void *)no_new},
    {Py_tp_dealloc, (void *)census_dealloc},
    {Py_tp_repr, (void *)census_repr},
    {Py_tp_iter, (void *)census_iter},
    {Py_tp_richcompare, (void *)census_richcompare},
    {Py_tp_methods, census_methods},
    {Py_tp_getset, census_getset},
    {Py_mp_length, (void *)census_len},
    {Py_mp_subscript, (void *)census_getitem},
    {Py_sq_contains, (void *)census_contains},
    {Py_nb_subtract, (void *)census_sub},
    {Py_tp_hash, (void *)PyObject_HashNotImplemented},
    {Py_tp_doc, (void *)"Objects counted by type: a read-only mapping from type name to "
                        "TypeStat(count, bytes).  census_b - census_a is a CensusDiff."},
    {0, NULL},
};

static PyType_Spec census_spec = {
    .name = "refchain.Census",
    .basicsize = sizeof(census_obj),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = census_slots,
};

/* ---- CensusDiff ------------------------------------------------------------ */

PyObject *
rc_diff_wrap(PyObject *module, rc_diff *d)
{
    diff_obj *self = PyObject_New(diff_obj, rc_module_state(module)->diff_type);
    if (!self) {
        rc_diff_free(d);
        return NULL;
    }
    self->d = d;
    rc_tool_register((PyObject *)self, module);
    return (PyObject *)self;
}

static void
diff_dealloc(PyObject *op)
{
    rc_diff_free(((diff_obj *)op)->d);
    tool_dealloc(op);
}

static Py_ssize_t
diff_len(PyObject *op)
{
    return (Py_ssize_t)rc_diff_len(((diff_obj *)op)->d);
}

static PyObject *
diff_item(PyObject *op, Py_ssize_t i)
{
    diff_obj *self = (diff_obj *)op;
    const rc_diff_row *r = i >= 0 ? rc_diff_row_at(self->d, (size_t)i) : NULL;
    if (!r) {
        PyErr_SetString(PyExc_IndexError, "CensusDiff index out of range");
        return NULL;
    }
    PyObject *row = PyStructSequence_New(rc_module_state(self->base.module)->diff_row);
    if (!row) {
        return NULL;
    }
    PyObject *v[5] = {
        PyUnicode_FromString(r->name),
        PyLong_FromUnsignedLongLong(r->count),
        PyLong_FromLongLong(r->dcount),
        PyLong_FromLongLong(r->dbytes),
        PyBool_FromLong(r->bytes_lower_bound),
    };
    for (int k = 0; k < 5; k++) {
        if (!v[k]) {
            for (int j = 0; j < 5; j++) {
                Py_XDECREF(v[j]);
            }
            Py_DECREF(row);
            return NULL;
        }
    }
    for (int k = 0; k < 5; k++) {
        PyStructSequence_SET_ITEM(row, k, v[k]);
    }
    return row;
}

static PyObject *
diff_repr(PyObject *op)
{
    return PyUnicode_FromFormat("<refchain.CensusDiff: %zu types changed>",
                                rc_diff_len(((diff_obj *)op)->d));
}

static PyType_Slot diff_slots[] = {
    {Py_tp_new, (void *)no_new},
    {Py_tp_dealloc, (void *)diff_dealloc},
    {Py_tp_repr, (void *)diff_repr},
    {Py_sq_length, (void *)diff_len},
    {Py_sq_item, (void *)diff_item},
    {Py_tp_doc, (void *)"The change between two censuses: DiffRow(name, count, delta, "
                        "bytes_delta) per changed type, the largest count delta first."},
    {0, NULL},
};

static PyType_Spec diff_spec = {
    .name = "refchain.CensusDiff",
    .basicsize = sizeof(diff_obj),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = diff_slots,
};

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

static int
add_type(PyObject *module, const char *name, PyTypeObject *tp)
{
    Py_INCREF(tp);
    if (PyModule_AddObject(module, name, (PyObject *)tp) < 0) {
        Py_DECREF(tp);
        return -1;
    }
    return 0;
}

int
rc_census_types_init(PyObject *module, rc_state *s)
{
    s->census_type = (PyTypeObject *)PyType_FromSpec(&census_spec);
    s->diff_type = s->census_type ? (PyTypeObject *)PyType_FromSpec(&diff_spec) : NULL;
    s->type_stat = s->diff_type ? PyStructSequence_NewType(&type_stat_desc) : NULL;
    s->diff_row = s->type_stat ? PyStructSequence_NewType(&diff_row_desc) : NULL;
    if (!s->diff_row) {
        return -1;
    }
    return add_type(module, "Census", s->census_type) < 0 ||
                   add_type(module, "CensusDiff", s->diff_type) < 0 ||
                   add_type(module, "TypeStat", s->type_stat) < 0 ||
                   add_type(module, "DiffRow", s->diff_row) < 0
               ? -1
               : 0;
}
