"""Bad input gets a clear error and loses nothing; allocation failure is a
MemoryError, never an abort."""

import io
import json

import pytest

import refchain
from refchain import _refchain


def test_unknown_type_names_give_empty_results():
    assert refchain.count("NoSuchType") == 0
    assert refchain.count("no.such.Type") == 0
    assert refchain.count("lone\udc80surrogate") == 0
    assert refchain.by_type("NoSuchType") == []
    assert refchain.new_objects("NoSuchType", since=refchain.census()) == []


@pytest.mark.parametrize("call, message", [
    (lambda: refchain.count(42), "must be str or type"),
    (lambda: refchain.by_type(None), "must be str or type"),
    (lambda: refchain.new_objects(3.5, since=refchain.census()), "must be str or type"),
    (lambda: refchain.new_objects("int", since="yesterday"), "must be a refchain.Census"),
    (lambda: refchain.growth(limit="10"), "'limit' must be int or None"),
    (lambda: refchain.growth(limit=True), "'limit' must be int or None"),
    (lambda: refchain.growth(shortnames="yes"), "'shortnames' must be bool"),
    (lambda: refchain.show_growth(limit=2.5), "'limit' must be int or None"),
    (lambda: refchain.show_growth(file=42), "must have a write() method"),
    (lambda: refchain.census(True), "positional argument"),
    (lambda: refchain.Census(), "cannot create"),
    (lambda: refchain.Graph(), "cannot create"),
    (lambda: refchain.census().top("3"), "must be int or None"),
    (lambda: refchain.census() - 1, "unsupported operand"),
    (lambda: refchain.count("dict", objects=5), "'objects' must be an iterable of objects"),
    (lambda: refchain.by_type("dict", objects=5), "'objects' must be an iterable of objects"),
    (lambda: refchain.set_user_code(5), "a predicate, a list of directories or None, not int"),
    (lambda: refchain.set_user_code([5]), "a directory must be a str or os.PathLike, not int"),
])
def test_wrong_types_raise_type_error(call, message):
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


@pytest.mark.parametrize("call", [
    lambda: refchain.growth(limit=-1),
    lambda: refchain.show_growth(limit=-5),
    lambda: refchain.census().top(-1),
])
def test_negative_limits_raise_value_error(call):
    with pytest.raises(ValueError, match=">= 0"):
        call()


def test_zero_and_huge_limits(run_script):
    out = run_script("""
    import json, refchain
    refchain.growth()
    keep = [bytearray(1) for _ in range(10)]
    print(json.dumps([refchain.growth(limit=0), len(refchain.growth(limit=10**30)) >= 0,
                      len(refchain.census().top(10**30)) == len(refchain.census())]))
    """).stdout
    assert json.loads(out) == [[], True, True]


def test_an_unwritable_file_raises_its_own_error_and_loses_nothing(run_script, tmp_path):
    out = run_script("""
    import io, json, refchain
    refchain.show_growth(file=io.StringIO())
    keep = [bytearray(1) for _ in range(500)]
    errors = []
    with open(__file__) as read_only:
        try:
            refchain.show_growth(file=read_only)
        except Exception as e:
            errors.append(type(e).__name__)
    closed = io.StringIO()
    closed.close()
    try:
        refchain.show_growth(file=closed)
    except Exception as e:
        errors.append(type(e).__name__)
    # The failed calls did not move the baseline: the growth is still there.
    out = io.StringIO()
    refchain.show_growth(file=out)
    print(json.dumps([errors, out.getvalue()]))
    """).stdout
    errors, report = json.loads(out)
    assert errors == ["UnsupportedOperation", "ValueError"]
    line = next(line for line in report.splitlines() if line.startswith("bytearray"))
    assert line.split()[2] == "+500"


def test_allocation_failure_is_memory_error_at_every_point():
    """Make the n-th C allocation fail for every n a capture makes: each call
    ends in MemoryError or success, and the next call works."""
    keep = [{i: bytes(8)} for i in range(2000)]
    operations = [refchain.capture, refchain.census, lambda: refchain.count("dict"),
                  lambda: refchain.growth(limit=None)]
    for op in operations:
        failures = 0
        for n in range(100000):
            _refchain._fail_after(n)
            try:
                op()
            except MemoryError:
                failures += 1
                continue
            finally:
                _refchain._fail_after(-1)
            break
        else:
            pytest.fail("never succeeded")
        assert failures >= 5, op
        assert refchain.count("dict") >= 2000
    del keep


def test_free_threaded_builds_refuse_to_import(run_script):
    # A free-threaded build's ABI flags hold "t" (3.13+; no other build's
    # do): refchain reads them, not sysconfig (whose import would add its
    # modules to every heap refchain is asked about).
    proc = run_script("""
    import sys
    sys.abiflags += "t"
    import refchain
    """, check=False)
    assert proc.returncode != 0
    assert "ImportError: refchain does not support free-threaded CPython" in proc.stderr


def test_extra_ignore_items_match_ids_as_objgraphs_set_does(run_script):
    # objgraph tests `id(x) in set(extra_ignore)`: an item that is no int
    # ignores the id it is equal to (and hashes as).  refchain asks each such
    # item once, before the capture, so an __eq__ that raises propagates
    # with its own exception, whether or not the search meets that id.
    out = run_script("""
    import inspect, json, refchain

    class Boom(Exception):
        pass

    class Hostile:
        def __hash__(self):
            return 12345
        def __eq__(self, other):
            raise Boom("from __eq__")

    class IdOf:
        def __init__(self, obj):
            self.i = id(obj)
        def __hash__(self):
            return hash(self.i)
        def __eq__(self, other):
            return other == self.i

    target = bytes(10)
    A = [target]
    B = [[target]]
    results = []
    for call in (refchain.find_backref_chain, refchain.find_ref_chain):
        try:
            call(target, inspect.ismodule, extra_ignore=[Hostile()])
        except Boom as e:
            results.append(str(e))
    # Each result is reduced at once: a list holding target would be a
    # second way to it.
    chains = []
    for ignore in ([IdOf(A)], (id(A),)):
        chain = refchain.find_backref_chain(target, inspect.ismodule, extra_ignore=ignore)
        chains.append((len(chain), chain[3] is B[0]))
        del chain
    unhashable = None
    try:
        refchain.find_backref_chain(target, inspect.ismodule, extra_ignore=[[1]])
    except TypeError as e:
        unhashable = str(e)
    print(json.dumps([results, chains, unhashable]))
    """).stdout
    results, chains, unhashable = json.loads(out)
    assert results == ["from __eq__", "from __eq__"]
    assert chains == [[5, True], [5, True]]  # around A, through B
    assert unhashable == "extra_ignore must be an iterable of object ids"
