"""The long run of the random-heap oracle (issue 6, part 3): many more seeds,
and bigger heaps, than the 200 seeds tests/py/test_random_heaps.py runs on
every interpreter in CI.

    python3 bench/seeds.py [--seeds 5000] [--first 0] [--size 100] [--targets 2]
                           [--batch 5] [--jobs N] [--python PY ...]

Each --python (default: this interpreter) needs a refchain build on its
PYTHONPATH: by default build/<tag>/python for the tag tools/interpreters
gives it, else build/system/python.  `--python all` runs every interpreter
tools/interpreters lists.  The seeds are split into chunks of 100, run as
`python -S tests/py/randheap.py FIRST COUNT SIZE TARGETS BATCH`, --jobs at a
time (default: the number of CPUs).  Every failing batch is printed with the
command that reruns one of its seeds alone; the summary goes to stdout and
to bench/out/seeds.json.

A run of 5000 seeds of 100 objects takes about 3 minutes per interpreter on
2 CPUs; --size 1000 multiplies the objects per seed by ten (and the time by
about three).  Exit status 1 when any seed failed."""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANDHEAP = os.path.join(ROOT, "tests", "py", "randheap.py")
CHUNK = 100


def interpreters():
    out = subprocess.run([os.path.join(ROOT, "tools", "interpreters")], capture_output=True,
                         text=True, check=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def build_dir(python):
    real = os.path.realpath(python)
    for tag, path in interpreters():
        if os.path.realpath(path) == real:
            return os.path.join(ROOT, "build", tag, "python")
    return os.path.join(ROOT, "build", "system", "python")


def run_chunk(python, first, count, args):
    env = dict(os.environ, PYTHONPATH=build_dir(python))
    env.pop("PYTHONTRACEMALLOC", None)
    cmd = [python, "-S", RANDHEAP, str(first), str(count), str(args.size), str(args.targets),
           str(args.batch)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"python": python, "first": first, "count": count, "seconds": seconds,
                "crash": "exit status %d: %s" % (proc.returncode, proc.stderr[-2000:])}
    summary = json.loads(lines[-1])
    summary.update(python=python, first=first, count=count, seconds=seconds,
                   failures_detail=[json.loads(line) for line in lines[:-1]])
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--size", type=int, default=100, help="objects per seed")
    parser.add_argument("--targets", type=int, default=2, help="chains checked per seed")
    parser.add_argument("--batch", type=int, default=5, help="seeds sharing one heap")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--python", action="append",
                        help="interpreter to run (repeatable; 'all' for tools/interpreters)")
    args = parser.parse_args()
    pythons = args.python or [sys.executable]
    if "all" in pythons:
        pythons = [path for _, path in interpreters()]

    work = [(py, first, min(CHUNK, args.first + args.seeds - first))
            for py in pythons for first in range(args.first, args.first + args.seeds, CHUNK)]
    totals = {py: {"seeds": 0, "failures": 0, "objects": 0, "chains": 0,
                   "unreachable_chains": 0, "garbage_objects": 0, "seconds": 0.0, "crashes": 0}
              for py in pythons}
    failed = []
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_chunk, py, first, count, args) for py, first, count in work]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            t = totals[r["python"]]
            t["seconds"] += r["seconds"]
            if "crash" in r:
                t["crashes"] += 1
                failed.append(r)
                print("CRASH %s seeds %d..%d: %s" % (r["python"], r["first"],
                                                     r["first"] + r["count"] - 1, r["crash"]))
                continue
            for key in ("seeds", "failures", "objects", "chains", "unreachable_chains",
                        "garbage_objects"):
                t[key] += r[key]
            for f in r["failures_detail"]:
                failed.append(dict(f, python=r["python"]))
                print("FAILED %s seeds %s: %s\n  rerun one: PYTHONPATH=%s %s -S %s %d 1 %d %d 1"
                      % (r["python"], f["seeds"], json.dumps(f["problems"])[:500],
                         build_dir(r["python"]), r["python"], RANDHEAP, f["seeds"][0],
                         args.size, args.targets))
    wall = time.perf_counter() - started
    print("%-44s %7s %9s %11s %8s %8s %9s" % ("interpreter", "seeds", "failures", "objects",
                                              "chains", "garbage", "cpu s"))
    for py, t in totals.items():
        print("%-44s %7d %9d %11d %8d %8d %9.0f%s" % (
            py, t["seeds"], t["failures"], t["objects"], t["chains"] + t["unreachable_chains"],
            t["garbage_objects"], t["seconds"], "  CRASHES: %d" % t["crashes"] if t["crashes"]
            else ""))
    print("wall time: %.0f s, %d jobs; failures count batches of %d seeds" % (
        wall, args.jobs, args.batch))
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "seeds.json"), "w") as f:
        json.dump({"args": vars(args), "totals": totals, "wall_seconds": wall,
                   "failed": failed}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
