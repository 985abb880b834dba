/* The unreachable set: what the next full gc.collect() would free.
 *
 * The collector's roots are the objects held from outside the heap
 * (rc_held_outside() > 0, refchain/held.h), plus what the named roots of
 * refchain/paths.h reach (modules, thread frames, immortal objects).  A
 * tracked class or lru_cache wrapper is no root by its kind alone (a class
 * made and dropped at import time, in a cycle with its __mro__, is freed):
 * only if it is held from outside.  A frozen object (RC_NODE_FROZEN: no
 * collection examines the permanent generation) is a root.  So is a running
 * frame of the tool's own (RC_NODE_TOOL_FRAME), which no chain starts from:
 * the collection frees nothing it holds.  So is, for the count, a node
 * held by a reference no traversal reports (RC_NODE_UNTRAVERSED): the
 * pass that frees its holder frees it afterwards, uncounted.  The set is
 * every other GC object (RC_NODE_GC) no root reaches; the collector counts
 * the tracked ones (untracked ones die with them). */
#ifndef REFCHAIN_UNREACHABLE_H
#define REFCHAIN_UNREACHABLE_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"
#include "refchain/paths.h"

/* kinds: rc_roots_classify(g)'s answer, only read.  discounts (may be NULL
 * when n_discounts is 0) are followed as in rc_paths_bfs.  On RC_OK,
 * *in_set (rc_malloc'ed, one byte per node, the caller frees it) marks the
 * set and *n_tracked counts its tracked members; *freed_bytes (when not
 * NULL) receives the bytes the collection frees in all: the set's, the
 * untracked objects' only it holds, and those of the RC_NODE_UNTRAVERSED
 * nodes it frees afterwards.  g needs its in-edges
 * (RC_EINVAL otherwise).  On error the outputs are untouched and nothing
 * leaked. */
rc_status rc_unreachable(const rc_graph *g, const uint8_t *kinds,
                         const rc_discount *discounts, size_t n_discounts,
                         uint8_t **in_set, size_t *n_tracked, uint64_t *freed_bytes);

#endif
