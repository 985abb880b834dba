/* paths_test: root classification, the preference-ordered multi-source BFS,
 * discounts (and their look-up by address), chain extraction (the target
 * alone when no root reaches it), grouping by signature, and allocation
 * failure. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/paths.h"
#include "testutil.h"

enum { T_OBJECT, T_DICT, T_LIST, T_BYTES, T_MODULE, T_TYPE, T_LRU, T_FRAME, T_ITEM };
static const char *const NAMES[] = {"object", "dict", "list", "bytes", "module",
                                    "type", "functools._lru_cache_wrapper", "frame", "m.Item"};
static const unsigned TYPE_FLAGS[] = {0, RC_TYPE_COLLECTION | RC_TYPE_DICT, RC_TYPE_COLLECTION,
                                      0, 0, 0, RC_TYPE_LRU_CACHE, 0, 0};

static void
test_roots_are_classified(void **state)
{
    (void)state;
    /* 0 sys.modules -> 1 module; 2 module not in sys.modules; 3 a type;
     * 4 an lru wrapper; 5 a thread frame; 6 a tool frame; 7 immortal;
     * 8 with a surplus of 2; 9 held only by 8. */
    const unsigned types[] = {T_DICT, T_MODULE, T_MODULE, T_TYPE, T_LRU, T_FRAME, T_FRAME,
                              T_OBJECT, T_OBJECT, T_OBJECT};
    const unsigned extra[] = {1, 0, 0, 0, 0, 1, 1, 0, 2, 0};
    const unsigned flags[] = {RC_NODE_MODULES, RC_NODE_MODULE, RC_NODE_MODULE, RC_NODE_TYPE, 0,
                              RC_NODE_THREAD_FRAME, RC_NODE_TOOL_FRAME, RC_NODE_IMMORTAL, 0, 0};
    const test_edge e[] = {{0, 1}, {8, 9}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(10, e, 2, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    const uint8_t want[] = {RC_ROOT_C, RC_ROOT_MODULE, RC_ROOT_NONE, RC_ROOT_CLASS, RC_ROOT_CACHE,
                            RC_ROOT_FRAME, RC_ROOT_NONE, RC_ROOT_IMMORTAL, RC_ROOT_C,
                            RC_ROOT_NONE};
    assert_memory_equal(kinds, want, 10);
    rc_id *roots = NULL;
    size_t n_roots = 0;
    assert_int_equal(rc_roots_list(kinds, 10, &roots, &n_roots), RC_OK);
    const rc_id want_roots[] = {0, 1, 3, 4, 5, 7, 8};
    assert_int_equal(n_roots, 7);
    assert_memory_equal(roots, want_roots, sizeof want_roots);
    rc_free(roots);
    rc_alloc_fail_after(0);
    roots = NULL;
    assert_int_equal(rc_roots_list(kinds, 10, &roots, &n_roots), RC_ENOMEM);
    assert_null(roots);
    rc_alloc_fail_after(-1);
    assert_string_equal(rc_root_kind_name(RC_ROOT_MODULE), "module");
    assert_string_equal(rc_root_kind_name(RC_ROOT_C), "c");
    assert_string_equal(rc_root_kind_name(RC_ROOT_FRAME), "frame");
    rc_free(kinds);
    rc_graph_free(g);
}

/* A class its module holds under its name is a class root; one made at
 * runtime (RC_NODE_UNNAMED_CLASS) is an ordinary node, held by whoever
 * holds it: 0 a named class -> 1 its registry dict -> 2 an unnamed class;
 * 3 an unnamed class with a surplus (held by C); 4 one with neither. */
static void
test_a_class_made_at_runtime_is_no_class_root(void **state)
{
    (void)state;
    const unsigned types[] = {T_TYPE, T_DICT, T_TYPE, T_TYPE, T_TYPE};
    const unsigned extra[] = {0, 0, 0, 1, 0};
    const unsigned unnamed = RC_NODE_TYPE | RC_NODE_UNNAMED_CLASS;
    const unsigned flags[] = {RC_NODE_TYPE, 0, unnamed, unnamed, unnamed};
    const test_edge e[] = {{0, 1}, {1, 2}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(5, e, 2, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    const uint8_t want[] = {RC_ROOT_CLASS, RC_ROOT_NONE, RC_ROOT_NONE, RC_ROOT_C, RC_ROOT_NONE};
    assert_memory_equal(kinds, want, 5);
    rc_paths *p = NULL;
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    assert_int_equal(rc_paths_depth(p, 2), 2); /* through the registry */
    assert_int_equal(rc_paths_depth(p, 4), RC_UNREACHED);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

/* An lru wrapper that a program root reaches is no root: it must not
 * outrank its holder (sqlite3's statement cache wraps its Connection).  One
 * nothing else reaches stays a cache root, and explains only what no module,
 * class or frame reaches, however shorter its chain. */
static void
test_a_cache_the_program_holds_is_no_root(void **state)
{
    (void)state;
    /* 0 sys.modules -> 1 module -> 2 list -> 3 item <-> 4 lru (wraps 3),
     * 4 -> 5 cached; 6 a lone lru -> 7 -> 8 cached; 1 -> 9 -> 10 -> 8;
     * 11 a lone lru with a surplus, reached from 2: C holds it. */
    const unsigned types[] = {T_DICT, T_MODULE, T_LIST, T_ITEM, T_LRU, T_OBJECT,
                              T_LRU, T_OBJECT, T_OBJECT, T_OBJECT, T_OBJECT, T_LRU};
    const unsigned extra[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const unsigned flags[] = {RC_NODE_MODULES, RC_NODE_MODULE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const test_edge e[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 3}, {4, 5}, {6, 7},
                           {7, 8}, {1, 9}, {9, 10}, {10, 8}, {2, 11}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(12, e, 12, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(kinds[4], RC_ROOT_NONE);
    assert_int_equal(kinds[6], RC_ROOT_CACHE);
    assert_int_equal(kinds[11], RC_ROOT_C);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    assert_int_equal(rc_paths_root(p, 3), 1);
    assert_int_equal(rc_paths_root(p, 5), 1);
    assert_int_equal(rc_paths_parent(p, 5), 4);
    assert_int_equal(rc_paths_root(p, 8), 1); /* the module's 3 hops beat the cache's 2 */
    assert_int_equal(rc_paths_root(p, 7), 6);
    for (rc_id v = 3; v <= 8; v++) {
        rc_id *chain = NULL;
        size_t len = 0;
        uint8_t kind = 0;
        assert_int_equal(rc_paths_find(g, v, NULL, 0, &chain, NULL, &len, &kind), RC_OK);
        assert_int_equal(len, rc_paths_depth(p, v) + 1);
        assert_int_equal(chain[0], rc_paths_root(p, v));
        assert_int_equal(kind, kinds[chain[0]]);
        rc_free(chain);
    }
    rc_paths_free(p);
    rc_free(kinds);
    /* Out of memory while demoting: nothing leaks, nothing is returned. */
    kinds = NULL;
    rc_alloc_fail_after(1);
    assert_int_equal(rc_roots_classify(g, &kinds), RC_ENOMEM);
    assert_null(kinds);
    rc_alloc_fail_after(-1);
    rc_graph_free(g);
}

/* A frame and a module both reach node 4 in two hops; the module wins. */
static void
test_equal_length_prefers_module_over_frame(void **state)
{
    (void)state;
    /* 0 frame -> 2 -> 4;  1 module -> 3 -> 4;  the frame comes first by id. */
    const unsigned types[] = {T_FRAME, T_MODULE, T_OBJECT, T_OBJECT, T_OBJECT, T_DICT};
    const unsigned extra[] = {1, 0, 0, 0, 0, 1};
    const unsigned flags[] = {RC_NODE_THREAD_FRAME, RC_NODE_MODULE, 0, 0, 0, RC_NODE_MODULES};
    const test_edge e[] = {{0, 2}, {2, 4}, {1, 3}, {3, 4}, {5, 1}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(6, e, 5, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    assert_int_equal(rc_paths_depth(p, 4), 2);
    assert_int_equal(rc_paths_parent(p, 4), 3);
    assert_int_equal(rc_paths_root(p, 4), 1);
    rc_id chain[8];
    assert_int_equal(rc_paths_chain(p, 4, chain, 8), 3);
    assert_int_equal(chain[0], 1);
    assert_int_equal(chain[1], 3);
    assert_int_equal(chain[2], 4);
    assert_int_equal(rc_paths_chain(p, 4, chain, 2), 0);
    rc_paths_free(p);

    /* Discounting 3 -> 4 sends the chain through the frame. */
    const rc_discount d = {3, 4, 1};
    assert_int_equal(rc_paths_bfs(g, kinds, &d, 1, &p), RC_OK);
    assert_int_equal(rc_paths_root(p, 4), 0);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

static void
test_shorter_wins_over_preferred_and_tool_frames_do_not_retain(void **state)
{
    (void)state;
    /* module 0 -> 1 -> 2 -> 3; frame 4 -> 3; tool frame 5 -> 6; 7 held by 6 only. */
    const unsigned types[] = {T_MODULE, T_OBJECT, T_OBJECT, T_OBJECT, T_FRAME, T_FRAME,
                              T_OBJECT, T_OBJECT, T_DICT};
    const unsigned extra[] = {0, 0, 0, 0, 1, 1, 0, 0, 1};
    const unsigned flags[] = {RC_NODE_MODULE, 0, 0, 0, RC_NODE_THREAD_FRAME, RC_NODE_TOOL_FRAME,
                              0, 0, RC_NODE_MODULES};
    const test_edge e[] = {{0, 1}, {1, 2}, {2, 3}, {4, 3}, {5, 6}, {6, 7}, {8, 0}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(9, e, 7, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    assert_int_equal(rc_paths_root(p, 3), 4);
    assert_int_equal(rc_paths_depth(p, 3), 1);
    assert_int_equal(rc_paths_depth(p, 6), RC_UNREACHED);
    assert_int_equal(rc_paths_depth(p, 7), RC_UNREACHED);
    assert_int_equal(rc_paths_root(p, 7), RC_NO_ID);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

static void
test_long_chain_needs_no_recursion(void **state)
{
    (void)state;
    /* A 200,000-long linked list held by C code at its head. */
    enum { N = 200000 };
    rc_builder *b = rc_builder_new(N);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(rc_builder_seed(b, FAKE(i)), RC_OK);
    }
    uintptr_t addr;
    unsigned nf;
    rc_status st;
    uint32_t tid;
    assert_int_equal(rc_builder_type(b, 1, "object", "object", 0, &tid), RC_OK);
    while (rc_builder_next(b, &addr, &nf, &st)) {
        unsigned id = (unsigned)(addr / 16 - 1);
        if (id + 1 < N) {
            assert_int_equal(rc_builder_edge(b, FAKE(id + 1)), RC_OK);
        }
        assert_int_equal(rc_builder_close(b, tid, 1, 1, 0), RC_OK);
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(kinds[0], RC_ROOT_C);
    assert_int_equal(kinds[1], RC_ROOT_NONE);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    assert_int_equal(rc_paths_depth(p, N - 1), N - 1);
    assert_int_equal(rc_paths_root(p, N - 1), 0);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

/* 0 module -> 1 -> 2 -> 3 -> 4 target; 5 is C-held (a refcount surplus)
 * and holds 4 directly.  The module's longer chain wins; without the
 * module's (the 3 -> 4 edge removed), the C-held root's. */
static void
test_named_roots_beat_shorter_c_held_ones(void **state)
{
    (void)state;
    const unsigned types[] = {T_MODULE, T_OBJECT, T_OBJECT, T_OBJECT, T_OBJECT, T_DICT,
                              T_DICT};
    const unsigned extra[] = {0, 0, 0, 0, 0, 1, 1};
    const unsigned flags[] = {RC_NODE_MODULE, 0, 0, 0, 0, 0, RC_NODE_MODULES};
    const test_edge e[] = {{6, 0}, {0, 1}, {1, 2}, {2, 3}, {5, 4}, {3, 4}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    for (size_t ne = 6; ne >= 5; ne--) {
        rc_graph *g = NULL;
        assert_int_equal(build_graph_ex(7, e, ne, types, NAMES, &attrs, &g), RC_OK);
        uint8_t *kinds = NULL;
        rc_paths *p = NULL;
        assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
        assert_int_equal(kinds[5], RC_ROOT_C);
        assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
        rc_id *chain = NULL;
        size_t len = 0;
        uint8_t kind = 0;
        assert_int_equal(rc_paths_find(g, 4, NULL, 0, &chain, NULL, &len, &kind), RC_OK);
        if (ne == 6) {
            assert_int_equal(rc_paths_root(p, 4), 0);
            assert_int_equal(rc_paths_depth(p, 4), 4);
            assert_int_equal(kind, RC_ROOT_MODULE);
            assert_int_equal(len, 5);
            assert_int_equal(chain[0], 0);
        } else {
            assert_int_equal(rc_paths_root(p, 4), 5);
            assert_int_equal(rc_paths_depth(p, 4), 1);
            assert_int_equal(kind, RC_ROOT_C);
            assert_int_equal(len, 2);
            assert_int_equal(chain[0], 5);
        }
        rc_free(chain);
        rc_paths_free(p);
        rc_free(kinds);
        rc_graph_free(g);
    }
}

/* Nodes 0..99 are each C-held (a refcount surplus) and each holds one item
 * 100..199: one group of 100, not 100 groups of one. */
static void
test_c_held_roots_group_by_type(void **state)
{
    (void)state;
    enum { N = 200 };
    unsigned types[N], extra[N], flags[N];
    test_edge e[N / 2];
    for (unsigned i = 0; i < N; i++) {
        types[i] = i < N / 2 ? T_OBJECT : T_ITEM;
        extra[i] = i < N / 2 ? 1 : 0;
        flags[i] = 0;
    }
    for (unsigned i = 0; i < N / 2; i++) {
        e[i] = (test_edge){i, i + N / 2};
    }
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(N, e, N / 2, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    rc_id members[N / 2];
    for (rc_id v = 0; v < N / 2; v++) {
        members[v] = v + N / 2;
    }
    rc_group *groups = NULL;
    size_t n_groups = 0;
    uint32_t *group_of = NULL;
    assert_int_equal(rc_paths_group(g, p, members, N / 2, &groups, &n_groups, &group_of), RC_OK);
    assert_int_equal(n_groups, 1);
    assert_int_equal(groups[0].count, N / 2);
    assert_int_equal(rc_paths_root(p, groups[0].representative), 0);
    rc_free(groups);
    rc_free(group_of);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

/* module 0 -> namespace dict 1 -> {cache dict 2, list 3}; cache dict holds
 * bytes 4..53, the list holds items 54..56 and bytes 57; an item holds bytes
 * 58; bytes 59 is unreached. */
static rc_graph *
grouping_graph(void)
{
    enum { N = 61 };
    unsigned types[N], extra[N], flags[N];
    test_edge e[N + 8];
    size_t ne = 0;
    for (unsigned i = 0; i < N; i++) {
        types[i] = T_BYTES, extra[i] = 0, flags[i] = 0;
    }
    types[0] = T_MODULE, flags[0] = RC_NODE_MODULE;
    types[1] = T_DICT, types[2] = T_DICT, types[3] = T_LIST;
    flags[1] = RC_NODE_NAMESPACE;
    types[54] = types[55] = types[56] = T_ITEM;
    types[60] = T_DICT, flags[60] = RC_NODE_MODULES, extra[60] = 1;
    e[ne++] = (test_edge){60, 0};
    e[ne++] = (test_edge){0, 1};
    e[ne++] = (test_edge){1, 2};
    e[ne++] = (test_edge){1, 3};
    for (unsigned i = 4; i < 54; i++) {
        e[ne++] = (test_edge){2, i};
    }
    for (unsigned i = 54; i < 58; i++) {
        e[ne++] = (test_edge){3, i};
    }
    e[ne++] = (test_edge){54, 58};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(N, e, ne, types, NAMES, &attrs, &g), RC_OK);
    return g;
}

/* module 0 -> item 1 -> dict 2 (an attribute: no namespace) -> bytes
 * 3..302; item 1 -> its own __dict__ 303 (a namespace) -> bytes 304..306;
 * 307 is sys.modules.  The attribute dict's keys fold into one group of 300,
 * the namespace's stay apart. */
static void
test_a_dict_in_an_attribute_folds_its_keys(void **state)
{
    (void)state;
    enum { N = 308 };
    unsigned types[N], extra[N], flags[N];
    test_edge e[N + 4];
    size_t ne = 0;
    for (unsigned i = 0; i < N; i++) {
        types[i] = T_BYTES, extra[i] = 0, flags[i] = 0;
    }
    types[0] = T_MODULE, flags[0] = RC_NODE_MODULE;
    types[1] = T_ITEM, types[2] = T_DICT, types[303] = T_DICT;
    flags[303] = RC_NODE_NAMESPACE;
    types[307] = T_DICT, flags[307] = RC_NODE_MODULES, extra[307] = 1;
    e[ne++] = (test_edge){307, 0};
    e[ne++] = (test_edge){0, 1};
    e[ne++] = (test_edge){1, 2};
    e[ne++] = (test_edge){1, 303};
    for (unsigned i = 3; i < 303; i++) {
        e[ne++] = (test_edge){2, i};
    }
    for (unsigned i = 304; i < 307; i++) {
        e[ne++] = (test_edge){303, i};
    }
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(N, e, ne, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    rc_id members[303];
    size_t n = 0;
    for (rc_id v = 3; v < 307; v++) {
        if (v != 303) {
            members[n++] = v;
        }
    }
    rc_group *groups = NULL;
    size_t n_groups = 0;
    uint32_t *group_of = NULL;
    assert_int_equal(rc_paths_group(g, p, members, n, &groups, &n_groups, &group_of), RC_OK);
    assert_int_equal(n_groups, 4);
    assert_int_equal(groups[0].count, 300);
    assert_int_equal(groups[1].count, 1);
    rc_free(groups);
    rc_free(group_of);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

/* rc_hop_names for test_positional_references_fold: node 1's references
 * are positional, and a call fails once `fail` reaches 0. */
typedef struct hop_oracle {
    rc_id positional_parent;
    int fail, calls;
} hop_oracle;

static int
oracle_positional(void *ctx, rc_id parent, rc_id child, uint32_t edge)
{
    hop_oracle *o = ctx;
    (void)child, (void)edge;
    o->calls++;
    if (o->fail >= 0 && o->fail-- == 0) {
        return -1;
    }
    return parent == o->positional_parent;
}

/* C-held object 0 -> C container 1 -> items 2..21 (edges 0..19, none a
 * collection's): 20 groups by index, one group when the container's
 * references are positional; a namespace's are never asked about. */
static void
test_positional_references_fold(void **state)
{
    (void)state;
    enum { N = 22 };
    unsigned types[N], extra[N], flags[N];
    test_edge e[N - 1];
    for (unsigned i = 0; i < N; i++) {
        types[i] = i < 2 ? T_OBJECT : T_ITEM;
        extra[i] = i == 0;
        flags[i] = 0;
    }
    e[0] = (test_edge){0, 1};
    for (unsigned i = 2; i < N; i++) {
        e[i - 1] = (test_edge){1, i};
    }
    rc_id members[N - 2];
    for (unsigned i = 2; i < N; i++) {
        members[i - 2] = i;
    }
    for (int ns = 0; ns < 2; ns++) {
        flags[1] = ns ? RC_NODE_NAMESPACE : 0;
        const test_attrs attrs = {extra, flags, TYPE_FLAGS};
        rc_graph *g = NULL;
        assert_int_equal(build_graph_ex(N, e, N - 1, types, NAMES, &attrs, &g), RC_OK);
        uint8_t *kinds = NULL;
        rc_paths *p = NULL;
        assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
        assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
        hop_oracle o = {1, -1, 0};
        rc_hop_names names = {oracle_positional, &o};
        for (int named = 0; named < 2; named++) {
            rc_group *groups = NULL;
            size_t *start = NULL;
            uint32_t *group_of = NULL;
            assert_int_equal(rc_paths_group_sets(g, p, members, NULL, N - 2, 1, SIZE_MAX,
                                                 named ? &names : NULL, &groups, &start,
                                                 &group_of),
                             RC_OK);
            size_t want = named && !ns ? 1 : N - 2;
            assert_int_equal(start[1], want);
            assert_int_equal(groups[0].count, (N - 2) / want);
            rc_free(groups);
            rc_free(start);
            rc_free(group_of);
        }
        /* Each hop asked once (0 -> 1 too); a namespace's hops never. */
        assert_int_equal(o.calls, ns ? 1 : N - 1);
        if (!ns) {
            for (int fail = 0; fail < 3; fail++) {
                o = (hop_oracle){1, fail, 0};
                rc_group *groups = NULL;
                uint32_t *group_of = NULL;
                assert_int_equal(rc_paths_group_sets(g, p, members, NULL, N - 2, 1, SIZE_MAX,
                                                     &names, &groups, NULL, &group_of),
                                 RC_ENOMEM);
                assert_null(groups);
            }
        }
        rc_paths_free(p);
        rc_free(kinds);
        rc_graph_free(g);
    }
}

static void
test_grouping_by_signature(void **state)
{
    (void)state;
    rc_graph *g = grouping_graph();
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    /* Every bytes node: 4..53 (the cache), 57 (the list), 58 (an item), 59. */
    rc_id members[54];
    size_t n = 0;
    for (rc_id v = 4; v < 60; v++) {
        if (v < 54 || v >= 57) {
            members[n++] = v;
        }
    }
    rc_group *groups = NULL;
    uint32_t *group_of = NULL;
    size_t ng = 0;
    assert_int_equal(rc_paths_group(g, p, members, n, &groups, &ng, &group_of), RC_OK);
    assert_int_equal(ng, 4);
    assert_int_equal(groups[0].count, 50);
    assert_int_equal(groups[0].representative, 4);
    assert_int_equal(groups[0].bytes, 10u * (5 + 54) * 50 / 2);
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(group_of[i], 0);
    }
    /* The three singletons sort by representative. */
    assert_int_equal(groups[1].representative, 57);
    assert_int_equal(groups[2].representative, 58);
    assert_int_equal(groups[3].representative, 59);
    assert_int_equal(rc_paths_depth(p, groups[3].representative), RC_UNREACHED);
    assert_int_equal(group_of[50], 1);
    assert_int_equal(n, 53);
    assert_int_equal(group_of[52], 3);
    rc_free(groups);
    rc_free(group_of);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

/* Several sets grouped at once read as each set grouped alone, and with a
 * limit each set's first groups are still its largest, in order. */
static void
test_grouping_sets_each_as_if_alone(void **state)
{
    (void)state;
    rc_graph *g = grouping_graph();
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    /* The cache's bytes split 30/20 between sets 0 and 1, the singletons
     * in set 2 (57), set 1 (58) and set 0 (59). */
    rc_id members[53];
    uint32_t set_of[53];
    size_t n = 0;
    for (rc_id v = 4; v < 60; v++) {
        if (v < 54 || v >= 57) {
            members[n] = v;
            set_of[n++] = v < 54 ? (v % 5 < 3 ? 0 : 1) : (uint32_t)(59 - v);
        }
    }
    for (size_t limit = 0; limit <= 3; limit++) {
        size_t lim = limit == 3 ? SIZE_MAX : limit;
        rc_group *groups = NULL;
        size_t *start = NULL;
        uint32_t *group_of = NULL;
        assert_int_equal(rc_paths_group_sets(g, p, members, set_of, n, 3, lim, NULL, &groups, &start,
                                             &group_of),
                         RC_OK);
        assert_int_equal(start[0], 0);
        for (uint32_t k = 0; k < 3; k++) {
            rc_id subset[53];
            size_t m = 0, where[53];
            for (size_t i = 0; i < n; i++) {
                if (set_of[i] == k) {
                    where[m] = i;
                    subset[m++] = members[i];
                }
            }
            rc_group *alone = NULL;
            uint32_t *alone_of = NULL;
            size_t ng = 0;
            assert_int_equal(rc_paths_group(g, p, subset, m, &alone, &ng, &alone_of), RC_OK);
            assert_int_equal(start[k + 1] - start[k], ng);
            for (size_t r = 0; r < ng && r < lim; r++) {
                const rc_group *x = &groups[start[k] + r];
                assert_int_equal(x->representative, alone[r].representative);
                assert_int_equal(x->count, alone[r].count);
                assert_int_equal(x->bytes, alone[r].bytes);
            }
            for (size_t j = 0; j < m; j++) {
                size_t r = group_of[where[j]] - start[k];
                assert_true(r < ng);
                if (alone_of[j] < lim) {
                    assert_int_equal(r, alone_of[j]);
                } else {
                    assert_true(r >= lim); /* an untaken group stays past the limit */
                    assert_int_equal(groups[start[k] + r].representative,
                                     alone[alone_of[j]].representative);
                }
            }
            rc_free(alone);
            rc_free(alone_of);
        }
        rc_free(groups);
        rc_free(start);
        rc_free(group_of);
    }
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

/* A linked list 200,000 long, ids reversed (held by C code at N - 1, which
 * points to N - 2, ...): a repeated hop adds nothing to the signature, so
 * the list is two groups, found without walking each chain (the quadratic
 * walk would not finish), and the representative is the shallowest member,
 * not the smallest id (the far end). */
static void
test_grouping_a_long_list_collapses_the_repeated_hop(void **state)
{
    (void)state;
    enum { N = 200000 };
    rc_builder *b = rc_builder_new(N);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(rc_builder_seed(b, FAKE(i)), RC_OK);
    }
    uintptr_t addr;
    unsigned nf;
    rc_status st;
    uint32_t tid;
    assert_int_equal(rc_builder_type(b, 1, "m.Link", "Link", 0, &tid), RC_OK);
    while (rc_builder_next(b, &addr, &nf, &st)) {
        unsigned id = (unsigned)(addr / 16 - 1);
        if (id > 0) {
            assert_int_equal(rc_builder_edge(b, FAKE(id - 1)), RC_OK);
        }
        assert_int_equal(rc_builder_close(b, tid, 8, 1, 0), RC_OK);
    }
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(kinds[N - 1], RC_ROOT_C);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    rc_id *members = malloc(N * sizeof *members);
    assert_non_null(members);
    for (rc_id v = 0; v < N; v++) {
        members[v] = v;
    }
    rc_group *groups = NULL;
    uint32_t *group_of = NULL;
    size_t ng = 0;
    assert_int_equal(rc_paths_group(g, p, members, N, &groups, &ng, &group_of), RC_OK);
    assert_int_equal(ng, 2);
    assert_int_equal(groups[0].count, N - 1);
    assert_int_equal(groups[0].representative, N - 2);
    assert_int_equal(groups[0].bytes, 8u * (N - 1));
    assert_int_equal(groups[1].count, 1);
    assert_int_equal(groups[1].representative, N - 1);
    assert_int_equal(group_of[0], 0);
    assert_int_equal(group_of[N - 1], 1);
    rc_free(groups);
    rc_free(group_of);
    free(members);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

/* Only a hop that repeats the one before it collapses: in root -> A -> A
 * -> B -> B -> A (edge index 0 throughout) the members are 4 groups. */
static void
test_only_consecutive_repeats_collapse(void **state)
{
    (void)state;
    const unsigned types[] = {T_OBJECT, T_ITEM, T_ITEM, T_BYTES, T_BYTES, T_ITEM};
    const unsigned extra[] = {1, 0, 0, 0, 0, 0};
    const test_edge e[] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}};
    const test_attrs attrs = {extra, NULL, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(6, e, 5, types, NAMES, &attrs, &g), RC_OK);
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    const rc_id members[] = {5, 4, 3, 2, 1, 0};
    rc_group *groups = NULL;
    uint32_t *group_of = NULL;
    size_t ng = 0;
    assert_int_equal(rc_paths_group(g, p, members, 6, &groups, &ng, &group_of), RC_OK);
    assert_int_equal(ng, 4);
    assert_int_equal(groups[0].count, 2); /* 1 and 2 */
    assert_int_equal(groups[0].representative, 1);
    assert_int_equal(groups[1].count, 2); /* 3 and 4 */
    assert_int_equal(groups[1].representative, 3);
    assert_int_equal(groups[2].representative, 0);
    assert_int_equal(groups[3].representative, 5);
    const uint32_t want[] = {3, 1, 1, 0, 0, 2};
    assert_memory_equal(group_of, want, sizeof want);
    rc_free(groups);
    rc_free(group_of);
    rc_paths_free(p);
    rc_free(kinds);
    rc_graph_free(g);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    rc_graph *g = grouping_graph();
    rc_id members[] = {4, 5, 57, 58, 59};
    const rc_discount d = {2, 5, 1};
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        uint8_t *kinds = NULL;
        rc_paths *p = NULL;
        rc_group *groups = NULL;
        uint32_t *group_of = NULL;
        size_t ng = 0;
        rc_status st = rc_roots_classify(g, &kinds);
        if (st == RC_OK) {
            st = rc_paths_bfs(g, kinds, &d, 1, &p);
        }
        if (st == RC_OK) {
            st = rc_paths_group(g, p, members, 5, &groups, &ng, &group_of);
        }
        rc_free(groups);
        rc_free(group_of);
        rc_paths_free(p);
        rc_free(kinds);
        assert_int_equal(live_blocks, 0);
        if (st == RC_OK) {
            assert_int_equal(ng, 4); /* 4 and 5 differ: 5 lost its cache edge */
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        failures++;
    }
    assert_true(failures >= 5);
    use_default_allocator();
    rc_graph_free(g);
}

/* rc_paths_find agrees with the full BFS on distance and root kind, on
 * seeded random graphs with roots of every kind. */
static void
test_find_agrees_with_the_bfs(void **state)
{
    (void)state;
    enum { N = 400, M = 700 };
    for (unsigned seed = 1; seed <= 30; seed++) {
        srand(seed);
        unsigned types[N], extra[N], flags[N];
        test_edge e[M + 1];
        for (unsigned i = 0; i < N; i++) {
            int r = rand() % 40;
            types[i] = r == 0 ? T_FRAME : r == 1 ? T_TYPE : T_OBJECT;
            flags[i] = r == 0 ? RC_NODE_THREAD_FRAME : r == 1 ? RC_NODE_TYPE : 0;
            extra[i] = (r == 0 || r == 2) ? 1 : 0; /* frames, and a few C-held */
        }
        for (unsigned j = 0; j < M; j++) {
            e[j] = (test_edge){(unsigned)rand() % N, (unsigned)rand() % N};
        }
        const test_attrs attrs = {extra, flags, TYPE_FLAGS};
        rc_graph *g = NULL;
        assert_int_equal(build_graph_ex(N, e, M, types, NAMES, &attrs, &g), RC_OK);
        uint8_t *kinds = NULL;
        rc_paths *p = NULL;
        assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
        assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
        for (rc_id v = 0; v < N; v++) {
            rc_id *chain = NULL;
            size_t len = 0;
            uint8_t kind = 0;
            assert_int_equal(rc_paths_find(g, v, NULL, 0, &chain, NULL, &len, &kind), RC_OK);
            uint32_t depth = rc_paths_depth(p, v);
            if (depth == RC_UNREACHED) {
                assert_int_equal(len, 0);
                assert_null(chain);
                continue;
            }
            assert_int_equal(len, depth + 1);
            assert_int_equal(chain[len - 1], v);
            assert_int_equal(kind, kinds[rc_paths_root(p, v)]);
            assert_int_equal(kinds[chain[0]], kind);
            for (size_t i = 0; i + 1 < len; i++) {   /* every hop is an edge */
                size_t deg, k = 0;
                const rc_id *out = rc_graph_out(g, chain[i], &deg);
                while (k < deg && out[k] != chain[i + 1]) {
                    k++;
                }
                assert_true(k < deg);
            }
            rc_free(chain);
        }
        rc_paths_free(p);
        rc_free(kinds);
        rc_graph_free(g);
    }
}

static void
test_find_honours_discounts(void **state)
{
    (void)state;
    /* module 0 -> 1 -> 2 and frame 3 -> 2 twice; discounting one 3 -> 2
     * edge keeps the frame's chain, discounting both sends it via 1. */
    const unsigned types[] = {T_MODULE, T_OBJECT, T_OBJECT, T_FRAME, T_DICT};
    const unsigned extra[] = {0, 0, 0, 1, 1};
    const unsigned flags[] = {RC_NODE_MODULE, 0, 0, RC_NODE_THREAD_FRAME, RC_NODE_MODULES};
    const test_edge e[] = {{0, 1}, {1, 2}, {3, 2}, {3, 2}, {4, 0}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(5, e, 5, types, NAMES, &attrs, &g), RC_OK);
    rc_id *chain = NULL;
    size_t len;
    uint8_t kind;
    rc_discount d = {3, 2, 1};
    uint32_t *edges = NULL;
    assert_int_equal(rc_paths_find(g, 2, &d, 1, &chain, &edges, &len, &kind), RC_OK);
    assert_int_equal(len, 2);
    assert_int_equal(kind, RC_ROOT_FRAME);
    assert_int_equal(edges[0], 1); /* the first 3 -> 2 edge was discounted */
    rc_free(edges);
    rc_free(chain);
    assert_int_equal(rc_paths_find(g, 2, NULL, 0, &chain, &edges, &len, &kind), RC_OK);
    assert_int_equal(len, 2);
    assert_int_equal(edges[0], 0);
    rc_free(edges);
    rc_free(chain);
    /* The BFS records the same edge. */
    uint8_t *kinds = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, &d, 1, &p), RC_OK);
    rc_id ids[4];
    uint32_t hops[4];
    assert_int_equal(rc_paths_chain(p, 2, ids, 4), 2);
    rc_paths_chain_edges(p, ids, 2, hops);
    assert_int_equal(ids[0], 3);
    assert_int_equal(hops[0], 1);
    rc_paths_free(p);
    rc_free(kinds);
    d.count = 2;
    assert_int_equal(rc_paths_find(g, 2, &d, 1, &chain, NULL, &len, &kind), RC_OK);
    assert_int_equal(len, 3);
    assert_int_equal(kind, RC_ROOT_MODULE);
    assert_int_equal(chain[0], 0);
    rc_free(chain);
    rc_graph_free(g);
}

/* rc_paths_find_or_alone: a reached target's chain is rc_paths_find's; an
 * unreached one's is the target alone, of no root kind, with one 0 edge;
 * each allocation failure leaves the outputs untouched and nothing
 * allocated. */
static void
test_find_or_alone(void **state)
{
    (void)state;
    /* module 0 -> 1 -> 2; 3 -> 4 -> 3 is a cycle no root reaches. */
    const unsigned types[] = {T_MODULE, T_OBJECT, T_OBJECT, T_OBJECT, T_OBJECT, T_DICT};
    const unsigned extra[] = {0, 0, 0, 0, 0, 1};
    const unsigned flags[] = {RC_NODE_MODULE, 0, 0, 0, 0, RC_NODE_MODULES};
    const test_edge e[] = {{0, 1}, {1, 2}, {3, 4}, {4, 3}, {5, 0}};
    const test_attrs attrs = {extra, flags, TYPE_FLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(6, e, 5, types, NAMES, &attrs, &g), RC_OK);
    rc_id *chain = NULL;
    uint32_t *edges = NULL;
    size_t len = 0;
    uint8_t kind = 0;
    assert_int_equal(rc_paths_find_or_alone(g, 2, NULL, 0, &chain, &edges, &len, &kind),
                     RC_OK);
    assert_int_equal(len, 3);
    assert_int_equal(kind, RC_ROOT_MODULE);
    assert_int_equal(chain[2], 2);
    rc_free(chain);
    rc_free(edges);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        chain = NULL;
        edges = NULL;
        len = 99;
        kind = 0;
        rc_status st =
            rc_paths_find_or_alone(g, 4, NULL, 0, &chain, &edges, &len, &kind);
        rc_alloc_fail_after(-1);
        if (st == RC_OK) {
            assert_int_equal(len, 1);
            assert_int_equal(chain[0], 4);
            assert_int_equal(edges[0], 0);
            assert_int_equal(kind, RC_ROOT_KINDS);
            rc_free(chain);
            rc_free(edges);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(chain);
        assert_null(edges);
        assert_int_equal(len, 99);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 2); /* the search's arrays, then the chain's */
    use_default_allocator();
    /* Without edges asked for, none are made. */
    assert_int_equal(rc_paths_find_or_alone(g, 3, NULL, 0, &chain, NULL, &len, &kind),
                     RC_OK);
    assert_int_equal(len, 1);
    assert_int_equal(chain[0], 3);
    assert_int_equal(kind, RC_ROOT_KINDS);
    rc_free(chain);
    rc_graph_free(g);
}

/* rc_discounts_resolve: each pair whose two ends are nodes becomes a
 * discount of node ids, in the order given; a pair with an end the graph
 * lacks is dropped; each allocation failure leaves the outputs untouched
 * and nothing allocated. */
static void
test_discounts_resolve(void **state)
{
    (void)state;
    const unsigned types[] = {T_FRAME, T_DICT, T_OBJECT, T_OBJECT};
    const test_edge e[] = {{0, 2}, {1, 3}, {0, 3}};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(4, e, 3, types, NAMES, &g), RC_OK);
    /* frame -> 3 twice, a missing holder, dict -> 2, a missing target,
     * frame -> 2. */
    const rc_discount_addr pairs[] = {{FAKE(0), FAKE(3), 2},
                                      {FAKE(9), FAKE(3), 1},
                                      {FAKE(1), FAKE(2), 1},
                                      {FAKE(1), 8, 1},
                                      {FAKE(0), FAKE(2), 3}};
    const rc_discount want[] = {{0, 3, 2}, {1, 2, 1}, {0, 2, 3}};
    rc_discount *d = NULL;
    size_t n = 0;
    assert_int_equal(rc_discounts_resolve(g, pairs, 5, &d, &n), RC_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d[i].from, want[i].from);
        assert_int_equal(d[i].to, want[i].to);
        assert_int_equal(d[i].count, want[i].count);
    }
    rc_free(d);
    /* None given: an empty array, still one to free. */
    d = NULL;
    n = 99;
    assert_int_equal(rc_discounts_resolve(g, NULL, 0, &d, &n), RC_OK);
    assert_non_null(d);
    assert_int_equal(n, 0);
    rc_free(d);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        d = NULL;
        n = 99;
        rc_status st = rc_discounts_resolve(g, pairs, 5, &d, &n);
        rc_alloc_fail_after(-1);
        if (st == RC_OK) {
            assert_int_equal(n, 3);
            assert_int_equal(d[2].to, 2);
            rc_free(d);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(d);
        assert_int_equal(n, 99);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 3); /* the addresses, the ids, the discounts */
    use_default_allocator();
    rc_graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roots_are_classified),
        cmocka_unit_test(test_a_class_made_at_runtime_is_no_class_root),
        cmocka_unit_test(test_a_cache_the_program_holds_is_no_root),
        cmocka_unit_test(test_equal_length_prefers_module_over_frame),
        cmocka_unit_test(
            test_shorter_wins_over_preferred_and_tool_frames_do_not_retain),
        cmocka_unit_test(test_long_chain_needs_no_recursion),
        cmocka_unit_test(test_named_roots_beat_shorter_c_held_ones),
        cmocka_unit_test(test_c_held_roots_group_by_type),
        cmocka_unit_test(test_grouping_by_signature),
        cmocka_unit_test(test_a_dict_in_an_attribute_folds_its_keys),
        cmocka_unit_test(test_grouping_sets_each_as_if_alone),
        cmocka_unit_test(test_grouping_a_long_list_collapses_the_repeated_hop),
        cmocka_unit_test(test_only_consecutive_repeats_collapse),
        cmocka_unit_test(test_positional_references_fold),
        cmocka_unit_test(test_allocation_failure_at_every_point),
        cmocka_unit_test(test_find_agrees_with_the_bfs),
        cmocka_unit_test(test_find_honours_discounts),
        cmocka_unit_test(test_find_or_alone),
        cmocka_unit_test(test_discounts_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
