/* The unreachable set (see refchain/unreachable.h): the roots re-judged the
 * collector's way, one BFS from them, and every GC object it misses. */
#include <stdbool.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/held.h"
#include "refchain/unreachable.h"

static bool
push(rc_id **stack, size_t *top, size_t *cap, rc_id v)
{
    if (*top == *cap) {
        size_t grown = *cap ? 2 * *cap : 64;
        rc_id *s = rc_reallocarray(*stack, grown, sizeof *s);
        if (!s) {
            return false;
        }
        *stack = s;
        *cap = grown;
    }
    (*stack)[(*top)++] = v;
    return true;
}

enum { SPARED = 1, LATE = 2 }; /* marks[] while the set is judged */

/* From start, mark every node the BFS missed that it reaches (and itself),
 * along every reference the capture recorded, not only the collector's.
 * SPARED: a running frame of the tool's own, from which chains never start
 * (rc_paths_bfs does not follow it) but which runs, so the next collection
 * frees nothing it holds, such as the locals of the call that dumps a
 * forked child's heap; it overrides LATE.  LATE: a node held by a
 * reference no traversal reports (RC_NODE_UNTRAVERSED), which the
 * collector counts as held from outside: the pass frees it after its
 * holder, uncounted.  A worklist, grown as needed: these are few. */
static bool
mark_from(const rc_graph *g, const rc_paths *p, rc_id start, uint8_t mark,
          uint8_t *marks, rc_id **stack, size_t *cap)
{
    size_t top = 0;
    marks[start] = mark;
    if (!push(stack, &top, cap, start)) {
        return false;
    }
    while (top) {
        size_t deg;
        const rc_id *out = rc_graph_out(g, (*stack)[--top], &deg);
        for (size_t i = 0; i < deg; i++) {
            rc_id w = out[i];
            if (rc_paths_depth(p, w) == RC_UNREACHED && marks[w] != SPARED &&
                (mark == SPARED || !marks[w])) {
                marks[w] = mark;
                if (!push(stack, &top, cap, w)) {
                    return false;
                }
            }
        }
    }
    return true;
}

static rc_status
mark_spared_and_late(const rc_graph *g, const rc_paths *p, uint8_t *marks)
{
    size_t n = rc_graph_node_count(g), cap = 0;
    rc_id *stack = NULL;
    bool ok = true;
    for (rc_id v = 0; v < n && ok; v++) {
        unsigned f = rc_graph_flags(g, v);
        if ((f & RC_NODE_TOOL_FRAME) && marks[v] != SPARED) {
            ok = mark_from(g, p, v, SPARED, marks, &stack, &cap);
        } else if ((f & RC_NODE_UNTRAVERSED) && !marks[v] &&
                   rc_paths_depth(p, v) == RC_UNREACHED) {
            ok = mark_from(g, p, v, LATE, marks, &stack, &cap);
        }
    }
    rc_free(stack);
    return ok ? RC_OK : RC_ENOMEM;
}

rc_status
rc_unreachable(const rc_graph *g, const uint8_t *kinds, const rc_discount *discounts,
               size_t n_discounts, uint8_t **in_set, size_t *n_tracked,
               uint64_t *freed_bytes)
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
    if ((st = mark_spared_and_late(g, p, set)) != RC_OK) {
        goto finally;
    }
    size_t tracked = 0;
    uint64_t bytes = 0;
    for (rc_id v = 0; v < n; v++) {
        uint8_t mark = set[v];
        set[v] = 0;
        if (mark == SPARED || rc_paths_depth(p, v) != RC_UNREACHED) {
            continue;
        }
        bytes += rc_graph_size(g, v);
        unsigned f = rc_graph_flags(g, v);
        if (mark != LATE && (f & RC_NODE_GC)) {
            set[v] = 1;
            tracked += (f & RC_NODE_TRACKED) != 0;
        }
    }
    *in_set = set;
    set = NULL;
    *n_tracked = tracked;
    if (freed_bytes) {
        *freed_bytes = bytes;
    }
finally:
    rc_paths_free(p);
    rc_free(roots);
    rc_free(set);
    return st;
}
