"""relate's capture mode (RC_RELATE_CAPTURE), which a capture runs for
every edge: it must create no Python object, run no Python code and take
no reference.  The test-only module _rc_probe (tests/py/ext/relate_probe.c,
built next to the package from the same walker sources) runs it:
_rc_probe.relate_captured(objs, edges) counts every Python allocation
(PYMEM_DOMAIN_OBJ and PYMEM_DOMAIN_MEM) with a hook and returns (steps,
allocations, reference changes of objs); each path and each referent of each referrer here is named in both
modes, and the labels must agree but where capture mode is documented to
read less: the C asyncio futures' fields (`<referent #k>`) and an int key
past 64 bits (`<int>`)."""

import asyncio
import collections
import contextvars
import functools
import gc
import queue
import sys
import threading
import types

import _rc_probe
import pytest

from refchain import _refchain

PY311 = sys.version_info >= (3, 11)


def edges_of(objs):
    edges = []
    for parent, child in zip(objs, objs[1:]):
        refs = gc.get_referents(parent)
        edges.append(next((i for i, r in enumerate(refs) if r is child), -1))
    return tuple(edges)


def both(objs, edges):
    """(live labels, capture labels) of a path, checking that capture mode
    allocated nothing and changed no reference count."""
    objs = tuple(objs)
    live_steps = _refchain._label_path(objs, edges)
    live = [label for _, label in live_steps]
    steps, allocs, changed = _rc_probe.relate_captured(objs, edges)
    assert (allocs, changed) == (0, 0), (live, allocs, changed)
    # Offline (as a loaded snapshot reads them), each mode reads the same.
    assert _rc_probe.offline_path(objs, edges, 0, 0, False) == live_steps
    assert _rc_probe.offline_path(objs, edges, 0, 0, True) == steps
    return live, [label for _, label in steps]


def labels(*objs):
    """The labels of the path objs[0] -> objs[1] -> ..., the same in both
    modes."""
    live, captured = both(objs, edges_of(objs))
    assert captured == live
    return captured


def sweep(parent, differs=lambda k, live, captured: False):
    """Every referent of parent, named in both modes: the labels are the
    same unless differs(k, live, captured) says the difference is
    expected.  Returns the labels (live, captured) by index."""
    found = []
    for k, child in enumerate(gc.get_referents(parent)):
        live, captured = both((parent, child), (k,))
        assert captured == live or differs(k, live[0], captured[0]), (k, live, captured)
        found.append((live[0], captured[0]))
    return found


class Item:
    pass


class Slotted:
    __slots__ = ("first", "second")


def test_the_check_counts_allocations():
    # Live mode's repr of a big int allocates; the counter must see it if
    # it ran in capture mode, and capture mode must not run it.
    key = 2 ** 70
    item = Item()
    d = {key: item}
    live, captured = both((d, item), edges_of((d, item)))
    assert live == ["[1180591620717411303424]"]
    assert captured == ["[<int>]"]
    assert labels({-2 ** 63: item}, item) == ["[-9223372036854775808]"]


@pytest.mark.parametrize("key, text", [
    ("name", "['name']"),
    ("it's", "[\"it's\"]"),
    ("x" * 60, "['" + "x" * 36 + "...]"),
    (b"raw\x00", "[b'raw\\x00']"),
    (7, "[7]"),
    (1.5, "[1.5]"),
    (-0.0, "[-0.0]"),
    (1e16, "[1e+16]"),
    (1e-5, "[1e-05]"),
    (0.0001, "[0.0001]"),
    (123456789.0, "[123456789.0]"),
    (2.0 ** -1022, "[2.2250738585072014e-308]"),
    (float("inf"), "[inf]"),
    (float("-inf"), "[-inf]"),
    (None, "[None]"),
    (True, "[True]"),
    ((1, "a", 2.5), "[(1, 'a', 2.5)]"),
    (tuple(range(20)), "[(0, 1, 2, 3, 4, 5, 6, 7, ...)]"),
    (frozenset(), "[<frozenset>]"),
    ("é\u200b", "['é\\u200b']"),
])
def test_dict_keys(key, text):
    item = Item()
    d = {key: item}
    assert labels(d, item) == [text]
    sweep(d)


def test_float_keys_read_as_repr_in_capture_mode():
    # Capture mode formats floats itself (PyOS_double_to_string allocates):
    # the shortest digits that read back, as repr() lays them out.
    import random
    import struct
    rng = random.Random(12)
    keys = [float(2 ** k) for k in range(-1074, 1024, 7)]
    keys += [struct.unpack("d", rng.getrandbits(64).to_bytes(8, "little"))[0]
             for _ in range(3000)]
    keys += [rng.random() * 10 ** rng.randint(-25, 25) for _ in range(3000)]
    keys += [5e-324, sys.float_info.max, 1e22, 1e23, 0.1, 1 / 3, 9007199254740993.0]
    item = Item()
    for key in keys:
        if key != key:
            continue
        steps, allocs, changed = _rc_probe.relate_captured(({key: item}, item), (1,))
        assert (steps[0][1], allocs, changed) == ("[%r]" % key, 0, 0)


def test_containers():
    item = Item()
    for parent, text in [([0, 1, item], "[2]"), ((item,), "[0]"),
                         (collections.deque([1, 2, item]), "[2]"),
                         ({item}, "member"), (frozenset([item]), "member")]:
        assert labels(parent, item) == [text]
        sweep(parent)
    key = Item()
    assert labels({key: 1}, key) == ["key of dict"]


def test_namespaces_and_types():
    module = types.ModuleType("mod")
    module.VALUE = item = Item()
    assert labels(module, module.__dict__, item) == ["['VALUE']"]
    assert labels(module, module.__dict__) == [".__dict__"]

    class Holder:
        shared = Item()
    ns = gc.get_referents(Holder.__dict__)[0]
    assert labels(Holder, ns, Holder.shared) == [".shared"]
    assert labels(Holder, Holder.__mro__) == [".__mro__"]
    assert labels(Holder, Holder.__bases__) == [".__bases__"]
    assert labels(Holder, object) == [".__base__"]
    sweep(Holder)
    sweep(module)


def test_instance_attributes_slots_and_inline_values():
    plain = Item()
    plain.attr = item = Item()
    refs = gc.get_referents(plain)
    if PY311 and not any(type(r) is dict for r in refs):
        assert labels(plain, item) == [".attr"]      # inline values
    else:
        assert labels(plain, plain.__dict__, item) == [".attr"]
    assert labels(plain, Item) == [".__class__"]
    sweep(plain)
    slotted = Slotted()
    slotted.second = item
    assert labels(slotted, item) == [".second"]
    sweep(slotted)
    with_dict = Item()
    with_dict.__dict__["other"] = item
    if any(r is with_dict.__dict__ for r in gc.get_referents(with_dict)):
        assert labels(with_dict, with_dict.__dict__, item) == [".other"]
    else:
        assert labels(with_dict, item) == [".other"]
    sweep(with_dict)


def make_closure():
    captured = Item()

    def inner(a=Item(), *, b=Item()):
        return captured
    return inner


def test_functions_cells_and_methods():
    f = make_closure()
    cell = f.__closure__[0]
    assert labels(f, f.__closure__, cell, cell.cell_contents) == ["closure 'captured'"]
    assert labels(f, f.__closure__, cell) == ["closure cell 'captured'"]
    assert labels(cell, cell.cell_contents) == [".cell_contents"]
    assert labels(f, f.__defaults__) == [".__defaults__"]
    assert labels(f, f.__kwdefaults__) == [".__kwdefaults__"]
    assert labels(f, f.__globals__) == [".__globals__"]
    assert labels(f, f.__globals__, Item) == [".__globals__", "['Item']"]
    method = types.MethodType(f, Item())
    assert labels(method, method.__self__) == [".__self__"]
    assert labels(method, f) == [".__func__"]
    for parent in (f, cell, method, f.__code__):
        sweep(parent)


def test_exceptions_tracebacks_and_frames():
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError("outer", Item()) from inner
    except ValueError as e:
        exc = e
    tb = exc.__traceback__
    assert labels(exc, tb) == [".__traceback__"]
    assert labels(exc, exc.__cause__) == [".__cause__"]
    assert labels(exc, exc.__context__) == [".__cause__"]   # the same object
    assert labels(exc, exc.args) == [".args"]
    assert labels(tb, tb.tb_frame) == [".tb_frame"]
    for parent in (exc, exc.__cause__, tb, exc.__cause__.__traceback__):
        sweep(parent)
    del exc

    def outer():
        kept = Item()
        shared = Item()

        def use():
            return shared
        return sys._getframe(), kept, use
    frame, kept, use = outer()
    assert labels(frame, kept) == ["local 'kept'"]
    assert labels(frame, frame.f_code) == [".f_code"]
    assert labels(frame, frame.f_globals, Item) == ["global 'Item'"]
    cell = use.__closure__[0]
    assert labels(frame, cell, cell.cell_contents) == ["local 'shared'"]
    assert labels(frame, cell) == ["cell of local 'shared'"]
    assert frame.f_back is not None
    assert (".f_back", ".f_back") in sweep(frame)
    del frame


def test_generators():
    def gen():
        current = Item()
        yield current
    g = gen()
    value = next(g)
    holder = g.gi_frame if not PY311 else g
    assert labels(holder, value) == ["local 'current'"]
    if not PY311:
        assert labels(g, g.gi_frame, value) == [".gi_frame", "local 'current'"]
    sweep(g)
    sweep(g.gi_frame)


def test_threading_local():
    state = threading.local()
    state.value = item = Item()
    found = sweep(state)
    assert found and all(live == captured for live, captured in found)
    path = [state]
    while path[-1] is not item:
        path.append(next(r for r in gc.get_referents(path[-1])
                         if r is item or isinstance(r, dict) and
                         (item in r.values() or any(
                             isinstance(v, dict) and item in v.values() for v in r.values()))))
        assert len(path) < 6
    assert labels(*path)[-1] == ".value in thread MainThread"


def test_partial_and_lru_cache():
    part = functools.partial(make_closure, Item(), key=Item())
    assert labels(part, part.func) == [".func"]
    assert labels(part, part.args, part.args[0]) == [".args", "[0]"]
    assert labels(part, part.keywords, part.keywords["key"]) == [".keywords", "['key']"]
    sweep(part)
    for maxsize in (4, None):
        @functools.lru_cache(maxsize=maxsize)
        def cached(key):
            return Item()
        result = cached("k")
        cache = next(r for r in gc.get_referents(cached)
                     if type(r) is dict and len(r) == 1 and "k" in r)
        assert labels(cached, cache) == ["lru_cache"]
        if maxsize:
            assert labels(cached, result) == ["['k']"]
        else:
            assert labels(cached, cache, result) == ["['k']"]   # one step
        sweep(cached)


def test_queue_items_buffers_and_context_variables():
    # Once <referent #k> each: a SimpleQueue's items, what a memoryview's
    # buffer exports, and a Context's variables (its HAMT's values).
    q = queue.SimpleQueue()
    items = [Item() for _ in range(3)]
    for item in items:
        q.put(item)
    if sys.version_info >= (3, 13):      # its own ring buffer, in queue order
        assert labels(q, items[2]) == ["[2]"]
    else:                                # a list it alone holds
        lst = next(r for r in gc.get_referents(q) if type(r) is list)
        assert labels(q, lst, items[2]) == ["items", "[2]"]
    sweep(q)
    data = bytearray(16)
    view = memoryview(data)
    buffer, = gc.get_referents(view)
    assert labels(view, buffer, data) == ["managed buffer", ".obj"]
    sweep(view)
    sweep(buffer)
    request, other = contextvars.ContextVar("request_data"), contextvars.ContextVar("o")
    ctx = contextvars.Context()
    ctx.run(lambda: (request.set(items[0]), other.set(items[1])))
    hamt, = gc.get_referents(ctx)
    assert labels(ctx, hamt) == ["variables"]
    # The HAMT's nodes down to each value: one node, or nested ones when
    # the two variables' hashes share their first bits (a 1-in-32 chance).
    to_request, to_other = hamt_path(hamt, items[0]), hamt_path(hamt, items[1])
    assert labels(ctx, hamt, *to_request, items[0])[-1] == "[ContextVar 'request_data']"
    assert labels(to_other[-1], items[1]) == ["[ContextVar 'o']"]
    sweep(ctx)
    for node in to_request + to_other:
        sweep(node)
    del hamt, node, to_request, to_other, buffer


def hamt_path(hamt, value):
    """The HAMT nodes from hamt's root node to the one holding value."""
    paths = [[node] for node in gc.get_referents(hamt)]
    while paths:
        path = paths.pop()
        below = gc.get_referents(path[-1])
        if any(r is value for r in below):
            return path
        paths += [path + [r] for r in below if type(r).__name__.startswith("hamt")]
    raise AssertionError("no HAMT node holds %r" % (value,))


def test_asyncio_futures():
    from asyncio import futures, tasks
    loop = asyncio.new_event_loop()
    try:
        c_future = getattr(futures, "_CFuture", None)
        py_future = futures._PyFuture
        result = Item()
        kinds = [(py_future, False)] + ([(c_future, True)] if c_future else [])
        for cls, is_c in kinds:
            fut = cls(loop=loop)
            fut.add_done_callback(lambda f: None)
            fut.set_result(result)
            found = sweep(fut, lambda k, live, captured, c=is_c:
                          c and captured == "<referent #%d>" % k)
            refs = gc.get_referents(fut)
            for child, text in ((result, ".result()"), (loop, ".get_loop()")):
                k = next((i for i, r in enumerate(refs) if r is child), None)
                if k is None:   # a pure Python future's fields, in its __dict__
                    assert not is_c and labels(fut, vars(fut), child) == [text]
                    continue
                assert found[k] == (text, "<referent #%d>" % k if is_c else text)
            if not is_c:
                assert all(live == captured for live, captured in found)

        async def body():
            await asyncio.sleep(0)
        task_classes = [tasks._PyTask] + ([tasks._CTask] if hasattr(tasks, "_CTask") else [])
        for cls in task_classes:
            task = cls(body(), loop=loop)
            found = sweep(task, lambda k, live, captured: cls is not tasks._PyTask
                          and captured == "<referent #%d>" % k)
            refs = gc.get_referents(task)
            if any(r is loop for r in refs):
                k = next(i for i, r in enumerate(refs) if r is loop)
                assert found[k] == (".get_loop()", ".get_loop()" if cls is tasks._PyTask
                                    else "<referent #%d>" % k)
            else:
                assert labels(task, vars(task), loop) == [".get_loop()"]
            loop.run_until_complete(task)
    finally:
        loop.close()


def test_an_allocation_failure_in_capture_mode_removes_the_hook():
    f = make_closure()
    module = types.ModuleType("mod")
    module.KEY = {("k", 1.5): [f.__closure__[0].cell_contents]}
    path = (module, module.__dict__, module.KEY, module.KEY[("k", 1.5)],
            f.__closure__[0].cell_contents)
    edges = edges_of(path)
    expected = _rc_probe.relate_captured(path, edges)
    _rc_probe.fail_after(-1)
    _rc_probe.relate_captured(path, edges)
    points = _rc_probe.fail_after(-1)
    assert points > 0
    for n in range(points):
        _rc_probe.fail_after(n)
        try:
            with pytest.raises(MemoryError):
                _rc_probe.relate_captured(path, edges)
        finally:
            _rc_probe.fail_after(-1)
        assert [Item() for _ in range(100)]   # allocates without the hook
    assert _rc_probe.relate_captured(path, edges) == expected
    assert expected[0] == ((2, "['KEY']"), (3, "[('k', 1.5)]"), (4, "[0]"))
