"""ex1 by hand in float64 with logsumexp, cast back to the input's dtype."""

from __future__ import annotations

import math

import torch


def softmax_with_temperature(logits: torch.Tensor, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError("temperature must be positive and finite")
    scaled = logits.to(torch.float64) / temperature
    log_probabilities = scaled - torch.logsumexp(scaled, dim=dim, keepdim=True)
    return log_probabilities.exp().to(logits.dtype)
