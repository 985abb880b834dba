/* addrset_test: membership, ranks and iteration in address order (one by
 * one and in batches) against a sorted oracle, over many chunks and dense
 * and sparse ranges; removal; what a frozen set refuses; and allocation
 * failure at every point. */
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "refchain/addrset.h"
#include "refchain/alloc.h"
#include "testutil.h"

static int
cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

/* n distinct 16-byte aligned addresses: dense runs (as pymalloc packs
 * objects) and lone ones far apart, shuffled. */
static uintptr_t *
addresses(size_t n, unsigned seed)
{
    uintptr_t *a = malloc(n * sizeof *a);
    assert_non_null(a);
    srand(seed);
    uintptr_t next = 0x7f0000000000u;
    for (size_t i = 0; i < n; i++) {
        if (rand() % 50 == 0) {
            next += ((uintptr_t)(rand() % 4096) + 1) << 16; /* another range */
        }
        next += 16u * (1 + (unsigned)(rand() % 4));
        a[i] = next;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rand() % i;
        uintptr_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
    return a;
}

static void
test_ranks_and_order_match_a_sorted_oracle(void **state)
{
    (void)state;
    enum { N = 200000 };
    uintptr_t *a = addresses(N, 7);
    rc_addrset *s = rc_addrset_new();
    assert_non_null(s);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(rc_addrset_add(s, a[i]), 1);
    }
    for (size_t i = 0; i < N; i += 7) {
        assert_int_equal(rc_addrset_add(s, a[i]), 0); /* already there */
    }
    assert_int_equal(rc_addrset_count(s), N);
    assert_int_equal(rc_addrset_rank(s, a[0]), SIZE_MAX); /* not frozen yet */
    {
        rc_addrset_cursor cur;
        memset(&cur, 0, sizeof cur);
        size_t r = 0;
        rc_addrset_rank_many(s, a, 1, &r, &cur);
        assert_int_equal(r, SIZE_MAX);
    }
    assert_int_equal(rc_addrset_freeze(s), RC_OK);
    assert_int_equal(rc_addrset_freeze(s), RC_OK);
    assert_int_equal(rc_addrset_add(s, 0x10), -1); /* frozen */
    qsort(a, N, sizeof *a, cmp_addr);
    rc_addrset_iter it = {0};
    uintptr_t addr;
    for (size_t r = 0; r < N; r++) {
        assert_int_equal(rc_addrset_rank(s, a[r]), r);
        assert_true(rc_addrset_next(s, &it, &addr));
        assert_int_equal(addr, a[r]);
        /* Between two members, and far from any: not members. */
        assert_int_equal(rc_addrset_rank(s, a[r] + 8), SIZE_MAX);
        assert_int_equal(rc_addrset_rank(s, a[r] + ((uintptr_t)1 << 40)), SIZE_MAX);
    }
    assert_false(rc_addrset_next(s, &it, &addr));
    /* Ranked many at a time through a cursor, in a random order, members
     * and not: what rc_addrset_rank() gives one at a time. */
    {
        enum { K = 100 };
        rc_addrset_cursor *cur = calloc(1, sizeof *cur);
        assert_non_null(cur);
        uintptr_t q[K];
        size_t ranks[K];
        srand(11);
        for (size_t round = 0; round < 3000; round++) {
            for (size_t j = 0; j < K; j++) {
                size_t r = (size_t)rand() % N;
                q[j] = rand() % 4 ? a[r] : a[r] + 8 * (uintptr_t)(1 + rand() % 3);
            }
            rc_addrset_rank_many(s, q, K, ranks, cur);
            for (size_t j = 0; j < K; j++) {
                assert_int_equal(ranks[j], rc_addrset_rank(s, q[j]));
            }
        }
        free(cur);
    }
    /* Taken in batches of any size, the same members in the same order. */
    static const size_t batches[] = {1, 3, 64, 127, 8192, N};
    uintptr_t *got = malloc(N * sizeof *got);
    assert_non_null(got);
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
        it = (rc_addrset_iter){0};
        size_t k = 0, m;
        while ((m = rc_addrset_take(s, &it, got + k, N - k < batches[b] ? N - k : batches[b]))) {
            assert_true(m <= batches[b]);
            k += m;
        }
        assert_int_equal(k, N);
        assert_memory_equal(got, a, N * sizeof *a);
        assert_int_equal(rc_addrset_take(s, &it, got, 1), 0);
    }
    free(got);
    /* About 1.3 KB per 64 KiB range holding members (twice that at most,
     * while the chunk array doubles), whatever the members' number. */
    size_t ranges = 1;
    for (size_t r = 1; r < N; r++) {
        ranges += (a[r] >> 16) != (a[r - 1] >> 16);
    }
    assert_true(rc_addrset_memory(s) < ranges * 2 * 1400 + 65536);
    rc_addrset_free(s);
    free(a);
}

static void
test_remove_and_the_edges_of_a_chunk(void **state)
{
    (void)state;
    rc_addrset *s = rc_addrset_new();
    assert_non_null(s);
    /* The first and last 8 bytes of a 64 KiB range, and the next range's
     * first: three chunks' worth of edge cases. */
    const uintptr_t edge[] = {0x50000, 0x5fff8, 0x60000, 0x8, 0x0};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(rc_addrset_add(s, edge[i]), 1);
    }
    rc_addrset_remove(s, 0x5fff8);
    rc_addrset_remove(s, 0x5fff8);  /* twice: a no-op */
    rc_addrset_remove(s, 0x123450); /* never added */
    assert_int_equal(rc_addrset_count(s), 4);
    assert_int_equal(rc_addrset_add(s, 0x5fff8), 1);
    rc_addrset_remove(s, 0x60000);
    assert_int_equal(rc_addrset_freeze(s), RC_OK);
    const uintptr_t want[] = {0x0, 0x8, 0x50000, 0x5fff8};
    rc_addrset_iter it = {0};
    uintptr_t addr;
    for (size_t r = 0; r < 4; r++) {
        assert_true(rc_addrset_next(s, &it, &addr));
        assert_int_equal(addr, want[r]);
        assert_int_equal(rc_addrset_rank(s, want[r]), r);
    }
    assert_false(rc_addrset_next(s, &it, &addr));
    uintptr_t taken[8];
    it = (rc_addrset_iter){0};
    assert_int_equal(rc_addrset_take(s, &it, taken, 8), 4);
    assert_memory_equal(taken, want, sizeof want);
    assert_int_equal(rc_addrset_rank(s, 0x60000), SIZE_MAX);
    rc_addrset_remove(s, 0x8); /* frozen: a no-op */
    assert_int_equal(rc_addrset_rank(s, 0x8), 1);
    rc_addrset_free(s);

    /* An empty set freezes and yields nothing. */
    s = rc_addrset_new();
    assert_int_equal(rc_addrset_freeze(s), RC_OK);
    it = (rc_addrset_iter){0};
    assert_false(rc_addrset_next(s, &it, &addr));
    assert_int_equal(rc_addrset_take(s, &it, &addr, 1), 0);
    assert_int_equal(rc_addrset_rank(s, 0), SIZE_MAX);
    rc_addrset_free(s);
}

static void
test_allocation_failure_at_every_point(void **state)
{
    (void)state;
    enum { N = 3000 };
    uintptr_t *a = addresses(N, 11);
    use_counting_allocator();
    int failures = 0;
    for (long k = 0;; k++) {
        rc_alloc_fail_after(k);
        rc_addrset *s = rc_addrset_new();
        if (!s) {
            failures++;
            assert_int_equal(live_blocks, 0);
            continue;
        }
        size_t added = 0;
        int ok = 1;
        for (size_t i = 0; i < N && ok; i++) {
            int r = rc_addrset_add(s, a[i]);
            ok = r == 1;
            added += r == 1;
            if (r < 0) {
                /* Unchanged: the failed address is not a member. */
                assert_int_equal(rc_addrset_count(s), added);
            }
        }
        rc_status st = ok ? rc_addrset_freeze(s) : RC_ENOMEM;
        if (st == RC_OK) {
            assert_int_equal(rc_addrset_count(s), N);
            assert_int_not_equal(rc_addrset_rank(s, a[N / 2]), SIZE_MAX);
            rc_addrset_free(s);
            assert_int_equal(live_blocks, 0);
            break;
        }
        failures++;
        /* A failed freeze leaves a set that can still be frozen. */
        rc_alloc_fail_after(-1);
        if (ok) {
            assert_int_equal(rc_addrset_freeze(s), RC_OK);
            assert_int_equal(rc_addrset_rank(s, a[0]) != SIZE_MAX, 1);
        }
        rc_addrset_free(s);
        assert_int_equal(live_blocks, 0);
    }
    assert_true(failures >= 5);
    use_default_allocator();
    free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranks_and_order_match_a_sorted_oracle),
        cmocka_unit_test(test_remove_and_the_edges_of_a_chunk),
        cmocka_unit_test(test_allocation_failure_at_every_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
