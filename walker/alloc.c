/* The pluggable allocator (see refchain/alloc.h) and rc_status strings.
 *
 * Fault injection counts allocation calls; once the budget is spent every
 * allocation fails, so a test can walk the failure point through an
 * operation one call at a time.
 *
 * Plain libc: asking for transparent huge pages on the big arrays saved a
 * few percent on a 1M-object capture but cost 40% on a 10M one, where the
 * kernel compacts memory synchronously at fault time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/status.h"

static rc_allocator current = {malloc, realloc, free};
static long fail_after = -1;
static unsigned long attempts;

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
    case RC_ECALLBACK:
        return "a callback failed";
    }
    return "unknown status";
}
