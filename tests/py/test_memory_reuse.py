"""The capture's memory pool (issue 18): captures reuse their arrays,
release_memory() gives them back, and memory accounting counts them."""

import gc
import json

import refchain
from refchain import _memory, _refchain


def test_a_capture_reusing_the_pool_sees_the_same_heap():
    keep = [{"k%d" % i: (i, str(i))} for i in range(20000)]
    gc.collect()
    refchain.release_memory()
    fresh = refchain.capture().census()    # nothing kept: fresh arrays
    reused = refchain.capture().census()   # the first capture's arrays
    again = refchain.capture().census()
    assert fresh == reused == again
    assert reused["dict"].count >= 20000
    del keep


def test_release_memory_returns_what_the_pool_held():
    refchain.capture()
    held = _refchain._pool_bytes()
    assert held > 0
    assert refchain.release_memory() == held
    assert refchain.release_memory() == 0
    assert _refchain._pool_bytes() == 0
    refchain.census()
    assert refchain.release_memory() > 0


def test_memory_layers_and_the_budget_count_the_pool():
    refchain.release_memory()
    assert refchain.memory_layers().pool == 0
    refchain.capture()
    layers = refchain.memory_layers()
    assert layers.pool > 0 and layers.as_dict()["pool"] == layers.pool
    assert "refchain keeps" in str(layers) and "release_memory()" in str(layers)
    # What the pool holds is resident already: an in-process capture needs
    # that much less, a fork's child (which copies what it writes) no less.
    assert _memory.estimate("capture", 1000, pool=10000) == 1000 * 72 - 10000
    assert _memory.estimate("census", 10, pool=10 ** 9) == 0
    assert _memory.estimate("fork", 1000, rss=5, pool=10 ** 9) == 1000 * 192 + 5
    refchain.release_memory()
    assert "refchain keeps" not in str(refchain.memory_layers())


def test_questions_asked_again_take_their_blocks_from_the_pool():
    """A question asked every minute costs its memory once: after two rounds
    more rounds leave the pool holding what it held.  (An array that grows
    as a capture fills it, the references, used to end in a new block each
    time: the next capture started small again, and the pool kept every
    last block unused, a few more megabytes a round, until it was full.)"""
    target = {"x": 1}

    def ask():
        refchain.capture()
        refchain.find_chain(target)
        refchain.explain("dict", limit=1)
        refchain.garbage()

    gc.collect()
    refchain.release_memory()
    ask()
    ask()
    held = _refchain._pool_bytes()
    for _ in range(6):
        ask()
    assert _refchain._pool_bytes() <= held + held // 4, (held, _refchain._pool_bytes())


def test_a_snapshot_loaded_again_takes_its_blocks_from_the_pool(tmp_path):
    """A snapshot's strings and per-node arrays come from the pool and go
    back to it, so reading the same file again (the command line's report
    after its info, a notebook re-run) faults nothing new in.  (They were
    malloc'ed: every load faulted in as many pages as the first.)"""
    import resource

    keep = ["value-%d" % i for i in range(40000)]
    path = str(tmp_path / "heap.rcsnap")
    refchain.dump(path)
    refchain.release_memory()
    faults, rows = [], []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        snap = refchain.load(path)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        rows.append(snap.census())
        del snap
    assert rows[0] == rows[1] == rows[2]
    assert faults[0] > 250          # about 1,300 pages: strings, arrays, graph
    assert faults[2] < faults[0] // 4, faults
    del keep


RESIDENT = """
    import gc, json, os, tempfile
    import refchain

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    keep = [{"k": str(i), "v": [i]} for i in range(200000)]
    gc.collect()
    refchain.release_memory()
    before = rss()
    path = os.path.join(tempfile.mkdtemp(), "t.rcsnap")
    for _ in range(2):
        s = refchain.suspects()
        del s
        refchain.dump(path)
        g = refchain.explain("dict", limit=3)
        del g
    gc.collect()
    peak = rss()
    refchain.release_memory()
    print(json.dumps([peak - before, rss() - before]))
"""


def test_release_memory_gives_the_memory_back_to_the_system(run_script):
    # The pool's blocks, and what the answers' smaller blocks gave back to
    # malloc, which glibc keeps in its arenas until trimmed: before, about
    # 70 MiB of this heap's 100 stayed resident.
    grown, kept = json.loads(run_script(RESIDENT).stdout)
    assert grown > 0 and kept < grown / 3, (grown, kept)


FIRST_CAPTURE = """
import gc, json, sys
import refchain

called = []
if sys.argv[1] == "python":
    def fake():
        called.append("python")
        return 10 ** 9
    sys.getallocatedblocks = fake
elif sys.argv[1] == "builtin":
    # Another C function under the name: it must not be called either.
    gc.callbacks.append(lambda phase, info: called.append("collect"))
    sys.getallocatedblocks = gc.collect
payloads = [(str(i) * 3, float(i), bytes(8 + i % 8)) for i in range(60000)]
gc.collect()
called.clear()
first = refchain.capture()          # no earlier capture or census: no hint
first_census = first.census()
second = refchain.capture().census()
print(json.dumps({"called": called, "same": first_census == second,
                  "tuples": first_census["tuple"].count, "floats": first_census["float"].count}))
"""


def test_the_first_capture_sizes_itself_without_running_python_code(run_script):
    """The first capture of a process asks sys.getallocatedblocks() how
    many objects to make room for, but only when it is still sys's own C
    function: a replacement is never called, and the capture sees the same
    heap whatever the answer, or with no answer (pymalloc off)."""
    runs = [("real", None), ("python", None), ("builtin", None),
            # No blocks to count: room for three objects per tracked one.
            ("real", {"PYTHONMALLOC": "malloc"})]
    for kind, env in runs:
        out = json.loads(run_script(FIRST_CAPTURE.replace("sys.argv[1]", repr(kind)),
                                    env=env).stdout)
        assert out["called"] == [], (kind, out)
        assert out["same"], (kind, out)
        assert out["tuples"] >= 60000 and out["floats"] >= 60000, (kind, out)


REFUSED_ROOM = """
import array, ctypes, gc, json, resource
import refchain

# Three million pymalloc blocks that are no objects: the first capture's
# guess is three million objects, room the address-space limit refuses.
malloc = ctypes.pythonapi.PyMem_Malloc
malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
blocks = array.array("Q", (malloc(16) for _ in range(3000000)))
gc.collect()
with open("/proc/self/status") as f:
    vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (48 << 20), resource.RLIM_INFINITY))
graph = refchain.capture(force=True)
print(json.dumps({"nodes": len(graph), "arrays": graph.census()["array.array"].count}))
"""


def test_a_first_capture_goes_on_when_its_room_is_refused(run_script):
    """The first capture's room is a guess from pymalloc's count of blocks,
    which C code may hold without any object: when the system refuses that
    room, the capture goes on and its arrays grow as they fill."""
    out = json.loads(run_script(REFUSED_ROOM).stdout)
    assert out["arrays"] >= 1 and 1000 < out["nodes"] < 1000000, out


FRESH_WHILE_THREADS_RUN = """
import gc, json, threading
import refchain
from refchain import _refchain

class Marker:
    pass

MARKERS = [Marker() for _ in range(1000)]
bulk = [(i, str(i)) for i in range(300, 150300)]    # 450,000 objects
gc.collect()
stop = threading.Event()

def churn():
    while not stop.is_set():
        junk = [{"k": [i]} for i in range(100)]
        del junk

threads = [threading.Thread(target=churn) for _ in range(2)]
for t in threads:
    t.start()
_refchain._filler_min_nodes(100000)     # 4M objects by default
before = _refchain._filler_ranges()
rounds = []
try:
    for _ in range(3):
        refchain.release_memory()       # the next capture's memory is fresh
        graph = refchain.capture()
        rounds.append({"nodes": len(graph),
                       "markers": graph.census()["__main__.Marker"].count,
                       "chain": str(refchain.find_chain(MARKERS[500]))})
        del graph
    # A fork dump's child (forked while the threads run) starts no helper.
    refchain.release_memory()
    refchain.dump("heap.rcsnap", fork=True).wait()
    forked = refchain.load("heap.rcsnap").census()["__main__.Marker"].count
finally:
    stop.set()
    for t in threads:
        t.join()
print(json.dumps({"ranges": _refchain._filler_ranges() - before, "rounds": rounds,
                  "forked": forked}))
"""


def test_a_capture_into_fresh_memory_has_a_helper_fault_it_in_while_threads_run(run_script):
    """A capture of more than 4M objects (here, with the threshold lowered,
    100,000) into fresh memory (the first, or one after release_memory())
    has a helper thread fault its arrays in ahead of the walk.  With two
    threads allocating and freeing
    all along, each such capture finds every marker, and the chain to one
    names the global that holds it.  A fork dump's child, forked while
    they run, starts none (it writes single-threaded) and its file holds
    every marker."""
    out = json.loads(run_script(FRESH_WHILE_THREADS_RUN).stdout)
    assert out["ranges"] > 0
    for r in out["rounds"]:
        assert r["nodes"] > 450000
        assert r["markers"] == 1000
        assert "MARKERS" in r["chain"] and "[500]" in r["chain"], r["chain"]
    assert out["forked"] == 1000
