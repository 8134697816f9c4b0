"""What a grading run writes: Gradescope ``results.json`` per student, ``grades.csv``, ``report.html``.

Every file is written atomically (a temporary file, then ``os.replace``), so an interrupted run never
leaves half a file; ``grades.csv`` and ``report.html`` are rebuilt from all the results on disk.
Gradescope's format: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.collect import CheckResult
from autograder.layout import EXERCISE_BY_ID, EXERCISES, MAX_TOTAL, POINTS_PER_EXERCISE

CSV_HEADER = ["student", *(ex.id for ex in EXERCISES), "total", "max_total", "note"]
RESULTS_FOLDER = "results"
MOST_FAILED_SHOWN = 10
MESSAGES_PER_CHECK = 3
TIMED_OUT = "timed out"
# The engine's words for a submission stopped at --submission-timeout (engine.STOPPED).
STOPPED_AT_LIMIT = "the limit per submission"


@dataclass
class SubmissionResult:
    """One submission's checks; ``error`` says why grading did not finish normally, if it did not;
    ``note`` why there is nothing to grade ("not submitted", "not a zip file", "no exercise files")."""

    student: str
    checks: list[CheckResult]
    error: str | None = None
    execution_time: float = field(default=0.0, compare=False)
    note: str = ""

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


def number(value: float) -> int | float:
    """20.0 -> 20, 12.5 -> 12.5: points as people write them."""
    rounded = round(float(value), 4)
    return int(rounded) if rounded.is_integer() else rounded


def summary_line(result: SubmissionResult) -> str:
    scores = result.exercise_scores()
    parts = [f"{ex} {number(score)}/{POINTS_PER_EXERCISE}" for ex, score in scores.items()]
    return f"{', '.join(parts)}; total {number(result.total)}/{MAX_TOTAL}"


# --------------------------------------------------------------------------------------------------
# Gradescope results.json


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
    return SubmissionResult(
        student=str(extra["student"]),
        checks=checks,
        error=extra.get("error"),
        execution_time=float(data.get("execution_time", 0.0)),
        note=str(extra.get("note") or ""),
    )


def write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def result_path(out_dir: Path, student: str) -> Path:
    return Path(out_dir) / RESULTS_FOLDER / f"{student}.json"


def write_result(out_dir: Path, result: SubmissionResult) -> Path:
    path = result_path(out_dir, result.student)
    write_atomic(path, json.dumps(gradescope_json(result), indent=2) + "\n")
    return path


def read_result(path: Path) -> SubmissionResult:
    return from_gradescope_json(json.loads(Path(path).read_text(encoding="utf-8")))


def read_all_results(out_dir: Path) -> list[SubmissionResult]:
    """Every result on disk under ``out_dir/results``, sorted by student (unreadable files skipped)."""
    results = []
    for path in sorted((Path(out_dir) / RESULTS_FOLDER).glob("*.json")):
        try:
            results.append(read_result(path))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(results, key=lambda r: r.student)


# --------------------------------------------------------------------------------------------------
# grades.csv


def grades_csv(results: list[SubmissionResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for result in sorted(results, key=lambda r: r.student):
        scores = result.exercise_scores()
        writer.writerow(
            [
                result.student,
                *(number(scores[ex.id]) for ex in EXERCISES),
                number(result.total),
                MAX_TOTAL,
                result.row_note,
            ]
        )
    return buffer.getvalue()


def write_outputs(out_dir: Path) -> list[SubmissionResult]:
    """Rebuild ``grades.csv`` and ``report.html`` from every result on disk; returns those results."""
    results = read_all_results(out_dir)
    write_atomic(Path(out_dir) / "grades.csv", grades_csv(results))
    write_atomic(Path(out_dir) / "report.html", report_html(results))
    return results


# --------------------------------------------------------------------------------------------------
# Summary table (terminal)


def summary_table(results: list[SubmissionResult]) -> str:
    width = max([len("student"), *(len(r.student) for r in results)])
    header = f"{'student':<{width}}  " + "  ".join(f"{ex.id:>5}" for ex in EXERCISES) + "  total"
    lines = [header, "-" * len(header)]
    for result in sorted(results, key=lambda r: r.student):
        scores = result.exercise_scores()
        row = f"{result.student:<{width}}  " + "  ".join(f"{number(scores[ex.id]):>5}" for ex in EXERCISES)
        row += f"  {number(result.total):>5}"
        if result.row_note:
            row += f"  ({result.row_note})"
        elif result.error:
            row += f"  ({result.error.splitlines()[0][:80]})"
        lines.append(row)
    if results:
        means = exercise_means(results)
        mean_total = sum(r.total for r in results) / len(results)
        lines.append("-" * len(header))
        lines.append(
            f"{'mean':<{width}}  "
            + "  ".join(f"{means[ex.id]:>5.1f}" for ex in EXERCISES)
            + f"  {mean_total:>5.1f}"
        )
    return "\n".join(lines)


def exercise_means(results: list[SubmissionResult]) -> dict[str, float]:
    if not results:
        return {ex.id: 0.0 for ex in EXERCISES}
    return {ex.id: sum(r.exercise_scores()[ex.id] for r in results) / len(results) for ex in EXERCISES}


# --------------------------------------------------------------------------------------------------
# report.html


@dataclass
class FailedCheck:
    exercise: str
    name: str
    failures: int
    messages: list[tuple[str, int]]


def most_failed_checks(results: list[SubmissionResult], limit: int = MOST_FAILED_SHOWN) -> list[FailedCheck]:
    """The checks most students failed, each with its most common messages (the misconceptions)."""
    failures: Counter[tuple[str, str]] = Counter()
    messages: dict[tuple[str, str], Counter[str]] = {}
    for result in results:
        for check in result.checks:
            if not check.passed:
                key = (check.exercise, check.name)
                failures[key] += 1
                messages.setdefault(key, Counter())[check.message] += 1
    ranked = sorted(failures.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        FailedCheck(
            exercise,
            name,
            count,
            sorted(messages[(exercise, name)].items(), key=lambda m: (-m[1], m[0]))[:MESSAGES_PER_CHECK],
        )
        for (exercise, name), count in ranked
    ]


def histogram_svg(totals: list[float], *, bins: int = 10, width: int = 520, height: int = 220) -> str:
    """An inline SVG histogram of total scores over 0..MAX_TOTAL."""
    counts = [0] * bins
    for total in totals:
        index = min(int(total / MAX_TOTAL * bins), bins - 1) if total > 0 else 0
        counts[index] += 1
    left, bottom, top = 40, 30, 10
    plot_width, plot_height = width - left - 10, height - bottom - top
    tallest = max(counts) or 1
    bar_width = plot_width / bins
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" aria-label="histogram of total scores">'
        ),
        (
            f'<line x1="{left}" y1="{top + plot_height}" x2="{left + plot_width}" y2="{top + plot_height}" '
            'stroke="#333"/>'
        ),
    ]
    for i, count in enumerate(counts):
        bar_height = plot_height * count / tallest
        x = left + i * bar_width
        y = top + plot_height - bar_height
        low, high = i * MAX_TOTAL // bins, (i + 1) * MAX_TOTAL // bins
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bar_width - 4:.1f}" height="{bar_height:.1f}" '
            f'fill="#4a7ab5"><title>{low}-{high}: {count}</title></rect>'
        )
        if count:
            parts.append(
                f'<text x="{x + bar_width / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'font-size="11">{count}</text>'
            )
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" font-size="10">{low}</text>')
    parts.append(f'<text x="{left + plot_width - 12}" y="{height - 12}" font-size="10">{MAX_TOTAL}</text>')
    parts.append(f'<text x="4" y="{top + 10}" font-size="10">{tallest}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; }
.message { font-family: ui-monospace, monospace; font-size: 0.85em; white-space: pre-wrap; }
.error { color: #a00; }
"""


def report_html(results: list[SubmissionResult]) -> str:
    e = html.escape
    totals = [r.total for r in results]
    mean_total = sum(totals) / len(totals) if totals else 0.0
    means = exercise_means(results)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Grading report</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Grading report</h1>",
        f"<p>{len(results)} submissions; mean total {mean_total:.1f} / {MAX_TOTAL}.</p>",
        "<h2>Score distribution</h2>",
        histogram_svg(totals),
        "<h2>Per exercise</h2>",
        "<table><tr><th>exercise</th><th>topic</th><th>mean</th><th>full marks</th></tr>",
    ]
    for exercise in EXERCISES:
        full = sum(1 for r in results if r.exercise_scores()[exercise.id] >= POINTS_PER_EXERCISE)
        out.append(
            f"<tr><td>{exercise.id}</td><td>{e(exercise.topic)}</td>"
            f'<td class="num">{means[exercise.id]:.1f} / {POINTS_PER_EXERCISE}</td>'
            f'<td class="num">{full} / {len(results)}</td></tr>'
        )
    out.append("</table>")
    out.append("<h2>Most often failed checks</h2>")
    failed = most_failed_checks(results)
    if not failed:
        out.append("<p>No check failed.</p>")
    else:
        out.append(
            '<table id="most-failed"><tr><th>check</th><th>failed by</th><th>what they were told</th></tr>'
        )
        for item in failed:
            topic = EXERCISE_BY_ID[item.exercise].topic if item.exercise in EXERCISE_BY_ID else ""
            shown = "".join(
                f'<div class="message">{e(message)} <b>({count}&times;)</b></div>'
                for message, count in item.messages
            )
            out.append(
                f"<tr><td>{e(item.exercise)} {e(item.name)}<br><small>{e(topic)}</small></td>"
                f'<td class="num">{item.failures} / {len(results)}</td><td>{shown}</td></tr>'
            )
        out.append("</table>")
    out.append("<h2>Students</h2>")
    header = "".join(f"<th>{ex.id}</th>" for ex in EXERCISES)
    out.append(f"<table><tr><th>student</th>{header}<th>total</th><th>note</th></tr>")
    for result in sorted(results, key=lambda r: r.student):
        scores = result.exercise_scores()
        cells = "".join(f'<td class="num">{number(scores[ex.id])}</td>' for ex in EXERCISES)
        note = f'<span class="error">{e(result.error)}</span>' if result.error else ""
        out.append(
            f"<tr><td>{e(result.student)}</td>{cells}"
            f'<td class="num">{number(result.total)} / {MAX_TOTAL}</td><td>{note}</td></tr>'
        )
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"
