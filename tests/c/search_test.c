/* search_test: the predicate search both ways, max_depth, ignored
 * addresses, skipped pairs, tool frames, predicate failure, and allocation
 * failure. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/search.h"
#include "testutil.h"

typedef struct wanted {
    rc_id target;
    rc_id fail_at;
    int asked[16];
} wanted;

static int
is_target(void *ctx, rc_id v)
{
    wanted *w = ctx;
    w->asked[v]++;
    return v == w->fail_at ? -1 : v == w->target;
}

static rc_search_opts
opts(int backwards, size_t max_depth, wanted *w)
{
    rc_search_opts o = {backwards, max_depth, NULL, 0, NULL, 0, is_target, w};
    return o;
}

/* 0 -> 1 -> 2 -> 3, 0 -> 4 -> 3, 5 -> 3. */
static rc_graph *
two_ways(const unsigned *flags)
{
    const test_edge e[] = {{0, 1}, {1, 2}, {2, 3}, {0, 4}, {4, 3}, {5, 3}};
    const test_attrs attrs = {NULL, flags, NULL};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(6, e, 6, NULL, NULL, &attrs, &g), RC_OK);
    return g;
}

static void
test_backwards_finds_the_nearest_and_orders_it_first(void **state)
{
    (void)state;
    rc_graph *g = two_ways(NULL);
    wanted w = {0, RC_NO_ID, {0}};
    rc_search_opts o = opts(1, 20, &w);
    rc_id *chain = NULL;
    size_t len = 0;
    assert_int_equal(rc_search(g, 3, &o, &chain, &len), RC_OK);
    assert_int_equal(len, 3);
    assert_int_equal(chain[0], 0);
    assert_int_equal(chain[1], 4);
    assert_int_equal(chain[2], 3);
    assert_int_equal(w.asked[3], 0); /* the start is never offered */
    assert_int_equal(w.asked[0], 1);
    assert_int_equal(w.asked[1], 1); /* queued before 0, so asked first */
    assert_int_equal(w.asked[5], 1);
    rc_free(chain);
    /* Too shallow: nothing found. */
    o.max_depth = 1;
    assert_int_equal(rc_search(g, 3, &o, &chain, &len), RC_OK);
    assert_int_equal(len, 0);
    assert_null(chain);
    rc_graph_free(g);
}

static void
test_forwards_orders_from_the_start(void **state)
{
    (void)state;
    rc_graph *g = two_ways(NULL);
    wanted w = {2, RC_NO_ID, {0}};
    rc_search_opts o = opts(0, 20, &w);
    rc_id *chain = NULL;
    size_t len = 0;
    assert_int_equal(rc_search(g, 0, &o, &chain, &len), RC_OK);
    assert_int_equal(len, 3);
    assert_int_equal(chain[0], 0);
    assert_int_equal(chain[1], 1);
    assert_int_equal(chain[2], 2);
    rc_free(chain);
    rc_graph_free(g);
}

static void
test_ignored_skipped_and_tool_frames_are_not_entered(void **state)
{
    (void)state;
    const unsigned flags[] = {0, 0, 0, 0, 0, RC_NODE_TOOL_FRAME};
    rc_graph *g = two_ways(flags);
    wanted w = {0, RC_NO_ID, {0}};
    rc_search_opts o = opts(1, 20, &w);
    const uintptr_t ign[] = {FAKE(4)};
    o.ignore = ign;
    o.n_ignore = 1;
    rc_id *chain = NULL;
    size_t len = 0;
    assert_int_equal(rc_search(g, 3, &o, &chain, &len), RC_OK);
    assert_int_equal(len, 4); /* around 4, through 1 and 2 */
    assert_int_equal(chain[1], 1);
    assert_int_equal(w.asked[5], 0);
    rc_free(chain);
    /* Skipping the pair 2 -> 3 (as references go) too: nothing is left. */
    const rc_discount skip[] = {{5, 0, 1}, {2, 3, 0}};
    o.skip = skip;
    o.n_skip = 2;
    assert_int_equal(rc_search(g, 3, &o, &chain, &len), RC_OK);
    assert_int_equal(len, 0);
    /* Forwards the pair skips the same reference. */
    wanted w2 = {3, RC_NO_ID, {0}};
    rc_search_opts f = opts(0, 20, &w2);
    f.skip = skip;
    f.n_skip = 2;
    assert_int_equal(rc_search(g, 2, &f, &chain, &len), RC_OK);
    assert_int_equal(len, 0);
    rc_graph_free(g);
}

static void
test_predicate_failure_stops_the_search(void **state)
{
    (void)state;
    rc_graph *g = two_ways(NULL);
    wanted w = {0, 4, {0}};
    rc_search_opts o = opts(1, 20, &w);
    rc_id *chain = (rc_id *)&w;
    size_t len = 77;
    use_counting_allocator();
    assert_int_equal(rc_search(g, 3, &o, &chain, &len), RC_ECALLBACK);
    assert_ptr_equal(chain, (rc_id *)&w);
    assert_int_equal(len, 77);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
    assert_int_equal(rc_search(g, 99, &o, &chain, &len), RC_EINVAL);
    o.pred = NULL;
    assert_int_equal(rc_search(g, 3, &o, &chain, &len), RC_EINVAL);
    rc_graph_free(g);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    rc_graph *g = two_ways(NULL);
    wanted w = {0, RC_NO_ID, {0}};
    rc_search_opts o = opts(1, 20, &w);
    const rc_discount skip[] = {{5, 3, 1}};
    o.skip = skip;
    o.n_skip = 1;
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_id *chain = NULL;
        size_t len = 0;
        rc_status st = rc_search(g, 3, &o, &chain, &len);
        if (st == RC_OK) {
            assert_int_equal(len, 3);
            rc_free(chain);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_int_equal(failures, 5); /* four work arrays, then the chain */
    use_default_allocator();
    rc_graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backwards_finds_the_nearest_and_orders_it_first),
        cmocka_unit_test(test_forwards_orders_from_the_start),
        cmocka_unit_test(test_ignored_skipped_and_tool_frames_are_not_entered),
        cmocka_unit_test(test_predicate_failure_stops_the_search),
        cmocka_unit_test(test_allocation_failure_at_every_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
