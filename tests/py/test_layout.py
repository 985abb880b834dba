"""The layering of the sources (issue 12; DESIGN.md, "Binding" and "The
Python package"): the package's modules import one another without a
circle, and the extension never imports or calls the package: the package
wraps the C types for formatting and drawing, the C side never calls up."""

import ast
import gc
import os
import re
import subprocess
import sys
import types

import refchain
from refchain import _refchain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")


def _sources():
    for fn in sorted(os.listdir(SRC)):
        if fn.endswith((".c", ".h")):
            with open(os.path.join(SRC, fn), encoding="utf-8") as f:
                yield fn, f.read()


def _strip_comments(text):
    """text without its C comments, each replaced by its newlines (so that
    line numbers stay right)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: "\n" * m.group(0).count("\n"), text,
                  flags=re.S)


def test_the_package_has_no_import_cycle():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "check-imports"),
         os.path.join(ROOT, "python", "refchain")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("no import cycles among "), proc.stdout


def test_check_imports_names_a_cycle(tmp_path):
    """The checker itself: a circle through a function-level import fails
    with the circle named; a package without one passes."""
    pkg = tmp_path / "refchain"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from refchain import _a\n")
    (pkg / "_a.py").write_text("from refchain._b import f\n")
    (pkg / "_b.py").write_text("def f():\n    from . import _c\n")
    (pkg / "_c.py").write_text("import refchain._a\n")
    tool = os.path.join(ROOT, "tools", "check-imports")
    proc = subprocess.run([sys.executable, tool, str(pkg)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "import cycle: refchain._a -> refchain._b -> refchain._c -> refchain._a" \
        in proc.stdout, proc.stdout
    (pkg / "_c.py").write_text("import os\n")
    proc = subprocess.run([sys.executable, tool, str(pkg)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_extension_imports_no_package_module():
    """No PyImport_* of refchain or a refchain._ module, and no other
    string naming a package module than the extension's own name."""
    found = []
    for fn, text in _sources():
        code = _strip_comments(text)
        for m in re.finditer(r"PyImport_\w+\s*\(\s*\"([^\"]*)\"", code):
            if m.group(1) == "refchain" or m.group(1).startswith("refchain."):
                found.append("%s: imports %s" % (fn, m.group(1)))
        for m in re.finditer(r"\"(refchain\._\w*)", code):
            if m.group(1) != "refchain._refchain":
                found.append("%s: names %s" % (fn, m.group(1)))
    assert not found, found


# DESIGN.md's layering table: who may include what.  The walker units that
# read objects in place (the capture, relate, their version shims, the fork
# child's root descriptions, a live dump's labels and values) include
# Python.h; no other walker/ or include/refchain/ file does, and render/
# never does.  Graphviz belongs to render/ (and the binding), never to
# walker/ or include/refchain/.
_READS_OBJECTS = {"walker/capture.c", "walker/relate.c", "walker/pycompat.c",
                  "walker/pycompat_interp.c", "walker/describe.c", "walker/dumplive.c"}
_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def test_each_layer_includes_only_what_it_may():
    found = []
    for layer in ("walker", "include/refchain", "render"):
        for fn in sorted(os.listdir(os.path.join(ROOT, layer))):
            if not fn.endswith((".c", ".h")):
                continue
            rel = layer + "/" + fn
            with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
                headers = _INCLUDE.findall(_strip_comments(f.read()))
            for h in headers:
                python = h in ("Python.h", "frameobject.h") or h.startswith("internal/")
                graphviz = h in ("gvc.h", "cgraph.h") or h.startswith("graphviz/")
                if python and rel not in _READS_OBJECTS:
                    found.append("%s includes %s" % (rel, h))
                if graphviz and layer != "render":
                    found.append("%s includes %s" % (rel, h))
    assert not found, found
    # The check sees includes at all: the capture's own.
    with open(os.path.join(ROOT, "walker", "capture.c"), encoding="utf-8") as f:
        assert "Python.h" in _INCLUDE.findall(f.read())


# The fields of the module state that the extension may call: its own types
# (ObjectList(list) builds one).
_CALLABLE_STATE = re.compile(r"\w+_type$")
_CALL = re.compile(r"\b(?:PyObject_Call\w*|PyObject_Vectorcall\w*|_PyObject_Call\w*)"
                   r"\s*\(\s*(?:\(PyObject\s*\*\)\s*)?([^,)]+)")


def _state_fields():
    """The names of rc_state's fields (src/rcmodule.h): a call through
    another struct (a callback's context) is the caller's own argument."""
    with open(os.path.join(SRC, "rcmodule.h"), encoding="utf-8") as f:
        body = re.search(r"typedef struct rc_state \{(.*?)\} rc_state;", f.read(), re.S).group(1)
    body = _strip_comments(body)
    return set(re.findall(r"(\w+)\s*(?:\[[^]]*\])?\s*;", body)) | \
        set(re.findall(r"\(\s*\*\s*(\w+)\s*\)\s*\(", body))


def test_the_extension_calls_nothing_stored_in_its_state():
    """No C code calls a Python object read from the module state (where
    the package's functions used to be stored as hooks): every call goes to
    an argument the caller passed, or to the extension's own types."""
    found = []
    state = _state_fields()
    assert "chain_type" in state and "tool_globals" in state, state
    for fn, text in _sources():
        code = _strip_comments(text)
        # Locals assigned from a state field: `PyObject *fn = s->formatter;`.
        from_state = {m.group(1): m.group(2) for m in re.finditer(
            r"\b(\w+)\s*=\s*(?:rc_module_state\([^;]*?\)|\w+)->(\w+)\s*[;,]", code)}
        for m in _CALL.finditer(code):
            callee = m.group(1).strip()
            field = re.search(r"->\s*(\w+)$", callee)
            field = field.group(1) if field else from_state.get(callee)
            if field in state and not _CALLABLE_STATE.search(field):
                line = code.count("\n", 0, m.start()) + 1
                found.append("%s:%d: calls %s, read from "
                             "the module state's %s" % (fn, line, callee, field))
    assert not found, found


def test_the_module_state_holds_no_package_function():
    """What the extension module holds (its traverse visits the module
    state) is data and its own types: no function of the package."""
    held = [r for r in gc.get_referents(_refchain) if callable(r) and not isinstance(r, type)]
    assert held == [], held


class Held:
    pass


HELD = [Held()]


def test_the_package_still_formats_and_draws_the_c_types():
    """The wrapping is in place: the C types are the package's public
    types, unchanged, with the package's text and picture."""
    chain = refchain.find_chain(HELD[0])
    assert type(chain) is refchain.Chain and type(chain).__name__ == "Chain"
    assert isinstance(chain, _refchain.Chain)
    assert str(chain).endswith(" → [0] Held (%d B)" % _refchain._shallow_size(HELD[0])), \
        str(chain)
    assert repr(chain).startswith("<refchain.Chain: module root, ")
    assert repr(chain).endswith(" hops to a Held>")
    census = refchain.census()
    assert str(census).splitlines()[-1].lstrip("(").startswith("total, ")
    assert str(census - census) == "(no change)"
    assert isinstance(refchain.Chain.__dict__["_repr_svg_"], types.FunctionType)


# The leaf modules and the only package modules each may import.
LEAVES = {"_census": set(), "_format": set(), "_node": set(), "_safe": {"_format"},
          "_sites": {"_format"}}


def test_the_leaf_modules_import_only_leaves():
    for leaf, allowed in LEAVES.items():
        path = os.path.join(ROOT, "python", "refchain", leaf + ".py")
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "refchain":
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("refchain."):
                imported.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                imported.update(a.name.split(".")[1] for a in node.names
                                if a.name.startswith("refchain."))
        assert imported - {"_refchain"} <= allowed, (leaf, sorted(imported))
