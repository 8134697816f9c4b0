"""Visible checks for ex1 (softmax with a temperature): `pytest exercises -m ex1`."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from .ex1_softmax import softmax_with_temperature
from .support.checking import check_raises, check_tensor, describe_call
from .support.diagnosis import explain, softmax_mistakes

pytestmark = pytest.mark.ex1


def random_logits(*shape: int, seed: int = 0, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 5.0])
def test_softmax_matches_torch_at_several_temperatures(temperature):
    logits = random_logits(4, 10)
    actual, expected = softmax_with_temperature(logits, temperature), F.softmax(logits / temperature, dim=-1)
    check_tensor(
        actual,
        expected,
        call=describe_call("softmax_with_temperature", logits, temperature),
        hint=lambda: explain(actual, softmax_mistakes(logits, temperature), "ex1.value", expected=expected),
    )


def test_softmax_uses_the_given_dim():
    logits = random_logits(3, 4, 5, seed=1)
    actual, expected = softmax_with_temperature(logits, 2.0, dim=1), F.softmax(logits / 2.0, dim=1)
    check_tensor(
        actual,
        expected,
        call=describe_call("softmax_with_temperature", logits, 2.0, dim=1),
        hint=lambda: explain(actual, softmax_mistakes(logits, 2.0, dim=1), "ex1.value", expected=expected),
    )


def test_softmax_is_stable_for_large_logits():
    logits = random_logits(2, 6, seed=2, scale=1e4)
    actual, expected = softmax_with_temperature(logits, 0.5), F.softmax(logits / 0.5, dim=-1)
    check_tensor(
        actual,
        expected,
        call=describe_call("softmax_with_temperature", logits, 0.5) + " with logits up to 1e4",
        hint=lambda: explain(actual, softmax_mistakes(logits, 0.5), "ex1.stable", expected=expected),
    )


def test_softmax_keeps_its_input_and_passes_gradients():
    logits = random_logits(3, 7, seed=3).requires_grad_()
    original = logits.detach().clone()
    weights = random_logits(3, 7, seed=4)
    call = describe_call("softmax_with_temperature", logits, 3.0)
    probabilities = softmax_with_temperature(logits, 3.0)
    check_tensor(logits.detach(), original, call=call, what="the input logits afterwards", rtol=0, atol=0)
    assert probabilities.requires_grad, (
        f"Called {call} on logits that require grad and got a result without grad_fn: "
        "build it from torch operations on `logits` (no .detach(), .item() or .numpy())"
    )
    (probabilities * weights).sum().backward()
    reference_logits = original.clone().requires_grad_()
    (F.softmax(reference_logits / 3.0, dim=-1) * weights).sum().backward()
    check_tensor(logits.grad, reference_logits.grad, call=call, what="the gradient of the logits", rtol=1e-4)


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.nan, math.inf])
def test_softmax_rejects_a_temperature_that_is_not_positive_and_finite(temperature):
    logits = random_logits(2, 3)
    check_raises(
        softmax_with_temperature,
        logits,
        temperature,
        call=describe_call("softmax_with_temperature", logits, temperature),
        why="a temperature must be a positive finite number",
    )
