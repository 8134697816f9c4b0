"""The run's settings, constants and the paper's figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""The exercises' package folder (``exercises/``), which this package sits in."""
PACKAGE = (__package__ or "").rpartition(".")[0] or PACKAGE_DIR.name
MAX_THREADS = 2

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""BERT's special tokens; [PAD] comes first so that its id is 0, ``BertConfig.pad_token_id``."""
HELD_OUT_EVERY = 10
HELD_OUT_OFFSET = 5
"""Topics ``sorted(topics)[5::10]`` are held out (about 8% of the words), the others are trained on."""

TEMPERATURE = 2.0
SOFT_WEIGHT, HARD_WEIGHT = 5.0, 2.0
"""DistilBERT's README recipe: 5.0 * KL at T = 2 + 2.0 * MLM (its cosine loss is left out here)."""
ALPHA = SOFT_WEIGHT / (SOFT_WEIGHT + HARD_WEIGHT)

PAPER = {
    "parameters": 66_362_880 / 109_482_240,
    "time": 410 / 668,
    "quality": 77.0 / 79.5,
}
"""DistilBERT against BERT-base: parameters counted with transformers, CPU inference time on STS-B dev
(410 s against 668 s), GLUE macro-score (77.0 against 79.5); Sanh et al. 2019, arXiv:1910.01108."""

WHY_NEEDED = {
    "ex1": "the teacher's soft targets are shown with your softmax_with_temperature",
    "ex2": "the student is trained with your student_loss",
    "ex3": "the student is made from the teacher by your halve_layers",
    "ex4": "the teacher is pretrained with your DynamicMasker",
    "ex5": "the table counts parameters with your count_parameters",
}
EXERCISE_MODULES = {
    "ex1": "ex1_softmax",
    "ex2": "ex2_distillation",
    "ex3": "ex3_layers",
    "ex4": "ex4_masking",
    "ex5": "ex5_params",
}
MAX_CHECK_MESSAGE_CHARS = 160


class DistilError(Exception):
    """A problem the learner can act on; reported as one line, without a traceback."""


@dataclass(frozen=True)
class Settings:
    """The size of a run: model shape, data, steps and measurements."""

    name: str
    vocab_size: int = 2048
    seq_len: int = 32
    hidden_size: int = 128
    num_layers: int = 6
    num_heads: int = 4
    intermediate_size: int = 512
    batch_size: int = 32
    teacher_steps: int = 600
    student_steps: int = 300
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.06
    evaluations: int = 6
    timing_repeats: int = 15
    timing_batch: int = 32
    static_mask_teacher: bool = False


MODES = {
    "quick": Settings(
        "quick",
        seq_len=64,
        hidden_size=64,
        num_layers=4,
        num_heads=2,
        intermediate_size=256,
        batch_size=16,
        teacher_steps=150,
        student_steps=75,
        learning_rate=3e-3,
        evaluations=3,
        timing_repeats=7,
    ),
    "default": Settings("default"),
    "long": Settings(
        "long",
        teacher_steps=3000,
        student_steps=1500,
        evaluations=10,
        timing_repeats=30,
        static_mask_teacher=True,
    ),
}
"""``--quick`` is a smaller model (4 layers, hidden size 64) for a first look and the tests; the default
and ``--long`` differ only in training steps (and ``--long`` adds the static-mask teacher). With a
2,048-token vocabulary the 3-layer student has 60% of the 6-layer teacher's parameters, as DistilBERT
has 60.6% of BERT-base's.

The default teacher's 600 steps of 32 rows of 32 tokens (about five passes over the training text) are
what fits the default run's budget. Short rows buy steps, and steps are what counts: a 6-layer teacher of
this size first learns only which tokens are frequent and uses the context only later. With 32 rows of 64
tokens at 1e-3 it got past the frequent tokens after about 150 steps; with 16 rows of 64 tokens at 2e-3 it
stayed there for all of 320. ``--quick``'s teacher stops before that point."""
