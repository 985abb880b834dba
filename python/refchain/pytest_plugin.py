"""refchain's pytest plugin: fail a test that leaves objects alive, and say
what holds them.

Enable it with `-p refchain.pytest_plugin` (a build tree), or install
refchain (its pytest11 entry point loads it).  Then:

- `@pytest.mark.refchain_no_leaks(types=..., ignore=..., repeat=N, warmup=M)`
  checks one test;
- `--refchain-leaks` checks every test (`--refchain-repeat`,
  `--refchain-warmup` change the defaults);
- the `refchain_census` fixture is a Census taken (after a gc.collect())
  when it is set up, for custom checks:
  `refchain.leaks(since=refchain_census)`.

The check: the test body runs `warmup` times, then a census is taken
after a gc.collect(); then the body runs `repeat` more times, each
followed by a census after a gc.collect().  A type fails the test only
when its count grew in every one of the `repeat` rounds (CPython's -R
rule), so a cache filled on first use, a compiled regex, an imported
module or an interned string never fails it; and the rounds stop at the
first that shows no growth.  Defaults: warmup=1, repeat=1, so the body
runs twice.  The message names each leaked type,
its count, its grouped holder chain and its allocation line:
`test_checkout leaked 3 Session: held through class app.Session →
.active list → [*] Session; allocated at app/session.py:35`.

Function-scoped fixtures are set up once: the repeated runs of the body
share them, as a loop in one test would.  Coroutine tests are run once,
unchecked (their plugin calls them)."""

import inspect
import io
import logging

import pytest

from refchain import _chains, _leakcheck, _refchain

DEFAULT_WARMUP = 1
DEFAULT_REPEAT = 1
MARKER = "refchain_no_leaks"


def pytest_addoption(parser):
    group = parser.getgroup("refchain", "refchain: leak checks that name the holder")
    group.addoption("--refchain-leaks", action="store_true", default=False,
                    help="check every test for leaked objects (refchain_no_leaks on each)")
    group.addoption("--refchain-repeat", type=int, default=DEFAULT_REPEAT, metavar="N",
                    help="rounds after the warm-up; a type fails only when it grows in "
                         "every round (default %d)" % DEFAULT_REPEAT)
    group.addoption("--refchain-warmup", type=int, default=DEFAULT_WARMUP, metavar="M",
                    help="unchecked runs of each test body first (default %d)"
                         % DEFAULT_WARMUP)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "%s(types=None, ignore=None, repeat=%d, warmup=%d): fail the test when the "
        "objects it leaves alive grow in every round, naming what holds them (refchain)"
        % (MARKER, DEFAULT_REPEAT, DEFAULT_WARMUP))


@pytest.fixture
def refchain_census():
    """A refchain.Census of the heap when the fixture is set up (list it
    after the test's other fixtures), taken after a gc.collect(): compare
    with refchain.census() or pass it to refchain.leaks(since=...) or
    refchain.new_objects(since=...)."""
    return _leakcheck.settled_census()


def _options(item):
    """(types, ignore, repeat, warmup) for item, or None when unchecked."""
    config = item.config
    marker = item.get_closest_marker(MARKER)
    if marker is None and not config.getoption("refchain_leaks"):
        return None
    kwargs = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        raise pytest.UsageError("%s takes keyword arguments only" % MARKER)
    unknown = set(kwargs) - {"types", "ignore", "repeat", "warmup"}
    if unknown:
        raise pytest.UsageError("%s: unknown argument %s" % (MARKER, ", ".join(sorted(unknown))))
    repeat = kwargs.get("repeat", config.getoption("refchain_repeat"))
    warmup = kwargs.get("warmup", config.getoption("refchain_warmup"))
    for name, value, minimum in (("repeat", repeat, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise pytest.UsageError("%s: %s must be an int >= %d, not %r"
                                    % (MARKER, name, minimum, value))
    return (_leakcheck._specs(kwargs.get("types"), "types", MARKER),
            _leakcheck._specs(kwargs.get("ignore"), "ignore", MARKER), repeat, warmup)


def check(body, name, types=(), ignore=(), repeat=DEFAULT_REPEAT, warmup=DEFAULT_WARMUP):
    """Run body() warmup times, then up to `repeat` rounds, each followed by
    a census after a gc.collect(), with what was alive before frozen
    (refchain._leakcheck.measure).  Returns the LeakCheckReport of the
    types that grew in every round (false when none did).  The rounds stop
    at the first that shows no growth."""
    start, end, per_round, run = _leakcheck.measure(body, warmup, repeat, types, ignore)
    return _leakcheck.report(name, start, end, per_round, run)


def _each_run_logs_afresh(body):
    """body, made to start each run with pytest's log capture as the first
    run found it.  pytest's logging plugin keeps every record the test logs
    (caplog's handler, and the one behind the report's "Captured log"
    section), and the repeated runs share them: any test that logs a warning
    would leak a LogRecord a run.  Each run now sees what a run alone sees,
    and the report the last run's records."""
    try:
        from _pytest.logging import LogCaptureHandler
    except ImportError:
        return body
    marks = []
    for h in logging.getLogger().handlers:
        stream = getattr(h, "stream", None)
        if isinstance(h, LogCaptureHandler) and isinstance(getattr(h, "records", None), list) \
                and isinstance(stream, io.StringIO):
            marks.append((h, len(h.records), stream.getvalue()))
    if not marks:
        return body

    def run():
        for h, n, text in marks:
            if isinstance(h.records, list):
                del h.records[n:]
            if isinstance(h.stream, io.StringIO) and h.stream.getvalue() != text:
                h.stream = io.StringIO()
                h.stream.write(text)
        body()

    return run


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    options = _options(pyfuncitem)
    testfunction = pyfuncitem.obj
    if options is None or inspect.iscoroutinefunction(testfunction):
        return None
    types, ignore, repeat, warmup = options
    funcargs = pyfuncitem.funcargs
    testargs = {arg: funcargs[arg] for arg in pyfuncitem._fixtureinfo.argnames}
    found = check(_each_run_logs_afresh(lambda: testfunction(**testargs)), pyfuncitem.name,
                  types, ignore, repeat, warmup)
    if found:
        lines = ["%s leaked %s" % (pyfuncitem.name, line) for line in found.summary()]
        pytest.fail("\n".join(lines + ["", str(found)]), pytrace=False)
    return True


# The plugin's frames are the tool's own, like the package's: a fixture value
# the check's frame holds reads as held by what pytest keeps, not by the check.
_refchain._set_tool_globals(_chains.tool_globals())
