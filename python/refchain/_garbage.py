"""Reference cycles and finalizer garbage: what the next collection would
free and why reference counting did not (garbage), what a collection did
free (collect_report), and which types keep forming cycles (cycle_monitor).

Nothing here calls gc.collect() except collect_report(), which exists to."""

import gc
import sys
import types

from refchain import _refchain
from refchain._chains import label_path
from refchain._format import human_bytes, name, runs
from refchain._args import _check_limit
from refchain._safe import _dict_descriptor, _tname, _type_qualname
from refchain._sites import allocation_sites


def _short(name):
    return name.rsplit(".", 1)[-1]


CYCLE_HOPS = 64   # the references of one cycle spelled out, at most


class CycleGroup:
    """Cycles whose members have the same types.  Holds no reference to
    them: the report describes garbage without keeping it alive."""

    __slots__ = ("types", "count", "objects", "bytes", "has_finalizers", "lines", "cycle",
                 "hops")

    def __init__(self, types, count, objects, nbytes, has_finalizers, lines, cycle, hops):
        self.types = types                    # qualified type names, one per member kind
        self.count = count                    # number of cycles
        self.objects = objects                # their members
        self.bytes = nbytes
        self.has_finalizers = has_finalizers  # some member has __del__/tp_finalize/tp_del
        self.lines = lines                    # [(count, "file:line")]
        self.cycle = cycle                    # one cycle: (nodes, edges), see _describe_cycle
        self.hops = hops                      # its length in references

    @property
    def signature(self):
        """'Child ↔ Parent', or 'Node ↺' for cycles of one type (an object
        referring to itself, or Nodes referring to each other).  Each type
        is named once, however many members the cycles have."""
        names = sorted(name(_short(t)) for t in self.types)
        if len(names) == 1:   # one type (and perhaps its instances' __dict__s)
            return names[0] + " ↺"
        return " ↔ ".join(names)

    def path(self):
        """One cycle as text, from a member back to it:
        'Parent → .child Child → .parent Parent'.  A hop repeated n times in
        a row reads 'label Type ×n'; past CYCLE_HOPS references the rest is
        counted, not spelled out."""
        nodes, edges = self.cycle
        if not nodes:
            return ""
        parts = [nodes[0][0]]
        parts.extend(runs("%s %s" % (label, nodes[j][0]) for _, j, label in edges))
        if len(nodes) > len(edges):     # cut after CYCLE_HOPS references
            parts.append("… %d more references" % (self.hops - CYCLE_HOPS))
            parts.append(nodes[0][0])
        return " → ".join(parts)

    def __str__(self):
        text = "%d cycle%s of %s (%d objects, %s)" % (
            self.count, "" if self.count == 1 else "s", self.signature, self.objects,
            human_bytes(self.bytes))
        if self.has_finalizers:
            text += ", with finalizers (__del__)"
        if self.cycle[0]:
            text += ": " + self.path()
        if self.lines:
            text += "; allocated at " + ", ".join("%s (%d)" % (s, n) for n, s in self.lines)
        return text + "."

    def __repr__(self):
        return "<refchain.CycleGroup: %d × %s>" % (self.count, self.signature)


def _describe_cycle(objs, edges, hops, steps=None):
    """Plain data for one cycle, so that a report keeps no object alive.
    objs: the objects along its first references (edges: their edge
    indexes) and the object the last of them leads to; hops: its length.
    Returns nodes [(type name, size)] in cycle order and edges [(i, j,
    label)] between them, the last one back to node 0 unless the cycle was
    cut (an instance's __dict__ is folded into its '.attr' label, as in
    chains).  A snapshot's cycle comes with its steps (labels from the
    file) and SnapNodes for objects."""
    if not edges:
        return [], []
    node = steps is not None
    if steps is None:
        steps = label_path(objs, edges)
    complete = len(edges) == hops
    starts = [0] + [end for end, _ in steps[:-1]]
    if not complete:
        starts.append(len(objs) - 1)
    nodes = [(name(objs[i].tname), objs[i].size) if node else
             (_tname(objs[i]), _refchain._shallow_size(objs[i])) for i in starts]
    return nodes, [(n, 0 if complete and n == len(steps) - 1 else n + 1, label)
                   for n, (_, label) in enumerate(steps)]


def _groups(raw, snap=None):
    """CycleGroups of _garbage's raw groups, or of a snapshot's (`snap`: its
    node ids become SnapNodes, and its file names the references)."""
    groups = []
    for types, cycles, objects, nbytes, finalizers, objs, edges, hops, members in raw:
        steps = None
        if snap is not None:
            lines = snap._sites(members)
            steps = snap._c.labels(tuple(objs), tuple(edges)) if edges else ()
            objs = [snap._node(i) for i in objs]
        else:
            lines = allocation_sites(members)
        cycle = _describe_cycle(objs, edges, hops, steps)
        del members[:], objs[:]
        groups.append(CycleGroup(types, cycles, objects, nbytes, finalizers, lines, cycle,
                                 hops))
    return groups


class GarbageReport:
    """What the next full collection will examine: .object_count objects in
    (or held only by) unreachable cycles, and their cycles grouped by type.
    gc.collect() returns that number unless a finalizer (__del__) keeps
    objects alive: .finalizer_objects of them have one, and a prediction
    cannot run them (collect_report() tells what they resurrected).
    .freed_bytes: what the collection frees in all, the untracked objects
    only the cycles hold (str, bytes, numbers, buffers) included."""

    __slots__ = ("object_count", "groups", "finalizer_objects", "freed_bytes")

    def __init__(self, object_count, groups, finalizer_objects=0, freed_bytes=0):
        self.object_count = object_count
        self.groups = groups
        self.finalizer_objects = finalizer_objects
        self.freed_bytes = freed_bytes

    def __iter__(self):
        return iter(self.groups)

    def __len__(self):
        return len(self.groups)

    def __str__(self):
        if not self.object_count:
            return "Nothing is waiting for the cyclic garbage collector."
        lines = ["The next full gc.collect() would free %d objects (%s in all, with what "
                 "only they hold)%s" % (self.object_count, human_bytes(self.freed_bytes),
                                       "; their cycles:" if self.groups else ".")]
        lines.extend("  " + str(g) for g in self.groups)
        if self.finalizer_objects:
            lines.append("%d of them have a finalizer (__del__), which runs first: if one "
                         "stores a reference to what it reaches somewhere reachable, that "
                         "stays alive and gc.collect() returns fewer than %d; "
                         "collect_report() tells which." % (self.finalizer_objects,
                                                           self.object_count))
        return "\n".join(lines)


def garbage(limit=10):
    """Predict the next full collection without running it: the objects no
    root reaches, and their cycles grouped by type signature (the `limit`
    largest groups).  Collects nothing and keeps nothing alive."""
    limit = _check_limit(limit, "garbage")
    count, raw, finalizers, freed = _refchain._garbage(None, min(limit, sys.maxsize),
                                                       CYCLE_HOPS)
    return GarbageReport(count, _groups(raw), finalizers, freed)


class CollectReport:
    """What one gc.collect() did: .collected objects (its return value),
    their cycles (.groups), the objects a finalizer resurrected
    (.resurrected: [(type name, address)]), and what stayed in gc.garbage
    as uncollectable (.uncollectable: [(type name, reason)])."""

    __slots__ = ("collected", "groups", "resurrected", "uncollectable")

    def __init__(self, collected, groups, resurrected, uncollectable):
        self.collected = collected
        self.groups = groups
        self.resurrected = resurrected
        self.uncollectable = uncollectable

    def __iter__(self):
        return iter(self.groups)

    def __len__(self):
        return len(self.groups)

    def __str__(self):
        lines = ["gc.collect() freed %d objects; their cycles:" % self.collected]
        lines.extend("  " + str(g) for g in self.groups)
        if self.resurrected:
            lines.append("%d objects survived: a finalizer (__del__) resurrected them "
                         "(stored a reference to itself somewhere reachable):"
                         % len(self.resurrected))
            lines.extend("  %s at 0x%x" % (name(t), addr) for t, addr in self.resurrected[:10])
        for typename, reason in self.uncollectable:
            lines.append("uncollectable, left in gc.garbage: %s (%s)" % (name(typename), reason))
        return "\n".join(lines)


def collect_report(limit=10):
    """Run one full gc.collect() and explain it: its cycles grouped as in
    garbage(), what finalizers resurrected, and what stayed uncollectable.
    The collection runs under gc.DEBUG_SAVEALL so that what it found can be
    looked at; gc's debug flags and gc.garbage are restored afterwards, and
    the saved objects are then really freed."""
    limit = _check_limit(limit, "collect_report")
    _, predicted, _, _ = _refchain._garbage(None, sys.maxsize, 0)
    members = [o for group in predicted for o in group[-1]]
    del predicted
    owned = _instance_dicts(members)
    expected = {id(o): _type_qualname(type(o)) for o in members
                if gc.is_tracked(o) and id(o) not in owned}
    del owned
    del members
    flags = gc.get_debug()
    before = len(gc.garbage)
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        collected = gc.collect()
    finally:
        gc.set_debug(flags)
    found = gc.garbage[before:]
    del gc.garbage[before:]
    _, raw, _, _ = _refchain._garbage(found, min(limit, sys.maxsize), CYCLE_HOPS)
    groups = _groups(raw)
    found_ids = {id(o) for o in found}
    resurrected = sorted((typename, addr) for addr, typename in expected.items()
                         if addr not in found_ids)
    # SAVEALL kept the cycles intact: free them for real now.  Anything that
    # lands in gc.garbage this time is uncollectable.
    del found, raw
    gc.collect()
    uncollectable = [(_type_qualname(type(o)), UNCOLLECTABLE) for o in gc.garbage[before:]]
    return CollectReport(collected, groups, resurrected, uncollectable)


def _instance_dicts(objects):
    """ids of the dicts among objects that are another member's __dict__
    (before 3.11 an instance's attributes live in one: it is part of the
    instance, not a finding of its own)."""
    dicts = {id(o) for o in objects if type(o) is dict}
    if not dicts:
        return dicts
    owned = set()
    for o in objects:
        if type(o) is not dict:
            for r in gc.get_referents(o):
                if id(r) in dicts and _instance_dict(o, _dict_descriptor) is r:
                    owned.add(id(r))
    return owned


def _instance_dict(obj, dict_descriptor):
    """obj.__dict__ read through its C descriptor (getattr() could run a
    __getattr__ or a property), or None."""
    desc = dict_descriptor(obj)
    try:
        return desc.__get__(obj) if desc is not None else None
    except Exception:
        return None


# Since Python 3.4 (PEP 442) only a legacy tp_del keeps a cycle uncollectable.
UNCOLLECTABLE = "a legacy tp_del finalizer (a C extension's), which the collector will not call"


class CycleMonitor:
    """Counts collections and freed objects per generation through
    gc.callbacks; every `sample_every`-th collection it also looks at the
    garbage about to be collected and counts the types forming cycles.
    Use as a context manager, or start() and stop()."""

    def __init__(self, sample_every=10, limit=5):
        if isinstance(sample_every, bool) or not isinstance(sample_every, int):
            raise TypeError("sample_every must be an int")
        if sample_every < 0:
            raise ValueError("sample_every must be >= 0 (0: never sample)")
        self.sample_every = sample_every
        self.limit = _check_limit(limit, "cycle_monitor")
        self.collections = [0, 0, 0]
        self.collected = [0, 0, 0]
        self.uncollectable = [0, 0, 0]
        self.samples = 0
        self.cycles = {}            # signature -> cycles seen in samples
        self._seen = 0

    def _callback(self, phase, info):
        gen = min(info.get("generation", 2), 2)
        if phase == "start":
            self._seen += 1
            if self.sample_every and self._seen % self.sample_every == 0:
                self._sample()
            return
        self.collections[gen] += 1
        self.collected[gen] += info.get("collected", 0)
        self.uncollectable[gen] += info.get("uncollectable", 0)

    def _sample(self):
        try:
            report = garbage(self.limit)
        except MemoryError:
            return
        self.samples += 1
        for group in report:
            self.cycles[group.signature] = self.cycles.get(group.signature, 0) + group.count

    def _hooked(self):
        """The indexes of this monitor's callback in gc.callbacks, found by
        identity: `in` and remove() would call the __eq__ of every other
        callback there."""
        return [i for i, cb in enumerate(gc.callbacks)
                if type(cb) is types.MethodType and cb.__self__ is self
                and cb.__func__ is CycleMonitor._callback]

    def start(self):
        if not self._hooked():
            gc.callbacks.append(self._callback)
        return self

    def stop(self):
        for i in reversed(self._hooked()):
            del gc.callbacks[i]
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def __str__(self):
        per_gen = ", ".join("gen%d: %d" % (g, n) for g, n in enumerate(self.collections) if n)
        text = "%d collections (%s) freed %d objects" % (
            sum(self.collections), per_gen or "none", sum(self.collected))
        if self.samples:
            top = sorted(self.cycles.items(), key=lambda kv: (-kv[1], kv[0]))[:self.limit]
            text += "; in %d sampled collections the garbage held: %s" % (
                self.samples, ", ".join("%s (%d cycles)" % kv for kv in top) or "no cycles")
        return text


def cycle_monitor(sample_every=10, limit=5):
    """A CycleMonitor (not started: use `with refchain.cycle_monitor() as m:`)."""
    return CycleMonitor(sample_every, limit)
