"""garbage, collect_report and cycle_monitor: cycles and finalizer garbage,
explained without collecting (unless asked)."""

import json
import sys

from refchain._format import human_bytes

DOC_CYCLES = """
    import gc, json
    import refchain
    gc.disable()
    gc.collect()

    class Parent:
        def __del__(self):
            pass
    class Child:
        pass
    class Node:
        pass

    def make_pair():
        p, c = Parent(), Child()
        p.child, c.parent = c, p
    def make_self():
        n = Node()
        n.me = n
    def make_closure():
        def handler():
            return handler        # refers to itself through its closure cell
    for _ in range(300):
        make_pair()
    for _ in range(200):
        make_self()
    for _ in range(100):
        make_closure()
    """


def test_garbage_predicts_the_next_collection(run_script):
    out = run_script(DOC_CYCLES + """
    report = refchain.garbage()
    rows = [[g.signature, g.count, g.has_finalizers, g.objects] for g in report]
    predicted = report.object_count
    del report
    print(json.dumps([predicted, gc.collect(), rows]))
    """).stdout
    predicted, collected, rows = json.loads(out)
    assert predicted == collected > 0
    by_signature = {r[0]: r for r in rows}
    assert by_signature["Child ↔ Parent"][1:3] == [300, True]
    assert by_signature["Node ↺"][1:3] == [200, False]
    closures = [r for r in rows if "function" in r[0] and "cell" in r[0]]
    assert [r[1] for r in closures] == [100]


def test_what_no_traversal_reports_is_counted_as_the_collector_counts_it(run_script):
    # The collector judges an object held from outside when a reference to
    # it is not reported by any tp_traverse: a class's dict of weak
    # references to its subclasses, and on 3.13 an instance's materialised
    # __dict__ while its inline values stay valid.  The pass that frees the
    # holder frees those after the count: the prediction counted them too
    # (30 and 20 objects over here), live and from a dump.
    out = run_script("""
    import gc, json
    import refchain
    gc.disable()
    gc.collect()

    class N:
        pass

    def classes():
        a = type("A", (), {})
        a.kids = [type("B", (a,), {}), type("C", (a,), {})]
    def pairs():
        a, b = N(), N()
        a.peer, b.peer = b, a
        a.__dict__, b.__dict__        # materialised
    for _ in range(10):
        classes()
        pairs()
    refchain.dump("g.rcsnap")
    offline = refchain.load("g.rcsnap").garbage().object_count
    live = refchain.garbage().object_count
    print(json.dumps([live, offline, gc.collect()]))
    """).stdout
    live, offline, collected = json.loads(out)
    assert live == offline == collected > 10 * 10


def test_freed_bytes_count_what_only_the_cycles_hold(run_script):
    # The cycles' members are 600 small objects; the 300 payloads only they
    # hold (bytes, which the collector does not track) are most of what a
    # collection frees.  The oracle: the collector's own finds (saved by
    # gc.DEBUG_SAVEALL) and the payloads, by sys.getsizeof().
    out = run_script("""
    import gc, json, sys
    import refchain
    gc.disable()
    gc.collect()

    class Parent:
        pass
    class Child:
        pass

    def make_pair(i):
        p, c = Parent(), Child()
        p.child, c.parent = c, p
        c.data = bytes(5000 + i)
    for i in range(300):
        make_pair(i)
    report = refchain.garbage()
    refchain.dump("g.rcsnap")
    offline = refchain.load("g.rcsnap").garbage()
    answers = [report.freed_bytes, offline.freed_bytes, str(report).splitlines()[0]]
    del report, offline
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    found = sum(map(sys.getsizeof, gc.garbage))
    payloads = sum(sys.getsizeof(bytes(5000 + i)) for i in range(300))
    print(json.dumps(answers + [found + payloads, payloads]))
    """).stdout
    live, offline, line, oracle, payloads = json.loads(out)
    assert live == offline == oracle
    assert payloads > 0.9 * live
    assert line.endswith(" objects (%s in all, with what only they hold); their cycles:"
                         % human_bytes(live)), line


def test_each_group_spells_out_one_cycle(run_script):
    out = run_script(DOC_CYCLES + """
    class Link:
        __slots__ = ("next",)
    first = last = Link()
    for _ in range(9999):
        last.next = Link()
        last = last.next
    last.next = first               # a ring of 10,000 Links
    del first, last
    rows = {g.signature: [g.path(), g.hops, g.cycle, str(g)] for g in refchain.garbage()}
    print(json.dumps([rows, refchain._garbage.CYCLE_HOPS]))
    """).stdout
    rows, shown = json.loads(out)
    # The same on every version: an instance's __dict__ is folded into
    # '.attr', as in chains.
    path, hops, (nodes, edges), text = rows["Child ↔ Parent"]
    assert path in ("Parent → .child Child → .parent Parent",
                    "Child → .parent Parent → .child Child")
    words = path.split(" ")
    assert [name for name, _ in nodes] == [words[0], words[3]]
    # hops counts references: before 3.11 each instance's __dict__ is one more.
    per_instance = 1 if sys.version_info >= (3, 11) else 2
    assert hops == 2 * per_instance
    assert [(i, j) for i, j, _ in edges] == [(0, 1), (1, 0)]
    assert text.endswith("with finalizers (__del__): %s." % path)
    assert rows["Node ↺"][:2] == ["Node → .me Node", per_instance]
    closure = next(row for sig, row in rows.items() if "cell" in sig and "function" in sig)
    assert ".cell_contents function" in closure[0] and "closure cell 'handler'" in closure[0]
    # A long cycle is counted, not spelled out: its first CYCLE_HOPS references.
    path, hops, (nodes, edges), text = rows["Link ↺"]
    assert hops == 10000 and len(edges) == shown and len(nodes) == shown + 1
    assert edges[-1][:2] == [shown - 1, shown]
    assert path == "Link → .next Link ×%d → … %d more references → Link" % (shown, 10000 - shown)


def test_chains_are_seen_as_the_collector_sees_them(run_script):
    """A Chain the user holds keeps its objects alive; a Chain that is
    itself garbage is freed with what it holds.  The prediction follows
    gc.collect() in both cases."""
    out = run_script("""
    import gc, json, refchain
    gc.disable()
    gc.collect()
    class Node:
        pass
    HOLD = []
    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a, b
    a, b = cycle()
    HOLD.append(a)
    KEPT = refchain.find_chain(b)    # module → HOLD → a → b
    del a, b
    HOLD.clear()                     # now only the chain holds the cycle
    held = [refchain.garbage().object_count, gc.collect()]
    del KEPT
    dropped = [refchain.garbage().object_count, gc.collect()]
    def make():
        a, b = cycle()
        return refchain.find_chain(b)   # starts at this frame, which holds the chain
    CHAIN = make()
    with_frame = [refchain.garbage().object_count]
    del CHAIN                        # garbage now (before 3.11, chain <-> frame too)
    with_frame += [refchain.garbage().object_count, gc.collect()]
    print(json.dumps([held, dropped, with_frame]))
    """).stdout
    held, dropped, with_frame = json.loads(out)
    assert held == [0, 0]
    assert dropped[0] == dropped[1] >= 2
    assert with_frame[0] == 0 and with_frame[1] == with_frame[2] >= 2


def test_reachable_cycles_are_not_garbage(run_script):
    out = run_script("""
    import gc, json, refchain
    gc.disable()
    gc.collect()
    def fail():
        local = [1, 2, 3]
        raise ValueError("kept")
    try:
        fail()
    except ValueError as e:
        KEPT = e                  # the traceback's frames form cycles, all reachable
    report = refchain.garbage()
    print(json.dumps([report.object_count, len(report), gc.collect()]))
    """).stdout
    assert json.loads(out) == [0, 0, 0]


def test_asking_changes_nothing(run_script):
    out = run_script(DOC_CYCLES + """
    before = refchain.census()
    report = refchain.garbage()
    del report
    after = refchain.census()
    print(json.dumps([before == after, [[r.name, r.delta] for r in after - before]]))
    """).stdout
    same, diff = json.loads(out)
    assert same, diff


def test_no_collection_unless_asked(run_script):
    out = run_script("""
    import gc, json, refchain
    runs = []
    gc.disable()
    gc.collect()
    gc.callbacks.append(lambda phase, info: runs.append(phase))
    class Node:
        pass
    gc.disable()
    for _ in range(1000):
        n = Node()
        n.me = n
    refchain.garbage()
    refchain.census()
    refchain.explain(Node)
    print(json.dumps(runs))
    """).stdout
    assert json.loads(out) == []


def test_collect_report_explains_a_collection(run_script):
    out = run_script(DOC_CYCLES + """
    flags = gc.get_debug()
    report = refchain.collect_report()
    print(json.dumps([report.collected, [[g.signature, g.count] for g in report],
                      gc.get_debug() == flags, gc.garbage == [], report.resurrected,
                      gc.collect(), str(report).splitlines()[0]]))
    """).stdout
    collected, groups, flags_kept, garbage_kept, resurrected, after, first = json.loads(out)
    assert collected > 0 and flags_kept and garbage_kept and resurrected == []
    assert ["Child ↔ Parent", 300] in groups and ["Node ↺", 200] in groups
    assert after == 0                       # the saved objects were freed afterwards
    assert first == "gc.collect() freed %d objects; their cycles:" % collected


def test_resurrection_is_reported(run_script):
    out = run_script("""
    import gc, json, refchain
    gc.disable()
    gc.collect()
    SAVED = []
    class Phoenix:
        def __del__(self):
            SAVED.append(self)      # resurrects itself
    def make():
        p = Phoenix()
        p.me = p
    make()
    report = refchain.collect_report()
    print(json.dumps([[name for name, addr in report.resurrected], len(SAVED),
                      any(addr == id(SAVED[0]) for name, addr in report.resurrected)]))
    print(report)
    """).stdout
    first, text = out.split("\n", 1)
    names, saved, same_object = json.loads(first)
    assert names == ["Phoenix"] and saved == 1 and same_object
    assert "resurrected" in text


def test_garbage_warns_that_finalizers_may_keep_objects(run_script):
    # A prediction cannot run __del__: four Phoenixes resurrect themselves
    # (and their payloads), so gc.collect() returns fewer than object_count.
    # The report says how many objects have a finalizer, even when their
    # group is past `limit`, and a snapshot says the same.
    out = run_script("""
    import gc, json, refchain
    gc.disable()
    gc.collect()
    SAVED = []
    class Phoenix:
        def __init__(self):
            self.me = self
            self.payload = [bytearray(10) for _ in range(3)]
        def __del__(self):
            SAVED.append(self)
    class Node:
        pass
    for _ in range(4):
        Phoenix()
    for _ in range(50):
        n = Node(); n.me = n
    del n
    report = refchain.garbage(limit=1)
    refchain.dump("g.rcsnap")
    snap = refchain.load("g.rcsnap").garbage(limit=1)
    print(json.dumps([report.object_count, report.finalizer_objects, snap.finalizer_objects,
                      [g.signature for g in report], str(snap) == str(report),
                      gc.collect(), len(SAVED)]))
    print(report)
    """).stdout
    first, text = out.split("\n", 1)
    predicted, finalizers, snap_finalizers, shown, same_text, collected, saved = \
        json.loads(first)
    assert shown == ["Node \u21ba"]
    assert finalizers == snap_finalizers == 4 and same_text
    assert saved == 4 and collected < predicted
    assert ("4 of them have a finalizer (__del__), which runs first: if one stores a "
            "reference to what it reaches somewhere reachable, that stays alive and "
            "gc.collect() returns fewer than %d; collect_report() tells which." % predicted) \
        in text


def test_no_finalizer_no_warning(run_script):
    out = run_script("""
    import gc, refchain
    gc.disable()
    gc.collect()
    class Node:
        pass
    for _ in range(5):
        n = Node(); n.me = n
    del n
    report = refchain.garbage()
    print(report.finalizer_objects)
    print(report)
    """).stdout
    assert out.startswith("0\n") and "finalizer" not in out


def test_cycle_monitor_names_the_types_forming_cycles(run_script):
    out = run_script("""
    import gc, json, refchain
    class Request:
        pass
    class Response:
        pass
    def handle():
        req, resp = Request(), Response()
        req.response, resp.request = resp, req
    with refchain.cycle_monitor(sample_every=1) as monitor:
        for _ in range(500):
            handle()
        gc.collect()
    print(json.dumps([monitor.collections, sum(monitor.collected), monitor.samples,
                      monitor.cycles.get("Request ↔ Response", 0)]))
    print(monitor)
    """).stdout
    first, text = out.split("\n", 1)
    collections, collected, samples, cycles = json.loads(first)
    assert collections[2] >= 1 and collected >= 1000 and samples >= 1 and cycles >= 1
    assert "Request ↔ Response" in text
