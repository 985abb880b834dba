/* The pluggable allocator (see refchain/alloc.h) and rc_status strings.
 *
 * Fault injection counts allocation calls; once the budget is spent every
 * allocation fails, so a test can walk the failure point through an
 * operation one call at a time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "refchain/alloc.h"
#include "refchain/status.h"

/* Large blocks (the node arrays, edge arrays and the address index of a big
 * capture) are read at random; on 4 KiB pages that is a TLB miss per edge.
 * Asking for transparent huge pages on them is worth a third of a capture's
 * time.  It is advice only: where THP is off, nothing changes. */
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((uintptr_t)2 << 20)

static void *
advise_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    if (p && size >= HUGE_MIN) {
        uintptr_t start = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        uintptr_t end = ((uintptr_t)p + size) & ~(HUGE_PAGE - 1);
        if (end > start) {
            madvise((void *)start, end - start, MADV_HUGEPAGE);
        }
    }
#else
    (void)size;
#endif
    return p;
}

static void *
default_malloc(size_t size)
{
    return advise_huge(malloc(size), size);
}

static void *
default_realloc(void *ptr, size_t size)
{
    return advise_huge(realloc(ptr, size), size);
}

static rc_allocator current = {default_malloc, default_realloc, free};
static long fail_after = -1;
static unsigned long attempts;

void
rc_set_allocator(const rc_allocator *a)
{
    if (a) {
        current = *a;
    } else {
        current.malloc = default_malloc;
        current.realloc = default_realloc;
        current.free = free;
    }
}

void
rc_alloc_fail_after(long n)
{
    fail_after = n;
    attempts = 0;
}

unsigned long
rc_alloc_count(void)
{
    return attempts;
}

/* One more allocation attempt: returns 0 when it must fail. */
static int
allow(void)
{
    attempts++;
    if (fail_after < 0) {
        return 1;
    }
    if (fail_after == 0) {
        return 0;
    }
    fail_after--;
    return 1;
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
    }
    return "unknown status";
}
