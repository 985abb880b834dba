"""The rest of objgraph's public API: typestats, most_common_types,
show_most_common_types, get_new_ids, get_leaking_objects, at, at_addrs and
is_proper_module, with objgraph's signatures, return types and printed
text.  Counts come from one capture and include untracked objects, and
nothing here calls gc.collect(): see docs/objgraph.md for every place
refchain deliberately differs.  A leaf module: it imports only the
extension and the helpers."""

import collections
import gc
import sys
import types

from refchain import _refchain, _safe


# ---- type names -----------------------------------------------------------------------


def type_name(tp, shortnames=True):
    """tp's name as a census names it: its __name__, or module.qualname
    (builtins bare) with shortnames=False."""
    if shortnames:
        return _safe._type_name(tp)
    try:
        module = _safe._class_module(tp)
        qualname = _safe._type_qualname(tp)
    except Exception:
        return _safe._type_name(tp)
    if type(module) is not str or module == "builtins":
        return qualname
    return "%s.%s" % (module, qualname)


def matcher(typename, func):
    """A predicate on types: refchain's (and objgraph's) reading of a type
    name.  A type matches itself; a name with a dot is qualified
    (`builtins.` optional); one without is the class's __name__."""
    if isinstance(typename, type):
        return lambda tp: tp is typename
    if not isinstance(typename, str):
        raise TypeError("%s() argument 'typename' must be str or type, not %s"
                        % (func, type(typename).__name__))
    if "." in typename:
        bare = typename[len("builtins."):] if typename.startswith("builtins.") else None
        return lambda tp: type_name(tp, False) in (typename, bare)
    return lambda tp: _safe._type_name(tp) == typename


def _objects(objects, filter):
    """The objects a count looks at: `objects`, or with a filter and no
    objects, the gc-tracked ones (objgraph's set)."""
    if objects is None:
        objects = gc.get_objects()
    if filter is not None:
        if not callable(filter):
            raise TypeError("argument 'filter' must be callable or None, not %s"
                            % type(filter).__name__)
        objects = [o for o in objects if filter(o)]
    return objects


# ---- counts ---------------------------------------------------------------------------


def typestats(objects=None, shortnames=True, filter=None):
    """{type name: count} over every live object, untracked ones included,
    from one capture; or over `objects` when given.  filter(obj) -> false
    leaves obj out (with no `objects`, a filter sees the gc-tracked objects,
    as in objgraph)."""
    if objects is None and filter is None:
        return {name: stat.count for name, stat in
                _refchain.census(shortnames=bool(shortnames)).items()}
    stats = {}
    for o in _objects(objects, filter):
        name = type_name(type(o), shortnames)
        stats[name] = stats.get(name, 0) + 1
    return stats


def most_common_types(limit=10, objects=None, shortnames=True, filter=None):
    """[(type name, count)], the most numerous first; at most `limit` rows
    (None or 0: all).  See typestats()."""
    stats = sorted(typestats(objects, shortnames=shortnames, filter=filter).items(),
                   key=lambda item: -item[1])     # stable: objgraph's order of ties
    if limit:
        stats = stats[:limit]
    return stats


def show_most_common_types(limit=10, objects=None, shortnames=True, file=None, filter=None):
    """Print most_common_types() as objgraph does: `name count` per line."""
    if file is None:
        file = sys.stdout
    stats = most_common_types(limit, objects, shortnames=shortnames, filter=filter)
    if not stats:
        return
    width = max(len(name) for name, _ in stats)
    for name, count in stats:
        file.write("%-*s %i\n" % (width, name, count))


# ---- new objects ----------------------------------------------------------------------


def get_new_ids(skip_update=False, limit=10, sortby="deltas", shortnames=None, file=None,
                _state={}):
    """objgraph's get_new_ids: {type name: set of id()s} of the objects new
    since the last call, with objgraph's printed table (Old_ids,
    Current_ids, New_ids, Count_Deltas).  skip_update=True returns the last
    answer unchanged.  The baseline lives in `_state` (pass your own dict
    to keep a separate one).  Counts include untracked objects.  The first
    call only sets the baseline: its table counts every object as old and
    current, and no ids are returned (that would hand back every object)."""
    if sortby not in _SORT_COLUMNS:
        raise ValueError("get_new_ids() argument 'sortby' must be one of %s, not %r"
                         % (", ".join(sorted(_SORT_COLUMNS)), sortby))
    if not _state:
        _state.update(census=None, old={}, current={},
                      new=collections.defaultdict(set), shortnames=True)
    new_ids = _state["new"]
    if skip_update:
        return new_ids
    if shortnames is None:
        shortnames = _state["shortnames"]
    else:
        _state["shortnames"] = shortnames = bool(shortnames)
    since = _state["census"]
    now = _refchain.census(shortnames=shortnames)
    fresh = collections.defaultdict(set)
    obj = None
    if since is not None:
        for obj in _refchain.new_objects(since, None):
            fresh[type_name(type(obj), shortnames)].add(id(obj))
        del obj
    current = {name: stat.count for name, stat in now.items()}
    old = _state["current"] if since is not None else current
    _state.update(census=now, old=old, current=current)
    new_ids.clear()
    new_ids.update(fresh)
    rows = []
    for name in set(old) | set(current):
        n_old, n_cur = old.get(name, 0), current.get(name, 0)
        rows.append((name, n_old, n_cur, len(new_ids.get(name, ())), n_cur - n_old))
    column = _SORT_COLUMNS[sortby]
    rows.sort(key=lambda row: (row[column], row[0]), reverse=True)
    if limit is not None:
        rows = rows[:limit]
    if rows:
        _print_table(rows, sys.stdout if file is None else file)
    return new_ids


_SORT_COLUMNS = {"old": 1, "current": 2, "new": 3, "deltas": 4}


def _print_table(rows, file):
    width = max(len(row[0]) for row in rows)
    rule = "=" * (width + 13 * 4)
    print(rule, file=file)
    print("%-*s%13s%13s%13s%13s" % (width, "Type", "Old_ids", "Current_ids", "New_ids",
                                    "Count_Deltas"), file=file)
    print(rule, file=file)
    for name, old, current, new, delta in rows:
        print("%-*s%13d%13d%+13d%+13d" % (width, name, old, current, new, delta), file=file)
    print(rule, file=file)


def get_leaking_objects(objects=None):
    """The objects (of `objects`, or the gc-tracked ones) that no other
    object of the set refers to: candidates for reference-count bugs in C
    code, as objgraph defines them.  No gc.collect() first."""
    if objects is None:
        objects = gc.get_objects()
    try:
        ids = {id(o) for o in objects}
        for o in objects:
            ids.difference_update(id(r) for r in gc.get_referents(o))
        return [o for o in objects if id(o) in ids]
    finally:
        del objects


# ---- addresses ------------------------------------------------------------------------


def at(addr):
    """The live gc-tracked object whose id() is `addr`, or None (objgraph's
    answer) when there is none."""
    try:
        return _refchain.at(addr)
    except ValueError:
        return None


def at_addrs(address_set):
    """The live objects whose id() is in `address_set`, from one capture:
    gc-tracked or not, so every id get_new_ids() reports is found while
    its object lives."""
    return _refchain._at_addrs(list(address_set))


def is_proper_module(obj):
    """Whether obj is a module that sys.modules lists under its name: a root
    of the object graph, for find_backref_chain's predicate.  Reads the
    module's dict; runs no user code."""
    if not _safe._is(obj, types.ModuleType):
        return False
    name = _safe._dict_get(_safe._module_dict(obj), "__name__")
    return type(name) is str and sys.modules.get(name) is obj
