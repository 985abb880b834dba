"""Attach figure (issue 16): the time from `python -m refchain attach PID`
to the snapshot file, on the 1M-object service heap (bench/heap.py) of a
running process of this interpreter, and the target's main-thread pause.
Needs gdb and ptrace permission (root).  One run:

    PYTHONPATH=build/py3.12/python python3.12 bench/attach.py [N]
"""

import inspect
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

TARGET = """
import sys, time
sys.path.insert(0, %r)
import heap
root = heap.build(%d)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def main():
    import refchain
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    target = subprocess.Popen([sys.executable, "-c", TARGET % (HERE, n)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline() == "ready\n"
        modes = [[]]
        if "fork" in inspect.signature(refchain.dump).parameters:
            modes.append(["--fork"])
        with tempfile.TemporaryDirectory() as tmp:
            for extra in modes:
                out = os.path.join(tmp, "attach.rcsnap")
                start = time.monotonic()
                proc = subprocess.run([sys.executable, "-m", "refchain", "attach",
                                       str(target.pid), "-o", out, "--json",
                                       "--timeout", "600"] + extra,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                wall = time.monotonic() - start
                if proc.returncode != 0:
                    sys.exit(proc.stderr.strip())
                res = json.loads(proc.stdout)
                objects = len(refchain.load(out))
                print("attach%s: %.2f s from command to file (%d objects, %.1f MB), the "
                      "target's main thread paused %.2f s; Python %s, %s"
                      % (" --fork" if extra else "", wall, objects,
                         os.path.getsize(out) / 1e6, res["pause"], res["python"],
                         res["method"]))
                os.unlink(out)
    finally:
        target.kill()
        target.wait()


if __name__ == "__main__":
    main()
