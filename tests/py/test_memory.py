"""Memory layers (RSS = the objects' bytes + what they do not explain) and
the memory budget: a capture, dump or fork refused before it could get the
process killed, with the limits simulated through the same code path
(REFCHAIN_CGROUP_ROOT, REFCHAIN_PROC_CGROUP, REFCHAIN_MEMINFO)."""

import json
import sys

import pytest

import refchain
from conftest import memory_limit_env
from refchain import _memory

MiB = 1 << 20


def test_memory_layers_are_consistent():
    census = refchain.census()
    layers = refchain.memory_layers(census)
    assert layers.rss is not None and layers.rss >= 0
    assert layers.counted == census.total.bytes and layers.objects == census.total.count
    assert layers.unexplained == layers.rss - layers.counted
    text = str(layers)
    assert text.startswith("memory: RSS ") and "(counted by refchain)" in text
    assert "not in objects (allocator free lists, arenas, native memory)" in text
    assert ("look at native memory" in text) == (layers.unexplained >= layers.rss / 2)
    assert ("hunt objects" in text) == (layers.unexplained < layers.rss / 2)
    fresh = refchain.memory_layers()
    assert fresh.counted > 0 and fresh.objects > 0 and fresh.rss > 0
    with pytest.raises(TypeError, match="census"):
        refchain.memory_layers({})
    with pytest.raises(TypeError, match="force"):
        refchain.memory_layers(force=1)


def test_the_hint_names_what_to_hunt():
    objects = _memory.MemoryLayers(100 * MiB, 90 * MiB, 1000, None)
    assert objects.hint == "90% of RSS is objects: hunt objects (show_growth, explain)"
    native = _memory.MemoryLayers(400 * MiB, 100 * MiB, 1000, 120 * MiB)
    assert str(native) == (
        "memory: RSS 400.0 MiB = objects 100.0 MiB (counted by refchain) + 300.0 MiB not in "
        "objects (allocator free lists, arenas, native memory); tracemalloc traces 120.0 MiB; "
        "75% of RSS is not in objects: look at native memory and the allocator (C extensions, "
        "free lists, arenas not returned), not at objects")
    # tracemalloc's own tables (25 frames a trace) and refchain's pool are
    # set aside: they made a heap of objects read as a native-memory hunt.
    traced = _memory.MemoryLayers(100 * MiB, 40 * MiB, 1000, 38 * MiB, pool=5 * MiB,
                                  tracer=35 * MiB)
    assert traced.hint == ("67% of RSS, tracemalloc's and refchain's own memory aside, is "
                           "objects: hunt objects (show_growth, explain)")
    assert "tracemalloc traces 38.0 MiB and takes about 35.0 MiB for its own tables" in str(traced)
    assert traced.as_dict()["tracer"] == 35 * MiB
    over = _memory.MemoryLayers(10 * MiB, 12 * MiB, 1000, None)
    assert "the objects' bytes exceed RSS by 2.0 MiB" in str(over)
    assert "RSS unknown" in str(_memory.MemoryLayers(None, MiB, 10, None))


TRACED_LEAK = """
    import json, tracemalloc
    tracemalloc.start()
    import functools, refchain

    class PriceService:
        def __init__(self):
            self.table = [float(i) for i in range(200)]

        @functools.lru_cache(maxsize=None)
        def quote(self, qty):
            return bytes(300)

    for i in range(3000):
        PriceService().quote(i)
    layers = refchain.memory_layers()
    print(json.dumps([layers.hint, layers.tracer, tracemalloc.get_tracemalloc_memory()]))
"""


def test_a_traced_object_leak_is_an_object_hunt(run_script):
    # 600,000 floats an lru_cache keeps: with tracemalloc on, its tables
    # take about twice what it reports (a record per trace beside the
    # entry, and malloc's headers), which would send the hunt to native
    # memory if only the report were set aside.
    hint, tracer, reported = json.loads(run_script(TRACED_LEAK).stdout)
    if not hasattr(sys, "gettotalrefcount"):
        # (A debug build's allocator pads every block: there the allocator
        # is most of it.)
        assert hint.endswith("is objects: hunt objects (show_growth, explain)"), hint
    assert tracer > 1.15 * reported    # 2x from 3.9; read just after: a few more traces


def test_tracemalloc_s_footprint_follows_the_version():
    assert _memory.tracer_footprint(None) is None
    assert _memory.tracer_footprint(100, (3, 13)) == _memory.tracer_footprint(100, (3, 9)) == 200
    assert _memory.tracer_footprint(100, (3, 8)) == 120


@pytest.fixture
def limits(tmp_path, monkeypatch):
    """limits(free=bytes, version=2, available=None): a fake cgroup (and
    meminfo) leaving `free` bytes, through the environment."""

    def make(free, version=2, available=64 << 30, cache=0):
        for key, value in memory_limit_env(tmp_path, free, version, available, cache).items():
            monkeypatch.setenv(key, value)

    return make


@pytest.mark.parametrize("version", [1, 2])
def test_headroom_reads_cgroups_and_meminfo(limits, version):
    limits(100 * MiB, version=version, cache=30 * MiB)
    room = _memory.headroom()
    # Inactive file cache is reclaimable: it counts as free.
    assert room.bytes == 100 * MiB
    assert ("cgroup /svc: " in str(room)) and "+ 30.0 MiB inactive file cache" in str(room)
    limits(100 * MiB, version=version, available=20 * MiB)
    assert _memory.headroom().bytes == 20 * MiB        # the smaller wins
    assert "MemAvailable 20.0 MiB" in str(_memory.headroom())


def test_no_limit_known_means_no_refusal(monkeypatch, tmp_path):
    monkeypatch.setenv("REFCHAIN_PROC_CGROUP", str(tmp_path / "missing"))
    monkeypatch.setenv("REFCHAIN_MEMINFO", str(tmp_path / "missing"))
    assert _memory.headroom() is None
    assert _memory.check_budget("dump") is None


def test_a_dump_and_a_capture_refuse_when_memory_is_short(limits, tmp_path):
    limits(1 * MiB)
    refchain.release_memory()  # a kept pool would be reused, needing less
    path = tmp_path / "x.rcsnap"
    with pytest.raises(refchain.MemoryBudgetError) as info:
        refchain.dump(path)
    exc = info.value
    assert isinstance(exc, MemoryError) and exc.kind == "dump"
    assert exc.headroom == 1 * MiB and exc.needed > exc.headroom and exc.objects > 0
    text = str(exc)
    assert "a dump needs about " in text and "the memory left is 1.0 MiB" in text
    assert "cgroup /svc: memory.max 1.0 GiB - memory.current 1023.0 MiB" in text
    assert "force=True" in text and "refchain.census()" in text and "values=False" in text
    assert not path.exists()
    with pytest.raises(refchain.MemoryBudgetError, match="a capture needs about"):
        refchain.capture()
    with pytest.raises(refchain.MemoryBudgetError, match="a fork dump's child needs about"):
        _memory.check_budget("fork")
    # force=True proceeds.
    assert refchain.dump(path, force=True) == str(path) and path.exists()
    assert len(refchain.capture(force=True)) > 0
    with pytest.raises(TypeError, match="force"):
        refchain.dump(path, force="yes")
    with pytest.raises(ValueError, match="kind"):
        _memory.check_budget("everything")


def test_the_estimate_follows_the_object_count_and_the_kind(limits):
    limits(64 << 30)
    census = refchain.census()
    refchain.memory_layers(census)      # remembers the count
    n = census.total.count
    objects, how = _memory.estimate_objects()
    assert objects >= n and "the last census's %d objects" % n in how
    assert _memory.estimate("census", 1000) == 64000
    assert _memory.estimate("capture", 1000) == 72000
    assert _memory.estimate("dump", 1000) > _memory.estimate("dump", 1000, values=False)
    # A fork's child copies the pages it writes: RSS bounds them.
    assert _memory.estimate("fork", 1000, rss=5000) == _memory.estimate("dump", 1000) + 5000
    refchain.release_memory()   # else what it keeps is taken off
    assert _memory.check_budget("capture") >= n * 72


def test_the_process_survives_a_refusal_in_a_fresh_interpreter(limits, run_script, tmp_path):
    limits(2 * MiB)     # the environment run_script passes on
    proc = run_script("""
        import refchain
        try:
            refchain.dump("x.rcsnap")
        except refchain.MemoryBudgetError as exc:
            print("REFUSED", exc.kind)
        print("ALIVE", len(refchain.capture(force=True)) > 0)
        """)
    assert proc.stdout.split("\n")[:2] == ["REFUSED dump", "ALIVE True"]
    assert not (tmp_path / "x.rcsnap").exists()


def test_a_snapshot_records_its_memory_layers(tmp_path):
    path = str(tmp_path / "m.rcsnap")
    refchain.dump(path)
    snap = refchain.load(path)
    layers = snap.memory_layers()
    facts = snap.facts
    assert layers.rss == int(facts["rss before capture bytes"]) > 0
    assert int(facts["rss bytes"]) >= layers.rss - (64 * MiB)
    assert layers.counted == snap.census().total.bytes
    assert layers.objects == snap.census().total.count
    from refchain._cli import main
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["info", path]) == 0
    assert "memory    RSS " in out.getvalue().splitlines()[3]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["info", "--json", path]) == 0
    data = json.loads(out.getvalue())
    assert data["memory"]["counted"] == layers.counted and data["memory"]["rss"] == layers.rss
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", path, "--since", path]) == 0
    lines = out.getvalue().splitlines()
    assert lines[2] == "  memory    " + layers.summary() and lines[4] == lines[2]


OWN_NUMBERS = """
    import json, os, tempfile
    import refchain

    refchain.memory_layers()
    refchain.dump(os.path.join(tempfile.mkdtemp(), "t.rcsnap"))
    print(json.dumps([g.path() for g in refchain.explain("bytearray", limit=100)]))
"""


def test_refchain_keeps_its_numbers_in_no_object(run_script):
    # The last census's count and RSS, and the RSS before a dump, used to be
    # bytearrays of refchain._memory, which explain("bytearray") named.
    paths = json.loads(run_script(OWN_NUMBERS).stdout)
    assert not [p for p in paths if "refchain" in p], paths


FIRST_ESTIMATE = """
import gc, json
import refchain
from refchain import _memory

# Rows of untracked tuples: 4 objects each and none of them gc-tracked,
# which the tracked objects times 5 would miss.
rows = [(i, str(i), float(i)) for i in range(50000)]
gc.collect()
objects, how = _memory.estimate_objects()
print(json.dumps({"objects": objects, "how": how, "nodes": len(refchain.capture(force=True))}))
"""


def test_the_estimate_before_any_census_counts_pymalloc_blocks(run_script):
    """Before any census the budget counts pymalloc's blocks, about one per
    object whatever share of them is gc-tracked; with pymalloc off it
    falls back to the tracked objects times 5."""
    out = json.loads(run_script(FIRST_ESTIMATE).stdout)
    assert "pymalloc blocks, about one per object" in out["how"], out
    assert out["nodes"] <= out["objects"] < 1.6 * out["nodes"], out
    off = json.loads(run_script(FIRST_ESTIMATE, env={"PYTHONMALLOC": "malloc"}).stdout)
    assert "gc-tracked objects x 5" in off["how"], off
    assert off["objects"] < off["nodes"], off      # what the blocks set right
