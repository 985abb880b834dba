/* Snapshot files: refchain.dump()'s two calls, and refchain.load()'s graph.
 *
 * _dump_begin() captures (both edge directions, sizes), classifies the
 * roots and takes a strong reference to every node before returning: the
 * DumpState it returns holds the whole heap, so that the package may describe the
 * roots in Python (on objects that cannot die), and its write() may read
 * every object, which relate (edge labels), rc_short_value (values) and
 * rc_capture_sites (allocation tracebacks) do in C, running no Python code.
 * The state's references are discounted by any capture another thread makes
 * meanwhile (it is a tool object).  close() (or the state's deallocation)
 * drops them.
 *
 * _load(path) reads a file (walker/load.c) into a SnapshotGraph, which answers
 * from the graph alone: node ids in, node ids and plain values out.  The
 * package (refchain._snapshot) turns them into the same text as the live
 * answers. */
#include "rcmodule.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include "refchain/alloc.h"
#include "refchain/dominators.h"
#include "refchain/explain.h"
#include "refchain/heapsnap.h"
#include "refchain/hood.h"
#include "refchain/idmap.h"
#include "refchain/relate.h"
#include "refchain/scc.h"
#include "refchain/select.h"
#include "refchain/snapshot.h"
#include "refchain/unreachable.h"
#include "refchain/describe.h"

/* ---- errors ----------------------------------------------------------------- */

/* Raise for a failed dump or load: MemoryError, OSError (the OS refused) or
 * ValueError (the file is not a snapshot this code reads), with the file
 * layer's message, which names the file. */
static PyObject *
snap_raise(rc_snap_status st, const char *msg)
{
    PyObject *exc = st == RC_SNAP_ENOMEM ? PyExc_MemoryError
                    : st == RC_SNAP_EIO  ? PyExc_OSError
                                         : PyExc_ValueError;
    PyErr_SetString(exc, msg[0] ? msg : rc_snap_status_str(st));
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

/* What the file layer's callbacks read: the held objects, relate's context,
 * and the encoded labels of the referrer being written (related in one pass
 * for all its out-edges, rc_relate_out, then encoded at once: the relations
 * are dropped before the next referrer). */
typedef struct dump_ctx {
    const dump_obj *self;
    rc_relate_ctx relate;
    int values, redact;
    rc_sites sites;
    rc_id from;             /* whose labels are in text[], or RC_NO_ID */
    char *text;             /* the labels, NUL-separated: label k at text[at[k]] */
    size_t *at, n_at, text_len, text_cap, at_cap;
    rc_relation *rels;      /* scratch for rc_relate_out */
    PyObject **children;    /* scratch: the referents */
    size_t rels_cap;
    char *enc;              /* scratch: one encoded label */
    size_t enc_cap;
    int failed;             /* a label could not be made (out of memory) */
    uint32_t *ids;          /* object ids (rc_idmap_assign) */
    char value[RC_SHORT_VALUE_MAX];
} dump_ctx;

static void
dump_ctx_free(dump_ctx *c)
{
    rc_free(c->text);
    rc_free(c->at);
    rc_free(c->rels);
    rc_free(c->children);
    rc_free(c->enc);
}

/* What redact=True writes for a data dict's key: a key relation that names
 * nothing. */
static char redacted_text[] = "[<redacted>]", redacted_repr[] = "<redacted>";

/* Append rel's encoded form (or the redacted key's) to c->text. */
static int
keep_label(dump_ctx *c, const rc_relation *rel, int redact)
{
    rc_relation red = {.kind = RC_REL_KEY, .text = redacted_text, .attr = redacted_text,
                       .repr = redacted_repr};
    size_t len;
    if (rc_relation_encode(redact ? &red : rel, &c->enc, &c->enc_cap, &len) != RC_OK) {
        return -1;
    }
    if (c->text_len + len + 1 > c->text_cap) {
        size_t cap = c->text_cap ? 2 * c->text_cap : 4096;
        while (cap < c->text_len + len + 1) {
            cap *= 2;
        }
        char *t = rc_realloc(c->text, cap);
        if (!t) {
            return -1;
        }
        c->text = t;
        c->text_cap = cap;
    }
    memcpy(c->text + c->text_len, c->enc, len + 1);
    c->text_len += len + 1;
    return 0;
}

/* Relate and encode every out-edge of `from`.  -1 when out of memory. */
static int
relate_referrer(dump_ctx *c, rc_id from)
{
    size_t deg;
    const rc_id *out = rc_graph_out(c->self->a.g, from, &deg);
    if (deg > c->rels_cap) {
        rc_relation *r = rc_reallocarray(c->rels, deg, sizeof *r);
        PyObject **ch = r ? rc_reallocarray(c->children, deg, sizeof *ch) : NULL;
        size_t *at = ch ? rc_reallocarray(c->at, deg, sizeof *at) : NULL;
        c->rels = r ? r : c->rels;
        c->children = ch ? ch : c->children;
        c->at = at ? at : c->at;
        if (!at) {
            return -1;
        }
        c->rels_cap = c->at_cap = deg;
    }
    PyObject *const *refs = c->self->base.held;
    for (size_t i = 0; i < deg; i++) {
        c->children[i] = refs[out[i]];
    }
    if (rc_relate_out(&c->relate, refs[from], c->children, deg, c->rels) != RC_OK) {
        return -1;
    }
    /* A data dict's key is data; a namespace's keys are names in code. */
    int data = c->redact && !(rc_graph_flags(c->self->a.g, from) & RC_NODE_NAMESPACE);
    int rc = 0;
    c->text_len = 0;
    c->n_at = deg;
    for (size_t i = 0; i < deg; i++) {
        c->at[i] = c->text_len;
        if (rc == 0 && keep_label(c, &c->rels[i], data && c->rels[i].kind == RC_REL_KEY) < 0) {
            rc = -1;
        }
        rc_relation_clear(&c->rels[i]);
    }
    return rc;
}

static const char *
dump_label(void *ctx, rc_id from, size_t k, size_t *len)
{
    dump_ctx *c = ctx;
    if (c->from != from) {
        c->from = RC_NO_ID;
        if (relate_referrer(c, from) < 0) {
            c->failed = 1;
            return NULL;
        }
        c->from = from;
    }
    /* Labels are NUL-separated: label k ends where label k + 1 starts. */
    *len = (k + 1 < c->n_at ? c->at[k + 1] : c->text_len) - c->at[k] - 1;
    return c->text + c->at[k];
}

static const char *
dump_value(void *ctx, rc_id v, size_t *len)
{
    dump_ctx *c = ctx;
    long n = c->values ? rc_short_value(c->self->base.held[v], c->value) : -1;
    if (n < 0) {
        return NULL;
    }
    *len = (size_t)n;
    return c->value;
}

static uint32_t
dump_id(void *ctx, rc_id v)
{
    return ((dump_ctx *)ctx)->ids[v];
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

static uint32_t
dump_alloc(void *ctx, rc_id v)
{
    return ((dump_ctx *)ctx)->sites.node_traceback[v];
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
    dump_ctx c = {.self = self, .values = values, .redact = redact, .from = RC_NO_ID};
    rc_snap_tables t = {.ctx = &c, .edge_label = dump_label, .node_value = dump_value};
    PyObject *result = NULL;
    char msg[512] = "";
    if (dump_side_tables(self, args[1], args[2], args[3], &t) < 0 ||
        !(c.ids = dump_ids(self))) {
        goto finally;
    }
    t.node_id = dump_id;
    if (sites) {
        rc_status st = rc_capture_sites(self->base.held, (size_t)self->base.n_held, &c.sites);
        if (st != RC_OK) {
            rc_raise(st);
            goto finally;
        }
        t.node_alloc = dump_alloc;
        t.frames = c.sites.frames;
        t.n_frames = c.sites.n_frames;
        t.traceback_off = c.sites.traceback_off;
        t.traceback_frames = c.sites.traceback_frames;
        t.n_tracebacks = c.sites.n_tracebacks;
    }
    /* From here to the end of the file no Python code runs (relate's live
     * mode may create an int's repr, on objects held here). */
    rc_relate_ctx_init(&c.relate, RC_RELATE_LIVE);
    rc_snap_status st =
        rc_snapshot_dump(PyBytes_AS_STRING(path), self->a.g, &t, msg, sizeof msg);
    if (st == RC_SNAP_OK && c.failed) {
        remove(PyBytes_AS_STRING(path)); /* it lacks labels: no half-truths on disk */
        st = RC_SNAP_ENOMEM;
    }
    if (st != RC_SNAP_OK) {
        snap_raise(st, msg);
        goto finally;
    }
    Py_INCREF(Py_None);
    result = Py_None;
finally:
    dump_ctx_free(&c);
    rc_sites_clear(&c.sites);
    rc_free(c.ids);
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
    dump_ctx c = {.self = &self, .values = p->values && !p->redact, .redact = p->redact,
                  .from = RC_NO_ID};
    rc_snap_tables t = {.ctx = &c, .edge_label = dump_label, .node_value = dump_value,
                        .node_id = dump_id, .facts = p->facts, .n_facts = p->n_facts};
    if (!self.base.held || fork_roots(&self, &p->env, &t) < 0 || !(c.ids = dump_ids(&self))) {
        snprintf(msg, cap, "the fork dump's child ran out of memory");
        return -1;
    }
    rc_relate_ctx_init(&c.relate, RC_RELATE_LIVE);
    rc_snap_status ss = rc_snapshot_dump(p->path, self.a.g, &t, msg, cap);
    if (ss == RC_SNAP_OK && c.failed) {
        remove(p->path);
        ss = RC_SNAP_ENOMEM;
    }
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

/* ---- _load(path) -> SnapshotGraph---------------------------------------------- */

typedef struct snap_obj {
    rc_tool base;
    rc_snapshot *s;
    uint32_t *root_at;  /* per node: its root index in the file, or RC_SNAP_NONE */
    uint8_t *kinds;     /* per node: rc_roots_classify, made on first use */
    rc_paths *paths;    /* the BFS from the roots, made on first use */
    rc_dominators *dom; /* the dominator tree, made on first use */
} snap_obj;

#define SNAP(op) ((snap_obj *)(op))
#define SGRAPH(op) rc_snapshot_graph(SNAP(op)->s)

static void
snap_dealloc(PyObject *op)
{
    snap_obj *self = SNAP(op);
    rc_dominators_free(self->dom);
    rc_paths_free(self->paths);
    rc_free(self->kinds);
    rc_free(self->root_at);
    rc_snapshot_free(self->s);
    rc_tool_dealloc(op);
}

static PyObject *
rc_load_py(PyObject *module, PyObject *arg)
{
    PyObject *path;
    if (!PyUnicode_FSConverter(arg, &path)) {
        return NULL;
    }
    rc_snapshot *s = NULL;
    char msg[512] = "";
    rc_snap_status st;
    Py_BEGIN_ALLOW_THREADS
    st = rc_snapshot_load(PyBytes_AS_STRING(path), &s, msg, sizeof msg);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (st != RC_SNAP_OK) {
        return snap_raise(st, msg);
    }
    rc_graph *g = rc_snapshot_graph(s);
    size_t n = rc_graph_node_count(g), nr = rc_snapshot_root_count(s);
    uint32_t *root_at = rc_reallocarray(NULL, n ? n : 1, sizeof *root_at);
    snap_obj *self = root_at ? (snap_obj *)rc_tool_new(module, rc_module_state(module)->snapshot_type)
                             : NULL;
    if (!self) {
        rc_free(root_at);
        rc_snapshot_free(s);
        return root_at ? NULL : PyErr_NoMemory();
    }
    memset(root_at, 0xFF, (n ? n : 1) * sizeof *root_at);
    for (size_t i = 0; i < nr; i++) {
        root_at[rc_snapshot_root(s, i).node] = (uint32_t)i;
    }
    self->s = s;
    self->kinds = NULL;
    self->root_at = root_at;
    self->paths = NULL;
    self->dom = NULL;
    return (PyObject *)self;
}

static Py_ssize_t
snap_len(PyObject *op)
{
    return (Py_ssize_t)rc_graph_node_count(SGRAPH(op));
}

/* The in-edges and root kinds, made on first use (a census needs neither).
 * Roots are classified from the graph alone, as in the live process.  -1
 * with an exception set. */
static int
snap_kinds(snap_obj *self)
{
    rc_graph *g = rc_snapshot_graph(self->s);
    rc_status st = self->kinds ? RC_OK : rc_graph_build_in(g);
    if (st == RC_OK && !self->kinds) {
        st = rc_roots_classify(g, &self->kinds);
    }
    if (st != RC_OK) {
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* The BFS from the roots, made once.  -1 with an exception set. */
static int
snap_paths(snap_obj *self)
{
    if (snap_kinds(self) < 0) {
        return -1;
    }
    rc_status st = self->paths ? RC_OK
                               : rc_paths_bfs(rc_snapshot_graph(self->s), self->kinds, NULL, 0,
                                              &self->paths);
    if (st != RC_OK) {
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* The dominator tree over the root kinds, made once.  -1 with an
 * exception set. */
static int
snap_dominators(snap_obj *self)
{
    if (snap_kinds(self) < 0) {
        return -1;
    }
    rc_status st = self->dom ? RC_OK
                             : rc_dominators_compute(rc_snapshot_graph(self->s), self->kinds,
                                                     &self->dom);
    if (st != RC_OK) {
        rc_raise(st);
        return -1;
    }
    return 0;
}

/* A node id argument: -1 with an exception set when it is not one. */
static long
node_arg(PyObject *op, PyObject *arg)
{
    unsigned long v = PyLong_AsUnsignedLong(arg);
    if (PyErr_Occurred() || v >= rc_graph_node_count(SGRAPH(op))) {
        PyErr_Clear();
        PyErr_SetString(PyExc_IndexError, "not a node id of this snapshot");
        return -1;
    }
    return (long)v;
}

/* census(shortnames=False) */
static PyObject *
snap_census(PyObject *op, PyObject *arg)
{
    int shortnames = PyObject_IsTrue(arg);
    if (shortnames < 0) {
        return NULL;
    }
    rc_census *c = NULL;
    unsigned flags = RC_CENSUS_WITH_IDS | RC_CENSUS_NO_TOOL_FRAMES |
                     (shortnames ? RC_CENSUS_SHORT_NAMES : 0);
    rc_status st = rc_census_of(SGRAPH(op), flags, &c);
    return st == RC_OK ? rc_census_wrap(((rc_tool *)op)->module, c) : rc_raise(st);
}

/* find(address) -> node id or None */
static PyObject *
snap_find(PyObject *op, PyObject *arg)
{
    unsigned long long addr = PyLong_AsUnsignedLongLong(arg);
    if (addr == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    rc_id v = rc_graph_find(SGRAPH(op), (uintptr_t)addr);
    if (v == RC_NO_ID) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLong(v);
}

static PyObject *
none_ref(void)
{
    Py_INCREF(Py_None);
    return Py_None;
}

/* node(id) -> (address, type name, short name, size, refcount, flags,
 *              type flags, value bytes or None, root index or None) */
static PyObject *
snap_node(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0) {
        return NULL;
    }
    const rc_graph *g = SGRAPH(op);
    uint32_t t = rc_graph_type(g, (rc_id)v);
    size_t len;
    const char *value = rc_snapshot_value(SNAP(op)->s, (rc_id)v, &len);
    uint32_t r = SNAP(op)->root_at[v];
    PyObject *value_obj = value ? PyBytes_FromStringAndSize(value, (Py_ssize_t)len)
                                : none_ref();
    PyObject *root = r == RC_SNAP_NONE ? none_ref() : PyLong_FromUnsignedLong(r);
    PyObject *result = value_obj && root
                           ? Py_BuildValue("(KssKkIIOO)", (unsigned long long)rc_graph_addr(g, (rc_id)v),
                                           rc_graph_type_name(g, t), rc_graph_type_short_name(g, t),
                                           (unsigned long long)rc_graph_size(g, (rc_id)v),
                                           (unsigned long)rc_graph_refcnt(g, (rc_id)v),
                                           rc_graph_flags(g, (rc_id)v), rc_graph_type_flags(g, t),
                                           value_obj, root)
                           : NULL;
    Py_XDECREF(value_obj);
    Py_XDECREF(root);
    return result;
}

/* root(i) -> (node id, kind name, text or None) */
static PyObject *
snap_root(PyObject *op, PyObject *arg)
{
    Py_ssize_t i = PyNumber_AsSsize_t(arg, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0 || (size_t)i >= rc_snapshot_root_count(SNAP(op)->s)) {
        PyErr_SetString(PyExc_IndexError, "root index out of range");
        return NULL;
    }
    rc_snap_root r = rc_snapshot_root(SNAP(op)->s, (size_t)i);
    return Py_BuildValue("(Isz)", (unsigned)r.node,
                         rc_root_kind_name(r.kind < RC_ROOT_KINDS ? r.kind : RC_ROOT_C), r.text);
}

/* The relation of v's k-th reference as the file recorded it (*rel, free
 * with rc_relation_clear), or `<referent #k>` when the file has none or an
 * undecodable one (loaded files are hostile).  -1 with MemoryError set. */
static int
edge_relation(PyObject *op, rc_id v, size_t k, rc_relation *rel)
{
    const char *label = rc_snapshot_label(SNAP(op)->s, v, k);
    rc_status st = label ? rc_relation_decode(label, strlen(label), rel) : RC_EINVAL;
    if (st == RC_EINVAL) {
        char buf[48];
        snprintf(buf, sizeof buf, "<referent #%zu>", k);
        memset(rel, 0, sizeof *rel);
        rel->kind = RC_REL_FALLBACK;
        rel->text = rc_strndup(buf, strlen(buf));
        st = rel->text ? RC_OK : RC_ENOMEM;
    }
    if (st != RC_OK) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The text of v's k-th reference read alone (a new str). */
static PyObject *
edge_text(PyObject *op, rc_id v, size_t k)
{
    rc_relation rel;
    if (edge_relation(op, v, k, &rel) < 0) {
        return NULL;
    }
    PyObject *text = PyUnicode_DecodeUTF8(rel.text, (Py_ssize_t)strlen(rel.text), "replace");
    rc_relation_clear(&rel);
    return text;
}

/* out(from) -> ((target id, label), ...) for each out-edge. */
static PyObject *
snap_out(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0) {
        return NULL;
    }
    size_t deg;
    const rc_id *out = rc_graph_out(SGRAPH(op), (rc_id)v, &deg);
    PyObject *t = PyTuple_New((Py_ssize_t)deg);
    for (size_t k = 0; t && k < deg; k++) {
        PyObject *text = edge_text(op, (rc_id)v, k);
        PyObject *item = text ? Py_BuildValue("(IN)", (unsigned)out[k], text) : NULL;
        if (!item) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)k, item);
    }
    return t;
}

/* The relations of the chain ids[0] -> ids[1] -> ... (edges[i]: the index
 * among ids[i]'s out-edges of the reference to ids[i + 1]) into rels[0..n).
 * -1 with an exception set (and rels cleared). */
static int
chain_relations(PyObject *op, PyObject *ids, PyObject *edges, rc_relation *rels, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = node_arg(op, PyTuple_GET_ITEM(ids, i));
        size_t k = v < 0 ? 0 : PyLong_AsSize_t(PyTuple_GET_ITEM(edges, i)), deg = 0;
        if (v >= 0 && !PyErr_Occurred()) {
            rc_graph_out(SGRAPH(op), (rc_id)v, &deg);
        }
        if (v >= 0 && !PyErr_Occurred() && k >= deg) {
            PyErr_SetString(PyExc_IndexError, "labels(): not an edge of this snapshot");
        }
        if (PyErr_Occurred() || edge_relation(op, (rc_id)v, k, &rels[i]) < 0) {
            while (i-- > 0) {
                rc_relation_clear(&rels[i]);
            }
            return -1;
        }
    }
    return 0;
}

/* labels(ids, edges) -> ((end, label), ...): the steps of a chain as the
 * live chain reads them (rc_present on the file's relations: a module's
 * __dict__ and the global in it read `['name']`). */
static PyObject *
snap_labels(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_Check(args[0]) || !PyTuple_Check(args[1]) ||
        PyTuple_GET_SIZE(args[1]) + 1 != (PyTuple_GET_SIZE(args[0]) ? PyTuple_GET_SIZE(args[0]) : 1)) {
        PyErr_SetString(PyExc_TypeError, "labels(ids, edges): tuples, one edge per hop");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(args[1]);
    rc_relation *rels = rc_calloc(n ? (size_t)n : 1, sizeof *rels);
    if (!rels) {
        return PyErr_NoMemory();
    }
    if (chain_relations(op, args[0], args[1], rels, n) < 0) {
        rc_free(rels);
        return NULL;
    }
    rc_label_step *steps = NULL;
    size_t n_steps = 0;
    rc_status st = rc_present(rels, (size_t)n, 0, &steps, &n_steps);
    for (Py_ssize_t i = 0; i < n; i++) {
        rc_relation_clear(&rels[i]);
    }
    rc_free(rels);
    if (st != RC_OK) {
        return rc_raise(st);
    }
    PyObject *result = PyTuple_New((Py_ssize_t)n_steps);
    for (size_t i = 0; result && i < n_steps; i++) {
        PyObject *item = Py_BuildValue("(ns)", (Py_ssize_t)steps[i].end, steps[i].label);
        if (!item) {
            Py_CLEAR(result);
            break;
        }
        PyTuple_SET_ITEM(result, (Py_ssize_t)i, item);
    }
    rc_label_steps_free(steps, n_steps);
    return result;
}

/* Traceback t's frames as ((file, line), ...), innermost first. */
static PyObject *
traceback_tuple(const rc_snapshot *s, uint32_t t)
{
    size_t n;
    const uint32_t *frames = rc_snapshot_traceback(s, t, &n);
    PyObject *tuple = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; tuple && i < n; i++) {
        rc_snap_frame f = rc_snapshot_frame(s, frames[i]);
        PyObject *item = Py_BuildValue("(sI)", f.file, (unsigned)f.line);
        if (!item) {
            Py_CLEAR(tuple);
            break;
        }
        PyTuple_SET_ITEM(tuple, (Py_ssize_t)i, item);
    }
    return tuple;
}

/* frames(id) -> ((file, line), ...) innermost first, or None */
static PyObject *
snap_frames(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0) {
        return NULL;
    }
    if (rc_snapshot_alloc_depth(SNAP(op)->s, (rc_id)v) == 0) {
        Py_RETURN_NONE;
    }
    return traceback_tuple(SNAP(op)->s, rc_snapshot_node_traceback(SNAP(op)->s, (rc_id)v));
}

/* traceback_counts(ids) -> {frames: count}: how many of the nodes `ids`
 * each allocation traceback made (frames as frames() gives them); nodes with
 * none are left out.  What allocation_sites() counts, with no SnapNode made
 * per object. */
static PyObject *
snap_traceback_counts(PyObject *op, PyObject *arg)
{
    const rc_snapshot *s = SNAP(op)->s;
    PyObject *seq = PySequence_Fast(arg, "traceback_counts() takes a sequence of node ids");
    if (!seq) {
        return NULL;
    }
    size_t n_tb = rc_snapshot_traceback_count(s);
    size_t *count = rc_calloc(n_tb ? n_tb : 1, sizeof *count);
    PyObject *result = count ? PyDict_New() : PyErr_NoMemory();
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; result && i < n; i++) {
        long v = node_arg(op, PySequence_Fast_GET_ITEM(seq, i));
        if (v < 0) {
            Py_CLEAR(result);
            break;
        }
        if (rc_snapshot_alloc_depth(s, (rc_id)v) > 0) {
            count[rc_snapshot_node_traceback(s, (rc_id)v)]++;
        }
    }
    for (size_t t = 0; result && t < n_tb; t++) {
        if (!count[t]) {
            continue;
        }
        PyObject *frames = traceback_tuple(s, (uint32_t)t);
        PyObject *num = frames ? PyLong_FromSize_t(count[t]) : NULL;
        if (!num || PyDict_SetItem(result, frames, num) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(frames);
        Py_XDECREF(num);
    }
    rc_free(count);
    Py_DECREF(seq);
    return result;
}

/* facts() -> [(key, value)]; sections() -> int */
static PyObject *
snap_facts(PyObject *op, PyObject *Py_UNUSED(arg))
{
    size_t n = rc_snapshot_fact_count(SNAP(op)->s);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        rc_snap_fact f = rc_snapshot_fact(SNAP(op)->s, i);
        PyObject *item = Py_BuildValue("(ss)", f.key, f.value);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *
snap_sections(PyObject *op, PyObject *Py_UNUSED(arg))
{
    return PyLong_FromUnsignedLong(rc_snapshot_sections(SNAP(op)->s));
}

/* A chain as plain data: (kind, (node id, ...), (edge index, ...)). */
static PyObject *
id_chain(PyObject *Py_UNUSED(module), int kind, PyObject *const *ids, const uint32_t *edges,
         size_t n)
{
    PyObject *nodes = PyTuple_New((Py_ssize_t)n), *hops = PyTuple_New(n ? (Py_ssize_t)n - 1 : 0);
    for (size_t i = 0; nodes && hops && i < n; i++) {
        Py_INCREF(ids[i]);
        PyTuple_SET_ITEM(nodes, (Py_ssize_t)i, ids[i]);
        if (i + 1 < n) {
            PyObject *e = PyLong_FromUnsignedLong(edges[i]);
            if (!e) {
                Py_CLEAR(nodes);
                break;
            }
            PyTuple_SET_ITEM(hops, (Py_ssize_t)i, e);
        }
    }
    PyObject *result = nodes && hops
                           ? Py_BuildValue("(sOO)", kind < RC_ROOT_KINDS ? rc_root_kind_name(kind)
                                                                         : "unreachable",
                                           nodes, hops)
                           : NULL;
    Py_XDECREF(nodes);
    Py_XDECREF(hops);
    return result;
}

/* ints[i] = node id ids[i] as an int (new references); NULL on failure. */
static PyObject **
id_objects(const rc_id *ids, size_t n)
{
    PyObject **objs = rc_calloc(n ? n : 1, sizeof *objs);
    for (size_t i = 0; objs && i < n; i++) {
        if (!(objs[i] = PyLong_FromUnsignedLong(ids[i]))) {
            rc_capture_release(objs, i);
            objs = NULL;
        }
    }
    if (!objs && !PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    return objs;
}

/* chain(id) -> (kind, ids, edges): the shortest chain from a root, found
 * as live find_chain() finds it (rc_paths_find, backwards from the target). */
static PyObject *
snap_chain(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0 || snap_kinds(SNAP(op)) < 0) {
        return NULL;
    }
    rc_id *ids = NULL;
    uint32_t *edges = NULL;
    size_t n = 0;
    uint8_t kind = RC_ROOT_KINDS;
    rc_status st = rc_paths_find(SGRAPH(op), (rc_id)v, NULL, 0, &ids, &edges, &n, &kind);
    if (st == RC_OK && n == 0) {
        kind = RC_ROOT_KINDS; /* no root reaches it: the chain is the target alone */
        ids = rc_malloc(sizeof *ids);
        edges = rc_calloc(1, sizeof *edges);
        st = ids && edges ? RC_OK : RC_ENOMEM;
        n = 1;
        if (ids) {
            ids[0] = (rc_id)v;
        }
    }
    PyObject *result = NULL, **objs = NULL;
    if (st != RC_OK) {
        rc_raise(st);
    } else if ((objs = id_objects(ids, n)) != NULL) {
        result = id_chain(NULL, kind, objs, edges, n);
    }
    rc_capture_release(objs, objs ? n : 0);
    rc_free(ids);
    rc_free(edges);
    return result;
}

/* explain(selector, since, limit, by_type) -> as _explain, with node ids for
 * objects and (kind, ids, edges) for chains. */
static PyObject *
snap_explain(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"selector", "since", "limit", "by_type", NULL};
    PyObject *av[4];
    Py_ssize_t limit;
    if (rc_parse_fast("explain", args, nargs, NULL, names, 4, av) < 0 ||
        rc_arg_size("explain", "limit", av[2], 0, &limit) < 0 || snap_paths(SNAP(op)) < 0 ||
        snap_dominators(SNAP(op)) < 0) {
        return NULL;
    }
    PyObject *module = ((rc_tool *)op)->module;
    int by_type = PyObject_IsTrue(av[3]);
    rc_census *since = NULL;
    if (by_type < 0 || (av[1] != Py_None && !(since = rc_census_unwrap(module, av[1], "since")))) {
        return NULL;
    }
    const rc_graph *g = SGRAPH(op);
    type_sel sel = {0};
    unsigned char *mask = NULL;
    size_t marked, n = 0;
    rc_id *members = NULL;
    rc_explanation e = {0};
    PyObject *result = NULL, **objs = NULL;
    rc_status st = RC_OK;
    if (av[0] != Py_None && (type_sel_parse(av[0], "explain", &sel) < 0 ||
                             !(mask = type_sel_mask(&sel, g, &marked)))) {
        goto finally;
    }
    st = since ? rc_census_new_nodes(since, g, mask, &members, &n)
               : rc_select_nodes(g, mask, RC_NODE_TOOL_FRAME, &members, &n);
    if (st == RC_OK) {
        st = rc_explain(g, SNAP(op)->paths, SNAP(op)->kinds, SNAP(op)->dom, members, n,
                        by_type, (size_t)limit, &e);
    }
    if (st == RC_EINVAL && since) {
        PyErr_SetString(PyExc_ValueError, "since: this census does not remember its objects");
    } else if (st != RC_OK) {
        rc_raise(st);
    } else if ((objs = id_objects(e.ids, e.n_ids)) != NULL) {
        result = rc_explain_result(module, g, by_type, &e, objs, id_chain);
    }
finally:
    rc_capture_release(objs, objs ? e.n_ids : 0);
    rc_explanation_clear(&e);
    rc_free(members);
    rc_free(mask);
    Py_XDECREF(sel.keep);
    return result;
}

/* new_ids(since, selector) -> [node id]: the nodes no object of their type
 * occupied in `since` (a census of another snapshot or of the live heap). */
static PyObject *
snap_new_ids(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"since", "selector", NULL};
    PyObject *av[2];
    if (rc_parse_fast("new_ids", args, nargs, NULL, names, 2, av) < 0) {
        return NULL;
    }
    PyObject *module = ((rc_tool *)op)->module;
    rc_census *since = rc_census_unwrap(module, av[0], "since");
    if (!since) {
        return NULL;
    }
    type_sel sel = {0};
    unsigned char *mask = NULL;
    size_t marked, n = 0;
    rc_id *ids = NULL;
    PyObject *result = NULL;
    if (av[1] != Py_None && (type_sel_parse(av[1], "new_objects", &sel) < 0 ||
                             !(mask = type_sel_mask(&sel, SGRAPH(op), &marked)))) {
        goto finally;
    }
    rc_status st = rc_census_new_nodes(since, SGRAPH(op), mask, &ids, &n);
    if (st == RC_EINVAL) {
        PyErr_SetString(PyExc_ValueError, "since: this census does not remember its objects");
    } else if (st != RC_OK) {
        rc_raise(st);
    } else {
        result = rc_id_list(ids, n);
    }
finally:
    rc_free(ids);
    rc_free(mask);
    Py_XDECREF(sel.keep);
    return result;
}

/* growth(peaks, since, shortnames, limit, objects): _growth's answer on
 * this snapshot, the new objects as node ids. */
static PyObject *
snap_growth(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    return rc_growth_answer(((rc_tool *)op)->module, SGRAPH(op), args, nargs, 1);
}

/* garbage(limit, hops) -> (object_count, groups): _garbage's prediction on
 * this snapshot, with node ids for objects. */
static PyObject *
snap_garbage(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"limit", "hops", NULL};
    PyObject *av[2];
    Py_ssize_t limit, hops;
    if (rc_parse_fast("garbage", args, nargs, NULL, names, 2, av) < 0 ||
        rc_arg_size("garbage", "limit", av[0], 0, &limit) < 0 ||
        rc_arg_size("garbage", "hops", av[1], 0, &hops) < 0) {
        return NULL;
    }
    if (snap_kinds(SNAP(op)) < 0) {
        return NULL;
    }
    const rc_graph *g = SGRAPH(op);
    uint8_t *in_set = NULL;
    size_t count = 0;
    rc_cycles c = {0};
    PyObject *result = NULL, *list = NULL, **objs = NULL;
    rc_status st = rc_unreachable(g, SNAP(op)->kinds, NULL, 0, &in_set, &count);
    if (st == RC_OK) {
        st = rc_garbage_cycles(g, in_set, (size_t)limit, (size_t)hops, &c);
    }
    if (st != RC_OK) {
        rc_raise(st);
    } else if ((objs = id_objects(c.ids, c.n_ids)) != NULL &&
               (list = rc_garbage_groups(g, &c, objs)) != NULL) {
        result = Py_BuildValue("(nO)", (Py_ssize_t)count, list);
    }
    rc_capture_release(objs, objs ? c.n_ids : 0);
    Py_XDECREF(list);
    rc_cycles_clear(&c);
    rc_free(in_set);
    return result;
}

/* export(path): Chrome DevTools' .heapsnapshot of the snapshot
 * (walker/heapsnap.c), written atomically. */
static PyObject *
snap_export(PyObject *op, PyObject *arg)
{
    PyObject *path;
    if (!PyUnicode_FSConverter(arg, &path)) {
        return NULL;
    }
    char msg[512] = "";
    rc_snap_status st;
    Py_BEGIN_ALLOW_THREADS
    st = rc_heapsnap_export(SNAP(op)->s, PyBytes_AS_STRING(path), msg, sizeof msg);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (st != RC_SNAP_OK) {
        return snap_raise(st, msg);
    }
    Py_RETURN_NONE;
}

/* ---- drawings (refchain._snapdraw) ----------------------------------------------- */

/* hood(ids, backwards, max_depth, too_many, max_nodes) -> as _neighbourhood
 * (src/render_glue.c), with node ids for objects: what Snapshot.show_backrefs
 * and show_refs draw, walked by rc_hood_walk() on the file's graph.
 * Refcounts are the recorded ones less the tool's frames' references. */
static PyObject *
snap_hood(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"ids", "backwards", "max_depth", "too_many", "max_nodes",
                                        NULL};
    PyObject *av[5];
    Py_ssize_t max_depth, too_many, max_nodes;
    if (rc_parse_fast("hood", args, nargs, NULL, names, 5, av) < 0 ||
        rc_arg_size("hood", "max_depth", av[2], 0, &max_depth) < 0 ||
        rc_arg_size("hood", "too_many", av[3], 0, &too_many) < 0 ||
        rc_arg_size("hood", "max_nodes", av[4], 0, &max_nodes) < 0 ||
        snap_kinds(SNAP(op)) < 0) {
        return NULL;
    }
    int backwards = PyObject_IsTrue(av[1]);
    if (backwards < 0 || !PyTuple_Check(av[0]) || too_many < 1 || max_nodes < 1) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "hood(): a tuple of ids, too_many >= 1 and "
                                              "max_nodes >= 1");
        }
        return NULL;
    }
    size_t n = (size_t)PyTuple_GET_SIZE(av[0]);
    rc_id *ids = rc_malloc((n ? n : 1) * sizeof *ids);
    rc_hood h = {0};
    PyObject *result = NULL, **objs = NULL;
    if (!ids) {
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n; i++) {
        long v = node_arg(op, PyTuple_GET_ITEM(av[0], (Py_ssize_t)i));
        if (v < 0) {
            goto finally;
        }
        ids[i] = (rc_id)v;
    }
    uint32_t depth = (uint32_t)(max_depth > UINT32_MAX - 1 ? UINT32_MAX - 1 : max_depth);
    rc_hood_opts o = {backwards, depth, (size_t)too_many, (size_t)max_nodes, NULL, 0, NULL, NULL};
    rc_status st = rc_hood_walk(SGRAPH(op), ids, n, &o, &h);
    if (st != RC_OK) {
        rc_raise(st);
    } else if ((objs = id_objects(h.ids, h.n)) != NULL) {
        analysis a = {.g = SGRAPH(op), .kinds = SNAP(op)->kinds};
        result = rc_hood_result(&a, &h, objs, NULL, 0);
    }
finally:
    rc_capture_release(objs, objs ? h.n : 0);
    rc_hood_free(&h);
    rc_free(ids);
    return result;
}

/* label(id, k) -> the label of node id's k-th reference read alone. */
static PyObject *
snap_label(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "label(id, k)");
        return NULL;
    }
    long v = node_arg(op, args[0]);
    size_t deg = 0, k = v < 0 ? 0 : PyLong_AsSize_t(args[1]);
    if (v < 0 || (k == (size_t)-1 && PyErr_Occurred())) {
        return NULL;
    }
    rc_graph_out(SGRAPH(op), (rc_id)v, &deg);
    if (k >= deg) {
        PyErr_SetString(PyExc_IndexError, "label(): not an edge of this snapshot");
        return NULL;
    }
    return edge_text(op, (rc_id)v, k);
}

/* types() -> ((type object's address, name, short name), ...): the type
 * table, which names the class objects of the file. */
static PyObject *
snap_types(PyObject *op, PyObject *Py_UNUSED(arg))
{
    const rc_graph *g = SGRAPH(op);
    size_t n = rc_graph_type_count(g);
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; t && i < n; i++) {
        unsigned long long key = rc_graph_type_key(g, (uint32_t)i);
        PyObject *item = Py_BuildValue("(Kss)", key, rc_graph_type_name(g, (uint32_t)i),
                                       rc_graph_type_short_name(g, (uint32_t)i));
        if (!item) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, item);
    }
    return t;
}

/* rc_objs_maker for a snapshot: the ids as ints. */
static PyObject **
snap_id_objects(const rc_graph *Py_UNUSED(g), const rc_id *ids, size_t n)
{
    return id_objects(ids, n);
}

/* retained(id) -> (bytes, count) */
static PyObject *
snap_retained(PyObject *op, PyObject *arg)
{
    long v = node_arg(op, arg);
    if (v < 0 || snap_dominators(SNAP(op)) < 0) {
        return NULL;
    }
    const rc_dominators *d = SNAP(op)->dom;
    return Py_BuildValue("(KK)", (unsigned long long)rc_dominators_bytes(d, (rc_id)v),
                         (unsigned long long)rc_dominators_count(d, (rc_id)v));
}

/* suspects(min_share, limit) -> as _suspects, with node ids for objects and
 * (kind, ids, edges) for chains. */
static PyObject *
snap_suspects(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    double share;
    Py_ssize_t limit;
    if (rc_suspects_args(args, nargs, &share, &limit) < 0 || snap_paths(SNAP(op)) < 0 ||
        snap_dominators(SNAP(op)) < 0) {
        return NULL;
    }
    snap_obj *self = SNAP(op);
    return rc_suspects_answer(((rc_tool *)op)->module, SGRAPH(op), self->dom, self->paths,
                              self->kinds, share, (size_t)limit, snap_id_objects, id_chain);
}

/* dominator_tree(id, depth, width) -> as _dominator_tree, with node ids. */
static PyObject *
snap_dominator_tree(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *top;
    Py_ssize_t depth, width;
    if (rc_domtree_args(args, nargs, &top, &depth, &width) < 0) {
        return NULL;
    }
    long v = node_arg(op, top);
    if (v < 0 || snap_dominators(SNAP(op)) < 0) {
        return NULL;
    }
    return rc_domtree_answer(SGRAPH(op), SNAP(op)->dom, (rc_id)v, (size_t)depth, (size_t)width,
                             snap_id_objects);
}

static PyMethodDef snap_methods[] = {
    {"export", snap_export, METH_O, "export(path): a Chrome DevTools .heapsnapshot"},
    {"hood", (PyCFunction)(void (*)(void))snap_hood, METH_FASTCALL,
     "hood(ids, backwards, max_depth, too_many, max_nodes) -> as _neighbourhood, with node ids"},
    {"label", (PyCFunction)(void (*)(void))snap_label, METH_FASTCALL,
     "label(id, k) -> the label of node id's k-th reference"},
    {"types", snap_types, METH_NOARGS, "types() -> ((address, name, short name), ...)"},
    {"garbage", (PyCFunction)(void (*)(void))snap_garbage, METH_FASTCALL,
     "garbage(limit, hops) -> (object_count, groups)"},
    {"growth", (PyCFunction)(void (*)(void))snap_growth, METH_FASTCALL,
     "growth(peaks, since, shortnames, limit, objects)"},
    {"census", snap_census, METH_O, "census(shortnames) -> Census"},
    {"find", snap_find, METH_O, "find(address) -> node id or None"},
    {"node", snap_node, METH_O,
     "node(id) -> (address, type, short type, size, refcount, flags, type flags, value, root)"},
    {"root", snap_root, METH_O, "root(i) -> (node id, kind, text)"},
    {"out", snap_out, METH_O, "out(id) -> ((target id, label), ...)"},
    {"labels", (PyCFunction)(void (*)(void))snap_labels, METH_FASTCALL,
     "labels(ids, edges) -> ((end, label), ...)"},
    {"frames", snap_frames, METH_O, "frames(id) -> ((file, line), ...) or None"},
    {"traceback_counts", snap_traceback_counts, METH_O,
     "traceback_counts(ids) -> {frames: count}"},
    {"facts", snap_facts, METH_NOARGS, "facts() -> [(key, value)]"},
    {"sections", snap_sections, METH_NOARGS, "sections() -> which side tables the file has"},
    {"chain", snap_chain, METH_O, "chain(id) -> (kind, ids, edges)"},
    {"retained", snap_retained, METH_O, "retained(id) -> (bytes, count)"},
    {"suspects", (PyCFunction)(void (*)(void))snap_suspects, METH_FASTCALL,
     "suspects(min_share, limit) -> (heap bytes, [...])"},
    {"dominator_tree", (PyCFunction)(void (*)(void))snap_dominator_tree, METH_FASTCALL,
     "dominator_tree(id, depth, width) -> [(id or None, parent, bytes, count, others)]"},
    {"explain", (PyCFunction)(void (*)(void))snap_explain, METH_FASTCALL,
     "explain(selector, since, limit, by_type)"},
    {"new_ids", (PyCFunction)(void (*)(void))snap_new_ids, METH_FASTCALL,
     "new_ids(since, selector) -> [node id]"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot snap_slots[] = {
    {Py_tp_new, (void *)rc_no_new},
    {Py_tp_dealloc, (void *)snap_dealloc},
    {Py_tp_methods, snap_methods},
    {Py_sq_length, (void *)snap_len},
    {0, NULL},
};

static PyType_Spec snap_spec = {"refchain.SnapshotGraph", sizeof(snap_obj), 0, Py_TPFLAGS_DEFAULT,
                                snap_slots};

PyMethodDef rc_snapshot_methods[] = {
    {"_dump_begin", rc_dump_begin_py, METH_NOARGS, NULL},
    {"_fork_dump", (PyCFunction)(void (*)(void))rc_fork_dump_py, METH_FASTCALL, NULL},
    {"_load", rc_load_py, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

int
rc_snapshot_types_init(PyObject *module, rc_state *s)
{
    return rc_add_type(module, (PyTypeObject *)PyType_FromSpec(&dump_spec), &s->dump_type) ||
                   rc_add_type(module, (PyTypeObject *)PyType_FromSpec(&snap_spec),
                               &s->snapshot_type)
               ? -1
               : 0;
}
