/* Root descriptions in C, for dumps (src/dump.c).
 *
 * Live answers describe their roots in Python (_chains._describe_root).  A
 * dump runs no Python code from its capture to its file's end (no other
 * thread may change what it reads), and a fork dump's child none at all
 * (other threads' states are still there, the GIL's mutex may have been held
 * at fork time, and a signal or audit hook would run in the copy), so both
 * describe them here, with the same text, reading the same fields in place:
 *   - names come from type fields (ht_name, ht_qualname, tp_name) and from
 *     dicts scanned for exact str keys (PyDict_Next, which compares nothing:
 *     a dict lookup could call a colliding user key's __eq__);
 *   - a frame's code, line (PyFrame_GetLineNumber) and thread (relate's
 *     rc_thread_name, read in place);
 *   - a signal handler's name from a table the parent made before the fork.
 * Escaping follows _format.name: the same code points escaped, 200
 * characters at most.  Differences, both rare: a file name is made relative
 * to the working directory by prefix (os.path.relpath also normalises "/./"
 * and "//"), and an lru_cache with neither __wrapped__ nor __qualname__ reads
 * "cache (an lru_cache)" (Python reads the wrapped callable from its
 * traversal).  Allocations go through CPython's allocators (a str or an int
 * may be made) and rc_malloc; no object is freed that the heap holds. */
#include <Python.h>
#include <frameobject.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/paths.h"
#include "refchain/pycompat.h"
#include "refchain/relate.h"
#include "refchain/strutil.h"
#include "refchain/describe.h"

#if PY_VERSION_HEX < 0x03090000
#define Py_IS_TYPE(op, tp) (Py_TYPE(op) == (tp))
#endif

enum { NAME_MAX_CHARS = 200 };

/* Whether _format's table escapes code point c. */
static int
escaped(Py_UCS4 c)
{
    return c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0x061C || c == 0x200E || c == 0x200F ||
           (c >= 0x2028 && c < 0x202F) || (c >= 0x2066 && c < 0x206A) ||
           (c >= 0xD800 && c < 0xE000);
}

static void
add_char(rc_buf *t, Py_UCS4 c)
{
    char buf[16];
    size_t n = 0;
    if (c == '\n' || c == '\r' || c == '\t') {
        buf[0] = '\\';
        buf[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        n = 2;
    } else if (escaped(c)) {
        n = (size_t)snprintf(buf, sizeof buf, c < 0x100 ? "\\x%02x" : "\\u%04x", (unsigned)c);
    } else {
        n = rc_utf8_put(c, buf);
    }
    rc_buf_put(t, buf, n);
}

/* _format.name(s) for a str s. */
static void
add_name(rc_buf *t, PyObject *s)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) {
        PyErr_Clear();
        t->failed = 1;
        return;
    }
#endif
    Py_ssize_t len = PyUnicode_GET_LENGTH(s), cut = len > NAME_MAX_CHARS ? len - NAME_MAX_CHARS : 0;
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < len - cut; i++) {
        add_char(t, PyUnicode_READ(kind, data, i));
    }
    if (cut) {
        char buf[64];
        snprintf(buf, sizeof buf, "\xe2\x80\xa6(%zd more characters)", cut);
        rc_buf_puts(t, buf);
    }
}

/* _format.name() of UTF-8 bytes (bad bytes replaced, as decode does). */
static void
add_name_utf8(rc_buf *t, const char *s, size_t n)
{
    PyObject *u = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
    if (!u) {
        PyErr_Clear();
        t->failed = 1;
        return;
    }
    add_name(t, u);
    Py_DECREF(u);
}

/* d[key] for an exact-str key, found without comparing anything else
 * (borrowed), or NULL. */
static PyObject *
dict_get(PyObject *d, const char *key)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (d && PyDict_Check(d) && PyDict_Next(d, &pos, &k, &v)) {
        if (PyUnicode_CheckExact(k) && PyUnicode_CompareWithASCIIString(k, key) == 0) {
            return v;
        }
    }
    return NULL;
}

static int
is_heap(PyTypeObject *tp)
{
    return (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
}

/* _type_name / _type_qualname: the heap type's str, or tp_name's last part. */
static void
add_type_name(rc_buf *t, PyTypeObject *tp, int qualified)
{
    if (is_heap(tp)) {
        PyHeapTypeObject *h = (PyHeapTypeObject *)tp;
        PyObject *s = qualified ? h->ht_qualname : h->ht_name;
        if (s && PyUnicode_Check(s)) {
            add_name(t, s);
            return;
        }
    }
    const char *dot = strrchr(tp->tp_name, '.');
    const char *s = dot ? dot + 1 : tp->tp_name;
    add_name_utf8(t, s, strlen(s));
}

/* _class_name: module.qualname, or qualname for builtins or no str module. */
static void
add_class_name(rc_buf *t, PyTypeObject *tp)
{
    if (is_heap(tp)) {
        PyObject *module = dict_get(tp->tp_dict, "__module__");
        if (module && PyUnicode_CheckExact(module) &&
            PyUnicode_CompareWithASCIIString(module, "builtins") != 0) {
            add_name(t, module);
            rc_buf_puts(t, ".");
        }
    } else {
        const char *dot = strrchr(tp->tp_name, '.');
        if (dot && !(dot - tp->tp_name == 8 && strncmp(tp->tp_name, "builtins", 8) == 0)) {
            add_name_utf8(t, tp->tp_name, (size_t)(dot - tp->tp_name));
            rc_buf_puts(t, ".");
        }
    }
    add_type_name(t, tp, 1);
}

static void
describe_module(rc_buf *t, PyObject *m)
{
    PyObject *name = dict_get(PyModule_GetDict(m), "__name__");
    rc_buf_puts(t, "module ");
    if (name && PyUnicode_CheckExact(name)) {
        add_name(t, name);
    } else {
        rc_buf_puts(t, "<");
        add_type_name(t, Py_TYPE(m), 0);
        rc_buf_puts(t, ">");
    }
}

/* display_path: below the working directory, relative to it. */
static void
add_path(rc_buf *t, PyObject *filename, const char *cwd)
{
    Py_ssize_t n;
    const char *s = PyUnicode_Check(filename) ? PyUnicode_AsUTF8AndSize(filename, &n) : NULL;
    if (!s) {
        PyErr_Clear();
        rc_buf_puts(t, "?");
        return;
    }
    size_t c = cwd ? strlen(cwd) : 0;
    if (c && (size_t)n > c + 1 && strncmp(s, cwd, c) == 0 && s[c] == '/') {
        s += c + 1;
    }
    while (s[0] == '.' && s[1] == '/') {
        s += 2;
    }
    add_name_utf8(t, s, strlen(s));
}

static void
describe_frame(rc_buf *t, PyObject *frame, const rc_fork_env *env)
{
#if PY_VERSION_HEX >= 0x03090000
    PyCodeObject *code = PyFrame_GetCode((PyFrameObject *)frame);
#else
    PyCodeObject *code = ((PyFrameObject *)frame)->f_code;
    Py_XINCREF(code);
#endif
    char line[32];
    snprintf(line, sizeof line, ":%d", PyFrame_GetLineNumber((PyFrameObject *)frame));
    rc_buf_puts(t, "frame ");
    add_name(t, code->co_name);
    rc_buf_puts(t, "() at ");
    add_path(t, code->co_filename, env->cwd);
    rc_buf_puts(t, line);
    Py_DECREF(code);
    unsigned long ident;
    size_t threads;
    int hit = rc_frame_thread(frame, &ident, &threads);
    if (hit < 0) {
        PyErr_Clear();
    } else if (hit > 0) {
        rc_relate_ctx ctx;
        rc_relate_ctx_init(&ctx, RC_RELATE_LIVE);
        char *name = rc_thread_name(&ctx, ident, threads);
        if (!name) {
            t->failed = 1;
            return;
        }
        rc_buf_puts(t, " in thread ");
        add_name_utf8(t, name, strlen(name));
        rc_free(name);
    }
}

static void
describe_cache(rc_buf *t, PyObject *wrapper)
{
    PyTypeObject *tp = Py_TYPE(wrapper);
    PyObject *wdict = tp->tp_dictoffset > 0 ? *(PyObject **)((char *)wrapper + tp->tp_dictoffset)
                                            : NULL;
    PyObject *func = dict_get(wdict, "__wrapped__");
    PyObject *qualname = dict_get(wdict, "__qualname__");
    rc_buf_puts(t, "cache ");
    if (func && Py_IS_TYPE(func, &PyFunction_Type)) {
        PyObject *module = ((PyFunctionObject *)func)->func_module;
        if (module && PyUnicode_CheckExact(module)) {
            add_name(t, module);
            rc_buf_puts(t, ".");
        }
        add_name(t, ((PyFunctionObject *)func)->func_qualname);
    } else if (qualname && PyUnicode_CheckExact(qualname)) {
        add_name(t, qualname);
    } else if (func) {
        rc_buf_puts(t, "(an lru_cache of a ");
        add_class_name(t, Py_TYPE(func));
        rc_buf_puts(t, ")");
    } else {
        rc_buf_puts(t, "(an lru_cache)");
    }
}

static void
describe_c_held(rc_buf *t, PyObject *root, const rc_fork_env *env)
{
    int method = Py_IS_TYPE(root, &PyMethod_Type);
    PyObject *func = method ? PyMethod_GET_FUNCTION(root) : root;
    if (!Py_IS_TYPE(func, &PyFunction_Type)) {
        rc_buf_puts(t, "C code (held by a reference no Python object explains)");
        return;
    }
    PyObject *module = ((PyFunctionObject *)func)->func_module;
    rc_buf_puts(t, method ? "C code: a bound method " : "C code: a function ");
    if (!method && module && PyUnicode_Check(module)) {
        add_name(t, module);
        rc_buf_puts(t, ".");
    }
    add_name(t, ((PyFunctionObject *)func)->func_qualname);
    const char *signame = NULL;
    for (size_t i = 0; i < env->n_signals && !signame; i++) {
        signame = env->handlers[i] == root ? env->signal_names[i] : NULL;
    }
    if (signame) {
        rc_buf_puts(t, " (the handler of ");
        rc_buf_puts(t, signame);
        rc_buf_puts(t, ")");
    } else {
        rc_buf_puts(t, " (an atexit callback, or another registry kept in C)");
    }
}

char *
rc_fork_describe_root(int kind, const char *kind_name, PyObject *root, const rc_fork_env *env)
{
    rc_buf t = {0};
    if (kind == RC_ROOT_MODULE && PyModule_Check(root)) {
        describe_module(&t, root);
    } else if (kind == RC_ROOT_CLASS && PyType_Check(root)) {
        rc_buf_puts(&t, "class ");
        add_class_name(&t, (PyTypeObject *)root);
    } else if (kind == RC_ROOT_CACHE) {
        describe_cache(&t, root);
    } else if (kind == RC_ROOT_FRAME && Py_IS_TYPE(root, &PyFrame_Type)) {
        describe_frame(&t, root, env);
    } else if (kind == RC_ROOT_IMMORTAL && PyType_Check(root)) {
        rc_buf_puts(&t, "immortal type ");
        add_class_name(&t, (PyTypeObject *)root);
    } else if (kind == RC_ROOT_C) {
        describe_c_held(&t, root, env);
    } else {
        rc_buf_puts(&t, kind_name);
        rc_buf_puts(&t, " ");
        add_type_name(&t, Py_TYPE(root), 0);
    }
    if (t.failed) {
        rc_free(t.p);
        return NULL;
    }
    return t.p;
}
