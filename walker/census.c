/* Census: per-type counts and bytes over a frozen graph, census diffs,
 * objgraph-style growth peaks, and "which objects are new since a census"
 * (also grouped by the growth row their type's name falls in).
 *
 * A census owns everything it points to: its rows' names live in its own
 * pool, and the optional identity set is a copy of (address, type key) pairs
 * sorted by address (from a graph) or the counter's set of addresses with
 * a type index per member (from a counter), so a census stays valid after
 * its graph or counter is freed. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "refchain/addrset.h"
#include "refchain/alloc.h"
#include "name_index.h"
#include "refchain/census.h"
#include "refchain/pool.h"

typedef struct ident {
    uintptr_t addr;
    uintptr_t key;
} ident;

struct rc_census {
    rc_census_row *rows;
    size_t n;
    char *pool;
    uint64_t total_count, total_bytes;
    bool total_lower_bound;
    ident *ids; /* from the capture's pool: a census a minute reuses it */
    size_t n_ids, ids_bytes;
    bool has_ids;
    bool ids_sorted; /* sorted by address on first use (rc_census_sort_ids) */
    /* Or, from a counter (rc_census_of_counter): the set of the objects
     * counted and each one's type, tags[rank] indexing keys[]. */
    rc_addrset *set;
    uint32_t *tags;
    size_t tags_bytes;
    uintptr_t *keys;
    uint32_t *row_of; /* per type index: the row its objects are counted in, or UINT32_MAX */
    size_t n_keys;
};

struct rc_diff {
    rc_diff_row *rows;
    size_t n;
    char *pool;
};

/* ---- construction helpers ------------------------------------------------ */

/* Build a census from rows sorted by unique name; names are copied.  The
 * rows' own storage stays the caller's. */
static rc_census *
census_from_rows(const rc_census_row *rows, size_t n)
{
    rc_census *c = rc_calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    size_t pool_len = 0;
    for (size_t i = 0; i < n; i++) {
        pool_len += strlen(rows[i].name) + 1;
    }
    c->rows = rc_malloc((n ? n : 1) * sizeof *c->rows);
    c->pool = rc_malloc(pool_len ? pool_len : 1);
    if (!c->rows || !c->pool) {
        rc_census_free(c);
        return NULL;
    }
    char *p = c->pool;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(rows[i].name) + 1;
        memcpy(p, rows[i].name, len);
        c->rows[i] = rows[i];
        c->rows[i].name = p;
        p += len;
        c->total_count += rows[i].count;
        c->total_bytes += rows[i].bytes;
        c->total_lower_bound |= rows[i].bytes_lower_bound;
    }
    c->n = n;
    return c;
}

static rc_diff *
diff_from_rows(rc_diff_row *rows, size_t n);

/* qsort has no context argument: sort pointers to the names instead. */
static int
cmp_name_ptr(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

/* LSD radix sort of identities by address, 12 bits a pass (the counts stay
 * small enough for a thread's stack); tmp has room for n. */
static void
radix_sort_ids(ident *ids, ident *tmp, size_t n)
{
    enum { BITS = 12, DIGITS = 1 << BITS };
    uintptr_t max = 0;
    for (size_t i = 0; i < n; i++) {
        max |= ids[i].addr;
    }
    size_t count[DIGITS];
    for (unsigned shift = 0; shift < 8 * sizeof max && (max >> shift); shift += BITS) {
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++) {
            count[(ids[i].addr >> shift) & (DIGITS - 1)]++;
        }
        size_t sum = 0;
        for (size_t d = 0; d < DIGITS; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            tmp[count[(ids[i].addr >> shift) & (DIGITS - 1)]++] = ids[i];
        }
        memcpy(ids, tmp, n * sizeof *ids);
    }
}

/* The census of per-type counts: type t has count[t] objects of bytes[t]
 * bytes, its name is names[t] and its type flags tflags[t].  Distinct type
 * objects may share a name (a class defined twice): their rows merge. */
static rc_census *
census_of_counts(size_t nt, const uint64_t *count, const uint64_t *bytes, const char **names,
                 const unsigned *tflags, uint32_t *row_of)
{
    const char ***order = rc_malloc((nt ? nt : 1) * sizeof *order);
    rc_census_row *rows = rc_malloc((nt ? nt : 1) * sizeof *rows);
    rc_census *c = NULL;
    if (order && rows) {
        for (size_t t = 0; t < nt; t++) {
            order[t] = &names[t];
        }
        qsort(order, nt, sizeof *order, cmp_name_ptr);
        size_t nrows = 0;
        for (size_t k = 0; k < nt; k++) {
            size_t t = (size_t)(order[k] - names);
            if (row_of) {
                row_of[t] = UINT32_MAX;
            }
            if (!count[t]) {
                continue;
            }
            bool lower = (tflags[t] & RC_TYPE_SIZE_LOWER_BOUND) != 0;
            if (nrows && strcmp(rows[nrows - 1].name, names[t]) == 0) {
                rows[nrows - 1].count += count[t];
                rows[nrows - 1].bytes += bytes[t];
                rows[nrows - 1].bytes_lower_bound |= lower;
            } else {
                rows[nrows++] = (rc_census_row){names[t], count[t], bytes[t], lower};
            }
            if (row_of) {
                row_of[t] = (uint32_t)(nrows - 1);
            }
        }
        c = census_from_rows(rows, nrows);
    }
    rc_free(rows);
    rc_free(order);
    return c;
}

/* Per-type arrays for census_of_counts(), freed together. */
typedef struct type_columns {
    uint64_t *count, *bytes;
    const char **names;
    unsigned *flags;
} type_columns;

static bool
columns_init(type_columns *tc, size_t nt)
{
    size_t k = nt ? nt : 1;
    tc->count = rc_calloc(k, sizeof *tc->count);
    tc->bytes = rc_calloc(k, sizeof *tc->bytes);
    tc->names = rc_malloc(k * sizeof *tc->names);
    tc->flags = rc_malloc(k * sizeof *tc->flags);
    return tc->count && tc->bytes && tc->names && tc->flags;
}

static void
columns_free(type_columns *tc)
{
    rc_free(tc->count);
    rc_free(tc->bytes);
    rc_free(tc->names);
    rc_free(tc->flags);
}

rc_status
rc_census_of(const rc_graph *g, unsigned flags, rc_census **out)
{
    rc_status st = RC_ENOMEM;
    size_t nt = rc_graph_type_count(g), n = rc_graph_node_count(g);
    type_columns tc;
    rc_census *c = NULL;
    if (!columns_init(&tc, nt)) {
        goto finally;
    }
    unsigned skip = (flags & RC_CENSUS_NO_TOOL_FRAMES) ? RC_NODE_TOOL_FRAME : 0;
    for (rc_id i = 0; i < n; i++) {
        if (rc_graph_flags(g, i) & skip) {
            continue;
        }
        uint32_t t = rc_graph_type(g, i);
        tc.count[t]++;
        tc.bytes[t] += rc_graph_size(g, i);
    }
    for (uint32_t t = 0; t < nt; t++) {
        tc.names[t] = (flags & RC_CENSUS_SHORT_NAMES) ? rc_graph_type_short_name(g, t)
                                                      : rc_graph_type_name(g, t);
        tc.flags[t] = rc_graph_type_flags(g, t);
    }
    if (!(c = census_of_counts(nt, tc.count, tc.bytes, tc.names, tc.flags, NULL))) {
        goto finally;
    }
    if (flags & RC_CENSUS_WITH_IDS) {
        /* Copied in node order; sorted only if someone asks what is new. */
        c->has_ids = true;
        c->ids = rc_pool_array(n, sizeof *c->ids, &c->ids_bytes);
        if (!c->ids) {
            goto finally;
        }
        /* Not the tool's running frames: they are never new objects, and a
         * counter leaves them out too. */
        size_t k = 0;
        for (rc_id i = 0; i < n; i++) {
            if (!(rc_graph_flags(g, i) & RC_NODE_TOOL_FRAME)) {
                c->ids[k].addr = rc_graph_addr(g, i);
                c->ids[k++].key = rc_graph_type_key(g, rc_graph_type(g, i));
            }
        }
        c->n_ids = k;
    }
    *out = c;
    c = NULL;
    st = RC_OK;
finally:
    rc_census_free(c);
    columns_free(&tc);
    return st;
}

/* A counter's objects as identities: the set, and one type index per member
 * in rank order, read through key_of (the walk is over, so every member is
 * still the object it was). */
static rc_status
counted_ids(rc_census *c, rc_builder *b, rc_addrset *set, uintptr_t (*key_of)(uintptr_t))
{
    size_t nt = rc_builder_type_count(b), n = rc_addrset_count(set);
    rc_status st = rc_addrset_freeze(set);
    if (st != RC_OK) {
        return st;
    }
    c->keys = rc_malloc((nt + 1) * sizeof *c->keys);
    c->tags = rc_pool_array(n, sizeof *c->tags, &c->tags_bytes);
    if (!c->keys || !c->tags) {
        return RC_ENOMEM;
    }
    for (uint32_t t = 0; t < nt; t++) {
        c->keys[t] = rc_builder_type_key(b, t);
    }
    c->keys[nt] = 0; /* never a type's key: an object whose type was not interned */
    rc_pool_populate(c->tags, 0, n * sizeof *c->tags);
    /* Neighbours in memory alternate among a few types: a direct-mapped
     * cache in front of the builder's type table. */
    enum { CACHE = 64 };
    uintptr_t cached_key[CACHE] = {0};
    uint32_t cached[CACHE];
    /* Members are read a batch at a time, their headers fetched together:
     * in address order, but pages apart where a heap is sparse. */
    enum { BATCH = 64 };
    uintptr_t batch[BATCH];
    rc_addrset_iter it = {0};
    size_t r = 0, k;
    while (r < n && (k = rc_addrset_take(set, &it, batch, n - r < BATCH ? n - r : BATCH))) {
        for (size_t i = 0; i < k; i++) {
            __builtin_prefetch((const void *)batch[i]);
        }
        for (size_t i = 0; i < k; i++, r++) {
            uintptr_t key = key_of(batch[i]);
            size_t slot = (key >> 4) & (CACHE - 1);
            if (cached_key[slot] != key || !key) {
                uint32_t t = rc_builder_find_type(b, key);
                cached[slot] = t == UINT32_MAX ? (uint32_t)nt : t;
                cached_key[slot] = key;
            }
            c->tags[r] = cached[slot];
        }
    }
    for (; r < n; r++) {
        c->tags[r] = (uint32_t)nt; /* not reached: the set yields n members */
    }
    c->set = set;
    c->n_keys = nt + 1;
    c->has_ids = true;
    c->ids_sorted = true;
    return RC_OK;
}

rc_status
rc_census_of_counter(rc_builder *b, uintptr_t (*key_of)(uintptr_t), unsigned flags,
                     rc_census **out)
{
    const rc_type_tally *tally;
    size_t nt;
    rc_addrset *set = NULL;
    bool ids = (flags & RC_CENSUS_WITH_IDS) != 0;
    rc_status st = rc_builder_counted(b, &tally, &nt, ids ? &set : NULL);
    if (st != RC_OK) {
        return st;
    }
    type_columns tc;
    rc_census *c = NULL;
    st = RC_ENOMEM;
    if (!columns_init(&tc, nt)) {
        goto finally;
    }
    bool no_tool = (flags & RC_CENSUS_NO_TOOL_FRAMES) != 0;
    for (uint32_t t = 0; t < nt; t++) {
        tc.count[t] = tally[t].count - (no_tool ? tally[t].tool_count : 0);
        tc.bytes[t] = tally[t].bytes - (no_tool ? tally[t].tool_bytes : 0);
        tc.names[t] = rc_builder_type_name(b, t, (flags & RC_CENSUS_SHORT_NAMES) != 0);
        tc.flags[t] = rc_builder_type_flags(b, t);
    }
    uint32_t *row_of = ids ? rc_malloc((nt + 1) * sizeof *row_of) : NULL;
    if ((ids && !row_of) ||
        !(c = census_of_counts(nt, tc.count, tc.bytes, tc.names, tc.flags, row_of))) {
        rc_free(row_of);
        goto finally;
    }
    if (ids) {
        row_of[nt] = UINT32_MAX; /* the type index of an object whose type was not interned */
        c->row_of = row_of;
        if ((st = counted_ids(c, b, set, key_of)) != RC_OK) {
            goto finally;
        }
        set = NULL; /* the census's now */
    }
    *out = c;
    c = NULL;
    st = RC_OK;
finally:
    rc_addrset_free(set);
    rc_census_free(c);
    columns_free(&tc);
    return st;
}

void
rc_census_free(rc_census *c)
{
    if (!c) {
        return;
    }
    rc_free(c->rows);
    rc_free(c->pool);
    rc_census_forget_ids(c);
    rc_free(c);
}

size_t
rc_census_len(const rc_census *c)
{
    return c->n;
}

const rc_census_row *
rc_census_row_at(const rc_census *c, size_t i)
{
    return i < c->n ? &c->rows[i] : NULL;
}

bool
rc_census_equal(const rc_census *a, const rc_census *b)
{
    bool equal = a->n == b->n;
    for (size_t i = 0; equal && i < a->n; i++) {
        const rc_census_row *r = &a->rows[i], *s = &b->rows[i];
        equal = r->count == s->count && r->bytes == s->bytes &&
                strcmp(r->name, s->name) == 0;
    }
    return equal;
}

const rc_census_row *
rc_census_find(const rc_census *c, const char *name)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(c->rows[mid].name, name);
        if (r == 0) {
            return &c->rows[mid];
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

uint64_t
rc_census_total_count(const rc_census *c)
{
    return c->total_count;
}

uint64_t
rc_census_total_bytes(const rc_census *c)
{
    return c->total_bytes;
}

bool
rc_census_total_lower_bound(const rc_census *c)
{
    return c->total_lower_bound;
}

size_t
rc_census_id_count(const rc_census *c)
{
    return c->set ? rc_addrset_count(c->set) : c->n_ids;
}

void
rc_census_forget_ids(rc_census *c)
{
    rc_pool_free(c->ids, c->ids_bytes);
    c->ids = NULL;
    c->n_ids = 0;
    c->ids_bytes = 0;
    rc_addrset_free(c->set);
    c->set = NULL;
    rc_pool_free(c->tags, c->tags_bytes);
    c->tags = NULL;
    c->tags_bytes = 0;
    rc_free(c->keys);
    c->keys = NULL;
    rc_free(c->row_of);
    c->row_of = NULL;
    c->n_keys = 0;
    c->has_ids = false;
    c->ids_sorted = false;
}

rc_status
rc_census_sort_ids(rc_census *c)
{
    if (c->ids_sorted || c->n_ids < 2) {
        c->ids_sorted = true;
        return RC_OK;
    }
    size_t tmp_bytes;
    ident *tmp = rc_pool_alloc(c->n_ids * sizeof *tmp, &tmp_bytes);
    if (!tmp) {
        return RC_ENOMEM;
    }
    radix_sort_ids(c->ids, tmp, c->n_ids);
    rc_pool_free(tmp, tmp_bytes);
    c->ids_sorted = true;
    return RC_OK;
}

int
rc_census_has_object(const rc_census *c, uintptr_t addr, uintptr_t type_key)
{
    if (c->set) {
        size_t r = rc_addrset_rank(c->set, addr);
        return r != SIZE_MAX && c->keys[c->tags[r]] == type_key;
    }
    if (!c->ids_sorted) {
        for (size_t i = 0; i < c->n_ids; i++) {
            if (c->ids[i].addr == addr) {
                return c->ids[i].key == type_key;
            }
        }
        return 0;
    }
    size_t lo = 0, hi = c->n_ids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ids[mid].addr < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < c->n_ids && c->ids[lo].addr == addr && c->ids[lo].key == type_key;
}

static int
cmp_row_by_count(const void *a, const void *b)
{
    const rc_census_row *x = *(const rc_census_row *const *)a;
    const rc_census_row *y = *(const rc_census_row *const *)b;
    if (x->count != y->count) {
        return x->count > y->count ? -1 : 1;
    }
    if (x->bytes != y->bytes) {
        return x->bytes > y->bytes ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

void
rc_census_order_by_count(const rc_census *c, size_t *order)
{
    /* Sort row pointers in place inside `order`: a pointer fits a size_t. */
    const rc_census_row **p = (const rc_census_row **)(void *)order;
    for (size_t i = 0; i < c->n; i++) {
        p[i] = &c->rows[i];
    }
    qsort(p, c->n, sizeof *p, cmp_row_by_count);
    for (size_t i = 0; i < c->n; i++) {
        order[i] = (size_t)(p[i] - c->rows);
    }
}

/* ---- diffs ---------------------------------------------------------------- */

static int
cmp_diff_row(const void *a, const void *b)
{
    const rc_diff_row *x = a, *y = b;
    if (x->dcount != y->dcount) {
        return x->dcount > y->dcount ? -1 : 1;
    }
    if (x->dbytes != y->dbytes) {
        return x->dbytes > y->dbytes ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

/* Sort the rows, copy their names into the diff's pool, and take `rows`. */
static rc_diff *
diff_from_rows(rc_diff_row *rows, size_t n)
{
    rc_diff *d = rc_calloc(1, sizeof *d);
    size_t pool_len = 0;
    for (size_t i = 0; i < n; i++) {
        pool_len += strlen(rows[i].name) + 1;
    }
    char *pool = rc_malloc(pool_len ? pool_len : 1);
    if (!d || !pool) {
        rc_free(d);
        rc_free(pool);
        return NULL;
    }
    qsort(rows, n, sizeof *rows, cmp_diff_row);
    char *p = pool;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(rows[i].name) + 1;
        memcpy(p, rows[i].name, len);
        rows[i].name = p;
        p += len;
    }
    d->rows = rows;
    d->n = n;
    d->pool = pool;
    return d;
}

size_t
rc_diff_len(const rc_diff *d)
{
    return d->n;
}

const rc_diff_row *
rc_diff_row_at(const rc_diff *d, size_t i)
{
    return i < d->n ? &d->rows[i] : NULL;
}

void
rc_diff_free(rc_diff *d)
{
    if (!d) {
        return;
    }
    rc_free(d->rows);
    rc_free(d->pool);
    rc_free(d);
}

/* Walk the union of two name-sorted row lists; a and/or b is NULL where the
 * name is missing on that side.  Returns false when fn does. */
typedef bool (*merge_fn)(const rc_census_row *a, const rc_census_row *b, void *ctx);

static bool
merge(const rc_census *x, const rc_census *y, merge_fn fn, void *ctx)
{
    size_t i = 0, j = 0, nx = x ? x->n : 0, ny = y->n;
    while (i < nx || j < ny) {
        int r = i == nx ? 1 : j == ny ? -1 : strcmp(x->rows[i].name, y->rows[j].name);
        const rc_census_row *a = r <= 0 ? &x->rows[i++] : NULL;
        const rc_census_row *b = r >= 0 ? &y->rows[j++] : NULL;
        if (!fn(a, b, ctx)) {
            return false;
        }
    }
    return true;
}

typedef struct diff_ctx {
    rc_diff_row *rows;
    size_t n;
    rc_census_row *peaks;
    size_t n_peaks;
} diff_ctx;

static bool
diff_step(const rc_census_row *a, const rc_census_row *b, void *arg)
{
    diff_ctx *ctx = arg;
    uint64_t ca = a ? a->count : 0, cb = b ? b->count : 0;
    uint64_t ba = a ? a->bytes : 0, bb = b ? b->bytes : 0;
    if (ca != cb || ba != bb) {
        ctx->rows[ctx->n++] = (rc_diff_row){
            .name = a ? a->name : b->name,
            .count = cb,
            .dcount = (int64_t)(cb - ca),
            .dbytes = (int64_t)(bb - ba),
            .bytes_lower_bound = (a && a->bytes_lower_bound) || (b && b->bytes_lower_bound),
        };
    }
    return true;
}

rc_status
rc_census_diff(const rc_census *before, const rc_census *after, rc_diff **out)
{
    size_t cap = before->n + after->n;
    diff_ctx ctx = {.rows = rc_malloc((cap ? cap : 1) * sizeof *ctx.rows)};
    if (!ctx.rows) {
        return RC_ENOMEM;
    }
    merge(before, after, diff_step, &ctx);
    rc_diff *d = diff_from_rows(ctx.rows, ctx.n);
    if (!d) {
        rc_free(ctx.rows);
        return RC_ENOMEM;
    }
    *out = d;
    return RC_OK;
}

static bool
growth_step(const rc_census_row *peak, const rc_census_row *now, void *arg)
{
    diff_ctx *ctx = arg;
    if (now && (!peak || now->count > peak->count)) {
        uint64_t pc = peak ? peak->count : 0, pb = peak ? peak->bytes : 0;
        ctx->rows[ctx->n++] = (rc_diff_row){
            .name = now->name,
            .count = now->count,
            .dcount = (int64_t)(now->count - pc),
            .dbytes = (int64_t)(now->bytes - pb),
            .bytes_lower_bound = now->bytes_lower_bound || (peak && peak->bytes_lower_bound),
        };
        ctx->peaks[ctx->n_peaks++] = *now;
    } else {
        ctx->peaks[ctx->n_peaks++] = *peak;
    }
    return true;
}

rc_status
rc_census_growth(const rc_census *peaks, const rc_census *now, rc_census **new_peaks,
                 rc_diff **growth)
{
    size_t cap = (peaks ? peaks->n : 0) + now->n;
    diff_ctx ctx = {
        .rows = rc_malloc((cap ? cap : 1) * sizeof *ctx.rows),
        .peaks = rc_malloc((cap ? cap : 1) * sizeof *ctx.peaks),
    };
    rc_census *p = NULL;
    rc_diff *d = NULL;
    if (!ctx.rows || !ctx.peaks) {
        goto error;
    }
    merge(peaks, now, growth_step, &ctx);
    p = census_from_rows(ctx.peaks, ctx.n_peaks);
    if (!p) {
        goto error;
    }
    d = diff_from_rows(ctx.rows, ctx.n);
    if (!d) {
        goto error;
    }
    rc_free(ctx.peaks);
    *new_peaks = p;
    *growth = d;
    return RC_OK;
error:
    rc_census_free(p);
    rc_free(ctx.rows);
    rc_free(ctx.peaks);
    return RC_ENOMEM;
}

/* ---- new objects ----------------------------------------------------------- */

rc_status
rc_census_new_nodes(rc_census *since, const rc_graph *g, const unsigned char *type_mask,
                    rc_id **ids, size_t *n)
{
    return rc_census_new_nodes_until(since, NULL, g, type_mask, ids, n);
}

rc_status
rc_census_new_nodes_until(rc_census *since, rc_census *until, const rc_graph *g,
                          const unsigned char *type_mask, rc_id **ids, size_t *n)
{
    if (!since->has_ids || (until && !until->has_ids)) {
        return RC_EINVAL;
    }
    rc_status st = rc_census_sort_ids(since);
    if (st == RC_OK && until) {
        st = rc_census_sort_ids(until);
    }
    if (st != RC_OK) {
        return st;
    }
    size_t cap = 64, count = 0, nn = rc_graph_node_count(g);
    rc_id *v = rc_malloc(cap * sizeof *v);
    if (!v) {
        return RC_ENOMEM;
    }
    for (rc_id i = 0; i < nn; i++) {
        uint32_t t = rc_graph_type(g, i);
        /* A small int lived before any census, reachable then or not. */
        if ((type_mask && !type_mask[t]) ||
            (rc_graph_flags(g, i) & (RC_NODE_TOOL_FRAME | RC_NODE_SMALL_INT))) {
            continue;
        }
        uintptr_t addr = rc_graph_addr(g, i), key = rc_graph_type_key(g, t);
        if (rc_census_has_object(since, addr, key) ||
            (until && !rc_census_has_object(until, addr, key))) {
            continue;
        }
        if (count == cap) {
            rc_id *nv = rc_reallocarray(v, cap * 2, sizeof *v);
            if (!nv) {
                rc_free(v);
                return RC_ENOMEM;
            }
            v = nv;
            cap *= 2;
        }
        v[count++] = i;
    }
    *ids = v;
    *n = count;
    return RC_OK;
}

rc_status
rc_diff_rows_of_types(const rc_diff *d, size_t rows, const rc_graph *g, unsigned flags,
                      uint32_t *row_of_type)
{
    size_t nt = rc_graph_type_count(g);
    bool short_names = (flags & RC_CENSUS_SHORT_NAMES) != 0;
    if (rows > d->n) {
        rows = d->n;
    }
    const char **names = rc_malloc((rows ? rows : 1) * sizeof *names);
    rc_name_index ix = {0};
    if (!names || rc_name_index_init(&ix, names, rows) < 0) {
        rc_free(names);
        return RC_ENOMEM;
    }
    for (size_t r = 0; r < rows; r++) {
        names[r] = d->rows[r].name;
        rc_name_index_add(&ix, (uint32_t)r);
    }
    for (uint32_t t = 0; t < nt; t++) {
        row_of_type[t] = rc_name_index_find(
            &ix, short_names ? rc_graph_type_short_name(g, t) : rc_graph_type_name(g, t));
    }
    rc_name_index_free(&ix);
    rc_free(names);
    return RC_OK;
}

/* A stable counting sort of items[0..n) (elem bytes each) by row[i] < rows
 * into out; start (rows + 2 zeroed entries) ends with row r's items at
 * out[start[r] .. start[r + 1]). */
static void
sort_by_row(const void *items, size_t elem, const uint32_t *row, size_t n, size_t rows,
            size_t *start, void *out)
{
    for (size_t i = 0; i < n; i++) {
        start[row[i] + 2]++;
    }
    for (size_t r = 2; r < rows + 2; r++) {
        start[r] += start[r - 1];
    }
    for (size_t i = 0; i < n; i++) {
        memcpy((char *)out + start[row[i] + 1]++ * elem, (const char *)items + i * elem, elem);
    }
}

rc_status
rc_census_new_by_row(rc_census *since, const rc_graph *g, const rc_diff *d, size_t rows,
                     unsigned flags, rc_id **ids, size_t **row_start)
{
    size_t nt = rc_graph_type_count(g), n = 0;
    if (rows > d->n) {
        rows = d->n;
    }
    rc_status st = RC_ENOMEM;
    uint32_t *row_of_type = rc_malloc((nt ? nt : 1) * sizeof *row_of_type);
    unsigned char *mask = rc_malloc(nt ? nt : 1);
    size_t *start = rc_calloc(rows + 2, sizeof *start);
    rc_id *found = NULL, *sorted = NULL;
    uint32_t *found_row = NULL;
    if (!row_of_type || !mask || !start ||
        (st = rc_diff_rows_of_types(d, rows, g, flags, row_of_type)) != RC_OK) {
        goto finally;
    }
    for (size_t t = 0; t < nt; t++) {
        mask[t] = row_of_type[t] != RC_NAME_ABSENT;
    }
    if ((st = rc_census_new_nodes(since, g, mask, &found, &n)) != RC_OK) {
        goto finally;
    }
    st = RC_ENOMEM;
    if (!(sorted = rc_malloc((n ? n : 1) * sizeof *sorted)) ||
        !(found_row = rc_malloc((n ? n : 1) * sizeof *found_row))) {
        goto finally;
    }
    for (size_t i = 0; i < n; i++) {
        found_row[i] = row_of_type[rc_graph_type(g, found[i])];
    }
    sort_by_row(found, sizeof *found, found_row, n, rows, start, sorted); /* rows keep id order */
    *ids = sorted;
    *row_start = start;
    sorted = NULL;
    start = NULL;
    st = RC_OK;
finally:
    rc_free(row_of_type);
    rc_free(mask);
    rc_free(start);
    rc_free(found);
    rc_free(found_row);
    rc_free(sorted);
    return st;
}

rc_status
rc_census_new_addrs_by_row(rc_census *since, const rc_census *now, const rc_diff *d,
                           size_t rows, uintptr_t **addrs, size_t **row_start)
{
    if (!since->has_ids || !now->set || !now->row_of) {
        return RC_EINVAL;
    }
    if (rows > d->n) {
        rows = d->n;
    }
    rc_status st = RC_ENOMEM;
    size_t n_set = rc_addrset_count(now->set), n = 0, cap = 0;
    uint32_t *diff_row = rc_malloc(now->n_keys * sizeof *diff_row);
    size_t *start = rc_calloc(rows + 2, sizeof *start);
    uintptr_t *found = NULL, *sorted = NULL;
    uint32_t *found_row = NULL;
    if (!diff_row || !start || (!since->set && rc_census_sort_ids(since) != RC_OK)) {
        goto finally;
    }
    /* Which of d's first rows each type index of `now` is counted in. */
    uint32_t *of_census_row = rc_malloc((now->n ? now->n : 1) * sizeof *of_census_row);
    if (!of_census_row) {
        goto finally;
    }
    for (size_t r = 0; r < now->n; r++) {
        of_census_row[r] = UINT32_MAX;
    }
    for (size_t r = 0; r < rows; r++) {
        const rc_census_row *at = rc_census_find(now, d->rows[r].name);
        if (at) {
            of_census_row[at - now->rows] = (uint32_t)r;
        }
    }
    for (size_t t = 0; t < now->n_keys; t++) {
        diff_row[t] = now->row_of[t] == UINT32_MAX ? UINT32_MAX : of_census_row[now->row_of[t]];
    }
    rc_free(of_census_row);
    /* The members in address order, their rank indexing tags. */
    rc_addrset_iter it = {0};
    uintptr_t addr;
    for (size_t rank = 0; rank < n_set && rc_addrset_next(now->set, &it, &addr); rank++) {
        uint32_t t = now->tags[rank], r = diff_row[t];
        if (r == UINT32_MAX || rc_census_has_object(since, addr, now->keys[t])) {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            uintptr_t *a = rc_reallocarray(found, cap, sizeof *a);
            found = a ? a : found;
            uint32_t *fr = a ? rc_reallocarray(found_row, cap, sizeof *fr) : NULL;
            found_row = fr ? fr : found_row;
            if (!fr) {
                goto finally;
            }
        }
        found[n] = addr;
        found_row[n++] = r;
    }
    if (!(sorted = rc_malloc((n ? n : 1) * sizeof *sorted))) {
        goto finally;
    }
    sort_by_row(found, sizeof *found, found_row, n, rows, start, sorted); /* address order */
    *addrs = sorted;
    *row_start = start;
    sorted = NULL;
    start = NULL;
    st = RC_OK;
finally:
    rc_free(diff_row);
    rc_free(start);
    rc_free(found);
    rc_free(found_row);
    rc_free(sorted);
    return st;
}

/* ---- show_growth's answer -------------------------------------------------- */

rc_status
rc_census_growth_answer(const rc_graph *g, rc_census *now, const rc_census *peaks,
                        rc_census *since, unsigned flags, size_t limit, rc_growth *out)
{
    rc_growth gr = {.now = now};
    rc_status st = g ? rc_census_of(g, flags, &gr.now) : RC_OK;
    if (st == RC_OK) {
        st = rc_census_growth(peaks, gr.now, &gr.new_peaks, &gr.diff);
    }
    if (st == RC_OK) {
        gr.rows = gr.diff->n < limit ? gr.diff->n : limit;
    }
    if (st == RC_OK && since && gr.rows) {
        st = g ? rc_census_new_by_row(since, g, gr.diff, gr.rows, flags, &gr.ids,
                                      &gr.row_start)
               : rc_census_new_addrs_by_row(since, gr.now, gr.diff, gr.rows, &gr.addrs,
                                            &gr.row_start);
    }
    if (st != RC_OK) {
        rc_growth_free(&gr);
        return st;
    }
    *out = gr;
    return RC_OK;
}

void
rc_growth_free(rc_growth *gr)
{
    rc_census_free(gr->now);
    rc_census_free(gr->new_peaks);
    rc_diff_free(gr->diff);
    rc_free(gr->ids);
    rc_free(gr->addrs);
    rc_free(gr->row_start);
    memset(gr, 0, sizeof *gr);
}
