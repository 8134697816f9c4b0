"""ex2 by hand: explicit sums, a Python loop over the rows, no F.kl_div."""

from __future__ import annotations

import math

import torch


def _check(temperature):
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError("temperature must be a positive finite number")


def distillation_loss(student_logits, teacher_logits, temperature=2.0, mask=None):
    _check(temperature)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError("the student's and the teacher's logits differ in shape")
    if mask is not None and mask.shape != student_logits.shape[:-1]:
        raise ValueError("the mask must have the logits' leading dims")
    classes = student_logits.shape[-1]
    student = student_logits.reshape(-1, classes)
    with torch.no_grad():
        teacher = teacher_logits.reshape(-1, classes) / temperature
        log_p = teacher - torch.logsumexp(teacher, dim=-1, keepdim=True)
    keep = torch.ones(student.shape[0], dtype=torch.bool) if mask is None else mask.reshape(-1)
    total = student.new_zeros(())
    count = 0
    for row in range(student.shape[0]):
        if not bool(keep[row]):
            continue
        scaled = student[row] / temperature
        log_q = scaled - torch.logsumexp(scaled, dim=-1)
        total = total + (log_p[row].exp() * (log_p[row] - log_q)).sum()
        count += 1
    if count == 0:
        return student.sum() * 0.0
    return total / count * temperature**2


def student_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5, mask=None):
    if not 0 <= alpha <= 1:
        raise ValueError("alpha must lie in [0, 1]")
    if labels.shape != student_logits.shape[:-1]:
        raise ValueError("labels must have the logits' leading dims")
    soft = distillation_loss(student_logits, teacher_logits, temperature, mask)
    classes = student_logits.shape[-1]
    flat = student_logits.reshape(-1, classes)
    targets = labels.reshape(-1)
    counted = targets != -100
    log_q = flat - torch.logsumexp(flat, dim=-1, keepdim=True)
    picked = log_q[counted].gather(1, targets[counted].unsqueeze(1))
    hard = -picked.sum() / max(int(counted.sum()), 1)
    return alpha * soft + (1 - alpha) * hard
