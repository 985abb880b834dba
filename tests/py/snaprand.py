"""Random heaps round-tripped through a snapshot file (issue 14).

Run as a script, in a fresh interpreter with refchain importable:

    python -S snaprand.py FIRST COUNT [SIZE [TARGETS [DIR]]]

Seed k builds randheap.py's random graph of SIZE objects (default 100):
instances, slotted and finalized ones, dicts, lists, tuples, sets, closures,
bound methods, weak references, generators, coroutines, frames, exceptions
with tracebacks, and the garbage cycles the part it drops leaves.  Then, at
one moment (nothing is allocated that outlives a question):

1. a live census, then refchain.dump();
2. the live answers, as text: find_chain() for TARGETS objects the seed
   made (default 10), explain() of its types, and garbage().  Each is
   written to a file as it comes, not kept: kept answers would be objects
   the dump did not have, and explain() ranks groups by what they retain,
   so a dict of answers can enter the live top groups;
3. refchain.load() of the file, and the same answers from the snapshot.

Every answer must be equal: census rows (count and bytes), chain text,
explain groups and the garbage prediction.  It prints one JSON line per
difference, then a summary line `{"seeds": N, "failures": F, ...}`.

The type attribute cache is emptied before the dump and before each live
explain().  It holds a strong reference to every attribute name looked up
lately, which no traversal reports: a str held by one dict and by the cache
is held through C code, and held by that dict alone once a later lookup
takes its slot.  On 3.13 a key of sys.monitoring.events ("CALL", "RAISE")
was in the cache at the dump and gone from it at the live answer, one
object more retained by sys.__dict__, in about one run of 100 seeds in two.

The driver runs at module level (see randheap.py): no function frame of it
runs while refchain looks."""

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
DIR = sys.argv[5] if len(sys.argv) > 5 else tempfile.mkdtemp(prefix="snaprand-")
PATH = os.path.join(DIR, "heap.rcsnap")
TYPES = ("Plain", "Slotted", "Finalized", "dict", "list", "tuple", "set", "function")
SUMMARY = {"seeds": 0, "failures": 0, "objects": 0, "chains": 0, "groups": 0,
           "garbage_objects": 0}
# Every global the loop assigns exists before the first census.
SEED = CENSUS = ADDRS = LIVE_CHAINS = LIVE_EXPLAIN = LIVE_GARBAGE = SNAP = ROWS = None
A = T = PROBLEMS = LINE = None
LIVE = os.open(PATH + ".live", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)


def _answer(kind, key, text):
    os.write(LIVE, (json.dumps([kind, key, text]) + "\n").encode())


# Warm what the first question would otherwise create between the census
# and the dump (lazy caches of the package's code, the answers' writer).
refchain.dump(PATH)
refchain.load(PATH).find_chain(id(randheap.ROOT))
_answer("warm", 0, list(map(str, refchain.explain("list", limit=3))))
for A in range(1100):       # 3.8-3.10 give a code object its opcache after 1024 runs:
    _answer("warm", A, [])  # json's, _answer's and the root describer's (which only the
    refchain._chains._describe_root("module", randheap)  # live answers call) get it
A = None                    # now, not between a dump and its live answers (it adds to
                            # what a function retains)
for SEED in range(FIRST, FIRST + COUNT):
    randheap.ROOT.clear()
    randheap.MADE.clear()
    randheap.build(SEED, SIZE)      # its dropped cycles wait for the collector
    ADDRS = sorted(randheap.MADE)[::max(1, len(randheap.MADE) // N_TARGETS)]
    PROBLEMS = []
    os.ftruncate(LIVE, 0)
    os.lseek(LIVE, 0, os.SEEK_SET)
    sys._clear_type_cache()         # see the docstring
    CENSUS = refchain.census()
    refchain.dump(PATH)
    for A in ADDRS:
        # Only what the seed made and is still there (a collected cycle's
        # address may hold a newer object; at() gives None, a NoneType,
        # where nothing tracked lives).
        if refchain.count(randheap.MADE[A], [refchain.at(A)]):
            _answer("chain", A, str(refchain.find_chain(refchain.at(A))))
    for T in TYPES:
        # map(), not a comprehension: before 3.12 one runs as a function,
        # whose frame the live answer would name as a root.
        sys._clear_type_cache()
        _answer("explain", T, list(map(str, refchain.explain(T, limit=3))))
    os.lseek(LIVE, 0, os.SEEK_SET)
    LIVE_CHAINS, LIVE_EXPLAIN = {}, {}
    for LINE in os.read(LIVE, 1 << 24).decode().splitlines():
        LINE = json.loads(LINE)
        (LIVE_CHAINS if LINE[0] == "chain" else LIVE_EXPLAIN)[LINE[1]] = LINE[2]
    LIVE_GARBAGE = refchain.garbage()
    SUMMARY["garbage_objects"] += LIVE_GARBAGE.object_count
    LIVE_GARBAGE = str(LIVE_GARBAGE)
    SNAP = refchain.load(PATH)
    ROWS = (dict(CENSUS.items()), dict(SNAP.census().items()))
    if sys.version_info < (3, 11) and ROWS[0].get("code") and ROWS[1].get("code") \
            and ROWS[0]["code"][0] == ROWS[1]["code"][0] \
            and 0 <= ROWS[1]["code"][1] - ROWS[0]["code"][1] < 4096:
        # 3.8 to 3.10 give a code object its opcache (counted by __sizeof__) once
        # it has run often enough: the package's own calls between the census and the
        # dump cross it now and then.  Same objects, a few bytes more.
        ROWS[1]["code"] = ROWS[0]["code"]
    if ROWS[0] != ROWS[1]:
        PROBLEMS.append({"census": {k: (ROWS[0].get(k), ROWS[1].get(k))
                                    for k in set(ROWS[0]) | set(ROWS[1])
                                    if ROWS[0].get(k) != ROWS[1].get(k)}})
    for A in LIVE_CHAINS:
        try:
            T = str(SNAP.find_chain(A))
        except KeyError:
            T = "(not in the snapshot: a %s)" % randheap.MADE[A]
        if T != LIVE_CHAINS[A]:
            PROBLEMS.append({"chain": hex(A), "live": LIVE_CHAINS[A], "snapshot": T})
    for T in TYPES:
        if [str(g) for g in SNAP.explain(T, limit=3)] != LIVE_EXPLAIN[T]:
            PROBLEMS.append({"explain": T, "live": LIVE_EXPLAIN[T],
                             "snapshot": [str(g) for g in SNAP.explain(T, limit=3)]})
        SUMMARY["groups"] += len(LIVE_EXPLAIN[T])
    if hasattr(SNAP, "garbage") and str(SNAP.garbage()) != LIVE_GARBAGE:
        PROBLEMS.append({"garbage": {"live": LIVE_GARBAGE, "snapshot": str(SNAP.garbage())}})
    SUMMARY["seeds"] += 1
    SUMMARY["objects"] += len(SNAP)
    SUMMARY["chains"] += len(LIVE_CHAINS)
    if PROBLEMS:
        SUMMARY["failures"] += 1
        print(json.dumps({"seed": SEED, "problems": PROBLEMS}), flush=True)
    CENSUS = SNAP = ROWS = LIVE_CHAINS = LIVE_EXPLAIN = LIVE_GARBAGE = None
    randheap.ROOT.clear()
    gc.collect()
os.close(LIVE)
os.unlink(PATH)
os.unlink(PATH + ".live")
print(json.dumps(SUMMARY), flush=True)
