"""refchain.watch(): a daemon thread that counts the heap every interval and
tells a leak from a plateau, for a service that cannot be restarted to add
show_growth() calls.

Every `interval` seconds the thread takes a census (counts by type, not a
full capture) and keeps the last `keep` in a rolling buffer.  Census objects
are the tool's own (captures leave them out), so the buffer filling up is
never growth.  Whatever else the watcher keeps between intervals is a fixed
number of objects, whatever it finds: the names of the growing types and of
the types ever flagged are one str each, and the Trends that `growing`
returns and the MemoryLayers of `layers` are built from the censuses when
asked.  Otherwise the watcher's own record of a leak (a Trend, its list,
its ints) would grow in turn and be flagged at the next intervals.  Nor is
it ever a holder: while a capture finds what holds a type's new objects,
the watcher holds nothing it made since the last census but those names,
which the explanation leaves out; each type's Trend and Groups are made
after its capture and logged and dropped before the next.

The verdict, per type, over the last k intervals (k + 1 censuses):
**growing** when its count rose in each of them (every delta >= 1) at a
roughly steady rate (the smallest delta is at least STEADY = 1/3 of the
largest); **plateau** otherwise.  A leak adds about the same number of
objects per interval and is flagged after k intervals; warm-up adds less
and less (a decaying rate fails the steadiness bound, then a delta of 0);
a cache stops at its bound (a delta of 0); a buffer filled and cleared
falls (a negative delta).

Garbage cycles waiting for the collector look like growth until the next
full collection.  When a type looks growing and collect=True (and the
collector is enabled), the watcher runs one gc.collect() and counts again
before it says so; a heap with no such candidate is never collected.

For each type that starts growing (at most 3 per interval) the watcher
finds the objects that appeared during the last interval (the previous
census remembers object identities; every older one only its counts) and
explains them: what holds them and, when tracemalloc traces, where they
were allocated.  That takes two captures, checked against the memory budget
like every census (refchain._memory): a refusal is logged once and the
interval skipped.

Nothing raises into the service: every error (a hostile logging handler, a
dump_when callable, a full disk) is caught, logged once, and the watcher
goes on; a BaseException raised inside the thread ends it quietly.  The
thread is a daemon and an atexit hook stops it, so it never holds up
interpreter shutdown."""

import atexit
import collections
import gc
import os
import threading
import time

from refchain import _memory, _refchain
from refchain._explain import explain
from refchain._format import human_bytes, name as _name
from refchain._sites import TRACEMALLOC_HINT
from refchain._leakcheck import _spec_matches
from refchain._sites import tracing

# logging's levels, without importing it (see __init__.py).
_INFO, _WARNING, _ERROR = 20, 30, 40
STEADY = 1 / 3           # smallest delta / largest delta, for "steady"
EXPLAINED_PER_TICK = 3   # types explained (two captures each) per interval, at most
_SHUTDOWN_WAIT = 2.0     # seconds the atexit hook waits for a running interval
_ERRORS_REMEMBERED = 32  # distinct errors logged once each; more are only counted
_CENSUS, _EXPLAIN, _DUMP = ("this interval's census", "explaining the growing types",
                            "the snapshot dump_when asked for")


def verdict(deltas, steady=STEADY):
    """'growing' when every delta is >= 1 and the smallest is at least
    `steady` times the largest; 'plateau' otherwise (or with no delta)."""
    if deltas and min(deltas) >= 1 and min(deltas) >= steady * max(deltas):
        return "growing"
    return "plateau"


class Trend:
    """A growing type: its name, its counts in the last k + 1 censuses
    (oldest first), its bytes now, and its bytes' change over the window."""

    __slots__ = ("typename", "counts", "bytes", "bytes_delta")

    def __init__(self, typename, counts, nbytes, bytes_delta):
        self.typename, self.counts = typename, counts
        self.bytes, self.bytes_delta = nbytes, bytes_delta

    @property
    def deltas(self):
        return [b - a for a, b in zip(self.counts, self.counts[1:])]

    def __str__(self):
        deltas = self.deltas
        return "%s: %d objects (%s), %s in the last %d intervals (%s per interval)" % (
            _name(self.typename), self.counts[-1], human_bytes(self.bytes),
            " ".join("%+d" % d for d in deltas), len(deltas),
            human_bytes(self.bytes_delta // max(1, len(deltas)), sign=True))

    def __repr__(self):
        return "<refchain.Trend: %s %s>" % (_name(self.typename),
                                             " ".join("%+d" % d for d in self.deltas))


def _names(value):
    if value is True:
        return True
    if isinstance(value, (str, type)):
        return (value,)
    try:
        value = tuple(value)
    except TypeError:
        value = None
    if not value or not all(isinstance(v, (str, type)) for v in value):
        raise TypeError("watch() dump_when['growing'] must be True, a type name, a type or a "
                        "list of them")
    return value


def _condition(spec):
    """dump_when as a function of the Watcher, or None."""
    if spec is None or callable(spec):
        return spec
    if spec == "growing":
        spec = {"growing": True}
    if not isinstance(spec, dict) or not spec or set(spec) - {"growing", "rss"}:
        raise TypeError("watch() argument 'dump_when' must be None, a callable taking the "
                        "Watcher, 'growing', or a dict with 'growing' and/or 'rss'")
    names = _names(spec["growing"]) if "growing" in spec else None
    rss = spec.get("rss")
    if rss is not None and (isinstance(rss, bool) or not isinstance(rss, int) or rss <= 0):
        raise ValueError("watch() dump_when['rss'] must be a number of bytes > 0")

    def condition(watcher):
        if names is not None:
            for trend in watcher.growing:
                if names is True or any(_spec_matches(trend.typename, n) for n in names):
                    return True
        layers = watcher.layers
        return rss is not None and layers is not None and layers.rss is not None and \
            layers.rss > rss
    return condition


def _number(value, what, minimum, integer):
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise TypeError("watch() argument '%s' must be %s, not %s" % (
            what, "int" if integer else "a number", type(value).__name__))
    if not value >= minimum:
        raise ValueError("watch() argument '%s' must be >= %s, got %r" % (what, minimum, value))
    return value


def _trends(window, names=None):
    """The Trends of the types growing over `window` (k + 1 censuses,
    oldest first), largest growth first; only `names` when given."""
    if len(window) < 2:
        return []
    rose = set(names) if names is not None else None
    for older, newer in zip(window, window[1:]):
        grew = {row.name for row in newer - older if row.delta > 0}
        rose = grew if rose is None else rose & grew
    trends = []
    for typename in rose:
        rows = [c.get(typename) for c in window]
        counts = [r.count if r is not None else 0 for r in rows]
        deltas = [b - a for a, b in zip(counts, counts[1:])]
        if verdict(deltas) == "growing":
            first = rows[0].bytes if rows[0] is not None else 0
            trends.append(Trend(typename, counts, rows[-1].bytes, rows[-1].bytes - first))
    trends.sort(key=lambda t: (-(t.counts[-1] - t.counts[0]), t.typename))
    return trends


class Watcher:
    """The watcher refchain.watch() starts.  stop() ends it (also as a
    context manager).  Read, from any thread: growing (the Trends of the
    types growing now), layers (the last census's MemoryLayers, made when
    asked), flagged ({type
    name: the interval it was first flagged in}), ticks (censuses taken),
    dumped (the snapshot dump_when wrote, or None), refusals (intervals
    skipped for the memory budget) and errors (errors caught)."""

    def __init__(self, interval=60, keep=5, k=3, logger=None, dump_when=None, directory=None,
                 *, holders=True, collect=True, limit=10, groups=3):
        self.interval = _number(interval, "interval", 0.001, False)
        self.k = _number(k, "k", 1, True)
        self.keep = _number(keep, "keep", self.k + 1, True)
        self.limit = _number(limit, "limit", 1, True)
        self.groups = _number(groups, "groups", 1, True)
        if logger is None or isinstance(logger, str):
            import logging    # here: `import refchain` does not import it (see __init__.py)
            logger = logging.getLogger(logger or "refchain")
        elif not callable(getattr(logger, "log", None)):
            raise TypeError("watch() argument 'logger' must be a logging.Logger, a logger "
                            "name or None")
        self.logger = logger
        self._condition = _condition(dump_when)
        self.directory = os.fspath(directory) if directory is not None else None
        self.holders, self.collect = bool(holders), bool(collect)
        self._buffer = collections.deque(maxlen=self.keep)  # Census objects: not counted
        self._point = None       # the last census, the only one remembering identities
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        # "\0"-separated type names (no C type name holds a NUL): one str
        # each, whatever was found (see the module's docstring).
        self._growing = self._flagged = ""
        self.ticks = self.refusals = self.errors = self.log_failures = 0
        self.dumped = None
        self._dump_failed = False
        self._errors_seen = set()
        self._refusing = set()   # what was refused and logged, until it fits again
        self._hinted = False

    # -- the caller's side --------------------------------------------------------------

    def start(self):
        """Start the thread (watch() does); a second call does nothing."""
        with self._lock:
            if self._thread is not None:
                return self
            self._thread = threading.Thread(target=self._run, name="refchain-watch",
                                            daemon=True)
        atexit.register(self._at_exit)
        self._thread.start()
        return self

    def stop(self, timeout=None):
        """Stop the thread and wait for it (up to `timeout` seconds) unless
        called from the thread itself.  Safe to call more than once."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        atexit.unregister(self._at_exit)

    def _at_exit(self):
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_SHUTDOWN_WAIT)

    @property
    def running(self):
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    @property
    def growing(self):
        """The Trends of the types growing at the last interval, largest
        growth first."""
        with self._lock:
            names, window = self._growing, list(self._buffer)[-(self.k + 1):]
        return _trends(window, names.split("\0")) if names else []

    @property
    def flagged(self):
        """{type name: the interval (1 = the first census) it was first
        flagged growing in}."""
        with self._lock:
            parts = self._flagged.split("\0")
        return {parts[i]: int(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}

    @property
    def layers(self):
        with self._lock:
            census = self._buffer[-1] if self._buffer else None
        # Made when asked, from the last census and the RSS now: kept, its
        # numbers would be new ints at every interval (see _tick).
        return _memory.layers_of(census, _memory.rss_bytes()) if census is not None else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def __repr__(self):
        return "<refchain.Watcher: every %gs, %d censuses, %s, %d growing>" % (
            self.interval, self.ticks, "running" if self.running else "stopped",
            len(self._growing.split("\0")) if self._growing else 0)

    # -- the thread ------------------------------------------------------------------------

    def _run(self):
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:
                self._error(exc)
            except BaseException:
                return      # raised into this thread (SystemExit from a handler): end quietly
            next_at += self.interval
            now = time.monotonic()
            if next_at < now:
                next_at = now   # an interval that overran is not made up
            if self._stop.wait(next_at - now):
                return

    def _emit(self, level, message, *args, exc_info=None):
        try:
            self.logger.log(level, message, *args, exc_info=exc_info)
        except Exception:
            self.log_failures += 1

    def _error(self, exc):
        self.errors += 1
        key = (type(exc).__name__, str(exc)[:200])
        if key in self._errors_seen or len(self._errors_seen) >= _ERRORS_REMEMBERED:
            return
        self._errors_seen.add(key)
        self._emit(_ERROR, "refchain.watch: %s: %s (logged once; the watcher goes on)",
                   type(exc).__name__, exc, exc_info=exc)

    def _refused(self, exc, what):
        self.refusals += 1
        if what not in self._refusing:
            self._refusing.add(what)
            self._emit(_WARNING, "refchain.watch: skipped %s: %s (logged once until "
                       "the memory fits again)", what, exc)

    def _census(self):
        """A census, after a budget check; None when refused."""
        try:
            _memory.check_budget("census")
        except _memory.MemoryBudgetError as exc:
            self._refused(exc, _CENSUS)
            return None, None
        rss = _memory.rss_bytes()
        census = _refchain.census()
        _memory.note_census(census.total.count, rss)
        return census, rss

    def _growing_now(self):
        """The names of the types growing over the last k intervals, largest
        growth first, "\0"-separated: one str, whatever grows (the Trends
        are made when logged, after each capture: see _tick)."""
        window = list(self._buffer)[-(self.k + 1):]
        if len(window) != self.k + 1:
            return ""
        return "\0".join(t.typename for t in _trends(window))

    def _trend(self, typename):
        """The Trend of one growing type, from the buffer."""
        with self._lock:
            window = list(self._buffer)[-(self.k + 1):]
        found = _trends(window, (typename,))
        return found[0] if found else None

    def _tick(self):
        # While a capture finds the holders of a type's new objects, the
        # watcher holds no object of its own made since the last census but
        # a few str (the names: _own() leaves them out): no Trend, no Group,
        # no MemoryLayers, none of whose ints and lists would be new
        # objects, held by the watcher, at every interval.
        census, rss = self._census()
        if census is None:
            return
        with self._lock:
            self._buffer.append(census)
        growing = self._growing_now()
        if growing and self.collect and gc.isenabled():
            # Is it garbage waiting for the collector?  Count again after one.
            gc.collect()
            census, rss = self._census()
            if census is None:
                return
            with self._lock:
                self._buffer[-1] = census
            growing = self._growing_now()
        self._refusing.discard(_CENSUS)
        before = self._growing
        self._log_growing(growing, before)
        point, self._point = self._point, census
        if point is not None:
            point._forget_objects()
        if not self.holders:
            census._forget_objects()
        flagged = set(self._flagged.split("\0")[::2])
        with self._lock:
            self._growing = growing
            self.ticks += 1
            self._flagged += "".join("%s\0%d\0" % (name, self.ticks) for name in
                                     growing.split("\0") if name and name not in flagged)
        del flagged
        for typename in sorted(set(before.split("\0")) - set(growing.split("\0")) - {""}):
            self._emit(_INFO, "refchain.watch: no longer growing: %s", _name(typename))
        self._emit(_INFO, "refchain.watch: %s", _memory.layers_of(census, rss))
        if self._condition is not None and self.dumped is None and not self._dump_failed \
                and self._condition(self):
            self._dump()

    def _log_growing(self, growing, before):
        """Log the growing types (at most `limit`), the newly growing ones
        with what holds their new objects (the first few: two captures
        each), one type at a time: its Trend and Groups are made after its
        capture and dropped before the next."""
        pos = logged = explained = 0
        refused = False
        while pos < len(growing) and logged < self.limit:
            end = growing.find("\0", pos)
            end = len(growing) if end < 0 else end
            typename = growing[pos:end]
            pos = end + 1
            logged += 1
            if ("\0%s\0" % typename) in ("\0%s\0" % before):
                self._emit(_WARNING, "refchain.watch: still growing: %s",
                           self._trend(typename))
                continue
            groups = None
            if explained < EXPLAINED_PER_TICK and not refused:
                explained += 1
                groups = self._explain(typename, (growing, before, typename))
                refused = groups is False
                groups = None if refused else groups
            lines = ["refchain.watch: growing: %s" % self._trend(typename)]
            lines += ["  %s" % g for g in groups or ()]
            if groups is not None and not tracing() and not self._hinted:
                self._hinted = True
                lines.append("  " + TRACEMALLOC_HINT)
            del groups
            self._emit(_WARNING, "%s", "\n".join(lines))
            del lines

    def _explain(self, typename, names):
        """explain()'s Groups of the objects of `typename` that appeared
        since the previous census (but the watcher's own names, `names` and
        the flagged types' str), or None (no holders asked, no previous
        census), or False (refused by the memory budget)."""
        point = self._point
        if not self.holders or point is None:
            return None
        try:
            _memory.check_budget("capture")
        except _memory.MemoryBudgetError as exc:
            self._refused(exc, _EXPLAIN)
            return False
        new = _refchain.new_objects(point, typename)
        own = names + (self._flagged,)
        new = [obj for obj in new if not any(obj is o for o in own)]
        groups = [g for g in (explain(new, self.groups) if new else [])
                  if g.root_kind != "unreachable"]
        del new, own
        for g in groups:
            g.typename = typename
        self._refusing.discard(_EXPLAIN)
        return groups

    def _dump(self):
        import tempfile
        from refchain._snapshot import dump
        directory = self.directory or tempfile.gettempdir()
        path = os.path.join(directory, "refchain-%d-%s.rcsnap" % (
            os.getpid(), time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())))
        try:
            os.makedirs(directory, exist_ok=True)
            dump(path)
        except _memory.MemoryBudgetError as exc:
            self._refused(exc, _DUMP)   # tried again next time
            return
        except Exception:
            self._dump_failed = True    # a full disk: one capture wasted, not one per interval
            raise
        self._refusing.discard(_DUMP)
        self.dumped = path
        self._emit(_WARNING, "refchain.watch: dump_when held: wrote %s", path)


def watch(interval=60, keep=5, k=3, logger=None, dump_when=None, directory=None, *,
          holders=True, collect=True, limit=10, groups=3):
    """Start a daemon thread that takes a census every `interval` seconds,
    keeps the last `keep`, and logs (logger `refchain`, or `logger`: a
    Logger or a name) each type growing in every one of the last `k`
    intervals at a steady rate, with what holds its new objects and where
    they were allocated (holders=False: counts only), the memory-layers line
    every interval, and, once `dump_when` holds, one snapshot written into
    `directory` (default: the temporary directory).  dump_when: a callable
    taking the Watcher, 'growing' (any type), or a dict: {'growing': True, a
    type name, a type or a list of them; 'rss': bytes}.  Returns the
    Watcher: stop() it, or use it as a context manager.  docs/watch.md."""
    return Watcher(interval, keep, k, logger, dump_when, directory, holders=holders,
                   collect=collect, limit=limit, groups=groups).start()
