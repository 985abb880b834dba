"""How chains label the references of common C containers and frames:
asyncio futures and tasks, threading.local, functools.partial, an lru_cache
wrapper's wrapped callable, generator and coroutine frames, finished frames.

Each scenario runs in a fresh interpreter and prints what its chain says;
the labels differ where CPython's layouts do (3.11+ keeps a generator's
variables in the generator itself, not in a frame object)."""

import json
import sys

PRELUDE = """
import atexit, gc, json, sys
import refchain

# Every chain's labels also read offline, as a loaded snapshot reads them
# (tests/py/ext/relate_probe.c): each referrer's references named at once
# (rc_relate_out), encoded, decoded and presented.  They must be the same as
# the live labels (read when the chain was found, a Chain's _labels).
import _rc_probe
from refchain import _chains, _refchain
_live_label_path = _chains.label_path
_offline_checks = [0]
def _checked_label_path(objs, edges, read=None):
    steps = read if read is not None else _refchain._label_path(tuple(objs), tuple(edges))
    offline = _rc_probe.offline_path(tuple(objs), tuple(edges), 0, 0, False)
    _offline_checks[0] += 1
    if tuple(offline) != tuple(steps):
        print("offline_mismatch=" + json.dumps([list(steps), list(offline)]))
    return _live_label_path(objs, edges, steps)
_chains.label_path = _checked_label_path
atexit.register(lambda: print("offline_checks=%d" % _offline_checks[0]))

class Target:
    pass

def report(chain, tag="chain"):
    print(tag + "=" + json.dumps({
        "kind": chain.root_kind,
        "labels": [label for _, label in chain.steps],
        "types": [type(obj).__name__ for obj, _ in chain.steps],
        "str": str(chain),
    }))

def referent(obj, cls):
    \"\"\"The one referent of obj of type cls.\"\"\"
    found = [r for r in gc.get_referents(obj) if type(r) is cls]
    assert len(found) == 1, found
    return found[0]
"""

PY311 = sys.version_info >= (3, 11)


def chains(run_script, body):
    """{tag: report} printed by the scenario `body`."""
    found = {}
    for line in run_script(PRELUDE + body).stdout.splitlines():
        tag, sep, data = line.partition("=")
        if sep and tag.isidentifier():
            found[tag] = json.loads(data)
    assert "offline_mismatch" not in found, found["offline_mismatch"]
    assert found.pop("offline_checks") > 0
    return found


def text_of(chain):
    """str(chain) without the target's size and allocation line."""
    return chain["str"].rpartition(" (")[0]


# ---- frames ---------------------------------------------------------------------------


def test_finished_frame_with_an_unbound_local_names_its_locals(run_script):
    # 3.11 once labelled every variable of such a frame '<local variable>':
    # its traversal skips the unbound slot, so position no longer named it.
    found = chains(run_script, """
def make():
    x = Target()
    if not x:
        never = 1               # unbound when the frame returns
    return sys._getframe()
FRAME = make()
def check():
    target = referent(FRAME, Target)
    report(refchain.find_chain(target))
check()
""")
    chain = found["chain"]
    assert chain["labels"] == ["['FRAME']", "local 'x'"]
    assert text_of(chain) == "module __main__ → ['FRAME'] frame → local 'x' Target"


# ---- asyncio ---------------------------------------------------------------------------

ASYNCIO = """
import asyncio
from asyncio import futures, tasks

class AuditRecord:
    pass

class Failure(Exception):
    pass

class Callback:
    def __call__(self, future):
        pass

async def audit():
    return AuditRecord()

async def wait_for_job(job, event):
    await event.wait()

LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)
TASK = LOOP.create_task(audit())
LOOP.run_until_complete(TASK)
FAILED = LOOP.create_future()
FAILED.set_exception(Failure())
ONE = LOOP.create_future()
ONE.add_done_callback(Callback())
THREE = LOOP.create_future()
for _ in range(3):
    THREE.add_done_callback(Callback())
EVENT = asyncio.Event()
PENDING = LOOP.create_task(wait_for_job(Target(), EVENT))
LOOP.run_until_complete(asyncio.sleep(0))
PYTASK = tasks._PyTask(audit(), loop=LOOP)
LOOP.run_until_complete(PYTASK)
PYFAILED = futures._PyFuture(loop=LOOP)
PYFAILED.set_exception(Failure())
for _ in range(300):        # tasks are numbered: past the shared small ints
    LOOP.run_until_complete(LOOP.create_task(asyncio.sleep(0)))
LATE = LOOP.create_task(wait_for_job(Target(), EVENT))

def check():
    report(refchain.find_chain(TASK.result()), "result")
    report(refchain.find_chain(FAILED.exception()), "exception")
    report(refchain.find_chain(ONE._callbacks[0][0]), "callback")
    report(refchain.find_chain(ONE._callbacks[0][1]), "context")
    report(refchain.find_chain(THREE._callbacks[2][0]), "third")
    report(refchain.find_chain(PENDING.get_coro()), "coro")
    report(refchain.find_chain(PYTASK.result()), "pyresult")
    report(refchain.find_chain(PYFAILED.exception()), "pyexception")
    import gc
    report(refchain.find_chain(next(o for o in gc.get_referents(LATE)
                                    if type(o) in (int, str))), "name")
check()
EVENT.set()
LOOP.run_until_complete(PENDING)
LOOP.run_until_complete(LATE)
"""


def test_asyncio_future_and_task_fields_are_named(run_script):
    found = chains(run_script, ASYNCIO)
    assert text_of(found["result"]) == "module __main__ → ['TASK'] Task → .result() AuditRecord"
    assert text_of(found["exception"]) == "module __main__ → ['FAILED'] Future → .exception() Failure"
    assert text_of(found["callback"]) == "module __main__ → ['ONE'] Future → done callback Callback"
    assert text_of(found["context"]) == \
        "module __main__ → ['ONE'] Future → done callback's context Context"
    # The first callback is a field of its own; the others are in a list.
    assert found["third"]["labels"] == ["['THREE']", "done callbacks", "[1]", "[0]"]
    assert text_of(found["coro"]) == "module __main__ → ['PENDING'] Task → .get_coro() coroutine"
    # Its name: "Task-302", or from 3.12 until asked for, the number alone.
    assert text_of(found["name"]) == "module __main__ → ['LATE'] Task → .get_name() %s" % (
        "int" if sys.version_info >= (3, 12) else "str")


def test_asyncio_pure_python_future_and_task_read_alike(run_script):
    found = chains(run_script, ASYNCIO)
    assert text_of(found["pyresult"]) == \
        "module __main__ → ['PYTASK'] Task → .result() AuditRecord"
    assert text_of(found["pyexception"]) == \
        "module __main__ → ['PYFAILED'] Future → .exception() Failure"


# ---- threading.local -------------------------------------------------------------------


def test_threading_local_names_the_thread_and_the_attribute(run_script):
    found = chains(run_script, """
import threading

STATE = threading.local()
STATE.user = Target()
started, release = threading.Event(), threading.Event()

def worker():
    STATE.user = Target()
    started.set()
    release.wait()

thread = threading.Thread(target=worker, name="io-worker")
thread.start()
started.wait()

def check():
    report(refchain.find_chain(STATE.user), "main")
    mine = STATE.user
    theirs = [t for t in gc.get_objects() if type(t) is Target and t is not mine]
    assert len(theirs) == 1
    del mine
    report(refchain.find_chain(theirs.pop()), "worker")
check()
release.set()
thread.join()
""")
    assert text_of(found["main"]) == \
        "module __main__ → ['STATE'] _local → .user in thread MainThread Target"
    assert text_of(found["worker"]) == \
        "module __main__ → ['STATE'] _local → .user in thread io-worker Target"


# ---- functools.partial -----------------------------------------------------------------


def test_partial_names_func_args_and_keywords(run_script):
    found = chains(run_script, """
import functools

class Handler(functools.partial):
    pass

def make_callback():
    def callback(*args, **kwargs):
        pass
    return callback

CALLBACK = functools.partial(make_callback(), Target(), Target(), mode=Target())
HANDLER = Handler(make_callback(), Target())

def check():
    report(refchain.find_chain(CALLBACK.func), "func")
    report(refchain.find_chain(CALLBACK.args[1]), "arg")
    report(refchain.find_chain(CALLBACK.keywords["mode"]), "keyword")
    report(refchain.find_chain(HANDLER.func), "subclass_func")
    report(refchain.find_chain(HANDLER.args[0]), "subclass_arg")
check()
""")
    assert text_of(found["func"]) == "module __main__ → ['CALLBACK'] partial → .func function"
    assert text_of(found["arg"]) == \
        "module __main__ → ['CALLBACK'] partial → .args tuple → [1] Target"
    assert text_of(found["keyword"]) == \
        "module __main__ → ['CALLBACK'] partial → .keywords dict → ['mode'] Target"
    assert text_of(found["subclass_func"]) == "module __main__ → ['HANDLER'] Handler → .func function"
    assert text_of(found["subclass_arg"]) == \
        "module __main__ → ['HANDLER'] Handler → .args tuple → [0] Target"


# ---- lru_cache wrappers -----------------------------------------------------------------


def test_lru_cache_wrapped_callable_is_no_cache_entry(run_script):
    # sqlite3's Connection (3.11+) keeps its statement cache in an lru_cache
    # wrapper whose wrapped callable is the Connection itself.
    found = chains(run_script, """
import functools, sqlite3

class Lookup:
    def __call__(self, key):
        return Target()

CACHED = functools.lru_cache(maxsize=8)(Lookup())
for key in range(3):
    CACHED(key)
UNBOUNDED = functools.lru_cache(maxsize=None)(Lookup())
UNBOUNDED(1)

@functools.lru_cache(maxsize=8)
def settings(key):
    return {"key": key}
for key in range(3):
    settings(key)

def check():
    report(refchain.find_chain(CACHED.__wrapped__), "bounded")
    report(refchain.find_chain(UNBOUNDED.__wrapped__), "unbounded")
    report(refchain.find_chain(settings(1)), "dict_result")
    connection = sqlite3.connect(":memory:")
    connection.execute("select 1")
    chain = refchain.find_chain(connection)
    if chain is not None:       # before 3.11, nothing else holds it
        report(chain, "sqlite")
check()
""")
    # A wrapper the module holds is a global like any other.
    assert text_of(found["bounded"]) == \
        "module __main__ → ['CACHED'] _lru_cache_wrapper → .__wrapped__ Lookup"
    assert text_of(found["unbounded"]) == \
        "module __main__ → ['UNBOUNDED'] _lru_cache_wrapper → .__wrapped__ Lookup"
    # A result that is a dict is no cache dict.
    assert text_of(found["dict_result"]) == \
        "module __main__ → ['settings'] _lru_cache_wrapper → [1] dict"
    # Only the caller's variable (discounted) and its own cache hold this
    # one: the cache, which no module, class or frame reaches, is its root.
    if PY311:
        assert text_of(found["sqlite"]) == \
            "cache (an lru_cache of a sqlite3.Connection) → .__wrapped__ Connection"
    else:
        assert "sqlite" not in found


def test_a_cache_its_holder_holds_is_no_root(run_script):
    # Each connection keeps a statement cache: an lru_cache wrapping the
    # connection itself (sqlite3 does this from 3.11).  The class holds the
    # connections; their caches must not read as their holders.
    found = chains(run_script, """
import functools, sqlite3

class Statement:
    pass

class Conn:
    def __init__(self):
        self.cache = functools.lru_cache(maxsize=8)(self)
    def __call__(self, sql):
        return Statement()

class Pool:
    conns = []
    sqlite = []
for i in range(20):
    c = Conn()
    c.cache("select 1")
    Pool.conns.append(c)
    if sys.version_info >= (3, 11):
        s = sqlite3.connect(":memory:")
        s.execute("select 1")
        Pool.sqlite.append(s)
c = s = None

report(refchain.find_chain(Pool.conns[3]), "conn")
report(refchain.find_chain(Pool.conns[3].cache(\"select 1\")), "statement")
def groups(typename):
    return [(g.count, str(g.path())) for g in refchain.explain(typename)]
print("groups=" + json.dumps({"Conn": groups("__main__.Conn"),
                              "Statement": groups("__main__.Statement"),
                              "Connection": groups("sqlite3.Connection")}))
print("retained=" + json.dumps([refchain.retained(Pool.conns)[1],
                                refchain.retained(Pool.sqlite)[1]]))
if Pool.sqlite:
    report(refchain.find_chain(Pool.sqlite[3]), "sqlite")
""")
    assert text_of(found["conn"]) == "class __main__.Pool → .conns list → [3] Conn"
    assert text_of(found["statement"]) == (
        "class __main__.Pool → .conns list → [3] Conn → .cache _lru_cache_wrapper"
        " → ['select 1'] Statement")
    groups = found["groups"]
    assert groups["Conn"] == [[20, "class __main__.Pool → .conns list → [*] Conn"]]
    assert [count for count, _ in groups["Statement"]] == [20]
    # The list retains the connections, their caches and what they cache.
    conns, sqlite_conns = found["retained"]
    assert conns >= 1 + 20 * 3
    if PY311:
        assert text_of(found["sqlite"]) == \
            "class __main__.Pool → .sqlite list → [3] Connection"
        assert groups["Connection"] == \
            [[20, "class __main__.Pool → .sqlite list → [*] Connection"]]
        assert sqlite_conns >= 1 + 20 * 2


# ---- generators and coroutines ---------------------------------------------------------


def test_generator_and_coroutine_frames_name_their_variables(run_script):
    found = chains(run_script, """
import asyncio

def numbers(start):
    current = Target()
    yield start
    yield current

async def wait_for_job(job, event):
    await event.wait()

async def agen():
    held = Target()
    yield 1
    yield held

GEN = numbers(1)
next(GEN)
ASKED = numbers(2)
next(ASKED)
ASKED.gi_frame.f_lineno         # 3.11+ creates its frame object here
LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)
EVENT = asyncio.Event()
PENDING = LOOP.create_task(wait_for_job(Target(), EVENT))
LOOP.run_until_complete(asyncio.sleep(0))
AGEN = agen()
LOOP.run_until_complete(AGEN.__anext__())

def variables(gen):
    frame = {"generator": "gi_frame", "coroutine": "cr_frame",
             "async_generator": "ag_frame"}[type(gen).__name__]
    return getattr(gen, frame) if sys.version_info < (3, 11) else gen

def check():
    report(refchain.find_chain(referent(variables(GEN), Target)), "gen")
    report(refchain.find_chain(referent(variables(ASKED), Target)), "asked")
    report(refchain.find_chain(ASKED.gi_frame), "frame")
    report(refchain.find_chain(referent(variables(PENDING.get_coro()), Target)), "coro")
    report(refchain.find_chain(referent(variables(AGEN), Target)), "agen")
    # Labelling created no frame object (3.11+ creates one when asked).
    print("frames=" + json.dumps([type(r).__name__ for r in gc.get_referents(GEN)
                                  if type(r).__name__ == "frame"]))
check()
EVENT.set()
LOOP.run_until_complete(PENDING)
""")
    if PY311:   # the generator holds its variables itself
        assert text_of(found["gen"]) == "module __main__ → ['GEN'] generator → local 'current' Target"
        assert text_of(found["asked"]) == \
            "module __main__ → ['ASKED'] generator → local 'current' Target"
        assert found["coro"]["labels"] == ["['PENDING']", ".get_coro()", "local 'job'"]
        assert text_of(found["agen"]) == \
            "module __main__ → ['AGEN'] async_generator → local 'held' Target"
    else:
        assert text_of(found["gen"]) == \
            "module __main__ → ['GEN'] generator → .gi_frame frame → local 'current' Target"
        assert text_of(found["asked"]) == \
            "module __main__ → ['ASKED'] generator → .gi_frame frame → local 'current' Target"
        assert found["coro"]["labels"] == ["['PENDING']", ".get_coro()", ".cr_frame",
                                           "local 'job'"]
        assert text_of(found["agen"]) == \
            "module __main__ → ['AGEN'] async_generator → .ag_frame frame → local 'held' Target"
    assert text_of(found["frame"]) == "module __main__ → ['ASKED'] generator → .gi_frame frame"
    assert found["frames"] == ([] if PY311 else ["frame"])
