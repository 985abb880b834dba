/* Export a loaded snapshot as a Chrome DevTools heap snapshot (the
 * `.heapsnapshot` JSON that V8 writes), for Chrome DevTools' Memory panel,
 * memlab and other tools that read V8 heap snapshots.  The mapping (node
 * names and types, edge types, roots, ids, allocation sites) is
 * docs/heapsnapshot.md.
 *
 * The JSON is streamed: it is formatted into a 64 KiB buffer and written as
 * the buffer fills, so an export needs the snapshot plus the buffer, one
 * copy of each distinct string it names (the "strings" table comes last)
 * and, with allocation sites, a tree of at most one node per traceback
 * frame.  Like rc_snapshot_dump(), it writes a temporary file next to the
 * target (mode 0600), fsyncs it and renames it into place. */
#ifndef REFCHAIN_HEAPSNAP_H
#define REFCHAIN_HEAPSNAP_H

#include <stddef.h>

#include "refchain/snapshot.h"

/* Write s to `path` as a .heapsnapshot.  s is only read, during the call.
 * On success the file is complete and renamed into place with mode 0600.
 * On failure `path` is untouched, the temporary file is removed, and, when
 * errbuf is not NULL, errbuf receives a NUL-terminated message of at most
 * errlen bytes naming the file and the cause: RC_SNAP_EIO, RC_SNAP_ENOMEM,
 * RC_SNAP_EINVAL (no path or snapshot), RC_SNAP_ETOOBIG (more nodes than
 * the format's uint32 node offsets can address: about 7 * 10**8).  As for
 * rc_snapshot_dump(), errno holds the cause of RC_SNAP_EIO, and `path`
 * must name a regular file or nothing. */
rc_snap_status rc_heapsnap_export(const rc_snapshot *s, const char *path, char *errbuf,
                                  size_t errlen);

#endif
