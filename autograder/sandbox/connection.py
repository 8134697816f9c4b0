"""The grading side of a submission's sandbox: its keeper, its workers, and the graders' connection.

A :class:`SandboxConnection` is the graders' connection (see :mod:`autograder.submission`) under the
grading engine. Each exercise gets its own worker, so a file that patches ``torch`` at import or
crashes cannot touch another exercise's checks. A worker is killed and replaced after a timeout, a
crash or a broken message; the call that saw it fails with a :class:`~autograder.wire.errors.SubmissionError`
and the next call gets a fresh worker.

No worker is forked from the grading process: a submission's *keeper* is forked by the zygote
(:mod:`autograder.sandbox.zygote`, a clean interpreter holding torch, the given model and this code
only) and forks the workers inside the submission's namespaces (:mod:`autograder.sandbox.keeper`);
:class:`NamespaceHost` is this side of that conversation.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from pathlib import Path
from typing import Any

from autograder.manifest import EXERCISE_BY_ID
from autograder.sandbox import limits as limits_module
from autograder.sandbox.cgroups import BUDGET
from autograder.sandbox.keeper import PIPE_BYTES
from autograder.sandbox.limits import Limits
from autograder.sandbox.namespaces import namespaces_available
from autograder.wire import values


class NamespaceChoice:
    """Whether submissions graded from now on get namespaces of their own (by default where the kernel
    allows them: probed once, in the warm-up, so that every worker of a batch is confined alike)."""

    def __init__(self) -> None:
        self.chosen: bool | None = None

    def set(self, enabled: bool | None = None) -> bool:
        """Choose (None: probe the kernel) and return the choice."""
        self.chosen = namespaces_available() if enabled is None else bool(enabled)
        return self.chosen

    def enabled(self) -> bool:
        """The choice, probed now if none was made yet."""
        return self.set() if self.chosen is None else self.chosen


NAMESPACES = NamespaceChoice()
"""This process's choice of namespaces for the submissions it grades."""


def use_namespaces(enabled: bool | None = None) -> bool:
    """Whether submissions graded from now on get namespaces of their own (see :class:`NamespaceChoice`)."""
    return NAMESPACES.set(enabled)


class NamespaceHost:
    """One submission's keeper, and through it the processes that fork its workers.

    The *keeper* is forked by the zygote (:mod:`autograder.sandbox.zygote`), never by the grading
    process: it drops to ``nobody`` (as root), joins the submission's cgroups, makes new user, PID,
    network and mount namespaces (where the kernel allows them) and forks their *init*, which mounts the
    namespace's own ``/proc`` and then forks a worker whenever asked, handing the worker's pipes back
    over the control socket. Every worker of the submission is a process of these namespaces: the kernel
    counts their processes and threads together (``RLIMIT_NPROC`` is counted per user namespace), and
    when the keeper is killed, or the grading process closes the control socket (it ended), the init
    ends and takes every process of the namespace with it.
    """

    def __init__(self, root: Path, limits: Limits, *, namespaces: bool = True):
        from autograder.sandbox import zygote
        from autograder.wire import arena

        shared = arena.current()
        self.control, self.pid = zygote.current().keeper(
            Path(root), limits, namespaces=namespaces, arena_fd=shared.fd
        )
        self.control.settimeout(limits.call_timeout + 30.0)

    def spawn(self) -> tuple[int, int, int]:
        """A new worker: ``(its pid inside the namespace, fd to write requests, fd to read replies)``."""
        self.control.sendall(b"S")
        message, fds, _, _ = socket.recv_fds(self.control, 8, 2)
        if len(message) != 8 or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise OSError("the submission's namespace did not start a worker")
        return int.from_bytes(message, "big"), fds[0], fds[1]

    def end(self, worker: int, wait: float) -> int | None:
        """Give worker ``worker`` ``wait`` seconds to end, then kill it (and its process group); its
        wait status, or None when the namespace no longer answers."""
        try:
            self.control.sendall(b"K" + worker.to_bytes(8, "big") + int(wait * 1000).to_bytes(8, "big"))
            reply = b""
            while len(reply) < 8:
                chunk = self.control.recv(8 - len(reply))
                if not chunk:
                    return None
                reply += chunk
        except OSError:
            return None
        return int.from_bytes(reply, "big", signed=True)

    def close(self) -> None:
        """End the keeper: every process of the submission ends with it."""
        from autograder.sandbox import zygote

        with contextlib.suppress(OSError):
            self.control.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)
        zygote.wait_exit(self.pid, 5.0)
        if BUDGET.active:
            BUDGET.remove_worker(self.pid)


class WorkerProcess:
    """One confined worker serving the staged package found in ``root``, forked inside ``host``'s
    namespaces."""

    def __init__(self, root: Path, limits: Limits, host: NamespaceHost):
        self.root = Path(root)
        self.limits = limits
        self.imported = False
        self.host = host
        self.pid, self._to_worker, self._from_worker = host.spawn()

    def exchange(self, tree: dict[str, Any], timeout: float) -> Any:
        """Send a request and return the decoded reply tree.

        Raises:
            TimeoutError: no complete reply within ``timeout`` seconds.
            EOFError: the worker closed its end (it ended).
            values.ProtocolError: the reply is not plain data or breaks the framing.
        """
        deadline = time.monotonic() + timeout
        try:
            _send(self._to_worker, values.dumps(tree), deadline)
        except BrokenPipeError:
            raise EOFError from None
        return values.loads(values.recv_message(self._from_worker, deadline))

    def stop(self, *, wait: float = 0.0) -> str:
        """End the worker and reap it; returns how it ended (``"killed by signal SIGSEGV"``)."""
        for fd in (self._to_worker, self._from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        return limits_module.describe_exit(self.host.end(self.pid, wait))


def _send(fd: int, payload: bytes, deadline: float) -> None:
    data = memoryview(len(payload).to_bytes(8, "big") + payload)
    os.set_blocking(fd, False)
    try:
        while data:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError
            _, ready, _ = select.select([], [fd], [], wait)
            if not ready:
                raise TimeoutError
            try:
                written = os.write(fd, data[:PIPE_BYTES])
            except BlockingIOError:
                continue
            data = data[written:]
    finally:
        os.set_blocking(fd, True)


class SandboxConnection:
    """The graders' connection to a submission staged under ``root``: one worker per exercise."""

    def __init__(self, root: Path, limits: Limits | None = None):
        self.root = Path(root)
        self.limits = limits or Limits()
        self.workers: dict[str, WorkerProcess] = {}
        self.import_failures: dict[str, str] = {}
        self.timeouts: dict[str, int] = {}
        self.host: NamespaceHost | None = None

    # ----------------------------------------------------------------------------------------------
    def request(self, tree: dict[str, Any], *, exercise: str, since: float | None = None) -> dict[str, Any]:
        """Send ``tree`` to the exercise's worker (started, and the module imported, if need be) and
        return its reply. ``since``: the call is a repeat of one first sent at this ``time.monotonic()``,
        whose limit it shares (its new worker's import included): a call repeated after a crash gets no
        more time than one that never crashed."""
        if exercise not in EXERCISE_BY_ID:
            raise values.SubmissionError(f"{exercise} is not an exercise")
        if exercise in self.import_failures:
            raise values.ImportFailed(self.import_failures[exercise], exercise=exercise)
        seconds = _seconds(self.limits.call_timeout)
        if self.timeouts.get(exercise, 0) >= self.limits.timeouts_per_exercise:
            raise values.CallTimedOut(
                f"Not run: {self.timeouts[exercise]} earlier calls into {exercise} did not return within "
                f"{seconds} s (an infinite loop?), so its remaining checks fail without waiting.",
                exercise=exercise,
            )
        worker = self._worker(exercise)
        limit = self.limits.call_timeout
        try:
            if since is not None:
                limit -= time.monotonic() - since
                if not worker.imported:
                    begun = time.monotonic()
                    self._import(worker, exercise, limit=limit)
                    limit -= time.monotonic() - begun
                if limit <= 0:
                    raise TimeoutError
            elif not worker.imported:
                self._import(worker, exercise)
            return worker.exchange(tree, limit)
        except TimeoutError:
            self._retire(exercise)
            self.timeouts[exercise] = self.timeouts.get(exercise, 0) + 1
            raise values.CallTimedOut(
                f"it did not return within {seconds} s (an infinite loop?)", exercise=exercise
            ) from None
        except EOFError:
            how = self._retire(exercise, died=True)
            signal_name = how.partition("killed by signal ")[2]
            raise values.WorkerDied(
                f"the process running your code died ({how}{_why_it_died(signal_name)})",
                exercise=exercise,
                signal_name=signal_name,
            ) from None
        except values.ProtocolError:
            self._retire(exercise)
            raise
        except MemoryError:
            self._retire(exercise)
            raise values.UnsafeResult(
                "its reply is too big for the grading process's memory limit", exercise=exercise
            ) from None
        except OSError as exc:
            how = self._retire(exercise, died=True)
            raise values.WorkerDied(
                f"the process running your code stopped answering ({how}; {exc.strerror})", exercise=exercise
            ) from None

    def start(self) -> NamespaceHost:
        """The submission's keeper, asked for now if it was not yet (so that its namespaces are made
        while the graders are being collected)."""
        namespaces = NAMESPACES.enabled()
        if self.host is None:
            self.host = NamespaceHost(self.root, self.limits, namespaces=namespaces)
        return self.host

    def close(self) -> None:
        for exercise in list(self.workers):
            self._retire(exercise)
        if self.host is not None:
            self.host.close()
            self.host = None

    # ----------------------------------------------------------------------------------------------
    def _worker(self, exercise: str) -> WorkerProcess:
        for other in [ex for ex in self.workers if ex != exercise]:
            self._retire(other)
        if exercise not in self.workers:
            self.workers[exercise] = WorkerProcess(self.root, self.limits, self.start())
        return self.workers[exercise]

    def _retire(self, exercise: str, *, died: bool = False) -> str:
        worker = self.workers.pop(exercise, None)
        if worker is None:
            return "not running"
        return worker.stop(wait=1.0 if died else 0.0)

    def _import(self, worker: WorkerProcess, exercise: str, *, limit: float | None = None) -> None:
        """Import the exercise's module in ``worker``; ``limit``: the time left to a repeated call, whose
        running out raises ``TimeoutError`` (the call's, not the module's failure)."""
        module = EXERCISE_BY_ID[exercise].module
        seconds = _seconds(self.limits.call_timeout)
        try:
            seconds_left = self.limits.call_timeout if limit is None else max(limit, 0.0)
            reply = worker.exchange({"op": "import", "module": module}, seconds_left)
        except TimeoutError:
            if limit is not None:
                raise
            self._retire(exercise)
            message = (
                f"importing {module}.py did not finish within {seconds} s "
                "(an infinite loop or a long computation at import time?)"
            )
        except (EOFError, OSError):
            how = self._retire(exercise, died=True)
            message = f"importing {module}.py ended the process running it ({how})"
        except values.ProtocolError as exc:
            self._retire(exercise)
            message = f"importing {module}.py broke the connection to the grader ({exc})"
        else:
            if type(reply) is dict and reply.get("ok") is True:
                worker.imported = True
                return
            if type(reply) is dict and reply.get("kind") == "import_failed":
                message = str(reply.get("message", ""))
            else:
                detail = str(reply.get("message", "")) if type(reply) is dict else "an unreadable reply"
                message = f"importing {module}.py failed ({detail[:300]})"
            self._retire(exercise)
        self.import_failures[exercise] = message
        raise values.ImportFailed(message, exercise=exercise)


# What a worker's end says, by the signal that ended it (a process that exits by itself is not guessed at).
_DEATHS = {
    "SIGSYS": "; it made a system call the sandbox refuses: a socket, a process or a memory file",
    "SIGXCPU": "; its CPU time ran out",
    "SIGABRT": "; aborted",
}


def _why_it_died(signal_name: str) -> str:
    """The guess that follows how a worker ended in a died message (``signal_name``: ``""`` when it
    exited by itself)."""
    return _DEATHS.get(signal_name, "; out of memory?") if signal_name else ""


def _seconds(value: float) -> str:
    return f"{value:g}"
