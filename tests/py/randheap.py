"""Random heaps checked against a pure-Python oracle (issue 6, part 3).

Run as a script, in a fresh interpreter with refchain importable:

    python -S randheap.py FIRST COUNT [SIZE [TARGETS [BATCH]]]

Seed k builds a random object graph of SIZE objects (default 100):
instances with a __dict__, with __slots__ and with a __del__, dicts (str,
int and tuple keys), lists, tuples, sets, closures, bound methods, weak
references with and without callbacks, generators (started or not),
coroutines, frames, exceptions with tracebacks, and the cycles random wiring
makes.  A random part of it is kept reachable from the module global ROOT and
the rest is dropped, so its cycles become garbage.

The graphs of BATCH consecutive seeds (default 5) share one heap and are
checked together against oracles built only on gc.get_objects(),
gc.get_referents(), dict keys, frames and sys.getrefcount():

1. census: refchain.census() equals the oracle's walk of the heap, type by
   type, in count and in bytes (sys.getsizeof);
2. chains: for TARGETS random objects per seed (default 2), when ROOT
   reaches the object, find_chain(obj).hops == 2 + the oracle's shortest
   distance from ROOT (module -> its dict -> ROOT -> ...), the root is the
   module, every step is a real reference (gc.get_referents, a dict key, or a
   frame's globals) and the chain ends at obj; when only garbage holds it, the
   chain is "unreachable";
3. garbage, with ROOT alive and again after ROOT is cleared:
   refchain.garbage().object_count equals the objects the collector's own
   algorithm (recomputed in Python from refcounts) finds unreachable; the
   unreachable chains' targets are among them and the reachable ones are
   not; asking garbage() changes no census; and gc.collect() (automatic
   collection is off) finds nothing the oracle did not.

It prints one JSON line per failing batch, then a summary line
`{"seeds": N, "failures": F, ...}` (failures counts batches).
tests/py/test_random_heaps.py runs 200 seeds on every interpreter;
bench/seeds.py runs many more, and bigger heaps.  To look at one seed alone:
`python -S randheap.py SEED 1 100 2 1`.

The driver runs at module level on purpose: the census must see the same
frames as the oracle, so no function frame of the driver may be running (and
holding locals) while either looks.  Everything the oracle creates is left
out of its walk by identity, and every global exists before the first
census, so the module's dict never changes size."""

import collections
import gc
import json
import random
import sys
import weakref

import refchain
from unvisited import lower_bound_ok, unvisited_dict

gc.disable()

# ---- the object kinds ------------------------------------------------------------------


class Plain:
    pass


class Slotted:
    __slots__ = ("a", "b", "c", "__weakref__")


class Finalized:
    def __del__(self):
        pass


class Bound:
    def method(self):
        return self


class _Suspend:
    def __await__(self):
        yield self


def _closure_of(value):
    def inner():
        return value
    return inner


def _generator_of(a, b):
    x = [a]
    yield x
    yield b


async def _coroutine_of(a):
    local = [a]
    await _Suspend()
    return local


def _frame_of(a):
    x = [a]
    return sys._getframe()


def _raiser(depth, payload):
    local = payload
    if depth:
        _raiser(depth - 1, local)
    raise ValueError("random heap")


def _exception_of(payload, depth):
    try:
        _raiser(depth, payload)
    except ValueError as e:
        return e


def _weakref_callback(ref):
    pass


KINDS = ("plain", "plain", "slotted", "finalized", "dict", "dict", "list", "list", "tuple",
         "set", "closure", "method", "weakref", "generator", "coroutine", "frame", "exception")
SLOTS = ("a", "b", "c")


def _pick(rng, objs):
    return rng.choice(objs) if objs else None


def _make(kind, rng, objs):
    if kind == "plain":
        return Plain()
    if kind == "slotted":
        return Slotted()
    if kind == "finalized":
        return Finalized()
    if kind == "dict":
        return {}
    if kind == "list":
        return []
    if kind == "set":
        return set()
    if kind == "tuple":
        return tuple(_pick(rng, objs) for _ in range(rng.randint(0, 3)))
    if kind == "closure":
        return _closure_of(_pick(rng, objs))
    if kind == "method":
        b = Bound()
        if rng.random() < 0.5:
            b.payload = _pick(rng, objs)
        return b.method
    if kind == "weakref":
        target = _pick(rng, objs)
        callback = _weakref_callback if rng.random() < 0.3 else None
        try:
            return weakref.ref(target, callback)
        except TypeError:              # not weakly referenceable: a dead weakref
            return weakref.ref(Plain(), callback)
    if kind == "generator":
        g = _generator_of(_pick(rng, objs), _pick(rng, objs))
        if rng.random() < 0.6:
            next(g)
        return g
    if kind == "coroutine":
        c = _coroutine_of(_pick(rng, objs))
        c.send(None)                   # started: no "never awaited" warning
        return c
    if kind == "frame":
        return _frame_of(_pick(rng, objs))
    if kind == "exception":
        return _exception_of(_pick(rng, objs), rng.randint(0, 2))
    raise AssertionError(kind)


def _wire(o, rng, objs):
    """Add up to three references from o to random objects (itself included)."""
    t = type(o)
    for j in range(rng.randint(0, 3)):
        target = rng.choice(objs)
        if t is Plain or t is Finalized:
            # Attribute names written in the code: refchain guesses the names
            # of inline attributes (3.11+) from code, and reads __dict__
            # otherwise (test_reliability.py checks that case on its own).
            if j == 0:
                o.a0 = target
            elif j == 1:
                o.a1 = target
            else:
                o.a2 = target
        elif t is Slotted:
            setattr(o, SLOTS[j], target)
        elif t is dict:
            key = rng.choice(("k%d" % j, j, (j, "t"), None))
            if key is None:
                key = (j, target)      # a key that refers to the graph
            try:
                o[key] = target
            except TypeError:          # unhashable key
                o["u%d" % j] = target
        elif t is list:
            o.append(target)
        elif t is set:
            try:
                o.add(target)
            except TypeError:
                pass
        elif t is ValueError:
            o.args = (target,)


def build(seed, size):
    """Build the graph of `seed`: part of it into ROOT, the rest dropped
    (its cycles become garbage).  Record what it made in MADE."""
    rng = random.Random(seed)
    objs = []
    for _ in range(size):
        objs.append(_make(rng.choice(KINDS), rng, objs))
    for o in objs:
        _wire(o, rng, objs)
    for o in rng.sample(objs, max(1, size // 25)):
        ROOT.append(o)
    for o in objs:
        if not (type(o) is tuple and not o):   # the empty tuple is the interpreter's
            MADE[id(o)] = type(o).__name__
    # A frame or traceback made above links to this frame through f_back:
    # leave nothing in it.
    del objs, o, rng, seed, size


# ---- the oracles -----------------------------------------------------------------------


def _type_name(t):
    name = t.__module__ + "." + t.__qualname__
    return name[len("builtins."):] if name.startswith("builtins.") else name


def oracle(census, targets):
    # No comprehension here may read a local of this function: before 3.12
    # that makes a cell, an object the census did not see.
    """Walk the heap the way refchain says it does, with no refchain code:
    every gc-tracked object, sys.modules, the builtins, every frame of this
    thread, and (breadth first) everything their gc.get_referents(), dict
    keys and static types' namespaces reach.  Returns (census rows, {target id: distance from ROOT, or
    None when ROOT does not reach it}) for the ids in `targets` that are
    alive, tracked and still of the type build() recorded."""
    if census is None:                  # warming up (see the driver)
        return None
    me = id(sys._getframe())            # not the frame: a reference would be a cycle
    gc.unfreeze()                       # frozen objects (3.12 freezes some at startup) listed too
    start = gc.get_objects()
    start.append(sys.modules)
    start.append(vars(__builtins__) if type(__builtins__) is not dict else __builtins__)
    frame = sys._getframe(1)
    while frame is not None:
        start.append(frame)
        frame = frame.f_back
    seen = {}
    mine = (id(census), me, id(start), id(seen))
    pending = {id(o): o for o in start}
    del start, frame
    get_referents = gc.get_referents
    while pending:
        for m in mine:
            pending.pop(m, None)
        seen.update(pending)
        batch = list(pending.values())
        refs = get_referents(*batch)
        for o in batch:
            if issubclass(type(o), dict):
                refs.extend(dict.keys(o))
            hidden = unvisited_dict and unvisited_dict(o)
            if hidden is not None:
                refs.append(hidden)
            if type(o) is type and not o.__flags__ & 512:   # a static type's namespace
                refs.extend(get_referents(vars(o)))
        pending = {id(r): r for r in refs}
        for k in pending.keys() & seen.keys():
            del pending[k]
    del batch, refs, pending, o, hidden
    objects = list(seen.values())
    by_type = {}
    for t, size in zip(map(type, objects), map(sys.getsizeof, objects)):
        row = by_type.get(t)
        if row is None:
            by_type[t] = [1, size]
        else:
            row[0] += 1
            row[1] += size
    del objects
    rows = {}
    for t, row in by_type.items():
        name = _type_name(t)
        if name in rows:                # two types with one name
            rows[name] = [rows[name][0] + row[0], rows[name][1] + row[1]]
        else:
            rows[name] = row
    del by_type, t, row
    alive = {}
    for tid in targets:
        if tid in seen and type(seen[tid]).__name__ == MADE[tid] and gc.is_tracked(seen[tid]):
            alive[tid] = None
    del seen
    # Distances: breadth first from ROOT, a level at a time.
    frontier, reached, depth = [ROOT], {id(ROOT)}, 0
    while frontier and None in alive.values():
        depth += 1
        level = {id(r): r for r in get_referents(*frontier)}
        new = level.keys() - reached
        reached |= new
        frontier = list(map(level.__getitem__, new))
        for tid in new & alive.keys():
            alive[tid] = depth
    return rows, alive


def _referents(o):
    refs = gc.get_referents(o)
    if issubclass(type(o), dict):
        refs.extend(dict.keys(o))
    if type(o) is type(me_frame):
        refs.append(o.f_globals)
    return refs


def steps_are_references(objects):
    """Every hop of a chain is a reference the heap really has."""
    for a, b in zip(objects, objects[1:]):
        if not any(r is b for r in _referents(a)):
            return "%s -> %s" % (type(a).__name__, type(b).__name__)
    return None


def unreachable_oracle():
    """The ids of the tracked objects the collector's own algorithm finds
    unreachable, computed in Python: an object is held from outside when its
    refcount exceeds the references other tracked objects hold to it (less
    this function's own), and everything such an object reaches is
    reachable.  Unlike gc.collect()'s return value, this does not depend on
    what finalizers free while the collection runs."""
    me = id(sys._getframe())
    objs = gc.get_objects()
    skip = {me, id(objs)}               # (before 3.11 this frame is tracked)
    tracked = set(map(id, objs)) - skip
    sources = [o for o in objs if id(o) not in skip]
    internal = collections.Counter(map(id, gc.get_referents(*sources)))
    del sources
    ids = list(map(id, objs))
    inside = list(map(internal.__getitem__, ids))
    # getrefcount() through map() sees two references of ours: the list's
    # and its argument's.
    refcounts = list(map(sys.getrefcount, objs))
    frontier = []
    for o, i, rc, n in zip(objs, ids, refcounts, inside):
        if rc - 2 > n and i in tracked:
            frontier.append(o)
    o = None
    reached = set(map(id, frontier))
    while frontier:
        level = {id(r): r for r in gc.get_referents(*frontier)}
        new = (level.keys() & tracked) - reached
        reached |= new
        frontier = list(map(level.__getitem__, new))
    return tracked - reached


def garbage_checked(problems, what, unreachable_targets, reachable_targets):
    """Check garbage() against the oracle, and that asking changed nothing;
    then collect.  Returns what gc.collect() returned."""
    # Bind every local first: before 3.13 a capture refreshes this running
    # frame's f_locals snapshot, a dict that grows with each new local.
    expected = before = after = matches = changes = flags = collected = found = None
    expected = unreachable_oracle()
    before = refchain.census()
    # A bool, not the count: an int kept in a local would be a new object.
    matches = refchain.garbage(limit=None).object_count == len(expected)
    after = refchain.census()
    changes = [[r.name, r.delta, r.bytes_delta] for r in after - before
               # before 3.11 a code object run often enough grows an opcache
               if not (OPCACHE and r.name == "code" and r.delta == 0)]
    if not matches:
        problems.append([what, "predicted", refchain.garbage(limit=None).object_count,
                         "oracle", len(expected)])
    if changes:
        problems.append([what, "garbage() changed the heap", changes])
    if not set(unreachable_targets) <= expected or set(reachable_targets) & expected:
        problems.append([what, "chain vs oracle", sorted(set(unreachable_targets) - expected),
                         sorted(set(reachable_targets) & expected)])
    before = after = None
    flags = gc.get_debug()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        collected = gc.collect()
    finally:
        gc.set_debug(flags)
    found = set(id(o) for o in gc.garbage)
    del gc.garbage[:]
    gc.collect()                        # free what SAVEALL kept
    # gc.collect() counts what is still there after finalizers ran: a
    # generator's close() may free part of a cycle first.
    if not found <= expected or collected > len(expected):
        problems.append([what, "gc.collect() found what the oracle did not",
                         len(found - expected), collected, len(expected)])
    return collected


# What build() fills: the part of the graph kept alive, and what it made.
ROOT = []
MADE = {}

# ---- the driver (module level: see the docstring) --------------------------------------
# Only when run as a script: tests/py/snaprand.py imports build() alone.
if __name__ == "__main__":

    # Warm CPython's lazy per-code caches, which would otherwise appear between a
    # census and its oracle: the specialisation cache a code object gets after
    # enough calls (before 3.11: sys.getsizeof(code) grows), and the co_varnames /
    # co_cellvars / co_freevars tuples 3.11+ builds on first access (labelling a
    # frame's reference reads them).
    for _ in range(2000):
        _type_name(int)
        oracle(None, ())
    unreachable_oracle()                    # and the ABC caches Counter() consults
    for _ in list(globals().values()):
        _ = getattr(_, "__code__", None)
        if _ is not None:
            _.co_varnames, _.co_cellvars, _.co_freevars
            for _ in _.co_consts:
                if hasattr(_, "co_varnames"):
                    _.co_varnames, _.co_cellvars, _.co_freevars
    _ = None

    me_frame = sys._getframe()
    OPCACHE = sys.version_info < (3, 11)
    ARGS = [int(a) for a in sys.argv[1:]]
    FIRST, COUNT = ARGS[0], ARGS[1]
    SIZE = ARGS[2] if len(ARGS) > 2 else 100
    N_TARGETS = ARGS[3] if len(ARGS) > 3 else 2
    BATCH = ARGS[4] if len(ARGS) > 4 else 5
    SUMMARY = {"seeds": 0, "failures": 0, "heaps": 0, "objects": 0, "chains": 0,
               "unreachable_chains": 0, "garbage_checks": 0, "garbage_objects": 0}
    # Every global the loop assigns exists before the first census.
    SEEDS = SEED = C = ROWS = TARGETS = OBJ = CHAIN = PROBLEMS = UNREACHABLE = None
    REACHABLE = OURS = DIFF = D = HOPS = BAD = TID = None
    for SEED in range(FIRST, FIRST + COUNT, BATCH):
        SEEDS = list(range(SEED, min(SEED + BATCH, FIRST + COUNT)))
        PROBLEMS = []
        gc.collect()
        for SEED in SEEDS:
            build(SEED, SIZE)

        # 1. census against the oracle's walk
        TARGETS = sorted(MADE)
        random.Random(SEEDS[0]).shuffle(TARGETS)
        TARGETS = TARGETS[:N_TARGETS * len(SEEDS)]
        C = refchain.census()               # nothing may be created from here to the walk
        ROWS, TARGETS = oracle(C, TARGETS)
        OURS = {name: list(stat) for name, stat in C.items()}
        for D in C.items():             # sized as a lower bound: counts agree, bytes at most
            if D[1].bytes_lower_bound and lower_bound_ok(D[0]) and D[0] in ROWS and (
                    OURS[D[0]][0] == ROWS[D[0]][0] and OURS[D[0]][1] <= ROWS[D[0]][1]):
                OURS[D[0]] = ROWS[D[0]]
        DIFF = {name: (OURS.get(name), ROWS.get(name))
                for name in set(OURS) | set(ROWS) if OURS.get(name) != ROWS.get(name)}
        if DIFF:
            PROBLEMS.append(["census", DIFF])
        SUMMARY["objects"] += C.total.count
        C = ROWS = OURS = DIFF = None

        # 2. chains against the oracle's distances
        UNREACHABLE, REACHABLE = [], []
        for TID, D in sorted(TARGETS.items()):
            OBJ = refchain.at(TID)          # the object at this address...
            if id(OBJ) != TID or type(OBJ).__name__ != MADE[TID]:
                PROBLEMS.append(["at", TID, MADE[TID], type(OBJ).__name__])
                OBJ = None
                continue                    # ...checked, so at() cannot fool the test
            CHAIN = refchain.find_chain(OBJ)
            if CHAIN is None:
                PROBLEMS.append(["chain is None", MADE[TID], D])
            elif D is None:
                SUMMARY["unreachable_chains"] += 1
                UNREACHABLE.append(TID)
                if CHAIN.root_kind != "unreachable":
                    PROBLEMS.append(["expected unreachable", MADE[TID], str(CHAIN)])
            else:
                SUMMARY["chains"] += 1
                REACHABLE.append(TID)
                HOPS = CHAIN.hops
                BAD = steps_are_references(CHAIN.objects)
                if (HOPS != 2 + D or CHAIN.root_kind != "module" or CHAIN.objects[-1] is not OBJ
                        or CHAIN.objects[2] is not ROOT or BAD):
                    PROBLEMS.append(["chain", MADE[TID], D, HOPS, CHAIN.root_kind, BAD,
                                     str(CHAIN)])
            CHAIN = OBJ = None
        TARGETS = None

        # 3. garbage, with ROOT alive, then with ROOT gone
        SUMMARY["garbage_objects"] += garbage_checked(PROBLEMS, "garbage", UNREACHABLE, REACHABLE)
        del ROOT[:]
        MADE.clear()
        SUMMARY["garbage_objects"] += garbage_checked(PROBLEMS, "garbage after clearing ROOT", (), ())
        SUMMARY["garbage_checks"] += 2

        SUMMARY["seeds"] += len(SEEDS)
        SUMMARY["heaps"] += 1
        if PROBLEMS:
            SUMMARY["failures"] += 1
            print(json.dumps({"seeds": SEEDS, "problems": PROBLEMS}, default=repr), flush=True)
    print(json.dumps(SUMMARY), flush=True)
