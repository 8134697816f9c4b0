"""ex1 (softmax with a temperature): the usual slips as formulas of the call's inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .core import Candidate


def softmax_mistakes(logits: Tensor, temperature: float, dim: int = -1) -> list[Candidate]:
    """What the usual slips give for ``softmax_with_temperature(logits, temperature, dim)``."""
    t = float(temperature)
    x = logits.detach().to(torch.float64)
    candidates = []
    if t < 1:
        candidates.append(
            Candidate(
                F.softmax(x, dim),
                f"That is softmax(logits / 1): a temperature below 1 (here {t:g}) was treated as 1 "
                "(clamped, e.g. max(T, 1)) or ignored. T < 1 is allowed: it sharpens the distribution.",
            )
        )
    candidates += [
        Candidate(F.softmax(x, dim), "That is the plain softmax(logits): the temperature was ignored."),
        Candidate(
            F.softmax(x * t, dim),
            "That is softmax(logits * T): the logits must be divided by T (a higher T gives a softer "
            "distribution), not multiplied.",
        ),
        Candidate(
            F.softmax(x / t**2, dim),
            "That is softmax(logits / T**2): divide by T once; the T**2 factor belongs to the distillation "
            "loss (ex2), not to the softmax.",
        ),
    ]
    for other in range(x.dim()) if x.dim() > 1 else ():
        if other != dim % x.dim():
            candidates.append(
                Candidate(
                    F.softmax(x / t, other),
                    f"Those probabilities sum to 1 along dim={other}: normalise along dim={dim}"
                    + (" (the default, the last dim)." if dim == -1 else "."),
                )
            )
    if logits.is_floating_point():
        scaled = logits.detach() / t
        exponentials = torch.exp(scaled)
        candidates.append(
            Candidate(
                exponentials / exponentials.sum(dim, keepdim=True),
                "exp() overflowed: exp(89) is already inf in float32. Subtract the largest logit along dim "
                "before exponentiating; the probabilities do not change.",
            )
        )
        shifted = torch.exp(scaled - scaled.max())
        candidates.append(
            Candidate(
                shifted / shifted.sum(dim, keepdim=True),
                "That subtracted the largest logit of the whole tensor: a row far below it underflows to "
                "0 / 0. Subtract each row's own largest logit (amax along dim, keepdim=True).",
            )
        )
    return candidates
