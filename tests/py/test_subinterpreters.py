"""Legacy (shared-GIL) subinterpreters (issue 11, item 3).

DESIGN.md: a legacy subinterpreter's capture sees only its own interpreter's
objects and threads, and capturing there harms no other interpreter.  The
main interpreter holds 5000 HeldByMain instances, the subinterpreter 300
HeldBySub (not "Sub": ast.Sub is a class too).  The sub's census counts its
300 HeldBySub and no HeldByMain; the main's census counts its 5000
HeldByMain and no HeldBySub, while the sub is alive and after it is
destroyed; the main interpreter's frames, suspended while the sub ran
and was destroyed, return normally, and a later census works.

How a legacy subinterpreter is made (checked on this machine's builds):
- 3.11.7: _xxsubinterpreters.create() (every 3.11 subinterpreter shares the GIL);
- 3.12.1: _xxsubinterpreters.create(isolated=False): the default is isolated,
  whose import of refchain fails ("does not support loading in
  subinterpreters", as intended);
- 3.13.0: _interpreters.create("legacy") and _interpreters.exec(), which
  returns the exception's description instead of raising; there is no
  _xxsubinterpreters.
The sub reports its answers through a pipe (os.write on an inherited fd)."""

import json
import sys

import pytest

from conftest import how_it_ended

pytestmark = pytest.mark.skipif(
    not (3, 11) <= sys.version_info[:2] <= (3, 13),
    reason="issue 11 covers legacy subinterpreters on CPython 3.11 to 3.13 "
           "(_xxsubinterpreters before 3.13, _interpreters.create('legacy') on 3.13)")

SCRIPT = r'''
import faulthandler, gc, json, os, sys
faulthandler.enable()
import refchain

if sys.version_info >= (3, 13):
    import _interpreters

    def create():
        return _interpreters.create("legacy")

    def run(interp, code):
        failure = _interpreters.exec(interp, code)
        if failure is not None:
            raise RuntimeError("the subinterpreter failed: %s" % (failure.formatted,))

    destroy = _interpreters.destroy
else:
    import _xxsubinterpreters

    def create():
        if sys.version_info >= (3, 12):
            return _xxsubinterpreters.create(isolated=False)
        return _xxsubinterpreters.create()

    run = _xxsubinterpreters.run_string
    destroy = _xxsubinterpreters.destroy


class HeldByMain:
    pass


MAIN = [HeldByMain() for _ in range(5000)]

SUB_CODE = """
import json, os
import refchain


class HeldBySub:
    pass


SUB = [HeldBySub() for _ in range(300)]


def ask():
    out = {}
    try:
        counts = refchain.census(shortnames=True)
        out["census"] = {name: counts[name].count for name in ("HeldByMain", "HeldBySub")
                         if name in counts}
        out["find_chain"] = str(refchain.find_chain(SUB[7]))
        out["explain"] = [str(g) for g in refchain.explain(HeldBySub)]
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


os.write(FD, (json.dumps(ask()) + "\\n").encode())
"""


def census():
    counts = refchain.census(shortnames=True)
    return {name: counts[name].count for name in ("HeldByMain", "HeldBySub")
            if name in counts}


def read_line(fd):
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data.decode())


def report(key, value):
    # One line per step, written at once: what came before a crash stays.
    os.write(1, (json.dumps({key: value}) + "\n").encode())


def deeper(n):
    # Main's frames stay suspended, n deep, while the sub runs and captures,
    # and while it is destroyed; then they return one by one.  Each holds a
    # container in a local (a snapshot of such locals made from the sub
    # would be a tracked dict).
    mine = [n, {"n": n}]
    if n:
        return deeper(n - 1) + len(mine) - 1
    r, w = os.pipe()
    interp = create()
    run(interp, "FD = %d\n" % w + SUB_CODE)
    report("sub", read_line(r))
    report("main_while_sub_alive", census())
    destroy(interp)
    report("main_after_destroy", census())
    return 0


# The main interpreter's first census comes while the sub is alive.  With
# one before the sub's, the crash this provokes on 3.12.1 does not show (a
# main frame's f_locals snapshot that the sub's capture made, so tracked by
# the sub's collector, is freed when that frame returns after the sub is
# gone, and unlinking it writes into the freed interpreter).
report("depth", deeper(20))
gc.collect()
report("chain_after", str(refchain.find_chain(MAIN[42])))
report("main_at_end", census())
'''


class Outcome:
    """What the script reported, step by step, and how it ended."""

    def __init__(self, proc):
        self.code, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        self.steps = {}
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                self.steps.update(json.loads(line))

    def __getitem__(self, key):
        if key not in self.steps:
            pytest.fail("no %r: the script ended (%s) before it got there\n--- stdout\n%s\n"
                        "--- stderr\n%s" % (key, how_it_ended(self.code), self.stdout[-3000:],
                                            self.stderr[-5000:]), pytrace=False)
        return self.steps[key]


@pytest.fixture
def outcome(run_script):
    return Outcome(run_script(SCRIPT, name="subinterpreters.py", check=False, timeout=120))


def test_a_subinterpreter_sees_only_its_own_objects(outcome):
    """The sub's census counts its 300 HeldBySub and none of the main
    interpreter's 5000 HeldByMain; its chains and groups start at its own
    module."""
    sub = outcome["sub"]
    assert "error" not in sub, sub["error"]
    assert sub["census"] == {"HeldBySub": 300}, sub
    assert sub["find_chain"].startswith("module __main__ → ['SUB'] list → [7] HeldBySub"), sub
    assert len(sub["explain"]) == 1 and sub["explain"][0].startswith("300 HeldBySub ("), sub


def test_the_main_interpreter_sees_only_its_own_objects(outcome):
    """During the sub's life and after its destruction, the main
    interpreter's census counts its 5000 HeldByMain and no HeldBySub."""
    for when in ("main_while_sub_alive", "main_after_destroy", "main_at_end"):
        assert outcome[when] == {"HeldByMain": 5000}, (when, outcome[when])


def test_the_main_interpreter_survives_a_subinterpreters_capture(outcome):
    """The main interpreter's frames, suspended while the sub captured,
    return (all 20), it answers afterwards, and it exits cleanly."""
    assert outcome["depth"] == 20
    assert outcome["chain_after"].startswith(
        "module __main__ → ['MAIN'] list → [42] HeldByMain"), outcome["chain_after"]
    assert outcome.code == 0, "%s\n--- stderr\n%s" % (how_it_ended(outcome.code),
                                                      outcome.stderr[-5000:])
