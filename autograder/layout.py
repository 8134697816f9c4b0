"""The exercises as the whole package sees them: ids, files, public names, points.

One table, used by the release tool, the staging of submissions, the graders and the result writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
GRADERS_DIR = Path(__file__).resolve().parent / "graders"

POINTS_PER_EXERCISE = 20
GIVEN_FILES = ("model.py",)


@dataclass(frozen=True)
class Exercise:
    id: str
    module: str
    names: tuple[str, ...]
    topic: str

    @property
    def filename(self) -> str:
        return f"{self.module}.py"


EXERCISES: tuple[Exercise, ...] = (
    Exercise("ex1", "ex1_softmax", ("softmax_with_temperature",), "softmax with a temperature"),
    Exercise("ex2", "ex2_distillation", ("distillation_loss", "student_loss"), "the distillation loss"),
    Exercise("ex3", "ex3_layers", ("student_layer_indices", "halve_layers"), "halving BERT's layers"),
    Exercise("ex4", "ex4_masking", ("DynamicMasker",), "RoBERTa's dynamic masking"),
    Exercise(
        "ex5",
        "ex5_params",
        ("count_parameters", "parameter_breakdown", "bert_parameter_count"),
        "counting parameters",
    ),
)
EXERCISE_BY_ID = {ex.id: ex for ex in EXERCISES}
EXERCISE_BY_MODULE = {ex.module: ex for ex in EXERCISES}
MAX_TOTAL = POINTS_PER_EXERCISE * len(EXERCISES)
