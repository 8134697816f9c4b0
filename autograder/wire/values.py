"""Values on the wire between the graders (trusted) and a worker running a submission (untrusted).

Only plain data crosses: ``None``, ``bool``, ``int``, ``float``, ``str``, exact ``torch.Tensor`` objects,
lists, tuples and dicts of these, random generators given by their seed (:class:`Seeded`), and models
of a fixed list of classes, sent as ``(class key, init data, state dict)`` (and the layer counts of
their inner configs) and rebuilt on the other side with pristine code. Nothing is ever unpickled: a
value becomes a tree of tagged containers, scalars and tensors (:func:`encode`), written by
:mod:`autograder.wire.frame` and checked when read back (:func:`decode`, with :class:`ModelAllowance`
bounding the models a reply may hold). The arguments a check reads back after the call travel in
shared memory (:mod:`autograder.wire.arena`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from autograder.wire import frame
from autograder.wire.arena import Arena
from autograder.wire.errors import (
    ERRORS_BY_KIND,
    CallTimedOut,
    ImportFailed,
    MissingName,
    NotStarted,
    ProtocolError,
    SubmissionError,
    SubmissionRaised,
    UnsafeResult,
    WorkerDied,
)
from autograder.wire.frame import MAX_MESSAGE_BYTES, loads, recv_message, send_message

__all__ = [
    "ERRORS_BY_KIND",
    "MAX_MESSAGE_BYTES",
    "CallTimedOut",
    "ImportFailed",
    "MissingName",
    "NotStarted",
    "ProtocolError",
    "SubmissionError",
    "SubmissionRaised",
    "UnsafeResult",
    "WorkerDied",
    "loads",
    "recv_message",
    "send_message",
]


# --------------------------------------------------------------------------------------------------
# Values that stand for something the other side builds itself.


@dataclass(frozen=True)
class Seeded:
    """A ``torch.Generator`` seeded with ``seed``, built in the worker."""

    seed: int


@dataclass
class CallResult:
    """Everything a call tells: the value, the arguments as they were after the call, and side facts.

    Attributes:
        value: the returned value, decoded (models rebuilt with pristine classes).
        args, kwargs: with ``call(..., arguments=True)``, the arguments after the call (to see whether the
            submission modified them); a model among them comes as a :class:`SentModel` (its config
            fields and state dict), not rebuilt. A tensor argument, and each tensor of a model argument,
            is the graders' own reading of the shared memory the submission was handed (see
            :mod:`autograder.wire.arena`); the worker tells only whether the submission's object still
            lies there (a model's layer list and config are its word).
        grads: with ``backward=...``: for every argument tensor sent with ``requires_grad=True``, its
            gradient (``None`` when no gradient reached it), keyed ``"arg0"``, ``"kw:name"``.
        result_requires_grad: whether the returned tensor was attached to the autograd graph.
        shares_memory: whether any tensor in the value (model parameters included) shares storage with
            any tensor of the arguments.
        tied: for a returned model, groups of parameter names that are one shared tensor in the worker.
    """

    value: Any
    grads: dict[str, Any] = field(default_factory=dict)
    result_requires_grad: bool = False
    shares_memory: bool = False
    tied: list[list[str]] = field(default_factory=list)
    handle: int | None = None
    arguments_tree: Any = None
    """With ``call(..., arguments=True)``: the arguments after the call as the worker sent them, decoded
    on first use of ``args`` or ``kwargs`` (decoding a model argument rebuilds it). None otherwise."""
    observed: tuple[list[Any], dict[str, Any]] | None = None
    """With ``call(..., arguments=True)``: the graders' own reading of the arguments placed in the arena,
    taken when the reply arrived (see :func:`observe_arguments`)."""
    _decoded: tuple[list[Any], dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def args(self) -> list[Any]:
        return self._arguments()[0]

    @property
    def kwargs(self) -> dict[str, Any]:
        return self._arguments()[1]

    def _arguments(self) -> tuple[list[Any], dict[str, Any]]:
        if self._decoded is None:
            if self.arguments_tree is None:
                raise RuntimeError("arguments after the call not asked for: use call(..., arguments=True)")
            tree = self.arguments_tree
            if type(tree) is not dict or type(tree.get("args")) is not list or "kwargs" not in tree:
                raise UnsafeResult("the worker did not send the arguments back as asked")
            seen_args, seen_kwargs = self.observed or ([], {})
            try:
                reported_kwargs = tree["kwargs"]
                if type(reported_kwargs) is dict and reported_kwargs.get(_TAG) == "dict":
                    reported_kwargs = reported_kwargs.get("items")
                if type(reported_kwargs) is not dict:
                    raise ProtocolError("keyword arguments that are not a dict")
                args = [
                    _after(seen_args[i] if i < len(seen_args) else None, reported)
                    for i, reported in enumerate(tree["args"])
                ]
                kwargs = {str(k): _after(seen_kwargs.get(k), v) for k, v in reported_kwargs.items()}
            except ProtocolError as exc:
                message = f"the worker sent back arguments that are not plain data ({exc})"
                raise UnsafeResult(message) from None
            self._decoded = (args, kwargs)
        return self._decoded


def observe_arguments(
    sent: tuple[list[Any], dict[str, Any]], arena: Arena
) -> tuple[list[Any], dict[str, Any]]:
    """The graders' own reading, now, of every argument region :func:`encode_arguments` placed in the
    arena: a tensor for a tensor, a model's tree with its state read back for a model, None for the rest."""

    def one(entry: Any) -> Any:
        if type(entry) is not dict:
            return None
        if entry.get(_TAG) == "arena_tensor":
            return _read_region(entry, arena)
        if entry.get(_TAG) == "model" and entry.get("state") and _is_arena_model(entry):
            return {**entry, "state": {name: _read_region(e, arena) for name, e in entry["state"].items()}}
        return None

    args, kwargs = sent
    return [one(a) for a in args], {k: one(v) for k, v in kwargs.items()}


def _is_arena_model(entry: dict[str, Any]) -> bool:
    return all(type(e) is dict and e.get(_TAG) == "arena_tensor" for e in entry["state"].values())


def _read_region(entry: dict[str, Any], arena: Arena) -> torch.Tensor:
    return arena.read(entry["offset"], frame.dtype_named(entry["dtype"]), entry["shape"])


def _after(observed: Any, reported: Any) -> Any:
    """An argument after the call: what the graders read in the arena, where the worker's report says
    the submission's object still lies there; otherwise the worker's report."""
    tag = reported.get(_TAG) if type(reported) is dict else None
    if type(observed) is torch.Tensor:
        if tag == "arena_ref":
            return observed
        moved = decode(reported, models_as_sent=True)
        if type(moved) is not torch.Tensor:
            raise ProtocolError("a tensor argument that is no longer a tensor after the call")
        return moved
    if type(observed) is dict and tag == "model_after":
        state = reported.get("state")
        init = reported.get("init")
        if type(state) is not dict or type(init) is not dict or not _is_plain_scalar_tree(init):
            raise ProtocolError("a model after the call without its config or state")
        values: dict[str, torch.Tensor] = {}
        for name, value in state.items():
            if type(value) is dict and value.get(_TAG) == "arena_ref":
                if name not in observed["state"]:
                    raise ProtocolError(
                        f"a model parameter {name[:60]!r} said to be in the arena, never put there"
                    )
                values[name] = observed["state"][name]
            else:
                tensor = decode(value)
                if type(tensor) is not torch.Tensor:
                    raise ProtocolError("a model state that is not tensors by name")
                values[name] = tensor
        return SentModel(str(observed["key"]), dict(init), values)
    if tag in ("arena_ref", "model_after"):
        raise ProtocolError("an argument said to be in the arena that was not put there")
    return decode(reported, models_as_sent=True)


# --------------------------------------------------------------------------------------------------
# Model classes that may cross, by key. Each side resolves a key to its own pristine class; the
# worker resolves "given.*" to the staged copy of the given model so that ``isinstance`` checks in the
# submission's code hold.


def _given_module():
    import solutions.model as given

    return given


_GIVEN_RESOLVER: list[Callable[[], Any]] = [_given_module]


def set_given_model_module(resolver: Callable[[], Any]) -> None:
    """Make "given.*" keys resolve to another copy of the given model (the worker's staged one)."""
    _GIVEN_RESOLVER[0] = resolver


def _resolve_class(key: str) -> type[nn.Module]:
    family, _, name = key.partition(".")
    if family == "given" and name in ("BertModel", "BertForMaskedLM"):
        return getattr(_GIVEN_RESOLVER[0](), name)
    if family == "hf" and name in ("BertModel", "BertForMaskedLM"):
        return getattr(importlib.import_module("transformers"), name)
    if family == "zoo":
        zoo = importlib.import_module("autograder.graders.zoo")
        cls = getattr(zoo, name, None)
        if isinstance(cls, type) and issubclass(cls, nn.Module) and name in zoo.__all__:
            return cls
    raise ProtocolError(f"no model class may cross under the key {key!r}")


def model_key(module: nn.Module) -> str | None:
    """The key of a model's exact class, or None when that class may not cross."""
    cls = type(module)
    keys = ["given.BertModel", "given.BertForMaskedLM"]
    if "transformers" in sys.modules:  # else no model can be of its classes: do not import it
        keys += ["hf.BertModel", "hf.BertForMaskedLM"]
    for key in keys:
        try:
            if cls is _resolve_class(key):
                return key
        except (ProtocolError, ImportError):
            continue
    if cls.__module__ == "autograder.graders.zoo":
        key = f"zoo.{cls.__name__}"
        try:
            if cls is _resolve_class(key):
                return key
        except ProtocolError:
            return None
    return None


def _init_data(module: nn.Module, key: str) -> dict[str, Any]:
    family = key.partition(".")[0]
    config: Any = getattr(module, "config", None)
    if family == "given":
        return dataclasses.asdict(config)
    if family == "hf":
        return {k: v for k, v in config.to_dict().items() if _is_plain_scalar_tree(v)}
    init_kwargs: Any = module.init_kwargs  # the zoo's classes keep their keyword arguments
    return dict(init_kwargs)


def _build_model(key: str, init: dict[str, Any], device: str) -> nn.Module:
    cls = _resolve_class(key)
    family = key.partition(".")[0]
    if family == "given":
        config = cls.__init__.__globals__["BertConfig"](**init)
        args: tuple = (config,)
        kwargs: dict = {}
    elif family == "hf":
        config = importlib.import_module("transformers").BertConfig(**init)
        args, kwargs = (config,), {}
    else:
        args, kwargs = (), dict(init)
    with random_init_skipped():
        if device == "cpu":  # the default device: no torch.device context, which costs time per module
            return cls(*args, **kwargs)
        with torch.device(device):
            return cls(*args, **kwargs)


_INITIALISERS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "kaiming_uniform_")


@contextlib.contextmanager
def random_init_skipped():
    """Make ``torch.nn.init``'s fills no-ops while a model is rebuilt from a message.

    On the CPU, the state sent (:func:`_load_state`) then replaces every parameter and persistent buffer
    (buffers made with ``torch.arange``/``zeros`` are untouched); on meta there is nothing to fill.
    """
    saved = {name: getattr(nn.init, name) for name in _INITIALISERS}
    for name in _INITIALISERS:
        setattr(nn.init, name, _leave_unfilled)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _leave_unfilled(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


def _is_plain_scalar_tree(v: Any) -> bool:
    if v is None or type(v) in (bool, int, float, str):
        return True
    if type(v) in (list, tuple):
        return all(_is_plain_scalar_tree(x) for x in v)
    if type(v) is dict:
        return all(type(k) is str and _is_plain_scalar_tree(x) for k, x in v.items())
    return False


def tied_groups(module: nn.Module) -> list[list[str]]:
    """Groups of parameter names that are the same tensor storage (size > 1 only)."""
    by_ptr: dict[tuple[int, Any], list[str]] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        if p.device.type == "meta":
            by_ptr.setdefault((id(p), 0), []).append(name)
        else:
            by_ptr.setdefault((p.untyped_storage().data_ptr(), p.storage_offset()), []).append(name)
    return [names for names in by_ptr.values() if len(names) > 1]


# --------------------------------------------------------------------------------------------------
# Encoding: Python objects <-> trees of containers, scalars and plain tensors (see dumps and loads).

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
        if _PREPARED and (ready := _prepared(obj)) is not None:
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
        if _PREPARED and (ready := _prepared(obj)) is not None:
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
    if _USE_PREPARED and isinstance(obj, (nn.Module, torch.Tensor)) and _prepared(obj) is None:
        _PREPARED.pop(id(obj), None)
        tree = encode(obj)
        for tensor in _tree_tensors(tree):
            _RAW[id(tensor)] = (tensor, _tensor_bytes(tensor))
        _PREPARED[id(obj)] = (obj, _fingerprint(obj), tree)
    return obj


# Ready-made encodings of the shared inputs (the tree, and the bytes of its tensors: snapshots that
# only this cache holds). For the graders' side only: a worker turns them off (forget_prepared), because
# there the submission's code may have changed an input in ways the fingerprint does not show.
_PREPARED: dict[int, tuple[Any, tuple, Any]] = {}
_RAW: dict[int, tuple[torch.Tensor, bytes]] = {}
_USE_PREPARED = True


def forget_prepared() -> None:
    """Never use the ready-made encodings in this process (a worker). They stay in memory: freeing
    them would copy the pages a forked worker shares with the graders' process."""
    global _USE_PREPARED
    _USE_PREPARED = False


def _fingerprint(obj: nn.Module | torch.Tensor) -> tuple:
    """What an in-place change, ``train()``/``eval()`` or ``requires_grad_()`` would change."""
    tensors = [obj] if isinstance(obj, torch.Tensor) else [*obj.parameters(), *obj.buffers()]
    flags = obj.training if isinstance(obj, nn.Module) else None
    return (flags, *((t, t._version, t.requires_grad) for t in tensors))


def _prepared(obj: Any) -> Any:
    """The ready-made encoding of ``obj``, if it has one and is as it was when it was made."""
    entry = _PREPARED.get(id(obj)) if _USE_PREPARED else None
    if entry is None or entry[0] is not obj:
        return None
    made = entry[1]
    training = obj.training if isinstance(obj, nn.Module) else None
    if made[0] != training or any(t._version != v or t.requires_grad != g for t, v, g in made[1:]):
        return None
    return entry[2]


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


@dataclass(frozen=True)
class ModelAllowance:
    """The models a reply may hold: of a class key that was sent, on a device a model was sent on, and
    with no integer config field above its largest value among the models sent (a student of a teacher
    is never bigger than the teacher). Checked before a model is built.

    Attributes:
        ceilings: class key -> config field -> the largest int sent in that field.
        devices: the devices the models were sent on ("cpu", "meta").
    """

    ceilings: dict[str, dict[str, int]] = field(default_factory=dict)
    devices: frozenset[str] = frozenset()

    @classmethod
    def of_arguments(cls, values: Any) -> ModelAllowance:
        """What a call may send back, given what it was called with."""
        ceilings: dict[str, dict[str, int]] = {}
        devices: set[str] = set()
        for module in _modules_in(values, 0):
            key = model_key(module)
            if key is None:
                continue
            init = _init_data(module, key)
            fields = ceilings.setdefault(key, {})
            for name, value in init.items():
                if type(value) is int:
                    fields[name] = max(value, fields.get(name, value))
            params = list(module.parameters())
            devices.add("meta" if params and params[0].device.type == "meta" else "cpu")
        return cls(ceilings, frozenset(devices))

    def check(self, key: str, init: dict[str, Any], device: str) -> None:
        """Raises ProtocolError unless a model of ``key`` with ``init`` on ``device`` may come back."""
        if key not in self.ceilings:
            sent = ", ".join(sorted(self.ceilings)) or "none"
            raise ProtocolError(f"a model of class {key!r} in the reply (models sent: {sent})")
        if device not in self.devices:
            sent_on = sorted(self.devices)
            raise ProtocolError(f"a model on {device!r} in the reply; models were sent on {sent_on}")
        ceilings = self.ceilings[key]
        for name, value in init.items():
            if type(value) is not int:
                continue
            if name not in ceilings:
                raise ProtocolError(f"a model config with an integer field {name[:40]!r} no model sent had")
            if value > ceilings[name]:
                raise ProtocolError(
                    f"a model whose config.{name} is {value}, more than the {ceilings[name]} of those sent"
                )


def _modules_in(values: Any, depth: int):
    if depth > frame.MAX_DEPTH:
        return
    if isinstance(values, nn.Module):
        yield values
    elif type(values) in (list, tuple):
        for value in values:
            yield from _modules_in(value, depth + 1)
    elif type(values) is dict:
        for value in values.values():
            yield from _modules_in(value, depth + 1)


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
        RuntimeError: a model whose state does not fit its config (from ``load_state_dict``).
    """
    decoder = _Decoder(resolve_handle, models_as_sent, allow, deadline, arena)
    try:
        return decoder.value(tree, 0)
    except (ProtocolError, SubmissionError, RuntimeError):
        raise
    except _MALFORMED as exc:
        raise ProtocolError(f"a malformed value in a message ({type(exc).__name__}: {exc})") from None


_MALFORMED = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


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
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise CallTimedOut("its reply could not be read within the call's time limit (a model too big?)")
        module = _build_model(key, dict(init), device)
        if device != "meta":
            _load_state(module, key, state)
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


def _load_state(module: nn.Module, key: str, state: dict[str, torch.Tensor]) -> None:
    """``module.load_state_dict(state, strict=True)``, except that each tensor of ``state`` (decoded for
    this model alone: nothing else holds it) becomes the parameter's or buffer's memory instead of being
    copied into it; where the dtypes differ it is copied (and converted), as ``load_state_dict`` does.
    The classes of this package (whose modules have no state-dict hooks) only: ``transformers``' go
    through ``load_state_dict``.

    Raises:
        RuntimeError: ``state`` does not name exactly the model's parameters and persistent buffers, or
            a tensor's shape differs from its parameter's (as ``load_state_dict`` raises).
    """
    if key.partition(".")[0] == "hf":
        module.load_state_dict(state, strict=True)
        return
    targets: list[tuple[str, torch.Tensor]] = []
    for prefix, submodule in module.named_modules(remove_duplicate=False):
        dot = f"{prefix}." if prefix else ""
        targets += [(dot + name, p) for name, p in submodule._parameters.items() if p is not None]
        transient = submodule._non_persistent_buffers_set
        targets += [
            (dot + name, b)
            for name, b in submodule._buffers.items()
            if b is not None and name not in transient
        ]
    names = {name for name, _ in targets}
    if len(names) != len(targets) or names != state.keys():
        missing, unexpected = sorted(names - state.keys()), sorted(state.keys() - names)
        raise RuntimeError(
            f"Error(s) in loading state_dict for {type(module).__name__}: "
            f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}"
        )
    with torch.no_grad():
        for name, tensor in targets:
            value = state[name]
            if value.shape != tensor.shape:
                raise RuntimeError(
                    f"Error(s) in loading state_dict for {type(module).__name__}: size mismatch for {name}: "
                    f"copying a param with shape {tuple(value.shape)}, the model has {tuple(tensor.shape)}"
                )
            if value.dtype == tensor.dtype and value.device == tensor.device:
                tensor.data = value
            else:
                tensor.copy_(value)


def _set_inner_layers(module: nn.Module, counts: dict[str, int]) -> None:
    """Give a rebuilt model's inner configs the layer counts the sent model's had; each such submodule
    gets a copy of its config (in ``transformers`` it is the model's own object). A name the rebuilt
    model has no config under is ignored."""
    submodules = dict(module.named_modules()) if counts else {}
    for name, layers in counts.items():
        config = getattr(submodules.get(name), "config", None)
        if name and hasattr(config, "num_hidden_layers"):
            submodules[name].config = copy.copy(config)
            submodules[name].config.num_hidden_layers = layers


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


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def dumps(tree: Any) -> bytes:
    """Write a tree for the wire (see :mod:`autograder.wire.frame`), with the ready-made bytes of the
    graders' shared inputs where they apply.

    Raises:
        UnsafeResult: for anything in the tree that may not cross.
    """
    return frame.dumps(tree, known=_known_bytes if _USE_PREPARED else None)


def _known_bytes(tensor: torch.Tensor) -> bytes | None:
    raw = _RAW.get(id(tensor))
    return raw[1] if raw is not None and raw[0] is tensor else None


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    return frame.tensor_bytes(tensor)
