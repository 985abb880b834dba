/* Explanations laid out as node ids (see refchain/explain.h). */
#include "refchain/explain.h"

#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/dominators.h"
#include "refchain/select.h"

void
rc_explanation_clear(rc_explanation *e)
{
    rc_free(e->sets);
    rc_free(e->groups);
    rc_free(e->ids);
    rc_free(e->edges);
    memset(e, 0, sizeof *e);
}

/* Chain lengths and offsets of the groups kept, and the sets' entries;
 * returns the ids they need in all, or SIZE_MAX on overflow. */
static size_t
lay_out(const rc_paths *p, const rc_group *groups, const size_t *start, size_t limit,
        rc_explanation *e)
{
    size_t at = 0;
    e->n_groups = 0;
    for (size_t k = 0; k < e->n_sets; k++) {
        size_t ng = start[k + 1] - start[k];
        rc_explained_set *s = &e->sets[k];
        s->first = e->n_groups;
        s->n_groups = ng < limit ? ng : limit;
        for (size_t i = 0; i < s->n_groups; i++) {
            const rc_group *gr = &groups[start[k] + i];
            rc_explained_group *out = &e->groups[e->n_groups++];
            uint32_t depth = rc_paths_depth(p, gr->representative);
            out->count = gr->count;
            out->bytes = gr->bytes;
            out->chain_len = depth == RC_UNREACHED ? 1 : (size_t)depth + 1;
            if (at > SIZE_MAX - out->chain_len - out->count) {
                return SIZE_MAX;
            }
            out->chain_at = at;
            out->members_at = at + out->chain_len;
            at += out->chain_len + out->count;
        }
    }
    return at;
}

/* Fill ids and edges: each kept group's chain, then its members in the
 * order given.  kept[gi] is the output group of group gi, or SIZE_MAX. */
static void
fill(const rc_paths *p, const uint8_t *kinds, const rc_group *groups, const size_t *start,
     const rc_id *members, const uint32_t *group_of, size_t n, size_t *kept, rc_explanation *e)
{
    for (size_t k = 0; k < e->n_sets; k++) {
        for (size_t i = 0; i < e->sets[k].n_groups; i++) {
            size_t gi = start[k] + i, oi = e->sets[k].first + i;
            rc_explained_group *out = &e->groups[oi];
            rc_id *chain = e->ids + out->chain_at;
            kept[gi] = oi;
            if (out->chain_len == 1 &&
                rc_paths_depth(p, groups[gi].representative) == RC_UNREACHED) {
                chain[0] = groups[gi].representative;
                out->kind = RC_EXPLAIN_UNREACHED;
                continue;
            }
            rc_paths_chain(p, groups[gi].representative, chain, out->chain_len);
            rc_paths_chain_edges(p, chain, out->chain_len, e->edges + out->chain_at);
            out->kind = kinds[chain[0]];
        }
    }
    /* members_at is each group's cursor here, then set back. */
    for (size_t j = 0; j < n; j++) {
        size_t oi = kept[group_of[j]];
        if (oi != SIZE_MAX) {
            rc_explained_group *out = &e->groups[oi];
            e->ids[out->members_at++] = members[j];
        }
    }
    for (size_t g = 0; g < e->n_groups; g++) {
        e->groups[g].members_at -= e->groups[g].count;
    }
}

rc_status
rc_explain(const rc_graph *g, const rc_paths *p, const uint8_t *kinds, const rc_id *members,
           size_t n, int by_type, size_t limit, rc_explanation *out)
{
    memset(out, 0, sizeof *out);
    rc_type_partition parts = {0};
    const uint32_t *set_of = NULL;
    size_t n_sets = 1;
    rc_status st = RC_OK;
    if (by_type) {
        if ((st = rc_partition_by_type(g, members, n, limit, &parts)) != RC_OK) {
            return st;
        }
        members = parts.members;
        set_of = parts.part_of;
        n = parts.n_members;
        n_sets = parts.n_parts;
    }
    rc_group *groups = NULL;
    size_t *start = NULL, *kept = NULL;
    uint32_t *group_of = NULL;
    rc_explanation e = {0};
    if ((st = rc_paths_group_sets(g, p, members, set_of, n, n_sets, limit, &groups, &start,
                                  &group_of)) != RC_OK) {
        goto finally;
    }
    size_t n_all = start[n_sets];
    e.n_sets = n_sets;
    e.sets = rc_calloc(n_sets ? n_sets : 1, sizeof *e.sets);
    e.groups = rc_calloc(n_all ? n_all : 1, sizeof *e.groups);
    kept = rc_malloc((n_all ? n_all : 1) * sizeof *kept);
    if (!e.sets || !e.groups || !kept) {
        st = RC_ENOMEM;
        goto finally;
    }
    for (size_t k = 0; k < n_sets; k++) {
        if (by_type) {
            e.sets[k].type = parts.parts[k].type;
            e.sets[k].count = (size_t)parts.parts[k].count;
            e.sets[k].bytes = parts.parts[k].bytes;
        } else {
            e.sets[k].count = n;
            for (size_t j = 0; j < n; j++) {
                e.sets[k].bytes += rc_graph_size(g, members[j]);
            }
        }
    }
    e.n_ids = lay_out(p, groups, start, limit, &e);
    if (e.n_ids == SIZE_MAX || e.n_ids > SIZE_MAX / sizeof *e.ids) {
        st = RC_ETOOBIG;
        goto finally;
    }
    e.ids = rc_malloc((e.n_ids ? e.n_ids : 1) * sizeof *e.ids);
    e.edges = rc_calloc(e.n_ids ? e.n_ids : 1, sizeof *e.edges);
    if (!e.ids || !e.edges) {
        st = RC_ENOMEM;
        goto finally;
    }
    for (size_t i = 0; i < n_all; i++) {
        kept[i] = SIZE_MAX;
    }
    fill(p, kinds, groups, start, members, group_of, n, kept, &e);
    *out = e;
    e = (rc_explanation){0};
finally:
    rc_explanation_clear(&e);
    rc_free(kept);
    rc_free(groups);
    rc_free(start);
    rc_free(group_of);
    rc_type_partition_clear(&parts);
    return st;
}

/* ---- what the groups retain ----------------------------------------------- */

/* qsort has no context argument: file-scope keys, set only around the sorts
 * below (the walker runs under the GIL; callers never nest). */
static const uint64_t *sort_keys;

/* Larger key first, then the earlier position. */
static int
cmp_by_key(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    if (sort_keys[a] != sort_keys[b]) {
        return sort_keys[a] > sort_keys[b] ? -1 : 1;
    }
    return (a > b) - (a < b);
}

/* Sort items[0..k) (each `size` bytes) by keys[0..k), largest first,
 * stably; scratch holds k indexes and k * size bytes. */
static void
sort_by_keys(void *items, size_t k, size_t size, const uint64_t *keys, size_t *order,
             unsigned char *scratch)
{
    for (size_t i = 0; i < k; i++) {
        order[i] = i;
    }
    sort_keys = keys;
    qsort(order, k, sizeof *order, cmp_by_key);
    sort_keys = NULL;
    for (size_t i = 0; i < k; i++) {
        memcpy(scratch + i * size, (unsigned char *)items + order[i] * size, size);
    }
    memcpy(items, scratch, k * size);
}

/* The set of every member (UINT32_MAX when its type is no set's), as a
 * new rc_malloc'ed array; NULL when out of memory. */
static uint32_t *
member_sets(const rc_explanation *e, const rc_graph *g, const rc_id *members, size_t n,
            int by_type)
{
    uint32_t *set_of = rc_malloc((n ? n : 1) * sizeof *set_of);
    size_t nt = rc_graph_type_count(g);
    uint32_t *map = by_type ? rc_malloc((nt ? nt : 1) * sizeof *map) : NULL;
    if (!set_of || (by_type && !map)) {
        rc_free(set_of);
        rc_free(map);
        return NULL;
    }
    for (size_t t = 0; by_type && t < nt; t++) {
        map[t] = UINT32_MAX;
    }
    for (size_t k = 0; by_type && k < e->n_sets; k++) {
        map[e->sets[k].type] = (uint32_t)k;
    }
    for (size_t i = 0; i < n; i++) {
        set_of[i] = !by_type ? 0 : members[i] < rc_graph_node_count(g)
                                        ? map[rc_graph_type(g, members[i])]
                                        : UINT32_MAX;
    }
    rc_free(map);
    return set_of;
}

/* Sort each set's groups and the sets by what they retain; keys, order
 * and scratch hold max(n_sets, n_groups) entries (scratch of the larger
 * struct). */
static void
sort_retained(rc_explanation *e, uint64_t *keys, size_t *order, unsigned char *scratch)
{
    for (size_t k = 0; k < e->n_sets; k++) {
        rc_explained_group *gr = e->groups + e->sets[k].first;
        for (size_t i = 0; i < e->sets[k].n_groups; i++) {
            keys[i] = gr[i].retained_bytes;
        }
        sort_by_keys(gr, e->sets[k].n_groups, sizeof *gr, keys, order, scratch);
    }
    for (size_t k = 0; k < e->n_sets; k++) {
        keys[k] = e->sets[k].retained_bytes;
    }
    sort_by_keys(e->sets, e->n_sets, sizeof *e->sets, keys, order, scratch);
}

/* The sort's buffers (see sort_retained), all or none. */
static int
sort_buffers(const rc_explanation *e, uint64_t **keys, size_t **order, unsigned char **scratch)
{
    size_t most = e->n_sets > e->n_groups ? e->n_sets : e->n_groups;
    size_t big = sizeof(rc_explained_set) > sizeof(rc_explained_group)
                     ? sizeof(rc_explained_set) : sizeof(rc_explained_group);
    most = most ? most : 1;
    *keys = rc_malloc(most * sizeof **keys);
    *order = rc_malloc(most * sizeof **order);
    *scratch = most <= SIZE_MAX / big ? rc_malloc(most * big) : NULL;
    if (!*keys || !*order || !*scratch) {
        rc_free(*keys);
        rc_free(*order);
        rc_free(*scratch);
        *keys = NULL;
        *order = NULL;
        *scratch = NULL;
        return -1;
    }
    return 0;
}

rc_status
rc_explain_retained(rc_explanation *e, const rc_dominators *d, const rc_graph *g,
                    const rc_id *members, size_t n, int by_type)
{
    size_t ng = e->n_groups, ns = e->n_sets;
    uint32_t *group_of = rc_malloc((e->n_ids ? e->n_ids : 1) * sizeof *group_of);
    uint32_t *set_of = member_sets(e, g, members, n, by_type);
    size_t n_sums = 2 * (ng + ns) + 1;
    uint64_t *sums = rc_malloc(n_sums * sizeof *sums), *keys = NULL;
    size_t *order = NULL;
    unsigned char *scratch = NULL;
    rc_status st = group_of && set_of && sums && sort_buffers(e, &keys, &order, &scratch) == 0
                       ? RC_OK : RC_ENOMEM;
    if (st == RC_OK) {
        /* The groups label their members in ids; chains carry no group. */
        for (size_t i = 0; i < e->n_ids; i++) {
            group_of[i] = UINT32_MAX;
        }
        for (size_t k = 0; k < ng; k++) {
            for (size_t i = 0; i < e->groups[k].count; i++) {
                group_of[e->groups[k].members_at + i] = (uint32_t)k;
            }
        }
        rc_dom_sets ls[2] = {{e->ids, group_of, e->n_ids, ng, sums, sums + ng},
                             {members, set_of, n, ns, sums + 2 * ng, sums + 2 * ng + ns}};
        st = rc_dominators_sets(d, ls, 2);
    }
    if (st == RC_OK) {
        for (size_t k = 0; k < ng; k++) {
            e->groups[k].retained_bytes = sums[k];
            e->groups[k].retained_count = sums[ng + k];
        }
        for (size_t k = 0; k < ns; k++) {
            e->sets[k].retained_bytes = sums[2 * ng + k];
            e->sets[k].retained_count = sums[2 * ng + ns + k];
        }
        sort_retained(e, keys, order, scratch);
    }
    rc_free(keys);
    rc_free(order);
    rc_free(scratch);
    rc_free(group_of);
    rc_free(set_of);
    rc_free(sums);
    return st;
}
