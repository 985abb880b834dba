/* Explanations laid out as node ids (see refchain/explain.h). */
#include "refchain/explain.h"

#include <string.h>

#include "refchain/alloc.h"
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
