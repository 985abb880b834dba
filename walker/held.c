/* Who holds an object (see refchain/held.h): the one definition of "held
 * from outside", and the tool's own share of an object's referrers. */
#include <stdlib.h>

#include "refchain/held.h"

static int
cmp_addr(const void *x, const void *y)
{
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return (a > b) - (a < b);
}

void
rc_addrs_sort(uintptr_t *addrs, size_t *n)
{
    if (*n < 2) {
        return;
    }
    qsort(addrs, *n, sizeof *addrs, cmp_addr);
    size_t k = 1;
    for (size_t i = 1; i < *n; i++) {
        if (addrs[i] != addrs[k - 1]) {
            addrs[k++] = addrs[i];
        }
    }
    *n = k;
}

int
rc_addrs_contain(const uintptr_t *addrs, size_t n, uintptr_t addr)
{
    return n && bsearch(&addr, addrs, n, sizeof *addrs, cmp_addr) != NULL;
}

int64_t
rc_held_outside(const rc_graph *g, rc_id v)
{
    size_t indeg;
    (void)rc_graph_in(g, v, &indeg);
    return (int64_t)rc_graph_refcnt(g, v) - (int64_t)indeg;
}

rc_holders
rc_holders_of(const rc_graph *g, rc_id v, const uintptr_t *ignore, size_t n_ignore,
              const rc_discount *discounts, size_t n_discounts)
{
    rc_holders h = {rc_held_outside(g, v), 0, 0};
    size_t deg;
    const rc_id *in = rc_graph_in(g, v, &deg);
    /* In-edges are sorted by source: one run per referrer. */
    for (size_t i = 0, run; i < deg; i += run) {
        rc_id u = in[i];
        for (run = 1; i + run < deg && in[i + run] == u; run++) {
        }
        size_t mine = run;
        if (!(rc_graph_flags(g, u) & RC_NODE_TOOL_FRAME) &&
            !rc_addrs_contain(ignore, n_ignore, rc_graph_addr(g, u))) {
            uint64_t claimed = 0;
            for (size_t d = 0; d < n_discounts; d++) {
                if (discounts[d].from == u && discounts[d].to == v) {
                    claimed += discounts[d].count;
                }
            }
            mine = claimed < run ? (size_t)claimed : run;
        }
        h.mine += mine;
        h.others += run - mine;
    }
    return h;
}
