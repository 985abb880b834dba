"""explain, show_explain and leaks: many instances explained at once, grouped
by the path that retains them."""

import collections
import sys

from refchain import _refchain, _render
from refchain._chains import any_thread, type_name
from refchain._format import human_bytes, name, positional, runs
from refchain._args import _check_limit
from refchain._safe import _is, _tname, _type_name
from refchain._sites import TRACEMALLOC_HINT, allocation_sites, tracing


# refchain/graph.h's RC_TYPE_COLLECTION and RC_TYPE_LRU_CACHE.
_TYPE_COLLECTION, _TYPE_LRU_CACHE = 1 << 1, 1 << 3


class Group:
    """Instances retained along the same path: the same root and the same
    sequence of (type, label), with dict keys and indexes collapsed to [*],
    a reference nothing names to <referent #*>, and a hop repeated back to
    back (a linked list's .next) read once.  The
    representative chain is the shallowest member's."""

    __slots__ = ("typename", "count", "bytes", "chain", "lines", "retained_bytes",
                 "retained_count", "_holder_at", "holder_retained_bytes",
                 "holder_retained_count")

    def __init__(self, typename, count, nbytes, chain, lines, retained_bytes=None,
                 retained_count=None, holder=(None, None, None)):
        self.typename = typename
        self.count = count
        self.bytes = nbytes
        self.chain = chain       # one representative refchain.Chain
        self.lines = lines       # [(count, "file:line")], most frequent first
        # What the members retain together: what would be freed if the
        # reference they share went (members under members counted once).
        self.retained_bytes = retained_bytes
        self.retained_count = retained_count
        # The holder: where the members' paths part, the deepest object on
        # every member's chain (a lone member: its nearest collection, else
        # the object before it), and what it retains: what fixing it would
        # free.  None when the representative is a root or unreached.
        has_holder = len(chain.steps) >= 1 and chain.root_kind != "unreachable"
        self._holder_at, self.holder_retained_bytes, self.holder_retained_count = \
            holder if has_holder else (None, None, None)

    @property
    def root_kind(self):
        return self.chain.root_kind

    @property
    def holder(self):
        """The object that holds the group (see holder_retained_bytes), or None."""
        if self._holder_at is None:
            return None
        return self.chain.objects[self._holder_at]

    def _step_places(self):
        """Each step's object's index in chain.objects, which also lists
        what the steps fold away (a namespace, a threading.local's
        per-thread dicts)."""
        objects, at = self.chain.objects, 0
        for obj, _ in self.chain.steps:
            while objects[at] is not obj:
                at += 1
            yield at

    def step_labels(self):
        """The label each step of the representative chain reads in the
        group's path: a reference known by its place folded (`[*]`,
        `<referent #*>`), and a data dict's key or a collection's item
        folded into `[*]` past the holder.  Up to the holder every member's
        chain runs along the same references (a chain is the BFS tree's
        path), so the keys there are every member's, and a lone member's
        are its own all the way."""
        node = getattr(self.chain, "_snap", None) is not None
        shared = len(self.chain.objects) if self.count == 1 else \
            -1 if self._holder_at is None else self._holder_at
        labels = []
        parent = self.chain.root
        for (obj, label), at in zip(self.chain.steps, self._step_places()):
            folded = positional(label)
            if folded:
                label = folded
            elif at > shared and (_node_varies(parent) if node else _varies(parent)) and \
                    (label.startswith("[") or label == "member"):
                label = "[*]"
            else:
                label = any_thread(label, parent, node)
            labels.append(label)
            parent = obj
        return labels

    def path(self, holder=False):
        """The retention path with keys and indexes collapsed: the group's
        signature as text.  holder=True: the path to the holder only."""
        if self.chain.root_kind == "unreachable":
            return "unreachable (held only by garbage the next gc.collect() frees)"
        node = getattr(self.chain, "_snap", None) is not None
        steps = ["%s %s" % (label, type_name(obj, node))
                 for (obj, _), label in zip(self.chain.steps, self.step_labels())]
        if holder and self._holder_at is not None:
            # The steps up to the holder.  chain.objects also lists what the
            # steps fold away (a namespace, a threading.local's per-thread
            # dicts): a folded holder ends the path at the step before it.
            steps = steps[:sum(1 for at in self._step_places() if at <= self._holder_at)]
        return " → ".join([self.chain.root_description] + list(runs(steps)))

    def __str__(self):
        text = "%d %s (%s%s), held through %s" % (
            self.count, name(self.typename), human_bytes(self.bytes),
            _retaining(self.count, self.bytes, self.retained_count, self.retained_bytes,
                       self.chain.root_kind == "unreachable"),
            self.path())
        if self.lines:
            text += "; allocated at " + ", ".join(
                "%s (%d)" % (site, n) for n, site in self.lines)
        return text + "."

    def __repr__(self):
        return "<refchain.Group: %d %s via %s root>" % (self.count, name(self.typename),
                                                       self.root_kind)

    def _repr_svg_(self):
        return _render.render_groups([self], "svg").decode("utf-8")


def _retaining_text(retained_bytes, retained_count):
    """'1.2 MiB in 2,500 objects'."""
    return "%s in {:,} object%s".format(retained_count) % (
        human_bytes(retained_bytes), "" if retained_count == 1 else "s")


def _retaining(count, nbytes, retained_count, retained_bytes, unreachable=False):
    """'; retaining 1.2 MiB in 2,500 objects' when what the objects retain
    together is not just themselves ('' when unknown or unreachable)."""
    if retained_count is None or unreachable or \
            (retained_count, retained_bytes) == (count, nbytes):
        return ""
    return "; retaining " + _retaining_text(retained_bytes, retained_count)


# The C types whose entries vary as a collection's do, told by name as the
# capture tells them (walker/capture.c): the lru_cache wrapper, and the
# nodes of a contextvars.Context's HAMT.
_VARYING_TYPE_NAMES = frozenset(("_lru_cache_wrapper", "hamt_bitmap_node", "hamt_array_node",
                                 "hamt_collision_node"))


def _node_varies(parent):
    """_varies() of a snapshot's object (SnapNode), from its type's flags."""
    return bool(parent.type_flags & (_TYPE_COLLECTION | _TYPE_LRU_CACHE))


def _varies(parent):
    """Whether the keys or indexes under parent differ from one member of a
    group to the next (a data collection, an lru_cache), as opposed to the
    names of a module's globals or an object's attributes."""
    return _is(parent, (dict, list, tuple, set, frozenset, collections.deque)) or \
        _tname(parent) in _VARYING_TYPE_NAMES


def _groups(raw, typename):
    groups = []
    for count, nbytes, chain, members, rbytes, rcount, holder in raw:
        lines = allocation_sites(members)
        del members[:]
        groups.append(Group(typename, count, nbytes, chain, lines, rbytes, rcount, holder))
    return groups


class Groups(list):
    """explain()'s answer: the Groups kept, largest first (a list), and
    what they were cut from: .total_count objects of .total_bytes bytes in
    .total_groups groups."""

    def __init__(self, groups, total_count, total_bytes, total_groups):
        list.__init__(self, groups)
        self.total_count = total_count
        self.total_bytes = total_bytes
        self.total_groups = total_groups

    def left_out(self):
        """'... and 198 more (6.2 KiB) in 198 smaller groups' when the limit
        left groups out, else None."""
        groups = self.total_groups - len(self)
        if groups <= 0:
            return None
        rest = self.total_count - sum(g.count for g in self)
        return "... and %d more (%s) in %d smaller group%s" % (
            rest, human_bytes(self.total_bytes - sum(g.bytes for g in self)), groups,
            "" if groups == 1 else "s")


def _selector(what):
    """(selector, objects) for _refchain._explain()."""
    if isinstance(what, (str, type)):
        return what, None
    try:
        return None, list(what)
    except TypeError:
        raise TypeError("explain() argument must be a type name, a type or an iterable of "
                        "objects, not %s" % type(what).__name__) from None


def explain(what, limit=5):
    """Group the live instances of `what` (a type name, a type, or an iterable
    of objects) by the path that retains them.  Returns the `limit` Groups
    retaining the most bytes (then the most numerous), largest first, as a
    list (Groups: .total_count, .total_bytes, .total_groups say what the
    limit cut them from); each
    has .count, .bytes, .retained_bytes and .retained_count (what its
    members retain together), .holder and what it retains, .lines
    (allocation sites, when tracemalloc traces) and one representative
    .chain."""
    limit = _check_limit(limit, "explain")
    selector, objects = _selector(what)
    if isinstance(what, type):
        typename = _type_name(what)
    elif isinstance(what, str):
        typename = what
    else:
        typename = _common_type_name(objects)
    count, nbytes, n_groups, raw = _refchain._explain(selector, objects, None,
                                                      min(limit, sys.maxsize), False,
                                                      what if objects is not None else None)
    del objects
    return Groups(_groups(raw, typename), count, nbytes, n_groups)


def _common_type_name(objects):
    """The name of the type every one of objects has (compared with `is`:
    no metaclass __eq__ runs), else "objects"."""
    first = type(objects[0]) if objects else None
    for obj in objects:
        if type(obj) is not first:
            return "objects"
    return _type_name(first) if first is not None else "objects"


def show_explain(what, limit=5, file=None, filename=None):
    """Print explain(what, limit): one paragraph per group.  `what` may also
    be explain()'s list of Groups.  With a filename, draw the groups instead,
    as one collapsed graph with "× N" on the repeated hops, into that file
    (its extension picks the format: .svg, .png, .pdf, .dot or .gv), and
    return the path."""
    if filename is not None:
        path = _render._target(filename, "show_explain")[0]
        groups = what if isinstance(what, (list, tuple)) and all(
            isinstance(g, Group) for g in what) and what else explain(what, limit)
        return _render.show_groups(groups, path)
    if file is None:
        file = sys.stdout
    elif not callable(getattr(file, "write", None)):
        raise TypeError("show_explain() argument 'file' must have a write() method")
    groups = what if isinstance(what, (list, tuple)) and all(
        isinstance(g, Group) for g in what) and what else explain(what, limit)
    _write_groups(groups, file)


def _write_groups(groups, file, hint=None):
    """Write the groups; then, when they have no allocation lines, `hint`
    (the live process's when None: whether tracemalloc traces)."""
    lines = [str(g) for g in groups] or ["(nothing to explain)"]
    rest = groups.left_out() if isinstance(groups, Groups) else None
    if rest:
        lines.append(rest)
    if hint is None:
        hint = "" if tracing() else TRACEMALLOC_HINT
    if groups and hint:
        lines.append(hint)
    file.write("\n".join(lines) + "\n")


class LeakRow(tuple):
    """One type of a LeakReport: (typename, count, bytes, [Group]), and
    what its new objects retain together (retained_bytes, retained_count)."""

    def __new__(cls, typename, count, nbytes, groups, retained_bytes=None,
                retained_count=None):
        row = tuple.__new__(cls, (typename, count, nbytes, groups))
        row.retained_bytes = retained_bytes
        row.retained_count = retained_count
        return row


class LeakReport:
    """What appeared since a census point, by type, each type explained:
    the types whose new objects retain the most first."""

    __slots__ = ("types",)

    def __init__(self, types):
        self.types = [t if isinstance(t, LeakRow) else LeakRow(*t) for t in types]

    def __iter__(self):
        return iter(self.types)

    def __len__(self):
        return len(self.types)

    def __str__(self):
        if not self.types:
            return "(nothing new since the census)"
        out = []
        for row in self.types:
            typename, count, nbytes, groups = row
            out.append("%s: +%d new (%s%s)" % (
                name(typename), count, human_bytes(nbytes),
                _retaining(count, nbytes, row.retained_count, row.retained_bytes)))
            out.extend("  " + str(g) for g in groups)
            rest = count - sum(g.count for g in groups)
            if rest > 0:
                out.append("  ... and %d more (%s) in smaller groups" % (
                    rest, human_bytes(nbytes - sum(g.bytes for g in groups))))
        return "\n".join(out)


def leaks(since, limit=5):
    """The objects new since `since` (a Census from refchain.census()),
    grouped by type (the `limit` types with the most new objects) and each
    type explained (its `limit` largest groups)."""
    if not isinstance(since, _refchain.Census):
        raise TypeError("leaks() argument 'since' must be a refchain.Census, not %s"
                        % type(since).__name__)
    limit = _check_limit(limit, "leaks")
    raw = _refchain._explain(None, None, since, min(limit, sys.maxsize), True)
    return LeakReport([LeakRow(typename, count, nbytes, _groups(groups, typename), rb, rc)
                       for typename, count, nbytes, groups, rb, rc in raw])
