"""leak_check and no_growth: the leak-hunting recipe in one call (warm up,
baseline, loop, diff, find the holder), on refchain's census, its
subtraction, new_objects(since=...) and explain().  The pytest plugin
(refchain.pytest_plugin) checks tests with the same machinery.

A type is reported only when its count grew in every round (CPython's -R
rule): a cache filled once, an interned string or an imported module
grows once and is never reported.  Each census is taken after one full
gc.collect(), so that garbage cycles waiting for the collector are not
counted as alive.

The pytest plugin first freezes what is alive (gc.freeze()), so that
those collections examine only what the checked test made: they cost what
it allocated, not the heap.  Garbage made before the check stays
frozen, uncollected and counted the same in every census, until the check
ends and thaws it; what the checked code makes is collected as usual.
When a type grows in every round, the rounds run again without freezing
(measure()), so a reported leak is always one seen with full collections;
the freeze only makes a clean check cheap.  See _frozen() for when nothing
is frozen."""

import contextlib
import gc

from refchain import _refchain
from refchain._explain import explain
from refchain._format import human_bytes, name as _name
from refchain._objgraph import type_name


def _spec_matches(census_name, spec):
    """Whether a census name (module.qualname, builtins bare) is what spec
    names: a type, a qualified name, or a bare class name."""
    if isinstance(spec, type):
        return census_name == type_name(spec, False)
    if "." in spec:
        return census_name == spec or "builtins." + census_name == spec
    return census_name.rpartition(".")[2] == spec


def _specs(value, what, func):
    if value is None:
        return ()
    if isinstance(value, (str, type)):
        value = (value,)
    value = tuple(value)
    for spec in value:
        if not isinstance(spec, (str, type)):
            raise TypeError("%s() argument '%s' must hold type names or types, not %s"
                            % (func, what, type(spec).__name__))
    return value


def _selected(census_name, types, ignore):
    if types and not any(_spec_matches(census_name, s) for s in types):
        return False
    return not any(_spec_matches(census_name, s) for s in ignore)


def settled_census(ids=True):
    """A census after one full collection: what is alive, not garbage."""
    gc.collect()
    return _refchain.census(ids=ids)


@contextlib.contextmanager
def _frozen():
    """Freeze every tracked object for the block (yields True), or nothing
    (yields False) when objects are frozen already (gc.unfreeze() would
    thaw them too) or when a census would not list frozen objects (an
    interpreter whose collector refchain cannot read in place: they would
    be found only through references)."""
    if gc.get_freeze_count() or not _refchain._sees_frozen():
        yield False
        return
    gc.freeze()
    try:
        yield True
    finally:
        gc.unfreeze()


def _rounds(body, warmup, rounds, types, ignore, stop_early, ids=True):
    # A dict kept per round would itself be a dict more in every round: the
    # rounds keep their CensusDiffs (like a Census, none of the types it
    # counts), made into dicts at the end; the list is made before the
    # first census.  The first census and the last remember their objects:
    # report() explains what is new since the first and still counted by
    # the last, never what this code makes after it (the dicts, lists and
    # names of the answer).
    diffs = []
    for _ in range(warmup):
        body()
    start = prev = settled_census(ids)
    for i in range(rounds):
        body()
        now = settled_census(ids and i == rounds - 1)
        diffs.append(now - prev)
        prev = now
        if stop_early and not grown(diffs[-1], types, ignore):
            break
    per_round = [grown(d, types, ignore) for d in diffs]
    return start, prev, per_round if all(per_round) else [], len(per_round)


def measure(body, warmup, rounds, types=(), ignore=()):
    """The plugin's check: run body() `warmup` times, take a settled census,
    then up to `rounds` rounds of body() each followed by one, stopping at
    the first round that shows no growth.  Returns (start, end, per_round,
    run): the first and the last census, the growth dict of each round
    (empty when some round showed no growth: nothing grew in every round)
    and the number of rounds run.

    The rounds run first with what was alive before frozen (_frozen()).
    When a type grows in every round, they run again unfrozen, and that
    answer stands: an object alive when frozen that became garbage since is
    never collected while frozen, so what it holds would count as alive.
    The frozen rounds' censuses need not remember their objects: their
    answer is never explained.  A clean body's check costs its censuses
    and little more; a leaking one's, twice its rounds."""
    with _frozen() as frozen:
        result = _rounds(body, warmup, rounds, types, ignore, True, ids=not frozen)
    if frozen and result[2]:
        result = _rounds(body, warmup, rounds, types, ignore, True)
    return result


def grown(diff, types=(), ignore=()):
    """{type name: delta} for the selected types whose count rose in diff
    (a CensusDiff)."""
    return {row.name: row.delta for row in diff
            if row.delta > 0 and _selected(row.name, types, ignore)}


class Leak:
    """One type that grew in every round: its total growth, the growth per
    round, the bytes, and the groups explaining what holds the new
    instances (with their allocation lines when tracemalloc traces)."""

    __slots__ = ("typename", "count", "per_round", "bytes", "groups")

    def __init__(self, typename, count, per_round, nbytes, groups):
        self.typename, self.count, self.per_round = typename, count, per_round
        self.bytes, self.groups = nbytes, groups

    def __str__(self):
        lines = ["%s: +%d (%s) in %d round%s (%s)" % (
            _name(self.typename), self.count, human_bytes(self.bytes, sign=True),
            len(self.per_round), "" if len(self.per_round) == 1 else "s",
            ", ".join("+%d" % d for d in self.per_round))]
        lines += ["  " + str(g) for g in self.groups]
        return "\n".join(lines)

    def __repr__(self):
        return "<refchain.Leak: %s +%d>" % (_name(self.typename), self.count)


class LeakCheckReport:
    """What leak_check() (or no_growth, or the pytest plugin) found: the
    types that grew in every round, each with its holders.  False when
    nothing leaked; iterate it for the Leak of each type; str() prints it."""

    __slots__ = ("title", "leaks", "rounds")

    def __init__(self, title, leaks, rounds):
        self.title, self.leaks, self.rounds = title, leaks, rounds

    def __bool__(self):
        return bool(self.leaks)

    def __len__(self):
        return len(self.leaks)

    def __iter__(self):
        return iter(self.leaks)

    def summary(self):
        """One line per leaked type: `3 Session: held through ...; allocated at ...`."""
        out = []
        for leak in self.leaks:
            if leak.groups:
                g = leak.groups[0]
                text = "%d %s: held through %s" % (leak.count, _name(leak.typename), g.path())
                if g.lines:
                    text += "; allocated at " + ", ".join(site for _, site in g.lines)
                out.append(text)
            else:
                out.append("%d %s" % (leak.count, _name(leak.typename)))
        return out

    def __str__(self):
        if not self.leaks:
            return "%s: no type grew in every one of %d round%s." % (
                self.title, self.rounds, "" if self.rounds == 1 else "s")
        head = "%s: %d type%s grew in every one of %d round%s:" % (
            self.title, len(self.leaks), "" if len(self.leaks) == 1 else "s", self.rounds,
            "" if self.rounds == 1 else "s")
        return "\n".join([head] + [str(leak) for leak in self.leaks])

    def __repr__(self):
        return "<refchain.LeakCheckReport: %d leaked type%s>" % (
            len(self.leaks), "" if len(self.leaks) == 1 else "s")


def report(title, start, end, per_round, rounds, limit=5):
    """A LeakCheckReport of `rounds` rounds for the types in every
    per_round dict (the deltas of each round), explained by what holds the
    instances new since `start` (a Census) that `end`, the last census,
    counted too: what this code made after it (per_round's dicts, the
    lists and names below) is refchain's, never a leak or a holder.  Both
    censuses remember their objects."""
    if not per_round:
        return LeakCheckReport(title, [], rounds)
    names = set(per_round[0])
    for deltas in per_round[1:]:
        names &= set(deltas)
    total = {row.name: row for row in end - start}
    leaks = []
    for typename in sorted(names, key=lambda n: (-total[n].delta if n in total else 0, n)):
        row = total.get(typename)
        count = row.delta if row is not None else sum(d[typename] for d in per_round)
        new = _refchain.new_objects(start, typename, end)
        # Garbage is no leak: the next collection frees it (the report's
        # own work makes some).
        groups = [g for g in (explain(new, limit) if new else [])
                  if g.root_kind != "unreachable"]
        del new
        for g in groups:
            g.typename = typename
        leaks.append(Leak(typename, count, [d[typename] for d in per_round],
                          row.bytes_delta if row is not None else 0, groups))
    return LeakCheckReport(title, leaks[:limit] if limit else leaks, rounds)


def _check_count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("leak_check() argument '%s' must be int, not %s"
                        % (name, type(value).__name__))
    if value < minimum:
        raise ValueError("leak_check() argument '%s' must be >= %d, got %d"
                         % (name, minimum, value))
    return value


def leak_check(fn, *, rounds=5, warmup=2, calls_per_round=100, types=None, ignore=None,
               limit=5):
    """Call fn() `warmup` rounds, take a census, then `rounds` rounds of
    `calls_per_round` calls each with a census after each round (every
    census after a gc.collect()).  Returns a LeakCheckReport of the types
    whose count grew in every round, each with what holds its new
    instances and where they were allocated; false when nothing leaked.
    `types` limits the check to these types, `ignore` leaves these out
    (type names or types)."""
    if not callable(fn):
        raise TypeError("leak_check() argument 'fn' must be callable, not %s"
                        % type(fn).__name__)
    rounds = _check_count(rounds, "rounds", 1)
    warmup = _check_count(warmup, "warmup", 0)
    calls_per_round = _check_count(calls_per_round, "calls_per_round", 1)
    types, ignore = _specs(types, "types", "leak_check"), _specs(ignore, "ignore", "leak_check")

    def calls():
        for _ in range(calls_per_round):
            fn()

    # Unfrozen, unlike measure(): a leak_check() is run to find a leak, and
    # a leak makes the frozen rounds run twice.
    start, end, per_round, run = _rounds(calls, warmup, rounds, types, ignore, False)
    title = "leak_check(%s)" % _name(getattr(fn, "__qualname__", None) or type(fn).__name__)
    return report(title, start, end, per_round, run, limit)


class no_growth:
    """`with refchain.no_growth(types=..., ignore=...):` raises
    AssertionError, with leak_check()'s text, when the block leaves more
    objects of a selected type alive than there were before it (each count
    taken after a gc.collect()).  Without `types`, every type is checked:
    name the types you care about, or `ignore` the ones the block may
    create once (a block runs once, so there are no rounds to tell a
    cache filled once from a leak)."""

    def __init__(self, types=None, ignore=None):
        self.types = _specs(types, "types", "no_growth")
        self.ignore = _specs(ignore, "ignore", "no_growth")
        self._start = None
        self.report = None

    def __enter__(self):
        self._start = settled_census()
        return self

    def __exit__(self, exc_type, exc, tb):
        start, self._start = self._start, None
        if exc_type is not None:
            return False
        end = settled_census()
        deltas = grown(end - start, self.types, self.ignore)
        self.report = report("no_growth", start, end, [deltas] if deltas else [], 1)
        if self.report:
            raise AssertionError(str(self.report))
        return False
