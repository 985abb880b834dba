/* Relate: naming references (see refchain/relate.h).
 *
 * Every reader here is a field read or a scan that compares by identity:
 * dicts are read with PyDict_Next (which compares nothing), names are looked
 * up by scanning for exact-str keys (a dict lookup would call the __eq__ of
 * a colliding user key), sets by their table, lists and tuples by index.
 * Text is built as code points in C memory and only converted to UTF-8, so
 * nothing here creates a Python object or runs Python code.  Live mode only
 * (RC_RELATE_LIVE) also calls C that returns a new object or a new
 * reference: an int key's repr past 64 bits, the C asyncio futures' own
 * getters (each returns a field), _thread._get_main_thread_ident(); none of
 * these allocates a gc-tracked object, so no collection (no __del__) can
 * run under a borrowed pointer.  CPython's private layouts (frame
 * variables, inline attribute values, a frame's f_back field, a thread
 * state's threading.local key) are read through pycompat.h.
 *
 * The order in which a referrer's kinds of reference are tried is the order
 * in which a person would name them: the referrer's own kind first (module,
 * class, function, frame, cell, generator, container), then its named
 * fields (PyMemberDef and __slots__ along the MRO, a few getters of builtin
 * types that only return a field), its class, and last its attributes
 * (inline values on 3.11+, or its __dict__). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h> /* PyMemberDef */
#endif
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/pycompat.h"
#include "refchain/relate.h"

#define KEY_REPR_MAX 40

/* PyMemberDef types and flags (structmember.h before 3.12, Python.h after). */
#define RC_T_OBJECT 6
#define RC_T_OBJECT_EX 16
#define RC_RELATIVE_OFFSET 8

/* ---- text: code points in C memory ----------------------------------------- */

typedef struct text {
    uint32_t *cp;
    size_t n, cap;
    int failed;
} text;

static void
put(text *t, uint32_t c)
{
    if (t->failed) {
        return;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        uint32_t *p = rc_reallocarray(t->cp, cap, sizeof *p);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->cp = p;
        t->cap = cap;
    }
    t->cp[t->n++] = c;
}

static void
puts_ascii(text *t, const char *s)
{
    for (; *s; s++) {
        put(t, (unsigned char)*s);
    }
}

/* UTF-8 bytes (a C type's tp_name) as code points; a bad byte reads U+FFFD. */
static void
puts_utf8(text *t, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t c = *p;
        int more = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                             : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (more < 0) {
            put(t, 0xFFFD);
            p++;
            continue;
        }
        c &= more ? 0x3F >> more : 0x7F;
        int k = 1;
        for (; k <= more && (p[k] & 0xC0) == 0x80; k++) {
            c = (c << 6) | (p[k] & 0x3F);
        }
        if (k <= more) {
            put(t, 0xFFFD);
            p += k;
            continue;
        }
        put(t, c);
        p += k;
    }
}

static void
put_hex(text *t, char prefix, uint32_t c, int digits)
{
    static const char hex[] = "0123456789abcdef";
    put(t, '\\');
    put(t, (unsigned char)prefix);
    for (int i = digits - 1; i >= 0; i--) {
        put(t, (unsigned char)hex[(c >> (4 * i)) & 0xF]);
    }
}

/* Whether a str can be read in place (a legacy str before 3.12 may need
 * PyUnicode_READY, which allocates). */
static int
str_ready(PyObject *s)
{
#if PY_VERSION_HEX < 0x030C0000
    return PyUnicode_IS_READY(s);
#else
    (void)s;
    return 1;
#endif
}

/* The str's characters [0, len) as they are. */
static void
put_str(text *t, PyObject *s, Py_ssize_t len)
{
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < len; i++) {
        put(t, PyUnicode_READ(kind, data, i));
    }
}

/* repr() of the str's first `len` characters, as unicode_repr writes it. */
static void
put_str_repr(text *t, PyObject *s, Py_ssize_t len)
{
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    int squote = 0, dquote = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        squote |= c == '\'';
        dquote |= c == '"';
    }
    uint32_t quote = squote && !dquote ? '"' : '\'';
    put(t, quote);
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == quote || c == '\\') {
            put(t, '\\');
            put(t, c);
        } else if (c == '\t') {
            puts_ascii(t, "\\t");
        } else if (c == '\n') {
            puts_ascii(t, "\\n");
        } else if (c == '\r') {
            puts_ascii(t, "\\r");
        } else if (c < ' ' || c == 0x7F) {
            put_hex(t, 'x', c, 2);
        } else if (c < 0x7F) {
            put(t, c);
        } else if (Py_UNICODE_ISPRINTABLE(c)) { /* _PyUnicode_IsPrintable: a table lookup */
            put(t, c);
        } else if (c <= 0xFF) {
            put_hex(t, 'x', c, 2);
        } else if (c <= 0xFFFF) {
            put_hex(t, 'u', c, 4);
        } else {
            put_hex(t, 'U', c, 8);
        }
    }
    put(t, quote);
}

/* repr() of the bytes' first `len` bytes, as bytes_repr writes it. */
static void
put_bytes_repr(text *t, PyObject *b, Py_ssize_t len)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(b);
    int squote = memchr(p, '\'', (size_t)len) != NULL, dquote = memchr(p, '"', (size_t)len) != NULL;
    unsigned char quote = squote && !dquote ? '"' : '\'';
    put(t, 'b');
    put(t, quote);
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == quote || c == '\\') {
            put(t, '\\');
            put(t, c);
        } else if (c == '\t') {
            puts_ascii(t, "\\t");
        } else if (c == '\n') {
            puts_ascii(t, "\\n");
        } else if (c == '\r') {
            puts_ascii(t, "\\r");
        } else if (c < ' ' || c >= 0x7F) {
            put_hex(t, 'x', c, 2);
        } else {
            put(t, c);
        }
    }
    put(t, quote);
}

/* A type's __name__: its heap type name, else tp_name after the last dot. */
static void
put_type_name(text *t, PyTypeObject *tp)
{
    if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE)) {
        PyObject *name = ((PyHeapTypeObject *)tp)->ht_name;
        if (name && PyUnicode_Check(name) && str_ready(name)) {
            put_str(t, name, PyUnicode_GET_LENGTH(name));
            return;
        }
    }
    const char *dot = strrchr(tp->tp_name, '.');
    puts_utf8(t, dot ? dot + 1 : tp->tp_name);
}

/* Code points [from, n) as UTF-8 in rc_malloc'ed memory, or NULL. */
static char *
utf8_of(const text *t, size_t from)
{
    if (t->failed) {
        return NULL;
    }
    char *out = rc_malloc(4 * (t->n - from) + 1), *p = out;
    if (!out) {
        return NULL;
    }
    for (size_t i = from; i < t->n; i++) {
        uint32_t c = t->cp[i];
        if (c >= 0xD800 && c < 0xE000) {
            c = 0xFFFD; /* a lone surrogate has no UTF-8: _format.name escapes the rest */
        }
        if (c < 0x80) {
            *p++ = (char)c;
        } else if (c < 0x800) {
            *p++ = (char)(0xC0 | (c >> 6));
            *p++ = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *p++ = (char)(0xE0 | (c >> 12));
            *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *p++ = (char)(0x80 | (c & 0x3F));
        } else {
            *p++ = (char)(0xF0 | (c >> 18));
            *p++ = (char)(0x80 | ((c >> 12) & 0x3F));
            *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *p++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *p = '\0';
    return out;
}

static char *
ascii_dup(const char *s)
{
    return rc_strndup(s, strlen(s));
}

/* ---- key repr ---------------------------------------------------------------- */

/* An int's repr: in C up to 64 bits; past that through int's own repr in
 * live mode (C code; too many digits for it read `<int>`), else `<int>`. */
static void
put_int_repr(const rc_relate_ctx *ctx, text *t, PyObject *key)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
    if (!overflow) {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", v);
        puts_ascii(t, buf);
        return;
    }
    PyObject *r = ctx->mode == RC_RELATE_LIVE ? PyObject_Repr(key) : NULL;
    if (!r) {
        PyErr_Clear();
        puts_ascii(t, "<int>");
        return;
    }
    put_str(t, r, PyUnicode_GET_LENGTH(r));
    Py_DECREF(r);
}

/* Whether the decimal m * 10^e reads back as v. */
static int
reads_as(unsigned long long m, long e, double v)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%llue%ld", m, e); /* no decimal point: any locale */
    return strtod(buf, NULL) == v;
}

/* A float's repr without PyOS_double_to_string() (which allocates with
 * PyMem_Malloc): the fewest significant digits (1 to 17) that read back as
 * the same double, the nearest such when several do (the C library rounds
 * v to p digits; at a power of two the next decimal up may read back when
 * the nearest does not), laid out as repr() does: an exponent when the
 * decimal point would be 4 or more places left of the first digit or more
 * than 16 right of it, `.0` after an integer.  The C library's decimal
 * point may be a locale's: only its digits and exponent are read. */
static void
put_float_repr(text *t, double v)
{
    if (v != v) {
        puts_ascii(t, "nan");
        return;
    }
    if (v == HUGE_VAL || v == -HUGE_VAL) {
        puts_ascii(t, v < 0 ? "-inf" : "inf");
        return;
    }
    double a = fabs(v);
    char buf[64];
    unsigned long long m = 0;
    long e = 0;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, a);
        m = 0;
        const char *p = buf;
        for (; *p && *p != 'e'; p++) {
            m = *p >= '0' && *p <= '9' ? m * 10 + (unsigned long long)(*p - '0') : m;
        }
        e = (*p == 'e' ? strtol(p + 1, NULL, 10) : 0) - (prec - 1); /* a ~ m * 10^e */
        if (reads_as(m, e, a)) {
            break;
        }
        if (reads_as(m + 1, e, a)) {
            m++;
            break;
        }
        if (m > 0 && reads_as(m - 1, e, a)) {
            m--;
            break;
        }
    }
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", m);
    long decpt = e + n; /* the decimal point's place after digits[0..decpt) */
    while (n > 1 && digits[n - 1] == '0') {
        digits[--n] = '\0';
    }
    if (signbit(v)) {
        put(t, '-');
    }
    if (m == 0) {
        puts_ascii(t, "0.0");
    } else if (decpt <= -4 || decpt > 16) {
        put(t, (unsigned char)digits[0]);
        if (n > 1) {
            put(t, '.');
            puts_ascii(t, digits + 1);
        }
        snprintf(buf, sizeof buf, "e%c%02ld", decpt - 1 < 0 ? '-' : '+', labs(decpt - 1));
        puts_ascii(t, buf);
    } else if (decpt <= 0) {
        puts_ascii(t, "0.");
        for (long i = decpt; i < 0; i++) {
            put(t, '0');
        }
        puts_ascii(t, digits);
    } else {
        for (long i = 0; i < n || i < decpt; i++) {
            if (i == decpt) {
                put(t, '.');
            }
            put(t, i < n ? (unsigned char)digits[i] : '0');
        }
        if (decpt >= n) {
            puts_ascii(t, ".0");
        }
    }
}

/* _chains._key_repr: repr() of a dict key of a builtin type, truncated to
 * KEY_REPR_MAX characters at depth 0; `<type>` for any other key. */
static void
put_key_repr(const rc_relate_ctx *ctx, text *t, PyObject *key, int depth)
{
    size_t start = t->n;
    PyTypeObject *tp = Py_TYPE(key);
    if (key == Py_None) {
        puts_ascii(t, "None");
    } else if (tp == &PyBool_Type) {
        puts_ascii(t, key == Py_True ? "True" : "False");
    } else if (tp == &PyFloat_Type && ctx->mode != RC_RELATE_LIVE) {
        put_float_repr(t, PyFloat_AS_DOUBLE(key));
    } else if (tp == &PyFloat_Type) {
        char *s = PyOS_double_to_string(PyFloat_AS_DOUBLE(key), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!s) {
            PyErr_Clear();
            t->failed = 1;
            return;
        }
        puts_ascii(t, s);
        PyMem_Free(s);
    } else if (tp == &PyLong_Type) {
        put_int_repr(ctx, t, key);
    } else if (tp == &PyUnicode_Type && str_ready(key)) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(key);
        put_str_repr(t, key, len < KEY_REPR_MAX + 1 ? len : KEY_REPR_MAX + 1);
    } else if (tp == &PyBytes_Type) {
        Py_ssize_t len = PyBytes_GET_SIZE(key);
        put_bytes_repr(t, key, len < KEY_REPR_MAX + 1 ? len : KEY_REPR_MAX + 1);
    } else if (tp == &PyTuple_Type && depth < 3) {
        Py_ssize_t n = PyTuple_GET_SIZE(key), parts = 0;
        size_t total = 0;
        put(t, '(');
        for (; parts < n && parts < 8;) {
            if (parts) {
                puts_ascii(t, ", ");
            }
            size_t before = t->n;
            put_key_repr(ctx, t, PyTuple_GET_ITEM(key, parts), depth + 1);
            total += t->n - before;
            parts++;
            if (total > KEY_REPR_MAX) {
                break;
            }
        }
        if (n > parts) {
            puts_ascii(t, parts ? ", ..." : "...");
        }
        if (n == 1) {
            put(t, ',');
        }
        put(t, ')');
    } else {
        put(t, '<');
        put_type_name(t, tp);
        put(t, '>');
    }
    if (depth == 0 && !t->failed && t->n - start > KEY_REPR_MAX) {
        t->n = start + KEY_REPR_MAX - 3;
        puts_ascii(t, "...");
    }
}

/* ---- readers ---------------------------------------------------------------- */

/* The value of exact-str key `name` in dict d, found by scanning (a lookup
 * would compare a colliding key with __eq__), or NULL.  Borrowed. */
static PyObject *
dict_get_str(PyObject *d, const char *name)
{
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (d && PyDict_Check(d) && PyDict_Next(d, &pos, &k, &v)) {
        if (PyUnicode_CheckExact(k) && str_ready(k) && PyUnicode_CompareWithASCIIString(k, name) == 0) {
            return v;
        }
    }
    return NULL;
}

/* The first key under which dict d holds value (by identity), or NULL. */
static PyObject *
dict_key_of(PyObject *d, PyObject *value)
{
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (v == value) {
            return k;
        }
    }
    return NULL;
}

static int
dict_has_key(PyObject *d, PyObject *key)
{
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (k == key) {
            return 1;
        }
    }
    return 0;
}

/* A class's own namespace dict (borrowed), or NULL.  3.12+ keeps a static
 * builtin type's dict in the interpreter: PyType_GetDict() returns it
 * without creating anything. */
static PyObject *
class_dict(PyTypeObject *tp)
{
    PyObject *d = tp->tp_dict;
#if PY_VERSION_HEX >= 0x030C0000
    if (!d) {
        d = PyType_GetDict(tp);
        Py_XDECREF(d); /* the interpreter keeps it */
    }
#endif
    return d && PyDict_Check(d) ? d : NULL;
}

/* Whether `tp` has `cls` in its MRO (identity; reads tp_mro only). */
static int
has_base(PyTypeObject *tp, PyObject *cls)
{
    return cls && PyType_Check(cls) && PyType_IsSubtype(tp, (PyTypeObject *)cls);
}

typedef struct counter {
    PyObject *child;
    Py_ssize_t n, first_at;
    Py_ssize_t from;
} counter;

static int
count_visit(PyObject *obj, void *arg)
{
    counter *c = arg;
    if (obj == c->child && c->first_at < 0 && c->n >= c->from) {
        c->first_at = c->n;
    }
    c->n++;
    return 0;
}

/* The number of parent's tp_traverse referents (its visit only counts: no
 * allocation), and in *first_at the index of child's first visit at or
 * after `from` (-1 if none). */
static Py_ssize_t
count_referents(PyObject *parent, PyObject *child, Py_ssize_t from, Py_ssize_t *first_at)
{
    counter c = {child, 0, -1, from};
    traverseproc trav = Py_TYPE(parent)->tp_traverse;
    if (trav && PyObject_IS_GC(parent)) {
        trav(parent, count_visit, &c);
    }
    *first_at = c.first_at;
    return c.n;
}

/* ---- relation builders ------------------------------------------------------- */

static rc_status
set_text(rc_relation *out, rc_rel_kind kind, const char *s)
{
    out->kind = kind;
    out->text = ascii_dup(s);
    return out->text ? RC_OK : RC_ENOMEM;
}

/* kind with text = prefix + name, name an exact str's characters. */
static rc_status
set_named(rc_relation *out, rc_rel_kind kind, const char *prefix, PyObject *name,
          const char *suffix)
{
    text t = {0};
    puts_ascii(&t, prefix);
    if (PyUnicode_Check(name) && str_ready(name)) {
        put_str(&t, name, PyUnicode_GET_LENGTH(name));
    }
    puts_ascii(&t, suffix);
    out->kind = kind;
    out->text = utf8_of(&t, 0);
    rc_free(t.cp);
    return out->text ? RC_OK : RC_ENOMEM;
}

/* A variable (prefix "local " or "cell of local "): text, and its name's
 * key repr in out->repr. */
static rc_status
set_variable(const rc_relate_ctx *ctx, rc_relation *out, rc_rel_kind kind, const char *prefix,
             PyObject *name)
{
    text t = {0};
    put_key_repr(ctx, &t, name, 0);
    out->kind = kind;
    out->repr = utf8_of(&t, 0);
    t.n = 0;
    puts_ascii(&t, prefix);
    put_key_repr(ctx, &t, name, 0);
    out->text = utf8_of(&t, 0);
    rc_free(t.cp);
    return out->text && out->repr ? RC_OK : RC_ENOMEM;
}

/* RC_REL_KEY for a dict's value under key: `[repr]`, with the attribute
 * form (`name` for an exact str, else `[repr]`) in out->attr. */
static rc_status
set_key(const rc_relate_ctx *ctx, rc_relation *out, PyObject *key)
{
    text t = {0};
    put(&t, '[');
    put_key_repr(ctx, &t, key, 0);
    put(&t, ']');
    out->kind = RC_REL_KEY;
    out->text = utf8_of(&t, 0);
    t.n = 0;
    put_key_repr(ctx, &t, key, 0);
    out->repr = utf8_of(&t, 0);
    if (PyUnicode_CheckExact(key) && str_ready(key)) {
        t.n = 0;
        put_str(&t, key, PyUnicode_GET_LENGTH(key));
        out->attr = utf8_of(&t, 0);
    } else if (out->text) {
        out->attr = rc_strndup(out->text, strlen(out->text));
    }
    rc_free(t.cp);
    return out->text && out->repr && out->attr ? RC_OK : RC_ENOMEM;
}

static rc_status
set_index(rc_relation *out, long i)
{
    char buf[32];
    snprintf(buf, sizeof buf, "[%ld]", i);
    out->number = i;
    return set_text(out, RC_REL_INDEX, buf);
}

static rc_status
set_namespace(rc_relation *out, int style)
{
    out->number = style;
    return set_text(out, RC_REL_NAMESPACE, ".__dict__");
}

/* ---- the kinds of referrer --------------------------------------------------- */

/* Each returns 1 when it named the reference (out filled), 0 when it did
 * not, -1 on ENOMEM. */
#define NAMED(st) ((st) == RC_OK ? 1 : -1)

static int
relate_module(PyObject *parent, PyObject *child, rc_relation *out)
{
    PyObject *md = PyModule_GetDict(parent); /* borrowed, never NULL for a module */
    if (child == md) {
        return NAMED(set_namespace(out, RC_NS_ITEM));
    }
    /* Anything else a module refers to is in its C state (m_traverse):
     * before 3.10, atexit's registered callbacks. */
    PyObject *name = dict_get_str(md, "__name__");
    if (!name || !PyUnicode_CheckExact(name) || !str_ready(name)) {
        return 0;
    }
    if (PyUnicode_CompareWithASCIIString(name, "atexit") == 0) {
        return NAMED(set_text(out, RC_REL_TEXT, "<atexit callback>"));
    }
    return NAMED(set_named(out, RC_REL_TEXT, "<C state of module ", name, ">"));
}

static int
relate_function(PyObject *parent, PyObject *child, rc_relation *out)
{
    PyFunctionObject *f = (PyFunctionObject *)parent;
    if (f->func_closure && child == f->func_closure) {
        out->aux = f->func_code;
        return NAMED(set_text(out, RC_REL_CLOSURE, ".__closure__"));
    }
    return 0;
}

/* One variable slot as the frame's readers show it: a cell or free slot
 * holding a cell reads as the cell's contents; NULL when unbound or empty. */
static PyObject *
var_value(const rc_frame_vars *vars, size_t i, PyObject **name, int *is_cell)
{
    *name = rc_code_slot_name(vars->code, i, is_cell);
    PyObject *value = vars->slots[i];
    if (value && *is_cell && PyCell_Check(value)) {
        value = PyCell_GET(value);
    }
    return *name ? value : NULL;
}

/* A reference to one of the variables of a frame or generator. */
static int
relate_variables(const rc_relate_ctx *ctx, const rc_frame_vars *vars, PyObject *child,
                 rc_relation *out)
{
    PyObject *name;
    int is_cell;
    for (size_t i = 0; i < vars->n; i++) {
        if (var_value(vars, i, &name, &is_cell) == child && !is_cell) {
            return NAMED(set_variable(ctx, out, RC_REL_LOCAL, "local ", name));
        }
    }
    if (Py_TYPE(child) == &PyCell_Type) {
        /* A cell or free variable: the frame holds the cell. */
        PyObject *contents = PyCell_GET(child) ? PyCell_GET(child) : child;
        for (size_t i = 0; i < vars->n; i++) {
            if (var_value(vars, i, &name, &is_cell) == contents && is_cell) {
                out->aux = contents;
                return NAMED(set_variable(ctx, out, RC_REL_CELL_LOCAL, "cell of local ", name));
            }
        }
    }
    /* A cell variable's slot holds its value itself until the code starts
     * (3.11+: a generator not yet started). */
    for (size_t i = 0; i < vars->n; i++) {
        if (var_value(vars, i, &name, &is_cell) == child && is_cell) {
            return NAMED(set_variable(ctx, out, RC_REL_LOCAL, "local ", name));
        }
    }
    return 0;
}

static PyObject *
frame_globals(PyObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *g = PyFrame_GetGlobals((PyFrameObject *)frame);
    Py_DECREF(g); /* the frame keeps it */
    return g;
#else
    return ((PyFrameObject *)frame)->f_globals;
#endif
}

static PyObject *
frame_builtins(PyObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *b = PyFrame_GetBuiltins((PyFrameObject *)frame);
    Py_DECREF(b); /* the frame keeps it */
    return b;
#else
    return ((PyFrameObject *)frame)->f_builtins;
#endif
}

static int
relate_frame(const rc_relate_ctx *ctx, PyObject *frame, PyObject *child, rc_relation *out)
{
    rc_frame_vars vars;
    int known = rc_frame_vars_read(frame, &vars);
    if (child == frame_globals(frame)) {
        return NAMED(set_text(out, RC_REL_GLOBALS, ".f_globals"));
    }
    if (child == rc_frame_back_field(frame)) {
        return NAMED(set_text(out, RC_REL_ATTR, ".f_back"));
    }
    if (known && child == vars.code) {
        return NAMED(set_text(out, RC_REL_ATTR, ".f_code"));
    }
    if (!known) {
        return NAMED(set_text(out, RC_REL_TEXT, "<local variable>"));
    }
    if (PyDict_CheckExact(child)) {
        PyObject *name;
        int is_cell, is_var = 0;
        for (size_t i = 0; !is_var && i < vars.n; i++) {
            is_var = var_value(&vars, i, &name, &is_cell) == child;
        }
        if (!is_var) {
            /* Before 3.13, a dict the frame holds that is no variable of it:
             * its f_locals snapshot.  Read alone, what follows names it. */
            out->kind = RC_REL_LOCALS_DICT;
            return 1;
        }
    }
    return relate_variables(ctx, &vars, child, out);
}

static int
relate_generator(const rc_relate_ctx *ctx, PyObject *gen, PyObject *child, rc_relation *out)
{
    const char *prefix = PyCoro_CheckExact(gen) ? "cr" : PyAsyncGen_CheckExact(gen) ? "ag" : "gi";
    char buf[16];
    rc_frame_vars vars;
    int known = rc_frame_vars_read(gen, &vars);
    if (known && vars.frame && child == vars.frame) {
        snprintf(buf, sizeof buf, ".%s_frame", prefix);
        return NAMED(set_text(out, RC_REL_ATTR, buf));
    }
    if (known && child == vars.code) {
        snprintf(buf, sizeof buf, ".%s_code", prefix);
        return NAMED(set_text(out, RC_REL_ATTR, buf));
    }
#if PY_VERSION_HEX >= 0x030B0000
    /* From 3.11 the generator holds its frame's variables itself. */
    if (known) {
        return relate_variables(ctx, &vars, child, out);
    }
#else
    (void)ctx;
#endif
    return 0;
}

/* A list's or tuple's item: the index the edge points at when it holds the
 * child (its referents end with its items), else the first that does. */
static int
relate_sequence(PyObject *parent, PyObject *child, long edge, rc_relation *out)
{
    int is_list = PyList_Check(parent);
    Py_ssize_t n = is_list ? PyList_GET_SIZE(parent) : PyTuple_GET_SIZE(parent);
    PyObject **items = is_list ? ((PyListObject *)parent)->ob_item : ((PyTupleObject *)parent)->ob_item;
    if (edge >= 0) {
        Py_ssize_t first_at;
        Py_ssize_t offset = count_referents(parent, child, 0, &first_at) - n;
        if (edge - offset >= 0 && edge - offset < n && items[edge - offset] == child) {
            return NAMED(set_index(out, (long)(edge - offset)));
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i] == child) {
            return NAMED(set_index(out, (long)i));
        }
    }
    return 0;
}

static int
relate_container(const rc_relate_ctx *ctx, PyObject *parent, PyObject *child, long edge,
                 rc_relation *out)
{
    if (PyDict_Check(parent)) {
        PyObject *key = dict_key_of(parent, child);
        if (key) {
            return NAMED(set_key(ctx, out, key));
        }
        if (dict_has_key(parent, child)) {
            return NAMED(set_text(out, RC_REL_TEXT, "key of dict"));
        }
        return 0;
    }
    if (PyList_Check(parent) || PyTuple_Check(parent)) {
        return relate_sequence(parent, child, edge, out);
    }
    if (has_base(Py_TYPE(parent), ctx->deque)) {
        /* A deque's referents end with its items, in order (deque_traverse
         * walks its blocks left to right); its length is its ob_size. */
        Py_ssize_t first_at, total = count_referents(parent, child, 0, &first_at);
        Py_ssize_t offset = total - Py_SIZE(parent);
        count_referents(parent, child, offset, &first_at);
        return first_at >= 0 ? NAMED(set_index(out, (long)(first_at - offset))) : 0;
    }
    if (PyAnySet_Check(parent)) {
        PySetObject *so = (PySetObject *)parent;
        for (Py_ssize_t i = 0; i <= so->mask; i++) {
            if (so->table[i].key == child) {
                return NAMED(set_text(out, RC_REL_TEXT, "member"));
            }
        }
    }
    return 0;
}

/* The fields a few builtin types show through getters that only return the
 * field (_chains' _SAFE_GETSETS): name and value, in the order tried. */
static int
relate_getsets(PyObject *parent, PyObject *child, rc_relation *out)
{
    struct {
        const char *name;
        PyObject *value;
    } f[5];
    int n = 0;
    if (PyExceptionInstance_Check(parent)) {
        PyBaseExceptionObject *e = (PyBaseExceptionObject *)parent;
        f[n].name = ".__traceback__", f[n++].value = e->traceback;
        f[n].name = ".__cause__", f[n++].value = e->cause;
        f[n].name = ".__context__", f[n++].value = e->context;
        f[n].name = ".args", f[n++].value = e->args;
    } else if (PyFunction_Check(parent)) {
        PyFunctionObject *fn = (PyFunctionObject *)parent;
        f[n].name = ".__code__", f[n++].value = fn->func_code;
        f[n].name = ".__defaults__", f[n++].value = fn->func_defaults;
        f[n].name = ".__kwdefaults__", f[n++].value = fn->func_kwdefaults;
    } else if (PyFrame_Check(parent)) {
        f[n].name = ".f_back", f[n++].value = rc_frame_back_field(parent);
        f[n].name = ".f_globals", f[n++].value = frame_globals(parent);
        f[n].name = ".f_builtins", f[n++].value = frame_builtins(parent);
    } else if (PyTraceBack_Check(parent)) {
        PyTracebackObject *tb = (PyTracebackObject *)parent;
        f[n].name = ".tb_next", f[n++].value = (PyObject *)tb->tb_next;
        f[n].name = ".tb_frame", f[n++].value = (PyObject *)tb->tb_frame;
    } else if (PyType_Check(parent)) {
        f[n].name = ".__bases__", f[n++].value = ((PyTypeObject *)parent)->tp_bases;
        f[n].name = ".__mro__", f[n++].value = ((PyTypeObject *)parent)->tp_mro;
    }
    for (int i = 0; i < n; i++) {
        if (f[i].value && f[i].value == child) {
            return NAMED(set_text(out, RC_REL_ATTR, f[i].name));
        }
    }
    return 0;
}

/* The PyMemberDef fields along parent's MRO (a class's __slots__, a builtin
 * type's fields), each found as a member descriptor in a class dict. */
static int
relate_members(PyObject *parent, PyObject *child, rc_relation *out)
{
    PyTypeObject *tp = Py_TYPE(parent);
    PyObject *mro = tp->tp_mro;
    Py_ssize_t n = mro && PyTuple_Check(mro) ? PyTuple_GET_SIZE(mro) : 0;
    for (Py_ssize_t c = 0; c < (n ? n : 1); c++) {
        PyObject *cls = n ? PyTuple_GET_ITEM(mro, c) : (PyObject *)tp;
        PyObject *ns = PyType_Check(cls) ? class_dict((PyTypeObject *)cls) : NULL;
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (ns && PyDict_Next(ns, &pos, &k, &v)) {
            if (Py_TYPE(v) != &PyMemberDescr_Type || !PyUnicode_CheckExact(k)) {
                continue;
            }
            PyMemberDef *m = ((PyMemberDescrObject *)v)->d_member;
            if ((m->type != RC_T_OBJECT && m->type != RC_T_OBJECT_EX) ||
                (m->flags & RC_RELATIVE_OFFSET) ||
                !PyType_IsSubtype(tp, ((PyDescrObject *)v)->d_type)) {
                continue;
            }
            PyObject *value = *(PyObject **)((char *)parent + m->offset);
            if (value && value == child) {
                if (PyDict_CheckExact(child) && str_ready(k) &&
                    PyUnicode_CompareWithASCIIString(k, "__dict__") == 0) {
                    return NAMED(set_namespace(out, RC_NS_ATTR));
                }
                return NAMED(set_named(out, RC_REL_ATTR, ".", k, ""));
            }
        }
    }
    return 0;
}

/* Whether the first `__dict__` of parent's MRO is a C descriptor (a
 * property of that name is user code: then the attributes are not read). */
static int
has_dict_descriptor(PyTypeObject *tp)
{
    PyObject *mro = tp->tp_mro;
    Py_ssize_t n = mro && PyTuple_Check(mro) ? PyTuple_GET_SIZE(mro) : 0;
    for (Py_ssize_t c = 0; c < n; c++) {
        PyObject *cls = PyTuple_GET_ITEM(mro, c);
        PyObject *desc = PyType_Check(cls) ? dict_get_str(class_dict((PyTypeObject *)cls), "__dict__")
                                           : NULL;
        if (desc) {
            return Py_TYPE(desc) == &PyGetSetDescr_Type || Py_TYPE(desc) == &PyMemberDescr_Type;
        }
    }
    return 0;
}

/* An attribute of an instance: its inline values (3.11+) or its __dict__. */
static int
relate_instance_attrs(const rc_relate_ctx *ctx, PyObject *parent, PyObject *child,
                      rc_relation *out)
{
    PyTypeObject *tp = Py_TYPE(parent);
    if (!has_dict_descriptor(tp)) {
        return 0;
    }
    size_t n;
    PyObject *const *values = rc_inline_values(parent, &n);
    for (size_t i = 0; i < n; i++) {
        PyObject *name = values[i] == child ? rc_inline_name(parent, i) : NULL;
        if (name) {
            return NAMED(set_named(out, RC_REL_ATTR, ".", name, ""));
        }
    }
    int managed = 0;
#if PY_VERSION_HEX >= 0x030B0000
    managed = PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT);
#endif
    PyObject *ns = rc_object_dict(parent);
    if (ns && PyDict_Check(ns)) {
        if (ns == child) {
            return NAMED(set_namespace(out, RC_NS_ATTR));
        }
        PyObject *key = PyDict_CheckExact(child) || managed ? dict_key_of(ns, child) : NULL;
        if (key) {
            rc_relation kr = {0};
            if (set_key(ctx, &kr, key) != RC_OK) {
                rc_relation_clear(&kr);
                return -1;
            }
            text t = {0};
            put(&t, '.');
            puts_utf8(&t, kr.attr);
            rc_relation_clear(&kr);
            out->kind = RC_REL_ATTR;
            out->text = utf8_of(&t, 0);
            rc_free(t.cp);
            return out->text ? 1 : -1;
        }
    }
    if (managed && !PyDict_CheckExact(child)) {
        return NAMED(set_text(out, RC_REL_TEXT, "<attribute>"));
    }
    return 0;
}

static int
relate_attributes(const rc_relate_ctx *ctx, PyObject *parent, PyObject *child, rc_relation *out)
{
    int r = relate_members(parent, child, out);
    if (!r) {
        r = relate_getsets(parent, child, out);
    }
    if (!r && child == (PyObject *)Py_TYPE(parent)) {
        r = NAMED(set_text(out, RC_REL_ATTR, ".__class__"));
    }
    if (!r) {
        r = relate_instance_attrs(ctx, parent, child, out);
    }
    return r;
}

static int
in_mro(PyTypeObject *tp, PyObject *const *classes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (has_base(tp, classes[i])) {
            return 1;
        }
    }
    return 0;
}

/* The pure-Python asyncio Future and Task: their attributes read as the C
 * classes' fields do. */
static const char *const py_future_labels[][2] = {
    {"._result", ".result()"},
    {"._exception", ".exception()"},
    {"._coro", ".get_coro()"},
    {"._loop", ".get_loop()"},
    {"._callbacks", "done callbacks"},
    {"._context", "context"},
    {"._name", ".get_name()"},
};

static const char *
py_future_label(const char *label)
{
    for (size_t i = 0; i < sizeof py_future_labels / sizeof *py_future_labels; i++) {
        if (strcmp(label, py_future_labels[i][0]) == 0) {
            return py_future_labels[i][1];
        }
    }
    return NULL;
}

/* A chain of references being labelled (see rc_relate_path). */
typedef struct path {
    const rc_relate_ctx *ctx;
    PyObject *const *objs;
    size_t n;
    const long *edges;
    size_t n_edges;
} path;

/* ---- C containers ------------------------------------------------------------ */

/* The referents of an object in tp_traverse order, in C memory: its visit
 * only appends (no Python object, no Python code). */
typedef struct referents {
    PyObject **items;
    size_t n, cap;
    int failed;
} referents;

static int
record_visit(PyObject *obj, void *arg)
{
    referents *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        PyObject **p = rc_reallocarray(r->items, cap, sizeof *p);
        if (!p) {
            r->failed = 1;
            return 1; /* stops the traversal */
        }
        r->items = p;
        r->cap = cap;
    }
    r->items[r->n++] = obj;
    return 0;
}

/* 0, or -1 on ENOMEM (r freed). */
static int
read_referents(PyObject *op, referents *r)
{
    memset(r, 0, sizeof *r);
    traverseproc trav = Py_TYPE(op)->tp_traverse;
    if (trav && PyObject_IS_GC(op)) {
        trav(op, record_visit, r);
    }
    if (r->failed) {
        rc_free(r->items);
        memset(r, 0, sizeof *r);
        return -1;
    }
    return 0;
}

/* The C asyncio Future and Task (_asyncio): a field is named by its public
 * accessor where there is one, else by the private attribute both
 * implementations have.  The fields are read through the C class's own
 * getters (found in its dict as getset descriptors: a subclass's property
 * of the same name is user code), which only return the field: live mode
 * only.  The done callbacks have no such getter (`_callbacks` builds a new
 * list), so they are found in the traversal order, which every version
 * keeps: ..., the loop, the first callback and its context, the list of
 * the others, ... */
static const char *const c_future_fields[][2] = {
    {"_result", ".result()"},
    {"_exception", ".exception()"},
    {"_coro", ".get_coro()"},
    {"_fut_waiter", "._fut_waiter"},
    {"_source_traceback", "._source_traceback"},
    {"_cancel_message", "._cancel_message"},
    {"_loop", ".get_loop()"},
};

/* A new reference to what cls's C getter `name` returns for obj, or NULL. */
static PyObject *
c_getter(PyObject *cls, PyObject *obj, const char *name)
{
    PyObject *desc = dict_get_str(class_dict((PyTypeObject *)cls), name);
    if (!desc || Py_TYPE(desc) != &PyGetSetDescr_Type) {
        return NULL;
    }
    PyGetSetDef *gs = ((PyGetSetDescrObject *)desc)->d_getset;
    PyObject *value = gs->get ? gs->get(obj, gs->closure) : NULL;
    if (!value) {
        PyErr_Clear();
    }
    return value;
}

static int
relate_c_future(const rc_relate_ctx *ctx, PyObject *fut, PyObject *child, rc_relation *out)
{
    if (ctx->mode != RC_RELATE_LIVE) {
        return 0;
    }
    int is_task = has_base(Py_TYPE(fut), ctx->c_future[0]);
    PyObject *cls = is_task ? ctx->c_future[0] : ctx->c_future[1];
    PyObject *loop = NULL;
    for (size_t i = 0; i < sizeof c_future_fields / sizeof *c_future_fields; i++) {
        PyObject *value = c_getter(cls, fut, c_future_fields[i][0]);
        int hit = value && value == child;
        if (i + 1 == sizeof c_future_fields / sizeof *c_future_fields) {
            loop = value; /* the fields hold it: compared by address only */
        }
        Py_XDECREF(value);
        if (hit) {
            return NAMED(set_text(out, RC_REL_ATTR, c_future_fields[i][1]));
        }
    }
    referents r;
    if (read_referents(fut, &r) < 0) {
        return -1;
    }
    const char *label = NULL;
    for (size_t i = 0; loop && loop != Py_None && i < r.n; i++) {
        if (r.items[i] != loop) {
            continue;
        }
        size_t next = i + 1;
        if (i + 2 < r.n && ctx->context && Py_TYPE(r.items[i + 2]) == (PyTypeObject *)ctx->context) {
            label = child == r.items[i + 1]   ? "done callback"
                    : child == r.items[i + 2] ? "done callback's context"
                                              : NULL;
            next = i + 3;
        }
        if (!label && next < r.n && PyList_CheckExact(r.items[next]) && child == r.items[next]) {
            label = "done callbacks";
        }
        break;
    }
    rc_free(r.items);
    if (!label && ctx->context && Py_TYPE(child) == (PyTypeObject *)ctx->context) {
        label = "context";
    }
    if (!label && is_task && PyUnicode_CheckExact(child)) {
        label = ".get_name()"; /* no other field is a str */
    }
    return label ? NAMED(set_text(out, RC_REL_TEXT, label)) : 0;
}

/* An lru_cache wrapper (_functools._lru_cache_wrapper).  Its traversal
 * visits a bounded cache's links first, from index `start`: (key, result)
 * pairs before 3.10, (key, result, link type) triples after the wrapper's
 * type from 3.10.  Then its cache dict and the wrapped callable: func
 * first before 3.10, the cache first from 3.10.  The links are counted from
 * the cache dict, which maps each key to its link (an unbounded cache has
 * no links, and maps keys to results). */
typedef struct lru_layout {
    referents refs;
    size_t start, stride, links;
    long cache, func; /* indexes in refs, or -1 */
} lru_layout;

static int
is_lru_link_type(PyTypeObject *tp)
{
    const char *dot = strrchr(tp->tp_name, '.');
    return strcmp(dot ? dot + 1 : tp->tp_name, "_lru_list_elem") == 0;
}

/* 0, or -1 on ENOMEM. */
static int
read_lru_layout(PyObject *wrapper, lru_layout *l)
{
    memset(l, 0, sizeof *l);
    if (read_referents(wrapper, &l->refs) < 0) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030A0000
    l->start = 1, l->stride = 3;
#else
    l->start = 0, l->stride = 2;
#endif
    for (size_t i = 0; i < l->refs.n; i++) {
        PyObject *d = l->refs.items[i], *k, *v;
        Py_ssize_t pos = 0;
        if (!PyDict_CheckExact(d) || !PyDict_GET_SIZE(d)) {
            continue;
        }
        PyTypeObject *link_type = NULL;
        int all = 1;
        while (PyDict_Next(d, &pos, &k, &v)) {
            link_type = link_type ? link_type : Py_TYPE(v);
            all &= Py_TYPE(v) == link_type;
        }
        if (is_lru_link_type(link_type) && all) {
            l->links = (size_t)PyDict_GET_SIZE(d);
            break;
        }
    }
    size_t after = l->start + l->stride * l->links;
#if PY_VERSION_HEX >= 0x030A0000
    l->cache = (long)after, l->func = (long)after + 1;
#else
    l->cache = (long)after + 1, l->func = (long)after;
#endif
    if ((size_t)(l->cache > l->func ? l->cache : l->func) >= l->refs.n ||
        !PyDict_CheckExact(l->refs.items[l->cache])) {
        l->links = 0;
        l->cache = l->func = -1;
    }
    return 0;
}

static int
relate_lru(const rc_relate_ctx *ctx, PyObject *wrapper, PyObject *child, long edge,
           rc_relation *out)
{
    PyObject *wdict = rc_object_dict(wrapper);
    if (wdict && child == wdict) {
        return NAMED(set_namespace(out, RC_NS_ATTR));
    }
    lru_layout l;
    if (read_lru_layout(wrapper, &l) < 0) {
        return -1;
    }
    int r = 0;
    PyObject **refs = l.refs.items;
    if (l.cache >= 0 && refs[l.cache] == child) {
        r = NAMED(set_text(out, RC_REL_LRU_CACHE, "lru_cache"));
    } else if (edge >= 0 && (size_t)edge < l.refs.n && refs[edge] == child &&
               (size_t)edge >= l.start && (size_t)edge < l.start + l.stride * l.links &&
               ((size_t)edge - l.start) % l.stride < 2) {
        if (((size_t)edge - l.start) % l.stride == 1) {
            r = NAMED(set_key(ctx, out, refs[edge - 1]));
        } else {
            r = NAMED(set_text(out, RC_REL_TEXT, "cache key"));
        }
    } else if ((l.func >= 0 && refs[l.func] == child) ||
               (wdict && PyDict_Check(wdict) && dict_get_str(wdict, "__wrapped__") == child)) {
        /* The wrapped callable (sqlite3's statement cache wraps its Connection). */
        r = NAMED(set_text(out, RC_REL_ATTR, ".__wrapped__"));
    }
    rc_free(l.refs.items);
    return r;
}

/* threading.local (_thread._local): its dict of per-thread dicts is the
 * last dict it visits (after the kw dict of its arguments), keyed by one
 * object per thread, never a str. */
static PyObject *
local_dicts(PyObject *local, int *err)
{
    referents r;
    *err = read_referents(local, &r) < 0;
    PyObject *last = NULL, *k, *v;
    for (size_t i = 0; i < r.n; i++) {
        last = PyDict_CheckExact(r.items[i]) ? r.items[i] : last;
    }
    rc_free(r.items);
    Py_ssize_t pos = 0;
    while (last && PyDict_Next(last, &pos, &k, &v)) {
        if (PyUnicode_CheckExact(k)) {
            return NULL;
        }
    }
    return last && PyDict_GET_SIZE(last) ? last : NULL;
}

/* obj's own attribute `name` (borrowed), read in place, or NULL; none when
 * a class of its MRO has the name (a property of a Thread subclass is user
 * code). */
static PyObject *
plain_attr(PyObject *obj, const char *name)
{
    PyObject *mro = Py_TYPE(obj)->tp_mro;
    for (Py_ssize_t c = 0; mro && PyTuple_Check(mro) && c < PyTuple_GET_SIZE(mro); c++) {
        PyObject *cls = PyTuple_GET_ITEM(mro, c);
        if (PyType_Check(cls) && dict_get_str(class_dict((PyTypeObject *)cls), name)) {
            return NULL;
        }
    }
    size_t n;
    PyObject *const *values = rc_inline_values(obj, &n);
    for (size_t i = 0; i < n; i++) {
        PyObject *key = values[i] ? rc_inline_name(obj, i) : NULL;
        if (key && PyUnicode_CheckExact(key) && str_ready(key) &&
            PyUnicode_CompareWithASCIIString(key, name) == 0) {
            return values[i];
        }
    }
    return dict_get_str(rc_object_dict(obj), name);
}

/* Whether ident is the main thread's, without importing threading: 3.13+
 * asks _thread._get_main_thread_ident() (C, live mode only); otherwise every
 * thread not started through threading runs beside the main one, which is
 * always listed: a lone thread is the main thread. */
static int
is_main_thread(const rc_relate_ctx *ctx, PyObject *modules, unsigned long ident, size_t n)
{
    PyObject *thread = dict_get_str(modules, "_thread");
    PyObject *get = thread && PyModule_Check(thread)
                        ? dict_get_str(PyModule_GetDict(thread), "_get_main_thread_ident")
                        : NULL;
    if (get && Py_TYPE(get) == &PyCFunction_Type && ctx->mode == RC_RELATE_LIVE) {
        PyObject *r = PyObject_CallObject(get, NULL);
        unsigned long main = r && PyLong_CheckExact(r) ? PyLong_AsUnsignedLong(r) : 0;
        Py_XDECREF(r);
        PyErr_Clear();
        return main == ident;
    }
    return n == 1;
}

/* "thread NAME" into t for thread ident (rc_thread_name's NAME). */
static void
put_thread(const rc_relate_ctx *ctx, text *t, unsigned long ident, size_t n)
{
    puts_ascii(t, "thread ");
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *threading = dict_get_str(modules, "threading");
    threading = threading && PyModule_Check(threading) ? threading : NULL;
    PyObject *thread = NULL;
    PyObject *active = threading ? dict_get_str(PyModule_GetDict(threading), "_active") : NULL;
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (active && PyDict_CheckExact(active) && PyDict_Next(active, &pos, &k, &v)) {
        int overflow = 0;
        if (PyLong_CheckExact(k) && (unsigned long)PyLong_AsLongLongAndOverflow(k, &overflow) == ident &&
            !overflow) {
            thread = v;
            break;
        }
    }
    if (thread) {
        PyObject *name = plain_attr(thread, "_name");
        if (name && PyUnicode_CheckExact(name) && str_ready(name)) {
            put_str(t, name, PyUnicode_GET_LENGTH(name));
            return;
        }
    } else if (!threading && is_main_thread(ctx, modules, ident, n)) {
        puts_ascii(t, "MainThread");
        return;
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%lu", ident);
    puts_ascii(t, buf);
}

char *
rc_thread_name(const rc_relate_ctx *ctx, unsigned long ident, size_t n_threads)
{
    text t = {0};
    put_thread(ctx, &t, ident, n_threads);
    char *s = utf8_of(&t, sizeof "thread " - 1);
    rc_free(t.cp);
    return s;
}

/* " in thread NAME" for the thread whose local dicts are under key. */
static void
put_local_thread(const rc_relate_ctx *ctx, text *t, PyObject *key)
{
    unsigned long ident;
    size_t n;
    if (!rc_local_key_thread(key, &ident, &n)) {
        puts_ascii(t, " in a thread");
        return;
    }
    puts_ascii(t, " in ");
    put_thread(ctx, t, ident, n);
}

/* The step local -> dict of dicts (-> a thread's dict (-> a value)). */
static char *
local_label(const path *p, size_t i, size_t *hops, int *err)
{
    PyObject *dicts = p->objs[i + 1];
    PyObject *key = i + 2 < p->n ? dict_key_of(dicts, p->objs[i + 2]) : NULL;
    text t = {0};
    *hops = 1;
    if (!key) {
        puts_ascii(&t, "per-thread dicts");
    } else {
        PyObject *tdict = p->objs[i + 2];
        PyObject *attr = PyDict_CheckExact(tdict) && i + 3 < p->n ? dict_key_of(tdict, p->objs[i + 3])
                                                                   : NULL;
        if (attr && PyUnicode_CheckExact(attr) && str_ready(attr)) {
            put(&t, '.');
            put_str(&t, attr, PyUnicode_GET_LENGTH(attr));
        } else if (attr) {
            put(&t, '[');
            put_key_repr(p->ctx, &t, attr, 0);
            put(&t, ']');
        } else {
            puts_ascii(&t, ".__dict__");
        }
        put_local_thread(p->ctx, &t, key);
        *hops = attr ? 3 : 2;
    }
    char *s = utf8_of(&t, 0);
    rc_free(t.cp);
    *err = s == NULL;
    return s;
}

rc_status
rc_relate(const rc_relate_ctx *ctx, PyObject *parent, PyObject *child, long edge,
          rc_relation *out)
{
    memset(out, 0, sizeof *out);
    PyTypeObject *tp = Py_TYPE(parent);
    int r = 0;

    if ((tp == &PyList_Type || tp == &PyTuple_Type) && edge >= 0 &&
        edge < (long)Py_SIZE(parent) &&
        (tp == &PyList_Type ? PyList_GET_ITEM(parent, edge) : PyTuple_GET_ITEM(parent, edge)) ==
            child) {
        /* The common case first: a list's referents are its items, in order. */
        return set_index(out, edge);
    }
    if (PyModule_Check(parent)) {
        r = relate_module(parent, child, out);
    } else if (PyType_Check(parent)) {
        PyObject *d = class_dict((PyTypeObject *)parent);
        r = d && child == d ? NAMED(set_namespace(out, RC_NS_ATTR)) : 0;
    } else if (tp == &PyFunction_Type) {
        r = relate_function(parent, child, out);
    } else if (tp == &PyFrame_Type) {
        r = relate_frame(ctx, parent, child, out);
    } else if (tp == &PyCell_Type) {
        r = PyCell_GET(parent) && PyCell_GET(parent) == child
                ? NAMED(set_text(out, RC_REL_CELL, ".cell_contents"))
                : 0;
    } else if (tp == &PyGen_Type || tp == &PyCoro_Type || tp == &PyAsyncGen_Type) {
        r = relate_generator(ctx, parent, child, out);
    }
    if (!r && has_base(tp, ctx->local)) {
        int err;
        PyObject *dicts = local_dicts(parent, &err);
        r = err ? -1 : dicts && dicts == child ? NAMED(set_text(out, RC_REL_LOCAL_DICTS, "per-thread dicts")) : 0;
    }
    if (!r && has_base(tp, ctx->lru_wrapper)) {
        r = relate_lru(ctx, parent, child, edge, out);
    }
    if (!r && in_mro(tp, ctx->c_future, 2)) {
        r = relate_c_future(ctx, parent, child, out);
    }
    if (!r && (PyDict_Check(parent) || PyList_Check(parent) || PyTuple_Check(parent) ||
               PyAnySet_Check(parent) || has_base(tp, ctx->deque))) {
        r = relate_container(ctx, parent, child, edge, out);
    }
    if (!r) {
        r = relate_attributes(ctx, parent, child, out);
    }
    if (r == 1 && out->kind == RC_REL_LOCALS_DICT) {
        /* What follows names it; alone, it reads as any field would. */
        rc_relation alone;
        memset(&alone, 0, sizeof alone);
        r = relate_attributes(ctx, parent, child, &alone) < 0 ? -1 : 1;
        out->text = alone.text;
        alone.text = NULL;
        rc_relation_clear(&alone);
    }
    if (r < 0) {
        rc_relation_clear(out);
        return RC_ENOMEM;
    }
    if (!r || !out->text) {
        char buf[48];
        snprintf(buf, sizeof buf, "<referent #%ld>", edge);
        if (set_text(out, r ? out->kind : RC_REL_FALLBACK, buf) != RC_OK) {
            rc_relation_clear(out);
            return RC_ENOMEM;
        }
    }
    return RC_OK;
}

void
rc_relation_clear(rc_relation *rel)
{
    if (!rel) {
        return;
    }
    rc_free(rel->text);
    rc_free(rel->attr);
    rc_free(rel->repr);
    memset(rel, 0, sizeof *rel);
}

/* ---- context ----------------------------------------------------------------- */

/* The class `name` of the imported module `module`, or NULL: read from
 * sys.modules and the module's dict by scanning (imports nothing). */
static PyObject *
module_class(PyObject *modules, const char *module, const char *name)
{
    PyObject *m = dict_get_str(modules, module);
    if (!m || !PyModule_Check(m)) {
        return NULL;
    }
    PyObject *cls = dict_get_str(PyModule_GetDict(m), name);
    return cls && PyType_Check(cls) ? cls : NULL;
}

void
rc_relate_ctx_init(rc_relate_ctx *ctx, rc_relate_mode mode)
{
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    memset(ctx, 0, sizeof *ctx);
    ctx->mode = mode;
    ctx->deque = module_class(modules, "_collections", "deque");
    ctx->lru_wrapper = module_class(modules, "_functools", "_lru_cache_wrapper");
    ctx->local = module_class(modules, "_thread", "_local");
    ctx->c_future[0] = module_class(modules, "_asyncio", "Task");
    ctx->c_future[1] = module_class(modules, "_asyncio", "Future");
    ctx->py_future[0] = module_class(modules, "asyncio.tasks", "_PyTask");
    ctx->py_future[1] = module_class(modules, "asyncio.futures", "_PyFuture");
    ctx->context = module_class(modules, "_contextvars", "Context");
}

/* ---- paths ------------------------------------------------------------------- */

static long
edge_at(const path *p, size_t i)
{
    return i < p->n_edges ? p->edges[i] : -1;
}

/* The label of the namespace dict objs[i] -> objs[i + 1] read as one step,
 * style RC_NS_ATTR (`.name`, `[repr]` for another key) or RC_NS_ITEM
 * (`[repr]`), prefix before a repr ("global " / "local "; NULL for the
 * style); NULL when objs[i + 1] is not a value of the dict.  *err on
 * ENOMEM. */
static char *
after_namespace(const path *p, size_t i, int style, const char *prefix, int *err)
{
    PyObject *ns = p->objs[i];
    PyObject *key = PyDict_Check(ns) ? dict_key_of(ns, p->objs[i + 1]) : NULL;
    if (!key) {
        return NULL;
    }
    text t = {0};
    if (prefix) {
        puts_ascii(&t, prefix);
        put_key_repr(p->ctx, &t, key, 0);
    } else if (style == RC_NS_ATTR && PyUnicode_CheckExact(key) && str_ready(key)) {
        put(&t, '.');
        put_str(&t, key, PyUnicode_GET_LENGTH(key));
    } else {
        put(&t, '[');
        put_key_repr(p->ctx, &t, key, 0);
        put(&t, ']');
    }
    char *s = utf8_of(&t, 0);
    rc_free(t.cp);
    *err = s == NULL;
    return s;
}

/* The closure step function -> __closure__ -> cell (-> contents). */
static char *
closure_label(const path *p, size_t i, const rc_relation *rel, size_t *hops, int *err)
{
    PyObject *closure = p->objs[i + 1];
    PyObject *cell = p->objs[i + 2];
    Py_ssize_t idx = -1;
    for (Py_ssize_t k = 0; idx < 0 && PyTuple_Check(closure) && k < PyTuple_GET_SIZE(closure); k++) {
        idx = PyTuple_GET_ITEM(closure, k) == cell ? k : -1;
    }
    if (idx < 0) {
        return NULL;
    }
    PyObject *name = rc_code_freevar_name(rel->aux, (size_t)idx);
    PyObject *contents = PyCell_Check(cell) && PyCell_GET(cell) ? PyCell_GET(cell) : cell;
    int whole = i + 3 < p->n && contents == p->objs[i + 3];
    text t = {0};
    puts_ascii(&t, whole ? "closure " : "closure cell ");
    if (name && PyUnicode_Check(name) && str_ready(name)) {
        put_str_repr(&t, name, PyUnicode_GET_LENGTH(name)); /* %r: not truncated */
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "'#%ld'", (long)idx);
        puts_ascii(&t, buf);
    }
    char *s = utf8_of(&t, 0);
    rc_free(t.cp);
    *err = s == NULL;
    *hops = whole ? 3 : 2;
    return s;
}

/* The label of the step that starts at objs[i], and its number of hops;
 * NULL with *err set on ENOMEM. */
static char *
path_step(const path *p, size_t i, size_t *hops, int *err)
{
    rc_relation rel;
    char *label = NULL;
    *hops = 1;
    *err = 0;
    if (rc_relate(p->ctx, p->objs[i], p->objs[i + 1], edge_at(p, i), &rel) != RC_OK) {
        *err = 1;
        return NULL;
    }
    int more = i + 2 < p->n;
    switch (rel.kind) {
    case RC_REL_NAMESPACE:
        label = more ? after_namespace(p, i + 1, (int)rel.number, NULL, err) : NULL;
        break;
    case RC_REL_GLOBALS:
        label = more ? after_namespace(p, i + 1, RC_NS_ITEM, "global ", err) : NULL;
        break;
    case RC_REL_LOCALS_DICT:
        label = more ? after_namespace(p, i + 1, RC_NS_ITEM, "local ", err) : NULL;
        break;
    case RC_REL_LRU_CACHE:
        /* The wrapper's own cache dict: key -> result (unbounded caches). */
        if (more) {
            PyObject *key = dict_key_of(p->objs[i + 1], p->objs[i + 2]);
            rc_relation kr = {0};
            if (key && set_key(p->ctx, &kr, key) != RC_OK) {
                *err = 1;
            } else if (key) {
                label = kr.text;
                kr.text = NULL;
            } else if (dict_has_key(p->objs[i + 1], p->objs[i + 2])) {
                label = ascii_dup("cache key");
                *err = label == NULL;
            }
            rc_relation_clear(&kr);
        }
        break;
    case RC_REL_LOCAL_DICTS:
        label = local_label(p, i, hops, err);
        rc_relation_clear(&rel);
        return label;
    case RC_REL_CLOSURE:
        label = more ? closure_label(p, i, &rel, hops, err) : NULL;
        break;
    case RC_REL_CELL_LOCAL:
        if (more && p->objs[i + 2] == rel.aux) {
            text t = {0};
            puts_ascii(&t, "local ");
            puts_utf8(&t, rel.repr);
            label = utf8_of(&t, 0);
            rc_free(t.cp);
            *err = label == NULL;
            *hops = label ? 2 : 1;
            rc_relation_clear(&rel);
            return label;
        }
        break;
    default:
        break;
    }
    if (label) {
        if (rel.kind != RC_REL_CLOSURE) {
            *hops = 2;
        }
    } else if (!*err) {
        label = rel.text;
        rel.text = NULL;
        *hops = 1;
    }
    rc_relation_clear(&rel);
    return label;
}

/* The pure-Python futures' labels, applied to a step that starts at one. */
static char *
py_future_step(const path *p, size_t i, char *label)
{
    const char *mapped = label && in_mro(Py_TYPE(p->objs[i]), p->ctx->py_future, 2)
                             ? py_future_label(label)
                             : NULL;
    if (!mapped) {
        return label;
    }
    char *s = ascii_dup(mapped);
    if (s) {
        rc_free(label);
    }
    return s ? s : label;
}

rc_status
rc_relate_path(const rc_relate_ctx *ctx, PyObject *const *objs, size_t n, const long *edges,
               size_t n_edges, size_t start, size_t limit, rc_label_step **steps, size_t *n_steps)
{
    path p = {ctx, objs, n, edges, n_edges};
    rc_label_step *out = NULL;
    size_t count = 0, cap = 0;
    *steps = NULL;
    *n_steps = 0;
    for (size_t i = start; i + 1 < n && (!limit || count < limit);) {
        size_t hops;
        int err;
        char *label = path_step(&p, i, &hops, &err);
        if (err) {
            goto nomem;
        }
        label = py_future_step(&p, i, label);
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            rc_label_step *grown = rc_reallocarray(out, cap, sizeof *grown);
            if (!grown) {
                rc_free(label);
                goto nomem;
            }
            out = grown;
        }
        i += hops;
        out[count].end = i;
        out[count++].label = label;
    }
    *steps = out;
    *n_steps = count;
    return RC_OK;
nomem:
    rc_label_steps_free(out, count);
    return RC_ENOMEM;
}

void
rc_label_steps_free(rc_label_step *steps, size_t n)
{
    for (size_t i = 0; steps && i < n; i++) {
        rc_free(steps[i].label);
    }
    rc_free(steps);
}
