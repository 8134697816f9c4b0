"""Autograde the walk-through, one student at a time (nbgrader's way) or several at once.

nbgrader's ``autograde`` grades students one after the other, and its SQLite gradebook does not take
concurrent writers. With ``jobs > 1`` the students are shared out among ``jobs`` ``nbgrader autograde``
processes, each against a private copy of the gradebook; the main process then copies what autograde wrote
(the student, the submission's timestamp, each cell's automatic score, comment and late penalty) into the
course's gradebook, one student after another, through nbgrader's Gradebook API. Nothing but the main
process ever writes the course's gradebook, and the result is what the serial run writes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .course_dir import released_notebook_path, submitted_students
from .gradebook import gradebook_url, open_gradebook
from .nbgrader_cli import NbgraderError, run_nbgrader
from .settings import ASSIGNMENT_ID


class CourseError(RuntimeError):
    """The course is not in a state where the requested step can run."""


@dataclass(frozen=True)
class StudentOutcome:
    """How autograde went for one student."""

    student: str
    ok: bool
    message: str = ""


def threads_per_job(jobs: int) -> int:
    """Math-library threads for each of ``jobs`` kernels running at once, so they do not oversubscribe."""
    return max(1, (os.cpu_count() or 1) // jobs)


def autograde(
    course_root: Path,
    jobs: int = 1,
    students: Sequence[str] | None = None,
    progress: Callable[[str], None] = print,
) -> list[StudentOutcome]:
    """Autograde the walk-through for the submitted students of the course.

    Args:
        course_root: The course directory (released, with submissions in ``submitted/``).
        jobs: How many students are graded at once; 1 runs a single plain ``nbgrader autograde``.
        students: Only these student ids; default every student in ``submitted/``.
        progress: Called with one line per finished student.

    Returns:
        One outcome per student, in the order of ``students`` (sorted ids by default).

    Raises:
        CourseError: The walk-through was never released in this course, or a student has no submission.
    """
    course_root = Path(course_root).resolve()
    if not released_notebook_path(course_root).exists():
        raise CourseError(
            f"nothing released in {course_root}: run `python -m autograder course release` first"
        )
    available = submitted_students(course_root)
    chosen = list(students) if students else available
    missing = sorted(set(chosen) - set(available))
    if missing:
        raise CourseError(f"no submission in {course_root / 'submitted'} for: {', '.join(missing)}")
    if not chosen:
        return []
    if jobs <= 1:
        return _autograde_serially(course_root, chosen, students is not None, progress)
    return _autograde_in_parallel(course_root, chosen, jobs, progress)


def _autograde_serially(
    course_root: Path, students: list[str], only_some: bool, progress: Callable[[str], None]
) -> list[StudentOutcome]:
    outcomes = []
    batches = [["--student", student] for student in students] if only_some else [[]]
    for student_options in batches:
        try:
            run_nbgrader(course_root, ["autograde", ASSIGNMENT_ID, "--force", *student_options])
        except NbgraderError as error:
            outcomes.append(
                StudentOutcome(student_options[-1] if student_options else "*", False, str(error))
            )
    failed = {outcome.student for outcome in outcomes}
    results = [StudentOutcome(s, "*" not in failed and s not in failed) for s in students]
    for outcome in results:
        progress(f"{outcome.student}: {'graded' if outcome.ok else 'autograde reported an error'}")
    return results


def _autograde_in_parallel(
    course_root: Path, students: list[str], jobs: int, progress: Callable[[str], None]
) -> list[StudentOutcome]:
    main_url = gradebook_url(course_root)
    thread_count = str(threads_per_job(jobs))
    kernel_env = {
        name: os.environ.get(name, thread_count)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    }
    everyone = submitted_students(course_root)
    # One nbgrader process per job, each with its share of the students (nbgrader's start-up, a few
    # seconds, is paid once per job rather than once per student).
    shares = [share for share in (students[index::jobs] for index in range(jobs)) if share]
    outcomes: dict[str, StudentOutcome] = {}
    with tempfile.TemporaryDirectory(prefix="autograde-jobs-") as scratch:
        snapshot = Path(scratch) / "snapshot.db"
        _copy_sqlite(course_root / "gradebook.db", snapshot)

        def grade_share(index: int, share: list[str]) -> tuple[list[str], Path, str | None]:
            private_db = Path(scratch) / f"job-{index}.db"
            shutil.copyfile(snapshot, private_db)
            others = sorted(set(everyone) - set(share))
            try:
                run_nbgrader(
                    course_root,
                    [
                        "autograde",
                        ASSIGNMENT_ID,
                        "--force",
                        "--CourseDirectory.student_id=*",
                        f"--CourseDirectory.student_id_exclude={','.join(others)}",
                        f"--CourseDirectory.db_url=sqlite:///{private_db}",
                    ],
                    extra_env=kernel_env,
                )
            except NbgraderError as error:
                return share, private_db, str(error)
            return share, private_db, None

        with ThreadPoolExecutor(max_workers=len(shares)) as pool:
            futures = [pool.submit(grade_share, index, share) for index, share in enumerate(shares)]
            for future in as_completed(futures):
                share, private_db, error = future.result()
                for student in share:
                    merge_autograde_results(f"sqlite:///{private_db}", main_url, ASSIGNMENT_ID, student)
                    outcomes[student] = StudentOutcome(student, error is None, error or "")
                    progress(f"{student}: {'graded' if error is None else 'autograde reported an error'}")
                private_db.unlink()
    return [outcomes[student] for student in students]


def _copy_sqlite(source: Path, destination: Path) -> None:
    """A consistent copy of an SQLite database (the backup API, safe while others read it)."""
    source_db = sqlite3.connect(source)
    destination_db = sqlite3.connect(destination)
    try:
        source_db.backup(destination_db)
    finally:
        destination_db.close()
        source_db.close()


def merge_autograde_results(private_url: str, main_url: str, assignment: str, student: str) -> None:
    """Copy what ``nbgrader autograde`` wrote for ``student`` in a private gradebook into the main one.

    Copied: the student (created if missing, with names and email), the submission (created if missing,
    its timestamp), and for each submitted notebook its late penalty, each grade's ``auto_score`` and
    ``needs_manual_grade``, and each comment's ``auto_comment``. Manual scores and comments are left alone.
    """
    from nbgrader.api import MissingEntry

    with open_gradebook(private_url) as private, open_gradebook(main_url) as main:
        try:
            graded = private.find_submission(assignment, student)
        except MissingEntry:
            return
        person = graded.student
        main.update_or_create_student(
            student,
            first_name=person.first_name,
            last_name=person.last_name,
            email=person.email,
            lms_user_id=person.lms_user_id,
        )
        submission = main.update_or_create_submission(assignment, student)
        submission.timestamp = graded.timestamp
        for graded_notebook in graded.notebooks:
            notebook = main.find_submission_notebook(graded_notebook.name, assignment, student)
            notebook.late_submission_penalty = graded_notebook.late_submission_penalty
            for graded_grade in graded_notebook.grades:
                grade = main.find_grade(graded_grade.name, graded_notebook.name, assignment, student)
                grade.auto_score = graded_grade.auto_score
                grade.needs_manual_grade = graded_grade.needs_manual_grade
            for graded_comment in graded_notebook.comments:
                comment = main.find_comment(graded_comment.name, graded_notebook.name, assignment, student)
                comment.auto_comment = graded_comment.auto_comment
        main.db.commit()
