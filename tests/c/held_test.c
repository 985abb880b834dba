/* held_test: the address set, "held from outside", and the split of an
 * object's holders into the tool's and the others'. */
#include <stdlib.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/held.h"
#include "testutil.h"

static void
test_address_sets_sort_dedupe_and_bisect(void **state)
{
    (void)state;
    uintptr_t a[] = {48, 16, 32, 16, 48, 0};
    size_t n = 6;
    rc_addrs_sort(a, &n);
    assert_int_equal(n, 4);
    assert_true(a[0] == 0 && a[1] == 16 && a[2] == 32 && a[3] == 48);
    assert_true(rc_addrs_contain(a, n, 32));
    assert_false(rc_addrs_contain(a, n, 40));
    assert_false(rc_addrs_contain(NULL, 0, 0));
    size_t none = 0;
    rc_addrs_sort(NULL, &none);
    assert_int_equal(none, 0);
}

/* 0 -> 2, 1 -> 2 twice, 3 (a tool frame) -> 2; 2's refcount is 4 + extra. */
static rc_graph *
four_referrers(unsigned extra2)
{
    const unsigned extra[] = {1, 1, extra2, 1};
    const unsigned flags[] = {0, 0, 0, RC_NODE_TOOL_FRAME};
    const test_edge e[] = {{0, 2}, {1, 2}, {1, 2}, {3, 2}};
    const test_attrs attrs = {extra, flags, NULL};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(4, e, 4, NULL, NULL, &attrs, &g), RC_OK);
    return g;
}

static void
test_held_outside_is_the_refcount_surplus(void **state)
{
    (void)state;
    rc_graph *g = four_referrers(2);
    assert_int_equal(rc_held_outside(g, 2), 2);
    assert_int_equal(rc_held_outside(g, 0), 1);
    rc_graph_free(g);
    g = four_referrers(0);
    assert_int_equal(rc_held_outside(g, 2), 0);
    rc_graph_free(g);
}

static void
test_holders_split_the_tools_share(void **state)
{
    (void)state;
    rc_graph *g = four_referrers(1);
    /* Nothing named: only the tool frame's edge is the tool's. */
    rc_holders h = rc_holders_of(g, 2, NULL, 0, NULL, 0);
    assert_int_equal(h.outside, 1);
    assert_int_equal(h.mine, 1);
    assert_int_equal(h.others, 3);
    /* Ignoring node 1's address claims both its edges. */
    const uintptr_t ign[] = {FAKE(1)};
    h = rc_holders_of(g, 2, ign, 1, NULL, 0);
    assert_int_equal(h.mine, 3);
    assert_int_equal(h.others, 1);
    /* A discount claims as many edges as its count, split over entries,
     * never more than there are; one for another target claims nothing. */
    rc_discount d[] = {{1, 2, 1}, {0, 2, 5}, {1, 0, 9}};
    h = rc_holders_of(g, 2, NULL, 0, d, 3);
    assert_int_equal(h.mine, 3);
    assert_int_equal(h.others, 1);
    d[0].count = 2;
    h = rc_holders_of(g, 2, NULL, 0, d, 3);
    assert_int_equal(h.mine, 4);
    assert_int_equal(h.others, 0);
    assert_int_equal(h.outside + (int64_t)h.others, 1);
    rc_graph_free(g);
}

/* The held unit allocates nothing: every allocation failing changes no
 * answer. */
static void
test_no_allocation_is_needed(void **state)
{
    (void)state;
    rc_graph *g = four_referrers(1);
    const uintptr_t ign[] = {FAKE(0)};
    const rc_discount d = {1, 2, 1};
    use_counting_allocator();
    rc_alloc_fail_after(0);
    rc_holders h = rc_holders_of(g, 2, ign, 1, &d, 1);
    assert_int_equal(rc_alloc_count(), 0);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
    assert_int_equal(h.mine, 3);
    assert_int_equal(h.others, 1);
    assert_int_equal(h.outside, 1);
    rc_graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_sets_sort_dedupe_and_bisect),
        cmocka_unit_test(test_held_outside_is_the_refcount_surplus),
        cmocka_unit_test(test_holders_split_the_tools_share),
        cmocka_unit_test(test_no_allocation_is_needed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
