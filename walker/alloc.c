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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap */
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "refchain/alloc.h"
#include "refchain/status.h"

static rc_allocator current = {malloc, realloc, free};
static bool custom; /* an allocator is installed: rc_map() goes through it */
static atomic_long fail_after = -1;
static atomic_ulong attempts;

void
rc_set_allocator(const rc_allocator *a)
{
    custom = a != NULL;
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

#if defined(__SANITIZE_ADDRESS__)
#define MAP_WITH_MALLOC true
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAP_WITH_MALLOC true
#endif
#endif
#ifndef MAP_WITH_MALLOC
#define MAP_WITH_MALLOC false
#endif

void *
rc_map(size_t bytes)
{
    if (MAP_WITH_MALLOC || custom) {
        return rc_malloc(bytes);
    }
    if (!allow()) {
        return NULL;
    }
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *
rc_remap(void *p, size_t old_bytes, size_t bytes)
{
    if (MAP_WITH_MALLOC || custom) {
        return rc_realloc(p, bytes);
    }
    if (!allow()) {
        return NULL;
    }
    void *q = mremap(p, old_bytes, bytes ? bytes : 1, MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
}

void
rc_unmap(void *p, size_t bytes)
{
    if (MAP_WITH_MALLOC || custom) {
        rc_free(p);
    } else if (p) {
        (void)munmap(p, bytes ? bytes : 1);
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
