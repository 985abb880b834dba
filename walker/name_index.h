/* Private to walker/: an index of strings by content, so that names can be
 * matched in time linear in their number and length (no sort, no pairwise
 * strcmp).
 *
 * The index holds values 0..n, each naming names[value]; the names array
 * and its strings are borrowed from the caller and must outlive the index.
 * A value is added once; a name added twice keeps the first value added. */
#ifndef REFCHAIN_NAME_INDEX_H
#define REFCHAIN_NAME_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define RC_NAME_ABSENT UINT32_MAX

typedef struct rc_name_slot {
    uint32_t value_plus1; /* 0: empty */
    uint32_t tag;         /* the name's hash, low 32 bits */
} rc_name_slot;

typedef struct rc_name_index {
    rc_name_slot *slots;
    size_t mask;
    const char *const *names;
} rc_name_index;

/* An empty index for up to `n` values (n < UINT32_MAX) naming names[0..n).
 * Returns 0, or -1 on ENOMEM (then *ix holds nothing to free). */
int rc_name_index_init(rc_name_index *ix, const char *const *names, size_t n);
/* Free the index; a zeroed or failed index is fine. */
void rc_name_index_free(rc_name_index *ix);

/* Add `value` (a value not added before) unless names[value] is already
 * there: returns the value that holds the name, `value` itself when new.
 * Never fails: init reserved room for every value. */
uint32_t rc_name_index_add(rc_name_index *ix, uint32_t value);

/* The value holding `name`, or RC_NAME_ABSENT. */
uint32_t rc_name_index_find(const rc_name_index *ix, const char *name);

#endif
