"""ex3 as a learner might write it: cut the teacher's layer list, then copy it."""

from __future__ import annotations

import copy

from torch import nn

from .model import BertForMaskedLM, BertModel


def student_layer_indices(num_teacher_layers: int) -> list[int]:
    if num_teacher_layers < 1:
        raise ValueError("the teacher needs at least one layer")
    return list(range(0, num_teacher_layers, 2))


def halve_layers(teacher: BertModel | BertForMaskedLM, layers=None) -> nn.Module:
    body = teacher.bert if hasattr(teacher, "bert") else teacher
    count = len(body.encoder.layer)
    chosen = list(student_layer_indices(count) if layers is None else layers)
    if not chosen or any(not 0 <= index < count for index in chosen):
        raise ValueError(f"layers must be a non-empty list of indices below {count}")
    body.encoder.layer = nn.ModuleList([body.encoder.layer[index] for index in chosen])
    teacher.config.num_hidden_layers = len(chosen)
    return copy.deepcopy(teacher)
