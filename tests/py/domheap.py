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
interned name, a class).  An instance __dict__ holds no reference of its
own to its keys: the class's shared keys table does (see oracle()).  What
x retains is what those roots reach no more once x is removed; its bytes
are sys.getsizeof's.

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
    # The in-degree counts the references members hold, one per edge, except
    # the edges from an instance's __dict__ to its keys.  Before 3.11 that
    # dict is a split table (PEP 412): its keys, the attribute names, sit in
    # one keys table shared by the class's instances and held by the class
    # (ht_cached_keys), which references each name once, not once per dict.
    # Counting them per dict made a name look held by members alone, so
    # the oracle counted _wire's 'a1' as freed with the last instance that
    # had it, whenever nothing else held one more reference to the name (on
    # 3.8 the type attribute cache's entry for Plain.a1 did, while it lasted;
    # sys._clear_type_cache() before retained() made seed 30 fail always).
    # The names are _wire's constants, held from outside: roots.  Before
    # 3.11 an instance's referents are its __dict__ and its class; from 3.11
    # they are its attribute values themselves, stored inline (some of them
    # dicts, whose keys are theirs), and no attribute name is an edge.
    owned = {}
    if sys.version_info < (3, 11):
        owned = {i: [id(v) for v in seen[i].values()]
                 for i in {id(r) for o in seen.values() if type(o) is Plain
                           for r in gc.get_referents(o) if type(r) is dict} if i in seen}
    indeg = {}
    for i, targets in edges.items():
        for t in owned.get(i, targets):
            indeg[t] = indeg.get(t, 0) + 1
    del i, targets, owned
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
