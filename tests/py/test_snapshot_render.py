"""Drawings from a loaded snapshot (issue 14): Snapshot.show_chain,
show_explain(filename=), show_backrefs, show_refs and render() draw from the
file alone the pictures the live calls draw.

A small leaking program dumps itself and draws live at the same moment (one
line, so a frame root reads the same line); the test then loads the file
in this process, where none of the program's objects live, and draws."""

import json
import pathlib
import re
import xml.etree.ElementTree as ET

import pytest

import refchain
from conftest import line_of

TARGET_RED = "#d00000"
FRAME_AMBER = "#b8860b"
MODULE_GREEN = "#2e7d32"

# The leak is held by a running frame's local: the chain reads the same
# live and from the file (a chain through a module's or a class's __dict__
# waits for the file's label presentation to read '.attr' as live does).
LEAK = """
import json, sys, tracemalloc
tracemalloc.start(5)
import refchain

class Session:
    def __init__(self, n):
        self.n = n
        self.note = "user data: secret-ish"

def serve():
    sys._getframe()                 # this frame is an object before the dump
    cache = [bytes(1024) for _ in range(2000)]
    sessions = [Session(i) for i in range(25)]
    both = (refchain.dump("leak.rcsnap"), refchain.render(refchain.find_chain(cache[7]), "dot"), refchain.render(refchain.explain("bytes", limit=1) + refchain.explain("Session", limit=1), "dot"))
    print(json.dumps({"chain": both[1].decode(), "groups": both[2].decode(),
                      "target": id(cache[7]), "session": id(sessions[3]),
                      "list": id(sessions)}))

serve()
"""


def dot_labels(dot):
    """The node and edge labels of DOT text, sorted: what a person reads."""
    if isinstance(dot, bytes):
        dot = dot.decode("utf-8")
    dot = dot.replace("\\\n", "")             # Graphviz's line continuations
    return sorted(re.findall(r'\blabel="((?:[^"\\]|\\.)*)"', dot))


def svg_texts(data):
    root = ET.fromstring(data)
    texts = [el.text for el in root.iter() if el.tag.endswith("}text") and el.text]
    tips = [v for el in root.iter() for k, v in el.attrib.items() if k.endswith("}title")]
    colours = {el.attrib.get(a) for el in root.iter() for a in ("fill", "stroke")} - {None}
    return root, texts, tips, colours


@pytest.fixture
def leak(run_script, tmp_path, monkeypatch):
    out = run_script(LEAK, name="leak.py").stdout
    monkeypatch.chdir(tmp_path)             # file names read as the program saw them
    live = json.loads(out.splitlines()[-1])
    snap = refchain.load(str(tmp_path / "leak.rcsnap"))
    return snap, live, tmp_path


def test_chain_drawing_equals_the_live_one(leak):
    snap, live, tmp_path = leak
    chain = snap.find_chain(live["target"])
    dot = snap.render(chain, "dot")
    assert dot_labels(dot) == dot_labels(live["chain"])
    assert len(dot_labels(dot)) == 3 + 2 + 1           # nodes, edges, title
    path = snap.show_chain(chain, filename=str(tmp_path / "chain.svg"))
    root, texts, tips, colours = svg_texts(pathlib.Path(path).read_bytes())
    assert {TARGET_RED, FRAME_AMBER} <= colours
    assert "root: a running frame" in texts
    assert "local 'cache'" in texts and "[7]" in texts
    assert "1.0 KiB, refcount 1" in texts
    assert "leak.py:%d" % line_of(LEAK, "bytes(1024)") in texts
    assert "2000 items" in texts
    assert any(t.startswith("frame serve() at leak.py:") for t in texts)
    # The tooltip is the allocation traceback the file recorded, with source.
    assert any("Allocated at (most recent call first):" in t and "bytes(1024)" in t
               for t in tips)
    # An address draws as its chain.
    assert dot_labels(snap.render(snap.find_chain(live["target"]), "dot")) == \
        dot_labels(snap.render(chain, "dot"))
    snap.show_chain(live["target"], filename=str(tmp_path / "by_address.dot"))
    assert dot_labels((tmp_path / "by_address.dot").read_bytes()) == dot_labels(dot)


def test_explain_drawing_equals_the_live_one(leak):
    snap, live, tmp_path = leak
    groups = snap.explain("bytes", limit=1) + snap.explain("Session", limit=1)
    assert dot_labels(snap.render(groups, "dot")) == dot_labels(live["groups"])
    path = snap.show_explain("Session", limit=1, filename=str(tmp_path / "groups.svg"))
    assert path == str(tmp_path / "groups.svg")
    root, texts, _, colours = svg_texts(pathlib.Path(path).read_bytes())
    assert "25 × Session" in texts and "[*] × 25" in texts
    assert any(t.startswith("e.g. Session@0x") and t.endswith("(2 attrs)") for t in texts)
    assert "leak.py:%d (25)" % line_of(LEAK, "Session(i)") in texts
    assert TARGET_RED in colours
    # The text form is unchanged.
    import io
    text = io.StringIO()
    snap.show_explain("Session", limit=1, file=text)
    assert text.getvalue().startswith("25 Session (")


def test_backrefs_and_refs_from_the_file(leak):
    snap, live, tmp_path = leak
    back = snap.show_backrefs([live["session"]], max_depth=2, filename=str(tmp_path / "b.svg"))
    root, texts, _, colours = svg_texts(pathlib.Path(back).read_bytes())
    assert "[3]" in texts and "local 'sessions'" in texts
    assert "25 items" in texts
    assert "Referrers of 1 object, up to 2 hops" in texts
    assert {TARGET_RED, FRAME_AMBER} <= colours
    refs = snap.render([snap.node(live["session"])], "svg", refs=True, max_depth=2)
    root, texts, _, _ = svg_texts(refs)
    # Attributes: inline on 3.11+, through the instance's __dict__ before.
    assert (".n" in texts and ".note" in texts) or \
        ("['n']" in texts and "['note']" in texts and ".__dict__" in texts)
    # Values are shown as live drawings show them: a short, safe repr.
    assert "3" in texts and "'user data: secret-ish'" in texts
    assert "References from 1 object, up to 2 hops" in texts
    # too_many clips into a count, as live.
    root, texts, _, _ = svg_texts(snap.render([live["list"]], "svg", refs=True,
                                              max_depth=1, too_many=10))
    assert "\u2026 15 more references" in texts
    dot = snap.show_refs([live["list"]], max_depth=1, filename=str(tmp_path / "r.gv"))
    assert pathlib.Path(dot).read_text("utf-8").startswith("digraph refchain {")


def test_a_redacted_dump_draws_no_values(run_script, tmp_path):
    out = run_script("""
import json, refchain
secret = ["hunter2-" + str(i) for i in range(3)]
refchain.dump("r.rcsnap", redact=True)
print(json.dumps(id(secret)))
""").stdout
    snap = refchain.load(str(tmp_path / "r.rcsnap"))
    svg = snap.render([json.loads(out.splitlines()[-1])], "svg", refs=True, max_depth=1)
    root, texts, _, _ = svg_texts(svg)
    assert "3 items" in texts and "str" in texts
    assert b"hunter2" not in svg
    assert any("tracemalloc was off" in t for t in svg_texts(svg)[2])


def test_a_long_value_reads_as_cut(run_script, tmp_path):
    # The file keeps 64 bytes of a str: 32 "é"s of a longer one read as a
    # cut repr, as a long str reads live; a short one reads whole.  Reading
    # them attaches no UTF-8 copy to the strs (getsizeof counts one).
    out = run_script("""
import json, sys, refchain
texts = ["\\u00e9" * 100, "caf\\u00e9", "x" * 100, "\\U0001f600" * 20]
sizes = [sys.getsizeof(t) for t in texts]
refchain.dump("v.rcsnap")
assert [sys.getsizeof(t) for t in texts] == sizes, "the dump grew a str"
print(json.dumps(id(texts)))
""").stdout
    snap = refchain.load(str(tmp_path / "v.rcsnap"))
    _, texts, _, _ = svg_texts(snap.render([json.loads(out.splitlines()[-1])], "svg",
                                           refs=True, max_depth=1))
    assert "'" + "\u00e9" * 32 + "\u2026" in texts
    assert "'caf\u00e9'" in texts
    assert "'" + "x" * 58 + "\u2026" in texts       # as live: 60 characters
    assert "'" + "\U0001f600" * 16 + "\u2026" in texts


def test_pictures_in_jupyter_and_no_mixing_heaps(leak):
    snap, live, tmp_path = leak
    chain = snap.find_chain(live["target"])
    assert chain._repr_svg_().startswith("<?xml")
    group = snap.explain("Session", limit=1)[0]
    assert "25 \u00d7 Session" in group._repr_svg_()
    with pytest.raises(ValueError, match="groups of different heaps"):
        refchain.render(refchain.explain("int", limit=1) + [group])


@pytest.mark.parametrize("call, error, message", [
    (lambda s, a: s.show_chain(a, filename="x.webp"), ValueError, "from its extension"),
    (lambda s, a: s.show_chain("nope", filename="x.svg"), TypeError, "takes chains"),
    (lambda s, a: s.show_backrefs(a, filename="x.svg"), TypeError, "must be a list"),
    (lambda s, a: s.show_backrefs([1], filename="x.svg"), KeyError, "no object at 0x1"),
    (lambda s, a: s.show_refs([a], max_depth=-1, filename="x.svg"), ValueError,
     "'max_depth' must be >= 0"),
    (lambda s, a: s.show_refs([a], too_many=0, filename="x.svg"), ValueError,
     "'too_many' must be >= 1"),
    (lambda s, a: s.render([a], format="webp"), ValueError, "unknown format 'webp'"),
    (lambda s, a: s.render(42), TypeError, "needs a SnapChain, a Group"),
    (lambda s, a: s.show_explain(42, filename="x.svg"), TypeError, "takes a type name"),
    (lambda s, a: s.render(refchain.explain("int", limit=1)), ValueError,
     "not all this snapshot's"),
])
def test_bad_arguments_get_clear_errors(leak, call, error, message, monkeypatch):
    snap, live, tmp_path = leak
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error, match=re.escape(message)):
        call(snap, live["target"])
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_another_snapshots_objects_are_refused(leak):
    snap, live, tmp_path = leak
    other = refchain.load(snap.path)
    with pytest.raises(ValueError, match="another snapshot"):
        snap.render([other.node(live["target"])])
    with pytest.raises(ValueError, match="another snapshot"):
        snap.show_chain(other.find_chain(live["target"]), filename=str(tmp_path / "x.svg"))


def test_allocation_failure_is_memory_error_never_a_crash(leak):
    snap, live, tmp_path = leak
    from refchain import _refchain
    for op in (lambda: snap.render([live["session"]], "dot", max_depth=2),
               lambda: snap.render(snap.find_chain(live["target"]), "dot")):
        failures = 0
        for n in range(100000):
            _refchain._fail_after(n)
            try:
                op()
            except MemoryError:
                failures += 1
                continue
            finally:
                _refchain._fail_after(-1)
            break
        else:
            pytest.fail("never succeeded")
        assert failures >= 2, op
