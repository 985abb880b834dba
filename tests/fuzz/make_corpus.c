/* Writes the seed corpus of load_fuzz into the directory argv[1]: valid
 * snapshots made by the writer (whole files, mode byte 0) and their
 * decompressed bodies (mode byte 1), plus broken ones.  Run by
 * tools/fuzz-smoke --corpus; its output is committed in tests/fuzz/corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "refchain/snapshot.h"

static const char *const LABELS[] = {"['x']", ".attr", "[0]", "[1]", "__dict__", "['caf\xc3\xa9']"};

static const char *
label(void *ctx, rc_id from, size_t k, size_t *len)
{
    (void)ctx;
    if ((from + k) % 5 == 4) {
        return NULL;
    }
    const char *l = LABELS[(from * 3 + k) % 6];
    *len = strlen(l);
    return l;
}

static const char *
value(void *ctx, rc_id v, size_t *len)
{
    (void)ctx;
    static char buf[16];
    if (v % 3 == 0) {
        return NULL;
    }
    *len = (size_t)snprintf(buf, sizeof buf, "v%u\x01", (unsigned)v % 7);
    return buf;
}

static uint32_t
alloc(void *ctx, rc_id v)
{
    (void)ctx;
    return v % 4 == 0 ? RC_SNAP_NONE : v % 2;
}

/* Object ids as an idmap gives them: odd, mostly increasing, one kept
 * from earlier. */
static uint32_t
node_id(void *ctx, rc_id v)
{
    (void)ctx;
    return v % 5 == 3 ? 7 : 101 + 2 * v;
}

static rc_graph *
graph(unsigned n, unsigned seed)
{
    rc_builder *b = rc_builder_new(0);
    for (unsigned i = 0; i < n; i++) {
        rc_builder_mark(b, 0x7f0000001000u + 48 * i + (i % 3) * 4096, 0);
    }
    uint32_t t[3];
    rc_builder_type(b, 0x100, "dict", "dict", 4, &t[0]);
    rc_builder_type(b, 0x200, "mod.Thing", "Thing", 1, &t[1]);
    rc_builder_type(b, 0x300, "int", "int", 0, &t[2]);
    uintptr_t a;
    unsigned fl;
    rc_status st;
    for (unsigned v = 0; rc_builder_next(b, &a, &fl, &st); v++) {
        for (unsigned k = 0; k < (v * seed) % 4; k++) {
            rc_builder_edge_id(b, (rc_id)((v * 7 + k * seed) % n));
        }
        rc_builder_close(b, t[v % 3], v == 1 ? 5000000000u : 16 + v, v % 5 + 1, v % 9);
    }
    rc_graph *g = NULL;
    rc_builder_freeze(b, &g);
    return g;
}

static unsigned char *
slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(*n + 1);
    if (fread(d, 1, *n, f) != *n) {
        exit(1);
    }
    fclose(f);
    return d;
}

static void
emit(const char *dir, const char *name, unsigned char mode, const void *d, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fputc(mode, f);
    fwrite(d, 1, n, f);
    fclose(f);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        return 2;
    }
    const char *dir = argv[1];
    static const rc_snap_frame frames[] = {{"app.py", 3}, {"lib.py", 40}};
    static const uint32_t off[] = {0, 1, 3}, tbf[] = {0, 1, 0};
    static const rc_snap_root roots[] = {{0, 1, "module __main__"}, {1, 2, NULL}};
    static const rc_snap_fact facts[] = {{"pid", "1"}, {"argv", "x"}};
    rc_snap_tables all = {NULL, label, value, alloc, frames, 2, off, tbf, 2, roots, 2, facts, 2,
                          node_id, 0};
    const struct {
        const char *name;
        unsigned n, seed;
        const rc_snap_tables *t;
    } cases[] = {{"tiny", 3, 1, &all}, {"small", 12, 3, &all}, {"bare", 8, 2, NULL},
                 {"medium", 40, 5, &all}, {"empty", 0, 1, NULL}};
    char tmp[512], name[64];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        rc_graph *g = graph(cases[c].n, cases[c].seed);
        snprintf(tmp, sizeof tmp, "%s/.tmp.rcsnap", dir);
        char err[256];
        if (rc_snapshot_dump(tmp, g, cases[c].t, err, sizeof err) != RC_SNAP_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        rc_graph_free(g);
        size_t n;
        unsigned char *d = slurp(tmp, &n);
        remove(tmp);
        snprintf(name, sizeof name, "file-%s", cases[c].name);
        emit(dir, name, 0, d, n);
        /* The body, for the harness's compressing mode. */
        size_t body_n = 0;
        for (int i = 0; i < 8; i++) {
            body_n |= (size_t)d[16 + i] << (8 * i);
        }
        unsigned char *body = malloc(body_n + 1);
        size_t got = ZSTD_decompress(body, body_n + 1, d + 24, n - 24);
        if (ZSTD_isError(got) || got != body_n) {
            return 1;
        }
        snprintf(name, sizeof name, "body-%s", cases[c].name);
        emit(dir, name, 1, body, body_n);
        /* Broken: truncated file and body, a flipped byte, a bad version. */
        if (c == 1) {
            emit(dir, "broken-truncated-file", 0, d, n - 5);
            emit(dir, "broken-truncated-body", 1, body, body_n / 2);
            d[n / 2] ^= 0x40;
            emit(dir, "broken-flipped", 0, d, n);
            d[n / 2] ^= 0x40;
            d[8] = 9;
            emit(dir, "broken-version", 0, d, n);
            emit(dir, "broken-empty", 0, "", 0);
            emit(dir, "broken-magic", 0, "PK\3\4not a snapshot at all", 26);
        }
        free(body);
        free(d);
    }
    return 0;
}
