/* The capture's memory pool (see refchain/pool.h).
 *
 * State: slots[0, n) are kept blocks, unordered, each with its size;
 * `held` is the sum of their sizes; `last_use` is when a block last
 * entered or left the pool (rc_pool_clock() seconds).  The pool is a
 * process-wide singleton like the allocator it sits on: captures run under
 * the GIL, but snapshots load with it released, hence the mutex, which is
 * held across fork() so that a fork dump's child never inherits it locked.
 *
 * Blocks of RC_POOL_MIN_BYTES or more are mapped (rc_map), their size
 * rounded up to whole pages, and smaller ones come from rc_malloc: a
 * block's size tells which it is.  Through malloc, a block freed by one
 * capture raised glibc's mmap threshold, so the next capture's blocks came
 * from the heap, where growing one copied it and left the old pages
 * resident (9 MB of a 1M-object capture's peak). */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "refchain/alloc.h"
#include "refchain/pool.h"

typedef struct kept {
    void *p;
    size_t bytes;
} kept;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool enabled;
static kept slots[RC_POOL_SLOTS];
static size_t n_slots, held;
static double last_use;

double
rc_pool_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t
page_size(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (size_t)ps : 4096;
}

/* A new block of at least `want` bytes; *got receives its size (untouched
 * on failure). */
static void *
block_new(size_t want, size_t *got)
{
    size_t bytes = want;
    if (want >= RC_POOL_MIN_BYTES) {
        size_t page = page_size();
        if (want > SIZE_MAX - page) {
            return NULL;
        }
        bytes = (want + page - 1) & ~(page - 1);
    }
    void *p = bytes >= RC_POOL_MIN_BYTES ? rc_map(bytes) : rc_malloc(bytes);
    if (p) {
        *got = bytes;
    }
    return p;
}

static void
block_free(void *p, size_t bytes)
{
    if (bytes >= RC_POOL_MIN_BYTES) {
        rc_unmap(p, bytes);
    } else {
        rc_free(p);
    }
}

void *
rc_pool_resize(void *p, size_t bytes, size_t want, size_t *got)
{
    if (want == 0) {
        want = 1;
    }
    if (!p) {
        return block_new(want, got);
    }
    size_t page = page_size();
    if (bytes >= RC_POOL_MIN_BYTES && want >= RC_POOL_MIN_BYTES && want <= SIZE_MAX - page) {
        size_t to = (want + page - 1) & ~(page - 1);
        void *q = to == bytes ? p : rc_remap(p, bytes, to);
        *got = q ? to : *got;
        return q;
    }
    if (bytes < RC_POOL_MIN_BYTES && want < RC_POOL_MIN_BYTES) {
        void *q = rc_realloc(p, want);
        *got = q ? want : *got;
        return q;
    }
    size_t new_bytes = 0;
    void *q = block_new(want, &new_bytes); /* across the threshold: a copy */
    if (q) {
        memcpy(q, p, bytes < want ? bytes : want);
        block_free(p, bytes);
        *got = new_bytes;
    }
    return q;
}

/* Remove slot i (the lock held); returns its block. */
static kept
take_slot(size_t i)
{
    kept k = slots[i];
    slots[i] = slots[--n_slots];
    held -= k.bytes;
    return k;
}

/* Free every kept block (the lock held); returns the bytes freed. */
static size_t
release_locked(void)
{
    size_t freed = held;
    while (n_slots) {
        kept k = take_slot(n_slots - 1);
        block_free(k.p, k.bytes);
    }
    return freed;
}

static void
lock_for_fork(void)
{
    pthread_mutex_lock(&lock);
}

static void
unlock_after_fork(void)
{
    pthread_mutex_unlock(&lock);
}

static void
register_fork_handlers(void)
{
    pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork);
}

void
rc_pool_enable(int on)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handlers);
    pthread_mutex_lock(&lock);
    enabled = on != 0;
    if (!enabled) {
        release_locked();
    }
    pthread_mutex_unlock(&lock);
}

/* Take the kept block for a request of `want` bytes: the smallest of
 * `want` to 2 * `want` bytes, else, when `or_smaller`, the largest of
 * `want` / 2 bytes or more (for the caller to grow).  A block more than
 * twice the size asked for is left for a larger request, and one less than
 * half of it is not worth growing.  {NULL, 0} when none fits. */
static kept
take_fit(size_t want, bool or_smaller)
{
    pthread_mutex_lock(&lock);
    size_t fit = n_slots, below = n_slots;
    for (size_t i = 0; i < n_slots; i++) {
        size_t have = slots[i].bytes;
        if (have >= want) {
            if (have / 2 <= want && (fit == n_slots || have < slots[fit].bytes)) {
                fit = i;
            }
        } else if (or_smaller && have >= want / 2 &&
                   (below == n_slots || have > slots[below].bytes)) {
            below = i;
        }
    }
    kept k = {NULL, 0};
    if (fit < n_slots || below < n_slots) {
        k = take_slot(fit < n_slots ? fit : below);
        last_use = rc_pool_clock();
    }
    pthread_mutex_unlock(&lock);
    return k;
}

void *
rc_pool_alloc(size_t want, size_t *got)
{
    if (want == 0) {
        want = 1;
    }
    if (want < RC_POOL_MIN_BYTES / 2) {
        return block_new(want, got); /* no kept block fits (take_fit): no lock */
    }
    kept k = take_fit(want, true);
    if (k.p && k.bytes >= want) {
        *got = k.bytes;
        return k.p;
    }
    void *p = rc_pool_resize(k.p, k.bytes, want, got); /* a new block when nothing was kept */
    if (!p) {
        rc_pool_free(k.p, k.bytes); /* still valid: keep it */
    }
    return p;
}

void *
rc_pool_grow(void *p, size_t bytes, size_t want, size_t *got)
{
    if (!p || want <= bytes) {
        return rc_pool_resize(p, bytes, want, got);
    }
    kept k = take_fit(want, false);
    if (!k.p) {
        return rc_pool_resize(p, bytes, want, got);
    }
    memcpy(k.p, p, bytes);
    rc_pool_free(p, bytes);
    *got = k.bytes;
    return k.p;
}

void *
rc_pool_array(size_t n, size_t size, size_t *got)
{
    *got = 0;
    n = n ? n : 1;
    return size && n > SIZE_MAX / size ? NULL : rc_pool_alloc(n * size, got);
}

/* Linux >= 5.14; older kernels refuse it (EINVAL) and the pages fault in
 * one by one. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void
rc_pool_populate(void *p, size_t from, size_t to)
{
    size_t page = page_size();
    uintptr_t lo = ((uintptr_t)p + from + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)p + to) & ~(uintptr_t)(page - 1);
    if (to > from && hi > lo && hi - lo >= RC_POOL_POPULATE_MIN_BYTES) {
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
    }
}

void
rc_pool_free(void *p, size_t bytes)
{
    if (!p) {
        return;
    }
    if (bytes < RC_POOL_MIN_BYTES) {
        block_free(p, bytes); /* never kept: no lock */
        return;
    }
    pthread_mutex_lock(&lock);
    if (enabled) {
        if (n_slots == RC_POOL_SLOTS) {
            size_t small = 0;
            for (size_t i = 1; i < n_slots; i++) {
                small = slots[i].bytes < slots[small].bytes ? i : small;
            }
            if (slots[small].bytes < bytes) {
                kept k = take_slot(small);
                block_free(k.p, k.bytes);
            }
        }
        if (n_slots < RC_POOL_SLOTS) {
            slots[n_slots++] = (kept){p, bytes};
            held += bytes;
            last_use = rc_pool_clock();
            p = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    if (p) {
        block_free(p, bytes);
    }
}

size_t
rc_pool_release(void)
{
    pthread_mutex_lock(&lock);
    size_t freed = release_locked();
    pthread_mutex_unlock(&lock);
    return freed;
}

size_t
rc_pool_held(void)
{
    pthread_mutex_lock(&lock);
    size_t h = held;
    pthread_mutex_unlock(&lock);
    return h;
}

size_t
rc_pool_expire(double now)
{
    pthread_mutex_lock(&lock);
    size_t freed = n_slots && now - last_use > RC_POOL_IDLE_SECONDS ? release_locked() : 0;
    pthread_mutex_unlock(&lock);
    return freed;
}
