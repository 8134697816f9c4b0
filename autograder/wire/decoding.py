"""Decoding: a tree read from the wire becomes values again, checked as it goes (bounded nesting,
tensors of the sizes they claim, models within their :class:`~autograder.wire.models.ModelAllowance`,
rebuilt with pristine classes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from autograder.wire import frame
from autograder.wire.arena import Arena
from autograder.wire.encoding import _TAG, MAX_INNER_CONFIGS
from autograder.wire.errors import (
    CallTimedOut,
    ModelMismatch,
    ProtocolError,
    SubmissionError,
)
from autograder.wire.models import (
    ModelAllowance,
    _build_model,
    _is_plain_scalar_tree,
    _load_state,
    _resolve_class,
    _set_inner_layers,
    keep_sent_layer_count,
    layers_held,
)


def decode(
    tree: Any,
    *,
    resolve_handle: Callable[[int], Any] | None = None,
    models_as_sent: bool = False,
    allow: ModelAllowance | None = None,
    deadline: float | None = None,
    arena: Arena | None = None,
) -> Any:
    """Rebuild a value from :func:`encode`'s tree (models with this side's pristine classes, or with
    ``models_as_sent`` as :class:`SentModel` data, not rebuilt).

    On the graders' side ``allow`` bounds the models a reply may hold (checked before one is built) and
    ``deadline`` (a ``time.monotonic()`` value) is the call's: building a model starts only before it.
    In a worker, ``arena`` is the graders' shared memory: a tensor placed there is handed over as a view
    of it, and so are the parameters and buffers of a model placed there.

    Raises:
        ProtocolError: for a tree :func:`encode` cannot have made, or a model ``allow`` refuses.
        CallTimedOut: the deadline passed while the reply was being decoded.
        ModelMismatch: a model whose state does not fit its class and config (``load_state_dict``'s
            error is its ``detail``).
    """
    decoder = _Decoder(resolve_handle, models_as_sent, allow, deadline, arena)
    try:
        return decoder.value(tree, 0)
    except (ProtocolError, SubmissionError):
        raise
    except _MALFORMED as exc:
        raise ProtocolError(f"a malformed value in a message ({type(exc).__name__}: {exc})") from None


_MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError)


@dataclass
class _Decoder:
    resolve_handle: Callable[[int], Any] | None
    models_as_sent: bool
    allow: ModelAllowance | None
    deadline: float | None
    arena: Arena | None

    def value(self, tree: Any, depth: int) -> Any:
        if depth > frame.MAX_DEPTH:
            raise ProtocolError(f"a value nested more than {frame.MAX_DEPTH} deep")
        t = type(tree)
        if tree is None or t in (bool, int, float, str):
            return tree
        if t is list:
            return [self.value(x, depth + 1) for x in tree]
        if t is not dict or type(tree.get(_TAG)) is not str:
            raise ProtocolError(f"unexpected {t.__name__} in a message")
        tag = tree[_TAG]
        if tag == "tensor":
            data = tree.get("data")
            if type(data) is not torch.Tensor:
                raise ProtocolError("a tensor entry without a tensor")
            if tree.get("requires_grad") is True and data.is_floating_point():
                data = data.detach().requires_grad_(True)
            return data
        if tag == "arena_tensor":
            if self.arena is None:
                raise ProtocolError("a tensor in shared memory where there is none")
            offset = _typed(tree, "offset", int)
            shape = frame.checked_shape(tree.get("shape"))
            data = self.arena.view(offset, frame.dtype_named(tree.get("dtype")), shape)
            if tree.get("requires_grad") is True and data.is_floating_point():
                data.requires_grad_(True)
            return data
        if tag == "meta_tensor":
            shape = frame.checked_shape(tree.get("shape"))
            return torch.empty(shape, dtype=frame.dtype_named(tree.get("dtype")), device="meta")
        if tag == "tuple":
            return tuple(self.value(x, depth + 1) for x in _typed(tree, "items", list))
        if tag == "dict":
            return {k: self.value(v, depth + 1) for k, v in _typed(tree, "items", dict).items()}
        if tag == "seeded":
            seed = _typed(tree, "seed", int)
            if not 0 <= seed < 2**64:
                raise ProtocolError("a seed outside [0, 2**64)")
            return torch.Generator().manual_seed(seed)
        if tag == "dtype":
            return frame.dtype_named(tree.get("name"))
        if tag == "model":
            return self.model(tree)
        if tag == "handle":
            number = _typed(tree, "id", int)
            if self.resolve_handle is None:
                return Handle(number, str(tree.get("type", "?"))[:200])
            return self.resolve_handle(number)
        raise ProtocolError(f"unknown entry {tag[:20]!r} in a message")

    def model(self, tree: dict[str, Any]) -> Any:
        key, init, device = _typed(tree, "key", str), _typed(tree, "init", dict), _typed(tree, "device", str)
        state = _typed(tree, "state", dict)
        in_arena = bool(state) and _is_arena_model(tree)
        if in_arena:
            state = {name: self.value(entry, 1) for name, entry in state.items()}
        if not all(type(k) is str and type(v) is torch.Tensor for k, v in state.items()):
            raise ProtocolError("a model state that is not tensors by name")
        if not _is_plain_scalar_tree(init):
            raise ProtocolError("a model config that is not plain data")
        if self.models_as_sent:
            return SentModel(key, dict(init), dict(state))
        if device not in ("cpu", "meta"):
            raise ProtocolError(f"a model on {device[:20]!r}")
        _resolve_class(key)
        if self.allow is not None:
            self.allow.check(key, init, device)
        frozen = _typed(tree, "frozen", list)
        training = _typed(tree, "training", bool)
        inner_layers = self.inner_layers(tree, key, device)
        # A model whose encoder holds another number of layers than its config says (the config not
        # updated) is rebuilt as it was: with the layers it holds, its config saying what it said.
        build = dict(init)
        held = layers_held(key, state) if device != "meta" else None
        said = init.get("num_hidden_layers")
        if held is not None and type(said) is int and held != said:
            build["num_hidden_layers"] = held
            if self.allow is not None:
                self.allow.check(key, build, device)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise CallTimedOut("its reply could not be read within the call's time limit (a model too big?)")
        try:
            module = _build_model(key, build, device)
            if device != "meta":
                _load_state(module, key, state)
            if build != init:
                keep_sent_layer_count(module, said)
        except MemoryError:
            raise
        except RuntimeError as exc:  # from torch: a state that does not fit the class and config
            raise _mismatch("a model whose state does not fit its own config", str(exc)) from None
        except Exception as exc:  # noqa: BLE001  (a config its class cannot be built with: 0 heads, ...)
            raise _mismatch("a model whose config cannot be built", f"{type(exc).__name__}: {exc}") from None
        frozen_names = {str(name) for name in frozen}
        for name, p in module.named_parameters():
            p.requires_grad_(name not in frozen_names)
        module.train(training)
        _set_inner_layers(module, inner_layers)
        return module

    def inner_layers(self, tree: dict[str, Any], key: str, device: str) -> dict[str, int]:
        """The layer counts of a model's inner configs (see :func:`_inner_layer_counts`), checked."""
        counts = tree.get("inner_layers", {})
        if type(counts) is not dict or len(counts) > MAX_INNER_CONFIGS:
            raise ProtocolError("a model's inner configs that are not a small table of layer counts")
        for name, layers in counts.items():
            if type(name) is not str or type(layers) is not int or layers < 0:
                raise ProtocolError("a model's inner config layer count that is not a count by name")
            if self.allow is not None:
                self.allow.check(key, {"num_hidden_layers": layers}, device)
        return counts


def _mismatch(what: str, detail: str) -> ModelMismatch:
    """``what``, with the first 300 characters of ``detail`` on one line (all of it kept as the detail)."""
    return ModelMismatch(f"{what} ({' '.join(detail.split())[:300]})", detail=detail)


def _typed(tree: dict[str, Any], name: str, kind: type) -> Any:
    value = tree.get(name)
    if type(value) is not kind:
        raise ProtocolError(f"a {tree.get(_TAG)} entry whose {name} is not a {kind.__name__}")
    return value


def _dtype(name: str) -> torch.dtype:
    return frame.dtype_named(name)


@dataclass(frozen=True)
class SentModel:
    """A model as the other side sent it, not rebuilt: its class key, the fields of its config and its
    state dict (for checks that only compare weights and config, such as "the teacher is untouched")."""

    key: str
    config: dict[str, Any]
    state: dict[str, torch.Tensor]


@dataclass(frozen=True)
class Handle:
    """An object that stays in the worker (an instance the submission made), called by number."""

    id: int
    type_name: str


def _is_arena_model(entry: dict[str, Any]) -> bool:
    return all(type(e) is dict and e.get(_TAG) == "arena_tensor" for e in entry["state"].values())
