"""ex3 (outsider2): deep-copy the teacher, rebuild the ModuleList, update every config."""
from __future__ import annotations

import copy
import operator
from collections.abc import Sequence

from torch import nn

from .model import BertForMaskedLM, BertModel


def student_layer_indices(num_teacher_layers: int) -> list[int]:
    n = operator.index(num_teacher_layers)
    if n < 1:
        raise ValueError(f"need at least one teacher layer, got {num_teacher_layers}")
    return list(range(0, n, 2))


def _body(model):
    return getattr(model, "bert", model)


def halve_layers(teacher, layers: Sequence[int] | None = None):
    n = len(_body(teacher).encoder.layer)
    if layers is None:
        chosen = student_layer_indices(n)
    else:
        chosen = [operator.index(i) for i in layers]
    if not chosen:
        raise ValueError("layers must not be empty")
    for i in chosen:
        if not 0 <= i < n:
            raise ValueError(f"layer index {i} outside [0, {n})")
    student = copy.deepcopy(teacher)
    body = _body(student)
    old = body.encoder.layer
    body.encoder.layer = nn.ModuleList(old[i] for i in chosen)
    for module in student.modules():
        cfg = getattr(module, "config", None)
        if cfg is not None and hasattr(cfg, "num_hidden_layers"):
            cfg.num_hidden_layers = len(chosen)
    return student
