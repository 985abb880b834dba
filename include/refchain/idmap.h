/* Object ids that stay the same across the snapshots of one process.
 *
 * A graph's node ids are positions in one capture; viewers that compare
 * snapshots (Chrome DevTools' comparison view, memlab) need an id that
 * names the same object in every snapshot.  An rc_idmap remembers, for each
 * node of the previous graph it was given, (address, type key, id), sorted
 * by address.  rc_idmap_assign() gives every node of the next graph:
 *
 *   - the id of the previous graph's node at the same address when that
 *     node's type key (rc_graph_type_key) is the same: the same object, or
 *     an object of the same type that took a freed one's place (addresses
 *     are reused; from the heap alone the two cannot be told apart, so the
 *     second keeps the first's id);
 *   - else a fresh id: an object of another type at a reused address, or an
 *     address new since the previous graph.
 *
 * Ids follow V8's heap snapshots: odd numbers, fresh ones from
 * RC_SNAP_ID_FIRST (5) up in steps of RC_SNAP_ID_STEP (2), given in node
 * order, so they fit the Uint32Array DevTools keeps them in and are mostly
 * increasing in node order (a snapshot file stores them as small deltas).
 * About 2**31 fresh ids are available to one map.
 *
 * Memory: the map keeps 20 bytes per node of the last graph on a 64-bit
 * build (address 8, type key 8, id 4), from the capture's pool; an
 * assignment builds the next 20 bytes per node of the new graph while it
 * runs.  Cost: one merge with the kept table, in the graph's address order
 * (rc_graph_addr_order()); a graph that kept none is sorted first, with 32
 * more bytes per node.  No hashing.
 *
 * A map is not thread-safe; it is only read and changed by these calls. */
#ifndef REFCHAIN_IDMAP_H
#define REFCHAIN_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"
#include "refchain/snapshot.h"
#include "refchain/status.h"

typedef struct rc_idmap rc_idmap;

/* A new, empty map (the first assignment gives only fresh ids).  NULL on
 * ENOMEM.  Free it with rc_idmap_free(). */
rc_idmap *rc_idmap_new(void);
/* NULL is allowed (a no-op). */
void rc_idmap_free(rc_idmap *map);

/* ids[v] = the id of node v of g, for every v < rc_graph_node_count(g)
 * (ids has room for that many), as described above; then the map keeps g's
 * addresses, type keys and these ids for the next call.  g is only read,
 * during the call, and must have distinct addresses (every rc_graph has).
 * RC_ENOMEM, or RC_ETOOBIG when the map has run out of fresh ids: the map
 * is unchanged and ids' contents are unspecified. */
rc_status rc_idmap_assign(rc_idmap *map, const rc_graph *g, uint32_t *ids);

/* The number of nodes the map remembers (the last graph's), and the next
 * fresh id it will give. */
size_t rc_idmap_count(const rc_idmap *map);
uint32_t rc_idmap_next(const rc_idmap *map);

#endif
