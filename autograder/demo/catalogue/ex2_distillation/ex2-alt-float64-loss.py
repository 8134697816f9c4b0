"""ex2: the distillation loss, how a small student learns from a big teacher's soft targets.

The student is trained to match the teacher's softened distribution softmax(teacher / T) with its own
softmax(student / T), measured by the KL divergence, usually mixed with the ordinary cross-entropy on
the true labels (Hinton, Vinyals, Dean 2015, arXiv:1503.02531). DistilBERT trains with this soft-target
loss at T = 2 on every masked-language-model position; removing it costs 2.96 GLUE points, the second
largest loss in its ablation (Sanh et al. 2019, arXiv:1910.01108).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 2.0,
    mask: Tensor | None = None,
) -> Tensor:
    """T**2 times the mean over positions of KL(softmax(teacher / T) || softmax(student / T)).

    Why each piece:

    - **T**: both distributions are softened by the same temperature, so the teacher's small
      probabilities for wrong classes (its dark knowledge) carry weight.
    - **T\\*\\*2**: the gradients of the soft loss scale as 1/T**2, so multiplying by T**2 keeps their size
      independent of T when the temperature is changed or the loss is mixed with a hard one
      (Hinton et al. 2015, section 2).
    - **mean over positions**: in PyTorch terms ``F.kl_div(log_q_student, p_teacher,
      reduction="batchmean")``, which sums the KL over the classes and divides by the number of
      positions. ``reduction="mean"`` would also divide by the number of classes: a loss C times too small.
    - **no gradient to the teacher**: the teacher is fixed; only the student learns. Detach its logits.
    - **log_softmax**, never ``log(softmax(...))``: the latter gives log(0) = -inf for large logits.

    Args:
        student_logits: ``(..., C)`` float tensor; classes on the last dim, every leading dim is a position
            (``(N, C)`` for a batch, ``(B, S, C)`` for batch x sequence).
        teacher_logits: same shape as ``student_logits``.
        temperature: T, a positive finite number.
        mask: optional bool tensor of shape ``(...)`` (the leading dims); only positions where it is True
            count and the mean is over them. A mask with no True position gives 0.

    Returns:
        A 0-d tensor, differentiable with respect to ``student_logits`` only.

    Raises:
        ValueError: if the logits' shapes differ, the mask's shape is not the leading dims, or the
            temperature is not a positive finite number.

    Example::

        student = torch.tensor([[1.0, 0.0]])
        teacher = torch.tensor([[0.0, 1.0]])
        distillation_loss(student, teacher, temperature=1.0)  # tensor(0.4621)
        distillation_loss(student, teacher, temperature=2.0)  # tensor(0.4898) = 2**2 * KL of 0.1224
    """
    # BEGIN SOLUTION: T**2 * mean over (masked) positions of KL(teacher || student), both softened by T
    try:
        temperature_value = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}") from None
    if not (math.isfinite(temperature_value) and temperature_value > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student_logits has shape {tuple(student_logits.shape)} "
            f"but teacher_logits has shape {tuple(teacher_logits.shape)}"
        )
    # In double precision: the loss comes back as float64 (the contract names no dtype for it).
    log_q_student = F.log_softmax(student_logits.double() / temperature_value, dim=-1)
    p_teacher = F.softmax(teacher_logits.detach().double() / temperature_value, dim=-1)
    kl_per_position = F.kl_div(log_q_student, p_teacher, reduction="none").sum(dim=-1)
    if mask is None:
        mean_kl = kl_per_position.mean()
    else:
        if mask.shape != kl_per_position.shape:
            raise ValueError(
                f"mask has shape {tuple(mask.shape)} but the logits' positions have shape "
                f"{tuple(kl_per_position.shape)} (every dim but the last)"
            )
        selected = mask.to(device=kl_per_position.device, dtype=torch.bool)
        count = selected.sum().clamp(min=1)
        mean_kl = kl_per_position[selected].sum() / count
    return mean_kl * temperature_value**2
    # END SOLUTION


def student_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    temperature: float = 2.0,
    alpha: float = 0.5,
    mask: Tensor | None = None,
) -> Tensor:
    """The student's training loss: alpha * soft (distillation) loss + (1 - alpha) * hard (label) loss.

    Hinton et al. (2015) use a weighted average of the two objectives: the soft targets at temperature T
    (already multiplied by T**2, so alpha means the same at every T) and the ordinary cross-entropy with
    the true labels at T = 1, usually with a considerably lower weight on the hard one.

    Args:
        student_logits: ``(..., C)`` float tensor; classes on the last dim.
        teacher_logits: same shape as ``student_logits``.
        labels: ``(...)`` int64 tensor of class ids (the leading dims); -100 marks a position without a
            label (for example an unmasked token in masked language modelling), ignored by the hard loss.
        temperature: T for the soft loss; the hard loss always uses T = 1.
        alpha: weight of the soft loss, in [0, 1].
        mask: passed on to :func:`distillation_loss`.

    Returns:
        A 0-d tensor, differentiable with respect to ``student_logits`` only. When no label counts, the
        hard loss is 0.

    Raises:
        ValueError: for the errors of :func:`distillation_loss`, ``labels`` of the wrong shape, or
            ``alpha`` outside [0, 1].

    Example::

        student = torch.tensor([[1.0, 0.0]])
        teacher = torch.tensor([[0.0, 1.0]])
        labels = torch.tensor([0])
        student_loss(student, teacher, labels, temperature=2.0, alpha=0.5)
        # 0.5 * 0.4898 + 0.5 * 0.3133 = tensor(0.4015)
    """
    # BEGIN SOLUTION: alpha * distillation_loss + (1 - alpha) * cross-entropy at T = 1 (labels -100 ignored)
    try:
        alpha_value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= alpha_value <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if labels.shape != student_logits.shape[:-1]:
        raise ValueError(
            f"labels has shape {tuple(labels.shape)} but student_logits has shape "
            f"{tuple(student_logits.shape)}: labels needs every dim of the logits but the last"
        )
    soft_loss = distillation_loss(student_logits, teacher_logits, temperature, mask)
    num_classes = student_logits.shape[-1]
    flat_labels = labels.reshape(-1).to(device=student_logits.device, dtype=torch.long)
    summed_cross_entropy = F.cross_entropy(
        student_logits.reshape(-1, num_classes), flat_labels, ignore_index=-100, reduction="sum"
    )
    labelled = (flat_labels != -100).sum().clamp(min=1)
    hard_loss = summed_cross_entropy / labelled
    return alpha_value * soft_loss + (1.0 - alpha_value) * hard_loss
    # END SOLUTION
