"""Random heaps: refchain.retained() against a pure-Python oracle (issue 15).

Run as a script, in a fresh interpreter with refchain importable:

    python -S domheap.py FIRST COUNT [SIZE]

Seed k builds a random graph of SIZE objects (default 60) under the module
global ROOT: instances with a __dict__ and with __slots__, dicts (keys made
at run time, ints, tuples), lists, tuples, sets, weak references (with and
without callbacks) and bytearray payloads, wired at random, cycles
included.  A few objects are also held by the module global HELD, so they
are roots of their own.  For each of them refchain.retained() is asked
first, while the script holds nothing else of the graph.

The oracle then walks the graph with gc.get_referents() (dict entries as
their keys and values), stopping at classes: U is everything ROOT reaches.
Its roots are ROOT and every member whose reference count exceeds the
references other members hold (something outside holds it: HELD, an
interned name, a class).  What x retains is what those roots reach no
more once x is removed; its bytes are sys.getsizeof's.

It prints one JSON line per disagreement, then a summary line
`{"seeds": N, "checked": C, "failures": F}`.  The driver runs at module
level so that no function frame holds any of the graph while refchain
looks."""

import gc
import json
import random
import sys
import weakref

import refchain

gc.disable()


class Plain:
    pass


class Slotted:
    __slots__ = ("a", "b", "c", "__weakref__")


def _callback(ref):
    pass


KINDS = ("plain", "plain", "slotted", "dict", "dict", "list", "list", "tuple", "set",
         "weakref", "payload", "payload")


def _make(kind, rng, objs):
    if kind == "plain":
        return Plain()
    if kind == "slotted":
        return Slotted()
    if kind == "dict":
        return {}
    if kind == "list":
        return []
    if kind == "set":
        return set()
    if kind == "tuple":
        return tuple(rng.choice(objs) for _ in range(rng.randint(0, 3)) if objs)
    if kind == "weakref":
        target = rng.choice(objs) if objs else None
        try:
            return weakref.ref(target, _callback if rng.random() < 0.3 else None)
        except TypeError:
            return weakref.ref(Plain())
    return bytearray(rng.randint(1, 200))


def _wire(o, rng, objs):
    t = type(o)
    for j in range(rng.randint(0, 3)):
        target = rng.choice(objs)
        if t is Plain:
            if j == 0:
                o.a0 = target
            elif j == 1:
                o.a1 = target
            else:
                o.a2 = target
        elif t is Slotted:
            setattr(o, ("a", "b", "c")[j], target)
        elif t is dict:
            key = rng.choice(("k%d" % rng.randint(0, 9), 1000 + rng.randint(0, 99), (j, "t")))
            try:
                o[key] = target
            except TypeError:
                pass
        elif t is list:
            o.append(target)
        elif t is set:
            try:
                o.add(target)
            except TypeError:
                pass


def build(seed, size):
    rng = random.Random(seed)
    objs = []
    for _ in range(size):
        objs.append(_make(rng.choice(KINDS), rng, objs))
    for o in objs:
        _wire(o, rng, objs)
    ROOT.append([])     # the probe: held by ROOT alone
    ROOT.extend(rng.sample(objs, max(1, size // 10)))
    HELD.extend(rng.sample(objs, 4))
    del objs, o, rng


def _edges(o):
    if type(o) is dict:
        return list(o.keys()) + list(o.values())
    if isinstance(o, type):
        return []
    return gc.get_referents(o)


def oracle():
    """({id: [edge ids]}, {id: size}, root ids) of U."""
    seen = {id(ROOT): ROOT}
    frontier = [ROOT]
    while frontier:
        nxt = []
        for o in frontier:
            for r in _edges(o):
                if id(r) not in seen:
                    seen[id(r)] = r
                    nxt.append(r)
        frontier = nxt
    del frontier, nxt, o, r
    edges = {i: [id(r) for r in _edges(o)] for i, o in seen.items()}
    indeg = {}
    for targets in edges.values():
        for t in targets:
            indeg[t] = indeg.get(t, 0) + 1
    counts = {i: sys.getrefcount(o) for i, o in seen.items()}
    # Our own references (seen's value, the loop variable, getrefcount's
    # argument: how many depends on the version) are measured on the probe,
    # which only ROOT holds.
    ours = counts[id(ROOT[0])] - indeg[id(ROOT[0])]
    roots = {i for i in seen if counts[i] - ours > indeg.get(i, 0)}
    roots.add(id(ROOT))
    sizes = {i: sys.getsizeof(o) for i, o in seen.items()}
    return edges, sizes, roots


def reach(edges, roots, removed):
    got = {r for r in roots if r != removed}
    frontier = list(got)
    while frontier:
        nxt = []
        for u in frontier:
            for v in edges[u]:
                if v != removed and v not in got:
                    got.add(v)
                    nxt.append(v)
        frontier = nxt
    return got


first, count = int(sys.argv[1]), int(sys.argv[2])
size = int(sys.argv[3]) if len(sys.argv) > 3 else 60
checked = failures = more = 0
ROOT, HELD, ANSWERS = [], [], []
X = None
for seed in range(first, first + count):
    build(seed, size)
    gc.collect()
    for X in HELD:
        ANSWERS.append(refchain.retained(X))
    X = None
    EDGES, SIZES, ROOTS = oracle()
    BASE = reach(EDGES, ROOTS, None)
    for X, GOT in zip(HELD, ANSWERS):
        if id(X) not in EDGES:
            continue        # ROOT does not reach it: not U's
        GONE = BASE - reach(EDGES, ROOTS, id(X))
        WANT = (sum(SIZES[i] for i in GONE), len(GONE))
        checked += 1
        more += WANT[1] > 1
        if tuple(GOT) != WANT:
            failures += 1
            print(json.dumps({"seed": seed, "type": type(X).__name__, "refchain": list(GOT),
                              "oracle": list(WANT)}))
    del ROOT[:], HELD[:], ANSWERS[:]
    X = GOT = EDGES = SIZES = ROOTS = BASE = GONE = WANT = None
    gc.collect()
print(json.dumps({"seeds": count, "checked": checked, "retaining_more": more,
                  "failures": failures}))
