/* The predicate search (see refchain/search.h).
 *
 * One FIFO worklist.  Per node: its depth (RC_UNREACHED until queued) and
 * the node it was queued from.  The skip list is copied and sorted once so
 * that each edge costs a bisection, not a scan. */
#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/held.h"
#include "refchain/search.h"

static int
cmp_pair(const void *a, const void *b)
{
    const rc_discount *x = a, *y = b;
    if (x->from != y->from) {
        return x->from < y->from ? -1 : 1;
    }
    return (x->to > y->to) - (x->to < y->to);
}

static int
skipped(const rc_discount *skip, size_t n, rc_id from, rc_id to)
{
    rc_discount key = {from, to, 0};
    return n && bsearch(&key, skip, n, sizeof *skip, cmp_pair) != NULL;
}

/* The chain from found back to the start through parent[], in reference
 * order; NULL on ENOMEM. */
static rc_id *
chain_of(const rc_id *parent, const uint32_t *depth, rc_id found, int backwards, size_t *len)
{
    size_t l = (size_t)depth[found] + 1;
    rc_id *c = rc_malloc(l * sizeof *c);
    if (!c) {
        return NULL;
    }
    size_t i = backwards ? 0 : l - 1;
    for (rc_id v = found; v != RC_NO_ID; v = parent[v]) {
        c[i] = v;
        i += backwards ? 1 : (size_t)-1;
    }
    *len = l;
    return c;
}

rc_status
rc_search(const rc_graph *g, rc_id start, const rc_search_opts *o, rc_id **chain, size_t *len)
{
    size_t n = rc_graph_node_count(g);
    if (start >= n || !o->pred || (o->backwards && !rc_graph_has_in(g))) {
        return RC_EINVAL;
    }
    rc_id *parent = rc_malloc(n * sizeof *parent);
    rc_id *queue = rc_malloc(n * sizeof *queue);
    uint32_t *depth = rc_malloc(n * sizeof *depth);
    rc_discount *skip = o->n_skip ? rc_malloc(o->n_skip * sizeof *skip) : NULL;
    rc_status st = RC_ENOMEM;
    rc_id found = RC_NO_ID;
    if (!parent || !queue || !depth || (o->n_skip && !skip)) {
        goto finally;
    }
    if (o->n_skip) {
        memcpy(skip, o->skip, o->n_skip * sizeof *skip);
        qsort(skip, o->n_skip, sizeof *skip, cmp_pair);
    }
    for (rc_id v = 0; v < n; v++) {
        depth[v] = RC_UNREACHED;
    }
    size_t head = 0, tail = 0;
    depth[start] = 0;
    parent[start] = RC_NO_ID;
    queue[tail++] = start;
    st = RC_OK;
    while (head < tail && found == RC_NO_ID) {
        rc_id u = queue[head++];
        if (u != start) {
            int yes = o->pred(o->pred_ctx, u);
            if (yes < 0) {
                st = RC_ECALLBACK;
                goto finally;
            }
            if (yes) {
                found = u;
                break;
            }
        }
        if ((size_t)depth[u] >= o->max_depth) {
            continue;
        }
        size_t deg;
        const rc_id *next = o->backwards ? rc_graph_in(g, u, &deg) : rc_graph_out(g, u, &deg);
        for (size_t i = 0; i < deg; i++) {
            rc_id v = next[i];
            if (depth[v] != RC_UNREACHED || (rc_graph_flags(g, v) & RC_NODE_TOOL_FRAME) ||
                (o->backwards ? skipped(skip, o->n_skip, v, u)
                              : skipped(skip, o->n_skip, u, v)) ||
                rc_addrs_contain(o->ignore, o->n_ignore, rc_graph_addr(g, v))) {
                continue;
            }
            depth[v] = depth[u] + 1;
            parent[v] = u;
            queue[tail++] = v;
        }
    }
    rc_id *c = NULL;
    size_t l = 0;
    if (found != RC_NO_ID && !(c = chain_of(parent, depth, found, o->backwards, &l))) {
        st = RC_ENOMEM;
        goto finally;
    }
    *chain = c;
    *len = l;
finally:
    rc_free(parent);
    rc_free(queue);
    rc_free(depth);
    rc_free(skip);
    return st;
}
