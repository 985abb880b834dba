"""How chains label the references of common C containers and frames:
asyncio futures and tasks, threading.local, functools.partial, an lru_cache
wrapper's wrapped callable, generator and coroutine frames, finished frames.

Each scenario runs in a fresh interpreter and prints what its chain says;
the labels differ where CPython's layouts do (3.11+ keeps a generator's
variables in the generator itself, not in a frame object)."""

import json
import sys

PRELUDE = """
import gc, json, sys
import refchain

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
