"""find_chain and the way chains read: roots, collapsed namespace hops,
labels, and an independent oracle for the chain lengths.

Every scenario runs in a fresh interpreter, so the heap holds only what the
scenario puts there."""

import json
import sys

import pytest

from conftest import line_of

# Printed by every scenario: what the chain says, as JSON.
PRELUDE = """
import json, sys
import refchain

def report(chain, tag="chain"):
    if chain is None:
        print(tag + "=" + json.dumps(None))
        return
    steps = chain.steps
    print(tag + "=" + json.dumps({
        "kind": chain.root_kind,
        "root": chain.root_description,
        "labels": [label for _, label in steps],
        "types": [type(obj).__name__ for obj, _ in steps],
        "str": str(chain),
        "hops": chain.hops,
        "len": len(chain),
    }))
"""


def chains_of(out):
    """{tag: report} from a scenario's output."""
    found = {}
    for line in out.splitlines():
        tag, sep, data = line.partition("=")
        if sep and tag.isidentifier():
            found[tag] = json.loads(data)
    return found


def run_chain(run_script, body, name="script.py"):
    source = PRELUDE + body
    return chains_of(run_script(source, name=name).stdout), source


# ---- 1. the classic cache leak -------------------------------------------------------

CACHE_LEAK = """
import tracemalloc
tracemalloc.start()
_CACHE = {}
def handle(request_id):
    _CACHE[request_id] = bytes(1024)
    return len(_CACHE)
handle(-1)                      # warm up
for i in range(10000):
    handle(i)
report(refchain.find_chain(_CACHE[5000]))
"""


def test_cache_leak_reads_like_a_sentence(run_script):
    chains, source = run_chain(run_script, CACHE_LEAK, name="leak.py")
    chain = chains["chain"]
    line = line_of(source, "bytes(1024)")
    assert chain["str"] == (
        "module __main__ → ['_CACHE'] dict → [5000] bytes (1057 B), allocated at leak.py:%d"
        % line)
    assert chain["kind"] == "module"
    assert chain["len"] == 2
    assert chain["hops"] == 3  # module -> its __dict__ -> _CACHE -> bytes
    assert chain["root"] == "module __main__"


def test_without_tracemalloc_there_is_no_allocation_line(run_script):
    chains, _ = run_chain(run_script, CACHE_LEAK.replace("tracemalloc.start()", ""))
    assert chains["chain"]["str"] == "module __main__ → ['_CACHE'] dict → [5000] bytes (1057 B)"


# ---- 2. the ways an instance is kept alive -------------------------------------------

SCENARIOS = {
    "class_attribute": """
class Item:
    pass
class Registry:
    items = []
Registry.items.append(Item())
report(refchain.find_chain(Registry.items[0]))
""",
    "lru_cache": """
import functools
class Result:
    pass
@functools.lru_cache(maxsize=None)
def compute(n):
    return Result()
compute(1)
report(refchain.find_chain(compute(1)))
""",
    "bounded_lru_cache": """
import functools
class Result:
    pass
@functools.lru_cache(maxsize=32)
def compute(n, scale=1):
    return Result()
compute(1)
compute(2, scale=3)
report(refchain.find_chain(compute(1)))
""",
    # The wrapper's references are (key, result, link type) per link: the
    # label needs the result's exact position among them, though a chain's
    # capture leaves the int and str keys out (containers only).
    "bounded_lru_cache_many": """
import functools
class Result:
    pass
@functools.lru_cache(maxsize=64)
def compute(n, tag="x"):
    return Result()
for i in range(40):
    compute(i, tag="t%d" % i) if i % 3 else compute(i)
report(refchain.find_chain(compute(21)))
report(refchain.find_chain(compute(20, tag="t20")), "keyword")
""",
    "closure": """
class Session:
    pass
handlers = []
def make_handler():
    session = Session()
    def handler():
        return session
    return handler
handlers.append(make_handler())
report(refchain.find_chain(handlers[0].__closure__[0].cell_contents))
""",
    "bound_method": """
class Widget:
    def on_event(self):
        pass
observers = []
observers.append(Widget().on_event)
report(refchain.find_chain(observers[0].__self__))
""",
    "thread_local": """
import threading, weakref
class Job:
    pass
ready, release = threading.Event(), threading.Event()
refs = []
def worker():
    job = Job()
    refs.append(weakref.ref(job))
    ready.set()
    release.wait()  # parked here
thread = threading.Thread(target=worker, name="job-worker")
thread.start()
ready.wait()
try:
    report(refchain.find_chain(refs[0]()))
finally:
    release.set()
    thread.join()
""",
    "default_argument": """
class Config:
    pass
def connect(host, config=Config()):
    pass
report(refchain.find_chain(connect.__defaults__[0]))
""",
    "exception_traceback": """
import weakref
class Payload:
    pass
PAYLOAD = []
def fail():
    payload = Payload()
    PAYLOAD.append(weakref.ref(payload))
    raise RuntimeError("boom")
try:
    fail()
except RuntimeError as exc:
    LAST_ERROR = exc
report(refchain.find_chain(PAYLOAD[0]()))
""",
    "instance_attribute": """
class Entry:
    pass
class Service:
    def __init__(self):
        self.name = "svc"
        self.entry = Entry()
SERVICE = Service()
report(refchain.find_chain(SERVICE.entry))
""",
    "slots": """
class Entry:
    pass
class Point:
    __slots__ = ("x", "y")
P = Point()
P.x = Entry()
P.y = Entry()
report(refchain.find_chain(P.y))
""",
}


def scenario(run_script, name):
    chains, source = run_chain(run_script, SCENARIOS[name])
    return chains["chain"], source


def test_class_attribute_list(run_script):
    chain, _ = scenario(run_script, "class_attribute")
    assert chain["kind"] == "class"
    assert chain["root"] == "class __main__.Registry"
    assert chain["labels"] == [".items", "[0]"]
    assert chain["types"] == ["list", "Item"]
    assert chain["str"].startswith("class __main__.Registry → .items list → [0] Item (")


# A module-level lru_cache is a global like any other: the module holds it
# (an lru_cache is a root only where no module, class or frame reaches it).
def test_unbounded_lru_cache(run_script):
    chain, _ = scenario(run_script, "lru_cache")
    assert chain["kind"] == "module"
    assert chain["root"] == "module __main__"
    assert chain["labels"] == ["['compute']", "[1]"]
    assert chain["str"].startswith(
        "module __main__ → ['compute'] _lru_cache_wrapper → [1] Result (")


def test_bounded_lru_cache(run_script):
    chain, _ = scenario(run_script, "bounded_lru_cache")
    assert chain["kind"] == "module"
    assert chain["root"] == "module __main__"
    assert chain["labels"] == ["['compute']", "[1]"]


def test_lru_cache_result_among_many_left_out_keys(run_script):
    chains, _ = run_chain(run_script, SCENARIOS["bounded_lru_cache_many"])
    for tag in ("chain", "keyword"):
        assert chains[tag]["kind"] == "module"
        assert chains[tag]["root"] == "module __main__"
    assert chains["chain"]["labels"] == ["['compute']", "[21]"]
    assert chains["keyword"]["labels"] == ["['compute']", "[(20, <object>, 'tag', 't20')]"]


def test_closure_cell_in_a_handler_list(run_script):
    chain, _ = scenario(run_script, "closure")
    assert chain["kind"] == "module"
    assert chain["labels"] == ["['handlers']", "[0]", "closure 'session'"]
    assert chain["types"] == ["list", "function", "Session"]
    assert chain["hops"] == 6  # module, dict, list, function, tuple, cell, value


def test_bound_method_in_an_observer_list(run_script):
    chain, _ = scenario(run_script, "bound_method")
    assert chain["kind"] == "module"
    assert chain["labels"] == ["['observers']", "[0]", ".__self__"]
    assert chain["types"] == ["list", "method", "Widget"]


def test_local_of_a_sleeping_thread(run_script):
    chain, source = scenario(run_script, "thread_local")
    assert chain["kind"] == "frame"
    assert chain["root"] == "frame worker() at script.py:%d in thread job-worker" % line_of(
        source, "release.wait()  # parked here")
    assert chain["labels"] == ["local 'job'"]
    assert chain["types"] == ["Job"]


def test_default_argument_value(run_script):
    chain, _ = scenario(run_script, "default_argument")
    assert chain["kind"] == "module"
    assert chain["labels"] == ["['connect']", ".__defaults__", "[0]"]
    assert chain["types"] == ["function", "tuple", "Config"]


def test_exception_traceback_in_a_global(run_script):
    chain, _ = scenario(run_script, "exception_traceback")
    assert chain["kind"] == "module"
    assert chain["labels"] == ["['LAST_ERROR']", ".__traceback__", ".tb_next", ".tb_frame",
                               "local 'payload'"]
    assert chain["types"] == ["RuntimeError", "traceback", "traceback", "frame", "Payload"]


def test_instance_attribute_is_one_step(run_script):
    chain, _ = scenario(run_script, "instance_attribute")
    assert chain["labels"] == ["['SERVICE']", ".entry"]
    assert chain["types"] == ["Service", "Entry"]


def test_slot_member(run_script):
    chain, _ = scenario(run_script, "slots")
    assert chain["labels"] == ["['P']", ".y"]
    assert chain["types"] == ["Point", "Entry"]


# ---- 3. weak references only -----------------------------------------------------------


def test_weak_references_only_is_none(run_script):
    chains, _ = run_chain(run_script, """
import weakref
class Node:
    pass
registry = weakref.WeakValueDictionary()
obj = Node()
registry["a"] = obj
report(refchain.find_chain(obj), "module_level")
def check():
    local = Node()
    registry["b"] = local
    report(refchain.find_chain(local), "in_function")
check()
""")
    assert chains == {"module_level": None, "in_function": None}


# ---- 4. the caller's own handle is discounted ------------------------------------------


def test_callers_variable_is_discounted(run_script):
    chains, _ = run_chain(run_script, """
_CACHE = {i: bytes(100) for i in range(10)}
def check():
    x = _CACHE[5]
    report(refchain.find_chain(x), "in_function")
check()
x = _CACHE[5]
report(refchain.find_chain(x), "module_level")
""")
    for tag in ("in_function", "module_level"):
        chain = chains[tag]
        assert chain["kind"] == "module", tag
        assert chain["labels"] == ["['_CACHE']", "[5]"], tag
        assert chain["types"] == ["dict", "bytes"], tag


def test_callers_container_is_not_discounted(run_script):
    chains, source = run_chain(run_script, """
class Obj:
    pass
def check():
    obj = Obj()
    keep = [obj]
    report(refchain.find_chain(obj))
    del keep
check()
""")
    chain = chains["chain"]
    assert chain["kind"] == "frame"
    assert chain["root"] == "frame check() at script.py:%d in thread MainThread" % line_of(
        source, "report(refchain.find_chain(obj))")
    assert chain["labels"] == ["local 'keep'", "[0]"]
    assert chain["types"] == ["list", "Obj"]


# ---- 5. unreachable ------------------------------------------------------------------


def test_held_only_by_a_garbage_cycle_is_unreachable(run_script):
    chains, _ = run_chain(run_script, """
import gc
gc.disable()
class Node:
    pass
def check():
    target = Node()
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    a.payload = target
    target.owner = a          # the target is in the cycle too
    del a, b
    chain = refchain.find_chain(target)
    report(chain)
    print("shape=" + json.dumps([len(chain.objects), chain.objects[0] is target,
                                 chain.root is None, chain.target is target]))
check()
""")
    chain = chains["chain"]
    assert chain["kind"] == "unreachable"
    assert chain["labels"] == []
    assert chain["len"] == 0
    assert chain["hops"] == 0
    assert chain["str"].startswith("unreachable")
    assert "gc.collect()" in chain["str"]
    assert ": Node (" in chain["str"]
    assert chains["shape"] == [1, True, True, True]


# ---- 6. the oracle -------------------------------------------------------------------

ORACLE = """
import gc, json, random
import refchain
gc.disable()

class Node:
    pass

ROOT = []
GRAPH_IDS = set()   # ints only: the ids of the objects build() made


def build(seed):
    rng = random.Random(seed)
    objs = []
    nodes = []
    for _ in range(400):
        kind = rng.choice(("node", "node", "dict", "list", "set", "tuple"))
        if kind == "node":
            o = Node()
            nodes.append(o)
        elif kind == "dict":
            o = {}
        elif kind == "list":
            o = []
        elif kind == "set":
            o = set()
        else:
            o = tuple(rng.choice(objs) for _ in range(rng.randint(1, 3))) if objs else ()
        objs.append(o)
    for o in objs:
        for j in range(rng.randint(0, 3)):
            t = rng.choice(objs)
            if type(o) is Node:
                if j == 0:
                    o.left = t
                elif j == 1:
                    o.right = t
                else:
                    o.extra = t
            elif type(o) is dict:
                o[rng.choice(("k%d" % j, j, (j, "t")))] = t
            elif type(o) is list:
                o.append(t)
            elif type(o) is set and nodes:
                o.add(rng.choice(nodes))
    ROOT.extend(rng.sample(objs, 6))
    GRAPH_IDS.update(id(o) for o in objs)


def oracle(count, seed):
    # The reverse index: every gc-tracked object, plus (through a worklist
    # over gc.get_referents) the untracked objects they reach.
    parents = {}
    work = gc.get_objects()
    seen = set(id(o) for o in work)
    while work:
        o = work.pop()
        oid = id(o)
        for r in gc.get_referents(o):
            rid = id(r)
            parents.setdefault(rid, []).append(oid)
            if rid not in seen:
                seen.add(rid)
                work.append(r)
    # Forward from ROOT: which graph objects are reachable, and a path of
    # ids to each (to fetch them back later without holding them).
    path = {id(ROOT): [id(ROOT)]}
    frontier = [ROOT]
    while frontier:
        nxt = []
        for o in frontier:
            for r in gc.get_referents(o):
                if id(r) not in path:
                    path[id(r)] = path[id(o)] + [id(r)]
                    nxt.append(r)
        frontier = nxt
    reachable = sorted(i for i in path if i in GRAPH_IDS)
    sample = random.Random(seed).sample(reachable, min(count, len(reachable)))
    # Distance from ROOT: breadth-first backwards over the reverse index.
    root_id, dist = id(ROOT), {}
    for target in sample:
        level, seen_back, depth = [target], {target}, 0
        while root_id not in seen_back:
            level = [p for v in level for p in parents.get(v, ()) if p not in seen_back
                     and not seen_back.add(p)]
            depth += 1
            assert level, "oracle: ROOT does not reach %#x" % target
        dist[target] = depth
    return [(t, dist[t], path[t]) for t in sample]


def fetch(ids):
    cur = ROOT
    for want in ids[1:]:
        cur = next(r for r in gc.get_referents(cur) if id(r) == want)
    return cur


def main_module_dict():
    return vars(sys.modules["__main__"])


import sys
build(SEED)
results = []
for target, distance, ids in oracle(30, SEED):
    obj = fetch(ids)
    assert id(obj) == target
    chain = refchain.find_chain(obj)
    objects = chain.objects
    results.append({
        "distance": distance,
        "hops": chain.hops,
        "kind": chain.root_kind,
        "prefix": [objects[0] is sys.modules["__main__"], objects[1] is main_module_dict(),
                   objects[2] is ROOT],
        "last": objects[-1] is obj,
    })
    del chain, objects, obj
LABELS = []
if WITH_LABELS:
    for target, distance, ids in oracle(30, SEED + 1):
        obj = fetch(ids)
        LABELS.append(str(refchain.find_chain(obj)))
        del obj
print(json.dumps({"results": results, "labels": LABELS}))
"""


def run_oracle(run_script, seed, with_labels=False):
    source = "SEED = %d\nWITH_LABELS = %r\n" % (seed, with_labels) + ORACLE
    return json.loads(run_script(source, name="oracle.py").stdout)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_chain_lengths_match_an_independent_oracle(run_script, seed):
    results = run_oracle(run_script, seed)["results"]
    assert len(results) >= 25
    for r in results:
        assert r["kind"] == "module", r
        assert r["prefix"] == [True, True, True], r
        assert r["last"], r
        assert r["hops"] == 2 + r["distance"], r


# ---- 7. labels are named, never the fallback --------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_labels_are_named(run_script, name):
    chain, _ = scenario(run_script, name)
    assert chain["labels"], chain
    for label in chain["labels"]:
        assert "<referent #" not in label, chain
    assert "<referent #" not in chain["str"]


def test_other_chains_labels_are_named(run_script):
    chains, _ = run_chain(run_script, CACHE_LEAK)
    assert "<referent #" not in chains["chain"]["str"]
    chains, _ = run_chain(run_script, """
_CACHE = {i: bytes(100) for i in range(10)}
class Obj:
    pass
def check():
    x = _CACHE[5]
    report(refchain.find_chain(x), "a")
    obj = Obj()
    keep = [obj]
    report(refchain.find_chain(obj), "b")
check()
""")
    for tag in ("a", "b"):
        assert "<referent #" not in chains[tag]["str"], chains[tag]


@pytest.mark.parametrize("seed", [7, 8])
def test_random_heap_labels_are_named(run_script, seed):
    labels = run_oracle(run_script, seed, with_labels=True)["labels"]
    assert len(labels) >= 25
    for text in labels:
        assert text.startswith("module __main__ → ['ROOT'] list → ["), text
        assert "<referent #" not in text, text


def test_a_by_type_list_is_never_the_holder(run_script):
    # objgraph's recipe: objs = by_type("Obj"); find_chain(objs[250]).  The
    # list refchain hands out is its own: it is not counted as a holder.
    out = run_script("""
        import refchain

        class Obj:
            pass

        class Holder:
            def __init__(self):
                self.items = [Obj() for _ in range(300)]

        H = Holder()

        def hunt():
            objs = refchain.by_type("Obj")
            fresh = refchain.new_objects("Obj", since=point)
            print(type(objs).__name__, isinstance(objs, list), len(objs), len(fresh))
            print(refchain.find_chain(objs[250]), [o is objs[250] for o in H.items].index(True))
            print(refchain.explain(objs)[0].path())
            print(refchain.census().get("refchain.ObjectList"))
            del H.items
            print(refchain.find_chain(objs[5]))

        point = refchain.census()
        more = [Obj() for _ in range(3)]
        hunt()
    """).stdout.splitlines()
    assert out[0] == "ObjectList True 303 3"
    chain, index = out[1].rsplit(" ", 1)
    assert chain.startswith("module __main__ → ['H'] Holder → .items list → [%s] Obj (" % index)
    assert out[2] == "module __main__ → ['H'] Holder → .items list → [*] Obj"
    assert out[3] == "None"            # refchain's own lists are never counted
    assert out[4] == "None"            # held by nothing but refchain's list


def test_atexit_callbacks_are_held_by_the_atexit_module(run_script):
    # 3.10+ keep the callbacks in the interpreter state, where no traversal
    # reports them: each read as its own C-held root, and no suspect named
    # what they hold together.  Unregistered slots are left empty.
    out = run_script("""
        import atexit, json, sys
        import refchain

        def register(i):
            state = bytearray(20000)
            def cleanup():
                state.clear()
            atexit.register(cleanup)
            return cleanup

        dropped = [register(i) for i in range(40)][::4]
        for f in dropped:
            atexit.unregister(f)
        del f
        atexit.register(print, "bye", sep="")   # args and kwargs too
        top = refchain.suspects(limit=1)[0]
        groups = refchain.explain("bytearray")
        print(json.dumps({
            "suspect": str(top),
            "retained": refchain.retained(sys.modules["atexit"]),
            "group": [groups[0].count, groups[0].path()],
        }))
        atexit._clear()
    """).stdout
    out = json.loads(out)
    if sys.version_info >= (3, 14):
        return
    assert out["suspect"].startswith("module atexit retains ")
    assert out["suspect"].endswith(" in 30 function")
    rbytes, rcount = out["retained"]
    assert rbytes >= 30 * 20000 and rcount >= 30 * 3
    assert out["group"] == [30, "module atexit → <atexit callback> function → closure 'state' bytearray"]


def test_c_held_bound_methods_are_named_and_grouped(run_script):
    out = run_script("""
        import atexit, signal
        import refchain

        class SshConnection:
            def __init__(self):
                atexit.register(self.close)
            def close(self):
                pass

        class Daemon:
            def on_term(self, *args):
                pass

        for _ in range(2000):
            SshConnection()
        signal.signal(signal.SIGTERM, Daemon().on_term)
        groups = refchain.explain(SshConnection)
        print(len(groups), groups[0].count)
        print(groups[0].path())
        print(refchain.explain(Daemon)[0].path())
    """).stdout.splitlines()
    assert out[0] == "1 2000"
    if sys.version_info < (3, 14):
        # Before 3.10 the atexit module traverses its callbacks; 3.10-3.13
        # keep them in the interpreter state, read in place: the registry is
        # seen either way.
        assert out[1] == "module atexit → <atexit callback> method → .__self__ SshConnection"
    else:
        assert out[1] == ("C code: a bound method SshConnection.close (an atexit callback, or "
                          "another registry kept in C) → .__self__ SshConnection")
    assert out[2] == "C code: a bound method Daemon.on_term (the handler of SIGTERM) → .__self__ Daemon"


# Classes made at runtime and kept in a registry (a metaclass's dict, a
# list that __init_subclass__ appends to) are objects like any other: only
# a class its module holds under its name is a class root.
REGISTRY = """
import json, os, refchain
class PluginMeta(type):
    registry = {}
    def __new__(m, name, bases, ns):
        cls = super().__new__(m, name, bases, ns)
        m.registry[name] = cls
        return cls
class Base:
    subclasses = []
    def __init_subclass__(cls, **kw):
        Base.subclasses.append(cls)
class Session:
    active = [bytearray(10)]
class Outer:
    class Inner:
        cache = [bytearray(20)]
for i in range(300):
    PluginMeta("Model%d" % i, (), {})
    type("Row%d" % i, (Base,), {})
live = {
    "model": str(refchain.find_chain(PluginMeta.registry["Model150"])).split(" (")[0],
    "row": str(refchain.find_chain(Base.subclasses[150])).split(" (")[0],
    "session": str(refchain.find_chain(Session.active[0])).split(" (")[0],
    "inner": str(refchain.find_chain(Outer.Inner.cache[0])).split(" (")[0],
    "groups": [[g.count, g.path()] for g in refchain.explain("PluginMeta", limit=3)],
    "retained": refchain.retained(PluginMeta.registry),
    "suspects": [str(s) for s in refchain.suspects(limit=2)],
}
if os.environ.get("REG_DUMP"):
    if os.environ["REG_DUMP"] == "fork":
        refchain.dump("reg.rcsnap", fork=True).wait()
    else:
        refchain.dump("reg.rcsnap")
    snap = refchain.load("reg.rcsnap")
    live["snap"] = {
        "model": str(snap.find_chain(id(PluginMeta.registry["Model150"]))).split(" (")[0],
        "session": str(snap.find_chain(id(Session.active[0]))).split(" (")[0],
        "inner": str(snap.find_chain(id(Outer.Inner.cache[0]))).split(" (")[0],
        "groups": [[g.count, g.path()] for g in snap.explain("PluginMeta", limit=3)],
        "retained": list(snap.retained(id(PluginMeta.registry))),
    }
print(json.dumps(live))
"""


def registry_answers(run_script, dump=None):
    """REGISTRY's answers, live (and from its dump: "plain" or "fork")."""
    env = {"REG_DUMP": dump} if dump else None
    return json.loads(run_script(REGISTRY, name="reg.py", env=env).stdout.splitlines()[-1])


def test_a_class_made_at_runtime_reads_through_its_registry(run_script):
    got = registry_answers(run_script)
    assert got["model"] == "class __main__.PluginMeta \u2192 .registry dict \u2192 ['Model150'] PluginMeta"
    assert got["row"] == "class __main__.Base \u2192 .subclasses list \u2192 [150] type"


def test_module_level_and_nested_classes_stay_roots(run_script):
    got = registry_answers(run_script)
    assert got["session"] == "class __main__.Session \u2192 .active list \u2192 [0] bytearray"
    assert got["inner"] == "class __main__.Outer.Inner \u2192 .cache list \u2192 [0] bytearray"


def test_what_a_class_holds_outside_its_traversal_is_named(run_script):
    # A static type is no gc object, so nothing traverses its namespace;
    # and no type's traversal visits the weak references to its
    # subclasses.  Both read as held by C code until the capture followed
    # them: a leak of classes made at runtime showed its weakrefs' growth
    # with no holder.  Live, from a dump and from a fork dump alike.
    out = run_script("""
        import gc, json, weakref
        import refchain

        class Base:
            pass

        MADE = [type("Model%d" % i, (Base,), {}) for i in range(100)]
        def the_ref():
            subs = next(d for d in gc.get_objects() if type(d) is dict and len(d) == 100
                        and all(type(v) is weakref.ref for v in d.values()))
            return next(r for r in subs.values() if r() is MADE[7])

        def answers(q):
            groups = [[g.count, g.path()] for g in q.explain(type(weakref.ref(Base)).__name__)
                      if "__main__.Base" in g.path()]
            ns, ref = gc.get_referents(vars(int))[0], the_ref()   # locals: discounted
            return {
                "ns": str(q.find_chain(ns if q is refchain else id(ns))).split(" (")[0],
                "ref": str(q.find_chain(ref if q is refchain else id(ref))).split(" (")[0],
                "groups": groups,
            }

        got = {"name": type(weakref.ref(Base)).__name__, "live": answers(refchain)}
        refchain.dump("subs.rcsnap")
        got["snap"] = answers(refchain.load("subs.rcsnap"))
        refchain.dump("fork.rcsnap", fork=True).wait()
        got["fork"] = answers(refchain.load("fork.rcsnap"))
        print(json.dumps(got))
    """).stdout
    got = json.loads(out.splitlines()[-1])
    weakref_name = got["name"]             # weakref up to 3.9, ReferenceType after
    for where in ("live", "snap", "fork"):
        assert got[where]["ns"] == "class int \u2192 .__dict__ dict", where
        assert got[where]["ref"].startswith(
            "class __main__.Base \u2192 __subclasses__() dict \u2192 ["), where
        assert got[where]["ref"].endswith("] " + weakref_name), where
        assert got[where]["groups"] == [
            [100, "class __main__.Base \u2192 __subclasses__() dict \u2192 [*] " + weakref_name]], where
