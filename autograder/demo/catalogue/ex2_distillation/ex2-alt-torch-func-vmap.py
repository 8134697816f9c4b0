"""ex2: the distillation loss (my submission)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_temperature(temperature):
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return t


def _check_shapes(student_logits, teacher_logits, mask):
    if student_logits.shape != teacher_logits.shape:
        raise ValueError("student and teacher logits must have the same shape")
    if mask is not None and tuple(mask.shape) != tuple(student_logits.shape[:-1]):
        raise ValueError("mask must have the shape of the leading dims")



from torch.func import vmap


def _row_kl(student_row, teacher_row, t):
    log_q = torch.log_softmax(student_row / t, dim=0)
    log_p = torch.log_softmax(teacher_row / t, dim=0)
    return torch.sum(torch.exp(log_p) * (log_p - log_q))


def distillation_loss(student_logits, teacher_logits, temperature=2.0, mask=None):
    t = _check_temperature(temperature)
    _check_shapes(student_logits, teacher_logits, mask)
    c = student_logits.shape[-1]
    kl = vmap(_row_kl, in_dims=(0, 0, None))(student_logits.reshape(-1, c), teacher_logits.detach().reshape(-1, c), t)
    if mask is None:
        return kl.mean() * t**2
    keep = mask.reshape(-1).to(kl.dtype)
    return (kl * keep).sum() / keep.sum().clamp(min=1.0) * t**2


def student_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5, mask=None):
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    if tuple(labels.shape) != tuple(student_logits.shape[:-1]):
        raise ValueError("labels must have the shape of the leading dims")
    soft = distillation_loss(student_logits, teacher_logits, temperature, mask)
    c = student_logits.shape[-1]
    flat_labels = labels.reshape(-1)
    ce = F.cross_entropy(student_logits.reshape(-1, c), flat_labels, ignore_index=-100, reduction="sum")
    n = int((flat_labels != -100).sum())
    hard = ce / n if n > 0 else ce * 0.0
    return alpha * soft + (1 - alpha) * hard
