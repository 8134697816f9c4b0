"""The result of grading one submission, and the figures every writer derives from it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from autograder.manifest import EXERCISES, MAX_TOTAL, POINTS_PER_EXERCISE

NOT_SUBMITTED = "not submitted"
TIMED_OUT = "timed out"
# The engine's words for a submission stopped at --submission-timeout (autograder.grading.processes.STOPPED).
STOPPED_AT_LIMIT = "the limit per submission"
NOT_STARTED_MARK = "not started yet"

DONE = "done"
FAILING = "failing"
NOT_STARTED = "not started"
NO_SUBMISSION = "no submission"
STATUSES = (DONE, FAILING, NOT_STARTED, NO_SUBMISSION)


@dataclass
class CheckResult:
    """One hidden check's outcome for one submission."""

    exercise: str
    name: str
    points: float
    max_points: float
    passed: bool
    message: str
    diagnosis: str = ""
    """For a failed check, the misconception the graders named (a sentence of
    :mod:`solutions.support.diagnosis` found in the message), or "" when they named none."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            exercise=str(data["exercise"]),
            name=str(data["name"]),
            points=float(data["points"]),
            max_points=float(data["max_points"]),
            passed=bool(data["passed"]),
            message=str(data["message"]),
            diagnosis=str(data.get("diagnosis", "")),
        )


@dataclass
class SubmissionResult:
    """One submission's checks; ``error`` says why grading did not finish normally, if it did not;
    ``note`` why there is nothing to grade ("not submitted", "not a zip file", "no exercise files");
    ``provenance`` what graded it (filled by the engine)."""

    student: str
    checks: list[CheckResult]
    error: str | None = None
    execution_time: float = field(default=0.0, compare=False)
    note: str = ""
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)

    def exercise_scores(self) -> dict[str, float]:
        scores = {ex.id: 0.0 for ex in EXERCISES}
        for check in self.checks:
            if check.exercise in scores:
                scores[check.exercise] += check.points
        return scores

    @property
    def total(self) -> float:
        return sum(self.exercise_scores().values())

    @property
    def max_total(self) -> float:
        return float(MAX_TOTAL)

    @property
    def row_note(self) -> str:
        """The ``note`` column: the intake's note, or "timed out" for a submission stopped at its limit."""
        if self.note:
            return self.note
        if self.error and STOPPED_AT_LIMIT in self.error:
            return TIMED_OUT
        return ""

    @property
    def finished(self) -> bool:
        """Whether this is a grade a re-run keeps: graded, and not stopped at the time limit."""
        return not self.row_note

    def exercise_status(self, exercise: str) -> str:
        """``done``, ``failing``, ``not started`` (only untouched stubs reached) or ``no submission``."""
        checks = [check for check in self.checks if check.exercise == exercise]
        if self.note or not checks:
            return NO_SUBMISSION
        if sum(check.points for check in checks) >= POINTS_PER_EXERCISE - 1e-9:
            return DONE
        if not any(check.passed for check in checks) and any(NOT_STARTED_MARK in c.message for c in checks):
            return NOT_STARTED
        return FAILING


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


_CONTROL_OR_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_safe(text: str, *, lines: bool = True) -> str:
    """``text`` as a terminal should show it, for text a submission had a hand in (its file names, its
    messages): control characters, which could move the cursor or rewrite a line, written out as
    ``\\x1b``, and a lone surrogate (no encoder takes it) as ``\\udcff``; newlines and tabs kept unless
    ``lines`` is False (a student id: one line, never a second row of a table)."""
    text = (_CONTROL if lines else _CONTROL_OR_LINE).sub(lambda found: f"\\x{ord(found[0]):02x}", text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def number(value: float) -> int | float:
    """20.0 -> 20, 12.5 -> 12.5: points as people write them."""
    rounded = round(float(value), 4)
    return int(rounded) if rounded.is_integer() else rounded


def summary_line(result: SubmissionResult) -> str:
    scores = result.exercise_scores()
    parts = [f"{ex} {number(score)}/{POINTS_PER_EXERCISE}" for ex, score in scores.items()]
    return f"{', '.join(parts)}; total {number(result.total)}/{MAX_TOTAL}"


def exercise_means(results: list[SubmissionResult]) -> dict[str, float]:
    if not results:
        return {ex.id: 0.0 for ex in EXERCISES}
    return {ex.id: sum(r.exercise_scores()[ex.id] for r in results) / len(results) for ex in EXERCISES}
