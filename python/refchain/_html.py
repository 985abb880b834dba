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

# The other modules are imported where they are used: `import refchain`
# imports this module, and must not add to the heap it measures.

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
    import base64
    try:
        data = snap.render(what, "svg")
    except (ValueError, TypeError, OSError, RuntimeError):
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")


def _census_rows(census, old, cap=CENSUS_CAP):
    """([[type, count, bytes, new]], types in all): the census, the `cap`
    types of most bytes; `new` is the count's change since `old` (a Census),
    or None without one."""
    import heapq
    rows = heapq.nlargest(cap, ((stat.bytes, name, stat.count) for name, stat in
                                census.items()))
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
    from refchain._shapes import chain_json
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
                             chain=chain_json(chain))
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
    import datetime
    from refchain import Snapshot
    from refchain._shapes import _file_info, _growth_rows, _holders, _pair_notes, garbage_json, \
        group_json, suspect_json
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
        "made": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
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


def script_json(data):
    """`data` as JSON safe inside <script>: no <, >, & or line separators
    a browser could read as markup or as the end of the script."""
    import json
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page(data):
    """The HTML page (str) showing `data` (build()'s answer)."""
    import base64
    import hashlib
    import html
    from refchain._html_assets import CSS, JS
    # The policy lets the page run its own script only (by its hash: no
    # inline handler, no other script), show data: images and load nothing:
    # a report that would reach the network cannot.
    digest = base64.b64encode(hashlib.sha256(JS.encode("utf-8")).digest()).decode("ascii")
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
            % (csp, html.escape(data["title"]), CSS, script_json(data), JS))


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
    import tempfile
    from refchain._args import check_target
    from refchain._snapshot import dump, load
    path = os.fspath(path)
    check_target(path, "report()")
    with tempfile.TemporaryDirectory(prefix="refchain-report-") as tmp:
        snap_path = os.path.join(tmp, "now.rcsnap")
        dump(snap_path)
        snap = load(snap_path)
        data = build(snap, since, limit=limit, explain=explain, groups=groups,
                     suspects=suspects, min_share=min_share)
        data["title"] = "refchain report: pid %s" % data["file"]["pid"]
        data["file"]["path"] = None
        del snap
    return write(path, data)
