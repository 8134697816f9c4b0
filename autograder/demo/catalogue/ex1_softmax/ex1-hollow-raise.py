"""ex1: softmax with a temperature (my submission)."""

from __future__ import annotations

import math

import torch
from torch import Tensor



def softmax_with_temperature(logits: Tensor, temperature: float = 1.0, dim: int = -1) -> Tensor:
    raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
