"""ex5: counting parameters (my submission)."""

from __future__ import annotations

from typing import Any

from torch import nn


def _unique(params):
    seen = set()
    for p in params:
        key = (p.data_ptr(), p.shape)       # tied weights share storage
        if key in seen:
            continue
        seen.add(key)
        yield p


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    ps = model.named_parameters(remove_duplicate=False)
    return sum(p.numel() for p in _unique(p for _, p in ps) if p.requires_grad or not trainable_only)


def parameter_breakdown(model: nn.Module) -> dict[str, int]:
    seen = set()
    out = {}
    for name, child in model.named_children():
        n = 0
        for p in child.parameters():
            key = (p.data_ptr(), p.shape)
            if key not in seen:
                seen.add(key)
                n += p.numel()
        out[name] = n
    own = 0
    for p in model.parameters(recurse=False):
        key = (p.data_ptr(), p.shape)
        if key not in seen:
            seen.add(key)
            own += p.numel()
    if own:
        out[""] = own
    return out


def bert_parameter_count(config: Any) -> int:
    V, P, T = config.vocab_size, config.max_position_embeddings, config.type_vocab_size
    H, I, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    pooler = H * H + H if getattr(config, "use_pooler", True) else 0
    return (V + P + T) * H + 2 * H + L * (4 * H * H + 2 * H * I + 9 * H + I) + pooler
