/* The capture's memory pool: what it keeps, what it hands out, release and
 * expiry, and graphs built through it with an allocation failure at every
 * point (then built again from what the failures left in the pool). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc_counter.h"
#include "refchain/paths.h"
#include "refchain/pool.h"
#include "testutil.h"

enum { BIG = 1 << 20 };

static void
test_disabled_pool_keeps_nothing(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_pool_enable(0);
    size_t got;
    void *p = rc_pool_alloc(BIG, &got);
    assert_non_null(p);
    assert_int_equal(got, BIG);
    rc_pool_free(p, got);
    assert_int_equal(rc_pool_held(), 0);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
}

static void
test_a_block_given_back_is_handed_out_again(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_pool_enable(1);
    size_t got, again;
    void *p = rc_pool_alloc(BIG, &got);
    rc_pool_free(p, got);
    assert_int_equal(rc_pool_held(), BIG);
    assert_int_equal(live_blocks, 1);
    /* Smaller requests get it too, up to half its size, with its full size. */
    rc_alloc_fail_after(0); /* taking a kept block allocates nothing */
    void *q = rc_pool_alloc(BIG / 2 + 1, &again);
    rc_alloc_fail_after(-1);
    assert_ptr_equal(q, p);
    assert_int_equal(again, BIG);
    assert_int_equal(rc_pool_held(), 0);
    rc_pool_free(q, again);
    /* Too small a request leaves it for a larger one. */
    void *small = rc_pool_alloc(BIG / 4, &got);
    assert_ptr_not_equal(small, p);
    assert_int_equal(got, BIG / 4);
    assert_int_equal(rc_pool_held(), BIG);
    rc_pool_free(small, got);
    assert_int_equal(rc_pool_held(), BIG + BIG / 4);
    assert_int_equal(rc_pool_release(), BIG + BIG / 4);
    assert_int_equal(rc_pool_release(), 0);
    assert_int_equal(live_blocks, 0);
    rc_pool_enable(0);
    use_default_allocator();
}

static void
test_small_blocks_are_freed_at_once(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_pool_enable(1);
    size_t got;
    void *p = rc_pool_alloc(RC_POOL_MIN_BYTES - 1, &got);
    rc_pool_free(p, got);
    assert_int_equal(rc_pool_held(), 0);
    assert_int_equal(live_blocks, 0);
    rc_pool_free(NULL, BIG); /* a no-op */
    rc_pool_enable(0);
    use_default_allocator();
}

static void
test_a_smaller_block_is_grown_and_kept_when_growing_fails(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_pool_enable(1);
    size_t got;
    unsigned char *p = rc_pool_alloc(BIG, &got);
    memset(p, 7, BIG);
    rc_pool_free(p, got);
    rc_alloc_fail_after(0);
    assert_null(rc_pool_alloc(BIG + BIG / 2, &got));
    assert_int_equal(rc_pool_held(), BIG); /* still kept */
    assert_int_equal(live_blocks, 1);
    rc_alloc_fail_after(-1);
    unsigned char *q = rc_pool_alloc(BIG + BIG / 2, &got);
    assert_non_null(q);
    assert_int_equal(got, BIG + BIG / 2);
    assert_int_equal(q[BIG - 1], 7); /* grown, not replaced */
    assert_int_equal(rc_pool_held(), 0);
    rc_pool_free(q, got);
    /* With nothing kept, a failure is a plain ENOMEM. */
    assert_int_equal(rc_pool_release(), BIG + BIG / 2);
    rc_alloc_fail_after(0);
    assert_null(rc_pool_alloc(BIG, &got));
    rc_alloc_fail_after(-1);
    assert_int_equal(live_blocks, 0);
    rc_pool_enable(0);
    use_default_allocator();
}

static void
test_a_full_pool_drops_its_smallest_block(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_pool_enable(1);
    size_t total = 0, got[RC_POOL_SLOTS + 1];
    void *p[RC_POOL_SLOTS + 1];
    for (size_t i = 0; i <= RC_POOL_SLOTS; i++) {
        p[i] = rc_pool_alloc(RC_POOL_MIN_BYTES + i * 4096, &got[i]);
        total += got[i];
    }
    for (size_t i = 0; i <= RC_POOL_SLOTS; i++) {
        rc_pool_free(p[i], got[i]);
    }
    assert_int_equal(live_blocks, RC_POOL_SLOTS);
    assert_int_equal(rc_pool_held(), total - RC_POOL_MIN_BYTES);
    /* A block smaller than every kept one is freed, not kept. */
    size_t small = 0;
    void *fresh = rc_pool_resize(NULL, 0, RC_POOL_MIN_BYTES, &small);
    assert_int_equal(small, RC_POOL_MIN_BYTES);
    rc_pool_free(fresh, small);
    assert_int_equal(live_blocks, RC_POOL_SLOTS);
    assert_int_equal(rc_pool_release(), total - RC_POOL_MIN_BYTES);
    assert_int_equal(live_blocks, 0);
    rc_pool_enable(0);
    use_default_allocator();
}

static void
test_an_idle_pool_expires(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_pool_enable(1);
    size_t got;
    void *p = rc_pool_alloc(BIG, &got);
    rc_pool_free(p, got);
    double now = rc_pool_clock();
    assert_int_equal(rc_pool_expire(now), 0);
    assert_int_equal(rc_pool_expire(now + RC_POOL_IDLE_SECONDS / 2), 0);
    assert_int_equal(rc_pool_held(), BIG);
    assert_int_equal(rc_pool_expire(now + RC_POOL_IDLE_SECONDS + 1), BIG);
    assert_int_equal(rc_pool_held(), 0);
    assert_int_equal(live_blocks, 0);
    /* Turning the pool off empties it. */
    p = rc_pool_alloc(BIG, &got);
    rc_pool_free(p, got);
    rc_pool_enable(0);
    assert_int_equal(rc_pool_held(), 0);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
}

/* A graph large enough for its arrays to be pooled. */
enum { N = 12000, M = 28000 };

static void
random_edges(test_edge *e)
{
    unsigned x = 12345;
    for (size_t i = 0; i < M; i++) {
        x = x * 1103515245u + 12345u;
        e[i].from = (x >> 8) % N;
        x = x * 1103515245u + 12345u;
        e[i].to = (x >> 8) % N;
    }
}

static void
test_graphs_built_through_the_pool_with_failures_at_every_point(void **state)
{
    (void)state;
    test_edge *e = malloc(M * sizeof *e);
    random_edges(e);
    rc_graph *ref = NULL;
    assert_int_equal(build_graph(N, e, M, NULL, NULL, &ref), RC_OK); /* no pool */
    use_counting_allocator();
    rc_pool_enable(1);
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_graph *g = NULL;
        rc_status st = build_graph(N, e, M, NULL, NULL, &g);
        rc_alloc_fail_after(-1);
        if (st == RC_OK) {
            assert_true(same_graph(g, ref));
            rc_graph_free(g);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(g);
        /* What the failure left is reused by a build that succeeds. */
        assert_int_equal(build_graph(N, e, M, NULL, NULL, &g), RC_OK);
        assert_true(same_graph(g, ref));
        rc_graph_free(g);
        assert_true(rc_pool_held() > 0);
        failures++;
    }
    assert_true(failures > 10);
    /* Everything the graphs held is in the pool now, and nothing else. */
    size_t held = rc_pool_held();
    assert_true(held > N * sizeof(uintptr_t));
    assert_int_equal(rc_pool_release(), held);
    assert_int_equal(live_blocks, 0);
    rc_pool_enable(0);
    use_default_allocator();
    rc_graph_free(ref);
    free(e);
}

/* A builder that makes room first (rc_builder_reserve(), as a first capture
 * does) builds the same graph; a reserve that fails at any point leaves the
 * builder usable and the build goes on. */
static void
test_a_reserved_builder_builds_the_same_graph(void **state)
{
    (void)state;
    test_edge *e = malloc(M * sizeof *e);
    random_edges(e);
    rc_graph *ref = NULL;
    assert_int_equal(build_graph(N, e, M, NULL, NULL, &ref), RC_OK);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_builder *b = rc_builder_new(0);
        assert_non_null(b);
        rc_alloc_fail_after(k);
        rc_status st = rc_builder_reserve(b, 3 * N);
        rc_alloc_fail_after(-1);
        rc_graph *g = NULL;
        assert_int_equal(build_graph_in(b, N, e, M, NULL, NULL, NULL, &g), RC_OK);
        assert_true(same_graph(g, ref));
        rc_graph_free(g);
        if (st == RC_OK) {
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        failures++;
    }
    assert_true(failures >= 2); /* the index, then a node array */
    /* Less room than it has already: no harm. */
    rc_builder *b = rc_builder_new(4 * N);
    assert_int_equal(rc_builder_reserve(b, 10), RC_OK);
    rc_graph *g = NULL;
    assert_int_equal(build_graph_in(b, N, e, M, NULL, NULL, NULL, &g), RC_OK);
    assert_true(same_graph(g, ref));
    rc_graph_free(g);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
    rc_graph_free(ref);
    free(e);
}

/* A builder told how many references to expect builds the same graph with
 * its block of references allocated once, not grown as the walk fills it;
 * a hint too small or too large changes only how the block is sized. */
static void
test_a_builder_expecting_its_references_builds_the_same_graph(void **state)
{
    (void)state;
    test_edge *e = malloc(M * sizeof *e);
    random_edges(e);
    rc_graph *ref = NULL;
    assert_int_equal(build_graph(N, e, M, NULL, NULL, &ref), RC_OK);
    unsigned long allocs[3];
    const size_t hints[3] = {0, M + M / 8, 10 * M};
    for (int i = 0; i < 3; i++) {
        rc_builder *b = rc_builder_new(N);
        rc_builder_expect_edges(b, hints[i]);
        rc_alloc_fail_after(-1);
        rc_graph *g = NULL;
        assert_int_equal(build_graph_in(b, N, e, M, NULL, NULL, NULL, &g), RC_OK);
        allocs[i] = rc_alloc_count();
        assert_true(same_graph(g, ref));
        rc_graph_free(g);
    }
    assert_true(allocs[1] < allocs[0]); /* M is more than twice N: it grew */
    assert_true(allocs[2] <= allocs[1] + 1); /* too large: shrunk at the freeze */
    rc_graph_free(ref);
    free(e);
}

/* rc_pool_populate() faults pages in without changing what they hold, and
 * does nothing for an empty, reversed or too small range. */
static void
test_populate_faults_pages_in_and_keeps_their_contents(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 4 * RC_POOL_POPULATE_MIN_BYTES;
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0xA5, page);                /* the first page is written already */
    rc_pool_populate(p, 3 * page, page);  /* reversed: nothing */
    rc_pool_populate(p, page, 2 * page);  /* less than the minimum: nothing */
    rc_pool_populate(NULL, 0, 0);         /* empty: nothing */
    size_t pages = n / page;
    unsigned char *in = malloc(pages);
    assert_int_equal(mincore(p, n, in), 0);
    for (size_t i = 1; i < pages; i++) {
        assert_int_equal(in[i] & 1, 0);
    }
    /* From inside the first page: the whole pages after it. */
    rc_pool_populate(p, 3, n);
    assert_int_equal(mincore(p, n, in), 0);
#ifdef __linux__
    /* Kernels before 5.14 refuse MADV_POPULATE_WRITE: then nothing is
     * faulted in, and nothing else may differ. */
    if (madvise(p + page, page, 23 /* MADV_POPULATE_WRITE */) == 0) {
        for (size_t i = 0; i < pages; i++) {
            assert_int_equal(in[i] & 1, 1);
        }
    }
#endif
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p[i], i < page ? 0xA5 : 0);
    }
    free(in);
    munmap(p, n);
}

static void
test_a_graph_reports_the_blocks_it_holds(void **state)
{
    (void)state;
    test_edge *e = malloc(M * sizeof *e);
    random_edges(e);
    rc_pool_enable(1);
    rc_graph *g = NULL;
    assert_int_equal(build_graph(N, e, M, NULL, NULL, &g), RC_OK);
    size_t memory = rc_graph_memory(g);
    /* At least the exact arrays, at most half over them (freezing trims an
     * array to an eighth over when it is more than a quarter over that). */
    size_t exact = N * (8 + 4 + 4 + 4 + 2 + 4 + 4) + 2 * M * 4;
    assert_true(memory >= exact);
    assert_true(memory <= exact + exact / 2 + 64 * 1024);
    /* A capture's in-edges follow its out-edges in their block: the ids
     * were written over the addresses, which took twice their room, so the
     * in-edges fault in no page of their own. */
    size_t k;
    assert_ptr_equal(rc_graph_in(g, 0, &k), rc_graph_out(g, 0, &k) + M);
    rc_graph_free(g);
    assert_true(rc_pool_held() > 0);
    rc_pool_enable(0);
    assert_int_equal(rc_pool_held(), 0);
    free(e);
}

/* An array that grows into a block the pool keeps (the one the last
 * capture ended with) takes that block, with its contents, and gives its
 * own back for the next capture's start: the pool's blocks are reused, not
 * left aside while new ones are mapped.  With no block that fits, it is
 * resized as rc_pool_resize() does, and a failure leaves it whole. */
static void
test_a_growing_block_takes_a_kept_one(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_pool_enable(1);
    const size_t start = 3 * RC_POOL_MIN_BYTES, end = 3 * BIG;
    size_t got = 0, big_bytes = 0;
    void *big = rc_pool_alloc(end, &big_bytes);
    rc_pool_free(big, big_bytes); /* what the last capture ended with */
    unsigned char *p = rc_pool_alloc(start, &got);
    assert_ptr_not_equal(p, big); /* more than twice the size asked for */
    assert_int_equal(got, start);
    memset(p, 0x5a, got);
    size_t have = got;
    rc_alloc_fail_after(0); /* taking a kept block allocates nothing */
    unsigned char *q = rc_pool_grow(p, have, 2 * BIG, &got);
    rc_alloc_fail_after(-1);
    assert_ptr_equal(q, big);
    assert_int_equal(got, big_bytes);
    size_t bad = 0;
    for (size_t k = 0; k < have; k++) {
        bad += q[k] != 0x5a;
    }
    assert_int_equal(bad, 0);
    assert_int_equal(rc_pool_held(), have); /* the small block, kept */
    /* Nothing kept fits: resized, and a failure leaves it whole. */
    rc_alloc_fail_after(0);
    size_t before = got;
    assert_null(rc_pool_grow(q, got, 4 * big_bytes, &got));
    rc_alloc_fail_after(-1);
    assert_int_equal(got, before);
    unsigned char *r = rc_pool_grow(q, got, 4 * big_bytes, &got);
    assert_non_null(r);
    assert_true(got >= 4 * big_bytes);
    assert_int_equal(r[have - 1], 0x5a);
    rc_pool_free(r, got);
    rc_pool_release();
    assert_int_equal(live_blocks, 0);
    rc_pool_enable(0);
    use_default_allocator();
}

/* A block resized up and down, across the size from which blocks are
 * mapped, keeps its contents; a resize that fails leaves it whole. */
static void
test_a_resized_block_keeps_its_contents(void **state)
{
    (void)state;
    static const size_t sizes[] = {100, RC_POOL_MIN_BYTES, 3 * RC_POOL_MIN_BYTES + 5, 200,
                                   BIG, RC_POOL_MIN_BYTES - 1, BIG / 2 + 3};
    size_t bytes = 0, have = 0;
    unsigned char *p = NULL;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t want = sizes[i];
        rc_alloc_fail_after(0);
        size_t got = 77;
        assert_null(rc_pool_resize(p, bytes, want, &got));
        assert_int_equal(got, 77);
        rc_alloc_fail_after(-1);
        for (size_t k = 0; k < have; k++) {
            assert_int_equal(p[k], (unsigned char)(k * 7 + 1)); /* untouched */
        }
        unsigned char *q = rc_pool_resize(p, bytes, want, &bytes);
        assert_non_null(q);
        assert_true(bytes >= want);
        size_t kept = have < want ? have : want;
        size_t bad = 0;
        for (size_t k = 0; k < kept; k++) {
            bad += q[k] != (unsigned char)(k * 7 + 1);
        }
        assert_int_equal(bad, 0);
        for (size_t k = 0; k < bytes; k++) {
            q[k] = (unsigned char)(k * 7 + 1);
        }
        p = q;
        have = bytes;
    }
    assert_true(rc_mapped_bytes() <= bytes); /* this block's, when it is mapped */
    rc_pool_free(p, bytes);                   /* the pool is off: unmapped */
    assert_int_equal(rc_mapped_bytes(), 0);
}

/* A large mapped block starts on a 2 MiB boundary, and stays on one when
 * it grows, in place or moved (a move elsewhere would split its huge pages
 * into 4 KiB ones); its contents are kept and nothing stays mapped after.
 * Under ASan blocks are malloc's: the test then checks the contents only. */
static void
test_large_blocks_start_on_a_huge_page(void **state)
{
    (void)state;
    const uintptr_t huge = (uintptr_t)2 << 20;
    size_t base = rc_mapped_bytes();
    size_t bytes = ((size_t)3 << 20) + 4096;
    unsigned char *p = rc_map(bytes);
    assert_non_null(p);
    bool mapped = rc_mapped_bytes() == base + bytes;
    assert_true(!mapped || (uintptr_t)p % huge == 0);
    for (size_t k = 0; k < bytes; k += 4096) {
        p[k] = (unsigned char)(k / 4096 + 1);
    }
    /* Something mapped right after it, often enough, makes the growth a move. */
    void *next = mmap(p + bytes, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* Sizes off a whole number of huge pages, which the kernel may place
     * on a boundary of its own accord. */
    static const size_t sizes[] = {((size_t)8 << 20) + 12288, ((size_t)40 << 20) + 20480};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t to = sizes[i];
        unsigned char *q = rc_remap(p, bytes, to);
        assert_non_null(q);
        assert_true(!mapped || (uintptr_t)q % huge == 0);
        size_t bad = 0;
        for (size_t k = 0; k < bytes; k += 4096) {
            bad += q[k] != (unsigned char)(k / 4096 + 1);
        }
        assert_int_equal(bad, 0);
        memset(q + bytes, 0x5a, to - bytes); /* the new part is writable */
        for (size_t k = bytes; k < to; k += 4096) {
            q[k] = (unsigned char)(k / 4096 + 1);
        }
        p = q;
        bytes = to;
    }
    if (next != MAP_FAILED) {
        munmap(next, 4096);
    }
    rc_unmap(p, bytes);
    assert_int_equal(rc_mapped_bytes(), base);
}

/* An array of n elements: a block of n * size bytes (one element for 0),
 * and NULL, holding nothing, when n * size overflows. */
static void
test_arrays_and_their_overflow(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_pool_enable(1);
    size_t got = 1;
    void *p = rc_pool_array(0, 4, &got);
    assert_non_null(p);
    assert_int_equal(got, 4);
    rc_pool_free(p, got);
    got = 1;
    assert_null(rc_pool_array(SIZE_MAX / 2, 4, &got));
    assert_int_equal(got, 0);
    rc_pool_free(NULL, got);
    assert_int_equal(live_blocks, 0);
    rc_pool_enable(0);
    use_default_allocator();
}

/* rc_room: nothing while there is room, the first size when empty, then
 * doubling; a failed growth (out of memory, or a capacity that cannot
 * double) leaves the array and its capacity as they were. */
static void
test_room_for_one_more(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(rc_room((void **)&a, 0, &cap, sizeof *a, 4), 0);
    assert_non_null(a);
    assert_int_equal(cap, 4);
    int *was = a;
    assert_int_equal(rc_room((void **)&a, 3, &cap, sizeof *a, 4), 0);
    assert_ptr_equal(a, was);
    assert_int_equal(cap, 4);
    for (int i = 0; i < 4; i++) {
        a[i] = i;
    }
    rc_alloc_fail_after(0);
    assert_int_equal(rc_room((void **)&a, 4, &cap, sizeof *a, 4), -1);
    rc_alloc_fail_after(-1);
    assert_ptr_equal(a, was);
    assert_int_equal(cap, 4);
    assert_int_equal(rc_room((void **)&a, 4, &cap, sizeof *a, 4), 0);
    assert_int_equal(cap, 8);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a[i], i);
    }
    size_t huge = SIZE_MAX / 2 + 1;
    assert_int_equal(rc_room((void **)&a, huge, &huge, sizeof *a, 4), -1);
    assert_int_equal(huge, SIZE_MAX / 2 + 1);
    rc_free(a);
}

/* A question asked again (here the breadth-first search from the roots
 * that chains, explain() and garbage() run) takes its per-node arrays
 * from what the last one left in the pool: with only its own small
 * record left to allocate, it still succeeds. */
static void
test_a_search_asked_again_reuses_its_arrays(void **state)
{
    (void)state;
    enum { NODES = 40000 }; /* 160 KB per array: pooled */
    test_edge *e = malloc(NODES * sizeof *e);
    for (unsigned i = 0; i < NODES; i++) {
        e[i] = (test_edge){i, (i + 1) % NODES};
    }
    rc_graph *g = NULL;
    assert_int_equal(build_graph(NODES, e, NODES, NULL, NULL, &g), RC_OK);
    assert_int_equal(rc_graph_build_in(g), RC_OK);
    uint8_t *kinds = NULL;
    assert_int_equal(rc_roots_classify(g, &kinds), RC_OK);
    use_counting_allocator();
    rc_pool_enable(1);
    rc_paths *p = NULL;
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    rc_paths_free(p);
    rc_alloc_fail_after(1); /* the record; the arrays must come from the pool */
    p = NULL;
    assert_int_equal(rc_paths_bfs(g, kinds, NULL, 0, &p), RC_OK);
    rc_alloc_fail_after(-1);
    rc_paths_free(p);
    rc_pool_enable(0);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
    free(kinds);
    rc_graph_free(g);
    free(e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_pool_keeps_nothing),
        cmocka_unit_test(test_a_block_given_back_is_handed_out_again),
        cmocka_unit_test(test_small_blocks_are_freed_at_once),
        cmocka_unit_test(test_a_smaller_block_is_grown_and_kept_when_growing_fails),
        cmocka_unit_test(test_a_full_pool_drops_its_smallest_block),
        cmocka_unit_test(test_an_idle_pool_expires),
        cmocka_unit_test(test_graphs_built_through_the_pool_with_failures_at_every_point),
        cmocka_unit_test(test_a_graph_reports_the_blocks_it_holds),
        cmocka_unit_test(test_a_reserved_builder_builds_the_same_graph),
        cmocka_unit_test(test_a_builder_expecting_its_references_builds_the_same_graph),
        cmocka_unit_test(test_populate_faults_pages_in_and_keeps_their_contents),
        cmocka_unit_test(test_arrays_and_their_overflow),
        cmocka_unit_test(test_room_for_one_more),
        cmocka_unit_test(test_a_growing_block_takes_a_kept_one),
        cmocka_unit_test(test_a_resized_block_keeps_its_contents),
        cmocka_unit_test(test_large_blocks_start_on_a_huge_page),
        cmocka_unit_test(test_a_search_asked_again_reuses_its_arrays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
