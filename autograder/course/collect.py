"""Bring in submissions downloaded from an LMS as one zip, through nbgrader's ``zip_collect``."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from .course_dir import submitted_students
from .nbgrader_cli import run_nbgrader
from .settings import ASSIGNMENT_ID


def collect_zip(course_root: Path, zip_path: Path) -> list[str]:
    """Extract ``zip_path`` into the course and file each notebook under ``submitted/<student>/``.

    The zip replaces any earlier download in ``downloaded/walkthrough/archive/``; students it holds get
    their ``submitted/`` folder replaced, others keep theirs. Student ids come from the file names
    (``settings.SUBMISSION_FILENAME_REGEXP``): ``<student>_walkthrough.ipynb`` or
    ``<student>/walkthrough.ipynb``, at any depth.

    Returns:
        The ids of the students with a submission after collecting, sorted.

    Raises:
        FileNotFoundError: No such zip.
        zipfile.BadZipFile: The file is not a zip.
    """
    zip_path = Path(zip_path).resolve()
    if not zip_path.is_file():
        raise FileNotFoundError(f"no zip at {zip_path}")
    with zipfile.ZipFile(zip_path) as archive:
        bad_member = archive.testzip()
    if bad_member is not None:
        raise zipfile.BadZipFile(f"{zip_path}: {bad_member} is damaged")
    archive_dir = Path(course_root) / "downloaded" / ASSIGNMENT_ID / "archive"
    if archive_dir.exists():
        shutil.rmtree(archive_dir)
    archive_dir.mkdir(parents=True)
    shutil.copyfile(zip_path, archive_dir / zip_path.name)
    run_nbgrader(course_root, ["zip_collect", ASSIGNMENT_ID, "--force"])
    return submitted_students(Path(course_root))
