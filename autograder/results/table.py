"""``grades.csv`` and the summary table the ``grade`` command prints."""

from __future__ import annotations

import csv
import io

from autograder.manifest import EXERCISES, MAX_TOTAL

from .model import SubmissionResult, exercise_means, number, terminal_safe

CSV_HEADER = ["student", *(ex.id for ex in EXERCISES), "total", "max_total", "note"]


def grades_csv(results: list[SubmissionResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for result in sorted(results, key=lambda r: r.student):
        scores = result.exercise_scores()
        writer.writerow(
            [
                terminal_safe(result.student, lines=False),  # a folder's name: no control character
                *(number(scores[ex.id]) for ex in EXERCISES),
                number(result.total),
                MAX_TOTAL,
                result.row_note,
            ]
        )
    return buffer.getvalue()


def summary_table(results: list[SubmissionResult]) -> str:
    names = {id(r): terminal_safe(r.student, lines=False) for r in results}  # one line each
    width = max([len("student"), *(len(name) for name in names.values())])
    header = f"{'student':<{width}}  " + "  ".join(f"{ex.id:>5}" for ex in EXERCISES) + "  total"
    lines = [header, "-" * len(header)]
    for result in sorted(results, key=lambda r: r.student):
        scores = result.exercise_scores()
        row = f"{names[id(result)]:<{width}}  " + "  ".join(f"{number(scores[ex.id]):>5}" for ex in EXERCISES)
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
