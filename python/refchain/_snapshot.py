"""Snapshots: the heap written to a file (dump), read back (load), and the
same questions answered from it, with the same text as on the live heap.

dump() captures once, holds every object while the roots are described
(refchain._chains, the live describer, on objects that cannot die), and
writes the graph with every reference's label, short values, allocation
tracebacks and process facts (docs/format.md).  load() returns a Snapshot;
its answers name SnapNodes, the file's objects, never live ones."""

import gc
import os
import sys
import threading
import time
import _tracemalloc    # not tracemalloc: it imports pickle (see __init__.py)
import types
import weakref

from refchain import _chains, _dominators, _format, _garbage, _memory, _refchain, _render
from refchain._explain import Group, Groups, LeakReport, LeakRow, _write_groups
from refchain._format import growth_lines
from refchain._args import _check_bool, _check_limit, check_target
from refchain._node import SnapNode
from refchain._sites import FORK_HINT, TRACEMALLOC_HINT, ranked_sites
from refchain._snapdraw import Drawings

# refchain/snapshot.h: which side tables a file carries.
_SECTION_LABELS, _SECTION_VALUES, _SECTION_ALLOCS = 1, 2, 4


# ---- dump ------------------------------------------------------------------------------


def _rss():
    rss = _memory.rss_bytes()
    return "" if rss is None else str(rss)


def _json(value):
    """json.dumps(value) for the facts' values (str, int, float, None and
    lists, tuples and dicts of them) without the json package: imported at
    the first dump, its modules would be new objects in the heap asked
    about (see __init__.py)."""
    from _json import encode_basestring_ascii
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (_json(str(k)), _json(v)) for k, v in value.items())
    return "[%s]" % ", ".join(_json(v) for v in value)


def _facts(redact):
    """What the file says about the process, as (key, value) strings."""
    facts = [
        ("pid", str(os.getpid())),
        # uname, not socket.gethostname(): importing _socket (a single-phase
        # C module) would add objects between two dumps, and in a
        # subinterpreter would let captures reach the main interpreter's
        # objects through the module's shared dict copy.
        ("host", os.uname().nodename),
        ("argv", _json(sys.argv[:1] if redact else sys.argv)),
        ("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        ("python", sys.version.replace("\n", " ")),
        ("implementation", "%s %s" % (sys.implementation.name, sys.platform)),
        ("debug build", str(hasattr(sys, "gettotalrefcount"))),
        ("executable", sys.executable),
        ("rss bytes", _rss()),
        # Without refchain's own memory: read before the capture.
        ("rss before capture bytes", str(_memory.rss_before_dump() or "")),
        ("gc counts", _json(gc.get_count())),
        ("gc thresholds", _json(gc.get_threshold())),
        ("gc stats", _json(gc.get_stats())),
    ]
    if _tracemalloc.is_tracing():
        current, peak = _tracemalloc.get_traced_memory()
        facts += [("tracemalloc traced bytes", str(current)),
                  ("tracemalloc peak bytes", str(peak)),
                  ("tracemalloc frames", str(_tracemalloc.get_traceback_limit())),
                  ("tracemalloc own bytes", str(_tracemalloc.get_tracemalloc_memory()))]
    return facts


def dump(path, *, values=True, redact=False, fork=False, force=False):
    """Write the whole heap to `path` (a snapshot file, conventionally
    .rcsnap): every object, every reference with its label, the roots with
    their descriptions, short values of str, bytes, int, float, bool and
    None (values=False or redact=True writes none; redact=True also leaves
    out dict keys that are data, and argv past the program), allocation
    tracebacks when tracemalloc traces, and process facts.  The file is
    written atomically with mode 0600, over a regular file or nothing: a
    bad path (a missing directory, a directory, a device, FIFO, socket or
    symbolic link in its place) raises its OSError subclass before the
    capture (refchain._args.check_target).  Returns the path.  A dump needing
    more memory than is left raises refchain.MemoryBudgetError first
    (force=True skips the check).

    fork=True forks: the child writes the snapshot of the copy-on-write
    heap, running no Python code, and leaves with _exit(); this returns at
    once a DumpProcess (pid, pause, wait(), done()).  See docs/snapshots.md."""
    _check_bool(values, "values", "dump")
    _check_bool(redact, "redact", "dump")
    _check_bool(fork, "fork", "dump")
    _check_bool(force, "force", "dump")
    path = os.fspath(path)
    # Before the capture: a path the file cannot be written to, or a
    # directory, device, FIFO... in its place, fails at once.
    check_target(path, "dump(fork=True)" if fork else "dump()")
    _memory.check_budget("fork" if fork else "dump", values=values and not redact, force=force)
    _memory.mark_rss_before_dump()
    if fork:
        return _fork_dump(path, values, redact)
    _dump(path, values, redact)
    return path


def _dump(path, values, redact):
    # One call, from the capture to the file's end: no Python code runs in
    # it, so no other thread changes what it reads, and the collector is
    # paused from the capture to the file's end.  The facts are the
    # process's before the capture; the roots are described in C, with the
    # text _chains gives (as a fork dump's child does).
    handlers, names = _signal_handlers()
    _refchain._dump(path, _fact_text(_facts(redact)), values and not redact, redact,
                    _tracemalloc.is_tracing(), handlers, names, os.getcwd())


# ---- fork dumps ------------------------------------------------------------------------


class DumpProcess:
    """A fork dump under way: the child (pid) writes `path`.  pause is how
    long the parent stopped, in seconds (the facts, the fork); wait() gives
    the path once the child has exited, or raises RuntimeError with the
    child's message; peak_bytes is then the child's peak RSS (getrusage's
    ru_maxrss).  Wait for every DumpProcess: an unwaited child stays a
    zombie until the process exits."""

    def __init__(self, pid, fd, path, pause, keep):
        self.pid, self.path, self.pause = pid, path, pause
        self.peak_bytes = None
        self._fd, self._keep = fd, keep     # keep: see _refchain._fork_dump
        self._error = None
        self._reaped = False
        self._lock = threading.Lock()

    def __repr__(self):
        state = "running" if not self._reaped else "failed" if self._error else "done"
        return "<refchain.DumpProcess pid %d %s: %r>" % (self.pid, state, self.path)

    def _finish(self, status, rusage):
        self._reaped = True
        self._keep = None
        self.peak_bytes = rusage.ru_maxrss * 1024
        try:
            msg = os.read(self._fd, 4096).decode("utf-8", "replace")
        finally:
            os.close(self._fd)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            self._error = "the fork dump's child was killed by signal %d%s" % (
                sig, " (SIGKILL: the out-of-memory killer?)" if sig == 9 else "")
        elif os.WEXITSTATUS(status) != 0:
            self._error = msg or "the fork dump's child exited with %d" % os.WEXITSTATUS(status)

    def _poll(self, block):
        with self._lock:
            if not self._reaped:
                try:
                    pid, status, rusage = os.wait4(self.pid, 0 if block else os.WNOHANG)
                except ChildProcessError:   # someone else reaped it (os.wait()?)
                    self._reaped, self._keep = True, None
                    os.close(self._fd)
                    self._error = "the fork dump's child %d was reaped elsewhere" % self.pid
                    return True
                if pid:
                    self._finish(status, rusage)
            return self._reaped

    def done(self):
        """Whether the child has exited (reaping it if so)."""
        return self._poll(False)

    def wait(self, timeout=None):
        """The path, once the child has written it; RuntimeError with the
        child's message if it failed; TimeoutError after `timeout` seconds."""
        if timeout is None:
            self._poll(True)
        else:
            deadline = time.monotonic() + timeout
            while not self._poll(False):
                if time.monotonic() >= deadline:
                    raise TimeoutError("the fork dump's child %d is still writing %s after %g s"
                                       % (self.pid, self.path, timeout))
                time.sleep(0.005)
        if self._error:
            raise RuntimeError("fork dump to %s failed: %s" % (self.path, self._error))
        return self.path

    def __del__(self):
        try:
            self.done()
        except Exception:
            pass


_POINTER_BYTES = (sys.maxsize.bit_length() + 1) // 8


def _fact_text(facts):
    """The facts as the extension takes them: one str, NUL between the
    parts (a list of pairs would be objects of the heap it captures)."""
    return "\0".join(part.replace("\0", "\\0") for kv in facts for part in kv)


def _signal_handlers():
    """(bytes, str) for the Python functions installed as signal handlers:
    their addresses, and their signals' names separated by NUL.  A dump
    names them in C (a fork dump's child runs no Python)."""
    # The C module, as _chains._signal_of reads it: plain ints (the signal
    # module's enums would fill caches of their own, new objects in the
    # heap the dump captures).
    signal = sys.modules.get("_signal")
    ns = signal.__dict__ if type(signal) is types.ModuleType else {}
    getsignal, valid = ns.get("getsignal"), ns.get("valid_signals")
    handlers, labels = [], []
    if type(getsignal) is not types.BuiltinFunctionType or \
            type(valid) is not types.BuiltinFunctionType:
        return b"", ""
    names = {}
    for k, v in dict.items(ns):
        if type(k) is str and k.startswith("SIG") and "_" not in k and type(v) is int:
            names.setdefault(v, []).append(k)
    for signum in valid():
        try:
            h = getsignal(signum)
        except (OSError, ValueError):
            continue
        if type(h) in (types.FunctionType, types.MethodType):
            handlers.append(id(h).to_bytes(_POINTER_BYTES, sys.byteorder))
            labels.append(sorted(names[signum])[0] if signum in names else "signal %d" % signum)
    return b"".join(handlers), "\0".join(labels)


def _fork_dump(path, values, redact):
    # os.wait4() in wait() imports resource (for its struct_rusage): before
    # the capture, so the snapshot already holds it and a later one shows
    # none of its objects as growth.
    import resource  # noqa: F401
    start = time.perf_counter()
    facts = _facts(redact) + [("fork", "written by a forked child, which ran no Python code; "
                                       "no allocation tracebacks")]
    handlers, names = _signal_handlers()
    (pid, fd), keep = _refchain._fork_dump(path, _fact_text(facts), values, redact,
                                           _tracemalloc.is_tracing(), handlers, names, os.getcwd())
    return DumpProcess(pid, fd, path, time.perf_counter() - start, keep)


# ---- load ------------------------------------------------------------------------------


def load(path):
    """Read a snapshot file into a Snapshot.  A file that is not a
    snapshot, or a truncated, corrupt or newer one, raises ValueError naming
    the file and what is wrong; one that cannot be read raises OSError."""
    path = os.fspath(path)
    return Snapshot(_refchain._load(path), path)


class SnapChain:
    """A chain read from a snapshot: a refchain.Chain's attributes and text,
    with SnapNodes for objects."""

    __slots__ = ("_snap", "root_kind", "objects", "_edge_indexes", "root_description", "steps")

    def __init__(self, snap, kind, ids, edges):
        self._snap = snap
        self.root_kind = kind
        self.objects = [snap._node(i) for i in ids]
        self._edge_indexes = edges
        if kind == "unreachable":
            self.root_description, self.steps = _chains.UNREACHABLE, []
            return
        root = self.objects[0]
        text = snap._c.root(root._root)[2] if root._root is not None else None
        self.root_description = text or "%s %s" % (kind, root.tname)
        self.steps = []
        shown = {}
        for end, label in snap._c.labels(tuple(ids), tuple(edges)):
            text = shown.get(label)
            if text is None:
                text = shown[label] = _format.name(label)
            self.steps.append((self.objects[end], text))

    @property
    def root(self):
        return None if self.root_kind == "unreachable" else self.objects[0]

    @property
    def target(self):
        return self.objects[-1]

    @property
    def hops(self):
        return len(self.objects) - 1

    def __len__(self):
        return len(self.steps)

    __str__ = _chains.format_chain
    _repr_svg_ = _render.chain_svg

    def __repr__(self):
        return "<refchain.SnapChain: %s root, %d hops to a %s>" % (
            self.root_kind, self.hops, self.target.tname)


class Snapshot(Drawings):
    """A heap read from a snapshot file.  Every question of the live heap
    is a method here, with the same text; what needs the live process
    (handing back real objects) raises, saying so.  Its drawings
    (show_chain, show_explain(filename=), show_backrefs, show_refs, render)
    come from refchain._snapdraw.Drawings."""

    def __init__(self, c, path):
        self._c = c
        self.path = path
        # Its SnapNodes, weakly: each refers to the snapshot, so a strong
        # cache would make a cycle, and a snapshot of a million objects
        # would wait for the cycle collector to be freed.
        self._nodes = weakref.WeakValueDictionary()

    def __len__(self):
        return len(self._c)

    def __repr__(self):
        return "<refchain.Snapshot %r: %d objects>" % (self.path, len(self))

    @property
    def facts(self):
        """The process facts the dump recorded (pid, argv, time, Python
        version, RSS, tracemalloc's traced memory, gc counts and stats)."""
        return dict(self._c.facts())

    def memory_layers(self):
        """The MemoryLayers the dump recorded: RSS before the capture, the
        objects' bytes (the snapshot's census), tracemalloc's traced bytes."""
        return _memory.snapshot_layers(self.facts, self._c.census(False))

    @property
    def traced(self):
        """Whether the dump recorded allocation tracebacks."""
        return bool(self._c.sections() & _SECTION_ALLOCS)

    def _lines_hint(self):
        """Why there are no allocation lines, or "" when there are."""
        if self.traced:
            return ""
        facts = self.facts
        return FORK_HINT if "fork" in facts and "tracemalloc traced bytes" in facts \
            else TRACEMALLOC_HINT

    def _node(self, node_id):
        node = self._nodes.get(node_id)
        if node is None:
            node = self._nodes[node_id] = SnapNode(self, node_id, self._c.node(node_id))
        return node

    def _sites(self, ids, top=3):
        """allocation_sites() of the nodes `ids`, read from the file."""
        return ranked_sites(self._c.traceback_counts(ids), top) if self.traced else []

    def node(self, address):
        """The object at `address` (an int, as id() gave it) in the snapshot."""
        node_id = self._c.find(_address(address))
        if node_id is None:
            raise KeyError("no object at 0x%x in %s" % (_address(address), self.path))
        return self._node(node_id)

    def at(self, address):
        raise TypeError("at() hands back a live object, and a snapshot holds none: use "
                        "snapshot.node(address) for what the file recorded about it")

    # -- what grew -------------------------------------------------------------------

    def census(self, shortnames=False):
        """The census of the snapshot: type name -> (count, bytes)."""
        _check_bool(shortnames, "shortnames", "census")
        return self._c.census(shortnames)

    def _growth(self, since, limit, shortnames, with_objects):
        peaks = _census_of(since, shortnames, "growth") if since is not None else None
        point = _census_of(since, shortnames, "growth") if since is not None else None
        _, _, diff, ids = self._c.growth(peaks, point, shortnames, min(limit, sys.maxsize),
                                         with_objects and point is not None)
        return list(diff)[:limit], ids

    def growth(self, since=None, limit=10, shortnames=True):
        """The types whose count rose since `since` (an older Snapshot of
        the same process, or a Census), as (name, count, delta), largest
        delta first; without `since`, every type."""
        limit = _check_limit(limit, "growth")
        _check_bool(shortnames, "shortnames", "growth")
        rows, _ = self._growth(since, limit, shortnames, False)
        return [(r.name, r.count, r.delta) for r in rows]

    def show_growth(self, since=None, limit=10, shortnames=True, file=None):
        """show_growth()'s text for what grew between `since` and this
        snapshot: each type's count, growth and byte growth, and the lines
        that allocated the new instances."""
        limit = _check_limit(limit, "show_growth")
        _check_bool(shortnames, "shortnames", "show_growth")
        file = _out(file, "show_growth")
        rows, ids = self._growth(since, limit, shortnames, self.traced)
        lines = []
        for row, line in zip(rows, growth_lines(rows)):
            lines.append(line)
            if ids:
                for n, site in self._sites(ids.get(row.name, ())):
                    lines.append("    +%d at %s" % (n, site))
        if rows and not self.traced:
            lines.append(self._lines_hint())
        if lines:
            file.write("\n".join(lines) + "\n")

    def new_objects(self, typename=None, since=None):
        """The objects of this snapshot that were not in `since` (an older
        Snapshot of the same process, or a Census): an object is new when no
        object of its type lived at its address then."""
        if since is None:
            raise ValueError("new_objects() needs since=: an older snapshot or a census")
        ids = self._c.new_ids(_census_of(since, False, "new_objects"), typename)
        return [self._node(i) for i in ids]

    # -- what keeps it alive -----------------------------------------------------------

    def find_chain(self, obj):
        """The shortest chain of references from a root to `obj` (an
        address, or a SnapNode of this snapshot)."""
        node = obj if isinstance(obj, SnapNode) and obj._snap is self else self.node(obj)
        kind, ids, edges = self._c.chain(node.id)
        return SnapChain(self, kind, ids, edges)

    def _groups(self, raw, typename):
        groups = []
        # counts: the members' traceback counts, made in C (None when untraced)
        for count, nbytes, (kind, ids, edges), counts, rbytes, rcount, holder in raw:
            groups.append(Group(typename, count, nbytes, SnapChain(self, kind, ids, edges),
                                ranked_sites(counts, 3) if counts else [], rbytes, rcount,
                                holder))
        return groups

    def explain(self, typename, limit=5):
        """explain()'s groups for the objects of `typename` in the snapshot."""
        limit = _check_limit(limit, "explain")
        if not isinstance(typename, str):
            raise TypeError("Snapshot.explain() takes a type name, not %s"
                            % type(typename).__name__)
        count, nbytes, n_groups, raw = self._c.explain(typename, None, min(limit, sys.maxsize),
                                                       False)
        return Groups(self._groups(raw, typename), count, nbytes, n_groups)

    def show_explain(self, typename, limit=5, file=None, filename=None):
        """Print explain(typename, limit); with a filename, draw the groups
        instead (see refchain.show_explain) and return the path."""
        if filename is not None:
            return self._show_explain_drawing(typename, limit, filename)
        groups = self.explain(typename, limit)
        _write_groups(groups, _out(file, "show_explain"), self._lines_hint())

    def leaks(self, since, limit=5):
        """leaks()'s report: what is new since `since` (an older Snapshot of
        the same process, or a Census), by type, each type explained."""
        limit = _check_limit(limit, "leaks")
        raw = self._c.explain(None, _census_of(since, False, "leaks"), min(limit, sys.maxsize),
                              True)
        return LeakReport([LeakRow(typename, count, nbytes, self._groups(groups, typename), rb,
                                   rc) for typename, count, nbytes, groups, rb, rc in raw])

    # -- what would be freed -------------------------------------------------------

    def retained(self, obj):
        """What `obj` (an address, or a SnapNode of this snapshot) retained
        at the dump, as refchain.retained() answers live: (bytes, count)
        of the objects every chain from a root to them passed through it."""
        node = obj if isinstance(obj, SnapNode) and obj._snap is self else self.node(obj)
        return self._c.retained(node.id)

    def suspects(self, limit=10, min_share=0.01):
        """refchain.suspects()' report for the snapshot: the Suspects,
        largest first, their objects SnapNodes and chains SnapChains."""
        limit, min_share = _dominators._check_args(limit, min_share)
        heap, raw = self._c.suspects(min_share, min(limit, sys.maxsize))
        return _dominators._suspects(heap, [
            (self._node(i), nbytes, count, SnapChain(self, *chain), top, tc, tb, linked)
            for i, nbytes, count, chain, top, tc, tb, linked in raw])

    # -- for other tools -----------------------------------------------------------------

    def export_heapsnapshot(self, path):
        """Write the snapshot as a Chrome DevTools .heapsnapshot (JSON), which
        DevTools' Memory panel and memlab read: Python types as node names,
        labels as edge names, allocation sites where tracemalloc traced, and
        object ids stable across the dumps of one process (DevTools'
        comparison view).  Written atomically.  Returns the path."""
        path = os.fspath(path)
        check_target(path, "export_heapsnapshot()")
        self._c.export(path)
        return path

    # -- what the next collection frees ---------------------------------------------

    def garbage(self, limit=10):
        """garbage()'s prediction for the snapshot: what a full collection
        would have freed at the dump, and its cycles grouped by type."""
        limit = _check_limit(limit, "garbage")
        count, raw, finalizers, freed = self._c.garbage(min(limit, sys.maxsize),
                                                        _garbage.CYCLE_HOPS)
        return _garbage.GarbageReport(count, _garbage._groups(raw, self), finalizers, freed)


def _address(address):
    if isinstance(address, SnapNode):
        return address.address
    if isinstance(address, bool) or not isinstance(address, int):
        raise TypeError("an address must be an int (as id() gives), not %s"
                        % type(address).__name__)
    return address


def _census_of(since, shortnames, func):
    if isinstance(since, Snapshot):
        return since.census(shortnames)
    if isinstance(since, _refchain.Census):
        return since
    raise TypeError("%s() argument 'since' must be a Snapshot or a Census, not %s"
                    % (func, type(since).__name__))


def _out(file, func):
    if file is None:
        return sys.stdout
    if not callable(getattr(file, "write", None)):
        raise TypeError("%s() argument 'file' must have a write() method" % func)
    return file
