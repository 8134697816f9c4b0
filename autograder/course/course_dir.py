"""The course directory nbgrader works in: its configuration, its source notebook, where things land."""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.manifest import REPO_ROOT, SOLUTIONS_DIR

from .settings import ASSIGNMENT_ID, NOTEBOOK_FILENAME

CONFIG_TEMPLATE = Path(__file__).resolve().parent / "nbgrader_config.py"
CONFIG_FILENAME = "nbgrader_config.py"
SOURCE_NOTEBOOK = SOLUTIONS_DIR / NOTEBOOK_FILENAME
PACKAGE_PARENT_LINE = "AUTOGRADER_PACKAGE_PARENT = None"


def course_config_text() -> str:
    """The course's ``nbgrader_config.py``: the template with the ``autograder`` package's location."""
    template = CONFIG_TEMPLATE.read_text(encoding="utf-8")
    if PACKAGE_PARENT_LINE not in template:
        raise RuntimeError(f"{CONFIG_TEMPLATE} lost its line {PACKAGE_PARENT_LINE!r}")
    return template.replace(PACKAGE_PARENT_LINE, f"AUTOGRADER_PACKAGE_PARENT = {str(REPO_ROOT)!r}")


def source_notebook_path(course_root: Path) -> Path:
    return course_root / "source" / ASSIGNMENT_ID / NOTEBOOK_FILENAME


def released_notebook_path(course_root: Path) -> Path:
    return course_root / "release" / ASSIGNMENT_ID / NOTEBOOK_FILENAME


def submitted_students(course_root: Path) -> list[str]:
    """Ids of the students with a submission of the walk-through in ``submitted/``, sorted."""
    submitted = course_root / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.parent.name for p in submitted.glob(f"*/{ASSIGNMENT_ID}") if p.is_dir())


def init_course(course_root: Path, source_notebook: Path = SOURCE_NOTEBOOK, overwrite: bool = True) -> Path:
    """Create (or refresh) a course: its root, ``nbgrader_config.py`` and ``source/walkthrough/``.

    Args:
        course_root: The course directory, created if missing.
        source_notebook: The notebook with solutions and hidden tests (``solutions/walkthrough.ipynb``).
        overwrite: Replace an existing config and source notebook; when False only missing ones are written.

    Returns:
        The course root, absolute.

    Raises:
        FileNotFoundError: ``source_notebook`` does not exist.
    """
    course_root = Path(course_root).resolve()
    course_root.mkdir(parents=True, exist_ok=True)
    config_path = course_root / CONFIG_FILENAME
    if overwrite or not config_path.exists():
        config_path.write_text(course_config_text(), encoding="utf-8")
    source_path = source_notebook_path(course_root)
    if overwrite or not source_path.exists():
        if not Path(source_notebook).is_file():
            raise FileNotFoundError(f"no source notebook at {source_notebook}")
        source_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_notebook, source_path)
    return course_root


def ensure_course(course_root: Path) -> Path:
    """The course at ``course_root``, created from the repository's source notebook if it is missing."""
    return init_course(course_root, overwrite=False)
