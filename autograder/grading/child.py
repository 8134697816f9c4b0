"""What runs in a grading child: stage one submission, run the hidden graders on it with pytest, and
report each check as a JSON line on a pipe (``check``, ``error``, ``grader_error``, then ``done``).

The graders' calls into the submission go to confined worker processes (:mod:`autograder.sandbox`);
this process never imports the submission itself.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autograder.grading.plan import PYTEST_ARGS, Plan, pytest_environment
from autograder.grading.plugin import ChecksPlugin
from autograder.grading.processes import send_line
from autograder.grading.staging import BadSubmission, stage
from autograder.results.model import CheckResult
from autograder.sandbox import limits as limits_module
from autograder.sandbox.limits import Limits


def grade_in_child(
    source: Path,
    workdir: Path,
    plan: Plan,
    limits: Limits,
    write_fd: int,
    late: bool | None = None,
) -> None:
    """Stage ``source`` in ``workdir``, grade it and report on ``write_fd``. Never returns. (Whoever
    started this process removes ``workdir``, also when it had to kill it.)

    ``late``: None grades every check of ``plan``; False the checks graded without the late pass's
    modules; True only the checks that need them (:mod:`autograder.grading.late`).
    """
    import torch

    def emit(message: dict[str, Any]) -> None:
        send_line(write_fd, message)

    connection = None
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        limits_module.become_subreaper()
        limit_own_memory()
        torch.set_num_threads(1)
        # This process and its workers live for seconds and build many small objects (models): collect
        # cycles less often than the default (every 700 allocations).
        gc.set_threshold(50_000, 50, 100)
        silence_output()
        try:
            stage(source, workdir)
        except BadSubmission as exc:
            emit({"type": "error", "message": str(exc)})
            return
        make_readable(workdir)
        from autograder.sandbox import SandboxConnection

        connection = SandboxConnection(workdir, limits)
        connection.start()

        def on_check(check: CheckResult) -> None:
            emit({"type": "check", **check.to_dict()})

        if plan.session is not None:
            needs = plan.needs

            def graded_here(check: tuple[str, str]) -> bool:
                return late is None or (check in needs) == late

            code = plan.session.run(connection, on_check, graded_here)
            problems = plan.session.grader_errors
        else:
            code, problems = _run_pytest(plan, connection, on_check, late)
        for problem in problems:
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


def _run_pytest(
    plan: Plan, connection: Any, on_check: Callable[[CheckResult], None], late: bool | None
) -> tuple[int, list[str]]:
    """Grade with a ``pytest.main`` of its own (a pytest that cannot hold a collected session)."""
    import pytest

    if late:
        arguments = list(plan.node_ids)
    else:
        arguments = [str(plan.graders_dir), *(["-m", "not needs"] if late is False else [])]
    plugin = ChecksPlugin(connection, on_check=on_check, whole=not late)
    with pytest_environment():
        code = pytest.main([*arguments, *PYTEST_ARGS], plugins=[plugin])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        code = pytest.ExitCode.OK  # a selection with no check in it
    return int(code), plugin.collection_errors + plugin.grader_errors


def silence_output() -> None:
    """Point stdin, stdout and stderr at /dev/null: a child's output would garble the engine's."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


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


def make_readable(root: Path) -> None:
    """Let the workers (``nobody`` when the engine is root) read the staged files, and nothing else."""
    os.chmod(root, 0o755)
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
