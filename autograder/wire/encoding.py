"""Encoding: Python objects become trees of tagged containers, scalars and plain tensors
(:func:`encode`), the graders' shared inputs once (:func:`share`), the arguments of a call into shared
memory (:func:`encode_arguments`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from autograder.wire import frame
from autograder.wire.arena import Arena
from autograder.wire.errors import (
    UnsafeResult,
)
from autograder.wire.models import (
    _init_data,
    model_key,
)
from autograder.wire.prepared import PREPARED


@dataclass(frozen=True)
class Seeded:
    """A ``torch.Generator`` seeded with ``seed``, built in the worker."""

    seed: int


_TAG = "__ag__"


def encode(obj: Any, *, handles: Callable[[Any], int] | None = None) -> Any:
    """Turn a value into a tree of containers, scalars and plain tensors that :func:`dumps` can write.

    Raises:
        UnsafeResult: for a value of a type that may not cross (tensor subclasses, custom objects,
            numpy scalars, models of other classes). With ``handles``, such an object is kept on this
            side and sent as a handle number instead.
    """
    t = type(obj)
    if obj is None or t in (bool, int, float, str):
        return obj
    if t is torch.Tensor:
        if obj.device.type == "meta":
            return {_TAG: "meta_tensor", "shape": list(obj.shape), "dtype": str(obj.dtype)}
        if PREPARED.entries and (ready := PREPARED.get(obj)) is not None:
            return ready
        return {_TAG: "tensor", "data": obj.detach().cpu().clone(), "requires_grad": obj.requires_grad}
    if t is list:
        return [encode(x, handles=handles) for x in obj]
    if t is tuple:
        return {_TAG: "tuple", "items": [encode(x, handles=handles) for x in obj]}
    if t is torch.Size:
        return {_TAG: "tuple", "items": [int(x) for x in obj]}
    if t is dict:
        if not all(type(k) is str for k in obj):
            raise UnsafeResult("a dict whose keys are not all str", type_name="dict")
        return {_TAG: "dict", "items": {k: encode(v, handles=handles) for k, v in obj.items()}}
    if t is Seeded:
        return {_TAG: "seeded", "seed": int(obj.seed)}
    if t is torch.dtype:
        return {_TAG: "dtype", "name": str(obj)}
    if isinstance(obj, nn.Module):
        if PREPARED.entries and (ready := PREPARED.get(obj)) is not None:
            return ready
        key = model_key(obj)
        if key is not None:
            return _encode_model(obj, key)
    if handles is not None:
        return {_TAG: "handle", "id": handles(obj), "type": _type_name(obj)}
    raise UnsafeResult(f"a value of type {_type_name(obj)}", type_name=_type_name(obj))


def share(obj: Any) -> Any:
    """Mark a model or tensor as a shared input of the graders (see ``support.shared_input``); returns
    it. Its encoding is made now, once, and reused for every message that carries it while its tensors
    are unchanged (see :func:`_prepared`)."""
    if PREPARED.enabled and isinstance(obj, (nn.Module, torch.Tensor)) and PREPARED.get(obj) is None:
        PREPARED.forget(obj)
        tree = encode(obj)
        PREPARED.put(obj, tree, [(tensor, _tensor_bytes(tensor)) for tensor in _tree_tensors(tree)])
    return obj


def shared_model_specs() -> list[tuple[str, dict[str, Any], str]]:
    """The ``(key, config, device)`` of every model among the shared inputs (see :func:`share`), each
    once: the models a worker rebuilds again and again (see
    :func:`autograder.wire.models.keep_templates`)."""
    found: dict[str, tuple[str, dict[str, Any], str]] = {}

    def walk(tree: Any) -> None:
        if type(tree) is dict:
            if tree.get(_TAG) == "model":
                spec = (tree["key"], tree["init"], tree["device"])
                found.setdefault(json.dumps(spec, sort_keys=True), spec)
            for value in tree.values():
                walk(value)
        elif type(tree) is list:
            for value in tree:
                walk(value)

    for _, _, tree in PREPARED.entries.values():
        walk(tree)
    return list(found.values())


def forget_prepared() -> None:
    """Never use the ready-made encodings in this process (a worker): see :mod:`.prepared`."""
    PREPARED.enabled = False


def _prepared(obj: Any) -> Any:
    return PREPARED.get(obj)


def _tree_tensors(tree: Any):
    if type(tree) is torch.Tensor:
        yield tree
    elif type(tree) is dict:
        for value in tree.values():
            yield from _tree_tensors(value)
    elif type(tree) is list:
        for value in tree:
            yield from _tree_tensors(value)


def _encode_model(module: nn.Module, key: str, arena: Arena | None = None) -> dict[str, Any]:
    params = list(module.parameters())
    device = "meta" if params and params[0].device.type == "meta" else "cpu"
    state: dict[str, Any] = {}
    placed: dict[tuple, dict[str, Any]] = {}
    if device != "meta":
        for name, tensor in module.state_dict(keep_vars=False).items():
            if arena is None:
                state[name] = tensor.detach().cpu().clone()
                continue
            where = (tensor.data_ptr(), tensor.dtype, tuple(tensor.shape), tensor.stride())
            if where not in placed:  # tied parameters share one region, as they share one tensor
                placed[where] = _arena_entry(tensor, arena)
            state[name] = placed[where]
    frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
    return {
        _TAG: "model",
        "key": key,
        "init": _init_data(module, key),
        "device": device,
        "state": state,
        "frozen": frozen,
        "training": bool(module.training),
        "inner_layers": _inner_layer_counts(module, key),
    }


MAX_INNER_CONFIGS = 64
"""At most this many inner configs of a model cross (a BERT has one: ``BertForMaskedLM.bert``'s)."""


def _inner_layer_counts(module: nn.Module, key: str) -> dict[str, int]:
    """Submodule name -> ``config.num_hidden_layers`` of its own config, where that differs from the
    model's (``BertForMaskedLM.bert`` holds a config of its own): the one config field a model's class,
    config and state dict do not carry."""
    if key.partition(".")[0] not in ("given", "hf"):
        return {}
    outer = getattr(getattr(module, "config", None), "num_hidden_layers", None)
    counts: dict[str, int] = {}
    for name, submodule in module.named_modules():
        layers = getattr(getattr(submodule, "config", None), "num_hidden_layers", None)
        if name and type(layers) is int and layers != outer:
            counts[name] = layers
            if len(counts) == MAX_INNER_CONFIGS:
                break
    return counts


def _arena_entry(tensor: torch.Tensor, arena: Arena) -> dict[str, Any]:
    placed = arena.place(tensor)
    if placed is None:
        raise UnsafeResult("an argument too big for the arena")
    return {
        _TAG: "arena_tensor",
        "offset": placed[0],
        "dtype": str(tensor.dtype),
        "shape": list(tensor.shape),
        "requires_grad": bool(tensor.requires_grad),
    }


def encode_arguments(args: Any, kwargs: dict[str, Any], arena: Arena) -> tuple[list[Any], dict[str, Any]]:
    """Encode a call's arguments with every top-level CPU tensor and model's tensors placed in ``arena``,
    so the graders can read them after the call (see :class:`CallResult`). Anything else, or anything
    too big for the arena, is encoded as by :func:`encode`."""

    def one(value: Any) -> Any:
        try:
            if type(value) is torch.Tensor and value.device.type == "cpu" and value.layout is torch.strided:
                return _arena_entry(value, arena)
            if isinstance(value, nn.Module) and (key := model_key(value)) is not None:
                return _encode_model(value, key, arena)
        except UnsafeResult:
            pass
        return encode(value)

    arena.begin_call()
    return [one(a) for a in args], {k: one(v) for k, v in kwargs.items()}


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    return frame.tensor_bytes(tensor)
