/* Iterative Tarjan (see refchain/scc.h).
 *
 * The recursion of the textbook algorithm becomes an explicit call stack of
 * (node, next out-edge to look at) frames.  Per node: its DFS index, its
 * low-link and whether it is on the component stack, 9 bytes; the two
 * stacks hold at most one entry per node of the set. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/pool.h"
#include "refchain/scc.h"

#define UNSEEN UINT32_MAX

typedef struct call {
    rc_id v;
    uint32_t edge;
} call;

rc_status
rc_scc(const rc_graph *g, const uint8_t *in_set, uint32_t **comp_out, size_t *comp_bytes,
       size_t *n_comp, uint8_t **cyclic_out)
{
    /* The per-node arrays come from the capture's pool: a garbage() asked
     * again writes over resident memory instead of faulting in 26 bytes a
     * node (a tenth of a garbage() on the 1M bench heap). */
    size_t n = rc_graph_node_count(g), alloc = n ? n : 1;
    size_t index_bytes = 0, low_bytes = 0, got = 0, on_stack_bytes = 0, stack_bytes = 0,
           calls_bytes = 0;
    uint32_t *index = rc_pool_array(alloc, sizeof *index, &index_bytes);
    uint32_t *low = rc_pool_array(alloc, sizeof *low, &low_bytes);
    uint32_t *comp = rc_pool_array(alloc, sizeof *comp, &got);
    uint8_t *on_stack = rc_pool_array(alloc, 1, &on_stack_bytes);
    rc_id *stack = rc_pool_array(alloc, sizeof *stack, &stack_bytes);
    call *calls = rc_pool_array(alloc, sizeof *calls, &calls_bytes);
    uint8_t *cyclic = rc_malloc(alloc);
    if (!index || !low || !comp || !on_stack || !stack || !calls || !cyclic) {
        rc_free(cyclic);
        rc_pool_free(comp, got);
        comp = NULL;
        goto finally;
    }
    memset(on_stack, 0, alloc);
    for (size_t v = 0; v < n; v++) {
        index[v] = UNSEEN;
        comp[v] = RC_NO_COMPONENT;
    }
    uint32_t next_index = 0, components = 0;
    size_t sp = 0;
    for (rc_id root = 0; root < n; root++) {
        if (!in_set[root] || index[root] != UNSEEN) {
            continue;
        }
        size_t cp = 0;
        calls[cp++] = (call){root, 0};
        index[root] = low[root] = next_index++;
        stack[sp++] = root;
        on_stack[root] = 1;
        while (cp) {
            call *c = &calls[cp - 1];
            size_t deg;
            const rc_id *out = rc_graph_out(g, c->v, &deg);
            if (c->edge < deg) {
                rc_id w = out[c->edge++];
                if (!in_set[w]) {
                    continue;
                }
                if (index[w] == UNSEEN) {
                    index[w] = low[w] = next_index++;
                    stack[sp++] = w;
                    on_stack[w] = 1;
                    calls[cp++] = (call){w, 0};
                } else if (on_stack[w] && index[w] < low[c->v]) {
                    low[c->v] = index[w];
                }
                continue;
            }
            /* All of v's edges are done: return to the caller. */
            rc_id v = c->v;
            cp--;
            if (cp && low[v] < low[calls[cp - 1].v]) {
                low[calls[cp - 1].v] = low[v];
            }
            if (low[v] != index[v]) {
                continue;
            }
            /* v roots a component: pop it. */
            size_t size = 0;
            rc_id w;
            do {
                w = stack[--sp];
                on_stack[w] = 0;
                comp[w] = components;
                size++;
            } while (w != v);
            bool self_loop = false;
            if (size == 1) {
                const rc_id *vo = rc_graph_out(g, v, &deg);
                for (size_t i = 0; i < deg && !self_loop; i++) {
                    self_loop = vo[i] == v;
                }
            }
            cyclic[components++] = size > 1 || self_loop;
        }
    }
    *comp_out = comp;
    *comp_bytes = got;
    *n_comp = components;
    *cyclic_out = cyclic;
finally:
    rc_pool_free(index, index_bytes);
    rc_pool_free(low, low_bytes);
    rc_pool_free(on_stack, on_stack_bytes);
    rc_pool_free(stack, stack_bytes);
    rc_pool_free(calls, calls_bytes);
    return comp ? RC_OK : RC_ENOMEM;
}

/* ---- grouping cycles by signature ------------------------------------------ */

void
rc_cycle_groups_free(rc_cycle_group *groups, size_t n)
{
    for (size_t i = 0; groups && i < n; i++) {
        rc_free(groups[i].types);
    }
    rc_free(groups);
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int
cmp_cycle_group(const void *a, const void *b)
{
    const rc_cycle_group *x = a, *y = b;
    if (x->cycles != y->cycles) {
        return x->cycles > y->cycles ? -1 : 1;
    }
    return (x->representative > y->representative) - (x->representative < y->representative);
}

/* A dict in component c whose one referrer inside c is a non-collection
 * object: that object's __dict__. */
static bool
is_namespace_dict(const rc_graph *g, const uint32_t *comp, rc_id v)
{
    if (!(rc_graph_type_flags(g, rc_graph_type(g, v)) & RC_TYPE_DICT)) {
        return false;
    }
    size_t n, inside = 0;
    const rc_id *in = rc_graph_in(g, v, &n);
    rc_id owner = RC_NO_ID;
    for (size_t i = 0; i < n; i++) {
        if (comp[in[i]] == comp[v]) {
            inside++;
            owner = in[i];
        }
    }
    return inside == 1 &&
           !(rc_graph_type_flags(g, rc_graph_type(g, owner)) & RC_TYPE_COLLECTION);
}

static uint64_t
hash_types(const uint32_t *t, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h = (h ^ t[i]) * UINT64_C(0x100000001b3);
    }
    return h ^ n;
}

rc_status
rc_cycles_group(const rc_graph *g, const uint32_t *comp, size_t n_comp, const uint8_t *cyclic,
                rc_cycle_group **groups_out, size_t *n_groups, rc_id **members_out,
                size_t **start_out, uint32_t **group_of_out)
{
    size_t n = rc_graph_node_count(g);
    size_t *start = rc_calloc(n_comp + 1, sizeof *start);
    uint32_t *group_of = NULL, *rank = NULL;
    rc_id *members = NULL;
    uint32_t *sig = NULL;
    uint64_t *hashes = NULL;
    rc_cycle_group *groups = NULL;
    size_t ng = 0, slots = 16;
    uint32_t *table = NULL;
    if (!start || !rc_graph_has_in(g)) {
        rc_free(start);
        return start ? RC_EINVAL : RC_ENOMEM;
    }
    /* Bucket the nodes of cyclic components by component. */
    size_t total = 0;
    for (rc_id v = 0; v < n; v++) {
        if (comp[v] != UINT32_MAX && cyclic[comp[v]]) {
            start[comp[v] + 1]++;
            total++;
        }
    }
    for (size_t c = 0; c < n_comp; c++) {
        start[c + 1] += start[c];
    }
    members = rc_malloc((total ? total : 1) * sizeof *members);
    size_t *fill = rc_malloc((n_comp ? n_comp : 1) * sizeof *fill);
    if (!members || !fill) {
        rc_free(fill);
        goto error;
    }
    memcpy(fill, start, n_comp * sizeof *fill);
    for (rc_id v = 0; v < n; v++) {
        if (comp[v] != UINT32_MAX && cyclic[comp[v]]) {
            members[fill[comp[v]]++] = v;
        }
    }
    rc_free(fill);
    size_t n_cyclic = 0;
    for (size_t c = 0; c < n_comp; c++) {
        n_cyclic += cyclic[c];
    }
    while (slots < 2 * n_cyclic) {
        slots *= 2;
    }
    sig = rc_malloc((total ? total : 1) * sizeof *sig);
    hashes = rc_malloc(slots * sizeof *hashes);
    table = rc_calloc(slots, sizeof *table);
    groups = rc_calloc(n_cyclic ? n_cyclic : 1, sizeof *groups);
    group_of = rc_malloc((n_comp ? n_comp : 1) * sizeof *group_of);
    rank = rc_malloc((n_cyclic ? n_cyclic : 1) * sizeof *rank);
    if (!sig || !hashes || !table || !groups || !group_of || !rank) {
        goto error;
    }
    for (size_t c = 0; c < n_comp; c++) {
        group_of[c] = UINT32_MAX;
        if (!cyclic[c]) {
            continue;
        }
        size_t k = 0, count = start[c + 1] - start[c];
        uint64_t bytes = 0;
        int finalizers = 0;
        for (size_t i = start[c]; i < start[c + 1]; i++) {
            rc_id v = members[i];
            uint32_t t = rc_graph_type(g, v);
            bytes += rc_graph_size(g, v);
            finalizers |= (rc_graph_type_flags(g, t) & RC_TYPE_FINALIZER) != 0;
            if (!is_namespace_dict(g, comp, v)) {
                sig[k++] = t;
            }
        }
        /* Each type once: a cycle of a million Links reads "Link". */
        qsort(sig, k, sizeof *sig, cmp_u32);
        size_t distinct = 0;
        for (size_t i = 0; i < k; i++) {
            if (!distinct || sig[distinct - 1] != sig[i]) {
                sig[distinct++] = sig[i];
            }
        }
        k = distinct;
        uint64_t h = hash_types(sig, k);
        size_t s = (size_t)(h >> 11) & (slots - 1);
        while (table[s] && (hashes[s] != h || groups[table[s] - 1].n_types != k ||
                            memcmp(groups[table[s] - 1].types, sig, k * sizeof *sig) != 0)) {
            s = (s + 1) & (slots - 1);
        }
        if (!table[s]) {
            rc_cycle_group *gr = &groups[ng];
            gr->types = rc_malloc((k ? k : 1) * sizeof *gr->types);
            if (!gr->types) {
                goto error;
            }
            memcpy(gr->types, sig, k * sizeof *sig);
            gr->n_types = k;
            gr->representative = (uint32_t)c;
            hashes[s] = h;
            table[s] = (uint32_t)++ng;
        }
        rc_cycle_group *gr = &groups[table[s] - 1];
        group_of[c] = table[s] - 1;
        gr->cycles++;
        gr->objects += count;
        gr->bytes += bytes;
        gr->finalizers |= finalizers;
    }
    qsort(groups, ng, sizeof *groups, cmp_cycle_group);
    /* Renumber group_of: a group's representative still names its old slot. */
    for (size_t r = 0; r < ng; r++) {
        rank[group_of[groups[r].representative]] = (uint32_t)r;
    }
    for (size_t c = 0; c < n_comp; c++) {
        if (group_of[c] != UINT32_MAX) {
            group_of[c] = rank[group_of[c]];
        }
    }
    rc_free(rank);
    rc_free(sig);
    rc_free(hashes);
    rc_free(table);
    *groups_out = groups;
    *n_groups = ng;
    *members_out = members;
    *start_out = start;
    *group_of_out = group_of;
    return RC_OK;
error:
    rc_free(group_of);
    rc_free(rank);
    rc_cycle_groups_free(groups, ng);
    rc_free(sig);
    rc_free(hashes);
    rc_free(table);
    rc_free(members);
    rc_free(start);
    return RC_ENOMEM;
}

struct rc_cycle_finder {
    const rc_graph *g;
    const uint32_t *comp;
    /* prev[v]: the node a search reached v from (UNSEEN: not reached, as
     * every entry is between searches); via[v]: the index of that
     * reference among prev[v]'s out-edges; queue: the nodes reached. */
    uint32_t *prev, *via;
    rc_id *queue;
    size_t prev_bytes, via_bytes, queue_bytes; /* of their pooled blocks */
};

rc_cycle_finder *
rc_cycle_finder_new(const rc_graph *g, const uint32_t *comp)
{
    size_t n = rc_graph_node_count(g), alloc = n ? n : 1;
    rc_cycle_finder *f = rc_calloc(1, sizeof *f);
    if (!f) {
        return NULL;
    }
    f->g = g;
    f->comp = comp;
    f->prev = rc_pool_array(alloc, sizeof *f->prev, &f->prev_bytes);
    f->via = rc_pool_array(alloc, sizeof *f->via, &f->via_bytes);
    f->queue = rc_pool_array(alloc, sizeof *f->queue, &f->queue_bytes);
    if (!f->prev || !f->via || !f->queue) {
        rc_cycle_finder_free(f);
        return NULL;
    }
    memset(f->prev, 0xff, alloc * sizeof *f->prev);
    return f;
}

void
rc_cycle_finder_free(rc_cycle_finder *f)
{
    if (f) {
        rc_pool_free(f->prev, f->prev_bytes);
        rc_pool_free(f->via, f->via_bytes);
        rc_pool_free(f->queue, f->queue_bytes);
        rc_free(f);
    }
}

rc_status
rc_cycle_finder_find(rc_cycle_finder *f, rc_id start, size_t max_hops, rc_id **path_out,
                     uint32_t **edge_out, size_t *len_out)
{
    uint32_t *prev = f->prev, *via = f->via;
    size_t head = 0, tail = 0, len = 0;
    rc_id last = start;   /* the node whose reference closes the cycle */
    uint32_t closing = 0; /* that reference's index */
    f->queue[tail++] = start;
    prev[start] = start;
    via[start] = 0;
    /* A node outside every component is in no cycle. */
    while (head < tail && !len && f->comp[start] != RC_NO_COMPONENT) {
        rc_id v = f->queue[head++];
        size_t deg;
        const rc_id *out = rc_graph_out(f->g, v, &deg);
        for (size_t k = 0; k < deg; k++) {
            rc_id w = out[k];
            if (f->comp[w] != f->comp[start]) {
                continue;
            }
            if (w == start) {
                last = v;
                closing = (uint32_t)k;
                len = 1;
                for (rc_id u = v; u != start; u = prev[u]) {
                    len++;
                }
                break;
            }
            if (prev[w] == UNSEEN) {
                prev[w] = v;
                via[w] = (uint32_t)k;
                f->queue[tail++] = w;
            }
        }
    }
    size_t shown = len < max_hops ? len : max_hops;
    rc_id *path = rc_malloc((shown + 1) * sizeof *path);
    uint32_t *edge = rc_malloc((shown ? shown : 1) * sizeof *edge);
    rc_status st = path && edge ? RC_OK : RC_ENOMEM;
    if (st == RC_OK) {
        /* Node i of the cycle is len - 1 - i steps back from `last`. */
        rc_id u = last;
        uint32_t k = closing;
        path[shown] = start; /* what the last reference leads to, when all fit */
        for (size_t i = len; i-- > 0;) {
            if (i <= shown) {
                path[i] = u;
            }
            if (i < shown) {
                edge[i] = k;
            }
            k = via[u];
            u = prev[u];
        }
        *path_out = path;
        *edge_out = edge;
        *len_out = len;
    } else {
        rc_free(path);
        rc_free(edge);
    }
    for (size_t i = 0; i < tail; i++) {
        prev[f->queue[i]] = UNSEEN;
    }
    return st;
}

/* ---- the answer's layout ---------------------------------------------------- */

void
rc_cycles_clear(rc_cycles *c)
{
    rc_cycle_groups_free(c->groups, c->n_groups);
    rc_free(c->shown);
    rc_free(c->ids);
    rc_free(c->edges);
    memset(c, 0, sizeof *c);
}

/* What rc_garbage_cycles() works from. */
typedef struct cycle_parts {
    uint32_t *comp;
    size_t comp_bytes; /* of its pooled block */
    size_t n_comp;
    uint8_t *cyclic;
    rc_id *members;
    size_t *start;
    uint32_t *group_of;
    rc_id **paths;     /* one per group shown (n_paths) */
    uint32_t **path_edges;
    size_t n_paths;
} cycle_parts;

static void
cycle_parts_free(cycle_parts *p)
{
    for (size_t i = 0; i < p->n_paths; i++) {
        rc_free(p->paths[i]);
        rc_free(p->path_edges[i]);
    }
    rc_free(p->paths);
    rc_free(p->path_edges);
    rc_pool_free(p->comp, p->comp_bytes);
    rc_free(p->cyclic);
    rc_free(p->members);
    rc_free(p->start);
    rc_free(p->group_of);
}

/* One shortest cycle of each group shown, into p->paths, and the layout's
 * offsets into c->shown; *n_ids receives the ids needed. */
static rc_status
find_paths(const rc_graph *g, cycle_parts *p, size_t max_hops, rc_cycles *c, size_t *n_ids)
{
    rc_cycle_finder *f = max_hops && c->n_shown ? rc_cycle_finder_new(g, p->comp) : NULL;
    if (max_hops && c->n_shown && !f) {
        return RC_ENOMEM;
    }
    rc_status st = RC_OK;
    size_t at = 0;
    for (size_t i = 0; st == RC_OK && i < c->n_shown; i++) {
        rc_cycles_shown *s = &c->shown[i];
        if (f) {
            uint32_t rep = c->groups[i].representative;
            st = rc_cycle_finder_find(f, p->members[p->start[rep]], max_hops, &p->paths[i],
                                      &p->path_edges[i], &s->hops);
        }
        size_t shown = s->hops < max_hops ? s->hops : max_hops;
        s->path_len = shown ? shown + 1 : 0;
        if (at > SIZE_MAX - s->path_len - c->groups[i].objects) {
            st = RC_ETOOBIG;
            break;
        }
        s->path_at = at;
        s->members_at = at + s->path_len;
        at += s->path_len + c->groups[i].objects;
    }
    rc_cycle_finder_free(f);
    *n_ids = at;
    return st;
}

/* Copy the paths and the members of the groups shown into c->ids. */
static void
lay_out_cycles(const cycle_parts *p, rc_cycles *c)
{
    for (size_t i = 0; i < c->n_shown; i++) {
        const rc_cycles_shown *s = &c->shown[i];
        if (s->path_len) {
            memcpy(c->ids + s->path_at, p->paths[i], s->path_len * sizeof *c->ids);
            memcpy(c->edges + s->path_at, p->path_edges[i], (s->path_len - 1) * sizeof *c->edges);
        }
    }
    /* members_at is each group's cursor here, then set back. */
    for (size_t k = 0; k < p->n_comp; k++) {
        uint32_t gi = p->group_of[k];
        for (size_t j = p->start[k]; gi < c->n_shown && j < p->start[k + 1]; j++) {
            c->ids[c->shown[gi].members_at++] = p->members[j];
        }
    }
    for (size_t i = 0; i < c->n_shown; i++) {
        c->shown[i].members_at -= c->groups[i].objects;
    }
}

rc_status
rc_garbage_cycles(const rc_graph *g, const uint8_t *in_set, size_t limit, size_t max_hops,
                  rc_cycles *out)
{
    memset(out, 0, sizeof *out);
    cycle_parts p = {0};
    rc_cycles c = {0};
    size_t n_ids = 0;
    rc_status st = rc_scc(g, in_set, &p.comp, &p.comp_bytes, &p.n_comp, &p.cyclic);
    if (st == RC_OK) {
        st = rc_cycles_group(g, p.comp, p.n_comp, p.cyclic, &c.groups, &c.n_groups, &p.members,
                             &p.start, &p.group_of);
    }
    if (st != RC_OK) {
        goto finally;
    }
    c.n_shown = limit < c.n_groups ? limit : c.n_groups;
    c.shown = rc_calloc(c.n_shown ? c.n_shown : 1, sizeof *c.shown);
    p.paths = rc_calloc(c.n_shown ? c.n_shown : 1, sizeof *p.paths);
    p.path_edges = rc_calloc(c.n_shown ? c.n_shown : 1, sizeof *p.path_edges);
    if (!c.shown || !p.paths || !p.path_edges) {
        st = RC_ENOMEM;
        goto finally;
    }
    p.n_paths = c.n_shown;
    if ((st = find_paths(g, &p, max_hops, &c, &n_ids)) != RC_OK) {
        goto finally;
    }
    if (n_ids > SIZE_MAX / sizeof *c.ids) {
        st = RC_ETOOBIG;
        goto finally;
    }
    c.n_ids = n_ids;
    c.ids = rc_malloc((n_ids ? n_ids : 1) * sizeof *c.ids);
    c.edges = rc_calloc(n_ids ? n_ids : 1, sizeof *c.edges);
    if (!c.ids || !c.edges) {
        st = RC_ENOMEM;
        goto finally;
    }
    lay_out_cycles(&p, &c);
    for (rc_id v = 0; v < rc_graph_node_count(g); v++) {
        c.finalizer_objects +=
            in_set[v] && (rc_graph_type_flags(g, rc_graph_type(g, v)) & RC_TYPE_FINALIZER);
    }
    *out = c;
    c = (rc_cycles){0};
finally:
    cycle_parts_free(&p);
    rc_cycles_clear(&c);
    return st;
}
