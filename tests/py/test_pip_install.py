"""pip install --no-build-isolation . into a fresh venv of Debian's
/usr/bin/python3, with Debian's pip, setuptools and wheel and nothing from
PyPI (--no-index); then, from another directory: import refchain, the
`refchain` console script, pytest with the plugin; pip uninstall removes
every file.  Also cmake --install's dist-info: pytest finds the plugin by
its pytest11 entry point.

Runs on the system interpreter only (`./run test` runs it once with
/usr/bin/python3): it builds the extension once more, about a minute."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

SYSTEM = "/usr/bin/python3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(SYSTEM) or
                       os.path.realpath(sys.executable) != os.path.realpath(SYSTEM) or
                       hasattr(sys, "gettotalrefcount"),
                       reason="pip install is tested on Debian's /usr/bin/python3 only"),
]


def run(args, cwd, env=None, check=True):
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    full_env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **(env or {}))
    proc = subprocess.run(args, cwd=str(cwd), env=full_env, capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%d)\n--- stdout\n%s\n--- stderr\n%s"
                             % (" ".join(map(str, args)), proc.returncode, proc.stdout[-5000:],
                                proc.stderr[-5000:]))
    return proc


def _copy_source(dest):
    """The source tree as git sees it (tracked and new files), without build/."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for rel in files:
        if rel and not rel.startswith("build/") and os.path.isfile(os.path.join(ROOT, rel)):
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel))


def _site_files(venv):
    site = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages"))[0]
    return sorted(n for n in os.listdir(site) if n.startswith("refchain"))


def test_pip_install_use_and_uninstall(tmp_path):
    src, venv, elsewhere = tmp_path / "src", tmp_path / "venv", tmp_path / "elsewhere"
    _copy_source(str(src))
    elsewhere.mkdir()
    # --system-site-packages: Debian's pytest and wheel (pip's bdist_wheel
    # needs it) are visible; refchain is not installed there.
    run([SYSTEM, "-m", "venv", "--system-site-packages", str(venv)], tmp_path)
    py, pip = str(venv / "bin" / "python"), str(venv / "bin" / "pip")
    assert run([py, "-c", "import refchain"], elsewhere, check=False).returncode != 0
    run([pip, "install", "--no-build-isolation", "--no-index", str(src)], tmp_path,
        env={"CMAKE_BUILD_PARALLEL_LEVEL": "2"})

    out = run([py, "-c", "import refchain, json; print(refchain.__file__); "
               "print(refchain.count('refchain.Census'))"], elsewhere).stdout.split()
    assert out[0].startswith(str(venv)) and out[1] == "0"
    helped = run([str(venv / "bin" / "refchain"), "--help"], elsewhere).stdout
    assert helped.startswith("usage: refchain") and "snapshot commands" in helped
    assert run([py, "-m", "refchain", "--help"], elsewhere).stdout == helped
    assert run([str(venv / "bin" / "refchain"), "dump"], elsewhere, check=False).returncode == 2
    for args in (["-p", "refchain.pytest_plugin", "--help"], ["--help"]):
        # The entry point loads it without -p; with -p it is the same plugin.
        text = run([py, "-m", "pytest", "-p", "no:cacheprovider"] + args, elsewhere).stdout
        assert "--refchain-leaks" in text, args
    (elsewhere / "test_leaky.py").write_text(
        "KEEP = []\nclass Thing: pass\n"
        "def test_leaks():\n    KEEP.append(Thing())\n")
    proc = run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--refchain-leaks"],
               elsewhere, check=False)
    assert proc.returncode == 1
    assert "test_leaks leaked 1 test_leaky.Thing: held through module test_leaky → " \
        "['KEEP'] list → [*] Thing" in proc.stdout

    assert _site_files(str(venv)) == ["refchain", "refchain-0.1.0.dist-info"]
    run([pip, "uninstall", "-y", "refchain"], elsewhere)
    assert _site_files(str(venv)) == []
    assert not (venv / "bin" / "refchain").exists()
    assert run([py, "-c", "import refchain"], elsewhere, check=False).returncode != 0

    # cmake --install from the tree pip's build made: a dist-info whose
    # pytest11 entry point pytest finds with no -p.
    tree = glob.glob(str(src / "build" / "temp*" / "cmake"))
    assert len(tree) == 1
    site = tmp_path / "site"
    run(["cmake", "-S", str(src), "-B", tree[0], "-DRC_INSTALL_DIR=%s" % site], tmp_path)
    run(["cmake", "--install", tree[0]], tmp_path)
    assert sorted(os.listdir(site)) == ["refchain", "refchain-0.1.0.dist-info"]
    text = run([SYSTEM, "-m", "pytest", "-p", "no:cacheprovider", "--help"], elsewhere,
               env={"PYTHONPATH": str(site)}).stdout
    assert "--refchain-leaks" in text
    record = (site / "refchain-0.1.0.dist-info" / "RECORD").read_text().split()
    listed = {line.split(",")[0] for line in record}
    on_disk = {os.path.relpath(os.path.join(d, f), str(site))
               for d, _, files in os.walk(str(site)) for f in files
               if "__pycache__" not in d}
    assert listed == on_disk
