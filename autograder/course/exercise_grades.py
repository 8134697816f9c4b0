"""Record the five Python exercises' points (``python -m autograder grade``'s grades.csv) in the gradebook.

They become an nbgrader assignment ``exercises`` with one notebook ``exercises`` and one grade cell per
exercise (``ex1`` ... ``ex5``, 20 points each), so ``nbgrader export`` writes the notebook and the
exercises of every student into one CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

from autograder.manifest import EXERCISES, POINTS_PER_EXERCISE

from .gradebook import gradebook_url, open_gradebook
from .settings import EXERCISES_ASSIGNMENT_ID

EXERCISE_IDS = tuple(exercise.id for exercise in EXERCISES)


class GradesFileError(ValueError):
    """grades.csv is not what ``python -m autograder grade`` writes."""


def read_exercise_points(grades_csv: Path) -> dict[str, dict[str, float]]:
    """``student -> {ex1: points, ...}`` from a grades.csv (header ``student,ex1,...,ex5,total,max_total``).

    Raises:
        GradesFileError: A column is missing, a student appears twice, or points are not a number
            between 0 and the exercise's maximum.
    """
    with open(grades_csv, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in ("student", *EXERCISE_IDS) if column not in (reader.fieldnames or [])]
        if missing:
            raise GradesFileError(
                f"{grades_csv} has no column {', '.join(missing)} (header: {reader.fieldnames})"
            )
        points_by_student: dict[str, dict[str, float]] = {}
        for line_number, row in enumerate(reader, start=2):
            student = (row["student"] or "").strip()
            if not student:
                raise GradesFileError(f"{grades_csv}, line {line_number}: no student id")
            if student in points_by_student:
                raise GradesFileError(f"{grades_csv}, line {line_number}: student {student!r} appears twice")
            points = {}
            for exercise_id in EXERCISE_IDS:
                try:
                    value = float(row[exercise_id])
                except (TypeError, ValueError):
                    raise GradesFileError(
                        f"{grades_csv}, line {line_number}: {exercise_id} of {student!r} is "
                        f"{row[exercise_id]!r}, not a number"
                    ) from None
                if not 0 <= value <= POINTS_PER_EXERCISE:
                    raise GradesFileError(
                        f"{grades_csv}, line {line_number}: {exercise_id} of {student!r} is {value:g},"
                        f" outside 0..{POINTS_PER_EXERCISE}"
                    )
                points[exercise_id] = value
            points_by_student[student] = points
    return points_by_student


def record_grades(course_root: Path, grades_csv: Path) -> list[str]:
    """Write the exercises' points of every student in ``grades_csv`` into the course's gradebook.

    Students missing from the gradebook are created; recording again overwrites the earlier points.

    Returns:
        The recorded student ids, in the file's order.
    """
    points_by_student = read_exercise_points(grades_csv)
    assignment = notebook = EXERCISES_ASSIGNMENT_ID
    with open_gradebook(gradebook_url(course_root)) as gradebook:
        gradebook.update_or_create_assignment(assignment)
        gradebook.update_or_create_notebook(notebook, assignment)
        for exercise_id in EXERCISE_IDS:
            gradebook.update_or_create_grade_cell(
                exercise_id, notebook, assignment, max_score=POINTS_PER_EXERCISE, cell_type="code"
            )
        for student, points in points_by_student.items():
            gradebook.update_or_create_student(student)
            gradebook.update_or_create_submission(assignment, student)
            for exercise_id, value in points.items():
                grade = gradebook.find_grade(exercise_id, notebook, assignment, student)
                grade.auto_score = value
                grade.needs_manual_grade = False
        gradebook.db.commit()
    return list(points_by_student)
