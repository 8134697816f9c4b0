"""The pytest plugin that turns a graders run into per-check results: points, pass or fail, a message.

A check's exercise comes from its file (``test_ex3_layers.py`` -> ``ex3``), its points from
``@pytest.mark.points(n)``; every exercise's points must sum to 20, checked at collection (a grader bug
is loud: :class:`GraderBug`).

What earns points: a check of a side property (input unchanged, bad arguments rejected, teacher
untouched, ...) carries ``@pytest.mark.requires("test_core_check", ...)``, naming checks of the same
exercise that establish that the function does its job. Its points count only when every check it
requires passed too (with ``any_of=True``: one of them, for a function whose job shows in either of two
ways); otherwise it scores 0 and says which check it waits for. A function that validates
its arguments and then returns its input, a constant, or raises on every call earns nothing. The rule
lives here, once: required checks must come earlier in the same run (pytest runs a file top to bottom).

A failed check's message is the assertion's text, or a sentence built from
the :class:`~autograder.wire.errors.SubmissionError` that ended the call into the submission. Any other
exception inside a grader is a grader bug: the check gets 0 with "grader error: ..." and the details
go to :attr:`ChecksPlugin.grader_errors` for the engine to print.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from autograder.manifest import EXERCISE_BY_ID, EXERCISES, EXPECTED_RETURN, POINTS_PER_EXERCISE
from autograder.results.model import CheckResult
from autograder.wire import values as protocol
from solutions.support.diagnosis import NAMED

GRADER_FILE = re.compile(r"^test_(ex\d+)_\w*\.py$")
MESSAGE_CHARS = 1500

# What each public name must give back, for the message about a value that may not cross.


class GraderBug(Exception):
    """The graders themselves are wrong (points do not add up, a file does not collect)."""


def exercise_of(filename: str) -> str | None:
    match = GRADER_FILE.match(filename)
    return match.group(1) if match and match.group(1) in EXERCISE_BY_ID else None


def describe_failure(exc: BaseException) -> tuple[str, bool]:
    """The learner's message for an exception that ended a check, and whether it is a grader bug."""
    if isinstance(exc, protocol.SubmissionError):
        return describe_submission_error(exc), False
    if isinstance(exc, AssertionError):
        return _assertion_text(exc), False
    if isinstance(exc, pytest.fail.Exception):
        return _clip(str(exc.msg) if getattr(exc, "msg", None) else str(exc)), False
    return _clip(f"grader error: {type(exc).__name__}: {exc}"), True


def describe_submission_error(exc: protocol.SubmissionError) -> str:
    """A sentence for the learner from an error that ended a call into their code."""
    exercise = EXERCISE_BY_ID.get(exc.exercise)
    call = exc.call or "your code"
    message = exc.message
    if isinstance(exc, protocol.NotStarted) and exercise is not None:
        return (
            f"{exercise.id} not started yet (exercises/{exercise.filename} still raises NotImplementedError)"
        )
    if isinstance(exc, protocol.MissingName):
        return _clip(f"MISSING FUNCTION --> {message}")
    if isinstance(exc, protocol.ImportFailed):
        return _clip(message)
    if isinstance(exc, protocol.SubmissionRaised):
        return _clip(f"Called {call} and it raised {message}")
    if isinstance(exc, protocol.UnsafeResult) and exc.type_name:
        expected = EXPECTED_RETURN.get(_called_name(call), "plain data of the types the contract names")
        return _clip(
            f"Called {call} and got a {exc.type_name}; the contract asks for {expected} "
            "(subclasses and look-alikes are not accepted)"
        )
    if message.startswith("Not run"):
        return _clip(message)
    if isinstance(exc, protocol.UnsafeResult):
        return _clip(f"Called {call} and got back {message}")
    return _clip(f"Called {call} and {message}")


def _called_name(call: str) -> str:
    match = re.match(r"[A-Za-z_]\w*", call)
    return match.group(0) if match else ""


def _assertion_text(exc: AssertionError) -> str:
    text = str(exc)
    head, sep, _ = text.partition("\nassert ")
    if sep and head.strip():
        text = head
    return _clip(text.strip() or "a check failed (no message)")


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


class ChecksPlugin:
    """Collects the plan (every check with its points) and each check's result.

    Args:
        connection: handed to the graders' ``submission`` fixture (``config._autograder_connection``);
            None for a collection-only run.
        on_check: called with each :class:`CheckResult` as soon as the check ends.
        whole: the run collects every check, so each exercise's points must sum to 20 (False for a run
            of chosen checks, whose graders were collected whole before).
    """

    def __init__(
        self,
        connection: Any = None,
        on_check: Callable[[CheckResult], None] | None = None,
        *,
        whole: bool = True,
    ):
        self.connection = connection
        self.on_check = on_check
        self.whole = whole
        self.plan: list[CheckResult] = []
        # (exercise, check name) -> the modules it needs (@pytest.mark.needs), and the check's node id
        # (``/abs/path/test_x.py::name``), for the checks that have such a mark
        self.needs: dict[tuple[str, str], tuple[str, ...]] = {}
        self.node_ids: dict[tuple[str, str], str] = {}
        self.results: list[CheckResult] = []
        self.grader_errors: list[str] = []
        self.collection_errors: list[str] = []
        self._by_nodeid: dict[str, CheckResult] = {}
        self._done: set[str] = set()
        # (exercise, check name) -> the checks of the same exercise it requires (@pytest.mark.requires)
        self.requires: dict[tuple[str, str], tuple[str, ...]] = {}
        # the checks of self.requires that need only one of the checks they name (any_of=True)
        self.any_of: set[tuple[str, str]] = set()
        self._outcomes: dict[tuple[str, str], CheckResult] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self.connection is not None:
            config._autograder_connection = self.connection  # type: ignore[attr-defined]

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid} did not collect:\n{report.longreprtext[-3000:]}")

    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items) -> None:
        totals = {ex.id: 0.0 for ex in EXERCISES}
        for item in items:
            exercise = exercise_of(item.path.name)
            if exercise is None:
                self.collection_errors.append(f"{item.nodeid}: a check outside a test_exN_*.py file")
                continue
            marker = item.get_closest_marker("points")
            if marker is None or not marker.args or not isinstance(marker.args[0], (int, float)):
                self.collection_errors.append(f"{item.nodeid}: no @pytest.mark.points(n)")
                continue
            check = CheckResult(exercise, item.name, 0.0, float(marker.args[0]), False, "not run")
            needs = item.get_closest_marker("needs")
            if needs is not None:
                if not needs.args or not all(isinstance(name, str) for name in needs.args):
                    self.collection_errors.append(f"{item.nodeid}: @pytest.mark.needs takes module names")
                    continue
                self.needs[(exercise, item.name)] = tuple(needs.args)
                self.node_ids[(exercise, item.name)] = f"{item.path}::{item.name}"
            requires = item.get_closest_marker("requires")
            if requires is not None:
                if not requires.args or not all(isinstance(name, str) for name in requires.args):
                    self.collection_errors.append(f"{item.nodeid}: @pytest.mark.requires takes check names")
                    continue
                if needs is not None:
                    self.collection_errors.append(
                        f"{item.nodeid}: a check graded in the late pass (@pytest.mark.needs) cannot require "
                        "other checks"
                    )
                    continue
                if set(requires.kwargs) - {"any_of"}:
                    self.collection_errors.append(f"{item.nodeid}: @pytest.mark.requires takes only any_of=")
                    continue
                self.requires[(exercise, item.name)] = tuple(requires.args)
                if requires.kwargs.get("any_of"):
                    self.any_of.add((exercise, item.name))
            self.plan.append(check)
            self._by_nodeid[item.nodeid] = check
            totals[exercise] += check.max_points
        self._check_requirements(items)
        for exercise, total in totals.items() if self.whole else ():
            if abs(total - POINTS_PER_EXERCISE) > 1e-9:
                self.collection_errors.append(
                    f"{exercise}: the checks' points sum to {total:g}, not {POINTS_PER_EXERCISE}"
                )
        if self.collection_errors:
            raise GraderBug("; ".join(self.collection_errors))

    def _check_requirements(self, items) -> None:
        """Every required check exists in the same exercise and runs before the check that requires it."""
        position = {}
        for index, item in enumerate(items):
            exercise = exercise_of(item.path.name)
            if exercise is not None:
                position[(exercise, item.name)] = index
        for (exercise, name), required in self.requires.items():
            for other in required:
                if (exercise, other) not in position:
                    if self.whole:
                        self.collection_errors.append(
                            f"{exercise} {name} requires {other}, which is not a check of {exercise}"
                        )
                    continue
                if position[(exercise, other)] > position[(exercise, name)]:
                    self.collection_errors.append(
                        f"{exercise} {name} requires {other}, which runs after it: define it earlier"
                    )

    def _gate(self, result: CheckResult) -> None:
        """Withhold a passed side check's points while a check it requires has not passed."""
        required = self.requires.get((result.exercise, result.name), ())
        waiting = [
            name
            for name in required
            if (result.exercise, name) in self._outcomes
            and not self._outcomes[(result.exercise, name)].passed
        ]
        either = (result.exercise, result.name) in self.any_of
        if either and len(waiting) < len(required):
            waiting = []  # one of them passed (or did not run)
        if result.passed and waiting:
            result.points, result.passed = 0.0, False
            named = (" or " if either else " and ").join(waiting)
            result.message = (
                f"This property holds, but its points count only once the function does its job: "
                f"{named} must pass first (the course's rule, so that code which only checks its "
                "arguments, or returns its input or a constant, earns nothing)."
            )

    @pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
    def pytest_runtest_makereport_plain(
        self, item: pytest.Item, call: pytest.CallInfo
    ) -> pytest.TestReport | None:
        """A failed check's report without pytest's traceback rendering (a few ms a failure, never read:
        the learner's message is made below from the exception itself). Skips keep pytest's report."""
        if call.excinfo is None or call.excinfo.errisinstance(pytest.skip.Exception):
            return None
        return pytest.TestReport(
            item.nodeid,
            item.location,
            {},
            "failed",
            f"{call.excinfo.typename}: {str(call.excinfo.value)[:500]}",
            call.when,  # type: ignore[arg-type]
            duration=call.duration,
            start=call.start,
            stop=call.stop,
        )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        check = self._by_nodeid.get(item.nodeid)
        if check is None or item.nodeid in self._done:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            result = CheckResult(check.exercise, check.name, 0.0, check.max_points, False, "")
            if report.passed:
                result.points, result.passed = check.max_points, True
            elif report.skipped:
                result.message = f"grader error: the check was skipped ({_skip_reason(report)})"
                self._grader_error(item, result.message)
            elif call.excinfo is not None:
                result.message, is_bug = describe_failure(call.excinfo.value)
                if is_bug:
                    self._grader_error(item, "".join(traceback.format_exception(call.excinfo.value)))
            else:
                result.message = "the check failed"
            if not result.passed:
                result.diagnosis = NAMED.newest_in(result.message)
            NAMED.clear()
            self._gate(result)
            self._outcomes[(result.exercise, result.name)] = result
            self._done.add(item.nodeid)
            self.results.append(result)
            if self.on_check is not None:
                self.on_check(result)

    def _grader_error(self, item: pytest.Item, detail: str) -> None:
        self.grader_errors.append(f"{item.nodeid}: {detail[-4000:]}")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)
