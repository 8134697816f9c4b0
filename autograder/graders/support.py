"""Helpers the hidden graders share: how a failed check speaks, how an expected exception is checked.

Tensor comparison and call descriptions come from :mod:`solutions.support.checking`, and naming the
misconception behind a wrong value from :mod:`solutions.support.diagnosis` (both shared with the visible
self-checks); this module adds what only the graders need: checking that a call raised the right
exception, exact plain types, and inputs built once.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from autograder.wire import values
from solutions.support.checking import check_tensor, describe, describe_call, relative_error

__all__ = [
    "check_tensor",
    "describe",
    "describe_call",
    "expect_accepted",
    "expect_exact_type",
    "expect_scalar_tensor",
    "expect_value_error",
    "fail",
    "given_model_module",
    "number",
    "relative_error",
    "shared_input",
    "times",
    "warm_all",
    "warm_up",
]


def given_model_module() -> ModuleType:
    """The given model's module as the protocol sees it (models of its classes may cross).

    Under the engine this is ``solutions.model``; when graders run in-process against a folder
    (``--submission-dir``), the worker in this process makes it the staged copy. Call it after the
    ``submission`` fixture has been set up.
    """
    return importlib.import_module(values._resolve_class("given.BertModel").__module__)


# --------------------------------------------------------------------------------------------------
# Inputs built once: the same teachers, token ids and big models serve every submission.

_WARMERS: list[tuple[Callable[[], Any], tuple[str, ...]]] = []


def shared_input(build: Callable[..., Any]) -> Callable[..., Any]:
    """Build an input once per set of arguments (and copy of the given model), then hand out that object.

    The engine calls :func:`warm_all` in its parent process, so every grading process forked from it
    starts with the inputs built. Checks must treat a shared input as read-only (the worker receives a
    copy, so what a submission does to its argument never reaches it).
    """
    made: dict[tuple, Any] = {}
    signature = inspect.signature(build)

    @functools.wraps(build)
    def shared(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()  # teacher(4) and teacher(4, seed=0) are one input
        key = (values._resolve_class("given.BertModel").__module__, _frozen(bound.arguments))
        if key not in made:
            made[key] = build(*args, **kwargs)
            if isinstance(made[key], (torch.nn.Module, torch.Tensor)):
                values.share(made[key])
        return made[key]

    return shared


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def warm_up(build_all: Callable[[], Any], *, needs: tuple[str, ...] = ()) -> None:
    """Register a function that builds a grader module's shared inputs (called by :func:`warm_all`);
    ``needs``: modules it imports (the inputs of checks marked ``needs``), built once they are loaded."""
    _WARMERS.append((build_all, tuple(needs)))


def warm_all() -> None:
    """Build every registered shared input whose modules are loaded (never importing one)."""
    for build_all, needs in _WARMERS:
        if all(name in sys.modules for name in needs):
            build_all()


def fail(message: str) -> None:
    """Fail the check with ``message``, the whole text the learner reads."""
    raise AssertionError(message)


def number(value: float) -> str:
    """4 significant digits, always looking like a float: ``0.0523``, ``16.0``, ``1.2e+04``."""
    text = f"{value:.4g}"
    return text if any(mark in text for mark in ".ena") else text + ".0"


def times(actual: float, expected: float) -> str:
    """``"16 times larger"`` / ``"4 times smaller"``: how the expected value compares with the result."""
    if actual == 0 or not (math.isfinite(actual) and math.isfinite(expected)):
        return "different"
    ratio = expected / actual
    if ratio < 0:
        return "of the opposite sign"
    if ratio >= 1:
        return f"{ratio:.3g} times larger"
    return f"{1 / ratio:.3g} times smaller"


def expect_exact_type(value: Any, expected_type: type, *, call: str, what: str = "the result") -> None:
    """Fail unless ``type(value) is expected_type`` (a bool is not an int, a tensor is not an int)."""
    if type(value) is expected_type:
        return
    extra = ""
    if type(value) is Tensor:
        extra = f" Use .item() and {expected_type.__name__}(...) to turn a 0-d tensor into a plain number."
    elif expected_type is int and type(value) is float:
        extra = " Counts are whole numbers: keep them as int (no / division, no float(...))."
    subject = "" if what == "the result" else f" for {what}"
    fail(
        f"Called {call} and got{subject} {describe(value)} (a {type(value).__name__}); "
        f"expected a plain {expected_type.__name__}.{extra}"
    )


def expect_scalar_tensor(value: Any, *, call: str, dtype: torch.dtype | None = torch.float32) -> float:
    """Check that ``value`` is a 0-d tensor of ``dtype`` (None: of any floating dtype, for a contract that
    names none) holding a finite number, and return it."""
    if type(value) is not Tensor:
        fail(f"Called {call} and got {describe(value)} (a {type(value).__name__}); expected a torch.Tensor")
    if value.dim() != 0:
        fail(
            f"Called {call} and got a tensor of shape {tuple(value.shape)}; the loss is a single number, "
            "shape (). Did you forget to average over the positions?"
        )
    if dtype is None and not value.is_floating_point():
        fail(
            f"Called {call} and got dtype {str(value.dtype).removeprefix('torch.')}; expected a float tensor"
        )
    if dtype is not None and value.dtype != dtype:
        fail(f"Called {call} and got dtype {str(value.dtype).removeprefix('torch.')}; expected {dtype}")
    result = float(value.item())
    if not math.isfinite(result):
        fail(
            f"Called {call} and got {result}; the expected value is finite. Large logits overflow exp(): "
            "use log_softmax (never log of softmax) and subtract the largest logit."
        )
    return result


def expect_value_error(
    function: Callable[..., Any], *args: Any, call: str, why: str, **kwargs: Any
) -> str | None:
    """Call the submission and return a failure sentence unless it raised ``ValueError``, else None.

    A stub that was never started, a missing name or a crashed worker propagate: they are not a
    question of which exception was raised.

    Args:
        function: the submission's function or class (through the ``submission`` fixture).
        *args: positional arguments of the call.
        call: the call as text, for the message.
        why: what makes the arguments invalid, e.g. ``"temperature=0 is not positive"``.
        **kwargs: keyword arguments of the call.
    """
    try:
        value = function(*args, **kwargs)
    except values.SubmissionRaised as raised:
        if raised.is_a("ValueError"):
            return None
        return f"Called {call} and it raised {raised.type_name}; expected a ValueError ({why})."
    except values.ModelMismatch:
        return (
            f"Called {call} and it returned a broken model instead of raising; expected a ValueError ({why})."
        )
    return f"Called {call} and got {describe(value)}; expected a ValueError ({why})."


def expect_accepted(
    function: Callable[..., Any], *args: Any, call: str, why: str, **kwargs: Any
) -> str | None:
    """Call the submission with valid arguments that a too strict check may refuse (an int where a
    number is asked for: every int in ``kwargs``); return a failure sentence unless it gives what it
    gives with those ints as floats (to 1e-5), else None. The answer itself is judged by other checks:
    a wrong formula that treats 2 as it treats 2.0 passes here.

    Args:
        why: what makes the arguments valid, e.g. ``"2 is a positive finite number"``.
    """
    as_floats = {k: float(v) if type(v) is int else v for k, v in kwargs.items()}
    try:
        value = function(*args, **kwargs)
    except values.SubmissionRaised as raised:
        try:
            function(*args, **as_floats)
        except values.SubmissionRaised:
            return None  # it raises with floats too: not a refusal of ints
        return f"Called {call} and it raised {raised.message}; expected an answer ({why})."
    try:
        with_floats = function(*args, **as_floats)
    except values.SubmissionError:
        return None
    if type(value) is not torch.Tensor or type(with_floats) is not torch.Tensor:
        return None if type(value) is type(with_floats) else f"Called {call} and got {describe(value)}."
    if value.shape != with_floats.shape or not torch.allclose(
        value.detach().double(), with_floats.detach().double(), rtol=1e-5, atol=1e-7, equal_nan=True
    ):
        return f"Called {call} and got {describe(value)}, not the answer it gives with a float ({why})."
    return None
