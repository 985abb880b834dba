"""Labels relate (walker/relate.c) gives each kind of reference, checked
on paths built here: _chains.label_path(objs, edges), edges being each
object's index among the previous one's gc.get_referents()."""

import collections
import functools
import gc
import sys
import types

import _rc_probe
import pytest

from refchain import _chains, _refchain

PY311 = sys.version_info >= (3, 11)


def labels(*objs):
    """The labels of the path objs[0] -> objs[1] -> ...; offline (each
    referrer's references named by rc_relate_out, encoded, decoded and
    presented, as a loaded snapshot reads them) they read the same."""
    edges = []
    for parent, child in zip(objs, objs[1:]):
        refs = gc.get_referents(parent)
        edges.append(next((i for i, r in enumerate(refs) if r is child), -1))
    found = [label for _, label in _chains.label_path(objs, edges)]
    live = _refchain._label_path(tuple(objs), tuple(edges))
    assert _rc_probe.offline_path(tuple(objs), tuple(edges), 0, 0, False) == live
    for start in range(len(objs)):
        assert (_rc_probe.offline_path(tuple(objs), tuple(edges), start, 1, False)
                == _refchain._label_path(tuple(objs), tuple(edges), start, 1))
    return found


class Plain:
    pass


class Slotted:
    __slots__ = ("first", "second")


class Item:
    pass


@pytest.mark.parametrize("key, text", [
    ("name", "['name']"),
    ("it's", "[\"it's\"]"),
    ("tab\there\n", "['tab\\\\there\\\\n']"),
    ("x" * 60, "['" + "x" * 36 + "...]"),
    (b"raw\x00", "[b'raw\\\\x00']"),
    (7, "[7]"),
    (-2 ** 70, "[-1180591620717411303424]"),
    (1.5, "[1.5]"),
    (float("inf"), "[inf]"),
    (None, "[None]"),
    (True, "[True]"),
    ((1, "a"), "[(1, 'a')]"),
    ((1,), "[(1,)]"),
    ((1, (2, (3, (4,)))), "[(1, (2, (3, <tuple>)))]"),
    (tuple(range(20)), "[(0, 1, 2, 3, 4, 5, 6, 7, ...)]"),
    (frozenset(), "[<frozenset>]"),
    ("é\u200b", "['é\\\\u200b']"),
])
def test_dict_keys_read_as_their_repr(key, text):
    item = Item()
    assert labels({key: item}, item) == [text.replace("\\\\", "\\")]


def test_containers_name_index_member_and_key():
    item = Item()
    assert labels([0, 1, item], item) == ["[2]"]
    assert labels((item,), item) == ["[0]"]
    assert labels(collections.deque([1, 2, item]), item) == ["[2]"]
    assert labels({item}, item) == ["member"]
    assert labels(frozenset([item]), item) == ["member"]
    key = Item()
    assert labels({key: 1}, key) == ["key of dict"]


def test_namespaces_collapse_into_one_step():
    module = types.ModuleType("mod")
    module.VALUE = item = Item()
    assert labels(module, module.__dict__, item) == ["['VALUE']"]
    assert labels(module, module.__dict__) == [".__dict__"]

    class Holder:
        shared = Item()
    ns = gc.get_referents(Holder.__dict__)[0]
    assert labels(Holder, ns, Holder.shared) == [".shared"]
    # A class's MRO (a getter from 3.12, no longer a member) once read
    # '<referent #k>' there.
    assert labels(Holder, Holder.__mro__) == [".__mro__"]
    assert labels(Holder, Holder.__bases__) == [".__bases__"]
    assert labels(Holder, object) == [".__base__"]


def test_instance_attributes_slots_and_class():
    plain = Plain()
    plain.attr = item = Item()
    path = (plain, item) if PY311 and Plain.__dict__ and not any(
        type(r) is dict for r in gc.get_referents(plain)) else (plain, plain.__dict__, item)
    assert labels(*path) == [".attr"]
    assert labels(plain, Plain) == [".__class__"]
    slotted = Slotted()
    slotted.second = item
    assert labels(slotted, item) == [".second"]
    with_dict = Plain()
    with_dict.__dict__["other"] = item       # materialises the dict
    refs = gc.get_referents(with_dict)
    if any(r is with_dict.__dict__ for r in refs):
        assert labels(with_dict, with_dict.__dict__, item) == [".other"]
    else:
        # 3.13: the inline values stay valid beside the dict.  This once read
        # '<attribute>': the name was guessed from code, and no code spells
        # it out; relate reads it from the class's shared keys.
        assert labels(with_dict, item) == [".other"]


def make_closure():
    captured = Item()

    def inner(a=Item(), *, b=Item()):
        return captured
    return inner


def test_functions_methods_and_cells():
    f = make_closure()
    cell = f.__closure__[0]
    assert labels(f, f.__closure__, cell, cell.cell_contents) == ["closure 'captured'"]
    assert labels(f, f.__closure__, cell) == ["closure cell 'captured'"]
    assert labels(f, f.__closure__) == [".__closure__"]
    assert labels(cell, cell.cell_contents) == [".cell_contents"]
    assert labels(f, f.__defaults__) == [".__defaults__"]
    assert labels(f, f.__kwdefaults__) == [".__kwdefaults__"]
    assert labels(f, f.__globals__) == [".__globals__"]
    assert labels(f, f.__code__) == [".__code__"]
    obj = Plain()
    method = types.MethodType(f, obj)
    assert labels(method, obj) == [".__self__"]
    assert labels(method, f) == [".__func__"]


def test_exceptions_and_tracebacks():
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
    assert labels(exc, exc.args) == [".args"]
    assert labels(tb, tb.tb_frame) == [".tb_frame"]
    chained = exc.__cause__.__traceback__
    assert labels(exc.__cause__, chained) == [".__traceback__"]
    del exc


def test_frames_name_their_variables():
    def outer():
        kept = Item()
        shared = Item()

        def use():
            return shared
        frame = sys._getframe()
        return frame, kept, use
    frame, kept, use = outer()
    assert labels(frame, kept) == ["local 'kept'"]
    assert labels(frame, frame.f_code) == [".f_code"]
    assert labels(frame, frame.f_globals, globals()["Item"]) == ["global 'Item'"]
    cell = use.__closure__[0]
    assert labels(frame, cell, cell.cell_contents) == ["local 'shared'"]
    assert labels(frame, cell) == ["cell of local 'shared'"]
    del frame


def test_lru_cache_entries_and_partial():
    @functools.lru_cache(maxsize=4)
    def cached(key):
        return Item()
    result = cached("k")
    refs = gc.get_referents(cached)
    assert labels(cached, result) == ["['k']"]
    cache = next(r for r in refs if type(r) is dict and len(r) == 1 and "k" in r)
    assert labels(cached, cache) == ["lru_cache"]
    part = functools.partial(make_closure, Item(), key=Item())
    assert labels(part, part.func) == [".func"]
    assert labels(part, part.args, part.args[0]) == [".args", "[0]"]
    assert labels(part, part.keywords, part.keywords["key"]) == [".keywords", "['key']"]
    del refs


def test_an_unnamed_reference_reads_its_index():
    item = Item()
    assert labels(map(item, ()), item) == ["<referent #1>"]


def test_an_allocation_failure_is_a_memory_error():
    f = make_closure()
    cell = f.__closure__[0]
    module = types.ModuleType("mod")
    module.KEY = {("k", 1): [cell.cell_contents]}
    path = (module, module.__dict__, module.KEY, module.KEY[("k", 1)],
            cell.cell_contents)
    expected = labels(*path)
    _refchain._fail_after(-1)
    labels(*path)
    points = _refchain._fail_after(-1)
    assert points > 0
    for n in range(points):
        _refchain._fail_after(n)
        try:
            with pytest.raises(MemoryError):
                labels(*path)
        finally:
            _refchain._fail_after(-1)
    assert labels(*path) == expected == ["['KEY']", "[('k', 1)]", "[0]"]
