"""Where objects were made: tracemalloc's allocation frames, told from the
user's point of view (a leaf module: every report asks here).

tracemalloc records the innermost frames of each allocation.  The innermost
one is often a library's line (logging creating a Logger, asyncio creating a
Task); the line a person can fix is the innermost frame in *their* code.  A
site reads "app/views.py:88 (via logging/__init__.py:1353)" when the two
differ.  That needs more than one frame: tracemalloc.start(25), or
PYTHONTRACEMALLOC=25.

Every report reads tracemalloc here, through one lookup (frames_of): the
allocation lines of show_growth, explain and garbage, the line after a
chain, and the traceback in a drawing's tooltip."""

import os
import sys
# The C half of tracemalloc: the module imports pickle and fnmatch, which
# would then be in every heap refchain reports on (see __init__.py).
import _tracemalloc

from refchain import _refchain
from refchain._format import name, short

TRACEMALLOC_HINT = (
    "(tracemalloc is off: run with PYTHONTRACEMALLOC=1, or call "
    "tracemalloc.start() early, to see where the new objects were allocated)"
)
# A fork dump of a process that traced: its child runs no Python code, so
# it cannot read tracemalloc's tracebacks.
FORK_HINT = (
    "(no allocation lines: tracemalloc was on, but this snapshot was written "
    "by a forked child, which cannot read its tracebacks; dump without "
    "fork=True, or attach without --fork, to see where the new objects were "
    "allocated)"
)

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_user_code = None        # a predicate set by set_user_code(), or None
# The package's modules, by file name, but the two that run the user's code
# (leak_check's rounds, the pytest plugin's repeated runs): an allocation
# whose innermost frame is in one of the others was made by refchain itself,
# while it looked (on 3.11+ a capture makes the frame objects of running
# frames that had none; a report's own closures and rows).  Matched by
# name, so a snapshot written by another installation reads the same.
_OWN_FILES = frozenset(n for n in os.listdir(_PACKAGE_DIR)
                       if n.endswith(".py")) - {"_leakcheck.py", "pytest_plugin.py"}


def _library_dirs():
    # The standard library's directory is os's; site-packages and
    # dist-packages are told by name (is_user_code).  Not sysconfig: it is
    # large, and imported at the first report it would be new objects in
    # the heap asked about (see __init__.py).
    dirs = {_PACKAGE_DIR, os.path.dirname(os.path.realpath(os.__file__))}
    for prefix in (sys.base_prefix, sys.base_exec_prefix):
        dirs.add(os.path.realpath(os.path.join(
            prefix, "lib", "python%d.%d" % sys.version_info[:2])))
    return tuple(sorted(d for d in dirs if d))


_LIBRARY_DIRS = _library_dirs()


def set_user_code(user_code=None):
    """Choose which files count as your code when refchain names the line
    that allocated an object.  `user_code` is a predicate taking a file
    name, or a list of directories (files below them are yours), or None
    for the default: every file that is not in the standard library, in
    site-packages or dist-packages, frozen, or refchain's own."""
    global _user_code
    if user_code is None:
        pred = None
    elif callable(user_code):
        pred = user_code
    else:
        if isinstance(user_code, (str, bytes, os.PathLike)):
            raise TypeError("set_user_code() takes a predicate or a list of directories, "
                            "not a single path: wrap it in a list")
        try:
            items = list(user_code)
        except TypeError:
            raise TypeError("set_user_code() takes a predicate, a list of directories or "
                            "None, not %s" % type(user_code).__name__) from None
        for d in items:
            if not isinstance(d, (str, bytes, os.PathLike)):
                raise TypeError("set_user_code(): a directory must be a str or os.PathLike, "
                                "not %s" % type(d).__name__)
        dirs = tuple(os.path.realpath(os.fspath(d)) for d in items)
        pred = lambda filename: any(_below(filename, d) for d in dirs)  # noqa: E731
    _user_code = pred


def _below(filename, directory):
    real = os.path.realpath(filename)
    return real == directory or real.startswith(directory.rstrip(os.sep) + os.sep)


def is_user_code(filename, memo=None):
    """Whether an allocation in `filename` is in the user's own code.
    `memo`: a dict of the answers so far, kept by the caller for one
    question only: kept here, its file names (a loaded snapshot's are new
    str) would be refchain's objects in the next answers, held by this
    module."""
    known = memo.get(filename) if memo is not None else None
    if known is not None:
        return known
    if _user_code is not None:
        mine = bool(_user_code(filename))
    elif filename.startswith("<"):           # <frozen importlib._bootstrap>, <string>
        mine = False
    else:
        parts = filename.replace(os.sep, "/").split("/")
        mine = ("site-packages" not in parts and "dist-packages" not in parts
                and not any(_below(filename, d) for d in _LIBRARY_DIRS))
    if memo is not None:
        memo[filename] = mine
    return mine


def display_path(filename):
    """A file name as reports show it: relative to the working directory when
    below it, escaped and bounded (see _format.name)."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return name(filename)
    return name(filename if rel.startswith(os.pardir) else rel)


def tracing():
    """Whether tracemalloc traces (no allocation is known otherwise)."""
    return _tracemalloc.is_tracing()


def frames_of(obj):
    """tracemalloc's allocation frames of obj, most recent first, as
    (filename, lineno) pairs, or None (not tracing, or not traced).  Read
    through refchain's C helper, which also finds the instances CPython
    3.11's tracemalloc.get_object_traceback() misses."""
    if not tracing():
        return None
    try:
        return _refchain._alloc_traceback(obj) or None
    except Exception:
        return None


def site_key(frames, memo=None):
    """(user frame, innermost frame): the user frame is the innermost one in
    the user's code, or the innermost frame when none is (memo: see
    is_user_code)."""
    inner = frames[0]
    for frame in frames:
        if is_user_code(frame[0], memo):
            return frame, inner
    return inner, inner


def _refchains_own(filename):
    head, base = os.path.split(filename.replace(os.sep, "/"))
    return base in _OWN_FILES and os.path.basename(head) == "refchain"


def format_site(key):
    (f, line), (inner_f, inner_line) = key
    inner = "%s:%d" % (display_path(inner_f), inner_line)
    if _refchains_own(inner_f):
        if (f, line) == (inner_f, inner_line):
            return "refchain's own code (%s)" % inner
        return "%s:%d, by refchain's own code (%s)" % (display_path(f), line, inner)
    text = "%s:%d" % (display_path(f), line)
    if (f, line) != (inner_f, inner_line):
        text += " (via %s)" % inner
    return text


def _site_key_of(obj):
    frames = frames_of(obj)
    return site_key(frames) if frames else None


def site_of(obj):
    """Where obj was allocated, as text, or None."""
    key = _site_key_of(obj)
    return format_site(key) if key else None


def site_of_frames(frames):
    """Where an object allocated with these frames was made, as text, or None."""
    return format_site(site_key(frames)) if frames else None


def allocation_sites(objects, top=3):
    """The `top` allocation sites of `objects` as [(count, text)], most
    frequent first; objects tracemalloc did not trace are skipped."""
    if not tracing():
        return []
    # Counted per distinct traceback in C; each traceback's site once.
    return ranked_sites(_refchain._alloc_traceback_counts(
        objects if isinstance(objects, (list, tuple)) else list(objects)), top)


def ranked_sites(by_frames, top=3):
    """The `top` sites of {frames: count} (objects counted per allocation
    traceback) as [(count, text)], most frequent first."""
    counts, memo = {}, {}
    for fs, n in by_frames.items():
        key = site_key(fs, memo)
        counts[key] = counts.get(key, 0) + n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], format_site(item[0])))
    return [(n, format_site(key)) for key, n in ranked[:top]]


def traceback_lines(obj, max_frames):
    """obj's allocation traceback as lines of text, most recent call first,
    each frame with its source line (at most max_frames frames), or the
    reason there is none."""
    if not tracing():
        return ["(tracemalloc is off: no allocation traceback)"]
    return frames_lines(frames_of(obj), max_frames)


def _source_line(filename, lineno):
    """Line `lineno` of the file, stripped, or "".  From linecache's cache
    when it holds the file (a notebook's cells are only there); else read
    from the file, not through linecache: it would keep the file's lines
    (new objects, held by linecache, in the next answer) and import
    tokenize and re."""
    linecache = sys.modules.get("linecache")
    cache = getattr(linecache, "cache", None)
    if type(cache) is dict and filename in cache:
        return linecache.getline(filename, lineno).strip()
    try:
        with open(filename, "rb") as f:
            for i, raw in enumerate(f, 1):
                if i == lineno:
                    return raw.decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        pass
    return ""


def frames_lines(frames, max_frames):
    """traceback_lines() of an object allocated with these frames (a
    snapshot's, or None)."""
    if not frames:
        return ["(not traced: allocated before tracemalloc.start()?)"]
    lines = ["Allocated at (most recent call first):"]
    for filename, lineno in frames[:max_frames]:
        lines.append("  %s:%d" % (display_path(filename), lineno))
        line = _source_line(filename, lineno)
        if line:
            lines.append("    " + short(line, 120))
    if len(frames) > max_frames:
        lines.append("  ... %d more frames" % (len(frames) - max_frames))
    return lines
