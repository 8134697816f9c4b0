"""The worker's side: import the staged submission, answer calls, send back plain data.

Everything here runs next to the learner's code and so trusts nothing it sees afterwards; it enforces
no limit itself (that is :mod:`autograder.limits`' job, applied by whoever starts the worker).

A request is a dict: ``{"op": "call", "target": "ex2_distillation.distillation_loss" | handle id,
"args": [...], "kwargs": {...}, "backward": None | tensor | True, "arguments": bool}`` (``arguments``:
send the arguments back as they are after the call). A reply is ``{"ok": True, ...}``
with the fields of :class:`autograder.protocol.CallResult`, or ``{"ok": False, "kind": ..., "message":
..., "type": ..., "mro": [...], "traceback": ...}``.
"""

from __future__ import annotations

import importlib
import re
import sys
import traceback
from typing import Any

import torch

from autograder import protocol
from autograder.layout import EXERCISE_BY_MODULE

STUB_MESSAGE = re.compile(r"^ex\d+: implement\b")
TRACEBACK_CHARS = 2000


class Worker:
    """Answers requests for one staged submission package (``package`` is importable).

    ``forked``: this process is a worker forked from the graders' process after their shared inputs
    were built, so each of those may be handed to the submission as this process's own copy, once,
    instead of being rebuilt from the message. (In the graders' own process it would be theirs.)
    """

    def __init__(self, package: str, *, forked: bool = False):
        self.package = package
        self.handles: dict[int, Any] = {}
        self.unused_shared = set(range(protocol.shared_count())) if forked else set()
        # The graders' ready-made encodings of their inputs must not describe what the submission's
        # code did to them here (a teacher changed in place, or with layers removed, goes back as it is).
        protocol.forget_prepared()
        protocol.set_given_model_module(lambda: importlib.import_module(f"{package}.model"))

    def _take_shared(self, number: int, key: str) -> Any:
        if number not in self.unused_shared:
            return None
        model = protocol.shared_model(number)
        if protocol.model_key(model) != key:
            return None
        self.unused_shared.discard(number)
        return model

    # ----------------------------------------------------------------------------------------------
    def handle(self, request: Any) -> dict[str, Any]:
        try:
            return self._handle(request)
        except BaseException as exc:  # anything the learner's code broke on the way: this request only  # noqa: BLE001
            detail = f"{type(exc).__name__}: {_short(str(exc))}"
            return _failure("error", f"the call could not be completed ({detail})")

    def _handle(self, request: Any) -> dict[str, Any]:
        if type(request) is not dict:
            return _failure("error", "a request that is not a dict")
        op = request.get("op")
        try:
            if op == "ping":
                return {"ok": True}
            if op == "import":
                self._import(str(request["module"]))
                return {"ok": True}
            if op == "call":
                return self._call(request)
        except protocol.SubmissionError as exc:
            return _failure(exc.kind, exc.message, type_name=getattr(exc, "type_name", ""))
        return _failure("error", f"unknown op {op!r}")

    # ----------------------------------------------------------------------------------------------
    def _import(self, module: str):
        if module not in EXERCISE_BY_MODULE:
            raise protocol.ImportFailed(f"{module} is not an exercise module")
        qualified = f"{self.package}.{module}"
        if qualified in sys.modules:
            return sys.modules[qualified]
        try:
            return importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name == qualified:
                raise protocol.ImportFailed(f"{module}.py is not in the submission") from None
            raise protocol.ImportFailed(_describe_import_error(module, exc)) from None
        except BaseException as exc:  # SyntaxError, SystemExit, KeyboardInterrupt at import time  # noqa: BLE001
            sys.modules.pop(qualified, None)
            raise protocol.ImportFailed(_describe_import_error(module, exc)) from None

    def _resolve(self, target: Any):
        if type(target) is int:
            if target not in self.handles:
                raise protocol.SubmissionError(f"no object with handle {target}")
            return self.handles[target], target
        module_name, _, name = str(target).partition(".")
        module = self._import(module_name)
        try:
            return module.__dict__[name], None
        except KeyError:
            raise protocol.MissingName(
                f"{module_name}.py has no {name}: did you misname or forget to define it?"
            ) from None

    def _keep(self, obj: Any) -> int:
        number = len(self.handles) + 1
        self.handles[number] = obj
        return number

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        fn, _ = self._resolve(request.get("target"))
        how = {"resolve_handle": self._handle_value, "take_shared": self._take_shared}
        args = protocol.decode(request.get("args", []), **how)
        raw_kwargs = request.get("kwargs")
        kwargs = protocol.decode(raw_kwargs, **how) if raw_kwargs else {}
        try:
            value = fn(*args, **kwargs)
        except NotImplementedError as exc:
            if STUB_MESSAGE.match(str(exc)):
                raise protocol.NotStarted(str(exc)) from None
            return _raised(exc)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt included: they cost this call only  # noqa: BLE001
            return _raised(exc)

        reply: dict[str, Any] = {"ok": True}
        is_constructor = isinstance(fn, type)
        try:
            reply["value"] = protocol.encode(value, handles=self._keep if is_constructor else None)
        except protocol.UnsafeResult as exc:
            raise protocol.UnsafeResult(exc.message, type_name=exc.type_name) from None
        reply["result_requires_grad"] = bool(type(value) is torch.Tensor and value.requires_grad)
        if request.get("arguments"):
            reply["args"] = [_encode_lenient(a) for a in args]
            reply["kwargs"] = {_tag(): "dict", "items": {k: _encode_lenient(v) for k, v in kwargs.items()}}
        reply["shares_memory"] = _shares_memory(value, (args, kwargs))
        if isinstance(value, torch.nn.Module):
            reply["tied"] = protocol.tied_groups(value)
        backward = request.get("backward")
        if backward is not None:
            reply["grads"] = _gradients(value, args, kwargs, backward)
        return reply

    def _handle_value(self, number: int) -> Any:
        if number not in self.handles:
            raise protocol.SubmissionError(f"no object with handle {number}")
        return self.handles[number]


def serve(fd_in: int, fd_out: int, package: str, *, forked: bool = False) -> None:
    """Answer requests read from ``fd_in`` on ``fd_out`` until the other side closes the pipe."""
    worker = Worker(package, forked=forked)
    while True:
        try:
            request = protocol.loads(protocol.recv_message(fd_in))
        except (EOFError, OSError, protocol.ProtocolError):
            return
        reply = worker.handle(request)
        try:
            payload = protocol.dumps(reply)
        except BaseException as exc:  # noqa: BLE001
            payload = protocol.dumps(
                _failure("unsafe_result", f"a value that could not be sent back ({type(exc).__name__})")
            )
        protocol.send_message(fd_out, payload)


def _tag() -> str:
    return protocol._TAG


def _encode_lenient(value: Any) -> Any:
    try:
        return protocol.encode(value)
    except protocol.UnsafeResult:
        return None


def _tensors(obj: Any):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, torch.nn.Module):
        yield from obj.parameters()
        yield from obj.buffers()
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors(x)


def _storage_ptrs(obj: Any) -> set[int]:
    ptrs = set()
    for t in _tensors(obj):
        if t.device.type != "meta":
            ptr = t.untyped_storage().data_ptr()
            if ptr:
                ptrs.add(ptr)
    return ptrs


def _shares_memory(value: Any, args: Any) -> bool:
    ptrs = _storage_ptrs(value)
    return bool(ptrs) and not ptrs.isdisjoint(_storage_ptrs(args))


def _gradients(value: Any, args: list, kwargs: dict, backward: Any) -> dict[str, Any]:
    leaves = [(f"arg{i}", a) for i, a in enumerate(args) if type(a) is torch.Tensor and a.requires_grad]
    leaves += [(f"kw:{k}", v) for k, v in kwargs.items() if type(v) is torch.Tensor and v.requires_grad]
    grads: dict[str, Any] = {name: None for name, _ in leaves}
    if not leaves or type(value) is not torch.Tensor or not value.requires_grad:
        return {_tag(): "dict", "items": grads}
    upstream = torch.ones_like(value) if backward is True else protocol.decode(backward)
    try:
        computed = torch.autograd.grad(
            value, [t for _, t in leaves], grad_outputs=upstream, allow_unused=True
        )
    except Exception:  # noqa: BLE001
        return {_tag(): "dict", "items": grads}
    for (name, _), g in zip(leaves, computed):
        grads[name] = None if g is None else protocol.encode(g.detach())
    return {_tag(): "dict", "items": grads}


def _raised(exc: BaseException) -> dict[str, Any]:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return _failure(
        "raised",
        f"{type(exc).__name__}: {_short(str(exc))}",
        type_name=type(exc).__name__,
        mro=[c.__name__ for c in type(exc).__mro__],
        tb=tb[-TRACEBACK_CHARS:],
    )


def _describe_import_error(module: str, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{module}.py has a syntax error on line {exc.lineno}: {exc.msg}"
    return f"importing {module}.py raised {type(exc).__name__}: {_short(str(exc))}"


def _short(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failure(kind: str, message: str, *, type_name: str = "", mro: list[str] | None = None, tb: str = ""):
    return {
        "ok": False,
        "kind": kind,
        "message": message,
        "type": type_name,
        "mro": mro or [],
        "traceback": tb,
    }
