/* idmap_test: ids kept across graphs by (address, type), fresh ids for new
 * addresses and for another type at a reused address, the radix-sorted
 * path and the graph's own address order on large graphs, and allocation
 * failure at every point. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/idmap.h"
#include "testutil.h"

/* Whether make() keeps the address order (a dump's capture does): the
 * map then merges in that order instead of sorting. */
static bool keep_order;

/* A graph of n nodes, node i at addrs[i] with type key 0x1000 + types[i]
 * (NULL: all type 0); no edges. */
static rc_graph *
make(size_t n, const uintptr_t *addrs, const unsigned *types)
{
    rc_builder *b = rc_builder_new(n);
    assert_non_null(b);
    if (keep_order) {
        rc_builder_keep_addr_order(b);
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rc_builder_mark(b, addrs[i], 0), RC_OK);
    }
    uintptr_t a;
    unsigned fl;
    rc_status st;
    for (size_t i = 0; rc_builder_next(b, &a, &fl, &st); i++) {
        assert_int_equal(a, addrs[i]);
        unsigned t = types ? types[i] : 0;
        char name[16];
        snprintf(name, sizeof name, "T%u", t);
        uint32_t tid;
        assert_int_equal(rc_builder_type(b, 0x1000 + t, name, name, 0, &tid), RC_OK);
        assert_int_equal(rc_builder_close(b, tid, 16, 1, 0), RC_OK);
    }
    assert_int_equal(st, RC_OK);
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), n);
    assert_int_equal(rc_graph_addr_order(g) != NULL, keep_order);
    return g;
}

static void
assign(rc_idmap *m, size_t n, const uintptr_t *addrs, const unsigned *types, uint32_t *ids)
{
    rc_graph *g = make(n, addrs, types);
    assert_int_equal(rc_idmap_assign(m, g, ids), RC_OK);
    rc_graph_free(g);
}

static void
test_first_graph_gets_odd_ids_in_node_order(void **state)
{
    (void)state;
    rc_idmap *m = rc_idmap_new();
    assert_non_null(m);
    assert_int_equal(rc_idmap_next(m), RC_SNAP_ID_FIRST);
    const uintptr_t a[] = {0x3000, 0x1000, 0x2000, 0x1010};
    uint32_t ids[4];
    assign(m, 4, a, NULL, ids);
    for (unsigned v = 0; v < 4; v++) {
        assert_int_equal(ids[v], 5 + 2 * v);
    }
    assert_int_equal(rc_idmap_count(m), 4);
    assert_int_equal(rc_idmap_next(m), 13);
    rc_idmap_free(m);
    rc_idmap_free(NULL);
}

static void
test_same_object_keeps_its_id(void **state)
{
    (void)state;
    rc_idmap *m = rc_idmap_new();
    const uintptr_t a1[] = {0x1000, 0x2000, 0x3000, 0x4000};
    const unsigned t1[] = {0, 1, 2, 0};
    uint32_t ids1[4], ids2[5], ids3[3];
    assign(m, 4, a1, t1, ids1); /* 5 7 9 11 */
    /* Next capture: other node order; 0x2000 freed and a T1 allocated
     * there (the same type at a reused address keeps the id: documented);
     * 0x3000 freed and a T0 there (another type: new); 0x4000 gone;
     * 0x5000 and 0x0800 new. */
    const uintptr_t a2[] = {0x5000, 0x3000, 0x1000, 0x0800, 0x2000};
    const unsigned t2[] = {0, 0, 0, 1, 1};
    assign(m, 5, a2, t2, ids2);
    assert_int_equal(ids2[2], ids1[0]);  /* 0x1000 T0 */
    assert_int_equal(ids2[4], ids1[1]);  /* 0x2000 T1 */
    assert_int_equal(ids2[0], 13);       /* fresh, in node order */
    assert_int_equal(ids2[1], 15);       /* 0x3000, now T0: fresh */
    assert_int_equal(ids2[3], 17);
    assert_int_equal(rc_idmap_count(m), 5);
    /* The map keeps only the last graph: 0x4000 coming back is new. */
    const uintptr_t a3[] = {0x4000, 0x3000, 0x5000};
    const unsigned t3[] = {0, 0, 0};
    assign(m, 3, a3, t3, ids3);
    assert_int_equal(ids3[0], 19);
    assert_int_equal(ids3[1], ids2[1]);
    assert_int_equal(ids3[2], ids2[0]);
    /* An empty graph forgets everything. */
    assign(m, 0, NULL, NULL, ids3);
    assert_int_equal(rc_idmap_count(m), 0);
    assign(m, 3, a3, t3, ids3);
    assert_int_equal(ids3[0], 21);
    rc_idmap_free(m);
}

/* Large random graphs take the radix-sort path (or, with keep_order, the
 * graph's own address order): check every id against the rule, computed
 * naively. */
static void
large_random_graphs(void)
{
    enum { N = 5000, ROUNDS = 4 };
    uint64_t rng = 12345;
    rc_idmap *m = rc_idmap_new();
    uintptr_t *pa = NULL, *a = malloc(N * sizeof *a);
    unsigned *pt = NULL, *t = malloc(N * sizeof *t);
    uint32_t *pid = NULL, *ids = malloc(N * sizeof *ids);
    size_t pn = 0;
    for (int round = 0; round < ROUNDS; round++) {
        size_t n = N - (size_t)round * 300;
        for (size_t i = 0; i < n; i++) {
            bool fresh_addr;
            do {
                rng = rng * 6364136223846793005u + 1442695040888963407u;
                /* Some addresses from the last graph, some new. */
                if (pn && (rng >> 33) % 3) {
                    a[i] = pa[(rng >> 20) % pn];
                } else {
                    a[i] = 0x7f0000000000u + 16 * ((rng >> 24) % 1000000);
                }
                fresh_addr = true;
                for (size_t k = 0; k < i && fresh_addr; k++) {
                    fresh_addr = a[k] != a[i];
                }
            } while (!fresh_addr);
            t[i] = (unsigned)(rng >> 40) % 3;
        }
        uint32_t next = rc_idmap_next(m);
        assign(m, n, a, t, ids);
        for (size_t i = 0; i < n; i++) {
            size_t k = 0;
            while (k < pn && !(pa[k] == a[i] && pt[k] == t[i])) {
                k++;
            }
            if (k < pn) {
                assert_int_equal(ids[i], pid[k]);
            } else {
                assert_int_equal(ids[i], next);
                next += 2;
            }
        }
        assert_int_equal(rc_idmap_next(m), next);
        free(pa);
        free(pt);
        free(pid);
        pa = malloc(n * sizeof *pa);
        pt = malloc(n * sizeof *pt);
        pid = malloc(n * sizeof *pid);
        memcpy(pa, a, n * sizeof *a);
        memcpy(pt, t, n * sizeof *t);
        memcpy(pid, ids, n * sizeof *ids);
        pn = n;
    }
    free(pa);
    free(pt);
    free(pid);
    free(a);
    free(t);
    free(ids);
    rc_idmap_free(m);
}

static void
test_large_random_graphs(void **state)
{
    (void)state;
    keep_order = false;
    large_random_graphs();
}

static void
test_large_random_graphs_in_address_order(void **state)
{
    (void)state;
    keep_order = true;
    large_random_graphs();
    keep_order = false;
}

static void
allocation_failure_leaves_the_map_unchanged(void)
{
    const uintptr_t a1[] = {0x1000, 0x2000, 0x3000};
    const uintptr_t a2[] = {0x3000, 0x4000, 0x1000};
    uint32_t ids[3];
    rc_graph *g2 = make(3, a2, NULL);
    use_counting_allocator();
    bool ok_new = false;
    for (long k = 0; !ok_new; k++) {
        rc_alloc_fail_after(k);
        rc_idmap *m = rc_idmap_new();
        rc_alloc_fail_after(-1);
        if (!m) {
            assert_int_equal(live_blocks, 0);
            continue;
        }
        ok_new = true;
        rc_idmap_free(m);
    }
    rc_idmap *m = rc_idmap_new();
    rc_graph *g1 = make(3, a1, NULL);
    assert_int_equal(rc_idmap_assign(m, g1, ids), RC_OK);
    long kept = live_blocks;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_status st = rc_idmap_assign(m, g2, ids);
        rc_alloc_fail_after(-1);
        if (st == RC_OK) {
            assert_true(k > 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_int_equal(live_blocks, kept);
        assert_int_equal(rc_idmap_count(m), 3);
        assert_int_equal(rc_idmap_next(m), 11);
    }
    /* It succeeded on the map as the first graph left it. */
    assert_int_equal(ids[0], 9);
    assert_int_equal(ids[1], 11);
    assert_int_equal(ids[2], 5);
    assert_int_equal(live_blocks, kept);
    rc_idmap_free(m);
    rc_graph_free(g1);
    rc_graph_free(g2);
    use_default_allocator();
}

static void
test_allocation_failure_leaves_the_map_unchanged(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        keep_order = k;
        allocation_failure_leaves_the_map_unchanged();
    }
    keep_order = false;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_graph_gets_odd_ids_in_node_order),
        cmocka_unit_test(test_same_object_keeps_its_id),
        cmocka_unit_test(test_large_random_graphs),
        cmocka_unit_test(test_large_random_graphs_in_address_order),
        cmocka_unit_test(test_allocation_failure_leaves_the_map_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
