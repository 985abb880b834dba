/* The graph builder and the frozen graph (see refchain/graph.h).
 *
 * States of a builder's data:
 *   - nodes [0, closed) are expanded: their attributes and out-edge offsets
 *     are final; out_off[closed] is the index their edges end at.
 *   - nodes [closed, n) are discovered but not expanded yet.
 *   - edges [0, n_out) are recorded; pending[0, n_pending) holds raw target
 *     addresses recorded since the last flush; they will land at
 *     [n_out + i].
 *
 * A live builder (a capture's) tells a new address by the set of addresses
 * it has seen (refchain/addrset.h), a bit each in bitmaps of the ranges the
 * heap occupies: a new address becomes a node at once.  An edge to a node
 * it found then records the node's id (RAW_ID); any other records the
 * target's address.  At the freeze the set is numbered in address order,
 * each rank is mapped to its node, and those addresses become ids, a batch
 * at a time, prefetched.  A hash probe per edge spent a random cache miss
 * in a table of 11-23 bytes per node; the bitmaps are 1/64 of the heap and
 * follow its layout, and a heap's references mostly stay near.
 *
 * An indexed builder (a loader's, whose addresses may be anything a file
 * holds) maps an address to its id by linear probing instead.  A slot is
 * (32-bit hash tag << 32) | (id + 1), 0 when empty: the tag lets a probe skip
 * occupied slots without loading addr[id], so a lookup costs one random load
 * plus one for the match, and both are prefetched in batches; out[] holds
 * ids from the start, DEAD for a dropped edge.
 *
 * Seeds are buffered and resolved in batches the same way.
 *
 * The large arrays (node attributes, edges, the index or the seen set's
 * bitmaps, in-edges) come from and go back to the capture's pool
 * (refchain/pool.h), so a capture after a capture reuses resident memory.
 * Each records its block's size in bytes (*_bytes): a block taken from the
 * pool may be larger than asked for, and growing within it costs nothing.  Nothing is zeroed that is written
 * before it is read: a node's flags are cleared when it is added, and only
 * the index and the in-edge counts are cleared. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/addrset.h"
#include "refchain/alloc.h"
#include "refchain/filler.h"
#include "refchain/graph.h"
#include "refchain/pool.h"

#define DEAD RC_NO_ID
#define PENDING_BATCH 4096
#define PREFETCH_AHEAD 32
/* Maximum load of the address index, as a fraction num/den. */
#define LOAD_NUM 7
#define LOAD_DEN 10

typedef struct type_entry {
    uintptr_t key;
    size_t name;  /* offset into the pool */
    size_t short_name;
    unsigned flags;
} type_entry;

typedef struct type_table {
    type_entry *entries;
    size_t n, cap;
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t *slots; /* key -> index + 1 */
    size_t slot_mask;
} type_table;

typedef struct big_size {
    rc_id id;
    uint64_t size;
} big_size;

/* The address index, shared by builder and graph. */
typedef struct addr_index {
    uint64_t *slots;
    size_t bytes; /* of the slots' block */
    size_t mask;
    unsigned shift; /* 64 - log2(mask + 1) */
} addr_index;

/* The per-node arrays, pooled (*_bytes: each block's size), moved whole from
 * the builder to the graph.  out_off has one entry more than the nodes. */
typedef struct node_arrays {
    uintptr_t *addr;
    uint32_t *type;
    uint32_t *size;
    uint32_t *refcnt;
    uint16_t *flags;
    uint32_t *out_off;
    size_t addr_bytes, type_bytes, size_bytes, refcnt_bytes, flags_bytes, out_off_bytes;
} node_arrays;

struct rc_builder {
    node_arrays nodes;
    size_t n, cap, closed;
    size_t nodes_populated; /* node slots faulted in ahead (fill_ahead) */
    /* A live builder's, once its node arrays are large: the stretches after
     * the one being filled are faulted in on its thread, up to *_posted. */
    rc_filler *filler;
    bool filler_tried;
    size_t nodes_posted, out_posted;
    bool expanding;

    /* Edges: ids in an indexed builder; in a live one, the targets'
     * addresses (raw), numbered at the freeze. */
    rc_id *out;
    uintptr_t *raw;
    size_t out_bytes; /* of out's block, or raw's */
    size_t n_out, out_cap, n_dead;
    size_t out_populated;
    uintptr_t *pending;
    size_t n_pending;
    uintptr_t *seeds;
    size_t n_seeds;
    unsigned seed_flags; /* flags the buffered seeds get */
    bool marking;        /* the buffered addresses are marks, not seeds */

    /* How an address finds its node.  An indexed builder (a loader's) keeps
     * the address index.  A live one (a capture's) keeps only the set of
     * addresses it has seen (`seen`, also a counter's), a bit each: a new
     * address is a new node, and the addresses of edges and of flags given
     * to nodes already seen are numbered once, at the freeze.  late[k] is
     * the set of seen addresses given flag 1 << k (NULL until one is): a
     * flag given again costs nothing (a split dict's keys are seeded once
     * per dict, the same few strs each time). */
    bool indexed;
    /* A listed builder (a loader's, rc_builder_new_listed): an indexed one
     * with no index, whose nodes are appended in order and never looked up. */
    bool listed;
    addr_index index;
    rc_addrset *late[16];
    bool nodes_only; /* discover nodes, store no edge */
    size_t edge_hint; /* rc_builder_expect_edges() */
    bool keep_order;  /* rc_builder_keep_addr_order() */
    rc_id *order;     /* the nodes in address order, kept at the freeze */
    size_t order_bytes;

    uintptr_t *excluded;
    size_t n_excluded, excluded_cap;
    bool excluded_sorted, sealed;

    big_size *big;
    size_t n_big, big_cap;

    type_table types;

    /* A counter (rc_builder_new_counter): no index and no node arrays, but
     * the set of objects seen, a stack of those left to expand, and a
     * tally per type id. */
    bool counting;
    rc_addrset *seen; /* a counter's or a live builder's */
    uintptr_t *todo; /* a stack, from the pool */
    size_t todo_bytes, todo_cap, n_todo, counted;
    uintptr_t current; /* the object being expanded */
    /* The tool's own running frames it closed: counted apart, and left out
     * of the set rc_builder_counted() hands over. */
    uintptr_t *tool_frames;
    size_t n_tool_frames, tool_frames_cap;
    rc_type_tally *tally;
    size_t tally_cap;
};

struct rc_graph {
    size_t n, n_edges;
    node_arrays nodes;
    uint32_t *in_off;
    rc_id *out, *in;
    size_t out_bytes, in_off_bytes, in_bytes;
    rc_id *order; /* rc_graph_addr_order(), or NULL */
    size_t order_bytes;
    big_size *big;
    size_t n_big;
    type_table types;
};

/* ---- helpers ----------------------------------------------------------- */

static inline uint64_t
hash_addr(uintptr_t addr)
{
    /* Objects are at least 8-byte aligned.  Fibonacci hashing: the high bits
     * pick the home slot, the low 32 bits are the tag. */
    return (uint64_t)(addr >> 3) * UINT64_C(0x9E3779B97F4A7C15);
}

static inline size_t
home_slot(const addr_index *ix, uint64_t h)
{
    return (size_t)(h >> ix->shift);
}

static inline uint64_t
make_slot(uint64_t h, size_t id)
{
    return (h << 32) | ((uint64_t)id + 1);
}

static inline bool
slot_may_hold(uint64_t s, uint64_t h)
{
    return (uint32_t)(s >> 32) == (uint32_t)h;
}

static inline size_t
slot_id(uint64_t s)
{
    return (size_t)(uint32_t)s - 1;
}

static unsigned
log2_floor(size_t x)
{
    unsigned r = 0;
    while (x >>= 1) {
        r++;
    }
    return r;
}

/* Smallest power of two >= x (x >= 1). */
static size_t
pow2_ceil(size_t x)
{
    size_t p = 1;
    while (p < x) {
        p <<= 1;
    }
    return p;
}

/* Grow *arr (elements of `size` bytes) to hold `cap` elements. */
static bool
grow(void **arr, size_t cap, size_t size)
{
    void *p = rc_reallocarray(*arr, cap, size);
    if (!p) {
        return false;
    }
    *arr = p;
    return true;
}

/* n elements of `size` bytes in bytes; SIZE_MAX on overflow (no allocation
 * can succeed then). */
static size_t
array_bytes(size_t n, size_t size)
{
    return size && n > SIZE_MAX / size ? SIZE_MAX : n * size;
}

/* A pooled array of at least n elements: *bytes receives its block's size. */
static bool
pool_array(void **arr, size_t *bytes, size_t n, size_t size)
{
    size_t want = array_bytes(n, size);
    *arr = want == SIZE_MAX ? NULL : rc_pool_alloc(want, bytes);
    return *arr != NULL;
}

/* Grow a pooled array to hold `cap` elements: free when its block is large
 * enough already. */
static bool
grow_pooled(void **arr, size_t *bytes, size_t cap, size_t size)
{
    size_t want = array_bytes(cap, size);
    if (want <= *bytes) {
        return true;
    }
    void *p = want == SIZE_MAX ? NULL : rc_pool_grow(*arr, *bytes, want, bytes);
    if (p) {
        *arr = p;
    }
    return p != NULL;
}

/* Shrink a pooled array to n + n/8 elements when its block is more than a
 * quarter larger than that; keep the old block if that fails.  The slack is
 * what the next capture asks for (rc_module_capture's hint): shrinking to n
 * would unmap tail pages that it would fault in again. */
static void
shrink_pooled(void **arr, size_t *bytes, size_t n, size_t size)
{
    size_t want = array_bytes(n + n / 8 ? n + n / 8 : 1, size);
    if (want < *bytes - *bytes / 5) {
        void *p = rc_pool_resize(*arr, *bytes, want, bytes);
        if (p) {
            *arr = p;
        }
    }
}

/* Give a pooled array back (NULL is a no-op). */
static void
unpool(void *arr, size_t *bytes)
{
    rc_pool_free(arr, *bytes);
    *bytes = 0;
}

/* One pooled array of a builder or graph: its pointer, its block's bytes,
 * its element size, and its elements beyond one per node (out_off's 1). */
typedef struct pooled {
    void **arr;
    size_t *bytes;
    size_t size, extra;
} pooled;

enum { NODE_ARRAYS = 6 };

#define POOLED(field, bytes_field, extra)                                                  \
    ((pooled){(void **)&(field), &(bytes_field), sizeof *(field), (extra)})

/* An empty index for about `expected` addresses.  Cleared: an empty slot
 * is 0. */
static bool
index_init(addr_index *ix, size_t expected)
{
    size_t slots = pow2_ceil(expected * LOAD_DEN / LOAD_NUM + 16);
    if (!pool_array((void **)&ix->slots, &ix->bytes, slots, sizeof *ix->slots)) {
        return false;
    }
    rc_pool_populate(ix->slots, 0, slots * sizeof *ix->slots);
    memset(ix->slots, 0, slots * sizeof *ix->slots);
    ix->mask = slots - 1;
    ix->shift = 64 - log2_floor(slots);
    return true;
}

/* Rebuild the index with `slots` slots (a power of two larger than it has)
 * from addr[0..n). */
static bool
index_resize(addr_index *ix, const uintptr_t *addr, size_t n, size_t slots)
{
    addr_index nx = {.mask = slots - 1};
    nx.shift = 64 - log2_floor(nx.mask + 1);
    if (!pool_array((void **)&nx.slots, &nx.bytes, nx.mask + 1, sizeof *nx.slots)) {
        return false;
    }
    rc_pool_populate(nx.slots, 0, (nx.mask + 1) * sizeof *nx.slots);
    memset(nx.slots, 0, (nx.mask + 1) * sizeof *nx.slots);
    for (size_t id = 0; id < n; id++) {
        uint64_t h = hash_addr(addr[id]);
        size_t i = home_slot(&nx, h);
        while (nx.slots[i]) {
            i = (i + 1) & nx.mask;
        }
        nx.slots[i] = make_slot(h, id);
    }
    unpool(ix->slots, &ix->bytes);
    *ix = nx;
    return true;
}

/* The slot holding `a`, or the empty slot where it would go. */
static inline size_t
index_probe(const addr_index *ix, const uintptr_t *addr, uintptr_t a)
{
    uint64_t h = hash_addr(a);
    size_t i = home_slot(ix, h);
    for (;;) {
        uint64_t s = ix->slots[i];
        if (s == 0 || (slot_may_hold(s, h) && addr[slot_id(s)] == a)) {
            return i;
        }
        i = (i + 1) & ix->mask;
    }
}

/* ---- types -------------------------------------------------------------- */

static void
types_free(type_table *t)
{
    rc_free(t->entries);
    rc_free(t->pool);
    rc_free(t->slots);
    memset(t, 0, sizeof *t);
}

static inline size_t
hash_key(uintptr_t key, size_t mask)
{
    return (size_t)(((uint64_t)(key >> 3) * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & mask;
}

static size_t
types_slot(const type_table *t, uintptr_t key)
{
    size_t i = hash_key(key, t->slot_mask);
    while (t->slots[i] && t->entries[t->slots[i] - 1].key != key) {
        i = (i + 1) & t->slot_mask;
    }
    return i;
}

static bool
types_pool_add(type_table *t, const char *s, size_t *off)
{
    size_t len = strlen(s) + 1;
    if (t->pool_len + len > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 4096;
        while (cap < t->pool_len + len) {
            cap *= 2;
        }
        if (!grow((void **)&t->pool, cap, 1)) {
            return false;
        }
        t->pool_cap = cap;
    }
    memcpy(t->pool + t->pool_len, s, len);
    *off = t->pool_len;
    t->pool_len += len;
    return true;
}

static rc_status
types_intern(type_table *t, uintptr_t key, const char *name, const char *short_name,
             unsigned flags, uint32_t *out)
{
    if (!t->slots) {
        t->slots = rc_calloc(256, sizeof *t->slots);
        if (!t->slots) {
            return RC_ENOMEM;
        }
        t->slot_mask = 255;
    }
    size_t i = types_slot(t, key);
    if (t->slots[i]) {
        *out = t->slots[i] - 1;
        return RC_OK;
    }
    if (t->n >= RC_MAX_IDS) {
        return RC_ETOOBIG;
    }
    /* Keep the key table at most half full. */
    if ((t->n + 1) * 2 > t->slot_mask + 1) {
        size_t slots = (t->slot_mask + 1) * 2;
        uint32_t *s = rc_calloc(slots, sizeof *s);
        if (!s) {
            return RC_ENOMEM;
        }
        rc_free(t->slots);
        t->slots = s;
        t->slot_mask = slots - 1;
        for (size_t k = 0; k < t->n; k++) {
            t->slots[types_slot(t, t->entries[k].key)] = (uint32_t)k + 1;
        }
        i = types_slot(t, key);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        if (!grow((void **)&t->entries, cap, sizeof *t->entries)) {
            return RC_ENOMEM;
        }
        t->cap = cap;
    }
    type_entry e = {.key = key, .flags = flags};
    size_t saved = t->pool_len;
    if (!types_pool_add(t, name, &e.name) || !types_pool_add(t, short_name, &e.short_name)) {
        t->pool_len = saved;
        return RC_ENOMEM;
    }
    t->entries[t->n] = e;
    t->slots[i] = (uint32_t)t->n + 1;
    *out = (uint32_t)t->n++;
    return RC_OK;
}

/* ---- the builder -------------------------------------------------------- */

/* Nodes and edges are filled in order: their arrays' pages are faulted in
 * FILL_AHEAD elements at a time, just before they are written.  A live
 * builder whose node arrays hold rc_filler_min_nodes() or more has a
 * filler (refchain/filler.h) fault in, meanwhile, what follows: a 16th of
 * each array's capacity, from one window up to NODES_AHEAD windows of the
 * node arrays (8 MB of addresses) and EDGES_AHEAD of the references (a
 * dict of a million items writes 16 MB of them at once).  A shorter reach
 * (a 64th) left the walk faulting in addresses itself whenever the filler's
 * thread was not running.  What the filler faulted in and nothing wrote is
 * given back at the freeze, before the numbering's scratch; an eighth made
 * the walk's memory the capture's peak (4.5M objects of the Django-style
 * heap: 46.5 to 49.8 bytes an object), a 16th does not. */
enum { FILL_AHEAD = 1 << 16, NODES_AHEAD = 16, EDGES_AHEAD = 32, POST_WINDOWS = 4 };

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* How far ahead of the window being written the filler reaches in an array
 * of cap elements: a 16th of it, within [1, most] windows. */
static size_t
reach(size_t cap, size_t most)
{
    size_t r = min_size(cap / 16, most * FILL_AHEAD);
    return r > FILL_AHEAD ? r : FILL_AHEAD;
}

/* Hand the filler, if any, arr[*posted, limit) POST_WINDOWS windows at a
 * time, while its queue has room. */
static void
post_through(rc_builder *b, void *arr, size_t size, size_t *posted, size_t limit)
{
    while (b->filler && *posted < limit) {
        size_t end = min_size(limit, *posted + POST_WINDOWS * FILL_AHEAD);
        if (!rc_filler_post(b->filler, arr, *posted * size, end * size)) {
            break;
        }
        *posted = end;
    }
}

/* Fault in what arr[from, from + FILL_AHEAD) (to cap) has not been asked
 * for (*posted: the end of what has), and hand the filler the `ahead`
 * elements after it.  Returns the element at which to call again. */
static size_t
fill_ahead(rc_builder *b, void *arr, size_t size, size_t from, size_t cap,
           size_t *posted, size_t ahead)
{
    size_t to = from + min_size(FILL_AHEAD, cap - from);
    if (*posted < to) {
        rc_pool_populate(arr, (*posted > from ? *posted : from) * size, to * size);
        *posted = to;
    }
    post_through(b, arr, size, posted, min_size(cap, to + ahead));
    return to;
}

/* Before a builder's array moves or is freed: no range of it may be left
 * with the filler, and what the filler had is faulted in again here. */
static void
settle_filler(rc_builder *b)
{
    if (b->filler) {
        rc_filler_settle(b->filler);
        b->nodes_posted = b->n; /* nothing after these is asked for */
        b->out_posted = b->n_out;
    }
}

/* Make room for `need` edges in out[] (raw[] when live): the first edges
 * get a pooled array sized for one edge per node at least, later ones grow
 * it by half. */
static rc_status
reserve_edges(rc_builder *b, size_t need)
{
    void **arr = b->indexed ? (void **)&b->out : (void **)&b->raw;
    size_t size = b->indexed ? sizeof *b->out : sizeof *b->raw;
    if (need > b->out_cap) {
        size_t cap = *arr ? b->out_cap + b->out_cap / 2
                          : (b->edge_hint > b->cap ? b->edge_hint : b->cap);
        if (cap < need) {
            cap = need;
        }
        if (*arr) {
            settle_filler(b);
        }
        bool ok = *arr ? grow_pooled(arr, &b->out_bytes, cap, size)
                       : pool_array(arr, &b->out_bytes, cap, size);
        if (!ok) {
            return RC_ENOMEM;
        }
        b->out_cap = b->out_bytes / size;
    }
    if (need > b->out_populated) {
        b->out_populated = fill_ahead(b, *arr, size, b->n_out, b->out_cap,
                                      &b->out_posted, reach(b->out_cap, EDGES_AHEAD));
    }
    /* A large container's references are all about to be written: the
     * filler may fault them in with nothing to spare. */
    post_through(b, *arr, size, &b->out_posted, need);
    return RC_OK;
}

/* The node arrays as pooled blocks, in the order they are allocated. */
static void
list_node_arrays(node_arrays *a, pooled p[NODE_ARRAYS])
{
    p[0] = POOLED(a->addr, a->addr_bytes, 0);
    p[1] = POOLED(a->type, a->type_bytes, 0);
    p[2] = POOLED(a->size, a->size_bytes, 0);
    p[3] = POOLED(a->refcnt, a->refcnt_bytes, 0);
    p[4] = POOLED(a->flags, a->flags_bytes, 0);
    p[5] = POOLED(a->out_off, a->out_off_bytes, 1);
}

/* How many nodes the node arrays hold, the smallest block deciding. */
static size_t
node_capacity(rc_builder *b)
{
    pooled p[NODE_ARRAYS];
    list_node_arrays(&b->nodes, p);
    size_t cap = RC_MAX_IDS;
    for (int i = 0; i < NODE_ARRAYS; i++) {
        size_t c = *p[i].bytes / p[i].size - p[i].extra;
        cap = c < cap ? c : cap;
    }
    return cap;
}

static rc_builder *
builder_new(size_t node_hint, bool indexed, bool listed)
{
    if (node_hint < 1024) {
        node_hint = 1024;
    }
    if (node_hint > RC_MAX_IDS) {
        node_hint = RC_MAX_IDS;
    }
    rc_builder *b = rc_calloc(1, sizeof *b);
    if (!b) {
        return NULL;
    }
    /* An indexed builder's index first: it is the largest block, and the
     * pool hands out the smallest that fits.  Edges get their array when the
     * first arrives (a census stores none). */
    b->indexed = indexed;
    b->listed = listed;
    bool ok = listed    ? true
              : indexed ? index_init(&b->index, node_hint)
                        : (b->seen = rc_addrset_new()) != NULL;
    pooled p[NODE_ARRAYS];
    list_node_arrays(&b->nodes, p);
    for (int i = 0; ok && i < NODE_ARRAYS; i++) {
        ok = pool_array(p[i].arr, p[i].bytes, node_hint + p[i].extra, p[i].size);
    }
    if (!ok) {
        rc_builder_free(b);
        return NULL;
    }
    b->pending = rc_malloc(PENDING_BATCH * sizeof *b->pending);
    b->seeds = rc_malloc(PENDING_BATCH * sizeof *b->seeds);
    if (!b->pending || !b->seeds) {
        rc_builder_free(b);
        return NULL;
    }
    /* A block taken from the pool may hold more than asked for. */
    b->cap = node_capacity(b);
    b->nodes.out_off[0] = 0;
    return b;
}

rc_builder *
rc_builder_new(size_t node_hint)
{
    return builder_new(node_hint, false, false);
}

rc_builder *
rc_builder_new_foreign(size_t node_hint)
{
    return builder_new(node_hint, true, false);
}

rc_builder *
rc_builder_new_listed(size_t node_hint)
{
    return builder_new(node_hint, true, true);
}

void
rc_builder_free(rc_builder *b)
{
    if (!b) {
        return;
    }
    rc_filler_stop(b->filler);
    pooled p[NODE_ARRAYS];
    list_node_arrays(&b->nodes, p);
    for (int i = 0; i < NODE_ARRAYS; i++) {
        unpool(*p[i].arr, p[i].bytes);
    }
    unpool(b->out ? (void *)b->out : (void *)b->raw, &b->out_bytes); /* one at most */
    for (int k = 0; k < 16; k++) {
        rc_addrset_free(b->late[k]);
    }
    rc_free(b->pending);
    rc_free(b->seeds);
    unpool(b->index.slots, &b->index.bytes);
    unpool(b->order, &b->order_bytes);
    rc_free(b->excluded);
    rc_free(b->big);
    types_free(&b->types);
    rc_addrset_free(b->seen);
    rc_pool_free(b->todo, b->todo_bytes);
    rc_free(b->tool_frames);
    rc_free(b->tally);
    rc_free(b);
}

void
rc_builder_expect_edges(rc_builder *b, size_t m)
{
    b->edge_hint = m;
}

void
rc_builder_keep_addr_order(rc_builder *b)
{
    b->keep_order = !b->indexed && !b->counting;
}

void
rc_builder_nodes_only(rc_builder *b)
{
    b->nodes_only = true;
}

rc_status
rc_builder_exclude(rc_builder *b, uintptr_t addr)
{
    if (b->sealed) {
        return RC_EINVAL;
    }
    if (b->n_excluded == b->excluded_cap) {
        size_t cap = b->excluded_cap ? b->excluded_cap * 2 : 16;
        if (!grow((void **)&b->excluded, cap, sizeof *b->excluded)) {
            return RC_ENOMEM;
        }
        b->excluded_cap = cap;
    }
    b->excluded[b->n_excluded++] = addr;
    return RC_OK;
}

static int
cmp_uintptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static void
seal(rc_builder *b)
{
    if (!b->sealed && b->n_excluded) {
        qsort(b->excluded, b->n_excluded, sizeof *b->excluded, cmp_uintptr);
    }
    b->sealed = true;
}

static bool
is_excluded(const rc_builder *b, uintptr_t addr)
{
    size_t lo = 0, hi = b->n_excluded;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->excluded[mid] < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < b->n_excluded && b->excluded[lo] == addr;
}

/* ---- counting (rc_builder_new_counter) ----------------------------------- */

rc_builder *
rc_builder_new_counter(void)
{
    rc_builder *b = rc_calloc(1, sizeof *b);
    if (!b) {
        return NULL;
    }
    b->counting = true;
    if (!(b->seen = rc_addrset_new()) ||
        !(b->todo = rc_pool_alloc(RC_POOL_MIN_BYTES, &b->todo_bytes))) {
        rc_builder_free(b);
        return NULL;
    }
    b->todo_cap = b->todo_bytes / sizeof *b->todo;
    return b;
}

int
rc_builder_see(rc_builder *b, uintptr_t addr)
{
    if (!b->counting || !b->seen) {
        return -1; /* not a counter, or its set was taken */
    }
    int added = rc_addrset_add(b->seen, addr);
    if (added == 1 && b->n_excluded && is_excluded(b, addr)) {
        return 0; /* stays seen, so it is looked up once; never counted */
    }
    return added;
}

rc_status
rc_builder_queue(rc_builder *b, uintptr_t addr)
{
    if (!b->counting) {
        return RC_EINVAL;
    }
    if (b->n_todo == b->todo_cap) {
        /* From the pool, where the last census left its stack: growing by
         * realloc would fault in fresh pages each time. */
        size_t bytes;
        uintptr_t *p = rc_pool_alloc(2 * b->todo_bytes, &bytes);
        if (!p) {
            return RC_ENOMEM;
        }
        memcpy(p, b->todo, b->n_todo * sizeof *p);
        rc_pool_free(b->todo, b->todo_bytes);
        b->todo = p;
        b->todo_bytes = bytes;
        b->todo_cap = bytes / sizeof *p;
    }
    /* It is expanded soon (last in, first out): fetch its header now. */
    __builtin_prefetch((const void *)addr);
    b->todo[b->n_todo++] = addr;
    return RC_OK;
}

/* See addr, and queue it when it is new. */
static rc_status
count_discover(rc_builder *b, uintptr_t addr)
{
    int added = rc_builder_see(b, addr);
    if (added <= 0) {
        return added < 0 ? RC_ENOMEM : RC_OK;
    }
    rc_status st = rc_builder_queue(b, addr);
    if (st != RC_OK) {
        rc_addrset_remove(b->seen, addr);
    }
    return st;
}

/* A tally, zeroed, for every type id below n. */
static bool
tally_reserve(rc_builder *b, size_t n)
{
    if (n <= b->tally_cap) {
        return true;
    }
    if (!grow((void **)&b->tally, n, sizeof *b->tally)) {
        return false;
    }
    memset(b->tally + b->tally_cap, 0, (n - b->tally_cap) * sizeof *b->tally);
    b->tally_cap = n;
    return true;
}

rc_status
rc_builder_count(rc_builder *b, uint32_t type, uint64_t size, unsigned flags)
{
    if (!b->counting || type >= b->types.n) {
        return RC_EINVAL;
    }
    if (type >= b->tally_cap && !tally_reserve(b, b->types.n + 64)) {
        return RC_ENOMEM;
    }
    rc_type_tally *t = &b->tally[type];
    t->count++;
    t->bytes += size;
    if (flags & RC_NODE_TOOL_FRAME) {
        t->tool_count++;
        t->tool_bytes += size;
    }
    b->counted++;
    return RC_OK;
}

rc_status
rc_builder_counted(rc_builder *b, const rc_type_tally **tally, size_t *n_types,
                   rc_addrset **objects)
{
    if (!b->counting || b->expanding || b->n_todo) {
        return RC_EINVAL;
    }
    if (!tally_reserve(b, b->types.n ? b->types.n : 1)) {
        return RC_ENOMEM;
    }
    *tally = b->tally;
    *n_types = b->types.n;
    if (objects) {
        for (size_t i = 0; i < b->n_excluded; i++) {
            rc_addrset_remove(b->seen, b->excluded[i]);
        }
        for (size_t i = 0; i < b->n_tool_frames; i++) {
            rc_addrset_remove(b->seen, b->tool_frames[i]);
        }
        *objects = b->seen;
        b->seen = NULL;
    }
    return RC_OK;
}

/* Grow the node arrays to `cap` nodes (at most RC_MAX_IDS). */
static rc_status
grow_nodes(rc_builder *b, size_t cap)
{
    if (cap > RC_MAX_IDS) {
        cap = RC_MAX_IDS;
    }
    settle_filler(b);
    /* Arrays that grew before a failure keep their larger block; only the
     * common capacity decides what is in use. */
    pooled p[NODE_ARRAYS];
    list_node_arrays(&b->nodes, p);
    for (int i = 0; i < NODE_ARRAYS; i++) {
        if (!grow_pooled(p[i].arr, p[i].bytes, cap + p[i].extra, p[i].size)) {
            return RC_ENOMEM;
        }
    }
    b->cap = cap;
    return RC_OK;
}

/* Whether most of arr[from, cap) is not resident yet, by 16 pages spread
 * over it. */
static bool
mostly_fresh(const uintptr_t *arr, size_t from, size_t cap)
{
    enum { PROBES = 16 };
    int resident = 0;
    for (size_t k = 1; k <= PROBES; k++) {
        resident += rc_map_resident(arr + from + (cap - from) / (PROBES + 1) * k);
    }
    return resident < PROBES / 2;
}

/* fill_ahead() over every node array from node b->n; returns the node up
 * to which they are faulted in. */
static size_t
fill_ahead_nodes(rc_builder *b)
{
    if (!b->filler_tried && !b->indexed && b->cap >= rc_filler_min_nodes()) {
        /* Once, and only into fresh memory: a block the pool kept is
         * resident already.  A builder without one goes on as before. */
        b->filler_tried = true;
        b->filler =
            mostly_fresh(b->nodes.addr, b->n, b->cap) ? rc_filler_start() : NULL;
    }
    pooled p[NODE_ARRAYS];
    list_node_arrays(&b->nodes, p);
    size_t to = b->n, posted = b->nodes_posted;
    for (int i = 0; i < NODE_ARRAYS; i++) {
        size_t mine = b->nodes_posted;
        to = fill_ahead(b, *p[i].arr, p[i].size, b->n, b->cap, &mine,
                        reach(b->cap, NODES_AHEAD));
        posted = i ? min_size(posted, mine) : mine;
    }
    b->nodes_posted = posted;
    return to;
}

/* Make room for one more node. */
static rc_status
reserve_node(rc_builder *b)
{
    if (b->n >= RC_MAX_IDS) {
        return RC_ETOOBIG;
    }
    if (b->indexed && !b->listed && (b->n + 1) * LOAD_DEN > (b->index.mask + 1) * LOAD_NUM &&
        !index_resize(&b->index, b->nodes.addr, b->n, (b->index.mask + 1) * 2)) {
        return RC_ENOMEM;
    }
    rc_status st = b->n < b->cap ? RC_OK : grow_nodes(b, b->cap + b->cap / 2);
    if (st == RC_OK && b->n >= b->nodes_populated) {
        b->nodes_populated = fill_ahead_nodes(b);
    }
    return st;
}

rc_status
rc_builder_reserve(rc_builder *b, size_t n)
{
    if (b->counting) {
        return RC_OK;
    }
    n = n < RC_MAX_IDS ? n : RC_MAX_IDS;
    size_t slots = b->indexed && !b->listed ? pow2_ceil(n * LOAD_DEN / LOAD_NUM + 16) : 0;
    if (slots > b->index.mask + 1 && !index_resize(&b->index, b->nodes.addr, b->n, slots)) {
        return RC_ENOMEM;
    }
    return n > b->cap ? grow_nodes(b, n) : RC_OK;
}

/* Find or add `a`; *id receives its id, or DEAD when it is excluded. */
static rc_status
find_or_add(rc_builder *b, uintptr_t a, rc_id *id)
{
    size_t i = index_probe(&b->index, b->nodes.addr, a);
    uint64_t s = b->index.slots[i];
    if (s) {
        *id = (rc_id)slot_id(s);
        return RC_OK;
    }
    if (is_excluded(b, a)) {
        *id = DEAD;
        return RC_OK;
    }
    size_t old_mask = b->index.mask;
    rc_status st = reserve_node(b);
    if (st != RC_OK) {
        return st;
    }
    if (b->index.mask != old_mask) {
        i = index_probe(&b->index, b->nodes.addr, a);
    }
    b->nodes.addr[b->n] = a;
    b->nodes.flags[b->n] = 0;
    b->index.slots[i] = make_slot(hash_addr(a), b->n);
    *id = (rc_id)b->n++;
    return RC_OK;
}

/* Give the node at a seen address `flags` (16 bits) at the freeze.  On
 * RC_ENOMEM some of them may be recorded: recording one again is a no-op. */
static rc_status
add_late(rc_builder *b, uintptr_t a, unsigned flags)
{
    for (int k = 0; k < 16; k++) {
        if (!(flags & (1u << k))) {
            continue;
        }
        if ((!b->late[k] && !(b->late[k] = rc_addrset_new())) ||
            rc_addrset_add(b->late[k], a) < 0) {
            return RC_ENOMEM;
        }
    }
    return RC_OK;
}

/* A live builder's edge to a node it found then: its id, tagged.  Other
 * edges hold their target's address, rounded down to 8 bytes as the set
 * of addresses seen takes it, so bit 0 tells the two apart. */
#define RAW_ID(id) (((uintptr_t)(id) << 1) | 1)

/* resolve() for a live builder: a new address becomes a node at once
 * (unless excluded); raw[j], when raw is not NULL, receives the edge to
 * addrs[j] (RAW_ID or the address, numbered at the freeze), and a seed's
 * flags for a node seen before are given at the freeze. */
static rc_status
resolve_live(rc_builder *b, const uintptr_t *addrs, size_t n, uintptr_t *raw, bool seeds,
             size_t *done)
{
    unsigned seed_flags = (b->marking ? 0 : RC_NODE_SEED) | b->seed_flags;
    rc_status st = RC_OK;
    size_t j = 0;
    for (; j < n; j++) {
        uintptr_t a = addrs[j];
        int added = rc_addrset_add(b->seen, a);
        if (added < 0) {
            st = RC_ENOMEM;
            break;
        }
        uintptr_t edge = a & ~(uintptr_t)7;
        if (added && !is_excluded(b, a)) {
            if ((st = reserve_node(b)) != RC_OK) {
                rc_addrset_remove(b->seen, a);
                break;
            }
            edge = RAW_ID(b->n);
            b->nodes.addr[b->n] = a;
            b->nodes.flags[b->n++] = (uint16_t)(seeds ? seed_flags : 0);
        } else if (!added && seeds && seed_flags && (st = add_late(b, a, seed_flags)) != RC_OK) {
            break;
        }
        if (raw) {
            raw[j] = edge;
        }
    }
    *done = j;
    return st;
}

/* Resolve addrs[0..n) to ids, prefetching both dependent loads of each
 * probe: the slot 2*D lookups ahead, then, once the slot is in cache, the
 * address it names D lookups ahead.  ids[j] receives the id (DEAD when
 * excluded) unless ids is NULL; seeds are flagged as such.  *done receives
 * how many were resolved, also on error. */
static rc_status
resolve(rc_builder *b, const uintptr_t *addrs, size_t n, rc_id *ids, bool seeds,
        size_t *done)
{
    enum { D = PREFETCH_AHEAD };
    if (!b->indexed) {
        return resolve_live(b, addrs, n, NULL, seeds, done);
    }
    for (size_t j = 0; j < n && j < 2 * D; j++) {
        __builtin_prefetch(&b->index.slots[home_slot(&b->index, hash_addr(addrs[j]))]);
    }
    for (size_t j = 0; j < n; j++) {
        if (j + 2 * D < n) {
            __builtin_prefetch(
                &b->index.slots[home_slot(&b->index, hash_addr(addrs[j + 2 * D]))]);
        }
        if (j + D < n) {
            uint64_t h = hash_addr(addrs[j + D]);
            uint64_t s = b->index.slots[home_slot(&b->index, h)];
            if (s && slot_may_hold(s, h)) {
                __builtin_prefetch(&b->nodes.addr[slot_id(s)]);
            }
        }
        rc_id id;
        rc_status st = find_or_add(b, addrs[j], &id);
        if (st != RC_OK) {
            *done = j;
            return st;
        }
        if (ids) {
            ids[j] = id;
        }
        if (seeds && id != DEAD) {
            b->nodes.flags[id] |= (uint16_t)((b->marking ? 0 : RC_NODE_SEED) | b->seed_flags);
        }
    }
    *done = n;
    return RC_OK;
}

/* Resolve the buffered seeds. */
static rc_status
flush_seeds(rc_builder *b)
{
    size_t done;
    rc_status st = resolve(b, b->seeds, b->n_seeds, NULL, true, &done);
    memmove(b->seeds, b->seeds + done, (b->n_seeds - done) * sizeof *b->seeds);
    b->n_seeds -= done;
    return st;
}

rc_status
rc_builder_seed(rc_builder *b, uintptr_t addr)
{
    return rc_builder_seed_flagged(b, addr, 0);
}

static rc_status
buffer_seed(rc_builder *b, uintptr_t addr, unsigned flags, bool marking)
{
    seal(b);
    if (addr == 0 || b->listed) {
        return RC_EINVAL;
    }
    if (b->counting) {
        return count_discover(b, addr);
    }
    if ((flags != b->seed_flags || marking != b->marking) && b->n_seeds) {
        rc_status st = flush_seeds(b);
        if (st != RC_OK) {
            return st;
        }
    }
    b->seed_flags = flags;
    b->marking = marking;
    if (b->n_seeds == PENDING_BATCH) {
        rc_status st = flush_seeds(b);
        if (st != RC_OK) {
            return st;
        }
    }
    b->seeds[b->n_seeds++] = addr;
    return RC_OK;
}

rc_status
rc_builder_seed_flagged(rc_builder *b, uintptr_t addr, unsigned flags)
{
    return buffer_seed(b, addr, flags, false);
}

rc_status
rc_builder_mark(rc_builder *b, uintptr_t addr, unsigned flags)
{
    return buffer_seed(b, addr, flags, true);
}

rc_status
rc_builder_type(rc_builder *b, uintptr_t key, const char *name, const char *short_name,
                unsigned flags, uint32_t *out)
{
    return types_intern(&b->types, key, name, short_name, flags, out);
}

uint32_t
rc_builder_find_type(const rc_builder *b, uintptr_t key)
{
    if (!b->types.slots) {
        return UINT32_MAX;
    }
    uint32_t s = b->types.slots[types_slot(&b->types, key)];
    return s ? s - 1 : UINT32_MAX;
}

size_t
rc_builder_type_count(const rc_builder *b)
{
    return b->types.n;
}

const char *
rc_builder_type_name(const rc_builder *b, uint32_t type, int short_name)
{
    const type_entry *e = &b->types.entries[type];
    return b->types.pool + (short_name ? e->short_name : e->name);
}

uintptr_t
rc_builder_type_key(const rc_builder *b, uint32_t type)
{
    return b->types.entries[type].key;
}

unsigned
rc_builder_type_flags(const rc_builder *b, uint32_t type)
{
    return b->types.entries[type].flags;
}

/* Resolve the pending raw targets into out[n_out..]. */
static rc_status
flush(rc_builder *b)
{
    size_t done;
    if (b->nodes_only) {
        rc_status st = resolve(b, b->pending, b->n_pending, NULL, false, &done);
        memmove(b->pending, b->pending + done, (b->n_pending - done) * sizeof *b->pending);
        b->n_pending -= done;
        return st;
    }
    rc_status st = reserve_edges(b, b->n_out + b->n_pending);
    if (st != RC_OK) {
        return st;
    }
    if (!b->indexed) {
        st = resolve_live(b, b->pending, b->n_pending, b->raw + b->n_out, false, &done);
    } else {
        st = resolve(b, b->pending, b->n_pending, b->out + b->n_out, false, &done);
        for (size_t j = 0; j < done; j++) {
            b->n_dead += b->out[b->n_out + j] == DEAD;
        }
    }
    /* Edges resolved so far stay resolved; the rest stay pending. */
    b->n_out += done;
    memmove(b->pending, b->pending + done, (b->n_pending - done) * sizeof *b->pending);
    b->n_pending -= done;
    return st;
}

int
rc_builder_next(rc_builder *b, uintptr_t *addr, unsigned *flags, rc_status *st)
{
    seal(b);
    *st = RC_OK;
    if (b->expanding) {
        *st = RC_EINVAL;
        return 0;
    }
    if (b->counting) {
        if (!b->n_todo) {
            return 0;
        }
        b->expanding = true;
        *addr = b->current = b->todo[--b->n_todo];
        if (b->n_todo) {
            /* What comes next, unless this one queues more. */
            __builtin_prefetch((const void *)b->todo[b->n_todo - 1]);
        }
        *flags = 0;
        return 1;
    }
    while (b->closed == b->n && (b->n_pending || b->n_seeds)) {
        *st = b->n_seeds ? flush_seeds(b) : flush(b);
        if (*st != RC_OK) {
            return 0;
        }
    }
    if (b->closed == b->n) {
        return 0;
    }
    b->expanding = true;
    *addr = b->nodes.addr[b->closed];
    *flags = b->nodes.flags[b->closed];
    /* The caller reads the object next: fetch a later one's header now, its
     * first 48 bytes (a str's are read to size it), which may span two
     * cache lines. */
    if (!b->indexed && b->closed + PREFETCH_AHEAD < b->n) { /* not a file's addresses */
        const char *ahead = (const char *)b->nodes.addr[b->closed + PREFETCH_AHEAD];
        __builtin_prefetch(ahead);
        __builtin_prefetch(ahead + 47);
    }
    return 1;
}

uintptr_t
rc_builder_ahead(const rc_builder *b, size_t k)
{
    size_t i = b->closed + k;
    return !b->counting && !b->indexed && i < b->n ? b->nodes.addr[i] : 0;
}

rc_status
rc_builder_edge(rc_builder *b, uintptr_t target)
{
    if (!b->expanding || b->listed) {
        return RC_EINVAL;
    }
    if (target == 0) {
        return RC_OK;
    }
    if (b->counting) {
        return count_discover(b, target);
    }
    if (b->n_out + b->n_pending >= RC_MAX_IDS) {
        return RC_ETOOBIG;
    }
    if (b->n_pending == PENDING_BATCH) {
        rc_status st = flush(b);
        if (st != RC_OK) {
            return st;
        }
    }
    b->pending[b->n_pending++] = target;
    return RC_OK;
}

rc_status
rc_builder_edges(rc_builder *b, const uintptr_t *targets, size_t n)
{
    if (!b->expanding || b->listed) {
        return RC_EINVAL;
    }
    if (b->counting) {
        for (size_t i = 0; i < n; i++) {
            rc_status st = targets[i] ? count_discover(b, targets[i]) : RC_OK;
            if (st != RC_OK) {
                return st;
            }
        }
        return RC_OK;
    }
    if (b->n_out + b->n_pending + n >= RC_MAX_IDS) {
        return RC_ETOOBIG;
    }
    while (n) {
        if (b->n_pending == PENDING_BATCH) {
            rc_status st = flush(b);
            if (st != RC_OK) {
                return st;
            }
        }
        size_t k = PENDING_BATCH - b->n_pending;
        if (k > n) {
            k = n;
        }
        for (size_t i = 0; i < k; i++) {
            /* A NULL target is dropped, like rc_builder_edge(). */
            b->pending[b->n_pending] = targets[i];
            b->n_pending += targets[i] != 0;
        }
        targets += k;
        n -= k;
    }
    return RC_OK;
}

rc_status
rc_builder_edge_id(rc_builder *b, rc_id target)
{
    return rc_builder_edge_ids(b, &target, 1);
}

rc_status
rc_builder_edge_ids(rc_builder *b, const rc_id *targets, size_t n)
{
    if (!b->expanding || b->counting) {
        return RC_EINVAL;
    }
    rc_id max = 0;
    for (size_t i = 0; i < n; i++) {
        max = targets[i] > max ? targets[i] : max;
    }
    if (n == 0) {
        return RC_OK;
    }
    /* Marks are resolved lazily: a target marked but not resolved yet. */
    if (max >= b->n && b->n_seeds) {
        rc_status st = flush_seeds(b);
        if (st != RC_OK) {
            return st;
        }
    }
    if (max >= b->n) {
        return RC_EINVAL;
    }
    if (b->nodes_only) {
        return RC_OK;
    }
    if (n > RC_MAX_IDS || b->n_out + b->n_pending > RC_MAX_IDS - n) {
        return RC_ETOOBIG;
    }
    if (b->n_pending) {
        rc_status st = flush(b);
        if (st != RC_OK) {
            return st;
        }
    }
    rc_status st = reserve_edges(b, b->n_out + n);
    if (st != RC_OK) {
        return st;
    }
    if (b->indexed) {
        memcpy(b->out + b->n_out, targets, n * sizeof *targets);
    } else {
        for (size_t i = 0; i < n; i++) {
            b->raw[b->n_out + i] = RAW_ID(targets[i]);
        }
    }
    b->n_out += n;
    return RC_OK;
}

rc_status
rc_builder_append(rc_builder *b, uintptr_t addr)
{
    return rc_builder_append_many(b, &addr, 1);
}

rc_status
rc_builder_append_many(rc_builder *b, const uintptr_t *addrs, size_t n)
{
    if (!b->listed || b->expanding || b->closed) {
        return RC_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (addrs[i] == 0) {
            return RC_EINVAL;
        }
    }
    /* As many at a time as are allocated and faulted in. */
    for (size_t i = 0; i < n;) {
        rc_status st = reserve_node(b);
        if (st != RC_OK) {
            return st;
        }
        size_t room =
            (b->cap < b->nodes_populated ? b->cap : b->nodes_populated) - b->n;
        size_t m = n - i < room ? n - i : room;
        memcpy(b->nodes.addr + b->n, addrs + i, m * sizeof *addrs);
        memset(b->nodes.flags + b->n, 0, m * sizeof *b->nodes.flags);
        b->n += m;
        i += m;
    }
    return RC_OK;
}

const uintptr_t *
rc_builder_listed_addrs(const rc_builder *b)
{
    return b->listed ? b->nodes.addr : NULL;
}

rc_status
rc_builder_resolve(rc_builder *b)
{
    seal(b);
    return b->n_seeds && !b->counting ? flush_seeds(b) : RC_OK;
}

size_t
rc_builder_node_count(const rc_builder *b)
{
    return b->counting ? b->counted + b->n_todo : b->n;
}

/* The attributes of node b->closed, which is then closed. */
static rc_status
store_row(rc_builder *b, uint32_t type, uint64_t size, uint64_t refcnt, unsigned flags)
{
    size_t id = b->closed;
    if (size >= UINT32_MAX) {
        if (b->n_big == b->big_cap) {
            size_t cap = b->big_cap ? b->big_cap * 2 : 16;
            if (!grow((void **)&b->big, cap, sizeof *b->big)) {
                return RC_ENOMEM;
            }
            b->big_cap = cap;
        }
        b->big[b->n_big++] = (big_size){(rc_id)id, size};
        b->nodes.size[id] = UINT32_MAX;
    } else {
        b->nodes.size[id] = (uint32_t)size;
    }
    b->nodes.type[id] = type;
    b->nodes.refcnt[id] = refcnt >= UINT32_MAX ? UINT32_MAX : (uint32_t)refcnt;
    b->nodes.flags[id] = (uint16_t)(b->nodes.flags[id] | flags);
    b->nodes.out_off[id + 1] = b->nodes_only ? 0 : (uint32_t)(b->n_out + b->n_pending);
    b->closed++;
    b->expanding = false;
    return RC_OK;
}

rc_status
rc_builder_close(rc_builder *b, uint32_t type, uint64_t size, uint64_t refcnt,
                 unsigned flags)
{
    if (!b->expanding) {
        return RC_EINVAL;
    }
    if (b->counting) {
        if ((flags & RC_NODE_TOOL_FRAME) && b->n_tool_frames == b->tool_frames_cap) {
            size_t cap = b->tool_frames_cap ? 2 * b->tool_frames_cap : 16;
            if (!grow((void **)&b->tool_frames, cap, sizeof *b->tool_frames)) {
                return RC_ENOMEM;
            }
            b->tool_frames_cap = cap;
        }
        rc_status st = rc_builder_count(b, type, size, flags);
        if (st == RC_OK && (flags & RC_NODE_TOOL_FRAME)) {
            b->tool_frames[b->n_tool_frames++] = b->current;
        }
        b->expanding = st != RC_OK;
        return st;
    }
    return store_row(b, type, size, refcnt, flags);
}

rc_id *
rc_builder_room(rc_builder *b, size_t n)
{
    /* Room for one at least: the array exists, and the room is not NULL. */
    if (!b->listed || b->expanding || b->closed == b->n || n > RC_MAX_IDS ||
        b->n_out >= RC_MAX_IDS - n ||
        reserve_edges(b, b->n_out + (n ? n : 1)) != RC_OK) {
        return NULL;
    }
    seal(b);
    return b->out + b->n_out;
}

rc_status
rc_builder_row(rc_builder *b, uint32_t type, uint64_t size, uint64_t refcnt,
               unsigned flags, size_t n)
{
    if (!b->listed || b->expanding || b->closed == b->n || n > b->out_cap - b->n_out) {
        return RC_EINVAL;
    }
    const rc_id *targets = b->out + b->n_out;
    rc_id max = 0;
    for (size_t i = 0; i < n; i++) {
        max = targets[i] > max ? targets[i] : max;
    }
    if (n && max >= b->n) {
        return RC_EINVAL;
    }
    b->n_out += n;
    rc_status st = store_row(b, type, size, refcnt, flags);
    if (st != RC_OK) {
        b->n_out -= n;
    }
    return st;
}

/* Drop DEAD edges, rewriting the offsets. */
static void
compact_edges(rc_builder *b)
{
    size_t w = 0, start = 0;
    for (size_t u = 0; u < b->n; u++) {
        size_t end = b->nodes.out_off[u + 1];
        b->nodes.out_off[u] = (uint32_t)w;
        for (size_t e = start; e < end; e++) {
            if (b->out[e] != DEAD) {
                b->out[w++] = b->out[e];
            }
        }
        start = end;
    }
    b->nodes.out_off[b->n] = (uint32_t)w;
    b->n_out = w;
    b->n_dead = 0;
}

rc_status
rc_graph_build_in(rc_graph *g)
{
    if (g->in_off) {
        return RC_OK;
    }
    size_t n = g->n, m = g->n_edges;
    uint32_t *in_off = NULL;
    rc_id *in = NULL;
    size_t in_off_bytes = 0, in_bytes = 0;
    /* The in-edges take the room after the out-edges when their block has
     * it (a capture's does: rc_builder_freeze), else a block of their own
     * (in_bytes stays 0 when they share). */
    bool shared = m && g->out_bytes / sizeof *g->out >= 2 * m;
    if (shared) {
        in = g->out + m;
    }
    if (!pool_array((void **)&in_off, &in_off_bytes, n + 1, sizeof *in_off) ||
        (!shared && !pool_array((void **)&in, &in_bytes, m ? m : 1, sizeof *in))) {
        unpool(in_off, &in_off_bytes);
        return RC_ENOMEM;
    }
    shrink_pooled((void **)&in_off, &in_off_bytes, n + 1, sizeof *in_off);
    if (!shared) {
        shrink_pooled((void **)&in, &in_bytes, m, sizeof *in);
        rc_pool_populate(in, 0, m * sizeof *in);
    }
    rc_pool_populate(in_off, 0, (n + 1) * sizeof *in_off);
    memset(in_off, 0, (n + 1) * sizeof *in_off);
    /* Counting sort of the edges by target: in_off[t] first becomes the end
     * of t's range, then walking the edges backwards leaves it at the start,
     * with each range sorted by source. */
    for (size_t e = 0; e < m; e++) {
        in_off[g->out[e]]++;
    }
    size_t sum = 0;
    for (size_t v = 0; v < n; v++) {
        sum += in_off[v];
        in_off[v] = (uint32_t)sum;
    }
    in_off[n] = (uint32_t)m;
    for (size_t u = n; u-- > 0;) {
        for (size_t e = g->nodes.out_off[u + 1]; e-- > g->nodes.out_off[u];) {
            in[--in_off[g->out[e]]] = (rc_id)u;
        }
    }
    g->in_off = in_off;
    g->in = in;
    g->in_off_bytes = in_off_bytes;
    g->in_bytes = in_bytes;
    return RC_OK;
}

int
rc_graph_has_in(const rc_graph *g)
{
    return g->in_off != NULL;
}

/* Number a live builder's edges and give its late flags: each seen
 * address's rank in the set maps to its node (DEAD for an excluded one).
 * The ids are written over the addresses, in order (edge e's id takes
 * bytes [4e, 4e + 4), which held edges read before it), and stay in that
 * block: its second half is where rc_graph_build_in() puts the in-edges.
 * The peak is the node arrays, the addresses and the map; neither the ids
 * nor the in-edges fault in a page of their own. */
static rc_status
number_live(rc_builder *b)
{
    enum { BATCH = 64 };
    size_t members = rc_addrset_count(b->seen), perm_bytes = 0;
    rc_id *perm = NULL;
    rc_addrset_cursor *cur = NULL;
    bool frozen = rc_addrset_freeze(b->seen) == RC_OK;
    for (int k = 0; k < 16 && frozen; k++) {
        frozen = !b->late[k] || rc_addrset_freeze(b->late[k]) == RC_OK;
    }
    if (!frozen ||
        !pool_array((void **)&perm, &perm_bytes, members ? members : 1, sizeof *perm) ||
        !(cur = rc_calloc(1, sizeof *cur))) {
        unpool(perm, &perm_bytes);
        return RC_ENOMEM;
    }
    /* The filler, if any, faults in its second half meanwhile. */
    size_t mine = b->filler ? members / 2 : members, posted = mine;
    post_through(b, perm, sizeof *perm, &posted, members);
    rc_pool_populate(perm, 0, mine * sizeof *perm);
    memset(perm, 0xff, members * sizeof *perm); /* DEAD */
    rc_filler_stop(b->filler);                  /* perm may be given back below */
    b->filler = NULL;
    uintptr_t addrs[BATCH];
    size_t ranks[BATCH], at[BATCH];
    for (size_t id = 0; id < b->n; id += BATCH) {
        size_t k = b->n - id < BATCH ? b->n - id : BATCH;
        rc_addrset_rank_many(b->seen, b->nodes.addr + id, k, ranks, cur);
        for (size_t j = 0; j < k; j++) {
            if (ranks[j] < members) { /* always: every node's address is seen */
                perm[ranks[j]] = (rc_id)(id + j);
            }
        }
    }
    /* BATCH edges at a time: the ranks of those that found their node
     * later, then their ids, prefetched. */
    unsigned char *edges = (unsigned char *)b->raw;
    for (size_t e = 0; e < b->n_out;) {
        size_t k = 0;
        for (; e < b->n_out && k < BATCH; e++) {
            uintptr_t r;
            memcpy(&r, edges + e * sizeof r, sizeof r);
            if (r & 1) {
                rc_id id = (rc_id)(r >> 1);
                memcpy(edges + e * sizeof id, &id, sizeof id);
            } else {
                addrs[k] = r;
                at[k++] = e;
            }
        }
        rc_addrset_rank_many(b->seen, addrs, k, ranks, cur);
        for (size_t j = 0; j < k; j++) {
            __builtin_prefetch(&perm[ranks[j] < members ? ranks[j] : 0]);
        }
        for (size_t j = 0; j < k; j++) {
            rc_id id = ranks[j] < members ? perm[ranks[j]] : DEAD;
            b->n_dead += id == DEAD;
            memcpy(edges + at[j] * sizeof id, &id, sizeof id);
        }
    }
    for (int k = 0; k < 16; k++) {
        rc_addrset_iter it = {0};
        size_t got;
        while (b->late[k] && (got = rc_addrset_take(b->late[k], &it, addrs, BATCH))) {
            rc_addrset_rank_many(b->seen, addrs, got, ranks, cur);
            for (size_t j = 0; j < got; j++) {
                rc_id id = ranks[j] < members ? perm[ranks[j]] : DEAD;
                if (id != DEAD) {
                    b->nodes.flags[id] |= (uint16_t)(1u << k);
                }
            }
        }
        rc_addrset_free(b->late[k]);
        b->late[k] = NULL;
    }
    rc_free(cur);
    if (b->keep_order) {
        /* perm is the nodes in address order, with DEAD for the seen
         * addresses that are no node: drop those, and keep it. */
        size_t k = 0;
        for (size_t j = 0; j < members; j++) {
            if (perm[j] != DEAD) {
                perm[k++] = perm[j];
            }
        }
        b->order = perm;
        b->order_bytes = perm_bytes;
        shrink_pooled((void **)&b->order, &b->order_bytes, k, sizeof *b->order);
    } else {
        unpool(perm, &perm_bytes);
    }
    rc_addrset_free(b->seen);
    b->seen = NULL;
    b->out = (rc_id *)b->raw;
    b->raw = NULL;
    return RC_OK;
}

rc_status
rc_builder_freeze(rc_builder *b, rc_graph **out)
{
    rc_status st = RC_EINVAL;
    rc_graph *g = NULL;
    if (b->counting || b->expanding || b->n_pending || b->n_seeds || b->closed != b->n) {
        goto error;
    }
    if (b->filler) {
        /* Its arrays are all written: give back what it faulted in beyond
         * them before the numbering's scratch adds to the peak. */
        settle_filler(b);
        pooled p[NODE_ARRAYS];
        list_node_arrays(&b->nodes, p);
        for (int i = 0; i < NODE_ARRAYS; i++) {
            rc_map_discard(*p[i].arr, (b->n + p[i].extra) * p[i].size, *p[i].bytes);
        }
        rc_map_discard(b->raw, b->n_out * sizeof *b->raw, b->out_bytes);
    }
    st = b->indexed ? RC_OK : number_live(b);
    rc_filler_stop(b->filler); /* number_live's failure left it */
    b->filler = NULL;
    if (st != RC_OK) {
        goto error;
    }
    st = RC_ENOMEM;
    g = rc_calloc(1, sizeof *g);
    if (!g || (!b->out && !(b->out = rc_malloc(sizeof *b->out)))) {
        goto error;
    }
    b->out_bytes = b->out_bytes ? b->out_bytes : sizeof *b->out;
    if (b->n_dead) {
        compact_edges(b);
    }
    /* The index has done its work: free it before anything else is built,
     * which keeps a capture's peak memory at its node and edge arrays. */
    unpool(b->index.slots, &b->index.bytes);
    b->index.slots = NULL;
    size_t n = b->n, m = b->n_out;

    /* At most a quarter of slack per array, which rc_graph_memory()
     * counts. */
    pooled p[NODE_ARRAYS];
    list_node_arrays(&b->nodes, p);
    for (int i = 0; i < NODE_ARRAYS; i++) {
        shrink_pooled(p[i].arr, p[i].bytes, n + p[i].extra, p[i].size);
    }
    /* A capture's edges keep room for as many in-edges (its block held
     * twice as many bytes per edge). */
    shrink_pooled((void **)&b->out, &b->out_bytes, b->indexed ? m : 2 * m, sizeof *b->out);

    g->n = n;
    g->n_edges = m;
    g->nodes = b->nodes;
    memset(&b->nodes, 0, sizeof b->nodes);
    g->out = b->out, b->out = NULL;
    g->out_bytes = b->out_bytes, b->out_bytes = 0;
    g->order = b->order, b->order = NULL;
    g->order_bytes = b->order_bytes, b->order_bytes = 0;
    g->big = b->big, b->big = NULL;
    g->n_big = b->n_big;
    g->types = b->types;
    memset(&b->types, 0, sizeof b->types);
    rc_builder_free(b);
    *out = g;
    return RC_OK;

error:
    rc_graph_free(g);
    rc_builder_free(b);
    return st;
}

/* ---- the frozen graph --------------------------------------------------- */

void
rc_graph_free(rc_graph *g)
{
    if (!g) {
        return;
    }
    pooled p[NODE_ARRAYS];
    list_node_arrays(&g->nodes, p);
    for (int i = 0; i < NODE_ARRAYS; i++) {
        unpool(*p[i].arr, p[i].bytes);
    }
    unpool(g->in_off, &g->in_off_bytes);
    unpool(g->out, &g->out_bytes);
    unpool(g->order, &g->order_bytes);
    if (g->in_bytes) { /* else it shares out's block, or there is none */
        unpool(g->in, &g->in_bytes);
    }
    rc_free(g->big);
    types_free(&g->types);
    rc_free(g);
}

size_t
rc_graph_node_count(const rc_graph *g)
{
    return g->n;
}

size_t
rc_graph_edge_count(const rc_graph *g)
{
    return g->n_edges;
}

size_t
rc_graph_memory(const rc_graph *g)
{
    /* The blocks held, slack included. */
    return sizeof *g + g->nodes.addr_bytes + g->nodes.type_bytes + g->nodes.size_bytes + g->nodes.refcnt_bytes +
           g->nodes.flags_bytes + g->nodes.out_off_bytes + g->out_bytes + g->in_off_bytes + g->in_bytes +
           g->order_bytes +
           g->n_big * sizeof *g->big +
           g->types.cap * sizeof(type_entry) + g->types.pool_cap +
           (g->types.slot_mask + 1) * sizeof(uint32_t);
}

const rc_id *
rc_graph_addr_order(const rc_graph *g)
{
    return g->order;
}

uintptr_t
rc_graph_addr(const rc_graph *g, rc_id id)
{
    return g->nodes.addr[id];
}

uint32_t
rc_graph_type(const rc_graph *g, rc_id id)
{
    return g->nodes.type[id];
}

uint64_t
rc_graph_size(const rc_graph *g, rc_id id)
{
    if (g->nodes.size[id] != UINT32_MAX) {
        return g->nodes.size[id];
    }
    /* big[] is sorted by id: nodes are closed in id order. */
    size_t lo = 0, hi = g->n_big;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->big[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < g->n_big && g->big[lo].id == id ? g->big[lo].size : UINT32_MAX;
}

uint32_t
rc_graph_refcnt(const rc_graph *g, rc_id id)
{
    return g->nodes.refcnt[id];
}

unsigned
rc_graph_flags(const rc_graph *g, rc_id id)
{
    return g->nodes.flags[id];
}

const rc_id *
rc_graph_out(const rc_graph *g, rc_id id, size_t *n)
{
    *n = g->nodes.out_off[id + 1] - g->nodes.out_off[id];
    return g->out + g->nodes.out_off[id];
}

const rc_id *
rc_graph_in(const rc_graph *g, rc_id id, size_t *n)
{
    if (!g->in_off) {
        *n = 0;
        return NULL;
    }
    *n = g->in_off[id + 1] - g->in_off[id];
    return g->in + g->in_off[id];
}

uint32_t
rc_graph_out_index(const rc_graph *g, rc_id from, rc_id to, size_t occ)
{
    size_t deg;
    const rc_id *out = rc_graph_out(g, from, &deg);
    for (size_t k = 0; k < deg; k++) {
        if (out[k] == to && occ-- == 0) {
            return (uint32_t)k;
        }
    }
    return UINT32_MAX;
}

rc_id
rc_graph_find(const rc_graph *g, uintptr_t addr)
{
    /* A scan: a frozen graph keeps no index (it would cost 16 bytes a node),
     * and single lookups are rare next to the O(V + E) queries they start. */
    for (size_t i = 0; addr && i < g->n; i++) {
        if (g->nodes.addr[i] == addr) {
            return (rc_id)i;
        }
    }
    return RC_NO_ID;
}

rc_status
rc_graph_find_many(const rc_graph *g, const uintptr_t *addrs, size_t k, rc_id *ids)
{
    if (k == 0) {
        return RC_OK; /* no scan for nothing */
    }
    /* Index the k queries, not the graph, and scan the graph once. */
    addr_index ix;
    if (!index_init(&ix, k)) {
        return RC_ENOMEM;
    }
    for (size_t j = 0; j < k; j++) {
        ids[j] = RC_NO_ID;
        size_t i = index_probe(&ix, addrs, addrs[j]);
        if (!ix.slots[i]) {
            ix.slots[i] = make_slot(hash_addr(addrs[j]), j);
        }
    }
    for (size_t v = 0; v < g->n; v++) {
        uint64_t s = ix.slots[index_probe(&ix, addrs, g->nodes.addr[v])];
        if (s) {
            ids[slot_id(s)] = (rc_id)v;
        }
    }
    /* Repeated queries share the first one's answer. */
    for (size_t j = 0; j < k; j++) {
        uint64_t s = ix.slots[index_probe(&ix, addrs, addrs[j])];
        ids[j] = ids[slot_id(s)];
    }
    unpool(ix.slots, &ix.bytes);
    return RC_OK;
}

size_t
rc_graph_type_count(const rc_graph *g)
{
    return g->types.n;
}

const char *
rc_graph_type_name(const rc_graph *g, uint32_t type)
{
    return g->types.pool + g->types.entries[type].name;
}

const char *
rc_graph_type_short_name(const rc_graph *g, uint32_t type)
{
    return g->types.pool + g->types.entries[type].short_name;
}

uintptr_t
rc_graph_type_key(const rc_graph *g, uint32_t type)
{
    return g->types.entries[type].key;
}

unsigned
rc_graph_type_flags(const rc_graph *g, uint32_t type)
{
    return g->types.entries[type].flags;
}
