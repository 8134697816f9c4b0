"""ex1 with the library call, checking the temperature first."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def softmax_with_temperature(logits: torch.Tensor, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"bad temperature {temperature}")
    return F.softmax(logits / temperature, dim=dim)
