/* graph_test: the builder's worklist, exclusion, CSR in both directions,
 * live and indexed builders, and allocation failure at every point. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "testutil.h"

static void
test_empty_graph(void **state)
{
    (void)state;
    rc_graph *g = NULL;
    assert_int_equal(build_graph(0, NULL, 0, NULL, NULL, &g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), 0);
    assert_int_equal(rc_graph_edge_count(g), 0);
    assert_int_equal(rc_graph_find(g, FAKE(0)), RC_NO_ID);
    rc_graph_free(g);
}

/* rc_graph_out_index maps the occ-th edge from -> to back to its position
 * among from's out-edges, duplicates included. */
static void
test_out_index_counts_duplicate_edges(void **state)
{
    (void)state;
    /* 0 -> 1, 0 -> 2, 0 -> 1 (a list holding the same object twice), 1 -> 2 */
    const test_edge e[] = {{0, 1}, {0, 2}, {0, 1}, {1, 2}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(3, e, 4, NULL, NULL, &g), RC_OK);
    assert_int_equal(rc_graph_out_index(g, 0, 1, 0), 0);
    assert_int_equal(rc_graph_out_index(g, 0, 1, 1), 2);
    assert_int_equal(rc_graph_out_index(g, 0, 1, 2), UINT32_MAX);
    assert_int_equal(rc_graph_out_index(g, 0, 2, 0), 1);
    assert_int_equal(rc_graph_out_index(g, 1, 2, 0), 0);
    assert_int_equal(rc_graph_out_index(g, 2, 0, 0), UINT32_MAX);
    rc_graph_free(g);
}

static void
test_out_and_in_edges(void **state)
{
    (void)state;
    /* 0 -> 1, 0 -> 2, 1 -> 2, 2 -> 0, 2 -> 2 (a self loop) */
    const test_edge e[] = {{0, 1}, {0, 2}, {1, 2}, {2, 0}, {2, 2}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(3, e, 5, NULL, NULL, &g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), 3);
    assert_int_equal(rc_graph_edge_count(g), 5);
    size_t n;
    const rc_id *v = rc_graph_out(g, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 2);
    v = rc_graph_in(g, 2, &n);
    assert_int_equal(n, 3);
    assert_int_equal(v[0], 0);
    assert_int_equal(v[1], 1);
    assert_int_equal(v[2], 2);
    v = rc_graph_in(g, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(v[0], 2);
    rc_graph_in(g, 1, &n);
    assert_int_equal(n, 1);
    assert_int_equal(rc_graph_refcnt(g, 2), 4);
    assert_int_equal(rc_graph_size(g, 1), 20);
    rc_graph_free(g);
}

static void
test_discovered_nodes_are_expanded_in_id_order(void **state)
{
    (void)state;
    /* One seed; every expanded node points at a new one, 1000 deep. */
    rc_builder *b = rc_builder_new(0);
    assert_non_null(b);
    assert_int_equal(rc_builder_seed(b, 16), RC_OK);
    uintptr_t addr;
    unsigned nflags;
    rc_status st;
    unsigned expanded = 0;
    while (rc_builder_next(b, &addr, &nflags, &st)) {
        assert_int_equal(addr, 16u * (expanded + 1));
        if (expanded < 999) {
            assert_int_equal(rc_builder_edge(b, addr + 16), RC_OK);
        }
        assert_int_equal(rc_builder_close(b, 0, 1, 1, 0), RC_OK);
        expanded++;
    }
    assert_int_equal(st, RC_OK);
    assert_int_equal(expanded, 1000);
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), 1000);
    assert_int_equal(rc_graph_edge_count(g), 999);
    assert_true(rc_graph_flags(g, 0) & RC_NODE_SEED);
    assert_false(rc_graph_flags(g, 1) & RC_NODE_SEED);
    rc_graph_free(g);
}

static void
test_excluded_addresses_vanish(void **state)
{
    (void)state;
    rc_builder *b = rc_builder_new(0);
    assert_int_equal(rc_builder_exclude(b, FAKE(7)), RC_OK);
    assert_int_equal(rc_builder_seed(b, FAKE(0)), RC_OK);
    assert_int_equal(rc_builder_seed(b, FAKE(7)), RC_OK); /* a no-op */
    assert_int_equal(rc_builder_exclude(b, FAKE(8)), RC_EINVAL);
    uintptr_t addr;
    unsigned nflags;
    rc_status st;
    while (rc_builder_next(b, &addr, &nflags, &st)) {
        if (addr == FAKE(0)) {
            assert_int_equal(rc_builder_edge(b, FAKE(7)), RC_OK);
            assert_int_equal(rc_builder_edge(b, FAKE(1)), RC_OK);
            assert_int_equal(rc_builder_edge(b, 0), RC_OK);
            assert_int_equal(rc_builder_edge(b, FAKE(7)), RC_OK);
        }
        assert_int_equal(rc_builder_close(b, 0, 1, 1, 0), RC_OK);
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), 2);
    assert_int_equal(rc_graph_edge_count(g), 1);
    assert_int_equal(rc_graph_find(g, FAKE(7)), RC_NO_ID);
    assert_int_equal(rc_graph_find(g, FAKE(1)), 1);
    size_t n;
    const rc_id *v = rc_graph_out(g, 0, &n);
    assert_int_equal(n, 1);
    assert_int_equal(v[0], 1);
    rc_graph_in(g, 1, &n);
    assert_int_equal(n, 1);
    rc_graph_free(g);
}

static void
test_contract_violations_are_einval(void **state)
{
    (void)state;
    rc_builder *b = rc_builder_new(0);
    assert_int_equal(rc_builder_edge(b, FAKE(1)), RC_EINVAL);
    assert_int_equal(rc_builder_close(b, 0, 0, 0, 0), RC_EINVAL);
    assert_int_equal(rc_builder_seed(b, 0), RC_EINVAL);
    assert_int_equal(rc_builder_seed(b, FAKE(0)), RC_OK);
    rc_graph *g = NULL;
    /* FAKE(0) was never expanded. */
    assert_int_equal(rc_builder_freeze(b, &g), RC_EINVAL);
    assert_null(g);
}

static void
test_big_sizes_and_saturated_refcounts(void **state)
{
    (void)state;
    rc_builder *b = rc_builder_new(0);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(rc_builder_seed(b, FAKE(i)), RC_OK);
    }
    const uint64_t sizes[] = {5, UINT64_C(1) << 40, UINT32_MAX};
    const uint64_t refs[] = {1, UINT64_C(1) << 40, UINT32_MAX - 1};
    uintptr_t addr;
    unsigned nflags;
    rc_status st;
    unsigned i = 0;
    while (rc_builder_next(b, &addr, &nflags, &st)) {
        assert_int_equal(rc_builder_close(b, 0, sizes[i], refs[i], 0), RC_OK);
        i++;
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    for (i = 0; i < 3; i++) {
        assert_int_equal(rc_graph_size(g, i), sizes[i]);
    }
    assert_int_equal(rc_graph_refcnt(g, 1), UINT32_MAX);
    assert_int_equal(rc_graph_refcnt(g, 2), UINT32_MAX - 1);
    rc_graph_free(g);
}

static void
test_types_are_interned_once(void **state)
{
    (void)state;
    rc_builder *b = rc_builder_new(0);
    uint32_t a, a2, c;
    assert_int_equal(rc_builder_type(b, 0x100, "mod.A", "A", RC_TYPE_HEAP, &a), RC_OK);
    assert_int_equal(rc_builder_type(b, 0x200, "int", "int", 0, &c), RC_OK);
    assert_int_equal(rc_builder_type(b, 0x100, "ignored", "ignored", 0, &a2), RC_OK);
    assert_int_equal(a, a2);
    assert_int_not_equal(a, c);
    assert_int_equal(rc_builder_find_type(b, 0x200), c);
    assert_int_equal(rc_builder_find_type(b, 0x300), UINT32_MAX);
    /* Many types: the key table grows. */
    for (unsigned i = 0; i < 5000; i++) {
        uint32_t t;
        assert_int_equal(rc_builder_type(b, 0x10000 + 8 * i, "T", "T", 0, &t), RC_OK);
        assert_int_equal(t, i + 2);
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    assert_int_equal(rc_graph_type_count(g), 5002);
    assert_string_equal(rc_graph_type_name(g, a), "mod.A");
    assert_string_equal(rc_graph_type_short_name(g, a), "A");
    assert_int_equal(rc_graph_type_flags(g, a), RC_TYPE_HEAP);
    assert_int_equal(rc_graph_type_key(g, c), 0x200);
    rc_graph_free(g);
}

/* A seeded random graph, checked against an edge list held on the side. */
static void
random_edges(unsigned n, size_t m, unsigned seed, test_edge *e)
{
    srand(seed);
    for (size_t i = 0; i < m; i++) {
        e[i].from = (unsigned)rand() % n;
        e[i].to = (unsigned)rand() % n;
    }
}

static void
test_random_graph_matches_edge_list(void **state)
{
    (void)state;
    enum { N = 3000, M = 9000 };
    test_edge *e = malloc(M * sizeof *e);
    random_edges(N, M, 42, e);
    rc_graph *g = NULL;
    assert_int_equal(build_graph(N, e, M, NULL, NULL, &g), RC_OK);
    assert_int_equal(rc_graph_edge_count(g), M);
    unsigned *outdeg = calloc(N, sizeof *outdeg), *indeg = calloc(N, sizeof *indeg);
    for (size_t i = 0; i < M; i++) {
        outdeg[e[i].from]++;
        indeg[e[i].to]++;
    }
    for (rc_id v = 0; v < N; v++) {
        size_t no, ni;
        const rc_id *out = rc_graph_out(g, v, &no);
        rc_graph_in(g, v, &ni);
        assert_int_equal(no, outdeg[v]);
        assert_int_equal(ni, indeg[v]);
        assert_int_equal(rc_graph_find(g, FAKE(v)), v);
        /* Every out-edge v -> w appears among w's in-edges. */
        for (size_t k = 0; k < no; k++) {
            size_t nw;
            const rc_id *in = rc_graph_in(g, out[k], &nw);
            int found = 0;
            for (size_t j = 0; j < nw; j++) {
                found |= in[j] == v;
            }
            assert_true(found);
        }
    }
    free(outdeg);
    free(indeg);
    free(e);
    rc_graph_free(g);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    enum { N = 2500, M = 6000 };
    test_edge *e = malloc(M * sizeof *e);
    random_edges(N, M, 7, e);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_graph *g = NULL;
        rc_status st = build_graph(N, e, M, NULL, NULL, &g);
        if (st == RC_OK) {
            assert_int_equal(rc_graph_edge_count(g), M);
            rc_graph_free(g);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(g);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures > 10);
    use_default_allocator();
    free(e);
}

/* Builds FAKE(0) -> FAKE(1), marking FAKE(1) (an edge target), FAKE(2) (no
 * edge reaches it) and the excluded FAKE(7) while FAKE(0) is expanded. */
static rc_status
build_marked(rc_graph **out)
{
    rc_builder *b = rc_builder_new(0);
    if (!b) {
        return RC_ENOMEM;
    }
    rc_status st = rc_builder_exclude(b, FAKE(7));
    if (st == RC_OK) {
        st = rc_builder_seed(b, FAKE(0));
    }
    uintptr_t addr;
    unsigned nflags;
    while (st == RC_OK && rc_builder_next(b, &addr, &nflags, &st)) {
        if (addr == FAKE(0)) {
            st = rc_builder_edge(b, FAKE(1));
            st = st == RC_OK ? rc_builder_mark(b, FAKE(1), RC_NODE_NAMESPACE) : st;
            st = st == RC_OK ? rc_builder_mark(b, FAKE(2), RC_NODE_NAMESPACE) : st;
            st = st == RC_OK ? rc_builder_mark(b, FAKE(7), RC_NODE_NAMESPACE) : st;
            st = st == RC_OK ? rc_builder_seed(b, FAKE(3)) : st;
        }
        st = st == RC_OK ? rc_builder_close(b, 0, 1, 1, 0) : st;
    }
    if (st != RC_OK) {
        rc_builder_free(b);
        return st;
    }
    return rc_builder_freeze(b, out);
}

static void
test_marks_flag_nodes_without_making_seeds(void **state)
{
    (void)state;
    rc_graph *g = NULL;
    assert_int_equal(build_marked(&g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), 4);
    rc_id one = rc_graph_find(g, FAKE(1)), two = rc_graph_find(g, FAKE(2));
    rc_id three = rc_graph_find(g, FAKE(3));
    assert_int_equal(rc_graph_find(g, FAKE(7)), RC_NO_ID);
    assert_int_equal(rc_graph_flags(g, one) & (RC_NODE_NAMESPACE | RC_NODE_SEED),
                     RC_NODE_NAMESPACE);
    assert_int_equal(rc_graph_flags(g, two) & (RC_NODE_NAMESPACE | RC_NODE_SEED),
                     RC_NODE_NAMESPACE);
    /* A seed after a mark is a plain seed again. */
    assert_int_equal(rc_graph_flags(g, three) & (RC_NODE_NAMESPACE | RC_NODE_SEED), RC_NODE_SEED);
    rc_graph_free(g);
    /* Every allocation failure is RC_ENOMEM with nothing leaked. */
    use_counting_allocator();
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        g = NULL;
        rc_status st = build_marked(&g);
        assert_int_equal(live_blocks, st == RC_OK ? live_blocks : 0);
        if (st == RC_OK) {
            assert_int_equal(rc_graph_node_count(g), 4);
            rc_graph_free(g);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(g);
    }
    use_default_allocator();
}

static void
test_nodes_only_discovers_but_stores_no_edges(void **state)
{
    (void)state;
    rc_builder *b = rc_builder_new(0);
    rc_builder_nodes_only(b);
    assert_int_equal(rc_builder_seed(b, FAKE(0)), RC_OK);
    uintptr_t addr;
    unsigned nf;
    rc_status st;
    while (rc_builder_next(b, &addr, &nf, &st)) {
        if (addr == FAKE(0)) {
            assert_int_equal(rc_builder_edge(b, FAKE(1)), RC_OK);
            assert_int_equal(rc_builder_edge(b, FAKE(2)), RC_OK);
        }
        assert_int_equal(rc_builder_close(b, 0, 1, 1, 0), RC_OK);
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), 3);
    assert_int_equal(rc_graph_edge_count(g), 0);
    size_t n;
    rc_graph_out(g, 0, &n);
    assert_int_equal(n, 0);
    assert_false(rc_graph_has_in(g));
    assert_null(rc_graph_in(g, 1, &n));
    assert_int_equal(n, 0);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    assert_true(rc_graph_has_in(g));
    rc_graph_free(g);
}

static void
test_find_many(void **state)
{
    (void)state;
    rc_graph *g = NULL;
    assert_int_equal(build_graph(50, NULL, 0, NULL, NULL, &g), RC_OK);
    const uintptr_t addrs[] = {FAKE(7), FAKE(49), FAKE(99), FAKE(7), 0, FAKE(0)};
    rc_id ids[6];
    assert_int_equal(rc_graph_find_many(g, addrs, 6, ids), RC_OK);
    const rc_id want[] = {7, 49, RC_NO_ID, 7, RC_NO_ID, 0};
    assert_memory_equal(ids, want, sizeof want);
    assert_int_equal(rc_graph_find(g, FAKE(49)), 49);
    assert_int_equal(rc_graph_find(g, FAKE(99)), RC_NO_ID);
    rc_graph_free(g);
}

/* A loader marks every node first, in file order, then closes them with
 * edges given by id: ids follow mark order, no node becomes a seed, and
 * edges by id and by address keep their order. */
static rc_status
load_by_id(unsigned n, bool foreign, rc_graph **out)
{
    rc_builder *b = foreign ? rc_builder_new_foreign(0) : rc_builder_new(0);
    if (!b) {
        return RC_ENOMEM;
    }
    rc_status st = RC_OK;
    /* Addresses in decreasing order: ids must not follow address order. */
    for (unsigned i = 0; i < n && st == RC_OK; i++) {
        st = rc_builder_mark(b, FAKE(n - i), 0);
    }
    /* A repeated address is one node: resolving shows the count. */
    if (st == RC_OK) {
        st = rc_builder_mark(b, FAKE(n), 0);
    }
    if (st == RC_OK) {
        st = rc_builder_resolve(b);
    }
    if (st == RC_OK && rc_builder_node_count(b) != n) {
        st = RC_EINVAL;
    }
    uintptr_t addr;
    unsigned flags;
    uint32_t t = 0;
    if (st == RC_OK) {
        st = rc_builder_type(b, 0x1000, "object", "object", 0, &t);
    }
    while (st == RC_OK && rc_builder_next(b, &addr, &flags, &st)) {
        for (unsigned k = 0; k < 3 && st == RC_OK; k++) {
            rc_id target = (rc_id)((addr / 16 + k) % n);
            st = k == 1 ? rc_builder_edge(b, FAKE(n - target)) : rc_builder_edge_id(b, target);
        }
        if (st == RC_OK) {
            st = rc_builder_close(b, t, 8, 1, flags | RC_NODE_GC);
        }
    }
    if (st != RC_OK) {
        rc_builder_free(b);
        return st;
    }
    return rc_builder_freeze(b, out);
}

/* The same loader's script, on a builder of either kind. */
static void
test_edges_by_id_for_a_loader(void **state)
{
    (void)state;
    enum { N = 5000 };
    for (int foreign = 0; foreign < 2; foreign++) {
        rc_graph *g = NULL;
        assert_int_equal(load_by_id(N, foreign, &g), RC_OK);
        assert_int_equal(rc_graph_node_count(g), N);
        assert_int_equal(rc_graph_edge_count(g), 3 * N);
        for (rc_id v = 0; v < N; v++) {
            uintptr_t a = rc_graph_addr(g, v);
            assert_int_equal(a, FAKE(N - v));
            assert_int_equal(rc_graph_flags(g, v), RC_NODE_GC);
            size_t deg;
            const rc_id *out = rc_graph_out(g, v, &deg);
            assert_int_equal(deg, 3);
            for (unsigned k = 0; k < 3; k++) {
                assert_int_equal(out[k], (a / 16 + k) % N);
            }
        }
        rc_graph_free(g);

        /* Contract: only during an expansion, only to an existing id. */
        rc_builder *b = foreign ? rc_builder_new_foreign(0) : rc_builder_new(0);
        assert_non_null(b);
        assert_int_equal(rc_builder_edge_id(b, 0), RC_EINVAL);
        assert_int_equal(rc_builder_mark(b, 16, 0), RC_OK);
        uintptr_t addr;
        unsigned flags;
        rc_status st;
        assert_true(rc_builder_next(b, &addr, &flags, &st));
        assert_int_equal(rc_builder_node_count(b), 1);
        assert_int_equal(rc_builder_edge_id(b, 1), RC_EINVAL);
        assert_int_equal(rc_builder_edge_id(b, 0), RC_OK);
        /* Several at once: all, or none when one is not a node. */
        const rc_id three[] = {0, 0, 0}, bad[] = {0, 1, 0};
        assert_int_equal(rc_builder_edge_ids(b, bad, 3), RC_EINVAL);
        assert_int_equal(rc_builder_edge_ids(b, three, 0), RC_OK);
        assert_int_equal(rc_builder_edge_ids(b, three, 3), RC_OK);
        assert_int_equal(rc_builder_close(b, 0, 1, 1, 0), RC_OK);
        rc_graph *one = NULL;
        assert_int_equal(rc_builder_freeze(b, &one), RC_OK);
        size_t deg;
        rc_graph_out(one, 0, &deg);
        assert_int_equal(deg, 4);
        rc_graph_free(one);

        /* Every allocation may fail: RC_ENOMEM, nothing leaked. */
        use_counting_allocator();
        for (long k = 0;; k++) {
            rc_alloc_fail_after(k);
            g = NULL;
            st = load_by_id(N, foreign, &g);
            rc_graph_free(g);
            assert_int_equal(live_blocks, 0);
            if (st == RC_OK) {
                break;
            }
            assert_int_equal(st, RC_ENOMEM);
        }
        use_default_allocator();
    }
}

/* A scripted walk, the same on a builder of either kind: n addresses
 * (dense, scattered over 2^44 bytes, or in clusters, by `layout`), each
 * expanded into a few edges to others, to 0 or to excluded addresses, and
 * some marks and flagged seeds of addresses seen before, not yet, or
 * excluded.  Thousands of edges lie between a node's discovery and some of
 * the flags it gets, which a live builder gives at the freeze. */
static uint64_t
mix(uint64_t x)
{
    x ^= x >> 31;
    x *= UINT64_C(0x9E3779B97F4A7C15);
    return x ^ (x >> 29);
}

static rc_status
run_script(rc_builder *b, const uintptr_t *addrs, unsigned n, rc_graph **out)
{
    rc_status st = RC_OK;
    for (unsigned i = 5; i < n && st == RC_OK; i += 13) {
        st = rc_builder_exclude(b, addrs[i]);
    }
    uint32_t t = 0;
    if (st == RC_OK) {
        st = rc_builder_type(b, 0x1000, "object", "object", 0, &t);
    }
    for (unsigned i = 0; i < n / 10 + 1 && st == RC_OK; i++) {
        st = rc_builder_seed_flagged(b, addrs[i], i % 2 ? 0 : RC_NODE_TRACKED);
    }
    uintptr_t addr;
    unsigned flags;
    while (st == RC_OK && rc_builder_next(b, &addr, &flags, &st)) {
        uint64_t h = mix(addr);
        for (unsigned k = 0; k < h % 6 && st == RC_OK; k++) {
            st = rc_builder_edge(b, addrs[((h >> 8) + k * 7919) % n]);
        }
        if (st == RC_OK && h % 17 == 0) {
            st = rc_builder_edge(b, 0);
        }
        if (st == RC_OK && h % 5 == 0) {
            st = rc_builder_mark(b, addrs[(h >> 20) % n], RC_NODE_NAMESPACE);
        }
        if (st == RC_OK && h % 11 == 0) {
            st = rc_builder_seed_flagged(b, addrs[(h >> 32) % n], RC_NODE_FROZEN);
        }
        if (st == RC_OK) {
            st = rc_builder_close(b, t, addr & 0xffff, 1, RC_NODE_GC);
        }
    }
    if (st != RC_OK) {
        rc_builder_free(b);
        return st;
    }
    return rc_builder_freeze(b, out);
}

/* n 16-byte aligned addresses in one of three layouts (scattered ones may
 * repeat, rarely: either builder then makes one node of them). */
static uintptr_t *
script_addresses(unsigned n, unsigned layout, unsigned seed)
{
    uintptr_t *a = malloc(n * sizeof *a);
    uint64_t x = seed;
    for (unsigned i = 0; i < n; i++) {
        x = mix(x + i + 1);
        if (layout == 0) {
            a[i] = FAKE(i); /* shuffled below */
        } else if (layout == 1) {
            a[i] = (uintptr_t)((x % (UINT64_C(1) << 40)) + (UINT64_C(1) << 20)) << 4;
        } else {
            a[i] = (uintptr_t)(UINT64_C(0x7f0000000000) + ((uint64_t)(i / 64) << 24) +
                               ((uint64_t)(i % 64) << 7) + (x % 4) * 16);
        }
    }
    for (unsigned i = n; i-- > 1;) { /* Fisher-Yates */
        x = mix(x);
        unsigned j = (unsigned)(x % (i + 1));
        uintptr_t tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
    }
    return a;
}

static void
test_live_and_indexed_builders_agree(void **state)
{
    (void)state;
    for (unsigned seed = 0; seed < 90; seed++) {
        unsigned n = seed == 0 ? 60000 : 1 + (unsigned)(mix(seed) % 6000);
        uintptr_t *addrs = script_addresses(n, seed % 3, seed);
        rc_graph *live = NULL, *indexed = NULL;
        assert_int_equal(run_script(rc_builder_new(0), addrs, n, &live), RC_OK);
        assert_int_equal(run_script(rc_builder_new_foreign(0), addrs, n, &indexed), RC_OK);
        assert_int_equal(rc_graph_node_count(live), rc_graph_node_count(indexed));
        assert_int_equal(rc_graph_edge_count(live), rc_graph_edge_count(indexed));
        size_t late = 0;
        for (rc_id v = 0; v < rc_graph_node_count(live); v++) {
            assert_int_equal(rc_graph_addr(live, v), rc_graph_addr(indexed, v));
            assert_int_equal(rc_graph_flags(live, v), rc_graph_flags(indexed, v));
            late += (rc_graph_flags(live, v) & RC_NODE_FROZEN) != 0;
            size_t nl, ni;
            const rc_id *ol = rc_graph_out(live, v, &nl), *oi = rc_graph_out(indexed, v, &ni);
            assert_int_equal(nl, ni);
            for (size_t k = 0; k < nl; k++) {
                assert_int_equal(ol[k], oi[k]);
            }
        }
        assert_true(n < 100 || late > 0);
        rc_graph_free(live);
        rc_graph_free(indexed);
        free(addrs);
    }
}

/* A listed builder (a loader's): nodes appended in order, any addresses
 * (unaligned, 4 bytes apart: the caller vouches they are distinct), edges by
 * id; looking an address up is not what it does. */
/* rc_builder_ahead: the node k places after the one being expanded, among
 * those discovered so far; 0 past them, and always for a counter or a
 * file's addresses. */
static void
test_ahead_names_the_nodes_to_come(void **state)
{
    (void)state;
    rc_builder *b = rc_builder_new(0);
    assert_non_null(b);
    for (uintptr_t a = 16; a <= 160; a += 16) {
        assert_int_equal(rc_builder_seed(b, a), RC_OK);
    }
    uintptr_t addr;
    unsigned flags;
    rc_status st;
    unsigned expanded = 0;
    while (rc_builder_next(b, &addr, &flags, &st)) {
        assert_int_equal(rc_builder_ahead(b, 0), addr);
        for (size_t k = 1; k < 12; k++) {
            uintptr_t want = expanded + k < 10 ? addr + 16 * k : 0;
            assert_int_equal(rc_builder_ahead(b, k), want);
        }
        if (expanded == 9) {
            assert_int_equal(rc_builder_edge(b, 4096), RC_OK); /* one more node */
            assert_int_equal(rc_builder_ahead(b, 1), 0);     /* pending until resolved */
        }
        assert_int_equal(rc_builder_close(b, 0, 1, 1, 0), RC_OK);
        expanded++;
    }
    assert_int_equal(st, RC_OK);
    assert_int_equal(expanded, 11);
    rc_builder_free(b);

    rc_builder *counter = rc_builder_new_counter();
    rc_builder *listed = rc_builder_new_listed(0);
    assert_non_null(counter);
    assert_non_null(listed);
    assert_int_equal(rc_builder_seed(counter, 16), RC_OK);
    assert_int_equal(rc_builder_seed(counter, 32), RC_OK);
    assert_int_equal(rc_builder_append(listed, 16), RC_OK);
    assert_int_equal(rc_builder_append(listed, 32), RC_OK);
    assert_true(rc_builder_next(counter, &addr, &flags, &st));
    assert_true(rc_builder_next(listed, &addr, &flags, &st));
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(rc_builder_ahead(counter, k), 0);
        assert_int_equal(rc_builder_ahead(listed, k), 0);
    }
    rc_builder_free(counter);
    rc_builder_free(listed);
}

/* A live builder asked to keep the address order hands the frozen graph
 * its nodes sorted by address: every node once, no excluded address, the
 * nodes found through edges too.  Others keep none. */
static void
test_the_graph_keeps_its_address_order(void **state)
{
    (void)state;
    const uintptr_t seeds[] = {FAKE(40), FAKE(3), FAKE(77), FAKE(12)};
    for (int keep = 0; keep < 2; keep++) {
        rc_builder *b = rc_builder_new(0);
        assert_non_null(b);
        if (keep) {
            rc_builder_keep_addr_order(b);
        }
        assert_int_equal(rc_builder_exclude(b, FAKE(50)), RC_OK);
        for (unsigned i = 0; i < 4; i++) {
            assert_int_equal(rc_builder_seed(b, seeds[i]), RC_OK);
        }
        uintptr_t addr;
        unsigned flags;
        rc_status st;
        while (rc_builder_next(b, &addr, &flags, &st)) {
            if (addr == FAKE(40)) { /* two more nodes, and the excluded one */
                assert_int_equal(rc_builder_edge(b, FAKE(1)), RC_OK);
                assert_int_equal(rc_builder_edge(b, FAKE(50)), RC_OK);
                assert_int_equal(rc_builder_edge(b, FAKE(60)), RC_OK);
            }
            assert_int_equal(rc_builder_close(b, 0, 1, 1, 0), RC_OK);
        }
        assert_int_equal(st, RC_OK);
        rc_graph *g = NULL;
        assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
        size_t n = rc_graph_node_count(g);
        assert_int_equal(n, 6);
        const rc_id *order = rc_graph_addr_order(g);
        if (!keep) {
            assert_null(order);
            rc_graph_free(g);
            continue;
        }
        assert_non_null(order);
        const uintptr_t want[] = {FAKE(1),  FAKE(3),  FAKE(12),
                                  FAKE(40), FAKE(60), FAKE(77)};
        for (size_t j = 0; j < n; j++) {
            assert_int_equal(rc_graph_addr(g, order[j]), want[j]);
        }
        rc_graph_free(g);
    }
    rc_builder *listed = rc_builder_new_listed(0);
    assert_non_null(listed);
    rc_builder_keep_addr_order(listed); /* a no-op */
    assert_int_equal(rc_builder_append(listed, FAKE(2)), RC_OK);
    assert_int_equal(rc_builder_append(listed, FAKE(1)), RC_OK);
    uintptr_t addr;
    unsigned flags;
    rc_status st;
    while (rc_builder_next(listed, &addr, &flags, &st)) {
        assert_int_equal(rc_builder_close(listed, 0, 1, 1, 0), RC_OK);
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(listed, &g), RC_OK);
    assert_null(rc_graph_addr_order(g));
    rc_graph_free(g);
}

static void
test_a_listed_builder_takes_its_nodes_in_order(void **state)
{
    (void)state;
    rc_builder *b = rc_builder_new_listed(0);
    assert_non_null(b);
    const uintptr_t addrs[] = {0x1004, 0x1000, 0x7f0000000003, 0x20};
    assert_int_equal(rc_builder_append(b, 0), RC_EINVAL);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(rc_builder_append(b, addrs[i]), RC_OK);
    }
    assert_int_equal(rc_builder_node_count(b), 4);
    assert_int_equal(rc_builder_seed(b, 0x5000), RC_EINVAL);
    assert_int_equal(rc_builder_mark(b, 0x1000, 0), RC_EINVAL);
    uint32_t t;
    assert_int_equal(rc_builder_type(b, 0x10, "object", "object", 0, &t), RC_OK);
    uintptr_t addr;
    unsigned flags;
    rc_status st;
    for (unsigned i = 0; rc_builder_next(b, &addr, &flags, &st); i++) {
        assert_int_equal(addr, addrs[i]);
        assert_int_equal(rc_builder_append(b, 0x9000), RC_EINVAL);
        assert_int_equal(rc_builder_edge(b, addrs[0]), RC_EINVAL);
        assert_int_equal(rc_builder_edge_id(b, 4), RC_EINVAL);
        assert_int_equal(rc_builder_edge_id(b, (rc_id)((i + 1) % 4)), RC_OK);
        assert_int_equal(rc_builder_close(b, t, 8, 1, 0), RC_OK);
    }
    assert_int_equal(st, RC_OK);
    assert_int_equal(rc_builder_append(b, 0x9000), RC_EINVAL);
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), 4);
    for (rc_id v = 0; v < 4; v++) {
        size_t deg;
        const rc_id *out = rc_graph_out(g, v, &deg);
        assert_int_equal(rc_graph_addr(g, v), addrs[v]);
        assert_int_equal(deg, 1);
        assert_int_equal(out[0], (v + 1) % 4);
    }
    rc_graph_free(g);
}

/* A listed builder closes a node in one row: its targets written to the
 * room asked for, checked, then closed with its attributes; rows and
 * expansions mix.  A bad target, or more targets than the room, records
 * nothing and closes nothing. */
static rc_status
build_rows(rc_graph **out)
{
    rc_builder *b = rc_builder_new_listed(0);
    if (!b) {
        return RC_ENOMEM;
    }
    uintptr_t addrs[300];
    for (size_t i = 0; i < 300; i++) {
        addrs[i] = (i + 1) * 16;
    }
    /* One at a time, then many: a zero among them appends none. */
    rc_status st = rc_builder_append(b, addrs[0]);
    addrs[0] = 0;
    if (st == RC_OK) {
        assert_int_equal(rc_builder_append_many(b, addrs, 300), RC_EINVAL);
        assert_int_equal(rc_builder_node_count(b), 1);
        st = rc_builder_append_many(b, addrs + 1, 299);
    }
    uint32_t t;
    if (st == RC_OK) {
        st = rc_builder_type(b, 0x10, "object", "object", 0, &t);
    }
    /* Node v: v % 4 edges to v + 1 ... (mod 300), by row; every fifth node
     * by rc_builder_next() and rc_builder_edge_ids() instead. */
    for (rc_id v = 0; st == RC_OK && v < 300; v++) {
        rc_id targets[3];
        size_t n = v % 4;
        for (size_t k = 0; k < n; k++) {
            targets[k] = (rc_id)((v + 1 + k) % 300);
        }
        if (v % 5 == 0) {
            uintptr_t addr;
            unsigned flags;
            if (!rc_builder_next(b, &addr, &flags, &st)) {
                st = st == RC_OK ? RC_EINVAL : st;
                break;
            }
            st = rc_builder_edge_ids(b, targets, n);
            if (st == RC_OK) {
                assert_null(rc_builder_room(b, 1)); /* while expanding */
                st = rc_builder_close(b, t, v, 1, 0);
            }
            continue;
        }
        rc_id *room = rc_builder_room(b, n);
        if (!room) {
            st = RC_ENOMEM;
            break;
        }
        room[0] = 300; /* not a node: refused, and nothing closed */
        assert_int_equal(rc_builder_row(b, t, v, 1, 0, 1), RC_EINVAL);
        memcpy(room, targets, n * sizeof *targets);
        st = rc_builder_row(b, t, v, 1, 0, n);
    }
    if (st != RC_OK) {
        rc_builder_free(b);
        return st;
    }
    assert_null(rc_builder_room(b, 0)); /* every node closed */
    assert_int_equal(rc_builder_row(b, t, 0, 1, 0, 0), RC_EINVAL);
    return rc_builder_freeze(b, out);
}

static void
test_a_listed_builder_closes_rows(void **state)
{
    (void)state;
    rc_builder *live = rc_builder_new(0);
    assert_non_null(live);
    assert_null(rc_builder_room(live, 1));
    assert_int_equal(rc_builder_row(live, 0, 0, 1, 0, 0), RC_EINVAL);
    rc_builder_free(live);
    rc_graph *g = NULL;
    assert_int_equal(build_rows(&g), RC_OK);
    assert_int_equal(rc_graph_node_count(g), 300);
    for (rc_id v = 0; v < 300; v++) {
        size_t deg;
        const rc_id *out = rc_graph_out(g, v, &deg);
        assert_int_equal(deg, v % 4);
        for (size_t k = 0; k < deg; k++) {
            assert_int_equal(out[k], (v + 1 + k) % 300);
        }
        assert_int_equal(rc_graph_size(g, v), v);
        assert_int_equal(rc_graph_addr(g, v), (v + 1) * 16);
    }
    rc_graph_free(g);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        g = NULL;
        rc_status st = build_rows(&g);
        if (st == RC_OK) {
            assert_int_equal(rc_graph_edge_count(g), 450);
            rc_graph_free(g);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures > 3);
    use_default_allocator();
}

/* Many appended at once, across the arrays' growth and the stretches
 * faulted in ahead, as one at a time. */
static void
test_a_listed_builder_appends_many(void **state)
{
    (void)state;
    enum { N = 300000, BATCH = 7001 };
    uintptr_t *addrs = malloc(N * sizeof *addrs);
    assert_non_null(addrs);
    for (size_t i = 0; i < N; i++) {
        addrs[i] = 0x10000 + 16 * (uintptr_t)(i ^ 0x5555);
    }
    rc_builder *b = rc_builder_new_listed(1000);
    assert_non_null(b);
    for (size_t i = 0; i < N; i += BATCH) {
        size_t m = N - i < BATCH ? N - i : BATCH;
        assert_int_equal(rc_builder_append_many(b, addrs + i, m), RC_OK);
        assert_int_equal(rc_builder_node_count(b), i + m);
    }
    assert_int_equal(rc_builder_append_many(b, addrs, 0), RC_OK);
    assert_memory_equal(rc_builder_listed_addrs(b), addrs, N * sizeof *addrs);
    rc_builder_free(b);
    rc_builder *live = rc_builder_new(0);
    assert_non_null(live);
    assert_int_equal(rc_builder_append_many(live, addrs, 1), RC_EINVAL);
    rc_builder_free(live);
    free(addrs);
}

/* A live builder takes addresses at 8-byte grain, as a PyObject is aligned:
 * two addresses closer than that are one node.  An indexed one keeps them
 * apart. */
static void
test_a_live_builder_takes_addresses_at_8_byte_grain(void **state)
{
    (void)state;
    for (int foreign = 0; foreign < 2; foreign++) {
        rc_builder *b = foreign ? rc_builder_new_foreign(0) : rc_builder_new(0);
        assert_non_null(b);
        uint32_t t;
        assert_int_equal(rc_builder_type(b, 0x10, "object", "object", 0, &t), RC_OK);
        assert_int_equal(rc_builder_seed(b, 0x1000), RC_OK);
        assert_int_equal(rc_builder_seed(b, 0x1004), RC_OK);
        assert_int_equal(rc_builder_seed(b, 0x1008), RC_OK);
        uintptr_t addr;
        unsigned flags;
        rc_status st;
        while (rc_builder_next(b, &addr, &flags, &st)) {
            if (addr == 0x1008) {
                assert_int_equal(rc_builder_edge(b, 0x1004), RC_OK);
            }
            assert_int_equal(rc_builder_close(b, t, 8, 1, 0), RC_OK);
        }
        assert_int_equal(st, RC_OK);
        rc_graph *g = NULL;
        assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
        assert_int_equal(rc_graph_node_count(g), foreign ? 3 : 2);
        size_t deg;
        const rc_id *out = rc_graph_out(g, foreign ? 2 : 1, &deg);
        assert_int_equal(deg, 1);
        assert_int_equal(out[0], foreign ? 1 : 0);
        rc_graph_free(g);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_graph),
        cmocka_unit_test(test_out_and_in_edges),
        cmocka_unit_test(test_out_index_counts_duplicate_edges),
        cmocka_unit_test(test_discovered_nodes_are_expanded_in_id_order),
        cmocka_unit_test(test_ahead_names_the_nodes_to_come),
        cmocka_unit_test(test_the_graph_keeps_its_address_order),
        cmocka_unit_test(test_excluded_addresses_vanish),
        cmocka_unit_test(test_contract_violations_are_einval),
        cmocka_unit_test(test_big_sizes_and_saturated_refcounts),
        cmocka_unit_test(test_types_are_interned_once),
        cmocka_unit_test(test_random_graph_matches_edge_list),
        cmocka_unit_test(test_allocation_failure_at_every_point),
        cmocka_unit_test(test_nodes_only_discovers_but_stores_no_edges),
        cmocka_unit_test(test_find_many),
        cmocka_unit_test(test_marks_flag_nodes_without_making_seeds),
        cmocka_unit_test(test_edges_by_id_for_a_loader),
        cmocka_unit_test(test_live_and_indexed_builders_agree),
        cmocka_unit_test(test_a_listed_builder_takes_its_nodes_in_order),
        cmocka_unit_test(test_a_listed_builder_closes_rows),
        cmocka_unit_test(test_a_listed_builder_appends_many),
        cmocka_unit_test(test_a_live_builder_takes_addresses_at_8_byte_grain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
