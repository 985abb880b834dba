"""explain, show_explain, leaks, and objgraph's chain calls."""

import gc
import io
import json
import re
import sys

import pytest

import refchain
from refchain._format import human_bytes
from conftest import line_of

LEAK = """
    import json, tracemalloc
    tracemalloc.start()
    import refchain
    _CACHE = {}
    def handle(request_id):
        _CACHE[request_id] = bytes(1024)
    handle(-1)
    point = refchain.census()
    for i in range(10000):
        handle(i)
    class Session:
        active = []
        def __init__(self):
            Session.active.append(self)
    for _ in range(300):
        Session()
    """


def test_explain_groups_every_leaked_bytes_with_its_line(run_script):
    out = run_script(LEAK + """
    groups = refchain.explain(bytes)
    g = groups[0]
    print(json.dumps([g.count, g.bytes, g.root_kind, g.lines, g.chain.hops,
                      [type(o).__name__ for o in g.chain.objects], len(groups) <= 5]))
    """, name="leak.py").stdout
    count, nbytes, kind, lines, hops, types, limited = json.loads(out)
    assert count == 10001                      # the warm-up entry is the same leak
    assert nbytes == 10001 * 1057
    assert kind == "module"
    assert lines == [[10001, "leak.py:%d" % line_of(LEAK, "bytes(1024)")]]
    assert types == ["module", "dict", "dict", "bytes"]
    assert limited


def test_explain_accepts_names_types_and_objects(run_script):
    out = run_script(LEAK + """
    by_name = refchain.explain("Session")
    by_type = refchain.explain(Session)
    some = list(Session.active[:10])
    by_objects = refchain.explain(some)
    print(json.dumps([[g.count for g in r] for r in (by_name, by_type, by_objects)]
                     + [by_name[0].root_kind, refchain.explain("NoSuchType")]))
    """).stdout
    name, typ, objs, kind, none = json.loads(out)
    assert name == typ == [300]
    assert objs == [10]
    assert kind == "class"
    assert none == []


def test_show_explain_prints_one_paragraph_per_group(run_script):
    out = run_script(LEAK + """
    import io
    buf = io.StringIO()
    refchain.show_explain(Session, file=buf)
    print(buf.getvalue())
    """, name="leak.py").stdout
    paragraph = out.splitlines()[0]
    assert paragraph.startswith("300 Session (")
    assert "held through class " in paragraph and "[*] Session" in paragraph
    assert "allocated at leak.py:%d (300)" % line_of(LEAK, "Session()") in paragraph


def test_explain_says_what_its_limit_left_out(run_script, tmp_path):
    # One Buf per recursion frame: 201 groups of one.  The text, the
    # drawing's caption and a snapshot's text say how many objects and
    # groups the limit left out, as leaks() does.
    out = run_script("""
    import io, json, refchain
    class Buf:
        pass
    def f(depth):
        b = Buf()
        if depth:
            return f(depth - 1)
        groups = refchain.explain("Buf", limit=3)
        buf = io.StringIO()
        refchain.show_explain("Buf", limit=3, file=buf)
        refchain.show_explain("Buf", limit=3, filename="bufs.dot")
        refchain.dump("bufs.rcsnap")
        snap = io.StringIO()
        refchain.load("bufs.rcsnap").show_explain("__main__.Buf", limit=3, file=snap)
        full = refchain.explain("Buf", limit=1000)
        print(json.dumps([len(groups), groups.total_count, groups.total_groups,
                          groups.total_bytes, buf.getvalue(), snap.getvalue(),
                          full.left_out(), len(full)]))
    f(200)
    """).stdout
    kept, total, n_groups, nbytes, text, snap_text, full_rest, full_len = json.loads(out)
    assert (kept, total, n_groups, full_len) == (3, 201, 201, 201)
    assert full_rest is None
    rest = "... and 198 more (%s) in 198 smaller groups" % human_bytes(nbytes * 198 // 201)
    lines = text.splitlines()
    assert [l.startswith("1 Buf ") for l in lines[:3]] == [True] * 3
    assert lines[3] == rest
    assert snap_text.splitlines()[3] == rest
    assert rest in (tmp_path / "bufs.dot").read_text()


def test_leaks_since_a_census(run_script):
    out = run_script(LEAK + """
    report = refchain.leaks(since=point, limit=3)
    print(json.dumps([[name, count] for name, count, nbytes, groups in report]))
    print(report)
    """).stdout
    first = json.loads(out.splitlines()[0])
    assert first[0] == ["bytes", 10000]
    assert ["__main__.Session", 300] in first
    assert "bytes: +10000 new" in out


def test_explain_unreachable_instances_are_said_to_be(run_script):
    out = run_script("""
    import gc, json, refchain
    gc.disable()
    class Node:
        pass
    def make():
        a, b = Node(), Node()
        a.peer, b.peer = b, a
    for _ in range(50):
        make()
    g = refchain.explain(Node)
    print(json.dumps([[x.count, x.root_kind] for x in g]))
    """).stdout
    assert json.loads(out) == [[100, "unreachable"]]


def test_find_backref_chain_like_objgraph(run_script):
    out = run_script("""
    import inspect, json, refchain
    _CACHE = {i: bytes(100) for i in range(100)}
    chain = refchain.find_backref_chain(_CACHE[7], inspect.ismodule)
    forward = refchain.find_ref_chain(chain[0], lambda o: o is _CACHE[7])
    lone = object()
    print(json.dumps([[type(o).__name__ for o in chain], chain[0].__name__,
                      chain[-1] is _CACHE[7], len(forward), forward[-1] is _CACHE[7],
                      refchain.find_backref_chain(lone, inspect.ismodule) == [lone],
                      refchain.find_backref_chain(_CACHE[7], inspect.ismodule, max_depth=1)
                      == [_CACHE[7]]]))
    """).stdout
    types, name, last, n_forward, fwd_last, lone, shallow = json.loads(out)
    assert types == ["module", "dict", "dict", "bytes"]
    assert name == "__main__" and last and fwd_last and lone and shallow
    assert n_forward == 4


def test_find_backref_chain_extra_ignore(run_script):
    out = run_script("""
    import inspect, json, refchain
    target = bytes(10)
    A = [target]
    B = [[target]]
    ignored = refchain.find_backref_chain(target, inspect.ismodule, extra_ignore=[id(A)])
    chain = refchain.find_backref_chain(target, inspect.ismodule)
    print(json.dumps([len(chain), len(ignored), ignored[3] is B[0]]))
    """).stdout
    # `chain` finds the shortest: through A, or through `ignored` (a list
    # holding target), both 4 long.
    assert json.loads(out) == [4, 5, True]


def test_an_extra_ignore_item_whose_eq_raises_propagates(run_script):
    out = run_script("""
    import inspect, refchain

    class Boom(Exception):
        pass

    class Hostile:
        def __init__(self, h):
            self.h = h
        def __hash__(self):
            return self.h
        def __eq__(self, other):
            raise Boom("from __eq__")

    target = bytes(10)
    A = [target]
    B = [target]
    try:
        # The search meets B's id, hash-equal to the item: the set compares.
        refchain.find_backref_chain(target, inspect.ismodule, extra_ignore=[Hostile(hash(id(B)))])
    except Boom as e:
        print("Boom", e)
    except SystemError as e:
        print("SystemError", e)
    """).stdout
    assert out == "Boom from __eq__\n"


def test_at_returns_tracked_objects_only():
    # objgraph's answer for an unknown address is None (the C call, which
    # refchain.at wraps, says why in a ValueError).
    keep = [object()]
    assert refchain.at(id(keep)) is keep
    assert refchain.at(id(b"an untracked bytes")) is None
    assert refchain.at(0) is None
    with pytest.raises(ValueError, match="no live gc-tracked object"):
        refchain._refchain.at(0)
    with pytest.raises(TypeError, match="int address"):
        refchain.at("0x1234")


@pytest.mark.parametrize("call, error, message", [
    (lambda: refchain.find_backref_chain(1, "ismodule"), TypeError, "predicate must be callable"),
    (lambda: refchain.find_ref_chain(1, None), TypeError, "predicate must be callable"),
    (lambda: refchain.find_backref_chain(1, callable, max_depth=-1), ValueError,
     "max_depth must be >= 0"),
    (lambda: refchain.find_backref_chain(1, callable, 2, 5), TypeError,
     "extra_ignore must be an iterable"),
    (lambda: refchain.explain(42), TypeError, "type name, a type or an iterable"),
    (lambda: refchain.explain(int, limit=-1), ValueError, ">= 0"),
    (lambda: refchain.leaks(since=None), TypeError, "must be a refchain.Census"),
    (lambda: refchain.show_explain(int, file=1), TypeError, "write\\(\\) method"),
    (lambda: refchain.Chain(), TypeError, "cannot create"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_predicate_that_raises_propagates():
    def boom(obj):
        raise RuntimeError("boom")

    target = [1]
    holder = [target]
    with pytest.raises(RuntimeError, match="boom"):
        refchain.find_backref_chain(target, boom)
    del holder
    gc.collect()
    assert refchain.count("list") > 0      # and the next call works


def test_a_dict_held_in_an_attribute_is_one_group(run_script):
    # The attribute dict lives in inline values (3.11+), in __slots__, in an
    # lru_cache's own cache, in WeakKeyDictionary.data and in logging's
    # loggerDict: its keys fold into [*] on every version, as a list's do.
    out = run_script("""
        import functools, json, logging, weakref
        import refchain

        class M:
            def __init__(self):
                self.d = {}

        class Slotted:
            __slots__ = ("d",)
            def __init__(self):
                self.d = {}

        class Payload: pass
        class Slot: pass
        class Key: pass
        class Cached: pass

        m = M()
        for i in range(300):
            m.d[i] = Payload()
        s = Slotted()
        for i in range(300):
            s.d[i] = Slot()

        class Service:
            @functools.lru_cache(maxsize=None)
            def lookup(self, i):
                return Cached()
        service = Service()
        for i in range(300):
            service.lookup(i)

        weak = weakref.WeakKeyDictionary()
        keys = [Key() for _ in range(300)]
        for k in keys:
            weak[k] = [k]          # the values: lists
        del k

        for i in range(300):
            logging.getLogger("req.%d" % i)

        def summary(groups):
            return [[g.count, str(g.path())] for g in groups]
        print(json.dumps({
            "attr": summary(refchain.explain(Payload)),
            "slots": summary(refchain.explain(Slot)),
            "lru": summary(refchain.explain(Cached)),
            "weak": [g.count for g in refchain.explain([weak[k] for k in keys])],
            "loggers": summary([g for g in refchain.explain(logging.Logger)
                                if g.count > 1]),
        }))
    """).stdout
    got = json.loads(out)
    assert got["attr"][0][0] == 300 and len(got["attr"]) == 1, got["attr"]
    assert ".d dict → [*] Payload" in got["attr"][0][1]
    assert got["slots"][0][0] == 300 and len(got["slots"]) == 1, got["slots"]
    assert got["lru"][0][0] == 300 and len(got["lru"]) == 1, got["lru"]
    assert got["weak"] == [300]
    assert got["loggers"][0][0] == 300, got["loggers"]
    assert got["loggers"][0][1] == ("class logging.Logger → .manager Manager → "
                                   ".loggerDict dict → [*] Logger")


def test_a_groups_path_keeps_the_keys_its_members_share(run_script):
    """Up to the holder every member's chain runs along the same references,
    so a data dict's key there is every member's: it is kept, and only the
    keys past the holder fold into [*].  A lone member keeps its own."""
    out = run_script("""
        import json
        import refchain

        class Session: pass
        class Lone: pass

        REGISTRY = {"sessions": [Session() for _ in range(40)], "other": []}
        STATE = {"config": {"owner": Lone()}}
        print(json.dumps([[g.count, g.path()] for g in refchain.explain(Session)] +
                         [[g.count, g.path()] for g in refchain.explain(Lone)]))
    """).stdout
    (count, path), (lone, lone_path) = json.loads(out)
    assert count == 40
    assert path == "module __main__ \u2192 ['REGISTRY'] dict \u2192 ['sessions'] list " \
        "\u2192 [*] Session"
    assert lone == 1
    assert lone_path == "module __main__ \u2192 ['STATE'] dict \u2192 ['config'] dict " \
        "\u2192 ['owner'] Lone"


def test_leaks_counts_every_new_object_of_a_type(run_script):
    # Ten queues of 100 jobs: three groups shown (limit=3), all 1000 counted.
    out = run_script("""
        import json
        import refchain

        class Job:
            pass

        point = refchain.census()
        for i in range(10):
            globals()["QUEUE_%d" % i] = [Job() for _ in range(100)]
        report = refchain.leaks(point, limit=3)
        rows = {t: [n, b, [g.count for g in groups]] for t, n, b, groups in report}
        print(json.dumps([rows["__main__.Job"], str(report).splitlines(),
                          [(row[0], row.retained_count) for row in report]]))
    """).stdout
    (count, nbytes, shown), text, retained = json.loads(out)
    assert count == 1000 and shown == [100, 100, 100]
    assert nbytes == 1000 * (nbytes // 1000) and nbytes > 0
    # The ten lists retain the jobs (which have no __dict__ yet): the
    # largest problem, first.
    jobs = 1000
    assert retained[:2] == [["list", 10 + jobs], ["__main__.Job", jobs]]
    assert text[0].startswith("list: +10 new (")
    assert text[0].endswith("; retaining %s in {:,} objects)".format(10 + jobs)
                            % text[0].split("retaining ")[1].split(" in ")[0])
    at = next(i for i, line in enumerate(text) if line.startswith("__main__.Job: +1000 new ("))
    assert text[at + 4].startswith("  ... and 700 more (")



GROUPS_BY_RETAINED = """
    import json, sys
    import refchain

    # Five lists each holding 1000 bytes of 2000 (a group each: few lists,
    # much retained), and 50 empty lists in one list (one group: many
    # lists, retaining only themselves).
    for i in range(5):
        globals()["BIG_%d" % i] = [bytes(2000) for _ in range(1000)]
    SMALL = [[] for _ in range(50)]
    groups = refchain.explain("list", limit=100)
    mine = [[g.count, g.bytes, g.retained_bytes, g.retained_count, str(g)] for g in groups
            if "['BIG_" in g.path() or "['SMALL']" in g.path()]
    order = [g.retained_bytes for g in groups]
    groups = None
    size = sys.getsizeof
    refchain.dump("lists.rcsnap")
    snap = [str(g) for g in refchain.load("lists.rcsnap").explain("list", limit=100)
            if "['BIG_" in g.path() or "['SMALL']" in g.path()]
    print(json.dumps({
        "order": order, "mine": mine, "snapshot": snap,
        "want_big": size(BIG_0) + 1000 * size(bytes(2000)), "small_size": size([]),
    }))
    """


def test_explain_puts_the_groups_retaining_most_first(run_script):
    out = json.loads(run_script(GROUPS_BY_RETAINED).stdout)
    assert out["order"] == sorted(out["order"], reverse=True)
    mine = out["mine"]
    assert len(mine) == 7
    for count, nbytes, rbytes, rcount, text in mine[:5]:
        assert (count, rbytes, rcount) == (1, out["want_big"], 1001)
        assert text.startswith("1 list (%s; retaining " % human_bytes(nbytes))
        assert " in 1,001 objects), held through module __main__ \u2192 ['BIG_" in text
    # The list SMALL retains its 50 lists; the 50, only themselves (no
    # "retaining" clause), last although they are the most numerous.
    assert mine[5][3] == 51 and "['SMALL'] list." in mine[5][4]
    assert mine[6][:4] == [50, 50 * out["small_size"], 50 * out["small_size"], 50]
    assert mine[6][4].startswith("50 list (") and "retaining" not in mine[6][4]
    # A snapshot dumped right after reads the same groups, in the same order.
    assert out["snapshot"] == [m[4] for m in mine]


CLOSURES = """
    import json, refchain

    CALLBACKS = []

    def subscribe(i):
        big = bytes(5000)
        small = [i]

        def cb():
            return len(big) + small[0]
        CALLBACKS.append(cb)

    for i in range(300):
        subscribe(i)
    live = [[g.path(), g.count] for g in refchain.explain("cell", limit=2)]
    refchain.dump("cells.rcsnap")
    snap = [[g.path(), g.count] for g in refchain.load("cells.rcsnap").explain("cell", limit=2)]
    print(json.dumps([live, snap]))
"""


def test_closure_cells_are_grouped_by_their_variable(run_script):
    # A closure's cells are its variables: 300 callbacks closing over `big`
    # and `small` are two groups, the one retaining the bytes first, not
    # one group of 600 named after whichever cell was met first.
    live, snap = json.loads(run_script(CLOSURES).stdout)
    path = "module __main__ \u2192 ['CALLBACKS'] list \u2192 [*] function \u2192 closure cell '%s' cell"
    assert live == [[path % "big", 300], [path % "small", 300]], live
    assert snap == live


THREAD_LOCALS = """
    import io, json, threading
    import refchain

    _tls = threading.local()
    started, done = threading.Barrier(5), threading.Event()

    def worker(n):
        _tls.bufs = [bytearray(1000 + n) for _ in range(50)]
        started.wait()
        done.wait()

    refchain.show_growth(file=io.StringIO(), holders=True)
    threads = [threading.Thread(target=worker, args=(i,), name="worker-%d" % i)
               for i in range(4)]
    for t in threads:
        t.start()
    started.wait()
    try:
        out = io.StringIO()
        refchain.show_growth(limit=1, file=out, holders=True)
        g = refchain.explain("bytearray", limit=1)[0]
        live = [g.count, g.path(), g.path(holder=True)]
        refchain.show_explain("bytearray", limit=1, filename="live.dot")
        refchain.dump("tls.rcsnap")
        snap = refchain.load("tls.rcsnap")
        s = snap.explain("bytearray", limit=1)[0]
        snap.show_explain("bytearray", limit=1, filename="snap.dot")
        print(json.dumps({"growth": out.getvalue().splitlines(), "live": live,
                          "snap": [s.count, s.path(), s.path(holder=True)],
                          "drawings": [open(f).read() for f in ("live.dot", "snap.dot")]}))
    finally:
        done.set()
    for t in threads:
        t.join()
"""


def test_a_thread_local_group_spans_its_threads(run_script):
    # 200 buffers of one threading.local attribute in four threads are one
    # group: its path names no one thread, and its holder is the local.
    out = json.loads(run_script(THREAD_LOCALS).stdout)
    local = "module __main__ \u2192 ['_tls'] _local"
    assert out["live"][:3] == [200, local + " \u2192 .bufs in thread * list \u2192 [*] bytearray",
                               local], out
    assert out["snap"] == out["live"][:3]
    growth = out["growth"]
    assert growth[0].startswith("bytearray ") and growth[0].split()[2] == "+200", growth
    assert growth[1].startswith("    held by %s, which retains " % local), growth
    for dot in out["drawings"]:
        assert 'label=".bufs in thread *"' in dot and "worker-" not in dot


POSITIONAL = """
    import contextvars, io, json, queue, sys, xml.etree.ElementTree as ET
    import refchain

    class Item: pass
    class Req: pass
    refchain.show_growth(file=io.StringIO())
    Q = queue.SimpleQueue()
    for _ in range(50):
        Q.put(Item())
    ROOT = ET.Element("root")            # its children are <referent #k> each
    for _ in range(30):
        ET.SubElement(ROOT, "child")
    VARS = [contextvars.ContextVar("v%d" % i) for i in range(20)]
    KEEP = []
    def fill(i):
        for j, var in enumerate(VARS):
            var.set(Req() if j == i % 20 else j)
        KEEP.append(contextvars.copy_context())
    for i in range(60):
        contextvars.Context().run(fill, i)

    def summary(groups):
        return [[g.count, g.path()] for g in groups]
    TYPES = ("Item", "Element", "Req")
    live = {t: summary(refchain.explain(t, limit=100)) for t in TYPES}
    growth = io.StringIO()
    refchain.show_growth(limit=10, holders=True, file=growth)
    refchain.dump("heap.rcsnap")
    snap = refchain.load("heap.rcsnap")
    offline = {t: summary(snap.explain(t, limit=100)) for t in TYPES}
    print(json.dumps({"live": live, "offline": offline, "growth": growth.getvalue(),
                      "req": str(refchain.find_chain(KEEP[3][VARS[3]])),
                      "version": sys.version_info[:2]}))
"""


def test_references_known_by_their_place_group_as_items(run_script):
    # A SimpleQueue's 50 items, an Element's 30 children (<referent #k>
    # each) and 60 values of 20 context variables held by one list are one
    # group each, live and offline, not one group per position.
    out = json.loads(run_script(POSITIONAL).stdout)
    queued = ("module __main__ \u2192 ['Q'] SimpleQueue \u2192 [*] Item"
              if tuple(out["version"]) >= (3, 13) else
              "module __main__ \u2192 ['Q'] SimpleQueue \u2192 items list \u2192 [*] Item")
    assert out["live"]["Item"] == [[50, queued]]
    children = [g for g in out["live"]["Element"] if g[0] > 1]
    assert children == [[30, "module __main__ \u2192 ['ROOT'] Element \u2192 "
                             "<referent #*> Element"]], out["live"]["Element"]
    req = out["live"]["Req"]
    assert len(req) == 1 and req[0][0] == 60, req
    assert req[0][1].startswith("module __main__ \u2192 ['KEEP'] list \u2192 [*] Context "
                                "\u2192 variables hamt \u2192 "), req
    assert req[0][1].endswith(" hamt_bitmap_node \u2192 [*] Req"), req
    assert out["offline"] == out["live"]
    # The chain of one value names its variable.
    assert "[3] Context \u2192 variables hamt \u2192 " in out["req"], out["req"]
    # (The HAMT's depth follows the variables' hashes, their addresses: two
    # nested bitmap nodes read "hamt_bitmap_node \u00d72".)
    assert re.search(r" hamt_bitmap_node( \u00d7\d+)? \u2192 \[ContextVar 'v3'\] Req",
                     out["req"]), out["req"]
    # show_growth(holders=True) names the list that holds them all.
    assert "held by module __main__ \u2192 ['KEEP'] list" in out["growth"], out["growth"]


def test_explain_of_objects_of_one_type_names_the_type(run_script):
    out = run_script("""
    import io, json, refchain
    class Blob: pass
    HELD = [Blob() for _ in range(34)]
    MIXED = HELD[:3] + [bytearray(8)]
    buf = io.StringIO()
    refchain.show_explain(list(HELD), file=buf)
    print(json.dumps([buf.getvalue().splitlines()[0],
                      [g.typename for g in refchain.explain(MIXED)],
                      [g.typename for g in refchain.explain([])]]))
    """).stdout
    first, mixed, empty = json.loads(out)
    assert first.startswith("34 Blob ("), first
    assert set(mixed) == {"objects"}
    assert empty == []


def test_a_bounded_lru_caches_results_are_one_group(run_script):
    # A bounded cache holds its entries itself (no dict between): its
    # results are items, as an unbounded cache's are.
    out = run_script("""
    import functools, json, refchain
    class Result: pass
    @functools.lru_cache(maxsize=1000)
    def lookup(i):
        return Result()
    for i in range(300):
        lookup(i)
    print(json.dumps([[g.count, g.path()] for g in refchain.explain(Result)]))
    """).stdout
    # The program holds the cache (a module global): it is no root of its own.
    assert json.loads(out) == [
        [300, "module __main__ \u2192 ['lookup'] _lru_cache_wrapper \u2192 [*] Result"]]


def test_classes_made_at_runtime_are_one_group_held_through_their_registry(run_script):
    from test_chains import registry_answers
    got = registry_answers(run_script)
    assert got["groups"] == [[300, "class __main__.PluginMeta \u2192 .registry dict \u2192 [*] PluginMeta"]]
