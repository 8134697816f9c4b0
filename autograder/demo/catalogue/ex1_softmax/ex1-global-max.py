"""ex1: softmax with a temperature (my submission)."""

from __future__ import annotations

import math

import torch
from torch import Tensor



def softmax_with_temperature(logits: Tensor, temperature: float = 1.0, dim: int = -1) -> Tensor:
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
        temperature = float(temperature)
    if math.isnan(temperature) or math.isinf(temperature) or temperature <= 0:
        raise ValueError("temperature must be a positive finite number")
    x = logits / temperature
    x = x - x.max()
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)
