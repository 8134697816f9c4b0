"""A demo class to grade when ``python -m autograder grade`` is given no submission.

The class: the reference solution, the untouched stubs, and a few typical mistakes. The mistakes come
from ``autograder.demo.catalogue.DEMO_MISTAKES`` when that catalogue exists; otherwise from small text
edits of the solution files below (each one a misconception the lesson warns about).
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from autograder.layout import EXERCISES, EXERCISES_DIR, SOLUTIONS_DIR


@dataclass(frozen=True)
class TextEditMistake:
    """The solution with one line of one exercise file changed."""

    student: str
    filename: str
    old: str
    new: str

    def applies(self) -> bool:
        return self.old in (SOLUTIONS_DIR / self.filename).read_text(encoding="utf-8")

    def write(self, dest_dir: Path) -> None:
        copy_exercise_files(SOLUTIONS_DIR, dest_dir)
        path = Path(dest_dir) / self.filename
        path.write_text(path.read_text(encoding="utf-8").replace(self.old, self.new, 1), encoding="utf-8")


FALLBACK_MISTAKES = (
    TextEditMistake(
        "demo-forgot-t-squared",
        "ex2_distillation.py",
        "return mean_kl * temperature_value**2",
        "return mean_kl",
    ),
    TextEditMistake(
        "demo-counts-tied-twice",
        "ex5_params.py",
        "parameter.numel() for parameter in model.parameters() if",
        "parameter.numel() for _, parameter in model.named_parameters(remove_duplicate=False) if",
    ),
    TextEditMistake(
        "demo-odd-layers",
        "ex3_layers.py",
        "return list(range(0, num_teacher_layers, 2))",
        "return list(range(1, num_teacher_layers, 2))",
    ),
    TextEditMistake(
        "demo-softmax-ignores-temperature",
        "ex1_softmax.py",
        "scaled = logits / temperature_value",
        "scaled = logits * 1.0",
    ),
)


def copy_exercise_files(source_dir: Path, dest_dir: Path) -> None:
    """Copy the ``ex*.py`` files (a learner's submission is exactly these) from ``source_dir``."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for exercise in EXERCISES:
        source = Path(source_dir) / exercise.filename
        if source.exists():
            shutil.copyfile(source, dest_dir / exercise.filename)


def demo_mistakes() -> list:
    """The catalogue's demo mistakes if it exists, else the text edits that still apply."""
    try:
        catalogue = importlib.import_module("autograder.demo.catalogue")
        mistakes = list(catalogue.DEMO_MISTAKES)
        if mistakes:
            return mistakes
    except (ImportError, AttributeError):
        pass
    return [mistake for mistake in FALLBACK_MISTAKES if mistake.applies()]


def write_demo_class(dest: Path) -> list[Path]:
    """Write one folder per demo student under ``dest`` (replacing what was there); returns them."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    folders = []
    solution = dest / "demo-solution"
    copy_exercise_files(SOLUTIONS_DIR, solution)
    folders.append(solution)
    stubs = dest / "demo-not-started"
    copy_exercise_files(EXERCISES_DIR, stubs)
    folders.append(stubs)
    for mistake in demo_mistakes():
        folder = dest / mistake.student
        folder.mkdir(parents=True, exist_ok=True)
        mistake.write(folder)
        folders.append(folder)
    return folders
