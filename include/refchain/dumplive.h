/* A dump of a live capture (walker/dumplive.c, which reads objects in
 * place, as capture.c and relate.c do): the file layer (refchain/snapshot.h)
 * fed from the objects themselves.  Each edge's label is made by relate,
 * each node's short value by rc_short_value, in C, running no Python code.
 * The binding fills first what needs the interpreter's state or may run
 * Python code: the roots' texts, the facts, the object ids, tracemalloc's
 * sites.  PyObject is `struct _object` here, so that this header needs no
 * Python.h. */
#ifndef REFCHAIN_DUMPLIVE_H
#define REFCHAIN_DUMPLIVE_H

#include <stddef.h>
#include <stdint.h>

#include "refchain/capture.h"
#include "refchain/snapshot.h"

typedef struct rc_live_dump {
    const rc_graph *g;
    /* held[v] is node v's object, alive for the whole call. */
    struct _object *const *held;
    const uint32_t *ids;   /* per node: its object id (refchain/idmap.h) */
    const rc_sites *sites; /* NULL: no allocation sites */
    int values;            /* write the nodes' short values */
    int redact;            /* write a data dict's keys as [<redacted>] */
} rc_live_dump;

/* Write d's graph to path through rc_snapshot_dump().  t's roots, facts and
 * workers are the caller's; its callbacks and location table are set here.
 * A label that cannot be made (out of memory) fails the dump with
 * RC_SNAP_ENOMEM, and no file is written (the one before, if any, stays as
 * it was): a file without its labels would tell half the truth.  After
 * RC_SNAP_EIO errno holds the cause, as rc_snapshot_dump() leaves it. */
rc_snap_status rc_dump_live(const char *path, const rc_live_dump *d, rc_snap_tables *t,
                            char *msg, size_t cap);

#endif
