/* Strongly connected components of part of a frozen graph: the cycles among
 * the objects the next collection would free. */
#ifndef REFCHAIN_SCC_H
#define REFCHAIN_SCC_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"

#define RC_NO_COMPONENT UINT32_MAX

/* The components of the subgraph induced by the nodes v with in_set[v] != 0,
 * by an iterative Tarjan (no recursion, whatever the heap's depth).
 * comp[v] (one per node of g, a block of *comp_bytes from the capture's
 * pool: rc_pool_free(comp, *comp_bytes)) receives v's component, or
 * RC_NO_COMPONENT outside the set; components are numbered 0..*n_comp-1 in
 * the order Tarjan completes them.  cyclic[c] (rc_malloc'ed) says whether
 * component c is a cycle: more than one node, or one node referring to
 * itself.  On error the outputs are untouched. */
rc_status rc_scc(const rc_graph *g, const uint8_t *in_set, uint32_t **comp, size_t *comp_bytes,
                 size_t *n_comp, uint8_t **cyclic);

/* Cycles grouped by type signature: the sorted, distinct type ids of a
 * cycle's members, leaving out namespace dicts (an instance's __dict__
 * inside the cycle belongs to its instance), so a Parent <-> Child cycle
 * reads the same on every CPython, and a ring of any number of Nodes reads
 * "Node". */
typedef struct rc_cycle_group {
    uint32_t representative; /* a component of this signature */
    size_t cycles;           /* components with this signature */
    size_t objects;          /* their members, namespace dicts included */
    uint64_t bytes;          /* the members' shallow sizes */
    int finalizers;          /* some member's type has tp_finalize or tp_del */
    uint32_t *types;         /* the signature: sorted distinct type ids */
    size_t n_types;
} rc_cycle_group;

/* Group the cyclic components from rc_scc().  *groups (sorted by cycles,
 * descending) is freed with rc_cycle_groups_free().  *members and
 * *member_start list each component's nodes: component c's nodes are
 * members[member_start[c] .. member_start[c + 1]); *group_of[c] is
 * component c's group, or UINT32_MAX for a component that is no cycle.
 * All rc_malloc'ed.  On error the outputs are untouched. */
rc_status rc_cycles_group(const rc_graph *g, const uint32_t *comp, size_t n_comp,
                          const uint8_t *cyclic, rc_cycle_group **groups, size_t *n_groups,
                          rc_id **members, size_t **member_start, uint32_t **group_of);
/* Free groups[0..n) and the array.  NULL is allowed (a no-op). */
void rc_cycle_groups_free(rc_cycle_group *groups, size_t n);

/* Shortest cycles within components: a breadth-first search from a node
 * over the references that stay in its component (comp from rc_scc()).
 * The finder's memory is allocated once, for the whole graph; each search
 * costs only the component it explores. */
typedef struct rc_cycle_finder rc_cycle_finder;

/* NULL when out of memory.  g and comp are borrowed and must outlive the
 * finder. */
rc_cycle_finder *rc_cycle_finder_new(const rc_graph *g, const uint32_t *comp);
/* NULL is allowed (a no-op). */
void rc_cycle_finder_free(rc_cycle_finder *f);

/* A shortest cycle through `start`.  The finder's scratch memory changes
 * (it is not const), and is left ready for the next search, also on error.
 * *len receives its length in references (0 when start is in no cycle or
 * no component), and the first shown = min(*len, max_hops) of them:
 * edge[i] (rc_malloc'ed, i < shown) is the index among path[i]'s out-edges
 * of the reference to path[i + 1], and path (rc_malloc'ed, shown + 1 ids)
 * runs from start to the node the last shown reference leads to: start
 * again when the whole cycle is shown.  On error the outputs are
 * untouched. */
rc_status rc_cycle_finder_find(rc_cycle_finder *f, rc_id start, size_t max_hops, rc_id **path,
                               uint32_t **edge, size_t *len);

/* The cycles among a set, as an answer lays them out: the groups of
 * rc_cycles_group() and, for the first `limit` of them, one shortest cycle
 * of the group's representative component and every member, all in one
 * array of node ids (the binding takes one reference per id and slices). */
typedef struct rc_cycles_shown {
    size_t path_at;    /* ids[path_at .. + path_len): the cycle's first */
    size_t path_len;   /* min(hops, max_hops) references and where the last
                        * leads (0 ids when max_hops or hops is 0) */
    size_t hops;       /* the cycle's length in references */
    size_t members_at; /* ids[members_at .. + group.objects): every member of
                        * every cycle of the group */
} rc_cycles_shown;

typedef struct rc_cycles {
    rc_cycle_group *groups; /* all of them, sorted as rc_cycles_group() sorts */
    size_t n_groups;
    rc_cycles_shown *shown; /* shown[i] for groups[i], i < n_shown */
    size_t n_shown;         /* min(limit, n_groups) */
    rc_id *ids;
    size_t n_ids;
    /* edges[path_at + i]: the index among ids[path_at + i]'s out-edges of
     * the reference to ids[path_at + i + 1]; parallel to ids (0 elsewhere). */
    uint32_t *edges;
    /* The set's objects (in a cycle or not) whose type has a finalizer
     * (RC_TYPE_FINALIZER): the collection calls it before freeing them,
     * and it may resurrect what it reaches. */
    size_t finalizer_objects;
} rc_cycles;

/* rc_scc(), rc_cycles_group() and the shortest cycles, for the nodes v with
 * in_set[v] != 0.  Fills *out (owned by the caller: rc_cycles_clear()).
 * RC_OK, or RC_ENOMEM / RC_ETOOBIG with *out zeroed. */
rc_status rc_garbage_cycles(const rc_graph *g, const uint8_t *in_set, size_t limit,
                            size_t max_hops, rc_cycles *out);

/* Free what c owns and zero it; a zeroed one is fine.  c must not be NULL. */
void rc_cycles_clear(rc_cycles *c);

#endif
