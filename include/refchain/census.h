/* Census: per-type object counts and bytes, diffs, growth peaks, and the
 * "new since a census point" question.
 *
 * A census is detached from the graph it was taken from: it copies the type
 * names it needs, so it outlives the graph and holds no object address except
 * the optional identity set (address, type key) used to tell new objects from
 * old ones.  Rows are sorted by name; names are unique within a census. */
#ifndef REFCHAIN_CENSUS_H
#define REFCHAIN_CENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "refchain/graph.h"

typedef struct rc_census_row {
    const char *name;
    uint64_t count;
    uint64_t bytes;
    /* Some of these objects' sizes are lower bounds: their type's own
     * __sizeof__ was not called (RC_TYPE_SIZE_LOWER_BOUND). */
    bool bytes_lower_bound;
} rc_census_row;

typedef struct rc_census rc_census;

enum {
    RC_CENSUS_SHORT_NAMES = 1 << 0, /* key rows by __name__, not module.qualname */
    /* Remember which objects were counted, but the tool's own running frames
     * (RC_NODE_TOOL_FRAME), which are never new objects. */
    RC_CENSUS_WITH_IDS = 1 << 1,
    /* Leave out the tool's own running frames (RC_NODE_TOOL_FRAME): a
     * snapshot's census counts the heap as it was without the dump. */
    RC_CENSUS_NO_TOOL_FRAMES = 1 << 2,
};

/* The census of every node of `g`.  On error *out is untouched. */
rc_status rc_census_of(const rc_graph *g, unsigned flags, rc_census **out);
/* The census a counter took (rc_builder_new_counter, walked to the end).
 * With RC_CENSUS_WITH_IDS it takes the counter's set of objects (about a
 * bit per 8 bytes of heap) and asks key_of(addr) the type key of each, in
 * address order, keeping 4 bytes per object: key_of must still be able to
 * read every counted object.  The counter stays the caller's to free.  On
 * error *out is untouched. */
rc_status rc_census_of_counter(rc_builder *b, uintptr_t (*key_of)(uintptr_t addr),
                               unsigned flags, rc_census **out);
/* NULL is allowed (a no-op).  Every row and name the census lent dies with it. */
void rc_census_free(rc_census *c);

size_t rc_census_len(const rc_census *c);
/* Row i < rc_census_len(c), borrowed: it and its name live as long as the
 * census (rc_census_sort_ids does not move rows). */
const rc_census_row *rc_census_row_at(const rc_census *c, size_t i);
/* The row named `name` (borrowed, as above), or NULL. */
const rc_census_row *rc_census_find(const rc_census *c, const char *name);
/* Whether two censuses hold the same rows in the same order: each row's
 * name, count and bytes (what `==` on two Census objects compares; the
 * remembered identities are not compared).  Allocates nothing. */
bool rc_census_equal(const rc_census *a, const rc_census *b);
uint64_t rc_census_total_count(const rc_census *c);
uint64_t rc_census_total_bytes(const rc_census *c);
/* Whether any row's bytes are a lower bound. */
bool rc_census_total_lower_bound(const rc_census *c);
/* Number of remembered object identities (0 without RC_CENSUS_WITH_IDS). */
size_t rc_census_id_count(const rc_census *c);
/* Whether an object with this address and type key was counted: O(log n)
 * once the identities are sorted, O(n) before.  It never sorts them itself
 * (const means const): call rc_census_sort_ids() first for many questions. */
int rc_census_has_object(const rc_census *c, uintptr_t addr, uintptr_t type_key);
/* Sort the remembered identities (done once, on first need: a census point
 * that is never asked about costs no sort).  On RC_ENOMEM nothing changes. */
rc_status rc_census_sort_ids(rc_census *c);
/* Free the remembered identities (16 bytes per object from a graph, about
 * 5 from a counter): the census keeps its rows and becomes one that "does
 * not remember its objects" (rc_census_new_nodes then returns RC_EINVAL).
 * Cannot fail. */
void rc_census_forget_ids(rc_census *c);

/* Fill order[0..len) with row indexes sorted by count (descending), then
 * bytes (descending), then name. */
void rc_census_order_by_count(const rc_census *c, size_t *order);

/* A difference between two censuses, or the growth over a set of peaks. */
typedef struct rc_diff_row {
    const char *name;
    uint64_t count;  /* count in the later census */
    int64_t dcount;  /* later - earlier */
    int64_t dbytes;  /* later - earlier */
    bool bytes_lower_bound; /* either side's bytes are a lower bound */
} rc_diff_row;

typedef struct rc_diff rc_diff;

size_t rc_diff_len(const rc_diff *d);
/* Row i < rc_diff_len(d), borrowed: it and its name live as long as the diff
 * (names are the diff's own copies, not the censuses'). */
const rc_diff_row *rc_diff_row_at(const rc_diff *d, size_t i);
/* NULL is allowed (a no-op). */
void rc_diff_free(rc_diff *d);

/* Every type whose count or bytes differ between `before` and `after`,
 * sorted by dcount (descending), then dbytes (descending), then name.
 * On error *out is untouched. */
rc_status rc_census_diff(const rc_census *before, const rc_census *after, rc_diff **out);

/* objgraph's show_growth bookkeeping.  `peaks` (NULL for none yet) holds the
 * highest count seen per type.  *growth receives the types whose count now
 * exceeds their peak (dcount = count - peak, dbytes against the bytes
 * recorded with that peak), sorted like rc_census_diff; *new_peaks receives
 * the updated peaks.  On error neither output is touched. */
rc_status rc_census_growth(const rc_census *peaks, const rc_census *now,
                           rc_census **new_peaks, rc_diff **growth);

/* The nodes of `g` that `since` did not count, restricted to the types set in
 * `type_mask` (NULL: all types), leaving out the tool's own running frames
 * (RC_NODE_TOOL_FRAME: 3.11+ creates them for the capture) and CPython's
 * small-int singletons (RC_NODE_SMALL_INT: one that became reachable since
 * is not new).  `since` must have been taken with
 * RC_CENSUS_WITH_IDS (RC_EINVAL otherwise).  *ids is rc_malloc'ed and owned
 * by the caller.  On error the outputs are untouched. */
rc_status rc_census_new_nodes(rc_census *since, const rc_graph *g,
                              const unsigned char *type_mask, rc_id **ids, size_t *n);
/* rc_census_new_nodes(), less the nodes that `until` (a later census, also
 * taken with RC_CENSUS_WITH_IDS; NULL: none) did not count: what appeared
 * between the two censuses and is still there, not what the asker made
 * since `until` (leak_check's own bookkeeping, made after its last census).
 * RC_EINVAL when either census does not remember its objects.  On error the
 * outputs are untouched. */
rc_status rc_census_new_nodes_until(rc_census *since, rc_census *until, const rc_graph *g,
                                    const unsigned char *type_mask, rc_id **ids, size_t *n);

/* The rows of growth or diff `d` that g's types fall in: row_of_type[t]
 * (for t < rc_graph_type_count(g)) is the index of the row among d's first
 * `rows` whose name is type t's (its __name__ with RC_CENSUS_SHORT_NAMES,
 * else its qualified name), or UINT32_MAX.  Linear in the types, the rows
 * and the length of their names.  On RC_ENOMEM row_of_type is untouched. */
rc_status rc_diff_rows_of_types(const rc_diff *d, size_t rows, const rc_graph *g,
                                unsigned flags, uint32_t *row_of_type);

/* The new objects behind growth `d`'s first `rows` rows: the nodes of `g`
 * that rc_census_new_nodes(since, g, ...) finds, restricted to the types
 * whose name (as rc_diff_rows_of_types matches it with `flags`) is one of
 * those rows', grouped by row.  Row r's nodes are
 * (*ids)[(*row_start)[r] .. (*row_start)[r + 1]), in id order.  *ids and
 * *row_start (rows + 1 entries, rows capped at rc_diff_len(d)) are
 * rc_malloc'ed and owned by the caller.  RC_EINVAL when `since` was taken
 * without RC_CENSUS_WITH_IDS.  On error the outputs are untouched. */
rc_status rc_census_new_by_row(rc_census *since, const rc_graph *g, const rc_diff *d,
                               size_t rows, unsigned flags, rc_id **ids, size_t **row_start);

/* rc_census_new_by_row() with no graph: the objects `now` counted that
 * `since` did not, restricted to the types whose rows in `now` bear the
 * names of growth `d`'s first `rows` rows, as addresses grouped by row: row
 * r's are (*addrs)[(*row_start)[r] .. (*row_start)[r + 1]), in address
 * order.  `now` must come from a counter with RC_CENSUS_WITH_IDS (the
 * tool's running frames are not among its objects), `since` from anything
 * with it; RC_EINVAL otherwise.  The addresses are objects only while no
 * Python code has run since `now` was taken.  *addrs and *row_start (rows +
 * 1 entries, rows capped at rc_diff_len(d)) are rc_malloc'ed and owned by
 * the caller.  On error the outputs are untouched. */
rc_status rc_census_new_addrs_by_row(rc_census *since, const rc_census *now, const rc_diff *d,
                                     size_t rows, uintptr_t **addrs, size_t **row_start);

/* show_growth's answer from one census: the census, its growth over
 * `peaks` and, with `since`, the new objects of the growth's first rows. */
typedef struct rc_growth {
    rc_census *now;       /* the census counted */
    rc_census *new_peaks; /* rc_census_growth's outputs */
    rc_diff *diff;
    size_t rows; /* the diff's first rows, at most the limit */
    /* The new objects of those rows, grouped by row as rc_census_new_by_row
     * (ids, from a graph) or rc_census_new_addrs_by_row (addrs, from a
     * counter's census) groups them; row_start is NULL when `since` was
     * not given or there are no rows. */
    rc_id *ids;
    uintptr_t *addrs;
    size_t *row_start;
} rc_growth;

/* Fill *out: with graph g (now NULL), its census is rc_census_of(g,
 * flags); without (g NULL), it is `now`, a counter's census, which is
 * taken (freed on failure too).  Then rc_census_growth(peaks, ...), rows =
 * min(rows of the growth, limit) and, when `since` is given and rows > 0,
 * the new objects since `since` by row.  Errors as those calls'; on error
 * *out is untouched and nothing stays allocated.  Free *out with
 * rc_growth_free(). */
rc_status rc_census_growth_answer(const rc_graph *g, rc_census *now,
                                  const rc_census *peaks, rc_census *since,
                                  unsigned flags, size_t limit, rc_growth *out);
/* Free what *gr holds (each field may have been taken and set to NULL) and
 * empty it. */
void rc_growth_free(rc_growth *gr);

#endif
