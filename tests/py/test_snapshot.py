"""Snapshots (issue 14): refchain.dump() and refchain.load(), every question
answered from the file with the live text, address reuse, redaction, and
bad files.  Random heaps round-trip in snaprand.py (200 seeds here)."""

import ctypes
import ctypes.util
import errno
import json
import os
import stat
import socket
import struct
import subprocess
import sys

import pytest

import refchain
from refchain import _memory
from conftest import _pythonpath

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples")


def _run_snaprand(first, count, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_pythonpath(), HERE]))
    env.pop("PYTHONTRACEMALLOC", None)
    return subprocess.Popen(
        [sys.executable, "-S", os.path.join(HERE, "snaprand.py"), str(first), str(count),
         "100", "10", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_random_heaps_read_the_same_from_a_file(tmp_path):
    """200 seeded random heaps: census rows, chain text, explain groups and
    the garbage prediction from the file equal the live answers."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    procs = [_run_snaprand(0, 100, tmp_path / "a"), _run_snaprand(100, 100, tmp_path / "b")]
    summaries, problems = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        lines = out.splitlines()
        assert proc.returncode == 0 and lines, (proc.returncode, out[-3000:], err[-3000:])
        summaries.append(json.loads(lines[-1]))
        problems.extend(lines[:-1])
    assert not problems, "\n".join(problems)[:6000]
    assert sum(s["seeds"] for s in summaries) == 200
    assert sum(s["chains"] for s in summaries) > 1000
    assert sum(s["groups"] for s in summaries) > 1000
    assert sum(s["garbage_objects"] for s in summaries) > 1000


DEMO = """
import gc, io, json, sys, tracemalloc
tracemalloc.start(5)
sys.path.insert(0, {examples!r})
import refchain, service

for i in range(100):
    service.handle(i)
refchain.dump("warm.rcsnap")        # the dump's first-time imports are no growth either
# No automatic collection between a live census and its dump: on 3.13 a full
# one also frees code objects the interpreter held (the census names their
# holder "C code"), with their bytes and tuples.
gc.collect()
gc.disable()
out = open("growth.txt", "w")       # open at all four points: its objects are no growth
refchain.show_growth(file=io.StringIO())            # the live baseline
refchain.dump("before.rcsnap")
for i in range(100, 2100):
    service.handle(i)
live = {{}}
refchain.show_growth(limit=5, file=out)     # written, not kept: the dump sees no text of it
out.flush()
refchain.dump("after.rcsnap")
out.close()
live["growth"] = open("growth.txt").read()
live["chain"] = str(refchain.find_chain(service._PAGES[1000]))
live["session_chain"] = str(refchain.find_chain(service.Session.active[-1]))
buf = io.StringIO()
refchain.show_explain("Session", limit=2, file=buf)
live["explain"] = buf.getvalue()
live["page"] = id(service._PAGES[1000])
live["session"] = id(service.Session.active[-1])
json.dump(live, open("live.json", "w"))
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Two dumps of examples/service.py, before and after 2,000 requests,
    and the live answers computed at the second one."""
    d = tmp_path_factory.mktemp("demo")
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    env.pop("PYTHONTRACEMALLOC", None)
    (d / "demo.py").write_text(DEMO.format(examples=EXAMPLES))
    proc = subprocess.run([sys.executable, "demo.py"], cwd=str(d), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(str(d / "live.json")) as f:
        live = json.load(f)
    return d, live


def _in(d):
    """Run the rest of a test with cwd d (file names show relative to it)."""
    old = os.getcwd()
    os.chdir(str(d))
    return old


def test_the_demo_reads_the_same_from_its_dump(demo):
    d, live = demo
    old = _in(d)
    try:
        snap = refchain.load("after.rcsnap")
        assert str(snap.find_chain(live["page"])) == live["chain"]
        assert str(snap.find_chain(live["session"])) == live["session_chain"]
        assert "module service → ['_PAGES'] dict → [1000] bytes (1057 B), allocated at " \
            in live["chain"]
        import io
        buf = io.StringIO()
        snap.show_explain("Session", limit=2, file=buf)
        assert buf.getvalue() == live["explain"]
    finally:
        os.chdir(old)


def test_an_offline_diff_names_the_leak_as_show_growth_did_live(demo):
    """Two dumps, before and after the load, compared offline: the same
    types, deltas, allocation lines as the live show_growth."""
    d, live = demo
    old = _in(d)
    try:
        import io
        before, after = refchain.load("before.rcsnap"), refchain.load("after.rcsnap")
        buf = io.StringIO()
        after.show_growth(since=before, limit=5, file=buf)
        # The same types, allocation lines and deltas.  The interpreter may
        # make or free an object or two of its own between the live
        # baseline and the first dump (3.8-3.10: a list, a dict resize).
        assert _growth_rows(buf.getvalue()).keys() == _growth_rows(live["growth"]).keys()
        for name, (delta, sites) in _growth_rows(buf.getvalue()).items():
            live_delta, live_sites = _growth_rows(live["growth"])[name]
            assert abs(delta - live_delta) <= 2, (name, buf.getvalue(), live["growth"])
            assert [s for _, s in sites][:1] == [s for _, s in live_sites][:1]
        assert "+2000 at " in buf.getvalue() and "service.py:29" in buf.getvalue()
        rows = dict((n, delta) for n, _, delta in after.growth(since=before, limit=5))
        assert rows["Session"] == 2000 and 1998 <= rows["bytes"] <= 2000
        assert len(after.new_objects("Session", since=before)) == 2000
        report = str(after.leaks(since=before, limit=2))
        assert "held through class service.Session → .active list → [*] Session" in report
    finally:
        os.chdir(old)


def test_a_snapshot_counts_allocation_sites_per_traceback(demo):
    """The sites a snapshot prints (objects counted per traceback in C, no
    SnapNode made) are those of its objects' frames read one by one, and the
    untraced objects among them are skipped."""
    from refchain._sites import ranked_sites
    d, _ = demo
    before, after = refchain.load(str(d / "before.rcsnap")), refchain.load(str(d / "after.rcsnap"))
    ids = [n.id for n in after.new_objects("Session", since=before)] + list(range(0, len(after), 7))
    by_frames = {}
    for i in ids:
        fs = after._c.frames(i)
        if fs:
            by_frames[fs] = by_frames.get(fs, 0) + 1
    assert 0 < sum(by_frames.values()) < len(ids)
    assert after._c.traceback_counts(ids) == by_frames
    assert after._sites(ids, top=5) == ranked_sites(by_frames, top=5)
    assert after._sites(ids)[0][0] >= 2000
    with pytest.raises(TypeError):
        after._c.traceback_counts(42)
    with pytest.raises(IndexError):
        after._c.traceback_counts([len(after)])


def _growth_rows(text):
    """{type: (delta, [(count, site)])} of show_growth's text."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("    +"):
            count, site = line.strip()[1:].split(" at ", 1)
            rows[name][1].append((int(count), site))
        elif line.strip():
            name, _, delta = line.split()[:3]
            rows[name] = (int(delta), [])
    return rows


def test_facts_and_file_mode(demo):
    d, _ = demo
    snap = refchain.load(str(d / "after.rcsnap"))
    facts = snap.facts
    assert int(facts["pid"]) > 0 and facts["python"].startswith(sys.version.split()[0])
    assert facts["host"] == socket.gethostname()
    assert json.loads(facts["argv"]) == ["demo.py"]
    assert int(facts["rss bytes"]) > 0 and int(facts["tracemalloc traced bytes"]) > 0
    assert snap.memory_layers().tracer == _memory.tracer_footprint(
        int(facts["tracemalloc own bytes"])) > 0
    assert len(json.loads(facts["gc stats"])) == 3
    assert snap.traced and len(snap) > 10000
    assert stat.S_IMODE(os.stat(str(d / "after.rcsnap")).st_mode) == 0o600
    with pytest.raises(TypeError, match="live object"):
        snap.at(1)


REUSE = """
import gc, json, refchain

class A:
    pass

class B:
    pass

gc.disable()
found = {}
for attempt in range(200):
    a = A()
    addr = id(a)
    refchain.dump("old.rcsnap")
    del a
    same = A()              # the freed block is reused at once, mostly
    other_kind = None
    if id(same) != addr:
        del same
        continue
    refchain.dump("new.rcsnap")
    found["same"] = addr
    del same
    other = B()
    if id(other) == addr:
        refchain.dump("new_other.rcsnap")
        found["other"] = addr
        break
json.dump(found, open("found.json", "w"))
"""


def test_address_reuse(run_script, tmp_path):
    """An object freed and another of the same type made at its address is
    the same object to a diff (documented: addresses are all a heap keeps);
    an object of another type at a reused address is new."""
    run_script(REUSE)
    found = json.loads((tmp_path / "found.json").read_text())
    if "other" not in found:
        pytest.skip("the allocator never reused the address (%r)" % found)
    old = refchain.load(str(tmp_path / "old.rcsnap"))
    same = refchain.load(str(tmp_path / "new.rcsnap"))
    other = refchain.load(str(tmp_path / "new_other.rcsnap"))
    assert same.node(found["same"]).tname == "A"
    assert found["same"] not in [n.address for n in same.new_objects("A", since=old)]
    assert found["other"] in [n.address for n in other.new_objects("B", since=old)]
    assert other.node(found["other"]).tname == "B"


REDACT = """
import refchain
SECRET_KEY = "kiwi-" + "sunrise-4471"
SECRET_VALUE = b"pass" + b"word-0xfeedface"
VAULT = {SECRET_KEY: SECRET_VALUE, ("t", 1): "tup" + "le-secret-99"}
refchain.dump("plain.rcsnap")
refchain.dump("redacted.rcsnap", redact=True)
"""


def _body(path):
    """The decompressed body of a snapshot (docs/format.md), through libzstd."""
    with open(path, "rb") as f:
        data = f.read()
    size = struct.unpack_from("<Q", data, 16)[0]
    lib = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
    lib.ZSTD_decompress.restype = ctypes.c_size_t
    lib.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p,
                                    ctypes.c_size_t]
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    out = ctypes.create_string_buffer(size + 1)
    n = lib.ZSTD_decompress(out, size + 1, data[24:], len(data) - 24)
    assert not lib.ZSTD_isError(n) and n == size
    return out.raw[:n]


def test_redact_writes_no_str_or_bytes_value(run_script, tmp_path):
    run_script(REDACT, name="vault.py")
    plain = _body(str(tmp_path / "plain.rcsnap"))
    redacted = _body(str(tmp_path / "redacted.rcsnap"))
    secrets = [b"kiwi-sunrise-4471", b"password-0xfeedface", b"tuple-secret-99"]
    assert all(s in plain for s in secrets)          # the check can fail
    assert not [s for s in secrets if s in redacted]
    snap = refchain.load(str(tmp_path / "redacted.rcsnap"))
    assert all(snap._node(i).value is None for i in range(len(snap)))
    # The globals' names are code, not data: the chain still reads.
    assert "VAULT" in redacted.decode("latin-1")


SLOTS = """
import json, refchain
class Wide:
    __slots__ = tuple("s%d" % i for i in range(40))
class Base:
    __slots__ = ("a", "b")
class Derived(Base):
    __slots__ = ("c",)
HOLD = []
for i in range(50):
    w, d = Wide(), Derived()
    setattr(w, "s%d" % (i % 40), bytearray(1))
    d.a = d.c = bytearray(2)
    d.b = bytearray(3)
    HOLD.append((w, d))
del w, d
refchain.dump("s.rcsnap")
print(json.dumps([[id(getattr(w, "s%d" % (i % 40))), id(d.c), id(d.b)]
                  for i, (w, d) in enumerate(HOLD)]))
"""


def test_every_instance_of_a_slotted_class_reads_its_field(run_script, tmp_path):
    # A dump learns each type's member fields once (more than 32 are
    # matched per instance instead) and names every instance's by them; a
    # value in two fields reads as the first along the MRO, as live.
    rows = json.loads(run_script(SLOTS).stdout.splitlines()[-1])
    snap = refchain.load(str(tmp_path / "s.rcsnap"))
    for i, (wide, both, base) in enumerate(rows):
        head = "['HOLD'] list \u2192 [%d] tuple \u2192 " % i
        assert head + "[0] Wide \u2192 .s%d bytearray" % (i % 40) in str(snap.find_chain(wide))
        assert head + "[1] Derived \u2192 .c bytearray" in str(snap.find_chain(both))
        assert head + "[1] Derived \u2192 .b bytearray" in str(snap.find_chain(base))


NON_ASCII_FILE = """
import sys, tracemalloc, refchain
tracemalloc.start(5)
sys.path.insert(0, ".")
mod = __import__("caf\\u00e9")
HELD = mod.make()
name = mod.make.__code__.co_filename
size = sys.getsizeof(name)
refchain.dump("t.rcsnap")
assert sys.getsizeof(name) == size, "the dump grew the file name"
print(id(HELD[0]))
"""


def test_a_file_name_that_is_not_ascii_is_read_in_place(run_script, tmp_path):
    # The dump writes the allocation line's file name as UTF-8 made in C:
    # CPython's would stay attached to the code's co_filename, a str of the
    # heap, and grow it.
    (tmp_path / "caf\u00e9.py").write_text(
        "def make():\n    return [bytearray(10) for _ in range(100)]\n", "utf-8")
    address = int(run_script(NON_ASCII_FILE).stdout.splitlines()[-1])
    snap = refchain.load(str(tmp_path / "t.rcsnap"))
    node = snap._c.find(address)
    assert any(f.endswith("caf\u00e9.py") and line == 2 for f, line in snap._c.frames(node))


@pytest.mark.parametrize("content, message", [
    (b"", "empty|too short|truncated"),
    (b"not a snapshot at all, just text\n" * 4, "not a refchain snapshot|magic"),
    (b"\x89RCSNAP\n" + struct.pack("<IIQ", 99, 0, 10) + b"\0" * 16, "version"),
])
def test_bad_files_get_a_clear_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.rcsnap"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        refchain.load(str(path))
    assert "bad.rcsnap" in str(info.value)


def test_a_truncated_dump_gets_a_clear_error(demo, tmp_path):
    d, _ = demo
    data = (d / "before.rcsnap").read_bytes()
    for cut in (10, 30, len(data) // 2, len(data) - 1):
        path = tmp_path / ("cut%d.rcsnap" % cut)
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError) as info:
            refchain.load(str(path))
        assert path.name in str(info.value)


def test_a_large_body_reads_the_same_through_the_inflater(run_script):
    """A body of more than 4 MiB is decompressed on a thread of its own
    while the reader parses: the census equals the live one taken with the
    dump, and a copy cut short, or with a byte changed, gets a clear error
    naming the file."""
    out = run_script("""
        import gc, json, os
        import refchain

        class Row:
            def __init__(self, i):
                self.key = "row-%d" % i
                self.cells = [i, i + 0.5, b"x" * (i % 40)]

        TABLE = [Row(i) for i in range(60000)]
        gc.collect()
        refchain.dump("big.rcsnap")
        census = refchain.census()
        # A code object's size grows when its function first runs (before
        # 3.11, a zombie frame): refchain's own code may, after the dump.
        live = {k: (r.count, r.bytes if k != "code" else 0) for k, r in census.items()}
        snap = refchain.load("big.rcsnap")
        loaded = {k: (r.count, r.bytes if k != "code" else 0) for k, r in snap.census().items()}
        data = open("big.rcsnap", "rb").read()
        errors = []
        for name, bad in (("cut.rcsnap", data[:len(data) * 2 // 3]),
                          ("flip.rcsnap", data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 1])
                           + data[len(data) // 2 + 1:])):
            with open(name, "wb") as f:
                f.write(bad)
            try:
                refchain.load(name)
                errors.append(None)
            except ValueError as e:
                errors.append(str(e))
        body = int.from_bytes(data[16:24], "little")
        print(json.dumps([body, len(snap), live == loaded, errors]))
    """)
    body, n, same, errors = json.loads(out.stdout)
    assert body > 4 << 20 and n > 240000, (body, n)
    assert same
    assert errors[0].startswith("cut.rcsnap: truncated"), errors
    # zstd's checksum, or the reader first when the damage decodes to a bad
    # number: either way an error naming the file and the place.
    assert errors[1].startswith("flip.rcsnap: ") and len(errors[1]) > 30, errors


def test_missing_files_and_unwritable_places(tmp_path):
    with pytest.raises(OSError) as info:
        refchain.load(str(tmp_path / "nope.rcsnap"))
    assert "nope.rcsnap" in str(info.value)
    with pytest.raises(OSError):
        refchain.dump(str(tmp_path / "no" / "such" / "dir.rcsnap"))
    assert os.listdir(str(tmp_path)) == []
    with pytest.raises(TypeError):
        refchain.dump(str(tmp_path / "x.rcsnap"), values="yes")


def test_a_file_name_that_is_not_utf8_is_named_in_the_error(tmp_path):
    """A name with a byte that is not UTF-8 (os.fsdecode's surrogate
    escape) gets the same OSError as any other, naming the byte, where
    decoding the message failed with UnicodeDecodeError."""
    odd = os.fsdecode(b"odd-\xff")
    with pytest.raises(OSError) as info:
        refchain.load(str(tmp_path / (odd + ".rcsnap")))
    assert "odd-\\xff.rcsnap: cannot open" in str(info.value)
    path = str(tmp_path / odd / "x.rcsnap")
    with pytest.raises(FileNotFoundError) as info:
        refchain.dump(path)
    assert info.value.filename == path
    # The C writer's own message, as when the directory goes between the
    # check and the write.
    with pytest.raises(FileNotFoundError) as info:
        refchain._snapshot._dump(path, True, False)
    assert "odd-\\xff/x.rcsnap" in str(info.value)
    assert os.listdir(str(tmp_path)) == []



def _bad_targets(tmp_path):
    """(path, exception class, errno) for paths no dump may write, all in
    tmp_path: a FIFO and a symbolic link to /dev/null (never replaced by a
    file), a directory, a missing directory, a file as the directory, ""."""
    fifo = tmp_path / "fifo.rcsnap"
    os.mkfifo(str(fifo))
    os.symlink("/dev/null", str(tmp_path / "null.rcsnap"))
    (tmp_path / "dir.rcsnap").mkdir()
    (tmp_path / "file").write_text("")
    return [(str(fifo), FileExistsError, errno.EEXIST),
            (str(tmp_path / "null.rcsnap"), FileExistsError, errno.EEXIST),
            (str(tmp_path / "dir.rcsnap"), IsADirectoryError, errno.EISDIR),
            (str(tmp_path / "no" / "x.rcsnap"), FileNotFoundError, errno.ENOENT),
            (str(tmp_path / "file" / "x.rcsnap"), NotADirectoryError, errno.ENOTDIR),
            ("", FileNotFoundError, errno.ENOENT)]


def _kinds(tmp_path):
    return {name: os.lstat(str(tmp_path / name)).st_mode for name in os.listdir(str(tmp_path))}


@pytest.mark.parametrize("fork", [False, True])
def test_a_bad_path_fails_before_the_capture(tmp_path, monkeypatch, fork):
    """dump() checks the path before capturing anything (both ways, one
    check) and raises the documented OSError subclass with errno and the
    file name; a FIFO or a link to a device is never replaced, and no
    temporary file is left."""
    null = os.stat("/dev/null")

    def captured(*args):
        raise AssertionError("the heap was captured before the path was checked")
    monkeypatch.setattr(refchain._snapshot._refchain, "_dump", captured)
    monkeypatch.setattr(refchain._snapshot._refchain, "_fork_dump", captured)
    cases = _bad_targets(tmp_path)
    before = _kinds(tmp_path)
    for path, cls, err in cases:
        with pytest.raises(cls) as info:
            refchain.dump(path, fork=fork)
        assert info.value.errno == err and info.value.filename == path, path
        assert ("dump(fork=True): " if fork else "dump(): ") in str(info.value)
    assert _kinds(tmp_path) == before
    assert "a FIFO is there" in str(pytest.raises(FileExistsError, refchain.dump, cases[0][0]).value)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == null.st_rdev


def test_the_writer_itself_refuses_bad_paths(tmp_path):
    """Past the check (a directory removed, a FIFO made meanwhile), the C
    writer refuses the same paths with the same OSError subclasses, errno
    and file name, leaving the target as it was and no temporary file: the
    in-process dump and export_heapsnapshot alike."""
    good = str(tmp_path / "good.rcsnap")
    refchain.dump(good)
    snap = refchain.load(good)
    cases = [case for case in _bad_targets(tmp_path) if case[0]]   # "" below
    before = _kinds(tmp_path)
    for path, cls, err in cases[:4]:
        for write in (lambda p: refchain._snapshot._dump(p, True, False), snap._c.export):
            with pytest.raises(cls) as info:
                write(path)
            assert info.value.errno == err and info.value.filename == path, path
    assert _kinds(tmp_path) == before
    with pytest.raises(FileNotFoundError, match="the path is empty"):
        snap._c.export("")
    with pytest.raises(FileExistsError, match="a FIFO is there"):
        snap.export_heapsnapshot(cases[0][0])
    assert _kinds(tmp_path) == before


def test_a_place_nobody_may_write(tmp_path):
    """/sys takes no new file, even from root: the errno of the refusal
    (EACCES, or EROFS where it is mounted read-only), the path named, no
    file left."""
    path = "/sys/refchain-test.rcsnap"
    with pytest.raises(OSError) as info:
        refchain.dump(path)
    assert info.value.errno in (errno.EACCES, errno.EROFS) and info.value.filename == path
    assert type(info.value) is (PermissionError if info.value.errno == errno.EACCES else OSError)
    assert not any(name.startswith("refchain-test") for name in os.listdir("/sys"))
    if os.geteuid() != 0:       # root writes in a directory of mode 0500
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="is not writable"):
            refchain.dump(str(ro / "x.rcsnap"))


THREADS = """
import threading, refchain, time
stop = False
shared = {}

def churn(k):
    n = 0
    while not stop:
        shared[(k, n % 500)] = [bytes(64), {"k": n}]
        shared.pop((k, (n + 250) % 500), None)
        n += 1

threads = [threading.Thread(target=churn, args=(k,), name="churn-%d" % k) for k in range(4)]
for t in threads:
    t.start()
sizes = []
for i in range(5):
    refchain.dump("t%d.rcsnap" % i)
    sizes.append(len(refchain.load("t%d.rcsnap" % i)))
    time.sleep(0.02)
stop = True
for t in threads:
    t.join()
snap = refchain.load("t4.rcsnap")
print(min(sizes) > 1000)
print(snap.find_chain(id(shared)))
"""


def test_dumps_while_threads_mutate_the_heap(run_script):
    """Five dumps while four threads churn a shared dict: each file loads,
    and its chains read."""
    proc = run_script(THREADS)
    ok, chain = proc.stdout.strip().split("\n")
    assert ok == "True"
    assert chain.startswith("module __main__ → ['shared'] dict (")


DUMP_FAILURES = """
import os, sys, refchain
from refchain import _refchain

keep = [{"k%d" % i: (i, "v%d" % i, i + 0.5)} for i in range(3000)]
refchain.dump("old.rcsnap")
old = open("old.rcsnap", "rb").read()
_refchain._fail_after(-1)
refchain.dump("new.rcsnap")
total = _refchain._fail_after(-1)   # the allocations one dump makes
points = sorted(set(list(range(40)) + [total * k // 200 for k in range(200)]))
failed = 0
for n in points:
    _refchain._fail_after(n)
    try:
        refchain.dump("old.rcsnap")
    except MemoryError as e:
        failed += 1
        assert not str(e) or "old.rcsnap" in str(e), str(e)   # bare: before the file
    finally:
        _refchain._fail_after(-1)
    # Failed, the file is the one before, and no temporary file is left;
    # written, it loads.
    if open("old.rcsnap", "rb").read() != old:
        assert len(refchain.load("old.rcsnap")) > 3000
        refchain.dump("old.rcsnap")
        old = open("old.rcsnap", "rb").read()
    assert sorted(os.listdir(".")) == ["new.rcsnap", "old.rcsnap", "script.py"], os.listdir(".")
print(total, len(points), failed)
"""


def test_a_dump_that_runs_out_of_memory_leaves_the_file_before(run_script):
    """Make the n-th C allocation of a dump fail, at 200 points through it
    (the capture, the naming of references on this thread, the writing on
    the writer's): each ends in MemoryError (naming the file once it is
    being written), or in a file that loads; a failed one leaves the file
    before it as it was."""
    total, points, failed = map(int, run_script(DUMP_FAILURES).stdout.split())
    assert total > 10000
    assert failed > points // 2


CACHE_LEAK = """
import refchain

_CACHE = {}

def handle(request_id):
    page = _CACHE.get(request_id)
    if page is None:
        page = _CACHE[request_id] = bytes(1024)
    return page

for request_id in range(1000):
    handle(request_id)
refchain.dump("before.rcsnap")
for request_id in range(1000, 1500):
    handle(request_id)
refchain.dump("after.rcsnap")
refchain.load("after.rcsnap").export_heapsnapshot("after.heapsnapshot")
refchain.load("before.rcsnap").export_heapsnapshot("before.heapsnapshot")
"""

MEMLAB_READ = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools", "memlab-read")


def _memlab(path, name, min_size=0):
    proc = subprocess.run(["node", MEMLAB_READ, str(path), "--name", name, "--min-size",
                           str(min_size)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_memlab_reads_the_export_of_the_cache_leak(run_script, tmp_path):
    """The classic cache leak (a module dict caching bytes(1024) per request
    id) exported as a .heapsnapshot: memlab's own heap analysis counts the
    1,500 pages and their retainer path runs through the global _CACHE."""
    run_script(CACHE_LEAK, name="app.py")
    after = tmp_path / "after.heapsnapshot"
    assert stat.S_IMODE(os.stat(str(after)).st_mode) == 0o600
    got = _memlab(after, "bytes", 1024)
    snap = refchain.load(str(tmp_path / "after.rcsnap"))
    census = dict(snap.census().items())
    # A str node is named by its value, as V8 names strings: the few strs
    # 'bytes' count under that name too.
    assert 0 <= got["by_name"]["bytes"]["count"] - census["bytes"][0] < 5
    assert census["bytes"][0] >= 1500
    assert got["by_name"]["bytes"]["self_size"] >= 1500 * (1024 + 33)
    assert got["nodes"] == len(snap) + 1            # and memlab's "(GC roots)"
    edges = [step["edge"] for step in got["path"] if "edge" in step]
    nodes = [step["node"] for step in got["path"] if "node" in step]
    assert "_CACHE" in [str(e).strip("'[]") for e in edges], got["path"]
    assert nodes[-1] == "bytes"
    # The same object keeps its id across the two dumps (DevTools' comparison).
    with open(str(tmp_path / "before.heapsnapshot")) as f:
        before = json.load(f)
    with open(str(after)) as f:
        later = json.load(f)

    def ids_by_name(snapshot):
        meta = snapshot["snapshot"]["meta"]
        width = len(meta["node_fields"])
        names, strings = meta["node_fields"].index("name"), snapshot["strings"]
        ids = meta["node_fields"].index("id")
        nodes = snapshot["nodes"]
        return [(strings[nodes[i + names]], nodes[i + ids]) for i in range(0, len(nodes), width)]

    old = set(i for name, i in ids_by_name(before) if name == "_CACHE") or \
        set(i for _, i in ids_by_name(before))
    new = set(i for _, i in ids_by_name(later))
    assert len(old & new) > 0.9 * len(old)


def test_a_snapshot_is_freed_when_its_last_reference_goes(tmp_path):
    """A loaded snapshot holds the whole heap (about 100 bytes an object):
    once the caller drops it, and whatever it answered, it is freed then,
    not at the next run of the cycle collector, which may be minutes away.
    (Its caches of SnapNodes and of its drawing view, each referring back
    to it, made a cycle.)"""
    import gc
    import weakref

    holder = [bytearray(16) for _ in range(3)]
    path = str(tmp_path / "heap.rcsnap")
    refchain.dump(path)
    enabled = gc.isenabled()
    gc.disable()
    try:
        snap = refchain.load(path)
        rows = snap.growth(limit=3)
        snap.explain("bytearray", limit=2)
        chain = snap.find_chain(id(holder[1]))
        assert "bytearray" in str(chain)
        snap.show_chain(chain, filename=str(tmp_path / "chain.dot"))
        snap.show_backrefs([id(holder[0])], filename=str(tmp_path / "backrefs.dot"))
        assert snap.garbage() is not None and rows
        del chain
        alive = weakref.ref(snap)
        del snap
        assert alive() is None
    finally:
        if enabled:
            gc.enable()


@pytest.mark.parametrize("dump", ["plain", "fork"])
def test_classes_made_at_runtime_read_the_same_from_a_file(run_script, dump):
    from test_chains import registry_answers
    got = registry_answers(run_script, dump)
    snap = got.pop("snap")
    for key in ("model", "session", "inner", "groups"):
        assert snap[key] == got[key], key
    assert snap["model"].startswith("class __main__.PluginMeta \u2192 .registry dict")
    assert snap["retained"][1] > 300 * 4


def test_float_values_read_as_their_repr(tmp_path):
    # A float's value is repr(x): CPython's shortest digits, or the exact
    # decimal where it has at most 15 digits (written without the search).
    import math
    import random
    rng = random.Random(5)
    floats = [0.0, -0.0, 0.5, -12345.25, 1000.0, 1e15, 1e16, 0.1, 1 / 3, 2.0 ** -20,
              2.0 ** -22, 1e-05, 0.0001, 1e22, 5e-324, 2.0 ** 49, 2.0 ** 50, 123456789012345.0,
              -1.8446786130029314e+19, float("inf"), float("-inf"), float("nan")]
    floats += [rng.randint(-10 ** 6, 10 ** 6) / 2 ** rng.randint(0, 30) for _ in range(3000)]
    floats += [math.ldexp(rng.getrandbits(rng.randint(1, 53)) | 1, rng.randint(-70, 70))
               for _ in range(3000)]
    floats += [rng.random() * 10 ** rng.randint(-8, 20) for _ in range(1000)]
    path = str(tmp_path / "floats.rcsnap")
    refchain.dump(path)
    snap = refchain.load(path)
    wrong = [(repr(x), snap.node(id(x)).value) for x in floats
             if snap.node(id(x)).value != repr(x).encode()]
    assert not wrong, wrong[:10]
