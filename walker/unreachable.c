/* The unreachable set (see refchain/unreachable.h): the roots re-judged the
 * collector's way, one BFS from them, and every GC object it misses. */
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/held.h"
#include "refchain/unreachable.h"

rc_status
rc_unreachable(const rc_graph *g, const uint8_t *kinds, const rc_discount *discounts,
               size_t n_discounts, uint8_t **in_set, size_t *n_tracked)
{
    if (!rc_graph_has_in(g)) {
        return RC_EINVAL;
    }
    size_t n = rc_graph_node_count(g);
    uint8_t *roots = rc_malloc(n ? n : 1);
    uint8_t *set = rc_calloc(n ? n : 1, 1);
    rc_paths *p = NULL;
    rc_status st = RC_ENOMEM;
    if (!roots || !set) {
        goto finally;
    }
    if (n) {
        memcpy(roots, kinds, n);
    }
    for (rc_id v = 0; v < n; v++) {
        unsigned f = rc_graph_flags(g, v);
        if ((roots[v] == RC_ROOT_CLASS || roots[v] == RC_ROOT_CACHE) && (f & RC_NODE_TRACKED)) {
            roots[v] = rc_held_outside(g, v) > 0 ? RC_ROOT_C : RC_ROOT_NONE;
        }
        /* No collection examines a frozen object: what it holds survives. */
        if ((f & RC_NODE_FROZEN) && roots[v] == RC_ROOT_NONE) {
            roots[v] = RC_ROOT_C;
        }
    }
    if ((st = rc_paths_bfs(g, roots, discounts, n_discounts, &p)) != RC_OK) {
        goto finally;
    }
    size_t tracked = 0;
    for (rc_id v = 0; v < n; v++) {
        unsigned f = rc_graph_flags(g, v);
        if ((f & RC_NODE_GC) && rc_paths_depth(p, v) == RC_UNREACHED) {
            set[v] = 1;
            tracked += (f & RC_NODE_TRACKED) != 0;
        }
    }
    *in_set = set;
    set = NULL;
    *n_tracked = tracked;
finally:
    rc_paths_free(p);
    rc_free(roots);
    rc_free(set);
    return st;
}
