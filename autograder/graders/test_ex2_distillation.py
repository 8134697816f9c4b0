"""Hidden checks for ex2: ``distillation_loss`` and ``student_loss``.

Reference values come from the KL per position computed with ``F.log_softmax`` in float64 at fixed
seeds (equal to ``F.kl_div(F.log_softmax(s / T), F.softmax(t / T), reduction="batchmean") * T**2`` for
2-D logits) and ``F.cross_entropy``, compared in the input's dtype. Every property is checked on the
paths a learner's code may branch on: default and explicit arguments, T = 1, T < 1 and T > 1, with and
without a mask (through ``distillation_loss`` and through ``student_loss``), 2-D and 3-D, float32 and
float64. A wrong value is named by :mod:`solutions.support.diagnosis` only when it matches a known slip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from autograder.graders.support import (
    check_tensor,
    describe_call,
    expect_accepted,
    expect_scalar_tensor,
    expect_value_error,
    fail,
)
from solutions.support.diagnosis import Candidate, distillation_mistakes, explain, student_loss_mistakes

LOSS = "distillation_loss"
STUDENT = "student_loss"
DEFAULT = object()
"""An argument left out of the call (the function's default must apply)."""
DEFAULT_T = "That is the loss at T = 1: without a temperature argument, the default is temperature=2.0."


@pytest.fixture(scope="module")
def distillation_loss(submission):
    return submission.ex2.distillation_loss


@pytest.fixture(scope="module")
def student_loss(submission):
    return submission.ex2.student_loss


def _logits(*shape: int, seed: int, scale: float = 2.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)


def _mask(*shape: int, seed: int, share: float = 0.5) -> torch.Tensor:
    mask = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < share
    mask.view(-1)[0] = True
    return mask


def _kl_per_position(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(teacher / T) || softmax(student / T)) per position, in float64."""
    log_q = F.log_softmax(student.detach().double() / temperature, -1)
    log_p = F.log_softmax(teacher.detach().double() / temperature, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def reference(
    student, teacher, temperature: float, mask=None, *, differentiable: bool = False
) -> torch.Tensor:
    """The contract's loss in the student's dtype: T**2 * mean over (masked) positions of the KL."""
    if differentiable:
        log_q = F.log_softmax(student.double() / temperature, -1)
        log_p = F.log_softmax(teacher.detach().double() / temperature, -1)
        kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    else:
        kl = _kl_per_position(student, teacher, temperature)
    if mask is not None:
        kl = kl[mask.bool()]
    if kl.numel() == 0:
        return torch.zeros((), dtype=student.dtype)
    return (kl.mean() * temperature**2).to(student.dtype)


def _hard_loss(student, labels) -> torch.Tensor:
    """Cross-entropy at T = 1 over the labelled positions (0 when none is labelled), float64."""
    flat = student.detach().double().reshape(-1, student.shape[-1])
    flat_labels = labels.reshape(-1)
    counted = flat_labels != -100
    if not bool(counted.any()):
        return torch.zeros((), dtype=torch.float64)
    return F.cross_entropy(flat[counted], flat_labels[counted])


def student_reference(student, teacher, labels, temperature, alpha, mask=None) -> torch.Tensor:
    soft = reference(student.double(), teacher.double(), temperature, mask)
    return (alpha * soft + (1 - alpha) * _hard_loss(student, labels)).to(student.dtype)


def _tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """``(rtol, atol)`` for a loss computed in ``dtype``."""
    return (1e-4, 1e-6) if dtype == torch.float32 else (1e-9, 1e-12)


def _fail_if_not_finite(value, expected: torch.Tensor, call: str, hint: Callable[[], str]) -> None:
    """A loss of nan or inf, with the slip that explains it when one does."""
    if type(value) is torch.Tensor and value.dim() == 0 and not bool(torch.isfinite(value)):
        fail(f"Called {call} and got {value.item()}; the expected value is {expected.item():.4g}. {hint()}")


def _check_loss(
    distillation_loss,
    student,
    teacher,
    temperature: Any = DEFAULT,
    *,
    mask=None,
    positional: bool = False,
):
    """Call ``distillation_loss`` as given (a left-out temperature means the default 2.0) and compare."""
    t = 2.0 if temperature is DEFAULT else float(temperature)
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    if positional:
        args, kwargs = (student, teacher, temperature), {}
    else:
        args = (student, teacher)
        kwargs = {} if temperature is DEFAULT else {"temperature": temperature}
    if mask is not None:
        kwargs["mask"] = mask
    call = describe_call(LOSS, *args, **kwargs)
    value = distillation_loss(*args, **kwargs)
    expected = reference(student, teacher, t, mask)

    def hint() -> str:  # worked out only for a failed check
        candidates = distillation_mistakes(student, teacher, t, mask)
        if temperature is DEFAULT:
            candidates.insert(0, Candidate(reference(student, teacher, 1.0, mask), DEFAULT_T))
        return explain(value, candidates, "ex2.mask" if mask is not None else "ex2.loss", expected=expected)

    _fail_if_not_finite(value, expected, call, hint)
    expect_scalar_tensor(value, call=call, dtype=None)  # the contract names no dtype for the loss
    value = value.to(expected.dtype)  # (hint() reads this one too)
    rtol, atol = _tolerances(student.dtype)
    check_tensor(value, expected, call=call, hint=hint, rtol=rtol, atol=atol)


@pytest.mark.points(2)
def test_distillation_loss_matches_kl_batchmean(distillation_loss):
    student, teacher = _logits(8, 10, seed=1), _logits(8, 10, seed=2)
    _check_loss(distillation_loss, student, teacher)
    _check_loss(distillation_loss, student, teacher, 3.0)
    _check_loss(distillation_loss, student, teacher, 3.0, positional=True)


@pytest.mark.points(2)
def test_distillation_loss_direction_is_teacher_to_student(distillation_loss):
    student = _logits(6, 5, seed=3, scale=1.0)
    teacher = _logits(6, 5, seed=4, scale=4.0)
    for temperature in (1.0, 2.0):
        _check_loss(distillation_loss, student, teacher, temperature)


@pytest.mark.points(2)
def test_distillation_loss_scales_with_temperature_squared(distillation_loss):
    student, teacher = _logits(8, 10, seed=5, scale=6.0), _logits(8, 10, seed=6, scale=6.0)
    for temperature in (1.0, 4.0, 8.0, 0.5, 0.25):
        _check_loss(distillation_loss, student, teacher, temperature)


@pytest.mark.points(2)
def test_distillation_loss_averages_over_every_position(distillation_loss):
    for shape, temperature in (((3, 50), 2.0), ((16, 4), 2.0), ((2, 6, 9), 2.0), ((2, 3, 2, 5), 1.0)):
        student, teacher = _logits(*shape, seed=7), _logits(*shape, seed=8)
        _check_loss(distillation_loss, student, teacher, temperature)
    for shape in ((5, 7), (2, 4, 6)):
        student = _logits(*shape, seed=26, dtype=torch.float64)
        teacher = _logits(*shape, seed=27, dtype=torch.float64)
        _check_loss(distillation_loss, student, teacher, 2.0)


@pytest.mark.points(1)
def test_distillation_loss_softens_the_teacher_too(distillation_loss):
    student, teacher = _logits(8, 10, seed=9), _logits(8, 10, seed=10, scale=5.0)
    for temperature in (4.0, 0.5):
        _check_loss(distillation_loss, student, teacher, temperature)


@pytest.mark.points(2)
def test_distillation_loss_stable_for_large_logits(distillation_loss):
    student = _logits(4, 10, seed=11, scale=1000.0)
    teacher = _logits(4, 10, seed=12, scale=1000.0)
    for temperature in (1.0, 2.0, 0.5):
        _check_loss(distillation_loss, student, teacher, temperature)
    student3, teacher3 = _logits(2, 3, 10, seed=11, scale=1000.0), _logits(2, 3, 10, seed=12, scale=1000.0)
    _check_loss(distillation_loss, student3, teacher3, 2.0, mask=_mask(2, 3, seed=28))


def _check_gradient(function, name: str, student, teacher, temperature: float, *, extra=None, mask=None):
    """Call with requires_grad logits; check the student's gradient and that the teacher gets none."""
    sent_student = student.clone().requires_grad_()
    sent_teacher = teacher.clone().requires_grad_()
    kwargs = {"teacher_logits": sent_teacher, **(extra or {}), "temperature": temperature}
    if mask is not None:
        kwargs["mask"] = mask
    call = describe_call(name, sent_student, **kwargs)
    result = function.call(sent_student, backward=True, **kwargs)
    expect_scalar_tensor(result.value, call=call, dtype=None)
    student_gradient = result.grads.get("arg0")
    if not result.result_requires_grad or student_gradient is None:
        fail(
            f"Called {call} with requires_grad=True logits and no gradient reached the student: the loss is "
            "cut off from the autograd graph. Stay in torch (no .item(), numpy or torch.tensor(...) on "
            "intermediate values) and do not detach the student."
        )
    teacher_gradient = result.grads.get("kw:teacher_logits")
    if teacher_gradient is not None and bool((teacher_gradient != 0).any()):
        fail(
            f"Called {call} and the loss sent a gradient into teacher_logits (largest entry "
            f"{teacher_gradient.abs().max().item():.3g}). The teacher is fixed; only the student learns: "
            "use teacher_logits.detach() (or compute the teacher's probabilities under torch.no_grad())."
        )
    return call, student_gradient


@pytest.mark.points(2)
def test_distillation_loss_gradient_reaches_student_not_teacher(distillation_loss, student_loss):
    for shape, temperature, mask in (((6, 8), 2.0, None), ((2, 3, 8), 1.0, _mask(2, 3, seed=29))):
        student, teacher = _logits(*shape, seed=13), _logits(*shape, seed=14)
        call, gradient = _check_gradient(distillation_loss, LOSS, student, teacher, temperature, mask=mask)
        reference_student = student.clone().requires_grad_()
        reference(reference_student, teacher, temperature, mask, differentiable=True).backward()
        check_tensor(
            gradient,
            reference_student.grad,
            call=call,
            what="the gradient of student_logits",
            rtol=1e-4,
            atol=1e-7,
        )
    student, teacher = _logits(6, 8, seed=13), _logits(6, 8, seed=14)
    labels = torch.randint(0, 8, (6,), generator=torch.Generator().manual_seed(30))
    _check_gradient(student_loss, STUDENT, student, teacher, 2.0, extra={"labels": labels})


@pytest.mark.points(2)
def test_distillation_loss_mask_selects_positions(distillation_loss):
    student, teacher = _logits(3, 5, 7, seed=15), _logits(3, 5, 7, seed=16)
    for temperature in (2.0, 1.0):
        _check_loss(distillation_loss, student, teacher, temperature, mask=_mask(3, 5, seed=17))
    flat_student, flat_teacher = _logits(8, 10, seed=31), _logits(8, 10, seed=32)
    _check_loss(distillation_loss, flat_student, flat_teacher, 3.0, mask=_mask(8, seed=33))
    _check_loss(distillation_loss, flat_student, flat_teacher, mask=torch.ones(8, dtype=torch.bool))
    one_position = torch.zeros(3, 5, dtype=torch.bool)
    one_position[1, 3] = True
    _check_loss(distillation_loss, student, teacher, 2.0, mask=one_position)

    no_position = torch.zeros(3, 5, dtype=torch.bool)
    call = describe_call(LOSS, student, teacher, temperature=2.0, mask=no_position)
    value = distillation_loss(student, teacher, temperature=2.0, mask=no_position)
    if type(value) is torch.Tensor and value.dim() == 0 and not bool(torch.isfinite(value)):
        fail(
            f"Called {call} and got {value.item()}; a mask with no True position gives 0 (not nan): "
            "divide the sum by max(count, 1)."
        )
    expect_scalar_tensor(value, call=call, dtype=None)
    check_tensor(
        value.to(torch.float32),
        torch.zeros(()),
        call=call,
        atol=1e-7,
        hint="A mask with no True position gives 0 (not nan): divide by max(count, 1).",
    )


def _check_student_loss(
    student_loss,
    student,
    teacher,
    labels,
    temperature: Any = DEFAULT,
    alpha: Any = DEFAULT,
    *,
    mask=None,
):
    t = 2.0 if temperature is DEFAULT else float(temperature)
    a = 0.5 if alpha is DEFAULT else float(alpha)
    kwargs: dict[str, Any] = {}
    if temperature is not DEFAULT:
        kwargs["temperature"] = temperature
    if alpha is not DEFAULT:
        kwargs["alpha"] = alpha
    if mask is not None:
        kwargs["mask"] = mask
    call = describe_call(STUDENT, student, teacher, labels, **kwargs)
    value = student_loss(student, teacher, labels, **kwargs)
    expected = student_reference(student, teacher, labels, t, a, mask)

    def hint() -> str:  # worked out only for a failed check
        candidates = student_loss_mistakes(student, teacher, labels, t, a, mask)
        if temperature is DEFAULT:
            reference_at_1 = student_reference(student, teacher, labels, 1.0, a, mask)
            candidates.insert(0, Candidate(reference_at_1, DEFAULT_T))
        return explain(value, candidates, "ex2.student", expected=expected)

    _fail_if_not_finite(value, expected, call, hint)
    expect_scalar_tensor(value, call=call, dtype=None)  # the contract names no dtype for the loss
    value = value.to(expected.dtype)  # (hint() reads this one too)
    rtol, atol = _tolerances(student.dtype)
    check_tensor(value, expected, call=call, hint=hint, rtol=rtol, atol=atol)


@pytest.mark.points(2)
def test_student_loss_weights_soft_and_hard_losses_by_alpha(student_loss):
    student, teacher = _logits(8, 10, seed=20), _logits(8, 10, seed=21, scale=4.0)
    labels = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(22))
    for alpha in (0.0, 1.0, 0.3):
        _check_student_loss(student_loss, student, teacher, labels, 3.0, alpha)
    _check_student_loss(student_loss, student, teacher, labels)
    _check_student_loss(student_loss, student, teacher, labels, 0.5, 0.7)


@pytest.mark.points(1)
def test_student_loss_hard_term_at_temperature_one_ignoring_minus_100(student_loss):
    student, teacher = _logits(2, 6, 10, seed=23), _logits(2, 6, 10, seed=24, scale=4.0)
    labels = torch.randint(0, 10, (2, 6), generator=torch.Generator().manual_seed(25))
    labels[0, :3] = -100
    labels[1, 4] = -100
    for temperature, alpha in ((4.0, 0.0), (4.0, 0.5), (1.0, 0.25)):
        _check_student_loss(student_loss, student, teacher, labels, temperature, alpha)
    nothing_labelled = torch.full((2, 6), -100)
    _check_student_loss(student_loss, student, teacher, nothing_labelled, 2.0, 0.5)
    one_labelled = torch.full((2, 6), -100)
    one_labelled[1, 2] = 7
    _check_student_loss(student_loss, student, teacher, one_labelled, 2.0, 0.5)
    student64, teacher64 = student.double(), teacher.double()
    _check_student_loss(student_loss, student64, teacher64, labels, 2.0, 0.5)


@pytest.mark.points(1)
def test_student_loss_passes_the_mask_on(student_loss):
    student, teacher = _logits(3, 5, 7, seed=34), _logits(3, 5, 7, seed=35, scale=3.0)
    labels = torch.randint(0, 7, (3, 5), generator=torch.Generator().manual_seed(36))
    labels[2, :2] = -100
    mask = _mask(3, 5, seed=37)
    for temperature, alpha in ((2.0, 0.5), (1.0, 0.8)):
        _check_student_loss(student_loss, student, teacher, labels, temperature, alpha, mask=mask)
    flat_student, flat_teacher = _logits(8, 6, seed=38), _logits(8, 6, seed=39)
    flat_labels = torch.randint(0, 6, (8,), generator=torch.Generator().manual_seed(40))
    _check_student_loss(student_loss, flat_student, flat_teacher, flat_labels, mask=_mask(8, seed=41))


@pytest.mark.points(1)
@pytest.mark.requires(
    "test_distillation_loss_matches_kl_batchmean", "test_student_loss_weights_soft_and_hard_losses_by_alpha"
)
def test_losses_reject_bad_arguments(distillation_loss, student_loss):
    student, teacher = _logits(4, 6, seed=42), _logits(4, 6, seed=43)
    labels = torch.randint(0, 6, (4,), generator=torch.Generator().manual_seed(44))
    student3, teacher3 = _logits(2, 6, 5, seed=45), _logits(2, 6, 5, seed=46)
    problems = []
    cases = [
        (distillation_loss, LOSS, (student, _logits(4, 5, seed=43)), {}, "the logits' shapes differ"),
        (distillation_loss, LOSS, (_logits(4, 5, seed=42), teacher), {}, "the logits' shapes differ"),
        (student_loss, STUDENT, (student, _logits(4, 5, seed=43), labels), {}, "the logits' shapes differ"),
        (student_loss, STUDENT, (_logits(4, 5, seed=42), teacher, labels), {}, "the logits' shapes differ"),
        (distillation_loss, LOSS, (student, teacher), {"mask": torch.ones(6, dtype=torch.bool)},
         "the mask's shape is not the leading dims (4,)"),
        (student_loss, STUDENT, (student, teacher, labels[:3]), {}, "labels of the wrong shape"),
        (student_loss, STUDENT, (student, teacher, labels.reshape(2, 2)), {},
         "labels of shape (2, 2), not the leading dims (4,)"),
        (distillation_loss, LOSS, (student, teacher), {"mask": torch.ones(2, 2, dtype=torch.bool)},
         "a mask of shape (2, 2), not the leading dims (4,)"),
        (student_loss, STUDENT, (student3, teacher3, torch.zeros(12, dtype=torch.long)), {},
         "labels of shape (12,), not the leading dims (2, 6)"),
        (student_loss, STUDENT, (student, teacher, labels), {"alpha": 1.5}, "alpha lies outside [0, 1]"),
        (student_loss, STUDENT, (student, teacher, labels), {"alpha": -0.1}, "alpha lies outside [0, 1]"),
        (student_loss, STUDENT, (student, teacher, labels), {"temperature": 0.0}, "a temperature of 0"),
    ]  # fmt: skip
    for temperature, why in (
        (0.0, "a temperature of 0 divides by zero"),
        (-1.0, "a negative temperature"),
        (math.nan, "nan is not a number"),
        (math.inf, "an infinite temperature is not finite"),
    ):
        cases.append((distillation_loss, LOSS, (student, teacher), {"temperature": temperature}, why))
    for function, name, args, kwargs, why in cases:
        call = describe_call(name, *args, **kwargs)
        problem = expect_value_error(function, *args, call=call, why=why, **kwargs)
        if problem:
            problems.append(problem)
    # Ints are numbers too: a check for float refuses temperature=2 or alpha=1.
    refused = []
    accepted = [
        (distillation_loss, LOSS, (student, teacher), {"temperature": 2}),
        (student_loss, STUDENT, (student, teacher, labels), {"temperature": 3, "alpha": 1}),
    ]
    for function, name, args, kwargs in accepted:
        call = describe_call(name, *args, **kwargs)
        why = "an int temperature or alpha is a number in range too"
        problem = expect_accepted(function, *args, call=call, why=why, **kwargs)
        if problem:
            refused.append(problem)
    if problems:
        fail(" ".join(problems[:4]) + " Check the arguments first and raise ValueError naming the problem.")
    if refused:
        fail(
            " ".join(refused)
            + " Accept every number in range, whatever its type (math.isfinite(T) and T > 0, and "
            "0 <= alpha <= 1)."
        )
