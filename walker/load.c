/* The snapshot reader (see refchain/snapshot.h and docs/format.md).
 *
 * Every byte is hostile.  The reader pulls the body through a small
 * decompression buffer one number at a time (a large body is decompressed
 * ahead, on a thread of its own: the inflater); every number is checked
 * against the range its field allows before it is used, and the first
 * failure is sticky: later reads return 0 and the loops stop.
 *
 * Memory: the prefix declares the body's size, which may be at most
 * RC_SNAP_MAX_RATIO times the compressed bytes; the body header's counts
 * are accepted only if the records they announce, at their minimum encoded
 * size, fit in it; the body must decompress to exactly that size.  Arrays
 * are pre-sized from counts up to RC_SNAP_PREALLOC_PER_BYTE entries per
 * compressed byte and grow with the records actually read past that, so
 * what a hostile file makes us allocate is proportional to what it
 * decompresses to, not to what it claims. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createDCtx_advanced: rc_malloc for zstd */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "refchain/addrset.h"
#include "refchain/alloc.h"
#include "refchain/pool.h"
#include "refchain/present.h"
#include "refchain/snapshot.h"
#include "refchain/strutil.h"
#include "refchain/thread.h"
#include "snapfmt.h"

#define READ_CHUNK 65536
/* Decompressed bytes a refill gives at most, with or without the inflater:
 * the same calls to zstd either way, so a damaged body fails at the same
 * place, with the same message. */
#define OUT_CHUNK ((size_t)128 << 10)

typedef struct frame_rec {
    uint32_t file, line;
} frame_rec;

typedef struct root_rec {
    uint32_t node, kind, text;
} root_rec;

typedef struct fact_rec {
    uint32_t key, value;
} fact_rec;

/* A root record's node and its index in the root table. */
typedef struct root_ref {
    uint32_t node, index;
} root_ref;

/* What a string may be used as: text (valid UTF-8 without NUL), a value (at
 * most RC_SNAP_MAX_VALUE bytes).  Every string is at most RC_SNAP_MAX_TEXT. */
enum { STR_TEXT = 1, STR_VALUE = 2, STR_CHECKED = 4 };
/* Bytes per expected string the pool starts with. */
#define STR_BYTES_HINT 12
/* How far ahead of the strings written their pages are faulted in. */
#define POOL_POPULATE_AHEAD ((size_t)256 << 10)

enum { HOP_MEMO = 4096 };

struct rc_snapshot {
    rc_graph *graph;
    unsigned sections;
    /* Strings: string i is pool[str_off[i] .. str_off[i + 1] - 1), NUL
     * terminated in the pool; str_kind[i] says what it may be used as
     * (STR_VALUE; STR_TEXT once STR_CHECKED), so that a reference reads
     * one byte. */
    char *pool;
    size_t pool_len, pool_bytes, pool_populated;
    size_t *str_off;
    unsigned char *str_kind;
    size_t n_str, str_cap, str_off_bytes, str_kind_bytes;
    uint32_t *label; /* per edge, string id or RC_SNAP_NONE (LABELS) */
    uint32_t *value; /* per node, string id or RC_SNAP_NONE (VALUES) */
    uint32_t *alloc; /* per node, traceback or RC_SNAP_NONE (ALLOCS) */
    uint32_t *ids;   /* per node, object id (IDS) */
    frame_rec *frames;
    size_t n_frames;
    uint32_t *tb_off, *tb_frames;
    size_t n_tb;
    root_rec *roots;
    size_t n_roots;
    root_ref *root_order; /* the root records by node, then index */
    fact_rec *facts;
    size_t n_facts;
    /* The blocks' sizes in bytes (refchain/pool.h; see reserve()).  A
     * snapshot's arrays come from the capture's pool and go back to it, so
     * that loading again faults nothing in. */
    size_t label_bytes, value_bytes, alloc_bytes, ids_bytes, frames_bytes, tb_off_bytes, tb_frames_bytes, roots_bytes,
        facts_bytes;
    /* rc_snapshot_hop_positional's answers by label string, direct-mapped
     * (a heap has few distinct labels: each is decoded about once). */
    struct {
        uint32_t id_plus_1; /* 0: empty */
        uint8_t positional;
    } hop_memo[HOP_MEMO];
};

/* How stream_fill() ended: with data, or with what comes after the last
 * of it (kept, and given again by every later call). */
typedef enum {
    FILL_DATA,     /* bytes in the buffer; more may follow */
    FILL_END,      /* the frame ended */
    FILL_EREAD,    /* read() failed: err_no */
    FILL_ENOMEM,   /* zstd ran out of memory */
    FILL_ECORRUPT, /* zstd refused the data: zerr */
    FILL_ETOOLONG, /* more than body_size bytes */
    FILL_ETRUNC,   /* the compressed data ends inside the frame */
} fill_result;

/* The compressed body: its input and its decompressor.  Owned by the
 * reader, or by the inflater's thread while it runs. */
typedef struct stream {
    int fd;               /* -1 when reading from memory */
    bool file_eof;
    unsigned char *inbuf; /* file input (NULL from memory) */
    ZSTD_inBuffer zin;
    ZSTD_DCtx *dctx;
    bool frame_done;
    uint64_t body, body_size; /* decompressed so far; declared */
    fill_result end;          /* FILL_DATA until the stream ends */
    int err_no;
    size_t zerr;
} stream;

typedef struct inflater inflater;

typedef struct reader {
    const char *name;
    char *errbuf;
    size_t errlen;
    rc_snap_status st;
    const char *where; /* the part being read, for messages (NULL: node `node`) */
    uint64_t node;
    char where_buf[48];

    stream z;           /* the inflater's thread writes it while it runs */
    inflater *inf;      /* the thread decompressing ahead, or NULL */
    unsigned char *own; /* the buffer stream_fill() fills on this thread */
    /* The bytes being read: own, or an inflater slot.  Every number read
     * writes pos: on a cache line apart from z, or each write of the
     * thread's took it away (half the loads ran at 90 ms instead of 50). */
    _Alignas(64) unsigned char *out;
    size_t pos, len;
    uint64_t prealloc; /* most entries an array is pre-sized to */
    size_t str_hint;   /* strings expected (256 or more): one per value, and some */

    rc_snapshot *s;
} reader;

/* ---- errors --------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
fail(reader *r, rc_snap_status st, const char *fmt, ...)
{
    if (r->st != RC_SNAP_OK) {
        return;
    }
    r->st = st;
    va_list ap;
    va_start(ap, fmt);
    snap_verror(r->errbuf, r->errlen, r->name, fmt, ap);
    va_end(ap);
}

/* What is being read, for a message: formatted only when one is made. */
static const char *
where(reader *r)
{
    if (r->where) {
        return r->where;
    }
    snprintf(r->where_buf, sizeof r->where_buf, "node %llu", (unsigned long long)r->node);
    return r->where_buf;
}

static void
fail_nomem(reader *r)
{
    fail(r, RC_SNAP_ENOMEM, "out of memory while loading %s", where(r));
}

/* ---- the decompressed stream ---------------------------------------- */

static void *
zstd_alloc(void *opaque, size_t size)
{
    (void)opaque;
    /* zstd's state gets whole cache lines: the inflater's thread writes it
     * all the time, and must not share a line with a heap neighbour the
     * reader writes (as the reader's cursor did: see struct reader).  The
     * block's start is kept in the word before the aligned address. */
    enum { LINE = 64 };
    if (size > SIZE_MAX - 2 * LINE) {
        return NULL;
    }
    size_t lines = (size + LINE - 1) / LINE * LINE;
    char *raw = rc_malloc(lines + 2 * LINE);
    if (!raw) {
        return NULL;
    }
    char *p = (char *)(((uintptr_t)raw + LINE) & ~(uintptr_t)(LINE - 1));
    ((void **)p)[-1] = raw;
    return p;
}

static void
zstd_free(void *opaque, void *p)
{
    (void)opaque;
    if (p) {
        rc_free(((void **)p)[-1]);
    }
}

static const ZSTD_customMem zstd_mem = {zstd_alloc, zstd_free, NULL};

/* Read more of the file into the input buffer. */
static fill_result
read_more(stream *z)
{
    for (;;) {
        ssize_t k = read(z->fd, z->inbuf, READ_CHUNK);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            z->err_no = errno;
            return FILL_EREAD;
        }
        z->zin = (ZSTD_inBuffer){z->inbuf, (size_t)k, 0};
        z->file_eof = k == 0;
        return FILL_DATA;
    }
}

/* Decompress into dst[0..cap), as far as it fills; *len receives the bytes
 * written.  FILL_DATA when there are some; otherwise how the stream ended,
 * which the bytes before it were given first.  Touches nothing but z and
 * dst, and allocates nothing once zstd has read the frame's header: the
 * inflater's thread runs it. */
static fill_result
stream_fill(stream *z, unsigned char *dst, size_t cap, size_t *len)
{
    ZSTD_outBuffer o = {dst, cap, 0};
    while (z->end == FILL_DATA && o.pos < cap) {
        if (z->frame_done) {
            z->end = FILL_END;
            break;
        }
        if (z->zin.pos == z->zin.size && !z->file_eof && z->fd >= 0 &&
            (z->end = read_more(z)) != FILL_DATA) {
            break;
        }
        size_t before = o.pos;
        size_t ret = ZSTD_decompressStream(z->dctx, &o, &z->zin);
        if (ZSTD_isError(ret)) {
            o.pos = before;
            z->zerr = ret;
            z->end = ZSTD_getErrorCode(ret) == ZSTD_error_memory_allocation ? FILL_ENOMEM
                                                                             : FILL_ECORRUPT;
            break;
        }
        z->body += o.pos - before;
        if (z->body > z->body_size) {
            o.pos = before;
            z->end = FILL_ETOOLONG;
            break;
        }
        z->frame_done = ret == 0;
        bool no_input = z->zin.pos == z->zin.size && (z->fd < 0 || z->file_eof);
        if (!z->frame_done && no_input && o.pos == before) {
            z->end = FILL_ETRUNC;
        }
    }
    *len = o.pos;
    return o.pos ? FILL_DATA : z->end;
}

/* After the frame: 1 when bytes follow it, 0 when none do, -1 when the
 * file cannot be read (err_no). */
static int
stream_trailing(stream *z)
{
    bool more = z->zin.pos < z->zin.size;
    if (!more && z->fd >= 0 && !z->file_eof) {
        if (read_more(z) != FILL_DATA) {
            return -1;
        }
        more = z->zin.size > 0;
    }
    return more;
}

/* ---- the inflater: decompression on a thread of its own --------------
 *
 * A large body is decompressed ahead of the reader, into SLOTS buffers
 * that the reader takes in turn: zstd's share of a load (about a fifth)
 * runs on another core.  The thread runs stream_fill() only, on the
 * stream it was handed, and allocates nothing (the frame's header was
 * read on the caller's thread, so zstd's buffers are in place).  The
 * reader turns how the stream ended into its message when it gets there,
 * so a message names the part being read, as without the thread. */
enum { SLOTS = 8 };

/* Bodies of at least this many bytes get an inflater (see
 * rc_snapshot_set_inflate_min()). */
static _Atomic uint64_t inflate_min = (uint64_t)4 << 20;

struct inflater {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    stream *z;
    unsigned char *bufs; /* SLOTS * OUT_CHUNK bytes from the pool */
    size_t bufs_bytes;
    size_t len[SLOTS];
    uint64_t filled, taken; /* slots filled and handed to the reader, ever */
    bool holding;           /* the reader holds slot taken % SLOTS */
    bool stop, finished;
    /* Who sleeps on cv, so that no one is woken for nothing.  A full ring
     * wakes the thread once half of it is free, not once per slot: a
     * wake-up crosses to the other core, which is dear on a virtual
     * machine (measured: a slow load in one process of two without, one
     * in six with). */
    bool thread_waits, reader_waits;
    fill_result end; /* once finished */
    int trailing;    /* once finished with FILL_END: stream_trailing() */
};

static void *
inflate_main(void *arg)
{
    inflater *f = arg;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        if (f->filled - f->taken >= SLOTS) {
            f->thread_waits = true;
            while (!f->stop && f->filled - f->taken > SLOTS / 2) {
                pthread_cond_wait(&f->cv, &f->mu);
            }
            f->thread_waits = false;
        }
        bool stop = f->stop;
        size_t slot = (size_t)(f->filled % SLOTS);
        pthread_mutex_unlock(&f->mu);
        if (stop) {
            break;
        }
        size_t len;
        fill_result got = stream_fill(f->z, f->bufs + slot * OUT_CHUNK, OUT_CHUNK, &len);
        int trailing = got == FILL_END ? stream_trailing(f->z) : 0;
        pthread_mutex_lock(&f->mu);
        if (got == FILL_DATA) {
            f->len[slot] = len;
            f->filled++;
        } else {
            f->end = got;
            f->trailing = trailing;
            f->finished = true;
        }
        if (f->reader_waits) {
            pthread_cond_broadcast(&f->cv);
        }
        pthread_mutex_unlock(&f->mu);
        if (got != FILL_DATA) {
            break;
        }
    }
    return NULL;
}

static void
inflater_free(inflater *f)
{
    rc_pool_free(f->bufs, f->bufs_bytes);
    rc_free(f);
}

/* Hand the rest of r's stream to a new inflater, if the body is large
 * enough and one can be had; otherwise r goes on without one. */
static void
inflater_start(reader *r)
{
    if (r->z.body_size < atomic_load(&inflate_min)) {
        return;
    }
    inflater *f = rc_calloc(1, sizeof *f);
    if (!f || !(f->bufs = rc_pool_alloc(SLOTS * OUT_CHUNK, &f->bufs_bytes))) {
        if (f) {
            inflater_free(f);
        }
        return; /* it was to go faster: not an error */
    }
    f->z = &r->z;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (rc_thread_start(&f->thread, inflate_main, f) != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        inflater_free(f);
        return;
    }
    r->inf = f;
}

/* The next slot's bytes into r->out, r->len; or how the stream ended. */
static fill_result
inflater_take(reader *r)
{
    inflater *f = r->inf;
    pthread_mutex_lock(&f->mu);
    if (f->holding) {
        f->taken++;
        f->holding = false;
        if (f->thread_waits && f->filled - f->taken <= SLOTS / 2) {
            pthread_cond_broadcast(&f->cv);
        }
    }
    f->reader_waits = true;
    while (f->filled == f->taken && !f->finished) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    f->reader_waits = false;
    fill_result got = f->end;
    if (f->filled > f->taken) {
        size_t slot = (size_t)(f->taken % SLOTS);
        r->out = f->bufs + slot * OUT_CHUNK;
        r->len = f->len[slot];
        f->holding = true;
        got = FILL_DATA;
    }
    pthread_mutex_unlock(&f->mu);
    return got;
}

/* Stop the inflater and wait for its thread; r->z is the reader's again. */
static void
inflater_stop(reader *r)
{
    inflater *f = r->inf;
    if (!f) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    inflater_free(f);
    r->inf = NULL;
    r->out = r->own;
    r->pos = r->len = 0;
}

/* ---- reading the decompressed body ------------------------------------ */

/* The reader's message for how the stream ended. */
static void
report_end(reader *r, fill_result end)
{
    const stream *z = &r->z;
    switch (end) {
    case FILL_DATA:
    case FILL_END:
        break;
    case FILL_EREAD:
        fail(r, RC_SNAP_EIO, "cannot read: %s", strerror(z->err_no));
        break;
    case FILL_ENOMEM:
        fail_nomem(r);
        break;
    case FILL_ECORRUPT:
        fail(r, RC_SNAP_EFORMAT, "corrupt compressed data in %s: %s", where(r),
             ZSTD_getErrorName(z->zerr));
        break;
    case FILL_ETOOLONG:
        fail(r, RC_SNAP_EFORMAT,
             "the body decompresses to more than the %llu bytes the header declares",
             (unsigned long long)z->body_size);
        break;
    case FILL_ETRUNC:
        fail(r, RC_SNAP_EFORMAT, "truncated: the compressed data ends inside %s", where(r));
        break;
    }
}

/* More of the body into out[].  False at the end of the frame or on an
 * error (r->st). */
static bool
refill(reader *r)
{
    r->pos = r->len = 0;
    if (r->st != RC_SNAP_OK) {
        return false;
    }
    fill_result got;
    if (r->inf) {
        got = inflater_take(r);
    } else {
        r->out = r->own;
        got = stream_fill(&r->z, r->own, OUT_CHUNK, &r->len);
        if (got == FILL_DATA) {
            inflater_start(r); /* zstd has its buffers: the rest may go ahead */
        }
    }
    if (got == FILL_DATA) {
        return true;
    }
    report_end(r, got);
    return false;
}

static inline bool
get_byte(reader *r, unsigned char *b)
{
    if (r->pos == r->len && !refill(r)) {
        fail(r, RC_SNAP_EFORMAT, "truncated: the body ends inside %s", where(r));
        return false;
    }
    *b = r->out[r->pos++];
    return true;
}

/* An unsigned LEB128 number of at most 64 bits; 0 after an error. */
static uint64_t
get_varint_long(reader *r)
{
    /* Fast path: the whole number is in the buffer. */
    if (r->len - r->pos >= 10) {
        const unsigned char *p = r->out + r->pos;
        uint64_t v = 0;
        for (unsigned i = 0; i < 10; i++) {
            if (i == 9 && p[i] > 1) {
                break; /* the slow path reports it */
            }
            v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
            if (!(p[i] & 0x80)) {
                r->pos += i + 1;
                return v;
            }
        }
    }
    uint64_t v = 0;
    for (unsigned shift = 0; r->st == RC_SNAP_OK; shift += 7) {
        unsigned char b;
        if (!get_byte(r, &b)) {
            break;
        }
        if (shift == 63 && b > 1) {
            fail(r, RC_SNAP_EFORMAT, "a number in %s does not fit in 64 bits", where(r));
            break;
        }
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            return v;
        }
    }
    return 0;
}

/* get_varint_long() inline for a one-byte number, most of a file's. */
static inline uint64_t
get_varint(reader *r)
{
    if (r->pos < r->len && r->out[r->pos] < 0x80) {
        return r->out[r->pos++];
    }
    return get_varint_long(r);
}

/* get_varint()'s common case on a caller's cursor p, kept in a register
 * across a node's many numbers: a number of at most 9 bytes, with 10 left
 * in the buffer.  False, p untouched, for anything else: the caller puts
 * its cursor back in r->pos and calls get_varint(), which refills and
 * reports. */
static inline bool
take_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    const unsigned char *q = *p;
    if (end - q < 10) {
        return false;
    }
    uint64_t x = 0;
    for (unsigned i = 0; i < 9; i++) {
        x |= (uint64_t)(q[i] & 0x7F) << (7 * i);
        if (!(q[i] & 0x80)) {
            *p = q + i + 1;
            *v = x;
            return true;
        }
    }
    return false;
}

/* The next number on a caller's cursor p (end: the buffer's end):
 * take_varint(), or get_varint() through the reader, which refills and
 * moves p and end.  False after an error. */
static inline bool
next_varint(reader *r, const unsigned char **p, const unsigned char **end, uint64_t *v)
{
    if (take_varint(p, *end, v)) {
        return true;
    }
    r->pos = (size_t)(*p - r->out);
    *v = get_varint(r);
    *p = r->out + r->pos;
    *end = r->out + r->len;
    return r->st == RC_SNAP_OK;
}

/* get_varint() that must be <= max: `what` names the field. */
static inline uint64_t
get_bounded(reader *r, uint64_t max, const char *what)
{
    uint64_t v = get_varint(r);
    if (r->st == RC_SNAP_OK && v > max) {
        fail(r, RC_SNAP_EFORMAT, "%s: %s is %llu, more than %llu", where(r), what,
             (unsigned long long)v, (unsigned long long)max);
        return 0;
    }
    return r->st == RC_SNAP_OK ? v : 0;
}

static int64_t
unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Make arr (a pool block of *bytes bytes, elements of `elem` bytes) hold
 * `need`: at least min(count, prealloc) entries at first, then growing by
 * half, never past `count` (the header's, checked against the body size).
 * The new part is faulted in at once when `count` is exact (the array is
 * filled up to it), not when it is an estimate. */
static bool
reserve_ex(reader *r, void **arr, size_t *bytes, uint64_t need, size_t elem, uint64_t count,
           bool populate)
{
    if (*arr && need <= *bytes / elem) {
        return true;
    }
    size_t cap = *bytes / elem;
    uint64_t c = *arr ? cap + cap / 2 + 16 : (count < r->prealloc ? count : r->prealloc);
    if (c > count) {
        c = count;
    }
    if (c < need) {
        c = need;
    }
    c = c ? c : 1;
    size_t got;
    void *p = c > SIZE_MAX / elem ? NULL
              : *arr             ? rc_pool_grow(*arr, *bytes, (size_t)c * elem, &got)
                                 : rc_pool_array((size_t)c, elem, &got);
    if (!p) {
        fail_nomem(r);
        return false;
    }
    if (populate) {
        rc_pool_populate(p, *arr ? cap * elem : 0, (size_t)c * elem);
    }
    *arr = p;
    *bytes = got;
    return true;
}

/* reserve_ex() with the new part faulted in; inline, as it runs for each
 * node and each of its arrays, and has room nearly every time. */
static inline bool
reserve(reader *r, void **arr, size_t *bytes, uint64_t need, size_t elem, uint64_t count)
{
    if (*arr && need <= *bytes / elem) {
        return true;
    }
    return reserve_ex(r, arr, bytes, need, elem, count, true);
}

/* ---- strings -------------------------------------------------------- */

/* Define string n_str from the next `len` bytes. */
static bool
define_string(reader *r, size_t len)
{
    rc_snapshot *s = r->s;
    if (s->n_str >= UINT32_MAX - 1) {
        fail(r, RC_SNAP_EFORMAT, "%s: more than 2**32 - 2 strings", where(r));
        return false;
    }
    if (s->n_str + 2 > s->str_cap) {
        size_t cap = s->str_cap ? s->str_cap * 2 : r->str_hint;
        /* cap is an estimate: pages are faulted in as strings come. */
        if (!reserve_ex(r, (void **)&s->str_off, &s->str_off_bytes, cap, sizeof *s->str_off, cap,
                        false) ||
            !reserve_ex(r, (void **)&s->str_kind, &s->str_kind_bytes, cap, 1, cap, false)) {
            return false;
        }
        s->str_cap = cap;
    }
    /* len <= RC_SNAP_MAX_TEXT: this allocation is bounded before the bytes
     * are read. */
    if (s->pool_len + len + 1 > s->pool_bytes) {
        /* At first room for the expected strings, within what the file
         * can justify (r->prealloc bytes). */
        size_t cap = STR_BYTES_HINT * r->str_hint, got;
        cap = s->pool_bytes ? s->pool_bytes : cap < r->prealloc ? cap : (size_t)r->prealloc;
        while (cap < s->pool_len + len + 1) {
            cap *= 2;
        }
        char *p = s->pool ? rc_pool_grow(s->pool, s->pool_bytes, cap, &got)
                          : rc_pool_alloc(cap, &got);
        if (!p) {
            fail_nomem(r);
            return false;
        }
        s->pool = p;
        s->pool_bytes = got;
    }
    if (s->pool_len + len + 1 > s->pool_populated) {
        /* Fault in the next stretch of the strings at once. */
        size_t to = s->pool_len + len + 1 + POOL_POPULATE_AHEAD;
        to = to < s->pool_bytes ? to : s->pool_bytes;
        rc_pool_populate(s->pool, s->pool_populated, to);
        s->pool_populated = to;
    }
    char *dst = s->pool + s->pool_len;
    for (size_t i = 0; i < len;) {
        if (r->pos == r->len) {
            unsigned char b; /* refills, or reports the truncation */
            if (!get_byte(r, &b)) {
                return false;
            }
            dst[i++] = (char)b;
            continue;
        }
        size_t n = r->len - r->pos < len - i ? r->len - r->pos : len - i;
        memcpy(dst + i, r->out + r->pos, n);
        r->pos += n;
        i += n;
    }
    dst[len] = '\0';
    if (s->n_str == 0) {
        s->str_off[0] = 0;
    }
    s->str_kind[s->n_str] = len <= RC_SNAP_MAX_VALUE ? STR_VALUE : 0;
    s->pool_len += len + 1;
    s->str_off[++s->n_str] = s->pool_len;
    return true;
}

static const char *
str_at(const rc_snapshot *s, uint32_t id)
{
    return id == RC_SNAP_NONE ? NULL : s->pool + s->str_off[id];
}

static size_t
str_len(const rc_snapshot *s, uint32_t id)
{
    return s->str_off[id + 1] - s->str_off[id] - 1;
}

/* A string reference: its id, or RC_SNAP_NONE for "none" (an error unless
 * `optional`).  Text must be valid UTF-8 without NUL. */
static inline uint32_t
get_string(reader *r, bool text, bool optional, const char *what)
{
    uint64_t v = get_varint(r);
    if (r->st != RC_SNAP_OK) {
        return RC_SNAP_NONE;
    }
    size_t max = text ? RC_SNAP_MAX_TEXT : RC_SNAP_MAX_VALUE;
    uint32_t id;
    if (v == SNAP_STR_NONE) {
        if (!optional) {
            fail(r, RC_SNAP_EFORMAT, "%s: %s is missing", where(r), what);
        }
        return RC_SNAP_NONE;
    } else if (v == SNAP_STR_NEW) {
        uint64_t len = get_bounded(r, max, "a string's length");
        if (r->st != RC_SNAP_OK || !define_string(r, (size_t)len)) {
            return RC_SNAP_NONE;
        }
        id = (uint32_t)(r->s->n_str - 1);
    } else {
        if (v - SNAP_STR_BASE >= r->s->n_str) {
            fail(r, RC_SNAP_EFORMAT, "%s: %s refers to string %llu, but only %zu are defined",
                 where(r), what, (unsigned long long)(v - SNAP_STR_BASE), r->s->n_str);
            return RC_SNAP_NONE;
        }
        id = (uint32_t)(v - SNAP_STR_BASE);
        if (!text && !(r->s->str_kind[id] & STR_VALUE)) {
            fail(r, RC_SNAP_EFORMAT, "%s: %s is %zu bytes, more than %zu", where(r), what,
                 str_len(r->s, id), max);
            return RC_SNAP_NONE;
        }
    }
    unsigned char *kind = &r->s->str_kind[id];
    if (text && !(*kind & STR_CHECKED)) {
        /* Checked on first use as text: most values never are. */
        *kind |= STR_CHECKED | (rc_utf8_is_valid(str_at(r->s, id), str_len(r->s, id)) ? STR_TEXT : 0);
    }
    if (text && !(*kind & STR_TEXT)) {
        fail(r, RC_SNAP_EFORMAT, "%s: %s is not valid UTF-8 without NUL bytes", where(r), what);
        return RC_SNAP_NONE;
    }
    return id;
}

/* ---- the body ------------------------------------------------------- */

typedef struct body_head {
    uint64_t n_types, n_nodes, n_edges, sections, n_frames, n_tb, n_tb_frames, n_roots,
        n_facts;
} body_head;

/* The count rule: the records announced, at their minimum size, must fit
 * in the largest body this file may hold.  Checked before any allocation. */
static bool
check_counts(reader *r, const body_head *h)
{
    if (h->sections & ~(uint64_t)SNAP_SECTIONS_KNOWN) {
        fail(r, RC_SNAP_EFORMAT, "the body header names unknown sections (%#llx)",
             (unsigned long long)h->sections);
        return false;
    }
    if (h->n_nodes > RC_MAX_IDS || h->n_edges > RC_MAX_IDS || h->n_types > RC_MAX_IDS) {
        fail(r, RC_SNAP_ETOOBIG, "the body header announces more than 2**32 - 2 nodes, "
                                 "edges or types");
        return false;
    }
    const struct {
        uint64_t count, size;
        const char *what;
    } rec[] = {
        {h->n_types, SNAP_MIN_TYPE, "types"},
        {h->n_nodes, SNAP_MIN_NODE + !!(h->sections & RC_SNAP_VALUES) +
                         !!(h->sections & RC_SNAP_ALLOCS) + !!(h->sections & RC_SNAP_IDS),
         "nodes"},
        {h->n_edges, SNAP_MIN_EDGE + !!(h->sections & RC_SNAP_LABELS), "edges"},
        {h->n_frames, SNAP_MIN_FRAME, "frames"},
        {h->n_tb, SNAP_MIN_TRACEBACK, "tracebacks"},
        {h->n_tb_frames, SNAP_MIN_TB_FRAME, "traceback frames"},
        {h->n_roots, SNAP_MIN_ROOT, "roots"},
        {h->n_facts, SNAP_MIN_FACT, "facts"},
    };
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof rec / sizeof *rec; i++) {
        /* count <= limit keeps count * size (size <= 8) from overflowing. */
        if (rec[i].count > r->z.body_size ||
            (total += rec[i].count * rec[i].size) > r->z.body_size) {
            fail(r, RC_SNAP_EFORMAT,
                 "the body header announces %llu %s, more than its declared %llu bytes can hold",
                 (unsigned long long)rec[i].count, rec[i].what,
                 (unsigned long long)r->z.body_size);
            return false;
        }
    }
    if (h->n_tb_frames && !h->n_tb) {
        fail(r, RC_SNAP_EFORMAT, "traceback frames without tracebacks");
        return false;
    }
    return true;
}

static bool
read_head(reader *r, body_head *h)
{
    r->where = "the body header";
    uint64_t *f[] = {&h->n_types, &h->n_nodes, &h->n_edges, &h->sections, &h->n_frames,
                     &h->n_tb, &h->n_tb_frames, &h->n_roots, &h->n_facts};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        *f[i] = get_varint(r);
    }
    return r->st == RC_SNAP_OK && check_counts(r, h);
}

static bool
read_types(reader *r, rc_builder *b, const body_head *h)
{
    r->where = "the type table";
    for (uint64_t i = 0; i < h->n_types && r->st == RC_SNAP_OK; i++) {
        uint64_t key = get_bounded(r, UINTPTR_MAX, "a type's key");
        uint64_t flags = get_bounded(r, UINT32_MAX, "a type's flags");
        uint32_t name = get_string(r, true, false, "a type's name");
        uint32_t short_name = get_string(r, true, false, "a type's short name");
        if (r->st != RC_SNAP_OK) {
            break;
        }
        uint32_t t;
        rc_status st = rc_builder_type(b, (uintptr_t)key, str_at(r->s, name),
                                       str_at(r->s, short_name), (unsigned)flags, &t);
        if (st != RC_OK) {
            fail_nomem(r);
        } else if (t != i) {
            fail(r, RC_SNAP_EFORMAT, "type %llu repeats the key of type %u",
                 (unsigned long long)i, (unsigned)t);
        }
    }
    return r->st == RC_SNAP_OK;
}

static bool
read_locations(reader *r, const body_head *h)
{
    rc_snapshot *s = r->s;
    r->where = "the frame table";
    if (!reserve(r, (void **)&s->frames, &s->frames_bytes, 0, sizeof *s->frames, h->n_frames) ||
        !reserve(r, (void **)&s->tb_off, &s->tb_off_bytes, 1, sizeof *s->tb_off, h->n_tb + 1) ||
        !reserve(r, (void **)&s->tb_frames, &s->tb_frames_bytes, 0, sizeof *s->tb_frames,
                 h->n_tb_frames)) {
        return false;
    }
    s->tb_off[0] = 0;
    for (uint64_t i = 0; i < h->n_frames && r->st == RC_SNAP_OK; i++) {
        if (!reserve(r, (void **)&s->frames, &s->frames_bytes, i + 1, sizeof *s->frames,
                     h->n_frames)) {
            break;
        }
        s->frames[i].file = get_string(r, true, false, "a frame's file name");
        s->frames[i].line = (uint32_t)get_bounded(r, UINT32_MAX, "a frame's line");
    }
    s->n_frames = (size_t)h->n_frames;
    r->where = "the traceback table";
    uint64_t used = 0;
    for (uint64_t i = 0; i < h->n_tb && r->st == RC_SNAP_OK; i++) {
        uint64_t depth = get_bounded(r, h->n_tb_frames - used, "a traceback's depth");
        for (uint64_t k = 0; k < depth && r->st == RC_SNAP_OK; k++) {
            if (!reserve(r, (void **)&s->tb_frames, &s->tb_frames_bytes, used + k + 1,
                         sizeof *s->tb_frames, h->n_tb_frames)) {
                break;
            }
            s->tb_frames[used + k] =
                (uint32_t)get_bounded(r, h->n_frames ? h->n_frames - 1 : 0, "a frame index");
            if (r->st == RC_SNAP_OK && !h->n_frames) {
                fail(r, RC_SNAP_EFORMAT, "a traceback names a frame, but there are none");
            }
        }
        used += depth;
        if (r->st != RC_SNAP_OK || !reserve(r, (void **)&s->tb_off, &s->tb_off_bytes, i + 2,
                                            sizeof *s->tb_off, h->n_tb + 1)) {
            break;
        }
        s->tb_off[i + 1] = (uint32_t)used;
    }
    s->n_tb = (size_t)h->n_tb;
    if (r->st == RC_SNAP_OK && used != h->n_tb_frames) {
        fail(r, RC_SNAP_EFORMAT, "the tracebacks hold %llu frames, the header says %llu",
             (unsigned long long)used, (unsigned long long)h->n_tb_frames);
    }
    return r->st == RC_SNAP_OK;
}

/* The addresses must be distinct.  A heap's lie packed in its arenas, so
 * they are checked in a set of a bit per 8 bytes of the ranges they span
 * (refchain/addrset.h: a byte or two per node, where a hash index took 16
 * and a random probe each), in a thread of its own while the nodes are
 * read (addr_check_end joins it).  A file whose addresses are not 8-byte
 * aligned, or spread so thin that the set would outgrow SPARSE_BYTES per
 * node, is checked after the graph is built, by sorting a copy
 * (addresses_distinct). */
#define SPARSE_BYTES 16
/* Fewer addresses are checked at the end, in the reader's thread: starting
 * one costs more than checking them (and a fuzzer loads small files). */
#define ADDR_CHECK_THREAD_MIN 65536

typedef struct addr_check {
    const uintptr_t *addrs; /* the listed builder's, which stay put until the freeze */
    size_t n, budget;
    bool sort_later;     /* the set could not tell: sort a copy */
    bool nomem;
    uint64_t dup;        /* the first node at an earlier node's address, or UINT64_MAX */
    bool started;        /* `thread` runs it */
    pthread_t thread;
} addr_check;

static void *
addr_check_main(void *arg)
{
    addr_check *c = arg;
    rc_addrset *set = rc_addrset_new();
    c->nomem = !set;
    for (size_t v = 0; set && v < c->n; v++) {
        uintptr_t a = c->addrs[v];
        if ((a & 7) || (v % 4096 == 0 && rc_addrset_memory(set) > c->budget)) {
            c->sort_later = true;
            break;
        }
        int added = rc_addrset_add(set, a);
        if (added <= 0) {
            c->nomem = added < 0;
            c->dup = added == 0 ? v : c->dup;
            break;
        }
    }
    rc_addrset_free(set);
    return NULL;
}

static void
addr_check_begin(reader *r, rc_builder *b, addr_check *c)
{
    uint64_t n = rc_builder_node_count(b);
    *c = (addr_check){.addrs = rc_builder_listed_addrs(b), .n = (size_t)n,
                      .budget = (size_t)(n < r->prealloc ? n : r->prealloc) * SPARSE_BYTES +
                                ((size_t)1 << 20),
                      .dup = UINT64_MAX};
    c->started = n >= ADDR_CHECK_THREAD_MIN &&
                 rc_thread_start(&c->thread, addr_check_main, c) == 0;
}

/* Wait for the check (or make it, when no thread ran it) and report what it
 * found.  A shared address is reported over what reading the nodes found,
 * which comes later in the file. */
static void
addr_check_end(reader *r, addr_check *c)
{
    if (c->started) {
        pthread_join(c->thread, NULL);
        c->started = false;
    } else {
        addr_check_main(c);
    }
    if (c->dup != UINT64_MAX) {
        r->st = RC_SNAP_OK;
        fail(r, RC_SNAP_EFORMAT, "node %llu has the address of an earlier node, %#llx",
             (unsigned long long)c->dup, (unsigned long long)c->addrs[c->dup]);
    } else if (c->nomem) {
        r->where = "the address table";
        fail_nomem(r);
    }
}

enum { ADDR_BATCH = 512 };

static bool
read_addresses(reader *r, rc_builder *b, const body_head *h)
{
    r->where = "the address table";
    uintptr_t batch[ADDR_BATCH];
    uint64_t prev = 0;
    for (uint64_t v = 0; v < h->n_nodes && r->st == RC_SNAP_OK;) {
        size_t m = 0;
        const unsigned char *p = r->out + r->pos, *end = r->out + r->len;
        for (; m < ADDR_BATCH && v < h->n_nodes; m++, v++) {
            uint64_t u;
            if (!next_varint(r, &p, &end, &u)) {
                return false;
            }
            uint64_t a = prev + (uint64_t)unzigzag(u);
            if (a == 0 || a > UINTPTR_MAX) {
                r->pos = (size_t)(p - r->out);
                fail(r, RC_SNAP_EFORMAT, "node %llu has address %#llx",
                     (unsigned long long)v, (unsigned long long)a);
                return false;
            }
            batch[m] = (uintptr_t)a;
            prev = a;
        }
        r->pos = (size_t)(p - r->out);
        if (rc_builder_append_many(b, batch, m) != RC_OK) {
            fail_nomem(r);
        }
    }
    return r->st == RC_SNAP_OK;
}

static int
cmp_addr(const void *x, const void *y)
{
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return (a > b) - (a < b);
}

/* read_addresses' check, for the addresses it could not check as they came. */
static bool
addresses_distinct(reader *r, const rc_graph *g)
{
    size_t n = rc_graph_node_count(g), bytes;
    uintptr_t *a = rc_pool_array(n, sizeof *a, &bytes);
    if (!a) {
        fail_nomem(r);
        return false;
    }
    for (size_t v = 0; v < n; v++) {
        a[v] = rc_graph_addr(g, (rc_id)v);
    }
    qsort(a, n, sizeof *a, cmp_addr);
    for (size_t i = 1; i < n && r->st == RC_SNAP_OK; i++) {
        if (a[i] == a[i - 1]) {
            r->where = "the address table";
            fail(r, RC_SNAP_EFORMAT, "%s: two nodes have the address %#llx", where(r),
                 (unsigned long long)a[i]);
        }
    }
    rc_pool_free(a, bytes);
    return r->st == RC_SNAP_OK;
}

/* Targets k0 .. k0 + m - 1 of node v's out-edges into dst[], each a zigzag
 * difference from the previous target (*prev: v before the first).  False
 * after an error. */
static bool
read_targets(reader *r, const body_head *h, int64_t *prev, rc_id *dst, size_t m,
             uint64_t k0)
{
    const unsigned char *p = r->out + r->pos, *end = r->out + r->len;
    int64_t last = *prev;
    for (size_t i = 0; i < m; i++) {
        uint64_t u;
        if (!next_varint(r, &p, &end, &u)) {
            return false;
        }
        int64_t d = unzigzag(u);
        /* last is in [0, n): the target is in range iff -last <= d < n - last. */
        if (d < -last || d >= (int64_t)h->n_nodes - last) {
            r->pos = (size_t)(p - r->out);
            fail(r, RC_SNAP_EFORMAT, "%s: edge %llu points outside the %llu nodes",
                 where(r), (unsigned long long)(k0 + i),
                 (unsigned long long)h->n_nodes);
            return false;
        }
        last += d;
        dst[i] = (rc_id)last;
    }
    r->pos = (size_t)(p - r->out);
    *prev = last;
    return true;
}

/* Node v's deg out-edges, recorded EDGE_BATCH at a time: a node with more
 * than EDGE_BATCH of them, expanded through rc_builder_next(). */
enum { EDGE_BATCH = 256 };

static void
read_edges(reader *r, rc_builder *b, const body_head *h, uint64_t v, uint64_t deg)
{
    rc_id batch[EDGE_BATCH];
    int64_t prev = (int64_t)v;
    for (uint64_t k = 0; k < deg && r->st == RC_SNAP_OK;) {
        size_t m = deg - k < EDGE_BATCH ? (size_t)(deg - k) : EDGE_BATCH;
        if (!read_targets(r, h, &prev, batch, m, k)) {
            return;
        }
        k += m;
        if (rc_builder_edge_ids(b, batch, m) != RC_OK) {
            fail_nomem(r);
        }
    }
}

/* n edge labels into label[]: get_string()'s common cases (no label, or a
 * string defined before and already checked as text) on a local cursor,
 * the rest through get_string(). */
static void
read_labels(reader *r, uint32_t *label, uint64_t n)
{
    const rc_snapshot *s = r->s;
    const unsigned char *p = r->out + r->pos, *end = r->out + r->len;
    for (uint64_t k = 0; k < n; k++) {
        const unsigned char *q = p;
        uint64_t v;
        if (take_varint(&q, end, &v)) {
            if (v == SNAP_STR_NONE) {
                label[k] = RC_SNAP_NONE;
                p = q;
                continue;
            }
            uint64_t id = v - SNAP_STR_BASE;
            if (v >= SNAP_STR_BASE && id < s->n_str &&
                (s->str_kind[id] & (STR_CHECKED | STR_TEXT)) == (STR_CHECKED | STR_TEXT)) {
                label[k] = (uint32_t)id;
                p = q;
                continue;
            }
        }
        r->pos = (size_t)(p - r->out);
        label[k] = get_string(r, true, true, "an edge label");
        if (r->st != RC_SNAP_OK) {
            return;
        }
        p = r->out + r->pos;
        end = r->out + r->len;
    }
    r->pos = (size_t)(p - r->out);
}

/* One node's row: attributes, out-edges, labels, value, traceback. */
static void
read_node(reader *r, rc_builder *b, const body_head *h, uint64_t v, uint64_t *edges,
          uint32_t *prev_id)
{
    rc_snapshot *s = r->s;
    uint64_t type = get_bounded(r, h->n_types ? h->n_types - 1 : 0, "the type");
    if (r->st == RC_SNAP_OK && !h->n_types) {
        fail(r, RC_SNAP_EFORMAT, "a node, but no type table");
    }
    uint64_t size = get_varint(r);
    uint64_t refcnt = get_bounded(r, UINT32_MAX, "the reference count");
    uint64_t flags = get_bounded(r, UINT16_MAX, "the flags");
    uint64_t deg = get_bounded(r, h->n_edges - *edges, "the out-degree");
    if (r->st != RC_SNAP_OK) {
        return;
    }
    uint64_t first = *edges;
    /* Most nodes: the targets straight into the graph's edges, the node
     * closed in one call.  A node with many goes through batches. */
    rc_id *room = deg <= EDGE_BATCH ? rc_builder_room(b, (size_t)deg) : NULL;
    if (room) {
        int64_t prev = (int64_t)v;
        if (!read_targets(r, h, &prev, room, (size_t)deg, 0)) {
            return;
        }
    } else if (deg <= EDGE_BATCH) {
        fail_nomem(r);
        return;
    } else {
        uintptr_t addr;
        unsigned listed;
        rc_status st;
        if (!rc_builder_next(b, &addr, &listed, &st)) {
            fail_nomem(r); /* every node was resolved: only ENOMEM is left */
            return;
        }
        read_edges(r, b, h, v, deg);
    }
    *edges += deg;
    if (s->label && r->st == RC_SNAP_OK) {
        if (!reserve(r, (void **)&s->label, &s->label_bytes, first + deg, sizeof *s->label,
                     h->n_edges)) {
            return;
        }
        read_labels(r, s->label + first, deg);
    }
    if (s->value && r->st == RC_SNAP_OK &&
        reserve(r, (void **)&s->value, &s->value_bytes, v + 1, sizeof *s->value, h->n_nodes)) {
        s->value[v] = get_string(r, false, true, "the value");
    }
    if (s->alloc && r->st == RC_SNAP_OK &&
        reserve(r, (void **)&s->alloc, &s->alloc_bytes, v + 1, sizeof *s->alloc, h->n_nodes)) {
        uint64_t tb = get_bounded(r, h->n_tb, "the traceback");
        s->alloc[v] = tb ? (uint32_t)(tb - 1) : RC_SNAP_NONE;
    }
    if (s->ids && r->st == RC_SNAP_OK &&
        reserve(r, (void **)&s->ids, &s->ids_bytes, v + 1, sizeof *s->ids, h->n_nodes)) {
        int64_t d = unzigzag(get_varint(r)), last = *prev_id;
        /* The id is in [0, 2**32) iff -last <= d <= UINT32_MAX - last. */
        if (r->st == RC_SNAP_OK && (d < -last || d > (int64_t)UINT32_MAX - last)) {
            fail(r, RC_SNAP_EFORMAT, "%s: its object id does not fit in 32 bits", where(r));
        }
        s->ids[v] = *prev_id = r->st == RC_SNAP_OK ? (uint32_t)(last + d) : 0;
    }
    if (r->st == RC_SNAP_OK && (room ? rc_builder_row(b, (uint32_t)type, size, refcnt,
                                                      (unsigned)flags, (size_t)deg)
                                     : rc_builder_close(b, (uint32_t)type, size, refcnt,
                                                        (unsigned)flags)) != RC_OK) {
        fail_nomem(r);
    }
}

static bool
read_nodes(reader *r, rc_builder *b, const body_head *h)
{
    rc_snapshot *s = r->s;
    r->where = "the node table";
    size_t n = (size_t)h->n_nodes;
    if (((h->sections & RC_SNAP_LABELS) &&
         !reserve(r, (void **)&s->label, &s->label_bytes, 0, sizeof *s->label, h->n_edges)) ||
        ((h->sections & RC_SNAP_VALUES) &&
         !reserve(r, (void **)&s->value, &s->value_bytes, 0, sizeof *s->value, n)) ||
        ((h->sections & RC_SNAP_ALLOCS) &&
         !reserve(r, (void **)&s->alloc, &s->alloc_bytes, 0, sizeof *s->alloc, n)) ||
        ((h->sections & RC_SNAP_IDS) &&
         !reserve(r, (void **)&s->ids, &s->ids_bytes, 0, sizeof *s->ids, n))) {
        return false;
    }
    uint64_t edges = 0;
    uint32_t prev_id = 0;
    r->where = NULL;
    for (uint64_t v = 0; v < n && r->st == RC_SNAP_OK; v++) {
        r->node = v;
        read_node(r, b, h, v, &edges, &prev_id);
    }
    if (r->st != RC_SNAP_OK) {
        return false;
    }
    r->where = "the node table";
    if (edges != h->n_edges) {
        fail(r, RC_SNAP_EFORMAT, "the nodes hold %llu edges, the header says %llu",
             (unsigned long long)edges, (unsigned long long)h->n_edges);
    }
    return r->st == RC_SNAP_OK;
}

static int
cmp_root_ref(const void *x, const void *y)
{
    const root_ref *a = x, *b = y;
    return a->node != b->node ? (a->node > b->node) - (a->node < b->node)
                              : (a->index > b->index) - (a->index < b->index);
}

/* The root records sorted by node, for rc_snapshot_root_of(). */
static bool
order_roots(reader *r)
{
    rc_snapshot *s = r->s;
    s->root_order = rc_reallocarray(NULL, s->n_roots ? s->n_roots : 1, sizeof *s->root_order);
    if (!s->root_order) {
        fail_nomem(r);
        return false;
    }
    for (size_t i = 0; i < s->n_roots; i++) {
        s->root_order[i] = (root_ref){s->roots[i].node, (uint32_t)i};
    }
    qsort(s->root_order, s->n_roots, sizeof *s->root_order, cmp_root_ref);
    return true;
}

static bool
read_roots_and_facts(reader *r, const body_head *h)
{
    rc_snapshot *s = r->s;
    r->where = "the root table";
    for (uint64_t i = 0; i < h->n_roots && r->st == RC_SNAP_OK; i++) {
        if (!reserve(r, (void **)&s->roots, &s->roots_bytes, i + 1, sizeof *s->roots,
                     h->n_roots)) {
            break;
        }
        uint64_t node = get_varint(r);
        if (r->st == RC_SNAP_OK && node >= h->n_nodes) {
            fail(r, RC_SNAP_EFORMAT, "root %llu names node %llu of %llu", (unsigned long long)i,
                 (unsigned long long)node, (unsigned long long)h->n_nodes);
        }
        s->roots[i].node = (uint32_t)node;
        s->roots[i].kind = (uint32_t)get_bounded(r, UINT32_MAX, "a root's kind");
        s->roots[i].text = get_string(r, true, true, "a root's text");
    }
    s->n_roots = (size_t)h->n_roots;
    r->where = "the fact table";
    for (uint64_t i = 0; i < h->n_facts && r->st == RC_SNAP_OK; i++) {
        if (!reserve(r, (void **)&s->facts, &s->facts_bytes, i + 1, sizeof *s->facts,
                     h->n_facts)) {
            break;
        }
        s->facts[i].key = get_string(r, true, false, "a fact's key");
        s->facts[i].value = get_string(r, true, false, "a fact's value");
    }
    s->n_facts = (size_t)h->n_facts;
    return r->st == RC_SNAP_OK && order_roots(r);
}

/* The trailer, then nothing: not in the body, not after the frame. */
static bool
read_end(reader *r)
{
    r->where = "the trailer";
    uint64_t n_str = get_varint(r);
    unsigned char end[SNAP_END_LEN];
    for (size_t i = 0; i < SNAP_END_LEN && r->st == RC_SNAP_OK; i++) {
        get_byte(r, &end[i]);
    }
    if (r->st != RC_SNAP_OK) {
        return false;
    }
    if (n_str != r->s->n_str || memcmp(end, SNAP_END, SNAP_END_LEN) != 0) {
        fail(r, RC_SNAP_EFORMAT, "the trailer is wrong: the sections do not end where they should");
        return false;
    }
    if (r->pos < r->len || refill(r)) {
        fail(r, RC_SNAP_EFORMAT, "data follows the trailer inside the compressed body");
        return false;
    }
    if (r->st != RC_SNAP_OK) {
        return false;
    }
    /* The stream has ended: an inflater's thread is done with it. */
    if (r->z.body != r->z.body_size) {
        fail(r, RC_SNAP_EFORMAT, "the body is %llu bytes, the header declares %llu",
             (unsigned long long)r->z.body, (unsigned long long)r->z.body_size);
        return false;
    }
    int trailing = r->inf ? r->inf->trailing : stream_trailing(&r->z);
    if (trailing < 0) {
        report_end(r, FILL_EREAD);
        return false;
    }
    if (trailing) {
        fail(r, RC_SNAP_EFORMAT, "bytes follow the compressed body");
        return false;
    }
    return true;
}

/* ---- loading -------------------------------------------------------- */

static uint64_t
get_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) {
        v = v << 8 | p[i];
    }
    return v;
}

/* The prefix p[0..n) of a file of file_size bytes. */
static bool
check_prefix(reader *r, const unsigned char *p, size_t n, uint64_t file_size)
{
    if (n == 0) {
        fail(r, RC_SNAP_EFORMAT, "the file is empty");
        return false;
    }
    size_t k = n < SNAP_MAGIC_LEN ? n : SNAP_MAGIC_LEN;
    if (memcmp(p, SNAP_MAGIC, k) != 0) {
        fail(r, RC_SNAP_EFORMAT, "not a refchain snapshot (no \"\\x89RCSNAP\\n\" magic)");
        return false;
    }
    if (n < SNAP_PREFIX_LEN) {
        fail(r, RC_SNAP_EFORMAT, "truncated: the file ends inside its %d-byte header",
             SNAP_PREFIX_LEN);
        return false;
    }
    uint32_t version = (uint32_t)get_le(p + 8, 4);
    uint32_t flags = (uint32_t)get_le(p + 12, 4);
    if (version != RC_SNAP_VERSION) {
        fail(r, RC_SNAP_EVERSION, "snapshot format version %u; this refchain reads version %d",
             (unsigned)version, RC_SNAP_VERSION);
        return false;
    }
    if (flags != 0) {
        fail(r, RC_SNAP_EVERSION, "unknown header flags %#x (a newer refchain wrote it?)",
             (unsigned)flags);
        return false;
    }
    uint64_t frame = file_size > SNAP_PREFIX_LEN ? file_size - SNAP_PREFIX_LEN : 0;
    r->z.body_size = get_le(p + SNAP_BODY_SIZE_AT, 8);
    if (frame > UINT64_MAX / RC_SNAP_MAX_RATIO || r->z.body_size > frame * RC_SNAP_MAX_RATIO) {
        fail(r, RC_SNAP_EFORMAT,
             "the header declares a body of %llu bytes, more than %llu compressed bytes "
             "can hold",
             (unsigned long long)r->z.body_size, (unsigned long long)frame);
        return false;
    }
    r->prealloc = frame * RC_SNAP_PREALLOC_PER_BYTE + 1024;
    r->str_hint = 256; /* until the body's head says more */
    return true;
}

static bool
start(reader *r)
{
    r->where = "the header";
    r->out = r->own = rc_malloc(OUT_CHUNK);
    r->s = rc_calloc(1, sizeof *r->s);
    r->z.dctx = ZSTD_createDCtx_advanced(zstd_mem);
    if (!r->own || !r->s || !r->z.dctx) {
        fail_nomem(r);
        return false;
    }
    if (ZSTD_isError(ZSTD_DCtx_setParameter(r->z.dctx, ZSTD_d_windowLogMax, SNAP_WINDOW_LOG_MAX))) {
        fail(r, RC_SNAP_EIO, "zstd refused its parameters");
        return false;
    }
    return true;
}

static bool
read_body(reader *r)
{
    body_head h = {0};
    if (!read_head(r, &h)) {
        return false;
    }
    rc_builder *b =
        rc_builder_new_listed((size_t)(h.n_nodes < r->prealloc ? h.n_nodes : r->prealloc));
    if (!b) {
        fail_nomem(r);
        return false;
    }
    r->s->sections = (unsigned)h.sections;
    /* Sized once rather than grown by copies: a million values would
     * otherwise be copied and faulted in twice over. */
    uint64_t hint = ((h.sections & RC_SNAP_VALUES) ? h.n_nodes : 0) + 2 * h.n_types + h.n_frames +
                    h.n_roots + 2 * h.n_facts + 256;
    hint = hint < r->prealloc ? hint : r->prealloc;
    r->str_hint = (size_t)(hint < SIZE_MAX / (4 * STR_BYTES_HINT) ? hint : SIZE_MAX / (4 * STR_BYTES_HINT));
    addr_check check;
    bool ok = read_types(r, b, &h) && read_locations(r, &h) && read_addresses(r, b, &h);
    if (ok) {
        addr_check_begin(r, b, &check);
        ok = read_nodes(r, b, &h) && read_roots_and_facts(r, &h) && read_end(r);
        addr_check_end(r, &check);
        ok = ok && r->st == RC_SNAP_OK;
    }
    if (!ok) {
        rc_builder_free(b);
        return false;
    }
    r->where = "the graph";
    if (rc_builder_freeze(b, &r->s->graph) != RC_OK) {
        fail_nomem(r);
        return false;
    }
    return !check.sort_later || addresses_distinct(r, r->s->graph);
}

/* Run a reader whose input is set up; hand over or free the snapshot. */
static rc_snap_status
finish(reader *r, bool ok, rc_snapshot **out)
{
    if (ok && r->st == RC_SNAP_OK) {
        *out = r->s;
        r->s = NULL;
    }
    inflater_stop(r);
    rc_snapshot_free(r->s);
    ZSTD_freeDCtx(r->z.dctx);
    rc_free(r->own);
    rc_free(r->z.inbuf);
    return r->st;
}

rc_snap_status
rc_snapshot_load_mem(const void *data, size_t size, const char *name, rc_snapshot **out,
                     char *errbuf, size_t errlen)
{
    reader r = {.name = name ? name : "(memory)", .where = "the header", .errbuf = errbuf, .errlen = errlen, .z.fd = -1};
    if (errbuf && errlen) {
        errbuf[0] = '\0';
    }
    const unsigned char *p = data;
    bool ok = check_prefix(&r, p, size, size) && start(&r);
    if (ok) {
        r.z.zin = (ZSTD_inBuffer){p + SNAP_PREFIX_LEN, size - SNAP_PREFIX_LEN, 0};
        ok = read_body(&r);
    }
    return finish(&r, ok, out);
}

rc_snap_status
rc_snapshot_load(const char *path, rc_snapshot **out, char *errbuf, size_t errlen)
{
    reader r = {.name = path ? path : "(null)", .where = "the header", .errbuf = errbuf, .errlen = errlen, .z.fd = -1};
    if (errbuf && errlen) {
        errbuf[0] = '\0';
    }
    if (!path) {
        fail(&r, RC_SNAP_EINVAL, "no path");
        return r.st;
    }
    r.z.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r.z.fd < 0) {
        fail(&r, RC_SNAP_EIO, "cannot open: %s", strerror(errno));
        return r.st;
    }
    struct stat sb;
    bool ok = false;
    if (fstat(r.z.fd, &sb) != 0) {
        fail(&r, RC_SNAP_EIO, "cannot stat: %s", strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        fail(&r, RC_SNAP_EIO, "not a regular file");
    } else if (!(r.z.inbuf = rc_malloc(READ_CHUNK))) {
        r.where = "the header";
        fail_nomem(&r);
    } else {
        /* The prefix: read up to 16 bytes (fewer only at the end of file). */
        size_t got = 0;
        while (got < SNAP_PREFIX_LEN && r.st == RC_SNAP_OK) {
            ssize_t k = read(r.z.fd, r.z.inbuf + got, SNAP_PREFIX_LEN - got);
            if (k < 0 && errno == EINTR) {
                continue;
            }
            if (k < 0) {
                fail(&r, RC_SNAP_EIO, "cannot read: %s", strerror(errno));
            }
            if (k <= 0) {
                break;
            }
            got += (size_t)k;
        }
        ok = r.st == RC_SNAP_OK && check_prefix(&r, r.z.inbuf, got, (uint64_t)sb.st_size) &&
             start(&r);
        if (ok) {
            r.z.zin = (ZSTD_inBuffer){r.z.inbuf, 0, 0};
            ok = read_body(&r);
        }
    }
    rc_snap_status st = finish(&r, ok, out); /* the inflater is stopped first */
    close(r.z.fd);
    return st;
}

uint64_t
rc_snapshot_set_inflate_min(uint64_t bytes)
{
    return atomic_exchange(&inflate_min, bytes);
}

void
rc_snapshot_free(rc_snapshot *s)
{
    if (!s) {
        return;
    }
    rc_graph_free(s->graph);
    rc_pool_free(s->pool, s->pool_bytes);
    rc_pool_free(s->str_off, s->str_off_bytes);
    rc_pool_free(s->str_kind, s->str_kind_bytes);
    rc_pool_free(s->label, s->label_bytes);
    rc_pool_free(s->value, s->value_bytes);
    rc_pool_free(s->alloc, s->alloc_bytes);
    rc_pool_free(s->ids, s->ids_bytes);
    rc_pool_free(s->frames, s->frames_bytes);
    rc_pool_free(s->tb_off, s->tb_off_bytes);
    rc_pool_free(s->tb_frames, s->tb_frames_bytes);
    rc_pool_free(s->roots, s->roots_bytes);
    rc_free(s->root_order);
    rc_pool_free(s->facts, s->facts_bytes);
    rc_free(s);
}

/* ---- accessors ------------------------------------------------------ */

rc_graph *
rc_snapshot_graph(const rc_snapshot *s)
{
    return s->graph;
}

unsigned
rc_snapshot_sections(const rc_snapshot *s)
{
    return s->sections;
}

/* The string id of from's k-th out-edge's label, or RC_SNAP_NONE. */
static uint32_t
label_id(const rc_snapshot *s, rc_id from, size_t k)
{
    if (!s->label) {
        return RC_SNAP_NONE;
    }
    size_t n0, n;
    /* The edge's index in the CSR array: out-arrays are slices of one. */
    size_t e = (size_t)(rc_graph_out(s->graph, from, &n) - rc_graph_out(s->graph, 0, &n0));
    return s->label[e + k];
}

const char *
rc_snapshot_label(const rc_snapshot *s, rc_id from, size_t k)
{
    return str_at(s, label_id(s, from, k));
}

int
rc_snapshot_hop_positional(void *ctx, rc_id parent, rc_id child, uint32_t edge)
{
    (void)child;
    rc_snapshot *s = ctx;
    uint32_t id = label_id(s, parent, edge);
    size_t slot = id % HOP_MEMO;
    if (id != RC_SNAP_NONE && s->hop_memo[slot].id_plus_1 == id + 1) {
        return s->hop_memo[slot].positional;
    }
    const char *label = str_at(s, id);
    rc_relation rel;
    rc_status st = label ? rc_relation_decode(label, strlen(label), &rel) : RC_EINVAL;
    if (st != RC_OK) {
        return st == RC_ENOMEM ? -1 : 1;
    }
    int positional = rc_relation_positional(&rel);
    rc_relation_clear(&rel);
    s->hop_memo[slot].id_plus_1 = id + 1;
    s->hop_memo[slot].positional = (uint8_t)positional;
    return positional;
}

const char *
rc_snapshot_value(const rc_snapshot *s, rc_id v, size_t *len)
{
    uint32_t id = s->value ? s->value[v] : RC_SNAP_NONE;
    if (id == RC_SNAP_NONE) {
        *len = 0;
        return NULL;
    }
    *len = str_len(s, id);
    return str_at(s, id);
}

uint32_t
rc_snapshot_node_traceback(const rc_snapshot *s, rc_id v)
{
    return s->alloc ? s->alloc[v] : RC_SNAP_NONE;
}

uint32_t
rc_snapshot_node_id(const rc_snapshot *s, rc_id v)
{
    return s->ids ? s->ids[v] : (uint32_t)(RC_SNAP_ID_FIRST + RC_SNAP_ID_STEP * (uint32_t)v);
}

size_t
rc_snapshot_alloc_depth(const rc_snapshot *s, rc_id v)
{
    uint32_t t = rc_snapshot_node_traceback(s, v);
    return t == RC_SNAP_NONE ? 0 : s->tb_off[t + 1] - s->tb_off[t];
}

rc_snap_frame
rc_snapshot_frame(const rc_snapshot *s, size_t i)
{
    return (rc_snap_frame){str_at(s, s->frames[i].file), s->frames[i].line};
}

rc_snap_frame
rc_snapshot_alloc_frame(const rc_snapshot *s, rc_id v, size_t i)
{
    uint32_t t = s->alloc[v];
    return rc_snapshot_frame(s, s->tb_frames[s->tb_off[t] + i]);
}

size_t
rc_snapshot_frame_count(const rc_snapshot *s)
{
    return s->n_frames;
}

size_t
rc_snapshot_traceback_count(const rc_snapshot *s)
{
    return s->n_tb;
}

const uint32_t *
rc_snapshot_traceback(const rc_snapshot *s, size_t t, size_t *n)
{
    *n = s->tb_off[t + 1] - s->tb_off[t];
    return s->tb_frames + s->tb_off[t];
}

size_t
rc_snapshot_root_count(const rc_snapshot *s)
{
    return s->n_roots;
}

rc_snap_root
rc_snapshot_root(const rc_snapshot *s, size_t i)
{
    return (rc_snap_root){s->roots[i].node, s->roots[i].kind, str_at(s, s->roots[i].text)};
}

uint32_t
rc_snapshot_root_of(const rc_snapshot *s, rc_id v)
{
    size_t lo = 0, hi = s->n_roots; /* the first record past v: lo */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->root_order[mid].node <= v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo && s->root_order[lo - 1].node == v ? s->root_order[lo - 1].index : RC_SNAP_NONE;
}

size_t
rc_snapshot_fact_count(const rc_snapshot *s)
{
    return s->n_facts;
}

rc_snap_fact
rc_snapshot_fact(const rc_snapshot *s, size_t i)
{
    return (rc_snap_fact){str_at(s, s->facts[i].key), str_at(s, s->facts[i].value)};
}
