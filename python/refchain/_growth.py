"""show_growth and friends: objgraph's leak-hunting calls, counting every
object (untracked ones included), with tracemalloc's allocation lines."""

import sys

from refchain import _refchain
from refchain._args import _check_bool, _check_limit
from refchain._explain import _groups, _retaining_text
from refchain._format import growth_lines, name
from refchain._objgraph import matcher, typestats
from refchain._sites import TRACEMALLOC_HINT, allocation_sites, tracing as _tracing

# The highest count seen per type (one Census per naming), and the census
# point: the last growth()/show_growth() capture, which remembers object
# identities so that new_objects() can tell new from old.  Census objects are
# the tool's own: captures leave them out, so holding them is not growth.
_peaks = {True: None, False: None}
_point = None


def _step(limit, shortnames, with_objects):
    """Capture once; return (commit, rows, objects_by_name).  Nothing moves
    until commit() is called, so a report that fails to print loses no
    baseline."""
    peaks, point, diff, objects = _refchain._growth(
        _peaks[shortnames], _point, shortnames, min(limit, sys.maxsize), with_objects
    )

    def commit():
        global _point
        _peaks[shortnames] = peaks
        _point = point

    return commit, list(diff)[:limit], objects


def growth(limit=10, peak_stats=None, shortnames=True, filter=None):
    """The types whose count rose above their previous peak since the last
    call, as (name, count, delta) tuples, largest delta first.  The first
    call sets the baseline (every type counts as growth from zero).

    objgraph's arguments, in its order: peak_stats, a dict of type name ->
    peak count, is used and updated instead of refchain's own baseline;
    filter(obj) -> false leaves obj out (then only gc-tracked objects are
    seen, as in objgraph: calling a predicate on every str and int would
    cost more than the question)."""
    limit = _check_limit(limit, "growth")
    _check_bool(shortnames, "shortnames", "growth")
    if peak_stats is None and filter is None:
        commit, rows, _ = _step(limit, shortnames, False)
        commit()
        return [(r.name, r.count, r.delta) for r in rows]
    return _dict_growth(limit, peak_stats, shortnames, filter, "growth")


# growth(filter=...)'s baseline when no peak_stats is given, per naming.
_filtered_peaks = {True: {}, False: {}}


def _dict_growth(limit, peak_stats, shortnames, filter, func):
    """objgraph's growth on a dict of peaks (no gc.collect())."""
    if peak_stats is None:
        peak_stats = _filtered_peaks[shortnames]
    elif not isinstance(peak_stats, dict):
        raise TypeError("%s() argument 'peak_stats' must be a dict or None, not %s"
                        % (func, type(peak_stats).__name__))
    stats = typestats(shortnames=shortnames, filter=filter)
    deltas = []
    for name, n in stats.items():
        old = peak_stats.get(name, 0)
        if n > old:
            deltas.append((name, n, n - old))
            peak_stats[name] = n
    deltas.sort(key=lambda row: (-row[2], row[0]))
    return deltas[:limit]


def show_growth(limit=10, peak_stats=None, shortnames=True, file=None, filter=None, *,
                holders=False):
    """Print the types whose count rose above their previous peak since the
    last call: name, count, +delta and the byte delta.  Under each, when
    tracemalloc is tracing, the top allocation lines of the new instances.
    The first call sets the baseline.  Prints nothing when nothing grew.

    holders=True adds, under each type, the largest holder of its new
    objects and what that holder retains (what fixing it would free), and
    how many are garbage when more are than it holds: one capture and
    dominator tree more, as leaks() takes.

    objgraph's arguments, in its order: with peak_stats or filter (see
    growth()) the rows are objgraph's (name, count, +delta), with no bytes
    and no allocation lines."""
    limit = _check_limit(limit, "show_growth")
    _check_bool(shortnames, "shortnames", "show_growth")
    _check_bool(holders, "holders", "show_growth")
    if holders and (peak_stats is not None or filter is not None):
        raise ValueError("show_growth(holders=True) needs refchain's own baseline: "
                         "not with peak_stats or filter")
    if file is None:
        file = sys.stdout
    elif not callable(getattr(file, "write", None)):
        raise TypeError("show_growth() argument 'file' must have a write() method")
    if peak_stats is not None or filter is not None:
        rows = _dict_growth(limit, peak_stats, shortnames, filter, "show_growth")
        if rows:
            width = max(len(name(n)) for n, _, _ in rows)
            file.write("".join("%-*s%9d %+9d\n" % (width, name(n), c, d) for n, c, d in rows))
        return
    tracing = _tracing()
    since = _point
    commit, rows, objects = _step(limit, shortnames, tracing)
    held = _holders(since, rows, shortnames) if holders and rows and since is not None else {}
    lines = []
    for row, line in zip(rows, growth_lines(rows)):
        lines.append(line)
        if objects:
            for n, site in allocation_sites(objects.get(row.name, ())):
                lines.append("    +%d at %s" % (n, site))
        if row.name in held:
            lines.append(held[row.name])
    del objects
    if rows and not tracing:
        lines.append(TRACEMALLOC_HINT)
    if lines:
        file.write("\n".join(lines) + "\n")
    commit()


def _holders(since, rows, shortnames):
    """{row name: "    held by PATH, which retains N"} for the growth rows
    (with how many it holds and how many are garbage, when that is more):
    per type, the group holding the most of its objects new since the
    census point `since` (the growth the row reports; of leaks()' groups,
    which come largest retained first), and what its holder retains."""
    # The rows' own types, each with its largest groups: the group holding
    # the most of its new objects may not be the one retaining most.
    raw = _refchain._explain(tuple(row.name for row in rows), None, since,
                             max(2 * len(rows), 10), True)
    held = {}
    for typename, new, _, groups, _, _ in raw:
        key = typename if not shortnames else typename.rpartition(".")[2]
        # A group is (count, bytes, chain, members, retained bytes, ...).
        # The largest a root reaches: objects that only garbage holds (the
        # next gc.collect() frees them) have no holder to fix.
        if key in held:
            continue
        group, garbage = None, 0
        for raw_group in sorted(groups, key=lambda g: (g[0], g[4] or 0), reverse=True):
            g = _groups([raw_group], typename)[0]
            if g.root_kind == "unreachable":
                garbage += g.count
            elif group is None and g.holder_retained_bytes is not None:
                group = g
        # More garbage than the holder holds: say so, or the holder would
        # read as the whole growth's.  The counts are of the new objects
        # since the census point, which the row's net change may not show.
        shown = garbage > (group.count if group is not None else 0)
        text = None
        if group is not None:
            text = "    held by %s%s, which retains %s" % (
                group.path(holder=True),
                " (%d of its %d new objects)" % (group.count, new) if shown else "",
                _retaining_text(group.holder_retained_bytes, group.holder_retained_count))
        if shown:
            what = "all %d new objects" % new if garbage == new else \
                "%d of its %d new objects" % (garbage, new)
            text = ("%s; %d" % (text, garbage) if text else "    " + what) + \
                " are garbage the next gc.collect() frees (see garbage())"
        if text:
            held[key] = text
    return held


def count(typename, objects=None):
    """How many live objects have this type (objgraph's meaning: a name with
    a dot is qualified, `mod.Class`; without, it is the class's __name__; a
    type object matches itself), untracked objects included.  With
    `objects` (objgraph's keyword), count among those objects only."""
    if objects is None:
        return _refchain.count(typename)
    match = matcher(typename, "count")
    return sum(1 for o in _iterable(objects, "count") if match(type(o)))


def by_type(typename, objects=None):
    """The live objects of this type, as a list (see count()).  With
    `objects`, those of `objects` that have this type."""
    if objects is None:
        return _refchain.by_type(typename)
    match = matcher(typename, "by_type")
    return [o for o in _iterable(objects, "by_type") if match(type(o))]


def _iterable(objects, func):
    try:
        return iter(objects)
    except TypeError:
        raise TypeError("%s() argument 'objects' must be an iterable of objects, not %s"
                        % (func, type(objects).__name__)) from None


def new_objects(typename=None, since=None):
    """The objects that appeared since a census point: `since` (a Census from
    refchain.census()), or else the last growth()/show_growth() call.  An
    object counts as new when no object of its type lived at its address
    then."""
    if since is None:
        since = _point
        if since is None:
            raise ValueError(
                "new_objects() needs a census point: call show_growth() or growth() "
                "first, or pass since=refchain.census()"
            )
    return _refchain.new_objects(since, typename)
