"""Describing a chain runs no user code (issue 11, item 6): no metaclass
__eq__ or __hash__ (types are compared with `is`), and no __eq__ of a dict
key whose hash collides with a name refchain looks up (class, instance and
module dicts, sys.modules).  Each user method records its calls; the labels
must read as they do without the trap.

Every scenario runs in a fresh interpreter."""

import json
import sys

# ---- 1. a metaclass whose __eq__ and __hash__ raise -----------------------------------

METACLASS = """
import json, sys
import refchain

calls = []

class Meta(type):
    def __eq__(cls, other):
        calls.append("__eq__")
        raise RuntimeError("Meta.__eq__ is user code")

    def __hash__(cls):
        calls.append("__hash__")
        raise RuntimeError("Meta.__hash__ is user code")

class Odd(metaclass=Meta):
    pass

class Item:
    pass

class Holder:
    odd = Odd()                     # a class attribute whose type has the metaclass
    def __init__(self):
        self.attr = Item()
        self.odd_attr = Odd()
        self.items = [Item()]

HOLDER = Holder()
out = {}
del calls[:]
chain = refchain.find_chain(HOLDER.attr)
out["labels"] = [label for _, label in chain.steps]
out["str"] = str(chain)
chain = refchain.find_chain(HOLDER.odd_attr)
out["odd_labels"] = [label for _, label in chain.steps]
out["svg"] = len(refchain.render(chain))   # draws an Odd node
del chain
out["explain"] = [g.path() for g in refchain.explain(Item)]
out["calls"] = list(calls)
print(json.dumps(out))
"""


def test_a_raising_metaclass_eq_is_never_called(run_script):
    out = json.loads(run_script(METACLASS).stdout)
    assert out["calls"] == []
    assert out["labels"] == ["['HOLDER']", ".attr"]
    assert out["str"].startswith("module __main__ → ['HOLDER'] Holder → .attr Item (")
    assert out["odd_labels"] == ["['HOLDER']", ".odd_attr"]
    assert out["svg"] > 0
    assert "module __main__ → ['HOLDER'] Holder → .attr Item" in out["explain"]
    assert "module __main__ → ['HOLDER'] Holder → .items list → [*] Item" in out["explain"]


# ---- 2. dict keys whose hash collides with a looked-up name ---------------------------

# The names refchain looks up in class dicts, instance dicts, module dicts and
# sys.modules while it describes a chain, and the names of the attributes on
# the way.  With TRAP set, each gets two colliding keys: a str subclass that
# is not the name, and an object; both have the name's hash and record every
# __eq__ call.
COLLISION = """
import functools, json, sys, threading
import refchain

TRAP = %(trap)r
calls = []

class Key(str):
    # "~name": not the name, but with its hash.
    def __eq__(self, other):
        calls.append(("Key.__eq__", str.__str__(self)))
        return False
    def __hash__(self):
        return hash(str.__str__(self)[1:])

class Collider:
    def __init__(self, name):
        self.name = name
    def __eq__(self, other):
        calls.append(("Collider.__eq__", self.name))
        return False
    def __hash__(self):
        return hash(self.name)

LOOKED_UP = ["__dict__", "__module__", "__slots__", "__annotations__", "__get__",
             "__name__", "__qualname__", "__wrapped__", "__main__", "threading", "_active",
             "_get_main_thread_ident", "refchain", "plain", "other", "items", "worker"]

def trap(namespace, names=LOOKED_UP):
    if TRAP:
        for name in names:
            namespace[Key("~" + name)] = 1
            namespace[Collider(name)] = 2

class Item:
    pass

class Plain:
    # A class attribute's class: refchain asks whether it defines __get__.
    trap(locals())

class Holder:
    trap(locals())
    plain = Plain()
    items = [Item()]
    def __init__(self):
        self.attr = Item()
        self.other = self.plain

class Dicted:
    # Its instances' __dict__ holds colliding keys too.
    def __init__(self):
        self.attr = Item()
        trap(vars(self), LOOKED_UP + ["attr"])

class OwnName:
    # A key collides with the name of the attribute on the chain itself.
    trap(locals(), ["attr"])
    def __init__(self):
        self.attr = Item()

@functools.lru_cache(maxsize=None)
def cached(n):
    return Item()

HOLDER = Holder()
DICTED = Dicted()
OWN = OwnName()
cached(1)
trap(globals())
trap(sys.modules)
trap(vars(threading))

def worker(ready, stop):
    local_item = Item()
    ready.set()
    stop.wait()

ready, stop = threading.Event(), threading.Event()
thread = threading.Thread(target=worker, args=(ready, stop), name="worker")
thread.start()
ready.wait()
# By id, so that the script holds no extra reference to them.
IDS = {"attr": id(HOLDER.attr), "class": id(Holder.items[0]), "dicted": id(DICTED.attr),
       "cache": id(cached(1)), "own": id(OWN.attr)}
IDS["frame"] = next(id(o) for o in refchain.by_type("__main__.Item")
                    if id(o) not in IDS.values())
out = {}
del calls[:]            # what the script itself looked up
try:
    for tag in ("attr", "class", "dicted", "cache", "own", "frame"):
        out[tag] = str(refchain.find_chain(refchain.at(IDS[tag])))
    out["calls"] = list(calls)
finally:
    stop.set()
    thread.join()
    del calls[:]
print(json.dumps(out))
"""


def collision_run(run_script, trap):
    return json.loads(run_script(COLLISION % {"trap": trap}, name="collide.py").stdout)


def test_colliding_keys_are_never_compared(run_script):
    clean = collision_run(run_script, False)
    trapped = collision_run(run_script, True)
    assert trapped["calls"] == []
    assert clean["attr"].startswith("module __main__ → ['HOLDER'] Holder → .attr Item (")
    assert clean["class"].startswith("class __main__.Holder → .items list → [0] Item (")
    assert clean["dicted"].startswith("module __main__ → ['DICTED'] Dicted → .attr Item (")
    assert clean["cache"].startswith(
        "module __main__ → ['cached'] _lru_cache_wrapper → [1] Item (")
    assert "local 'local_item' Item" in clean["frame"]
    assert "in thread worker" in clean["frame"]
    for tag in ("attr", "class", "dicted", "cache", "frame"):
        assert trapped[tag] == clean[tag], tag
    # An attribute whose own name collides with a key of its class dict is
    # named all the same: relate reads 3.11+ inline values with the names of
    # the class's shared keys, and looks nothing up (it once read
    # '<attribute>' on 3.11+).
    own = "module __main__ → ['OWN'] OwnName → %s Item ("
    assert clean["own"].startswith(own % ".attr")
    assert trapped["own"].startswith(own % ".attr")


# ---- 3. a Thread subclass whose _name is a property -----------------------------------

THREAD_PROPERTY = """
import json, threading
import refchain

calls = []

class Item:
    pass

class Sneaky(threading.Thread):
    @property
    def _name(self):
        calls.append("_name")
        return "sneaky"

    @_name.setter
    def _name(self, value):
        pass

def work(ready, stop):
    item = Item()
    ready.set()
    stop.wait()

ready, stop = threading.Event(), threading.Event()
thread = Sneaky(target=work, args=(ready, stop))
thread.start()
ready.wait()
[target] = [o for o in refchain.by_type("__main__.Item")]
del calls[:]
try:
    text = str(refchain.find_chain(target))
    out = {"text": text, "calls": list(calls)}
finally:
    stop.set()
    thread.join()
print(json.dumps(out))
"""


def test_a_thread_name_property_is_never_called(run_script):
    out = json.loads(run_script(THREAD_PROPERTY).stdout)
    assert out["calls"] == []
    assert out["text"].startswith("frame work() at script.py:")
    assert "local 'item' Item" in out["text"]
