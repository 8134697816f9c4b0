"""ex3 through state dicts: a smaller model loaded with renamed teacher weights."""

from __future__ import annotations

import copy

from torch import nn


def student_layer_indices(num_teacher_layers: int) -> list[int]:
    if num_teacher_layers <= 0:
        raise ValueError("need at least one teacher layer")
    return [index for index in range(num_teacher_layers) if index % 2 == 0]


def halve_layers(teacher, layers=None) -> nn.Module:
    prefix = "bert.encoder.layer." if hasattr(teacher, "bert") else "encoder.layer."
    teacher_state = teacher.state_dict()
    count = teacher.config.num_hidden_layers
    chosen = student_layer_indices(count) if layers is None else list(layers)
    if len(chosen) == 0:
        raise ValueError("layers is empty")
    for index in chosen:
        if index < 0 or index >= count:
            raise ValueError(f"layer {index} does not exist")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(chosen)
    student = type(teacher)(config)
    renamed = {}
    for name in student.state_dict():
        source = name
        if name.startswith(prefix):
            position, _, rest = name[len(prefix):].partition(".")
            source = f"{prefix}{chosen[int(position)]}.{rest}"
        renamed[name] = teacher_state[source].clone()
    student.load_state_dict(renamed)
    return student.train(teacher.training)
