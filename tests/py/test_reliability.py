"""Hardening (issue 6): refchain never crashes the process it inspects, never
corrupts it, never lies.

- leaks: every public operation, repeated, leaks no reference (checked with
  sys.gettotalrefcount() on a debug build) and no C memory (malloc);
- allocation failure: every capturing operation, once per failure point of
  refchain's allocator, ends in MemoryError or in a right answer, and the
  heap is unchanged afterwards;
- awkward moments: every operation from a __del__, a gc callback, a signal
  handler, another thread, atexit, with tracemalloc on and off, after
  gc.freeze();
- bad input: a catalogue of wrong arguments, each a clear error that loses
  nothing;
- asking changes nothing: answering leaves no trace in the heap.

The operations and their checks are in reliability_ops.py.  Everything runs
in fresh interpreters (subprocesses with timeouts, so that a deadlock fails
instead of hanging).  docs/reliability.md says what each test proves."""

import io
import json
import os
import subprocess
import sys
import textwrap

import pytest

import refchain
from conftest import _pythonpath

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 300


def _env(extra=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_pythonpath(), HERE]))
    env.pop("PYTHONTRACEMALLOC", None)
    env.update(extra or {})
    return env


def start(source, args=(), env=None, name="script.py", tmp_path=None):
    """Start `source` (dedented) in a fresh interpreter with refchain and
    reliability_ops importable; returns the Popen."""
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(textwrap.dedent(source))
    return subprocess.Popen([sys.executable, "-S", path] + [str(a) for a in args],
                            cwd=str(tmp_path), env=_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=TIMEOUT):
    """(returncode, stdout, stderr); a timeout kills the child and fails: a
    deadlock."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("no answer within %d s (deadlock?)\n--- stdout\n%s\n--- stderr\n%s"
                    % (timeout, out[-3000:], err[-3000:]))
    return proc.returncode, out, err


def run(source, args=(), env=None, tmp_path=None, timeout=TIMEOUT):
    """Run a script; its last stdout line as JSON.  Fails on a crash."""
    code, out, err = finish(start(source, args, env, tmp_path=tmp_path), timeout)
    assert code == 0, "exit status %d\n--- stdout\n%s\n--- stderr\n%s" % (
        code, out[-3000:], err[-5000:])
    return json.loads(out.strip().splitlines()[-1])


def not_ok(results):
    """The operations whose result is not "ok"."""
    return {name: r for name, r in results.items() if r != "ok"}


# ---- 1. leaks ------------------------------------------------------------------------

LEAKS = """
import array, gc, json, sys
import reliability_ops as R
REPS = 30
R.setup()
gc.disable()
for call, _ in R.OPERATIONS.values():      # warm every lazy cache once
    call()
total = R.total_refs
malloc = R.malloc_in_use if R.malloc_in_use() is not None else (lambda: 0)
figures = array.array("q", [0, 0])     # no int objects inside the measurement

def measure(call):
    for _ in range(3):
        call()
    gc.collect()
    figures[0], figures[1] = total(), malloc()
    for _ in range(REPS):
        call()
    gc.collect()
    figures[0], figures[1] = total() - figures[0], malloc() - figures[1]
    return {"refs": figures[0], "malloc": figures[1]}

measure(lambda: None)                  # the measurement's own first-use costs
out = {name: measure(call) for name, (call, check) in R.OPERATIONS.items()}
R.teardown()
print(json.dumps({"reps": REPS, "ops": out, "has_malloc": R.malloc_in_use() is not None}))
"""


@pytest.fixture(scope="module")
def leak_figures(tmp_path_factory):
    return run(LEAKS, tmp_path=tmp_path_factory.mktemp("leaks"))


@pytest.mark.skipif(not hasattr(sys, "gettotalrefcount"),
                    reason="sys.gettotalrefcount() needs a debug build of CPython "
                           "(./run test runs this on Debian's python3.11-dbg)")
def test_no_operation_leaks_a_reference(leak_figures):
    """On a debug build: after warming up, 30 more calls of each operation
    leave the interpreter's total reference count where it was."""
    leaked = {name: f["refs"] for name, f in leak_figures["ops"].items() if f["refs"] != 0}
    assert leaked == {}, "total refcount delta over %d calls" % leak_figures["reps"]


def test_no_operation_leaks_c_memory(leak_figures):
    """30 more calls of each operation leave malloc's bytes in use within
    noise (a leaked graph is hundreds of KiB per call)."""
    if not leak_figures["has_malloc"]:
        pytest.skip("no mallinfo2() in this C library")
    grown = {name: f["malloc"] for name, f in leak_figures["ops"].items()
             if f["malloc"] > 256 * 1024}
    assert grown == {}, "bytes malloc()ed and not freed over %d calls" % leak_figures["reps"]


# ---- 2. allocation failure -----------------------------------------------------------

FAULTS = """
import array, gc, json, os, sys
import reliability_ops as R
import refchain
from refchain import _refchain

def run_op(name):
    # Prints the operation's row and keeps nothing: the census after the
    # loop must equal the one before.
    call, check = R.OPERATIONS[name]
    _refchain._fail_after(-1)
    call()
    points = _refchain._fail_after(-1)     # allocations one call makes
    row = {"op": name, "points": points, "memory_errors": 0, "other": [], "wrong": []}
    for n in range(points + 1):            # n == points: nothing fails
        _refchain._fail_after(n)
        try:
            answer = call()
        except MemoryError:
            row["memory_errors"] += 1
            continue
        except Exception as e:
            row["other"].append([n, "%s: %s" % (type(e).__name__, str(e)[:300])])
            continue
        finally:
            _refchain._fail_after(-1)
        problem = check(answer)
        answer = None
        if problem is not None:
            row["wrong"].append([n, str(problem)[:300]])
    os.write(1, (json.dumps(row) + "\\n").encode())    # no buffer kept between censuses

R.setup()
gc.disable()
for call, _ in R.OPERATIONS.values():      # warm every lazy cache once
    call()
repr([[0]])     # CPython makes its per-thread repr-recursion dict on first use
run_op(R.CAPTURING[0])                 # and json's encoder on first use
call = name = after = None
total = R.total_refs
malloc = R.malloc_in_use if R.malloc_in_use() is not None else (lambda: 0)
figures = array.array("q", [0, 0])     # no int objects between the censuses
before = refchain.census()
gc.collect()
figures[0], figures[1] = total(), malloc()
for name in sys.argv[1:]:
    run_op(name)
gc.collect()
figures[0], figures[1] = total() - figures[0], malloc() - figures[1]
after = refchain.census()
print(json.dumps({"refs": figures[0], "malloc": figures[1],
                  "heap": [[r.name, r.delta, r.bytes_delta] for r in after - before
                           # before 3.11 a code object run often grows an opcache
                           if not (sys.version_info < (3, 11) and r.name == "code"
                                   and r.delta == 0)]}))
"""


def test_every_allocation_failure_is_a_memory_error_or_a_right_answer(tmp_path):
    """Each capturing operation runs once per failure point of refchain's
    allocator (the n-th allocation and all after it fail).  Each run ends in
    MemoryError or in the right answer, never in another exception, an
    abort or a wrong answer; afterwards no reference and no memory is
    leaked and a census equals the one taken before."""
    import reliability_ops

    names = reliability_ops.CAPTURING
    halves = [names[0::2], names[1::2]]        # two interpreters side by side
    procs = [start(FAULTS, half, tmp_path=tmp_path, name="faults%d.py" % i)
             for i, half in enumerate(halves)]
    # The harness alone (no operation) may change the heap too (3.13 frees
    # a tuple of its own): that is the baseline.
    code, out, err = finish(start(FAULTS, [], tmp_path=tmp_path, name="baseline.py"))
    assert code == 0, err[-3000:]
    baseline = json.loads(out.strip().splitlines()[-1])
    reports, ops = [], {}
    for proc in procs:
        code, out, err = finish(proc)
        assert code == 0, "exit status %d (an abort?)\n%s\n%s" % (code, out[-2000:],
                                                                 err[-5000:])
        # The drawing calls print objgraph's "Image generated as ..." too.
        lines = [json.loads(line) for line in out.strip().splitlines()
                 if not line.startswith(("Image generated as ", "Graph written to "))]
        reports.append(lines[-1])
        ops.update((row["op"], row) for row in lines[:-1])
    assert sorted(ops) == sorted(names)
    assert sum(r["points"] for r in ops.values()) > 1000
    for name, r in ops.items():
        assert r["other"] == [] and r["wrong"] == [], (name, r)
        assert r["memory_errors"] >= 1 or name == "cycle_monitor", (name, r)
    for r in reports:
        assert r["heap"] == baseline["heap"], "the heap changed: %s, the harness alone: %s" % (
            r["heap"], baseline["heap"])
        if hasattr(sys, "gettotalrefcount"):
            assert r["refs"] == 0, "references leaked: %d" % r["refs"]
        assert r["malloc"] < 256 * 1024, "C memory leaked: %d bytes" % r["malloc"]


# ---- 3. awkward moments --------------------------------------------------------------

MOMENTS = {
    "__del__": """
        import gc, json
        import reliability_ops as R
        R.setup()
        OUT = {}
        class Trigger:
            def __init__(self, tag):
                self.tag = tag
            def __del__(self):
                OUT[self.tag] = R.run_all()
        t = Trigger("from a __del__ (refcount)")
        del t
        gc.disable()
        t = Trigger("from a __del__ run by gc.collect()")
        t.me = t
        del t
        gc.collect()
        print(json.dumps(OUT))
    """,
    "gc.callbacks": """
        import gc, json
        import reliability_ops as R
        R.setup()
        OUT = {}
        def callback(phase, info):
            if info.get("generation") == 2 and phase not in OUT:
                OUT["from a gc callback (%s)" % phase] = R.run_all()
        gc.callbacks.append(callback)
        gc.collect()
        gc.callbacks.remove(callback)
        print(json.dumps(OUT))
    """,
    "signals": """
        import json, os, signal, time
        import reliability_ops as R
        R.setup()
        OUT = {}
        def handler(signum, frame):
            OUT["from a signal handler"] = R.run_all()
        signal.signal(signal.SIGUSR1, handler)
        junk = []
        os.kill(os.getpid(), signal.SIGUSR1)
        for i in range(10 ** 6):            # the handler runs between these bytecodes
            junk.append([i])
            if OUT:
                break
        del junk
        # A timer interrupting refchain itself, again and again: its handler
        # asks for a chain while the main thread is inside another call.
        HITS, BUSY = [], []
        def tick(signum, frame):
            if BUSY:    # on a starved machine a chain can outlast the period:
                return  # nesting handlers would only overflow the stack
            BUSY.append(signum)
            try:
                HITS.append(R.OPERATIONS["find_chain"][0]())
            except Exception as e:
                HITS.append("%s: %s" % (type(e).__name__, e))
            finally:
                BUSY.pop()
        signal.signal(signal.SIGALRM, tick)
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
        t, inner = time.time(), {}
        while time.time() - t < 2:
            for k, v in R.run_all(["census", "find_chain", "explain", "garbage", "show_growth",
                                   "leaks", "collect_report"]).items():
                if v != "ok":
                    inner[k] = v
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        OUT["interrupted by a signal handler that asks too"] = inner or {"all": "ok"}
        # The interrupted code may hold CACHE on its value stack, which
        # before 3.11 no traversal shows: then the chain starts at C code.
        wrong = [h for h in HITS if not (h.startswith(R.CHAIN_TEXT) or
                                         (h.startswith("C code") and " Leaf (" in h))]
        OUT["the signal handler's own answers"] = {"all": "ok"} if HITS and not wrong else {
            "calls": "%d, wrong: %r" % (len(HITS), wrong[:3])}
        print(json.dumps(OUT))
    """,
    "threads": """
        import json, threading
        import reliability_ops as R
        R.setup()
        OUT = {}
        stop = threading.Event()
        class Churn:
            pass
        def churn():
            keep, i = [], 0
            while not stop.is_set():
                a = [i, {"k": i}, Churn()]
                if i % 50 == 0:
                    a.append(a)             # now and then a cycle for the collector
                keep.append(a)
                if len(keep) > 1000:
                    del keep[:500]
                i += 1
        t = threading.Thread(target=churn)
        t.start()
        try:
            OUT["while another thread allocates"] = R.run_all()
        finally:
            stop.set()
            t.join()
        answers = {}
        def ask(tag):
            merged = {}
            for _ in range(3):
                for k, v in R.run_all(loose=True).items():
                    if v != "ok":
                        merged[k] = v
            answers[tag] = merged
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        OUT["from two threads at once"] = {"all": "ok"} if not any(answers.values()) else {
            "thread %s" % k: str(v)[:500] for k, v in answers.items()}
        print(json.dumps(OUT))
    """,
    "tracemalloc": """
        import io, json, tracemalloc
        import reliability_ops as R
        import refchain
        OUT = {}
        tracemalloc.start(5)
        R.setup()
        OUT["with tracemalloc on"] = R.run_all()
        refchain.show_growth(file=io.StringIO())
        more = [bytearray(10) for i in range(50)]
        out = io.StringIO()
        refchain.show_growth(file=out)
        OUT["show_growth names the allocating line"] = {
            "all": "ok" if "+50 at script.py:" in out.getvalue() else out.getvalue()}
        del more
        tracemalloc.stop()
        OUT["after tracemalloc.stop()"] = R.run_all()
        flipped = {}
        for i in range(6):
            (tracemalloc.start if i % 2 == 0 else tracemalloc.stop)()
            for k, v in R.run_all(["show_growth", "find_chain", "explain", "leaks",
                                   "garbage"]).items():
                if v != "ok":
                    flipped[k] = v
        OUT["tracemalloc started and stopped between calls"] = flipped or {"all": "ok"}
        print(json.dumps(OUT))
    """,
    "gc at every allocation": """
        import gc, json
        # Before 3.9 a collection while the extension module is being made
        # traverses it before its state exists (this crashed on 3.8 when the
        # collector's count happened to run out there): make it run out at
        # every allocation, from the import on.
        gc.set_threshold(1)
        import reliability_ops as R
        import refchain
        R.setup()
        OUT = {"a collection at every allocation": R.run_all()}
        print(json.dumps(OUT))
    """,
    "gc.freeze": """
        import gc, json
        import reliability_ops as R
        import refchain
        R.setup()
        gc.collect()
        gc.disable()

        class Frozen:
            pass

        f = Frozen()
        f.me = f                    # a cycle nobody holds, frozen below:
        del f                       # no collection will ever free it
        c0 = refchain.census()
        c1 = refchain.census()
        gc.freeze()
        c2 = refchain.census()
        # Frozen objects leave gc.get_objects(); refchain reads the
        # collector's permanent generation, so a freeze changes no count:
        # the census after it differs from the one before as two censuses
        # in a row do (about 5,000 objects only C holds went unseen on 3.12
        # before).
        before = {r.name: r.delta for r in c1 - c0}
        after = {r.name: r.delta for r in c2 - c1}
        OUT = {}
        OUT["gc.freeze() changes no count"] = {"all": "ok"} if before == after else {
            name: "%s -> %s" % (before.get(name), after.get(name))
            for name in set(before) | set(after) if before.get(name) != after.get(name)}
        predicted = sum(g.count for g in refchain.garbage(limit=None)
                        if tuple(g.types) == ("__main__.Frozen",))
        gc.collect()
        OUT["a frozen cycle is no garbage"] = {"all": "ok"} if (
            predicted, refchain.census()["__main__.Frozen"].count) == (0, 1) else {
            "predicted": predicted}
        OUT["after gc.freeze()"] = R.run_all()
        gc.unfreeze()
        print(json.dumps(OUT))
    """,
}


@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_every_operation_in_an_awkward_moment(moment, tmp_path):
    """Each operation gives a right answer, or a clear exception: never a
    crash (the child exits cleanly) nor a deadlock (a timeout)."""
    results = run(MOMENTS[moment], tmp_path=tmp_path, timeout=240)
    assert results, "the moment never came"
    problems = {tag: not_ok(r) for tag, r in results.items() if not_ok(r)}
    assert problems == {}


AT_EXIT = """
import atexit, json, os
import reliability_ops as R
import refchain
R.setup()
def at_exit():
    print("ATEXIT " + json.dumps(R.run_all()), flush=True)
atexit.register(at_exit)
class Late:
    # Runs while the interpreter tears __main__ down: refchain's modules may
    # be half gone.  A clear exception is fine; a crash is not.
    def __del__(self):
        try:
            text = "ok %d" % refchain.census().total.count
        except BaseException as e:
            text = "%s: %s" % (type(e).__name__, e)
        os.write(1, ("LATE " + text + "\\n").encode())
LATE = Late()
"""

DAEMON_AT_EXIT = """
import threading, time
import reliability_ops as R
import refchain
R.setup()
def forever():
    while True:
        refchain.census()
        refchain.find_chain(R.CACHE[7])
        refchain.garbage()
threading.Thread(target=forever, daemon=True).start()
time.sleep(0.2)
print("{}")
"""


def test_during_interpreter_shutdown(tmp_path):
    """From an atexit function every operation works; from a __del__ run
    while modules are torn down, the answer is right or a clear exception;
    the process exits cleanly."""
    code, out, err = finish(start(AT_EXIT, tmp_path=tmp_path), timeout=120)
    assert code == 0, "exit status %d\n%s\n%s" % (code, out[-2000:], err[-5000:])
    lines = out.splitlines()
    atexit_line = [line for line in lines if line.startswith("ATEXIT ")]
    assert atexit_line, out
    assert not_ok(json.loads(atexit_line[0][len("ATEXIT "):])) == {}
    # CPython may leave objects alive at exit without calling __del__; when
    # it does call it, the answer is a census or a clear exception.
    late = [line for line in lines if line.startswith("LATE ")]
    assert all("SystemError" not in line for line in late), late
    assert "Fatal Python error" not in err and "Traceback" not in err, err[-3000:]


def test_a_daemon_thread_inside_refchain_at_exit(tmp_path):
    """The interpreter exits while a daemon thread keeps asking."""
    for attempt in range(5):
        code, out, err = finish(start(DAEMON_AT_EXIT, tmp_path=tmp_path), timeout=60)
        assert code == 0, "exit status %d\n%s\n%s" % (code, out[-2000:], err[-5000:])
        assert "Fatal Python error" not in err and "Traceback" not in err, err[-3000:]


# ---- 4. bad input --------------------------------------------------------------------


class Leaf:
    pass


KEEP = [Leaf() for _ in range(3)]


def _closed_file():
    f = io.StringIO()
    f.close()
    return f


def _missing_dir(tmp_path, name="x.svg"):
    return str(tmp_path / "no" / "such" / "dir" / name)


def _dead_address():
    return id(Leaf())       # freed as soon as id() returns


# (id, call(tmp_path), exception type, text the message must contain)
BAD_INPUT = [
    # wrong types
    ("count(42)", lambda t: refchain.count(42), TypeError, "must be str or type"),
    ("count(b'Leaf')", lambda t: refchain.count(b"Leaf"), TypeError, "must be str or type"),
    ("by_type(None)", lambda t: refchain.by_type(None), TypeError, "must be str or type"),
    ("census(True)", lambda t: refchain.census(True), TypeError, "positional"),
    ("new_objects(since=42)", lambda t: refchain.new_objects("Leaf", since=42), TypeError,
     "must be a refchain.Census"),
    ("explain(42)", lambda t: refchain.explain(42), TypeError, "type name, a type or an iterable"),
    ("explain(limit='5')", lambda t: refchain.explain("Leaf", limit="5"), TypeError, "'limit'"),
    ("leaks(None)", lambda t: refchain.leaks(None), TypeError, "must be a refchain.Census"),
    ("show_growth(file=42)", lambda t: refchain.show_growth(file=42), TypeError, "write()"),
    ("show_explain(file=42)", lambda t: refchain.show_explain("Leaf", file=42), TypeError,
     "write()"),
    ("find_chain()", lambda t: refchain.find_chain(), TypeError, "argument"),
    ("find_backref_chain(predicate=42)", lambda t: refchain.find_backref_chain(KEEP[0], 42),
     TypeError, "callable"),
    ("find_ref_chain(predicate=42)", lambda t: refchain.find_ref_chain(KEEP, 42), TypeError,
     "callable"),
    ("find_backref_chain(max_depth='3')",
     lambda t: refchain.find_backref_chain(KEEP[0], callable, max_depth="3"), TypeError,
     "max_depth"),
    ("find_backref_chain(extra_ignore=5)",
     lambda t: refchain.find_backref_chain(KEEP[0], callable, extra_ignore=5), TypeError,
     "extra_ignore"),
    ("at('0x10')", lambda t: refchain.at("0x10"), TypeError, "int address"),
    ("garbage(limit='x')", lambda t: refchain.garbage(limit="x"), TypeError, "'limit'"),
    ("cycle_monitor(sample_every='x')", lambda t: refchain.cycle_monitor(sample_every="x"),
     TypeError, "sample_every"),
    # negative limits
    ("growth(limit=-1)", lambda t: refchain.growth(limit=-1), ValueError, ">= 0"),
    ("explain(limit=-1)", lambda t: refchain.explain("Leaf", limit=-1), ValueError, ">= 0"),
    ("leaks(limit=-1)", lambda t: refchain.leaks(refchain.census(), limit=-1), ValueError,
     ">= 0"),
    ("garbage(limit=-1)", lambda t: refchain.garbage(limit=-1), ValueError, ">= 0"),
    ("collect_report(limit=-1)", lambda t: refchain.collect_report(limit=-1), ValueError,
     ">= 0"),
    ("cycle_monitor(limit=-1)", lambda t: refchain.cycle_monitor(limit=-1), ValueError, ">= 0"),
    ("cycle_monitor(sample_every=-1)", lambda t: refchain.cycle_monitor(sample_every=-1),
     ValueError, ">= 0"),
    ("find_backref_chain(max_depth=-1)",
     lambda t: refchain.find_backref_chain(KEEP[0], callable, max_depth=-1), ValueError,
     "max_depth"),
    ("Census.top(-1)", lambda t: refchain.census().top(-1), ValueError, ">= 0"),
    # huge limits: no limit, or an error that names the argument
    ("find_backref_chain(max_depth=10**100)",
     lambda t: refchain.find_backref_chain(KEEP[0], lambda o: False, max_depth=10 ** 100),
     None, "max_depth"),
    ("find_ref_chain(max_depth=10**100)",
     lambda t: refchain.find_ref_chain(KEEP, lambda o: False, max_depth=10 ** 100),
     None, "max_depth"),
    # dead, untracked and impossible addresses: the C call says why
    # (refchain.at, objgraph's, returns None)
    ("at(dead object)", lambda t: refchain._refchain.at(_dead_address()), ValueError, "no live gc-tracked"),
    ("at(untracked int)", lambda t: refchain._refchain.at(id(10 ** 30 + len(KEEP))), ValueError,
     "no live gc-tracked"),
    ("at(inside an object)", lambda t: refchain._refchain.at(id(KEEP) + 8), ValueError,
     "no live gc-tracked"),
    ("at(0)", lambda t: refchain._refchain.at(0), ValueError, "no live gc-tracked"),
    ("at(-1)", lambda t: refchain._refchain.at(-1), ValueError, "no live gc-tracked"),
    ("at(2**200)", lambda t: refchain._refchain.at(2 ** 200), ValueError, "no live gc-tracked"),
    # closed files
    ("show_growth(file=closed)", lambda t: refchain.show_growth(file=_closed_file()),
     ValueError, "closed file"),
    ("show_explain(file=closed)", lambda t: refchain.show_explain("Leaf", file=_closed_file()),
     ValueError, "closed file"),
]
if hasattr(refchain, "show_chain"):
    BAD_INPUT += [
        # paths in missing directories: the error names the file asked for
        ("show_chain(filename=missing dir)",
         lambda t: refchain.show_chain(KEEP[0], filename=_missing_dir(t)), FileNotFoundError,
         "such/dir/x.svg"),
        ("show_backrefs(filename=missing dir)",
         lambda t: refchain.show_backrefs([KEEP[0]], filename=_missing_dir(t)),
         FileNotFoundError, "such/dir/x.svg"),
        ("show_refs(filename=missing dir)",
         lambda t: refchain.show_refs([KEEP[0]], filename=_missing_dir(t, "x.png")),
         FileNotFoundError, "such/dir/x.png"),
        ("show_explain(filename=missing dir)",
         lambda t: refchain.show_explain("Leaf", filename=_missing_dir(t, "x.dot")),
         FileNotFoundError, "such/dir/x.dot"),
        ("show_chain(filename=a directory)",
         lambda t: refchain.show_chain(KEEP[0], filename=str(t)), ValueError, "format"),
        ("show_chain(filename=42)", lambda t: refchain.show_chain(KEEP[0], filename=42),
         TypeError, "filename"),
        ("show_chain(.webp)", lambda t: refchain.show_chain(KEEP[0], filename=str(t / "x.webp")),
         ValueError, ".svg"),
        ("show_chain(max_nodes=0)",
         lambda t: refchain.show_chain(KEEP[0], filename=str(t / "x.svg"), max_nodes=0),
         ValueError, "max_nodes"),
        ("show_backrefs(output=3)",
         lambda t: refchain.show_backrefs(KEEP[0], output=3), TypeError, "'output'"),
        ("show_backrefs(max_depth=-1)",
         lambda t: refchain.show_backrefs([KEEP[0]], max_depth=-1, filename=str(t / "x.svg")),
         ValueError, "max_depth"),
        ("show_backrefs(too_many=0)",
         lambda t: refchain.show_backrefs([KEEP[0]], too_many=0, filename=str(t / "x.svg")),
         ValueError, "too_many"),
        ("render(format='webp')", lambda t: refchain.render([KEEP[0]], format="webp"), ValueError,
         "unknown format"),
        ("render(42)", lambda t: refchain.render(42), TypeError, "pass [obj]"),
        ("render(max_nodes=10**100)", lambda t: refchain.render([KEEP[0]], max_nodes=10 ** 100),
         None, "max_nodes"),
    ]


@pytest.mark.parametrize("call, exc, text", [case[1:] for case in BAD_INPUT],
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_gets_a_clear_error_and_loses_nothing(call, exc, text, tmp_path):
    """exc None: the call may succeed, or fail with an error naming `text`."""
    before = refchain.count(Leaf)
    if exc is None:
        try:
            call(tmp_path)
        except Exception as e:
            assert text in str(e), "%s: %s (the message does not name %r)" % (
                type(e).__name__, e, text)
    else:
        with pytest.raises(exc) as info:
            call(tmp_path)
        assert text in str(info.value), "%s: %s" % (type(info.value).__name__, info.value)
    # Nothing lost: the next calls work and see the same heap.
    assert refchain.count(Leaf) == before == 3
    assert str(refchain.find_chain(KEEP[1])).startswith(
        "module %s → ['KEEP'] list → [1] Leaf" % __name__)
    if tmp_path.exists():
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], \
            "a temporary file was left behind"


def test_a_depth_beyond_32_bits_is_no_limit():
    import types
    chain = refchain.find_backref_chain(KEEP[0], lambda o: isinstance(o, types.ModuleType),
                                        max_depth=2 ** 32)
    assert isinstance(chain[0], types.ModuleType) and chain[-1] is KEEP[0]


def test_unknown_type_names_match_nothing():
    for name in ("NoSuchType", "no.such.Type", "", ".", "Leaf.", "\udc80", "a" * 10000):
        assert refchain.count(name) == 0
        assert refchain.by_type(name) == []
        assert refchain.explain(name) == []


BAD_TP_NAME = r"""
# A static type, as a C extension defines one, whose tp_name is not UTF-8
# (type() and PyType_FromSpec() refuse such names; C code may still have one).
import ctypes, io, json, sys
import refchain

HEAD = 2 * ctypes.sizeof(ctypes.c_void_p) if hasattr(sys, "getobjects") else 0
P = ctypes.sizeof(ctypes.c_void_p)
OB_TYPE, TP_NAME, TP_BASICSIZE, TP_FLAGS = HEAD + P, HEAD + 3 * P, HEAD + 4 * P, HEAD + 21 * P
TP_NEW = HEAD + 39 * P

def field(addr, offset, ctype=ctypes.c_ssize_t):
    return ctype.from_address(addr + offset)

# The offsets, checked against a real type first.
assert field(id(int), TP_BASICSIZE).value == int.__basicsize__
assert field(id(int), TP_FLAGS, ctypes.c_ulong).value == int.__flags__
assert ctypes.string_at(field(id(int), TP_NAME, ctypes.c_void_p).value) == b"int"
libc = ctypes.CDLL(None)
libc.calloc.restype = ctypes.c_void_p
libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
name = libc.calloc(1, 64)                           # never freed, like a C static
ctypes.memmove(name, b"badmod.Bad\xff\xfeName\0", 17)
addr = libc.calloc(1, type.__basicsize__ + 64)
field(addr, HEAD).value = 1 << 30                   # ob_refcnt: never deallocated
field(addr, OB_TYPE, ctypes.c_void_p).value = id(type)
field(addr, TP_NAME, ctypes.c_void_p).value = name
field(addr, TP_BASICSIZE).value = object.__basicsize__
field(addr, TP_FLAGS, ctypes.c_ulong).value = 1 << 18   # Py_TPFLAGS_DEFAULT
field(addr, TP_NEW, ctypes.c_void_p).value = ctypes.cast(
    ctypes.pythonapi.PyType_GenericNew, ctypes.c_void_p).value
ctypes.pythonapi.PyType_Ready.argtypes = [ctypes.c_void_p]
assert ctypes.pythonapi.PyType_Ready(addr) == 0
Bad = ctypes.cast(addr, ctypes.py_object).value
try:
    Bad.__name__
    raise SystemExit("tp_name decoded: the test would prove nothing")
except UnicodeDecodeError:
    pass

refchain.show_growth(file=io.StringIO())
HELD = {"bad": [Bad() for _ in range(7)]}
out = {}
def attempt(tag, func):
    try:
        out[tag] = func()
    except Exception as e:
        out[tag] = "%s: %s" % (type(e).__name__, e)
attempt("census", lambda: [[n, s.count] for n, s in refchain.census().items() if "Bad" in n])
attempt("count(name)", lambda: refchain.count("badmod.Bad\ufffd\ufffdName"))
attempt("count(type)", lambda: refchain.count(Bad))
attempt("growth", lambda: [r for r in refchain.growth(limit=None) if "Bad" in r[0]])
attempt("find_chain", lambda: str(refchain.find_chain(HELD["bad"][3])))
attempt("explain", lambda: [str(g) for g in refchain.explain(Bad)])
if hasattr(refchain, "render"):
    attempt("render", lambda: len(refchain.render([HELD["bad"][3]])) > 0)
print(json.dumps(out))
"""


def test_a_c_type_whose_name_is_not_utf8(tmp_path):
    """Such a name is shown with U+FFFD in place of the bad bytes, and every
    answer that names the type works."""
    out = run(BAD_TP_NAME, tmp_path=tmp_path, timeout=120)
    shown = "badmod.Bad\ufffd\ufffdName"
    assert out["census"] == [[shown, 7]]
    assert out["count(name)"] == out["count(type)"] == 7
    assert out["growth"] == [["Bad\ufffd\ufffdName", 7, 7]]
    assert out["find_chain"].startswith("module __main__ → ['HELD'] dict → ['bad'] list → [3] ")
    assert "Bad\ufffd\ufffdName" in out["find_chain"], out["find_chain"]
    assert len(out["explain"]) == 1 and out["explain"][0].startswith("7 "), out["explain"]
    assert out.get("render", True) is True, out["render"]


# ---- 5. asking changes nothing, and answers do not lie -------------------------------

ASKING = """
import gc, json, sys
import refchain
gc.disable()
class Node:
    pass
def make_frames():
    # A reference cycle through a finished frame: garbage whose cycle
    # passes through the frame's locals.
    def inner():
        x = [1]
        f = sys._getframe()
        x.append(f)
    for _ in range(5):
        inner()
make_frames()
def make_closure_cycle():
    def handler():      # garbage: handler -> closure -> cell -> handler
        return handler
make_closure_cycle()
def keeper():
    secret = Node()
    def get():
        return secret
    return get
GET = keeper()          # a chain through a closure cell
names = ["attr_%d" % i for i in range(3)]      # names no code spells out
HELD = []
for i in range(5):
    n = Node()
    setattr(n, names[i % 3], Node())
    HELD.append(n)
before = refchain.census()
predicted = refchain.garbage().object_count
str(refchain.find_chain(getattr(HELD[0], names[0])))
str(refchain.find_chain(GET.__closure__[0].cell_contents))
[str(g) for g in refchain.explain(Node)]
after = refchain.census()
print(json.dumps({"changes": [[r.name, r.delta] for r in after - before],
                  "predicted": predicted, "collected": gc.collect()}))
"""


def test_asking_leaves_no_trace_in_the_heap(tmp_path):
    """garbage(), find_chain() and explain() create nothing that outlives
    them: not the __dict__ of an instance whose attributes were inline
    (3.11+), not the f_locals dict of a frame in a garbage cycle, not a
    code object's cached co_freevars (3.11+) for a closure's label.  So a
    census after asking equals the one before, and gc.collect() then frees
    exactly what garbage() predicted."""
    out = run(ASKING, tmp_path=tmp_path)
    assert out["changes"] == [["int", 1]] or out["changes"] == [], out  # `predicted` itself
    assert out["predicted"] == out["collected"]


def test_explaining_given_objects_does_not_blame_the_tool():
    """explain(objects) groups them by what holds them, not by the list the
    tool made of them."""
    groups = refchain.explain(list(KEEP))
    assert [g.root_kind for g in groups] == ["module"], [str(g) for g in groups]
    assert "['KEEP'] list → [*] Leaf" in str(groups[0])


def test_collect_report_counts_bytes(run_script):
    out = run_script("""
    import gc, json, refchain
    gc.disable()
    class Node:
        pass
    for _ in range(3):
        a, b = Node(), Node()
        a.peer, b.peer = b, a
    del a, b
    predicted = [g.bytes for g in refchain.garbage()]
    collected = [g.bytes for g in refchain.collect_report()]
    print(json.dumps([predicted, collected]))
    """).stdout
    predicted, collected = json.loads(out)
    assert predicted and predicted[0] > 0
    assert collected == predicted


def test_collect_report_is_not_quadratic(run_script):
    """30,000 garbage objects: a linear report takes well under a second
    (the subprocess timeout is the failure signal)."""
    run_script("""
    import gc, refchain
    gc.disable()
    class Node:
        pass
    for i in range(10000):
        a, b = Node(), Node()
        a.peer, b.peer = b, {"back": a}
    del a, b
    report = refchain.collect_report()
    assert report.collected >= 20000, report.collected
    """, timeout=20)


def test_a_chain_in_a_reference_cycle_is_collected(run_script):
    """A Chain holds its objects; when one of them holds the Chain (an
    object that keeps its own explanation), the collector must be able to
    free both."""
    out = run_script("""
    import gc, weakref, refchain
    class Thing:
        pass
    HOLD = []
    def make():
        x = Thing()
        HOLD.append(x)
        x.why = refchain.find_chain(x)
        HOLD.clear()
        return weakref.ref(x)
    ref = make()
    gc.collect()
    print(ref() is None)
    """).stdout
    assert out.strip() == "True", "the object and its chain leaked"
