"""The command line, `python -m refchain` and the `refchain` console script:
questions asked of snapshot files (refchain.dump()) from a shell, with the
same text as the Python API, or JSON with --json (docs/cli.md describes its
shapes).

Exit codes: 0 ok, 1 when `diff --fail-on-growth` finds growth, 2 for a
usage or input error (a bad or unreadable file: one line on stderr naming
it, no traceback).  Loading and the steps of a report print their time on
stderr when stderr is a terminal, and nothing otherwise."""

import argparse
import contextlib
import inspect
import io
import json
import os
import re
import sys
import time

# The JSON shapes (docs/cli.md), shared with the HTML report (refchain._html).
from refchain._shapes import (  # noqa: F401
    _file_info, _growth_rows, _hex, _holders, _pair_notes, _sites, chain_json, garbage_json,
    group_json, suspect_json)

EXIT_OK, EXIT_GREW, EXIT_ERROR = 0, 1, 2
JSON_SCHEMA = 1   # bumped when a JSON shape changes incompatibly (fields may be added)

# refchain/snapshot.h's sections (refchain._snapshot), by name.
_SECTIONS = ((1, "labels"), (2, "values"), (4, "allocations"))

DESCRIPTION = """\
refchain: what grew, what keeps it alive, and where it was made.

The snapshot commands answer questions on heap snapshot files, written in the
process by refchain.dump("x.rcsnap"), read here offline."""

EPILOG = """\
Every command takes --help, and --json for machine-readable output
(docs/cli.md).  Exit codes: 0 ok, 1 when diff --fail-on-growth finds growth,
2 for a usage error or a bad file.

Inside a process: the Python API (import refchain; refchain.show_growth(),
refchain.show_explain("T"), refchain.dump(path)), objgraph's calls
(docs/objgraph.md), and the pytest plugin (pytest --refchain-leaks)."""


class InputError(Exception):
    """A bad file, address or request: one line on stderr, exit 2."""


# ---- progress ----------------------------------------------------------------------------


class Progress:
    """'loading a.rcsnap… 1.2 s' lines on stderr, when it is a terminal."""

    def __init__(self, stream):
        try:
            self.stream = stream if stream.isatty() else None
        except (AttributeError, ValueError):
            self.stream = None

    @contextlib.contextmanager
    def step(self, text):
        if self.stream is None:
            yield
            return
        self.stream.write(text + "\u2026 ")
        self.stream.flush()
        start = time.monotonic()
        try:
            yield
        finally:
            self.stream.write("%.1f s\n" % (time.monotonic() - start))
            self.stream.flush()


# ---- helpers -----------------------------------------------------------------------------


# The name of the call an error of the API starts with (_args.check_target's
# "refchain: ", "report: ", "export_heapsnapshot(): "): main() prints its own
# "refchain: ", and the command line calls no function by those names.
_API_PREFIX = re.compile(r"(refchain|report|\w+\([^()]*\)): ")


def _one_line(exc):
    if isinstance(exc, OSError) and exc.strerror:
        # str() would read "[Errno 2] refchain: ...: 'path'".  The file's
        # name is added unless the message names it or its directory.
        text = _API_PREFIX.sub("", exc.strerror, count=1) if _API_PREFIX.match(
            exc.strerror) else exc.strerror
        name = exc.filename
        if isinstance(name, str) and name and repr(name) not in text and \
                repr(os.path.dirname(os.path.abspath(name))) not in text:
            text += ": %s" % name
    else:
        text = str(exc) if not isinstance(exc, KeyError) or not exc.args else str(exc.args[0])
    return " ".join(text.split()) or type(exc).__name__


def _load(path, progress):
    import refchain
    with progress.step("loading %s" % path):
        try:
            return refchain.load(path)
        except (ValueError, OSError) as exc:
            raise InputError(_one_line(exc)) from None


def _address(text):
    """argparse type: 0x-prefixed hex or decimal."""
    try:
        if text.lower().startswith(("0x", "-0x", "+0x")):
            value = int(text, 16)
        else:
            value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not an address (hex 0x7f... or decimal, as id() gives)" % text) from None
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError("%r is not an address: out of range" % text)
    return value


def _fraction(text):
    """argparse type: a share of the heap, 0..1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("%r is not a share of the heap (0 to 1)" % text)
    return value


def _count(text):
    """argparse type: an int >= 0."""
    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("%r is not a count (an integer >= 0)" % text)
    return value


def _node(snap, address):
    try:
        return snap.node(address)
    except KeyError as exc:
        raise InputError(_one_line(exc)) from None


def _short(typename):
    return typename.rsplit(".", 1)[-1]


def _write_json(data):
    out = {"schema": JSON_SCHEMA}
    out.update(data)
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


def _header(snap):
    facts = snap.facts
    version = (facts.get("python") or "?").split(" ")[0]
    return "%s: %d objects, pid %s, %s, Python %s" % (
        snap.path, len(snap), facts.get("pid", "?"), facts.get("time", "?"), version)


# ---- the suspects' text (the JSON shapes: refchain._shapes) ------------------------------


def _suspects_text(suspects, min_share):
    if not suspects:
        return "(no suspect: no object retains %s of the heap alone)" % _share(min_share)
    return "\n".join(str(s) for s in suspects)


def _share(share):
    return "%g%%" % (100.0 * share)


# ---- commands ----------------------------------------------------------------------------


def cmd_info(args, progress):
    from refchain._format import at_least, human_bytes, name
    snap = _load(args.snap, progress)
    census = snap.census()
    sections = [n for bit, n in _SECTIONS if snap._c.sections() & bit]
    top = census.top(args.limit)
    total = census.total
    layers = snap.memory_layers()
    if args.json:
        _write_json({"command": "info", "file": snap.path, "objects": len(snap),
                     "traced": snap.traced, "sections": sections, "facts": snap.facts,
                     "memory": layers.as_dict(),
                     "types": [{"type": t, "count": n, "bytes": b} for t, n, b in top],
                     "total": {"count": total.count, "bytes": total.bytes,
                               "types": len(census)}})
        return EXIT_OK
    out = ["file      %s" % snap.path,
           "objects   %d" % len(snap),
           "sections  %s" % (", ".join(sections) or "(none)"),
           "memory    %s" % layers.summary(),
           "", "facts:"]
    facts = snap.facts
    width = max([len(k) for k in facts] or [0])
    out += ["  %-*s  %s" % (width, k, v) for k, v in facts.items()]
    if top:
        out += ["", "largest types (by count):"]
        shown = [(name(t), n, b, census.get(t)) for t, n, b in top]
        width = max([len(t) for t, _, _, _ in shown] + [len("(total, %d types)" % len(census))])
        out += ["  %-*s %10d %12s" % (width, t, n, at_least(human_bytes(b), stat))
                for t, n, b, stat in shown]
        out.append("  %-*s %10d %12s" % (width, "(total, %d types)" % len(census), total.count,
                                         at_least(human_bytes(total.bytes), total)))
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def _fail_set(new, old, types):
    """(type, delta) of every type that grew, restricted to `types` (full or
    short names) when given."""
    grown = [(t, d) for t, _, d in new.growth(since=old, limit=None, shortnames=False) if d > 0]
    if types:
        wanted = set(types)
        grown = [(t, d) for t, d in grown if t in wanted or _short(t) in wanted]
    return grown


def cmd_diff(args, progress):
    old = _load(args.old, progress)
    new = _load(args.new, progress)
    with progress.step("comparing"):
        failed = None
        if args.fail_on_growth is not None:
            failed = _fail_set(new, old, args.fail_on_growth)
        code = EXIT_GREW if failed else EXIT_OK
        args.code = code    # what a broken pipe still returns
        if args.json:
            rows = _growth_rows(new, old, args.limit)
        else:
            text = io.StringIO()
            new.show_growth(since=old, limit=args.limit, file=text)
    if args.json:
        _write_json({"command": "diff", "old": _file_info(old), "new": _file_info(new),
                     "notes": _pair_notes(old, new), "growth": rows,
                     "fail_on_growth": args.fail_on_growth,
                     "failed": [{"type": t, "delta": d} for t, d in failed or ()]})
    else:
        out = ["%s" % _header(old), "%s" % _header(new)] + _pair_notes(old, new) + [""]
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.write(text.getvalue() or "(no type grew)\n")
    if failed:
        sys.stdout.flush()
        sys.stderr.write("refchain diff: growth found: %s\n" % ", ".join(
            "%s %+d" % (t, d) for t, d in failed))
    return code


def _holders_text(holders, since):
    from refchain._explain import _retaining
    from refchain._format import human_bytes, name
    if not holders:
        return "(nothing new since the older snapshot)" if since else "(no objects)"
    out = []
    for row in holders:
        typename, count, nbytes, groups = row
        out.append("%s: %s%d %s (%s%s)" % (
            name(typename), "+" if since else "", count, "new" if since else "objects",
            human_bytes(nbytes), _retaining(count, nbytes, getattr(row, "retained_count", None),
                                            getattr(row, "retained_bytes", None))))
        out.extend("  " + str(g) for g in groups)
        rest = count - sum(g.count for g in groups)
        if rest > 0:
            out.append("  ... and %d more (%s) in smaller groups" % (
                rest, human_bytes(nbytes - sum(g.bytes for g in groups))))
    return "\n".join(out)


def _html_report(args, new, old, progress):
    """report --html FILE: the report as one self-contained HTML page."""
    from refchain import _html
    with progress.step("building %s" % args.html):
        data = _html.build(new, old, limit=args.limit, explain=args.explain,
                           groups=args.groups, suspects=args.suspects, min_share=args.min_share)
        try:
            _html.write(args.html, data)
        except OSError as exc:
            raise InputError(_one_line(exc)) from None
    size = os.path.getsize(args.html)
    if args.json:
        _write_json({"command": "report", "file": _file_info(new), "html": args.html,
                     "bytes": size})
    else:
        print("wrote %s (%d bytes): open it in a browser" % (args.html, size))
    return EXIT_OK


def cmd_report(args, progress):
    old = _load(args.since, progress) if args.since is not None else None
    new = _load(args.snap, progress)
    if args.html is not None:
        return _html_report(args, new, old, progress)
    with progress.step("growth"):
        if args.json:
            rows = _growth_rows(new, old, args.limit)
        else:
            growth = io.StringIO()
            new.show_growth(since=old, limit=args.limit, file=growth)
    with progress.step("holders"):
        holders = _holders(new, old, args.explain, args.groups)
    with progress.step("suspects"):
        suspects = new.suspects(args.suspects, args.min_share)
    with progress.step("garbage"):
        garbage = new.garbage(args.groups)
    notes = _pair_notes(old, new) if old is not None else []
    if args.json:
        _write_json({
            "command": "report", "file": _file_info(new),
            "since": _file_info(old) if old is not None else None, "notes": notes,
            "memory": new.memory_layers().as_dict(),
            "since_memory": old.memory_layers().as_dict() if old is not None else None,
            "growth": rows,
            "holders": [{"type": row[0], "count": row[1], "bytes": row[2],
                         "retained_bytes": getattr(row, "retained_bytes", None),
                         "retained_count": getattr(row, "retained_count", None),
                         "new": old is not None, "groups": [group_json(g) for g in row[3]]}
                        for row in holders],
            "suspects": [suspect_json(x) for x in suspects],
            "garbage": garbage_json(garbage)})
        return EXIT_OK
    out = ["refchain report", "  snapshot  " + _header(new),
           "  memory    " + new.memory_layers().summary()]
    if old is not None:
        out += ["  since     " + _header(old), "  memory    " + old.memory_layers().summary()]
    out += ["  " + n for n in notes]
    out += ["", "== What grew %s: type, count, change, bytes change ==" % (
                "since " + old.path if old is not None else "(no --since: every type, from 0)"),
            growth.getvalue().rstrip("\n") or "(no type grew)",
            "", "== What holds %s ==" % ("the new objects" if old is not None else
                                         "the largest types"),
            _holders_text(holders, old is not None),
            "", "== Leak suspects: what would be freed with one object ==",
            _suspects_text(suspects, args.min_share),
            "", "== Garbage: what the next gc.collect() would free ==", str(garbage)]
    sys.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def cmd_suspects(args, progress):
    snap = _load(args.snap, progress)
    with progress.step("dominators"):
        suspects = snap.suspects(args.limit, args.min_share)
    if args.json:
        _write_json({"command": "suspects", "file": snap.path, "min_share": args.min_share,
                     "suspects": [suspect_json(x) for x in suspects]})
    else:
        sys.stdout.write(_suspects_text(suspects, args.min_share) + "\n")
    return EXIT_OK


def cmd_chain(args, progress):
    snap = _load(args.snap, progress)
    chain = snap.find_chain(_node(snap, args.address))
    if args.json:
        _write_json(dict(chain_json(chain), command="chain", file=snap.path))
    else:
        sys.stdout.write(str(chain) + "\n")
    return EXIT_OK


def cmd_explain(args, progress):
    snap = _load(args.snap, progress)
    with progress.step("explaining %s" % args.type):
        groups = snap.explain(args.type, args.limit)
    if not groups and not any(t == args.type or _short(t) == args.type
                              for t in snap.census().keys()):
        sys.stderr.write("refchain: note: %s has no object of type %r\n"
                         % (snap.path, args.type))
    if args.json:
        _write_json({"command": "explain", "file": snap.path, "type": args.type,
                     "traced": snap.traced, "groups": [group_json(g) for g in groups],
                     "total": {"count": groups.total_count, "bytes": groups.total_bytes,
                               "groups": groups.total_groups}})
    else:
        text = io.StringIO()
        snap.show_explain(args.type, args.limit, file=text)
        sys.stdout.write(text.getvalue())
    return EXIT_OK


def _draw_call(snap, args):
    """(what, call) for draw's options: call() draws into args.output.
    Raises InputError when this refchain cannot draw a snapshot that way."""
    from refchain import Snapshot

    def missing(method):
        return InputError("draw --%s: this refchain cannot draw from a snapshot file yet "
                          "(Snapshot.%s is missing); draw in the live process instead"
                          % (args.what, method))

    if args.what == "chain":
        if not hasattr(Snapshot, "show_chain"):
            raise missing("show_chain")
        node = _node(snap, args.address)
        return lambda: snap.show_chain(snap.find_chain(node), filename=args.output)
    if args.what == "explain":
        if "filename" not in inspect.signature(Snapshot.show_explain).parameters:
            raise missing("show_explain(filename=...)")
        return lambda: snap.show_explain(args.type, args.limit, filename=args.output)
    method = "show_" + args.what
    if not hasattr(Snapshot, method):
        raise missing(method)
    node = _node(snap, args.address)
    return lambda: getattr(snap, method)([node], max_depth=args.max_depth,
                                         filename=args.output)


def cmd_draw(args, progress):
    if args.chain is not None:
        args.what, args.address = "chain", args.chain
    elif args.explain is not None:
        args.what, args.type = "explain", args.explain
    elif args.backrefs is not None:
        args.what, args.address = "backrefs", args.backrefs
    else:
        args.what, args.address = "refs", args.refs
    snap = _load(args.snap, progress)
    call = _draw_call(snap, args)
    with progress.step("drawing %s" % args.output), \
            contextlib.redirect_stdout(io.StringIO()):
        try:
            call()
        except (ValueError, OSError) as exc:
            raise InputError(_one_line(exc)) from None
    if args.json:
        _write_json({"command": "draw", "file": snap.path, "drawing": args.what,
                     "output": args.output, "bytes": os.path.getsize(args.output)})
    else:
        print("drew the %s into %s" % (args.what, args.output))
    return EXIT_OK


def cmd_export(args, progress):
    from refchain import Snapshot
    if not hasattr(Snapshot, "export_heapsnapshot"):
        raise InputError("export: this refchain cannot export snapshots yet "
                         "(Snapshot.export_heapsnapshot is missing)")
    snap = _load(args.snap, progress)
    with progress.step("exporting %s" % args.output), \
            contextlib.redirect_stdout(io.StringIO()):
        try:
            snap.export_heapsnapshot(args.output)
        except (ValueError, OSError) as exc:
            raise InputError(_one_line(exc)) from None
    size = os.path.getsize(args.output)
    if args.json:
        _write_json({"command": "export", "file": snap.path, "output": args.output,
                     "objects": len(snap), "bytes": size})
    else:
        print("wrote %s (%d objects, %d bytes): open it in Chrome DevTools, Memory tab, "
              "Load" % (args.output, len(snap), size))
    return EXIT_OK


# ---- the parser --------------------------------------------------------------------------


def cmd_attach(args, progress):
    from refchain._attach import AttachError, attach
    with progress.step("attaching to %d" % args.pid):
        try:
            res = attach(args.pid, args.output, args.fork, args.timeout, args.force)
        except AttachError as exc:
            raise InputError(_one_line(exc)) from None
    if args.json:
        _write_json(dict(res, command="attach"))
    else:
        stopped = (", after gdb stopped it for at most %.2f s" % res["stopped"]
                   if res.get("stopped") else "")
        sys.stdout.write("wrote %s: process %d (Python %s, through %s), its main thread "
                         "paused %.2f s%s, %.1f s in all\n"
                         % (res["path"], res["pid"], res["python"], res["method"],
                            res["pause"] or 0.0, stopped, res["seconds"]))
        if res.get("interrupted"):
            from refchain._attach import _interrupted_text
            sys.stdout.write("%d: %s\n" % (res["pid"], _interrupted_text(res["interrupted"])))
    return EXIT_OK


def _seconds(text):
    """argparse type: seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:
        raise argparse.ArgumentTypeError("%r is not a number of seconds (> 0)" % text)
    return value


def _pid(text):
    """argparse type: a process id."""
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if not 0 < value < 1 << 22:
        raise argparse.ArgumentTypeError("%r is not a process id" % text)
    return value


def _parser():
    from refchain import __version__
    top = argparse.ArgumentParser(
        prog="refchain", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version="refchain %s" % __version__,
                     help="print refchain's version and exit")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true",
                        help="print JSON instead of text (docs/cli.md)")
    sub = top.add_subparsers(dest="command", title="snapshot commands", metavar="COMMAND")

    def command(name, func, help, description):
        p = sub.add_parser(name, parents=[common], help=help, description=description)
        p.set_defaults(func=func)
        return p

    p = command("report", cmd_report, "growth, what holds it, leak suspects and garbage, in one report",
                "One report to read top to bottom: what grew (since OLD, or everything), "
                "what holds the new objects (the largest types without --since), with "
                "where they were allocated, the leak suspects (what one object's "
                "release would free), and what the next gc.collect() would free.")
    p.add_argument("snap", metavar="SNAP", help="the snapshot file")
    p.add_argument("--since", metavar="OLD", help="an older snapshot of the same process")
    p.add_argument("--html", metavar="FILE",
                   help="write the report as one self-contained HTML page (docs/report.md)")
    p.add_argument("--limit", type=_count, default=10, metavar="N",
                   help="types in the growth table (default 10)")
    p.add_argument("--explain", type=_count, default=3, metavar="K",
                   help="how many of the top types to explain (default 3)")
    p.add_argument("--groups", type=_count, default=3, metavar="G",
                   help="groups per explained type, and cycle groups (default 3)")
    p.add_argument("--suspects", type=_count, default=5, metavar="S",
                   help="leak suspects shown (default 5)")
    p.add_argument("--min-share", type=_fraction, default=0.01, metavar="F",
                   help="the share of the heap (0 to 1) a suspect retains at least "
                        "(default 0.01)")

    p = command("suspects", cmd_suspects, "the objects whose release would free the most",
                "The leak suspects: the objects that each retain (would free with "
                "them) at least a share of the heap while none of the objects they "
                "retain does, largest first, each with its chain from a root and the "
                "type of the objects the memory spreads over.")
    p.add_argument("snap", metavar="SNAP", help="the snapshot file")
    p.add_argument("--limit", type=_count, default=10, metavar="N",
                   help="suspects shown (default 10)")
    p.add_argument("--min-share", type=_fraction, default=0.01, metavar="F",
                   help="the share of the heap (0 to 1) a suspect retains at least "
                        "(default 0.01)")

    p = command("diff", cmd_diff, "what grew between two snapshots",
                "What grew between OLD and NEW (two snapshots of one process): each "
                "type's count, change and byte change, and the lines that allocated the "
                "new objects.  With --fail-on-growth, exit 1 when anything (or any TYPE "
                "given) grew: put it last, or end its types with --.")
    p.add_argument("old", metavar="OLD", help="the older snapshot")
    p.add_argument("new", metavar="NEW", help="the newer snapshot")
    p.add_argument("--limit", type=_count, default=10, metavar="N",
                   help="types shown (default 10)")
    p.add_argument("--fail-on-growth", nargs="*", metavar="TYPE",
                   help="exit 1 when any type grew, or one of these (full or short names)")

    p = command("chain", cmd_chain, "the chain of references from a root to an object",
                "The shortest chain of references from a root to the object at ADDRESS.")
    p.add_argument("snap", metavar="SNAP", help="the snapshot file")
    p.add_argument("address", type=_address, metavar="ADDRESS",
                   help="the object's address: 0x7f... or decimal, as id() gives")

    p = command("explain", cmd_explain, "why the objects of a type are alive, grouped",
                "The objects of TYPE grouped by the path that retains them, largest "
                "group first, with where they were allocated.")
    p.add_argument("snap", metavar="SNAP", help="the snapshot file")
    p.add_argument("type", metavar="TYPE", help="a type name: bytes, mymod.Session")
    p.add_argument("--limit", type=_count, default=5, metavar="N",
                   help="groups shown (default 5)")

    p = command("draw", cmd_draw, "draw a chain, an explanation or a neighbourhood",
                "Draw from a snapshot into a picture; the extension of -o picks the "
                "format (.svg, .png, .pdf, .dot, ...).")
    p.add_argument("snap", metavar="SNAP", help="the snapshot file")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--chain", type=_address, metavar="ADDRESS",
                      help="the chain from a root to this object")
    what.add_argument("--explain", metavar="TYPE", help="the groups of explain TYPE")
    what.add_argument("--backrefs", type=_address, metavar="ADDRESS",
                      help="what refers to this object")
    what.add_argument("--refs", type=_address, metavar="ADDRESS",
                      help="what this object refers to")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the picture")
    p.add_argument("--limit", type=_count, default=5, metavar="N",
                   help="groups drawn with --explain (default 5)")
    p.add_argument("--max-depth", type=_count, default=3, metavar="N",
                   help="references followed with --backrefs/--refs (default 3)")

    p = command("export", cmd_export, "write a Chrome DevTools .heapsnapshot",
                "Convert a snapshot into Chrome DevTools' .heapsnapshot format (DevTools' "
                "Memory tab, memlab).")
    p.add_argument("snap", metavar="SNAP", help="the snapshot file")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the .heapsnapshot to write")

    p = command("info", cmd_info, "what a snapshot file holds",
                "The file's process facts (pid, argv, time, Python, RSS, gc), its memory "
                "layers (RSS = the objects' bytes + what they do not explain), object "
                "count, sections and largest types.")
    p.add_argument("snap", metavar="SNAP", help="the snapshot file")
    p.add_argument("--limit", type=_count, default=10, metavar="N",
                   help="types shown (default 10)")

    p = command("attach", cmd_attach, "make a running Python process write a snapshot",
                "Make the running CPython PID write a snapshot, with no code change and "
                "no restart: through gdb before Python 3.14, sys.remote_exec from 3.14. "
                "It needs ptrace permission (root, or the target's user; docs/attach.md) "
                "and a refchain built for the target's Python version (this one's).")
    p.add_argument("pid", type=_pid, metavar="PID", help="the process id")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="the snapshot to write (default refchain-PID-TIME.rcsnap here)")
    p.add_argument("--fork", action="store_true",
                   help="dump(fork=True): a forked child of the target writes the file")
    p.add_argument("--timeout", type=_seconds, default=60.0, metavar="S",
                   help="seconds to wait for the file (default 60)")
    p.add_argument("--force", action="store_true",
                   help="skip the target's memory budget check (dump(force=True))")
    return top


def main(argv=None):
    """Run the command line on `argv` (sys.argv[1:] by default); returns
    the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    if not argv:
        parser.print_help()
        return EXIT_OK
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:   # --help, --version, or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_OK
    args.code = EXIT_OK
    try:
        return args.func(args, Progress(sys.stderr))
    except InputError as exc:
        sys.stdout.flush()
        sys.stderr.write("refchain: %s\n" % exc)
        return EXIT_ERROR
    except BrokenPipeError:
        # A reader (| head) went away: say nothing more, keep the verdict.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return args.code
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
