"""Sizes: sys.getsizeof's measure where refchain can trust the type's
__sizeof__ to run no Python code, the layout size flagged as a lower bound
where it cannot, and never a call into code it does not trust."""

import json
import os
import subprocess
import sys
import sysconfig

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def spoof_dir(tmp_path_factory):
    """Builds tests/py/ext/spoof.c for this interpreter; returns its folder."""
    out = tmp_path_factory.mktemp("spoof")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    cmd = ["cc", "-shared", "-fPIC", "-O1", "-I", sysconfig.get_paths()["include"],
           os.path.join(HERE, "ext", "spoof.c"), "-o", str(out / ("rc_spoof" + suffix))]
    if sysconfig.get_config_var("Py_DEBUG"):
        cmd.insert(1, "-DPy_DEBUG")
    subprocess.run(cmd, check=True)
    return str(out)


def test_a_spoofed_type_name_never_gets_its_sizeof_called(run_script, spoof_dir):
    proc = run_script("""
        import sys
        sys.path.insert(0, %r)
        import refchain, rc_spoof

        calls = []
        rc_spoof.set_hook(lambda obj: calls.append(1))
        objs = [rc_spoof.SpoofedSizer() for _ in range(100)]
        refchain.show_growth()
        c = refchain.census()
        row = c["_io.SpoofedSizer"]
        print("calls", len(calls))
        print("row", row.count, row.bytes, getattr(row, "bytes_lower_bound", None))
        refchain.find_chain(objs[0])
        refchain.explain(rc_spoof.SpoofedSizer)
        print("calls after questions", len(calls))
        more = [rc_spoof.SpoofedSizer() for _ in range(100)]
        refchain.show_growth()
        print("getsizeof", sys.getsizeof(objs[0]), len(calls))
    """ % spoof_dir)
    out = proc.stdout
    assert "calls 0\n" in out
    assert "row 100 %d True\n" % (100 * object.__basicsize__) in out
    assert "calls after questions 0\n" in out
    growth = [line for line in out.splitlines() if line.startswith("SpoofedSizer")]
    assert growth and growth[-1].split()[1:3] == ["200", "+100"]
    assert ">=+" in growth[-1]
    # The hook works: sys.getsizeof calls it (12345 plus no GC header).
    assert "getsizeof 12345 1\n" in out


def test_an_uninitialised_struct_is_counted(run_script):
    # CPython's Struct.__sizeof__ reads a NULL pointer on an instance whose
    # __init__ never ran: a census used to crash on it.
    proc = run_script("""
        import struct
        import refchain

        class Lazy(struct.Struct):
            def __init__(self, *args):
                pass

        objs = [Lazy("i") for _ in range(10)]
        ready = struct.Struct("ii")
        c = refchain.census()
        row = c["__main__.Lazy"]
        print(row.count, getattr(row, "bytes_lower_bound", None),
              row.bytes >= 10 * type(ready).__basicsize__)
        refchain.show_growth()
        print(refchain.find_chain(objs[3]))
    """)
    assert proc.stdout.splitlines()[0] == "10 True True"
    assert "['objs'] list" in proc.stdout


def test_sizes_of_trusted_core_types_are_exact(run_script):
    proc = run_script("""
        import collections, io, sys
        import refchain
        from refchain import _refchain

        objs = [collections.deque(range(50)), bytearray(3000),
                {i: i for i in range(100)}, [None] * 77, "é" * 40, 10 ** 100]
        for o in objs:
            assert _refchain._shallow_size(o) == sys.getsizeof(o), (type(o), _refchain._shallow_size(o), sys.getsizeof(o))
            assert not _refchain._size_is_lower_bound(o), type(o)
        print("ok")
    """)
    assert proc.stdout == "ok\n"


def test_a_bytesio_counts_its_buffer_once(run_script):
    # From 3.12 a BytesIO's traversal visits its buffer, a bytes object that
    # is a node of its own, and its __sizeof__ still adds the buffer's size:
    # the BytesIO is sized by its layout then, so the data counts once.
    proc = run_script("""
        import gc, io, json, sys
        import refchain
        from refchain import _refchain

        class Sub(io.BytesIO):
            pass

        before = refchain.census()
        KEEP = [io.BytesIO(b"y" * 100000) for _ in range(5)] + [Sub(b"y" * 100000)]
        for b in KEEP:
            b.write(b"z")   # its own buffer, not shared with the bytes it was made from
        after = refchain.census()
        out = {"growth": sum(after[name].bytes - (before[name].bytes if name in before else 0)
                             for name in ("_io.BytesIO", "__main__.Sub", "bytes"))}
        for tag, b in (("bytesio", KEEP[0]), ("sub", KEEP[-1])):
            bufs = [sys.getsizeof(r) for r in gc.get_referents(b) if type(r) is bytes]
            out[tag] = {"getsizeof": sys.getsizeof(b), "shallow": _refchain._shallow_size(b),
                        "lower": _refchain._size_is_lower_bound(b), "bufs": bufs,
                        "retained": list(refchain.retained(b))}
        print(json.dumps(out))
    """)
    out = json.loads(proc.stdout)
    for tag in ("bytesio", "sub"):
        b = out[tag]
        assert len(b["bufs"]) == (1 if sys.version_info >= (3, 12) else 0)
        assert b["shallow"] + sum(b["bufs"]) == b["getsizeof"]
        assert not b["lower"]
        assert b["retained"] == [b["getsizeof"], 1 + len(b["bufs"])]
    # Six buffers of 100,001 bytes, not twelve.
    assert 600006 <= out["growth"] < 700000


def test_str_int_list_and_dict_sizes_read_inline_are_getsizeofs(run_script):
    """A capture reads exact str, int and list sizes from their layout, and
    a dict's from dict.__sizeof__'s own function, not by calling __sizeof__
    (which makes an int): every shape of them weighs what sys.getsizeof
    says, including a str with a cached UTF-8 copy (type() caches its
    name's), which it sizes by the call, and a dict subclass (sized by its
    own __sizeof__)."""
    proc = run_script("""
        import collections, os, sys, tempfile
        import refchain

        cached = "nom\u00e9" * 5
        T = type(cached, (), {})
        wide = "\U0001F600" * 3
        OBJS = ["", "x", "ascii" * 30, "caf\u00e9" * 9, "\u20ac" * 11, wide, cached,
                0, 1, -1, 2 ** 30, -(2 ** 62), 10 ** 100, True,
                {}, {"a": 1}, {i: i for i in range(1000)}, dict.fromkeys("abcdefgh"),
                T().__dict__, collections.OrderedDict(a=1), collections.defaultdict(int, b=2),
                [], [None] * 7, list(range(100)), [1, 2]]
        OBJS[-1].append(3)                  # over-allocated
        inst = T()
        inst.x, inst.y = 1, 2
        OBJS.append(inst.__dict__)          # a split table, keys shared with T's
        path = os.path.join(tempfile.mkdtemp(), "s.rcsnap")
        refchain.dump(path, values=False)
        snap = refchain.load(path)
        for o in OBJS:
            node = snap.node(id(o))
            assert node.size == sys.getsizeof(o), (repr(o)[:40], node.size, sys.getsizeof(o))
        c = refchain.census()
        print("ok", c["str"].count > 0)
    """)
    assert proc.stdout == "ok True\n"


numpy_python = "/usr/bin/python3"


@pytest.mark.skipif(
    sys.executable != numpy_python and os.path.realpath(sys.executable) != os.path.realpath(numpy_python),
    reason="Debian's python3-numpy is built for Debian's python3 only")
def test_numpy_arrays_and_scalars_weigh_what_getsizeof_says(run_script):
    proc = run_script("""
        import sys
        import numpy as np
        import refchain

        refchain.show_growth(limit=0)
        arrays = [np.zeros(1 << 17) for _ in range(200)]    # 1 MiB of data each
        views = [a[::2] for a in arrays[:10]]                 # no data of their own
        scalars = [np.float64(i) for i in range(1000)] + [np.int32(i) for i in range(500)]
        refchain.show_growth()
        before = refchain.census()
        del arrays, views, scalars
        after = refchain.census()
        print("ndarray", before["numpy.ndarray"].bytes - after["numpy.ndarray"].bytes)
        print("float64", before["numpy.float64"].bytes - after["numpy.float64"].bytes)
        print("int32", before["numpy.int32"].bytes - after["numpy.int32"].bytes)
        print("lower", getattr(before["numpy.ndarray"], "bytes_lower_bound", None))
    """ + """
        arrays = [np.zeros(1 << 17) for _ in range(200)]
        views = [a[::2] for a in arrays[:10]]
        scalars = [np.float64(i) for i in range(1000)] + [np.int32(i) for i in range(500)]
        print("expect", sum(map(sys.getsizeof, arrays + views)),
              sum(map(sys.getsizeof, scalars[:1000])), sum(map(sys.getsizeof, scalars[1000:])))
    """)
    lines = dict(line.split(None, 1) for line in proc.stdout.splitlines() if " " in line)
    expect = lines["expect"].split()
    assert lines["ndarray"] == expect[0]
    assert lines["float64"] == expect[1]
    assert lines["int32"] == expect[2]
    assert lines["lower"] == "False"
    growth = [line for line in proc.stdout.splitlines() if line.startswith("ndarray")]
    assert growth and growth[0].split()[2] == "+210" and growth[0].split()[3] == "+200.0"


@pytest.mark.skipif(
    sys.executable != numpy_python and os.path.realpath(sys.executable) != os.path.realpath(numpy_python),
    reason="Debian's python3-numpy is built for Debian's python3 only")
def test_a_view_keeps_its_base_array_and_refchain_follows_it(run_script, tmp_path):
    # ndarray is not a GC type: nothing traverses a view's base.  A service
    # that keeps 8 elements of each request's 1 MB array keeps the whole
    # array: the census, retained(), find_chain and a dump must see it.
    proc = run_script("""
        import json
        import numpy as np
        import refchain

        HEADERS = []

        def handle(i):
            raw = np.empty(1 << 17)                  # 1 MiB of data
            raw[:] = i
            HEADERS.append(raw[:8])
            HEADERS.append(np.frombuffer(b"x" * 4096 + bytes([i % 256]), dtype=np.uint8)[:4])

        start = refchain.census()
        for i in range(50):
            handle(i)
        grew = {row.name: row for row in refchain.census() - start}
        nbytes, count = refchain.retained(HEADERS)
        chain = refchain.find_chain(HEADERS[10].base)
        data = refchain.find_chain(HEADERS[11].base.base)
        refchain.dump("views.rcsnap")
        snap = refchain.load("views.rcsnap")
        print(json.dumps([grew["numpy.ndarray"].delta, grew["numpy.ndarray"].bytes_delta,
                          grew["bytes"].delta, nbytes, count, str(chain), str(data),
                          str(snap.find_chain(id(HEADERS[10].base))),
                          [str(g) for g in refchain.explain("numpy.ndarray", limit=2)]]))
    """)
    n, nbytes, n_bytes, retained, count, chain, data, from_file, groups = json.loads(proc.stdout)
    assert n == 200 and nbytes > 50 << 20, (n, nbytes)   # views, bases, frombuffer arrays, views
    assert n_bytes >= 50
    assert retained > 50 << 20 and count >= 1 + 200, (retained, count)
    assert chain.startswith("module __main__ → ['HEADERS'] list → [10] ndarray → .base ndarray"), chain
    assert data.startswith("module __main__ → ['HEADERS'] list → [11] ndarray → .base ndarray"
                           " → .base bytes"), data
    assert from_file == chain
    assert any("→ .base ndarray" in g for g in groups), groups
