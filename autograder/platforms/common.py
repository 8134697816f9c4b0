"""What the platform graders share: find the exercise files in one upload and grade them.

Imports the engine (and so torch) only when a submission is graded.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.grading import intake

if TYPE_CHECKING:
    from autograder.results import SubmissionResult


class PlatformError(Exception):
    """A problem with the grading set-up itself (not the student's fault): one line for the log."""


def grade_upload(upload: Path, student: str) -> SubmissionResult:
    """Grade the exercise files found in ``upload`` (a platform's folder of uploaded files).

    The files may be at the top, one level down (``exercises/``), or in a zip (``exercises.zip``,
    ``STUDENT_ID.zip`` as ``python -m exercises.handin`` writes it): every layout
    :mod:`autograder.grading.intake` accepts for one student. An upload without any of them gets a result
    with a note and no check.

    Raises:
        PlatformError: ``upload`` is not a folder, or the graders are broken.
    """
    if not upload.is_dir():
        raise PlatformError(f"{upload}: the submission folder does not exist")
    from autograder import grading
    from autograder.grading.plugin import GraderBug
    from autograder.results import SubmissionResult
    from autograder.sandbox import limits as limits_module

    with tempfile.TemporaryDirectory(prefix="ag-upload-") as workdir:
        gathered = intake.gather([upload], Path(workdir))
        found = gathered.submissions[0] if gathered.submissions else None
        if found is None or found.source is None:
            note = found.note if found is not None else intake.NO_EXERCISE_FILES
            return SubmissionResult(student, [], note=note)
        limits_module.become_subreaper()
        try:
            result = grading.grade_one(found.source)
        except GraderBug as exc:
            raise PlatformError(f"the graders are broken: {exc}") from None
    result.student = student
    return result


def upload_listing(upload: Path, limit: int = 20) -> str:
    """The names of the files in ``upload`` (for a message saying what was found instead)."""
    names = sorted(str(path.relative_to(upload)) for path in upload.rglob("*") if path.is_file())
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return shown or "nothing"


def write_results(root: Path, data: dict) -> Path:
    """Writes ``data`` as ``root/results/results.json``, where Gradescope and PrairieLearn read it.

    Raises:
        OSError: the folder or the file cannot be written.
    """
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / "results.json"
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def fail(message: str) -> int:
    """Print one line for the platform's log and return the exit status of a failed run."""
    print(f"autograder: {message}", file=sys.stderr)
    return 1
