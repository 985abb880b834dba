"""Memory layers and the memory budget.

Layers: what RSS is made of, as far as refchain can tell.  RSS = the bytes
of the objects a census counted + what the objects do not explain (the
allocator's free lists, arenas not returned to the OS, native memory of C
extensions and the interpreter itself, and refchain's own pool: the
capture's arrays it keeps for the next capture, which release_memory()
frees).  When the second part dominates, hunting objects will not find the
memory.

Budget: a capture, a dump and a fork dump's child take memory in proportion
to the number of objects (bench/README.md, "memory budget"), less what
refchain's pool already holds for an in-process capture to reuse, and a leaking
service is often near its cgroup's limit, where the kernel's OOM killer
strikes without a MemoryError.  check_budget() estimates what an operation
needs and refuses with MemoryBudgetError when it does not fit the headroom:
the smaller of the cgroup's limit less its usage (v2 memory.max -
memory.current, v1 memory.limit_in_bytes - memory.usage_in_bytes, at the
process's cgroup and each ancestor, inactive file cache counted as free) and
/proc/meminfo's MemAvailable.  REFCHAIN_CGROUP_ROOT (default /sys/fs/cgroup),
REFCHAIN_PROC_CGROUP (default /proc/self/cgroup) and REFCHAIN_MEMINFO
(default /proc/meminfo) point the same code at other files (tests).

A leaf module: it imports only the extension and refchain._format."""

import os
import sys
import _tracemalloc    # not tracemalloc: it imports pickle (see __init__.py)

from refchain import _refchain
from refchain._format import human_bytes

# Peak bytes refchain takes per object counted, measured on the bench's 1M
# heaps (service and payload compositions, 3.12) and rounded up: a census
# 56-57, a capture 60-65, a dump 120-178, a dump without values 115-139.
COST_PER_OBJECT = {"census": 64, "capture": 72, "dump": 192, "dump without values": 160}
# Objects per gc-tracked object, when no census has counted them yet and
# pymalloc cannot tell its blocks: the bench's heaps have 2.4 to 7.
OBJECTS_PER_TRACKED = 5
KINDS = ("census", "capture", "dump", "fork")
# A limit this large means "no limit" (cgroup v1 writes 2**63 less a page).
_UNLIMITED = 1 << 60

# Numbers kept in the extension (_refchain._note), not in objects here: an
# int or a buffer held in this module would be an object a later census
# counts, explain names and a dump writes.  The last census refchain took
# here: objects (0: none yet) and the RSS before it; the RSS before a dump.
_LAST_OBJECTS, _LAST_RSS, _RSS_BEFORE_DUMP = range(3)


def rss_bytes():
    """The process's resident set size in bytes (VmRSS), or None when
    /proc/self/status cannot say."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def mark_rss_before_dump():
    """Read RSS now for the dump about to capture (rss_before_dump())."""
    _refchain._note(_RSS_BEFORE_DUMP, rss_bytes() or 0)


def rss_before_dump():
    """The RSS mark_rss_before_dump() read, or None."""
    return _refchain._note(_RSS_BEFORE_DUMP) or None


def note_census(objects, rss):
    """Remember a census's object count (and the RSS before it) for the next
    estimate."""
    _refchain._note(_LAST_OBJECTS, int(objects))
    _refchain._note(_LAST_RSS, rss or 0)


# ---- layers ------------------------------------------------------------------------------


class MemoryLayers:
    """RSS split into what refchain counted and what it did not.

    rss: bytes resident (None when unknown); counted: the bytes of the
    objects a census counted; objects: how many; traced: tracemalloc's
    traced memory (None when it does not trace); unexplained: rss - counted
    (None without rss), the allocator's free lists, arenas not returned
    and native memory; pool: the part of it refchain keeps for its next
    capture (refchain.release_memory() frees it); tracer: the part
    tracemalloc takes for its own tables (None when it does not trace).
    str() is one line ending with which to hunt, judged on what is not in
    objects once refchain's pool and tracemalloc's tables are set aside."""

    __slots__ = ("rss", "counted", "objects", "traced", "unexplained", "pool", "tracer")

    def __init__(self, rss, counted, objects, traced=None, pool=0, tracer=None):
        self.rss = rss
        self.counted = counted
        self.objects = objects
        self.traced = traced
        self.pool = pool
        self.tracer = tracer
        self.unexplained = None if rss is None else rss - counted

    @property
    def hint(self):
        """Which to hunt: objects, or native memory."""
        if self.rss is None or self.rss <= 0:
            return "RSS is unknown here: compare the objects' bytes with the process's memory"
        # refchain's pool and tracemalloc's tables are the tools' own: with
        # tracemalloc tracing 25 frames they can be most of what objects do
        # not explain, and would send the hunt to native memory.
        tools = (self.pool or 0) + (self.tracer or 0)
        base = self.rss - tools if 0 < tools < self.rss else self.rss
        aside = ", tracemalloc's and refchain's own memory aside," if base != self.rss else ""
        share = (self.unexplained - (self.rss - base)) / base
        if share >= 0.5:
            return ("%d%% of RSS%s is not in objects: look at native memory and the allocator "
                    "(C extensions, free lists, arenas not returned), not at objects"
                    % (round(100 * share), aside))
        return ("%d%% of RSS%s is objects: hunt objects (show_growth, explain)"
                % (round(100 * (1 - max(share, 0))), aside))

    def summary(self):
        """The line without its 'memory: ' prefix."""
        objects = "objects %s (counted by refchain)" % human_bytes(self.counted)
        if self.rss is None:
            text = "%s; RSS unknown" % objects
        elif self.unexplained >= 0:
            text = "RSS %s = %s + %s not in objects (allocator free lists, arenas, native " \
                   "memory)" % (human_bytes(self.rss), objects, human_bytes(self.unexplained))
        else:
            text = "RSS %s < %s: the objects' bytes exceed RSS by %s (swapped out, or in " \
                   "shared pages)" % (human_bytes(self.rss), objects,
                                      human_bytes(-self.unexplained))
        if self.pool:
            text += "; refchain keeps %s of it for its next capture (release_memory())" \
                % human_bytes(self.pool)
        if self.traced is not None:
            text += "; tracemalloc traces %s" % human_bytes(self.traced)
        if self.tracer:
            text += " and takes about %s for its own tables" % human_bytes(self.tracer)
        return "%s; %s" % (text, self.hint)

    def __str__(self):
        return "memory: " + self.summary()

    def __repr__(self):
        return "<refchain.MemoryLayers: rss=%r counted=%d traced=%r>" % (
            self.rss, self.counted, self.traced)

    def as_dict(self):
        return {"rss": self.rss, "counted": self.counted, "objects": self.objects,
                "traced": self.traced, "unexplained": self.unexplained, "pool": self.pool,
                "tracer": self.tracer, "text": self.summary()}


def memory_layers(census=None, *, force=False):
    """The MemoryLayers of the process now: RSS (read first, so that the
    census's own memory is not in it), the bytes of every object a census
    counts (`census`, a refchain.Census taken just before, or a new one),
    and tracemalloc's traced memory when it traces.  A new census checks the
    memory budget first (see check_budget; force=True skips the check)."""
    _check_force(force, "memory_layers")
    rss = rss_bytes()
    pool = _refchain._pool_bytes()  # resident when RSS was read
    if census is None:
        check_budget("census", force=force)
        census = _refchain.census()
    elif not isinstance(census, _refchain.Census):
        raise TypeError("memory_layers() argument 'census' must be a refchain.Census or None, "
                        "not %s" % type(census).__name__)
    note_census(census.total.count, rss)
    return layers_of(census, rss, pool)


def tracer_footprint(reported, version=None):
    """What tracemalloc's tables take of RSS, from what
    _tracemalloc.get_tracemalloc_memory() reports (`reported`; None: None)
    in a Python of `version`, (major, minor) (None: this one).  The report
    counts its hash tables' entries, not malloc's header on each, nor, from
    3.9, the block of its own each trace's record takes: measured with two
    million traces, 187 MiB of RSS for 93 MiB reported on 3.11-3.13, 129
    for 108 on 3.8."""
    if reported is None:
        return None
    version = version or sys.version_info[:2]
    return reported * 2 if version >= (3, 9) else reported * 6 // 5


def layers_of(census, rss, pool=None):
    """MemoryLayers of a census taken now, and the RSS read before it (and
    refchain's pool then; None: now)."""
    total = census.total
    tracing = _tracemalloc.is_tracing()
    traced = _tracemalloc.get_traced_memory()[0] if tracing else None
    tracer = tracer_footprint(_tracemalloc.get_tracemalloc_memory()) if tracing else None
    if pool is None:
        pool = _refchain._pool_bytes()
    return MemoryLayers(rss, total.bytes, total.count, traced, pool, tracer)


def snapshot_layers(facts, census):
    """The MemoryLayers a snapshot recorded: its RSS before the dump's
    capture ('rss before capture bytes'; files written before that fact was
    recorded have only 'rss bytes', read after the capture), its census, and
    tracemalloc's traced bytes."""
    def number(key):
        try:
            return int(facts.get(key) or "")
        except ValueError:
            return None
    rss = number("rss before capture bytes")
    if rss is None:
        rss = number("rss bytes")
    try:
        version = tuple(int(x) for x in facts.get("python", "").split()[0].split(".")[:2])
    except (ValueError, IndexError):
        version = ()
    version = version if len(version) == 2 else None
    total = census.total
    return MemoryLayers(rss, total.bytes, total.count, number("tracemalloc traced bytes"),
                        tracer=tracer_footprint(number("tracemalloc own bytes"), version))


# ---- headroom ----------------------------------------------------------------------------


class Headroom:
    """How many more bytes the process may take: `bytes`, the smaller of
    its sources, and `sources`, [(bytes, text)] for each limit found."""

    __slots__ = ("bytes", "sources")

    def __init__(self, sources):
        self.sources = sorted(sources)
        self.bytes = self.sources[0][0]

    def __str__(self):
        return "; ".join(text for _, text in self.sources)


def _read_int(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    if text == "max":
        return _UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def _inactive_file(directory, key):
    """The cgroup's inactive file cache, which the kernel reclaims before it
    kills (what `kubectl top` leaves out of the working set too)."""
    try:
        with open(os.path.join(directory, "memory.stat")) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_paths():
    """[(version, path)] of the process's memory cgroups: (2, path) for the
    unified hierarchy, (1, path) for v1's memory controller."""
    out = []
    try:
        with open(os.environ.get("REFCHAIN_PROC_CGROUP") or "/proc/self/cgroup") as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) != 3:
                    continue
                if parts[0] == "0" and parts[1] == "":
                    out.append((2, parts[2]))
                elif "memory" in parts[1].split(","):
                    out.append((1, parts[2]))
    except OSError:
        pass
    return out


def _ancestors(path):
    """'/a/b' -> ['/a/b', '/a', '/']."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_headroom():
    """[(bytes, text)]: for each cgroup level with a memory limit (the
    process's own and every ancestor mounted here), limit - (usage - inactive
    file cache).  Levels missing from the mount (a container sees its own
    cgroup as the root) are skipped."""
    root = os.environ.get("REFCHAIN_CGROUP_ROOT") or "/sys/fs/cgroup"
    found = []
    for version, path in _cgroup_paths():
        if version == 2:
            base, limit_f, usage_f, stat_key = root, "memory.max", "memory.current", \
                "inactive_file"
        else:
            base, limit_f, usage_f, stat_key = os.path.join(root, "memory"), \
                "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
        for level in _ancestors(path):
            directory = os.path.join(base, level.lstrip("/"))
            limit = _read_int(os.path.join(directory, limit_f))
            usage = _read_int(os.path.join(directory, usage_f))
            if limit is None or usage is None or limit >= _UNLIMITED:
                continue
            cache = _inactive_file(directory, stat_key)
            room = max(0, limit - max(0, usage - cache))
            found.append((room, "cgroup %s: %s %s - %s %s%s = %s free" % (
                level, limit_f, human_bytes(limit), usage_f, human_bytes(usage),
                " + %s inactive file cache" % human_bytes(cache) if cache else "",
                human_bytes(room))))
    return found


def mem_available():
    """/proc/meminfo's MemAvailable in bytes, or None."""
    try:
        with open(os.environ.get("REFCHAIN_MEMINFO") or "/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def headroom():
    """The Headroom of this process, or None when no limit can be read."""
    sources = cgroup_headroom()
    available = mem_available()
    if available is not None:
        sources.append((available, "MemAvailable %s" % human_bytes(available)))
    return Headroom(sources) if sources else None


# ---- the budget ----------------------------------------------------------------------------


class MemoryBudgetError(MemoryError):
    """refchain refused a capture, dump or fork that would not fit the
    memory left: attributes kind, needed (bytes, an estimate), headroom
    (bytes) and objects (the object count the estimate used)."""

    def __init__(self, message, kind, needed, headroom, objects):
        super().__init__(message)
        self.kind, self.needed, self.headroom, self.objects = kind, needed, headroom, objects


def estimate_objects():
    """(objects, how): how many objects a capture would count now.  The
    last census's count when refchain took one here, scaled up by the
    growth of RSS since (never down); else the blocks pymalloc has handed
    out, about one per object (1.10-1.33 on the bench's heaps, whatever
    their share of gc-tracked objects, 2.4 to 7 objects per tracked one);
    else, with pymalloc off, the gc-tracked objects (counted in C, walking
    the collector's lists: no list of them is built) times
    OBJECTS_PER_TRACKED, for the untracked str, int, bytes, tuples and
    dicts a capture counts too."""
    objects = _refchain._note(_LAST_OBJECTS)
    if objects:
        then = _refchain._note(_LAST_RSS)
        now = rss_bytes()
        scale = max(1.0, now / then) if now and then else 1.0
        return int(objects * scale), "the last census's %d objects%s" % (
            objects, " scaled by RSS growth since (x%.2f)" % scale if scale > 1.0 else "")
    blocks = _refchain._allocated_blocks()
    if blocks:
        return blocks, "%d pymalloc blocks, about one per object" % blocks
    tracked = _refchain._tracked_count()
    return tracked * OBJECTS_PER_TRACKED, "%d gc-tracked objects x %d" % (
        tracked, OBJECTS_PER_TRACKED)


def estimate(kind, objects, values=True, rss=None, pool=0):
    """Bytes `kind` ("census", "capture", "dump", "fork") needs for
    `objects` objects.  A fork dump's child needs a dump's memory plus a
    copy of every page it writes: it takes a reference to every object, so
    every page holding one is copied; RSS (`rss`) bounds that.  In process,
    the `pool` bytes refchain keeps for reuse are resident already and are
    taken off (a fork's child would copy what it writes into them)."""
    if kind not in KINDS:
        raise ValueError("memory budget: unknown kind %r (one of %s)" % (kind, ", ".join(KINDS)))
    if kind in ("census", "capture"):
        return max(0, objects * COST_PER_OBJECT[kind] - pool)
    need = objects * COST_PER_OBJECT["dump" if values else "dump without values"]
    if kind == "fork":
        return need + (rss if rss is not None else 0)
    return max(0, need - pool)


_WHAT = {"census": "a census", "capture": "a capture", "dump": "a dump",
         "fork": "a fork dump's child"}


def check_budget(kind, *, values=True, force=False):
    """Refuse `kind` ("census", "capture", "dump" or "fork") with
    MemoryBudgetError when its estimated memory exceeds the headroom.
    values=False: a dump without values.  force=True checks nothing.
    Returns the estimate in bytes (None when forced or when no limit is
    known)."""
    if kind not in KINDS:
        raise ValueError("memory budget: unknown kind %r (one of %s)" % (kind, ", ".join(KINDS)))
    if force:
        return None
    room = headroom()
    if room is None:
        return None
    objects, how = estimate_objects()
    rss = rss_bytes()
    pool = _refchain._pool_bytes()
    need = estimate(kind, objects, values, rss, pool)
    if need <= room.bytes:
        return need
    ways = ["force=True (the kernel may kill the process instead of raising MemoryError)"]
    if kind != "census":
        ways.append("a census instead (refchain.census(): about %s)"
                    % human_bytes(estimate("census", objects, pool=pool)))
    if kind in ("dump", "fork") and values:
        ways.append("dump(values=False) (about %s)"
                    % human_bytes(estimate(kind, objects, False, rss, pool)))
    message = ("refchain: %s needs about %s for %d objects (estimated from %s) and the "
               "memory left is %s (%s).  Ways out: %s." % (
                   _WHAT[kind], human_bytes(need), objects, how, human_bytes(room.bytes), room,
                   "; ".join(ways)))
    raise MemoryBudgetError(message, kind, need, room.bytes, objects)


def _check_force(force, func):
    if not isinstance(force, bool):
        raise TypeError("%s() argument 'force' must be bool, not %s"
                        % (func, type(force).__name__))


def capture(*, force=False):
    """capture(*, force=False) -> Graph

    Snapshot the whole heap (tracked and untracked objects).  Checks the
    memory budget first: MemoryBudgetError when the capture would not fit
    the memory left (force=True skips the check)."""
    _check_force(force, "capture")
    check_budget("capture", force=force)
    rss = rss_bytes()
    graph = _refchain.capture()
    note_census(len(graph), rss)
    return graph
