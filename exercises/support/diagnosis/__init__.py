"""Naming the mistake behind a wrong value, shared by the visible checks and the hidden graders.

A failed check says what was called, what came back and what was expected (see :mod:`checking`).
This module adds one sentence. Each exercise's known slips are written here as formulas of the call's
inputs (``distillation_mistakes(student, teacher, T)`` gives the value a loss without the T**2 factor
would have, the value of the reversed KL, ...). A slip is named only when the observed value matches
its formula within a tolerance; otherwise the sentence is the contract's, and the numbers (got,
expected, relative error) speak for themselves::

    hint = explain(actual, distillation_mistakes(student, teacher, 4.0), "ex2.loss", expected=expected)
    check_tensor(actual, expected, call=call, hint=hint)

Nothing here computes an exercise's answer that the visible checks do not already compute.
"""

from __future__ import annotations

from .core import CLAUSES, HINTON, MATCH_RTOL, NAMED, Candidate, NamedSlips, clause, diagnose, explain
from .distillation import distillation_mistakes, student_loss_mistakes
from .layers import held_teacher_layers, layer_choice_mistakes, layer_index_mistakes
from .masking import replacement_mistakes
from .params import breakdown_mistakes, count_mistakes, formula_mistakes
from .softmax import softmax_mistakes

__all__ = [
    "CLAUSES",
    "HINTON",
    "MATCH_RTOL",
    "NAMED",
    "Candidate",
    "NamedSlips",
    "breakdown_mistakes",
    "clause",
    "count_mistakes",
    "diagnose",
    "distillation_mistakes",
    "explain",
    "formula_mistakes",
    "held_teacher_layers",
    "layer_choice_mistakes",
    "layer_index_mistakes",
    "replacement_mistakes",
    "softmax_mistakes",
    "student_loss_mistakes",
]
