"""The learner's five functions: their visible checks first, then the functions themselves."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .settings import EXERCISE_MODULES, MAX_CHECK_MESSAGE_CHARS, PACKAGE, PACKAGE_DIR, WHY_NEEDED, DistilError


@dataclass
class ExerciseOutcome:
    """What the visible checks of one exercise did."""

    passed: int = 0
    not_started: int = 0
    failures: list[str] = field(default_factory=list)
    import_error: str | None = None

    @property
    def status(self) -> str:
        if self.import_error is not None or self.failures:
            return "failing"
        if self.not_started:
            return "in progress" if self.passed else "not started"
        return "done" if self.passed else "not run"


_STUB = re.compile(r"^(ex\d+): implement \S+")
_CHECK_FILE = re.compile(r"^test_(ex\d+)\w*\.py$")


def _is_stub(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) is an untouched stub's ``NotImplementedError``."""
    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, NotImplementedError) and exc.args and _STUB.match(str(exc.args[0])):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= MAX_CHECK_MESSAGE_CHARS else line[: MAX_CHECK_MESSAGE_CHARS - 3] + "..."


class VisibleCheckOutcomes:
    """A pytest plugin that tallies the visible checks' outcomes per exercise."""

    def __init__(self) -> None:
        self.outcomes: dict[str, ExerciseOutcome] = {}

    def _entry(self, path_name: str) -> ExerciseOutcome | None:
        match = _CHECK_FILE.match(path_name)
        return self.outcomes.setdefault(match.group(1), ExerciseOutcome()) if match else None

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            entry = self._entry(Path(report.nodeid.split("::")[0]).name)
            if entry is not None:
                lines = [line for line in str(report.longrepr).splitlines() if line.strip()]
                entry.import_error = _first_line(lines[-1].lstrip("E ")) if lines else "cannot be imported"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        """A wrapper, so that it sees every check even when another plugin makes the report itself."""
        yield
        entry = self._entry(item.path.name)
        if entry is None or call.when not in ("setup", "call"):
            return
        if call.excinfo is None:
            if call.when == "call":
                entry.passed += 1
        elif _is_stub(call.excinfo.value):
            entry.not_started += 1
        elif not call.excinfo.errisinstance(pytest.skip.Exception):
            entry.failures.append(_first_line(str(call.excinfo.value)) or call.excinfo.typename)


def _shown(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def run_visible_checks() -> dict[str, ExerciseOutcome]:
    """Runs ``pytest`` on this package's visible checks once, in this process, printing nothing."""
    plugin = VisibleCheckOutcomes()
    arguments = [str(PACKAGE_DIR), "-q", "-p", "no:cacheprovider", "-p", "no:warnings"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(arguments, plugins=[plugin])
    return {exercise: plugin.outcomes.get(exercise, ExerciseOutcome()) for exercise in EXERCISE_MODULES}


def problems_with(outcomes: dict[str, ExerciseOutcome]) -> list[str]:
    """One line per exercise that is not done: its state, what this command needs it for, what to open."""
    lines = []
    for exercise, outcome in outcomes.items():
        why = WHY_NEEDED[exercise]
        path = _shown(PACKAGE_DIR / f"{EXERCISE_MODULES[exercise]}.py")
        status = outcome.status
        if status == "done":
            continue
        if status == "not started":
            lines.append(f"{exercise} is not started: {why}; open {path}")
        elif status == "in progress":
            lines.append(f"{exercise} is not finished: {why}; finish the TODOs in {path}")
        elif status == "not run":
            lines.append(f"{exercise} has no visible check that ran: {why}; run pytest {_shown(PACKAGE_DIR)}")
        else:
            reason = outcome.import_error or outcome.failures[0]
            lines.append(
                f"{exercise} fails a visible check ({reason}): {why}; run pytest {_shown(PACKAGE_DIR)} "
                f"-m {exercise}"
            )
    return lines


@dataclass(frozen=True)
class LearnerFunctions:
    """The five functions this run uses, taken from the package it sits in."""

    softmax_with_temperature: Callable
    student_loss: Callable
    halve_layers: Callable
    DynamicMasker: type
    count_parameters: Callable


def learner_functions() -> LearnerFunctions:
    modules = {
        exercise: importlib.import_module(f"{PACKAGE}.{name}") for exercise, name in EXERCISE_MODULES.items()
    }
    return LearnerFunctions(
        softmax_with_temperature=modules["ex1"].softmax_with_temperature,
        student_loss=modules["ex2"].student_loss,
        halve_layers=modules["ex3"].halve_layers,
        DynamicMasker=modules["ex4"].DynamicMasker,
        count_parameters=modules["ex5"].count_parameters,
    )


@contextlib.contextmanager
def calling(what: str) -> Iterator[None]:
    """Turns an exception raised by the learner's code into a one-line :class:`DistilError`."""
    try:
        yield
    except DistilError:
        raise
    except Exception as exc:
        raise DistilError(f"{what} raised {type(exc).__name__}: {_first_line(str(exc))}") from exc
