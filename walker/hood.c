/* The neighbourhood walk (see refchain/hood.h).
 *
 * One FIFO worklist: the answer array itself, in order of discovery, so
 * answer objects are numbered as they are found.  Per node of the graph:
 * its slot in the answer (or NONE / DROPPED) and, with a keep callback, the
 * callback's verdict (unknown / keep / drop), asked at most once. */
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/held.h"
#include "refchain/hood.h"

#define SLOT_NONE UINT32_MAX
#define SLOT_DROPPED (UINT32_MAX - 1)

enum { VERDICT_UNKNOWN, VERDICT_KEEP, VERDICT_DROP };

typedef struct walk {
    const rc_graph *g;
    const rc_hood_opts *o;
    uint32_t *slot;
    uint8_t *verdict; /* NULL without a callback */
    rc_hood h;
    size_t cap, edges_cap, more_cap;
} walk;

void
rc_hood_free(rc_hood *h)
{
    if (!h) {
        return;
    }
    rc_free(h->ids);
    rc_free(h->depth);
    rc_free(h->start_of);
    rc_free(h->edges);
    rc_free(h->more);
    memset(h, 0, sizeof *h);
}

static rc_status
add_object(walk *w, rc_id v, uint32_t depth)
{
    if (w->h.n >= UINT32_MAX - 2) {
        return RC_ETOOBIG; /* answer indexes are uint32, below the slot marks */
    }
    size_t cap = w->cap;
    if (rc_room((void **)&w->h.ids, w->h.n, &cap, sizeof *w->h.ids, 64) < 0 ||
        rc_room((void **)&w->h.depth, w->h.n, &w->cap, sizeof *w->h.depth, 64) < 0) {
        return RC_ENOMEM;
    }
    w->h.ids[w->h.n] = v;
    w->h.depth[w->h.n] = depth;
    if (v != RC_NO_ID) {
        w->slot[v] = (uint32_t)w->h.n;
    }
    w->h.n++;
    return RC_OK;
}

/* Whether the walk shows neighbour v at all: 1, 0, or -1 (callback failed). */
static int
admits(walk *w, rc_id v)
{
    const rc_hood_opts *o = w->o;
    if ((rc_graph_flags(w->g, v) & RC_NODE_TOOL_FRAME) ||
        rc_addrs_contain(o->ignore, o->n_ignore, rc_graph_addr(w->g, v))) {
        return 0;
    }
    if (!w->verdict || w->slot[v] < SLOT_DROPPED) {
        return 1; /* already in the answer: asked before, or a start */
    }
    if (w->verdict[v] == VERDICT_UNKNOWN) {
        int keep = o->keep(o->keep_ctx, v);
        if (keep < 0) {
            return -1;
        }
        w->verdict[v] = keep ? VERDICT_KEEP : VERDICT_DROP;
    }
    return w->verdict[v] == VERDICT_KEEP;
}

/* Show or count u's neighbours (u is answer object `head`). */
static rc_status
expand(walk *w, size_t head)
{
    const rc_hood_opts *o = w->o;
    rc_id u = w->h.ids[head];
    size_t deg, shown = 0, more = 0, occ = 0;
    const rc_id *nb = o->backwards ? rc_graph_in(w->g, u, &deg) : rc_graph_out(w->g, u, &deg);
    for (size_t i = 0; i < deg; i++) {
        rc_id v = nb[i];
        occ = i > 0 && nb[i - 1] == v ? occ + 1 : 0; /* in-edges are sorted */
        int admit = admits(w, v);
        if (admit <= 0) {
            if (admit < 0) {
                return RC_ECALLBACK;
            }
            continue;
        }
        if (shown >= o->too_many) {
            more++;
            continue;
        }
        shown++;
        if (w->slot[v] == SLOT_NONE) {
            if (w->h.n >= o->max_nodes) {
                w->slot[v] = SLOT_DROPPED;
                w->h.capped++;
                continue;
            }
            rc_status st = add_object(w, v, w->h.depth[head] + 1);
            if (st != RC_OK) {
                return st;
            }
        }
        if (w->slot[v] == SLOT_DROPPED) {
            continue;
        }
        if (rc_room((void **)&w->h.edges, w->h.n_edges, &w->edges_cap, sizeof *w->h.edges,
                    64) < 0) {
            return RC_ENOMEM;
        }
        w->h.edges[w->h.n_edges++] = o->backwards
            ? (rc_hood_edge){w->slot[v], (uint32_t)head, rc_graph_out_index(w->g, v, u, occ)}
            : (rc_hood_edge){(uint32_t)head, w->slot[v], (uint32_t)i};
    }
    if (more) {
        if (rc_room((void **)&w->h.more, w->h.n_more, &w->more_cap, sizeof *w->h.more, 64) < 0) {
            return RC_ENOMEM;
        }
        w->h.more[w->h.n_more++] =
            (rc_hood_more){(uint32_t)head, more > UINT32_MAX ? UINT32_MAX : (uint32_t)more};
    }
    return RC_OK;
}

static rc_status
add_starts(walk *w, const rc_id *starts, size_t n_starts)
{
    w->h.start_of = rc_malloc((n_starts ? n_starts : 1) * sizeof *w->h.start_of);
    if (!w->h.start_of) {
        return RC_ENOMEM;
    }
    for (size_t i = 0; i < n_starts; i++) {
        if (starts[i] != RC_NO_ID && w->slot[starts[i]] != SLOT_NONE) {
            continue; /* asked twice */
        }
        rc_status st = add_object(w, starts[i], 0);
        if (st != RC_OK) {
            return st;
        }
        w->h.start_of[w->h.n - 1] = i;
    }
    w->h.n_distinct = w->h.n;
    return RC_OK;
}

rc_status
rc_hood_walk(const rc_graph *g, const rc_id *starts, size_t n_starts, const rc_hood_opts *o,
             rc_hood *out)
{
    size_t nn = rc_graph_node_count(g);
    if (o->too_many < 1 || o->max_nodes < 1 || (o->backwards && !rc_graph_has_in(g))) {
        return RC_EINVAL;
    }
    for (size_t i = 0; i < n_starts; i++) {
        if (starts[i] != RC_NO_ID && starts[i] >= nn) {
            return RC_EINVAL;
        }
    }
    walk w = {g, o, NULL, NULL, {0}, 0, 0, 0};
    rc_status st = RC_ENOMEM;
    w.slot = rc_malloc((nn ? nn : 1) * sizeof *w.slot);
    w.verdict = o->keep ? rc_calloc(nn ? nn : 1, 1) : NULL;
    if (!w.slot || (o->keep && !w.verdict)) {
        goto finally;
    }
    for (size_t v = 0; v < nn; v++) {
        w.slot[v] = SLOT_NONE;
    }
    if ((st = add_starts(&w, starts, n_starts)) != RC_OK) {
        goto finally;
    }
    for (size_t head = 0; head < w.h.n && st == RC_OK; head++) {
        rc_id u = w.h.ids[head];
        if (u == RC_NO_ID || w.h.depth[head] >= o->max_depth ||
            (o->backwards && (rc_graph_flags(g, u) & RC_NODE_MODULE))) {
            continue;
        }
        st = expand(&w, head);
    }
finally:
    rc_free(w.slot);
    rc_free(w.verdict);
    if (st != RC_OK) {
        rc_hood_free(&w.h);
        return st;
    }
    *out = w.h;
    return RC_OK;
}

int64_t
rc_hood_refcount(const rc_graph *g, rc_id v, const uintptr_t *ignore, size_t n_ignore)
{
    if (rc_graph_flags(g, v) & RC_NODE_IMMORTAL) {
        return -1;
    }
    rc_holders h = rc_holders_of(g, v, ignore, n_ignore, NULL, 0);
    int64_t n = h.outside + (int64_t)h.others;
    return n < 0 ? 0 : n;
}
