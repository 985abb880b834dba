/* Explanations: many objects grouped by how they are held, as plain C data.
 *
 * rc_explain() groups a set of members by retention path (rc_paths_group,
 * refchain/paths.h), all as one set or split by type first
 * (rc_partition_by_type, refchain/select.h), and lays out everything an
 * answer names in one array of node ids: for each group kept, the chain of
 * its representative (root first) and then its members.  The binding takes
 * one reference per id and slices; a loaded snapshot can read the same ids. */
#ifndef REFCHAIN_EXPLAIN_H
#define REFCHAIN_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"
#include "refchain/paths.h"

/* The root kind of a group whose representative no root reaches. */
#define RC_EXPLAIN_UNREACHED RC_ROOT_KINDS

typedef struct rc_explained_group {
    size_t count;     /* members */
    uint64_t bytes;   /* their sizes */
    uint8_t kind;     /* the chain's root kind, or RC_EXPLAIN_UNREACHED */
    size_t chain_at;  /* ids[chain_at .. + chain_len): root .. representative */
    size_t chain_len; /* depth + 1; 1 (the representative) when unreached */
    size_t members_at; /* ids[members_at .. + count): the members, in the order given */
    /* What the members retain together (0 unless rc_explain had d). */
    uint64_t retained_bytes, retained_count;
    /* The holder: where the members' paths part, the deepest node of the
     * chain every member's own chain passes through (the store of 601
     * entries, not the one-entry registry above it); when they part at
     * none before the representative (one member, other roots), the
     * chain's last collection (RC_TYPE_COLLECTION or an lru_cache, not a
     * namespace) before it, else the node before it.  ids[chain_at +
     * holder_at].  What it retains is what fixing it would free (0 unless
     * rc_explain had d, and when the representative is a root or
     * unreached: holder_at is then 0). */
    size_t holder_at;
    uint64_t holder_bytes, holder_count;
} rc_explained_group;

typedef struct rc_explained_set {
    uint32_t type;   /* the type naming the set (rc_graph_type_name), by type only */
    size_t count;    /* the set's members */
    uint64_t bytes;  /* their sizes */
    size_t first;    /* groups[first .. + n_groups) */
    size_t n_groups; /* at most the limit */
    size_t all_groups; /* the set's groups before the limit cut them */
    /* What the set's members retain together (0 unless rc_explain had d). */
    uint64_t retained_bytes, retained_count;
} rc_explained_set;

typedef struct rc_explanation {
    rc_explained_set *sets;
    size_t n_sets;
    rc_explained_group *groups;
    size_t n_groups;
    rc_id *ids;
    size_t n_ids;
    /* edges[chain_at + i]: the index among ids[chain_at + i]'s out-edges of
     * the reference the chain follows to ids[chain_at + i + 1]; parallel to
     * ids (entries past a chain's last hop are 0). */
    uint32_t *edges;
    size_t ids_bytes, edges_bytes; /* ids' and edges' blocks (refchain/pool.h) */
} rc_explanation;

struct rc_dominators;
/* Explain members[0..n) (node ids of g, which p and d were computed on;
 * kinds from rc_roots_classify).  by_type 0: one set, its count and bytes
 * those of members, type 0.  by_type 1: one set per type, the `limit`
 * largest types by count (SIZE_MAX: all).
 *
 * d NULL: each set keeps its `limit` largest groups by count, sorted as
 * rc_paths_group() sorts them, and nothing retained is filled in.  d given
 * (rc_dominators_compute on g): every group's and set's retained bytes and
 * count are computed (a group's members as one, a set's all its members
 * as one: what would be freed if the reference they share went), each set
 * keeps the `limit` groups retaining the most bytes (then by count), and
 * the sets come largest retained first; the few members that retain a heap
 * are never cut for many that retain nothing.
 *
 * names (NULL: every index kept) says which references are positional, to
 * group them as collections' items (rc_paths_group_sets).
 *
 * Fills *out (owned by the caller: free it with rc_explanation_clear()).
 * RC_OK, or RC_ENOMEM / RC_ETOOBIG (RC_EINVAL: members not d's graph's)
 * with *out zeroed. */
rc_status rc_explain(const rc_graph *g, const rc_paths *p, const uint8_t *kinds,
                     const struct rc_dominators *d, const rc_id *members, size_t n,
                     int by_type, size_t limit, const rc_hop_names *names,
                     rc_explanation *out);

/* rc_explain while job (rc_dominators_begin on g and kinds) computes the
 * dominator tree: the members are grouped first, then the job is ended
 * into *dom, and the explanation goes on as rc_explain's with it.  *dom is
 * the caller's to free whatever the status (NULL when the tree could not
 * be made); the job is ended in every case. */
struct rc_dom_job;
rc_status rc_explain_overlapped(const rc_graph *g, const rc_paths *p, const uint8_t *kinds,
                                struct rc_dom_job *job, struct rc_dominators **dom,
                                const rc_id *members, size_t n, int by_type, size_t limit,
                                const rc_hop_names *names, rc_explanation *out);

/* Free what an explanation owns and zero it; a zeroed one is fine.  e must
 * not be NULL. */
void rc_explanation_clear(rc_explanation *e);

#endif
