/* A set of addresses as chunked bitmaps (see refchain/addrset.h).
 *
 * State: chunks 0 to n - 1 in the order they were first touched, each the
 * bitmap of one 64 KiB range, kept in blocks that never move: block b holds
 * BLOCK << b chunks, so a set has a few dozen blocks at most, which come
 * from the capture's pool (the next census reuses them without faulting
 * pages in).  table maps a range's number (addr >> 16) to its chunk by
 * linear probing (index + 1, 0 when empty), at most half full.  `recent` caches the bits of the last range
 * added to in each of RECENT slots (by the range's low bits): an add then
 * reads one small array and the word it sets, not the table and the
 * chunk's header.  The freeze fills each chunk's rank (the members of all
 * lower chunks) and `before` (the members in its earlier words), and
 * `order`, the chunks sorted by address; chunks never move. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/addrset.h"
#include "refchain/alloc.h"
#include "refchain/pool.h"

#define CHUNK_SHIFT 16
#define GRAIN_SHIFT 3
#define BITS (1u << (CHUNK_SHIFT - GRAIN_SHIFT)) /* 8192 */
#define WORDS (BITS / 64)                          /* 128 */
#define BLOCK 64
#define RECENT 256

typedef struct chunk {
    uintptr_t key;         /* addr >> CHUNK_SHIFT */
    size_t rank;           /* frozen: members in lower chunks */
    uint16_t before[WORDS]; /* frozen: members in bits[0, w) */
    uint64_t bits[WORDS];
} chunk;

typedef struct recent_slot {
    uintptr_t key; /* addr >> CHUNK_SHIFT, plus 1: 0 is empty */
    uint64_t *bits;
} recent_slot;

enum { MAX_BLOCKS = 32 }; /* BLOCK << 32 chunks: more than UINT32_MAX */

struct rc_addrset {
    chunk *blocks[MAX_BLOCKS];
    size_t block_bytes[MAX_BLOCKS];
    size_t n, n_blocks;
    uint32_t *table;
    size_t mask; /* table size - 1 */
    unsigned shift;
    recent_slot recent[RECENT];
    size_t count;
    uint32_t *order; /* frozen: chunk indexes by address */
    bool frozen;
};

static inline chunk *
chunk_at(const rc_addrset *s, size_t c)
{
    /* Block b starts at chunk BLOCK * (2^b - 1). */
    size_t q = c / BLOCK + 1;
    unsigned b = 63u - (unsigned)__builtin_clzll((unsigned long long)q);
    return &s->blocks[b][c - BLOCK * (((size_t)1 << b) - 1)];
}

static inline size_t
home(const rc_addrset *s, uintptr_t key)
{
    return (size_t)(((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15)) >> s->shift);
}

/* The chunk of key, or SIZE_MAX. */
static size_t
find_chunk(const rc_addrset *s, uintptr_t key)
{
    for (size_t i = home(s, key);; i = (i + 1) & s->mask) {
        uint32_t v = s->table[i];
        if (!v) {
            return SIZE_MAX;
        }
        if (chunk_at(s, v - 1)->key == key) {
            return v - 1;
        }
    }
}

static void
table_put(uint32_t *table, size_t mask, unsigned shift, uintptr_t key, uint32_t value)
{
    size_t i = (size_t)(((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15)) >> shift);
    while (table[i]) {
        i = (i + 1) & mask;
    }
    table[i] = value;
}

static int
table_grow(rc_addrset *s)
{
    size_t size = (s->mask + 1) * 2;
    uint32_t *t = rc_calloc(size, sizeof *t);
    if (!t) {
        return -1;
    }
    unsigned shift = s->shift - 1;
    for (size_t c = 0; c < s->n; c++) {
        table_put(t, size - 1, shift, chunk_at(s, c)->key, (uint32_t)(c + 1));
    }
    rc_free(s->table);
    s->table = t;
    s->mask = size - 1;
    s->shift = shift;
    return 0;
}

rc_addrset *
rc_addrset_new(void)
{
    enum { SLOTS = 64 };
    rc_addrset *s = rc_calloc(1, sizeof *s);
    if (!s || !(s->table = rc_calloc(SLOTS, sizeof *s->table))) {
        rc_free(s);
        return NULL;
    }
    s->mask = SLOTS - 1;
    s->shift = 64 - 6;
    return s;
}

void
rc_addrset_free(rc_addrset *s)
{
    if (s) {
        for (size_t b = 0; b < s->n_blocks; b++) {
            rc_pool_free(s->blocks[b], s->block_bytes[b]);
        }
        rc_free(s->table);
        rc_free(s->order);
        rc_free(s);
    }
}

/* A new, empty chunk for key; SIZE_MAX when out of memory. */
static size_t
add_chunk(rc_addrset *s, uintptr_t key)
{
    if (s->n >= UINT32_MAX - 1) {
        return SIZE_MAX;
    }
    if (2 * (s->n + 1) > s->mask + 1 && table_grow(s) < 0) {
        return SIZE_MAX;
    }
    if (s->n == BLOCK * (((size_t)1 << s->n_blocks) - 1)) {
        size_t b = s->n_blocks;
        if (b == MAX_BLOCKS ||
            !(s->blocks[b] = rc_pool_alloc(((size_t)BLOCK << b) * sizeof(chunk), &s->block_bytes[b]))) {
            return SIZE_MAX;
        }
        s->n_blocks++;
    }
    chunk *c = chunk_at(s, s->n);
    c->key = key;
    memset(c->bits, 0, sizeof c->bits);
    table_put(s->table, s->mask, s->shift, key, (uint32_t)(s->n + 1));
    return s->n++;
}

int
rc_addrset_add(rc_addrset *s, uintptr_t addr)
{
    if (s->frozen) {
        return -1;
    }
    uintptr_t key = addr >> CHUNK_SHIFT;
    recent_slot *r = &s->recent[key % RECENT];
    if (r->key != key + 1) {
        size_t c = find_chunk(s, key);
        if (c == SIZE_MAX && (c = add_chunk(s, key)) == SIZE_MAX) {
            return -1;
        }
        r->key = key + 1;
        r->bits = chunk_at(s, c)->bits;
    }
    size_t bit = (addr >> GRAIN_SHIFT) & (BITS - 1);
    uint64_t *w = &r->bits[bit / 64], m = UINT64_C(1) << (bit % 64);
    if (*w & m) {
        return 0;
    }
    *w |= m;
    s->count++;
    return 1;
}

void
rc_addrset_remove(rc_addrset *s, uintptr_t addr)
{
    size_t c = s->frozen ? SIZE_MAX : find_chunk(s, addr >> CHUNK_SHIFT);
    if (c == SIZE_MAX) {
        return;
    }
    size_t bit = (addr >> GRAIN_SHIFT) & (BITS - 1);
    uint64_t *w = &chunk_at(s, c)->bits[bit / 64], m = UINT64_C(1) << (bit % 64);
    if (*w & m) {
        *w &= ~m;
        s->count--;
    }
}

size_t
rc_addrset_count(const rc_addrset *s)
{
    return s->count;
}

size_t
rc_addrset_memory(const rc_addrset *s)
{
    size_t blocks = 0;
    for (size_t b = 0; b < s->n_blocks; b++) {
        blocks += s->block_bytes[b];
    }
    return sizeof *s + blocks +
           (s->mask + 1) * sizeof *s->table +
           (s->order ? s->n * sizeof *s->order : 0);
}

typedef struct keyed {
    uintptr_t key;
    uint32_t chunk;
} keyed;

static int
cmp_keyed(const void *a, const void *b)
{
    uintptr_t x = ((const keyed *)a)->key, y = ((const keyed *)b)->key;
    return (x > y) - (x < y);
}

rc_status
rc_addrset_freeze(rc_addrset *s)
{
    if (s->frozen) {
        return RC_OK;
    }
    keyed *by_key = rc_malloc((s->n ? s->n : 1) * sizeof *by_key);
    s->order = rc_malloc((s->n ? s->n : 1) * sizeof *s->order);
    if (!by_key || !s->order) {
        rc_free(by_key);
        rc_free(s->order);
        s->order = NULL;
        return RC_ENOMEM;
    }
    for (size_t c = 0; c < s->n; c++) {
        by_key[c] = (keyed){chunk_at(s, c)->key, (uint32_t)c};
    }
    qsort(by_key, s->n, sizeof *by_key, cmp_keyed);
    for (size_t c = 0; c < s->n; c++) {
        s->order[c] = by_key[c].chunk;
    }
    rc_free(by_key);
    size_t rank = 0;
    for (size_t k = 0; k < s->n; k++) {
        chunk *c = chunk_at(s, s->order[k]);
        c->rank = rank;
        unsigned in = 0;
        for (size_t w = 0; w < WORDS; w++) {
            c->before[w] = (uint16_t)in;
            in += (unsigned)__builtin_popcountll(c->bits[w]);
        }
        rank += in;
    }
    s->frozen = true;
    return RC_OK;
}

/* The rank of addr in frozen chunk c, or SIZE_MAX when it is not a member.
 * Always inlined, so that rank_many_popcnt's copy counts with popcnt. */
static inline __attribute__((always_inline)) size_t
rank_in(const chunk *c, uintptr_t addr)
{
    size_t bit = (addr >> GRAIN_SHIFT) & (BITS - 1);
    uint64_t w = c->bits[bit / 64], m = UINT64_C(1) << (bit % 64);
    if (!(w & m)) {
        return SIZE_MAX;
    }
    return c->rank + c->before[bit / 64] + (size_t)__builtin_popcountll(w & (m - 1));
}

size_t
rc_addrset_rank(const rc_addrset *s, uintptr_t addr)
{
    if (!s->frozen) {
        return SIZE_MAX;
    }
    size_t ci = find_chunk(s, addr >> CHUNK_SHIFT);
    if (ci == SIZE_MAX) {
        return SIZE_MAX;
    }
    return rank_in(chunk_at(s, ci), addr);
}

/* rc_addrset_rank() of addrs[0..n) into ranks, through a cursor. */
static inline __attribute__((always_inline)) void
rank_many(const rc_addrset *s, const uintptr_t *addrs, size_t n, size_t *ranks,
          rc_addrset_cursor *cur)
{
    enum { SLOTS = sizeof cur->key / sizeof *cur->key };
    for (size_t j = 0; j < n; j++) {
        uintptr_t key = addrs[j] >> CHUNK_SHIFT;
        size_t slot = key % SLOTS;
        if (cur->key[slot] != key + 1) {
            size_t ci = find_chunk(s, key);
            if (ci == SIZE_MAX) {
                ranks[j] = SIZE_MAX;
                continue;
            }
            cur->key[slot] = key + 1;
            cur->chunk[slot] = chunk_at(s, ci);
        }
        ranks[j] = rank_in(cur->chunk[slot], addrs[j]);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same with the CPU's popcnt instruction, which the x86-64 baseline
 * lacks (without it, each count is a call into libgcc). */
__attribute__((target("popcnt"))) static void
rank_many_popcnt(const rc_addrset *s, const uintptr_t *addrs, size_t n, size_t *ranks,
                 rc_addrset_cursor *cur)
{
    rank_many(s, addrs, n, ranks, cur);
}
#endif

void
rc_addrset_rank_many(const rc_addrset *s, const uintptr_t *addrs, size_t n, size_t *ranks,
                     rc_addrset_cursor *cur)
{
    if (!s->frozen) {
        for (size_t j = 0; j < n; j++) {
            ranks[j] = SIZE_MAX;
        }
        return;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("popcnt")) {
        rank_many_popcnt(s, addrs, n, ranks, cur);
        return;
    }
#endif
    rank_many(s, addrs, n, ranks, cur);
}

size_t
rc_addrset_take(const rc_addrset *s, rc_addrset_iter *it, uintptr_t *out, size_t max)
{
    size_t k = 0;
    if (!s->frozen) {
        return 0;
    }
    while (k < max && it->chunk < s->n) {
        const chunk *c = chunk_at(s, s->order[it->chunk]);
        uintptr_t base = c->key << CHUNK_SHIFT;
        while (k < max && it->bit < BITS) {
            size_t word = it->bit / 64;
            /* The word's members from it->bit on, one load for them all. */
            uint64_t w = c->bits[word] & (~UINT64_C(0) << (it->bit % 64));
            uintptr_t at = base | ((uintptr_t)word << (6 + GRAIN_SHIFT));
            for (; w && k < max; w &= w - 1) {
                unsigned b = (unsigned)__builtin_ctzll(w);
                out[k++] = at | ((uintptr_t)b << GRAIN_SHIFT);
                it->bit = word * 64 + b + 1;
            }
            if (!w) {
                it->bit = (word + 1) * 64;
            }
        }
        if (it->bit >= BITS) {
            it->chunk++;
            it->bit = 0;
        }
    }
    return k;
}

int
rc_addrset_next(const rc_addrset *s, rc_addrset_iter *it, uintptr_t *addr)
{
    return rc_addrset_take(s, it, addr, 1) == 1;
}
