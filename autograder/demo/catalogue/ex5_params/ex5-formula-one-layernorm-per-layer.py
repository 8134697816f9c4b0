"""ex5: counting parameters (my submission)."""

from __future__ import annotations

from typing import Any

from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    seen: set[int] = set()
    out: dict[str, int] = {}
    for name, child in model.named_children():
        n = 0
        for p in child.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        out[name] = n
    own = sum(p.numel() for p in model.parameters() if id(p) not in seen)
    if own:
        out[""] = own
    return out


def bert_parameter_count(config: Any) -> int:
    V, P, T = config.vocab_size, config.max_position_embeddings, config.type_vocab_size
    H, I, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    # 4 projections with bias (4H^2 + 4H), FFN (2HI + I + H), two LayerNorms... one per layer
    layer = 4 * H * H + 4 * H + 2 * H * I + I + H + 2 * H
    pooler = H * H + H if getattr(config, "use_pooler", True) else 0
    return (V + P + T) * H + 2 * H + L * layer + pooler
