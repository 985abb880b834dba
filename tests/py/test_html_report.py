"""The HTML report (issue 19): refchain.report() live and `report --html`
from dumps write one self-contained page; headless Chromium (Debian's
chromium, driven by playwright-core through tools/html-check.js) loads it
with no console error and no request, sorts, filters, shows a suspect's
chain drawn, and runs nothing from hostile heap strings."""

import collections
import json
import os
import shutil
import subprocess
import sys

import pytest

import refchain
from refchain import _html
from conftest import _pythonpath

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "examples")
CHECK = os.path.join(ROOT, "tools", "html-check.js")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = os.path.join(ROOT, "tools", "js", "node_modules", "playwright-core")
SIZE_BOUND = 5 * 1024 * 1024

DEMO = """
import gc, sys, tracemalloc
tracemalloc.start(5)
sys.path.insert(0, {examples!r})
import refchain, service

for i in range(100):
    service.handle(i)
refchain.dump("warm.rcsnap")
gc.collect()
gc.disable()
refchain.dump("before.rcsnap")
base = refchain.census()
for i in range(100, 2100):
    service.handle(i)
refchain.dump("after.rcsnap")
print(refchain.report("live.html", since=base))
"""

HOSTILE = """
import gc, tracemalloc
tracemalloc.start(3)
import refchain
Evil = type("<script>alert(1)</script>", (), {{}})
HOLD = {{}}
gc.collect()
gc.disable()
refchain.dump("before.rcsnap")
HOLD[{key!r}] = [Evil() for _ in range(3000)]
HOLD["\\u2028</script><script>alert(2)</script>"] = [
    b"<img src=x onerror=alert(3)>" + bytes([i % 256]) * 600 for i in range(3000)]
refchain.dump("after.rcsnap")
"""
KEY = "</script><img src=x onerror=alert(1)>"
EVIL = "__main__.<script>alert(1)</script>"


def _run(source, d):
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    env.pop("PYTHONTRACEMALLOC", None)
    (d / "script.py").write_text(source)
    proc = subprocess.run([sys.executable, "script.py"], cwd=str(d), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _cli(d, *args):
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    return subprocess.run([sys.executable, "-m", "refchain"] + list(args), cwd=str(d), env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """examples/service.py's leak: dumps before and after 2,000 requests, the
    page from the dumps (report --html) and the live one (refchain.report)."""
    d = tmp_path_factory.mktemp("htmldemo")
    out = _run(DEMO.format(examples=EXAMPLES), d)
    assert out.strip() == "live.html"
    proc = _cli(d, "report", "after.rcsnap", "--since", "before.rcsnap", "--html", "demo.html")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote demo.html (")
    return d


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    _run(HOSTILE.format(key=KEY), d)
    proc = _cli(d, "report", "after.rcsnap", "--since", "before.rcsnap", "--html", "evil.html")
    assert proc.returncode == 0, proc.stderr
    return d


def _data(path):
    """The JSON data block of a page, read back as the page's script reads it."""
    with open(str(path), encoding="utf-8") as f:
        text = f.read()
    start = text.index('<script type="application/json" id="refchain-data">')
    start = text.index(">", start) + 1
    return text, json.loads(text[start:text.index("</script>", start)])


def _browser(page, tmp_path, filter_text=""):
    """tools/html-check.js's JSON for `page`; skips without node or chromium."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (tools/setup-debian installs it)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("%s is not installed (tools/setup-debian installs chromium)" % CHROMIUM)
    assert os.path.isdir(PLAYWRIGHT), "tools/js/node_modules lacks playwright-core: npm ci"
    shot = str(tmp_path / "shot.png")
    proc = subprocess.run([node, CHECK, str(page), shot, filter_text], capture_output=True,
                          text=True, timeout=180, env=dict(os.environ, CHROMIUM=CHROMIUM))
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout)
    assert res["ready"], res      # the page's script ran to its end
    assert os.path.getsize(shot) > 0
    return res


def _clean(res, page):
    """No console error, no script error, no request but the page itself,
    nothing called alert/confirm/prompt, no image but the drawings."""
    assert res["console_errors"] == [] and res["page_errors"] == [], res
    assert res["requests"] == ["file://" + os.path.abspath(str(page))], res["requests"]
    assert res["calls"] == [] and res["dialogs"] == []
    assert res["injected_images"] == []
    assert res["scripts"] == 2


# ---- without a browser ------------------------------------------------------------------


def test_script_json_escapes_markup_and_line_separators():
    text = _html.script_json({"k": "</script><img src=x onerror=alert(1)>&\u2028\u2029"})
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == {"k": "</script><img src=x onerror=alert(1)>&\u2028\u2029"}


def test_the_page_is_self_contained_and_names_the_leak(demo):
    for name in ("demo.html", "live.html"):
        text, data = _data(demo / name)
        assert len(text.encode("utf-8")) < SIZE_BOUND
        for remote in ("http:", "https:", "src=\"/", "<link", "@import"):
            assert remote not in text.replace("http://www.w3.org/", ""), (name, remote)
        assert "default-src 'none'" in text
        # The live page's baseline is a census taken in the process: the
        # dump's own work (its strings) grows there too.
        growth = {row["type"]: row for row in data["growth"]}
        assert growth["bytes"]["delta"] == 2000 and growth["service.Session"]["delta"] == 2000
        assert any("service.py:29" in s["site"] for s in growth["bytes"]["allocated_at"])
        assert data["memory"]["rss"] > 0 and data["file"]["python"]
        assert data["suspects"][0]["holder"] == "dict held by module service \u2192 ['_PAGES']"
        assert data["suspects"][0]["svg"].startswith("data:image/svg+xml;base64,")
        assert "bytes" in [h["type"] for h in data["holders"]]
        assert all(h["svg"] for h in data["holders"])
        census = {row[0]: row for row in data["census"]}
        assert census["service.Session"][3] == 2000
        tops = [b for b in data["dominators"] if b["parent"] is None]
        assert tops and tops == sorted(tops, key=lambda b: -b["bytes"])
    assert _data(demo / "live.html")[1]["since"] == "a census"


GLOBAL = """
import refchain
_ORDERS = {i: bytes(1000) for i in range(2000)}
refchain.report("global.html")
"""


def test_a_module_global_is_the_largest_block_of_the_tree(tmp_path):
    # The module is a root but retains only itself: its functions'
    # __globals__ hold its __dict__ too.  The dict is a top of the tree, and
    # the global under it.
    _run(GLOBAL, tmp_path)
    blocks = _data(tmp_path / "global.html")[1]["dominators"]
    tops = [b for b in blocks if b["parent"] is None]
    assert tops == sorted(tops, key=lambda b: -b["bytes"])
    top = tops[0]
    assert top["type"] == "dict" and top["bytes"] > 2000 * 1000
    assert top["chain"]["text"].startswith("module __main__ \u2192 .__dict__ dict")
    kids = [b for b in blocks if b["parent"] == top["id"]]
    assert kids[0]["type"] == "dict" and kids[0]["bytes"] > 2000 * 1000
    assert "['_ORDERS']" in kids[0]["chain"]["text"]
    assert kids[0]["svg"].startswith("data:image/svg+xml;base64,")


def test_the_cli_json_names_the_page(demo):
    proc = _cli(demo, "report", "after.rcsnap", "--html", "all.html", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["html"] == "all.html" and out["bytes"] == os.path.getsize(str(demo / "all.html"))
    assert _data(demo / "all.html")[1]["since"] is None
    bad = _cli(demo, "report", "after.rcsnap", "--html", str(demo / "no" / "such" / "x.html"))
    assert bad.returncode == 2 and bad.stderr.startswith("refchain: ")


def test_hostile_strings_stay_data(hostile):
    text, data = _data(hostile / "evil.html")
    # No heap string is markup anywhere in the page: the only <script
    # elements are the page's two, and the key is only in escaped JSON.
    assert text.count("<script") == 2 and text.count("</script>") == 2
    assert KEY not in text and "\u2028" not in text
    assert EVIL in [row["type"] for row in data["growth"]]
    chains = " ".join(g["chain"]["text"] for h in data["holders"] for g in h["groups"])
    assert repr(KEY) in chains, chains


def _census(n):
    Stat = collections.namedtuple("Stat", "count bytes")
    return {"pkg.module%d.Type%07d" % (i % 97, i): Stat(i % 13 + 1, 64 * (i % 1000) + i)
            for i in range(n)}


def test_a_large_census_is_capped(demo):
    """A heap with far more types than the page keeps: the census table
    holds the CENSUS_CAP types of most bytes and the file stays small."""
    big = _census(300000)
    rows, types = _html._census_rows(big, {})
    assert types == 300000 and len(rows) == _html.CENSUS_CAP
    largest = sorted((stat.bytes for stat in big.values()), reverse=True)[:_html.CENSUS_CAP]
    assert [r[2] for r in rows] == largest
    assert all(big[r[0]] == (r[1], r[2]) for r in rows)
    assert rows[0][3] == big[rows[0][0]].count      # all new since an empty census
    data = _html.build(refchain.load(str(demo / "after.rcsnap")),
                       refchain.load(str(demo / "before.rcsnap")))
    data["census"], data["census_types"] = rows, types
    _html.write(str(demo / "big.html"), data)
    assert os.path.getsize(str(demo / "big.html")) < SIZE_BOUND


# ---- in Chromium --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["demo.html", "live.html"])
def test_the_demo_page_in_chromium(demo, tmp_path, name):
    page = demo / name
    res = _browser(page, tmp_path, "session")
    _clean(res, page)
    assert "bytes" in res["growth_types"] and "service.Session" in res["growth_types"]
    if name == "demo.html":
        assert res["growth_types"][0] == "bytes"
    # The last column is the count's change (it may be negative), not the
    # new objects: both pages have a baseline.
    assert res["census_headers"] == ["type", "count", "bytes", "change since baseline"]
    # Sorting by bytes: the largest type first, the rest in order.
    assert res["census_after_sort"][0] == res["census_largest"]
    assert res["census_rows_shown"] == min(50, res["census_rows_in_data"])
    assert res["census_page2"] and res["census_page2"][0] not in res["census_after_sort"]
    # Filtering: only the matching rows, all of them.
    assert res["census_filtered"] and all("session" in t.lower() for t in res["census_filtered"])
    assert len(res["census_filtered"]) == res["census_filtered_expected"]
    # The first suspect's chain, drawn: a decoded SVG picture.
    assert "module service \u2192 ['_PAGES']" in res["suspect_view"]
    svg = res["suspect_svg"]
    assert svg["src"].startswith("data:image/svg+xml") and svg["width"] > 100, svg
    assert res["dominator_blocks"] > 1 and "retains" in res["dominator_view"]
    # The screenshot is a page, not a blank: many colours, no colour everywhere.
    shot = res["screenshot"]
    assert shot["width"] == 1280 and shot["colours"] > 50 and shot["dominant_share"] < 0.95, shot
    assert res["render_ms"] < 10000


def test_hostile_page_in_chromium(hostile, tmp_path):
    page = hostile / "evil.html"
    res = _browser(page, tmp_path, "<script>")
    _clean(res, page)
    assert res["census_filtered"] == [EVIL]
    assert EVIL in res["growth_types"]
    assert KEY in res["text"] and "<img src=x onerror=alert(3)>" not in res["growth_types"]
    assert "\\u2028</script><script>alert(2)</scr" in res["text"]


def test_a_capped_census_pages_in_chromium(demo, tmp_path):
    data = _html.build(refchain.load(str(demo / "after.rcsnap")),
                       refchain.load(str(demo / "before.rcsnap")))
    data["census"], data["census_types"] = _html._census_rows(_census(300000), None)
    page = tmp_path / "capped.html"
    _html.write(str(page), data)
    res = _browser(page, tmp_path, "type000")
    _clean(res, page)
    assert res["census_rows_in_data"] == _html.CENSUS_CAP and res["census_types"] == 300000
    assert res["census_rows_shown"] == 50
    assert "of 5,000" in res["census_info"] and "of 300,000" in res["census_info"]
    assert res["census_after_sort"][0] == res["census_largest"]
    assert len(res["census_filtered"]) == min(50, res["census_filtered_expected"])
