"""Allocation lines name the user's own code, with the library's line
beside it."""

import json
import sys

from conftest import line_of

LOGGERS = """
    import json, logging, tracemalloc
    tracemalloc.start(25)
    import refchain

    def handle(i):
        return logging.getLogger("req.%d" % i)      # the user's line

    refchain.show_growth(limit=0)
    for i in range(300):
        handle(i)
"""


def test_a_library_allocation_names_the_users_line(run_script):
    out = run_script(LOGGERS + """
    refchain.show_growth(limit=None)
    groups = [g for g in refchain.explain(logging.Logger) if g.count >= 300]
    print(json.dumps(groups[0].lines))
    print(refchain.find_chain(logging.getLogger("req.7")))
    """, name="svc.py").stdout.splitlines()
    user = "svc.py:%d" % line_of(LOGGERS, "the user's line")

    def names_user(site):
        # The library's line follows when tracemalloc's innermost frame is
        # in logging (3.9 attributes the Logger to the caller's line itself).
        return site == user or (site.startswith(user + " (via ") and "logging" in site)

    # The allocation line under the Logger row (other rows may rank first).
    at = next(i for i, line in enumerate(out) if line.startswith("Logger "))
    growth = [out[at + 1].strip()]
    assert growth and names_user(growth[0][len("+300 at "):])
    [[n, site]] = json.loads(out[-2])
    assert n == 300 and names_user(site)
    assert names_user(out[-1].split(", allocated at ", 1)[1])


def test_the_user_chooses_what_their_code_is(run_script):
    # Counting logging as "their" code makes logging's own line the answer,
    # and a predicate that accepts nothing falls back to the innermost line.
    out = run_script(LOGGERS + """
    import os
    refchain.set_user_code([os.path.dirname(logging.__file__)])
    lib = refchain.explain(logging.Logger)[0].lines
    refchain.set_user_code(lambda filename: False)
    none = refchain.explain(logging.Logger)[0].lines
    refchain.set_user_code(None)
    default = refchain.explain(logging.Logger)[0].lines
    try:
        refchain.set_user_code("/a/single/path")
    except TypeError as e:
        print(json.dumps([lib, none, default, str(e)]))
    """, name="svc.py").stdout
    lib, none, default, error = json.loads(out)
    assert "logging" in lib[0][1] and " (via " not in lib[0][1]
    assert none[0][1] == lib[0][1]
    assert default[0][1].startswith("svc.py:")
    assert "list of directories" in error


SITES = """
    import copy, json, tracemalloc
    BEFORE = [object() for _ in range(50)]          # not traced
    tracemalloc.start(10)
    import refchain
    from refchain import _sites, _refchain

    class Thing:                                    # no free list: each copy is new memory
        pass

    def make(n):
        return [copy.copy(Thing()) for _ in range(n)]   # the user's line in make

    A = make(300)
    B = make(200)
    C = [copy.copy(Thing()) for _ in range(100)]    # line C
    mixed = A + B + C + BEFORE + [None, 1]
    counts = _refchain._alloc_traceback_counts(mixed)
    by_frames = {}
    for o in mixed:
        fs = _sites.frames_of(o)
        if fs:
            by_frames[fs] = by_frames.get(fs, 0) + 1
    print(json.dumps({
        "sites": _sites.allocation_sites(mixed, top=5),
        "from a generator": _sites.allocation_sites(o for o in mixed),
        "one at a time": _sites.ranked_sites(by_frames),
        "distinct": len(counts), "counted": sum(counts.values()),
    }))
    try:
        _refchain._alloc_traceback_counts(42)
    except TypeError as e:
        print(json.dumps(str(e)))
"""


def test_allocation_sites_are_counted_per_distinct_traceback(run_script):
    """allocation_sites() counts each distinct traceback in C, then names
    each once: the counts are exact (two tracebacks through make() read as
    one site, its user line), untraced and static objects are skipped, and
    the answer is the one frames_of() gives object by object."""
    lines = run_script(SITES, name="app.py").stdout.splitlines()
    out = json.loads(lines[0])
    at = lambda marker: "app.py:%d (via " % line_of(SITES, marker)  # noqa: E731
    (n1, make), (n2, c) = out["sites"]
    assert (n1, n2) == (500, 100), out
    assert make.startswith(at("the user's line in make")) and "copyreg.py:" in make, out
    assert c.startswith(at("line C")) and "copyreg.py:" in c, out
    assert out["from a generator"] == out["one at a time"] == out["sites"]
    assert out["distinct"] == 3 and out["counted"] == 600, out
    assert json.loads(lines[1]) == "_alloc_traceback_counts() needs a sequence"


FRAMES_BACK = """
    import json, os, sys, tempfile, tracemalloc
    tracemalloc.start(5)
    import refchain
    from refchain import _refchain

    def where(obj):
        tb = tracemalloc.get_object_traceback(obj)
        return [(os.path.basename(f.filename), f.lineno) for f in tb] if tb else None

    def made():
        return [bytearray(8) for _ in range(300)]   # line M

    objs = made()
    counts = _refchain._alloc_traceback_counts(objs)
    after = bytearray(8)                            # line A
    refchain.dump(os.path.join(tempfile.mkdtemp(), "t.rcsnap"))
    later = bytearray(8)                            # line B
    print(json.dumps({"counts": [[[list(f) for f in k], n] for k, n in counts.items()],
                      "after": where(after), "later": where(later),
                      "frame": sys._getframe().f_code.co_name}))
"""


def test_a_batch_of_lookups_gives_the_callers_frames_back(run_script):
    # The lookups of a report's lines and of a traced dump hide the running
    # frames from tracemalloc (each lookup's tuples would otherwise have it
    # walk the stack); what the program allocates next is charged to its
    # own line again.
    out = json.loads(run_script(FRAMES_BACK).stdout)
    m, a, b = (line_of(FRAMES_BACK, "line " + x) for x in "MAB")
    assert len(out["counts"]) == 1, out
    frames, n = out["counts"][0]
    assert n == 300 and frames[0][1] == m and frames[0][0].endswith("script.py"), out
    assert out["after"][0] == ["script.py", a] and len(out["after"]) == 1, out
    assert out["later"][0] == ["script.py", b] and len(out["later"]) == 1, out
    assert out["frame"] == "<module>"


def test_an_object_refchain_made_is_named_as_its_own():
    # A capture on 3.11+ makes the frame objects of running frames that had
    # none, and a report makes closures and rows: tracemalloc's innermost
    # frame is then one of refchain's modules, and the user's line only
    # called refchain.  leak_check's rounds and the pytest plugin call the
    # user's code: a C callable run there is the user's allocation.
    from refchain import _sites
    user = ("/srv/app/views.py", 16)
    own = ("/opt/venv/lib/python3.11/site-packages/refchain/_growth.py", 25)
    rounds = ("/opt/venv/lib/python3.11/site-packages/refchain/_leakcheck.py", 259)
    import threading
    lib = (threading.__file__, 910)
    assert _sites.format_site(_sites.site_key([own, lib, user])) == (
        "/srv/app/views.py:16, by refchain's own code (%s:25)" % own[0])
    assert _sites.format_site(_sites.site_key([own])) == (
        "refchain's own code (%s:25)" % own[0])
    assert _sites.format_site(_sites.site_key([rounds, user])) == (
        "/srv/app/views.py:16 (via %s:259)" % rounds[0])
    assert _sites.format_site(_sites.site_key([lib, user])) == (
        "/srv/app/views.py:16 (via %s:910)" % _sites.display_path(lib[0]))


THREADS = """
    import sys, threading, tracemalloc
    tracemalloc.start(5)
    import refchain

    stop = threading.Event()

    def worker(depth):
        return worker(depth - 1) if depth else stop.wait()

    refchain.show_growth(limit=0)
    threads = [threading.Thread(target=worker, args=(10,)) for _ in range(8)]
    for t in threads:
        t.start()
    refchain.show_growth(limit=None)       # the user's line
    stop.set()
"""


def test_frames_a_capture_made_are_not_the_users_allocation(run_script):
    out = run_script(THREADS).stdout.splitlines()
    user = "script.py:%d" % line_of(THREADS, "the user's line")
    at = next(i for i, line in enumerate(out) if line.startswith("frame "))
    sites = []
    for line in out[at + 1:]:
        if not line.startswith("    +"):
            break
        sites.append(line.strip())
    if sys.version_info >= (3, 11):
        # The worker frames had no frame objects until the capture made them.
        assert sites and "by refchain's own code (" in sites[0], out[at:at + 4]
        assert sites[0].split(" at ", 1)[1].startswith(user + ", "), sites
    assert not any(s.split(" at ", 1)[1].startswith(user + " (via") for s in sites), sites
