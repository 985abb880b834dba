/* Roots, the multi-source BFS, and grouping by chain signature
 * (see refchain/paths.h).
 *
 * The BFS is one FIFO worklist seeded with every root, sorted by root kind.
 * Nodes at distance d are dequeued in the order they were discovered, which
 * by induction is the order of their roots' kinds, so a node's first
 * discoverer lies on a shortest chain from the most preferred root kind.
 * Per node it keeps the parent, the depth and the index of the edge taken
 * (12 bytes), plus the queue (4 bytes). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/paths.h"

struct rc_paths {
    size_t n;
    rc_id *parent;
    uint32_t *depth;
    uint32_t *edge;
};

const char *
rc_root_kind_name(rc_root_kind kind)
{
    static const char *const names[RC_ROOT_KINDS] = {
        "", "module", "class", "cache", "immortal", "c", "frame",
    };
    return kind < RC_ROOT_KINDS ? names[kind] : "";
}

/* ---- roots ---------------------------------------------------------------- */

/* The root kind of one node (g has in-edges). */
static uint8_t
root_kind_of(const rc_graph *g, rc_id v)
{
    unsigned f = rc_graph_flags(g, v);
    size_t indeg;
    const rc_id *in = rc_graph_in(g, v, &indeg);
    if (f & RC_NODE_TOOL_FRAME) {
        return RC_ROOT_NONE;
    }
    if (f & RC_NODE_MODULE) {
        for (size_t i = 0; i < indeg; i++) {
            if (rc_graph_flags(g, in[i]) & RC_NODE_MODULES) {
                return RC_ROOT_MODULE;
            }
        }
    } else if (f & RC_NODE_TYPE) {
        return RC_ROOT_CLASS;
    } else if (rc_graph_type_flags(g, rc_graph_type(g, v)) & RC_TYPE_LRU_CACHE) {
        return RC_ROOT_CACHE;
    } else if (f & RC_NODE_THREAD_FRAME) {
        return RC_ROOT_FRAME;
    }
    if (f & RC_NODE_IMMORTAL) {
        return RC_ROOT_IMMORTAL;
    }
    return (uint64_t)rc_graph_refcnt(g, v) > indeg ? RC_ROOT_C : RC_ROOT_NONE;
}

rc_status
rc_roots_classify(const rc_graph *g, uint8_t **out)
{
    if (!rc_graph_has_in(g)) {
        return RC_EINVAL; /* surpluses need in-degrees */
    }
    size_t n = rc_graph_node_count(g);
    uint8_t *kinds = rc_malloc(n ? n : 1);
    if (!kinds) {
        return RC_ENOMEM;
    }
    for (rc_id v = 0; v < n; v++) {
        kinds[v] = root_kind_of(g, v);
    }
    *out = kinds;
    return RC_OK;
}

/* ---- the BFS --------------------------------------------------------------- */

void
rc_paths_free(rc_paths *p)
{
    if (!p) {
        return;
    }
    rc_free(p->parent);
    rc_free(p->depth);
    rc_free(p->edge);
    rc_free(p);
}

static int
cmp_discount(const void *a, const void *b)
{
    const rc_discount *x = a, *y = b;
    if (x->from != y->from) {
        return x->from < y->from ? -1 : 1;
    }
    return (x->to > y->to) - (x->to < y->to);
}

rc_status
rc_paths_bfs(const rc_graph *g, const uint8_t *kinds, const rc_discount *discounts,
             size_t n_discounts, rc_paths **out)
{
    size_t n = rc_graph_node_count(g);
    rc_paths *p = rc_calloc(1, sizeof *p);
    rc_id *queue = NULL;
    rc_discount *disc = NULL;
    if (!p) {
        return RC_ENOMEM;
    }
    p->n = n;
    p->parent = rc_malloc((n ? n : 1) * sizeof *p->parent);
    p->depth = rc_malloc((n ? n : 1) * sizeof *p->depth);
    p->edge = rc_malloc((n ? n : 1) * sizeof *p->edge);
    queue = rc_malloc((n ? n : 1) * sizeof *queue);
    if (n_discounts) {
        disc = rc_malloc(n_discounts * sizeof *disc);
    }
    if (!p->parent || !p->depth || !p->edge || !queue || (n_discounts && !disc)) {
        rc_free(queue);
        rc_free(disc);
        rc_paths_free(p);
        return RC_ENOMEM;
    }
    if (n_discounts) {
        memcpy(disc, discounts, n_discounts * sizeof *disc);
        qsort(disc, n_discounts, sizeof *disc, cmp_discount);
    }
    size_t head = 0, tail = 0;
    for (rc_id v = 0; v < n; v++) {
        p->parent[v] = RC_NO_ID;
        p->depth[v] = RC_UNREACHED;
        p->edge[v] = 0;
    }
    /* Seed the queue kind by kind, in preference order. */
    for (int k = RC_ROOT_MODULE; k < RC_ROOT_KINDS; k++) {
        for (rc_id v = 0; v < n; v++) {
            if (kinds[v] == k) {
                p->depth[v] = 0;
                queue[tail++] = v;
            }
        }
    }
    while (head < tail) {
        rc_id u = queue[head++];
        if (rc_graph_flags(g, u) & RC_NODE_TOOL_FRAME) {
            continue;
        }
        /* This node's discounts, if any: a small sorted run of disc[]. */
        rc_discount *d = NULL;
        size_t nd = 0;
        if (n_discounts) {
            size_t lo = 0, hi = n_discounts;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (disc[mid].from < u) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            d = disc + lo;
            while (lo + nd < n_discounts && d[nd].from == u) {
                nd++;
            }
        }
        size_t deg;
        const rc_id *outs = rc_graph_out(g, u, &deg);
        for (size_t i = 0; i < deg; i++) {
            rc_id v = outs[i];
            bool skip = false;
            for (size_t j = 0; j < nd; j++) {
                if (d[j].to == v && d[j].count) {
                    d[j].count--;
                    skip = true;
                    break;
                }
            }
            if (skip || p->depth[v] != RC_UNREACHED) {
                continue;
            }
            p->depth[v] = p->depth[u] + 1;
            p->parent[v] = u;
            p->edge[v] = (uint32_t)i;
            queue[tail++] = v;
        }
    }
    rc_free(queue);
    rc_free(disc);
    *out = p;
    return RC_OK;
}

uint32_t
rc_paths_depth(const rc_paths *p, rc_id v)
{
    return p->depth[v];
}

rc_id
rc_paths_parent(const rc_paths *p, rc_id v)
{
    return p->parent[v];
}

uint32_t
rc_paths_edge_index(const rc_paths *p, rc_id v)
{
    return p->edge[v];
}

rc_id
rc_paths_root(const rc_paths *p, rc_id v)
{
    if (p->depth[v] == RC_UNREACHED) {
        return RC_NO_ID;
    }
    while (p->parent[v] != RC_NO_ID) {
        v = p->parent[v];
    }
    return v;
}

size_t
rc_paths_chain(const rc_paths *p, rc_id v, rc_id *buf, size_t cap)
{
    if (p->depth[v] == RC_UNREACHED || (size_t)p->depth[v] + 1 > cap) {
        return 0;
    }
    size_t len = (size_t)p->depth[v] + 1;
    for (size_t i = len; i-- > 0;) {
        buf[i] = v;
        v = p->parent[v];
    }
    return len;
}

/* ---- one chain, searched backwards ------------------------------------------ */

/* Like the forward BFS, discounts are consumed per edge instance. */
static bool
take_discount(rc_discount *d, size_t nd, rc_id from, rc_id to)
{
    for (size_t j = 0; j < nd; j++) {
        if (d[j].from == from && d[j].to == to && d[j].count) {
            d[j].count--;
            return true;
        }
    }
    return false;
}

rc_status
rc_paths_find(const rc_graph *g, rc_id target, const rc_discount *discounts,
              size_t n_discounts, rc_id **chain, size_t *len, uint8_t *kind)
{
    if (!rc_graph_has_in(g)) {
        return RC_EINVAL;
    }
    size_t n = rc_graph_node_count(g);
    rc_id *next = rc_malloc((n ? n : 1) * sizeof *next); /* one hop toward the target */
    rc_id *queue = rc_malloc((n ? n : 1) * sizeof *queue);
    rc_discount *disc = rc_malloc((n_discounts ? n_discounts : 1) * sizeof *disc);
    rc_status st = RC_ENOMEM;
    if (!next || !queue || !disc) {
        goto finally;
    }
    if (n_discounts) {
        memcpy(disc, discounts, n_discounts * sizeof *disc);
    }
    const rc_id unvisited = RC_NO_ID - 1; /* ids stop at RC_MAX_IDS */
    for (rc_id v = 0; v < n; v++) {
        next[v] = unvisited;
    }
    /* Level by level back from the target.  The first level that holds a
     * root decides: its most preferred kind wins, then the first found. */
    rc_id best = RC_NO_ID;
    uint8_t best_kind = RC_ROOT_KINDS;
    size_t start = 0, end = 1;
    next[target] = RC_NO_ID;
    queue[0] = target;
    while (start < end) {
        for (size_t q = start; q < end; q++) {
            uint8_t k = root_kind_of(g, queue[q]);
            if (k != RC_ROOT_NONE && k < best_kind) {
                best = queue[q];
                best_kind = k;
            }
        }
        if (best != RC_NO_ID) {
            break;
        }
        size_t tail = end;
        for (size_t q = start; q < end; q++) {
            rc_id v = queue[q];
            size_t deg;
            const rc_id *in = rc_graph_in(g, v, &deg);
            for (size_t i = 0; i < deg; i++) {
                rc_id u = in[i];
                if (next[u] != unvisited || (rc_graph_flags(g, u) & RC_NODE_TOOL_FRAME) ||
                    take_discount(disc, n_discounts, u, v)) {
                    continue;
                }
                next[u] = v;
                queue[tail++] = u;
            }
        }
        start = end;
        end = tail;
    }
    *len = 0;
    *kind = RC_ROOT_NONE;
    *chain = NULL;
    if (best != RC_NO_ID) {
        size_t l = 1;
        for (rc_id v = best; v != target; v = next[v]) {
            l++;
        }
        rc_id *c = rc_malloc(l * sizeof *c);
        if (!c) {
            goto finally;
        }
        size_t i = 0;
        for (rc_id v = best; v != RC_NO_ID; v = next[v]) {
            c[i++] = v;
        }
        *chain = c;
        *len = l;
        *kind = best_kind;
    }
    st = RC_OK;
finally:
    rc_free(disc);
    rc_free(queue);
    rc_free(next);
    return st;
}

/* ---- grouping ------------------------------------------------------------- */

#define COLLAPSED UINT32_MAX

/* The signature component of the hop parent[v] -> v: the edge index, or
 * COLLAPSED where the parent is a collection (see refchain/paths.h). */
static uint32_t
hop_index(const rc_graph *g, const rc_paths *p, rc_id v)
{
    rc_id u = p->parent[v];
    unsigned tf = rc_graph_type_flags(g, rc_graph_type(g, u));
    if (tf & RC_TYPE_COLLECTION) {
        rc_id w = p->parent[u];
        bool namespace = (tf & RC_TYPE_DICT) && w != RC_NO_ID &&
                         !(rc_graph_type_flags(g, rc_graph_type(g, w)) & RC_TYPE_COLLECTION);
        if (!namespace) {
            return COLLAPSED;
        }
    }
    return p->edge[v];
}

static uint64_t
mix(uint64_t h, uint64_t x)
{
    h ^= x + UINT64_C(0x9E3779B97F4A7C15) + (h << 6) + (h >> 2);
    return h * UINT64_C(0xff51afd7ed558ccd);
}

static uint64_t
signature_hash(const rc_graph *g, const rc_paths *p, rc_id v)
{
    if (p->depth[v] == RC_UNREACHED) {
        return UINT64_C(0x5eed);
    }
    uint64_t h = 0x1234;
    while (p->parent[v] != RC_NO_ID) {
        h = mix(h, rc_graph_type(g, v));
        h = mix(h, hop_index(g, p, v));
        v = p->parent[v];
    }
    return mix(h, v); /* the root itself */
}

static bool
same_signature(const rc_graph *g, const rc_paths *p, rc_id a, rc_id b)
{
    if (p->depth[a] != p->depth[b]) {
        return false;
    }
    if (p->depth[a] == RC_UNREACHED) {
        return true;
    }
    while (p->parent[a] != RC_NO_ID) {
        if (rc_graph_type(g, a) != rc_graph_type(g, b) ||
            hop_index(g, p, a) != hop_index(g, p, b)) {
            return false;
        }
        a = p->parent[a];
        b = p->parent[b];
    }
    return a == b;
}

static int
cmp_group(const void *a, const void *b)
{
    const rc_group *x = a, *y = b;
    if (x->count != y->count) {
        return x->count > y->count ? -1 : 1;
    }
    return (x->representative > y->representative) - (x->representative < y->representative);
}

rc_status
rc_paths_group(const rc_graph *g, const rc_paths *p, const rc_id *members, size_t n,
               rc_group **groups_out, size_t *n_groups, uint32_t **group_of_out)
{
    size_t slots = 16;
    while (slots < 2 * n) {
        slots *= 2;
    }
    uint64_t *hashes = rc_malloc(slots * sizeof *hashes);
    uint32_t *table = rc_malloc(slots * sizeof *table); /* group index + 1 */
    rc_group *groups = rc_malloc((n ? n : 1) * sizeof *groups);
    uint32_t *group_of = rc_malloc((n ? n : 1) * sizeof *group_of);
    uint32_t *order = NULL;
    if (!hashes || !table || !groups || !group_of) {
        goto error;
    }
    memset(table, 0, slots * sizeof *table);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        rc_id v = members[i];
        uint64_t h = signature_hash(g, p, v);
        size_t s = (size_t)(h >> 7) & (slots - 1);
        for (;;) {
            uint32_t t = table[s];
            if (!t) {
                groups[ng] = (rc_group){v, 0, 0};
                hashes[s] = h;
                table[s] = (uint32_t)++ng;
                t = table[s];
            } else if (hashes[s] != h ||
                       !same_signature(g, p, v, groups[t - 1].representative)) {
                s = (s + 1) & (slots - 1);
                continue;
            }
            rc_group *gr = &groups[t - 1];
            gr->count++;
            gr->bytes += rc_graph_size(g, v);
            if (v < gr->representative) {
                gr->representative = v;
            }
            group_of[i] = t - 1;
            break;
        }
    }
    /* Sort the groups, then renumber group_of through the permutation. */
    order = rc_malloc((ng ? ng : 1) * sizeof *order);
    rc_group *sorted = rc_malloc((ng ? ng : 1) * sizeof *sorted);
    if (!order || !sorted) {
        rc_free(sorted);
        goto error;
    }
    memcpy(sorted, groups, ng * sizeof *sorted);
    qsort(sorted, ng, sizeof *sorted, cmp_group);
    /* Representatives are distinct members: map each old group to its rank. */
    for (size_t r = 0; r < ng; r++) {
        for (size_t s = (size_t)(signature_hash(g, p, sorted[r].representative) >> 7) &
                        (slots - 1);;
             s = (s + 1) & (slots - 1)) {
            uint32_t t = table[s];
            if (t && groups[t - 1].representative == sorted[r].representative) {
                order[t - 1] = (uint32_t)r;
                break;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        group_of[i] = order[group_of[i]];
    }
    rc_free(groups);
    rc_free(order);
    rc_free(hashes);
    rc_free(table);
    *groups_out = sorted;
    *n_groups = ng;
    *group_of_out = group_of;
    return RC_OK;
error:
    rc_free(order);
    rc_free(hashes);
    rc_free(table);
    rc_free(groups);
    rc_free(group_of);
    return RC_ENOMEM;
}
