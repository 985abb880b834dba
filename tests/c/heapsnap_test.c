/* heapsnap_test: a synthetic snapshot (dumped, loaded, exported) read back
 * with a small JSON parser: the meta data, every node and edge field, the
 * label mapping, the roots, ids, names, escaping, allocation sites; and the
 * failure paths: no path, an unwritable path, allocation failure at every
 * point. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc_counter.h"
#include "refchain/heapsnap.h"
#include "refchain/snapshot.h"
#include "testutil.h"

/* ---- a small JSON reader ------------------------------------------------ */

typedef enum { J_NUM, J_STR, J_ARR, J_OBJ } jkind;

typedef struct jv {
    jkind kind;
    double num;
    char *str; /* J_STR: decoded (UTF-8), NUL-terminated; len bytes */
    size_t len;
    struct jv *items; /* J_ARR, J_OBJ: values */
    char **keys;      /* J_OBJ */
    size_t n;
} jv;

static const char *jp;

static void
skip_ws(void)
{
    while (*jp == ' ' || *jp == '\n' || *jp == '\t' || *jp == '\r') {
        jp++;
    }
}

static void put_utf8(char *out, size_t *k, unsigned c)
{
    if (c < 0x80) {
        out[(*k)++] = (char)c;
    } else if (c < 0x800) {
        out[(*k)++] = (char)(0xC0 | c >> 6);
        out[(*k)++] = (char)(0x80 | (c & 0x3F));
    } else {
        out[(*k)++] = (char)(0xE0 | c >> 12);
        out[(*k)++] = (char)(0x80 | (c >> 6 & 0x3F));
        out[(*k)++] = (char)(0x80 | (c & 0x3F));
    }
}

static char *
parse_string(size_t *len)
{
    assert_int_equal(*jp, '"');
    jp++;
    char *out = malloc(strlen(jp) + 1);
    size_t k = 0;
    while (*jp != '"') {
        assert_true(*jp != '\0');
        assert_true((unsigned char)*jp >= 0x20);
        if (*jp == '\\') {
            jp++;
            switch (*jp) {
            case '"': case '\\': case '/': out[k++] = *jp; break;
            case 'n': out[k++] = '\n'; break;
            case 't': out[k++] = '\t'; break;
            case 'u': {
                unsigned c = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = jp[i];
                    c = c * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                }
                put_utf8(out, &k, c);
                jp += 4;
                break;
            }
            default: fail_msg("bad escape \\%c", *jp);
            }
            jp++;
        } else {
            out[k++] = *jp++;
        }
    }
    jp++;
    out[k] = '\0';
    *len = k;
    return out;
}

static void
parse_value(jv *v)
{
    skip_ws();
    memset(v, 0, sizeof *v);
    if (*jp == '"') {
        v->kind = J_STR;
        v->str = parse_string(&v->len);
    } else if (*jp == '[' || *jp == '{') {
        bool obj = *jp == '{';
        char close = obj ? '}' : ']';
        v->kind = obj ? J_OBJ : J_ARR;
        jp++;
        size_t cap = 16;
        v->items = malloc(cap * sizeof *v->items);
        v->keys = obj ? malloc(cap * sizeof *v->keys) : NULL;
        skip_ws();
        while (*jp != close) {
            if (v->n) {
                assert_int_equal(*jp, ',');
                jp++;
                skip_ws();
            }
            if (v->n == cap) {
                cap *= 2;
                v->items = realloc(v->items, cap * sizeof *v->items);
                if (obj) {
                    v->keys = realloc(v->keys, cap * sizeof *v->keys);
                }
            }
            if (obj) {
                size_t kl;
                v->keys[v->n] = parse_string(&kl);
                skip_ws();
                assert_int_equal(*jp, ':');
                jp++;
            }
            parse_value(&v->items[v->n++]);
            skip_ws();
        }
        jp++;
    } else {
        /* Non-negative integers only: what memlab's reader accepts. */
        assert_true(*jp >= '0' && *jp <= '9');
        v->kind = J_NUM;
        while (*jp >= '0' && *jp <= '9') {
            v->num = v->num * 10 + (*jp++ - '0');
        }
        assert_true(*jp == ',' || *jp == ']' || *jp == '}' || *jp == '\n' || *jp == ' ');
    }
}

static void
jv_free(jv *v)
{
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys) {
            free(v->keys[i]);
        }
    }
    free(v->items);
    free(v->keys);
}

static jv *
get(jv *o, const char *key)
{
    assert_int_equal(o->kind, J_OBJ);
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->keys[i], key) == 0) {
            return &o->items[i];
        }
    }
    fail_msg("no key %s", key);
    return NULL;
}

static double
num(jv *a, size_t i)
{
    assert_int_equal(a->kind, J_ARR);
    assert_true(i < a->n);
    assert_int_equal(a->items[i].kind, J_NUM);
    return a->items[i].num;
}

static const char *
str_at(jv *strings, double i)
{
    assert_true((size_t)i < strings->n);
    return strings->items[(size_t)i].str;
}

/* ---- the synthetic heap ------------------------------------------------- */

static char tmpdir[64], snap_path[128], out_path[128];

/* Nodes: 0 module "app" -> 1 dict (its namespace) -> 2 dict _CACHE ->
 * 3..5 bytes; 6 a str, 7 an int, 8 a function, 9 its code, 10 a
 * mod.Klass instance, 11 a frame, 12 a class (node flag TYPE). */
enum { N = 13 };
static const char *const TYPES[] = {"module", "dict",     "bytes", "str",       "int",
                                    "function", "code",   "mod.Klass", "frame", "type"};
static const unsigned TYPE_FLAGS[] = {0, RC_TYPE_COLLECTION | RC_TYPE_DICT, 0, 0, 0, 0, 0,
                                      RC_TYPE_HEAP, 0, 0};
static const unsigned NODE_TYPE[N] = {0, 1, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 9};
static const unsigned NODE_FLAGS[N] = {[0] = RC_NODE_MODULE, [12] = RC_NODE_TYPE};
static const uint64_t NODE_SIZE[N] = {72, 1200, 4700, 1057, 1057, 1057, 60, 28, 160, 200,
                                      48, 400, UINT64_C(9000000000)};
typedef struct tedge {
    unsigned from, to;
    const char *label;
} tedge;
/* In each node's out-edge order. */
static const tedge EDGES[] = {
    {0, 1, "__dict__"},    {1, 2, "['_CACHE']"}, {1, 8, "['handler']"}, {1, 12, "['Klass']"},
    {2, 3, "[17]"},        {2, 4, "[18]"},       {2, 5, "[019]"},       {2, 7, "[(1, 2)]"},
    {8, 9, ".__code__"},   {8, 1, ".__globals__"}, {10, 12, NULL},      {10, 6, ".name"},
    {11, 10, "local 'self'"}, {11, 11, NULL},
};
enum { N_EDGES = sizeof EDGES / sizeof *EDGES };

static const rc_snap_frame FRAMES[] = {{"app.py", 10}, {"app.py", 20}, {"lib/\"q\".py", 3}};
/* Traceback 0: app.py:20 <- app.py:10; 1: lib:3 <- app.py:10; 2: empty. */
static const uint32_t TB_OFF[] = {0, 2, 4, 4};
static const uint32_t TB_FRAMES[] = {1, 0, 2, 0};
static const uint32_t NODE_TB[N] = {RC_SNAP_NONE, RC_SNAP_NONE, 0, 0, 0, 1, 2, RC_SNAP_NONE,
                                    RC_SNAP_NONE, RC_SNAP_NONE, 1, RC_SNAP_NONE, RC_SNAP_NONE};
static const rc_snap_root ROOTS[] = {{0, 1, "module app"}, {11, 6, NULL}};

static const char *
cb_label(void *ctx, rc_id from, size_t k, size_t *len)
{
    (void)ctx;
    size_t seen = 0;
    for (size_t e = 0; e < N_EDGES; e++) {
        if (EDGES[e].from == from && seen++ == k) {
            return EDGES[e].label ? encoded_label(EDGES[e].label, len) : NULL;
        }
    }
    fail_msg("no edge %u/%zu", (unsigned)from, k);
    return NULL;
}

static const char *
cb_value(void *ctx, rc_id v, size_t *len)
{
    (void)ctx;
    if (v == 6) {
        *len = 13;
        return "caf\xc3\xa9 \"q\"\n\x01\\z";
    }
    if (v == 3) {
        *len = 3;
        return "\xff\x00x";
    }
    if (v == 7) {
        *len = 2;
        return "28";
    }
    return NULL;
}

static uint32_t
cb_alloc(void *ctx, rc_id v)
{
    (void)ctx;
    return NODE_TB[v];
}

static uint32_t
cb_id(void *ctx, rc_id v)
{
    (void)ctx;
    return v == 4 ? 7 : 101 + 2 * v;
}

/* Dump the heap (with or without allocation sites) and load it back. */
static rc_snapshot *
make_snapshot(bool allocs)
{
    rc_builder *b = rc_builder_new(N);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(rc_builder_mark(b, 0x10000 + 64 * i, 0), RC_OK);
    }
    uintptr_t a;
    unsigned fl;
    rc_status st;
    for (unsigned v = 0; rc_builder_next(b, &a, &fl, &st); v++) {
        for (size_t e = 0; e < N_EDGES; e++) {
            if (EDGES[e].from == v) {
                assert_int_equal(rc_builder_edge_id(b, EDGES[e].to), RC_OK);
            }
        }
        unsigned t = NODE_TYPE[v];
        const char *dot = strrchr(TYPES[t], '.');
        uint32_t tid;
        assert_int_equal(rc_builder_type(b, 0x100 + t, TYPES[t], dot ? dot + 1 : TYPES[t],
                                         TYPE_FLAGS[t], &tid),
                         RC_OK);
        assert_int_equal(rc_builder_close(b, tid, NODE_SIZE[v], 1, NODE_FLAGS[v]), RC_OK);
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    rc_snap_tables t = {
        .edge_label = cb_label,
        .node_value = cb_value,
        .node_alloc = allocs ? cb_alloc : NULL,
        .frames = allocs ? FRAMES : NULL,
        .n_frames = allocs ? 3 : 0,
        .traceback_off = allocs ? TB_OFF : NULL,
        .traceback_frames = allocs ? TB_FRAMES : NULL,
        .n_tracebacks = allocs ? 3 : 0,
        .roots = ROOTS,
        .n_roots = 2,
        .node_id = cb_id,
    };
    return dump_and_load(g, &t, snap_path);
}

static char *
slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
    d[n] = '\0';
    fclose(f);
    return d;
}

static void
export_and_parse(const rc_snapshot *s, jv *root)
{
    char err[256];
    if (rc_heapsnap_export(s, out_path, err, sizeof err) != RC_SNAP_OK) {
        fail_msg("%s", err);
    }
    struct stat sb;
    assert_int_equal(stat(out_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *text = slurp(out_path);
    jp = text;
    parse_value(root);
    skip_ws();
    assert_int_equal(*jp, '\0');
    free(text);
}

static int
dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

enum { F_TYPE, F_NAME, F_ID, F_SIZE, F_EDGES, F_TRACE, NF };

static void
test_structure(void **state)
{
    (void)state;
    rc_snapshot *s = make_snapshot(true);
    jv root;
    export_and_parse(s, &root);
    jv *snap = get(&root, "snapshot"), *meta = get(snap, "meta");
    jv *nf = get(meta, "node_fields");
    assert_int_equal(nf->n, NF);
    assert_string_equal(nf->items[F_TRACE].str, "trace_node_id");
    jv *ntypes = &get(meta, "node_types")->items[0], *etypes = &get(meta, "edge_types")->items[0];
    jv *nodes = get(&root, "nodes"), *edges = get(&root, "edges"), *strings = get(&root, "strings");
    assert_int_equal(get(snap, "node_count")->num, N + 1);
    assert_int_equal(get(snap, "edge_count")->num, N_EDGES + 2);
    assert_int_equal(nodes->n, NF * (N + 1));
    assert_int_equal(edges->n, 3 * (N_EDGES + 2));
#define NODE_TYPE_NAME(i) ntypes->items[(size_t)num(nodes, NF * (i) + F_TYPE)].str
#define NODE_NAME(i) str_at(strings, num(nodes, NF * (i) + F_NAME))
    /* Node 0: the synthetic root, id 3, one edge a root. */
    assert_string_equal(NODE_TYPE_NAME(0), "synthetic");
    assert_string_equal(NODE_NAME(0), "(GC roots)");
    assert_int_equal(num(nodes, F_ID), 3);
    assert_int_equal(num(nodes, F_EDGES), 2);
    /* The nodes. */
    static const char *const kinds[N] = {"object", "array", "array", "string", "string",
                                         "string", "string", "number", "closure", "code",
                                         "object", "hidden", "object"};
    for (unsigned v = 0; v < N; v++) {
        unsigned i = v + 1;
        assert_string_equal(NODE_TYPE_NAME(i), kinds[v]);
        assert_int_equal(num(nodes, NF * i + F_ID), cb_id(NULL, v));
        assert_int_equal(num(nodes, NF * i + F_SIZE),
                         NODE_SIZE[v] > UINT32_MAX ? UINT32_MAX : NODE_SIZE[v]);
        unsigned deg = 0;
        for (size_t e = 0; e < N_EDGES; e++) {
            deg += EDGES[e].from == v;
        }
        assert_int_equal(num(nodes, NF * i + F_EDGES), deg);
        /* Names: the type's, but a str's value (escaped, read back). */
        if (v == 6) {
            assert_string_equal(NODE_NAME(i), "caf\xc3\xa9 \"q\"\n\x01\\z");
        } else {
            assert_string_equal(NODE_NAME(i), TYPES[NODE_TYPE[v]]);
        }
    }
    /* Root edges: named by the root's text, else its kind. */
    assert_string_equal(etypes->items[(size_t)num(edges, 0)].str, "property");
    assert_string_equal(str_at(strings, num(edges, 1)), "module app");
    assert_int_equal(num(edges, 2), NF * 1);
    assert_string_equal(str_at(strings, num(edges, 4)), "root of kind 6");
    assert_int_equal(num(edges, 5), NF * 12);
    /* The labelled edges, in node order. */
    static const struct {
        const char *type, *name;
        unsigned index;
    } want[N_EDGES] = {
        {"internal", "__dict__", 0}, {"property", "_CACHE", 0},   {"property", "handler", 0},
        {"property", "Klass", 0},    {"element", NULL, 17},       {"element", NULL, 18},
        {"property", "[019]", 0},    {"property", "[(1, 2)]", 0}, {"property", "__code__", 0},
        {"property", "__globals__", 0}, {"hidden", NULL, 0},      {"property", "name", 0},
        {"internal", "local 'self'", 0}, {"hidden", NULL, 1},
    };
    for (size_t e = 0; e < N_EDGES; e++) {
        size_t at = 3 * (e + 2);
        assert_string_equal(etypes->items[(size_t)num(edges, at)].str, want[e].type);
        if (want[e].name) {
            assert_string_equal(str_at(strings, num(edges, at + 1)), want[e].name);
        } else {
            assert_int_equal(num(edges, at + 1), want[e].index);
        }
        assert_int_equal(num(edges, at + 2), NF * (EDGES[e].to + 1));
    }
    /* Allocation sites: (root) -> app.py:10 -> {app.py:20, lib:3}. */
    jv *fi = get(&root, "trace_function_infos"), *tree = get(&root, "trace_tree");
    assert_int_equal(get(snap, "trace_function_count")->num, 4);
    assert_int_equal(fi->n, 6 * 4);
    assert_string_equal(str_at(strings, num(fi, 1)), "(root)");
    assert_string_equal(str_at(strings, num(fi, 6 * 3 + 1)), "lib/\"q\".py:3");
    assert_string_equal(str_at(strings, num(fi, 6 * 3 + 2)), "lib/\"q\".py");
    assert_int_equal(num(fi, 6 * 2 + 4), 20);
    assert_int_equal(tree->n, 5);
    assert_int_equal(num(tree, 0), 1); /* the root's id */
    jv *top = &tree->items[4];
    assert_int_equal(top->n, 5);       /* one child: app.py:10 */
    assert_int_equal(num(top, 1), 1);  /* function 1 = frame 0 */
    jv *leaves = &top->items[4];
    assert_int_equal(leaves->n, 10);
    for (size_t c = 0; c < 2; c++) {
        unsigned func = (unsigned)num(leaves, 5 * c + 1), id = (unsigned)num(leaves, 5 * c);
        unsigned count = func == 2 ? 3 : 2;
        uint64_t size = func == 2 ? 4700 + 1057 + 1057 : 1057 + 48;
        assert_true(func == 2 || func == 3);
        assert_int_equal(num(leaves, 5 * c + 2), count);
        assert_int_equal(num(leaves, 5 * c + 3), size);
        assert_int_equal(leaves->items[5 * c + 4].n, 0);
        /* The nodes allocated there point at it. */
        for (unsigned v = 0; v < N; v++) {
            bool here = NODE_TB[v] == (func == 2 ? 0u : 1u);
            if (here) {
                assert_int_equal(num(nodes, NF * (v + 1) + F_TRACE), id);
            }
        }
    }
    /* No traceback, or an empty one: no trace node. */
    assert_int_equal(num(nodes, NF * 1 + F_TRACE), 0);
    assert_int_equal(num(nodes, NF * 7 + F_TRACE), 0);
    jv_free(&root);
    rc_snapshot_free(s);
}

static void
test_without_allocation_sites(void **state)
{
    (void)state;
    rc_snapshot *s = make_snapshot(false);
    jv root;
    export_and_parse(s, &root);
    assert_int_equal(get(&root, "trace_function_infos")->n, 0);
    assert_int_equal(get(&root, "trace_tree")->n, 0);
    assert_int_equal(get(get(&root, "snapshot"), "trace_function_count")->num, 0);
    jv *nodes = get(&root, "nodes");
    for (unsigned i = 0; i <= N; i++) {
        assert_int_equal(num(nodes, NF * i + F_TRACE), 0);
    }
    jv_free(&root);
    rc_snapshot_free(s);
}

static void
test_failures(void **state)
{
    (void)state;
    rc_snapshot *s = make_snapshot(true);
    char err[256];
    assert_int_equal(rc_heapsnap_export(s, NULL, err, sizeof err), RC_SNAP_EINVAL);
    assert_int_equal(rc_heapsnap_export(NULL, out_path, err, sizeof err), RC_SNAP_EINVAL);
    assert_int_equal(rc_heapsnap_export(s, "/nonexistent/dir/x.heapsnapshot", err, sizeof err),
                     RC_SNAP_EIO);
    assert_non_null(strstr(err, "/nonexistent/dir/x.heapsnapshot: cannot create"));
    assert_int_equal(errno, ENOENT);
    /* A directory or a FIFO as the path: EIO (EISDIR, EEXIST), never
     * replaced, no temporary file. */
    char dir_path[160];
    snprintf(dir_path, sizeof dir_path, "%s/adir", tmpdir);
    assert_int_equal(mkdir(dir_path, 0700), 0);
    int before = dir_entries();
    assert_int_equal(rc_heapsnap_export(s, dir_path, err, sizeof err), RC_SNAP_EIO);
    assert_int_equal(errno, EISDIR);
    assert_non_null(strstr(err, "a directory, not a file name"));
    assert_int_equal(dir_entries(), before);
    rmdir(dir_path);
    assert_int_equal(mkfifo(dir_path, 0600), 0);
    assert_int_equal(rc_heapsnap_export(s, dir_path, err, sizeof err), RC_SNAP_EIO);
    assert_int_equal(errno, EEXIST);
    assert_non_null(strstr(err, "a FIFO is there"));
    struct stat fifo;
    assert_int_equal(lstat(dir_path, &fifo), 0);
    assert_true(S_ISFIFO(fifo.st_mode));
    assert_int_equal(dir_entries(), before);
    unlink(dir_path);
    /* Allocation failure at every point: ENOMEM, nothing leaked, the old
     * file untouched, no temporary file left. */
    unlink(out_path);
    FILE *f = fopen(out_path, "w");
    fputs("old", f);
    fclose(f);
    before = dir_entries();
    use_counting_allocator();
    long base = live_blocks;
    long k = 0;
    for (;; k++) {
        rc_alloc_fail_after(k);
        rc_snap_status st = rc_heapsnap_export(s, out_path, err, sizeof err);
        rc_alloc_fail_after(-1);
        assert_int_equal(live_blocks, base);
        assert_int_equal(dir_entries(), before);
        if (st == RC_SNAP_OK) {
            break;
        }
        assert_int_equal(st, RC_SNAP_ENOMEM);
        assert_non_null(strstr(err, "out of memory"));
        char *old = slurp(out_path);
        assert_string_equal(old, "old");
        free(old);
    }
    assert_true(k >= 10);
    use_default_allocator();
    rc_snapshot_free(s);
}

static int
setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/rc_heapsnap_test.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return -1;
    }
    snprintf(snap_path, sizeof snap_path, "%s/heap.rcsnap", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/heap.heapsnapshot", tmpdir);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    unlink(snap_path);
    unlink(out_path);
    return rmdir(tmpdir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_without_allocation_sites),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
