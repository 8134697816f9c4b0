"""Gradescope's ``results.json`` for one submission, and back.

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""

from __future__ import annotations

from typing import Any

from autograder.manifest import MAX_TOTAL
from autograder.results.model import CheckResult

from .model import SubmissionResult, number, summary_line


def gradescope_json(result: SubmissionResult) -> dict[str, Any]:
    output = summary_line(result)
    if result.row_note:
        output += f" ({result.row_note})"
    if result.error:
        output += f"\n\n{result.error}"
    return {
        "score": number(result.total),
        "execution_time": round(result.execution_time, 1),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "student": result.student,
            "exercises": {ex: number(score) for ex, score in result.exercise_scores().items()},
            "max_score": MAX_TOTAL,
            "error": result.error,
            "note": result.note,
            "provenance": result.provenance,
        },
        "tests": [
            {
                "name": f"{check.exercise} {check.name}",
                "score": number(check.points),
                "max_score": number(check.max_points),
                "status": "passed" if check.passed else "failed",
                "output": check.message,
                "visibility": "visible",
                "extra_data": {"exercise": check.exercise, "check": check.name},
            }
            for check in result.checks
        ],
    }


def from_gradescope_json(data: dict[str, Any]) -> SubmissionResult:
    checks = []
    for test in data.get("tests", []):
        extra = test.get("extra_data") or {}
        exercise, _, name = str(test["name"]).partition(" ")
        checks.append(
            CheckResult(
                exercise=str(extra.get("exercise", exercise)),
                name=str(extra.get("check", name)),
                points=float(test["score"]),
                max_points=float(test["max_score"]),
                passed=test.get("status") == "passed",
                message=str(test.get("output", "")),
            )
        )
    extra = data.get("extra_data") or {}
    provenance = extra.get("provenance")
    return SubmissionResult(
        student=str(extra["student"]),
        checks=checks,
        error=extra.get("error"),
        execution_time=float(data.get("execution_time", 0.0)),
        note=str(extra.get("note") or ""),
        provenance=dict(provenance) if isinstance(provenance, dict) else {},
    )
