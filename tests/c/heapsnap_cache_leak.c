/* Writes the classic cache leak as a .heapsnapshot, for the memlab test
 * (tests/js/memlab_cache_leak.sh): a module `app` whose namespace holds
 * `_CACHE`, a dict caching a bytes(1024) per request id.  The graph is
 * dumped as a refchain snapshot, loaded back and exported, as a real
 * export would be.
 *
 *   heapsnap_cache_leak OUT.heapsnapshot */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/heapsnap.h"
#include "refchain/present.h"
#include "refchain/snapshot.h"

/* The file's encoded form of a reference read alone as `text`
 * (refchain/present.h); NULL when out of memory. */
static const char *
encoded_label(const char *text, size_t *len)
{
    static char *buf;
    static size_t cap;
    char copy[64];
    snprintf(copy, sizeof copy, "%s", text);
    rc_relation rel = {.kind = RC_REL_TEXT, .text = copy};
    return rc_relation_encode(&rel, &buf, &cap, len) == RC_OK ? buf : NULL;
}

enum { N_CACHED = 1000, FIRST_BYTES = 3, FIRST_KEY = FIRST_BYTES + N_CACHED,
       N = FIRST_KEY + N_CACHED + 2 };

/* 0 module app -> 1 its namespace dict -['_CACHE']-> 2 the cache dict;
 * the cache -> key int, -[id]-> bytes, per request; 1 -['greeting']-> a
 * str; 1 -['handler']-> a function. */
static const char *
label(void *ctx, rc_id from, size_t k, size_t *len)
{
    static char buf[32];
    (void)ctx;
    if (from == 0) {
        return encoded_label("__dict__", len);
    }
    if (from == 1) {
        static const char *const names[] = {"['_CACHE']", "['greeting']", "['handler']"};
        return encoded_label(names[k], len);
    }
    if (from == 2 && k % 2 == 0) {
        return encoded_label("key of dict", len);
    }
    if (from == 2) {
        snprintf(buf, sizeof buf, "[%zu]", 1000 + k / 2);
        return encoded_label(buf, len);
    }
    return NULL;
}

static void
check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "heapsnap_cache_leak: %s failed\n", what);
        exit(1);
    }
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: heapsnap_cache_leak SCRATCH.rcsnap OUT.heapsnapshot\n");
        return 2;
    }
    static const char *const types[] = {"module", "dict", "bytes", "int", "str", "function"};
    static const unsigned type_flags[] = {0, RC_TYPE_COLLECTION | RC_TYPE_DICT, 0, 0, 0, 0};
    rc_builder *b = rc_builder_new(N);
    check(b != NULL, "rc_builder_new");
    for (unsigned i = 0; i < N; i++) {
        check(rc_builder_mark(b, 0x7f0000000000u + 64u * i, 0) == RC_OK, "mark");
    }
    uintptr_t a;
    unsigned fl;
    rc_status st;
    for (rc_id v = 0; rc_builder_next(b, &a, &fl, &st); v++) {
        unsigned t, flags = 0;
        uint64_t size;
        if (v == 0) {
            t = 0, size = 72, flags = RC_NODE_MODULE;
            check(rc_builder_edge_id(b, 1) == RC_OK, "edge");
        } else if (v == 1 || v == 2) {
            t = 1, size = v == 1 ? 2280 : 36960;
            for (rc_id k = 0; v == 1 && k < 3; k++) {
                check(rc_builder_edge_id(b, k == 0 ? 2 : N - 2 + k - 1) == RC_OK, "edge");
            }
            for (rc_id i = 0; v == 2 && i < N_CACHED; i++) {
                check(rc_builder_edge_id(b, FIRST_KEY + i) == RC_OK, "edge");
                check(rc_builder_edge_id(b, FIRST_BYTES + i) == RC_OK, "edge");
            }
        } else if (v < FIRST_KEY) {
            t = 2, size = 1024 + 33;
        } else if (v < FIRST_KEY + N_CACHED) {
            t = 3, size = 28;
        } else {
            t = v == N - 2 ? 4 : 5, size = v == N - 2 ? 54 : 160;
        }
        uint32_t tid;
        check(rc_builder_type(b, 0x1000 + t, types[t], types[t], type_flags[t], &tid) == RC_OK,
              "type");
        check(rc_builder_close(b, tid, size, 1, flags) == RC_OK, "close");
    }
    check(st == RC_OK, "expand");
    rc_graph *g = NULL;
    check(rc_builder_freeze(b, &g) == RC_OK, "freeze");
    rc_snap_root root = {0, 1, "module app"};
    rc_snap_tables tables = {.edge_label = label, .roots = &root, .n_roots = 1};
    char err[512];
    if (rc_snapshot_dump(argv[1], g, &tables, err, sizeof err) != RC_SNAP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rc_graph_free(g);
    rc_snapshot *s = NULL;
    if (rc_snapshot_load(argv[1], &s, err, sizeof err) != RC_SNAP_OK ||
        rc_heapsnap_export(s, argv[2], err, sizeof err) != RC_SNAP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rc_snapshot_free(s);
    return 0;
}
