"""The capture: what it sees, what it leaves out, and an independent check."""

import gc
import json
import os
import sys

import refchain


def test_graph_counts_untracked_objects():
    payload = {i: bytes(10) for i in range(1000, 3000)}   # an untracked dict
    assert not gc.is_tracked(payload)
    g = refchain.capture()
    assert len(g) > len(gc.get_objects()) + 4000
    assert g.edge_count > len(g) // 2
    assert g.memory > 0
    c = g.census()
    assert c["bytes"].count >= 2000
    assert c["int"].count >= 2000
    assert repr(g).startswith("<refchain.Graph: %d objects" % len(g))
    del payload


def test_holding_a_graph_is_safe_after_its_objects_die():
    junk = [object() for _ in range(10000)]
    g = refchain.capture()
    del junk
    gc.collect()
    more = [bytearray(100) for _ in range(1000)]  # may reuse the addresses
    assert g.census()["object"].count >= 10000
    assert len(g) > 10000
    del more


def test_tool_objects_are_not_captured():
    held = [refchain.census() for _ in range(5)] + [refchain.capture() for _ in range(5)]
    c = refchain.census()
    for name in ("refchain.Census", "Census", "refchain.Graph", "Graph", "refchain.CensusDiff"):
        assert name not in c
    del held


def test_types_are_named_like_objgraph_long_names():
    import collections

    class Local:
        pass

    keep = [collections.OrderedDict(), Local()]
    names = set(refchain.census().keys())
    assert {"collections.OrderedDict", "dict", "int", "str", "bytes"} <= names
    assert __name__ + ".test_types_are_named_like_objgraph_long_names.<locals>.Local" in names
    short = set(refchain.census(shortnames=True).keys())
    assert {"OrderedDict", "Local"} <= short
    del keep


def test_type_names_with_surrogates_and_non_ascii(run_script):
    out = run_script("""
    import json, refchain
    class Odd:
        pass
    Odd.__qualname__ = "Odd\\udc80"     # type() refuses such a __name__, not a __qualname__
    Cafe = type("Caf\\u00e9", (), {})
    keep = [Odd(), Cafe()]
    names = [n for n in refchain.census().keys() if n.startswith("__main__.")]
    print(json.dumps(sorted(names)))
    """).stdout
    assert json.loads(out) == ["__main__.Caf\u00e9", "__main__.Odd\ufffd"]


def test_looking_a_row_up_leaves_the_name_as_it_was(run_script):
    """census[name] with a non-ASCII name finds its row and leaves the
    caller's str unchanged: PyUnicode_AsUTF8 would attach a UTF-8 copy to
    it, which the next census would count."""
    out = run_script("""
    import json, sys, refchain
    Cafe = type("Caf\\u00e9", (), {})
    keep = [Cafe() for _ in range(3)]
    c = refchain.census()
    name = "".join(["__main__.Caf", "\\u00e9"])  # not the interned type name
    before = sys.getsizeof(name)
    row = c[name]
    print(json.dumps([row.count, sys.getsizeof(name) - before,
                      c.get("no\\u00e9 such") is None, "\\udc80" in c,
                      "int" in c, "int\\x00x" in c]))
    """).stdout
    assert json.loads(out) == [3, 0, True, False, True, False]



def test_a_capture_numbers_tracked_objects_in_the_collectors_order(run_script):
    """The collector's lists are followed from both ends at once, but a
    capture's node ids keep their order, which gc.get_objects() lists:
    chains break their ties by node id, so a capture must not reorder
    them."""
    out = run_script("""
    import gc, types, refchain
    from refchain import _refchain
    keep = [[{"k": i}, (i, [i])] for i in range(20000)]
    gc.collect()
    objs = gc.get_objects()
    expected = [id(o) for o in objs if not isinstance(o, types.FrameType)]
    refchain.dump("order.rcsnap")
    g = _refchain._load("order.rcsnap")
    nodes = [g.node(i)[0] for i in range(len(g))]
    common = set(expected) & set(nodes)
    print(len(common) > 60000,
          [a for a in nodes if a in common] == [a for a in expected if a in common])
    """).stdout
    assert out.split() == ["True", "True"]

ORACLE = """
import faulthandler; faulthandler.enable()  # a crash names its line in the log
import gc, json, sys, random
sys.path.insert(0, @TESTS@)
from unvisited import unvisited_dict, lower_bound_ok
import refchain

class Leaf:
    pass
class Slotted:
    __slots__ = ("a", "b")
class Pair:
    def __init__(self):
        self.other = None

rng = random.Random(1234)
HEAP = []
for i in range(4000):                               # about 100k objects
    leaf = Leaf()
    leaf.name = "leaf-%d" % i
    leaf.blob = bytes(rng.randrange(1, 64))
    leaf.ratio = rng.random()
    s = Slotted()
    s.a, s.b = (i, "s%d" % i), [float(i), 10 ** 20 + i]
    d = {"k%d" % i: leaf, i + 100000: s, (i, i + 1): frozenset({i, -i})}
    p, q = Pair(), Pair()
    p.other, q.other = q, p                         # a cycle
    HEAP.append([leaf, s, d, p, {1.5 * i: "v%d" % i}, (leaf, s), bytearray(i % 7)])
gc.collect()
gc.disable()

census = refchain.census()
# 3.12 freezes a few hundred objects at startup; the census reads the
# permanent generation, gc.get_objects() does not: unfrozen, the oracle
# lists them too (the heap is the same).
gc.unfreeze()

# The oracle: gc.get_objects() plus a worklist over gc.get_referents, adding
# dict keys (tp_traverse omits str keys, which cannot form cycles), a static
# type's namespace (no gc object: nothing traverses it, and it may be an
# untracked dict) and the running frames (often untracked).  Its own containers are left out by
# identity.
mine = {id(census)}
allobjs = gc.get_objects()
work = list(allobjs)
work.append(sys.modules)
frame = sys._getframe()
while frame is not None:
    work.append(frame)
    frame = frame.f_back
seen = {}
mine.update((id(allobjs), id(work), id(seen), id(mine)))
while work:
    o = work.pop()
    if id(o) in seen or id(o) in mine:
        continue
    seen[id(o)] = o
    work.extend(gc.get_referents(o))
    if isinstance(o, dict):
        work.extend(dict.keys(o))
    hidden = unvisited_dict and unvisited_dict(o)
    if hidden is not None:
        work.append(hidden)
    if type(o) is type and not o.__flags__ & 512:   # a static type: its namespace
        work.extend(gc.get_referents(vars(o)))
del work, allobjs, hidden
oracle = {}
for o in seen.values():
    name = type(o).__module__ + "." + type(o).__qualname__
    if name.startswith("builtins."):
        name = name[len("builtins."):]
    row = oracle.setdefault(name, [0, 0])
    row[0] += 1
    row[1] += sys.getsizeof(o)
del seen, o, row
ours = {name: list(stat) for name, stat in census.items()}
lower = sorted(name for name, stat in census.items() if stat.bytes_lower_bound)
print(json.dumps([len(HEAP), ours, oracle, lower, all(map(lower_bound_ok, lower))]))
""".replace("@TESTS@", repr(os.path.dirname(os.path.abspath(__file__))))


def test_census_equals_an_independent_walk(run_script):
    proc = run_script(ORACLE)
    n, ours, oracle, lower, expected_lower = json.loads(proc.stdout)
    assert sum(count for count, _ in ours.values()) > 100000
    # Objects the oracle made while walking (its result dict's key strs are
    # the types' own names, so they already existed) cannot differ; any
    # difference is a capture bug.  Where the census says its bytes are a
    # lower bound (a __sizeof__ refchain refuses to call, such as
    # _struct.Struct's), the counts agree and the bytes are at most getsizeof's.
    for name in lower:
        assert ours[name][0] == oracle[name][0] and ours[name][1] <= oracle[name][1], name
        ours[name] = oracle[name]
    assert expected_lower, lower
    diff = {name: (ours.get(name), oracle.get(name))
            for name in set(ours) | set(oracle) if ours.get(name) != oracle.get(name)}
    assert diff == {}


def test_sizes_match_sys_getsizeof():
    import array
    import collections
    import decimal
    import io
    import re
    import types
    from refchain import _refchain

    class A:
        pass

    class D(dict):
        pass

    a = A()
    a.x = 1
    zoo = [0, 1, 2 ** 30, 2 ** 100, -2 ** 64, True, 1.5, 1j, "", "a", "\u00e9", "\u65e5\u672c",
           "\U0001f40d", "x" * 1000, b"", b"x" * 1024, bytearray(b"abc"), (), (1,),
           tuple(range(100)), [], list(range(1000)), {}, {1: 2}, dict.fromkeys(range(100)),
           set(), {1, 2}, frozenset(range(10)), a, a.__dict__, D(a=1), A, int, type, object(),
           collections.OrderedDict(a=1), collections.deque(range(10)),
           collections.defaultdict(list), array.array("i", range(10)), io.StringIO("abc"),
           io.BytesIO(b"abc"), decimal.Decimal("1.5"), re.compile("a+"), lambda: 1, print,
           sys, sys._getframe(), range(10), memoryview(b"ab"), types.SimpleNamespace(a=1),
           None, ValueError("x"), compile("1", "f", "eval")]
    mismatches = [(repr(o)[:40], sys.getsizeof(o), _refchain._shallow_size(o))
                  for o in zoo if sys.getsizeof(o) != _refchain._shallow_size(o)]
    assert mismatches == []


def test_python_level_sizeof_is_never_called():
    from refchain import _refchain

    calls = []

    class Sneaky:
        def __sizeof__(self):
            calls.append(1)
            return 10 ** 6

    s = Sneaky()
    refchain.capture()
    assert _refchain._shallow_size(s) < 1000
    assert calls == []


def test_a_local_deleted_after_its_snapshot_is_not_a_dangling_seed():
    """Regression: before 3.13, reading f_locals refreshes a snapshot dict that
    may hold the last reference to a deleted local.  Capture must read the
    frames before it enumerates objects, or it seeds a freed address."""
    def work():
        target = [1]
        holder = [target]
        refchain.find_chain(target)      # leaves a snapshot holding `holder`
        del holder
        return refchain.count("list")

    for _ in range(3):
        assert work() > 0
