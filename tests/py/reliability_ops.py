"""Every public operation of refchain, for test_reliability.py's fresh
interpreters: a small scenario heap held by this module's globals, and
OPERATIONS, an ordered mapping name -> (call, check).  call() runs the
operation once and returns its answer; check(answer) returns None when the
answer is right, else what is wrong.

The checks hold in any moment the tests call them from (a __del__, a gc
callback, a signal handler, another thread, atexit), as long as the scenario
is alive: they look at what this module holds, not at the whole heap."""

import atexit
import gc
import io
import os
import shutil
import sys
import tempfile
import types

import refchain

N = 200
CACHE = {}
STATE = {}


class Leaf:
    def __init__(self, i):
        self.name = "leaf-%d" % i
        self.blob = bytes(32)


def setup():
    """Build the scenario: N Leaf instances in the module global CACHE, and
    a census taken before them (for new_objects and leaks)."""
    malloc_in_use()                     # imports ctypes now, not while a test measures
    STATE["before"] = refchain.census()
    for i in range(N):
        CACHE[i] = Leaf(i)
    STATE["dir"] = tempfile.mkdtemp(prefix="refchain-reliability-")
    atexit.register(shutil.rmtree, STATE["dir"], True)     # whatever the script does


def teardown():
    CACHE.clear()
    shutil.rmtree(STATE.pop("dir", "/nonexistent"), ignore_errors=True)


def _path(name):
    return os.path.join(STATE["dir"], name)


def _is_module(obj):
    return isinstance(obj, types.ModuleType)


CHAIN_TEXT = "module reliability_ops → ['CACHE'] dict → [7] Leaf"
QUALNAME = "reliability_ops.Leaf"


def _expect(condition, message):
    return None if condition else message


def _monitor():
    m = refchain.cycle_monitor(sample_every=1)
    with m:
        gc.collect()
    return m


def _written(path):
    return _expect(isinstance(path, str) and os.path.getsize(path) > 100, "no file: %r" % path)


def _operations():
    ops = {}
    ops["capture"] = (lambda: refchain.capture(),
                      lambda g: _expect(len(g) > 1000 and g.edge_count > 0, repr(g)))
    ops["Graph.census"] = (lambda: refchain.capture().census(),
                           lambda c: _expect(c[QUALNAME].count == N, repr(c.get(QUALNAME))))
    ops["census"] = (lambda: refchain.census(),
                     lambda c: _expect(c[QUALNAME].count == N, repr(c.get(QUALNAME))))
    ops["census(shortnames)"] = (lambda: refchain.census(shortnames=True),
                                 lambda c: _expect(c["Leaf"].count == N, repr(c.get("Leaf"))))
    ops["Census.top, diff"] = (lambda: (STATE["before"].top(5), str(refchain.census() - STATE["before"])),
                               lambda r: _expect("Leaf" in r[1], r[1][:200]))
    ops["growth"] = (lambda: refchain.growth(limit=None),
                     lambda rows: _expect(isinstance(rows, list), repr(rows)))
    ops["show_growth"] = (lambda: refchain.show_growth(file=io.StringIO()),
                          lambda r: _expect(r is None, repr(r)))
    ops["count"] = (lambda: refchain.count(Leaf), lambda n: _expect(n == N, n))
    ops["by_type"] = (lambda: refchain.by_type("Leaf"),
                      lambda objs: _expect(len(objs) == N, len(objs)))
    ops["new_objects"] = (lambda: refchain.new_objects("Leaf", since=STATE["before"]),
                          lambda objs: _expect(len(objs) == N, len(objs)))
    ops["find_chain"] = (lambda: str(refchain.find_chain(CACHE[7])),
                         lambda s: _expect(s.startswith(CHAIN_TEXT), s))
    ops["explain"] = (lambda: [str(g) for g in refchain.explain(Leaf)],
                      lambda gs: _expect(len(gs) == 1 and gs[0].startswith("%d Leaf" % N)
                                         and "['CACHE'] dict → [*] Leaf" in gs[0], gs))
    ops["show_explain"] = (lambda: _printed(refchain.show_explain, "Leaf"),
                           lambda s: _expect(s.startswith("%d Leaf" % N), s[:300]))
    ops["leaks"] = (lambda: str(refchain.leaks(STATE["before"])), _leaks_check)
    ops["find_backref_chain"] = (
        lambda: refchain.find_backref_chain(CACHE[7], _is_module),
        lambda c: _expect(len(c) >= 3 and _is_module(c[0]) and c[-1] is CACHE[7], c))
    ops["find_ref_chain"] = (
        lambda: refchain.find_ref_chain(CACHE, lambda o: o is CACHE[7]),
        lambda c: _expect(len(c) == 2 and c[0] is CACHE and c[1] is CACHE[7], c))
    ops["at"] = (lambda: refchain.at(id(CACHE[7])), lambda o: _expect(o is CACHE[7], o))
    ops["garbage"] = (lambda: refchain.garbage(),
                      lambda r: _expect(r.object_count >= 0 and isinstance(str(r), str), r))
    ops["collect_report"] = (lambda: refchain.collect_report(),
                             lambda r: _expect(r.collected >= 0 and isinstance(str(r), str), r))
    ops["cycle_monitor"] = (_monitor, lambda m: _expect(isinstance(str(m), str), m))
    if hasattr(refchain, "show_chain"):
        ops["show_chain"] = (lambda: refchain.show_chain(CACHE[7], filename=_path("chain.svg")),
                             _written)
        ops["show_explain(filename)"] = (
            lambda: refchain.show_explain("Leaf", filename=_path("leaks.svg")), _written)
    if hasattr(refchain, "show_backrefs"):
        ops["show_backrefs"] = (
            lambda: refchain.show_backrefs([CACHE[7]], filename=_path("backrefs.svg")), _written)
    if hasattr(refchain, "show_refs"):
        ops["show_refs"] = (
            lambda: refchain.show_refs([CACHE[7]], filename=_path("refs.dot")), _written)
    if hasattr(refchain, "render"):
        ops["render"] = (lambda: refchain.render([CACHE[7]]),
                         lambda b: _expect(isinstance(b, bytes) and b"<svg" in b, b[:100]))
    return ops


def _leaks_check(text):
    """reliability_ops.Leaf: +N new, unless 5 other types outrank it."""
    heads = [line.split(": +") for line in text.splitlines() if not line.startswith(" ")]
    counts = {name: int(rest.split()[0]) for name, rest in heads}
    if counts.get(QUALNAME) == N or (len(counts) == 5 and min(counts.values()) >= N
                                     and QUALNAME not in counts):
        return None
    return text[:500]


def _printed(func, *args):
    out = io.StringIO()
    func(*args, file=out)
    return out.getvalue()


OPERATIONS = _operations()
CAPTURING = [name for name in OPERATIONS if name not in ("at",)]

# While another thread is inside refchain too, its temporaries (the list
# by_type() is returning, the members explain() is grouping) really do hold
# the Leaf instances for a moment, and may give a shorter chain than CACHE,
# or split the Leaf instances into groups "held by C code".  These checks
# accept such holders; the counts must still be exact.
def _c_code(text):
    return "C code" in str(text)


LOOSE = {
    "find_chain": lambda s: _expect(" Leaf (" in s, s),
    "explain": lambda gs: _expect(sum(int(g.split()[0]) for g in gs) == N or _c_code(gs), gs),
    "show_explain": lambda s: _expect(sum(int(line.split()[0]) for line in s.splitlines()
                                          if " Leaf (" in line) == N or _c_code(s), s[:500]),
    "leaks": lambda s: _expect(_leaks_check(s) is None or _c_code(s), s[:500]),
}


def run_all(names=None, loose=False):
    """Call each operation once: {name: "ok" | "wrong: ..." | "ExcType: message"}."""
    results = {}
    for name in names or OPERATIONS:
        call, check = OPERATIONS[name]
        if loose:
            check = LOOSE.get(name, check)
        try:
            answer = call()
        except Exception as e:
            results[name] = "%s: %s" % (type(e).__name__, str(e)[:200])
            continue
        problem = check(answer)
        results[name] = "ok" if problem is None else "wrong: %s" % (str(problem)[:300],)
        del answer
    return results


def total_refs():
    """The interpreter's total reference count on a debug build (else 0),
    read with the type attribute cache empty.  That cache holds a reference
    to each attribute name it has looked up, and a lookup that lands on a
    taken slot (which depends on the hash seed) releases the old name: read
    with the cache in use, the total moves by a few references from run to
    run without any leak."""
    if not hasattr(sys, "gettotalrefcount"):
        return 0
    sys._clear_type_cache()
    return sys.gettotalrefcount()


def malloc_in_use():
    """Bytes malloc() has handed out and not got back (glibc's mallinfo2),
    plus what refchain has mapped itself (its large arrays), or None.  The
    pool of arrays refchain keeps for its next capture is released first:
    it is bounded, not a leak."""
    if "mallinfo2" not in STATE:
        STATE["mallinfo2"] = None
        try:
            import ctypes

            class MallInfo2(ctypes.Structure):
                _fields_ = [(name, ctypes.c_size_t) for name in (
                    "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                    "uordblks", "fordblks", "keepcost")]

            func = ctypes.CDLL(None).mallinfo2
            func.restype = MallInfo2
            STATE["mallinfo2"] = func
        except (OSError, AttributeError):
            pass
    if STATE["mallinfo2"] is None:
        return None
    refchain.release_memory()
    info = STATE["mallinfo2"]()
    return info.uordblks + info.hblkhd + refchain._refchain._mapped_bytes()
