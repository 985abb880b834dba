"""dump_on_signal(): a snapshot each time a signal arrives, for a service
that cannot be edited or restarted to ask.

The handler is Python-level (the main thread runs it between bytecodes).
With fork=True it forks at once (the parent's pause is the fork's), and a
daemon thread waits for the child and logs the path; with fork=False that
thread writes the dump itself.  One dump at a time: a signal that arrives
while one is being written is counted, and the count is logged with the
path of the dump under way.

logging and signal are imported when dump_on_signal() is called: importing
refchain adds no module of the standard library for it."""

import os
import threading
import time
from _signal import SIGUSR1

from refchain._snapshot import dump


def _log():
    import logging
    return logging.getLogger("refchain")


class SignalDump:
    """What dump_on_signal() installed: uninstall() (or leaving a with
    block) restores the previous handler.  paths: the files written so far;
    coalesced: the signals counted, not dumped, since it was installed."""

    def __init__(self, signum, directory, fork, values, redact):
        self.signum, self.directory, self.fork = signum, directory, fork
        self._values, self._redact = values, redact
        self.paths = []
        self.coalesced = 0
        self._pending = 0           # signals counted during the dump under way
        self._busy = False
        self._lock = threading.RLock()  # reentrant: a handler may interrupt a handler
        import signal
        self._signal = signal
        self._previous = signal.signal(signum, self._handle)
        self._installed = True

    def __repr__(self):
        return "<refchain.SignalDump %s -> %s: %d dumps>" % (
            self._signal.Signals(self.signum).name, self.directory, len(self.paths))

    def _name(self):
        now = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        return os.path.join(self.directory, "refchain-%d-%s.%06dZ.rcsnap"
                            % (os.getpid(), stamp, int(now % 1 * 1e6)))

    def _handle(self, signum, frame):
        del frame
        with self._lock:
            if self._busy:
                self._pending += 1
                self.coalesced += 1
                return
            self._busy = True
        path = self._name()
        try:
            job = dump(path, values=self._values, redact=self._redact, fork=True) \
                if self.fork else None
            threading.Thread(target=self._finish, args=(path, job), daemon=True,
                             name="refchain-dump-on-signal").start()
        except Exception as e:
            with self._lock:
                self._busy = False
            _log().error("refchain: the dump on signal %d to %s failed: %s", signum, path, e)

    def _finish(self, path, job):
        try:
            if job is None:
                start = time.perf_counter()
                dump(path, values=self._values, redact=self._redact)
                how = "in process, %.0f ms" % ((time.perf_counter() - start) * 1e3)
            else:
                job.wait()
                how = "fork: parent paused %.1f ms, child peak %d MiB" % (
                    job.pause * 1e3, job.peak_bytes >> 20)
            error = None
        except Exception as e:
            error = e
        with self._lock:
            pending, self._pending, self._busy = self._pending, 0, False
            if error is None:
                self.paths.append(path)
        more = "; %d more signal%s arrived during the dump, coalesced" % (
            pending, "" if pending == 1 else "s") if pending else ""
        if error is None:
            _log().info("refchain: wrote %s (%s)%s", path, how, more)
        else:
            _log().error("refchain: the dump to %s failed: %s%s", path, error, more)

    def uninstall(self):
        """Restore the handler that was there before (main thread only)."""
        if self._installed:
            self._signal.signal(self.signum, self._previous)
            self._installed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.uninstall()


def dump_on_signal(signum=SIGUSR1, directory=None, fork=True, *, values=True,
                   redact=False):
    """Write a snapshot to `directory` (default: the current directory)
    as refchain-<pid>-<UTC time>.rcsnap each time `signum` arrives, and log
    its path through logging's "refchain" logger (INFO; failures ERROR).
    fork=True (the default) has a forked child write it (see dump()).
    Call it from the main thread.  Returns a SignalDump; its uninstall()
    restores the previous handler."""
    for name, v in (("fork", fork), ("values", values), ("redact", redact)):
        if type(v) is not bool:
            raise TypeError("dump_on_signal() argument %r must be a bool, not %s"
                            % (name, type(v).__name__))
    directory = os.path.abspath(os.fspath(directory) if directory is not None else os.curdir)
    if not os.path.isdir(directory):
        raise NotADirectoryError("dump_on_signal(): %r is not a directory" % directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError("dump_on_signal(): the directory %r is not writable" % directory)
    import signal
    if signum in (signal.SIGKILL, signal.SIGSTOP):
        raise ValueError("dump_on_signal(): %s cannot be caught: no handler can run on it; "
                         "use SIGUSR1 (the default) or SIGUSR2"
                         % signal.Signals(signum).name)
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("dump_on_signal() installs a signal handler: call it from the main "
                         "thread")
    _log()      # logging imported here, in the main thread, not in a handler
    return SignalDump(signum, directory, fork, values, redact)
