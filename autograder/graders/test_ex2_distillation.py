"""Hidden checks for ex2: ``distillation_loss`` and ``student_loss``.

Reference values come from ``F.kl_div(F.log_softmax(s / T), F.softmax(t / T), reduction="batchmean")
* T**2`` and ``F.cross_entropy`` at fixed seeds, computed in float64 and compared in float32.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autograder.graders.support import (
    check_tensor,
    describe_call,
    diagnose,
    expect_scalar_tensor,
    fail,
)

LOSS = "distillation_loss"
STUDENT = "student_loss"
HINTON = "(Hinton et al. 2015, section 2)"


@pytest.fixture(scope="module")
def distillation_loss(submission):
    return submission.ex2.distillation_loss


@pytest.fixture(scope="module")
def student_loss(submission):
    return submission.ex2.student_loss


def _logits(*shape: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).float()


def _kl_per_position(student: torch.Tensor, teacher: torch.Tensor, t_student: float, t_teacher: float):
    """KL(softmax(teacher / t_teacher) || softmax(student / t_student)) per position, in float64."""
    log_q = F.log_softmax(student.double() / t_student, -1)
    log_p = F.log_softmax(teacher.double() / t_teacher, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def reference(student, teacher, temperature: float, mask=None) -> torch.Tensor:
    """The contract's loss: T**2 * mean over (masked) positions of KL(teacher || student), float32."""
    kl = _kl_per_position(student, teacher, temperature, temperature)
    if mask is not None:
        kl = kl[mask]
        if kl.numel() == 0:
            return torch.zeros((), dtype=torch.float32)
    return (kl.mean() * temperature**2).float()


def mistakes(student, teacher, temperature: float) -> list[tuple[torch.Tensor, str]]:
    """The values the usual slips give for an unmasked call, each with the sentence naming the slip."""
    t = temperature
    positions = student.numel() // student.shape[-1]
    classes = student.shape[-1]
    batch = student.shape[0]
    kl = _kl_per_position(student, teacher, t, t)
    reversed_kl = _kl_per_position(teacher, student, t, t)
    candidates = [
        (
            reversed_kl.mean() * t**2,
            (
                "That is KL(student || teacher), the reversed direction. The loss is KL(teacher || student): "
                "F.kl_div(log_softmax(student / T), softmax(teacher / T)) takes the student's "
                "LOG-probabilities first and the teacher's probabilities second."
            ),
        ),
        (
            kl.mean(),
            f"That is the KL without the T**2 factor. Did you multiply the KL by T**2? {HINTON}",
        ),
        (
            kl.mean() * t,
            (
                "That is the KL times T, not T**2: the soft gradients scale as 1/T**2, so multiply by "
                f"T**2. {HINTON}"
            ),
        ),
        (
            kl.mean() * t**2 / classes,
            (
                f"That is {classes} times too small, one factor per class: reduction='mean' divides by every "
                "element (positions x classes). Sum the KL over the classes and average over the positions "
                "(reduction='batchmean')."
            ),
        ),
        (
            kl.sum() * t**2,
            (
                f"That is the sum over the {positions} positions, not the mean: divide by the number of "
                "positions (reduction='batchmean')."
            ),
        ),
        (
            _kl_per_position(student, teacher, t, 1.0).mean() * t**2,
            (
                "That uses the teacher's probabilities at T = 1: soften the teacher with the same "
                f"temperature as the student, softmax(teacher / T). {HINTON}"
            ),
        ),
        (
            _kl_per_position(student, teacher, 1.0, t).mean() * t**2,
            (
                "That uses the student's probabilities at T = 1: soften the student with the same "
                "temperature as the teacher, log_softmax(student / T)."
            ),
        ),
        (
            _kl_per_position(student, teacher, 1.0, 1.0).mean() * t**2,
            "That is the KL at T = 1 times T**2: divide both sets of logits by T before the softmax.",
        ),
    ]
    if student.dim() > 2:
        candidates.append(
            (
                kl.sum() * t**2 / batch,
                (
                    f"That divides by the batch size ({batch}) only: every leading dim is a position, so "
                    f"average over all {positions} positions (flatten to (positions, classes) first)."
                ),
            )
        )
    return [(value.float(), sentence) for value, sentence in candidates]


def _check_loss(distillation_loss, student, teacher, temperature: float, *, hint: str = "", **kwargs):
    call = describe_call(LOSS, student, teacher, temperature=temperature, **kwargs)
    value = distillation_loss(student, teacher, temperature=temperature, **kwargs)
    expected = reference(student, teacher, temperature, kwargs.get("mask"))
    expect_scalar_tensor(value, call=call)
    if "mask" not in kwargs:
        hint = diagnose(value, mistakes(student, teacher, temperature)) or hint
    check_tensor(value, expected, call=call, rtol=1e-4, atol=1e-6, hint=hint)


@pytest.mark.points(2)
def test_distillation_loss_matches_kl_batchmean(distillation_loss):
    student, teacher = _logits(8, 10, seed=1), _logits(8, 10, seed=2)
    call = describe_call(LOSS, student, teacher)
    value = distillation_loss(student, teacher)
    expect_scalar_tensor(value, call=call)
    check_tensor(
        value,
        reference(student, teacher, 2.0),
        call=call,
        rtol=1e-4,
        atol=1e-6,
        hint=diagnose(value, mistakes(student, teacher, 2.0)) or "The default temperature is 2.0.",
    )
    _check_loss(distillation_loss, student, teacher, 3.0)


@pytest.mark.points(2)
def test_distillation_loss_direction_is_teacher_to_student(distillation_loss):
    student = _logits(6, 5, seed=3, scale=1.0)
    teacher = _logits(6, 5, seed=4, scale=4.0)
    _check_loss(distillation_loss, student, teacher, 1.0)


@pytest.mark.points(2)
def test_distillation_loss_scales_with_temperature_squared(distillation_loss):
    student, teacher = _logits(8, 10, seed=5, scale=6.0), _logits(8, 10, seed=6, scale=6.0)
    for temperature in (1.0, 4.0, 8.0):
        _check_loss(distillation_loss, student, teacher, temperature)


@pytest.mark.points(2)
def test_distillation_loss_averages_over_positions_batchmean(distillation_loss):
    for positions, classes in ((3, 50), (16, 4)):
        student = _logits(positions, classes, seed=7)
        teacher = _logits(positions, classes, seed=8)
        _check_loss(distillation_loss, student, teacher, 2.0)


@pytest.mark.points(1)
def test_distillation_loss_softens_the_teacher_too(distillation_loss):
    student, teacher = _logits(8, 10, seed=9), _logits(8, 10, seed=10, scale=5.0)
    _check_loss(distillation_loss, student, teacher, 4.0)


@pytest.mark.points(2)
def test_distillation_loss_stable_for_large_logits(distillation_loss):
    student = _logits(4, 10, seed=11, scale=1000.0)
    teacher = _logits(4, 10, seed=12, scale=1000.0)
    hint = (
        "log(softmax(x)) gives log(0) = -inf once a probability underflows; use F.log_softmax for the "
        "student (it subtracts the largest logit), never torch.log of a softmax."
    )
    for temperature in (1.0, 2.0):
        _check_loss(distillation_loss, student, teacher, temperature, hint=hint)


@pytest.mark.points(2)
def test_distillation_loss_gradient_reaches_student_not_teacher(distillation_loss):
    student, teacher = _logits(6, 8, seed=13), _logits(6, 8, seed=14)
    temperature = 2.0
    sent_student = student.clone().requires_grad_()
    sent_teacher = teacher.clone().requires_grad_()
    call = describe_call(LOSS, sent_student, teacher_logits=sent_teacher, temperature=temperature)
    result = distillation_loss.call(
        sent_student, teacher_logits=sent_teacher, temperature=temperature, backward=True
    )
    expect_scalar_tensor(result.value, call=call)
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
    reference_student = student.clone().requires_grad_()
    reference(reference_student, teacher, temperature).backward()
    check_tensor(
        student_gradient,
        reference_student.grad,
        call=call,
        what="the gradient of student_logits",
        rtol=1e-4,
        atol=1e-7,
    )


@pytest.mark.points(2)
def test_distillation_loss_mask_selects_positions(distillation_loss):
    student, teacher = _logits(3, 5, 7, seed=15), _logits(3, 5, 7, seed=16)
    generator = torch.Generator().manual_seed(17)
    mask = torch.rand(3, 5, generator=generator) < 0.5
    mask[0, 0] = True
    masked_hint = (
        "Only positions where mask is True count, and the mean is over those positions "
        f"({int(mask.sum())} here), not over all {mask.numel()}."
    )
    call = describe_call(LOSS, student, teacher, temperature=2.0, mask=mask)
    value = distillation_loss(student, teacher, temperature=2.0, mask=mask)
    expect_scalar_tensor(value, call=call)
    kl = _kl_per_position(student, teacher, 2.0, 2.0)
    hint = diagnose(
        value,
        [
            ((kl * mask).sum() / mask.numel() * 4.0, masked_hint),
            (kl.mean() * 4.0, "That is the loss over every position: the mask was ignored."),
            (
                (kl * mask).sum() * 4.0,
                "That is the sum over the masked positions: divide by how many there are.",
            ),
        ],
    )
    check_tensor(
        value,
        reference(student, teacher, 2.0, mask),
        call=call,
        rtol=1e-4,
        atol=1e-6,
        hint=hint or masked_hint,
    )

    no_position = torch.zeros(3, 5, dtype=torch.bool)
    call = describe_call(LOSS, student, teacher, temperature=2.0, mask=no_position)
    value = distillation_loss(student, teacher, temperature=2.0, mask=no_position)
    if type(value) is torch.Tensor and value.dim() == 0 and not bool(torch.isfinite(value)):
        fail(
            f"Called {call} and got {value.item()}; a mask with no True position gives 0 (not nan): "
            "divide the sum by max(count, 1)."
        )
    expect_scalar_tensor(value, call=call)
    check_tensor(
        value,
        torch.zeros(()),
        call=call,
        atol=1e-7,
        hint="A mask with no True position gives 0 (not nan): divide by max(count, 1).",
    )


@pytest.mark.points(1)
def test_distillation_loss_averages_over_every_position_of_3d_logits(distillation_loss):
    student, teacher = _logits(2, 6, 9, seed=18), _logits(2, 6, 9, seed=19)
    _check_loss(distillation_loss, student, teacher, 2.0)


def _cross_entropy(student, labels, temperature: float = 1.0) -> torch.Tensor:
    return F.cross_entropy(
        student.double().reshape(-1, student.shape[-1]) / temperature, labels.reshape(-1), ignore_index=-100
    )


def _student_reference(student, teacher, labels, temperature, alpha) -> torch.Tensor:
    soft = reference(student, teacher, temperature).double()
    return (alpha * soft + (1 - alpha) * _cross_entropy(student, labels)).float()


def _student_mistakes(student, teacher, labels, temperature, alpha) -> list[tuple[torch.Tensor, str]]:
    soft = reference(student, teacher, temperature).double()
    hard = _cross_entropy(student, labels)
    flat_labels = labels.reshape(-1)
    safe_labels = flat_labels.clamp(min=0)
    all_positions = F.cross_entropy(student.double().reshape(-1, student.shape[-1]), safe_labels)
    candidates = [
        (
            (1 - alpha) * soft + alpha * hard,
            "alpha weighs the soft (distillation) loss and 1 - alpha the hard one; the weights are swapped.",
        ),
        (
            alpha * soft + (1 - alpha) * _cross_entropy(student, labels, temperature),
            "The hard loss is the ordinary cross-entropy at T = 1: do not divide the logits by T there.",
        ),
        (
            alpha * soft + (1 - alpha) * hard * temperature**2,
            "Only the soft loss carries the T**2 factor; the hard cross-entropy is used as it is.",
        ),
        (
            alpha * soft / temperature**2 + (1 - alpha) * hard,
            "distillation_loss already includes T**2: use it as it is in the weighted sum.",
        ),
        (soft + hard, "It is a weighted average: alpha * soft + (1 - alpha) * hard, not the plain sum."),
        (
            alpha * soft + (1 - alpha) * all_positions,
            (
                "Labels of -100 mark positions without a label: leave them out of the hard loss "
                "(F.cross_entropy's ignore_index=-100 does)."
            ),
        ),
    ]
    return [(value.float(), sentence) for value, sentence in candidates]


def _check_student_loss(student_loss, student, teacher, labels, temperature, alpha):
    call = describe_call(STUDENT, student, teacher, labels, temperature=temperature, alpha=alpha)
    value = student_loss(student, teacher, labels, temperature=temperature, alpha=alpha)
    expect_scalar_tensor(value, call=call)
    hint = diagnose(value, _student_mistakes(student, teacher, labels, temperature, alpha))
    check_tensor(
        value,
        _student_reference(student, teacher, labels, temperature, alpha),
        call=call,
        rtol=1e-4,
        atol=1e-6,
        hint=hint,
    )


@pytest.mark.points(2)
def test_student_loss_weights_soft_and_hard_losses_by_alpha(student_loss):
    student, teacher = _logits(8, 10, seed=20), _logits(8, 10, seed=21, scale=4.0)
    labels = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(22))
    for alpha in (0.0, 1.0, 0.3):
        _check_student_loss(student_loss, student, teacher, labels, 3.0, alpha)


@pytest.mark.points(2)
def test_student_loss_hard_term_at_temperature_one_ignoring_minus_100(student_loss):
    student, teacher = _logits(2, 6, 10, seed=23), _logits(2, 6, 10, seed=24, scale=4.0)
    labels = torch.randint(0, 10, (2, 6), generator=torch.Generator().manual_seed(25))
    labels[0, :3] = -100
    labels[1, 4] = -100
    for alpha in (0.0, 0.5):
        _check_student_loss(student_loss, student, teacher, labels, 4.0, alpha)
