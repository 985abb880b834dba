/* The pluggable allocator (see refchain/alloc.h) and rc_status strings.
 *
 * Fault injection counts allocation calls; once the budget is spent every
 * allocation fails, so a test can walk the failure point through an
 * operation one call at a time.  The counters are atomic: zstd's worker
 * thread allocates through here while a dump writes.
 *
 * Plain libc: asking for transparent huge pages on the big arrays saved a
 * few percent on a 1M-object capture but cost 40% on a 10M one, where the
 * kernel compacts memory synchronously at fault time. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/status.h"

static rc_allocator current = {malloc, realloc, free};
static atomic_long fail_after = -1;
static atomic_ulong attempts;

void
rc_set_allocator(const rc_allocator *a)
{
    if (a) {
        current = *a;
    } else {
        current.malloc = malloc;
        current.realloc = realloc;
        current.free = free;
    }
}

void
rc_alloc_fail_after(long n)
{
    atomic_store(&fail_after, n);
    atomic_store(&attempts, 0);
}

unsigned long
rc_alloc_count(void)
{
    return atomic_load(&attempts);
}

static int
allow(void)
{
    atomic_fetch_add_explicit(&attempts, 1, memory_order_relaxed);
    long left = atomic_load_explicit(&fail_after, memory_order_relaxed);
    /* Spend one of the budget, unless there is none (< 0) or it is spent. */
    while (left > 0 && !atomic_compare_exchange_weak_explicit(&fail_after, &left, left - 1,
                                                              memory_order_relaxed,
                                                              memory_order_relaxed)) {
    }
    return left != 0;
}

void *
rc_malloc(size_t size)
{
    if (size == 0) {
        size = 1;
    }
    return allow() ? current.malloc(size) : NULL;
}

void *
rc_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        return NULL;
    }
    size_t total = n * size;
    void *p = rc_malloc(total);
    if (p && total) {
        memset(p, 0, total);
    }
    return p;
}

void *
rc_realloc(void *ptr, size_t size)
{
    if (size == 0) {
        size = 1;
    }
    return allow() ? current.realloc(ptr, size) : NULL;
}

void *
rc_reallocarray(void *ptr, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        return NULL;
    }
    return rc_realloc(ptr, n * size);
}

void
rc_free(void *ptr)
{
    if (ptr) {
        current.free(ptr);
    }
}

char *
rc_strndup(const char *s, size_t n)
{
    char *p = rc_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

const char *
rc_status_str(rc_status st)
{
    switch (st) {
    case RC_OK:
        return "success";
    case RC_ENOMEM:
        return "out of memory";
    case RC_EINVAL:
        return "invalid argument";
    case RC_ETOOBIG:
        return "heap too large: more than 2**32 - 2 nodes, edges or types";
    case RC_ENOTFOUND:
        return "not found";
    case RC_EPYTHON:
        return "Python error";
    case RC_ERENDER:
        return "Graphviz could not lay out or render the graph";
    case RC_ECALLBACK:
        return "a callback failed";
    }
    return "unknown status";
}
