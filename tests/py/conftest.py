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


def memory_limit_env(tmp_path, free, version=2, available=64 << 30, cache=0):
    """The environment that makes refchain's memory budget (refchain._memory)
    see a fake cgroup (v1 or v2) leaving `free` bytes, and a meminfo with
    `available` bytes: files under tmp_path, named by REFCHAIN_CGROUP_ROOT,
    REFCHAIN_PROC_CGROUP and REFCHAIN_MEMINFO."""
    root = tmp_path / "cgroup"
    limit = 1 << 30
    if version == 2:
        # The limit sits on the parent; the process's own level has none.
        parent = root / "svc"
        (parent / "app").mkdir(parents=True, exist_ok=True)
        (parent / "memory.max").write_text("%d\n" % limit)
        (parent / "memory.current").write_text("%d\n" % (limit - free + cache))
        (parent / "memory.stat").write_text("anon 1\ninactive_file %d\n" % cache)
        (parent / "app" / "memory.max").write_text("max\n")
        (parent / "app" / "memory.current").write_text("4096\n")
        line = "0::/svc/app\n"
    else:
        level = root / "memory" / "svc"
        level.mkdir(parents=True, exist_ok=True)
        (level / "memory.limit_in_bytes").write_text("%d\n" % limit)
        (level / "memory.usage_in_bytes").write_text("%d\n" % (limit - free + cache))
        (level / "memory.stat").write_text("cache 5\ntotal_inactive_file %d\n" % cache)
        (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
        (root / "memory" / "memory.usage_in_bytes").write_text("1\n")
        # Under a container's path the host's levels are missing: skipped.
        line = "4:memory:/svc/docker/abc\n0::/\n"
    (tmp_path / "proc-cgroup").write_text(line)
    (tmp_path / "meminfo").write_text("MemTotal: 1 kB\nMemAvailable: %d kB\n"
                                      % (available // 1024))
    return {"REFCHAIN_CGROUP_ROOT": str(root),
            "REFCHAIN_PROC_CGROUP": str(tmp_path / "proc-cgroup"),
            "REFCHAIN_MEMINFO": str(tmp_path / "meminfo")}
