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
#include "refchain/pool.h"
#include "refchain/pycompat.h"
#include "refchain/relate.h"
#include "refchain/strutil.h"

#define KEY_REPR_MAX 40

/* PyMemberDef types and flags (structmember.h before 3.12, Python.h after). */
#define RC_T_OBJECT 6
#define RC_T_OBJECT_EX 16
#define RC_RELATIVE_OFFSET 8

/* ---- text: code points in C memory ----------------------------------------- */

/* A text starts in its own `local` array (most labels are short: no
 * allocation per label) and moves to the heap when it outgrows it; free it
 * with text_free().  `text t = {0}` is an empty text. */
typedef struct text {
    uint32_t *cp;
    size_t n, cap;
    int failed;
    uint32_t local[48];
} text;

static void
put(text *t, uint32_t c)
{
    if (t->failed) {
        return;
    }
    if (t->n == t->cap) {
        if (!t->cp) {
            t->cp = t->local;
            t->cap = sizeof t->local / sizeof *t->local;
        } else {
            size_t cap = 2 * t->cap;
            int local = t->cp == t->local;
            uint32_t *p = rc_reallocarray(local ? NULL : t->cp, cap, sizeof *p);
            if (!p) {
                t->failed = 1;
                return;
            }
            if (local) {
                memcpy(p, t->local, t->n * sizeof *p);
            }
            t->cp = p;
            t->cap = cap;
        }
    }
    t->cp[t->n++] = c;
}

static void
text_free(text *t)
{
    if (t->cp != t->local) {
        rc_free(t->cp);
    }
    t->cp = NULL;
    t->n = t->cap = 0;
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

/* The UTF-8 size of code points [from, to) (a lone surrogate reads U+FFFD). */
static size_t
utf8_size(const text *t, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        uint32_t c = t->cp[i];
        n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    return n;
}

/* Code points [from, to) as UTF-8 at p; returns the end. */
static char *
utf8_put(const text *t, size_t from, size_t to, char *p)
{
    for (size_t i = from; i < to; i++) {
        uint32_t c = t->cp[i];
        if (c >= 0xD800 && c < 0xE000) {
            c = 0xFFFD; /* a lone surrogate has no UTF-8: _format.name escapes the rest */
        }
        p += rc_utf8_put(c, p);
    }
    return p;
}

/* Code points [from, n) as UTF-8 in rc_malloc'ed memory, or NULL. */
static char *
utf8_of(const text *t, size_t from)
{
    if (t->failed) {
        return NULL;
    }
    char *out = rc_malloc(utf8_size(t, from, t->n) + 1);
    if (out) {
        *utf8_put(t, from, t->n, out) = '\0';
    }
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
        char buf[RC_DECIMAL_MAX];
        rc_decimal(buf, v);
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

/* ---- one referrer, prepared ---------------------------------------------------- */

/* What rc_relate looks up in a referrer by scanning (a dict's key for a
 * value, a list's first index of an item, a member field holding an
 * object...), kept for the references of one referrer.  rc_relate makes
 * each lookup once, by scanning (batch 0); rc_relate_out names n
 * references, so each lookup it makes is answered from a table built on
 * first use, in one pass over the referrer (batch 1).  A table answers
 * exactly what the scan would: the first match in the scan's order.  No
 * Python code runs while a prep lives, so the tables stay true. */

/* Open addressing from an address to a value; the first value added for
 * an address stays (a scan's first match). */
typedef struct ptr_entry {
    uintptr_t key, val;
} ptr_entry;

typedef struct ptrmap {
    ptr_entry *slots; /* from the capture's pool: a large referrer's table is
                       * resident again for the next dump's */
    size_t bytes, mask;
    unsigned shift; /* 64 - log2(mask + 1): Fibonacci hashing keeps the top bits */
} ptrmap;

/* 0, or -1 on ENOMEM (m zeroed).  Room for n addresses at half load. */
static int
ptrmap_init(ptrmap *m, size_t n)
{
    size_t cap = 16;
    unsigned bits = 4;
    memset(m, 0, sizeof *m);
    while (cap / 2 < n + 1) {
        if (cap > SIZE_MAX / 4) {
            return -1;
        }
        cap *= 2;
        bits++;
    }
    m->slots = rc_pool_array(cap, sizeof *m->slots, &m->bytes);
    if (!m->slots) {
        return -1;
    }
    memset(m->slots, 0, cap * sizeof *m->slots);
    m->mask = cap - 1;
    m->shift = 64 - bits;
    return 0;
}

static size_t
ptr_slot(const ptrmap *m, uintptr_t k)
{
    uint64_t h = ((uint64_t)k >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> m->shift) & m->mask;
}

static void
ptrmap_add(ptrmap *m, const void *key, uintptr_t v)
{
    uintptr_t k = (uintptr_t)key;
    for (size_t i = ptr_slot(m, k); k; i = (i + 1) & m->mask) {
        if (m->slots[i].key == k) {
            return;
        }
        if (!m->slots[i].key) {
            m->slots[i].key = k;
            m->slots[i].val = v;
            return;
        }
    }
}

static int
ptrmap_get(const ptrmap *m, const void *key, uintptr_t *v)
{
    uintptr_t k = (uintptr_t)key;
    for (size_t i = m->slots && k ? ptr_slot(m, k) : 0; m->slots && k; i = (i + 1) & m->mask) {
        if (m->slots[i].key == k) {
            *v = m->slots[i].val;
            return 1;
        }
        if (!m->slots[i].key) {
            return 0;
        }
    }
    return 0;
}

static void
ptrmap_free(ptrmap *m)
{
    rc_pool_free(m->slots, m->bytes);
    memset(m, 0, sizeof *m);
}

/* A dict's values -> their first key, and its keys (batch only). */
typedef struct dmap {
    PyObject *d;
    int vals_built, keys_built;
    ptrmap vals, keys;
} dmap;

/* ---- the per-type memo ------------------------------------------------------ */

/* A member field: the PyMemberDef of an object reference at `offset`,
 * found under `name` in a class dict along the type's MRO. */
typedef struct member_field {
    Py_ssize_t offset;
    PyObject *name;
} member_field;

/* More member fields than this are matched through a ptrmap per parent
 * instead of a scan per child. */
#define MEMBERS_SCANNED 32

typedef struct type_memo {
    PyTypeObject *tp; /* NULL: an empty slot */
    unsigned char is_deque, is_lru, is_local, is_c_future, is_py_future;
    unsigned char is_hamt, is_array; /* by name: a HAMT node, a numpy array */
    signed char dd;      /* has_dict_descriptor, or -1 not known yet */
    unsigned char members; /* listed yet */
    size_t n_members;
    member_field *member;
} type_memo;

struct rc_relate_memo {
    type_memo *slot;
    size_t mask, used;
};

rc_relate_memo *
rc_relate_memo_new(void)
{
    rc_relate_memo *m = rc_calloc(1, sizeof *m);
    if (m && !(m->slot = rc_calloc(64, sizeof *m->slot))) {
        rc_free(m);
        return NULL;
    }
    if (m) {
        m->mask = 63;
    }
    return m;
}

void
rc_relate_memo_free(rc_relate_memo *m)
{
    for (size_t i = 0; m && i <= m->mask; i++) {
        rc_free(m->slot[i].member);
    }
    if (m) {
        rc_free(m->slot);
        rc_free(m);
    }
}

static size_t
memo_home(const rc_relate_memo *m, const PyTypeObject *tp)
{
    return (size_t)(((uintptr_t)tp * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & m->mask;
}

/* tp's entry, added (flags unknown) when new; NULL on ENOMEM. */
static type_memo *
memo_entry(rc_relate_memo *m, PyTypeObject *tp)
{
    size_t i = memo_home(m, tp);
    for (; m->slot[i].tp; i = (i + 1) & m->mask) {
        if (m->slot[i].tp == tp) {
            return &m->slot[i];
        }
    }
    if (2 * (m->used + 1) > m->mask + 1) {
        size_t cap = 2 * (m->mask + 1);
        type_memo *slot = rc_calloc(cap, sizeof *slot);
        if (!slot) {
            return NULL;
        }
        rc_relate_memo old = *m;
        m->slot = slot;
        m->mask = cap - 1;
        for (size_t j = 0; j <= old.mask; j++) {
            if (old.slot[j].tp) {
                size_t k = memo_home(m, old.slot[j].tp);
                while (m->slot[k].tp) {
                    k = (k + 1) & m->mask;
                }
                m->slot[k] = old.slot[j];
            }
        }
        rc_free(old.slot);
        return memo_entry(m, tp);
    }
    m->used++;
    m->slot[i].tp = tp;
    m->slot[i].dd = -1;
    return &m->slot[i];
}

typedef struct prep {
    int batch;
    PyObject *parent;
    /* parent's type's, when the context keeps a memo: a pointer into the
     * memo's table, valid while this prep lives (only prep_init adds to the
     * table, and one prep lives at a time). */
    type_memo *memo;
    /* The classes of the context parent is an instance of. */
    int is_deque, is_lru, is_local, is_c_future, is_py_future, is_hamt, is_array;
    dmap dm[2]; /* the parent dict and an instance's attribute dict */
    int seq_known;
    Py_ssize_t seq_offset; /* a list's or tuple's referents before its items */
    int seq_built;
    ptrmap seq_first; /* item -> its first index */
    int deque_built;
    ptrmap deque_first; /* item -> its first index */
    int set_built;
    ptrmap set_keys;
    type_memo fields;     /* its member fields, when the context keeps no memo */
    int mem_built;
    ptrmap mem_first; /* value -> the name (a str) of its first member field */
    int dd_known, dd; /* has_dict_descriptor */
    int inl_built;
    ptrmap inl_first; /* inline value -> its first name */
    int modname_known;
    PyObject *modname; /* a module's __name__ */
    int lru_known;
    lru_layout lru;
    int local_known;
    PyObject *local_dicts;
} prep;

static int has_base(PyTypeObject *tp, PyObject *cls);
static int in_mro(PyTypeObject *tp, PyObject *const *classes, size_t n);
static int has_dict_descriptor(PyTypeObject *tp);

/* What every instance of tp shares; dd: has_dict_descriptor(tp), or -1
 * for not known. */
static type_memo
learn_type(const rc_relate_ctx *ctx, PyTypeObject *tp, int dd)
{
    return (type_memo){tp,
                       (unsigned char)has_base(tp, ctx->deque),
                       (unsigned char)has_base(tp, ctx->lru_wrapper),
                       (unsigned char)has_base(tp, ctx->local),
                       (unsigned char)in_mro(tp, ctx->c_future, 2),
                       (unsigned char)in_mro(tp, ctx->py_future, 2),
                       (unsigned char)rc_hamt_node_type(tp),
                       (unsigned char)(rc_array_type(tp) != NULL),
                       (signed char)dd,
                       0,
                       0,
                       NULL};
}

static void
prep_init(prep *pp, const rc_relate_ctx *ctx, PyObject *parent, int batch)
{
    PyTypeObject *tp = Py_TYPE(parent);
    memset(pp, 0, sizeof *pp);
    pp->batch = batch;
    pp->parent = parent;
    type_memo *e = ctx->memo ? memo_entry(ctx->memo, tp) : NULL;
    if (e && e->dd < 0) {
        *e = learn_type(ctx, tp, has_dict_descriptor(tp)); /* the first of its type */
    }
    const type_memo known = e ? *e : learn_type(ctx, tp, -1);
    pp->memo = e;
    pp->is_deque = known.is_deque;
    pp->is_lru = known.is_lru;
    pp->is_local = known.is_local;
    pp->is_c_future = known.is_c_future;
    pp->is_py_future = known.is_py_future;
    pp->is_hamt = known.is_hamt;
    pp->is_array = known.is_array;
}

static void
prep_free(prep *pp)
{
    for (int i = 0; i < 2; i++) {
        ptrmap_free(&pp->dm[i].vals);
        ptrmap_free(&pp->dm[i].keys);
    }
    ptrmap_free(&pp->seq_first);
    ptrmap_free(&pp->deque_first);
    ptrmap_free(&pp->set_keys);
    ptrmap_free(&pp->mem_first);
    rc_free(pp->fields.member);
    ptrmap_free(&pp->inl_first);
    rc_free(pp->lru.refs.items);
    memset(pp, 0, sizeof *pp);
}

static dmap *
dmap_of(prep *pp, PyObject *d)
{
    for (int i = 0; i < 2; i++) {
        if (pp->dm[i].d == d) {
            return &pp->dm[i];
        }
        if (!pp->dm[i].d) {
            pp->dm[i].d = d;
            return &pp->dm[i];
        }
    }
    return NULL; /* a third dict: scanned */
}

/* The first key under which dict d holds child (dict_key_of), or NULL in
 * *key.  0, or -1 on ENOMEM. */
static int
lookup_dict_key(prep *pp, PyObject *d, PyObject *child, PyObject **key)
{
    dmap *m = pp->batch ? dmap_of(pp, d) : NULL;
    if (!m) {
        *key = dict_key_of(d, child);
        return 0;
    }
    if (!m->vals_built) {
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        if (ptrmap_init(&m->vals, (size_t)PyDict_GET_SIZE(d)) < 0) {
            return -1;
        }
        while (PyDict_Next(d, &pos, &k, &v)) {
            ptrmap_add(&m->vals, v, (uintptr_t)k);
        }
        m->vals_built = 1;
    }
    uintptr_t k = 0;
    *key = ptrmap_get(&m->vals, child, &k) ? (PyObject *)k : NULL;
    return 0;
}

/* Whether child is a key of dict d (dict_has_key): 1, 0, or -1 on ENOMEM. */
static int
lookup_dict_has_key(prep *pp, PyObject *d, PyObject *child)
{
    dmap *m = pp->batch ? dmap_of(pp, d) : NULL;
    if (!m) {
        return dict_has_key(d, child);
    }
    if (!m->keys_built) {
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        if (ptrmap_init(&m->keys, (size_t)PyDict_GET_SIZE(d)) < 0) {
            return -1;
        }
        while (PyDict_Next(d, &pos, &k, &v)) {
            ptrmap_add(&m->keys, k, 1);
        }
        m->keys_built = 1;
    }
    uintptr_t one;
    return ptrmap_get(&m->keys, child, &one);
}

/* The number of a list's or tuple's referents before its items. */
static Py_ssize_t
seq_offset(prep *pp, PyObject *parent, PyObject *child, Py_ssize_t n)
{
    if (!pp->seq_known) {
        Py_ssize_t first_at;
        pp->seq_offset = count_referents(parent, child, 0, &first_at) - n;
        pp->seq_known = 1;
    }
    return pp->seq_offset;
}

/* The first index of child in items[0..n), or -1 in *at.  0, or -1 on ENOMEM. */
static int
seq_first(prep *pp, PyObject *const *items, Py_ssize_t n, PyObject *child, Py_ssize_t *at)
{
    *at = -1;
    if (!pp->batch) {
        for (Py_ssize_t i = 0; *at < 0 && i < n; i++) {
            *at = items[i] == child ? i : -1;
        }
        return 0;
    }
    if (!pp->seq_built) {
        if (ptrmap_init(&pp->seq_first, (size_t)n) < 0) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            ptrmap_add(&pp->seq_first, items[i], (uintptr_t)i);
        }
        pp->seq_built = 1;
    }
    uintptr_t v;
    *at = ptrmap_get(&pp->seq_first, child, &v) ? (Py_ssize_t)v : -1;
    return 0;
}

/* A deque's first item index holding child, or -1 in *at (its referents
 * end with its items, in order).  0, or -1 on ENOMEM. */
static int
deque_first(prep *pp, PyObject *parent, PyObject *child, Py_ssize_t *at)
{
    if (!pp->batch) {
        Py_ssize_t first_at, total = count_referents(parent, child, 0, &first_at);
        Py_ssize_t offset = total - Py_SIZE(parent);
        count_referents(parent, child, offset, &first_at);
        *at = first_at >= 0 ? first_at - offset : -1;
        return 0;
    }
    if (!pp->deque_built) {
        referents r;
        if (read_referents(parent, &r) < 0) {
            return -1;
        }
        Py_ssize_t offset = (Py_ssize_t)r.n - Py_SIZE(parent);
        if (ptrmap_init(&pp->deque_first, r.n) < 0) {
            rc_free(r.items);
            return -1;
        }
        for (size_t j = offset > 0 ? (size_t)offset : 0; j < r.n; j++) {
            ptrmap_add(&pp->deque_first, r.items[j], (uintptr_t)((Py_ssize_t)j - offset));
        }
        rc_free(r.items);
        pp->deque_built = 1;
    }
    uintptr_t v;
    *at = ptrmap_get(&pp->deque_first, child, &v) ? (Py_ssize_t)v : -1;
    return 0;
}

/* Whether child is in the set's table: 1, 0, or -1 on ENOMEM. */
static int
set_has(prep *pp, PyObject *parent, PyObject *child)
{
    PySetObject *so = (PySetObject *)parent;
    if (!pp->batch) {
        for (Py_ssize_t i = 0; i <= so->mask; i++) {
            if (so->table[i].key == child) {
                return 1;
            }
        }
        return 0;
    }
    if (!pp->set_built) {
        if (ptrmap_init(&pp->set_keys, (size_t)so->fill) < 0) { /* active and dummy */
            return -1;
        }
        for (Py_ssize_t i = 0; i <= so->mask; i++) {
            ptrmap_add(&pp->set_keys, so->table[i].key, 1);
        }
        pp->set_built = 1;
    }
    uintptr_t one;
    return ptrmap_get(&pp->set_keys, child, &one);
}

/* A module's __name__ (borrowed) or NULL. */
static PyObject *
module_name(prep *pp, PyObject *md)
{
    if (!pp->modname_known) {
        pp->modname = dict_get_str(md, "__name__");
        pp->modname_known = 1;
    }
    return pp->modname;
}

/* The lru_cache wrapper's layout; 0, or -1 on ENOMEM. */
static int
lru_of(prep *pp, PyObject *wrapper, lru_layout **l)
{
    if (!pp->lru_known) {
        if (read_lru_layout(wrapper, &pp->lru) < 0) {
            return -1;
        }
        pp->lru_known = 1;
    }
    *l = &pp->lru;
    return 0;
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
    text_free(&t);
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
    text_free(&t);
    return out->text && out->repr ? RC_OK : RC_ENOMEM;
}

static void put_thread(const rc_relate_ctx *ctx, text *t, unsigned long ident, size_t n);

/* Whether key may be a threading.local's key for a thread: its localdummy
 * (3.13+) or a weak reference to it (rc_local_key_thread says whose). */
static int
is_local_key(PyObject *key)
{
#if PY_VERSION_HEX < 0x030D0000
    PyObject *dummy = PyWeakref_CheckRef(key) ? PyWeakref_GET_OBJECT(key) : NULL;
    key = dummy && dummy != Py_None ? dummy : NULL;
#endif
    const char *name = key ? Py_TYPE(key)->tp_name : "";
    const char *dot = strrchr(name, '.');
    return strcmp(dot ? dot + 1 : name, "_localdummy") == 0;
}

/* RC_REL_KEY for a dict's value under key: `[repr]`, with the attribute
 * form (`name` for an exact str, else `[repr]`) in out->attr. */
static rc_status
set_key(const rc_relate_ctx *ctx, rc_relation *out, PyObject *key)
{
    /* One allocation (one per edge of a big dict): `[repr]`, repr, attr. */
    text t = {0};
    put_key_repr(ctx, &t, key, 0);
    size_t r = t.n;
    int is_str = PyUnicode_CheckExact(key) && str_ready(key);
    if (is_str) {
        put_str(&t, key, PyUnicode_GET_LENGTH(key));
    }
    size_t rb = t.failed ? 0 : utf8_size(&t, 0, r);
    size_t ab = t.failed ? 0 : is_str ? utf8_size(&t, r, t.n) : rb + 2;
    char *block = t.failed ? NULL : rc_malloc(2 * rb + ab + 5);
    out->kind = RC_REL_KEY;
    if (block) {
        char *p = block;
        *p++ = '[';
        p = utf8_put(&t, 0, r, p);
        *p++ = ']';
        *p++ = '\0';
        out->repr = p;
        p = utf8_put(&t, 0, r, p);
        *p++ = '\0';
        out->attr = p;
        if (is_str) {
            p = utf8_put(&t, r, t.n, p);
        } else {
            memcpy(p, block, rb + 2);
            p += rb + 2;
        }
        *p = '\0';
        out->text = block;
        out->packed = 1;
        out->flags |= is_str ? RC_RELF_STR_KEY : 0;
    }
    unsigned long ident;
    size_t n;
    int thread_key = is_local_key(key) && rc_local_key_thread(key, &ident, &n);
    if (thread_key) {
        /* A threading.local's key: which thread, for the local's step. */
        t.n = 0;
        put_thread(ctx, &t, ident, n);
        out->thread = utf8_of(&t, 0);
    }
    text_free(&t);
    return out->text && out->repr && out->attr && (!thread_key || out->thread) ? RC_OK : RC_ENOMEM;
}

static rc_status
set_index(rc_relation *out, long i)
{
    char buf[RC_DECIMAL_MAX + 2] = "[";
    size_t n = 1 + rc_decimal(buf + 1, i);
    buf[n] = ']';
    buf[n + 1] = '\0';
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
relate_module(prep *pp, PyObject *parent, PyObject *child, rc_relation *out)
{
    PyObject *md = PyModule_GetDict(parent); /* borrowed, never NULL for a module */
    if (child == md) {
        return NAMED(set_namespace(out, RC_NS_ITEM));
    }
    /* Anything else a module refers to is in its C state (m_traverse):
     * before 3.10, atexit's registered callbacks. */
    PyObject *name = module_name(pp, md);
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
    if (!f->func_closure || child != f->func_closure) {
        return 0;
    }
    /* The names of the code's free variables, for the closure's step. */
    size_t n = 0;
    while (rc_code_freevar_name(f->func_code, n)) {
        n++;
    }
    if (set_text(out, RC_REL_CLOSURE, ".__closure__") != RC_OK ||
        (n && !(out->names = rc_calloc(n, sizeof *out->names)))) {
        return -1;
    }
    out->n_names = n;
    text t = {0};
    for (size_t k = 0; k < n; k++) {
        PyObject *name = rc_code_freevar_name(f->func_code, k);
        if (PyUnicode_Check(name) && str_ready(name)) {
            t.n = 0;
            put_str_repr(&t, name, PyUnicode_GET_LENGTH(name)); /* %r: not truncated */
            if (!(out->names[k] = utf8_of(&t, 0))) {
                text_free(&t);
                return -1;
            }
        }
    }
    text_free(&t);
    return 1;
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
relate_sequence(prep *pp, PyObject *parent, PyObject *child, long edge, rc_relation *out)
{
    int is_list = PyList_Check(parent);
    Py_ssize_t n = is_list ? PyList_GET_SIZE(parent) : PyTuple_GET_SIZE(parent);
    PyObject **items = is_list ? ((PyListObject *)parent)->ob_item : ((PyTupleObject *)parent)->ob_item;
    if (edge >= 0) {
        Py_ssize_t offset = seq_offset(pp, parent, child, n);
        if (edge - offset >= 0 && edge - offset < n && items[edge - offset] == child) {
            return NAMED(set_index(out, (long)(edge - offset)));
        }
    }
    Py_ssize_t at;
    if (seq_first(pp, items, n, child, &at) < 0) {
        return -1;
    }
    return at >= 0 ? NAMED(set_index(out, (long)at)) : 0;
}

static int
relate_container(const rc_relate_ctx *ctx, prep *pp, PyObject *parent, PyObject *child,
                 long edge, rc_relation *out)
{
    if (PyDict_Check(parent)) {
        PyObject *key;
        if (lookup_dict_key(pp, parent, child, &key) < 0) {
            return -1;
        }
        if (key) {
            return NAMED(set_key(ctx, out, key));
        }
        int has = lookup_dict_has_key(pp, parent, child);
        if (has > 0) {
            out->flags |= RC_RELF_DICT_KEY;
            return NAMED(set_text(out, RC_REL_TEXT, "key of dict"));
        }
        return has;
    }
    if (PyList_Check(parent) || PyTuple_Check(parent)) {
        return relate_sequence(pp, parent, child, edge, out);
    }
    if (pp->is_deque) {
        /* A deque's referents end with its items, in order (deque_traverse
         * walks its blocks left to right); its length is its ob_size. */
        Py_ssize_t at;
        if (deque_first(pp, parent, child, &at) < 0) {
            return -1;
        }
        return at >= 0 ? NAMED(set_index(out, (long)at)) : 0;
    }
    if (PyAnySet_Check(parent)) {
        int has = set_has(pp, parent, child);
        return has > 0 ? NAMED(set_text(out, RC_REL_TEXT, "member")) : has;
    }
    return 0;
}

/* The fields a few builtin types show through getters that only return the
 * field (_chains' _SAFE_GETSETS): name and value, in the order tried. */
static int
relate_getsets(const prep *pp, PyObject *parent, PyObject *child, rc_relation *out)
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
    } else if (pp->is_array) {
        f[n].name = ".base", f[n++].value = rc_array_base(parent); /* compared, not read */
    }
    for (int i = 0; i < n; i++) {
        if (f[i].value && f[i].value == child) {
            return NAMED(set_text(out, RC_REL_ATTR, f[i].name));
        }
    }
    return 0;
}

/* Whether class dict entry (k, v) is a member field of tp's instances: an
 * object reference at a fixed offset, of a class tp derives from. */
static int
is_member_field(PyTypeObject *tp, PyObject *k, PyObject *v)
{
    if (Py_TYPE(v) != &PyMemberDescr_Type || !PyUnicode_CheckExact(k)) {
        return 0;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)v)->d_member;
    return (m->type == RC_T_OBJECT || m->type == RC_T_OBJECT_EX) &&
           !(m->flags & RC_RELATIVE_OFFSET) && PyType_IsSubtype(tp, ((PyDescrObject *)v)->d_type);
}

/* List e's member fields in MRO order (the order that names a value held
 * in two of them).  0, or -1 on ENOMEM. */
static int
list_members(type_memo *e, PyTypeObject *tp)
{
    PyObject *mro = tp->tp_mro;
    Py_ssize_t n = mro && PyTuple_Check(mro) ? PyTuple_GET_SIZE(mro) : 0;
    size_t cap = 0;
    for (Py_ssize_t c = 0; c < (n ? n : 1); c++) {
        PyObject *cls = n ? PyTuple_GET_ITEM(mro, c) : (PyObject *)tp;
        PyObject *ns = PyType_Check(cls) ? class_dict((PyTypeObject *)cls) : NULL;
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (ns && PyDict_Next(ns, &pos, &k, &v)) {
            if (!is_member_field(tp, k, v)) {
                continue;
            }
            if (e->n_members == cap) {
                cap = cap ? 2 * cap : 8;
                member_field *m = rc_reallocarray(e->member, cap, sizeof *m);
                if (!m) {
                    rc_free(e->member); /* listed again from the start next time */
                    e->member = NULL;
                    e->n_members = 0;
                    return -1;
                }
                e->member = m;
            }
            e->member[e->n_members++] =
                (member_field){((PyMemberDescrObject *)v)->d_member->offset, k};
        }
    }
    e->members = 1;
    return 0;
}

/* The name (borrowed) of the first member field of parent's type (a
 * class's __slots__, a builtin type's fields) that holds child, or NULL,
 * in *name.  0, or -1 on ENOMEM. */
static int
member_of(prep *pp, PyObject *parent, PyObject *child, PyObject **name)
{
    type_memo *e = pp->memo ? pp->memo : &pp->fields;
    *name = NULL;
    if (!e->members && list_members(e, Py_TYPE(parent)) < 0) {
        return -1;
    }
    if (pp->batch && e->n_members > MEMBERS_SCANNED) {
        /* Many fields: each value's first, in a map made once per parent. */
        if (!pp->mem_built) {
            if (ptrmap_init(&pp->mem_first, e->n_members) < 0) {
                return -1;
            }
            for (size_t i = 0; i < e->n_members; i++) {
                ptrmap_add(&pp->mem_first, *(PyObject **)((char *)parent + e->member[i].offset),
                           (uintptr_t)e->member[i].name);
            }
            pp->mem_built = 1;
        }
        uintptr_t found;
        *name = ptrmap_get(&pp->mem_first, child, &found) ? (PyObject *)found : NULL;
        return 0;
    }
    for (size_t i = 0; i < e->n_members; i++) {
        PyObject *value = *(PyObject **)((char *)parent + e->member[i].offset);
        if (value && value == child) {
            *name = e->member[i].name;
            break;
        }
    }
    return 0;
}

static int
relate_members(prep *pp, PyObject *parent, PyObject *child, rc_relation *out)
{
    PyObject *k;
    if (member_of(pp, parent, child, &k) < 0) {
        return -1;
    }
    if (!k) {
        return 0;
    }
    if (PyDict_CheckExact(child) && str_ready(k) &&
        PyUnicode_CompareWithASCIIString(k, "__dict__") == 0) {
        return NAMED(set_namespace(out, RC_NS_ATTR));
    }
    return NAMED(set_named(out, RC_REL_ATTR, ".", k, ""));
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
relate_instance_attrs(const rc_relate_ctx *ctx, prep *pp, PyObject *parent, PyObject *child,
                      rc_relation *out)
{
    PyTypeObject *tp = Py_TYPE(parent);
    if (!pp->dd_known) {
        pp->dd = pp->memo ? pp->memo->dd : has_dict_descriptor(tp);
        pp->dd_known = 1;
    }
    if (!pp->dd) {
        return 0;
    }
    size_t n;
    PyObject *const *values = rc_inline_values(parent, &n);
    PyObject *name = NULL;
    if (pp->batch && !pp->inl_built) {
        if (ptrmap_init(&pp->inl_first, n) < 0) {
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            PyObject *vname = values[i] ? rc_inline_name(parent, i) : NULL;
            if (vname) {
                ptrmap_add(&pp->inl_first, values[i], (uintptr_t)vname);
            }
        }
        pp->inl_built = 1;
    }
    uintptr_t found;
    if (pp->batch) {
        name = ptrmap_get(&pp->inl_first, child, &found) ? (PyObject *)found : NULL;
    }
    for (size_t i = 0; !pp->batch && !name && i < n; i++) {
        name = values[i] == child ? rc_inline_name(parent, i) : NULL;
    }
    if (name) {
        return NAMED(set_named(out, RC_REL_ATTR, ".", name, ""));
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
        PyObject *key = NULL;
        if ((PyDict_CheckExact(child) || managed) && lookup_dict_key(pp, ns, child, &key) < 0) {
            return -1;
        }
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
            text_free(&t);
            return out->text ? 1 : -1;
        }
    }
    if (managed && !PyDict_CheckExact(child)) {
        return NAMED(set_text(out, RC_REL_TEXT, "<attribute>"));
    }
    return 0;
}

static int
relate_attributes(const rc_relate_ctx *ctx, prep *pp, PyObject *parent, PyObject *child,
                  rc_relation *out)
{
    int r = relate_members(pp, parent, child, out);
    if (!r) {
        r = relate_getsets(pp, parent, child, out);
    }
    if (!r && child == (PyObject *)Py_TYPE(parent)) {
        r = NAMED(set_text(out, RC_REL_ATTR, ".__class__"));
    }
    if (!r) {
        r = relate_instance_attrs(ctx, pp, parent, child, out);
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
    if (!label && is_task && (PyUnicode_CheckExact(child) || PyLong_CheckExact(child))) {
        /* No other field is a str or an int; from 3.12 a name not yet
         * asked for is its number, which get_name() makes "Task-N" of. */
        label = ".get_name()";
    }
    return label ? NAMED(set_text(out, RC_REL_TEXT, label)) : 0;
}

static int
relate_lru(const rc_relate_ctx *ctx, prep *pp, PyObject *wrapper, PyObject *child, long edge,
           rc_relation *out)
{
    PyObject *wdict = rc_object_dict(wrapper);
    if (wdict && child == wdict) {
        return NAMED(set_namespace(out, RC_NS_ATTR));
    }
    lru_layout *lp;
    if (lru_of(pp, wrapper, &lp) < 0) {
        return -1;
    }
    const lru_layout l = *lp;
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
    text_free(&t);
    return s;
}

/* A memoryview's managed buffer (its field in the public, non-limited
 * layout every version from 3.8 has, cpython/memoryobject.h), and the
 * buffer's exporter: the object memoryview.obj returns. */
static int
relate_buffer(PyObject *parent, PyObject *child, rc_relation *out)
{
    if (PyMemoryView_Check(parent)) {
        PyObject *mbuf = (PyObject *)((PyMemoryViewObject *)parent)->mbuf;
        return mbuf && mbuf == child ? NAMED(set_text(out, RC_REL_TEXT, "managed buffer")) : 0;
    }
    PyObject *obj = rc_managed_buffer_obj(parent);
    return obj && obj == child ? NAMED(set_text(out, RC_REL_ATTR, ".obj")) : 0;
}

/* A contextvars.Context visits the Context it was entered from, then its
 * variables' mapping (a HAMT): what is no Context is the mapping. */
static int
relate_context(const rc_relate_ctx *ctx, PyObject *child, rc_relation *out)
{
    return Py_TYPE(child) != (PyTypeObject *)ctx->context
               ? NAMED(set_text(out, RC_REL_TEXT, "variables"))
               : 0;
}

/* A ContextVar's name (borrowed), read through the type's own `name`
 * member (PyContextVar's layout is internal), or NULL. */
static PyObject *
context_var_name(PyObject *var)
{
    for (PyMemberDef *m = Py_TYPE(var)->tp_members; m && m->name; m++) {
        if (strcmp(m->name, "name") == 0 && (m->type == RC_T_OBJECT || m->type == RC_T_OBJECT_EX) &&
            !(m->flags & RC_RELATIVE_OFFSET)) {
            PyObject *name = *(PyObject **)(void *)((char *)var + m->offset);
            return name && PyUnicode_CheckExact(name) && str_ready(name) ? name : NULL;
        }
    }
    return NULL;
}

/* A value of a Context's variables, in a HAMT node: named by its variable,
 * `[ContextVar 'name']`.  A bitmap or collision node holds key, value
 * pairs, a child node taking a pair's place with an empty key, and visits
 * them backwards (3.8-3.13): read from the last referent, each entry is
 * its key then its value, or a child node alone.  In a Context's HAMT every
 * key is a ContextVar, and no node is one.  A node holds at most a few
 * dozen referents. */
static int
relate_hamt_value(PyObject *node, PyObject *child, long edge, rc_relation *out)
{
    referents r;
    if (read_referents(node, &r) < 0) {
        return -1;
    }
    PyObject *key = NULL;
    for (size_t i = r.n; i > 0 && !key;) { /* items[i - 1] is the next entry's start */
        if (PyContextVar_CheckExact(r.items[i - 1]) && i >= 2) {
            if (r.items[i - 2] == child && (edge < 0 || (size_t)edge == i - 2)) {
                key = r.items[i - 1];
            }
            i -= 2;
        } else {
            i -= 1;
        }
    }
    rc_free(r.items);
    PyObject *name = key ? context_var_name(key) : NULL;
    if (!name) {
        return 0;
    }
    text t = {0};
    puts_ascii(&t, "[ContextVar ");
    put_str_repr(&t, name, PyUnicode_GET_LENGTH(name));
    put(&t, ']');
    out->kind = RC_REL_TEXT;
    out->text = utf8_of(&t, 0);
    text_free(&t);
    return out->text ? 1 : -1;
}

/* A queue.SimpleQueue's items.  From 3.13 it keeps them in a ring buffer
 * and visits them in queue order, then its type: the edge hint gives the
 * place (counting the referents to check it would make naming a queue's n
 * items O(n^2)).  Before, it visits only a list of them (which names
 * them). */
static int
relate_simple_queue(PyObject *parent, PyObject *child, long edge, rc_relation *out)
{
#if PY_VERSION_HEX >= 0x030D0000
    if (edge >= 0 && child != (PyObject *)Py_TYPE(parent)) {
        return NAMED(set_index(out, edge));
    }
    return 0;
#else
    (void)parent, (void)edge;
    return PyList_CheckExact(child) ? NAMED(set_text(out, RC_REL_TEXT, "items")) : 0;
#endif
}

/* A list's or tuple's item at its edge index: the common case, named
 * before anything is prepared (a list's referents are its items, in
 * order).  1 when it named it (or RC_ENOMEM in *st), else 0. */
static int
relate_item(PyObject *parent, PyObject *child, long edge, rc_relation *out, rc_status *st)
{
    PyTypeObject *tp = Py_TYPE(parent);
    if ((tp == &PyList_Type || tp == &PyTuple_Type) && edge >= 0 &&
        edge < (long)Py_SIZE(parent) &&
        (tp == &PyList_Type ? PyList_GET_ITEM(parent, edge) : PyTuple_GET_ITEM(parent, edge)) ==
            child) {
        *st = set_index(out, edge);
        if (*st != RC_OK) {
            rc_relation_clear(out);
        }
        return 1;
    }
    return 0;
}

/* rc_relate past relate_item, with pp prepared for parent. */
static rc_status
relate_one(const rc_relate_ctx *ctx, prep *pp, PyObject *parent, PyObject *child, long edge,
           rc_relation *out)
{
    PyTypeObject *tp = Py_TYPE(parent);
    int r = 0;

    if (PyModule_Check(parent)) {
        r = relate_module(pp, parent, child, out);
    } else if (PyType_Check(parent)) {
        PyObject *d = class_dict((PyTypeObject *)parent);
        r = d && child == d ? NAMED(set_namespace(out, RC_NS_ATTR))
            : child == rc_type_subclasses(parent)
                ? NAMED(set_text(out, RC_REL_TEXT, "__subclasses__()"))
                : 0;
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
    } else if (tp == &PyMemoryView_Type || rc_managed_buffer_obj(parent)) {
        r = relate_buffer(parent, child, out);
    } else if (ctx->context && tp == (PyTypeObject *)ctx->context) {
        r = relate_context(ctx, child, out);
    } else if (ctx->simple_queue && tp == (PyTypeObject *)ctx->simple_queue) {
        r = relate_simple_queue(parent, child, edge, out);
    } else if (pp->is_hamt) {
        r = relate_hamt_value(parent, child, edge, out);
    }
    if (!r && pp->is_local) {
        int err = 0;
        if (!pp->local_known) {
            pp->local_dicts = local_dicts(parent, &err);
            pp->local_known = !err;
        }
        PyObject *dicts = pp->local_dicts;
        r = err ? -1 : dicts && dicts == child ? NAMED(set_text(out, RC_REL_LOCAL_DICTS, "per-thread dicts")) : 0;
    }
    if (!r && pp->is_lru) {
        r = relate_lru(ctx, pp, parent, child, edge, out);
    }
    if (!r && pp->is_c_future) {
        r = relate_c_future(ctx, parent, child, out);
    }
    if (!r && (PyDict_Check(parent) || PyList_Check(parent) || PyTuple_Check(parent) ||
               PyAnySet_Check(parent) || pp->is_deque)) {
        r = relate_container(ctx, pp, parent, child, edge, out);
    }
    if (!r) {
        r = relate_attributes(ctx, pp, parent, child, out);
    }
    if (r == 1 && out->kind == RC_REL_LOCALS_DICT) {
        /* What follows names it; alone, it reads as any field would. */
        rc_relation alone;
        memset(&alone, 0, sizeof alone);
        r = relate_attributes(ctx, pp, parent, child, &alone) < 0 ? -1 : 1;
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
    if (pp->is_py_future) {
        out->flags |= RC_RELF_PY_FUTURE; /* its fields read as the C futures' */
    }
    return RC_OK;
}

rc_status
rc_relate(const rc_relate_ctx *ctx, PyObject *parent, PyObject *child, long edge,
          rc_relation *out)
{
    rc_status st;
    memset(out, 0, sizeof *out);
    if (relate_item(parent, child, edge, out, &st)) {
        return st;
    }
    prep pp;
    prep_init(&pp, ctx, parent, 0);
    st = relate_one(ctx, &pp, parent, child, edge, out);
    prep_free(&pp);
    return st;
}

rc_status
rc_relate_out(const rc_relate_ctx *ctx, PyObject *parent, PyObject *const *children, size_t n,
              rc_relation *out)
{
    rc_status st = RC_OK;
    prep pp;
    int prepared = 0; /* a list's or tuple's items need no tables */
    size_t k = 0;
    for (; k < n && st == RC_OK; k++) {
        memset(&out[k], 0, sizeof out[k]);
        if (!relate_item(parent, children[k], (long)k, &out[k], &st)) {
            if (!prepared) {
                prep_init(&pp, ctx, parent, 1);
                prepared = 1;
            }
            st = relate_one(ctx, &pp, parent, children[k], (long)k, &out[k]);
        }
    }
    if (prepared) {
        prep_free(&pp);
    }
    if (st != RC_OK) {
        for (size_t j = 0; j < n; j++) {
            if (j < k) {
                rc_relation_clear(&out[j]);
            } else {
                memset(&out[j], 0, sizeof out[j]);
            }
        }
    }
    return st;
}

static int
hop_positional(void *hops, rc_id parent, rc_id child, uint32_t edge)
{
    const rc_relate_hops *h = hops;
    rc_relation rel;
    if (rc_relate(&h->ctx, (PyObject *)rc_graph_addr(h->g, parent),
                  (PyObject *)rc_graph_addr(h->g, child), (long)edge, &rel) != RC_OK) {
        return -1;
    }
    int positional = rc_relation_positional(&rel);
    rc_relation_clear(&rel);
    return positional;
}

rc_hop_names
rc_relate_hops_open(rc_relate_hops *h, const rc_graph *g)
{
    h->g = g;
    rc_relate_ctx_init(&h->ctx, RC_RELATE_CAPTURE);
    h->ctx.memo = rc_relate_memo_new();
    return (rc_hop_names){hop_positional, h};
}

void
rc_relate_hops_close(rc_relate_hops *h)
{
    rc_relate_memo_free(h->ctx.memo);
    h->ctx.memo = NULL;
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
    ctx->simple_queue = module_class(modules, "_queue", "SimpleQueue");
}

/* ---- paths ------------------------------------------------------------------- */

rc_status
rc_relate_path(const rc_relate_ctx *ctx, PyObject *const *objs, size_t n, const long *edges,
               size_t n_edges, size_t start, size_t limit, rc_label_step **steps, size_t *n_steps)
{
    /* A step reads at most 3 references: `limit` steps read fewer than 3 * limit. */
    size_t n_rels = start + 1 < n ? n - 1 - start : 0;
    if (limit && n_rels / 3 >= limit) {
        n_rels = 3 * limit;
    }
    *steps = NULL;
    *n_steps = 0;
    rc_relation *rels = rc_calloc(n_rels ? n_rels : 1, sizeof *rels);
    if (!rels) {
        return RC_ENOMEM;
    }
    rc_status st = RC_OK;
    for (size_t j = 0; j < n_rels && st == RC_OK; j++) {
        size_t i = start + j;
        st = rc_relate(ctx, objs[i], objs[i + 1], i < n_edges ? edges[i] : -1, &rels[j]);
    }
    if (st == RC_OK) {
        st = rc_present(rels, n_rels, limit, steps, n_steps);
    }
    for (size_t j = 0; j < *n_steps; j++) {
        (*steps)[j].end += start;
    }
    for (size_t j = 0; j < n_rels; j++) {
        rc_relation_clear(&rels[j]);
    }
    rc_free(rels);
    return st;
}
