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
    raise ValueError("temperature must be a positive finite number")



def student_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5, mask=None):
    raise ValueError("alpha must be in [0, 1]")
