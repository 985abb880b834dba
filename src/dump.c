/* refchain.dump()'s C side: _dump_begin() and its DumpState, and
 * _fork_dump().
 *
 * _dump_begin() captures (both edge directions, sizes), classifies the
 * roots and takes a strong reference to every node before returning: the
 * DumpState it returns holds the whole heap, so that the package may
 * describe the roots in Python (on objects that cannot die), and its write()
 * may read every object: rc_capture_sites (allocation tracebacks), then
 * rc_dump_live (walker/dumplive.c: labels by relate, values), in C.  The
 * state's references are discounted by any capture another thread makes
 * meanwhile (it is a tool object).  close() (or the state's deallocation)
 * drops them.  _fork_dump() writes the same file from a forked child.  The
 * file layer is walker/dump.c; src/snapshot.c reads files back. */
#include "rcmodule.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include "refchain/alloc.h"
#include "refchain/idmap.h"
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

/* ---- _dump_begin() -> DumpState ------------------------------------------------ */

typedef struct dump_obj {
    rc_tool base; /* base.held: refs[v] holds node v */
    analysis a;   /* the graph, sizes and root kinds */
} dump_obj;


static void
dump_close_refs(dump_obj *self)
{
    PyObject **refs = self->base.held;
    size_t n = (size_t)self->base.n_held;
    self->base.held = NULL;
    self->base.n_held = 0;
    rc_capture_release(refs, n); /* deallocs may run: the fields are clear */
}

static PyObject *
rc_dump_begin_py(PyObject *module, PyObject *Py_UNUSED(arg))
{
    question q = {0};
    analysis a;
    if (analyse(module, &q, AN_SIZES | AN_KINDS, &a) < 0) {
        return NULL;
    }
    PyObject **refs = take_objects(a.g, NULL, rc_graph_node_count(a.g));
    if (!refs) {
        analysis_free(&a);
        return NULL;
    }
    /* Every node is held: Python code may run from here on. */
    dump_obj *self = (dump_obj *)rc_tool_new(module, rc_module_state(module)->dump_type);
    if (!self) {
        rc_capture_release(refs, rc_graph_node_count(a.g));
        analysis_free(&a);
        return NULL;
    }
    self->a = a;
    self->base.held = refs;
    self->base.n_held = (Py_ssize_t)rc_graph_node_count(a.g);
    return (PyObject *)self;
}

static int
dump_check(const dump_obj *self)
{
    if (!self->base.held) {
        PyErr_SetString(PyExc_ValueError, "this dump is closed");
        return -1;
    }
    return 0;
}

/* roots() -> [(node id, root kind name, object)] for every root. */
static PyObject *
dump_roots(PyObject *op, PyObject *Py_UNUSED(arg))
{
    dump_obj *self = (dump_obj *)op;
    if (dump_check(self) < 0) {
        return NULL;
    }
    size_t n = rc_graph_node_count(self->a.g);
    rc_id *ids;
    size_t k;
    rc_status st = rc_roots_list(self->a.kinds, n, &ids, &k);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    PyObject *list = PyList_New((Py_ssize_t)k);
    for (size_t i = 0; list && i < k; i++) {
        PyObject *item = Py_BuildValue("(IsO)", (unsigned)ids[i],
                                       rc_root_kind_name(self->a.kinds[ids[i]]),
                                       self->base.held[ids[i]]);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    rc_free(ids);
    return list;
}

/* ids[v] for every node: the same object keeps its id across the dumps of
 * this process (refchain/idmap.h; the map is the module's).  Raises on
 * failure. */
static uint32_t *
dump_ids(const dump_obj *self)
{
    rc_state *st = rc_module_state(self->base.module);
    size_t n = rc_graph_node_count(self->a.g);
    uint32_t *ids = rc_reallocarray(NULL, n ? n : 1, sizeof *ids);
    if (!ids || (!st->idmap && !(st->idmap = rc_idmap_new()))) {
        rc_free(ids);
        PyErr_NoMemory();
        return NULL;
    }
    rc_status rs = rc_idmap_assign(st->idmap, self->a.g, ids);
    if (rs != RC_OK) {
        rc_free(ids);
        rc_raise(rs);
        return NULL;
    }
    return ids;
}

/* The UTF-8 of str item i of list (borrowed, cached in the str), or NULL
 * with TypeError naming what. */
static const char *
list_text(PyObject *list, Py_ssize_t i, const char *what)
{
    PyObject *s = PyList_GET_ITEM(list, i);
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(s)->tp_name);
        return NULL;
    }
    return PyUnicode_AsUTF8(s);
}

/* Fill t->roots and t->facts from root_ids/root_texts (parallel lists:
 * node ids and str) and facts (a list of (str, str)).  Raises on failure. */
static int
dump_side_tables(const dump_obj *self, PyObject *root_ids, PyObject *root_texts, PyObject *facts,
                 rc_snap_tables *t)
{
    Py_ssize_t nr = PyList_GET_SIZE(root_ids), nf = PyList_GET_SIZE(facts);
    if (PyList_GET_SIZE(root_texts) != nr) {
        PyErr_SetString(PyExc_ValueError, "write(): one root text per root");
        return -1;
    }
    rc_snap_root *roots = rc_malloc((size_t)(nr ? nr : 1) * sizeof *roots);
    rc_snap_fact *fs = rc_malloc((size_t)(nf ? nf : 1) * sizeof *fs);
    t->roots = roots;
    t->facts = fs;
    if (!roots || !fs) {
        PyErr_NoMemory();
        return -1;
    }
    size_t n = rc_graph_node_count(self->a.g);
    for (Py_ssize_t i = 0; i < nr; i++) {
        unsigned long v = PyLong_AsUnsignedLong(PyList_GET_ITEM(root_ids, i));
        if (PyErr_Occurred() || v >= n) {
            PyErr_SetString(PyExc_ValueError, "write(): a root id is not a node");
            return -1;
        }
        roots[i] = (rc_snap_root){(rc_id)v, self->a.kinds[v], list_text(root_texts, i, "a root text")};
        if (!roots[i].text) {
            return -1;
        }
        t->n_roots = (size_t)i + 1;
    }
    for (Py_ssize_t i = 0; i < nf; i++) {
        PyObject *kv = PyList_GET_ITEM(facts, i);
        if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2 || !PyUnicode_Check(PyTuple_GET_ITEM(kv, 0)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(kv, 1))) {
            PyErr_SetString(PyExc_TypeError, "write(): facts must be (str, str) pairs");
            return -1;
        }
        fs[i] = (rc_snap_fact){PyUnicode_AsUTF8(PyTuple_GET_ITEM(kv, 0)),
                               PyUnicode_AsUTF8(PyTuple_GET_ITEM(kv, 1))};
        if (!fs[i].key || !fs[i].value) {
            return -1;
        }
        t->n_facts = (size_t)i + 1;
    }
    return 0;
}

/* write(path, root_ids, root_texts, facts, values, sites, redact): the
 * file.  redact: data dicts' keys read REDACTED_KEY. */
static PyObject *
dump_write(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    dump_obj *self = (dump_obj *)op;
    if (nargs != 7 || !PyList_Check(args[1]) || !PyList_Check(args[2]) || !PyList_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "write(path, root_ids, root_texts, facts, values, "
                                         "sites, redact): lists expected");
        return NULL;
    }
    PyObject *path = NULL;
    int values = PyObject_IsTrue(args[4]), sites = PyObject_IsTrue(args[5]),
        redact = PyObject_IsTrue(args[6]);
    if (dump_check(self) < 0 || values < 0 || sites < 0 || redact < 0 ||
        !PyUnicode_FSConverter(args[0], &path)) {
        return NULL;
    }
    rc_sites found = {0};
    rc_live_dump d = {.g = self->a.g, .held = self->base.held, .values = values,
                      .redact = redact};
    /* One zstd thread beside this one: compression overlaps the relating,
     * which is most of the pause.  (A forked child writes single-threaded.) */
    rc_snap_tables t = {.workers = 1};
    PyObject *result = NULL;
    char msg[512] = "";
    if (dump_side_tables(self, args[1], args[2], args[3], &t) < 0 ||
        !(d.ids = dump_ids(self))) {
        goto finally;
    }
    if (sites) {
        rc_status st = rc_capture_sites(self->base.held, (size_t)self->base.n_held, &found);
        if (st != RC_OK) {
            rc_raise(st);
            goto finally;
        }
        d.sites = &found;
    }
    /* From here to the end of the file no Python code runs (relate's live
     * mode may create an int's repr, on objects held here). */
    rc_snap_status st = rc_dump_live(PyBytes_AS_STRING(path), &d, &t, msg, sizeof msg);
    if (st != RC_SNAP_OK) {
        rc_snap_raise(st, msg);
        goto finally;
    }
    Py_INCREF(Py_None);
    result = Py_None;
finally:
    rc_sites_clear(&found);
    rc_free((void *)(uintptr_t)d.ids);
    rc_free((void *)(uintptr_t)t.roots);
    rc_free((void *)(uintptr_t)t.facts);
    Py_XDECREF(path);
    return result;
}

static PyObject *
dump_close(PyObject *op, PyObject *Py_UNUSED(arg))
{
    dump_close_refs((dump_obj *)op);
    Py_RETURN_NONE;
}

static void
dump_dealloc(PyObject *op)
{
    dump_obj *self = (dump_obj *)op;
    dump_close_refs(self);
    analysis_free(&self->a);
    rc_tool_dealloc(op);
}

static PyMethodDef dump_methods[] = {
    {"roots", dump_roots, METH_NOARGS, "roots() -> [(node id, kind, object)]"},
    {"write", (PyCFunction)(void (*)(void))dump_write, METH_FASTCALL,
     "write(path, root_ids, root_texts, facts, values, sites, redact)"},
    {"close", dump_close, METH_NOARGS, "Drop the references to the heap."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot dump_slots[] = {
    {Py_tp_new, (void *)rc_no_new},
    {Py_tp_dealloc, (void *)dump_dealloc},
    {Py_tp_methods, dump_methods},
    {0, NULL},
};

static PyType_Spec dump_spec = {"refchain.DumpState", sizeof(dump_obj), 0, Py_TPFLAGS_DEFAULT,
                                dump_slots};

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
 * no object as dump_begin does (nothing can be freed, since nothing runs,
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

/* The roots and their descriptions into t (rc_malloc'ed; never freed: the
 * child exits).  -1 when out of memory. */
static int
fork_roots(const dump_obj *self, const rc_fork_env *env, rc_snap_tables *t)
{
    rc_id *ids;
    size_t k;
    if (rc_roots_list(self->a.kinds, rc_graph_node_count(self->a.g), &ids, &k) != RC_OK) {
        return -1;
    }
    rc_snap_root *roots = rc_malloc((k ? k : 1) * sizeof *roots);
    for (size_t i = 0; roots && i < k; i++) {
        uint8_t kind = self->a.kinds[ids[i]];
        char *text = rc_fork_describe_root(kind, rc_root_kind_name(kind),
                                           self->base.held[ids[i]], env);
        if (!text) {
            return -1;
        }
        roots[i] = (rc_snap_root){ids[i], kind, text};
    }
    t->roots = roots;
    t->n_roots = k;
    return roots ? 0 : -1;
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
    self.base.held = rc_capture_borrow(self.a.g);
    self.base.n_held = (Py_ssize_t)rc_graph_node_count(self.a.g);
    rc_live_dump d = {.g = self.a.g, .held = self.base.held, .values = p->values && !p->redact,
                      .redact = p->redact};
    rc_snap_tables t = {.facts = p->facts, .n_facts = p->n_facts};
    if (!self.base.held || fork_roots(&self, &p->env, &t) < 0 || !(d.ids = dump_ids(&self))) {
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

/* The facts list (of (str, str)) as C strings borrowed from it. */
static int
fork_facts(PyObject *facts, fork_plan *p)
{
    Py_ssize_t nf = PyList_GET_SIZE(facts);
    p->facts = rc_malloc((size_t)(nf ? nf : 1) * sizeof *p->facts);
    if (!p->facts) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < nf; i++) {
        PyObject *kv = PyList_GET_ITEM(facts, i);
        if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(kv, 0)) || !PyUnicode_Check(PyTuple_GET_ITEM(kv, 1))) {
            PyErr_SetString(PyExc_TypeError, "_fork_dump(): facts must be (str, str) pairs");
            return -1;
        }
        p->facts[i] = (rc_snap_fact){PyUnicode_AsUTF8(PyTuple_GET_ITEM(kv, 0)),
                                     PyUnicode_AsUTF8(PyTuple_GET_ITEM(kv, 1))};
        if (!p->facts[i].key || !p->facts[i].value) {
            return -1;
        }
    }
    p->n_facts = (size_t)nf;
    return 0;
}

/* The handlers and names lists (same length; names str) into p->env. */
static int
fork_signals(PyObject *handlers, PyObject *names, fork_plan *p)
{
    Py_ssize_t n = PyList_GET_SIZE(handlers);
    const char **sn = rc_malloc((size_t)(n ? n : 1) * sizeof *sn);
    if (!sn) {
        PyErr_NoMemory();
        return -1;
    }
    p->env.signal_names = sn;
    if (PyList_GET_SIZE(names) != n) {
        PyErr_SetString(PyExc_ValueError, "_fork_dump(): one name per handler");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!(sn[i] = list_text(names, i, "a signal name"))) {
            return -1;
        }
    }
    p->env.handlers = &PyList_GET_ITEM(handlers, 0);
    p->env.n_signals = (size_t)n;
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
    if (nargs != 8 || !PyList_Check(args[1]) || !PyList_Check(args[5]) ||
        !PyList_Check(args[6]) || !PyUnicode_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError, "_fork_dump(path, facts, values, redact, tracing, "
                                         "handlers, signal_names, cwd)");
        return NULL;
    }
    fork_plan p = {0};
    PyObject *path = NULL, *run = NULL, *result = NULL;
    p.values = PyObject_IsTrue(args[2]);
    p.redact = PyObject_IsTrue(args[3]);
    int tracing = PyObject_IsTrue(args[4]);
    if (p.values < 0 || p.redact < 0 || tracing < 0 || !PyUnicode_FSConverter(args[0], &path) ||
        fork_facts(args[1], &p) < 0 || fork_signals(args[5], args[6], &p) < 0 ||
        !(p.env.cwd = PyUnicode_AsUTF8(args[7])) || (tracing && fork_beneath(&p) < 0) ||
        !(p.tracked = rc_capture_tracked_list(rc_module_state(module)->gc))) {
        goto finally;
    }
    p.path = PyBytes_AS_STRING(path);
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

PyMethodDef rc_dump_methods[] = {
    {"_dump_begin", rc_dump_begin_py, METH_NOARGS, NULL},
    {"_fork_dump", (PyCFunction)(void (*)(void))rc_fork_dump_py, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

int
rc_dump_types_init(PyObject *module, rc_state *s)
{
    return rc_add_type(module, (PyTypeObject *)PyType_FromSpec(&dump_spec), &s->dump_type);
}
