"""Values on the wire between the graders (trusted) and a worker running a submission (untrusted).

Only plain data crosses: ``None``, ``bool``, ``int``, ``float``, ``str``, exact ``torch.Tensor`` objects,
lists, tuples and dicts of these, random generators given by their seed (:class:`Seeded`), and models
of a fixed list of classes, sent as ``(class key, init data, state dict)`` (and the layer counts of
their inner configs) and rebuilt on the other side with pristine code. Nothing is ever unpickled: a
value becomes a tree of tagged containers, scalars and tensors (:mod:`.encoding`), written by
:mod:`autograder.wire.frame` and checked when read back (:mod:`.decoding`, with
:class:`~autograder.wire.models.ModelAllowance` bounding the models a reply may hold). The arguments a
check reads back after the call travel in shared memory (:mod:`autograder.wire.arena`).

This module holds what a call gives back (:class:`CallResult`, the arguments as they were after it) and
``dumps``, and is where the graders and the worker find every name of the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from autograder.wire import frame
from autograder.wire.arena import Arena
from autograder.wire.decoding import (
    _MALFORMED,
    Handle,
    SentModel,
    _Decoder,
    _dtype,
    _is_arena_model,
    _typed,
    decode,
)
from autograder.wire.encoding import (
    _TAG,
    MAX_INNER_CONFIGS,
    Seeded,
    _arena_entry,
    _encode_model,
    _inner_layer_counts,
    _prepared,
    _tensor_bytes,
    _tree_tensors,
    _type_name,
    encode,
    encode_arguments,
    forget_prepared,
    share,
)
from autograder.wire.errors import (
    ERRORS_BY_KIND,
    CallTimedOut,
    ImportFailed,
    MissingName,
    ModelClassRefused,
    ModelMismatch,
    NotStarted,
    ProtocolError,
    SubmissionError,
    SubmissionRaised,
    UnsafeResult,
    WorkerDied,
)
from autograder.wire.frame import MAX_MESSAGE_BYTES, loads, recv_message, send_message
from autograder.wire.models import (
    _GIVEN_RESOLVER,
    _INITIALISERS,
    ModelAllowance,
    _build_model,
    _given_module,
    _init_data,
    _is_plain_scalar_tree,
    _leave_unfilled,
    _load_state,
    _modules_in,
    _resolve_class,
    _set_inner_layers,
    model_key,
    random_init_skipped,
    set_given_model_module,
    tied_groups,
)
from autograder.wire.prepared import PREPARED

__all__ = [
    "ERRORS_BY_KIND",
    "MAX_MESSAGE_BYTES",
    "CallTimedOut",
    "ImportFailed",
    "MissingName",
    "ModelClassRefused",
    "ModelMismatch",
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
# What a call gives back, and the arguments as they were after it.


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
        handle, handle_class: for an instance of the submission's own class (a masker), the number it is
            kept under in the worker, and its class's name as the worker gave it.
    """

    value: Any
    grads: dict[str, Any] = field(default_factory=dict)
    result_requires_grad: bool = False
    shares_memory: bool = False
    tied: list[list[str]] = field(default_factory=list)
    handle: int | None = None
    handle_class: str = ""
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
                tensor = decode(value, models_as_sent=True)  # a model here is data, never built
                if type(tensor) is not torch.Tensor:
                    raise ProtocolError("a model state that is not tensors by name")
                values[name] = tensor
        return SentModel(str(observed["key"]), dict(init), values)
    if tag in ("arena_ref", "model_after"):
        raise ProtocolError("an argument said to be in the arena that was not put there")
    return decode(reported, models_as_sent=True)


def dumps(tree: Any) -> bytes:
    """Write a tree for the wire (see :mod:`autograder.wire.frame`), with the ready-made bytes of the
    graders' shared inputs where they apply.

    Raises:
        UnsafeResult: for anything in the tree that may not cross.
    """
    return frame.dumps(tree, known=PREPARED.known_bytes if PREPARED.enabled else None)
