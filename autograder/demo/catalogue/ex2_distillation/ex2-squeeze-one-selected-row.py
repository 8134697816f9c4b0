"""ex2 (outsider2): flatten, boolean-index the masked rows, F.kl_div batchmean."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _temperature(temperature) -> float:
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
        try:
            temperature = float(temperature)
        except Exception:
            raise ValueError("temperature must be a positive finite number") from None
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError("temperature must be a positive finite number")
    return float(temperature)


def distillation_loss(student_logits, teacher_logits, temperature=2.0, mask=None):
    T = _temperature(temperature)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"shapes differ: {tuple(student_logits.shape)} vs {tuple(teacher_logits.shape)}")
    leading = student_logits.shape[:-1]
    if mask is not None and mask.shape != leading:
        raise ValueError(f"mask must have shape {tuple(leading)}, got {tuple(mask.shape)}")
    C = student_logits.shape[-1]
    s = student_logits.reshape(-1, C)
    t = teacher_logits.detach().reshape(-1, C)
    if mask is not None:
        rows = mask.reshape(-1).bool()
        s = s[rows].squeeze()
        t = t[rows].squeeze()
    if s.shape[0] == 0:
        return s.sum()  # no position counts: 0, still attached to the student
    loss = F.kl_div(
        F.log_softmax(s / T, dim=-1), F.log_softmax(t / T, dim=-1), reduction="batchmean", log_target=True
    )
    return loss * T**2


def student_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5, mask=None):
    if not (0 <= alpha <= 1):
        raise ValueError("alpha must lie in [0, 1]")
    if labels.shape != student_logits.shape[:-1]:
        raise ValueError("labels must have the leading dims' shape")
    soft = distillation_loss(student_logits, teacher_logits, temperature, mask)
    C = student_logits.shape[-1]
    flat = labels.reshape(-1)
    n = (flat != -100).sum()
    hard = F.cross_entropy(student_logits.reshape(-1, C), flat, ignore_index=-100, reduction="sum")
    hard = hard / n.clamp(min=1)
    return alpha * soft + (1 - alpha) * hard
