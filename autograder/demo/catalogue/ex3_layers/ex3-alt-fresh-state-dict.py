"""ex3: halving BERT's layers (my submission)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import nn

from .model import BertForMaskedLM, BertModel


def student_layer_indices(num_teacher_layers: int) -> list[int]:
    if num_teacher_layers < 1:
        raise ValueError("need at least one teacher layer")
    return [i for i in range(num_teacher_layers) if i % 2 == 0]


def _body(model):
    return model.bert if hasattr(model, "bert") else model


def _set_layers_in_configs(model, n):
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "num_hidden_layers"):
            config.num_hidden_layers = n


def _checked_layers(layers, n):
    if layers is None:
        layers = student_layer_indices(n)
    layers = [int(i) for i in layers]
    if len(layers) == 0:
        raise ValueError("layers must not be empty")
    for i in layers:
        if i < 0 or i >= n:
            raise ValueError(f"layer index {i} out of range for a teacher with {n} layers")
    return layers



import re

import torch


def halve_layers(teacher, layers=None):
    n = len(_body(teacher).encoder.layer)
    layers = _checked_layers(layers, n)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    student = type(teacher)(config)
    pattern = re.compile(r"^(.*encoder\.layer\.)(\d+)\.(.*)$")
    renamed = {}
    teacher_state = teacher.state_dict()
    for key, value in teacher_state.items():
        match = pattern.match(key)
        if match is None:
            renamed[key] = value.detach().clone()
    for position, index in enumerate(layers):
        for key, value in teacher_state.items():
            match = pattern.match(key)
            if match is not None and int(match.group(2)) == index:
                renamed[f"{match.group(1)}{position}.{match.group(3)}"] = value.detach().clone()
    dtype = next(teacher.parameters()).dtype
    student = student.to(dtype)
    student.load_state_dict(renamed, strict=True)
    _set_layers_in_configs(student, len(layers))
    student.train(teacher.training)
    return student
