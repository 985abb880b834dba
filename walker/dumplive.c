/* A dump of a live capture (see refchain/dumplive.h).
 *
 * The file layer asks for the labels of one referrer's out-edges at a time,
 * in node order.  They are related in one pass for all of them
 * (rc_relate_out, with a per-type memo kept for the whole dump), encoded at
 * once into text[], and the relations dropped before the next referrer. */
#include <Python.h>
#include <errno.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/dumplive.h"
#include "refchain/pool.h"
#include "refchain/relate.h"

typedef struct dump_ctx {
    const rc_live_dump *d;
    rc_relate_ctx relate;
    rc_id from;          /* whose labels are in text[], or RC_NO_ID */
    char *text;          /* the labels, NUL-separated: label k at text[at[k]] */
    size_t *at, n_at, text_len, text_cap; /* at: from the pool */
    size_t at_bytes;
    rc_relation *rels;   /* scratch for rc_relate_out, from the pool */
    PyObject **children; /* scratch: the referents, from the pool */
    size_t rels_cap, rels_bytes, children_bytes;
    char *enc; /* scratch: one encoded label */
    size_t enc_cap;
    char value[RC_SHORT_VALUE_MAX];
} dump_ctx;

/* What redact writes for a data dict's key: a key relation that names
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
    const rc_id *out = rc_graph_out(c->d->g, from, &deg);
    if (deg > c->rels_cap) {
        /* Scratch, rewritten for each referrer: nothing to copy.  From the
         * capture's pool, where a dump's few large referrers find their
         * blocks resident the next time. */
        size_t cap = deg > 2 * c->rels_cap ? deg : 2 * c->rels_cap;
        rc_pool_free(c->rels, c->rels_bytes);
        rc_pool_free(c->children, c->children_bytes);
        c->rels = rc_pool_array(cap, sizeof *c->rels, &c->rels_bytes);
        c->children = rc_pool_array(cap, sizeof *c->children, &c->children_bytes);
        rc_pool_free(c->at, c->at_bytes);
        c->at = rc_pool_array(cap, sizeof *c->at, &c->at_bytes);
        c->rels_cap = c->rels && c->children && c->at ? cap : 0;
        if (!c->rels_cap) {
            return -1;
        }
    }
    PyObject *const *held = c->d->held;
    for (size_t i = 0; i < deg; i++) {
        c->children[i] = held[out[i]];
    }
    if (rc_relate_out(&c->relate, held[from], c->children, deg, c->rels) != RC_OK) {
        return -1;
    }
    /* A data dict's key is data; a namespace's keys are names in code. */
    int data = c->d->redact && !(rc_graph_flags(c->d->g, from) & RC_NODE_NAMESPACE);
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
            *len = RC_SNAP_FAILED; /* the dump fails, and writes no file */
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
    long n = c->d->values ? rc_short_value(c->d->held[v], c->value) : -1;
    if (n < 0) {
        return NULL;
    }
    *len = (size_t)n;
    return c->value;
}

static uint32_t
dump_id(void *ctx, rc_id v)
{
    return ((dump_ctx *)ctx)->d->ids[v];
}

static uint32_t
dump_alloc(void *ctx, rc_id v)
{
    return ((dump_ctx *)ctx)->d->sites->node_traceback[v];
}

rc_snap_status
rc_dump_live(const char *path, const rc_live_dump *d, rc_snap_tables *t, char *msg, size_t cap)
{
    dump_ctx c = {.d = d, .from = RC_NO_ID};
    t->ctx = &c;
    t->edge_label = dump_label;
    t->node_value = dump_value;
    t->node_id = dump_id;
    if (d->sites) {
        t->node_alloc = dump_alloc;
        t->frames = d->sites->frames;
        t->n_frames = d->sites->n_frames;
        t->traceback_off = d->sites->traceback_off;
        t->traceback_frames = d->sites->traceback_frames;
        t->n_tracebacks = d->sites->n_tracebacks;
    }
    rc_relate_ctx_init(&c.relate, RC_RELATE_LIVE);
    c.relate.memo = rc_relate_memo_new(); /* NULL: relates without one */
    rc_snap_status st = rc_snapshot_dump(path, d->g, t, msg, cap);
    int err = errno; /* the cause of RC_SNAP_EIO, kept for the caller */
    rc_free(c.text);
    rc_pool_free(c.at, c.at_bytes);
    rc_pool_free(c.rels, c.rels_bytes);
    rc_pool_free(c.children, c.children_bytes);
    rc_free(c.enc);
    rc_relate_memo_free(c.relate.memo);
    t->ctx = NULL;
    errno = err;
    return st;
}
