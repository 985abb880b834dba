/* scc_test: the iterative Tarjan on synthetic graphs: cycles, self loops,
 * nodes outside the set, a very long cycle, and allocation failure; and
 * the shortest cycle through a node. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/pool.h"
#include "refchain/scc.h"
#include "testutil.h"

static void
test_components_and_cycles(void **state)
{
    (void)state;
    /* 0 <-> 1 (a cycle), 2 -> 2 (a self loop), 3 -> 4 (no cycle),
     * 5 -> 6 -> 7 -> 5 but 6 is outside the set, 8 <-> 9 via 0? no: 8 -> 0. */
    const test_edge e[] = {{0, 1}, {1, 0}, {2, 2}, {3, 4}, {5, 6}, {6, 7}, {7, 5}, {8, 0}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(10, e, 8, NULL, NULL, &g), RC_OK);
    uint8_t in_set[10] = {1, 1, 1, 1, 1, 1, 0, 1, 1, 0};
    uint32_t *comp = NULL;
    size_t comp_bytes = 0;
    uint8_t *cyclic = NULL;
    size_t nc = 0;
    assert_int_equal(rc_scc(g, in_set, &comp, &comp_bytes, &nc, &cyclic), RC_OK);
    assert_int_equal(comp[0], comp[1]);
    assert_true(cyclic[comp[0]]);
    assert_true(cyclic[comp[2]]);
    assert_int_not_equal(comp[3], comp[4]);
    assert_false(cyclic[comp[3]]);
    assert_false(cyclic[comp[4]]);
    assert_int_not_equal(comp[5], comp[7]);  /* the cycle runs through 6 */
    assert_false(cyclic[comp[5]]);
    assert_int_equal(comp[6], RC_NO_COMPONENT);
    assert_int_equal(comp[9], RC_NO_COMPONENT);
    assert_false(cyclic[comp[8]]);
    /* {0,1} {2} {3} {4} {5} {7} {8} */
    assert_int_equal(nc, 7);
    rc_pool_free(comp, comp_bytes);
    rc_free(cyclic);
    rc_graph_free(g);
}

static void
test_a_cycle_a_million_long_needs_no_recursion(void **state)
{
    (void)state;
    enum { N = 1000000 };
    rc_builder *b = rc_builder_new(N);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(rc_builder_seed(b, FAKE(i)), RC_OK);
    }
    uintptr_t addr;
    unsigned nf;
    rc_status st;
    uint32_t tid;
    assert_int_equal(rc_builder_type(b, 1, "m.Node", "Node", 0, &tid), RC_OK);
    while (rc_builder_next(b, &addr, &nf, &st)) {
        unsigned id = (unsigned)(addr / 16 - 1);
        assert_int_equal(rc_builder_edge(b, FAKE((id + 1) % N)), RC_OK);
        assert_int_equal(rc_builder_close(b, tid, 1, 1, 0), RC_OK);
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    uint8_t *in_set = malloc(N);
    memset(in_set, 1, N);
    uint32_t *comp = NULL;
    size_t comp_bytes = 0;
    uint8_t *cyclic = NULL;
    size_t nc = 0;
    assert_int_equal(rc_scc(g, in_set, &comp, &comp_bytes, &nc, &cyclic), RC_OK);
    assert_int_equal(nc, 1);
    assert_true(cyclic[0]);
    assert_int_equal(comp[N - 1], 0);
    /* Its signature names the one type once. */
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    rc_cycle_group *groups = NULL;
    rc_id *members = NULL;
    size_t *start = NULL, ng = 0;
    uint32_t *group_of = NULL;
    assert_int_equal(
        rc_cycles_group(g, comp, nc, cyclic, &groups, &ng, &members, &start, &group_of), RC_OK);
    assert_int_equal(ng, 1);
    assert_int_equal(groups[0].cycles, 1);
    assert_int_equal(groups[0].objects, N);
    assert_int_equal(groups[0].n_types, 1);
    /* Its one cycle is a million references long; the first 64 are given. */
    rc_cycle_finder *f = rc_cycle_finder_new(g, comp);
    assert_non_null(f);
    rc_id *path = NULL;
    uint32_t *edge = NULL;
    size_t len = 0;
    assert_int_equal(rc_cycle_finder_find(f, 0, 64, &path, &edge, &len), RC_OK);
    assert_int_equal(len, N);
    assert_int_equal(path[0], 0);
    assert_int_equal(path[63], 63);
    assert_int_equal(edge[63], 0);
    assert_int_equal(path[64], 64); /* where the 64th reference leads */
    rc_free(path);
    rc_free(edge);
    rc_cycle_finder_free(f);
    rc_cycle_groups_free(groups, ng);
    rc_free(members);
    rc_free(start);
    rc_free(group_of);
    rc_pool_free(comp, comp_bytes);
    rc_free(cyclic);
    free(in_set);
    rc_graph_free(g);
}

/* The shortest cycle through a node, within its component only:
 *   0 -> 1 -> 2 -> 0 and 0 -> 3 -> 0 (one component), 4 -> 4, 5 -> 0 (no
 *   cycle), 6 -> 7 -> 6 and 6 -> 8 -> 6 with 8 outside the set. */
static void
test_shortest_cycle_through_a_node(void **state)
{
    (void)state;
    const test_edge e[] = {{0, 1}, {0, 3}, {1, 2}, {2, 0}, {3, 0}, {4, 4},
                           {5, 0}, {6, 8}, {6, 7}, {7, 6}, {8, 6}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(9, e, 11, NULL, NULL, &g), RC_OK);
    const uint8_t in_set[9] = {1, 1, 1, 1, 1, 1, 1, 1, 0};
    uint32_t *comp = NULL;
    size_t comp_bytes = 0;
    uint8_t *cyclic = NULL;
    size_t nc = 0;
    assert_int_equal(rc_scc(g, in_set, &comp, &comp_bytes, &nc, &cyclic), RC_OK);
    rc_cycle_finder *f = rc_cycle_finder_new(g, comp);
    assert_non_null(f);
    struct {
        rc_id start;
        size_t max_hops, len, shown;
        rc_id path[4]; /* shown + 1: then where the last shown reference leads */
        uint32_t edge[3];
    } cases[] = {
        {0, 64, 2, 2, {0, 3, 0}, {1, 0}},       /* 0 -> 3 -> 0, not the longer way */
        {1, 64, 3, 3, {1, 2, 0, 1}, {0, 0, 0}}, /* 1 -> 2 -> 0 -> 1 */
        {1, 2, 3, 2, {1, 2, 0}, {0, 0}},        /* the same, cut after two references */
        {4, 64, 1, 1, {4, 4}, {0}},             /* a self loop */
        {5, 64, 0, 0, {5}, {0}},                /* no cycle: 5 -> 0 leaves the component */
        {6, 64, 2, 2, {6, 7, 6}, {1, 0}},       /* not through 8, outside the set */
        {8, 64, 0, 0, {8}, {0}},                /* 8 itself is in no component */
        {0, 64, 2, 2, {0, 3, 0}, {1, 0}},       /* again: searches leave no trace */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rc_id *path = NULL;
        uint32_t *edge = NULL;
        size_t len = 99;
        assert_int_equal(
            rc_cycle_finder_find(f, cases[i].start, cases[i].max_hops, &path, &edge, &len),
            RC_OK);
        assert_int_equal(len, cases[i].len);
        for (size_t j = 0; j < cases[i].shown; j++) {
            assert_int_equal(path[j], cases[i].path[j]);
            assert_int_equal(edge[j], cases[i].edge[j]);
        }
        assert_int_equal(path[cases[i].shown], cases[i].path[cases[i].shown]);
        rc_free(path);
        rc_free(edge);
    }
    rc_cycle_finder_free(f);
    /* Allocation failure, at every point: RC_ENOMEM or NULL, nothing left. */
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_id *path = NULL;
        uint32_t *edge = NULL;
        size_t len = 0;
        rc_status st = RC_ENOMEM;
        f = rc_cycle_finder_new(g, comp);
        if (f) {
            st = rc_cycle_finder_find(f, 1, 64, &path, &edge, &len);
            if (st == RC_OK) {
                assert_int_equal(len, 3);
                assert_int_equal(path[2], 0);
            }
            rc_free(path);
            rc_free(edge);
            rc_cycle_finder_free(f);
        }
        assert_int_equal(live_blocks, 0);
        if (st == RC_OK) {
            break;
        }
        failures++;
    }
    assert_int_equal(failures, 6); /* the finder and its 3 arrays, path, edge */
    use_default_allocator();
    rc_pool_free(comp, comp_bytes);
    rc_free(cyclic);
    rc_graph_free(g);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    const test_edge e[] = {{0, 1}, {1, 0}, {2, 2}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(3, e, 3, NULL, NULL, &g), RC_OK);
    const uint8_t in_set[3] = {1, 1, 1};
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        uint32_t *comp = NULL;
        size_t comp_bytes = 0;
        uint8_t *cyclic = NULL;
        size_t nc = 0;
        rc_status st = rc_scc(g, in_set, &comp, &comp_bytes, &nc, &cyclic);
        rc_pool_free(comp, comp_bytes);
        rc_free(cyclic);
        assert_int_equal(live_blocks, 0);
        if (st == RC_OK) {
            assert_int_equal(nc, 2);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        failures++;
    }
    assert_int_equal(failures, 7);
    use_default_allocator();
    rc_graph_free(g);
}

/* Three Parent <-> Child pairs (3.8-style, through instance dicts), two
 * self-referencing Nodes and a list cycle. */
static void
test_cycles_group_by_signature(void **state)
{
    (void)state;
    enum { T_PARENT, T_CHILD, T_DICT, T_NODE, T_LIST };
    static const char *const names[] = {"m.Parent", "m.Child", "dict", "m.Node", "list"};
    unsigned types[16];
    test_edge e[32];
    size_t ne = 0;
    unsigned v = 0;
    for (int i = 0; i < 3; i++) { /* parent -> pdict -> child -> cdict -> parent */
        unsigned p = v++, pd = v++, c = v++, cd = v++;
        types[p] = T_PARENT, types[pd] = T_DICT, types[c] = T_CHILD, types[cd] = T_DICT;
        e[ne++] = (test_edge){p, pd};
        e[ne++] = (test_edge){pd, c};
        e[ne++] = (test_edge){c, cd};
        e[ne++] = (test_edge){cd, p};
    }
    for (int i = 0; i < 2; i++) {
        types[v] = T_NODE;
        e[ne++] = (test_edge){v, v};
        v++;
    }
    types[v] = T_LIST, types[v + 1] = T_LIST;
    e[ne++] = (test_edge){v, v + 1};
    e[ne++] = (test_edge){v + 1, v};
    v += 2;
    const unsigned type_flags[] = {RC_TYPE_FINALIZER, 0, RC_TYPE_COLLECTION | RC_TYPE_DICT, 0,
                                   RC_TYPE_COLLECTION};
    const test_attrs attrs = {NULL, NULL, type_flags};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(v, e, ne, types, names, &attrs, &g), RC_OK);
    uint8_t in_set[16];
    memset(in_set, 1, sizeof in_set);
    uint32_t *comp = NULL;
    size_t comp_bytes = 0;
    uint8_t *cyclic = NULL;
    size_t nc = 0, ng = 0;
    assert_int_equal(rc_scc(g, in_set, &comp, &comp_bytes, &nc, &cyclic), RC_OK);
    rc_cycle_group *groups = NULL;
    rc_id *members = NULL;
    size_t *start = NULL;
    uint32_t *group_of = NULL;
    assert_int_equal(
        rc_cycles_group(g, comp, nc, cyclic, &groups, &ng, &members, &start, &group_of), RC_OK);
    assert_int_equal(group_of[comp[0]], 0);   /* the first Parent's cycle */
    assert_int_equal(group_of[comp[12]], 1);  /* a self-referencing Node */
    assert_int_equal(group_of[comp[14]], 2);  /* the list cycle */
    assert_int_equal(ng, 3);
    assert_int_equal(groups[0].cycles, 3);
    assert_int_equal(groups[0].objects, 12);
    assert_true(groups[0].finalizers);
    assert_int_equal(groups[0].n_types, 2); /* the dicts belong to their instances */
    assert_string_equal(rc_graph_type_name(g, groups[0].types[0]), "m.Parent");
    assert_string_equal(rc_graph_type_name(g, groups[0].types[1]), "m.Child");
    assert_int_equal(groups[1].cycles, 2);
    assert_false(groups[1].finalizers);
    assert_int_equal(groups[2].cycles, 1);
    assert_int_equal(groups[2].n_types, 1); /* list <-> list: real collections, named once */
    uint32_t c = groups[1].representative;
    assert_int_equal(start[c + 1] - start[c], 1);
    /* The three Parents have a finalizer: the collection may keep fewer. */
    rc_cycles cc;
    assert_int_equal(rc_garbage_cycles(g, in_set, 0, 0, &cc), RC_OK);
    assert_int_equal(cc.finalizer_objects, 3);
    rc_cycles_clear(&cc);
    rc_cycle_groups_free(groups, ng);
    rc_free(members);
    rc_free(start);
    rc_free(group_of);
    rc_pool_free(comp, comp_bytes);
    rc_free(cyclic);
    rc_graph_free(g);
}

/* Two 3-rings (types A, B, C) sharing nothing, a self-loop and an acyclic
 * node: the answer's layout, with a cycle shown in part and in full. */
static rc_graph *
rings(void)
{
    const test_edge e[] = {{0, 1}, {1, 2}, {2, 0}, {3, 4}, {4, 5}, {5, 3}, {6, 6}, {7, 0}};
    const unsigned types[] = {0, 1, 2, 0, 1, 2, 3, 3};
    static const char *const names[] = {"m.A", "m.B", "m.C", "m.Node"};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(8, e, 8, types, names, &g), RC_OK);
    return g;
}

static void
test_garbage_cycles_lay_out_paths_and_members(void **state)
{
    (void)state;
    rc_graph *g = rings();
    uint8_t in_set[8];
    memset(in_set, 1, sizeof in_set);
    rc_cycles c;
    assert_int_equal(rc_garbage_cycles(g, in_set, 10, 2, &c), RC_OK);
    assert_int_equal(c.n_groups, 2);
    assert_int_equal(c.n_shown, 2);
    assert_int_equal(c.groups[0].cycles, 2); /* the rings */
    const rc_cycles_shown *s = &c.shown[0];
    assert_int_equal(s->hops, 3);
    assert_int_equal(s->path_len, 3); /* two references shown, and where they lead */
    assert_int_equal(c.edges[s->path_at], 0);
    /* Each ring's members, both rings, node 7 (acyclic) in neither. */
    int seen[8] = {0};
    for (size_t k = 0; k < c.groups[0].objects; k++) {
        seen[c.ids[s->members_at + k]]++;
    }
    for (int v = 0; v < 6; v++) {
        assert_int_equal(seen[v], 1);
    }
    assert_int_equal(seen[7], 0);
    /* The self-loop: its whole cycle, start to start. */
    const rc_cycles_shown *n = &c.shown[1];
    assert_int_equal(n->hops, 1);
    assert_int_equal(n->path_len, 2);
    assert_int_equal(c.ids[n->path_at], 6);
    assert_int_equal(c.ids[n->path_at + 1], 6);
    assert_int_equal(c.ids[n->members_at], 6);
    assert_int_equal(c.n_ids, 3 + 6 + 2 + 1);
    assert_int_equal(c.finalizer_objects, 0);
    rc_cycles_clear(&c);
    /* limit 1 and no paths: the rings' members only. */
    assert_int_equal(rc_garbage_cycles(g, in_set, 1, 0, &c), RC_OK);
    assert_int_equal(c.n_groups, 2);
    assert_int_equal(c.n_shown, 1);
    assert_int_equal(c.shown[0].path_len, 0);
    assert_int_equal(c.n_ids, 6);
    rc_cycles_clear(&c);
    assert_null(c.ids);
    rc_graph_free(g);
}

static void
test_garbage_cycles_allocation_failure(void **state)
{
    (void)state;
    rc_graph *g = rings();
    uint8_t in_set[8];
    memset(in_set, 1, sizeof in_set);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_cycles c;
        rc_status st = rc_garbage_cycles(g, in_set, 10, 5, &c);
        if (st == RC_OK) {
            assert_int_equal(c.n_shown, 2);
            rc_cycles_clear(&c);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(c.groups);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 10);
    use_default_allocator();
    rc_graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_components_and_cycles),
        cmocka_unit_test(test_a_cycle_a_million_long_needs_no_recursion),
        cmocka_unit_test(test_allocation_failure_at_every_point),
        cmocka_unit_test(test_cycles_group_by_signature),
        cmocka_unit_test(test_shortest_cycle_through_a_node),
        cmocka_unit_test(test_garbage_cycles_lay_out_paths_and_members),
        cmocka_unit_test(test_garbage_cycles_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
