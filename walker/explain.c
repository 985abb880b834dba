/* Explanations laid out as node ids (see refchain/explain.h). */
#include "refchain/explain.h"

#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/dominators.h"
#include "refchain/pool.h"
#include "refchain/select.h"

void
rc_explanation_clear(rc_explanation *e)
{
    rc_free(e->sets);
    rc_free(e->groups);
    rc_pool_free(e->ids, e->ids_bytes);
    rc_pool_free(e->edges, e->edges_bytes);
    memset(e, 0, sizeof *e);
}

/* The order of the answer: output set k is grouped set order[k], whose
 * i-th group is groups[pick[start[order[k]] + i]]. */
typedef struct ranking {
    const size_t *start, *pick, *order;
} ranking;

static size_t
ranked_groups(const ranking *r, size_t k)
{
    return r->start[r->order[k] + 1] - r->start[r->order[k]];
}

static size_t
ranked_group(const ranking *r, size_t k, size_t i)
{
    return r->pick[r->start[r->order[k]] + i];
}

/* Chain lengths and offsets of the groups kept, and the sets' entries;
 * returns the ids they need in all, or SIZE_MAX on overflow. */
static size_t
lay_out(const rc_paths *p, const rc_group *groups, const ranking *r, size_t limit,
        rc_explanation *e)
{
    size_t at = 0;
    e->n_groups = 0;
    for (size_t k = 0; k < e->n_sets; k++) {
        size_t ng = ranked_groups(r, k);
        rc_explained_set *s = &e->sets[k];
        s->first = e->n_groups;
        s->n_groups = ng < limit ? ng : limit;
        s->all_groups = ng;
        for (size_t i = 0; i < s->n_groups; i++) {
            const rc_group *gr = &groups[ranked_group(r, k, i)];
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

/* The deepest collection (RC_TYPE_COLLECTION or an lru_cache) on
 * chain[0..n) before the representative, else n - 2: a lone member's
 * nearest container.  A namespace (a module's or an object's __dict__) is
 * no collection: its keys are names, the same for every member. */
static size_t
nearest_collection(const rc_graph *g, const rc_id *chain, size_t n)
{
    for (size_t i = n - 1; i-- > 0;) {
        if ((rc_graph_type_flags(g, rc_graph_type(g, chain[i])) &
             (RC_TYPE_COLLECTION | RC_TYPE_LRU_CACHE)) &&
            !(rc_graph_flags(g, chain[i]) & RC_NODE_NAMESPACE)) {
            return i;
        }
    }
    return n - 2;
}

#define SEEN(seen, x) ((seen)[(x) >> 3] & (1u << ((x)&7)))

/* Where a group's members part: the index of the deepest node of chain[0..
 * n) (root .. representative) that every member's own chain passes
 * through, or SIZE_MAX when no node is on all of them (other roots).  Each
 * member climbs its chain until it meets the representative's, or a node
 * an earlier climb marked in seen (a bit per node, clear on entry and on
 * return): each node is climbed once, whatever the members' depth. */
static size_t
parting(const rc_paths *p, const rc_id *chain, size_t n, const rc_id *members, size_t count,
        uint8_t *seen)
{
    size_t at = n - 1;
    int apart = 0;
    for (size_t j = 0; j < count; j++) {
        for (rc_id x = members[j];; x = rc_paths_parent(p, x)) {
            uint32_t depth = x == RC_NO_ID ? RC_UNREACHED : rc_paths_depth(p, x);
            if (depth == RC_UNREACHED) {
                apart = 1;
                break;
            }
            if (SEEN(seen, x)) {
                break;
            }
            if (depth < n && chain[depth] == x) {
                at = depth < at ? depth : at;
                break;
            }
            seen[x >> 3] |= (uint8_t)(1u << (x & 7));
        }
    }
    for (size_t j = 0; j < count; j++) {
        for (rc_id x = members[j]; x != RC_NO_ID && SEEN(seen, x); x = rc_paths_parent(p, x)) {
            seen[x >> 3] &= (uint8_t)~(1u << (x & 7));
        }
    }
    return apart ? SIZE_MAX : at;
}

/* The holder of a group (see rc_explained_group): where its members' paths
 * part, when they part before the representative; else (one member) its
 * nearest collection. */
static size_t
holder_of(const rc_graph *g, const rc_paths *p, const rc_id *chain, size_t n,
          const rc_id *members, size_t count, uint8_t *seen)
{
    size_t at = parting(p, chain, n, members, count, seen);
    return at != SIZE_MAX && at + 2 <= n ? at : nearest_collection(g, chain, n);
}

/* Fill ids and edges: each kept group's chain, then its members in the
 * order given, then the groups' holders (seen: a clear bit per node).
 * kept[gi] is the output group of group gi, or SIZE_MAX.  gret: what each
 * group retains (bytes, then counts after n_all), or NULL (then d is NULL
 * too). */
static void
fill(const rc_graph *g, const rc_paths *p, const uint8_t *kinds, const rc_dominators *d,
     const rc_group *groups, const ranking *r, const uint64_t *gret, size_t n_all,
     const rc_id *members, const uint32_t *group_of, size_t n, size_t *kept, uint8_t *seen,
     rc_explanation *e)
{
    for (size_t k = 0; k < e->n_sets; k++) {
        for (size_t i = 0; i < e->sets[k].n_groups; i++) {
            size_t gi = ranked_group(r, k, i), oi = e->sets[k].first + i;
            rc_explained_group *out = &e->groups[oi];
            rc_id *chain = e->ids + out->chain_at;
            kept[gi] = oi;
            if (gret) {
                out->retained_bytes = gret[gi];
                out->retained_count = gret[n_all + gi];
            }
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
    for (size_t k = 0; k < e->n_groups; k++) {
        rc_explained_group *out = &e->groups[k];
        out->members_at -= out->count;
        if (out->chain_len >= 2) {
            const rc_id *chain = e->ids + out->chain_at;
            out->holder_at = holder_of(g, p, chain, out->chain_len, e->ids + out->members_at,
                                       out->count, seen);
            out->holder_bytes = d ? rc_dominators_bytes(d, chain[out->holder_at]) : 0;
            out->holder_count = d ? rc_dominators_count(d, chain[out->holder_at]) : 0;
        }
    }
}

/* qsort has no context argument: file-scope keys, set only around the sorts
 * below (the walker runs under the GIL; callers never nest). */
static const uint64_t *sort_keys;
static const rc_group *sort_groups;

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

/* Group indexes: more retained bytes first, then as rc_paths_group()
 * sorts (more members, then the smaller representative). */
static int
cmp_group(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    const rc_group *ga = &sort_groups[a], *gb = &sort_groups[b];
    if (sort_keys[a] != sort_keys[b]) {
        return sort_keys[a] > sort_keys[b] ? -1 : 1;
    }
    if (ga->count != gb->count) {
        return ga->count > gb->count ? -1 : 1;
    }
    return (ga->representative > gb->representative) - (ga->representative < gb->representative);
}

/* What every group and set retains, by rc_dominators_sets(): sums[0..n_all)
 * the groups' bytes, then their counts, then the sets' bytes and counts.
 * set_of NULL: every member is in set 0. */
static rc_status
retained_sums(const rc_dominators *d, const rc_id *members, const uint32_t *group_of,
              const uint32_t *set_of, size_t n, size_t n_all, size_t n_sets, uint64_t *sums)
{
    rc_dom_sets ls[2] = {{members, group_of, n, n_all, sums, sums + n_all},
                         {members, set_of, n, n_sets, sums + 2 * n_all,
                          sums + 2 * n_all + n_sets}}; /* set_of NULL: one set */
    return rc_dominators_sets(d, ls, 2);
}

/* pick: each set's groups in answer order (indexes into groups, within
 * start[k] .. start[k + 1]); set_order: the sets in answer order.  With
 * sums (retained_sums), both by what they retain; without, as grouped. */
static void
rank(const rc_group *groups, const size_t *start, size_t n_sets, const uint64_t *sums,
     size_t *pick, size_t *set_order)
{
    size_t n_all = start[n_sets];
    for (size_t i = 0; i < n_all; i++) {
        pick[i] = i;
    }
    for (size_t k = 0; k < n_sets; k++) {
        set_order[k] = k;
    }
    if (!sums) {
        return;
    }
    sort_keys = sums;
    sort_groups = groups;
    for (size_t k = 0; k < n_sets; k++) {
        qsort(pick + start[k], start[k + 1] - start[k], sizeof *pick, cmp_group);
    }
    sort_keys = sums + 2 * n_all;
    qsort(set_order, n_sets, sizeof *set_order, cmp_by_key);
    sort_keys = NULL;
    sort_groups = NULL;
}

/* rc_explain with d, or with job (d NULL): then the job's dominator tree
 * is ended into *dom once the members are grouped (and on any error). */
static rc_status
explain(const rc_graph *g, const rc_paths *p, const uint8_t *kinds, const rc_dominators *d,
        rc_dom_job *job, rc_dominators **dom, const rc_id *members, size_t n, int by_type,
        size_t limit, const rc_hop_names *names, rc_explanation *out)
{
    memset(out, 0, sizeof *out);
    rc_type_partition parts = {0};
    const uint32_t *set_of = NULL;
    size_t n_sets = 1;
    rc_group *groups = NULL;
    size_t *start = NULL, *kept = NULL, *pick = NULL, *set_order = NULL;
    uint32_t *group_of = NULL;
    uint64_t *sums = NULL;
    uint8_t *seen = NULL;
    size_t seen_bytes = 0;
    rc_explanation e = {0};
    rc_status st = RC_OK;
    if (by_type) {
        if ((st = rc_partition_by_type(g, members, n, limit, &parts)) != RC_OK) {
            goto finally;
        }
        members = parts.members;
        set_of = parts.part_of;
        n = parts.n_members;
        n_sets = parts.n_parts;
    }
    /* With retained sizes every group is ranked below, not by count here. */
    if ((st = rc_paths_group_sets(g, p, members, set_of, n, n_sets, d || job ? 0 : limit, names,
                                  &groups, &start, &group_of)) != RC_OK) {
        goto finally;
    }
    if (job) {
        st = rc_dominators_end(job, dom);
        job = NULL;
        if (st != RC_OK) {
            goto finally;
        }
        d = *dom;
    }
    size_t n_all = start[n_sets];
    e.n_sets = n_sets;
    e.sets = rc_calloc(n_sets ? n_sets : 1, sizeof *e.sets);
    e.groups = rc_calloc(n_all ? n_all : 1, sizeof *e.groups);
    kept = rc_malloc((n_all ? n_all : 1) * sizeof *kept);
    pick = rc_malloc((n_all ? n_all : 1) * sizeof *pick);
    set_order = rc_malloc(n_sets * sizeof *set_order + 1);
    sums = d ? rc_malloc((2 * (n_all + n_sets) + 1) * sizeof *sums) : NULL;
    if (!e.sets || !e.groups || !kept || !pick || !set_order || (d && !sums)) {
        st = RC_ENOMEM;
        goto finally;
    }
    if (d && (st = retained_sums(d, members, group_of, set_of, n, n_all, n_sets, sums)) !=
                 RC_OK) {
        goto finally;
    }
    rank(groups, start, n_sets, sums, pick, set_order);
    for (size_t k = 0; k < n_sets; k++) {
        size_t s = set_order[k];
        rc_explained_set *es = &e.sets[k];
        if (by_type) {
            es->type = parts.parts[s].type;
            es->count = (size_t)parts.parts[s].count;
            es->bytes = parts.parts[s].bytes;
        } else {
            es->count = n;
            for (size_t j = 0; j < n; j++) {
                es->bytes += rc_graph_size(g, members[j]);
            }
        }
        if (d) {
            es->retained_bytes = sums[2 * n_all + s];
            es->retained_count = sums[2 * n_all + n_sets + s];
        }
    }
    ranking r = {start, pick, set_order};
    e.n_ids = lay_out(p, groups, &r, limit, &e);
    if (e.n_ids == SIZE_MAX || e.n_ids > SIZE_MAX / sizeof *e.ids) {
        st = RC_ETOOBIG;
        goto finally;
    }
    /* The per-member and per-node arrays come from the pool: explaining
     * a million members again faults nothing in. */
    size_t seen_len = rc_graph_node_count(g) / 8 + 1;
    e.ids = rc_pool_array(e.n_ids ? e.n_ids : 1, sizeof *e.ids, &e.ids_bytes);
    e.edges = rc_pool_array(e.n_ids ? e.n_ids : 1, sizeof *e.edges, &e.edges_bytes);
    seen = rc_pool_array(seen_len, 1, &seen_bytes);
    if (!e.ids || !e.edges || !seen) {
        st = RC_ENOMEM;
        goto finally;
    }
    memset(e.edges, 0, (e.n_ids ? e.n_ids : 1) * sizeof *e.edges);
    memset(seen, 0, seen_len);
    for (size_t i = 0; i < n_all; i++) {
        kept[i] = SIZE_MAX;
    }
    fill(g, p, kinds, d, groups, &r, sums, n_all, members, group_of, n, kept, seen, &e);
    *out = e;
    e = (rc_explanation){0};
finally:
    if (job) {
        (void)rc_dominators_end(job, dom); /* the error is st's */
    }
    rc_explanation_clear(&e);
    rc_pool_free(seen, seen_bytes);
    rc_free(kept);
    rc_free(pick);
    rc_free(set_order);
    rc_free(sums);
    rc_free(groups);
    rc_free(start);
    rc_free(group_of);
    rc_type_partition_clear(&parts);
    return st;
}

rc_status
rc_explain(const rc_graph *g, const rc_paths *p, const uint8_t *kinds, const rc_dominators *d,
           const rc_id *members, size_t n, int by_type, size_t limit, const rc_hop_names *names,
           rc_explanation *out)
{
    return explain(g, p, kinds, d, NULL, NULL, members, n, by_type, limit, names, out);
}

rc_status
rc_explain_overlapped(const rc_graph *g, const rc_paths *p, const uint8_t *kinds,
                      rc_dom_job *job, rc_dominators **dom, const rc_id *members, size_t n,
                      int by_type, size_t limit, const rc_hop_names *names, rc_explanation *out)
{
    *dom = NULL;
    return explain(g, p, kinds, NULL, job, dom, members, n, by_type, limit, names, out);
}
