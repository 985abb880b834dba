"""Patched hooks (issue 11, item 2): a program may replace sys._current_frames
or gc.get_objects (a profiler, a test double, a monkeypatch gone wrong).
refchain must still answer right, and never crash nor raise SystemError.

Target design (DESIGN.md, "Capture"): capture does not call the module
attributes sys._current_frames and gc.get_objects at all.  It enumerates this
interpreter's threads through the C API and uses the C implementation of
get_objects.  So every patched case must give the very answers the unpatched
hooks gave on the same heap.  "The same" is judged on what the test itself
made, which no other code touches between the two answers:

- 1000 instances of Marker: 500 held by a module global, 250 in garbage
  reference cycles (gc is disabled; only an enumeration of tracked objects
  finds them), 250 held by C alone (a reference nobody will give back, as a
  C extension's static holds one: again only the enumeration finds them);
- one instance of Only, held by nothing but a local variable of a thread
  sleeping in sleeper_func(): only that thread's frames find it, and its
  chain must start at that frame;
- plain object() instances: the fake get_objects makes 10,007 of them, freed
  as soon as it returns; a census must not count them (nor read them after
  they are freed).

Each case runs in a fresh interpreter, with faulthandler on."""

import json
import sys

import pytest

from conftest import how_it_ended

SCRIPT = r"""
import ctypes, faulthandler, gc, json, os, sys, threading
faulthandler.enable()
import refchain
gc.disable()
CASE = os.environ["RC_HOOK_CASE"]


class Marker:
    pass


class Only:
    pass


KEPT = [Marker() for _ in range(500)]
for _ in range(250):
    m = Marker()
    m.me = m
del m
for _ in range(250):
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(Marker()))

READY, STOP, ONLY = threading.Event(), threading.Event(), []


def sleeper_func():
    only_here = Only()
    ONLY.append(id(only_here))
    READY.set()
    STOP.wait()
    return only_here


thread = threading.Thread(target=sleeper_func, name="sleeper", daemon=True)
thread.start()
READY.wait()
# To ask about it, the main thread holds it too, three references from a
# module (module -> dict -> HELD -> it); the sleeping frame holds it in one.
HELD = [refchain.at(ONLY[0])]


def answers():
    # Everything here is asked once with the real hooks, once patched.
    out = {}
    for what, call in (
        ("census", lambda: {name: stat.count for name, stat in
                            refchain.census(shortnames=True).items()
                            if name in ("Marker", "Only", "object")}),
        ("capture", lambda: {name: stat.count for name, stat in
                             refchain.capture().census().items()
                             if name in ("__main__.Marker", "__main__.Only")}),
        ("find_chain", lambda: str(refchain.find_chain(HELD[0]))),
        ("explain", lambda: sorted(str(g) for g in refchain.explain(HELD))),
        ("garbage", lambda: [str(g) for g in refchain.garbage(limit=None)
                             if tuple(g.types) == ("__main__.Marker",)]),
    ):
        try:
            out[what] = call()
        except Exception as e:
            out[what] = "raised %s: %s" % (type(e).__name__, e)
    return out


real_frames, real_get_objects = sys._current_frames, gc.get_objects


def raising(*args, **kwargs):
    raise RuntimeError("this hook is broken")


PATCHES = {
    "_current_frames: dict(orig())": ("frames", lambda: dict(real_frames())),
    "_current_frames: {1: 42}": ("frames", lambda: {1: 42}),
    "_current_frames: a list": ("frames", lambda: list(real_frames().values())),
    "_current_frames: raises": ("frames", raising),
    "get_objects: filtered": ("objects", lambda *a, **k: [
        o for o in real_get_objects(*a, **k) if type(o) is not Marker]),
    "get_objects: fresh objects": ("objects", lambda *a, **k: [
        object() for _ in range(10007)]),
    "get_objects: a tuple": ("objects", lambda *a, **k: tuple(real_get_objects(*a, **k))),
    "get_objects: raises": ("objects", raising),
    # Not a hook: before 3.12 the collector's lists forbidden, as when their
    # layout does not check out, so the capture calls get_objects' C function.
    "gc lists forbidden": ("lists", False),
}

result = {"unpatched": answers()}
which, patch = PATCHES[CASE]
if which == "frames":
    sys._current_frames = patch
elif which == "objects":
    gc.get_objects = patch
else:
    refchain._refchain._allow_gc_lists(patch)
try:
    result["patched"] = answers()
finally:
    sys._current_frames, gc.get_objects = real_frames, real_get_objects
    refchain._refchain._allow_gc_lists(True)
result["after"] = answers()
STOP.set()
thread.join()
print(json.dumps(result))
"""

CASES = [
    "_current_frames: dict(orig())",
    "_current_frames: {1: 42}",
    "_current_frames: a list",
    "_current_frames: raises",
    "get_objects: filtered",
    "get_objects: fresh objects",
    "get_objects: a tuple",
    "get_objects: raises",
    "gc lists forbidden",
]


@pytest.mark.parametrize("case", CASES)
def test_a_patched_hook_changes_no_answer(case, run_script):
    """census, capture, find_chain, explain and garbage answer exactly as
    they did with the real hooks, and again after the hooks are restored."""
    proc = run_script(SCRIPT, name="hooks.py", env={"RC_HOOK_CASE": case}, check=False,
                      timeout=120)
    if proc.returncode != 0:
        pytest.fail("%s\n--- stdout\n%s\n--- stderr\n%s" % (
            how_it_ended(proc.returncode), proc.stdout[-3000:], proc.stderr[-5000:]),
            pytrace=False)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    base = out["unpatched"]
    # The unpatched answers are the oracle: check that they are right first.
    assert base["census"]["Marker"] == 1000, base
    assert base["census"]["Only"] == 1, base
    assert base["capture"] == {"__main__.Marker": 1000, "__main__.Only": 1}, base
    assert base["find_chain"].startswith("frame sleeper_func() at "), base["find_chain"]
    assert " in thread sleeper → local 'only_here' Only (" in base["find_chain"], base
    assert len(base["explain"]) == 1 and "sleeper_func()" in base["explain"][0], base
    assert len(base["garbage"]) == 1 and base["garbage"][0].startswith(
        "250 cycles of Marker ↺ ("), base
    problems = {what: {"unpatched": base[what], "patched": answer}
                for what, answer in out["patched"].items() if answer != base[what]}
    assert problems == {}, "with %s:\n%s" % (case, json.dumps(problems, indent=1,
                                                              ensure_ascii=False))
    assert out["after"] == base, "after restoring the hooks"


AUDIT = r"""
import gc, json, sys, tempfile, os
import refchain
from refchain import _memory, _refchain

EVENTS, REFUSE = [], []


def hook(event, args):
    if event == "gc.get_objects":
        EVENTS.append(event)
        if REFUSE:
            raise RuntimeError("this audit hook refuses")


sys.addaudithook(hook)


def events(call):
    del EVENTS[:]
    call()
    return len(EVENTS)


path = os.path.join(tempfile.mkdtemp(), "x.rcsnap")
out = {
    "census": events(refchain.census),
    "capture": events(refchain.capture),
    "estimate": events(_memory.estimate_objects),
    "tracked": [_refchain._tracked_count(), len(gc.get_objects()) + gc.get_freeze_count()],
    "fork dump": events(lambda: refchain.dump(path, fork=True).wait()),
}
_refchain._allow_gc_lists(False)
out["census, lists forbidden"] = events(refchain.census)
out["fork dump, lists forbidden"] = events(lambda: refchain.dump(path, fork=True).wait())
REFUSE.append(1)
for name, call in (("census", refchain.census),
                   ("fork dump", lambda: refchain.dump(path, fork=True).wait())):
    try:
        call()
        out[name + ", hook refuses"] = "answered"
    except RuntimeError as e:
        out[name + ", hook refuses"] = str(e)
print(json.dumps(out))
"""


def test_the_capture_builds_no_list_of_tracked_objects(run_script):
    """A census, a capture, a fork dump and the memory budget's estimate
    enumerate the tracked objects in C, and never call gc.get_objects()
    (whose list a 10M heap's fork dump built in the parent's pause: 4 s).
    Before 3.12, where the collector's lists are not read, they do, once."""
    out = json.loads(run_script(AUDIT, timeout=120).stdout)
    fallback = 1 if sys.version_info < (3, 12) else 0
    assert out == {
        "census": 0, "capture": 0, "estimate": 0, "fork dump": 0,
        "tracked": [out["tracked"][1]] * 2,
        "census, lists forbidden": fallback, "fork dump, lists forbidden": fallback,
        # the hook's error reaches the caller where the hook runs at all
        "census, hook refuses": "this audit hook refuses" if fallback else "answered",
        "fork dump, hook refuses": "this audit hook refuses" if fallback else "answered",
    }, out
