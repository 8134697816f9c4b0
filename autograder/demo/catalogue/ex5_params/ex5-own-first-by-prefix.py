"""ex5 (outsider2): id()-based de-duplication, closed form with getattr."""
from __future__ import annotations

from typing import Any

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    total = 0
    for p in model.parameters():  # yields a shared parameter once
        if trainable_only and not p.requires_grad:
            continue
        total += p.numel()
    return int(total)


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    result: dict[str, int] = {name: 0 for name, _ in model.named_children()}
    own = 0
    has_own = False
    for full, p in model.named_parameters():
        top = full.split(".", 1)[0] if "." in full else ""
        if top == "":
            has_own = True
            own += p.numel()
        else:
            result[top] += p.numel()
    if has_own:
        result[""] = own
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
