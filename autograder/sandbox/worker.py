"""The worker's side: import the staged submission, answer calls, send back plain data.

Everything here runs next to the learner's code and so trusts nothing it sees afterwards; it enforces
no limit itself (that is the sandbox's job, applied by whoever starts the worker).

A request is a dict: ``{"op": "call", "target": "ex2_distillation.distillation_loss" | handle id,
"args": [...], "kwargs": {...}, "backward": None | tensor | True, "arguments": bool}`` (``arguments``:
send the arguments back as they are after the call). A reply is ``{"ok": True, ...}``
with the fields of :class:`autograder.wire.values.CallResult`, or ``{"ok": False, "kind": ..., "message":
..., "type": ..., "mro": [...], "traceback": ...}``.

**Bound before the submission is imported.** The facts only this process can see (whether the value
shares memory with the arguments, which parameters of a returned model are one tensor, the gradients,
whether an argument still lies in the graders' shared memory, a model argument's layers and config after
the call) and the writing of every reply are computed by closures that :func:`bind` makes when the
worker starts. They hold their own references to ``torch``'s C functions (``TensorBase`` methods, the
autograd engine's ``run_backward``, ``StorageBase.data_ptr``), to ``object.__getattribute__`` and
``dict.items`` for walking a model's own dictionaries, to ``json``'s C encoder and ``os.write``; and run
with ``torch``'s function overrides off. A submission that rebinds a name in this module or in
:mod:`autograder.wire.values`, patches a method of ``torch.Tensor`` or ``nn.Module``, or swaps a class
changes nothing they compute.
"""

from __future__ import annotations

import builtins
import importlib
import re
import traceback
from collections.abc import Callable
from typing import Any

from autograder.sandbox import submission_import
from autograder.sandbox.submission_import import SubmissionImports
from autograder.wire import arena as arena_module
from autograder.wire import frame as wire_frame
from autograder.wire import values

# Types in the annotations of :func:`bind`'s closures (where ``dict``, ``list``... name bound builtins).
Tree = dict[str, Any]
Names = list[str]
Groups = list[list[str]]
Ids = set[int]

STUB_MESSAGE = re.compile(r"^ex\d+: implement\b")
TRACEBACK_CHARS = 2000


class Worker(SubmissionImports):
    """Answers requests for one staged submission package (``package`` is importable).

    ``arena``: the graders' shared memory for arguments (by default the one this process attached).
    """

    def __init__(self, package: str, *, arena: arena_module.Arena | None = None):
        super().__init__(package)
        self.arena = arena if arena is not None else arena_module.inherited()
        # The graders' ready-made encodings of their inputs must not describe what the submission's
        # code did to them here (a teacher changed in place, or with layers removed, goes back as it is).
        values.forget_prepared()
        values.set_given_model_module(lambda: importlib.import_module(f"{package}.model"))
        self.handle = bind(self)


def bind(worker: Worker) -> Callable[[Any], dict[str, Any]]:
    """The worker's request handler, with every fact it reports computed by code bound now (see the
    module's docstring). Called before the submission is imported."""
    # Every global name the closures below use is bound here as a local of this function (a closure
    # variable for them), so that rebinding it in this module or in builtins afterwards changes nothing.
    (dict, set, str, id, len, zip, enumerate, getattr, type, isinstance, list, tuple, bool) = (
        builtins.dict,
        builtins.set,
        builtins.str,
        builtins.id,
        builtins.len,
        builtins.zip,
        builtins.enumerate,
        builtins.getattr,
        builtins.type,
        builtins.isinstance,
        builtins.list,
        builtins.tuple,
        builtins.bool,
    )
    BaseException, Exception, NotImplementedError = (
        builtins.BaseException,
        builtins.Exception,
        builtins.NotImplementedError,
    )
    names = globals()
    import torch as torch_module

    values, frame = names["values"], wire_frame
    short, traceback_chars, stub_message = (
        submission_import.short,
        names["TRACEBACK_CHARS"],
        names["STUB_MESSAGE"],
    )
    max_depth, dtype_named, empty = frame.MAX_DEPTH, frame.dtype_named, torch_module.empty
    tensor_type, module_type, parameter_type = (
        torch_module.Tensor,
        torch_module.nn.Module,
        torch_module.nn.Parameter,
    )
    base = torch_module._C.TensorBase
    storage_of, storage_ptr = base.untyped_storage, torch_module._C.StorageBase.data_ptr  # type: ignore[attr-defined]
    data_ptr, storage_offset = base.data_ptr, base.storage_offset
    detach, ones_like = base.detach, torch_module._C._VariableFunctions.ones_like
    shape_of = base.__dict__["shape"].__get__
    dtype_of = base.__dict__["dtype"].__get__
    device_of = base.__dict__["device"].__get__
    requires_grad_of = base.__dict__["requires_grad"].__get__
    run_backward = torch_module.autograd.Variable._execution_engine.run_backward
    no_overrides, is_floating = torch_module._C.DisableTorchFunction, base.is_floating_point
    function_modes, dispatch_modes = (
        torch_module._C._len_torch_function_stack,
        torch_module._C._len_torch_dispatch_stack,
    )
    getset = type(torch_module.nn.Module.__dict__["__dict__"])
    mro_of, class_dict_of = type.__dict__["__mro__"].__get__, type.__dict__["__dict__"].__get__
    frombuffer, set_data = torch_module.frombuffer, base.__dict__["data"].__set__
    requires_grad_, view_as = base.requires_grad_, base.view
    kind, is_instance, to_list, to_tuple, to_bool = type, isinstance, list, tuple, bool
    items: Any = dict.items
    encode, decode, tag = values.encode, values.decode, values._TAG
    unsafe, submission_error, not_started = (
        values.UnsafeResult,
        values.SubmissionError,
        values.NotStarted,
    )
    plain_scalar_tree = values._is_plain_scalar_tree
    shared: Any = worker.arena
    arena_start = shared.span()[0] if shared is not None else None
    resolve, keep, handle_value = worker._resolve, worker._keep, worker._handle_value
    importer = worker._import
    failure, describe_exception, name_of = names["failure_reply"], traceback.format_exception, str

    def raised(exc: builtins.BaseException) -> Tree:
        text = "".join(describe_exception(kind(exc), exc, exc.__traceback__))
        return failure(
            "raised",
            f"{kind(exc).__name__}: {short(name_of(exc))}",
            type_name=kind(exc).__name__,
            mro=[c.__name__ for c in kind(exc).__mro__],
            tb=text[-traceback_chars:],
        )

    def lenient(value: Any) -> Any:
        try:
            return encode(value)
        except unsafe:
            return None

    def instance_dict(obj: Any) -> Tree:
        """``obj``'s own attribute dict, through the C slot descriptor of its class (a ``__dict__``
        property or ``__getattribute__`` defined by a swapped-in class is passed over)."""
        for cls in mro_of(kind(obj)):
            descriptor = class_dict_of(cls).get("__dict__")
            if kind(descriptor) is getset:
                own = descriptor.__get__(obj, kind(obj))
                if kind(own) is dict:
                    return own
        raise unsafe(f"an object of type {kind(obj).__name__} without its own attributes")

    def arena_view(entry: Tree) -> Any:
        dtype, shape = dtype_named(entry["dtype"]), entry["shape"]
        count = 1
        for size in shape:
            count *= size
        if not count:
            return empty(shape, dtype=dtype)
        flat = frombuffer(shared.map, dtype=dtype, count=count, offset=entry["offset"])
        return view_as(flat, shape)

    def hand_over(value: Any, sent: Any) -> Any:
        """The argument the submission gets: for one placed in the graders' shared memory, a view of
        it (a model's parameters and buffers made views of it), whatever ``decode`` built."""
        sent_tag = sent.get(tag) if kind(sent) is dict else None
        if shared is None or sent_tag not in ("arena_tensor", "model"):
            return value
        if sent_tag == "arena_tensor":
            tensor = arena_view(sent)
            if sent.get("requires_grad") is True and is_floating(tensor):
                requires_grad_(tensor, True)
            return tensor
        placed = sent.get("state")
        if is_instance(value, module_type) and in_arena(placed):
            for name, tensor, _ in walk_module(value, "", 0, set()):
                entry = placed.get(name)
                if kind(entry) is dict and entry.get(tag) == "arena_tensor":
                    set_data(tensor, arena_view(entry))
        return value

    def walk_module(module: Any, prefix: builtins.str, depth: int, seen: Ids):
        """(name, tensor, is_parameter) of a model, as its state dict names them, read from the module's
        own dictionaries (no method of the model or its class is called). ``seen``: the modules on the
        path here (a module reached twice is walked twice, as the state dict lists it twice)."""
        if depth > 64 or id(module) in seen:
            raise unsafe("a model nested more than 64 deep or holding itself")
        own = instance_dict(module)
        parameters, buffers, children = own.get("_parameters"), own.get("_buffers"), own.get("_modules")
        transient = own.get("_non_persistent_buffers_set", set())
        if kind(parameters) is not dict or kind(buffers) is not dict or kind(children) is not dict:
            raise unsafe("a model whose parameters or layers are not plain dicts")
        if kind(transient) is not set:
            raise unsafe("a model whose list of non-persistent buffers is not a set")
        seen = seen | {id(module)}
        for name, tensor in items(parameters):
            if tensor is not None:
                yield prefix + name, tensor, True
        for name, tensor in items(buffers):
            if tensor is not None and name not in transient:
                yield prefix + name, tensor, False
        for name, child in items(children):
            if child is not None:
                yield from walk_module(child, f"{prefix}{name}.", depth + 1, seen)

    def tensors_in(value: Any, depth: int = 0):
        if depth > max_depth:
            return
        if is_instance(value, tensor_type):
            yield value
        elif is_instance(value, module_type):
            for _, tensor, _ in walk_module(value, "", 0, set()):
                yield tensor
        elif kind(value) in (list, tuple):
            for item in value:
                yield from tensors_in(item, depth + 1)
        elif kind(value) is dict:
            for _, item in items(value):
                yield from tensors_in(item, depth + 1)

    def storages(value: Any) -> Ids:
        found = set()
        for tensor in tensors_in(value):
            if device_of(tensor).type != "meta":
                pointer = storage_ptr(storage_of(tensor))
                if pointer:
                    found.add(pointer)
        return found

    def shares_memory(value: Any, arguments: Any) -> builtins.bool:
        mine = storages(value)
        return to_bool(mine) and not mine.isdisjoint(storages(arguments))

    def tied_groups(model: Any) -> Groups:
        by_place: builtins.dict[builtins.tuple, Names] = {}
        for name, tensor, is_parameter in walk_module(model, "", 0, set()):
            if not is_parameter:
                continue
            if device_of(tensor).type == "meta":
                place: builtins.tuple = (id(tensor), 0)
            else:
                place = (storage_ptr(storage_of(tensor)), storage_offset(tensor))
            by_place.setdefault(place, []).append(name)
        return [names for names in by_place.values() if len(names) > 1]

    def gradients(value: Any, args: builtins.list, kwargs: builtins.dict, backward: Any) -> Tree:
        leaves = [
            (f"arg{i}", a) for i, a in enumerate(args) if kind(a) is tensor_type and requires_grad_of(a)
        ]
        leaves += [(f"kw:{k}", v) for k, v in items(kwargs) if kind(v) is tensor_type and requires_grad_of(v)]
        grads: Tree = {name: None for name, _ in leaves}
        if not leaves or kind(value) is not tensor_type or not requires_grad_of(value):
            return {tag: "dict", "items": grads}
        upstream = ones_like(value) if backward is True else decode(backward)
        try:
            computed = run_backward(
                (value,), (upstream,), False, False, to_tuple(t for _, t in leaves), True, False
            )
        except Exception:
            return {tag: "dict", "items": grads}
        for (name, _), gradient in zip(leaves, computed):
            if gradient is not None:
                grads[name] = {tag: "tensor", "data": detach(gradient), "requires_grad": False}
        return {tag: "dict", "items": grads}

    def still_there(tensor: Any, entry: Tree) -> builtins.bool:
        """Whether the submission's tensor is still the view of its arena region it was handed."""
        return (
            arena_start is not None
            and kind(tensor) in (tensor_type, parameter_type)
            and data_ptr(tensor) == arena_start + entry["offset"]
            and to_list(shape_of(tensor)) == entry["shape"]
            and str(dtype_of(tensor)) == entry["dtype"]
        )

    def tensor_entry(tensor: Any) -> Any:
        if kind(tensor) not in (tensor_type, parameter_type) or device_of(tensor).type != "cpu":
            return None
        return {tag: "tensor", "data": detach(tensor), "requires_grad": False}

    def config_fields(model: Any) -> Tree:
        config = instance_dict(model).get("config")
        fields = instance_dict(config) if config is not None else {}
        return {k: v for k, v in items(fields) if kind(k) is str and plain_scalar_tree(v)}

    def in_arena(state: Any) -> builtins.bool:
        """Whether a model's state was sent in the arena (all of it: a model too big for it is not)."""
        if kind(state) is not dict or not state:
            return False
        return not [e for e in state.values() if kind(e) is not dict or e.get(tag) != "arena_tensor"]

    def after_the_call(value: Any, sent: Any) -> Any:
        """An argument as it is now: for one handed over in the graders' shared memory, only whether it
        still lies there (the graders read its values themselves) and, for a model, its layout."""
        sent_tag = sent.get(tag) if kind(sent) is dict else None
        if sent_tag == "arena_tensor":
            return {tag: "arena_ref"} if still_there(value, sent) else lenient(value)
        placed: Any = sent.get("state") if sent_tag == "model" else None
        if is_instance(value, module_type) and in_arena(placed):
            state = {}
            for name, tensor, _ in walk_module(value, "", 0, set()):
                entry = placed.get(name)
                if kind(entry) is dict and entry.get(tag) == "arena_tensor" and still_there(tensor, entry):
                    state[name] = {tag: "arena_ref"}
                else:
                    state[name] = tensor_entry(tensor)
            return {tag: "model_after", "init": config_fields(value), "state": state}
        return lenient(value)

    def call(request: Tree) -> Tree:
        function = resolve(request.get("target"))
        how = {"resolve_handle": handle_value, "arena": shared}
        sent_args = request.get("args", [])
        sent_kwargs: Any = request.get("kwargs")
        args = decode(sent_args, **how)
        kwargs = decode(sent_kwargs, **how) if sent_kwargs else {}
        sent_items = sent_kwargs.get("items", {}) if kind(sent_kwargs) is dict else {}
        with no_overrides():
            args = [hand_over(a, s) for a, s in zip(args, sent_args)]
            kwargs = {k: hand_over(v, sent_items.get(k)) for k, v in items(kwargs)}
        try:
            value = function(*args, **kwargs)
        except NotImplementedError as exc:
            if stub_message.match(str(exc)):
                raise not_started(str(exc)) from None
            return raised(exc)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt included: they cost this call only
            return raised(exc)
        if function_modes() or dispatch_modes():
            raise unsafe("the call left a torch function or dispatch mode active")
        with no_overrides():
            reply: Tree = {"ok": True}
            try:
                reply["value"] = encode(value, handles=keep if is_instance(function, type) else None)
            except unsafe as exc:
                raise unsafe(exc.message, type_name=exc.type_name) from None
            reply["result_requires_grad"] = kind(value) is tensor_type and requires_grad_of(value)
            if request.get("arguments"):
                reply["args"] = [after_the_call(a, s) for a, s in zip(args, sent_args)]
                reply["kwargs"] = {
                    tag: "dict",
                    "items": {k: after_the_call(v, sent_items.get(k)) for k, v in items(kwargs)},
                }
            reply["shares_memory"] = shares_memory(value, (args, kwargs))
            if is_instance(value, module_type):
                reply["tied"] = tied_groups(value)
            backward = request.get("backward")
            if backward is not None:
                reply["grads"] = gradients(value, args, kwargs, backward)
        return reply

    def handle(request: Any) -> Tree:
        try:
            if kind(request) is not dict:
                return failure("error", "a request that is not a dict")
            op = request.get("op")
            try:
                if op == "ping":
                    return {"ok": True}
                if op == "import":
                    importer(str(request["module"]))
                    return {"ok": True}
                if op == "call":
                    return call(request)
            except submission_error as exc:
                return failure(exc.kind, exc.message, type_name=getattr(exc, "type_name", ""))
            return failure("error", f"unknown op {op!r}")
        except BaseException as exc:  # anything the learner's code broke on the way: this request only
            detail = f"{type(exc).__name__}: {short(str(exc))}"
            return failure("error", f"the call could not be completed ({detail})")

    return handle


def failure_reply(
    kind: str, message: str, *, type_name: str = "", mro: list[str] | None = None, tb: str = ""
):
    return {
        "ok": False,
        "kind": kind,
        "message": message,
        "type": type_name,
        "mro": mro or [],
        "traceback": tb,
    }
