"""ex5 by hand: parameters deduplicated by identity, the formula term by term."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    seen = {}
    for _, parameter in model.named_parameters(remove_duplicate=False):
        if parameter.requires_grad or not trainable_only:
            seen[id(parameter)] = parameter.numel()
    return int(sum(seen.values()))


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    counted = set()
    result = {}
    for name, child in model.named_children():
        result[name] = 0
        for parameter in child.parameters():
            if id(parameter) not in counted:
                counted.add(id(parameter))
                result[name] += parameter.numel()
    own = sum(p.numel() for p in model.parameters(recurse=False) if id(p) not in counted)
    if own:
        result[""] = own
    return result


def bert_parameter_count(config) -> int:
    h, i = config.hidden_size, config.intermediate_size
    embeddings = config.vocab_size * h + config.max_position_embeddings * h + config.type_vocab_size * h
    embeddings += 2 * h
    attention = 4 * (h * h + h) + 2 * h
    feed_forward = (h * i + i) + (i * h + h) + 2 * h
    pooler = h * h + h if getattr(config, "use_pooler", True) else 0
    return embeddings + config.num_hidden_layers * (attention + feed_forward) + pooler
