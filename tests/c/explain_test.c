/* explain_test: grouped explanations laid out as node ids: one set and by
 * type, the limit, chains with their edge indexes, the members of each
 * group in the order given, an unreached group, and allocation failure. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/dominators.h"
#include "refchain/explain.h"
#include "testutil.h"

enum { T_OBJECT, T_DICT, T_LIST, T_BYTES, T_MODULE, T_ITEM };
static const char *const NAMES[] = {"object", "dict", "list", "bytes", "module", "mod.Item"};
static const unsigned TYPE_FLAGS[] = {0, RC_TYPE_COLLECTION | RC_TYPE_DICT, RC_TYPE_COLLECTION,
                                      0, 0, 0};

/* 0 sys.modules -> module 1 -> namespace 2 -> {cache dict 3, list 4};
 * the cache holds bytes 5..34; the list holds items 35..39, each item i
 * holding bytes i + 5 (40..44); bytes 45 and 46 are unreached. */
enum { N = 47 };

static rc_graph *
sample(void)
{
    unsigned types[N], extra[N], flags[N];
    test_edge e[N + 8];
    size_t ne = 0;
    for (unsigned i = 0; i < N; i++) {
        types[i] = T_BYTES, extra[i] = 0, flags[i] = 0;
    }
    types[0] = T_DICT, flags[0] = RC_NODE_MODULES, extra[0] = 1;
    types[1] = T_MODULE, flags[1] = RC_NODE_MODULE;
    types[2] = T_DICT, flags[2] = RC_NODE_NAMESPACE;
    types[3] = T_DICT, types[4] = T_LIST;
    e[ne++] = (test_edge){0, 1};
    e[ne++] = (test_edge){1, 2};
    e[ne++] = (test_edge){2, 3};
    e[ne++] = (test_edge){2, 4};
    for (unsigned i = 5; i < 35; i++) {
        e[ne++] = (test_edge){3, i};
    }
    for (unsigned i = 35; i < 40; i++) {
        types[i] = T_ITEM;
        e[ne++] = (test_edge){4, i};
        e[ne++] = (test_edge){i, i + 5};
    }
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(N, e, ne, types, NAMES, &attrs, &g), RC_OK);
    return g;
}

typedef struct fixture {
    rc_graph *g;
    uint8_t *kinds;
    rc_paths *p;
} fixture;

static fixture
analysed(void)
{
    fixture f = {sample(), NULL, NULL};
    assert_int_equal(rc_roots_classify(f.g, &f.kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(f.g, f.kinds, NULL, 0, &f.p), RC_OK);
    return f;
}

static void
fixture_free(fixture *f)
{
    rc_paths_free(f->p);
    rc_free(f->kinds);
    rc_graph_free(f->g);
}

/* Every bytes object (5..34, 40..46), then the items 35..39, given last
 * first. */
static size_t
members_of(rc_id *m)
{
    size_t n = 0;
    for (rc_id v = 5; v < N; v++) {
        if (v < 35 || v > 39) {
            m[n++] = v;
        }
    }
    for (rc_id v = 39; v >= 35; v--) {
        m[n++] = v;
    }
    return n;
}

static void
test_one_set_groups_by_path_with_chains_and_members(void **state)
{
    (void)state;
    fixture f = analysed();
    rc_id m[N];
    size_t n = members_of(m);
    rc_explanation e;
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, NULL, m, n, 0, SIZE_MAX, NULL, &e), RC_OK);
    assert_int_equal(e.n_sets, 1);
    assert_int_equal(e.sets[0].count, n);
    /* Sizes are 10 * (id + 1). */
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += 10u * (m[i] + 1);
    }
    assert_int_equal(e.sets[0].bytes, bytes);
    /* Cache bytes (30), items (5), item bytes (5), unreached bytes (2). */
    assert_int_equal(e.sets[0].n_groups, 4);
    assert_int_equal(e.n_groups, 4);
    const size_t counts[] = {30, 5, 5, 2};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(e.groups[i].count, counts[i]);
    }
    /* The cache group: module 1 -> ns 2 -> cache 3 -> bytes 5, and its
     * members in the order given. */
    const rc_explained_group *c = &e.groups[0];
    assert_int_equal(c->kind, RC_ROOT_MODULE);
    assert_int_equal(c->chain_len, 4);
    const rc_id want[] = {1, 2, 3, 5};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(e.ids[c->chain_at + i], want[i]);
    }
    assert_int_equal(e.edges[c->chain_at + 1], 0); /* ns -> cache: its first reference */
    assert_int_equal(e.edges[c->chain_at + 2], 0); /* cache -> bytes 5: its first */
    for (size_t i = 0; i < 30; i++) {
        assert_int_equal(e.ids[c->members_at + i], 5 + i);
    }
    /* The items were given last first: so are their members. */
    const rc_explained_group *items = &e.groups[1];
    assert_int_equal(e.ids[items->chain_at + items->chain_len - 1], 35);
    assert_int_equal(e.edges[items->chain_at + 1], 1); /* ns -> list: its second */
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(e.ids[items->members_at + i], 39 - i);
    }
    /* The unreached group: its representative alone. */
    const rc_explained_group *u = &e.groups[3];
    assert_int_equal(u->kind, RC_EXPLAIN_UNREACHED);
    assert_int_equal(u->chain_len, 1);
    assert_int_equal(e.ids[u->chain_at], 45);
    /* Everything is laid out once, back to back. */
    size_t total = 0;
    for (size_t i = 0; i < e.n_groups; i++) {
        total += e.groups[i].chain_len + e.groups[i].count;
    }
    assert_int_equal(e.n_ids, total);
    rc_explanation_clear(&e);
    assert_null(e.ids);
    fixture_free(&f);
}

static void
test_by_type_keeps_the_largest_types_and_groups(void **state)
{
    (void)state;
    fixture f = analysed();
    rc_id m[N];
    size_t n = members_of(m);
    rc_explanation e;
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, NULL, m, n, 1, 1, NULL, &e), RC_OK);
    /* limit 1: the bytes type only (37 members), and its largest group. */
    assert_int_equal(e.n_sets, 1);
    assert_string_equal(rc_graph_type_name(f.g, e.sets[0].type), "bytes");
    assert_int_equal(e.sets[0].count, 37);
    assert_int_equal(e.sets[0].n_groups, 1);
    assert_int_equal(e.sets[0].all_groups, 3); /* the 7 other bytes are in two more */
    assert_int_equal(e.groups[0].count, 30);
    rc_explanation_clear(&e);

    assert_int_equal(rc_explain(f.g, f.p, f.kinds, NULL, m, n, 1, SIZE_MAX, NULL, &e), RC_OK);
    assert_int_equal(e.n_sets, 2);
    assert_string_equal(rc_graph_type_name(f.g, e.sets[1].type), "mod.Item");
    assert_int_equal(e.sets[1].count, 5);
    assert_int_equal(e.sets[1].n_groups, 1);
    assert_int_equal(e.sets[1].first, e.sets[0].n_groups);
    const rc_explained_group *items = &e.groups[e.sets[1].first];
    assert_int_equal(items->count, 5);
    assert_int_equal(items->chain_len, 4); /* module, ns, list, item */
    rc_explanation_clear(&e);
    fixture_free(&f);
}

static void
test_nothing_to_explain(void **state)
{
    (void)state;
    fixture f = analysed();
    rc_explanation e;
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, NULL, NULL, 0, 0, 10, NULL, &e), RC_OK);
    assert_int_equal(e.n_sets, 1);
    assert_int_equal(e.sets[0].n_groups, 0);
    assert_int_equal(e.n_ids, 0);
    rc_explanation_clear(&e);
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, NULL, NULL, 0, 1, 10, NULL, &e), RC_OK);
    assert_int_equal(e.n_sets, 0);
    rc_explanation_clear(&e);
    fixture_free(&f);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    fixture f = analysed();
    rc_id m[N];
    size_t n = members_of(m);
    for (int by_type = 0; by_type < 2; by_type++) {
        use_counting_allocator();
        int failures = 0;
        for (long k = 0;; k++) {
            rc_alloc_fail_after(k);
            rc_explanation e;
            rc_status st = rc_explain(f.g, f.p, f.kinds, NULL, m, n, by_type, SIZE_MAX, NULL, &e);
            if (st == RC_OK) {
                assert_int_equal(e.n_groups, 4);
                rc_explanation_clear(&e);
                assert_int_equal(live_blocks, 0);
                break;
            }
            assert_int_equal(st, RC_ENOMEM);
            assert_null(e.ids);
            assert_int_equal(live_blocks, 0);
            failures++;
        }
        assert_true(failures >= 5);
        use_default_allocator();
    }
    fixture_free(&f);
}

/* rc_explain_overlapped, its dominator tree made in a thread while the
 * members are grouped, answers as rc_explain with the tree made first; an
 * allocation failure anywhere (the thread's included) leaks nothing. */
static void
test_overlapped_answers_as_sequential(void **state)
{
    (void)state;
    fixture f = analysed();
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(f.g, f.kinds, &d), RC_OK);
    rc_id m[N];
    size_t n = members_of(m);
    for (int by_type = 0; by_type < 2; by_type++) {
        for (size_t limit = 1; limit <= 2; limit++) {
            rc_explanation want, got;
            assert_int_equal(rc_explain(f.g, f.p, f.kinds, d, m, n, by_type, limit, NULL, &want),
                             RC_OK);
            rc_dom_job job;
            rc_dominators *dom = NULL;
            rc_dominators_begin(&job, f.g, f.kinds);
            assert_int_equal(rc_explain_overlapped(f.g, f.p, f.kinds, &job, &dom, m, n, by_type,
                                                   limit, NULL, &got),
                             RC_OK);
            assert_non_null(dom);
            assert_int_equal(got.n_groups, want.n_groups);
            assert_int_equal(got.n_sets, want.n_sets);
            assert_int_equal(got.n_ids, want.n_ids);
            assert_memory_equal(got.ids, want.ids, want.n_ids * sizeof *want.ids);
            assert_memory_equal(got.edges, want.edges, want.n_ids * sizeof *want.edges);
            assert_memory_equal(got.groups, want.groups, want.n_groups * sizeof *want.groups);
            assert_memory_equal(got.sets, want.sets, want.n_sets * sizeof *want.sets);
            rc_explanation_clear(&got);
            rc_explanation_clear(&want);
            rc_dominators_free(dom);
        }
    }
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_dom_job job;
        rc_dominators *dom = NULL;
        rc_explanation e;
        rc_dominators_begin(&job, f.g, f.kinds);
        rc_status st = rc_explain_overlapped(f.g, f.p, f.kinds, &job, &dom, m, n, 1, SIZE_MAX,
                                             NULL, &e);
        rc_alloc_fail_after(-1);
        rc_dominators_free(dom); /* the caller's, whatever the status */
        if (st == RC_OK) {
            assert_int_equal(e.n_groups, 4);
            rc_explanation_clear(&e);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(e.ids);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 10);
    use_default_allocator();
    rc_dominators_free(d);
    fixture_free(&f);
}

/* Sizes are 10 * (id + 1): what ids a..b (inclusive) weigh. */
static uint64_t
weigh(rc_id a, rc_id b)
{
    uint64_t sum = 0;
    for (rc_id v = a; v <= b; v++) {
        sum += 10u * (v + 1);
    }
    return sum;
}

static void
test_retained_sizes_order_groups_and_sets(void **state)
{
    (void)state;
    fixture f = analysed();
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(f.g, f.kinds, &d), RC_OK);
    /* One set: the cache dict 3, its bytes 5..34, the items' bytes 40..44. */
    rc_id m[N];
    size_t n = 0;
    m[n++] = 3;
    for (rc_id v = 5; v < 35; v++) {
        m[n++] = v;
    }
    for (rc_id v = 40; v < 45; v++) {
        m[n++] = v;
    }
    rc_explanation e;
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, NULL, m, n, 0, SIZE_MAX, NULL, &e), RC_OK);
    assert_int_equal(e.n_groups, 3);
    assert_int_equal(e.groups[2].count, 1); /* by count: 30, 5, then the dict */
    assert_int_equal(e.groups[2].retained_bytes, 0);
    rc_explanation_clear(&e);
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, d, m, n, 0, SIZE_MAX, NULL, &e), RC_OK);
    /* By retained bytes: the dict (itself and the 30 bytes), the 30 bytes,
     * the items' 5 bytes. */
    const uint64_t bytes[] = {40 + weigh(5, 34), weigh(5, 34), weigh(40, 44)};
    const uint64_t counts[] = {31, 30, 5}, members[] = {1, 30, 5};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(e.groups[i].retained_bytes, bytes[i]);
        assert_int_equal(e.groups[i].retained_count, counts[i]);
        assert_int_equal(e.groups[i].count, members[i]);
    }
    assert_int_equal(e.ids[e.groups[0].members_at], 3);
    assert_int_equal(e.ids[e.groups[0].chain_at + e.groups[0].chain_len - 1], 3);
    /* The 30 bytes' holder is the dict: what dropping the cache frees. */
    assert_int_equal(e.ids[e.groups[1].chain_at + e.groups[1].holder_at], 3);
    assert_int_equal(e.groups[1].holder_bytes, bytes[0]);
    assert_int_equal(e.groups[1].holder_count, 31);
    /* The set counts the bytes under the dict once. */
    assert_int_equal(e.sets[0].retained_bytes, bytes[0] + bytes[2]);
    assert_int_equal(e.sets[0].retained_count, 36);
    rc_explanation_clear(&e);

    /* A limit keeps the groups retaining the most, not the most numerous:
     * with one group, the dict (1 member) is kept over the 30 bytes. */
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, NULL, m, n, 0, 1, NULL, &e), RC_OK);
    assert_int_equal(e.groups[0].count, 30);
    rc_explanation_clear(&e);
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, d, m, n, 0, 1, NULL, &e), RC_OK);
    assert_int_equal(e.n_groups, 1);
    assert_int_equal(e.groups[0].count, 1);
    assert_int_equal(e.groups[0].retained_bytes, bytes[0]);
    assert_int_equal(e.ids[e.groups[0].members_at], 3);
    assert_int_equal(e.sets[0].retained_bytes, bytes[0] + bytes[2]); /* all members */
    rc_explanation_clear(&e);

    /* By type: the dict (1 member) retains more than the bytes (7, two
     * of them unreached, retaining nothing): it comes first. */
    n = 0;
    m[n++] = 3;
    for (rc_id v = 40; v < N; v++) {
        m[n++] = v;
    }
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, NULL, m, n, 1, SIZE_MAX, NULL, &e), RC_OK);
    assert_string_equal(rc_graph_type_name(f.g, e.sets[0].type), "bytes");
    rc_explanation_clear(&e);
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, d, m, n, 1, SIZE_MAX, NULL, &e), RC_OK);
    assert_string_equal(rc_graph_type_name(f.g, e.sets[0].type), "dict");
    assert_int_equal(e.sets[0].retained_bytes, 40 + weigh(5, 34));
    assert_int_equal(e.sets[1].retained_bytes, weigh(40, 44));
    assert_int_equal(e.sets[1].retained_count, 5);
    const rc_explained_group *gr = &e.groups[e.sets[1].first];
    assert_int_equal(e.sets[1].n_groups, 2);
    assert_int_equal(gr[0].count, 5);
    assert_int_equal(gr[1].kind, RC_EXPLAIN_UNREACHED);
    assert_int_equal(gr[1].retained_count, 0);
    assert_int_equal(e.ids[e.groups[e.sets[0].first].members_at], 3);
    rc_explanation_clear(&e);

    /* Allocation failure at every point leaks nothing and fills nothing. */
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_status st = rc_explain(f.g, f.p, f.kinds, d, m, n, 1, SIZE_MAX, NULL, &e);
        if (st == RC_OK) {
            assert_int_equal(e.sets[0].retained_bytes, 40 + weigh(5, 34));
            rc_explanation_clear(&e);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(e.sets);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 8);
    rc_alloc_fail_after(-1);
    use_default_allocator();
    rc_explanation_clear(&e);
    rc_dominators_free(d);
    fixture_free(&f);
}

/* 0 sys.modules -> module 1 -> namespace 2 -> registry dict 3, whose one
 * entry, object 4, holds the store dict 5 with items 6..15, each holding
 * bytes i + 10 (16..25); the registry's second entry, object 26, holds the
 * store 27 with item 28 (-> bytes 29). */
static void
test_the_holder_is_where_the_members_paths_part(void **state)
{
    (void)state;
    enum { M = 30 };
    unsigned types[M], extra[M] = {0}, flags[M] = {0};
    test_edge e[M + 4];
    size_t ne = 0;
    for (unsigned i = 0; i < M; i++) {
        types[i] = T_BYTES;
    }
    types[0] = T_DICT, flags[0] = RC_NODE_MODULES, extra[0] = 1;
    types[1] = T_MODULE, flags[1] = RC_NODE_MODULE;
    types[2] = T_DICT, flags[2] = RC_NODE_NAMESPACE;
    types[3] = types[5] = types[27] = T_DICT;
    types[4] = types[26] = T_OBJECT;
    e[ne++] = (test_edge){0, 1};
    e[ne++] = (test_edge){1, 2};
    e[ne++] = (test_edge){2, 3};
    e[ne++] = (test_edge){3, 4};
    e[ne++] = (test_edge){4, 5};
    for (unsigned i = 6; i < 16; i++) {
        types[i] = T_ITEM;
        e[ne++] = (test_edge){5, i};
        e[ne++] = (test_edge){i, i + 10};
    }
    e[ne++] = (test_edge){3, 26};
    e[ne++] = (test_edge){26, 27};
    types[28] = T_ITEM;
    e[ne++] = (test_edge){27, 28};
    e[ne++] = (test_edge){28, 29};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    fixture f = {NULL, NULL, NULL};
    assert_int_equal(build_graph_ex(M, e, ne, types, NAMES, &attrs, &f.g), RC_OK);
    assert_int_equal(rc_roots_classify(f.g, &f.kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(f.g, f.kinds, NULL, 0, &f.p), RC_OK);
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(f.g, f.kinds, &d), RC_OK);
    rc_id m[M];
    size_t n = 0;
    for (rc_id v = 15; v >= 6; v--) { /* the representative is not given first */
        m[n++] = v;
    }
    rc_explanation x;
    /* One store's items part at the store, not at the registry (the first
     * collection, which holds one entry). */
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, d, m, n, 0, SIZE_MAX, NULL, &x), RC_OK);
    assert_int_equal(x.n_groups, 1);
    const rc_explained_group *gr = &x.groups[0];
    assert_int_equal(gr->chain_len, 6); /* module 1 .. item */
    assert_int_equal(x.ids[gr->chain_at + gr->holder_at], 5);
    assert_int_equal(gr->holder_bytes, rc_dominators_bytes(d, 5));
    assert_int_equal(gr->holder_count, 21);
    rc_explanation_clear(&x);
    /* Their bytes part there too. */
    for (size_t i = 0; i < n; i++) {
        m[i] += 10;
    }
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, d, m, n, 0, SIZE_MAX, NULL, &x), RC_OK);
    assert_int_equal(x.ids[x.groups[0].chain_at + x.groups[0].holder_at], 5);
    rc_explanation_clear(&x);
    /* With the other store's item, the paths part at the registry. */
    for (size_t i = 0; i < n; i++) {
        m[i] -= 10;
    }
    m[n++] = 28;
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, d, m, n, 0, SIZE_MAX, NULL, &x), RC_OK);
    assert_int_equal(x.n_groups, 1);
    assert_int_equal(x.groups[0].count, 11);
    assert_int_equal(x.ids[x.groups[0].chain_at + x.groups[0].holder_at], 3);
    assert_int_equal(x.groups[0].holder_count, rc_dominators_count(d, 3));
    rc_explanation_clear(&x);
    /* A lone member's holder is its nearest collection. */
    m[0] = 28;
    assert_int_equal(rc_explain(f.g, f.p, f.kinds, d, m, 1, 0, SIZE_MAX, NULL, &x), RC_OK);
    assert_int_equal(x.ids[x.groups[0].chain_at + x.groups[0].holder_at], 27);
    rc_explanation_clear(&x);
    rc_dominators_free(d);
    fixture_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_set_groups_by_path_with_chains_and_members),
        cmocka_unit_test(test_by_type_keeps_the_largest_types_and_groups),
        cmocka_unit_test(test_nothing_to_explain),
        cmocka_unit_test(test_allocation_failure_at_every_point),
        cmocka_unit_test(test_overlapped_answers_as_sequential),
        cmocka_unit_test(test_retained_sizes_order_groups_and_sets),
        cmocka_unit_test(test_the_holder_is_where_the_members_paths_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
