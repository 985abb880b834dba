"""Random heaps: retained sizes read from a snapshot file equal the live
ones (issue 15).

Run as a script, in a fresh interpreter with refchain importable:

    python -S snapdom.py FIRST COUNT [SIZE [TARGETS [DIR]]]

Seed k builds randheap.py's random graph of SIZE objects (default 100) and
collects the garbage it drops.  For TARGETS of the objects it made that are
still alive (default 10), refchain.retained() is asked live; then the heap
is dumped, loaded, and Snapshot.retained() asked for the same addresses.
Every pair must be equal.  It prints one JSON line per difference, then a
summary line `{"seeds": N, "failures": F, "checked": C, "retaining_more": M,
"gone": G}` (G: targets freed between the question and the dump, skipped).

The driver runs at module level (see randheap.py): no function frame of it
holds any of the graph while refchain looks."""

import gc
import json
import os
import sys
import tempfile

import randheap
import refchain

FIRST, COUNT = int(sys.argv[1]), int(sys.argv[2])
SIZE = int(sys.argv[3]) if len(sys.argv) > 3 else 100
N_TARGETS = int(sys.argv[4]) if len(sys.argv) > 4 else 10
DIR = sys.argv[5] if len(sys.argv) > 5 else tempfile.mkdtemp(prefix="snapdom-")
PATH = os.path.join(DIR, "heap.rcsnap")
SUMMARY = {"seeds": 0, "failures": 0, "checked": 0, "retaining_more": 0, "gone": 0}
SEED = ADDRS = LIVE = SNAP = A = GOT = None
refchain.dump(PATH)
refchain.load(PATH).retained(id(randheap.ROOT))
for SEED in range(FIRST, FIRST + COUNT):
    randheap.ROOT.clear()
    randheap.MADE.clear()
    randheap.build(SEED, SIZE)
    gc.collect()        # what build() dropped: garbage retains nothing once collected
    # What the seed made that is alive and tracked (at()'s answers), found
    # in one capture: at() per object was most of this script's time.
    ADDRS = [id(A) for A in refchain.at_addrs(sorted(randheap.MADE))
             if gc.is_tracked(A) and refchain.count(randheap.MADE[id(A)], [A])]
    ADDRS = ADDRS[::max(1, len(ADDRS) // N_TARGETS)]
    LIVE = {}           # filled by a loop: a comprehension's dict is held by C
    for A in ADDRS:
        LIVE[A] = refchain.retained(refchain.at(A))
    refchain.dump(PATH)
    SNAP = refchain.load(PATH)
    for A in ADDRS:
        try:
            GOT = SNAP.node(A)
        except KeyError:
            GOT = None
        if GOT is None or GOT.tname != randheap.MADE[A]:
            # Freed between the question and the dump (before 3.9 a frame
            # or generator may go with the call that made it).
            SUMMARY["gone"] += 1
            print(json.dumps({"gone": hex(A), "type": randheap.MADE[A]}), file=sys.stderr)
            continue
        GOT = SNAP.retained(A)
        SUMMARY["checked"] += 1
        SUMMARY["retaining_more"] += LIVE[A][1] > 1
        if GOT != LIVE[A]:
            SUMMARY["failures"] += 1
            print(json.dumps({"seed": SEED, "address": hex(A), "type": randheap.MADE[A],
                              "live": list(LIVE[A]), "snapshot": list(GOT)}), flush=True)
    SUMMARY["seeds"] += 1
    SNAP = LIVE = GOT = None
    randheap.ROOT.clear()
    gc.collect()
os.unlink(PATH)
print(json.dumps(SUMMARY), flush=True)
