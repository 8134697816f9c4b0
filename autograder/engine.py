"""A grading batch: ``python -m autograder grade SUBMISSION... --out DIR``.

The engine imports torch, pytest and the graders once (collecting the graders checks that every
exercise's points sum to 20), then forks one *grading child* per submission, at most ``--jobs`` at a
time. A grading child stages the submission in a private folder and runs the hidden graders in-process
with pytest; their calls into the submission go to confined worker processes (:mod:`autograder.sandbox`).
Per-check results come back to the engine as JSON lines on a pipe; only the engine writes files
(:mod:`autograder.results`), each one as soon as its submission is done, so an interrupted batch resumes
where it stopped.

Checks marked ``@pytest.mark.needs("transformers")`` are graded apart: one *late pass* process, forked
when the batch starts, imports those modules (transformers takes 4 s or more) while the grading children
grade everything else without them, then grades the marked checks of each submission in turn. A
submission's result is written once both parts are in.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import io
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from autograder.collect import CheckResult, ChecksPlugin, GraderBug
from autograder.layout import GRADERS_DIR, MAX_TOTAL
from autograder.results import (
    SubmissionResult,
    read_result,
    result_path,
    summary_table,
    write_outputs,
    write_result,
)
from autograder.sandbox import confine
from autograder.sandbox import limits as limits_module
from autograder.sandbox.limits import Limits
from autograder.staging import BadSubmission, stage, student_id

if TYPE_CHECKING:
    from autograder.intake import Submission

__all__ = [
    "BadSubmission",
    "CheckResult",
    "DuplicateStudent",
    "GraderBug",
    "SubmissionResult",
    "add_arguments",
    "grade_one",
    "grade_submissions",
    "run",
]

DEFAULT_OUT = "autograder-out"
# pytest's plugins that the graders do not use cost about 0.3 s a submission (per-test log capture,
# warning capture, the gc.collect() of the unraisable-exception hook; the rest a few ms each to
# register); they are left out.
UNUSED_PLUGINS = (
    "cacheprovider",
    "faulthandler",
    "logging",
    "warnings",
    "unraisableexception",
    "threadexception",
    "doctest",
    "junitxml",
    "pastebin",
    "stepwise",
    "legacypath",
    "tmpdir",
    "monkeypatch",
    "debugging",
    "setuponly",
    "setupplan",
    "subtests",
    "unittest",
    "recwarn",
)
# --tb=no: the checks' messages come from the results plugin; pytest's own traceback report of a failed
# check (source excerpts, about 30 ms each) is never read.
PYTEST_ARGS = (
    "-q",
    "-s",
    "--tb=no",
    *(a for name in UNUSED_PLUGINS for a in ("-p", f"no:{name}")),
    "-o",
    "addopts=",
)


class DuplicateStudent(ValueError):
    """Two submissions would get the same student id."""


# --------------------------------------------------------------------------------------------------
# The engine's warm start: imports and the graders' plan.

_PLANS: dict[tuple, list[CheckResult]] = {}
# graders folder -> (exercise, check) -> the modules that check needs (see the module's text), and
# the node ids of those checks
_NEEDS: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {}
_NODE_IDS: dict[str, list[str]] = {}


WARM_MODULES = (
    "torch",
    "autograder.sandbox",
    "autograder.worker",
    "solutions.model",
)


def _warm_imports() -> None:
    for name in WARM_MODULES:
        importlib.import_module(name)
    import torch

    torch.set_num_threads(1)
    from autograder.sandbox import use_namespaces, zygote

    zygote.start()  # a fresh interpreter: it imports torch while this process collects the graders
    use_namespaces()  # probed once: every worker of the batch is confined alike


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def late_checks(graders_dir: Path = GRADERS_DIR) -> dict[tuple[str, str], tuple[str, ...]]:
    """The checks :func:`prepare` found marked ``needs``, with their modules."""
    return dict(_NEEDS.get(str(Path(graders_dir).resolve()), {}))


def _graders_key(graders_dir: Path) -> tuple:
    files = sorted(p for p in Path(graders_dir).rglob("*.py") if "__pycache__" not in p.parts)
    return (
        str(Path(graders_dir).resolve()),
        *((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files),
    )


@contextlib.contextmanager
def _pytest_environment():
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


def prepare(graders_dir: Path = GRADERS_DIR) -> list[CheckResult]:
    """Import everything the grading children share and collect the graders: the plan of checks.

    Raises:
        GraderBug: a grader file does not collect, or an exercise's points do not sum to 20.
    """
    import pytest

    _warm_imports()
    key = _graders_key(graders_dir)
    if key not in _PLANS:
        plugin = ChecksPlugin()
        output = io.StringIO()
        with _pytest_environment(), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = pytest.main([str(graders_dir), "--collect-only", *PYTEST_ARGS], plugins=[plugin])
        if plugin.collection_errors or code != 0 or not plugin.plan:
            detail = "\n".join(plugin.collection_errors) or output.getvalue()[-3000:]
            raise GraderBug(
                f"the graders in {graders_dir} are broken (pytest exit code {int(code)}):\n{detail}"
            )
        missing = sorted({name for names in plugin.needs.values() for name in names if not _importable(name)})
        if missing:
            raise GraderBug(
                f"the graders need {', '.join(missing)}, which is not installed here: install the "
                'project with its dev extras (pip install -e ".[dev]")'
            )
        _PLANS[key] = plugin.plan
        _NEEDS[str(Path(graders_dir).resolve())] = dict(plugin.needs)
        _NODE_IDS[str(Path(graders_dir).resolve())] = sorted(plugin.node_ids.values())
        support = sys.modules.get("autograder.graders.support")
        if support is not None and hasattr(support, "warm_all"):
            try:
                support.warm_all()  # the graders' shared inputs: built here once, inherited by every child
            except Exception as exc:
                raise GraderBug(
                    f"building the graders' shared inputs failed: {type(exc).__name__}: {exc}"
                ) from exc
    # Everything imported so far is shared by the forked children: keep the garbage collector from
    # walking it (millions of objects, about 0.15 s a full collection) in every child.
    gc.freeze()
    from autograder.sandbox import zygote

    zygote.current()  # ready before any grading child shares it
    return [replace(check) for check in _PLANS[key]]


# --------------------------------------------------------------------------------------------------
# The grading child.


def _send_line(fd: int, message: dict) -> None:
    """Write ``message`` as one JSON line, all of it (the engine reads these from its children)."""
    data = memoryview((json.dumps(message) + "\n").encode())
    while data:
        data = data[os.write(fd, data) :]


def _grading_child(
    source: Path,
    workdir: Path,
    graders_dir: Path,
    limits: Limits,
    write_fd: int,
    select_checks: list[str] | None = None,
) -> None:
    """Runs in the forked child: stage ``source`` in ``workdir``, grade it and report on ``write_fd``.
    Never returns. (Whoever started it removes ``workdir``, also when it had to kill this process.)

    ``select_checks``: pytest arguments that choose the checks (``["-m", "not needs"]``, node ids), or
    None for every check in ``graders_dir``.
    """
    import pytest
    import torch

    def emit(message: dict) -> None:
        _send_line(write_fd, message)

    connection = None
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        limits_module.become_subreaper()
        limit_own_memory()
        torch.set_num_threads(1)
        # This process and its workers live for seconds and build many small objects (models): collect
        # cycles less often (the default, every 700 allocations, costs about a tenth of the time).
        gc.set_threshold(50_000, 50, 100)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            stage(source, workdir)
        except BadSubmission as exc:
            emit({"type": "error", "message": str(exc)})
            return
        _make_readable(workdir)
        from autograder.sandbox import SandboxConnection

        connection = SandboxConnection(workdir, limits)
        connection.start()
        whole = select_checks is None or select_checks[:1] == ["-m"]
        if whole:
            select_checks = [str(graders_dir), *(select_checks or [])]
        plugin = ChecksPlugin(
            connection, on_check=lambda check: emit({"type": "check", **check.to_dict()}), whole=whole
        )
        with _pytest_environment():
            code = pytest.main([*select_checks, *PYTEST_ARGS], plugins=[plugin])
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            code = pytest.ExitCode.OK  # a selection with no check in it
        for problem in plugin.collection_errors + plugin.grader_errors:
            emit({"type": "grader_error", "message": problem})
        emit({"type": "done", "exit_code": int(code)})
    except BaseException as exc:  # noqa: BLE001
        with contextlib.suppress(BaseException):
            emit({"type": "error", "message": f"the grading process failed ({type(exc).__name__}: {exc})"})
    finally:
        with contextlib.suppress(BaseException):
            if connection is not None:
                connection.close()
            limits_module.kill_children()
            shutil.rmtree(workdir, ignore_errors=True)
        os._exit(0)


def limit_own_memory() -> None:
    """Give this grading process a memory limit of its own, a soft ``RLIMIT_AS`` of
    :func:`autograder.wire.frame.grading_memory_limit_bytes`: a reply it cannot hold fails this
    submission's check with a ``MemoryError`` instead of taking the machine (and every other
    submission) down. Soft only: the limit does not bind the processes it starts."""
    import resource

    from autograder.wire.frame import grading_memory_limit_bytes

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = grading_memory_limit_bytes(limits_module.vm_size_bytes())
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))


def _make_readable(root: Path) -> None:
    """Let the workers (``nobody`` when the engine is root) read the staged files, and nothing else."""
    os.chmod(root, 0o755)
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


@dataclass
class _Running:
    student: str
    source: Path
    pid: int
    fd: int
    started: float
    buffer: bytearray = field(default_factory=bytearray)
    checks: list[CheckResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    grader_errors: list[str] = field(default_factory=list)
    done: bool = False

    stopped: str | None = None
    seconds: float = 0.0
    workdir: Path | None = None

    def feed(self, data: bytes) -> None:
        self.buffer.extend(data)
        while b"\n" in self.buffer:
            line, _, rest = bytes(self.buffer).partition(b"\n")
            self.buffer = bytearray(rest)
            try:
                message = json.loads(line)
                kind = message.get("type")
                if kind == "check":
                    self.checks.append(CheckResult.from_dict(message))
                elif kind == "error":
                    self.errors.append(str(message["message"]))
                elif kind == "grader_error":
                    self.grader_errors.append(str(message["message"]))
                elif kind == "done":
                    self.done = True
            except (ValueError, KeyError, TypeError, AttributeError):
                self.errors.append("the grading process sent an unreadable message")

    def finish(self, stopped: str | None, status: int | None) -> None:
        """The child has ended (``status``, None if unknown), or was stopped for the reason given."""
        self.stopped = stopped
        self.seconds = time.monotonic() - self.started
        if stopped is None and not self.done and status:
            self.errors.append(f"the grading process ended ({limits_module.describe_exit(status)})")

    def part(self, plan: list[CheckResult]) -> tuple[list[CheckResult], str | None]:
        """This child's checks, in plan order (those it did not report marked not run), and its error."""
        error = self.stopped or ("; ".join(self.errors) if self.errors else None)
        if error is None and not self.done:
            error = "the grading process ended before finishing"
        received = {(c.exercise, c.name): c for c in self.checks}
        not_run = f"not graded: {error}" if error else "not run"
        checks = [
            received.pop((c.exercise, c.name), None)
            or CheckResult(c.exercise, c.name, 0.0, c.max_points, False, not_run)
            for c in plan
        ]
        checks.extend(received.values())
        return checks, error

    def to_message(self) -> dict:
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
    def from_message(cls, message: dict) -> _Running:
        part = cls(str(message["student"]), Path(), 0, -1, time.monotonic())
        part.checks = [CheckResult.from_dict(c) for c in message["checks"]]
        part.errors = [str(e) for e in message["errors"]]
        part.grader_errors = [str(e) for e in message["grader_errors"]]
        part.done = bool(message["done"])
        part.stopped = None if message["stopped"] is None else str(message["stopped"])
        part.seconds = float(message["seconds"])
        return part


def _combine(
    student: str, parts: list[tuple[_Running, list[CheckResult]]], plan: list[CheckResult]
) -> SubmissionResult:
    """One submission's result from its parts (a child and the plan it graded), in plan order."""
    checks: dict[tuple[str, str], CheckResult] = {}
    errors = []
    for running, part_plan in parts:
        part_checks, error = running.part(part_plan)
        checks.update({(c.exercise, c.name): c for c in part_checks})
        if error:
            errors.append(error)
    ordered = [checks.pop((c.exercise, c.name)) for c in plan if (c.exercise, c.name) in checks]
    ordered.extend(checks.values())
    seconds = sum(running.seconds for running, _ in parts)
    return SubmissionResult(student, ordered, "; ".join(errors) if errors else None, seconds)


def _start_child(
    student: str,
    source: Path,
    graders_dir: Path,
    limits: Limits,
    open_fds: Iterable[int],
    select_checks: list[str] | None = None,
):
    from autograder.sandbox import fork

    workdir = Path(tempfile.mkdtemp(prefix="ag-grade-", dir=_STAGING_ROOT))
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = fork()
    if pid == 0:
        try:
            os.close(read_fd)
            for fd in open_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            limits_module.die_with_parent(parent)
            _grading_child(source, workdir, graders_dir, limits, write_fd, select_checks)
        finally:
            os._exit(0)
    os.close(write_fd)
    return _Running(student, source, pid, read_fd, time.monotonic(), workdir=workdir)


def _end_child(child: _Running, stopped: str | None) -> None:
    """The grading child has closed its pipe or was killed: reap it and remove its staged files."""
    with contextlib.suppress(OSError):
        os.close(child.fd)
    child.finish(stopped, limits_module.reap(child.pid))
    if child.workdir is not None:
        shutil.rmtree(child.workdir, ignore_errors=True)


# Where the grading children of this batch stage submissions (see _staging_root).
_STAGING_ROOT: str | None = None


@contextlib.contextmanager
def _staging_root():
    """A folder for the batch's staged submissions, and its cgroups (as root): both removed at the end
    of the batch whatever happened (a killed child, Ctrl-C), with everything in them."""
    global _STAGING_ROOT
    if _STAGING_ROOT is not None:  # a batch inside a batch (the late pass): the outer one cleans up
        yield
        return
    root = tempfile.mkdtemp(prefix="ag-batch-")
    os.chmod(root, 0o711)  # workers (nobody) reach their own folder but cannot list the others
    _STAGING_ROOT = root
    confine.BUDGET.start()
    try:
        yield
    finally:
        _STAGING_ROOT = None
        shutil.rmtree(root, ignore_errors=True)
        confine.BUDGET.finish()


STOPPED = "grading was stopped after {seconds:g} s, the limit per submission"


def _late_pass(
    items: list[tuple[str, Path]],
    graders_dir: Path,
    limits: Limits,
    modules: list[str],
    write_fd: int,
    jobs: int = 1,
) -> None:
    """Runs in a child of the engine: import ``modules``, build the inputs that need them, then grade
    the checks marked ``needs`` of each submission, each in a grading child of its own (``jobs`` at a
    time, each with its own deadline, so one that stalls holds up no other). Sends one JSON line per
    submission (:meth:`_Running.to_message`). Never returns."""

    def emit(message: dict) -> None:
        _send_line(write_fd, message)

    # The checks by node id: their grading child collects their files only.
    node_ids = _NODE_IDS[str(Path(graders_dir).resolve())]
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        limits_module.become_subreaper()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            from autograder.sandbox import zygote

            zygote.start(tuple(modules))  # the late pass's workers have these modules too
            for name in modules:
                importlib.import_module(name)
            support = sys.modules.get("autograder.graders.support")
            if support is not None and hasattr(support, "warm_all"):
                support.warm_all()  # now the inputs that need these modules
            gc.freeze()
            zygote.current()
            limit_own_memory()
        except BaseException as exc:  # noqa: BLE001
            problem = f"{', '.join(modules)} could not be loaded ({type(exc).__name__}: {exc})"
            for student, source in items:
                part = _Running(student, source, 0, -1, time.monotonic())
                part.grader_errors.append(problem)
                part.finish(f"the checks that need {problem}", None)
                emit(part.to_message())
            return
        _late_children(items, graders_dir, limits, node_ids, jobs, write_fd)
    finally:
        with contextlib.suppress(BaseException):
            from autograder.sandbox import zygote

            zygote.stop_own()
        os._exit(0)


def _late_children(
    items: list[tuple[str, Path]],
    graders_dir: Path,
    limits: Limits,
    node_ids: list[str],
    jobs: int,
    write_fd: int,
) -> None:
    pending = deque(items)
    running: dict[int, _Running] = {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            student, source = pending.popleft()
            child = _start_child(student, source, graders_dir, limits, [write_fd, *running], node_ids)
            running[child.fd] = child
        now = time.monotonic()
        wait = max(0.0, min(c.started + limits.submission_timeout for c in running.values()) - now)
        ready, _, _ = select.select(list(running), [], [], wait)
        finished: list[tuple[_Running, str | None]] = []
        for fd in ready:
            data = os.read(fd, 1 << 16)
            if data:
                running[fd].feed(data)
            else:
                finished.append((running[fd], None))
        now = time.monotonic()
        for child in running.values():
            if now - child.started > limits.submission_timeout and all(child is not f[0] for f in finished):
                _kill(child.pid)
                finished.append((child, STOPPED.format(seconds=limits.submission_timeout)))
        for child, stopped in finished:
            del running[child.fd]
            _end_child(child, stopped)
            _send_line(write_fd, child.to_message())
        if finished:
            limits_module.kill_children(keep={c.pid for c in running.values()})


@dataclass
class _LatePass:
    """The engine's side of the late pass: its process, and the parts it has sent back."""

    pid: int
    fd: int
    waiting: set[str]
    parts: dict[str, _Running] = field(default_factory=dict)
    buffer: bytearray = field(default_factory=bytearray)
    last_heard: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, items, graders_dir: Path, limits: Limits, modules: list[str], jobs: int = 1):
        from autograder.sandbox import fork

        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        pid = fork()
        if pid == 0:
            try:
                os.close(read_fd)
                limits_module.die_with_parent(parent)
                _late_pass(items, graders_dir, limits, modules, write_fd, jobs)
            finally:
                os._exit(0)
        os.close(write_fd)
        return cls(pid, read_fd, {student for student, _ in items})

    def read(self) -> bool:
        """Take what the process sent; False once it has closed its end."""
        data = os.read(self.fd, 1 << 16)
        self.last_heard = time.monotonic()
        if not data:
            return False
        self.buffer.extend(data)
        while b"\n" in self.buffer:
            line, _, rest = bytes(self.buffer).partition(b"\n")
            self.buffer = bytearray(rest)
            try:
                part = _Running.from_message(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # the student's part stays missing: marked below when the process ends
            if part.student in self.waiting:
                self.waiting.discard(part.student)
                self.parts[part.student] = part
        return True

    def give_up(self, reason: str) -> None:
        """The process ended or stopped answering: every part not in yet is not graded, for ``reason``."""
        for student in self.waiting:
            part = _Running(student, Path(), 0, -1, time.monotonic())
            part.finish(reason, None)
            self.parts[student] = part
        self.waiting.clear()
        self.stop()

    def stop(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        if self.pid > 0:
            _kill(self.pid)
            limits_module.reap(self.pid)
            self.pid = 0


def _run_batch(
    items: list[tuple[str, Path]],
    *,
    plan: list[CheckResult],
    graders_dir: Path,
    limits: Limits,
    jobs: int,
    on_result: Callable[[SubmissionResult, _Running], None],
    reap_strays: bool = False,
) -> list[SubmissionResult]:
    with _staging_root():
        return _grade_batch(items, plan, graders_dir, limits, jobs, on_result, reap_strays)


def _grade_batch(
    items: list[tuple[str, Path]],
    plan: list[CheckResult],
    graders_dir: Path,
    limits: Limits,
    jobs: int,
    on_result: Callable[[SubmissionResult, _Running], None],
    reap_strays: bool,
) -> list[SubmissionResult]:
    graded_with = provenance(graders_dir, limits)
    needs = late_checks(graders_dir)
    late_plan = [c for c in plan if (c.exercise, c.name) in needs]
    main_plan = [c for c in plan if (c.exercise, c.name) not in needs]
    modules = sorted({name for names in needs.values() for name in names})
    late = _LatePass.start(items, graders_dir, limits, modules, jobs) if late_plan and items else None
    late_process = f"the process grading the checks that need {', '.join(modules)}"
    select_checks = ["-m", "not needs"] if late is not None else None
    # How long the late pass may stay silent: importing its modules, then one submission's checks.
    late_silence = limits.submission_timeout + 120.0
    pending = deque(items)
    running: dict[int, _Running] = {}
    graded: dict[str, _Running] = {}  # main parts done, waiting for their late part
    results: list[SubmissionResult] = []

    def complete(main: _Running) -> None:
        parts = [(main, main_plan)]
        if late is not None:
            extra = late.parts.pop(main.student)
            parts.append((extra, late_plan))
            main.grader_errors.extend(extra.grader_errors)
        result = _combine(main.student, parts, plan)
        result.provenance = graded_with
        results.append(result)
        on_result(result, main)

    try:
        while pending or running or graded:
            while pending and len(running) < max(1, jobs):
                student, source = pending.popleft()
                inherited = [*running, *([late.fd] if late is not None and late.fd >= 0 else [])]
                child = _start_child(student, source, graders_dir, limits, inherited, select_checks)
                running[child.fd] = child
            now = time.monotonic()
            deadlines = [c.started + limits.submission_timeout for c in running.values()]
            listening = list(running)
            if late is not None and late.fd >= 0:
                deadlines.append(late.last_heard + late_silence)
                listening.append(late.fd)
            ready, _, _ = select.select(listening, [], [], max(0.0, min(min(deadlines) - now, 1.0)))
            finished: list[tuple[_Running, str | None]] = []
            for fd in ready:
                if late is not None and fd == late.fd:
                    if not late.read():
                        late.give_up(f"{late_process} ended")
                    continue
                child = running[fd]
                data = os.read(fd, 1 << 16)
                if data:
                    child.feed(data)
                else:
                    finished.append((child, None))
            now = time.monotonic()
            for child in running.values():
                if now - child.started > limits.submission_timeout and all(
                    child is not f[0] for f in finished
                ):
                    _kill(child.pid)
                    finished.append((child, STOPPED.format(seconds=limits.submission_timeout)))
            if late is not None and late.fd >= 0 and now - late.last_heard > late_silence:
                late.give_up(f"{late_process} went silent")
            for child, stopped in finished:
                del running[child.fd]
                _end_child(child, stopped)
                graded[child.student] = child
            for student in [s for s in graded if late is None or s in late.parts]:
                complete(graded.pop(student))
            if reap_strays and finished:
                keep = {c.pid for c in running.values()}
                if late is not None and late.pid:
                    keep.add(late.pid)
                limits_module.kill_children(keep=keep)
    finally:
        for child in running.values():
            _kill(child.pid)
            _end_child(child, "grading was interrupted")
        if late is not None:
            late.stop()
    return results


def provenance(graders_dir: Path, limits: Limits) -> dict:
    """What a batch is graded with, recorded in each results file so that a regrade can be shown to be
    the same: the package's version, a hash of the graders (their files, so their fixed seeds too),
    torch's and Python's versions, the hash seed, the limits and the sandbox in force."""
    import hashlib
    import importlib.metadata
    import platform

    import torch

    digest = hashlib.sha256()
    folder = Path(graders_dir)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        version = importlib.metadata.version("distil-roberta-exercises")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "package_version": version,
        "graders_sha256": digest.hexdigest(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "seeds": {
            "graders": "fixed in the graders' files (graders_sha256)",
            "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "random"),
        },
        "limits": {
            "call_timeout": limits.call_timeout,
            "memory_mb": limits.memory_mb,
            "submission_timeout": limits.submission_timeout,
            "max_processes": limits.max_processes,
        },
        "sandbox": confine.features(),
    }


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------------
# The library API.


def _limits(timeout: float, memory_mb: int, submission_timeout: float) -> Limits:
    return Limits(
        call_timeout=float(timeout), memory_mb=int(memory_mb), submission_timeout=float(submission_timeout)
    )


def _report_grader_errors(result: SubmissionResult, child: _Running, stream: TextIO) -> None:
    for problem in child.grader_errors:
        print(f"\n!!! GRADER ERROR while grading {result.student}: {problem}\n", file=stream, flush=True)


def grade_one(
    path: Path | str,
    *,
    timeout: float = 20.0,
    memory_mb: int = 2048,
    graders_dir: Path | str = GRADERS_DIR,
    submission_timeout: float = 300.0,
) -> SubmissionResult:
    """Grade one submission (folder or zip) and return its result; writes no file.

    Raises:
        BadSubmission: ``path`` is neither a folder nor a ``.zip`` file.
        GraderBug: the graders are broken.
    """
    source = _check_path(Path(path))
    plan = prepare(Path(graders_dir))
    results = _run_batch(
        [(student_id(source), source)],
        plan=plan,
        graders_dir=Path(graders_dir),
        limits=_limits(timeout, memory_mb, submission_timeout),
        jobs=1,
        on_result=lambda result, child: _report_grader_errors(result, child, sys.stderr),
    )
    return results[0]


def _check_path(path: Path | Submission) -> Path | Submission:
    """A folder or zip as its resolved path, or a submission found by :mod:`autograder.intake` as is.

    Raises:
        BadSubmission: the path is neither a folder nor a zip, or the submission has nothing to grade.
    """
    if not isinstance(path, (str, Path)):
        if path.source is None:
            raise BadSubmission(f"{path.origin}: {path.note}")
        return path
    path = Path(path)
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
        return path.resolve()
    if not path.exists():
        raise BadSubmission(f"{path}: no such file or folder")
    raise BadSubmission(f"{path} is neither a folder nor a .zip file")


def partition_paths(paths: Iterable[Path | str]) -> tuple[list[Path], list[str]]:
    """Split paths into submissions (folders and zips) and one error message per other path."""
    good, problems = [], []
    for path in paths:
        try:
            good.append(_check_path(Path(path)))
        except BadSubmission as exc:
            problems.append(str(exc))
    return good, problems


def _student_and_source(item: Path | Submission) -> tuple[str, Path | None, str]:
    if isinstance(item, (str, Path)):
        return student_id(Path(item)), Path(item), str(item)
    return item.student, item.source, item.origin


def _students(paths: list[Path | Submission]) -> list[tuple[str, Path | None]]:
    """(student id, source) for each path or found submission, refusing two with the same id.

    Raises:
        DuplicateStudent: two would get the same student id.
        BadSubmission: an id that cannot name a file.
    """
    by_id: dict[str, list[str]] = {}
    for item in paths:
        student, _, origin = _student_and_source(item)
        by_id.setdefault(student, []).append(origin)
    clashes = {sid: found for sid, found in by_id.items() if len(found) > 1}
    if clashes:
        detail = "; ".join(f"{sid}: {', '.join(map(str, found))}" for sid, found in sorted(clashes.items()))
        raise DuplicateStudent(f"two submissions have the same student id ({detail})")
    bad = [sid for sid in by_id if not sid or sid.startswith(".") or "/" in sid]
    if bad:
        raise BadSubmission(f"cannot use {bad[0]!r} as a student id")
    return [_student_and_source(item)[:2] for item in paths]


class Progress:
    """A progress bar on a terminal, plain lines ("graded alice: 87/100 (3/12)") otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None):
        self.total = total
        self.count = 0
        self.stream = stream if stream is not None else sys.stderr
        self.bar = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, verb: str, result: SubmissionResult) -> None:
        self.count += 1
        text = f"{verb} {result.student}: {_points(result.total)}/{MAX_TOTAL} ({self.count}/{self.total})"
        if result.error:
            text += f" [{result.error.splitlines()[0][:100]}]"
        if self.bar:
            width = 30
            filled = int(width * self.count / max(self.total, 1))
            line = f"\r[{'#' * filled}{'.' * (width - filled)}] {text}"
            self.stream.write(line[:160].ljust(160))
            if self.count == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _points(value: float) -> str:
    return f"{value:g}"


def grade_submissions(
    paths: Iterable[Path | str],
    out_dir: Path | str,
    *,
    jobs: int = 1,
    force: bool = False,
    timeout: float = 20.0,
    memory_mb: int = 2048,
    submission_timeout: float = 300.0,
    graders_dir: Path | str = GRADERS_DIR,
    progress: bool | TextIO = False,
    reap_strays: bool = False,
) -> list[SubmissionResult]:
    """Grade a batch and write ``out_dir/results/<student>.json``, ``grades.csv`` and ``report.html``.

    Students whose results file already exists are not graded again unless ``force``.
    Returns one result per path, in the order given.

    Raises:
        BadSubmission: a path is neither a folder nor a ``.zip`` (see :func:`partition_paths`).
        DuplicateStudent: two paths would share a student id. Both are raised before grading starts.
        GraderBug: the graders are broken.
    """
    out_dir = Path(out_dir)
    sources = []
    for path in paths:
        sources.append(_check_path(path))
    items = _students(sources)
    plan = prepare(Path(graders_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    reporter = Progress(len(items), None if progress is True else progress) if progress else None
    done: dict[str, SubmissionResult] = {}
    to_grade = []
    for student, source in items:
        existing = result_path(out_dir, student)
        if existing.exists() and not force:
            try:
                previous = read_result(existing)
            except (OSError, ValueError, KeyError, TypeError):
                previous = None
            if previous is not None and previous.finished:  # a timed-out or noted row is graded again
                done[student] = previous
                if reporter:
                    reporter.advance("already graded", previous)
                continue
        to_grade.append((student, source))

    def record(result: SubmissionResult, child: _Running) -> None:
        _report_grader_errors(result, child, sys.stderr)
        write_result(out_dir, result)
        write_outputs(out_dir)
        done[result.student] = result
        if reporter:
            reporter.advance("graded", result)

    _run_batch(
        to_grade,
        plan=plan,
        graders_dir=Path(graders_dir),
        limits=_limits(timeout, memory_mb, submission_timeout),
        jobs=jobs,
        on_result=record,
        reap_strays=reap_strays,
    )
    write_outputs(out_dir)
    return [done[student] for student, _ in items]


# --------------------------------------------------------------------------------------------------
# The command line.


def _positive(kind: type, what: str) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive number of {what}, not {text}")
        return value

    return parse


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """A bad option is one line naming it, without the usage text before it."""

    def error(message: str) -> None:
        parser.exit(2, f"{parser.prog}: error: {message} (see --help)\n")

    parser.error = error  # type: ignore[method-assign]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _one_line_errors(parser)
    parser.add_argument(
        "submissions",
        nargs="*",
        type=Path,
        help="submission folders or .zip files, one per student (files at the top or one level down), or "
        "a Canvas or Moodle bulk download, zipped or unpacked (none: grade the demo class)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="student ids for LMS downloads: a CSV with student_id (or SIS Login ID, ...), and canvas_id, "
        "moodle_id or name; everyone on it without a submission gets a row 'not submitted'",
    )
    parser.add_argument(
        "--jobs", type=_at_least_one, default=1, help="submissions graded at once (default 1)"
    )
    parser.add_argument("--force", action="store_true", help="grade again students already graded in --out")
    parser.add_argument(
        "--timeout", type=_positive(float, "seconds"), default=20.0, help="seconds per call into a submission"
    )
    parser.add_argument(
        "--memory-mb", type=_positive(int, "MB"), default=2048, help="memory per worker process, in MB"
    )
    parser.add_argument(
        "--submission-timeout",
        type=_positive(float, "seconds"),
        default=300.0,
        help="seconds for the whole of one submission",
    )


def run(args: argparse.Namespace) -> int:
    paths = list(args.submissions)
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        if not paths:
            from autograder.demo.classroom import write_demo_class

            demo_dir = Path(args.out) / "demo-submissions"
            paths = write_demo_class(demo_dir)
            print(f"No submission given: grading the demo class written to {demo_dir}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="ag-intake-") as unpacked:
            return _run_intake(args, paths, Path(unpacked))
    except OSError as exc:
        print(
            f"error: {exc.filename or args.out}: {exc.strerror or exc}; nothing more was written",
            file=sys.stderr,
        )
        return 2


def _run_intake(args: argparse.Namespace, paths: list[Path], unpacked: Path) -> int:
    from autograder import intake

    try:
        roster = intake.read_roster(args.roster) if getattr(args, "roster", None) else None
    except intake.IntakeError as exc:
        print(f"error: {exc}; nothing was graded", file=sys.stderr)
        return 2
    gathered = intake.gather(paths, unpacked, roster=roster)
    problems = gathered.problems
    for problem in problems:
        print(f"error: {problem} (not graded)", file=sys.stderr)
    for warning in gathered.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sources = [found for found in gathered.submissions if found.source is not None]
    noted = [found for found in gathered.submissions if found.source is None]
    try:
        _students(gathered.submissions)
        prepare(GRADERS_DIR)
    except (DuplicateStudent, BadSubmission) as exc:
        print(f"error: {exc}; nothing was graded", file=sys.stderr)
        return 2
    except GraderBug as exc:
        print(f"GRADER ERROR: {exc}\nnothing was graded", file=sys.stderr)
        return 2
    print(confine.describe_features(confine.features()), file=sys.stderr)
    noted_results = [SubmissionResult(found.student, [], note=found.note) for found in noted]
    for found, result in zip(noted, noted_results, strict=True):
        write_result(Path(args.out), result)
        print(found.describe(), file=sys.stderr)
    limits_module.become_subreaper()
    results = grade_submissions(
        sources,
        args.out,
        jobs=args.jobs,
        force=args.force,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        submission_timeout=args.submission_timeout,
        progress=True,
        reap_strays=True,
    )
    results += noted_results
    write_outputs(Path(args.out))
    print(summary_table(results))
    print(
        f"\nWrote {Path(args.out) / 'grades.csv'}, {Path(args.out) / 'report.html'} and "
        f"{Path(args.out) / 'results'}/<student>.json"
    )
    if not limits_module.drops_privileges():
        print(
            "note: not running as root, so the workers keep your user id (the drop to 'nobody' is off)",
            file=sys.stderr,
        )
    if not limits_module.file_sandbox_available():
        print(
            "WARNING: this kernel has no Landlock (Linux 5.13+), so the workers could read any file your "
            "user can, the reference solutions included: grade on a machine that has it",
            file=sys.stderr,
        )
    not_graded = [r for r in results if r.row_note and r.row_note != intake.NOT_SUBMITTED]
    return 1 if problems or not_graded else 0
