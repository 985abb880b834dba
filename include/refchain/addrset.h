/* A set of object addresses in about one bit per 8 bytes of the address
 * ranges its members lie in: what a census needs to count every object
 * once, and to remember which objects it counted, without a per-object
 * record.
 *
 * Addresses are taken in 64 KiB chunks, each a bitmap with one bit per 8
 * bytes (a PyObject's alignment; two objects are at least 16 bytes apart,
 * so distinct objects never share a bit; an address that is not a multiple
 * of 8 is rounded down).  A live heap packs its objects into pymalloc's
 * arenas and malloc's heap, so the set costs about 1/64 of the memory its
 * members occupy, a byte or two per object; the chunks are found through
 * a small hash table.
 *
 * Once frozen, a set answers rc_addrset_rank(): a member's position in
 * address order, so that a caller keeps one small value per member (a type
 * index) in an array indexed by rank.  Nothing is added after the freeze.
 * Every allocation goes through refchain/alloc.h. */
#ifndef REFCHAIN_ADDRSET_H
#define REFCHAIN_ADDRSET_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/status.h"

typedef struct rc_addrset rc_addrset;

/* An empty set, or NULL when out of memory. */
rc_addrset *rc_addrset_new(void);
void rc_addrset_free(rc_addrset *s);

/* Add addr: 1 if it was not there, 0 if it was, -1 when out of memory (the
 * set is unchanged) or frozen. */
int rc_addrset_add(rc_addrset *s, uintptr_t addr);

/* Remove addr if present (before the freeze; a no-op after). */
void rc_addrset_remove(rc_addrset *s, uintptr_t addr);

size_t rc_addrset_count(const rc_addrset *s);

/* Bytes the set holds. */
size_t rc_addrset_memory(const rc_addrset *s);

/* Number the members in address order.  RC_ENOMEM leaves the set as it
 * was (not frozen); freezing a frozen set does nothing. */
rc_status rc_addrset_freeze(rc_addrset *s);

/* A frozen set's rank of addr (0 for its lowest member), or SIZE_MAX when
 * addr is not a member or the set is not frozen. */
size_t rc_addrset_rank(const rc_addrset *s, uintptr_t addr);

/* ranks[j] = rc_addrset_rank(s, addrs[j]) for j < n, faster when the
 * addresses are near each other: a cursor remembers the chunks it found
 * last.  Zero it before its first use; it is valid for one frozen set. */
typedef struct rc_addrset_cursor {
    uintptr_t key[64]; /* a chunk's number, plus 1: 0 is empty */
    const void *chunk[64];
} rc_addrset_cursor;
void rc_addrset_rank_many(const rc_addrset *s, const uintptr_t *addrs, size_t n, size_t *ranks,
                          rc_addrset_cursor *cur);

/* The members of a frozen set in address order:
 *     rc_addrset_iter it = {0};
 *     while (rc_addrset_next(s, &it, &addr)) ...
 * the k-th call gives the member of rank k. */
typedef struct rc_addrset_iter {
    size_t chunk, bit;
} rc_addrset_iter;
int rc_addrset_next(const rc_addrset *s, rc_addrset_iter *it, uintptr_t *addr);

/* The next members, up to max of them, into out: as many calls of
 * rc_addrset_next() would give, in one.  Returns how many (0 at the end). */
size_t rc_addrset_take(const rc_addrset *s, rc_addrset_iter *it, uintptr_t *out, size_t max);

#endif
