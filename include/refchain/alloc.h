/* The one allocator every walker/ and render/ unit allocates through.
 *
 * Tests swap it to make the n-th allocation fail and check that each
 * operation ends in RC_ENOMEM with nothing leaked.  The default is libc's. */
#ifndef REFCHAIN_ALLOC_H
#define REFCHAIN_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rc_allocator {
    void *(*malloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} rc_allocator;

/* Install `a` (copied), or restore libc's when `a` is NULL.  Not thread-safe:
 * call it only while no refchain operation runs and nothing is allocated
 * (the pool released): a block is freed through the allocator that made
 * it. */
void rc_set_allocator(const rc_allocator *a);

/* Fault injection: after `n` more successful allocations, every allocation
 * fails until reset.  n < 0 disables it.  Counts rc_malloc, rc_calloc,
 * rc_realloc and rc_reallocarray calls made with a non-zero size. */
void rc_alloc_fail_after(long n);
/* Number of allocations attempted since the last rc_alloc_fail_after()
 * (exact from one thread; two threads allocating at once may count one). */
unsigned long rc_alloc_count(void);

/* Return NULL on failure (never abort).  Sizes are checked for overflow. */
void *rc_malloc(size_t size);
void *rc_calloc(size_t n, size_t size);
void *rc_realloc(void *ptr, size_t size);
void *rc_reallocarray(void *ptr, size_t n, size_t size);
/* NULL is allowed (a no-op). */
void rc_free(void *ptr);
/* Room for one more element in *arr, which uses n of its *cap elements of
 * `size` bytes: when full it doubles (to `first` when empty).  0, or -1
 * when out of memory (*arr and *cap unchanged). */
int rc_room(void **arr, size_t n, size_t *cap, size_t size, size_t first);
/* Blocks mapped from the kernel (the capture's pool's large ones,
 * refchain/pool.h), of `bytes` (a multiple of the page size, which the
 * caller rounds to): counted and failed like the calls above.
 * rc_remap() moves or resizes a mapping, contents kept; on failure it
 * returns NULL and `p` is untouched.  Under AddressSanitizer, or with an
 * allocator installed, they are that allocator's blocks, so that redzones,
 * leak checks and a test's counts cover them. */
void *rc_map(size_t bytes);
void *rc_remap(void *p, size_t old_bytes, size_t bytes);
/* NULL is allowed (a no-op). */
void rc_unmap(void *p, size_t bytes);
/* Give back the memory of mapping p (of `bytes`, from rc_map() or
 * rc_remap()) from the first 2 MiB boundary at or after offset `from` to
 * its end, keeping the mapping: those pages read as zero when touched
 * again.  A huge page is never split.  No-op for a mapping of less than
 * 2 MiB, and where mappings are malloc's blocks. */
void rc_map_discard(void *p, size_t from, size_t bytes);
/* Whether the page holding *p is resident (false when unknown). */
bool rc_map_resident(const void *p);
/* Bytes mapped by rc_map() and rc_remap() and not unmapped yet (0 where
 * they are malloc's blocks): what malloc's own figures do not show. */
size_t rc_mapped_bytes(void);
/* A NUL-terminated copy of at most n bytes of s; NULL on ENOMEM. */
char *rc_strndup(const char *s, size_t n);

#endif
