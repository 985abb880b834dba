"""refchain.watch(): a background census that tells a leak from a plateau.

The scenarios run in a fresh interpreter each.  The main thread does one
step of work per interval: it waits for the watcher's next census, then
does its step in a single C call (list.extend over itertools.starmap of a
class without a Python __init__), so that no census lands in the middle of
a step."""

import json
import os
import textwrap

import pytest

import refchain
from refchain._watch import verdict

from conftest import line_of

PRELUDE = """\
import itertools, json, logging, os, sys, time, tracemalloc
tracemalloc.start(5)
import refchain

# The log goes to a file through os.write: a StringIO before 3.12 keeps the
# pieces written as str objects until read, which the watcher would see grow.
LOG_FD = os.open("watch.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

class ToFile(logging.Handler):
    def emit(self, record):
        os.write(LOG_FD, (self.format(record) + "\\n").encode("utf-8"))

def log_text():
    with open("watch.log", encoding="utf-8") as f:
        return f.read()

LOG = logging.getLogger("refchain")
LOG.addHandler(ToFile())
LOG.setLevel(logging.INFO)
LOG.propagate = False

def next_census(w, since=None, timeout=60):
    # Wait for a census after the since-th (default: the last one).
    t = w.ticks if since is None else since
    deadline = time.monotonic() + timeout
    while w.ticks == t:
        assert time.monotonic() < deadline, "no census in %ss" % timeout
        time.sleep(0.002)

def make(cls, n):
    return itertools.starmap(cls, itertools.repeat((), n))
"""


def script(body):
    return PRELUDE + textwrap.dedent(body)


def test_verdict_rule():
    assert verdict([50, 50, 50]) == "growing"
    assert verdict([1, 1, 1]) == "growing"
    assert verdict([40, 20, 60]) == "growing"      # noisy, but steady within 1/3
    assert verdict([200, 100, 50]) == "plateau"    # warm-up: the rate decays
    assert verdict([5, 0, 5]) == "plateau"
    assert verdict([30, 30, -60]) == "plateau"     # a buffer cleared
    assert verdict([]) == "plateau"


def test_flags_a_linear_leak_and_never_a_plateau_a_bounded_cache_or_a_sawtooth(run_script):
    source = script("""
    import functools

    class Session: pass
    class WarmItem: pass
    class Chunk: pass

    SESSIONS, WARM, BUFFER = [], [], []

    class Payload(bytes): pass
    lookup = functools.lru_cache(maxsize=64)(Payload)   # C calls only

    w = refchain.watch(interval=0.25, keep=5, k=3)
    next_census(w, 0)
    warm = 256
    for i in range(10):
        t = w.ticks
        SESSIONS.extend(make(Session, 20))               # the leak
        warm //= 2
        WARM.extend(make(WarmItem, warm))                # warm-up: 128, 64, ... 0
        list(map(lookup, range(1000 * i, 1000 * i + 40)))   # a cache at its bound
        if i % 3 == 2:                                   # a sawtooth
            BUFFER.clear()
        else:
            BUFFER.extend(make(Chunk, 30))
        next_census(w, t)
    trends = {t.typename: t.deltas for t in w.growing}
    w.stop()
    print(json.dumps({"flagged": w.flagged, "trends": trends, "ticks": w.ticks,
                      "errors": w.errors}))
    """)
    proc = run_script(source)
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["errors"] == 0
    # Flagged after k intervals: the 4th census (the 1st is the baseline).
    assert out["flagged"] == {"__main__.Session": 4}, out
    assert out["trends"] == {"__main__.Session": [20, 20, 20]}, out


def test_logs_the_allocation_line_the_holder_and_the_memory_line(run_script, tmp_path):
    source = script("""
    class Session: pass
    SESSIONS = []

    w = refchain.watch(interval=0.2, k=3, dump_when={"growing": "Session"},
                       directory="dumps")
    next_census(w, 0)
    for i in range(6):
        t = w.ticks
        SESSIONS.extend(make(Session, 25))  # the leaking line
        next_census(w, t)
    w.stop()
    sys.stdout.write(log_text())
    print("DUMPED", w.dumped)
    """)
    proc = run_script(source)
    text = proc.stdout
    leak_line = line_of(source, "the leaking line")
    assert "refchain.watch: growing: __main__.Session: " in text, text
    assert "+25 +25 +25 in the last 3 intervals" in text
    assert "held through module __main__ → ['SESSIONS'] list → [*] Session" in text
    assert "; allocated at script.py:%d (25)." % leak_line in text
    assert "refchain.watch: still growing: __main__.Session" in text
    assert "refchain.watch: memory: RSS " in text and "counted by refchain" in text
    assert "dump_when held: wrote " in text
    # One snapshot, however long the type keeps growing.
    files = os.listdir(tmp_path / "dumps")
    assert len(files) == 1 and files[0].endswith(".rcsnap")
    path = str(tmp_path / "dumps" / files[0])
    assert text.splitlines()[-1] == "DUMPED " + os.path.join("dumps", files[0])
    snap = refchain.load(path)
    # Written when the type is first flagged: after three deltas of 25, at
    # least 75 Sessions (more when the first census came late).
    assert snap.census()["__main__.Session"].count >= 75


def test_stop_and_context_manager(run_script):
    run_script(script("""
    with refchain.watch(interval=0.02) as w:
        next_census(w)
        next_census(w)
        assert w.running
    assert not w.running and not w._thread.is_alive()
    ticks = w.ticks
    time.sleep(0.2)
    assert w.ticks == ticks
    w.stop()                                  # twice is fine
    w2 = refchain.Watcher(interval=0.02)      # not started until asked
    time.sleep(0.1)
    assert w2.ticks == 0 and not w2.running
    with w2:
        next_census(w2)
    assert "still growing" not in log_text()
    """))


def test_a_hostile_handler_or_condition_never_reaches_the_service(run_script):
    proc = run_script(script("""
    class Hostile(logging.Handler):
        def emit(self, record):
            raise RuntimeError("the handler broke")
    LOG.addHandler(Hostile())

    def condition(watcher):
        raise ValueError("the condition broke")

    class Session: pass
    SESSIONS = []
    w = refchain.watch(interval=0.05, dump_when=condition)
    for i in range(8):
        SESSIONS.extend(make(Session, 10))
        next_census(w)
    assert w.running
    w.stop()
    assert w.log_failures > 0 and w.errors >= 1
    text = log_text()
    # The StreamHandler before the hostile one still got the records; the
    # condition's error is logged once.
    assert text.count("ValueError: the condition broke (logged once") == 1, text
    print("SERVICE OK")
    """))
    assert proc.stdout.strip().splitlines()[-1] == "SERVICE OK"
    assert "the handler broke" not in proc.stderr


def test_a_base_exception_in_the_thread_ends_it_quietly(run_script):
    proc = run_script(script("""
    class Exiting(logging.Handler):
        def emit(self, record):
            raise SystemExit(3)
    LOG.addHandler(Exiting())
    w = refchain.watch(interval=0.02)
    w._thread.join(30)
    assert not w._thread.is_alive()
    print("SERVICE OK")
    """))
    assert proc.stdout.strip() == "SERVICE OK" and proc.stderr == ""


def test_the_interpreter_exits_promptly_with_a_watcher_running(run_script):
    import time
    start = time.monotonic()
    proc = run_script(script("""
    w = refchain.watch(interval=60)
    busy = refchain.watch(interval=0.001, holders=False)
    next_census(w, 0)
    next_census(busy, 0)
    print("BYE")
    """))
    assert time.monotonic() - start < 30
    assert proc.stdout.strip() == "BYE" and proc.stderr == ""


def test_a_budget_refusal_is_logged_once_and_the_interval_skipped(run_script, tmp_path):
    root = tmp_path / "cgroup"
    (root / "svc").mkdir(parents=True)
    (root / "svc" / "memory.max").write_text("%d\n" % (512 << 20))
    (root / "svc" / "memory.current").write_text("%d\n" % ((512 << 20) - 4096))
    (tmp_path / "proc-cgroup").write_text("0::/svc\n")
    proc = run_script(script("""
    w = refchain.watch(interval=0.02)
    deadline = time.monotonic() + 30
    while w.refusals < 5:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    w.stop()
    assert w.ticks == 0 and w.running is False
    print(log_text())
    """), env={"REFCHAIN_CGROUP_ROOT": str(root),
              "REFCHAIN_PROC_CGROUP": str(tmp_path / "proc-cgroup")})
    text = proc.stdout
    assert text.count("refchain.watch: skipped this interval's census: refchain: a census "
                      "needs about") == 1, text
    assert "cgroup /svc: memory.max 512.0 MiB - memory.current" in text


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="keep"):
        refchain.watch(keep=3, k=3)
    with pytest.raises(ValueError, match="interval"):
        refchain.watch(interval=0)
    with pytest.raises(TypeError, match="interval"):
        refchain.watch(interval="60")
    with pytest.raises(TypeError, match="dump_when"):
        refchain.watch(dump_when="whenever")
    with pytest.raises(TypeError, match="dump_when"):
        refchain.watch(dump_when={"size": 1})
    with pytest.raises(ValueError, match="rss"):
        refchain.watch(dump_when={"rss": -1})
    with pytest.raises(TypeError, match="logger"):
        refchain.watch(logger=42)


def test_its_own_state_is_never_growth_nor_a_holder(run_script):
    """A threaded service that leaks only ints, checked for several
    intervals by calling the watcher's check itself (the workers are idle
    at each census, so every count is the same run to run).  Only int is
    flagged, and what holds the new ints is the service's list: never the
    watcher's Trends, whose counts are new ints at every interval (they
    were the largest "holder" after the leak on 3.11 and 3.13)."""
    proc = run_script(script("""
    import gc, threading

    class Conn:
        def __init__(self, i):
            self.i = i
            self.buf = bytearray(200)

    LEAKED = []
    go = [threading.Event() for _ in range(3)]
    done = [threading.Event() for _ in range(3)]
    stop = False

    def worker(n):
        while True:
            go[n].wait()
            go[n].clear()
            if stop:
                return
            conns = [Conn(i) for i in range(100)]     # made and dropped: no leak
            del conns
            done[n].set()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    gc.collect()
    # Never started: ticked below.  collect=False: after its first collection
    # the count of int on 3.8 and 3.13 is one more for good (a step, not an
    # object of the watcher's: no new int but the leak's is found).
    w = refchain.Watcher(interval=3600, k=3, groups=10, collect=False)
    for step in range(8):
        for n in range(3):
            go[n].set()
        for n in range(3):
            done[n].wait()
            done[n].clear()
        LEAKED.extend(range(10**9 + 40 * step, 10**9 + 40 * step + 40))   # the leak
        w._tick()
    stop = True
    for n in range(3):
        go[n].set()
    for t in threads:
        t.join()
    print(json.dumps({"flagged": w.flagged, "errors": w.errors,
                      "growing": [t.typename for t in w.growing]}))
    sys.stdout.write(log_text())
    """))
    lines = proc.stdout.splitlines()
    out = json.loads(lines[0])
    text = "\n".join(lines[1:])
    assert out["errors"] == 0, text
    assert out["flagged"] == {"int": 4} and out["growing"] == ["int"], (out, text)
    # Exactly the leak's 40 a step, at every interval: nothing of the
    # watcher's (a Trend, its ints, the memory layers) is counted.
    trends = [ln for ln in lines if "growing: int: " in ln]
    assert trends[0].startswith("refchain.watch: growing: int: ") and len(trends) == 5, text
    assert all("+40 +40 +40 in the last 3 intervals" in ln for ln in trends), text
    assert "held through module __main__ → ['LEAKED'] list → [*] int" in text
    for word in ("Trend", "refchain", "held through C code"):
        explained = [ln for ln in lines if ln.startswith("  ")]
        assert not any(word in ln for ln in explained), (word, text)
