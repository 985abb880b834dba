/* The dominator tree, retained sizes, leak suspects and dominator subtrees
 * (see refchain/dominators.h).
 *
 * Semi-NCA (Georgiadis), in DFS-number space: the virtual root is number 0
 * and the reached nodes get 1 .. m-1 in preorder.  Five uint32 arrays are
 * reused from phase to phase; their states:
 *
 *   phase        A (node space)  B (number space)     C              E          F
 *   1. DFS       pre[node]       vertex[num]          parent[num]    edge iter  -
 *   2. semi      pre[node]       vertex[j], j <= i;   parent[num]    best[j]    ancestor[j]
 *      (i from m-1 down)         semi[j], j > i                      (j > i)    (j > i)
 *   3. NCA       pre[node]       semi[num]            idom[num]      freed      freed
 *   4. to nodes  idom[node]      vertex[num]          idom -> count  bytes (uint64, new)
 *   5. sizes     idom[node]      vertex[num], freed   count[node]    bytes[node]
 *
 * Numbers j > i are the processed (linked) ones in phase 2: ancestor[j] is
 * parent[j] when j is linked, then compressed; best[j] is the smallest
 * semidominator on the compressed path from j up to (not including) the
 * first unlinked ancestor.  The DFS keeps no stack: it climbs back through
 * parent[], and each number's next edge lives in E.  Path compression
 * reverses the ancestor pointers on the way up and restores them on the
 * way down, so it needs no stack either.  In phase 2, a number's vertex is
 * read once, when it is processed; its semidominator then takes its place
 * in B, and phase 4 rebuilds vertex from pre. */
#include "refchain/dominators.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/pool.h"
#include "refchain/thread.h"

struct rc_dominators {
    size_t n;
    rc_id *idom;      /* node space */
    uint64_t *bytes;  /* node space */
    uint32_t *count;  /* node space (n + 1 entries, the array reused from C) */
    size_t idom_bytes, bytes_bytes, count_bytes; /* of their pooled blocks */
    uint64_t heap_bytes;
    size_t reached;
    size_t peak;
};

#define NONE UINT32_MAX

void
rc_dominators_free(rc_dominators *d)
{
    if (!d) {
        return;
    }
    rc_pool_free(d->idom, d->idom_bytes);
    rc_pool_free(d->bytes, d->bytes_bytes);
    rc_pool_free(d->count, d->count_bytes);
    rc_free(d);
}

/* Phase 1: preorder numbers from the virtual root; returns m. */
static uint32_t
dfs(const rc_graph *g, const uint8_t *kinds, uint32_t *pre, uint32_t *vertex, uint32_t *parent,
    uint32_t *iter)
{
    size_t n = rc_graph_node_count(g);
    for (size_t v = 0; v < n; v++) {
        pre[v] = NONE;
    }
    uint32_t m = 1, cur = 0;
    vertex[0] = RC_DOM_ROOT;
    parent[0] = 0;
    iter[0] = 0;
    for (;;) {
        rc_id next = NONE;
        if (cur == 0) {
            while (iter[0] < n) {
                rc_id v = iter[0]++;
                if (kinds[v] != RC_ROOT_NONE && pre[v] == NONE) {
                    next = v;
                    break;
                }
            }
        } else if (!(rc_graph_flags(g, vertex[cur]) & RC_NODE_TOOL_FRAME)) {
            size_t deg;
            const rc_id *outs = rc_graph_out(g, vertex[cur], &deg);
            while (iter[cur] < deg) {
                rc_id v = outs[iter[cur]++];
                if (pre[v] == NONE) {
                    next = v;
                    break;
                }
            }
        }
        if (next != NONE) {
            pre[next] = m;
            vertex[m] = next;
            parent[m] = cur;
            iter[m] = 0;
            cur = m++;
        } else if (cur == 0) {
            return m;
        } else {
            cur = parent[cur];
        }
    }
}

/* The smallest semidominator on the path from linked number v up to its
 * first unlinked ancestor, compressing the path (pointer reversal). */
static uint32_t
eval(uint32_t v, uint32_t i, uint32_t *ancestor, uint32_t *best)
{
    if (v <= i) {
        return v; /* unprocessed: its semidominator is itself, for now */
    }
    uint32_t prev = NONE, x = v;
    while (ancestor[x] > i) {
        uint32_t up = ancestor[x];
        ancestor[x] = prev;
        prev = x;
        x = up;
    }
    uint32_t top = x, b = best[top];
    while (prev != NONE) {
        uint32_t down = ancestor[prev];
        if (best[prev] > b) {
            best[prev] = b;
        } else {
            b = best[prev];
        }
        ancestor[prev] = top;
        prev = down;
    }
    return best[v];
}

/* Phase 2: semidominators, in reverse preorder. */
static void
semidominators(const rc_graph *g, const uint8_t *kinds, uint32_t m, const uint32_t *pre,
               uint32_t *vertex, const uint32_t *parent, uint32_t *best, uint32_t *ancestor)
{
    for (uint32_t i = m - 1; i >= 1; i--) {
        rc_id w = vertex[i];
        uint32_t s = kinds[w] != RC_ROOT_NONE ? 0 : i;
        size_t deg;
        const rc_id *in = rc_graph_in(g, w, &deg);
        for (size_t k = 0; k < deg && s > 0; k++) {
            rc_id v = in[k];
            if (pre[v] == NONE || (rc_graph_flags(g, v) & RC_NODE_TOOL_FRAME)) {
                continue;
            }
            uint32_t e = eval(pre[v], i, ancestor, best);
            if (e < s) {
                s = e;
            }
        }
        vertex[i] = s; /* B now holds semi[i] */
        best[i] = s;
        ancestor[i] = parent[i];
    }
}

/* Phases 3-5 (see the table above), once the caller has freed E and F;
 * sets d->bytes.  RC_ENOMEM (the bytes could not be allocated) leaves a, b
 * and c to the caller. */
static rc_status
finish(const rc_graph *g, uint32_t m, uint32_t *a, uint32_t *b, uint32_t *c, rc_dominators *d)
{
    size_t n = rc_graph_node_count(g);
    for (uint32_t i = 1; i < m; i++) {
        uint32_t x = c[i];
        while (x > b[i]) {
            x = c[x];
        }
        c[i] = x;
    }
    uint64_t *bytes = rc_pool_array(n, sizeof *bytes, &d->bytes_bytes);
    if (!bytes) {
        return RC_ENOMEM;
    }
    for (rc_id v = 0; v < n; v++) {
        if (a[v] != NONE) {
            b[a[v]] = v;
        }
    }
    uint64_t heap = 0;
    for (rc_id v = 0; v < n; v++) {
        uint32_t p = a[v];
        a[v] = p == NONE ? RC_NO_ID : c[p] == 0 ? RC_DOM_ROOT : b[c[p]];
        bytes[v] = p == NONE ? 0 : rc_graph_size(g, v);
        heap += bytes[v];
    }
    for (rc_id v = 0; v < n; v++) {
        c[v] = a[v] != RC_NO_ID;
    }
    for (uint32_t i = m - 1; i >= 1; i--) {
        rc_id v = b[i], up = a[v];
        if (up != RC_DOM_ROOT) {
            bytes[up] += bytes[v];
            c[up] += c[v];
        }
    }
    d->heap_bytes = heap;
    d->bytes = bytes;
    return RC_OK;
}

rc_status
rc_dominators_compute(const rc_graph *g, const uint8_t *kinds, rc_dominators **out)
{
    if (!rc_graph_has_in(g)) {
        return RC_EINVAL;
    }
    size_t n = rc_graph_node_count(g);
    rc_dominators *d = rc_calloc(1, sizeof *d);
    size_t a_bytes = 0, b_bytes = 0, c_bytes = 0, e_bytes = 0, f_bytes = 0;
    /* From the capture's pool (refchain/pool.h): asked again, a question
     * reuses the resident memory the last one left. */
    uint32_t *a = rc_pool_array(n, sizeof *a, &a_bytes);
    uint32_t *b = rc_pool_array(n + 1, sizeof *b, &b_bytes);
    uint32_t *c = rc_pool_array(n + 1, sizeof *c, &c_bytes);
    uint32_t *e = rc_pool_array(n + 1, sizeof *e, &e_bytes);
    uint32_t *f = rc_pool_array(n + 1, sizeof *f, &f_bytes);
    rc_status st = RC_ENOMEM;
    if (!d || !a || !b || !c || !e || !f) {
        goto error;
    }
    uint32_t m = dfs(g, kinds, a, b, c, e);
    semidominators(g, kinds, m, a, b, c, e, f);
    rc_pool_free(e, e_bytes);
    rc_pool_free(f, f_bytes);
    e = f = NULL;
    if ((st = finish(g, m, a, b, c, d)) != RC_OK) {
        goto error;
    }
    rc_pool_free(b, b_bytes);
    d->n = n;
    d->idom = a;
    d->idom_bytes = a_bytes;
    d->count = c;
    d->count_bytes = c_bytes;
    d->reached = m - 1;
    d->peak = sizeof *d + (n ? n : 1) * sizeof *a + 4 * (n + 1) * sizeof *b;
    *out = d;
    return RC_OK;
error:
    rc_free(d);
    rc_pool_free(a, a_bytes);
    rc_pool_free(b, b_bytes);
    rc_pool_free(c, c_bytes);
    rc_pool_free(e, e_bytes);
    rc_pool_free(f, f_bytes);
    return st;
}

static void *
dom_job_main(void *arg)
{
    rc_dom_job *job = arg;
    job->st = rc_dominators_compute(job->g, job->kinds, &job->d);
    return NULL;
}

void
rc_dominators_begin(rc_dom_job *job, const rc_graph *g, const uint8_t *kinds)
{
    *job = (rc_dom_job){.g = g, .kinds = kinds, .st = RC_OK};
    job->started = rc_thread_start(&job->thread, dom_job_main, job) == 0;
}

rc_status
rc_dominators_end(rc_dom_job *job, rc_dominators **out)
{
    if (job->started) {
        pthread_join(job->thread, NULL);
        job->started = 0;
    } else {
        job->st = rc_dominators_compute(job->g, job->kinds, &job->d);
    }
    *out = job->st == RC_OK ? job->d : NULL;
    job->d = NULL;
    return job->st;
}

size_t
rc_dominators_node_count(const rc_dominators *d)
{
    return d->n;
}

rc_id
rc_dominators_idom(const rc_dominators *d, rc_id v)
{
    return d->idom[v];
}

uint64_t
rc_dominators_bytes(const rc_dominators *d, rc_id v)
{
    return d->bytes[v];
}

uint64_t
rc_dominators_count(const rc_dominators *d, rc_id v)
{
    return d->count[v];
}

uint64_t
rc_dominators_heap_bytes(const rc_dominators *d)
{
    return d->heap_bytes;
}

size_t
rc_dominators_reached(const rc_dominators *d)
{
    return d->reached;
}

size_t
rc_dominators_memory(const rc_dominators *d)
{
    size_t n = d->n ? d->n : 1;
    return sizeof *d + n * (sizeof *d->idom + sizeof *d->bytes) + (d->n + 1) * sizeof *d->count;
}

size_t
rc_dominators_peak_memory(const rc_dominators *d)
{
    return d->peak;
}

/* ---- what sets of nodes retain ------------------------------------------ */

/* The dominator tree as children lists: kids[off[p] .. off[p + 1]) are the
 * nodes p immediately dominates, p == n standing for the virtual root
 * (off has n + 2 entries).  Unreached nodes are nobody's children. */
static rc_status
children(const rc_dominators *d, uint32_t **off_out, size_t *off_bytes, uint32_t **kids_out,
         size_t *kids_bytes)
{
    size_t n = d->n;
    uint32_t *off = rc_pool_array(n + 2, sizeof *off, off_bytes);
    uint32_t *kids = rc_pool_array(d->reached, sizeof *kids, kids_bytes);
    if (!off || !kids) {
        rc_pool_free(off, *off_bytes);
        rc_pool_free(kids, *kids_bytes);
        return RC_ENOMEM;
    }
    memset(off, 0, (n + 2) * sizeof *off);
    for (size_t v = 0; v < n; v++) {
        if (d->idom[v] != RC_NO_ID) {
            off[(d->idom[v] == RC_DOM_ROOT ? n : d->idom[v]) + 1]++;
        }
    }
    for (size_t p = 1; p < n + 2; p++) {
        off[p] += off[p - 1];
    }
    for (size_t v = 0; v < n; v++) { /* off[p] runs up to p's end ... */
        if (d->idom[v] != RC_NO_ID) {
            kids[off[d->idom[v] == RC_DOM_ROOT ? n : d->idom[v]]++] = (uint32_t)v;
        }
    }
    for (size_t p = n + 1; p > 0; p--) { /* ... and is set back */
        off[p] = off[p - 1];
    }
    off[0] = 0;
    *off_out = off;
    *kids_out = kids;
    return RC_OK;
}

/* Entering (delta 1) or leaving (delta -1) node v on the walk: a member
 * entered while no member of its set is on the path adds what it retains. */
static void
visit(const rc_dominators *d, rc_dom_sets *sets, size_t n_lab, const uint32_t *lab,
      uint32_t *const *active, uint32_t v, int delta)
{
    for (size_t l = 0; l < n_lab; l++) {
        uint32_t k = lab[l * d->n + v];
        if (k == NONE) {
            continue;
        }
        if (delta > 0 && active[l][k]++ == 0) {
            sets[l].bytes[k] += d->bytes[v];
            sets[l].count[k] += d->count[v];
        } else if (delta < 0) {
            active[l][k]--;
        }
    }
}

/* Depth-first over the children lists from the virtual root; the path is
 * a growing stack of (node, next child position). */
static rc_status
walk_sets(const rc_dominators *d, rc_dom_sets *sets, size_t n_lab, const uint32_t *lab,
          uint32_t *const *active, const uint32_t *off, const uint32_t *kids)
{
    size_t cap = 64, sp = 1;
    uint32_t *stack = rc_reallocarray(NULL, cap, 2 * sizeof *stack);
    if (!stack) {
        return RC_ENOMEM;
    }
    stack[0] = (uint32_t)d->n;
    stack[1] = off[d->n];
    while (sp > 0) {
        uint32_t *top = &stack[2 * (sp - 1)];
        if (top[1] == off[top[0] + 1]) {
            if (top[0] != d->n) {
                visit(d, sets, n_lab, lab, active, top[0], -1);
            }
            sp--;
            continue;
        }
        uint32_t c = kids[top[1]++];
        visit(d, sets, n_lab, lab, active, c, 1);
        if (sp == cap) {
            uint32_t *grown = rc_reallocarray(stack, cap * 2, 2 * sizeof *stack);
            if (!grown) {
                rc_free(stack);
                return RC_ENOMEM;
            }
            stack = grown;
            cap *= 2;
        }
        stack[2 * sp] = c;
        stack[2 * sp + 1] = off[c];
        sp++;
    }
    rc_free(stack);
    return RC_OK;
}

/* lab[l * n + v]: v's set in labelling l, or NONE. */
static rc_status
label(const rc_dominators *d, rc_dom_sets *sets, size_t n_lab, uint32_t *lab)
{
    for (size_t i = 0; i < d->n * n_lab; i++) {
        lab[i] = NONE;
    }
    for (size_t l = 0; l < n_lab; l++) {
        for (size_t i = 0; i < sets[l].n; i++) {
            rc_id v = sets[l].nodes[i];
            uint32_t k = sets[l].set_of ? sets[l].set_of[i] : 0;
            if (v >= d->n || (k != NONE && k >= sets[l].n_sets)) {
                return RC_EINVAL;
            }
            if (k != NONE) {
                lab[l * d->n + v] = k;
            }
        }
    }
    return RC_OK;
}

/* Whether no member of any labelling dominates another node: each retains
 * only itself (a float, a str, a bytes, which most leaks are made of), so
 * none is under another and a set retains what its members do, summed
 * without walking the tree.  Anything out of range is left to label(). */
static bool
members_are_leaves(const rc_dominators *d, const rc_dom_sets *sets, size_t n_lab)
{
    for (size_t l = 0; l < n_lab; l++) {
        for (size_t i = 0; i < sets[l].n; i++) {
            rc_id v = sets[l].nodes[i];
            uint32_t k = sets[l].set_of ? sets[l].set_of[i] : 0;
            if (v >= d->n || (k != NONE && k >= sets[l].n_sets) ||
                (k != NONE && d->count[v] > 1)) {
                return false;
            }
        }
    }
    return true;
}

/* The sums when members_are_leaves(): a node listed twice in a labelling
 * counts once, in the set it was listed in last, as label() would have it. */
static rc_status
sum_leaves(const rc_dominators *d, rc_dom_sets *sets, size_t n_lab)
{
    size_t seen_bytes;
    uint64_t *seen = rc_pool_array(d->n / 64 + 1, sizeof *seen, &seen_bytes);
    if (!seen) {
        return RC_ENOMEM;
    }
    for (size_t l = 0; l < n_lab; l++) {
        memset(seen, 0, (d->n / 64 + 1) * sizeof *seen);
        for (size_t i = sets[l].n; i-- > 0;) {
            rc_id v = sets[l].nodes[i];
            uint32_t k = sets[l].set_of ? sets[l].set_of[i] : 0;
            uint64_t bit = (uint64_t)1 << (v % 64);
            if (k == NONE || (seen[v / 64] & bit)) {
                continue;
            }
            seen[v / 64] |= bit;
            if (d->idom[v] != RC_NO_ID) { /* reached */
                sets[l].bytes[k] += d->bytes[v];
                sets[l].count[k] += d->count[v];
            }
        }
    }
    rc_pool_free(seen, seen_bytes);
    return RC_OK;
}

rc_status
rc_dominators_sets(const rc_dominators *d, rc_dom_sets *sets, size_t n_lab)
{
    size_t total = 0;
    for (size_t l = 0; l < n_lab; l++) {
        memset(sets[l].bytes, 0, sets[l].n_sets * sizeof *sets[l].bytes);
        memset(sets[l].count, 0, sets[l].n_sets * sizeof *sets[l].count);
        total += sets[l].n_sets;
    }
    if (n_lab == 0 || d->n == 0) {
        return RC_OK;
    }
    if (members_are_leaves(d, sets, n_lab)) {
        return sum_leaves(d, sets, n_lab);
    }
    uint32_t *off = NULL, *kids = NULL;
    size_t off_bytes = 0, kids_bytes = 0, lab_bytes = 0;
    uint32_t *lab = d->n <= SIZE_MAX / n_lab ? rc_pool_array(d->n * n_lab, sizeof *lab, &lab_bytes)
                                             : NULL;
    uint32_t *counts = rc_calloc(total ? total : 1, sizeof *counts);
    uint32_t **active = rc_calloc(n_lab, sizeof *active);
    rc_status st = lab && counts && active ? RC_OK : RC_ENOMEM;
    if (st == RC_OK) {
        st = label(d, sets, n_lab, lab);
    }
    if (st == RC_OK) {
        st = children(d, &off, &off_bytes, &kids, &kids_bytes);
    }
    if (st == RC_OK) {
        for (size_t l = 0, at = 0; l < n_lab; at += sets[l].n_sets, l++) {
            active[l] = counts + at;
        }
        st = walk_sets(d, sets, n_lab, lab, active, off, kids);
    }
    if (st != RC_OK) {
        for (size_t l = 0; l < n_lab; l++) {
            memset(sets[l].bytes, 0, sets[l].n_sets * sizeof *sets[l].bytes);
            memset(sets[l].count, 0, sets[l].n_sets * sizeof *sets[l].count);
        }
    }
    rc_pool_free(off, off_bytes);
    rc_pool_free(kids, kids_bytes);
    rc_pool_free(lab, lab_bytes);
    rc_free(counts);
    rc_free(active);
    return st;
}

/* ---- leak suspects --------------------------------------------------------- */

void
rc_suspects_clear(rc_suspects *s)
{
    rc_free(s->items);
    rc_free(s->ids);
    rc_free(s->edges);
    memset(s, 0, sizeof *s);
}

/* Larger retained bytes first, then smaller id. */
static int
cmp_by_bytes_desc(const rc_dominators *d, rc_id x, rc_id y)
{
    if (d->bytes[x] != d->bytes[y]) {
        return d->bytes[x] > d->bytes[y] ? -1 : 1;
    }
    return (x > y) - (x < y);
}

/* qsort has no context argument: a file-scope pointer, set only around the
 * sorts below (the walker runs under the GIL; callers never nest). */
static const rc_dominators *sort_dom;

static int
cmp_ids_by_bytes(const void *x, const void *y)
{
    return cmp_by_bytes_desc(sort_dom, *(const rc_id *)x, *(const rc_id *)y);
}

static int
cmp_ids(const void *x, const void *y)
{
    rc_id a = *(const rc_id *)x, b = *(const rc_id *)y;
    return (a > b) - (a < b);
}

/* The suspects' rule (see rc_suspects_find).  A node is inner when it
 * dominates a big node, and passes through when a big child retains at least
 * four fifths of it: the memory is still held by one object.  A suspect
 * inside a listed one is listed too only when it stands out, retaining at
 * least a fifth of it; else it is one of the entries the outer one
 * accumulates, and the outer one's line ("in 30 ndarray") speaks for it. */
enum { INNER = 1, PASSES = 2, DONE = 4, LISTED = 8, RUN = 16 };

static int
passes_through(uint64_t child, uint64_t parent)
{
    return child >= parent - parent / 5;
}

static int
stands_out(uint64_t inner, uint64_t outer)
{
    return inner >= outer / 5;
}

/* A data collection (a dict, list, set, deque, lru_cache ...), whose
 * entries are data: not a namespace (a module's or an object's __dict__),
 * whose keys are names. */
static int
is_collection(const rc_graph *g, rc_id v)
{
    return (rc_graph_type_flags(g, rc_graph_type(g, v)) &
            (RC_TYPE_COLLECTION | RC_TYPE_LRU_CACHE)) &&
           !(rc_graph_flags(g, v) & RC_NODE_NAMESPACE);
}

/* ---- linked runs ---- */

/* A linked list (each node keeping its own data and the next node) is one
 * path down the dominator tree: every node passes its memory on to the
 * next, so the rule above lists the deepest node still big alone, many
 * hops down, retaining a sliver.  A run is the climb from a listed node x
 * up that path while each node passes through (its child on the path
 * retains four fifths of it) and the nodes' types repeat with a period of
 * at most RUN_PERIOD (a node, or a node and its __dict__, or a node, its
 * __dict__ and a list ...), at least RUN_MIN times over: more than a
 * nesting of containers.  Its head, the node a root reaches first, is the
 * top node of the run that is not a namespace; the suspect is listed there
 * instead, and `linked` counts the head's type in the whole run, down to
 * its last node below x too (followed by the out-edges to the node each
 * immediately dominates). */
enum { RUN_PERIOD = 4, RUN_MIN = 4 };

/* What a run compares: a node's type and whether it is a namespace (a
 * module's __dict__ above a run of instance dicts ends it). */
static uint64_t
run_key(const rc_graph *g, rc_id v)
{
    return (uint64_t)rc_graph_type(g, v) << 1 |
           !!(rc_graph_flags(g, v) & RC_NODE_NAMESPACE);
}

/* Below v, the node v immediately dominates, by an edge, with the key
 * `want` that retains the most (RC_NO_ID for none). */
static rc_id
run_next(const rc_graph *g, const rc_dominators *d, rc_id v, uint64_t want)
{
    size_t n;
    const rc_id *out = rc_graph_out(g, v, &n);
    rc_id best = RC_NO_ID;
    for (size_t i = 0; i < n; i++) {
        rc_id w = out[i];
        if (d->idom[w] == v && run_key(g, w) == want &&
            (best == RC_NO_ID || d->bytes[w] > d->bytes[best])) {
            best = w;
        }
    }
    return best;
}

/* The head of the run x ends in, with *linked its count; x and 0 when x
 * ends none.  A run found is marked (RUN in state[], its head in
 * head_of[]), and a later climb that joins it stops there, with that head
 * and a count of 0 (the first's stands), so the climbs take time linear in
 * the big nodes, whatever the number of listed nodes: one that fails stops
 * within RUN_PERIOD * RUN_MIN nodes. */
static rc_id
run_head(const rc_graph *g, const rc_dominators *d, rc_id x, uint8_t *state,
         rc_id *head_of, uint64_t *linked)
{
    uint64_t key[RUN_PERIOD]; /* the keys of x and the nodes above it */
    size_t have = 0;
    *linked = 0;
    for (rc_id v = x; v < RC_DOM_ROOT && have < RUN_PERIOD; v = d->idom[v]) {
        key[have++] = run_key(g, v);
    }
    for (size_t period = 1; period <= have; period++) {
        /* Climb while the keys repeat: node i (x is 0) has key[i % period]. */
        uint64_t len = 1, head_at = 0, count[RUN_PERIOD] = {1, 0, 0, 0};
        rc_id v = x, head = (rc_graph_flags(g, x) & RC_NODE_NAMESPACE) ? RC_NO_ID : x;
        for (;;) {
            rc_id up = d->idom[v];
            if (up >= RC_DOM_ROOT || !passes_through(d->bytes[v], d->bytes[up]) ||
                run_key(g, up) != key[len % period]) {
                break;
            }
            if ((state[up] & RUN) && len >= period) {
                return head_of[up];
            }
            count[len % period]++;
            if (!(rc_graph_flags(g, up) & RC_NODE_NAMESPACE)) {
                head = up;
                head_at = len;
            }
            v = up;
            len++;
        }
        if (len < (uint64_t)period * RUN_MIN) {
            continue;
        }
        if (head == RC_NO_ID || head == x) {
            return x;
        }
        for (v = x;; v = d->idom[v]) {
            state[v] |= RUN;
            head_of[v] = head;
            if (v == head) {
                break;
            }
        }
        /* Down from x, the run's keys go on: node -1 has key[period - 1]. */
        size_t phase = (size_t)(head_at % period);
        uint64_t below = 0;
        v = x;
        for (size_t at = period - 1;; at = at ? at - 1 : period - 1) {
            if ((v = run_next(g, d, v, key[at])) == RC_NO_ID) {
                break;
            }
            below += at == phase;
        }
        *linked = count[phase] + below;
        return head;
    }
    return x;
}

/* One listed suspect: its node, and how many nodes of its type it links
 * (0: it heads no run). */
typedef struct listed {
    rc_id node;
    uint64_t linked;
} listed;

static int
cmp_listed(const void *x, const void *y)
{
    return cmp_by_bytes_desc(sort_dom, ((const listed *)x)->node,
                             ((const listed *)y)->node);
}

/* The listed suspects, largest first, into *ids (rc_malloc'ed, *k of
 * them, at most `limit`).  Big nodes are resolved top-down (an ancestor of
 * a big node is big), each once: state[v] holds INNER, PASSES, DONE and
 * LISTED; up[v] v's nearest listed strict ancestor (RC_NO_ID for none).
 * The climb to the first resolved ancestor keeps its way back in up[]
 * itself (each node's child on the way), so it needs no stack.  Then each
 * listed node that ends a run (run_head, which reuses up[] for its heads)
 * is listed at the run's head instead, once.  RC_ENOMEM leaves nothing. */
static rc_status
suspect_nodes(const rc_graph *g, const rc_dominators *d, uint64_t min_bytes,
              size_t limit, listed **ids, size_t *k)
{
    size_t n = d->n ? d->n : 1;
    uint8_t *state = rc_calloc(n, 1);
    rc_id *up = rc_malloc(n * sizeof *up);
    listed *all = NULL;
    size_t found = 0;
    if (!state || !up) {
        goto finally;
    }
    for (rc_id v = 0; v < d->n; v++) {
        rc_id p = d->idom[v];
        if (p < RC_DOM_ROOT && d->bytes[v] >= min_bytes) {
            state[p] |= INNER | (passes_through(d->bytes[v], d->bytes[p]) ? PASSES : 0);
        }
    }
    for (rc_id v = 0; v < d->n; v++) {
        if (d->idom[v] == RC_NO_ID || d->bytes[v] < min_bytes) {
            continue;
        }
        rc_id x = v, back = RC_NO_ID;
        for (; x < RC_DOM_ROOT && !(state[x] & DONE); x = d->idom[x]) {
            up[x] = back;
            back = x;
        }
        for (x = back; x != RC_NO_ID; x = back) {
            rc_id p = d->idom[x];
            back = up[x];
            up[x] = p >= RC_DOM_ROOT ? RC_NO_ID : (state[p] & LISTED) ? p : up[p];
            state[x] |= DONE;
            int suspect = !(state[x] & INNER) || (!(state[x] & PASSES) && is_collection(g, x));
            if (suspect && (up[x] == RC_NO_ID || stands_out(d->bytes[x], d->bytes[up[x]]))) {
                state[x] |= LISTED;
                found++;
            }
        }
    }
    all = rc_malloc((found ? found : 1) * sizeof *all);
    if (!all) {
        goto finally;
    }
    found = 0;
    for (rc_id v = 0; v < d->n; v++) {
        if (state[v] & LISTED) {
            all[found].node = run_head(g, d, v, state, up, &all[found].linked);
            found++;
        }
    }
    sort_dom = d;
    qsort(all, found, sizeof *all, cmp_listed);
    sort_dom = NULL;
    /* Two runs may share a head: once, with the longer count. */
    size_t kept = 0;
    for (size_t i = 0; i < found; i++) {
        if (kept && all[kept - 1].node == all[i].node) {
            if (all[i].linked > all[kept - 1].linked) {
                all[kept - 1].linked = all[i].linked;
            }
            continue;
        }
        all[kept++] = all[i];
    }
    *ids = all;
    *k = kept < limit ? kept : limit;
finally:
    rc_free(up);
    rc_free(state);
    return all ? RC_OK : RC_ENOMEM;
}

/* One node a suspect immediately dominates. */
typedef struct acc_entry {
    uint32_t suspect; /* index into the sorted suspect ids */
    uint32_t type;
    uint64_t bytes;
} acc_entry;

static int
cmp_acc(const void *x, const void *y)
{
    const acc_entry *a = x, *b = y;
    if (a->suspect != b->suspect) {
        return a->suspect < b->suspect ? -1 : 1;
    }
    return (a->type > b->type) - (a->type < b->type);
}

/* Each suspect's accumulation: the nodes it immediately dominates, sorted
 * by (suspect, type) and summed run by run; the type retaining the most
 * wins (the smaller type id on a tie).  Memory is linear in those nodes,
 * whatever the number of types. */
static rc_status
accumulations(const rc_graph *g, const rc_dominators *d, rc_suspect *items, size_t k)
{
    rc_id *sorted = rc_malloc((k ? k : 1) * sizeof *sorted);
    size_t *item_of = rc_malloc((k ? k : 1) * sizeof *item_of);
    if (!sorted || !item_of) {
        rc_free(sorted);
        rc_free(item_of);
        return RC_ENOMEM;
    }
    for (size_t s = 0; s < k; s++) {
        sorted[s] = items[s].node;
        items[s].top_type = UINT32_MAX;
    }
    qsort(sorted, k, sizeof *sorted, cmp_ids);
    for (size_t s = 0; s < k; s++) {
        const rc_id *at = bsearch(&items[s].node, sorted, k, sizeof *sorted, cmp_ids);
        item_of[at - sorted] = s;
    }
    size_t n_acc = 0;
    for (rc_id v = 0; v < d->n && k; v++) {
        rc_id up = d->idom[v];
        n_acc += up < RC_DOM_ROOT && bsearch(&up, sorted, k, sizeof *sorted, cmp_ids) != NULL;
    }
    acc_entry *acc = rc_malloc((n_acc ? n_acc : 1) * sizeof *acc);
    if (!acc) {
        rc_free(sorted);
        rc_free(item_of);
        return RC_ENOMEM;
    }
    n_acc = 0;
    for (rc_id v = 0; v < d->n && k; v++) {
        rc_id up = d->idom[v];
        const rc_id *hit = up < RC_DOM_ROOT ? bsearch(&up, sorted, k, sizeof *sorted, cmp_ids)
                                            : NULL;
        if (hit) {
            acc[n_acc++] = (acc_entry){(uint32_t)(hit - sorted), rc_graph_type(g, v),
                                       d->bytes[v]};
        }
    }
    qsort(acc, n_acc, sizeof *acc, cmp_acc);
    for (size_t i = 0; i < n_acc;) {
        size_t j = i;
        uint64_t sum = 0;
        for (; j < n_acc && cmp_acc(&acc[i], &acc[j]) == 0; j++) {
            sum += acc[j].bytes;
        }
        rc_suspect *it = &items[item_of[acc[i].suspect]];
        if (it->top_type == UINT32_MAX || sum > it->top_bytes) {
            it->top_type = acc[i].type;
            it->top_bytes = sum;
            it->top_count = j - i;
        }
        i = j;
    }
    rc_free(acc);
    rc_free(item_of);
    rc_free(sorted);
    return RC_OK;
}

/* The chains of the suspects, laid out in out->ids / out->edges. */
static rc_status
lay_out_chains(const rc_paths *p, const uint8_t *kinds, rc_suspects *out)
{
    size_t total = 0;
    for (size_t s = 0; s < out->n; s++) {
        uint32_t depth = rc_paths_depth(p, out->items[s].node);
        out->items[s].chain_len = depth == RC_UNREACHED ? 1 : (size_t)depth + 1;
        out->items[s].chain_at = total;
        total += out->items[s].chain_len;
    }
    out->ids = rc_malloc((total ? total : 1) * sizeof *out->ids);
    out->edges = rc_calloc(total ? total : 1, sizeof *out->edges);
    if (!out->ids || !out->edges) {
        return RC_ENOMEM;
    }
    out->n_ids = total;
    for (size_t s = 0; s < out->n; s++) {
        rc_suspect *it = &out->items[s];
        rc_id *chain = out->ids + it->chain_at;
        if (it->chain_len == 1 && rc_paths_depth(p, it->node) == RC_UNREACHED) {
            chain[0] = it->node;
            it->kind = RC_ROOT_NONE;
            continue;
        }
        rc_paths_chain(p, it->node, chain, it->chain_len);
        rc_paths_chain_edges(p, chain, it->chain_len, out->edges + it->chain_at);
        it->kind = kinds[chain[0]];
    }
    return RC_OK;
}

rc_status
rc_suspects_find(const rc_graph *g, const rc_dominators *d, const rc_paths *p,
                 const uint8_t *kinds, double min_share, size_t limit, rc_suspects *out)
{
    memset(out, 0, sizeof *out);
    if (!(min_share >= 0.0 && min_share <= 1.0)) {
        return RC_EINVAL;
    }
    double want = min_share * (double)d->heap_bytes;
    uint64_t min_bytes = (uint64_t)want;
    min_bytes += (double)min_bytes < want || min_bytes == 0; /* ceil, at least 1 */
    listed *ids = NULL;
    size_t k = 0;
    rc_status st = suspect_nodes(g, d, min_bytes, limit, &ids, &k);
    if (st != RC_OK) {
        return st;
    }
    out->items = rc_calloc(k ? k : 1, sizeof *out->items);
    if (!out->items) {
        rc_free(ids);
        return RC_ENOMEM;
    }
    out->n = k;
    out->heap_bytes = d->heap_bytes;
    for (size_t s = 0; s < k; s++) {
        out->items[s].node = ids[s].node;
        out->items[s].bytes = d->bytes[ids[s].node];
        out->items[s].count = d->count[ids[s].node];
        out->items[s].linked = ids[s].linked;
    }
    rc_free(ids);
    if ((st = accumulations(g, d, out->items, k)) != RC_OK ||
        (st = lay_out_chains(p, kinds, out)) != RC_OK) {
        rc_suspects_clear(out);
        return st;
    }
    /* A run's head accumulates the run: its type, linked, the head's bytes. */
    for (size_t s = 0; s < k; s++) {
        rc_suspect *it = &out->items[s];
        if (it->linked) {
            it->top_type = rc_graph_type(g, it->node);
            it->top_count = it->linked;
            it->top_bytes = it->bytes;
        }
    }
    return st;
}

/* ---- dominator subtrees ---------------------------------------------------- */

rc_status
rc_dominators_top(const rc_dominators *d, size_t k, rc_id *out, size_t *n)
{
    size_t found = 0;
    for (rc_id v = 0; v < d->n; v++) {
        found += d->idom[v] == RC_DOM_ROOT;
    }
    rc_id *kids = rc_malloc((found ? found : 1) * sizeof *kids);
    if (!kids) {
        return RC_ENOMEM;
    }
    found = 0;
    for (rc_id v = 0; v < d->n; v++) {
        if (d->idom[v] == RC_DOM_ROOT) {
            kids[found++] = v;
        }
    }
    sort_dom = d;
    qsort(kids, found, sizeof *kids, cmp_ids_by_bytes);
    sort_dom = NULL;
    *n = found < k ? found : k;
    if (*n) {
        memcpy(out, kids, *n * sizeof *out);
    }
    rc_free(kids);
    return RC_OK;
}

/* The children of the nodes at layout[from .. to) (one pass over the
 * nodes), appended to the layout: each parent's `width` largest, then a
 * summary of the rest.  *n and *cap track the layout (rc_realloc'ed).
 * Summaries in the range have node RC_NO_ID, which no idom equals. */
static rc_status
next_level(const rc_dominators *d, size_t from, size_t to, size_t width, rc_domtree_node **lay,
           size_t *n, size_t *cap)
{
    size_t k = to - from, found = 0;
    rc_id *parents = rc_malloc((k ? k : 1) * sizeof *parents);
    size_t *start = rc_calloc(k + 1, sizeof *start);
    rc_id *kids = NULL, *bucket = NULL;
    rc_status st = RC_ENOMEM;
    if (!parents || !start) {
        goto finally;
    }
    for (size_t i = 0; i < k; i++) {
        parents[i] = (*lay)[from + i].node;
    }
    qsort(parents, k, sizeof *parents, cmp_ids);
    for (rc_id v = 0; v < d->n; v++) {
        rc_id up = d->idom[v];
        found += up < RC_DOM_ROOT && bsearch(&up, parents, k, sizeof *parents, cmp_ids) != NULL;
    }
    kids = rc_malloc((found ? found : 1) * sizeof *kids);
    bucket = rc_malloc((found ? found : 1) * sizeof *bucket);
    if (!kids || !bucket) {
        goto finally;
    }
    found = 0;
    for (rc_id v = 0; v < d->n; v++) {
        rc_id up = d->idom[v];
        if (up < RC_DOM_ROOT && bsearch(&up, parents, k, sizeof *parents, cmp_ids)) {
            kids[found++] = v;
        }
    }
    sort_dom = d;
    qsort(kids, found, sizeof *kids, cmp_ids_by_bytes);
    sort_dom = NULL;
    /* Bucket the kids by parent, keeping their order (largest first). */
    for (size_t j = 0; j < found; j++) {
        const rc_id *hit = bsearch(&d->idom[kids[j]], parents, k, sizeof *parents, cmp_ids);
        start[(size_t)(hit - parents) + 1]++;
    }
    for (size_t i = 0; i < k; i++) {
        start[i + 1] += start[i];
    }
    for (size_t j = 0; j < found; j++) {
        const rc_id *hit = bsearch(&d->idom[kids[j]], parents, k, sizeof *parents, cmp_ids);
        bucket[start[hit - parents]++] = kids[j];
    }
    /* start[i] is now the end of parent i's bucket (and start of i + 1's). */
    st = RC_OK;
    for (size_t i = from; st == RC_OK && i < to; i++) {
        rc_id pv = (*lay)[i].node;
        if (pv == RC_NO_ID) {
            continue;
        }
        size_t pi = (size_t)((const rc_id *)bsearch(&pv, parents, k, sizeof *parents, cmp_ids) -
                             parents);
        size_t lo = pi ? start[pi - 1] : 0, hi = start[pi];
        size_t take = hi - lo < width ? hi - lo : width;
        if (*n + take + 1 > *cap) {
            size_t ncap = (*n + take + 1) * 2;
            rc_domtree_node *p = rc_reallocarray(*lay, ncap, sizeof *p);
            if (!p) {
                st = RC_ENOMEM;
                break;
            }
            *lay = p;
            *cap = ncap;
        }
        for (size_t j = lo; j < lo + take; j++) {
            rc_id v = bucket[j];
            (*lay)[(*n)++] = (rc_domtree_node){v, (uint32_t)i, d->bytes[v], d->count[v], 0};
        }
        if (hi - lo > take) {
            rc_domtree_node rest = {RC_NO_ID, (uint32_t)i, 0, 0, hi - lo - take};
            for (size_t j = lo + take; j < hi; j++) {
                rest.bytes += d->bytes[bucket[j]];
                rest.count += d->count[bucket[j]];
            }
            (*lay)[(*n)++] = rest;
        }
    }
finally:
    rc_free(bucket);
    rc_free(kids);
    rc_free(start);
    rc_free(parents);
    return st;
}

rc_status
rc_domtree_layout(const rc_dominators *d, rc_id top, size_t depth, size_t width,
                  rc_domtree_node **out, size_t *n)
{
    if (width == 0 || top >= d->n || d->idom[top] == RC_NO_ID) {
        return RC_EINVAL;
    }
    size_t cap = 16, used = 1, from = 0;
    rc_domtree_node *lay = rc_malloc(cap * sizeof *lay);
    if (!lay) {
        return RC_ENOMEM;
    }
    lay[0] = (rc_domtree_node){top, UINT32_MAX, d->bytes[top], d->count[top], 0};
    for (size_t level = 0; level < depth && from < used; level++) {
        size_t to = used;
        rc_status st = next_level(d, from, to, width, &lay, &used, &cap);
        if (st != RC_OK) {
            rc_free(lay);
            return st;
        }
        from = to;
    }
    *out = lay;
    *n = used;
    return RC_OK;
}
