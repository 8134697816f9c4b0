"""ex1: softmax with a temperature, the knob that makes knowledge distillation work.

A trained classifier puts almost all its probability on one class; the small probabilities it gives to
the wrong classes ("a 2 that looks a bit like a 3") are what Hinton, Vinyals and Dean call dark
knowledge. Dividing the logits by a temperature T > 1 before the softmax softens the distribution so
that those small probabilities become large enough to learn from
(Hinton et al. 2015, "Distilling the Knowledge in a Neural Network", arXiv:1503.02531).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def softmax_with_temperature(logits: Tensor, temperature: float = 1.0, dim: int = -1) -> Tensor:
    """Softmax of ``logits / temperature`` along ``dim``: q_i = exp(z_i / T) / sum_j exp(z_j / T).

    T = 1 is the ordinary softmax; a larger T spreads the probability over more classes (T -> infinity
    gives the uniform distribution), a smaller T sharpens it towards the largest logit. Teacher and
    student use the same T during distillation and T = 1 afterwards.

    Subtract the largest logit before exponentiating: the result is the same, since softmax is
    unchanged when every logit moves by the same amount, but exp() can no longer overflow, so logits
    of 1e4 in float32 still give finite probabilities.

    Args:
        logits: ``(..., C, ...)`` float tensor; the classes lie along ``dim``. Not modified.
        temperature: T, a positive finite number.
        dim: the dimension holding the classes.

    Returns:
        Probabilities, same shape, dtype and device as ``logits``, summing to 1 along ``dim``;
        differentiable with respect to ``logits``.

    Raises:
        ValueError: if ``temperature`` is not a positive finite number (0, -1, nan, inf).

    Example::

        logits = torch.tensor([2.0, 1.0, 0.0])
        softmax_with_temperature(logits, 1.0)  # tensor([0.6652, 0.2447, 0.0900])
        softmax_with_temperature(logits, 4.0)  # tensor([0.4192, 0.3265, 0.2543])  softer
    """
    # BEGIN SOLUTION: check the temperature, then compute softmax(logits / T) along dim without overflow
    try:
        temperature_value = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}") from None
    if not (math.isfinite(temperature_value) and temperature_value > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    scaled = logits.double() / temperature_value  # in double precision, to be safe
    shifted = scaled - scaled.amax(dim=dim, keepdim=True).detach()
    exponentials = torch.exp(shifted)
    return exponentials / exponentials.sum(dim=dim, keepdim=True)
    # END SOLUTION
