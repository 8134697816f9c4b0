"""A demo class to grade when ``python -m autograder grade`` is given no submission.

The class: the reference solution, the untouched stubs, and a few typical mistakes
(``autograder.demo.catalogue.DEMO_MISTAKES``, each a misconception the lesson warns about). Everything
comes from ``solutions/`` as installed with the package: the stubs are made from it in memory by the
release code, so the working ``exercises/`` (where an instructor may have tried the exercises) is never
read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.demo.catalogue import DEMO_MISTAKES, Mistake
from autograder.manifest import EXERCISES, SOLUTIONS_DIR
from autograder.release import render_exercises


def copy_exercise_files(source_dir: Path, dest_dir: Path) -> Path:
    """Copy the ``ex*.py`` files (a learner's submission is exactly these) from ``source_dir``."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for exercise in EXERCISES:
        source = Path(source_dir) / exercise.filename
        if source.exists():
            shutil.copyfile(source, dest_dir / exercise.filename)
    return dest_dir


def write_pristine_stubs(dest_dir: Path, solutions_dir: Path = SOLUTIONS_DIR) -> Path:
    """Write the untouched stubs of the five exercises, made from ``solutions_dir``, into ``dest_dir``."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    rendered = render_exercises(solutions_dir)
    for exercise in EXERCISES:
        (dest_dir / exercise.filename).write_text(rendered[exercise.filename], encoding="utf-8")
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
        write_pristine_stubs(dest / "demo-not-started"),
    ]
    folders += [mistake.write(dest / mistake.student) for mistake in demo_mistakes()]
    return folders
