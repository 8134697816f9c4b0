"""Small helpers that compare a result with PyTorch's and say what went wrong, in words a learner reads.

Shared by the visible self-checks (``pytest exercises``) and the hidden graders. No pytest here: a
failed check is an ``AssertionError`` whose message is the whole story, for example::

    Called distillation_loss(tensor(4, 10), tensor(4, 10), temperature=4.0) and got 0.052;
    the expected value is 0.83, 16 times larger (relative error 0.94)
"""

from __future__ import annotations

import builtins
import dis
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .stub_message import STUB_PATTERN

_TINY = torch.finfo(torch.float64).tiny
_MAX_ITEMS_SHOWN = 4
_STUB_OPCODES = frozenset(
    {
        "CACHE",
        "CALL",
        "CALL_FUNCTION",
        "COPY_FREE_VARS",
        "EXTENDED_ARG",
        "LOAD_CONST",
        "LOAD_GLOBAL",
        "MAKE_CELL",
        "NOP",
        "PRECALL",
        "PUSH_NULL",
        "RAISE_VARARGS",
        "RESUME",
    }
)
"""The only instructions of a body that is nothing but ``raise NotImplementedError("exN: implement f")``."""


def _number(value: float) -> str:
    """A number with 4 significant digits, always looking like a float: ``0.0523``, ``4.0``, ``1.235e+04``."""
    text = f"{value:.4g}"
    return text if any(mark in text for mark in ".ena") else text + ".0"


def _shape(shape: tuple[int, ...] | torch.Size) -> str:
    """A shape as Python writes a tuple: ``(4, 10)``, ``(6,)``, ``()``."""
    return str(tuple(shape))


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def describe(value: Any) -> str:
    """A short description of a value for a message.

    A tensor by its shape (``tensor(4, 10)``, with its dtype when not float32 and its device when not the
    CPU), a 0-d tensor by its value (``tensor(0.0523)``), numbers with 4 significant digits, short
    lists and tuples item by item, anything else (a model) by its class: ``BertModel(...)``.

    Args:
        value: anything a call took or returned.

    Returns:
        The description, at most a line.
    """
    if isinstance(value, Tensor):
        extras = []
        if value.dtype != torch.float32:
            extras.append(f"dtype={_dtype(value.dtype)}")
        if value.device.type != "cpu":
            extras.append(f"device={value.device.type}")
        if value.dim() == 0 and value.device.type != "meta":
            item = value.item()
            inside = _number(item) if isinstance(item, float) else str(item)
        else:
            inside = ", ".join(str(size) for size in value.shape)
        return "tensor(" + ", ".join([inside, *extras] if inside else extras) + ")"
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
    if isinstance(value, (list, tuple)):
        if len(value) > _MAX_ITEMS_SHOWN:
            return f"a {type(value).__name__} of {len(value)} items"
        inner = ", ".join(describe(item) for item in value)
        if isinstance(value, tuple):
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return f"[{inner}]"
    if isinstance(value, dict):
        return f"a dict of {len(value)} items"
    return f"{type(value).__name__}(...)"


def describe_call(name: str, *args: Any, **kwargs: Any) -> str:
    """How a call reads in a message: ``distillation_loss(tensor(4, 10), tensor(4, 10), temperature=4.0)``.

    Args:
        name: the function's name as the learner wrote it.
        *args: the positional arguments of the call.
        **kwargs: the keyword arguments of the call.

    Returns:
        The call as text, each argument through :func:`describe`.
    """
    return call_text(name, args, kwargs)


def call_text(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], describe_value: Callable[[Any], str] = describe
) -> str:
    """``name(arg, ..., key=value, ...)``: the call as text, each argument through ``describe_value`` (the
    graders' handle on a submission passes its own, for values that crossed the wire)."""
    parts = [describe_value(arg) for arg in args]
    parts += [f"{key}={describe_value(arg)}" for key, arg in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def relative_error(actual: Tensor, expected: Tensor) -> float:
    """``max|actual - expected| / max(max|expected|, tiny)``, computed in float64.

    Args:
        actual: the tensor to judge.
        expected: the reference, same shape as ``actual``.

    Returns:
        The relative error (0.0 for empty tensors, ``nan`` when a value is not a number).
    """
    if actual.numel() == 0:
        return 0.0
    actual64 = actual.detach().to("cpu", torch.float64)
    expected64 = expected.detach().to("cpu", torch.float64)
    largest_difference = (actual64 - expected64).abs().max().item()
    scale = max(expected64.abs().max().item(), _TINY)
    return largest_difference / scale


def _how_much(actual: float, expected: float) -> str:
    """``", 16 times larger"`` when the expected value is a clean multiple of the result, else ``""``."""
    if not (math.isfinite(actual) and math.isfinite(expected)) or actual == 0 or expected == 0:
        return ""
    if (actual > 0) != (expected > 0):
        return ", with the opposite sign"
    ratio = expected / actual
    if ratio >= 1.5:
        return f", {ratio:.3g} times larger"
    if ratio <= 1 / 1.5:
        return f", {1 / ratio:.3g} times smaller"
    return ""


def _value_at(tensor: Tensor, index: tuple[int, ...]) -> str:
    item = tensor[index].item()
    return _number(item) if isinstance(item, float) else str(item)


def check_tensor(
    actual: Any,
    expected: Tensor,
    *,
    call: str,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    what: str = "the result",
    hint: str | Callable[[], str] = "",
) -> None:
    """Assert that ``actual`` is a tensor like ``expected``: type, shape, dtype, device, finiteness, values.

    Checks run in that order and the first failure raises, so a wrong shape is reported as a wrong shape
    and not as a wall of numbers. Floating values are compared like ``torch.isclose(actual, expected,
    rtol, atol)``; integer and bool values must be equal.

    Args:
        actual: what the learner's code returned.
        expected: the reference (from PyTorch itself).
        call: the call as the learner would write it, e.g. ``describe_call("f", x, temperature=2.0)``.
        rtol: relative tolerance.
        atol: absolute tolerance.
        what: which part of the result is judged, e.g. ``"the labels"``.
        hint: a sentence added to a wrong-value (or non-finite) message, naming the likely slip
            (``"Did you multiply the KL by T**2? (Hinton et al. 2015, section 2)"``); or a function
            giving it, called only when the check fails (a diagnosis from ``diagnosis/``).

    Raises:
        AssertionError: with a message that says what was called, what came back and what was expected.
    """
    got = f"Called {call} and got" if what == "the result" else f"Called {call} and got, for {what},"
    if type(actual) is not Tensor:
        raise AssertionError(f"{got} {describe(actual)} (a {type(actual).__name__}); expected a torch.Tensor")
    if actual.shape != expected.shape:
        single = " (a single number)" if expected.dim() == 0 else ""
        raise AssertionError(
            f"{got} shape {_shape(actual.shape)}; the expected shape is {_shape(expected.shape)}{single}"
        )
    if actual.dtype != expected.dtype:
        raise AssertionError(
            f"{got} dtype {_dtype(actual.dtype)}; the expected dtype is {_dtype(expected.dtype)}"
        )
    if actual.device.type != expected.device.type:
        raise AssertionError(
            f"{got} a tensor on device {actual.device.type}; it should be on {expected.device.type}, "
            "like the input"
        )
    actual = actual.detach()
    expected = expected.detach()
    floating = actual.is_floating_point() or actual.is_complex()
    if floating:
        unexpected_non_finite = ~torch.isfinite(actual) & torch.isfinite(expected)
        if unexpected_non_finite.any():
            index = tuple(int(i) for i in unexpected_non_finite.nonzero()[0].tolist())
            count = int(unexpected_non_finite.sum())
            where = f" at index {index}" if actual.dim() else ""
            of = f" ({count} of {actual.numel()} values are not finite)" if actual.dim() else ""
            named = hint() if callable(hint) else hint
            why = f" {named}" if named else " (an overflow in exp()? a division by zero?)"
            raise AssertionError(
                f"{got} {_value_at(actual, index)}{where}{of}; the expected values are finite.{why}"
            )
        close = torch.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = actual == expected
    if bool(close.all()):
        return
    named = hint() if callable(hint) else hint
    tail = f" {named}" if named else ""
    if actual.dim() == 0:
        got_value, expected_value = actual.item(), expected.item()
        if floating:
            error = relative_error(actual, expected)
            raise AssertionError(
                f"{got} {_number(got_value)}; the expected value is {_number(expected_value)}"
                f"{_how_much(got_value, expected_value)} (relative error {error:.2g}).{tail}"
            )
        raise AssertionError(f"{got} {got_value}; the expected value is {expected_value}.{tail}")
    index = tuple(int(i) for i in (~close).nonzero()[0].tolist())
    count = int((~close).sum())
    first = f"first at index {index}: got {_value_at(actual, index)}, expected {_value_at(expected, index)}"
    if floating:
        error = relative_error(actual, expected)
        raise AssertionError(
            f"{got} values that differ from the expected ones (relative error {error:.2g}; "
            f"{count} of {actual.numel()} values off, {first}).{tail}"
        )
    raise AssertionError(
        f"{got} values that differ from the expected ones ({count} of {actual.numel()} values off, {first})."
        f"{tail}"
    )


def not_started_exercise(exc: BaseException) -> str | None:
    """The exercise id (``"ex3"``) when ``exc`` is a stub's ``NotImplementedError("ex3: implement ...")``.

    Args:
        exc: any exception.

    Returns:
        The exercise id, or None when ``exc`` is anything else (a learner's own NotImplementedError too).
    """
    if not isinstance(exc, NotImplementedError) or not exc.args:
        return None
    match = STUB_PATTERN.match(str(exc.args[0]))
    return match.group(1) if match else None


def not_started(exc: BaseException) -> bool:
    """Whether ``exc`` is a stub's ``NotImplementedError("exN: implement <name>")``: not started, not failed.

    Args:
        exc: any exception.

    Returns:
        True for an untouched stub's exception, False for everything else.
    """
    return not_started_exercise(exc) is not None


def check_raises(
    function: Callable[..., Any],
    *args: Any,
    call: str,
    expected: type[BaseException] = ValueError,
    why: str = "",
    **kwargs: Any,
) -> BaseException:
    """Assert that ``function(*args, **kwargs)`` raises ``expected``; return the exception.

    A stub's own ``NotImplementedError`` passes through untouched, so an exercise not started yet is
    reported as such and not as a wrong error.

    Args:
        function: what to call.
        *args: its positional arguments.
        call: the call as the learner would write it, for the message.
        expected: the exception class the call must raise.
        why: the reason it must raise, added to the message (``"a temperature must be positive"``).
        **kwargs: its keyword arguments.

    Returns:
        The exception raised, to check its message.

    Raises:
        AssertionError: when the call returns normally or raises another exception.
    """
    reason = f" ({why})" if why else ""
    try:
        result = function(*args, **kwargs)
    except expected as exc:
        return exc
    except Exception as exc:
        if not_started(exc):
            raise
        raise AssertionError(
            f"Called {call} and it raised {type(exc).__name__}: {exc}; expected a {expected.__name__}{reason}"
        ) from None
    raise AssertionError(f"Called {call} and got {describe(result)}; expected a {expected.__name__}{reason}")


def is_untouched_stub(function: Callable[..., Any]) -> bool:
    """Whether ``function``'s whole body is still its stub: ``raise NotImplementedError("exN: implement f")``.

    Read from the function's bytecode, which is what runs: only when it loads nothing but the
    ``NotImplementedError`` class and the stub's message, calls it and raises the result. Anything the
    learner has added (a statement, a branch, a return) makes it False.

    Args:
        function: a function or method of an exercise.

    Returns:
        True when calling ``function`` can only raise the stub's ``NotImplementedError``.
    """
    code = getattr(inspect.unwrap(function), "__code__", None)
    if code is None:
        return False
    globals_loaded: list[str] = []
    constants_loaded: list[Any] = []
    for instruction in dis.get_instructions(code):
        if instruction.opname not in _STUB_OPCODES:
            return False
        if instruction.opname == "LOAD_GLOBAL":
            globals_loaded.append(instruction.argval)
        elif instruction.opname == "LOAD_CONST":
            constants_loaded.append(instruction.argval)
    namespace = getattr(function, "__globals__", {})
    return (
        globals_loaded == ["NotImplementedError"]
        and namespace.get("NotImplementedError", NotImplementedError) is builtins.NotImplementedError
        and len(constants_loaded) == 1
        and isinstance(constants_loaded[0], str)
        and STUB_PATTERN.match(constants_loaded[0]) is not None
    )


def raise_if_not_started(function: Callable[..., Any]) -> None:
    """Let an untouched stub raise its ``NotImplementedError`` now, before a check builds its inputs.

    A check that first builds a model and then calls a stub reports "not started" either way; this
    reports it without the model. The stub is called (with placeholder arguments: its body uses none),
    so the exception comes from the stub's own line, as it would from the check. A function the learner
    has started is not called here.

    Args:
        function: the exercise's function the check is about to call.

    Raises:
        NotImplementedError: the stub's own, when ``function`` is an untouched stub.
    """
    if not is_untouched_stub(function):
        return
    positional: list[None] = []
    keywords: dict[str, None] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.default is not parameter.empty or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        if parameter.kind is parameter.KEYWORD_ONLY:
            keywords[parameter.name] = None
        else:
            positional.append(None)
    function(*positional, **keywords)
