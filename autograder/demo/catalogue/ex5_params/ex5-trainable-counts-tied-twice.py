"""ex5 (outsider2): id()-based de-duplication, closed form with getattr."""
from __future__ import annotations

from typing import Any

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    if trainable_only:
        return int(sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad))
    total = 0
    for p in model.parameters():
        total += p.numel()
    return int(total)


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    seen: set[int] = set()
    result: dict[str, int] = {}
    for name, child in model.named_children():
        count = 0
        for p in child.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                count += p.numel()
        result[name] = int(count)
    own = [p for p in model.parameters(recurse=False) if id(p) not in seen]
    if own:
        result[""] = int(sum(p.numel() for p in own))
    return result


def bert_parameter_count(config: Any) -> int:
    V = int(config.vocab_size)
    P = int(config.max_position_embeddings)
    T = int(config.type_vocab_size)
    H = int(config.hidden_size)
    I = int(config.intermediate_size)
    L = int(config.num_hidden_layers)
    embeddings = (V + P + T) * H + 2 * H
    layer = 4 * H * H + 2 * H * I + 9 * H + I
    pooler = H * H + H if getattr(config, "use_pooler", True) else 0
    return embeddings + L * layer + pooler
