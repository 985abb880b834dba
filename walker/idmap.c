/* Stable object ids across the graphs of one process (refchain/idmap.h).
 *
 * State: the map holds the last graph's nodes as three parallel arrays
 * sorted by address (addr[], key[] = type key, id[]), and `next`, the
 * next fresh id.  Its arrays come from the capture's pool (refchain/pool.h)
 * and go back to it when replaced: repeated dumps fault in no new pages
 * for them.  rc_idmap_assign():
 *   1. takes the new graph's address order (rc_graph_addr_order()), or
 *      sorts its (address, node) pairs by address when it kept none;
 *   2. merges them with the kept arrays, which gives each node its old id
 *      or marks it fresh, and fills new arrays in address order;
 *   3. gives the marked nodes fresh ids in node order (so ids mostly grow
 *      with node ids), also into the new arrays;
 *   4. swaps the new arrays in.
 * Everything that can fail (allocations, running out of ids) happens
 * before step 4 changes the map. */
#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/idmap.h"
#include "refchain/pool.h"

/* Marks a node that needs a fresh id (never given: fresh ids stay below). */
#define FRESH UINT32_MAX

struct rc_idmap {
    uintptr_t *addr; /* sorted, distinct */
    uintptr_t *key;  /* the node's type key */
    uint32_t *id;
    size_t n;
    size_t addr_bytes, key_bytes, id_bytes; /* the blocks, from the pool */
    uint32_t next;
};

typedef struct addr_node {
    uintptr_t addr;
    rc_id node;
} addr_node;

rc_idmap *
rc_idmap_new(void)
{
    rc_idmap *m = rc_calloc(1, sizeof *m);
    if (m) {
        m->next = RC_SNAP_ID_FIRST;
    }
    return m;
}

static void
map_arrays_free(rc_idmap *map)
{
    rc_pool_free(map->addr, map->addr_bytes);
    rc_pool_free(map->key, map->key_bytes);
    rc_pool_free(map->id, map->id_bytes);
}

void
rc_idmap_free(rc_idmap *map)
{
    if (!map) {
        return;
    }
    map_arrays_free(map);
    rc_free(map);
}

size_t
rc_idmap_count(const rc_idmap *map)
{
    return map->n;
}

uint32_t
rc_idmap_next(const rc_idmap *map)
{
    return map->next;
}

static int
cmp_addr(const void *a, const void *b)
{
    uintptr_t x = ((const addr_node *)a)->addr, y = ((const addr_node *)b)->addr;
    return (x > y) - (x < y);
}

/* Sort p[0..n) by address: LSD radix sort, one byte a pass, through tmp
 * (n entries); passes whose byte is the same in every entry are skipped
 * (heap addresses share their top bytes).  Falls back to qsort for small n. */
static void
sort_by_addr(addr_node *p, addr_node *tmp, size_t n)
{
    if (n < 256) {
        qsort(p, n, sizeof *p, cmp_addr);
        return;
    }
    for (unsigned shift = 0; shift < 8 * sizeof(uintptr_t); shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) {
            count[((p[i].addr >> shift) & 0xff) + 1]++;
        }
        if (count[((p[0].addr >> shift) & 0xff) + 1] == n) {
            continue; /* one bucket: the order stays */
        }
        for (size_t b = 0; b < 256; b++) {
            count[b + 1] += count[b];
        }
        for (size_t i = 0; i < n; i++) {
            tmp[count[(p[i].addr >> shift) & 0xff]++] = p[i];
        }
        memcpy(p, tmp, n * sizeof *p);
    }
}

rc_status
rc_idmap_assign(rc_idmap *map, const rc_graph *g, uint32_t *ids)
{
    size_t n = rc_graph_node_count(g), m = n ? n : 1;
    rc_status st = RC_ENOMEM;
    const rc_id *order = rc_graph_addr_order(g);
    size_t pairs_bytes = 0, tmp_bytes = 0, addr_bytes = 0, key_bytes = 0, id_bytes = 0;
    addr_node *pairs = order ? NULL : rc_pool_array(m, sizeof *pairs, &pairs_bytes);
    addr_node *tmp = order ? NULL : rc_pool_array(m, sizeof *tmp, &tmp_bytes);
    uintptr_t *addr = rc_pool_array(m, sizeof *addr, &addr_bytes);
    uintptr_t *key = rc_pool_array(m, sizeof *key, &key_bytes);
    uint32_t *id = rc_pool_array(m, sizeof *id, &id_bytes);
    if ((!order && (!pairs || !tmp)) || !addr || !key || !id) {
        goto done;
    }
    if (!order) {
        for (rc_id v = 0; v < n; v++) {
            pairs[v] = (addr_node){rc_graph_addr(g, v), v};
        }
        sort_by_addr(pairs, tmp, n);
    }
    /* Merge: the same address and type key keeps the old id. */
    size_t i = 0, fresh = 0;
    for (size_t j = 0; j < n; j++) {
        rc_id v = order ? order[j] : pairs[j].node;
        addr[j] = rc_graph_addr(g, v);
        key[j] = rc_graph_type_key(g, rc_graph_type(g, v));
        while (i < map->n && map->addr[i] < addr[j]) {
            i++;
        }
        if (i < map->n && map->addr[i] == addr[j] && map->key[i] == key[j]) {
            ids[v] = map->id[i];
        } else {
            ids[v] = FRESH;
            fresh++;
        }
    }
    /* Fresh ids: next, next + 2, ..., all below FRESH. */
    if (fresh > (size_t)(FRESH - 1 - map->next) / RC_SNAP_ID_STEP) {
        st = RC_ETOOBIG;
        goto done;
    }
    uint32_t next = map->next;
    for (rc_id v = 0; v < n; v++) {
        if (ids[v] == FRESH) {
            ids[v] = next;
            next += RC_SNAP_ID_STEP;
        }
    }
    for (size_t j = 0; j < n; j++) {
        id[j] = ids[order ? order[j] : pairs[j].node];
    }
    /* Commit: the old arrays go back to the pool, where the next call
     * finds them resident. */
    map_arrays_free(map);
    map->addr = addr, map->addr_bytes = addr_bytes;
    map->key = key, map->key_bytes = key_bytes;
    map->id = id, map->id_bytes = id_bytes;
    map->n = n;
    map->next = next;
    addr = key = NULL;
    id = NULL;
    st = RC_OK;
done:
    rc_pool_free(pairs, pairs_bytes);
    rc_pool_free(tmp, tmp_bytes);
    rc_pool_free(addr, addr_bytes);
    rc_pool_free(key, key_bytes);
    rc_pool_free(id, id_bytes);
    return st;
}
