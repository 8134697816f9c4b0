"""Feedback for learners: nbgrader's ``generate_feedback`` with the hidden tests filtered out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .nbgrader_cli import run_nbgrader
from .settings import ASSIGNMENT_ID

HIDDEN_TEST_MARKER = "BEGIN HIDDEN TESTS"


class FeedbackLeakError(RuntimeError):
    """A feedback file still shows hidden-test source: the course's config lacks the feedback filter."""


def generate_feedback(course_root: Path, students: Sequence[str] = ()) -> list[Path]:
    """Write ``feedback/<student>/walkthrough/walkthrough.html`` for autograded students.

    Args:
        course_root: The course directory, autograded.
        students: Only these students; default all autograded ones.

    Returns:
        The feedback files of the walk-through, sorted.

    Raises:
        FeedbackLeakError: A feedback file contains a hidden-test region; the files are deleted.
    """
    course_root = Path(course_root)
    selections = [["--student", student] for student in students] or [[]]
    for selection in selections:
        run_nbgrader(course_root, ["generate_feedback", ASSIGNMENT_ID, "--force", *selection])
    feedback_files = sorted((course_root / "feedback").glob(f"*/{ASSIGNMENT_ID}/*.html"))
    leaking = [path for path in feedback_files if HIDDEN_TEST_MARKER in path.read_text(encoding="utf-8")]
    if leaking:
        for path in leaking:
            path.unlink()
        raise FeedbackLeakError(
            "hidden-test source in "
            + ", ".join(str(p) for p in leaking)
            + " (deleted); is autograder.course.feedback_filter.HideHiddenTests in the course's"
            " nbgrader_config.py? Run `python -m autograder course init` to rewrite it."
        )
    return feedback_files
