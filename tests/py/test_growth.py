"""show_growth, growth, count, by_type and new_objects: the leak recipe."""

import json

from conftest import line_of

CACHE_LEAK = """
    import gc, json, sys
    import refchain
    _CACHE = {}
    def handle(request_id):
        _CACHE[request_id] = bytes(1024)
        return len(_CACHE)
    handle(-1)                      # warm up
    gc.collect()                    # import cycles must not die mid-count
    refchain.growth(limit=None)     # baseline
    for i in range(10000):
        handle(i)
    """


def test_cache_leak_growth_counts_every_bytes_and_int(run_script):
    out = run_script(CACHE_LEAK + """
    rows = {name: (count, delta) for name, count, delta in refchain.growth(limit=None)}
    print(json.dumps(rows))
    """).stdout
    rows = json.loads(out)
    assert rows["bytes"][1] == 10000
    # Keys 0..256 are cached small ints; every other key is a new int.
    assert rows["int"][1] >= 10000 - 257


def test_show_growth_names_the_leaking_line(run_script):
    source = CACHE_LEAK.replace("import refchain", "import refchain, tracemalloc\n    tracemalloc.start()") + """
    refchain.show_growth()
    """
    out = run_script(source, name="leak.py").stdout
    lines = out.splitlines()
    bytes_at = next(i for i, line in enumerate(lines) if line.split()[0] == "bytes")
    assert lines[bytes_at].split()[2] == "+10000"
    assert lines[bytes_at].split()[3:5] == ["+10.1", "MiB"]
    leak_line = line_of(source, "bytes(1024)")
    assert lines[bytes_at + 1] == "    +10000 at leak.py:%d" % leak_line
    assert "tracemalloc is off" not in out


LINES_FROM_A_CENSUS = """
    import io, threading, tracemalloc
    tracemalloc.start(5)
    import refchain

    class Leaky:
        pass

    HOLD = []
    def leak(n):
        HOLD.extend(Leaky() for _ in range(n))      # the leak
        HOLD.extend(str(i) * 3 for i in range(n))   # the strings

    stop = threading.Event()
    def churn():                                    # a thread at work meanwhile
        while not stop.is_set():
            [object() for _ in range(100)]
            stop.wait(0.001)
    worker = threading.Thread(target=churn)
    worker.start()
    refchain.show_growth(file=io.StringIO())        # the baseline
    for n in (3000, 1234):
        point = refchain.census()
        leak(n)
        out = io.StringIO()
        refchain.show_growth(file=out)
        print(out.getvalue())
        print("NEW", len(refchain.new_objects("Leaky", since=point)))
    stop.set()
    worker.join()
"""


def test_show_growth_lines_come_from_its_census(run_script):
    """With tracemalloc, show_growth finds the new objects behind its rows
    in the census it counted with (no graph): the lines name every new
    object of each row, as new_objects() (a capture) finds them, while
    another thread allocates."""
    out = run_script(LINES_FROM_A_CENSUS, name="app.py").stdout
    at = "at app.py:%d" % line_of(LINES_FROM_A_CENSUS, "# the leak")
    strings_at = "at app.py:%d" % line_of(LINES_FROM_A_CENSUS, "# the strings")
    rounds = out.split("NEW ")
    for n, text in zip((3000, 1234), rounds):
        lines = text.splitlines()
        row = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Leaky"])
        assert lines[row].split()[2] == "+%d" % n, text
        assert lines[row + 1] == "    +%d %s" % (n, at), text
        assert "    +%d %s" % (n, strings_at) in lines, text
        assert "refchain" not in text, text
    assert [r.split()[0] for r in rounds[1:]] == ["3000", "1234"]


def test_show_growth_without_tracemalloc_says_how_to_turn_it_on(run_script):
    out = run_script(CACHE_LEAK + """
    refchain.show_growth()
    """).stdout
    assert "+10000" in out
    hints = [line for line in out.splitlines() if "tracemalloc" in line]
    assert len(hints) == 1
    assert "PYTHONTRACEMALLOC=1" in hints[0] and "tracemalloc.start()" in hints[0]


def test_objgraph_prints_nothing_for_the_same_leak(run_script):
    out = run_script("""
    import gc, io
    import objgraph, refchain
    _CACHE = {}
    def handle(request_id):
        _CACHE[request_id] = bytes(1024)
    handle(-1)
    # Settle what the imports left: on 3.13 (modules compiled from source,
    # PYTHONDONTWRITEBYTECODE) a full collection can release objects that
    # only the next one frees, and a peak taken in between stays too high.
    gc.collect()
    gc.collect()
    theirs, ours, sink = io.StringIO(), io.StringIO(), io.StringIO()
    for _ in range(2):  # the first call reports everything; settle both
        objgraph.show_growth(file=sink)
        refchain.show_growth(file=sink)
    for i in range(10000):
        handle(i)
    objgraph.show_growth(file=theirs)
    refchain.show_growth(file=ours)
    print("OBJGRAPH<%s>" % theirs.getvalue())
    print("REFCHAIN<%s>" % ours.getvalue())
    """).stdout
    assert "OBJGRAPH<>" in out
    assert "+10000" in out.split("REFCHAIN<")[1]


def test_no_self_noise(run_script):
    out = run_script("""
    import io
    import refchain

    class Thing:
        def __init__(self, i):
            self.name = "thing-%d" % i
            self.data = [bytes(100), {"k": i * 1000}]

    def churn():
        things = [Thing(i) for i in range(2000)]
        table = {t.name: t for t in things}
        return len(table)

    out = io.StringIO()
    refchain.show_growth(file=io.StringIO())    # baseline
    for _ in range(5):
        churn()
        refchain.show_growth(file=out)
    # Holding the tool's own results is not growth either.
    census_a = refchain.census()
    graph_a = refchain.capture()
    census_b = refchain.census()
    graph_b = refchain.capture()
    diff = census_b - census_a
    refchain.show_growth(file=out)
    print("OUT<%s>" % out.getvalue())
    """).stdout
    assert "OUT<>" in out


def test_leaked_instances_are_counted_exactly(run_script):
    out = run_script("""
    import json
    import refchain

    class Slotted:
        __slots__ = ("a", "b")
    class Plain:
        def __init__(self):
            self.x = 1
    class Item:
        pass
    class Holder:
        def __init__(self):
            self.items = []

    _SLOTTED, _PLAIN = [], []
    _HOLDERS = [Holder() for _ in range(10)]
    refchain.growth(limit=None)
    for i in range(1234):
        _SLOTTED.append(Slotted())
    for i in range(2345):
        _PLAIN.append(Plain())
    for i in range(3456):
        _HOLDERS[i % 10].items.append(Item())
    grown = {name: delta for name, count, delta in refchain.growth(limit=None)}
    counts = {name: refchain.count(name) for name in ("Slotted", "Plain", "Item", "Holder")}
    counts["Item-by-type"] = refchain.count(Item)
    counts["by_type"] = len(refchain.by_type("__main__.Slotted"))
    print(json.dumps([grown, counts]))
    """).stdout
    grown, counts = json.loads(out)
    assert grown["Slotted"] == 1234
    assert grown["Plain"] == 2345
    assert grown["Item"] == 3456
    assert counts == {"Slotted": 1234, "Plain": 2345, "Item": 3456, "Holder": 10,
                      "Item-by-type": 3456, "by_type": 1234}


def test_growth_follows_peaks_and_long_names(run_script):
    out = run_script("""
    import json
    import refchain
    class Leaky:
        pass
    keep = []
    refchain.growth(limit=None, shortnames=False)
    keep.extend(Leaky() for _ in range(100))
    first = refchain.growth(limit=None, shortnames=False)
    del keep[50:]
    after_drop = refchain.growth(limit=None, shortnames=False)
    keep.extend(Leaky() for _ in range(60))     # 110: 10 above the peak
    again = refchain.growth(limit=None, shortnames=False)
    print(json.dumps([first, after_drop, again]))
    """).stdout
    first, after_drop, again = json.loads(out)
    assert ["__main__.Leaky", 100, 100] in first
    assert not [r for r in after_drop if r[0] == "__main__.Leaky"]
    assert ["__main__.Leaky", 110, 10] in again


def test_new_objects_since_a_census_point(run_script):
    out = run_script("""
    import json
    import refchain
    class Leaky:
        pass
    old = [Leaky() for _ in range(5)]
    point = refchain.census()
    new = [Leaky() for _ in range(7)]
    found = refchain.new_objects("Leaky", since=point)
    refchain.growth()
    newer = [Leaky() for _ in range(3)]
    since_growth = refchain.new_objects(Leaky)
    print(json.dumps([
        len(found), all(any(f is n for n in new) for f in found),
        len(since_growth), sorted(map(id, since_growth)) == sorted(map(id, newer)),
        len(refchain.new_objects("NoSuchType")),
    ]))
    """).stdout
    assert json.loads(out) == [7, True, 3, True, 0]


def test_a_small_int_that_became_reachable_is_not_new(run_script):
    # CPython makes the ints -5 to 256 once and shares them.  Some of them
    # are referenced by nothing at the census point; held afterwards, they
    # are not new objects (a leak report named one "held through C code").
    out = run_script("""
    import json
    import refchain
    point = refchain.census()
    held = [int(str(v)) for v in range(-5, 257)]
    new = [int(str(v)) for v in range(10 ** 6, 10 ** 6 + 5)]
    live = refchain.new_objects("int", since=point)
    refchain.dump("now.rcsnap")
    snap = refchain.new_objects("int", since=point) and refchain.load("now.rcsnap")
    from_file = [int(n.value) for n in snap.new_objects("int", since=point)]
    print(json.dumps([[v for v in live if -5 <= v <= 256], sorted(v for v in live if v >= 10 ** 6),
                      [v for v in from_file if -5 <= v <= 256],
                      sorted(v for v in from_file if v >= 10 ** 6)]))
    """).stdout
    big = list(range(10 ** 6, 10 ** 6 + 5))
    assert json.loads(out) == [[], big, [], big]


def test_a_census_without_ids_counts_the_same_and_remembers_nothing(run_script):
    out = run_script("""
    import json
    import refchain
    class Leaky:
        pass
    keep = [Leaky() for _ in range(5)]
    with_ids, without = refchain.census(), refchain.census(ids=False)
    errors = []
    for call in (lambda: refchain.new_objects("Leaky", since=without),
                 lambda: refchain.leaks(since=without)):
        try:
            call()
        except ValueError as e:
            errors.append(str(e))
    print(json.dumps([not (without - with_ids), without["__main__.Leaky"].count,
                      without.total == with_ids.total, errors]))
    """).stdout
    same, leaky, totals, errors = json.loads(out)
    assert same and leaky == 5 and totals
    assert errors == ["new_objects(): this census does not remember its objects",
                      "since: this census does not remember its objects"]


def test_census_mapping_and_diff():
    import refchain

    keep = [bytearray(10) for _ in range(321)]
    a = refchain.census()
    keep.extend(bytearray(10) for _ in range(100))
    b = refchain.census()
    assert isinstance(a, refchain.Census)
    assert a["bytearray"].count >= 321 and "bytearray" in a
    count, nbytes = b["bytearray"]
    assert nbytes >= count * 57
    assert a.get("NoSuchType") is None and "NoSuchType" not in a
    assert len(a) == len(a.keys()) == len(list(a)) == len(a.items())
    assert a.total.count == sum(v.count for v in a.values())
    top = a.top(3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    diff = b - a
    row = next(r for r in diff if r.name == "bytearray")
    assert (row.delta, row.count) == (100, b["bytearray"].count)
    assert row.bytes_delta == b["bytearray"].bytes - a["bytearray"].bytes
    deltas = [r.delta for r in diff]
    assert deltas == sorted(deltas, reverse=True)
    assert "bytearray" in str(diff) and "(total, %d types)" % len(b) in str(b)
    assert a == a and a != b
    del keep


# A caching layer as a library writes one: a registry of named Memos, the
# one in use keeping an entry per key in its _store (the key includes the
# request id, so nothing ever hits or evicts).
MEMO = """
    import gc, io, json
    import refchain
    from refchain._explain import _retaining_text

    class Entry:
        __slots__ = ("value", "hits")
        def __init__(self, value):
            self.value, self.hits = value, 0

    class Memo:
        def __init__(self, name):
            self.name = name
            self._store = {}

    _registry = {}

    class Report:
        def __init__(self, user):
            self.user = user
            self.rows = [("row", user, i) for i in range(5)]

    def handle(request_id):
        memo = _registry.setdefault("reports", Memo("reports"))
        memo._store[("report", request_id)] = Entry(Report("user%d" % request_id))

    handle(-1)
    gc.collect()
    refchain.show_growth(file=io.StringIO(), holders=True)
    for i in range(600):
        handle(i)
    out = io.StringIO()
    refchain.show_growth(limit=4, file=out, holders=True)
    store_id = id(_registry["reports"]._store)    # no global to the store: one chain
    group = refchain.explain("Report", limit=1)[0]
    live = [id(group.holder) == store_id, group.path(holder=True), group.holder_retained_bytes]
    group = None
    refchain.dump("memo.rcsnap")
    sg = refchain.load("memo.rcsnap").explain("__main__.Report", limit=1)[0]
    retained = refchain.retained(_registry["reports"]._store)
    print(json.dumps({
        "lines": out.getvalue().splitlines(), "live": live,
        "store": _retaining_text(*retained), "store_bytes": retained[0],
        "snap": [sg.holder.address == store_id, sg.path(holder=True), sg.holder_retained_bytes],
        "suspect": id(refchain.suspects(limit=1)[0].obj) == store_id,
    }))
    """


def test_show_growth_holder_is_where_the_paths_part(run_script):
    """holders=True names the Memo's _store of 601 entries, where the new
    objects' paths part (as suspects() does), not the registry dict above it,
    which holds one Memo; live and in a snapshot's groups."""
    out = json.loads(run_script(MEMO).stdout)
    lines = out["lines"]
    path = "module __main__ \u2192 ['_registry'] dict \u2192 ['reports'] Memo \u2192 ._store dict"
    # Each row (tuple, str, Report, Entry: 600 or more new) says the same.
    held = [line for line in lines if line.startswith("    held by ")]
    assert len(held) == 4 and lines[0].startswith("tuple "), lines
    for line in held:
        assert line == "    held by %s, which retains %s" % (path, out["store"]), lines
    assert out["live"] == [True, path, out["store_bytes"]]
    assert out["snap"] == [True, path, out["store_bytes"]]
    assert out["suspect"]
