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
#include "refchain/held.h"
#include "refchain/paths.h"
#include "refchain/pool.h"

struct rc_paths {
    size_t n;
    rc_id *parent;
    uint32_t *depth;
    uint32_t *edge;
    /* Their blocks' sizes: the per-node arrays here come from the capture's
     * pool (refchain/pool.h), where the last question left its own, so a
     * question asked again reuses resident memory instead of faulting in
     * fresh pages (on a virtual machine that was a fifth of a garbage() on
     * a 1M heap). */
    size_t parent_bytes, depth_bytes, edge_bytes;
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
    } else if ((f & RC_NODE_TYPE) && !(f & RC_NODE_UNNAMED_CLASS)) {
        return RC_ROOT_CLASS;
    } else if (rc_graph_type_flags(g, rc_graph_type(g, v)) & RC_TYPE_LRU_CACHE) {
        return RC_ROOT_CACHE;
    } else if (f & RC_NODE_THREAD_FRAME) {
        return RC_ROOT_FRAME;
    }
    if (f & RC_NODE_IMMORTAL) {
        return RC_ROOT_IMMORTAL;
    }
    return rc_held_outside(g, v) > 0 ? RC_ROOT_C : RC_ROOT_NONE;
}

/* A root the program itself names: a module, a class, an immortal object or
 * a running frame (not a cache, not C code). */
static bool
is_program_root(uint8_t kind)
{
    return kind != RC_ROOT_NONE && kind != RC_ROOT_CACHE && kind != RC_ROOT_C;
}

#define REACHED 0x80 /* a mark in kinds[] while demoting caches */

/* An lru_cache wrapper is a root only where nothing else explains it: one
 * the program holds (a module global, a class attribute, an instance's
 * attribute, sqlite3's statement cache in its Connection) is an object
 * like any other, or it would outrank its own holder (every Connection
 * would read as held by its cache, which wraps it).  So every wrapper
 * reachable from a program root is demoted to what it is without its
 * type: held by C, or no root.  RC_OK or RC_ENOMEM (kinds unchanged). */
static rc_status
demote_held_caches(const rc_graph *g, uint8_t *kinds, size_t n)
{
    size_t caches = 0;
    for (size_t v = 0; v < n; v++) {
        caches += kinds[v] == RC_ROOT_CACHE;
    }
    if (!caches) {
        return RC_OK;
    }
    size_t queue_bytes, tail = 0;
    rc_id *queue = rc_pool_array(n, sizeof *queue, &queue_bytes);
    if (!queue) {
        return RC_ENOMEM;
    }
    for (rc_id v = 0; v < n; v++) {
        if (is_program_root(kinds[v])) {
            kinds[v] |= REACHED;
            queue[tail++] = v;
        }
    }
    for (size_t head = 0; head < tail; head++) {
        rc_id u = queue[head];
        if (rc_graph_flags(g, u) & RC_NODE_TOOL_FRAME) {
            continue;
        }
        size_t deg;
        const rc_id *outs = rc_graph_out(g, u, &deg);
        for (size_t i = 0; i < deg; i++) {
            if (!(kinds[outs[i]] & REACHED)) {
                kinds[outs[i]] |= REACHED;
                queue[tail++] = outs[i];
            }
        }
    }
    for (rc_id v = 0; v < n; v++) {
        bool reached = (kinds[v] & REACHED) != 0;
        kinds[v] &= (uint8_t)~REACHED;
        if (reached && kinds[v] == RC_ROOT_CACHE) {
            kinds[v] = rc_held_outside(g, v) > 0 ? RC_ROOT_C : RC_ROOT_NONE;
        }
    }
    rc_pool_free(queue, queue_bytes);
    return RC_OK;
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
    if (demote_held_caches(g, kinds, n) != RC_OK) {
        rc_free(kinds);
        return RC_ENOMEM;
    }
    *out = kinds;
    return RC_OK;
}

rc_status
rc_roots_list(const uint8_t *kinds, size_t n, rc_id **ids, size_t *k)
{
    size_t count = 0;
    for (size_t v = 0; v < n; v++) {
        count += kinds[v] != RC_ROOT_NONE;
    }
    rc_id *out = rc_malloc((count ? count : 1) * sizeof *out);
    if (!out) {
        return RC_ENOMEM;
    }
    *k = 0;
    for (size_t v = 0; v < n; v++) {
        if (kinds[v] != RC_ROOT_NONE) {
            out[(*k)++] = (rc_id)v;
        }
    }
    *ids = out;
    return RC_OK;
}

/* ---- the BFS --------------------------------------------------------------- */

rc_status
rc_discounts_resolve(const rc_graph *g, const rc_discount_addr *pairs, size_t n,
                     rc_discount **out, size_t *n_out)
{
    uintptr_t *addrs = rc_malloc((2 * n + 1) * sizeof *addrs);
    rc_id *ids = rc_malloc((2 * n + 1) * sizeof *ids);
    rc_discount *d = rc_malloc((n + 1) * sizeof *d);
    rc_status st = addrs && ids && d ? RC_OK : RC_ENOMEM;
    for (size_t i = 0; st == RC_OK && i < n; i++) {
        addrs[2 * i] = pairs[i].from;
        addrs[2 * i + 1] = pairs[i].to;
    }
    if (st == RC_OK) {
        st = rc_graph_find_many(g, addrs, 2 * n, ids);
    }
    size_t k = 0;
    for (size_t i = 0; st == RC_OK && i < n; i++) {
        if (ids[2 * i] != RC_NO_ID && ids[2 * i + 1] != RC_NO_ID) {
            d[k++] = (rc_discount){ids[2 * i], ids[2 * i + 1], pairs[i].count};
        }
    }
    rc_free(addrs);
    rc_free(ids);
    if (st != RC_OK) {
        rc_free(d);
        return st;
    }
    *out = d;
    *n_out = k;
    return RC_OK;
}

void
rc_paths_free(rc_paths *p)
{
    if (!p) {
        return;
    }
    rc_pool_free(p->parent, p->parent_bytes);
    rc_pool_free(p->depth, p->depth_bytes);
    rc_pool_free(p->edge, p->edge_bytes);
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
    size_t queue_bytes = 0;
    if (!p) {
        return RC_ENOMEM;
    }
    p->n = n;
    p->parent = rc_pool_array(n, sizeof *p->parent, &p->parent_bytes);
    p->depth = rc_pool_array(n, sizeof *p->depth, &p->depth_bytes);
    p->edge = rc_pool_array(n, sizeof *p->edge, &p->edge_bytes);
    queue = rc_pool_array(n, sizeof *queue, &queue_bytes);
    if (n_discounts) {
        disc = rc_malloc(n_discounts * sizeof *disc);
    }
    if (!p->parent || !p->depth || !p->edge || !queue || (n_discounts && !disc)) {
        rc_pool_free(queue, queue_bytes);
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
    /* Three rounds: the program's roots first (module, class, immortal,
     * frame), seeded kind by kind in preference order; then the caches no
     * program root holds (rc_roots_classify demotes the others), for what
     * those do not reach; then the C-held roots, for what no named root
     * reaches.  A person can act on a module, a class, a cache or a frame,
     * not on "C code": a namespace that exec() holds (Jupyter's user_ns is
     * __main__'s dict) must not hide the module behind a shorter C-held
     * chain. */
    for (int round = 0; round < 3; round++) {
        for (int k = RC_ROOT_MODULE; k < RC_ROOT_KINDS; k++) {
            int in_round = k == RC_ROOT_CACHE ? 1 : k == RC_ROOT_C ? 2 : 0;
            if (in_round != round) {
                continue;
            }
            for (rc_id v = 0; v < n; v++) {
                if (kinds[v] == k && p->depth[v] == RC_UNREACHED) {
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
    }
    rc_pool_free(queue, queue_bytes);
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

void
rc_paths_chain_edges(const rc_paths *p, const rc_id *chain, size_t len, uint32_t *edges)
{
    for (size_t i = 0; i + 1 < len; i++) {
        edges[i] = p->edge[chain[i + 1]];
    }
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
              size_t n_discounts, rc_id **chain, uint32_t **edges, size_t *len, uint8_t *kind)
{
    if (!rc_graph_has_in(g)) {
        return RC_EINVAL;
    }
    size_t n = rc_graph_node_count(g), next_bytes, queue_bytes, occ_bytes;
    rc_id *next = rc_pool_array(n, sizeof *next, &next_bytes); /* one hop toward the target */
    rc_id *queue = rc_pool_array(n, sizeof *queue, &queue_bytes);
    uint32_t *occ = rc_pool_array(n, sizeof *occ, &occ_bytes); /* which edge u -> next[u] */
    rc_discount *disc = rc_malloc((n_discounts ? n_discounts : 1) * sizeof *disc);
    rc_id *c = NULL;
    uint32_t *e = NULL;
    rc_status st = RC_ENOMEM;
    if (!next || !queue || !occ || !disc) {
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
     * program root (module, class, immortal, frame) decides: its most
     * preferred kind wins, then the first found.  The nearest cache is taken
     * only when no program root is found at all (then no program root
     * reaches the cache either, so rc_roots_classify keeps it a root), and
     * the nearest C-held root only when no named root is found, as in
     * rc_paths_bfs. */
    rc_id best = RC_NO_ID, best_c = RC_NO_ID, best_cache = RC_NO_ID;
    uint8_t best_kind = RC_ROOT_KINDS;
    size_t start = 0, end = 1;
    next[target] = RC_NO_ID;
    queue[0] = target;
    while (start < end) {
        for (size_t q = start; q < end; q++) {
            uint8_t k = root_kind_of(g, queue[q]);
            if (k == RC_ROOT_C) {
                best_c = best_c == RC_NO_ID ? queue[q] : best_c;
            } else if (k == RC_ROOT_CACHE) {
                best_cache = best_cache == RC_NO_ID ? queue[q] : best_cache;
            } else if (k != RC_ROOT_NONE && k < best_kind) {
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
            for (size_t i = 0, run = 0; i < deg; i++) {
                rc_id u = in[i];
                run = i > 0 && in[i - 1] == u ? run + 1 : 0; /* sorted by source */
                if (next[u] != unvisited || (rc_graph_flags(g, u) & RC_NODE_TOOL_FRAME) ||
                    take_discount(disc, n_discounts, u, v)) {
                    continue;
                }
                next[u] = v;
                occ[u] = (uint32_t)run;
                queue[tail++] = u;
            }
        }
        start = end;
        end = tail;
    }
    if (best == RC_NO_ID && best_cache != RC_NO_ID) {
        best = best_cache;
        best_kind = RC_ROOT_CACHE;
    }
    if (best == RC_NO_ID && best_c != RC_NO_ID) {
        best = best_c;
        best_kind = RC_ROOT_C;
    }
    size_t l = 0;
    if (best != RC_NO_ID) {
        l = 1;
        for (rc_id v = best; v != target; v = next[v]) {
            l++;
        }
        c = rc_malloc(l * sizeof *c);
        e = edges ? rc_malloc(l * sizeof *e) : NULL;
        if (!c || (edges && !e)) {
            rc_free(c);
            rc_free(e);
            goto finally;
        }
        size_t i = 0;
        for (rc_id v = best; v != RC_NO_ID; v = next[v]) {
            if (e && v != target) {
                e[i] = rc_graph_out_index(g, v, next[v], occ[v]);
            }
            c[i++] = v;
        }
    }
    *chain = c;
    if (edges) {
        *edges = e;
    }
    *len = l;
    *kind = best != RC_NO_ID ? best_kind : RC_ROOT_NONE;
    st = RC_OK;
finally:
    rc_pool_free(occ, occ_bytes);
    rc_free(disc);
    rc_pool_free(queue, queue_bytes);
    rc_pool_free(next, next_bytes);
    return st;
}

rc_status
rc_paths_find_or_alone(const rc_graph *g, rc_id target, const rc_discount *discounts,
                       size_t n_discounts, rc_id **chain, uint32_t **edges, size_t *len,
                       uint8_t *kind)
{
    rc_id *ids = NULL;
    uint32_t *hops = NULL;
    size_t n = 0;
    uint8_t k = RC_ROOT_KINDS;
    rc_status st = rc_paths_find(g, target, discounts, n_discounts, &ids,
                                 edges ? &hops : NULL, &n, &k);
    if (st == RC_OK && n == 0) { /* no root reaches it: the chain is the target alone */
        k = RC_ROOT_KINDS;
        ids = rc_malloc(sizeof *ids);
        hops = edges ? rc_calloc(1, sizeof *hops) : NULL;
        if (!ids || (edges && !hops)) {
            rc_free(ids);
            rc_free(hops);
            return RC_ENOMEM;
        }
        ids[0] = target;
        n = 1;
    }
    if (st == RC_OK) {
        *chain = ids;
        if (edges) {
            *edges = hops;
        }
        *len = n;
        *kind = k;
    }
    return st;
}

/* ---- grouping ------------------------------------------------------------- */

#define COLLAPSED UINT32_MAX
#define NO_SIG UINT32_MAX
#define UNREACHED_SIG 0

/* The signature component of the hop parent[v] -> v into *index: the edge
 * index, or COLLAPSED where the parent is a collection or, with names, the
 * reference is positional (see refchain/paths.h).  -1 when out of memory. */
static int
hop_index(const rc_graph *g, const rc_paths *p, const rc_hop_names *names, rc_id v,
          uint32_t *index)
{
    rc_id u = p->parent[v];
    unsigned uf = rc_graph_flags(g, u);
    *index = COLLAPSED;
    if ((rc_graph_type_flags(g, rc_graph_type(g, u)) & RC_TYPE_COLLECTION) &&
        !(uf & RC_NODE_NAMESPACE)) {
        return 0;
    }
    /* A module names things through its __dict__; what else it refers to
     * is its C state (before 3.9, atexit's callbacks): items, not names. */
    if ((uf & RC_NODE_MODULE) && !(rc_graph_flags(g, v) & RC_NODE_NAMESPACE)) {
        return 0;
    }
    /* An lru_cache wrapper holds a bounded cache's entries itself: its
     * keys and results are items (explain's holder and text say so too);
     * its own __dict__ is no item. */
    if ((rc_graph_type_flags(g, rc_graph_type(g, u)) & RC_TYPE_LRU_CACHE) &&
        !(rc_graph_flags(g, v) & RC_NODE_NAMESPACE)) {
        return 0;
    }
    /* A namespace's references are names (keys, a closure's variables);
     * elsewhere a slot only a position tells apart (a C container's item)
     * groups as a collection's item does. */
    if (names && !(uf & RC_NODE_NAMESPACE)) {
        int positional = names->positional(names->ctx, u, v, p->edge[v]);
        if (positional) {
            return positional < 0 ? -1 : 0;
        }
    }
    *index = p->edge[v];
    return 0;
}

/* Signatures are interned, so that comparing two costs O(1) whatever the
 * chains' length: a signature is the triple (its parent signature, the last
 * hop's type, the last hop's index), numbered from 1 in order of first
 * appearance (0 is "unreached").  A root's is (NO_SIG, root id, 0).  Each
 * node's signature is computed once, from its parent's. */
typedef struct sig_entry {
    uint32_t parent, type, index, id; /* id 0: an empty slot */
} sig_entry;

typedef struct sig_table {
    sig_entry *slots;
    size_t cap, count;
    sig_entry *by_id; /* by_id[s]: signature s's entry (s < by_id_cap) */
    size_t by_id_cap;
    const rc_hop_names *names;
    uint32_t *of;   /* of[v]: node v's signature, or NO_SIG before it is known */
    rc_id *stack;   /* the nodes between a member and its nearest known ancestor */
    size_t stack_cap;
} sig_table;

static uint64_t
mix(uint64_t h, uint64_t x)
{
    h ^= x + UINT64_C(0x9E3779B97F4A7C15) + (h << 6) + (h >> 2);
    return h * UINT64_C(0xff51afd7ed558ccd);
}

static size_t
sig_slot(const sig_table *t, uint32_t parent, uint32_t type, uint32_t index)
{
    uint64_t h = mix(mix(mix(0x1234, parent), type), index);
    size_t s = (size_t)(h >> 7) & (t->cap - 1);
    while (t->slots[s].id && (t->slots[s].parent != parent || t->slots[s].type != type ||
                              t->slots[s].index != index)) {
        s = (s + 1) & (t->cap - 1);
    }
    return s;
}

/* The number of (parent, type, index), a new one if unseen; NO_SIG when out
 * of memory. */
static uint32_t
sig_intern(sig_table *t, uint32_t parent, uint32_t type, uint32_t index)
{
    if (2 * (t->count + 1) > t->cap) {
        sig_table bigger = *t;
        bigger.cap = t->cap ? 2 * t->cap : 64;
        bigger.slots = rc_calloc(bigger.cap, sizeof *bigger.slots);
        if (!bigger.slots) {
            return NO_SIG;
        }
        for (size_t i = 0; i < t->cap; i++) {
            const sig_entry *e = &t->slots[i];
            if (e->id) {
                bigger.slots[sig_slot(&bigger, e->parent, e->type, e->index)] = *e;
            }
        }
        rc_free(t->slots);
        *t = bigger;
    }
    size_t s = sig_slot(t, parent, type, index);
    if (!t->slots[s].id) {
        if (rc_room((void **)&t->by_id, t->count + 1, &t->by_id_cap, sizeof *t->by_id, 64) < 0) {
            return NO_SIG;
        }
        t->slots[s] = (sig_entry){parent, type, index, (uint32_t)++t->count};
        t->by_id[t->count] = t->slots[s];
    }
    return t->slots[s].id;
}

/* v's signature (v is reached), or NO_SIG when out of memory.  A hop that
 * repeats the hop before it (same type, same index: a linked list's .next)
 * adds nothing, so the members along a run share one signature. */
static uint32_t
signature(const rc_graph *g, const rc_paths *p, sig_table *t, rc_id v)
{
    size_t sp = 0;
    for (rc_id u = v; t->of[u] == NO_SIG; u = p->parent[u]) {
        if (rc_room((void **)&t->stack, sp, &t->stack_cap, sizeof *t->stack, 64) < 0) {
            return NO_SIG;
        }
        t->stack[sp++] = u;
        if (p->parent[u] == RC_NO_ID) {
            break;
        }
    }
    while (sp) {
        rc_id u = t->stack[--sp], w = p->parent[u];
        uint32_t s;
        if (w == RC_NO_ID) {
            /* A named root is itself; C-held roots are told apart by type
             * only: 2,000 instances C holds through bound methods (an
             * atexit callback each) are one group. */
            bool by_type = rc_graph_has_in(g) && root_kind_of(g, u) == RC_ROOT_C;
            s = sig_intern(t, NO_SIG, by_type ? rc_graph_type(g, u) : u, by_type);
        } else {
            uint32_t type = rc_graph_type(g, u), index;
            if (hop_index(g, p, t->names, u, &index) < 0) {
                return NO_SIG;
            }
            /* w's signature ends with the hop into w (or the run it ends):
             * its type and index say whether u's hop repeats it. */
            const sig_entry *last = &t->by_id[t->of[w]];
            bool repeat = p->parent[w] != RC_NO_ID && last->type == type && last->index == index;
            s = repeat ? t->of[w] : sig_intern(t, t->of[w], type, index);
        }
        if (s == NO_SIG) {
            return NO_SIG;
        }
        t->of[u] = s;
    }
    return t->of[v];
}

/* Whether a is a better representative than b: shallower, then at the lower
 * address (not the lower id: ids follow the walk's order, so a live graph
 * and a snapshot of the same heap name the same object). */
static bool
better_representative(const rc_graph *g, const rc_paths *p, rc_id a, rc_id b)
{
    if (p->depth[a] != p->depth[b]) {
        return p->depth[a] < p->depth[b];
    }
    return rc_graph_addr(g, a) < rc_graph_addr(g, b);
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

/* Move the k first groups of g[0..n) in cmp_group's order to g[0..k), in
 * any order, the others after them (0 < k < n): Hoare's selection,
 * expected O(n).  The groups differ (their representatives do), so a
 * two-way partition does. */
static void
select_first(rc_group *g, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* g[0..lo) precede and g[hi..n) follow every other */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, store = lo;
        rc_group tmp = g[mid];
        g[mid] = g[hi - 1];
        g[hi - 1] = tmp;
        for (size_t i = lo; i < hi - 1; i++) {
            if (cmp_group(&g[i], &g[hi - 1]) < 0) {
                tmp = g[i];
                g[i] = g[store];
                g[store++] = tmp;
            }
        }
        tmp = g[store];
        g[store] = g[hi - 1];
        g[hi - 1] = tmp;
        if (store == k) {
            return;
        }
        if (store < k) {
            lo = store + 1;
        } else {
            hi = store;
        }
    }
}

rc_status
rc_paths_group_sets(const rc_graph *g, const rc_paths *p, const rc_id *members,
                    const uint32_t *set_of, size_t n, size_t n_sets, size_t limit,
                    const rc_hop_names *names, rc_group **groups_out, size_t **set_start_out,
                    uint32_t **group_of_out)
{
    size_t nodes = rc_graph_node_count(g);
    sig_table t = {0};
    t.names = names;
    /* The per-node and per-member scratch comes from the pool: a question
     * asked again faults nothing in. */
    size_t of_bytes, order_bytes;
    t.of = rc_pool_array(nodes, sizeof *t.of, &of_bytes);
    rc_group *groups = rc_malloc((n ? n : 1) * sizeof *groups);
    uint32_t *group_of = rc_malloc((n ? n : 1) * sizeof *group_of);
    size_t *set_start = rc_calloc(n_sets + 1, sizeof *set_start);
    size_t *order = rc_pool_array(n, sizeof *order, &order_bytes);
    uint32_t *group_of_sig = NULL, *stamp = NULL;
    if (!t.of || !groups || !group_of || !set_start || !order) {
        goto error;
    }
    for (rc_id v = 0; v < nodes; v++) {
        t.of[v] = NO_SIG;
    }
    /* Each member's signature, in group_of for now.  Signatures depend on
     * the chain alone, so every set shares them. */
    for (size_t i = 0; i < n; i++) {
        rc_id v = members[i];
        if (p->depth[v] == RC_UNREACHED) {
            t.of[v] = UNREACHED_SIG;
        } else if (signature(g, p, &t, v) == NO_SIG) {
            goto error;
        }
        group_of[i] = t.of[v];
    }
    /* The members set by set (a counting sort), so that each set is
     * grouped on its own in time linear in its members. */
    for (size_t i = 0; i < n; i++) {
        set_start[(set_of ? set_of[i] : 0) + 1]++;
    }
    for (size_t k = 0; k < n_sets; k++) {
        set_start[k + 1] += set_start[k];
    }
    for (size_t i = 0; i < n; i++) {
        order[set_start[set_of ? set_of[i] : 0]++] = i;
    }
    memmove(set_start + 1, set_start, n_sets * sizeof *set_start);
    set_start[0] = 0;
    /* group_of_sig[s] is signature s's group in the set whose number + 1
     * is stamp[s]; a stamp saves clearing the table for each set. */
    group_of_sig = rc_malloc((t.count + 1) * sizeof *group_of_sig);
    stamp = rc_calloc(t.count + 1, sizeof *stamp);
    if (!group_of_sig || !stamp) {
        goto error;
    }
    size_t ng = 0;
    for (size_t k = 0; k < n_sets; k++) {
        size_t first = ng, from = set_start[k], to = set_start[k + 1];
        for (size_t o = from; o < to; o++) {
            size_t i = order[o];
            rc_id v = members[i];
            uint32_t s = group_of[i];
            if (stamp[s] != k + 1) {
                stamp[s] = (uint32_t)(k + 1);
                group_of_sig[s] = (uint32_t)ng;
                groups[ng++] = (rc_group){v, 0, 0};
            }
            rc_group *gr = &groups[group_of_sig[s]];
            gr->count++;
            gr->bytes += rc_graph_size(g, v);
            if (better_representative(g, p, v, gr->representative)) {
                gr->representative = v;
            }
        }
        /* Sort the set's groups (its `limit` first ones, when it has more:
         * selecting them is linear), then number each signature by its
         * group's place (a representative's signature is its group's). */
        size_t sorted = ng - first;
        if (limit < sorted) {
            if (limit > 0) {
                select_first(groups + first, ng - first, limit);
            }
            sorted = limit;
        }
        qsort(groups + first, sorted, sizeof *groups, cmp_group);
        for (size_t r = first; r < ng; r++) {
            group_of_sig[t.of[groups[r].representative]] = (uint32_t)r;
        }
        for (size_t o = from; o < to; o++) {
            group_of[order[o]] = group_of_sig[group_of[order[o]]];
        }
        set_start[k] = first;
    }
    set_start[n_sets] = ng;
    rc_free(stamp);
    rc_free(group_of_sig);
    rc_pool_free(order, order_bytes);
    rc_pool_free(t.of, of_bytes);
    rc_free(t.slots);
    rc_free(t.by_id);
    rc_free(t.stack);
    *groups_out = groups;
    if (set_start_out) {
        *set_start_out = set_start;
    } else {
        rc_free(set_start);
    }
    *group_of_out = group_of;
    return RC_OK;
error:
    rc_free(stamp);
    rc_free(group_of_sig);
    rc_pool_free(order, order_bytes);
    rc_pool_free(t.of, of_bytes);
    rc_free(t.slots);
    rc_free(t.by_id);
    rc_free(t.stack);
    rc_free(groups);
    rc_free(group_of);
    rc_free(set_start);
    return RC_ENOMEM;
}

rc_status
rc_paths_group(const rc_graph *g, const rc_paths *p, const rc_id *members, size_t n,
               rc_group **groups, size_t *n_groups, uint32_t **group_of)
{
    size_t *set_start;
    rc_status st =
        rc_paths_group_sets(g, p, members, NULL, n, 1, SIZE_MAX, NULL, groups, &set_start,
                            group_of);
    if (st == RC_OK) {
        *n_groups = set_start[1];
        rc_free(set_start);
    }
    return st;
}
