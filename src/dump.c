/* refchain.dump()'s C side: _dump() and _fork_dump().
 *
 * _dump() is the whole in-process dump in one call: the capture (both edge
 * directions, sizes), the roots classified and described (walker/describe.c,
 * the text the package gives), tracemalloc's allocation tracebacks
 * (rc_capture_sites), then rc_dump_live (walker/dumplive.c: labels by
 * relate, values) into the file.  No Python code runs from the capture to
 * the file's end, and the collector is held off: nothing is freed, no other
 * thread runs, and every label names the reference as it was captured (a
 * global another thread rebinds meanwhile keeps its name).  So the objects
 * are borrowed, not held.  _fork_dump() writes the same file from a forked
 * child.  The file layer is walker/dump.c; src/snapshot.c reads files back. */
#include "rcmodule.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include "refchain/alloc.h"
#include "refchain/filler.h"
#include "refchain/idmap.h"
#include "refchain/pool.h"
#include "refchain/dumplive.h"
#include "refchain/snapshot.h"
#include "refchain/describe.h"

/* ---- errors ----------------------------------------------------------------- */

/* See rcmodule.h. */
PyObject *
rc_snap_raise(rc_snap_status st, const char *msg)
{
    PyObject *exc = st == RC_SNAP_ENOMEM ? PyExc_MemoryError
                    : st == RC_SNAP_EIO  ? PyExc_OSError
                                         : PyExc_ValueError;
    /* The message names a file, whose name need not be UTF-8, and may
     * have been cut mid-character. */
    const char *text = msg[0] ? msg : rc_snap_status_str(st);
    PyObject *s = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "backslashreplace");
    if (s) {
        PyErr_SetObject(exc, s);
        Py_DECREF(s);
    }
    return NULL;
}

/* See rcmodule.h. */
PyObject *
rc_snap_raise_write(rc_snap_status st, const char *msg, int err, PyObject *filename)
{
    if (st != RC_SNAP_EIO || err == 0) {
        return rc_snap_raise(st, msg);
    }
    const char *text = msg[0] ? msg : rc_snap_status_str(st);
    PyObject *s = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "backslashreplace");
    /* OSError(errno, ...) is the errno's subclass. */
    PyObject *exc = s ? PyObject_CallFunction(PyExc_OSError, "iOO", err, s, filename) : NULL;
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    Py_XDECREF(s);
    return NULL;
}

/* ---- _dump() ------------------------------------------------------------------ */

typedef struct dump_obj {
    rc_tool base;      /* base.held: node v's object, borrowed */
    size_t held_bytes; /* base.held's block, from the pool */
    analysis a;        /* the graph, sizes and root kinds */
} dump_obj;

/* ids[v] for every node: the same object keeps its id across the dumps of
 * this process (refchain/idmap.h; the map is the module's).  From the
 * capture's pool (*bytes: its block's size).  Raises on failure. */
static uint32_t *
dump_ids(const dump_obj *self, size_t *bytes)
{
    rc_state *st = rc_module_state(self->base.module);
    uint32_t *ids = rc_pool_array(rc_graph_node_count(self->a.g), sizeof *ids, bytes);
    if (!ids || (!st->idmap && !(st->idmap = rc_idmap_new()))) {
        rc_pool_free(ids, *bytes);
        PyErr_NoMemory();
        return NULL;
    }
    rc_status rs = rc_idmap_assign(st->idmap, self->a.g, ids);
    if (rs != RC_OK) {
        rc_pool_free(ids, *bytes);
        rc_raise(rs);
        return NULL;
    }
    return ids;
}

/* ---- _fork_dump(): the same file, written by a forked child ---------------------
 *
 * The parent (GIL held, no thread switch possible) prepares in C what the
 * child needs: the path, the facts as C strings, the signal handlers' names,
 * rc_capture_tracked_list()'s answer (None: the child enumerates in C; a
 * list of tracked objects only where the collector's lists do not check out
 * before 3.12, since gc.get_objects' audit hooks may be Python code: they
 * run here, in the parent), and when tracemalloc traces, the allocators
 * beneath its hooks.  Then fork(), without
 * PyOS_AfterFork_Child: the child keeps every thread's state and frames, so
 * the snapshot shows every thread's stack as it was.
 *
 * The child runs no Python code: the GIL's mutex, a logging lock, an import
 * lock may have been held by another thread at the fork, and those threads
 * do not exist in the child.  What it calls is C: the capture (never
 * gc.get_objects: no audit hook), root classification, the descriptions of
 * walker/describe.c, relate, and the file writer (malloc and zstd: glibc's
 * malloc is made consistent across fork by its atfork handlers).  It holds
 * no object (nothing can be freed, since nothing runs,
 * and increfs would copy every shared page), reads no tracemalloc
 * traceback, and puts tracemalloc's
 * hooks aside (their table lock may have been held by a thread freeing raw
 * memory without the GIL).  It leaves with _exit(): no atexit handler, no
 * flush of stdio buffers it shares with the parent.  Its only message is
 * written to a pipe: nothing on success, the error text on failure. */

typedef struct fork_plan {
    const char *path;
    rc_snap_fact *facts;
    size_t n_facts;
    int values, redact;
    PyObject *tracked; /* None, or a list (one reference, the child's to steal) */
    rc_fork_env env;
    int untrace;       /* tracemalloc traces: install `beneath` in the child */
    PyMemAllocatorEx beneath[3];
} fork_plan;

static const PyMemAllocatorDomain fork_domains[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                     PYMEM_DOMAIN_OBJ};

/* The allocators tracemalloc's hooks wrap: each hook's ctx is the saved
 * PyMemAllocatorEx, in tracemalloc's `allocators` struct {mem, raw, obj}
 * (3.8-3.13).  Trusted only when every hook lies in CPython's own image and
 * the three contexts are laid out so; another hook on top (a profiler's, or
 * debug hooks set up after tracemalloc started) is refused: its ctx means
 * something else. */
static int
fork_beneath(fork_plan *p)
{
    Dl_info self, hook;
    const PyMemAllocatorEx *ctx[3];
    if (!dladdr((void *)(uintptr_t)PyMem_Malloc, &self)) {
        goto refuse;
    }
    for (int d = 0; d < 3; d++) {
        PyMemAllocatorEx a;
        PyMem_GetAllocator(fork_domains[d], &a);
        if (!a.ctx || !dladdr((void *)(uintptr_t)a.malloc, &hook) ||
            hook.dli_fbase != self.dli_fbase) {
            goto refuse;
        }
        ctx[d] = a.ctx;
    }
    /* fork_domains: raw, mem, obj; the struct: mem, raw, obj. */
    if (ctx[0] != ctx[1] + 1 || ctx[2] != ctx[0] + 1) {
        goto refuse;
    }
    for (int d = 0; d < 3; d++) {
        p->beneath[d] = *ctx[d];
    }
    p->untrace = 1;
    return 0;
refuse:
    PyErr_SetString(PyExc_RuntimeError,
                    "dump(fork=True): tracemalloc traces beneath another allocator hook, and the "
                    "child could not set its lock aside; dump without fork, or stop the hook");
    return -1;
}

/* The child's error text: the pending exception's type and message. */
static void
fork_error_text(char *msg, size_t cap, const char *what)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *arg = value && PyExceptionInstance_Check(value) &&
                            PyTuple_Check(((PyBaseExceptionObject *)value)->args) &&
                            PyTuple_GET_SIZE(((PyBaseExceptionObject *)value)->args) > 0
                        ? PyTuple_GET_ITEM(((PyBaseExceptionObject *)value)->args, 0)
                        : NULL;
    const char *text = arg && PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    snprintf(msg, cap, "%s: %s%s%s", what,
             type ? ((PyTypeObject *)type)->tp_name : "error", text ? ": " : "",
             text ? text : "");
}

/* Free what describe_roots() put in t. */
static void
roots_free(rc_snap_tables *t)
{
    for (size_t i = 0; t->roots && i < t->n_roots; i++) {
        rc_free((void *)(uintptr_t)t->roots[i].text);
    }
    rc_free((void *)(uintptr_t)t->roots);
    t->roots = NULL;
    t->n_roots = 0;
}

/* The roots and their descriptions (walker/describe.c: no Python code) into
 * t, rc_malloc'ed (roots_free).  -1 when out of memory, with t's roots
 * freed. */
static int
describe_roots(const dump_obj *self, const rc_fork_env *env, rc_snap_tables *t)
{
    rc_id *ids;
    size_t k;
    if (rc_roots_list(self->a.kinds, rc_graph_node_count(self->a.g), &ids, &k) != RC_OK) {
        return -1;
    }
    rc_snap_root *roots = rc_malloc((k ? k : 1) * sizeof *roots);
    t->roots = roots;
    for (size_t i = 0; roots && i < k; i++) {
        uint8_t kind = self->a.kinds[ids[i]];
        char *text = rc_fork_describe_root(kind, rc_root_kind_name(kind),
                                           self->base.held[ids[i]], env);
        if (!text) {
            break;
        }
        roots[i] = (rc_snap_root){ids[i], kind, text};
        t->n_roots = i + 1;
    }
    rc_free(ids);
    if (!roots || t->n_roots < k) {
        roots_free(t);
        return -1;
    }
    return 0;
}

/* Everything the child does; 0, or -1 with msg set.  Runs no Python code. */
static int
fork_child(PyObject *module, fork_plan *p, char *msg, size_t cap)
{
    if (p->untrace) {
        for (int d = 0; d < 3; d++) {
            PyMem_SetAllocator(fork_domains[d], &p->beneath[d]);
        }
    }
    /* Single-threaded, like the writer below: no helper thread is started
     * in a child forked from a process that may hold others' locks. */
    rc_filler_set_min_nodes(SIZE_MAX);
    dump_obj self = {.base = {.module = module}};
    self.a.g = rc_module_capture_tracked(module, p->tracked);
    rc_status st = self.a.g ? rc_roots_classify(self.a.g, &self.a.kinds) : RC_OK;
    if (!self.a.g || st != RC_OK) {
        if (st != RC_OK) {
            rc_raise(st);
        }
        fork_error_text(msg, cap, "the fork dump's capture failed");
        return -1;
    }
    size_t ids_bytes; /* the child exits: nothing is given back */
    self.base.held = rc_capture_borrow(self.a.g, &self.held_bytes);
    self.base.n_held = (Py_ssize_t)rc_graph_node_count(self.a.g);
    rc_live_dump d = {.g = self.a.g, .held = self.base.held, .values = p->values && !p->redact,
                      .redact = p->redact};
    rc_snap_tables t = {.facts = p->facts, .n_facts = p->n_facts};
    if (!self.base.held || describe_roots(&self, &p->env, &t) < 0 ||
        !(d.ids = dump_ids(&self, &ids_bytes))) {
        snprintf(msg, cap, "the fork dump's child ran out of memory");
        return -1;
    }
    rc_snap_status ss = rc_dump_live(p->path, &d, &t, msg, cap);
    if (ss != RC_SNAP_OK && !msg[0]) {
        snprintf(msg, cap, "%s", rc_snap_status_str(ss));
    }
    return ss == RC_SNAP_OK ? 0 : -1;
}

/* fork, then the child's work and _exit; the parent gets (pid, read end of
 * the message pipe).  The parent's reference to p->tracked stays its own. */
static PyObject *
fork_run(PyObject *module, fork_plan *p)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) { /* no exec()ed program inherits it */
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pid_t pid = fork();
    if (pid == 0) {
        char msg[1024] = "";
        close(fds[0]);
        int rc = fork_child(module, p, msg, sizeof msg);
        if (rc < 0) {
            ssize_t w = write(fds[1], msg, strlen(msg));
            (void)w;
        }
        _exit(rc < 0 ? 1 : 0);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("(ii)", (int)pid, fds[0]);
}

/* The pieces of a str whose parts are separated by NUL ("" has none), as C
 * strings borrowed from its UTF-8 (cached in the str, which the caller
 * holds): *out rc_malloc'ed.  The arguments are single strs and bytes, not
 * lists: a list, a tuple, a str it holds would be objects of the heap the
 * dump captures, reachable from the call (a census taken just before would
 * differ). */
static int
split_text(PyObject *blob, const char *what, const char ***out, size_t *n)
{
    Py_ssize_t len;
    const char *u = PyUnicode_Check(blob) ? PyUnicode_AsUTF8AndSize(blob, &len) : NULL;
    if (!u) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "%s must be str", what);
        }
        return -1;
    }
    size_t k = len ? 1 : 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        k += u[i] == '\0';
    }
    const char **v = rc_malloc((k ? k : 1) * sizeof *v);
    if (!v) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0, at = 0; i < k; i++) {
        v[i] = u + at;
        at += strlen(u + at) + 1;
    }
    *out = v;
    *n = k;
    return 0;
}

/* facts: "key\0value\0key\0value..." into p->facts. */
static int
dump_facts(PyObject *facts, fork_plan *p)
{
    const char **v;
    size_t k;
    if (split_text(facts, "the facts", &v, &k) < 0) {
        return -1;
    }
    if (k % 2) {
        rc_free(v);
        PyErr_SetString(PyExc_ValueError, "the facts must come in (key, value) pairs");
        return -1;
    }
    p->facts = rc_malloc((k ? k / 2 : 1) * sizeof *p->facts);
    for (size_t i = 0; p->facts && i < k / 2; i++) {
        p->facts[i] = (rc_snap_fact){v[2 * i], v[2 * i + 1]};
    }
    rc_free(v);
    p->n_facts = p->facts ? k / 2 : 0;
    if (!p->facts) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* handlers: bytes, the handlers' addresses (compared, never read); names:
 * their signals' names, NUL-separated. */
static int
dump_signals(PyObject *handlers, PyObject *names, fork_plan *p)
{
    size_t n;
    const char **v;
    if (split_text(names, "the signal names", &v, &n) < 0) {
        return -1;
    }
    p->env.signal_names = v;
    if (!PyBytes_Check(handlers) ||
        (size_t)PyBytes_GET_SIZE(handlers) != n * sizeof(PyObject *)) {
        PyErr_SetString(PyExc_ValueError, "one handler address per signal name");
        return -1;
    }
    p->env.handlers = (PyObject *const *)(void *)PyBytes_AS_STRING(handlers);
    p->env.n_signals = n;
    return 0;
}

/* The arguments _dump() and _fork_dump() share: (path, facts, values, redact,
 * tracing, handlers, signal_names, cwd) into p, *path (a bytes, to release)
 * and *tracing.  -1 with an exception set. */
static int
dump_args(const char *func, PyObject *const *args, Py_ssize_t nargs, fork_plan *p,
          PyObject **path, int *tracing)
{
    if (nargs != 8 || !PyUnicode_Check(args[7])) {
        PyErr_Format(PyExc_TypeError, "%s(path, facts, values, redact, tracing, handlers, "
                                      "signal_names, cwd)", func);
        return -1;
    }
    p->values = PyObject_IsTrue(args[2]);
    p->redact = PyObject_IsTrue(args[3]);
    *tracing = PyObject_IsTrue(args[4]);
    if (p->values < 0 || p->redact < 0 || *tracing < 0 ||
        !PyUnicode_FSConverter(args[0], path) || dump_facts(args[1], p) < 0 ||
        dump_signals(args[5], args[6], p) < 0 || !(p->env.cwd = PyUnicode_AsUTF8(args[7]))) {
        return -1;
    }
    p->path = PyBytes_AS_STRING(*path);
    return 0;
}

/* _fork_dump(path, facts, values, redact, tracing, handlers, signal_names,
 * cwd) -> (pid, fd, tracked): the child writes path; fd is the read end of
 * its message pipe; tracked is what the parent keeps until the child has
 * exited (a tracked list, else None: dropping a list meanwhile would
 * write every refcount, copying the shared pages). */
static PyObject *
rc_fork_dump_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    fork_plan p = {0};
    PyObject *path = NULL, *run = NULL, *result = NULL;
    int tracing;
    if (dump_args("_fork_dump", args, nargs, &p, &path, &tracing) < 0 ||
        (tracing && fork_beneath(&p) < 0) ||
        !(p.tracked = rc_capture_tracked_list(rc_module_state(module)->gc))) {
        goto finally;
    }
    /* From here to the fork no Python code runs. */
    if ((run = fork_run(module, &p)) != NULL) {
        result = Py_BuildValue("(OO)", run, p.tracked);
    }
finally:
    Py_XDECREF(run);
    Py_XDECREF(p.tracked);
    Py_XDECREF(path);
    rc_free(p.facts);
    rc_free((void *)(uintptr_t)p.env.signal_names);
    return result;
}

/* _dump(path, facts, values, redact, tracing, handlers, signal_names, cwd):
 * the in-process dump, in one call (see the top of this file); the
 * arguments as _fork_dump()'s. */
static PyObject *
rc_dump_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    fork_plan p = {0};
    PyObject *path = NULL, *result = NULL;
    int tracing;
    if (dump_args("_dump", args, nargs, &p, &path, &tracing) < 0) {
        goto finally;
    }
    int paused = rc_gc_pause(); /* tracemalloc's tracebacks are tuples */
    question q = {0};
    dump_obj self = {.base = {.module = module}};
    rc_sites found = {0};
    size_t ids_bytes = 0;
    rc_live_dump d = {.values = p.values && !p.redact, .redact = p.redact};
    /* One zstd thread beside this one: compression overlaps the relating,
     * which is most of the pause.  (A forked child writes single-threaded.) */
    rc_snap_tables t = {.facts = p.facts, .n_facts = p.n_facts, .workers = 1};
    char msg[512] = "";
    if (analyse(module, &q, AN_SIZES | AN_KINDS | AN_ADDR_ORDER, &self.a) < 0) {
        goto done;
    }
    /* From here to the end of the file no Python code runs. */
    self.base.held = rc_capture_borrow(self.a.g, &self.held_bytes);
    self.base.n_held = (Py_ssize_t)rc_graph_node_count(self.a.g);
    d.g = self.a.g;
    d.held = self.base.held;
    if (!self.base.held || describe_roots(&self, &p.env, &t) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (!(d.ids = dump_ids(&self, &ids_bytes))) {
        goto done;
    }
    if (tracing) {
        rc_status st = rc_capture_sites(self.base.held, (size_t)self.base.n_held, &found);
        if (st != RC_OK) {
            rc_raise(st);
            goto done;
        }
        d.sites = &found;
    }
    rc_snap_status ss = rc_dump_live(p.path, &d, &t, msg, sizeof msg);
    if (ss != RC_SNAP_OK) {
        rc_snap_raise_write(ss, msg, errno, args[0]);
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    rc_sites_clear(&found);
    rc_pool_free((void *)(uintptr_t)d.ids, ids_bytes);
    roots_free(&t);
    rc_pool_free(self.base.held, self.held_bytes);
    analysis_free(&self.a);
    question_free(&q);
    rc_gc_resume(paused);
finally:
    Py_XDECREF(path);
    rc_free(p.facts);
    rc_free((void *)(uintptr_t)p.env.signal_names);
    return result;
}

PyMethodDef rc_dump_methods[] = {
    {"_dump", (PyCFunction)(void (*)(void))rc_dump_py, METH_FASTCALL, NULL},
    {"_fork_dump", (PyCFunction)(void (*)(void))rc_fork_dump_py, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};
