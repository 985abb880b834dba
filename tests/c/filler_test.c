/* The filler: pages faulted in on a thread of its own, contents kept, and
 * nothing left with it once settled; a live builder that hands its
 * arrays' next stretches to one builds the same graph as one that does
 * not, when the thread cannot start and under every allocation failure;
 * and rc_map_discard(), with which it gives back at its freeze what was
 * faulted in beyond its arrays. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "alloc_counter.h"
#include "refchain/filler.h"
#include "refchain/pool.h"
#include "testutil.h"

/* pthread_create refused while refuse_threads is set: a process at its
 * thread limit. */
static atomic_int refuse_threads;

__attribute__((visibility("default"))) int
pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*run)(void *),
               void *arg)
{
    typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                             void *);
    if (atomic_load(&refuse_threads)) {
        return EAGAIN;
    }
    create_fn real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    return real ? real(t, attr, run, arg) : EAGAIN;
}

static size_t
page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Whether every page of p[0, n) is resident. */
static bool
all_resident(void *p, size_t n)
{
    size_t pages = n / page_size();
    unsigned char *in = malloc(pages);
    assert_non_null(in);
    assert_int_equal(mincore(p, n, in), 0);
    bool all = true;
    for (size_t i = 0; i < pages; i++) {
        all = all && (in[i] & 1);
    }
    free(in);
    return all;
}

/* Wait (at most 10 s) until the fillers have done `ranges` ranges. */
static void
wait_for_ranges(size_t ranges)
{
    for (int i = 0; i < 10000 && rc_filler_ranges() < ranges; i++) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_true(rc_filler_ranges() >= ranges);
}

static bool
populate_works(void)
{
    void *p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool ok = madvise(p, page_size(), 23 /* MADV_POPULATE_WRITE */) == 0;
    munmap(p, page_size());
    return ok;
}

static void
test_a_filler_faults_in_what_it_is_given_and_keeps_the_contents(void **state)
{
    (void)state;
    size_t n = 16 * RC_POOL_POPULATE_MIN_BYTES, quarter = n / 4;
    unsigned char *p =
        mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0xA5, page_size()); /* written before: kept */
    rc_filler *f = rc_filler_start();
    assert_non_null(f);
    size_t before = rc_filler_ranges();
    for (size_t k = 0; k < 4; k++) {
        assert_true(rc_filler_post(f, p, k * quarter, (k + 1) * quarter));
    }
    wait_for_ranges(before + 4);
    rc_filler_stop(f);
    if (populate_works()) { /* Linux >= 5.14 */
        assert_true(all_resident(p, n));
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p[i], i < page_size() ? 0xA5 : 0);
    }
    munmap(p, n);
}

/* Settled, a filler has nothing queued and nothing in hand: no range of
 * the memory is faulted in after it returns, so the owner may unmap it. */
static void
test_a_settled_filler_touches_nothing_more(void **state)
{
    (void)state;
    enum { RANGES = 200 };
    size_t step = RC_POOL_POPULATE_MIN_BYTES, n = RANGES * step;
    unsigned char *p =
        mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    rc_filler *f = rc_filler_start();
    assert_non_null(f);
    size_t before = rc_filler_ranges(), posted = 0;
    for (size_t k = 0; k < RANGES; k++) {
        posted += rc_filler_post(f, p, k * step, (k + 1) * step); /* full: refused */
    }
    rc_filler_settle(f);
    size_t settled = rc_filler_ranges();
    assert_true(settled - before <= posted);
    nanosleep(&(struct timespec){0, 20000000}, NULL);
    assert_int_equal(rc_filler_ranges(), settled);
    munmap(p, n); /* nothing of it is with the filler */
    /* Settled, it takes work again. */
    unsigned char *q =
        mmap(NULL, step, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(rc_filler_post(f, q, 0, step));
    wait_for_ranges(settled + 1);
    rc_filler_stop(f);
    rc_filler_stop(NULL);
    munmap(q, step);
}

static void
test_no_filler_out_of_memory_or_out_of_threads(void **state)
{
    (void)state;
    use_counting_allocator();
    rc_alloc_fail_after(0);
    assert_null(rc_filler_start());
    rc_alloc_fail_after(-1);
    atomic_store(&refuse_threads, 1);
    assert_null(rc_filler_start());
    atomic_store(&refuse_threads, 0);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
}

/* Builds of NODES nodes, growing from 1,024: a filler starts once their
 * arrays hold FILLER_FROM (tests' threshold, set in main()). */
enum { NODES = 400000, EDGES = 3 * NODES / 2, FILLER_FROM = 1 << 18 };

static test_edge *
random_graph_edges(void)
{
    test_edge *e = malloc(EDGES * sizeof *e);
    assert_non_null(e);
    unsigned s = 12345;
    for (size_t i = 0; i < EDGES; i++) {
        s = s * 1103515245u + 12345u;
        unsigned to = (s >> 8) % NODES;
        e[i] = (test_edge){(unsigned)(i % NODES), to};
    }
    return e;
}

static rc_status
build_live(const test_edge *e, rc_graph **g)
{
    rc_builder *b = rc_builder_new(0); /* grows: its arrays are fresh */
    return b ? build_graph_in(b, NODES, e, EDGES, NULL, NULL, NULL, g) : RC_ENOMEM;
}

/* A live builder large enough for a filler gets one (it faults ranges in),
 * and builds the graph one without it builds: with the filler disabled,
 * when no thread can start, and when its memory is the pool's, resident
 * already (then none starts). */
static void
test_a_live_builder_with_a_filler_builds_the_same_graph(void **state)
{
    (void)state;
    test_edge *e = random_graph_edges();
    rc_filler_set_min_nodes(SIZE_MAX);
    rc_graph *ref = NULL;
    assert_int_equal(build_live(e, &ref), RC_OK);
    rc_filler_set_min_nodes(FILLER_FROM);

    size_t before = rc_filler_ranges();
    rc_graph *g = NULL;
    assert_int_equal(build_live(e, &g), RC_OK);
    assert_true(same_graph(g, ref));
    if (populate_works()) {
        assert_true(rc_filler_ranges() > before);
    }
    rc_graph_free(g);

    atomic_store(&refuse_threads, 1);
    before = rc_filler_ranges();
    assert_int_equal(build_live(e, &g), RC_OK);
    atomic_store(&refuse_threads, 0);
    assert_int_equal(rc_filler_ranges(), before);
    assert_true(same_graph(g, ref));
    rc_graph_free(g);

    /* Into the pool's blocks: the first build leaves them resident. */
    rc_pool_enable(1);
    rc_builder *b = rc_builder_new(NODES);
    assert_int_equal(build_graph_in(b, NODES, e, EDGES, NULL, NULL, NULL, &g), RC_OK);
    rc_graph_free(g);
    before = rc_filler_ranges();
    b = rc_builder_new(NODES);
    assert_int_equal(build_graph_in(b, NODES, e, EDGES, NULL, NULL, NULL, &g), RC_OK);
    assert_int_equal(rc_filler_ranges(), before);
    assert_true(same_graph(g, ref));
    rc_graph_free(g);
    rc_pool_enable(0);

    rc_graph_free(ref);
    free(e);
}

/* Every allocation of a build with a filler failed in turn: each ends in
 * RC_ENOMEM with nothing leaked and the thread ended, or in the same graph. */
static void
test_a_builder_with_a_filler_fails_cleanly_at_every_point(void **state)
{
    (void)state;
    test_edge *e = random_graph_edges();
    rc_graph *ref = NULL;
    assert_int_equal(build_live(e, &ref), RC_OK);
    use_counting_allocator();
    bool succeeded = false;
    for (long k = 0; !succeeded; k++) {
        rc_alloc_fail_after(k);
        rc_graph *g = NULL;
        rc_status st = build_live(e, &g);
        rc_alloc_fail_after(-1);
        if (st == RC_OK) {
            assert_true(same_graph(g, ref));
            rc_graph_free(g);
            succeeded = rc_alloc_count() <= (unsigned long)k;
        } else {
            assert_int_equal(st, RC_ENOMEM);
        }
        assert_int_equal(live_blocks, 0);
    }
    use_default_allocator();
    rc_graph_free(ref);
    free(e);
}

/* rc_map_discard() gives back the whole 2 MiB extents after an offset and
 * keeps the mapping and what lies before them. */
static void
test_discard_gives_back_the_extents_after_what_was_written(void **state)
{
    (void)state;
    const size_t mib2 = (size_t)2 << 20, bytes = 4 * mib2;
    unsigned char *p = rc_map(bytes);
    assert_non_null(p);
    bool kernel = rc_mapped_bytes() >= bytes; /* not malloc's (sanitizers) */
    memset(p, 0x5A, bytes);
    size_t written = mib2 + 100; /* the extent it ends in is kept whole */
    rc_map_discard(p, written, bytes);
    size_t kept = kernel ? 2 * mib2 : bytes;
    for (size_t i = 0; i < bytes; i += 4093) {
        assert_int_equal(p[i], i < kept ? 0x5A : 0);
    }
    p[bytes - 1] = 1;                /* still mapped */
    rc_map_discard(p, bytes, bytes); /* nothing after the end */
    rc_map_discard(NULL, 0, 0);
    assert_int_equal(p[bytes - 1], 1);
    rc_unmap(p, bytes);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_a_filler_faults_in_what_it_is_given_and_keeps_the_contents),
        cmocka_unit_test(test_a_settled_filler_touches_nothing_more),
        cmocka_unit_test(test_no_filler_out_of_memory_or_out_of_threads),
        cmocka_unit_test(test_a_live_builder_with_a_filler_builds_the_same_graph),
        cmocka_unit_test(test_a_builder_with_a_filler_fails_cleanly_at_every_point),
        cmocka_unit_test(test_discard_gives_back_the_extents_after_what_was_written),
    };
    rc_filler_set_min_nodes(FILLER_FROM);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
