/* snapquery_test: the questions a loaded snapshot's side tables answer, on
 * a small synthetic snapshot dumped and loaded back: a reference's relation
 * (decoded, or `<referent #k>` for an edge with no label or one that does
 * not decode), a chain's labels, the nodes per allocation traceback, and
 * allocation failure at every point of each. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_counter.h"
#include "refchain/alloc.h"
#include "refchain/present.h"
#include "refchain/snapshot.h"
#include "testutil.h"

/* 0 -> 1 (labelled `member`), 0 -> 2 (a label that does not decode),
 * 1 -> 2 (no label), 1 -> 3 (labelled `[3]`), 2 -> 4 (no label). */
static const test_edge EDGES[] = {{0, 1}, {0, 2}, {1, 2}, {1, 3}, {2, 4}};
enum { N = 5, N_EDGES = 5 };
static const char UNDECODABLE[] = "~";

static const rc_snap_frame FRAMES[] = {{"a.py", 1}, {"b.py", 2}};
static const uint32_t TB_OFF[] = {0, 1, 2};
static const uint32_t TB_FRAMES[] = {0, 1};
/* Node v's traceback: 1, 0, 1, none, 0. */
static const uint32_t NODE_TB[N] = {1, 0, 1, RC_SNAP_NONE, 0};

static char snap_path[64];

static const char *
cb_label(void *ctx, rc_id from, size_t k, size_t *len)
{
    (void)ctx;
    if (from == 0 && k == 0) {
        return encoded_label("member", len);
    }
    if (from == 0 && k == 1) {
        *len = strlen(UNDECODABLE);
        return UNDECODABLE;
    }
    if (from == 1 && k == 1) {
        return encoded_label("[3]", len);
    }
    return NULL;
}

static uint32_t
cb_alloc(void *ctx, rc_id v)
{
    (void)ctx;
    return NODE_TB[v];
}

/* The snapshot above dumped and loaded back, with or without its
 * allocation tracebacks. */
static rc_snapshot *
make_snapshot(int allocs)
{
    rc_graph *g = NULL;
    assert_int_equal(build_graph(N, EDGES, N_EDGES, NULL, NULL, &g), RC_OK);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(rc_graph_find(g, FAKE(i)), i);
    }
    rc_snap_tables t = {
        .edge_label = cb_label,
        .node_alloc = allocs ? cb_alloc : NULL,
        .frames = allocs ? FRAMES : NULL,
        .n_frames = allocs ? 2 : 0,
        .traceback_off = allocs ? TB_OFF : NULL,
        .traceback_frames = allocs ? TB_FRAMES : NULL,
        .n_tracebacks = allocs ? 2 : 0,
    };
    return dump_and_load(g, &t, snap_path);
}

static void
test_relation_decodes_or_falls_back(void **state)
{
    (void)state;
    rc_relation rel;
    assert_int_equal(rc_relation_decode(UNDECODABLE, strlen(UNDECODABLE), &rel),
                     RC_EINVAL);
    rc_snapshot *s = make_snapshot(0);
    assert_int_equal(rc_snapshot_relation(s, 0, 0, &rel), RC_OK);
    assert_int_equal(rel.kind, RC_REL_TEXT);
    assert_string_equal(rel.text, "member");
    rc_relation_clear(&rel);
    assert_int_equal(rc_snapshot_relation(s, 0, 1, &rel), RC_OK); /* undecodable */
    assert_int_equal(rel.kind, RC_REL_FALLBACK);
    assert_string_equal(rel.text, "<referent #1>");
    rc_relation_clear(&rel);
    assert_int_equal(rc_snapshot_relation(s, 1, 0, &rel), RC_OK); /* unlabelled */
    assert_int_equal(rel.kind, RC_REL_FALLBACK);
    assert_string_equal(rel.text, "<referent #0>");
    rc_relation_clear(&rel);
    rc_snapshot_free(s);
}

static void
test_relation_allocation_failure(void **state)
{
    (void)state;
    rc_snapshot *s = make_snapshot(0);
    use_counting_allocator();
    for (size_t k = 0; k < 2; k++) { /* a decoded label, then a fallback */
        int failures = 0;
        for (long at = 0;; at++) {
            rc_alloc_fail_after(at);
            rc_relation rel;
            rc_status st = rc_snapshot_relation(s, 0, k, &rel);
            rc_alloc_fail_after(-1);
            if (st == RC_OK) {
                rc_relation_clear(&rel);
                assert_int_equal(live_blocks, 0);
                break;
            }
            assert_int_equal(st, RC_ENOMEM);
            assert_null(rel.text); /* zeroed */
            assert_int_equal(rel.kind, 0);
            assert_int_equal(live_blocks, 0);
            failures++;
        }
        assert_true(failures >= 1);
    }
    use_default_allocator();
    rc_snapshot_free(s);
}

/* A chain's labels are rc_present's on each hop's relation. */
static void
test_chain_labels(void **state)
{
    (void)state;
    rc_snapshot *s = make_snapshot(0);
    const rc_id ids[] = {0, 1, 2};
    const size_t edges[] = {0, 0};
    rc_label_step *steps = NULL, *want = NULL;
    size_t n_steps = 0, n_want = 0;
    assert_int_equal(rc_snapshot_chain_labels(s, ids, edges, 2, &steps, &n_steps),
                     RC_OK);
    rc_relation rels[2];
    assert_int_equal(rc_snapshot_relation(s, 0, 0, &rels[0]), RC_OK);
    assert_int_equal(rc_snapshot_relation(s, 1, 0, &rels[1]), RC_OK);
    assert_int_equal(rc_present(rels, 2, 0, &want, &n_want), RC_OK);
    assert_int_equal(n_steps, n_want);
    for (size_t i = 0; i < n_steps; i++) {
        assert_int_equal(steps[i].end, want[i].end);
        assert_string_equal(steps[i].label, want[i].label);
    }
    assert_int_equal(steps[n_steps - 1].end, 2);
    assert_string_equal(steps[n_steps - 1].label, "<referent #0>");
    rc_label_steps_free(steps, n_steps);
    rc_label_steps_free(want, n_want);
    rc_relation_clear(&rels[0]);
    rc_relation_clear(&rels[1]);
    /* No hop: no step. */
    assert_int_equal(rc_snapshot_chain_labels(s, ids, edges, 0, &steps, &n_steps),
                     RC_OK);
    assert_int_equal(n_steps, 0);
    rc_label_steps_free(steps, n_steps);
    rc_snapshot_free(s);
}

/* A hop that names no edge is refused before anything is made. */
static void
test_chain_labels_refuse_what_is_no_edge(void **state)
{
    (void)state;
    rc_snapshot *s = make_snapshot(0);
    const rc_id ids[] = {0, 1, 2}, past[] = {0, N};
    const size_t past_degree[] = {0, 2}, edges[] = {0, 0};
    rc_label_step *steps = (rc_label_step *)&steps;
    size_t n_steps = 99;
    use_counting_allocator();
    rc_alloc_fail_after(0);
    assert_int_equal(rc_snapshot_chain_labels(s, ids, past_degree, 2, &steps, &n_steps),
                     RC_EINVAL);
    assert_int_equal(rc_snapshot_chain_labels(s, past, edges, 2, &steps, &n_steps),
                     RC_EINVAL);
    assert_int_equal(rc_alloc_count(), 0);
    use_default_allocator();
    assert_ptr_equal(steps, (rc_label_step *)&steps);
    assert_int_equal(n_steps, 99);
    rc_snapshot_free(s);
}

static void
test_chain_labels_allocation_failure(void **state)
{
    (void)state;
    rc_snapshot *s = make_snapshot(0);
    const rc_id ids[] = {0, 1, 3};
    const size_t edges[] = {0, 1};
    use_counting_allocator();
    int failures = 0;
    for (long at = 0;; at++) {
        rc_alloc_fail_after(at);
        rc_label_step *steps = NULL;
        size_t n_steps = 99;
        rc_status st = rc_snapshot_chain_labels(s, ids, edges, 2, &steps, &n_steps);
        rc_alloc_fail_after(-1);
        if (st == RC_OK) {
            assert_int_equal(steps[n_steps - 1].end, 2);
            rc_label_steps_free(steps, n_steps);
            assert_int_equal(live_blocks, 0);
            break;
        }
        assert_int_equal(st, RC_ENOMEM);
        assert_null(steps);
        assert_int_equal(n_steps, 99);
        assert_int_equal(live_blocks, 0);
        failures++;
    }
    assert_true(failures >= 3); /* the relations array, each relation, the steps */
    use_default_allocator();
    rc_snapshot_free(s);
}

static void
test_traceback_histogram(void **state)
{
    (void)state;
    rc_snapshot *s = make_snapshot(1);
    const rc_id ids[] = {0, 1, 2, 3, 4, 2}; /* node 2 given twice */
    size_t *count = NULL;
    assert_int_equal(rc_snapshot_traceback_histogram(s, ids, 6, &count), RC_OK);
    assert_int_equal(rc_snapshot_traceback_count(s), 2);
    assert_int_equal(count[0], 2); /* nodes 1 and 4 */
    assert_int_equal(count[1], 3); /* nodes 0, 2 and 2 */
    rc_free(count);
    use_counting_allocator();
    rc_alloc_fail_after(0);
    count = (size_t *)&count;
    assert_int_equal(rc_snapshot_traceback_histogram(s, ids, 6, &count), RC_ENOMEM);
    assert_ptr_equal(count, (size_t *)&count);
    rc_alloc_fail_after(-1);
    assert_int_equal(live_blocks, 0);
    use_default_allocator();
    rc_snapshot_free(s);
    /* No tracebacks: one empty entry, every node left out. */
    s = make_snapshot(0);
    assert_int_equal(rc_snapshot_traceback_histogram(s, ids, 6, &count), RC_OK);
    assert_int_equal(rc_snapshot_traceback_count(s), 0);
    assert_int_equal(count[0], 0);
    rc_free(count);
    rc_snapshot_free(s);
}

/* The snapshot's file: made empty by mkstemp (a dump replaces a regular
 * file), removed at the end. */
static int
make_file(void **state)
{
    (void)state;
    strcpy(snap_path, "/tmp/rc_snapquery_test.XXXXXX");
    int fd = mkstemp(snap_path);
    return fd < 0 ? -1 : close(fd);
}

static int
remove_file(void **state)
{
    (void)state;
    return unlink(snap_path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relation_decodes_or_falls_back),
        cmocka_unit_test(test_relation_allocation_failure),
        cmocka_unit_test(test_chain_labels),
        cmocka_unit_test(test_chain_labels_refuse_what_is_no_edge),
        cmocka_unit_test(test_chain_labels_allocation_failure),
        cmocka_unit_test(test_traceback_histogram),
    };
    return cmocka_run_group_tests(tests, make_file, remove_file);
}
