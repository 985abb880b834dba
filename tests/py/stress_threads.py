"""Threads that free things while refchain captures (issue 11, item 1).

A standalone script: tests/py/test_threads.py runs it in a fresh interpreter,
and tools/asan-stress runs it under AddressSanitizer.

    python stress_threads.py            # RC_STRESS_SECONDS (default 60), mixed mode
    RC_STRESS_MODE=sleepy-del python stress_threads.py

Four worker threads rebind local variables, so that the old value goes to
the refcount while other threads run:

- mixed: files (FileIO's close releases the GIL) and objects whose __del__
  yields (time.sleep(0)), sleeps a little, or releases the GIL in os.stat()
  or a read(), inside nested calls whose frames come and go;
- sleepy-del: each worker rebinds one local to an object whose __del__
  sleeps RC_STRESS_DEL_SLEEP seconds (default 0.05), while its inner calls
  return over and over.  A capture that reads a frame's f_locals (3.11,
  3.12: the refresh drops the snapshot's stale reference, whose __del__
  sleeps and lets the worker return from frames the capture has recorded)
  and then uses what it recorded reads freed memory.

Two checker threads call census(), capture(), find_chain(), explain() and
garbage() in a loop and check what they can check while the heap churns:
the census counts exactly the KEPT Marker instances, the chain of KEPT[7]
ends at a Marker, explain(Marker) covers all of them.

The last stdout line is JSON: {"seconds", "mode", "python", "ops": {name:
count}, "worker_steps": [...], "dels": n, "dels_in_checkers": n,
"final_marker_count": n, "wrong": [...], "errors": [...], ...}.  A crash is
a signal (faulthandler prints every thread's stack); a deadlock ends the
process with faulthandler's traceback after the run time plus 120 s."""

import faulthandler
import gc
import json
import os
import sys
import threading
import time

import refchain

SECONDS = float(os.environ.get("RC_STRESS_SECONDS", "60"))
MODE = os.environ.get("RC_STRESS_MODE", "mixed")
DEL_SLEEP = float(os.environ.get("RC_STRESS_DEL_SLEEP", "0.05"))
N_WORKERS = 4
N_CHECKERS = 2
N_KEPT = 500

faulthandler.enable()
faulthandler.dump_traceback_later(SECONDS + 120, exit=True)


class Marker:
    """The objects the checkers count: exactly N_KEPT, all held by KEPT."""

    def __init__(self, i):
        self.i = i


KEPT = [Marker(i) for i in range(N_KEPT)]
STOP = threading.Event()
DELS = [0, 0]      # __del__ calls, and those run by a checker thread (inside refchain)


def _in_checker():
    if threading.current_thread().name.startswith("checker"):
        DELS[1] += 1


class YieldingDel:
    """A __del__ that lets other threads run: sleep(0), a short sleep, a
    stat() or a read() (both release the GIL), now and then a collection
    of the youngest generation (gc.collect() runs even while automatic
    collection is paused)."""

    def __init__(self, how):
        self.how = how

    def __del__(self):
        DELS[0] += 1
        _in_checker()
        how = self.how
        if how == 4:
            gc.collect(0)
        elif how == 0:
            time.sleep(0)
        elif how == 1:
            time.sleep(0.0002)
        elif how == 2:
            os.stat("/")
        else:
            with open("/dev/null", "rb") as f:
                f.read(1)


class SleepyDel:
    """A __del__ that sleeps long enough for other threads to return from
    many frames."""

    def __del__(self):
        DELS[0] += 1
        _in_checker()
        time.sleep(DEL_SLEEP)


def _leaf(i):
    # A frame that lives a moment, holding a file and an object with __del__.
    f = open("/dev/null", "rb")
    d = YieldingDel(i % 4)
    if i % 3 == 0:
        time.sleep(0)
    return f.fileno() + d.how


def _middle(i):
    g = open("/dev/null", "rb")
    x = [i, {"i": i}, YieldingDel((i + 1) % 4)]
    if i % 7 == 0:
        x.append(x)                 # now and then a cycle, for garbage()
    return _leaf(i) + g.fileno() + len(x)


def mixed_worker(steps, k):
    f = None
    d = None
    i = 0
    while not STOP.is_set():
        f = open("/dev/null", "rb")     # the old file is closed by its dealloc
        d = YieldingDel(4 if i % 97 == 0 else i % 4)    # the old one's __del__ runs now
        _middle(i)
        if i % 11 == 0:
            time.sleep(0.0001)
        i += 1
        steps[k] = i
    del f, d


def _return_soon(i):
    # Returns while the capturing thread sleeps in a __del__.
    inner = [i]
    time.sleep(0.0005)
    return len(inner)


def sleepy_worker(steps, k):
    i = 0
    x = None
    while not STOP.is_set():
        x = SleepyDel()                 # the capture's f_locals snapshot keeps the old one
        _return_soon(i)
        i += 1
        steps[k] = i
    del x


CHAIN_TAIL = " Marker ("


def checker(counts, wrong, errors):
    ops = [
        ("census", lambda: refchain.census(shortnames=True),
         lambda c: None if c["Marker"].count == N_KEPT else "census: %r" % (c.get("Marker"),)),
        ("capture", lambda: refchain.capture(),
         lambda g: None if len(g) > 1000 else "capture: %r" % (g,)),
        ("find_chain", lambda: str(refchain.find_chain(KEPT[7])),
         lambda s: None if CHAIN_TAIL in s else "find_chain: %s" % s[:300]),
        ("explain", lambda: [str(g) for g in refchain.explain(Marker)],
         lambda gs: None if sum(int(g.split()[0]) for g in gs) == N_KEPT
         else "explain: %r" % (gs[:3],)),
        ("garbage", lambda: refchain.garbage(),
         lambda r: None if r.object_count >= 0 and isinstance(str(r), str)
         else "garbage: %r" % (r,)),
    ]
    while not STOP.is_set():
        for name, call, check in ops:
            try:
                answer = call()
            except Exception as e:
                errors.append("%s: %s: %s" % (name, type(e).__name__, str(e)[:300]))
                continue
            problem = check(answer)
            answer = None
            counts[name] = counts.get(name, 0) + 1
            if problem is not None:
                wrong.append(problem)


def main():
    if MODE not in ("mixed", "sleepy-del"):
        raise SystemExit("RC_STRESS_MODE must be mixed or sleepy-del, not %r" % MODE)
    sys.setswitchinterval(0.0005)
    worker = mixed_worker if MODE == "mixed" else sleepy_worker
    steps = [0] * N_WORKERS
    per_checker = [{} for _ in range(N_CHECKERS)]
    wrong, errors = [], []
    threads = [threading.Thread(target=worker, args=(steps, k), name="worker-%d" % k)
               for k in range(N_WORKERS)]
    threads += [threading.Thread(target=checker, args=(per_checker[k], wrong, errors),
                                 name="checker-%d" % k)
                for k in range(N_CHECKERS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    try:
        while time.monotonic() - start < SECONDS:
            time.sleep(0.05)
    finally:
        STOP.set()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - start
    faulthandler.cancel_dump_traceback_later()
    ops = {}
    for counts in per_checker:
        for name, n in counts.items():
            ops[name] = ops.get(name, 0) + n
    gc.collect()
    # One more census with the threads gone: the heap is whole.
    final = refchain.census(shortnames=True)["Marker"].count
    print(json.dumps({"seconds": round(elapsed, 1), "mode": MODE, "python": sys.version.split()[0],
                      "ops": ops, "worker_steps": steps, "dels": DELS[0],
                      "dels_in_checkers": DELS[1],
                      "final_marker_count": final, "wrong": wrong[:20],
                      "n_wrong": len(wrong), "errors": errors[:20], "n_errors": len(errors)}),
          flush=True)


if __name__ == "__main__":
    main()
