"""The engine's processes: forking a child that reports JSON lines on a pipe, and the one loop that runs
them, at most ``jobs`` at a time, each within its time limit.

What a child reports is a :class:`Part` (plain data, also sent whole from the late pass to the engine);
the process handle is a :class:`Child`. Both the engine's batch and the late pass run their grading
children with :func:`run_children`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from autograder.results.model import CheckResult
from autograder.sandbox import limits as limits_module

STOPPED = "grading was stopped after {seconds:g} s, the limit per submission"
INTERRUPTED = "grading was interrupted"


@dataclass
class Part:
    """What one grading child reported for one submission: its checks, errors, and how it ended."""

    student: str
    checks: list[CheckResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    grader_errors: list[str] = field(default_factory=list)
    done: bool = False
    stopped: str | None = None
    seconds: float = 0.0

    def take(self, message: dict[str, Any]) -> None:
        """One message of the grading child (see :mod:`autograder.grading.child`)."""
        kind = message.get("type")
        if kind == "check":
            self.checks.append(CheckResult.from_dict(message))
        elif kind == "error":
            self.errors.append(str(message["message"]))
        elif kind == "grader_error":
            self.grader_errors.append(str(message["message"]))
        elif kind == "done":
            self.done = True

    def results(self, plan: list[CheckResult]) -> tuple[list[CheckResult], str | None]:
        """This part's checks, in plan order (those it did not report marked not run), and its error."""
        error = self.stopped or ("; ".join(self.errors) if self.errors else None)
        if error is None and not self.done:
            error = "the grading process ended before finishing"
        received = {(c.exercise, c.name): c for c in self.checks}
        not_run = f"not graded: {error}" if error else "not run"
        checks = [
            received.pop((c.exercise, c.name))
            if (c.exercise, c.name) in received
            else CheckResult(c.exercise, c.name, 0.0, c.max_points, False, not_run)
            for c in plan
        ]
        checks.extend(received.values())
        return checks, error

    def to_message(self) -> dict[str, Any]:
        return {
            "student": self.student,
            "checks": [c.to_dict() for c in self.checks],
            "errors": self.errors,
            "grader_errors": self.grader_errors,
            "done": self.done,
            "stopped": self.stopped,
            "seconds": self.seconds,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Part:
        return cls(
            student=str(message["student"]),
            checks=[CheckResult.from_dict(c) for c in message["checks"]],
            errors=[str(e) for e in message["errors"]],
            grader_errors=[str(e) for e in message["grader_errors"]],
            done=bool(message["done"]),
            stopped=None if message["stopped"] is None else str(message["stopped"]),
            seconds=float(message["seconds"]),
        )

    @classmethod
    def not_graded(cls, student: str, reason: str, grader_error: str | None = None) -> Part:
        """A part whose process never reported, for ``reason``."""
        return cls(student, stopped=reason, grader_errors=[grader_error] if grader_error else [])


class Lines:
    """JSON messages out of the bytes of a pipe, one per line."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """The messages completed by ``data``; a line that is not JSON becomes ``None``."""
        self._buffer.extend(data)
        *lines, rest = bytes(self._buffer).split(b"\n")
        self._buffer = bytearray(rest)
        messages = []
        for line in lines:
            try:
                messages.append(json.loads(line))
            except ValueError:
                messages.append(None)
        return messages


def spawn(body: Callable[[int], None], close: Iterable[int] = ()) -> tuple[int, int]:
    """Fork a child that runs ``body(write_fd)`` and exits; returns ``(pid, read_fd)``.

    The child closes ``close`` (its siblings' pipes) and dies with this process.
    """
    from autograder.sandbox import fork

    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = fork()
    if pid == 0:
        try:
            os.close(read_fd)
            for fd in close:
                with contextlib.suppress(OSError):
                    os.close(fd)
            limits_module.die_with_parent(parent)
            body(write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd


def send_line(fd: int, message: dict[str, Any]) -> None:
    """Write ``message`` as one JSON line, all of it."""
    data = memoryview((json.dumps(message) + "\n").encode())
    while data:
        data = data[os.write(fd, data) :]


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Child:
    """A running grading child: its process, its pipe, and the part it is reporting."""

    pid: int
    fd: int
    part: Part
    started: float = field(default_factory=time.monotonic)
    workdir: Path | None = None
    lines: Lines = field(default_factory=Lines)

    def feed(self, data: bytes) -> None:
        for message in self.lines.feed(data):
            try:
                self.part.take(message)
            except (KeyError, TypeError, ValueError, AttributeError):
                self.part.errors.append("the grading process sent an unreadable message")

    def end(self, stopped: str | None) -> None:
        """The child closed its pipe or was killed: reap it, remove its staged files, close its part."""
        import shutil

        with contextlib.suppress(OSError):
            os.close(self.fd)
        status = limits_module.reap(self.pid)
        part = self.part
        part.stopped = stopped
        part.seconds = time.monotonic() - self.started
        if stopped is None and not part.done and status:
            part.errors.append(f"the grading process ended ({limits_module.describe_exit(status)})")
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


class Listener(Protocol):
    """A pipe the loop also reads (the late pass), with a time by which it must have spoken."""

    fd: int
    pid: int

    def read(self) -> None: ...

    def deadline(self) -> float: ...

    def overdue(self) -> None: ...


def run_children(
    items: Iterable[tuple[str, Path]],
    *,
    jobs: int,
    seconds: float,
    start: Callable[[str, Path, list[int]], Child],
    finished: Callable[[Child], None],
    listener: Listener | None = None,
    waiting: Callable[[], bool] = lambda: False,
    reap_strays: bool = False,
) -> None:
    """Start a child per item (``start(student, source, fds the child must close)``), ``jobs`` at a
    time, feed each what it writes, stop any that passes ``seconds``, and hand each ended child to
    ``finished``. Also reads ``listener`` when given, and keeps going while ``waiting()``.

    ``reap_strays``: after a child ends, kill any other child of this process but the running ones
    (what a submission left behind when this process is their subreaper).
    """
    pending = deque(items)
    running: dict[int, Child] = {}

    def listening() -> bool:
        return listener is not None and listener.fd >= 0

    try:
        while pending or running or waiting():
            while pending and len(running) < max(1, jobs):
                student, source = pending.popleft()
                close = [*running, *([listener.fd] if listener is not None and listening() else [])]
                child = start(student, source, close)
                running[child.fd] = child
            fds = list(running)
            deadlines = [child.started + seconds for child in running.values()]
            if listener is not None and listening():
                fds.append(listener.fd)
                deadlines.append(listener.deadline())
            if not fds:
                break  # nothing left that could report
            now = time.monotonic()
            ready, _, _ = select.select(fds, [], [], max(0.0, min(min(deadlines) - now, 1.0)))
            ended: list[tuple[Child, str | None]] = []
            for fd in ready:
                if listener is not None and fd == listener.fd:
                    listener.read()
                    continue
                data = os.read(fd, 1 << 16)
                if data:
                    running[fd].feed(data)
                else:
                    ended.append((running[fd], None))
            now = time.monotonic()
            for child in running.values():
                if now - child.started > seconds and all(child is not e[0] for e in ended):
                    kill(child.pid)
                    ended.append((child, STOPPED.format(seconds=seconds)))
            if listener is not None and listening() and now > listener.deadline():
                listener.overdue()
            for child, stopped in ended:
                del running[child.fd]
                child.end(stopped)
                finished(child)
            if reap_strays and ended:
                keep = {child.pid for child in running.values()}
                if listener is not None and listener.pid:
                    keep.add(listener.pid)
                limits_module.kill_children(keep=keep)
    finally:
        for child in running.values():
            kill(child.pid)
            child.end(INTERRUPTED)
