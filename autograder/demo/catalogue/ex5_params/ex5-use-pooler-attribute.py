"""ex5: counting parameters (my submission)."""

from __future__ import annotations

from typing import Any

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    total = 0
    for p in model.parameters():
        if trainable_only and not p.requires_grad:
            continue
        total += p.numel()
    return total


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    seen = set()
    result = {}
    for name, child in model.named_children():
        n = 0
        for p in child.parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            n += p.numel()
        result[name] = n
    rest = sum(p.numel() for p in model.parameters(recurse=False) if id(p) not in seen)
    if rest:
        result[""] = rest
    return result


def bert_parameter_count(config: Any) -> int:
    V, P, H = config.vocab_size, config.max_position_embeddings, config.hidden_size
    T = config.type_vocab_size
    I, L = config.intermediate_size, config.num_hidden_layers
    embeddings = V * H + P * H + T * H + 2 * H
    attention = 4 * (H * H + H) + 2 * H
    feed_forward = (H * I + I) + (I * H + H) + 2 * H
    pooler = H * H + H if config.use_pooler else 0
    return embeddings + L * (attention + feed_forward) + pooler
