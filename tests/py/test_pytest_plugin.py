"""refchain's pytest plugin, through pytester: a suite leaking in ten ways
fails each test with the right type, count and holder; a clean suite of
fifty tests that fill caches, intern strings, import modules, compile
regexes and start threads passes under --refchain-leaks."""

import os
import re
import sys

import pytest

import refchain

pytest_plugins = ["pytester"]

TEN_LEAKS = '''
import atexit, functools, logging
import pytest

pytestmark = pytest.mark.refchain_no_leaks

class Session: pass
class Token: pass
class Page: pass
class Item: pass
class Callback:
    def __call__(self): pass
class Key: pass
class User: pass
class App:
    def __init__(self):
        self.users = []
class Order:
    registry = []
    def __init__(self):
        Order.registry.append(self)

LEAKED = []
CACHE = {}
SEEN = set()
APP = App()
_n = [0]

def test_global_list():
    LEAKED.extend(Session() for _ in range(3))

def test_class_attribute():
    for _ in range(3):
        Order()

def test_dict_cache():
    for _ in range(3):
        _n[0] += 1
        CACHE[_n[0] * 1000003] = b"payload %d" % _n[0]

def remember(token, _seen=[]):
    _seen.append(token)

def test_mutable_default():
    for _ in range(3):
        remember(Token())

@functools.lru_cache(maxsize=None)
def page(i):
    return Page()

def test_unbounded_lru_cache():
    for _ in range(3):
        _n[0] += 1
        page(_n[0])

@pytest.fixture(scope="module")
def store():
    return []

def test_fixture_keeps_state(store):
    store.extend(Item() for _ in range(3))

def test_atexit_callbacks():
    for _ in range(3):
        atexit.register(Callback())

def test_set_of_keys():
    SEEN.update(Key() for _ in range(3))

def test_instance_attribute():
    APP.users.extend(User() for _ in range(3))

def test_logging_handlers():
    for _ in range(3):
        logging.getLogger("ten.leaks").addHandler(logging.NullHandler())
'''

# test name -> (type, holder text the message must hold)
EXPECTED = {
    "test_global_list": ("Session", "module test_ten_leaks → ['LEAKED'] list → [*] Session"),
    "test_class_attribute": ("Order", "class test_ten_leaks.Order → .registry list → [*] Order"),
    "test_dict_cache": ("bytes", "module test_ten_leaks → ['CACHE'] dict → [*] bytes"),
    "test_mutable_default": ("Token", ".__defaults__ tuple → [*] list → [*] Token"),
    "test_unbounded_lru_cache": ("Page", "module test_ten_leaks → ['page'] _lru_cache_wrapper → [*] Page"),
    "test_fixture_keeps_state": ("Item", ".funcargs dict → ['store'] list → [*] Item"),
    # Named where refchain sees atexit's list (3.8-3.13).
    "test_atexit_callbacks": ("Callback", ("module atexit → <atexit callback> Callback",
                                           "C code")),
    "test_set_of_keys": ("Key", "module test_ten_leaks → ['SEEN'] set → [*] Key"),
    "test_instance_attribute": ("User", "['APP'] App → .users list → [*] User"),
    "test_logging_handlers": ("NullHandler", ".handlers list → [*] NullHandler"),
}


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    """refchain and pytest importable by the inner pytest, which runs in
    another directory (./run test gives PYTHONPATH relative paths)."""
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(m.__file__)))
             for m in (refchain, pytest)]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


# What else grows, by design, in these tests.
ALSO = {"test_dict_cache": {"int", "bytes"},
        "test_logging_handlers": {"list", "weakref", "weakref.ReferenceType"}}


def _run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "refchain.pytest_plugin", "-p",
                                         "no:cacheprovider", *args)


def test_ten_leaks_each_named_with_type_count_and_holder(pytester):
    pytester.makepyfile(test_ten_leaks=TEN_LEAKS)
    result = _run(pytester, "-q")
    result.assert_outcomes(failed=10)
    text = result.stdout.str()
    for test, (typename, holder) in EXPECTED.items():
        line = re.search(r"%s leaked 3 (test_ten_leaks\.|logging\.)?%s: held through (.*)"
                         % (test, typename), text)
        assert line, (test, text)
        assert any(h in line.group(2) for h in
                   (holder if isinstance(holder, tuple) else (holder,))), (test, line.group(0))
        # Nothing else: the plugin's own objects are not growth.  (Before
        # 3.11 an instance with attributes has a __dict__: dict grows too.)
        leaked = set(re.findall(r"^%s leaked \d+ (\S+):" % test, text, re.M))
        assert leaked - {"dict"} <= ALSO.get(test, set()) | {
            ("logging." if test == "test_logging_handlers" else "test_ten_leaks.") + typename}, \
            (test, leaked)
    # No allocation line unless tracemalloc traces (next test).
    assert "allocated at" not in text


@pytest.fixture
def traced(monkeypatch):
    monkeypatch.setenv("PYTHONTRACEMALLOC", "5")


def test_allocation_line_with_tracemalloc(pytester, traced):
    pytester.makepyfile(test_ten_leaks=TEN_LEAKS)
    result = _run(pytester, "-q", "-k", "global_list")
    result.assert_outcomes(failed=1)
    line = TEN_LEAKS.splitlines().index("    LEAKED.extend(Session() for _ in range(3))")
    assert re.search(r"test_global_list leaked 3 test_ten_leaks.Session: held through .*; allocated at "
                     r"test_ten_leaks.py:%d$" % line, result.stdout.str(), re.M), result.stdout.str()


ORDERS = '''
import pytest

class Order:
    def __init__(self, i):
        self.i, self.items = i, [i]

AUDIT = []

def test_orders():
    AUDIT.append(Order(len(AUDIT) + 1000))

@pytest.mark.refchain_no_leaks(ignore=["Order", "list", "int"])
def test_ignored():
    AUDIT.append(Order(len(AUDIT) + 1000))
'''


def test_the_plugins_own_objects_are_never_named(pytester, traced):
    # The check's own per-round dicts and lists were named as what grew,
    # "held through C code ...; allocated at refchain/_leakcheck.py:129"
    # (:100, :214): on 3.8 the headline of test_ignored, whose real growth
    # is the ignored Orders' __dict__s.
    pytester.makepyfile(test_orders=ORDERS)
    result = _run(pytester, "-q", "--refchain-leaks", "--refchain-repeat", "2")
    text = result.stdout.str()
    assert "_leakcheck" not in text and "C code" not in text, text
    lines = re.findall(r"^(test_\w+) leaked (\d+) (\S+): held through (.*)$", text, re.M)
    assert {(t, n, name) for t, n, name, _ in lines} - {
        ("test_orders", "2", "dict"), ("test_ignored", "2", "dict")} == {
        ("test_orders", "2", "test_orders.Order"), ("test_orders", "2", "int"),
        ("test_orders", "2", "list")}, text
    for _, _, _, holder in lines:
        assert holder.startswith("module test_orders → ['AUDIT'] list → [*] Order"), holder
    if sys.version_info >= (3, 11):
        result.assert_outcomes(failed=1, passed=1)
    else:
        result.assert_outcomes(failed=2)


CLEAN = '''
import functools, importlib, re, sys, threading
import pytest

@functools.lru_cache(maxsize=128)
def square(i):
    return [i] * 3

_TABLE = {}

def lookup(key):
    if key not in _TABLE:
        _TABLE[key] = ("value", key)
    return _TABLE[key]

MODULES = ["json", "decimal", "fractions", "xml.dom.minidom", "email.message",
           "statistics", "difflib", "csv", "uuid", "ipaddress"]

@pytest.mark.parametrize("i", range(10))
def test_bounded_cache(i):
    for j in range(1000):
        square(j % 100 + i)

@pytest.mark.parametrize("i", range(10))
def test_cache_filled_on_first_use(i):
    assert lookup("k%d" % i)[1] == "k%d" % i

@pytest.mark.parametrize("i", range(10))
def test_interned_strings(i):
    assert sys.intern("refchain clean suite %d" % i) is sys.intern("refchain clean suite %d" % i)

@pytest.mark.parametrize("name", MODULES[:5])
def test_imports(name):
    assert importlib.import_module(name).__name__ == name

@pytest.mark.parametrize("i", range(5))
def test_regexes(i):
    assert re.compile(r"(\\w+)-%d-(\\d+)" % i).match("ab-%d-12" % i)

@pytest.mark.parametrize("i", range(10))
def test_threads(i):
    out = []
    threads = [threading.Thread(target=out.append, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == [0, 1, 2]
'''


@pytest.mark.parametrize("options", [["--refchain-leaks"],
                                     ["--refchain-leaks", "--refchain-repeat", "3"]])
def test_fifty_clean_tests_pass(pytester, options):
    pytester.makepyfile(test_clean=CLEAN)
    result = _run(pytester, "-q", *options)
    result.assert_outcomes(passed=50)


def test_marker_repeat_types_and_ignore(pytester):
    pytester.makepyfile(test_marks='''
import pytest
class Thing: pass
class Other: pass
KEEP = []

@pytest.mark.refchain_no_leaks(types=["Other"])
def test_only_other():
    KEEP.append(Thing())

@pytest.mark.refchain_no_leaks(ignore=[Thing])
def test_ignored():
    KEEP.append(Thing())

@pytest.mark.refchain_no_leaks(repeat=3, warmup=0)
def test_grows_once():
    if not KEEP:
        KEEP.append(Thing())

_runs = []
@pytest.mark.refchain_no_leaks(repeat=4, warmup=2)
def test_runs_warmup_plus_repeat():
    _runs.append(None)

def test_count_runs():
    # 2 warm-up runs and the first round, which grew nothing: the other
    # rounds cannot make a type grow in every round, and are skipped.
    assert len(_runs) == 3

@pytest.mark.refchain_no_leaks(repeat=2)
def test_leaks_other():
    KEEP.append(Other())

@pytest.mark.refchain_no_leaks(bogus=1)
def test_bad_marker():
    pass
''')
    result = _run(pytester, "-q")
    outcomes = result.parseoutcomes()
    text = result.stdout.str()
    assert outcomes.get("passed") == 5, text
    assert "test_leaks_other leaked 2 test_marks.Other" in text
    assert "unknown argument bogus" in text


def test_refchain_census_fixture(pytester):
    pytester.makepyfile(test_fixture='''
import refchain
class Thing: pass
KEEP = []
def test_custom(refchain_census):
    KEEP.extend(Thing() for _ in range(4))
    diff = {row.name: row.delta for row in refchain.census() - refchain_census}
    assert diff["test_fixture.Thing"] == 4
    new = refchain.new_objects(Thing, since=refchain_census)
    assert len(new) == 4
    assert "['KEEP'] list → [*] Thing" in str(refchain.explain(new)[0])
''')
    _run(pytester, "-q").assert_outcomes(passed=1)


def test_help_lists_the_options(pytester):
    result = _run(pytester, "--help")
    text = result.stdout.str()
    assert "--refchain-leaks" in text and "--refchain-repeat" in text
    result = _run(pytester, "--markers")
    assert "refchain_no_leaks(types=None, ignore=None, repeat=1, warmup=1)" in \
        result.stdout.str()


LOGGING_TESTS = """
import logging

log = logging.getLogger("app")
KEEP = []

def test_caplog(caplog):
    log.warning("hello %d", 1)
    assert "hello" in caplog.text
    assert len(caplog.records) == 1     # each run sees what a run alone sees

def test_logs_a_warning():
    log.warning("plain %d", 2)

def test_logs_and_leaks():
    log.warning("leak %d", 3)
    KEEP.append(object())
"""


def test_tests_that_log_are_not_leaks(pytester):
    # pytest's logging plugin keeps every record a test logs (caplog's
    # handler, and the report's): the repeated runs share them, and every
    # test that logged a warning failed with `leaked 1 logging.LogRecord`.
    pytester.makepyfile(test_logging=LOGGING_TESTS)
    result = _run(pytester, "-q", "--refchain-leaks")
    result.assert_outcomes(passed=2, failed=1)
    text = result.stdout.str()
    assert "test_logs_and_leaks leaked 1 object: held through module test_logging → ['KEEP']" \
        in text, text
    assert "LogRecord" not in text and "test_caplog leaked" not in text, text
    assert "WARNING  app:test_logging.py:15 leak 3" in text    # the report keeps a run's log
