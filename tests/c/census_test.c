/* census_test: counts and bytes per type, name merging, short names, diffs,
 * objgraph-style growth peaks, new objects since a census, type selection,
 * and allocation failure. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/census.h"
#include "testutil.h"

/* Type 0 and 3 share the name "mod.Leaky" (a class defined twice). */
static const char *const NAMES[] = {"mod.Leaky", "bytes", "int", "mod.Leaky", "pkg.Leaky"};

static rc_graph *
graph_of(unsigned n, const unsigned *types)
{
    rc_graph *g = NULL;
    assert_int_equal(build_graph(n, NULL, 0, types, NAMES, &g), RC_OK);
    return g;
}

static void
test_counts_bytes_and_merged_names(void **state)
{
    (void)state;
    const unsigned types[] = {0, 1, 1, 2, 3, 4};
    rc_graph *g = graph_of(6, types);
    rc_census *c = NULL;
    assert_int_equal(rc_census_of(g, 0, &c), RC_OK);
    assert_int_equal(rc_census_len(c), 4);
    const rc_census_row *r = rc_census_find(c, "mod.Leaky");
    assert_non_null(r);
    assert_int_equal(r->count, 2);
    assert_int_equal(r->bytes, 10 + 50); /* nodes 0 and 4 */
    r = rc_census_find(c, "bytes");
    assert_int_equal(r->count, 2);
    assert_int_equal(r->bytes, 20 + 30);
    assert_null(rc_census_find(c, "float"));
    assert_int_equal(rc_census_total_count(c), 6);
    assert_int_equal(rc_census_total_bytes(c), 10 + 20 + 30 + 40 + 50 + 60);
    /* Rows are sorted by name. */
    for (size_t i = 1; i < rc_census_len(c); i++) {
        assert_true(strcmp(rc_census_row_at(c, i - 1)->name, rc_census_row_at(c, i)->name) < 0);
    }
    assert_null(rc_census_row_at(c, 4));
    assert_int_equal(rc_census_id_count(c), 0);
    rc_census_free(c);

    /* Short names merge mod.Leaky and pkg.Leaky. */
    assert_int_equal(rc_census_of(g, RC_CENSUS_SHORT_NAMES, &c), RC_OK);
    assert_int_equal(rc_census_len(c), 3);
    assert_int_equal(rc_census_find(c, "Leaky")->count, 3);
    rc_census_free(c);
    rc_graph_free(g);
}

static void
test_order_by_count(void **state)
{
    (void)state;
    const unsigned types[] = {1, 1, 1, 2, 2, 0};
    rc_graph *g = graph_of(6, types);
    rc_census *c = NULL;
    assert_int_equal(rc_census_of(g, 0, &c), RC_OK);
    size_t order[3];
    rc_census_order_by_count(c, order);
    assert_string_equal(rc_census_row_at(c, order[0])->name, "bytes");
    assert_string_equal(rc_census_row_at(c, order[1])->name, "int");
    assert_string_equal(rc_census_row_at(c, order[2])->name, "mod.Leaky");
    rc_census_free(c);
    rc_graph_free(g);
}

static void
test_diff_is_sorted_by_count_delta(void **state)
{
    (void)state;
    const unsigned before_t[] = {1, 2, 2, 2, 0};
    const unsigned after_t[] = {1, 1, 1, 1, 2, 4};
    rc_graph *ga = graph_of(5, before_t), *gb = graph_of(6, after_t);
    rc_census *a = NULL, *b = NULL;
    assert_int_equal(rc_census_of(ga, 0, &a), RC_OK);
    assert_int_equal(rc_census_of(gb, 0, &b), RC_OK);
    rc_diff *d = NULL;
    assert_int_equal(rc_census_diff(a, b, &d), RC_OK);
    /* bytes +3, pkg.Leaky +1, int -2, mod.Leaky -1 */
    assert_int_equal(rc_diff_len(d), 4);
    assert_string_equal(rc_diff_row_at(d, 0)->name, "bytes");
    assert_int_equal(rc_diff_row_at(d, 0)->dcount, 3);
    assert_int_equal(rc_diff_row_at(d, 0)->count, 4);
    assert_int_equal(rc_diff_row_at(d, 0)->dbytes, (10 + 20 + 30 + 40) - 10);
    assert_string_equal(rc_diff_row_at(d, 1)->name, "pkg.Leaky");
    assert_int_equal(rc_diff_row_at(d, 1)->dcount, 1);
    assert_string_equal(rc_diff_row_at(d, 2)->name, "mod.Leaky");
    assert_int_equal(rc_diff_row_at(d, 2)->dcount, -1);
    assert_string_equal(rc_diff_row_at(d, 3)->name, "int");
    assert_int_equal(rc_diff_row_at(d, 3)->dcount, -2);
    assert_int_equal(rc_diff_row_at(d, 3)->count, 1);
    rc_diff_free(d);
    /* A census against itself differs nowhere. */
    assert_int_equal(rc_census_diff(a, a, &d), RC_OK);
    assert_int_equal(rc_diff_len(d), 0);
    rc_diff_free(d);
    rc_census_free(a);
    rc_census_free(b);
    rc_graph_free(ga);
    rc_graph_free(gb);
}

/* Growth over peaks: a type is reported only when it exceeds its highest
 * count so far, like objgraph.show_growth. */
static void
test_growth_follows_peaks(void **state)
{
    (void)state;
    const unsigned t1[] = {1, 1, 2};
    const unsigned t2[] = {1, 2};          /* bytes drops to 1 */
    const unsigned t3[] = {1, 1, 2};       /* back to its peak: silent */
    const unsigned t4[] = {1, 1, 1, 2, 0}; /* above the peak, and a new type */
    const unsigned *steps[] = {t1, t2, t3, t4};
    const unsigned lens[] = {3, 2, 3, 5};
    rc_census *peaks = NULL;
    size_t expect_rows[] = {2, 0, 0, 2};
    for (int s = 0; s < 4; s++) {
        rc_graph *g = graph_of(lens[s], steps[s]);
        rc_census *now = NULL, *np = NULL;
        rc_diff *d = NULL;
        assert_int_equal(rc_census_of(g, 0, &now), RC_OK);
        assert_int_equal(rc_census_growth(peaks, now, &np, &d), RC_OK);
        assert_int_equal(rc_diff_len(d), expect_rows[s]);
        if (s == 3) {
            /* Equal count deltas: the larger byte delta comes first. */
            assert_string_equal(rc_diff_row_at(d, 0)->name, "mod.Leaky");
            assert_int_equal(rc_diff_row_at(d, 0)->dcount, 1);
            assert_int_equal(rc_diff_row_at(d, 0)->dbytes, 50);
            assert_string_equal(rc_diff_row_at(d, 1)->name, "bytes");
            assert_int_equal(rc_diff_row_at(d, 1)->dcount, 1);
            assert_int_equal(rc_diff_row_at(d, 1)->count, 3);
            assert_int_equal(rc_diff_row_at(d, 1)->dbytes, (10 + 20 + 30) - (10 + 20));
            assert_int_equal(rc_census_find(np, "bytes")->count, 3);
        }
        if (s == 1) {
            /* The peak survives the drop. */
            assert_int_equal(rc_census_find(np, "bytes")->count, 2);
        }
        rc_diff_free(d);
        rc_census_free(now);
        rc_census_free(peaks);
        peaks = np;
        rc_graph_free(g);
    }
    rc_census_free(peaks);
}

/* Nodes 0..4 exist before; the later graph keeps 0..2, retypes 3, drops 4,
 * and adds 5..7. */
static void
test_new_nodes_since_a_census(void **state)
{
    (void)state;
    const unsigned before_t[] = {1, 1, 2, 2, 0};
    const unsigned after_t[] = {1, 1, 2, 1, 1, 1, 2, 0};
    rc_graph *ga = graph_of(5, before_t), *gb = graph_of(8, after_t);
    rc_census *a = NULL, *plain = NULL;
    assert_int_equal(rc_census_of(ga, RC_CENSUS_WITH_IDS, &a), RC_OK);
    assert_int_equal(rc_census_id_count(a), 5);
    assert_true(rc_census_has_object(a, FAKE(2), 0x1002));
    assert_false(rc_census_has_object(a, FAKE(2), 0x1001));
    rc_id *ids = NULL;
    size_t n = 0;
    assert_int_equal(rc_census_new_nodes(a, gb, NULL, &ids, &n), RC_OK);
    assert_int_equal(n, 5);
    const rc_id want[] = {3, 4, 5, 6, 7};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ids[i], want[i]);
    }
    rc_free(ids);

    unsigned char mask[8];
    assert_int_equal(rc_graph_mark_types(gb, "bytes", mask), 1);
    assert_int_equal(rc_census_new_nodes(a, gb, mask, &ids, &n), RC_OK);
    assert_int_equal(n, 3); /* 3, 4, 5 */
    rc_free(ids);

    /* The tool's own running frames are never new. */
    const unsigned flags[] = {0, 0, 0, 0, RC_NODE_TOOL_FRAME, 0, RC_NODE_THREAD_FRAME, 0};
    const test_attrs attrs = {.node_flags = flags};
    rc_graph *gc = NULL;
    assert_int_equal(build_graph_ex(8, NULL, 0, after_t, NAMES, &attrs, &gc), RC_OK);
    assert_int_equal(rc_census_new_nodes(a, gc, NULL, &ids, &n), RC_OK);
    assert_int_equal(n, 4);
    const rc_id want_c[] = {3, 5, 6, 7};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ids[i], want_c[i]);
    }
    rc_free(ids);
    rc_graph_free(gc);

    assert_int_equal(rc_census_of(ga, 0, &plain), RC_OK);
    assert_int_equal(rc_census_new_nodes(plain, gb, NULL, &ids, &n), RC_EINVAL);
    rc_census_free(plain);
    rc_census_free(a);
    rc_graph_free(ga);
    rc_graph_free(gb);
}

static void
test_many_objects_identity_set(void **state)
{
    (void)state;
    /* Addresses spread over many radix digits. */
    enum { N = 70000 };
    rc_graph *g = NULL;
    assert_int_equal(build_graph(N, NULL, 0, NULL, NULL, &g), RC_OK);
    rc_census *c = NULL;
    assert_int_equal(rc_census_of(g, RC_CENSUS_WITH_IDS, &c), RC_OK);
    for (unsigned i = 0; i < N; i += 7) {
        assert_true(rc_census_has_object(c, FAKE(i), 0x1000));
    }
    assert_false(rc_census_has_object(c, FAKE(N), 0x1000));
    assert_false(rc_census_has_object(c, 8, 0x1000));
    rc_census_free(c);
    rc_graph_free(g);
}

static void
test_mark_types_by_short_and_qualified_name(void **state)
{
    (void)state;
    const unsigned types[] = {0, 1, 2, 3, 4};
    rc_graph *g = graph_of(5, types);
    unsigned char mask[5];
    assert_int_equal(rc_graph_mark_types(g, "Leaky", mask), 3);
    assert_int_equal(rc_graph_mark_types(g, "mod.Leaky", mask), 2);
    assert_int_equal(rc_graph_mark_types(g, "pkg.Leaky", mask), 1);
    assert_int_equal(rc_graph_mark_types(g, "builtins.bytes", mask), 1);
    assert_true(mask[1]);
    assert_int_equal(rc_graph_mark_types(g, "bytes", mask), 1);
    assert_int_equal(rc_graph_mark_types(g, "NoSuchType", mask), 0);
    assert_int_equal(rc_graph_mark_types(g, "", mask), 0);
    rc_graph_free(g);
}

/* Types sharing a name are one class, numbered by the smallest type id:
 * nodes typed pkg.Leaky, mod.Leaky, int, bytes, mod.Leaky intern type ids
 * 0..4 in that order. */
static void
test_type_classes_by_qualified_and_short_name(void **state)
{
    (void)state;
    const unsigned types[] = {4, 3, 2, 1, 0};
    rc_graph *g = graph_of(5, types);
    uint32_t canon[5];
    assert_int_equal(rc_graph_type_classes(g, 0, canon), RC_OK);
    const uint32_t qualified[] = {0, 1, 2, 3, 1};
    assert_memory_equal(canon, qualified, sizeof qualified);
    assert_int_equal(rc_graph_type_classes(g, RC_CENSUS_SHORT_NAMES, canon), RC_OK);
    const uint32_t shortnames[] = {0, 0, 2, 3, 0};
    assert_memory_equal(canon, shortnames, sizeof shortnames);
    use_counting_allocator();
    rc_alloc_fail_after(0);
    const uint32_t before[5] = {9, 9, 9, 9, 9};
    memcpy(canon, before, sizeof before);
    assert_int_equal(rc_graph_type_classes(g, 0, canon), RC_ENOMEM);
    assert_memory_equal(canon, before, sizeof before);
    assert_int_equal(live_blocks, 0);
    rc_alloc_fail_after(-1);
    use_default_allocator();
    rc_graph_free(g);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    const unsigned types[] = {0, 1, 1, 2, 3, 4, 1, 2};
    rc_graph *g = graph_of(8, types);
    rc_graph *g2 = graph_of(5, types);
    use_counting_allocator();
    int failures = 0, done = 0;
    for (long k = 0; !done; k++) {
        rc_alloc_fail_after(k);
        rc_census *a = NULL, *b = NULL, *peaks = NULL;
        rc_diff *d = NULL, *gr = NULL;
        rc_id *ids = NULL;
        size_t n = 0;
        rc_status st = rc_census_of(g, RC_CENSUS_WITH_IDS, &a);
        if (st == RC_OK) {
            st = rc_census_of(g2, 0, &b);
        }
        if (st == RC_OK) {
            st = rc_census_diff(b, a, &d);
        }
        if (st == RC_OK) {
            st = rc_census_growth(b, a, &peaks, &gr);
        }
        if (st == RC_OK) {
            st = rc_census_new_nodes(a, g2, NULL, &ids, &n);
        }
        if (st == RC_OK) {
            done = 1;
            assert_int_equal(rc_diff_len(d), 3); /* bytes, int, pkg.Leaky */
            assert_int_equal(n, 0);
        } else {
            assert_int_equal(st, RC_ENOMEM);
            failures++;
        }
        rc_census_free(a);
        rc_census_free(b);
        rc_census_free(peaks);
        rc_diff_free(d);
        rc_diff_free(gr);
        rc_free(ids);
        assert_int_equal(live_blocks, 0);
    }
    assert_true(failures >= 10);
    use_default_allocator();
    rc_graph_free(g);
    rc_graph_free(g2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_bytes_and_merged_names),
        cmocka_unit_test(test_order_by_count),
        cmocka_unit_test(test_diff_is_sorted_by_count_delta),
        cmocka_unit_test(test_growth_follows_peaks),
        cmocka_unit_test(test_new_nodes_since_a_census),
        cmocka_unit_test(test_many_objects_identity_set),
        cmocka_unit_test(test_mark_types_by_short_and_qualified_name),
        cmocka_unit_test(test_type_classes_by_qualified_and_short_name),
        cmocka_unit_test(test_allocation_failure_at_every_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
