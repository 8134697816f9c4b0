"""Bring in the notebooks downloaded from an LMS, through nbgrader's ``zip_collect``.

Accepted, one or more paths at once:

- an LMS download (a zip or its unpacked folder) holding ``<student>_walkthrough.ipynb`` or
  ``<student>/walkthrough.ipynb`` at any depth, also ``<student>/exercises/walkthrough.ipynb``;
- a Canvas or Moodle bulk download (:mod:`autograder.grading.intake`), mapped to student ids by a roster;
- a folder or zip per student (named after the student) with ``walkthrough.ipynb`` at the top or one
  level down (``exercises/`` or ``exercises.zip`` inside): what ``python -m exercises.handin`` writes.

Every notebook found is filed as ``<student>_walkthrough.ipynb`` in one zip under
``downloaded/walkthrough/archive/``, then nbgrader's ``zip_collect`` files it under ``submitted/``.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from autograder.grading import intake
from autograder.results.model import terminal_safe

from .course_dir import submitted_students
from .nbgrader_cli import run_nbgrader
from .settings import ASSIGNMENT_ID, NOTEBOOK_FILENAME, SUBMISSION_FILENAME_REGEXP

COLLECTED_ZIP = "collected.zip"
NESTING_FOLDERS = frozenset({"exercises", ASSIGNMENT_ID})


class CollectError(ValueError):
    """A download that cannot be read (one line, naming the path)."""


def _notebooks_by_lms_name(container: intake._Container) -> dict[str, bytes]:
    """``student -> notebook`` for files named as ``zip_collect`` expects, at any depth."""
    found: dict[str, bytes] = {}
    for relative in sorted(container.files):
        match = re.match(SUBMISSION_FILENAME_REGEXP, f"/{relative}")
        if match is None:
            continue
        student = match["student_id"]
        parts = PurePosixPath(relative).parts
        if student in NESTING_FOLDERS and len(parts) >= 3:
            student = parts[-3]  # <student>/exercises/walkthrough.ipynb
        if student in NESTING_FOLDERS or student in found:
            continue
        try:
            found[student] = container.files[relative]()
        except intake.Unreadable as exc:  # encrypted, damaged: that student only
            _skipped(str(exc))
    return found


def _skipped(problem: str) -> None:
    """Say on stderr, in one line, that a hand-in was not collected (the others are)."""
    print(terminal_safe(f"warning: {problem} (not collected)"), file=sys.stderr)


def _own_notebook(container: intake._Container, name: str) -> bool:
    """Whether this folder or zip (called ``name``) is one student's: the notebook at its top or in
    ``exercises/``, or inside its one zip named ``exercises.zip`` or after the folder."""
    for relative in container.files:
        parts = PurePosixPath(relative).parts
        if parts[-1] == NOTEBOOK_FILENAME and (
            len(parts) == 1 or (len(parts) == 2 and parts[0] in NESTING_FOLDERS)
        ):
            return True
    zips = [PurePosixPath(r) for r in container.files if r.lower().endswith(".zip") and r.count("/") <= 1]
    own_zip = len(zips) == 1 and zips[0].stem in {*NESTING_FOLDERS, name}  # else a folder of hand-ins
    return own_zip and not any(r.endswith(".ipynb") for r in container.files)


def _problem(path: Path) -> str | None:
    if not path.exists():
        return f"{path}: no such file or folder"
    if path.is_file() and not zipfile.is_zipfile(path):
        return f"{path} is not a zip file"
    return None


def check_paths(paths: list[Path]) -> list[Path]:
    """The paths that can be collected from; one that does not exist or is a file but not a zip is named
    on stderr in one line and left out (:func:`_skipped`), unless none is left.

    Raises:
        CollectError: naming the first path, when no path can be collected from.
    """
    problems = {path: _problem(path) for path in map(Path, paths)}
    usable = [path for path, problem in problems.items() if problem is None]
    bad = [problem for problem in problems.values() if problem is not None]
    if bad and not usable:
        raise CollectError(f"{bad[0]} (give the LMS download as it came, or its folder)")
    for problem in bad:
        _skipped(problem)
    return usable


def find_notebooks(
    paths: list[Path], workdir: Path, roster: intake.Roster | None = None, *, inside: bool = False
) -> dict[str, bytes]:
    """``student -> notebook bytes`` from every path (see the module's text). A folder that is none of
    those but holds hand-in zips (one per student) is read as those hand-ins too (``inside``: the paths
    are such hand-ins).

    Raises:
        CollectError: no path can be collected from (see :func:`check_paths`), or one cannot be read.
    """
    wanted = {NOTEBOOK_FILENAME}
    notebooks: dict[str, bytes] = {}
    for path in check_paths(paths):
        try:
            layout = intake.lms_layout(path, wanted)
        except intake.IntakeError as exc:
            raise CollectError(str(exc)) from None
        if layout is None:
            archive = zipfile.ZipFile(path) if path.is_file() else None
            try:
                container = (
                    intake._Container.of_zip(archive, str(path))
                    if archive
                    else intake._Container.of_folder(path)
                )
                if not _own_notebook(container, path.stem if archive else path.name):
                    if archive is None and not inside:  # hand-in zips in the folder, one per student
                        handins = sorted(p for p in path.iterdir() if p.suffix.lower() == ".zip")
                        notebooks.update(find_notebooks(handins, workdir / "handins", inside=True))
                    notebooks.update(_notebooks_by_lms_name(container))
                    continue
            except (zipfile.BadZipFile, OSError) as exc:
                raise CollectError(f"{path} cannot be read as a zip ({exc})") from None
            finally:
                if archive is not None:
                    archive.close()
        gathered = intake.gather([path], workdir, roster=None if layout is None else roster, wanted=wanted)
        for submission in gathered.submissions:
            if submission.source is not None:
                notebooks[submission.student] = (submission.source / NOTEBOOK_FILENAME).read_bytes()
            elif submission.note == intake.UNREADABLE:
                _skipped(submission.describe())
    return notebooks


def collect_zip(
    course_root: Path, zip_path: Path | list[Path], roster: intake.Roster | None = None
) -> list[str]:
    """File every notebook in ``zip_path`` (one path or several) under ``submitted/<student>/``.

    The download replaces any earlier one in ``downloaded/walkthrough/archive/``; students it holds get
    their ``submitted/`` folder replaced, others keep theirs.

    Returns:
        The ids of the students with a submission after collecting, sorted.

    Raises:
        CollectError: a path that does not exist, cannot be read, or holds no notebook.
    """
    paths = [Path(p).resolve() for p in (zip_path if isinstance(zip_path, list) else [zip_path])]
    with tempfile.TemporaryDirectory(prefix="collect-") as workdir:
        notebooks = find_notebooks(paths, Path(workdir), roster)
    if not notebooks:
        shown = ", ".join(map(str, paths))
        raise CollectError(f"{shown}: no {NOTEBOOK_FILENAME} in it (nothing was collected)")
    archive_dir = Path(course_root) / "downloaded" / ASSIGNMENT_ID / "archive"
    if archive_dir.exists():
        shutil.rmtree(archive_dir)
    archive_dir.mkdir(parents=True)
    with zipfile.ZipFile(archive_dir / COLLECTED_ZIP, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for student, data in sorted(notebooks.items()):
            archive.writestr(f"{student}_{NOTEBOOK_FILENAME}", data)
    run_nbgrader(course_root, ["zip_collect", ASSIGNMENT_ID, "--force"])
    return submitted_students(Path(course_root))
