"""Opening the course's nbgrader gradebook from Python, and reading the scores back."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .settings import COURSE_ID


def gradebook_url(course_root: Path) -> str:
    """The SQLite URL nbgrader uses by default for the course at ``course_root``."""
    return f"sqlite:///{(Path(course_root) / 'gradebook.db').resolve()}"


@contextlib.contextmanager
def open_gradebook(db_url: str) -> Iterator:
    """An ``nbgrader.api.Gradebook`` for ``db_url``, closed on exit.

    A new gradebook runs ``alembic`` from PATH, so this Python's ``bin`` is put on PATH meanwhile.
    SQLAlchemy's warnings about nbgrader's own session handling (harmless, many lines) are silenced.
    """
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old_path])
    try:
        with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gradebook:
            warnings.simplefilter("ignore", SAWarning)
            yield gradebook
    finally:
        os.environ["PATH"] = old_path


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one student's submission, as the gradebook holds it."""

    student: str
    assignment: str
    notebook: str
    cell: str
    auto_score: float | None
    manual_score: float | None
    needs_manual_grade: bool
    max_score: float


def cell_grades(db_url: str, assignment: str | None = None) -> list[CellGrade]:
    """Every grade in the gradebook (optionally of one assignment), sorted by student, notebook and cell."""
    grades: list[CellGrade] = []
    with open_gradebook(db_url) as gradebook:
        for assignment_row in gradebook.assignments:
            if assignment is not None and assignment_row.name != assignment:
                continue
            for submission in assignment_row.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        grades.append(
                            CellGrade(
                                student=submission.student.id,
                                assignment=assignment_row.name,
                                notebook=notebook.name,
                                cell=grade.name,
                                auto_score=grade.auto_score,
                                manual_score=grade.manual_score,
                                needs_manual_grade=bool(grade.needs_manual_grade),
                                max_score=float(grade.max_score),
                            )
                        )
    return sorted(grades, key=lambda g: (g.student, g.assignment, g.notebook, g.cell))


def submission_scores(db_url: str, assignment: str) -> dict[str, tuple[float, float]]:
    """``student -> (score, max_score)`` for every submission of ``assignment``."""
    with open_gradebook(db_url) as gradebook:
        return {
            submission.student.id: (float(submission.score), float(submission.max_score))
            for submission in gradebook.assignment_submissions(assignment)
        }
