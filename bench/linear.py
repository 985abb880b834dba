"""Scaling: the grouping questions on long chains and many cycles, at n and
10n.  Not part of the test suite (tests/py/test_reliability.py and
test_big_heaps.py check the same shapes with generous time limits).

Each (question, size) runs in a fresh subprocess that builds its heap,
disables automatic collection, and times, best of --repeat:

  explain         refchain.explain(Link): an n-long linked list held by a
                  module global, one group (plus its two ends, which are
                  globals themselves);
  find_chain      refchain.find_chain(far end of that list): n + 1 hops;
  garbage         refchain.garbage(): a dropped ring of n Nodes, one cycle;
  collect_report  refchain.collect_report(): n / 10 dropped Parent <-> Child
                  pairs (rebuilt before each run, outside the timer).

Two figures per question, both ratios measured in the same run:

  scale    time at 10n / time at n: about 10 for linear work, 100 for
           quadratic work;
  vs peer  time at 10n / the peer's time on the same heap: one
           refchain.capture() for the first three, one gc.collect() of the
           same garbage for collect_report (which runs two collections
           and two captures).

Run from the repository root on an existing build:

    PYTHONPATH=build/system/python python3 bench/linear.py [--n 20000] [--repeat 3]
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import gc, json, sys, time
import refchain

QUESTION, N, REPEAT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class Link:
    __slots__ = ("next",)

class Node:
    __slots__ = ("next",)

class Parent:
    pass

class Child:
    pass

def linked_list(n, cls=Link):
    head = tail = cls()
    for _ in range(n - 1):
        tail.next = cls()
        tail = tail.next
    tail.next = None
    return head, tail

def drop_ring(n):
    head, tail = linked_list(n, Node)
    tail.next = head

def drop_pairs(n):
    for _ in range(n):
        p, c = Parent(), Child()
        p.child, c.parent = c, p

def best(fn, prepare=lambda: None):
    times = []
    for _ in range(REPEAT):
        prepare()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        del result
    return min(times)

gc.collect()
gc.disable()
HEAD = FAR = None
if QUESTION in ("explain", "find_chain"):
    HEAD, FAR = linked_list(N)
elif QUESTION == "garbage":
    drop_ring(N)
if QUESTION == "collect_report":
    peer = best(gc.collect, lambda: drop_pairs(N // 10))
else:
    peer = best(refchain.capture)
if QUESTION == "explain":
    groups = refchain.explain(Link)         # the list, plus HEAD and FAR alone
    assert sorted(g.count for g in groups) == [1, 1, N - 2], groups
    del groups
    took = best(lambda: refchain.explain(Link))
elif QUESTION == "find_chain":
    assert refchain.find_chain(FAR).hops == N + 1
    took = best(lambda: refchain.find_chain(FAR))
elif QUESTION == "garbage":
    report = refchain.garbage()
    assert report.object_count == N and len(list(report)) == 1, report
    del report
    took = best(refchain.garbage)
else:
    took = best(refchain.collect_report, lambda: drop_pairs(N // 10))
print(json.dumps({"peer": peer, "took": took}))
"""

QUESTIONS = ("explain", "find_chain", "garbage", "collect_report")


def measure(question, n, repeat):
    proc = subprocess.run([sys.executable, "-c", CHILD, question, str(n), str(repeat)],
                          capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0:
        raise SystemExit("%s at %d failed:\n%s" % (question, n, proc.stderr[-3000:]))
    return json.loads(proc.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="the small size (default 20000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.n < 10 or args.repeat < 1:
        parser.error("--n must be at least 10 and --repeat at least 1")
    print("%-15s %10s %10s %8s %12s" % ("question", "n", "10n", "scale", "vs peer"),
          flush=True)
    for question in QUESTIONS:
        small = measure(question, args.n, args.repeat)
        big = measure(question, 10 * args.n, args.repeat)
        print("%-15s %9.3fs %9.3fs %7.1fx %11.2fx" % (
            question, small["took"], big["took"], big["took"] / small["took"],
            big["took"] / big["peer"]), flush=True)


if __name__ == "__main__":
    main()
