"""Argument checks the public calls share (a leaf: it imports nothing of the
package)."""

import errno
import os
import stat
import sys


def _check_limit(limit, func):
    if limit is None:
        return sys.maxsize
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(
            "%s() argument 'limit' must be int or None, not %s" % (func, type(limit).__name__)
        )
    if limit < 0:
        raise ValueError("%s() argument 'limit' must be >= 0, got %d" % (func, limit))
    return limit


def _check_bool(value, name, func):
    if not isinstance(value, bool):
        raise TypeError(
            "%s() argument '%s' must be bool, not %s" % (func, name, type(value).__name__)
        )


_NOT_REGULAR = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def check_target(path, func):
    """Refuse at once a path a file writer (a temporary file next to it,
    renamed over it) could not or must not write: the OSError subclass
    open() would raise, with errno and filename, its message starting with
    `func`.  What is there must be a regular file or nothing: a directory
    raises IsADirectoryError, anything else (a device, a FIFO, a socket, a
    symbolic link) FileExistsError, and is never replaced."""
    def refuse(cls, err, text):
        return cls(err, "%s: %s" % (func, text), path)

    if not path:
        raise refuse(FileNotFoundError, errno.ENOENT, "the path is empty")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        raise refuse(FileNotFoundError, errno.ENOENT,
                     "the directory %r does not exist" % folder) from None
    except NotADirectoryError:
        raise refuse(NotADirectoryError, errno.ENOTDIR,
                     "%r is not a directory" % folder) from None
    except OSError as e:
        raise refuse(type(e), e.errno, "%s: %r" % (e.strerror, folder)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise refuse(NotADirectoryError, errno.ENOTDIR, "%r is not a directory" % folder)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise refuse(type(e), e.errno, e.strerror) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise refuse(IsADirectoryError, errno.EISDIR, "a directory, not a file name")
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
        raise refuse(FileExistsError, errno.EEXIST,
                     "%s is there, and refchain replaces only a regular file" % kind)
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise refuse(OSError, errno.EROFS,
                     "the directory %r is on a read-only file system" % folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise refuse(PermissionError, errno.EACCES, "the directory %r is not writable" % folder)
