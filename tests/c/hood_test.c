/* hood_test: the neighbourhood walk: depth, too_many, max_nodes, modules,
 * ignored addresses, tool frames, the keep callback, repeated and absent
 * starts, edge indexes both ways, the refcounts drawn, and allocation
 * failure. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/hood.h"
#include "testutil.h"

static rc_hood_opts
opts(int backwards, uint32_t max_depth)
{
    rc_hood_opts o = {backwards, max_depth, 10, 100, NULL, 0, NULL, NULL};
    return o;
}

/* The answer object that is node v, or -1. */
static long
index_of(const rc_hood *h, rc_id v)
{
    for (size_t k = 0; k < h->n; k++) {
        if (h->ids[k] == v) {
            return (long)k;
        }
    }
    return -1;
}

/* 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 4, 2 -> 3 again. */
static rc_graph *
diamond(void)
{
    const test_edge e[] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}, {3, 4}, {2, 3}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(5, e, 6, NULL, NULL, &g), RC_OK);
    return g;
}

static void
test_forward_walk_stops_at_max_depth(void **state)
{
    (void)state;
    rc_graph *g = diamond();
    const rc_id start = 0;
    rc_hood_opts o = opts(0, 2);
    rc_hood h;
    assert_int_equal(rc_hood_walk(g, &start, 1, &o, &h), RC_OK);
    assert_int_equal(h.n, 4); /* 0, 1, 2, 3; 4 is three hops away */
    assert_int_equal(h.n_distinct, 1);
    assert_int_equal(h.ids[0], 0);
    assert_int_equal(h.depth[index_of(&h, 3)], 2);
    assert_int_equal(index_of(&h, 4), -1);
    /* 0->1, 0->2, 1->3, 2->3 twice (edge indexes 0 and 1 of node 2). */
    assert_int_equal(h.n_edges, 5);
    assert_int_equal(h.edges[3].from, index_of(&h, 2));
    assert_int_equal(h.edges[3].index, 0);
    assert_int_equal(h.edges[4].index, 1);
    assert_int_equal(h.capped, 0);
    rc_hood_free(&h);
    rc_hood_free(&h); /* a freed hood is zeroed */
    rc_hood_free(NULL);
    rc_graph_free(g);
}

static void
test_backward_edges_name_the_referrers_out_edge(void **state)
{
    (void)state;
    rc_graph *g = diamond();
    const rc_id start = 3;
    rc_hood_opts o = opts(1, 1);
    rc_hood h;
    assert_int_equal(rc_hood_walk(g, &start, 1, &o, &h), RC_OK);
    assert_int_equal(h.n, 3); /* 3, then its referrers 1 and 2 */
    assert_int_equal(h.n_edges, 3);
    long two = index_of(&h, 2);
    int seen = 0;
    for (size_t e = 0; e < h.n_edges; e++) {
        assert_int_equal(h.edges[e].to, 0);
        if ((long)h.edges[e].from == two) {
            assert_int_equal(h.edges[e].index, seen++); /* 2's out-edges 0 and 1 */
        }
    }
    assert_int_equal(seen, 2);
    rc_hood_free(&h);
    rc_graph_free(g);
}

static void
test_too_many_and_max_nodes_count_what_they_leave_out(void **state)
{
    (void)state;
    /* 0 refers to 1..5. */
    const test_edge e[] = {{0, 1}, {0, 2}, {0, 3}, {0, 4}, {0, 5}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(6, e, 5, NULL, NULL, &g), RC_OK);
    const rc_id start = 0;
    rc_hood_opts o = opts(0, 3);
    o.too_many = 2;
    rc_hood h;
    assert_int_equal(rc_hood_walk(g, &start, 1, &o, &h), RC_OK);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.n_more, 1);
    assert_int_equal(h.more[0].at, 0);
    assert_int_equal(h.more[0].count, 3);
    rc_hood_free(&h);
    o.too_many = 10;
    o.max_nodes = 4;
    assert_int_equal(rc_hood_walk(g, &start, 1, &o, &h), RC_OK);
    assert_int_equal(h.n, 4);
    assert_int_equal(h.capped, 2);
    assert_int_equal(h.n_edges, 3);
    rc_hood_free(&h);
    rc_graph_free(g);
}

static void
test_modules_ignored_and_tool_frames(void **state)
{
    (void)state;
    /* 1 (a module) -> 0, 2 -> 0, 3 (a tool frame) -> 0, 4 -> 1. */
    const unsigned flags[] = {0, RC_NODE_MODULE, 0, RC_NODE_TOOL_FRAME, 0};
    const test_edge e[] = {{1, 0}, {2, 0}, {3, 0}, {4, 1}};
    const test_attrs attrs = {NULL, flags, NULL};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(5, e, 4, NULL, NULL, &attrs, &g), RC_OK);
    const rc_id start = 0;
    const uintptr_t ign[] = {FAKE(2)};
    rc_hood_opts o = opts(1, 5);
    o.ignore = ign;
    o.n_ignore = 1;
    rc_hood h;
    assert_int_equal(rc_hood_walk(g, &start, 1, &o, &h), RC_OK);
    /* 0 and the module; not past it (4), not 2 (ignored), not 3 (tool). */
    assert_int_equal(h.n, 2);
    assert_int_equal(h.ids[1], 1);
    rc_hood_free(&h);
    rc_graph_free(g);
}

typedef struct keep_log {
    int calls[8];
    rc_id fail_at;
} keep_log;

/* Keeps even nodes; fails at fail_at. */
static int
keep_even(void *ctx, rc_id v)
{
    keep_log *log = ctx;
    log->calls[v]++;
    return v == log->fail_at ? -1 : (v % 2 == 0);
}

static void
test_keep_is_asked_once_per_node_and_its_failure_stops_the_walk(void **state)
{
    (void)state;
    /* 0 -> 1, 0 -> 2, 0 -> 2, 2 -> 4, 1 -> 3, 4 -> 0. */
    const test_edge e[] = {{0, 1}, {0, 2}, {0, 2}, {2, 4}, {1, 3}, {4, 0}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(5, e, 6, NULL, NULL, &g), RC_OK);
    const rc_id start = 0;
    keep_log log = {{0}, RC_NO_ID};
    rc_hood_opts o = opts(0, 5);
    o.keep = keep_even;
    o.keep_ctx = &log;
    rc_hood h;
    assert_int_equal(rc_hood_walk(g, &start, 1, &o, &h), RC_OK);
    assert_int_equal(h.n, 3); /* 0, 2, 4 */
    assert_int_equal(index_of(&h, 1), -1);
    assert_int_equal(log.calls[0], 0); /* a start is never asked */
    assert_int_equal(log.calls[1], 1);
    assert_int_equal(log.calls[2], 1);
    assert_int_equal(log.calls[3], 0); /* behind a node left out */
    assert_int_equal(log.calls[4], 1);
    assert_int_equal(h.n_edges, 4); /* 0->2 twice, 2->4, 4->0 */
    rc_hood_free(&h);

    use_counting_allocator();
    memset(&log, 0, sizeof log);
    log.fail_at = 4;
    memset(&h, 0x5a, sizeof h);
    rc_hood before = h;
    assert_int_equal(rc_hood_walk(g, &start, 1, &o, &h), RC_ECALLBACK);
    assert_memory_equal(&h, &before, sizeof h); /* untouched */
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
    rc_graph_free(g);
}

static void
test_repeated_and_absent_starts(void **state)
{
    (void)state;
    rc_graph *g = diamond();
    const rc_id starts[] = {1, RC_NO_ID, 1, 2};
    rc_hood_opts o = opts(0, 0);
    rc_hood h;
    assert_int_equal(rc_hood_walk(g, starts, 4, &o, &h), RC_OK);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.n_distinct, 3);
    assert_int_equal(h.start_of[0], 0);
    assert_int_equal(h.start_of[1], 1);
    assert_int_equal(h.start_of[2], 3);
    assert_int_equal(h.ids[1], RC_NO_ID);
    assert_int_equal(h.n_edges, 0);
    rc_hood_free(&h);
    const rc_id bad = 99;
    assert_int_equal(rc_hood_walk(g, &bad, 1, &o, &h), RC_EINVAL);
    o.too_many = 0;
    assert_int_equal(rc_hood_walk(g, starts, 1, &o, &h), RC_EINVAL);
    rc_graph_free(g);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    /* A ring of 300 nodes with chords: the arrays grow several times. */
    enum { N = 300 };
    test_edge e[2 * N];
    for (unsigned i = 0; i < N; i++) {
        e[2 * i] = (test_edge){i, (i + 1) % N};
        e[2 * i + 1] = (test_edge){i, (i * 7 + 3) % N};
    }
    rc_graph *g = NULL;
    assert_int_equal(build_graph(N, e, 2 * N, NULL, NULL, &g), RC_OK);
    const rc_id starts[] = {0, 5};
    rc_hood_opts o = opts(0, 1000); /* one neighbour shown, one counted, per node */
    o.max_nodes = N;
    o.too_many = 1;
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_hood h;
        rc_status st = rc_hood_walk(g, starts, 2, &o, &h);
        if (st == RC_OK) {
            assert_int_equal(h.n, N);
            assert_int_equal(h.n_more, N); /* each node: one shown, its chord counted */
            rc_hood_free(&h);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 5);
    use_default_allocator();
    rc_graph_free(g);
}

/* A drawing's refcount: the references besides the tool's, never below 0
 * (a refcount below the tool's share, as a borrowed reference leaves it),
 * and -1 for an immortal object.  Nothing is allocated. */
static void
test_refcount_leaves_out_the_tools_references(void **state)
{
    (void)state;
    /* 0 -> 2, 1 -> 2 twice, 0 -> 3, 0 -> 4; node 4's refcount is one less
     * than its in-degree (the unsigned extra wraps). */
    const test_edge e[] = {{0, 2}, {1, 2}, {1, 2}, {0, 3}, {0, 4}};
    const unsigned extra[] = {1, 1, 1, 1, UINT32_MAX};
    const unsigned flags[] = {0, 0, 0, RC_NODE_IMMORTAL, 0};
    const test_attrs attrs = {.extra_refs = extra, .node_flags = flags};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(5, e, 5, NULL, NULL, &attrs, &g), RC_OK);
    const uintptr_t ign0[] = {FAKE(0)}, ign1[] = {FAKE(1)};
    use_counting_allocator();
    rc_alloc_fail_after(0);
    assert_int_equal(rc_hood_refcount(g, 2, NULL, 0), 4); /* 1 outside + 3 edges */
    assert_int_equal(rc_hood_refcount(g, 2, ign1, 1), 2);
    assert_int_equal(rc_hood_refcount(g, 3, NULL, 0), -1);
    assert_int_equal(rc_hood_refcount(g, 4, NULL, 0), 0);
    assert_int_equal(rc_hood_refcount(g, 4, ign0, 1), 0); /* -1, clamped */
    assert_int_equal(rc_alloc_count(), 0);
    use_default_allocator();
    rc_graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_walk_stops_at_max_depth),
        cmocka_unit_test(test_backward_edges_name_the_referrers_out_edge),
        cmocka_unit_test(test_too_many_and_max_nodes_count_what_they_leave_out),
        cmocka_unit_test(test_modules_ignored_and_tool_frames),
        cmocka_unit_test(
            test_keep_is_asked_once_per_node_and_its_failure_stops_the_walk),
        cmocka_unit_test(test_repeated_and_absent_starts),
        cmocka_unit_test(test_refcount_leaves_out_the_tools_references),
        cmocka_unit_test(test_allocation_failure_at_every_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
