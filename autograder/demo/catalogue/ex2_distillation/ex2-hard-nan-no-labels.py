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


def distillation_loss(student_logits, teacher_logits, temperature=2.0, mask=None):
    t = _check_temperature(temperature)
    _check_shapes(student_logits, teacher_logits, mask)
    log_q = F.log_softmax(student_logits / t, dim=-1)
    log_p = F.log_softmax(teacher_logits.detach() / t, dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    if mask is None:
        return kl.mean() * t * t
    m = mask.bool()
    return kl[m].sum() / max(int(m.sum()), 1) * t * t



def student_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5, mask=None):
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    if tuple(labels.shape) != tuple(student_logits.shape[:-1]):
        raise ValueError("labels must have the shape of the leading dims")
    soft = distillation_loss(student_logits, teacher_logits, temperature, mask)
    hard = F.cross_entropy(student_logits.flatten(0, -2), labels.flatten(), ignore_index=-100)
    return alpha * soft + (1 - alpha) * hard
