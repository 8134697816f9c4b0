"""Hidden checks for ex1: ``softmax_with_temperature(logits, temperature=1.0, dim=-1)``.

Reference values are ``F.softmax(logits / T, dim)`` at fixed seeds.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from autograder.graders.support import check_tensor, describe_call, expect_accepted, expect_value_error, fail
from solutions.support.diagnosis import Candidate, diagnose, explain, softmax_mistakes

NAME = "softmax_with_temperature"


@pytest.fixture(scope="module")
def softmax(submission):
    return submission.ex1.softmax_with_temperature


def _logits(
    *shape: int, seed: int = 0, scale: float = 3.0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)


def in_logits_dtype(result, expected):
    """A floating result in another dtype, converted to the expected one: the dtype is a side property
    with a check of its own (CONTRACT.md, What earns points), so the value checks judge values only."""
    if type(result) is torch.Tensor and result.is_floating_point() and result.dtype != expected.dtype:
        return result.to(expected.dtype)
    return result


def _check_softmax(
    softmax,
    logits,
    *args,
    clause: str = "ex1.value",
    rtol=1e-5,
    atol=1e-6,
    extra=(),
    dtype: bool = False,
    **kwargs,
):
    """Call ``softmax(logits, *args, **kwargs)`` and compare with ``F.softmax(logits / T, dim)``; a wrong
    value names a slip only when it matches that slip's formula (``extra``: further candidates). The
    result's dtype is judged only with ``dtype`` (its own check)."""
    temperature = args[0] if args else kwargs.get("temperature", 1.0)
    dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
    call = describe_call(NAME, logits, *args, **kwargs)
    result = softmax(logits, *args, **kwargs)
    expected = F.softmax(logits / temperature, dim)
    if not dtype:
        result = in_logits_dtype(result, expected)
    if type(result) is torch.Tensor and result.shape == expected.shape and result.dtype != expected.dtype:
        fail(
            f"Called {call} and got dtype {str(result.dtype).removeprefix('torch.')}; the result has the "
            f"logits' dtype, {str(expected.dtype).removeprefix('torch.')}: no .float(), .double() or "
            "dtype=... inside (or cast back with .to(logits.dtype))."
        )

    def hint() -> str:  # worked out only for a failed check
        candidates = [*extra, *softmax_mistakes(logits, temperature, dim)]
        return explain(result, candidates, clause, expected=expected, rtol=max(rtol, 1e-4))

    if (
        type(result) is torch.Tensor
        and result.shape == expected.shape
        and not bool(torch.isfinite(result).all())
    ):
        not_finite = int((~torch.isfinite(result)).sum())
        fail(f"Called {call} and got {not_finite} of {result.numel()} values that are not finite. {hint()}")
    check_tensor(result, expected, call=call, hint=hint, rtol=rtol, atol=atol)


@pytest.mark.points(4)
def test_softmax_matches_torch_for_several_temperatures(softmax):
    logits = _logits(4, 10, seed=1)
    _check_softmax(softmax, logits)
    for temperature in (2.0, 4.0, 10.0, 0.5, 0.7):
        _check_softmax(softmax, logits, temperature=temperature)
    positional = Candidate(
        F.softmax(logits, -1),
        "That is softmax(logits) at T = 1: the temperature is the second positional argument, "
        "softmax_with_temperature(logits, 2.0) divides by 2.0.",
    )
    _check_softmax(softmax, logits, 2.0, extra=(positional,))
    _check_softmax(softmax, _logits(2, 3, 5, seed=12))


def _dim_slip(logits: torch.Tensor, dim: int, result: Any, expected: torch.Tensor) -> str:
    """The slip a wrong ``softmax_with_temperature(logits, temperature=2.0, dim=dim)`` matches, if any."""
    candidates = [
        Candidate(
            F.softmax(logits / 2.0, other),
            f"Those probabilities sum to 1 along dim={other}, not dim={dim}.",
        )
        for other in (-1, 0, 1)
        if other % 3 != dim % 3
    ] + softmax_mistakes(logits, 2.0, dim)
    named = diagnose(result, candidates, expected=expected)
    if not named and type(result) is torch.Tensor and result.shape == expected.shape:
        sums = result.detach().sum(dim)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
            named = f"The result does not sum to 1 along dim={dim}: take the max and the sum along dim."
    return named


@pytest.mark.points(3)
def test_softmax_normalises_along_every_dim(softmax):
    logits = _logits(3, 4, 5, seed=2)
    for dim in (0, 1, 2, -1, -2):
        call = describe_call(NAME, logits, temperature=2.0, dim=dim)
        result = softmax(logits, temperature=2.0, dim=dim)
        expected = F.softmax(logits / 2.0, dim)
        result = in_logits_dtype(result, expected)
        slip = functools.partial(_dim_slip, logits, dim, result, expected)  # worked out only on a failure
        check_tensor(result, expected, call=call, hint=slip)


@pytest.mark.points(2)
def test_softmax_stable_for_large_logits(softmax):
    rows = _logits(4, 10, seed=3, scale=1e4).clamp(-1e4, 1e4)
    rows[0, 0] = 1e4
    rows[1, :] = -1e4
    rows[2, :] = torch.tensor([1e4, 9990.0] + [-1e4] * 8)
    wide = _logits(3, 6, 4, seed=11, scale=1e4).clamp(-1e4, 1e4)
    # float32 holds 1e4 to within 1e-3: a correct log-domain softmax is that far from F.softmax
    for logits, temperature, dim in ((rows, 1.0, -1), (rows, 0.5, -1), (wide, 2.0, 1)):
        _check_softmax(
            softmax, logits, temperature=temperature, dim=dim, clause="ex1.stable", rtol=2e-3, atol=1e-5
        )


@pytest.mark.points(1)
def test_softmax_unchanged_when_every_logit_shifts(softmax):
    shifted = _logits(4, 10, seed=4) + 1000.0
    _check_softmax(softmax, shifted, temperature=2.0, clause="ex1.stable", rtol=1e-3, atol=1e-6)


@pytest.mark.points(2)
@pytest.mark.requires("test_softmax_matches_torch_for_several_temperatures")
def test_softmax_leaves_its_input_unchanged(softmax):
    for shape, kwargs in (
        ((4, 10), {"temperature": 3.0}),
        ((3, 4, 5), {"temperature": 3.0, "dim": 1}),
        ((2, 6), {}),
    ):
        logits = _logits(*shape, seed=5)
        original = logits.clone()
        result = softmax.call(logits, arguments=True, **kwargs)
        after = result.args[0]
        if not torch.equal(after, original):
            fail(
                f"Called {describe_call(NAME, logits, **kwargs)} and the logits passed in "
                "were changed by the call. Never modify the input: in-place operations such as /=, -=, "
                ".div_(), .sub_() or .exp_() write into the caller's tensor; use logits / T and friends "
                "instead."
            )


@pytest.mark.points(3)
def test_softmax_gradient_matches_torch(softmax):
    logits = _logits(4, 10, seed=6)
    upstream = _logits(4, 10, seed=7, scale=1.0)
    temperature = 2.0
    call = describe_call(NAME, logits.clone().requires_grad_(), temperature=temperature)
    result = softmax.call(logits.clone().requires_grad_(), temperature=temperature, backward=upstream)
    expected = F.softmax(logits / temperature, -1)
    check_tensor(in_logits_dtype(result.value, expected), expected, call=call)
    gradient = result.grads.get("arg0")
    if not result.result_requires_grad or gradient is None:
        fail(
            f"Called {call} on logits with requires_grad=True and the result is cut off from the autograd "
            "graph, so no gradient reaches the logits. Stay in torch: no .detach() on the result, no "
            "torch.no_grad() around the computation, no .item(), numpy, math.exp or torch.tensor(...) "
            "rebuilding values."
        )
    reference_logits = logits.clone().requires_grad_()
    (F.softmax(reference_logits / temperature, -1) * upstream).sum().backward()
    check_tensor(
        gradient,
        reference_logits.grad,
        call=call,
        what="the gradient of the logits",
        rtol=1e-4,
        atol=1e-6,
        hint="The values are right but the gradient is not: the result must be differentiable with respect "
        "to the logits (only the largest logit you subtract may be detached).",
    )


@pytest.mark.points(2)
def test_softmax_keeps_dtype_and_shape(softmax):
    logits64 = _logits(4, 10, seed=8, dtype=torch.float64)
    for kwargs in ({"temperature": 2.0}, {}):
        _check_softmax(softmax, logits64, rtol=1e-6, atol=1e-9, dtype=True, **kwargs)
    for shape, dim in (((7,), 0), ((2, 3, 4, 5), 2)):
        _check_softmax(softmax, _logits(*shape, seed=9), temperature=0.7, dim=dim, dtype=True)


@pytest.mark.points(3)
@pytest.mark.requires("test_softmax_matches_torch_for_several_temperatures")
def test_softmax_rejects_bad_temperatures(softmax):
    logits = _logits(2, 5, seed=10)
    problems = []
    for temperature, why in (
        (0.0, "a temperature of 0 divides by zero"),
        (-1.0, "a negative temperature turns the distribution upside down"),
        (math.nan, "nan is not a number"),
        (math.inf, "an infinite temperature is not a finite number"),
    ):
        call = describe_call(NAME, logits, temperature=temperature)
        problem = expect_value_error(softmax, logits, temperature=temperature, call=call, why=why)
        if problem:
            problems.append(problem)
    for temperature in (2, 1):  # ints are positive finite numbers too: a check for float refuses them
        call = describe_call(NAME, logits, temperature=temperature)
        why = f"{temperature} is a positive finite number; an int is a number too"
        problem = expect_accepted(softmax, logits, temperature=temperature, call=call, why=why)
        if problem:
            problems.append(problem)
    if problems:
        fail(
            " ".join(problems)
            + " Check the temperature first: raise ValueError unless it is a positive finite number "
            "(math.isfinite(T) and T > 0)."
        )
