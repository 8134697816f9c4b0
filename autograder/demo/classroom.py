"""A demo class to grade when ``python -m autograder grade`` is given no submission.

The class: the reference solution, the untouched stubs, and a few typical mistakes
(``autograder.demo.catalogue.DEMO_MISTAKES``, each a misconception the lesson warns about).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.demo.catalogue import DEMO_MISTAKES, Mistake
from autograder.layout import EXERCISES, EXERCISES_DIR, SOLUTIONS_DIR


def copy_exercise_files(source_dir: Path, dest_dir: Path) -> Path:
    """Copy the ``ex*.py`` files (a learner's submission is exactly these) from ``source_dir``."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for exercise in EXERCISES:
        source = Path(source_dir) / exercise.filename
        if source.exists():
            shutil.copyfile(source, dest_dir / exercise.filename)
    return dest_dir


def demo_mistakes() -> list[Mistake]:
    """The typical mistakes shown in the demo class."""
    return list(DEMO_MISTAKES)


def write_demo_class(dest: Path) -> list[Path]:
    """Write one folder per demo student under ``dest`` (replacing what was there); returns them."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    folders = [
        copy_exercise_files(SOLUTIONS_DIR, dest / "demo-solution"),
        copy_exercise_files(EXERCISES_DIR, dest / "demo-not-started"),
    ]
    folders += [mistake.write(dest / mistake.student) for mistake in demo_mistakes()]
    return folders
