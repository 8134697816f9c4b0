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
    c = student_logits.shape[-1]
    log_q = torch.log_softmax(student_logits.reshape(-1, c) / t, dim=1)
    with torch.no_grad():
        log_p = torch.log_softmax(teacher_logits.reshape(-1, c) / t, dim=1)
        p = log_p.exp()
    kl = torch.einsum("nc,nc->n", p, log_p) - torch.einsum("nc,nc->n", p, log_q)
    if mask is not None:
        rows = mask.reshape(-1).nonzero().squeeze(1)
        if rows.numel() == 0:
            return (log_q * 0).sum()
        kl = kl.index_select(0, rows)
    return t * t * kl.mean()



def student_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5, mask=None):
    a = float(alpha)
    if math.isnan(a) or a < 0 or a > 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if labels.shape != student_logits.shape[:-1]:
        raise ValueError("labels shape must equal the logits' leading dims")
    soft = distillation_loss(student_logits, teacher_logits, temperature, mask)
    log_probs = torch.log_softmax(student_logits, dim=-1)
    valid = labels != -100
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    nll = -log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    nll = torch.where(valid, nll, torch.zeros_like(nll))
    hard = nll.sum() / valid.sum().clamp(min=1)
    return a * soft + (1 - a) * hard
