"""Visible checks for ex2 (the distillation loss): `pytest exercises -m ex2`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from .ex2_distillation import distillation_loss, student_loss
from .support.checking import check_raises, check_tensor, describe_call
from .support.diagnosis import distillation_mistakes, explain, student_loss_mistakes

pytestmark = pytest.mark.ex2


def random_logits(*shape: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def reference_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """The distiller's loss: KL with "batchmean" over (positions, classes), times T**2."""
    num_classes = student.shape[-1]
    log_q_student = F.log_softmax(student.reshape(-1, num_classes) / temperature, dim=-1)
    p_teacher = F.softmax(teacher.reshape(-1, num_classes) / temperature, dim=-1)
    return F.kl_div(log_q_student, p_teacher, reduction="batchmean") * temperature**2


def named_slip(actual, expected, student, teacher, temperature, mask=None, contract="ex2.loss"):
    """A function naming the slip that gives ``actual`` (or the contract's sentence), for check_tensor."""
    return lambda: explain(
        actual, distillation_mistakes(student, teacher, temperature, mask), contract, expected=expected
    )


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_distillation_loss_matches_kl_div_batchmean_times_t_squared(temperature):
    student, teacher = random_logits(8, 10, seed=0), random_logits(8, 10, seed=1)
    expected = reference_loss(student, teacher, temperature)
    actual = distillation_loss(student, teacher, temperature)
    check_tensor(
        actual,
        expected,
        call=describe_call("distillation_loss", student, teacher, temperature=temperature),
        hint=named_slip(actual, expected, student, teacher, temperature),
    )


def test_distillation_loss_averages_over_sequence_positions_and_respects_the_mask():
    student, teacher = random_logits(2, 5, 12, seed=2), random_logits(2, 5, 12, seed=3)
    call = describe_call("distillation_loss", student, teacher, temperature=2.0)
    expected = reference_loss(student, teacher, 2.0)
    actual = distillation_loss(student, teacher, 2.0)
    check_tensor(actual, expected, call=call, hint=named_slip(actual, expected, student, teacher, 2.0))
    mask = torch.tensor([[True, False, True, True, False], [False, False, True, False, False]])
    call = describe_call("distillation_loss", student, teacher, temperature=2.0, mask=mask)
    actual = distillation_loss(student, teacher, 2.0, mask=mask)
    expected = reference_loss(student[mask], teacher[mask], 2.0)
    check_tensor(
        actual,
        expected,
        call=call,
        hint=named_slip(actual, expected, student, teacher, 2.0, mask, contract="ex2.mask"),
    )
    no_position = torch.zeros(2, 5, dtype=torch.bool)
    actual = distillation_loss(student, teacher, 2.0, mask=no_position)
    check_tensor(
        actual,
        torch.tensor(0.0),
        call=describe_call("distillation_loss", student, teacher, temperature=2.0, mask=no_position)
        + " with an all-False mask",
        hint=named_slip(actual, torch.tensor(0.0), student, teacher, 2.0, no_position, contract="ex2.mask"),
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
    actual, expected = distillation_loss(student, teacher, 1.0), reference_loss(student, teacher, 1.0)
    check_tensor(
        actual,
        expected,
        call=describe_call("distillation_loss", student, teacher, temperature=1.0) + " with logits near 1e3",
        rtol=1e-4,
        hint=named_slip(actual, expected, student, teacher, 1.0),
    )


def test_student_loss_weighs_soft_and_hard_terms():
    student, teacher = random_logits(6, 9, seed=8), random_logits(6, 9, seed=9)
    labels = torch.tensor([1, -100, 8, 0, -100, 4])
    expected = 0.3 * reference_loss(student, teacher, 2.0) + 0.7 * F.cross_entropy(student, labels)
    actual = student_loss(student, teacher, labels, temperature=2.0, alpha=0.3)
    check_tensor(
        actual,
        expected,
        call=describe_call("student_loss", student, teacher, labels, temperature=2.0, alpha=0.3),
        hint=lambda: explain(
            actual,
            student_loss_mistakes(student, teacher, labels, 2.0, 0.3),
            "ex2.student",
            expected=expected,
        ),
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
