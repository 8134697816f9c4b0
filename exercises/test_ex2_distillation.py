"""Visible checks for ex2 (the distillation loss): `pytest exercises -m ex2`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from .checking import check_raises, check_tensor, describe_call
from .ex2_distillation import distillation_loss, student_loss

pytestmark = pytest.mark.ex2

KL_ARGUMENTS = (
    "Check F.kl_div's arguments: the student's log-probabilities first, the teacher's probabilities second, "
    "both at temperature T."
)


def random_logits(*shape: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def reference_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """The distiller's loss: KL with "batchmean" over (positions, classes), times T**2."""
    num_classes = student.shape[-1]
    log_q_student = F.log_softmax(student.reshape(-1, num_classes) / temperature, dim=-1)
    p_teacher = F.softmax(teacher.reshape(-1, num_classes) / temperature, dim=-1)
    return F.kl_div(log_q_student, p_teacher, reduction="batchmean") * temperature**2


def likely_slip(
    actual: object,
    expected: torch.Tensor,
    temperature: float,
    num_classes: int,
    otherwise: str = KL_ARGUMENTS,
) -> str:
    """Name the common mistake that explains a wrong loss, or say ``otherwise``."""
    if not (isinstance(actual, torch.Tensor) and actual.dim() == 0 and expected.item() != 0):
        return ""
    ratio = actual.item() / expected.item()
    known = [
        (
            1 / num_classes,
            (
                "Did you use reduction='mean'? It also divides by the number of classes; "
                "'batchmean' divides by the number of positions only."
            ),
        ),
    ]
    if temperature != 1.0:
        known += [
            (1 / temperature**2, "Did you multiply the KL by T**2? (Hinton et al. 2015, section 2)"),
            (1 / (num_classes * temperature**2), "Did you use reduction='mean' and forget the T**2?"),
        ]
    for factor, slip in known:
        if abs(ratio - factor) <= 1e-3 * factor:
            return slip
    return otherwise


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_distillation_loss_matches_kl_div_batchmean_times_t_squared(temperature):
    student, teacher = random_logits(8, 10, seed=0), random_logits(8, 10, seed=1)
    expected = reference_loss(student, teacher, temperature)
    actual = distillation_loss(student, teacher, temperature)
    check_tensor(
        actual,
        expected,
        call=describe_call("distillation_loss", student, teacher, temperature=temperature),
        hint=likely_slip(actual, expected, temperature, num_classes=10),
    )


def test_distillation_loss_averages_over_sequence_positions_and_respects_the_mask():
    student, teacher = random_logits(2, 5, 12, seed=2), random_logits(2, 5, 12, seed=3)
    call = describe_call("distillation_loss", student, teacher, temperature=2.0)
    expected = reference_loss(student, teacher, 2.0)
    actual = distillation_loss(student, teacher, 2.0)
    every_position = (
        "Every leading dim is a position: average the KL over batch x sequence, not only the batch."
    )
    check_tensor(actual, expected, call=call, hint=likely_slip(actual, expected, 2.0, 12, every_position))
    mask = torch.tensor([[True, False, True, True, False], [False, False, True, False, False]])
    call = describe_call("distillation_loss", student, teacher, temperature=2.0, mask=mask)
    check_tensor(
        distillation_loss(student, teacher, 2.0, mask=mask),
        reference_loss(student[mask], teacher[mask], 2.0),
        call=call,
        hint="Average over the positions where the mask is True only (here 4 of 10).",
    )
    no_position = torch.zeros(2, 5, dtype=torch.bool)
    check_tensor(
        distillation_loss(student, teacher, 2.0, mask=no_position),
        torch.tensor(0.0),
        call=describe_call("distillation_loss", student, teacher, temperature=2.0, mask=no_position)
        + " with an all-False mask",
        hint="With no position to average over, the loss is 0 (not 0 / 0 = nan).",
    )


def test_distillation_loss_sends_gradient_to_the_student_only():
    student = random_logits(4, 6, seed=4).requires_grad_()
    teacher = random_logits(4, 6, seed=5).requires_grad_()
    call = describe_call("distillation_loss", student, teacher, temperature=3.0)
    distillation_loss(student, teacher, 3.0).backward()
    assert teacher.grad is None or not teacher.grad.any(), (
        f"Called {call} and backward() reached the teacher's logits: the teacher is fixed and only the "
        "student learns. Detach the teacher's logits (teacher_logits.detach())."
    )
    reference_student = student.detach().clone().requires_grad_()
    reference_loss(reference_student, teacher.detach(), 3.0).backward()
    check_tensor(student.grad, reference_student.grad, call=call, what="the student's gradient", rtol=1e-4)


def test_distillation_loss_is_stable_for_large_logits():
    student, teacher = random_logits(3, 8, seed=6, scale=1e3), random_logits(3, 8, seed=7, scale=1e3)
    check_tensor(
        distillation_loss(student, teacher, 1.0),
        reference_loss(student, teacher, 1.0),
        call=describe_call("distillation_loss", student, teacher, temperature=1.0) + " with logits near 1e3",
        rtol=1e-4,
        hint="Use F.log_softmax for the student: log(softmax(...)) gives log(0) = -inf for large logits.",
    )


def test_student_loss_weighs_soft_and_hard_terms():
    student, teacher = random_logits(6, 9, seed=8), random_logits(6, 9, seed=9)
    labels = torch.tensor([1, -100, 8, 0, -100, 4])
    expected = 0.3 * reference_loss(student, teacher, 2.0) + 0.7 * F.cross_entropy(student, labels)
    check_tensor(
        student_loss(student, teacher, labels, temperature=2.0, alpha=0.3),
        expected,
        call=describe_call("student_loss", student, teacher, labels, temperature=2.0, alpha=0.3),
        hint="alpha weighs the soft loss, 1 - alpha the cross-entropy on the raw logits (T = 1), "
        "ignoring labels of -100.",
    )


def test_distillation_loss_rejects_mismatched_shapes_and_bad_temperatures():
    student, teacher = random_logits(4, 10, seed=10), random_logits(4, 11, seed=11)
    check_raises(
        distillation_loss,
        student,
        teacher,
        call=describe_call("distillation_loss", student, teacher),
        why="the student's and the teacher's logits must have the same shape",
    )
    for temperature in (0.0, -2.0, float("nan")):
        check_raises(
            distillation_loss,
            student,
            student,
            temperature,
            call=describe_call("distillation_loss", student, student, temperature=temperature),
            why="a temperature must be a positive finite number",
        )
