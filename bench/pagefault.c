/* What a page fault costs on this machine, and what faulting pages in ahead
 * of their writes saves (the reason behind rc_pool_populate(), issue 18).
 * Not a test, and not built by CMake:
 *
 *   cc -O2 -o /tmp/pagefault bench/pagefault.c && /tmp/pagefault [MIB]
 *
 * For MIB fresh mebibytes (default 64), three times each, it prints the
 * milliseconds to write one byte per page of
 *   - a fresh mapping, faulting every page in on its first write;
 *   - a fresh mapping populated first with madvise(MADV_POPULATE_WRITE)
 *     (Linux 5.14+), the madvise call and the writes timed apart;
 *   - a fresh mapping advised MADV_HUGEPAGE (transparent huge pages).
 * On the 2-core VM of bench/README.md, 64 MiB: 170-210 ms, 11 + 80 ms, and
 * 108-131 ms for huge pages when the kernel must compact memory to make
 * them (a few ms when freed huge pages are at hand, as in later rounds). */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static double
now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static volatile char *
fresh(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static double
touch(volatile char *p, size_t bytes, size_t page)
{
    double t = now_ms();
    for (size_t i = 0; i < bytes; i += page) {
        p[i] = 1;
    }
    return now_ms() - t;
}

int
main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    size_t bytes = mib << 20, page = (size_t)sysconf(_SC_PAGESIZE), huge = (size_t)2 << 20;
    if (mib == 0) {
        fprintf(stderr, "usage: %s [MIB > 0]\n", argv[0]);
        return 2;
    }
    for (int round = 0; round < 3; round++) {
        volatile char *a = fresh(bytes);
        double faulted = touch(a, bytes, page);

        volatile char *b = fresh(bytes);
        double t = now_ms();
        int rc = madvise((void *)b, bytes, MADV_POPULATE_WRITE);
        double populate = now_ms() - t;
        double after = touch(b, bytes, page);

        /* Aligned to a huge page, so that every 2 MiB can be one. */
        volatile char *c = fresh(bytes + huge);
        volatile char *h = (volatile char *)(((uintptr_t)c + huge - 1) & ~(uintptr_t)(huge - 1));
        madvise((void *)h, bytes, MADV_HUGEPAGE);
        double hugepages = touch(h, bytes, page);

        printf("%zu MiB: faulted %.1f ms; populated %.1f ms%s + written %.1f ms; "
               "huge pages %.1f ms\n",
               mib, faulted, populate, rc == 0 ? "" : " (refused)", after, hugepages);
        munmap((void *)a, bytes);
        munmap((void *)b, bytes);
        munmap((void *)c, bytes + huge);
    }
    return 0;
}
