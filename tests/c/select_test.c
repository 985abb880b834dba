/* select_test: type selection by objgraph's name rules and by key, the
 * nodes and counts a mask selects, selection by address (as a list or a
 * set), numbering types by name, the by-type partition, and allocation
 * failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/select.h"
#include "testutil.h"

/* Types 0 and 3 share the name "mod.Leaky" (a class defined twice), and
 * 5 and 7 "x.Foo". */
static const char *const NAMES[] = {"mod.Leaky", "bytes", "int",   "mod.Leaky",
                                    "pkg.Leaky", "x.Foo", "y.Bar", "x.Foo"};

static rc_graph *
graph_of(unsigned n, const unsigned *types, const unsigned *node_flags)
{
    rc_graph *g = NULL;
    const test_attrs attrs = {.node_flags = node_flags};
    assert_int_equal(build_graph_ex(n, NULL, 0, types, NAMES, &attrs, &g), RC_OK);
    return g;
}

static void
test_mark_types_by_short_and_qualified_name(void **state)
{
    (void)state;
    const unsigned types[] = {0, 1, 2, 3, 4};
    rc_graph *g = graph_of(5, types, NULL);
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

/* Nodes typed mod.Leaky, bytes, mod.Leaky (the other class), bytes, int,
 * mod.Leaky: type ids 0..3 are mod.Leaky, bytes, mod.Leaky, int. */
static void
test_mask_count_and_nodes(void **state)
{
    (void)state;
    const unsigned types[] = {0, 1, 3, 1, 2, 0};
    const unsigned flags[] = {0, 0, 0, RC_NODE_TOOL_FRAME, 0, RC_NODE_TOOL_FRAME};
    rc_graph *g = graph_of(6, types, flags);
    unsigned char *mask = NULL;
    size_t marked = 99, n = 99;
    rc_id *ids = NULL;

    rc_type_query by_name = {RC_MATCH_NAME, "mod.Leaky", 0};
    assert_int_equal(rc_select_mask(g, &by_name, &mask, &marked), RC_OK);
    assert_int_equal(marked, 2);
    assert_int_equal(rc_select_count(g, mask), 3);
    assert_int_equal(rc_select_nodes(g, mask, 0, &ids, &n), RC_OK);
    const rc_id all[] = {0, 2, 5};
    assert_int_equal(n, 3);
    assert_memory_equal(ids, all, sizeof all);
    rc_free(ids);
    assert_int_equal(rc_select_nodes(g, mask, RC_NODE_TOOL_FRAME, &ids, &n), RC_OK);
    assert_int_equal(n, 2); /* node 5 is a tool frame */
    assert_memory_equal(ids, all, 2 * sizeof *ids);
    rc_free(ids);
    rc_free(mask);

    /* By key: only the second mod.Leaky class (test key 0x1000 + 3). */
    rc_type_query by_key = {RC_MATCH_KEY, NULL, 0x1003};
    assert_int_equal(rc_select_mask(g, &by_key, &mask, &marked), RC_OK);
    assert_int_equal(marked, 1);
    assert_true(mask[2]);
    assert_int_equal(rc_select_count(g, mask), 1);
    rc_free(mask);

    rc_type_query nothing = {RC_MATCH_NOTHING, NULL, 0};
    assert_int_equal(rc_select_mask(g, &nothing, &mask, &marked), RC_OK);
    assert_int_equal(marked, 0);
    assert_int_equal(rc_select_count(g, mask), 0);
    assert_int_equal(rc_select_nodes(g, mask, 0, &ids, &n), RC_OK);
    assert_int_equal(n, 0);
    rc_free(ids);
    rc_free(mask);

    rc_type_query by_short = {RC_MATCH_NAME, "bytes", 0};
    assert_int_equal(rc_select_mask(g, &by_short, &mask, &marked), RC_OK);
    assert_int_equal(rc_select_count(g, mask), 2);
    rc_free(mask);
    rc_graph_free(g);
}

static void
test_select_addresses(void **state)
{
    (void)state;
    const unsigned types[] = {0, 1, 3, 1, 2};
    rc_graph *g = graph_of(5, types, NULL);
    /* Node 3 twice, an address no node has, node 0, node 4. */
    const uintptr_t addrs[] = {FAKE(3), FAKE(9), FAKE(0), FAKE(3), FAKE(4)};
    rc_id *ids = NULL;
    size_t n = 0;
    assert_int_equal(rc_select_addrs(g, addrs, 5, NULL, &ids, &n), RC_OK);
    const rc_id want[] = {3, 0, 3, 4};
    assert_int_equal(n, 4);
    assert_memory_equal(ids, want, sizeof want);
    rc_free(ids);
    const unsigned char bytes_only[] = {0, 1, 0, 0};
    assert_int_equal(rc_select_addrs(g, addrs, 5, bytes_only, &ids, &n), RC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 3);
    rc_free(ids);
    assert_int_equal(rc_select_addrs(g, addrs, 0, NULL, &ids, &n), RC_OK);
    assert_int_equal(n, 0);
    rc_free(ids);
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
    rc_graph *g = graph_of(5, types, NULL);
    uint32_t canon[5];
    assert_int_equal(rc_graph_type_classes(g, false, canon), RC_OK);
    const uint32_t qualified[] = {0, 1, 2, 3, 1};
    assert_memory_equal(canon, qualified, sizeof qualified);
    assert_int_equal(rc_graph_type_classes(g, true, canon), RC_OK);
    const uint32_t shortnames[] = {0, 0, 2, 3, 0};
    assert_memory_equal(canon, shortnames, sizeof shortnames);
    rc_graph_free(g);
}

/* Enough types to fill the hash table many times over, 700 names each
 * carried by several types. */
static void
test_type_classes_many_types(void **state)
{
    (void)state;
    enum { NT = 3000, NAMES_USED = 700 };
    static char buf[NT][16];
    static const char *names[NT];
    static unsigned types[NT];
    for (unsigned t = 0; t < NT; t++) {
        snprintf(buf[t], sizeof buf[t], "m.T%u", t % NAMES_USED);
        names[t] = buf[t];
        types[t] = t;
    }
    rc_graph *g = NULL;
    assert_int_equal(build_graph(NT, NULL, 0, types, names, &g), RC_OK);
    uint32_t *canon = malloc(NT * sizeof *canon);
    assert_int_equal(rc_graph_type_classes(g, false, canon), RC_OK);
    for (unsigned t = 0; t < NT; t++) {
        assert_int_equal(canon[t], t % NAMES_USED);
    }
    free(canon);
    rc_graph_free(g);
}

/* Nodes 0..9 typed x.Foo, y.Bar, x.Foo (the other class), bytes, bytes,
 * mod.Leaky, mod.Leaky (other class), int, pkg.Leaky, pkg.Leaky: type ids
 * 0..7 are x.Foo, y.Bar, x.Foo, bytes, mod.Leaky, mod.Leaky, int,
 * pkg.Leaky.  Node i is 10 * (i + 1) bytes. */
static const unsigned PART_TYPES[] = {5, 6, 7, 1, 1, 0, 3, 2, 4, 4};
static const rc_id PART_MEMBERS[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void
test_partition_by_type(void **state)
{
    (void)state;
    rc_graph *g = graph_of(10, PART_TYPES, NULL);
    rc_type_partition p = {0};
    assert_int_equal(rc_partition_by_type(g, PART_MEMBERS, 9, 4, &p), RC_OK);
    /* Ties by the smallest type id carrying the name: x.Foo's is 0, though
     * only its type 2 has members here; so x.Foo precedes y.Bar. */
    const rc_type_part want[] = {{3, 2, 90}, {4, 2, 130}, {7, 2, 190}, {0, 1, 30}};
    assert_int_equal(p.n_parts, 4);
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(p.parts[k].type, want[k].type);
        assert_int_equal(p.parts[k].count, want[k].count);
        assert_int_equal(p.parts[k].bytes, want[k].bytes);
    }
    assert_string_equal(rc_graph_type_name(g, p.parts[1].type), "mod.Leaky");
    const rc_id members[] = {2, 3, 4, 5, 6, 8, 9};
    const uint32_t part_of[] = {3, 0, 0, 1, 1, 2, 2};
    assert_int_equal(p.n_members, 7);
    assert_memory_equal(p.members, members, sizeof members);
    assert_memory_equal(p.part_of, part_of, sizeof part_of);
    rc_type_partition_clear(&p);
    assert_null(p.parts);
    assert_int_equal(p.n_members, 0);

    assert_int_equal(rc_partition_by_type(g, PART_MEMBERS, 9, SIZE_MAX, &p), RC_OK);
    assert_int_equal(p.n_parts, 6);
    assert_int_equal(p.parts[4].type, 1); /* y.Bar */
    assert_int_equal(p.parts[5].type, 6); /* int */
    assert_int_equal(p.n_members, 9);
    assert_memory_equal(p.members, PART_MEMBERS, sizeof PART_MEMBERS);
    rc_type_partition_clear(&p);

    assert_int_equal(rc_partition_by_type(g, PART_MEMBERS, 9, 0, &p), RC_OK);
    assert_int_equal(p.n_parts, 0);
    assert_int_equal(p.n_members, 0);
    rc_type_partition_clear(&p);
    assert_int_equal(rc_partition_by_type(g, PART_MEMBERS, 0, 5, &p), RC_OK);
    assert_int_equal(p.n_parts, 0);
    rc_type_partition_clear(&p);
    rc_type_partition_clear(&p); /* a zeroed partition is fine */
    rc_graph_free(g);
}

/* A set of addresses: one byte per node, each node counted once however
 * often it is given, and addresses outside the graph left out. */
static void
test_select_addr_set(void **state)
{
    (void)state;
    rc_graph *g = graph_of(10, PART_TYPES, NULL);
    const uintptr_t addrs[] = {FAKE(3), FAKE(9), FAKE(3), 8, FAKE(0), FAKE(99)};
    uint8_t *in_set = NULL;
    size_t count = 99;
    assert_int_equal(rc_select_addr_set(g, addrs, 6, &in_set, &count), RC_OK);
    assert_int_equal(count, 3);
    for (rc_id v = 0; v < 10; v++) {
        assert_int_equal(in_set[v], v == 0 || v == 3 || v == 9);
    }
    rc_free(in_set);
    assert_int_equal(rc_select_addr_set(g, NULL, 0, &in_set, &count), RC_OK);
    assert_int_equal(count, 0);
    assert_int_equal(in_set[0] + in_set[9], 0);
    rc_free(in_set);
    rc_graph_free(g);
}

/* Walk the failure point through every operation of the unit, one
 * allocation at a time: each fails with RC_ENOMEM, leaves its outputs
 * untouched and frees all it allocated, until all succeed. */
static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    rc_graph *g = graph_of(10, PART_TYPES, NULL);
    const uintptr_t addrs[] = {FAKE(3), FAKE(9), FAKE(0)}; /* bytes, pkg.Leaky, x.Foo */
    const rc_type_query q = {RC_MATCH_NAME, "Leaky", 0};
    use_counting_allocator();
    int failures = 0, done = 0;
    for (long k = 0; !done; k++) {
        rc_alloc_fail_after(k);
        unsigned char *mask = NULL;
        rc_id *ids = NULL, *found = NULL;
        size_t marked = 99, n = 99, nf = 99;
        uint32_t canon[8] = {0};
        rc_type_partition p = {0};
        uint8_t *in_set = NULL;
        size_t in_count = 99;
        rc_status st = rc_select_mask(g, &q, &mask, &marked);
        if (st == RC_OK) {
            st = rc_select_nodes(g, mask, 0, &ids, &n);
        }
        if (st == RC_OK) {
            st = rc_select_addrs(g, addrs, 3, mask, &found, &nf);
        }
        if (st == RC_OK) {
            st = rc_select_addr_set(g, addrs, 3, &in_set, &in_count);
        }
        if (st == RC_OK) {
            st = rc_graph_type_classes(g, true, canon);
        }
        if (st == RC_OK) {
            st = rc_partition_by_type(g, PART_MEMBERS, 9, 3, &p);
        }
        if (st == RC_OK) {
            done = 1;
            assert_int_equal(marked, 3);
            assert_int_equal(n, 4);
            assert_int_equal(nf, 1); /* node 9, a pkg.Leaky */
            assert_int_equal(in_count, 3);
            assert_int_equal(canon[5], 4);
            assert_int_equal(p.n_parts, 3);
        } else {
            assert_int_equal(st, RC_ENOMEM);
            failures++;
            /* What failed left its outputs as they were. */
            assert_null(p.parts);
            assert_int_equal(p.n_members, 0);
            assert_true(mask || marked == 99);
            assert_true(ids || n == 99);
            assert_true(found || nf == 99);
            assert_true(in_set || in_count == 99);
        }
        rc_free(in_set);
        rc_free(mask);
        rc_free(ids);
        rc_free(found);
        rc_type_partition_clear(&p);
        assert_int_equal(live_blocks, 0);
    }
    assert_true(failures >= 8);
    use_default_allocator();
    rc_graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark_types_by_short_and_qualified_name),
        cmocka_unit_test(test_mask_count_and_nodes),
        cmocka_unit_test(test_select_addresses),
        cmocka_unit_test(test_select_addr_set),
        cmocka_unit_test(test_type_classes_by_qualified_and_short_name),
        cmocka_unit_test(test_type_classes_many_types),
        cmocka_unit_test(test_partition_by_type),
        cmocka_unit_test(test_allocation_failure_at_every_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
