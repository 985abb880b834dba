/* dominators_test: the dominator tree and retained sizes against a naive
 * oracle on random graphs (remove each node, see what the virtual root
 * still reaches), hand-made shapes (diamond, cycles, a chain a million
 * long), leak suspects, dominator subtrees, and allocation failure at
 * every point. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/dominators.h"
#include "refchain/paths.h"
#include "testutil.h"

/* ---- the oracle -------------------------------------------------------- */

/* reach[v] = 1 for what the virtual root reaches without passing through
 * `removed` (RC_NO_ID: nothing removed); tool frames are not expanded. */
static void
oracle_reach(const rc_graph *g, const uint8_t *kinds, rc_id removed, uint8_t *reach,
             rc_id *queue)
{
    size_t n = rc_graph_node_count(g), head = 0, tail = 0;
    memset(reach, 0, n);
    for (rc_id v = 0; v < n; v++) {
        if (kinds[v] && v != removed) {
            reach[v] = 1;
            queue[tail++] = v;
        }
    }
    while (head < tail) {
        rc_id u = queue[head++];
        if (rc_graph_flags(g, u) & RC_NODE_TOOL_FRAME) {
            continue;
        }
        size_t deg;
        const rc_id *out = rc_graph_out(g, u, &deg);
        for (size_t i = 0; i < deg; i++) {
            if (!reach[out[i]] && out[i] != removed) {
                reach[out[i]] = 1;
                queue[tail++] = out[i];
            }
        }
    }
}

/* Check d against the oracle: every node's dominated set, its retained
 * bytes and count, and its immediate dominator (the strict dominator with
 * the smallest dominated set). */
static void
check_against_oracle(const rc_graph *g, const uint8_t *kinds, const rc_dominators *d)
{
    size_t n = rc_graph_node_count(g);
    uint8_t *base = malloc(n + 1), *without = malloc(n + 1);
    uint8_t *dom = calloc(n * n + 1, 1); /* dom[x * n + v]: x dominates v */
    uint64_t *cnt = calloc(n + 1, sizeof *cnt);
    rc_id *queue = malloc((n + 1) * sizeof *queue);
    assert_non_null(dom);
    oracle_reach(g, kinds, RC_NO_ID, base, queue);
    uint64_t heap = 0;
    size_t reached = 0;
    for (rc_id x = 0; x < n; x++) {
        heap += base[x] ? rc_graph_size(g, x) : 0;
        reached += base[x];
        if (!base[x]) {
            assert_int_equal(rc_dominators_idom(d, x), RC_NO_ID);
            assert_int_equal(rc_dominators_bytes(d, x), 0);
            assert_int_equal(rc_dominators_count(d, x), 0);
            continue;
        }
        oracle_reach(g, kinds, x, without, queue);
        uint64_t bytes = 0;
        for (rc_id v = 0; v < n; v++) {
            if (base[v] && !without[v]) {
                dom[(size_t)x * n + v] = 1;
                bytes += rc_graph_size(g, v);
                cnt[x]++;
            }
        }
        assert_int_equal(rc_dominators_bytes(d, x), bytes);
        assert_int_equal(rc_dominators_count(d, x), cnt[x]);
    }
    for (rc_id v = 0; v < n; v++) {
        if (!base[v]) {
            continue;
        }
        rc_id best = RC_DOM_ROOT;
        for (rc_id x = 0; x < n; x++) {
            if (x != v && dom[(size_t)x * n + v] && (best == RC_DOM_ROOT || cnt[x] < cnt[best])) {
                best = x;
            }
        }
        assert_int_equal(rc_dominators_idom(d, v), best);
    }
    assert_int_equal(rc_dominators_heap_bytes(d), heap);
    assert_int_equal(rc_dominators_reached(d), reached);
    free(base);
    free(without);
    free(dom);
    free(cnt);
    free(queue);
}

static unsigned long rng_state = 12345;

static unsigned
rnd(unsigned bound)
{
    rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned)((rng_state >> 33) % bound);
}

static void
test_random_graphs_equal_the_oracle(void **state)
{
    (void)state;
    for (int round = 0; round < 400; round++) {
        unsigned n = 1 + rnd(round < 100 ? 8 : 40);
        unsigned n_edges = rnd(n * (1 + rnd(4)) + 1);
        test_edge *e = malloc((n_edges + 1) * sizeof *e);
        unsigned *flags = calloc(n, sizeof *flags);
        uint8_t *kinds = calloc(n, 1);
        for (unsigned i = 0; i < n_edges; i++) {
            e[i] = (test_edge){rnd(n), rnd(n)};
        }
        for (unsigned v = 0; v < n; v++) {
            if (rnd(10) == 0) {
                flags[v] = RC_NODE_TOOL_FRAME; /* never a root, never expanded */
            } else if (rnd(6) == 0 || (v == 0 && rnd(2))) {
                kinds[v] = (uint8_t)(1 + rnd(RC_ROOT_KINDS - 1));
            }
        }
        const test_attrs attrs = {NULL, flags, NULL};
        rc_graph *g = NULL;
        assert_int_equal(build_graph_ex(n, e, n_edges, NULL, NULL, &attrs, &g), RC_OK);
        rc_dominators *d = NULL;
        assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
        check_against_oracle(g, kinds, d);
        rc_dominators_free(d);
        rc_graph_free(g);
        free(e);
        free(flags);
        free(kinds);
    }
}

static void
test_roots_from_the_classifier(void **state)
{
    (void)state;
    /* 0 held from outside -> 1 -> {2, 3} -> 4; 5 <-> 6 nobody holds. */
    const unsigned extra[] = {1, 0, 0, 0, 0, 0, 0};
    const test_edge e[] = {{0, 1}, {1, 2}, {1, 3}, {2, 4}, {3, 4}, {5, 6}, {6, 5}};
    const test_attrs attrs = {extra, NULL, NULL};
    rc_graph *g = NULL;
    uint8_t *kinds = NULL;
    rc_dominators *d = NULL;
    assert_int_equal(build_graph_ex(7, e, 7, NULL, NULL, &attrs, &g), RC_OK);
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    check_against_oracle(g, kinds, d);
    assert_int_equal(rc_dominators_idom(d, 0), RC_DOM_ROOT);
    assert_int_equal(rc_dominators_idom(d, 4), 1); /* the diamond's top */
    assert_int_equal(rc_dominators_idom(d, 5), RC_NO_ID);
    assert_int_equal(rc_dominators_bytes(d, 0), 10 + 20 + 30 + 40 + 50);
    assert_int_equal(rc_dominators_count(d, 1), 4);
    assert_int_equal(rc_dominators_bytes(d, 5), 0);
    assert_true(rc_dominators_memory(d) <= rc_dominators_peak_memory(d));
    rc_dominators_free(d);
    rc_free(kinds);
    rc_graph_free(g);
}

static void
test_a_cycle_through_a_root(void **state)
{
    (void)state;
    /* Root 0 -> 1 -> 2 -> 3 -> 1; 3 -> 4; root 5 -> 3. */
    const test_edge e[] = {{0, 1}, {1, 2}, {2, 3}, {3, 1}, {3, 4}, {5, 3}};
    const uint8_t kinds[] = {RC_ROOT_MODULE, 0, 0, 0, 0, RC_ROOT_C};
    rc_graph *g = NULL;
    rc_dominators *d = NULL;
    assert_int_equal(build_graph(6, e, 6, NULL, NULL, &g), RC_OK);
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    check_against_oracle(g, kinds, d);
    assert_int_equal(rc_dominators_idom(d, 1), RC_DOM_ROOT); /* reached from 0 and via 3 */
    assert_int_equal(rc_dominators_idom(d, 2), 1);
    assert_int_equal(rc_dominators_idom(d, 3), RC_DOM_ROOT);
    assert_int_equal(rc_dominators_idom(d, 4), 3);
    rc_dominators_free(d);
    rc_graph_free(g);
}

static void
test_no_graph_without_in_edges(void **state)
{
    (void)state;
    rc_builder *b = rc_builder_new(0);
    rc_graph *g = NULL;
    assert_non_null(b);
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    const uint8_t kinds[1] = {0};
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_EINVAL);
    assert_null(d);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK); /* an empty graph */
    assert_int_equal(rc_dominators_reached(d), 0);
    rc_dominators_free(d);
    rc_graph_free(g);
}

/* A chain root 0 -> 1 -> ... -> n-1, with a back edge from each node to
 * the root (so the in-edges are long lists too), built directly. */
static rc_graph *
long_chain(unsigned n)
{
    rc_builder *b = rc_builder_new(n);
    assert_non_null(b);
    assert_int_equal(rc_builder_seed(b, FAKE(0)), RC_OK);
    uintptr_t addr;
    unsigned flags;
    rc_status st = RC_OK;
    uint32_t t = 0;
    assert_int_equal(rc_builder_type(b, 0x1000, "object", "object", 0, &t), RC_OK);
    while (rc_builder_next(b, &addr, &flags, &st)) {
        unsigned id = (unsigned)(addr / 16 - 1);
        if (id + 1 < n) {
            assert_int_equal(rc_builder_edge(b, FAKE(id + 1)), RC_OK);
        }
        assert_int_equal(rc_builder_edge(b, FAKE(0)), RC_OK);
        assert_int_equal(rc_builder_close(b, t, 8, 1, 0), RC_OK);
    }
    assert_int_equal(st, RC_OK);
    rc_graph *g = NULL;
    assert_int_equal(rc_builder_freeze(b, &g), RC_OK);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    return g;
}

static void
test_a_million_long_chain_needs_no_recursion(void **state)
{
    (void)state;
    const unsigned n = 1000000;
    rc_graph *g = long_chain(n);
    uint8_t *kinds = calloc(n, 1);
    kinds[0] = RC_ROOT_MODULE;
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    assert_int_equal(rc_dominators_reached(d), n);
    for (rc_id v = 1; v < n; v += 99991) {
        assert_int_equal(rc_dominators_idom(d, v), v - 1);
        assert_int_equal(rc_dominators_count(d, v), n - v);
        assert_int_equal(rc_dominators_bytes(d, v), 8 * (uint64_t)(n - v));
    }
    assert_int_equal(rc_dominators_bytes(d, 0), 8 * (uint64_t)n);
    /* The peak is 20 bytes a node, the result 16. */
    assert_true(rc_dominators_peak_memory(d) <= 20 * (size_t)n + 128);
    assert_true(rc_dominators_memory(d) <= 16 * (size_t)n + 128);
    /* A suspect at 10%: the deepest node retaining that much ends a linked
     * run of one type, listed at its head, the root, linking all n. */
    rc_paths *p = NULL;
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    rc_suspects s;
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 0.1, 3, &s), RC_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.items[0].node, 0);
    assert_int_equal(s.items[0].chain_len, 1);
    assert_int_equal(s.items[0].linked, n);
    assert_int_equal(s.items[0].top_count, n);
    assert_int_equal(s.items[0].top_bytes, 8 * (uint64_t)n);
    rc_suspects_clear(&s);
    rc_paths_free(p);
    rc_dominators_free(d);
    free(kinds);
    rc_graph_free(g);
}

/* A module 0 -> its dict 1 -> a cache dict 2 -> 3..12 (type "bytes")
 * and 13 (a "str"); the dict 1 also -> 14 -> 15 (small); a C root 16 ->
 * 14.  Sizes are 10 * (id + 1). */
enum { T_OBJ, T_BYTES, T_STR };
static const char *const NAMES[] = {"object", "bytes", "str"};

static rc_graph *
cache_heap(uint8_t *kinds)
{
    unsigned types[17] = {0};
    test_edge e[32];
    size_t ne = 0;
    e[ne++] = (test_edge){0, 1};
    e[ne++] = (test_edge){1, 2};
    for (unsigned v = 3; v <= 13; v++) {
        e[ne++] = (test_edge){2, v};
        types[v] = v == 13 ? T_STR : T_BYTES;
    }
    e[ne++] = (test_edge){1, 14};
    e[ne++] = (test_edge){14, 15};
    e[ne++] = (test_edge){16, 14};
    memset(kinds, 0, 17);
    kinds[0] = RC_ROOT_MODULE;
    kinds[16] = RC_ROOT_C;
    rc_graph *g = NULL;
    assert_int_equal(build_graph(17, e, ne, types, NAMES, &g), RC_OK);
    return g;
}

static void
test_suspects_are_the_accumulation_points(void **state)
{
    (void)state;
    uint8_t kinds[17];
    rc_graph *g = cache_heap(kinds);
    rc_dominators *d = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    check_against_oracle(g, kinds, d);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    rc_suspects s;
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 0.3, 10, &s), RC_OK);
    assert_int_equal(s.n, 1);
    const rc_suspect *it = &s.items[0];
    assert_int_equal(it->node, 2); /* the cache dict, not the module or its dict */
    assert_int_equal(it->count, 12);
    uint64_t bytes = 30;
    for (unsigned v = 3; v <= 13; v++) {
        bytes += 10 * (v + 1);
    }
    assert_int_equal(it->bytes, bytes);
    assert_string_equal(rc_graph_type_name(g, it->top_type), "bytes");
    assert_int_equal(it->top_count, 10);
    assert_int_equal(it->top_bytes, bytes - 30 - 140);
    assert_int_equal(it->kind, RC_ROOT_MODULE);
    assert_int_equal(it->chain_len, 3);
    const rc_id want[] = {0, 1, 2};
    assert_memory_equal(s.ids + it->chain_at, want, sizeof want);
    assert_int_equal(s.edges[it->chain_at + 1], 0); /* 1's first edge leads to 2 */
    assert_int_equal(s.heap_bytes, rc_dominators_heap_bytes(d));
    rc_suspects_clear(&s);
    /* With no threshold every node is big: the suspects are the leaves of
     * the dominator tree, largest first (14 dominates 15, so it is none). */
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 0.0, 100, &s), RC_OK);
    assert_int_equal(s.n, 13); /* 3..13, 15, 16 */
    for (size_t i = 1; i < s.n; i++) {
        assert_true(s.items[i - 1].bytes >= s.items[i].bytes);
        assert_int_not_equal(s.items[i].node, 14);
    }
    assert_int_equal(s.items[0].node, 16);
    assert_int_equal(s.items[0].kind, RC_ROOT_C);
    assert_int_equal(s.items[0].top_type, UINT32_MAX);
    rc_suspects_clear(&s);
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 1.5, 10, &s), RC_EINVAL);
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 0.3, 0, &s), RC_OK);
    assert_int_equal(s.n, 0);
    rc_suspects_clear(&s);
    rc_paths_free(p);
    rc_dominators_free(d);
    rc_graph_free(g);
}

/* A module 0 -> its namespace 1 -> a list 2 and a dict 23.  The list's
 * entries 3..12 each hold a buffer i + 10 (13..22, every one big at the
 * threshold below); the list also holds a large bytes 80.  The dict holds
 * bytes 24..30, each big too.  Sizes are 10 * (id + 1); 31..79 are
 * unreached. */
static void
test_a_collection_of_big_entries_is_the_suspect(void **state)
{
    (void)state;
    enum { M = 81 };
    enum { C_OBJ, C_DICT, C_LIST, C_BYTES };
    static const char *const CNAMES[] = {"object", "dict", "list", "bytes"};
    static const unsigned CFLAGS[] = {0, RC_TYPE_COLLECTION | RC_TYPE_DICT,
                                      RC_TYPE_COLLECTION, 0};
    unsigned types[M], flags[M] = {0};
    test_edge e[M];
    size_t ne = 0;
    for (unsigned i = 0; i < M; i++) {
        types[i] = C_BYTES;
    }
    types[0] = C_OBJ;
    types[1] = C_DICT, flags[1] = RC_NODE_NAMESPACE;
    types[2] = C_LIST, types[23] = C_DICT;
    e[ne++] = (test_edge){0, 1};
    e[ne++] = (test_edge){1, 2};
    e[ne++] = (test_edge){1, 23};
    for (unsigned i = 3; i <= 12; i++) {
        types[i] = C_OBJ;
        e[ne++] = (test_edge){2, i};
        e[ne++] = (test_edge){i, i + 10};
    }
    e[ne++] = (test_edge){2, 80};
    for (unsigned i = 24; i <= 30; i++) {
        e[ne++] = (test_edge){23, i};
    }
    uint8_t kinds[M] = {0};
    kinds[0] = RC_ROOT_MODULE;
    const test_attrs attrs = {NULL, flags, CFLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(M, e, ne, types, CNAMES, &attrs, &g), RC_OK);
    rc_dominators *d = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    assert_int_equal(rc_dominators_heap_bytes(d), 5770);
    assert_int_equal(rc_dominators_bytes(d, 2), 3540);
    rc_suspects s;
    /* 139 bytes: every buffer is big, and each is a leaf of the big nodes
     * (the old rule listed them all, and not the list). */
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 0.024, 10, &s), RC_OK);
    /* The list, which accumulates; the dict, which does too (the namespace
     * holding both does not: its keys are names); then bytes 80, which
     * stands out in the list (810 of 3540).  The buffers are the list's
     * entries, and the dict's bytes its own: their lines speak for them. */
    assert_int_equal(s.n, 3);
    assert_int_equal(s.items[0].node, 2);
    assert_int_equal(s.items[0].bytes, 3540);
    assert_string_equal(rc_graph_type_name(g, s.items[0].top_type), "object");
    assert_int_equal(s.items[0].top_count, 10);
    assert_int_equal(s.items[1].node, 23);
    assert_int_equal(s.items[1].bytes, 2200);
    assert_int_equal(s.items[1].top_count, 7);
    assert_int_equal(s.items[2].node, 80);
    const rc_id want[] = {0, 1, 2, 80};
    assert_int_equal(s.items[2].chain_len, 4);
    assert_memory_equal(s.ids + s.items[2].chain_at, want, sizeof want);
    rc_suspects_clear(&s);
    /* At half the heap only the list, its namespace and module are big:
     * the list, the deepest, is the suspect, as it always was. */
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 0.5, 10, &s), RC_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.items[0].node, 2);
    rc_suspects_clear(&s);
    rc_paths_free(p);
    rc_dominators_free(d);
    rc_graph_free(g);
}

/* A module 0 -> its namespace 1 -> a linked list of 20 "Request"s, each
 * with its namespace __dict__ holding the next: r_j = 40 - 2j, its dict
 * r_j + 1 (the head 40, the tail 2, so the deeper the smaller).  A C root
 * 50 -> three nested dicts 42 -> 43 -> 44 -> bytes 45..49. */
static void
test_a_linked_list_is_listed_at_its_head(void **state)
{
    (void)state;
    enum { M = 51 };
    enum { L_OBJ, L_DICT, L_REQ, L_BYTES };
    static const char *const LNAMES[] = {"object", "dict", "Request", "bytes"};
    static const unsigned LFLAGS[] = {0, RC_TYPE_COLLECTION | RC_TYPE_DICT, 0, 0};
    unsigned types[M] = {0}, flags[M] = {0};
    test_edge e[M];
    size_t ne = 0;
    types[1] = L_DICT, flags[1] = RC_NODE_NAMESPACE;
    e[ne++] = (test_edge){0, 1};
    e[ne++] = (test_edge){1, 40};
    for (unsigned j = 0; j < 20; j++) {
        unsigned r = 40 - 2 * j;
        types[r] = L_REQ;
        types[r + 1] = L_DICT, flags[r + 1] = RC_NODE_NAMESPACE;
        e[ne++] = (test_edge){r, r + 1};
        if (j + 1 < 20) {
            e[ne++] = (test_edge){r + 1, r - 2};
        }
    }
    e[ne++] = (test_edge){50, 42};
    for (unsigned i = 42; i < 44; i++) {
        types[i] = L_DICT;
        e[ne++] = (test_edge){i, i + 1};
    }
    types[44] = L_DICT;
    for (unsigned i = 45; i <= 49; i++) {
        types[i] = L_BYTES;
        e[ne++] = (test_edge){44, i};
    }
    uint8_t kinds[M] = {0};
    kinds[0] = RC_ROOT_MODULE;
    kinds[50] = RC_ROOT_C;
    const test_attrs attrs = {NULL, flags, LFLAGS};
    rc_graph *g = NULL;
    assert_int_equal(build_graph_ex(M, e, ne, types, LNAMES, &attrs, &g), RC_OK);
    rc_dominators *d = NULL;
    rc_paths *p = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    check_against_oracle(g, kinds, d);
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    assert_int_equal(rc_dominators_heap_bytes(d), 13260);
    assert_int_equal(rc_dominators_bytes(d, 40), 9000);
    assert_int_equal(rc_dominators_bytes(d, 12), 1020); /* r_14, the deepest big */
    rc_suspects s;
    /* 1020 bytes: the list's deepest big node is r_14, 14 hops down; the
     * climb from it passes the list and the module's namespace (the same
     * type and kind as the instance dicts), and stops at the module.  The
     * head is the top node that is no namespace: r_0.  The nested dicts
     * are three, no run: the innermost, which holds the bytes, is listed. */
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 0.0769, 10, &s), RC_OK);
    assert_int_equal(s.n, 2);
    const rc_suspect *it = &s.items[0];
    assert_int_equal(it->node, 40);
    assert_int_equal(it->bytes, 9000);
    assert_int_equal(it->linked, 20);
    assert_string_equal(rc_graph_type_name(g, it->top_type), "Request");
    assert_int_equal(it->top_count, 20);
    assert_int_equal(it->top_bytes, 9000);
    assert_int_equal(it->chain_len, 3);
    const rc_id want[] = {0, 1, 40};
    assert_memory_equal(s.ids + it->chain_at, want, sizeof want);
    it = &s.items[1];
    assert_int_equal(it->node, 44);
    assert_int_equal(it->linked, 0);
    assert_string_equal(rc_graph_type_name(g, it->top_type), "bytes");
    assert_int_equal(it->top_count, 5);
    rc_suspects_clear(&s);
    /* At 0.067 (889 bytes) the deepest big node is r_14's dict, a namespace:
     * the same head and count. */
    assert_int_equal(rc_suspects_find(g, d, p, kinds, 0.067, 10, &s), RC_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.items[0].node, 40);
    assert_int_equal(s.items[0].linked, 20);
    rc_suspects_clear(&s);
    rc_paths_free(p);
    rc_dominators_free(d);
    rc_graph_free(g);
}

static void
test_subtree_largest_children_first_and_a_summary(void **state)
{
    (void)state;
    uint8_t kinds[17];
    rc_graph *g = cache_heap(kinds);
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    rc_domtree_node *t = NULL;
    size_t n = 0;
    assert_int_equal(rc_domtree_layout(d, 0, 5, 3, &t, &n), RC_OK);
    /* 0; 1; 2 (14 is not dominated by 1); 13, 12, 11 and a summary of 3..10. */
    assert_int_equal(n, 7);
    assert_int_equal(t[0].node, 0);
    assert_int_equal(t[0].parent, UINT32_MAX);
    assert_int_equal(t[1].node, 1);
    assert_int_equal(t[2].node, 2);
    assert_int_equal(t[2].parent, 1);
    assert_int_equal(t[3].node, 13);
    assert_int_equal(t[4].node, 12);
    assert_int_equal(t[5].node, 11);
    assert_int_equal(t[6].node, RC_NO_ID);
    assert_int_equal(t[6].parent, 2);
    assert_int_equal(t[6].others, 8);
    assert_int_equal(t[6].count, 8);
    assert_int_equal(t[6].bytes, 40 + 50 + 60 + 70 + 80 + 90 + 100 + 110);
    rc_free(t);
    assert_int_equal(rc_domtree_layout(d, 0, 1, 3, &t, &n), RC_OK);
    assert_int_equal(n, 2);
    rc_free(t);
    assert_int_equal(rc_domtree_layout(d, 0, 0, 3, &t, &n), RC_OK);
    assert_int_equal(n, 1);
    rc_free(t);
    assert_int_equal(rc_domtree_layout(d, 0, 2, 0, &t, &n), RC_EINVAL);
    rc_dominators_free(d);
    rc_graph_free(g);
}

/* A module 0 -> its dict 1 -> a global 2 -> 3; a function 4 (a C root
 * here) -> 1 too, as __globals__: the module retains itself alone, the
 * dict (a top of the tree) retains the global. */
static void
test_tops_are_what_the_virtual_root_dominates(void **state)
{
    (void)state;
    unsigned types[5] = {0};
    test_edge e[] = {{0, 1}, {1, 2}, {2, 3}, {4, 1}};
    uint8_t kinds[5] = {RC_ROOT_MODULE, 0, 0, 0, RC_ROOT_C};
    rc_graph *g = NULL;
    assert_int_equal(build_graph(5, e, 4, types, NAMES, &g), RC_OK);
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    rc_id top[8];
    size_t n = 99;
    assert_int_equal(rc_dominators_top(d, 2, top, &n), RC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(top[0], 1); /* 20 + 30 + 40 */
    assert_int_equal(rc_dominators_bytes(d, 1), 90);
    assert_int_equal(top[1], 4); /* 50 */
    assert_int_equal(rc_dominators_top(d, 8, top, &n), RC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(top[2], 0); /* the module alone: 10 */
    assert_int_equal(rc_dominators_top(d, 0, top, &n), RC_OK);
    assert_int_equal(n, 0);
    use_counting_allocator();
    rc_alloc_fail_after(0);
    n = 99;
    assert_int_equal(rc_dominators_top(d, 2, top, &n), RC_ENOMEM);
    assert_int_equal(n, 99);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
    rc_dominators_free(d);
    rc_graph_free(g);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    uint8_t kinds[17];
    rc_graph *g = cache_heap(kinds);
    rc_paths *p = NULL;
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_dominators *d = NULL;
        rc_status st = rc_dominators_compute(g, kinds, &d);
        if (st == RC_OK) {
            rc_alloc_fail_after(-1);
            check_against_oracle(g, kinds, d);
            rc_dominators_free(d);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(d);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_int_equal(failures, 7);
    rc_alloc_fail_after(-1);
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    long base = live_blocks;
    failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_suspects s;
        rc_status st = rc_suspects_find(g, d, p, kinds, 0.0, 10, &s);
        if (st == RC_OK) {
            assert_true(s.n > 0);
            rc_suspects_clear(&s);
            assert_int_equal(live_blocks, base);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(s.items);
        assert_int_equal(live_blocks, base);
        failures++;
    }
    assert_true(failures >= 6);
    failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_domtree_node *t = NULL;
        size_t n = 0;
        rc_status st = rc_domtree_layout(d, 0, 4, 1, &t, &n);
        if (st == RC_OK) {
            assert_int_equal(n, 5); /* 0, 1, 2, 13, a summary of 3..12 */
            rc_free(t);
            assert_int_equal(live_blocks, base);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(t);
        assert_int_equal(live_blocks, base);
        failures++;
    }
    assert_true(failures >= 5);
    rc_dominators_free(d);
    use_default_allocator();
    rc_paths_free(p);
    rc_graph_free(g);
}

/* ---- what sets retain ---------------------------------------------------- */

/* The union of the members' dominated sets, from the oracle. */
static void
oracle_sets(const rc_graph *g, const uint8_t *kinds, const rc_dom_sets *ls, uint64_t *bytes,
            uint64_t *count)
{
    size_t n = rc_graph_node_count(g);
    uint8_t *base = malloc(n + 1), *without = malloc(n + 1), *in = malloc(n + 1);
    rc_id *queue = malloc((n + 1) * sizeof *queue);
    oracle_reach(g, kinds, RC_NO_ID, base, queue);
    for (size_t k = 0; k < ls->n_sets; k++) {
        memset(in, 0, n + 1);
        for (size_t i = 0; i < ls->n; i++) {
            if (ls->set_of[i] != k || !base[ls->nodes[i]]) {
                continue;
            }
            oracle_reach(g, kinds, ls->nodes[i], without, queue);
            for (rc_id v = 0; v < n; v++) {
                in[v] |= base[v] && !without[v];
            }
        }
        bytes[k] = count[k] = 0;
        for (rc_id v = 0; v < n; v++) {
            bytes[k] += in[v] ? rc_graph_size(g, v) : 0;
            count[k] += in[v];
        }
    }
    free(base);
    free(without);
    free(in);
    free(queue);
}

static void
test_sets_retain_the_union_of_their_members(void **state)
{
    (void)state;
    int nested = 0;
    size_t leaf_members = 0;
    for (int round = 0; round < 300; round++) {
        unsigned n = 1 + rnd(round < 100 ? 8 : 30);
        unsigned n_edges = rnd(n * (1 + rnd(3)) + 1);
        test_edge *e = malloc((n_edges + 1) * sizeof *e);
        uint8_t *kinds = calloc(n, 1);
        for (unsigned i = 0; i < n_edges; i++) {
            e[i] = (test_edge){rnd(n), rnd(n)};
        }
        for (unsigned v = 0; v < n; v++) {
            if (rnd(5) == 0 || v == 0) {
                kinds[v] = RC_ROOT_MODULE;
            }
        }
        rc_graph *g = NULL;
        assert_int_equal(build_graph(n, e, n_edges, NULL, NULL, &g), RC_OK);
        rc_dominators *d = NULL;
        assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
        /* Two labellings: a random part of the nodes (some listed twice)
         * into 1..4 sets, and every node into one set. */
        size_t m = 1 + rnd(n + 2);
        rc_id *nodes = malloc((m + n) * sizeof *nodes);
        uint32_t *set_of = malloc((m + n) * sizeof *set_of);
        uint32_t n_sets = 1 + rnd(4);
        uint32_t *set_of_node = malloc(n * sizeof *set_of_node);
        for (unsigned v = 0; v < n; v++) {
            set_of_node[v] = rnd(5) == 0 ? UINT32_MAX : rnd(n_sets);
        }
        for (size_t i = 0; i < m; i++) {
            nodes[i] = rnd(n);
            set_of[i] = set_of_node[nodes[i]];
        }
        for (unsigned v = 0; v < n; v++) {
            nodes[m + v] = v;
            set_of[m + v] = 0;
        }
        uint64_t got[2][8], want[2][8];
        rc_dom_sets ls[2] = {{nodes, set_of, m, n_sets, got[0], got[0] + 4},
                             {nodes + m, set_of + m, n, 1, got[1], got[1] + 4}};
        /* Every other heap, the one-set labelling says so with no array. */
        ls[1].set_of = round % 2 ? NULL : set_of + m;
        assert_int_equal(rc_dominators_sets(d, ls, 2), RC_OK);
        ls[1].set_of = set_of + m; /* the oracle reads the array */
        for (int l = 0; l < 2; l++) {
            oracle_sets(g, kinds, &ls[l], want[l], want[l] + 4);
            for (size_t k = 0; k < ls[l].n_sets; k++) {
                assert_int_equal(got[l][k], want[l][k]);
                assert_int_equal(got[l][4 + k], want[l][4 + k]);
            }
        }
        /* Everything together retains the heap. */
        assert_int_equal(got[1][0], rc_dominators_heap_bytes(d));
        assert_int_equal(got[1][4], rc_dominators_reached(d));
        for (size_t i = 0; i < m; i++) {
            rc_id up = rc_dominators_idom(d, nodes[i]);
            nested += up != RC_NO_ID && up != RC_DOM_ROOT && set_of_node[up] == set_of[i] &&
                      set_of[i] != UINT32_MAX;
        }
        /* A labelling of leaves only (what most leaks are: floats, strs),
         * some listed twice, some unreached, some in no set, is summed
         * without a walk of the tree, to the same answer. */
        size_t n_leaves = 0;
        for (size_t i = 0; i < m; i++) {
            if (rc_dominators_count(d, nodes[i]) <= 1) {
                nodes[n_leaves] = nodes[i];
                set_of[n_leaves++] = set_of[i];
            }
        }
        uint64_t leaf_got[8], leaf_want[8];
        rc_dom_sets leaves = {nodes, set_of, n_leaves, n_sets, leaf_got, leaf_got + 4};
        assert_int_equal(rc_dominators_sets(d, &leaves, 1), RC_OK);
        oracle_sets(g, kinds, &leaves, leaf_want, leaf_want + 4);
        for (size_t k = 0; k < n_sets; k++) {
            assert_int_equal(leaf_got[k], leaf_want[k]);
            assert_int_equal(leaf_got[4 + k], leaf_want[4 + k]);
        }
        leaf_members += n_leaves;
        free(set_of_node);
        free(nodes);
        free(set_of);
        rc_dominators_free(d);
        rc_graph_free(g);
        free(e);
        free(kinds);
    }
    assert_true(nested > 50); /* members under members of their own set were met */
    assert_true(leaf_members > 500);
}

/* rc_dominators_begin/end: the tree is made in a thread of its own, is the
 * one rc_dominators_compute() makes, and an allocation failure there ends
 * in RC_ENOMEM with nothing leaked. */
static void
test_in_a_thread_of_its_own(void **state)
{
    (void)state;
    uint8_t kinds[17];
    rc_graph *g = cache_heap(kinds);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_dom_job job;
        rc_dominators_begin(&job, g, kinds);
        assert_true(job.started);
        rc_dominators *d = (rc_dominators *)&job; /* overwritten either way */
        rc_status st = rc_dominators_end(&job, &d);
        rc_alloc_fail_after(-1);
        if (st == RC_OK) {
            check_against_oracle(g, kinds, d);
            rc_dominators_free(d);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(d);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_int_equal(failures, 7); /* as rc_dominators_compute's */
    use_default_allocator();
    rc_graph_free(g);
}

static void
test_sets_bad_input_and_allocation_failure(void **state)
{
    (void)state;
    uint8_t kinds[17];
    rc_graph *g = cache_heap(kinds);
    rc_dominators *d = NULL;
    assert_int_equal(rc_dominators_compute(g, kinds, &d), RC_OK);
    rc_id nodes[] = {1, 2, 3, 99};
    uint32_t set_of[] = {0, 1, 1, 0};
    uint64_t bytes[2] = {7, 7}, count[2] = {7, 7};
    rc_dom_sets bad = {nodes, set_of, 4, 2, bytes, count};
    assert_int_equal(rc_dominators_sets(d, &bad, 1), RC_EINVAL); /* node 99 */
    assert_true(bytes[0] == 0 && count[1] == 0);
    bad.n = 3;
    bad.n_sets = 1; /* set 1 out of range */
    assert_int_equal(rc_dominators_sets(d, &bad, 1), RC_EINVAL);
    rc_dom_sets ls = {nodes, set_of, 3, 2, bytes, count};
    assert_int_equal(rc_dominators_sets(d, &ls, 1), RC_OK);
    uint64_t want0 = bytes[0], want1 = bytes[1];
    assert_int_equal(want0, rc_dominators_bytes(d, 1));
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_status st = rc_dominators_sets(d, &ls, 1);
        if (st == RC_OK) {
            assert_true(bytes[0] == want0 && bytes[1] == want1);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_true(bytes[0] == 0 && bytes[1] == 0 && count[0] == 0);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 5);
    rc_alloc_fail_after(-1);
    use_default_allocator();
    rc_dominators_free(d);
    rc_graph_free(g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_graphs_equal_the_oracle),
        cmocka_unit_test(test_roots_from_the_classifier),
        cmocka_unit_test(test_a_cycle_through_a_root),
        cmocka_unit_test(test_no_graph_without_in_edges),
        cmocka_unit_test(test_a_million_long_chain_needs_no_recursion),
        cmocka_unit_test(test_suspects_are_the_accumulation_points),
        cmocka_unit_test(test_a_collection_of_big_entries_is_the_suspect),
        cmocka_unit_test(test_a_linked_list_is_listed_at_its_head),
        cmocka_unit_test(test_subtree_largest_children_first_and_a_summary),
        cmocka_unit_test(test_tops_are_what_the_virtual_root_dominates),
        cmocka_unit_test(test_allocation_failure_at_every_point),
        cmocka_unit_test(test_in_a_thread_of_its_own),
        cmocka_unit_test(test_sets_retain_the_union_of_their_members),
        cmocka_unit_test(test_sets_bad_input_and_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
