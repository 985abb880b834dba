/* The snapshot writer (see refchain/snapshot.h and docs/format.md).
 *
 * States of a dump:
 *   1. check: the tables are validated before any file exists;
 *   2. open: a temporary file <path>.XXXXXX (mode 0600) next to the target;
 *   3. stream: records are encoded into `in` (STAGE bytes); each time it
 *      fills, zstd compresses it into `out`, which is written to the file.
 *      Strings are interned as they appear: the first use defines one,
 *      later uses refer to it by number.  A node's value is defined where
 *      it is used, never looked up: values are mostly distinct, and zstd
 *      finds the repeats;
 *   4. commit: end the frame, write the body's size into the prefix, fsync,
 *      close, rename over the target, fsync the directory.
 * snapfile.h does the file's part.  Any failure in 2-4 closes and unlinks
 * the temporary file, so the target is never partial. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: rc_malloc for zstd */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "refchain/alloc.h"
#include "refchain/pool.h"
#include "refchain/snapshot.h"
#include "refchain/strutil.h"
#include "snapfile.h"
#include "snapfmt.h"

#define STAGE 65536

/* The writer's string table: open addressing over (hash, id) slots; the
 * bytes live in one pool. */
typedef struct str_slot {
    uint64_t hash;
    uint32_t id_plus_1; /* 0: empty */
    uint32_t len;       /* its length (at most RC_SNAP_MAX_TEXT), and SLOT_TEXT */
    size_t off;         /* its bytes: pool[off, off + length) */
} str_slot;

/* In str_slot.len: the string was checked to be valid text (UTF-8 without
 * NUL), so that a label used a million times is checked once. */
#define SLOT_TEXT (UINT32_C(1) << 31)

typedef struct writer {
    const char *path;
    char *errbuf;
    size_t errlen;
    rc_snap_status st;

    snap_file file;
    char msg[256]; /* snap_file's messages */
    ZSTD_CCtx *cctx;
    bool workers, started; /* zstd compresses in threads; it has begun to */
    unsigned char *in, *out;
    size_t in_len, out_cap;
    uint64_t body; /* bytes of body compressed so far */

    str_slot *slots;          /* from the capture's pool (refchain/pool.h) */
    size_t slots_bytes;       /* its block */
    size_t slot_mask, n_kept; /* n_kept: the slots in use */
    size_t n_str;             /* strings defined in the stream */
    char *pool; /* from the capture's pool (refchain/pool.h); pool_cap: its block */
    size_t pool_len, pool_cap;
} writer;

static void *
zstd_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return rc_malloc(size);
}

static void
zstd_free(void *opaque, void *p)
{
    (void)opaque;
    rc_free(p);
}

static const ZSTD_customMem zstd_mem = {zstd_alloc, zstd_free, NULL};

/* Record the first failure: a status and "path: message". */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
fail(writer *w, rc_snap_status st, const char *fmt, ...)
{
    if (w->st != RC_SNAP_OK) {
        return;
    }
    w->st = st;
    va_list ap;
    va_start(ap, fmt);
    snap_verror(w->errbuf, w->errlen, w->path, fmt, ap);
    va_end(ap);
}

static void
fail_nomem(writer *w)
{
    fail(w, RC_SNAP_ENOMEM, "out of memory while writing the snapshot");
}

/* ---- output ------------------------------------------------------------- */

/* Record a snap_file failure: its status and message. */
static bool
file_ok(writer *w, rc_snap_status st)
{
    if (st != RC_SNAP_OK) {
        fail(w, st, "%s", w->msg);
    }
    return st == RC_SNAP_OK;
}

static bool
write_all(writer *w, const void *data, size_t n)
{
    return file_ok(w, snap_file_write(&w->file, data, n, w->msg, sizeof w->msg));
}

/* With workers, zstd hands each job of this many bytes to a thread: the
 * smallest it takes, so that its buffers stay a few megabytes. */
#define JOB_BYTES (512 * 1024)

static bool
set_params(writer *w)
{
    return !ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, SNAP_ZSTD_LEVEL)) &&
           !ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1)) &&
           !ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, SNAP_WINDOW_LOG));
}

/* Have zstd compress in `workers` threads of its own.  False, with none,
 * when it cannot (a libzstd built without threads). */
static bool
set_workers(writer *w, unsigned workers)
{
    if (!ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, (int)workers)) &&
        !ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_jobSize, JOB_BYTES))) {
        return true;
    }
    (void)ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, 0);
    return false;
}

/* Compress in[0..in_len) with `mode` and write what zstd produced. */
static bool
compress(writer *w, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer input = {w->in, w->in_len, 0};
    w->body += w->in_len;
    for (;;) {
        ZSTD_outBuffer output = {w->out, w->out_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &output, &input, mode);
        if (ZSTD_isError(left) && w->workers && !w->started) {
            /* The threads could not be had (none left in a container, or
             * no memory for them): compress in this one.  Nothing was
             * consumed or written yet. */
            w->workers = false;
            if (ZSTD_isError(ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_and_parameters)) ||
                !set_params(w)) {
                fail(w, RC_SNAP_EIO, "zstd refused its parameters");
                return false;
            }
            input.pos = 0;
            continue;
        }
        w->started = true;
        if (ZSTD_isError(left)) {
            /* zstd fails here only when its allocations do. */
            if (ZSTD_getErrorCode(left) == ZSTD_error_memory_allocation) {
                fail_nomem(w);
            } else {
                fail(w, RC_SNAP_EIO, "zstd failed: %s", ZSTD_getErrorName(left));
            }
            return false;
        }
        if (output.pos && !write_all(w, w->out, output.pos)) {
            return false;
        }
        bool done = mode == ZSTD_e_end ? left == 0 : input.pos == input.size;
        if (done) {
            break;
        }
    }
    w->in_len = 0;
    return true;
}

static inline bool
put_bytes(writer *w, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n) {
        if (w->in_len == STAGE && !compress(w, ZSTD_e_continue)) {
            return false;
        }
        size_t k = STAGE - w->in_len;
        if (k > n) {
            k = n;
        }
        memcpy(w->in + w->in_len, p, k);
        w->in_len += k;
        p += k;
        n -= k;
    }
    return true;
}

/* Unsigned LEB128. */
static inline bool
put_varint(writer *w, uint64_t v)
{
    if (STAGE - w->in_len < 10 && !compress(w, ZSTD_e_continue)) {
        return false;
    }
    unsigned char *p = w->in + w->in_len;
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    w->in_len = (size_t)(p - w->in);
    return true;
}

static void
put_le(unsigned char *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static inline uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* ---- strings ------------------------------------------------------------ */

static uint64_t
hash_bytes(const char *s, size_t n)
{
    /* Eight bytes a step, each mixed in by a multiply; the length seeds it
     * (a short tail is zero-padded); murmur3's finaliser mixes the low bits
     * the table masks. */
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ n, word;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&word, s, 8);
        h = (h ^ word) * UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 32;
    }
    word = 0;
    memcpy(&word, s, n);
    h ^= word;
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

static bool
strings_grow_slots(writer *w)
{
    size_t cap = w->slots ? (w->slot_mask + 1) * 2 : 1024, bytes;
    str_slot *s = rc_pool_array(cap, sizeof *s, &bytes);
    if (!s) {
        return false;
    }
    memset(s, 0, cap * sizeof *s);
    for (size_t i = 0; w->slots && i <= w->slot_mask; i++) {
        if (w->slots[i].id_plus_1) {
            size_t j = (size_t)w->slots[i].hash & (cap - 1);
            while (s[j].id_plus_1) {
                j = (j + 1) & (cap - 1);
            }
            s[j] = w->slots[i];
        }
    }
    rc_pool_free(w->slots, w->slots_bytes);
    w->slots = s;
    w->slots_bytes = bytes;
    w->slot_mask = cap - 1;
    return true;
}

static bool
check_text(writer *w, const char *s, size_t n, const char *what)
{
    if (!rc_utf8_is_valid(s, n)) {
        fail(w, RC_SNAP_EINVAL, "%s is not valid UTF-8 without NUL bytes", what);
        return false;
    }
    return true;
}

/* Number the next string defined in the stream. */
static bool
next_id(writer *w)
{
    if (w->n_str >= UINT32_MAX - 2) {
        fail(w, RC_SNAP_ETOOBIG, "more than 2**32 - 2 strings");
        return false;
    }
    w->n_str++;
    return true;
}

static bool
check_length(writer *w, size_t n, bool text, const char *what)
{
    size_t max = text ? RC_SNAP_MAX_TEXT : RC_SNAP_MAX_VALUE;
    if (n > max) {
        fail(w, RC_SNAP_EINVAL, "%s is %zu bytes long, more than the %zu allowed", what, n, max);
        return false;
    }
    return true;
}

/* Define s[0..n) in the stream as the next string. */
static bool
define(writer *w, const char *s, size_t n)
{
    return next_id(w) && put_varint(w, SNAP_STR_NEW) && put_varint(w, n) && put_bytes(w, s, n);
}

/* Define s[0..n) without keeping it: a value. */
static bool
put_literal(writer *w, const char *s, size_t n, const char *what)
{
    return check_length(w, n, false, what) && define(w, s, n);
}

/* Write a reference to s[0..n): its number when seen before, else define
 * it.  Text is checked to be valid UTF-8 without NUL (once per string). */
static bool
put_string(writer *w, const char *s, size_t n, bool text, const char *what)
{
    if (!check_length(w, n, text, what)) {
        return false;
    }
    if ((w->n_kept + 1) * 2 > (w->slots ? w->slot_mask + 1 : 0) && !strings_grow_slots(w)) {
        fail_nomem(w);
        return false;
    }
    uint64_t h = hash_bytes(s, n);
    size_t j = (size_t)h & w->slot_mask;
    for (; w->slots[j].id_plus_1; j = (j + 1) & w->slot_mask) {
        /* The slot's hash and length first: the pool is read for a match only. */
        str_slot *slot = &w->slots[j];
        if (slot->hash == h && (slot->len & ~SLOT_TEXT) == n &&
            memcmp(w->pool + slot->off, s, n) == 0) {
            if (text && !(slot->len & SLOT_TEXT)) {
                if (!check_text(w, s, n, what)) {
                    return false;
                }
                slot->len |= SLOT_TEXT;
            }
            return put_varint(w, (uint64_t)slot->id_plus_1 - 1 + SNAP_STR_BASE);
        }
    }
    if (text && !check_text(w, s, n, what)) {
        return false;
    }
    /* New: keep a copy, then define it in the stream. */
    if (w->pool_len + n > w->pool_cap) {
        size_t cap = w->pool_cap ? w->pool_cap : 65536, got;
        while (cap < w->pool_len + n) {
            cap *= 2;
        }
        char *p = w->pool ? rc_pool_grow(w->pool, w->pool_cap, cap, &got)
                          : rc_pool_alloc(cap, &got);
        if (!p) {
            fail_nomem(w);
            return false;
        }
        w->pool = p;
        w->pool_cap = got;
    }
    if (!define(w, s, n)) {
        return false;
    }
    if (n) {
        memcpy(w->pool + w->pool_len, s, n);
    }
    w->slots[j] = (str_slot){h, (uint32_t)w->n_str, (uint32_t)n | (text ? SLOT_TEXT : 0),
                             w->pool_len};
    w->pool_len += n;
    w->n_kept++;
    return true;
}

static bool
put_text(writer *w, const char *s, const char *what)
{
    return put_string(w, s, strlen(s), true, what);
}

/* ---- checking the tables ------------------------------------------------ */

static bool
check_tables(writer *w, const rc_graph *g, const rc_snap_tables *t)
{
    if (t->n_frames && !t->frames) {
        fail(w, RC_SNAP_EINVAL, "n_frames is %zu but frames is NULL", t->n_frames);
        return false;
    }
    for (size_t i = 0; i < t->n_frames; i++) {
        if (!t->frames[i].file) {
            fail(w, RC_SNAP_EINVAL, "frame %zu has no file name", i);
            return false;
        }
    }
    if (t->n_tracebacks) {
        if (!t->traceback_off || t->traceback_off[0] != 0 ||
            (t->traceback_off[t->n_tracebacks] && !t->traceback_frames)) {
            fail(w, RC_SNAP_EINVAL, "the traceback table is malformed");
            return false;
        }
        for (size_t i = 0; i < t->n_tracebacks; i++) {
            if (t->traceback_off[i + 1] < t->traceback_off[i]) {
                fail(w, RC_SNAP_EINVAL, "traceback %zu ends before it starts", i);
                return false;
            }
        }
        for (size_t k = 0; k < t->traceback_off[t->n_tracebacks]; k++) {
            if (t->traceback_frames[k] >= t->n_frames) {
                fail(w, RC_SNAP_EINVAL, "a traceback names frame %u of %zu",
                     (unsigned)t->traceback_frames[k], t->n_frames);
                return false;
            }
        }
    }
    if ((t->n_roots && !t->roots) || (t->n_facts && !t->facts)) {
        fail(w, RC_SNAP_EINVAL, "a root or fact count comes with a NULL table");
        return false;
    }
    for (size_t i = 0; i < t->n_roots; i++) {
        if (t->roots[i].node >= rc_graph_node_count(g)) {
            fail(w, RC_SNAP_EINVAL, "root %zu names node %u of %zu", i,
                 (unsigned)t->roots[i].node, rc_graph_node_count(g));
            return false;
        }
    }
    for (size_t i = 0; i < t->n_facts; i++) {
        if (!t->facts[i].key || !t->facts[i].value) {
            fail(w, RC_SNAP_EINVAL, "fact %zu has a NULL key or value", i);
            return false;
        }
    }
    return true;
}

/* ---- the body ----------------------------------------------------------- */

/* False, and the dump failed, when a callback that returned NULL failed
 * (len RC_SNAP_FAILED). */
static bool
made(writer *w, size_t len)
{
    if (len == RC_SNAP_FAILED) {
        fail(w, RC_SNAP_ENOMEM, "out of memory while naming the references");
        return false;
    }
    return true;
}

static bool
put_node(writer *w, const rc_graph *g, const rc_snap_tables *t, rc_id v, uint32_t *prev_id)
{
    size_t deg;
    const rc_id *out = rc_graph_out(g, v, &deg);
    if (!put_varint(w, rc_graph_type(g, v)) || !put_varint(w, rc_graph_size(g, v)) ||
        !put_varint(w, rc_graph_refcnt(g, v)) || !put_varint(w, rc_graph_flags(g, v)) ||
        !put_varint(w, deg)) {
        return false;
    }
    int64_t prev = v;
    for (size_t k = 0; k < deg; k++) {
        if (!put_varint(w, zigzag((int64_t)out[k] - prev))) {
            return false;
        }
        prev = out[k];
    }
    for (size_t k = 0; t->edge_label && k < deg; k++) {
        size_t len = 0;
        const char *s = t->edge_label(t->ctx, v, k, &len);
        bool ok = s ? put_string(w, s, len, true, "an edge label")
                    : made(w, len) && put_varint(w, SNAP_STR_NONE);
        if (!ok) {
            return false;
        }
    }
    if (t->node_value) {
        size_t len = 0;
        const char *s = t->node_value(t->ctx, v, &len);
        if (!(s ? put_literal(w, s, len, "a node value")
                : made(w, len) && put_varint(w, SNAP_STR_NONE))) {
            return false;
        }
    }
    if (t->node_alloc) {
        uint32_t tb = t->node_alloc(t->ctx, v);
        if (tb != RC_SNAP_NONE && tb >= t->n_tracebacks) {
            fail(w, RC_SNAP_EINVAL, "node %u names traceback %u of %zu", (unsigned)v,
                 (unsigned)tb, t->n_tracebacks);
            return false;
        }
        if (!put_varint(w, tb == RC_SNAP_NONE ? 0 : (uint64_t)tb + 1)) {
            return false;
        }
    }
    if (t->node_id) {
        uint32_t id = t->node_id(t->ctx, v);
        if (!put_varint(w, zigzag((int64_t)id - (int64_t)*prev_id))) {
            return false;
        }
        *prev_id = id;
    }
    return true;
}

static bool
put_body(writer *w, const rc_graph *g, const rc_snap_tables *t)
{
    size_t n = rc_graph_node_count(g), nt = rc_graph_type_count(g);
    unsigned sections = (t->edge_label ? RC_SNAP_LABELS : 0) |
                        (t->node_value ? RC_SNAP_VALUES : 0) |
                        (t->node_alloc ? RC_SNAP_ALLOCS : 0) | (t->node_id ? RC_SNAP_IDS : 0);
    size_t n_tb_frames = t->n_tracebacks ? t->traceback_off[t->n_tracebacks] : 0;
    const uint64_t head[] = {nt, n, rc_graph_edge_count(g), sections, t->n_frames,
                             t->n_tracebacks, n_tb_frames, t->n_roots, t->n_facts};
    for (size_t i = 0; i < sizeof head / sizeof *head; i++) {
        if (!put_varint(w, head[i])) {
            return false;
        }
    }
    for (uint32_t i = 0; i < nt; i++) {
        if (!put_varint(w, rc_graph_type_key(g, i)) ||
            !put_varint(w, rc_graph_type_flags(g, i)) ||
            !put_text(w, rc_graph_type_name(g, i), "a type name") ||
            !put_text(w, rc_graph_type_short_name(g, i), "a type name")) {
            return false;
        }
    }
    for (size_t i = 0; i < t->n_frames; i++) {
        if (!put_text(w, t->frames[i].file, "a file name") ||
            !put_varint(w, t->frames[i].line)) {
            return false;
        }
    }
    for (size_t i = 0; i < t->n_tracebacks; i++) {
        if (!put_varint(w, t->traceback_off[i + 1] - t->traceback_off[i])) {
            return false;
        }
        for (size_t k = t->traceback_off[i]; k < t->traceback_off[i + 1]; k++) {
            if (!put_varint(w, t->traceback_frames[k])) {
                return false;
            }
        }
    }
    uintptr_t prev = 0;
    for (rc_id v = 0; v < n; v++) {
        uintptr_t a = rc_graph_addr(g, v);
        if (!put_varint(w, zigzag((int64_t)(a - prev)))) {
            return false;
        }
        prev = a;
    }
    uint32_t prev_id = 0;
    for (rc_id v = 0; v < n; v++) {
        if (!put_node(w, g, t, v, &prev_id)) {
            return false;
        }
    }
    for (size_t i = 0; i < t->n_roots; i++) {
        const rc_snap_root *r = &t->roots[i];
        if (!put_varint(w, r->node) || !put_varint(w, r->kind) ||
            !(r->text ? put_text(w, r->text, "a root's text") : put_varint(w, SNAP_STR_NONE))) {
            return false;
        }
    }
    for (size_t i = 0; i < t->n_facts; i++) {
        if (!put_text(w, t->facts[i].key, "a fact's key") ||
            !put_text(w, t->facts[i].value, "a fact's value")) {
            return false;
        }
    }
    return put_varint(w, w->n_str) && put_bytes(w, SNAP_END, SNAP_END_LEN);
}

/* ---- the file ----------------------------------------------------------- */

static bool
commit(writer *w)
{
    unsigned char size[8];
    put_le(size, w->body, sizeof size);
    return file_ok(w, snap_file_pwrite(&w->file, size, sizeof size, SNAP_BODY_SIZE_AT, w->msg,
                                       sizeof w->msg)) &&
           file_ok(w, snap_file_commit(&w->file, w->msg, sizeof w->msg));
}

static bool
start_stream(writer *w, unsigned workers)
{
    w->out_cap = ZSTD_CStreamOutSize();
    w->in = rc_malloc(STAGE);
    w->out = rc_malloc(w->out_cap);
    /* zstd allocates through rc_malloc (fault injection reaches it), but
     * not with threads: libzstd 1.5.4 (Debian 12's), like every release
     * before facebook/zstd#4613, clears a block that its thread setup got
     * from a custom allocator without checking it for NULL, so one failed
     * allocation there would crash.  Its own calloc is checked. */
    w->cctx = workers ? ZSTD_createCCtx() : ZSTD_createCCtx_advanced(zstd_mem);
    if (!w->in || !w->out || !w->cctx) {
        fail_nomem(w);
        return false;
    }
    if (!set_params(w)) {
        fail(w, RC_SNAP_EIO, "zstd refused its parameters");
        return false;
    }
    /* The body size (bytes 16..23) is patched in by commit(). */
    unsigned char prefix[SNAP_PREFIX_LEN] = {0};
    memcpy(prefix, SNAP_MAGIC, SNAP_MAGIC_LEN);
    put_le(prefix + 8, RC_SNAP_VERSION, 4);
    if (!write_all(w, prefix, sizeof prefix)) {
        return false;
    }
    w->workers = workers && set_workers(w, workers);
    return true;
}

rc_snap_status
rc_snapshot_dump(const char *path, const rc_graph *g, const rc_snap_tables *tables, char *errbuf,
                 size_t errlen)
{
    static const rc_snap_tables none;
    writer w = {.path = path ? path : "(null)", .errbuf = errbuf, .errlen = errlen,
                .file = SNAP_FILE_INIT(path)};
    if (errbuf && errlen) {
        errbuf[0] = '\0';
    }
    const rc_snap_tables *t = tables ? tables : &none;
    if (!path || !g) {
        fail(&w, RC_SNAP_EINVAL, "no path or no graph");
        return w.st;
    }
    if (check_tables(&w, g, t) &&
        file_ok(&w, snap_file_open(&w.file, w.msg, sizeof w.msg)) && start_stream(&w, t->workers) &&
        put_body(&w, g, t) && compress(&w, ZSTD_e_end)) {
        commit(&w);
    }
    snap_file_close(&w.file);
    ZSTD_freeCCtx(w.cctx);
    rc_free(w.in);
    rc_free(w.out);
    rc_pool_free(w.slots, w.slots_bytes);
    rc_pool_free(w.pool, w.pool_cap);
    if (w.st == RC_SNAP_EIO) {
        errno = w.file.err ? w.file.err : EIO;
    }
    return w.st;
}

const char *
rc_snap_status_str(rc_snap_status st)
{
    switch (st) {
    case RC_SNAP_OK:
        return "success";
    case RC_SNAP_ENOMEM:
        return "out of memory";
    case RC_SNAP_EIO:
        return "input/output error";
    case RC_SNAP_EFORMAT:
        return "not a refchain snapshot, or a corrupt one";
    case RC_SNAP_EVERSION:
        return "unsupported snapshot version";
    case RC_SNAP_EINVAL:
        return "invalid argument";
    case RC_SNAP_ETOOBIG:
        return "snapshot too large for a graph";
    }
    return "unknown status";
}
