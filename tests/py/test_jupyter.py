"""refchain in a real Jupyter kernel: a notebook's globals live in
__main__'s dict, which the kernel's exec() holds from C.  Chains must still
start at the module, name the global, and draw."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import _pythonpath

if (os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3")
        or shutil.which("jupyter-nbconvert") is None):
    pytest.skip("Debian's ipykernel runs Debian's python3 only (jupyter-nbconvert, "
                "python3-ipykernel)", allow_module_level=True)

import nbformat  # noqa: E402

CELLS = [
    "import refchain",
    "_CACHE = {i: bytes(100) for i in range(1000)}\n"
    "class Session:\n"
    "    pass\n"
    "SESSIONS = [Session() for _ in range(300)]",
    "print(refchain.find_chain(_CACHE[500]))",
    "refchain.show_explain(Session)",
    "refchain.find_chain(_CACHE[500])",
]


def test_a_notebook_global_is_held_by_module_main(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, str(tmp_path / "leak.ipynb"))
    env = dict(os.environ, PYTHONPATH=_pythonpath(), PYDEVD_DISABLE_FILE_VALIDATION="1")
    subprocess.run(["jupyter-nbconvert", "--to", "notebook", "--execute", "leak.ipynb",
                    "--output", "done.ipynb", "--ExecutePreprocessor.timeout=120"],
                   cwd=str(tmp_path), env=env, check=True, capture_output=True, timeout=300)
    done = nbformat.read(str(tmp_path / "done.ipynb"), 4)
    outputs = [cell.get("outputs", []) for cell in done.cells]
    text = ["".join(o.get("text", "") for o in out) for out in outputs]
    assert text[2] == "module __main__ → ['_CACHE'] dict → [500] bytes (133 B)\n"
    assert text[3].startswith(
        "300 Session (16.4 KiB), held through module __main__ → ['SESSIONS'] list → [*] Session.")
    data = outputs[4][0]["data"]
    assert data["image/svg+xml"].lstrip().startswith(("<svg", "<?xml"))
    assert "_CACHE" in data["image/svg+xml"]
