/* The capture's memory pool: large blocks a graph or builder gave up, kept
 * for the next capture so that it neither maps nor faults in fresh memory.
 *
 * A process that takes a census every minute would otherwise map, zero and
 * fault in the same hundreds of megabytes each time (page faults are about
 * a third of a capture on a virtual machine).  The builder and the frozen
 * graph allocate their node, edge and index arrays through rc_pool_alloc()
 * and hand them back through rc_pool_free() instead of freeing them.
 *
 * Rules:
 *   - Disabled by default (every block is freed at once, as before); the
 *     extension enables it at import.
 *   - Only blocks of RC_POOL_MIN_BYTES or more are kept, at most
 *     RC_POOL_SLOTS of them (the smallest goes first when it is full).
 *   - The pool is emptied when nothing entered or left it for
 *     RC_POOL_IDLE_SECONDS, checked by rc_pool_expire() (a capture calls it
 *     when it starts): no background thread.  rc_pool_release() empties it
 *     now, and the extension calls it when the module is freed.
 *   - Blocks are never zeroed: callers write what they read.
 *   - Thread-safe (a mutex): a snapshot is loaded with the GIL released.
 *
 * Every block is allocated and freed through refchain/alloc.h, so fault
 * injection reaches the pool: taking a kept block is not an allocation,
 * growing one is. */
#ifndef REFCHAIN_POOL_H
#define REFCHAIN_POOL_H

#include <stddef.h>

#define RC_POOL_MIN_BYTES ((size_t)64 * 1024)
#define RC_POOL_SLOTS 32
#define RC_POOL_IDLE_SECONDS 300.0
/* Less than this is never worth a system call to fault in (below). */
#define RC_POOL_POPULATE_MIN_BYTES ((size_t)64 * 1024)

/* Turn pooling on (nonzero) or off.  Turning it off releases the pool. */
void rc_pool_enable(int on);

/* A block of at least `want` bytes (uninitialised); *got receives its size
 * in bytes, which the caller passes back to rc_pool_free().  The smallest
 * kept block of `want` to 2 * `want` bytes is taken first, else the
 * largest kept block of `want` / 2 bytes or more is grown with
 * rc_pool_resize() (its pages stay resident), else one is allocated:
 * mapped when it is RC_POOL_MIN_BYTES or more (rounded up to whole pages),
 * so that growing it never copies and freeing it gives its pages back.
 * NULL on ENOMEM; the pool is unchanged then (a block that could not be
 * grown stays kept). */
void *rc_pool_alloc(size_t want, size_t *got);

/* Resize a block that rc_pool_alloc() or rc_pool_resize() gave (`bytes`
 * is its size, as *got said; p NULL allocates) to at least `want` bytes,
 * contents kept up to the smaller size: *got receives the new size.  A
 * mapped block is moved by the kernel, not copied.  NULL on ENOMEM, with p
 * untouched and *got unchanged. */
void *rc_pool_resize(void *p, size_t bytes, size_t want, size_t *got);

/* Grow a block as rc_pool_resize() does, but into a kept block of `want`
 * to 2 * `want` bytes when the pool has one: the contents are copied and
 * the old block is given back.  An array that grows as a capture fills it
 * starts from its last size's block and ends in a larger one; without this
 * the next capture would start small again and map and fault in a new
 * large block, while the pool kept the last one unused. */
void *rc_pool_grow(void *p, size_t bytes, size_t want, size_t *got);

/* rc_pool_alloc() of an array of n elements (at least one) of `size`
 * bytes: the per-node arrays of a capture and of the questions asked of
 * it.  *got is 0 when this returns NULL (also when n * size overflows), so
 * that rc_pool_free(NULL, *got) is always valid. */
void *rc_pool_array(size_t n, size_t size, size_t *got);

/* Fault in the whole pages of p[from, to) now, in one system call, as
 * memory about to be written: on a virtual machine a page faulted in one by
 * one costs several microseconds, and a first capture writes tens of
 * thousands of them.  Callers ask only for what they are about to write
 * (an array they clear, or the next stretch of one they fill), so that no
 * page becomes resident earlier than it would have.  Best effort: nothing
 * happens where the kernel cannot do it, or for less than
 * RC_POOL_POPULATE_MIN_BYTES.  Never changes the contents. */
void rc_pool_populate(void *p, size_t from, size_t to);

/* Give back a block of `bytes` bytes from rc_pool_alloc(), rc_pool_array()
 * or rc_pool_resize() (or one of less than RC_POOL_MIN_BYTES from
 * rc_malloc(): the size says how a block is freed), kept when pooling is
 * on and it is large enough, else freed.  NULL is a no-op. */
void rc_pool_free(void *p, size_t bytes);

/* Free every kept block now; returns the bytes freed. */
size_t rc_pool_release(void);

/* Bytes kept now (resident memory refchain holds between captures). */
size_t rc_pool_held(void);

/* Seconds on a monotonic clock. */
double rc_pool_clock(void);

/* Release the pool when nothing entered or left it since `now` less
 * RC_POOL_IDLE_SECONDS (now from rc_pool_clock()); returns the bytes
 * freed. */
size_t rc_pool_expire(double now);

#endif
