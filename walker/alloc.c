/* The pluggable allocator (see refchain/alloc.h) and rc_status strings.
 *
 * Fault injection counts allocation calls; once the budget is spent every
 * allocation fails, so a test can walk the failure point through an
 * operation one call at a time.  The counters are atomic: zstd's worker
 * thread allocates through here while a dump writes (the budget exactly;
 * the count of attempts may miss one made at the same moment).
 *
 * Plain libc, but for the pool's large blocks (rc_map). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap */
#endif
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "refchain/alloc.h"
#include "refchain/status.h"

static rc_allocator current = {malloc, realloc, free};
static bool custom; /* an allocator is installed: rc_map() goes through it */
static atomic_long fail_after = -1;
static atomic_size_t mapped; /* bytes rc_map() has mapped and not unmapped */
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
    /* A plain load and store, not a locked add: this runs for every
     * allocation (a dump makes millions), and the count is for tests; two
     * threads allocating at once may count one. */
    unsigned long n = atomic_load_explicit(&attempts, memory_order_relaxed);
    atomic_store_explicit(&attempts, n + 1, memory_order_relaxed);
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

int
rc_room(void **arr, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap) {
        return 0;
    }
    size_t c = *cap ? *cap * 2 : first;
    void *p = *cap > SIZE_MAX / 2 ? NULL : rc_reallocarray(*arr, c, size);
    if (!p) {
        return -1;
    }
    *arr = p;
    *cap = c;
    return 0;
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

/* Mappings this large ask for transparent huge pages (when mapped, or when
 * a remap grows them past it; mremap keeps the advice).  On a virtual machine the first touch of each 4 KiB page exits
 * to the host, even populated, and a first capture touches about ten
 * thousand per million objects.  With 2 MiB pages a capture into fresh
 * memory took 0.12-0.13 s instead of 0.17-0.18 s on the 1M service heap,
 * and 1.64-1.81 s instead of 2.12-2.30 s on the 10M one.  The cost is the
 * partly used last huge page of an array: 1-4 bytes per object at 1M.  (An
 * earlier try, on glibc's blocks, measured 40% slower at 10M; this one, on
 * mappings of their own, measured faster at both sizes on Linux 6.18.) */
#define HUGE_PAGE_MIN_BYTES ((size_t)2 << 20)

static uintptr_t
page_bytes(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (uintptr_t)ps : 4096;
}

/* A mapping of `bytes` (whole pages) that starts on a 2 MiB boundary, with
 * protection prot, or MAP_FAILED.  The kernel places a mapping on any page;
 * only the 2 MiB extents wholly inside it can be huge pages, and a remap
 * that moves huge pages to an address off that boundary splits every one
 * of them into 4 KiB pages for good (measured: of a 10M-object snapshot's
 * explained arrays, most of the pool's grown blocks were left with no huge
 * page at all).  So a large mapping is cut from one 2 MiB longer. */
static void *
map_aligned(size_t bytes, int prot)
{
    if (bytes > SIZE_MAX - HUGE_PAGE_MIN_BYTES) {
        return MAP_FAILED;
    }
    size_t span = bytes + HUGE_PAGE_MIN_BYTES;
    char *raw = mmap(NULL, span, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        return MAP_FAILED;
    }
    char *p = (char *)(((uintptr_t)raw + HUGE_PAGE_MIN_BYTES - 1) &
                       ~(uintptr_t)(HUGE_PAGE_MIN_BYTES - 1));
    if (p > raw) {
        (void)munmap(raw, (size_t)(p - raw));
    }
    uintptr_t page = page_bytes();
    char *end = (char *)(((uintptr_t)p + bytes + page - 1) & ~(page - 1));
    if (raw + span > end) {
        (void)munmap(end, (size_t)(raw + span - end));
    }
    return p;
}

void *
rc_map(size_t bytes)
{
    if (MAP_WITH_MALLOC || custom) {
        return rc_malloc(bytes);
    }
    if (!allow()) {
        return NULL;
    }
    void *p = bytes >= HUGE_PAGE_MIN_BYTES
                  ? map_aligned(bytes, PROT_READ | PROT_WRITE)
                  : mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    if (bytes >= HUGE_PAGE_MIN_BYTES) {
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: refused is fine */
    }
    atomic_fetch_add(&mapped, bytes);
    return p;
}

/* Grow mapping p from old_bytes to bytes: in place when it starts on a
 * 2 MiB boundary and the pages after it are free, else moved to a new
 * boundary (map_aligned), where its huge pages stay whole. */
static void *
grow_aligned(void *p, size_t old_bytes, size_t bytes)
{
    void *q = (uintptr_t)p % HUGE_PAGE_MIN_BYTES == 0 ? mremap(p, old_bytes, bytes, 0)
                                                      : MAP_FAILED;
    if (q != MAP_FAILED) {
        return q;
    }
    void *dst = map_aligned(bytes, PROT_NONE); /* a reservation, replaced below */
    if (dst == MAP_FAILED) {
        return MAP_FAILED;
    }
    q = mremap(p, old_bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    if (q == MAP_FAILED) {
        (void)munmap(dst, bytes);
    }
    return q;
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
    void *q = bytes > old_bytes && bytes >= HUGE_PAGE_MIN_BYTES
                  ? grow_aligned(p, old_bytes, bytes)
                  : mremap(p, old_bytes, bytes ? bytes : 1, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) {
        return NULL;
    }
    if (bytes >= HUGE_PAGE_MIN_BYTES && old_bytes < HUGE_PAGE_MIN_BYTES) {
        (void)madvise(q, bytes, MADV_HUGEPAGE); /* grown past the size: as rc_map */
    }
    atomic_fetch_add(&mapped, bytes);
    atomic_fetch_sub(&mapped, old_bytes);
    return q;
}

void
rc_unmap(void *p, size_t bytes)
{
    if (MAP_WITH_MALLOC || custom) {
        rc_free(p);
    } else if (p) {
        (void)munmap(p, bytes ? bytes : 1);
        atomic_fetch_sub(&mapped, bytes);
    }
}

void
rc_map_discard(void *p, size_t from, size_t bytes)
{
    if (MAP_WITH_MALLOC || custom || !p || bytes < HUGE_PAGE_MIN_BYTES || from >= bytes) {
        return;
    }
    uintptr_t lo = ((uintptr_t)p + from + HUGE_PAGE_MIN_BYTES - 1) &
                   ~(uintptr_t)(HUGE_PAGE_MIN_BYTES - 1);
    uintptr_t hi = (uintptr_t)p + bytes;
    if (hi > lo) {
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
}

bool
rc_map_resident(const void *p)
{
    uintptr_t page = page_bytes();
    unsigned char in = 0;
    return mincore((void *)((uintptr_t)p & ~(page - 1)), 1, &in) == 0 && (in & 1);
}

size_t
rc_mapped_bytes(void)
{
    return atomic_load(&mapped);
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
