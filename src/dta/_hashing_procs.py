"""Hash many files on every core with worker processes that are started safely.

Rules this module enforces (the per-file checks are :mod:`dta._hashing_worker`'s):

* The caller's process is forked only where that is safe: on Linux, when the process has exactly
  one thread (``/proc/self/task``), so no other thread can hold a lock the child would need. A
  forked child closes every descriptor but its socket and the root, never runs the garbage
  collector over the parent's heap, runs only the worker loop and leaves with ``os._exit`` (no
  atexit handlers, no flushing of the parent's buffers).
* Otherwise every worker is a fresh, isolated interpreter (``python -I -S``) running
  ``_hashing_worker.py``, which imports only the standard library: nothing of the caller's state,
  environment or site packages. Where neither works, there are no processes (threads are used).
* Workers get the root descriptor the parent's safe walk uses (the root path is never resolved
  again) and ``(directory prefix, names)`` tasks from that walk only.
* At most 4 tasks are in flight per worker and the parent never blocks writing to a worker
  (non-blocking sockets and ``poll``), so neither side can deadlock on full buffers; results are
  compact binary messages, not pickled objects.
* Workers ignore SIGINT: on Ctrl-C the parent stops, kills and reaps them.
* A worker that dies or sends a malformed message is dropped and its tasks are hashed by the
  parent with the same code, so results are never lost or invented. Workers are killed and reaped
  if the parent fails; none outlives the call.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator

from dta import _hashing_worker as _worker

__all__ = ["Pool", "Task", "available", "start_method"]

_IN_FLIGHT = 4
_LENGTH = struct.Struct("<I")
_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(_worker.__file__)), "_hashing_worker.py")
_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR

# (task message, file count, relative paths of the files)
Task = tuple[bytes, int, list[str]]
Decoded = tuple[tuple[int, ...], str] | list[_worker.Outcome]
OnResult = Callable[[list[str], Decoded], None]


def start_method() -> str | None:
    """``"fork"`` where forking this process is safe now, else ``"spawn"`` where a fresh worker
    interpreter can be started, else None."""
    if sys.platform == "linux" and hasattr(os, "fork"):
        try:
            if len(os.listdir("/proc/self/task")) == 1:
                return "fork"
        except OSError:
            pass
    if os.name == "posix" and sys.executable and os.path.isfile(_SCRIPT):
        return "spawn"
    return None


def available() -> bool:
    """True where worker processes can be used at all."""
    return start_method() is not None


def task(prefix: str, names: list[str], rels: list[str]) -> Task:
    """A task for the files ``names`` (paths ``rels``) in directory ``prefix``."""
    message = "\0".join([prefix, *names]).encode("utf-8", "surrogateescape")
    return message, len(names), rels


class _Worker:
    __slots__ = ("fd", "inbox", "outbox", "pid", "proc", "tasks")

    def __init__(self, fd: int, pid: int, proc: subprocess.Popen[bytes] | None) -> None:
        self.fd = fd
        self.pid = pid
        self.proc = proc
        self.outbox = bytearray()
        self.inbox = bytearray()
        self.tasks: deque[Task] = deque()


def _child(sock_fd: int, root_fd: int) -> None:
    """The forked worker: keep only its socket and the root, serve, leave without cleanup."""
    code = 1
    try:
        gc.disable()  # a collection would walk (and copy) the whole inherited heap
        # The caller's descriptors (other workers' sockets, files holding flock locks, ...)
        # must not stay open here: only the socket and the root are kept.
        low, high = sorted((sock_fd, root_fd))
        limit = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else -1
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, limit if limit > high else 1 << 20)
        _worker.serve(sock_fd, root_fd)
        code = 0
    finally:
        os._exit(code)


class Pool:
    """Worker processes hashing tasks below one root descriptor.

    Use as a context manager; leaving it closes the sockets and reaps (or, after an error,
    kills and reaps) every worker.
    """

    def __init__(self, root_fd: int, count: int, method: str) -> None:
        """Start ``count`` workers with ``method`` (``"fork"`` or ``"spawn"``).

        Raises:
            OSError: No worker could be started.
        """
        self.root_fd = root_fd
        self.workers: dict[int, _Worker] = {}
        self._poll = select.poll()
        try:
            for _ in range(count):
                self._start(method)
        except OSError:
            if not self.workers:
                raise
        if not self.workers:
            raise OSError("no hashing worker could be started")

    def _start(self, method: str) -> None:
        ours, theirs = socket.socketpair()
        fd, child_fd = ours.detach(), theirs.detach()
        try:
            if method == "fork":
                pid = os.fork()
                if pid == 0:
                    _child(child_fd, self.root_fd)
                proc = None
            else:
                argv = [sys.executable, "-I", "-S", _SCRIPT, str(child_fd), str(self.root_fd)]
                proc = subprocess.Popen(  # our own interpreter and script, no shell
                    argv,
                    pass_fds=(child_fd, self.root_fd),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                )
                pid = proc.pid
        except OSError:
            os.close(fd)
            raise
        finally:
            os.close(child_fd)
        os.set_blocking(fd, False)
        self.workers[fd] = _Worker(fd, pid, proc)
        self._poll.register(fd, _READABLE)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.close(kill=kind is not None)

    def run(self, tasks: Iterator[Task], on_result: OnResult) -> None:
        """Hash every task, calling ``on_result(rels, decoded)`` in this thread for each.

        Args:
            tasks: The tasks (consumed lazily, so the walk overlaps the hashing).
            on_result: Receives each task's paths and its decoded result
                (see :func:`dta._hashing_worker.decode_result`).
        """
        upcoming: Task | None = None
        exhausted = False
        while True:
            while not exhausted:
                if upcoming is None:
                    upcoming = next(tasks, None)
                    if upcoming is None:
                        exhausted = True
                        break
                worker = min(self.workers.values(), key=lambda w: len(w.tasks), default=None)
                if worker is None or len(worker.tasks) >= _IN_FLIGHT:
                    break
                worker.tasks.append(upcoming)
                worker.outbox += _LENGTH.pack(len(upcoming[0])) + upcoming[0]
                upcoming = None
                self._flush(worker)
            if not self.workers:  # every worker is gone: hash the rest here
                if upcoming is not None:
                    self._local(upcoming, on_result)
                for item in tasks:
                    self._local(item, on_result)
                return
            if exhausted and not any(w.tasks for w in self.workers.values()):
                return
            for fd, event in self._poll.poll():
                worker = self.workers.get(fd)
                if worker is None:
                    continue
                if event & select.POLLOUT:
                    self._flush(worker)
                if event & _READABLE:
                    self._receive(worker, on_result)

    def _flush(self, worker: _Worker) -> None:
        try:
            sent = os.write(worker.fd, worker.outbox) if worker.outbox else 0
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the worker is gone; the read side notices and takes over its tasks
        del worker.outbox[:sent]
        self._poll.modify(worker.fd, _READABLE | (select.POLLOUT if worker.outbox else 0))

    def _receive(self, worker: _Worker, on_result: OnResult) -> None:
        try:
            data = os.read(worker.fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost(worker, on_result)
            return
        inbox = worker.inbox
        inbox += data
        while len(inbox) >= _LENGTH.size:
            end = _LENGTH.size + _LENGTH.unpack_from(inbox)[0]
            if len(inbox) < end or not worker.tasks:
                break
            message = bytes(inbox[_LENGTH.size : end])
            try:
                decoded = _worker.decode_result(message, worker.tasks[0][1])
            except ValueError:
                self._lost(worker, on_result)  # the task is re-done here, not trusted
                return
            del inbox[:end]
            on_result(worker.tasks.popleft()[2], decoded)

    def _lost(self, worker: _Worker, on_result: OnResult) -> None:
        """Drop a worker that died or misbehaved; hash its outstanding tasks here."""
        del self.workers[worker.fd]
        self._poll.unregister(worker.fd)
        os.close(worker.fd)
        self._reap(worker, kill=True)
        while worker.tasks:
            self._local(worker.tasks.popleft(), on_result)

    def _local(self, item: Task, on_result: OnResult) -> None:
        message, count, rels = item
        on_result(rels, _worker.decode_result(_worker.run_task(self.root_fd, message), count))

    def close(self, *, kill: bool = False) -> None:
        """Close every socket (workers then exit) and reap the workers.

        Args:
            kill: Kill them first (after an error, so none keeps hashing).
        """
        workers, self.workers = list(self.workers.values()), {}
        for worker in workers:
            self._poll.unregister(worker.fd)
            os.close(worker.fd)
        for worker in workers:
            self._reap(worker, kill=kill)

    @staticmethod
    def _reap(worker: _Worker, *, kill: bool) -> None:
        if worker.proc is not None:
            if kill:
                worker.proc.kill()
            worker.proc.wait()
            return
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # already reaped (caller ignores SIGCHLD)
            os.waitpid(worker.pid, 0)
