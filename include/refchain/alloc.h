/* The one allocator every walker/ and render/ unit allocates through.
 *
 * Tests swap it to make the n-th allocation fail and check that each
 * operation ends in RC_ENOMEM with nothing leaked.  The default is libc's. */
#ifndef REFCHAIN_ALLOC_H
#define REFCHAIN_ALLOC_H

#include <stddef.h>

typedef struct rc_allocator {
    void *(*malloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} rc_allocator;

/* Install `a` (copied), or restore libc's when `a` is NULL.  Not thread-safe:
 * call it only while no refchain operation runs. */
void rc_set_allocator(const rc_allocator *a);

/* Fault injection: after `n` more successful allocations, every allocation
 * fails until reset.  n < 0 disables it.  Counts rc_malloc, rc_calloc,
 * rc_realloc and rc_reallocarray calls made with a non-zero size. */
void rc_alloc_fail_after(long n);
/* Number of allocations attempted since the last rc_alloc_fail_after(). */
unsigned long rc_alloc_count(void);

/* Return NULL on failure (never abort).  Sizes are checked for overflow. */
void *rc_malloc(size_t size);
void *rc_calloc(size_t n, size_t size);
void *rc_realloc(void *ptr, size_t size);
void *rc_reallocarray(void *ptr, size_t n, size_t size);
/* NULL is allowed (a no-op). */
void rc_free(void *ptr);
/* A NUL-terminated copy of at most n bytes of s; NULL on ENOMEM. */
char *rc_strndup(const char *s, size_t n);

#endif
