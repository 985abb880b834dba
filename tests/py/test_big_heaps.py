"""Big heaps (issue 6, part 5): no recursion deeper than a constant, and the
memory figure.

- A 1,000,000-long linked list, in an interpreter whose C stack is 1 MiB
  (`ulimit -s 1024`): capture, census, find_chain on its far end,
  find_backref_chain, explain, and garbage once it is one big cycle.  Any
  C recursion proportional to the heap would overflow that stack; any
  quadratic step would time out.
- With REFCHAIN_BIG=1 only (minutes, about 2 GiB): capture and find_chain
  on a 10,000,000-object heap (bench/heap.py's service heap) peak at no more
  than 64 bytes of extra RSS per object, measured as bench/run.py measures
  it (reset VmHWM through /proc/self/clear_refs, then read it)."""

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

from conftest import _pythonpath

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench")
STACK = 1 << 20             # 1 MiB, as `ulimit -s 1024`
N = 1_000_000


def _small_stack():
    resource.setrlimit(resource.RLIMIT_STACK, (STACK, STACK))


def run_small_stack(source, args, tmp_path, timeout):
    path = tmp_path / "big.py"
    path.write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    env.pop("PYTHONTRACEMALLOC", None)
    try:
        proc = subprocess.run([sys.executable, str(path)] + [str(a) for a in args],
                              preexec_fn=_small_stack, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("%s %s: no answer within %d s (not linear?)" % (path.name, args, timeout))
    assert proc.returncode == 0, "exit status %d (a stack overflow is -11)\n%s\n%s" % (
        proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


LINKED_LIST = """
import gc, json, resource, sys, time
import refchain

class Link:
    __slots__ = ("next",)

def build(n):
    head = tail = Link()
    for _ in range(n - 1):
        tail.next = Link()
        tail = tail.next
    tail.next = None
    return head, tail

N, WHAT = int(sys.argv[1]), sys.argv[2]
assert resource.getrlimit(resource.RLIMIT_STACK)[0] == %d
HEAD, FAR = build(N)
out = {}
t = time.perf_counter()
if WHAT == "chains":
    out["capture"] = len(refchain.capture())
    out["census"] = refchain.census()["__main__.Link"].count
    chain = refchain.find_chain(FAR)
    out["find_chain"] = [chain.root_kind, chain.hops, len(chain.objects),
                         chain.objects[2] is HEAD, chain.objects[-1] is FAR]
    del chain
    found = refchain.find_backref_chain(FAR, lambda o: o is HEAD, max_depth=N + 10)
    out["find_backref_chain"] = [len(found), found[0] is HEAD, found[-1] is FAR]
    del found
elif WHAT == "explain":
    groups = refchain.explain(Link, limit=3)
    out["explain"] = [sum(g.count for g in refchain.explain(Link, limit=N)), len(groups)]
elif WHAT == "garbage":
    FAR.next = HEAD                 # one cycle of N objects, and nothing holds it
    del HEAD, FAR
    gc.disable()
    report = refchain.garbage()
    out["garbage"] = [report.object_count, [(g.count, g.objects) for g in report],
                      len(report.groups[0].signature) if report.groups else 0]
    del report
    out["collected"] = gc.collect()
out["seconds"] = round(time.perf_counter() - t, 2)
print(json.dumps(out))
""" % STACK


def test_a_million_long_chain_on_a_small_stack(tmp_path):
    out = run_small_stack(LINKED_LIST, [N, "chains"], tmp_path, timeout=300)
    assert out["capture"] > N
    assert out["census"] == N
    # module __main__ -> its dict -> HEAD -> ... -> FAR
    assert out["find_chain"] == ["module", N + 1, N + 2, True, True]
    assert out["find_backref_chain"] == [N, True, True]


@pytest.mark.parametrize("what", ["explain", "garbage"])
def test_grouping_a_million_long_chain_is_linear(what, tmp_path):
    """First 100,000 links within 8 s (a linear step takes well under a
    second), so that a quadratic one fails fast; then 1,000,000 on the small
    stack."""
    small = run_small_stack(LINKED_LIST, [100_000, what], tmp_path, timeout=8)
    out = run_small_stack(LINKED_LIST, [N, what], tmp_path, timeout=120)
    if what == "explain":
        assert small["explain"] == [100_000, 3]
        assert out["explain"] == [N, 3]
    else:
        assert out["garbage"][0] == out["collected"] == N
        assert out["garbage"][1] == [[1, N]]       # (count, objects), through JSON
        assert out["garbage"][2] < 200, "the signature names each type once"


TEN_MILLION = """
import gc, json, sys
sys.path.insert(0, %r)
import heap
import refchain

def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])

def peak_extra(func):
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                    # reset VmHWM to the current RSS
    before = status_kib("VmRSS")
    result = func()
    return (status_kib("VmHWM") - before) * 1024, result

heap.build(10_000_000)
gc.collect()
refchain.capture()                      # warm-up, dropped at once
target = heap.leaky_target() if hasattr(heap, "leaky_target") else None
extra, graph = peak_extra(refchain.capture)
nodes = len(graph)
del graph
out = {"nodes": nodes, "capture_bytes_per_object": extra / nodes}
if target is None:
    target = next(o for o in gc.get_objects() if type(o).__name__ == "Session")
extra, chain = peak_extra(lambda: refchain.find_chain(target))
out["find_chain_bytes_per_object"] = extra / nodes
out["chain"] = chain.root_kind if chain else None
print(json.dumps(out))
""" % BENCH


@pytest.mark.skipif(os.environ.get("REFCHAIN_BIG") != "1",
                    reason="10M-object memory check: set REFCHAIN_BIG=1 (minutes, ~2 GiB)")
def test_ten_million_objects_within_64_bytes_each(tmp_path):
    path = tmp_path / "ten.py"
    path.write_text(TEN_MILLION)
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    proc = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(out)
    assert out["nodes"] >= 10_000_000
    assert out["capture_bytes_per_object"] <= 64, out
    assert out["find_chain_bytes_per_object"] <= 64, out
