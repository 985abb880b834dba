"""retained, suspects and show_dominators: what would be freed (issue 15)."""

import json
import os
import subprocess
import sys

import pytest

import refchain
from conftest import _pythonpath

HERE = os.path.dirname(os.path.abspath(__file__))


def test_random_heaps_retained_matches_the_oracle():
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    env.pop("PYTHONTRACEMALLOC", None)
    proc = subprocess.run([sys.executable, "-S", os.path.join(HERE, "domheap.py"), "0", "100"],
                          env=env, capture_output=True, text=True, timeout=600)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    summary = json.loads(lines[-1])
    assert summary["seeds"] == 100
    assert summary["checked"] >= 100, summary
    assert summary["retaining_more"] >= 40, summary     # not only (size, 1) answers
    assert summary["failures"] == 0, "\n".join(lines[:10])


# The classic cache leak: a module-level dict caching bytes(1024) per request id.
CACHE_LEAK_BODY = """
    _CACHE = {}

    def handle(request_id):
        page = _CACHE.get(request_id)
        if page is None:
            page = _CACHE[request_id] = bytes(1024)
        return page

    for request_id in range(20000):
        handle(request_id)
"""

CACHE_LEAK = """
    import gc, json
    import refchain
""" + CACHE_LEAK_BODY + """    gc.collect()
    found = refchain.suspects(limit=3)
    top = found[0]
    print(json.dumps({
        "is_cache": top.obj is _CACHE,
        "bytes_in_cache": sum(1 for v in _CACHE.values() if type(v) is bytes),
        "accumulated": top.accumulated,
        "accumulated_count": top.accumulated_count,
        "count": top.count,
        "retained": list(refchain.retained(_CACHE)),
        "bytes": top.bytes,
        "share": top.share,
        "text": str(top),
        "repr": repr(top),
        "sorted": [s.bytes for s in found] == sorted((s.bytes for s in found), reverse=True),
    }))
    """


def test_the_classic_cache_leak(run_script):
    out = json.loads(run_script(CACHE_LEAK).stdout)
    assert out["is_cache"]
    assert out["accumulated"] == "bytes"
    assert out["accumulated_count"] == out["bytes_in_cache"] == 20000
    # The dict, the 20,000 bytes and the int keys it alone holds: not the
    # small ints 0..256, nor 19999, which the global request_id holds too.
    assert out["count"] == 1 + 20000 + (20000 - 257 - 1)
    assert out["retained"] == [out["bytes"], out["count"]]
    assert out["bytes"] > 20000 * 1024
    assert 0.3 < out["share"] <= 1.0
    assert out["text"].startswith("dict held by module __main__ \u2192 ['_CACHE'] retains ")
    assert out["text"].endswith("of the heap) in 20,000 bytes"), out["text"]
    assert out["repr"].startswith("<refchain.Suspect: dict retains ")
    assert out["sorted"]



# A linked-list leak (a user's trial): each request keeps the previous one
# alive, the newest held by a global.  Every node dominates the next, so the
# deepest node still retaining 1% was the only suspect, 19,800 hops down,
# its line 300 KB long; the head, which retains it all, was never named.
LINKED_LEAK = """
    import gc, json, subprocess, sys
    import refchain

    class Request:
        def __init__(self, prev, n):
            self.prev = prev
            self.body = bytearray(2000)
            self.n = n

    class Node:
        __slots__ = ("next", "payload")

    LAST = None
    for n in range(20000):
        LAST = Request(LAST, n)
    gc.collect()
    found = refchain.suspects(limit=3)
    top = found[0]
    out = {
        "is_last": top.obj is LAST,
        "retained": list(refchain.retained(LAST)),
        "bytes": top.bytes, "count": top.count, "share": top.share,
        "linked": top.linked, "accumulated": top.accumulated,
        "accumulated_count": top.accumulated_count,
        "holder": top.holder(), "text": str(top),
        "longest": max(len(str(s)) for s in found),
    }
    refchain.dump("linked.rcsnap")
    snap = refchain.load("linked.rcsnap")
    out["snapshot"] = [str(s) for s in snap.suspects(limit=3)]
    out["live"] = [str(s) for s in found]
    found = top = snap = None
    cli = subprocess.run([sys.executable, "-m", "refchain", "suspects", "linked.rcsnap"],
                         capture_output=True, text=True)
    out["cli"], out["cli_err"] = cli.stdout, cli.stderr
    LAST = None
    # The same through __slots__: no __dict__ between the nodes.
    HEAD = None
    for i in range(50000):
        x = Node(); x.next = HEAD; x.payload = b"p" * 300; HEAD = x
    x = None
    gc.collect()
    top = refchain.suspects(limit=1)[0]
    out["slots"] = [top.obj is HEAD, top.linked, top.accumulated_count, str(top)]
    print(json.dumps(out))
    """


def test_a_linked_list_leak_is_named_at_its_head(run_script):
    out = json.loads(run_script(LINKED_LEAK).stdout)
    # The global's Request, retaining the whole list: most of the heap.
    assert out["is_last"], out["text"]
    assert out["retained"] == [out["bytes"], out["count"]]
    assert out["share"] > 0.85, out["text"]
    assert out["linked"] is True
    assert out["accumulated"] == "__main__.Request"
    assert out["accumulated_count"] == 20000
    assert out["holder"] == "Request held by module __main__ \u2192 ['LAST']"
    assert out["text"].startswith("Request held by module __main__ \u2192 ['LAST'] retains ")
    assert out["text"].endswith("of the heap) in 20,000 linked __main__.Request"), out["text"]
    assert out["longest"] < 500
    # A snapshot and the command line say the same, in a few lines.
    assert out["snapshot"] == out["live"]
    assert out["cli_err"] == ""
    assert out["cli"].splitlines() == out["live"]
    assert len(out["cli"]) < 1500
    is_head, linked, count, text = out["slots"]
    assert is_head and linked and count == 50000, text
    assert text.startswith("Node held by module __main__ \u2192 ['HEAD'] retains ")
    assert text.endswith(" in 50,000 linked __main__.Node")


# A suspect at the end of a linked list: the cache the last node keeps is
# what accumulates, many hops down; its line reads the repeated hop once.
DEEP_SUSPECT = """
    import gc, json
    import refchain
    from refchain import _html
    from refchain._shapes import suspect_json

    class Node:
        def __init__(self, nxt):
            self.next = nxt

    HEAD = Node(None)
    HEAD.cache = {i: bytes(512) for i in range(20000)}
    CACHE_ID = id(HEAD.cache)
    for i in range(3000):
        HEAD = Node(HEAD)
    gc.collect()
    top = refchain.suspects(limit=1)[0]
    out = {"is_cache": id(top.obj) == CACHE_ID, "text": str(top),
           "holder": top.holder(), "linked": top.linked, "chain": str(top.chain)}
    top = None
    refchain.dump("deep.rcsnap")
    snap = refchain.load("deep.rcsnap")
    out["snapshot"] = str(snap.suspects(limit=1)[0])
    row = _html.build(snap, suspects=1)["suspects"][0]
    out["html"] = [row["text"], row["holder"]]
    print(json.dumps(out))
    """


def test_a_deep_suspect_reads_repeated_hops_once(run_script):
    out = json.loads(run_script(DEEP_SUSPECT).stdout)
    assert out["is_cache"] and not out["linked"]
    want = "dict held by module __main__ \u2192 ['HEAD'] Node \u2192 .next Node \u00d73000 \u2192 .cache"
    assert out["holder"] == want
    assert out["text"].startswith(want + " retains ")
    assert out["text"].endswith(" in 20,000 bytes")
    assert len(out["text"]) < 500
    assert out["snapshot"] == out["text"]
    assert out["html"] == [out["text"], out["holder"]]


LIVE_CHECK = """
    import gc, json
    import refchain

    class Service:
        pass

    svc = Service()
    svc.sessions = {"s%d" % i: [bytearray(64), {"n": i * 1000}] for i in range(5000)}
    c0 = c1 = top = None
    gc.collect()
    top = refchain.suspects(limit=1)[0]
    same = top.obj is svc.sessions
    label = top.chain.steps[-1][1]
    predicted = top.count
    top = None
    gc.collect()
    c0 = refchain.census()
    svc.sessions = None          # the reference the suspect names
    gc.collect()
    c1 = refchain.census()
    print(json.dumps({"same": same, "label": label, "predicted": predicted,
                      "lost": c0.total.count - c1.total.count}))
    """


def test_clearing_the_named_reference_frees_what_was_predicted(run_script):
    out = json.loads(run_script(LIVE_CHECK).stdout)
    assert out["same"]
    assert out["label"] == ".sessions"
    # The dict, 5000 keys, lists, bytearrays, inner dicts and ints (0 is shared).
    assert out["predicted"] == 1 + 5000 * 5 - 1
    assert out["lost"] == out["predicted"]


class Node:
    pass


def test_retained_sums_what_only_the_object_keeps():
    inner = [bytearray(100) for _ in range(10)]
    holder = Node()
    holder.items = inner
    size = sys.getsizeof
    want_bytes = size(inner) + sum(size(b) for b in inner)
    assert refchain.retained(inner) == (want_bytes, 11)
    shared = inner[0]
    # Another holder of one bytearray: the list no longer retains it.
    assert refchain.retained(inner) == (want_bytes - size(shared), 10)
    del shared
    # retained() of what only the call holds: the object alone.
    assert refchain.retained(Node()) == (size(Node()), 1)


def test_weak_references_never_retain():
    import weakref

    class Target:
        pass

    strong = [Target()]
    weak = weakref.ref(strong[0])
    cache = weakref.WeakValueDictionary({"k": strong[0]})
    target_size = sys.getsizeof(strong[0])
    nbytes, count = refchain.retained(strong)
    assert count == 2 and nbytes == sys.getsizeof(strong) + target_size
    assert refchain.retained(weak) == (sys.getsizeof(weak), 1)
    assert refchain.retained(cache)[1] < 10 and weak() is strong[0]
    del cache


def test_show_dominators_draws_the_largest_children_and_a_summary(tmp_path):
    holder = Node()
    holder.big = [bytearray(5000) for _ in range(3)]
    holder.small = [bytearray(10) for _ in range(20)]
    path = refchain.show_dominators(holder.small, filename=str(tmp_path / "d.dot"), width=4)
    with open(path) as f:
        text = f.read()
    assert "list" in text and "retains" in text
    assert "\u2026 16 more" in text                     # 20 children, 4 drawn
    assert text.count("label=\"bytearray") == 4
    path = refchain.show_dominators(holder, filename=str(tmp_path / "d.svg"), depth=1, width=8)
    with open(path) as f:
        assert f.read().lstrip().startswith("<?xml")


def test_bad_input():
    with pytest.raises(ValueError, match="not in the capture"):
        refchain.retained(refchain.census())        # the tool's own objects are left out
    with pytest.raises(TypeError):
        refchain.retained()
    with pytest.raises(TypeError):
        refchain.retained(1, 2)
    with pytest.raises(ValueError, match="min_share"):
        refchain.suspects(min_share=1.5)
    with pytest.raises(TypeError, match="min_share"):
        refchain.suspects(min_share="0.1")
    with pytest.raises(ValueError, match="limit"):
        refchain.suspects(limit=-1)
    with pytest.raises(ValueError, match="not in the capture"):
        refchain.show_dominators(refchain.census(), filename="x.svg")
    with pytest.raises(ValueError, match="width"):
        refchain.show_dominators([], filename="x.svg", width=0)
    with pytest.raises(ValueError, match="extension"):
        refchain.show_dominators([], filename="x.txt")
    assert refchain.suspects(limit=0) == []


# ---- loaded snapshots -------------------------------------------------------------------


def test_random_heaps_retained_reads_the_same_from_a_file(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_pythonpath(), HERE]))
    env.pop("PYTHONTRACEMALLOC", None)
    proc = subprocess.run([sys.executable, "-S", os.path.join(HERE, "snapdom.py"), "0", "20",
                           "100", "10", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    summary = json.loads(lines[-1])
    assert summary["seeds"] == 20
    assert summary["checked"] >= 150 and summary["gone"] <= 5, summary
    assert summary["retaining_more"] >= 40, summary
    assert summary["failures"] == 0, "\n".join(lines[:10])


SNAP_CACHE_LEAK = """
    import gc, json, sys
    import refchain
""" + CACHE_LEAK_BODY + """    refchain.dump("warm.rcsnap")
    refchain.load("warm.rcsnap").suspects()
    gc.collect()
    LIVE = [(id(s.obj), s.bytes, s.count, str(s), s.accumulated, s.accumulated_count,
             s.accumulated_bytes) for s in refchain.suspects(limit=3)]
    RETAINED = refchain.retained(_CACHE)
    refchain.dump("leak.rcsnap")
    snap = refchain.load("leak.rcsnap")
    found = snap.suspects(limit=3)
    top = found[0]
    out = {
        "live": LIVE,
        "snapshot": [(s.obj.address, s.bytes, s.count, str(s), s.accumulated,
                      s.accumulated_count, s.accumulated_bytes) for s in found],
        "retained": [list(RETAINED), list(snap.retained(id(_CACHE))),
                     list(snap.retained(snap.node(id(_CACHE))))],
        "node": type(top.obj).__name__, "chain": type(top.chain).__name__,
        "repr": repr(top),
        "tree": snap.show_dominators(id(_CACHE), filename="tree.dot", width=3),
    }
    errors = []
    for bad in (1, "x", 2.5, None, True):
        try:
            snap.retained(bad)
        except Exception as e:
            errors.append([type(e).__name__, str(e)])
    for call in (lambda: snap.suspects(min_share=2), lambda: snap.suspects(limit=-1),
                 lambda: snap.show_dominators(id(_CACHE), filename="t.svg", width=0),
                 lambda: snap.show_dominators(1, filename="t.svg")):
        try:
            call()
        except Exception as e:
            errors.append([type(e).__name__, str(e)])
    out["errors"] = errors
    print(json.dumps(out))
    """


def test_a_snapshot_names_the_cache_leak_as_live_did(run_script, tmp_path):
    out = json.loads(run_script(SNAP_CACHE_LEAK).stdout)
    live, snap = out["live"], out["snapshot"]
    # The same suspects (same objects by address), retaining the same, with
    # the same text.
    assert [s[0] for s in snap] == [s[0] for s in live]
    assert snap[0] == live[0]
    assert snap[0][3].startswith("dict held by module __main__ \u2192 ['_CACHE'] retains ")
    assert snap[0][3].endswith("of the heap) in 20,000 bytes")
    assert snap[0][4:6] == ["bytes", 20000]
    a, b, c = out["retained"]
    assert a == b == c == [live[0][1], live[0][2]]
    assert out["node"] == "SnapNode" and out["chain"] == "SnapChain"
    assert out["repr"].startswith("<refchain.Suspect: dict retains ")
    text = (tmp_path / "tree.dot").read_text()
    # The dict's children: 20,000 bytes and the int keys only it holds.
    assert "retains" in text and "\u2026 39,739 more" in text
    assert text.count("label=\"bytes") == 3
    errors = out["errors"]
    assert errors[0][0] == "KeyError" and "no object at 0x1" in errors[0][1]
    assert [e[0] for e in errors[1:5]] == ["TypeError"] * 4
    assert all("an address must be an int" in e[1] for e in errors[1:5])
    assert errors[5][0] == "ValueError" and "min_share" in errors[5][1]
    assert errors[6][0] == "ValueError" and "limit" in errors[6][1]
    assert errors[7][0] == "ValueError" and "width" in errors[7][1]
    assert errors[8][0] == "KeyError" and "no object at 0x1" in errors[8][1]


HOLDERS = """
    import gc, io, json, sys
    import refchain
    from refchain._explain import _retaining_text

    class Session:
        active = []
        def __init__(self, i):
            self.tags = ["t%d" % i]
            Session.active.append(self)

    CACHE = {}
    gc.collect()
    first = io.StringIO()
    refchain.show_growth(file=first, holders=True)      # the baseline: no holders yet
    for i in range(3000):
        CACHE[10 ** 6 + i] = bytes(512)
        Session(i)
    out = io.StringIO()
    refchain.show_growth(limit=6, file=out, holders=True)
    rows = {}
    name = None
    for line in out.getvalue().splitlines():
        if not line.startswith(" "):
            name = line.split()[0]
        elif line.startswith("    held by "):
            rows[name] = line
    groups = refchain.explain("bytes", limit=1)
    live = [groups[0].holder is CACHE, groups[0].path(holder=True),
            groups[0].holder_retained_bytes, groups[0].holder_retained_count]
    groups = None
    refchain.dump("holders.rcsnap")
    sg = refchain.load("holders.rcsnap").explain("bytes", limit=1)[0]
    print(json.dumps({
        "first": first.getvalue(), "rows": rows, "live": live,
        "cache": _retaining_text(*refchain.retained(CACHE)),
        "active": _retaining_text(*refchain.retained(Session.active)),
        "snap": [sg.holder.address == id(CACHE), sg.path(holder=True),
                 sg.holder_retained_bytes, sg.holder_retained_count],
    }))
    """


def test_show_growth_names_each_types_largest_holder(run_script, tmp_path):
    """show_growth(holders=True): under each growing type, the object that
    holds its new objects and what fixing it would free."""
    out = json.loads(run_script(HOLDERS).stdout)
    assert "held by" not in out["first"]
    rows = out["rows"]
    assert rows["bytes"] == "    held by module __main__ \u2192 ['CACHE'] dict, which retains " \
        + out["cache"]
    # The sessions, their tags lists and the tags' strs all part at the list
    # Session.active: the one reference to fix.
    for name in ("Session", "list"):
        assert rows[name] == "    held by class __main__.Session \u2192 .active list, which " \
            "retains " + out["active"], rows
    is_cache, path, nbytes, count = out["live"]
    assert is_cache and path == "module __main__ \u2192 ['CACHE'] dict"
    assert count == 1 + 2 * 3000                  # the dict, its int keys and bytes values
    assert out["snap"] == [True, path, nbytes, count]


MOST = """
    import gc, io, json
    import refchain

    AUDIT = []
    gc.collect()
    refchain.show_growth(file=io.StringIO(), holders=True)
    for i in range(2000):
        AUDIT.append({"request": i})

    def handle():
        scratch = {"blob": bytes(1 << 20)}     # one new dict, retaining a megabyte
        out = io.StringIO()
        refchain.show_growth(limit=3, file=out, holders=True)
        return out.getvalue()

    from refchain._explain import _retaining_text
    print(json.dumps([handle().splitlines(), _retaining_text(*refchain.retained(AUDIT))]))
    """


def test_show_growth_names_the_holder_of_most_of_the_growth(run_script):
    """The holder under a growth row is where most of the new objects are
    (2,000 dicts in a global list), not the one new object that retains the
    most (a request's scratch dict holding a megabyte)."""
    lines, audit = json.loads(run_script(MOST).stdout)
    at = next(i for i, line in enumerate(lines) if line.startswith("dict "))
    assert int(lines[at].split()[2]) >= 2000, lines
    assert lines[at + 1] == "    held by module __main__ \u2192 ['AUDIT'] list, which retains " \
        + audit, lines


CHURN = """
    import gc, io, json
    import refchain

    KINDS = [type("Churn%d" % k, (), {}) for k in range(14)]
    POOL = {k: [] for k in range(14)}
    LEAKS = []

    class Leak:
        pass

    def serve():
        for k, kind in enumerate(KINDS):      # replaced each round: new, no growth
            POOL[k] = [kind() for _ in range(300)]
        LEAKS.extend(Leak() for _ in range(40))

    serve()
    gc.collect()
    refchain.show_growth(file=io.StringIO(), holders=True)
    serve()
    out = io.StringIO()
    refchain.show_growth(limit=3, file=out, holders=True)
    print(json.dumps(out.getvalue().splitlines()))
    """


def test_show_growth_names_a_holder_for_every_row(run_script):
    """A type that grows by 40 among 14 types with 300 new objects each
    (replaced, not grown) still gets its holder line: the holders are
    looked for among the rows' own types."""
    lines = json.loads(run_script(CHURN).stdout)
    at = next(i for i, line in enumerate(lines) if line.startswith("Leak "))
    assert lines[at].split()[2] == "+40", lines
    assert lines[at + 1].startswith("    held by module __main__ \u2192 ['LEAKS'] list, "
                                    "which retains "), lines


GARBAGE = """
    import gc, io, json
    import refchain

    CACHE = []

    class Node:
        def __init__(self):
            self.peer = self

    class Loop(Node):
        pass

    gc.disable()
    refchain.show_growth(file=io.StringIO(), holders=True)
    for i in range(300):
        Node()                       # cycle garbage, waiting for a collection
    for i in range(100):
        CACHE.append(Node())         # the leak
    for i in range(200):
        Loop()                       # only garbage
    out = io.StringIO()
    refchain.show_growth(limit=3, file=out, holders=True)
    print(json.dumps(out.getvalue().splitlines()))
    """


def test_show_growth_names_the_holder_when_most_new_objects_are_garbage(run_script):
    """300 of a type's 400 new objects are uncollected cycles, which nothing
    holds: the holder line names the list the other 100 leak into, not
    nothing, and says how many it holds and how many are garbage.  A type
    whose new objects are all garbage says that."""
    lines = json.loads(run_script(GARBAGE).stdout)
    at = next(i for i, line in enumerate(lines) if line.startswith("Node "))
    assert lines[at].split()[2] == "+400", lines
    assert lines[at + 1].startswith("    held by module __main__ \u2192 ['CACHE'] list "
                                    "(100 of its 400 new objects), which retains "), lines
    assert lines[at + 1].endswith("; 300 are garbage the next gc.collect() frees "
                                  "(see garbage())"), lines
    at = next(i for i, line in enumerate(lines) if line.startswith("Loop "))
    assert lines[at].split()[2] == "+200", lines
    assert lines[at + 1] == ("    all 200 new objects are garbage the next gc.collect() frees "
                             "(see garbage())")


def test_show_growth_holders_bad_input():
    with pytest.raises(TypeError, match="holders"):
        refchain.show_growth(holders=1)
    with pytest.raises(ValueError, match="holders=True"):
        refchain.show_growth(peak_stats={}, holders=True)


def test_a_suspect_kept_in_a_variable_changes_no_retained_size():
    # The README's loop leaves its last Suspect in `suspect`: its object is
    # held through its chain, which captures discount, as a Chain's are.
    import functools

    @functools.lru_cache(maxsize=None)
    def render(rid):
        return b"<html>%d</html>" % rid * 300     # 12 MB: the top suspect

    for i in range(3000):
        render(i)
    before = refchain.retained(render)
    for suspect in refchain.suspects(limit=1):
        pass
    assert type(suspect.obj) is dict and refchain.retained(suspect.obj)[1] > 5000
    assert refchain.retained(render) == before
    render.cache_clear()


def test_a_registry_of_classes_made_at_runtime_retains_them(run_script):
    # Clearing the registry frees the 300 classes (with their dicts, MROs,
    # descriptors): it is their dominator, and the top suspect.
    from test_chains import registry_answers
    got = registry_answers(run_script)
    nbytes, count = got["retained"]
    assert count > 300 * 4 and nbytes > 300 * 1000
    assert got["suspects"][0].startswith("dict held by class __main__.PluginMeta \u2192 .registry retains ")
    assert got["suspects"][0].endswith(" in 300 __main__.PluginMeta")
