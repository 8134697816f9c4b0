"""Release the walk-through: nbgrader's ``generate_assignment`` turns the source into the learners' copy."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .course_dir import SOURCE_NOTEBOOK, init_course, released_notebook_path
from .nbgrader_cli import run_nbgrader
from .settings import ASSIGNMENT_ID, NOTEBOOK_FILENAME


def generate_assignment(course_root: Path) -> Path:
    """Run ``nbgrader generate_assignment walkthrough --force`` in the course; returns the released notebook.

    Solutions become ``raise NotImplementedError()`` stubs, hidden tests are removed (kept in the
    course's gradebook for autograde), outputs cleared, read-only cells locked and checksummed.
    """
    run_nbgrader(course_root, ["generate_assignment", ASSIGNMENT_ID, "--force"])
    return released_notebook_path(course_root)


def release_notebook(dest_dir: Path, source_notebook: Path = SOURCE_NOTEBOOK) -> Path:
    """Write the learners' ``walkthrough.ipynb`` into ``dest_dir``, made by nbgrader from the source.

    The work happens in a throw-away course (its gradebook included), so the result depends on the source
    notebook and this package only: the same input gives a byte-identical file.

    Args:
        dest_dir: Where the released notebook goes (``exercises/``), created if missing.
        source_notebook: The notebook with solutions and hidden tests.

    Returns:
        The path of the written notebook.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="walkthrough-course-") as scratch:
        course_root = init_course(Path(scratch) / "course", source_notebook=source_notebook)
        released = generate_assignment(course_root)
        destination = dest_dir / NOTEBOOK_FILENAME
        shutil.copyfile(released, destination)
    return destination
