"""The text refchain prints (issue 11, item 7): it survives odd keys in
sys.modules, escapes control characters, bounds long names, stays linear in
the number of types, and reads a long run of the same hop once.

Every scenario runs in a fresh interpreter."""

import json


# ---- sys.modules keys that are not strs ----------------------------------------------

ODD_MODULES = """
import gc, json, sys, types

class Item:
    pass

hidden = types.ModuleType("hidden_mod")
hidden.ITEM = Item()
sys.modules[1] = hidden                 # before the import: refchain must not sort them
sys.modules[(2, "tuple")] = types.ModuleType("tuple_key")
sys.modules[b"bytes"] = None
sys.modules["not_a_module"] = 42

import refchain

out = {"tool_globals": sorted(g["__name__"] for g in refchain._chains.tool_globals())}
out["chain"] = str(refchain.find_chain(sys.modules[1].ITEM))
before = refchain.census()
ITEMS = [Item() for _ in range(3)]
out["leaks"] = str(refchain.leaks(before))
out["explain"] = [g.path() for g in refchain.explain(Item)]
refchain.show_growth()
gc.collect()
out["garbage"] = str(refchain.garbage())
print(json.dumps(out))
"""


def test_sys_modules_keys_that_are_not_strs(run_script):
    out = json.loads(run_script(ODD_MODULES).stdout.splitlines()[-1])
    assert "refchain" in out["tool_globals"] and "refchain._chains" in out["tool_globals"]
    assert all(name.startswith("refchain") for name in out["tool_globals"])
    assert out["chain"].startswith("module hidden_mod → ['ITEM'] Item (")
    assert "3 __main__.Item" in out["leaks"]
    assert "module hidden_mod → ['ITEM'] Item" in out["explain"]
    assert "module __main__ → ['ITEMS'] list → [*] Item" in out["explain"]
    assert out["garbage"] == "Nothing is waiting for the cyclic garbage collector."
