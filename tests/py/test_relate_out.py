"""rc_relate_out (walker/relate.c): all of a referrer's references named in
one pass, as a snapshot names every edge.  Through the test-only module
_rc_probe (tests/py/ext/relate_probe.c): relate_out(parent, capture)
returns (labels, allocations, mismatch), mismatch being the first referent
index where rc_relate_out's relation differs from rc_relate's (-1: none),
and allocations the Python allocations and reference changes it made (in
capture mode, where it must make none); relate_out_size(parent, capture)
returns (referents, encoded bytes, CPU seconds of rc_relate_out)."""

import collections
import functools
import gc
import sys
import threading
import types

import _rc_probe
import pytest


def check(obj):
    """obj's referents named by rc_relate_out exactly as by rc_relate, in
    both modes; capture mode allocates nothing.  Returns the live labels."""
    live, _, bad = _rc_probe.relate_out(obj, False)
    assert bad == -1, (type(obj), bad, live)
    captured, allocs, bad = _rc_probe.relate_out(obj, True)
    assert bad == -1, (type(obj), bad, captured)
    assert allocs == 0, (type(obj), allocs)
    assert len(live) == len(captured) == len(gc.get_referents(obj))
    return live


class Collides:
    """Keys whose hashes collide and whose __eq__ must never run while
    armed (building the dict compares them)."""

    armed = False

    def __init__(self, n):
        self.n = n

    def __hash__(self):
        return 1

    def __eq__(self, other):
        if Collides.armed:
            raise AssertionError("relate ran __eq__")
        return self is other


class Plain:
    pass


class Slotted:
    __slots__ = ("first", "second", "__dict__")


class Big:
    pass


def make_closure():
    x = [1]
    y = {"y": 2}

    def inner():
        return x, y

    return inner


def gen(start):
    local = [start]
    yield local
    yield start


@types.coroutine
def pause():
    yield


async def coro(value):
    held = [value]
    await pause()
    return held


@functools.lru_cache(maxsize=None)
def unbounded(key):
    return [key]


@functools.lru_cache(maxsize=8)
def bounded(key):
    return [key]


def test_dicts_with_all_kinds_of_keys():
    shared = Plain()
    d = {"name": shared, 7: shared, (1, "a"): [1], None: 2.5, 2 ** 70: "big", b"raw": Plain(),
         1.5: [2], frozenset(): [3]}
    labels = check(d)
    assert "[(1, 'a')]" in labels and "[None]" in labels and "key of dict" in labels
    # A value under two keys reads as its first key, as rc_relate reads it.
    assert labels.count("['name']") == 2 and "[7]" not in labels
    colliding = {Collides(i): Plain() for i in range(50)}
    Collides.armed = True
    try:
        check(colliding)
    finally:
        Collides.armed = False
    check({str(i): i for i in range(1000)})
    check({})


def test_modules_classes_and_instances():
    check(sys.modules[__name__])
    check(sys.modules[__name__].__dict__)
    check(Plain)
    check(Slotted)
    check(int)
    plain = Plain()
    plain.a, plain.b, plain.c = [1], {"b": 2}, Plain()
    labels = check(plain)
    # Inline values (3.11+) name each attribute; a dict is one reference.
    assert {".a", ".b", ".c"} <= set(labels) or ".__dict__" in labels
    plain_dict = Plain()
    plain_dict.__dict__["x y"] = [1]
    plain_dict.__dict__.update({str(i): [i] for i in range(100)})   # past inline values
    check(plain_dict)
    check(vars(plain_dict))
    slotted = Slotted()
    slotted.first, slotted.second, slotted.third = [1], [2], [3]
    assert {".first", ".second"} <= set(check(slotted))
    big = Big()
    for i in range(200):
        setattr(big, "attr%d" % i, [i])
    check(big)


def test_functions_frames_generators_and_coroutines():
    f = make_closure()
    check(f)
    check(f.__closure__)
    check(f.__closure__[0])
    check(f.__code__)
    check(sys._getframe())
    g = gen(5)
    next(g)
    check(g)
    check(g.gi_frame)
    c = coro(3)
    c.send(None)
    check(c)
    c.close()
    check(functools.partial(print, 1, sep=[1]))
    check(types.MethodType(make_closure, Plain()))


def test_lru_cache_deque_set_local_and_futures():
    for i in range(20):
        unbounded(i)
        bounded(i)
    check(unbounded)
    check(bounded)
    item = Plain()
    check(collections.deque([item, 1, item, "x"] * 100))
    check({Plain() for _ in range(100)} | {1, "a"})
    check(frozenset([1, 2, Plain()]))
    local = threading.local()
    local.x = [1]
    check(local)

    def worker():
        local.y = [2]
        check(local)

    t = threading.Thread(target=worker)
    t.start()
    t.join()



def test_asyncio_futures_and_tasks(run_script):
    # In a fresh interpreter: once asyncio has run, CPython 3.12.1 may loop
    # traversing _asyncio's state (its FutureIter free list), and every
    # capture of the suite's own heap would.
    proc = run_script("""
import asyncio, gc, _rc_probe
from asyncio import futures

def check(obj):
    for capture in (True, False):
        labels, allocs, bad = _rc_probe.relate_out(obj, capture)
        assert bad == -1 and (allocs == 0 or not capture), (type(obj), bad, allocs, labels)
        assert len(labels) == len(gc.get_referents(obj))
    print(type(obj).__name__, labels)       # live: the C futures' fields named

async def main():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fut.add_done_callback(lambda f: None)
    fut.add_done_callback(lambda f: None)
    task = asyncio.ensure_future(asyncio.sleep(0.01, [1]))
    fut.set_result([2])
    check(fut)
    check(task)
    pyfut = futures._PyFuture(loop=loop)
    pyfut.set_result([3])
    check(pyfut)
    await task

asyncio.run(main())
""")
    assert ".result()" in proc.stdout and ".get_coro()" in proc.stdout


def test_every_object_of_a_fresh_heap(run_script):
    # In a fresh interpreter, so that the heap is what these imports and a
    # run of asyncio make (the suite's own heap depends on the tests run).
    proc = run_script("""
import asyncio, collections, functools, gc, resource, sys, threading, types
import _rc_probe
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))   # a runaway fails, not the box

async def main():
    await asyncio.sleep(0)
asyncio.run(main())
gc.collect()
checked = 0
for obj in gc.get_objects():
    if type(obj) is types.ModuleType and obj.__name__ == "_asyncio":
        # CPython 3.12.1: once asyncio has run, a second traversal of
        # _asyncio's state may loop on its FutureIter free list
        # (gc.get_referents alone hangs), whoever traverses it.
        continue
    if len(gc.get_referents(obj)) > 2000:
        continue            # compared edge by edge: quadratic
    for capture in (False, True):
        labels, allocs, bad = _rc_probe.relate_out(obj, capture)
        assert bad == -1 and (allocs == 0 or not capture), (type(obj), bad, allocs, labels)
    checked += 1
print("checked", checked)
""")
    assert int(proc.stdout.split()[-1]) > 10000


def test_a_million_entry_dict_is_named_in_well_under_a_second():
    cache = {str(i): Plain() for i in range(1_000_000)}
    n, size, seconds = _rc_probe.relate_out_size(cache, True)
    assert n == 1_000_000
    assert size < 9 * n                       # `'123456` per edge
    assert seconds < 1.0, seconds
    ints = {i: i for i in range(1_000_000)}  # keys and values visited: 2M edges
    n, size, seconds = _rc_probe.relate_out_size(ints, True)
    assert n == 2_000_000 and seconds < 2.0, seconds
    items = list(cache.values())
    n, size, seconds = _rc_probe.relate_out_size(items, True)
    assert n == 1_000_000 and seconds < 1.0, seconds


def test_an_allocation_failure_clears_everything():
    d = {str(i): [i] for i in range(50)}
    expected = _rc_probe.relate_out(d, True)
    _rc_probe.fail_after(-1)
    _rc_probe.relate_out_size(d, True)
    points = _rc_probe.fail_after(-1)
    assert points > 50
    for n in list(range(0, points, max(1, points // 40))):
        _rc_probe.fail_after(n)
        try:
            with pytest.raises(MemoryError):
                _rc_probe.relate_out_size(d, True)
        finally:
            _rc_probe.fail_after(-1)
    assert _rc_probe.relate_out(d, True) == expected
