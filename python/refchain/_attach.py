"""`refchain attach PID`: make a running CPython write a snapshot, with no
code change and no restart (docs/attach.md).

How: the attaching process (this one) writes a request file, 0600, named by
the target's pid, in a private directory (/tmp/refchain-attach-UID, 0700,
owned by the target's user).  Then it makes the target run TARGET_PROGRAM,
a constant: on 3.14+ through sys.remote_exec(); before, through gdb, which
maps a page in the target, copies the program into it, queues
PyRun_SimpleString(page) with Py_AddPendingCall() and detaches.  The
target's main thread runs pending calls between two bytecodes, so the dump
happens at a safe point (no allocation or object change under way in the
main thread, which holds the GIL).  The program validates the directory and
the request, takes the request (unlinks it), imports refchain from the
sys.path entry the request names, and calls _serve(), which dumps and
writes a result file that this side waits for, up to the timeout.  This
side holds an exclusive flock on PID.lock in that directory meanwhile: one
attach per target at a time, a second refused at once; and it unlinks only
the request it wrote (same inode, same content).

Nothing in the injected string comes from the user: paths and flags travel
in the request file, read as JSON.  A call still queued at the timeout stays
queued (CPython cannot withdraw a pending call); the request is withdrawn,
and the program does nothing when it runs later, since it finds none."""

# What the target imports is this module and what refchain itself imports
# (docs/attach.md): the modules that only the attaching side needs
# (subprocess, signal, shutil, tempfile, re) are imported in its functions.
# _signal is built in and imported at every interpreter's start.
import _signal
import json
import os
import stat
import sys
import threading
import time

import refchain
from refchain import _chains, _refchain

REQUEST_DIR = "/tmp/refchain-attach-%d"   # % the target's euid; TARGET_PROGRAM repeats it

# Run by the target in __main__'s namespace (PyRun_SimpleString): it binds
# one name and deletes it.  The function runs with globals of its own, which
# _serve() counts among refchain's (_set_tool_globals), with the program's
# module-level code: their frames are the tool's, never a root nor a holder
# in the dump.  Its own errors go to the result file, never out
# (a pending call that fails with no exception set raises SystemError into
# the code the main thread was running).  The target's signal handlers may
# raise in it (KeyboardInterrupt, SystemExit, ...): _serve() gives such an
# exception back to the interrupted code with a pending call of its own.
# Until refchain is imported it has no way to, so an exception caught there
# is kept: the request is read and refchain imported once more, or, failing
# that, the exception leaves PyRun_SimpleString, which exits on SystemExit
# and prints anything else; the pending call then fails with no exception
# set: SystemError in the interrupted code, an assertion in a debug build,
# where the program prints the exception instead.
TARGET_PROGRAM = r'''
def _refchain_attach_():
    import os, sys
    me = os.geteuid()
    d = "/tmp/refchain-attach-%d" % me
    def private(st, kind):
        return st.st_mode & 0o170000 == kind and st.st_uid in (0, me) and not st.st_mode & 0o077
    def take():
        try:
            if not private(os.lstat(d), 0o040000):
                return None
            name = "%s/%d.request" % (d, os.getpid())
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                if not private(os.fstat(fd), 0o100000):
                    return None
                data = os.read(fd, 1 << 16)
            finally:
                os.close(fd)
            os.unlink(name)
            return data
        except OSError:
            return None
    result = "%s/%d.result" % (d, os.getpid())
    data = req = error = caught = None
    attempt = 0
    while attempt < 2:    # a for loop's iterator would be an object held by C code
        attempt += 1
        try:
            if data is None:
                data = take()
                if data is None:
                    break
            import json
            req = json.loads(data.decode("utf-8"))
            if "refchain._attach" not in sys.modules:
                saved = list(sys.path)
                sys.path.insert(0, req["sys_path"])
                try:
                    import refchain._attach
                finally:
                    sys.path[:] = saved
            return sys.modules["refchain._attach"]._serve(req, result, caught,
                                                          (globals(), sys._getframe(1).f_code))
        except (ImportError, ValueError, KeyError, TypeError) as exc:
            error = exc
            break
        except BaseException as exc:
            caught = exc
    if data is not None:
        try:
            nonce = req.get("nonce") if isinstance(req, dict) else None
            exc = error if error is not None else caught
            text = json.dumps({"nonce": nonce, "ok": False,
                               "error": "%s: %s" % (type(exc).__name__, exc)})
            fd = os.open(result + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
            os.rename(result + ".tmp", result)
        except BaseException:
            pass
    if caught is not None and (isinstance(caught, SystemExit) or not hasattr(sys, "gettotalrefcount")):
        raise caught
    if caught is not None:    # a debug build asserts on the SystemError below
        sys.excepthook(type(caught), caught, caught.__traceback__)
try:
    _refchain_attach_ = type(_refchain_attach_)(_refchain_attach_.__code__,
                                                {"__builtins__": __builtins__})
    _refchain_attach_()
finally:
    del _refchain_attach_
'''


class AttachError(Exception):
    """Attaching failed; the message is one line for the user, and the
    target was left as it was."""


# ---- the target's side -----------------------------------------------------------------


def _write_result(path, result):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, json.dumps(result).encode("utf-8"))
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _check_request(req):
    want = (req.get("python"), req.get("debug"))
    have = (list(sys.version_info[:2]), hasattr(sys, "gettotalrefcount"))
    if want != have:
        raise RuntimeError("the request is for Python %s, this process runs %s"
                           % (want, have))
    output = req.get("output")
    if not isinstance(output, str) or not os.path.isabs(output) or "\0" in output:
        raise ValueError("the request's output is not an absolute path: %r" % (output,))
    for key in ("fork", "force"):
        if not isinstance(req.get(key), bool):
            raise ValueError("the request's %s is not a bool" % key)
    return output


def _from_the_target(exc):
    """Whether exc is the target's own, not refchain's: an exception that is
    not an Exception (KeyboardInterrupt, SystemExit: refchain raises none),
    or one raised through a Python signal handler of the target."""
    if not isinstance(exc, Exception):
        return True
    codes = set()
    for signum in _signal.valid_signals():
        handler = _signal.getsignal(signum)
        for _ in range(4):            # a bound method's function, a partial's
            handler = getattr(handler, "__func__", None) or getattr(handler, "func", handler)
        code = getattr(handler, "__code__", None)
        if code is not None:
            codes.add(code)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            return True
        tb = tb.tb_next
    return False


def _describe(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def _file_id(path):
    try:
        st = os.stat(path)
        return st.st_dev, st.st_ino, st.st_mtime_ns
    except OSError:
        return None


def _serve(req, result_path, caught=None, program=()):
    """In the target, at a pending call in the main thread: dump as the
    request says, and write the result file (the fork dump's child is waited
    for by a daemon thread, so the main thread goes on after the fork).
    The frames of this module and of the injected program (`program`: its
    function's globals and its module-level code) are refchain's own while
    it runs: the dump names nothing they hold.

    caught, or an exception the target's signal handler raises meanwhile
    (_from_the_target), stops the work; the result says whether the file was
    written all the same, and the exception is raised again in the main
    thread once this pending call returns, as if refchain were not there."""
    own = _chains.tool_globals()    # this module's too: imported after refchain's
    _refchain._set_tool_globals(own + tuple(program))
    try:
        _serve_as_own(req, result_path, caught)
    finally:
        _refchain._set_tool_globals(own)


def _serve_as_own(req, result_path, caught):
    nonce = req.get("nonce")
    started = time.monotonic()
    res = before = None
    fork = {"thread": None, "interrupted": None}    # shared with a fork dump's waiter
    try:
        if caught is None:
            output = _check_request(req)
            before = _file_id(output)
            res = _dump_for(req, output, nonce, result_path, fork)
    except BaseException as exc:
        if _from_the_target(exc):
            caught = exc
        else:
            res = {"nonce": nonce, "ok": False, "error": _describe(exc)}
    if caught is not None:
        fork["interrupted"] = _describe(caught)
        if fork["thread"] is not None and fork["thread"].ident is not None:
            res = None                      # the waiter writes the result
        elif res is None:
            output = req.get("output")
            if not req.get("fork") and _file_id(output) not in (None, before):
                res = {"nonce": nonce, "ok": True, "path": output,
                       "pause": time.monotonic() - started}
            else:
                res = {"nonce": nonce, "ok": False,
                       "error": "interrupted before the snapshot was written"}
        if res is not None:
            res["interrupted"] = fork["interrupted"]
    for _ in range(2):         # once more if a signal handler's exception cut it short
        try:
            if res is not None:
                _write_result(result_path, res)
            break
        except OSError:
            break
        except BaseException as exc:
            caught = exc
            res["interrupted"] = _describe(caught)
    if caught is not None:
        try:
            _refchain._raise_later(caught)
        except RuntimeError:     # the queue is full: as the program does before the import
            if isinstance(caught, SystemExit) or not hasattr(sys, "gettotalrefcount"):
                raise caught from None
            sys.excepthook(type(caught), caught, caught.__traceback__)


def _dump_for(req, output, nonce, result_path, fork):
    """The dump; its result, or None for a fork dump, whose waiter thread
    (fork["thread"]) writes the result, with fork["interrupted"]."""
    start = time.monotonic()
    if not req["fork"]:
        refchain.dump(output, force=req["force"])
        return {"nonce": nonce, "ok": True, "path": output, "pause": time.monotonic() - start}
    handle = refchain.dump(output, fork=True, force=req["force"])
    pause = time.monotonic() - start

    def wait():
        try:
            path = handle.wait()
            res = {"nonce": nonce, "ok": True, "path": path, "pause": pause}
        except BaseException as exc:
            res = {"nonce": nonce, "ok": False, "error": _describe(exc)}
        if fork["interrupted"]:
            res["interrupted"] = fork["interrupted"]
        try:
            _write_result(result_path, res)
        except OSError:
            pass

    fork["thread"] = threading.Thread(target=wait, name="refchain-attach-wait", daemon=True)
    fork["thread"].start()
    return None


# ---- the attaching side: what the target is ----------------------------------------------


def _ptrace_advice(pid):
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read().strip())
    except (OSError, ValueError):
        scope = None
    uid = os.geteuid()
    if scope == 1:
        why = ("kernel.yama.ptrace_scope is 1 (only a parent may trace its children): run "
               "as root, or lower it with `sysctl kernel.yama.ptrace_scope=0`, or grant "
               "CAP_SYS_PTRACE")
    elif scope == 2:
        why = ("kernel.yama.ptrace_scope is 2 (only CAP_SYS_PTRACE may trace): run as root "
               "or with CAP_SYS_PTRACE (docker: --cap-add=SYS_PTRACE)")
    elif scope == 3:
        why = ("kernel.yama.ptrace_scope is 3 (no process may be traced until a reboot): "
               "call refchain.dump() in the process instead")
    else:
        why = ("%s; without CAP_SYS_PTRACE (this process %s it, as uid %d) one may trace "
               "only a dumpable process of one's own user (the target runs as uid %s): "
               "run as root with CAP_SYS_PTRACE (docker: --cap-add=SYS_PTRACE) or as the "
               "target's user" % ("kernel.yama.ptrace_scope is 0" if scope == 0 else
                                  "no Yama ptrace_scope on this kernel",
                                  "has" if _has_cap_sys_ptrace() else "lacks", uid,
                                  _owner(pid)))
    return "ptrace is not permitted on %d: %s" % (pid, why)


def _has_cap_sys_ptrace():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 19 & 1)   # CAP_SYS_PTRACE
    except (OSError, ValueError, IndexError):
        pass
    return False


def _owner(pid):
    try:
        return str(os.stat("/proc/%d" % pid).st_uid)
    except OSError:
        return "?"


def _status(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except FileNotFoundError:
        raise AttachError("no such process: %d" % pid) from None
    except OSError as exc:
        raise AttachError("cannot read /proc/%d/status: %s" % (pid, exc.strerror)) from None
    fields = {k: v.strip() for k, v in fields.items()}
    if fields.get("Tgid") != str(pid):
        raise AttachError("no such process: %d (it is a thread of process %s)"
                          % (pid, fields.get("Tgid")))
    return fields


def _traced_text(pid, fields):
    """The refusal for a target another process traces (TracerPid), or in
    tracing stop ("t"), which kill -CONT does not end: only its tracer
    resumes it, or detaches."""
    tracer = fields.get("TracerPid", "0")
    stop = (" and in tracing stop (%s)" % fields.get("State")
            if fields.get("State", "")[:1] == "t" else "")
    if tracer == "0":       # its tracer is detaching, or /proc hides it
        return ("%d is in tracing stop (%s): a debugger or strace is attached, or just "
                "detached; wait for it to detach (kill -CONT does not resume a traced "
                "process) and try again" % (pid, fields.get("State")))
    return ("%d is already traced by process %s%s%s (a debugger, strace, or another "
            "attach): detach it first (kill -CONT does not resume a traced process)"
            % (pid, tracer, _comm(tracer), stop))


def _comm(pid):
    """" (NAME)" of process pid, from /proc/PID/comm, or ""."""
    try:
        with open("/proc/%s/comm" % pid) as f:
            return " (%s)" % f.read().strip()
    except OSError:
        return ""


def _python_of(pid):
    """(major, minor, debug) from the target's executable and mapped
    libpython names, or None when neither is a CPython's."""
    import re
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
    except PermissionError:
        raise AttachError(_ptrace_advice(pid)) from None
    except FileNotFoundError:
        raise AttachError("no such process: %d" % pid) from None
    names = [os.path.basename(exe.replace(" (deleted)", ""))]
    names += sorted(set(re.findall(r"/(libpython[^/\s]*\.so[^/\s]*)$", maps, re.M)))
    for name in reversed(names):   # a libpython, if mapped, is the interpreter
        m = re.match(r"(?:lib)?python(\d)\.(\d+)(d?)(?:\b|\.|$)", name)
        if m and m.group(1) == "3":
            return int(m.group(1)), int(m.group(2)), m.group(3) == "d", exe
    return None, None, None, exe


def describe_target(pid):
    """Check that `pid` is a running CPython this refchain can dump; return
    (major, minor, debug).  Raises AttachError for a missing, stopped, traced
    or foreign process, or another interpreter version."""
    if pid == os.getpid():
        raise AttachError("%d is this process: call refchain.dump() instead" % pid)
    fields = _status(pid)
    state = fields.get("State", "")[:1]
    if state in ("Z", "X"):
        raise AttachError("no such process: %d (it has exited and not been reaped)" % pid)
    tracer = fields.get("TracerPid", "0")
    if tracer != "0" or state == "t":
        _refuse_if_locked(pid)      # traced by another attach's gdb: say that instead
        raise AttachError(_traced_text(pid, fields))
    if state == "T":
        raise AttachError("%d is stopped (%s): resume it first (kill -CONT %d)"
                          % (pid, fields.get("State"), pid))
    major, minor, debug, exe = _python_of(pid)
    if major is None:
        raise AttachError("%d is not a CPython: it runs %s, with no libpython mapped"
                          % (pid, exe))
    here = sys.version_info[:2] + (hasattr(sys, "gettotalrefcount"),)
    if (major, minor, debug) != here:
        raise AttachError(
            "%d runs Python %d.%d%s, and this refchain is built for Python %d.%d%s (%s): "
            "run python%d.%d%s -m refchain attach %d with a refchain installed for it"
            % (pid, major, minor, " (debug)" if debug else "", here[0], here[1],
               " (debug)" if here[2] else "", sys.executable, major, minor,
               "d" if debug else "", pid))
    return major, minor, debug


# ---- the request ------------------------------------------------------------------------


def _request_dir(uid, gid):
    """/tmp/refchain-attach-UID, 0700, owned by the target's user; refuse one
    that another user made or opened up."""
    path = REQUEST_DIR % uid
    try:
        os.mkdir(path, 0o700)
        if os.geteuid() != uid:
            os.chown(path, uid, gid)
    except FileExistsError:
        pass
    except OSError as exc:
        raise AttachError("cannot make %s: %s" % (path, exc.strerror)) from None
    st = os.lstat(path)
    if (not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, uid)
            or st.st_mode & 0o077):
        raise AttachError("%s is not a private directory of uid %d (mode %o, owner %d): "
                          "remove it" % (path, uid, st.st_mode & 0o7777, st.st_uid))
    return path


def _lock_text(pid, path, holder):
    return ("another refchain attach to %d is in progress (lock %s held%s); wait for it "
            "to finish and try again"
            % (pid, path, " by process %s%s" % (holder, _comm(holder)) if holder else ""))


def _lock(folder, pid, uid, gid):
    """Take PID.lock in the request directory, exclusively, without waiting:
    the open file that holds the lock, for the whole attach (closing it, or
    this process's death, releases it).  Another attach holding it is an
    AttachError at once.  The file stays: unlinking a lock file lets a third
    attach lock a new file while a second holds the old one."""
    import fcntl
    path = os.path.join(folder, "%d.lock" % pid)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise AttachError("cannot open %s: %s" % (path, exc.strerror)) from None
    try:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid not in (0, uid)
                or st.st_mode & 0o077):
            raise AttachError("%s is not a private file of uid %d (mode %o, owner %d): "
                              "remove it" % (path, uid, st.st_mode & 0o7777, st.st_uid))
        if st.st_uid != uid and os.geteuid() != uid:
            try:
                os.fchown(fd, uid, gid)     # as the request: the target's user's
            except OSError as exc:
                raise AttachError("cannot give %s to uid %d: %s"
                                  % (path, uid, exc.strerror)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AttachError(_lock_text(pid, path, _flock_holder(st))) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_if_locked(pid):
    """Raise the lock's AttachError when another attach holds PID.lock now
    (for a refusal found before the lock is taken).  It looks in /proc/locks
    and takes no lock, not even a shared one, which would refuse an attach
    taking it at that moment; it creates nothing."""
    try:
        path = os.path.join(REQUEST_DIR % os.stat("/proc/%d" % pid).st_uid, "%d.lock" % pid)
        st = os.lstat(path)
    except OSError:
        return
    holder = _flock_holder(st) if stat.S_ISREG(st.st_mode) else None
    if holder is not None:
        raise AttachError(_lock_text(pid, path, holder))


def _flock_holder(st):
    """The pid /proc/locks names for a flock on the file of stat st, or None."""
    try:
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[3] == "WRITE":
                    dev_ino = fields[5].split(":")
                    if (len(dev_ino) == 3 and int(dev_ino[2]) == st.st_ino
                            and os.makedev(int(dev_ino[0], 16), int(dev_ino[1], 16))
                            == st.st_dev):
                        return fields[4]
    except (OSError, ValueError):
        pass
    return None


def _write_private(path, data, uid, gid):
    """Write a new file at path, 0600, owned by uid; its identity, for
    _unlink_own().  A file already there is a leftover of an attach that
    died (a live one would hold the lock this one holds): replaced."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        if os.geteuid() != uid:
            os.fchown(fd, uid, gid)
        os.write(fd, data)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return st.st_dev, st.st_ino, data


def _unlink(path):
    """True when this call removed path."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _unlink_own(path, ident):
    """Unlink path if it is still the file _write_private() made (ident: the
    same inode with the same content); never another run's.  "removed", or
    "gone" (the target took it), or "replaced" (another file is there now,
    left in place)."""
    dev, ino, data = ident
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return "gone"
    except OSError:
        return "replaced"      # a symlink, or a file this process may not read
    try:
        st = os.fstat(fd)
        same = ((st.st_dev, st.st_ino) == (dev, ino) and stat.S_ISREG(st.st_mode)
                and os.read(fd, len(data) + 1) == data)
    finally:
        os.close(fd)
    if not same:
        return "replaced"
    # The name may have changed hands since the open: check it again, right
    # before the unlink (the window left is the lstat's to the unlink's).
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "gone"
    if (st.st_dev, st.st_ino) != (dev, ino):
        return "replaced"
    return "removed" if _unlink(path) else "gone"


# ---- gdb ---------------------------------------------------------------------------------


def _gdb_script(debug, version):
    """The gdb commands: check the symbols (and Py_Version from 3.11), map a
    page, copy TARGET_PROGRAM into it with integer stores (a string literal
    would make gdb call malloc in the target, which may be stopped inside
    malloc), queue the call, detach.  An error stops the script before the
    injection; gdb -batch then detaches."""
    code = TARGET_PROGRAM.encode("ascii") + b"\0"
    code += b"\0" * (-len(code) % 8)
    size = (len(code) + 4095) // 4096 * 4096
    lines = [
        "set confirm off",
        "set pagination off",
        "set unwindonsignal on",
        # A signal for the target (a supervisor's SIGTERM, a SIGHUP...) goes
        # on to it at once, and gdb's calls go on: stopping would abandon
        # the call (unwindonsignal) and lose the signal.  SIGINT stays as it
        # is (stop, not passed): gdb interrupts its call with it when
        # attach stops gdb; a SIGINT of the target's own is sent again
        # (_gdb_verdict).  Faults stop too, so a faulting call is unwound.
        "handle all nostop noprint pass",
        "handle SIGSEGV SIGBUS SIGILL SIGFPE SIGABRT SIGSYS stop print nopass",
        "set $ok = 0",
        "echo refchain-check\\n",
        "p (long)&Py_AddPendingCall",
        "p (long)&PyRun_SimpleString",
    ]
    if debug:
        lines.append("p (long)&_Py_NegativeRefcount")
    if version >= (3, 11):
        lines += ["if (((unsigned long)Py_Version) >> 16) != %d" % (version[0] << 8 | version[1]),
                  "  echo refchain-version-mismatch\\n",
                  "  p/x Py_Version",
                  "  p nosuchsymbol_stop_here",
                  "end"]
    lines += [
        "set $page = (char *)(long)mmap((void *)0, (long)%d, 3, 0x22, -1, (long)0)" % size,
        "if (long)$page == -1",
        "  echo refchain-mmap-failed\\n",
        "  p nosuchsymbol_stop_here",
        "end",
    ]
    for i in range(0, len(code), 8):
        word = int.from_bytes(code[i:i + 8], "little")
        lines.append("set {unsigned long long}($page + %d) = 0x%x" % (i, word))
    lines += [
        "set $rc = (int)Py_AddPendingCall((int (*)(void *))PyRun_SimpleString, (void *)$page)",
        "if $rc == 0",
        "  echo refchain-queued\\n",
        "else",
        "  echo refchain-queue-full\\n",
        "end",
        "detach",
    ]
    return "\n".join(lines) + "\n"


def _run_gdb(pid, script, timeout):
    import shutil
    import subprocess
    import tempfile
    gdb = shutil.which("gdb")
    if gdb is None:
        raise AttachError("gdb is not installed (or not on PATH): refchain attach needs it "
                          "for Python before 3.14; install it: apt-get install gdb "
                          "(tools/setup-debian does)")
    fd, path = tempfile.mkstemp(prefix="refchain-attach-", suffix=".gdb")
    try:
        os.write(fd, script.encode("ascii"))
        os.close(fd)
        # --readnever: the script needs the symbol tables only, never the
        # debug information; reading it (Debian's python3.11 has it in a
        # file apart) kept the target stopped a second longer.
        cmd = [gdb, "-nx", "-nw", "-batch", "--readnever", "-iex", "set debuginfod enabled off",
               "-iex", "set auto-load off", "-p", str(pid), "-x", path]
        # Its own session: a Ctrl-C meant for attach reaches gdb only
        # through _stop_gdb, so a SIGINT gdb reports is the target's.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=dict(os.environ, LC_ALL="C"),
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_gdb(proc, pid)
            raise AttachError(
                "gdb did not finish within %g s (the target may hold a lock gdb's call "
                "waits for); gdb was interrupted, which unwinds its call, and detached"
                % timeout) from None
        except BaseException:
            _stop_gdb(proc, pid)
            raise
    finally:
        os.unlink(path)
    return out.decode("utf-8", "replace")


def _stop_gdb(proc, pid):
    """SIGINT makes gdb stop the target's call and, with unwindonsignal,
    restore the frame before it; gdb -batch then detaches.  Kill it only if
    it does not end, and wake the target, which ptrace may leave stopped."""
    import signal
    import subprocess
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=10)
        return
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    try:
        os.kill(pid, signal.SIGCONT)
    except OSError:
        pass


def _gdb_verdict(pid, out):
    import signal
    if "refchain-queued" in out:
        return
    low = out.lower()
    if "operation not permitted" in low:
        # PTRACE_ATTACH fails with EPERM on a target traced already too: a
        # debugger or strace that attached after describe_target() looked.
        try:
            fields = _status(pid)
        except AttachError:
            fields = {}
        if fields.get("TracerPid", "0") != "0":
            raise AttachError(_traced_text(pid, fields))
        raise AttachError(_ptrace_advice(pid))
    if "no such process" in low:
        raise AttachError("no such process: %d" % pid)
    if "refchain-version-mismatch" in out:
        raise AttachError("%d: its Py_Version is not the version its executable names; "
                          "nothing was injected" % pid)
    if "Program received signal SIGINT" in out:
        # The target's own SIGINT (gdb, in its own session, got none) came
        # while gdb's call ran: gdb unwound the call and kept the signal.
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            pass
        raise AttachError("%d received SIGINT while gdb was injecting: gdb abandoned its "
                          "call, so nothing was queued, and the SIGINT was sent on to the "
                          "target" % pid)
    if "refchain-queue-full" in out:
        raise AttachError("%d's pending-call queue is full: nothing was injected, try again"
                          % pid)
    if "refchain-check" in out and "No symbol" in out and "refchain-mmap" not in out:
        raise AttachError("%d is not a CPython this refchain can attach to: it lacks "
                          "Py_AddPendingCall or PyRun_SimpleString (or the debug build's "
                          "symbols); nothing was injected" % pid)
    tail = " | ".join(line for line in out.strip().splitlines()[-3:])
    raise AttachError("gdb could not inject into %d; nothing was queued: %s" % (pid, tail))


# ---- attach ------------------------------------------------------------------------------


def _await_result(pid, request, result, nonce, deadline, timeout):
    """request: (path, identity) of this run's request, withdrawn (only if
    it is still this run's) when the target exits or the timeout passes."""
    path, ident = request
    while True:
        try:
            with open(result, "rb") as f:
                res = json.loads(f.read().decode("utf-8"))
            if res.get("nonce") == nonce:
                _unlink(result)
                return res
        except (FileNotFoundError, ValueError):
            pass
        if not os.path.exists("/proc/%d" % pid):
            _unlink_own(path, ident)
            raise AttachError("process %d exited before it wrote the snapshot" % pid)
        if time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    fate = _unlink_own(path, ident)
    if fate == "removed":
        raise AttachError(
            "%d did not reach a safe point within %g s: its main thread ran no Python "
            "bytecode (blocked in a C call: a read, a lock, a long sleep), so nothing was "
            "done.  The request is withdrawn; the call queued in the target stays queued "
            "and does nothing when the main thread runs again" % (pid, timeout))
    if fate == "replaced":
        raise AttachError(
            "%d: another process replaced this attach's request %s (a refchain attach "
            "that takes no lock?) and it was left in place; whether the target took this "
            "one is unknown, and no result came within %g s" % (pid, path, timeout))
    raise AttachError("%d took the request but did not finish the snapshot within %g s; "
                      "it may still write it" % (pid, timeout))


def attach(pid, output=None, fork=False, timeout=60.0, force=False):
    """Make process `pid` (a running CPython of this interpreter version)
    write a snapshot to `output` (default refchain-PID-TIME.rcsnap in the
    current directory); return a dict: path, pause (seconds the target's
    main thread spent on the snapshot), stopped (at most how long gdb held
    the whole target stopped before that: its run, attach to detach),
    seconds (command to file), method.  The target
    checks its memory budget first (force=True skips the check)."""
    start = time.monotonic()
    major, minor, debug = describe_target(pid)
    if output is None:
        output = "refchain-%d-%s.rcsnap" % (pid, time.strftime("%Y%m%dT%H%M%S"))
    output = os.path.abspath(output)
    if not os.path.isdir(os.path.dirname(output)):
        raise AttachError("the directory of %s does not exist" % output)
    st = os.stat("/proc/%d" % pid)
    folder = _request_dir(st.st_uid, st.st_gid)
    # One attach per target at a time: both would use PID.request and
    # PID.result, and their gdbs cannot both trace the target.
    lock = _lock(folder, pid, st.st_uid, st.st_gid)
    try:
        return _attach_locked(pid, output, fork, timeout, force, start, folder, st,
                              (major, minor, debug))
    finally:
        os.close(lock)


def _attach_locked(pid, output, fork, timeout, force, start, folder, st, python):
    major, minor, debug = python
    # A debugger may have attached since describe_target() looked: say so
    # before writing anything (gdb would only fail with EPERM).
    fields = _status(pid)
    if fields.get("TracerPid", "0") != "0" or fields.get("State", "")[:1] == "t":
        raise AttachError(_traced_text(pid, fields))
    request = os.path.join(folder, "%d.request" % pid)
    result = os.path.join(folder, "%d.result" % pid)
    nonce = os.urandom(16).hex()
    req = {"nonce": nonce, "output": output, "fork": bool(fork), "force": bool(force),
           "python": [major, minor], "debug": debug,
           "sys_path": os.path.dirname(os.path.dirname(os.path.abspath(refchain.__file__)))}
    _unlink(result)
    ident = _write_private(request, json.dumps(req).encode("utf-8"), st.st_uid, st.st_gid)
    deadline = start + timeout
    injected = time.monotonic()
    try:
        method = _inject(pid, folder, (major, minor), debug, st, timeout)
    except BaseException:
        _unlink_own(request, ident)
        raise
    # gdb stops the whole target from its attach to its detach: at most this.
    stopped = time.monotonic() - injected if method == "gdb" else 0.0
    res = _await_result(pid, (request, ident), result, nonce, deadline, timeout)
    interrupted = res.get("interrupted")
    if not res.get("ok"):
        error = str(res.get("error"))
        if error.startswith("MemoryBudgetError"):
            error += " (here: attach --force skips the check)"
        if interrupted:
            error += " (%s)" % _interrupted_text(interrupted)
        raise AttachError("%d could not write the snapshot: %s" % (pid, error))
    return {"pid": pid, "path": res["path"], "pause": res.get("pause"), "stopped": stopped,
            "seconds": time.monotonic() - start, "method": method,
            "python": "%d.%d%s" % (major, minor, "d" if debug else ""),
            "interrupted": interrupted}


def _interrupted_text(interrupted):
    return ("a signal interrupted the target meanwhile: its handler raised %s, which "
            "the target raises again where the dump interrupted it" % interrupted)


def _inject(pid, folder, version, debug, st, timeout):
    if version >= (3, 14) and hasattr(sys, "remote_exec"):
        # PEP 768 (untested here: no 3.14 on the machine that wrote this).
        script = os.path.join(folder, "%d.py" % pid)
        _write_private(script, TARGET_PROGRAM.encode("ascii"), st.st_uid, st.st_gid)
        try:
            sys.remote_exec(pid, script)
        except PermissionError:
            raise AttachError(_ptrace_advice(pid)) from None
        except (OSError, RuntimeError) as exc:
            raise AttachError("sys.remote_exec(%d) failed: %s" % (pid, exc)) from None
        return "sys.remote_exec"
    # gdb gets at least 30 s whatever --timeout says: starting it and reading
    # the target's symbols alone takes seconds on a busy machine.
    out = _run_gdb(pid, _gdb_script(debug, version), max(timeout, 30.0))
    _gdb_verdict(pid, out)
    return "gdb"
