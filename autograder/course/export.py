"""``nbgrader export`` plugin: one CSV row per student, the walk-through next to the five exercises.

Columns: ``student_id, last_name, first_name, email``, then for every assignment in the gradebook its
score (late penalty applied) and maximum (``walkthrough, walkthrough_max``); for the exercises recorded
by ``record-grades`` each exercise's points as well (``ex1 ... ex5, exercises, exercises_max``); finally
``total, max_total``. A student with no submission of an assignment gets 0 for it.
"""

from __future__ import annotations

import csv

from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin

from autograder.results.model import number

from .settings import ASSIGNMENT_ID, EXERCISES_ASSIGNMENT_ID


def _points(value: float) -> str:
    return str(number(value))


def _ordered_assignments(gradebook) -> list:
    """The walk-through first, the exercises second, any other assignment after them by name."""
    rank = {ASSIGNMENT_ID: 0, EXERCISES_ASSIGNMENT_ID: 1}
    return sorted(gradebook.assignments, key=lambda a: (rank.get(a.name, 2), a.name))


def _cell_names(assignment) -> list[str]:
    return [cell.name for notebook in assignment.notebooks for cell in notebook.grade_cells]


class WideCsvExportPlugin(ExportPlugin):
    """Export one row per student with every assignment's score (and the exercises' points) as columns."""

    def export(self, gradebook) -> None:
        destination = self.to or "grades.csv"
        assignments = [
            a for a in _ordered_assignments(gradebook) if not self.assignment or a.name in self.assignment
        ]
        header = ["student_id", "last_name", "first_name", "email"]
        for assignment in assignments:
            if assignment.name == EXERCISES_ASSIGNMENT_ID:
                header += _cell_names(assignment)
            header += [assignment.name, f"{assignment.name}_max"]
        header += ["total", "max_total"]

        rows = []
        for student in sorted(gradebook.students, key=lambda s: s.id):
            if self.student and student.id not in self.student:
                continue
            row = {
                "student_id": student.id,
                "last_name": student.last_name or "",
                "first_name": student.first_name or "",
                "email": student.email or "",
            }
            total = max_total = 0.0
            for assignment in assignments:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except MissingEntry:
                    submission = None
                if assignment.name == EXERCISES_ASSIGNMENT_ID:
                    points = {}
                    if submission is not None:
                        points = {
                            g.name: g.score for notebook in submission.notebooks for g in notebook.grades
                        }
                    for cell in _cell_names(assignment):
                        row[cell] = _points(points.get(cell) or 0.0)
                score = 0.0
                if submission is not None:
                    score = max(0.0, submission.score - (submission.late_submission_penalty or 0.0))
                row[assignment.name] = _points(score)
                row[f"{assignment.name}_max"] = _points(assignment.max_score)
                total += score
                max_total += assignment.max_score
            row["total"] = _points(total)
            row["max_total"] = _points(max_total)
            rows.append(row)

        self.log.info("Exporting %d students to %s", len(rows), destination)
        with open(destination, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
