/* Private to dump.c and heapsnap.c: a file written atomically.
 *
 * snap_file_open() creates "<path>.XXXXXX" (mkstemp, mode 0600) next to
 * the target; snap_file_write() appends to it; snap_file_commit() fsyncs,
 * closes and renames it over the target, then fsyncs the directory;
 * snap_file_close() closes and unlinks it unless it was committed.  The
 * target is thus either untouched or complete.
 *
 * The target must be a regular file or nothing: snap_file_open() and,
 * again, snap_file_commit() refuse an empty path (ENOENT), a directory
 * (EISDIR) and anything else that is not a regular file (EEXIST: a device,
 * a FIFO, a socket, a symbolic link), which are never replaced.
 *
 * The fallible calls return RC_SNAP_OK, or a status (RC_SNAP_EIO,
 * RC_SNAP_ENOMEM) with the cause, naming the temporary file but not the
 * target (the caller prefixes that), in msg[0..msglen); for RC_SNAP_EIO,
 * f->err is the errno of the cause. */
#ifndef REFCHAIN_SNAPFILE_H
#define REFCHAIN_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "refchain/snapshot.h"

typedef struct snap_file {
    const char *path; /* the target, borrowed */
    char *tmp;        /* the temporary file's path, owned; NULL before open */
    int fd;           /* -1 when not open */
    bool committed;
    int err;          /* the errno of the last RC_SNAP_EIO, 0 before */
} snap_file;

#define SNAP_FILE_INIT(p) {(p), NULL, -1, false, 0}

rc_snap_status snap_file_open(snap_file *f, char *msg, size_t msglen);
rc_snap_status snap_file_write(snap_file *f, const void *data, size_t n, char *msg,
                               size_t msglen);
/* Overwrite n bytes at `offset` (a header patched after the stream). */
rc_snap_status snap_file_pwrite(snap_file *f, const void *data, size_t n, size_t offset,
                                char *msg, size_t msglen);
rc_snap_status snap_file_commit(snap_file *f, char *msg, size_t msglen);
/* Release f: close it if open, unlink the temporary file unless committed,
 * free its name.  Always safe after SNAP_FILE_INIT. */
void snap_file_close(snap_file *f);

#endif
