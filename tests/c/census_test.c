/* census_test: counts and bytes per type, name merging, short names, equality, diffs,
 * objgraph-style growth peaks, new objects since a census (grouped by growth
 * row), show_growth's answer, and allocation failure. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/census.h"
#include "refchain/select.h"
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

    /* The tool's own running frames are left out on request. */
    const unsigned flags[] = {0, RC_NODE_TOOL_FRAME, 0, 0, 0, 0};
    const test_attrs attrs = {NULL, flags, NULL};
    rc_graph *tg = NULL;
    assert_int_equal(build_graph_ex(6, NULL, 0, types, NAMES, &attrs, &tg), RC_OK);
    assert_int_equal(rc_census_of(tg, RC_CENSUS_NO_TOOL_FRAMES, &c), RC_OK);
    assert_int_equal(rc_census_find(c, "bytes")->count, 1);
    assert_int_equal(rc_census_total_count(c), 5);
    rc_census_free(c);
    assert_int_equal(rc_census_of(tg, 0, &c), RC_OK);
    assert_int_equal(rc_census_find(c, "bytes")->count, 2);
    rc_census_free(c);
    rc_graph_free(tg);

    /* Short names merge mod.Leaky and pkg.Leaky. */
    assert_int_equal(rc_census_of(g, RC_CENSUS_SHORT_NAMES, &c), RC_OK);
    assert_int_equal(rc_census_len(c), 3);
    assert_int_equal(rc_census_find(c, "Leaky")->count, 3);
    rc_census_free(c);
    rc_graph_free(g);
}

/* Equal censuses have the same rows in the same order: name, count and
 * bytes each count, the remembered identities do not. */
static void
test_equal_compares_every_row(void **state)
{
    (void)state;
    const unsigned types[] = {0, 1, 1, 2}, fewer[] = {0, 1, 1},
                   renamed[] = {4, 1, 1, 2};
    rc_graph *g = graph_of(4, types), *h = graph_of(4, types);
    rc_graph *short_g = graph_of(3, fewer), *other = graph_of(4, renamed);
    rc_census *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    assert_int_equal(rc_census_of(g, 0, &a), RC_OK);
    assert_int_equal(rc_census_of(h, RC_CENSUS_WITH_IDS, &b), RC_OK);
    assert_int_equal(rc_census_of(short_g, 0, &c), RC_OK);
    assert_int_equal(rc_census_of(other, 0, &d), RC_OK);
    assert_true(rc_census_equal(a, a));
    assert_true(rc_census_equal(a, b) && rc_census_equal(b, a));
    assert_false(rc_census_equal(a, c) || rc_census_equal(c, a)); /* a row fewer */
    assert_false(rc_census_equal(a, d));                          /* a name differs */
    /* The same names but for one count, then the same counts but for
     * sizes (node i's size is 10 * (i + 1)). */
    const unsigned more[] = {0, 1, 1, 1}, moved[] = {1, 0, 1, 2};
    rc_graph *counted = graph_of(4, more), *sized = graph_of(4, moved);
    rc_census *e = NULL, *f = NULL;
    assert_int_equal(rc_census_of(counted, 0, &e), RC_OK);
    assert_int_equal(rc_census_of(sized, 0, &f), RC_OK);
    assert_false(rc_census_equal(a, e));
    assert_false(rc_census_equal(a, f));
    rc_census_free(a);
    rc_census_free(b);
    rc_census_free(c);
    rc_census_free(d);
    rc_census_free(e);
    rc_census_free(f);
    rc_graph_free(g);
    rc_graph_free(h);
    rc_graph_free(short_g);
    rc_graph_free(other);
    rc_graph_free(counted);
    rc_graph_free(sized);
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

    /* With a later census: only what it counted too (nodes 6 and 7 came
     * after it), and neither census may have forgotten its objects. */
    rc_graph *gu = graph_of(6, after_t);
    rc_census *until = NULL, *until_plain = NULL;
    assert_int_equal(rc_census_of(gu, RC_CENSUS_WITH_IDS, &until), RC_OK);
    assert_int_equal(rc_census_new_nodes_until(a, until, gb, NULL, &ids, &n), RC_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ids[i], want[i]);
    }
    rc_free(ids);
    assert_int_equal(rc_census_new_nodes_until(a, NULL, gb, NULL, &ids, &n), RC_OK);
    assert_int_equal(n, 5);
    rc_free(ids);
    assert_int_equal(rc_census_of(gu, 0, &until_plain), RC_OK);
    assert_int_equal(rc_census_new_nodes_until(a, until_plain, gb, NULL, &ids, &n), RC_EINVAL);
    rc_census_free(until_plain);
    rc_census_free(until);
    rc_graph_free(gu);

    /* The tool's own running frames are never new, nor are CPython's small
     * ints (7), which only became reachable. */
    const unsigned flags[] = {0, 0, 0, 0, RC_NODE_TOOL_FRAME, 0, RC_NODE_THREAD_FRAME,
                              RC_NODE_SMALL_INT};
    const test_attrs attrs = {.node_flags = flags};
    rc_graph *gc = NULL;
    assert_int_equal(build_graph_ex(8, NULL, 0, after_t, NAMES, &attrs, &gc), RC_OK);
    assert_int_equal(rc_census_new_nodes(a, gc, NULL, &ids, &n), RC_OK);
    assert_int_equal(n, 3);
    const rc_id want_c[] = {3, 5, 6};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ids[i], want_c[i]);
    }
    rc_free(ids);
    rc_graph_free(gc);

    /* Forgetting the identities keeps the counts and refuses the question. */
    uint64_t total = rc_census_total_count(a);
    rc_census_forget_ids(a);
    assert_int_equal(rc_census_id_count(a), 0);
    assert_int_equal(rc_census_total_count(a), total);
    assert_int_equal(rc_census_new_nodes(a, gb, NULL, &ids, &n), RC_EINVAL);
    rc_census_forget_ids(a); /* twice is a no-op */

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

/* Growth rows and the new objects behind them.  Before: nodes typed bytes,
 * int, mod.Leaky; after, the same three plus six new ones.  The after
 * graph interns type ids 0..4 as bytes, int, mod.Leaky, pkg.Leaky,
 * mod.Leaky (the second class of that name). */
static const unsigned GROW_BEFORE[] = {1, 2, 0};
static const unsigned GROW_AFTER[] = {1, 2, 0, 4, 1, 3, 4, 1, 2};

static void
grow_setup(unsigned flags, rc_graph **ga, rc_graph **gb, rc_census **a, rc_diff **d)
{
    rc_census *b = NULL, *peaks = NULL;
    *ga = graph_of(3, GROW_BEFORE);
    *gb = graph_of(9, GROW_AFTER);
    assert_int_equal(rc_census_of(*ga, RC_CENSUS_WITH_IDS | flags, a), RC_OK);
    assert_int_equal(rc_census_of(*gb, flags, &b), RC_OK);
    assert_int_equal(rc_census_growth(*a, b, &peaks, d), RC_OK);
    rc_census_free(b);
    rc_census_free(peaks);
}

static void
test_rows_of_types_by_qualified_and_short_name(void **state)
{
    (void)state;
    rc_graph *ga, *gb;
    rc_census *a;
    rc_diff *d;
    grow_setup(0, &ga, &gb, &a, &d);
    /* bytes +2 (130 B), pkg.Leaky +2 (110 B), int +1 (90 B), mod.Leaky +1. */
    assert_int_equal(rc_diff_len(d), 4);
    assert_string_equal(rc_diff_row_at(d, 1)->name, "pkg.Leaky");
    assert_string_equal(rc_diff_row_at(d, 3)->name, "mod.Leaky");
    uint32_t row[5];
    assert_int_equal(rc_diff_rows_of_types(d, 4, gb, 0, row), RC_OK);
    const uint32_t all[] = {0, 2, 3, 1, 3};
    assert_memory_equal(row, all, sizeof all);
    assert_int_equal(rc_diff_rows_of_types(d, 2, gb, 0, row), RC_OK);
    const uint32_t two[] = {0, UINT32_MAX, UINT32_MAX, 1, UINT32_MAX};
    assert_memory_equal(row, two, sizeof two);
    assert_int_equal(rc_diff_rows_of_types(d, 0, gb, 0, row), RC_OK);
    for (size_t t = 0; t < 5; t++) {
        assert_int_equal(row[t], UINT32_MAX);
    }
    rc_census_free(a);
    rc_diff_free(d);
    rc_graph_free(ga);
    rc_graph_free(gb);

    /* By __name__ the three Leaky classes are one row, the first. */
    grow_setup(RC_CENSUS_SHORT_NAMES, &ga, &gb, &a, &d);
    assert_int_equal(rc_diff_len(d), 3);
    assert_string_equal(rc_diff_row_at(d, 0)->name, "Leaky");
    assert_int_equal(rc_diff_rows_of_types(d, 3, gb, RC_CENSUS_SHORT_NAMES, row), RC_OK);
    const uint32_t shorts[] = {1, 2, 0, 0, 0};
    assert_memory_equal(row, shorts, sizeof shorts);
    rc_census_free(a);
    rc_diff_free(d);
    rc_graph_free(ga);
    rc_graph_free(gb);
}

static void
test_new_objects_grouped_by_row(void **state)
{
    (void)state;
    rc_graph *ga, *gb;
    rc_census *a, *plain = NULL;
    rc_diff *d;
    grow_setup(0, &ga, &gb, &a, &d);
    rc_id *ids = NULL;
    size_t *start = NULL;
    assert_int_equal(rc_census_new_by_row(a, gb, d, 4, 0, &ids, &start), RC_OK);
    const size_t want_start[] = {0, 2, 4, 5, 6};
    const rc_id want[] = {4, 7, 3, 6, 8, 5};
    assert_memory_equal(start, want_start, sizeof want_start);
    assert_memory_equal(ids, want, sizeof want);
    rc_free(ids);
    rc_free(start);
    /* Fewer rows: only theirs; more rows than the diff has: capped. */
    assert_int_equal(rc_census_new_by_row(a, gb, d, 2, 0, &ids, &start), RC_OK);
    assert_int_equal(start[2], 4);
    assert_memory_equal(ids, want, 4 * sizeof *ids);
    rc_free(ids);
    rc_free(start);
    assert_int_equal(rc_census_new_by_row(a, gb, d, 99, 0, &ids, &start), RC_OK);
    assert_memory_equal(start, want_start, sizeof want_start);
    rc_free(ids);
    rc_free(start);
    assert_int_equal(rc_census_new_by_row(a, gb, d, 0, 0, &ids, &start), RC_OK);
    assert_int_equal(start[0], 0);
    rc_free(ids);
    rc_free(start);
    ids = NULL;
    start = NULL;
    assert_int_equal(rc_census_of(ga, 0, &plain), RC_OK);
    assert_int_equal(rc_census_new_by_row(plain, gb, d, 4, 0, &ids, &start), RC_EINVAL);
    assert_null(ids);
    assert_null(start);

    /* Every allocation failure leaves the outputs untouched and nothing live. */
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_status st = rc_census_new_by_row(a, gb, d, 4, 0, &ids, &start);
        if (st == RC_OK) {
            assert_memory_equal(ids, want, sizeof want);
            rc_free(ids);
            rc_free(start);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(ids);
        assert_null(start);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 5);
    use_default_allocator();
    rc_census_free(plain);
    rc_census_free(a);
    rc_diff_free(d);
    rc_graph_free(ga);
    rc_graph_free(gb);
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

/* ---- a counter against the graph it would have built ---------------------- */

/* The walk build_graph_in() makes, into a builder or a counter: nodes
 * [0, n_seeds) are seeds, the others are found through the edges, and addresses listed in
 * `excluded` are left out.  Type t's key is 0x1000 + t. */
static rc_status
walk_into(rc_builder *b, unsigned n_seeds, const test_edge *edges, size_t n_edges,
          const unsigned *types, const unsigned *node_flags, const uintptr_t *excluded,
          size_t n_excluded)
{
    rc_status st = RC_OK;
    for (size_t i = 0; i < n_excluded && st == RC_OK; i++) {
        st = rc_builder_exclude(b, excluded[i]);
    }
    for (unsigned i = 0; i < n_seeds && st == RC_OK; i++) {
        st = rc_builder_seed(b, FAKE(i));
    }
    test_edge_index ix = test_edges_by_source(n_seeds, edges, n_edges);
    uintptr_t addr;
    unsigned nflags;
    while (st == RC_OK && rc_builder_next(b, &addr, &nflags, &st)) {
        unsigned id = (unsigned)(addr / 16 - 1);
        assert_true(id < ix.n);
        for (size_t k = ix.first[id]; k < ix.first[id + 1] && st == RC_OK; k++) {
            st = rc_builder_edge(b, FAKE(edges[ix.order[k]].to));
        }
        uint32_t tid = 0;
        const char *name = NAMES[types[id]], *dot = strrchr(name, '.');
        unsigned tflags = types[id] == 2 ? RC_TYPE_SIZE_LOWER_BOUND : 0;
        if (st == RC_OK) {
            st = rc_builder_type(b, 0x1000 + types[id], name, dot ? dot + 1 : name, tflags, &tid);
        }
        if (st == RC_OK) {
            st = rc_builder_close(b, tid, 10u * (id + 1), 1, node_flags ? node_flags[id] : 0);
        }
    }
    test_edge_index_free(&ix);
    return st;
}

static const unsigned *key_types; /* what key_of() reads: the walk's types */

static uintptr_t
key_of(uintptr_t addr)
{
    return 0x1000 + key_types[addr / 16 - 1];
}

static void
assert_same_census(const rc_census *a, const rc_census *b)
{
    assert_int_equal(rc_census_len(a), rc_census_len(b));
    for (size_t i = 0; i < rc_census_len(a); i++) {
        const rc_census_row *x = rc_census_row_at(a, i), *y = rc_census_row_at(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->count, y->count);
        assert_int_equal(x->bytes, y->bytes);
        assert_int_equal(x->bytes_lower_bound, y->bytes_lower_bound);
    }
    assert_int_equal(rc_census_total_count(a), rc_census_total_count(b));
    assert_int_equal(rc_census_total_bytes(a), rc_census_total_bytes(b));
    assert_int_equal(rc_census_id_count(a), rc_census_id_count(b));
}

static void
test_a_counter_counts_what_a_graph_holds(void **state)
{
    (void)state;
    enum { N = 3000, GRAPHS = 40 };
    unsigned *types = malloc(N * sizeof *types), *flags = malloc(N * sizeof *flags);
    test_edge *edges = malloc(4 * N * sizeof *edges);
    assert_true(types && flags && edges);
    srand(3);
    for (int round = 0; round < GRAPHS; round++) {
        unsigned n = 1 + (unsigned)rand() % N, n_seeds = 1 + (unsigned)rand() % n;
        size_t m = (size_t)rand() % (4 * n);
        for (unsigned i = 0; i < n; i++) {
            types[i] = (unsigned)rand() % 5;
            flags[i] = rand() % 20 == 0 ? RC_NODE_TOOL_FRAME : 0;
        }
        for (size_t e = 0; e < m; e++) {
            edges[e] = (test_edge){(unsigned)rand() % n, (unsigned)rand() % n};
        }
        const uintptr_t excluded[] = {FAKE(n / 2), FAKE(n / 3)};
        size_t n_excluded = (size_t)(round % 3);
        unsigned cflags = (unsigned)(round % 8) & (RC_CENSUS_SHORT_NAMES | RC_CENSUS_WITH_IDS |
                                                  RC_CENSUS_NO_TOOL_FRAMES);
        cflags |= RC_CENSUS_WITH_IDS * (round % 2);

        rc_builder *b = rc_builder_new(0);
        assert_int_equal(walk_into(b, n_seeds, edges, m, types, flags, excluded, n_excluded), RC_OK);
        rc_graph *g = NULL;
        assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
        rc_census *want = NULL, *got = NULL;
        assert_int_equal(rc_census_of(g, cflags, &want), RC_OK);

        rc_builder *c = rc_builder_new_counter();
        assert_int_equal(walk_into(c, n_seeds, edges, m, types, flags, excluded, n_excluded), RC_OK);
        assert_int_equal(rc_builder_node_count(c), rc_graph_node_count(g));
        rc_graph *none = NULL;
        key_types = types;
        assert_int_equal(rc_census_of_counter(c, key_of, cflags, &got), RC_OK);
        assert_same_census(want, got);

        if (cflags & RC_CENSUS_WITH_IDS) {
            /* The same objects remembered, with their types: a node whose
             * type changed, and one never seen, are not. */
            assert_int_equal(rc_census_sort_ids(want), RC_OK);
            assert_int_equal(rc_census_sort_ids(got), RC_OK);
            for (unsigned i = 0; i < n; i++) {
                for (unsigned t = 0; t < 5; t += 2) {
                    assert_int_equal(rc_census_has_object(got, FAKE(i), 0x1000 + t),
                                     rc_census_has_object(want, FAKE(i), 0x1000 + t));
                }
            }
            assert_false(rc_census_has_object(got, FAKE(n + 5), 0x1000 + types[0]));
            rc_id *ids_want = NULL, *ids_got = NULL;
            size_t n_want = 0, n_got = 0;
            assert_int_equal(rc_census_new_nodes(want, g, NULL, &ids_want, &n_want), RC_OK);
            assert_int_equal(rc_census_new_nodes(got, g, NULL, &ids_got, &n_got), RC_OK);
            assert_int_equal(n_got, n_want);
            assert_int_equal(n_got, 0);
            rc_free(ids_want);
            rc_free(ids_got);
            rc_census_forget_ids(got);
            assert_int_equal(rc_census_id_count(got), 0);
            assert_int_equal(rc_census_new_nodes(got, g, NULL, &ids_got, &n_got), RC_EINVAL);
        }
        /* A counter freezes into no graph. */
        assert_int_equal(rc_builder_freeze(c, &none), RC_EINVAL);
        assert_null(none);
        rc_census_free(want);
        rc_census_free(got);
        rc_graph_free(g);
    }
    free(types);
    free(flags);
    free(edges);
}

/* A counter walk of n nodes from n_seeds seeds, failing at every
 * allocation in turn: each failure is RC_ENOMEM and frees everything. */
static void
counter_fails_cleanly(unsigned n, unsigned n_seeds, int min_failures)
{
    unsigned *types = malloc(n * sizeof *types);
    test_edge *edges = malloc(2 * (size_t)n * sizeof *edges);
    assert_true(types && edges);
    for (unsigned i = 0; i < n; i++) {
        types[i] = i % 5;
        edges[2 * i] = (test_edge){i, (i * 7 + 1) % n};
        edges[2 * i + 1] = (test_edge){i, (i + 1) % n};
    }
    rc_graph *g = NULL;
    rc_builder *b = rc_builder_new(0);
    assert_int_equal(walk_into(b, n_seeds, edges, 2 * n, types, NULL, NULL, 0), RC_OK);
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    rc_census *want = NULL;
    assert_int_equal(rc_census_of(g, RC_CENSUS_WITH_IDS, &want), RC_OK);
    key_types = types;
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_census *got = NULL;
        rc_builder *c = rc_builder_new_counter();
        rc_status st = c ? walk_into(c, n_seeds, edges, 2 * n, types, NULL, NULL, 0) : RC_ENOMEM;
        if (st == RC_OK) {
            st = rc_census_of_counter(c, key_of, RC_CENSUS_WITH_IDS, &got);
        }
        rc_builder_free(c);
        if (st == RC_OK) {
            rc_alloc_fail_after(-1);
            assert_same_census(want, got);
            assert_true(rc_census_has_object(got, FAKE(n - 1), 0x1000 + types[n - 1]));
            rc_census_free(got);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(got);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= min_failures);
    use_default_allocator();
    rc_census_free(want);
    rc_graph_free(g);
    free(types);
    free(edges);
}

static void
test_a_counter_fails_cleanly_at_every_allocation(void **state)
{
    (void)state;
    counter_fails_cleanly(600, 3, 8);
    /* 20,000 seeds waiting at once: the stack of objects to expand grows
     * twice past its first block. */
    counter_fails_cleanly(20000, 20000, 10);
}

static int
cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

/* The new objects of a counter's census, by growth row, are the nodes that
 * rc_census_new_by_row() finds in the graph of the same walk: objects that
 * appeared, and objects whose type changed at an address, but never the
 * tool's running frames; and it fails cleanly at every allocation. */
static void
test_new_addresses_by_row_are_the_graphs_new_nodes(void **state)
{
    (void)state;
    enum { N = 2000 };
    unsigned *old_types = malloc(N * sizeof *old_types), *types = malloc(N * sizeof *types);
    unsigned *flags = malloc(N * sizeof *flags);
    assert_true(old_types && types && flags);
    size_t total_new = 0;
    srand(11);
    for (int round = 0; round < 24; round++) {
        unsigned n_old = 1 + (unsigned)rand() % (N / 2), n = n_old + (unsigned)rand() % (N / 2);
        for (unsigned i = 0; i < N; i++) {
            old_types[i] = (unsigned)rand() % 5;
            types[i] = rand() % 8 == 0 ? (unsigned)rand() % 5 : old_types[i];
            flags[i] = rand() % 25 == 0 ? RC_NODE_TOOL_FRAME : 0;
        }
        unsigned cflags = RC_CENSUS_WITH_IDS | (round % 2 ? RC_CENSUS_SHORT_NAMES : 0);
        /* Every node a seed: the old walk's n_old nodes, the new one's n. */
        rc_builder *b = rc_builder_new(0);
        assert_int_equal(walk_into(b, n_old, NULL, 0, old_types, flags, NULL, 0), RC_OK);
        rc_graph *old_g = NULL, *g = NULL;
        assert_int_equal(rc_builder_freeze(b, &old_g), RC_OK);
        b = rc_builder_new(0);
        assert_int_equal(walk_into(b, n, NULL, 0, types, flags, NULL, 0), RC_OK);
        assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
        rc_census *since = NULL, *now_g = NULL, *now = NULL;
        assert_int_equal(rc_census_of(old_g, cflags, &since), RC_OK);
        assert_int_equal(rc_census_of(g, cflags, &now_g), RC_OK);
        rc_builder *c = rc_builder_new_counter();
        assert_int_equal(walk_into(c, n, NULL, 0, types, flags, NULL, 0), RC_OK);
        key_types = types;
        assert_int_equal(rc_census_of_counter(c, key_of, cflags, &now), RC_OK);
        rc_builder_free(c);
        rc_diff *d = NULL;
        assert_int_equal(rc_census_diff(since, now_g, &d), RC_OK);
        size_t rows = (size_t)round % 4 == 0 ? rc_diff_len(d) + 2 : (size_t)round % 4;

        rc_id *ids = NULL;
        uintptr_t *addrs = NULL;
        size_t *start_g = NULL, *start = NULL;
        assert_int_equal(rc_census_new_by_row(since, g, d, rows, cflags, &ids, &start_g), RC_OK);
        if (round == 5) {
            use_counting_allocator();
            for (long k = 0;; k++) {
                rc_alloc_fail_after(k);
                rc_status st = rc_census_new_addrs_by_row(since, now, d, rows, &addrs, &start);
                rc_alloc_fail_after(-1);
                if (st == RC_OK) {
                    break;
                }
                assert_int_equal(st, RC_ENOMEM);
                assert_null(addrs);
            }
            rc_free(addrs);
            rc_free(start);
            addrs = NULL;
            start = NULL;
            use_default_allocator();
        }
        assert_int_equal(rc_census_new_addrs_by_row(since, now, d, rows, &addrs, &start), RC_OK);
        size_t shown = rows < rc_diff_len(d) ? rows : rc_diff_len(d);
        assert_int_equal(start[shown], start_g[shown]);
        total_new += start[shown];
        for (size_t r = 0; r < shown; r++) {
            size_t k = start_g[r + 1] - start_g[r];
            assert_int_equal(start[r + 1] - start[r], k);
            uintptr_t *want = malloc((k ? k : 1) * sizeof *want);
            assert_non_null(want);
            for (size_t i = 0; i < k; i++) {
                want[i] = rc_graph_addr(g, ids[start_g[r] + i]);
                assert_false(rc_graph_flags(g, ids[start_g[r] + i]) & RC_NODE_TOOL_FRAME);
            }
            qsort(want, k, sizeof *want, cmp_addr);
            for (size_t i = 0; i < k; i++) {
                assert_int_equal(addrs[start[r] + i], want[i]); /* address order */
            }
            free(want);
        }
        /* A census that does not remember its objects cannot answer. */
        rc_census *bare = NULL;
        assert_int_equal(rc_census_of(g, cflags & ~RC_CENSUS_WITH_IDS, &bare), RC_OK);
        uintptr_t *none = NULL;
        size_t *none_start = NULL;
        assert_int_equal(rc_census_new_addrs_by_row(since, bare, d, rows, &none, &none_start),
                         RC_EINVAL);
        assert_int_equal(rc_census_new_addrs_by_row(bare, now, d, rows, &none, &none_start),
                         RC_EINVAL);
        assert_null(none);
        rc_census_free(bare);
        rc_free(ids);
        rc_free(start_g);
        rc_free(addrs);
        rc_free(start);
        rc_diff_free(d);
        rc_census_free(since);
        rc_census_free(now_g);
        rc_census_free(now);
        rc_graph_free(old_g);
        rc_graph_free(g);
    }
    assert_true(total_new > 1000);
    free(old_types);
    free(types);
    free(flags);
}

/* A counter's census of GROW_AFTER (nodes FAKE(0..8)), as the live heap's
 * growth takes it. */
static rc_census *
grow_counter_census(void)
{
    rc_builder *c = rc_builder_new_counter();
    assert_non_null(c);
    assert_int_equal(walk_into(c, 9, NULL, 0, GROW_AFTER, NULL, NULL, 0), RC_OK);
    key_types = GROW_AFTER;
    rc_census *now = NULL;
    assert_int_equal(rc_census_of_counter(c, key_of, RC_CENSUS_WITH_IDS, &now), RC_OK);
    rc_builder_free(c);
    return now;
}

/* show_growth's answer: the census of a graph (or the counter's census
 * given), its growth over the peaks, the rows up to the limit, and with
 * `since` their new objects by row, as node ids from a graph and as
 * addresses from a counter; each allocation failure leaves *out untouched
 * and nothing allocated, the counter's census given included. */
static void
test_growth_answer(void **state)
{
    (void)state;
    rc_graph *ga = graph_of(3, GROW_BEFORE), *gb = graph_of(9, GROW_AFTER);
    rc_census *a = NULL, *b = NULL, *plain = NULL;
    assert_int_equal(rc_census_of(ga, RC_CENSUS_WITH_IDS, &a), RC_OK);
    assert_int_equal(rc_census_of(gb, RC_CENSUS_WITH_IDS, &b), RC_OK);
    assert_int_equal(rc_census_of(ga, 0, &plain), RC_OK);
    const size_t want_start[] = {0, 2, 4, 5, 6};
    const rc_id want[] = {4, 7, 3, 6, 8, 5};
    rc_growth gr = {0};
    assert_int_equal(
        rc_census_growth_answer(gb, NULL, a, a, RC_CENSUS_WITH_IDS, 99, &gr), RC_OK);
    assert_true(rc_census_equal(gr.now, b));
    assert_int_equal(rc_census_len(gr.new_peaks), 4);
    assert_int_equal(rc_diff_len(gr.diff), 4);
    assert_int_equal(gr.rows, 4);
    assert_memory_equal(gr.row_start, want_start, sizeof want_start);
    assert_memory_equal(gr.ids, want, sizeof want);
    assert_null(gr.addrs);
    rc_growth_free(&gr);
    assert_null(gr.now);
    /* The limit caps the rows; no limit or no `since`: no objects. */
    assert_int_equal(
        rc_census_growth_answer(gb, NULL, a, a, RC_CENSUS_WITH_IDS, 2, &gr), RC_OK);
    assert_int_equal(gr.rows, 2);
    assert_int_equal(gr.row_start[2], 4);
    assert_memory_equal(gr.ids, want, 4 * sizeof *gr.ids);
    rc_growth_free(&gr);
    assert_int_equal(
        rc_census_growth_answer(gb, NULL, a, a, RC_CENSUS_WITH_IDS, 0, &gr), RC_OK);
    assert_int_equal(gr.rows, 0);
    assert_null(gr.row_start);
    assert_int_equal(rc_diff_len(gr.diff), 4);
    rc_growth_free(&gr);
    assert_int_equal(
        rc_census_growth_answer(gb, NULL, NULL, NULL, RC_CENSUS_WITH_IDS, 3, &gr),
        RC_OK);
    assert_int_equal(gr.rows, 3); /* no peaks yet: every type grew */
    assert_null(gr.row_start);
    assert_null(gr.ids);
    rc_growth_free(&gr);
    /* From a counter's census: the same rows, the new objects' addresses. */
    assert_int_equal(rc_census_growth_answer(NULL, grow_counter_census(), a, a,
                                             RC_CENSUS_WITH_IDS, 99, &gr),
                     RC_OK);
    assert_true(rc_census_equal(gr.now, b));
    assert_memory_equal(gr.row_start, want_start, sizeof want_start);
    const uintptr_t want_addrs[] = {FAKE(4), FAKE(7), FAKE(3),
                                    FAKE(6), FAKE(8), FAKE(5)};
    assert_memory_equal(gr.addrs, want_addrs, sizeof want_addrs);
    assert_null(gr.ids);
    rc_growth_free(&gr);
    /* A `since` that does not remember its objects cannot answer. */
    const rc_growth untouched = {.rows = 77};
    gr = untouched;
    assert_int_equal(
        rc_census_growth_answer(gb, NULL, a, plain, RC_CENSUS_WITH_IDS, 99, &gr),
        RC_EINVAL);
    assert_int_equal(gr.rows, 77);
    assert_null(gr.now);
    use_counting_allocator();
    for (int counted = 0; counted < 2; counted++) {
        int failures = 0;
        for (long k = 0;; k++) {
            long before = live_blocks;
            rc_census *now = counted ? grow_counter_census() : NULL;
            gr = untouched;
            rc_alloc_fail_after(k);
            rc_status st = rc_census_growth_answer(counted ? NULL : gb, now, a, a,
                                                   RC_CENSUS_WITH_IDS, 99, &gr);
            rc_alloc_fail_after(-1);
            if (st == RC_OK) {
                assert_memory_equal(gr.row_start, want_start, sizeof want_start);
                rc_growth_free(&gr);
                assert_int_equal(live_blocks, before);
                break;
            }
            assert_int_equal(st, RC_ENOMEM);
            assert_int_equal(gr.rows, 77);
            assert_null(gr.now);
            assert_int_equal(live_blocks, before);
            failures++;
        }
        assert_true(failures >= 4); /* the census, the growth, the objects by row */
    }
    use_default_allocator();
    rc_census_free(a);
    rc_census_free(b);
    rc_census_free(plain);
    rc_graph_free(ga);
    rc_graph_free(gb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_bytes_and_merged_names),
        cmocka_unit_test(test_equal_compares_every_row),
        cmocka_unit_test(test_order_by_count),
        cmocka_unit_test(test_diff_is_sorted_by_count_delta),
        cmocka_unit_test(test_growth_follows_peaks),
        cmocka_unit_test(test_new_nodes_since_a_census),
        cmocka_unit_test(test_many_objects_identity_set),
        cmocka_unit_test(test_rows_of_types_by_qualified_and_short_name),
        cmocka_unit_test(test_new_objects_grouped_by_row),
        cmocka_unit_test(test_allocation_failure_at_every_point),
        cmocka_unit_test(test_a_counter_counts_what_a_graph_holds),
        cmocka_unit_test(test_a_counter_fails_cleanly_at_every_allocation),
        cmocka_unit_test(test_new_addresses_by_row_are_the_graphs_new_nodes),
        cmocka_unit_test(test_growth_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
