"""The command line (issue 14, part 4): `python -m refchain` on two dumps of
a small leaking program, as a user runs it: the texts name the type, its
growth, where it was allocated and what holds it; --json parses and has its
fields; exit codes 0/1/2; --help everywhere; bad files give one line naming
the file."""

import json
import os
import pty
import subprocess
import sys
import textwrap

import pytest

from conftest import _pythonpath, line_of

APP = """
CACHE = {}

def handle(request_id):
    CACHE[request_id] = bytes(1024)        # the leak
"""

MAIN = """
import gc, sys, tracemalloc
tracemalloc.start(5)
import refchain, app

class Node:
    pass

def make_cycle():
    a = Node(); b = Node(); a.other = b; b.other = a    # garbage

for i in range(10):
    app.handle(i)
refchain.dump("before.rcsnap")
for i in range(10, 510):
    app.handle(i)
gc.disable()
gc.collect()        # only the cycle below is garbage
make_cycle()
refchain.dump("after.rcsnap")
print(hex(id(app.CACHE[42])))
"""


def _env():
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    env.pop("PYTHONTRACEMALLOC", None)
    return env


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    """(directory, address of one leaked bytes) after dumping before/after."""
    where = tmp_path_factory.mktemp("cli")
    (where / "app.py").write_text(textwrap.dedent(APP))
    (where / "main.py").write_text(textwrap.dedent(MAIN))
    proc = subprocess.run([sys.executable, "main.py"], cwd=str(where), env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # another process, a second later (the file's time has whole seconds)
    other = subprocess.run([sys.executable, "-c", "import time, refchain; time.sleep(1.1); "
                            "refchain.dump('other.rcsnap')"], cwd=str(where), env=_env(),
                           capture_output=True, text=True, timeout=300)
    assert other.returncode == 0, other.stderr
    return where, proc.stdout.strip()


@pytest.fixture(scope="module")
def grew(dumps):
    """The net growth of bytes, from the Python API: the 500 leaked, give or
    take the interpreter's own bytes freed or made between the dumps."""
    import refchain
    where, _ = dumps
    before, after = (refchain.load(str(where / n)) for n in ("before.rcsnap", "after.rcsnap"))
    delta = dict((t, d) for t, _, d in after.growth(since=before, limit=None))["bytes"]
    assert abs(delta - 500) <= 5
    return delta


def cli(where, *args, stderr=subprocess.PIPE):
    return subprocess.run([sys.executable, "-m", "refchain"] + list(args), cwd=str(where),
                          env=_env(), stdout=subprocess.PIPE, stderr=stderr, text=True,
                          timeout=300)


def cli_json(where, *args):
    proc = cli(where, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema"] == 1 and data["command"] == args[0]
    return data


LEAK_LINE = line_of(APP, "the leak")
CYCLE_LINE = line_of(MAIN, "a = Node()")
SUBCOMMANDS = ("report", "diff", "chain", "explain", "draw", "export", "info", "suspects")


def _section(text, title):
    """The lines of a report's `== title... ==` section."""
    part = text.split("== " + title, 1)[1]
    return part.split("\n== ", 1)[0]


def test_report_since_names_type_growth_site_holder_and_garbage(dumps, grew):
    where, _ = dumps
    proc = cli(where, "report", "after.rcsnap", "--since", "before.rcsnap")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    text = proc.stdout
    table = _section(text, "What grew since before.rcsnap")
    first = table.splitlines()[1].split()
    assert first[0] == "bytes" and first[2] == "%+d" % grew, text
    assert "    +500 at app.py:%d" % LEAK_LINE in table
    holds = _section(text, "What holds the new objects")
    assert "bytes: +500 new (" in holds
    group = holds.splitlines()[2]
    assert group.startswith("  500 bytes (")
    assert "held through module app → ['CACHE'] dict → [*] bytes; allocated at " \
        "app.py:%d (500)." % LEAK_LINE in group
    garbage = _section(text, "Garbage")
    # two Nodes, and before 3.11 their __dict__s
    members = 2 if sys.version_info >= (3, 11) else 4
    assert "would free %d objects" % members in garbage
    assert "1 cycle of Node ↺ (%d objects" % members in garbage
    assert "allocated at main.py:%d (" % CYCLE_LINE in garbage
    suspects = _section(text, "Leak suspects").splitlines()
    assert suspects[1].startswith("dict held by module app → ['CACHE'] retains "), text
    assert suspects[1].endswith("of the heap) in 510 bytes"), text
    assert text.index("== What grew") < text.index("== What holds") < \
        text.index("== Leak suspects") < text.index("== Garbage")


def test_report_json(dumps, grew):
    where, _ = dumps
    data = cli_json(where, "report", "after.rcsnap", "--since", "before.rcsnap")
    assert data["file"]["path"] == "after.rcsnap" and data["since"]["path"] == "before.rcsnap"
    assert data["file"]["pid"] == data["since"]["pid"] and data["notes"] == []
    row = data["growth"][0]
    assert (row["type"], row["delta"]) == ("bytes", grew) and row["bytes_delta"] > 490 * 1024
    assert row["allocated_at"] == [{"site": "app.py:%d" % LEAK_LINE, "count": 500}]
    held = data["holders"][0]
    assert (held["type"], held["count"], held["new"]) == ("bytes", 500, True)
    assert (held["retained_bytes"], held["retained_count"]) == (held["bytes"], 500)
    group = held["groups"][0]
    assert group["count"] == 500 and group["root_kind"] == "module"
    assert (group["retained_bytes"], group["retained_count"]) == (group["bytes"], 500)
    assert group["path"].startswith("module app → ")
    assert group["chain"]["root"] == "module app" and group["chain"]["type"] == "bytes"
    assert group["chain"]["steps"][0]["label"] == "['CACHE']"
    cycle = data["garbage"]["cycles"][0]
    assert data["garbage"]["object_count"] == cycle["objects"]
    assert data["garbage"]["freed_bytes"] >= cycle["bytes"] > 0
    assert (cycle["types"], cycle["count"]) == (["__main__.Node"], 1)
    assert cycle["signature"] == "Node ↺" and len(data["garbage"]["cycles"]) == 1
    top = data["suspects"][0]
    assert len(data["suspects"]) <= 5
    assert (top["type"], top["holder"]) == ("dict", "dict held by module app → ['CACHE']")
    assert top["accumulated"]["type"] == "bytes" and top["accumulated"]["count"] == 510
    assert top["chain"]["root"] == "module app" and top["chain"]["address"] == top["address"]


def test_report_without_since_explains_the_largest_types(dumps):
    where, _ = dumps
    proc = cli(where, "report", "after.rcsnap", "--limit", "3", "--explain", "2")
    assert proc.returncode == 0, proc.stderr
    grew = _section(proc.stdout, "What grew (no --since")
    assert len([l for l in grew.splitlines()[1:] if l and not l.startswith(" ")]) == 3
    holds = _section(proc.stdout, "What holds the largest types")
    assert len([l for l in holds.splitlines()[1:] if l and not l.startswith(" ")]) == 2
    data = cli_json(where, "report", "after.rcsnap", "--limit", "3", "--explain", "2")
    assert data["since"] is None and len(data["growth"]) == 3
    assert [h["type"] for h in data["holders"]] == [r["type"] for r in data["growth"][:2]]
    assert all(h["new"] is False and h["groups"] for h in data["holders"])


def test_diff_text_json_and_fail_on_growth(dumps, grew):
    where, _ = dumps
    proc = cli(where, "diff", "before.rcsnap", "after.rcsnap")
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("before.rcsnap: ") and lines[1].startswith("after.rcsnap: ")
    assert lines[3].split()[0] == "bytes" and lines[3].split()[2] == "%+d" % grew
    assert lines[4] == "    +500 at app.py:%d" % LEAK_LINE

    data = cli_json(where, "diff", "before.rcsnap", "after.rcsnap", "--limit", "2")
    assert len(data["growth"]) == 2 and data["growth"][0]["type"] == "bytes"
    assert data["fail_on_growth"] is None and data["failed"] == []

    for types in ([], ["bytes"], ["Node"], ["__main__.Node", "float"]):
        proc = cli(where, "diff", "before.rcsnap", "after.rcsnap", "--fail-on-growth", *types)
        assert proc.returncode == 1, (types, proc.stderr)
        assert proc.stderr.startswith("refchain diff: growth found: ") and \
            proc.stderr.count("\n") == 1
    proc = cli(where, "diff", "before.rcsnap", "after.rcsnap", "--fail-on-growth", "bytes")
    assert proc.stderr == "refchain diff: growth found: bytes %+d\n" % grew
    proc = cli(where, "diff", "--fail-on-growth", "bytes", "--", "before.rcsnap", "after.rcsnap")
    assert proc.returncode == 1
    assert proc.stderr == "refchain diff: growth found: bytes %+d\n" % grew
    proc = cli(where, "diff", "before.rcsnap", "after.rcsnap", "--fail-on-growth", "Missing")
    assert proc.returncode == 0 and proc.stderr == ""
    proc = cli(where, "diff", "before.rcsnap", "after.rcsnap", "--json",
               "--fail-on-growth", "bytes")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["fail_on_growth"] == ["bytes"]
    assert data["failed"] == [{"type": "bytes", "delta": grew}]
    # the other process's snapshot, newer, given first: both doubts said, before the table
    proc = cli(where, "diff", "other.rcsnap", "before.rcsnap")
    assert proc.returncode == 0
    notes = proc.stdout.splitlines()[2:4]
    assert notes[0].startswith("note: the snapshots come from different processes (pid ")
    assert notes[1] == "note: before.rcsnap was written before other.rcsnap: is the order " \
        "of the files right?"
    data = cli_json(where, "diff", "other.rcsnap", "before.rcsnap")
    assert data["notes"] == notes


def test_suspects(dumps):
    import refchain
    where, _ = dumps
    proc = cli(where, "suspects", "after.rcsnap", "--limit", "2")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    # The same text as the Python API's, and the cache first.
    snap = refchain.load(str(where / "after.rcsnap"))
    assert lines == [str(s) for s in snap.suspects(limit=2)]
    assert lines[0].startswith("dict held by module app → ['CACHE'] retains ")
    data = cli_json(where, "suspects", "after.rcsnap", "--limit", "1")
    assert data["file"] == "after.rcsnap" and data["min_share"] == 0.01
    (top,) = data["suspects"]
    assert top["text"] == lines[0]
    want = snap.suspects(limit=1)[0]
    assert (top["bytes"], top["count"], top["share"]) == (want.bytes, want.count, want.share)
    assert top["address"] == "0x%x" % want.obj.address
    assert top["accumulated"] == {"type": "bytes", "count": 510,
                                  "bytes": want.accumulated_bytes, "linked": False}
    none = cli(where, "suspects", "after.rcsnap", "--min-share", "1")
    assert none.returncode == 0
    assert none.stdout == "(no suspect: no object retains 100% of the heap alone)\n"


def test_chain_by_hex_and_decimal(dumps):
    where, address = dumps
    want = "module app → ['CACHE'] dict → [42] bytes ("
    for given in (address, str(int(address, 16)), address.upper().replace("0X", "0x")):
        proc = cli(where, "chain", "after.rcsnap", given)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(want) and "allocated at app.py:%d" % LEAK_LINE in \
            proc.stdout
    data = cli_json(where, "chain", "after.rcsnap", address)
    assert (data["address"], data["type"], data["root_kind"], data["hops"]) == \
        (address, "bytes", "module", 3)
    assert [s["label"] for s in data["steps"]] == ["['CACHE']", "[42]"]
    assert data["text"].startswith(want)
    proc = cli(where, "chain", "after.rcsnap", "0x10")
    assert proc.returncode == 2
    assert proc.stderr == "refchain: no object at 0x10 in after.rcsnap\n"


def test_explain(dumps):
    where, _ = dumps
    proc = cli(where, "explain", "after.rcsnap", "bytes", "--limit", "1")
    assert proc.returncode == 0
    # The limit's cut is said, as leaks() says it.
    assert proc.stdout.startswith("510 bytes (") and proc.stdout.count("\n") == 2
    assert proc.stdout.splitlines()[1].startswith("... and ")
    assert proc.stdout.splitlines()[1].endswith(" smaller groups")
    assert "module app → ['CACHE'] dict → [*] bytes" in proc.stdout
    data = cli_json(where, "explain", "after.rcsnap", "Node")
    assert data["type"] == "Node" and data["traced"] is True
    assert data["total"]["count"] == sum(g["count"] for g in data["groups"])
    assert data["total"]["groups"] == len(data["groups"])
    assert data["groups"][0]["count"] == 2 and data["groups"][0]["root_kind"] == "unreachable"
    proc = cli(where, "explain", "after.rcsnap", "NoSuchType")
    assert proc.returncode == 0 and proc.stdout == "(nothing to explain)\n"
    assert proc.stderr == "refchain: note: after.rcsnap has no object of type 'NoSuchType'\n"


def test_info(dumps):
    where, _ = dumps
    proc = cli(where, "info", "after.rcsnap", "--limit", "3")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == "file      after.rcsnap"
    assert lines[2] == "sections  labels, values, allocations"
    assert any(l.split()[:2] == ["argv", '["main.py"]'] for l in lines)
    assert lines[-1].lstrip().startswith("(total, ")
    data = cli_json(where, "info", "after.rcsnap", "--limit", "3")
    assert data["objects"] == int(lines[1].split()[1]) and data["traced"] is True
    assert data["sections"] == ["labels", "values", "allocations"]
    assert json.loads(data["facts"]["argv"]) == ["main.py"]
    assert len(data["types"]) == 3 and set(data["types"][0]) == {"type", "count", "bytes"}
    assert data["total"]["count"] >= sum(t["count"] for t in data["types"])


def _available(method):
    import inspect
    from refchain import Snapshot
    if method == "show_explain":
        return "filename" in inspect.signature(Snapshot.show_explain).parameters
    return hasattr(Snapshot, method)


@pytest.mark.parametrize("option,method", [("--chain", "show_chain"),
                                           ("--explain", "show_explain"),
                                           ("--backrefs", "show_backrefs"),
                                           ("--refs", "show_refs")])
def test_draw(dumps, option, method):
    """Draws where Snapshot can; until then, exit 2 saying what is missing."""
    where, address = dumps
    out = where / ("drawn%s.svg" % option)
    proc = cli(where, "draw", "after.rcsnap", option,
               "bytes" if option == "--explain" else address, "-o", str(out))
    if not _available(method):
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith("refchain: draw %s: this refchain cannot draw from a "
                                      "snapshot file yet (Snapshot.%s" % (option, method))
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "drew the %s into %s\n" % (option[2:], out)
    assert "<svg" in out.read_text()


def test_export(dumps):
    where, _ = dumps
    out = where / "after.heapsnapshot"
    proc = cli(where, "export", "after.rcsnap", "-o", str(out), "--json")
    if not _available("export_heapsnapshot"):
        assert proc.returncode == 2 and not out.exists()
        assert proc.stderr == ("refchain: export: this refchain cannot export snapshots yet "
                               "(Snapshot.export_heapsnapshot is missing)\n")
        return
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["output"] == str(out) and data["bytes"] == out.stat().st_size > 0
    assert "snapshot" in json.loads(out.read_text())


def test_help_of_every_command_and_version(dumps):
    where, _ = dumps
    top = cli(where, "--help")
    assert top.returncode == 0 and top.stdout.startswith("usage: refchain")
    assert "snapshot commands" in top.stdout
    assert all(name in top.stdout for name in SUBCOMMANDS)
    for name in SUBCOMMANDS:
        proc = cli(where, name, "--help")
        assert proc.returncode == 0 and proc.stderr == ""
        assert proc.stdout.startswith("usage: refchain %s" % name) and "--json" in proc.stdout
    import refchain
    assert cli(where, "--version").stdout == "refchain %s\n" % refchain.__version__


@pytest.mark.parametrize("args", [["nope"], ["report"], ["chain", "after.rcsnap", "zz"],
                                  ["chain", "after.rcsnap", "-0x10"],
                                  ["chain", "after.rcsnap", "0x1" + "0" * 16],
                                  ["diff", "before.rcsnap"], ["draw", "after.rcsnap", "-o",
                                                              "x.svg"],
                                  ["info", "after.rcsnap", "--limit", "-1"],
                                  ["suspects", "after.rcsnap", "--min-share", "2"],
                                  ["suspects", "after.rcsnap", "--limit", "x"],
                                  ["report", "after.rcsnap", "--min-share", "-0.5"]])
def test_usage_errors_exit_2(dumps, args):
    where, _ = dumps
    proc = cli(where, *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: refchain") and "error:" in proc.stderr


BAD = {
    "empty.rcsnap": b"",
    "garbage.rcsnap": b"this is not a heap snapshot\n" * 10,
    "truncated.rcsnap": None,        # the first 1000 bytes of a real dump
    "missing.rcsnap": None,          # not there
    "a-directory.rcsnap": None,
}


@pytest.mark.parametrize("bad", sorted(BAD))
def test_bad_files_exit_2_with_one_line_naming_the_file(dumps, bad):
    where, _ = dumps
    path = where / bad
    if bad == "truncated.rcsnap":
        path.write_bytes((where / "after.rcsnap").read_bytes()[:1000])
    elif bad == "a-directory.rcsnap":
        path.mkdir(exist_ok=True)
    elif BAD[bad] is not None:
        path.write_bytes(BAD[bad])
    for args in (["info", bad], ["report", "after.rcsnap", "--since", bad],
                 ["diff", "before.rcsnap", bad, "--fail-on-growth"], ["chain", bad, "0x10"],
                 ["explain", bad, "bytes", "--json"], ["suspects", bad]):
        proc = cli(where, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stdout == "" and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("refchain: %s: " % bad) and \
            proc.stderr.count("\n") == 1, (args, proc.stderr)


@pytest.mark.parametrize("args, reason", [
    (["draw", "after.rcsnap", "--explain", "bytes", "-o", "/nonexistent/x.svg"],
     "the directory '/nonexistent' does not exist"),
    (["export", "after.rcsnap", "-o", "/nonexistent/x.heapsnapshot"],
     "the directory '/nonexistent' does not exist"),
    (["report", "after.rcsnap", "--html", "/nonexistent/r.html"],
     "the directory '/nonexistent' does not exist"),
    (["export", "after.rcsnap", "-o", "/"], "a directory, not a file name: /"),
])
def test_an_output_that_cannot_be_written_is_one_plain_line(dumps, args, reason):
    # It read "refchain: [Errno 2] refchain: the directory '/nonexistent'
    # does not exist: '/nonexistent/x.svg'".
    where, _ = dumps
    proc = cli(where, *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "refchain: %s\n" % reason


def test_progress_on_a_terminal_only(dumps):
    where, _ = dumps
    proc = cli(where, "report", "after.rcsnap", "--since", "before.rcsnap")
    assert proc.returncode == 0 and proc.stderr == ""
    master, slave = pty.openpty()
    try:
        proc = cli(where, "report", "after.rcsnap", "--since", "before.rcsnap", stderr=slave)
        os.close(slave)
        slave = None
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:     # EIO: the other end is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    assert proc.returncode == 0
    lines = seen.decode("utf-8").replace("\r\n", "\n").splitlines()
    assert [l.split("\u2026")[0] for l in lines] == [
        "loading before.rcsnap", "loading after.rcsnap", "growth", "holders", "suspects",
        "garbage"]
    assert all(l.endswith(" s") for l in lines), lines


FAKES = """
import json, sys
import refchain

def record(name):
    def method(self, *args, **kwargs):
        print("called", name)    # what the real ones print: the command line swallows it
        path = kwargs.get("filename") or args[-1]
        args = [a.address if hasattr(a, "address") else
                [n.address for n in a] if isinstance(a, list) else
                a.target.address if hasattr(a, "target") else a for a in args]
        with open(path, "w") as f:
            json.dump([name, args, kwargs], f)
        return path
    return method

for name in ("show_chain", "show_backrefs", "show_refs", "export_heapsnapshot"):
    setattr(refchain.Snapshot, name, record(name))
show_explain = refchain.Snapshot.show_explain
def explain_or_draw(self, typename, limit=5, file=None, filename=None):
    if filename is None:
        return show_explain(self, typename, limit, file)
    return record("show_explain")(self, typename, limit, filename=filename)
refchain.Snapshot.show_explain = explain_or_draw

from refchain._cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_draw_and_export_hand_the_snapshot_what_was_asked(dumps):
    """With Snapshot's drawing and export methods in place (recorders
    here), draw and export call them with the object, type, depth and
    output asked for, and print one line of their own."""
    where, address = dumps
    (where / "fakes.py").write_text(FAKES)

    def run(*args):
        proc = subprocess.run([sys.executable, "fakes.py"] + list(args), cwd=str(where),
                              env=_env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout, json.loads((where / args[-1]).read_text())

    at = int(address, 16)
    out, called = run("draw", "after.rcsnap", "--chain", address, "-o", "c.svg")
    assert out == "drew the chain into c.svg\n"
    assert called == ["show_chain", [at], {"filename": "c.svg"}]
    out, called = run("draw", "after.rcsnap", "--explain", "bytes", "--limit", "2", "-o", "e.svg")
    assert called == ["show_explain", ["bytes", 2], {"filename": "e.svg"}]
    _, called = run("draw", "after.rcsnap", "--backrefs", str(at), "--max-depth", "5",
                    "-o", "b.svg")
    assert called == ["show_backrefs", [[at]], {"max_depth": 5, "filename": "b.svg"}]
    out, called = run("draw", "after.rcsnap", "--refs", address, "--json", "-o", "r.png")
    assert called == ["show_refs", [[at]], {"max_depth": 3, "filename": "r.png"}]
    assert json.loads(out)["drawing"] == "refs" and json.loads(out)["output"] == "r.png"
    out, called = run("export", "after.rcsnap", "-o", "x.heapsnapshot")
    assert called == ["export_heapsnapshot", ["x.heapsnapshot"], {}]
    assert out.startswith("wrote x.heapsnapshot (")


# A dict of 30 small views, each keeping a 1.5 MiB buffer alive (numpy's
# ndarray and its .base), and one 19 MiB entry: every buffer is at least
# 1% of the heap.
VIEWS = """
import gc, json
import refchain
from refchain._format import human_bytes

class View:
    __slots__ = ("base",)
    def __init__(self, base):
        self.base = base

_RESULTS = {}
refchain.dump("a.rcsnap")
for i in range(30):
    _RESULTS[i] = View(bytearray(1600000))
_RESULTS["big"] = View(bytearray(20000000))
gc.collect()
live = [str(s) for s in refchain.suspects(limit=8)]
refchain.dump("b.rcsnap")
print(json.dumps({"live": live, "results": human_bytes(refchain.retained(_RESULTS)[0]),
                  "big": human_bytes(refchain.retained(_RESULTS["big"].base)[0])}))
"""


def test_suspects_name_the_container_whose_entries_each_pass_min_share(tmp_path):
    """The dict that accumulates comes first, live and from the files (the
    API, `report --suspects`, `suspects`, the HTML page), not one line per
    entry; the one entry that stands out (19 MiB of the dict's 65) follows."""
    (tmp_path / "views.py").write_text(VIEWS)
    proc = subprocess.run([sys.executable, "views.py"], cwd=str(tmp_path), env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    first, second = out["live"][:2]
    assert first.startswith("dict held by module __main__ \u2192 ['_RESULTS'] retains %s ("
                            % out["results"]), out["live"]
    assert first.endswith("of the heap) in 31 __main__.View"), first
    share = int(first.split("(")[1].split("%")[0])
    assert 80 <= share <= 100, first
    assert second.startswith("bytearray held by module __main__ \u2192 ['_RESULTS'] dict "
                             "\u2192 ['big'] View \u2192 .base retains %s (" % out["big"]), second
    # The 30 buffers are the dict's entries: its line speaks for them.
    assert sum("_RESULTS" in line for line in out["live"]) == 2, out["live"]

    import refchain
    from refchain import _html
    snap = refchain.load(str(tmp_path / "b.rcsnap"))
    assert [str(s) for s in snap.suspects(limit=8)] == out["live"]
    report = cli(tmp_path, "report", "b.rcsnap", "--since", "a.rcsnap", "--suspects", "8")
    assert report.returncode == 0, report.stderr
    assert [line for line in _section(report.stdout, "Leak suspects").splitlines()[1:]
            if line] == out["live"]
    alone = cli(tmp_path, "suspects", "b.rcsnap", "--limit", "8")
    assert alone.stdout.splitlines() == out["live"]
    page = _html.build(snap, refchain.load(str(tmp_path / "a.rcsnap")), suspects=8)
    assert [row["text"] for row in page["suspects"]] == out["live"]
    assert page["suspects"][0]["holder"] == "dict held by module __main__ \u2192 ['_RESULTS']"
