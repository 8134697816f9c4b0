"""ex2 (the distillation loss): the usual slips as formulas of the call's inputs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .core import HINTON, Candidate


def _kl_per_position(student: Tensor, teacher: Tensor, t_student: float, t_teacher: float) -> Tensor:
    """KL(softmax(teacher / t_teacher) || softmax(student / t_student)) per position, float64."""
    log_q = F.log_softmax(student.detach().double() / t_student, -1)
    log_p = F.log_softmax(teacher.detach().double() / t_teacher, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def _cross_entropy_per_position(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """sum(-softmax(teacher / T) * log_softmax(student / T)) per position, float64."""
    log_q = F.log_softmax(student.detach().double() / temperature, -1)
    p = F.softmax(teacher.detach().double() / temperature, -1)
    return -(p * log_q).sum(-1)


def _masked_mean(per_position: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return per_position.mean()
    chosen = per_position[mask.bool()]
    return chosen.sum() / max(chosen.numel(), 1)


def distillation_mistakes(
    student: Tensor, teacher: Tensor, temperature: float, mask: Tensor | None = None
) -> list[Candidate]:
    """What the usual slips give for ``distillation_loss(student, teacher, temperature, mask)``."""
    t = float(temperature)
    classes = student.shape[-1]
    positions = student.numel() // max(classes, 1)
    kl = _kl_per_position(student, teacher, t, t)
    mean = _masked_mean(kl, mask)
    per_element = (
        f"That is {classes} times too small, one factor per class: reduction='mean' divides by every "
        "element (positions x classes). Sum the KL over the classes and average over the positions "
        "(reduction='batchmean')."
    )
    if mask is not None and int(mask.bool().sum()) == 1:
        per_element = (
            f"That is {classes} times too small, one factor per class. With one position selected, two slips "
            "give this number: reduction='mean' (it divides by every element, positions x classes), or the "
            "selected rows lost their position dim (a .squeeze() on one row leaves a 1-D tensor, whose "
            "length batchmean then divides by: the number of classes). Keep the (positions, classes) shape "
            "and use reduction='batchmean'."
        )
    candidates = [
        Candidate(
            _masked_mean(_kl_per_position(teacher, student, t, t), mask) * t**2,
            "That is KL(student || teacher), the reversed direction. The loss is KL(teacher || student): "
            "F.kl_div(log_softmax(student / T), softmax(teacher / T)) takes the student's "
            "LOG-probabilities first and the teacher's probabilities second.",
        ),
        Candidate(mean, f"That is the KL without the T**2 factor. Did you multiply the KL by T**2? {HINTON}"),
        Candidate(
            mean * t,
            "That is the KL times T, not T**2: the soft gradients scale as 1/T**2, so multiply by "
            f"T**2. {HINTON}",
        ),
        Candidate(mean * t**2 / classes, per_element),
        Candidate(
            _masked_mean(_kl_per_position(student, teacher, t, 1.0), mask) * t**2,
            "That uses the teacher's probabilities at T = 1: soften the teacher with the same temperature "
            f"as the student, softmax(teacher / T). {HINTON}",
        ),
        Candidate(
            _masked_mean(_kl_per_position(student, teacher, 1.0, t), mask) * t**2,
            "That uses the student's probabilities at T = 1: soften the student with the same temperature "
            "as the teacher, log_softmax(student / T).",
        ),
        Candidate(
            _masked_mean(_kl_per_position(student, teacher, 1.0, 1.0), mask) * t**2,
            "That is the KL at T = 1 times T**2: divide both sets of logits by T before the softmax.",
        ),
        Candidate(
            _masked_mean(_cross_entropy_per_position(student, teacher, t), mask) * t**2,
            "That is the cross-entropy with the teacher's probabilities, sum(-p log q): the KL plus the "
            "teacher's entropy. The loss is the KL, sum(p (log p - log q)).",
        ),
    ]
    if t < 1:
        clamped = max(t, 1.0)
        candidates.append(
            Candidate(
                _masked_mean(_kl_per_position(student, teacher, clamped, clamped), mask) * clamped**2,
                f"That is the loss at T = 1: a temperature below 1 (here {t:g}) was treated as 1. T < 1 is "
                "allowed: use the temperature given.",
            )
        )
    if mask is None:
        candidates.append(
            Candidate(
                kl.sum() * t**2,
                f"That is the sum over the {positions} positions, not the mean: divide by the number of "
                "positions (reduction='batchmean').",
            )
        )
        if student.dim() > 2:
            batch = student.shape[0]
            candidates.append(
                Candidate(
                    kl.sum() * t**2 / batch,
                    f"That divides by the batch size ({batch}) only: every leading dim is a position, so "
                    f"average over all {positions} positions (flatten to (positions, classes) first).",
                )
            )
    else:
        selected = mask.bool()
        count = int(selected.sum())
        candidates += [
            Candidate(
                kl.mean() * t**2,
                "That is the loss over every position: the mask was ignored.",
            ),
            Candidate(
                (kl * selected).sum() / selected.numel() * t**2,
                f"Only positions where mask is True count, and the mean is over those positions ({count} "
                f"here), not over all {selected.numel()}.",
            ),
            Candidate(
                (kl * selected).sum() * t**2,
                "That is the sum over the masked positions: divide by how many there are.",
            ),
            Candidate(
                _masked_mean(kl, ~selected) * t**2,
                "That is the mean over the positions where mask is False: the mask was inverted. Keep the "
                "positions where it is True.",
            ),
        ]
        if count == 0:
            candidates.append(
                Candidate(
                    torch.tensor(math.nan, dtype=torch.float64),
                    "A mask with no True position gives 0 (not nan): divide the sum by max(count, 1).",
                )
            )
    if student.is_floating_point():
        with torch.no_grad():
            p = F.softmax(teacher.detach() / t, -1)
            log_q = torch.log(F.softmax(student.detach() / t, -1))
            naive = F.kl_div(log_q, p, reduction="none").sum(-1)
        candidates.append(
            Candidate(
                _masked_mean(naive.double(), mask) * t**2,
                "log(softmax(x)) gives log(0) = -inf once a probability underflows; use F.log_softmax for "
                "the student (it subtracts the largest logit), never torch.log of a softmax.",
            )
        )
    return candidates


def student_loss_mistakes(
    student: Tensor,
    teacher: Tensor,
    labels: Tensor,
    temperature: float,
    alpha: float,
    mask: Tensor | None = None,
) -> list[Candidate]:
    """What the usual slips give for ``student_loss(student, teacher, labels, temperature, alpha, mask)``."""
    t = float(temperature)
    classes = student.shape[-1]
    flat = student.detach().double().reshape(-1, classes)
    flat_labels = labels.reshape(-1)
    counted = flat_labels != -100

    def cross_entropy(logits: Tensor, keep: Tensor) -> Tensor:
        if not bool(keep.any()):
            return logits.new_zeros(())
        return F.cross_entropy(logits[keep], flat_labels[keep])

    soft = _masked_mean(_kl_per_position(student, teacher, t, t), mask) * t**2
    hard = cross_entropy(flat, counted)
    candidates = [
        Candidate(
            (1 - alpha) * soft + alpha * hard,
            "alpha weighs the soft (distillation) loss and 1 - alpha the hard one; the weights are swapped.",
        ),
        Candidate(
            alpha * soft + (1 - alpha) * cross_entropy(flat / t, counted),
            "The hard loss is the ordinary cross-entropy at T = 1: do not divide the logits by T there.",
        ),
        Candidate(
            alpha * soft + (1 - alpha) * hard * t**2,
            "Only the soft loss carries the T**2 factor; the hard cross-entropy is used as it is.",
        ),
        Candidate(
            alpha * soft / t**2 + (1 - alpha) * hard,
            "The soft term lacks its T**2: distillation_loss returns the KL already multiplied by T**2, "
            "and student_loss uses it as it is (no T**2 in distillation_loss, or a division by T**2 here, "
            "gives this).",
        ),
        Candidate(
            soft + hard, "It is a weighted average: alpha * soft + (1 - alpha) * hard, not the plain sum."
        ),
        Candidate(
            alpha * soft + (1 - alpha) * F.cross_entropy(flat, flat_labels.clamp(min=0)),
            "Labels of -100 mark positions without a label: leave them out of the hard loss "
            "(F.cross_entropy's ignore_index=-100 does).",
        ),
    ]
    if mask is None and student.dim() > 2:
        batch, positions = student.shape[0], flat.shape[0]
        candidates.append(
            Candidate(
                alpha * soft * positions / batch + (1 - alpha) * hard,
                f"The soft term is {positions // batch} times too big: its KL is divided by the batch size "
                f"({batch}) only. In distillation_loss every leading dim is a position, so average over all "
                f"{positions} positions (flatten to (positions, classes) first).",
            )
        )
    if mask is not None:
        selected = mask.reshape(-1).bool()
        candidates += [
            Candidate(
                alpha * _kl_per_position(student, teacher, t, t).mean() * t**2 + (1 - alpha) * hard,
                "The mask was not passed on to distillation_loss: the soft loss counts only the positions "
                "where mask is True.",
            ),
            Candidate(
                alpha * soft + (1 - alpha) * cross_entropy(flat, counted & selected),
                "The mask applies to the soft (distillation) loss only; the hard loss counts every labelled "
                "position (labels of -100 already mark the others).",
            ),
        ]
    if not bool(counted.any()):
        candidates.append(
            Candidate(
                torch.tensor(math.nan, dtype=torch.float64),
                "No label counts here (all are -100): the hard loss is then 0, not nan (a mean of nothing).",
            )
        )
    return candidates
