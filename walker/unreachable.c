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

/* Mark in spared[] every node the BFS missed that a running frame of the
 * tool's own reaches.  Chains never start at such a frame (rc_paths_bfs
 * does not follow it), but it runs: the next collection frees nothing it
 * holds, such as the locals of the call that dumps a forked child's heap.
 * A worklist, grown as needed: these are a few objects. */
static rc_status
spare_tool_frames(const rc_graph *g, const rc_paths *p, uint8_t *spared)
{
    size_t n = rc_graph_node_count(g), top = 0, cap = 0;
    rc_id *stack = NULL;
    bool ok = true;
    for (rc_id v = 0; v < n && ok; v++) {
        if (!(rc_graph_flags(g, v) & RC_NODE_TOOL_FRAME) || spared[v]) {
            continue;
        }
        spared[v] = 1;
        ok = push(&stack, &top, &cap, v);
        while (ok && top) {
            size_t deg;
            const rc_id *out = rc_graph_out(g, stack[--top], &deg);
            for (size_t i = 0; i < deg && ok; i++) {
                rc_id w = out[i];
                if (!spared[w] && rc_paths_depth(p, w) == RC_UNREACHED) {
                    spared[w] = 1;
                    ok = push(&stack, &top, &cap, w);
                }
            }
        }
    }
    rc_free(stack);
    return ok ? RC_OK : RC_ENOMEM;
}

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
        /* No collection examines a frozen object: what it holds survives.
         * Nor does one see a reference no traversal reports. */
        if ((f & (RC_NODE_FROZEN | RC_NODE_UNTRAVERSED)) && roots[v] == RC_ROOT_NONE) {
            roots[v] = RC_ROOT_C;
        }
    }
    if ((st = rc_paths_bfs(g, roots, discounts, n_discounts, &p)) != RC_OK) {
        goto finally;
    }
    if ((st = spare_tool_frames(g, p, set)) != RC_OK) {
        goto finally;
    }
    size_t tracked = 0;
    for (rc_id v = 0; v < n; v++) {
        unsigned f = rc_graph_flags(g, v);
        if (set[v]) {
            set[v] = 0; /* what a running frame of the tool's holds */
        } else if ((f & RC_NODE_GC) && rc_paths_depth(p, v) == RC_UNREACHED) {
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
