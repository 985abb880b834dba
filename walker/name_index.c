/* The index of strings by content (see name_index.h): open addressing over
 * a table at most half full, each slot a value and its name's hash tag, so
 * that a probe compares strings only when their hashes agree. */
#include <string.h>

#include "name_index.h"
#include "refchain/alloc.h"

/* FNV-1a, 64 bits. */
static uint64_t
hash_name(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h = (h ^ *p) * UINT64_C(0x100000001b3);
    }
    return h;
}

int
rc_name_index_init(rc_name_index *ix, const char *const *names, size_t n)
{
    size_t slots = 16;
    while (slots < 2 * n) {
        slots *= 2;
    }
    ix->slots = rc_calloc(slots, sizeof *ix->slots);
    ix->mask = slots - 1;
    ix->names = names;
    return ix->slots ? 0 : -1;
}

void
rc_name_index_free(rc_name_index *ix)
{
    rc_free(ix->slots);
    ix->slots = NULL;
}

/* The slot holding `name`, or the empty slot where it would go. */
static size_t
probe(const rc_name_index *ix, const char *name, uint64_t h)
{
    /* The high bits pick the slot; the low ones are the tag. */
    size_t i = (size_t)(h >> 32) & ix->mask;
    for (;;) {
        const rc_name_slot *s = &ix->slots[i];
        if (s->value_plus1 == 0 || (s->tag == (uint32_t)h &&
                                    strcmp(ix->names[s->value_plus1 - 1], name) == 0)) {
            return i;
        }
        i = (i + 1) & ix->mask;
    }
}

uint32_t
rc_name_index_add(rc_name_index *ix, uint32_t value)
{
    const char *name = ix->names[value];
    uint64_t h = hash_name(name);
    rc_name_slot *s = &ix->slots[probe(ix, name, h)];
    if (s->value_plus1) {
        return s->value_plus1 - 1;
    }
    s->value_plus1 = value + 1;
    s->tag = (uint32_t)h;
    return value;
}

uint32_t
rc_name_index_find(const rc_name_index *ix, const char *name)
{
    const rc_name_slot *s = &ix->slots[probe(ix, name, hash_name(name))];
    return s->value_plus1 ? s->value_plus1 - 1 : RC_NAME_ABSENT;
}
