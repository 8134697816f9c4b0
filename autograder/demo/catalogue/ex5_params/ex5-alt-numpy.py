"""ex5 with numpy inside: sizes from the shapes with numpy.prod, the formula as a dot product."""

from __future__ import annotations

import numpy as np
from torch import nn


def _size(parameter) -> int:
    return int(np.prod(np.asarray(parameter.shape, dtype=np.int64), dtype=np.int64))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    sizes = np.array(
        [_size(p) for p in model.parameters() if p.requires_grad or not trainable_only], dtype=np.int64
    )
    return int(sizes.sum())


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    seen: set[int] = set()
    names = [name for name, _ in model.named_children()]
    totals = np.zeros(len(names) + 1, dtype=np.int64)
    for position, (_, child) in enumerate(model.named_children()):
        for parameter in child.parameters():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                totals[position] += _size(parameter)
    for parameter in model.parameters(recurse=False):
        if id(parameter) not in seen:
            totals[-1] += _size(parameter)
    result = {name: int(total) for name, total in zip(names, totals[:-1])}
    if totals[-1]:
        result[""] = int(totals[-1])
    return result


def bert_parameter_count(config) -> int:
    h, i = config.hidden_size, config.intermediate_size
    token_types = getattr(config, "type_vocab_size", 0) or 0
    counts = np.array(
        [config.vocab_size + config.max_position_embeddings + token_types, 2, config.num_hidden_layers,
         1 if getattr(config, "use_pooler", True) else 0],
        dtype=np.int64,
    )
    sizes = np.array([h, h, 4 * h * h + 2 * h * i + 9 * h + i, h * h + h], dtype=np.int64)
    return int(counts @ sizes)
