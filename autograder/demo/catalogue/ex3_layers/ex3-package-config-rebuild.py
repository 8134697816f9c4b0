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



import dataclasses

from .model import BertConfig


def halve_layers(teacher, layers=None):
    n = len(_body(teacher).encoder.layer)
    layers = _checked_layers(layers, n)
    fields = {f.name: getattr(teacher.config, f.name) for f in dataclasses.fields(BertConfig)}
    fields["num_hidden_layers"] = len(layers)
    student = type(teacher)(BertConfig(**fields)).to(next(teacher.parameters()).dtype)
    state = {}
    for key, value in teacher.state_dict().items():
        if "encoder.layer." in key:
            head, rest = key.split("encoder.layer.", 1)
            index, tail = rest.split(".", 1)
            for pos, chosen in enumerate(layers):
                if chosen == int(index):
                    state[f"{head}encoder.layer.{pos}.{tail}"] = value.clone()
        else:
            state[key] = value.clone()
    student.load_state_dict(state)
    student.train(teacher.training)
    return student
