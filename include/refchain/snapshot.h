/* Snapshot files: an rc_graph and its side tables, written to disk and read
 * back (the format is docs/format.md).
 *
 * The writer streams: it encodes the graph node by node into a small buffer
 * and compresses it with zstd as it goes, so a dump needs the graph plus a
 * few hundred KiB (and the distinct strings it deduplicates).  It writes a
 * temporary file next to the target, fsyncs it and renames it into place:
 * the target path is either untouched or holds a complete file, mode 0600.
 *
 * The reader treats every byte as hostile.  Counts are checked against what
 * the file can hold before anything is sized by them, ids and indexes are
 * range-checked, and any failure returns a status and a message naming the
 * file and what is wrong.  It never crashes or hangs, and what it allocates
 * is proportional to the bytes it has actually decompressed (which the
 * file's declared body size bounds).
 *
 * Both sides allocate through rc_malloc (refchain/alloc.h), zstd's contexts
 * included. */
#ifndef REFCHAIN_SNAPSHOT_H
#define REFCHAIN_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"
#include "refchain/present.h"

/* The format version this code writes and the only one it reads. */
#define RC_SNAP_VERSION 1
/* "No entry" in uint32 side-table slots (no traceback, no root text). */
#define RC_SNAP_NONE UINT32_MAX
/* What edge_label and node_value set *len to when they fail. */
#define RC_SNAP_FAILED SIZE_MAX
/* Longest text string (a type name, label, root text, file name or fact)
 * and longest node value, in bytes. */
#define RC_SNAP_MAX_TEXT 65536
#define RC_SNAP_MAX_VALUE 4096
/* The loader's size rule (docs/format.md, "Limits"): the prefix declares
 * the body's decompressed size, which must be at most RC_SNAP_MAX_RATIO
 * times the compressed bytes (zstd cannot do better: a 128 KiB RLE block
 * takes 4 bytes), and the counts the body announces must fit in it at their
 * minimum encoded size.  Arrays are pre-sized from counts only up to
 * RC_SNAP_PREALLOC_PER_BYTE entries per compressed byte; past that they
 * grow with the records actually read. */
#define RC_SNAP_MAX_RATIO 32768
#define RC_SNAP_PREALLOC_PER_BYTE 16

/* Why a dump or load failed.  Own codes rather than rc_status: files fail in
 * ways a graph does not (the OS refused, the bytes are wrong). */
typedef enum rc_snap_status {
    RC_SNAP_OK = 0,
    RC_SNAP_ENOMEM,   /* an allocation failed */
    RC_SNAP_EIO,      /* open, read, write, fsync or rename failed (errno in the message) */
    RC_SNAP_EFORMAT,  /* not a snapshot, or a truncated, corrupt or hostile one */
    RC_SNAP_EVERSION, /* a snapshot of a format version this code does not read */
    RC_SNAP_EINVAL,   /* the caller broke the contract (a bad table, a too-long string) */
    RC_SNAP_ETOOBIG   /* more nodes, edges or types than an rc_graph holds */
} rc_snap_status;

/* A static name for a status ("out of memory", "corrupt snapshot"...). */
const char *rc_snap_status_str(rc_snap_status st);

/* One frame of an allocation traceback: a file name (UTF-8) and a line. */
typedef struct rc_snap_frame {
    const char *file;
    uint32_t line;
} rc_snap_frame;

/* A root: the node, the capture's kind number (opaque here) and a
 * description (UTF-8, may be NULL). */
typedef struct rc_snap_root {
    rc_id node;
    uint32_t kind;
    const char *text;
} rc_snap_root;

/* A process fact: key and value, both UTF-8. */
typedef struct rc_snap_fact {
    const char *key;
    const char *value;
} rc_snap_fact;

/* What a dump writes besides the graph.  Every member may be NULL/0: a NULL
 * callback leaves its section out of the file.  Text is UTF-8 without NUL
 * bytes, at most RC_SNAP_MAX_TEXT bytes; values are any bytes, at most
 * RC_SNAP_MAX_VALUE.  The pointer a callback returns need only live until
 * the next callback.  Everything is borrowed for the duration of the dump
 * only.  Callbacks are lookups, but edge_label and node_value may make what
 * they return, and fail: NULL with *len = RC_SNAP_FAILED then fails the dump
 * with RC_SNAP_ENOMEM, and no file is written. */
typedef struct rc_snap_tables {
    void *ctx; /* passed to the callbacks */
    /* The label of from's k-th out-edge (k < its out-degree, in
     * rc_graph_out() order), *len bytes; NULL for an unlabelled edge. */
    const char *(*edge_label)(void *ctx, rc_id from, size_t k, size_t *len);
    /* A short value for v (its bytes, *len of them); NULL for none. */
    const char *(*node_value)(void *ctx, rc_id v, size_t *len);
    /* The index of v's allocation traceback, < n_tracebacks, or
     * RC_SNAP_NONE. */
    uint32_t (*node_alloc)(void *ctx, rc_id v);
    /* The location table: frames[0..n_frames), and tracebacks as CSR:
     * traceback t is frames traceback_frames[traceback_off[t] ..
     * traceback_off[t + 1]), each an index < n_frames.  traceback_off has
     * n_tracebacks + 1 entries, non-decreasing, starting at 0. */
    const rc_snap_frame *frames;
    size_t n_frames;
    const uint32_t *traceback_off;
    const uint32_t *traceback_frames;
    size_t n_tracebacks;
    const rc_snap_root *roots; /* node < the graph's node count */
    size_t n_roots;
    const rc_snap_fact *facts;
    size_t n_facts;
    /* v's object id (any uint32; refchain/idmap.h assigns ids that stay
     * the same across the dumps of one process).  NULL: no id section, and
     * the reader falls back to rc_snapshot_node_id()'s default. */
    uint32_t (*node_id)(void *ctx, rc_id v);
    /* Threads zstd compresses in, beside the caller's (0: in the caller's
     * alone).  The callbacks are still called from the caller's thread
     * only; a libzstd built without threads compresses in the caller's. */
    unsigned workers;
} rc_snap_tables;

/* Write g and `tables` (NULL: none) to `path`.  On success the file is
 * complete and renamed into place with mode 0600.  On failure `path` is
 * untouched, the temporary file is removed, and, when errbuf is not NULL,
 * errbuf receives a NUL-terminated message of at most errlen bytes naming
 * the file and the cause.  RC_SNAP_EINVAL for a table that breaks the
 * contract above (the arrays are checked before any file is created, what
 * the callbacks return as it is written), RC_SNAP_EIO, RC_SNAP_ENOMEM.
 * After RC_SNAP_EIO errno holds the cause.  `path` must name a regular file
 * or nothing: an empty path fails with ENOENT, a directory with EISDIR,
 * anything else (a device, a FIFO, a socket, a symbolic link) with EEXIST,
 * and is never replaced.  g is only read. */
rc_snap_status rc_snapshot_dump(const char *path, const rc_graph *g, const rc_snap_tables *tables,
                                char *errbuf, size_t errlen);

/* A loaded snapshot: the graph (out-edges only; call rc_graph_build_in on
 * rc_snapshot_graph() when needed) and the side tables the file carried. */
typedef struct rc_snapshot rc_snapshot;

/* Which sections a snapshot carries (rc_snapshot_sections). */
enum {
    RC_SNAP_LABELS = 1 << 0,
    RC_SNAP_VALUES = 1 << 1,
    RC_SNAP_ALLOCS = 1 << 2,
    RC_SNAP_IDS = 1 << 3,
};

/* Object ids without an id section (rc_snapshot_node_id): node v gets
 * RC_SNAP_ID_FIRST + RC_SNAP_ID_STEP * v, modulo 2**32 (distinct for the
 * first 2**31 nodes).  The numbers follow V8's heap snapshots, whose root
 * is id 1, "(GC roots)" id 3, and whose heap objects have odd ids (even ids
 * are for embedder objects); refchain/heapsnap.h's "(GC roots)" is id 3. */
#define RC_SNAP_ID_FIRST 5u
#define RC_SNAP_ID_STEP 2u

/* Read `path`.  On success *out receives a snapshot the caller frees with
 * rc_snapshot_free().  On failure *out is untouched, nothing leaks, and
 * errbuf (when not NULL) receives a message naming the file and what is
 * wrong: RC_SNAP_EIO, RC_SNAP_EFORMAT, RC_SNAP_EVERSION, RC_SNAP_ENOMEM,
 * RC_SNAP_ETOOBIG. */
rc_snap_status rc_snapshot_load(const char *path, rc_snapshot **out, char *errbuf, size_t errlen);

/* rc_snapshot_load() from memory: data[0..size) is the whole file; `name`
 * is what messages call it.  data is only read, during the call. */
rc_snap_status rc_snapshot_load_mem(const void *data, size_t size, const char *name,
                                    rc_snapshot **out, char *errbuf, size_t errlen);

/* Bodies that decompress to at least `bytes` are decompressed on a thread
 * of their own, ahead of the reader (default 4 MiB; 0: every body, and
 * UINT64_MAX: none).  Returns the previous value.  The thread allocates
 * nothing and never runs while no load does; for tests and tuning. */
uint64_t rc_snapshot_set_inflate_min(uint64_t bytes);

/* Free a snapshot and everything its accessors returned.  NULL is allowed. */
void rc_snapshot_free(rc_snapshot *s);

/* The accessors never fail and never change the snapshot; ids and indexes
 * out of range are the caller's bug (not checked).  Strings are borrowed
 * and live as long as the snapshot. */

/* The graph, owned by the snapshot.  Non-const so the caller can build its
 * in-edges; it must not be freed. */
rc_graph *rc_snapshot_graph(const rc_snapshot *s);
/* RC_SNAP_LABELS | RC_SNAP_VALUES | RC_SNAP_ALLOCS | RC_SNAP_IDS, as
 * present. */
unsigned rc_snapshot_sections(const rc_snapshot *s);

/* The label of from's k-th out-edge (NUL-terminated UTF-8), or NULL when
 * it has none or the file has no labels. */
const char *rc_snapshot_label(const rc_snapshot *s, rc_id from, size_t k);
/* rc_hop_names' positional() for a loaded snapshot (ctx: the rc_snapshot):
 * whether the label of parent's edge-th out-edge is positional
 * (rc_relation_positional).  An edge with no label, or one that cannot be
 * decoded, reads `<referent #k>` and so is positional.  -1 on ENOMEM. */
int rc_snapshot_hop_positional(void *ctx, rc_id parent, rc_id child, uint32_t edge);
/* v's value (*len bytes, followed by a NUL not counted), or NULL. */
const char *rc_snapshot_value(const rc_snapshot *s, rc_id v, size_t *len);
/* The number of frames in v's allocation traceback (0: none known), and its
 * i-th frame, in the order the dump was given them. */
size_t rc_snapshot_alloc_depth(const rc_snapshot *s, rc_id v);
rc_snap_frame rc_snapshot_alloc_frame(const rc_snapshot *s, rc_id v, size_t i);
/* The location table as written: its frames and tracebacks, and the index of
 * v's traceback (RC_SNAP_NONE when none). */
size_t rc_snapshot_frame_count(const rc_snapshot *s);
rc_snap_frame rc_snapshot_frame(const rc_snapshot *s, size_t i);
size_t rc_snapshot_traceback_count(const rc_snapshot *s);
uint32_t rc_snapshot_node_traceback(const rc_snapshot *s, rc_id v);
/* v's object id: the one the dump's node_id callback gave (RC_SNAP_IDS),
 * else RC_SNAP_ID_FIRST + RC_SNAP_ID_STEP * v (modulo 2**32).  The reader
 * checks that ids fit in 32 bits, not that they are distinct. */
uint32_t rc_snapshot_node_id(const rc_snapshot *s, rc_id v);
/* Traceback t's frame indexes; *n receives their number. */
const uint32_t *rc_snapshot_traceback(const rc_snapshot *s, size_t t, size_t *n);

size_t rc_snapshot_root_count(const rc_snapshot *s);
rc_snap_root rc_snapshot_root(const rc_snapshot *s, size_t i);
/* The index of the last root record naming node v, or RC_SNAP_NONE when none
 * does.  O(log roots). */
uint32_t rc_snapshot_root_of(const rc_snapshot *s, rc_id v);
size_t rc_snapshot_fact_count(const rc_snapshot *s);
rc_snap_fact rc_snapshot_fact(const rc_snapshot *s, size_t i);

/* Questions the side tables answer (walker/snapquery.c).  Unlike the
 * accessors they allocate, and may fail. */

/* The relation of from's k-th out-edge (k < its out-degree) as the file
 * recorded it, into *rel (free it with rc_relation_clear): its label
 * decoded, or `<referent #k>` (RC_REL_FALLBACK) when the edge has no label
 * or one that does not decode (a loaded file is hostile).  RC_OK;
 * RC_ENOMEM with *rel zeroed. */
rc_status rc_snapshot_relation(const rc_snapshot *s, rc_id from, size_t k,
                               rc_relation *rel);

/* The labels of the chain ids[0] -> ids[1] -> ..., hop i being ids[i]'s
 * edges[i]-th out-edge (i < n; the node the last hop reaches is not
 * needed), read as the live chain reads them: rc_present() on each hop's
 * rc_snapshot_relation(), no limit.  *steps (free with
 * rc_label_steps_free) and *n_steps receive the steps.  RC_OK; RC_EINVAL,
 * before anything is allocated, when a hop names no edge of s (an id past
 * the graph, an index past the node's out-degree); RC_ENOMEM.  On error
 * the outputs are untouched. */
rc_status rc_snapshot_chain_labels(const rc_snapshot *s, const rc_id *ids,
                                   const size_t *edges, size_t n, rc_label_step **steps,
                                   size_t *n_steps);

/* How many of the nodes ids[0..n) (node ids of s, each counted as often as
 * it is given) each allocation traceback made: *count (rc_malloc'ed,
 * rc_snapshot_traceback_count(s) entries and at least one; the caller
 * frees it) receives count[t] for traceback t.  Nodes with no traceback
 * are left out.  RC_OK; RC_ENOMEM with *count untouched. */
rc_status rc_snapshot_traceback_histogram(const rc_snapshot *s, const rc_id *ids,
                                          size_t n, size_t **count);

#endif
