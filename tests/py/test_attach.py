"""`python -m refchain attach PID` (issue 16, item 3): a running CPython of
this interpreter, with no refchain on its path, writes a snapshot at a safe
point; a real threaded HTTP server keeps answering meanwhile.  Each bad
input exits 2 with its one-line message and leaves the target running."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

import refchain
from conftest import _pythonpath, memory_limit_env


def _ptrace_scope():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


if shutil.which("gdb") is None:
    pytestmark = pytest.mark.skip(reason="gdb is not installed (tools/setup-debian installs it)")
elif _ptrace_scope() == 3 or (os.geteuid() != 0 and _ptrace_scope() >= 1):
    pytestmark = pytest.mark.skip(reason="ptrace is not available here (ptrace_scope %d, uid %d)"
                                  % (_ptrace_scope(), os.geteuid()))

SERVER = """
import http.server, sys

class Session:
    def __init__(self, n):
        self.n = n
        self.payload = bytes(256)

SESSIONS = []          # the leak's holder: every request's Session stays here

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        SESSIONS.append(Session(len(SESSIONS)))
        body = str(len(SESSIONS)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever(poll_interval=0.05)
"""

CLIENT = """
import os, sys, urllib.request
port, stop = int(sys.argv[1]), sys.argv[2]
ok, failed = 0, []
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
while not os.path.exists(stop):
    try:
        with opener.open("http://127.0.0.1:%d/" % port, timeout=60) as reply:
            reply.read()
        ok += 1
    except Exception as exc:
        failed.append(repr(exc))
print(ok, len(failed), failed[:3], flush=True)
"""


def _target_env():
    """The target's environment: no refchain on its path, so the snapshot
    proves the injected code found it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "http_proxy", "HTTP_PROXY")}
    return env


def _spawn(tmp_path, source, name="target.py", stdin=subprocess.DEVNULL, env=None):
    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen([sys.executable, str(script)], env=dict(_target_env(), **(env or {})),
                            stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _attach(*args, env=None, prefix=(), timeout=300):
    full_env = dict(os.environ, PYTHONPATH=_pythonpath())
    full_env.update(env or {})
    return subprocess.run(list(prefix) + [sys.executable, "-m", "refchain", "attach"]
                          + [str(a) for a in args], env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _count(port):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open("http://127.0.0.1:%d/" % port, timeout=60) as reply:
        return int(reply.read())


def _serve_and_attach(tmp_path, *options):
    server = _spawn(tmp_path, SERVER, "server.py")
    client = None
    try:
        port = int(server.stdout.readline())
        stop = tmp_path / "stop"
        (tmp_path / "client.py").write_text(CLIENT)
        client = subprocess.Popen([sys.executable, str(tmp_path / "client.py"), str(port),
                                   str(stop)], env=_target_env(), stdout=subprocess.PIPE,
                                  text=True)
        deadline = time.monotonic() + 120
        while _count(port) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        out = tmp_path / "server.rcsnap"
        proc = _attach(server.pid, "-o", out, "--timeout", "120", *options)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        assert proc.stdout.startswith("wrote %s: process %d (Python " % (out, server.pid))
        after = _count(port)
        time.sleep(0.3)
        assert _count(port) > after + 1          # the client's loop goes on
        stop.write_text("")
        ok, failed, first = client.communicate(timeout=120)[0].split(" ", 2)
        assert int(failed) == 0, first
        assert int(ok) >= 300
        assert server.poll() is None
        return refchain.load(str(out)), after
    finally:
        if client is not None:
            _stop(client)
        _stop(server)


def _check_leak(snap, served):
    counts = {name: count for name, count, _ in snap.growth(limit=10 ** 6)}
    assert 300 <= counts["Session"] <= served
    groups = snap.explain("Session")
    text = str(groups[0].chain)
    assert groups[0].count >= 300
    assert "__main__" in text and "SESSIONS" in text, text


def test_attach_a_server_under_load(tmp_path):
    snap, served = _serve_and_attach(tmp_path)
    _check_leak(snap, served)


def test_attach_fork_a_server_under_load(tmp_path):
    snap, served = _serve_and_attach(tmp_path, "--fork")
    _check_leak(snap, served)


def test_attach_json(tmp_path):
    target = _spawn(tmp_path, "import time\nwhile True: time.sleep(0.05)\n")
    try:
        time.sleep(0.3)
        proc = _attach(target.pid, "-o", tmp_path / "t.rcsnap", "--json")
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["command"] == "attach" and data["pid"] == target.pid
        assert data["path"] == str(tmp_path / "t.rcsnap") and data["method"] == "gdb"
        assert 0 <= data["pause"] <= data["seconds"]
        # gdb's stop is its own line of the pause: the whole target waits.
        assert 0 < data["stopped"] < data["seconds"]
        text = _attach(target.pid, "-o", tmp_path / "u.rcsnap")
        assert re.search(r"its main thread paused \d+\.\d\d s, after gdb stopped it for at "
                         r"most \d+\.\d\d s, ", text.stdout), text.stdout
        assert target.poll() is None
    finally:
        _stop(target)


WATCHED = """
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
before = sorted(sys.modules)
print("ready", flush=True)
while not os.path.exists(os.path.join(here, "go")):
    time.sleep(0.02)
with open(os.path.join(here, "modules.json"), "w") as f:
    json.dump([before, sorted(sys.modules)], f)
"""

IMPORTS_REFCHAIN = """
import json, sys
before = set(sys.modules)
import refchain
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_attaching_imports_refchain_only_and_leaves_no_chain_to_its_program(tmp_path):
    # It imported subprocess, selectors, select, fcntl, signal, locale and
    # _posixsubprocess too (module-level imports of refchain._attach that
    # only the attaching side needs), whose import made 1,500 strs and 200
    # ints; and the dump named its program's frame as a holder:
    # "frame _refchain_attach_() at <string>:41 ... local 'data'".
    (tmp_path / "imports.py").write_text(IMPORTS_REFCHAIN)
    closure = set(json.loads(subprocess.run(
        [sys.executable, str(tmp_path / "imports.py")], stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=_pythonpath()), check=True).stdout))
    target = _spawn(tmp_path, WATCHED)
    try:
        assert target.stdout.readline() == "ready\n"
        out = tmp_path / "t.rcsnap"
        proc = _attach(target.pid, "-o", out)
        assert proc.returncode == 0, proc.stderr
        (tmp_path / "go").write_text("")
        assert target.wait(timeout=60) == 0, target.stderr.read()
    finally:
        _stop(target)
    before, after = json.loads((tmp_path / "modules.json").read_text())
    gained = set(after) - set(before)
    assert gained - closure == {"refchain._attach"}, sorted(gained - closure)
    assert "refchain" in gained and not gained & {"subprocess", "signal", "locale", "selectors"}
    snap = refchain.load(str(out))
    for typename in snap.census():
        for group in snap.explain(typename, limit=10 ** 6):
            text = str(group.chain)
            assert "_refchain_attach_()" not in text and "at <string>" not in text, \
                (typename, str(group))


# ---- bad inputs: exit 2, one line, the target still running ------------------------------


def _refused(proc, *needles):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    line = proc.stderr
    assert line.startswith("refchain: ") and line.count("\n") == 1, line
    for needle in needles:
        assert needle in line, line
    return line


SLEEPER = "import time\nprint('ready', flush=True)\nwhile True: time.sleep(0.05)\n"


def test_no_such_process(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _refused(_attach(gone.pid), "no such process: %d" % gone.pid)
    usage = _attach("0")
    assert usage.returncode == 2 and "'0' is not a process id" in usage.stderr
    assert not list(tmp_path.iterdir())


def test_not_a_cpython(tmp_path):
    sleep = subprocess.Popen(["sleep", "100"])
    try:
        time.sleep(0.2)
        _refused(_attach(sleep.pid, "-o", tmp_path / "x.rcsnap"),
                 "%d is not a CPython: it runs " % sleep.pid, "sleep")
        assert sleep.poll() is None
        assert not (tmp_path / "x.rcsnap").exists()
    finally:
        _stop(sleep)


def _other_interpreter():
    mine = (sys.version_info[:2], hasattr(sys, "gettotalrefcount"))
    found = sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3.*[0-9]"))
    found += ["/usr/bin/python3.11", "/usr/bin/python3.11d"]
    for path in found:
        if not os.access(path, os.X_OK):
            continue
        name = os.path.basename(path)
        minor = int(name.split(".")[1].rstrip("d"))
        if minor >= 8 and ((3, minor), name.endswith("d")) != mine:
            return path
    return None


def test_other_interpreter_version(tmp_path):
    other = _other_interpreter()
    if other is None:
        pytest.skip("no other CPython 3.8+ on this machine")
    script = tmp_path / "other.py"
    script.write_text(SLEEPER)
    target = subprocess.Popen([other, str(script)], env=_target_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline() == "ready\n"
        line = _refused(_attach(target.pid), "%d runs Python 3." % target.pid,
                        "and this refchain is built for Python %d.%d" % sys.version_info[:2])
        assert "-m refchain attach %d" % target.pid in line
        assert target.poll() is None
    finally:
        _stop(target)


def test_ptrace_not_permitted(tmp_path):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop CAP_SYS_PTRACE")
    # A non-dumpable target, and an attacher without CAP_SYS_PTRACE.
    target = _spawn(tmp_path, "import ctypes\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
                    + SLEEPER)
    try:
        assert target.stdout.readline() == "ready\n"
        drop = ["setpriv", "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace"]
        _refused(_attach(target.pid, prefix=drop),
                 "ptrace is not permitted on %d" % target.pid, "CAP_SYS_PTRACE", "lacks",
                 "ptrace_scope")
        assert target.poll() is None
    finally:
        _stop(target)


def test_gdb_missing(tmp_path):
    target = _spawn(tmp_path, SLEEPER)
    try:
        assert target.stdout.readline() == "ready\n"
        empty = tmp_path / "bin"
        empty.mkdir()
        _refused(_attach(target.pid, env={"PATH": str(empty)}),
                 "gdb is not installed", "apt-get install gdb")
        assert target.poll() is None
    finally:
        _stop(target)


# Traces argv[1] (PTRACE_SEIZE) and, with argv[2] "stop", puts it in tracing
# stop (PTRACE_INTERRUPT), until its stdin closes; its exit detaches, which
# resumes the target.
TRACER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
pid = int(sys.argv[1])
if libc.ptrace(0x4206, pid, None, None) != 0:
    sys.exit("PTRACE_SEIZE: " + os.strerror(ctypes.get_errno()))
if sys.argv[2] == "stop" and libc.ptrace(0x4207, pid, None, None) != 0:
    sys.exit("PTRACE_INTERRUPT: " + os.strerror(ctypes.get_errno()))
print("tracing", flush=True)
sys.stdin.read()
"""


def _state(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(line.split(":", 1)[1].strip() for line in f if line.startswith("State:"))


def test_stopped_and_traced_targets(tmp_path):
    target = _spawn(tmp_path, SLEEPER)
    try:
        assert target.stdout.readline() == "ready\n"
        os.kill(target.pid, signal.SIGSTOP)
        time.sleep(0.2)
        _refused(_attach(target.pid), "%d is stopped" % target.pid, "kill -CONT")
        os.kill(target.pid, signal.SIGCONT)
        assert target.poll() is None
        # Traced by another process, running or in tracing stop ("t"), which
        # kill -CONT does not end: the tracer is named, not kill -CONT.
        for how, stop in (("run", ""), ("stop", " and in tracing stop (t (tracing stop))")):
            tracer = subprocess.Popen([sys.executable, "-c", TRACER, str(target.pid), how],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                assert tracer.stdout.readline() == "tracing\n"
                deadline = time.monotonic() + 30
                while how == "stop" and not _state(target.pid).startswith("t"):
                    assert time.monotonic() < deadline, _state(target.pid)
                    time.sleep(0.02)
                line = _refused(_attach(target.pid),
                                "%d is already traced by process %d (python" % (target.pid,
                                                                                tracer.pid),
                                ")%s (a debugger, strace, or another attach)" % stop)
                assert "resume it first" not in line
            finally:
                tracer.stdin.close()
                assert tracer.wait(timeout=30) == 0
                tracer.stdout.close()
        deadline = time.monotonic() + 30
        while _state(target.pid)[:1] in "tT":           # the tracer's exit resumed it
            assert time.monotonic() < deadline, _state(target.pid)
            time.sleep(0.02)
        assert target.poll() is None
    finally:
        _stop(target)


# ---- one attach per target at a time ------------------------------------------------------

# Blocked in a read (no bytecode, so no pending call runs) until the test
# writes a byte: an attach waits for it meanwhile, holding the target's lock.
HELD = """
import sys, time
print("ready", flush=True)
sys.stdin.buffer.read(1)
while True:
    time.sleep(0.02)
"""


def _lock_path(pid):
    from refchain import _attach
    return os.path.join(_attach.REQUEST_DIR % os.stat("/proc/%d" % pid).st_uid,
                        "%d.lock" % pid)


def _lock_holder(path):
    """The pid that holds path's flock, from /proc/locks (looked at, not taken:
    taking it, even shared, would refuse the attach being watched)."""
    from refchain import _attach
    try:
        return _attach._flock_holder(os.stat(path))
    except FileNotFoundError:
        return None


def _hold_lock(pid):
    """Take the target's lock as an attach does: (its fd, the lock's path)."""
    from refchain import _attach
    st = os.stat("/proc/%d" % pid)
    folder = _attach._request_dir(st.st_uid, st.st_gid)
    return _attach._lock(folder, pid, st.st_uid, st.st_gid), _lock_path(pid)


def test_two_attaches_at_once_one_writes_the_other_fails_at_once(tmp_path):
    """Both used PID.request: the second overwrote the first's and, its gdb
    refused (the first's gdb traced the target), unlinked it; the first then
    took the missing request for the target's and waited out its timeout."""
    target = _spawn(tmp_path, HELD, stdin=subprocess.PIPE)
    first = None
    try:
        assert target.stdout.readline() == "ready\n"
        lock = _lock_path(target.pid)
        first_out = tmp_path / "first.rcsnap"
        first = subprocess.Popen(
            [sys.executable, "-m", "refchain", "attach", str(target.pid), "-o", str(first_out),
             "--timeout", "120"], env=dict(os.environ, PYTHONPATH=_pythonpath()),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while _lock_holder(lock) != str(first.pid):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        start = time.monotonic()
        second = _attach(target.pid, "-o", tmp_path / "second.rcsnap", "--timeout", "120")
        _refused(second, "another refchain attach to %d is in progress (lock %s held by "
                 "process %d (python" % (target.pid, lock, first.pid),
                 "wait for it to finish and try again")
        assert time.monotonic() - start < 20         # not its timeout: no gdb, no wait
        assert first.poll() is None                  # still waiting for the target
        target.stdin.write("x")
        target.stdin.flush()
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0 and err == "", err
        assert out.startswith("wrote %s: process %d " % (first_out, target.pid))
        assert len(refchain.load(str(first_out))) > 1000
        assert not (tmp_path / "second.rcsnap").exists()
        assert os.path.exists(lock) and _lock_holder(lock) is None   # kept, released
        assert target.poll() is None
    finally:
        if first is not None:
            _stop(first)
        _stop(target)


def test_a_held_lock_refuses_at_once_and_leaves_the_other_request(tmp_path):
    """The test holds the lock as a concurrent attach would, with that
    attach's request in place: a second attach exits 2 at once, with the
    lock's message, and leaves the request as it was."""
    target = _spawn(tmp_path, SLEEPER)
    fd = None
    try:
        assert target.stdout.readline() == "ready\n"
        fd, lock = _hold_lock(target.pid)
        request = os.path.join(os.path.dirname(lock), "%d.request" % target.pid)
        with open(request, "w") as f:
            f.write('{"nonce": "the other attach"}')
        before = os.stat(request)
        start = time.monotonic()
        _refused(_attach(target.pid, "-o", tmp_path / "x.rcsnap"),
                 "another refchain attach to %d is in progress (lock %s held by process %d"
                 % (target.pid, lock, os.getpid()))
        assert time.monotonic() - start < 20
        after = os.stat(request)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        with open(request) as f:
            assert f.read() == '{"nonce": "the other attach"}'
        assert not (tmp_path / "x.rcsnap").exists()
        assert os.stat(lock).st_mode & 0o777 == 0o600
        os.unlink(request)
        assert target.poll() is None
    finally:
        if fd is not None:
            os.close(fd)
        _stop(target)


LOCKER = """
import os, sys
from refchain import _attach
pid = int(sys.argv[1])
st = os.stat("/proc/%d" % pid)
_attach._lock(_attach._request_dir(st.st_uid, st.st_gid), pid, st.st_uid, st.st_gid)
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_killed_attachs_lock_file_does_not_block(tmp_path):
    """An attach killed while it held the lock leaves PID.lock behind; the
    kernel released its flock at its death, so the next attach goes on."""
    target = _spawn(tmp_path, SLEEPER)
    locker = None
    try:
        assert target.stdout.readline() == "ready\n"
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(target.pid)],
                                  env=dict(os.environ, PYTHONPATH=_pythonpath()),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert locker.stdout.readline() == "locked\n"
        lock = _lock_path(target.pid)
        _refused(_attach(target.pid, "-o", tmp_path / "x.rcsnap"),
                 "(lock %s held by process %d (python" % (lock, locker.pid))
        locker.kill()
        assert locker.wait(timeout=30) == -signal.SIGKILL
        assert os.path.exists(lock) and _lock_holder(lock) is None
        out = tmp_path / "after.rcsnap"
        proc = _attach(target.pid, "-o", out, "--timeout", "120")
        assert proc.returncode == 0, proc.stderr
        assert len(refchain.load(str(out))) > 1000
        assert target.poll() is None
    finally:
        if locker is not None:
            _stop(locker)
        _stop(target)


def test_only_this_runs_request_is_ever_unlinked(tmp_path):
    from refchain import _attach
    path = str(tmp_path / "1.request")
    uid, gid = os.geteuid(), os.getegid()
    assert _attach._unlink_own(path, _attach._write_private(path, b"mine", uid, gid)) \
        == "removed" and not os.path.exists(path)
    assert _attach._unlink_own(path, _attach._write_private(path, b"mine", uid, gid)) \
        == "removed"
    ident = _attach._write_private(path, b"mine", uid, gid)
    os.unlink(path)                                  # the target took it
    assert _attach._unlink_own(path, ident) == "gone"
    # Another run's request in its place: a new file, or the same inode
    # rewritten, or a symlink: left alone.
    ident = _attach._write_private(path, b"mine", uid, gid)
    os.unlink(path)
    _attach._write_private(path, b"theirs", uid, gid)
    assert _attach._unlink_own(path, ident) == "replaced"
    ident = _attach._write_private(path, b"mine", uid, gid)
    with open(path, "wb") as f:
        f.write(b"thei")
    assert _attach._unlink_own(path, ident) == "replaced"
    ident = _attach._write_private(path, b"mine", uid, gid)
    os.rename(path, path + ".moved")
    os.symlink(path + ".moved", path)
    assert _attach._unlink_own(path, ident) == "replaced"
    assert os.path.islink(path) and os.path.exists(path + ".moved")


@pytest.mark.parametrize("inject", ["fails", "queues nothing", "replaced, fails",
                                    "replaced, queues nothing"])
def test_attach_withdraws_its_own_request_only(tmp_path, monkeypatch, inject):
    """In process, with the injection replaced: a failed injection or a
    timeout withdraws the run's request, and leaves one another process put
    in its place (an attach that took no lock) where it is."""
    from refchain import _attach
    monkeypatch.setattr(_attach, "REQUEST_DIR", str(tmp_path / "req-%d"))
    target = _spawn(tmp_path, SLEEPER)

    def fake_inject(pid, folder, version, debug, st, timeout):
        request = os.path.join(folder, "%d.request" % pid)
        assert os.path.exists(request)
        if inject.startswith("replaced"):
            os.unlink(request)
            with open(request, "w") as f:
                f.write('{"nonce": "theirs"}')
        if inject.endswith("fails"):
            raise _attach.AttachError("gdb could not inject")
        return "gdb"

    monkeypatch.setattr(_attach, "_inject", fake_inject)
    try:
        assert target.stdout.readline() == "ready\n"
        request = os.path.join(_attach.REQUEST_DIR % os.geteuid(), "%d.request" % target.pid)
        message = {"fails": "gdb could not inject",
                   "queues nothing": "did not reach a safe point within 0.5 s",
                   "replaced, fails": "gdb could not inject",
                   "replaced, queues nothing": "another process replaced this attach's "
                                               "request"}[inject]
        with pytest.raises(_attach.AttachError, match=re.escape(message)):
            _attach.attach(target.pid, str(tmp_path / "x.rcsnap"), timeout=0.5)
        if inject.startswith("replaced"):
            with open(request) as f:
                assert f.read() == '{"nonce": "theirs"}'
        else:
            assert not os.path.exists(request)
        assert target.poll() is None
    finally:
        _stop(target)


STUCK = """
import sys
print("ready", flush=True)
sys.stdin.buffer.read(1)       # a C call with the GIL released: no bytecode runs
import time
time.sleep(0.5)                # the queued call runs: it finds no request
print(sorted(k for k in globals() if "refchain" in k), "refchain" in sys.modules, flush=True)
"""


def test_target_stuck_in_a_c_call(tmp_path):
    target = _spawn(tmp_path, STUCK, stdin=subprocess.PIPE)
    try:
        assert target.stdout.readline() == "ready\n"
        start = time.monotonic()
        proc = _attach(target.pid, "-o", tmp_path / "x.rcsnap", "--timeout", "2")
        _refused(proc, "%d did not reach a safe point within 2 s" % target.pid,
                 "stays queued")
        assert time.monotonic() - start < 60
        assert target.poll() is None
        target.stdin.write("x")
        target.stdin.close()
        out = target.stdout.read()
        assert target.wait(timeout=60) == 0, target.stderr.read()
        assert out == "[] False\n"                # ran, found no request, left nothing
        assert not (tmp_path / "x.rcsnap").exists()
    finally:
        _stop(target)


# ---- the request's checks, in process ----------------------------------------------------


def test_request_directory_must_be_private(tmp_path, monkeypatch):
    from refchain import _attach
    monkeypatch.setattr(_attach, "REQUEST_DIR", str(tmp_path / "req-%d"))
    uid, gid = os.geteuid(), os.getegid()
    made = _attach._request_dir(uid, gid)
    assert os.stat(made).st_mode & 0o777 == 0o700
    os.chmod(made, 0o755)                       # opened up by someone: refused
    with pytest.raises(_attach.AttachError, match="is not a private directory"):
        _attach._request_dir(uid, gid)
    os.rmdir(made)
    os.symlink(str(tmp_path), made)              # a symlink planted in its place
    with pytest.raises(_attach.AttachError, match="is not a private directory"):
        _attach._request_dir(uid, gid)


def test_target_checks_the_request(tmp_path):
    from refchain import _attach
    good = {"nonce": "n", "output": str(tmp_path / "a.rcsnap"), "fork": False, "force": False,
            "python": list(sys.version_info[:2]), "debug": hasattr(sys, "gettotalrefcount")}
    result = str(tmp_path / "result")
    for bad, message in ((dict(good, python=[2, 7]), "the request is for Python"),
                         (dict(good, output="relative.rcsnap"), "not an absolute path"),
                         (dict(good, output=7), "not an absolute path"),
                         (dict(good, fork="yes"), "fork is not a bool"),
                         (dict(good, force=None), "force is not a bool")):
        _attach._serve(bad, result)            # the error goes to the result, not out
        with open(result) as f:
            res = json.load(f)
        os.unlink(result)
        assert not res["ok"] and message in res["error"], res
        assert "interrupted" not in res and not os.path.exists(good["output"])
    _attach._serve(good, result)
    with open(result) as f:
        res = json.load(f)
    assert res["ok"] and res["nonce"] == "n" and res["path"] == good["output"]
    assert len(refchain.load(good["output"])) > 1000


@pytest.mark.parametrize("fork", [False, True])
def test_the_target_refuses_when_its_memory_is_short(tmp_path, fork):
    """In a target whose cgroup leaves 1 MiB, attach gets the memory budget's
    refusal (exit 2, the numbers, the way out), writes nothing, and the
    target goes on; --force writes the snapshot."""
    server = _spawn(tmp_path, SERVER, "server.py", env=memory_limit_env(tmp_path, 1 << 20))
    try:
        port = int(server.stdout.readline())
        _count(port)
        out = tmp_path / "short.rcsnap"
        fork_arg = ("--fork",) if fork else ()
        proc = _attach(server.pid, "-o", out, "--timeout", "120", *fork_arg)
        assert proc.returncode == 2, proc.stderr
        assert "could not write the snapshot: MemoryBudgetError: refchain: a " in proc.stderr
        assert "the memory left is 1.0 MiB" in proc.stderr
        assert "(here: attach --force skips the check)" in proc.stderr
        assert not out.exists()
        served = _count(port)
        assert _count(port) == served + 1 and server.poll() is None
        proc = _attach(server.pid, "-o", out, "--timeout", "120", "--force", *fork_arg)
        assert proc.returncode == 0, proc.stderr
        assert len(refchain.load(str(out))) > 1000
    finally:
        _stop(server)


# ---- a signal of the target's own while it dumps -----------------------------------------

# The target sends itself SIG from an audit hook, once, at a point of the
# injected code: "import" (refchain._attach, before the dump) or "result" (the
# result file's open, after the file is written).  Its handler runs there, in
# refchain's code, as it would for a signal arriving at that moment.
SIGNALLED = """
import os, signal, sys, time
SIG, WHEN = getattr(signal, "SIG" + sys.argv[1]), sys.argv[2]
armed = [True]

def hook(event, args):
    if not armed[0]:
        return
    if (WHEN == "import" and event == "import" and args[0] == "refchain._attach"
            or WHEN == "result" and event == "open" and isinstance(args[0], str)
            and args[0].endswith(".result.tmp")):
        armed[0] = False
        os.kill(os.getpid(), SIG)

def term(signum, frame):
    raise SystemExit(3)          # a graceful stop, with the code it chose

def usr1(signum, frame):
    raise RuntimeError("reload")

# Ctrl-C's KeyboardInterrupt, as in a service started from a terminal: a
# background job of a non-interactive shell (CI's lanes) starts with SIGINT
# ignored, and Python then leaves it so.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, term)
signal.signal(signal.SIGUSR1, usr1)
sys.addaudithook(hook)
print("ready", flush=True)
try:
    while True:
        time.sleep(0.005)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(4)
except RuntimeError as exc:
    print("RuntimeError", exc, flush=True)
    sys.exit(5)
finally:
    print("finally", flush=True)
"""


@pytest.mark.parametrize("sig, when, code, seen", [
    ("TERM", "result", 3, "finally\n"),
    ("INT", "result", 4, "KeyboardInterrupt\nfinally\n"),
    ("USR1", "import", 5, "RuntimeError reload\nfinally\n"),
    ("INT", "import", 4, "KeyboardInterrupt\nfinally\n"),
])
def test_a_signal_during_the_dump_reaches_the_target(tmp_path, sig, when, code, seen):
    """The exception the target's signal handler raises inside the injected
    code (SystemExit from a SIGTERM handler, the default SIGINT's
    KeyboardInterrupt, any exception of a handler) goes on into the code the
    signal interrupted, once refchain is done: the target stops the way its
    own code says.  attach tells what happened: the file written (exit 0) and
    the interruption, or nothing written and why."""
    target = subprocess.Popen([sys.executable, "-c", SIGNALLED, sig, when], env=_target_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline() == "ready\n"
        out = tmp_path / "s.rcsnap"
        proc = _attach(target.pid, "-o", out, "--timeout", "120")
        assert target.wait(timeout=30) == code, target.stderr.read()
        assert target.stdout.read() == seen
        name = {"TERM": "SystemExit: 3", "INT": "KeyboardInterrupt",
                "USR1": "RuntimeError: reload"}[sig]
        if when == "result":
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.startswith("wrote %s: process %d " % (out, target.pid))
            assert "its handler raised %s, which the target raises again" % name in proc.stdout
            assert len(refchain.load(str(out))) > 1000
        else:
            line = _refused(proc, "%d could not write the snapshot: interrupted before the "
                            "snapshot was written" % target.pid, "its handler raised " + name)
            assert not out.exists(), line
    finally:
        _stop(target)
