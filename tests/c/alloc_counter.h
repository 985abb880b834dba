/* A counting allocator for the fault-injection tests: it tracks how many
 * blocks are live so a test can assert that a failed operation freed
 * everything it allocated.  Atomic: a dump's zstd thread allocates too. */
#ifndef REFCHAIN_ALLOC_COUNTER_H
#define REFCHAIN_ALLOC_COUNTER_H

#include <stdatomic.h>
#include <stdlib.h>

#include "refchain/alloc.h"

static atomic_long live_blocks;

static void *
counting_malloc(size_t n)
{
    void *p = malloc(n);
    live_blocks += p != NULL;
    return p;
}

static void *
counting_realloc(void *ptr, size_t n)
{
    void *p = realloc(ptr, n);
    if (p && !ptr) {
        live_blocks++;
    }
    return p;
}

static void
counting_free(void *p)
{
    live_blocks -= p != NULL;
    free(p);
}

static inline void
use_counting_allocator(void)
{
    static const rc_allocator a = {counting_malloc, counting_realloc, counting_free};
    rc_set_allocator(&a);
    live_blocks = 0;
}

static inline void
use_default_allocator(void)
{
    rc_set_allocator(NULL);
    rc_alloc_fail_after(-1);
}

#endif
