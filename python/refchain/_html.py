"""The HTML report: one self-contained page per diagnosis (docs/report.md).

build(snap, since) gathers what the text report says (growth, holders,
suspects, garbage) plus the census and the dominator tree's top levels into
one dict of plain data; page(data) writes it into one HTML file whose script
draws the tables from it.  Nothing from the heap is ever written as markup:
the data goes into a <script type="application/json"> block with <, >, &
and U+2028/U+2029 escaped, the page's script only sets textContent, and the
drawings are SVG files shown through <img src="data:..."> (an image runs no
script and loads nothing).  The live refchain.report() dumps the process to
a temporary file and loads it, so the live page and the offline one are the
same code and the same page."""

import os
import time
from binascii import b2a_base64        # small C modules, imported with refchain:
from _json import encode_basestring    # base64 and json would import re, struct...

from refchain import _shapes

# Writing a page imports no module that `import refchain` did not (json,
# html, hashlib, base64, tempfile, heapq, datetime, the re they pull in, or
# refchain's own): imported at the first report, their objects would be new
# in every question asked after it, and outrank the user's leak
# (docs/guide.md, "What refchain imports").  The page's style and script
# are read when a page is written and dropped (_assets()).
try:
    from _sha2 import sha256 as _sha256_type         # 3.12+
except ImportError:
    try:
        from _sha256 import sha256 as _sha256_type
    except ImportError:     # a build with OpenSSL's only: hashlib, when asked
        _sha256_type = None

# The census table holds at most this many types (the largest by bytes);
# the page shows them 50 at a time.  The cap bounds the file whatever the
# heap: a service's heap has some hundreds of types, a heap of generated
# classes may have millions.
CENSUS_CAP = 5000
# The dominator tree's top levels: the TOP_BLOCKS objects the virtual root
# immediately dominates that retain the most, each with its TREE_WIDTH
# largest children, TREE_DEPTH levels below it.
TOP_BLOCKS = 12
TREE_DEPTH = 1
TREE_WIDTH = 8
# Drawings embedded for the dominator blocks (each one's chain), the largest first:
# on a 10M-object heap each drawing costs about 0.4 s (its refcounts).
TREE_DRAWINGS = 12


def _svg(snap, what):
    """The drawing of `what` (a chain or groups) as a data: URL, or None
    when it cannot be drawn."""
    try:
        data = snap.render(what, "svg")
    except (ValueError, TypeError, OSError, RuntimeError):
        return None
    return "data:image/svg+xml;base64," + _b64(data)


def _b64(data):
    return b2a_base64(data, newline=False).decode("ascii")


def _census_rows(census, old, cap=CENSUS_CAP):
    """([[type, count, bytes, change]], types in all): the census, the `cap`
    types of most bytes; `change` is the count's change since `old` (a
    Census), or None without one: not the new objects (a type whose objects
    were replaced shows 0, one that lost some a negative change)."""
    rows = sorted(((stat.bytes, name, stat.count) for name, stat in census.items()),
                  reverse=True)[:cap]
    out = []
    for nbytes, name, count in rows:
        new = None
        if old is not None:
            was = old.get(name)
            new = count - (was.count if was is not None else 0)
        out.append([name, count, nbytes, new])
    return out, len(census)


def _dominator_top(snap, blocks=TOP_BLOCKS, depth=TREE_DEPTH, width=TREE_WIDTH,
                   drawings=TREE_DRAWINGS):
    """The dominator tree's top levels: the tops retaining the most, each
    with its largest dominated children, as
    [{id, parent, type, address, bytes, count, others, chain, svg}].

    A top is an object no other one dominates: a root, or what more than
    one root reaches.  The tops are not the roots: a module's __dict__ is
    also every one of its functions' __globals__, so the module retains
    itself alone and its globals' memory sits under the dict, a top."""
    out = []
    for root_id in snap._c.dominator_top(blocks):
        base = len(out)
        for node_id, parent, nbytes, count, others in snap._c.dominator_tree(root_id, depth,
                                                                              width):
            block = {"id": len(out), "parent": parent + base if parent >= 0 else None,
                     "bytes": nbytes, "count": count, "others": others, "type": None,
                     "address": None, "chain": None, "svg": None}
            if node_id is not None:
                node = snap._node(node_id)
                chain = snap.find_chain(node)
                block.update(type=node.typename, address="0x%x" % node.address,
                             chain=_shapes.chain_json(chain))
                block["_chain"] = chain
            out.append(block)
    order = sorted((b for b in out if "_chain" in b), key=lambda b: -b["bytes"])
    for b in order[:drawings]:
        b["svg"] = _svg(snap, b["_chain"])
    for b in out:
        b.pop("_chain", None)
    return out


def build(snap, since=None, *, limit=10, explain=3, groups=3, suspects=5, min_share=0.01):
    """The page's data for `snap` (a Snapshot) since `since` (an older
    Snapshot of the same process, a Census, or None)."""
    from refchain import Snapshot
    from refchain._shapes import _file_info, _growth_rows, _holders, _pair_notes, garbage_json, \
        group_json, suspect_json        # imported with this module (above)
    old_census = None
    if since is not None:
        old_census = since.census() if isinstance(since, Snapshot) else since
    growth = _growth_rows(snap, since, limit)
    holders = []
    for row in _holders(snap, since, explain, groups):
        holders.append({"type": row[0], "count": row[1], "bytes": row[2],
                        "retained_bytes": getattr(row, "retained_bytes", None),
                        "retained_count": getattr(row, "retained_count", None),
                        "new": since is not None, "groups": [group_json(g) for g in row[3]],
                        "svg": _svg(snap, list(row[3])) if row[3] else None})
    found = snap.suspects(suspects, min_share)
    suspect_rows = []
    for s in found:
        row = suspect_json(s)
        row["svg"] = _svg(snap, s.chain)
        suspect_rows.append(row)
    census, types = _census_rows(snap.census(), old_census)
    is_snap = isinstance(since, Snapshot)
    return {
        "title": "refchain report: %s" % os.path.basename(snap.path),
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "file": _file_info(snap),
        "facts": {k: str(v) for k, v in snap.facts.items()},
        "since": _file_info(since) if is_snap else ("a census" if since is not None else None),
        "notes": _pair_notes(since, snap) if is_snap else [],
        "memory": snap.memory_layers().as_dict(),
        "since_memory": since.memory_layers().as_dict() if is_snap else None,
        "traced": snap.traced,
        "growth": growth,
        "holders": holders,
        "suspects": suspect_rows,
        "min_share": min_share,
        "garbage": garbage_json(snap.garbage(groups)),
        "census": census, "census_types": types, "census_cap": CENSUS_CAP,
        "dominators": _dominator_top(snap),
    }


def _json_parts(value, out):
    """json.dumps(value, ensure_ascii=False, separators=(",", ":")) as parts
    appended to `out`, for the page's data (dicts with str keys, lists,
    tuples, str, int, float, bool, None), without the json package (see
    the top of this module).  Iterative: a deep chain is data too."""
    stack = [value]
    while stack:
        v = stack.pop()
        if type(v) is _Raw:
            out.append(v.text)
        elif isinstance(v, str):
            out.append(encode_basestring(v))
        elif v is None or v is True or v is False:
            out.append("null" if v is None else "true" if v else "false")
        elif isinstance(v, int):
            out.append(int.__repr__(v))
        elif isinstance(v, float):
            out.append("NaN" if v != v else "Infinity" if v == float("inf")
                       else "-Infinity" if v == float("-inf") else float.__repr__(v))
        elif isinstance(v, dict):
            items = []
            for k, item in v.items():
                items += [_Raw("," if items else "{"), _Raw(encode_basestring(str(k)) + ":"),
                          item]
            stack.extend(reversed(items + [_Raw("}")] if items else [_Raw("{}")]))
        elif isinstance(v, (list, tuple)):
            items = []
            for item in v:
                items += [_Raw("," if items else "["), item]
            stack.extend(reversed(items + [_Raw("]")] if items else [_Raw("[]")]))
        else:
            raise TypeError("Object of type %s is not JSON serializable" % type(v).__name__)
    return out


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def _sha256(data):
    """The SHA-256 digest of data, from the C module hashlib would use
    (hashlib itself imports more), or from hashlib when there is none."""
    if _sha256_type is None:
        from hashlib import sha256
        return sha256(data).digest()
    return _sha256_type(data).digest()


def _escape(text):
    """html.escape(text), without importing html (its entity tables are
    thousands of str)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


def _assets():
    """(CSS, JS): the page's style and script, read from _html_assets.py
    each time and dropped with the page, never imported: as a module its
    text (and its code) would stay, new since any census taken before the
    first report."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_html_assets.py")
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError:     # an installation without sources (a zip): imported after all
        from refchain._html_assets import CSS, JS
        return CSS, JS
    ns = {"__name__": "refchain._html_assets"}
    exec(compile(source, path, "exec"), ns)
    return ns["CSS"], ns["JS"]


def script_json(data):
    """`data` as JSON safe inside <script>: no <, >, & or line separators
    a browser could read as markup or as the end of the script."""
    text = "".join(_json_parts(data, []))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page(data):
    """The HTML page (str) showing `data` (build()'s answer)."""
    CSS, JS = _assets()
    # The policy lets the page run its own script only (by its hash: no
    # inline handler, no other script), show data: images and load nothing:
    # a report that would reach the network cannot.
    digest = _b64(_sha256(JS.encode("utf-8")))
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           "script-src 'sha256-%s'" % digest)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"%s\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n"
            "<noscript>This report draws its tables with JavaScript: open it in a "
            "browser with scripts on.</noscript>\n<main id=\"report\"></main>\n"
            "<script type=\"application/json\" id=\"refchain-data\">%s</script>\n"
            "<script>%s</script>\n</body></html>\n"
            % (csp, _escape(data["title"]), CSS, script_json(data), JS))


def write(path, data):
    """Write page(data) into `path` atomically; returns the path."""
    from refchain._args import check_target
    path = os.fspath(path)
    check_target(path, "report")
    text = page(data).encode("utf-8")
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def report(path, since=None, *, limit=10, explain=3, groups=3, suspects=5, min_share=0.01):
    """Write one self-contained HTML report of this process's heap into
    `path`: what grew since `since` (a Census, e.g. refchain.census(), or a
    Snapshot of this process), what holds it, the leak suspects, the
    garbage, the census and the dominator tree (docs/report.md).  The heap
    is dumped to a temporary file, read back and removed.  Returns the path."""
    from refchain._args import check_target
    from refchain._snapshot import dump, load
    path = os.fspath(path)
    check_target(path, "report()")
    tmp = _private_dir()
    snap_path = os.path.join(tmp, "now.rcsnap")
    try:
        dump(snap_path)
        snap = load(snap_path)
        data = build(snap, since, limit=limit, explain=explain, groups=groups,
                     suspects=suspects, min_share=min_share)
        data["title"] = "refchain report: pid %s" % data["file"]["pid"]
        data["file"]["path"] = None
        del snap
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    return write(path, data)


def _private_dir():
    """A new directory only this user can enter, in the temporary directory
    (TMPDIR, else /tmp): tempfile.mkdtemp's contract without tempfile, which
    imports random and shutil (see the top of this module)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        name = os.path.join(base, "refchain-report-%s" % os.urandom(6).hex())
        try:
            os.mkdir(name, 0o700)
        except FileExistsError:
            continue
        return name
    raise FileExistsError("report(): no free temporary directory name in %s" % base)
