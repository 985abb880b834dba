/* Questions on a loaded snapshot that its side tables answer: what a
 * reference is called, the steps of a chain as the live chain reads them,
 * and how many nodes each allocation traceback made.
 *
 * A loaded file is hostile: a label that does not decode reads
 * `<referent #k>`, as an edge the file left unlabelled does.  Ids and edge
 * indexes come from the caller and are checked where a function says so. */
#include <stdio.h>
#include <string.h>

#include "refchain/alloc.h"
#include "refchain/present.h"
#include "refchain/snapshot.h"

rc_status
rc_snapshot_relation(const rc_snapshot *s, rc_id from, size_t k, rc_relation *rel)
{
    const char *label = rc_snapshot_label(s, from, k);
    rc_status st = label ? rc_relation_decode(label, strlen(label), rel) : RC_EINVAL;
    if (st == RC_EINVAL) {
        char buf[48];
        snprintf(buf, sizeof buf, "<referent #%zu>", k);
        memset(rel, 0, sizeof *rel);
        rel->kind = RC_REL_FALLBACK;
        rel->text = rc_strndup(buf, strlen(buf));
        st = rel->text ? RC_OK : RC_ENOMEM;
    }
    return st;
}

/* Whether every hop names an edge: ids[i] a node of s and edges[i] one of
 * its out-edges. */
static int
hops_are_edges(const rc_snapshot *s, const rc_id *ids, const size_t *edges, size_t n)
{
    const rc_graph *g = rc_snapshot_graph(s);
    for (size_t i = 0; i < n; i++) {
        size_t deg = 0;
        if (ids[i] >= rc_graph_node_count(g)) {
            return 0;
        }
        rc_graph_out(g, ids[i], &deg);
        if (edges[i] >= deg) {
            return 0;
        }
    }
    return 1;
}

rc_status
rc_snapshot_chain_labels(const rc_snapshot *s, const rc_id *ids, const size_t *edges,
                         size_t n, rc_label_step **steps, size_t *n_steps)
{
    if (!hops_are_edges(s, ids, edges, n)) {
        return RC_EINVAL;
    }
    rc_relation *rels = rc_calloc(n ? n : 1, sizeof *rels);
    if (!rels) {
        return RC_ENOMEM;
    }
    rc_status st = RC_OK;
    size_t made = 0;
    while (st == RC_OK && made < n) {
        st = rc_snapshot_relation(s, ids[made], edges[made], &rels[made]);
        made += st == RC_OK;
    }
    rc_label_step *out = NULL;
    size_t n_out = 0;
    if (st == RC_OK) {
        st = rc_present(rels, n, 0, &out, &n_out);
    }
    for (size_t i = 0; i < made; i++) {
        rc_relation_clear(&rels[i]);
    }
    rc_free(rels);
    if (st == RC_OK) {
        *steps = out;
        *n_steps = n_out;
    }
    return st;
}

rc_status
rc_snapshot_traceback_histogram(const rc_snapshot *s, const rc_id *ids, size_t n,
                                size_t **count)
{
    size_t n_tb = rc_snapshot_traceback_count(s);
    size_t *c = rc_calloc(n_tb ? n_tb : 1, sizeof *c);
    if (!c) {
        return RC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (rc_snapshot_alloc_depth(s, ids[i]) > 0) {
            c[rc_snapshot_node_traceback(s, ids[i])]++;
        }
    }
    *count = c;
    return RC_OK;
}
