"""Rendering with Graphviz, in process: show_chain, show_explain(filename=),
show_backrefs, show_refs, render, and the _repr_svg_ of Chain and Group.

The scenarios run in a fresh interpreter (conftest.run_script) so that the
heap holds only what they put there."""

import io
import json
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import pytest

import refchain
from refchain import _refchain
from conftest import line_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TARGET_RED = "#d00000"
MODULE_GREEN = "#2e7d32"
CLASS_BLUE = "#1f4fbf"
FRAME_AMBER = "#b8860b"
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CACHE_LEAK = """
import json, tracemalloc
tracemalloc.start()
import refchain
_CACHE = {}
def handle(request_id):
    _CACHE[request_id] = bytes(1024)
    return len(_CACHE)
handle(-1)
for i in range(10000):
    handle(i)
chain = refchain.find_chain(_CACHE[5000])
"""


def svg_texts(data):
    """Every piece of text an SVG shows: <text> contents and tooltips."""
    root = ET.fromstring(data)
    texts, tips = [], []
    for el in root.iter():
        if el.tag.endswith("}text") and el.text:
            texts.append(el.text)
        for name, value in el.attrib.items():
            if name.endswith("}title"):
                tips.append(value)
    return root, texts, tips


def colours(root):
    return {el.attrib.get(a) for el in root.iter() for a in ("fill", "stroke")} - {None}


# ---- content ---------------------------------------------------------------------------


def test_a_run_of_alike_hops_is_drawn_once(run_script, tmp_path):
    # A 2000-long linked list draws as root, first link, "… .next Node ×1997",
    # last link: five nodes, as the text reads ".next Node ×1999".
    out = run_script("""
import refchain

class Node:
    def __init__(self, nxt):
        self.next = nxt

head = None
for _ in range(2000):
    head = Node(head)
tail = head
while tail.next is not None:
    tail = tail.next
chain = refchain.find_chain(tail)
print(chain)
refchain.show_chain(chain, filename="long.svg")
""").stdout
    assert out.startswith("module __main__ → ['head'] Node → .next Node ×1999 (")
    root, texts, tips = svg_texts((tmp_path / "long.svg").read_bytes())
    nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(nodes) == 5
    assert "\u2026 .next Node \u00d71997" in texts


def test_cache_leak_svg_has_every_node_and_edge_label(run_script, tmp_path):
    out = run_script(CACHE_LEAK + """
refchain.show_chain(chain, filename="chain.svg")
print(json.dumps({"labels": [label for _, label in chain.steps],
                  "types": [type(o).__name__ for o in chain.objects]}))
""", name="leak.py").stdout
    facts = json.loads(out.splitlines()[-1])
    data = (tmp_path / "chain.svg").read_bytes()
    root, texts, tips = svg_texts(data)
    shown = "\n".join(texts)
    for label in facts["labels"]:
        assert label in texts, (label, texts)
    for name in ("module", "dict", "bytes"):
        assert name in texts
    assert "__main__" in texts
    assert "10001 items" in texts
    assert "1.0 KiB, refcount 1" in texts          # only the dict holds the bytes
    assert "leak.py:%d" % line_of(CACHE_LEAK, "bytes(1024)") in texts
    assert "root: a module" in texts
    assert "module __main__ → ['_CACHE'] dict → [5000] bytes" in shown
    # The tooltip of the target is its allocation traceback, with source.
    assert any("Allocated at (most recent call first):" in t and "bytes(1024)" in t
               for t in tips)
    assert {TARGET_RED, MODULE_GREEN} <= colours(root)
    # Nodes are named n<id>; the text lives in the labels.
    titles = [el.text for el in root.iter() if el.tag.endswith("}title")]
    assert {"n0", "n1", "n2", "n0->n1", "n1->n2"} <= set(titles)


def test_render_returns_bytes_in_every_format(run_script, tmp_path):
    out = run_script(CACHE_LEAK + """
import base64
res = {}
for fmt in ("svg", "png", "pdf", "dot", "gv"):
    res[fmt] = base64.b64encode(refchain.render(chain, fmt)[:64]).decode()
svg = chain._repr_svg_()
res["repr_svg"] = [type(svg).__name__, svg[:5], "</svg>" in svg]
print(json.dumps(res))
""").stdout
    import base64

    res = json.loads(out.splitlines()[-1])
    heads = {k: base64.b64decode(v) for k, v in res.items() if k != "repr_svg"}
    assert heads["png"].startswith(PNG_SIGNATURE)
    assert heads["pdf"].startswith(b"%PDF-")
    assert heads["svg"].startswith(b"<?xml")
    assert heads["dot"].startswith(b"digraph refchain {")
    assert heads["gv"] == heads["dot"]
    assert res["repr_svg"] == ["str", "<?xml", True]


def parse_dot(text):
    """A small DOT reader: the graph's kind, and every node and edge
    statement, with quoted strings honoured; raises on unbalanced input."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|->|--|[{}\[\];,=]|[^\s{}\[\];,="]+', text, re.S)
    assert "".join(tokens).replace(" ", "") and tokens[0] == "digraph", tokens[:3]
    assert tokens[2] == "{" and tokens[-1] == "}"
    depth, nodes, edges = 0, set(), []
    for i, tok in enumerate(tokens):
        depth += (tok in "{[") - (tok in "}]") if len(tok) == 1 else 0
        assert depth >= 0
        if tok == "->":
            edges.append((tokens[i - 1], tokens[i + 1]))
        elif re.fullmatch(r"n\d+", tok) and tokens[i + 1] == "[":
            nodes.add(tok)
    assert depth == 0
    return tokens[0], nodes, edges


def test_dot_output_parses_as_a_digraph(run_script, tmp_path):
    run_script(CACHE_LEAK + """
refchain.show_chain(chain, filename="chain.dot")
refchain.show_explain(bytes, filename="leaks.gv")
""")
    for name in ("chain.dot", "leaks.gv"):
        text = (tmp_path / name).read_text("utf-8")
        kind, nodes, edges = parse_dot(text)
        assert kind == "digraph"
        assert len(nodes) >= 3 and len(edges) >= 2
        assert all(a in nodes and b in nodes for a, b in edges)
    if shutil.which("dot"):  # Graphviz's own reader agrees, when installed
        proc = subprocess.run(["dot", "-Tcanon", str(tmp_path / "chain.dot")],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_png_file_starts_with_the_signature(run_script, tmp_path):
    run_script(CACHE_LEAK + """
refchain.show_chain(chain, filename="chain.png")
refchain.show_chain(chain, filename="chain.PDF")
""")
    assert (tmp_path / "chain.png").read_bytes().startswith(PNG_SIGNATURE)
    assert (tmp_path / "chain.PDF").read_bytes().startswith(b"%PDF-")


# ---- grouped leaks ------------------------------------------------------------------


GROUPED = """
import io, json, tracemalloc
tracemalloc.start()
import refchain
_CACHE = {}
class Session:
    active = []
    def __init__(self):
        self.user = "someone"
        Session.active.append(self)
def handle(request_id):
    _CACHE[request_id] = bytes(1024)
    Session()
for i in range(300):
    handle(i)
"""


def test_show_explain_draws_one_collapsed_graph_with_counts(run_script, tmp_path):
    out = run_script(GROUPED + """
text = io.StringIO()
refchain.show_explain(bytes, file=text)                  # still prints without a filename
groups = refchain.explain(bytes, limit=1) + refchain.explain(Session, limit=1)
path = refchain.show_explain(groups, filename="leaks.svg")
print(json.dumps([path, text.getvalue().splitlines()[0], groups[0]._repr_svg_()[:5]]))
""", name="grouped.py").stdout
    path, text, repr_svg = json.loads(out.splitlines()[-1])
    assert path == "leaks.svg"
    assert text.startswith("300 bytes")
    assert repr_svg == "<?xml"
    root, texts, _ = svg_texts((tmp_path / "leaks.svg").read_bytes())
    assert "300 × bytes" in texts and "300 × Session" in texts
    assert "[*] × 300" in texts                      # the repeated hop, counted
    assert "['_CACHE']" in texts and ".active" in texts
    assert "grouped.py:%d (300)" % line_of(GROUPED, "bytes(1024)") in texts
    assert "300 × bytes (309.7 KiB), held through module __main__ → ['_CACHE'] dict → " \
           "[*] bytes" in texts
    assert {TARGET_RED, MODULE_GREEN, CLASS_BLUE} <= colours(root)
    # One node per object of the two paths: module, dict, bytes, class, list, Session.
    nodes = [el for el in root.iter() if el.attrib.get("class") == "node"]
    assert len(nodes) == 6


# ---- back-references and references ------------------------------------------------


def test_show_backrefs_draws_referrers_with_labels_and_roots(run_script, tmp_path):
    out = run_script("""
import json, weakref
import refchain
class Node:
    pass
target = Node()
registry = {"key": target}
class Holder:
    def __init__(self, x):
        self.held = x
holder = Holder(target)
def work():
    mine = target
    return refchain.show_backrefs([target], max_depth=2, filename="back.svg")
print(json.dumps(work()))
""").stdout
    assert json.loads(out.splitlines()[-1]) == "back.svg"
    root, texts, _ = svg_texts((tmp_path / "back.svg").read_bytes())
    assert "['key']" in texts                        # dict key
    # An instance attribute: inline on 3.11+, through the instance's
    # __dict__ before.
    assert ".held" in texts or ("['held']" in texts and ".__dict__" in texts)
    assert "local 'mine'" in texts                   # the running frame's local
    assert "root: a running frame" in texts
    assert any(t.startswith("Node@0x") and t.endswith("(0 attrs)") for t in texts)
    assert "Referrers of 1 object, up to 2 hops" in texts
    assert {TARGET_RED, FRAME_AMBER, MODULE_GREEN} <= colours(root)
    # refchain's own frames never appear.
    assert not any("show_backrefs" in t or "_hood_drawing" in t for t in texts)


def test_show_refs_follows_references(run_script, tmp_path):
    run_script("""
import refchain
data = {"a": [1, 2], "b": (3.5, "text")}
refchain.show_refs([data], max_depth=2, filename="refs.svg")
""")
    _, texts, _ = svg_texts((tmp_path / "refs.svg").read_bytes())
    for text in ("2 items", "['a']", "['b']", "[0]", "[1]", "3.5", "'text'",
                 "References from 1 object, up to 2 hops"):
        assert text in texts, text


def test_too_many_clips_referrers_into_a_count(run_script, tmp_path):
    run_script("""
import refchain
target = object()
holders = [[target] for _ in range(50)]
refchain.show_backrefs([target], max_depth=1, too_many=10, filename="many.svg")
""")
    root, texts, _ = svg_texts((tmp_path / "many.svg").read_bytes())
    assert "… 41 more referrers" in texts           # 50 lists and the module's dict
    nodes = [el for el in root.iter() if el.attrib.get("class") == "node"]
    assert len(nodes) == 1 + 10 + 1


def test_max_nodes_caps_the_graph_and_says_so(run_script, tmp_path):
    out = run_script("""
import json, re
import refchain
tree = [[[i, str(i)] for i in range(20)] for _ in range(20)]
svg = refchain.render([tree], refs=True, max_depth=5, too_many=1000, max_nodes=50)
print(json.dumps(svg.decode()))
""").stdout
    root, texts, _ = svg_texts(json.loads(out.splitlines()[-1]).encode())
    nodes = [el for el in root.iter() if el.attrib.get("class") == "node"]
    assert len(nodes) == 50
    note = [t for t in texts if t.startswith("Capped at 50 objects (max_nodes=50)")]
    assert note and int(re.search(r"(\d+) more not drawn", note[0]).group(1)) > 0


def test_default_max_nodes_is_200(run_script):
    out = run_script("""
import refchain
big = [[i] for i in range(1000)]
svg = refchain.render([big], refs=True, max_depth=2, too_many=10000).decode()
print(svg.count('class="node"'), "Capped at 200 objects" in svg)
""").stdout
    assert out.split() == ["200", "True"]


def test_filter_and_extra_ignore_leave_objects_out(run_script, tmp_path):
    out = run_script("""
import io
import json
import refchain
target = object()
kept, dropped, ignored = [target], (target,), {"x": target}
svg = refchain.render([target], max_depth=1,
                      filter=lambda o: type(o) is not tuple,
                      extra_ignore=[id(ignored)]).decode()
print(json.dumps(svg))
""").stdout
    _, texts, _ = svg_texts(json.loads(out.splitlines()[-1]).encode())
    assert "list" in texts
    assert "tuple" not in texts
    assert "['x']" not in texts


def test_weak_references_are_dashed(run_script, tmp_path):
    run_script("""
import weakref
import refchain
class Thing:
    pass
thing = Thing()
refs = [weakref.ref(thing)]
refchain.show_backrefs([thing], max_depth=1, filename="weak.svg")
refchain.show_refs([refs], max_depth=2, filename="weak-refs.svg")
""")
    for name in ("weak.svg", "weak-refs.svg"):
        root, texts, _ = svg_texts((tmp_path / name).read_bytes())
        assert "weakref" in texts
        dashed = [el for el in root.iter()
                  if el.tag.endswith("}path") and el.attrib.get("stroke-dasharray")]
        assert dashed, name


def test_user_reprs_run_only_when_asked(run_script):
    out = run_script("""
import io
import json
import refchain
calls = []
class Loud:
    def __init__(self):
        self.a, self.b = 1, 2
    def __repr__(self):
        calls.append(1)
        return "<Loud!>"
loud = Loud()
quiet = refchain.render([loud], max_depth=0).decode()
n_quiet = len(calls)
noisy = refchain.render([loud], max_depth=0, repr=True).decode()
print(json.dumps([n_quiet, "(2 attrs)" in quiet, "&lt;Loud!&gt;" in noisy]))
""").stdout
    assert json.loads(out.splitlines()[-1]) == [0, True, True]


# ---- hostile labels -------------------------------------------------------------------


HOSTILE = r'''
import io
import json
import refchain
HOSTILE = ('q"uo\'te \\ back\\N\\G new\nline nul\0 <script>alert(1)</script> '
           '&#0; &#x1; \udc80\ud800 ' + "A" * 100_000)
class Evil:
    def __repr__(self):
        return HOSTILE
target = Evil()
holder = {HOSTILE: target, b"\xff\x00" + HOSTILE.encode("utf-8", "surrogatepass"): 1}
refchain.show_backrefs([target], filename="hostile-back.svg", repr=True)
refchain.show_refs([holder], filename="hostile-refs.svg", repr=True)
refchain.show_chain(refchain.find_chain(target), filename="hostile-chain.svg", repr=True)
refchain.show_chain(refchain.find_chain(target), filename="hostile-chain.dot", repr=True)
'''


def test_hostile_labels_keep_the_svg_valid_and_short(run_script, tmp_path):
    proc = run_script(HOSTILE)
    assert proc.stderr == ""                  # Graphviz said nothing on stderr
    for name in ("hostile-back.svg", "hostile-refs.svg", "hostile-chain.svg"):
        data = (tmp_path / name).read_bytes()
        assert len(data) < 60_000, name       # 100 KB of text was cut
        root, texts, tips = svg_texts(data)   # parses as XML
        assert not [el for el in root.iter() if el.tag.split("}")[-1].lower() == "script"]
        assert b"<script" not in data
        assert all(len(t) <= 200 for t in texts), name
        assert all(len(t) <= 5000 for t in tips), name
        assert not any("A" * 100 in t for t in texts)
        shown = "\n".join(texts)
        assert "<script>alert(1)</script>" in shown or "<script>" in shown, name
    _, texts, _ = svg_texts((tmp_path / "hostile-back.svg").read_bytes())
    # The key's repr, backslashes shown as written, and cut with an ellipsis.
    key = [t for t in texts if t.startswith("['q\"uo")]
    assert key and key[0].endswith("...]"), texts
    assert "\\\\ back\\\\N\\\\G" in key[0]
    evil = [t for t in texts if t.startswith('q"uo')]
    assert evil and "\\ back\\N\\G new" in evil[0]
    kind, _, _ = parse_dot((tmp_path / "hostile-chain.dot").read_text("utf-8"))
    assert kind == "digraph"


def test_render_glue_survives_surrogates_nul_and_bad_rows():
    svg = _refchain._render([(0, "x\udc80y\0z", "t\ud800", "target"),
                             (1, "a\\nb", "", "more")],
                            [(1, 0, "e\udfff", "elided")], "svg", "title\udc80")
    _, texts, tips = svg_texts(svg)
    assert "x\\udc80y\ufffdz" in texts
    assert "a\\nb" in texts                         # a backslash is text, not an escape
    assert "t\\ud800" in tips
    with pytest.raises(ValueError, match="two nodes have the id 1"):
        _refchain._render([(1, "", "", "object")] * 2, [], "svg", "")
    with pytest.raises(ValueError, match="names node 7"):
        _refchain._render([(1, "", "", "object")], [(1, 7, "", "strong")], "svg", "")
    with pytest.raises(ValueError, match="unknown kind"):
        _refchain._render([(1, "", "", "purple")], [], "svg", "")
    with pytest.raises(ValueError, match="unknown format 'webp'"):
        _refchain._render([], [], "webp", "")
    with pytest.raises(TypeError, match="4-tuple"):
        _refchain._render([(1, "")], [], "svg", "")
    with pytest.raises(TypeError, match="labels must be str"):
        _refchain._render([(1, b"", "", "object")], [], "svg", "")


# ---- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: refchain.render(object()), TypeError, "for one object, pass [obj]"),
    (lambda: refchain.show_backrefs([1], max_depth=-1, filename="x.svg"), ValueError,
     "'max_depth' must be >= 0, got -1"),
    (lambda: refchain.show_backrefs([1], max_depth=1.5, filename="x.svg"), TypeError,
     "'max_depth' must be int"),
    (lambda: refchain.show_backrefs([1], too_many=0, filename="x.svg"), ValueError,
     "'too_many' must be >= 1, got 0"),
    (lambda: refchain.show_refs([1], max_nodes=0, filename="x.svg"), ValueError,
     "'max_nodes' must be >= 1"),
    (lambda: refchain.show_backrefs([1], filter=3, filename="x.svg"), TypeError,
     "'filter' must be callable"),
    (lambda: refchain.show_backrefs([1], extra_ignore=5, filename="x.svg"), TypeError,
     "'extra_ignore' must be an iterable"),
    (lambda: refchain.show_backrefs([1], extra_ignore=["x"], filename="x.svg"), TypeError,
     "extra_ignore must hold object ids"),
    (lambda: refchain.show_backrefs([1], filename="graph.webp"), ValueError,
     "use one of .bmp, .dot, .eps, .gif, .gv, .jpeg, .jpg, .json, .pdf, .plain, .png, .ps, "
     ".svg, .tif, .tiff, .xdot"),
    (lambda: refchain.show_refs([1], filename="x.svg", output=io.StringIO()), ValueError,
     "Cannot specify both output and filename."),
    (lambda: refchain.show_refs([1], output=3), TypeError, "'output' must have a write()"),
    (lambda: refchain.show_refs([1], highlight=3), TypeError, "'highlight' must be callable"),
    (lambda: refchain.show_chain([1], filename="graph"), ValueError, "from its extension"),
    (lambda: refchain.show_chain([1], filename=42), TypeError, "'filename' must be a path"),
    (lambda: refchain.render([1], format="webp"), ValueError,
     "unknown format 'webp': use one of bmp, dot, eps, gif, gv, jpeg, jpg, json, pdf, plain, "
     "png, ps, svg, tif, tiff, xdot"),
    (lambda: refchain.render(42), TypeError, "needs a Chain, a Group"),
    (lambda: refchain.show_explain(bytes, filename="x.webp"), ValueError, "use one of"),
])
def test_bad_input_raises_clear_errors(call, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=re.escape(message)):
        call()
    assert os.listdir(tmp_path) == []


def test_allocation_failure_is_memory_error_never_a_crash():
    target = object()
    keep = [target]
    operations = [
        lambda: refchain.render([target], "svg"),
        lambda: _refchain._render([(0, "a" * 100, "b", "target")] * 1, [], "png", "t"),
    ]
    for op in operations:
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
        assert failures >= 3, op
    del keep


# ---- files ----------------------------------------------------------------------------


def test_files_are_written_whole_or_not_at_all(run_script, tmp_path):
    out = run_script(CACHE_LEAK + """
import os, resource, signal, stat
res = {}
def attempt(name, path):
    try:
        refchain.show_chain(chain, filename=path)
        res[name] = "written"
    except OSError as e:
        res[name] = type(e).__name__
attempt("missing dir", "no/such/dir/chain.svg")
os.mkdir("dir.svg")
attempt("a directory", "dir.svg")
os.mkfifo("pipe.svg")   # never replaced by a regular file
attempt("a FIFO", "pipe.svg")
res["still a FIFO"] = stat.S_ISFIFO(os.lstat("pipe.svg").st_mode)
with open("old.svg", "w") as f:
    f.write("old contents")
# A disk that fills up half way: nothing half written, the old file whole.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.RLIM_INFINITY))
attempt("full disk", "old.svg")
attempt("full disk, new file", "new.svg")
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
res["old kept"] = open("old.svg").read() == "old contents"
attempt("replace", "old.svg")
print(json.dumps(res))
""").stdout
    assert json.loads(out.splitlines()[-1]) == {
        "missing dir": "FileNotFoundError", "a directory": "IsADirectoryError",
        "a FIFO": "FileExistsError", "still a FIFO": True,
        "full disk": "OSError", "full disk, new file": "OSError", "old kept": True,
        "replace": "written"}
    assert sorted(os.listdir(tmp_path)) == ["dir.svg", "old.svg", "pipe.svg", "script.py"]
    assert os.listdir(tmp_path / "dir.svg") == []
    assert (tmp_path / "old.svg").read_bytes().rstrip().endswith(b"</svg>")


def test_without_a_filename_a_temporary_svg_is_written(run_script, tmp_path):
    out = run_script(CACHE_LEAK + """
import os
path = refchain.show_backrefs([_CACHE[5]], max_depth=1)
print(json.dumps([path, open(path, "rb").read(5).decode(), os.path.basename(path)]))
os.unlink(path)
""", env={"TMPDIR": str(tmp_path)}).stdout
    lines = out.splitlines()
    path, head, base = json.loads(lines[-1])
    assert lines[0] == "Graph written to %s (%d nodes)" % (path, 2)
    assert head == "<?xml" and base.startswith("refchain-backrefs-") and base.endswith(".svg")


# ---- seen by a browser --------------------------------------------------------------


def png_pixels(data):
    """(width, height, channels, rows) of an 8-bit, non-interlaced PNG,
    decoded with zlib alone."""
    assert data.startswith(PNG_SIGNATURE)
    pos, idat = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    assert depth == 8 and interlace == 0, (depth, interlace)
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def test_chromium_shows_the_cache_leak_svg(run_script, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed and could not be: tools/setup-debian "
                    "installs it (apt-get install chromium)")
    run_script(CACHE_LEAK + """
refchain.show_chain(chain, filename="chain.svg")
""")
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--user-data-dir=%s" % (tmp_path / "profile"), "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=640,400", "--screenshot=%s" % shot,
         (tmp_path / "chain.svg").as_uri()],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    width, height, bpp, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (640, 400)
    pixels = {row[i:i + 3] for row in rows for i in range(0, len(row), bpp)}
    assert len(pixels) > 20                               # not blank
    # The target's red border and the module root's green one were drawn.
    assert any(p[0] > 0xB0 and p[1] < 0x40 and p[2] < 0x40 for p in pixels)
    assert any(p[1] > 0x60 and p[0] < 0x60 and p[2] < 0x60 for p in pixels)


# ---- layering ---------------------------------------------------------------------------


def test_render_layer_never_sees_python():
    render_dir = os.path.join(ROOT_DIR, "render")
    if not os.path.isdir(render_dir):
        pytest.skip("source tree not available")
    sources = [os.path.join(render_dir, f) for f in os.listdir(render_dir)]
    sources.append(os.path.join(ROOT_DIR, "include", "refchain", "render.h"))
    graphviz_users = []
    for path in sources:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        assert "Python.h" not in text and "PyObject" not in text, path
        if re.search(r"#include <(gvc|cgraph)\.h>", text):
            graphviz_users.append(os.path.basename(path))
    assert graphviz_users == ["graphviz.c"]   # one file knows Graphviz's versions


def test_the_call_itself_is_never_drawn(run_script):
    out = run_script("""
import refchain
n = int("777")                 # made at run time: no code constant holds it
svg = refchain.render([n], max_depth=1, too_many=n).decode()
print(svg.count('class="node"'), "tuple" in svg, "frame" in svg)
""").stdout
    # Only the module's globals refer to n: not the call's argument tuple
    # (held by C for the call), the objs list, nor refchain's frames.
    assert out.split() == ["2", "False", "False"]
