"""What crosses between the graders (trusted) and a worker running a submission (untrusted).

Only plain data crosses: ``None``, ``bool``, ``int``, ``float``, ``str``, exact ``torch.Tensor`` objects,
lists, tuples and dicts of these, random generators given by their seed (:class:`Seeded`), and models
of a fixed list of classes, sent as ``(class key, init data, state dict)`` and rebuilt on the other
side with pristine code. Nothing is ever unpickled: a message is a JSON document (the tree of
containers and scalars, every list and dict tagged so that nothing can pose as something else) followed
by the raw bytes of its tensors, each described in the JSON by dtype, shape and byte range and rebuilt
with ``torch.frombuffer``. (``torch.load(weights_only=True)`` would be safe too, but it costs about 25 ms
a message where this costs well under one.)

Framing: an 8-byte big-endian length, then the payload: an 8-byte length of the JSON part, the JSON
part, then the tensor bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
import os
import select
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# --------------------------------------------------------------------------------------------------
# Errors a call into a submission can end with. The graders let them propagate; the results plugin
# turns each into a sentence for the learner.


class SubmissionError(Exception):
    """A call into the submission did not produce a value."""

    kind = "error"

    def __init__(self, message: str, *, call: str = "", exercise: str = ""):
        super().__init__(message)
        self.message = message
        self.call = call
        self.exercise = exercise

    def __str__(self) -> str:
        return self.message


class NotStarted(SubmissionError):
    """The exercise's stub still raises its ``NotImplementedError``."""

    kind = "not_started"


class SubmissionRaised(SubmissionError):
    """The submission raised an exception; ``type_name`` and ``mro`` name its class."""

    kind = "raised"

    def __init__(self, message: str, *, type_name: str, mro: list[str], traceback: str = "", **kw):
        super().__init__(message, **kw)
        self.type_name = type_name
        self.mro = list(mro)
        self.traceback = traceback

    def is_a(self, name: str) -> bool:
        return name in self.mro


class MissingName(SubmissionError):
    """The module imported but lacks the function or class."""

    kind = "missing"


class ImportFailed(SubmissionError):
    """The exercise file is missing, has a syntax error, or raised or hung while being imported."""

    kind = "import_failed"


class UnsafeResult(SubmissionError):
    """The value returned is not plain data of the exact types the contract names."""

    kind = "unsafe_result"

    def __init__(self, message: str, *, type_name: str = "", **kw):
        super().__init__(message, **kw)
        self.type_name = type_name


class CallTimedOut(SubmissionError):
    kind = "timeout"


class WorkerDied(SubmissionError):
    """The worker process ended during the call (crash, ``os._exit``, killed for memory)."""

    kind = "died"


class ProtocolError(Exception):
    """A message that does not follow the protocol (a worker that lies or breaks the framing)."""


ERRORS_BY_KIND: dict[str, type[SubmissionError]] = {
    cls.kind: cls
    for cls in (
        SubmissionError,
        NotStarted,
        SubmissionRaised,
        MissingName,
        ImportFailed,
        UnsafeResult,
        CallTimedOut,
        WorkerDied,
    )
}


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
            fields and state dict), not rebuilt.
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
            try:
                args = [decode(a, models_as_sent=True) for a in tree["args"]]
                kwargs = decode(tree["kwargs"], models_as_sent=True)
                if type(kwargs) is not dict:
                    raise ProtocolError("keyword arguments that are not a dict")
            except ProtocolError as exc:
                message = f"the worker sent back arguments that are not plain data ({exc})"
                raise UnsafeResult(message) from None
            self._decoded = (args, kwargs)
        return self._decoded


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
    if "transformers" in sys.modules:  # else no model can be of its classes: do not import it (4 s)
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
    if family == "given":
        return dataclasses.asdict(module.config)
    if family == "hf":
        return {k: v for k, v in module.config.to_dict().items() if _is_plain_scalar_tree(v)}
    return dict(module.init_kwargs)


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
        if device == "cpu":  # the default device: torch.device's context would cost a third more
            return cls(*args, **kwargs)
        with torch.device(device):
            return cls(*args, **kwargs)


_INITIALISERS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "kaiming_uniform_")


@contextlib.contextmanager
def random_init_skipped():
    """Make ``torch.nn.init``'s fills no-ops while a model is rebuilt from a message.

    On the CPU, ``load_state_dict(strict=True)`` then overwrites every parameter and persistent buffer
    (buffers made with ``torch.arange``/``zeros`` are untouched); on meta there is nothing to fill.
    Building a small BERT takes about a third less time.
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
    by_ptr: dict[tuple[int, int], list[str]] = {}
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


# Inputs the graders built before any worker was forked (see ``support.shared_input``). A message
# that carries one still carries all of it; a forked worker may use its own inherited copy instead of
# rebuilding it, once (its copy is untouched until then: only the submission's code could change it).
_SHARED: list[nn.Module] = []
_SHARED_INDEX: dict[int, int] = {}


def share(obj: Any) -> Any:
    """Mark a model or tensor as a shared input of the graders, built before the workers are forked;
    returns it. Its encoding is made now, once, and reused for every message that carries it while
    its tensors are unchanged (see :func:`_prepared`)."""
    if isinstance(obj, nn.Module) and id(obj) not in _SHARED_INDEX:
        _SHARED_INDEX[id(obj)] = len(_SHARED)
        _SHARED.append(obj)
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


def shared_count() -> int:
    return len(_SHARED)


def shared_model(number: int) -> nn.Module:
    return _SHARED[number]


def _shared_number(module: nn.Module) -> int | None:
    number = _SHARED_INDEX.get(id(module))
    return number if number is not None and _SHARED[number] is module else None


def _encode_model(module: nn.Module, key: str) -> dict[str, Any]:
    params = list(module.parameters())
    device = "meta" if params and params[0].device.type == "meta" else "cpu"
    state = {}
    if device != "meta":
        for name, tensor in module.state_dict(keep_vars=False).items():
            state[name] = tensor.detach().cpu().clone()
    frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
    return {
        _TAG: "model",
        "key": key,
        "init": _init_data(module, key),
        "device": device,
        "state": state,
        "frozen": frozen,
        "training": bool(module.training),
        "shared": _shared_number(module),
    }


def decode(
    tree: Any,
    *,
    resolve_handle: Callable[[int], Any] | None = None,
    models_as_sent: bool = False,
    take_shared: Callable[[int, str], nn.Module | None] | None = None,
) -> Any:
    """Rebuild a value from :func:`encode`'s tree (models with this side's pristine classes, or with
    ``models_as_sent`` as :class:`SentModel` data, not rebuilt). ``take_shared(number, key)`` may
    return this process's own copy of a shared input instead (a forked worker's)."""
    t = type(tree)
    if tree is None or t in (bool, int, float, str):
        return tree
    again = {"resolve_handle": resolve_handle, "models_as_sent": models_as_sent, "take_shared": take_shared}
    if t is list:
        return [decode(x, **again) for x in tree]
    if t is not dict or _TAG not in tree:
        raise ProtocolError(f"unexpected {t.__name__} in a message")
    tag = tree[_TAG]
    if tag == "tensor":
        data = tree["data"]
        if type(data) is not torch.Tensor:
            raise ProtocolError("a tensor entry without a tensor")
        if tree.get("requires_grad") and data.is_floating_point():
            data = data.detach().requires_grad_(True)
        return data
    if tag == "meta_tensor":
        return torch.empty(tree["shape"], dtype=_dtype(tree["dtype"]), device="meta")
    if tag == "tuple":
        return tuple(decode(x, **again) for x in tree["items"])
    if tag == "dict":
        return {str(k): decode(v, **again) for k, v in tree["items"].items()}
    if tag == "seeded":
        return torch.Generator().manual_seed(int(tree["seed"]))
    if tag == "dtype":
        return _dtype(tree["name"])
    if tag == "model":
        if models_as_sent:
            return _sent_model(tree)
        if take_shared is not None and type(tree.get("shared")) is int:
            inherited = take_shared(tree["shared"], str(tree.get("key")))
            if inherited is not None:
                return inherited
        return _decode_model(tree)
    if tag == "handle":
        if resolve_handle is None:
            return Handle(int(tree["id"]), str(tree.get("type", "?")))
        return resolve_handle(int(tree["id"]))
    raise ProtocolError(f"unknown entry {tag!r} in a message")


def _dtype(name: str) -> torch.dtype:
    value = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(value, torch.dtype):
        raise ProtocolError(f"unknown dtype {name!r}")
    return value


def _decode_model(tree: dict[str, Any]) -> nn.Module:
    module = _build_model(str(tree["key"]), dict(tree["init"]), str(tree["device"]))
    if tree["device"] != "meta":
        module.load_state_dict(tree["state"], strict=True)
    frozen = {str(name) for name in tree["frozen"]}
    for name, p in module.named_parameters():
        p.requires_grad_(name not in frozen)
    module.train(bool(tree["training"]))
    return module


@dataclass(frozen=True)
class SentModel:
    """A model as the other side sent it, not rebuilt: its class key, the fields of its config and its
    state dict (for checks that only compare weights and config, such as "the teacher is untouched")."""

    key: str
    config: dict[str, Any]
    state: dict[str, torch.Tensor]


def _sent_model(tree: dict[str, Any]) -> SentModel:
    init, state = tree.get("init"), tree.get("state")
    if type(init) is not dict or type(state) is not dict:
        raise ProtocolError("a model entry without its config or state")
    if not all(type(k) is str and type(v) is torch.Tensor for k, v in state.items()):
        raise ProtocolError("a model state that is not tensors by name")
    return SentModel(str(tree.get("key")), dict(init), dict(state))


@dataclass(frozen=True)
class Handle:
    """An object that stays in the worker (an instance the submission made), called by number."""

    id: int
    type_name: str


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def dumps(tree: Any) -> bytes:
    """Write a tree of None, bool, int, float, str, lists, str-keyed dicts and strided tensors.

    Raises:
        UnsafeResult: for anything else in the tree (a tensor subclass, a sparse tensor, a dict key that is
            not a str, an object).
    """
    blobs: list[bytes] = []
    offset = [0]

    def walk(node: Any) -> Any:
        t = type(node)
        if node is None or t in (bool, int, str):
            return node
        if t is float:
            return node if math.isfinite(node) else ["F", repr(node)]
        if t is list:
            return ["L", [walk(x) for x in node]]
        if t is dict:
            if not all(type(k) is str for k in node):
                raise UnsafeResult("a dict whose keys are not all str", type_name="dict")
            return ["D", {k: walk(v) for k, v in node.items()}]
        if t is torch.Tensor:
            if node.layout is not torch.strided or node.device.type == "meta":
                raise UnsafeResult(f"a {node.layout} tensor on {node.device}", type_name="torch.Tensor")
            raw = _RAW.get(id(node)) if _USE_PREPARED else None
            data = raw[1] if raw is not None and raw[0] is node else _tensor_bytes(node)
            entry = ["T", str(node.dtype), list(node.shape), offset[0], len(data)]
            blobs.append(data)
            offset[0] += len(data)
            return entry
        raise UnsafeResult(f"a value of type {_type_name(node)}", type_name=_type_name(node))

    head = json.dumps(walk(tree), separators=(",", ":"), allow_nan=False).encode()
    return b"".join([struct.pack(">Q", len(head)), head, *blobs])


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def loads(payload: bytes) -> Any:
    """Read what :func:`dumps` wrote; anything else is a :class:`ProtocolError`."""
    try:
        (length,) = struct.unpack(">Q", payload[:8])
        head = json.loads(payload[8 : 8 + length])
        body = memoryview(payload)[8 + length :]
        return _rebuild(head, body)
    except ProtocolError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, struct.error, RecursionError, RuntimeError) as exc:
        raise ProtocolError(f"a message that is not plain data ({type(exc).__name__}: {exc})") from None


def _rebuild(node: Any, body: memoryview) -> Any:
    t = type(node)
    if node is None or t in (bool, int, float, str):
        return node
    if t is not list or not node or type(node[0]) is not str:
        raise ProtocolError(f"unexpected {t.__name__} in a message")
    tag = node[0]
    if tag == "L" and len(node) == 2 and type(node[1]) is list:
        return [_rebuild(x, body) for x in node[1]]
    if tag == "D" and len(node) == 2 and type(node[1]) is dict:
        return {k: _rebuild(v, body) for k, v in node[1].items()}
    if tag == "F" and len(node) == 2 and node[1] in ("nan", "inf", "-inf"):
        return float(node[1])
    if tag == "T" and len(node) == 5:
        _, dtype_name, shape, start, size = node
        dtype = _dtype(dtype_name)
        if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
            raise ProtocolError("a tensor with a malformed shape")
        if type(start) is not int or type(size) is not int or start < 0 or start + size > len(body):
            raise ProtocolError("a tensor whose bytes lie outside the message")
        itemsize = torch.empty((), dtype=dtype).element_size()
        if math.prod(shape) * itemsize != size:
            raise ProtocolError("a tensor whose shape does not match its bytes")
        if size == 0:
            return torch.empty(shape, dtype=dtype)
        raw = torch.frombuffer(bytearray(body[start : start + size]), dtype=torch.uint8)
        return raw.view(dtype).reshape(shape)
    raise ProtocolError(f"unknown entry {tag!r} in a message")


# --------------------------------------------------------------------------------------------------
# Framing over file descriptors.

MAX_MESSAGE_BYTES = 512 * 1024 * 1024


def send_message(fd: int, payload: bytes) -> None:
    data = struct.pack(">Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def recv_message(fd: int, deadline: float | None = None) -> bytes:
    """Read one message. Raises ``TimeoutError`` past ``deadline`` and ``EOFError`` on a closed pipe."""
    header = _read_exact(fd, 8, deadline)
    (length,) = struct.unpack(">Q", header)
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a message of {length} bytes, more than the limit")
    return _read_exact(fd, length, deadline)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
