/* Atomic file writes for snapshot files and exports (see snapfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refchain/alloc.h"
#include "snapfile.h"

/* "cannot <what> <tmp>: <errno's text>", errno kept in f->err. */
static rc_snap_status
io_error(snap_file *f, char *msg, size_t msglen, const char *what, const char *tmp)
{
    f->err = errno;
    snprintf(msg, msglen, "cannot %s %s: %s", what, tmp, strerror(f->err));
    return RC_SNAP_EIO;
}

static const char *
kind_of(mode_t mode)
{
    return S_ISLNK(mode)    ? "a symbolic link"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISSOCK(mode) ? "a socket"
                            : "not a regular file";
}

/* RC_SNAP_OK when the target is a regular file or absent (or cannot be
 * looked at: creating the temporary file or renaming then says why). */
static rc_snap_status
check_target(snap_file *f, char *msg, size_t msglen)
{
    struct stat st;
    if (!f->path[0]) {
        f->err = ENOENT;
        snprintf(msg, msglen, "the path is empty");
        return RC_SNAP_EIO;
    }
    if (lstat(f->path, &st) != 0 || S_ISREG(st.st_mode)) {
        return RC_SNAP_OK;
    }
    if (S_ISDIR(st.st_mode)) {
        f->err = EISDIR;
        snprintf(msg, msglen, "a directory, not a file name");
    } else {
        f->err = EEXIST;
        snprintf(msg, msglen, "%s is there, and refchain replaces only a regular file",
                 kind_of(st.st_mode));
    }
    return RC_SNAP_EIO;
}

rc_snap_status
snap_file_open(snap_file *f, char *msg, size_t msglen)
{
    rc_snap_status st = check_target(f, msg, msglen);
    if (st != RC_SNAP_OK) {
        return st;
    }
    size_t n = strlen(f->path);
    f->tmp = rc_malloc(n + 8);
    if (!f->tmp) {
        snprintf(msg, msglen, "out of memory while creating the temporary file");
        return RC_SNAP_ENOMEM;
    }
    memcpy(f->tmp, f->path, n);
    memcpy(f->tmp + n, ".XXXXXX", 8);
    f->fd = mkstemp(f->tmp); /* mode 0600 */
    if (f->fd < 0) {
        f->err = errno;
        snprintf(msg, msglen, "cannot create a temporary file next to it: %s", strerror(f->err));
        rc_free(f->tmp);
        f->tmp = NULL;
        return RC_SNAP_EIO;
    }
    if (fchmod(f->fd, 0600) != 0) {
        return io_error(f, msg, msglen, "set the mode of", f->tmp);
    }
    return RC_SNAP_OK;
}

rc_snap_status
snap_file_write(snap_file *f, const void *data, size_t n, char *msg, size_t msglen)
{
    const unsigned char *p = data;
    while (n) {
        ssize_t k = write(f->fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            if (k == 0) {
                errno = EIO;
            }
            return io_error(f, msg, msglen, "write the temporary file", f->tmp);
        }
        p += k;
        n -= (size_t)k;
    }
    return RC_SNAP_OK;
}

rc_snap_status
snap_file_pwrite(snap_file *f, const void *data, size_t n, size_t offset, char *msg,
                 size_t msglen)
{
    ssize_t k = pwrite(f->fd, data, n, (off_t)offset);
    if (k != (ssize_t)n) {
        if (k >= 0) {
            errno = EIO;
        }
        return io_error(f, msg, msglen, "write the temporary file", f->tmp);
    }
    return RC_SNAP_OK;
}

/* fsync the directory holding path, so the rename is durable.  Best effort:
 * some file systems refuse to open or sync a directory. */
static void
sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? rc_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    if (slash && !dir) {
        return;
    }
    int fd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    rc_free(dir);
}

rc_snap_status
snap_file_commit(snap_file *f, char *msg, size_t msglen)
{
    if (fsync(f->fd) != 0) {
        return io_error(f, msg, msglen, "fsync", f->tmp);
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        return io_error(f, msg, msglen, "close", f->tmp);
    }
    /* Again: something may have taken the target's place meanwhile. */
    rc_snap_status st = check_target(f, msg, msglen);
    if (st != RC_SNAP_OK) {
        return st;
    }
    if (rename(f->tmp, f->path) != 0) {
        f->err = errno;
        snprintf(msg, msglen, "cannot rename %s into place: %s", f->tmp, strerror(f->err));
        return RC_SNAP_EIO;
    }
    f->committed = true;
    sync_dir(f->path);
    return RC_SNAP_OK;
}

void
snap_file_close(snap_file *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->tmp && !f->committed) {
        unlink(f->tmp);
    }
    rc_free(f->tmp);
    f->tmp = NULL;
}
