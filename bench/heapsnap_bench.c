/* The .heapsnapshot export on a random heap-like graph: times and sizes of
 * each step of "ids, dump, load, export" (one run; not a test: the timings
 * vary with the machine's load).  Times are the process's CPU time.
 *
 *   build/c/heapsnap_bench [NODES [DIR]]      (default 1000000, /tmp)
 *
 * The graph: nodes of 10 types (str with values, bytes, int, dict, list,
 * tuple, function, code, an instance type, frame), about 3 out-edges each,
 * mostly to nodes allocated nearby, labelled from a vocabulary of indexes,
 * keys and attributes; a third of the nodes with one of 1000 tracebacks;
 * 100 roots; object ids from an idmap.  It prints one line per step and the
 * bytes per node of the two files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "refchain/heapsnap.h"
#include "refchain/idmap.h"
#include "refchain/snapshot.h"

static uint64_t rng = 88172645463325252u;

static uint64_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Process CPU time: the machines this runs on are shared, so wall time
 * also counts other processes (and fsync); both are printed at the end. */
static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const TYPES[] = {"str", "bytes", "int", "dict", "list", "tuple",
                                    "function", "code", "svc.Request", "frame"};
static const unsigned TYPE_FLAGS[] = {0, 0, 0, 6, 2, 2, 0, 0, 1, 0};
enum { N_TB = 1000, N_FRAMES = 300, TB_DEPTH = 5 };

typedef struct ctx {
    uint32_t *ids;
    char labels[64][32];
    char values[512][16];
    uint32_t *alloc;
} ctx;

static const char *
label(void *p, rc_id from, size_t k, size_t *len)
{
    ctx *c = p;
    uint64_t h = (from * 2654435761u + k * 40503u) >> 7;
    if (h % 8 == 0) {
        return NULL;
    }
    const char *l = c->labels[h % 64];
    *len = strlen(l);
    return l;
}

static const char *
value(void *p, rc_id v, size_t *len)
{
    ctx *c = p;
    if (v % 10 != 0) {
        return NULL;
    }
    const char *s = c->values[(v * 7919u) % 512];
    *len = strlen(s);
    return s;
}

static uint32_t
alloc(void *p, rc_id v)
{
    return ((ctx *)p)->alloc[v];
}

static uint32_t
node_id(void *p, rc_id v)
{
    return ((ctx *)p)->ids[v];
}

static off_t
file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    char snap[512], out[512], err[512];
    snprintf(snap, sizeof snap, "%s/heapsnap_bench.rcsnap", dir);
    snprintf(out, sizeof out, "%s/heapsnap_bench.heapsnapshot", dir);

    double t0 = now();
    rc_builder *b = rc_builder_new(n);
    uintptr_t a = 0x7f0000000000u;
    for (size_t i = 0; i < n; i++) {
        a += rnd() % 8 ? 16 * (1 + rnd() % 6) : (rnd() & 0xfffff0) + 16;
        rc_builder_mark(b, a, 0);
    }
    uint32_t tid[10];
    for (unsigned t = 0; t < 10; t++) {
        const char *dot = strrchr(TYPES[t], '.');
        rc_builder_type(b, 0x1000 + t, TYPES[t], dot ? dot + 1 : TYPES[t], TYPE_FLAGS[t], &tid[t]);
    }
    uintptr_t addr;
    unsigned fl;
    rc_status st;
    for (rc_id v = 0; rc_builder_next(b, &addr, &fl, &st); v++) {
        unsigned t = (unsigned)(rnd() % 10), deg = t >= 3 && t != 7 ? (unsigned)(rnd() % 7) : 0;
        for (unsigned k = 0; k < deg; k++) {
            uint64_t near = v + rnd() % 20;
            rc_builder_edge_id(b, (rc_id)(rnd() % 3 ? (near < n ? near : near % n) : rnd() % n));
        }
        rc_builder_close(b, tid[t], 16 + 8 * (rnd() % 40), 1 + rnd() % 3, 0);
    }
    rc_graph *g = NULL;
    if (rc_builder_freeze(b, &g) != RC_OK) {
        return 1;
    }
    double t_build = now() - t0;

    ctx c;
    for (unsigned i = 0; i < 64; i++) {
        if (i % 4 == 0) {
            snprintf(c.labels[i], sizeof c.labels[i], "[%u]", i);
        } else if (i % 4 == 1) {
            snprintf(c.labels[i], sizeof c.labels[i], "['key%u']", i);
        } else if (i % 4 == 2) {
            snprintf(c.labels[i], sizeof c.labels[i], ".attr%u", i);
        } else {
            snprintf(c.labels[i], sizeof c.labels[i], "__dict__");
        }
    }
    for (unsigned i = 0; i < 512; i++) {
        snprintf(c.values[i], sizeof c.values[i], "value-%u", i);
    }
    c.ids = malloc(n * sizeof *c.ids);
    c.alloc = malloc(n * sizeof *c.alloc);
    for (size_t v = 0; v < n; v++) {
        c.alloc[v] = v % 3 == 0 ? (uint32_t)(rnd() % N_TB) : RC_SNAP_NONE;
    }
    static rc_snap_frame frames[N_FRAMES];
    static char files[N_FRAMES][32];
    for (unsigned i = 0; i < N_FRAMES; i++) {
        snprintf(files[i], sizeof files[i], "svc/module%u.py", i % 40);
        frames[i] = (rc_snap_frame){files[i], 1 + i * 7};
    }
    static uint32_t tb_off[N_TB + 1], tb_frames[N_TB * TB_DEPTH];
    for (unsigned t = 0; t < N_TB; t++) {
        tb_off[t + 1] = tb_off[t] + TB_DEPTH;
        for (unsigned k = 0; k < TB_DEPTH; k++) {
            /* Outer frames shared, inner ones varied: a real call tree. */
            tb_frames[t * TB_DEPTH + k] =
                k == TB_DEPTH - 1 ? 0 : (uint32_t)(rnd() % (k + 1 == TB_DEPTH - 1 ? 5 : N_FRAMES));
        }
    }
    static rc_snap_root roots[100];
    static char root_text[100][32];
    for (unsigned i = 0; i < 100; i++) {
        snprintf(root_text[i], sizeof root_text[i], "module svc.m%u", i);
        roots[i] = (rc_snap_root){(rc_id)(rnd() % n), 1, root_text[i]};
    }

    rc_idmap *m = rc_idmap_new();
    t0 = now();
    rc_idmap_assign(m, g, c.ids);
    double t_ids1 = now() - t0;
    t0 = now();
    rc_idmap_assign(m, g, c.ids); /* every node kept: the merge's worst case */
    double t_ids2 = now() - t0;
    rc_idmap_free(m);

    rc_snap_tables tables = {&c, label, value, alloc, frames, N_FRAMES, tb_off, tb_frames, N_TB,
                             roots, 100, NULL, 0, node_id, 1};
    t0 = now();
    if (rc_snapshot_dump(snap, g, &tables, err, sizeof err) != RC_SNAP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t_dump = now() - t0;
    rc_graph_free(g);
    t0 = now();
    rc_snapshot *s = NULL;
    if (rc_snapshot_load(snap, &s, err, sizeof err) != RC_SNAP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t_load = now() - t0;
    t0 = now();
    double w0 = wall();
    if (rc_heapsnap_export(s, out, err, sizeof err) != RC_SNAP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t_export = now() - t0, w_export = wall() - w0;
    size_t edges = rc_graph_edge_count(rc_snapshot_graph(s));
    rc_snapshot_free(s);
    off_t snap_bytes = file_size(snap), out_bytes = file_size(out);
    printf("nodes %zu, edges %zu\n", n, edges);
    printf("build graph      %8.3f s\n", t_build);
    printf("idmap first      %8.3f s\n", t_ids1);
    printf("idmap again      %8.3f s\n", t_ids2);
    printf("dump             %8.3f s  %12lld bytes  %6.2f bytes/node\n", t_dump,
           (long long)snap_bytes, (double)snap_bytes / (double)n);
    printf("load             %8.3f s\n", t_load);
    printf("export           %8.3f s  %12lld bytes  %6.2f bytes/node  (%.1fx the snapshot)\n",
           t_export, (long long)out_bytes, (double)out_bytes / (double)n,
           (double)out_bytes / (double)snap_bytes);
    printf("(CPU times; the export took %.3f s of wall time, fsync included)\n", w_export);
    free(c.ids);
    free(c.alloc);
    return 0;
}
