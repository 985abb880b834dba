"""Shared helpers: most behaviours are checked in a fresh interpreter, so the
heap under test holds only what the test puts there."""

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import refchain


def _pythonpath():
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(refchain.__file__)))]
    spec = importlib.util.find_spec("objgraph")
    if spec and spec.origin:
        paths.append(os.path.dirname(os.path.abspath(spec.origin)))
    return os.pathsep.join(paths)


@pytest.fixture
def run_script(tmp_path):
    """run_script(source, name="script.py", env=None, check=True) -> CompletedProcess

    Writes `source` (dedented) to tmp_path/name and runs it with this
    interpreter, cwd=tmp_path, refchain (and objgraph) importable."""

    def run(source, name="script.py", env=None, check=True, timeout=300):
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        full_env = dict(os.environ, PYTHONPATH=_pythonpath())
        full_env.pop("PYTHONTRACEMALLOC", None)
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, str(path)],
            cwd=str(tmp_path),
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                "script failed (%d)\n--- stdout\n%s\n--- stderr\n%s"
                % (proc.returncode, proc.stdout, proc.stderr)
            )
        return proc

    return run


def line_of(source, needle):
    """1-based line number of the first line of dedented `source` containing needle."""
    for number, line in enumerate(textwrap.dedent(source).splitlines(), 1):
        if needle in line:
            return number
    raise ValueError(needle)


def how_it_ended(code):
    """A child's return code as words: 'killed by SIGSEGV', 'exit status 1'."""
    if code < 0:
        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit status %d" % code
