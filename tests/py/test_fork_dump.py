"""Fork dumps and dumps on a signal (issue 16, items 1 and 2): the child's
file reads like an in-process dump, other threads' stacks survive, the
parent is untouched and never deadlocks, and a signal under load writes a
file while a client's requests all succeed."""

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

import refchain
from conftest import _pythonpath

# The 50 rounds: REFCHAIN_FORK_ROUNDS=50 (about 40 s on a shared 2-core machine).
ROUNDS = int(os.environ.get("REFCHAIN_FORK_ROUNDS", "12"))


def _script(tmp_path, source, name="script.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    env.pop("PYTHONTRACEMALLOC", None)
    return path, env


def test_fork_dump_names_the_leak_like_an_in_process_dump(run_script, tmp_path):
    """The same explain text and root descriptions; the parent's census is
    unchanged; the child leaves with _exit: the parent's atexit handler and
    its unflushed stdout buffer never run or flush in the child."""
    proc = run_script("""
        import atexit, io, os, sys
        import refchain

        atexit.register(lambda: open("atexit-%d" % os.getpid(), "w").close())

        class Leak:
            pass

        _CACHE = {}
        for i in range(300):
            _CACHE[i] = Leak()

        def explain(path):
            out = io.StringIO()
            refchain.load(path).show_explain("Leak", file=out)
            return out.getvalue()

        refchain.dump("in.rcsnap")
        sys.stdout.write("unflushed;")          # stays in the buffer across the fork
        job = refchain.dump("fork.rcsnap", fork=True)
        assert job.wait(60) == "fork.rcsnap", job
        assert job.pause > 0 and job.peak_bytes > 0, (job.pause, job.peak_bytes)
        a, b = explain("in.rcsnap"), explain("fork.rcsnap")
        assert a == b, (a, b)
        assert "300 Leak" in b and "module __main__ → ['_CACHE'] dict → [*] Leak" in b, b
        snap = refchain.load("fork.rcsnap")
        assert "fork" in snap.facts, snap.facts
        print("ok")
    """)
    assert proc.stdout.count("unflushed;") == 1, proc.stdout
    assert proc.stdout.endswith("ok\n"), proc.stdout
    marks = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("atexit-"))
    assert len(marks) == 1, marks      # the parent's only


def test_a_traced_fork_dump_says_why_it_has_no_allocation_lines(run_script):
    """A fork dump carries no allocation tracebacks (its child runs no
    Python code), though tracemalloc traced: its growth and explanations say
    so, not that tracemalloc was off.  An untraced one says tracemalloc was
    off."""
    proc = run_script("""
        import io, json, tracemalloc
        import refchain
        from refchain._sites import FORK_HINT, TRACEMALLOC_HINT

        class Leak:
            pass

        _CACHE = []
        refchain.dump("before.rcsnap")
        for i in range(200):
            _CACHE.append(Leak())
        tracemalloc.start()
        assert refchain.dump("traced.rcsnap", fork=True).wait(60)
        tracemalloc.stop()
        assert refchain.dump("untraced.rcsnap", fork=True).wait(60)
        before = refchain.load("before.rcsnap")
        out = {}
        for name in ("traced", "untraced"):
            snap, growth, groups = refchain.load(name + ".rcsnap"), io.StringIO(), io.StringIO()
            snap.show_growth(since=before, file=growth)
            snap.show_explain("Leak", file=groups)
            out[name] = [snap.traced, growth.getvalue().splitlines()[-1],
                         groups.getvalue().splitlines()[-1]]
        print(json.dumps([out, FORK_HINT, TRACEMALLOC_HINT]))
    """)
    out, fork_hint, off_hint = json.loads(proc.stdout)
    assert out["traced"] == [False, fork_hint, fork_hint], out
    assert out["untraced"] == [False, off_hint, off_hint], out
    assert "fork=True" in fork_hint and "--fork" in fork_hint


def _grown(before, after):
    grown = {row.name: row.delta for row in after - before if row.delta}
    grown.pop("refchain._snapshot.DumpProcess", None)
    for name, n in (("_thread.lock", 1), ("int", 2), ("float", 1)):
        assert grown.pop(name, 0) <= n, name    # the handle's lock, pid, peak and pause
    if sys.version_info < (3, 11):
        grown.pop("dict", None)     # its __dict__, whose attribute names (its code's
        grown.pop("str", None)      # co_names, not reached otherwise) are counted with it
    return grown


def test_fork_dump_leaves_the_parent_heap_unchanged(tmp_path):
    """A census before and after the fork dump: the same but for the
    handle.  Before 3.12 the handle keeps the tracked list (and what it
    holds) until the child has exited: the census after wait()."""
    path = str(tmp_path / "h.rcsnap")
    refchain.dump(path, fork=True).wait(60)     # first-time imports and caches
    gc.collect()
    gc.disable()            # no collection of the test runner's garbage in between
    try:
        before = refchain.census()
        job = refchain.dump(path, fork=True)
        if sys.version_info >= (3, 12):
            assert not _grown(before, refchain.census())
        job.wait(60)
        assert not _grown(before, refchain.census())
    finally:
        gc.enable()


def test_a_fork_dump_predicts_no_garbage_from_its_own_call(run_script):
    """A heap with nothing waiting for the collector: its fork dump, and its
    in-process dump, predict no garbage (the locals of the call that forked
    are held by its running frame, not garbage), as the live garbage() does;
    a real garbage cycle is still found in both."""
    proc = run_script("""
        import gc, json
        import refchain

        class Node:
            pass

        gc.collect()
        gc.disable()
        out = {"live": refchain.garbage().object_count}
        refchain.dump("fork.rcsnap", fork=True).wait(60)
        refchain.dump("plain.rcsnap")
        for name in ("fork", "plain"):
            report = refchain.load(name + ".rcsnap").garbage()
            out[name] = [report.object_count, str(report)]
        a, b = Node(), Node()
        a.peer, b.peer = b, a
        del a, b
        refchain.dump("fork2.rcsnap", fork=True).wait(60)
        out["cycle"] = refchain.load("fork2.rcsnap").garbage().object_count
        print(json.dumps(out))
        """)
    out = json.loads(proc.stdout)
    assert out["live"] == 0
    for name in ("fork", "plain"):
        assert out[name] == [0, "Nothing is waiting for the cyclic garbage collector."], out
    assert out["cycle"] >= 2, out


def test_waiting_for_a_fork_dump_imports_nothing_its_snapshot_lacks(run_script):
    """os.wait4() imports resource the first time: a fork dump imports it
    before its capture, so the modules a census counts after wait() are
    the snapshot's, and the next snapshot shows no module as new."""
    proc = run_script("""
        import json, sys
        import refchain

        before = "resource" in sys.modules
        refchain.dump("a.rcsnap", fork=True).wait(60)
        snap = refchain.load("a.rcsnap")
        print(json.dumps([before, snap.census()["module"].count,
                          refchain.census()["module"].count]))
        """)
    before, in_snapshot, live = json.loads(proc.stdout)
    assert not before
    assert in_snapshot == live


def test_other_threads_stacks_survive(tmp_path):
    """A thread blocked while its frame alone holds an object: the fork dump
    finds the object, held through that frame of that thread."""
    ready, release = threading.Event(), threading.Event()

    class OnlyOnTheStack:
        pass

    def hold():
        mine = OnlyOnTheStack()       # referenced from this frame alone
        ready.set()
        release.wait()
        del mine

    t = threading.Thread(target=hold, name="Holder")
    t.start()
    ready.wait()
    try:
        job = refchain.dump(str(tmp_path / "t.rcsnap"), fork=True)
        path = job.wait(60)
    finally:
        release.set()
        t.join()
    snap = refchain.load(path)
    groups = snap.explain("OnlyOnTheStack")
    assert len(groups) == 1 and groups[0].count == 1, groups
    text = str(groups[0].chain)
    assert text.startswith("frame hold() at ") and "in thread Holder → local 'mine'" in text, text


def test_fork_safety_with_threads_allocating_and_logging(tmp_path):
    """8 threads allocating and logging to a file: ROUNDS fork dumps, each
    child finishes with a valid file, the parent never deadlocks."""
    path, env = _script(tmp_path, """
        import logging, sys, threading, time, tracemalloc
        import refchain
        if sys.argv[2] == "trace":
            tracemalloc.start(5)
        log = logging.getLogger("svc")
        h = logging.FileHandler("svc.log")
        log.addHandler(h)
        log.setLevel(logging.INFO)
        stop = threading.Event()

        def churn(k):
            keep = []
            while not stop.is_set():
                keep.append([{"k": k, "i": i} for i in range(50)])
                log.info("thread %d has %d", k, len(keep))
                if len(keep) > 20:
                    keep.clear()

        threads = [threading.Thread(target=churn, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        pauses = []
        for r in range(int(sys.argv[1])):
            job = refchain.dump("d%d.rcsnap" % r, fork=True)
            pauses.append(job.pause)
            job.wait(180)       # generous: 8 busy threads share the cores with the child
        stop.set()
        for t in threads:
            t.join()
        for r in range(int(sys.argv[1])):
            assert len(refchain.load("d%d.rcsnap" % r)) > 1000
        print("max pause %.1f ms" % (max(pauses) * 1e3))
    """)
    for mode, rounds in (("plain", ROUNDS), ("trace", 3)):
        proc = subprocess.run([sys.executable, str(path), str(rounds), mode], cwd=str(tmp_path),
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "max pause" in proc.stdout


SERVER = """
    import faulthandler, http.server, logging, signal, sys, threading, time
    import refchain

    faulthandler.register(signal.SIGUSR2, all_threads=True)    # the test's diagnosis

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")

    class Leak:
        pass

    _LEAKED = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            _LEAKED.append(Leak())
            body = b"ok %d" % len(_LEAKED)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    refchain.dump_on_signal(signal.SIGUSR1, directory=sys.argv[1])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(srv.server_address[1], flush=True)
    # Outlives the test, which terminates it.  Python runs a signal handler in
    # the main thread, between bytecodes: when the kernel hands SIGUSR1 to a
    # worker thread, a main thread blocked in one long lock wait (Event.wait)
    # runs it only when that wait ends.  A service's main loop wakes often.
    for _ in range(9000):
        time.sleep(0.1)
"""


def test_dump_on_signal_under_load(tmp_path):
    out = tmp_path / "dumps"
    out.mkdir()
    path, env = _script(tmp_path, SERVER, "server.py")
    log = tmp_path / "server.log"
    with log.open("w") as err_file:
        proc = subprocess.Popen([sys.executable, str(path), str(out)], cwd=str(tmp_path),
                                env=env, stdout=subprocess.PIPE, stderr=err_file, text=True)
    try:
        port = int(proc.stdout.readline())
        failures, done = [], threading.Event()
        count = [0]

        def client():
            while not done.is_set():
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10) as r:
                        assert r.read().startswith(b"ok")
                    count[0] += 1
                except Exception as e:      # every failure is reported
                    failures.append(repr(e))

        c = threading.Thread(target=client)
        c.start()
        while count[0] < 50:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 120
        # Logged: the dump is over, and the next signal starts another.
        while "wrote" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        # A burst: the first forks, the rest arrive while its child writes.
        for _ in range(6):
            os.kill(proc.pid, signal.SIGUSR1)
            time.sleep(0.005)
        while log.read_text().count("wrote") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        done.set()
        c.join()
        if log.read_text().count("wrote") < 2:      # say where the server is stuck
            os.kill(proc.pid, signal.SIGUSR2)
            time.sleep(2)
            children = subprocess.run(["ps", "--ppid", str(proc.pid), "-o", "pid,stat,etime,wchan"],
                                      capture_output=True, text=True).stdout
            log.open("a").write("\n[test] the server's children:\n" + children)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    err = log.read_text()
    assert not failures, failures[:5]
    files = sorted(out.iterdir())
    assert 2 <= len(files) <= 6, (files, err)
    assert all(f.name.startswith("refchain-%d-" % proc.pid) for f in files), files
    assert "refchain refchain: wrote %s" % files[0] in err, err
    assert "coalesced" in err, err
    groups = refchain.load(str(files[0])).explain("Leak")
    assert "module __main__ → ['_LEAKED'] list → [" in str(groups[0].chain), groups


def test_bad_input(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        refchain.dump(str(f / "x.rcsnap"), fork=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        refchain.dump(str(tmp_path / "no" / "x.rcsnap"), fork=True)
    with pytest.raises(IsADirectoryError):
        refchain.dump(str(tmp_path), fork=True)
    with pytest.raises(TypeError, match="fork"):
        refchain.dump(str(tmp_path / "x"), fork="yes")
    with pytest.raises(NotADirectoryError):
        refchain.dump_on_signal(directory=str(f))
    with pytest.raises(TypeError, match="fork"):
        refchain.dump_on_signal(directory=str(tmp_path), fork=1)
    for uncatchable in ("SIGKILL", "SIGSTOP"):
        with pytest.raises(ValueError, match=uncatchable + " cannot be caught"):
            refchain.dump_on_signal(getattr(signal, uncatchable), directory=str(tmp_path))
    # A failure in the child comes back with its message.
    ro = tmp_path / "ro"
    ro.mkdir()
    job = refchain.dump(str(ro / "x.rcsnap"), fork=True)
    os.chmod(str(ro), 0o500)
    try:
        if os.geteuid() == 0:
            job.wait(60)            # root writes anyway
        else:
            with pytest.raises(RuntimeError, match="fork dump to .* failed"):
                job.wait(60)
    finally:
        os.chmod(str(ro), 0o700)


def test_dump_on_signal_uninstall_restores_the_handler(tmp_path):
    previous = signal.getsignal(signal.SIGUSR2)
    with refchain.dump_on_signal(signal.SIGUSR2, directory=str(tmp_path)) as d:
        assert signal.getsignal(signal.SIGUSR2) == d._handle
    assert signal.getsignal(signal.SIGUSR2) is previous
