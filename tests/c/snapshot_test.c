/* snapshot_test: dump and load round trips on random graphs with every side
 * table present and absent, allocation failure at every point of both,
 * truncation at every offset, byte flips, hand-made hostile bodies, and the
 * atomic write. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "alloc_counter.h"
#include "refchain/snapshot.h"
#include "testutil.h"

/* ---- a random graph and its tables ---------------------------------- */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static unsigned
rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

typedef struct fixture {
    unsigned n;
    uintptr_t *addr;
    unsigned *type, *flags, *deg;
    uint64_t *size, *refcnt;
    unsigned **out;
    unsigned **label; /* index into LABELS, or ~0u for none */
    char (*value)[48];
    size_t *value_len; /* SIZE_MAX: none */
    uint32_t *alloc;
    uint32_t *id;
    rc_snap_tables tables;
} fixture;

/* fixture_make()'s `sections`: the RC_SNAP_* callbacks to set, and these
 * tables. */
enum {
    FIX_FRAMES = 1 << 5, /* the frame and traceback tables */
    FIX_ROOTS = 1 << 6,  /* roots and facts */
    FIX_ALL = RC_SNAP_LABELS | RC_SNAP_VALUES | RC_SNAP_ALLOCS | RC_SNAP_IDS | FIX_FRAMES |
              FIX_ROOTS,
};

static const char *const TYPE_NAMES[] = {"dict", "list", "builtins.str", "tuple",
                                         "mod.Kl\xc3\xa4sse", "int", "frame", "cell"};
enum { N_TYPES = sizeof TYPE_NAMES / sizeof *TYPE_NAMES };
/* The last is longer than the writer's queue of labels holds (LABEL_COPY). */
#define LONG_KEY "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
static const char *const LABELS[] = {"['x']", ".attr", "[0]", "[1]", "[2]", "[3]",
                                     "__dict__", "['caf\xc3\xa9']", "", "f_locals['self']",
                                     "['" LONG_KEY LONG_KEY LONG_KEY "']"};
enum { N_LABELS = sizeof LABELS / sizeof *LABELS };
static const rc_snap_frame FRAMES[] = {{"app.py", 10}, {"app.py", 12}, {"lib/x.py", 1},
                                       {"<frozen importlib._bootstrap>", 4000000000u}};
static const uint32_t TB_OFF[] = {0, 1, 3, 3, 7};
static const uint32_t TB_FRAMES[] = {0, 1, 2, 3, 3, 2, 0};
static const rc_snap_fact FACTS[] = {{"pid", "4242"}, {"argv", "python -m svc --port 80"},
                                     {"python", "3.12.1 (main) [GCC]"}, {"empty", ""}};

static const char *
cb_label(void *ctx, rc_id from, size_t k, size_t *len)
{
    fixture *f = ctx;
    unsigned l = f->label[from][k];
    if (l == ~0u) {
        return NULL;
    }
    *len = strlen(LABELS[l]);
    return LABELS[l];
}

static const char *
cb_value(void *ctx, rc_id v, size_t *len)
{
    fixture *f = ctx;
    if (f->value_len[v] == SIZE_MAX) {
        return NULL;
    }
    *len = f->value_len[v];
    return f->value[v];
}

static uint32_t
cb_alloc(void *ctx, rc_id v)
{
    return ((fixture *)ctx)->alloc[v];
}

static uint32_t
cb_id(void *ctx, rc_id v)
{
    return ((fixture *)ctx)->id[v];
}

static rc_snap_root roots[6];

/* How fixture_make spaces addresses: like an arena allocator's (0), each
 * in a 64 KiB range of its own (1), or not 8-byte aligned (2).  The loader
 * checks the first as it reads and the others by sorting. */
static int addr_spread;

/* A random fixture of n nodes.  Addresses grow in small steps with
 * occasional jumps, like an arena allocator's (see addr_spread). */
static void
fixture_make(fixture *f, unsigned n, uint64_t seed, unsigned sections)
{
    rng_state = seed * 2654435761u + 1;
    memset(f, 0, sizeof *f);
    f->n = n;
    f->addr = calloc(n + 1, sizeof *f->addr);
    f->type = calloc(n + 1, sizeof *f->type);
    f->flags = calloc(n + 1, sizeof *f->flags);
    f->deg = calloc(n + 1, sizeof *f->deg);
    f->size = calloc(n + 1, sizeof *f->size);
    f->refcnt = calloc(n + 1, sizeof *f->refcnt);
    f->out = calloc(n + 1, sizeof *f->out);
    f->label = calloc(n + 1, sizeof *f->label);
    f->value = calloc(n + 1, sizeof *f->value);
    f->value_len = calloc(n + 1, sizeof *f->value_len);
    f->alloc = calloc(n + 1, sizeof *f->alloc);
    f->id = calloc(n + 1, sizeof *f->id);
    /* Ids as an idmap gives them: mostly increasing odd numbers, some kept
     * from long ago, and both ends of the uint32 range. */
    uint32_t next_id = RC_SNAP_ID_FIRST + 2 * (uint32_t)rnd_below(1000);
    uintptr_t a = 0x7f0000000000u + (rnd() & 0xffff0);
    for (unsigned v = 0; v < n; v++) {
        a += addr_spread == 1 ? 0x10000 * (1 + rnd_below(3))
             : rnd_below(8)   ? 16 * (1 + rnd_below(6))
                              : (rnd() & 0xfffff0) + 16;
        f->addr[v] = addr_spread == 2 ? a + 3 : a;
        f->type[v] = rnd_below(N_TYPES);
        f->flags[v] = rnd_below(8) ? (unsigned)(rnd() & 0x3ff) : 0;
        unsigned r = rnd_below(50);
        f->size[v] = r == 0 ? UINT64_C(5000000000) + rnd_below(100) : 16 + 8 * rnd_below(40);
        f->refcnt[v] = r == 1 ? UINT32_MAX : 1 + rnd_below(5);
        f->deg[v] = rnd_below(4) == 0 ? 0 : rnd_below(7);
        f->out[v] = calloc(f->deg[v] + 1, sizeof **f->out);
        f->label[v] = calloc(f->deg[v] + 1, sizeof **f->label);
        for (unsigned k = 0; k < f->deg[v]; k++) {
            /* Mostly near neighbours, some far, some self loops. */
            unsigned near = v + rnd_below(20);
            f->out[v][k] = rnd_below(3) ? (near >= n ? near % n : near) : rnd_below(n);
            f->label[v][k] = rnd_below(6) ? rnd_below(N_LABELS) : ~0u;
        }
        /* Values: none, a name from a vocabulary, or random bytes (NULs
         * included) of up to 12 bytes. */
        unsigned kind = rnd_below(10);
        if (kind >= 7) {
            f->value_len[v] = (size_t)snprintf(f->value[v], sizeof f->value[v], "name_%u",
                                               rnd_below(500));
        } else if (kind >= 5) {
            f->value_len[v] = rnd_below(13);
            for (size_t i = 0; i < f->value_len[v]; i++) {
                f->value[v][i] = rnd_below(4) ? (char)('a' + rnd_below(4)) : (char)rnd();
            }
        } else {
            f->value_len[v] = SIZE_MAX;
        }
        f->alloc[v] = rnd_below(3) ? rnd_below(4) : RC_SNAP_NONE;
        unsigned r_id = rnd_below(40);
        f->id[v] = r_id == 0 ? UINT32_MAX : r_id == 1 ? 0 : r_id < 8 ? 1 + 2 * (uint32_t)rnd_below(next_id / 2) : (next_id += 2);
    }
    rc_snap_tables *t = &f->tables;
    t->ctx = f;
    if (sections & RC_SNAP_LABELS) {
        t->edge_label = cb_label;
    }
    if (sections & RC_SNAP_VALUES) {
        t->node_value = cb_value;
    }
    if (sections & RC_SNAP_ALLOCS) {
        t->node_alloc = cb_alloc;
    }
    if (sections & RC_SNAP_IDS) {
        t->node_id = cb_id;
    }
    if (sections & FIX_FRAMES) {
        t->frames = FRAMES;
        t->n_frames = 4;
        t->traceback_off = TB_OFF;
        t->traceback_frames = TB_FRAMES;
        t->n_tracebacks = 4;
    } else if (sections & RC_SNAP_ALLOCS) {
        for (unsigned v = 0; v < n; v++) {
            f->alloc[v] = RC_SNAP_NONE;
        }
    }
    if ((sections & FIX_ROOTS) && n) {
        static const char *const texts[] = {"module __main__", "class mod.K",
                                            "frame main() app.py:10 thread MainThread", NULL,
                                            "held by C", "\xe2\x9c\x93 ok"};
        for (unsigned i = 0; i < 6; i++) {
            roots[i] = (rc_snap_root){rnd_below(n), i * 1000u, texts[i]};
        }
        roots[4].node = roots[1].node; /* two records naming one node */
        t->roots = roots;
        t->n_roots = 6;
        t->facts = FACTS;
        t->n_facts = 4;
    }
}

static void
fixture_free(fixture *f)
{
    for (unsigned v = 0; v < f->n; v++) {
        free(f->out[v]);
        free(f->label[v]);
    }
    free(f->addr);
    free(f->type);
    free(f->flags);
    free(f->deg);
    free(f->size);
    free(f->refcnt);
    free(f->out);
    free(f->label);
    free(f->value);
    free(f->value_len);
    free(f->alloc);
    free(f->id);
}

/* The fixture's graph, built through the builder by address (the loader
 * takes the other path, by id). */
static rc_status
fixture_graph(const fixture *f, rc_graph **out)
{
    rc_builder *b = rc_builder_new(0);
    if (!b) {
        return RC_ENOMEM;
    }
    rc_status st = RC_OK;
    for (unsigned v = 0; v < f->n && st == RC_OK; v++) {
        st = rc_builder_mark(b, f->addr[v], 0);
    }
    uint32_t tids[N_TYPES];
    for (unsigned t = 0; t < N_TYPES && st == RC_OK; t++) {
        const char *dot = strrchr(TYPE_NAMES[t], '.');
        st = rc_builder_type(b, 0x5000 + 64 * t, TYPE_NAMES[t], dot ? dot + 1 : TYPE_NAMES[t],
                             t % 3 ? RC_TYPE_HEAP : RC_TYPE_DICT, &tids[t]);
    }
    uintptr_t addr;
    unsigned flags;
    for (unsigned v = 0; st == RC_OK && rc_builder_next(b, &addr, &flags, &st); v++) {
        for (unsigned k = 0; k < f->deg[v] && st == RC_OK; k++) {
            st = rc_builder_edge(b, f->addr[f->out[v][k]]);
        }
        if (st == RC_OK) {
            st = rc_builder_close(b, tids[f->type[v]], f->size[v], f->refcnt[v], f->flags[v]);
        }
    }
    if (st != RC_OK) {
        rc_builder_free(b);
        return st;
    }
    return rc_builder_freeze(b, out);
}

/* ---- files ---------------------------------------------------------- */

static char tmpdir[64];
static char path[128];

static int
setup_dir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/rc_snapshot_test.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return -1;
    }
    snprintf(path, sizeof path, "%s/heap.rcsnap", tmpdir);
    return 0;
}

static int
teardown_dir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[400];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            if (unlink(p) != 0) {
                rmdir(p);
            }
        }
    }
    if (d) {
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

/* Entries in the test directory (the snapshot, temporaries). */
static int
dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    }
    closedir(d);
    return n;
}

static unsigned char *
read_whole(const char *p, size_t *n)
{
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)len + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return data;
}

static void
write_whole(const char *p, const void *data, size_t n)
{
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

/* ---- comparing ------------------------------------------------------ */

static void
assert_same(const fixture *f, const rc_graph *g, const rc_snapshot *s)
{
    const rc_graph *h = rc_snapshot_graph(s);
    const rc_snap_tables *t = &f->tables;
    assert_int_equal(rc_graph_node_count(h), rc_graph_node_count(g));
    assert_int_equal(rc_graph_edge_count(h), rc_graph_edge_count(g));
    assert_int_equal(rc_graph_type_count(h), rc_graph_type_count(g));
    for (uint32_t i = 0; i < rc_graph_type_count(g); i++) {
        assert_string_equal(rc_graph_type_name(h, i), rc_graph_type_name(g, i));
        assert_string_equal(rc_graph_type_short_name(h, i), rc_graph_type_short_name(g, i));
        assert_int_equal(rc_graph_type_key(h, i), rc_graph_type_key(g, i));
        assert_int_equal(rc_graph_type_flags(h, i), rc_graph_type_flags(g, i));
    }
    unsigned want = (t->edge_label ? RC_SNAP_LABELS : 0) | (t->node_value ? RC_SNAP_VALUES : 0) |
                    (t->node_alloc ? RC_SNAP_ALLOCS : 0) | (t->node_id ? RC_SNAP_IDS : 0);
    assert_int_equal(rc_snapshot_sections(s), want);
    for (rc_id v = 0; v < rc_graph_node_count(g); v++) {
        assert_int_equal(rc_graph_addr(h, v), rc_graph_addr(g, v));
        assert_int_equal(rc_graph_type(h, v), rc_graph_type(g, v));
        assert_int_equal(rc_graph_size(h, v), rc_graph_size(g, v));
        assert_int_equal(rc_graph_refcnt(h, v), rc_graph_refcnt(g, v));
        assert_int_equal(rc_graph_flags(h, v), rc_graph_flags(g, v));
        size_t dg, dh;
        const rc_id *og = rc_graph_out(g, v, &dg), *oh = rc_graph_out(h, v, &dh);
        assert_int_equal(dh, dg);
        for (size_t k = 0; k < dg; k++) {
            assert_int_equal(oh[k], og[k]);
            size_t len;
            const char *want_label = t->edge_label ? cb_label(t->ctx, v, k, &len) : NULL;
            const char *got = rc_snapshot_label(s, v, k);
            if (want_label) {
                assert_non_null(got);
                assert_string_equal(got, want_label);
            } else {
                assert_null(got);
            }
        }
        size_t wl = 0, gl = 0;
        const char *wv = t->node_value ? cb_value(t->ctx, v, &wl) : NULL;
        const char *gv = rc_snapshot_value(s, v, &gl);
        assert_true(!wv == !gv);
        if (wv) {
            assert_int_equal(gl, wl);
            if (wl) {
                assert_memory_equal(gv, wv, wl);
            }
        }
        uint32_t want_id = t->node_id ? cb_id(t->ctx, v) : RC_SNAP_ID_FIRST + RC_SNAP_ID_STEP * v;
        assert_int_equal(rc_snapshot_node_id(s, v), want_id);
        uint32_t tb = t->node_alloc ? cb_alloc(t->ctx, v) : RC_SNAP_NONE;
        assert_int_equal(rc_snapshot_node_traceback(s, v), tb);
        size_t depth = tb == RC_SNAP_NONE ? 0 : t->traceback_off[tb + 1] - t->traceback_off[tb];
        assert_int_equal(rc_snapshot_alloc_depth(s, v), depth);
        for (size_t i = 0; i < depth; i++) {
            rc_snap_frame fr = rc_snapshot_alloc_frame(s, v, i);
            const rc_snap_frame *wf = &t->frames[t->traceback_frames[t->traceback_off[tb] + i]];
            assert_string_equal(fr.file, wf->file);
            assert_int_equal(fr.line, wf->line);
        }
    }
    assert_int_equal(rc_snapshot_frame_count(s), t->n_frames);
    assert_int_equal(rc_snapshot_traceback_count(s), t->n_tracebacks);
    for (size_t i = 0; i < t->n_tracebacks; i++) {
        size_t n;
        const uint32_t *fr = rc_snapshot_traceback(s, i, &n);
        assert_int_equal(n, t->traceback_off[i + 1] - t->traceback_off[i]);
        if (n) {
            assert_memory_equal(fr, t->traceback_frames + t->traceback_off[i], n * sizeof *fr);
        }
    }
    assert_int_equal(rc_snapshot_root_count(s), t->n_roots);
    for (size_t i = 0; i < t->n_roots; i++) {
        rc_snap_root r = rc_snapshot_root(s, i);
        assert_int_equal(r.node, t->roots[i].node);
        assert_int_equal(r.kind, t->roots[i].kind);
        if (t->roots[i].text) {
            assert_string_equal(r.text, t->roots[i].text);
        } else {
            assert_null(r.text);
        }
    }
    /* Each node's last root record, or none. */
    for (rc_id v = 0; v < rc_graph_node_count(rc_snapshot_graph(s)); v++) {
        uint32_t last = RC_SNAP_NONE;
        for (size_t i = 0; i < t->n_roots; i++) {
            last = t->roots[i].node == v ? (uint32_t)i : last;
        }
        assert_int_equal(rc_snapshot_root_of(s, v), last);
    }
    assert_int_equal(rc_snapshot_fact_count(s), t->n_facts);
    for (size_t i = 0; i < t->n_facts; i++) {
        rc_snap_fact fa = rc_snapshot_fact(s, i);
        assert_string_equal(fa.key, t->facts[i].key);
        assert_string_equal(fa.value, t->facts[i].value);
    }
}

/* Dump fixture f to `path`, load it back, compare; returns the file size. */
static size_t
round_trip(fixture *f, bool no_tables)
{
    rc_graph *g = NULL;
    assert_int_equal(fixture_graph(f, &g), RC_OK);
    char err[512];
    rc_snap_status st = rc_snapshot_dump(path, g, no_tables ? NULL : &f->tables, err, sizeof err);
    if (st != RC_SNAP_OK) {
        fail_msg("dump: %s", err);
    }
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    rc_snapshot *s = NULL;
    st = rc_snapshot_load(path, &s, err, sizeof err);
    if (st != RC_SNAP_OK) {
        fail_msg("load: %s", err);
    }
    if (no_tables) {
        fixture empty = *f;
        memset(&empty.tables, 0, sizeof empty.tables);
        assert_same(&empty, g, s);
    } else {
        assert_same(f, g, s);
    }
    /* The same bytes from memory load the same. */
    size_t n;
    unsigned char *data = read_whole(path, &n);
    rc_snapshot *m = NULL;
    assert_int_equal(rc_snapshot_load_mem(data, n, "mem", &m, err, sizeof err), RC_SNAP_OK);
    assert_int_equal(rc_graph_node_count(rc_snapshot_graph(m)), rc_graph_node_count(g));
    rc_snapshot_free(m);
    free(data);
    rc_snapshot_free(s);
    rc_graph_free(g);
    return (size_t)sb.st_size;
}

/* ---- round trips ---------------------------------------------------- */

static void
test_round_trip_random_graphs(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 200; seed++) {
        fixture f;
        unsigned n = seed % 25 == 0 ? (unsigned)(seed % 3) : 200 + (unsigned)(seed * 37 % 400);
        /* Every combination of the four sections and two tables first. */
        unsigned sections = seed < 64 ? (unsigned)((seed & 15) | (seed & 48) << 1) : FIX_ALL;
        fixture_make(&f, n, seed, sections);
        f.tables.workers = seed % 5 == 1;
        round_trip(&f, seed % 7 == 3);
        fixture_free(&f);
    }
}

/* Addresses a heap would not give: each in its own 64 KiB range (the set
 * the loader checks them in would outgrow its budget) or unaligned. */
static void
test_round_trip_sparse_and_unaligned_addresses(void **state)
{
    (void)state;
    for (int spread = 1; spread <= 2; spread++) {
        addr_spread = spread;
        fixture f;
        fixture_make(&f, spread == 1 ? 5000 : 700, (uint64_t)spread, FIX_ALL);
        round_trip(&f, false);
        fixture_free(&f);
    }
    addr_spread = 0;
}

static void
test_bytes_per_object(void **state)
{
    (void)state;
    enum { N = 200000 };
    const struct {
        unsigned sections;
        const char *what;
    } cases[] = {{0, "graph only"}, {RC_SNAP_LABELS, "with labels"}, {FIX_ALL, "everything"}};
    for (size_t c = 0; c < 3; c++) {
        fixture f;
        fixture_make(&f, N, 7, cases[c].sections);
        /* Several megabytes of body: zstd's thread compresses several jobs. */
        f.tables.workers = c == 2;
        size_t bytes = round_trip(&f, false);
        double per = (double)bytes / N;
        print_message("snapshot of %d random nodes (3 edges each on average), %s: "
                      "%zu bytes, %.2f bytes/object\n", N, cases[c].what, bytes, per);
        /* Random graphs are harder than heaps (random labels, values and
         * far edges); still well under the 20 bytes a real heap allows. */
        assert_true(per < 20.0);
        fixture_free(&f);
    }
}

static void
test_empty_graph_and_no_tables(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, 0, 1, FIX_ALL);
    round_trip(&f, false);
    round_trip(&f, true);
    fixture_free(&f);
}

/* ---- allocation failure --------------------------------------------- */

static void
test_dump_allocation_failure_at_every_point(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, 300, 11, FIX_ALL);
    rc_graph *g = NULL;
    assert_int_equal(fixture_graph(&f, &g), RC_OK);
    use_counting_allocator();
    long base = live_blocks;
    /* Compressing in the caller's thread, then beside it in zstd's (whose
     * allocations fail too). */
    for (unsigned workers = 0; workers < 2; workers++) {
        f.tables.workers = workers;
        for (long k = 0;; k++) {
            unlink(path);
            rc_alloc_fail_after(k);
            char err[256];
            rc_snap_status st = rc_snapshot_dump(path, g, &f.tables, err, sizeof err);
            rc_alloc_fail_after(-1);
            assert_int_equal(live_blocks, base);
            if (st == RC_SNAP_OK) {
                assert_int_equal(dir_entries(), 1);
                break;
            }
            assert_int_equal(st, RC_SNAP_ENOMEM);
            assert_non_null(strstr(err, path));
            assert_int_equal(dir_entries(), 0); /* no final file, no temporary */
        }
    }
    use_default_allocator();
    rc_graph_free(g);
    fixture_free(&f);
}

/* An allocator that fails only its call number `one_failure_at` (0 is
 * the first), counting blocks as alloc_counter.h does. */
static atomic_long one_failure_at;

static void *
one_failure_malloc(size_t n)
{
    return atomic_fetch_sub(&one_failure_at, 1) == 0 ? NULL : counting_malloc(n);
}

static void *
one_failure_realloc(void *p, size_t n)
{
    return atomic_fetch_sub(&one_failure_at, 1) == 0 ? NULL : counting_realloc(p, n);
}

static void
test_dump_with_one_failed_allocation(void **state)
{
    /* One allocation fails, wherever it is: the dump fails cleanly, or,
     * where zstd cannot have its thread, compresses in the caller's and
     * writes a whole file. */
    (void)state;
    fixture f;
    fixture_make(&f, 40000, 11, FIX_ALL); /* several stages: zstd's thread starts */
    f.tables.workers = 1;
    rc_graph *g = NULL;
    assert_int_equal(fixture_graph(&f, &g), RC_OK);
    static const rc_allocator one = {one_failure_malloc, one_failure_realloc, counting_free};
    size_t ok = 0, failed = 0;
    for (long k = 0;; k++) {
        unlink(path);
        rc_set_allocator(&one);
        live_blocks = 0;
        atomic_store(&one_failure_at, k);
        char err[256];
        rc_snap_status st = rc_snapshot_dump(path, g, &f.tables, err, sizeof err);
        bool reached = atomic_load(&one_failure_at) < 0;
        use_default_allocator();
        assert_int_equal(live_blocks, 0);
        if (st != RC_SNAP_OK) {
            assert_int_equal(st, RC_SNAP_ENOMEM);
            assert_int_equal(dir_entries(), 0);
            failed++;
            continue;
        }
        rc_snapshot *s = NULL;
        assert_int_equal(rc_snapshot_load(path, &s, err, sizeof err), RC_SNAP_OK);
        assert_same(&f, g, s);
        rc_snapshot_free(s);
        ok++;
        if (!reached) {
            break; /* k is past the dump's last allocation */
        }
    }
    assert_true(failed > 0);
    print_message("one failed allocation: %zu dumps failed cleanly, %zu wrote a whole file\n",
                  failed, ok);
    rc_graph_free(g);
    fixture_free(&f);
}

/* pthread_create, as libzstd calls it, refused while refuse_threads is
 * set: a process at its thread limit (a container's pids.max). */
static atomic_int refuse_threads, threads_refused;

__attribute__((visibility("default"))) int
pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*run)(void *), void *arg)
{
    typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (atomic_load(&refuse_threads)) {
        atomic_fetch_add(&threads_refused, 1);
        return EAGAIN;
    }
    create_fn real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    return real ? real(t, attr, run, arg) : EAGAIN;
}

static void
test_dump_without_a_thread_for_zstd(void **state)
{
    /* A body of several stages, so that zstd starts its thread (a small
     * one is compressed at the end, in the caller's). */
    (void)state;
    fixture f;
    fixture_make(&f, 40000, 5, FIX_ALL);
    f.tables.workers = 1;
    atomic_store(&refuse_threads, 1);
    round_trip(&f, false);
    atomic_store(&refuse_threads, 0);
    assert_true(atomic_load(&threads_refused) > 0);
    fixture_free(&f);
}

static void
test_load_allocation_failure_at_every_point(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, 300, 12, FIX_ALL);
    rc_graph *g = NULL;
    assert_int_equal(fixture_graph(&f, &g), RC_OK);
    assert_int_equal(rc_snapshot_dump(path, g, &f.tables, NULL, 0), RC_SNAP_OK);
    use_counting_allocator();
    for (int from_file = 0; from_file < 2; from_file++) {
        size_t n;
        unsigned char *data = read_whole(path, &n);
        for (long k = 0;; k++) {
            rc_alloc_fail_after(k);
            rc_snapshot *s = NULL;
            char err[256];
            rc_snap_status st = from_file ? rc_snapshot_load(path, &s, err, sizeof err)
                                          : rc_snapshot_load_mem(data, n, "m", &s, err, sizeof err);
            rc_alloc_fail_after(-1);
            if (st == RC_SNAP_OK) {
                assert_same(&f, g, s);
                rc_snapshot_free(s);
                assert_int_equal(live_blocks, 0);
                break;
            }
            assert_int_equal(st, RC_SNAP_ENOMEM);
            assert_null(s);
            assert_int_equal(live_blocks, 0);
        }
        free(data);
    }
    use_default_allocator();
    rc_graph_free(g);
    fixture_free(&f);
}

/* ---- corruption ----------------------------------------------------- */

/* Load data[0..n) from memory: either it fails with a message naming the
 * file, or it loads (a flip zstd's checksum cannot see, such as one in the
 * frame header's unused bits) into something every accessor can read. */
static rc_snap_status
load_any(const unsigned char *data, size_t n)
{
    rc_snapshot *s = NULL;
    char err[512] = "";
    rc_snap_status st = rc_snapshot_load_mem(data, n, "bad.rcsnap", &s, err, sizeof err);
    if (st != RC_SNAP_OK) {
        assert_null(s);
        assert_true(strncmp(err, "bad.rcsnap: ", 12) == 0);
        assert_true(strlen(err) > 14);
        return st;
    }
    const rc_graph *g = rc_snapshot_graph(s);
    for (rc_id v = 0; v < rc_graph_node_count(g); v++) {
        size_t deg, len;
        rc_graph_out(g, v, &deg);
        for (size_t k = 0; k < deg; k++) {
            rc_snapshot_label(s, v, k);
        }
        rc_snapshot_value(s, v, &len);
        for (size_t i = 0; i < rc_snapshot_alloc_depth(s, v); i++) {
            rc_snapshot_alloc_frame(s, v, i);
        }
    }
    rc_snapshot_free(s);
    return st;
}

static unsigned char *
small_file(size_t *n)
{
    fixture f;
    fixture_make(&f, 40, 5, FIX_ALL);
    rc_graph *g = NULL;
    assert_int_equal(fixture_graph(&f, &g), RC_OK);
    assert_int_equal(rc_snapshot_dump(path, g, &f.tables, NULL, 0), RC_SNAP_OK);
    rc_graph_free(g);
    fixture_free(&f);
    return read_whole(path, n);
}

static void
test_truncation_at_every_offset(void **state)
{
    (void)state;
    size_t n;
    unsigned char *data = small_file(&n);
    for (size_t len = 0; len < n; len++) {
        unsigned char *copy = malloc(len + 1); /* exact size: ASan sees overreads */
        memcpy(copy, data, len);
        assert_int_equal(load_any(copy, len), RC_SNAP_EFORMAT);
        free(copy);
    }
    /* And through a file, once per a few offsets. */
    for (size_t len = 0; len < n; len += 7) {
        write_whole(path, data, len);
        rc_snapshot *s = NULL;
        char err[512];
        assert_int_equal(rc_snapshot_load(path, &s, err, sizeof err), RC_SNAP_EFORMAT);
        assert_non_null(strstr(err, path));
    }
    free(data);
}

static void
test_byte_flips(void **state)
{
    (void)state;
    size_t n;
    unsigned char *data = small_file(&n);
    unsigned char *copy = malloc(n);
    size_t loaded = 0;
    for (size_t i = 0; i < n; i++) {
        for (unsigned bit = 0; bit < 8; bit += 3) {
            memcpy(copy, data, n);
            copy[i] ^= (unsigned char)(1u << bit);
            loaded += load_any(copy, n) == RC_SNAP_OK;
        }
        memcpy(copy, data, n);
        copy[i] = (unsigned char)rnd();
        loaded += load_any(copy, n) == RC_SNAP_OK;
    }
    /* zstd's checksum catches nearly every flip in the body. */
    assert_true(loaded < n / 10);
    /* Trailing bytes after the frame. */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, data, n);
    longer[n] = 0;
    assert_int_equal(load_any(longer, n + 1), RC_SNAP_EFORMAT);
    free(longer);
    free(copy);
    free(data);
}

/* A hand-made file: the prefix (with `version`), then `body` compressed. */
typedef struct body {
    unsigned char b[1 << 16];
    size_t n;
} body;

static void
put(body *b, uint64_t v)
{
    while (v >= 0x80) {
        b->b[b->n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b->b[b->n++] = (unsigned char)v;
}

static void
put_str(body *b, const char *s)
{
    put(b, 1);
    put(b, strlen(s));
    memcpy(b->b + b->n, s, strlen(s));
    b->n += strlen(s);
}

static uint64_t
zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* The 24-byte prefix: magic, version, flags 0, the body size declared. */
static void
prefix(unsigned char *p, uint32_t version, uint64_t body_size)
{
    memcpy(p, "\x89RCSNAP\n", 8);
    memset(p + 8, 0, 16);
    for (int i = 0; i < 4; i++) {
        p[8 + i] = (unsigned char)(version >> (8 * i));
    }
    for (int i = 0; i < 8; i++) {
        p[16 + i] = (unsigned char)(body_size >> (8 * i));
    }
}

/* Compress raw[0..n) behind a prefix declaring `declared` bytes of body
 * (the true size when declared is UINT64_MAX); *len receives the size. */
static unsigned char *
make_file(const void *raw, size_t n, uint32_t version, uint64_t declared, int level, size_t *len)
{
    size_t cap = 24 + ZSTD_compressBound(n);
    unsigned char *file = malloc(cap);
    prefix(file, version, declared == UINT64_MAX ? n : declared);
    size_t z = ZSTD_compress(file + 24, cap - 24, raw, n, level);
    assert_false(ZSTD_isError(z));
    *len = 24 + z;
    return file;
}

static rc_snap_status
load_body(const body *b, uint32_t version, char *err, size_t errlen)
{
    size_t len;
    unsigned char *file = make_file(b->b, b->n, version, UINT64_MAX, 3, &len);
    rc_snapshot *s = NULL;
    rc_snap_status st = rc_snapshot_load_mem(file, len, "hostile.rcsnap", &s, err, errlen);
    if (st == RC_SNAP_OK) {
        rc_snapshot_free(s);
    }
    free(file);
    return st;
}

/* A valid body of two nodes (0 -> 1, 1 -> 0), written field by field;
 * `bad` picks a field to make hostile. */
enum bad {
    OK,
    HUGE_NODES,
    TOO_MANY_IDS,
    UNKNOWN_SECTION,
    TYPE_SELF_REF,
    TYPE_FORWARD_REF,
    DUP_TYPE_KEY,
    ZERO_ADDR,
    DUP_ADDR,
    DUP_ADDR_UNALIGNED, /* checked by sorting, after the graph is built */
    TYPE_OUT_OF_RANGE,
    EDGE_OUT_OF_RANGE,
    EDGE_NEGATIVE,
    DEGREE_PAST_HEADER,
    FEWER_EDGES,
    BAD_UTF8_LABEL,
    LONG_VALUE,
    TRACEBACK_OUT_OF_RANGE,
    FRAME_OUT_OF_RANGE,
    ROOT_OUT_OF_RANGE,
    FLAGS_TOO_BIG,
    VARINT_TOO_LONG,
    BAD_TRAILER,
    DATA_AFTER_TRAILER,
    ID_NEGATIVE,
    ID_TOO_BIG,
    N_BAD
};

static void
make_body(body *b, enum bad bad)
{
    b->n = 0;
    /* n_types, n_nodes, n_edges, sections, frames, tracebacks, tb frames,
     * roots, facts */
    put(b, 1);
    put(b, bad == HUGE_NODES ? UINT64_C(1) << 31 : bad == TOO_MANY_IDS ? UINT64_C(1) << 40 : 2);
    put(b, bad == FEWER_EDGES ? 3 : 2);
    put(b, bad == UNKNOWN_SECTION ? 16 : 15);
    put(b, 1);
    put(b, 1);
    put(b, 1);
    put(b, 1);
    put(b, 1);
    /* type 0 */
    put(b, 0x1000);
    put(b, 0);
    if (bad == TYPE_SELF_REF) {
        put(b, 2); /* string 0: the one this entry would define */
    } else if (bad == TYPE_FORWARD_REF) {
        put(b, 9);
    } else {
        put_str(b, "object");
    }
    put(b, 2); /* short name: string 0 again */
    if (bad == DUP_TYPE_KEY) {
        /* handled by announcing two types: rewrite the count */
    }
    /* frame 0, traceback 0 */
    put(b, 2);
    put(b, 7);
    put(b, 1);
    put(b, bad == FRAME_OUT_OF_RANGE ? 1 : 0);
    /* addresses */
    put(b, zz(bad == ZERO_ADDR ? 0 : bad == DUP_ADDR_UNALIGNED ? 0x1003 : 0x1000));
    put(b, zz(bad == DUP_ADDR || bad == DUP_ADDR_UNALIGNED ? 0 : 0x20));
    /* node 0: type, size, refcnt, flags, degree, target, label, value, alloc */
    put(b, bad == TYPE_OUT_OF_RANGE ? 1 : 0);
    put(b, 32);
    put(b, 1);
    put(b, bad == FLAGS_TOO_BIG ? 0x10000 : 3);
    put(b, bad == DEGREE_PAST_HEADER ? 3 : 1);
    put(b, bad == EDGE_OUT_OF_RANGE ? zz(2) : bad == EDGE_NEGATIVE ? zz(-1) : zz(1));
    if (bad == BAD_UTF8_LABEL) {
        put_str(b, "['\xff']");
    } else {
        put_str(b, "['x']");
    }
    if (bad == LONG_VALUE) {
        put(b, 1);
        put(b, RC_SNAP_MAX_VALUE + 1);
        memset(b->b + b->n, 'v', RC_SNAP_MAX_VALUE + 1);
        b->n += RC_SNAP_MAX_VALUE + 1;
    } else {
        put_str(b, "v");
    }
    put(b, bad == TRACEBACK_OUT_OF_RANGE ? 2 : 1);
    put(b, bad == ID_NEGATIVE ? zz(-1) : zz(5)); /* id 5 */
    /* node 1 */
    if (bad == VARINT_TOO_LONG) {
        for (int i = 0; i < 10; i++) {
            b->b[b->n++] = 0xff;
        }
        b->b[b->n++] = 0x01;
    } else {
        put(b, 0);
    }
    put(b, UINT64_C(6000000000));
    put(b, UINT32_MAX);
    put(b, 0);
    put(b, 1);
    put(b, zz(-1));
    put(b, 0);
    put(b, 0);
    put(b, 0);
    /* id 7, or 5 + (2**32 - 5) = 2**32 */
    put(b, bad == ID_TOO_BIG ? zz((int64_t)UINT32_MAX - 4) : zz(2));
    /* root, fact */
    put(b, bad == ROOT_OUT_OF_RANGE ? 2 : 1);
    put(b, 4);
    put(b, 0);
    put_str(b, "pid");
    put(b, 5);
    /* trailer: strings object, ['x'], v, pid */
    put(b, bad == BAD_TRAILER ? 99 : 4);
    memcpy(b->b + b->n, "END", 3);
    b->n += 3;
    if (bad == DATA_AFTER_TRAILER) {
        put(b, 0);
    }
}

static void
test_hostile_bodies(void **state)
{
    (void)state;
    body *b = malloc(sizeof *b);
    char err[512];
    make_body(b, OK);
    rc_snap_status st = load_body(b, RC_SNAP_VERSION, err, sizeof err);
    if (st != RC_SNAP_OK) {
        fail_msg("the valid hand-made body fails: %s", err);
    }
    static const char *const expect[N_BAD] = {
        [HUGE_NODES] = "announces 2147483648 nodes, more than its declared",
        [TOO_MANY_IDS] = "more than 2**32 - 2",
        [UNKNOWN_SECTION] = "unknown sections",
        [TYPE_SELF_REF] = "refers to string 0, but only 0 are defined",
        [TYPE_FORWARD_REF] = "refers to string 7",
        [ZERO_ADDR] = "has address 0",
        [DUP_ADDR] = "node 1 has the address of an earlier node, 0x1000",
        [DUP_ADDR_UNALIGNED] = "the address table: two nodes have the address 0x1003",
        [TYPE_OUT_OF_RANGE] = "node 0: the type is 1, more than 0",
        [EDGE_OUT_OF_RANGE] = "node 0: edge 0 points outside the 2 nodes",
        [EDGE_NEGATIVE] = "edge 0 points outside",
        [DEGREE_PAST_HEADER] = "the out-degree is 3, more than 2",
        [FEWER_EDGES] = "the nodes hold 2 edges, the header says 3",
        [BAD_UTF8_LABEL] = "an edge label is not valid UTF-8",
        [LONG_VALUE] = "a string's length is 4097, more than 4096",
        [TRACEBACK_OUT_OF_RANGE] = "the traceback is 2, more than 1",
        [FRAME_OUT_OF_RANGE] = "a frame index is 1, more than 0",
        [ROOT_OUT_OF_RANGE] = "root 0 names node 2 of 2",
        [FLAGS_TOO_BIG] = "the flags is 65536",
        [VARINT_TOO_LONG] = "does not fit in 64 bits",
        [BAD_TRAILER] = "the trailer is wrong",
        [DATA_AFTER_TRAILER] = "data follows the trailer",
        [ID_NEGATIVE] = "node 0: its object id does not fit in 32 bits",
        [ID_TOO_BIG] = "node 1: its object id does not fit in 32 bits",
    };
    for (int bad = OK + 1; bad < N_BAD; bad++) {
        if (bad == DUP_TYPE_KEY) {
            continue;
        }
        make_body(b, (enum bad)bad);
        st = load_body(b, RC_SNAP_VERSION, err, sizeof err);
        assert_int_equal(st, bad == TOO_MANY_IDS ? RC_SNAP_ETOOBIG : RC_SNAP_EFORMAT);
        assert_true(strncmp(err, "hostile.rcsnap: ", 16) == 0);
        if (!strstr(err, expect[bad])) {
            fail_msg("case %d: \"%s\" lacks \"%s\"", bad, err, expect[bad]);
        }
    }
    /* Two types with one key. */
    b->n = 0;
    const uint64_t head[] = {2, 0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < 9; i++) {
        put(b, head[i]);
    }
    for (int i = 0; i < 2; i++) {
        put(b, 0x1000);
        put(b, 0);
        put_str(b, "t");
        put(b, 2);
    }
    put(b, 2);
    memcpy(b->b + b->n, "END", 3);
    b->n += 3;
    assert_int_equal(load_body(b, RC_SNAP_VERSION, err, sizeof err), RC_SNAP_EFORMAT);
    assert_non_null(strstr(err, "type 1 repeats the key of type 0"));
    /* Another version. */
    make_body(b, OK);
    assert_int_equal(load_body(b, 2, err, sizeof err), RC_SNAP_EVERSION);
    assert_non_null(strstr(err, "version 2"));
    free(b);
}

/* A body of n nodes of one type, none with an edge, at 0x1000 + 32 * v, but
 * node n - 1 at node 5's address when dup; a wrong string count at the end
 * when bad_end.  Returns its length in buf. */
static size_t
many_nodes_body(unsigned char *buf, uint64_t n, bool dup, bool bad_end)
{
    size_t len = 0;
#define BPUT(v)                                                                                    \
    do {                                                                                           \
        uint64_t v_ = (v);                                                                         \
        while (v_ >= 0x80) {                                                                       \
            buf[len++] = (unsigned char)(v_ | 0x80);                                               \
            v_ >>= 7;                                                                              \
        }                                                                                          \
        buf[len++] = (unsigned char)v_;                                                            \
    } while (0)
    const uint64_t head[] = {1, n, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < 9; i++) {
        BPUT(head[i]);
    }
    BPUT(0x1000); /* type 0: key, flags, name "t", short name string 0 */
    BPUT(0);
    BPUT(1);
    BPUT(1);
    buf[len++] = 't';
    BPUT(2);
    for (uint64_t v = 0; v < n; v++) {
        BPUT(zz(v == 0 ? 0x1000 : dup && v == n - 1 ? -32 * (int64_t)(n - 7) : 32));
    }
    for (uint64_t v = 0; v < n; v++) {
        BPUT(0);  /* type */
        BPUT(32); /* size */
        BPUT(1);  /* refcount */
        BPUT(0);  /* flags */
        BPUT(0);  /* degree */
    }
    BPUT(bad_end ? 9 : 1);
    memcpy(buf + len, "END", 3);
#undef BPUT
    return len + 3;
}

/* A file large enough that its addresses are checked in a thread beside the
 * reading: a shared address is found, and reported before what comes later
 * in the file; without a thread, the same. */
static void
test_many_addresses_checked_beside_the_reading(void **state)
{
    (void)state;
    const uint64_t n = 70000;
    unsigned char *buf = malloc(16 * n + 64);
    char err[512];
    for (int refuse = 0; refuse < 2; refuse++) {
        atomic_store(&refuse_threads, refuse);
        atomic_store(&threads_refused, 0);
        for (int dup = 0; dup < 2; dup++) {
            for (int bad_end = 0; bad_end < 2; bad_end++) {
                size_t len, blen = many_nodes_body(buf, n, dup, bad_end);
                unsigned char *file = make_file(buf, blen, RC_SNAP_VERSION, UINT64_MAX, 3, &len);
                rc_snapshot *s = NULL;
                rc_snap_status st = rc_snapshot_load_mem(file, len, "many.rcsnap", &s, err,
                                                         sizeof err);
                free(file);
                if (!dup && !bad_end) {
                    assert_int_equal(st, RC_SNAP_OK);
                    assert_int_equal(rc_graph_node_count(rc_snapshot_graph(s)), n);
                    rc_snapshot_free(s);
                } else if (dup) {
                    assert_int_equal(st, RC_SNAP_EFORMAT);
                    assert_string_equal(err, "many.rcsnap: node 69999 has the address of an "
                                             "earlier node, 0x10a0");
                } else {
                    assert_int_equal(st, RC_SNAP_EFORMAT);
                    assert_null(strstr(err, "address"));
                }
            }
        }
        assert_int_equal(atomic_load(&threads_refused), refuse ? 4 : 0); /* one per load */
    }
    atomic_store(&refuse_threads, 0);
    free(buf);
}

static void
test_bad_prefix_and_frames(void **state)
{
    (void)state;
    char err[512];
    rc_snapshot *s = NULL;
    assert_int_equal(rc_snapshot_load_mem("", 0, "e", &s, err, sizeof err), RC_SNAP_EFORMAT);
    assert_string_equal(err, "e: the file is empty");
    assert_int_equal(rc_snapshot_load_mem("PK\3\4 not ours at all", 20, "z", &s, err, sizeof err),
                     RC_SNAP_EFORMAT);
    assert_non_null(strstr(err, "not a refchain snapshot"));
    unsigned char junk[64];
    prefix(junk, RC_SNAP_VERSION, 100);
    for (size_t i = 24; i < sizeof junk; i++) {
        junk[i] = (unsigned char)(i * 37);
    }
    assert_int_equal(rc_snapshot_load_mem(junk, sizeof junk, "j", &s, err, sizeof err),
                     RC_SNAP_EFORMAT);
    assert_non_null(strstr(err, "corrupt compressed data"));
    junk[12] = 1;
    assert_int_equal(rc_snapshot_load_mem(junk, sizeof junk, "j", &s, err, sizeof err),
                     RC_SNAP_EVERSION);
    /* Files that are not there, or not files. */
    assert_int_equal(rc_snapshot_load("/nonexistent/x.rcsnap", &s, err, sizeof err), RC_SNAP_EIO);
    assert_non_null(strstr(err, "/nonexistent/x.rcsnap: cannot open"));
    assert_int_equal(rc_snapshot_load(tmpdir, &s, err, sizeof err), RC_SNAP_EIO);
    write_whole(path, "", 0);
    assert_int_equal(rc_snapshot_load(path, &s, err, sizeof err), RC_SNAP_EFORMAT);
    assert_non_null(strstr(err, "the file is empty"));
    /* A short error buffer truncates, NULL takes none. */
    char tiny[8];
    assert_int_equal(rc_snapshot_load(path, &s, tiny, sizeof tiny), RC_SNAP_EFORMAT);
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(rc_snapshot_load(path, &s, NULL, 0), RC_SNAP_EFORMAT);
    assert_null(s);
    rc_snapshot_free(NULL);
}

/* Size rules: a body larger than declared fails as soon as it gets there
 * (a zstd bomb behind a small declared size), a declared size beyond what
 * zstd can pack into the compressed bytes fails before decompressing, and a
 * legitimately very compressible heap (ratio far above 1000) still loads. */
static void
test_declared_body_size(void **state)
{
    (void)state;
    enum { N_FRAMES = 1000, LEN = 60000 };
    size_t cap = (size_t)N_FRAMES * (LEN + 8) + 64;
    unsigned char *raw = malloc(cap);
    body *h = malloc(sizeof *h);
    h->n = 0;
    const uint64_t head[] = {0, 0, 0, 0, N_FRAMES, 0, 0, 0, 0};
    for (size_t i = 0; i < 9; i++) {
        put(h, head[i]);
    }
    size_t n = h->n;
    memcpy(raw, h->b, n);
    for (int i = 0; i < N_FRAMES; i++) {
        /* Each frame defines a new 60000-byte file name: all alike. */
        h->n = 0;
        put(h, 1);
        put(h, LEN);
        memcpy(raw + n, h->b, h->n);
        n += h->n;
        memset(raw + n, 'a', LEN);
        n += LEN;
        raw[n++] = 1;
    }
    char err[512];
    rc_snapshot *s = NULL;
    size_t len;
    unsigned char *file = make_file(raw, n, RC_SNAP_VERSION, 100000, 3, &len);
    assert_int_equal(rc_snapshot_load_mem(file, len, "bomb", &s, err, sizeof err),
                     RC_SNAP_EFORMAT);
    assert_string_equal(err, "bomb: the body decompresses to more than the 100000 bytes the "
                             "header declares");
    free(file);
    /* Declaring more than 32768 bytes per compressed byte. */
    file = make_file(raw, 100, RC_SNAP_VERSION, 0, 3, &len);
    prefix(file, RC_SNAP_VERSION, (uint64_t)(len - 24) * RC_SNAP_MAX_RATIO + 1);
    assert_int_equal(rc_snapshot_load_mem(file, len, "big", &s, err, sizeof err),
                     RC_SNAP_EFORMAT);
    assert_non_null(strstr(err, "compressed bytes can hold"));
    free(file);
    /* Declaring more than the body holds. */
    body *b = malloc(sizeof *b);
    make_body(b, OK);
    file = make_file(b->b, b->n, RC_SNAP_VERSION, b->n + 1, 3, &len);
    assert_int_equal(rc_snapshot_load_mem(file, len, "short", &s, err, sizeof err),
                     RC_SNAP_EFORMAT);
    assert_non_null(strstr(err, "the header declares"));
    free(file);
    free(b);
    free(raw);
    free(h);

    /* A list of 400000 references to one int: very regular, very small. */
    enum { N = 400000 };
    rc_builder *bl = rc_builder_new(0);
    assert_non_null(bl);
    assert_int_equal(rc_builder_mark(bl, 0x1000, 0), RC_OK);
    assert_int_equal(rc_builder_mark(bl, 0x2000, 0), RC_OK);
    uint32_t tl, ti;
    assert_int_equal(rc_builder_type(bl, 1, "list", "list", 0, &tl), RC_OK);
    assert_int_equal(rc_builder_type(bl, 2, "int", "int", 0, &ti), RC_OK);
    uintptr_t a;
    unsigned fl;
    rc_status st;
    assert_true(rc_builder_next(bl, &a, &fl, &st));
    for (int i = 0; i < N; i++) {
        assert_int_equal(rc_builder_edge_id(bl, 1), RC_OK);
    }
    assert_int_equal(rc_builder_close(bl, tl, 8 * N + 56, 1, RC_NODE_GC), RC_OK);
    assert_true(rc_builder_next(bl, &a, &fl, &st));
    assert_int_equal(rc_builder_close(bl, ti, 28, N + 1, 0), RC_OK);
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(bl, &g), RC_OK);
    assert_int_equal(rc_snapshot_dump(path, g, NULL, err, sizeof err), RC_SNAP_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true((uint64_t)N / (uint64_t)sb.st_size > 1000);
    assert_int_equal(rc_snapshot_load(path, &s, err, sizeof err), RC_SNAP_OK);
    assert_int_equal(rc_graph_edge_count(rc_snapshot_graph(s)), N);
    rc_snapshot_free(s);
    rc_graph_free(g);
}

/* The fuzzer's committed seeds still mean what their names say: file-* and
 * body-* load, broken-* fail cleanly (tools/fuzz-smoke --corpus rewrites
 * them after a format change).  The first byte is load_fuzz's mode. */
static void
test_fuzz_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(RC_CORPUS_DIR);
    assert_non_null(d);
    struct dirent *e;
    int seen = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char p[512];
        snprintf(p, sizeof p, "%s/%s", RC_CORPUS_DIR, e->d_name);
        size_t n;
        unsigned char *data = read_whole(p, &n);
        rc_snap_status st;
        if (n && (data[0] & 1)) {
            size_t len;
            unsigned char *file = make_file(data + 1, n - 1, RC_SNAP_VERSION, UINT64_MAX, 1, &len);
            st = load_any(file, len);
            free(file);
        } else {
            st = load_any(n ? data + 1 : data, n ? n - 1 : 0);
        }
        if ((st == RC_SNAP_OK) != (strncmp(e->d_name, "broken-", 7) != 0)) {
            fail_msg("corpus file %s: status %d", e->d_name, (int)st);
        }
        free(data);
        seen++;
    }
    closedir(d);
    assert_true(seen >= 10);
}

/* ---- the atomic write ----------------------------------------------- */

static const char *
cb_bad_label(void *ctx, rc_id from, size_t k, size_t *len)
{
    (void)ctx;
    if (from >= 250 && k == 0) {
        *len = 3;
        return "a\xffz";
    }
    *len = 1;
    return "x";
}

static const char *
cb_huge_value(void *ctx, rc_id v, size_t *len)
{
    static char huge[RC_SNAP_MAX_VALUE + 1];
    (void)ctx;
    if (v != 7) {
        return NULL;
    }
    memset(huge, 'v', sizeof huge);
    *len = sizeof huge;
    return huge;
}

/* A label, then a value, that could not be made. */
static const char *
cb_failed_label(void *ctx, rc_id from, size_t k, size_t *len)
{
    (void)ctx;
    if (from >= 200 && k == 0) {
        *len = RC_SNAP_FAILED;
        return NULL;
    }
    *len = 1;
    return "x";
}

static const char *
cb_failed_value(void *ctx, rc_id v, size_t *len)
{
    (void)ctx;
    if (v == 299) {
        *len = RC_SNAP_FAILED;
    }
    return NULL;
}

static void
test_atomic_write(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, 300, 3, FIX_ALL);
    rc_graph *g = NULL;
    assert_int_equal(fixture_graph(&f, &g), RC_OK);
    char err[512];
    /* A failure mid-stream leaves an existing file untouched and no
     * temporary behind. */
    write_whole(path, "old", 3);
    rc_snap_tables bad = f.tables;
    bad.edge_label = cb_bad_label;
    assert_int_equal(rc_snapshot_dump(path, g, &bad, err, sizeof err), RC_SNAP_EINVAL);
    assert_non_null(strstr(err, "an edge label is not valid UTF-8"));
    assert_non_null(strstr(err, path));
    assert_int_equal(dir_entries(), 1);
    bad = f.tables;
    bad.node_value = cb_huge_value;
    assert_int_equal(rc_snapshot_dump(path, g, &bad, err, sizeof err), RC_SNAP_EINVAL);
    assert_non_null(strstr(err, "a node value is 4097 bytes long, more than the 4096 allowed"));
    assert_int_equal(dir_entries(), 1);
    /* A callback that fails (what it was to return could not be made):
     * out of memory, and still the file before. */
    bad = f.tables;
    bad.edge_label = cb_failed_label;
    assert_int_equal(rc_snapshot_dump(path, g, &bad, err, sizeof err), RC_SNAP_ENOMEM);
    assert_non_null(strstr(err, "out of memory while naming the references"));
    assert_non_null(strstr(err, path));
    bad = f.tables;
    bad.node_value = cb_failed_value;
    assert_int_equal(rc_snapshot_dump(path, g, &bad, err, sizeof err), RC_SNAP_ENOMEM);
    assert_int_equal(dir_entries(), 1);
    size_t n;
    unsigned char *data = read_whole(path, &n);
    assert_int_equal(n, 3);
    free(data);
    /* Contract violations are caught before any file exists. */
    unlink(path);
    rc_snap_tables t = f.tables;
    rc_snap_root r = {300, 0, "x"};
    t.roots = &r;
    t.n_roots = 1;
    assert_int_equal(rc_snapshot_dump(path, g, &t, err, sizeof err), RC_SNAP_EINVAL);
    assert_non_null(strstr(err, "root 0 names node 300 of 300"));
    t = f.tables;
    const uint32_t off[] = {0, 1}, frames[] = {9};
    t.traceback_off = off;
    t.traceback_frames = frames;
    t.n_tracebacks = 1;
    assert_int_equal(rc_snapshot_dump(path, g, &t, err, sizeof err), RC_SNAP_EINVAL);
    assert_int_equal(dir_entries(), 0);
    /* A path in a missing directory, and a directory in the way. */
    assert_int_equal(rc_snapshot_dump("/nonexistent/dir/x", g, NULL, err, sizeof err),
                     RC_SNAP_EIO);
    assert_non_null(strstr(err, "/nonexistent/dir/x: cannot create a temporary file"));
    char sub[200];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    assert_int_equal(mkdir(sub, 0700), 0);
    char inner[220];
    snprintf(inner, sizeof inner, "%s/f", sub);
    write_whole(inner, "x", 1);
    assert_int_equal(rc_snapshot_dump(sub, g, NULL, err, sizeof err), RC_SNAP_EIO);
    assert_int_equal(errno, EISDIR);
    assert_non_null(strstr(err, "a directory, not a file name"));
    assert_int_equal(rc_snapshot_dump("", g, NULL, err, sizeof err), RC_SNAP_EIO);
    assert_int_equal(errno, ENOENT);
    unlink(inner);
    rmdir(sub);
    assert_int_equal(dir_entries(), 0);
    /* Mode 0600 whatever the umask. */
    mode_t old = umask(0);
    assert_int_equal(rc_snapshot_dump(path, g, NULL, err, sizeof err), RC_SNAP_OK);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(dir_entries(), 1);
    unlink(path);
    rc_graph_free(g);
    fixture_free(&f);
}

/* Load data[0..n) from memory, or from a file (written to `path`), with
 * or without the inflater's thread; the status, and the message in err. */
static rc_snap_status
load_one(const unsigned char *data, size_t n, bool from_file, bool thread, char *err,
         size_t errlen)
{
    uint64_t old = rc_snapshot_set_inflate_min(thread ? 0 : UINT64_MAX);
    rc_snapshot *s = NULL;
    err[0] = '\0';
    if (from_file) {
        write_whole(path, data, n);
    }
    rc_snap_status st = from_file ? rc_snapshot_load(path, &s, err, errlen)
                                  : rc_snapshot_load_mem(data, n, path, &s, err, errlen);
    rc_snapshot_set_inflate_min(old);
    assert_true(st == RC_SNAP_OK ? s != NULL : s == NULL);
    rc_snapshot_free(s);
    return st;
}

/* A body large enough to go round the inflater's slots several times,
 * intact and damaged: with the thread, every load gives what the reader
 * alone gives, the same graph or the same message (naming the same part
 * of the file). */
static void
test_the_inflater_thread_reads_as_the_reader_alone(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, 60000, 31, FIX_ALL);
    rc_graph *g = NULL;
    assert_int_equal(fixture_graph(&f, &g), RC_OK);
    assert_int_equal(rc_snapshot_dump(path, g, &f.tables, NULL, 0), RC_SNAP_OK);
    size_t n;
    unsigned char *data = read_whole(path, &n);
    /* Intact: the same snapshot. */
    uint64_t old = rc_snapshot_set_inflate_min(0);
    rc_snapshot *s = NULL;
    char err[512] = "";
    assert_int_equal(rc_snapshot_load(path, &s, err, sizeof err), RC_SNAP_OK);
    rc_snapshot_set_inflate_min(old);
    assert_same(&f, g, s);
    rc_snapshot_free(s);
    /* Damaged: cut short, flipped and lengthened at a few places. */
    unsigned char *copy = malloc(n + 1);
    size_t failed = 0;
    for (int i = 1; i < 8; i++) {
        size_t at = n * (size_t)i / 8;
        for (int how = 0; how < 3; how++) {
            memcpy(copy, data, n);
            size_t len = how == 0 ? at : n;
            if (how == 1) {
                copy[at] ^= 0x10;
            }
            if (how == 2) {
                copy[n] = (unsigned char)i;
                len = n + 1;
            }
            /* How far zstd reads before it sees damage depends on how its
             * input comes (a file's comes in chunks), so each source is
             * compared with itself. */
            for (int from_file = 0; from_file < 2; from_file++) {
                char alone[512], threaded[512];
                rc_snap_status a = load_one(copy, len, from_file, false, alone, sizeof alone);
                rc_snap_status t = load_one(copy, len, from_file, true, threaded, sizeof threaded);
                assert_int_equal(a, t);
                assert_string_equal(alone, threaded);
                failed += a != RC_SNAP_OK;
            }
        }
    }
    assert_int_equal(failed, 42); /* zstd's checksum sees every flip */
    free(copy);
    free(data);
    rc_graph_free(g);
    fixture_free(&f);
}

/* The corruption and failure tests again, with every body decompressed on
 * the inflater's thread. */
static int
setup_inflater(void **state)
{
    rc_snapshot_set_inflate_min(0);
    return setup_dir(state);
}

static int
teardown_inflater(void **state)
{
    rc_snapshot_set_inflate_min((uint64_t)4 << 20);
    return teardown_dir(state);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_random_graphs),
        cmocka_unit_test(test_round_trip_sparse_and_unaligned_addresses),
        cmocka_unit_test(test_empty_graph_and_no_tables),
        cmocka_unit_test(test_bytes_per_object),
        cmocka_unit_test(test_dump_allocation_failure_at_every_point),
        cmocka_unit_test(test_dump_with_one_failed_allocation),
        cmocka_unit_test(test_dump_without_a_thread_for_zstd),
        cmocka_unit_test(test_load_allocation_failure_at_every_point),
        cmocka_unit_test(test_truncation_at_every_offset),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_hostile_bodies),
        cmocka_unit_test(test_many_addresses_checked_beside_the_reading),
        cmocka_unit_test(test_bad_prefix_and_frames),
        cmocka_unit_test(test_declared_body_size),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_fuzz_corpus),
        cmocka_unit_test(test_the_inflater_thread_reads_as_the_reader_alone),
    };
    const struct CMUnitTest threaded[] = {
        cmocka_unit_test(test_round_trip_random_graphs),
        cmocka_unit_test(test_load_allocation_failure_at_every_point),
        cmocka_unit_test(test_truncation_at_every_offset),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_hostile_bodies),
        cmocka_unit_test(test_declared_body_size),
        cmocka_unit_test(test_fuzz_corpus),
    };
    int failed = cmocka_run_group_tests_name("snapshots", tests, setup_dir, teardown_dir);
    return failed + cmocka_run_group_tests_name("snapshots, every body through the inflater's "
                                                "thread", threaded, setup_inflater,
                                                teardown_inflater);
}
