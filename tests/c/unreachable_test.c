/* unreachable_test: the collector's roots (held from outside, or a named
 * root other than a class or cache), the set of GC objects they miss, the
 * tracked count, discounts, and allocation failure. */
#include <stdlib.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/paths.h"
#include "refchain/unreachable.h"
#include "testutil.h"

enum { T_OBJECT, T_TYPE, T_LRU };
static const char *const NAMES[] = {"object", "type", "functools._lru_cache_wrapper"};
static const unsigned TYPE_FLAGS[] = {0, 0, RC_TYPE_LRU_CACHE};

#define GC (RC_NODE_GC | RC_NODE_TRACKED)

/* 0 held from outside -> 1;  2 <-> 3 a cycle nobody holds;  4 a tracked
 * class in a cycle with 5, held by nothing else;  6 a tracked class held
 * from outside -> 7;  8 an untracked GC object in the 2 <-> 3 cycle;  9 not
 * a GC object, held by 2. */
static rc_graph *
heap(void)
{
    const unsigned types[] = {T_OBJECT, T_OBJECT, T_OBJECT, T_OBJECT, T_TYPE,
                              T_OBJECT, T_LRU,    T_OBJECT, T_OBJECT, T_OBJECT};
    const unsigned extra[] = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    const unsigned flags[] = {GC, GC, GC, GC, GC | RC_NODE_TYPE, GC, GC, GC, RC_NODE_GC, 0};
    const test_edge e[] = {{0, 1}, {2, 3}, {3, 2}, {4, 5}, {5, 4}, {6, 7}, {3, 8}, {8, 2},
                           {2, 9}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(10, e, 9, types, NAMES, &attrs, &g), RC_OK);
    return g;
}

static void
test_the_set_is_what_no_collector_root_reaches(void **state)
{
    (void)state;
    rc_graph *g = heap();
    uint8_t *kinds = NULL, *in_set = NULL;
    size_t tracked = 0;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(kinds[4], RC_ROOT_CLASS); /* a root for chains ... */
    uint64_t bytes = 0;
    assert_int_equal(rc_unreachable(g, kinds, NULL, 0, &in_set, &tracked, &bytes),
                     RC_OK);
    const uint8_t want[] = {0, 0, 1, 1, 1, 1, 0, 0, 1, 0}; /* ... but not for the collector */
    assert_memory_equal(in_set, want, 10);
    assert_int_equal(tracked, 4); /* 8 is untracked */
    /* Freed in all: the set and 9, which only 2 holds (node i has 10(i+1) B). */
    assert_int_equal(bytes, 30 + 40 + 50 + 60 + 90 + 100);
    assert_int_equal(kinds[4], RC_ROOT_CLASS); /* kinds is only read */
    rc_free(in_set);
    rc_free(kinds);
    rc_graph_free(g);
}

static void
test_discounts_are_followed_as_by_the_bfs(void **state)
{
    (void)state;
    rc_graph *g = heap();
    uint8_t *kinds = NULL, *in_set = NULL;
    size_t tracked = 0;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    const rc_discount d = {0, 1, 1};
    assert_int_equal(rc_unreachable(g, kinds, &d, 1, &in_set, &tracked, NULL), RC_OK);
    assert_int_equal(in_set[1], 1);
    assert_int_equal(tracked, 5);
    rc_free(in_set);
    rc_free(kinds);
    rc_graph_free(g);
}

/* gc.freeze(): 0 <-> 1 a frozen cycle nobody holds, 1 -> 2 a young object it
 * holds; 3 <-> 4 the same cycle unfrozen.  No collection examines the
 * permanent generation: 0, 1 and what they hold stay; 3 and 4 go. */
static void
test_a_frozen_object_is_a_collector_root(void **state)
{
    (void)state;
    const unsigned types[] = {T_OBJECT, T_OBJECT, T_OBJECT, T_OBJECT, T_OBJECT};
    const unsigned extra[] = {0, 0, 0, 0, 0};
    const unsigned flags[] = {GC | RC_NODE_FROZEN, GC | RC_NODE_FROZEN, GC, GC, GC};
    const test_edge e[] = {{0, 1}, {1, 0}, {1, 2}, {3, 4}, {4, 3}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(5, e, 5, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL, *in_set = NULL;
    size_t tracked = 0;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_unreachable(g, kinds, NULL, 0, &in_set, &tracked, NULL), RC_OK);
    const uint8_t want[] = {0, 0, 0, 1, 1};
    assert_memory_equal(in_set, want, 5);
    assert_int_equal(tracked, 2);
    assert_int_equal(kinds[0], RC_ROOT_NONE); /* kinds is only read */
    rc_free(in_set);
    rc_free(kinds);
    rc_graph_free(g);
}

/* A class in a cycle nobody holds: 0 (the class) <-> 1 (its namespace),
 * 0 -> 2 its dict of weak references to subclasses (held through no
 * traversal), 2 -> 3 a weak reference.  The collector reads 2 as held from
 * outside: the pass that frees 0 and 1 leaves 2 and 3 to their holder's
 * deallocation, uncounted. */
static void
test_what_no_traversal_reports_is_a_collector_root(void **state)
{
    (void)state;
    const unsigned types[] = {T_TYPE, T_OBJECT, T_OBJECT, T_OBJECT};
    const unsigned extra[] = {0, 0, 0, 0};
    const unsigned flags[] = {GC | RC_NODE_TYPE, GC, GC | RC_NODE_UNTRAVERSED, GC};
    const test_edge e[] = {{0, 1}, {1, 0}, {0, 2}, {2, 3}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(4, e, 4, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL, *in_set = NULL;
    size_t tracked = 0;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(kinds[2], RC_ROOT_NONE); /* chains go through the class */
    uint64_t bytes = 0;
    assert_int_equal(rc_unreachable(g, kinds, NULL, 0, &in_set, &tracked, &bytes),
                     RC_OK);
    const uint8_t want[] = {1, 1, 0, 0};
    assert_memory_equal(in_set, want, 4);
    assert_int_equal(tracked, 2);
    assert_int_equal(bytes, 10 + 20 + 30 + 40); /* 2 and 3 are freed after the count */
    rc_free(in_set);
    rc_free(kinds);
    rc_graph_free(g);
}

/* 0 a running frame of the tool's own (untracked, as a running frame's
 * object is) -> 1 a tuple -> 2 a list -> 3 a str: its locals, which
 * nothing else holds;  4 <-> 5 a cycle nobody holds, which holds 1 too.
 * The frame runs: the next collection frees 4 and 5 only. */
static rc_graph *
tool_heap(void)
{
    const unsigned types[] = {T_OBJECT, T_OBJECT, T_OBJECT,
                              T_OBJECT, T_OBJECT, T_OBJECT};
    const unsigned extra[] = {0, 0, 0, 0, 0, 0};
    const unsigned flags[] = {RC_NODE_GC | RC_NODE_TOOL_FRAME, GC, GC, 0, GC, GC};
    const test_edge e[] = {{0, 1}, {1, 2}, {2, 3}, {4, 5}, {5, 4}, {5, 1}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(6, e, 6, types, NAMES, &attrs, &g), RC_OK);
    return g;
}

static void
test_what_a_running_tool_frame_holds_is_not_garbage(void **state)
{
    (void)state;
    rc_graph *g = tool_heap();
    uint8_t *kinds = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(kinds[0], RC_ROOT_NONE); /* no chain starts there */
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        uint8_t *in_set = NULL;
        size_t tracked = 77;
        uint64_t bytes = 0;
        rc_status st = rc_unreachable(g, kinds, NULL, 0, &in_set, &tracked, &bytes);
        if (st == RC_OK) {
            const uint8_t want[] = {0, 0, 0, 0, 1, 1};
            assert_memory_equal(in_set, want, 6);
            assert_int_equal(tracked, 2);
            assert_int_equal(bytes, 50 + 60);
            rc_free(in_set);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(in_set);
        assert_int_equal(tracked, 77);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 4); /* the worklist's allocation among them */
    use_default_allocator();
    rc_free(kinds);
    rc_graph_free(g);
}

/* late, held by a reference no traversal reports (from the cycle a <-> b
 * nobody holds), holds shared, which a running frame of the tool's own
 * holds too.  shared stays, whichever mark reaches it first (the scan goes
 * by id: both orders are built); late is freed after the count; a and b
 * are the set. */
static void
check_spared_over_late(unsigned late, unsigned shared, unsigned frame, unsigned a,
                       unsigned b)
{
    const unsigned types[] = {T_OBJECT, T_OBJECT, T_OBJECT, T_OBJECT, T_OBJECT};
    const unsigned extra[] = {0, 0, 0, 0, 0};
    unsigned flags[5];
    flags[late] = GC | RC_NODE_UNTRAVERSED;
    flags[shared] = GC;
    flags[frame] = RC_NODE_GC | RC_NODE_TOOL_FRAME;
    flags[a] = flags[b] = GC;
    const test_edge e[] = {{late, shared}, {frame, shared}, {a, b}, {b, a}, {b, late}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(5, e, 5, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL, *in_set = NULL;
    size_t tracked = 0;
    uint64_t bytes = 0;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_unreachable(g, kinds, NULL, 0, &in_set, &tracked, &bytes),
                     RC_OK);
    uint8_t want[5] = {0};
    want[a] = want[b] = 1;
    assert_memory_equal(in_set, want, 5);
    assert_int_equal(tracked, 2);
    assert_int_equal(bytes,
                     10 * (late + 1) + 10 * (a + 1) + 10 * (b + 1)); /* sizes 10(i+1) */
    rc_free(in_set);
    rc_free(kinds);
    rc_graph_free(g);
}

static void
test_a_tool_frame_spares_what_a_late_node_holds(void **state)
{
    (void)state;
    check_spared_over_late(0, 1, 2, 3, 4); /* the late node scanned first */
    check_spared_over_late(2, 1, 0, 3, 4); /* the frame scanned first */
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    rc_graph *g = heap();
    uint8_t *kinds = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        uint8_t *in_set = (uint8_t *)&failures;
        size_t tracked = 77;
        rc_status st = rc_unreachable(g, kinds, NULL, 0, &in_set, &tracked, NULL);
        if (st == RC_OK) {
            assert_int_equal(tracked, 4);
            rc_free(in_set);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_ptr_equal(in_set, (uint8_t *)&failures);
        assert_int_equal(tracked, 77);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 3);
    use_default_allocator();
    rc_free(kinds);
    rc_graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_set_is_what_no_collector_root_reaches),
        cmocka_unit_test(test_discounts_are_followed_as_by_the_bfs),
        cmocka_unit_test(test_a_frozen_object_is_a_collector_root),
        cmocka_unit_test(test_what_no_traversal_reports_is_a_collector_root),
        cmocka_unit_test(test_what_a_running_tool_frame_holds_is_not_garbage),
        cmocka_unit_test(test_a_tool_frame_spares_what_a_late_node_holds),
        cmocka_unit_test(test_allocation_failure_at_every_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
