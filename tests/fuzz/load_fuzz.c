/* libFuzzer target for the snapshot loader (walker/load.c).
 *
 * The first byte picks the mode:
 *   even: the rest is a whole snapshot file, as read from disk;
 *   odd:  the rest is a decompressed body, which this harness compresses
 *         behind a valid prefix first, so mutations reach the parser
 *         instead of dying at zstd's checksum;
 *   and with bit 1 set, the body is decompressed on the inflater's thread
 *   (rc_snapshot_set_inflate_min(0)), else on the reader's.
 * Either way the loader must return a status with a message naming the
 * file, or a snapshot whose every accessor can be read; ASan and UBSan
 * catch the rest.  Build: cmake -DRC_FUZZ=ON with clang (tools/fuzz-smoke). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "refchain/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const rc_snapshot *s)
{
    rc_graph *g = rc_snapshot_graph(s);
    size_t n = rc_graph_node_count(g);
    for (rc_id v = 0; v < n; v++) {
        size_t deg, len;
        const rc_id *out = rc_graph_out(g, v, &deg);
        for (size_t k = 0; k < deg; k++) {
            if (out[k] >= n) {
                abort();
            }
            const char *l = rc_snapshot_label(s, v, k);
            if (l && strlen(l) > RC_SNAP_MAX_TEXT) {
                abort();
            }
        }
        if (rc_graph_type(g, v) >= rc_graph_type_count(g)) {
            abort();
        }
        rc_graph_type_name(g, rc_graph_type(g, v));
        rc_snapshot_value(s, v, &len);
        for (size_t i = 0; i < rc_snapshot_alloc_depth(s, v); i++) {
            rc_snap_frame f = rc_snapshot_alloc_frame(s, v, i);
            if (!f.file) {
                abort();
            }
        }
    }
    for (size_t i = 0; i < rc_snapshot_root_count(s); i++) {
        if (rc_snapshot_root(s, i).node >= n) {
            abort();
        }
    }
    for (size_t i = 0; i < rc_snapshot_fact_count(s); i++) {
        rc_snap_fact f = rc_snapshot_fact(s, i);
        if (!f.key || !f.value) {
            abort();
        }
    }
    if (rc_graph_build_in(g) != RC_OK) {
        return;
    }
}

static void
load(const uint8_t *data, size_t size)
{
    rc_snapshot *s = NULL;
    char err[512];
    rc_snap_status st = rc_snapshot_load_mem(data, size, "fuzz.rcsnap", &s, err, sizeof err);
    if (st == RC_SNAP_OK) {
        walk(s);
        rc_snapshot_free(s);
    } else if (s || strncmp(err, "fuzz.rcsnap: ", 13) != 0 || strlen(err) < 16) {
        abort(); /* every failure names the file and says what is wrong */
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    rc_snapshot_set_inflate_min(data[0] & 2 ? 0 : UINT64_MAX);
    if (!(data[0] & 1)) {
        load(data + 1, size - 1);
        return 0;
    }
    size_t body = size - 1;
    size_t cap = 24 + ZSTD_compressBound(body);
    uint8_t *file = malloc(cap);
    if (!file) {
        return 0;
    }
    memcpy(file, "\x89RCSNAP\n", 8);
    memset(file + 8, 0, 16);
    file[8] = RC_SNAP_VERSION;
    for (int i = 0; i < 8; i++) {
        file[16 + i] = (uint8_t)((uint64_t)body >> (8 * i));
    }
    size_t z = ZSTD_compress(file + 24, cap - 24, data + 1, body, 1);
    if (!ZSTD_isError(z)) {
        load(file, 24 + z);
    }
    free(file);
    return 0;
}
