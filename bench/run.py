"""refchain's benchmark figures, each a ratio against a peer measured in the
same process and run (see bench/README.md):

  1. capture speed:     refchain.capture() / gc.collect()            <= 1.0x
  2. show_growth speed: refchain.show_growth / objgraph.show_growth  <= 0.5x
  3. memory:            peak extra RSS of one capture per object     <= 64 B
  4. single chain:      find_chain / objgraph.find_backref_chain,
                        a chain 10 deep, capture included            <= 0.5x
  5. fan-in:            the same with 100 extra referrers of the
                        target spread over the heap                  <= 0.05x (>= 20x faster)
  6. explain:           explain() over 100,000 leaked instances /
                        one capture()                                <= 2.0x
  7. garbage:           garbage() with 10,000 garbage cycles /
                        one capture()                                <= 1.5x
  8. dominators:        the dominator tree and retained sizes
                        (retained() less its capture) / one capture() <= 1.0x
                        and its peak extra RSS per object            <= 12 B
  9. pytest plugin:     the check of one test with an empty body
                        (defaults: warmup=1, repeat=1), 100k-object
                        heap / one gc.collect()                      <= 3.0x
  10. leak_check:        leak_check(cache leak, rounds=5) / the same
                        700 calls without it                         <= 10x
  11. dump:             refchain.dump() / one capture()              <= 1.5x
  12. file size:        snapshot bytes per object (labels, values
                        and allocation tracebacks included)          <= 20 B
  13. load:             refchain.load() / one capture()              <= 0.5x
  14. offline report:   load + show_growth + explain of the top
                        type from the file / a live show_growth      <= 2.0x
  15. watch() overhead: CPU of refchain.watch() at interval=60 on the
                        1M heap, in % of one core (measured over 10
                        intervals of 1 s, scaled to 60 s)            <= 0.5%
  16. fork dump pause:  the parent's pause in dump(fork=True) /
                        one in-process capture() of the same heap    <= 0.05x

Every measurement runs in a fresh subprocess that builds its own heap.  Timed
operations alternate in pairs (A, B, A, B, ...), one ratio per pair, and the
median ratio is reported with the range in brackets.

    PYTHONPATH=build/system/python python3 bench/run.py [--sizes 1000000,10000000]
                                                        [--pairs 7] [--quick]
"""

import argparse
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "out", "results.json")
COMPOSITIONS = ("service", "payload", "django")  # heap.BUILDERS


# -- in the child: build a heap, measure one figure, return a dict ----------


HEAP = []  # the measured heap, alive until the child exits


def make_heap(composition, n):
    import heap

    HEAP.append(heap.BUILDERS[composition](n))


def timed(func):
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    del result  # freeing a graph is not part of the time
    return elapsed


def paired(a, b, pairs):
    """Time a and b alternately; the ratio a/b per pair, summarised."""
    times = [(timed(a), timed(b)) for _ in range(pairs)]
    ratios = [ta / tb for ta, tb in times]
    return {
        "ratio": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "pairs": pairs,
        "ratios": ratios,
        "seconds": times,  # raw (a, b) per pair, only to judge the noise
    }


def capture_speed(composition, n, pairs):
    import refchain

    gc.collect()
    tracked0 = len(gc.get_objects())
    total0 = len(refchain.capture())
    make_heap(composition, n)
    gc.collect()
    tracked = len(gc.get_objects()) - tracked0
    graph = refchain.capture()  # warm-up, after one gc.collect()
    nodes, edges = len(graph), graph.edge_count
    del graph
    result = paired(refchain.capture, gc.collect, pairs)
    result.update(nodes=nodes, edges=edges, added=nodes - total0,
                  tracked_share=tracked / (nodes - total0))
    return result


def gc_lists_speed(composition, n, pairs):
    """Before 3.12: a capture and a census that read the collector's lists
    in place, against the same with gc.get_objects() (the path taken when
    the lists' layout does not check out), pair by pair."""
    import refchain
    from refchain import _refchain

    def without_lists(func):
        def run():
            _refchain._allow_gc_lists(False)
            try:
                func()
            finally:
                _refchain._allow_gc_lists(True)
        return run

    make_heap(composition, n)
    gc.collect()
    refchain.capture()  # warm-up
    result = {"capture": paired(refchain.capture, without_lists(refchain.capture), pairs),
              "census": paired(refchain.census, without_lists(refchain.census), pairs),
              "collect": paired(refchain.capture, gc.collect, pairs)}
    result.update(ratio=result["capture"]["ratio"], tracked=len(gc.get_objects()))
    return result


def sites_speed(n, pairs):
    """With tracemalloc on: allocation_sites() over n new objects, counted
    per distinct traceback in C, against the same answer object by object
    in Python (frames_of() for each, then the same ranking)."""
    import tracemalloc

    tracemalloc.start(1)
    from refchain import _sites

    class Item:
        pass

    def one_at_a_time(objects):
        by_frames = {}
        for obj in objects:
            frames = _sites.frames_of(obj)
            if frames:
                by_frames[frames] = by_frames.get(frames, 0) + 1
        return _sites.ranked_sites(by_frames)

    objects = [Item() for _ in range(n)]
    assert _sites.allocation_sites(objects) == one_at_a_time(objects)
    result = paired(lambda: _sites.allocation_sites(objects),
                    lambda: one_at_a_time(objects), pairs)
    result.update(objects=n)
    return result


def show_growth_lines_speed(composition, n, pairs, new=10000):
    """show_growth() with its allocation lines (tracemalloc tracing since
    before the heap was built) against the same call without them, in the
    same process: before each call `new` more objects of the heap's kind
    leak, so that every call has growth to report and lines to find.
    Without lines is the untraced path (a census), which the call takes
    when tracemalloc is off."""
    import tracemalloc

    tracemalloc.start(1)
    import heap
    import refchain
    from refchain import _growth

    make_heap(composition, n)
    gc.collect()
    leak = []
    build = heap.BUILDERS[composition]
    traced = _growth._tracing

    def call(lines, baseline=False):
        leak.append(build(new))
        _growth._tracing = traced if lines else (lambda: False)
        try:
            out = io.StringIO()
            start = time.perf_counter()
            refchain.show_growth(file=out)
            elapsed = time.perf_counter() - start
        finally:
            _growth._tracing = traced
        assert baseline or (" at " in out.getvalue()) == lines, out.getvalue()
        return elapsed

    call(True, baseline=True)       # the first call only sets the baseline
    times = [(call(True), call(False)) for _ in range(pairs)]
    ratios = [a / b for a, b in times]
    return {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "pairs": pairs, "ratios": ratios, "seconds": times, "new": new}


def show_growth_speed(composition, n, pairs):
    import objgraph
    import refchain

    make_heap(composition, n)
    gc.collect()
    refchain.show_growth(file=io.StringIO())  # baselines
    objgraph.show_growth(file=io.StringIO())
    result = paired(lambda: refchain.show_growth(file=io.StringIO()),
                    lambda: objgraph.show_growth(file=io.StringIO()), pairs)
    gc.collect()
    result.update(refchain_count=refchain.census().total.count,
                  objgraph_count=len(gc.get_objects()))
    return result


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s in /proc/self/status" % field)


def first_capture_speed(composition, n):
    """The first capture in a fresh process (nothing to reuse yet) and the
    gc.collect() right after it, once each."""
    import refchain

    make_heap(composition, n)
    gc.collect()
    first = timed(refchain.capture)
    collect = timed(gc.collect)
    return {"ratio": first / collect, "min": first / collect, "max": first / collect,
            "pairs": 1, "ratios": [first / collect], "seconds": [(first, collect)]}


def fresh_capture_speed(composition, n, pairs):
    """A capture into fresh memory (its pool released first, so every page
    it writes is new: what huge pages speed up) against gc.collect(), pair
    by pair, after one capture as a warm-up."""
    import refchain

    make_heap(composition, n)
    gc.collect()
    refchain.capture()

    def fresh():
        refchain.release_memory()  # not timed: the capture alone is
        start = time.perf_counter()
        graph = refchain.capture()
        elapsed = time.perf_counter() - start
        del graph
        return elapsed

    times = [(fresh(), timed(gc.collect)) for _ in range(pairs)]
    ratios = [a / b for a, b in times]
    return {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "pairs": pairs, "ratios": ratios, "seconds": times}


def census_speed(composition, n, pairs):
    """refchain.census() against gc.collect(), pair by pair, after one
    census as a warm-up."""
    import refchain

    make_heap(composition, n)
    gc.collect()
    refchain.census()
    result = paired(refchain.census, gc.collect, pairs)
    result.update(nodes=refchain.census().total.count)
    return result


def _release_pool():
    """Give back what refchain keeps between captures (before issue 18 it
    kept nothing), so a peak counts the memory a capture takes."""
    import refchain

    release = getattr(refchain, "release_memory", None)
    return release() if release else 0


def census_memory(composition, n):
    """Peak extra RSS of one census (after a warm-up census whose kept
    memory is released first), per object counted."""
    import refchain

    make_heap(composition, n)
    gc.collect()
    refchain.census()
    _release_pool()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_kib("VmRSS")
    census = refchain.census()
    peak = status_kib("VmHWM")
    extra = (peak - before) * 1024
    count = census.total.count
    return {"bytes_per_object": extra / count, "extra_bytes": extra, "nodes": count}


def capture_memory(composition, n):
    import refchain

    make_heap(composition, n)
    gc.collect()
    refchain.capture()  # warm-up, dropped at once
    _release_pool()     # what it kept for reuse: the peak below counts all
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = status_kib("VmRSS")
    graph = refchain.capture()
    peak = status_kib("VmHWM")
    extra = (peak - before) * 1024
    return {"bytes_per_object": extra / len(graph), "extra_bytes": extra,
            "nodes": len(graph), "graph_memory_per_object": graph.memory / len(graph)}


def _first_peak(composition, n, take, count):
    """Peak extra RSS of take() as the first of its kind in a fresh process
    (nothing of an earlier one to reuse), per count(result) objects."""
    make_heap(composition, n)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_kib("VmRSS")
    result = take()
    extra = (status_kib("VmHWM") - before) * 1024
    k = count(result)
    return {"bytes_per_object": extra / k, "extra_bytes": extra, "nodes": k}


def first_capture_memory(composition, n):
    """The first capture's peak (it sizes itself from the tracked objects),
    per node."""
    import refchain

    return _first_peak(composition, n, refchain.capture, len)


def first_census_memory(composition, n):
    """The first census's peak, per object counted."""
    import refchain

    return _first_peak(composition, n, refchain.census, lambda c: c.total.count)


class Link:
    __slots__ = ("next",)


CHAIN_ROOT = []   # a module global: the root of the chain the figures look for


def chain_target(fan_in):
    """A target at the end of a chain 10 references deep from the module
    global CHAIN_ROOT, plus `fan_in` extra referrers (lists) spread evenly
    over the heap's units."""
    head = Link()
    CHAIN_ROOT.append(head)                  # module -> dict -> list -> Link ...
    node = head
    for _ in range(6):
        node.next = Link()
        node = node.next
    target = bytearray(16)
    node.next = [target]                     # ... Link -> list -> target: 10 hops
    units = HEAP[0][0]
    for i in range(fan_in):
        units[(i * 7919) % len(units)].append([target])
    return target


def chain_speed(composition, n, pairs, fan_in):
    import inspect
    import objgraph
    import refchain

    make_heap(composition, n)
    target = chain_target(fan_in)
    gc.collect()
    # Timed inline, not through paired(): a lambda would hold `target` in a
    # closure cell, a shorter chain than the one measured.  Here `target` is
    # the caller's own variable, which find_chain discounts.
    times = []
    for _ in range(pairs):
        start = time.perf_counter()
        chain = refchain.find_chain(target)
        mid = time.perf_counter()
        theirs = len(objgraph.find_backref_chain(target, inspect.ismodule))
        times.append((mid - start, time.perf_counter() - mid))
    ratios = [a / b for a, b in times]
    return {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "pairs": pairs, "ratios": ratios, "seconds": times, "hops": chain.hops,
            "root": chain.root_kind, "objgraph_len": theirs - 1,
            "nodes": len(refchain.capture())}


def explain_speed(composition, n, pairs):
    import refchain

    make_heap(composition, n)

    class Leaked:
        registry = []

    for _ in range(100000):
        Leaked.registry.append(Leaked())
    HEAP.append(Leaked)
    gc.collect()
    groups = refchain.explain(Leaked)
    result = paired(lambda: refchain.explain(Leaked), refchain.capture, pairs)
    result.update(groups=len(groups), first=groups[0].count)
    return result


def small_heap_speed(composition, n, pairs):
    """One round of questions on a small heap, as a test suite or a notebook
    asks them one after another (census, capture, find_chain, explain,
    garbage), against as many gc.collect() calls; with the page faults and
    system time per round, which show memory that each question maps and
    faults in afresh (at 1M objects a capture's own arrays hide that)."""
    import resource
    import refchain

    make_heap(composition, n)
    gc.collect()
    target = HEAP[-1]

    def questions():
        refchain.census()
        refchain.capture()
        refchain.find_chain(target)
        refchain.explain("dict", limit=3)
        refchain.garbage()

    def collections():
        for _ in range(5):
            gc.collect()

    questions()                       # warm-up: lazy imports, the pool
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = paired(questions, collections, pairs)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.update(nodes=len(refchain.capture()),
                  faults_per_pair=(after.ru_minflt - before.ru_minflt) / pairs,
                  sys_seconds_per_pair=(after.ru_stime - before.ru_stime) / pairs)
    return result


class Peer:
    pass


def garbage_speed(composition, n, pairs):
    import refchain

    make_heap(composition, n)
    gc.collect()
    gc.disable()                      # keep the cycles for the whole measurement
    for _ in range(10000):
        a, b = Peer(), Peer()
        a.other, b.other = b, a
    del a, b
    report = refchain.garbage()
    result = paired(refchain.garbage, refchain.capture, pairs)
    result.update(object_count=report.object_count, groups=len(report),
                  cycles=sum(g.count for g in report))
    return result


def peak_extra(func):
    """Peak RSS over the current one while func() runs, in bytes."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = status_kib("VmRSS")
    result = func()
    peak = status_kib("VmHWM")
    del result
    return (peak - before) * 1024


def dominators_speed(composition, n, pairs):
    """retained() is one capture (both edge directions and sizes, as
    capture() records), the root kinds and the dominator tree with every
    retained size: its time less one capture's is the tree's."""
    import refchain

    make_heap(composition, n)
    gc.collect()
    target = HEAP[0]
    retained = refchain.retained(target)          # warm-up
    nodes = len(refchain.capture())
    result = paired(lambda: refchain.retained(target), refchain.capture, pairs)
    result["ratio_with_capture"] = result["ratio"]
    result["ratios"] = [r - 1.0 for r in result["ratios"]]
    for key in ("ratio", "min", "max"):
        result[key] -= 1.0
    capture_peak = min(peak_extra(refchain.capture) for _ in range(2))
    retained_peak = min(peak_extra(lambda: refchain.retained(target)) for _ in range(2))
    result.update(nodes=nodes, retained=list(retained),
                  extra_bytes_per_object=(retained_peak - capture_peak) / nodes,
                  capture_peak_per_object=capture_peak / nodes)
    return result


def plugin_overhead(composition, n, pairs):
    import refchain
    from refchain import pytest_plugin

    make_heap(composition, n)
    gc.collect()

    def body():
        pass

    found = pytest_plugin.check(body, "test_empty")
    result = paired(lambda: pytest_plugin.check(body, "test_empty"), gc.collect, pairs)
    result.update(nodes=refchain.census().total.count, tracked=len(gc.get_objects()),
                  leaked=len(found))
    return result


_PAGES = {}
_REQUESTS = [0]


def cache_leak():
    """The classic cache leak: every request's page memoised under a new id."""
    _REQUESTS[0] += 1
    i = _REQUESTS[0]
    page = _PAGES.get(i)
    if page is None:
        page = ("<html>request %d</html>" % i).encode().ljust(1024)
        _PAGES[i] = page
    return len(page)


def leak_check_cost(pairs):
    import refchain

    def bare():
        for _ in range(700):           # warmup=2 + rounds=5, 100 calls each
            cache_leak()

    def checked():
        return refchain.leak_check(cache_leak, rounds=5, warmup=2, calls_per_round=100)

    report = checked()
    result = paired(checked, bare, pairs)
    # The floor under any leak_check: one collection and one census of
    # this heap, each against the same bare loop (rounds=5 takes six of each).
    floor = {name: paired(func, bare, pairs)["ratio"]
             for name, func in (("gc_collect", gc.collect), ("census", refchain.census))}
    result.update(leaked=sorted(l.typename for l in report),
                  nodes=refchain.census().total.count, floor=floor)
    return result




# -- in the parent: one subprocess per measurement, a table, a JSON file ----


def snapshot_speed(composition, n, pairs, traced=False):
    """dump() and load() against one capture of the same heap, the file's
    size, and an offline report (load, growth with allocation lines, the
    top type explained) against a live show_growth.  traced: with
    tracemalloc on, so every object's traceback goes in the file."""
    import tempfile
    import tracemalloc

    if traced:
        tracemalloc.start()
    import refchain

    make_heap(composition, n)
    gc.collect()
    d = tempfile.mkdtemp(prefix="rcbench-")
    path = os.path.join(d, "heap.rcsnap")
    refchain.dump(path)                 # warm-up
    dump = paired(lambda: refchain.dump(path), refchain.capture, pairs)
    size = os.path.getsize(path)
    nodes = len(refchain.load(path))
    load = paired(lambda: refchain.load(path), refchain.capture, pairs)

    def offline():
        snap = refchain.load(path)
        rows = snap.growth(limit=10)
        snap.show_growth(limit=10, file=io.StringIO())
        return snap.explain(rows[0][0], limit=3)

    refchain.show_growth(file=io.StringIO())    # the live baseline
    report = paired(offline, lambda: refchain.show_growth(file=io.StringIO()), pairs)
    os.unlink(path)
    os.rmdir(d)
    return {"dump": dump, "load": load, "report": report, "nodes": nodes,
            "bytes": size, "bytes_per_object": size / nodes}


def offline_phases(composition, n, rounds):
    """The offline report's phases (load, growth, explain of the top type)
    against a live show_growth, in a process that has dumped, loaded and
    captured its heap before, as a service that dumps every hour would:
    the pool holds grown blocks by then.  Seconds per round."""
    import tempfile

    import refchain

    make_heap(composition, n)
    gc.collect()
    d = tempfile.mkdtemp(prefix="rcbench-")
    path = os.path.join(d, "heap.rcsnap")
    for _ in range(2):
        refchain.dump(path)
        refchain.capture()
    for _ in range(2):
        refchain.load(path)
        refchain.capture()
    refchain.show_growth(file=io.StringIO())
    rows = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        snap = refchain.load(path)
        t1 = time.perf_counter()
        top = snap.growth(limit=10)[0][0]
        snap.show_growth(limit=10, file=io.StringIO())
        t2 = time.perf_counter()
        snap.explain(top, limit=3)
        t3 = time.perf_counter()
        del snap
        refchain.show_growth(file=io.StringIO())
        t4 = time.perf_counter()
        rows.append({"load": t1 - t0, "growth": t2 - t1, "explain": t3 - t2,
                     "offline": t3 - t0, "live": t4 - t3, "ratio": (t3 - t0) / (t4 - t3)})
    os.unlink(path)
    os.rmdir(d)
    return {"rounds": rows}


def traced_dump_speed(composition, n, pairs, frames=25, depth=20):
    """A dump with tracemalloc tracing `frames` frames from before the heap
    was built, called `depth` calls deep (a service's stack), against one
    capture from the same depth: every object's traceback is read, and
    refchain's own temporaries made tracemalloc walk that stack."""
    import tempfile
    import tracemalloc

    tracemalloc.start(frames)
    import refchain

    make_heap(composition, n)
    gc.collect()
    d = tempfile.mkdtemp(prefix="rcbench-")
    path = os.path.join(d, "heap.rcsnap")

    def deep(k, func):
        return deep(k - 1, func) if k else func()

    deep(depth, lambda: refchain.dump(path))    # warm-up
    result = paired(lambda: deep(depth, lambda: refchain.dump(path)),
                    lambda: deep(depth, refchain.capture), pairs)
    result.update(nodes=len(refchain.load(path)), frames=frames, depth=depth)
    os.unlink(path)
    os.rmdir(d)
    return result


def load_fresh_speed(composition, n, loads=5):
    """load() in a fresh process, which holds no heap and no pool yet: the
    first load and the median of `loads` more, against one capture of the
    heap the file was dumped from (timed here, after a warm-up)."""
    import tempfile

    import refchain

    make_heap(composition, n)
    gc.collect()
    d = tempfile.mkdtemp(prefix="rcbench-")
    path = os.path.join(d, "heap.rcsnap")
    refchain.dump(path)
    refchain.capture()
    capture = timed(refchain.capture)
    code = ("import json, sys, time, refchain\n"
            "def t():\n"
            "    s = time.perf_counter(); refchain.load(sys.argv[1])\n"
            "    return time.perf_counter() - s\n"
            "print(json.dumps([t() for _ in range(int(sys.argv[2]) + 1)]))\n")
    out = subprocess.run([sys.executable, "-c", code, path, str(loads)], check=True,
                         capture_output=True, text=True).stdout
    times = json.loads(out)
    os.unlink(path)
    os.rmdir(d)
    again = statistics.median(times[1:])
    return {"first": times[0], "again": again, "capture": capture,
            "first_ratio": times[0] / capture, "again_ratio": again / capture}


def watch_overhead(composition, n, interval=1.0, intervals=10, at=60.0):
    """CPU time of the watcher thread per interval (a census, the verdict,
    the memory-layers line), with the main thread asleep as an idle
    service's would be, over `intervals` intervals of `interval` seconds;
    scaled to one interval of `at` seconds, in % of one core."""
    import logging
    import refchain

    make_heap(composition, n)
    gc.collect()
    logger = logging.getLogger("refchain.bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    cpu0, wall0 = time.process_time(), time.monotonic()
    w = refchain.watch(interval=interval, logger=logger)
    while w.ticks < intervals + 1:
        time.sleep(interval / 20)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    ticks = w.ticks
    w.stop()
    per_tick = cpu / ticks
    return {"value": 100 * per_tick / at, "seconds_per_census": per_tick, "ticks": ticks,
            "busy_share": cpu / wall, "interval": interval, "objects": w.layers.objects,
            "growing": [t.typename for t in w.growing], "refusals": w.refusals}


def fork_dump_pause(composition, n, pairs):
    """The parent's pause in dump(fork=True) (the facts, the fork: the call's
    wall time) against one in-process capture() of the same heap, pair by
    pair; with the child's time to the file and its peak RSS."""
    import tempfile

    import refchain

    make_heap(composition, n)
    gc.collect()
    d = tempfile.mkdtemp(prefix="rcbench-")
    path = os.path.join(d, "heap.rcsnap")
    refchain.dump(path, fork=True).wait()       # warm-up
    times, child, peak = [], [], []
    for _ in range(pairs):
        start = time.perf_counter()
        job = refchain.dump(path, fork=True)
        pause = time.perf_counter() - start
        job.wait()
        child.append(time.perf_counter() - start)
        peak.append(job.peak_bytes)
        times.append((pause, timed(refchain.capture)))
    ratios = [a / b for a, b in times]
    nodes = len(refchain.load(path))
    os.unlink(path)
    os.rmdir(d)
    return {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "pairs": pairs, "ratios": ratios, "seconds": times, "nodes": nodes,
            "child_seconds": statistics.median(child), "child_peak_bytes": max(peak),
            "parent_rss_bytes": _rss()}


def _rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


CHILDREN = {f.__name__: f for f in (capture_speed, first_capture_speed, fresh_capture_speed,
                                    first_capture_memory,
                                    census_speed, first_census_memory,
                                    census_memory, show_growth_speed, capture_memory,
                                    chain_speed, explain_speed, garbage_speed,
                                    dominators_speed, plugin_overhead, leak_check_cost,
                                    snapshot_speed, offline_phases, traced_dump_speed, load_fresh_speed, watch_overhead,
                                    fork_dump_pause, gc_lists_speed, sites_speed,
                                    show_growth_lines_speed, small_heap_speed)}


def in_subprocess(func, **kwargs):
    """Run CHILDREN[func](**kwargs) in a fresh interpreter; its dict back,
    or {"error": ...} when the child failed."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child",
           json.dumps({"func": func, "kwargs": kwargs})]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        return {"error": "FAILED (exit status %d)" % proc.returncode}
    return json.loads(proc.stdout.splitlines()[-1])


def size_label(n):
    for unit, div in (("M", 10 ** 6), ("k", 10 ** 3)):
        if n >= div:
            return "%g%s" % (n / div, unit)
    return str(n)


ROW = "%-34s %-8s %5s  %-22s %-9s %s"


def report(figure, composition, n, target, result, value, details):
    """Print one table row (and a detail line); return its JSON record."""
    if "error" in result:
        shown, met = result["error"], "-"
    else:
        shown, met = value(result), "yes" if result["value"] <= target[1] else "NO"
    print(ROW % (figure, composition, size_label(n), shown, target[0], met))
    if "error" not in result:
        print("    " + details(result))
    sys.stdout.flush()
    record = dict(figure=figure, composition=composition, size=n,
                  target=target[1], met=met == "yes")
    record.update(result)
    return record


def ratio_text(r):
    return "%.2fx [%.2f-%.2f]" % (r["ratio"], r["min"], r["max"])


def reuse_figures(sizes, pairs, started):
    """Issue 18's figures on every composition: capture repeated, the first
    capture in a fresh process and a census, each against gc.collect(), and
    the peak extra RSS per object of a capture and of a census."""
    import refchain

    print("refchain %s, issue 18 figures on Python %s, %d pairs\n"
          % (refchain.__version__, platform.python_version(), pairs))
    print(ROW % ("figure", "heap", "size", "result", "target", "met"))
    records = []
    for n in sizes:
        for comp in COMPOSITIONS:
            for func, figure, target, kwargs in (
                    # payload: the collector sees a fifth of the objects (issue 18)
                    ("capture_speed", "1 capture() / gc.collect()",
                     ("<= 1.0x", 1.0) if comp == "payload" else ("<= 0.6x", 0.6),
                     {"pairs": pairs}),
                    ("first_capture_speed", "17 first capture / gc.collect()",
                     ("<= 1.5x", 1.5), {}),
                    ("census_speed", "18 census() / gc.collect()", ("<= 0.5x", 0.5),
                     {"pairs": pairs})):
                r = in_subprocess(func, composition=comp, n=n, **kwargs)
                r["value"] = r.get("ratio")
                records.append(report(figure, comp, n, target, r, ratio_text,
                                      lambda r: "%.0f ms vs %.0f ms (median)" % (
                                          1000 * statistics.median(a for a, _ in r["seconds"]),
                                          1000 * statistics.median(b for _, b in r["seconds"]))))
            for func, figure, target in (("capture_memory", "3 capture peak RSS per object",
                                          ("<= 48 B", 48)),
                                         ("census_memory", "19 census peak RSS per object",
                                          ("<= 16 B", 16))):
                r = in_subprocess(func, composition=comp, n=n)
                r["value"] = r.get("bytes_per_object")
                records.append(report(figure, comp, n, target, r,
                                      lambda r: "%.1f B" % r["bytes_per_object"],
                                      lambda r: "%.0f MiB extra over %d objects"
                                      % (r["extra_bytes"] / 2 ** 20, r["nodes"])))
    elapsed = time.time() - started
    print("\n%d of %d figures met their target (%.0f s)."
          % (sum(r["met"] for r in records), len(records), elapsed))
    path = os.path.join(os.path.dirname(RESULTS), "reuse.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(),
                   "refchain": refchain.__version__, "pairs": pairs, "seconds": round(elapsed),
                   "results": records}, f, indent=1)
    print("Wrote %s" % os.path.relpath(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="heap sizes, comma-separated "
                        "(default 1000000,10000000; --quick: 1000000)")
    parser.add_argument("--pairs", type=int, help="timed pairs per figure (default 7; --quick: 3)")
    parser.add_argument("--quick", action="store_true", help="1M only, 3 pairs")
    parser.add_argument("--reuse", action="store_true",
                        help="only the figures of issue 18 (capture memory reuse)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(CHILDREN[job["func"]](**job["kwargs"])))
        return

    sizes = [int(s) for s in (args.sizes or ("1000000" if args.quick else "1000000,10000000")).split(",")]
    pairs = args.pairs or (3 if args.quick else 7)
    try:
        import objgraph
        objgraph_version = getattr(objgraph, "__version__", "?")
    except ImportError:
        objgraph_version = None
    import refchain

    started = time.time()
    if args.reuse:
        reuse_figures(sizes, pairs, started)
        return
    print("refchain %s benchmarks on Python %s (%s), %d CPUs"
          % (refchain.__version__, platform.python_version(), sys.executable, os.cpu_count()))
    print("Ratios against a peer in the same process: median over pairs, [min-max].")
    print("%d timed pairs per figure; each figure and size in a fresh subprocess.\n" % pairs)
    print(ROW % ("figure", "heap", "size", "result", "target", "met"))
    records = []

    for n in sizes:
        for comp in COMPOSITIONS:
            r = in_subprocess("capture_speed", composition=comp, n=n, pairs=pairs)
            r["value"] = r.get("ratio")
            records.append(report(
                "1 capture() / gc.collect()", comp, n, ("<= 1.0x", 1.0), r, ratio_text,
                lambda r: "graph: %d nodes, %d edges; heap: %d objects, %.0f%% gc-tracked"
                % (r["nodes"], r["edges"], r["added"], 100 * r["tracked_share"])))
    for n in sizes:
        for comp in COMPOSITIONS:
            if objgraph_version is None:
                r = {"error": "skipped: no objgraph"}
            else:
                r = in_subprocess("show_growth_speed", composition=comp, n=n, pairs=pairs)
                r["value"] = r.get("ratio")
            records.append(report(
                "2 show_growth: refchain/objgraph", comp, n, ("<= 0.5x", 0.5), r, ratio_text,
                lambda r: "objects counted: refchain %d (census), objgraph %d (gc-tracked only)"
                % (r["refchain_count"], r["objgraph_count"])))
    for n in sizes:
        for comp in COMPOSITIONS:
            r = in_subprocess("capture_memory", composition=comp, n=n)
            r["value"] = r.get("bytes_per_object")
            records.append(report(
                "3 capture peak RSS per object", comp, n, ("<= 64 B", 64), r,
                lambda r: "%.1f B" % r["bytes_per_object"],
                lambda r: "%.0f MiB extra over %d nodes; graph.memory says %.1f B/node"
                % (r["extra_bytes"] / 2 ** 20, r["nodes"], r["graph_memory_per_object"])))

    n = sizes[0]
    if objgraph_version is None:
        skipped = {"error": "skipped: no objgraph"}
    for fan_in, figure, target in ((0, "4 find_chain / objgraph, 10 deep", ("<= 0.5x", 0.5)),
                                   (100, "5 ... with 100 referrers fanned in", ("<= 0.05x", 0.05))):
        # objgraph calls gc.get_referrers for every node it visits: with fan-in
        # one call takes a minute on 1M objects, so this figure times 1 pair.
        r = skipped if objgraph_version is None else in_subprocess(
            "chain_speed", composition="service", n=n, pairs=pairs if not fan_in else 1,
            fan_in=fan_in)
        r["value"] = r.get("ratio")
        records.append(report(
            figure, "service", n, target, r,
            lambda r: "%s (%.0fx faster)" % (ratio_text(r), 1 / r["ratio"]),
            lambda r: "refchain: %d hops from a %s root; objgraph: %d hops; %d objects"
            % (r["hops"], r["root"], r["objgraph_len"], r["nodes"])))
    r = in_subprocess("explain_speed", composition="service", n=n, pairs=pairs)
    r["value"] = r.get("ratio")
    records.append(report(
        "6 explain(100k instances) / capture", "service", n, ("<= 2.0x", 2.0), r, ratio_text,
        lambda r: "%d group(s); the largest holds %d instances" % (r["groups"], r["first"])))

    r = in_subprocess("garbage_speed", composition="service", n=n, pairs=pairs)
    r["value"] = r.get("ratio")
    records.append(report(
        "7 garbage(10k cycles) / capture", "service", n, ("<= 1.5x", 1.5), r, ratio_text,
        lambda r: "predicts %d objects in %d cycles (%d groups)"
        % (r["object_count"], r["cycles"], r["groups"])))

    for n in sizes:
        r = in_subprocess("dominators_speed", composition="service", n=n, pairs=pairs)
        r["value"] = r.get("ratio")
        records.append(report(
            "8 dominators+retained / capture", "service", n, ("<= 1.0x", 1.0), r, ratio_text,
            lambda r: "retained() / capture() %.2fx; the heap retains %d B in %d objects; "
            "%d nodes" % (r["ratio_with_capture"], r["retained"][0], r["retained"][1],
                          r["nodes"])))
        m = dict(r)
        m["value"] = r.get("extra_bytes_per_object")
        records.append(report(
            "8 dominators peak extra RSS/object", "service", n, ("<= 12 B", 12), m,
            lambda r: "%.1f B" % r["extra_bytes_per_object"],
            lambda r: "over one capture's own peak of %.1f B/object"
            % r["capture_peak_per_object"]))
    r = in_subprocess("plugin_overhead", composition="service", n=100000, pairs=pairs)
    r["value"] = r.get("ratio")
    records.append(report(
        "9 pytest plugin check / gc.collect", "service", 100000, ("<= 3.0x", 3.0), r,
        ratio_text,
        lambda r: "per checked test, empty body: %.1f ms vs %.1f ms; %d objects, %d gc-tracked"
        % (1000 * statistics.median(a for a, _ in r["seconds"]),
           1000 * statistics.median(b for _, b in r["seconds"]), r["nodes"], r["tracked"])))
    r = in_subprocess("leak_check_cost", pairs=pairs)
    r["value"] = r.get("ratio")
    records.append(report(
        "10 leak_check(5 rounds) / bare loop", "none", r.get("nodes", 0), ("<= 10x", 10.0), r,
        ratio_text,
        lambda r: "%.1f ms vs %.1f ms for 700 calls; reports %s"
        % (1000 * statistics.median(a for a, _ in r["seconds"]),
           1000 * statistics.median(b for _, b in r["seconds"]), ", ".join(r["leaked"]))))

    for n, traced in [(n, False) for n in sizes] + [(sizes[0], True)]:
        s = in_subprocess("snapshot_speed", composition="service", n=n, pairs=pairs,
                          traced=traced)
        for key, figure, target in (("dump", "11 dump / capture", ("<= 1.5x", 1.5)),
                                    ("load", "13 load / capture", ("<= 0.5x", 0.5)),
                                    ("report", "14 offline report / show_growth",
                                     ("<= 2.0x", 2.0))):
            r = s.get(key, s) if "error" not in s else s
            r = dict(r, value=r.get("ratio"), nodes=s.get("nodes"))
            records.append(report(figure + (" (traced)" if traced else ""), "service", n,
                                  target, r, ratio_text,
                                  lambda r: "%s objects; tracemalloc %s"
                                  % (r["nodes"], "on" if traced else "off")))
        m = dict(s, value=s.get("bytes_per_object"))
        records.append(report(
            "12 snapshot bytes per object" + (" (traced)" if traced else ""), "service", n,
            ("<= 20 B", 20), m,
            lambda r: "%.1f B" % r["bytes_per_object"],
            lambda r: "%.1f MiB for %d objects" % (r["bytes"] / 2 ** 20, r["nodes"])))

    r = in_subprocess("watch_overhead", composition="service", n=sizes[0])
    records.append(report(
        "15 watch() CPU at interval=60", "service", sizes[0], ("<= 0.5%", 0.5), r,
        lambda r: "%.2f%% of a core" % r["value"],
        lambda r: "%.0f ms of CPU per census of %d objects, over %d intervals of %g s "
        "(%.1f%% of a core at that interval)" % (1000 * r["seconds_per_census"], r["objects"],
                                                 r["ticks"], r["interval"],
                                                 100 * r["busy_share"])))

    for n in sizes[:1]:     # the issue asks 10M; 1M here (a 10M child doubles the peak)
        r = in_subprocess("fork_dump_pause", composition="service", n=n, pairs=pairs)
        r["value"] = r.get("ratio")
        records.append(report(
            "16 fork dump pause / capture", "service", n, ("<= 0.05x", 0.05), r, ratio_text,
            lambda r: "pause %.1f ms vs capture %.0f ms; child to file %.2f s, peak RSS %.0f MiB; "
            "%d objects" % (1000 * statistics.median(a for a, _ in r["seconds"]),
                            1000 * statistics.median(b for _, b in r["seconds"]),
                            r["child_seconds"], r["child_peak_bytes"] / 2 ** 20, r["nodes"])
            + "; the parent's RSS %.0f MiB" % (r["parent_rss_bytes"] / 2 ** 20)))

    elapsed = time.time() - started
    print("\n%d of %d figures met their target (%.0f s)."
          % (sum(r["met"] for r in records), len(records), elapsed))
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(),
                   "executable": sys.executable, "cpus": os.cpu_count(),
                   "refchain": refchain.__version__, "objgraph": objgraph_version,
                   "pairs": pairs, "seconds": round(elapsed),
                   "results": records}, f, indent=1)
    print("Wrote %s" % os.path.relpath(RESULTS))


if __name__ == "__main__":
    main()
