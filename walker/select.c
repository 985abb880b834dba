/* Type selection and the by-type partition (see refchain/select.h).
 *
 * Names are matched through a hash of their content (name_index.h), once
 * per type: no name is compared per node, and no two names are compared
 * unless their hashes agree. */
#include <stdlib.h>
#include <string.h>

#include "name_index.h"
#include "refchain/alloc.h"
#include "refchain/select.h"

/* ---- selection ------------------------------------------------------------ */

size_t
rc_graph_mark_types(const rc_graph *g, const char *name, unsigned char *mask)
{
    size_t nt = rc_graph_type_count(g), marked = 0;
    bool qualified = strchr(name, '.') != NULL;
    const char *bare = strncmp(name, "builtins.", 9) == 0 ? name + 9 : NULL;
    for (size_t t = 0; t < nt; t++) {
        bool hit;
        if (qualified) {
            const char *full = rc_graph_type_name(g, (uint32_t)t);
            hit = strcmp(full, name) == 0 || (bare && strcmp(full, bare) == 0);
        } else {
            hit = strcmp(rc_graph_type_short_name(g, (uint32_t)t), name) == 0;
        }
        mask[t] = hit;
        marked += hit;
    }
    return marked;
}

rc_status
rc_select_mask(const rc_graph *g, const rc_type_query *q, unsigned char **mask,
               size_t *marked)
{
    size_t nt = rc_graph_type_count(g), n = 0;
    unsigned char *m = rc_calloc(nt ? nt : 1, 1);
    if (!m) {
        return RC_ENOMEM;
    }
    if (q->by == RC_MATCH_NAME) {
        n = rc_graph_mark_types(g, q->name, m);
    } else if (q->by == RC_MATCH_KEY) {
        for (uint32_t t = 0; t < nt; t++) {
            m[t] = rc_graph_type_key(g, t) == q->key;
            n += m[t];
        }
    }
    *mask = m;
    *marked = n;
    return RC_OK;
}

size_t
rc_select_count(const rc_graph *g, const unsigned char *mask)
{
    size_t nt = rc_graph_type_count(g), nn = rc_graph_node_count(g), count = 0;
    bool any = false;
    for (size_t t = 0; t < nt && !any; t++) {
        any = mask[t] != 0;
    }
    for (rc_id i = 0; any && i < nn; i++) {
        count += mask[rc_graph_type(g, i)] != 0;
    }
    return count;
}

static bool
selected(const rc_graph *g, const unsigned char *mask, unsigned skip_flags, rc_id i)
{
    return mask[rc_graph_type(g, i)] && !(rc_graph_flags(g, i) & skip_flags);
}

rc_status
rc_select_nodes(const rc_graph *g, const unsigned char *mask, unsigned skip_flags,
                rc_id **ids, size_t *n)
{
    size_t nn = rc_graph_node_count(g), count = 0;
    for (rc_id i = 0; i < nn; i++) {
        count += selected(g, mask, skip_flags, i);
    }
    rc_id *v = rc_malloc((count ? count : 1) * sizeof *v);
    if (!v) {
        return RC_ENOMEM;
    }
    count = 0;
    for (rc_id i = 0; i < nn; i++) {
        if (selected(g, mask, skip_flags, i)) {
            v[count++] = i;
        }
    }
    *ids = v;
    *n = count;
    return RC_OK;
}

rc_status
rc_select_addrs(const rc_graph *g, const uintptr_t *addrs, size_t k,
                const unsigned char *mask, rc_id **ids, size_t *n)
{
    rc_id *v = rc_malloc((k ? k : 1) * sizeof *v);
    if (!v) {
        return RC_ENOMEM;
    }
    rc_status st = rc_graph_find_many(g, addrs, k, v);
    if (st != RC_OK) {
        rc_free(v);
        return st;
    }
    size_t count = 0;
    for (size_t j = 0; j < k; j++) {
        if (v[j] != RC_NO_ID && (!mask || mask[rc_graph_type(g, v[j])])) {
            v[count++] = v[j];
        }
    }
    *ids = v;
    *n = count;
    return RC_OK;
}

rc_status
rc_select_addr_set(const rc_graph *g, const uintptr_t *addrs, size_t k,
                   uint8_t **in_set, size_t *count)
{
    size_t n = rc_graph_node_count(g), found = 0, distinct = 0;
    uint8_t *set = rc_calloc(n ? n : 1, 1);
    rc_id *ids = NULL;
    rc_status st = set ? rc_select_addrs(g, addrs, k, NULL, &ids, &found) : RC_ENOMEM;
    for (size_t i = 0; st == RC_OK && i < found; i++) {
        distinct += !set[ids[i]];
        set[ids[i]] = 1;
    }
    rc_free(ids);
    if (st != RC_OK) {
        rc_free(set);
        return st;
    }
    *in_set = set;
    *count = distinct;
    return RC_OK;
}

rc_status
rc_graph_type_classes(const rc_graph *g, bool short_names, uint32_t *canon)
{
    size_t nt = rc_graph_type_count(g);
    const char **names = rc_malloc((nt ? nt : 1) * sizeof *names);
    rc_name_index ix = {0};
    if (!names || rc_name_index_init(&ix, names, nt) < 0) {
        rc_free(names);
        return RC_ENOMEM;
    }
    for (uint32_t t = 0; t < nt; t++) {
        names[t] =
            short_names ? rc_graph_type_short_name(g, t) : rc_graph_type_name(g, t);
    }
    /* Added in id order: a name keeps the smallest id that carries it. */
    for (uint32_t t = 0; t < nt; t++) {
        canon[t] = rc_name_index_add(&ix, t);
    }
    rc_name_index_free(&ix);
    rc_free(names);
    return RC_OK;
}

/* ---- the by-type partition -------------------------------------------------- */

static int
cmp_part(const void *x, const void *y)
{
    const rc_type_part *a = x, *b = y;
    if (a->count != b->count) {
        return a->count > b->count ? -1 : 1;
    }
    return (a->type > b->type) - (a->type < b->type);
}

void
rc_type_partition_clear(rc_type_partition *p)
{
    rc_free(p->parts);
    rc_free(p->members);
    rc_free(p->part_of);
    memset(p, 0, sizeof *p);
}

rc_status
rc_partition_by_type(const rc_graph *g, const rc_id *members, size_t n, size_t limit,
                     rc_type_partition *out)
{
    size_t nt = rc_graph_type_count(g), n_parts = 0, m = 0;
    rc_status st = RC_ENOMEM;
    /* Per type id, then per class (indexed by its smallest type id). */
    uint32_t *canon = rc_malloc((nt ? nt : 1) * sizeof *canon);
    uint32_t *rank = rc_malloc((nt ? nt : 1) * sizeof *rank);
    rc_type_part *total = rc_calloc(nt ? nt : 1, sizeof *total);
    rc_type_partition p = {0};
    if (!canon || !rank || !total || rc_graph_type_classes(g, false, canon) != RC_OK) {
        goto finally;
    }
    for (size_t i = 0; i < n; i++) {
        rc_type_part *c = &total[canon[rc_graph_type(g, members[i])]];
        c->count++;
        c->bytes += rc_graph_size(g, members[i]);
    }
    /* Compact the non-empty classes to the front, then sort them. */
    for (uint32_t t = 0; t < nt; t++) {
        if (total[t].count) {
            total[t].type = t;
            total[n_parts++] = total[t];
        }
    }
    qsort(total, n_parts, sizeof *total, cmp_part);
    if (n_parts > limit) {
        n_parts = limit;
    }
    for (uint32_t t = 0; t < nt; t++) {
        rank[t] = UINT32_MAX;
    }
    for (size_t k = 0; k < n_parts; k++) {
        rank[total[k].type] = (uint32_t)k;
        m += total[k].count;
    }
    p.parts = rc_malloc((n_parts ? n_parts : 1) * sizeof *p.parts);
    p.members = rc_malloc((m ? m : 1) * sizeof *p.members);
    p.part_of = rc_malloc((m ? m : 1) * sizeof *p.part_of);
    if (!p.parts || !p.members || !p.part_of) {
        rc_type_partition_clear(&p);
        goto finally;
    }
    memcpy(p.parts, total, n_parts * sizeof *p.parts);
    p.n_parts = n_parts;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = rank[canon[rc_graph_type(g, members[i])]];
        if (k != UINT32_MAX) {
            p.members[p.n_members] = members[i];
            p.part_of[p.n_members++] = k;
        }
    }
    *out = p;
    st = RC_OK;
finally:
    rc_free(canon);
    rc_free(rank);
    rc_free(total);
    return st;
}
