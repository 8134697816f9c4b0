"""The late pass: the checks marked ``@pytest.mark.needs("transformers")``, graded apart.

Importing transformers takes seconds, so the engine does not: one late-pass process, forked when the
batch starts, imports those modules and builds the inputs that need them while the grading children
grade everything else, then grades the marked checks of each submission, each in a grading child of
its own (``jobs`` at a time, each with its own deadline, so one that stalls holds up no other). It sends
one :class:`~autograder.grading.processes.Part` per submission back to the engine, which writes a
submission's result once both of its parts are in.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.grading.child import grade_in_child, limit_own_memory, silence_output
from autograder.grading.plan import Plan, warm_shared_inputs
from autograder.grading.processes import Child, Lines, Part, kill, run_children, send_line, spawn
from autograder.sandbox import limits as limits_module
from autograder.sandbox.limits import Limits
from autograder.wire.encoding import shared_model_specs


def start_child(
    student: str,
    source: Path,
    close: list[int],
    *,
    staging_root: str,
    plan: Plan,
    limits: Limits,
    late: bool | None,
) -> Child:
    """Fork a grading child for one submission, staged in a new folder under ``staging_root``
    (``late``: which of the plan's checks it grades, see :func:`grade_in_child`)."""
    workdir = Path(tempfile.mkdtemp(prefix="ag-grade-", dir=staging_root))

    def body(write_fd: int) -> None:
        grade_in_child(source, workdir, plan, limits, write_fd, late)

    pid, fd = spawn(body, close)
    return Child(pid, fd, Part(student), workdir=workdir)


def _late_pass(
    items: list[tuple[str, Path]], plan: Plan, limits: Limits, jobs: int, staging_root: str, write_fd: int
) -> None:
    """The late-pass process: load the modules, then grade each submission's late checks. Never
    returns."""
    modules = plan.late_modules
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        limits_module.become_subreaper()
        silence_output()
        try:
            from autograder.sandbox import huge_pages, zygote

            zygote.start(tuple(modules))  # the late pass's workers have these modules too
            for name in modules:
                importlib.import_module(name)
            warm_shared_inputs()  # now the inputs that need these modules
            gc.freeze()
            zygote.current().keep_templates(shared_model_specs())
            huge_pages.collapse_private_memory()  # a grading child per submission is forked from here
            limit_own_memory()
        except BaseException as exc:  # noqa: BLE001
            problem = f"{', '.join(modules)} could not be loaded ({type(exc).__name__}: {exc})"
            for student, _ in items:
                part = Part.not_graded(student, f"the checks that need {problem}", grader_error=problem)
                send_line(write_fd, part.to_message())
            return

        def start(student: str, source: Path, close: list[int]) -> Child:
            return start_child(
                student,
                source,
                [write_fd, *close],
                staging_root=staging_root,
                plan=plan,
                limits=limits,
                late=True,
            )

        run_children(
            items,
            jobs=jobs,
            seconds=limits.submission_timeout,
            start=start,
            finished=lambda child: send_line(write_fd, child.part.to_message()),
            reap_strays=True,
        )
    finally:
        with contextlib.suppress(BaseException):
            from autograder.sandbox import zygote

            zygote.stop_own()
        os._exit(0)


@dataclass
class LatePass:
    """The engine's side of the late pass: its process, and the parts it has sent back.

    A :class:`~autograder.grading.processes.Listener` of the engine's loop: ``on_part`` is called with
    each student whose part came in (or was given up on).
    """

    pid: int
    fd: int
    waiting: set[str]
    silence: float
    on_part: Callable[[str], None]
    modules: tuple[str, ...]
    parts: dict[str, Part] = field(default_factory=dict)
    lines: Lines = field(default_factory=Lines)
    last_heard: float = field(default_factory=time.monotonic)

    @classmethod
    def start(
        cls,
        items: list[tuple[str, Path]],
        plan: Plan,
        limits: Limits,
        jobs: int,
        staging_root: str,
        on_part: Callable[[str], None],
    ) -> LatePass:
        def body(write_fd: int) -> None:
            _late_pass(items, plan, limits, jobs, staging_root, write_fd)

        pid, fd = spawn(body)
        # How long it may stay silent: importing its modules, then one submission's checks.
        silence = limits.submission_timeout + 120.0
        return cls(pid, fd, {student for student, _ in items}, silence, on_part, tuple(plan.late_modules))

    @property
    def process(self) -> str:
        return f"the process grading the checks that need {', '.join(self.modules)}"

    def deadline(self) -> float:
        return self.last_heard + self.silence

    def read(self) -> None:
        """Take what the process sent; give up on what is missing once it has closed its end."""
        data = os.read(self.fd, 1 << 16)
        self.last_heard = time.monotonic()
        if not data:
            self.give_up(f"{self.process} ended")
            return
        for message in self.lines.feed(data):
            try:
                part = Part.from_message(message)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # the student's part stays missing: marked when the process ends
            if part.student in self.waiting:
                self.waiting.discard(part.student)
                self.parts[part.student] = part
                self.on_part(part.student)

    def overdue(self) -> None:
        self.give_up(f"{self.process} went silent")

    def give_up(self, reason: str) -> None:
        """The process ended or stopped answering: every part not in yet is not graded, for ``reason``."""
        missing, self.waiting = self.waiting, set()
        self.stop()
        for student in sorted(missing):
            self.parts[student] = Part.not_graded(student, reason)
            self.on_part(student)

    def stop(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        if self.pid > 0:
            kill(self.pid)
            limits_module.reap(self.pid)
            self.pid = 0
