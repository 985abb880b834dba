"""objgraph's public API, side by side with Debian's python3-objgraph: every
public function and keyword called on one heap with both, return types
equal, values equal wherever objgraph can see the objects (the gc-tracked
ones), and written files valid.  docs/objgraph.md lists where refchain
deliberately differs."""

import inspect
import json

import pytest

import refchain

objgraph = pytest.importorskip("objgraph")

PUBLIC = sorted(n for n in dir(objgraph) if not n.startswith("_") and
                inspect.isfunction(getattr(objgraph, n)) and
                getattr(objgraph, n).__module__ == "objgraph")
SHOW_CHAIN_KEYWORDS = ("backrefs", "highlight", "extra_info", "refcounts", "shortnames",
                       "filename", "output", "extra_node_attrs")


def test_every_objgraph_function_is_checked():
    # objgraph 3.5.0 (Debian 12) defines 17 public functions.
    assert len(PUBLIC) >= 17
    assert "show_chain" in PUBLIC and "get_new_ids" in PUBLIC and "at_addrs" in PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_function_and_keyword_in_objgraphs_order(name):
    ours = getattr(refchain, name)
    assert name in refchain.__all__
    theirs = inspect.signature(getattr(objgraph, name)).parameters
    params = inspect.signature(ours).parameters
    if name == "show_chain":
        assert list(params)[0] == "chains"
        for kw in SHOW_CHAIN_KEYWORDS:
            assert params[kw].kind is inspect.Parameter.KEYWORD_ONLY
        return
    # objgraph's parameters come first, in its order, with its kinds.
    assert list(params)[:len(theirs)] == list(theirs)
    for p in theirs.values():
        assert params[p.name].kind is p.kind
    for p in list(params.values())[len(theirs):]:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY


HEAP = """
import gc, io, json, sys, types
import objgraph, refchain

class Leaf:
    pass

class Holder:
    def __init__(self):
        self.leaves = [Leaf() for _ in range(7)]

HOLDERS = [Holder() for _ in range(3)]
MIXED = [Leaf(), Leaf(), [], [1], {}, (1, []), "text", 5, Holder()]
gc.collect()
results = {}
def same(key, a, b):
    results[key] = [type(a).__name__ == type(b).__name__, a == b]
"""


def test_counts_side_by_side(run_script):
    out = run_script(HEAP + """
same("count", refchain.count("Leaf"), objgraph.count("Leaf"))
same("count qualified", refchain.count("__main__.Leaf"), objgraph.count("__main__.Leaf"))
same("count objects", refchain.count("Leaf", MIXED), objgraph.count("Leaf", objects=MIXED))
same("by_type objects", refchain.by_type("list", objects=MIXED), objgraph.by_type("list", MIXED))
same("by_type ids", sorted(map(id, refchain.by_type("Leaf"))),
     sorted(map(id, objgraph.by_type("Leaf"))))
same("typestats objects", refchain.typestats(MIXED), objgraph.typestats(MIXED))
same("typestats filter", refchain.typestats(filter=lambda o: type(o) is Leaf),
     objgraph.typestats(filter=lambda o: type(o) is Leaf))
long_ours = refchain.typestats(objects=MIXED, shortnames=False)
long_theirs = objgraph.typestats(objects=MIXED, shortnames=False)
same("typestats long", {k if "." in k else "builtins." + k: v for k, v in long_ours.items()},
     long_theirs)
ours, theirs = refchain.typestats(), objgraph.typestats()
same("typestats all Leaf", ours["Leaf"], theirs["Leaf"])
results["untracked seen"] = [type(ours) is dict, ours["str"] > theirs.get("str", 0)]
same("most_common objects", refchain.most_common_types(2, MIXED),
     objgraph.most_common_types(limit=2, objects=MIXED))
same("most_common filter", refchain.most_common_types(None, filter=lambda o: type(o) is Holder),
     objgraph.most_common_types(None, filter=lambda o: type(o) is Holder))
a, b = io.StringIO(), io.StringIO()
refchain.show_most_common_types(3, MIXED, True, a)
objgraph.show_most_common_types(3, MIXED, True, b)
same("show_most_common text", a.getvalue(), b.getvalue())
same("leaking objects", refchain.get_leaking_objects(MIXED),
     objgraph.get_leaking_objects(objects=MIXED))
same("at", refchain.at(id(HOLDERS[0])) is HOLDERS[0], objgraph.at(id(HOLDERS[0])) is HOLDERS[0])
same("at unknown", refchain.at(1), objgraph.at(1))
addrs = {id(h) for h in HOLDERS}
same("at_addrs", sorted(map(id, refchain.at_addrs(addrs))),
     sorted(map(id, objgraph.at_addrs(addrs))))
for i, obj in enumerate([sys, types, types.ModuleType("fake"), [], 3]):
    same("is_proper_module %d" % i, refchain.is_proper_module(obj),
         objgraph.is_proper_module(obj))
print(json.dumps(results))
""").stdout
    for key, (same_type, equal) in json.loads(out.splitlines()[-1]).items():
        assert same_type and equal, key


def test_growth_with_objgraphs_keywords(run_script):
    out = run_script(HEAP + """
def only_leaves(o):
    return type(o) is Leaf
mine, theirs = {}, {}
same("growth first", refchain.growth(None, mine, True, only_leaves),
     objgraph.growth(None, theirs, True, only_leaves))
KEEP = [Leaf() for _ in range(40)]
gc.collect()
same("growth", refchain.growth(5, mine, True, only_leaves),
     objgraph.growth(5, theirs, True, only_leaves))
same("peak_stats", mine, theirs)
a, b = io.StringIO(), io.StringIO()
KEEP += [Leaf() for _ in range(40)]
gc.collect()
refchain.show_growth(10, mine, False, a, only_leaves)
objgraph.show_growth(10, theirs, False, b, only_leaves)
same("show_growth text", a.getvalue(), b.getvalue())
# With no peak_stats and no filter: refchain's own baseline (bytes, lines).
refchain.show_growth(file=io.StringIO())
KEEP2 = [Leaf() for _ in range(30)]
rows = refchain.growth(3)
results["own baseline"] = [type(rows) is list, ("Leaf", refchain.count("Leaf"), 30) in rows]
print(json.dumps(results))
""").stdout
    for key, (same_type, equal) in json.loads(out.splitlines()[-1]).items():
        assert same_type and equal, key


def test_get_new_ids_side_by_side(run_script):
    out = run_script(HEAP + """
def table_row(text, name):
    for line in text.splitlines():
        if line.split()[:1] == [name]:
            return line.split()[1:]
mine, theirs = {}, {}
for _ in range(2):
    refchain.get_new_ids(limit=0, _state=mine)
    objgraph.get_new_ids(limit=0, _state=theirs)
NEW = [Leaf() for _ in range(25)]
a, b = io.StringIO(), io.StringIO()
ours = refchain.get_new_ids(limit=None, file=a, _state=mine)
got = objgraph.get_new_ids(limit=None, file=b, _state=theirs)
same("new Leaf ids", ours["Leaf"], got["Leaf"])
same("Leaf row", table_row(a.getvalue(), "Leaf"), table_row(b.getvalue(), "Leaf"))
same("header", a.getvalue().splitlines()[1].split(), b.getvalue().splitlines()[1].split())
same("skip_update", refchain.get_new_ids(skip_update=True, _state=mine) is ours, True)
found = refchain.at_addrs(ours["Leaf"])
same("at_addrs of new ids", sorted(map(id, found)), sorted(map(id, NEW)))
# Untracked objects are new too, and at_addrs finds them.
refchain.get_new_ids(limit=0, _state=mine)
# Large, so that no str freed since the last call had their address
# (objgraph and refchain alike count an object new by its address).
TEXT = ["%05d" % i * 600 for i in range(10)]
ours = refchain.get_new_ids(limit=0, _state=mine)
results["new str"] = [True, {id(t) for t in TEXT} <= ours["str"]]
results["str found"] = [True, set(map(id, TEXT)) <= set(map(id, refchain.at_addrs(ours["str"])))]
print(json.dumps(results))
""").stdout
    for key, (same_type, equal) in json.loads(out.splitlines()[-1]).items():
        assert same_type and equal, key


MAGIC = {"png": b"\x89PNG", "gif": b"GIF8", "jpg": b"\xff\xd8\xff", "jpeg": b"\xff\xd8\xff",
         "bmp": b"BM", "tif": b"II*", "pdf": b"%PDF", "svg": b"<?xml", "ps": b"%!PS",
         "eps": b"%!PS", "dot": b"digraph", "gv": b"digraph", "xdot": b"digraph",
         "json": b"{", "plain": b"graph"}


def test_drawings_side_by_side(run_script, tmp_path):
    out = run_script(HEAP + """
import os
target = HOLDERS[1].leaves[3]
chain_theirs = objgraph.find_backref_chain(target, objgraph.is_proper_module)
chain_ours = refchain.find_backref_chain(target, refchain.is_proper_module)
# objgraph counts this script's global `target` as a holder; refchain does
# not count the caller's variables, so its chain is the one through HOLDERS.
results["chains"] = [True, objgraph.is_proper_module(chain_theirs[0]) and
                     refchain.is_proper_module(chain_ours[0]) and
                     chain_theirs[-1] is target and chain_ours[-1] is target]
def opts(**kw):
    return dict(highlight=lambda o: o is target, extra_info=lambda o: "info!",
                refcounts=True, shortnames=False,
                extra_node_attrs=lambda o: {"URL": "http://x/%d" % id(o)}, **kw)
printed = {}
for lib in (refchain, objgraph):
    name = lib.__name__
    a = io.StringIO()
    sys.stdout, saved = a, sys.stdout
    try:
        lib.show_chain(chain_theirs, filename=name + "-chain.dot", **opts())
        lib.show_backrefs(target, max_depth=2, filename=name + "-one.dot", **opts())
        lib.show_refs(HOLDERS[0], max_depth=1, filename=name + "-refs.dot")
    finally:
        sys.stdout = saved
    printed[name] = a.getvalue().splitlines()
    for what in ("backrefs", "refs"):
        o = io.StringIO()
        r = getattr(lib, "show_" + what)([target], max_depth=1, output=o, **opts())
        same("%s %s output" % (name, what), r, None)
        results["%s %s dot" % (name, what)] = [True, o.getvalue().startswith("digraph")]
results["chain printed"] = [True, printed["refchain"][0] == printed["objgraph"][0]
                            .replace("objgraph-", "refchain-")]
results["printed"] = [True, [l.split(" (")[0].replace("refchain-", "X-") for l in
                             printed["refchain"]] ==
                            [l.split(" (")[0].replace("objgraph-", "X-") for l in
                             printed["objgraph"]]]
results["chain nodes"] = [True, printed["refchain"][0].endswith("(%d nodes)" % len(chain_theirs))]
refchain.show_chain(chain_ours, filename="ours.dot", **opts())
dot = open("ours.dot").read()
results["chain drawn as a chain"] = [True, dot.count("->") == len(chain_ours) - 1
                                     and "http://x/%d" % id(target) in dot and "info!" in dot
                                     and "#cfe0ff" in dot and "__main__.Leaf" in dot]
for lib in (refchain, objgraph):
    try:
        lib.show_refs([1], filename="x.svg", output=io.StringIO())
    except ValueError as e:
        results[lib.__name__ + " both"] = [True, str(e) == "Cannot specify both output and filename."]
print(json.dumps(results))
""").stdout
    lines = out.splitlines()
    for key, (same_type, equal) in json.loads(lines[-1]).items():
        assert same_type and equal, (key, lines)
    assert lines[0].startswith("Graph written to ours.dot (")


def test_single_objects_and_every_format(run_script, tmp_path):
    out = run_script(HEAP + """
import os
target = HOLDERS[1].leaves[3]
for ext in %r:
    path = "graph." + ext
    refchain.show_backrefs(target, max_depth=1, filename=path)
    refchain.show_chain(target, filename="chain." + ext)
print(json.dumps(sorted(os.listdir("."))))
""" % (sorted(MAGIC),)).stdout
    lines = out.splitlines()
    for ext, magic in MAGIC.items():
        text = ("Graph written to graph.%s (" % ext if ext in ("dot", "gv", "xdot", "json", "plain")
                else "Image generated as graph.%s" % ext)
        assert any(l.startswith(text) for l in lines), (ext, lines)
        for stem in ("graph", "chain"):
            assert (tmp_path / ("%s.%s" % (stem, ext))).read_bytes().startswith(magic), ext
    assert not any(name.endswith(".tmp") for name in json.loads(lines[-1]))


def test_show_chain_takes_objgraphs_chains_not_their_holder(run_script):
    # objgraph's recipe: show_chain(find_backref_chain(obj, is_proper_module)).
    # The list is a chain to draw, not an object whose holders to draw.
    out = run_script(HEAP + """
target = HOLDERS[2].leaves[0]
chain = refchain.find_backref_chain(target, refchain.is_proper_module)
o = io.StringIO()
refchain.show_chain(chain, output=o)
forward = refchain.find_ref_chain(HOLDERS[2], lambda x: x is target)
f = io.StringIO()
refchain.show_chain(forward, [], backrefs=False, output=f)
print(json.dumps([o.getvalue(), f.getvalue(), len(chain), len(forward)]))
""").stdout
    dot, fwd, n, m = json.loads(out.splitlines()[-1])
    assert dot.count("->") == n - 1 and fwd.count("->") == m - 1
    # Before 3.11 an instance's __dict__ is an object of the chain:
    # Holder → .__dict__ dict → ['leaves'] list.
    assert "['HOLDERS']" in dot and (".leaves" in dot or "['leaves']" in dot) and "[0]" in dot
    assert "ObjectList" not in dot
    # The object asked about is red: the last of a back-chain, the first of a
    # forward one.
    red = '#d00000'
    assert dot.count(red) == 1 and fwd.count(red) == 1
